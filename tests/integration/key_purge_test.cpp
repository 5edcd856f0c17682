// Expired idempotency keys are deleted in the background, in bounded batches, and only those:
// a key whose time is not up still answers, and a row another transaction holds is left for the
// next round instead of being waited for.
#include "adapters/pg/key_purge.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "fresh_database.hpp"

namespace {

using namespace order;
using order::testing::FreshDatabase;

// `count` keys named prefix-1… that expire `seconds` from now (in the past when negative).
void insert_keys(const FreshDatabase& db, const std::string& prefix, int count, int seconds) {
  db.scalar<int>(
      "WITH made AS (INSERT INTO idempotency_keys (key, fingerprint, command, order_id, "
      "stream_version, expires_at) SELECT '" +
      prefix + "-' || i, 'f', 'place', i, 1, now() + make_interval(secs => " +
      std::to_string(seconds) + " + i / 1000.0) FROM generate_series(1, " + std::to_string(count) +
      ") AS i RETURNING 1) SELECT count(*)::int FROM made");
}

int keys(const FreshDatabase& db, const std::string& prefix) {
  return db.scalar<int>("SELECT count(*)::int FROM idempotency_keys WHERE key LIKE '" + prefix +
                        "-%'");
}

}  // namespace

TEST_CASE("a purge deletes expired keys only, oldest first, at most a batch at a time") {
  FreshDatabase db;
  insert_keys(db, "expired", 25, -3600);
  insert_keys(db, "live", 5, 3600);
  auto connection = pg::connect({db.url()});
  CHECK(pg::purge_expired_keys(*connection, 10) == 10);
  CHECK(keys(db, "expired") == 15);
  // The oldest went first: expired-1 … expired-10 expire before the others.
  CHECK(db.scalar<int>("SELECT count(*)::int FROM idempotency_keys WHERE key IN ('expired-1', "
                       "'expired-10')") == 0);
  CHECK(pg::purge_expired_keys(*connection, 10) == 10);
  CHECK(pg::purge_expired_keys(*connection, 10) == 5);
  CHECK(pg::purge_expired_keys(*connection, 10) == 0);
  CHECK(keys(db, "expired") == 0);
  CHECK(keys(db, "live") == 5);
}

TEST_CASE("a purge leaves a key another transaction holds, without waiting for it") {
  FreshDatabase db;
  insert_keys(db, "expired", 3, -3600);
  pqxx::connection holder_connection(db.url());
  pqxx::work holder(holder_connection);
  holder.exec("SELECT 1 FROM idempotency_keys WHERE key = 'expired-2' FOR UPDATE");
  auto connection = pg::connect({db.url()});
  const auto start = std::chrono::steady_clock::now();
  CHECK(pg::purge_expired_keys(*connection, 10) == 2);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  holder.commit();
  CHECK(pg::purge_expired_keys(*connection, 10) == 1);  // the next round takes it
}

TEST_CASE("the background purge empties the expired keys round after round, batch by batch") {
  FreshDatabase db;
  insert_keys(db, "expired", 250, -60);
  insert_keys(db, "live", 5, 3600);
  pg::KeyPurge purge({db.url()}, std::chrono::milliseconds(50), 100);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (keys(db, "expired") > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(keys(db, "expired") == 0);
  // Keys that expire later go once their time is up, and not before.
  insert_keys(db, "soon", 3, 1);
  CHECK(keys(db, "soon") == 3);
  const auto later = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (keys(db, "soon") > 0 && std::chrono::steady_clock::now() < later) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(keys(db, "soon") == 0);
  CHECK(keys(db, "live") == 5);
}
