// A subscription's view of PostgreSQL, over one dedicated connection (libpqxx 6.4): the
// gap-safe read of the log, the checkpoint, leadership by advisory lock, and LISTEN for appends.
// The subscription engine (projections/subscription.hpp) drives it.
#pragma once

#include <chrono>
#include <memory>
#include <pqxx/result>
#include <pqxx/transaction_base>
#include <stdexcept>
#include <string>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"
#include "projections/subscription.hpp"

struct pg_conn;  // libpq's PGconn

namespace order {
class Histogram;  // adapters/metrics.hpp
}

namespace order::pg {

// The application_name of a read model's writing session (ReadModelSink). Readers of the log
// do not wait for its transactions, which append nothing: migration 009 refuses an append from a
// session so named.
extern const char* const kReadModelSession;

// The horizon of a gap-safe read, a scalar subquery: the oldest transaction of the statement's
// snapshot still in flight that may append events, or the snapshot's xmax when none is. Every
// event of a transaction below it that will ever be visible is visible now, so a reader that
// reads only below it, in (transaction id, global position) order, skips nothing (guarantee 3).
// pg_snapshot_xmin would be the same horizon, but for waiting on read models' sessions too.
extern const char* const kAppendHorizon;

// The select list of a log event (`events e`), in the order log_events_from() reads it.
extern const char* const kLogEventColumns;
std::vector<projections::LogEvent> log_events_from(const pqxx::result& rows);

// The name of a subscription's checkpoint row and leadership lock: its own name alone when it
// runs as one shard, "<name>#<index>/<count>" for one shard of several.
std::string checkpoint_name(const std::string& subscription, const projections::Shard& shard);

// How far the subscription `subscription` is behind the log, read in `tx` (a reader's own
// snapshot): over all its shards, the events after its least advanced checkpoint and the age of
// the oldest event any shard has not handled.
projections::SubscriptionLag lag_of(pqxx::transaction_base& tx, const std::string& subscription);

// The advisory lock key of a checkpoint (a checkpoint_name()).
long long subscription_lock_key(const std::string& checkpoint);

// Statistics on events' mod(stream_id, count), so that the planner knows that 1 event in `count`
// belongs to a shard and each shard's read walks the log's index (see read_after): created and
// analysed once per layout, nothing for one shard. No cost to appends, unlike an index.
void ensure_shard_statistics(pqxx::connection& connection, int count);

// The checkpoint rows of the subscription named by $1, of any layout: a WHERE condition on
// `subscriptions`.
extern const char* const kCheckpointsOf;

// Every event a subscription's shards have handled, by their checkpoints: a condition on the
// columns of `events` (stream_id, transaction_id, global_position); "false" without checkpoints.
std::string handled_condition(pqxx::transaction_base& tx, const std::string& subscription);

// Empty when the subscription's checkpoints are all of a layout in `count` shards (or it has
// none); otherwise what is wrong and what to do, for the log and /readyz.
std::string layout_conflict(pqxx::transaction_base& tx, const std::string& subscription, int count);

// Thrown by load() when the subscription's checkpoints are laid out in another number of shards:
// starting this shard from the log's start would handle everything again.
class LayoutMismatch : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Moves the checkpoint `name` from `from` to `to` inside `tx`, so a sink can commit it with its
// own writes; throws projections::CheckpointMoved if it was elsewhere.
void advance_checkpoint(pqxx::transaction_base& tx, const std::string& name,
                        const projections::LogPosition& from, const projections::LogPosition& to);

class SubscriptionStore final : public projections::LogSource,
                                public projections::CheckpointStore,
                                public projections::LeaderLock {
 public:
  // `instance`, when given, names the connection (application_name) so that order-admin status
  // can say which instance holds the shard's lock.
  SubscriptionStore(ConnectionOptions options, const std::string& subscription,
                    projections::Shard shard = {}, std::string instance = {});
  ~SubscriptionStore() override;

  const std::string& name() const { return name_; }

  // LogSource. Proof that read_after skips nothing: an event not yet visible belongs to a
  // transaction still in flight at the snapshot (or begun after it) that may append, whose id is
  // at least the horizon (kAppendHorizon), so it sorts after every event returned here; the next
  // read starts from the last event returned, which is below the horizon, and finds it once it
  // commits. The transactions the horizon passes over are read models' writes, which the
  // database keeps from appending.
  std::vector<projections::LogEvent> read_after(const projections::LogPosition& after,
                                                int limit) override;
  bool wait_for_appends(std::chrono::milliseconds timeout) override;
  projections::SubscriptionLag lag(const projections::LogPosition& after) override;
  bool connected() const override { return connection_ != nullptr; }

  // CheckpointStore: the log's start when the subscription has none yet; throws LayoutMismatch
  // when it has none for this shard but has some of another number of shards.
  projections::LogPosition load() override;
  bool advance(const projections::LogPosition& from, const projections::LogPosition& to) override;
  // Sets the checkpoint back to the log's start (for a subscription whose target starts empty).
  void rewind();
  // Observes each read_after's duration in `reads` from now on.
  void time_reads(Histogram& reads) { read_seconds_ = &reads; }

  // LeaderLock: a session advisory lock, lost with the connection.
  bool try_acquire() override;
  bool held() const override { return leader_; }
  void release() override;  // unlocks, then drops the connection and with it the LISTEN

 private:
  pqxx::connection& connection();
  // Runs `work`; a lost connection is dropped (with leadership) before the error goes on.
  template <class Work>
  auto guarded(Work&& work) -> decltype(work());

  ConnectionOptions options_;
  std::string subscription_;
  std::string name_;
  projections::Shard shard_;
  std::string instance_;
  std::unique_ptr<pqxx::connection> connection_;
  pg_conn* libpq_ = nullptr;           // connection_'s libpq handle, for reads in the binary format
  Histogram* read_seconds_ = nullptr;  // where read_after's durations go, if anywhere
  std::unique_ptr<class Listener> listener_;
  bool leader_ = false;
};

}  // namespace order::pg
