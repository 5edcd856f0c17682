// A subscription's view of PostgreSQL, over one dedicated connection (libpqxx 6.4): the
// gap-safe read of the log, the checkpoint, leadership by advisory lock, and LISTEN for appends.
// The subscription engine (projections/subscription.hpp) drives it.
#pragma once

#include <chrono>
#include <memory>
#include <pqxx/row>
#include <pqxx/transaction_base>
#include <string>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"
#include "projections/subscription.hpp"

namespace order::pg {

// The select list of a log event (`events e`), in the order log_event_from() reads it.
extern const char* const kLogEventColumns;
projections::LogEvent log_event_from(const pqxx::row& row);

// The name of a subscription's checkpoint row and leadership lock: its own name alone when it
// runs as one shard, "<name>#<index>/<count>" for one shard of several.
std::string checkpoint_name(const std::string& subscription, const projections::Shard& shard);

// How far the checkpoint `name` is behind the log, read in `tx` (a reader's own snapshot).
projections::SubscriptionLag lag_of(pqxx::transaction_base& tx, const std::string& name);

// Moves the checkpoint `name` from `from` to `to` inside `tx`, so a sink can commit it with its
// own writes; throws projections::CheckpointMoved if it was elsewhere.
void advance_checkpoint(pqxx::transaction_base& tx, const std::string& name,
                        const projections::LogPosition& from, const projections::LogPosition& to);

class SubscriptionStore final : public projections::LogSource,
                                public projections::CheckpointStore,
                                public projections::LeaderLock {
 public:
  SubscriptionStore(ConnectionOptions options, const std::string& subscription,
                    projections::Shard shard = {});
  ~SubscriptionStore() override;

  const std::string& name() const { return name_; }

  // LogSource. Proof that read_after skips nothing: an event not yet visible belongs to a
  // transaction still in flight, whose id is at least the snapshot's xmin, so it sorts after
  // every event returned here; the next read starts from the last event returned, which is below
  // that xmin, and finds it once it commits.
  std::vector<projections::LogEvent> read_after(const projections::LogPosition& after,
                                                int limit) override;
  void wait_for_appends(std::chrono::milliseconds timeout) override;
  projections::SubscriptionLag lag(const projections::LogPosition& after) override;

  // CheckpointStore: the log's start when the subscription has none yet.
  projections::LogPosition load() override;
  bool advance(const projections::LogPosition& from, const projections::LogPosition& to) override;
  // Sets the checkpoint back to the log's start (for a subscription whose target starts empty).
  void rewind();

  // LeaderLock: a session advisory lock, lost with the connection.
  bool try_acquire() override;
  bool held() const override { return leader_; }
  void release() override;  // drops the connection, and with it the lock and the LISTEN

 private:
  pqxx::connection& connection();
  // Runs `work`; a lost connection is dropped (with leadership) before the error goes on.
  template <class Work>
  auto guarded(Work&& work) -> decltype(work());

  ConnectionOptions options_;
  std::string name_;
  projections::Shard shard_;
  std::unique_ptr<pqxx::connection> connection_;
  std::unique_ptr<class Listener> listener_;
  bool leader_ = false;
};

}  // namespace order::pg
