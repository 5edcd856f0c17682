// The catch-up reader's SQL: the xmin horizon, checkpoints, the advisory lock, LISTEN.
#include "adapters/pg/log_reader.hpp"

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
// of the log once the checkpoint passes it.
constexpr const char* kReadAfter = R"(
SELECT e.transaction_id::text AS transaction_id_text, e.global_position, e.stream_id,
       e.stream_version, e.event_id::text, e.event_type, e.schema_version,
       to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       e.data::text, coalesce(e.metadata->>'correlation_id', ''),
       coalesce(e.metadata->>'traceparent', ''), coalesce(e.metadata->>'tracestate', '')
FROM events e
WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
  AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY e.transaction_id, e.global_position
LIMIT $3)";

constexpr const char* kCheckpoint = R"(
INSERT INTO subscriptions (name) VALUES ($1) ON CONFLICT (name) DO NOTHING;
)";

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

// A stable 64-bit key for the subscriber's advisory lock.
long long lock_key(const std::string& subscriber) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : "order-subscriber:" + subscriber) hash = (hash ^ c) * 0x100000001b3ULL;
  return static_cast<long long>(hash >> 1);
}

}  // namespace

LogReader::LogReader(ConnectionOptions options, std::string subscriber)
    : options_(std::move(options)), subscriber_(std::move(subscriber)) {}

LogReader::~LogReader() = default;

pqxx::connection& LogReader::connection() {
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

void LogReader::reset() {
  listener_.reset();
  connection_.reset();
  leader_ = false;
}

std::vector<projections::LogEvent> LogReader::read_after(const projections::LogPosition& after,
                                                         int limit) {
  pqxx::nontransaction tx(connection());
  const pqxx::result rows = tx.exec_prepared("read_after", std::to_string(after.transaction_id),
                                             after.global_position, limit);
  std::vector<projections::LogEvent> events;
  events.reserve(rows.size());
  for (const auto& row : rows) {
    events.push_back({{row[0].as<std::uint64_t>(), row[1].as<std::int64_t>()},
                      row[2].as<domain::OrderId>(),
                      row[3].as<std::int64_t>(),
                      row[4].as<std::string>(),
                      row[5].as<std::string>(),
                      row[6].as<int>(),
                      row[7].as<std::string>(),
                      row[8].as<std::string>(),
                      row[9].as<std::string>(),
                      row[10].as<std::string>(),
                      row[11].as<std::string>()});
  }
  return events;
}

projections::LogPosition LogReader::checkpoint() {
  pqxx::work tx(connection());
  tx.exec_params(kCheckpoint, subscriber_);
  const auto row = tx.exec_params(
      "SELECT transaction_id::text, global_position FROM subscriptions WHERE name = $1",
      subscriber_)[0];
  tx.commit();
  return {row[0].as<std::uint64_t>(), row[1].as<std::int64_t>()};
}

bool LogReader::advance_checkpoint(const projections::LogPosition& from,
                                   const projections::LogPosition& to) {
  pqxx::work tx(connection());
  const auto result =
      tx.exec_prepared("advance", subscriber_, std::to_string(from.transaction_id),
                       from.global_position, std::to_string(to.transaction_id), to.global_position);
  tx.commit();
  return result.affected_rows() == 1;
}

void LogReader::rewind() {
  pqxx::work tx(connection());
  tx.exec_params(
      "INSERT INTO subscriptions (name) VALUES ($1) ON CONFLICT (name) DO UPDATE "
      "SET transaction_id = '0'::xid8, global_position = 0, updated_at = now()",
      subscriber_);
  tx.commit();
}

bool LogReader::try_lead() {
  pqxx::nontransaction tx(connection());
  leader_ = tx.exec_params("SELECT pg_try_advisory_lock($1)", lock_key(subscriber_))[0][0].as<bool>();
  return leader_;
}

void LogReader::wait_for_appends(std::chrono::milliseconds timeout) {
  pqxx::connection& c = connection();
  if (listener_->notified) {
    listener_->notified = false;
    return;
  }
  const auto seconds = timeout.count() / 1000;
  const auto microseconds = (timeout.count() % 1000) * 1000;
  c.await_notification(seconds, microseconds);
  listener_->notified = false;
}

SubscriberLag LogReader::lag(const projections::LogPosition& after) {
  pqxx::nontransaction tx(connection());
  const auto row =
      tx.exec_prepared("lag", std::to_string(after.transaction_id), after.global_position)[0];
  return {std::max<std::int64_t>(0, row[0].as<std::int64_t>()), row[1].as<double>()};
}

SubscriberLag lag_of(pqxx::transaction_base& tx, const std::string& subscriber) {
  const auto rows = tx.exec_params(
      "SELECT transaction_id::text, global_position FROM subscriptions WHERE name = $1", subscriber);
  const std::string xid = rows.empty() ? "0" : rows[0][0].as<std::string>();
  const std::int64_t position = rows.empty() ? 0 : rows[0][1].as<std::int64_t>();
  const auto row = tx.exec_params(kLag, xid, position)[0];
  return {std::max<std::int64_t>(0, row[0].as<std::int64_t>()), row[1].as<double>()};
}

}  // namespace order::pg
