// A small append-only JSON writer: exact control over number text (money stays "4.99", never
// "4.99E0" as Boost.JSON would print a double) and no DOM on the hot path.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace order::json {

// Appends `text` to `out` as a JSON string literal, quotes included.
void append_quoted(std::string& out, std::string_view text);
// Whether `text` goes into a JSON string as it is.
bool needs_no_escape(std::string_view text);

class JsonWriter {
 public:
  // Room for a typical message up front, so building one rarely reallocates.
  explicit JsonWriter(std::size_t reserve = 256) { out_.reserve(reserve); }
  // Writes into `buffer`, emptied first: its capacity is reused (take() gives it back).
  explicit JsonWriter(std::string&& buffer) : out_(std::move(buffer)) { out_.clear(); }
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  // A name spelled as a literal here, as the contracts' field names are: it needs no escape, so
  // none is looked for.
  template <std::size_t N>
  JsonWriter& key(const char (&name)[N]) {
    // Checked where assertions are on (the sanitizer build): an array that is not such a
    // literal (shorter than its size, or needing an escape) belongs to key(std::string_view).
    assert(std::string_view(name).size() == N - 1 && needs_no_escape(std::string_view(name)));
    before_value();
    out_ += '"';
    out_.append(name, N - 1);
    out_ += "\":";
    after_key_ = true;
    return *this;
  }
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
  void open(char bracket);
  void close(char bracket);
  std::string out_;
  // One bit per open container, innermost lowest: whether it has a member yet. A writer needs no
  // allocation of its own beyond its text.
  std::uint64_t has_member_ = 0;
  int depth_ = 0;
  bool after_key_ = false;
};

}  // namespace order::json
