// The catch-up subscription engine: the one mechanism behind every consumer of the log (the
// Kafka publisher, each read model). It leads, reads gap-safe batches after its checkpoint,
// hands them to a sink, advances the checkpoint, sleeps until the next append, and backs off
// after a failure. A sink only says what to do with a batch.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "projections/event_log.hpp"

namespace order::projections {

// Which part of the log a subscription handles: the streams with stream_id mod count = index.
// A stream never changes shard, so one order's events stay in order within one shard.
struct Shard {
  int index = 0;
  int count = 1;
  friend bool operator==(const Shard&, const Shard&) = default;
};

// How far a subscription is behind the log.
struct SubscriptionLag {
  std::int64_t events = 0;  // estimated from global positions
  double seconds = 0;       // age of its oldest unhandled event
};

// The events of the log, read gap-safe (guarantee 3 of DESIGN.md): only events of transactions
// older than every transaction still in flight, in (transaction id, global position) order, so
// an event that commits late is never skipped.
class LogSource {
 public:
  virtual ~LogSource() = default;
  // Up to `limit` events after `after`, of the subscription's shard.
  virtual std::vector<LogEvent> read_after(const LogPosition& after, int limit) = 0;
  // Blocks until an append is announced or `timeout` passes; true when one was announced.
  virtual bool wait_for_appends(std::chrono::milliseconds timeout) = 0;
  virtual SubscriptionLag lag(const LogPosition& after) = 0;
  // False when the source lost its connection to the database and has not opened another:
  // anything asked of it now would first wait for a new connection (long, when the database is
  // cut off from the network).
  virtual bool connected() const { return true; }
};

// Where a subscription remembers the last event it fully handled.
class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  virtual LogPosition load() = 0;
  // Moves the checkpoint from `from` to `to`; false, and nothing written, if it was not at
  // `from` (someone else moved it: this process is not the leader it thought it was).
  virtual bool advance(const LogPosition& from, const LogPosition& to) = 0;
};

// At most one process handles a subscription's shard at a time.
class LeaderLock {
 public:
  virtual ~LeaderLock() = default;
  virtual bool try_acquire() = 0;
  virtual bool held() const = 0;
  // Gives leadership up (and what it rests on, such as a connection); try_acquire() again later.
  virtual void release() = 0;
};

// Whether this process should lead a shard now: when it is assigned the shard, or when the shard
// has had no leader for a while. Asked before each attempt to lead and, while leading, before
// each step; a leader no longer wanted gives the shard back (finishes what is in flight,
// checkpoints it, releases the lock), so the next leader repeats nothing.
class LeadPolicy {
 public:
  virtual ~LeadPolicy() = default;
  virtual bool should_lead(bool leading) = 0;
};

// A run of events after a checkpoint.
struct Batch {
  LogPosition from;  // the checkpoint it starts after
  LogPosition to;    // its last event
  std::vector<LogEvent> events;
  // Its read found no more events after it (fewer than a full batch): the subscription has
  // caught up, and its events are the newest, whose readers wait on them.
  bool last = false;
};

// What a subscription does with the events.
class Sink {
 public:
  virtual ~Sink() = default;
  // Starts handling a batch. It may return before the batch is handled: the engine then reads
  // and starts the next one meanwhile, up to max_in_flight() batches.
  virtual void start(const Batch& batch) = 0;
  // Waits until the oldest started batch is handled; throws if it could not be.
  virtual void finish(const Batch& batch) = 0;
  // Drops every batch started and not finished (after a failure or a lost lead); they are
  // handled again from the checkpoint.
  virtual void abandon() = 0;
  // Called when the subscription starts leading, before its first batch: a sink may get ready
  // (connect) so that the first events do not wait for it. Must not throw; start() reports.
  virtual void lead() {}
  // From another thread, when the subscription is asked to stop: a finish() still waiting at
  // `by` gives up (throws), and what it waited for is handled again from the checkpoint by the
  // next leader. time_point::max() (at each start) takes it back. Must not throw.
  virtual void stop_by(std::chrono::steady_clock::time_point by) { (void)by; }
  // True when finish() moved the checkpoint itself, in one transaction with its writes (exactly
  // once in effect, guarantee 5); otherwise the engine advances it after finish() returns (at
  // least once, guarantee 4).
  virtual bool writes_checkpoint() const { return false; }
  virtual std::size_t max_in_flight() const { return 1; }
};

// Thrown by a sink that writes the checkpoint and found it moved under it.
class CheckpointMoved : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the engine reports; the adapters turn it into logs and metrics.
class SubscriptionObserver {
 public:
  virtual ~SubscriptionObserver() = default;
  virtual void leading(bool is_leader) = 0;
  virtual void handled(std::size_t events, const SubscriptionLag& lag) = 0;
  virtual void failed(const std::string& error) = 0;
};

// Which subscriptions have the CPU first when several have a backlog. The publisher comes first:
// other services wait on Kafka, while the read models only answer this service's own queries. A
// subscription that `comes_first` marks itself behind while, leading, it handles full batches
// with at least `backlog` events still after them; one that `comes_after` then handles one batch
// per `pace` instead of reading on, so it still moves, but leaves the CPUs (its own and the
// database's) to the first.
class Precedence {
 public:
  bool first_behind() const { return behind_.load(std::memory_order_relaxed) > 0; }

