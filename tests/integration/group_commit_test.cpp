// Group commit against a real server: appends batched into one statement keep their own
// expected-version checks and keys (guarantee 1 per append, not per batch), and one append the
// database refuses never fails the others of its batch.
#include "adapters/pg/group_commit.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "adapters/pg/pg_event_store.hpp"
#include "fresh_database.hpp"
#include "sample_events.hpp"

namespace {

using namespace order;
using order::testing::FreshDatabase;
using order::testing::paid;
using order::testing::placed;

pg::EncodedAppend encoded(domain::OrderId id, std::int64_t expected, const domain::Event& event,
                          const commands::IdempotencyClaim* claim = nullptr,
                          commands::EventMetadata metadata = {}) {
  const std::vector<domain::Event> events{event};
  return pg::encode_append(id, expected, events, metadata, claim);
}

std::int64_t count(const FreshDatabase& db, const std::string& where) {
  return db.scalar<std::int64_t>("SELECT count(*) FROM events WHERE " + where);
}

template <class Predicate>
void wait_until(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(done());
}

}  // namespace

TEST_CASE("one batch statement: each append gets its own outcome and only the accepted write") {
  FreshDatabase db;
  auto connection = pg::connect({db.url()});
  pg::PgEventStore store({db.url()});
  const std::vector<domain::Event> created{placed(2)};
  REQUIRE_FALSE(store.append(2, 0, created, {}).conflict());
  const std::vector<domain::Event> created_3{placed(3)};
  REQUIRE_FALSE(store.append(3, 0, created_3, {}).conflict());
  const commands::IdempotencyClaim old_key{"key-old", "f", "pay", 3600};
  const std::vector<domain::Event> created_5{placed(5)};
  REQUIRE_FALSE(store.append(5, 0, created_5, {}, &old_key).conflict());
  const commands::IdempotencyClaim new_key{"key-new", "f", "pay", 3600};

  const auto fresh = encoded(1, 0, placed(1));              // a new stream
  const auto next = encoded(2, 1, paid(2));                 // at the expected version
  const auto stale = encoded(3, 7, paid(3));                // not: a conflict
  const auto taken = encoded(4, 0, placed(4), &old_key);    // its key is recorded: refused
  const auto claimed = encoded(6, 0, placed(6), &new_key);  // a new key: recorded with it
  const auto exists = encoded(5, 0, placed(5));             // stream 5 exists: a conflict
  const pg::EncodedAppend* batch[] = {&fresh, &next, &stale, &taken, &claimed, &exists};
  const auto results = pg::append_batch(*connection, batch);

  REQUIRE(results.size() == 6);
  CHECK_FALSE(results[0].conflict());
  REQUIRE(results[0].recorded.size() == 1);
  CHECK(results[0].recorded[0].stream_version == 1);
  CHECK(results[0].recorded[0].event == placed(1));
  CHECK_FALSE(results[1].conflict());
  REQUIRE(results[1].recorded.size() == 1);
  CHECK(results[1].recorded[0].stream_version == 2);
  CHECK(results[1].recorded[0].event == paid(2));
  CHECK(results[2].conflict());
  CHECK(results[2].recorded.empty());
  CHECK(results[3].key_taken());
  CHECK_FALSE(results[3].conflict());
  CHECK(results[3].recorded.empty());
  CHECK_FALSE(results[4].conflict());
  CHECK(results[4].recorded.size() == 1);
  CHECK(results[5].conflict());

  CHECK(count(db, "stream_id = 1") == 1);
  CHECK(count(db, "stream_id = 2") == 2);
  CHECK(count(db, "stream_id = 3") == 1);
  CHECK(count(db, "stream_id = 4") == 0);
  CHECK(count(db, "stream_id = 5") == 1);
  CHECK(db.scalar<std::int64_t>("SELECT version FROM streams WHERE stream_id = 3") == 1);
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM streams WHERE stream_id = 4") == 0);
  CHECK(db.scalar<std::int64_t>("SELECT order_id FROM idempotency_keys WHERE key = 'key-new'") ==
        6);
  // One statement, one transaction: every event of the batch has the same writer.
  CHECK(db.scalar<std::int64_t>(
            "SELECT count(DISTINCT transaction_id) FROM events "
            "WHERE stream_id IN (1, 6) OR (stream_id = 2 AND stream_version = 2)") == 1);
}

