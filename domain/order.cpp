// The Order aggregate's rules: what each command may do in each state, and how events fold.
#include "domain/order.hpp"

#include <algorithm>
#include <unordered_map>

#include "domain/overloaded.hpp"

namespace order::domain {
namespace {

DomainError validation_error(std::vector<FieldError> fields) {
  return DomainError{ErrorCode::validation_failed, "the command breaks the order's rules",
                     std::move(fields)};
}

DomainError not_found(OrderId id) {
  return DomainError{
      ErrorCode::order_not_found, "order " + std::to_string(id) + " does not exist", {}};
}

DomainError illegal(const Order& state, std::string_view action) {
  return DomainError{
      ErrorCode::illegal_transition,
      "cannot " + std::string(action) + " an order that is " + std::string(to_string(state.status)),
      {}};
}

void check_text(std::vector<FieldError>& errors, std::string_view field, std::string_view value,
                bool required) {
  const bool blank = std::all_of(value.begin(), value.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  });
  if (required && blank) {
    errors.push_back({std::string(field), "required", std::string(field) + " must not be empty"});
  } else if (value.size() > kMaxTextLength) {
    errors.push_back(
        {std::string(field), "too_long",
         std::string(field) + " must be at most " + std::to_string(kMaxTextLength) + " bytes"});
  }
}

OrderRef ref_of(const Order& state) {
  return OrderRef{state.id, state.user_id, state.total, state.status};
}

Decision decide_place(const PlaceOrder& command, const Order& state) {
  if (state.exists()) {
    return DomainError{ErrorCode::order_already_exists,
                       "order " + std::to_string(command.order_id) + " already exists",
                       {}};
  }
  std::vector<FieldError> errors = validate_new_order(command.user_id, command.items);
  if (command.order_id <= 0) {
    errors.push_back({"order_id", "out_of_range", "order_id must be a positive integer"});
  }
  if (!errors.empty()) return validation_error(std::move(errors));

  // validate_new_order bounds every factor, so the sum is at most 100 × 10^4 × 10^8 cents,
  // far below 2^63; the checked arithmetic keeps that a proof rather than a hope.
  Money total;
  for (const LineItem& item : command.items) {
    const auto line = checked_multiply(item.unit_price, item.quantity);
    const auto sum = line ? checked_add(total, *line) : std::nullopt;
    if (!sum) return validation_error({{"items", "overflow", "the order's total overflows"}});
    total = *sum;
  }
  return std::vector<Event>{OrderPlaced{command.order_id, command.user_id, command.items, total}};
}

Decision decide_pay(const PayOrder& command, const Order& state) {
  if (!state.exists()) return not_found(command.order_id);
  std::vector<FieldError> errors;
  check_text(errors, "payment_reference", command.payment_reference, true);
  if (command.amount.cents <= 0) {
    errors.push_back({"amount", "out_of_range", "amount must be greater than 0"});
  }
  if (!errors.empty()) return validation_error(std::move(errors));
  if (state.status != OrderStatus::pending) return illegal(state, "pay");
  if (command.amount != state.total) {
    return DomainError{ErrorCode::amount_mismatch,
                       "the payment of " + format_money(command.amount) +
                           " does not equal the order's total of " + format_money(state.total),
                       {{"amount", "mismatch", "amount must equal the order's total"}}};
  }
  return std::vector<Event>{OrderPaid{ref_of(state), command.payment_reference, command.amount}};
}

Decision decide_ship(const ShipOrder& command, const Order& state) {
  if (!state.exists()) return not_found(command.order_id);
  std::vector<FieldError> errors;
  check_text(errors, "carrier", command.carrier, true);
  check_text(errors, "tracking_number", command.tracking_number, true);
  if (!errors.empty()) return validation_error(std::move(errors));
  if (state.status != OrderStatus::paid) return illegal(state, "ship");
  return std::vector<Event>{OrderShipped{ref_of(state), command.carrier, command.tracking_number}};
}

Decision decide_deliver(const DeliverOrder& command, const Order& state) {
  if (!state.exists()) return not_found(command.order_id);
  if (state.status != OrderStatus::shipped) return illegal(state, "deliver");
  return std::vector<Event>{OrderDelivered{ref_of(state)}};
}

Decision decide_cancel(const CancelOrder& command, const Order& state) {
  if (!state.exists()) return not_found(command.order_id);
  std::vector<FieldError> errors;
  check_text(errors, "reason", command.reason, false);
  if (!errors.empty()) return validation_error(std::move(errors));
  if (state.status != OrderStatus::pending && state.status != OrderStatus::paid) {
    return illegal(state, "cancel");
  }
  return std::vector<Event>{OrderCancelled{ref_of(state), command.reason}};
}

}  // namespace

