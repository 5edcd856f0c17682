// The publisher loop: lead, read, send, wait for every ack, advance; on any failure, recreate the
// producer and resume from the checkpoint.
#include "adapters/kafka/publisher.hpp"

#include "adapters/log.hpp"
#include "adapters/metrics.hpp"

namespace order::kafka {

Publisher::Publisher(PublisherOptions options) : options_(std::move(options)) {}

Publisher::~Publisher() { stop(); }

void Publisher::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Publisher::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

std::size_t Publisher::publish_once() {
  auto& m = metrics().publisher;
  if (!reader_) reader_ = std::make_unique<pg::LogReader>(options_.database, options_.subscriber);
  if (!reader_->is_leader()) {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_lead_attempt_) return 0;
    next_lead_attempt_ = now + std::chrono::seconds(1);
    if (!reader_->try_lead()) {
      m.leader = 0;
      return 0;
    }
    m.leader = 1;
    log::info("publisher", "leading publication");
  }
  if (!producer_) producer_ = std::make_unique<Producer>(options_.producer);

  const projections::LogPosition from = reader_->checkpoint();
  const auto events = reader_->read_after(from, options_.batch_size);
  if (events.empty()) {
    m.lag_events = 0;
    m.lag_seconds = 0;
    return 0;
  }
  std::vector<Message> messages;
  messages.reserve(events.size());
  for (const auto& event : events) messages.push_back(message_of(event));

  const BatchResult result = producer_->send(messages, options_.ack_timeout);
  if (!result.error.empty()) {
    // Recreate the producer: after a fatal error it is unusable (librdkafka 2.0.2 raises a
    // spurious fatal "sequence desynchronization" after broker disconnects), and after any other
    // failure a fresh one resumes cleanly. The checkpoint did not move: the whole batch is sent
    // again, so duplicates are bounded by one batch and carry the same event ids.
    producer_.reset();
    ++m.failures_total;
    throw std::runtime_error(std::string(result.fatal ? "fatal: " : "") + result.error);
  }
  if (!reader_->advance_checkpoint(from, events.back().position)) {
    // Someone else moved our checkpoint: we are not the leader we thought we were.
    reader_->reset();
    m.leader = 0;
    throw std::runtime_error("the checkpoint moved under us; leading again");
  }
  m.events_total += static_cast<std::int64_t>(events.size());
  const auto lag = reader_->lag(events.back().position);
  m.lag_events = lag.events_behind;
  m.lag_seconds = lag.seconds_behind;
  return events.size();
}

void Publisher::run() {
  auto backoff = options_.retry_backoff;
  while (!stopping_) {
    try {
      const std::size_t published = publish_once();
      backoff = options_.retry_backoff;
      if (published == 0 && !stopping_) {
        if (reader_ && reader_->is_leader()) {
          reader_->wait_for_appends(options_.idle_wait);
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
      }
    } catch (const std::exception& error) {
      log::warn("publisher", "publication failed; resuming from the checkpoint",
                {{"error", error.what()}});
      if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) reader_.reset();
      for (auto slept = std::chrono::milliseconds(0); slept < backoff && !stopping_;
           slept += std::chrono::milliseconds(100)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
    }
  }
  producer_.reset();
  reader_.reset();
  metrics().publisher.leader = 0;
}

}  // namespace order::kafka
