// Decoders that report every field error at once, and encoders that write the contract's shapes.
#include "adapters/json/order_codec.hpp"

#include <boost/json.hpp>
#include <set>

#include "adapters/json/exact_parser.hpp"
#include "adapters/json/json_writer.hpp"

namespace order::json {
namespace {

namespace bj = boost::json;
using domain::FieldError;
using domain::Money;

std::string_view kind_name(const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null:
      return "null";
    case bj::kind::bool_:
      return "a boolean";
    case bj::kind::int64:
    case bj::kind::uint64:
      return "an integer";
    case bj::kind::double_:
      return "a number with a fraction";
    case bj::kind::string:
      return "a string";
    case bj::kind::array:
      return "an array";
    case bj::kind::object:
      return "an object";
  }
  return "a value";
}

// Reads the members of one JSON object, recording which keys were used and every error found.
class Fields {
 public:
  Fields(const bj::object& object, std::string prefix, FieldErrors& errors)
      : object_(object), prefix_(std::move(prefix)), errors_(errors) {}

  const bj::value* find(std::string_view key) {
    known_.insert(std::string(key));
    const auto it = object_.find(bj::string_view(key.data(), key.size()));
    return it == object_.end() ? nullptr : &it->value();
  }

  const bj::value* required(std::string_view key) {
    const bj::value* value = find(key);
    if (value == nullptr || value->is_null()) {
      fail(key, "required", std::string(key) + " is required");
      return nullptr;
    }
    return value;
  }

  std::optional<std::int64_t> integer(std::string_view key, const bj::value* value) {
    if (value == nullptr) return std::nullopt;
    if (const auto* i = value->if_int64()) return *i;
    if (value->is_uint64()) {
      fail(key, "out_of_range", std::string(key) + " is too large");
    } else {
      fail(key, "invalid_type",
           std::string(key) + " must be an integer, not " + std::string(kind_name(*value)));
    }
    return std::nullopt;
  }

  std::optional<std::string> text(std::string_view key, const bj::value* value) {
    if (value == nullptr) return std::nullopt;
    if (const auto* s = value->if_string()) return std::string(s->data(), s->size());
    fail(key, "invalid_type",
         std::string(key) + " must be a string, not " + std::string(kind_name(*value)));
    return std::nullopt;
  }

  // Text that goes into an event: PostgreSQL's jsonb cannot hold U+0000 (it would refuse the
  // whole event, a 500), so a NUL is the client's error, said as such.
  std::optional<std::string> stored_text(std::string_view key, const bj::value* value) {
    auto result = text(key, value);
    if (result && result->find('\0') != std::string::npos) {
      fail(key, "invalid_character", std::string(key) + " must not contain U+0000 (NUL)");
      return std::nullopt;
    }
    return result;
  }

  std::optional<Money> money(std::string_view key, const bj::value* value) {
    if (value == nullptr) return std::nullopt;
    const auto result = money_of(*value);
    if (const auto* amount = std::get_if<Money>(&result)) return *amount;
    switch (std::get<MoneyProblem>(result)) {
      case MoneyProblem::too_many_decimals:
        fail(key, "too_many_decimals", std::string(key) + " must have at most two decimals");
        break;
      case MoneyProblem::out_of_range:
        fail(key, "out_of_range", std::string(key) + " is out of range");
        break;
      case MoneyProblem::not_a_number:
        fail(key, "invalid_type",
             std::string(key) + " must be a number such as 4.99, not " +
                 std::string(kind_name(*value)));
        break;
    }
    return std::nullopt;
  }

  // Unknown members are refused: a typo such as "quantitiy" must not silently become a default.
  void reject_unknown() {
    for (const auto& member : object_) {
      const std::string key(member.key());
      if (!known_.contains(key)) fail(key, "unknown_field", "unknown field " + key);
    }
  }

  void fail(std::string_view key, std::string code, std::string message) {
    errors_.push_back(FieldError{prefix_ + std::string(key), std::move(code), std::move(message)});
  }

 private:
  const bj::object& object_;
  std::string prefix_;
  FieldErrors& errors_;
  std::set<std::string> known_;
};

const bj::object* expect_object(const bj::value& body, FieldErrors& errors, bool null_is_empty) {
  static const bj::object kEmpty;
  if (null_is_empty && body.is_null()) return &kEmpty;
  if (const auto* object = body.if_object()) return object;
  errors.push_back(FieldError{
      "", "invalid_type", "the body must be a JSON object, not " + std::string(kind_name(body))});
  return nullptr;
}

std::optional<domain::LineItem> decode_item(const bj::value& value, const std::string& prefix,
                                            FieldErrors& errors) {
  const auto* object = value.if_object();
  if (object == nullptr) {
    errors.push_back(FieldError{prefix, "invalid_type",
                                "an item must be an object, not " + std::string(kind_name(value))});
    return std::nullopt;
  }
  const std::size_t errors_before = errors.size();
  Fields fields(*object, prefix + ".", errors);
  const auto product_id = fields.integer("product_id", fields.required("product_id"));
  const auto quantity = fields.integer("quantity", fields.required("quantity"));
  const auto price = fields.money("price", fields.required("price"));
  // The Go service's clients may send these two (its item struct had them); they are accepted
  // and ignored: the order id is ours to assign, and products are named by the catalogue.
  fields.find("order_id");
  if (const auto* name = fields.find("product_name"); name != nullptr && !name->is_null()) {
    fields.text("product_name", name);
  }
  fields.reject_unknown();
  if (errors.size() != errors_before) return std::nullopt;
  return domain::LineItem{*product_id, *quantity, *price};
}

void write_common(JsonWriter& w, const domain::OrderRef& ref, domain::OrderStatus new_status) {
  w.key("orderid").integer(ref.order_id);
  w.key("userid").integer(ref.user_id);
  w.key("totalamount").string(domain::format_money(ref.total));
  w.key("status").string(domain::to_string(new_status));
  w.key("oldstatus").string(domain::to_string(ref.old_status));
  w.key("newstatus").string(domain::to_string(new_status));
}

void write_items(JsonWriter& w, const std::vector<domain::LineItem>& items, bool with_subtotal) {
  w.begin_array();
  for (const auto& item : items) {
    w.begin_object();
    w.key("product_id").integer(item.product_id);
    w.key("quantity").integer(item.quantity);
    w.key("price").raw(domain::format_money_compact(item.unit_price));
    if (with_subtotal) {
      const auto subtotal = domain::checked_multiply(item.unit_price, item.quantity);
      w.key("subtotal").string(domain::format_money(subtotal.value_or(Money{})));
    }
    w.end_object();
  }
  w.end_array();
}

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;  // clang 14 (the fuzzing build) lacks aggregate CTAD

}  // namespace

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
  return w.take();
}

std::optional<domain::Event> decode_event(std::string_view type, std::string_view data_json) {
  const auto parsed = parse_exact(data_json);
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

}  // namespace order::json
