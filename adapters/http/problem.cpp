// Problem kinds and command results → status, stable code, title.
#include "adapters/http/problem.hpp"

#include <optional>

#include "adapters/json/json_writer.hpp"

namespace order::http {
namespace {

struct ProblemRow {
  Problem kind;
  std::optional<commands::Code> result;  // the command result that answers with this row
  int status;
  const char* code;
  const char* title;
};

using commands::Code;
constexpr ProblemRow kProblems[] = {
    {Problem::malformed_json, {}, 400, "malformed_json", "The body is not valid JSON"},
    {Problem::bad_request, {}, 400, "bad_request", "The request is malformed"},
    {Problem::unauthorized, {}, 401, "unauthorized", "A valid bearer token is required"},
    {Problem::not_found, {}, 404, "not_found", "No such resource"},
    {Problem::order_not_found, Code::order_not_found, 404, "order_not_found", "No such order"},
    {Problem::method_not_allowed, {}, 405, "method_not_allowed", "Method not allowed"},
    {Problem::order_already_exists, Code::order_already_exists, 409, "order_already_exists",
     "The order exists"},
    {Problem::illegal_transition, Code::illegal_transition, 409, "illegal_transition",
     "The order's status does not allow this"},
    {Problem::version_mismatch, Code::version_mismatch, 412, "version_mismatch",
     "The order is not at the version named by If-Match"},
    {Problem::malformed_request,
     {},
     400,
     "malformed_request",
     "The request is not well-formed HTTP/1.1"},
    {Problem::request_timeout, {}, 408, "request_timeout", "The request did not arrive in time"},
    {Problem::body_too_large, {}, 413, "body_too_large", "The body is too large"},
    {Problem::headers_too_large,
     {},
     431,
     "headers_too_large",
     "The request's headers are too large"},
    {Problem::unsupported_transfer_coding,
     {},
     400,
     "unsupported_transfer_coding",
     "The request's Transfer-Encoding is not supported"},
    {Problem::unsupported_media_type,
     {},
     415,
     "unsupported_media_type",
     "The body must be application/json"},
    {Problem::validation_failed, Code::validation_failed, 422, "validation_failed",
     "The request breaks the order's rules"},
    {Problem::amount_mismatch, Code::amount_mismatch, 422, "amount_mismatch",
     "The payment does not equal the order's total"},
    {Problem::idempotency_key_reused, Code::idempotency_key_reused, 422, "idempotency_key_reused",
     "The Idempotency-Key was used for a different request"},
    {Problem::unavailable, Code::unavailable, 503, "unavailable",
     "The service cannot reach its database; retry later"},
    {Problem::overloaded, {}, 503, "overloaded", "The service is overloaded; retry later"},
    {Problem::internal_error, {}, 500, "internal_error", "Internal error"},
};

const ProblemRow& row_of(Problem kind) {
  for (const ProblemRow& row : kProblems) {
    if (row.kind == kind) return row;
  }
  return row_of(Problem::internal_error);
}

const ProblemRow& row_of(commands::Code code) {
  for (const ProblemRow& row : kProblems) {
    if (row.result == code) return row;
  }
  return row_of(Problem::internal_error);
}

}  // namespace

HttpResponse problem(Problem kind, const std::string& detail,
                     const std::vector<domain::FieldError>& fields) {
  const ProblemRow& row = row_of(kind);
  json::JsonWriter w;
  w.begin_object();
  w.key("type").string(std::string("/problems/") + row.code);
  w.key("title").string(row.title);
  w.key("status").integer(row.status);
  w.key("code").string(row.code);
  w.key("detail").string(detail);
  if (!fields.empty()) {
    w.key("errors").begin_array();
    for (const auto& field : fields) {
      w.begin_object();
      w.key("field").string(field.field);
      w.key("code").string(field.code);
      w.key("message").string(field.message);
      w.end_object();
    }
    w.end_array();
  }
  w.end_object();
  HttpResponse response{row.status, "application/problem+json", {}, w.take()};
  if (row.status == 503) response.with_header("Retry-After", "1");
  return response;
}

HttpResponse problem_of(const commands::Status& status) {
  HttpResponse response = problem(row_of(status.code).kind, status.detail, status.fields);
  if (status.current_version) {
    response.with_header("ETag", "\"" + std::to_string(*status.current_version) + "\"");
  }
  return response;
}

}  // namespace order::http
