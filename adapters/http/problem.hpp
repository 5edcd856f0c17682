// The one table that maps what went wrong to an HTTP status and an RFC 9457 problem+json body:
// the HTTP edge's own problems, and every commands::Code a command or a query can come to.
// Nothing else in the service knows HTTP statuses of errors.
#pragma once

#include <string>
#include <vector>

#include "adapters/http/http_types.hpp"
#include "commands/status.hpp"
#include "domain/order.hpp"

namespace order::http {

enum class Problem {
  malformed_json,        // 400
  bad_request,           // 400: a malformed header or query parameter
  unauthorized,          // 401: bearer authentication is on and the token is missing or invalid
  not_found,             // 404: no such route
  order_not_found,       // 404
  method_not_allowed,    // 405
  request_timeout,       // 408: the request line, headers or body did not arrive in time
  order_already_exists,  // 409
  illegal_transition,    // 409
  version_mismatch,      // 412: If-Match named another version
  body_too_large,        // 413
  malformed_request,     // 400: not HTTP/1.x (request line, header, chunked encoding)
  headers_too_large,     // 431: the request line and headers exceed the request size limit
  unsupported_transfer_coding,  // 400: a transfer coding other than chunked (not a 501: no
                                // input is answered with a 5xx)
  unsupported_media_type,       // 415
  validation_failed,            // 422
  amount_mismatch,              // 422
  idempotency_key_reused,       // 422: same key, different request
  unavailable,                  // 503: the database is unreachable; retry later
  overloaded,                   // 503: the request queue is full
  internal_error,               // 500: a bug; the detail never reaches the client
};

HttpResponse problem(Problem kind, const std::string& detail,
                     const std::vector<domain::FieldError>& fields = {});
// A Status that is not ok, with its detail and fields; a version_mismatch carries the order's
// current version as its ETag. conflict and key_taken, which OrderCommands resolves before they
// could reach here, are internal errors.
HttpResponse problem_of(const commands::Status& status);

}  // namespace order::http
