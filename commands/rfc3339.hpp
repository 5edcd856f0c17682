// RFC 3339 times as the event store reads and writes them: a StreamBound's `as_of` in, an
// event's recorded_at out.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace order::commands {

// A point in time to the microsecond, as a timestamptz keeps it, over a timestamptz's range of
// years (system_clock's nanoseconds span only 1678 to 2262).
using Microseconds = std::chrono::sys_time<std::chrono::microseconds>;

// An RFC 3339 time ("2025-09-15T00:34:20Z", "…t02:34:20.5+02:00", "… 00:34:20Z") as a point in
// time, or nothing when the text is not one: a malformed field, or a month, day (leap years
// counted), hour, minute, second or offset out of range. A leap second (":60") is the next
// minute's start and the fraction is rounded to the microsecond, as PostgreSQL reads them.
std::optional<Microseconds> parse_rfc3339(std::string_view text);

// As PostgreSQL prints a timestamptz in UTC with microseconds: 2026-11-25T04:38:06.326657Z.
std::string format_rfc3339(Microseconds time);

// `text` read by parse_rfc3339 and printed again in UTC, held within years 1 to 9999 (a
// timestamptz's range; no event is recorded outside it): a bound the database always accepts.
std::optional<std::string> utc_rfc3339(std::string_view text);

}  // namespace order::commands
