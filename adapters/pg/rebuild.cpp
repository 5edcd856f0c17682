// Rebuild: replay into fresh tables, index, swap under lock. Verify: fold into temporary tables
// and compare. One mechanism for every read model; orders adds a stream-ordered COPY phase.
#include "adapters/pg/rebuild.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "adapters/pg/copy_reader.hpp"
#include "adapters/pg/orders_table.hpp"
#include "adapters/pg/subscription_store.hpp"
#include "adapters/pg/timestamps.hpp"
#include "projections/order_projection.hpp"

namespace order::pg {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::int64_t log_size(pqxx::connection& connection) {
  pqxx::nontransaction tx(connection);
  return tx.exec("SELECT coalesce(max(global_position), 0) FROM events")[0][0].as<std::int64_t>();
}

enum class Durability { temporary, logged };

enum class Key { now, after_load };

// The primary key of the copy of a read model's table named with `suffix`.
void add_primary_key(pqxx::transaction_base& tx, const TableShape& shape,
                     const std::string& suffix) {
  const std::string table = shape.name + suffix;
  tx.exec("ALTER TABLE " + tx.quote_name(table) + " ADD CONSTRAINT " +
          tx.quote_name(table + "_pkey") + " PRIMARY KEY " + shape.primary_key);
}

// A fresh, empty copy of a read model's table, named with `suffix`, with its primary key unless
// a bulk load comes first (a key built by sorting the loaded rows is faster than one kept up row
// by row); the secondary indexes come after the load (build_indexes), for the same reason.
void create_table(pqxx::transaction_base& tx, const TableShape& shape, const std::string& suffix,
                  Durability durability, Key key = Key::now) {
  const std::string table = shape.name + suffix;
  tx.exec("DROP TABLE IF EXISTS " + tx.quote_name(table));
  tx.exec("CREATE " + std::string(durability == Durability::temporary ? "TEMPORARY " : "") +
          "TABLE " + tx.quote_name(table) + " (LIKE " + tx.quote_name(shape.name) +
          " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)");
  if (key == Key::now) add_primary_key(tx, shape, suffix);
}

// Builds the indexes of the tables named with `suffix` (and their primary keys, with
// Key::after_load) on two connections at once, widest first: each build is a sort of the whole
// table, and one build alone leaves a core idle for much of it. A primary key is built as a
// unique index and then made the key, which takes no time.
void build_indexes(const ConnectionOptions& database, const std::vector<TableShape>& shapes,
                   const std::string& suffix, Key key) {
  struct Build {
    std::string table;
    std::string index;
    std::string columns;
    bool unique;
  };
  std::vector<Build> builds;
  for (const auto& shape : shapes) {
    const std::string table = shape.name + suffix;
    if (key == Key::after_load) builds.push_back({table, table + "_pkey", shape.primary_key, true});
    for (const auto& [index, columns] : shape.indexes) {
      builds.push_back({table, table + "_" + index, columns, false});
    }
  }
  std::stable_sort(builds.begin(), builds.end(), [](const Build& a, const Build& b) {
    return std::count(a.columns.begin(), a.columns.end(), ',') >
           std::count(b.columns.begin(), b.columns.end(), ',');
  });
  std::mutex mutex;
  std::size_t next = 0;
  std::exception_ptr failure;
  auto lane = [&] {
    try {
      auto connection = connect(database);
      pqxx::nontransaction tx(*connection);
      for (;;) {
        const Build* build = nullptr;
        {
          std::lock_guard lock(mutex);
          if (failure || next == builds.size()) return;
          build = &builds[next++];
        }
        tx.exec(std::string(build->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ") +
                tx.quote_name(build->index) + " ON " + tx.quote_name(build->table) + " " +
                build->columns);
      }
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  std::thread other(lane);
  lane();
  other.join();
  if (failure) std::rethrow_exception(failure);
  if (key == Key::now) return;
  auto connection = connect(database);
  pqxx::work tx(*connection);
  for (const auto& shape : shapes) {
    const std::string key_name = tx.quote_name(shape.name + suffix + "_pkey");
    tx.exec("ALTER TABLE " + tx.quote_name(shape.name + suffix) + " ADD CONSTRAINT " + key_name +
            " PRIMARY KEY USING INDEX " + key_name);
  }
  tx.commit();
}

std::string rebuild_subscription(const TableProjection& projection) {
  return projection.name() + "-rebuild";
}

// Replays the log after `position` in log order into the tables named with "_rebuild", as the
// live projector reads it, a batch per transaction with the rebuild's own checkpoint.
void replay(SubscriptionStore& reader, pqxx::connection& connection,
            const TableProjection& projection, projections::LogPosition& position, int batch_size,
            RebuildResult& result, std::int64_t log_events, Clock::time_point start,
            const ProgressFn& progress) {
  auto last_report = Clock::now();
  for (;;) {
    const auto events = reader.read_after(position, batch_size);
    if (events.empty()) break;
    pqxx::work tx(connection);
    projection.apply(tx, "_rebuild", events, TableKind::private_);
    advance_checkpoint(tx, rebuild_subscription(projection), position, events.back().position);
    tx.commit();
    position = events.back().position;
    result.events += static_cast<std::int64_t>(events.size());
    if (progress && Clock::now() - last_report > std::chrono::milliseconds(200)) {
      progress({result.events, log_events, seconds_since(start)});
      last_report = Clock::now();
    }
  }
}

// Swaps the fresh, indexed tables in. Lock order: the tables, then the live checkpoint; the live
// projector takes the tables first too, so the two cannot deadlock.
void swap_in(SubscriptionStore& reader, pqxx::connection& connection,
             const TableProjection& projection, projections::LogPosition position, int batch_size,
             RebuildResult& result) {
  pqxx::work tx(connection);
  const std::string live = projection.subscription();
  for (const auto& shape : projection.tables()) {
    tx.exec("LOCK TABLE " + tx.quote_name(shape.name) + " IN ACCESS EXCLUSIVE MODE");
  }
  // Every shard's checkpoint of the live projection (its own name alone when it has none yet).
  tx.exec_params(
      std::string("INSERT INTO subscriptions (name) SELECT $1 WHERE NOT EXISTS (SELECT 1 "
                  "FROM subscriptions WHERE ") +
          kCheckpointsOf + ")",
      live);
  tx.exec_params(std::string("SELECT 1 FROM subscriptions WHERE ") + kCheckpointsOf +
                     " ORDER BY name FOR UPDATE",
                 live);
  // Catch up with what was appended during the replay. The reader's own connection sees every
  // commit; the horizon it reads below only grows, and the live projector's checkpoint cannot be
  // beyond it, so the position reached here is at or past the live one.
  for (;;) {
    const auto events = reader.read_after(position, batch_size);
    if (events.empty()) break;
    projection.apply(tx, "_rebuild", events, TableKind::private_);
    position = events.back().position;
    result.events += static_cast<std::int64_t>(events.size());
  }
  for (const auto& shape : projection.tables()) {
    const std::string fresh = shape.name + "_rebuild";
    tx.exec("DROP TABLE " + tx.quote_name(shape.name));
    tx.exec("ALTER TABLE " + tx.quote_name(fresh) + " RENAME TO " + tx.quote_name(shape.name));
    tx.exec("ALTER INDEX " + tx.quote_name(fresh + "_pkey") + " RENAME TO " +
            tx.quote_name(shape.name + "_pkey"));
    for (const auto& [index, columns] : shape.indexes) {
      tx.exec("ALTER INDEX " + tx.quote_name(fresh + "_" + index) + " RENAME TO " +
              tx.quote_name(shape.name + "_" + index));
    }
  }
  // The live projector's next compare-and-set fails, it reloads this checkpoint and goes on
  // from where the rebuild stopped.
  tx.exec_params(std::string("UPDATE subscriptions SET transaction_id = $2::xid8, "
                             "global_position = $3, updated_at = now() WHERE ") +
                     kCheckpointsOf,
                 live, std::to_string(position.transaction_id), position.global_position);
  tx.exec_params("DELETE FROM subscriptions WHERE name = $1", rebuild_subscription(projection));
  result.rows =
      tx.exec("SELECT count(*) FROM " + tx.quote_name(projection.tables().front().name))[0][0]
          .as<std::int64_t>();
  tx.commit();
}

}  // namespace

std::string stream_scan(pqxx::transaction_base& scan, const std::string& bound) {
  // Once the log outgrows effective_cache_size (4 GB by default; the rows of 10,000,000 of the
  // bench's events fill 4.5 GB, those of 1,000,000 a tenth of it), the planner prices each heap
  // page the index visits as a random read and prefers to read the whole log and sort it, spilling
  // gigabytes to disk in work_mem-sized runs: at 10,000,000 events that read took 55-59 s against
  // 40-43 s by the index, and its parallel workers took the cores the fold needed. Stream order is
  // the log's order of creation (order ids are handed out as orders are placed), so the index walks
  // the table nearly in place.
  scan.exec("SET LOCAL enable_sort = off");
  return "SELECT stream_id, stream_version, event_id, event_type, recorded_at, data "
         "FROM events WHERE " +
         bound + " ORDER BY stream_id, stream_version";
}

namespace {

// Folds events stream by stream into `table` through COPY within `write`: with `until` (a
// handled_condition()), every event it admits (what projector shards with those checkpoints
// have applied); without, every event of a transaction below the horizon of the scan's own
// snapshot. Memory holds three fetched pages and one order. Returns the horizon: every event of a
// transaction below it that the bound admits is in the table.
std::uint64_t scan_into(const ConnectionOptions& database, pqxx::dbtransaction& write,
                        const std::string& table, Freeze freeze,
                        const std::optional<std::string>& until, std::int64_t& events,
                        std::int64_t log_events, Clock::time_point start,
                        const ProgressFn& progress) {
  auto reading = connect(database);
  pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> scan(
      *reading);
  const auto horizon =
      scan.exec("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")[0][0].as<std::uint64_t>();
  const std::string bound =
      until ? *until : "transaction_id < " + scan.quote(std::to_string(horizon)) + "::xid8";
  CopyReader copy(scan, stream_scan(scan, bound));

  // The COPY is read on a thread of its own, a page ahead, so the database and libpq go on
  // while this thread folds the current page and the COPY backend writes it.
  constexpr std::size_t kPageBytes = std::size_t{1} << 20;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::string> pages;
  bool exhausted = false;
  bool abandoned = false;
  std::exception_ptr fetch_error;
  std::thread fetcher([&] {
    try {
      for (bool more = true; more;) {
        std::string page;
        more = copy.read(page, kPageBytes);
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return pages.size() < 2 || abandoned; });
        if (abandoned) return;
        if (!page.empty()) pages.push_back(std::move(page));
        changed.notify_all();
      }
    } catch (...) {
      std::lock_guard lock(mutex);
      fetch_error = std::current_exception();
    }
    std::lock_guard lock(mutex);
    exhausted = true;
    changed.notify_all();
  });
  // The fetcher stops and is joined however this scope is left (and before the COPY is
  // cancelled, if it has not ended).
  struct Join {
    std::thread& thread;
    std::mutex& mutex;
    std::condition_variable& changed;
    bool& abandoned;
    ~Join() {
      {
        std::lock_guard lock(mutex);
        abandoned = true;
      }
      changed.notify_all();
      thread.join();
    }
  } join{fetcher, mutex, changed, abandoned};
  auto next_page = [&]() -> std::optional<std::string> {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return !pages.empty() || exhausted; });
    if (pages.empty()) {
      if (fetch_error) std::rethrow_exception(fetch_error);
      return std::nullopt;
    }
    std::string page = std::move(pages.front());
    pages.pop_front();
    changed.notify_all();
    return page;
  };

