// The subscription loop: lead, read, start, finish, advance; on failure abandon what is in
// flight and resume from the checkpoint.
#include "projections/subscription.hpp"

#include <algorithm>

namespace order::projections {

Subscription::Subscription(SubscriptionOptions options, LogSource& source,
                           CheckpointStore& checkpoints, LeaderLock& lock, Sink& sink,
                           SubscriptionObserver& observer, LeadPolicy* policy)
    : options_(options),
      source_(source),
      checkpoints_(checkpoints),
      lock_(lock),
      sink_(sink),
      observer_(observer),
      policy_(policy) {}

Subscription::~Subscription() {
  stop();
  set_behind(false);  // step() may have been driven without start()
}

void Subscription::start() {
  stopping_ = false;
  sink_.stop_by(std::chrono::steady_clock::time_point::max());
  thread_ = std::thread([this] { run(); });
}

void Subscription::request_stop() {
  if (stopping_.exchange(true) || !thread_.joinable()) return;
  sink_.stop_by(std::chrono::steady_clock::now() + options_.stop_grace);
}

void Subscription::stop() {
  request_stop();
  if (thread_.joinable()) thread_.join();
}

void Subscription::set_behind(bool behind) {
  if (options_.comes_first == nullptr || behind == behind_) return;
  behind_ = behind;
  options_.comes_first->behind_.fetch_add(behind ? 1 : -1, std::memory_order_relaxed);
}

bool Subscription::giving_way() const {
  return options_.comes_after != nullptr && options_.comes_after->first_behind();
}

void Subscription::abandon() {
  sink_.abandon();
  in_flight_.clear();
}

bool Subscription::ensure_leading() {
  if (lock_.held()) {
    if (policy_ == nullptr || policy_->should_lead(true)) return true;
    give_back();
    next_lead_attempt_ = std::chrono::steady_clock::now() + options_.lead_retry;
    return false;
  }
  abandon();
  set_behind(false);
  const auto now = std::chrono::steady_clock::now();
  if (now < next_lead_attempt_) return false;
  next_lead_attempt_ = now + options_.lead_retry;
  if (policy_ != nullptr && !policy_->should_lead(false)) {
    observer_.leading(false);
    return false;
  }
  const bool leading = lock_.try_acquire();
  if (leading) sink_.lead();
  observer_.leading(leading);
  return leading;
}

std::size_t Subscription::step() {
  if (!ensure_leading()) return 0;
  try {
    // Read ahead while earlier batches are being handled; the first batch in flight always
    // starts at the checkpoint.
    while (in_flight_.size() < std::max<std::size_t>(1, sink_.max_in_flight())) {
      const LogPosition from = in_flight_.empty() ? checkpoints_.load() : in_flight_.back().to;
      auto events = source_.read_after(from, options_.batch_size);
      read_to_end_ = events.size() < static_cast<std::size_t>(options_.batch_size);
      if (events.empty()) break;
      const LogPosition to = events.back().position;
      in_flight_.push_back(Batch{from, to, std::move(events), read_to_end_});
      sink_.start(in_flight_.back());
    }
    if (in_flight_.empty()) {
      set_behind(false);
      observer_.handled(0, {});
      return 0;
    }
    const Batch& oldest = in_flight_.front();
    sink_.finish(oldest);
    if (!sink_.writes_checkpoint() && !checkpoints_.advance(oldest.from, oldest.to)) {
      throw CheckpointMoved("the checkpoint moved under this leader");
    }
    const std::size_t handled = oldest.events.size();
    const LogPosition reached = oldest.to;
    in_flight_.pop_front();
    const auto now = std::chrono::steady_clock::now();
    SubscriptionLag lag;  // caught up, as of the last read
    if (!read_to_end_ || now - last_lag_ >= options_.lag_interval) {
      lag = source_.lag(reached);
      last_lag_ = now;
    }
    set_behind(lag.events >= options_.backlog);
    observer_.handled(handled, lag);
    return handled;
  } catch (const CheckpointMoved& error) {
    // Another process advanced our checkpoint: we are not the leader we thought we were.
    abandon();
    set_behind(false);
    lock_.release();
    next_lead_attempt_ = {};  // lead again at once: most often a rebuild handed it a new checkpoint
    observer_.leading(false);
    observer_.failed(error.what());
    throw;
  } catch (const std::exception& error) {
    // A failing first subscription does not hold the others back: it is not using the CPU.
    abandon();
    set_behind(false);
    observer_.failed(error.what());
    report_lag_from_checkpoint();
    throw;
  }
}

void Subscription::report_lag_from_checkpoint() noexcept {
  // Not while stopping, nor after the source lost its connection: the question would wait for a
  // new one (connect_timeout, with the database cut off) and hold the subscription up, its stop
  // too. The lag is then unknown until the database answers again.
  if (stopping_ || !source_.connected()) return;
  try {
    observer_.handled(0, source_.lag(checkpoints_.load()));
  } catch (const std::exception&) {
    // The database is what failed: the lag is unknown until it answers again.
  }
}

void Subscription::pause(std::chrono::milliseconds duration, bool (Subscription::*still)() const) {
  constexpr auto kSlice = std::chrono::milliseconds(10);
  for (auto slept = std::chrono::milliseconds(0);
       slept < duration && !stopping_ && (still == nullptr || (this->*still)()); slept += kSlice) {
    std::this_thread::sleep_for(std::min(kSlice, duration - slept));
  }
}

void Subscription::run() {
  auto backoff = options_.retry_backoff;
  while (!stopping_) {
    try {
      const std::size_t handled = step();
      backoff = options_.retry_backoff;
      if (handled == 0 && in_flight_.empty() && !stopping_) {
        if (lock_.held()) {
          const bool announced =
              source_.wait_for_appends(recheck_.count() > 0 ? recheck_ : options_.idle_wait);
          if (announced) {
            recheck_ = options_.recheck_first;
          } else if (recheck_.count() > 0) {
            recheck_ *= 2;
            if (recheck_ > options_.recheck_limit) recheck_ = std::chrono::milliseconds(0);
          }
          pause(options_.gather);
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
      } else if (handled > 0 && giving_way()) {
        pause(options_.pace, &Subscription::giving_way);
      } else if (handled > 0 && read_to_end_ && in_flight_.empty()) {
        pause(options_.gather);
      }
    } catch (const std::exception&) {  // step() reported it
      pause(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
  // Stopping: what is in flight is finished and checkpointed if it can be, so the next leader
  // does not handle it again; otherwise it is abandoned and handled again from the checkpoint.
  give_back();
}

void Subscription::give_back() {
  try {
    while (!in_flight_.empty() && lock_.held()) {
      const Batch& oldest = in_flight_.front();
      sink_.finish(oldest);
      if (!sink_.writes_checkpoint()) checkpoints_.advance(oldest.from, oldest.to);
      in_flight_.pop_front();
    }
  } catch (const std::exception& error) {
    observer_.failed(std::string("the batches in flight stay for the next leader: ") +
                     error.what());
  }
  abandon();
  set_behind(false);
  lock_.release();
  observer_.leading(false);
}

}  // namespace order::projections