std::string_view to_string(OrderStatus status) {
  switch (status) {
    case OrderStatus::pending:
      return "pending";
    case OrderStatus::paid:
      return "paid";
    case OrderStatus::shipped:
      return "shipped";
    case OrderStatus::delivered:
      return "delivered";
    case OrderStatus::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::optional<OrderStatus> parse_status(std::string_view text) {
  for (OrderStatus s : {OrderStatus::pending, OrderStatus::paid, OrderStatus::shipped,
                        OrderStatus::delivered, OrderStatus::cancelled}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::validation_failed:
      return "validation_failed";
    case ErrorCode::order_not_found:
      return "order_not_found";
    case ErrorCode::order_already_exists:
      return "order_already_exists";
    case ErrorCode::illegal_transition:
      return "illegal_transition";
    case ErrorCode::amount_mismatch:
      return "amount_mismatch";
  }
  return "unknown";
}

std::string_view event_type(const Event& event) {
  return std::visit(Overloaded{
                        [](const OrderPlaced&) { return std::string_view("order.created"); },
                        [](const OrderPaid&) { return std::string_view("order.paid"); },
                        [](const OrderShipped&) { return std::string_view("order.shipped"); },
                        [](const OrderDelivered&) { return std::string_view("order.delivered"); },
                        [](const OrderCancelled&) { return std::string_view("order.cancelled"); },
                    },
                    event);
}

OrderStatus status_after(const Event& event) {
  return std::visit(Overloaded{
                        [](const OrderPlaced&) { return OrderStatus::pending; },
                        [](const OrderPaid&) { return OrderStatus::paid; },
                        [](const OrderShipped&) { return OrderStatus::shipped; },
                        [](const OrderDelivered&) { return OrderStatus::delivered; },
                        [](const OrderCancelled&) { return OrderStatus::cancelled; },
                    },
                    event);
}

std::vector<FieldError> validate_new_order(UserId user_id, const std::vector<LineItem>& items) {
  std::vector<FieldError> errors;
  if (user_id <= 0)
    errors.push_back({"user_id", "out_of_range", "user_id must be a positive integer"});
  if (items.empty()) {
    errors.push_back({"items", "required", "an order needs at least one item"});
  } else if (items.size() > kMaxItems) {
    errors.push_back(
        {"items", "too_many", "an order has at most " + std::to_string(kMaxItems) + " items"});
    return errors;  // one error for the list, not a hundred more for its members
  }

  // Two lines for one product are refused, not merged: the client may mean two prices, and
  // guessing which one is a decision the client should make.
  std::unordered_map<ProductId, std::size_t> first_line;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const LineItem& item = items[i];
    const std::string at = "items[" + std::to_string(i) + "].";
    if (item.product_id <= 0) {
      errors.push_back(
          {at + "product_id", "out_of_range", "product_id must be a positive integer"});
    } else if (auto [it, inserted] = first_line.emplace(item.product_id, i); !inserted) {
      errors.push_back({at + "product_id", "duplicate",
                        "product " + std::to_string(item.product_id) + " is already on line " +
                            std::to_string(it->second) + "; put the whole quantity on one line"});
    }
    if (item.quantity < 1 || item.quantity > kMaxQuantity) {
      errors.push_back({at + "quantity", "out_of_range",
                        "quantity must be between 1 and " + std::to_string(kMaxQuantity)});
    }
    if (item.unit_price.cents <= 0 || item.unit_price > kMaxUnitPrice) {
      errors.push_back({at + "price", "out_of_range",
                        "price must be greater than 0 and at most " + format_money(kMaxUnitPrice)});
    }
  }
  return errors;
}

Order initial_state() { return Order{}; }

Decision decide(const Command& command, const Order& state) {
  return std::visit(Overloaded{
                        [&](const PlaceOrder& c) { return decide_place(c, state); },
                        [&](const PayOrder& c) { return decide_pay(c, state); },
                        [&](const ShipOrder& c) { return decide_ship(c, state); },
                        [&](const DeliverOrder& c) { return decide_deliver(c, state); },
                        [&](const CancelOrder& c) { return decide_cancel(c, state); },
                    },
                    command);
}

Order evolve(Order state, const Event& event) {
  std::visit(Overloaded{
                 [&](const OrderPlaced& e) {
                   state.id = e.order_id;
                   state.user_id = e.user_id;
                   state.items = e.items;
                   state.total = e.total;
                 },
                 [&](const OrderPaid& e) { state.payment_reference = e.payment_reference; },
                 [&](const OrderShipped& e) {
                   state.carrier = e.carrier;
                   state.tracking_number = e.tracking_number;
                 },
                 [&](const OrderDelivered&) {},
                 [&](const OrderCancelled& e) { state.cancel_reason = e.reason; },
             },
             event);
  state.status = status_after(event);
  ++state.version;
  return state;
}

Order fold(std::span<const Event> events, Order state) {
  for (const Event& event : events) state = evolve(std::move(state), event);
  return state;
}

}  // namespace order::domain
