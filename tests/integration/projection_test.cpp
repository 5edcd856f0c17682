// The orders read model against a real PostgreSQL: guarantees 5 (exactly-once in effect) and 6
// (a rebuild swapped in atomically, with the API still answering).
#include <doctest/doctest.h>

#include <pqxx/pqxx>
#include <thread>

#include "adapters/pg/orders_table.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "adapters/pg/pg_order_read_model.hpp"
#include "adapters/pg/rebuild.hpp"
#include "adapters/pg/subscription_store.hpp"
#include "catch_up.hpp"
#include "commands/order_commands.hpp"
#include "fresh_database.hpp"
#include "tools/subscriptions.hpp"

namespace {

using namespace order;
using order::testing::FreshDatabase;
using namespace std::chrono_literals;

// Places `count` orders and moves each along the lifecycle by its index, so every event type
// appears: pending, paid, shipped, delivered, cancelled.
void write_orders(pg::PgEventStore& store, int count) {
  commands::OrderCommands commands(store);
  for (int i = 0; i < count; ++i) {
    const auto placed = commands.place(100 + i % 7, {{1001, 1 + i % 3, domain::Money{499}}}, {});
    REQUIRE(placed.ok());
    const auto& order = placed.accepted.order;
    const domain::OrderId id = order.id;
    switch (i % 5) {
      case 0:
        break;
      case 1:
        commands.execute(domain::PayOrder{id, "P", order.total}, {}, {});
        break;
      case 2:
        commands.execute(domain::PayOrder{id, "P", order.total}, {}, {});
        commands.execute(domain::ShipOrder{id, "DHL", "T"}, {}, {});
        break;
      case 3:
        commands.execute(domain::PayOrder{id, "P", order.total}, {}, {});
        commands.execute(domain::ShipOrder{id, "DHL", "T"}, {}, {});
        commands.execute(domain::DeliverOrder{id}, {}, {});
        break;
      case 4:
        commands.execute(domain::CancelOrder{id, "no"}, {}, {});
        break;
    }
  }
}

void project_all(runtime::RunningSubscription& projector, const FreshDatabase& db) {
  order::testing::catch_up(projector, db, pg::kOrdersProjector);
}

// Events of the log the live projector has not yet passed.
std::int64_t unprojected(const FreshDatabase& db) {
  return order::testing::unhandled(db, pg::kOrdersProjector);
}

// Verifies until the live projector has caught up with the log and no difference is left, or
// `timeout` passed; returns the last differences found.
std::vector<pg::Difference> verify_once_caught_up(const FreshDatabase& db,
                                                  std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<pg::Difference> differences;
  bool caught_up = false;
  do {
    std::this_thread::sleep_for(200ms);
    caught_up = unprojected(db) == 0;
    differences = pg::verify_orders({db.url()}, {});
  } while ((!caught_up || !differences.empty()) && std::chrono::steady_clock::now() < deadline);
  return differences;
}

std::string describe(const std::vector<pg::Difference>& differences) {
  std::string out;
  for (const auto& d : differences) out += std::to_string(d.order_id) + ": " + d.description + "; ";
  return out;
}

}  // namespace

TEST_CASE("the projector folds every event type into the read model, which verify confirms") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  write_orders(store, 50);
  auto projector = runtime::orders_projection({.database = {db.url()}, .batch_size = 7});
  project_all(*projector, db);

  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM orders") == 50);
  CHECK(db.scalar<std::int64_t>("SELECT count(DISTINCT status) FROM orders") == 5);
  CHECK(db.scalar<std::int64_t>(
            "SELECT count(*) FROM orders WHERE status = 'delivered' AND version = 4") == 10);
  const auto differences = pg::verify_orders({db.url()}, {});
  CHECK_MESSAGE(differences.empty(), describe(differences));

  // GET /orders' query: by user and status, keyset-paginated.
  pg::PgOrderReadModel read_model({db.url()});
  const auto page = read_model.list_orders(
      {.user_id = 100, .status = domain::OrderStatus::pending, .after = 0, .limit = 100});
  for (const auto& row : page.rows) {
    CHECK(row.order.user_id == 100);
    CHECK(row.order.status == domain::OrderStatus::pending);
  }
  CHECK_FALSE(page.rows.empty());
  CHECK(page.lag.events == 0);
}

