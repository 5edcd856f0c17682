// The mock cluster lives inside a librdkafka handle of its own.
#include "adapters/kafka/embedded_broker.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>

#include "adapters/kafka/client_log.hpp"

namespace order::kafka {

struct EmbeddedBroker::Impl {
  rd_kafka_t* handle = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  ~Impl() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
    if (handle != nullptr) rd_kafka_destroy(handle);
  }
};

EmbeddedBroker::EmbeddedBroker() : impl_(std::make_unique<Impl>()) {
  char reason[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", reason, sizeof reason);
  log_through_service(conf);
  impl_->handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
  if (impl_->handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("embedded broker: ") + reason);
  }
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->handle, 1);
  if (impl_->cluster == nullptr) throw std::runtime_error("embedded broker: cannot start");
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
}

EmbeddedBroker::~EmbeddedBroker() = default;

}  // namespace order::kafka
