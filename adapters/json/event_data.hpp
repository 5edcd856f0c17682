// The log's event data codec: each domain event's `data` document as stored in the events table
// (the seed's field names: orderid, userid, totalamount, status, items…), and an order's lines as
// the read models store them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/json/json_writer.hpp"
#include "domain/order.hpp"

namespace order::json {

// An order's items as stored in the read model: [{"product_id","quantity","price"}].
std::string encode_items(const std::vector<domain::LineItem>& items);
std::optional<std::vector<domain::LineItem>> decode_items(std::string_view items_json);

// The event's `data` as stored in the log and published on Kafka.
std::string encode_event_data(const domain::Event& event);
// The same document, written as the next value of `w` (inside an envelope).
void write_event_data(JsonWriter& w, const domain::Event& event);
// The inverse; nullopt for an unknown type or a document that does not fit it.
std::optional<domain::Event> decode_event(std::string_view type, std::string_view data_json);

}  // namespace order::json
