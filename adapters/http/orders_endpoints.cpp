// The order endpoints: decode → command or load → encode. Thin on purpose.
#include <boost/json/value.hpp>
#include <charconv>
#include <cstdio>
#include <exception>
#include <utility>

#include "adapters/http/api.hpp"
#include "adapters/http/problem.hpp"
#include "adapters/http/query.hpp"
#include "adapters/json/exact_parser.hpp"
#include "adapters/json/http_bodies.hpp"
#include "adapters/json/json_writer.hpp"
#include "adapters/log.hpp"
#include "commands/rfc3339.hpp"

namespace order::http {
namespace {

namespace bj = boost::json;

bool is_json_media_type(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type == "application/json" ||
         (type.starts_with("application/") && type.ends_with("+json"));
}

// The body as JSON, or the problem that answers the request. An empty body is JSON null where
// `empty_ok` (lifecycle commands whose fields are all optional).
std::variant<bj::value, HttpResponse> json_body(const Context& context, bool empty_ok) {
  const HttpRequest& request = context.request;
  const bool blank = request.body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) {
    if (empty_ok) return bj::value(nullptr);
    return problem(Problem::malformed_json, "a JSON body is required");
  }
  const auto content_type = request.header("content-type");
  if (!content_type || !is_json_media_type(*content_type)) {
    return problem(Problem::unsupported_media_type,
                   "send the body as Content-Type: application/json");
  }
  auto parsed = json::parse_exact(request.body, {}, json::DuplicateKeys::refused);
  if (auto* error = std::get_if<json::ParseError>(&parsed)) {
    return problem(Problem::malformed_json, "the body is not valid JSON: " + error->message);
  }
  return std::move(std::get<bj::value>(parsed));
}

std::string etag_of(std::int64_t version) { return "\"" + std::to_string(version) + "\""; }

HttpResponse order_response(int status, const commands::LoadedStream& stream,
                            const domain::Order& order) {
  json::OrderTimes times;
  if (!stream.events.empty()) {
    times.created_at = stream.events.front().recorded_at;
    times.updated_at = stream.events.back().recorded_at;
  }
  HttpResponse response{status, "application/json", {}, json::encode_order(order, times)};
  response.with_header("ETag", etag_of(order.version));
  return response;
}

// A command's result: the order with its ETag, or the problem its Status maps to.
HttpResponse result_response(const commands::Result& result, int success_status,
                             const std::string& request_id) {
  if (!result.ok()) {
    if (result.status.is(commands::Code::unavailable)) {
      log::warn("http", "database unavailable", {{"request_id", request_id}});
    }
    return problem_of(result.status);
  }
  const commands::Accepted& accepted = result.accepted;
  HttpResponse response = order_response(success_status, accepted.stream, accepted.order);
  if (accepted.replayed) response.with_header("Idempotent-Replayed", "true");
  return response;
}

// FNV-1a, 64 bits: stable across builds and machines, which std::hash is not.
std::string fingerprint_of(const HttpRequest& request) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  auto mix = [&](std::string_view text) {
    for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ULL;
  };
  mix(request.method);
  mix(" ");
  mix(request.path);
  mix("\n");
  mix(request.body);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

// The request's Idempotency-Key, or the problem with it.
std::variant<std::optional<commands::Idempotency>, HttpResponse> idempotency_of(
    const Services& services, const Context& context) {
  if (!context.request.header("idempotency-key")) return std::optional<commands::Idempotency>{};
  if (context.metadata.idempotency_key.empty()) {
    return problem(Problem::bad_request, "Idempotency-Key must be 1 to 200 printable characters");
  }
  return std::optional<commands::Idempotency>{
      commands::Idempotency{context.metadata.idempotency_key, fingerprint_of(context.request),
                            services.options.idempotency_ttl_seconds}};
}

// If-Match: "N" (or N) names the version the command applies to.
std::variant<std::optional<std::int64_t>, HttpResponse> expected_version(const Context& context) {
  const auto header = context.request.header("if-match");
  if (!header || *header == "*") return std::optional<std::int64_t>{};
  std::string_view text = *header;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  std::int64_t version = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (error != std::errc() || end != text.data() + text.size() || version < 0) {
    return problem(Problem::bad_request, "If-Match must be an ETag of this API, such as \"3\"");
  }
  return std::optional<std::int64_t>{version};
}

template <class Decoder>
HttpResponse lifecycle(Services& services, Context& context, Decoder decode) {
  auto body = json_body(context, true);
  if (auto* response = std::get_if<HttpResponse>(&body)) return std::move(*response);
  auto expected = expected_version(context);
  if (auto* response = std::get_if<HttpResponse>(&expected)) return std::move(*response);
  auto idempotency = idempotency_of(services, context);
  if (auto* response = std::get_if<HttpResponse>(&idempotency)) return std::move(*response);

  auto command = decode(std::get<bj::value>(body), context.order_id);
  if (auto* errors = std::get_if<json::FieldErrors>(&command)) {
    return problem(Problem::validation_failed, "the body has invalid fields", *errors);
  }
  const domain::Command as_command{std::get<0>(std::move(command))};
  return result_response(
      services.commands.execute(as_command, std::get<std::optional<std::int64_t>>(expected),
                                context.metadata,
                                std::get<std::optional<commands::Idempotency>>(idempotency)),
      200, context.metadata.request_id);
}

// Hands `finish` the response `make` builds, or the failure instead: `failure` when there is one,
// or what `make` threw.
template <class Make>
void finish_with(const Finish& finish, const std::exception_ptr& failure, Make&& make) {
  if (failure) {
    finish({}, failure);
    return;
  }
  HttpResponse response;
  try {
    response = std::forward<Make>(make)();
  } catch (...) {
    finish({}, std::current_exception());
    return;
  }
  finish(std::move(response), nullptr);
}

// A new order's answer: 201 with its Location, or the problem, its fields named as the client
// named them (`args` or `items`).
HttpResponse placed_response(commands::Result result, std::string_view items_field,
                             const std::string& request_id) {
  json::rename_items_field(result.status.fields, items_field);
  HttpResponse response = result_response(result, 201, request_id);
  if (result.ok()) {
    response.with_header("Location", "/orders/" + std::to_string(result.accepted.order.id));
  }
  return response;
}

}  // namespace

