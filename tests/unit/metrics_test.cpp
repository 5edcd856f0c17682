// The /metrics text: Prometheus' histogram layout, base units, bounded labels, process metrics,
// and the commit-to-acknowledgement clock of the publisher.
#include "adapters/metrics.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace {

using order::Histogram;
using std::chrono::system_clock;

bool contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

order::projections::LogEvent event_at(std::int64_t position, std::string recorded_at) {
  order::projections::LogEvent event;
  event.position = {7, position};
  event.recorded_at = std::move(recorded_at);
  return event;
}

system_clock::time_point utc(int hour, int minute, double second) {
  // 2026-11-25T00:00:00Z
  const auto midnight = system_clock::time_point(std::chrono::seconds(1795564800));
  return midnight + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::duration_cast<system_clock::duration>(std::chrono::duration<double>(second));
}

}  // namespace

TEST_CASE("a histogram counts each observation in its bucket and every bucket above it") {
  Histogram histogram({0.1, 1, 10});
  histogram.observe(0.05);
  histogram.observe(0.1);  // a bound is inclusive: le="0.1"
  histogram.observe(5);
  histogram.observe(50);
  const auto snapshot = histogram.snapshot();
  CHECK(snapshot.cumulative == std::vector<std::uint64_t>{2, 2, 3, 4});
  CHECK(snapshot.sum == doctest::Approx(55.15));
}

TEST_CASE("request durations are histograms labelled by route template and status class") {
  order::Metrics metrics;
  metrics.observe_request("GET", "/orders/{id}", 200, 0.003);
  metrics.observe_request("GET", "/orders/{id}", 404, 0.0004);
  metrics.observe_request("GET", "/orders/{id}", 204, 20);
  const std::string text = metrics.render();
  CHECK(contains(text, "# TYPE order_http_request_duration_seconds histogram\n"));
  CHECK(contains(text,
                 "order_http_request_duration_seconds_bucket{method=\"GET\",route=\"/orders/{id}\","
                 "status_class=\"2xx\",le=\"0.005\"} 1\n"));
  CHECK(contains(text,
                 "order_http_request_duration_seconds_bucket{method=\"GET\",route=\"/orders/{id}\","
                 "status_class=\"2xx\",le=\"+Inf\"} 2\n"));
  CHECK(contains(text,
                 "order_http_request_duration_seconds_count{method=\"GET\",route=\"/orders/{id}\","
                 "status_class=\"2xx\"} 2\n"));
  CHECK(contains(text,
                 "order_http_request_duration_seconds_bucket{method=\"GET\",route=\"/orders/{id}\","
                 "status_class=\"4xx\",le=\"0.0005\"} 1\n"));
  CHECK(contains(text, "order_http_responses_total{class=\"2xx\"} 2\n"));
  CHECK(contains(text, "order_http_responses_total{class=\"4xx\"} 1\n"));
}

TEST_CASE("request series stay bounded whatever routes callers name") {
  order::Metrics metrics;
  for (int i = 0; i < 1000; ++i) {
    metrics.observe_request("GET", "/route/" + std::to_string(i), 200, 0.001);
  }
  const std::string text = metrics.render();
  std::size_t series = 0;
  for (std::size_t at = 0;
       (at = text.find("order_http_request_duration_seconds_count{", at)) != std::string::npos;
       ++at) {
    ++series;
  }
  CHECK(series <= 257);
  CHECK(contains(text, "route=\"other\""));
}

