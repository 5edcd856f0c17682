// The global event log as subscribers see it: events in (transaction id, global position) order,
// read only below the oldest transaction still in flight, so none is ever skipped.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "domain/order.hpp"

namespace order::projections {

// A subscriber's position: the last event it has fully handled.
struct LogPosition {
  std::uint64_t transaction_id = 0;
  std::int64_t global_position = 0;
  friend constexpr auto operator<=>(const LogPosition&, const LogPosition&) = default;
};

struct LogEvent {
  LogPosition position;
  domain::OrderId stream_id = 0;
  std::int64_t stream_version = 0;
  std::string event_id;
  std::string type;
  int schema_version = 1;
  std::string recorded_at;  // RFC 3339, UTC
  std::string data_json;
  // From the event's metadata; empty when it names none.
  std::string correlation_id;
  std::string traceparent;  // W3C Trace Context of the request that caused the event
  std::string tracestate;
};

}  // namespace order::projections
