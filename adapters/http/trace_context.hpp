// W3C Trace Context (https://www.w3.org/TR/trace-context/): reading an incoming `traceparent` and
// `tracestate` by the spec's rules, and the context of the span this service opens for a request.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace order::http {

struct TraceContext {
  std::string trace_id;    // 32 lowercase hex digits, not all zero
  std::string span_id;     // 16 lowercase hex digits, not all zero: this service's span
  std::string flags;       // 2 lowercase hex digits (01: sampled)
  std::string tracestate;  // as received when valid, else empty

  // "00-<trace_id>-<span_id>-<flags>": what this service sends on as `traceparent`.
  std::string traceparent() const;
};

// The parent named by a `traceparent` header, or nullopt when it breaks the spec's rules (a
// malformed header is ignored, never an error: the request starts a new trace instead).
struct TraceParent {
  std::string trace_id;
  std::string parent_id;
  std::string flags;
};
std::optional<TraceParent> parse_traceparent(std::string_view header);

// Whether a `tracestate` header is a valid list (at most 32 members, keys and values by the
// spec's grammar, no key twice, at most 512 bytes); an invalid one is dropped.
bool is_valid_tracestate(std::string_view header);

// The context of this service's span for a request: a child of the incoming parent (same trace,
// same flags, a new span id) when there is a valid one, else the root of a new sampled trace.
TraceContext start_span(std::optional<std::string_view> traceparent,
                        std::optional<std::string_view> tracestate);

}  // namespace order::http
