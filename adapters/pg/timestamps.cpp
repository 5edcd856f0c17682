#include "adapters/pg/timestamps.hpp"

#include <stdexcept>

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

std::string uuid_text(std::string_view stored) {
  constexpr std::size_t kBytes = 16;
  if (stored.size() != kBytes) {
    throw std::runtime_error("a uuid of " + std::to_string(stored.size()) + " bytes");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(2 * kBytes + 4);
  for (std::size_t i = 0; i < kBytes; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
    const auto byte = static_cast<unsigned char>(stored[i]);
    text.push_back(kHex[byte >> 4]);
    text.push_back(kHex[byte & 0xf]);
  }
  return text;
}

}  // namespace order::pg
