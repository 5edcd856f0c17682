// The audit trail: every event of an order, paginated by version.
#include <charconv>

#include "adapters/http/api.hpp"
#include "adapters/http/problem.hpp"
#include "adapters/http/query.hpp"
#include "adapters/json/http_bodies.hpp"
#include "adapters/json/json_writer.hpp"

namespace order::http {
namespace {

constexpr int kDefaultPage = 100;
constexpr int kMaxPage = 1000;

}  // namespace

HttpResponse order_events(Services& services, Context& context) {
  const auto after = query_int<std::int64_t>(context.request, "after_version", 0, INT64_MAX, 0);
  const auto limit = query_int<int>(context.request, "limit", 1, kMaxPage, kDefaultPage);
  if (!after) {
    return problem(Problem::bad_request,
                   query_int_refusal(context.request, "after_version", 0, INT64_MAX));
  }
  if (!limit) {
    return problem(Problem::bad_request, query_int_refusal(context.request, "limit", 1, kMaxPage));
  }
  // One more than asked tells whether there is a next page without a second query.
  auto entries = services.store.history(context.order_id, *after, *limit + 1);
  if (entries.empty() && (*after == 0 || services.store.history(context.order_id, 0, 1).empty())) {
    return problem(Problem::order_not_found,
                   "order " + std::to_string(context.order_id) + " does not exist");
  }
  const bool has_more = entries.size() > static_cast<std::size_t>(*limit);
  if (has_more) entries.pop_back();

  json::JsonWriter w;
  w.begin_object();
  w.key("order_id").integer(context.order_id);
  w.key("events").begin_array();
  for (const auto& entry : entries) json::write_history_entry(w, entry);
  w.end_array();
  if (has_more) {
    const std::int64_t next = entries.back().stream_version;
    w.key("next").string("/orders/" + std::to_string(context.order_id) + "/events?after_version=" +
                         std::to_string(next) + "&limit=" + std::to_string(*limit));
  } else {
    w.key("next").null();
  }
  w.end_object();
  return HttpResponse{200, "application/json", {}, w.take()};
}

}  // namespace order::http
