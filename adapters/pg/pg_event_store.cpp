// Append, load and id allocation: each one statement, prepared once per connection.
#include "adapters/pg/pg_event_store.hpp"

#include <algorithm>
#include <pqxx/pqxx>

#include "adapters/json/event_data.hpp"
#include "adapters/json/json_writer.hpp"
#include "adapters/pg/group_commit.hpp"
#include "adapters/pg/group_load.hpp"
#include "adapters/pg/session.hpp"
#include "adapters/pg/timestamps.hpp"

namespace order::pg {
namespace {

// recorded_at as utc_rfc3339 takes it.
constexpr const char* kRecordedAt = "recorded_at AT TIME ZONE 'UTC'";

// One statement appends a batch: each element is one append, {"stream", "expected", "events":
// [{"type", "data"}…], "metadata", "key", "fingerprint", "command", "ttl"}. An append whose key
// is already recorded is left out; of the rest, each advances its stream's head only if it is at
// the expected version (or creates it when 0 is expected), and only the appends whose head
// advanced record their key and insert their events, numbered from there. A stale writer
// advances nothing, so it inserts nothing and gets no rows back: a conflict, never an overwrite.
// Concurrent writers of one stream serialise on its `streams` row; the unique (stream, version)
// constraint stands behind this as a second line, and the key's primary key behind the key check
// (a key recorded meanwhile by another transaction fails the statement: nothing is written).
// Rows: the recorded events, then one row without a position per append whose key was taken.
// The events' data is not read back: the caller holds the events it encoded.
const std::string kAppend = std::string(R"(
WITH request AS (
  SELECT (r.value->>'stream')::bigint AS stream_id,
         (r.value->>'expected')::bigint AS expected,
         (r.value->>'expected')::bigint + jsonb_array_length(r.value->'events') AS new_version,
         r.value->'events' AS events, r.value->'metadata' AS metadata,
         coalesce(r.value->>'key', '') AS key, r.value->>'fingerprint' AS fingerprint,
         r.value->>'command' AS command, coalesce((r.value->>'ttl')::integer, 0) AS ttl,
         r.ordinality AS slot
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS r
), unclaimed AS (
  SELECT * FROM request q
  WHERE q.key = '' OR NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.key = q.key)
), advanced AS (
  UPDATE streams s SET version = u.new_version FROM unclaimed u
  WHERE s.stream_id = u.stream_id AND s.version = u.expected AND u.expected > 0
  RETURNING s.stream_id
), created AS (
  INSERT INTO streams (stream_id, version)
  SELECT stream_id, new_version FROM unclaimed WHERE expected = 0
  ON CONFLICT (stream_id) DO NOTHING
  RETURNING stream_id
), head AS (
  SELECT u.* FROM unclaimed u
  WHERE u.stream_id IN (SELECT stream_id FROM advanced UNION ALL SELECT stream_id FROM created)
), remembered AS (
  INSERT INTO idempotency_keys (key, fingerprint, command, order_id, stream_version, expires_at)
  SELECT key, fingerprint, command, stream_id, new_version, now() + make_interval(secs => ttl)
  FROM head WHERE key <> ''
), appended AS (
  INSERT INTO events (stream_id, stream_version, event_type, data, metadata)
  SELECT h.stream_id, h.expected + e.ordinality, e.value->>'type', e.value->'data', h.metadata
  FROM head h, jsonb_array_elements(h.events) WITH ORDINALITY AS e
  ORDER BY h.slot, e.ordinality
  RETURNING stream_id, global_position, stream_version, event_id::text AS event_id, )") +
                            kRecordedAt + R"( AS recorded_at
)
SELECT a.global_position, a.stream_version, a.event_id, a.recorded_at, h.slot
FROM appended a JOIN head h ON h.stream_id = a.stream_id
UNION ALL
SELECT NULL, NULL, NULL, NULL, q.slot FROM request q
WHERE NOT EXISTS (SELECT 1 FROM unclaimed u WHERE u.slot = q.slot))";

const std::string kLoad = std::string(R"(
SELECT global_position, stream_version, event_id::text, event_type, data::text, )") +
                          kRecordedAt + R"(
FROM events
WHERE stream_id = $1 AND stream_version <= $2 AND recorded_at <= $3::timestamptz
ORDER BY stream_version)";

