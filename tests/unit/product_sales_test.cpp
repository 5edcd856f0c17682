// The product_sales fold: an order's lines count on the day it was placed, a cancellation takes
// them back on its own day, and versions guard it as they guard the orders read model.
#include "projections/product_sales.hpp"

#include <doctest/doctest.h>

#include "decider_fixture.hpp"

using namespace order::testing;
using order::projections::Applied;
using order::projections::OrderLines;
using order::projections::project_sales;
using order::projections::Sales;
using order::projections::SalesKey;
using SalesMap = std::map<SalesKey, Sales>;

TEST_CASE("a placed order counts its lines on the day it was placed") {
  OrderLines lines;
  SalesMap sales;
  CHECK(project_sales(lines, placed(), 1, "2026-11-25T23:59:59.000001Z", sales) ==
        Applied::changed);
  CHECK(sales == SalesMap{{{"2026-11-25", 1001}, {2, Money{998}, 0, Money{}}},
                          {{"2026-11-25", 1002}, {1, Money{350}, 0, Money{}}}});
  CHECK(lines.version == 1);
  CHECK(lines.items == seed_items());
}

TEST_CASE("a cancellation takes the order's lines back on the day it happened") {
  OrderLines lines;
  SalesMap placed_day;
  project_sales(lines, placed(), 1, "2026-11-25T10:00:00Z", placed_day);
  project_sales(lines, paid(), 2, "2026-11-25T11:00:00Z", placed_day);
  SalesMap cancel_day;
  CHECK(project_sales(lines, cancelled(OrderStatus::paid), 3, "2026-11-26T09:00:00Z", cancel_day) ==
        Applied::changed);
  CHECK(cancel_day == SalesMap{{{"2026-11-26", 1001}, {0, Money{}, 2, Money{998}}},
                               {{"2026-11-26", 1002}, {0, Money{}, 1, Money{350}}}});
}

TEST_CASE("payments, shipments and deliveries sell nothing more") {
  OrderLines lines;
  SalesMap sales;
  project_sales(lines, placed(), 1, "2026-11-25T10:00:00Z", sales);
  SalesMap later;
  CHECK(project_sales(lines, paid(), 2, "2026-11-25T10:01:00Z", later) == Applied::changed);
  CHECK(project_sales(lines, shipped(), 3, "2026-11-25T10:02:00Z", later) == Applied::changed);
  CHECK(project_sales(lines, delivered(), 4, "2026-11-25T10:03:00Z", later) == Applied::changed);
  CHECK(later.empty());
  CHECK(lines.version == 4);
}

TEST_CASE("an event applied twice sells nothing twice, and a missing one is seen") {
  OrderLines lines;
  SalesMap sales;
  project_sales(lines, placed(), 1, "2026-11-25T10:00:00Z", sales);
  SalesMap again;
  CHECK(project_sales(lines, placed(), 1, "2026-11-25T10:00:00Z", again) ==
        Applied::already_applied);
  CHECK(again.empty());
  CHECK(project_sales(lines, delivered(), 3, "2026-11-25T10:00:00Z", again) == Applied::gap);
  CHECK(again.empty());
  CHECK(lines.version == 1);
}
