// The projector: folds the log into a read-model table through the gap-safe reader, writing the
// rows and its checkpoint in one transaction (guarantee 5: exactly-once in effect).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pqxx/transaction>

#include "adapters/pg/log_reader.hpp"
#include "projections/order_projection.hpp"

namespace order::pg {

// The live projector's subscriber name: its checkpoint says how far the read model has come.
inline constexpr const char* kOrdersProjector = "orders-projector";

// The read model's columns, as order_row_from() reads them.
extern const char* const kOrderRowColumns;
projections::OrderRow order_row_from(const pqxx::row& row);

struct ProjectorOptions {
  ConnectionOptions database;
  std::string table = "orders";                // the read model it writes
  std::string subscriber = kOrdersProjector;  // its checkpoint and leadership lock
  int batch_size = 2000;
  std::chrono::milliseconds idle_wait{1'000};
};

class Projector {
 public:
  explicit Projector(ProjectorOptions options);
  ~Projector();

  void start();
  void stop();

  // One batch: lead if possible, read, fold, write rows and checkpoint together. Returns the
  // number of events handled (0 when caught up or not leading).
  std::size_t project_once();

  // Who else writes the table `apply` folds into.
  enum class Table {
    shared,   // the live read model: rows may exist for any order, a batch may come twice
    private_  // a rebuild's or verifier's own table, fed each event exactly once in log order:
              // an order whose batch starts at version 1 has no row yet, and none is locked
  };

  // Folds `events` into `table` inside `tx`: loads the rows they touch, applies the pure fold,
  // upserts what changed. Shared by the live projector, the rebuild and the verifier.
  static void apply(pqxx::work& tx, const std::string& table,
                    const std::vector<projections::LogEvent>& events,
                    Table kind = Table::shared);

  // Decodes one stored event and folds it into `row` through the shared pure projection. Returns
  // whether the row changed; throws when the data does not decode or the order skips a version.
  static bool fold(std::optional<projections::OrderRow>& row, domain::OrderId order_id,
                   std::int64_t version, std::string_view type, std::string_view data_json,
                   const std::string& recorded_at, std::string_view event_id);

  // Moves `subscriber`'s checkpoint from `from` to `to` inside `tx`; throws if it was elsewhere.
  static void advance(pqxx::work& tx, const std::string& subscriber,
                      const projections::LogPosition& from, const projections::LogPosition& to);

 private:
  void run();
  ProjectorOptions options_;
  std::unique_ptr<LogReader> reader_;
  std::unique_ptr<pqxx::connection> writer_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::chrono::steady_clock::time_point next_lead_attempt_{};
};

}  // namespace order::pg
