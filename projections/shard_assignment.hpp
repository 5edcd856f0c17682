// Which shards of which subscriptions an instance leads, decided by each instance alone from the
// same inputs (the live members, the subscriptions, the shard count), so that instances agree
// without a coordinator. Pure: no clock, no database.
#pragma once

#include <string>
#include <vector>

namespace order::projections {

// The member that should lead shard `shard` of subscription number `subscription` (of any number
// of subscriptions, each in `shards` shards), as an index into the sorted live members. The
// shards of all subscriptions are dealt round-robin, subscription after subscription, so each
// member leads about subscriptions × shards / members of them, and about shards / members of
// each subscription when members divide shards.
int shard_owner(int members, int subscription, int shard, int shards);

// The shards of subscription `subscription` that `self` should lead, ascending, given the live
// members (any order; duplicates ignored). `self` counts as live even when not in `members` yet
// (before its first heartbeat is seen).
std::vector<int> assigned_shards(std::vector<std::string> members, const std::string& self,
                                 int subscription, int shards);

}  // namespace order::projections
