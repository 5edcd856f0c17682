// The HTTP API as a function of plain requests: routing, the request's metadata, and the edge
// where every exception becomes a problem response. One Api per worker thread.
#pragma once

#include <exception>
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

// Where a deferred answer goes: the response, or the failure that stands in for it.
using Finish = std::function<void(HttpResponse, std::exception_ptr)>;

// An answer that waits for the store: `start` runs at once, on the thread that routed the
// request, and begins the work (a load, a new order's commit) with that thread's services; the
// work hands its response to `finish` once, here or on whichever thread completes it, so what
// comes after `start` may use nothing of the routing thread's.
struct Deferred {
  std::function<void(Finish)> start;
};

// What an endpoint answers: a response now, or work to make it from.
using Answer = std::variant<HttpResponse, Deferred>;

// What the process's stores do without blocking their caller: a load through group load, a new
// order through group commit. A reactor thread takes the requests whose answer needs no more.
struct NonBlocking {
  bool loads = false;
  bool creates = false;
};

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
  // Whether `request` goes to an endpoint that answers it Deferred through what `store` does
  // without blocking (a read of one order; a new order without an Idempotency-Key, whose
  // recall would need a load first): then handle() never blocks either.
  static bool defers(const HttpRequest& request, NonBlocking store);
  // The answer to `method` at `path` when no route takes that method there: 405 with the Allow
  // header of the methods that path takes, or 404 when it takes none. (Also for a method HTTP
  // does not define, which the server refuses before a request is made of it.)
  static HttpResponse not_routed(std::string_view method, std::string_view path);

 private:
  Answer route(Context& context);
  static std::string allowed_methods(std::string_view path);
  // A 401 when authentication is on and the request does not carry a valid token; otherwise
  // nothing, and the token's subject is the request's actor.
  std::optional<HttpResponse> authenticate(Context& context) const;
  Services services_;
};

// Endpoint groups (orders_endpoints.cpp, audit_endpoints.cpp, health_endpoints.cpp,
// report_endpoints.cpp, audit_page.cpp).
Answer place_order(Services& services, Context& context);
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
