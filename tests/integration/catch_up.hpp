// Runs a subscription step by step until its checkpoint has passed every event of the log.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "fresh_database.hpp"
#include "tools/subscriptions.hpp"

namespace order::testing {

// Events of the log that the checkpoint `checkpoint` has not passed.
inline std::int64_t unhandled(const FreshDatabase& db, const std::string& checkpoint) {
  return db.scalar<std::int64_t>(
      "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM subscriptions s WHERE "
      "s.name = '" +
      checkpoint +
      "' AND (e.transaction_id, e.global_position) <= (s.transaction_id, s.global_position))");
}

// An empty step is not the end of the log: the subscription may not lead yet (a predecessor's
// lock not yet freed), or the gap-safe reader waits while a transaction of the cluster older than
// the last events is still in flight (an autovacuum's ANALYZE, another test's database). So this
// steps until the checkpoint has passed every event, and fails after `timeout`.
inline void catch_up(runtime::RunningSubscription& subscription, const FreshDatabase& db,
                     const std::string& checkpoint,
                     std::chrono::seconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (subscription.step() > 0) continue;
    if (unhandled(db, checkpoint) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL(checkpoint << " did not catch up within " << timeout.count() << " s; "
                  << unhandled(db, checkpoint) << " events behind");
}

}  // namespace order::testing
