// librdkafka's C API wrapped once, with RAII: an idempotent producer (acks=all) that sends a
// batch and reports whether Kafka acknowledged every message of it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/kafka/envelope.hpp"

namespace order::kafka {

struct ProducerOptions {
  std::string brokers;
  std::string topic = "orders";
  std::map<std::string, std::string> overrides;  // any librdkafka property
};

struct BatchResult {
  std::size_t acknowledged = 0;
  std::string error;  // empty when every message was acknowledged
  bool fatal = false;  // the producer is unusable: recreate it
};

class Producer {
 public:
  explicit Producer(ProducerOptions options);  // throws std::runtime_error on bad configuration
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Sends the messages in order and waits (up to `timeout`) until Kafka acknowledged each one or
  // one failed. Within a partition the idempotent producer keeps order across its retries.
  BatchResult send(const std::vector<Message>& messages, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace order::kafka
