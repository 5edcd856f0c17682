// Publication to a real Kafka 3.9 broker (and to librdkafka's mock cluster for faults the real
// broker cannot easily produce): guarantees 3 and 4 of DESIGN.md.
#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <boost/json.hpp>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "adapters/kafka/producer.hpp"
#include "adapters/metrics.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "commands/order_commands.hpp"
#include "fresh_database.hpp"
#include "kafka_consumer.hpp"
#include "tools/subscriptions.hpp"

namespace {

using namespace order;
using order::testing::FreshDatabase;
using namespace std::chrono_literals;

std::string unique_topic(const std::string& name) {
  return "test-" + name + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

// Events of the log not yet behind the subscriber's checkpoint.
std::int64_t unpublished(const FreshDatabase& db, const std::string& subscriber) {
  return db.scalar<std::int64_t>(
      "SELECT count(*) FROM events e, subscriptions s WHERE s.name = '" + subscriber +
      "' AND (e.transaction_id, e.global_position) > (s.transaction_id, s.global_position)");
}

void wait_until_published(const FreshDatabase& db, const std::string& subscriber,
                          std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (db.scalar<std::int64_t>("SELECT count(*) FROM subscriptions WHERE name = '" + subscriber +
                                "'") == 1 &&
        unpublished(db, subscriber) == 0) {
      return;
    }
    std::this_thread::sleep_for(100ms);
  }
  FAIL("publication did not catch up within " << timeout.count() << " s; "
                                              << unpublished(db, subscriber) << " behind");
}

struct LogRow {
  std::string event_id;
  domain::OrderId order_id;
  std::int64_t version;
  std::string transaction_id;
  std::int64_t position;
};

std::vector<LogRow> log_of(const FreshDatabase& db) {
  pqxx::connection connection(db.url());
  pqxx::nontransaction tx(connection);
  std::vector<LogRow> rows;
  for (const auto& row : tx.exec("SELECT event_id::text, stream_id, stream_version, "
                                 "transaction_id::text, global_position FROM events")) {
    rows.push_back({row[0].as<std::string>(), row[1].as<domain::OrderId>(),
                    row[2].as<std::int64_t>(), row[3].as<std::string>(),
                    row[4].as<std::int64_t>()});
  }
  return rows;
}

// Every event of the log is on the topic; each order's events first arrive in version order, with
// no gap; a repeated event (at least once) repeats an event already seen, and the repeats number
// at most `max_duplicates`.
void check_topic_has_the_log(const std::vector<LogRow>& log,
                             const std::vector<order::testing::ConsumedMessage>& messages,
                             std::size_t max_duplicates = 0) {
  std::set<std::string> on_topic;
  std::map<std::string, std::int64_t> last_version;
  std::size_t out_of_order = 0;
  std::size_t duplicates = 0;
  for (const auto& m : messages) {
    if (!on_topic.insert(m.headers.at("event-id")).second) {
      ++duplicates;
      continue;
    }
    const std::int64_t version = std::stoll(m.headers.at("stream-version"));
    auto& last = last_version[m.key];
    if (version != last + 1) ++out_of_order;  // a gap, or a new event behind a later one
    last = std::max(last, version);
  }
  std::vector<std::string> missing;
  for (const auto& row : log) {
    if (on_topic.contains(row.event_id)) continue;
    missing.push_back(row.event_id + " (order " + std::to_string(row.order_id) + " version " +
                      std::to_string(row.version) + ", transaction " + row.transaction_id +
                      ", position " + std::to_string(row.position) + ")");
  }
  MESSAGE(messages.size() << " messages on the topic for " << log.size() << " events, "
                          << duplicates << " repeated");
  CHECK_MESSAGE(missing.empty(), missing.size() << " event(s) of the log never reached the topic, "
                                                << "e.g. " << (missing.empty() ? "" : missing[0]));
  CHECK_MESSAGE(out_of_order == 0, out_of_order << " message(s) out of version order");
  CHECK_MESSAGE(duplicates <= max_duplicates,
                duplicates << " repeats, more than the " << max_duplicates << " allowed");
}

domain::Event placed(domain::OrderId id) {
  return domain::OrderPlaced{id, 101, {{1001, 2, domain::Money{499}}}, domain::Money{998}};
}
domain::Event paid(domain::OrderId id) {
  return domain::OrderPaid{
      {id, 101, domain::Money{998}, domain::OrderStatus::pending}, "p", domain::Money{998}};
}
domain::Event shipped(domain::OrderId id) {
  return domain::OrderShipped{{id, 101, domain::Money{998}, domain::OrderStatus::paid}, "DHL", "T"};
}
domain::Event delivered(domain::OrderId id) {
  return domain::OrderDelivered{{id, 101, domain::Money{998}, domain::OrderStatus::shipped}};
}

// Appends a whole lifecycle, one event per transaction, for `orders` new orders.
void write_lifecycles(pg::PgEventStore& store, int orders) {
  for (int i = 0; i < orders; ++i) {
    const domain::OrderId id = store.next_order_id();
    const std::vector<domain::Event> lifecycle{placed(id), paid(id), shipped(id), delivered(id)};
    for (std::size_t v = 0; v < lifecycle.size(); ++v) {
      const std::vector<domain::Event> one{lifecycle[v]};
      REQUIRE_FALSE(store.append(id, static_cast<std::int64_t>(v), one, {}).conflict());
    }
  }
}

// Duplicates are bounded by two batches per failure (the failed one and the next, sent while it
// was being acknowledged): the bound since `failures_before`.
constexpr std::size_t kBatchSize = 500;
std::int64_t failed_batches() { return order::metrics().publisher.failures_total.load(); }
// Observations of order_publication_wait_seconds so far.
std::uint64_t publisher_waits() {
  return order::metrics().publish_wait_seconds.snapshot().cumulative.back();
}
// Observations of order_publication_read_seconds so far.
std::uint64_t publisher_reads() {
  return order::metrics().publish_read_seconds.snapshot().cumulative.back();
}
std::size_t repeat_bound(std::int64_t failures_before) {
  return static_cast<std::size_t>(failed_batches() - failures_before) * 2 * kBatchSize;
}

// Calls publish_once until a batch is published (errors are retried after a pause), and returns
// its size. An empty read is normal while any transaction of the cluster older than the events
// is still in flight: the reader waits for the horizon to pass them.
std::size_t publish_until_some(runtime::RunningSubscription& publisher,
                               std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (const std::size_t published = publisher.step(); published > 0) return published;
      std::this_thread::sleep_for(50ms);
    } catch (const std::exception& error) {
      MESSAGE("retrying after: " << std::string(error.what()));
      std::this_thread::sleep_for(250ms);
    }
  }
  return 0;
}

