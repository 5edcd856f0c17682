// Batches of the log → messages of the public contract → the producer; a failure recreates it.
#include "adapters/kafka/publisher.hpp"

#include <stdexcept>

#include "adapters/json/public_event.hpp"
#include "adapters/metrics.hpp"

namespace order::kafka {

Publisher::Publisher(ProducerOptions producer, std::chrono::milliseconds ack_timeout)
    : options_(std::move(producer)), ack_timeout_(ack_timeout) {}

Publisher::~Publisher() { abandon(); }

void Publisher::start(const projections::Batch& batch) {
  if (!producer_) producer_ = std::make_unique<Producer>(options_);
  std::vector<Message> messages;
  messages.reserve(batch.events.size());
  for (const auto& event : batch.events) messages.push_back(json::public_message_of(event));
  sent_.push_back(producer_->start(messages, ack_timeout_));
  clock_.sent(batch.events);
}

void Publisher::finish(const projections::Batch& batch) {
  if (sent_.empty()) throw std::logic_error("finish() without a batch started");
  auto oldest = std::move(sent_.front());
  sent_.pop_front();
  const BatchResult result = producer_->finish(std::move(oldest));
  if (!result.error.empty()) {
    // The engine abandons what is in flight, which recreates the producer: after a fatal error
    // it is unusable (librdkafka 2.0.2 raises a spurious fatal "sequence desynchronization"
    // after broker disconnects), and after any other failure a fresh one resumes cleanly.
    throw std::runtime_error(std::string(result.fatal ? "fatal: " : "") + result.error);
  }
  clock_.acknowledged(batch.to, metrics().publish_ack_seconds);
}

// The producer goes first (it purges the messages and serves their last delivery reports, which
// still point at the batches), then the batches.
void Publisher::abandon() {
  producer_.reset();
  sent_.clear();
}

}  // namespace order::kafka
