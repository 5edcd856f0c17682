// Money as an exact count of minor units (cents): parsed from and formatted to decimal text,
// never computed in floating point.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace order::domain {

struct Money {
  std::int64_t cents = 0;
  friend constexpr auto operator<=>(Money, Money) = default;
};

// Parses a JSON number's text ("4.99", "3.5", "5", "1e2", "499e-2", "-0.25") exactly.
// Returns nullopt when the text is not a JSON number, has a non-zero digit below the cent
// (4.999), or does not fit in 64 bits of cents. Trailing zeros are fine: "4.990" is 499 cents.
std::optional<Money> parse_money(std::string_view json_number);

// "13.48", "3.50", "-0.25": always two decimals, as the seed's `totalamount`.
std::string format_money(Money amount);

// "4.99", "3.5", "5": the shortest exact decimal, as the seed's item `price` (a JSON number).
std::string format_money_compact(Money amount);

// nullopt on overflow.
std::optional<Money> checked_add(Money a, Money b);
std::optional<Money> checked_multiply(Money a, std::int64_t factor);

}  // namespace order::domain
