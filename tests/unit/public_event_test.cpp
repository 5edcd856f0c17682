// The public event contract, byte for byte: what the `orders` topic carries for each event type of
// the log, as the seed's consumers read it (envelope, key and headers).
#include "adapters/json/public_event.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

namespace {

using order::json::public_message_of;
using order::projections::LogEvent;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kEventId = "6f1c2a4e-9b7d-4c3e-8a21-5d0e4f7b9c13";
constexpr const char* kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// An event as the log reader returns it: the data as PostgreSQL's jsonb gives it back, keys
// reordered (shortest first), and the metadata's correlation and trace context.
LogEvent stored(std::string type, std::int64_t version, std::string data_json) {
  LogEvent event;
  event.position = {731, 42};
  event.stream_id = 17;
  event.stream_version = version;
  event.event_id = kEventId;
  event.type = std::move(type);
  event.recorded_at = "2026-11-25T10:00:00.123456Z";
  event.data_json = std::move(data_json);
  event.correlation_id = "corr-1";
  event.traceparent = kTraceparent;
  event.tracestate = "congo=t61rcWkgMzE";
  return event;
}

Headers headers_for(const std::string& public_type, const std::string& domain_type,
                    const std::string& version) {
  return {{"event-type", public_type},   {"event-version", "1.0"},
          {"event-id", kEventId},        {"order-id", "17"},
          {"stream-version", version},   {"global-position", "42"},
          {"correlation-id", "corr-1"},  {"domain-event-type", domain_type},
          {"traceparent", kTraceparent}, {"tracestate", "congo=t61rcWkgMzE"}};
}

std::string envelope(const std::string& type, const std::string& data) {
  return std::string(R"({"id":"6f1c2a4e-9b7d-4c3e-8a21-5d0e4f7b9c13","type":")") + type +
         R"(","timestamp":"2026-11-25T10:00:00.123456Z","version":"1.0","data":)" + data + "}";
}

}  // namespace

TEST_CASE("order.created goes on the topic as the seed's order.created, items and all") {
  const auto message = public_message_of(stored(
      "order.created", 1,
      R"({"items": [{"price": 4.99, "quantity": 2, "product_id": 1001}, {"price": 3.5, "quantity": 1, "product_id": 1002}], "status": "pending", "userid": 101, "orderid": 17, "totalamount": "13.48"})"));
  CHECK(message.key == "17");
  CHECK(
      message.value ==
      envelope(
          "order.created",
          R"({"orderid":17,"userid":101,"totalamount":"13.48","status":"pending","items":[{"product_id":1001,"quantity":2,"price":4.99},{"product_id":1002,"quantity":1,"price":3.5}]})"));
  CHECK(message.headers.list() == headers_for("order.created", "order.created", "1"));
}

TEST_CASE("order.paid goes on the topic as order.status_updated with the payment's fields") {
  const auto message = public_message_of(stored(
      "order.paid", 2,
      R"({"amount": "13.48", "status": "paid", "userid": 101, "orderid": 17, "newstatus": "paid", "oldstatus": "pending", "totalamount": "13.48", "payment_reference": "PAY-7731"})"));
  CHECK(message.key == "17");
  CHECK(
      message.value ==
      envelope(
          "order.status_updated",
          R"({"orderid":17,"userid":101,"totalamount":"13.48","status":"paid","oldstatus":"pending","newstatus":"paid","payment_reference":"PAY-7731","amount":"13.48"})"));
  CHECK(message.headers.list() == headers_for("order.status_updated", "order.paid", "2"));
}

