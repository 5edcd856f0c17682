// Liveness and readiness.
#include "adapters/http/api.hpp"
#include "adapters/http/problem.hpp"

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

}  // namespace order::http
