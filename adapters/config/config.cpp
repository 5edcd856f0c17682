// Flags, environment, .env: parsed and checked once, with one clear message on any mistake.
#include "adapters/config/config.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

namespace order::config {
namespace {

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

template <class Int>
bool parse_int(const std::string& text, Int min, Int max, Int& out) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() ||
      value < static_cast<long long>(min) || value > static_cast<long long>(max)) {
    return false;
  }
  out = static_cast<Int>(value);
  return true;
}

// on/true/1 or off/false/0.
bool parse_switch(const std::string& text, bool& out) {
  if (text == "on" || text == "true" || text == "1") {
    out = true;
  } else if (text == "off" || text == "false" || text == "0") {
    out = false;
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::map<std::string, std::string> parse_dotenv(const std::string& text) {
  std::map<std::string, std::string> values;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.starts_with("export ")) line = trim(line.substr(7));
    const auto equals = line.find('=');
    if (equals == std::string::npos) continue;
    std::string key = trim(line.substr(0, equals));
    std::string value = trim(line.substr(equals + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    values[key] = value;
  }
  return values;
}

std::variant<std::map<std::string, std::string>, ConfigError> parse_kafka_properties(
    const std::string& text) {
  std::map<std::string, std::string> properties;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == '!') continue;
    const auto separator = line.find_first_of("=:");
    const std::string key = separator == std::string::npos ? "" : trim(line.substr(0, separator));
    if (key.empty()) {
      return ConfigError{"line " + std::to_string(number) + " is not key=value"};
    }
    properties[key] = trim(line.substr(separator + 1));
  }
  return properties;
}

