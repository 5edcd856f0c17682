// Appends share commits. One statement appends a whole batch in one transaction, each append
// with its own expected-version check and its own idempotency key, so a conflict or a taken key
// costs that append alone; GroupCommit feeds it the appends that arrive while the previous batch
// is committing, which is how many clients get one commit (and one fsync) between them.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"
#include "commands/event_store.hpp"

namespace order::pg {

// Runs append_batch on its own connection and thread for every caller of append(). While one
// batch commits, the appends that arrive queue up and go together in the next; nothing waits for
// a timer. An append whose stream or key is already in the forming batch waits for the next one.
// When a batch fails as a whole (a key claimed meanwhile by another process, a deadlock, an
// append the database refuses), each of its appends is retried alone, so one bad append never
// fails the others.
class GroupCommit {
 public:
  explicit GroupCommit(ConnectionOptions options, std::size_t max_batch = 256);
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Blocks until the append's batch is committed, then answers as PgEventStore::append does;
  // throws commands::StoreUnavailable when the database cannot be reached or the commit's
  // outcome is unknown.
  commands::AppendResult append(EncodedAppend append);

  struct Stats {
    std::uint64_t batches = 0;
    std::uint64_t appends = 0;
    std::uint64_t largest_batch = 0;
    std::uint64_t batches_retried_alone = 0;
    std::uint64_t queued = 0;  // appends waiting for the next batch now
  };
  Stats stats() const;

 private:
  // Shared by the caller and the committer: the committer may still be returning from
  // set_value() when the caller wakes up and leaves.
  struct Pending {
    EncodedAppend append;
    std::promise<commands::AppendResult> result;
  };

  void run();
  std::vector<std::shared_ptr<Pending>> take_batch();
  void commit(const std::vector<std::shared_ptr<Pending>>& batch);
  pqxx::connection& connection();

  ConnectionOptions options_;
  std::size_t max_batch_;
  std::unique_ptr<pqxx::connection> connection_;  // the committer thread's only
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::shared_ptr<Pending>> queue_;
  bool stopping_ = false;
  Stats stats_;
  std::thread committer_;
};

}  // namespace order::pg
