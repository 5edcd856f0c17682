// Bearer tokens: only a well-formed HS256 token signed with our secret, in its time window and
// naming a subject, is believed.
#include "adapters/http/jwt.hpp"

#include <doctest/doctest.h>

namespace {

using namespace order::http;

constexpr std::string_view kSecret = "a-test-secret-of-reasonable-length";
constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";

std::string token_with(std::string_view payload, std::string_view header = kHeader) {
  return sign_hs256(header, payload, kSecret);
}

JwtError error_of(const std::variant<JwtClaims, JwtError>& result) {
  REQUIRE_MESSAGE(std::holds_alternative<JwtError>(result),
                  "accepted, with subject " << std::get<JwtClaims>(result).subject);
  return std::get<JwtError>(result);
}

std::string subject_of(const std::variant<JwtClaims, JwtError>& result) {
  REQUIRE_MESSAGE(std::holds_alternative<JwtClaims>(result),
                  "refused: " << describe(std::get<JwtError>(result)));
  return std::get<JwtClaims>(result).subject;
}

}  // namespace

TEST_CASE("the jwt.io example token verifies with its published secret") {
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwia"
      "WF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  CHECK(subject_of(verify_hs256(token, "your-256-bit-secret", kNow)) == "1234567890");
  CHECK(error_of(verify_hs256(token, "another-secret", kNow)) == JwtError::bad_signature);
}

TEST_CASE("a valid token gives its subject and its time window") {
  const auto result = verify_hs256(
      token_with(R"({"sub":"alice","exp":1800000600,"nbf":1799999000})"), kSecret, kNow);
  CHECK(subject_of(result) == "alice");
  CHECK(std::get<JwtClaims>(result).expires_at == 1'800'000'600);
  CHECK(std::get<JwtClaims>(result).not_before == 1'799'999'000);
}

TEST_CASE("a token without exp or nbf is valid: they are honoured when present") {
  CHECK(subject_of(verify_hs256(token_with(R"({"sub":"alice"})"), kSecret, kNow)) == "alice");
}

TEST_CASE("a token whose signature was altered is refused") {
  std::string token = token_with(R"({"sub":"alice"})");
  token.back() = token.back() == 'A' ? 'B' : 'A';
  CHECK(error_of(verify_hs256(token, kSecret, kNow)) == JwtError::bad_signature);
}

TEST_CASE("a token whose payload was altered after signing is refused") {
  const std::string genuine = token_with(R"({"sub":"alice"})");
  const std::string forged_payload = base64url_encode(R"({"sub":"admin"})");
  const auto first = genuine.find('.');
  const auto second = genuine.find('.', first + 1);
  const std::string forged = genuine.substr(0, first + 1) + forged_payload + genuine.substr(second);
  CHECK(error_of(verify_hs256(forged, kSecret, kNow)) == JwtError::bad_signature);
}

TEST_CASE("a token signed with another secret is refused") {
  const std::string token = sign_hs256(kHeader, R"({"sub":"alice"})", "not-our-secret");
  CHECK(error_of(verify_hs256(token, kSecret, kNow)) == JwtError::bad_signature);
}

TEST_CASE("alg none is refused, with or without a signature") {
  const std::string header = base64url_encode(R"({"alg":"none","typ":"JWT"})");
  const std::string payload = base64url_encode(R"({"sub":"alice"})");
  CHECK(error_of(verify_hs256(header + "." + payload + ".", kSecret, kNow)) == JwtError::malformed);
  CHECK(error_of(verify_hs256(header + "." + payload + ".c2ln", kSecret, kNow)) ==
        JwtError::unsupported_algorithm);
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"alice"})", R"({"alg":"none"})"), kSecret,
                              kNow)) == JwtError::unsupported_algorithm);
}

TEST_CASE("any algorithm but exactly HS256 is refused, even with a valid HS256 signature") {
  for (const char* header :
       {R"({"alg":"HS512","typ":"JWT"})", R"({"alg":"RS256"})", R"({"alg":"hs256"})",
        R"({"alg":"HS256 "})", R"({"typ":"JWT"})", R"({"alg":256})", R"({"alg":["HS256"]})"}) {
    CAPTURE(header);
    CHECK(error_of(verify_hs256(token_with(R"({"sub":"alice"})", header), kSecret, kNow)) ==
          JwtError::unsupported_algorithm);
  }
}

TEST_CASE("a header with crit is refused: no extension is understood") {
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"alice"})", R"({"alg":"HS256","crit":["b64"]})"),
                              kSecret, kNow)) == JwtError::unsupported_algorithm);
}

TEST_CASE("an expired token is refused beyond the leeway and accepted within it") {
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"alice","exp":1799999000})"), kSecret, kNow,
                              30)) == JwtError::expired);
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"alice","exp":1799999970})"), kSecret, kNow,
                              30)) == JwtError::expired);
  CHECK(subject_of(verify_hs256(token_with(R"({"sub":"alice","exp":1799999990})"), kSecret, kNow,
                                30)) == "alice");
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"alice","exp":1799999990})"), kSecret, kNow,
                              0)) == JwtError::expired);
}

