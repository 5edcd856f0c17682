// Many clients racing conflicting commands at the same orders: every stream stays a valid
// lifecycle and every accepted command is in the log exactly once.
#include <doctest/doctest.h>

#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "adapters/pg/group_commit.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "commands/order_commands.hpp"
#include "fresh_database.hpp"

using namespace order;
using order::testing::FreshDatabase;

TEST_CASE("racing clients never lose an accepted command nor apply an illegal one") {
  FreshDatabase db;
  constexpr int kOrders = 20;
  constexpr int kClients = 8;
  constexpr int kCommandsEach = 60;
  std::unique_ptr<pg::GroupCommit> group_commit;
  SUBCASE("each append commits on its own") {}
  SUBCASE("appends share commits") {
    group_commit = std::make_unique<pg::GroupCommit>(pg::ConnectionOptions{db.url()});
  }

  std::vector<domain::OrderId> ids;
  std::map<domain::OrderId, domain::Money> totals;
  {
    pg::PgEventStore store({db.url()});
    commands::OrderCommands commands(store);
    for (int i = 0; i < kOrders; ++i) {
      const auto outcome = commands.place(1, {{1, 1 + i, domain::Money{250}}}, {});
      REQUIRE(outcome.ok());
      const auto& order = outcome.accepted.order;
      ids.push_back(order.id);
      totals[order.id] = order.total;
    }
  }

  std::mutex mutex;
  std::multiset<std::string> accepted_event_ids;
  std::int64_t accepted = 0, refused = 0, mismatched = 0, retried = 0, unavailable = 0;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      pg::PgEventStore store({db.url()}, {.commits = group_commit.get()});
      commands::OrderCommands commands(store);
      std::mt19937 random(static_cast<unsigned>(c) * 7919U + 1U);
      for (int n = 0; n < kCommandsEach; ++n) {
        const domain::OrderId id = ids[random() % ids.size()];
        domain::Command command;
        switch (random() % 4) {
          case 0:
            command = domain::PayOrder{id, "P" + std::to_string(c), totals[id]};
            break;
          case 1:
            command = domain::ShipOrder{id, "DHL", "T" + std::to_string(n)};
            break;
          case 2:
            command = domain::DeliverOrder{id};
            break;
          default:
            command = domain::CancelOrder{id, "client " + std::to_string(c)};
            break;
        }
        // Every third command names the version it saw, as a client with If-Match would.
        std::optional<std::int64_t> expected;
        if (n % 3 == 0) expected = store.load(id).version();
        const auto outcome =
            commands.execute(command, expected, {.request_id = "c" + std::to_string(c)});
        std::lock_guard lock(mutex);
        if (outcome.ok()) {
          ++accepted;
          accepted_event_ids.insert(outcome.accepted.stream.events.back().event_id);
        } else if (outcome.status.is(commands::Code::version_mismatch)) {
          ++mismatched;
        } else if (outcome.status.is(commands::Code::unavailable)) {
          ++unavailable;
        } else {
          ++refused;
        }
      }
      std::lock_guard lock(mutex);
      retried += commands.conflicts_retried();
    });
  }
  for (auto& t : clients) t.join();
  CHECK_MESSAGE(unavailable == 0, unavailable << " commands found the store unavailable");
  MESSAGE(kClients << " clients, " << kClients * kCommandsEach << " commands: " << accepted
                   << " accepted, " << refused << " refused by the rules, " << mismatched
                   << " stale If-Match (412), " << retried << " conflicts retried");

  // Each stream, replayed through the decider, is a legal lifecycle: every event it holds is the
  // one its command would decide from the state before it.
  pg::PgEventStore store({db.url()});
  std::multiset<std::string> logged_lifecycle_ids;
  for (const domain::OrderId id : ids) {
    const auto stream = store.load(id);
    domain::Order state = domain::initial_state();
    for (const auto& recorded : stream.events) {
      if (state.exists()) {
        const domain::OrderStatus from = state.status;
        const domain::OrderStatus to = domain::status_after(recorded.event);
        const bool legal =
            (from == domain::OrderStatus::pending &&
             (to == domain::OrderStatus::paid || to == domain::OrderStatus::cancelled)) ||
            (from == domain::OrderStatus::paid &&
             (to == domain::OrderStatus::shipped || to == domain::OrderStatus::cancelled)) ||
            (from == domain::OrderStatus::shipped && to == domain::OrderStatus::delivered);
        CHECK_MESSAGE(legal, "order " << id << " went " << domain::to_string(from) << " -> "
                                      << domain::to_string(to) << " at version "
                                      << recorded.stream_version);
        logged_lifecycle_ids.insert(recorded.event_id);
      }
      state = domain::evolve(std::move(state), recorded.event);
    }
  }
  // Every accepted command's event is in the log exactly once, and the log holds nothing else.
  CHECK(accepted_event_ids == logged_lifecycle_ids);
  CHECK(accepted > 0);
}
