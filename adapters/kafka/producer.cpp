// The producer: configuration, produce with headers, delivery reports, fatal errors.
#include "adapters/kafka/producer.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/kafka/client_log.hpp"

namespace order::kafka {

struct Producer::Batch::State {
  std::atomic<std::size_t> pending{0};
  std::atomic<std::size_t> acknowledged{0};
  std::atomic<int> first_error{RD_KAFKA_RESP_ERR_NO_ERROR};
};

Producer::Batch::Batch() : state(std::make_unique<State>()) {}
Producer::Batch::~Batch() = default;

namespace {

using BatchState = Producer::Batch::State;

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void*) {
  auto* batch = static_cast<BatchState*>(message->_private);
  if (batch == nullptr) return;
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++batch->acknowledged;
  } else {
    int expected = RD_KAFKA_RESP_ERR_NO_ERROR;
    batch->first_error.compare_exchange_strong(expected, message->err);
  }
  --batch->pending;
}

}  // namespace

struct Producer::Impl {
  ProducerOptions options;
  rd_kafka_t* handle = nullptr;
  rd_kafka_topic_t* topic = nullptr;
  // Batches abandoned with messages still unreported: their delivery reports may still come,
  // and must find their state alive. Freed once nothing is pending. A batch may start on one
  // thread while an older one finishes on another (librdkafka's calls are thread-safe; this is
  // the producer's own state they share).
  std::mutex abandoned_mutex;
  std::vector<std::unique_ptr<BatchState>> abandoned;

  ~Impl() {
    if (topic != nullptr) rd_kafka_topic_destroy(topic);
    if (handle != nullptr) {
      // Anything still queued belongs to a batch we are abandoning: its events are sent again
      // from the checkpoint, so purge instead of waiting for it.
      rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(handle, 1000);
      rd_kafka_destroy(handle);
    }
  }

  std::string fatal_error() {
    char reason[512];
    const rd_kafka_resp_err_t code = rd_kafka_fatal_error(handle, reason, sizeof reason);
    return code == RD_KAFKA_RESP_ERR_NO_ERROR ? std::string() : std::string(reason);
  }
};

namespace {

// The settings guarantee 4 rests on: an idempotent producer whose every message all in-sync
// replicas hold before it counts as sent. An override may not weaken them (nor make the
// producer transactional, which changes how it sends).
constexpr std::string_view kGuaranteed[] = {"enable.idempotence", "acks", "request.required.acks",
                                            "transactional.id"};

// Sets each of `settings` on `conf`; the first refusal's reason, or "".
std::string set_all(rd_kafka_conf_t* conf, const std::map<std::string, std::string>& settings) {
  char reason[512];
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), reason, sizeof reason) !=
        RD_KAFKA_CONF_OK) {
      return "kafka setting " + key + ": " + reason;
    }
  }
  return "";
}

}  // namespace

