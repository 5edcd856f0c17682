// libFuzzer harness: the event decoder, which reads every event's data back from the log (the
// projector, the rebuild, the publisher). The first byte picks the event type, the rest is the
// document. What decodes must encode and decode again to the same event.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/json/event_data.hpp"
#include "domain/order.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace order;
  static constexpr std::array<std::string_view, 6> kTypes = {"order.created",   "order.paid",
                                                             "order.shipped",   "order.delivered",
                                                             "order.cancelled", "order.unknown"};
  if (size == 0) return 0;
  const std::string_view type = kTypes[data[0] % kTypes.size()];
  const std::string_view document(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto decoded = json::decode_event(type, document);
  if (!decoded) return 0;
  if (domain::event_type(*decoded) != type) std::abort();
  const auto again = json::decode_event(type, json::encode_event_data(*decoded));
  if (!again || !(*again == *decoded)) std::abort();
  return 0;
}