std::variant<Config, ConfigError> load_config(const std::vector<std::string>& args,
                                              const Environment& environment,
                                              const std::string& dotenv_path) {
  std::map<std::string, std::string> settings;
  std::string env_file = dotenv_path;
  // --env-file must be known before anything else is read.
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--env-file") env_file = args[i + 1];
  }
  if (std::ifstream file(env_file); file) {
    std::stringstream text;
    text << file.rdbuf();
    settings = parse_dotenv(text.str());
  } else if (env_file != dotenv_path) {
    return ConfigError{"cannot read --env-file " + env_file};
  }
  for (const char* name :
       {"DB_URL", "KAFKA_BROKERS", "ORDER_TOPIC", "Port", "PORT", "HOST", "WORKERS",
        "STATEMENT_TIMEOUT_MS", "HEADER_TIMEOUT_MS", "MAX_BODY_BYTES", "IDEMPOTENCY_TTL_SECONDS",
        "GROUP_COMMIT", "GROUP_LOAD", "JWT_SECRET", "ACCESS_LOG", "MAX_CONNECTIONS",
        "SUBSCRIPTION_SHARDS", "INSTANCE_ID", "KAFKA_CONFIG_FILE"}) {
    if (auto value = environment(name)) settings[name] = *value;
  }
  // The seed's .env spells the port "Port"; PORT is the common spelling. PORT wins if both.
  if (!settings.contains("PORT") && settings.contains("Port")) settings["PORT"] = settings["Port"];

  Config config;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= args.size()) return std::nullopt;
      settings[name] = args[++i];
      return settings[name];
    };
    std::optional<std::string> given;
    if (flag == "--help" || flag == "-h") {
      config.help = true;
      continue;
    } else if (flag == "--no-migrate") {
      config.migrate = false;
      continue;
    } else if (flag == "--env-file") {
      ++i;
      continue;
    } else if (flag == "--db-url") {
      given = value("DB_URL");
    } else if (flag == "--kafka-brokers") {
      given = value("KAFKA_BROKERS");
    } else if (flag == "--kafka-config") {
      given = value("KAFKA_CONFIG_FILE");
    } else if (flag == "--topic") {
      given = value("ORDER_TOPIC");
    } else if (flag == "--port") {
      given = value("PORT");
    } else if (flag == "--host") {
      given = value("HOST");
    } else if (flag == "--workers") {
      given = value("WORKERS");
    } else if (flag == "--header-timeout-ms") {
      given = value("HEADER_TIMEOUT_MS");
    } else if (flag == "--jwt-secret") {
      given = value("JWT_SECRET");
    } else if (flag == "--access-log") {
      given = value("ACCESS_LOG");
    } else if (flag == "--max-connections") {
      given = value("MAX_CONNECTIONS");
    } else if (flag == "--subscription-shards") {
      given = value("SUBSCRIPTION_SHARDS");
    } else if (flag == "--instance-id") {
      given = value("INSTANCE_ID");
    } else {
      return ConfigError{"unknown flag " + flag + " (see --help)"};
    }
    if (!given) return ConfigError{"flag " + flag + " needs a value"};
  }

  auto get = [&](const char* name) -> std::optional<std::string> {
    const auto it = settings.find(name);
    if (it == settings.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
  config.db_url = get("DB_URL").value_or("");
  config.kafka_brokers = get("KAFKA_BROKERS").value_or("");
  if (auto path = get("KAFKA_CONFIG_FILE")) {
    std::ifstream file(*path);
    if (!file) return ConfigError{"cannot read KAFKA_CONFIG_FILE " + *path};
    std::stringstream text;
    text << file.rdbuf();
    auto parsed = parse_kafka_properties(text.str());
    if (auto* error = std::get_if<ConfigError>(&parsed)) {
      return ConfigError{"KAFKA_CONFIG_FILE " + *path + ": " + error->message};
    }
    config.kafka_properties = std::move(std::get<0>(parsed));
    // The file's brokers serve when KAFKA_BROKERS does not name any; it wins, as elsewhere.
    for (const char* name : {"bootstrap.servers", "metadata.broker.list"}) {
      const auto node = config.kafka_properties.extract(name);
      if (!node.empty() && config.kafka_brokers.empty()) config.kafka_brokers = node.mapped();
    }
    if (config.kafka_brokers.empty()) {
      return ConfigError{"KAFKA_CONFIG_FILE " + *path +
                         " names no bootstrap.servers, and KAFKA_BROKERS is not set: the "
                         "embedded broker takes no client properties"};
    }
  }
  config.order_topic = get("ORDER_TOPIC").value_or("orders");
  // Kafka's rule for a topic's name; a broker refuses any other, so every publication would fail.
  const bool legal_topic = config.order_topic.size() <= 249 && config.order_topic != "." &&
                           config.order_topic != ".." &&
                           config.order_topic.find_first_not_of(
                               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789._-") == std::string::npos;
  if (!legal_topic) {
    return ConfigError{
        "ORDER_TOPIC must be 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-' (Kafka's "
        "rule for a topic's name), not " +
        config.order_topic};
  }
  config.host = get("HOST").value_or("0.0.0.0");
  if (auto port = get("PORT"); port && !parse_int<std::uint16_t>(*port, 0, 65535, config.port)) {
    return ConfigError{"PORT must be a number from 0 to 65535, not " + *port};
  }
  if (auto workers = get("WORKERS"); workers && !parse_int(*workers, 1, 256, config.workers)) {
    return ConfigError{"WORKERS must be a number from 1 to 256, not " + *workers};
  }
  if (auto timeout = get("STATEMENT_TIMEOUT_MS");
      timeout && !parse_int(*timeout, 100, 600'000, config.statement_timeout_ms)) {
    return ConfigError{"STATEMENT_TIMEOUT_MS must be from 100 to 600000, not " + *timeout};
  }
  if (auto timeout = get("HEADER_TIMEOUT_MS");
      timeout && !parse_int(*timeout, 100, 600'000, config.header_timeout_ms)) {
    return ConfigError{"HEADER_TIMEOUT_MS must be from 100 to 600000, not " + *timeout};
  }
  if (auto bytes = get("MAX_BODY_BYTES");
      bytes && !parse_int<std::size_t>(*bytes, 1024, 1 << 20, config.max_body_bytes)) {
    return ConfigError{"MAX_BODY_BYTES must be from 1024 to 1048576, not " + *bytes};
  }
  if (auto ttl = get("IDEMPOTENCY_TTL_SECONDS");
      ttl && !parse_int(*ttl, 1, 30 * 86'400, config.idempotency_ttl_seconds)) {
    return ConfigError{"IDEMPOTENCY_TTL_SECONDS must be from 1 to 2592000, not " + *ttl};
  }
  if (auto group_commit = get("GROUP_COMMIT");
      group_commit && !parse_switch(*group_commit, config.group_commit)) {
    return ConfigError{"GROUP_COMMIT must be on or off, not " + *group_commit};
  }
  if (auto group_load = get("GROUP_LOAD");
      group_load && !parse_switch(*group_load, config.group_load)) {
    return ConfigError{"GROUP_LOAD must be on or off, not " + *group_load};
  }
  config.jwt_secret = get("JWT_SECRET").value_or("");
  // HS256 is only as strong as its key: RFC 7518 §3.2 asks for at least the hash's 256 bits.
  if (!config.jwt_secret.empty() && config.jwt_secret.size() < 32) {
    return ConfigError{
        "JWT_SECRET must be at least 32 bytes (RFC 7518: a key of 256 bits for "
        "HS256), not " +
        std::to_string(config.jwt_secret.size())};
  }
  if (auto access_log = get("ACCESS_LOG");
      access_log && !parse_switch(*access_log, config.access_log)) {
    return ConfigError{"ACCESS_LOG must be on or off, not " + *access_log};
  }
  if (auto connections = get("MAX_CONNECTIONS");
      connections && !parse_int(*connections, 1, 1'000'000, config.max_connections)) {
    return ConfigError{"MAX_CONNECTIONS must be from 1 to 1000000, not " + *connections};
  }
  if (auto shards = get("SUBSCRIPTION_SHARDS");
      shards && !parse_int(*shards, 1, 64, config.subscription_shards)) {
    return ConfigError{"SUBSCRIPTION_SHARDS must be from 1 to 64, not " + *shards};
  }
  config.instance_id = get("INSTANCE_ID").value_or("");
  if (!config.help && config.db_url.empty()) {
    return ConfigError{
        "DB_URL is not set: give the database as DB_URL=postgresql://user@host:port/db in the "
        "environment, in .env, or as --db-url"};
  }
  return config;
}

std::string usage(const std::string& program) {
  return "usage: " + program +
         " [--db-url URL] [--kafka-brokers LIST] [--kafka-config FILE] [--topic NAME]\n"
         "       [--port N] [--host ADDR]"
         " [--workers N] [--header-timeout-ms N] [--jwt-secret SECRET]\n"
         "       [--access-log on|off]"
         " [--max-connections N] [--subscription-shards N] [--instance-id ID]\n"
         "       [--env-file PATH] [--no-migrate]\n"
         "Settings also come from the environment and from ./.env: DB_URL, KAFKA_BROKERS,\n"
         "ORDER_TOPIC, Port or PORT, HOST, WORKERS, STATEMENT_TIMEOUT_MS, HEADER_TIMEOUT_MS,\n"
         "MAX_BODY_BYTES, IDEMPOTENCY_TTL_SECONDS, GROUP_COMMIT, GROUP_LOAD, JWT_SECRET,\n"
         "ACCESS_LOG, MAX_CONNECTIONS. GROUP_COMMIT (default on) lets concurrent appends share\n"
         "commits, GROUP_LOAD (default on) concurrent loads of orders share statements; off:\n"
         "each on its own.\n"
         "JWT_SECRET (32 bytes or more) turns on bearer authentication: every request but\n"
         "GET /healthz, /readyz, /metrics and /openapi.yaml needs Authorization: Bearer <JWT>,\n"
         "an HS256 token signed with it whose sub becomes the events' actor. Off when unset.\n"
         "ACCESS_LOG=off drops the per-request log line (default on). MAX_CONNECTIONS (default\n"
         "1024) caps open client connections; beyond it new ones get a 503 and are closed.\n"
         "SUBSCRIPTION_SHARDS (default 1, at most 64) splits the publication and each read model\n"
         "into that many shards by order id, shared among the running instances (the same N on\n"
         "every instance; change it with order-admin reshard). INSTANCE_ID names this instance\n"
         "among them (default: host name, process id and a random suffix).\n"
         "KAFKA_CONFIG_FILE (or --kafka-config) is a properties file of librdkafka settings for\n"
         "the producer, such as security.protocol, sasl.mechanisms, sasl.username, sasl.password\n"
         "and ssl.ca.location; its bootstrap.servers serves when KAFKA_BROKERS is not set.\n"
         "enable.idempotence and acks are the service's own (publication is at least once and\n"
         "in order per order id) and are refused.\n";
}

}  // namespace order::config
