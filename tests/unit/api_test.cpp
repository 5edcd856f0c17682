// The API's deferred answers: a read whose load the store completes later, on another thread,
// or a new order whose commit it completes later, gets the same answer, headers and labels as
// one answered at once, and its failures the same problems; and which requests a reactor thread
// may take.
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

// The in-memory store, but a load_then, and a create_then without a claim, wait in a list until
// the test completes them, the way a store that gathers loads answers from its loader thread and
// one that gathers appends from its committer. (With a claim, place() waits for the answer on the
// calling thread: a committer thread would complete it, here it is completed at once.)
class DeferringStore final : public commands::EventStore {
 public:
  void create_then(DecideNew decide, const commands::EventMetadata& metadata,
                   std::optional<commands::IdempotencyClaim> claim, CreateDone done) override {
    if (claim) {
      EventStore::create_then(std::move(decide), metadata, std::move(claim), std::move(done));
      return;
    }
    creating.push_back({std::move(decide), metadata, std::move(done)});
  }

  // Completes the oldest waiting create: through the in-memory store, or with `failure`.
  void complete_create(std::exception_ptr failure = nullptr) {
    REQUIRE_FALSE(creating.empty());
    Creating next = std::move(creating.front());
    creating.erase(creating.begin());
    if (failure) {
      next.done({}, failure);
    } else {
      inner.create_then(std::move(next.decide), next.metadata, std::nullopt, std::move(next.done));
    }
  }

  struct Creating {
    DecideNew decide;
    commands::EventMetadata metadata;
    CreateDone done;
  };
  std::vector<Creating> creating;

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
  std::optional<http::HttpResponse> later;
  REQUIRE_FALSE(f.handle(place, later).has_value());
  f.store.complete_create();
  REQUIRE(later.has_value());
  REQUIRE(later->status == 201);
  const auto id = boost::json::parse(later->body).at("order_id").as_int64();

