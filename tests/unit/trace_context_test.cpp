// W3C Trace Context: which incoming headers are honoured, and the span this service opens.
#include "adapters/http/trace_context.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

using order::http::is_valid_tracestate;
using order::http::parse_traceparent;
using order::http::start_span;

constexpr const char* kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool is_lower_hex(const std::string& text, std::size_t size) {
  if (text.size() != size) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a well-formed traceparent names its trace, parent and flags") {
  const auto parent = parse_traceparent(kValid);
  REQUIRE(parent);
  CHECK(parent->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(parent->parent_id == "00f067aa0ba902b7");
  CHECK(parent->flags == "01");
}

TEST_CASE("a traceparent that breaks the spec's rules is ignored") {
  for (const char* bad : {
           "",                                                          // empty
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",      // no flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // forbidden version
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // v00 with more
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",   // wrong separators
           "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version not hex
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   // trace id not hex
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",   // flags not hex
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // later version, no dash
       }) {
    CHECK_MESSAGE(!parse_traceparent(bad), "accepted: '" << bad << "'");
  }
}

TEST_CASE("a later version's traceparent is read as far as version 00 goes") {
  const auto parent = parse_traceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds");
  REQUIRE(parent);
  CHECK(parent->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_CASE("the service's span continues the caller's trace with a span id of its own") {
  const auto span = start_span(std::string_view(kValid), std::string_view("congo=t61rcWkgMzE"));
  CHECK(span.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(is_lower_hex(span.span_id, 16));
  CHECK(span.span_id != "00f067aa0ba902b7");
  CHECK(span.flags == "01");
  CHECK(span.tracestate == "congo=t61rcWkgMzE");
  CHECK(span.traceparent() == "00-4bf92f3577b34da6a3ce929d0e0e4736-" + span.span_id + "-01");
}

TEST_CASE("only the sampled flag is passed on") {
  CHECK(start_span(std::string_view("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
                   std::nullopt)
            .flags == "00");
  CHECK(start_span(std::string_view("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0b"),
                   std::nullopt)
            .flags == "01");
  CHECK(start_span(std::string_view("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe"),
                   std::nullopt)
            .flags == "00");
}

TEST_CASE(
    "without a valid traceparent the request starts a new sampled trace and drops tracestate") {
  const auto a = start_span(std::string_view("garbage"), std::string_view("congo=t61rcWkgMzE"));
  const auto b = start_span(std::nullopt, std::nullopt);
  for (const auto& span : {a, b}) {
    CHECK(is_lower_hex(span.trace_id, 32));
    CHECK(span.trace_id != std::string(32, '0'));
    CHECK(is_lower_hex(span.span_id, 16));
    CHECK(span.flags == "01");
    CHECK(span.tracestate.empty());
    CHECK(parse_traceparent(span.traceparent()));
  }
  CHECK(a.trace_id != b.trace_id);
}

TEST_CASE("tracestate lists are checked by the spec's grammar") {
  CHECK(is_valid_tracestate("congo=t61rcWkgMzE"));
  CHECK(is_valid_tracestate("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"));
  CHECK(is_valid_tracestate("fw529a3039@dt=ZGZ, , vendor_1*/x=a b"));
  CHECK_FALSE(is_valid_tracestate(""));
  CHECK_FALSE(is_valid_tracestate("Congo=t61rcWkgMzE"));     // key starts upper case
  CHECK_FALSE(is_valid_tracestate("congo"));                 // no value
  CHECK_FALSE(is_valid_tracestate("congo=a,congo=b"));       // a key twice
  CHECK_FALSE(is_valid_tracestate("congo=a=b"));             // '=' in the value
  CHECK_FALSE(is_valid_tracestate("congo=a\tb"));            // a control character
  CHECK(is_valid_tracestate(" congo=a ,rojo=b "));           // spaces around members
  CHECK_FALSE(is_valid_tracestate("a@toolongsystemid1=x"));  // system id over 14
  std::string many;
  for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + "=v,";
  CHECK_FALSE(is_valid_tracestate(many));                          // 33 members
  CHECK_FALSE(is_valid_tracestate("k=" + std::string(600, 'v')));  // over 512 bytes
}
