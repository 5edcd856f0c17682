// Bearer tokens: verification of an HS256 JSON Web Token (RFC 7519) against a shared secret.
// Pure: no clock, no I/O; the caller passes the time. Nothing but HS256 is ever accepted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace order::http {

struct JwtClaims {
  std::string subject;                     // `sub`: who acts; recorded as the events' actor
  std::optional<std::int64_t> expires_at;  // `exp`, seconds since the epoch
  std::optional<std::int64_t> not_before;  // `nbf`, seconds since the epoch
};

enum class JwtError {
  too_large,              // over kMaxJwtBytes
  malformed,              // not three base64url segments of JSON objects; a claim of a wrong type
  unsupported_algorithm,  // `alg` is not exactly "HS256" ("none", "HS512", "RS256", ...), or `crit`
  bad_signature,          // the HMAC-SHA256 of the first two segments is not the third
  expired,                // now is past `exp` (beyond the leeway)
  not_yet_valid,          // now is before `nbf` (beyond the leeway)
  bad_subject,            // `sub` missing, not a string, empty, over 200 bytes, or with controls
};

inline constexpr std::size_t kMaxJwtBytes = 4096;

// `exp` and `nbf` are optional; when present they are honoured with `leeway_seconds` of clock
// skew allowed either way. The signature is checked before any claim is believed.
std::variant<JwtClaims, JwtError> verify_hs256(std::string_view token, std::string_view secret,
                                               std::int64_t now_seconds,
                                               std::int64_t leeway_seconds = 30);

// A short, fixed description of the error, safe to send to the client.
std::string_view describe(JwtError error);

// base64url without padding (RFC 4648 §5), as JWTs use it. Decoding is strict: no padding, no
// characters outside the alphabet, no non-zero trailing bits. Exposed for the tests.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// header.payload.signature for the given JSON texts; for tests and tools, not used to serve.
std::string sign_hs256(std::string_view header_json, std::string_view payload_json,
                       std::string_view secret);

}  // namespace order::http
