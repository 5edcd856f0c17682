// The subscription engine on in-memory parts: when the checkpoint moves, what a failure costs,
// how far it reads ahead, and what a follower does.
#include "projections/subscription.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace order::projections;

// A log of `size` events, one transaction each; everything is visible (no transaction in flight).
class MemoryLog final : public LogSource, public CheckpointStore, public LeaderLock {
 public:
  explicit MemoryLog(int size) {
    for (int i = 1; i <= size; ++i) {
      LogEvent event;
      event.position = {static_cast<std::uint64_t>(100 + i), i};
      event.stream_id = i % 3 + 1;
      event.event_id = "e" + std::to_string(i);
      events.push_back(event);
    }
  }

  std::vector<LogEvent> read_after(const LogPosition& after, int limit) override {
    ++reads;
    std::vector<LogEvent> out;
    for (const auto& event : events) {
      if (event.position > after && static_cast<int>(out.size()) < limit) out.push_back(event);
    }
    return out;
  }
  // Announces the first `announcements` waits at once; sleeps out the others' timeouts (when
  // `sleeps`), recording each timeout.
  bool wait_for_appends(std::chrono::milliseconds timeout) override {
    waits.push_back(timeout);
    if (announcements > 0) {
      --announcements;
      return true;
    }
    if (sleeps) std::this_thread::sleep_for(timeout);
    return false;
  }
  bool connected() const override { return database_answers; }
  SubscriptionLag lag(const LogPosition& after) override {
    ++lag_queries;
    return {events.back().position.global_position - after.global_position, 0};
  }

  LogPosition load() override {
    ++loads;
    return checkpoint;
  }
  bool advance(const LogPosition& from, const LogPosition& to) override {
    if (checkpoint != from || moved_by_someone_else) return false;
    checkpoint = to;
    return true;
  }

  bool try_acquire() override { return leader = lock_free; }
  bool held() const override { return leader; }
  void release() override { leader = false; }

  std::vector<LogEvent> events;
  LogPosition checkpoint;
  bool lock_free = true;
  bool leader = false;
  bool moved_by_someone_else = false;
  std::atomic<int> reads{0};
  int lag_queries = 0;
  int loads = 0;
  bool database_answers = true;
  int announcements = 0;
  bool sleeps = false;
  std::vector<std::chrono::milliseconds> waits;  // read by the test once the engine stopped
};

// Records what it is asked to do; fails a finish() when told to.
class RecordingSink final : public Sink {
 public:
  explicit RecordingSink(std::size_t in_flight = 1) : in_flight_(in_flight) {}
  void start(const Batch& batch) override {
    for (const auto& e : batch.events) started.push_back(e.event_id);
    ++open;
  }
  void finish(const Batch& batch) override {
    if (fail_next_finish) {
      fail_next_finish = false;
      throw std::runtime_error("the target refused the batch");
    }
    for (const auto& e : batch.events) finished.push_back(e.event_id);
    --open;
  }
  void abandon() override {
    ++abandoned;
    open = 0;
  }
  void lead() override { ++leads; }
  std::size_t max_in_flight() const override { return in_flight_; }

  std::vector<std::string> started;
  std::vector<std::string> finished;
  int open = 0;
  int abandoned = 0;
  int leads = 0;
  bool fail_next_finish = false;

 private:
  std::size_t in_flight_;
};

class CountingObserver final : public SubscriptionObserver {
 public:
  void leading(bool is_leader) override { leader = is_leader; }
  void handled(std::size_t events, const SubscriptionLag& lag) override {
    total += events;
    last_lag = lag;
  }

  void failed(const std::string&) override { ++failures; }
  std::atomic<bool> leader{false};
  std::atomic<std::size_t> total{0};
  SubscriptionLag last_lag;
  int failures = 0;
};

struct Fixture {
  explicit Fixture(int log_size, std::size_t in_flight = 1,
                   SubscriptionOptions options = {.batch_size = 4})
      : log(log_size), sink(in_flight), engine(options, log, log, log, sink, observer) {}
  MemoryLog log;
  RecordingSink sink;
  CountingObserver observer;
  Subscription engine;
};

}  // namespace

TEST_CASE("a leader hands each batch to the sink and moves the checkpoint past it") {
  Fixture f(10);
  CHECK(f.engine.step() == 4);
  CHECK(f.log.checkpoint.global_position == 4);
  CHECK(f.engine.step() == 4);
  CHECK(f.engine.step() == 2);
  CHECK(f.engine.step() == 0);  // caught up
  CHECK(f.log.checkpoint.global_position == 10);
  CHECK(f.sink.finished.size() == 10);
  CHECK(f.observer.total == 10);
  CHECK(f.observer.leader);
}