runtime::PublicationOptions publisher_options(const FreshDatabase& db, const std::string& topic,
                                              const std::string& brokers) {
  runtime::PublicationOptions options;
  options.database = {db.url()};
  options.producer = {brokers, topic, {}};
  options.subscription = "publisher-under-test";
  options.batch_size = kBatchSize;
  options.retry_backoff = 200ms;
  return options;
}

}  // namespace

TEST_CASE("the seed's order reaches the topic as the seed's event, field for field") {
  FreshDatabase db;
  const std::string topic = unique_topic("seed");
  pg::PgEventStore store({db.url()});
  commands::OrderCommands commands(store);
  const auto outcome =
      commands.place(101, {{1001, 2, domain::Money{499}}, {1002, 1, domain::Money{350}}},
                     {.request_id = "req-1",
                      .correlation_id = "corr-1",
                      .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                      .tracestate = "congo=t61rcWkgMzE"});
  REQUIRE(outcome.ok());
  const auto& order = outcome.accepted.order;
  const std::string event_id = outcome.accepted.stream.events.at(0).event_id;

  const auto waits_before = publisher_waits();
  const auto reads_before = publisher_reads();
  auto publisher =
      runtime::publication(publisher_options(db, topic, order::testing::kafka_brokers()));
  REQUIRE(publish_until_some(*publisher, 10s) == 1);
  CHECK(publisher_waits() > waits_before);  // its wait for the acknowledgement, in /metrics
  CHECK(publisher_reads() > reads_before);  // and its read of the log
  const auto messages = order::testing::consume(topic, 1, 30s);
  REQUIRE(messages.size() == 1);
  const auto& m = messages[0];

  CHECK(m.key == std::to_string(order.id));
  const auto envelope = boost::json::parse(m.value).as_object();
  CHECK(envelope.size() == 5);
  CHECK(envelope.at("id").as_string() == event_id.c_str());
  CHECK(envelope.at("type").as_string() == "order.created");
  CHECK(envelope.at("version").as_string() == "1.0");
  const std::string timestamp(envelope.at("timestamp").as_string());
  CHECK_MESSAGE(timestamp.size() == 27, timestamp);  // 2025-09-15T00:34:20.554387Z
  CHECK(timestamp.back() == 'Z');
  // The data exactly as the seed's consumers read it, bytes included.
  const std::string data = "{\"orderid\":" + std::to_string(order.id) +
                           ",\"userid\":101,\"totalamount\":\"13.48\",\"status\":\"pending\","
                           "\"items\":[{\"product_id\":1001,\"quantity\":2,\"price\":4.99},"
                           "{\"product_id\":1002,\"quantity\":1,\"price\":3.5}]}";
  CHECK(m.value.ends_with(",\"data\":" + data + "}"));

  CHECK(m.headers.at("event-type") == "order.created");
  CHECK(m.headers.at("event-version") == "1.0");
  CHECK(m.headers.at("event-id") == event_id);
  CHECK(m.headers.at("order-id") == std::to_string(order.id));
  CHECK(m.headers.at("stream-version") == "1");
  CHECK(m.headers.at("global-position") == "1");
  CHECK(m.headers.at("correlation-id") == "corr-1");
  CHECK(m.headers.at("domain-event-type") == "order.created");
  CHECK(m.headers.at("traceparent") == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  CHECK(m.headers.at("tracestate") == "congo=t61rcWkgMzE");
  CHECK(m.headers.size() == 10);
}

TEST_CASE("the newest events go to Kafka at once, however long the producer would linger") {
  FreshDatabase db;
  const std::string topic = unique_topic("linger");
  auto options = publisher_options(db, topic, order::testing::kafka_brokers());
  // A request would wait 20 s for more messages (librdkafka wants less than message.timeout.ms,
  // 30 s): the batch that reaches the end of the log must not, or its acknowledgement misses the
  // timeout and the publisher gets nowhere.
  options.producer.overrides = {{"linger.ms", "20000"}};
  options.ack_timeout = 10s;
  auto publisher = runtime::publication(options);
  pg::PgEventStore store({db.url()});
  write_lifecycles(store, 2);
  CHECK(publish_until_some(*publisher, 10s) == 8);
  CHECK(unpublished(db, "publisher-under-test") == 0);
  CHECK(order::testing::consume(topic, 8, 30s).size() == 8);
}

TEST_CASE("no event is missed when a transaction commits late, under 8 concurrent writers") {
  FreshDatabase db;
  const std::string topic = unique_topic("horizon");
  const auto failures_before = failed_batches();
  auto publisher =
      runtime::publication(publisher_options(db, topic, order::testing::kafka_brokers()));
  publisher->start();

  // A long transaction takes an early global position, then commits only after the writers'
  // later events were committed: a reader of "position > last seen" would have passed it.
  pqxx::connection long_connection(db.url());
  pqxx::work long_transaction(long_connection);
  const auto late_id =
      long_transaction.exec("SELECT nextval('order_ids')")[0][0].as<std::int64_t>();
  long_transaction.exec(
      "INSERT INTO streams VALUES (" + std::to_string(late_id) +
      ", 1);"
      "INSERT INTO events (stream_id, stream_version, event_type, data) VALUES (" +
      std::to_string(late_id) + ", 1, 'order.created', '{\"orderid\": " + std::to_string(late_id) +
      ", \"userid\": 7, \"totalamount\": \"1.00\", \"status\": \"pending\", \"items\": "
      "[{\"product_id\": 1, \"quantity\": 1, \"price\": 1}]}')");

  constexpr int kWriters = 8;
  constexpr int kOrdersEach = 40;  // × 4 events: 1280 events over 320 orders
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      pg::PgEventStore store({db.url()});
      write_lifecycles(store, kOrdersEach);
    });
  }
  for (auto& t : writers) t.join();
  std::this_thread::sleep_for(1s);  // let the publisher try (it must wait for the horizon)
  long_transaction.commit();

  wait_until_published(db, "publisher-under-test", 120s);
  publisher->stop();
  const auto log = log_of(db);
  REQUIRE(log.size() == kWriters * kOrdersEach * 4 + 1);
  check_topic_has_the_log(log, order::testing::consume(topic, log.size(), 60s),
                          repeat_bound(failures_before));
}

