// The event store's contract, kept in memory: the same answers as the PostgreSQL store's SQL.
#include "commands/in_memory_event_store.hpp"

#include <cstdio>
#include <stdexcept>

#include "commands/rfc3339.hpp"

namespace order::commands {
namespace {

using TimePoint = std::chrono::system_clock::time_point;

std::string event_id_of(std::int64_t global_position) {
  char text[40];
  std::snprintf(text, sizeof text, "00000000-0000-4000-8000-%012llx",
                static_cast<unsigned long long>(global_position));
  return text;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  out += '"';
}

// The metadata as the PostgreSQL store records it: only the fields that are set.
std::string metadata_json(const EventMetadata& metadata) {
  std::string out = "{";
  auto put = [&](std::string_view key, const std::string& value) {
    if (value.empty()) return;
    if (out.size() > 1) out += ',';
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
  };
  put("request_id", metadata.request_id);
  put("correlation_id", metadata.correlation_id);
  put("causation_id", metadata.causation_id);
  put("actor", metadata.actor);
  put("idempotency_key", metadata.idempotency_key);
  out += '}';
  return out;
}

}  // namespace

InMemoryEventStore::InMemoryEventStore(Clock clock, DataEncoder encode_data)
    : clock_(clock ? std::move(clock) : Clock([] { return std::chrono::system_clock::now(); })),
      encode_data_(std::move(encode_data)) {}

void InMemoryEventStore::check_available() const {
  if (unavailable_) throw StoreUnavailable("the in-memory store is set unavailable");
}

domain::OrderId InMemoryEventStore::next_order_id() {
  std::lock_guard lock(mutex_);
  check_available();
  return ++last_order_id_;
}

LoadedStream InMemoryEventStore::load(domain::OrderId stream, const StreamBound& bound) {
  std::optional<Microseconds> as_of;
  if (bound.as_of) {
    as_of = parse_rfc3339(*bound.as_of);
    // The database refuses a malformed time; callers validate before they ask.
    if (!as_of) throw std::invalid_argument("as_of is not an RFC 3339 time: " + *bound.as_of);
  }
  std::lock_guard lock(mutex_);
  check_available();
  LoadedStream loaded;
  const auto found = streams_.find(stream);
  if (found == streams_.end()) return loaded;
  for (const StoredEvent& stored : found->second) {
    if (bound.max_version && stored.recorded.stream_version > *bound.max_version) break;
    if (as_of && std::chrono::floor<std::chrono::microseconds>(stored.recorded_at) > *as_of) break;
    loaded.events.push_back(stored.recorded);
  }
  return loaded;
}

AppendResult InMemoryEventStore::append(domain::OrderId stream, std::int64_t expected_version,
                                        std::span<const domain::Event> events,
                                        const EventMetadata& metadata,
                                        const IdempotencyClaim* claim) {
  std::function<void()> interloper;
  {
    std::lock_guard lock(mutex_);
    ++appends_attempted_;
    check_available();
    if (interloper_times_ > 0 && !in_interloper_) {
      --interloper_times_;
      interloper = interloper_;
      in_interloper_ = true;
    }
  }
  if (interloper) {
    try {
      interloper();
    } catch (...) {
      std::lock_guard lock(mutex_);
      in_interloper_ = false;
      throw;
    }
  }

  std::lock_guard lock(mutex_);
  if (interloper) in_interloper_ = false;
  check_available();
  const bool claims_key = claim != nullptr && !claim->key.empty();
  // A recorded key refuses the append even when expired: only find_idempotency_key forgets one.
  if (claims_key && keys_.contains(claim->key)) {
    return {Status::key_taken("idempotency key " + claim->key + " is recorded"), {}};
  }
  std::vector<StoredEvent>& stored = streams_[stream];
  const auto version = static_cast<std::int64_t>(stored.size());
  if (version != expected_version) {
    if (stored.empty()) streams_.erase(stream);
    return {Status::conflict("stream " + std::to_string(stream) + " is at version " +
                             std::to_string(version) + ", not " + std::to_string(expected_version)),
            {}};
  }
  const TimePoint now = clock_();
  AppendResult result;
  for (const domain::Event& event : events) {
    const std::int64_t position = ++last_position_;
    RecordedEvent recorded{
        position, static_cast<std::int64_t>(stored.size()) + 1, event_id_of(position),
        format_rfc3339(std::chrono::floor<std::chrono::microseconds>(now)), event};
    result.recorded.push_back(recorded);
    stored.push_back(StoredEvent{std::move(recorded), now, metadata});
  }
  if (stored.empty()) streams_.erase(stream);
  if (claims_key) {
    keys_[claim->key] =
        StoredKey{IdempotencyRecord{claim->fingerprint, claim->command, stream,
                                    expected_version + static_cast<std::int64_t>(events.size())},
                  now + std::chrono::seconds(claim->ttl_seconds)};
  }
  return result;
}

std::vector<HistoryEntry> InMemoryEventStore::history(domain::OrderId stream,
                                                      std::int64_t after_version, int limit) {
  std::lock_guard lock(mutex_);
  check_available();
  std::vector<HistoryEntry> entries;
  const auto found = streams_.find(stream);
  if (found == streams_.end()) return entries;
  for (const StoredEvent& stored : found->second) {
    if (static_cast<int>(entries.size()) >= limit) break;
    const RecordedEvent& recorded = stored.recorded;
    if (recorded.stream_version <= after_version) continue;
    entries.push_back({recorded.global_position, stream, recorded.stream_version, recorded.event_id,
                       std::string(domain::event_type(recorded.event)), 1, recorded.recorded_at,
                       encode_data_ ? encode_data_(recorded.event) : std::string("null"),
                       metadata_json(stored.metadata)});
  }
  return entries;
}

std::optional<IdempotencyRecord> InMemoryEventStore::find_idempotency_key(const std::string& key) {
  std::lock_guard lock(mutex_);
  check_available();
  const auto found = keys_.find(key);
  if (found == keys_.end()) return std::nullopt;
  if (found->second.expires_at <= clock_()) {
    keys_.erase(found);
    return std::nullopt;
  }
  return found->second.record;
}

void InMemoryEventStore::set_unavailable(bool unavailable) {
  std::lock_guard lock(mutex_);
  unavailable_ = unavailable;
}

void InMemoryEventStore::before_next_appends(std::function<void()> interloper, int times) {
  std::lock_guard lock(mutex_);
  interloper_ = std::move(interloper);
  interloper_times_ = times;
}

int InMemoryEventStore::appends_attempted() const {
  std::lock_guard lock(mutex_);
  return appends_attempted_;
}

}  // namespace order::commands
