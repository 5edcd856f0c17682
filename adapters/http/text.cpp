// Text checks shared by the API's headers and the bearer token's subject.
#include "adapters/http/text.hpp"

#include <cstdint>

namespace order::http {

bool is_printable(std::string_view value, std::size_t max_length) {
  if (value.empty() || value.size() > max_length) return false;
  for (std::size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    // Lead byte: length and the smallest code point it may encode (no overlong forms).
    std::size_t length = 0;
    std::uint32_t code = 0, smallest = 0;
    if ((c & 0xe0) == 0xc0)
      length = 2, code = c & 0x1f, smallest = 0x80;
    else if ((c & 0xf0) == 0xe0)
      length = 3, code = c & 0x0f, smallest = 0x800;
    else if ((c & 0xf8) == 0xf0)
      length = 4, code = c & 0x07, smallest = 0x10000;
    else
      return false;
    if (i + length > value.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(value[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < smallest || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    if (code >= 0x80 && code < 0xa0) return false;  // C1 controls
    i += length;
  }
  return true;
}

}  // namespace order::http
