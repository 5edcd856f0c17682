// The Kafka publisher as a sink of the subscription engine: each batch of the log goes to the
// topic as the public event contract says, by an idempotent producer (acks=all). The engine
// advances the checkpoint only past a batch Kafka acknowledged in full (guarantee 4: at least
// once, in order per order id).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "adapters/kafka/producer.hpp"
#include "adapters/metrics.hpp"
#include "projections/subscription.hpp"

namespace order::kafka {

class Publisher final : public projections::Sink {
 public:
  explicit Publisher(ProducerOptions producer,
                     std::chrono::milliseconds ack_timeout = std::chrono::seconds(30));
  ~Publisher() override;
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Hands the batch to the encoder thread, which turns its events into messages and queues them
  // for Kafka while the engine reads the next batch: reading, encoding and acknowledging overlap.
  // A failure repeats at most the batches in flight, with the same event ids.
  void start(const projections::Batch& batch) override;
  // Waits for the oldest batch's acknowledgements; throws if any message failed.
  void finish(const projections::Batch& batch) override;
  void abandon() override;
  // Connects the producer: the broker's metadata and the idempotent producer's id take a few
  // hundred milliseconds, which the first events published would otherwise wait out.
  void lead() override;
  // A finish() waiting for acknowledgements gives up at `by`.
  void stop_by(std::chrono::steady_clock::time_point by) override;
  std::size_t max_in_flight() const override { return 2; }

 private:
  // A started batch: the engine keeps the batch itself alive until it is finished or abandoned.
  struct Slot {
    const projections::Batch* batch = nullptr;
    std::unique_ptr<Producer::Batch> sent;  // set by the encoder
    std::exception_ptr error;               // or this
    bool encoded = false;
  };
  void encode_loop();

  ProducerOptions options_;
  std::chrono::milliseconds ack_timeout_;
  // Used by both threads (librdkafka's calls are thread-safe); made and dropped only while the
  // encoder has nothing to do.
  std::unique_ptr<Producer> producer_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<Slot>> started_;  // oldest first, until finished
  std::deque<std::shared_ptr<Slot>> waiting_;  // not yet taken by the encoder
  bool encoding_ = false;                      // the encoder works on one, outside the lock
  bool stopping_ = false;
  std::atomic<Producer::Clock::rep> give_up_at_{
      Producer::Clock::time_point::max().time_since_epoch().count()};  // stop_by
  // This sink's own: a shard's positions interleave with the other shards' in the log.
  PublicationClock clock_;
  std::thread encoder_;  // last: it starts once everything it uses exists
};

}  // namespace order::kafka
