// Pistache ⇄ HttpRequest/HttpResponse, the worker pool, and the workarounds for Pistache 0.0.5.
#include "adapters/http/server.hpp"

#include <pistache/http.h>
#include <pistache/listener.h>
#include <pistache/peer.h>
#include <pistache/transport.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "adapters/http/api.hpp"
#include "adapters/http/conditional.hpp"
#include "adapters/http/problem.hpp"
#include "adapters/log.hpp"
#include "adapters/metrics.hpp"

namespace order::http {
namespace {

namespace P = Pistache;

using Clock = std::chrono::steady_clock;

constexpr int kKeepOpen = -1;  // an answer's `shut`: the connection stays open after it

// An answer on its way from a worker to the reactor thread that owns its connection.
struct Outgoing {
  std::weak_ptr<P::Tcp::Peer> peer;
  std::uint64_t seq = 0;  // the request's place on its connection: answers go out in this order
  std::string bytes;      // the whole HTTP response
  int shut = kKeepOpen;   // then SHUT_RDWR, or SHUT_WR (the rest of the input is read and dropped)
};

class Transport;

struct Job {
  HttpRequest request;
  std::weak_ptr<P::Tcp::Peer> peer;
  // Shared: an answer finished after the reactors stopped (a load outliving the shutdown's
  // drain) still has an outbox to go to, though no reactor will send it.
  std::shared_ptr<Transport> transport;
  std::uint64_t seq = 0;
  P::Http::Version version = P::Http::Version::Http11;
  bool keep_alive = true;
  bool access_log = true;
  Clock::time_point received = Clock::now();
  bool head = false;  // a HEAD request, served as its GET: the answer goes without its body
};

class WorkQueue {
 public:
  explicit WorkQueue(std::size_t limit) : limit_(limit) {}

