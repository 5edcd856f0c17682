// libFuzzer harness: the event decoder, which reads every event's data back from the log (the
// projector, the rebuild, the publisher). The first byte picks the event type, the rest is the
// document. The decoder reads the document as it is parsed, with no DOM; it must judge every
// document as reading its DOM through the request codecs' Fields does (the reference below), and
// what decodes must encode and decode again to the same event.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/json/event_data.hpp"
#include "adapters/json/fields.hpp"
#include "domain/order.hpp"

namespace {

using namespace order;
using namespace order::json::detail;

std::optional<domain::Event> reference_decode(std::string_view type, std::string_view data_json) {
  const auto parsed = json::parse_exact(data_json);
  const auto* document = std::get_if<bj::value>(&parsed);
  if (document == nullptr || !document->is_object()) return std::nullopt;
  json::FieldErrors errors;
  Fields fields(document->get_object(), "", errors);
  const auto order_id = fields.integer("orderid", fields.required("orderid"));
  const auto user_id = fields.integer("userid", fields.required("userid"));
  const auto total = fields.money("totalamount", fields.required("totalamount"));
  if (!errors.empty()) return std::nullopt;

  if (type == "order.created") {
    const auto* items = fields.required("items");
    if (items == nullptr || !items->is_array()) return std::nullopt;
    domain::OrderPlaced placed{*order_id, *user_id, {}, *total};
    for (const auto& value : items->get_array()) {
      auto item = decode_item(value, "items", errors);
      if (!item) return std::nullopt;
      placed.items.push_back(*item);
    }
    return placed;
  }

  const auto old_status_text = fields.text("oldstatus", fields.required("oldstatus"));
  const auto old_status = old_status_text ? domain::parse_status(*old_status_text) : std::nullopt;
  if (!old_status) return std::nullopt;
  const domain::OrderRef ref{*order_id, *user_id, *total, *old_status};
  auto text_of = [&](std::string_view key) {
    return fields.text(key, fields.required(key)).value_or("");
  };
  if (type == "order.paid") {
    const auto amount = fields.money("amount", fields.required("amount"));
    if (!amount) return std::nullopt;
    return domain::OrderPaid{ref, text_of("payment_reference"), *amount};
  }
  if (type == "order.shipped") {
    return domain::OrderShipped{ref, text_of("carrier"), text_of("tracking_number")};
  }
  if (type == "order.delivered") return domain::OrderDelivered{ref};
  if (type == "order.cancelled") return domain::OrderCancelled{ref, text_of("reason")};
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr std::array<std::string_view, 6> kTypes = {"order.created",   "order.paid",
                                                             "order.shipped",   "order.delivered",
                                                             "order.cancelled", "order.unknown"};
  if (size == 0) return 0;
  const std::string_view type = kTypes[data[0] % kTypes.size()];
  const std::string_view document(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto decoded = json::decode_event(type, document);
  if (decoded != reference_decode(type, document)) std::abort();
  if (!decoded) return 0;
  if (domain::event_type(*decoded) != type) std::abort();
  const auto again = json::decode_event(type, json::encode_event_data(*decoded));
  if (!again || !(*again == *decoded)) std::abort();
  return 0;
}
