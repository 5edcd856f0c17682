// The Order aggregate's rules, given / when / then: every rule of a new order, every transition
// allowed and every one refused.
#include <doctest/doctest.h>

#include "decider_fixture.hpp"

using namespace order::testing;

TEST_CASE("placing the seed's order records its exact total of 13.48") {
  given({}).when(place()).then({placed(seed_items(), Money{1348})});
}

TEST_CASE("an order that exists cannot be placed again") {
  given({placed()}).when(place()).then_error(ErrorCode::order_already_exists);
}

TEST_CASE("a user id must be positive") {
  given({}).when(place(seed_items(), 0)).then_fields({"user_id:out_of_range"});
  given({}).when(place(seed_items(), -7)).then_fields({"user_id:out_of_range"});
}

TEST_CASE("an order needs 1 to 100 items") {
  given({}).when(place({})).then_fields({"items:required"});
  std::vector<LineItem> hundred;
  for (ProductId p = 1; p <= 100; ++p) hundred.push_back({p, 1, Money{100}});
  given({}).when(place(hundred)).then({placed(hundred, Money{10000})});
  auto too_many = hundred;
  too_many.push_back({101, 1, Money{100}});
  given({}).when(place(too_many)).then_fields({"items:too_many"});
}

TEST_CASE("a product id must be positive") {
  given({}).when(place({{0, 1, Money{100}}})).then_fields({"items[0].product_id:out_of_range"});
  given({}).when(place({{-1, 1, Money{100}}})).then_fields({"items[0].product_id:out_of_range"});
}

TEST_CASE("a quantity is from 1 to 10000") {
  given({}).when(place({{1, 1, Money{100}}})).then({placed({{1, 1, Money{100}}}, Money{100})});
  given({})
      .when(place({{1, 10000, Money{100}}}))
      .then({placed({{1, 10000, Money{100}}}, Money{1'000'000})});
  for (std::int64_t bad : std::initializer_list<std::int64_t>{0, -1, 10001, INT64_MAX}) {
    CAPTURE(bad);
    given({}).when(place({{1, bad, Money{100}}})).then_fields({"items[0].quantity:out_of_range"});
  }
}

TEST_CASE("a price is above 0 and at most 1,000,000.00") {
  given({}).when(place({{1, 1, Money{1}}})).then({placed({{1, 1, Money{1}}}, Money{1})});
  given({})
      .when(place({{1, 1, Money{100'000'000}}}))
      .then({placed({{1, 1, Money{100'000'000}}}, Money{100'000'000})});
  for (std::int64_t bad : {0LL, -1LL, 100'000'001LL}) {
    CAPTURE(bad);
    given({}).when(place({{1, 1, Money{bad}}})).then_fields({"items[0].price:out_of_range"});
  }
}

TEST_CASE("a product on two lines is refused, not merged") {
  given({})
      .when(place({{7, 1, Money{100}}, {8, 1, Money{100}}, {7, 2, Money{100}}}))
      .then_fields({"items[2].product_id:duplicate"});
}

TEST_CASE("every broken rule of an order is reported at once") {
  given({})
      .when(place({{0, 0, Money{0}}, {5, 20000, Money{-5}}}, -1))
      .then_fields({"user_id:out_of_range", "items[0].product_id:out_of_range",
                    "items[0].quantity:out_of_range", "items[0].price:out_of_range",
                    "items[1].quantity:out_of_range", "items[1].price:out_of_range"});
}

TEST_CASE("the largest possible order's total is exact and does not overflow") {
  std::vector<LineItem> largest;
  for (ProductId p = 1; p <= 100; ++p) largest.push_back({p, 10000, Money{100'000'000}});
  // 100 lines × 10,000 × 1,000,000.00 = 1,000,000,000,000.00
  given({}).when(place(largest)).then({placed(largest, Money{100'000'000'000'000})});
}

TEST_CASE("a pending order can be paid its exact total") {
  given({placed()}).when(pay()).then({paid()});
}

TEST_CASE("a payment that is not the total is refused") {
  given({placed()}).when(pay(Money{1347})).then_error(ErrorCode::amount_mismatch);
  given({placed()}).when(pay(Money{1349})).then_error(ErrorCode::amount_mismatch);
}

