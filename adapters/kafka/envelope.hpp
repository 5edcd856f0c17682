// The Kafka message of an event: the seed's envelope as value, the order id as key, and headers
// that let a consumer deduplicate and order without parsing the body.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "projections/event_log.hpp"

namespace order::kafka {

struct Message {
  std::string key;    // the order id in decimal: one order's events stay on one partition
  std::string value;  // {"id","type","timestamp","version","data"}
  std::vector<std::pair<std::string, std::string>> headers;
};

Message message_of(const projections::LogEvent& event);

}  // namespace order::kafka
