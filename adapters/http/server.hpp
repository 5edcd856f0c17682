// The HTTP server over Pistache 0.0.5. Requests are parsed on Pistache's reactor threads and
// handed to a pool of worker threads, so a slow database call never stalls the reactor (and with
// it every other connection that reactor owns); a request the reactor can answer without
// blocking (a ReactorHandler's) skips the workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "adapters/http/http_types.hpp"

namespace order::http {

// Hands the request's answer to `respond` exactly once: before it returns, or later from another
// thread (an answer that waits for a load gathered with others), leaving the worker free.
using RequestHandler = std::function<void(const HttpRequest&, Respond)>;
// Called once per worker thread, on that thread: each worker owns its handler (and, through it,
// its own database connection, since a pqxx connection is not thread-safe).
using HandlerFactory = std::function<RequestHandler()>;

// Answers on a reactor thread the requests it can answer without ever blocking that thread (one
// whose answer waits for a load handed to another thread): `takes` says which, then `handle`
// answers as a RequestHandler does. The rest go to the workers. Spares a read the hand-off to a
// worker and back.
struct ReactorHandler {
  std::function<bool(const HttpRequest&)> takes;
  RequestHandler handle;
};
// Called once per reactor thread, on that thread, before its first request.
using ReactorHandlerFactory = std::function<ReactorHandler()>;

struct ServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 8080;
  int reactor_threads = 1;
  int workers = 16;
  std::size_t queue_limit = 4096;  // requests waiting for a worker or in progress; beyond: 503
  std::size_t max_request_bytes = 1 << 20;  // Pistache's own limit (headers and body)
  int header_timeout_ms = 10'000;
  int body_timeout_ms = 30'000;
  int keep_alive_timeout_ms = 300'000;  // an idle keep-alive connection is closed after it
  bool access_log = true;  // one JSON log line per request: method, path, status, time, request id
  // Open client connections; one more is answered 503 and closed at once (Pistache 0.0.5 has no
  // such limit: it accepts until the process runs out of descriptors).
  int max_connections = 1024;
};

// The process's open-files limit: its soft limit raised to the hard one (as Go's runtime and
// nginx do), since the common default of 1,024 would not even hold MAX_CONNECTIONS' default.
// Answers the limit now in force.
std::uint64_t raise_open_files_limit();

// How many client connections fit under `open_files` descriptors beside the `reserve` the rest of
// the process holds (database connections, Kafka's sockets, the reactors' own): `wanted`, or
// fewer (at least 1) when they would not fit. Past the limit, accept() fails and Pistache 0.0.5's
// listener retries it at once, spinning a core while no client, health checks included, gets in;
// a cap below it answers the one too many with a 503 instead.
int connections_that_fit(std::uint64_t open_files, int wanted, int reserve);

class Server {
 public:
  Server(ServerOptions options, HandlerFactory factory, ReactorHandlerFactory on_reactor = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and serves on background threads; throws with a one-line reason if it cannot bind.
  void start();
  // Refuses new requests (503), lets the queued and running ones finish (bounded), then stops.
  void shutdown(int drain_timeout_ms = 10'000);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace order::http