TEST_CASE("a broker down for 20 seconds in the middle of a load loses nothing") {
  FreshDatabase db;
  const std::string topic = unique_topic("outage");
  const auto failures_before = failed_batches();
  auto publisher =
      runtime::publication(publisher_options(db, topic, order::testing::kafka_brokers()));
  publisher->start();
  const std::string kafka_sh = std::string(ORDER_SOURCE_DIR) + "/tools/stack/kafka.sh";

  std::atomic<bool> writing{true};
  std::thread writer([&] {
    pg::PgEventStore store({db.url()});
    while (writing) {
      write_lifecycles(store, 1);
      std::this_thread::sleep_for(20ms);
    }
  });
  std::this_thread::sleep_for(3s);
  REQUIRE(std::system((kafka_sh + " stop >/dev/null 2>&1").c_str()) == 0);
  std::this_thread::sleep_for(20s);
  REQUIRE(std::system((kafka_sh + " start >/dev/null 2>&1").c_str()) == 0);
  std::this_thread::sleep_for(3s);
  writing = false;
  writer.join();

  wait_until_published(db, "publisher-under-test", 120s);
  publisher->stop();
  const auto log = log_of(db);
  MESSAGE(log.size() << " events written across the outage, " << failed_batches() - failures_before
                     << " batch(es) sent again");
  check_topic_has_the_log(log, order::testing::consume(topic, log.size(), 60s),
                          repeat_bound(failures_before));
}

