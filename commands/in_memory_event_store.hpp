// The event store in memory: the reference implementation of EventStore's contract, and the store
// the command layer is specified on (tests/unit/order_commands_test.cpp). It keeps what the
// PostgreSQL store keeps (streams, global positions, metadata, idempotency keys with their
// fingerprints, outcomes and expiry) under one mutex, and lets a test make it unavailable or slip
// a concurrent writer in between a command's load and its append.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "commands/event_store.hpp"

namespace order::commands {

class InMemoryEventStore final : public EventStore {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  // The JSON of an event's data, for history(); the store itself knows no codec.
  using DataEncoder = std::function<std::string(const domain::Event&)>;

  // Without a clock, the system's; without an encoder, history() gives each event's data as null.
  explicit InMemoryEventStore(Clock clock = {}, DataEncoder encode_data = {});

  domain::OrderId next_order_id() override;
  LoadedStream load(domain::OrderId stream, const StreamBound& bound = {}) override;
  AppendResult append(domain::OrderId stream, std::int64_t expected_version,
                      std::span<const domain::Event> events, const EventMetadata& metadata,
                      const IdempotencyClaim* claim = nullptr) override;
  std::vector<HistoryEntry> history(domain::OrderId stream, std::int64_t after_version,
                                    int limit) override;
  std::optional<IdempotencyRecord> find_idempotency_key(const std::string& key) override;

  // ---- for tests ----
  // While set, every call throws StoreUnavailable, as the PostgreSQL store does when the
  // database cannot be reached.
  void set_unavailable(bool unavailable);
  // Runs `interloper` at the start of each of the next `times` appends, before the append looks
  // at the stream: whatever it appends lands between the caller's load and its append, as a
  // concurrent writer's would. Appends made by the interloper itself do not trigger it.
  void before_next_appends(std::function<void()> interloper, int times = 1);
  // How many append calls reached the store (the interloper's included).
  int appends_attempted() const;

 private:
  struct StoredEvent {
    RecordedEvent recorded;
    std::chrono::system_clock::time_point recorded_at;
    EventMetadata metadata;
  };
  struct StoredKey {
    IdempotencyRecord record;
    std::chrono::system_clock::time_point expires_at;
  };

  void check_available() const;  // with mutex_ held

  Clock clock_;
  DataEncoder encode_data_;
  mutable std::mutex mutex_;
  std::map<domain::OrderId, std::vector<StoredEvent>> streams_;
  std::map<std::string, StoredKey> keys_;
  std::int64_t last_position_ = 0;
  domain::OrderId last_order_id_ = 0;
  bool unavailable_ = false;
  std::function<void()> interloper_;
  int interloper_times_ = 0;
  bool in_interloper_ = false;
  int appends_attempted_ = 0;
};

}  // namespace order::commands
