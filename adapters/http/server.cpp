// Pistache ⇄ HttpRequest/HttpResponse, the worker pool, and the workarounds for Pistache 0.0.5.
#include "adapters/http/server.hpp"

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/peer.h>
#include <sys/socket.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "adapters/http/named_header.hpp"
#include "adapters/http/problem.hpp"
#include "adapters/log.hpp"
#include "adapters/metrics.hpp"

namespace order::http {
namespace {

namespace P = Pistache;

using Clock = std::chrono::steady_clock;

struct Job {
  HttpRequest request;
  P::Http::ResponseWriter writer;
  bool keep_alive = true;
  bool access_log = true;
  Clock::time_point received = Clock::now();
};

class WorkQueue {
 public:
  explicit WorkQueue(std::size_t limit) : limit_(limit) {}

  // Returns the job back when it cannot be queued (full or closed).
  std::unique_ptr<Job> push(std::unique_ptr<Job> job) {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || jobs_.size() >= limit_) return job;
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
    return nullptr;
  }

  // nullptr once the queue is closed and empty.
  std::unique_ptr<Job> pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
    if (jobs_.empty()) return nullptr;
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    ++running_;
    return job;
  }

  void done() {
    std::lock_guard lock(mutex_);
    --running_;
    if (jobs_.empty() && running_ == 0) idle_.notify_all();
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [&] { return jobs_.empty() && running_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable idle_;
  std::deque<std::unique_ptr<Job>> jobs_;
  std::size_t limit_;
  std::size_t running_ = 0;
  bool closed_ = false;
};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

HttpRequest convert(const P::Http::Request& request) {
  HttpRequest out;
  out.method = P::Http::methodString(request.method());
  out.path = request.resource();
  const auto& query = request.query();
  for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it) {
    out.query.emplace(it->first, it->second);
  }
  for (const auto& header : request.headers().list()) {
    std::ostringstream value;
    header->write(value);
    out.headers.emplace(lower(header->name()), value.str());
  }
  for (const auto& [name, raw] : request.headers().rawList()) {
    out.headers.emplace(lower(name), raw.value());
  }
  out.body = request.body();
  return out;
}

// One line per request, from its arrival on the reactor to its answer handed to the transport
// (so the time in the queue counts). Never a header but the request id: no Authorization, no
// token, no cookie reaches the log (the trace id is the trace context's, not a header's text). Long
// paths are cut, so a 1 MiB URL is not a 1 MiB log line.
void log_access(const Job& job, const HttpResponse& response) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - job.received).count();
  char duration[32];
  auto [end, error] =
      std::to_chars(duration, duration + sizeof duration, static_cast<double>(micros) / 1000.0,
                    std::chars_format::fixed, 3);
  if (error != std::errc()) end = duration;
  char status[8];
  const auto status_end = std::to_chars(status, status + sizeof status, response.status).ptr;
  std::string_view request_id;
  std::string_view trace_id;
  for (const auto& [name, value] : response.headers) {
    if (name == "X-Request-Id") request_id = value;
    // "00-<trace id>-<span id>-<flags>"
    if (name == "traceresponse" && value.size() >= 35)
      trace_id = std::string_view(value).substr(3, 32);
  }
  constexpr std::size_t kMaxPathBytes = 256;
  log::info("http", "request",
            {{"method", job.request.method},
             {"path", std::string_view(job.request.path).substr(0, kMaxPathBytes)},
             {"status", std::string_view(status, static_cast<std::size_t>(status_end - status))},
             {"duration_ms", std::string_view(duration, static_cast<std::size_t>(end - duration))},
             {"request_id", request_id},
             {"trace_id", trace_id}});
}

// As received: the typed header has already turned what it could not read into 0.
bool content_length_is_decimal(const P::Http::Request& request) {
  for (const auto& [name, raw] : request.headers().rawList()) {
    if (lower(name) != "content-length") continue;
    const std::string& value = raw.value();
    return !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
  }
  return true;
}

bool wants_keep_alive(const P::Http::Request& request) {
  const auto connection = request.headers().tryGet<P::Http::Header::Connection>();
  if (connection) return connection->control() == P::Http::ConnectionControl::KeepAlive;
  return request.version() == P::Http::Version::Http11;
}

