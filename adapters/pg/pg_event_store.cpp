// Append, load and id allocation: each one statement, prepared once per connection.
#include "adapters/pg/pg_event_store.hpp"

#include <algorithm>
#include <pqxx/pqxx>

#include "adapters/json/json_writer.hpp"
#include "adapters/json/order_codec.hpp"
#include "adapters/pg/log_reader.hpp"
#include "adapters/pg/projector.hpp"

namespace order::pg {
namespace {

constexpr const char* kRfc3339 = R"(to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))";

// One statement, one round trip: advance the stream's head only if it is at the expected version
// (or create it when 0 is expected), then insert the events numbered from there. A stale writer
// advances nothing, so it inserts nothing and gets no rows back: a conflict, never an overwrite.
// Concurrent writers of one stream serialise on its `streams` row; the unique (stream, version)
// constraint stands behind this as a second line.
const std::string kAppend = std::string(R"(
WITH advanced AS (
  UPDATE streams SET version = $3 WHERE stream_id = $1 AND version = $2 AND $2 > 0
  RETURNING stream_id
), created AS (
  INSERT INTO streams (stream_id, version) SELECT $1, $3 WHERE $2 = 0
  ON CONFLICT (stream_id) DO NOTHING
  RETURNING stream_id
), head AS (
  SELECT stream_id FROM advanced UNION ALL SELECT stream_id FROM created
), remembered AS (
  -- The request's Idempotency-Key, in the same statement as its events: both or neither.
  -- A key recorded meanwhile fails the statement on the primary key, so nothing is appended.
  INSERT INTO idempotency_keys (key, fingerprint, command, order_id, stream_version, expires_at)
  SELECT $6, $7, $8, head.stream_id, $3, now() + make_interval(secs => $9)
  FROM head WHERE $6 <> ''
)
INSERT INTO events (stream_id, stream_version, event_type, data, metadata)
SELECT head.stream_id, $2 + e.ordinality, e.value->>'type', e.value->'data', $5::jsonb
FROM head, jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e
RETURNING global_position, stream_version, event_id::text, event_type, data::text, )") +
                            kRfc3339;

const std::string kLoad = std::string(R"(
SELECT global_position, stream_version, event_id::text, event_type, data::text, )") + kRfc3339 + R"(
FROM events
WHERE stream_id = $1 AND stream_version <= $2 AND recorded_at <= $3::timestamptz
ORDER BY stream_version)";

const std::string kNextOrderId = "SELECT nextval('order_ids')";

const std::string kHistoryColumns = std::string(R"(
SELECT global_position, stream_id, stream_version, event_id::text, event_type, schema_version, )") +
                                    kRfc3339 + ", data::text, metadata::text FROM events ";
const std::string kHistory = kHistoryColumns +
                             "WHERE stream_id = $1 AND stream_version > $2 "
                             "ORDER BY stream_version LIMIT $3";
const std::string kUserHistory = kHistoryColumns +
                                 "WHERE (data->>'userid')::bigint = $1 AND global_position > $2 "
                                 "ORDER BY global_position LIMIT $3";

// GET /orders: one statement per filter combination, so each is planned on its own index.
const std::string kListColumns = std::string("SELECT ") + kOrderRowColumns + " FROM orders ";
const std::string kListAll = kListColumns + "WHERE order_id > $1 ORDER BY order_id LIMIT $2";
const std::string kListByUser =
    kListColumns + "WHERE user_id = $3 AND order_id > $1 ORDER BY order_id LIMIT $2";
const std::string kListByStatus =
    kListColumns + "WHERE status = $3 AND order_id > $1 ORDER BY order_id LIMIT $2";
const std::string kListByUserStatus =
    kListColumns + "WHERE user_id = $3 AND status = $4 AND order_id > $1 ORDER BY order_id LIMIT $2";

std::vector<commands::HistoryEntry> history_from(const pqxx::result& rows) {
  std::vector<commands::HistoryEntry> entries;
  entries.reserve(rows.size());
  for (const auto& row : rows) {
    entries.push_back({row[0].as<std::int64_t>(), row[1].as<domain::OrderId>(),
                       row[2].as<std::int64_t>(), row[3].as<std::string>(),
                       row[4].as<std::string>(), row[5].as<int>(), row[6].as<std::string>(),
                       row[7].as<std::string>(), row[8].as<std::string>()});
  }
  return entries;
}

// An expired key is forgotten on the way: it no longer answers, and it can be claimed again.
const std::string kFindKey = R"(
WITH forgotten AS (
  DELETE FROM idempotency_keys WHERE key = $1 AND expires_at <= now()
)
SELECT fingerprint, command, order_id, stream_version
FROM idempotency_keys WHERE key = $1 AND expires_at > now())";

bool is_unavailability(const pqxx::sql_error& error) {
  const std::string& state = error.sqlstate();
  // 08: connection exceptions; 53: insufficient resources; 57: operator intervention
  // (admin shutdown, statement timeout); 40001/40P01: serialisation failure, deadlock.
  return state.starts_with("08") || state.starts_with("53") || state.starts_with("57") ||
         state == "40001" || state == "40P01";
}

commands::RecordedEvent recorded_from(const pqxx::row& row) {
  const std::string type = row[3].as<std::string>();
  auto event = json::decode_event(type, row[4].c_str());
  if (!event) {
    throw std::runtime_error("event " + row[2].as<std::string>() + " of type " + type +
                             " does not decode: the log holds data this build cannot read");
  }
  return commands::RecordedEvent{row[0].as<std::int64_t>(), row[1].as<std::int64_t>(),
                                 row[2].as<std::string>(), row[5].as<std::string>(),
                                 std::move(*event)};
}

std::string encode_metadata(const commands::EventMetadata& metadata) {
  json::JsonWriter w;
  w.begin_object();
  auto put = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) w.key(key).string(value);
  };
  put("request_id", metadata.request_id);
  put("correlation_id", metadata.correlation_id);
  put("causation_id", metadata.causation_id);
  put("actor", metadata.actor);
  put("idempotency_key", metadata.idempotency_key);
  w.end_object();
  return w.take();
}

}  // namespace

