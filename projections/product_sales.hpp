// Daily sales per product, folded from the log as pure code: what was ordered of each product on
// a day (by the order's creation), and what was cancelled on a day (by the cancellation). The
// live projection, the rebuild and the verifier all call this, so they cannot disagree.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "domain/order.hpp"
#include "projections/order_projection.hpp"

namespace order::projections {

struct SalesKey {
  std::string day;  // YYYY-MM-DD, UTC
  domain::ProductId product_id = 0;
  friend auto operator<=>(const SalesKey&, const SalesKey&) = default;
};

struct Sales {
  std::int64_t units_ordered = 0;
  domain::Money revenue_ordered;
  std::int64_t units_cancelled = 0;
  domain::Money revenue_cancelled;
  friend bool operator==(const Sales&, const Sales&) = default;
};

// What the projection remembers of an order: the last version it applied (so an event applied
// twice changes nothing) and its lines (a cancellation names none).
struct OrderLines {
  std::int64_t version = 0;
  std::vector<domain::LineItem> items;
  friend bool operator==(const OrderLines&, const OrderLines&) = default;
};

// Applies the event at `version` of an order's stream, recorded at `recorded_at` (RFC 3339,
// UTC), adding what it sold or took back to `sales`.
Applied project_sales(OrderLines& lines, const domain::Event& event, std::int64_t version,
                      std::string_view recorded_at, std::map<SalesKey, Sales>& sales);

}  // namespace order::projections
