// The catch-up reader's order: (transaction id, global position), compared as numbers.
#include "adapters/pg/subscription_store.hpp"

#include <doctest/doctest.h>

#include <map>
#include <pqxx/pqxx>

#include "fresh_database.hpp"

using order::testing::FreshDatabase;

namespace {

// Appends one event per (transaction id, order id) pair with the transaction id given, as if
// written by those transactions long ago: all of them are below every snapshot's horizon.
void append_as(const FreshDatabase& db,
               const std::vector<std::pair<std::uint64_t, std::int64_t>>& rows) {
  pqxx::connection connection(db.url());
  pqxx::work tx(connection);
  std::map<std::int64_t, std::int64_t> versions;
  for (const auto& [transaction_id, order_id] : rows) {
    const std::int64_t version = ++versions[order_id];
    tx.exec_params(
        "INSERT INTO events (stream_id, stream_version, event_type, data, transaction_id) "
        "VALUES ($1, $2, 'order.created', '{}', $3::xid8)",
        order_id, version, std::to_string(transaction_id));
  }
  tx.commit();
}

}  // namespace

TEST_CASE("the reader follows transaction ids as numbers, across powers of ten, in small batches") {
  FreshDatabase db;
  // Positions in one order, transaction ids in another: 1000 sorts before 999 as text.
  append_as(db,
            {{1000, 1}, {999, 2}, {10, 3}, {9, 4}, {100, 5}, {99, 6}, {50, 7}, {50, 8}, {50, 9}});

  order::pg::SubscriptionStore reader({db.url()}, "order-test");
  order::projections::LogPosition position{};
  std::vector<std::pair<std::uint64_t, std::int64_t>> read;
  for (int round = 0; round < 20; ++round) {
    const auto batch = reader.read_after(position, 2);
    if (batch.empty()) break;
    CHECK(batch.size() <= 2);
    for (const auto& event : batch) {
      read.emplace_back(event.position.transaction_id, event.stream_id);
    }
    position = batch.back().position;
  }
  const std::vector<std::pair<std::uint64_t, std::int64_t>> expected{
      {9, 4}, {10, 3}, {50, 7}, {50, 8}, {50, 9}, {99, 6}, {100, 5}, {999, 2}, {1000, 1}};
  CHECK(read == expected);
}

namespace {

// One committed append of an order's first event, by its own transaction.
void append_now(const FreshDatabase& db, std::int64_t order_id) {
  pqxx::connection connection(db.url());
  pqxx::work tx(connection);
  tx.exec_params(
      "INSERT INTO events (stream_id, stream_version, event_type, data) "
      "VALUES ($1, 1, 'order.created', '{}')",
      order_id);
  tx.commit();
}

std::vector<std::int64_t> orders_read(order::pg::SubscriptionStore& reader) {
  std::vector<std::int64_t> read;
  for (const auto& event : reader.read_after({}, 100)) read.push_back(event.stream_id);
  return read;
}

// A session named `name` in a transaction that holds an id, as a writer between two statements.
struct OpenTransaction {
  OpenTransaction(const FreshDatabase& db, const std::string& name) : connection(db.url()) {
    connection.set_variable("application_name", connection.quote(name));
    tx = std::make_unique<pqxx::work>(connection);
    tx->exec("SELECT pg_current_xact_id()");
  }
  pqxx::connection connection;
  std::unique_ptr<pqxx::work> tx;
};

}  // namespace

TEST_CASE("readers wait for any transaction in flight but a read model's, which cannot append") {
  FreshDatabase db;
  order::pg::SubscriptionStore reader({db.url()}, "order-test");
  append_now(db, 1);

  SUBCASE("a read model's transaction in flight holds no reader back") {
    OpenTransaction read_model(db, order::pg::kReadModelSession);
    append_now(db, 2);  // a later transaction id, committed
    CHECK(orders_read(reader) == std::vector<std::int64_t>{1, 2});
    // And it cannot append: an append of its own would sort below what was just read.
    CHECK_THROWS_WITH_AS(
        read_model.tx->exec("INSERT INTO events (stream_id, stream_version, event_type, data) "
                            "VALUES (3, 1, 'order.created', '{}')"),
        doctest::Contains("read model's session cannot append"), pqxx::sql_error);
  }

  SUBCASE("any other session's transaction in flight holds every reader back until it ends") {
    OpenTransaction writer(db, "order-service");
    append_now(db, 2);
    CHECK(orders_read(reader) == std::vector<std::int64_t>{1});
    writer.tx->exec(
        "INSERT INTO events (stream_id, stream_version, event_type, data) "
        "VALUES (3, 1, 'order.created', '{}')");
    writer.tx->commit();
    // The late commit sorts first, by its transaction id: nothing is skipped.
    CHECK(orders_read(reader) == std::vector<std::int64_t>{1, 3, 2});
  }
}

TEST_CASE("every field of an event the reader hands on is the server's own text of it") {
  FreshDatabase db;
  {
    pqxx::connection connection(db.url());
    pqxx::work tx(connection);
    tx.exec(R"(
INSERT INTO events (stream_id, stream_version, event_type, schema_version, data, metadata,
                    recorded_at)
SELECT 10 + i % 3, 1 + i / 3, CASE WHEN i % 2 = 0 THEN 'order.created' ELSE 'order.paid' END,
       1 + i % 2,
       jsonb_build_object('userid', i, 'note', 'é "quoted" \ line' || chr(10) || i,
                          'price', 1.5 * i),
       CASE WHEN i % 4 = 0 THEN '{}'::jsonb
            ELSE jsonb_build_object('correlation_id', 'c-' || i, 'traceparent',
                                    '00-' || md5(i::text) || '-0123456789abcdef-01',
                                    'tracestate', 'a=' || i) END,
       timestamptz '2026-11-27 09:41:07.123456+00' - i * interval '13 days 7 microseconds'
FROM generate_series(0, 59) AS i)");
    tx.commit();
  }
  order::pg::SubscriptionStore reader({db.url()}, "order-test");
  const auto events = reader.read_after({}, 1000);
  pqxx::connection connection(db.url());
  pqxx::work tx(connection);
  const pqxx::result rows = tx.exec(R"(
SELECT transaction_id::text, global_position, stream_id, stream_version, event_id::text,
       event_type, schema_version,
       to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), data::text,
       coalesce(metadata->>'correlation_id', ''), coalesce(metadata->>'traceparent', ''),
       coalesce(metadata->>'tracestate', '')
FROM events ORDER BY transaction_id, global_position)");
  REQUIRE(events.size() == rows.size());
  REQUIRE(events.size() == 60);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    const auto& r = rows[static_cast<pqxx::result::size_type>(i)];
    CAPTURE(i);
    CHECK(e.position.transaction_id == r[0].as<std::uint64_t>());
    CHECK(e.position.global_position == r[1].as<std::int64_t>());
    CHECK(e.stream_id == r[2].as<std::int64_t>());
    CHECK(e.stream_version == r[3].as<std::int64_t>());
    CHECK(e.event_id == r[4].as<std::string>());
    CHECK(e.type == r[5].as<std::string>());
    CHECK(e.schema_version == r[6].as<int>());
    CHECK(e.recorded_at == r[7].as<std::string>());
    CHECK(e.data_json == r[8].as<std::string>());
    CHECK(e.correlation_id == r[9].as<std::string>());
    CHECK(e.traceparent == r[10].as<std::string>());
    CHECK(e.tracestate == r[11].as<std::string>());
  }
}
