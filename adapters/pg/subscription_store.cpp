// A subscription's SQL: the xmin horizon, the shard filter, checkpoints, the advisory lock, LISTEN.
#include "adapters/pg/subscription_store.hpp"

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string_view>

#include "adapters/metrics.hpp"
#include "adapters/pg/copy_reader.hpp"
#include "adapters/pg/libpq_handle.hpp"
#include "adapters/pg/timestamps.hpp"

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

// A log event's columns as read_after() asks for them, in the binary format: numbers, the uuid
// and the time as the server stores them, which it sends without printing them and this side
// takes without parsing them (log_events_of reads them in this order). Text and jsonb cost the
// same either way. Server side, COPY of these columns from 1,000,000 events (in log order, to
// /dev/null) took 1.44-1.46 s in the binary format against 1.81-1.86 s as text, 1.11 s of it
// the data's text alone.
constexpr const char* kBinaryLogEventColumns = R"(
       e.transaction_id, e.global_position, e.stream_id, e.stream_version, e.event_id,
       e.event_type, e.schema_version, e.recorded_at, e.data,
       coalesce(e.metadata->>'correlation_id', ''), coalesce(e.metadata->>'traceparent', ''),
       coalesce(e.metadata->>'tracestate', ''))";

constexpr const char* kReadAfter = "order_read_after";

// A libpq result, freed however the scope is left.
using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

std::string_view value_of(const PGresult* rows, int row, int column) {
  return {PQgetvalue(rows, row, column), static_cast<std::size_t>(PQgetlength(rows, row, column))};
}

// The rows of read_after, in kBinaryLogEventColumns' order.
std::vector<projections::LogEvent> log_events_of(const PGresult* rows) {
  constexpr int kColumns = 12;
  if (PQnfields(rows) != kColumns) throw std::runtime_error("a log read of another shape");
  const int count = PQntuples(rows);
  std::vector<projections::LogEvent> events;
  events.reserve(static_cast<std::size_t>(count));
  for (int row = 0; row < count; ++row) {
    const auto field = [rows, row](int column) { return value_of(rows, row, column); };
    projections::LogEvent& event = events.emplace_back();
    event.position.transaction_id = static_cast<std::uint64_t>(BinaryRows::int64(field(0)));
    event.position.global_position = BinaryRows::int64(field(1));
    event.stream_id = BinaryRows::int64(field(2));
    event.stream_version = BinaryRows::int64(field(3));
    event.event_id = uuid_text(field(4));
    event.type = field(5);
    event.schema_version = BinaryRows::int32(field(6));
    event.recorded_at = rfc3339_of_timestamptz(BinaryRows::int64(field(7)));
    event.data_json = BinaryRows::jsonb_text(field(8));
    event.correlation_id = field(9);
    event.traceparent = field(10);
    event.tracestate = field(11);
  }
  return events;
}

// The ORDER BY names the table's columns: a bare `transaction_id` would name the output column
// `transaction_id::text` and sort xids as text, putting 1000 before 999 and skipping a whole range
// of the log once the checkpoint passes it. The shard filter keeps each stream in one shard. It
// spells the shard count as a literal, the expression of the layout's statistics
// (ensure_shard_statistics): without them PostgreSQL guesses that 1 row in 200 passes the filter,
// not 1 in N, and reads each batch by a scan of the whole log and a sort instead of walking the
// index in log order (165 ms instead of 35 ms a batch at 200,000 events, and growing).
std::string read_after_sql(const projections::Shard& shard) {
  const std::string filter =
      shard.count <= 1 ? std::string()
                       : "\n  AND mod(e.stream_id, " + std::to_string(shard.count) + ") = $4::int";
  return std::string("SELECT ") + kBinaryLogEventColumns + R"(
FROM events e
WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
  AND e.transaction_id < )" +
         kAppendHorizon + filter + R"(
ORDER BY e.transaction_id, e.global_position
LIMIT $3)";
}

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
           AND ($3::int = 1 OR mod(e.stream_id, $3::int) = $4::int)
         ORDER BY e.transaction_id, e.global_position LIMIT 1)), 0)::float8)";

// Every shard's checkpoint of a subscription ("name" alone, or "name#index/count"): the events
// after the least advanced shard that has any left, and the age of the oldest event a shard has
// not handled; 0 and 0 when every shard is caught up.
constexpr const char* kLagOfAllShards = R"(
WITH cp AS (
  SELECT transaction_id, global_position,
         CASE WHEN name = $1 THEN 0 ELSE split_part(split_part(name, '#', 2), '/', 1)::int END AS i,
         CASE WHEN name = $1 THEN 1 ELSE split_part(split_part(name, '#', 2), '/', 2)::int END AS n
  FROM subscriptions
  WHERE name = $1 OR (split_part(name, '#', 1) = $1 AND name ~ '#[0-9]+/[0-9]+$')),