TEST_CASE("a payment needs a reference and a positive amount") {
  given({placed()}).when(pay(kSeedTotal, " ")).then_fields({"payment_reference:required"});
  given({placed()}).when(pay(Money{0})).then_fields({"amount:out_of_range"});
  given({placed()})
      .when(pay(kSeedTotal, std::string(201, 'x')))
      .then_fields({"payment_reference:too_long"});
}

TEST_CASE("a paid order can be shipped, a shipped one delivered") {
  given({placed(), paid()}).when(ship()).then({shipped()});
  given({placed(), paid(), shipped()}).when(deliver()).then({delivered()});
}

TEST_CASE("shipping needs a carrier and a tracking number") {
  given({placed(), paid()}).when(ship("", "T")).then_fields({"carrier:required"});
  given({placed(), paid()})
      .when(ship("DHL", std::string(201, 't')))
      .then_fields({"tracking_number:too_long"});
}

TEST_CASE("a pending or paid order can be cancelled, with or without a reason") {
  given({placed()}).when(cancel()).then({cancelled(OrderStatus::pending)});
  given({placed(), paid()}).when(cancel("")).then({cancelled(OrderStatus::paid, "")});
  given({placed()}).when(cancel(std::string(201, 'r'))).then_fields({"reason:too_long"});
}

TEST_CASE("a paid order cannot be paid twice") {
  given({placed(), paid()}).when(pay()).then_error(ErrorCode::illegal_transition);
}

TEST_CASE("an order cannot skip a step of its lifecycle") {
  given({placed()}).when(ship()).then_error(ErrorCode::illegal_transition);
  given({placed()}).when(deliver()).then_error(ErrorCode::illegal_transition);
  given({placed(), paid()}).when(deliver()).then_error(ErrorCode::illegal_transition);
}

TEST_CASE("a shipped or delivered order cannot be cancelled") {
  given({placed(), paid(), shipped()}).when(cancel()).then_error(ErrorCode::illegal_transition);
  given({placed(), paid(), shipped(), delivered()})
      .when(cancel())
      .then_error(ErrorCode::illegal_transition);
}

TEST_CASE("nothing moves a cancelled or delivered order") {
  for (const auto& command : {pay(), ship(), deliver(), cancel()}) {
    given({placed(), cancelled(OrderStatus::pending)})
        .when(command)
        .then_error(ErrorCode::illegal_transition);
    given({placed(), paid(), shipped(), delivered()})
        .when(command)
        .then_error(ErrorCode::illegal_transition);
  }
}

TEST_CASE("a lifecycle command on an order that does not exist is order_not_found") {
  for (const auto& command : {pay(), ship(), deliver(), cancel()}) {
    given({}).when(command).then_error(ErrorCode::order_not_found);
  }
}

TEST_CASE("evolve folds the state: status, version, and what each event recorded") {
  const Order state = fold(std::vector<Event>{placed(), paid(), shipped()});
  CHECK(state.exists());
  CHECK(state.id == kOrder);
  CHECK(state.user_id == kUser);
  CHECK(state.status == OrderStatus::shipped);
  CHECK(state.version == 3);
  CHECK(state.total == kSeedTotal);
  CHECK(state.items == seed_items());
  CHECK(state.payment_reference == "PAY-1");
  CHECK(state.carrier == "DHL");
  CHECK(state.tracking_number == "TRACK-1");
  CHECK_FALSE(state.is_terminal());
  CHECK(fold(std::vector<Event>{placed(), cancelled(OrderStatus::pending, "x")}).cancel_reason ==
        "x");
  CHECK_FALSE(initial_state().exists());
}

TEST_CASE("events carry the contract's type names and statuses round-trip as text") {
  CHECK(event_type(placed()) == "order.created");
  CHECK(event_type(paid()) == "order.paid");
  CHECK(event_type(shipped()) == "order.shipped");
  CHECK(event_type(delivered()) == "order.delivered");
  CHECK(event_type(cancelled(OrderStatus::paid)) == "order.cancelled");
  for (auto s : {OrderStatus::pending, OrderStatus::paid, OrderStatus::shipped,
                 OrderStatus::delivered, OrderStatus::cancelled}) {
    CHECK(parse_status(to_string(s)) == s);
  }
  CHECK_FALSE(parse_status("lost"));
}