  CopyWriter out(write, table, kOrderCopyColumns, freeze);
  std::optional<projections::OrderRow> row;
  domain::OrderId current = 0;
  auto last_report = Clock::now();
  std::optional<BinaryRows> rows;
  BinaryRow<6> r;
  while (const auto page = next_page()) {
    if (rows) {
      rows->next_chunk(*page);
    } else {
      rows.emplace(*page);
    }
    std::int64_t read = 0;
    while (rows->next(r)) {
      if (r.count != 6 || !r.fields[0] || !r.fields[1] || !r.fields[2] || !r.fields[3] ||
          !r.fields[4] || !r.fields[5]) {
        throw std::runtime_error("the log's COPY gave a row this build cannot read");
      }
      const auto stream_id = BinaryRows::int64(*r.fields[0]);
      if (stream_id != current) {
        if (row) write_copy_row(out, *row);
        row.reset();
        current = stream_id;
      }
      fold_order_event(row, stream_id, BinaryRows::int64(*r.fields[1]), *r.fields[3],
                       BinaryRows::jsonb_text(*r.fields[5]),
                       rfc3339_of_timestamptz(BinaryRows::int64(*r.fields[4])),
                       uuid_text(*r.fields[2]));
      ++read;
    }
    events += read;
    if (progress && Clock::now() - last_report > std::chrono::milliseconds(200)) {
      progress({events, log_events, seconds_since(start)});
      last_report = Clock::now();
    }
  }
  if (!rows || !rows->ended())
    throw std::runtime_error("the log's COPY ended without its end marker");
  if (row) write_copy_row(out, *row);
  out.complete();
  return horizon;
}

}  // namespace

