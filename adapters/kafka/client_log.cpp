#include "adapters/kafka/client_log.hpp"

#include "adapters/log.hpp"

namespace order::kafka {
namespace {

// Called on librdkafka's threads; order::log is safe there and never blocks them.
void to_service_log(const rd_kafka_t* client, int level, const char* facility,
                    const char* message) {
  // syslog levels: 0-3 emergency to error, 4 warning, 5 notice and below.
  const char* as = level <= 3 ? "error" : level == 4 ? "warn" : "info";
  log::write(as, "kafka", message, {{"client", rd_kafka_name(client)}, {"facility", facility}});
}

}  // namespace

void log_through_service(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, to_service_log); }

}  // namespace order::kafka
