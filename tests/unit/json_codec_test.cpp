// The JSON edge: exact money, request decoding with every field error, and the contract's bytes.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <cmath>

#include "adapters/json/event_data.hpp"
#include "adapters/json/exact_parser.hpp"
#include "adapters/json/http_bodies.hpp"
#include "adapters/json/json_writer.hpp"

namespace {

using namespace order;
namespace bj = boost::json;

bj::value parse(std::string_view text) {
  auto parsed = json::parse_exact(text);
  REQUIRE_MESSAGE(std::holds_alternative<bj::value>(parsed), "did not parse: " << text);
  return std::get<bj::value>(parsed);
}

std::vector<std::string> fields_of(const json::FieldErrors& errors) {
  std::vector<std::string> fields;
  for (const auto& e : errors) fields.push_back(e.field + ":" + e.code);
  return fields;
}

json::FieldErrors place_errors(std::string_view body) {
  auto decoded = json::decode_place_order(parse(body));
  REQUIRE_MESSAGE(std::holds_alternative<json::FieldErrors>(decoded), "accepted: " << body);
  return std::get<json::FieldErrors>(decoded);
}

json::PlaceOrderBody place(std::string_view body) {
  auto decoded = json::decode_place_order(parse(body));
  if (auto* errors = std::get_if<json::FieldErrors>(&decoded)) {
    std::string all;
    for (const auto& f : fields_of(*errors)) all += f + " ";
    FAIL("refused " << body << ": " << all);
  }
  return std::get<json::PlaceOrderBody>(decoded);
}

constexpr std::string_view kSeedBody = R"({
  "user_id": 101,
  "args": [
    {"product_id": 1001, "quantity": 2, "price": 4.99},
    {"product_id": 1002, "quantity": 1, "price": 3.50}
  ]
})";

}  // namespace

TEST_CASE("the seed's request body decodes with its float prices kept exact") {
  const auto body = place(kSeedBody);
  CHECK(body.user_id == 101);
  CHECK(body.items_field == "args");
  REQUIRE(body.items.size() == 2);
  CHECK(body.items[0] == domain::LineItem{1001, 2, domain::Money{499}});
  CHECK(body.items[1] == domain::LineItem{1002, 1, domain::Money{350}});
}

TEST_CASE("userid, the field the Go service really decoded, is accepted for user_id") {
  CHECK(
      place(R"({"userid": 7, "items": [{"product_id": 1, "quantity": 1, "price": 1}]})").user_id ==
      7);
  CHECK(place(R"({"userid": 7, "user_id": 7, "items": [{"product_id": 1, "quantity": 1,
                 "price": 1}]})")
            .user_id == 7);
}

TEST_CASE("user_id and userid that disagree are refused") {
  CHECK(fields_of(place_errors(R"({"userid": 7, "user_id": 8,
        "items": [{"product_id": 1, "quantity": 1, "price": 1}]})")) ==
        std::vector<std::string>{"userid:conflict"});
}

TEST_CASE("args and items together are refused, and one of them is required") {
  CHECK(fields_of(place_errors(R"({"user_id": 1, "args": [], "items": []})")) ==
        std::vector<std::string>{"items:conflict"});
  CHECK(fields_of(place_errors(R"({"user_id": 1})")) == std::vector<std::string>{"items:required"});
}

TEST_CASE("a price with more than two decimals is a validation error, not a rounding") {
  CHECK(fields_of(place_errors(
            R"({"user_id": 1, "args": [{"product_id": 1, "quantity": 1, "price": 4.999}]})")) ==
        std::vector<std::string>{"args[0].price:too_many_decimals"});
  CHECK(fields_of(place_errors(
            R"({"user_id": 1, "args": [{"product_id": 1, "quantity": 1, "price": "4.999"}]})")) ==
        std::vector<std::string>{"args[0].price:too_many_decimals"});
}

