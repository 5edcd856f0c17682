#include "adapters/http/query.hpp"

#include <climits>

#include "adapters/http/text.hpp"

namespace order::http {

std::string query_int_refusal(const HttpRequest& request, const std::string& name, long long min,
                              long long max) {
  std::string rule = name + " must be ";
  if (max == LLONG_MAX) {
    rule += min == 1   ? "a positive whole number"
            : min == 0 ? "a whole number, 0 or more"
                       : "a whole number from " + std::to_string(min);
  } else {
    rule += "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  }
  const auto it = request.query.find(name);
  if (it != request.query.end() && is_printable(it->second, 40) &&
      it->second.find('"') == std::string::npos && it->second.find('\\') == std::string::npos) {
    rule += ", not \"" + it->second + "\"";
  }
  return rule;
}

}  // namespace order::http