TEST_CASE("every metric has help and type, counters end in _total, units are base units") {
  const std::string text = order::metrics().render();
  for (const char* name :
       {"order_http_request_duration_seconds", "order_append_duration_seconds",
        "order_append_batch_size", "order_publication_latency_seconds",
        "order_projection_latency_seconds", "order_log_lines_dropped_total",
        "order_rebuild_events_replayed", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"}) {
    CAPTURE(name);
    CHECK(contains(text, std::string("# HELP ") + name + " "));
    CHECK(contains(text, std::string("# TYPE ") + name + " "));
  }
  CHECK_FALSE(contains(text, "_ms"));
}

TEST_CASE("the process metrics are read from /proc and plausible") {
  const std::string text = order::render_process_metrics();
  auto value = [&](const std::string& name) {
    const auto at = text.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return std::stod(text.substr(at + name.size() + 2));
  };
  CHECK(value("process_resident_memory_bytes") > 1024 * 1024);
  CHECK(value("process_open_fds") >= 3);
  const double now = std::chrono::duration<double>(system_clock::now().time_since_epoch()).count();
  CHECK(value("process_start_time_seconds") <= now + 1);
  CHECK(value("process_start_time_seconds") > now - 24 * 3600);
  CHECK(value("process_cpu_seconds_total") >= 0);
}

TEST_CASE("an event's age is read from the log's RFC 3339 recorded time") {
  const auto now = utc(10, 0, 1.5);
  CHECK(*order::seconds_since_recorded("2026-11-25T10:00:00.250000Z", now) ==
        doctest::Approx(1.25));
  CHECK(*order::seconds_since_recorded("2026-11-25T09:59:01Z", now) == doctest::Approx(60.5));
  // Across a leap day and the turn of a year: the calendar arithmetic agrees with the epoch.
  const auto epoch = [](long long seconds) {
    return system_clock::time_point(std::chrono::seconds(seconds));
  };
  CHECK(*order::seconds_since_recorded("2024-02-29T12:00:00Z", epoch(1709208000)) == 0);
  CHECK(*order::seconds_since_recorded("2024-03-01T00:00:00Z", epoch(1709251200)) == 0);
  CHECK(*order::seconds_since_recorded("1999-12-31T23:59:59Z", epoch(946684800)) == 1);
  CHECK_FALSE(order::seconds_since_recorded("2026-13-01T00:00:00Z", now));
  CHECK_FALSE(order::seconds_since_recorded("yesterday", now));
  CHECK_FALSE(order::seconds_since_recorded("2026-11-25 10:00:00Z", now));
}

TEST_CASE("publication latency is observed per event once Kafka acknowledged its batch") {
  order::PublicationClock clock;
  Histogram latency(order::latency_seconds_buckets());
  const auto now = system_clock::now();
  const auto stamp = [&](double seconds_ago) {
    const auto at = std::chrono::time_point_cast<std::chrono::seconds>(
        now - std::chrono::duration_cast<system_clock::duration>(
                  std::chrono::duration<double>(seconds_ago)));
    const std::time_t t = system_clock::to_time_t(at);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(text);
  };
  clock.sent({event_at(1, stamp(3)), event_at(2, stamp(3)), event_at(3, stamp(3))});
  CHECK(clock.pending() == 3);
  clock.acknowledged({7, 2}, latency, now);  // the batch up to position 2
  CHECK(clock.pending() == 1);
  auto snapshot = latency.snapshot();
  CHECK(snapshot.cumulative.back() == 2);
  CHECK(snapshot.sum / 2 == doctest::Approx(3.5).epsilon(0.2));
  // A batch sent again after a failure is observed once, at its acknowledgement.
  clock.sent({event_at(3, stamp(3))});
  CHECK(clock.pending() == 1);
  clock.acknowledged({7, 3}, latency, now);
  CHECK(latency.snapshot().cumulative.back() == 3);
  CHECK(clock.pending() == 0);
  // A new leader resumes from an older checkpoint: what it sends again replaces what was pending.
  clock.sent({event_at(4, stamp(1)), event_at(5, stamp(1)), event_at(6, stamp(1))});
  clock.sent({event_at(5, stamp(1)), event_at(6, stamp(1))});
  CHECK(clock.pending() == 3);
  clock.acknowledged({7, 6}, latency, now);
  CHECK(latency.snapshot().cumulative.back() == 6);
}

TEST_CASE("each shard of a subscription has its own leader, lag and events, labelled shard") {
  order::Metrics metrics;
  auto& shard = metrics.shard("publisher", 2, 6);
  shard.leader = 1;
  shard.lag_events = 42;
  shard.events_total += 7;
  CHECK(&metrics.shard("publisher", 2, 6) == &shard);  // the same series, not a second one
  metrics.shard("publisher", 3, 6);
  const auto text = metrics.render();
  CHECK(contains(text, "# TYPE order_subscription_shard_leader gauge"));
  CHECK(contains(text,
                 "order_subscription_shard_leader{subscription=\"publisher\",shard=\"2\","
                 "shards=\"6\"} 1\n"));
  CHECK(contains(text,
                 "order_subscription_shard_leader{subscription=\"publisher\",shard=\"3\","
                 "shards=\"6\"} 0\n"));
  CHECK(contains(text,
                 "order_subscription_shard_lag_events{subscription=\"publisher\",shard=\"2\","
                 "shards=\"6\"} 42\n"));
  CHECK(contains(text,
                 "order_subscription_shard_events_total{subscription=\"publisher\",shard=\"2\","
                 "shards=\"6\"} 7\n"));
  CHECK(metrics.shards().size() == 2);
  CHECK(metrics.refusals().empty());
  metrics.refuse("projector", "laid out in 4 shards");
  REQUIRE(metrics.refusals().size() == 1);
  CHECK(metrics.refusals().front().second == "laid out in 4 shards");
}