TEST_CASE("a price may be a decimal string, as the Go service's numeric type accepted") {
  CHECK(place(R"({"user_id": 1, "items": [{"product_id": 1, "quantity": 1, "price": "4.99"}]})")
            .items[0]
            .unit_price.cents == 499);
}

TEST_CASE("wrong types, missing and unknown fields are all reported at once") {
  const auto errors = place_errors(R"({"user_id": "101", "colour": "red", "args": [
      {"product_id": 1.5, "quantity": true, "prize": 3},
      "not an object"]})");
  CHECK(fields_of(errors) ==
        std::vector<std::string>{"user_id:invalid_type", "args[0].product_id:invalid_type",
                                 "args[0].quantity:invalid_type", "args[0].price:required",
                                 "args[0].prize:unknown_field", "args[1]:invalid_type",
                                 "colour:unknown_field"});
}

TEST_CASE("integers beyond 64 bits and absurd prices are out of range, not wrapped") {
  CHECK(fields_of(place_errors(R"({"user_id": 18446744073709551615,
        "items": [{"product_id": 1, "quantity": 1, "price": 1e300}]})")) ==
        std::vector<std::string>{"user_id:out_of_range", "items[0].price:out_of_range"});
}

TEST_CASE("the Go service's extra item fields are accepted and ignored") {
  const auto body = place(R"({"user_id": 1, "args": [{"order_id": 0, "product_id": 1,
      "product_name": "tea", "quantity": 1, "price": 2}]})");
  CHECK(body.items[0] == domain::LineItem{1, 1, domain::Money{200}});
}

TEST_CASE("a body that is not an object is refused as a whole") {
  CHECK(fields_of(place_errors("[1,2]")) == std::vector<std::string>{":invalid_type"});
}

