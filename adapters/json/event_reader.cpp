// The log's event data read straight into a domain event, by a Boost.JSON SAX handler: no
// document is built. The publisher, every read model and the rebuild decode every event of the
// log, so this is their hottest parse. It judges a document as a DOM read through Fields did:
// strict JSON, the last of duplicate keys wins, money is exact, members of the data that no event
// reads are ignored, and a member an order line does not have is refused.
#include <boost/json/basic_parser_impl.hpp>
#include <cstdint>

#include "adapters/json/event_data.hpp"
#include "adapters/json/exact_parser.hpp"

namespace order::json {
namespace {

namespace bj = boost::json;
using domain::Money;

// The members of an event's data that some event reads; any other is skipped.
enum class Member : std::uint8_t {
  other,
  orderid,
  userid,
  totalamount,
  oldstatus,
  items,
  payment_reference,
  amount,
  carrier,
  tracking_number,
  reason,
};

Member member_of(std::string_view key) {
  static constexpr std::pair<std::string_view, Member> kMembers[] = {
      {"orderid", Member::orderid},
      {"userid", Member::userid},
      {"totalamount", Member::totalamount},
      {"oldstatus", Member::oldstatus},
      {"items", Member::items},
      {"payment_reference", Member::payment_reference},
      {"amount", Member::amount},
      {"carrier", Member::carrier},
      {"tracking_number", Member::tracking_number},
      {"reason", Member::reason},
  };
  for (const auto& [name, member] : kMembers) {
    if (key == name) return member;
  }
  return Member::other;
}

// The members of an order line. The Go service's lines also had order_id and product_name, which
// are accepted (a product_name must be a string) and ignored; any other member is refused.
enum class LineMember : std::uint8_t {
  unknown,
  product_id,
  quantity,
  price,
  order_id,
  product_name
};

LineMember line_member_of(std::string_view key) {
  if (key == "product_id") return LineMember::product_id;
  if (key == "quantity") return LineMember::quantity;
  if (key == "price") return LineMember::price;
  if (key == "order_id") return LineMember::order_id;
  if (key == "product_name") return LineMember::product_name;
  return LineMember::unknown;
}

// One value as the handler sees it: a scalar, or the start of an object or array.
struct Value {
  enum class Kind : std::uint8_t { null, boolean, int64, uint64, real, string, object, array };
  Kind kind = Kind::null;
  std::int64_t integer = 0;
  double real = 0;
  std::string_view text;  // a string's characters, or a number's text
};

std::optional<std::int64_t> integer_of(const Value& v) {
  if (v.kind == Value::Kind::int64) return v.integer;
  return std::nullopt;
}

std::optional<Money> money_of(const Value& v) {
  std::variant<Money, MoneyProblem> result = MoneyProblem::not_a_number;
  switch (v.kind) {
    case Value::Kind::string:
      result = money_of_text(v.text);
      break;
    case Value::Kind::int64:
      result = money_of_integer(v.integer);
      break;
    case Value::Kind::real:
      result = money_of_double(v.real, v.text);
      break;
    default:
      break;
  }
  if (const auto* money = std::get_if<Money>(&result)) return *money;
  return std::nullopt;
}

std::optional<std::string> text_of(const Value& v) {
  if (v.kind == Value::Kind::string) return std::string(v.text);
  return std::nullopt;
}

// What the data says, member by member: a member that is missing, null or of the wrong type is
// empty. Filled as the parser goes; judged by event_of once the document is complete.
struct EventFields {
  bool is_object = false;
  std::optional<std::int64_t> order_id;
  std::optional<std::int64_t> user_id;
  std::optional<Money> total;
  std::optional<std::string> old_status;
  std::optional<std::string> payment_reference;
  std::optional<Money> amount;
  std::optional<std::string> carrier;
  std::optional<std::string> tracking_number;
  std::optional<std::string> reason;
  bool items_valid = false;  // an array whose every element is a valid order line
  std::vector<domain::LineItem> items;
};

struct Line {
  std::optional<std::int64_t> product_id;
  std::optional<std::int64_t> quantity;
  std::optional<Money> price;
  bool name_valid = true;
  bool has_unknown = false;
};

class EventDataHandler {
 public:
  static constexpr std::size_t max_object_size = bj::object::max_size();
  static constexpr std::size_t max_array_size = bj::array::max_size();
  static constexpr std::size_t max_key_size = bj::string::max_size();
  static constexpr std::size_t max_string_size = bj::string::max_size();

