// The JSON shapes of the product: request bodies in, orders out, and the events' `data` documents
// exactly as the seed's consumers read them (orderid, userid, totalamount, status, items…).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "commands/event_store.hpp"
#include "domain/order.hpp"

namespace order::json {

using FieldErrors = std::vector<domain::FieldError>;

// POST /orders: the seed's {"user_id", "args": [{"product_id", "quantity", "price"}]}, with
// "userid" (what the Go service really decoded) and "items" as aliases.
struct PlaceOrderBody {
  domain::UserId user_id = 0;
  std::vector<domain::LineItem> items;
  std::string items_field = "items";  // the name the client used, for error paths
};
std::variant<PlaceOrderBody, FieldErrors> decode_place_order(const boost::json::value& body);

// Lifecycle bodies. `body` is null for an empty request body.
std::variant<domain::PayOrder, FieldErrors> decode_pay(const boost::json::value& body,
                                                       domain::OrderId id);
std::variant<domain::ShipOrder, FieldErrors> decode_ship(const boost::json::value& body,
                                                         domain::OrderId id);
std::variant<domain::DeliverOrder, FieldErrors> decode_deliver(const boost::json::value& body,
                                                               domain::OrderId id);
std::variant<domain::CancelOrder, FieldErrors> decode_cancel(const boost::json::value& body,
                                                             domain::OrderId id);

// Domain errors speak of "items[3]"; a client that sent "args" reads "args[3]".
void rename_items_field(FieldErrors& errors, std::string_view items_field);

// An order's items as stored in the read model: [{"product_id","quantity","price"}].
std::string encode_items(const std::vector<domain::LineItem>& items);
std::optional<std::vector<domain::LineItem>> decode_items(std::string_view items_json);

// The event's `data` as stored in the log and published on Kafka.
std::string encode_event_data(const domain::Event& event);
// The inverse; nullopt for an unknown type or a document that does not fit it.
std::optional<domain::Event> decode_event(std::string_view type, std::string_view data_json);

struct OrderTimes {
  std::string created_at;  // RFC 3339, UTC
  std::string updated_at;
};
std::string encode_order(const domain::Order& order, const OrderTimes& times);

// One audit-trail entry: position, version, type, time, data and metadata.
void write_history_entry(class JsonWriter& writer, const commands::HistoryEntry& entry);

}  // namespace order::json
