// One transaction per batch: the projection's writes and the checkpoint, together.
#include "adapters/pg/read_model_sink.hpp"

#include <pqxx/pqxx>

#include "adapters/pg/subscription_store.hpp"

namespace order::pg {

ReadModelSink::ReadModelSink(ConnectionOptions database, const TableProjection& projection,
                             Committed committed, std::string checkpoint)
    : database_(std::move(database)),
      projection_(projection),
      committed_(std::move(committed)),
      checkpoint_(checkpoint.empty() ? projection.subscription() : std::move(checkpoint)) {}

ReadModelSink::~ReadModelSink() = default;

void ReadModelSink::finish(const projections::Batch& batch) {
  if (!connection_) connection_ = connect(database_);
  try {
    pqxx::work tx(*connection_);
    projection_.apply(tx, "", batch.events, TableKind::shared);
    advance_checkpoint(tx, checkpoint_, batch.from, batch.to);
    tx.commit();
  } catch (const pqxx::broken_connection&) {
    connection_.reset();
    throw;
  }
  if (committed_) committed_(batch.events);
}

}  // namespace order::pg
