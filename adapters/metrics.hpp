// Process-wide counters and gauges, rendered in the Prometheus text format at GET /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace order {

struct SubscriberMetrics {
  std::atomic<std::int64_t> events_total{0};    // events handled (published, projected)
  std::atomic<std::int64_t> failures_total{0};  // batches retried after an error
  std::atomic<std::int64_t> lag_events{0};
  std::atomic<double> lag_seconds{0};
  std::atomic<int> leader{0};  // 1 while this process holds the subscriber's lock
};

struct Metrics {
  // Responses by status class: index 1 is 1xx … 5 is 5xx.
  std::array<std::atomic<std::int64_t>, 6> responses_by_class{};
  std::atomic<std::int64_t> conflicts_retried{0};
  std::atomic<std::int64_t> append_commits{0};  // group commit: statements that committed appends
  std::atomic<std::int64_t> appends_committed{0};  // … and the appends they carried
  SubscriberMetrics publisher;
  SubscriberMetrics projector;
  SubscriberMetrics product_sales;

  void count_response(int status) {
    const int index = status / 100;
    if (index >= 1 && index <= 5) ++responses_by_class[static_cast<std::size_t>(index)];
  }
  std::string render() const;
};

Metrics& metrics();

}  // namespace order
