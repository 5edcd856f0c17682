// The Prometheus text rendering of Metrics.
#include "adapters/metrics.hpp"

#include <fmt/format.h>

namespace order {
namespace {

void render_subscriber(std::string& out, const char* name, const SubscriberMetrics& m) {
  out += fmt::format("# TYPE order_{0}_events_total counter\norder_{0}_events_total {1}\n", name,
                     m.events_total.load());
  out += fmt::format("# TYPE order_{0}_failures_total counter\norder_{0}_failures_total {1}\n",
                     name, m.failures_total.load());
  out += fmt::format("# TYPE order_{0}_lag_events gauge\norder_{0}_lag_events {1}\n", name,
                     m.lag_events.load());
  out += fmt::format("# TYPE order_{0}_lag_seconds gauge\norder_{0}_lag_seconds {1:.3f}\n", name,
                     m.lag_seconds.load());
  out += fmt::format("# TYPE order_{0}_leader gauge\norder_{0}_leader {1}\n", name,
                     m.leader.load());
}

}  // namespace

Metrics& metrics() {
  static Metrics instance;
  return instance;
}

std::string Metrics::render() const {
  std::string out = "# TYPE order_http_responses_total counter\n";
  for (std::size_t i = 1; i <= 5; ++i) {
    out += fmt::format("order_http_responses_total{{class=\"{}xx\"}} {}\n", i,
                       responses_by_class[i].load());
  }
  out += fmt::format(
      "# TYPE order_command_conflicts_retried_total counter\n"
      "order_command_conflicts_retried_total {}\n",
      conflicts_retried.load());
  out += fmt::format(
      "# TYPE order_group_commits_total counter\norder_group_commits_total {}\n"
      "# TYPE order_group_committed_appends_total counter\norder_group_committed_appends_total {}\n",
      append_commits.load(), appends_committed.load());
  render_subscriber(out, "publisher", publisher);
  render_subscriber(out, "projector", projector);
  render_subscriber(out, "product_sales", product_sales);
  return out;
}

}  // namespace order