RebuildResult rebuild_orders(const ConnectionOptions& database, int batch_size,
                             const ProgressFn& progress) {
  static const OrdersTable kOrders;
  const auto start = Clock::now();
  auto connection = connect(database);
  SubscriptionStore reader(database, rebuild_subscription(kOrders));
  if (!reader.try_acquire()) throw std::runtime_error("another rebuild of orders is running");

  const std::int64_t log_events = log_size(*connection);

  // Phase 1, the bulk of the log: every event of a transaction older than the horizon of one
  // snapshot, read in stream order so each order is folded whole and written once, by COPY.
  RebuildResult result;
  std::uint64_t horizon = 0;
  {
    // Created in the transaction that loads it, so the load can write its rows frozen: the
    // index builds that read them next, and whoever reads the table after, find them visible
    // without looking up their transaction and setting hint bits, which dirties every page
    // again. At 10,000,000 events: 110.2 s a rebuild before, 101.8 s after (means of 3).
    pqxx::work write(*connection);
    for (const auto& shape : kOrders.tables()) {
      create_table(write, shape, "_rebuild", Durability::logged, Key::after_load);
    }
    horizon = scan_into(database, write, "orders_rebuild", Freeze::yes, std::nullopt, result.events,
                        log_events, start, progress);
    write.commit();
  }
  // Phase 2 upserts by the key. The scan wrote each stream once, so it holds by construction.
  build_indexes(database, kOrders.tables(), "_rebuild", Key::after_load);

  // Phase 2: events of transactions at or past the horizon, in log order, as the live projector
  // reads them; the rebuild's checkpoint starts just below the horizon.
  reader.rewind();
  projections::LogPosition position = reader.load();
  {
    pqxx::work tx(*connection);
    const projections::LogPosition below{horizon - 1, std::numeric_limits<std::int64_t>::max()};
    advance_checkpoint(tx, rebuild_subscription(kOrders), position, below);
    tx.commit();
    position = below;
  }
  replay(reader, *connection, kOrders, position, batch_size, result, log_events, start, progress);
  swap_in(reader, *connection, kOrders, position, batch_size, result);
  result.seconds = seconds_since(start);
  if (progress) progress({result.events, std::max(log_events, result.events), result.seconds});
  return result;
}