TEST_CASE(
    "the projector writes as a read model's session, which readers of the log do not wait for") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  write_orders(store, 3);
  auto projector = runtime::orders_projection({.database = {db.url()}, .batch_size = 10});
  CHECK(projector->step() > 0);
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND application_name = '" +
                                std::string(pg::kReadModelSession) + "'") == 1);
}

TEST_CASE("replaying a batch into the read model changes nothing") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  write_orders(store, 20);
  auto projector = runtime::orders_projection({.database = {db.url()}});
  project_all(*projector, db);
  const auto before =
      db.scalar<std::string>("SELECT string_agg(o::text, '|' ORDER BY order_id) FROM orders o");

  // Apply the whole log again on top, as a crash between write and checkpoint would.
  pg::SubscriptionStore reader({db.url()}, "replay");
  const auto events = reader.read_after({}, 100000);
  pqxx::connection connection(db.url());
  pqxx::work tx(connection);
  pg::OrdersTable{}.apply(tx, "", events, pg::TableKind::shared);
  // And a batch of first events alone, each order's row already past it.
  std::vector<projections::LogEvent> firsts;
  for (const auto& event : events) {
    if (event.stream_version == 1) firsts.push_back(event);
  }
  REQUIRE(firsts.size() == 20);
  REQUIRE(db.scalar<std::int64_t>("SELECT count(*) FROM orders WHERE version > 1") > 0);
  pg::OrdersTable{}.apply(tx, "", firsts, pg::TableKind::shared);
  tx.commit();
  CHECK(db.scalar<std::string>("SELECT string_agg(o::text, '|' ORDER BY order_id) FROM orders o") ==
        before);
}

TEST_CASE("a projector that dies mid-way resumes from its checkpoint with nothing lost") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  write_orders(store, 40);
  {
    auto first = runtime::orders_projection({.database = {db.url()}, .batch_size = 10});
    CHECK(first->step() == 10);
    CHECK(first->step() == 10);
    // Destroyed without stopping: its connection and lock vanish as with a crash.
  }
  CHECK(db.scalar<std::int64_t>(
            "SELECT global_position FROM subscriptions WHERE name = 'orders-projector'") > 0);
  auto second = runtime::orders_projection({.database = {db.url()}, .batch_size = 10});
  project_all(*second, db);
  const auto differences = pg::verify_orders({db.url()}, {});
  CHECK_MESSAGE(differences.empty(), describe(differences));
}

