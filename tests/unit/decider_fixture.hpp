// given(events).when(command).then(events) / then_error(code) / then_fields(...): the aggregate
// tested as a specification, with failures that print what was decided.
#pragma once

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "domain/order.hpp"

namespace order::testing {

using namespace order::domain;

inline std::string describe(const Decision& decision) {
  std::ostringstream out;
  if (decision.ok()) {
    out << "events [";
    for (const auto& e : decision.events()) out << event_type(e) << " ";
    out << "]";
  } else {
    out << "error " << to_string(decision.error().code) << " (" << decision.error().detail << ")";
    for (const auto& f : decision.error().fields) out << " " << f.field << ":" << f.code;
  }
  return out.str();
}

class Scenario {
 public:
  explicit Scenario(std::vector<Event> history) : history_(std::move(history)) {}

  Scenario& when(Command command) {
    decision_.emplace(decide(command, fold(history_)));
    return *this;
  }

  void then(const std::vector<Event>& expected) const {
    REQUIRE_MESSAGE(decision_->ok(), "expected events, got " << describe(*decision_));
    CHECK_MESSAGE(decision_->events() == expected, "got " << describe(*decision_));
  }

  void then_error(ErrorCode code) const {
    REQUIRE_MESSAGE(!decision_->ok(),
                    "expected " << to_string(code) << ", got " << describe(*decision_));
    CHECK_MESSAGE(decision_->error().code == code, "got " << describe(*decision_));
  }

  // The error is validation_failed with exactly these "field:code" entries, in order.
  void then_fields(const std::vector<std::string>& expected) const {
    then_error(ErrorCode::validation_failed);
    std::vector<std::string> fields;
    for (const auto& f : decision_->error().fields) fields.push_back(f.field + ":" + f.code);
    CHECK_MESSAGE(fields == expected, "got " << describe(*decision_));
  }

 private:
  std::vector<Event> history_;
  std::optional<Decision> decision_;
};

inline Scenario given(std::vector<Event> history) { return Scenario(std::move(history)); }

// ---- builders: a test reads as a sentence ----
constexpr OrderId kOrder = 42;
constexpr UserId kUser = 101;

inline std::vector<LineItem> seed_items() { return {{1001, 2, Money{499}}, {1002, 1, Money{350}}}; }
inline constexpr Money kSeedTotal{1348};

inline Event placed(std::vector<LineItem> items = seed_items(), Money total = kSeedTotal) {
  return OrderPlaced{kOrder, kUser, std::move(items), total};
}
inline OrderRef ref(OrderStatus from) { return OrderRef{kOrder, kUser, kSeedTotal, from}; }
inline Event paid() { return OrderPaid{ref(OrderStatus::pending), "PAY-1", kSeedTotal}; }
inline Event shipped() { return OrderShipped{ref(OrderStatus::paid), "DHL", "TRACK-1"}; }
inline Event delivered() { return OrderDelivered{ref(OrderStatus::shipped)}; }
inline Event cancelled(OrderStatus from, std::string reason = "changed mind") {
  return OrderCancelled{ref(from), std::move(reason)};
}

inline Command place(std::vector<LineItem> items = seed_items(), UserId user = kUser) {
  return PlaceOrder{kOrder, user, std::move(items)};
}
inline Command pay(Money amount = kSeedTotal, std::string reference = "PAY-1") {
  return PayOrder{kOrder, std::move(reference), amount};
}
inline Command ship(std::string carrier = "DHL", std::string tracking = "TRACK-1") {
  return ShipOrder{kOrder, std::move(carrier), std::move(tracking)};
}
inline Command deliver() { return DeliverOrder{kOrder}; }
inline Command cancel(std::string reason = "changed mind") {
  return CancelOrder{kOrder, std::move(reason)};
}

}  // namespace order::testing
