// given(events).when(command).then(...): the command layer specified on the in-memory event
// store, with a writer that slips in between a command's load and its append, a store that
// fails, and a clock that moves; failures print the status and the stream that resulted.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "commands/in_memory_event_store.hpp"
#include "commands/order_commands.hpp"
#include "decider_fixture.hpp"

namespace order::testing {

using namespace order::commands;
using namespace std::chrono_literals;

inline std::string describe(const Result& result) {
  std::ostringstream out;
  out << to_string(result.status.code);
  if (!result.ok()) out << " (" << result.status.detail << ")";
  for (const auto& f : result.status.fields) out << " " << f.field << ":" << f.code;
  if (result.ok()) {
    out << " order " << result.accepted.order.id << " at version " << result.accepted.order.version
        << (result.accepted.replayed ? ", replayed" : "");
  }
  return out.str();
}

inline std::string describe(const std::vector<Event>& events) {
  std::ostringstream out;
  out << "[";
  for (const auto& e : events) out << " " << event_type(e);
  out << " ]";
  return out.str();
}

// What a request brings besides its command: If-Match, an Idempotency-Key with the request's
// fingerprint.
struct Request {
  std::optional<std::int64_t> if_match;
  std::string key;
  std::string fingerprint = "request-1";
};

class CommandScenario {
 public:
  explicit CommandScenario(std::vector<Event> history)
      : store_([this] { return now_; }), commands_(store_) {
    if (!history.empty()) {
      REQUIRE(store_.append(kOrder, 0, history, {}).status.ok());
    }
  }
  // The store's clock and interlopers point into the scenario: it stays where it was made.
  CommandScenario(const CommandScenario&) = delete;
  CommandScenario& operator=(const CommandScenario&) = delete;

  // ---- what happens around the command ----
  // Another writer appends `events` to the order between the command's load and its append, on
  // each of the next `times` attempts.
  CommandScenario& while_another_writer_appends(std::vector<Event> events, int times = 1) {
    store_.before_next_appends(
        [this, events] {
          REQUIRE(store_.append(kOrder, store_.load(kOrder).version(), events, {}).status.ok());
        },
        times);
    return *this;
  }
  // Another request runs `command` with `request` between the command's load and its append.
  CommandScenario& while_another_request_runs(Command command, Request request) {
    store_.before_next_appends([this, command, request] {
      OrderCommands other(store_);
      run(other, command, request);
    });
    return *this;
  }
  CommandScenario& with_the_store_unavailable() {
    store_.set_unavailable(true);
    return *this;
  }
  CommandScenario& with_the_store_failing_before_the_append() {
    store_.before_next_appends([this] { store_.set_unavailable(true); });
    return *this;
  }
  CommandScenario& after(std::chrono::seconds elapsed) {
    now_ += elapsed;
    return *this;
  }

  // ---- the command ----
  CommandScenario& when(Command command, Request request = {}) {
    result_.emplace(run(commands_, command, request));
    return *this;
  }
  // An earlier request, whose result the scenario does not check.
  CommandScenario& and_earlier(Command command, Request request = {}) {
    const Result earlier = run(commands_, command, request);
    REQUIRE_MESSAGE(earlier.ok(), "the earlier request was " << describe(earlier));
    return *this;
  }

  // ---- then ----
  // The command was accepted, and the order's stream holds exactly `stream`.
  const CommandScenario& then_accepted(const std::vector<Event>& stream) const {
    REQUIRE_MESSAGE(result_->ok(), "expected the command accepted, got " << describe(*result_));
    CHECK_MESSAGE(!result_->accepted.replayed, "got " << describe(*result_));
    CHECK(result_->accepted.order == fold(stream));
    then_stream(stream);
    return *this;
  }
  // The original outcome, replayed: the order as that request left it; nothing appended now.
  const CommandScenario& then_replayed(const std::vector<Event>& as_left) const {
    REQUIRE_MESSAGE(result_->ok(), "expected a replay, got " << describe(*result_));
    CHECK_MESSAGE(result_->accepted.replayed, "got " << describe(*result_));
    CHECK(result_->accepted.order == fold(as_left));
    return *this;
  }
  const CommandScenario& then_status(Code code) const {
    REQUIRE_MESSAGE(!result_->ok(),
                    "expected " << to_string(code) << ", got " << describe(*result_));
    CHECK_MESSAGE(result_->status.code == code, "got " << describe(*result_));
    return *this;
  }
  // The order's stream holds exactly these events.
  const CommandScenario& then_stream(const std::vector<Event>& expected) const {
    store_.set_unavailable(false);
    std::vector<Event> events;
    for (const auto& recorded : store_.load(kOrder).events) events.push_back(recorded.event);
    CHECK_MESSAGE(events == expected,
                  "the stream holds " << describe(events) << ", expected " << describe(expected));
    return *this;
  }
  const CommandScenario& then_conflicts_retried(std::int64_t count) const {
    CHECK(commands_.conflicts_retried() == count);
    return *this;
  }

  const Result& result() const { return *result_; }
  InMemoryEventStore& store() const { return store_; }

 private:
  static Result run(OrderCommands& commands, const Command& command, const Request& request) {
    std::optional<Idempotency> idempotency;
    if (!request.key.empty()) idempotency = Idempotency{request.key, request.fingerprint, 3600};
    if (const auto* place = std::get_if<PlaceOrder>(&command)) {
      return commands.place(place->user_id, place->items, {}, idempotency);
    }
    return commands.execute(command, request.if_match, {}, idempotency);
  }

  std::chrono::system_clock::time_point now_ =
      std::chrono::sys_days{std::chrono::year{2026} / 11 / 25} + 4h;
  mutable InMemoryEventStore store_;
  OrderCommands commands_;
  std::optional<Result> result_;
};

inline CommandScenario given_order(std::vector<Event> history) {
  return CommandScenario(std::move(history));
}

}  // namespace order::testing