// The loads of a batch, each its stream's prefix: `slot` numbers the answers. Each stream is
// read by its own lookup of the (stream, version) index, whatever the statistics say: as a plain
// join, planned generically on a log without statistics yet (grown since the last ANALYZE, or
// just restored), the batch became a hash join over a scan of the whole log, 267 ms instead of
// 0.5 ms a batch at 1,000,000 events.
const std::string kLoadBatch = std::string(R"(
SELECT e.global_position, e.stream_version, e.event_id, e.event_type, e.data, e.recorded_at,
       r.slot
FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[])
     WITH ORDINALITY AS r(stream_id, max_version, as_of, slot)
CROSS JOIN LATERAL (
  SELECT global_position, stream_version, event_id::text AS event_id, event_type,
         data::text AS data, )") +
                               kRecordedAt + R"( AS recorded_at
  FROM events
  WHERE stream_id = r.stream_id AND stream_version <= r.max_version AND recorded_at <= r.as_of
  ORDER BY stream_version) e
ORDER BY r.slot, e.stream_version)";

const std::string kNextOrderId = "SELECT nextval('order_ids')";
const std::string kNextOrderIds = "SELECT nextval('order_ids') FROM generate_series(1, $1)";

const std::string kHistoryColumns = std::string(R"(
SELECT global_position, stream_id, stream_version, event_id::text, event_type, schema_version, )") +
                                    kRecordedAt + ", data::text, metadata::text FROM events ";
const std::string kHistory = kHistoryColumns +
                             "WHERE stream_id = $1 AND stream_version > $2 "
                             "ORDER BY stream_version LIMIT $3";
const std::string kUserHistory = kHistoryColumns +
                                 "WHERE (data->>'userid')::bigint = $1 AND global_position > $2 "
                                 "ORDER BY global_position LIMIT $3";

