// The HTTP API as a function of plain requests: routing, the request's metadata, and the edge
// where every exception becomes a problem response. One Api per worker thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "adapters/http/http_types.hpp"
#include "commands/event_store.hpp"
#include "commands/order_commands.hpp"
#include "projections/order_read_model.hpp"
#include "projections/product_sales_report.hpp"

namespace order::http {

struct ApiOptions {
  std::size_t max_body_bytes = std::size_t{64} * 1024;
  int idempotency_ttl_seconds = 86'400;
  double max_projection_lag_seconds = 30;  // /readyz fails beyond it
  // Not empty: every request but the probes, the metrics and the contract needs a Bearer HS256
  // JWT signed with it, and the token's `sub` is the actor recorded in the events.
  std::string jwt_secret;
};

// What endpoints reach: this worker thread's event store, the command handler over it, and the
// read model's queries.
struct Services {
  commands::EventStore& store;
  projections::OrderReadModel& read_model;
  projections::ProductSalesReport& sales_report;
  commands::OrderCommands commands;
  std::function<bool()> database_ready;
  ApiOptions options;
};

// One request as the endpoints see it.
struct Context {
  const HttpRequest& request;
  domain::OrderId order_id = 0;  // from the path, where the route has one
  // The matched route's method and template (static strings), for the metrics' labels.
  std::string_view route_method = "other";
  std::string_view route = "unmatched";
  commands::EventMetadata metadata;
};

// An answer that waits for a stream's load: `finish` makes the response once the stream is
// loaded, on whichever thread the load completes, so it may use nothing of the worker's.
struct Deferred {
  domain::OrderId stream = 0;
  commands::StreamBound bound;
  std::function<HttpResponse(const commands::LoadedStream&)> finish;
};

// What an endpoint answers: a response now, or a load to make it from.
using Answer = std::variant<HttpResponse, Deferred>;

class Api {
 public:
  Api(commands::EventStore& store, projections::OrderReadModel& read_model,
      projections::ProductSalesReport& sales_report, std::function<bool()> database_ready,
      ApiOptions options = {});

  // Never throws: every failure is a problem response, handed to `respond` once, before this
  // returns or, when the answer waits for a load the store gathers with others, on the thread
  // that completes it. Echoes X-Request-Id.
  void handle(const HttpRequest& request, Respond respond);
  // The same, waiting for the answer.
  HttpResponse handle(const HttpRequest& request);
  // Whether `request` goes to an endpoint that may answer Deferred (a read of one order): with a
  // store whose load_then never blocks, handle() then never blocks either.
  static bool defers(const HttpRequest& request);

 private:
  Answer route(Context& context);
  // A 401 when authentication is on and the request does not carry a valid token; otherwise
  // nothing, and the token's subject is the request's actor.
  std::optional<HttpResponse> authenticate(Context& context) const;
  Services services_;
};

// Endpoint groups (orders_endpoints.cpp, audit_endpoints.cpp, health_endpoints.cpp,
// report_endpoints.cpp, audit_page.cpp).
HttpResponse place_order(Services& services, Context& context);
Answer get_order(Services& services, Context& context);
HttpResponse list_orders(Services& services, Context& context);
HttpResponse pay_order(Services& services, Context& context);
HttpResponse ship_order(Services& services, Context& context);
HttpResponse deliver_order(Services& services, Context& context);
HttpResponse cancel_order(Services& services, Context& context);
HttpResponse order_events(Services& services, Context& context);
HttpResponse healthz(Services& services, Context& context);
HttpResponse readyz(Services& services, Context& context);
HttpResponse metrics_text(Services& services, Context& context);
HttpResponse openapi_yaml(Services& services, Context& context);
HttpResponse product_sales_report(Services& services, Context& context);
HttpResponse audit_page(Services& services, Context& context);
HttpResponse audit_script(Services& services, Context& context);
HttpResponse audit_style(Services& services, Context& context);

}  // namespace order::http