  // Returns the job back when it cannot be queued: closed, or `limit` requests already waiting
  // or in progress (a job whose answer another thread finishes stays in progress until then, so
  // requests answered later, from a worker or a reactor, count against the same bound).
  std::unique_ptr<Job> push(std::unique_ptr<Job> job) {
    {
      std::lock_guard lock(mutex_);
      if (closed_ || full()) return job;
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

  // Counts a job answered elsewhere (on a reactor) as running, as pop() does; false once the
  // queue is closed or full.
  bool adopt() {
    std::lock_guard lock(mutex_);
    if (closed_ || full()) return false;
    ++running_;
    return true;
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
  bool full() const { return jobs_.size() + running_ >= limit_; }

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

// A query name or value with its %XX escapes decoded (Pistache 0.0.5 hands them over raw), so
// `as_of=2025-09-15T02:34:20%2B02:00` from a client that escapes `+` means what it says. A `+`
// stays a `+` (it is a space only in form bodies), and a `%` not followed by two hex digits
// stays as written, for the parameter's own check to refuse.
std::string percent_decoded(const std::string& text) {
  if (text.find('%') == std::string::npos) return text;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The path of a request target in absolute form ("http://host:8080/orders/1"), which a server
// must accept as well as the usual origin form (RFC 9112, 3.2.2); the target itself otherwise.
std::string origin_form(std::string target) {
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string::npos || target.front() == '/') return target;
  const std::string scheme = lower(target.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return target;
  const auto path = target.find('/', scheme_end + 3);
  return path == std::string::npos ? "/" : target.substr(path);
}

// A request whose method Pistache's parser does not know would end in its parse error. It is
// answered as the router answers a method a resource does not take: 405 with Allow, or 404 where
// there is no resource. Nothing for a request line that is not HTTP/1.x with a token for its
// method: Pistache's 400 answers that.
std::optional<HttpResponse> unknown_method(std::string_view request_line) {
  const auto first = request_line.find(' ');
  const auto last = request_line.rfind(' ');
  if (first == std::string_view::npos || last <= first + 1 || first == 0) return std::nullopt;
  const auto method = request_line.substr(0, first);
  const auto version = request_line.substr(last + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return std::nullopt;
  static constexpr std::string_view kParsed[] = {"OPTIONS", "GET",    "POST",  "HEAD",   "PUT",
                                                 "PATCH",   "DELETE", "TRACE", "CONNECT"};
  if (std::find(std::begin(kParsed), std::end(kParsed), method) != std::end(kParsed)) {
    return std::nullopt;
  }
  constexpr std::string_view kTokenSymbols = "!#$%&'*+-.^_`|~";
  const bool token = method.size() <= 32 && std::all_of(method.begin(), method.end(), [&](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                              kTokenSymbols.find(c) != std::string_view::npos;
                     });
  if (!token) return std::nullopt;
  auto target = request_line.substr(first + 1, last - first - 1);
  target = target.substr(0, target.find('?'));
  const std::string path = origin_form(std::string(target));
  if (path.empty() || path.front() != '/') return std::nullopt;
  return Api::not_routed(method, path.size() > 256 ? path.substr(0, 256) : path);
}

HttpRequest convert(const P::Http::Request& request) {
  HttpRequest out;
  out.method = P::Http::methodString(request.method());
  out.path = origin_form(request.resource());
  const auto& query = request.query();
  for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it) {
    out.query.emplace(percent_decoded(it->first), percent_decoded(it->second));
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
            {{"method", job.head ? std::string("HEAD") : job.request.method},
             {"path", std::string_view(job.request.path).substr(0, kMaxPathBytes)},
             {"status", std::string_view(status, static_cast<std::size_t>(status_end - status))},
             {"duration_ms", std::string_view(duration, static_cast<std::size_t>(end - duration))},
             {"request_id", request_id},
             {"trace_id", trace_id}});
}

bool wants_keep_alive(const P::Http::Request& request) {
  const auto connection = request.headers().tryGet<P::Http::Header::Connection>();
  if (connection) return connection->control() == P::Http::ConnectionControl::KeepAlive;
  return request.version() == P::Http::Version::Http11;
}

// The whole response, as it goes on the wire. A header value never carries a line break (it would
// start a header of its own), whatever a handler put in it.
// Without the body for a HEAD request; its Content-Length is still the GET's (RFC 9110, 9.3.2).
std::string serialize(P::Http::Version version, const HttpResponse& response, bool keep_alive,
                      bool head = false) {
  std::size_t size = 128 + response.content_type.size() + response.body.size();
  for (const auto& [name, value] : response.headers) size += name.size() + value.size() + 4;
  std::string out;
  out.reserve(size);
  out += version == P::Http::Version::Http10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  char number[24];
  out.append(number, std::to_chars(number, number + sizeof number, response.status).ptr);
  out += ' ';
  out += P::Http::codeString(static_cast<P::Http::Code>(response.status));
  out += "\r\n";
  const auto header = [&out](std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    for (const char c : value) out += (c == '\r' || c == '\n') ? ' ' : c;
    out += "\r\n";
  };
  for (const auto& [name, value] : response.headers) header(name, value);
  // A 304 has no body, and says nothing of one (RFC 9110, 15.4.5): no type, no length.
  if (response.status != 304) header("Content-Type", response.content_type);
  header("Connection", keep_alive ? "Keep-Alive" : "Close");
  if (response.status != 304) {
    header("Content-Length",
           std::string_view(
               number, static_cast<std::size_t>(
                           std::to_chars(number, number + sizeof number, response.body.size()).ptr -
                           number)));
  }
  out += "\r\n";
  if (!head) out += response.body;
  return out;
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

// A connection's state, kept in its peer's data and touched only on the reactor thread that owns
// it. It holds the connection's slot, so the slot is given back when Pistache drops the peer,
// whichever way the connection ends (a client's close, a reset, "Connection: close", a timeout).
struct Connection {
  explicit Connection(std::shared_ptr<ConnectionCount> count) : slot(std::move(count)) {}

  ConnectionSlot slot;
  Clock::time_point opened = Clock::now();
  Clock::time_point idle_since = opened;      // the last answer went out
  std::optional<Clock::time_point> partial;   // the first bytes of a request still arriving
  std::optional<Clock::time_point> rejected;  // an unreadable request was answered at
  std::uint64_t next_seq = 0;                 // for the next request read
  std::uint64_t next_to_send = 0;             // the answer due next on the wire
  std::map<std::uint64_t, Outgoing> waiting;  // answers done before an earlier one
  int queued = 0;                             // answers in Pistache's write queue (a slow reader)
  int shut_after_queued = kKeepOpen;
  bool closing = false;  // the request just read is the last one: later input is not served
  bool shut = false;     // the last answer went out (or is queued): nothing more is written
  bool read_shut = false;
  std::string input;           // the start of a request not all arrived
  bool body_arriving = false;  // its header block is in; its body is not
  bool continued = false;      // it asked for 100 (Continue) and was sent it

  bool busy() const { return next_seq != next_to_send || queued > 0; }
};

constexpr const char* kConnectionKey = "order.connection";

std::shared_ptr<Connection> connection_of(const P::Tcp::Peer& peer) {
  return std::static_pointer_cast<Connection>(peer.tryGetData(kConnectionKey));
}

struct Timeouts {
  std::chrono::milliseconds header;
  std::chrono::milliseconds body;
  std::chrono::milliseconds keep_alive;
};

// Answers posted by workers and not yet on the wire (or dropped), across every reactor: shutdown
// waits for them.
using Undelivered = std::shared_ptr<std::atomic<int>>;

// Pistache 0.0.5's transport with every answer written from its own reactor thread.
//
// Pistache's own way, a worker's ResponseWriter::send, hands the answer to the reactor through a
// queue whose wake-up can be lost (the reactor drains the queue's eventfd after finding the queue
// empty, eating the wake-up of a write pushed in between: that answer waits for the next one), and
// returns a promise whose continuation, attached from the worker while the reactor resolves it,
// races the reactor's unlocked walk of the continuations (a crash under a few clients sending
// "Connection: close"). Here a worker posts the finished bytes to an outbox whose eventfd is read
// before the outbox is emptied, so no wake-up is lost; the reactor then checks the peer is still
// the one that sent the request (a descriptor number is reused as soon as it is closed), puts
// answers in request order (so pipelined requests are answered in order), and writes them
// straight to the socket. Only what the socket does not take at once goes through Pistache's
// write queue, pushed from the reactor itself.
//
// It also replaces Pistache's endpoint transport for idle connections: a request whose line and
// headers (or body) are not in after the header (or body) timeout gets a problem+json 408 and the
// connection is closed; a keep-alive connection idle for the keep-alive timeout is closed.
class Transport final : public P::Tcp::Transport, public std::enable_shared_from_this<Transport> {
 public:
  Transport(const std::shared_ptr<P::Tcp::Handler>& handler, Timeouts timeouts,
            Undelivered undelivered)
      : P::Tcp::Transport(handler),
        handler_(handler),
        timeouts_(timeouts),
        undelivered_(std::move(undelivered)) {}

  ~Transport() override {
    if (outbox_fd_ != -1) ::close(outbox_fd_);
    if (timer_fd_ != -1) ::close(timer_fd_);
    // Answers never processed (the reactor stopped): no longer waited for.
    undelivered_->fetch_sub(static_cast<int>(outbox_.size()));
  }
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  std::shared_ptr<P::Aio::Handler> clone() const override {
    return std::make_shared<Transport>(handler_->clone(), timeouts_, undelivered_);
  }

  void registerPoller(P::Polling::Epoll& poller) override {
    P::Tcp::Transport::registerPoller(poller);
    outbox_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (outbox_fd_ == -1 || timer_fd_ == -1) {
      throw std::system_error(errno, std::generic_category(), "cannot create the reactor's fds");
    }
    constexpr long kTickNs = 250'000'000;  // idle connections are looked at 4 times a second
    itimerspec tick{};
    tick.it_value.tv_nsec = kTickNs;
    tick.it_interval.tv_nsec = kTickNs;
    ::timerfd_settime(timer_fd_, 0, &tick, nullptr);
    const P::Flags<P::Polling::NotifyOn> read(P::Polling::NotifyOn::Read);
    poller.addFd(outbox_fd_, read, P::Polling::Tag(outbox_fd_));
    poller.addFd(timer_fd_, read, P::Polling::Tag(timer_fd_));
  }

  void onReady(const P::Aio::FdSet& fds) override {
    for (const auto& entry : fds) {
      if (entry.getTag() == P::Polling::Tag(outbox_fd_)) {
        drain_outbox();
      } else if (entry.getTag() == P::Polling::Tag(timer_fd_)) {
        std::uint64_t ticks = 0;
        [[maybe_unused]] const auto got = ::read(timer_fd_, &ticks, sizeof ticks);
        close_idle_connections();
      }
    }
    P::Tcp::Transport::onReady(fds);  // leaves the two descriptors above alone
  }

  // Any thread: hands an answer to this reactor. Only the answer that finds the outbox empty
  // signals the eventfd: the reactor reads the eventfd before it takes the outbox, so the answers
  // behind it go with it, and a burst of answers (a group load's batch) wakes the reactor once.
  void post(Outgoing out) {
    undelivered_->fetch_add(1);
    bool first = false;
    {
      std::lock_guard lock(mutex_);
      first = outbox_.empty();
      outbox_.push_back(std::move(out));
    }
    if (!first) return;
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto put = ::write(outbox_fd_, &one, sizeof one);
  }

  // On the reactor thread: "100 Continue" to a request whose header block asked for it, once it
  // is known that the request will be read (RFC 9110, 10.1.1; .NET Framework's clients ask with
  // every POST and wait 350 ms for it before sending the body anyway). Only when no earlier
  // request on the connection is still unanswered: an interim answer must not overtake a final
  // one (that client then waits, as it would for a server that never sends the 100).
  void send_continue(const std::shared_ptr<P::Tcp::Peer>& peer, Connection& c) {
    if (c.next_seq != c.next_to_send) return;
    send(peer, c, "HTTP/1.1 100 Continue\r\n\r\n", kKeepOpen);
  }

 private:
  void drain_outbox() {
    // The count first, then the outbox: a post after the read leaves the count set, and the
    // reactor comes back for it.
    std::uint64_t count = 0;
    [[maybe_unused]] const auto got = ::read(outbox_fd_, &count, sizeof count);
    std::vector<Outgoing> ready;
    {
      std::lock_guard lock(mutex_);
      ready.swap(outbox_);
    }
    for (auto& out : ready) {
      accept(std::move(out));
      undelivered_->fetch_sub(1);
    }
  }

  // The peer, if it is still this transport's connection for its descriptor.
  std::shared_ptr<P::Tcp::Peer> live(const std::weak_ptr<P::Tcp::Peer>& weak) const {
    auto peer = weak.lock();
    if (!peer) return nullptr;
    const auto it = peers.find(peer->fd());
    return it != peers.end() && it->second == peer ? peer : nullptr;
  }

  void accept(Outgoing out) {
    const auto peer = live(out.peer);
    if (!peer) return;  // the client went away: nothing to tell anyone
    const auto connection = connection_of(*peer);
    if (!connection) return;
    Connection& c = *connection;
    if (out.seq != c.next_to_send) {  // an earlier request's answer is not done yet
      c.waiting.emplace(out.seq, std::move(out));
      return;
    }
    ++c.next_to_send;
    send(peer, c, std::move(out.bytes), out.shut);
    for (auto it = c.waiting.begin(); it != c.waiting.end() && it->first == c.next_to_send;
         it = c.waiting.erase(it)) {
      ++c.next_to_send;
      send(peer, c, std::move(it->second.bytes), it->second.shut);
    }
    if (!c.busy()) c.idle_since = Clock::now();
  }

  void send(const std::shared_ptr<P::Tcp::Peer>& peer, Connection& c, std::string bytes, int shut) {
    if (c.shut) return;
    const int fd = peer->fd();
    std::size_t sent = 0;
    if (c.queued == 0) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        // A reset or a broken pipe: Pistache reads the error and drops the peer.
        c.shut = true;
        return;
      }
      sent = n < 0 ? 0 : static_cast<std::size_t>(n);
    }
    if (shut != kKeepOpen) c.shut = true;
    if (sent == bytes.size()) {
      if (shut != kKeepOpen) ::shutdown(fd, shut);
      c.read_shut = c.read_shut || shut == SHUT_RDWR;
      return;
    }
    // A slow reader: the rest goes through Pistache's write queue, pushed from this thread, and
    // every later answer on this connection follows it there, in order.
    ++c.queued;
    if (shut != kKeepOpen) c.shut_after_queued = shut;
    const std::size_t rest = bytes.size() - sent;
    bytes.erase(0, sent);
    const std::weak_ptr<P::Tcp::Peer> weak = peer;
    auto written = [this, weak] {
      const auto alive = live(weak);
      if (!alive) return;
      const auto connection = connection_of(*alive);
      if (!connection || --connection->queued > 0) return;
      if (connection->shut_after_queued != kKeepOpen) {
        ::shutdown(alive->fd(), connection->shut_after_queued);
        connection->read_shut = connection->shut_after_queued == SHUT_RDWR;
        connection->shut_after_queued = kKeepOpen;
      }
      if (!connection->busy()) connection->idle_since = Clock::now();
    };
    asyncWrite(fd, P::RawBuffer(std::move(bytes), rest))
        .then([written](ssize_t) { written(); },
              [written](const std::exception_ptr&) { written(); });
  }

  void close_idle_connections() {
    const auto now = Clock::now();
    std::vector<std::pair<std::shared_ptr<P::Tcp::Peer>, bool>> expired;  // peer, mid-request
    for (const auto& [fd, peer] : peers) {
      const auto connection = connection_of(*peer);
      if (!connection || connection->busy() || connection->read_shut) continue;
      Connection& c = *connection;
      if (c.shut) {
        // Its last answer went out with only our sending side shut, so that a request still
        // arriving is read and dropped: a client that neither sends nor closes is cut off.
        if (now - c.idle_since > kLingerAfterLastAnswer) {
          ::shutdown(fd, SHUT_RDWR);
          c.read_shut = true;
        }
        continue;
      }
      if (c.partial) {
        if (now - *c.partial > (c.body_arriving ? timeouts_.body : timeouts_.header)) {
          expired.emplace_back(peer, true);
        }
      } else if (c.next_seq == 0) {
        if (now - c.opened > timeouts_.header) expired.emplace_back(peer, true);
      } else if (now - c.idle_since > timeouts_.keep_alive) {
        expired.emplace_back(peer, false);
      }
    }
    for (const auto& [peer, mid_request] : expired) {
      const auto connection = connection_of(*peer);
      connection->closing = true;
      if (!mid_request) {
        connection->shut = connection->read_shut = true;
        ::shutdown(peer->fd(), SHUT_RDWR);  // Pistache reads EOF and drops the peer
        continue;
      }
      accept({peer, connection->next_seq++,
              serialize(P::Http::Version::Http11,
                        problem(Problem::request_timeout, "the request was not received in time"),
                        false),
              SHUT_RDWR});
    }
  }

  static constexpr auto kLingerAfterLastAnswer = std::chrono::seconds(2);

  std::shared_ptr<P::Tcp::Handler> handler_;  // the base's is private; clone() needs it
  Timeouts timeouts_;
  Undelivered undelivered_;
  int outbox_fd_ = -1;
  int timer_fd_ = -1;
  std::mutex mutex_;
  std::vector<Outgoing> outbox_;
};

void write(Job& job, const HttpResponse& answer, int shut = SHUT_RDWR) {
  // A client whose copy is current (If-None-Match names the ETag) gets a 304 instead.
  const std::optional<HttpResponse> unchanged = not_modified(job.request, answer);
  const HttpResponse& response = unchanged ? *unchanged : answer;
  job.transport->post({job.peer, job.seq,
                       serialize(job.version, response, job.keep_alive, job.head),
                       job.keep_alive ? kKeepOpen : shut});
  metrics().observe_request(response.route_method, response.route, response.status,
                            std::chrono::duration<double>(Clock::now() - job.received).count());
  if (job.access_log) log_access(job, response);
}

class PistacheHandler : public P::Http::Handler {
 public:
  HTTP_PROTOTYPE(PistacheHandler)

  PistacheHandler(std::shared_ptr<WorkQueue> queue, std::shared_ptr<std::atomic<bool>> stopping,
                  std::shared_ptr<ConnectionCount> connections, bool access_log,
                  ReactorHandlerFactory on_reactor)
      : queue_(std::move(queue)),
        stopping_(std::move(stopping)),
        connections_(std::move(connections)),
        access_log_(access_log),
        on_reactor_factory_(std::move(on_reactor)) {}

  // Runs on the reactor thread that owns the new connection, before it is polled. Pistache's own
  // Http::Handler::onConnection is private, so what it does in 0.0.5 (give the peer its request
  // parser) is done here; then the connection takes a slot, or is refused.
  void onConnection(const std::shared_ptr<P::Tcp::Peer>& peer) override {
    peer->putData(ParserData, std::make_shared<P::Http::RequestParser>(getMaxRequestSize()));
    if (!connections_->try_take()) {
      refuse(peer->fd());
      return;
    }
    peer->putData(kConnectionKey, std::make_shared<Connection>(connections_));
  }

  // Pistache 0.0.5's Http::Handler::onInput, rewritten. Its own answers to a request it cannot
  // parse or that exceeds maxRequestSize are plain text ("Request exceeded maximum buffer size",
  // "Unknown HTTP request method"), a parse failure that is not an HttpError is a 500 with the
  // exception's text, and whatever follows a complete request in the same read (a pipelined
  // request) is dropped with the parser's buffer, so its client waits forever. Here the input is
  // cut into requests first (the header block, then the body by its Content-Length or its chunks),
  // and the parser only ever sees one whole request. A request that cannot be cut out, or that
  // the parser refuses, gets a problem+json answer with a stable code, then the connection is
  // closed.
  void onInput(const char* buffer, size_t length,
               const std::shared_ptr<P::Tcp::Peer>& peer) override {
    const auto connection = connection_of(*peer);
    if (!connection) return;  // refused at the cap: being closed
    Connection& c = *connection;
    if (c.rejected) {
      // The rest of a refused request: discarded. A client still sending long after its answer
      // is cut off.
      if (Clock::now() - *c.rejected > kLingerAfterRejection) ::shutdown(peer->fd(), SHUT_RDWR);
      return;
    }
    if (c.closing) return;  // after "Connection: close": nothing more is read
    std::string_view input(buffer, length);
    if (!c.input.empty()) input = c.input.append(buffer, length);
    std::size_t used = 0;
    while (used < input.size() && !c.closing && !c.rejected) {
      // Line breaks before a request line are skipped (RFC 9112, 2.2).
      if (input[used] == '\r' || input[used] == '\n') {
        ++used;
        continue;
      }
      if (!c.partial) c.partial = Clock::now();
      Framing framing = frame(input.substr(used), c);
      if (framing.refusal) {
        reject(peer, c, P::Http::Version::Http11, *framing.refusal);
        break;
      }
      if (framing.size == 0) {  // the rest of it has not arrived yet
        if (framing.expects_continue && !c.continued) {
          c.continued = true;
          our_transport()->send_continue(peer, c);
        }
        break;
      }
      c.continued = false;
      parse(peer, c, input.substr(used, framing.size));
      used += framing.size;
    }
    if (c.closing || c.rejected || used == input.size()) {
      c.input.clear();
    } else if (c.input.empty()) {
      c.input.assign(input.substr(used));
    } else {
      c.input.erase(0, used);
    }
  }

  // Never called: onInput hands complete requests to serve().
  void onRequest(const P::Http::Request&, P::Http::ResponseWriter) override {}

 private:
  static constexpr auto kLingerAfterRejection = std::chrono::seconds(2);

  std::shared_ptr<Transport> our_transport() {
    return static_cast<Transport*>(transport())->shared_from_this();
  }

  // Where the request at the start of some input ends. Neither a size nor a refusal: it has not
  // all arrived.
  struct Framing {
    std::size_t size = 0;
    std::optional<HttpResponse> refusal;
    bool expects_continue = false;  // an HTTP/1.1 request with "Expect: 100-continue"
  };

  Framing frame(std::string_view input, Connection& c) const {
    const std::size_t limit = getMaxRequestSize();
    const std::size_t head_end = input.find("\r\n\r\n");
    c.body_arriving = head_end != std::string_view::npos;
    if (head_end == std::string_view::npos ? input.size() > limit : head_end + 4 > limit) {
      return {0, problem(Problem::headers_too_large, "the request line and headers are over " +
                                                         std::to_string(limit) + " bytes")};
    }
    if (head_end == std::string_view::npos) return {};
    const auto malformed = [](const std::string& detail) -> Framing {
      return {0, problem(Problem::malformed_request, detail)};
    };
    const std::string_view head = input.substr(0, head_end + 2);
    const std::string_view request_line = head.substr(0, head.find("\r\n"));
    const bool http_1_1 = request_line.ends_with(" HTTP/1.1");
    if (auto refused = unknown_method(request_line)) {
      return {0, std::move(*refused)};
    }
    std::optional<std::size_t> content_length;
    bool chunked = false;
    bool expects_continue = false;
    int hosts = 0;
    for (std::size_t at = head.find("\r\n");
         at != std::string_view::npos && at + 2 < head.size();) {
      const std::size_t next = head.find("\r\n", at + 2);
      const std::string_view line = head.substr(at + 2, next - at - 2);
      at = next;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        return malformed("the request is not well-formed HTTP/1.1");
      }
      const std::string name = lower(std::string(line.substr(0, colon)));
      if (name == "host") ++hosts;
      if (name != "content-length" && name != "transfer-encoding" && name != "expect") continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.remove_suffix(1);
      }
      if (name == "expect") {
        // An HTTP/1.0 client's expectation is ignored (RFC 9110, 10.1.1).
        expects_continue = lower(std::string(value)) == "100-continue" && http_1_1;
        continue;
      }
      if (name == "transfer-encoding") {
        if (lower(std::string(value)) != "chunked") {
          return {0, problem(Problem::unsupported_transfer_coding,
                             "the Transfer-Encoding is not supported; send chunked or a "
                             "Content-Length")};
        }
        if (chunked) return malformed("Transfer-Encoding is given twice");
        chunked = true;
        continue;
      }
      std::size_t parsed = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
      if (value.empty() || end != value.data() + value.size() ||
          (error != std::errc() && error != std::errc::result_out_of_range)) {
        return malformed("Content-Length is not a decimal number");
      }
      if (content_length) return malformed("Content-Length is given twice");
      content_length = error == std::errc() ? parsed : std::numeric_limits<std::size_t>::max();
    }
    if (chunked && content_length) return malformed("Content-Length beside Transfer-Encoding");
    // RFC 9112 (3.2): an HTTP/1.1 request names its host once; without it, or with two, it is
    // refused, so that no two parts of a chain of servers can read it as for different hosts.
    if (hosts != 1 && http_1_1) {
      return malformed(hosts == 0 ? "an HTTP/1.1 request needs a Host header"
                                  : "the Host header is given more than once");
    }
    const auto too_large = [limit] {
      return Framing{0, problem(Problem::body_too_large,
                                "the request is over " + std::to_string(limit) + " bytes")};
    };
    if (chunked) {
      const std::size_t size = chunked_size(input, head_end + 4, limit);
      if (size == kMalformed) return malformed("the chunked body is malformed");
      if (size == kTooLarge) return too_large();
      return {size, std::nullopt, expects_continue};
    }
    const std::size_t body = content_length.value_or(0);
    if (body > limit - (head_end + 4)) return too_large();
    const std::size_t size = head_end + 4 + body;
    return {size <= input.size() ? size : 0, std::nullopt, expects_continue};
  }

  static constexpr std::size_t kMalformed = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t kTooLarge = kMalformed - 1;

  // Where a chunked body starting at `at` ends (its last chunk, trailers and the empty line); 0
  // while it has not all arrived.
  static std::size_t chunked_size(std::string_view input, std::size_t at, std::size_t limit) {
    constexpr std::size_t kLongestSizeLine = 1024;  // a size, and extensions Pistache refuses
    const auto incomplete = [&] { return input.size() > limit ? kTooLarge : 0; };
    for (;;) {
      const std::size_t line_end = input.find("\r\n", at);
      if (line_end == std::string_view::npos) {
        return input.size() - at > kLongestSizeLine ? kMalformed : incomplete();
      }
      const std::string_view line = input.substr(at, line_end - at);
      const std::string_view digits = line.substr(0, line.find(';'));
      std::size_t size = 0;
      const auto [end, error] =
          std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
      if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
        return kMalformed;
      }
      at = line_end + 2;
      if (size > limit || at + size + 2 > limit) return kTooLarge;
      if (size == 0) {
        for (;;) {  // trailer lines, then the empty line
          const std::size_t trailer_end = input.find("\r\n", at);
          if (trailer_end == std::string_view::npos) return incomplete();
          if (trailer_end == at) return at + 2;
          at = trailer_end + 2;
        }
      }
      if (input.size() < at + size + 2) return incomplete();
      if (input.substr(at + size, 2) != "\r\n") return kMalformed;
      at += size + 2;
    }
  }

  // Gives the parser one whole request.
  void parse(const std::shared_ptr<P::Tcp::Peer>& peer, Connection& c, std::string_view bytes) {
    const auto parser = getParser(peer);
    auto& request = parser->request;
    try {
      if (!parser->feed(bytes.data(), bytes.size()) ||
          parser->parse() != P::Http::Private::State::Done) {
        reject(peer, c, request.version(),
               problem(Problem::malformed_request, "the request is not well-formed HTTP/1.1"));
        parser->reset();
        return;
      }
      c.partial.reset();
      c.body_arriving = false;
      request.copyAddress(peer->address());
      serve(request, peer, c);
      parser->reset();
    } catch (const P::Http::HttpError&) {
      // Every parse error of Pistache's is a 400: its 501s, for a method or a transfer coding it
      // does not know, never come, as frame() answers those first (405 or 404, and 400).
      reject(peer, c, request.version(),
             problem(Problem::malformed_request, "the request is not well-formed HTTP/1.1"));
      parser->reset();
    } catch (const std::exception& error) {
      // Pistache's parser throws std::runtime_error for a bad chunk size (an extension, which it
      // does not take), std::length_error or bad_alloc for what it cannot hold.
      reject(peer, c, request.version(),
             problem(Problem::malformed_request, "the request could not be parsed"));
      parser->reset();
    }
  }

  // On the reactor thread: copy the request out and hand it to a worker, nothing more.
  void serve(const P::Http::Request& request, const std::shared_ptr<P::Tcp::Peer>& peer,
             Connection& c) {
    auto job = std::make_unique<Job>(Job{HttpRequest{}, peer, our_transport(), c.next_seq++,
                                         request.version(), true, access_log_});
    try {
      job->keep_alive = wants_keep_alive(request);
      if (!job->keep_alive) c.closing = true;
      job->request = convert(request);
      // HEAD is GET without the body (RFC 9110, 9.3.2: every general-purpose server supports
      // both): served by the GET's route, on the same thread, answered with its headers alone.
      if (job->request.method == "HEAD") {
        job->request.method = "GET";
        job->head = true;
      }
    } catch (const std::exception&) {
      write(*job, problem(Problem::bad_request, "the request could not be read"));
      return;
    }
    if (stopping_->load()) {
      write(*job, problem(Problem::overloaded, "the service is shutting down"));
      return;
    }
    if (takes_here(job->request) && queue_->adopt()) {
      std::shared_ptr<Job> here = std::move(job);
      on_reactor_->handle(here->request, [here, queue = queue_](const HttpResponse& response) {
        write(*here, response);
        queue->done();
      });
      return;
    }
    if (auto refused = queue_->push(std::move(job))) {
      write(*refused, problem(Problem::overloaded, "too many requests are waiting"));
    }
  }

  // An answer to a request that could not be read, after the answers to those before it, with
  // "Connection: close". Only our sending side is shut: the rest of its input (a 10 MiB body may
  // still be arriving) is read and discarded, so the client reads the answer instead of a reset.
  void reject(const std::shared_ptr<P::Tcp::Peer>& peer, Connection& c, P::Http::Version version,
              const HttpResponse& response) {
    c.rejected = Clock::now();
    c.partial.reset();
    c.closing = true;
    Job job{HttpRequest{"?", "?", {}, {}, {}},
            peer,
            our_transport(),
            c.next_seq++,
            version,
            false,
            access_log_};
    write(job, response, SHUT_WR);
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

  // Whether this reactor answers `request` itself; its ReactorHandler is made on first use, on
  // this reactor's thread (each reactor has its own copy of this handler).
  bool takes_here(const HttpRequest& request) {
    if (!on_reactor_factory_) return false;
    if (!on_reactor_) {
      try {
        on_reactor_ = std::make_shared<ReactorHandler>(on_reactor_factory_());
      } catch (const std::exception& error) {
        log::error("http", "reactor handler could not start; workers answer every request",
                   {{"error", error.what()}});
        on_reactor_ = std::make_shared<ReactorHandler>();
      }
    }
    return on_reactor_->takes && on_reactor_->takes(request);
  }

  std::shared_ptr<WorkQueue> queue_;
  std::shared_ptr<std::atomic<bool>> stopping_;
  std::shared_ptr<ConnectionCount> connections_;
  bool access_log_ = true;
  ReactorHandlerFactory on_reactor_factory_;
  std::shared_ptr<ReactorHandler> on_reactor_;
};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  HandlerFactory factory;
  ReactorHandlerFactory on_reactor;
  std::shared_ptr<WorkQueue> queue;
  std::shared_ptr<std::atomic<bool>> stopping = std::make_shared<std::atomic<bool>>(false);
  Undelivered undelivered = std::make_shared<std::atomic<int>>(0);
  std::unique_ptr<P::Tcp::Listener> listener;
  std::vector<std::thread> workers;
  bool running = false;

  void work() {
    RequestHandler handler;
    try {
      handler = factory();
    } catch (const std::exception& error) {
      log::error("http", "worker could not start", {{"error", error.what()}});
    }
    while (std::shared_ptr<Job> job = queue->pop()) {
      // Runs once, here or on the thread that finishes a deferred answer; the job counts as
      // running until then, so a shutdown's drain waits for it.
      Respond respond = [job, queue = queue](const HttpResponse& response) {
        write(*job, response);
        queue->done();
      };
      if (!handler) {
        respond(problem(Problem::internal_error, "the worker is not ready"));
        continue;
      }
      handler(job->request, std::move(respond));  // never throws: Api::handle is the edge
    }
  }
};

std::uint64_t raise_open_files_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    const rlim_t soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = soft;
  }
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max()
                                         : static_cast<std::uint64_t>(limit.rlim_cur);
}

int connections_that_fit(std::uint64_t open_files, int wanted, int reserve) {
  const std::uint64_t reserved = static_cast<std::uint64_t>(std::max(reserve, 0));
  if (open_files <= reserved + 1) return 1;
  return static_cast<int>(
      std::min<std::uint64_t>(static_cast<std::uint64_t>(wanted), open_files - reserved));
}

Server::Server(ServerOptions options, HandlerFactory factory, ReactorHandlerFactory on_reactor)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->factory = std::move(factory);
  impl_->on_reactor = std::move(on_reactor);
  impl_->queue = std::make_shared<WorkQueue>(impl_->options.queue_limit);
}