Answer place_order(Services& services, Context& context) {
  auto body = json_body(context, false);
  if (auto* response = std::get_if<HttpResponse>(&body)) return std::move(*response);
  auto idempotency = idempotency_of(services, context);
  if (auto* response = std::get_if<HttpResponse>(&idempotency)) return std::move(*response);
  auto decoded = json::decode_place_order(std::get<bj::value>(body));
  if (auto* errors = std::get_if<json::FieldErrors>(&decoded)) {
    return problem(Problem::validation_failed, "the order has invalid fields", *errors);
  }
  auto& request = std::get<json::PlaceOrderBody>(decoded);
  auto& key = std::get<std::optional<commands::Idempotency>>(idempotency);
  if (key) {
    // A key seen before is answered from what it recorded: a load first, here.
    return placed_response(
        services.commands.place(request.user_id, std::move(request.items), context.metadata, key),
        request.items_field, context.metadata.request_id);
  }
  // The order is answered by whichever thread commits it; the closure takes what it needs.
  return Deferred{[&services, user_id = request.user_id, items = std::move(request.items),
                   items_field = request.items_field,
                   metadata = context.metadata](Finish finish) mutable {
    const std::string request_id = metadata.request_id;
    services.commands.place_then(
        user_id, std::move(items), metadata,
        [items_field, request_id, finish = std::move(finish)](commands::Result result,
                                                              const std::exception_ptr& failure) {
          finish_with(finish, failure,
                      [&] { return placed_response(std::move(result), items_field, request_id); });
        });
  }};
}

