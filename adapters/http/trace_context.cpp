// W3C Trace Context: the header grammar, checked character by character, and new span ids.
#include "adapters/http/trace_context.hpp"

#include <algorithm>
#include <random>
#include <set>

namespace order::http {
namespace {

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zero(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '0'; });
}

std::string random_hex(std::size_t digits) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  do {
    out.clear();
    while (out.size() < digits) {
      std::uint64_t bits = generator();
      for (int i = 0; i < 16 && out.size() < digits; ++i, bits >>= 4) out += kHex[bits & 0xf];
    }
  } while (all_zero(out));  // an all-zero id is invalid by the spec
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_key_char(char c) {
  return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

// key = simple-key / multi-tenant-key
// simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
// multi-tenant-key = tenant-id "@" system-id
// tenant-id = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
// system-id = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
bool is_valid_key(std::string_view key) {
  const auto at = key.find('@');
  auto rest_ok = [](std::string_view part) {
    return std::all_of(part.begin(), part.end(), is_key_char);
  };
  if (at == std::string_view::npos) {
    return !key.empty() && key.size() <= 256 && is_lcalpha(key[0]) && rest_ok(key.substr(1));
  }
  const auto tenant = key.substr(0, at);
  const auto system = key.substr(at + 1);
  return !tenant.empty() && tenant.size() <= 241 &&
         (is_lcalpha(tenant[0]) || is_digit(tenant[0])) && rest_ok(tenant.substr(1)) &&
         !system.empty() && system.size() <= 14 && is_lcalpha(system[0]) &&
         rest_ok(system.substr(1));
}

// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
bool is_valid_value(std::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return c >= 0x20 && c <= 0x7e && c != ',' && c != '='; });
}

}  // namespace

std::string TraceContext::traceparent() const {
  return "00-" + trace_id + "-" + span_id + "-" + flags;
}

std::optional<TraceParent> parse_traceparent(std::string_view header) {
  header = trim(header);
  // version "-" trace-id "-" parent-id "-" trace-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55.
  constexpr std::size_t kLength = 55;
  if (header.size() < kLength) return std::nullopt;
  const auto version = header.substr(0, 2);
  if (!is_lower_hex(version) || version == "ff") return std::nullopt;
  // Version 00 is exactly 55 bytes; a later version may append fields after a dash, and is read
  // as far as version 00 goes (the spec's forward compatibility rule).
  if (version == "00" ? header.size() != kLength
                      : header.size() > kLength && header[kLength] != '-') {
    return std::nullopt;
  }
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  TraceParent parent{std::string(header.substr(3, 32)), std::string(header.substr(36, 16)),
                     std::string(header.substr(53, 2))};
  if (!is_lower_hex(parent.trace_id) || all_zero(parent.trace_id) ||
      !is_lower_hex(parent.parent_id) || all_zero(parent.parent_id) ||
      !is_lower_hex(parent.flags)) {
    return std::nullopt;
  }
  return parent;
}

bool is_valid_tracestate(std::string_view header) {
  constexpr std::size_t kMaxBytes = 512;
  constexpr std::size_t kMaxMembers = 32;
  if (header.size() > kMaxBytes) return false;
  std::set<std::string_view> keys;
  std::size_t members = 0;
  while (true) {
    const auto comma = header.find(',');
    const auto member = trim(header.substr(0, comma));
    if (!member.empty()) {  // empty members are allowed and ignored
      const auto equals = member.find('=');
      if (equals == std::string_view::npos) return false;
      const auto key = member.substr(0, equals);
      if (!is_valid_key(key) || !is_valid_value(member.substr(equals + 1))) return false;
      if (!keys.insert(key).second || ++members > kMaxMembers) return false;
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return members > 0;
}

TraceContext start_span(std::optional<std::string_view> traceparent,
                        std::optional<std::string_view> tracestate) {
  TraceContext context;
  const auto parent = traceparent ? parse_traceparent(*traceparent) : std::nullopt;
  if (parent) {
    context.trace_id = parent->trace_id;
    // Only the sampled bit is defined by version 00; the others are not passed on.
    const char low = parent->flags[1];
    const int low_bits = low <= '9' ? low - '0' : low - 'a' + 10;
    context.flags = (low_bits & 1) != 0 ? "01" : "00";
    if (tracestate && is_valid_tracestate(*tracestate)) context.tracestate = trim(*tracestate);
  } else {
    context.trace_id = random_hex(32);
    context.flags = "01";
  }
  context.span_id = random_hex(16);
  return context;
}

}  // namespace order::http
