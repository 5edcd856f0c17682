// Formats audit-trail entries for order-admin history.
#include "tools/history.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <ostream>

#include "adapters/json/exact_parser.hpp"
#include "adapters/json/http_bodies.hpp"
#include "adapters/json/json_writer.hpp"

namespace order::admin {
namespace {

std::string text_at(const boost::json::value& document, const char* key) {
  const auto* object = document.if_object();
  if (object == nullptr) return "";
  const auto it = object->find(key);
  if (it == object->end()) return "";
  if (const auto* s = it->value().if_string()) return std::string(s->data(), s->size());
  return boost::json::serialize(it->value());
}

boost::json::value parsed(const std::string& json_text) {
  auto result = json::parse_exact(json_text);
  if (auto* value = std::get_if<boost::json::value>(&result)) return std::move(*value);
  return nullptr;
}

// What the event says beyond its status: the payment, the parcel, the reason, the total.
std::string details_of(const commands::HistoryEntry& entry, const boost::json::value& data) {
  if (entry.type == "order.created") {
    const auto* items = data.is_object() ? data.get_object().if_contains("items") : nullptr;
    const std::size_t count = items != nullptr && items->is_array() ? items->get_array().size() : 0;
    return fmt::format("{} item(s), total {}", count, text_at(data, "totalamount"));
  }
  if (entry.type == "order.paid") {
    return fmt::format("paid {} ref {}", text_at(data, "amount"),
                       text_at(data, "payment_reference"));
  }
  if (entry.type == "order.shipped") {
    return fmt::format("{} {}", text_at(data, "carrier"), text_at(data, "tracking_number"));
  }
  if (entry.type == "order.cancelled") return "reason: " + text_at(data, "reason");
  return "";
}

}  // namespace

void print_history_table(std::ostream& out, const std::vector<commands::HistoryEntry>& entries) {
  constexpr auto kRow = "{:>8}  {:>8}  {:>3}  {:<27}  {:<16}  {:<21}  {:<16}  {:<36}  {}\n";
  out << fmt::format(kRow, "POSITION", "ORDER", "VER", "RECORDED (UTC)", "TYPE", "STATUS", "ACTOR",
                     "REQUEST", "DETAILS");
  for (const auto& entry : entries) {
    const auto data = parsed(entry.data_json);
    const auto metadata = parsed(entry.metadata_json);
    const std::string old_status = text_at(data, "oldstatus");
    const std::string status = old_status.empty() ? text_at(data, "status")
                                                  : old_status + " -> " + text_at(data, "status");
    const std::string actor = text_at(metadata, "actor");
    out << fmt::format(kRow, entry.global_position, entry.stream_id, entry.stream_version,
                       entry.recorded_at, entry.type, status, actor.empty() ? "-" : actor,
                       text_at(metadata, "request_id"), details_of(entry, data));
  }
  if (entries.empty()) out << "(no events)\n";
}

void print_history_json(std::ostream& out, const std::vector<commands::HistoryEntry>& entries) {
  for (const auto& entry : entries) {
    json::JsonWriter w;
    json::write_history_entry(w, entry);
    out << w.str() << "\n";
  }
}

}  // namespace order::admin
