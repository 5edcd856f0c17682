// Liveness, readiness, metrics and the OpenAPI document.
#include "adapters/http/api.hpp"
#include "adapters/http/openapi.hpp"
#include "adapters/http/problem.hpp"
#include "adapters/metrics.hpp"

namespace order::http {

HttpResponse healthz(Services&, Context&) {
  return HttpResponse{200, "application/json", {}, R"({"status":"ok"})"};
}

HttpResponse readyz(Services& services, Context&) {
  if (!services.database_ready()) {
    return problem(Problem::unavailable, "the database does not answer");
  }
  // A subscription this instance refused to run (its checkpoints are in another number of
  // shards) needs an operator: not ready, with what to do.
  if (const auto refused = metrics().refusals(); !refused.empty()) {
    return problem(
        Problem::unavailable,
        "the " + refused.front().first + " subscription is not running: " + refused.front().second);
  }
  const auto orders = services.read_model.projection_lag();
  const auto product_sales = services.sales_report.lag();
  for (const auto& [name, lag] :
       {std::pair{"orders", orders}, std::pair{"product_sales", product_sales}}) {
    if (lag.seconds > services.options.max_projection_lag_seconds) {
      return problem(Problem::unavailable,
                     std::string("the ") + name + " read model is " + std::to_string(lag.seconds) +
                         " s behind the log (limit " +
                         std::to_string(services.options.max_projection_lag_seconds) + " s)");
    }
  }
  auto lag_of = [](const projections::ProjectionLag& lag) {
    return R"({"events":)" + std::to_string(lag.events) + R"(,"seconds":)" +
           std::to_string(lag.seconds) + "}";
  };
  // The shards of each subscription as this instance sees them: the ones it leads, with their
  // lag at their last batch.
  std::string shards;
  for (const auto& shard : metrics().shards()) {
    if (!shards.empty()) shards += ",";
    shards += R"({"subscription":")" + shard.subscription + R"(","shard":)" +
              std::to_string(shard.index) + R"(,"shards":)" + std::to_string(shard.count) +
              R"(,"leader":)" + (shard.leader != 0 ? "true" : "false") + R"(,"lag_events":)" +
              std::to_string(shard.lag_events) + R"(,"lag_seconds":)" +
              std::to_string(shard.lag_seconds) + "}";
  }
  // projection_lag_* are the orders read model's, as before the second read model.
  return HttpResponse{200,
                      "application/json",
                      {},
                      R"({"status":"ready","database":"ok","projection_lag_events":)" +
                          std::to_string(orders.events) + R"(,"projection_lag_seconds":)" +
                          std::to_string(orders.seconds) + R"(,"read_models":{"orders":)" +
                          lag_of(orders) + R"(,"product_sales":)" + lag_of(product_sales) +
                          R"(},"shards":[)" + shards + "]}"};
}

HttpResponse metrics_text(Services&, Context&) {
  return HttpResponse{200, "text/plain; version=0.0.4", {}, metrics().render()};
}

HttpResponse openapi_yaml(Services&, Context&) {
  return HttpResponse{200, "application/yaml", {}, openapi_document()};
}

}  // namespace order::http
