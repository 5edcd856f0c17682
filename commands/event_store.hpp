// What command handling needs from an event store: load a stream, append to it with an expected
// version, allocate order ids. Implemented over PostgreSQL in adapters/pg.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

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

struct AppendResult {
  bool conflict = false;   // the stream was not at the expected version: nothing was written
  bool key_taken = false;  // the claimed key was recorded meanwhile: nothing was written
  std::vector<RecordedEvent> recorded;
};

// The store could not be reached or failed: the caller answers 503, never a 2xx.
class StoreUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class EventStore {
 public:
  virtual ~EventStore() = default;
  virtual domain::OrderId next_order_id() = 0;
  virtual LoadedStream load(domain::OrderId stream, const StreamBound& bound = {}) = 0;
  // Appends `events` as versions expected_version+1, +2, … in one transaction, or nothing.
  virtual AppendResult append(domain::OrderId stream, std::int64_t expected_version,
                              std::span<const domain::Event> events, const EventMetadata& metadata,
                              const IdempotencyClaim* claim = nullptr) = 0;
  // Up to `limit` events of a stream after `after_version`, in version order.
  virtual std::vector<HistoryEntry> history(domain::OrderId stream, std::int64_t after_version,
                                            int limit) = 0;
  // The unexpired record of an idempotency key (an expired one is forgotten here).
  virtual std::optional<IdempotencyRecord> find_idempotency_key(const std::string& key) = 0;
};

}  // namespace order::commands