// Closes our side of a connection once its last answer is on the wire. SHUT_RDWR, not close():
// Pistache then reads EOF and drops the peer (and its connection slot) on its own path, so a
// client that ignores "Connection: close" and stays connected holds nothing. `read_too`: false
// after an error answer to a request that may still be arriving (a 10 MiB body): only our
// sending side is shut, the rest of its input is read and discarded, and the client reads the
// answer instead of a reset.
void close_after(P::Async::Promise<ssize_t> sent, const std::shared_ptr<P::Tcp::Peer>& peer,
                 bool read_too) {
  if (!peer) return;
  const std::weak_ptr<P::Tcp::Peer> weak = peer;
  const int how = read_too ? SHUT_RDWR : SHUT_WR;
  auto shut = [weak, how] {
    if (const auto alive = weak.lock()) ::shutdown(alive->fd(), how);
  };
  sent.then([shut](ssize_t) { shut(); }, [shut](const std::exception_ptr&) { shut(); });
}

void write(Job& job, const HttpResponse& response, bool read_too = true) {
  auto& headers = job.writer.headers();
  // Pistache 0.0.5 answers "Connection: close" to every request without a Connection header,
  // which makes HTTP/1.1 clients drop their keep-alive connections: say what HTTP/1.1 means.
  headers.remove<P::Http::Header::Connection>();
  headers.add<P::Http::Header::Connection>(job.keep_alive ? P::Http::ConnectionControl::KeepAlive
                                                          : P::Http::ConnectionControl::Close);
  headers.add(std::make_shared<NamedHeader>("Content-Type", response.content_type));
  for (const auto& [name, value] : response.headers) {
    headers.add(std::make_shared<NamedHeader>(name, value));
  }
  try {
    const auto peer = job.writer.getPeer();
    auto sent = job.writer.send(static_cast<P::Http::Code>(response.status), response.body);
    if (!job.keep_alive) close_after(std::move(sent), peer, read_too);
  } catch (const std::exception&) {
    // The client went away before its answer: nothing to tell anyone.
  }
  metrics().observe_request(response.route_method, response.route, response.status,
                            std::chrono::duration<double>(Clock::now() - job.received).count());
  if (job.access_log) log_access(job, response);
}

// Open connections against the cap, shared by the handler's per-reactor clones.
class ConnectionCount {
 public:
  explicit ConnectionCount(int limit) : limit_(limit) {}

  bool try_take() {
    int open = open_.load();
    do {
      if (open >= limit_) return false;
    } while (!open_.compare_exchange_weak(open, open + 1));
    return true;
  }
  void release() { --open_; }

  // A warning at most once a second, with how many were refused since the last one: a flood of
  // connections must not become a flood of log lines.
  void note_refusal() {
    ++refused_;
    const std::int64_t second =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
    std::int64_t last = last_logged_second_.load();
    if (second > last && last_logged_second_.compare_exchange_strong(last, second)) {
      log::warn("http", "connections refused: at the cap",
                {{"max_connections", std::to_string(limit_)},
                 {"refused", std::to_string(refused_.exchange(0))}});
    }
  }

 private:
  const int limit_;
  std::atomic<int> open_{0};
  std::atomic<std::int64_t> refused_{0};
  std::atomic<std::int64_t> last_logged_second_{0};
};

struct ConnectionSlot {
  explicit ConnectionSlot(std::shared_ptr<ConnectionCount> count) : count_(std::move(count)) {}
  ~ConnectionSlot() { count_->release(); }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;

 private:
  std::shared_ptr<ConnectionCount> count_;
};

class PistacheHandler : public P::Http::Handler {
 public:
  HTTP_PROTOTYPE(PistacheHandler)

  PistacheHandler(std::shared_ptr<WorkQueue> queue, std::shared_ptr<std::atomic<bool>> stopping,
                  std::shared_ptr<ConnectionCount> connections, bool access_log)
      : queue_(std::move(queue)),
        stopping_(std::move(stopping)),
        connections_(std::move(connections)),
        access_log_(access_log) {}

  // Runs on the reactor thread that owns the new connection, before it is polled. Pistache's own
  // Http::Handler::onConnection is private, so what it does in 0.0.5 (give the peer its request
  // parser) is done here; then the connection takes a slot, or is refused.
  void onConnection(const std::shared_ptr<P::Tcp::Peer>& peer) override {
    peer->putData(ParserData, std::make_shared<P::Http::RequestParser>(getMaxRequestSize()));
    if (!connections_->try_take()) {
      refuse(peer->fd());
      return;
    }
    // Released when Pistache drops the peer, whichever way it closes it (a client's close, a
    // reset, "Connection: close", a timeout): the peer's data dies with the peer.
    peer->putData(kSlotKey, std::make_shared<ConnectionSlot>(connections_));
  }

