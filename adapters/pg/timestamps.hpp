// Timestamps out of PostgreSQL as RFC 3339 text in UTC, formatted here rather than by the
// database: `to_char` costs the server about a microsecond a row more than a timestamp's own
// output, on every event the publisher, the projectors, a rebuild and a read hand out.
#pragma once

#include <string>
#include <string_view>

namespace order::pg {

// The text of `column AT TIME ZONE 'UTC'` (a timestamp without time zone, so the session's
// TimeZone plays no part; its DateStyle does, and connect() sets ISO), as RFC 3339:
// "2026-11-27 00:24:18.0948" (ISO DateStyle, trailing zeros of the fraction dropped, no
// fraction at all on a whole second) → "2026-11-27T00:24:18.094800Z", with microseconds always,
// as every timestamp the service hands out.
std::string utc_rfc3339(std::string_view iso);

}  // namespace order::pg
