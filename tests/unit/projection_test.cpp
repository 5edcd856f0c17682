// The read model's pure fold: versions guard it, so replays change nothing and holes are seen.
#include <doctest/doctest.h>

#include "decider_fixture.hpp"
#include "projections/order_projection.hpp"

using namespace order::testing;
using order::projections::Applied;
using order::projections::OrderRow;
using order::projections::project;

TEST_CASE("every event type moves the row to its status and version") {
  std::optional<OrderRow> row;
  CHECK(project(row, placed(), 1, "t1") == Applied::changed);
  CHECK(row->order.status == OrderStatus::pending);
  CHECK(row->created_at == "t1");
  CHECK(project(row, paid(), 2, "t2") == Applied::changed);
  CHECK(project(row, shipped(), 3, "t3") == Applied::changed);
  CHECK(project(row, delivered(), 4, "t4") == Applied::changed);
  CHECK(row->order.status == OrderStatus::delivered);
  CHECK(row->order.version == 4);
  CHECK(row->created_at == "t1");
  CHECK(row->updated_at == "t4");

  std::optional<OrderRow> other;
  project(other, placed(), 1, "t1");
  CHECK(project(other, cancelled(OrderStatus::pending, "why"), 2, "t2") == Applied::changed);
  CHECK(other->order.status == OrderStatus::cancelled);
  CHECK(other->order.cancel_reason == "why");
}

TEST_CASE("applying an event twice changes nothing") {
  std::optional<OrderRow> row;
  project(row, placed(), 1, "t1");
  project(row, paid(), 2, "t2");
  const OrderRow before = *row;
  CHECK(project(row, paid(), 2, "t2-again") == Applied::already_applied);
  CHECK(project(row, placed(), 1, "t1-again") == Applied::already_applied);
  CHECK(*row == before);
}

TEST_CASE("an event beyond the next version is a gap, and the row is left as it was") {
  std::optional<OrderRow> row;
  project(row, placed(), 1, "t1");
  const OrderRow before = *row;
  CHECK(project(row, shipped(), 3, "t3") == Applied::gap);
  CHECK(*row == before);
  std::optional<OrderRow> none;
  CHECK(project(none, paid(), 2, "t2") == Applied::gap);
  CHECK_FALSE(none.has_value());
}