TEST_CASE("a process that cannot lead reads nothing") {
  Fixture f(10);
  f.log.lock_free = false;
  CHECK(f.engine.step() == 0);
  CHECK(f.log.reads == 0);
  CHECK(f.sink.started.empty());
  CHECK(f.sink.leads == 0);  // a follower's sink does not get ready for batches
  CHECK_FALSE(f.observer.leader);
}

TEST_CASE("a sink gets ready once when its subscription starts leading, before the first batch") {
  Fixture f(10);
  CHECK(f.engine.step() == 4);
  CHECK(f.sink.leads == 1);
  CHECK(f.engine.step() == 4);
  CHECK(f.sink.leads == 1);  // still leading: not again
}

TEST_CASE("a batch the sink fails to handle leaves the checkpoint where it was") {
  Fixture f(10);
  CHECK(f.engine.step() == 4);
  f.sink.fail_next_finish = true;
  CHECK_THROWS_AS(f.engine.step(), std::runtime_error);
  CHECK(f.log.checkpoint.global_position == 4);
  CHECK(f.sink.abandoned >= 1);
  CHECK(f.observer.failures == 1);
  // The next step starts again from the checkpoint: the refused batch is handled again.
  CHECK(f.engine.step() == 4);
  CHECK(f.log.checkpoint.global_position == 8);
  CHECK(f.sink.finished ==
        std::vector<std::string>{"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"});
}

TEST_CASE("a sink that pipelines gets the next batch before the first is finished") {
  Fixture f(10, 2);
  CHECK(f.engine.step() == 4);
  // Two batches were started; only the first is checkpointed.
  CHECK(f.sink.started.size() == 8);
  CHECK(f.log.checkpoint.global_position == 4);
  CHECK(f.sink.open == 1);
  CHECK(f.engine.step() == 4);  // finishes the second, starts the third
  CHECK(f.engine.step() == 2);
  CHECK(f.engine.step() == 0);
  CHECK(f.log.checkpoint.global_position == 10);
  CHECK(f.sink.started.size() == 10);  // nothing started twice without a failure
}

TEST_CASE("a failure with two batches in flight repeats at most those two") {
  Fixture f(20, 2);
  CHECK(f.engine.step() == 4);
  f.sink.fail_next_finish = true;
  CHECK_THROWS(f.engine.step());
  CHECK(f.log.checkpoint.global_position == 4);
  while (f.engine.step() > 0) {
  }
  CHECK(f.log.checkpoint.global_position == 20);
  const auto repeated = f.sink.started.size() - 20;
  CHECK(repeated <= 8);  // two batches of four
}

TEST_CASE("a leader whose checkpoint moved under it gives up the lead and resumes from there") {
  Fixture f(10);
  CHECK(f.engine.step() == 4);
  f.log.moved_by_someone_else = true;
  CHECK_THROWS_AS(f.engine.step(), CheckpointMoved);
  CHECK_FALSE(f.log.leader);
  CHECK_FALSE(f.observer.leader);
  // Someone (a rebuild) set the checkpoint to 8: the next leader goes on from there at once.
  f.log.moved_by_someone_else = false;
  f.log.checkpoint = f.log.events[7].position;
  CHECK(f.engine.step() == 2);
  CHECK(f.log.checkpoint.global_position == 10);
}

TEST_CASE("after a failure the lag is counted from the checkpoint, not from the last batch") {
  Fixture f(10, 1, {.batch_size = 20});
  CHECK(f.engine.step() == 10);
  CHECK(f.observer.last_lag.events == 0);
  // Appends the sink cannot take (Kafka refusing): the lag reported grows with them.
  for (int i = 11; i <= 16; ++i) {
    LogEvent event;
    event.position = {static_cast<std::uint64_t>(100 + i), i};
    event.event_id = "e" + std::to_string(i);
    f.log.events.push_back(event);
  }
  f.sink.fail_next_finish = true;
  CHECK_THROWS_AS(f.engine.step(), std::runtime_error);
  CHECK(f.observer.failures == 1);
  CHECK(f.observer.last_lag.events == 6);
  CHECK(f.observer.total == 10);
}

TEST_CASE("after the source lost the database, the lag is not asked for until it answers") {
  Fixture f(10, 1, {.batch_size = 20});
  CHECK(f.engine.step() == 10);
  f.log.database_answers = false;
  f.sink.fail_next_finish = true;
  f.log.events.push_back({});
  f.log.events.back().position = {111, 11};
  const int lag_queries = f.log.lag_queries;
  const int loads = f.log.loads;
  CHECK_THROWS_AS(f.engine.step(), std::runtime_error);
  CHECK(f.observer.failures == 1);
  CHECK(f.log.lag_queries == lag_queries);  // nothing asked: it would wait for a connection
  CHECK(f.log.loads == loads + 1);          // only the step's own read of the checkpoint
}

