// order-admin: operations on the event log: apply migrations, show an audit trail (an order's or
// a user's), rebuild a read model from the log, verify one against a fresh fold.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>

#include "adapters/config/config.hpp"
#include "adapters/metrics.hpp"
#include "adapters/pg/migrations.hpp"
#include "adapters/pg/orders_table.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "adapters/pg/product_sales_table.hpp"
#include "adapters/pg/rebuild.hpp"
#include "adapters/pg/shard_admin.hpp"
#include "tools/history.hpp"

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
    "  rebuild MODEL [--metrics-file PATH]\n"
    "                               replay the whole log into fresh tables of a read model\n"
    "                               (orders, product-sales) and swap them in atomically; the API\n"
    "                               keeps serving meanwhile; its progress goes to PATH in the\n"
    "                               Prometheus text format as it runs\n"
    "  verify MODEL                 fold the log afresh and compare it with the read model's\n"
    "                               tables row by row; exits 1 on any difference\n"
    "  status                       every subscription's shards: the instance leading each, its\n"
    "                               checkpoint, and the events it has still to handle\n"
    "  reshard SUBSCRIPTION N [--wait SECONDS]\n"
    "                               change a subscription (kafka-publisher, orders-projector,\n"
    "                               product-sales-projector) to N shards, offline: with every\n"
    "                               instance stopped, waits (default 60 s) until every shard of\n"
    "                               the old layout has handled the whole log, then writes N\n"
    "                               checkpoints at that one position in one transaction; start\n"
    "                               the instances again with SUBSCRIPTION_SHARDS=N\n"
    "The database comes from --db-url, DB_URL in the environment, or DB_URL in ./.env.\n";

// A bad argument: one line that names it, and exit status 2.
struct BadArgument {
  std::string message;
};

[[noreturn]] void bad_argument(std::string message) { throw BadArgument{std::move(message)}; }

std::int64_t positive_integer(std::string_view what, const std::string& text) {
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value <= 0) {
    bad_argument(fmt::format("{} must be a positive integer, not '{}'", what, text));
  }
  return value;
}

void no_arguments(std::string_view command, const std::vector<std::string>& args) {
  if (!args.empty()) bad_argument(fmt::format("{} takes no argument, not '{}'", command, args[0]));
}

