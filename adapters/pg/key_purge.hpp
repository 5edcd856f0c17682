// Idempotency keys whose time is up are deleted in the background. A key is otherwise forgotten
// only when the same key comes again, and a client that sends a fresh key with every request
// (the usual way) never sends it again: without this the table grows by a row per such request,
// for as long as the service runs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <pqxx/connection>
#include <thread>

#include "adapters/pg/pg_event_store.hpp"

namespace order::pg {

// Deletes up to `limit` keys whose expires_at has passed, oldest first, skipping rows another
// transaction holds (another instance purging, a request claiming); answers how many it deleted.
std::int64_t purge_expired_keys(pqxx::connection& connection, int limit);

// Every `interval`, on a thread and connection of its own, purge_expired_keys in batches of
// `batch` until a batch comes back short. Every instance may run one: they skip each other's rows.
class KeyPurge {
 public:
  KeyPurge(ConnectionOptions options, std::chrono::milliseconds interval, int batch = 10'000);
  ~KeyPurge();  // stops, waiting at most for the batch in progress
  KeyPurge(const KeyPurge&) = delete;
  KeyPurge& operator=(const KeyPurge&) = delete;

 private:
  void run();

  ConnectionOptions options_;
  std::chrono::milliseconds interval_;
  int batch_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace order::pg