TEST_CASE("a token used before its nbf is refused beyond the leeway") {
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"alice","nbf":1800000600})"), kSecret, kNow,
                              30)) == JwtError::not_yet_valid);
  CHECK(subject_of(verify_hs256(token_with(R"({"sub":"alice","nbf":1800000020})"), kSecret, kNow,
                                30)) == "alice");
}

TEST_CASE("exp and nbf that are not numeric dates make the token malformed") {
  for (const char* payload :
       {R"({"sub":"alice","exp":"1800000600"})", R"({"sub":"alice","exp":null})",
        R"({"sub":"alice","nbf":true})", R"({"sub":"alice","exp":1e300})",
        R"({"sub":"alice","exp":18446744073709551615})"}) {
    CAPTURE(payload);
    CHECK(error_of(verify_hs256(token_with(payload), kSecret, kNow)) == JwtError::malformed);
  }
}

TEST_CASE("extreme exp and nbf values neither overflow nor pass") {
  CHECK(subject_of(verify_hs256(token_with(R"({"sub":"a","exp":9223372036854775807})"), kSecret,
                                kNow)) == "a");
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"a","exp":-9223372036854775807})"), kSecret,
                              kNow)) == JwtError::expired);
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"a","nbf":9223372036854775807})"), kSecret,
                              kNow)) == JwtError::not_yet_valid);
}

TEST_CASE("a token without a usable sub is refused") {
  for (const char* payload :
       {R"({"exp":1800000600})", R"({"sub":""})", R"({"sub":42})", R"({"sub":null})",
        R"({"sub":"line\nbreak"})", R"({"sub":"nul\u0000"})", R"({"sub":"c1\u0085"})"}) {
    CAPTURE(payload);
    CHECK(error_of(verify_hs256(token_with(payload), kSecret, kNow)) == JwtError::bad_subject);
  }
  CHECK(error_of(verify_hs256(token_with(R"({"sub":")" + std::string(201, 'x') + R"("})"), kSecret,
                              kNow)) == JwtError::bad_subject);
  CHECK(subject_of(verify_hs256(token_with(R"({"sub":"Åsa Öberg"})"), kSecret, kNow)) ==
        "Åsa Öberg");
}

TEST_CASE("malformed base64url in any segment is refused") {
  const std::string token = token_with(R"({"sub":"alice"})");
  const auto first = token.find('.');
  for (const std::string& bad :
       {"eyJ+bGciOiJIUzI1NiJ9" + token.substr(first),        // '+' is base64, not base64url
        token.substr(0, first) + "=" + token.substr(first),  // padding in the header
        token + "=",                                         // padding in the signature
        token.substr(0, token.size() - 1) + "!",             // outside the alphabet
        token + "AA"}) {                                     // a length of 1 modulo 4
    CAPTURE(bad);
    CHECK(error_of(verify_hs256(bad, kSecret, kNow)) == JwtError::malformed);
  }
}

TEST_CASE("a signature with non-zero trailing bits is not another spelling of the valid one") {
  std::string token = token_with(R"({"sub":"alice"})");
  // 32 bytes are 43 characters whose last one carries 2 unused bits: set one of them.
  char& last = token.back();
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  last = alphabet[alphabet.find(last) | 1];
  CHECK(error_of(verify_hs256(token, kSecret, kNow)) == JwtError::malformed);
}

TEST_CASE("a token of two or four segments, or with an empty one, is refused") {
  const std::string token = token_with(R"({"sub":"alice"})");
  const std::string two = token.substr(0, token.rfind('.'));
  for (const std::string& bad : {two, token + ".AAAA", token + ".", "." + token, std::string(""),
                                 std::string(".."), std::string("abc")}) {
    CAPTURE(bad);
    CHECK(error_of(verify_hs256(bad, kSecret, kNow)) == JwtError::malformed);
  }
}

TEST_CASE("a header or payload that is not a JSON object is refused") {
  CHECK(error_of(verify_hs256(token_with(R"(["sub","alice"])"), kSecret, kNow)) ==
        JwtError::malformed);
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"alice")"), kSecret, kNow)) ==
        JwtError::malformed);
  CHECK(error_of(verify_hs256(token_with(R"({"sub":"alice"})", R"("HS256")"), kSecret, kNow)) ==
        JwtError::malformed);
}

TEST_CASE("an oversized token is refused before any decoding") {
  const std::string big =
      token_with(R"({"sub":"alice","pad":")" + std::string(4000, 'x') + R"("})");
  REQUIRE(big.size() > kMaxJwtBytes);
  CHECK(error_of(verify_hs256(big, kSecret, kNow)) == JwtError::too_large);
  const std::string fits =
      token_with(R"({"sub":"alice","pad":")" + std::string(2000, 'x') + R"("})");
  CHECK(subject_of(verify_hs256(fits, kSecret, kNow)) == "alice");
}

TEST_CASE("base64url round-trips every length and byte") {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes += static_cast<char>(i * 37 + 11);
    const auto decoded = base64url_decode(base64url_encode(bytes));
    REQUIRE(decoded.has_value());
    CHECK(*decoded == bytes);
  }
  CHECK(base64url_encode("f") == "Zg");
  CHECK(base64url_encode("fo") == "Zm8");
  CHECK(base64url_encode("foo") == "Zm9v");
  CHECK(base64url_encode("\xfb\xff") == "-_8");
}
