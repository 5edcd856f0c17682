// The service's subscriptions, assembled: the engine of projections/ over a PostgreSQL
// subscription store, with a sink (the Kafka publisher, a read model) and an observer that
// reports to the log and /metrics. The one place where those adapters meet.
#pragma once

#include <memory>
#include <string>

#include "adapters/kafka/producer.hpp"
#include "adapters/metrics.hpp"
#include "adapters/pg/subscription_store.hpp"
#include "projections/subscription.hpp"

namespace order::runtime {

// Logs a change of leadership and each failure; keeps the subscription's metrics.
class MetricsObserver final : public projections::SubscriptionObserver {
 public:
  MetricsObserver(std::string component, SubscriberMetrics& metrics)
      : component_(std::move(component)), metrics_(metrics) {}
  void leading(bool is_leader) override;
  void handled(std::size_t events, const projections::SubscriptionLag& lag) override;
  void failed(const std::string& error) override;

 private:
  std::string component_;
  SubscriberMetrics& metrics_;
};

// One subscription with all its parts; start() runs it on its own thread, step() once.
class RunningSubscription {
 public:
  RunningSubscription(const pg::ConnectionOptions& database, const std::string& name,
                      std::unique_ptr<projections::Sink> sink, std::string component,
                      SubscriberMetrics& metrics, projections::SubscriptionOptions options);
  void start() { engine_.start(); }
  void stop() { engine_.stop(); }
  std::size_t step() { return engine_.step(); }
  pg::SubscriptionStore& store() { return store_; }

 private:
  pg::SubscriptionStore store_;
  std::unique_ptr<projections::Sink> sink_;
  MetricsObserver observer_;
  projections::Subscription engine_;
};

struct PublicationOptions {
  pg::ConnectionOptions database;
  kafka::ProducerOptions producer;
  std::string subscription = "kafka-publisher";
  int batch_size = 5000;
  std::chrono::milliseconds ack_timeout{30'000};
  std::chrono::milliseconds retry_backoff{500};
  projections::Precedence* precedence = nullptr;  // the publisher comes first in it
};
// The log to Kafka, at least once, in order per order id.
std::unique_ptr<RunningSubscription> publication(const PublicationOptions& options);

struct ProjectionOptions {
  pg::ConnectionOptions database;
  int batch_size = 2000;
  projections::Precedence* precedence = nullptr;  // the read model gives way in it
};
// The log into the `orders` read model, exactly once in effect.
std::unique_ptr<RunningSubscription> orders_projection(const ProjectionOptions& options);
// The log into the `product_sales` read model, exactly once in effect.
std::unique_ptr<RunningSubscription> product_sales_projection(const ProjectionOptions& options);

}  // namespace order::runtime
