// A subscription's SQL: the xmin horizon, the shard filter, checkpoints, the advisory lock, LISTEN.
#include "adapters/pg/subscription_store.hpp"

#include <pqxx/pqxx>

namespace order::pg {

// pqxx 6.4 delivers notifications to receivers registered on the connection.
class Listener final : public pqxx::notification_receiver {
 public:
  explicit Listener(pqxx::connection_base& connection)
      : pqxx::notification_receiver(connection, "events_appended") {}
  void operator()(const std::string&, int) override { notified = true; }
  bool notified = false;
};

namespace {

// The ORDER BY names the table's columns: a bare `transaction_id` would name the output column
// `transaction_id::text` and sort xids as text, putting 1000 before 999 and skipping a whole range
// of the log once the checkpoint passes it. The shard filter keeps each stream in one shard.
const std::string kReadAfter = std::string("SELECT ") + kLogEventColumns + R"(
FROM events e
WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
  AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND ($4::int = 1 OR mod(e.stream_id, $4::int) = $5::int)
ORDER BY e.transaction_id, e.global_position
LIMIT $3)";

constexpr const char* kEnsureCheckpoint =
    "INSERT INTO subscriptions (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";

constexpr const char* kLoadCheckpoint =
    "SELECT transaction_id::text, global_position FROM subscriptions WHERE name = $1";

constexpr const char* kAdvance = R"(
UPDATE subscriptions
SET transaction_id = $4::xid8, global_position = $5, updated_at = now()
WHERE name = $1 AND transaction_id = $2::xid8 AND global_position = $3)";

constexpr const char* kLag = R"(
SELECT (SELECT coalesce(max(global_position), 0) FROM events) - $2::bigint,
       coalesce(extract(epoch FROM now() - (
         SELECT e.recorded_at FROM events e
         WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
         ORDER BY e.transaction_id, e.global_position LIMIT 1)), 0)::float8)";

// A stable 64-bit key for the subscription's advisory lock.
long long lock_key(const std::string& name) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : "order-subscriber:" + name) hash = (hash ^ c) * 0x100000001b3ULL;
  return static_cast<long long>(hash >> 1);
}

projections::SubscriptionLag lag_row(const pqxx::row& row) {
  return {std::max<std::int64_t>(0, row[0].as<std::int64_t>()), row[1].as<double>()};
}

}  // namespace

const char* const kLogEventColumns = R"(
       e.transaction_id::text AS transaction_id_text, e.global_position, e.stream_id,
       e.stream_version, e.event_id::text, e.event_type, e.schema_version,
       to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       e.data::text, coalesce(e.metadata->>'correlation_id', ''),
       coalesce(e.metadata->>'traceparent', ''), coalesce(e.metadata->>'tracestate', ''))";

projections::LogEvent log_event_from(const pqxx::row& row) {
  return {{row[0].as<std::uint64_t>(), row[1].as<std::int64_t>()},
          row[2].as<domain::OrderId>(),
          row[3].as<std::int64_t>(),
          row[4].as<std::string>(),
          row[5].as<std::string>(),
          row[6].as<int>(),
          row[7].as<std::string>(),
          row[8].as<std::string>(),
          row[9].as<std::string>(),
          row[10].as<std::string>(),
          row[11].as<std::string>()};
}

std::string checkpoint_name(const std::string& subscription, const projections::Shard& shard) {
  if (shard.count <= 1) return subscription;
  return subscription + "#" + std::to_string(shard.index) + "/" + std::to_string(shard.count);
}

projections::SubscriptionLag lag_of(pqxx::transaction_base& tx, const std::string& name) {
  const auto rows = tx.exec_params(kLoadCheckpoint, name);
  const std::string xid = rows.empty() ? "0" : rows[0][0].as<std::string>();
  const std::int64_t position = rows.empty() ? 0 : rows[0][1].as<std::int64_t>();
  return lag_row(tx.exec_params(kLag, xid, position)[0]);
}

