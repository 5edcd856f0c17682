// Shard status from the subscriptions table, pg_locks and pg_stat_activity; reshard.
#include "adapters/pg/shard_admin.hpp"

#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>

#include "adapters/pg/subscription_store.hpp"

namespace order::pg {
namespace {

// The name of the connection holding an advisory lock (an instance's subscription store names
// its connection "order-service <instance>"), or nothing.
constexpr const char* kHolder = R"(
SELECT coalesce(a.application_name, '') FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
  AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))";

// The events of one shard after its checkpoint and up to `upper` (a condition on `e`), and the
// age of the oldest.
std::string shard_lag_sql(const std::string& upper) {
  return R"(
SELECT count(*), coalesce(extract(epoch FROM now() - min(e.recorded_at)), 0)::float8
FROM events e
WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
  AND ($3::int = 1 OR mod(e.stream_id, $3::int) = $4::int)
  AND )" +
         upper;
}

// Up to the readers' horizon: what a shard's leader would read next.
const std::string kShardLag = shard_lag_sql(std::string("e.transaction_id < ") + kAppendHorizon);

// Up to a position ($5, $6) that is below the horizon.
const std::string kShardLagUpTo =
    shard_lag_sql("(e.transaction_id, e.global_position) <= ($5::xid8, $6::bigint)");

struct Row {
  std::string name;
  CheckpointName parsed;
  projections::LogPosition position;
};

std::vector<Row> rows_of(pqxx::transaction_base& tx, const std::string& where,
                         const std::string& subscription, bool for_update) {
  std::vector<Row> out;
  const std::string sql = "SELECT name, transaction_id::text, global_position FROM subscriptions" +
                          where + " ORDER BY name" + (for_update ? " FOR UPDATE" : "");
  const auto result = subscription.empty() ? tx.exec(sql) : tx.exec_params(sql, subscription);
  for (const auto& row : result) {
    const auto name = row[0].as<std::string>();
    out.push_back({name,
                   parse_checkpoint_name(name),
                   {row[1].as<std::uint64_t>(), row[2].as<std::int64_t>()}});
  }
  return out;
}

std::string holder(pqxx::transaction_base& tx, const std::string& checkpoint) {
  const auto rows = tx.exec_params(kHolder, subscription_lock_key(checkpoint));
  if (rows.empty()) return "";
  std::string name = rows[0][0].as<std::string>();
  constexpr std::string_view kPrefix = "order-service ";
  if (name.starts_with(kPrefix)) name = name.substr(kPrefix.size());
  return name.empty() ? "(unnamed)" : name;
}

}  // namespace

CheckpointName parse_checkpoint_name(const std::string& name) {
  const auto hash = name.rfind('#');
  const auto slash = name.rfind('/');
  if (hash == std::string::npos || slash == std::string::npos || slash < hash) return {name, {}};
  try {
    std::size_t used = 0;
    const std::string index_text = name.substr(hash + 1, slash - hash - 1);
    const std::string count_text = name.substr(slash + 1);
    const int index = std::stoi(index_text, &used);
    if (used != index_text.size()) return {name, {}};
    const int count = std::stoi(count_text, &used);
    if (used != count_text.size() || count < 1 || index < 0 || index >= count) return {name, {}};
    return {name.substr(0, hash), {index, count}};
  } catch (const std::exception&) {
    return {name, {}};
  }
}

std::vector<ShardStatus> shard_status(const ConnectionOptions& database) {
  auto connection = connect(database);
  pqxx::read_transaction tx(*connection);
  std::vector<ShardStatus> out;
  for (const auto& row : rows_of(tx, "", "", false)) {
    ShardStatus status{row.parsed.subscription, row.parsed.shard, holder(tx, row.name),
                       row.position};
    const auto lag = tx.exec_params(kShardLag, std::to_string(row.position.transaction_id),
                                    row.position.global_position, row.parsed.shard.count,
                                    row.parsed.shard.index)[0];
    status.lag_events = lag[0].as<std::int64_t>();
    status.lag_seconds = lag[1].as<double>();
    out.push_back(std::move(status));
  }
  return out;
}

ReshardResult reshard(const ConnectionOptions& database, const std::string& subscription, int count,
                      std::chrono::seconds wait,
                      const std::function<void(const std::string&)>& waiting) {
  if (count < 1 || count > 64) throw std::invalid_argument("the shards must be from 1 to 64");
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const std::string where = std::string(" WHERE ") + kCheckpointsOf;
  auto connection = connect(database);
  for (;;) {
    std::string why;
    {
      pqxx::work tx(*connection);
      // The old layout's rows, locked: no leader moves them until this transaction ends.
      const auto old = rows_of(tx, where, subscription, true);
      if (old.empty()) {
        throw std::runtime_error("the subscription " + subscription +
                                 " has no checkpoint: it starts in any number of shards");
      }
      const int from = old.front().parsed.shard.count;
      for (const auto& row : old) {
        if (row.parsed.shard.count != from) {
          throw std::runtime_error("the checkpoints of " + subscription +
                                   " are of several layouts (" + old.front().name + ", " +
                                   row.name + "): remove the stray ones by hand");
        }
      }
      if (static_cast<int>(old.size()) != from) {
        why = std::to_string(old.size()) + " of the " + std::to_string(from) +
              " shards have a checkpoint; the others have not started yet";
      }
      // The one position of the new layout: the last event below the horizon, or the furthest
      // checkpoint if one is past it (a leader read with a later horizon). Every event at or
      // before it is visible now or never will be: a transaction that may still append either
      // took its id after that read or was in flight during it, and so held the horizon of the
      // read below its id.
      projections::LogPosition position;
      if (why.empty()) {
        const auto last =
            tx.exec(std::string("SELECT transaction_id::text, global_position "
                                "FROM events e WHERE e.transaction_id < ") +
                    kAppendHorizon + " ORDER BY transaction_id DESC, global_position DESC LIMIT 1");
        for (const auto& row : old) position = std::max(position, row.position);
        if (!last.empty()) {
          position = std::max(position, projections::LogPosition{last[0][0].as<std::uint64_t>(),
                                                                 last[0][1].as<std::int64_t>()});
        }
      }
      // Every old shard has handled all its events up to that position.
      for (const auto& row : old) {
        if (!why.empty()) break;
        const std::string leader = holder(tx, row.name);
        if (!leader.empty()) {
          why = "shard " + row.name + " is led by " + leader + ": stop every instance";
          break;
        }
        const auto lag = tx.exec_params(
            kShardLagUpTo, std::to_string(row.position.transaction_id),
            row.position.global_position, row.parsed.shard.count, row.parsed.shard.index,
            std::to_string(position.transaction_id), position.global_position)[0];
        if (const auto behind = lag[0].as<std::int64_t>(); behind > 0) {
          why = "shard " + row.name + " has " + std::to_string(behind) + " events to handle";
        }
      }
      if (why.empty()) {
        tx.exec_params(std::string("DELETE FROM subscriptions") + where, subscription);
        for (int index = 0; index < count; ++index) {
          tx.exec_params(
              "INSERT INTO subscriptions (name, transaction_id, global_position) "
              "VALUES ($1, $2::xid8, $3)",
              checkpoint_name(subscription, {index, count}),
              std::to_string(position.transaction_id), position.global_position);
        }
        tx.commit();
        return {from, count, position};
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("reshard of " + subscription + " gave up waiting (" + why +
                               "); nothing was changed");
    }
    if (waiting) waiting(why);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace order::pg
