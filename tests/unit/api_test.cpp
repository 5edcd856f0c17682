// The API's deferred answers: a read whose load the store completes later, on another thread,
// gets the same answer, headers and labels as one answered at once, and its failures the same
// problems.
#include "adapters/http/api.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "commands/in_memory_event_store.hpp"

namespace {

using namespace order;

// The in-memory store, but a load_then waits in a list until the test completes it, the way a
// store that gathers loads answers from its loader thread.
class DeferringStore final : public commands::EventStore {
 public:
  domain::OrderId next_order_id() override { return inner.next_order_id(); }
  commands::LoadedStream load(domain::OrderId stream, const commands::StreamBound& bound) override {
    return inner.load(stream, bound);
  }
  void load_then(domain::OrderId stream, const commands::StreamBound& bound,
                 LoadDone done) override {
    waiting.push_back({stream, bound, std::move(done)});
  }
  commands::AppendResult append(domain::OrderId stream, std::int64_t expected_version,
                                std::span<const domain::Event> events,
                                const commands::EventMetadata& metadata,
                                const commands::IdempotencyClaim* claim) override {
    return inner.append(stream, expected_version, events, metadata, claim);
  }
  std::vector<commands::HistoryEntry> history(domain::OrderId stream, std::int64_t after,
                                              int limit) override {
    return inner.history(stream, after, limit);
  }
  std::optional<commands::IdempotencyRecord> find_idempotency_key(const std::string& key) override {
    return inner.find_idempotency_key(key);
  }

  // Completes the oldest waiting load: with the store's answer, or with `failure`.
  void complete_one(std::exception_ptr failure = nullptr) {
    REQUIRE_FALSE(waiting.empty());
    Waiting next = std::move(waiting.front());
    waiting.erase(waiting.begin());
    if (failure) {
      next.done({}, failure);
    } else {
      next.done(inner.load(next.stream, next.bound), nullptr);
    }
  }

  struct Waiting {
    domain::OrderId stream;
    commands::StreamBound bound;
    LoadDone done;
  };
  commands::InMemoryEventStore inner;
  std::vector<Waiting> waiting;
};

class NoReadModel final : public projections::OrderReadModel {
 public:
  projections::ListPage list_orders(const projections::ListQuery&) override { return {}; }
  projections::ProjectionLag projection_lag() override { return {}; }
};

class NoSalesReport final : public projections::ProductSalesReport {
 public:
  projections::SalesPage sales(const projections::SalesQuery&) override { return {}; }
  projections::ProjectionLag lag() override { return {}; }
};

struct Fixture {
  DeferringStore store;
  NoReadModel read_model;
  NoSalesReport sales;
  http::Api api{store, read_model, sales, [] { return true; }};

  http::HttpRequest get(const std::string& path, const std::string& request_id) const {
    http::HttpRequest request{"GET", path, {}, {{"x-request-id", request_id}}, {}};
    return request;
  }

  // Handles `request`; the answer, if it came before handle() returned. One that comes later
  // is put in `later`.
  std::optional<http::HttpResponse> handle(const http::HttpRequest& request,
                                           std::optional<http::HttpResponse>& later) {
    std::optional<http::HttpResponse> now;
    auto returned = std::make_shared<bool>(false);
    api.handle(request, [&now, &later, returned](http::HttpResponse response) {
      (*returned ? later : now) = std::move(response);
    });
    *returned = true;
    return now;
  }
};

std::string header(const http::HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return {};
}

}  // namespace

TEST_CASE("a read answered after its load completes carries what one answered at once does") {
  Fixture f;
  http::HttpRequest place{
      "POST",
      "/orders",
      {},
      {{"content-type", "application/json"}},
      R"({"user_id": 7, "items": [{"product_id": 1, "quantity": 2, "price": 1.5}]})"};
  const http::HttpResponse placed = f.api.handle(place);  // appends only: answered at once
  REQUIRE(placed.status == 201);
  const auto id = boost::json::parse(placed.body).at("order_id").as_int64();

  std::optional<http::HttpResponse> later;
  const auto now = f.handle(f.get("/orders/" + std::to_string(id), "read-1"), later);
  CHECK_FALSE(now.has_value());  // the worker is free while the load waits
  CHECK_FALSE(later.has_value());
  REQUIRE(f.store.waiting.size() == 1);
  f.store.complete_one();
  REQUIRE(later.has_value());
  CHECK(later->status == 200);
  CHECK(boost::json::parse(later->body).at("order_id").as_int64() == id);
  CHECK(header(*later, "ETag") == "\"1\"");
  CHECK(header(*later, "X-Request-Id") == "read-1");
  CHECK_FALSE(header(*later, "traceresponse").empty());
  CHECK(later->route == "/orders/{id}");
  CHECK(later->route_method == "GET");
}

TEST_CASE("a deferred read of an unknown order or version is a 404, a lost database a 503") {
  Fixture f;
  std::optional<http::HttpResponse> later;
  CHECK_FALSE(f.handle(f.get("/orders/42", "r"), later).has_value());
  f.store.complete_one();
  REQUIRE(later.has_value());
  CHECK(later->status == 404);
  CHECK(later->content_type == "application/problem+json");
  CHECK(later->body.find("order 42 does not exist") != std::string::npos);

  later.reset();
  CHECK_FALSE(f.handle(f.get("/api/v1/orders/42", "r2"), later).has_value());
  f.store.complete_one(
      std::make_exception_ptr(commands::StoreUnavailable("database connection lost")));
  REQUIRE(later.has_value());
  CHECK(later->status == 503);
  CHECK(header(*later, "X-Request-Id") == "r2");
  CHECK(later->route == "/api/v1/orders/{id}");

  later.reset();
  CHECK_FALSE(f.handle(f.get("/orders/42", "r3"), later).has_value());
  f.store.complete_one(std::make_exception_ptr(std::runtime_error("event does not decode")));
  REQUIRE(later.has_value());
  CHECK(later->status == 500);
  CHECK(later->body.find("does not decode") == std::string::npos);  // internals stay in the log
}

TEST_CASE("a read refused before its load answers at once and loads nothing") {
  Fixture f;
  std::optional<http::HttpResponse> later;
  auto request = f.get("/orders/1", "r");
  request.query["version"] = "zero";
  const auto now = f.handle(request, later);
  REQUIRE(now.has_value());
  CHECK(now->status == 400);
  CHECK(f.store.waiting.empty());
}