  EventFields fields;

  bool on_document_begin(bj::error_code&) { return true; }
  bool on_document_end(bj::error_code&) { return true; }
  bool on_object_begin(bj::error_code&) {
    on_value({Value::Kind::object});
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, bj::error_code&) {
    --depth_;
    if (in_line_ && depth_ == 2) end_line();
    return true;
  }
  bool on_array_begin(bj::error_code&) {
    on_value({Value::Kind::array});
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, bj::error_code&) {
    --depth_;
    if (in_items_ && depth_ == 1) in_items_ = false;
    return true;
  }
  bool on_key_part(bj::string_view s, std::size_t, bj::error_code&) {
    part_.append(s.data(), s.size());
    return true;
  }
  bool on_key(bj::string_view s, std::size_t, bj::error_code&) {
    const std::string_view key = whole(s);
    if (depth_ == 1) {
      member_ = member_of(key);
    } else if (in_line_ && depth_ == 3) {
      line_member_ = line_member_of(key);
    }
    part_.clear();
    return true;
  }
  bool on_string_part(bj::string_view s, std::size_t, bj::error_code&) {
    part_.append(s.data(), s.size());
    return true;
  }
  bool on_string(bj::string_view s, std::size_t, bj::error_code&) {
    Value v{Value::Kind::string};
    v.text = whole(s);
    on_value(v);
    part_.clear();
    return true;
  }
  bool on_number_part(bj::string_view s, bj::error_code&) {
    number_part_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, bj::string_view, bj::error_code&) {
    Value v{Value::Kind::int64};
    v.integer = i;
    on_value(v);
    number_part_.clear();
    return true;
  }
  bool on_uint64(std::uint64_t, bj::string_view, bj::error_code&) {
    on_value({Value::Kind::uint64});
    number_part_.clear();
    return true;
  }
  bool on_double(double d, bj::string_view s, bj::error_code&) {
    Value v{Value::Kind::real};
    v.real = d;
    if (number_part_.empty()) {
      v.text = std::string_view(s.data(), s.size());
    } else {
      number_part_.append(s.data(), s.size());
      v.text = number_part_;
    }
    on_value(v);
    number_part_.clear();
    return true;
  }
  bool on_bool(bool, bj::error_code&) {
    on_value({Value::Kind::boolean});
    return true;
  }
  bool on_null(bj::error_code&) {
    on_value({Value::Kind::null});
    return true;
  }
  bool on_comment_part(bj::string_view, bj::error_code&) { return true; }
  bool on_comment(bj::string_view, bj::error_code&) { return true; }

 private:
  // A string or key that came in parts is whole once its last part is appended.
  std::string_view whole(bj::string_view last) {
    if (part_.empty()) return {last.data(), last.size()};
    part_.append(last.data(), last.size());
    return part_;
  }

  // Called for every value, before the handler enters it if it is an object or array.
  void on_value(const Value& v) {
    if (depth_ == 0) {
      fields.is_object = v.kind == Value::Kind::object;
    } else if (depth_ == 1) {
      on_member(v);
    } else if (in_items_ && depth_ == 2) {
      if (v.kind == Value::Kind::object) {
        in_line_ = true;
        line_ = {};
      } else {
        fields.items_valid = false;
      }
    } else if (in_line_ && depth_ == 3) {
      on_line_member(v);
    }
    // Anything deeper belongs to a member no event reads.
  }

