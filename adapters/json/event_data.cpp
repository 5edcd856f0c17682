// Event data and order lines: written in the contract's field order, read back exactly.
#include "adapters/json/event_data.hpp"

#include <boost/json/monotonic_resource.hpp>

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

std::optional<domain::Event> decode_event(std::string_view type, std::string_view data_json) {
  // Every subscriber decodes every event: the document lives in a buffer on this stack, and only
  // the event decoded from it goes to the heap.
  unsigned char buffer[4096];
  bj::monotonic_resource resource(buffer, sizeof buffer);
  const auto parsed = parse_exact(data_json, &resource);
  const auto* document = std::get_if<bj::value>(&parsed);
  if (document == nullptr || !document->is_object()) return std::nullopt;
  FieldErrors errors;
  Fields fields(document->get_object(), "", errors);
  const auto order_id = fields.integer("orderid", fields.required("orderid"));
  const auto user_id = fields.integer("userid", fields.required("userid"));
  const auto total = fields.money("totalamount", fields.required("totalamount"));
  if (!errors.empty()) return std::nullopt;

  if (type == "order.created") {
    const auto* items = fields.required("items");
    if (items == nullptr || !items->is_array()) return std::nullopt;
    domain::OrderPlaced placed{*order_id, *user_id, {}, *total};
    placed.items.reserve(items->get_array().size());
    for (const auto& value : items->get_array()) {
      auto item = decode_item(value, "items", errors);
      if (!item) return std::nullopt;
      placed.items.push_back(*item);
    }
    return placed;
  }

  const auto old_status_text = fields.text("oldstatus", fields.required("oldstatus"));
  const auto old_status = old_status_text ? domain::parse_status(*old_status_text) : std::nullopt;
  if (!old_status) return std::nullopt;
  const domain::OrderRef ref{*order_id, *user_id, *total, *old_status};

  auto text_of = [&](std::string_view key) {
    return fields.text(key, fields.required(key)).value_or("");
  };
  if (type == "order.paid") {
    const auto amount = fields.money("amount", fields.required("amount"));
    if (!amount) return std::nullopt;
    return domain::OrderPaid{ref, text_of("payment_reference"), *amount};
  }
  if (type == "order.shipped") {
    return domain::OrderShipped{ref, text_of("carrier"), text_of("tracking_number")};
  }
  if (type == "order.delivered") return domain::OrderDelivered{ref};
  if (type == "order.cancelled") return domain::OrderCancelled{ref, text_of("reason")};
  return std::nullopt;
}

}  // namespace order::json
