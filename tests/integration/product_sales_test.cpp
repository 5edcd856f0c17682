// The product_sales read model against a real PostgreSQL, through the same engine, sink, rebuild
// and verifier as orders: exactly once in effect, crash resume, a rebuild under load, and a
// verifier that finds what was planted.
#include <doctest/doctest.h>

#include <atomic>
#include <pqxx/pqxx>
#include <thread>

#include "adapters/pg/pg_event_store.hpp"
#include "adapters/pg/product_sales_table.hpp"
#include "adapters/pg/rebuild.hpp"
#include "adapters/pg/session.hpp"
#include "adapters/pg/subscription_store.hpp"
#include "catch_up.hpp"
#include "commands/order_commands.hpp"
#include "fresh_database.hpp"
#include "tools/subscriptions.hpp"

namespace {

using namespace order;
using order::testing::FreshDatabase;
using namespace std::chrono_literals;

// `count` orders of the seed's two lines (1001 × 2 at 4.99, 1002 × 1 at 3.50); every third is
// cancelled (from pending or, every sixth, once paid), every other one paid and shipped.
// Returns how many were cancelled.
int write_orders(pg::PgEventStore& store, int count) {
  commands::OrderCommands commands(store);
  int cancelled = 0;
  for (int i = 0; i < count; ++i) {
    const auto placed = commands.place(
        100 + i % 7, {{1001, 2, domain::Money{499}}, {1002, 1, domain::Money{350}}}, {});
    REQUIRE(placed.ok());
    const auto& order = placed.accepted.order;
    if (i % 3 == 0) {
      if (i % 6 == 0) commands.execute(domain::PayOrder{order.id, "P", order.total}, {}, {});
      commands.execute(domain::CancelOrder{order.id, "no"}, {}, {});
      ++cancelled;
    } else if (i % 2 == 0) {
      commands.execute(domain::PayOrder{order.id, "P", order.total}, {}, {});
      commands.execute(domain::ShipOrder{order.id, "DHL", "T"}, {}, {});
    }
  }
  return cancelled;
}

void project_all(runtime::RunningSubscription& projection, const FreshDatabase& db) {
  order::testing::catch_up(projection, db, pg::kProductSalesProjector);
}

// Sums over all days, per product: "product units_ordered revenue units_cancelled revenue".
std::string totals(const FreshDatabase& db) {
  return db.scalar<std::string>(
      "SELECT coalesce(string_agg(line, '; ' ORDER BY line), '') FROM (SELECT product_id || ' ' || "
      "sum(units_ordered) || ' ' || sum(revenue_ordered_cents) || ' ' || sum(units_cancelled) || "
      "' ' || sum(revenue_cancelled_cents) AS line FROM product_sales GROUP BY product_id) t");
}

std::string expected_totals(int orders, int cancelled) {
  return "1001 " + std::to_string(2 * orders) + " " + std::to_string(998 * orders) + " " +
         std::to_string(2 * cancelled) + " " + std::to_string(998 * cancelled) + "; 1002 " +
         std::to_string(orders) + " " + std::to_string(350 * orders) + " " +
         std::to_string(cancelled) + " " + std::to_string(350 * cancelled);
}

std::string table_text(const FreshDatabase& db) {
  return db.scalar<std::string>(
      "SELECT coalesce(string_agg(s::text, '|' ORDER BY day, product_id), '') FROM product_sales "
      "s");
}

std::string describe(const std::vector<pg::Difference>& differences) {
  std::string out;
  for (const auto& d : differences) out += d.description + "; ";
  return out;
}

const pg::ProductSalesTable kProductSales;

}  // namespace

TEST_CASE("product sales count what was ordered and cancelled, and verify confirms them") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  const int cancelled = write_orders(store, 30);
  auto projection = runtime::product_sales_projection({.database = {db.url()}, .batch_size = 7});
  project_all(*projection, db);
  CHECK(totals(db) == expected_totals(30, cancelled));
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM product_sales_orders") == 30);

  const auto differences = pg::verify_read_model({db.url()}, kProductSales, {});
  CHECK_MESSAGE(differences.empty(), describe(differences));

  // The report reads the same rows, with money exact.
  pg::Session session({db.url()});
  pg::PgProductSalesReport report(session);
  const auto page = report.sales({.from = "2000-01-01", .to = "2999-12-31", .product_id = 1002});
  std::int64_t units = 0;
  for (const auto& row : page.rows) {
    CHECK(row.key.product_id == 1002);
    units += row.sales.units_ordered;
  }
  CHECK(units == 30);
  CHECK(page.lag.events == 0);
}

