// The hardening settings: authentication, the access log and the connection cap, from the
// environment or flags, each checked once at start with a clear message.
#include "adapters/config/config.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace {

using namespace order::config;

std::variant<Config, ConfigError> load(std::vector<std::string> args,
                                       std::map<std::string, std::string> environment = {}) {
  environment.emplace("DB_URL", "postgresql://u@h:1/d");
  return load_config(
      args,
      [environment](const std::string& name) -> std::optional<std::string> {
        const auto it = environment.find(name);
        if (it == environment.end()) return std::nullopt;
        return it->second;
      },
      "/nonexistent/.env");
}

Config loaded(std::vector<std::string> args, std::map<std::string, std::string> environment = {}) {
  auto result = load(std::move(args), std::move(environment));
  REQUIRE_MESSAGE(std::holds_alternative<Config>(result), std::get<ConfigError>(result).message);
  return std::get<Config>(result);
}

std::string error_of(std::vector<std::string> args,
                     std::map<std::string, std::string> environment = {}) {
  auto result = load(std::move(args), std::move(environment));
  REQUIRE_MESSAGE(std::holds_alternative<ConfigError>(result), "accepted");
  return std::get<ConfigError>(result).message;
}

const std::string kSecret(32, 's');

}  // namespace

TEST_CASE("authentication is off, the access log on and 1024 connections allowed by default") {
  const Config config = loaded({});
  CHECK(config.jwt_secret.empty());
  CHECK(config.access_log);
  CHECK(config.max_connections == 1024);
}

TEST_CASE("JWT_SECRET comes from the environment, and --jwt-secret wins over it") {
  CHECK(loaded({}, {{"JWT_SECRET", kSecret}}).jwt_secret == kSecret);
  CHECK(loaded({"--jwt-secret", kSecret + "x"}, {{"JWT_SECRET", kSecret}}).jwt_secret ==
        kSecret + "x");
}

TEST_CASE("a JWT secret shorter than 256 bits is refused") {
  CHECK(error_of({}, {{"JWT_SECRET", std::string(31, 's')}}).find("at least 32 bytes") !=
        std::string::npos);
}

TEST_CASE("ACCESS_LOG is on or off and nothing else") {
  CHECK_FALSE(loaded({}, {{"ACCESS_LOG", "off"}}).access_log);
  CHECK_FALSE(loaded({"--access-log", "false"}).access_log);
  CHECK(loaded({"--access-log", "on"}, {{"ACCESS_LOG", "off"}}).access_log);
  CHECK(error_of({}, {{"ACCESS_LOG", "maybe"}}).find("ACCESS_LOG must be on or off") !=
        std::string::npos);
}

TEST_CASE("GROUP_LOAD is on unless turned off, and on or off only") {
  CHECK(loaded({}).group_load);
  CHECK_FALSE(loaded({}, {{"GROUP_LOAD", "off"}}).group_load);
  CHECK(loaded({}, {{"GROUP_LOAD", "on"}}).group_load);
  CHECK(error_of({}, {{"GROUP_LOAD", "sometimes"}}).find("GROUP_LOAD must be on or off") !=
        std::string::npos);
}

TEST_CASE("GROUP_COMMIT is on unless turned off, and on or off only") {
  CHECK(loaded({}).group_commit);
  CHECK_FALSE(loaded({}, {{"GROUP_COMMIT", "off"}}).group_commit);
  CHECK_FALSE(loaded({}, {{"GROUP_COMMIT", "0"}}).group_commit);
  CHECK(loaded({}, {{"GROUP_COMMIT", "true"}}).group_commit);
  CHECK(error_of({}, {{"GROUP_COMMIT", "sometimes"}}).find("GROUP_COMMIT must be on or off") !=
        std::string::npos);
}

TEST_CASE("MAX_CONNECTIONS is a number from 1 to 1000000") {
  CHECK(loaded({}, {{"MAX_CONNECTIONS", "10"}}).max_connections == 10);
  CHECK(loaded({"--max-connections", "5000"}).max_connections == 5000);
  for (const char* bad : {"0", "-1", "1000001", "many", "10x"}) {
    CAPTURE(bad);
    CHECK(error_of({"--max-connections", bad}).find("MAX_CONNECTIONS") != std::string::npos);
  }
}