TEST_CASE("an append's answer is what the log holds, event by event, in version order") {
  FreshDatabase db;
  auto connection = pg::connect({db.url()});
  const std::vector<domain::Event> events{placed(9), paid(9)};
  const auto both = pg::encode_append(9, 0, events, {}, nullptr);
  const pg::EncodedAppend* batch[] = {&both};
  const auto results = pg::append_batch(*connection, batch);

  REQUIRE(results.size() == 1);
  const auto& recorded = results[0].recorded;
  REQUIRE(recorded.size() == 2);
  pg::PgEventStore store({db.url()});
  const auto loaded = store.load(9);
  REQUIRE(loaded.events.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(recorded[i].stream_version == static_cast<std::int64_t>(i) + 1);
    CHECK(recorded[i].event == events[i]);
    CHECK(recorded[i].event == loaded.events[i].event);
    CHECK(recorded[i].event_id == loaded.events[i].event_id);
    CHECK(recorded[i].global_position == loaded.events[i].global_position);
    CHECK(recorded[i].recorded_at == loaded.events[i].recorded_at);
  }
}

TEST_CASE("a batch the database refuses as a whole writes nothing at all") {
  FreshDatabase db;
  auto connection = pg::connect({db.url()});
  const auto good = encoded(1, 0, placed(1));
  // jsonb refuses the NUL character: the statement fails before it writes anything.
  const auto bad = encoded(2, 0, placed(2), nullptr, {.request_id = std::string("r\0x", 3)});
  const pg::EncodedAppend* batch[] = {&good, &bad};
  CHECK_THROWS_AS(pg::append_batch(*connection, batch), pqxx::sql_error);
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM events") == 0);
}

TEST_CASE("group commit: concurrent appends share commits and each gets its own outcome") {
  FreshDatabase db;
  pg::GroupCommit group({db.url()});
  constexpr int kThreads = 16;
  constexpr int kPerThread = 40;
  std::atomic<int> accepted{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      pg::PgEventStore store({db.url()}, {.commits = &group});
      for (int i = 0; i < kPerThread; ++i) {
        const domain::OrderId own = 1000 + t * kPerThread + i;
        const std::vector<domain::Event> create{placed(own)};
        if (!store.append(own, 0, create, {}).conflict()) ++accepted;
        // Every thread also races for stream 1: exactly one creation of it may win.
        const std::vector<domain::Event> contended{placed(1)};
        if (store.append(1, 0, contended, {}).conflict()) ++conflicts;
      }
    });
  }
  for (auto& thread : threads) thread.join();

  CHECK(accepted == kThreads * kPerThread);
  CHECK(conflicts == kThreads * kPerThread - 1);
  CHECK(count(db, "stream_id >= 1000") == kThreads * kPerThread);
  CHECK(count(db, "stream_id = 1") == 1);
  const auto stats = group.stats();
  CHECK(stats.appends == 2 * kThreads * kPerThread);
  CHECK(stats.batches < stats.appends);  // some appends shared a commit
  CHECK(stats.largest_batch > 1);
  // In the log: fewer writing transactions than events, as many as batches at most.
  const auto writers = db.scalar<std::int64_t>("SELECT count(DISTINCT transaction_id) FROM events");
  CHECK(writers < count(db, "true"));
  CHECK(writers <= static_cast<std::int64_t>(stats.batches));
}

TEST_CASE("group commit: an append the database refuses fails alone, its batch still lands") {
  FreshDatabase db;
  pg::GroupCommit group({db.url()});
  pg::PgEventStore store({db.url()});
  const std::vector<domain::Event> create{placed(1)};
  REQUIRE_FALSE(store.append(1, 0, create, {}).conflict());

  // Hold stream 1's row, so the committer's first batch (an append to stream 1) waits on it
  // while the next appends queue up behind it and form the second batch together.
  pqxx::connection holder(db.url());
  pqxx::work hold(holder);
  hold.exec("SELECT 1 FROM streams WHERE stream_id = 1 FOR UPDATE");
  std::vector<std::thread> threads;
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  auto submit = [&](domain::OrderId id, std::int64_t expected, domain::Event event,
                    commands::EventMetadata metadata) {
    threads.emplace_back([&, id, expected, event, metadata] {
      try {
        pg::PgEventStore own({db.url()}, {.commits = &group});
        const std::vector<domain::Event> events{event};
        if (!own.append(id, expected, events, metadata).conflict()) ++accepted;
      } catch (const pqxx::sql_error&) {
        ++refused;
      }
    });
  };
  submit(1, 1, paid(1), {});
  wait_until([&] { return group.stats().batches == 1; });  // the first batch is in flight
  for (domain::OrderId id = 10; id < 20; ++id) submit(id, 0, placed(id), {});
  submit(20, 0, placed(20), {.request_id = std::string("r\0x", 3)});
  wait_until([&] { return group.stats().queued == 11; });
  hold.commit();
  for (auto& thread : threads) thread.join();

  CHECK(accepted == 11);
  CHECK(refused == 1);
  CHECK(count(db, "stream_id BETWEEN 10 AND 19") == 10);
  CHECK(count(db, "stream_id = 20") == 0);
  CHECK(group.stats().batches_retried_alone == 1);
}

