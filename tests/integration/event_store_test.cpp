// The PostgreSQL event store against a real server: guarantees 1 (atomic, optimistic append)
// and 2 (an immutable log), and the migrations.
#include <doctest/doctest.h>

#include <barrier>
#include <mutex>
#include <numeric>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "adapters/pg/migrations.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "adapters/pg/timestamps.hpp"
#include "commands/order_commands.hpp"
#include "fresh_database.hpp"
#include "sample_events.hpp"

namespace {

using namespace order;
using order::testing::FreshDatabase;
using order::testing::paid;
using order::testing::placed;

domain::Event cancelled(domain::OrderId id, domain::OrderStatus from, std::string reason) {
  return domain::OrderCancelled{{id, 101, domain::Money{998}, from}, std::move(reason)};
}

std::vector<std::int64_t> versions_in_log(const FreshDatabase& db, domain::OrderId id) {
  pqxx::connection connection(db.url());
  pqxx::nontransaction tx(connection);
  std::vector<std::int64_t> versions;
  for (const auto& row : tx.exec("SELECT stream_version FROM events WHERE stream_id = " +
                                 std::to_string(id) + " ORDER BY global_position")) {
    versions.push_back(row[0].as<std::int64_t>());
  }
  return versions;
}

}  // namespace

TEST_CASE("appended events are numbered 1, 2, 3 in their stream and read back in order") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  const domain::OrderId id = store.next_order_id();
  const std::vector<domain::Event> first{placed(id)};
  const auto one = store.append(id, 0, first, {});
  REQUIRE_FALSE(one.conflict());
  CHECK(one.recorded.at(0).stream_version == 1);

  const std::vector<domain::Event> two_more{paid(id),
                                            cancelled(id, domain::OrderStatus::paid, "late")};
  const auto both = store.append(id, 1, two_more, {.request_id = "r-2"});
  REQUIRE_FALSE(both.conflict());
  REQUIRE(both.recorded.size() == 2);
  CHECK(both.recorded[0].stream_version == 2);
  CHECK(both.recorded[1].stream_version == 3);

  const auto loaded = store.load(id, {});
  REQUIRE(loaded.events.size() == 3);
  CHECK(loaded.events[0].event == first[0]);
  CHECK(loaded.events[1].event == two_more[0]);
  CHECK(loaded.events[2].event == two_more[1]);
  CHECK(loaded.version() == 3);
  CHECK(versions_in_log(db, id) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(db.scalar<std::string>(
            "SELECT metadata->>'request_id' FROM events WHERE stream_version = 2") == "r-2");
}

TEST_CASE("a stale expected version is a conflict and writes nothing") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  const domain::OrderId id = store.next_order_id();
  const std::vector<domain::Event> create{placed(id)};
  REQUIRE_FALSE(store.append(id, 0, create, {}).conflict());
  const std::vector<domain::Event> pay{paid(id)};
  REQUIRE_FALSE(store.append(id, 1, pay, {}).conflict());

  CHECK(store.append(id, 0, create, {}).conflict());  // a second creation
  CHECK(store.append(id, 1, pay, {}).conflict());     // behind the stream
  CHECK(store.append(id, 7, pay, {}).conflict());     // ahead of it: a hole would follow
  CHECK(versions_in_log(db, id) == std::vector<std::int64_t>{1, 2});
  CHECK(db.scalar<std::int64_t>("SELECT version FROM streams WHERE stream_id = " +
                                std::to_string(id)) == 2);
}

TEST_CASE("of concurrent writers at one expected version exactly one wins, every round") {
  // Whatever isolation the database gives its transactions by default: the service's sessions
  // run at READ COMMITTED, so a loser finds the winner's head and gets a conflict, never a
  // serialisation failure (which its client would see as a 503).
  for (const std::string isolation : {"read committed", "repeatable read", "serializable"}) {
    CAPTURE(isolation);
    FreshDatabase db;
    db.scalar<std::string>(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = ''" +
        isolation + "''', current_database()); END $$; SELECT 'set'");
    constexpr int kWriters = 8;
    constexpr int kRounds = 40;
    std::vector<std::unique_ptr<pg::PgEventStore>> stores;
    for (int i = 0; i < kWriters; ++i)
      stores.push_back(std::make_unique<pg::PgEventStore>(pg::ConnectionOptions{db.url()}));
    const domain::OrderId id = stores[0]->next_order_id();

    std::atomic<int> winners_total{0};
    std::atomic<int> errors{0};
    for (int round = 0; round < kRounds; ++round) {
      std::atomic<int> winners{0};
      std::barrier start(kWriters);
      std::vector<std::thread> threads;
      for (int w = 0; w < kWriters; ++w) {
        threads.emplace_back([&, w] {
          const std::vector<domain::Event> events{
              round == 0 ? placed(id)
                         : cancelled(id, domain::OrderStatus::pending, "w" + std::to_string(w))};
          start.arrive_and_wait();
          try {
            if (!stores[w]->append(id, round, events, {}).conflict()) ++winners;
          } catch (const std::exception&) {
            ++errors;
          }
        });
      }
      for (auto& t : threads) t.join();
      CHECK_MESSAGE(winners == 1, "round " << round << " had " << winners.load() << " winners");
      winners_total += winners;
    }
    CHECK(errors == 0);
    std::vector<std::int64_t> expected(kRounds);
    std::iota(expected.begin(), expected.end(), 1);
    CHECK(versions_in_log(db, id) == expected);
    CHECK(winners_total == kRounds);
  }
}

