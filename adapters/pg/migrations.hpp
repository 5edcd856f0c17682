// Schema migrations: schema/NNN_*.sql, embedded at build time, applied in order, each exactly once.
#pragma once

#include <functional>
#include <pqxx/connection>
#include <string>
#include <string_view>
#include <vector>

namespace order::pg {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

const std::vector<Migration>& embedded_migrations();

// Applies the migrations the database has not seen, each in its own transaction with its row in
// schema_migrations; an advisory lock makes concurrent callers (several instances) safe.
// Returns how many were applied; `log` hears one line per migration applied.
int apply_migrations(pqxx::connection& connection, const std::vector<Migration>& migrations,
                     const std::function<void(std::string_view)>& log = {});

// The migrations the database has applied that `migrations` does not hold, as "NNN name": a
// newer build applied them (this one is a rollback). Empty before any migration ran.
std::vector<std::string> unknown_migrations(pqxx::connection& connection,
                                            const std::vector<Migration>& migrations);

}  // namespace order::pg
