#include "adapters/pg/timestamps.hpp"

namespace order::pg {

std::string utc_rfc3339(std::string_view iso) {
  constexpr std::size_t kFractionDigits = 6;
  std::string text;
  text.reserve(iso.size() + kFractionDigits + 2);
  text.append(iso);
  if (const auto space = text.find(' '); space != std::string::npos) text[space] = 'T';
  std::size_t digits = 0;
  if (const auto dot = text.rfind('.'); dot == std::string::npos) {
    text.push_back('.');
  } else {
    digits = text.size() - dot - 1;
  }
  if (digits < kFractionDigits) text.append(kFractionDigits - digits, '0');
  text.push_back('Z');
  return text;
}

}  // namespace order::pg
