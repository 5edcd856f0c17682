// GET /orders over the `orders` table, one prepared statement per filter combination.
#include "adapters/pg/pg_order_read_model.hpp"

#include <pqxx/pqxx>
#include <string>

#include "adapters/pg/orders_table.hpp"
#include "adapters/pg/subscription_store.hpp"

namespace order::pg {
namespace {

// One statement per filter combination, so each is planned on its own index.
const std::string kListColumns = std::string("SELECT ") + kOrderRowColumns + " FROM orders ";
const std::string kListAll = kListColumns + "WHERE order_id > $1 ORDER BY order_id LIMIT $2";
const std::string kListByUser =
    kListColumns + "WHERE user_id = $3 AND order_id > $1 ORDER BY order_id LIMIT $2";
const std::string kListByStatus =
    kListColumns + "WHERE status = $3 AND order_id > $1 ORDER BY order_id LIMIT $2";
const std::string kListByUserStatus =
    kListColumns +
    "WHERE user_id = $3 AND status = $4 AND order_id > $1 ORDER BY order_id LIMIT $2";

projections::ProjectionLag lag_in(pqxx::transaction_base& tx) {
  const auto lag = lag_of(tx, kOrdersProjector);
  return projections::ProjectionLag{lag.events, lag.seconds};
}

}  // namespace

PgOrderReadModel::PgOrderReadModel(ConnectionOptions options)
    : owned_(std::make_unique<Session>(std::move(options))), session_(*owned_) {}

PgOrderReadModel::PgOrderReadModel(Session& session) : session_(session) {}

void PgOrderReadModel::prepare(pqxx::connection& connection) {
  if (prepared_generation_ == session_.generation()) return;
  connection.prepare("list_all", kListAll);
  connection.prepare("list_by_user", kListByUser);
  connection.prepare("list_by_status", kListByStatus);
  connection.prepare("list_by_user_status", kListByUserStatus);
  prepared_generation_ = session_.generation();
}

projections::ListPage PgOrderReadModel::list_orders(const projections::ListQuery& query) {
  return session_.run([&](pqxx::connection& connection) {
    prepare(connection);
    // One snapshot for the rows and the lag, so the lag describes the rows returned.
    pqxx::read_transaction tx(connection);
    const int fetch = query.limit + 1;  // one more than asked tells whether a next page exists
    pqxx::result rows;
    if (query.user_id && query.status) {
      rows = tx.exec_prepared("list_by_user_status", query.after, fetch, *query.user_id,
                              std::string(domain::to_string(*query.status)));
    } else if (query.user_id) {
      rows = tx.exec_prepared("list_by_user", query.after, fetch, *query.user_id);
    } else if (query.status) {
      rows = tx.exec_prepared("list_by_status", query.after, fetch,
                              std::string(domain::to_string(*query.status)));
    } else {
      rows = tx.exec_prepared("list_all", query.after, fetch);
    }
    projections::ListPage page;
    for (const auto& row : rows) page.rows.push_back(order_row_from(row));
    page.has_more = page.rows.size() > static_cast<std::size_t>(query.limit);
    if (page.has_more) page.rows.pop_back();
    page.lag = lag_in(tx);
    return page;
  });
}

projections::ProjectionLag PgOrderReadModel::projection_lag() {
  return session_.run([&](pqxx::connection& connection) {
    pqxx::read_transaction tx(connection);
    return lag_in(tx);
  });
}

}  // namespace order::pg