TEST_CASE("malformed JSON is a parse error: trailing data, comments, bad UTF-8, depth") {
  for (std::string_view bad :
       {"{", "{} x", "{\"a\":1,}", "// c\n{}", "{\"a\":\"\xff\"}", "",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"}) {
    CHECK_MESSAGE(std::holds_alternative<json::ParseError>(json::parse_exact(bad)), bad);
  }
}

TEST_CASE("a key given twice in one object is refused, not read as its last value") {
  const auto message = [](std::string_view text) {
    const auto parsed = json::parse_exact(text, {}, json::DuplicateKeys::refused);
    const auto* error = std::get_if<json::ParseError>(&parsed);
    return error == nullptr ? std::string("parsed") : error->message;
  };
  CHECK(message(R"({"user_id":1,"user_id":2,"args":[]})") ==
        R"(the key "user_id" is given twice in one object)");
  CHECK(message(R"({"args":[{"product_id":1,"quantity":1,"quantity":5}]})") ==
        R"(the key "quantity" is given twice in one object)");
  // Spelt differently, the same key: escapes are read first.
  CHECK(message(R"({"a":1,"\u0061":2})") == R"(the key "a" is given twice in one object)");
  CHECK(message(R"({"\u0001":1,"\u0001":2})") == "a key is given twice in one object");
  const std::string long_key(65, 'k');
  CHECK(message("{\"" + long_key + "\":1,\"" + long_key + "\":2}") ==
        "a key is given twice in one object");
  // The same key in different objects, or in an object and the one inside it, is no repeat.
  CHECK(message(R"({"a":{"a":1},"b":[{"a":1},{"a":2}],"c":{"b":{"a":1}}})") == "parsed");
  CHECK(message(R"([{"x":1},{"x":1}])") == "parsed");
  // The log's data is read as Boost.JSON's DOM reads it: the last of a repeated key.
  const auto last = json::parse_exact(R"({"a":1,"a":2})");
  REQUIRE(std::holds_alternative<boost::json::value>(last));
  CHECK(std::get<boost::json::value>(last).at("a").as_int64() == 2);
}

TEST_CASE("money_of reads integers, exact decimals and decimal strings") {
  CHECK(std::get<domain::Money>(json::money_of(parse("5"))).cents == 500);
  CHECK(std::get<domain::Money>(json::money_of(parse("0.1"))).cents == 10);
  CHECK(std::get<domain::Money>(json::money_of(parse("999999.99"))).cents == 99999999);
  CHECK(std::get<domain::Money>(json::money_of(parse("\"12.30\""))).cents == 1230);
  CHECK(std::get<json::MoneyProblem>(json::money_of(parse("\"abc\""))) ==
        json::MoneyProblem::not_a_number);
  CHECK(std::get<json::MoneyProblem>(json::money_of(parse("null"))) ==
        json::MoneyProblem::not_a_number);
  CHECK(std::get<json::MoneyProblem>(json::money_of(parse("4.990000000000000000001"))) ==
        json::MoneyProblem::too_many_decimals);
}

TEST_CASE("a decimal string is judged exactly as the number it spells") {
  // The string's shortcut (plain digits, no parser) must agree with the number's path.
  const char* texts[] = {"4.99",
                         "4.999",
                         "0",
                         "-0",
                         "-0.00",
                         "12",
                         "1e2",
                         "1E2",
                         "1.5e1",
                         "100000000000000",
                         "1e14",
                         "9999999999999",
                         "9999999999999.99",
                         "10000000000000",
                         "10000000000000.00",
                         "-10000000000000",
                         "900000000000798",
                         "89999999999999.99",
                         "90000000000000.00",
                         "-90000000000000.00",
                         "92233720368547758",
                         "92233720368547758.08",
                         "007",
                         "+1",
                         " 1",
                         "1.",
                         ".5",
                         "-",
                         "",
                         "0x10",
                         "1.0000000000000000001"};
  for (const std::string text : texts) {
    const auto as_string = json::money_of(bj::value(bj::string(text)));
    const auto parsed = json::parse_exact(text);
    const auto* number = std::get_if<bj::value>(&parsed);
    if (number == nullptr || !number->is_number()) {
      CHECK_MESSAGE(std::get<json::MoneyProblem>(as_string) == json::MoneyProblem::not_a_number,
                    text);
      continue;
    }
    const auto as_number = json::money_of(*number);
    REQUIRE_MESSAGE(as_string.index() == as_number.index(), text);
    if (const auto* money = std::get_if<domain::Money>(&as_number)) {
      CHECK_MESSAGE(std::get<domain::Money>(as_string).cents == money->cents, text);
    } else {
      CHECK_MESSAGE(
          std::get<json::MoneyProblem>(as_string) == std::get<json::MoneyProblem>(as_number), text);
    }
  }
}

TEST_CASE("an amount is out of range from 10,000,000,000,000 on, however it is spelled") {
  // format_money writes every amount with two decimals, and a decimal is read exactly only below
  // that bound: an integer beyond it, read, would be written back as a decimal that is refused.
  CHECK(std::get<domain::Money>(json::money_of(parse("9999999999999"))).cents ==
        999'999'999'999'900);
  CHECK(std::get<domain::Money>(json::money_of(parse("-9999999999999"))).cents ==
        -999'999'999'999'900);
  CHECK(std::get<domain::Money>(json::money_of(parse("\"9999999999999.99\""))).cents ==
        999'999'999'999'999);
  for (const char* text :
       {"10000000000000", "-10000000000000", "\"10000000000000\"", "\"900000000000798\"",
        "900000000000798", "9223372036854775807", "-9223372036854775808"}) {
    CHECK_MESSAGE(std::get<json::MoneyProblem>(json::money_of(parse(text))) ==
                      json::MoneyProblem::out_of_range,
                  text);
  }
}

TEST_CASE("every two-decimal price up to the limit survives the JSON round trip exactly") {
  for (std::int64_t cents = 1; cents <= 100'000'000; cents += 9973) {
    const std::string text = domain::format_money_compact(domain::Money{cents});
    const auto money = json::money_of(parse(text));
    REQUIRE_MESSAGE(std::holds_alternative<domain::Money>(money), text);
    CHECK(std::get<domain::Money>(money).cents == cents);
  }
}

TEST_CASE("order.created data is the seed's shape, field for field") {
  const domain::Event placed = domain::OrderPlaced{
      17, 101, {{1001, 2, domain::Money{499}}, {1002, 1, domain::Money{350}}}, domain::Money{1348}};
  CHECK(json::encode_event_data(placed) ==
        R"({"orderid":17,"userid":101,"totalamount":"13.48","status":"pending",)"
        R"("items":[{"product_id":1001,"quantity":2,"price":4.99},)"
        R"({"product_id":1002,"quantity":1,"price":3.5}]})");
}

TEST_CASE("lifecycle event data carries the seed's status_updated fields") {
  const domain::OrderRef ref{17, 101, domain::Money{1348}, domain::OrderStatus::pending};
  CHECK(json::encode_event_data(domain::OrderPaid{ref, "pay-1", domain::Money{1348}}) ==
        R"({"orderid":17,"userid":101,"totalamount":"13.48","status":"paid",)"
        R"("oldstatus":"pending","newstatus":"paid","payment_reference":"pay-1",)"
        R"("amount":"13.48"})");
}

TEST_CASE("every event type decodes back to itself, also from PostgreSQL's jsonb text") {
  const domain::OrderRef paid_ref{17, 101, domain::Money{1348}, domain::OrderStatus::paid};
  const std::vector<domain::Event> events{
      domain::OrderPlaced{17, 101, {{1001, 2, domain::Money{499}}}, domain::Money{998}},
      domain::OrderPaid{{17, 101, domain::Money{1348}, domain::OrderStatus::pending},
                        "p\"1",
                        domain::Money{1348}},
      domain::OrderShipped{paid_ref, "DHL", "TR-1"},
      domain::OrderDelivered{{17, 101, domain::Money{1348}, domain::OrderStatus::shipped}},
      domain::OrderCancelled{paid_ref, "changed my mind"},
  };
  for (const auto& event : events) {
    const std::string type(domain::event_type(event));
    const auto decoded = json::decode_event(type, json::encode_event_data(event));
    REQUIRE_MESSAGE(decoded.has_value(), type);
    CHECK_MESSAGE(*decoded == event, type);
  }
  // jsonb reorders keys and adds spaces; the decoder does not care.
  const auto from_jsonb = json::decode_event(
      "order.created",
      R"({"items": [{"price": 4.99, "quantity": 2, "product_id": 1001}], "status": "pending", )"
      R"("userid": 101, "orderid": 17, "totalamount": "9.98"})");
  REQUIRE(from_jsonb.has_value());
  CHECK(*from_jsonb == events[0]);
  CHECK_FALSE(json::decode_event("order.teleported", json::encode_event_data(events[0])));
}

TEST_CASE("the log's data is read as a JSON object is: the last duplicate wins, escapes count") {
  const auto created = json::decode_event(
      "order.created",
      R"({"orderid": "x", "orderid": 17, "userid": 101, "totalamount": 9.98, "other": {"a": [1,)"
      R"( {"items": 5}]}, "items": [3], "items": [{"price": "4.99", "quantity": 2,)"
      R"( "product_id": 1001, "product_name": "pen", "order_id": {"any": null}}]})");
  REQUIRE(created.has_value());
  CHECK(*created == domain::Event{domain::OrderPlaced{
                        17, 101, {{1001, 2, domain::Money{499}}}, domain::Money{998}}});

  // An escaped key is the key it spells; a long escaped text survives whole.
  const std::string reason(5000, 'r');
  const auto cancelled = json::decode_event(
      "order.cancelled", R"({"order\u0069d": 17, "userid": 101, "totalamount": "13.48",)"
                         R"( "oldstatus": "p\u0061id", "reason": "\n)" +
                             reason + R"("})");
  REQUIRE(cancelled.has_value());
  CHECK(*cancelled ==
        domain::Event{domain::OrderCancelled{
            {17, 101, domain::Money{1348}, domain::OrderStatus::paid}, "\n" + reason}});
}

