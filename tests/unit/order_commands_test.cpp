// The command layer, given / when / then, on the in-memory event store: decisions reach the log
// or not, a racing writer is retried over, If-Match holds a command to a version, an
// Idempotency-Key replays, and a failing store is a result, never an exception.
#include <doctest/doctest.h>

#include "commands_fixture.hpp"

using namespace order::testing;

// ---- load → decide → append ----

TEST_CASE("a lifecycle command appends its event after the order's and answers the new state") {
  given_order({placed()}).when(pay()).then_accepted({placed(), paid()});
}

TEST_CASE("a command the order's status forbids is refused and appends nothing") {
  given_order({placed()})
      .when(ship())
      .then_status(Code::illegal_transition)
      .then_stream({placed()});
}

TEST_CASE("a command on an order that does not exist is order_not_found") {
  given_order({}).when(pay()).then_status(Code::order_not_found).then_stream({});
}

TEST_CASE("a payment that is not the order's total is amount_mismatch") {
  given_order({placed()}).when(pay(Money{100})).then_status(Code::amount_mismatch);
}

TEST_CASE("placing an order gives it the next id and records order.created at version 1") {
  auto scenario = given_order({});
  scenario.when(place());
  const Result& result = scenario.result();
  REQUIRE_MESSAGE(result.ok(), describe(result));
  CHECK(result.accepted.order.id == 1);
  CHECK(result.accepted.order.version == 1);
  CHECK(result.accepted.order.total == kSeedTotal);
  const auto stream = scenario.store().load(1);
  REQUIRE(stream.events.size() == 1);
  CHECK(stream.events[0].event == Event{OrderPlaced{1, kUser, seed_items(), kSeedTotal}});
}

TEST_CASE("an order that breaks the rules is refused with every field at fault, and takes no id") {
  auto scenario = given_order({});
  scenario.when(place({{0, 0, Money{100}}}, 0)).then_status(Code::validation_failed);
  std::vector<std::string> fields;
  for (const auto& f : scenario.result().status.fields) fields.push_back(f.field + ":" + f.code);
  CHECK(fields == std::vector<std::string>{"user_id:out_of_range",
                                           "items[0].product_id:out_of_range",
                                           "items[0].quantity:out_of_range"});
  CHECK(scenario.store().next_order_id() == 1);
}

// ---- a concurrent writer between load and append ----

TEST_CASE("a command that races another writer is decided again on the new state and lands") {
  given_order({placed()})
      .while_another_writer_appends({paid()})
      .when(cancel())
      .then_accepted({placed(), paid(), cancelled(OrderStatus::paid)})
      .then_conflicts_retried(1);
}

TEST_CASE("a command that the racing writer's change forbids is refused, never appended") {
  given_order({placed()})
      .while_another_writer_appends({cancelled(OrderStatus::pending)})
      .when(pay())
      .then_status(Code::illegal_transition)
      .then_stream({placed(), cancelled(OrderStatus::pending)});
}

TEST_CASE("a stream contended on every attempt is unavailable, and the command is not appended") {
  // Another writer appends (a second shipment, which deliver still follows) before each attempt.
  given_order({placed(), paid(), shipped()})
      .while_another_writer_appends({shipped()}, OrderCommands::kMaxAttempts)
      .when(deliver())
      .then_status(Code::unavailable)
      .then_conflicts_retried(OrderCommands::kMaxAttempts - 1)
      .then_stream(
          {placed(), paid(), shipped(), shipped(), shipped(), shipped(), shipped(), shipped()});
}

// ---- If-Match ----

TEST_CASE("a command with If-Match at the order's version applies") {
  given_order({placed()}).when(pay(), {.if_match = 1}).then_accepted({placed(), paid()});
}

TEST_CASE("If-Match naming another version is version_mismatch, with the current one; no write") {
  auto scenario = given_order({placed(), paid()});
  scenario.when(cancel(), {.if_match = 1})
      .then_status(Code::version_mismatch)
      .then_stream({placed(), paid()});
  CHECK(scenario.result().status.current_version == 2);
}

