// Process-wide metrics, rendered in the Prometheus text format at GET /metrics: counters, gauges
// and histograms with fixed buckets, in base units (seconds, bytes), and the standard process_*
// metrics read from /proc. Every label value comes from a fixed set (route templates, status
// classes), never from a request, so the number of series is bounded.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "projections/event_log.hpp"

namespace order {

// Buckets are upper bounds, ascending; +Inf is implied. observe() is lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1 (+Inf)
  std::atomic<double> sum_{0};
};

// Observes the time from its construction to its destruction, in seconds.
class ScopedTimer {
 public:
  explicit ScopedTimer(Histogram& histogram)
      : histogram_(histogram), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer();
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  Histogram& histogram_;
  std::chrono::steady_clock::time_point start_;
};

// Bucket sets, in seconds or in counts.
std::vector<double> request_seconds_buckets();
std::vector<double> latency_seconds_buckets();  // commit to Kafka, commit to read model
std::vector<double> batch_size_buckets();

struct SubscriberMetrics {
  std::atomic<std::int64_t> events_total{0};    // events handled (published, projected)
  std::atomic<std::int64_t> failures_total{0};  // batches retried after an error
  std::atomic<std::int64_t> lag_events{0};
  std::atomic<double> lag_seconds{0};
  std::atomic<int> leader{0};  // 1 while this process holds the subscriber's lock
};

// One shard of a subscription, as this process sees it (label `shard` in /metrics).
struct ShardMetrics {
  std::string subscription;  // the component: publisher, projector, product_sales
  int index = 0;
  int count = 1;
  std::atomic<int> leader{0};  // 1 while this process holds the shard's lock
  std::atomic<std::int64_t> events_total{0};
  std::atomic<std::int64_t> lag_events{0};
  std::atomic<double> lag_seconds{0};
};

// Seconds since an event's recorded_at (RFC 3339 UTC text, as the log reader gives it); nothing
// when the text is not such a time.
std::optional<double> seconds_since_recorded(
    std::string_view recorded_at,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The commit time of each event a publisher (one per shard) sent to Kafka and not yet
// acknowledged, by its log position, so the acknowledgement of a batch can observe each event's
// commit-to-acknowledgement latency. A publisher sends in log order, which keeps this a queue.
// Bounded: past kMaxPending the oldest are forgotten.
class PublicationClock {
 public:
  static constexpr std::size_t kMaxPending = 100'000;
  void sent(const std::vector<projections::LogEvent>& events);
  // Observes every pending event at or below `to` into `histogram`, and forgets them.
  void acknowledged(const projections::LogPosition& to, Histogram& histogram,
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  std::size_t pending() const;

 private:
  mutable std::mutex mutex_;
  // (position, seconds since the epoch), in log order: the publisher sends in log order.
  std::deque<std::pair<projections::LogPosition, double>> recorded_at_;
};

struct Metrics {
  Metrics();

  std::atomic<std::int64_t> conflicts_retried{0};
  std::atomic<std::int64_t> append_commits{0};  // group commit: statements that committed appends
  std::atomic<std::int64_t> appends_committed{0};        // … and the appends they carried
  std::atomic<std::int64_t> idempotency_keys_purged{0};  // expired keys deleted (KeyPurge)
  SubscriberMetrics publisher;
  SubscriberMetrics projector;
  SubscriberMetrics product_sales;

  Histogram append_seconds;       // one group commit's statement, from start to commit
  Histogram append_batch_size;    // appends per group commit
  Histogram load_batch_size;      // loads per group load statement
  Histogram publish_ack_seconds;  // an event's commit to Kafka's acknowledgement of it
  // The publisher's wait for Kafka to acknowledge a batch it handed over: what of the above is
  // the broker's (and the way to it) rather than the database's or the publisher's.
  Histogram publish_wait_seconds;
  // The publisher's read of a batch out of the log: the database's part of the same.
  Histogram publish_read_seconds;
  Histogram projection_seconds;  // an event's commit to its read-model row's commit

  // Rebuild progress, where a rebuild runs (order-admin rebuild).
  std::atomic<std::int64_t> rebuild_events_replayed{0};
  std::atomic<std::int64_t> rebuild_log_events{0};

  // One answer sent: `method` and `route` are the matched route's (from a fixed table), or
  // "other" and "unmatched"; the status is counted by its class.
  void observe_request(std::string_view method, std::string_view route, int status, double seconds);
  // The publisher's batch was handed to Kafka / acknowledged by it.
  // The orders projector committed these events' rows.
  void projected(const std::vector<projections::LogEvent>& events);

  // The metrics of one shard, created on first use; the address stays valid.
  ShardMetrics& shard(const std::string& subscription, int index, int count);
  // A subscription this process refuses to run (its checkpoints are laid out in another number
  // of shards), with the reason; /readyz reports it.
  void refuse(const std::string& subscription, const std::string& reason);
  struct ShardView {
    std::string subscription;
    int index, count, leader;
    std::int64_t events_total, lag_events;
    double lag_seconds;
  };
  std::vector<ShardView> shards() const;
  std::vector<std::pair<std::string, std::string>> refusals() const;

  std::string render() const;

 private:
  mutable std::mutex shards_mutex_;
  std::map<std::pair<std::string, int>, std::unique_ptr<ShardMetrics>> shards_;
  std::map<std::string, std::string> refusals_;
  static constexpr std::size_t kMaxRequestSeries = 256;
  mutable std::mutex requests_mutex_;
  // (method, route, status class 1–5) → histogram; bounded by kMaxRequestSeries.
  std::map<std::tuple<std::string, std::string, int>, std::unique_ptr<Histogram>> requests_;
  std::array<std::atomic<std::int64_t>, 6> responses_by_class_{};
};

Metrics& metrics();

// The process_* metrics of the running process, from /proc (Prometheus' client conventions).
std::string render_process_metrics();

}  // namespace order
