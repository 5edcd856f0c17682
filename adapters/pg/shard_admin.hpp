// What order-admin shows and changes of the subscriptions' shards: every shard's leader,
// checkpoint and lag (status), and a change of a subscription's number of shards (reshard).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"
#include "projections/subscription.hpp"

namespace order::pg {

// A checkpoint's name read back: "name" is shard 0 of 1, "name#index/count" one of several.
struct CheckpointName {
  std::string subscription;
  projections::Shard shard;
};
CheckpointName parse_checkpoint_name(const std::string& name);

struct ShardStatus {
  std::string subscription;
  projections::Shard shard;
  std::string leader;  // the instance holding its lock, "" when none
  projections::LogPosition checkpoint;
  std::int64_t lag_events = 0;  // events of its streams after its checkpoint
  double lag_seconds = 0;       // age of the oldest of them
};
// Every checkpoint of the subscriptions table, by subscription and shard.
std::vector<ShardStatus> shard_status(const ConnectionOptions& database);

struct ReshardResult {
  int from = 0;                       // shards before
  int to = 0;                         // shards after
  projections::LogPosition position;  // every new shard's checkpoint
};
// Waits up to `wait` until every shard of the subscription's present layout has handled every
// event below the log's horizon and no instance leads any of them; then, in one transaction,
// replaces their checkpoints with `count` checkpoints at that one position. `waiting` hears
// why it waits. Throws when the wait runs out (nothing written).
ReshardResult reshard(const ConnectionOptions& database, const std::string& subscription, int count,
                      std::chrono::seconds wait,
                      const std::function<void(const std::string&)>& waiting = {});

}  // namespace order::pg
