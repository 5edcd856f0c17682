// The Kafka publisher as a sink of the subscription engine: each batch of the log goes to the
// topic as the public event contract says, by an idempotent producer (acks=all). The engine
// advances the checkpoint only past a batch Kafka acknowledged in full (guarantee 4: at least
// once, in order per order id).
#pragma once

#include <chrono>
#include <deque>
#include <memory>

#include "adapters/kafka/producer.hpp"
#include "adapters/metrics.hpp"
#include "projections/subscription.hpp"

namespace order::kafka {

class Publisher final : public projections::Sink {
 public:
  explicit Publisher(ProducerOptions producer,
                     std::chrono::milliseconds ack_timeout = std::chrono::seconds(30));
  ~Publisher() override;

  // Queues the batch's messages; the next batch is read and queued while this one is
  // acknowledged, so reading never waits for acks and acks never wait for reading. A failure
  // repeats at most the two batches in flight, with the same event ids.
  void start(const projections::Batch& batch) override;
  // Waits for the oldest batch's acknowledgements; throws if any message failed.
  void finish(const projections::Batch& batch) override;
  void abandon() override;
  std::size_t max_in_flight() const override { return 2; }

 private:
  ProducerOptions options_;
  std::chrono::milliseconds ack_timeout_;
  std::unique_ptr<Producer> producer_;
  std::deque<std::unique_ptr<Producer::Batch>> sent_;  // oldest first
  // This sink's own: a shard's positions interleave with the other shards' in the log.
  PublicationClock clock_;
};

}  // namespace order::kafka