std::unique_ptr<pqxx::connection> connect(const ConnectionOptions& options) {
  try {
    auto connection = std::make_unique<pqxx::connection>(options.url);
    // set_variable, unlike a plain SET, is replayed by libpqxx 6.4 when it silently reconnects.
    connection->set_variable("statement_timeout", std::to_string(options.statement_timeout_ms));
    connection->set_variable("application_name", "'order-service'");
    connection->prepare("append", kAppend);
    connection->prepare("load", kLoad);
    connection->prepare("next_order_id", kNextOrderId);
    connection->prepare("find_key", kFindKey);
    connection->prepare("history", kHistory);
    connection->prepare("user_history", kUserHistory);
    connection->prepare("list_all", kListAll);
    connection->prepare("list_by_user", kListByUser);
    connection->prepare("list_by_status", kListByStatus);
    connection->prepare("list_by_user_status", kListByUserStatus);
    return connection;
  } catch (const pqxx::broken_connection& error) {
    std::string reason = error.what();
    reason.erase(std::find(reason.begin(), reason.end(), '\n'), reason.end());
    throw commands::StoreUnavailable("cannot connect to " + redact_url(options.url) + ": " + reason);
  }
}

std::string redact_url(const std::string& url) {
  // postgresql://user:secret@host/db → postgresql://user:***@host/db
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

PgEventStore::PgEventStore(ConnectionOptions options) : options_(std::move(options)) {}
PgEventStore::~PgEventStore() = default;

pqxx::connection& PgEventStore::connection() {
  if (!connection_) connection_ = connect(options_);
  return *connection_;
}

template <class F>
auto PgEventStore::guarded(F&& work) -> decltype(work()) {
  try {
    return work();
  } catch (const pqxx::broken_connection& error) {
    // Drop the connection: the next call opens a fresh one (prepared statements included).
    connection_.reset();
    throw commands::StoreUnavailable(std::string("database connection lost: ") + error.what());
  } catch (const pqxx::in_doubt_error& error) {
    connection_.reset();
    throw commands::StoreUnavailable(std::string("commit outcome unknown: ") + error.what());
  } catch (const pqxx::sql_error& error) {
    if (is_unavailability(error)) {
      throw commands::StoreUnavailable(std::string("database unavailable: ") + error.what());
    }
    throw;
  }
}

domain::OrderId PgEventStore::next_order_id() {
  return guarded([&] {
    pqxx::nontransaction tx(connection());
    return tx.exec_prepared("next_order_id")[0][0].as<domain::OrderId>();
  });
}

commands::LoadedStream PgEventStore::load(domain::OrderId stream,
                                          const commands::StreamBound& bound) {
  return guarded([&] {
    pqxx::nontransaction tx(connection());
    const pqxx::result rows =
        tx.exec_prepared("load", stream, bound.max_version.value_or(INT64_MAX),
                         bound.as_of.value_or("infinity"));
    commands::LoadedStream loaded;
    loaded.events.reserve(rows.size());
    for (const auto& row : rows) loaded.events.push_back(recorded_from(row));
    return loaded;
  });
}

commands::AppendResult PgEventStore::append(domain::OrderId stream, std::int64_t expected_version,
                                            std::span<const domain::Event> events,
                                            const commands::EventMetadata& metadata,
                                            const commands::IdempotencyClaim* claim) {
  json::JsonWriter batch;
  batch.begin_array();
  for (const auto& event : events) {
    batch.begin_object();
    batch.key("type").string(domain::event_type(event));
    batch.key("data").raw(json::encode_event_data(event));
    batch.end_object();
  }
  batch.end_array();
  const auto new_version = expected_version + static_cast<std::int64_t>(events.size());

  const commands::IdempotencyClaim none{};
  const commands::IdempotencyClaim& key = claim != nullptr ? *claim : none;

  return guarded([&] {
    pqxx::work tx(connection());
    pqxx::result rows;
    try {
      rows = tx.exec_prepared("append", stream, expected_version, new_version, batch.str(),
                              encode_metadata(metadata), key.key, key.fingerprint, key.command,
                              key.ttl_seconds);
    } catch (const pqxx::unique_violation& error) {
      if (std::string_view(error.what()).find("idempotency_keys_pkey") == std::string_view::npos) {
        throw;
      }
      return commands::AppendResult{false, true, {}};
    }
    commands::AppendResult result;
    if (rows.empty()) {
      result.conflict = true;
      return result;  // the transaction rolls back: it wrote nothing
    }
    tx.commit();
    for (const auto& row : rows) result.recorded.push_back(recorded_from(row));
    std::sort(result.recorded.begin(), result.recorded.end(),
              [](const auto& a, const auto& b) { return a.stream_version < b.stream_version; });
    return result;
  });
}

std::vector<commands::HistoryEntry> PgEventStore::history(domain::OrderId stream,
                                                          std::int64_t after_version, int limit) {
  return guarded([&] {
    pqxx::nontransaction tx(connection());
    return history_from(tx.exec_prepared("history", stream, after_version, limit));
  });
}

std::vector<commands::HistoryEntry> PgEventStore::user_history(domain::UserId user,
                                                               std::int64_t after_position,
                                                               int limit) {
  return guarded([&] {
    pqxx::nontransaction tx(connection());
    return history_from(tx.exec_prepared("user_history", user, after_position, limit));
  });
}

std::optional<commands::IdempotencyRecord> PgEventStore::find_idempotency_key(
    const std::string& key) {
  return guarded([&]() -> std::optional<commands::IdempotencyRecord> {
    pqxx::work tx(connection());
    const pqxx::result rows = tx.exec_prepared("find_key", key);
    tx.commit();
    if (rows.empty()) return std::nullopt;
    return commands::IdempotencyRecord{rows[0][0].as<std::string>(), rows[0][1].as<std::string>(),
                                       rows[0][2].as<domain::OrderId>(),
                                       rows[0][3].as<std::int64_t>()};
  });
}

projections::ListPage PgEventStore::list_orders(const projections::ListQuery& query) {
  return guarded([&] {
    // One snapshot for the rows and the lag, so the lag describes the rows returned.
    pqxx::read_transaction tx(connection());
    const int fetch = query.limit + 1;  // one more than asked tells whether a next page exists
    pqxx::result rows;
    if (query.user_id && query.status) {
      rows = tx.exec_prepared("list_by_user_status", query.after, fetch, *query.user_id,
                              std::string(domain::to_string(*query.status)));
    } else if (query.user_id) {
      rows = tx.exec_prepared("list_by_user", query.after, fetch, *query.user_id);
    } else if (query.status) {
      rows = tx.exec_prepared("list_by_status", query.after, fetch,
                              std::string(domain::to_string(*query.status)));
    } else {
      rows = tx.exec_prepared("list_all", query.after, fetch);
    }
    projections::ListPage page;
    for (const auto& row : rows) page.rows.push_back(order_row_from(row));
    page.has_more = page.rows.size() > static_cast<std::size_t>(query.limit);
    if (page.has_more) page.rows.pop_back();
    const auto lag = lag_of(tx, kOrdersProjector);
    page.lag = {lag.events_behind, lag.seconds_behind};
    return page;
  });
}

projections::ProjectionLag PgEventStore::projection_lag() {
  return guarded([&] {
    pqxx::read_transaction tx(connection());
    const auto lag = lag_of(tx, kOrdersProjector);
    return projections::ProjectionLag{lag.events_behind, lag.seconds_behind};
  });
}

bool PgEventStore::ping() {
  try {
    return guarded([&] {
      pqxx::nontransaction tx(connection());
      tx.exec("SELECT 1");
      return true;
    });
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace order::pg
