// Group load against a real server: loads batched into one statement each get their own stream
// within their own bound, see every append acknowledged before they were asked for (guarantee:
// GET /orders/{id} is strongly consistent), and one stream that cannot be read fails no other.
#include "adapters/pg/group_load.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"
#include "fresh_database.hpp"
#include "sample_events.hpp"

namespace {

using namespace order;
using order::testing::FreshDatabase;
using order::testing::paid;
using order::testing::placed;

constexpr domain::OrderId kStreams = 40;  // streams 1..40 exist; 41..48 do not

// Stream s has one event when odd, two when even.
void write_streams(const FreshDatabase& db) {
  pg::PgEventStore store({db.url()});
  for (domain::OrderId s = 1; s <= kStreams; ++s) {
    const std::vector<domain::Event> events = s % 2 == 0
                                                  ? std::vector<domain::Event>{placed(s), paid(s)}
                                                  : std::vector<domain::Event>{placed(s)};
    REQUIRE_FALSE(store.append(s, 0, events, {}).conflict());
  }
}

}  // namespace

TEST_CASE("group load: concurrent loads share statements, each its own stream within its bound") {
  FreshDatabase db;
  write_streams(db);
  pg::GroupLoad group({db.url()});
  constexpr int kThreads = 16;
  constexpr int kPerThread = 60;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      pg::PgEventStore store({db.url()}, {.loads = &group});
      for (int i = 0; i < kPerThread; ++i) {
        const domain::OrderId s = (t * 7 + i) % (kStreams + 8) + 1;
        commands::StreamBound bound;
        if (i % 3 == 1) bound.max_version = 1;
        if (i % 3 == 2 && i % 2 == 0) bound.as_of = "2000-01-01T00:00:00.000000Z";
        const commands::LoadedStream loaded = store.load(s, bound);
        std::int64_t expected = s > kStreams ? 0 : (s % 2 == 0 ? 2 : 1);
        if (bound.max_version) expected = std::min<std::int64_t>(expected, 1);
        if (bound.as_of) expected = 0;
        bool right = loaded.version() == expected &&
                     static_cast<std::int64_t>(loaded.events.size()) == expected;
        for (std::size_t v = 0; right && v < loaded.events.size(); ++v) {
          right = loaded.events[v].stream_version == static_cast<std::int64_t>(v) + 1 &&
                  loaded.events[v].event == (v == 0 ? placed(s) : paid(s));
        }
        if (!right) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(wrong == 0);
  const auto stats = group.stats();
  CHECK(stats.loads + stats.alone == kThreads * kPerThread);
  CHECK(stats.batches < stats.loads);  // some loads shared a statement
  CHECK(stats.largest_batch > 1);
}

TEST_CASE("group load: a load sees every append acknowledged before it was asked for") {
  FreshDatabase db;
  pg::GroupLoad group({db.url()});
  std::atomic<bool> done{false};
  // Readers of other streams keep the loader busy, so the writer's loads join formed batches.
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      pg::PgEventStore store({db.url()}, {.loads = &group});
      while (!done) store.load(999);
    });
  }
  pg::PgEventStore writer({db.url()}, {.loads = &group});
  int stale = 0;
  for (domain::OrderId s = 1; s <= 100; ++s) {
    const std::vector<domain::Event> created{placed(s)};
    REQUIRE_FALSE(writer.append(s, 0, created, {}).conflict());
    if (writer.load(s).version() != 1) ++stale;
    const std::vector<domain::Event> payment{paid(s)};
    REQUIRE_FALSE(writer.append(s, 1, payment, {}).conflict());
    if (writer.load(s).version() != 2) ++stale;
  }
  done = true;
  for (auto& reader : readers) reader.join();
  CHECK(stale == 0);
  CHECK(group.stats().largest_batch > 1);
}

TEST_CASE("group load: a stream this build cannot decode fails its own load, not its batch's") {
  FreshDatabase db;
  write_streams(db);
  db.scalar<std::int64_t>(
      "INSERT INTO events (stream_id, stream_version, event_type, data) "
      "VALUES (77, 1, 'order.teleported', '{\"orderid\": 77}') RETURNING global_position");
  auto connection = pg::connect({db.url()});
  const pg::LoadRequest unreadable{77, {}};
  const pg::LoadRequest readable{2, {}};
  const pg::LoadRequest* batch[] = {&readable, &unreadable, &readable};
  const auto outcomes = pg::load_batch(*connection, batch);
  REQUIRE(outcomes.size() == 3);
  CHECK_FALSE(outcomes[0].error);
  CHECK(outcomes[0].stream.version() == 2);
  CHECK(outcomes[1].error);
  CHECK_FALSE(outcomes[2].error);
  CHECK(outcomes[2].stream.version() == 2);

  pg::GroupLoad group({db.url()});
  CHECK_THROWS_AS(group.load(unreadable), std::runtime_error);
  CHECK(group.load(readable).version() == 2);
}

TEST_CASE("group load: a database out of reach is StoreUnavailable, and the next load reconnects") {
  pg::GroupLoad group({"postgresql://postgres@127.0.0.1:1/none?connect_timeout=2"});
  CHECK_THROWS_AS(group.load({1, {}}), commands::StoreUnavailable);
  CHECK_THROWS_AS(group.load({1, {}}), commands::StoreUnavailable);
}

TEST_CASE("group load: a load that finds nothing else loading runs on its caller's connection") {
  FreshDatabase db;
  write_streams(db);
  pg::GroupLoad group({db.url()});
  pg::PgEventStore store({db.url()}, {.loads = &group});
  CHECK(store.load(2).version() == 2);
  CHECK(group.stats().alone == 1);
  CHECK(group.stats().batches == 0);
  {
    const auto held = group.try_alone();
    REQUIRE(held);
    CHECK_FALSE(group.try_alone());
    CHECK(store.load(3).version() == 1);  // while another loads alone, through the loader
    CHECK(group.stats().batches == 1);
    CHECK(group.stats().alone == 2);
  }
  // The loader marks its batch finished just after answering it: alone again soon after.
  bool alone_again = false;
  for (int i = 0; i < 400 && !alone_again; ++i) {
    alone_again = static_cast<bool>(group.try_alone());
    if (!alone_again) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(alone_again);
}
