// What the contracts' codecs share: reading a JSON object's members with every field error
// recorded, an order line in and out. Internal to adapters/json.
#pragma once

#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/json/exact_parser.hpp"
#include "adapters/json/json_writer.hpp"
#include "domain/order.hpp"

namespace order::json {

using FieldErrors = std::vector<domain::FieldError>;

namespace detail {

namespace bj = boost::json;
using domain::FieldError;
using domain::Money;

// "an integer", "a string", … for error messages.
std::string_view kind_name(const bj::value& v);

// Reads the members of one JSON object, recording which keys were used and every error found.
class Fields {
 public:
  Fields(const bj::object& object, std::string prefix, FieldErrors& errors)
      : object_(object), prefix_(std::move(prefix)), errors_(errors), used_(object.size(), 0) {}

  const bj::value* find(std::string_view key) {
    const auto it = object_.find(bj::string_view(key.data(), key.size()));
    if (it == object_.end()) return nullptr;
    used_[static_cast<std::size_t>(it - object_.begin())] = 1;
    return &it->value();
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
    for (std::size_t i = 0; i < used_.size(); ++i) {
      if (used_[i] != 0) continue;
      const std::string key((object_.begin() + i)->key());
      fail(key, "unknown_field", "unknown field " + key);
    }
  }

  void fail(std::string_view key, std::string code, std::string message) {
    errors_.push_back(FieldError{prefix_ + std::string(key), std::move(code), std::move(message)});
  }

 private:
  const bj::object& object_;
  std::string prefix_;
  FieldErrors& errors_;
  // By member index: read by find(). Inline for up to 16 members (an event's data has at most
  // eight), so decoding the log's data allocates nothing for it.
  boost::container::small_vector<char, 16> used_;
};

// The body as an object, or an error (a null body is an empty object where `null_is_empty`).
const bj::object* expect_object(const bj::value& body, FieldErrors& errors, bool null_is_empty);

// One order line: {"product_id", "quantity", "price"}, every error under `prefix`.
std::optional<domain::LineItem> decode_item(const bj::value& value, const std::string& prefix,
                                            FieldErrors& errors);

// Order lines as the contracts write them; with `with_subtotal`, each line's exact subtotal.
void write_items(JsonWriter& w, const std::vector<domain::LineItem>& items, bool with_subtotal);

}  // namespace detail
}  // namespace order::json
