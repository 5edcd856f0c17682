// Conditional GET: If-None-Match names the current ETag (weakly compared, or "*") → 304 without
// the body; anything else, or any answer but a 200 with an ETag, goes as it is.
#include "adapters/http/conditional.hpp"

#include <doctest/doctest.h>

namespace {

using namespace order::http;

HttpRequest get(std::string if_none_match, std::string method = "GET") {
  HttpRequest request{std::move(method), "/orders/1", {}, {}, {}};
  if (!if_none_match.empty()) request.headers["if-none-match"] = std::move(if_none_match);
  return request;
}

HttpResponse an_order(int status = 200) {
  HttpResponse response;
  response.status = status;
  response.body = R"({"order_id":1})";
  response.with_header("ETag", "\"3\"").with_header("X-Request-Id", "r-1");
  return response;
}

}  // namespace

TEST_CASE("If-None-Match names an entity tag by weak comparison, in a list, or as *") {
  CHECK(none_match_names("\"3\"", "\"3\""));
  CHECK(none_match_names("W/\"3\"", "\"3\""));
  CHECK(none_match_names("\"1\", \"2\",\"3\"", "\"3\""));
  CHECK(none_match_names(" * ", "\"3\""));
  CHECK_FALSE(none_match_names("\"4\"", "\"3\""));
  CHECK_FALSE(none_match_names("\"33\"", "\"3\""));
  CHECK_FALSE(none_match_names("3", "\"3\""));         // not an entity tag
  CHECK_FALSE(none_match_names("\"3\", 4", "\"3\""));  // not a list of them: no precondition
  CHECK_FALSE(none_match_names("\"3", "\"3\""));
  CHECK_FALSE(none_match_names("", "\"3\""));
  CHECK_FALSE(none_match_names("\"3\"", "3"));  // an ETag that is none
}

TEST_CASE("a current copy gets a 304 with the 200's headers and no body; the rest go as they are") {
  const auto unchanged = not_modified(get("W/\"3\""), an_order());
  REQUIRE(unchanged.has_value());
  CHECK(unchanged->status == 304);
  CHECK(unchanged->body.empty());
  CHECK(unchanged->headers == an_order().headers);              // the ETag, the request id
  CHECK_FALSE(not_modified(get("\"2\""), an_order()));          // an older copy
  CHECK_FALSE(not_modified(get(""), an_order()));               // no condition
  CHECK_FALSE(not_modified(get("\"3\"", "POST"), an_order()));  // not a read
  CHECK_FALSE(not_modified(get("\"3\""), an_order(404)));       // not a 200
  HttpResponse without_etag;
  CHECK_FALSE(not_modified(get("*"), without_etag));
  HttpResponse lower_case;
  lower_case.with_header("etag", "\"3\"");
  CHECK(not_modified(get("\"3\""), lower_case));
}