TEST_CASE("the lag after a batch is what the source says") {
  Fixture f(10);
  f.engine.step();
  CHECK(f.observer.last_lag.events == 6);
}

TEST_CASE("a subscription that read to the end of the log does not ask for its lag each batch") {
  Fixture f(10, 1, {.batch_size = 4, .lag_interval = std::chrono::hours(1)});
  CHECK(f.engine.step() == 4);
  CHECK(f.engine.step() == 4);
  CHECK(f.log.lag_queries == 2);  // behind: asked after every batch
  CHECK(f.observer.last_lag.events == 2);
  CHECK(f.engine.step() == 2);  // the end of the log: caught up, as of that read
  CHECK(f.log.lag_queries == 2);
  CHECK(f.observer.last_lag.events == 0);

  Fixture every(10, 1, {.batch_size = 4, .lag_interval = std::chrono::milliseconds(0)});
  while (every.engine.step() > 0) {
  }
  CHECK(every.log.lag_queries == 3);  // the interval passed: asked even at the end
}

namespace {

// A target that never acknowledges (Kafka down): finish() waits until told to give up, or 30 s.
class SilentSink final : public Sink {
 public:
  void start(const Batch&) override {}
  void finish(const Batch&) override {
    std::unique_lock lock(mutex);
    waiting = true;
    changed.notify_all();
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < std::min(limit, give_up)) {
      changed.wait_until(lock, std::min(limit, give_up));
    }
    throw std::runtime_error("not acknowledged");
  }
  void abandon() override {}
  void stop_by(std::chrono::steady_clock::time_point by) override {
    std::lock_guard lock(mutex);
    give_up = by;
    changed.notify_all();
  }

  std::mutex mutex;
  std::condition_variable changed;
  bool waiting = false;
  std::chrono::steady_clock::time_point give_up = std::chrono::steady_clock::time_point::max();
};

}  // namespace

// A running subscription whose sink never acknowledges, waiting on its first batch.
struct Unanswered {
  explicit Unanswered(std::chrono::milliseconds stop_grace)
      : engine({.batch_size = 4, .stop_grace = stop_grace}, log, log, log, sink, observer) {
    engine.start();
    std::unique_lock lock(sink.mutex);
    REQUIRE(sink.changed.wait_for(lock, std::chrono::seconds(10), [&] { return sink.waiting; }));
  }
  MemoryLog log{10};
  SilentSink sink;
  CountingObserver observer;
  Subscription engine;
};

TEST_CASE("a stop waits for an unanswered batch only its grace, and leaves it to the next") {
  Unanswered u(std::chrono::milliseconds(300));
  const auto asked = std::chrono::steady_clock::now();
  u.engine.stop();
  const auto took = std::chrono::steady_clock::now() - asked;
  CHECK(took >= std::chrono::milliseconds(250));  // the batch had its grace
  CHECK(took < std::chrono::seconds(5));          // and no more: not the 30 s of its own wait
  CHECK(u.log.checkpoint.global_position == 0);   // handled again by the next leader
  CHECK_FALSE(u.log.leader);
}

TEST_CASE("a batch that fails because of the stop asks the database nothing more") {
  // With the database cut off, each question waits for a connection in vain: the stop must not.
  Unanswered u(std::chrono::milliseconds(100));
  const int loads = u.log.loads;
  const int lag_queries = u.log.lag_queries;
  u.engine.stop();
  CHECK(u.observer.failures >= 1);  // the batch failed, and said so
  CHECK(u.log.loads == loads);
  CHECK(u.log.lag_queries == lag_queries);
}

