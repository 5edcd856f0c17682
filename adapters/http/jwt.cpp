// HS256 JWT verification with OpenSSL's HMAC and constant-time comparison.
#include "adapters/http/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <limits>

#include "adapters/http/text.hpp"

namespace order::http {
namespace {

namespace bj = boost::json;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sextet_of(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::array<unsigned char, 32> hmac_sha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, 32> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &length);
  return mac;
}

std::optional<bj::object> json_object_of(std::string_view segment) {
  const auto text = base64url_decode(segment);
  if (!text) return std::nullopt;
  boost::system::error_code error;
  bj::value value = bj::parse(*text, error);
  if (error || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

// A NumericDate (RFC 7519 §2): seconds since the epoch, an integer or not. Anything else,
// including a number out of int64's range, is not one.
std::optional<std::int64_t> numeric_date(const bj::value& value) {
  if (value.is_int64()) return value.as_int64();
  if (value.is_uint64()) {
    if (value.as_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(value.as_uint64());
  }
  if (value.is_double()) {
    const double seconds = value.as_double();
    if (!std::isfinite(seconds) || std::fabs(seconds) > 9.0e15) return std::nullopt;
    return static_cast<std::int64_t>(std::floor(seconds));
  }
  return std::nullopt;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1]))
                                << 8 |
                            static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    if (rest == 2) out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  // A length of 1 modulo 4 cannot come from any byte string.
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (char c : text) {
    const int sextet = sextet_of(c);
    if (sextet < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(sextet);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out += static_cast<char>((bits >> bit_count) & 0xff);
    }
  }
  // The leftover bits must be zero, so that each byte string has exactly one encoding: a token
  // whose signature differs only there must not verify as the same token.
  if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
  return out;
}

std::string sign_hs256(std::string_view header_json, std::string_view payload_json,
                       std::string_view secret) {
  std::string signing_input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  const auto mac = hmac_sha256(secret, signing_input);
  return signing_input + "." +
         base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

std::variant<JwtClaims, JwtError> verify_hs256(std::string_view token, std::string_view secret,
                                               std::int64_t now_seconds,
                                               std::int64_t leeway_seconds) {
  if (token.size() > kMaxJwtBytes) return JwtError::too_large;
  const auto first_dot = token.find('.');
  if (first_dot == std::string_view::npos) return JwtError::malformed;
  const auto second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos) return JwtError::malformed;
  if (token.find('.', second_dot + 1) != std::string_view::npos) return JwtError::malformed;
  const std::string_view header_segment = token.substr(0, first_dot);
  const std::string_view payload_segment = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const std::string_view signature_segment = token.substr(second_dot + 1);
  if (header_segment.empty() || payload_segment.empty() || signature_segment.empty()) {
    return JwtError::malformed;
  }

  // The algorithm is fixed by the server, never chosen by the token: the header may only
  // confirm it. This is what refuses "none" and an HS512 or RS256 token signed with another key.
  const auto header = json_object_of(header_segment);
  if (!header) return JwtError::malformed;
  const bj::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->as_string() != "HS256") {
    return JwtError::unsupported_algorithm;
  }
  // An extension the token says must be understood (RFC 7515 §4.1.11): we understand none.
  if (header->contains("crit")) return JwtError::unsupported_algorithm;

  const auto signature = base64url_decode(signature_segment);
  if (!signature) return JwtError::malformed;
  const auto expected = hmac_sha256(secret, token.substr(0, second_dot));
  if (signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return JwtError::bad_signature;
  }

  const auto payload = json_object_of(payload_segment);
  if (!payload) return JwtError::malformed;
  JwtClaims claims;
  if (const bj::value* exp = payload->if_contains("exp")) {
    claims.expires_at = numeric_date(*exp);
    if (!claims.expires_at) return JwtError::malformed;
    // Written so that no sum can overflow, whatever the token says.
    if (now_seconds - leeway_seconds >= *claims.expires_at) return JwtError::expired;
  }
  if (const bj::value* nbf = payload->if_contains("nbf")) {
    claims.not_before = numeric_date(*nbf);
    if (!claims.not_before) return JwtError::malformed;
    if (now_seconds + leeway_seconds < *claims.not_before) return JwtError::not_yet_valid;
  }
  const bj::value* sub = payload->if_contains("sub");
  if (sub == nullptr || !sub->is_string() || !is_printable(sub->as_string(), 200)) {
    return JwtError::bad_subject;
  }
  claims.subject = std::string(sub->as_string());
  return claims;
}

std::string_view describe(JwtError error) {
  switch (error) {
    case JwtError::too_large:
      return "the token is too large";
    case JwtError::malformed:
      return "the token is malformed";
    case JwtError::unsupported_algorithm:
      return "the token's algorithm is not HS256";
    case JwtError::bad_signature:
      return "the token's signature is invalid";
    case JwtError::expired:
      return "the token has expired";
    case JwtError::not_yet_valid:
      return "the token is not valid yet";
    case JwtError::bad_subject:
      return "the token has no usable subject (sub)";
  }
  return "the token is invalid";
}

}  // namespace order::http