TEST_CASE("log data that does not fit its event does not decode") {
  const std::string paid_tail = R"("oldstatus": "pending", "amount": "1.00"})";
  auto paid = [&](std::string_view head) {
    return json::decode_event("order.paid", std::string(head) + paid_tail);
  };
  CHECK(paid(R"({"orderid": 1, "userid": 2, "totalamount": "1.00", )"));
  CHECK_FALSE(paid(R"({"orderid": 1.0, "userid": 2, "totalamount": "1.00", )"));
  CHECK_FALSE(paid(R"({"orderid": 9223372036854775808, "userid": 2, "totalamount": "1.00", )"));
  CHECK_FALSE(paid(R"({"orderid": null, "userid": 2, "totalamount": "1.00", )"));
  CHECK_FALSE(paid(R"({"orderid": [1], "userid": 2, "totalamount": "1.00", )"));
  CHECK_FALSE(paid(R"({"userid": 2, "totalamount": "1.00", )"));
  CHECK_FALSE(paid(R"({"orderid": 1, "userid": 2, "totalamount": 1.001, )"));
  CHECK_FALSE(paid(R"({"orderid": 1, "userid": 2, "totalamount": "1.001", )"));
  CHECK(paid(R"({"orderid": 1, "userid": 2, "totalamount": 1e2, )"));
  CHECK_FALSE(paid(R"({"orderid": 1, "userid": 2, "totalamount": 92233720368547759, )"));
  // Found by fuzzing (tests/fuzz/corpus/event_data/shipped-total-out-of-range): an integer total
  // this large decoded, and was written back as a decimal that did not.
  CHECK_FALSE(json::decode_event("order.shipped", R"({"orderid": 1, "userid": 101, "totalamount": )"
                                                  R"("900000000000798", "oldstatus": "paid"})"));
  CHECK_FALSE(paid(R"({"orderid": 1, "userid": 2, "totalamount": 10000000000000, )"));
  const auto largest = paid(R"({"orderid": 1, "userid": 2, "totalamount": 9999999999999.99, )");
  REQUIRE(largest.has_value());
  CHECK(json::decode_event("order.paid", json::encode_event_data(*largest)) == largest);
  CHECK_FALSE(paid(R"({"orderid": 1, "userid": 2, "totalamount": true, )"));
  CHECK_FALSE(json::decode_event("order.paid", R"({"orderid": 1, "userid": 2, "totalamount": 1,)"
                                               R"( "oldstatus": "lost", "amount": 1})"));
  CHECK_FALSE(json::decode_event("order.paid", R"({"orderid": 1, "userid": 2, "totalamount": 1,)"
                                               R"( "oldstatus": "pending"})"));
  // Not JSON, or not an object: nothing decodes.
  CHECK_FALSE(paid(R"({"orderid": 1, "userid": 2, "totalamount": "1.00", /* c */ )"));
  CHECK_FALSE(json::decode_event("order.paid", "[1]"));
  CHECK_FALSE(json::decode_event("order.paid", ""));
  CHECK_FALSE(json::decode_event("order.paid", paid_tail));

  auto created = [](std::string_view items) {
    return json::decode_event("order.created", R"({"orderid": 1, "userid": 2, "totalamount": 1,)"
                                               R"( "items": )" +
                                                   std::string(items) + "}");
  };
  CHECK(created(R"([{"product_id": 3, "quantity": 1, "price": 1}])"));
  CHECK(created("[]"));
  CHECK_FALSE(created("null"));
  CHECK_FALSE(created(R"({"product_id": 3, "quantity": 1, "price": 1})"));
  CHECK_FALSE(created(R"([{"product_id": 3, "quantity": 1, "price": 1}, 4])"));
  CHECK_FALSE(created(R"([[{"product_id": 3, "quantity": 1, "price": 1}]])"));
  CHECK_FALSE(created(R"([{"product_id": 3, "quantity": 1}])"));
  CHECK_FALSE(created(R"([{"product_id": 3, "quantity": 1, "price": 1, "colour": "red"}])"));
  CHECK_FALSE(created(R"([{"product_id": 3, "quantity": 1, "price": 1, "product_name": 7}])"));
  CHECK_FALSE(created(R"([{"product_id": 3, "quantity": "1", "price": 1}])"));
  CHECK_FALSE(json::decode_event("order.created", R"({"orderid": 1, "userid": 2,)"
                                                  R"( "totalamount": 1})"));
}