namespace {

// What a create_then's `done` was handed, and on which thread.
struct Created {
  commands::CreateOutcome outcome;
  std::exception_ptr error;
  std::thread::id thread;
};

// Collects the answers of create_then calls as they arrive from the committer.
class Answers {
 public:
  commands::EventStore::CreateDone done() {
    return [this](commands::CreateOutcome outcome, std::exception_ptr error) {
      std::lock_guard lock(mutex_);
      answers_.push_back({std::move(outcome), std::move(error), std::this_thread::get_id()});
      arrived_.notify_all();
    };
  }
  std::vector<Created> wait_for(std::size_t count) {
    std::unique_lock lock(mutex_);
    REQUIRE(arrived_.wait_for(lock, std::chrono::seconds(10),
                              [&] { return answers_.size() >= count; }));
    return answers_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<Created> answers_;
};

}  // namespace

TEST_CASE("group commit: a new order gets its id, its append and its answer from the committer") {
  FreshDatabase db;
  pg::GroupCommit group({db.url()});
  pg::OrderIdBlocks ids(8);
  pg::PgEventStore store({db.url()}, {.commits = &group, .ids = &ids});
  constexpr int kOrders = 50;
  Answers answers;
  for (int i = 0; i < kOrders; ++i) {
    // Every tenth decision refuses: nothing of it may reach the log.
    store.create_then(
        [refuse = i % 10 == 0](domain::OrderId id) -> domain::Decision {
          if (refuse) return domain::DomainError{domain::ErrorCode::validation_failed, "no", {}};
          return std::vector<domain::Event>{placed(id)};
        },
        {.request_id = "r" + std::to_string(i)}, std::nullopt, answers.done());
  }
  const auto created = answers.wait_for(kOrders);

  REQUIRE(created.size() == kOrders);
  std::set<domain::OrderId> distinct;
  int refused = 0;
  for (const auto& one : created) {
    REQUIRE_FALSE(one.error);
    CHECK(one.thread != std::this_thread::get_id());  // answered by the committer
    CHECK(one.outcome.id > 0);
    distinct.insert(one.outcome.id);
    if (!one.outcome.decision.ok()) {
      ++refused;
      CHECK(one.outcome.appended.recorded.empty());
      CHECK(count(db, "stream_id = " + std::to_string(one.outcome.id)) == 0);
      continue;
    }
    REQUIRE(one.outcome.appended.recorded.size() == 1);
    CHECK(one.outcome.appended.recorded[0].event == placed(one.outcome.id));
    CHECK(one.outcome.appended.recorded[0].stream_version == 1);
    CHECK(count(db, "stream_id = " + std::to_string(one.outcome.id)) == 1);
  }
  CHECK(distinct.size() == kOrders);
  CHECK(refused == kOrders / 10);
  CHECK(count(db, "true") == kOrders - refused);
  // The metadata went with each order's own events.
  CHECK(db.scalar<std::int64_t>("SELECT count(DISTINCT metadata->>'request_id') FROM events") ==
        kOrders - refused);
}

TEST_CASE("group commit: with the database unreachable, a new order's answer is StoreUnavailable") {
  pg::GroupCommit group({"postgresql://postgres@127.0.0.1:1/none"});
  pg::OrderIdBlocks ids;
  Answers answers;
  for (int i = 0; i < 3; ++i) {
    group.create_then(
        ids, "",
        [](domain::OrderId) -> std::optional<pg::EncodedAppend> {
          FAIL("no id can be had, so nothing is made");
          return std::nullopt;
        },
        [done = answers.done()](commands::AppendResult appended, std::exception_ptr error) {
          done({.id = 0, .decision = std::vector<domain::Event>{}, .appended = std::move(appended)},
               std::move(error));
        });
  }
  for (const auto& one : answers.wait_for(3)) {
    REQUIRE(one.error);
    CHECK_THROWS_AS(std::rethrow_exception(one.error), commands::StoreUnavailable);
  }
}
