// libFuzzer harness: every request body the API decodes, as it arrives. The exact JSON parser,
// then each command's decoder; a body that decodes is decided by the aggregate from the state an
// order would have, and the events it yields must survive the log's encoding unchanged. Nothing
// may crash, leak, hang or trip a sanitizer.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/json/event_data.hpp"
#include "adapters/json/exact_parser.hpp"
#include "adapters/json/http_bodies.hpp"
#include "domain/order.hpp"

namespace {

using namespace order;

// Each event decided must come back from its stored data as it went in.
void check_round_trip(const domain::Decision& decision) {
  if (!decision.ok()) return;
  for (const auto& event : decision.events()) {
    const auto decoded =
        json::decode_event(domain::event_type(event), json::encode_event_data(event));
    if (!decoded || !(*decoded == event)) std::abort();
  }
}

domain::Order placed_order() {
  const domain::Decision placed = domain::decide(
      domain::PlaceOrder{7, 101, {{1001, 2, domain::Money{499}}}}, domain::initial_state());
  return domain::fold(placed.events());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = json::parse_exact(text, {}, json::DuplicateKeys::refused);
  const auto* body = std::get_if<boost::json::value>(&parsed);
  if (body == nullptr) return 0;

  const auto place = json::decode_place_order(*body);
  if (const auto* order = std::get_if<json::PlaceOrderBody>(&place)) {
    check_round_trip(domain::decide(domain::PlaceOrder{7, order->user_id, order->items},
                                    domain::initial_state()));
  }
  static const domain::Order pending = placed_order();
  if (const auto pay = json::decode_pay(*body, 7); std::holds_alternative<domain::PayOrder>(pay)) {
    check_round_trip(domain::decide(std::get<domain::PayOrder>(pay), pending));
  }
  if (const auto ship = json::decode_ship(*body, 7);
      std::holds_alternative<domain::ShipOrder>(ship)) {
    check_round_trip(domain::decide(std::get<domain::ShipOrder>(ship), pending));
  }
  if (const auto cancel = json::decode_cancel(*body, 7);
      std::holds_alternative<domain::CancelOrder>(cancel)) {
    check_round_trip(domain::decide(std::get<domain::CancelOrder>(cancel), pending));
  }
  (void)json::decode_deliver(*body, 7);
  return 0;
}