std::string refused_overrides(const std::map<std::string, std::string>& overrides) {
  for (const auto& [key, value] : overrides) {
    if (std::find(std::begin(kGuaranteed), std::end(kGuaranteed), key) != std::end(kGuaranteed)) {
      return "kafka setting " + key +
             " is the service's own: publication is idempotent with acks=all, so that it is "
             "at least once and in order per order id";
    }
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::string refused = set_all(conf, overrides);
  rd_kafka_conf_destroy(conf);
  return refused;
}

Producer::Producer(ProducerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (auto refused = refused_overrides(impl_->options.overrides); !refused.empty()) {
    throw std::runtime_error(refused);
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char reason[512];
  std::map<std::string, std::string> settings = {
      {"bootstrap.servers", impl_->options.brokers},
      {"enable.idempotence", "true"},  // implies acks=all and ordered retries
      {"acks", "all"},
      // A request waits up to 5 ms for more messages, so that a backlog goes in full requests;
      // the publisher has the last batch of a read (the newest events) sent at once instead
      // (finish(…, now)), after letting appends gather for 1 ms (PublicationOptions::gather).
      // Against linger.ms 1 for every batch: tools/bench/ab_drain.py --events 1000000, 3 runs
      // each interleaved, 245,734-252,683 events/s against 228,412-247,266, Kafka's CPU
      // 1.2-1.4 s against 1.4-2.1; the bench's ingest (tools/bench/bench.sh --only ingest, one
      // run each) record-to-Kafka p50 / p99 / p99.9 3.2 / 21.8 / 45.4 ms against 4.0 / 23.5 /
      // 71.4. Earlier, 1 ms had replaced 0 (each message sent at once), whose many small requests
      // the broker acknowledged late in the full bench: p99 179-287 ms in six of seven runs.
      {"linger.ms", "5"},
      // Uncompressed (librdkafka's default), as the seed's producer sent: every consumer that
      // reads its topic today decodes that, and not every one decodes a codec (kafka-python and
      // aiokafka need the lz4 package, kafkajs a codec, kafka-go before v0.4 an import).
      // compression.type=lz4 in KAFKA_CONFIG_FILE is the operator's choice once they all do: a
      // drain about 1.35x as fast in interleaved runs, with less of Kafka's CPU, ingest
      // unchanged (bench/results/2026-11-28.md; README, "Publication").
      {"batch.num.messages", "10000"},
      {"queue.buffering.max.messages", "1000000"},
      {"message.timeout.ms", "30000"},
      {"socket.keepalive.enable", "true"},
      {"log_level", "3"},
  };
  for (const auto& [key, value] : impl_->options.overrides) settings[key] = value;
  if (auto refused = set_all(conf, settings); !refused.empty()) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(refused);
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  log_through_service(conf);
  impl_->handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
  if (impl_->handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("cannot create a kafka producer: ") + reason);
  }
  impl_->topic = rd_kafka_topic_new(impl_->handle, impl_->options.topic.c_str(), nullptr);
}

Producer::~Producer() = default;

std::unique_ptr<Producer::Batch> Producer::start(std::span<const Message> messages,
                                                 std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(impl_->abandoned_mutex);
    std::erase_if(impl_->abandoned, [](const auto& b) { return b->pending.load() == 0; });
  }
  auto started = std::make_unique<Batch>();
  started->timeout = timeout;
  started->deadline = std::chrono::steady_clock::now() + timeout;
  BatchState& batch = *started->state;
  for (const Message& message : messages) {
    for (;;) {
      // On success librdkafka owns the header list; on failure it stays ours to destroy.
      rd_kafka_headers_t* headers = rd_kafka_headers_new(message.headers.size());
      for (std::size_t i = 0; i < message.headers.size(); ++i) {
        const auto [name, value] = message.headers[i];
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
      }
      ++batch.pending;
      const rd_kafka_resp_err_t error = rd_kafka_producev(
          impl_->handle, RD_KAFKA_V_RKT(impl_->topic),
          RD_KAFKA_V_KEY(message.key.data(), message.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(message.value.data()), message.value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
          RD_KAFKA_V_OPAQUE(&batch), RD_KAFKA_V_END);
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(headers);
      if (error == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      --batch.pending;
      if (error != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
          std::chrono::steady_clock::now() > started->deadline) {
        started->error = rd_kafka_err2str(error);
        break;
      }
      rd_kafka_poll(impl_->handle, 10);  // the queue is full: let deliveries drain it
    }
    if (!started->error.empty()) break;
  }
  rd_kafka_poll(impl_->handle, 0);  // serve the delivery reports already in
  return started;
}

BatchResult Producer::finish(std::unique_ptr<Batch> started, bool now,
                             const std::atomic<Clock::rep>* give_up_at) {
  BatchState& batch = *started->state;
  BatchResult result;
  result.error = started->error;
  const auto given_up = [&](Clock::time_point at) {
    return give_up_at != nullptr && at.time_since_epoch().count() >= give_up_at->load();
  };
  for (auto at = Clock::now(); batch.pending.load() > 0 && at < started->deadline && !given_up(at);
       at = Clock::now()) {
    // rd_kafka_flush serves delivery reports as rd_kafka_poll does and, while it runs, has the
    // broker threads send without waiting out linger.ms. It waits for every message queued, a
    // batch started after this one too: in 1 ms slices, so that this batch's end is seen at once.
    if (now) {
      rd_kafka_flush(impl_->handle, 1);
    } else {
      rd_kafka_poll(impl_->handle, 5);
    }
    if (batch.first_error.load() != RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (!impl_->fatal_error().empty()) break;
  }
  if (const std::string fatal = impl_->fatal_error(); !fatal.empty()) {
    result.fatal = true;
    result.error = fatal;
  } else if (const int code = batch.first_error.load(); code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    result.error = rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(code));
  } else if (batch.pending.load() > 0 && result.error.empty()) {
    result.error = given_up(Clock::now()) ? "not acknowledged when the publisher was asked to stop"
                                          : "not acknowledged within " +
                                                std::to_string(started->timeout.count()) + " ms";
  }
  result.acknowledged = batch.acknowledged.load();
  if (batch.pending.load() > 0) {
    // Give up on what is queued: the caller sends the batch again from its checkpoint.
    rd_kafka_purge(impl_->handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(impl_->handle, 0);
    std::lock_guard lock(impl_->abandoned_mutex);
    impl_->abandoned.push_back(std::move(started->state));
  }
  return result;
}

}  // namespace order::kafka
