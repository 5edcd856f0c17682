// The mapping from a log event to the topic's message: envelope, key and headers.
#include "adapters/json/public_event.hpp"

#include <charconv>
#include <stdexcept>

#include "adapters/json/event_data.hpp"
#include "adapters/json/json_writer.hpp"

namespace order::json {

void Headers::clear() {
  values_.clear();
  count_ = 0;
}

void Headers::add(std::string_view name, std::string_view value) {
  if (count_ == kMax) throw std::logic_error("more headers than the contract has");
  slots_[count_++] = {name, values_.size(), value.size()};
  values_ += value;
}

Headers::Header Headers::operator[](std::size_t i) const {
  if (i >= count_) throw std::out_of_range("no header " + std::to_string(i));
  const Slot& slot = slots_[i];
  return {slot.name, std::string_view(values_).substr(slot.offset, slot.size)};
}

std::vector<std::pair<std::string, std::string>> Headers::list() const {
  std::vector<std::pair<std::string, std::string>> copies;
  copies.reserve(count_);
  for (std::size_t i = 0; i < count_; ++i) {
    const Header header = (*this)[i];
    copies.emplace_back(header.name, header.value);
  }
  return copies;
}

std::string_view public_type_of(std::string_view domain_event_type) {
  if (domain_event_type == kOrderCreated) return kOrderCreated;
  // Every event that changes a known order's status is a status update on the topic; a type this
  // build does not know is passed on under its own name.
  if (domain_event_type == "order.paid" || domain_event_type == "order.shipped" ||
      domain_event_type == "order.delivered" || domain_event_type == "order.cancelled") {
    return kOrderStatusUpdated;
  }
  return domain_event_type;
}

namespace {

// A number's decimal text, without a std::string of its own.
class Decimal {
 public:
  explicit Decimal(std::int64_t value)
      : end_(std::to_chars(digits_, digits_ + sizeof digits_, value).ptr) {}
  std::string_view view() const { return {digits_, static_cast<std::size_t>(end_ - digits_)}; }

 private:
  char digits_[24];
  char* end_;
};

}  // namespace

void write_public_message(const projections::LogEvent& event, PublicMessage& message) {
  const std::string_view type = public_type_of(event.type);
  // The stored jsonb comes back with its keys reordered; decoding and encoding again gives the
  // contract's field order. Only order.created carries `items` (the store-service reserves stock
  // for the items of any event it sees), which the log's data of a status change never has.
  const auto decoded = decode_event(event.type, event.data_json);
  JsonWriter w(std::move(message.value));
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
  message.value = w.take();

  message.key.assign(Decimal(event.stream_id).view());
  Headers& headers = message.headers;
  headers.clear();
  headers.add("event-type", type);
  char version[26];  // "<schema version>.0"
  char* version_end = std::to_chars(version, version + 24, event.schema_version).ptr;
  *version_end++ = '.';
  *version_end++ = '0';
  headers.add("event-version",
              std::string_view(version, static_cast<std::size_t>(version_end - version)));
  headers.add("event-id", event.event_id);
  headers.add("order-id", message.key);
  headers.add("stream-version", Decimal(event.stream_version).view());
  headers.add("global-position", Decimal(event.position.global_position).view());
  headers.add("correlation-id", event.correlation_id);
  headers.add("domain-event-type", event.type);
  if (!event.traceparent.empty()) headers.add("traceparent", event.traceparent);
  if (!event.tracestate.empty()) headers.add("tracestate", event.tracestate);
}

PublicMessage public_message_of(const projections::LogEvent& event) {
  PublicMessage message;
  write_public_message(event, message);
  return message;
}

}  // namespace order::json