TEST_CASE("If-Match that a racing writer made stale is version_mismatch, not retried") {
  auto scenario = given_order({placed()});
  scenario.while_another_writer_appends({paid()})
      .when(cancel(), {.if_match = 1})
      .then_status(Code::version_mismatch)
      .then_stream({placed(), paid()})
      .then_conflicts_retried(0);
  CHECK(scenario.result().status.current_version == 2);
}

TEST_CASE("If-Match on an order that does not exist is order_not_found") {
  given_order({}).when(pay(), {.if_match = 3}).then_status(Code::order_not_found);
}

// ---- Idempotency-Key ----

TEST_CASE("a command repeated with its Idempotency-Key replays its outcome and appends nothing") {
  given_order({placed()})
      .and_earlier(pay(), {.key = "pay-once"})
      .when(pay(), {.key = "pay-once"})
      .then_replayed({placed(), paid()})
      .then_stream({placed(), paid()});
}

TEST_CASE("a replay answers with the order as its request left it, even after later commands") {
  given_order({placed()})
      .and_earlier(pay(), {.key = "pay-once"})
      .and_earlier(ship())
      .when(pay(), {.key = "pay-once"})
      .then_replayed({placed(), paid()})
      .then_stream({placed(), paid(), shipped()});
}

TEST_CASE("an Idempotency-Key reused for a different request is refused and writes nothing") {
  given_order({placed()})
      .and_earlier(pay(), {.key = "k-1", .fingerprint = "the payment"})
      .when(cancel(), {.key = "k-1", .fingerprint = "a cancellation"})
      .then_status(Code::idempotency_key_reused)
      .then_stream({placed(), paid()});
}

TEST_CASE("two requests racing with one key: the one that lost answers with the winner's outcome") {
  given_order({placed()})
      .while_another_request_runs(pay(), {.key = "k-1"})
      .when(pay(), {.key = "k-1"})
      .then_replayed({placed(), paid()})
      .then_stream({placed(), paid()});
}

TEST_CASE("an expired Idempotency-Key is forgotten: the key serves a new request") {
  given_order({placed()})
      .and_earlier(pay(), {.key = "k-1", .fingerprint = "the payment"})
      .after(3601s)  // the scenario's keys live an hour
      .when(ship(), {.key = "k-1", .fingerprint = "the shipment"})
      .then_accepted({placed(), paid(), shipped()});
}

TEST_CASE("placing an order twice with one Idempotency-Key creates one order") {
  auto scenario = given_order({});
  scenario.and_earlier(place(), {.key = "new-order"}).when(place(), {.key = "new-order"});
  REQUIRE_MESSAGE(scenario.result().ok(), describe(scenario.result()));
  CHECK(scenario.result().accepted.replayed);
  CHECK(scenario.result().accepted.order.id == 1);
  CHECK(scenario.store().load(2).events.empty());
  CHECK(scenario.store().next_order_id() == 2);  // the replay took no id
}

// ---- an unavailable store ----

TEST_CASE("a command on an unavailable store is unavailable, not an exception") {
  given_order({placed()}).with_the_store_unavailable().when(pay()).then_status(Code::unavailable);
  auto scenario = given_order({});
  scenario.with_the_store_unavailable().when(place()).then_status(Code::unavailable);
}

TEST_CASE("a store that fails between load and append leaves the command unavailable, unwritten") {
  given_order({placed()})
      .with_the_store_failing_before_the_append()
      .when(pay())
      .then_status(Code::unavailable)
      .then_stream({placed()});
}

TEST_CASE("the unavailable status never carries the store's own error text") {
  auto scenario = given_order({placed()});
  scenario.with_the_store_unavailable().when(pay());
  CHECK(scenario.result().status.detail.find("in-memory") == std::string::npos);
}
