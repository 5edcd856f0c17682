// The HTTP bodies: request bodies in (every field error at once), orders and audit entries out.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "adapters/json/fields.hpp"
#include "commands/event_store.hpp"
#include "domain/order.hpp"
#include "projections/order_read_model.hpp"

namespace order::json {

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

struct OrderTimes {
  std::string created_at;  // RFC 3339, UTC
  std::string updated_at;
};
std::string encode_order(const domain::Order& order, const OrderTimes& times);

// One audit-trail entry: position, version, type, time, data and metadata.
void write_history_entry(class JsonWriter& writer, const commands::HistoryEntry& entry);

// "projection_lag": {"events", "seconds"}: how far a read model's answer trails the log.
void write_projection_lag(JsonWriter& writer, const projections::ProjectionLag& lag);

}  // namespace order::json
