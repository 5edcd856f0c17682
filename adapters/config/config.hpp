// Configuration from the seed's names (DB_URL, KAFKA_BROKERS, ORDER_TOPIC, Port/PORT), a .env
// file, and flags. Precedence: flags, then the environment, then .env, then defaults.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace order::config {

struct Config {
  std::string db_url;         // DB_URL; required
  std::string kafka_brokers;  // KAFKA_BROKERS; else KAFKA_CONFIG_FILE's; empty: embedded
  // KAFKA_CONFIG_FILE's properties, for the producer (security.protocol, sasl.*, ssl.* …), but
  // bootstrap.servers, which is kafka_brokers when KAFKA_BROKERS is not set.
  std::map<std::string, std::string> kafka_properties;
  std::string order_topic = "orders";  // ORDER_TOPIC
  std::string host = "0.0.0.0";        // HOST
  std::uint16_t port = 8080;           // Port or PORT
  int workers = 16;                    // WORKERS: request threads, one database connection each
  int statement_timeout_ms = 5000;     // STATEMENT_TIMEOUT_MS
  int header_timeout_ms = 10'000;      // HEADER_TIMEOUT_MS: a request's headers must arrive by then
  std::size_t max_body_bytes = std::size_t{64} * 1024;  // MAX_BODY_BYTES
  int idempotency_ttl_seconds = 86'400;                 // IDEMPOTENCY_TTL_SECONDS
  bool group_commit = true;     // GROUP_COMMIT=off: each append commits on its own
  bool group_load = true;       // GROUP_LOAD=off: each load of an order is its own statement
  std::string jwt_secret;       // JWT_SECRET: set, every API call needs a Bearer HS256 JWT
  bool access_log = true;       // ACCESS_LOG: one log line per request (on/off)
  int max_connections = 1024;   // MAX_CONNECTIONS: beyond it new connections are closed
  int subscription_shards = 1;  // SUBSCRIPTION_SHARDS: each subscription in this many shards
  std::string instance_id;      // INSTANCE_ID: this instance among the members; default host-pid
  bool migrate = true;          // apply schema migrations at start (--no-migrate)
  bool help = false;
};

struct ConfigError {
  std::string message;
};

using Environment = std::function<std::optional<std::string>(const std::string& name)>;

// Reads KEY=VALUE lines (comments, blank lines, `export `, and quotes allowed).
std::map<std::string, std::string> parse_dotenv(const std::string& text);

// Reads a Kafka client's properties file: key=value lines (or the Java client's key: value), #
// and ! comments, blank lines. A line that is neither is an error naming its number.
std::variant<std::map<std::string, std::string>, ConfigError> parse_kafka_properties(
    const std::string& text);

// `args` excludes the program name. `dotenv_path` is read when it exists.
std::variant<Config, ConfigError> load_config(const std::vector<std::string>& args,
                                              const Environment& environment,
                                              const std::string& dotenv_path = ".env");

std::string usage(const std::string& program);

}  // namespace order::config
