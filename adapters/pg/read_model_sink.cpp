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
  if (!connection_) {
    connection_ = connect(database_);
    // A batch's rows and its checkpoint commit together; a crash of the database may lose the
    // last few such commits, but always whole, the checkpoint with its rows, and the sink
    // replays them from the checkpoint that survived. So the commit need not wait for the WAL
    // flush: under an ingest load that wait, twice per append for two read models, competed
    // with the appends' own commits for the same disk.
    pqxx::nontransaction(*connection_).exec("SET synchronous_commit = off");
    // Readers of the log do not wait for this session's transactions (kAppendHorizon).
    connection_->set_variable("application_name", connection_->quote(kReadModelSession));
  }
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