TEST_CASE("verify catches a corrupted read model and a rebuild restores it") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  write_orders(store, 30);
  auto projector = runtime::orders_projection({.database = {db.url()}});
  project_all(*projector, db);

  pqxx::connection connection(db.url());
  pqxx::nontransaction tx(connection);
  const auto victims = tx.exec("SELECT order_id FROM orders ORDER BY order_id LIMIT 5");
  tx.exec("DELETE FROM orders WHERE order_id = " + victims[0][0].as<std::string>());
  tx.exec("UPDATE orders SET status = 'delivered' WHERE order_id = " +
          victims[1][0].as<std::string>());
  tx.exec("UPDATE orders SET total_cents = 1 WHERE order_id = " + victims[2][0].as<std::string>());
  tx.exec("UPDATE orders SET items = '[]' WHERE order_id = " + victims[3][0].as<std::string>());
  // The same items written as other text (jsonb's spacing) are the same items, not a difference.
  const std::string respaced = "order_id = " + victims[4][0].as<std::string>();
  REQUIRE(
      db.scalar<bool>("SELECT items::text <> items::jsonb::text FROM orders WHERE " + respaced));
  tx.exec("UPDATE orders SET items = items::jsonb::text::json WHERE " + respaced);
  tx.exec(
      "INSERT INTO orders (order_id, user_id, status, total_cents, items, version, created_at, "
      "updated_at) VALUES (999999, 1, 'paid', 100, '[]', 2, now(), now())");

  const auto found = pg::verify_orders({db.url()}, {});
  REQUIRE(found.size() == 5);
  CHECK(found[0].description == "missing from the read model");
  CHECK(found[1].description.find("status") != std::string::npos);
  CHECK(found[2].description.find("total_cents") != std::string::npos);
  CHECK(found[3].description == "differs: items");
  CHECK(found[4].order_id == 999999);

  const auto rebuilt = pg::rebuild_orders({db.url()}, 7, {});
  CHECK(rebuilt.rows == 30);
  // The rows went in frozen (COPY's FREEZE), so every page of the new table is all-visible from
  // the start, as the index builds' count of the visibility map recorded.
  const auto pages =
      db.scalar<std::int64_t>("SELECT relpages FROM pg_class WHERE oid = 'orders'::regclass");
  CHECK(pages > 0);
  CHECK(db.scalar<std::int64_t>(
            "SELECT relallvisible FROM pg_class WHERE oid = 'orders'::regclass") == pages);
  const auto after = pg::verify_orders({db.url()}, {});
  CHECK_MESSAGE(after.empty(), describe(after));
}

TEST_CASE("a rebuild while writers append and the live projector runs loses nothing") {
  FreshDatabase db;
  {
    pg::PgEventStore store({db.url()});
    write_orders(store, 200);
  }
  auto live = runtime::orders_projection({.database = {db.url()}, .batch_size = 50});
  live->start();

  std::atomic<bool> writing{true};
  std::atomic<int> reads_failed{0};
  std::thread writer([&] {
    pg::PgEventStore store({db.url()});
    while (writing) write_orders(store, 1);
  });
  std::thread reader([&] {  // the API's listing keeps answering during the rebuild
    pg::PgOrderReadModel read_model({db.url()});
    while (writing) {
      try {
        read_model.list_orders({.limit = 10});
      } catch (const std::exception&) {
        ++reads_failed;
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  const auto rebuilt = pg::rebuild_orders({db.url()}, 20, {});
  std::this_thread::sleep_for(300ms);
  writing = false;
  writer.join();
  reader.join();
  CHECK(rebuilt.events > 0);
  CHECK(reads_failed == 0);

  // Let the live projector, now on the rebuilt table, catch up; then compare.
  const auto differences = verify_once_caught_up(db, 30s);
  live->stop();
  CHECK_MESSAGE(differences.empty(), describe(differences));
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM orders") ==
        db.scalar<std::int64_t>("SELECT count(*) FROM streams"));
}

TEST_CASE("verify, while writers append and the live projector runs, finds no difference") {
  FreshDatabase db;
  {
    pg::PgEventStore store({db.url()});
    write_orders(store, 100);
  }
  auto live = runtime::orders_projection({.database = {db.url()}, .batch_size = 7});
  live->start();
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    pg::PgEventStore store({db.url()});
    while (writing) write_orders(store, 1);
  });
  // Each verify compares the rows and the checkpoint of one snapshot, however far the projector
  // has got and however much the writer has appended beyond it; and it does not stop the
  // projector, which keeps moving its checkpoint meanwhile. Verifies run back to back, at least
  // five, until the checkpoint has moved: five took less than the projector's 100 ms of
  // gathering on a fast machine, and the checkpoint had not moved yet.
  std::this_thread::sleep_for(200ms);
  const auto checkpoint = [&] {
    return db.scalar<std::int64_t>(
        "SELECT global_position FROM subscriptions WHERE name = 'orders-projector'");
  };
  const auto before = checkpoint();
  auto after = before;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (int round = 0; round < 5 || (after == before && std::chrono::steady_clock::now() < deadline);
       ++round) {
    const auto differences = pg::verify_orders({db.url()}, {});
    CHECK_MESSAGE(differences.empty(), "round " << round << ": " << describe(differences));
    after = checkpoint();
  }
  writing = false;
  writer.join();
  live->stop();
  CHECK(after > before);
}

TEST_CASE("a rebuild leaves an event of a transaction still in flight to the live projector") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  write_orders(store, 10);
  auto live = runtime::orders_projection({.database = {db.url()}, .batch_size = 50});
  live->start();

  // A transaction takes an early transaction id and stays open while later orders commit: the
  // rebuild's snapshot horizon is below all of them, so its scan takes none of these and its
  // catch-up cannot pass the open one; the live projector applies them once it commits.
  const auto committed_before = db.scalar<std::int64_t>("SELECT count(*) FROM events");
  pqxx::connection late_connection(db.url());
  pqxx::work late(late_connection);
  const auto late_id = late.exec("SELECT nextval('order_ids')")[0][0].as<std::int64_t>();
  late.exec("INSERT INTO streams VALUES (" + std::to_string(late_id) + ", 1)");
  late.exec("INSERT INTO events (stream_id, stream_version, event_type, data) VALUES (" +
            std::to_string(late_id) +
            ", 1, 'order.created', '{\"orderid\": " + std::to_string(late_id) +
            ", \"userid\": 7, \"totalamount\": \"4.99\", \"status\": \"pending\", \"items\": "
            "[{\"product_id\": 1, \"quantity\": 1, \"price\": 4.99}]}')");
  write_orders(store, 10);

  const auto rebuilt = pg::rebuild_orders({db.url()}, 7, {});
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM orders WHERE order_id = " +
                                std::to_string(late_id)) == 0);
  late.commit();

  const auto differences = verify_once_caught_up(db, 30s);
  live->stop();
  CHECK_MESSAGE(differences.empty(), describe(differences));
  CHECK(rebuilt.events == committed_before);
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM orders WHERE order_id = " +
                                std::to_string(late_id)) == 1);
}

