// The per-event CPU work of the publisher and the projectors, without a database or a broker:
// decoding the log's event data, and building the public message of an event. Prints events/s
// for each, best of a few rounds; `tools/bench/bench.sh` reports it beside the end-to-end rows.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "adapters/json/event_data.hpp"
#include "adapters/json/public_event.hpp"

namespace {

using namespace order;

// A log like the bench's: order.created with the seed's items, and the status changes after it.
std::vector<projections::LogEvent> sample_log(int orders) {
  std::vector<projections::LogEvent> log;
  for (int i = 1; i <= orders; ++i) {
    const domain::OrderRef ref{i, 7, domain::Money{3997}, domain::OrderStatus::pending};
    const domain::Event events[] = {
        domain::OrderPlaced{i, 7, {{101, 2, {999}}, {202, 1, {1999}}}, domain::Money{3997}},
        domain::OrderPaid{ref, "pay-" + std::to_string(i), domain::Money{3997}},
        domain::OrderCancelled{{i, 7, domain::Money{3997}, domain::OrderStatus::paid}, "changed"},
    };
    std::int64_t version = 0;
    for (const auto& event : events) {
      projections::LogEvent e;
      e.position = {static_cast<std::uint64_t>(1000 + log.size()),
                    static_cast<std::int64_t>(log.size() + 1)};
      e.stream_id = i;
      e.stream_version = ++version;
      e.event_id = "0b6f3c1e-8a2d-4e5f-9c7b-" + std::to_string(100000000000 + log.size());
      e.type = std::string(domain::event_type(event));
      e.recorded_at = "2026-11-26T01:02:03.456789Z";
      e.data_json = json::encode_event_data(event);
      e.correlation_id = "5d1c6a0e-2b7f-4c3a-8e9d-0f1a2b3c4d5e";
      e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      log.push_back(std::move(e));
    }
  }
  return log;
}

template <class Work>
double events_per_second(const std::vector<projections::LogEvent>& log, Work&& work) {
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    std::size_t sink = 0;
    for (const auto& event : log) sink += work(event);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (sink == 0) std::puts("");  // keeps the work observable
    best = std::max(best, static_cast<double>(log.size()) / took.count());
  }
  return best;
}

}  // namespace

int main() {
  const auto log = sample_log(100'000);
  const double decode = events_per_second(log, [](const projections::LogEvent& e) {
    return json::decode_event(e.type, e.data_json).has_value() ? std::size_t{1} : 0;
  });
  // As the publisher builds them: each into a message whose buffers the one before left.
  json::PublicMessage message;
  const double publish = events_per_second(log, [&message](const projections::LogEvent& e) {
    json::write_public_message(e, message);
    return message.value.size();
  });
  std::printf("{\"decode_event_per_second\": %.0f, \"public_message_per_second\": %.0f}\n", decode,
              publish);
}
