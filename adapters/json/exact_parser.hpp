// JSON parsing that keeps money exact: Boost.JSON 1.81 turns 4.99 into a double and forgets the
// text, so a number whose text has a non-zero digit below the cent (4.999) would be silently
// rounded. This parser sees each number's text and marks such a number as NaN, which money_of()
// reports as a precision error instead of rounding it.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "domain/money.hpp"

namespace order::json {

struct ParseError {
  std::string message;  // e.g. "syntax error at byte 17"
};

// What a key given twice in one object means: the last value, as in Boost.JSON's DOM (the log's
// data, which jsonb never holds so), or an error (a request's body: a gateway in front of the
// service, or another reader of the same text, may have read the first).
enum class DuplicateKeys { last_wins, refused };

// Parses one complete JSON document (no comments, no trailing commas, valid UTF-8, depth ≤ 32).
// The value is allocated from `storage` (the default heap unless given, e.g. a monotonic buffer
// on the caller's stack for a document read and dropped at once).
std::variant<boost::json::value, ParseError> parse_exact(
    std::string_view text, boost::json::storage_ptr storage = {},
    DuplicateKeys duplicates = DuplicateKeys::last_wins);

enum class MoneyProblem { not_a_number, too_many_decimals, out_of_range };

// The exact amount of a JSON number produced by parse_exact, or of a decimal string ("4.99").
std::variant<domain::Money, MoneyProblem> money_of(const boost::json::value& value);

// The same judgement for a reader that sees the document's values one by one (a SAX handler):
// a decimal string's text, an integer, and a number with a fraction with the text it was read from.
std::variant<domain::Money, MoneyProblem> money_of_text(std::string_view digits);
std::variant<domain::Money, MoneyProblem> money_of_integer(std::int64_t integer);
std::variant<domain::Money, MoneyProblem> money_of_double(double real, std::string_view text);

}  // namespace order::json
