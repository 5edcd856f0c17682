// A Boost.JSON basic_parser handler that builds the usual DOM, with money-exact number checks.
#include "adapters/json/exact_parser.hpp"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace order::json {
namespace {

namespace bj = boost::json;

// Beyond this magnitude a number is no price: it is reported out of range, not rounded.
// Below it a double still tells cents apart exactly (see money_of), and no order comes near it:
// a unit price is at most 1,000,000.00.
constexpr double kLargestMoney = 1e13;
constexpr std::int64_t kLargestCents = 1'000'000'000'000'000;  // kLargestMoney in cents

// A number below kLargestMoney whose text has a non-zero digit below the cent (4.999): it is
// refused as money, never rounded.
bool is_sub_cent(double d, std::string_view text) {
  return std::fabs(d) < kLargestMoney && !domain::parse_money(text);
}

// A number with a fraction, known not to be sub-cent.
std::variant<domain::Money, MoneyProblem> money_of_real(double real) {
  if (!(std::fabs(real) < kLargestMoney)) return MoneyProblem::out_of_range;
  // |real| < 1e13 with at most two decimals: doubles there are at most 2^-9 apart, so real is
  // within 0.001 of the text's value, and real × 100 (below 2^50, rounded by at most 0.07) is
  // within 0.2 of the exact cents; llround recovers them. (At 9e13 doubles are 2^-6 apart, and
  // 89999999999999.99 came out a cent short.)
  return domain::Money{std::llround(real * 100.0)};
}

struct ExactHandler {
  static constexpr std::size_t max_object_size = bj::object::max_size();
  static constexpr std::size_t max_array_size = bj::array::max_size();
  static constexpr std::size_t max_key_size = bj::string::max_size();
  static constexpr std::size_t max_string_size = bj::string::max_size();

  // The parser's work space starts in `temp` (on parse_exact's stack) and goes to the heap only
  // for a large document.
  explicit ExactHandler(unsigned char* temp, std::size_t size) : stack({}, temp, size) {}

  bj::value_stack stack;
  std::string number_text;  // the parts of a number split across input chunks
  // With DuplicateKeys::refused, the keys of the objects being read, outermost first, and where
  // each object's begin. One flat list, reused, so a body's keys cost no allocation.
  bool refuse_duplicates = false;
  std::vector<std::string> keys;
  std::vector<std::size_t> object_starts;
  std::string key;        // the parts of a key split across input chunks
  std::string duplicate;  // the key found twice, when parsing stopped for it

