// order-service: the HTTP API over the PostgreSQL event store.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <pqxx/pqxx>

#include "adapters/config/config.hpp"
#include "adapters/http/api.hpp"
#include "adapters/http/server.hpp"
#include "adapters/kafka/embedded_broker.hpp"
#include "adapters/kafka/producer.hpp"
#include "adapters/log.hpp"
#include "adapters/pg/group_commit.hpp"
#include "adapters/pg/group_load.hpp"
#include "adapters/pg/key_purge.hpp"
#include "adapters/pg/membership.hpp"
#include "adapters/pg/migrations.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "adapters/pg/pg_order_read_model.hpp"
#include "adapters/pg/product_sales_table.hpp"
#include "adapters/pg/session.hpp"
#include "tools/subscriptions.hpp"

namespace {

std::optional<std::string> from_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace order;
  const auto loaded = config::load_config({argv + 1, argv + argc}, from_environment);
  if (const auto* error = std::get_if<config::ConfigError>(&loaded)) {
    std::cerr << "order-service: " << error->message << "\n";
    return 2;
  }
  const config::Config& settings = std::get<config::Config>(loaded);
  if (settings.help) {
    std::cout << "order-service: the order API over an event store in PostgreSQL\n"
              << config::usage("order-service");
    return 0;
  }
  if (auto refused = kafka::refused_overrides(settings.kafka_properties); !refused.empty()) {
    std::cerr << "order-service: KAFKA_CONFIG_FILE: " << refused << "\n";
    return 2;
  }

  // Block the stop signals in every thread; main waits for them with sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  const pg::ConnectionOptions database{settings.db_url, settings.statement_timeout_ms};
  try {
    auto connection = pg::connect(database);
    if (settings.migrate) {
      pg::apply_migrations(*connection, pg::embedded_migrations(),
                           [](std::string_view line) { log::info("migrations", line); });
    }
    // A rollback to an older build: it runs, but what the newer migrations changed may be
    // beyond it, so say so where an operator will look first.
    if (const auto unknown = pg::unknown_migrations(*connection, pg::embedded_migrations());
        !unknown.empty()) {
      std::string names;
      for (const auto& name : unknown) names += (names.empty() ? "" : ", ") + name;
      log::warn("migrations", "the database has migrations this build does not know",
                {{"migrations", names}});
    }
  } catch (const std::exception& error) {
    std::cerr << "order-service: " << error.what() << "\n";
    return 1;
  }

  // With no KAFKA_BROKERS, an in-process broker: the service runs with nothing else installed.
  std::unique_ptr<kafka::EmbeddedBroker> embedded_broker;
  std::string brokers = settings.kafka_brokers;
  if (brokers.empty()) {
    try {
      embedded_broker = std::make_unique<kafka::EmbeddedBroker>();
    } catch (const std::exception& error) {
      std::cerr << "order-service: " << error.what() << "\n";
      return 1;
    }
    brokers = embedded_broker->bootstrap();
    const std::string try_it = "kcat -b " + brokers + " -t " + settings.order_topic + " -C";
    log::info("", "no KAFKA_BROKERS: embedded Kafka broker started",
              {{"bootstrap", brokers}, {"try", try_it}});
  }
  if (!settings.kafka_properties.empty()) {
    std::string names;
    for (const auto& [name, value] : settings.kafka_properties) {
      names += (names.empty() ? "" : ", ") + name;
    }
    log::info("", "kafka client properties from KAFKA_CONFIG_FILE", {{"properties", names}});
  }
  // An embedded broker starts empty each time, so its publisher starts from the log's beginning
  // under a checkpoint of its own, and a real broker's checkpoint is left alone.
  const std::string subscriber = embedded_broker ? "kafka-publisher-embedded" : "kafka-publisher";
  const int shards = settings.subscription_shards;
  if (embedded_broker) {
    try {
      auto connection = pg::connect(database);
      pqxx::work tx(*connection);
      tx.exec_params("DELETE FROM subscriptions WHERE split_part(name, '#', 1) = $1", subscriber);
      tx.commit();
    } catch (const std::exception& error) {
      std::cerr << "order-service: " << error.what() << "\n";
      return 1;
    }
  }
  // The running instances share the subscriptions' shards (SUBSCRIPTION_SHARDS, default 1).
  pg::Membership membership(
      database, settings.instance_id.empty() ? pg::default_instance_id() : settings.instance_id);
  membership.start();
  log::info("", "subscriptions",
            {{"instance", membership.instance()}, {"shards", std::to_string(shards)}});
  // After an outage every subscription has a backlog; the publisher drains its own first.
  projections::Precedence precedence;
  const auto publication =
      runtime::sharded_publication({.database = database,
                                    .producer = {.brokers = brokers,
                                                 .topic = settings.order_topic,
                                                 .overrides = settings.kafka_properties},
                                    .subscription = subscriber,
                                    .precedence = &precedence},
                                   shards, membership);
  publication->start();
  const auto projection = runtime::sharded_orders_projection(
      {.database = database, .precedence = &precedence}, shards, membership);
  projection->start();
  const auto sales_projection = runtime::sharded_product_sales_projection(
      {.database = database, .precedence = &precedence}, shards, membership);
  sales_projection->start();

