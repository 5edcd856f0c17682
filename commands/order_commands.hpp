// Command handling: load the stream, decide, append; retry on a concurrent writer's conflict.
#pragma once

#include <optional>
#include <variant>

#include "commands/event_store.hpp"
#include "domain/order.hpp"

namespace order::commands {

struct Accepted {
  domain::Order order;  // the state after the new events
  LoadedStream stream;  // the stream up to them
  bool replayed = false;  // an idempotent retry: the original outcome, nothing appended now
};
// An If-Match that named another version than the stream's.
struct VersionMismatch {
  std::int64_t expected_version = 0;
  std::int64_t actual_version = 0;
};
// An Idempotency-Key already used for a different request.
struct KeyReused {
  std::string key;
};
using Outcome = std::variant<Accepted, domain::DomainError, VersionMismatch, KeyReused>;

// A request's Idempotency-Key, with what identifies the request.
struct Idempotency {
  std::string key;
  std::string fingerprint;
  int ttl_seconds = 86'400;
};

class OrderCommands {
 public:
  static constexpr int kMaxAttempts = 5;

  explicit OrderCommands(EventStore& store) : store_(store) {}

  // Creates a new order: the rules are checked before an id is allocated.
  Outcome place(domain::UserId user_id, std::vector<domain::LineItem> items,
                const EventMetadata& metadata, const std::optional<Idempotency>& idempotency = {});

  // A lifecycle command on an existing order. With `expected_version`, the command applies only
  // to that version; without, a concurrent writer's conflict is retried by reloading and
  // deciding again, so two valid racing commands both land and an invalid one never does.
  // With an Idempotency-Key seen before for the same request, both return the original outcome
  // and append nothing; seen with another request, KeyReused.
  Outcome execute(const domain::Command& command, std::optional<std::int64_t> expected_version,
                  const EventMetadata& metadata, const std::optional<Idempotency>& idempotency = {});

  // Conflicts that were retried since construction (for metrics).
  std::int64_t conflicts_retried() const { return conflicts_retried_; }

 private:
  // The outcome recorded for this key, if the key was used before.
  std::optional<Outcome> recall(const Idempotency& idempotency);

  EventStore& store_;
  std::int64_t conflicts_retried_ = 0;
};

// Folds a loaded stream into the aggregate's state.
domain::Order fold_stream(const LoadedStream& stream);

}  // namespace order::commands
