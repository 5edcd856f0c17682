// Routing, request metadata and the exception edge of the HTTP API.
#include "adapters/http/api.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string_view>

#include "adapters/http/jwt.hpp"
#include "adapters/http/problem.hpp"
#include "adapters/http/text.hpp"
#include "adapters/http/trace_context.hpp"
#include "adapters/ids.hpp"
#include "adapters/log.hpp"
#include "adapters/metrics.hpp"

namespace order::http {
namespace {

using Endpoint = HttpResponse (*)(Services&, Context&);
using DeferringEndpoint = Answer (*)(Services&, Context&);

// What a deferring endpoint's Deferred answers wait for.
enum class Waits { load, create };

struct Route {
  const char* method;
  const char* pattern;  // "{id}" matches one path segment holding an order id
  Endpoint endpoint;
  DeferringEndpoint deferring = nullptr;  // instead of `endpoint`: may answer Deferred
  Waits waits = Waits::load;
  // The query parameters the operation defines, separated by spaces; any other is refused, so
  // that a misspelt filter (`?stauts=paid`, `?user-id=7`) is an error, not the whole list.
  // nullptr: not checked (health, metrics and the static files, which probes, scrapers and
  // browsers may call with parameters of their own).
  const char* parameters = "";
};

// The query parameters of the operations served under two paths, and the routes that take any.
constexpr const char* kListParameters = "user_id status limit after";
constexpr const char* kOrderParameters = "version as_of";
constexpr const char* kAnyParameters = nullptr;

// Ours, and the Go service's /api/v1 paths that its clients already call.
constexpr std::array kRoutes{
    Route{"POST", "/orders", nullptr, place_order, Waits::create},
    Route{"GET", "/orders", list_orders, nullptr, Waits::load, kListParameters},
    Route{"GET", "/api/v1/orders", list_orders, nullptr, Waits::load, kListParameters},
    Route{"POST", "/api/v1/order", nullptr, place_order, Waits::create},
    Route{"GET", "/orders/{id}", nullptr, get_order, Waits::load, kOrderParameters},
    Route{"GET", "/api/v1/orders/{id}", nullptr, get_order, Waits::load, kOrderParameters},
    Route{"GET", "/orders/{id}/events", order_events, nullptr, Waits::load, "after_version limit"},
    Route{"POST", "/orders/{id}/pay", pay_order},
    Route{"POST", "/orders/{id}/ship", ship_order},
    Route{"POST", "/orders/{id}/deliver", deliver_order},
    Route{"POST", "/orders/{id}/cancel", cancel_order},
    Route{"GET", "/reports/product-sales", product_sales_report, nullptr, Waits::load,
          "from to product_id limit"},
    Route{"GET", "/healthz", healthz, nullptr, Waits::load, kAnyParameters},
    Route{"GET", "/readyz", readyz, nullptr, Waits::load, kAnyParameters},
    Route{"GET", "/metrics", metrics_text, nullptr, Waits::load, kAnyParameters},
    Route{"GET", "/openapi.yaml", openapi_yaml, nullptr, Waits::load, kAnyParameters},
    Route{"GET", "/audit", audit_page, nullptr, Waits::load, kAnyParameters},
    Route{"GET", "/audit/audit.js", audit_script, nullptr, Waits::load, kAnyParameters},
    Route{"GET", "/audit/audit.css", audit_style, nullptr, Waits::load, kAnyParameters},
};

// Calls `visit` with each of the space-separated words of `words`.
template <class Visit>
void for_each_word(std::string_view words, Visit visit) {
  for (std::size_t at = 0; at < words.size();) {
    const auto end = std::min(words.find(' ', at), words.size());
    visit(words.substr(at, end - at), end == words.size());
    at = end + 1;
  }
}

// The first query parameter of `request` that `route` does not define, if any.
std::optional<std::string_view> undefined_parameter(const Route& route,
                                                    const HttpRequest& request) {
  if (route.parameters == nullptr) return std::nullopt;
  for (const auto& parameter : request.query) {
    const std::string& name = parameter.first;
    bool defined = false;
    for_each_word(route.parameters, [&](std::string_view word, bool) { defined |= word == name; });
    if (!defined) return std::string_view(name);
  }
  return std::nullopt;
}

// "user_id, status, limit and after" from "user_id status limit after".
std::string parameter_list(std::string_view defined) {
  if (defined.empty()) return "no query parameters";
  std::string out;
  for_each_word(defined, [&out](std::string_view word, bool last) {
    if (!out.empty()) out += last ? " and " : ", ";
    out += word;
  });
  return out;
}

enum class Match { no, yes, bad_id };

// Matches `path` against `pattern`; "{id}" takes a positive decimal integer. A segment in the
// place of an id that is no id still matches the route, so /orders/x/pay is an unknown order.
Match match(std::string_view pattern, std::string_view path, domain::OrderId& id) {
  bool bad_id = false;
  while (!pattern.empty() || !path.empty()) {
    if (pattern.empty() || path.empty() || pattern[0] != '/' || path[0] != '/') return Match::no;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    const std::string_view want = pattern.substr(0, pattern.find('/'));
    const std::string_view have = path.substr(0, path.find('/'));
    pattern.remove_prefix(want.size());
    path.remove_prefix(have.size());
    if (want == "{id}") {
      if (have.empty()) return Match::no;
      const auto [end, error] = std::from_chars(have.data(), have.data() + have.size(), id);
      bad_id = bad_id || error != std::errc() || end != have.data() + have.size() || id <= 0;
    } else if (want != have) {
      return Match::no;
    }
  }
  return bad_id ? Match::bad_id : Match::yes;
}

bool is_token(std::string_view value, std::size_t max_length) {
  if (value.empty() || value.size() > max_length) return false;
  for (char c : value) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

struct RequestMetadata {
  commands::EventMetadata metadata;
  std::string error;  // a header the request names but that cannot be honoured
};

// `actor_from_header`: false when authentication is on, and the actor is the token's subject, which
// a header must not override.
RequestMetadata metadata_of(const HttpRequest& request, bool actor_from_header) {
  RequestMetadata out;
  commands::EventMetadata& metadata = out.metadata;
  const auto request_id = request.header("x-request-id");
  metadata.request_id =
      request_id && is_token(*request_id, 128) ? std::string(*request_id) : new_uuid();
  const auto correlation = request.header("x-correlation-id");
  metadata.correlation_id =
      correlation && is_token(*correlation, 128) ? std::string(*correlation) : metadata.request_id;
  // A command arriving over HTTP is caused by the request that carried it.
  metadata.causation_id = metadata.request_id;
  // A malformed trace context is ignored (the spec's rule), never refused: the request then
  // starts a trace of its own.
  const TraceContext trace =
      start_span(request.header("traceparent"), request.header("tracestate"));
  metadata.traceparent = trace.traceparent();
  metadata.tracestate = trace.tracestate;
  // What a command records: a key or an actor it cannot record is refused, never dropped (a
  // dropped key would make a client's retry apply twice).
  if (request.method != "POST") return out;
  if (const auto actor = actor_from_header ? request.header("x-actor") : std::nullopt) {
    if (!is_printable(*actor, 200)) {
      out.error = "X-Actor must be 1 to 200 bytes of UTF-8 text without control characters";
      return out;
    }
    metadata.actor = std::string(*actor);
  }
  if (const auto key = request.header("idempotency-key")) {
    if (!is_printable(*key, 200)) {
      out.error = "Idempotency-Key must be 1 to 200 bytes of UTF-8 text without control characters";
      return out;
    }
    metadata.idempotency_key = std::string(*key);
  }
  return out;
}

// What needs no token: the probes an orchestrator calls, the scrape, the contract itself, and the
// audit page's static files (they hold no data; the page asks for a token and sends it to the API).
bool is_public(const HttpRequest& request, std::string_view path) {
  return request.method == "GET" &&
         (path == "/healthz" || path == "/readyz" || path == "/metrics" ||
          path == "/openapi.yaml" || path == "/audit" || path == "/audit/audit.js" ||
          path == "/audit/audit.css");
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The token of "Authorization: Bearer <token>" (RFC 6750 §2.1; the scheme is case-insensitive).
std::optional<std::string_view> bearer_token(const HttpRequest& request) {
  const auto header = request.header("authorization");
  if (!header) return std::nullopt;
  const std::string_view value = trim(*header);
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return std::nullopt;
  }
  return trim(value.substr(kScheme.size()));
}

// Tokens from clocks a little apart still work; a stolen expired token does not for long.
constexpr std::int64_t kJwtLeewaySeconds = 30;

// What a failure becomes at the edge.
HttpResponse problem_of_failure(const std::exception_ptr& failure, const std::string& request_id) {
  try {
    std::rethrow_exception(failure);
  } catch (const commands::StoreUnavailable& error) {
    // A query's store call failed (commands answer Code::unavailable themselves).
    log::warn("http", "database unavailable",
              {{"request_id", request_id}, {"error", error.what()}});
    return problem_of(commands::Status::unavailable("the database is unavailable; retry later"));
  } catch (const std::exception& error) {
    // The text stays in our log: it may name tables, queries or internals.
    log::error("http", "request failed", {{"request_id", request_id}, {"error", error.what()}});
  } catch (...) {
    log::error("http", "request failed", {{"request_id", request_id}, {"error", "unknown"}});
  }
  return problem(Problem::internal_error, "an internal error occurred; it has been logged");
}

// What every answer carries, on whichever thread it is finished.
struct Stamp {
  std::string request_id;
  std::string traceparent;
  std::string_view route_method;
  std::string_view route;

  HttpResponse operator()(HttpResponse response) const {
    response.with_header("X-Request-Id", request_id);
    // Trace Context Level 2's response header: the trace and the span this request was served
    // in.
    if (!traceparent.empty()) response.with_header("traceresponse", traceparent);
    response.route_method = route_method;
    response.route = route;
    return response;
  }
};

}  // namespace

Api::Api(commands::EventStore& store, projections::OrderReadModel& read_model,
         projections::ProductSalesReport& sales_report, std::function<bool()> database_ready,
         ApiOptions options)
    : services_{store,
                read_model,
                sales_report,
                commands::OrderCommands(store),
                std::move(database_ready),
                std::move(options)} {}

void Api::handle(const HttpRequest& request, Respond respond) {
  Context context{request, 0, {}};
  Answer answer;
  const std::int64_t retried_before = services_.commands.conflicts_retried();
  try {
    auto metadata = metadata_of(request, services_.options.jwt_secret.empty());
    context.metadata = std::move(metadata.metadata);
    if (auto refused = authenticate(context)) {
      answer = std::move(*refused);
    } else if (!metadata.error.empty()) {
      answer = problem(Problem::bad_request, metadata.error);
    } else {
      answer = route(context);
    }
  } catch (...) {
    answer = problem_of_failure(std::current_exception(), context.metadata.request_id);
  }
  metrics().conflicts_retried += services_.commands.conflicts_retried() - retried_before;
  Stamp stamp{context.metadata.request_id, context.metadata.traceparent, context.route_method,
              context.route};
  auto* deferred = std::get_if<Deferred>(&answer);
  if (deferred == nullptr) {
    respond(stamp(std::get<HttpResponse>(std::move(answer))));
    return;
  }
  // Answers once, whoever calls first: the work, or this thread if starting it throws.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  Finish finish = [answered, stamp = std::move(stamp), respond = std::move(respond)](
                      HttpResponse response, const std::exception_ptr& failure) {
    if (answered->exchange(true)) return;
    if (failure) response = problem_of_failure(failure, stamp.request_id);
    respond(stamp(std::move(response)));
  };
  try {
    deferred->start(finish);
  } catch (...) {
    finish({}, std::current_exception());
  }
}

HttpResponse Api::handle(const HttpRequest& request) {
  // Held by the callback too: it may still be returning from set_value() when this wakes up.
  auto answer = std::make_shared<std::promise<HttpResponse>>();
  auto response = answer->get_future();
  handle(request, [answer](HttpResponse done) { answer->set_value(std::move(done)); });
  return response.get();
}

std::optional<HttpResponse> Api::authenticate(Context& context) const {
  const std::string& secret = services_.options.jwt_secret;
  if (secret.empty()) return std::nullopt;
  std::string_view path = context.request.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (is_public(context.request, path)) return std::nullopt;

  // RFC 6750 §3: no credentials get the bare challenge; a token that fails says invalid_token.
  const auto token = bearer_token(context.request);
  if (!token || token->empty()) {
    return problem(Problem::unauthorized, "send Authorization: Bearer <token>")
        .with_header("WWW-Authenticate", "Bearer realm=\"orders\"");
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto verified = verify_hs256(*token, secret, now, kJwtLeewaySeconds);
  if (const auto* error = std::get_if<JwtError>(&verified)) {
    const std::string description(describe(*error));
    return problem(Problem::unauthorized, description)
        .with_header("WWW-Authenticate",
                     "Bearer realm=\"orders\", error=\"invalid_token\", "
                     "error_description=\"" +
                         description + "\"");
  }
  context.metadata.actor = std::move(std::get<JwtClaims>(verified).subject);
  return std::nullopt;
}

bool Api::defers(const HttpRequest& request, NonBlocking store) {
  std::string_view path = request.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  for (const Route& candidate : kRoutes) {
    domain::OrderId id = 0;
    if (candidate.deferring == nullptr || request.method != candidate.method ||
        match(candidate.pattern, path, id) == Match::no) {
      continue;
    }
    switch (candidate.waits) {
      case Waits::load:
        return store.loads;
      case Waits::create:
        return store.creates && !request.header("idempotency-key");
    }
  }
  return false;
}

Answer Api::route(Context& context) {
  const HttpRequest& request = context.request;
  std::string_view path = request.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);

  for (const Route& candidate : kRoutes) {
    domain::OrderId id = 0;
    const Match result = match(candidate.pattern, path, id);
    if (result == Match::no || request.method != candidate.method) continue;
    context.route_method = candidate.method;
    context.route = candidate.pattern;
    if (result == Match::bad_id) {
      return problem(Problem::order_not_found, "order ids are positive integers");
    }
    if (request.body.size() > services_.options.max_body_bytes) {
      return problem(Problem::body_too_large, "the body is " + std::to_string(request.body.size()) +
                                                  " bytes; the limit is " +
                                                  std::to_string(services_.options.max_body_bytes));
    }
    if (const auto name = undefined_parameter(candidate, request)) {
      const std::string which = is_printable(*name, 64)
                                    ? "unknown query parameter \"" + std::string(*name) + "\""
                                    : "a query parameter without a usable name";
      return problem(Problem::bad_request, which + "; " + candidate.method + " " +
                                               candidate.pattern + " takes " +
                                               parameter_list(candidate.parameters));
    }
    context.order_id = id;
    if (candidate.deferring != nullptr) return candidate.deferring(services_, context);
    return candidate.endpoint(services_, context);
  }
  return not_routed(request.method, path);
}

std::string Api::allowed_methods(std::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::string allowed;
  for (const Route& candidate : kRoutes) {
    domain::OrderId id = 0;
    if (match(candidate.pattern, path, id) == Match::no ||
        allowed.find(candidate.method) != std::string::npos) {
      continue;
    }
    allowed += allowed.empty() ? "" : ", ";
    allowed += candidate.method;
    // The server answers HEAD wherever it answers GET.
    if (std::string_view(candidate.method) == "GET") allowed += ", HEAD";
  }
  return allowed;
}

HttpResponse Api::not_routed(std::string_view method, std::string_view path) {
  const std::string allowed = allowed_methods(path);
  if (allowed.empty()) return problem(Problem::not_found, "no resource at " + std::string(path));
  return problem(Problem::method_not_allowed,
                 std::string(method) + " is not allowed here; allowed: " + allowed)
      .with_header("Allow", allowed);
}

}  // namespace order::http
