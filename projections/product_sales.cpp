// Orders add their lines on the day they were placed; cancellations take them back on the day
// they happened. Payments, shipments and deliveries change no sale.
#include "projections/product_sales.hpp"

#include "domain/overloaded.hpp"

namespace order::projections {

Applied project_sales(OrderLines& lines, const domain::Event& event, std::int64_t version,
                      std::string_view recorded_at, std::map<SalesKey, Sales>& sales) {
  if (version <= lines.version) return Applied::already_applied;
  if (version != lines.version + 1) return Applied::gap;
  const std::string day(recorded_at.substr(0, 10));
  // Every event type is named, so a new one is a compile error here until it says what it sells.
  std::visit(Overloaded{
                 [&](const domain::OrderPlaced& e) {
                   lines.items = e.items;
                   for (const auto& item : e.items) {
                     Sales& s = sales[{day, item.product_id}];
                     s.units_ordered += item.quantity;
                     s.revenue_ordered.cents += item.unit_price.cents * item.quantity;
                   }
                 },
                 [&](const domain::OrderCancelled&) {
                   for (const auto& item : lines.items) {
                     Sales& s = sales[{day, item.product_id}];
                     s.units_cancelled += item.quantity;
                     s.revenue_cancelled.cents += item.unit_price.cents * item.quantity;
                   }
                 },
                 [](const domain::OrderPaid&) {},
                 [](const domain::OrderShipped&) {},
                 [](const domain::OrderDelivered&) {},
             },
             event);
  lines.version = version;
  return Applied::changed;
}

}  // namespace order::projections
