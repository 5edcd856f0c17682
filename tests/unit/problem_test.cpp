// The one table from a command's result to HTTP: each code answers with the status and the
// problem code the README documents, and nothing a command cannot come to leaks a status.
#include "adapters/http/problem.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace order;
using commands::Code;
using commands::Status;

namespace {

std::string header(const http::HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

bool has_code(const http::HttpResponse& response, const std::string& code) {
  return response.body.find("\"code\":\"" + code + "\"") != std::string::npos;
}

}  // namespace

TEST_CASE("every result a command can come to has the status and code the README documents") {
  struct Documented {
    Code code;
    int status;
  };
  for (const auto [code, status] :
       {Documented{Code::validation_failed, 422}, Documented{Code::order_not_found, 404},
        Documented{Code::order_already_exists, 409}, Documented{Code::illegal_transition, 409},
        Documented{Code::amount_mismatch, 422}, Documented{Code::version_mismatch, 412},
        Documented{Code::idempotency_key_reused, 422}, Documented{Code::unavailable, 503}}) {
    const std::string name(commands::to_string(code));
    CAPTURE(name);
    const auto response = http::problem_of(Status{code, "why", {}, {}});
    CHECK(response.status == status);
    CHECK(response.content_type == "application/problem+json");
    CHECK_MESSAGE(has_code(response, name), response.body);
    CHECK(response.body.find("\"type\":\"/problems/" + name + "\"") != std::string::npos);
  }
}

TEST_CASE("a validation failure lists the fields at fault") {
  const auto response =
      http::problem_of(Status::refused({domain::ErrorCode::validation_failed,
                                        "bad",
                                        {{"args[0].price", "too_many_decimals", "m"}}}));
  CHECK(response.status == 422);
  CHECK(response.body.find(R"("errors":[{"field":"args[0].price","code":"too_many_decimals")") !=
        std::string::npos);
}

TEST_CASE("a version mismatch carries the order's current version as its ETag") {
  const auto response = http::problem_of(Status::version_mismatch(1, 3));
  CHECK(response.status == 412);
  CHECK(header(response, "ETag") == "\"3\"");
}

TEST_CASE("an unavailable store is a 503 the client may retry") {
  const auto response = http::problem_of(Status::unavailable("the database is unavailable"));
  CHECK(response.status == 503);
  CHECK(header(response, "Retry-After") == "1");
}

TEST_CASE("a store's own answer reaching HTTP is an internal error, not a made-up status") {
  for (const Code code : {Code::conflict, Code::key_taken, Code::ok}) {
    CAPTURE(commands::to_string(code));
    const auto response = http::problem_of(Status{code, "", {}, {}});
    CHECK(response.status == 500);
    CHECK(has_code(response, "internal_error"));
  }
}

TEST_CASE("the HTTP edge's own problems keep their statuses") {
  using http::Problem;
  CHECK(http::problem(Problem::malformed_json, "").status == 400);
  CHECK(http::problem(Problem::bad_request, "").status == 400);
  CHECK(http::problem(Problem::unauthorized, "").status == 401);
  CHECK(http::problem(Problem::not_found, "").status == 404);
  CHECK(http::problem(Problem::method_not_allowed, "").status == 405);
  CHECK(http::problem(Problem::body_too_large, "").status == 413);
  CHECK(http::problem(Problem::unsupported_media_type, "").status == 415);
  CHECK(http::problem(Problem::overloaded, "").status == 503);
  CHECK(http::problem(Problem::internal_error, "").status == 500);
}
