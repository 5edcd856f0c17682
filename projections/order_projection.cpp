// The read model's fold is the aggregate's own evolve, guarded by the stream version.
#include "projections/order_projection.hpp"

namespace order::projections {

Applied project(std::optional<OrderRow>& row, const domain::Event& event, std::int64_t version,
                const std::string& recorded_at) {
  const std::int64_t current = row ? row->order.version : 0;
  if (version <= current) return Applied::already_applied;
  if (version != current + 1) return Applied::gap;
  if (!row) row = OrderRow{domain::initial_state(), recorded_at, recorded_at};
  row->order = domain::evolve(std::move(row->order), event);
  row->updated_at = recorded_at;
  return Applied::changed;
}

}  // namespace order::projections
