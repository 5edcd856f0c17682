// RFC 3339 section 5.6 by hand: fixed-width fields, each checked against its range.
#include "commands/rfc3339.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace order::commands {
namespace {

// Reads `count` decimal digits at `at`, advancing it.
bool digits(std::string_view text, std::size_t& at, std::size_t count, int& out) {
  if (at + count > text.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[at + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  at += count;
  return true;
}

bool literal(std::string_view text, std::size_t& at, std::string_view any_of) {
  if (at >= text.size() || any_of.find(text[at]) == std::string_view::npos) return false;
  ++at;
  return true;
}

}  // namespace

std::optional<Microseconds> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  std::size_t at = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!digits(text, at, 4, y) || !literal(text, at, "-") || !digits(text, at, 2, mo) ||
      !literal(text, at, "-") || !digits(text, at, 2, d) || !literal(text, at, "Tt ") ||
      !digits(text, at, 2, h) || !literal(text, at, ":") || !digits(text, at, 2, mi) ||
      !literal(text, at, ":") || !digits(text, at, 2, s)) {
    return std::nullopt;
  }
  std::int64_t nanos = 0;
  if (literal(text, at, ".")) {
    int count = 0;
    for (; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++count) {
      if (count < 9) nanos = nanos * 10 + (text[at] - '0');
    }
    if (count == 0 || count > 9) return std::nullopt;
    for (int i = count; i < 9; ++i) nanos *= 10;
  }
  seconds offset{0};
  if (!literal(text, at, "Zz")) {
    if (at >= text.size() || (text[at] != '+' && text[at] != '-')) return std::nullopt;
    const bool ahead = text[at++] == '+';
    int oh = 0, om = 0;
    if (!digits(text, at, 2, oh) || !literal(text, at, ":") || !digits(text, at, 2, om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = hours{oh} + minutes{om};
    if (!ahead) offset = -offset;
  }
  const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                            day{static_cast<unsigned>(d)}};
  if (at != text.size() || !date.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  // timestamptz keeps microseconds, rounding the rest as PostgreSQL does.
  const microseconds fraction{(nanos + 500) / 1000};
  return Microseconds{sys_days{date} + hours{h} + minutes{mi} + seconds{s} + fraction - offset};
}

std::string format_rfc3339(Microseconds time) {
  using namespace std::chrono;
  const auto day = floor<days>(time);
  const year_month_day date{day};
  const hh_mm_ss clock{time - day};
  const int y = int(date.year());
  if (y < 0 || y > 9999) {
    char text[40];
    std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", y,
                  unsigned(date.month()), unsigned(date.day()), int(clock.hours().count()),
                  int(clock.minutes().count()), int(clock.seconds().count()),
                  static_cast<long long>(clock.subseconds().count()));
    return text;
  }
  // Digit by digit, as this runs for every event a publisher, projector or rebuild hands on.
  std::string text = "0000-00-00T00:00:00.000000Z";
  const auto put = [&text](std::size_t end, long long value, int width) {
    for (int i = 1; i <= width; ++i, value /= 10) {
      text[end - static_cast<std::size_t>(i)] = static_cast<char>('0' + value % 10);
    }
  };
  put(4, y, 4);
  put(7, unsigned(date.month()), 2);
  put(10, unsigned(date.day()), 2);
  put(13, clock.hours().count(), 2);
  put(16, clock.minutes().count(), 2);
  put(19, clock.seconds().count(), 2);
  put(26, clock.subseconds().count(), 6);
  return text;
}

std::optional<std::string> utc_rfc3339(std::string_view text) {
  using namespace std::chrono;
  const auto time = parse_rfc3339(text);
  if (!time) return std::nullopt;
  static constexpr sys_days kFirstDay{year{1} / January / 1};
  static constexpr sys_days kAfterLastDay{year{10000} / January / 1};
  const Microseconds earliest{kFirstDay};
  const Microseconds latest = Microseconds{kAfterLastDay} - microseconds{1};
  return format_rfc3339(std::clamp(*time, earliest, latest));
}

}  // namespace order::commands
