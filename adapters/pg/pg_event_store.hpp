// The event store over PostgreSQL (libpqxx 6.4). One instance per thread: a pqxx connection is
// not thread-safe. All SQL of the store lives in pg_event_store.cpp as named prepared statements.
#pragma once

#include <memory>
#include <string>

#include "commands/event_store.hpp"
#include "projections/order_read_model.hpp"

#include <pqxx/connection>

namespace order::pg {

struct ConnectionOptions {
  std::string url;
  int statement_timeout_ms = 5000;
};

// Opens a connection with the session settings the product relies on; throws
// commands::StoreUnavailable with a one-line reason when the database cannot be reached.
std::unique_ptr<pqxx::connection> connect(const ConnectionOptions& options);

// Masks the password of a postgresql:// URL for logs.
std::string redact_url(const std::string& url);

// The event store and, over the same connection, the queries of the orders read model.
class PgEventStore final : public commands::EventStore, public projections::OrderReadModel {
 public:
  explicit PgEventStore(ConnectionOptions options);
  ~PgEventStore() override;

  domain::OrderId next_order_id() override;
  commands::LoadedStream load(domain::OrderId stream,
                              const commands::StreamBound& bound = {}) override;
  commands::AppendResult append(domain::OrderId stream, std::int64_t expected_version,
                                std::span<const domain::Event> events,
                                const commands::EventMetadata& metadata,
                                const commands::IdempotencyClaim* claim = nullptr) override;
  std::optional<commands::IdempotencyRecord> find_idempotency_key(const std::string& key) override;

  std::vector<commands::HistoryEntry> history(domain::OrderId stream, std::int64_t after_version,
                                              int limit) override;
  // Up to `limit` events of a user's orders after global position `after_position`.
  std::vector<commands::HistoryEntry> user_history(domain::UserId user, std::int64_t after_position,
                                                   int limit);

  projections::ListPage list_orders(const projections::ListQuery& query) override;
  projections::ProjectionLag projection_lag() override;

  // True when the database answers a trivial query now.
  bool ping();

 private:
  pqxx::connection& connection();
  template <class F>
  auto guarded(F&& work) -> decltype(work());

  ConnectionOptions options_;
  std::unique_ptr<pqxx::connection> connection_;
};

}  // namespace order::pg
