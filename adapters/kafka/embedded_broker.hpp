// An in-process Kafka-protocol broker (librdkafka's mock cluster), for running the service with
// no KAFKA_BROKERS: `kcat -b <bootstrap> -t orders -C` reads what it publishes.
#pragma once

#include <memory>
#include <string>

namespace order::kafka {

class EmbeddedBroker {
 public:
  EmbeddedBroker();  // throws std::runtime_error if the mock cluster cannot start
  ~EmbeddedBroker();
  const std::string& bootstrap() const { return bootstrap_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string bootstrap_;
};

}  // namespace order::kafka
