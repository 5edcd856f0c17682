// The `orders` read model's table: its columns, rows in and out, and a batch's upsert.
#include "adapters/pg/orders_table.hpp"

#include <map>
#include <pqxx/pqxx>
#include <tuple>

#include "adapters/json/event_data.hpp"
#include "adapters/json/json_writer.hpp"
#include "adapters/pg/timestamps.hpp"
#include "commands/rfc3339.hpp"
#include "projections/order_projection.hpp"

namespace order::pg {

const char* const kOrderRowColumns =
    "order_id, user_id, status, total_cents, items::text, version, "
    "created_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC', "
    "payment_reference, carrier, tracking_number, cancel_reason";

projections::OrderRow order_row_from(const pqxx::row& r) {
  projections::OrderRow row;
  domain::Order& o = row.order;
  o.id = r[0].as<domain::OrderId>();
  o.user_id = r[1].as<domain::UserId>();
  const auto status = domain::parse_status(r[2].as<std::string>());
  if (!status)
    throw std::runtime_error("read model row with unknown status " + r[2].as<std::string>());
  o.status = *status;
  o.total = domain::Money{r[3].as<std::int64_t>()};
  auto items = json::decode_items(r[4].c_str());
  if (!items) throw std::runtime_error("read model row " + std::to_string(o.id) + " has bad items");
  o.items = std::move(*items);
  o.version = r[5].as<std::int64_t>();
  row.created_at = utc_rfc3339(r[6].c_str());
  row.updated_at = utc_rfc3339(r[7].c_str());
  o.payment_reference = r[8].as<std::string>();
  o.carrier = r[9].as<std::string>();
  o.tracking_number = r[10].as<std::string>();
  o.cancel_reason = r[11].as<std::string>();
  return row;
}

namespace {

void write_row(json::JsonWriter& w, const projections::OrderRow& row) {
  const domain::Order& o = row.order;
  w.begin_object();
  w.key("order_id").integer(o.id);
  w.key("user_id").integer(o.user_id);
  w.key("status").string(domain::to_string(o.status));
  w.key("total_cents").integer(o.total.cents);
  w.key("items").raw(json::encode_items(o.items));
  w.key("version").integer(o.version);
  w.key("created_at").string(row.created_at);
  w.key("updated_at").string(row.updated_at);
  w.key("payment_reference").string(o.payment_reference);
  w.key("carrier").string(o.carrier);
  w.key("tracking_number").string(o.tracking_number);
  w.key("cancel_reason").string(o.cancel_reason);
  w.end_object();
}

}  // namespace

const std::vector<std::string> kOrderCopyColumns = {
    "order_id",        "user_id",      "status",     "total_cents",       "items",
    "version",         "created_at",   "updated_at", "payment_reference", "carrier",
    "tracking_number", "cancel_reason"};

const std::vector<std::pair<std::string, std::string>> kOrderIndexes = {
    {"by_user", "(user_id, order_id)"},
    {"by_status", "(status, order_id)"},
    {"by_user_status", "(user_id, status, order_id)"},
};

namespace {

commands::Microseconds stored_time(const std::string& rfc3339) {
  const auto time = commands::parse_rfc3339(rfc3339);
  if (!time) throw std::runtime_error("read model row with a bad time " + rfc3339);
  return *time;
}

}  // namespace

void write_copy_row(CopyWriter& out, const projections::OrderRow& row) {
  const domain::Order& o = row.order;
  out.field(std::int64_t{o.id})
      .field(std::int64_t{o.user_id})
      .field(domain::to_string(o.status))
      .field(o.total.cents)
      .field(json::encode_items(o.items))
      .field(o.version)
      .field(stored_time(row.created_at))
      .field(stored_time(row.updated_at))
      .field(o.payment_reference)
      .field(o.carrier)
      .field(o.tracking_number)
      .field(o.cancel_reason)
      .end_row();
}

void OrdersTable::apply(pqxx::transaction_base& tx, const std::string& suffix,
                        const std::vector<projections::LogEvent>& events, TableKind kind) const {
  if (events.empty()) return;
  const std::string target = tx.quote_name("orders" + suffix);
  std::string ids = "{";
  std::map<domain::OrderId, std::optional<projections::OrderRow>> rows;
  for (const auto& event : events) {
    if (!rows.emplace(event.stream_id, std::nullopt).second) continue;
    // An order first seen here at version 1 is folded from its start, whatever row it has: in a
    // private table it has none yet, and in the shared one a row left by an earlier run of this
    // batch is kept or replaced by the upsert's version guard alone. (Nearly every order of a
    // batch under load is new, and none is looked up.)
    if (event.stream_version == 1) continue;
    if (ids.size() > 1) ids += ',';
    ids += std::to_string(event.stream_id);
  }
  ids += "}";
  if (ids.size() > 2) {
    const std::string lock = kind == TableKind::shared ? " FOR UPDATE" : "";
    for (const auto& r : tx.exec_params(std::string("SELECT ") + kOrderRowColumns + " FROM " +
                                            target + " WHERE order_id = ANY($1::bigint[])" + lock,
                                        ids)) {
      rows[r[0].as<domain::OrderId>()] = order_row_from(r);
    }
  }

  std::map<domain::OrderId, bool> changed;
  for (const auto& event : events) {
    if (fold_order_event(rows[event.stream_id], event.stream_id, event.stream_version, event.type,
                         event.data_json, event.recorded_at, event.event_id)) {
      changed[event.stream_id] = true;
    }
  }
  if (changed.empty()) return;

  json::JsonWriter w;
  w.begin_array();
  for (const auto& [id, _] : changed) write_row(w, *rows[id]);
  w.end_array();
  // The version guard makes a replayed batch change nothing, whoever wrote the row before.
  tx.exec_params(
      "INSERT INTO " + target +
          " (order_id, user_id, status, total_cents, items, version, created_at, updated_at,"
          "  payment_reference, carrier, tracking_number, cancel_reason) "
          "SELECT * FROM json_to_recordset($1::json) AS r(order_id bigint, user_id bigint,"
          "  status text, total_cents bigint, items json, version bigint,"
          "  created_at timestamptz, updated_at timestamptz, payment_reference text,"
          "  carrier text, tracking_number text, cancel_reason text) "
          "ON CONFLICT (order_id) DO UPDATE SET user_id = excluded.user_id,"
          "  status = excluded.status, total_cents = excluded.total_cents,"
          "  items = excluded.items, version = excluded.version,"
          "  created_at = excluded.created_at, updated_at = excluded.updated_at,"
          "  payment_reference = excluded.payment_reference, carrier = excluded.carrier,"
          "  tracking_number = excluded.tracking_number, cancel_reason = excluded.cancel_reason "
          "WHERE " +
          target + ".version < excluded.version",
      w.str());
}

bool fold_order_event(std::optional<projections::OrderRow>& row, domain::OrderId order_id,
                      std::int64_t version, std::string_view type, std::string_view data_json,
                      const std::string& recorded_at, std::string_view event_id) {
  const auto decoded = json::decode_event(type, data_json);
  if (!decoded) {
    throw std::runtime_error("event " + std::string(event_id) + " (" + std::string(type) +
                             ") does not decode: the log holds data this build cannot read");
  }
  switch (projections::project(row, *decoded, version, recorded_at)) {
    case projections::Applied::changed:
      return true;
    case projections::Applied::already_applied:
      return false;
    case projections::Applied::gap:
      break;
  }
  throw std::runtime_error("order " + std::to_string(order_id) + " jumps to version " +
                           std::to_string(version) + ": an event is missing");
}

}  // namespace order::pg
