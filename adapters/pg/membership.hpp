// The running instances of the service, as the subscription_members table says, and which
// subscription locks are held: what each instance needs to decide alone which shards it leads
// (projections/shard_assignment.hpp). One connection, one thread beating every `beat` period.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"

namespace order::pg {

struct MembershipOptions {
  std::chrono::milliseconds beat{500};        // how often an instance says it is there
  std::chrono::milliseconds live_for{2'500};  // silent longer than this: gone
};

class Membership {
 public:
  Membership(ConnectionOptions database, std::string instance, MembershipOptions options = {});
  ~Membership();  // stops
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Beats once (so the first view already holds this instance), then on a thread of its own.
  void start();
  // Stops beating and deletes this instance's row, so the others take its shards at once.
  void stop();
  // One heartbeat: this instance's row, the live members, the held subscription locks.
  void beat();

  const std::string& instance() const { return instance_; }
  // The live members, sorted; this instance among them.
  std::vector<std::string> members() const;
  // Whether someone holds the advisory lock `key` (subscription_lock_key()), as of the last beat,
  // and how long ago that beat was.
  bool lock_held(long long key) const;
  std::chrono::steady_clock::time_point last_beat() const;

 private:
  void run();

  ConnectionOptions database_;
  std::string instance_;
  MembershipOptions options_;
  std::unique_ptr<pqxx::connection> connection_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::string> members_;
  std::set<long long> held_locks_;
  std::chrono::steady_clock::time_point last_beat_{};
  bool stopping_ = false;
  bool answered_ = true;  // the last heartbeat of the thread went through (its thread's own)
  std::thread thread_;
};

// A default instance id: host name, process id, and a random suffix.
std::string default_instance_id();

}  // namespace order::pg
