// Queries of the `orders` read model (eventually consistent: it says how far behind it is).
#pragma once

#include <optional>
#include <vector>

#include "projections/order_projection.hpp"

namespace order::projections {

struct ListQuery {
  std::optional<domain::UserId> user_id;
  std::optional<domain::OrderStatus> status;
  domain::OrderId after = 0;  // keyset: orders with a larger id
  int limit = 50;
};

struct ProjectionLag {
  std::int64_t events = 0;
  double seconds = 0;
};

struct ListPage {
  std::vector<OrderRow> rows;  // by order id
  bool has_more = false;
  ProjectionLag lag;
};

class OrderReadModel {
 public:
  virtual ~OrderReadModel() = default;
  virtual ListPage list_orders(const ListQuery& query) = 0;
  virtual ProjectionLag projection_lag() = 0;
};

}  // namespace order::projections
