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
  // projection_lag_* are the orders read model's, as before the second read model.
  return HttpResponse{200,
                      "application/json",
                      {},
                      R"({"status":"ready","database":"ok","projection_lag_events":)" +
                          std::to_string(orders.events) + R"(,"projection_lag_seconds":)" +
                          std::to_string(orders.seconds) + R"(,"read_models":{"orders":)" +
                          lag_of(orders) + R"(,"product_sales":)" + lag_of(product_sales) + "}}"};
}

HttpResponse metrics_text(Services&, Context&) {
  return HttpResponse{200, "text/plain; version=0.0.4", {}, metrics().render()};
}

HttpResponse openapi_yaml(Services&, Context&) {
  return HttpResponse{200, "application/yaml", {}, openapi_document()};
}

}  // namespace order::http
