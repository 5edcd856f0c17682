// Assembling the service's subscriptions from their parts.
#include "tools/subscriptions.hpp"

#include <algorithm>
#include <pqxx/pqxx>

#include "adapters/kafka/publisher.hpp"
#include "adapters/log.hpp"
#include "adapters/pg/orders_table.hpp"
#include "adapters/pg/product_sales_table.hpp"
#include "adapters/pg/read_model_sink.hpp"
#include "projections/shard_assignment.hpp"

namespace order::runtime {

void MetricsObserver::leading(bool is_leader) {
  if (is_leader == leading_) return;
  leading_ = is_leader;
  if (shard_ == nullptr) {
    if (is_leader) log::info(component_, "leading");
    metrics_.leader = is_leader ? 1 : 0;
    return;
  }
  // With shards, the subscription's gauge counts the shards this process leads.
  log::info(component_, is_leader ? "leading" : "not leading",
            {{"shard", std::to_string(shard_->index) + "/" + std::to_string(shard_->count)}});
  metrics_.leader += is_leader ? 1 : -1;
  shard_->leader = is_leader ? 1 : 0;
}

void MetricsObserver::handled(std::size_t events, const projections::SubscriptionLag& lag) {
  metrics_.events_total += static_cast<std::int64_t>(events);
  if (shard_ == nullptr) {
    metrics_.lag_events = lag.events;
    metrics_.lag_seconds = lag.seconds;
    return;
  }
  shard_->events_total += static_cast<std::int64_t>(events);
  shard_->lag_events = lag.events;
  shard_->lag_seconds = lag.seconds;
  // The subscription's lag: the most behind of the shards this process leads.
  std::int64_t most_events = lag.events;
  double most_seconds = lag.seconds;
  for (const auto& other : metrics().shards()) {
    if (other.subscription != shard_->subscription || other.leader == 0) continue;
    most_events = std::max(most_events, other.lag_events);
    most_seconds = std::max(most_seconds, other.lag_seconds);
  }
  metrics_.lag_events = most_events;
  metrics_.lag_seconds = most_seconds;
}

void MetricsObserver::failed(const std::string& error) {
  ++metrics_.failures_total;
  log::warn(component_, "failed; resuming from the checkpoint", {{"error", error}});
}

bool ShardPolicy::assigned() const {
  const auto mine =
      projections::assigned_shards(sharing_.membership->members(), sharing_.membership->instance(),
                                   sharing_.subscription_number, shard_.count);
  return std::find(mine.begin(), mine.end(), shard_.index) != mine.end();
}

bool ShardPolicy::should_lead(bool leading) {
  if (sharing_.membership == nullptr) return true;
  const auto now = std::chrono::steady_clock::now();
  if (assigned()) {
    taken_as_orphan_ = false;
    return true;
  }
  if (leading) {
    // Not ours: give it back, unless we took it as an orphan a moment ago and the members may
    // not yet agree that its owner is gone.
    return taken_as_orphan_ && now - taken_at_ < sharing_.keep_orphan;
  }
  // Someone else's: take it only when nobody has held it for the grace period.
  if (sharing_.membership->lock_held(lock_key_)) {
    free_since_ = {};
    return false;
  }
  if (free_since_ == std::chrono::steady_clock::time_point{}) free_since_ = now;
  if (now - free_since_ < sharing_.orphan_grace) return false;
  free_since_ = {};
  taken_as_orphan_ = true;
  taken_at_ = now;
  return true;
}

namespace {

// A component's name as its metrics spell it: product-sales → product_sales.
std::string metric_name(std::string component) {
  std::replace(component.begin(), component.end(), '-', '_');
  return component;
}

}  // namespace

RunningSubscription::RunningSubscription(const pg::ConnectionOptions& database,
                                         const std::string& name,
                                         std::unique_ptr<projections::Sink> sink,
                                         const std::string& component, SubscriberMetrics& metrics,
                                         projections::SubscriptionOptions options,
                                         projections::Shard shard, const Sharing& sharing)
    : store_(database, name, shard,
             sharing.membership != nullptr ? sharing.membership->instance() : std::string()),
      sink_(std::move(sink)),
      observer_(component, metrics,
                sharing.membership != nullptr
                    ? &order::metrics().shard(metric_name(component), shard.index, shard.count)
                    : nullptr),
      policy_(sharing.membership != nullptr
                  ? std::make_unique<ShardPolicy>(
                        sharing, shard, pg::subscription_lock_key(pg::checkpoint_name(name, shard)))
                  : nullptr),
      engine_(options, store_, store_, store_, *sink_, observer_, policy_.get()) {}

ShardedSubscription::ShardedSubscription(pg::ConnectionOptions database, std::string name,
                                         std::string component, int shards, const MakeShard& make)
    : database_(std::move(database)),
      name_(std::move(name)),
      component_(std::move(component)),
      count_(shards) {
  for (int index = 0; index < shards; ++index) shards_.push_back(make({index, shards}));
}

bool ShardedSubscription::start() {
  std::string conflict;
  try {
    auto connection = pg::connect(database_);
    {
      pqxx::read_transaction tx(*connection);
      conflict = pg::layout_conflict(tx, name_, count_);
    }
    if (conflict.empty()) pg::ensure_shard_statistics(*connection, count_);
  } catch (const std::exception& error) {
    // The database is down: the shards' own loads check again when it is back.
    log::warn(component_, "could not check the checkpoints' layout", {{"error", error.what()}});
  }
  if (!conflict.empty()) {
    log::error(component_, "not started: " + conflict);
    metrics().refuse(component_, conflict);
    return false;
  }
  for (auto& shard : shards_) shard->start();
  return true;
}

void ShardedSubscription::stop() {
  for (auto& shard : shards_) shard->request_stop();  // one grace for all of them
  for (auto& shard : shards_) shard->stop();
}

namespace {

projections::SubscriptionOptions engine_options(
    int batch_size, const Sharing& sharing,
    std::chrono::milliseconds retry_backoff = projections::SubscriptionOptions{}.retry_backoff) {
  projections::SubscriptionOptions options{.batch_size = batch_size,
                                           .retry_backoff = retry_backoff};
  // Shared shards change hands: look for work to take often.
  if (sharing.membership != nullptr) options.lead_retry = std::chrono::milliseconds(250);
  return options;
}

projections::SubscriptionOptions with_precedence(projections::SubscriptionOptions options,
                                                 projections::Precedence* first,
                                                 projections::Precedence* after, int shards) {
  options.comes_first = first;
  options.comes_after = after;
  // A read model that gives way moves one batch per pace, whatever its number of shards: each of
  // its N shards waits N paces.
  options.pace *= std::max(1, shards);
  return options;
}

}  // namespace

std::unique_ptr<RunningSubscription> publication(const PublicationOptions& options) {
  auto engine =
      with_precedence(engine_options(options.batch_size, options.sharing, options.retry_backoff),
                      options.precedence, nullptr, options.shard.count);
  engine.gather = options.gather;
  auto running = std::make_unique<RunningSubscription>(
      options.database, options.subscription,
      std::make_unique<kafka::Publisher>(options.producer, options.ack_timeout), "publisher",
      metrics().publisher, engine, options.shard, options.sharing);
  running->store().time_reads(metrics().publish_read_seconds);
  return running;
}

namespace {

std::unique_ptr<RunningSubscription> read_model(const ProjectionOptions& options,
                                                const pg::TableProjection& projection,
                                                const std::string& component,
                                                SubscriberMetrics& metrics,
                                                pg::ReadModelSink::Committed committed = {}) {
  auto engine = with_precedence(engine_options(options.batch_size, options.sharing), nullptr,
                                options.precedence, options.shard.count);
  // Under a steady load, a read model that reads at once handles a few events per batch, each
  // batch a transaction with its checkpoint: gathering for 100 ms cut PostgreSQL's CPU per order
  // placed by a quarter (0.34 → 0.26 s per 1,000 orders, wrk 32 connections), for lists that are
  // eventually consistent anyway.
  engine.gather = std::chrono::milliseconds(100);
  return std::make_unique<RunningSubscription>(
      options.database, projection.subscription(),
      std::make_unique<pg::ReadModelSink>(
          options.database, projection, std::move(committed),
          pg::checkpoint_name(projection.subscription(), options.shard)),
      component, metrics, engine, options.shard, options.sharing);
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

// The service's subscriptions, numbered for the shard assignment.
enum SubscriptionNumber { kPublication = 0, kOrders = 1, kProductSales = 2 };

std::unique_ptr<ShardedSubscription> sharded_publication(PublicationOptions options, int shards,
                                                         pg::Membership& membership) {
  options.sharing.membership = &membership;
  options.sharing.subscription_number = kPublication;
  return std::make_unique<ShardedSubscription>(options.database, options.subscription, "publisher",
                                               shards, [options](projections::Shard shard) {
                                                 auto mine = options;
                                                 mine.shard = shard;
                                                 return publication(mine);
                                               });
}

std::unique_ptr<ShardedSubscription> sharded_orders_projection(ProjectionOptions options,
                                                               int shards,
                                                               pg::Membership& membership) {
  options.sharing.membership = &membership;
  options.sharing.subscription_number = kOrders;
  return std::make_unique<ShardedSubscription>(options.database, pg::kOrdersProjector, "projector",
                                               shards, [options](projections::Shard shard) {
                                                 auto mine = options;
                                                 mine.shard = shard;
                                                 return orders_projection(mine);
                                               });
}

std::unique_ptr<ShardedSubscription> sharded_product_sales_projection(ProjectionOptions options,
                                                                      int shards,
                                                                      pg::Membership& membership) {
  options.sharing.membership = &membership;
  options.sharing.subscription_number = kProductSales;
  return std::make_unique<ShardedSubscription>(options.database, pg::kProductSalesProjector,
                                               "product-sales", shards,
                                               [options](projections::Shard shard) {
                                                 auto mine = options;
                                                 mine.shard = shard;
                                                 return product_sales_projection(mine);
                                               });
}

}  // namespace order::runtime