RebuildResult rebuild_read_model(const ConnectionOptions& database,
                                 const TableProjection& projection, int batch_size,
                                 const ProgressFn& progress) {
  const auto start = Clock::now();
  auto connection = connect(database);
  SubscriptionStore reader(database, rebuild_subscription(projection));
  if (!reader.try_acquire()) {
    throw std::runtime_error("another rebuild of " + projection.name() + " is running");
  }
  {
    pqxx::work tx(*connection);
    for (const auto& shape : projection.tables()) {
      create_table(tx, shape, "_rebuild", Durability::logged);
    }
    tx.commit();
  }
  const std::int64_t log_events = log_size(*connection);
  RebuildResult result;
  reader.rewind();
  projections::LogPosition position = reader.load();
  replay(reader, *connection, projection, position, batch_size, result, log_events, start,
         progress);
  build_indexes(database, projection.tables(), "_rebuild", Key::now);
  swap_in(reader, *connection, projection, position, batch_size, result);
  result.seconds = seconds_since(start);
  if (progress) progress({result.events, std::max(log_events, result.events), result.seconds});
  return result;
}

std::vector<Difference> verify_orders(const ConnectionOptions& database,
                                      const ProgressFn& progress) {
  const auto start = Clock::now();
  auto connection = connect(database);
  const std::int64_t log_events = log_size(*connection);

  // One snapshot for the live projector's checkpoint and the rows it wrote with it (it writes
  // both in one transaction), so the projector goes on writing meanwhile. ACCESS SHARE, what any
  // reader holds, only keeps a rebuild from swapping the table away before the comparison.
  pqxx::transaction<pqxx::isolation_level::repeatable_read> tx(*connection);
  tx.exec("LOCK TABLE orders IN ACCESS SHARE MODE");
  // Each shard's checkpoint bounds the events of its own streams.
  const std::string until = handled_condition(tx, kOrdersProjector);
  // The fold is held in a temporary table, which lives in the session's own buffers: 8 MB by
  // default, so a large one went to disk and back. It can grow only before the first use.
  tx.exec("SET LOCAL temp_buffers = '256MB'");
  const TableShape shape = OrdersTable{}.tables().front();
  create_table(tx, shape, "_verify", Durability::temporary, Key::after_load);
  // Everything at or before the checkpoint, folded in stream order, as a rebuild does; keyed
  // and analysed after the load, so the comparison below joins by the two keys in order.
  std::int64_t replayed = 0;
  // Not frozen: this transaction has held its snapshot since the checkpoint was read.
  scan_into(database, tx, "orders_verify", Freeze::no, until, replayed, log_events, start,
            progress);
  add_primary_key(tx, shape, "_verify");
  tx.exec("ANALYZE orders_verify");

  std::vector<Difference> differences;
  const pqxx::result rows = tx.exec(R"(
SELECT coalesce(f.order_id, m.order_id),
       CASE WHEN m.order_id IS NULL THEN 'missing from the read model'
            WHEN f.order_id IS NULL THEN 'in the read model but not in the log'
            ELSE 'differs: ' || concat_ws(', ',
              CASE WHEN f.user_id <> m.user_id THEN 'user_id ' || f.user_id || ' in the log, ' || m.user_id || ' in the read model' END,
              CASE WHEN f.status <> m.status THEN 'status ' || f.status || ' in the log, ' || m.status || ' in the read model' END,
              CASE WHEN f.total_cents <> m.total_cents THEN 'total_cents ' || f.total_cents || ' in the log, ' || m.total_cents || ' in the read model' END,
              CASE WHEN f.items::jsonb <> m.items::jsonb THEN 'items' END,
              CASE WHEN f.version <> m.version THEN 'version ' || f.version || ' in the log, ' || m.version || ' in the read model' END,
              CASE WHEN f.created_at <> m.created_at OR f.updated_at <> m.updated_at THEN 'times' END,
              CASE WHEN (f.payment_reference, f.carrier, f.tracking_number, f.cancel_reason)
                     <> (m.payment_reference, m.carrier, m.tracking_number, m.cancel_reason) THEN 'lifecycle fields' END)
       END
FROM orders_verify f FULL OUTER JOIN orders m ON f.order_id = m.order_id
WHERE f.order_id IS NULL OR m.order_id IS NULL
   OR (f.user_id, f.status, f.total_cents, f.version, f.created_at, f.updated_at,
       f.payment_reference, f.carrier, f.tracking_number, f.cancel_reason)
      IS DISTINCT FROM
      (m.user_id, m.status, m.total_cents, m.version, m.created_at, m.updated_at,
       m.payment_reference, m.carrier, m.tracking_number, m.cancel_reason)
   -- Items are written by one encoder, so equal text is the rule; jsonb only judges the rest.
   OR (f.items::text <> m.items::text AND f.items::jsonb <> m.items::jsonb)
ORDER BY 1)");
  for (const auto& row : rows) {
    differences.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>()});
  }
  tx.abort();  // drops the temporary table, releases the lock
  if (progress) progress({replayed, std::max(log_events, replayed), seconds_since(start)});
  return differences;
}

