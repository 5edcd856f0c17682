// A read model in a PostgreSQL table as a sink of the subscription engine: each batch is folded
// into the table and the checkpoint advanced in one transaction (guarantee 5: exactly once in
// effect). A projection only says how a batch changes its table.
#pragma once

#include <functional>
#include <memory>
#include <pqxx/transaction>
#include <string>
#include <utility>
#include <vector>

#include "adapters/pg/pg_event_store.hpp"
#include "projections/subscription.hpp"

namespace order::pg {

// Who else writes the table a projection folds into.
enum class TableKind {
  shared,   // the live read model: rows may exist for any key, a batch may come twice
  private_  // a rebuild's or verifier's own table, fed each event exactly once in log order
};

// One table of a read model, as its migration creates it: what a rebuild or a verifier needs to
// make a fresh copy (`<name>_rebuild`, `<name>_verify`) and swap it in with the same index names.
struct TableShape {
  std::string name;
  std::string primary_key;                                   // "(order_id)"
  std::vector<std::pair<std::string, std::string>> indexes;  // name suffix, columns
};

// What a read model kept in tables says: its name, its subscription, its tables, and how a batch
// of events changes them. The engine, the sink, the rebuild and the verifier do the rest.
class TableProjection {
 public:
  virtual ~TableProjection() = default;
  virtual std::string name() const = 0;          // for people and order-admin: "orders"
  virtual std::string subscription() const = 0;  // its live checkpoint and leadership lock
  // Its tables, in the order apply() first touches them: a rebuild's swap locks them in this
  // order too, so the two cannot deadlock.
  virtual std::vector<TableShape> tables() const = 0;
  // Folds `events` into its tables, each named with `suffix` ("" for the live ones), inside
  // `tx`; applying a batch twice changes nothing.
  virtual void apply(pqxx::transaction_base& tx, const std::string& suffix,
                     const std::vector<projections::LogEvent>& events, TableKind kind) const = 0;
};

class ReadModelSink final : public projections::Sink {
 public:
  // Writes the projection's live tables and advances its subscription's checkpoint;
  // `committed`, when given, is told of each batch once its transaction committed.
  using Committed = std::function<void(const std::vector<projections::LogEvent>&)>;
  // `checkpoint` is the shard's checkpoint (pg::checkpoint_name); the projection's subscription
  // when empty.
  ReadModelSink(ConnectionOptions database, const TableProjection& projection,
                Committed committed = {}, std::string checkpoint = {});
  ~ReadModelSink() override;

  void start(const projections::Batch&) override {}
  void finish(const projections::Batch& batch) override;
  void abandon() override {}
  bool writes_checkpoint() const override { return true; }

 private:
  ConnectionOptions database_;
  const TableProjection& projection_;
  Committed committed_;
  std::string checkpoint_;
  std::unique_ptr<pqxx::connection> connection_;
};

}  // namespace order::pg
