// Round-robin over the sorted live members.
#include "projections/shard_assignment.hpp"

#include <algorithm>

namespace order::projections {

int shard_owner(int members, int subscription, int shard, int shards) {
  if (members <= 0) return 0;
  return (subscription * shards + shard) % members;
}

std::vector<int> assigned_shards(std::vector<std::string> members, const std::string& self,
                                 int subscription, int shards) {
  members.push_back(self);
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  const auto position = std::find(members.begin(), members.end(), self) - members.begin();
  std::vector<int> mine;
  for (int shard = 0; shard < shards; ++shard) {
    if (shard_owner(static_cast<int>(members.size()), subscription, shard, shards) == position) {
      mine.push_back(shard);
    }
  }
  return mine;
}

}  // namespace order::projections
