// The gap-safe catch-up reader of the event log, with checkpoints and leadership, over one
// dedicated PostgreSQL connection (libpqxx 6.4). Shared by the Kafka publisher and the projector.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"
#include <pqxx/transaction_base>

#include "projections/event_log.hpp"

namespace order::pg {

// How far a subscriber is behind the log: events (estimated from global positions) and the age
// of its oldest unhandled event.
struct SubscriberLag {
  std::int64_t events_behind = 0;
  double seconds_behind = 0;
};
SubscriberLag lag_of(pqxx::transaction_base& tx, const std::string& subscriber);

class LogReader {
 public:
  // `subscriber` names the checkpoint row and the leadership lock.
  LogReader(ConnectionOptions options, std::string subscriber);
  ~LogReader();

  // Up to `limit` events after `after`, in (transaction id, global position) order, of
  // transactions older than every transaction in flight now. Proof that none is skipped: an
  // event not yet visible belongs to a transaction still in flight, whose id is at least the
  // snapshot's xmin, so it sorts after every event returned here; the next read starts from the
  // last event returned, which is below that xmin, and finds it once it commits.
  std::vector<projections::LogEvent> read_after(const projections::LogPosition& after, int limit);

  // The subscriber's checkpoint (the log's start when it has none yet).
  projections::LogPosition checkpoint();
  // Moves the checkpoint from `from` to `to`; false (and nothing written) if it was not at `from`,
  // i.e. someone else moved it meanwhile.
  bool advance_checkpoint(const projections::LogPosition& from, const projections::LogPosition& to);

  // Sets the checkpoint back to the log's start (for a subscriber whose target starts empty).
  void rewind();

  // Leadership: only one process per subscriber name reads and writes its checkpoint. A session
  // advisory lock, lost with the connection; is_leader() re-checks it.
  bool try_lead();
  bool is_leader() const { return leader_; }

  // Blocks until an append is notified or `timeout` passes (LISTEN events_appended).
  void wait_for_appends(std::chrono::milliseconds timeout);

  SubscriberLag lag(const projections::LogPosition& after);

  // Drops the connection (and with it leadership); the next call reconnects.
  void reset();

 private:
  pqxx::connection& connection();

  ConnectionOptions options_;
  std::string subscriber_;
  std::unique_ptr<pqxx::connection> connection_;
  std::unique_ptr<class Listener> listener_;
  bool leader_ = false;
};

}  // namespace order::pg
