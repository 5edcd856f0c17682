// Assembling the service's subscriptions from their parts.
#include "tools/subscriptions.hpp"

#include "adapters/kafka/publisher.hpp"
#include "adapters/log.hpp"
#include "adapters/pg/orders_table.hpp"
#include "adapters/pg/product_sales_table.hpp"
#include "adapters/pg/read_model_sink.hpp"

namespace order::runtime {

void MetricsObserver::leading(bool is_leader) {
  if (is_leader && metrics_.leader.load() == 0) log::info(component_, "leading");
  metrics_.leader = is_leader ? 1 : 0;
}

void MetricsObserver::handled(std::size_t events, const projections::SubscriptionLag& lag) {
  metrics_.events_total += static_cast<std::int64_t>(events);
  metrics_.lag_events = lag.events;
  metrics_.lag_seconds = lag.seconds;
}

void MetricsObserver::failed(const std::string& error) {
  ++metrics_.failures_total;
  log::warn(component_, "failed; resuming from the checkpoint", {{"error", error}});
}

RunningSubscription::RunningSubscription(const pg::ConnectionOptions& database,
                                         const std::string& name,
                                         std::unique_ptr<projections::Sink> sink,
                                         std::string component, SubscriberMetrics& metrics,
                                         projections::SubscriptionOptions options)
    : store_(database, name),
      sink_(std::move(sink)),
      observer_(std::move(component), metrics),
      engine_(options, store_, store_, store_, *sink_, observer_) {}

std::unique_ptr<RunningSubscription> publication(const PublicationOptions& options) {
  return std::make_unique<RunningSubscription>(
      options.database, options.subscription,
      std::make_unique<kafka::Publisher>(options.producer, options.ack_timeout), "publisher",
      metrics().publisher,
      projections::SubscriptionOptions{.batch_size = options.batch_size,
                                       .retry_backoff = options.retry_backoff,
                                       .comes_first = options.precedence});
}

namespace {

std::unique_ptr<RunningSubscription> read_model(const ProjectionOptions& options,
                                                const pg::TableProjection& projection,
                                                std::string component, SubscriberMetrics& metrics,
                                                pg::ReadModelSink::Committed committed = {}) {
  return std::make_unique<RunningSubscription>(
      options.database, projection.subscription(),
      std::make_unique<pg::ReadModelSink>(options.database, projection, std::move(committed)),
      std::move(component), metrics,
      projections::SubscriptionOptions{.batch_size = options.batch_size,
                                       .comes_after = options.precedence});
}

}  // namespace

std::unique_ptr<RunningSubscription> orders_projection(const ProjectionOptions& options) {
  static const pg::OrdersTable kOrders;
  // The commit-to-read-model latency is the orders read model's, the one the API lists from.
  return read_model(options, kOrders, "projector", metrics().projector,
                    [](const auto& events) { metrics().projected(events); });
}

std::unique_ptr<RunningSubscription> product_sales_projection(const ProjectionOptions& options) {
  static const pg::ProductSalesTable kProductSales;
  return read_model(options, kProductSales, "product-sales", metrics().product_sales);
}

}  // namespace order::runtime
