// Batches of the log → messages of the public contract → the producer; a failure recreates it.
#include "adapters/kafka/publisher.hpp"

#include <span>
#include <stdexcept>
#include <vector>

#include "adapters/json/public_event.hpp"
#include "adapters/metrics.hpp"

namespace order::kafka {

Publisher::Publisher(ProducerOptions producer, std::chrono::milliseconds ack_timeout)
    : options_(std::move(producer)),
      ack_timeout_(ack_timeout),
      encoder_([this] { encode_loop(); }) {}

// Only a leader's: an instance holds one producer per publication shard it leads, not per shard.
// A producer that cannot be made now is made, and its failure reported, by the first start().
void Publisher::lead() {
  if (producer_) return;
  try {
    producer_ = std::make_unique<Producer>(options_);
  } catch (const std::exception&) {
    producer_.reset();
  }
}

void Publisher::stop_by(std::chrono::steady_clock::time_point by) {
  give_up_at_ = by.time_since_epoch().count();
}

Publisher::~Publisher() {
  abandon();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  encoder_.join();
}

void Publisher::start(const projections::Batch& batch) {
  if (!producer_) producer_ = std::make_unique<Producer>(options_);
  clock_.sent(batch.events);
  auto slot = std::make_shared<Slot>();
  slot->batch = &batch;
  {
    std::lock_guard lock(mutex_);
    started_.push_back(slot);
    waiting_.push_back(std::move(slot));
  }
  changed_.notify_all();
}

void Publisher::encode_loop() {
  std::vector<Message> messages;
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
    if (stopping_) return;
    const auto slot = waiting_.front();
    waiting_.pop_front();
    encoding_ = true;
    lock.unlock();
    std::unique_ptr<Producer::Batch> sent;
    std::exception_ptr error;
    try {
      // The producer copies what it sends: the messages' buffers serve every batch after.
      const auto& events = slot->batch->events;
      if (messages.size() < events.size()) messages.resize(events.size());
      for (std::size_t i = 0; i < events.size(); ++i) {
        json::write_public_message(events[i], messages[i]);
      }
      sent = producer_->start(std::span(messages).first(events.size()), ack_timeout_);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    slot->sent = std::move(sent);
    slot->error = error;
    slot->encoded = true;
    encoding_ = false;
    changed_.notify_all();
  }
}

void Publisher::finish(const projections::Batch& batch) {
  std::shared_ptr<Slot> oldest;
  {
    std::unique_lock lock(mutex_);
    if (started_.empty() || started_.front()->batch != &batch) {
      throw std::logic_error("finish() of a batch that is not the oldest started");
    }
    oldest = started_.front();
    changed_.wait(lock, [&] { return oldest->encoded; });
    started_.pop_front();
  }
  if (oldest->error) std::rethrow_exception(oldest->error);
  const BatchResult result = [&] {
    const ScopedTimer waiting(metrics().publish_wait_seconds);
    // The last batch of a read (the subscription has caught up) goes at once: its events are the
    // newest, and no more are coming to fill a request. A full one leaves the producer to fill
    // requests up to linger.ms, as the next batch is already being read.
    return producer_->finish(std::move(oldest->sent), batch.last, &give_up_at_);
  }();
  if (!result.error.empty()) {
    // The engine abandons what is in flight, which recreates the producer: after a fatal error
    // it is unusable (librdkafka 2.0.2 raises a spurious fatal "sequence desynchronization"
    // after broker disconnects), and after any other failure a fresh one resumes cleanly.
    throw std::runtime_error(std::string(result.fatal ? "fatal: " : "") + result.error);
  }
  clock_.acknowledged(batch.to, metrics().publish_ack_seconds);
}

// The encoder first lets go of every batch; then the producer goes (it purges the messages and
// serves their last delivery reports, which still point at the batches' states), then those.
void Publisher::abandon() {
  std::deque<std::shared_ptr<Slot>> dropped;
  {
    std::unique_lock lock(mutex_);
    waiting_.clear();
    changed_.wait(lock, [&] { return !encoding_; });
    dropped.swap(started_);
  }
  producer_.reset();
  dropped.clear();
}

}  // namespace order::kafka
