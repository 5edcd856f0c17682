// Exact decimal parsing and formatting of money in cents.
#include "domain/money.hpp"

#include <cstdlib>

namespace order::domain {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Appends one decimal digit to `value`; false on int64 overflow.
bool push_digit(std::int64_t& value, int digit) {
  return !__builtin_mul_overflow(value, 10, &value) &&
         !__builtin_add_overflow(value, digit, &value);
}

}  // namespace

std::optional<Money> parse_money(std::string_view text) {
  // JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  std::size_t i = 0;
  const bool negative = i < text.size() && text[i] == '-';
  if (negative) ++i;
  const std::size_t int_begin = i;
  while (i < text.size() && is_digit(text[i])) ++i;
  const std::string_view int_digits = text.substr(int_begin, i - int_begin);
  if (int_digits.empty() || (int_digits.size() > 1 && int_digits[0] == '0')) return std::nullopt;

  std::string_view frac_digits;
  if (i < text.size() && text[i] == '.') {
    const std::size_t frac_begin = ++i;
    while (i < text.size() && is_digit(text[i])) ++i;
    frac_digits = text.substr(frac_begin, i - frac_begin);
    if (frac_digits.empty()) return std::nullopt;
  }

  std::int64_t exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exponent_negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) exponent_negative = text[i++] == '-';
    const std::size_t exp_begin = i;
    while (i < text.size() && is_digit(text[i])) {
      // Any exponent beyond a few thousand is absurd for money; cap it instead of overflowing.
      if (exponent < 100000) exponent = exponent * 10 + (text[i] - '0');
      ++i;
    }
    if (i == exp_begin) return std::nullopt;
    if (exponent_negative) exponent = -exponent;
  }
  if (i != text.size()) return std::nullopt;

  // value = digits × 10^(exponent − |frac|); cents = digits × 10^(exponent − |frac| + 2).
  std::string digits;
  digits.reserve(int_digits.size() + frac_digits.size());
  digits.append(int_digits).append(frac_digits);
  std::int64_t shift = exponent - static_cast<std::int64_t>(frac_digits.size()) + 2;

  // Digits below the cent must all be zero: drop them, refuse if any is not.
  while (shift < 0) {
    if (digits.empty()) break;
    if (digits.back() != '0') return std::nullopt;
    digits.pop_back();
    ++shift;
  }

  std::int64_t cents = 0;
  bool all_zero = true;
  for (char c : digits) {
    if (c != '0') all_zero = false;
    if (!push_digit(cents, c - '0')) return std::nullopt;
  }
  if (all_zero) return Money{0};
  for (; shift > 0; --shift) {
    if (!push_digit(cents, 0)) return std::nullopt;
  }
  return Money{negative ? -cents : cents};
}

std::string format_money(Money amount) {
  const bool negative = amount.cents < 0;
  // Work in unsigned so that INT64_MIN formats too.
  std::uint64_t magnitude = negative ? ~static_cast<std::uint64_t>(amount.cents) + 1
                                     : static_cast<std::uint64_t>(amount.cents);
  std::string out = std::to_string(magnitude / 100);
  const auto fraction = static_cast<unsigned>(magnitude % 100);
  out += '.';
  out += static_cast<char>('0' + fraction / 10);
  out += static_cast<char>('0' + fraction % 10);
  return negative ? "-" + out : out;
}

std::string format_money_compact(Money amount) {
  std::string out = format_money(amount);
  if (out.ends_with('0')) out.pop_back();
  if (out.ends_with('0')) out.pop_back();
  if (out.ends_with('.')) out.pop_back();
  return out;
}

std::optional<Money> checked_add(Money a, Money b) {
  Money sum;
  if (__builtin_add_overflow(a.cents, b.cents, &sum.cents)) return std::nullopt;
  return sum;
}

std::optional<Money> checked_multiply(Money a, std::int64_t factor) {
  Money product;
  if (__builtin_mul_overflow(a.cents, factor, &product.cents)) return std::nullopt;
  return product;
}

}  // namespace order::domain