void advance_checkpoint(pqxx::transaction_base& tx, const std::string& name,
                        const projections::LogPosition& from, const projections::LogPosition& to) {
  const auto result =
      tx.exec_params(kAdvance, name, std::to_string(from.transaction_id), from.global_position,
                     std::to_string(to.transaction_id), to.global_position);
  if (result.affected_rows() != 1) {
    throw projections::CheckpointMoved("the checkpoint of " + name + " moved under us");
  }
}

SubscriptionStore::SubscriptionStore(ConnectionOptions options, const std::string& subscription,
                                     projections::Shard shard)
    : options_(std::move(options)), name_(checkpoint_name(subscription, shard)), shard_(shard) {}

SubscriptionStore::~SubscriptionStore() = default;

pqxx::connection& SubscriptionStore::connection() {
  if (!connection_) {
    connection_ = connect(options_);
    // A silent reconnect would drop the advisory lock and the LISTEN without a word: forbid it,
    // so a lost connection is an error we see, and leadership is taken again explicitly.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // deprecated in 6.4, not replaced
    connection_->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    connection_->prepare("read_after", kReadAfter);
    connection_->prepare("advance", kAdvance);
    connection_->prepare("lag", kLag);
    listener_ = std::make_unique<Listener>(*connection_);
    leader_ = false;
  }
  return *connection_;
}

template <class Work>
auto SubscriptionStore::guarded(Work&& work) -> decltype(work()) {
  try {
    return work();
  } catch (const pqxx::broken_connection&) {
    release();
    throw;
  }
}

void SubscriptionStore::release() {
  listener_.reset();
  connection_.reset();
  leader_ = false;
}

std::vector<projections::LogEvent> SubscriptionStore::read_after(
    const projections::LogPosition& after, int limit) {
  return guarded([&] {
    pqxx::nontransaction tx(connection());
    const pqxx::result rows =
        tx.exec_prepared("read_after", std::to_string(after.transaction_id), after.global_position,
                         limit, shard_.count, shard_.index);
    std::vector<projections::LogEvent> events;
    events.reserve(rows.size());
    for (const auto& row : rows) events.push_back(log_event_from(row));
    return events;
  });
}

projections::LogPosition SubscriptionStore::load() {
  return guarded([&] {
    pqxx::work tx(connection());
    tx.exec_params(kEnsureCheckpoint, name_);
    const auto row = tx.exec_params(kLoadCheckpoint, name_)[0];
    tx.commit();
    return projections::LogPosition{row[0].as<std::uint64_t>(), row[1].as<std::int64_t>()};
  });
}

bool SubscriptionStore::advance(const projections::LogPosition& from,
                                const projections::LogPosition& to) {
  return guarded([&] {
    pqxx::work tx(connection());
    const auto result = tx.exec_prepared("advance", name_, std::to_string(from.transaction_id),
                                         from.global_position, std::to_string(to.transaction_id),
                                         to.global_position);
    tx.commit();
    return result.affected_rows() == 1;
  });
}

void SubscriptionStore::rewind() {
  guarded([&] {
    pqxx::work tx(connection());
    tx.exec_params(
        "INSERT INTO subscriptions (name) VALUES ($1) ON CONFLICT (name) DO UPDATE "
        "SET transaction_id = '0'::xid8, global_position = 0, updated_at = now()",
        name_);
    tx.commit();
  });
}

bool SubscriptionStore::try_acquire() {
  return guarded([&] {
    pqxx::nontransaction tx(connection());
    leader_ = tx.exec_params("SELECT pg_try_advisory_lock($1)", lock_key(name_))[0][0].as<bool>();
    return leader_;
  });
}

void SubscriptionStore::wait_for_appends(std::chrono::milliseconds timeout) {
  guarded([&] {
    pqxx::connection& c = connection();
    if (listener_->notified) {
      listener_->notified = false;
      return;
    }
    const auto seconds = timeout.count() / 1000;
    const auto microseconds = (timeout.count() % 1000) * 1000;
    c.await_notification(seconds, microseconds);
    listener_->notified = false;
  });
}

projections::SubscriptionLag SubscriptionStore::lag(const projections::LogPosition& after) {
  return guarded([&] {
    pqxx::nontransaction tx(connection());
    return lag_row(
        tx.exec_prepared("lag", std::to_string(after.transaction_id), after.global_position)[0]);
  });
}

}  // namespace order::pg
