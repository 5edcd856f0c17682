// The `orders` read model's queries over PostgreSQL: GET /orders' keyset pages and how far the
// projection trails the log. Its SQL lives in pg_order_read_model.cpp as named prepared statements.
#pragma once

#include <cstdint>
#include <memory>

#include "adapters/pg/session.hpp"
#include "projections/order_read_model.hpp"

namespace order::pg {

class PgOrderReadModel final : public projections::OrderReadModel {
 public:
  // On a connection of its own, or on a thread's session shared with its event store.
  explicit PgOrderReadModel(ConnectionOptions options);
  explicit PgOrderReadModel(Session& session);

  projections::ListPage list_orders(const projections::ListQuery& query) override;
  projections::ProjectionLag projection_lag() override;

 private:
  // Prepares the statements on the session's connection when it is not the one they were
  // prepared on.
  void prepare(pqxx::connection& connection);

  std::unique_ptr<Session> owned_;
  Session& session_;
  std::uint64_t prepared_generation_ = 0;
};

}  // namespace order::pg