std::vector<Difference> verify_read_model(const ConnectionOptions& database,
                                          const TableProjection& projection,
                                          const ProgressFn& progress) {
  const auto start = Clock::now();
  auto connection = connect(database);
  const std::int64_t log_events = log_size(*connection);

  // The snapshot rule of verify_orders: the live checkpoint and the rows written with it, read
  // in one snapshot while the projector goes on; ACCESS SHARE keeps a rebuild from swapping.
  pqxx::transaction<pqxx::isolation_level::repeatable_read> tx(*connection);
  for (const auto& shape : projection.tables()) {
    tx.exec("LOCK TABLE " + tx.quote_name(shape.name) + " IN ACCESS SHARE MODE");
  }
  const std::string until = handled_condition(tx, projection.subscription());
  for (const auto& shape : projection.tables()) {
    create_table(tx, shape, "_verify", Durability::temporary);
  }
  // Everything at or before the checkpoint, in log order, as the live projector folded it.
  tx.exec(std::string("DECLARE verify_scan NO SCROLL CURSOR FOR SELECT ") + kLogEventColumns +
          " FROM events e WHERE " + until + " ORDER BY e.transaction_id, e.global_position");
  std::int64_t replayed = 0;
  auto last_report = Clock::now();
  for (;;) {
    const pqxx::result page = tx.exec("FETCH 5000 FROM verify_scan");
    if (page.empty()) break;
    const std::vector<projections::LogEvent> events = log_events_from(page);
    projection.apply(tx, "_verify", events, TableKind::private_);
    replayed += static_cast<std::int64_t>(events.size());
    if (progress && Clock::now() - last_report > std::chrono::milliseconds(200)) {
      progress({replayed, log_events, seconds_since(start)});
      last_report = Clock::now();
    }
  }

  std::vector<Difference> differences;
  for (const auto& shape : projection.tables()) {
    const std::string fresh = tx.quote_name(shape.name + "_verify");
    const std::string table = tx.quote_name(shape.name);
    const pqxx::result rows =
        tx.exec("SELECT 'missing from the read model: ' || f::text FROM (SELECT * FROM " + fresh +
                " EXCEPT ALL SELECT * FROM " + table +
                ") f UNION ALL "
                "SELECT 'in the read model but not in the log: ' || m::text FROM (SELECT * FROM " +
                table + " EXCEPT ALL SELECT * FROM " + fresh + ") m ORDER BY 1");
    for (const auto& row : rows) {
      differences.push_back({0, shape.name + ": " + row[0].as<std::string>()});
    }
  }
  tx.abort();  // drops the temporary tables, releases the locks
  if (progress) progress({replayed, std::max(log_events, replayed), seconds_since(start)});
  return differences;
}

}  // namespace order::pg
