// product_sales: a batch's sales added to its rows in one statement, each order's lines beside.
#include "adapters/pg/product_sales_table.hpp"

#include <map>
#include <pqxx/pqxx>
#include <stdexcept>

#include "adapters/json/event_data.hpp"
#include "adapters/json/json_writer.hpp"
#include "adapters/pg/subscription_store.hpp"

namespace order::pg {

void ProductSalesTable::apply(pqxx::transaction_base& tx, const std::string& suffix,
                              const std::vector<projections::LogEvent>& events,
                              TableKind kind) const {
  if (events.empty()) return;
  const std::string sales_table = tx.quote_name("product_sales" + suffix);
  const std::string lines_table = tx.quote_name("product_sales_orders" + suffix);
  // Tables are locked in tables()'s order, as a rebuild's swap locks them: taking the lines'
  // row locks first would deadlock against a swap holding product_sales and waiting for them.
  tx.exec("LOCK TABLE " + sales_table + " IN ROW EXCLUSIVE MODE");

  std::map<domain::OrderId, projections::OrderLines> lines;
  std::string ids = "{";
  for (const auto& event : events) {
    if (!lines.emplace(event.stream_id, projections::OrderLines{}).second) continue;
    if (ids.size() > 1) ids += ',';
    ids += std::to_string(event.stream_id);
  }
  ids += "}";
  const std::string lock = kind == TableKind::shared ? " FOR UPDATE" : "";
  for (const auto& r : tx.exec_params("SELECT order_id, version, items::text FROM " + lines_table +
                                          " WHERE order_id = ANY($1::bigint[])" + lock,
                                      ids)) {
    auto items = json::decode_items(r[2].c_str());
    if (!items) {
      throw std::runtime_error("product_sales_orders row " + r[0].as<std::string>() +
                               " has bad items");
    }
    lines[r[0].as<domain::OrderId>()] = {r[1].as<std::int64_t>(), std::move(*items)};
  }

  std::map<projections::SalesKey, projections::Sales> sales;
  std::map<domain::OrderId, bool> changed;
  for (const auto& event : events) {
    const auto decoded = json::decode_event(event.type, event.data_json);
    if (!decoded) {
      throw std::runtime_error("event " + event.event_id + " (" + event.type +
                               ") does not decode: the log holds data this build cannot read");
    }
    switch (projections::project_sales(lines[event.stream_id], *decoded, event.stream_version,
                                       event.recorded_at, sales)) {
      case projections::Applied::changed:
        changed[event.stream_id] = true;
        break;
      case projections::Applied::already_applied:
        break;
      case projections::Applied::gap:
        throw std::runtime_error("order " + std::to_string(event.stream_id) + " jumps to version " +
                                 std::to_string(event.stream_version) + ": an event is missing");
    }
  }
  if (changed.empty()) return;

  if (!sales.empty()) {
    json::JsonWriter w;
    w.begin_array();
    for (const auto& [key, s] : sales) {
      w.begin_object();
      w.key("day").string(key.day);
      w.key("product_id").integer(key.product_id);
      w.key("uo").integer(s.units_ordered);
      w.key("ro").integer(s.revenue_ordered.cents);
      w.key("uc").integer(s.units_cancelled);
      w.key("rc").integer(s.revenue_cancelled.cents);
      w.end_object();
    }
    w.end_array();
    tx.exec_params(
        "INSERT INTO " + sales_table +
            " AS t (day, product_id, units_ordered, revenue_ordered_cents, units_cancelled,"
            "  revenue_cancelled_cents) "
            "SELECT day, product_id, uo, ro, uc, rc FROM jsonb_to_recordset($1::jsonb) AS r(day "
            "date, product_id bigint, uo bigint, ro bigint, uc bigint, rc bigint) "
            "ON CONFLICT (day, product_id) DO UPDATE SET"
            "  units_ordered = t.units_ordered + excluded.units_ordered,"
            "  revenue_ordered_cents = t.revenue_ordered_cents + excluded.revenue_ordered_cents,"
            "  units_cancelled = t.units_cancelled + excluded.units_cancelled,"
            "  revenue_cancelled_cents = t.revenue_cancelled_cents + "
            "excluded.revenue_cancelled_cents",
        w.str());
  }

  json::JsonWriter w;
  w.begin_array();
  for (const auto& [id, _] : changed) {
    w.begin_object();
    w.key("order_id").integer(id);
    w.key("version").integer(lines[id].version);
    w.key("items").raw(json::encode_items(lines[id].items));
    w.end_object();
  }
  w.end_array();
  tx.exec_params("INSERT INTO " + lines_table +
                     " AS t (order_id, version, items) SELECT order_id, version, items FROM "
                     "jsonb_to_recordset($1::jsonb) AS r(order_id bigint, version bigint, items "
                     "jsonb) ON CONFLICT (order_id) DO UPDATE SET version = excluded.version,"
                     "  items = excluded.items WHERE t.version < excluded.version",
                 w.str());
}

projections::SalesPage PgProductSalesReport::sales(const projections::SalesQuery& query) {
  return session_.run([&](pqxx::connection& connection) {
    // One snapshot for the rows and the lag, so the lag describes the rows returned.
    pqxx::read_transaction tx(connection);
    const std::string select =
        "SELECT to_char(day, 'YYYY-MM-DD'), product_id, units_ordered, revenue_ordered_cents, "
        "units_cancelled, revenue_cancelled_cents FROM product_sales "
        "WHERE day BETWEEN $1::date AND $2::date ";
    const pqxx::result rows =
        query.product_id
            ? tx.exec_params(select + "AND product_id = $4 ORDER BY day, product_id LIMIT $3",
                             query.from, query.to, query.limit + 1, *query.product_id)
            : tx.exec_params(select + "ORDER BY day, product_id LIMIT $3", query.from, query.to,
                             query.limit + 1);
    projections::SalesPage page;
    for (const auto& r : rows) {
      page.rows.push_back({{r[0].as<std::string>(), r[1].as<domain::ProductId>()},
                           {r[2].as<std::int64_t>(), domain::Money{r[3].as<std::int64_t>()},
                            r[4].as<std::int64_t>(), domain::Money{r[5].as<std::int64_t>()}}});
    }
    page.has_more = page.rows.size() > static_cast<std::size_t>(query.limit);
    if (page.has_more) page.rows.pop_back();
    const auto lag = lag_of(tx, kProductSalesProjector);
    page.lag = {lag.events, lag.seconds};
    return page;
  });
}

projections::ProjectionLag PgProductSalesReport::lag() {
  return session_.run([&](pqxx::connection& connection) {
    pqxx::read_transaction tx(connection);
    const auto lag = lag_of(tx, kProductSalesProjector);
    return projections::ProjectionLag{lag.events, lag.seconds};
  });
}

}  // namespace order::pg