int migrate(const std::vector<std::string>& args, const order::config::Config& settings) {
  no_arguments("migrate", args);
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
    } else if (args[i] == "--user") {
      if (i + 1 == args.size()) bad_argument("history --user needs a user id");
      if (user) bad_argument("history takes --user once");
      user = positive_integer("history --user ID", args[++i]);
    } else if (args[i].starts_with("-")) {
      bad_argument(fmt::format("history has no option '{}'", args[i]));
    } else {
      if (order_id) bad_argument(fmt::format("history takes one ORDER-ID, not also '{}'", args[i]));
      order_id = positive_integer("history ORDER-ID", args[i]);
    }
  }
  if (user.has_value() == order_id.has_value()) {
    bad_argument("history takes an ORDER-ID or --user ID, not both, not neither");
  }
  order::pg::PgEventStore store({settings.db_url, 60'000});
  constexpr int kPage = 1000;
  std::vector<order::commands::HistoryEntry> entries;
  for (std::int64_t after = 0;;) {
    auto page =
        user ? store.user_history(*user, after, kPage) : store.history(*order_id, after, kPage);
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
    const double rate =
        p.elapsed_seconds > 0 ? static_cast<double>(p.events) / p.elapsed_seconds : 0;
    const double share =
        p.log_events > 0
            ? std::min(1.0, static_cast<double>(p.events) / static_cast<double>(p.log_events))
            : 1.0;
    const double eta = rate > 0 ? static_cast<double>(p.log_events - p.events) / rate : 0;
    if (terminal) {
      const int filled = static_cast<int>(share * 30);
      std::cerr << fmt::format(
          "\r{} [{}{}] {:5.1f}%  {} / {} events  {:.0f} events/s  ETA {:.0f} s ", what,
          std::string(static_cast<std::size_t>(filled), '#'),
          std::string(static_cast<std::size_t>(30 - filled), ' '), share * 100, p.events,
          p.log_events, rate, std::max(0.0, eta));
    } else if (p.elapsed_seconds - *last_line >= 5) {
      *last_line = p.elapsed_seconds;
      std::cerr << fmt::format("{}: {} / {} events, {:.0f} events/s, {:.0f} s elapsed\n", what,
                               p.events, p.log_events, rate, p.elapsed_seconds);
    }
  };
}

// The rebuild's progress as order_rebuild_* gauges in a Prometheus text file, replaced whole
// (written aside, then renamed) so a collector never reads half of it.
order::pg::ProgressFn with_metrics_file(order::pg::ProgressFn inner, std::string path) {
  return [inner = std::move(inner), path = std::move(path)](const order::pg::Progress& p) {
    inner(p);
    order::metrics().rebuild_events_replayed = p.events;
    order::metrics().rebuild_log_events = p.log_events;
    if (path.empty()) return;
    const std::string aside = path + ".tmp";
    std::ofstream(aside) << order::metrics().render();
    std::rename(aside.c_str(), path.c_str());
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

// The read model a rebuild or a verify names, or a one-line error naming what it got.
const order::pg::TableProjection& read_model_argument(const char* command,
                                                      const std::vector<std::string>& args) {
  if (args.size() == 1) {
    if (const auto* projection = read_model_named(args[0])) return *projection;
  }
  bad_argument(
      args.empty()
          ? fmt::format("{} takes a read model's name: orders or product-sales", command)
          : fmt::format("{} takes one read model's name, orders or product-sales, not '{}'",
                        command, fmt::join(args, " ")));
}

int rebuild(std::vector<std::string> args, const order::config::Config& settings) {
  std::string metrics_file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--metrics-file") continue;
    if (i + 1 == args.size()) bad_argument("rebuild --metrics-file needs a path");
    metrics_file = args[i + 1];
    const auto at = args.begin() + static_cast<std::ptrdiff_t>(i);
    args.erase(at, at + 2);
    break;
  }
  const auto* projection = &read_model_argument("rebuild", args);
  const std::string what = "rebuild " + projection->name();
  const order::pg::ConnectionOptions database{settings.db_url, 0};
  auto progress = with_metrics_file(progress_printer(what.c_str()), metrics_file);
  // orders has a faster first phase of its own (each order folded whole and written by COPY).
  const auto result = projection->name() == "orders"
                          ? order::pg::rebuild_orders(database, 5000, progress)
                          : order::pg::rebuild_read_model(database, *projection, 5000, progress);
  if (::isatty(STDERR_FILENO) == 1) std::cerr << "\n";
  std::cout << fmt::format(
      "rebuilt {}: {} events replayed into {} rows in {:.1f} s ({:.0f} events/s)\n",
      projection->name(), result.events, result.rows, result.seconds,
      result.seconds > 0 ? static_cast<double>(result.events) / result.seconds : 0);
  return 0;
}

int verify(const std::vector<std::string>& args, const order::config::Config& settings) {
  const auto* projection = &read_model_argument("verify", args);
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

int status(const std::vector<std::string>& args, const order::config::Config& settings) {
  no_arguments("status", args);
  const auto shards = order::pg::shard_status({settings.db_url, 60'000});
  std::cout << fmt::format("{:<28} {:>7}  {:<32} {:>24}  {:>10} {:>9}\n", "SUBSCRIPTION", "SHARD",
                           "LEADER", "CHECKPOINT (XID/POSITION)", "LAG EVENTS", "LAG S");
  for (const auto& s : shards) {
    std::cout << fmt::format(
        "{:<28} {:>7}  {:<32} {:>24}  {:>10} {:>9.1f}\n", s.subscription,
        fmt::format("{}/{}", s.shard.index, s.shard.count), s.leader.empty() ? "-" : s.leader,
        fmt::format("{}/{}", s.checkpoint.transaction_id, s.checkpoint.global_position),
        s.lag_events, s.lag_seconds);
  }
  if (shards.empty()) std::cout << "(no subscription has a checkpoint yet)\n";
  return 0;
}

int reshard(std::vector<std::string> args, const order::config::Config& settings) {
  std::int64_t wait = 60;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--wait") continue;
    if (i + 1 == args.size()) bad_argument("reshard --wait needs a number of seconds");
    wait = positive_integer("reshard --wait SECONDS", args[i + 1]);
    const auto at = args.begin() + static_cast<std::ptrdiff_t>(i);
    args.erase(at, at + 2);
    break;
  }
  if (args.size() != 2) bad_argument("reshard takes a subscription and a number of shards");
  const std::vector<std::string> known{"kafka-publisher", "kafka-publisher-embedded",
                                       "orders-projector", "product-sales-projector"};
  if (std::find(known.begin(), known.end(), args[0]) == known.end()) {
    bad_argument(fmt::format("reshard takes a subscription ({}), not '{}'", fmt::join(known, ", "),
                             args[0]));
  }
  const std::int64_t count = positive_integer("reshard N", args[1]);
  if (count > 64) bad_argument("reshard N must be at most 64");
  const auto result = order::pg::reshard(
      {settings.db_url, 60'000}, args[0], static_cast<int>(count), std::chrono::seconds(wait),
      [](const std::string& why) { std::cerr << "reshard: waiting: " << why << "\n"; });
  std::cout << fmt::format("resharded {} from {} to {} shard(s) at {}/{}\n", args[0], result.from,
                           result.to, result.position.transaction_id,
                           result.position.global_position);
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
    if (args[i] == "--db-url" || args[i] == "--env-file") {
      if (i + 1 == args.size()) {
        std::cerr << "order-admin: " << args[i] << " needs a value\n";
        return 2;
      }
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
    if (command == "migrate") return migrate(own, settings);
    if (command == "history") return history(own, settings);
    if (command == "rebuild") return rebuild(own, settings);
    if (command == "verify") return verify(own, settings);
    if (command == "status") return status(own, settings);
    if (command == "reshard") return reshard(own, settings);
  } catch (const BadArgument& error) {
    std::cerr << "order-admin: " << error.message << " (order-admin --help)\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "order-admin: " << error.what() << "\n";
    return 1;
  }
  std::cerr << "order-admin: unknown command '" << command << "' (order-admin --help)\n";
  return 2;
}
