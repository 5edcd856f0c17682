// Request bodies decoded with every field error at once; orders and audit entries encoded.
#include "adapters/json/http_bodies.hpp"

namespace order::json {

using namespace detail;

std::variant<PlaceOrderBody, FieldErrors> decode_place_order(const bj::value& body) {
  FieldErrors errors;
  const bj::object* object = expect_object(body, errors, false);
  if (object == nullptr) return errors;
  Fields fields(*object, "", errors);
  PlaceOrderBody out;

  const bj::value* user_id = fields.find("user_id");
  const bj::value* userid = fields.find("userid");
  if (user_id != nullptr && userid != nullptr && *user_id != *userid) {
    fields.fail("userid", "conflict", "user_id and userid are both given and differ");
  } else if (const auto id =
                 fields.integer(user_id ? "user_id" : "userid", user_id ? user_id : userid)) {
    out.user_id = *id;
  } else if (user_id == nullptr && userid == nullptr) {
    fields.fail("user_id", "required", "user_id is required");
  }

  const bj::value* args = fields.find("args");
  const bj::value* items = fields.find("items");
  if (args != nullptr && items != nullptr) {
    fields.fail("items", "conflict", "give the items as either args or items, not both");
  } else if (args == nullptr && items == nullptr) {
    fields.fail("items", "required", "items (or args) is required");
  } else {
    out.items_field = args != nullptr ? "args" : "items";
    const bj::value& list = args != nullptr ? *args : *items;
    if (const auto* array = list.if_array()) {
      if (array->size() > domain::kMaxItems) {
        // Refused before decoding, so a huge list costs nothing more than its parse.
        fields.fail(out.items_field, "too_many",
                    "an order has at most " + std::to_string(domain::kMaxItems) + " items");
      } else {
        for (std::size_t i = 0; i < array->size(); ++i) {
          auto item =
              decode_item((*array)[i], out.items_field + "[" + std::to_string(i) + "]", errors);
          if (item) out.items.push_back(*item);
        }
      }
    } else {
      fields.fail(out.items_field, "invalid_type",
                  out.items_field + " must be an array, not " + std::string(kind_name(list)));
    }
  }
  fields.reject_unknown();
  if (!errors.empty()) return errors;
  return out;
}

std::variant<domain::PayOrder, FieldErrors> decode_pay(const bj::value& body, domain::OrderId id) {
  FieldErrors errors;
  const bj::object* object = expect_object(body, errors, true);
  if (object == nullptr) return errors;
  Fields fields(*object, "", errors);
  const auto reference =
      fields.stored_text("payment_reference", fields.required("payment_reference"));
  const auto amount = fields.money("amount", fields.required("amount"));
  fields.reject_unknown();
  if (!errors.empty()) return errors;
  return domain::PayOrder{id, *reference, *amount};
}

std::variant<domain::ShipOrder, FieldErrors> decode_ship(const bj::value& body,
                                                         domain::OrderId id) {
  FieldErrors errors;
  const bj::object* object = expect_object(body, errors, true);
  if (object == nullptr) return errors;
  Fields fields(*object, "", errors);
  const auto carrier = fields.stored_text("carrier", fields.required("carrier"));
  const auto tracking = fields.stored_text("tracking_number", fields.required("tracking_number"));
  fields.reject_unknown();
  if (!errors.empty()) return errors;
  return domain::ShipOrder{id, *carrier, *tracking};
}

std::variant<domain::DeliverOrder, FieldErrors> decode_deliver(const bj::value& body,
                                                               domain::OrderId id) {
  FieldErrors errors;
  const bj::object* object = expect_object(body, errors, true);
  if (object == nullptr) return errors;
  Fields fields(*object, "", errors);
  fields.reject_unknown();
  if (!errors.empty()) return errors;
  return domain::DeliverOrder{id};
}

std::variant<domain::CancelOrder, FieldErrors> decode_cancel(const bj::value& body,
                                                             domain::OrderId id) {
  FieldErrors errors;
  const bj::object* object = expect_object(body, errors, true);
  if (object == nullptr) return errors;
  Fields fields(*object, "", errors);
  std::optional<std::string> reason;
  if (const auto* value = fields.find("reason"); value != nullptr && !value->is_null()) {
    reason = fields.stored_text("reason", value);
  }
  fields.reject_unknown();
  if (!errors.empty()) return errors;
  return domain::CancelOrder{id, reason.value_or("")};
}

void rename_items_field(FieldErrors& errors, std::string_view items_field) {
  if (items_field == "items") return;
  for (auto& error : errors) {
    if (error.field.starts_with("items")) error.field.replace(0, 5, items_field);
  }
}

void write_history_entry(JsonWriter& w, const commands::HistoryEntry& entry) {
  w.begin_object();
  w.key("global_position").integer(entry.global_position);
  w.key("order_id").integer(entry.stream_id);
  w.key("version").integer(entry.stream_version);
  w.key("event_id").string(entry.event_id);
  w.key("type").string(entry.type);
  w.key("schema_version").integer(entry.schema_version);
  w.key("recorded_at").string(entry.recorded_at);
  w.key("data").raw(entry.data_json);  // jsonb text from the log: valid JSON already
  w.key("metadata").raw(entry.metadata_json);
  w.end_object();
}

std::string encode_order(const domain::Order& order, const OrderTimes& times) {
  JsonWriter w;
  w.begin_object();
  w.key("order_id").integer(order.id);
  w.key("user_id").integer(order.user_id);
  w.key("status").string(domain::to_string(order.status));
  w.key("total_amount").string(domain::format_money(order.total));
  w.key("items");
  write_items(w, order.items, true);
  if (!order.payment_reference.empty()) w.key("payment_reference").string(order.payment_reference);
  if (!order.carrier.empty()) w.key("carrier").string(order.carrier);
  if (!order.tracking_number.empty()) w.key("tracking_number").string(order.tracking_number);
  if (order.status == domain::OrderStatus::cancelled)
    w.key("cancel_reason").string(order.cancel_reason);
  w.key("version").integer(order.version);
  w.key("created_at").string(times.created_at);
  w.key("updated_at").string(times.updated_at);
  w.end_object();
  return w.take();
}

void write_projection_lag(JsonWriter& w, const projections::ProjectionLag& lag) {
  w.key("projection_lag").begin_object();
  w.key("events").integer(lag.events);
  w.key("seconds").raw(std::to_string(lag.seconds));
  w.end_object();
}

}  // namespace order::json
