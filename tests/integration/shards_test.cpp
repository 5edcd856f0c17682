// Subscriptions in shards against a real PostgreSQL: shards that together fold the whole log,
// the refusal to start a layout other than the checkpoints', reshard, rebuild over shards, and
// the membership the instances share them through.
#include <doctest/doctest.h>

#include <pqxx/pqxx>
#include <thread>

#include "adapters/metrics.hpp"
#include "adapters/pg/membership.hpp"
#include "adapters/pg/orders_table.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "adapters/pg/product_sales_table.hpp"
#include "adapters/pg/rebuild.hpp"
#include "adapters/pg/shard_admin.hpp"
#include "adapters/pg/subscription_store.hpp"
#include "commands/order_commands.hpp"
#include "fresh_database.hpp"
#include "tools/subscriptions.hpp"

namespace {

using namespace order;
using order::testing::FreshDatabase;
using namespace std::chrono_literals;

void place_orders(pg::PgEventStore& store, int count) {
  commands::OrderCommands commands(store);
  for (int i = 0; i < count; ++i) {
    const auto placed =
        commands.place(100 + i % 7, {{1001 + i % 4, 1 + i % 3, domain::Money{499}}}, {});
    REQUIRE(placed.ok());
    const auto& order = placed.accepted.order;
    if (i % 2 == 0) commands.execute(domain::PayOrder{order.id, "P", order.total}, {}, {});
  }
}

// The shards of a projection, each its own engine, stepped until all are caught up.
struct ShardedOrders {
  ShardedOrders(const FreshDatabase& db, int count) {
    for (int index = 0; index < count; ++index) {
      shards.push_back(runtime::orders_projection(
          {.database = {db.url()}, .batch_size = 5, .shard = {index, count}}));
      sales.push_back(runtime::product_sales_projection(
          {.database = {db.url()}, .batch_size = 5, .shard = {index, count}}));
    }
  }
  void catch_up() {
    for (int round = 0; round < 1000; ++round) {
      std::size_t handled = 0;
      for (auto& shard : shards) handled += shard->step();
      for (auto& shard : sales) handled += shard->step();
      if (handled == 0) return;
    }
    FAIL("the shards did not catch up");
  }
  std::vector<std::unique_ptr<runtime::RunningSubscription>> shards;
  std::vector<std::unique_ptr<runtime::RunningSubscription>> sales;
};

std::int64_t count_of(const FreshDatabase& db, const std::string& sql) {
  return db.scalar<std::int64_t>(sql);
}

}  // namespace

TEST_CASE("three shards fold the whole log between them, each its own streams, as verify says") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  place_orders(store, 60);
  ShardedOrders projection(db, 3);
  projection.catch_up();
  CHECK(count_of(db, "SELECT count(*) FROM orders") == 60);
  CHECK(count_of(db, "SELECT count(*) FROM subscriptions WHERE name LIKE 'orders-projector#%/3'") ==
        3);
  // Each shard's checkpoint is an event of its own streams.
  for (int index = 0; index < 3; ++index) {
    const auto name = "orders-projector#" + std::to_string(index) + "/3";
    CHECK(count_of(db,
                   "SELECT mod(e.stream_id, 3) FROM events e JOIN subscriptions s ON "
                   "s.global_position = e.global_position WHERE s.name = '" +
                       name + "'") == index);
  }
  CHECK(pg::verify_orders({db.url()}, {}).empty());
  CHECK(pg::verify_read_model({db.url()}, pg::ProductSalesTable{}, {}).empty());
  {
    // The read model's lag over its shards: none when every shard is caught up, even though
    // their checkpoints differ.
    auto connection = pg::connect({db.url()});
    pqxx::read_transaction tx(*connection);
    const auto caught_up = pg::lag_of(tx, pg::kOrdersProjector);
    CHECK(caught_up.events == 0);
    CHECK(caught_up.seconds == 0);
  }
  place_orders(store, 3);
  {
    auto connection = pg::connect({db.url()});
    pqxx::read_transaction tx(*connection);
    CHECK(pg::lag_of(tx, pg::kOrdersProjector).events > 0);
  }
  projection.catch_up();
  const auto status = pg::shard_status({db.url()});
  CHECK(status.size() == 6);
  for (const auto& shard : status) {
    CHECK(shard.lag_events == 0);
    CHECK(shard.shard.count == 3);
    CHECK(shard.leader == "order-service");  // the shards' stores, named without an instance
  }
}

