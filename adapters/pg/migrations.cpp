// Applies embedded migrations once each, under an advisory lock.
#include "adapters/pg/migrations.hpp"

#include <algorithm>
#include <pqxx/pqxx>

namespace order::pg {
namespace {
// Any fixed number: the key of the advisory lock that serialises migrators.
constexpr long long kMigrationLock = 0x6f726465725f6d67;  // "order_mg"
}  // namespace

int apply_migrations(pqxx::connection& connection, const std::vector<Migration>& migrations,
                     const std::function<void(std::string_view)>& log) {
  {
    pqxx::work tx(connection);
    tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
    tx.exec0(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    tx.commit();
  }
  int applied = 0;
  for (const Migration& migration : migrations) {
    pqxx::work tx(connection);
    tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
    const pqxx::result seen =
        tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", migration.version);
    if (!seen.empty()) continue;
    tx.exec0(std::string(migration.sql));
    tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                   migration.version, std::string(migration.name));
    tx.commit();
    ++applied;
    if (log) log("applied migration " + std::string(migration.name));
  }
  return applied;
}

std::vector<std::string> unknown_migrations(pqxx::connection& connection,
                                            const std::vector<Migration>& migrations) {
  int newest = 0;
  for (const Migration& migration : migrations) newest = std::max(newest, migration.version);
  pqxx::work tx(connection);
  if (tx.exec("SELECT to_regclass('schema_migrations') IS NULL")[0][0].as<bool>()) return {};
  std::vector<std::string> unknown;
  for (const auto& row : tx.exec_params(
           "SELECT version, name FROM schema_migrations WHERE version > $1 ORDER BY version",
           newest)) {
    unknown.push_back(row[0].as<std::string>() + " " + row[1].as<std::string>());
  }
  return unknown;
}

}  // namespace order::pg