  // Pistache 0.0.5's Http::Handler::onInput, rewritten: its own answers to a request it cannot
  // parse or that exceeds maxRequestSize are plain text ("Request exceeded maximum buffer size",
  // "Unknown HTTP request method"), a parse failure that is not an HttpError is a 500 with the
  // exception's text, and the connection stays open to parse the rest of a refused body as the
  // next request. The original is private (it cannot be called from here), so its few lines are
  // repeated (feed, parse, hand a complete request to onRequest) and only the error path differs:
  // a problem+json answer with a stable code, then the connection is closed.
  void onInput(const char* buffer, size_t length,
               const std::shared_ptr<P::Tcp::Peer>& peer) override {
    if (const auto rejected = peer->tryGetData(kRejectedKey)) {
      // The rest of a refused request: discarded. A client still sending long after its answer
      // is cut off.
      if (Clock::now() - static_cast<Rejected*>(rejected.get())->at > kLingerAfterRejection) {
        ::shutdown(peer->fd(), SHUT_RDWR);
      }
      return;
    }
    const auto parser = getParser(peer);
    auto& request = parser->request;
    try {
      if (!parser->feed(buffer, length)) {
        // Still in the request line or the headers: 431; in the body: 413.
        const bool in_body =
            parser->step() != nullptr && parser->step()->id() == P::Http::Private::BodyStep::Id;
        reject(peer, request.version(),
               in_body ? problem(Problem::body_too_large, "the request is over " +
                                                              std::to_string(getMaxRequestSize()) +
                                                              " bytes")
                       : problem(Problem::headers_too_large,
                                 "the request line and headers are over " +
                                     std::to_string(getMaxRequestSize()) + " bytes"));
        parser->reset();
        return;
      }
      if (parser->parse() != P::Http::Private::State::Done) return;
      P::Http::ResponseWriter writer(request.version(), transport(), this, peer);
      request.copyAddress(peer->address());
      peer->setIdle(false);
      onRequest(request, std::move(writer));
      parser->reset();
    } catch (const P::Http::HttpError& error) {
      reject(peer, request.version(), problem_of_parse_error(error));
      parser->reset();
    } catch (const std::exception& error) {
      // Pistache's parser throws std::runtime_error for a bad chunk size, std::length_error or
      // bad_alloc for an absurd Content-Length: all the client's doing.
      reject(peer, request.version(),
             problem(Problem::malformed_request, "the request could not be parsed"));
      parser->reset();
    }
  }

  // Runs on a reactor thread: copy the request out and hand it to a worker, nothing more.
  void onRequest(const P::Http::Request& request, P::Http::ResponseWriter writer) override {
    // A refused connection whose request was already in flight: it is being closed, not served.
    if (const auto peer = writer.getPeer(); !peer || !peer->tryGetData(kSlotKey)) return;
    auto job = std::make_unique<Job>(Job{HttpRequest{}, std::move(writer), true, access_log_});
    try {
      job->keep_alive = wants_keep_alive(request);
      job->request = convert(request);
    } catch (const std::exception&) {
      write(*job, problem(Problem::bad_request, "the request could not be read"));
      return;
    }
    // Pistache 0.0.5 reads "Content-Length: many" as 0 and goes on: the next request would then
    // start inside this one's body. Refused, and the connection closed.
    if (!content_length_is_decimal(request)) {
      job->keep_alive = false;
      write(*job, problem(Problem::malformed_request, "Content-Length is not a decimal number"));
      return;
    }
    if (stopping_->load()) {
      write(*job, problem(Problem::overloaded, "the service is shutting down"));
      return;
    }
    if (auto refused = queue_->push(std::move(job))) {
      write(*refused, problem(Problem::overloaded, "too many requests are waiting"));
    }
  }

  void onTimeout(const P::Http::Request&, P::Http::ResponseWriter writer) override {
    Job job{HttpRequest{}, std::move(writer), false, access_log_};
    write(job, problem(Problem::bad_request, "the request was not received in time"));
  }

 private:
  static constexpr const char* kSlotKey = "order.connection_slot";
  static constexpr const char* kRejectedKey = "order.rejected";
  static constexpr auto kLingerAfterRejection = std::chrono::seconds(2);
  struct Rejected {
    Clock::time_point at = Clock::now();
  };

  // Pistache's parse errors by its reason text (0.0.5 raises them all as 400 but a transfer
  // coding it lacks, 501).
  static HttpResponse problem_of_parse_error(const P::Http::HttpError& error) {
    const std::string reason = error.reason();
    if (reason == "Unknown HTTP request method" ||
        error.code() == static_cast<int>(P::Http::Code::Not_Implemented)) {
      return problem(Problem::method_not_implemented,
                     reason == "Unknown HTTP request method"
                         ? "the method is not one of HTTP's"
                         : "the Transfer-Encoding is not supported; send chunked or a "
                           "Content-Length");
    }
    return problem(Problem::malformed_request, "the request is not well-formed HTTP/1.1");
  }

