// The public event contract: what the `orders` topic carries for an event of the log. The seed's
// envelope as value, the order id as key, and headers that let a consumer deduplicate and order
// without parsing the body. The one place where the log's language becomes the topic's.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "projections/event_log.hpp"

namespace order::json {

// The seed's consumers switch on the envelope's `type` and know two: "order.created", and
// "order.status_updated" for every status change. The domain event's own name travels in the
// `domain-event-type` header.
inline constexpr std::string_view kOrderCreated = "order.created";
inline constexpr std::string_view kOrderStatusUpdated = "order.status_updated";

// A message's headers: names from the contract, values one after another in one buffer, so that
// a message costs a few allocations, not two per header, and none once its buffers are reused.
class Headers {
 public:
  static constexpr std::size_t kMax = 10;
  struct Header {
    std::string_view name;
    std::string_view value;
    friend bool operator==(const Header&, const Header&) = default;
  };

  void clear();
  // `name` must outlive the headers (the contract's names are literals).
  void add(std::string_view name, std::string_view value);
  std::size_t size() const { return count_; }
  Header operator[](std::size_t i) const;
  std::vector<std::pair<std::string, std::string>> list() const;  // copies, for tests and logs

 private:
  struct Slot {
    std::string_view name;
    std::size_t offset = 0;
    std::size_t size = 0;
  };
  std::string values_;
  std::array<Slot, kMax> slots_{};
  std::size_t count_ = 0;
};

struct PublicMessage {
  std::string key;    // the order id in decimal: one order's events stay on one partition
  std::string value;  // {"id","type","timestamp","version","data"}
  Headers headers;
};

// Writes the message of `event` into `message`, reusing its buffers.
void write_public_message(const projections::LogEvent& event, PublicMessage& message);
PublicMessage public_message_of(const projections::LogEvent& event);

// The envelope's `type` for a domain event type of the log (a view of a constant or of the given
// type).
std::string_view public_type_of(std::string_view domain_event_type);

}  // namespace order::json