TEST_CASE("order.shipped goes on the topic as order.status_updated with carrier and tracking") {
  const auto message = public_message_of(stored(
      "order.shipped", 3,
      R"({"status": "shipped", "userid": 101, "carrier": "DHL", "orderid": 17, "newstatus": "shipped", "oldstatus": "paid", "totalamount": "13.48", "tracking_number": "JD014600003SE"})"));
  CHECK(
      message.value ==
      envelope(
          "order.status_updated",
          R"({"orderid":17,"userid":101,"totalamount":"13.48","status":"shipped","oldstatus":"paid","newstatus":"shipped","carrier":"DHL","tracking_number":"JD014600003SE"})"));
  CHECK(message.headers.list() == headers_for("order.status_updated", "order.shipped", "3"));
}

TEST_CASE("order.delivered goes on the topic as order.status_updated") {
  const auto message = public_message_of(stored(
      "order.delivered", 4,
      R"({"status": "delivered", "userid": 101, "orderid": 17, "newstatus": "delivered", "oldstatus": "shipped", "totalamount": "13.48"})"));
  CHECK(
      message.value ==
      envelope(
          "order.status_updated",
          R"({"orderid":17,"userid":101,"totalamount":"13.48","status":"delivered","oldstatus":"shipped","newstatus":"delivered"})"));
  CHECK(message.headers.list() == headers_for("order.status_updated", "order.delivered", "4"));
}

TEST_CASE("order.cancelled goes on the topic as order.status_updated with the reason") {
  const auto message = public_message_of(stored(
      "order.cancelled", 2,
      R"({"reason": "changed my mind", "status": "cancelled", "userid": 101, "orderid": 17, "newstatus": "cancelled", "oldstatus": "pending", "totalamount": "13.48"})"));
  CHECK(
      message.value ==
      envelope(
          "order.status_updated",
          R"({"orderid":17,"userid":101,"totalamount":"13.48","status":"cancelled","oldstatus":"pending","newstatus":"cancelled","reason":"changed my mind"})"));
  CHECK(message.headers.list() == headers_for("order.status_updated", "order.cancelled", "2"));
}

TEST_CASE("an event without trace context carries no trace headers") {
  auto event = stored(
      "order.delivered", 4,
      R"({"status": "delivered", "userid": 101, "orderid": 17, "newstatus": "delivered", "oldstatus": "shipped", "totalamount": "13.48"})");
  event.traceparent.clear();
  event.tracestate.clear();
  const auto message = public_message_of(event);
  for (const auto& [name, value] : message.headers.list()) {
    CHECK_MESSAGE(name != "traceparent", "traceparent: " << value);
    CHECK_MESSAGE(name != "tracestate", "tracestate: " << value);
  }
  CHECK(message.headers.size() == 8);
}

TEST_CASE("a type this build does not know is passed on under its own name, data as stored") {
  const auto message = public_message_of(stored("order.refunded", 5, R"({"orderid": 17})"));
  CHECK(message.value == envelope("order.refunded", R"({"orderid": 17})"));
  CHECK(message.headers.list().front() ==
        std::pair<std::string, std::string>{"event-type", "order.refunded"});
}

TEST_CASE("a message written over an earlier one is the same as one written afresh") {
  // The publisher writes every batch into the same messages: nothing of the last one may remain.
  const auto created = stored(
      "order.created", 1,
      R"({"items": [{"price": 4.99, "quantity": 2, "product_id": 1001}], "status": "pending", "userid": 101, "orderid": 123456789, "totalamount": "9.98"})");
  auto delivered = stored(
      "order.delivered", 4,
      R"({"status": "delivered", "userid": 101, "orderid": 17, "newstatus": "delivered", "oldstatus": "shipped", "totalamount": "13.48"})");
  delivered.stream_id = 9;
  delivered.traceparent.clear();
  delivered.tracestate.clear();
  order::json::PublicMessage reused;
  order::json::write_public_message(created, reused);
  order::json::write_public_message(delivered, reused);
  const auto fresh = public_message_of(delivered);
  CHECK(reused.key == "9");
  CHECK(reused.value == fresh.value);
  CHECK(reused.headers.list() == fresh.headers.list());
  CHECK(reused.headers.size() == 8);
}
