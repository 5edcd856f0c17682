// The service's subscriptions, assembled: the engine of projections/ over a PostgreSQL
// subscription store, with a sink (the Kafka publisher, a read model) and an observer that
// reports to the log and /metrics. The one place where those adapters meet.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adapters/kafka/producer.hpp"
#include "adapters/metrics.hpp"
#include "adapters/pg/membership.hpp"
#include "adapters/pg/subscription_store.hpp"
#include "projections/subscription.hpp"

namespace order::runtime {

// Logs a change of leadership and each failure; keeps the subscription's metrics, and the
// shard's when it is one of several.
class MetricsObserver final : public projections::SubscriptionObserver {
 public:
  MetricsObserver(std::string component, SubscriberMetrics& metrics, ShardMetrics* shard = nullptr)
      : component_(std::move(component)), metrics_(metrics), shard_(shard) {}
  void leading(bool is_leader) override;
  void handled(std::size_t events, const projections::SubscriptionLag& lag) override;
  void failed(const std::string& error) override;

 private:
  std::string component_;
  SubscriberMetrics& metrics_;
  ShardMetrics* shard_;
  bool leading_ = false;
};

// How the shards of a subscription are shared among the running instances: each instance leads
// the shards projections::assigned_shards() gives it, gives back those it no longer gets, and
// takes a shard nobody has held for `orphan_grace` (a dead instance's, before the members agree
// it is gone); a shard taken that way is kept at least `keep_orphan`.
struct Sharing {
  pg::Membership* membership = nullptr;  // none: lead whenever the lock is free
  int subscription_number = 0;           // its place among the service's subscriptions
  std::chrono::milliseconds orphan_grace{1'500};
  std::chrono::milliseconds keep_orphan{5'000};
};

class ShardPolicy final : public projections::LeadPolicy {
 public:
  ShardPolicy(Sharing sharing, projections::Shard shard, long long lock_key)
      : sharing_(sharing), shard_(shard), lock_key_(lock_key) {}
  bool should_lead(bool leading) override;

 private:
  bool assigned() const;
  Sharing sharing_;
  projections::Shard shard_;
  long long lock_key_;
  std::chrono::steady_clock::time_point free_since_{};
  std::chrono::steady_clock::time_point taken_at_{};
  bool taken_as_orphan_ = false;
};

// One shard of a subscription with all its parts; start() runs it on its own thread, step()
// once.
class RunningSubscription {
 public:
  RunningSubscription(const pg::ConnectionOptions& database, const std::string& name,
                      std::unique_ptr<projections::Sink> sink, const std::string& component,
                      SubscriberMetrics& metrics, projections::SubscriptionOptions options,
                      projections::Shard shard = {}, const Sharing& sharing = {});
  void start() { engine_.start(); }
  void stop() { engine_.stop(); }
  void request_stop() { engine_.request_stop(); }
  std::size_t step() { return engine_.step(); }
  pg::SubscriptionStore& store() { return store_; }

 private:
  pg::SubscriptionStore store_;
  std::unique_ptr<projections::Sink> sink_;
  MetricsObserver observer_;
  std::unique_ptr<ShardPolicy> policy_;
  projections::Subscription engine_;
};

// A subscription as N shards, each its own engine, checkpoint and lock. start() refuses it (a
// log line, and /readyz not ready) when its checkpoints are laid out in another number of
// shards, rather than start its shards from the log's start.
class ShardedSubscription {
 public:
  using MakeShard = std::function<std::unique_ptr<RunningSubscription>(projections::Shard)>;
  ShardedSubscription(pg::ConnectionOptions database, std::string name, std::string component,
                      int shards, const MakeShard& make);
  // False when refused.
  bool start();
  void stop();
  const std::string& name() const { return name_; }

 private:
  pg::ConnectionOptions database_;
  std::string name_;
  std::string component_;
  int count_;
  std::vector<std::unique_ptr<RunningSubscription>> shards_;
};

struct PublicationOptions {
  pg::ConnectionOptions database;
  kafka::ProducerOptions producer;
  std::string subscription = "kafka-publisher";
  int batch_size = 5000;
  std::chrono::milliseconds ack_timeout{30'000};
  std::chrono::milliseconds retry_backoff{500};
  // After a batch that reached the end of the log, how long to let appends gather before reading
  // again (SubscriptionOptions::gather). Such a batch is sent at once (see the producer's
  // linger.ms). Reading again at once, the publisher sent 10,644 and 10,904 batches during the
  // bench's 20 s ingest load against 7,133 with 1 ms, each a round of read, send and checkpoint
  // on 2 saturated cores, and record-to-Kafka p99 was 28.4 and 33.5 ms against 21.8 (p50 1.9
  // and 1.8 against 3.2).
  std::chrono::milliseconds gather{1};
  projections::Shard shard;
  Sharing sharing;
  projections::Precedence* precedence = nullptr;  // the publisher comes first in it
};
// The log to Kafka, at least once, in order per order id.
std::unique_ptr<RunningSubscription> publication(const PublicationOptions& options);

struct ProjectionOptions {
  pg::ConnectionOptions database;
  int batch_size = 2000;
  projections::Shard shard;
  Sharing sharing;
  projections::Precedence* precedence = nullptr;  // the read model gives way in it
};
// The log into the `orders` read model, exactly once in effect.
std::unique_ptr<RunningSubscription> orders_projection(const ProjectionOptions& options);
// The log into the `product_sales` read model, exactly once in effect.
std::unique_ptr<RunningSubscription> product_sales_projection(const ProjectionOptions& options);

// Each of the three, in `shards` shards shared through `membership`.
std::unique_ptr<ShardedSubscription> sharded_publication(PublicationOptions options, int shards,
                                                         pg::Membership& membership);
std::unique_ptr<ShardedSubscription> sharded_orders_projection(ProjectionOptions options,
                                                               int shards,
                                                               pg::Membership& membership);
std::unique_ptr<ShardedSubscription> sharded_product_sales_projection(ProjectionOptions options,
                                                                      int shards,
                                                                      pg::Membership& membership);

}  // namespace order::runtime
