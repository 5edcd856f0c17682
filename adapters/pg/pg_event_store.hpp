// The event store over PostgreSQL (libpqxx 6.4): append, load, history, idempotency keys, order
// ids, and the connection and batch append they are built on. One PgEventStore per thread (a pqxx
// connection is not thread-safe); appends may go through a GroupCommit's own connection. Its SQL
// lives in pg_event_store.cpp as named prepared statements; the read model's queries are
// PgOrderReadModel's (pg_order_read_model.hpp).
#pragma once

#include <exception>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <span>
#include <string>
#include <vector>

#include "adapters/pg/conninfo.hpp"
#include "commands/event_store.hpp"

namespace order::pg {

class GroupCommit;
class GroupLoad;
class Session;

struct ConnectionOptions {
  std::string url;
  int statement_timeout_ms = 5000;
};

// Opens a connection with the session settings the product relies on, and network timeouts at
// both ends (conninfo.hpp) unless the URL sets its own; throws
// commands::StoreUnavailable with a one-line reason when the database cannot be reached.
std::unique_ptr<pqxx::connection> connect(const ConnectionOptions& options);

// Whether `connection` is still open, as far as can be told without a round trip: it reads what
// the server sent meanwhile, which is where a connection the server ended while it sat idle (a
// restart, a failover, pg_terminate_backend, an idle timeout) shows. A holder checks before each
// use and replaces a dead connection then, so that no client's request is the one to find it
// dead and answer 503. (A use in the instant between the server's last message and its closing
// of the socket still finds it dead, and fails as before.)
bool still_open(pqxx::connection& connection) noexcept;

// `slot`'s connection, opened (again) when there is none or it is no longer open.
pqxx::connection& open_connection(std::unique_ptr<pqxx::connection>& slot,
                                  const ConnectionOptions& options);

// What a driver error means to the store's callers: a commands::StoreUnavailable when the
// database cannot be reached, refused for lack of resources, timed out, or left a commit's
// outcome unknown (then `connection_lost` is set: drop the connection); the error itself
// otherwise.
std::exception_ptr translate_store_error(std::exception_ptr error, bool& connection_lost);

// One append as the batch statement takes it: a JSON object, encoded by the caller's thread.
struct EncodedAppend {
  domain::OrderId stream = 0;
  std::string key;   // the idempotency key claimed, "" for none
  std::string json;  // {"stream":…,"expected":…,"events":[…],"metadata":{…},"key":…,…}
  // What `json` encodes, for the recorded events of the answer: the statement returns their
  // positions, ids and times, not the data the caller already holds.
  std::int64_t expected = 0;
  std::vector<domain::Event> events;
};

EncodedAppend encode_append(domain::OrderId stream, std::int64_t expected_version,
                            std::span<const domain::Event> events,
                            const commands::EventMetadata& metadata,
                            const commands::IdempotencyClaim* claim);

// Prepares the batch statement on a connection (pg::connect does it for every connection).
void prepare_append(pqxx::connection& connection);

// Appends every one of `batch` in one statement: one transaction, one commit. Each append writes
// all its events or none: none when its stream is not at its expected version (conflict) or its
// key is already recorded (key_taken), and that leaves the others untouched. The streams and the
// keys of a batch must be distinct. Throws the driver's error when the statement as a whole
// fails; then nothing of the batch was written.
std::vector<commands::AppendResult> append_batch(pqxx::connection& connection,
                                                 std::span<const EncodedAppend* const> batch);

// One load as the batch statement takes it. The bound's `as_of`, when set, is a time the database
// reads as a timestamptz: commands::utc_rfc3339 makes one.
struct LoadRequest {
  domain::OrderId stream = 0;
  commands::StreamBound bound;
};

// A load's answer in a batch: its stream, or why that stream alone cannot be read (an event this
// build cannot decode), which fails no other load of the batch.
struct LoadOutcome {
  commands::LoadedStream stream;
  std::exception_ptr error;
};

// Loads every one of `batch` in one statement, on one snapshot: the answers in `batch`'s order,
// each its stream's events within its bound in version order (none for a stream that does not
// exist). A stream may appear more than once. Throws the driver's error when the statement fails.
std::vector<LoadOutcome> load_batch(pqxx::connection& connection,
                                    std::span<const LoadRequest* const> batch);

// Order ids taken from the sequence a block at a time and handed out to a process's stores: one
// round trip per block instead of one per order. Ids stay unique and close to arrival order; the
// rest of a block is skipped when the process stops, a gap like a rolled-back nextval leaves.
class OrderIdBlocks {
 public:
  explicit OrderIdBlocks(int block_size = 32) : block_size_(block_size) {}
  // Refills through `connection` (the caller's own) when the block is used up.
  domain::OrderId next(pqxx::connection& connection);

 private:
  std::mutex mutex_;
  std::vector<domain::OrderId> block_;
  std::size_t used_ = 0;
  int block_size_;
};

// What a PgEventStore may share with the process's other stores. With `commits`, appends go
// through it and share commits with other threads' appends; with `loads`, loads go through it
// and share statements; with `ids`, order ids come from its blocks.
struct StoreSharing {
  GroupCommit* commits = nullptr;
  GroupLoad* loads = nullptr;
  OrderIdBlocks* ids = nullptr;
  // With `loads`: load_then never loads on this store's own connection, even when nothing else
  // is loading, so it never blocks its caller (a reactor thread's store).
  bool never_load_here = false;
};

class PgEventStore final : public commands::EventStore {
 public:
  // On a connection of its own, or on a thread's session shared with its read-model queries.
  explicit PgEventStore(ConnectionOptions options, StoreSharing shared = {});
  explicit PgEventStore(Session& session, StoreSharing shared = {});
  ~PgEventStore() override;

  domain::OrderId next_order_id() override;
  commands::LoadedStream load(domain::OrderId stream,
                              const commands::StreamBound& bound = {}) override;
  // Through group load, when it is shared and busy, `done` runs on its loader thread.
  void load_then(domain::OrderId stream, const commands::StreamBound& bound,
                 LoadDone done) override;
  commands::AppendResult append(domain::OrderId stream, std::int64_t expected_version,
                                std::span<const domain::Event> events,
                                const commands::EventMetadata& metadata,
                                const commands::IdempotencyClaim* claim = nullptr) override;
  // With a shared group commit and shared ids, handed to the committer: it takes the id, runs
  // `decide`, commits with the next batch and calls `done`, all on its thread, so this never
  // blocks. Otherwise here and now, on this store's connection.
  void create_then(DecideNew decide, const commands::EventMetadata& metadata,
                   std::optional<commands::IdempotencyClaim> claim, CreateDone done) override;
  std::optional<commands::IdempotencyRecord> find_idempotency_key(const std::string& key) override;

  std::vector<commands::HistoryEntry> history(domain::OrderId stream, std::int64_t after_version,
                                              int limit) override;
  // Up to `limit` events of a user's orders after global position `after_position`.
  std::vector<commands::HistoryEntry> user_history(domain::UserId user, std::int64_t after_position,
                                                   int limit);

  // True when the database answers a trivial query now.
  bool ping();

 private:
  // One statement on the session's connection.
  commands::LoadedStream load_here(domain::OrderId stream, const commands::StreamBound& bound);

  std::unique_ptr<Session> owned_;
  Session& session_;
  StoreSharing shared_;
};

}  // namespace order::pg