Answer get_order(Services& services, Context& context) {
  commands::StreamBound bound;
  const auto& query = context.request.query;
  if (query.contains("version")) {
    const auto version = query_int<std::int64_t>(context.request, "version", 1, INT64_MAX, 0);
    if (!version) {
      return problem(Problem::bad_request,
                     query_int_refusal(context.request, "version", 1, INT64_MAX));
    }
    bound.max_version = *version;
  }
  if (const auto it = query.find("as_of"); it != query.end()) {
    bound.as_of = commands::utc_rfc3339(it->second);
    if (!bound.as_of) {
      return problem(Problem::bad_request,
                     "as_of must be an RFC 3339 time such as 2025-09-15T00:34:20Z, with a real "
                     "date, hour, minute, second and offset");
    }
  }

  // Made on the thread that completes the load: it captures what it needs, not the request.
  auto finish = [id = context.order_id, max_version = bound.max_version,
                 as_of = bound.as_of ? query.at("as_of")
                                     : std::string()](const commands::LoadedStream& stream) {
    if (stream.events.empty()) {
      return problem(Problem::order_not_found,
                     "order " + std::to_string(id) + " does not exist" +
                         (as_of.empty() ? std::string() : " at " + as_of));
    }
    if (max_version && stream.version() < *max_version) {
      return problem(Problem::order_not_found, "order " + std::to_string(id) + " has no version " +
                                                   std::to_string(*max_version));
    }
    return order_response(200, stream, commands::fold_stream(stream));
  };
  return Deferred{[&store = services.store, id = context.order_id, bound = std::move(bound),
                   finish = std::move(finish)](Finish done) {
    store.load_then(id, bound,
                    [finish, done = std::move(done)](const commands::LoadedStream& stream,
                                                     const std::exception_ptr& failure) {
                      finish_with(done, failure, [&] { return finish(stream); });
                    });
  }};
}

HttpResponse list_orders(Services& services, Context& context) {
  const auto& query = context.request.query;
  projections::ListQuery list;
  const auto user_id = query_int<std::int64_t>(context.request, "user_id", 1, INT64_MAX, 0);
  const auto after = query_int<std::int64_t>(context.request, "after", 0, INT64_MAX, 0);
  const auto limit = query_int<std::int64_t>(context.request, "limit", 1, 500, 50);
  if (!user_id) {
    return problem(Problem::bad_request,
                   query_int_refusal(context.request, "user_id", 1, INT64_MAX));
  }
  if (!after) {
    return problem(Problem::bad_request, query_int_refusal(context.request, "after", 0, INT64_MAX));
  }
  if (!limit) {
    return problem(Problem::bad_request, query_int_refusal(context.request, "limit", 1, 500));
  }
  list.after = *after;
  if (query.contains("user_id")) list.user_id = *user_id;
  list.limit = static_cast<int>(*limit);
  if (const auto it = query.find("status"); it != query.end()) {
    list.status = domain::parse_status(it->second);
    if (!list.status) {
      return problem(Problem::bad_request,
                     "status must be one of pending, paid, shipped, delivered, cancelled");
    }
  }

  const projections::ListPage page = services.read_model.list_orders(list);
  json::JsonWriter w;
  w.begin_object();
  w.key("orders").begin_array();
  for (const auto& row : page.rows) {
    w.raw(json::encode_order(row.order, {row.created_at, row.updated_at}));
  }
  w.end_array();
  if (page.has_more) {
    std::string next = "/orders?after=" + std::to_string(page.rows.back().order.id) +
                       "&limit=" + std::to_string(list.limit);
    if (list.user_id) next += "&user_id=" + std::to_string(*list.user_id);
    if (list.status) next += "&status=" + std::string(domain::to_string(*list.status));
    w.key("next").string(next);
  } else {
    w.key("next").null();
  }
  // The list is read from the projection, which trails the log: say by how much.
  json::write_projection_lag(w, page.lag);
  w.end_object();
  return HttpResponse{200, "application/json", {}, w.take()};
}

HttpResponse pay_order(Services& services, Context& context) {
  return lifecycle(services, context, json::decode_pay);
}
HttpResponse ship_order(Services& services, Context& context) {
  return lifecycle(services, context, json::decode_ship);
}
HttpResponse deliver_order(Services& services, Context& context) {
  return lifecycle(services, context, json::decode_deliver);
}
HttpResponse cancel_order(Services& services, Context& context) {
  return lifecycle(services, context, json::decode_cancel);
}

}  // namespace order::http
