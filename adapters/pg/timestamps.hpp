// Timestamps out of PostgreSQL as RFC 3339 text in UTC, formatted here rather than by the
// database: `to_char` costs the server about a microsecond a row more than a timestamp's own
// output, on every event the publisher, the projectors, a rebuild and a read hand out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "commands/rfc3339.hpp"

namespace order::pg {

// The text of `column AT TIME ZONE 'UTC'` (a timestamp without time zone, so the session's
// TimeZone plays no part; its DateStyle does, and connect() sets ISO), as RFC 3339:
// "2026-11-27 00:24:18.0948" (ISO DateStyle, trailing zeros of the fraction dropped, no
// fraction at all on a whole second) → "2026-11-27T00:24:18.094800Z", with microseconds always,
// as every timestamp the service hands out.
std::string utc_rfc3339(std::string_view iso);

// A timestamptz in the binary format, microseconds since 2000-01-01 00:00:00 UTC, and back.
inline constexpr std::int64_t kPostgresEpochMicroseconds = std::int64_t{946'684'800} * 1'000'000;
inline commands::Microseconds time_of_timestamptz(std::int64_t stored) {
  return commands::Microseconds{std::chrono::microseconds{stored + kPostgresEpochMicroseconds}};
}
inline std::int64_t timestamptz_of(commands::Microseconds time) {
  return time.time_since_epoch().count() - kPostgresEpochMicroseconds;
}

// A timestamptz in the binary format as RFC 3339, as utc_rfc3339() gives its text.
inline std::string rfc3339_of_timestamptz(std::int64_t stored) {
  return commands::format_rfc3339(time_of_timestamptz(stored));
}

// A uuid in the binary format (16 bytes) as PostgreSQL prints it:
// "0b5f8c1e-6f0e-4a5b-9c3d-2e1f0a9b8c7d". Throws std::runtime_error on another size.
std::string uuid_text(std::string_view stored);

}  // namespace order::pg
