// A read model in a PostgreSQL table as a sink of the subscription engine: each batch is folded
// into the table and the checkpoint advanced in one transaction (guarantee 5: exactly once in
// effect). A projection only says how a batch changes its table.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <pqxx/transaction>

#include "adapters/pg/pg_event_store.hpp"
#include "projections/subscription.hpp"

namespace order::pg {

// Who else writes the table a projection folds into.
enum class TableKind {
  shared,   // the live read model: rows may exist for any key, a batch may come twice
  private_  // a rebuild's or verifier's own table, fed each event exactly once in log order
};

// What a read model kept in a table says: how a batch of events changes it.
class TableProjection {
 public:
  virtual ~TableProjection() = default;
  // Folds `events` into `table` inside `tx`; applying a batch twice changes nothing.
  virtual void apply(pqxx::work& tx, const std::string& table,
                     const std::vector<projections::LogEvent>& events, TableKind kind) const = 0;
};

class ReadModelSink final : public projections::Sink {
 public:
  // `checkpoint` names the subscription's checkpoint row, which it advances with every batch.
  ReadModelSink(ConnectionOptions database, const TableProjection& projection, std::string table,
                std::string checkpoint);
  ~ReadModelSink() override;

  void start(const projections::Batch&) override {}
  void finish(const projections::Batch& batch) override;
  void abandon() override {}
  bool writes_checkpoint() const override { return true; }

 private:
  ConnectionOptions database_;
  const TableProjection& projection_;
  std::string table_;
  std::string checkpoint_;
  std::unique_ptr<pqxx::connection> connection_;
};

}  // namespace order::pg