behind AS (
  SELECT cp.global_position, (
    SELECT e.recorded_at FROM events e
    WHERE (e.transaction_id, e.global_position) > (cp.transaction_id, cp.global_position)
      AND (cp.n = 1 OR mod(e.stream_id, cp.n) = cp.i)
    ORDER BY e.transaction_id, e.global_position LIMIT 1) AS oldest
  FROM cp)
SELECT CASE WHEN EXISTS (SELECT 1 FROM cp)
         THEN coalesce((SELECT max(global_position) FROM events)
                       - (SELECT min(global_position) FROM behind WHERE oldest IS NOT NULL), 0)
         ELSE (SELECT coalesce(max(global_position), 0) FROM events) END,
       CASE WHEN EXISTS (SELECT 1 FROM cp)
         THEN coalesce((SELECT max(extract(epoch FROM now() - oldest)) FROM behind), 0)
         ELSE coalesce(extract(epoch FROM now() - (
           SELECT e.recorded_at FROM events e
           ORDER BY e.transaction_id, e.global_position LIMIT 1)), 0) END::float8)";

// The names of the subscription's checkpoints, of any layout.
constexpr const char* kLayout = R"(
SELECT name FROM subscriptions
WHERE name = $1 OR (split_part(name, '#', 1) = $1 AND name ~ '#[0-9]+/[0-9]+$'))";

projections::SubscriptionLag lag_row(const pqxx::row& row) {
  return {std::max<std::int64_t>(0, row[0].as<std::int64_t>()), row[1].as<double>()};
}

}  // namespace

const char* const kReadModelSession = "order-service read model";

// A transaction in flight has one id and one backend, and pg_stat_activity, read after the
// snapshot was taken, names the session that holds it (or no longer shows it, when it ended
// since: then it is waited for, needlessly but safely).
const char* const kAppendHorizon = R"((
    SELECT coalesce(
      (SELECT min(x) FROM pg_snapshot_xip(s) x
       WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                         WHERE a.backend_xid = xid(x)
                           AND a.application_name = 'order-service read model')),
      pg_snapshot_xmax(s))
    FROM pg_current_snapshot() s))";

const char* const kLogEventColumns = R"(
       e.transaction_id::text AS transaction_id_text, e.global_position, e.stream_id,
       e.stream_version, e.event_id::text, e.event_type, e.schema_version,
       e.recorded_at AT TIME ZONE 'UTC',
       e.data::text, coalesce(e.metadata->>'correlation_id', ''),
       coalesce(e.metadata->>'traceparent', ''), coalesce(e.metadata->>'tracestate', ''))";

std::vector<projections::LogEvent> log_events_from(const pqxx::result& rows) {
  std::vector<projections::LogEvent> events;
  events.reserve(rows.size());
  // One field walks each row. pqxx 6.4 copies the result's handle (two shared pointers) into
  // every row and field it hands out by value, as `for (row : rows)` and row[i] do: with twelve
  // fields a row, those copies and their release were 3.5% of all CPU samples in a drain of
  // 1,000,000 events (the service had 36%): more than any function of the service's own.
  for (auto row = rows.begin(); row != rows.end(); ++row) {
    auto field = row->begin();
    const auto text = [&field] {
      std::string value(field->c_str(), field->size());
      ++field;
      return value;
    };
    projections::LogEvent& event = events.emplace_back();
    event.position.transaction_id = field->as<std::uint64_t>();
    event.position.global_position = (++field)->as<std::int64_t>();
    event.stream_id = (++field)->as<domain::OrderId>();
    event.stream_version = (++field)->as<std::int64_t>();
    ++field;
    event.event_id = text();
    event.type = text();
    event.schema_version = field->as<int>();
    event.recorded_at = utc_rfc3339((++field)->c_str());
    ++field;
    event.data_json = text();
    event.correlation_id = text();
    event.traceparent = text();
    event.tracestate = text();
  }
  return events;
}

std::string checkpoint_name(const std::string& subscription, const projections::Shard& shard) {
  if (shard.count <= 1) return subscription;
  return subscription + "#" + std::to_string(shard.index) + "/" + std::to_string(shard.count);
}

projections::SubscriptionLag lag_of(pqxx::transaction_base& tx, const std::string& subscription) {
  return lag_row(tx.exec_params(kLagOfAllShards, subscription)[0]);
}

const char* const kCheckpointsOf =
    "(name = $1 OR (split_part(name, '#', 1) = $1 AND name ~ '#[0-9]+/[0-9]+$'))";

