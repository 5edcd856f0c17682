// librdkafka's own log lines (a broker unreachable, credentials refused, a fatal error) as the
// service's JSON log lines, component "kafka", instead of librdkafka's text on stderr.
#pragma once

#include <librdkafka/rdkafka.h>

namespace order::kafka {

// Routes the log of every client made from `conf` through order::log.
void log_through_service(rd_kafka_conf_t* conf);

}  // namespace order::kafka
