// load → decide → append, with bounded optimistic retries and idempotent replays.
#include "commands/order_commands.hpp"

#include <future>
#include <memory>

namespace order::commands {
namespace {

// What a client is told when the store fails: never the store's own error text, which may name
// hosts, tables or queries.
constexpr const char* kUnavailable = "the database is unavailable; retry later";

domain::OrderId target_of(const domain::Command& command) {
  return std::visit([](const auto& c) { return c.order_id; }, command);
}

std::string_view name_of(const domain::Command& command) {
  static constexpr std::string_view kNames[] = {"place", "pay", "ship", "deliver", "cancel"};
  return kNames[command.index()];
}

Result accept(LoadedStream stream, AppendResult appended) {
  for (auto& recorded : appended.recorded) stream.events.push_back(std::move(recorded));
  domain::Order state = fold_stream(stream);
  return Result{{}, Accepted{std::move(state), std::move(stream), false}};
}

Result refused(Status status) { return Result{std::move(status), {}}; }

std::optional<IdempotencyClaim> claim_of(const std::optional<Idempotency>& idempotency,
                                         std::string_view command) {
  if (!idempotency) return std::nullopt;
  return IdempotencyClaim{idempotency->key, idempotency->fingerprint, std::string(command),
                          idempotency->ttl_seconds};
}

// What a new order's create_then came to, as place() answers it: a key taken is not resolved
// here (only place() has a key to recall).
Result placed(CreateOutcome outcome) {
  if (!outcome.decision.ok()) return refused(Status::refused(outcome.decision.error()));
  if (outcome.appended.conflict()) {
    // A fresh id from the sequence cannot already have a stream; if it does, the log holds
    // streams the sequence did not hand out, and that is a broken invariant, not a retry.
    throw std::logic_error("order id " + std::to_string(outcome.id) +
                           " from the sequence already exists");
  }
  return accept(LoadedStream{}, std::move(outcome.appended));
}

// The decision of a new order once its id is known: pure, so the store may run it anywhere.
EventStore::DecideNew place_decision(domain::UserId user_id, std::vector<domain::LineItem> items) {
  return [user_id, items = std::move(items)](domain::OrderId id) {
    return domain::decide(domain::PlaceOrder{id, user_id, items}, domain::initial_state());
  };
}

std::optional<std::vector<domain::FieldError>> broken_rules(
    domain::UserId user_id, const std::vector<domain::LineItem>& items) {
  auto errors = domain::validate_new_order(user_id, items);
  if (errors.empty()) return std::nullopt;
  return errors;
}

Result refused_order(std::vector<domain::FieldError> errors) {
  return refused(Status::refused(domain::DomainError{domain::ErrorCode::validation_failed,
                                                     "the order breaks the order's rules",
                                                     std::move(errors)}));
}

}  // namespace

domain::Order fold_stream(const LoadedStream& stream) {
  domain::Order state = domain::initial_state();
  for (const auto& recorded : stream.events)
    state = domain::evolve(std::move(state), recorded.event);
  return state;
}

std::optional<Result> OrderCommands::recall(const Idempotency& idempotency) {
  const auto record = store_.find_idempotency_key(idempotency.key);
  if (!record) return std::nullopt;
  if (record->fingerprint != idempotency.fingerprint) {
    return refused(Status::idempotency_key_reused(idempotency.key));
  }
  // The original answer was the stream at the version that request produced.
  LoadedStream stream = store_.load(record->order_id, {.max_version = record->stream_version});
  domain::Order state = fold_stream(stream);
  return Result{{}, Accepted{std::move(state), std::move(stream), true}};
}

Result OrderCommands::place(domain::UserId user_id, std::vector<domain::LineItem> items,
                            const EventMetadata& metadata,
                            const std::optional<Idempotency>& idempotency) {
  try {
    return try_place(user_id, std::move(items), metadata, idempotency);
  } catch (const StoreUnavailable&) {
    return refused(Status::unavailable(kUnavailable));
  }
}

void OrderCommands::place_then(domain::UserId user_id, std::vector<domain::LineItem> items,
                               const EventMetadata& metadata, PlaceDone done) {
  if (auto errors = broken_rules(user_id, items)) {
    done(refused_order(std::move(*errors)), nullptr);
    return;
  }
  store_.create_then(
      place_decision(user_id, std::move(items)), metadata, std::nullopt,
      [done = std::move(done)](CreateOutcome outcome, const std::exception_ptr& error) {
        Result result;
        try {
          if (error) std::rethrow_exception(error);
          result = placed(std::move(outcome));
        } catch (const StoreUnavailable&) {
          result = refused(Status::unavailable(kUnavailable));
        } catch (...) {
          done({}, std::current_exception());
          return;
        }
        done(std::move(result), nullptr);
      });
}

Result OrderCommands::execute(const domain::Command& command,
                              std::optional<std::int64_t> expected_version,
                              const EventMetadata& metadata,
                              const std::optional<Idempotency>& idempotency) {
  try {
    return try_execute(command, expected_version, metadata, idempotency);
  } catch (const StoreUnavailable&) {
    return refused(Status::unavailable(kUnavailable));
  }
}

Result OrderCommands::try_place(domain::UserId user_id, std::vector<domain::LineItem> items,
                                const EventMetadata& metadata,
                                const std::optional<Idempotency>& idempotency) {
  if (idempotency) {
    if (auto earlier = recall(*idempotency)) return std::move(*earlier);
  }
  if (auto errors = broken_rules(user_id, items)) return refused_order(std::move(*errors));
  auto claim = claim_of(idempotency, name_of(domain::PlaceOrder{}));
  // Waits for the store's answer, wherever it is made.
  auto answer = std::make_shared<std::promise<CreateOutcome>>();
  auto outcome = answer->get_future();
  store_.create_then(place_decision(user_id, std::move(items)), metadata, std::move(claim),
                     fulfilling(std::move(answer)));
  CreateOutcome created = outcome.get();
  if (created.decision.ok() && created.appended.key_taken()) {
    // A concurrent request with the same key won the race; answer as it was answered.
    if (auto earlier = recall(*idempotency)) return std::move(*earlier);
    return refused(Status::unavailable(kUnavailable));  // the key expired in between
  }
  return placed(std::move(created));
}

Result OrderCommands::try_execute(const domain::Command& command,
                                  std::optional<std::int64_t> expected_version,
                                  const EventMetadata& metadata,
                                  const std::optional<Idempotency>& idempotency) {
  if (idempotency) {
    if (auto earlier = recall(*idempotency)) return std::move(*earlier);
  }
  const auto claim = claim_of(idempotency, name_of(command));
  const domain::OrderId id = target_of(command);
  for (int attempt = 1;; ++attempt) {
    LoadedStream stream = store_.load(id);
    if (expected_version && stream.version() != *expected_version && stream.version() > 0) {
      return refused(Status::version_mismatch(*expected_version, stream.version()));
    }
    const domain::Order state = fold_stream(stream);
    const domain::Decision decision = domain::decide(command, state);
    if (!decision.ok()) return refused(Status::refused(decision.error()));
    AppendResult appended =
        store_.append(id, stream.version(), decision.events(), metadata, claim ? &*claim : nullptr);
    if (appended.key_taken()) {
      if (auto earlier = recall(*idempotency)) return std::move(*earlier);
      return refused(Status::unavailable(kUnavailable));  // the key expired in between
    }
    if (!appended.conflict()) return accept(std::move(stream), std::move(appended));
    if (expected_version) {
      // Someone wrote between our load and our append: the version the client named is gone.
      return refused(Status::version_mismatch(*expected_version, store_.load(id).version()));
    }
    if (attempt == kMaxAttempts) {
      return refused(Status::unavailable("order " + std::to_string(id) + " stayed contended for " +
                                         std::to_string(kMaxAttempts) + " attempts; retry later"));
    }
    ++conflicts_retried_;
  }
}

}  // namespace order::commands