  later.reset();
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

namespace {

http::HttpRequest post_order(const std::string& path, const std::string& body,
                             std::vector<std::pair<std::string, std::string>> headers = {}) {
  headers.emplace_back("content-type", "application/json");
  http::HttpRequest request{"POST", path, {}, {}, body};
  for (auto& [name, value] : headers) request.headers[name] = value;
  return request;
}

constexpr const char* kOrderBody =
    R"({"user_id": 7, "items": [{"product_id": 1, "quantity": 2, "price": 1.5}]})";

}  // namespace

TEST_CASE("a new order answered after its commit carries what one answered at once does") {
  Fixture f;
  std::optional<http::HttpResponse> later;
  const auto now =
      f.handle(post_order("/orders", kOrderBody, {{"x-request-id", "place-1"}}), later);
  CHECK_FALSE(now.has_value());  // the thread is free while the commit waits
  REQUIRE(f.store.creating.size() == 1);
  CHECK(f.store.creating.front().metadata.request_id == "place-1");
  f.store.complete_create();
  REQUIRE(later.has_value());
  CHECK(later->status == 201);
  const auto id = boost::json::parse(later->body).at("order_id").as_int64();
  CHECK(header(*later, "Location") == "/orders/" + std::to_string(id));
  CHECK(header(*later, "ETag") == "\"1\"");
  CHECK(header(*later, "X-Request-Id") == "place-1");
  CHECK(later->route == "/orders");
  CHECK(later->route_method == "POST");
  CHECK(f.store.inner.load(id).version() == 1);

  // The Go service's path and body answer the same way.
  later.reset();
  CHECK_FALSE(f.handle(post_order("/api/v1/order",
                                  R"({"userid": 8, "args": [{"product_id": 2, "quantity": 1,)"
                                  R"( "price": 3.25}]})"),
                       later)
                  .has_value());
  f.store.complete_create();
  REQUIRE(later.has_value());
  CHECK(later->status == 201);
  CHECK(later->route == "/api/v1/order");
}

TEST_CASE("a new order refused before its commit answers at once; a lost database is a 503") {
  Fixture f;
  std::optional<http::HttpResponse> later;
  // Against the order's rules: refused without an id or a commit.
  const auto refused = f.handle(
      post_order("/api/v1/order", R"({"userid": 8, "args": [{"product_id": 2, "quantity": 0,)"
                                  R"( "price": 3.25}]})"),
      later);
  REQUIRE(refused.has_value());
  CHECK(refused->status == 422);
  CHECK(refused->body.find("args[0].quantity") != std::string::npos);  // the client's name
  CHECK(f.store.creating.empty());

  CHECK_FALSE(
      f.handle(post_order("/orders", kOrderBody, {{"x-request-id", "r2"}}), later).has_value());
  f.store.complete_create(
      std::make_exception_ptr(commands::StoreUnavailable("database connection lost")));
  REQUIRE(later.has_value());
  CHECK(later->status == 503);
  CHECK(later->content_type == "application/problem+json");
  CHECK(header(*later, "X-Request-Id") == "r2");

  later.reset();
  CHECK_FALSE(f.handle(post_order("/orders", kOrderBody), later).has_value());
  f.store.complete_create(std::make_exception_ptr(std::runtime_error("the log is broken")));
  REQUIRE(later.has_value());
  CHECK(later->status == 500);
  CHECK(later->body.find("the log is broken") == std::string::npos);  // internals stay in the log
}

TEST_CASE("a new order with an Idempotency-Key is answered on the thread that handles it") {
  Fixture f;
  std::optional<http::HttpResponse> later;
  const auto first =
      f.handle(post_order("/orders", kOrderBody, {{"idempotency-key", "k-1"}}), later);
  REQUIRE(first.has_value());
  CHECK(first->status == 201);
  const auto again =
      f.handle(post_order("/orders", kOrderBody, {{"idempotency-key", "k-1"}}), later);
  REQUIRE(again.has_value());
  CHECK(again->status == 201);
  CHECK(header(*again, "Idempotent-Replayed") == "true");
  CHECK(again->body == first->body);
  CHECK(f.store.creating.empty());
  CHECK_FALSE(later.has_value());
}

TEST_CASE("a reactor thread takes only what the stores answer without blocking it") {
  const http::NonBlocking both{.loads = true, .creates = true};
  const http::NonBlocking loads{.loads = true, .creates = false};
  const http::NonBlocking creates{.loads = false, .creates = true};
  const auto read = http::HttpRequest{"GET", "/orders/5", {}, {}, {}};
  const auto read_v1 = http::HttpRequest{"GET", "/api/v1/orders/5/", {}, {}, {}};
  const auto place = post_order("/orders", kOrderBody);
  const auto place_v1 = post_order("/api/v1/order", kOrderBody);
  const auto keyed = post_order("/orders", kOrderBody, {{"idempotency-key", "k"}});

  CHECK(http::Api::defers(read, both));
  CHECK(http::Api::defers(read_v1, loads));
  CHECK_FALSE(http::Api::defers(read, creates));
  CHECK(http::Api::defers(place, both));
  CHECK(http::Api::defers(place_v1, creates));
  CHECK_FALSE(http::Api::defers(place, loads));
  CHECK_FALSE(http::Api::defers(keyed, both));  // its recall is a load on the thread's own store
  // Everything else goes to the workers.
  for (const auto& other : {http::HttpRequest{"GET", "/orders", {}, {}, {}},
                            http::HttpRequest{"GET", "/orders/5/events", {}, {}, {}},
                            http::HttpRequest{"POST", "/orders/5/pay", {}, {}, "{}"},
                            http::HttpRequest{"DELETE", "/orders/5", {}, {}, {}},
                            http::HttpRequest{"GET", "/healthz", {}, {}, {}}}) {
    CHECK_FALSE(http::Api::defers(other, both));
  }
}

namespace {

// `path` with the query `parameters`, as the server hands it over (names and values decoded).
http::HttpRequest with_query(http::HttpRequest request,
                             std::vector<std::pair<std::string, std::string>> parameters) {
  for (auto& [name, value] : parameters) request.query[name] = value;
  return request;
}

}  // namespace

TEST_CASE("a query parameter the operation does not define is a 400 naming it; nothing is done") {
  Fixture f;
  std::optional<http::HttpResponse> later;
  REQUIRE(f.handle(post_order("/orders", kOrderBody), later).has_value() == false);
  f.store.complete_create();
  REQUIRE(later.has_value());
  REQUIRE(later->status == 201);

  struct Case {
    http::HttpRequest request;
    std::string detail;
  };
  const std::vector<Case> refused{
      {with_query(f.get("/orders", "r"), {{"stauts", "paid"}}),
       R"(unknown query parameter \"stauts\"; GET /orders takes user_id, status, limit and after)"},
      {with_query(f.get("/api/v1/orders", "r"), {{"user-id", "7"}}),
       R"(unknown query parameter \"user-id\"; GET /api/v1/orders takes user_id, status, limit)"},
      {with_query(f.get("/orders/1", "r"), {{"verison", "1"}}),
       R"(unknown query parameter \"verison\"; GET /orders/{id} takes version and as_of)"},
      {with_query(f.get("/orders/1/events", "r"), {{"after", "1"}}),
       R"(GET /orders/{id}/events takes after_version and limit)"},
      {with_query(f.get("/reports/product-sales", "r"),
                  {{"from", "2026-01-01"}, {"to", "2026-01-02"}, {"product", "1"}}),
       R"(unknown query parameter \"product\"; GET /reports/product-sales takes from, to, )"},
      {with_query(post_order("/orders", kOrderBody), {{"dry_run", "1"}}),
       R"(POST /orders takes no query parameters)"},
      {with_query(f.get("/orders", "r"), {{"", "false"}}),
       R"(a query parameter without a usable name; GET /orders takes)"},
      {with_query(f.get("/orders", "r"), {{"st\x01tus", "paid"}}),
       R"(a query parameter without a usable name)"},
  };
  for (const auto& [request, detail] : refused) {
    CAPTURE(request.path);
    later.reset();
    const auto now = f.handle(request, later);
    REQUIRE(now.has_value());
    CHECK(now->status == 400);
    CHECK(now->content_type == "application/problem+json");
    CHECK(now->body.find(detail) != std::string::npos);
  }
  CHECK(f.store.waiting.empty());   // no load asked for
  CHECK(f.store.creating.empty());  // no order placed
  CHECK(f.store.inner.history(2, 0, 10).empty());

  // The parameters each operation defines pass; health, metrics and the static files take any.
  for (const auto& request :
       {with_query(f.get("/orders", "r"),
                   {{"user_id", "7"}, {"status", "pending"}, {"limit", "5"}, {"after", "0"}}),
        with_query(
            f.get("/reports/product-sales", "r"),
            {{"from", "2026-01-01"}, {"to", "2026-01-02"}, {"product_id", "1"}, {"limit", "5"}}),
        with_query(f.get("/orders/1/events", "r"), {{"after_version", "0"}, {"limit", "5"}}),
        with_query(f.get("/healthz", "r"), {{"probe", "1"}}),
        with_query(f.get("/openapi.yaml", "r"), {{"v", "2"}})}) {
    CAPTURE(request.path);
    const auto now = f.handle(request, later);
    REQUIRE(now.has_value());
    CHECK(now->status == 200);
  }
  later.reset();
  CHECK_FALSE(f.handle(with_query(f.get("/orders/1", "r"), {{"version", "1"}}), later));
  f.store.complete_one();
  REQUIRE(later.has_value());
  CHECK(later->status == 200);
}

TEST_CASE("a query parameter out of its range is a 400 naming it, its rule and its value") {
  Fixture f;
  struct Case {
    http::HttpRequest request;
    std::string detail;
  };
  const std::string from_to = "2026-01-01";
  const std::vector<Case> refused{
      {with_query(f.get("/orders", "r"), {{"limit", "0"}}),
       R"(limit must be a whole number from 1 to 500, not \"0\")"},
      {with_query(f.get("/orders", "r"), {{"limit", "501"}, {"user_id", "7"}}),
       R"(limit must be a whole number from 1 to 500, not \"501\")"},
      {with_query(f.get("/orders", "r"), {{"after", "-5"}, {"limit", "5"}}),
       R"(after must be a whole number, 0 or more, not \"-5\")"},
      {with_query(f.get("/orders", "r"), {{"user_id", "1.5"}}),
       R"(user_id must be a positive whole number, not \"1.5\")"},
      // A value that is not short printable text is not echoed back.
      {with_query(f.get("/orders", "r"), {{"user_id", "x\"y"}}),
       R"(user_id must be a positive whole number"})"},
      {with_query(f.get("/orders", "r"), {{"user_id", std::string(41, '9')}}),
       R"(user_id must be a positive whole number"})"},
      {with_query(f.get("/orders/1", "r"), {{"version", "0"}}),
       R"(version must be a positive whole number, not \"0\")"},
      {with_query(f.get("/orders/1/events", "r"), {{"after_version", "x"}}),
       R"(after_version must be a whole number, 0 or more, not \"x\")"},
      {with_query(f.get("/reports/product-sales", "r"),
                  {{"from", from_to}, {"to", from_to}, {"product_id", "0"}}),
       R"(product_id must be a positive whole number, not \"0\")"},
  };
  for (const auto& [request, detail] : refused) {
    CAPTURE(request.path);
    std::optional<http::HttpResponse> later;
    const auto now = f.handle(request, later);
    REQUIRE(now.has_value());
    CHECK(now->status == 400);
    CHECK(now->body.find(detail) != std::string::npos);
  }
}
