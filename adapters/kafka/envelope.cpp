// Builds the seed's envelope around an event of the log.
#include "adapters/kafka/envelope.hpp"

#include "adapters/json/json_writer.hpp"
#include "adapters/json/order_codec.hpp"

namespace order::kafka {

Message message_of(const projections::LogEvent& event) {
  // The stored jsonb comes back with its keys reordered; decoding and encoding again gives the
  // seed's compact field order. A type this build does not know is passed on as stored.
  const auto decoded = json::decode_event(event.type, event.data_json);
  json::JsonWriter w;
  w.begin_object();
  w.key("id").string(event.event_id);
  w.key("type").string(event.type);
  w.key("timestamp").string(event.recorded_at);
  w.key("version").string("1.0");
  w.key("data").raw(decoded ? json::encode_event_data(*decoded) : event.data_json);
  w.end_object();

  Message message;
  message.key = std::to_string(event.stream_id);
  message.value = w.take();
  message.headers = {
      {"event-type", event.type},
      {"event-version", std::to_string(event.schema_version) + ".0"},
      {"event-id", event.event_id},
      {"order-id", message.key},
      {"stream-version", std::to_string(event.stream_version)},
      {"global-position", std::to_string(event.position.global_position)},
      {"correlation-id", event.correlation_id},
  };
  return message;
}

}  // namespace order::kafka