TEST_CASE("a rebuild reads the log by its stream index where the planner would rather sort it") {
  FreshDatabase db;
  REQUIRE(db.scalar<std::int64_t>(
              "WITH log AS (INSERT INTO events (stream_id, stream_version, event_type, data) "
              "SELECT s, v, 'order.placed', '{}' FROM generate_series(1, 20000) s, "
              "generate_series(1, 2) v RETURNING 1) SELECT count(*) FROM log") == 40000);
  pqxx::connection connection(db.url());
  pqxx::nontransaction(connection).exec("ANALYZE events");
  // The log larger than the cache the planner assumes, as 10,000,000 events are against the
  // default effective_cache_size of 4 GB: the planner, left to itself, sorts the whole log.
  const std::string bound = "transaction_id < '1000000000'::xid8";
  auto plan_of = [](pqxx::work& tx, const std::string& query) {
    std::string plan;
    for (const auto& row : tx.exec("EXPLAIN " + query)) plan += row[0].as<std::string>() + "\n";
    return plan;
  };
  std::string query;
  std::string pinned;
  {
    pqxx::work tx(connection);
    tx.exec("SET LOCAL effective_cache_size = '64kB'");
    query = pg::stream_scan(tx, bound);
    pinned = plan_of(tx, query);
  }
  pqxx::work tx(connection);
  tx.exec("SET LOCAL effective_cache_size = '64kB'");
  const std::string left_alone = plan_of(tx, query);
  CAPTURE(left_alone);
  REQUIRE(left_alone.find("Sort") != std::string::npos);

  CAPTURE(pinned);
  CHECK(pinned.find("Index Scan using events_stream_version_unique on events") !=
        std::string::npos);
  CHECK(pinned.find("Sort") == std::string::npos);
}
