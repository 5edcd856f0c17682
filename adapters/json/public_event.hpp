// The public event contract: what the `orders` topic carries for an event of the log. The seed's
// envelope as value, the order id as key, and headers that let a consumer deduplicate and order
// without parsing the body. The one place where the log's language becomes the topic's.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "projections/event_log.hpp"

namespace order::json {

// The seed's consumers switch on the envelope's `type` and know two: "order.created", and
// "order.status_updated" for every status change. The domain event's own name travels in the
// `domain-event-type` header.
inline constexpr const char* kOrderCreated = "order.created";
inline constexpr const char* kOrderStatusUpdated = "order.status_updated";

struct PublicMessage {
  std::string key;    // the order id in decimal: one order's events stay on one partition
  std::string value;  // {"id","type","timestamp","version","data"}
  std::vector<std::pair<std::string, std::string>> headers;
};

PublicMessage public_message_of(const projections::LogEvent& event);

// The envelope's `type` for a domain event type of the log.
std::string public_type_of(std::string_view domain_event_type);

}  // namespace order::json
