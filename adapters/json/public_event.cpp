// The mapping from a log event to the topic's message: envelope, key and headers.
#include "adapters/json/public_event.hpp"

#include "adapters/json/event_data.hpp"
#include "adapters/json/json_writer.hpp"

namespace order::json {

std::string public_type_of(std::string_view domain_event_type) {
  if (domain_event_type == kOrderCreated) return kOrderCreated;
  // Every event that changes a known order's status is a status update on the topic; a type this
  // build does not know is passed on under its own name.
  if (domain_event_type == "order.paid" || domain_event_type == "order.shipped" ||
      domain_event_type == "order.delivered" || domain_event_type == "order.cancelled") {
    return kOrderStatusUpdated;
  }
  return std::string(domain_event_type);
}

PublicMessage public_message_of(const projections::LogEvent& event) {
  const std::string type = public_type_of(event.type);
  // The stored jsonb comes back with its keys reordered; decoding and encoding again gives the
  // contract's field order. Only order.created carries `items` (the store-service reserves stock
  // for the items of any event it sees), which the log's data of a status change never has.
  const auto decoded = decode_event(event.type, event.data_json);
  JsonWriter w(160 + event.data_json.size());
  w.begin_object();
  w.key("id").string(event.event_id);  // consumers deduplicate on it
  w.key("type").string(type);
  w.key("timestamp").string(event.recorded_at);
  w.key("version").string("1.0");
  w.key("data");
  if (decoded) {
    write_event_data(w, *decoded);
  } else {
    w.raw(event.data_json);
  }
  w.end_object();

  PublicMessage message;
  message.key = std::to_string(event.stream_id);
  message.value = w.take();
  // Built in place: an initializer list would construct every pair twice.
  auto& headers = message.headers;
  headers.reserve(10);
  headers.emplace_back("event-type", type);
  headers.emplace_back("event-version", std::to_string(event.schema_version) + ".0");
  headers.emplace_back("event-id", event.event_id);
  headers.emplace_back("order-id", message.key);
  headers.emplace_back("stream-version", std::to_string(event.stream_version));
  headers.emplace_back("global-position", std::to_string(event.position.global_position));
  headers.emplace_back("correlation-id", event.correlation_id);
  headers.emplace_back("domain-event-type", event.type);
  if (!event.traceparent.empty()) headers.emplace_back("traceparent", event.traceparent);
  if (!event.tracestate.empty()) headers.emplace_back("tracestate", event.tracestate);
  return message;
}

}  // namespace order::json