std::vector<commands::HistoryEntry> history_from(const pqxx::result& rows) {
  std::vector<commands::HistoryEntry> entries;
  entries.reserve(rows.size());
  for (const auto& row : rows) {
    entries.push_back({row[0].as<std::int64_t>(), row[1].as<domain::OrderId>(),
                       row[2].as<std::int64_t>(), row[3].as<std::string>(),
                       row[4].as<std::string>(), row[5].as<int>(), utc_rfc3339(row[6].c_str()),
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
  // (admin shutdown, statement timeout); 40001/40P01: serialisation failure, deadlock; 25006: a
  // server that takes no writes (a standby not yet promoted after a failover, or
  // default_transaction_read_only); 55P03: a lock not granted within lock_timeout; 58030: the
  // server's own I/O failed (its disk).
  return state.starts_with("08") || state.starts_with("53") || state.starts_with("57") ||
         state == "40001" || state == "40P01" || state == "25006" || state == "55P03" ||
         state == "58030";
}

commands::RecordedEvent recorded_from(const pqxx::row& row) {
  const std::string type = row[3].as<std::string>();
  auto event = json::decode_event(type, row[4].c_str());
  if (!event) {
    throw std::runtime_error("event " + row[2].as<std::string>() + " of type " + type +
                             " does not decode: the log holds data this build cannot read");
  }
  return commands::RecordedEvent{row[0].as<std::int64_t>(), row[1].as<std::int64_t>(),
                                 row[2].as<std::string>(), utc_rfc3339(row[5].c_str()),
                                 std::move(*event)};
}

}  // namespace

std::unique_ptr<pqxx::connection> connect(const ConnectionOptions& options) {
  try {
    auto connection = std::make_unique<pqxx::connection>(
        with_network_timeouts(options.url, options.statement_timeout_ms));
    // set_variable, unlike a plain SET, is replayed by libpqxx 6.4 when it silently reconnects.
    connection->set_variable("statement_timeout", std::to_string(options.statement_timeout_ms));
    connection->set_variable("application_name", "'order-service'");
    // Timestamps are read as ISO text and formatted by utc_rfc3339, whatever the server's default.
    connection->set_variable("DateStyle", "ISO");
    // Each statement reads a few rows by index. JIT compiles a statement whose estimated cost
    // passes jit_above_cost, which a table's missing or stale statistics can inflate: then a
    // batch load of 0.4 ms took 55 ms, most of it compiling.
    connection->set_variable("jit", "off");
    // The statements are written for READ COMMITTED: a writer that waited on a stream's row
    // reads its new head and gets a conflict, and a reader's gap-safe horizon is taken per
    // statement. Under a database default of REPEATABLE READ or SERIALIZABLE such a writer would
    // fail with a serialisation error instead (a 503 to its client), and so would the read
    // models' batches. What needs a snapshot of its own (a rebuild's scan) asks for it.
    connection->set_variable("default_transaction_isolation", "'read committed'");
    // An acknowledged write is durable only if its commit is flushed before the answer. A
    // database whose default is synchronous_commit = off (a tuning some guides advise) would lose
    // the last acknowledged orders in a crash of its server, so this session turns it back on.
    // Any other setting (local, or a standby's remote_write or remote_apply) is kept.
    if (connection->get_variable("synchronous_commit") == "off") {
      connection->set_variable("synchronous_commit", "on");
    }
    // The server gives up a session whose client vanished from the network: until then it holds
    // the session's locks (a leader's) and the other instances wait. (Ignored on a Unix socket.)
    for (const auto& setting : kServerKeepalives) {
      connection->set_variable(setting.name, std::to_string(setting.value));
    }
    prepare_append(*connection);
    connection->prepare("load", kLoad);
    connection->prepare("load_batch", kLoadBatch);
    connection->prepare("next_order_id", kNextOrderId);
    connection->prepare("next_order_ids", kNextOrderIds);
    connection->prepare("find_key", kFindKey);
    connection->prepare("history", kHistory);
    connection->prepare("user_history", kUserHistory);
    return connection;
  } catch (const pqxx::broken_connection& error) {
    std::string reason = error.what();
    reason.erase(std::find(reason.begin(), reason.end(), '\n'), reason.end());
    throw commands::StoreUnavailable("cannot connect to " + redact_url(options.url) + ": " +
                                     reason);
  }
}

bool still_open(pqxx::connection& connection) noexcept {
  try {
    // Each call reads what waits on the socket, without blocking: when the server has ended
    // the connection, first its last message (a FATAL error, which libpq takes as a notice),
    // then the end of the stream, on which libpqxx 6.4 throws broken_connection.
    connection.get_notifs();
    connection.get_notifs();
    return connection.is_open();
  } catch (...) {
    return false;
  }
}

pqxx::connection& open_connection(std::unique_ptr<pqxx::connection>& slot,
                                  const ConnectionOptions& options) {
  if (slot && !still_open(*slot)) slot.reset();
  if (!slot) slot = connect(options);
  return *slot;
}

EncodedAppend encode_append(domain::OrderId stream, std::int64_t expected_version,
                            std::span<const domain::Event> events,
                            const commands::EventMetadata& metadata,
                            const commands::IdempotencyClaim* claim) {
  json::JsonWriter w;
  w.begin_object();
  w.key("stream").integer(stream);
  w.key("expected").integer(expected_version);
  w.key("events").begin_array();
  for (const auto& event : events) {
    w.begin_object();
    w.key("type").string(domain::event_type(event));
    w.key("data").raw(json::encode_event_data(event));
    w.end_object();
  }
  w.end_array();
  w.key("metadata").begin_object();
  auto put = [&](std::string_view key, const std::string& value) {
    if (!value.empty()) w.key(key).string(value);
  };
  put("request_id", metadata.request_id);
  put("correlation_id", metadata.correlation_id);
  put("causation_id", metadata.causation_id);
  put("actor", metadata.actor);
  put("idempotency_key", metadata.idempotency_key);
  put("traceparent", metadata.traceparent);
  put("tracestate", metadata.tracestate);
  w.end_object();
  if (claim != nullptr && !claim->key.empty()) {
    w.key("key").string(claim->key);
    w.key("fingerprint").string(claim->fingerprint);
    w.key("command").string(claim->command);
    w.key("ttl").integer(claim->ttl_seconds);
  }
  w.end_object();
  return EncodedAppend{stream,
                       claim != nullptr ? claim->key : std::string(),
                       w.take(),
                       expected_version,
                       {events.begin(), events.end()}};
}

void prepare_append(pqxx::connection& connection) { connection.prepare("append", kAppend); }

std::vector<commands::AppendResult> append_batch(pqxx::connection& connection,
                                                 std::span<const EncodedAppend* const> batch) {
  std::string document;
  std::size_t size = 2;
  for (const auto* append : batch) size += append->json.size() + 1;
  document.reserve(size);
  document += '[';
  for (const auto* append : batch) {
    if (document.size() > 1) document += ',';
    document += append->json;
  }
  document += ']';

  std::vector<commands::AppendResult> results(batch.size());
  // No appended rows and no taken key: the stream was not at the expected version.
  for (auto& result : results) {
    result.status = commands::Status::conflict("the stream is not at the expected version");
  }
  pqxx::result rows;
  {
    // One statement outside a transaction block is a transaction of its own: one commit.
    pqxx::nontransaction tx(connection);
    try {
      rows = tx.exec_prepared("append", document);
    } catch (const pqxx::unique_violation& error) {
      // Another transaction recorded a claimed key after this statement's snapshot. For one
      // append that is its answer; for a batch, the caller finds out whose by retrying alone.
      const bool key =
          std::string_view(error.what()).find("idempotency_keys_pkey") != std::string_view::npos;
      if (!key || batch.size() != 1) throw;
      return {commands::AppendResult{
          commands::Status::key_taken("the idempotency key was recorded meanwhile"), {}}};
    }
  }
  for (const auto& row : rows) {
    const auto slot = row[4].as<std::size_t>() - 1;
    auto& result = results.at(slot);
    if (row[0].is_null()) {
      result.status = commands::Status::key_taken("the idempotency key is recorded");
      continue;
    }
    // The appended events are the append's own, in order, from the version after `expected`.
    const EncodedAppend& append = *batch[slot];
    const auto version = row[1].as<std::int64_t>();
    const auto index = static_cast<std::size_t>(version - append.expected - 1);
    result.status = {};
    result.recorded.push_back(
        commands::RecordedEvent{row[0].as<std::int64_t>(), version, row[2].as<std::string>(),
                                utc_rfc3339(row[3].c_str()), append.events.at(index)});
  }
  for (auto& result : results) {
    std::sort(result.recorded.begin(), result.recorded.end(),
              [](const auto& a, const auto& b) { return a.stream_version < b.stream_version; });
  }
  return results;
}

namespace {

// What `element` makes of each load of `batch`, as a PostgreSQL array literal of quoted elements.
template <class Each>
std::string array_literal(std::span<const LoadRequest* const> batch, Each&& element) {
  std::string out = "{";
  for (const LoadRequest* request : batch) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (const char c : element(*request)) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

std::vector<LoadOutcome> load_batch(pqxx::connection& connection,
                                    std::span<const LoadRequest* const> batch) {
  const std::string streams = array_literal(
      batch, [](const LoadRequest& request) { return std::to_string(request.stream); });
  const std::string max_versions = array_literal(batch, [](const LoadRequest& request) {
    return std::to_string(request.bound.max_version.value_or(INT64_MAX));
  });
  const std::string times = array_literal(
      batch, [](const LoadRequest& request) { return request.bound.as_of.value_or("infinity"); });
  pqxx::nontransaction tx(connection);
  const pqxx::result rows = tx.exec_prepared("load_batch", streams, max_versions, times);
  std::vector<LoadOutcome> loaded(batch.size());
  for (const auto& row : rows) {
    const auto slot = row[6].as<std::size_t>();
    if (slot < 1 || slot > batch.size()) throw std::logic_error("load_batch: a slot out of range");
    LoadOutcome& outcome = loaded[slot - 1];
    if (outcome.error) continue;
    try {
      outcome.stream.events.push_back(recorded_from(row));
    } catch (...) {
      outcome.error = std::current_exception();
    }
  }
  return loaded;
}

std::exception_ptr translate_store_error(std::exception_ptr error, bool& connection_lost) {
  connection_lost = false;
  try {
    std::rethrow_exception(error);
  } catch (const pqxx::broken_connection& e) {
    connection_lost = true;
    return std::make_exception_ptr(
        commands::StoreUnavailable(std::string("database connection lost: ") + e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    connection_lost = true;
    return std::make_exception_ptr(
        commands::StoreUnavailable(std::string("commit outcome unknown: ") + e.what()));
  } catch (const pqxx::sql_error& e) {
    if (is_unavailability(e)) {
      return std::make_exception_ptr(
          commands::StoreUnavailable(std::string("database unavailable: ") + e.what()));
    }
    return error;
  } catch (...) {
    return error;
  }
}

domain::OrderId OrderIdBlocks::next(pqxx::connection& connection) {
  std::lock_guard lock(mutex_);
  if (used_ == block_.size()) {
    pqxx::nontransaction tx(connection);
    const pqxx::result rows = tx.exec_prepared("next_order_ids", block_size_);
    block_.clear();
    for (const auto& row : rows) block_.push_back(row[0].as<domain::OrderId>());
    used_ = 0;
  }
  return block_.at(used_++);
}

PgEventStore::PgEventStore(ConnectionOptions options, StoreSharing shared)
    : owned_(std::make_unique<Session>(std::move(options))), session_(*owned_), shared_(shared) {}
PgEventStore::PgEventStore(Session& session, StoreSharing shared)
    : session_(session), shared_(shared) {}
PgEventStore::~PgEventStore() = default;

domain::OrderId PgEventStore::next_order_id() {
  return session_.run([&](pqxx::connection& connection) {
    if (shared_.ids != nullptr) return shared_.ids->next(connection);
    pqxx::nontransaction tx(connection);
    return tx.exec_prepared("next_order_id")[0][0].as<domain::OrderId>();
  });
}

commands::LoadedStream PgEventStore::load(domain::OrderId stream,
                                          const commands::StreamBound& bound) {
  // Held while this load runs on the session's connection, when it goes through group load.
  const GroupLoad::Alone alone =
      shared_.loads != nullptr ? shared_.loads->try_alone() : GroupLoad::Alone();
  if (shared_.loads != nullptr && !alone) return shared_.loads->load({stream, bound});
  return load_here(stream, bound);
}

void PgEventStore::load_then(domain::OrderId stream, const commands::StreamBound& bound,
                             LoadDone done) {
  const GroupLoad::Alone alone = shared_.loads != nullptr && !shared_.never_load_here
                                     ? shared_.loads->try_alone()
                                     : GroupLoad::Alone();
  if (shared_.loads != nullptr && !alone) {
    shared_.loads->load_then({stream, bound}, std::move(done));
    return;
  }
  commands::LoadedStream loaded;
  try {
    loaded = load_here(stream, bound);
  } catch (...) {
    done({}, std::current_exception());
    return;
  }
  done(std::move(loaded), nullptr);
}

commands::LoadedStream PgEventStore::load_here(domain::OrderId stream,
                                               const commands::StreamBound& bound) {
  return session_.run([&](pqxx::connection& connection) {
    pqxx::nontransaction tx(connection);
    const pqxx::result rows = tx.exec_prepared(
        "load", stream, bound.max_version.value_or(INT64_MAX), bound.as_of.value_or("infinity"));
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
  EncodedAppend encoded = encode_append(stream, expected_version, events, metadata, claim);
  if (shared_.commits != nullptr) return shared_.commits->append(std::move(encoded));
  return session_.run([&](pqxx::connection& connection) {
    const EncodedAppend* batch[] = {&encoded};
    return std::move(append_batch(connection, batch).front());
  });
}

void PgEventStore::create_then(DecideNew decide, const commands::EventMetadata& metadata,
                               std::optional<commands::IdempotencyClaim> claim, CreateDone done) {
  if (shared_.commits == nullptr || shared_.ids == nullptr) {
    EventStore::create_then(std::move(decide), metadata, std::move(claim), std::move(done));
    return;
  }
  // Filled on the committer thread: by `make`, then by the commit's answer.
  auto outcome = std::make_shared<commands::CreateOutcome>();
  std::string key = claim ? claim->key : std::string();
  shared_.commits->create_then(
      *shared_.ids, std::move(key),
      [outcome, decide = std::move(decide), metadata,
       claim = std::move(claim)](domain::OrderId id) -> std::optional<EncodedAppend> {
        outcome->id = id;
        outcome->decision = decide(id);
        if (!outcome->decision.ok()) return std::nullopt;
        return encode_append(id, 0, outcome->decision.events(), metadata,
                             claim ? &*claim : nullptr);
      },
      [outcome, done = std::move(done)](commands::AppendResult appended,
                                        const std::exception_ptr& error) {
        if (error) {
          done({}, error);
          return;
        }
        outcome->appended = std::move(appended);
        done(std::move(*outcome), nullptr);
      });
}

std::vector<commands::HistoryEntry> PgEventStore::history(domain::OrderId stream,
                                                          std::int64_t after_version, int limit) {
  return session_.run([&](pqxx::connection& connection) {
    pqxx::nontransaction tx(connection);
    return history_from(tx.exec_prepared("history", stream, after_version, limit));
  });
}

std::vector<commands::HistoryEntry> PgEventStore::user_history(domain::UserId user,
                                                               std::int64_t after_position,
                                                               int limit) {
  return session_.run([&](pqxx::connection& connection) {
    pqxx::nontransaction tx(connection);
    return history_from(tx.exec_prepared("user_history", user, after_position, limit));
  });
}

std::optional<commands::IdempotencyRecord> PgEventStore::find_idempotency_key(
    const std::string& key) {
  return session_.run(
      [&](pqxx::connection& connection) -> std::optional<commands::IdempotencyRecord> {
        pqxx::work tx(connection);
        const pqxx::result rows = tx.exec_prepared("find_key", key);
        tx.commit();
        if (rows.empty()) return std::nullopt;
        return commands::IdempotencyRecord{
            rows[0][0].as<std::string>(), rows[0][1].as<std::string>(),
            rows[0][2].as<domain::OrderId>(), rows[0][3].as<std::int64_t>()};
      });
}

bool PgEventStore::ping() { return session_.ping(); }

}  // namespace order::pg