TEST_CASE("on the mock cluster: request errors are retried, a dead broker keeps the checkpoint") {
  FreshDatabase db;
  char reason[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_t* owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
  REQUIRE(owner != nullptr);
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(owner, 1);
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  const std::string topic = unique_topic("mock");

  const auto failures_before = failed_batches();
  auto options = publisher_options(db, topic, bootstrap);
  options.ack_timeout = 3s;
  // One request in flight. The mock cluster of librdkafka 2.0.2 checks the sequence numbers of an
  // idempotent producer only when it is transactional: with two requests in flight and an error
  // injected into the first, it appends the second, which a real broker refuses as out of order,
  // and the producer then counts the first request's messages as delivered though they are not.
  options.producer.overrides = {{"message.timeout.ms", "2000"},
                                {"max.in.flight.requests.per.connection", "1"}};
  auto publisher = runtime::publication(options);
  pg::PgEventStore store({db.url()});
  write_lifecycles(store, 5);

  // Transient produce errors: the idempotent producer retries them within the batch.
  rd_kafka_mock_push_request_errors(
      cluster, 0 /* Produce */, 3, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  CHECK(publish_until_some(*publisher, 10s) == 20);

  // The broker goes down: the batch fails, and the checkpoint must not move past it.
  write_lifecycles(store, 5);
  rd_kafka_mock_broker_set_down(cluster, 1);
  const auto before = unpublished(db, "publisher-under-test");
  CHECK(before == 20);
  bool failed = false;
  for (const auto deadline = std::chrono::steady_clock::now() + 10s;
       !failed && std::chrono::steady_clock::now() < deadline;) {
    std::size_t published = 0;
    try {
      published = publisher->step();
    } catch (const std::exception&) {
      failed = true;
    }
    REQUIRE(published == 0);  // nothing may be published with the broker down
    std::this_thread::sleep_for(50ms);
  }
  CHECK(failed);
  CHECK(unpublished(db, "publisher-under-test") == before);

  rd_kafka_mock_broker_set_up(cluster, 1);
  CHECK(publish_until_some(*publisher, 20s) == 20);
  CHECK(unpublished(db, "publisher-under-test") == 0);
  check_topic_has_the_log(log_of(db), order::testing::consume(topic, 40, 30s, bootstrap),
                          repeat_bound(failures_before));

  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(owner);
}

TEST_CASE("client properties may secure and tune the producer, never weaken its guarantees") {
  // What KAFKA_CONFIG_FILE may carry: librdkafka's names and values, checked without a broker.
  CHECK(kafka::refused_overrides({}).empty());
  CHECK(kafka::refused_overrides({{"security.protocol", "SASL_SSL"},
                                  {"sasl.mechanisms", "SCRAM-SHA-512"},
                                  {"sasl.username", "orders"},
                                  {"sasl.password", "secret"},
                                  {"linger.ms", "20"},
                                  {"compression.type", "zstd"}})
            .empty());
  for (const char* key :
       {"enable.idempotence", "acks", "request.required.acks", "transactional.id"}) {
    CAPTURE(key);
    const std::string refused = kafka::refused_overrides({{key, "1"}});
    CHECK(refused.find(std::string(key) + " is the service's own") != std::string::npos);
    CHECK_THROWS_WITH_AS(kafka::Producer({.brokers = "127.0.0.1:1", .overrides = {{key, "1"}}}),
                         refused.c_str(), std::runtime_error);
  }
  // A Java client's property, or a value librdkafka does not take, in librdkafka's words.
  CHECK(
      kafka::refused_overrides({{"sasl.jaas.config", "x"}})
          .starts_with("kafka setting sasl.jaas.config: Java JAAS configuration is not supported"));
  CHECK(kafka::refused_overrides({{"sasl.kerberos.principle", "x"}}) ==
        "kafka setting sasl.kerberos.principle: No such configuration property: "
        "\"sasl.kerberos.principle\"");
  CHECK(kafka::refused_overrides({{"security.protocol", "TLS"}})
            .starts_with("kafka setting security.protocol: Invalid value \"TLS\""));
}

TEST_CASE("on the mock cluster: a publisher stopped while the broker is down stops within 2 s") {
  FreshDatabase db;
  char reason[512];
  rd_kafka_t* owner = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), reason, sizeof reason);
  REQUIRE(owner != nullptr);
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(owner, 1);
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(cluster);
  const std::string topic = unique_topic("stop");
  // The service's own acknowledgement wait: a batch gives up after 30 s.
  auto options = publisher_options(db, topic, bootstrap);
  options.ack_timeout = 30s;
  {
    auto publisher = runtime::publication(options);
    pg::PgEventStore store({db.url()});
    write_lifecycles(store, 2);
    CHECK(publish_until_some(*publisher, 10s) == 8);

    rd_kafka_mock_broker_set_down(cluster, 1);
    write_lifecycles(store, 2);
    publisher->start();
    std::this_thread::sleep_for(1s);  // the batch is handed over, and waits
    const auto asked = std::chrono::steady_clock::now();
    publisher->stop();
    const auto took = std::chrono::steady_clock::now() - asked;
    MESSAGE("stopped in " << std::chrono::duration<double>(took).count() << " s");
    CHECK(took < 5s);
    CHECK(unpublished(db, "publisher-under-test") == 8);  // for the next leader to send
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(owner);
}