  bool on_document_begin(bj::error_code&) { return true; }
  bool on_document_end(bj::error_code&) { return true; }
  bool on_object_begin(bj::error_code&) {
    if (refuse_duplicates) object_starts.push_back(keys.size());
    return true;
  }
  bool on_object_end(std::size_t n, bj::error_code&) {
    if (refuse_duplicates) {
      keys.resize(object_starts.back());
      object_starts.pop_back();
    }
    stack.push_object(n);
    return true;
  }
  bool on_array_begin(bj::error_code&) { return true; }
  bool on_array_end(std::size_t n, bj::error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_key_part(bj::string_view s, std::size_t, bj::error_code&) {
    if (refuse_duplicates) key.append(s.data(), s.size());
    stack.push_chars(s);
    return true;
  }
  bool on_key(bj::string_view s, std::size_t, bj::error_code& ec) {
    if (!refuse_duplicates) {
      stack.push_key(s);
      return true;
    }
    key.append(s.data(), s.size());
    for (std::size_t i = object_starts.back(); i < keys.size(); ++i) {
      if (keys[i] == key) {
        duplicate = key;
        ec = bj::error::syntax;
        return false;
      }
    }
    keys.push_back(key);
    key.clear();
    stack.push_key(s);
    return true;
  }
  bool on_string_part(bj::string_view s, std::size_t, bj::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(bj::string_view s, std::size_t, bj::error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_number_part(bj::string_view s, bj::error_code&) {
    number_text.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, bj::string_view, bj::error_code&) {
    number_text.clear();
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, bj::string_view, bj::error_code&) {
    number_text.clear();
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double d, bj::string_view s, bj::error_code&) {
    number_text.append(s.data(), s.size());
    const bool sub_cent = is_sub_cent(d, number_text);
    number_text.clear();
    stack.push_double(sub_cent ? std::numeric_limits<double>::quiet_NaN() : d);
    return true;
  }
  bool on_bool(bool b, bj::error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(bj::error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(bj::string_view, bj::error_code&) { return true; }
  bool on_comment(bj::string_view, bj::error_code&) { return true; }
};

}  // namespace

std::variant<boost::json::value, ParseError> parse_exact(std::string_view text,
                                                         boost::json::storage_ptr storage,
                                                         DuplicateKeys duplicates) {
  bj::parse_options options;  // strict JSON: no comments, no trailing commas, valid UTF-8
  options.max_depth = 32;
  unsigned char temp[1024];
  bj::basic_parser<ExactHandler> parser(options, temp, sizeof temp);
  parser.handler().stack.reset(std::move(storage));
  parser.handler().refuse_duplicates = duplicates == DuplicateKeys::refused;
  bj::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && used != text.size()) ec = bj::error::extra_data;
  if (const std::string& key = parser.handler().duplicate; !key.empty()) {
    // Named when it is short and has no control characters; it goes back to the client.
    const bool nameable = key.size() <= 64 && std::none_of(key.begin(), key.end(), [](char c) {
                            return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                          });
    return ParseError{(nameable ? "the key \"" + key + "\"" : std::string("a key")) +
                      " is given twice in one object"};
  }
  if (ec) {
    return ParseError{ec.message() + " at byte " + std::to_string(used)};
  }
  return parser.handler().stack.release();
}

std::variant<domain::Money, MoneyProblem> money_of_text(std::string_view digits) {
  // A decimal string ("4.99") is accepted as the Go service's clients sent it; it is judged as the
  // number it spells, so "4.999" is a precision error here too. The common case, plain digits with
  // at most two decimals, needs no parser: it is what the log's data holds.
  if (digits.find_first_of("eE") == std::string_view::npos) {
    if (const auto money = domain::parse_money(digits)) {
      if (money->cents < kLargestCents && money->cents > -kLargestCents) return *money;
    }
  }
  const auto parsed = parse_exact(digits);
  const auto* number = std::get_if<boost::json::value>(&parsed);
  if (number == nullptr || !(number->is_number())) return MoneyProblem::not_a_number;
  return money_of(*number);
}

// An integer is exact at any size, but beyond kLargestMoney it is out of range as a decimal of that
// size is: every amount read is then one whose format_money text (two decimals) reads back.
std::variant<domain::Money, MoneyProblem> money_of_integer(std::int64_t integer) {
  if (integer >= kLargestCents / 100 || integer <= -kLargestCents / 100) {
    return MoneyProblem::out_of_range;
  }
  return domain::Money{integer * 100};
}

std::variant<domain::Money, MoneyProblem> money_of_double(double real, std::string_view text) {
  if (is_sub_cent(real, text)) return MoneyProblem::too_many_decimals;
  return money_of_real(real);
}

std::variant<domain::Money, MoneyProblem> money_of(const boost::json::value& value) {
  if (const auto* text = value.if_string()) {
    return money_of_text(std::string_view(text->data(), text->size()));
  }
  if (const auto* integer = value.if_int64()) return money_of_integer(*integer);
  if (value.is_uint64()) return MoneyProblem::out_of_range;  // above 2^63: no price
  if (const auto* real = value.if_double()) {
    if (std::isnan(*real)) return MoneyProblem::too_many_decimals;
    return money_of_real(*real);
  }
  return MoneyProblem::not_a_number;
}

}  // namespace order::json
