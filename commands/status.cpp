// The domain's refusals and the command layer's own, as Status values.
#include "commands/status.hpp"

namespace order::commands {
namespace {

Code code_of(domain::ErrorCode code) {
  switch (code) {
    case domain::ErrorCode::validation_failed:
      return Code::validation_failed;
    case domain::ErrorCode::order_not_found:
      return Code::order_not_found;
    case domain::ErrorCode::order_already_exists:
      return Code::order_already_exists;
    case domain::ErrorCode::illegal_transition:
      return Code::illegal_transition;
    case domain::ErrorCode::amount_mismatch:
      return Code::amount_mismatch;
  }
  return Code::validation_failed;  // unreachable: the switch names every code
}

}  // namespace

std::string_view to_string(Code code) {
  switch (code) {
    case Code::ok:
      return "ok";
    case Code::validation_failed:
      return "validation_failed";
    case Code::order_not_found:
      return "order_not_found";
    case Code::order_already_exists:
      return "order_already_exists";
    case Code::illegal_transition:
      return "illegal_transition";
    case Code::amount_mismatch:
      return "amount_mismatch";
    case Code::version_mismatch:
      return "version_mismatch";
    case Code::idempotency_key_reused:
      return "idempotency_key_reused";
    case Code::conflict:
      return "conflict";
    case Code::key_taken:
      return "key_taken";
    case Code::unavailable:
      return "unavailable";
  }
  return "unknown";
}

Status Status::refused(const domain::DomainError& error) {
  return {code_of(error.code), error.detail, error.fields, {}};
}

Status Status::version_mismatch(std::int64_t expected_version, std::int64_t current_version) {
  return {Code::version_mismatch,
          "If-Match named version " + std::to_string(expected_version) +
              "; the order is at version " + std::to_string(current_version),
          {},
          current_version};
}

Status Status::idempotency_key_reused(const std::string& key) {
  return {Code::idempotency_key_reused,
          "Idempotency-Key " + key +
              " was used for a different request; use a new key for a new request",
          {},
          {}};
}

}  // namespace order::commands
