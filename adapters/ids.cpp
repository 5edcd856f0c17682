// UUID v4 from a per-thread generator seeded by the OS.
#include "adapters/ids.hpp"

#include <random>

namespace order {

std::string new_uuid() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::uint64_t high = generator();
  std::uint64_t low = generator();
  high = (high & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  low = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;    // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 60; i >= 0; i -= 4) {
    out += kHex[(high >> i) & 0xf];
    if (i == 32 || i == 16) out += '-';
  }
  out += '-';
  for (int i = 60; i >= 0; i -= 4) {
    out += kHex[(low >> i) & 0xf];
    if (i == 48) out += '-';
  }
  return out;
}

}  // namespace order