TEST_CASE("the writer escapes what JSON requires and nothing else") {
  json::JsonWriter w;
  w.begin_object().key("k").string("a\"b\\c\n\x01é").key("n").integer(-5).end_object();
  CHECK(w.str() == "{\"k\":\"a\\\"b\\\\c\\n\\u0001é\",\"n\":-5}");
}

TEST_CASE("whatever the writer quotes reads back as the same text") {
  std::vector<std::string> texts = {"",
                                    "\"",
                                    "\\\\",
                                    "\n\n",
                                    "plain",
                                    "\x1f at the start",
                                    "at the end\x7f\x01",
                                    "é ü 雪 😀 mixed\tin"};
  std::string every_byte;
  for (int c = 0; c < 128; ++c) every_byte += static_cast<char>(c);
  texts.push_back(every_byte);
  for (const auto& text : texts) {
    json::JsonWriter w;
    w.begin_array().string(text).end_array();
    const boost::json::value read = boost::json::parse(w.str());
    CHECK(std::string(read.as_array().at(0).as_string()) == text);
  }
}

TEST_CASE("the writer escapes a byte wherever it falls in a long text") {
  // Plain bytes are skipped eight at a time: each byte value, at each offset of a text longer
  // than two such steps, is escaped exactly as one byte at a time would.
  static constexpr char kHex[] = "0123456789abcdef";
  const auto one_at_a_time = [](const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c == '\b') {
        out += "\\b";
      } else if (c == '\f') {
        out += "\\f";
      } else if (byte < 0x20) {
        out += std::string("\\u00") + kHex[byte >> 4] + kHex[byte & 0xf];
      } else {
        out += c;
      }
    }
    return out + '"';
  };
  for (int value = 0; value < 256; ++value) {
    for (std::size_t at = 0; at < 19; ++at) {
      std::string text = "abcdefghijklmnopqr";
      text.insert(at, 1, static_cast<char>(value));
      std::string quoted;
      json::append_quoted(quoted, text);
      REQUIRE_MESSAGE(quoted == one_at_a_time(text), "byte " << value << " at " << at);
    }
  }
}