std::string handled_condition(pqxx::transaction_base& tx, const std::string& subscription) {
  std::string condition;
  const auto rows = tx.exec_params(
      std::string("SELECT name, transaction_id::text, global_position FROM subscriptions WHERE ") +
          kCheckpointsOf,
      subscription);
  for (const auto& row : rows) {
    const auto name = row[0].as<std::string>();
    std::string shard;
    if (name != subscription) {
      const auto hash = name.rfind('#');
      const auto slash = name.rfind('/');
      shard = "mod(stream_id, " + tx.quote(std::stoi(name.substr(slash + 1))) +
              ") = " + tx.quote(std::stoi(name.substr(hash + 1, slash - hash - 1))) + " AND ";
    }
    if (!condition.empty()) condition += " OR ";
    condition += "(" + shard + "(transaction_id, global_position) <= (" +
                 tx.quote(row[1].as<std::string>()) + "::xid8, " +
                 tx.quote(row[2].as<std::int64_t>()) + "::bigint))";
  }
  return condition.empty() ? "false" : "(" + condition + ")";
}

std::string layout_conflict(pqxx::transaction_base& tx, const std::string& subscription,
                            int count) {
  std::string other;
  for (const auto& row : tx.exec_params(kLayout, subscription)) {
    const auto name = row[0].as<std::string>();
    const auto slash = name.rfind('/');
    const bool same_layout = count <= 1 ? name == subscription
                                        : name != subscription && slash != std::string::npos &&
                                              name.substr(slash + 1) == std::to_string(count);
    if (!same_layout) other += (other.empty() ? "" : ", ") + name;
  }
  if (other.empty()) return "";
  return "the checkpoints of " + subscription + " are laid out in another number of shards (" +
         other + ") than SUBSCRIPTION_SHARDS=" + std::to_string(count) +
         ": stop every instance, run order-admin reshard " + subscription + " " +
         std::to_string(count) + ", then start them";
}

// A stable 64-bit key for the subscription's advisory lock.
long long subscription_lock_key(const std::string& checkpoint) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : "order-subscriber:" + checkpoint) hash = (hash ^ c) * 0x100000001b3ULL;
  return static_cast<long long>(hash >> 1);
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
                                     projections::Shard shard, std::string instance)
    : options_(std::move(options)),
      subscription_(subscription),
      name_(checkpoint_name(subscription, shard)),
      shard_(shard),
      instance_(std::move(instance)) {}

SubscriptionStore::~SubscriptionStore() = default;

pqxx::connection& SubscriptionStore::connection() {
  if (connection_) return *connection_;
  // Made whole before it is kept: a failure on the way leaves no half-made connection behind.
  auto made = connect(options_);
  // A silent reconnect would drop the advisory lock and the LISTEN without a word: forbid it,
  // so a lost connection is an error we see, and leadership is taken again explicitly.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // deprecated in 6.4, not replaced
  made->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  if (!instance_.empty()) {
    made->set_variable("application_name", made->quote("order-service " + instance_));
  }
  // A checkpoint is where handling resumes, and the events after it are handled again: one
  // lost in a crash (written, not yet flushed) only repeats a batch, which at least once
  // allows. Waiting for the WAL flush in each step of the loop would delay every event behind it.
  made->set_variable("synchronous_commit", "off");
  PGconn* handle = nullptr;
  {
    // libpqxx 6.4 reads results in the text format only, and hands out libpq's handle only
    // within a transaction; the handle lives as long as the connection.
    pqxx::read_transaction tx(*made);
    handle = libpq_handle(tx);
    tx.commit();
  }
  const std::string read_after = read_after_sql(shard_);
  Result prepared(PQprepare(handle, kReadAfter, read_after.c_str(), 0, nullptr), PQclear);
  if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
    throw_libpq_error(handle, prepared.release(), read_after);
  }
  made->prepare("advance", kAdvance);
  made->prepare("load_checkpoint", kLoadCheckpoint);
  made->prepare("lag", kLag);
  listener_ = std::make_unique<Listener>(*made);
  connection_ = std::move(made);
  libpq_ = handle;
  leader_ = false;
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
  // Closing the connection frees the lock only once its server process has exited, which the
  // close does not wait for: unlock first, so the next leader finds the shard free at once.
  if (leader_ && connection_ && connection_->is_open()) {
    try {
      pqxx::nontransaction tx(*connection_);
      tx.exec_params("SELECT pg_advisory_unlock($1)", subscription_lock_key(name_));
    } catch (const std::exception&) {
      // The connection is failing: its close frees the lock all the same.
    }
  }
  listener_.reset();
  connection_.reset();
  libpq_ = nullptr;
  leader_ = false;
}