TEST_CASE("the database itself refuses UPDATE, DELETE and TRUNCATE of the event log") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  const domain::OrderId id = store.next_order_id();
  const std::vector<domain::Event> create{placed(id)};
  REQUIRE_FALSE(store.append(id, 0, create, {}).conflict());
  const auto before = db.scalar<std::string>("SELECT data::text FROM events");

  pqxx::connection connection(db.url());
  for (const std::string sql :
       {"UPDATE events SET data = '{}'::jsonb", "DELETE FROM events", "TRUNCATE events",
        "UPDATE events SET stream_version = 2 WHERE false"}) {
    pqxx::work tx(connection);
    CHECK_THROWS_AS_MESSAGE(tx.exec(sql), pqxx::sql_error, sql);
  }
  CHECK(db.scalar<std::string>("SELECT data::text FROM events") == before);
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM events") == 1);
}

TEST_CASE("every event records the id of the transaction that wrote it") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  const domain::OrderId id = store.next_order_id();
  const std::vector<domain::Event> events{placed(id), paid(id)};
  REQUIRE_FALSE(store.append(id, 0, events, {}).conflict());
  CHECK(db.scalar<std::int64_t>("SELECT count(DISTINCT transaction_id) FROM events") == 1);
  CHECK(db.scalar<bool>("SELECT bool_and(transaction_id::text::bigint > 0) FROM events"));
}

TEST_CASE(
    "event ids are UUID version 7: their time is the append's, so the id index grows in order") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  const auto now_ms = [&db] {
    return db.scalar<std::int64_t>("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)");
  };
  const auto before = now_ms();
  const domain::OrderId first = store.next_order_id();
  const std::vector<domain::Event> create_first{placed(first)};
  REQUIRE_FALSE(store.append(first, 0, create_first, {}).conflict());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const domain::OrderId second = store.next_order_id();
  const std::vector<domain::Event> create_second{placed(second), paid(second)};
  REQUIRE_FALSE(store.append(second, 0, create_second, {}).conflict());
  const auto after = now_ms();

  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM events") == 3);
  // Version nibble 7 and the RFC 9562 variant (10xx) in every id.
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM events WHERE substr(event_id::text, 15, 1) "
                                "<> '7' OR substr(event_id::text, 20, 1) NOT IN ('8', '9', 'a', "
                                "'b')") == 0);
  // The first 48 bits: the milliseconds of the append.
  const std::string millis = "('x' || replace(left(event_id::text, 13), '-', ''))::bit(48)::bigint";
  CHECK(db.scalar<std::int64_t>("SELECT min(" + millis + ") FROM events") >= before);
  CHECK(db.scalar<std::int64_t>("SELECT max(" + millis + ") FROM events") <= after);
  // The later append's ids sort after the earlier one's.
  CHECK(db.scalar<bool>(
      "SELECT (SELECT event_id FROM events WHERE stream_id = " + std::to_string(first) +
      " ORDER BY event_id DESC LIMIT 1) < (SELECT event_id FROM events WHERE stream_id = " +
      std::to_string(second) + " ORDER BY event_id LIMIT 1)"));
  // The same ids through the store, as the publisher and the audit endpoints read them.
  for (const auto& event : store.load(second, {}).events) CHECK(event.event_id.at(14) == '7');
}

