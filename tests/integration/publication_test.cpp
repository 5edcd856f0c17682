// Publication to a real Kafka 3.9 broker (and to librdkafka's mock cluster for faults the real
// broker cannot easily produce): guarantees 3 and 4 of DESIGN.md.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "adapters/kafka/publisher.hpp"
#include "adapters/pg/pg_event_store.hpp"
#include "commands/order_commands.hpp"
#include "fresh_database.hpp"
#include "kafka_consumer.hpp"

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
};

std::vector<LogRow> log_of(const FreshDatabase& db) {
  pqxx::connection connection(db.url());
  pqxx::nontransaction tx(connection);
  std::vector<LogRow> rows;
  for (const auto& row : tx.exec("SELECT event_id::text, stream_id, stream_version FROM events")) {
    rows.push_back({row[0].as<std::string>(), row[1].as<domain::OrderId>(),
                    row[2].as<std::int64_t>()});
  }
  return rows;
}

// Every event of the log is on the topic, and each order's events arrive in version order
// (a duplicate of an already seen version is allowed: at least once).
void check_topic_has_the_log(const std::vector<LogRow>& log,
                             const std::vector<order::testing::ConsumedMessage>& messages) {
  std::set<std::string> on_topic;
  std::map<std::string, std::int64_t> last_version;
  std::size_t out_of_order = 0;
  for (const auto& m : messages) {
    on_topic.insert(m.headers.at("event-id"));
    const std::int64_t version = std::stoll(m.headers.at("stream-version"));
    auto& last = last_version[m.key];
    if (version > last + 1 || version < last) ++out_of_order;  // a gap or a step back
    last = std::max(last, version);
  }
  std::vector<std::string> missing;
  for (const auto& row : log) {
    if (!on_topic.contains(row.event_id)) missing.push_back(row.event_id);
  }
  CHECK_MESSAGE(missing.empty(), missing.size() << " event(s) of the log never reached the topic, "
                                                << "e.g. " << (missing.empty() ? "" : missing[0]));
  CHECK_MESSAGE(out_of_order == 0, out_of_order << " message(s) out of version order");
}

domain::Event placed(domain::OrderId id) {
  return domain::OrderPlaced{id, 101, {{1001, 2, domain::Money{499}}}, domain::Money{998}};
}
domain::Event paid(domain::OrderId id) {
  return domain::OrderPaid{{id, 101, domain::Money{998}, domain::OrderStatus::pending}, "p",
                           domain::Money{998}};
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
      REQUIRE_FALSE(store.append(id, static_cast<std::int64_t>(v), one, {}).conflict);
    }
  }
}

kafka::PublisherOptions publisher_options(const FreshDatabase& db, const std::string& topic,
                                          const std::string& brokers) {
  kafka::PublisherOptions options;
  options.database = {db.url()};
  options.producer = {brokers, topic, {}};
  options.subscriber = "publisher-under-test";
  options.batch_size = 500;
  options.retry_backoff = 200ms;
  return options;
}

}  // namespace

TEST_CASE("the seed's order reaches the topic as the seed's event, field for field") {
  FreshDatabase db;
  const std::string topic = unique_topic("seed");
  pg::PgEventStore store({db.url()});
  commands::OrderCommands commands(store);
  const auto outcome = commands.place(
      101, {{1001, 2, domain::Money{499}}, {1002, 1, domain::Money{350}}},
      {.request_id = "req-1", .correlation_id = "corr-1"});
  const auto& order = std::get<commands::Accepted>(outcome).order;
  const std::string event_id = std::get<commands::Accepted>(outcome).stream.events.at(0).event_id;

  kafka::Publisher publisher(publisher_options(db, topic, order::testing::kafka_brokers()));
  for (int i = 0; i < 50 && publisher.publish_once() == 0; ++i) std::this_thread::sleep_for(100ms);
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
}

TEST_CASE("no event is missed when a transaction commits late, under 8 concurrent writers") {
  FreshDatabase db;
  const std::string topic = unique_topic("horizon");
  kafka::Publisher publisher(publisher_options(db, topic, order::testing::kafka_brokers()));
  publisher.start();

  // A long transaction takes an early global position, then commits only after the writers'
  // later events were committed: a reader of "position > last seen" would have passed it.
  pqxx::connection long_connection(db.url());
  pqxx::work long_transaction(long_connection);
  const auto late_id = long_transaction.exec("SELECT nextval('order_ids')")[0][0].as<std::int64_t>();
  long_transaction.exec(
      "INSERT INTO streams VALUES (" + std::to_string(late_id) + ", 1);"
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
  publisher.stop();
  const auto log = log_of(db);
  REQUIRE(log.size() == kWriters * kOrdersEach * 4 + 1);
  check_topic_has_the_log(log, order::testing::consume(topic, log.size(), 60s));
}

TEST_CASE("a broker down for 20 seconds in the middle of a load loses nothing") {
  FreshDatabase db;
  const std::string topic = unique_topic("outage");
  kafka::Publisher publisher(publisher_options(db, topic, order::testing::kafka_brokers()));
  publisher.start();
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
  publisher.stop();
  const auto log = log_of(db);
  MESSAGE(log.size() << " events written across the outage");
  check_topic_has_the_log(log, order::testing::consume(topic, log.size(), 60s));
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

  auto options = publisher_options(db, topic, bootstrap);
  options.ack_timeout = 3s;
  options.producer.overrides = {{"message.timeout.ms", "2000"}};
  kafka::Publisher publisher(options);
  pg::PgEventStore store({db.url()});
  write_lifecycles(store, 5);

  // Transient produce errors: the idempotent producer retries them within the batch.
  rd_kafka_mock_push_request_errors(cluster, 0 /* Produce */, 3,
                                    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
  std::size_t published = 0;
  for (int i = 0; i < 20 && published == 0; ++i) {
    try {
      published = publisher.publish_once();
    } catch (const std::exception& error) {
      MESSAGE("retrying after: " << error.what());
    }
  }
  CHECK(published == 20);

  // The broker goes down: the batch fails, and the checkpoint must not move past it.
  write_lifecycles(store, 5);
  rd_kafka_mock_broker_set_down(cluster, 1);
  const auto before = unpublished(db, "publisher-under-test");
  CHECK(before == 20);
  CHECK_THROWS(publisher.publish_once());
  CHECK(unpublished(db, "publisher-under-test") == before);

  rd_kafka_mock_broker_set_up(cluster, 1);
  published = 0;
  for (int i = 0; i < 40 && published == 0; ++i) {
    try {
      published = publisher.publish_once();
    } catch (const std::exception&) {
      std::this_thread::sleep_for(250ms);
    }
  }
  CHECK(published == 20);
  CHECK(unpublished(db, "publisher-under-test") == 0);
  check_topic_has_the_log(log_of(db), order::testing::consume(topic, 40, 30s, bootstrap));

  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(owner);
}
