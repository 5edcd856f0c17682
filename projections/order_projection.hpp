// The fold of events into the `orders` read model, as pure code: the live projector, the rebuild
// and the verifier all call this, so they can never disagree.
#pragma once

#include <optional>
#include <string>

#include "domain/order.hpp"

namespace order::projections {

struct OrderRow {
  domain::Order order;  // the aggregate's state: the read model shows what the aggregate knows
  std::string created_at;
  std::string updated_at;
  friend bool operator==(const OrderRow&, const OrderRow&) = default;
};

enum class Applied {
  changed,          // the row moved to the event's version
  already_applied,  // the row is at or past this version: applying twice changes nothing
  gap,              // the row is behind by more than one version: an event is missing
};

// Applies the event at `version` of its order's stream, recorded at `recorded_at`, to `row`
// (empty until the order's first event).
Applied project(std::optional<OrderRow>& row, const domain::Event& event, std::int64_t version,
                const std::string& recorded_at);

}  // namespace order::projections
