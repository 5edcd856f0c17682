// order-admin: operations on the event log: apply migrations, show an audit trail (an order's or
// a user's), rebuild a read model from the log, verify one against a fresh fold.
#include <pqxx/pqxx>

#include <cstdlib>
#include <iostream>

#include "adapters/config/config.hpp"
#include "adapters/pg/migrations.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "adapters/pg/orders_table.hpp"
#include "adapters/pg/product_sales_table.hpp"
#include "adapters/pg/rebuild.hpp"
#include "tools/history.hpp"

#include <fmt/format.h>
#include <unistd.h>

namespace {

std::optional<std::string> from_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

constexpr const char* kUsage =
    "usage: order-admin COMMAND [--db-url URL] [--env-file PATH]\n"
    "commands:\n"
    "  migrate                      apply the schema migrations the database has not seen\n"
    "                               (safe to run twice)\n"
    "  history ORDER-ID [--json]    the audit trail of an order: every event, who, when\n"
    "  history --user ID [--json]   the events of all of a user's orders\n"
    "  rebuild MODEL                replay the whole log into fresh tables of a read model\n"
    "                               (orders, product-sales) and swap them in atomically; the API\n"
    "                               keeps serving meanwhile\n"
    "  verify MODEL                 fold the log afresh and compare it with the read model's\n"
    "                               tables row by row; exits 1 on any difference\n"
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

// history ORDER-ID | history --user ID, each with an optional --json.
int history(std::vector<std::string> args, const order::config::Config& settings) {
  bool as_json = false;
  std::optional<std::int64_t> user;
  std::optional<std::int64_t> order_id;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--json") {
      as_json = true;
    } else if (args[i] == "--user" && i + 1 < args.size()) {
      user = std::stoll(args[++i]);
    } else {
      order_id = std::stoll(args[i]);
    }
  }
  if (user.has_value() == order_id.has_value()) {
    std::cerr << "order-admin: history takes an ORDER-ID or --user ID\n" << kUsage;
    return 2;
  }
  order::pg::PgEventStore store({settings.db_url, 60'000});
  constexpr int kPage = 1000;
  std::vector<order::commands::HistoryEntry> entries;
  for (std::int64_t after = 0;;) {
    auto page = user ? store.user_history(*user, after, kPage) : store.history(*order_id, after, kPage);
    if (page.empty()) break;
    after = user ? page.back().global_position : page.back().stream_version;
    entries.insert(entries.end(), page.begin(), page.end());
    if (page.size() < kPage) break;
  }
  if (as_json) {
    order::admin::print_history_json(std::cout, entries);
  } else {
    order::admin::print_history_table(std::cout, entries);
  }
  if (entries.empty() && order_id) {
    std::cerr << "order-admin: order " << *order_id << " has no events\n";
    return 1;
  }
  return 0;
}

// A progress bar with rate and ETA on a terminal; a plain line every few seconds otherwise.
order::pg::ProgressFn progress_printer(const char* what) {
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  auto last_line = std::make_shared<double>(-10.0);
  return [=](const order::pg::Progress& p) {
    const double rate = p.elapsed_seconds > 0 ? static_cast<double>(p.events) / p.elapsed_seconds : 0;
    const double share = p.log_events > 0 ? std::min(1.0, static_cast<double>(p.events) /
                                                               static_cast<double>(p.log_events))
                                          : 1.0;
    const double eta = rate > 0 ? static_cast<double>(p.log_events - p.events) / rate : 0;
    if (terminal) {
      const int filled = static_cast<int>(share * 30);
      std::cerr << fmt::format("\r{} [{}{}] {:5.1f}%  {} / {} events  {:.0f} events/s  ETA {:.0f} s ",
                               what, std::string(static_cast<std::size_t>(filled), '#'),
                               std::string(static_cast<std::size_t>(30 - filled), ' '),
                               share * 100, p.events, p.log_events, rate, std::max(0.0, eta));
    } else if (p.elapsed_seconds - *last_line >= 5) {
      *last_line = p.elapsed_seconds;
      std::cerr << fmt::format("{}: {} / {} events, {:.0f} events/s, {:.0f} s elapsed\n", what,
                               p.events, p.log_events, rate, p.elapsed_seconds);
    }
  };
}

// The read models order-admin rebuilds and verifies, by name.
const order::pg::TableProjection* read_model_named(const std::string& name) {
  static const order::pg::OrdersTable kOrders;
  static const order::pg::ProductSalesTable kProductSales;
  if (name == kOrders.name()) return &kOrders;
  if (name == kProductSales.name()) return &kProductSales;
  return nullptr;
}

int rebuild(const std::vector<std::string>& args, const order::config::Config& settings) {
  const auto* projection = args.size() == 1 ? read_model_named(args[0]) : nullptr;
  if (projection == nullptr) {
    std::cerr << "order-admin: rebuild takes the read model's name: orders or product-sales\n";
    return 2;
  }
  const std::string what = "rebuild " + projection->name();
  const order::pg::ConnectionOptions database{settings.db_url, 0};
  // orders has a faster first phase of its own (each order folded whole and written by COPY).
  const auto result =
      projection->name() == "orders"
          ? order::pg::rebuild_orders(database, 5000, progress_printer(what.c_str()))
          : order::pg::rebuild_read_model(database, *projection, 5000,
                                          progress_printer(what.c_str()));
  if (::isatty(STDERR_FILENO) == 1) std::cerr << "\n";
  std::cout << fmt::format("rebuilt {}: {} events replayed into {} rows in {:.1f} s ({:.0f} events/s)\n",
                           projection->name(), result.events, result.rows, result.seconds,
                           result.seconds > 0 ? static_cast<double>(result.events) / result.seconds : 0);
  return 0;
}

int verify(const std::vector<std::string>& args, const order::config::Config& settings) {
  const auto* projection = args.size() == 1 ? read_model_named(args[0]) : nullptr;
  if (projection == nullptr) {
    std::cerr << "order-admin: verify takes the read model's name: orders or product-sales\n";
    return 2;
  }
  const std::string what = "verify " + projection->name();
  const order::pg::ConnectionOptions database{settings.db_url, 0};
  const bool orders = projection->name() == "orders";
  const auto differences =
      orders ? order::pg::verify_orders(database, progress_printer(what.c_str()))
             : order::pg::verify_read_model(database, *projection, progress_printer(what.c_str()));
  if (::isatty(STDERR_FILENO) == 1) std::cerr << "\n";
  for (const auto& d : differences) {
    if (orders) std::cout << "order " << d.order_id << ": ";
    std::cout << d.description << "\n";
  }
  if (!differences.empty()) {
    std::cout << differences.size() << (orders ? " order(s)" : " row(s)")
              << " differ between the log and the read model\n";
    return 1;
  }
  std::cout << "the " << projection->name() << " read model equals the log\n";
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
  // Flags of the subcommand stay with it; the rest configure the database.
  std::vector<std::string> own;
  std::vector<std::string> shared;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if ((args[i] == "--db-url" || args[i] == "--env-file") && i + 1 < args.size()) {
      shared.push_back(args[i]);
      shared.push_back(args[++i]);
    } else {
      own.push_back(args[i]);
    }
  }
  const auto loaded = order::config::load_config(shared, from_environment);
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
    if (command == "history") return history(own, settings);
    if (command == "rebuild") return rebuild(own, settings);
    if (command == "verify") return verify(own, settings);
  } catch (const std::exception& error) {
    std::cerr << "order-admin: " << error.what() << "\n";
    return 1;
  }
  std::cerr << "order-admin: unknown command " << command << "\n" << kUsage;
  return 2;
}
