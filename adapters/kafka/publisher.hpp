// Publishes every event of the log to Kafka, in order per order id, at least once: the checkpoint
// advances only past a batch that Kafka acknowledged in full (guarantee 4 of DESIGN.md).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "adapters/kafka/producer.hpp"
#include "adapters/pg/log_reader.hpp"

namespace order::kafka {

struct PublisherOptions {
  pg::ConnectionOptions database;
  ProducerOptions producer;
  std::string subscriber = "kafka-publisher";
  int batch_size = 5000;
  std::chrono::milliseconds ack_timeout{30'000};
  std::chrono::milliseconds idle_wait{1'000};   // longest sleep without a notification
  std::chrono::milliseconds retry_backoff{500};  // first pause after a failure; doubles to 10 s
};

class Publisher {
 public:
  explicit Publisher(PublisherOptions options);
  ~Publisher();  // stops and joins

  void start();
  // Stops after the batch in flight (acknowledged or abandoned); the checkpoint stays honest.
  void stop();

  // One pass: lead if possible; read a batch and send it, read and send the next one while the
  // first is being acknowledged, then wait for the first's acks and advance past it. Returns the
  // events published (acknowledged and checkpointed); the next batch stays in flight for the
  // next pass, so reading never waits for acks and acks never wait for reading. After a failure
  // both batches are sent again: repeats are bounded by two batches per failure.
  // Exposed for tests; start() runs it in a loop on its own thread.
  std::size_t publish_once();

 private:
  struct InFlight {
    std::unique_ptr<Producer::Batch> batch;
    projections::LogPosition from;
    projections::LogPosition to;
    std::size_t events = 0;
  };
  std::optional<InFlight> send_after(projections::LogPosition from);
  void abandon_in_flight();
  void run();
  PublisherOptions options_;
  std::unique_ptr<pg::LogReader> reader_;
  std::unique_ptr<Producer> producer_;
  std::optional<InFlight> in_flight_;  // sent, not yet acknowledged; from the checkpoint on
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::chrono::steady_clock::time_point next_lead_attempt_{};
};

}  // namespace order::kafka
