// Rebuild: replay into orders_rebuild, index, swap under lock. Verify: fold into a temporary
// table and compare.
#include "adapters/pg/rebuild.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <limits>
#include <optional>
#include <string_view>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>

#include "adapters/json/order_codec.hpp"
#include "adapters/pg/orders_table.hpp"
#include "adapters/pg/subscription_store.hpp"
#include "projections/order_projection.hpp"

namespace order::pg {
namespace {

constexpr const char* kRebuildSubscriber = "orders-rebuild";


using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::int64_t log_size(pqxx::connection& connection) {
  pqxx::nontransaction tx(connection);
  return tx.exec("SELECT coalesce(max(global_position), 0) FROM events")[0][0].as<std::int64_t>();
}

enum class Durability { temporary, logged };

void create_table(pqxx::transaction_base& tx, const std::string& table, Durability durability) {
  tx.exec("CREATE " + std::string(durability == Durability::temporary ? "TEMPORARY " : "") +
          "TABLE " + tx.quote_name(table) +
          " (LIKE orders INCLUDING DEFAULTS INCLUDING CONSTRAINTS)");
  tx.exec("ALTER TABLE " + tx.quote_name(table) + " ADD CONSTRAINT " +
          tx.quote_name(table + "_pkey") + " PRIMARY KEY (order_id)");
}


// Folds events stream by stream into `table` through COPY within `write`: with `until`, every
// event at or before that log position (what a projector with that checkpoint has applied);
// without, every event of a transaction below the horizon of the scan's own snapshot. Memory
// holds three fetched pages and one order. Returns the horizon: every event of a transaction
// below it that the bound admits is in the table.
std::uint64_t scan_into(const ConnectionOptions& database, pqxx::transaction_base& write,
                        const std::string& table,
                        const std::optional<projections::LogPosition>& until,
                        std::int64_t& events, std::int64_t log_events, Clock::time_point start,
                        const ProgressFn& progress) {
  auto reading = connect(database);
  pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> scan(
      *reading);
  const auto horizon =
      scan.exec("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")[0][0].as<std::uint64_t>();
  const std::string bound =
      until ? "(transaction_id, global_position) <= (" +
                  scan.quote(std::to_string(until->transaction_id)) + "::xid8, " +
                  scan.quote(until->global_position) + "::bigint)"
            : "transaction_id < " + scan.quote(std::to_string(horizon)) + "::xid8";
  scan.exec(
      "DECLARE rebuild_scan NO SCROLL CURSOR FOR "
      "SELECT stream_id, stream_version, event_id::text, event_type, "
      "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), data::text "
      "FROM events WHERE " + bound + " ORDER BY stream_id, stream_version");

  // Pages are fetched on a thread of their own, one ahead, so the database reads the next page
  // while this thread folds the current one and the COPY backend writes it.
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<pqxx::result> pages;
  bool exhausted = false;
  bool abandoned = false;
  std::exception_ptr fetch_error;
  std::thread fetcher([&] {
    try {
      for (;;) {
        pqxx::result page = scan.exec("FETCH 10000 FROM rebuild_scan");
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return pages.size() < 2 || abandoned; });
        if (abandoned) return;
        if (page.empty()) break;
        pages.push_back(std::move(page));
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
  // The fetcher stops and is joined however this scope is left.
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
  auto next_page = [&]() -> std::optional<pqxx::result> {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return !pages.empty() || exhausted; });
    if (pages.empty()) {
      if (fetch_error) std::rethrow_exception(fetch_error);
      return std::nullopt;
    }
    pqxx::result page = std::move(pages.front());
    pages.pop_front();
    changed.notify_all();
    return page;
  };

  pqxx::stream_to out(write, table, kOrderCopyColumns);
  std::optional<projections::OrderRow> row;
  domain::OrderId current = 0;
  auto last_report = Clock::now();
  while (const auto page = next_page()) {
    for (const auto& r : *page) {
      const auto stream_id = r[0].as<domain::OrderId>();
      if (stream_id != current) {
        if (row) write_copy_row(out, *row);
        row.reset();
        current = stream_id;
      }
      fold_order_event(row, stream_id, r[1].as<std::int64_t>(),
                      std::string_view(r[3].c_str(), r[3].size()),
                      std::string_view(r[5].c_str(), r[5].size()), r[4].as<std::string>(),
                      std::string_view(r[2].c_str(), r[2].size()));
    }
    events += static_cast<std::int64_t>(page->size());
    if (progress && Clock::now() - last_report > std::chrono::milliseconds(200)) {
      progress({events, log_events, seconds_since(start)});
      last_report = Clock::now();
    }
  }
  if (row) write_copy_row(out, *row);
  out.complete();
  return horizon;
}

}  // namespace

RebuildResult rebuild_orders(const ConnectionOptions& database, int batch_size,
                             const ProgressFn& progress) {
  const auto start = Clock::now();
  auto connection = connect(database);
  SubscriptionStore reader(database, kRebuildSubscriber);
  if (!reader.try_acquire()) throw std::runtime_error("another rebuild of orders is running");

  {
    pqxx::work tx(*connection);
    tx.exec("DROP TABLE IF EXISTS orders_rebuild");
    create_table(tx, "orders_rebuild", Durability::logged);
    tx.commit();
  }
  const std::int64_t log_events = log_size(*connection);

  // Phase 1, the bulk of the log: every event of a transaction older than the horizon of one
  // snapshot, read in stream order so each order is folded whole and written once, by COPY.
  RebuildResult result;
  std::uint64_t horizon = 0;
  {
    pqxx::work write(*connection);
    horizon = scan_into(database, write, "orders_rebuild", std::nullopt, result.events, log_events,
                        start, progress);
    write.commit();
  }

  // Phase 2: events of transactions at or past the horizon, in log order, as the live projector
  // reads them; the rebuild's checkpoint starts just below the horizon.
  reader.rewind();
  projections::LogPosition position = reader.load();
  {
    pqxx::work tx(*connection);
    const projections::LogPosition below{horizon - 1, std::numeric_limits<std::int64_t>::max()};
    advance_checkpoint(tx, kRebuildSubscriber, position, below);
    tx.commit();
    position = below;
  }
  auto last_report = Clock::now();
  for (;;) {
    const auto events = reader.read_after(position, batch_size);
    if (events.empty()) break;
    pqxx::work tx(*connection);
    OrdersTable{}.apply(tx, "orders_rebuild", events, TableKind::private_);
    advance_checkpoint(tx, kRebuildSubscriber, position, events.back().position);
    tx.commit();
    position = events.back().position;
    result.events += static_cast<std::int64_t>(events.size());
    if (progress && Clock::now() - last_report > std::chrono::milliseconds(200)) {
      progress({result.events, log_events, seconds_since(start)});
      last_report = Clock::now();
    }
  }

  {
    pqxx::work tx(*connection);
    for (const auto& [suffix, columns] : kOrderIndexes) {
      tx.exec("CREATE INDEX orders_rebuild_" + suffix + " ON orders_rebuild " + columns);
    }
    tx.commit();
  }

  // The swap. Lock order: the table, then the live checkpoint; the live projector takes the
  // table first too, so the two cannot deadlock.
  pqxx::work tx(*connection);
  tx.exec("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE");
  tx.exec("INSERT INTO subscriptions (name) VALUES (" + tx.quote(kOrdersProjector) +
          ") ON CONFLICT (name) DO NOTHING");
  tx.exec("SELECT 1 FROM subscriptions WHERE name = " + tx.quote(kOrdersProjector) + " FOR UPDATE");
  // Catch up with what was appended during the replay. The reader's own connection sees every
  // commit; the horizon it reads below only grows, and the live projector's checkpoint cannot be
  // beyond it, so the position reached here is at or past the live one.
  for (;;) {
    const auto events = reader.read_after(position, batch_size);
    if (events.empty()) break;
    OrdersTable{}.apply(tx, "orders_rebuild", events, TableKind::private_);
    position = events.back().position;
    result.events += static_cast<std::int64_t>(events.size());
  }
  tx.exec("DROP TABLE orders");
  tx.exec("ALTER TABLE orders_rebuild RENAME TO orders");
  tx.exec("ALTER INDEX orders_rebuild_pkey RENAME TO orders_pkey");
  for (const auto& [suffix, columns] : kOrderIndexes) {
    tx.exec("ALTER INDEX orders_rebuild_" + suffix + " RENAME TO orders_" + suffix);
  }
  // The live projector's next compare-and-set fails, it reloads this checkpoint and goes on
  // from where the rebuild stopped.
  tx.exec_params(
      "UPDATE subscriptions SET transaction_id = $2::xid8, global_position = $3, "
      "updated_at = now() WHERE name = $1",
      kOrdersProjector, std::to_string(position.transaction_id), position.global_position);
  tx.exec_params("DELETE FROM subscriptions WHERE name = $1", kRebuildSubscriber);
  result.rows = tx.exec("SELECT count(*) FROM orders")[0][0].as<std::int64_t>();
  tx.commit();
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
  const auto live = tx.exec_params(
      "SELECT transaction_id::text, global_position FROM subscriptions WHERE name = $1",
      kOrdersProjector);
  const projections::LogPosition until =
      live.empty() ? projections::LogPosition{}
                   : projections::LogPosition{live[0][0].as<std::uint64_t>(),
                                              live[0][1].as<std::int64_t>()};
  create_table(tx, "orders_verify", Durability::temporary);
  // Everything at or before the checkpoint, folded in stream order, as a rebuild does.
  std::int64_t replayed = 0;
  scan_into(database, tx, "orders_verify", until, replayed, log_events, start, progress);

  std::vector<Difference> differences;
  const pqxx::result rows = tx.exec(R"(
SELECT coalesce(f.order_id, m.order_id),
       CASE WHEN m.order_id IS NULL THEN 'missing from the read model'
            WHEN f.order_id IS NULL THEN 'in the read model but not in the log'
            ELSE 'differs: ' || concat_ws(', ',
              CASE WHEN f.user_id <> m.user_id THEN 'user_id ' || f.user_id || ' in the log, ' || m.user_id || ' in the read model' END,
              CASE WHEN f.status <> m.status THEN 'status ' || f.status || ' in the log, ' || m.status || ' in the read model' END,
              CASE WHEN f.total_cents <> m.total_cents THEN 'total_cents ' || f.total_cents || ' in the log, ' || m.total_cents || ' in the read model' END,
              CASE WHEN f.items <> m.items THEN 'items' END,
              CASE WHEN f.version <> m.version THEN 'version ' || f.version || ' in the log, ' || m.version || ' in the read model' END,
              CASE WHEN f.created_at <> m.created_at OR f.updated_at <> m.updated_at THEN 'times' END,
              CASE WHEN (f.payment_reference, f.carrier, f.tracking_number, f.cancel_reason)
                     <> (m.payment_reference, m.carrier, m.tracking_number, m.cancel_reason) THEN 'lifecycle fields' END)
       END
FROM orders_verify f FULL OUTER JOIN orders m ON f.order_id = m.order_id
WHERE f.order_id IS NULL OR m.order_id IS NULL
   OR (f.user_id, f.status, f.total_cents, f.items, f.version, f.created_at, f.updated_at,
       f.payment_reference, f.carrier, f.tracking_number, f.cancel_reason)
      IS DISTINCT FROM
      (m.user_id, m.status, m.total_cents, m.items, m.version, m.created_at, m.updated_at,
       m.payment_reference, m.carrier, m.tracking_number, m.cancel_reason)
ORDER BY 1)");
  for (const auto& row : rows) {
    differences.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>()});
  }
  tx.abort();  // drops the temporary table, releases the lock
  if (progress) progress({replayed, std::max(log_events, replayed), seconds_since(start)});
  return differences;
}

}  // namespace order::pg
