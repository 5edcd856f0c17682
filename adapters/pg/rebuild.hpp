// Rebuild and verification of the orders read model from the log (guarantee 6 of DESIGN.md).
#pragma once

#include <cstdint>
#include <functional>
#include <pqxx/transaction_base>
#include <string>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"
#include "adapters/pg/read_model_sink.hpp"

namespace order::pg {

struct Progress {
  std::int64_t events = 0;      // replayed so far
  std::int64_t log_events = 0;  // in the log when the replay began (an estimate of the total)
  double elapsed_seconds = 0;
};
using ProgressFn = std::function<void(const Progress&)>;

struct RebuildResult {
  std::int64_t events = 0;
  std::int64_t rows = 0;
  double seconds = 0;
};

// Replays the whole log into a fresh table through the projector's own fold, then swaps it in
// atomically. First every event of a transaction below one snapshot's horizon, read in stream
// order so each order is folded whole and written once by COPY (memory holds three fetched pages
// and one order); then the events at or past that horizon in log order, as the live projector reads
// them, `batch_size` at a time. It builds the indexes, and under a lock on `orders` and on the
// live projector's checkpoint applies what was appended meanwhile, replaces the table and hands
// the live projector the new checkpoint. Readers wait only for the swap; no event appended
// meanwhile is lost. Only one rebuild runs at a time.
RebuildResult rebuild_orders(const ConnectionOptions& database, int batch_size,
                             const ProgressFn& progress);

// The stream-ordered read of the log that rebuild_orders and verify_orders fold: the events
// `bound` (a condition on `events`) admits, by stream and version, read in `scan` through the
// (stream_id, stream_version) index whatever the log's size, never by a sort of the whole log.
// Sets what it needs on `scan`, for that transaction only.
std::string stream_scan(pqxx::transaction_base& scan, const std::string& bound);

struct Difference {
  std::int64_t order_id = 0;
  std::string description;
};

// Folds the log afresh, up to the live projector's checkpoint, in stream order as a rebuild
// does, and compares it row by row with `orders` as of the snapshot that read the checkpoint.
// The projector and readers go on meanwhile; a rebuild's swap waits for it.
std::vector<Difference> verify_orders(const ConnectionOptions& database,
                                      const ProgressFn& progress);

// Any read model kept in tables, by the same rule as rebuild_orders, without its stream-ordered
// COPY phase: every event in log order into fresh tables, indexed, then swapped in with what was
// appended meanwhile under a short lock, and the live projection handed the new checkpoint.
RebuildResult rebuild_read_model(const ConnectionOptions& database,
                                 const TableProjection& projection, int batch_size,
                                 const ProgressFn& progress);

// Any read model kept in tables, by the same snapshot rule as verify_orders: the log up to the
// live checkpoint folded afresh into temporary tables and compared with the live ones, row by
// row. A difference names the table and the row (order_id 0).
std::vector<Difference> verify_read_model(const ConnectionOptions& database,
                                          const TableProjection& projection,
                                          const ProgressFn& progress);

}  // namespace order::pg
