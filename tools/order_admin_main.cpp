// order-admin: operations on the event store (migrations today; rebuilds and audits to come).
#include <pqxx/pqxx>

#include <cstdlib>
#include <iostream>

#include "adapters/config/config.hpp"
#include "adapters/pg/migrations.hpp"
#include "adapters/pg/pg_event_store.hpp"

namespace {

std::optional<std::string> from_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

constexpr const char* kUsage =
    "usage: order-admin COMMAND [--db-url URL] [--env-file PATH]\n"
    "commands:\n"
    "  migrate   apply the schema migrations the database has not seen (safe to run twice)\n"
    "The database comes from --db-url, DB_URL in the environment, or DB_URL in ./.env.\n";

int migrate(const order::config::Config& settings) {
  auto connection = order::pg::connect({settings.db_url, 60'000});
  const int applied =
      order::pg::apply_migrations(*connection, order::pg::embedded_migrations(),
                                  [](std::string_view line) { std::cout << line << "\n"; });
  pqxx::nontransaction tx(*connection);
  const auto version = tx.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0];
  std::cout << "applied " << applied << " migration(s); the schema is at version "
            << version.as<int>() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  const auto loaded = order::config::load_config(args, from_environment);
  if (const auto* error = std::get_if<order::config::ConfigError>(&loaded)) {
    std::cerr << "order-admin: " << error->message << "\n";
    return 2;
  }
  const auto& settings = std::get<order::config::Config>(loaded);
  if (settings.help) {
    std::cout << kUsage;
    return 0;
  }
  try {
    if (command == "migrate") return migrate(settings);
  } catch (const std::exception& error) {
    std::cerr << "order-admin: " << error.what() << "\n";
    return 1;
  }
  std::cerr << "order-admin: unknown command " << command << "\n" << kUsage;
  return 2;
}
