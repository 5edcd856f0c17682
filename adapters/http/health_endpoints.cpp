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
  const auto lag = services.read_model.projection_lag();
  if (lag.seconds > services.options.max_projection_lag_seconds) {
    return problem(Problem::unavailable,
                   "the orders read model is " + std::to_string(lag.seconds) +
                       " s behind the log (limit " +
                       std::to_string(services.options.max_projection_lag_seconds) + " s)");
  }
  return HttpResponse{200, "application/json", {},
                      R"({"status":"ready","database":"ok","projection_lag_events":)" +
                          std::to_string(lag.events) + R"(,"projection_lag_seconds":)" +
                          std::to_string(lag.seconds) + "}"};
}

HttpResponse metrics_text(Services&, Context&) {
  return HttpResponse{200, "text/plain; version=0.0.4", {}, metrics().render()};
}

HttpResponse openapi_yaml(Services&, Context&) {
  return HttpResponse{200, "application/yaml", {}, openapi_document()};
}

}  // namespace order::http