TEST_CASE(
    "a shard refuses to start from the log's start when the checkpoints are of another "
    "layout") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  place_orders(store, 10);
  ShardedOrders projection(db, 3);
  projection.catch_up();
  {
    auto connection = pg::connect({db.url()});
    pqxx::read_transaction tx(*connection);
    CHECK(pg::layout_conflict(tx, pg::kOrdersProjector, 3).empty());
    CHECK(pg::layout_conflict(tx, pg::kOrdersProjector, 1).find("order-admin reshard") !=
          std::string::npos);
    CHECK_FALSE(pg::layout_conflict(tx, pg::kOrdersProjector, 4).empty());
  }
  pg::SubscriptionStore single({db.url()}, pg::kOrdersProjector);
  CHECK_THROWS_AS(single.load(), pg::LayoutMismatch);
  pg::SubscriptionStore four({db.url()}, pg::kOrdersProjector, {1, 4});
  CHECK_THROWS_AS(four.load(), pg::LayoutMismatch);
  // And /readyz says so (it reads the refusals), as when the start itself finds the conflict.
  const auto refusals = metrics().refusals();
  CHECK(std::find_if(refusals.begin(), refusals.end(), [](const auto& refusal) {
          return refusal.first == pg::kOrdersProjector && !refusal.second.empty();
        }) != refusals.end());
  // Nothing was written: no checkpoint at the log's start.
  CHECK(count_of(db,
                 "SELECT count(*) FROM subscriptions WHERE split_part(name, '#', 1) = "
                 "'orders-projector'") == 3);
  // The publisher, with no checkpoint at all, starts in any layout.
  pg::SubscriptionStore publisher({db.url()}, "kafka-publisher", {0, 4});
  CHECK(publisher.load() == projections::LogPosition{});
}

TEST_CASE("reshard moves caught-up shards to a new count at one position; the new shards go on") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  place_orders(store, 40);
  {
    ShardedOrders projection(db, 3);
    projection.catch_up();
  }
  const auto result = pg::reshard({db.url()}, pg::kOrdersProjector, 2, 5s);
  CHECK(result.from == 3);
  CHECK(result.to == 2);
  CHECK(count_of(db, "SELECT count(*) FROM subscriptions WHERE name LIKE 'orders-projector%'") ==
        2);
  CHECK(count_of(db,
                 "SELECT count(DISTINCT (transaction_id, global_position)) FROM subscriptions "
                 "WHERE name LIKE 'orders-projector#%/2'") == 1);
  CHECK(count_of(db, "SELECT max(global_position) FROM events") == result.position.global_position);
  // The product_sales projection was not resharded: still three.
  CHECK(count_of(db,
                 "SELECT count(*) FROM subscriptions WHERE name LIKE "
                 "'product-sales-projector#%/3'") == 3);

  place_orders(store, 20);
  std::vector<std::unique_ptr<runtime::RunningSubscription>> two;
  for (int index = 0; index < 2; ++index) {
    two.push_back(
        runtime::orders_projection({.database = {db.url()}, .batch_size = 5, .shard = {index, 2}}));
  }
  for (int round = 0; round < 100; ++round) {
    std::size_t handled = 0;
    for (auto& shard : two) handled += shard->step();
    if (handled == 0) break;
  }
  CHECK(count_of(db, "SELECT count(*) FROM orders") == 60);
  CHECK(pg::verify_orders({db.url()}, {}).empty());

  // Back to one shard: its own name again.
  two.clear();
  pg::reshard({db.url()}, pg::kOrdersProjector, 1, 5s);
  CHECK(count_of(db, "SELECT count(*) FROM subscriptions WHERE name = 'orders-projector'") == 1);
  CHECK(pg::verify_orders({db.url()}, {}).empty());
}

TEST_CASE("reshard waits for a shard behind or led, and gives up without changing anything") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  place_orders(store, 30);
  ShardedOrders(db, 3).catch_up();
  place_orders(store, 5);  // the shards are behind again
  std::vector<std::string> reasons;
  CHECK_THROWS(pg::reshard({db.url()}, pg::kOrdersProjector, 2, 1s,
                           [&](const std::string& why) { reasons.push_back(why); }));
  REQUIRE_FALSE(reasons.empty());
  CHECK(reasons.front().find("events to handle") != std::string::npos);
  CHECK(count_of(db, "SELECT count(*) FROM subscriptions WHERE name LIKE 'orders-projector#%/3'") ==
        3);

  // Caught up, but a shard's lock is held by a running instance: reshard waits for it to stop.
  ShardedOrders(db, 3).catch_up();
  pg::SubscriptionStore leader({db.url()}, pg::kOrdersProjector, {1, 3}, "instance-a");
  REQUIRE(leader.try_acquire());
  reasons.clear();
  CHECK_THROWS(pg::reshard({db.url()}, pg::kOrdersProjector, 2, 1s,
                           [&](const std::string& why) { reasons.push_back(why); }));
  REQUIRE_FALSE(reasons.empty());
  CHECK(reasons.front().find("led by instance-a") != std::string::npos);
  const auto status = pg::shard_status({db.url()});
  const auto led = std::find_if(status.begin(), status.end(), [](const auto& s) {
    return s.subscription == pg::kOrdersProjector && s.shard.index == 1;
  });
  REQUIRE(led != status.end());
  CHECK(led->leader == "instance-a");
  leader.release();
  CHECK(pg::reshard({db.url()}, pg::kOrdersProjector, 2, 5s).to == 2);
}

