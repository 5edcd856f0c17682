// Appends share commits. One statement appends a whole batch in one transaction, each append
// with its own expected-version check and its own idempotency key, so a conflict or a taken key
// costs that append alone; GroupCommit feeds it the appends that arrive while the previous batch
// is committing, which is how many clients get one commit (and one fsync) between them.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

  // What append() answers or throws, handed over on the committer thread. Must not throw.
  using Done = std::function<void(commands::AppendResult, std::exception_ptr)>;
  // Makes a new stream's append once the committer has taken its id; nothing, when the caller's
  // decision refuses (then `done` gets an empty result).
  using MakeAppend = std::function<std::optional<EncodedAppend>(domain::OrderId)>;
  // A new stream's first append, without blocking: the committer takes its id from `ids` on its
  // own connection, calls `make` with it, appends the result with the next batch and calls
  // `done` with the outcome (or the error: the id or the commit failed), all on its thread.
  // `key` is the idempotency key `make` claims, "" for none.
  void create_then(OrderIdBlocks& ids, std::string key, MakeAppend make, Done done);

  struct Stats {
    std::uint64_t batches = 0;
    std::uint64_t appends = 0;
    std::uint64_t largest_batch = 0;
    std::uint64_t batches_retried_alone = 0;
    std::uint64_t queued = 0;  // appends waiting for the next batch now
  };
  Stats stats() const;

 private:
  // An append waiting for its batch. With `make`, a new stream's, made on the committer thread
  // once it has an id from `ids`; until then `append` holds only its key.
  struct Pending {
    EncodedAppend append;
    Done done;
    MakeAppend make;
    OrderIdBlocks* ids = nullptr;
  };

  void enqueue(std::shared_ptr<Pending> pending);
  void run();
  // Gives each new stream of `batch` its id and its append; drops those refused or failed (their
  // callers are answered) and returns the rest.
  std::vector<std::shared_ptr<Pending>> make_new_streams(
      std::vector<std::shared_ptr<Pending>> batch);
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
