// Liveness and readiness.
#include "adapters/http/api.hpp"
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
  return HttpResponse{200, "application/json", {}, R"({"status":"ready","database":"ok"})"};
}

HttpResponse metrics_text(Services&, Context&) {
  return HttpResponse{200, "text/plain; version=0.0.4", {}, metrics().render()};
}

}  // namespace order::http