TEST_CASE("SUBSCRIPTION_SHARDS is 1 unless set, from 1 to 64; INSTANCE_ID names the instance") {
  CHECK(loaded({}).subscription_shards == 1);
  CHECK(loaded({}).instance_id.empty());
  CHECK(loaded({}, {{"SUBSCRIPTION_SHARDS", "6"}}).subscription_shards == 6);
  CHECK(
      loaded({"--subscription-shards", "4"}, {{"SUBSCRIPTION_SHARDS", "6"}}).subscription_shards ==
      4);  // the flag wins
  CHECK(error_of({}, {{"SUBSCRIPTION_SHARDS", "0"}}).find("SUBSCRIPTION_SHARDS") !=
        std::string::npos);
  CHECK(error_of({"--subscription-shards", "65"}).find("from 1 to 64") != std::string::npos);
  CHECK(error_of({}, {{"SUBSCRIPTION_SHARDS", "six"}}).find("six") != std::string::npos);
  CHECK(loaded({"--instance-id", "eu-1"}).instance_id == "eu-1");
  CHECK(loaded({}, {{"INSTANCE_ID", "eu-2"}}).instance_id == "eu-2");
}

TEST_CASE("a Kafka properties file reads key=value and key: value lines, and comments") {
  const auto parsed = parse_kafka_properties(
      "# Confluent Cloud\n"
      "! a Java-style comment\n"
      "\n"
      "security.protocol=SASL_SSL\n"
      "  sasl.mechanisms = PLAIN\r\n"
      "sasl.username: key\n"
      "sasl.password=pa=ss:word\n");
  REQUIRE(std::holds_alternative<std::map<std::string, std::string>>(parsed));
  const std::map<std::string, std::string> expected{{"security.protocol", "SASL_SSL"},
                                                    {"sasl.mechanisms", "PLAIN"},
                                                    {"sasl.username", "key"},
                                                    {"sasl.password", "pa=ss:word"}};
  CHECK(std::get<0>(parsed) == expected);
  const auto broken = parse_kafka_properties("a=1\nsasl.username\n");
  REQUIRE(std::holds_alternative<ConfigError>(broken));
  CHECK(std::get<ConfigError>(broken).message == "line 2 is not key=value");
  CHECK(std::holds_alternative<ConfigError>(parse_kafka_properties("=value\n")));
}

TEST_CASE("KAFKA_CONFIG_FILE gives the producer's properties, and its brokers unless set") {
  const auto path = std::filesystem::temp_directory_path() /
                    ("order-config-test-" + std::to_string(::getpid()) + ".properties");
  const auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  write("bootstrap.servers=kafka-1:9093\nsecurity.protocol=SASL_SSL\nsasl.username=u\n");
  const Config from_file = loaded({}, {{"KAFKA_CONFIG_FILE", path.string()}});
  CHECK(from_file.kafka_brokers == "kafka-1:9093");
  const std::map<std::string, std::string> properties{{"security.protocol", "SASL_SSL"},
                                                      {"sasl.username", "u"}};
  CHECK(from_file.kafka_properties == properties);  // bootstrap.servers is kafka_brokers
  // KAFKA_BROKERS wins over the file's, and the flag names the file too.
  const Config both =
      loaded({"--kafka-config", path.string()}, {{"KAFKA_BROKERS", "kafka-2:9093"}});
  CHECK(both.kafka_brokers == "kafka-2:9093");
  CHECK(both.kafka_properties == properties);
  // No brokers anywhere: the embedded broker would start, and it takes no client properties.
  write("security.protocol=SASL_SSL\n");
  CHECK(error_of({}, {{"KAFKA_CONFIG_FILE", path.string()}}).find("names no bootstrap.servers") !=
        std::string::npos);
  write("security.protocol=SASL_SSL\nnot a property\n");
  CHECK(error_of({}, {{"KAFKA_CONFIG_FILE", path.string()}}) ==
        "KAFKA_CONFIG_FILE " + path.string() + ": line 2 is not key=value");
  std::filesystem::remove(path);
  CHECK(error_of({"--kafka-config", path.string()}) ==
        "cannot read KAFKA_CONFIG_FILE " + path.string());
  CHECK(loaded({}).kafka_properties.empty());
}

TEST_CASE("ORDER_TOPIC is orders unless set, and a name Kafka takes") {
  CHECK(loaded({}).order_topic == "orders");
  CHECK(loaded({"--topic", "shop.orders_v2-eu"}).order_topic == "shop.orders_v2-eu");
  CHECK(loaded({}, {{"ORDER_TOPIC", std::string(249, 'o')}}).order_topic.size() == 249);
  for (const std::string bad : {"bad topic", "orders!", ".", "..", "ördérs", "a/b"}) {
    CAPTURE(bad);
    CHECK(error_of({}, {{"ORDER_TOPIC", bad}}).find("Kafka's rule") != std::string::npos);
  }
  CHECK(error_of({"--topic", std::string(250, 'o')}).find("ORDER_TOPIC") != std::string::npos);
}
