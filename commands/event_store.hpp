// What command handling needs from an event store: load a stream, append to it with an expected
// version, remember idempotency keys, allocate order ids. Implemented over PostgreSQL in
// adapters/pg, and in memory in commands/in_memory_event_store.hpp, the reference for the contract.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "commands/status.hpp"
#include "domain/order.hpp"

namespace order::commands {

// Who did what, recorded beside every event (the audit trail).
struct EventMetadata {
  std::string request_id;
  std::string correlation_id;
  std::string causation_id;
  std::string actor;
  std::string idempotency_key;
  std::string traceparent;  // W3C Trace Context of the span that caused the event
  std::string tracestate;
};

struct RecordedEvent {
  std::int64_t global_position = 0;
  std::int64_t stream_version = 0;
  std::string event_id;
  std::string recorded_at;  // RFC 3339, UTC
  domain::Event event;
};

struct LoadedStream {
  std::vector<RecordedEvent> events;  // in stream-version order
  std::int64_t version() const { return events.empty() ? 0 : events.back().stream_version; }
};

// One event as the audit trail shows it: everything the log holds, data and metadata as JSON.
struct HistoryEntry {
  std::int64_t global_position = 0;
  domain::OrderId stream_id = 0;
  std::int64_t stream_version = 0;
  std::string event_id;
  std::string type;
  int schema_version = 1;
  std::string recorded_at;
  std::string data_json;
  std::string metadata_json;
};

// Which prefix of a stream to load: all of it, up to a version, or as it was at a time.
struct StreamBound {
  std::optional<std::int64_t> max_version;
  std::optional<std::string> as_of;  // RFC 3339
};

// An Idempotency-Key to record with the events of an append, in the same transaction.
struct IdempotencyClaim {
  std::string key;
  std::string fingerprint;  // of the request: the same key with another request is refused
  std::string command;      // place, pay, ship, deliver, cancel
  int ttl_seconds = 86'400;
};

// What a recorded key points at: the stream version its request produced.
struct IdempotencyRecord {
  std::string fingerprint;
  std::string command;
  domain::OrderId order_id = 0;
  std::int64_t stream_version = 0;
};

// ok with the events recorded; or conflict, or key_taken, and nothing was written.
struct AppendResult {
  Status status;
  std::vector<RecordedEvent> recorded;  // in stream-version order

  bool conflict() const { return status.is(Code::conflict); }
  bool key_taken() const { return status.is(Code::key_taken); }
};

// A new stream's first append: the id the store took, what the caller decided with it, and, when
// that decision is ok, the append of its events.
struct CreateOutcome {
  domain::OrderId id = 0;
  domain::Decision decision = std::vector<domain::Event>{};
  AppendResult appended;
};

// The callback for an answer that comes later (create_then, a group commit) when the caller waits
// for it after all: it fulfils `promise` with the value or the error it is handed. The promise is
// shared: the answering thread may still be returning from it when the waiter leaves.
template <class T>
std::function<void(T, std::exception_ptr)> fulfilling(std::shared_ptr<std::promise<T>> promise) {
  return [promise = std::move(promise)](T value, const std::exception_ptr& error) {
    if (error) {
      promise->set_exception(error);
    } else {
      promise->set_value(std::move(value));
    }
  };
}

// Thrown by a store that could not be reached or failed, whatever the call: nothing is known to
// be written. OrderCommands turns it into Code::unavailable; a query's caller answers the same.
class StoreUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class EventStore {
 public:
  virtual ~EventStore() = default;
  virtual domain::OrderId next_order_id() = 0;
  virtual LoadedStream load(domain::OrderId stream, const StreamBound& bound = {}) = 0;
  // What load() gives, or the error it throws, handed to `done` exactly once: here and now, or
  // later on another thread, where a store gathers loads. `done` must not throw.
  using LoadDone = std::function<void(LoadedStream, std::exception_ptr)>;
  // By value: a store that gathers loads keeps `done` until it has the answer.
  virtual void load_then(domain::OrderId stream, const StreamBound& bound,
                         LoadDone done) {  // NOLINT(performance-unnecessary-value-param)
    LoadedStream loaded;
    try {
      loaded = load(stream, bound);
    } catch (...) {
      done({}, std::current_exception());
      return;
    }
    done(std::move(loaded), nullptr);
  }
  // Appends `events` as versions expected_version+1, +2, … in one transaction, or nothing:
  // nothing and conflict when the stream is not at `expected_version` (0: the stream must not
  // exist); nothing and key_taken when the claim's key is recorded, even expired (only
  // find_idempotency_key forgets an expired key). On success the claim's key is recorded with
  // its fingerprint and command, pointing at the stream's new version, for ttl_seconds.
  virtual AppendResult append(domain::OrderId stream, std::int64_t expected_version,
                              std::span<const domain::Event> events, const EventMetadata& metadata,
                              const IdempotencyClaim* claim = nullptr) = 0;
  // A new stream: takes an id as next_order_id() does, decides its first events with it, and
  // appends them as append() does with expected version 0 (nothing when the decision refuses).
  // The outcome, or the error, goes to `done` exactly once: here and now, or later on the thread
  // that commits, where a store gathers appends; such a store never blocks the caller here.
  // `decide` must be pure (it may run on that thread); `done` must not throw.
  using DecideNew = std::function<domain::Decision(domain::OrderId)>;
  using CreateDone = std::function<void(CreateOutcome, std::exception_ptr)>;
  // By value: a store that gathers appends keeps them until the commit.
  virtual void create_then(DecideNew decide,  // NOLINT(performance-unnecessary-value-param)
                           const EventMetadata& metadata, std::optional<IdempotencyClaim> claim,
                           CreateDone done) {  // NOLINT(performance-unnecessary-value-param)
    CreateOutcome outcome;
    try {
      outcome.id = next_order_id();
      outcome.decision = decide(outcome.id);
      if (outcome.decision.ok()) {
        outcome.appended =
            append(outcome.id, 0, outcome.decision.events(), metadata, claim ? &*claim : nullptr);
      }
    } catch (...) {
      done({}, std::current_exception());
      return;
    }
    done(std::move(outcome), nullptr);
  }
  // Up to `limit` events of a stream after `after_version`, in version order.
  virtual std::vector<HistoryEntry> history(domain::OrderId stream, std::int64_t after_version,
                                            int limit) = 0;
  // The unexpired record of an idempotency key (an expired one is forgotten here).
  virtual std::optional<IdempotencyRecord> find_idempotency_key(const std::string& key) = 0;
};

}  // namespace order::commands
