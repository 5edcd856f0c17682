// librdkafka's C API wrapped once, with RAII: an idempotent producer (acks=all) that sends a
// batch and reports whether Kafka acknowledged every message of it.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "adapters/json/public_event.hpp"

namespace order::kafka {

using Message = json::PublicMessage;

struct ProducerOptions {
  std::string brokers;
  std::string topic = "orders";
  // librdkafka properties over the producer's own, but the guarantees' (refused_property).
  std::map<std::string, std::string> overrides;
};

// Why `overrides` cannot configure the producer, or "" when they can: a property librdkafka
// does not know or a value it refuses (its own words), or one that publication's guarantees fix
// (enable.idempotence, acks: at least once and in order per order id). Needs no broker.
std::string refused_overrides(const std::map<std::string, std::string>& overrides);

struct BatchResult {
  std::size_t acknowledged = 0;
  std::string error;   // empty when every message was acknowledged
  bool fatal = false;  // the producer is unusable: recreate it
};

class Producer {
 public:
  explicit Producer(ProducerOptions options);  // throws std::runtime_error on bad configuration
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Sends the messages in order and waits (up to `timeout`) until Kafka acknowledged each one or
  // one failed, in two halves, so a batch can be on its way while the next is prepared: start()
  // queues the messages (waiting only while librdkafka's queue is full) and finish() waits for
  // their acknowledgements. Batches finish in the order they started. Within a partition the
  // idempotent producer keeps order across its retries.
  class Batch {
   public:
    struct State;  // its delivery counts, which its messages' delivery reports update
    Batch();
    ~Batch();

   private:
    friend class Producer;
    std::unique_ptr<State> state;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds timeout{0};
    std::string error;  // met while queueing
  };
  std::unique_ptr<Batch> start(std::span<const Message> messages,
                               std::chrono::milliseconds timeout);
  // `now`: have librdkafka send what it holds at once instead of after linger.ms, for a batch
  // whose events wait on nothing else to fill a request. `give_up_at`, when given, may bring the
  // batch's deadline forward from another thread while this waits (a stop): a steady_clock
  // time's count since its epoch.
  using Clock = std::chrono::steady_clock;
  BatchResult finish(std::unique_ptr<Batch> batch, bool now = false,
                     const std::atomic<Clock::rep>* give_up_at = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace order::kafka