TEST_CASE("reshard waits for every shard to reach a checkpoint that is past the horizon") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  place_orders(store, 10);
  ShardedOrders(db, 2).catch_up();
  {
    // A writer in flight holds the horizon below the orders placed next, all committed.
    pqxx::connection writing(db.url());
    pqxx::work in_flight(writing);
    in_flight.exec("SELECT pg_current_xact_id()");
    place_orders(store, 4);
    // Shard 0's leader read past them (with a later horizon), shard 1's has not yet.
    pqxx::connection connection(db.url());
    pqxx::work tx(connection);
    tx.exec(
        "UPDATE subscriptions SET (transaction_id, global_position) = (SELECT transaction_id, "
        "global_position FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1) "
        "WHERE name = 'orders-projector#0/2'");
    tx.commit();
    std::vector<std::string> reasons;
    // One position past shard 1's unhandled events would lose them.
    CHECK_THROWS(pg::reshard({db.url()}, pg::kOrdersProjector, 1, 1s,
                             [&](const std::string& why) { reasons.push_back(why); }));
    REQUIRE_FALSE(reasons.empty());
    CHECK(reasons.front().find("orders-projector#1/2 has") != std::string::npos);
  }
  ShardedOrders(db, 2).catch_up();
  CHECK(pg::reshard({db.url()}, pg::kOrdersProjector, 1, 5s).to == 1);
  // Every order of shard 1 was folded before the handover (shard 0's checkpoint was moved by
  // hand past its own, which are not the point here).
  CHECK(count_of(db,
                 "SELECT count(*) FROM streams s WHERE mod(s.stream_id, 2) = 1 AND NOT EXISTS "
                 "(SELECT 1 FROM orders o WHERE o.order_id = s.stream_id "
                 "AND o.version = s.version)") == 0);
}

TEST_CASE("a rebuild hands every shard the position it reached") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  place_orders(store, 30);
  ShardedOrders projection(db, 3);
  projection.catch_up();
  pg::rebuild_orders({db.url()}, 100, {});
  pg::rebuild_read_model({db.url()}, pg::ProductSalesTable{}, 100, {});
  CHECK(count_of(db,
                 "SELECT count(DISTINCT (transaction_id, global_position)) FROM subscriptions "
                 "WHERE name LIKE 'orders-projector#%/3'") == 1);
  CHECK(count_of(db, "SELECT count(*) FROM subscriptions WHERE name = 'orders-projector'") == 0);
  place_orders(store, 10);
  projection.catch_up();
  CHECK(count_of(db, "SELECT count(*) FROM orders") == 40);
  CHECK(pg::verify_orders({db.url()}, {}).empty());
  CHECK(pg::verify_read_model({db.url()}, pg::ProductSalesTable{}, {}).empty());
}

TEST_CASE("members see each other by their heartbeats, and the locks held") {
  FreshDatabase db;
  pg::Membership a({db.url()}, "a", {.beat = 100ms, .live_for = 1s});
  pg::Membership b({db.url()}, "b", {.beat = 100ms, .live_for = 1s});
  a.start();
  b.start();
  a.beat();
  CHECK(a.members() == std::vector<std::string>{"a", "b"});
  pg::SubscriptionStore shard({db.url()}, "kafka-publisher", {2, 6}, "a");
  REQUIRE(shard.try_acquire());
  a.beat();
  CHECK(a.lock_held(pg::subscription_lock_key("kafka-publisher#2/6")));
  CHECK_FALSE(a.lock_held(pg::subscription_lock_key("kafka-publisher#3/6")));
  shard.release();  // unlocked before the connection goes: free at once, not when PG notices
  a.beat();
  CHECK_FALSE(a.lock_held(pg::subscription_lock_key("kafka-publisher#2/6")));
  b.stop();  // leaves at once
  a.beat();
  CHECK(a.members() == std::vector<std::string>{"a"});
  a.stop();
  CHECK(count_of(db, "SELECT count(*) FROM subscription_members") == 0);
}
