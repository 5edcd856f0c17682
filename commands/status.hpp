// What became of a command or of an append, in one vocabulary (after LevelDB's Status): ok, or a
// stable code with a detail and, for validation, the fields at fault. adapters/http maps it to
// problem+json in one table; nothing here knows HTTP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/order.hpp"

namespace order::commands {

enum class Code {
  ok,
  // The aggregate refused the command (domain::ErrorCode, same names).
  validation_failed,  // see Status::fields
  order_not_found,
  order_already_exists,
  illegal_transition,
  amount_mismatch,
  // The command layer refused it.
  version_mismatch,        // the expected version (If-Match) is not the stream's
  idempotency_key_reused,  // the key was used for a different request
  // The store's answers to an append. OrderCommands resolves both (re-decides, or replays the
  // key's outcome), so neither is ever a command's result.
  conflict,   // the stream was not at the expected version: nothing was written
  key_taken,  // the claimed key was recorded meanwhile: nothing was written
  // The store could not be reached, failed, or stayed contended: retry later.
  unavailable,
};
std::string_view to_string(Code code);

struct Status {
  Code code = Code::ok;
  std::string detail;
  std::vector<domain::FieldError> fields;  // validation_failed: every field at fault
  // version_mismatch: the stream's version now, which the client may name next time.
  std::optional<std::int64_t> current_version;

  bool ok() const { return code == Code::ok; }
  bool is(Code other) const { return code == other; }

  static Status refused(const domain::DomainError& error);
  static Status version_mismatch(std::int64_t expected_version, std::int64_t current_version);
  static Status idempotency_key_reused(const std::string& key);
  static Status conflict(std::string detail) { return {Code::conflict, std::move(detail), {}, {}}; }
  static Status key_taken(std::string detail) {
    return {Code::key_taken, std::move(detail), {}, {}};
  }
  static Status unavailable(std::string detail) {
    return {Code::unavailable, std::move(detail), {}, {}};
  }
};

}  // namespace order::commands