Server::~Server() { shutdown(0); }

void Server::start() {
  const ServerOptions& o = impl_->options;
  auto listener = std::make_unique<P::Tcp::Listener>(P::Address(o.host, P::Port(o.port)));
  listener->init(static_cast<std::size_t>(o.reactor_threads),
                 P::Flags<P::Tcp::Options>(P::Tcp::Options::ReuseAddr));
  auto handler = std::make_shared<PistacheHandler>(
      impl_->queue, impl_->stopping, std::make_shared<ConnectionCount>(o.max_connections),
      o.access_log, impl_->on_reactor);
  handler->setMaxRequestSize(o.max_request_bytes);
  const Timeouts timeouts{std::chrono::milliseconds(o.header_timeout_ms),
                          std::chrono::milliseconds(o.body_timeout_ms),
                          std::chrono::milliseconds(o.keep_alive_timeout_ms)};
  listener->setTransportFactory([handler, timeouts, undelivered = impl_->undelivered] {
    return std::make_shared<Transport>(handler, timeouts, undelivered);
  });
  listener->setHandler(handler);
  for (int i = 0; i < o.workers; ++i) impl_->workers.emplace_back([this] { impl_->work(); });
  impl_->running = true;
  try {
    listener->bind();
    listener->runThreaded();
  } catch (const std::exception& error) {
    shutdown(0);
    throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                             error.what());
  }
  impl_->listener = std::move(listener);
}

void Server::shutdown(int drain_timeout_ms) {
  if (!impl_->running) return;
  impl_->running = false;
  impl_->stopping->store(true);
  const auto deadline = Clock::now() + std::chrono::milliseconds(drain_timeout_ms);
  impl_->queue->wait_idle(std::chrono::milliseconds(drain_timeout_ms));
  impl_->queue->close();
  for (auto& worker : impl_->workers) worker.join();
  impl_->workers.clear();
  // The last answers are with the reactors: let them reach the wire before the reactors stop.
  while (impl_->listener && impl_->undelivered->load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (impl_->listener) impl_->listener->shutdown();
  impl_->listener.reset();
}

}  // namespace order::http
