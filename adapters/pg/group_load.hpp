// Loads share statements. One statement loads a whole batch of streams (load_batch), so the
// reads that arrive together cost the database one statement between them instead of one each:
// under 32 concurrent readers that is most of what a read of one order costs it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"
#include "commands/event_store.hpp"

namespace order::pg {

// Runs load_batch on its own connection and thread for every caller of load(). While one batch
// runs, the loads that arrive queue up and go together in the next; nothing waits for a timer.
// A load that finds nothing else loading skips the hand-off to the loader thread and runs on its
// caller's own connection (try_alone), so a lone reader waits no longer than without batching.
// Every batch starts after each of its loads was asked for, so a load still sees every append
// acknowledged before it was asked for: GET /orders/{id} stays strongly consistent.
class GroupLoad {
 public:
  explicit GroupLoad(ConnectionOptions options, std::size_t max_batch = 128);
  ~GroupLoad();
  GroupLoad(const GroupLoad&) = delete;
  GroupLoad& operator=(const GroupLoad&) = delete;

  // Blocks until the load's batch has run, then answers as PgEventStore::load does; throws
  // commands::StoreUnavailable when the database cannot be reached, and the driver's error when
  // the batch's statement fails otherwise.
  commands::LoadedStream load(LoadRequest request);
  // The same answer handed to `done`, on the loader thread once the load's batch has run (or
  // here at once, when the service is shutting down).
  void load_then(LoadRequest request, commands::EventStore::LoadDone done);

  // Held by a caller that loads on its own connection because nothing else was loading; while
  // it is held, the loads that arrive go to the loader thread. Empty when the caller must call
  // load() instead.
  class Alone {
   public:
    explicit Alone(GroupLoad* group = nullptr) : group_(group) {}
    Alone(Alone&& other) noexcept : group_(std::exchange(other.group_, nullptr)) {}
    Alone(const Alone&) = delete;
    Alone& operator=(const Alone&) = delete;
    Alone& operator=(Alone&&) = delete;
    ~Alone() {
      if (group_ != nullptr) group_->end_alone();
    }
    explicit operator bool() const { return group_ != nullptr; }

   private:
    GroupLoad* group_;
  };
  Alone try_alone();

  struct Stats {
    std::uint64_t batches = 0;
    std::uint64_t loads = 0;  // the loads the batches carried
    std::uint64_t largest_batch = 0;
    std::uint64_t alone = 0;  // the loads that ran on their caller's connection
  };
  Stats stats() const;

 private:
  struct Pending {
    LoadRequest request;
    commands::EventStore::LoadDone done;
  };

  void end_alone();
  void run();
  void run_batch(std::vector<Pending>& batch);

  ConnectionOptions options_;
  std::size_t max_batch_;
  std::unique_ptr<pqxx::connection> connection_;  // the loader thread's only
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<Pending> queue_;
  bool stopping_ = false;
  bool batch_running_ = false;
  int alone_ = 0;  // callers loading on their own connection now
  Stats stats_;
  std::thread loader_;
};

}  // namespace order::pg
