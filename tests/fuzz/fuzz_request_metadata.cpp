// libFuzzer harness: what a request says beside its body, read by hand-written parsers before
// anything else looks at it: W3C `traceparent` and `tracestate`, the bearer token (base64url,
// JSON, HMAC), an `as_of` time and the printable-text rule of X-Actor and Idempotency-Key. The
// first byte picks the reader, the rest is the header's value. Nothing may crash, leak, hang or
// trip a sanitizer, and what each reader accepts must hold what its contract says it does.
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "adapters/http/jwt.hpp"
#include "adapters/http/text.hpp"
#include "adapters/http/trace_context.hpp"
#include "commands/rfc3339.hpp"

namespace {

using namespace order;

void require(bool holds) {
  if (!holds) std::abort();
}

bool is_hex(std::string_view text, std::size_t digits) {
  return text.size() == digits && text.find_first_not_of("0123456789abcdef") == text.npos;
}

bool is_id(std::string_view text, std::size_t digits) {
  return is_hex(text, digits) && text.find_first_not_of('0') != text.npos;
}

// A parent that parses names a trace and a span by the spec's rules, and the span this service
// opens under it keeps its trace and sends a `traceparent` that parses again.
void traceparent(std::string_view header) {
  const auto parent = http::parse_traceparent(header);
  const auto span = http::start_span(header, std::nullopt);
  const auto sent = http::parse_traceparent(span.traceparent());
  require(sent.has_value() && sent->trace_id == span.trace_id && sent->parent_id == span.span_id);
  require(span.flags == "00" || span.flags == "01");
  if (!parent) return;
  require(is_id(parent->trace_id, 32) && is_id(parent->parent_id, 16) && is_hex(parent->flags, 2));
  require(span.trace_id == parent->trace_id);
}

// A `tracestate` is passed on only beside a valid parent, only when valid, and then within the
// spec's 512 bytes.
void tracestate(std::string_view header) {
  const bool valid = http::is_valid_tracestate(header);
  require(!valid || header.size() <= 512);
  const auto span =
      http::start_span("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", header);
  require(valid || span.tracestate.empty());
  require(span.tracestate.size() <= header.size());
  require(http::start_span(std::nullopt, header).tracestate.empty());
}

// Any token: refused or verified, never more. A segment that decodes has exactly one encoding.
void token(std::string_view text) {
  const auto verified = http::verify_hs256(text, "fuzzing-secret", 1'700'000'000);
  if (const auto* claims = std::get_if<http::JwtClaims>(&verified)) {
    require(http::is_printable(claims->subject, 200));
  }
  if (const auto bytes = http::base64url_decode(text)) {
    require(http::base64url_encode(*bytes) == text);
  }
}

// A token signed with the secret over the header and claims given (split at the first newline):
// what gets past the signature. It is believed only with the same secret, and what it grants
// holds the claims' rules.
void signed_token(std::string_view text) {
  const auto newline = text.find('\n');
  if (newline == std::string_view::npos) return;
  const std::string token =
      http::sign_hs256(text.substr(0, newline), text.substr(newline + 1), "fuzzing-secret");
  constexpr std::int64_t now = 1'700'000'000;
  const auto verified = http::verify_hs256(token, "fuzzing-secret", now);
  if (const auto* claims = std::get_if<http::JwtClaims>(&verified)) {
    require(!claims->subject.empty() && http::is_printable(claims->subject, 200));
    require(!claims->expires_at || now - 30 < *claims->expires_at);
    require(!claims->not_before || now + 30 >= *claims->not_before);
    require(std::holds_alternative<http::JwtError>(http::verify_hs256(token, "another", now)));
  }
}

// A time that parses prints as one that parses to the same microsecond (within years 0 to 9999,
// which the printer writes as RFC 3339), and the bound sent to the database always parses.
void as_of(std::string_view text) {
  using namespace std::chrono;
  const auto time = commands::parse_rfc3339(text);
  const auto bound = commands::utc_rfc3339(text);
  require(time.has_value() == bound.has_value());
  if (!time) return;
  const auto reparsed = commands::parse_rfc3339(*bound);
  require(reparsed.has_value() && bound->size() == 27);
  const int y = int(year_month_day{floor<days>(*time)}.year());
  if (y >= 1 && y <= 9999) require(*reparsed == *time);
  if (y >= 0 && y <= 9999) {
    require(commands::parse_rfc3339(commands::format_rfc3339(*time)) == time);
  }
}

// Printable text is well-formed UTF-8 (as Boost.JSON's validating parser, standing in for jsonb,
// reads it) without ASCII controls, within the length asked.
void printable(std::string_view text) {
  if (!http::is_printable(text, 64)) return;
  require(!text.empty() && text.size() <= 64);
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    require(byte >= 0x20 && byte != 0x7f);
  }
  boost::system::error_code error;
  const auto parsed = boost::json::parse(boost::json::serialize(boost::json::string(text)), error);
  require(!error && parsed.is_string() && parsed.as_string() == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view value(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      traceparent(value);
      break;
    case 1:
      tracestate(value);
      break;
    case 2:
      token(value);
      break;
    case 3:
      signed_token(value);
      break;
    case 4:
      as_of(value);
      break;
    default:
      printable(value);
      break;
  }
  return 0;
}
