#include "adapters/pg/key_purge.hpp"

#include <pqxx/pqxx>

#include "adapters/log.hpp"
#include "adapters/metrics.hpp"

namespace order::pg {
namespace {

// By the expiry index, a bounded batch; SKIP LOCKED leaves a row a concurrent transaction holds
// (the same purge on another instance) to the next round instead of waiting for it.
constexpr const char* kPurge = R"(
WITH expired AS (
  SELECT key FROM idempotency_keys WHERE expires_at <= now()
  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
)
DELETE FROM idempotency_keys k USING expired WHERE k.key = expired.key)";

}  // namespace

std::int64_t purge_expired_keys(pqxx::connection& connection, int limit) {
  pqxx::work tx(connection);
  const pqxx::result deleted = tx.exec_params(kPurge, limit);
  tx.commit();
  return static_cast<std::int64_t>(deleted.affected_rows());
}

KeyPurge::KeyPurge(ConnectionOptions options, std::chrono::milliseconds interval, int batch)
    : options_(std::move(options)), interval_(interval), batch_(batch) {
  thread_ = std::thread([this] { run(); });
}

KeyPurge::~KeyPurge() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void KeyPurge::run() {
  std::unique_ptr<pqxx::connection> connection;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, interval_, [&] { return stopping_; })) return;
    }
    try {
      auto& open = open_connection(connection, options_);
      for (;;) {
        const std::int64_t deleted = purge_expired_keys(open, batch_);
        metrics().idempotency_keys_purged += deleted;
        std::lock_guard lock(mutex_);
        if (deleted < batch_ || stopping_) break;
      }
    } catch (const std::exception& error) {
      bool connection_lost = false;
      translate_store_error(std::current_exception(), connection_lost);
      if (connection_lost) connection.reset();
      log::warn("idempotency-keys", "purge of expired keys failed; trying again later",
                {{"error", error.what()}});
    }
  }
}

}  // namespace order::pg
