// Connections the server ended while they sat idle (a restart, a failover, pg_terminate_backend,
// an idle timeout) are replaced before their next use: the first request after such an end is
// answered like any other, never with the store unavailable. Each case ends every session of the
// service's database between two calls, and the next call must succeed.
#include <doctest/doctest.h>

#include <chrono>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "adapters/pg/group_commit.hpp"
#include "adapters/pg/group_load.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "adapters/pg/pg_order_read_model.hpp"
#include "adapters/pg/session.hpp"
#include "fresh_database.hpp"
#include "sample_events.hpp"

namespace {

using namespace order;
using order::testing::FreshDatabase;
using order::testing::paid;
using order::testing::placed;

// Ends every other session on the test's database, as a restart of the server would, and waits
// until the server has closed them all.
void end_every_session(const FreshDatabase& db) {
  pqxx::connection admin(db.url());
  pqxx::nontransaction tx(admin);
  const auto ended = tx.exec(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()")[0][0];
  REQUIRE(ended.as<int>() > 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    const auto left = tx.exec(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()")[0][0];
    if (left.as<int>() == 0) break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // A backend leaves pg_stat_activity as it exits, a moment before its socket is closed.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

std::vector<domain::Event> one(const domain::Event& event) { return {event}; }

}  // namespace

TEST_CASE("connection loss: a worker's session answers its next call on a fresh connection") {
  FreshDatabase db;
  pg::Session session({db.url()});
  pg::PgEventStore store(session);
  pg::PgOrderReadModel read_model(session);
  REQUIRE_FALSE(store.append(1, 0, one(placed(1)), {}).conflict());
  const auto generation = session.generation();

  end_every_session(db);
  CHECK(store.load(1, {}).version() == 1);
  CHECK(session.generation() == generation + 1);

  end_every_session(db);
  CHECK_FALSE(store.append(1, 1, one(paid(1)), {}).conflict());

  end_every_session(db);
  CHECK(store.history(1, 0, 10).size() == 2);

  // The read model prepares its statements again on the new connection.
  end_every_session(db);
  CHECK(read_model.list_orders({}).rows.empty());  // nothing projected here
  CHECK(session.ping());
}

TEST_CASE("connection loss: group load and group commit answer their next batch") {
  FreshDatabase db;
  pg::GroupCommit commits({db.url()});
  pg::GroupLoad loads({db.url()});
  REQUIRE_FALSE(commits.append(pg::encode_append(1, 0, one(placed(1)), {}, nullptr)).conflict());
  REQUIRE(loads.load({1, {}}).version() == 1);

  end_every_session(db);
  CHECK_FALSE(commits.append(pg::encode_append(1, 1, one(paid(1)), {}, nullptr)).conflict());
  CHECK(loads.load({1, {}}).version() == 2);

  end_every_session(db);
  CHECK(loads.load({1, {}}).version() == 2);
  CHECK_FALSE(commits.append(pg::encode_append(2, 0, one(placed(2)), {}, nullptr)).conflict());
  CHECK(loads.load({2, {}}).version() == 1);
}

TEST_CASE("a database refusing for a reason that passes is the store unavailable, others are not") {
  // The SQLSTATEs a server answers while it cannot take the work for now: clients get a 503 with
  // Retry-After for these, and a 500 for anything else (a fault of the service's own).
  struct Case {
    const char* state;
    bool unavailable;
  };
  for (const Case& refusal :
       {Case{"08006", true}, Case{"53100", true}, Case{"53300", true}, Case{"57014", true},
        Case{"57P01", true}, Case{"40001", true}, Case{"40P01", true}, Case{"25006", true},
        Case{"55P03", true}, Case{"58030", true}, Case{"23505", false}, Case{"22P02", false},
        Case{"42P01", false}, Case{"XX000", false}, Case{"25001", false}}) {
    CAPTURE(refusal.state);
    bool lost = true;
    const auto error = pg::translate_store_error(
        std::make_exception_ptr(pqxx::sql_error("refused", "SELECT 1", refusal.state)), lost);
    if (refusal.unavailable) {
      CHECK_THROWS_AS(std::rethrow_exception(error), commands::StoreUnavailable);
    } else {
      CHECK_THROWS_AS(std::rethrow_exception(error), pqxx::sql_error);
    }
    CHECK_FALSE(lost);
  }
}
