// A small append-only JSON writer: exact control over number text (money stays "4.99", never
// "4.99E0" as Boost.JSON would print a double) and no DOM on the hot path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace order::json {

// Appends `text` to `out` as a JSON string literal, quotes included.
void append_quoted(std::string& out, std::string_view text);

class JsonWriter {
 public:
  // Room for a typical message up front, so building one rarely reallocates.
  explicit JsonWriter(std::size_t reserve = 256) { out_.reserve(reserve); }
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view value);
  JsonWriter& integer(std::int64_t value);
  JsonWriter& boolean(bool value);
  JsonWriter& null();
  // A value that is already JSON text (a number's exact text, a stored jsonb document).
  JsonWriter& raw(std::string_view json_text);

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void before_value();
  std::string out_;
  std::vector<bool> has_member_;  // one entry per open container
  bool after_key_ = false;
};

}  // namespace order::json
