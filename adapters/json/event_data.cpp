// Event data and order lines: written in the contract's field order, order lines read back
// exactly (the event data is read by event_reader.cpp).
#include "adapters/json/event_data.hpp"

#include "adapters/json/fields.hpp"
#include "domain/overloaded.hpp"

namespace order::json {

using namespace detail;

namespace {

void write_common(JsonWriter& w, const domain::OrderRef& ref, domain::OrderStatus new_status) {
  w.key("orderid").integer(ref.order_id);
  w.key("userid").integer(ref.user_id);
  w.key("totalamount").string(domain::format_money(ref.total));
  w.key("status").string(domain::to_string(new_status));
  w.key("oldstatus").string(domain::to_string(ref.old_status));
  w.key("newstatus").string(domain::to_string(new_status));
}

}  // namespace

std::string encode_items(const std::vector<domain::LineItem>& items) {
  JsonWriter w;
  write_items(w, items, false);
  return w.take();
}

std::optional<std::vector<domain::LineItem>> decode_items(std::string_view items_json) {
  const auto parsed = parse_exact(items_json);
  const auto* document = std::get_if<bj::value>(&parsed);
  if (document == nullptr || !document->is_array()) return std::nullopt;
  FieldErrors errors;
  std::vector<domain::LineItem> items;
  for (const auto& value : document->get_array()) {
    auto item = decode_item(value, "items", errors);
    if (!item) return std::nullopt;
    items.push_back(*item);
  }
  return items;
}

std::string encode_event_data(const domain::Event& event) {
  JsonWriter w;
  write_event_data(w, event);
  return w.take();
}

void write_event_data(JsonWriter& w, const domain::Event& event) {
  w.begin_object();
  std::visit(Overloaded{
                 [&](const domain::OrderPlaced& e) {
                   // The seed's order.created data, field for field.
                   w.key("orderid").integer(e.order_id);
                   w.key("userid").integer(e.user_id);
                   w.key("totalamount").string(domain::format_money(e.total));
                   w.key("status").string("pending");
                   w.key("items");
                   write_items(w, e.items, false);
                 },
                 [&](const domain::OrderPaid& e) {
                   write_common(w, e.ref, domain::OrderStatus::paid);
                   w.key("payment_reference").string(e.payment_reference);
                   w.key("amount").string(domain::format_money(e.amount));
                 },
                 [&](const domain::OrderShipped& e) {
                   write_common(w, e.ref, domain::OrderStatus::shipped);
                   w.key("carrier").string(e.carrier);
                   w.key("tracking_number").string(e.tracking_number);
                 },
                 [&](const domain::OrderDelivered& e) {
                   write_common(w, e.ref, domain::OrderStatus::delivered);
                 },
                 [&](const domain::OrderCancelled& e) {
                   write_common(w, e.ref, domain::OrderStatus::cancelled);
                   w.key("reason").string(e.reason);
                 },
             },
             event);
  w.end_object();
}

}  // namespace order::json