TEST_CASE("replaying the log into product sales changes nothing") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  write_orders(store, 20);
  auto projection = runtime::product_sales_projection({.database = {db.url()}});
  project_all(*projection, db);
  const auto before = table_text(db);

  // Apply the whole log again on top, as a crash between write and checkpoint would.
  pg::SubscriptionStore reader({db.url()}, "replay");
  const auto events = reader.read_after({}, 100000);
  pqxx::connection connection(db.url());
  pqxx::work tx(connection);
  kProductSales.apply(tx, "", events, pg::TableKind::shared);
  tx.commit();
  CHECK(table_text(db) == before);
}

TEST_CASE("a product-sales projection that dies mid-way resumes from its checkpoint") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  const int cancelled = write_orders(store, 40);
  {
    auto first = runtime::product_sales_projection({.database = {db.url()}, .batch_size = 10});
    CHECK(first->step() == 10);
    CHECK(first->step() == 10);
    // Destroyed without stopping: its connection and lock vanish as with a crash.
  }
  auto second = runtime::product_sales_projection({.database = {db.url()}, .batch_size = 10});
  project_all(*second, db);
  CHECK(totals(db) == expected_totals(40, cancelled));
  const auto differences = pg::verify_read_model({db.url()}, kProductSales, {});
  CHECK_MESSAGE(differences.empty(), describe(differences));
}

TEST_CASE("verify finds a planted difference in product sales and a rebuild restores it") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  const int cancelled = write_orders(store, 12);
  auto projection = runtime::product_sales_projection({.database = {db.url()}});
  project_all(*projection, db);
  const auto live = table_text(db);

  {
    pqxx::connection connection(db.url());
    pqxx::work tx(connection);
    tx.exec("UPDATE product_sales SET units_ordered = units_ordered + 1 WHERE product_id = 1002");
    tx.exec(
        "DELETE FROM product_sales_orders WHERE order_id = (SELECT min(order_id) FROM "
        "product_sales_orders)");
    tx.commit();
  }
  const auto differences = pg::verify_read_model({db.url()}, kProductSales, {});
  REQUIRE_MESSAGE(differences.size() >= 3, describe(differences));
  CHECK(describe(differences).find("product_sales: ") != std::string::npos);
  CHECK(describe(differences).find("product_sales_orders: missing from the read model") !=
        std::string::npos);

  const auto rebuilt = pg::rebuild_read_model({db.url()}, kProductSales, 7, {});
  CHECK(rebuilt.events > 0);
  CHECK(table_text(db) == live);  // the rebuild equals what the live projection had folded
  CHECK(totals(db) == expected_totals(12, cancelled));
  const auto after = pg::verify_read_model({db.url()}, kProductSales, {});
  CHECK_MESSAGE(after.empty(), describe(after));
  // The swapped-in tables have the migration's index names, so the next rebuild works too.
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM pg_indexes WHERE indexname IN "
                                "('product_sales_pkey', 'product_sales_by_product', "
                                "'product_sales_orders_pkey')") == 3);
  CHECK(pg::rebuild_read_model({db.url()}, kProductSales, 7, {}).events > 0);
}

TEST_CASE(
    "a product-sales rebuild while writers append and the live projection runs loses nothing") {
  FreshDatabase db;
  {
    pg::PgEventStore store({db.url()});
    write_orders(store, 100);
  }
  auto live = runtime::product_sales_projection({.database = {db.url()}, .batch_size = 50});
  live->start();
  std::atomic<bool> writing{true};
  std::atomic<int> written{100};
  std::atomic<int> cancelled{0};
  std::thread writer([&] {
    pg::PgEventStore store({db.url()});
    while (writing) {
      cancelled += write_orders(store, 1);  // i = 0: each of these is paid, then cancelled
      ++written;
    }
  });
  std::this_thread::sleep_for(300ms);
  pg::RebuildResult rebuilt;
  try {
    rebuilt = pg::rebuild_read_model({db.url()}, kProductSales, 20, {});
  } catch (...) {
    writing = false;
    writer.join();
    throw;
  }
  std::this_thread::sleep_for(300ms);
  writing = false;
  writer.join();
  CHECK(rebuilt.events > 0);

  // The live projection goes on from the rebuild's checkpoint; wait until it has the whole log.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         db.scalar<std::int64_t>("SELECT count(*) FROM product_sales_orders") < written) {
    std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(200ms);
  live->stop();
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM product_sales_orders") == written);
  const auto differences = pg::verify_read_model({db.url()}, kProductSales, {});
  CHECK_MESSAGE(differences.empty(), describe(differences));
  // The first 100 orders cancelled 34 (i = 0, 3, …, 99); each later one was cancelled too.
  CHECK(totals(db) == expected_totals(written, 34 + cancelled));
}