  // An answer to a request that could not be read: sent at once from the reactor (no worker
  // needed), with "Connection: close", and the rest of the connection's input discarded.
  void reject(const std::shared_ptr<P::Tcp::Peer>& peer, P::Http::Version version,
              const HttpResponse& response) {
    peer->putData(kRejectedKey, std::make_shared<Rejected>());
    if (!peer->tryGetData(kSlotKey)) return;  // a refused connection, already being closed
    Job job{HttpRequest{"?", "?", {}, {}, {}},
            P::Http::ResponseWriter(version, transport(), this, peer), false, access_log_};
    write(job, response, /*read_too=*/false);
  }

  // Past the cap: a short 503 written straight to the socket (it is fresh, so its send buffer
  // takes it whole), then both directions shut. Pistache then reads EOF and closes the
  // descriptor on its own path; closing it here would race its bookkeeping of that descriptor.
  void refuse(int fd) {
    static constexpr std::string_view kRefusal =
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/problem+json\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n"
        "Content-Length: 150\r\n"
        "\r\n"
        R"({"type":"/problems/overloaded","title":"The service is overloaded; retry later",)"
        R"("status":503,"code":"overloaded","detail":"too many open connections"})";
    static_assert(kRefusal.size() - kRefusal.find("\r\n\r\n") - 4 == 150);
    [[maybe_unused]] const auto sent =
        ::send(fd, kRefusal.data(), kRefusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(fd, SHUT_RDWR);
    connections_->note_refusal();
  }

  std::shared_ptr<WorkQueue> queue_;
  std::shared_ptr<std::atomic<bool>> stopping_;
  std::shared_ptr<ConnectionCount> connections_;
  bool access_log_ = true;
};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  HandlerFactory factory;
  std::shared_ptr<WorkQueue> queue;
  std::shared_ptr<std::atomic<bool>> stopping = std::make_shared<std::atomic<bool>>(false);
  std::unique_ptr<P::Http::Endpoint> endpoint;
  std::vector<std::thread> workers;
  bool running = false;

  void work() {
    RequestHandler handler;
    try {
      handler = factory();
    } catch (const std::exception& error) {
      log::error("http", "worker could not start", {{"error", error.what()}});
    }
    while (auto job = queue->pop()) {
      try {
        write(*job, handler ? handler(job->request)
                            : problem(Problem::internal_error, "the worker is not ready"));
      } catch (...) {
        // handler() itself never throws (Api::handle is the edge); write() swallows send errors.
      }
      queue->done();
    }
  }
};

Server::Server(ServerOptions options, HandlerFactory factory) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->factory = std::move(factory);
  impl_->queue = std::make_shared<WorkQueue>(impl_->options.queue_limit);
}

Server::~Server() { shutdown(0); }

void Server::start() {
  const ServerOptions& o = impl_->options;
  P::Address address(o.host, P::Port(o.port));
  auto endpoint = std::make_unique<P::Http::Endpoint>(address);
  auto pistache_options = P::Http::Endpoint::options()
                              .threads(o.reactor_threads)
                              .flags(P::Tcp::Options::ReuseAddr)
                              .maxRequestSize(o.max_request_bytes)
                              .headerTimeout(std::chrono::milliseconds(o.header_timeout_ms))
                              .bodyTimeout(std::chrono::milliseconds(o.body_timeout_ms));
  endpoint->init(pistache_options);
  endpoint->setHandler(std::make_shared<PistacheHandler>(
      impl_->queue, impl_->stopping, std::make_shared<ConnectionCount>(o.max_connections),
      o.access_log));
  for (int i = 0; i < o.workers; ++i) impl_->workers.emplace_back([this] { impl_->work(); });
  impl_->running = true;
  try {
    endpoint->serveThreaded();
  } catch (const std::exception& error) {
    shutdown(0);
    throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                             error.what());
  }
  impl_->endpoint = std::move(endpoint);
}

void Server::shutdown(int drain_timeout_ms) {
  if (!impl_->running) return;
  impl_->running = false;
  impl_->stopping->store(true);
  impl_->queue->wait_idle(std::chrono::milliseconds(drain_timeout_ms));
  // Workers hold writers into Pistache's transport: close the queue and join them before the
  // endpoint (and its transport) goes away.
  impl_->queue->close();
  for (auto& worker : impl_->workers) worker.join();
  impl_->workers.clear();
  if (impl_->endpoint) impl_->endpoint->shutdown();
  impl_->endpoint.reset();
}

}  // namespace order::http