 private:
  friend class Subscription;
  std::atomic<int> behind_{0};  // subscriptions (or shards) that come first and are behind
};

struct SubscriptionOptions {
  int batch_size = 2000;
  std::chrono::milliseconds idle_wait{1'000};    // longest sleep without an announced append
  std::chrono::milliseconds lead_retry{1'000};   // how often a follower tries to lead
  std::chrono::milliseconds retry_backoff{200};  // first pause after a failure; doubles
  std::chrono::milliseconds max_backoff{10'000};
  Precedence* comes_first = nullptr;  // this subscription has precedence in it
  Precedence* comes_after = nullptr;  // this one gives way to the first of it
  std::int64_t backlog = 10'000;      // events after a batch that make a first one behind
  // One batch (2,000 events) per 2 s keeps a read model moving at 1,000 events/s while the
  // publisher drains a backlog. With one per 250 ms, the service's two read models slowed the
  // drain of 1,000,000 events by 1.15x on two cores, and caught up no sooner for it.
  std::chrono::milliseconds pace{2'000};
  // A subscription that has read to the end of the log reports no lag without asking the source
  // (a query as costly as the read itself when batches are small, under load); it asks at most
  // this often then, and after every batch while it is behind.
  std::chrono::milliseconds lag_interval{1'000};
  // Once it has read to the end of the log, a subscription waits this long before reading again,
  // so that appends gather into one batch: under a steady load, fewer and larger batches, each
  // with its fixed costs (a read, a transaction, a checkpoint) paid once. 0 reads at once, as the
  // publisher does (other services wait on it); a read model is eventually consistent anyway.
  std::chrono::milliseconds gather{0};
  // An append is announced when its transaction commits, but the gap-safe read shows it only once
  // every older transaction has ended too, and the end of one that appended nothing (a read
  // model's, a checkpoint's) is never announced. So after an announcement a subscription looks
  // again after recheck_first, then twice as long each time, up to recheck_limit, before it
  // waits for the next announcement (or idle_wait) alone.
  std::chrono::milliseconds recheck_first{2};
  std::chrono::milliseconds recheck_limit{100};
  // How long a stopping subscription waits for its batches in flight (Sink::stop_by): enough for
  // a broker that answers, and a stop that does not outlast an orchestrator's grace period when
  // it does not (Kafka down, or refusing the service's credentials).
  std::chrono::milliseconds stop_grace{2'000};
};

class Subscription {
 public:
  Subscription(SubscriptionOptions options, LogSource& source, CheckpointStore& checkpoints,
               LeaderLock& lock, Sink& sink, SubscriptionObserver& observer,
               LeadPolicy* policy = nullptr);
  ~Subscription();  // stops and joins
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  void start();
  // Stops after the batch in flight: it is finished and checkpointed if it can be within
  // stop_grace, otherwise abandoned and handled again by the next leader; the checkpoint stays
  // honest either way.
  void stop();
  // The first half of stop(), which returns at once: several subscriptions asked together share
  // one grace instead of taking theirs in turn.
  void request_stop();

  // One pass: lead if possible; read the batch after the checkpoint (or after the batches in
  // flight) and start it, up to the sink's max_in_flight(); finish the oldest and advance past
  // it. Returns the events handled and checkpointed; 0 when caught up or not leading. Throws on
  // a failure, after abandoning what was in flight and reporting it to the observer. start() runs
  // it in a loop on its own thread; tests call it directly.
  std::size_t step();

 private:
  void run();
  void abandon();
  bool ensure_leading();
  void set_behind(bool behind);
  bool giving_way() const;
  // Sleeps `duration`, or less once stopping or once `still` (when given) turns false.
  void pause(std::chrono::milliseconds duration, bool (Subscription::*still)() const = nullptr);
  // Finishes and checkpoints what is in flight if it can, abandons the rest, releases the lock.
  void give_back();
  // After a failure: the lag from the checkpoint, to the observer. While the sink keeps failing
  // (Kafka down, or refusing the service's credentials), /readyz and /metrics then show the
  // backlog growing instead of the lag after the last batch that went through.
  void report_lag_from_checkpoint() noexcept;

  SubscriptionOptions options_;
  LogSource& source_;
  CheckpointStore& checkpoints_;
  LeaderLock& lock_;
  Sink& sink_;
  SubscriptionObserver& observer_;
  LeadPolicy* policy_;
  std::deque<Batch> in_flight_;  // started, not finished; the first starts at the checkpoint
  std::chrono::steady_clock::time_point next_lead_attempt_{};
  bool behind_ = false;       // counted in options_.comes_first
  bool read_to_end_ = false;  // the last read returned less than a batch: nothing more was visible
  std::chrono::steady_clock::time_point last_lag_{};
  std::chrono::milliseconds recheck_{0};  // the next wait's timeout after an announcement; 0: none
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace order::projections
