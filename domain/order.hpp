// The Order aggregate as a decider: commands and events as variants of plain structs,
// decide(command, state) -> events or a DomainError, evolve(state, event) -> state.
// No I/O, no clock, no random: ids arrive in the command, times are the store's.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/money.hpp"

namespace order::domain {

using OrderId = std::int64_t;
using UserId = std::int64_t;
using ProductId = std::int64_t;

inline constexpr std::size_t kMaxItems = 100;
inline constexpr std::int64_t kMaxQuantity = 10'000;
inline constexpr Money kMaxUnitPrice{100'000'000};  // 1,000,000.00
inline constexpr std::size_t kMaxTextLength = 200;  // references, carriers, reasons

enum class OrderStatus { pending, paid, shipped, delivered, cancelled };
std::string_view to_string(OrderStatus status);
std::optional<OrderStatus> parse_status(std::string_view text);

struct LineItem {
  ProductId product_id = 0;
  std::int64_t quantity = 0;
  Money unit_price;
  friend bool operator==(const LineItem&, const LineItem&) = default;
};

// ---- commands ----
struct PlaceOrder {
  OrderId order_id = 0;
  UserId user_id = 0;
  std::vector<LineItem> items;
};
struct PayOrder {
  OrderId order_id = 0;
  std::string payment_reference;
  Money amount;
};
struct ShipOrder {
  OrderId order_id = 0;
  std::string carrier;
  std::string tracking_number;
};
struct DeliverOrder {
  OrderId order_id = 0;
};
struct CancelOrder {
  OrderId order_id = 0;
  std::string reason;
};
using Command = std::variant<PlaceOrder, PayOrder, ShipOrder, DeliverOrder, CancelOrder>;

// ---- events ----
// Every lifecycle event names the order it moves and what a consumer needs without the rest of
// the stream (who owns it, its total, the status it leaves): the log is read by other services.
struct OrderRef {
  OrderId order_id = 0;
  UserId user_id = 0;
  Money total;
  OrderStatus old_status = OrderStatus::pending;
  friend bool operator==(const OrderRef&, const OrderRef&) = default;
};
struct OrderPlaced {
  OrderId order_id = 0;
  UserId user_id = 0;
  std::vector<LineItem> items;
  Money total;
  friend bool operator==(const OrderPlaced&, const OrderPlaced&) = default;
};
struct OrderPaid {
  OrderRef ref;
  std::string payment_reference;
  Money amount;
  friend bool operator==(const OrderPaid&, const OrderPaid&) = default;
};
struct OrderShipped {
  OrderRef ref;
  std::string carrier;
  std::string tracking_number;
  friend bool operator==(const OrderShipped&, const OrderShipped&) = default;
};
struct OrderDelivered {
  OrderRef ref;
  friend bool operator==(const OrderDelivered&, const OrderDelivered&) = default;
};
struct OrderCancelled {
  OrderRef ref;
  std::string reason;
  friend bool operator==(const OrderCancelled&, const OrderCancelled&) = default;
};
using Event = std::variant<OrderPlaced, OrderPaid, OrderShipped, OrderDelivered, OrderCancelled>;

// The contract's type names: "order.created", "order.paid", ...
std::string_view event_type(const Event& event);
// The status an order has right after this event.
OrderStatus status_after(const Event& event);

// ---- errors ----
enum class ErrorCode {
  validation_failed,  // the command's fields break a rule; see DomainError::fields
  order_not_found,    // a lifecycle command on an order that does not exist
  order_already_exists,
  illegal_transition,  // e.g. shipping a pending order, paying a cancelled one
  amount_mismatch,     // a payment that does not equal the order's total
};
std::string_view to_string(ErrorCode code);

struct FieldError {
  std::string field;  // "user_id", "items[3].quantity"
  std::string code;   // "required", "out_of_range", "duplicate", "too_long", ...
  std::string message;
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

struct DomainError {
  ErrorCode code = ErrorCode::validation_failed;
  std::string detail;
  std::vector<FieldError> fields;
};

// The outcome of decide(): the events to append, or why not.
class Decision {
 public:
  Decision(std::vector<Event> events)
      : outcome_(std::move(events)) {}                         // NOLINT: implicit by design
  Decision(DomainError error) : outcome_(std::move(error)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<std::vector<Event>>(outcome_); }
  const std::vector<Event>& events() const { return std::get<std::vector<Event>>(outcome_); }
  const DomainError& error() const { return std::get<DomainError>(outcome_); }

 private:
  std::variant<std::vector<Event>, DomainError> outcome_;
};

// ---- state ----
struct Order {
  OrderId id = 0;
  UserId user_id = 0;
  OrderStatus status = OrderStatus::pending;
  std::vector<LineItem> items;
  Money total;
  std::int64_t version = 0;  // number of events folded; 0 means the order does not exist
  std::string payment_reference;
  std::string carrier;
  std::string tracking_number;
  std::string cancel_reason;

  bool exists() const { return version > 0; }
  friend bool operator==(const Order&, const Order&) = default;
  bool is_terminal() const {
    return status == OrderStatus::delivered || status == OrderStatus::cancelled;
  }
};

Order initial_state();
Decision decide(const Command& command, const Order& state);
Order evolve(Order state, const Event& event);  // total: never fails
Order fold(std::span<const Event> events, Order state = initial_state());

// The rules of a new order, shared by decide() and by decoders that want every error at once.
std::vector<FieldError> validate_new_order(UserId user_id, const std::vector<LineItem>& items);

}  // namespace order::domain
