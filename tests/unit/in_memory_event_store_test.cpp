// The event store's contract, on its in-memory reference implementation: the same answers the
// PostgreSQL store's integration tests ask of it (tests/integration/event_store_test.cpp).
#include "commands/in_memory_event_store.hpp"

#include <doctest/doctest.h>

#include <chrono>

#include "commands/rfc3339.hpp"
#include "decider_fixture.hpp"

using namespace order::testing;
using namespace order::commands;
using namespace std::chrono_literals;

namespace {

std::chrono::system_clock::time_point at(int hour) {
  return std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + std::chrono::hours{hour};
}

std::vector<Event> events(std::initializer_list<Event> list) { return list; }

}  // namespace

TEST_CASE("a stream's versions are 1, 2, 3 with global positions across streams") {
  InMemoryEventStore store;
  const auto one = store.append(1, 0, events({placed()}), {});
  const auto other = store.append(2, 0, events({placed()}), {});
  const auto two = store.append(1, 1, events({paid(), shipped()}), {});
  REQUIRE(one.status.ok());
  REQUIRE(two.status.ok());
  CHECK(one.recorded.at(0).stream_version == 1);
  CHECK(two.recorded.at(0).stream_version == 2);
  CHECK(two.recorded.at(1).stream_version == 3);
  CHECK(other.recorded.at(0).global_position == 2);
  CHECK(two.recorded.at(1).global_position == 4);
  CHECK(one.recorded.at(0).event_id != two.recorded.at(0).event_id);
  CHECK(store.load(1).version() == 3);
}

TEST_CASE("a stale expected version is a conflict and writes nothing") {
  InMemoryEventStore store;
  REQUIRE(store.append(1, 0, events({placed()}), {}).status.ok());
  CHECK(store.append(1, 0, events({placed()}), {}).conflict());  // the stream exists
  CHECK(store.append(1, 2, events({paid()}), {}).conflict());    // ahead of the stream
  CHECK(store.append(9, 1, events({paid()}), {}).conflict());    // no such stream
  CHECK(store.load(1).version() == 1);
  CHECK(store.load(9).events.empty());
}

TEST_CASE("a recorded key refuses another append, even expired, until a lookup forgets it") {
  std::chrono::system_clock::time_point now = at(4);
  InMemoryEventStore store([&] { return now; });
  const IdempotencyClaim claim{"k-1", "fingerprint", "place", 60};
  REQUIRE(store.append(1, 0, events({placed()}), {}, &claim).status.ok());
  const auto record = store.find_idempotency_key("k-1");
  REQUIRE(record.has_value());
  CHECK(record->fingerprint == "fingerprint");
  CHECK(record->command == "place");
  CHECK(record->order_id == 1);
  CHECK(record->stream_version == 1);

  CHECK(store.append(2, 0, events({placed()}), {}, &claim).key_taken());
  now += 61s;
  CHECK(store.append(2, 0, events({placed()}), {}, &claim).key_taken());
  CHECK_FALSE(store.find_idempotency_key("k-1").has_value());
  CHECK(store.append(2, 0, events({placed()}), {}, &claim).status.ok());
  CHECK(store.find_idempotency_key("k-1")->order_id == 2);
}

TEST_CASE("a stream loads up to a version or as it was at a time") {
  std::chrono::system_clock::time_point now = at(4);
  InMemoryEventStore store([&] { return now; });
  REQUIRE(store.append(1, 0, events({placed()}), {}).status.ok());
  now = at(5);
  REQUIRE(store.append(1, 1, events({paid()}), {}).status.ok());

  CHECK(store.load(1, {.max_version = 1}).version() == 1);
  CHECK(store.load(1, {.as_of = "2026-11-25T04:30:00Z"}).version() == 1);
  CHECK(store.load(1, {.as_of = "2026-11-25T06:30:00+01:00"}).version() == 2);  // 05:30 UTC
  CHECK(store.load(1, {.as_of = "2026-11-25T03:59:59.999999Z"}).events.empty());
  CHECK(store.load(1).events.at(0).recorded_at == "2026-11-25T04:00:00.000000Z");
}

TEST_CASE("history gives each event with its metadata as JSON") {
  InMemoryEventStore store({},
                           [](const Event& e) { return "\"" + std::string(event_type(e)) + "\""; });
  REQUIRE(store.append(1, 0, events({placed(), paid()}), {.request_id = "r-1", .actor = "al\"ice"})
              .status.ok());
  const auto entries = store.history(1, 1, 10);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].stream_version == 2);
  CHECK(entries[0].type == "order.paid");
  CHECK(entries[0].data_json == "\"order.paid\"");
  CHECK(entries[0].metadata_json == R"({"request_id":"r-1","actor":"al\"ice"})");
}

