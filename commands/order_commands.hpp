// Command handling: load the stream, decide, append; retry on a concurrent writer's conflict.
#pragma once

#include <exception>
#include <functional>
#include <optional>

#include "commands/event_store.hpp"
#include "commands/status.hpp"
#include "domain/order.hpp"

namespace order::commands {

// What a command came to: its Status, and when that is ok, the order it left.
struct Accepted {
  domain::Order order;    // the state after the new events
  LoadedStream stream;    // the stream up to them
  bool replayed = false;  // an idempotent retry: the original outcome, nothing appended now
};
struct Result {
  Status status;      // never conflict or key_taken: those are resolved here
  Accepted accepted;  // when status.ok()

  bool ok() const { return status.ok(); }
};

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
  Result place(domain::UserId user_id, std::vector<domain::LineItem> items,
               const EventMetadata& metadata, const std::optional<Idempotency>& idempotency = {});
  // The same without an Idempotency-Key, answered through `done` exactly once: here and now, or
  // on the thread that commits the order where the store gathers appends (EventStore::
  // create_then), so that this never blocks on such a store. `done` gets the Result place()
  // would return, or the error place() would throw. It must not throw.
  using PlaceDone = std::function<void(Result, std::exception_ptr)>;
  void place_then(domain::UserId user_id, std::vector<domain::LineItem> items,
                  const EventMetadata& metadata, PlaceDone done);

  // A lifecycle command on an existing order. With `expected_version`, the command applies only
  // to that version; without, a concurrent writer's conflict is retried by reloading and
  // deciding again, so two valid racing commands both land and an invalid one never does.
  // With an Idempotency-Key seen before for the same request, both return the original outcome
  // and append nothing; seen with another request, idempotency_key_reused. Neither throws
  // StoreUnavailable: a store that fails, or a stream contended kMaxAttempts times, is
  // Code::unavailable, and then the command may or may not have been applied (a retry with the
  // same Idempotency-Key is safe).
  Result execute(const domain::Command& command, std::optional<std::int64_t> expected_version,
                 const EventMetadata& metadata, const std::optional<Idempotency>& idempotency = {});

  // Conflicts that were retried since construction (for metrics).
  std::int64_t conflicts_retried() const { return conflicts_retried_; }

 private:
  // The outcome recorded for this key, if the key was used before.
  std::optional<Result> recall(const Idempotency& idempotency);
  Result try_place(domain::UserId user_id, std::vector<domain::LineItem> items,
                   const EventMetadata& metadata, const std::optional<Idempotency>& idempotency);
  Result try_execute(const domain::Command& command, std::optional<std::int64_t> expected_version,
                     const EventMetadata& metadata, const std::optional<Idempotency>& idempotency);

  EventStore& store_;
  std::int64_t conflicts_retried_ = 0;
};

// Folds a loaded stream into the aggregate's state.
domain::Order fold_stream(const LoadedStream& stream);

}  // namespace order::commands