TEST_CASE("a running subscription drains the log and stops with its checkpoint honest") {
  Fixture f(50, 2);
  f.engine.start();
  for (int i = 0; i < 400 && f.observer.total < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  f.engine.stop();
  CHECK(f.log.checkpoint.global_position == 50);
  CHECK(f.sink.finished.size() == 50);
  CHECK_FALSE(f.log.leader);  // stop() gives the lead up
}

TEST_CASE("a subscription that gathers reads again only after its gather, once at the end") {
  Fixture f(10, 1, {.batch_size = 4, .gather = std::chrono::seconds(30)});
  f.engine.start();
  // Behind, it reads on without pausing: 4, 4, then 2 at the end of the log.
  for (int i = 0; i < 200 && f.observer.total < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(f.observer.total == 10);
  const int reads = f.log.reads;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(f.log.reads == reads);  // this log never blocks in wait_for_appends: only the gather waits
  const auto asked = std::chrono::steady_clock::now();
  f.engine.stop();
  CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(10));  // not waited out

  Fixture at_once(10, 1, {.batch_size = 4});
  at_once.engine.start();
  for (int i = 0; i < 200 && at_once.log.reads < reads + 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  at_once.engine.stop();
  CHECK(at_once.log.reads >= reads + 5);
}

TEST_CASE("after an announced append, a subscription looks again soon, then less and less often") {
  // The announced transaction may have committed behind an older one still in flight, which the
  // gap-safe read waits for and whose end nobody announces.
  using std::chrono::milliseconds;
  Fixture f(0, 1, {.batch_size = 4, .idle_wait = milliseconds(50)});
  f.log.sleeps = true;
  f.log.announcements = 1;
  f.engine.start();
  std::this_thread::sleep_for(milliseconds(400));
  f.engine.stop();
  const std::vector<milliseconds> expected = {milliseconds(50), milliseconds(2),  milliseconds(4),
                                              milliseconds(8),  milliseconds(16), milliseconds(32),
                                              milliseconds(64), milliseconds(50)};
  REQUIRE(f.log.waits.size() >= expected.size());
  CHECK(std::vector<milliseconds>(
            f.log.waits.begin(),
            f.log.waits.begin() + static_cast<std::ptrdiff_t>(expected.size())) == expected);
}

TEST_CASE("a first subscription with a backlog holds the others back, and only then") {
  Precedence precedence;
  const SubscriptionOptions first{.batch_size = 4, .comes_first = &precedence, .backlog = 10};
  SUBCASE("until it has caught up") {
    Fixture f(30, 1, first);
    CHECK(f.engine.step() == 4);
    CHECK(precedence.first_behind());  // 26 events after its batch
    while (f.observer.last_lag.events >= 10) {
      CHECK(precedence.first_behind());
      REQUIRE(f.engine.step() > 0);
    }
    CHECK_FALSE(precedence.first_behind());  // fewer than `backlog` left
  }
  SUBCASE("not while it fails") {
    Fixture f(30, 1, first);
    f.engine.step();
    REQUIRE(precedence.first_behind());
    f.sink.fail_next_finish = true;
    CHECK_THROWS(f.engine.step());
    CHECK_FALSE(precedence.first_behind());
  }
  SUBCASE("not once it has lost the lead") {
    Fixture f(30, 1, first);
    f.engine.step();
    REQUIRE(precedence.first_behind());
    f.log.leader = false;
    f.log.lock_free = false;
    CHECK(f.engine.step() == 0);
    CHECK_FALSE(precedence.first_behind());
  }
  SUBCASE("not once it is gone") {
    {
      Fixture f(30, 1, first);
      f.engine.step();
      REQUIRE(precedence.first_behind());
    }
    CHECK_FALSE(precedence.first_behind());
  }
}

TEST_CASE("a subscription that gives way handles one batch per pace while the first is behind") {
  Precedence precedence;
  Fixture first(100, 1, {.batch_size = 4, .comes_first = &precedence, .backlog = 10});
  first.engine.step();
  REQUIRE(precedence.first_behind());

  Fixture after(40, 1,
                {.batch_size = 4, .comes_after = &precedence, .pace = std::chrono::seconds(10)});
  after.engine.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(after.observer.total == 4);  // one batch, then it waits for its pace

  while (first.engine.step() > 0) {
  }
  REQUIRE_FALSE(precedence.first_behind());
  // The first caught up: the other goes on at once, without waiting out its pace.
  for (int i = 0; i < 200 && after.observer.total < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(after.observer.total == 40);
  after.engine.stop();
}

namespace {

class SwitchPolicy final : public LeadPolicy {
 public:
  bool should_lead(bool) override { return wanted; }
  bool wanted = true;
};

}  // namespace

TEST_CASE("a leader no longer wanted gives the shard back with its batches checkpointed") {
  MemoryLog log(20);
  RecordingSink sink(2);
  CountingObserver observer;
  SwitchPolicy policy;
  Subscription engine({.batch_size = 4, .lead_retry = std::chrono::milliseconds(0)}, log, log, log,
                      sink, observer, &policy);
  CHECK(engine.step() == 4);
  CHECK(sink.open == 1);  // the second batch is in flight
  policy.wanted = false;
  CHECK(engine.step() == 0);
  // The batch in flight was finished and checkpointed before the lock went: nothing repeats.
  CHECK(log.checkpoint.global_position == 8);
  CHECK_FALSE(log.leader);
  CHECK_FALSE(observer.leader);
  CHECK(engine.step() == 0);  // not wanted: does not even try to lead
  CHECK(log.reads == 2);
  policy.wanted = true;
  while (engine.step() > 0) {
  }
  CHECK(log.checkpoint.global_position == 20);
  CHECK(sink.started.size() == 20);  // nothing handled twice
}
