// Money: exact decimal parsing of JSON number text, and formatting, in integer cents.
#include "domain/money.hpp"

#include <doctest/doctest.h>

#include <climits>

using order::domain::Money;
using order::domain::parse_money;

TEST_CASE("the seed's prices are read exactly") {
  CHECK(parse_money("4.99") == Money{499});
  CHECK(parse_money("3.50") == Money{350});
  CHECK(parse_money("3.5") == Money{350});
  CHECK(parse_money("5") == Money{500});
  CHECK(parse_money("4.990") == Money{499});
  CHECK(parse_money("499e-2") == Money{499});
  CHECK(parse_money("1E2") == Money{10000});
  CHECK(parse_money("0.5e1") == Money{500});
  CHECK(parse_money("-0.25") == Money{-25});
  CHECK(parse_money("0") == Money{0});
  CHECK(parse_money("0e-999999") == Money{0});
}

TEST_CASE("a digit below the cent is refused, never rounded") {
  for (const char* text : {"4.999", "0.001", "1e-5", "4.990000000000000000001"}) {
    CHECK_MESSAGE(!parse_money(text), text);
  }
}

TEST_CASE("amounts beyond 64 bits of cents are refused") {
  CHECK(parse_money("92233720368547758.07") == Money{INT64_MAX});
  CHECK_FALSE(parse_money("92233720368547758.08"));
  CHECK_FALSE(parse_money("1e400"));
  CHECK_FALSE(parse_money("99999999999999999999999"));
}

TEST_CASE("text that is not a JSON number is refused") {
  for (const char* text :
       {"", "-", "01", "1.", ".5", "+1", "1e", "abc", "1,5", " 1", "1 ", "0x10"}) {
    CHECK_MESSAGE(!parse_money(text), "'" << text << "'");
  }
}

TEST_CASE("money formats with two decimals, or compactly as the seed's price") {
  CHECK(format_money(Money{1348}) == "13.48");
  CHECK(format_money(Money{5}) == "0.05");
  CHECK(format_money(Money{-25}) == "-0.25");
  CHECK(format_money(Money{0}) == "0.00");
  CHECK(format_money(Money{INT64_MIN}) == "-92233720368547758.08");
  CHECK(format_money_compact(Money{499}) == "4.99");
  CHECK(format_money_compact(Money{350}) == "3.5");
  CHECK(format_money_compact(Money{500}) == "5");
  CHECK(format_money_compact(Money{0}) == "0");
}

TEST_CASE("every amount survives formatting and parsing unchanged") {
  for (std::int64_t cents = -1000; cents <= 100'000; ++cents) {
    REQUIRE(parse_money(format_money(Money{cents})) == Money{cents});
    REQUIRE(parse_money(format_money_compact(Money{cents})) == Money{cents});
  }
  for (std::int64_t cents :
       std::initializer_list<std::int64_t>{INT64_MAX, INT64_MAX - 1, 123456789012345}) {
    CHECK(parse_money(format_money(Money{cents})) == Money{cents});
  }
}

TEST_CASE("checked arithmetic reports overflow instead of wrapping") {
  CHECK(checked_add(Money{1}, Money{2}) == Money{3});
  CHECK_FALSE(checked_add(Money{INT64_MAX}, Money{1}));
  CHECK(checked_multiply(Money{499}, 2) == Money{998});
  CHECK_FALSE(checked_multiply(Money{INT64_MAX / 2 + 1}, 2));
}
