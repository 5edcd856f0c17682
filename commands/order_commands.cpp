// load → decide → append, with bounded optimistic retries.
#include "commands/order_commands.hpp"

namespace order::commands {
namespace {

domain::OrderId target_of(const domain::Command& command) {
  return std::visit([](const auto& c) { return c.order_id; }, command);
}

Accepted accept(LoadedStream stream, AppendResult appended) {
  for (auto& recorded : appended.recorded) stream.events.push_back(std::move(recorded));
  domain::Order state = fold_stream(stream);
  return Accepted{std::move(state), std::move(stream)};
}

}  // namespace

domain::Order fold_stream(const LoadedStream& stream) {
  domain::Order state = domain::initial_state();
  for (const auto& recorded : stream.events) state = domain::evolve(std::move(state), recorded.event);
  return state;
}

Outcome OrderCommands::place(domain::UserId user_id, std::vector<domain::LineItem> items,
                             const EventMetadata& metadata) {
  if (auto errors = domain::validate_new_order(user_id, items); !errors.empty()) {
    return domain::DomainError{domain::ErrorCode::validation_failed,
                               "the order breaks the order's rules", std::move(errors)};
  }
  const domain::OrderId id = store_.next_order_id();
  const domain::Decision decision =
      domain::decide(domain::PlaceOrder{id, user_id, std::move(items)}, domain::initial_state());
  if (!decision.ok()) return decision.error();
  AppendResult appended = store_.append(id, 0, decision.events(), metadata);
  if (appended.conflict) {
    // A fresh id from the sequence cannot already have a stream; if it does, the log holds
    // streams the sequence did not hand out, and that is a broken invariant, not a retry.
    throw std::logic_error("order id " + std::to_string(id) + " from the sequence already exists");
  }
  return accept(LoadedStream{}, std::move(appended));
}

Outcome OrderCommands::execute(const domain::Command& command,
                               std::optional<std::int64_t> expected_version,
                               const EventMetadata& metadata) {
  const domain::OrderId id = target_of(command);
  for (int attempt = 1;; ++attempt) {
    LoadedStream stream = store_.load(id);
    if (expected_version && stream.version() != *expected_version && stream.version() > 0) {
      return VersionMismatch{*expected_version, stream.version()};
    }
    const domain::Order state = fold_stream(stream);
    const domain::Decision decision = domain::decide(command, state);
    if (!decision.ok()) return decision.error();
    AppendResult appended = store_.append(id, stream.version(), decision.events(), metadata);
    if (!appended.conflict) return accept(std::move(stream), std::move(appended));
    if (expected_version) {
      // Someone wrote between our load and our append: the version the client named is gone.
      return VersionMismatch{*expected_version, store_.load(id).version()};
    }
    if (attempt == kMaxAttempts) {
      throw StoreUnavailable("order " + std::to_string(id) + " stayed contended for " +
                             std::to_string(kMaxAttempts) + " attempts");
    }
    ++conflicts_retried_;
  }
}

}  // namespace order::commands
