// The shard assignment every instance computes on its own: each shard has exactly one owner,
// the shards are spread evenly, and every instance computes the same answer.
#include "projections/shard_assignment.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

namespace {

using order::projections::assigned_shards;
using order::projections::shard_owner;

// For each member, the (subscription, shard) pairs it leads.
std::map<std::string, std::vector<std::pair<int, int>>> deal(
    const std::vector<std::string>& members, int subscriptions, int shards) {
  std::map<std::string, std::vector<std::pair<int, int>>> out;
  for (const auto& self : members) {
    for (int s = 0; s < subscriptions; ++s) {
      for (int shard : assigned_shards(members, self, s, shards)) out[self].emplace_back(s, shard);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("three instances and six shards: each leads two shards of every subscription") {
  const std::vector<std::string> members{"b", "c", "a"};
  const auto dealt = deal(members, 3, 6);
  REQUIRE(dealt.size() == 3);
  std::map<std::pair<int, int>, int> owners;
  for (const auto& [member, units] : dealt) {
    CHECK(units.size() == 6);
    std::map<int, int> per_subscription;
    for (const auto& unit : units) {
      ++owners[unit];
      ++per_subscription[unit.first];
    }
    for (const auto& [subscription, count] : per_subscription) CHECK(count == 2);
  }
  CHECK(owners.size() == 18);  // every shard of every subscription has an owner…
  for (const auto& [unit, count] : owners) CHECK(count == 1);  // …and only one
}

TEST_CASE("one shard per subscription over three instances: one subscription each") {
  const auto dealt = deal({"x", "y", "z"}, 3, 1);
  REQUIRE(dealt.size() == 3);
  for (const auto& [member, units] : dealt) CHECK(units.size() == 1);
}

TEST_CASE("a lone instance leads every shard") {
  CHECK(assigned_shards({}, "only", 0, 4) == std::vector<int>{0, 1, 2, 3});
  CHECK(assigned_shards({"only"}, "only", 2, 1) == std::vector<int>{0});
}

TEST_CASE("four shards over three instances: nobody leads more than one extra") {
  const auto dealt = deal({"a", "b", "c"}, 3, 4);
  std::size_t total = 0;
  for (const auto& [member, units] : dealt) {
    CHECK(units.size() == 4);  // 12 shards in all, 4 each
    total += units.size();
  }
  CHECK(total == 12);
  for (int members = 1; members <= 7; ++members) {
    for (int shards = 1; shards <= 8; ++shards) {
      std::map<int, int> load;
      for (int s = 0; s < 3; ++s) {
        for (int k = 0; k < shards; ++k) ++load[shard_owner(members, s, k, shards)];
      }
      int least = 1 << 20, most = 0;
      for (int m = 0; m < members; ++m) {
        least = std::min(least, load[m]);
        most = std::max(most, load[m]);
      }
      CHECK(most - least <= 1);
    }
  }
}

TEST_CASE("an instance not yet seen among the members counts itself in") {
  // Before its first heartbeat is read back, a new instance already takes its place.
  CHECK(assigned_shards({"a", "b"}, "c", 0, 6) == assigned_shards({"a", "b", "c"}, "c", 0, 6));
  CHECK(assigned_shards({"a", "b", "b"}, "a", 0, 6) == std::vector<int>{0, 2, 4});
}