  http::ServerOptions server_options;
  server_options.host = settings.host;
  server_options.port = settings.port;
  server_options.workers = settings.workers;
  server_options.header_timeout_ms = settings.header_timeout_ms;
  server_options.access_log = settings.access_log;
  // Descriptors beside the clients': one per database connection (WORKERS + 4, and 5 for each
  // shard led), Kafka's sockets and pipes, the reactors' and the log's, with room to spare.
  const int reserve = settings.workers + 8 * settings.subscription_shards + 128;
  const std::uint64_t open_files = http::raise_open_files_limit();
  server_options.max_connections =
      http::connections_that_fit(open_files, settings.max_connections, reserve);
  if (server_options.max_connections < settings.max_connections) {
    log::warn("http", "the open-files limit holds fewer connections than MAX_CONNECTIONS",
              {{"open_files_limit", std::to_string(open_files)},
               {"max_connections", std::to_string(server_options.max_connections)},
               {"asked", std::to_string(settings.max_connections)},
               {"raise_it", "ulimit -n, or LimitNOFILE= in a systemd unit"}});
  }
  http::ApiOptions api_options;
  api_options.max_body_bytes = settings.max_body_bytes;
  api_options.idempotency_ttl_seconds = settings.idempotency_ttl_seconds;
  api_options.jwt_secret = settings.jwt_secret;
  // Declared before the server, so they outlive the workers that use them.
  std::unique_ptr<pg::GroupCommit> group_commit;
  if (settings.group_commit) group_commit = std::make_unique<pg::GroupCommit>(database);
  std::unique_ptr<pg::GroupLoad> group_load;
  if (settings.group_load) group_load = std::make_unique<pg::GroupLoad>(database);
  pg::OrderIdBlocks order_ids;
  // Keys whose time is up are deleted in the background, at least once a minute, and about as
  // often as they expire when IDEMPOTENCY_TTL_SECONDS is shorter.
  const pg::KeyPurge key_purge(
      database, std::chrono::seconds(std::clamp(settings.idempotency_ttl_seconds, 1, 60)));
  const pg::StoreSharing shared{group_commit.get(), group_load.get(), &order_ids};
  // One connection per worker, shared by its event store and its read-model queries.
  struct Worker {
    explicit Worker(const pg::ConnectionOptions& options, pg::StoreSharing shared)
        : session(options), store(session, shared), read_model(session), sales_report(session) {}
    pg::Session session;
    pg::PgEventStore store;
    pg::PgOrderReadModel read_model;
    pg::PgProductSalesReport sales_report;
  };
  // A request handler over a worker of its own; the handler keeps the worker alive.
  auto handler_with = [database, api_options](pg::StoreSharing sharing) -> http::RequestHandler {
    auto worker = std::make_shared<Worker>(database, sharing);
    auto api = std::make_shared<http::Api>(
        worker->store, worker->read_model, worker->sales_report,
        [worker] { return worker->session.ping(); }, api_options);
    return [worker, api](const http::HttpRequest& request, http::Respond respond) {
      api->handle(request, std::move(respond));
    };
  };
  auto workers = [&] { return handler_with(shared); };
  // A reactor thread answers what needs no blocking call of its own: with group load a read of
  // one order, whose load goes to the loader thread; with group commit a new order without an
  // Idempotency-Key, committed and answered by the committer thread. The reactor's own
  // connection is never opened.
  http::ReactorHandlerFactory reactors;
  const http::NonBlocking non_blocking{.loads = group_load != nullptr,
                                       .creates = group_commit != nullptr};
  if (non_blocking.loads || non_blocking.creates) {
    reactors = [&]() -> http::ReactorHandler {
      pg::StoreSharing gathered = shared;
      gathered.never_load_here = true;
      return {[non_blocking](const http::HttpRequest& request) {
                return http::Api::defers(request, non_blocking);
              },
              handler_with(gathered)};
    };
  }
  http::Server server(server_options, workers, reactors);
  try {
    server.start();
  } catch (const std::exception& error) {
    std::cerr << "order-service: " << error.what() << "\n";
    return 1;
  }
  const std::string address = settings.host + ":" + std::to_string(settings.port);
  log::info("", "listening",
            {{"address", address},
             {"database", pg::redact_url(settings.db_url)},
             {"authentication", settings.jwt_secret.empty() ? "off" : "bearer HS256 JWT"},
             {"max_connections", std::to_string(server_options.max_connections)}});

  int received = 0;
  sigwait(&stop_signals, &received);
  log::info("", received == SIGTERM ? "SIGTERM: shutting down" : "SIGINT: shutting down");
  server.shutdown();
  publication->stop();
  projection->stop();
  sales_projection->stop();
  membership.stop();
  log::info("", "stopped");
  return 0;
}
