// Reading a request's query parameters: whole integers in a range, nothing more lenient.
#pragma once

#include <charconv>
#include <optional>
#include <string>

#include "adapters/http/http_types.hpp"

namespace order::http {

// The query parameter `name` as an integer from `min` to `max`; `fallback` when it is absent,
// nothing when it is not such an integer (a sign, a space, a fraction or trailing text).
template <class Int>
std::optional<Int> query_int(const HttpRequest& request, const std::string& name, Int min, Int max,
                             Int fallback) {
  const auto it = request.query.find(name);
  if (it == request.query.end()) return fallback;
  Int value{};
  const auto& text = it->second;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

// The detail of a 400 for the query parameter `name` that query_int refused: its rule, and the
// value given when it is short printable text ("limit must be a whole number from 1 to 500, not
// \"0\"").
std::string query_int_refusal(const HttpRequest& request, const std::string& name, long long min,
                              long long max);

}  // namespace order::http