TEST_CASE("a stream loads as it was at a version or at a time") {
  FreshDatabase db;
  pg::PgEventStore store({db.url()});
  const domain::OrderId id = store.next_order_id();
  const std::vector<domain::Event> create{placed(id)};
  REQUIRE_FALSE(store.append(id, 0, create, {}).conflict());
  const auto created_at = store.load(id, {}).events.at(0).recorded_at;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::vector<domain::Event> pay{paid(id)};
  REQUIRE_FALSE(store.append(id, 1, pay, {}).conflict());

  CHECK(store.load(id, {.max_version = 1}).version() == 1);
  CHECK(store.load(id, {.as_of = created_at}).version() == 1);
  CHECK(store.load(id, {.as_of = "2000-01-01T00:00:00Z"}).events.empty());
  CHECK(store.load(id, {}).version() == 2);
  CHECK(store.load(id + 1000, {}).events.empty());
}

TEST_CASE("timestamps read out are to_char's RFC 3339 text, whatever the server's date style") {
  FreshDatabase db;
  {
    pqxx::connection connection(db.url());
    pqxx::nontransaction tx(connection);
    tx.exec(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET DateStyle = ''SQL, DMY''', "
        "current_database()); EXECUTE format('ALTER DATABASE %I SET TimeZone = "
        "''Asia/Kolkata''', current_database()); END $$");
  }
  // What every read of the log formats on its side: the fraction's trailing zeros, a whole
  // second, and a time of day that is a different date in the session's zone.
  auto connection = pg::connect({db.url()});
  pqxx::nontransaction tx(*connection);
  const pqxx::result rows = tx.exec(R"(
SELECT t AT TIME ZONE 'UTC', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
FROM unnest(ARRAY['2026-01-02 03:04:05+00', '2026-01-02 03:04:05.1+00',
                  '2026-01-02 03:04:05.120000+00', '2026-12-31 23:59:59.999999+00',
                  '2026-03-04 20:00:00.000001+00']::timestamptz[]) AS t)");
  REQUIRE(rows.size() == 5);
  for (const auto& row : rows) CHECK(pg::utc_rfc3339(row[0].c_str()) == row[1].as<std::string>());

  // And what the store hands out, through its own connections.
  pg::PgEventStore store({db.url()});
  const domain::OrderId id = store.next_order_id();
  const std::vector<domain::Event> create{placed(id)};
  const auto appended = store.append(id, 0, create, {});
  REQUIRE(appended.recorded.size() == 1);
  const auto expected = db.scalar<std::string>(
      R"(SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') )"
      "FROM events WHERE stream_id = " +
      std::to_string(id));
  CHECK(appended.recorded[0].recorded_at == expected);
  CHECK(store.load(id, {}).events.at(0).recorded_at == expected);
}

TEST_CASE("every commit is flushed before its answer, whatever the database's default") {
  // Guarantee 7 rests on synchronous_commit: with it off, a crash of the server loses commits
  // already acknowledged. The service's sessions turn it on where the database's default is off,
  // and keep any other setting an operator chose (a standby's remote_apply).
  for (const std::string configured : {"off", "remote_apply", "local"}) {
    CAPTURE(configured);
    FreshDatabase db;
    {
      pqxx::connection connection(db.url());
      pqxx::nontransaction tx(connection);
      tx.exec("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = " +
              configured + "', current_database()); END $$");
    }
    CHECK(db.scalar<std::string>("SHOW synchronous_commit") == configured);
    auto connection = pg::connect({db.url()});
    pqxx::nontransaction tx(*connection);
    CHECK(tx.exec("SHOW synchronous_commit")[0][0].as<std::string>() ==
          (configured == "off" ? "on" : configured));
  }
}

TEST_CASE("migrations applied a second time apply nothing and change nothing") {
  FreshDatabase db;  // already migrated once
  const auto applied_before = db.scalar<std::int64_t>("SELECT count(*) FROM schema_migrations");
  pqxx::connection connection(db.url());
  CHECK(pg::apply_migrations(connection, pg::embedded_migrations()) == 0);
  CHECK(db.scalar<std::int64_t>("SELECT count(*) FROM schema_migrations") == applied_before);
  CHECK(applied_before == static_cast<std::int64_t>(pg::embedded_migrations().size()));
}

TEST_CASE("migrations a newer build applied are named, for a rollback to say so") {
  FreshDatabase db;
  pqxx::connection connection(db.url());
  CHECK(pg::unknown_migrations(connection, pg::embedded_migrations()).empty());
  db.scalar<int>(
      "INSERT INTO schema_migrations (version, name) VALUES (998, 'orders_by_region'), (999, "
      "'drop_legacy') RETURNING 1");
  CHECK(pg::unknown_migrations(connection, pg::embedded_migrations()) ==
        std::vector<std::string>{"998 orders_by_region", "999 drop_legacy"});
  // A database no build has migrated yet knows none.
  db.scalar<int>("DROP TABLE schema_migrations; SELECT 1");
  CHECK(pg::unknown_migrations(connection, pg::embedded_migrations()).empty());
}

