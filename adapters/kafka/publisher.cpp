// The publisher loop: lead, read, send, read and send the next, wait for the first's acks,
// advance; on any failure, recreate the producer and resume from the checkpoint.
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

// Reads the batch after `from` and starts sending it; nothing when the log has nothing more.
std::optional<Publisher::InFlight> Publisher::send_after(projections::LogPosition from) {
  const auto events = reader_->read_after(from, options_.batch_size);
  if (events.empty()) return std::nullopt;
  metrics().publication_sent(events);
  std::vector<Message> messages;
  messages.reserve(events.size());
  for (const auto& event : events) messages.push_back(message_of(event));
  return InFlight{producer_->start(messages, options_.ack_timeout), from, events.back().position,
                  events.size()};
}

// Drops what was sent and not acknowledged: the producer first (it purges the messages and
// serves their last delivery reports, which still point at the batch), then the batch. The
// checkpoint did not move past it, so it is sent again.
void Publisher::abandon_in_flight() {
  producer_.reset();
  in_flight_.reset();
}

std::size_t Publisher::publish_once() {
  auto& m = metrics().publisher;
  if (!reader_) reader_ = std::make_unique<pg::LogReader>(options_.database, options_.subscriber);
  if (!reader_->is_leader()) {
    abandon_in_flight();
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

  try {
    if (!in_flight_) in_flight_ = send_after(reader_->checkpoint());
    if (!in_flight_) {
      m.lag_events = 0;
      m.lag_seconds = 0;
      return 0;
    }
    // The next batch goes out while this one is acknowledged.
    std::optional<InFlight> next = send_after(in_flight_->to);
    InFlight current = std::move(*in_flight_);
    in_flight_ = std::move(next);

    const BatchResult result = producer_->finish(std::move(current.batch));
    if (!result.error.empty()) {
      // Recreate the producer: after a fatal error it is unusable (librdkafka 2.0.2 raises a
      // spurious fatal "sequence desynchronization" after broker disconnects), and after any
      // other failure a fresh one resumes cleanly. The checkpoint did not move: this batch and
      // the next are sent again, with the same event ids.
      abandon_in_flight();
      ++m.failures_total;
      throw std::runtime_error(std::string(result.fatal ? "fatal: " : "") + result.error);
    }
    if (!reader_->advance_checkpoint(current.from, current.to)) {
      // Someone else moved our checkpoint: we are not the leader we thought we were.
      abandon_in_flight();
      reader_->reset();
      m.leader = 0;
      throw std::runtime_error("the checkpoint moved under us; leading again");
    }
    m.events_total += static_cast<std::int64_t>(current.events);
    metrics().publication_acknowledged(current.to);
    const auto lag = reader_->lag(current.to);
    m.lag_events = lag.events_behind;
    m.lag_seconds = lag.seconds_behind;
    return current.events;
  } catch (...) {
    // A database error while reading or advancing: what is in flight goes again from the
    // checkpoint, by a fresh producer.
    abandon_in_flight();
    throw;
  }
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
  // Stopping: the batch in flight is acknowledged and checkpointed if it can be, so a restart
  // does not send it again; otherwise it is dropped and sent again from the checkpoint.
  try {
    while (in_flight_ && reader_ && reader_->is_leader()) {
      InFlight last = std::move(*in_flight_);
      in_flight_.reset();
      if (producer_->finish(std::move(last.batch)).error.empty()) {
        reader_->advance_checkpoint(last.from, last.to);
      }
    }
  } catch (const std::exception& error) {
    log::warn("publisher", "the last batch in flight stays for the next start",
              {{"error", error.what()}});
  }
  abandon_in_flight();
  reader_.reset();
  metrics().publisher.leader = 0;
}

}  // namespace order::kafka
