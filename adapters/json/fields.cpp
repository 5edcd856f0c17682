// The codecs' shared readers and writers.
#include "adapters/json/fields.hpp"

namespace order::json::detail {

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

}  // namespace order::json::detail