std::vector<projections::LogEvent> SubscriptionStore::read_after(
    const projections::LogPosition& after, int limit) {
  return guarded([&] {
    std::optional<ScopedTimer> reading;
    if (read_seconds_ != nullptr) reading.emplace(*read_seconds_);
    connection();
    const std::string transaction_id = std::to_string(after.transaction_id);
    const std::string global_position = std::to_string(after.global_position);
    const std::string count = std::to_string(limit);
    const std::string index = std::to_string(shard_.index);
    const char* const values[] = {transaction_id.c_str(), global_position.c_str(), count.c_str(),
                                  index.c_str()};
    // Asked through libpq for rows in the binary format (the last argument; see
    // kBinaryLogEventColumns for what it saves the server).
    Result rows(
        PQexecPrepared(libpq_, kReadAfter, shard_.count <= 1 ? 3 : 4, values, nullptr, nullptr, 1),
        PQclear);
    if (PQresultStatus(rows.get()) != PGRES_TUPLES_OK) {
      if (PQstatus(libpq_) != CONNECTION_OK) throw pqxx::broken_connection(PQerrorMessage(libpq_));
      throw_libpq_error(libpq_, rows.release(), kReadAfter);
    }
    return log_events_of(rows.get());
  });
}

projections::LogPosition SubscriptionStore::load() {
  return guarded([&] {
    {
      // The engine loads before each read from the checkpoint, which under load is each batch:
      // one statement, no transaction to commit, once the row exists.
      pqxx::nontransaction tx(connection());
      const auto rows = tx.exec_prepared("load_checkpoint", name_);
      if (!rows.empty()) {
        return projections::LogPosition{rows[0][0].as<std::uint64_t>(),
                                        rows[0][1].as<std::int64_t>()};
      }
    }
    pqxx::work tx(connection());
    // A shard without its checkpoint starts from the log's start, unless the subscription has
    // checkpoints of another layout: then everything would be handled again.
    const bool own = !tx.exec_params(kLoadCheckpoint, name_).empty();
    if (!own) {
      const std::string conflict = layout_conflict(tx, subscription_, shard_.count);
      if (!conflict.empty()) {
        // Found here when the database was down at startup, past the start's own check: /readyz
        // tells it all the same.
        metrics().refuse(subscription_, conflict);
        throw LayoutMismatch(conflict);
      }
    }
    tx.exec_params(kEnsureCheckpoint, name_);
    const auto row = tx.exec_params(kLoadCheckpoint, name_)[0];
    tx.commit();
    return projections::LogPosition{row[0].as<std::uint64_t>(), row[1].as<std::int64_t>()};
  });
}

bool SubscriptionStore::advance(const projections::LogPosition& from,
                                const projections::LogPosition& to) {
  return guarded([&] {
    // One statement outside a transaction block is a transaction of its own: one round trip per
    // batch, not three (BEGIN, UPDATE, COMMIT), each a wake-up of this thread and of the server.
    pqxx::nontransaction tx(connection());
    const auto result = tx.exec_prepared("advance", name_, std::to_string(from.transaction_id),
                                         from.global_position, std::to_string(to.transaction_id),
                                         to.global_position);
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
    leader_ = tx.exec_params("SELECT pg_try_advisory_lock($1)", subscription_lock_key(name_))[0][0]
                  .as<bool>();
    return leader_;
  });
}

bool SubscriptionStore::wait_for_appends(std::chrono::milliseconds timeout) {
  return guarded([&] {
    pqxx::connection& c = connection();
    if (!listener_->notified) {
      const auto seconds = timeout.count() / 1000;
      const auto microseconds = (timeout.count() % 1000) * 1000;
      c.await_notification(seconds, microseconds);
    }
    const bool announced = listener_->notified;
    listener_->notified = false;
    return announced;
  });
}

projections::SubscriptionLag SubscriptionStore::lag(const projections::LogPosition& after) {
  return guarded([&] {
    pqxx::nontransaction tx(connection());
    return lag_row(tx.exec_prepared("lag", std::to_string(after.transaction_id),
                                    after.global_position, shard_.count, shard_.index)[0]);
  });
}

void ensure_shard_statistics(pqxx::connection& connection, int count) {
  if (count <= 1) return;
  const std::string name = "events_shard_" + std::to_string(count);
  pqxx::work tx(connection);
  tx.exec("SET LOCAL statement_timeout = 0");
  // Instances starting together: one creates them, the others find them.
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", subscription_lock_key("statistics:" + name));
  if (!tx.exec_params("SELECT 1 FROM pg_statistic_ext WHERE stxname = $1", name).empty()) return;
  tx.exec("CREATE STATISTICS " + tx.quote_name(name) + " ON (mod(stream_id, " +
          std::to_string(count) + ")) FROM events");
  tx.exec("ANALYZE events");  // a sample of the table: quick at any size
  tx.commit();
}

}  // namespace order::pg
