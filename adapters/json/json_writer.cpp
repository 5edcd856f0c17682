// JsonWriter: commas, quoting and escaping in one place.
#include "adapters/json/json_writer.hpp"

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace order::json {

namespace {

constexpr std::uint64_t kEachByte = 0x0101010101010101U;
constexpr std::uint64_t kHighBits = 0x8080808080808080U;

// Whether any of the 8 bytes of `v` is a control character, '"' or '\\' (the exact test of
// "Bit Twiddling Hacks": a byte below n, a byte equal to c).
bool any_to_escape(std::uint64_t v) {
  const std::uint64_t control = (v - kEachByte * 0x20U) & ~v;
  const std::uint64_t quote = v ^ (kEachByte * '"');
  const std::uint64_t backslash = v ^ (kEachByte * '\\');
  return ((control | ((quote - kEachByte) & ~quote) | ((backslash - kEachByte) & ~backslash)) &
          kHighBits) != 0;
}

bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

}  // namespace

bool needs_no_escape(std::string_view text) {
  for (const char c : text) {
    if (needs_escape(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

void append_quoted(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  // Characters that need no escape are copied a run at a time, found eight at a time.
  const char* p = text.data();
  const char* const end = p + text.size();
  const char* run = p;
  while (p != end) {
    for (std::uint64_t eight = 0; end - p >= 8; p += 8) {
      std::memcpy(&eight, p, 8);
      if (any_to_escape(eight)) break;
    }
    if (p == end) break;
    const char c = *p;
    if (!needs_escape(static_cast<unsigned char>(c))) {
      ++p;
      continue;
    }
    out.append(run, p);
    run = ++p;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += kHex[(c >> 4) & 0xf];
        out += kHex[c & 0xf];
    }
  }
  out.append(run, end);
  out += '"';
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (depth_ > 0) {
    if ((has_member_ & 1U) != 0) out_ += ',';
    has_member_ |= 1U;
  }
}

void JsonWriter::open(char bracket) {
  // Nesting is the writer's caller's, never input's: documents this deep are a bug.
  if (depth_ == 64) throw std::logic_error("JsonWriter: more than 64 nested containers");
  before_value();
  out_ += bracket;
  has_member_ <<= 1U;
  ++depth_;
}

void JsonWriter::close(char bracket) {
  out_ += bracket;
  has_member_ >>= 1U;
  --depth_;
}

JsonWriter& JsonWriter::begin_object() {
  open('{');
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  close('}');
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  open('[');
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  close(']');
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  before_value();
  append_quoted(out_, name);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view value) {
  before_value();
  append_quoted(out_, value);
  return *this;
}

JsonWriter& JsonWriter::integer(std::int64_t value) {
  before_value();
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out_.append(digits, end);
  return *this;
}

JsonWriter& JsonWriter::boolean(bool value) {
  before_value();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json_text) {
  before_value();
  out_ += json_text;
  return *this;
}

}  // namespace order::json