TEST_CASE("an unavailable store throws StoreUnavailable on every call") {
  InMemoryEventStore store;
  store.set_unavailable(true);
  CHECK_THROWS_AS(store.load(1), StoreUnavailable);
  CHECK_THROWS_AS(store.append(1, 0, events({placed()}), {}), StoreUnavailable);
  CHECK_THROWS_AS(store.next_order_id(), StoreUnavailable);
  CHECK_THROWS_AS(store.find_idempotency_key("k"), StoreUnavailable);
  store.set_unavailable(false);
  CHECK(store.load(1).events.empty());
}

TEST_CASE("an RFC 3339 time is read with its offset and fraction, and anything else is refused") {
  CHECK(parse_rfc3339("2026-11-25T04:00:00Z") == at(4));
  CHECK(parse_rfc3339("2026-11-25t06:00:00+02:00") == at(4));
  CHECK(parse_rfc3339("2026-11-25 04:00:00.0000004Z") == at(4));
  CHECK(parse_rfc3339("2026-11-25T04:00:00.5Z") == at(4) + 500ms);
  CHECK_FALSE(parse_rfc3339("2026-11-25T04:00:00").has_value());
  CHECK_FALSE(parse_rfc3339("2026-02-30T04:00:00Z").has_value());
  CHECK_FALSE(parse_rfc3339("2026-11-25T04:00:00.Z").has_value());
  CHECK_FALSE(parse_rfc3339("2026-11-25T04:00:00Zjunk").has_value());
}

TEST_CASE("a time out of its fields' ranges is no RFC 3339 time") {
  for (const char* text :
       {"2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-11-00T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-25T24:00:00Z",
        "2026-11-25T23:60:00Z", "2026-11-25T23:59:61Z", "2026-11-25T00:00:00+24:00",
        "2026-11-25T00:00:00-00:60", "2026-11-25T00:00:00.1234567890Z", "2026-11-25T00:00:00+0200",
        "2026-11-25T00:00Z", "+2026-11-25T00:00:00Z"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_rfc3339(text).has_value());
    CHECK_FALSE(utc_rfc3339(text).has_value());
  }
  CHECK(parse_rfc3339("2024-02-29T00:00:00Z").has_value());
  CHECK(parse_rfc3339("2026-11-25T00:00:00-23:59").has_value());
}

TEST_CASE("a bound is printed again in UTC, the way the database reads it, and within its range") {
  CHECK(utc_rfc3339("2026-11-25t06:00:00+02:00") == "2026-11-25T04:00:00.000000Z");
  CHECK(utc_rfc3339("2026-11-25 04:00:00.1234565Z") == "2026-11-25T04:00:00.123457Z");
  CHECK(utc_rfc3339("2026-12-31T23:59:60Z") == "2027-01-01T00:00:00.000000Z");
  CHECK(utc_rfc3339("2026-11-25T00:30:00+01:00") == "2026-11-24T23:30:00.000000Z");
  CHECK(utc_rfc3339("0001-01-01T00:00:00+01:00") == "0001-01-01T00:00:00.000000Z");
  CHECK(utc_rfc3339("0000-01-01T00:00:00Z") == "0001-01-01T00:00:00.000000Z");
  CHECK(utc_rfc3339("9999-12-31T23:59:59.9999999Z") == "9999-12-31T23:59:59.999999Z");
  CHECK(utc_rfc3339("9999-12-31T23:59:59-01:00") == "9999-12-31T23:59:59.999999Z");
}

TEST_CASE("a time is printed with every field at its width, and reads back as itself") {
  using std::chrono::microseconds;
  CHECK(format_rfc3339(Microseconds{microseconds{0}}) == "1970-01-01T00:00:00.000000Z");
  CHECK(format_rfc3339(Microseconds{microseconds{-1}}) == "1969-12-31T23:59:59.999999Z");
  CHECK(format_rfc3339(*parse_rfc3339("0001-01-01T00:00:00Z")) == "0001-01-01T00:00:00.000000Z");
  CHECK(format_rfc3339(*parse_rfc3339("2024-02-29T09:05:07.000042Z")) ==
        "2024-02-29T09:05:07.000042Z");
  // Beyond four digits of year, as printf's %04d gives it.
  CHECK(format_rfc3339(*parse_rfc3339("9999-12-31T23:59:59.999999Z") + microseconds{1}) ==
        "10000-01-01T00:00:00.000000Z");
  // A spread of times over years 1 to 9999, each a few steps of a large odd stride apart.
  const auto first = parse_rfc3339("0001-01-01T00:00:00Z")->time_since_epoch().count();
  const auto last = parse_rfc3339("9999-12-31T23:59:59.999999Z")->time_since_epoch().count();
  int mismatches = 0;
  for (std::int64_t t = first; t <= last; t += 3'155'695'200'000'001 / 1000) {
    const Microseconds time{microseconds{t}};
    if (parse_rfc3339(format_rfc3339(time)) != time) ++mismatches;
  }
  CHECK(mismatches == 0);
}