TEST_CASE("a NUL in a text that goes into an event is a validation error, not a database error") {
  const auto pay =
      json::decode_pay(parse(R"({"payment_reference":"a\u0000b","amount":"1.00"})"), 1);
  REQUIRE(std::holds_alternative<json::FieldErrors>(pay));
  CHECK(fields_of(std::get<json::FieldErrors>(pay)) ==
        std::vector<std::string>{"payment_reference:invalid_character"});
  const auto ship =
      json::decode_ship(parse(R"({"carrier":"\u0000","tracking_number":"x\u0000"})"), 1);
  REQUIRE(std::holds_alternative<json::FieldErrors>(ship));
  CHECK(fields_of(std::get<json::FieldErrors>(ship)) ==
        std::vector<std::string>{"carrier:invalid_character", "tracking_number:invalid_character"});
  const auto cancel = json::decode_cancel(parse(R"({"reason":"why\u0000"})"), 1);
  REQUIRE(std::holds_alternative<json::FieldErrors>(cancel));
  CHECK(fields_of(std::get<json::FieldErrors>(cancel)) ==
        std::vector<std::string>{"reason:invalid_character"});
  // Other control characters are valid in jsonb and stay the client's data.
  CHECK(std::holds_alternative<domain::CancelOrder>(
      json::decode_cancel(parse(R"({"reason":"tab\tand\u0001"})"), 1)));
}