  // A member of the data; a later duplicate replaces it, as in a JSON object.
  void on_member(const Value& v) {
    switch (member_) {
      case Member::orderid:
        fields.order_id = integer_of(v);
        break;
      case Member::userid:
        fields.user_id = integer_of(v);
        break;
      case Member::totalamount:
        fields.total = money_of(v);
        break;
      case Member::oldstatus:
        fields.old_status = text_of(v);
        break;
      case Member::items:
        fields.items.clear();
        fields.items_valid = v.kind == Value::Kind::array;
        in_items_ = fields.items_valid;
        break;
      case Member::payment_reference:
        fields.payment_reference = text_of(v);
        break;
      case Member::amount:
        fields.amount = money_of(v);
        break;
      case Member::carrier:
        fields.carrier = text_of(v);
        break;
      case Member::tracking_number:
        fields.tracking_number = text_of(v);
        break;
      case Member::reason:
        fields.reason = text_of(v);
        break;
      case Member::other:
        break;
    }
  }

  void on_line_member(const Value& v) {
    switch (line_member_) {
      case LineMember::product_id:
        line_.product_id = integer_of(v);
        break;
      case LineMember::quantity:
        line_.quantity = integer_of(v);
        break;
      case LineMember::price:
        line_.price = money_of(v);
        break;
      case LineMember::order_id:
        break;
      case LineMember::product_name:
        line_.name_valid = v.kind == Value::Kind::null || v.kind == Value::Kind::string;
        break;
      case LineMember::unknown:
        line_.has_unknown = true;
        break;
    }
  }

  void end_line() {
    in_line_ = false;
    if (line_.product_id && line_.quantity && line_.price && line_.name_valid &&
        !line_.has_unknown) {
      fields.items.push_back(domain::LineItem{*line_.product_id, *line_.quantity, *line_.price});
    } else {
      fields.items_valid = false;
    }
  }

  int depth_ = 0;  // objects and arrays open around the next value
  Member member_ = Member::other;
  LineMember line_member_ = LineMember::unknown;
  bool in_items_ = false;  // inside the data's items array
  bool in_line_ = false;   // inside one of its elements
  Line line_;
  std::string part_;         // a key's or string's parts, when the parser hands it over in pieces
  std::string number_part_;  // likewise a number's
};

std::optional<domain::Event> event_of(std::string_view type, EventFields& f) {
  if (!f.is_object || !f.order_id || !f.user_id || !f.total) return std::nullopt;
  if (type == "order.created") {
    if (!f.items_valid) return std::nullopt;
    return domain::OrderPlaced{*f.order_id, *f.user_id, std::move(f.items), *f.total};
  }

  const auto old_status = f.old_status ? domain::parse_status(*f.old_status) : std::nullopt;
  if (!old_status) return std::nullopt;
  const domain::OrderRef ref{*f.order_id, *f.user_id, *f.total, *old_status};
  // A status change's texts were never required to decode: a missing one reads as empty.
  auto text = [](std::optional<std::string>& t) { return t ? std::move(*t) : std::string(); };
  if (type == "order.paid") {
    if (!f.amount) return std::nullopt;
    return domain::OrderPaid{ref, text(f.payment_reference), *f.amount};
  }
  if (type == "order.shipped") {
    return domain::OrderShipped{ref, text(f.carrier), text(f.tracking_number)};
  }
  if (type == "order.delivered") return domain::OrderDelivered{ref};
  if (type == "order.cancelled") return domain::OrderCancelled{ref, text(f.reason)};
  return std::nullopt;
}

}  // namespace

std::optional<domain::Event> decode_event(std::string_view type, std::string_view data_json) {
  bj::parse_options options;  // strict JSON, as parse_exact: no comments, valid UTF-8, depth ≤ 32
  options.max_depth = 32;
  bj::basic_parser<EventDataHandler> parser(options);
  bj::error_code ec;
  const std::size_t used = parser.write_some(false, data_json.data(), data_json.size(), ec);
  if (ec || used != data_json.size()) return std::nullopt;
  return event_of(type, parser.handler().fields);
}

}  // namespace order::json
