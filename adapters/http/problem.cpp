// Problem kinds → status, title, stable code.
#include "adapters/http/problem.hpp"

#include "adapters/json/json_writer.hpp"

namespace order::http {
namespace {

struct ProblemRow {
  int status;
  const char* code;
  const char* title;
};

ProblemRow row_of(Problem kind) {
  switch (kind) {
    case Problem::malformed_json: return {400, "malformed_json", "The body is not valid JSON"};
    case Problem::bad_request: return {400, "bad_request", "The request is malformed"};
    case Problem::unauthorized:
      return {401, "unauthorized", "A valid bearer token is required"};
    case Problem::not_found: return {404, "not_found", "No such resource"};
    case Problem::order_not_found: return {404, "order_not_found", "No such order"};
    case Problem::method_not_allowed: return {405, "method_not_allowed", "Method not allowed"};
    case Problem::order_already_exists: return {409, "order_already_exists", "The order exists"};
    case Problem::illegal_transition:
      return {409, "illegal_transition", "The order's status does not allow this"};
    case Problem::version_mismatch:
      return {412, "version_mismatch", "The order is not at the version named by If-Match"};
    case Problem::body_too_large: return {413, "body_too_large", "The body is too large"};
    case Problem::malformed_request:
      return {400, "malformed_request", "The request is not well-formed HTTP/1.1"};
    case Problem::headers_too_large:
      return {431, "headers_too_large", "The request's headers are too large"};
    case Problem::method_not_implemented:
      return {501, "method_not_implemented", "The request uses a method or coding not supported"};
    case Problem::unsupported_media_type:
      return {415, "unsupported_media_type", "The body must be application/json"};
    case Problem::validation_failed:
      return {422, "validation_failed", "The request breaks the order's rules"};
    case Problem::amount_mismatch:
      return {422, "amount_mismatch", "The payment does not equal the order's total"};
    case Problem::idempotency_key_reused:
      return {422, "idempotency_key_reused",
              "The Idempotency-Key was used for a different request"};
    case Problem::unavailable:
      return {503, "unavailable", "The service cannot reach its database; retry later"};
    case Problem::overloaded: return {503, "overloaded", "The service is overloaded; retry later"};
    case Problem::internal_error: return {500, "internal_error", "Internal error"};
  }
  return {500, "internal_error", "Internal error"};
}

Problem kind_of(domain::ErrorCode code) {
  switch (code) {
    case domain::ErrorCode::validation_failed: return Problem::validation_failed;
    case domain::ErrorCode::order_not_found: return Problem::order_not_found;
    case domain::ErrorCode::order_already_exists: return Problem::order_already_exists;
    case domain::ErrorCode::illegal_transition: return Problem::illegal_transition;
    case domain::ErrorCode::amount_mismatch: return Problem::amount_mismatch;
  }
  return Problem::internal_error;
}

}  // namespace

HttpResponse problem(Problem kind, std::string detail,
                     const std::vector<domain::FieldError>& fields) {
  const ProblemRow row = row_of(kind);
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

HttpResponse problem_of(const domain::DomainError& error) {
  return problem(kind_of(error.code), error.detail, error.fields);
}

}  // namespace order::http