TEST_CASE("an unreachable database is StoreUnavailable with the password masked") {
  pg::PgEventStore store({"postgresql://someone:hunter2@127.0.0.1:1/nothing"});
  try {
    store.next_order_id();
    FAIL("connected to a port where nothing listens");
  } catch (const commands::StoreUnavailable& error) {
    const std::string text = error.what();
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text.find("127.0.0.1:1") != std::string::npos);
  }
}

TEST_CASE("order ids from shared blocks are unique across threads, one round trip per block") {
  FreshDatabase db;
  pg::OrderIdBlocks blocks(16);
  constexpr int kThreads = 6;
  constexpr int kEach = 50;
  std::mutex mutex;
  std::set<domain::OrderId> ids;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      pg::PgEventStore store({db.url()}, {.ids = &blocks});
      for (int i = 0; i < kEach; ++i) {
        const auto id = store.next_order_id();
        std::lock_guard lock(mutex);
        ids.insert(id);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(ids.size() == kThreads * kEach);
  CHECK(*ids.begin() >= 1);
  // 300 ids in blocks of 16: 19 blocks, so the sequence moved 304, not 300 times one by one.
  CHECK(db.scalar<std::int64_t>("SELECT last_value FROM order_ids") == 304);
}

// A plan is made for a table's statistics, and a table that grew from nothing has none until
// autovacuum's first ANALYZE (a minute or more later; never, when autovacuum is off), and none
// after a restore. Under a generic plan (a prepared statement's, after its fifth run) PostgreSQL
// then guesses that a stream is 1 row in 200 of the log: the batch load, planned as a hash join,
// read the whole log for every batch (267 ms instead of 0.5 ms at 1,000,000 events). Each statement
// the store prepares must keep to the log's indexes without statistics. (The idempotency keys'
// table, whose size alone steers the plan of its lookups, may be read whole while it is small.)
TEST_CASE("the store's statements keep to the indexes of a log that has no statistics yet") {
  FreshDatabase db;
  {
    pqxx::connection connection(db.url());
    pqxx::work tx(connection);
    for (const char* table : {"events", "streams"}) {
      tx.exec(std::string("ALTER TABLE ") + table + " SET (autovacuum_enabled = off)");
    }
    tx.exec(
        "INSERT INTO streams (stream_id, version) SELECT s, 4 FROM generate_series(1, 25000) s");
    tx.exec(
        "INSERT INTO events (stream_id, stream_version, event_type, data) "
        "SELECT s, v, 'order.placed', jsonb_build_object('userid', s % 100) "
        "FROM generate_series(1, 25000) s, generate_series(1, 4) v");
    tx.commit();
  }
  REQUIRE(db.scalar<std::int64_t>(
              "SELECT count(*) FROM pg_statistic WHERE starelid = 'events'::regclass") == 0);

  const auto connection = pg::connect({db.url()});
  pqxx::nontransaction tx(*connection);
  // Nor does a statement wait for JIT compilation, which estimates inflated by missing statistics
  // would trigger (55 ms of a batch load's 56 at 1,000,000 events).
  CHECK(tx.exec("SHOW jit")[0][0].as<std::string>() == "off");
  tx.exec("SET plan_cache_mode = force_generic_plan");
  for (const char* name : {"append", "load", "load_batch", "next_order_id", "next_order_ids",
                           "find_key", "history", "user_history"}) {
    const std::string statement = name;
    CAPTURE(statement);
    connection->prepare_now(name);
    const int parameters = tx.exec_params(
                                 "SELECT cardinality(parameter_types) FROM "
                                 "pg_prepared_statements WHERE name = $1",
                                 std::string(name))[0][0]
                               .as<int>();
    std::string nulls;
    for (int i = 0; i < parameters; ++i) nulls += i == 0 ? "NULL" : ", NULL";
    std::string plan;
    for (const auto& row : tx.exec(std::string("EXPLAIN EXECUTE ") + name +
                                   (parameters > 0 ? "(" + nulls + ")" : ""))) {
      plan += row[0].as<std::string>() + "\n";
    }
    CAPTURE(plan);
    CHECK(plan.find("Seq Scan on events") == std::string::npos);
    CHECK(plan.find("Seq Scan on streams") == std::string::npos);
  }
}
