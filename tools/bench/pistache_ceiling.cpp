// The read scenario's ceiling: the least a Pistache 0.0.5 server can do per GET, with the
// service's own server options (reactor threads, request limits, timeouts) and the same response
// (status, headers, body size), answered on the reactor thread with no database, worker or
// routing. tools/bench/bench.py runs it beside order-service in the same sitting: GET
// /orders/{id} is measured against this.
#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/http_header.h>
#include <signal.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "adapters/http/server.hpp"
#include "tools/bench/named_header.hpp"

namespace {

namespace P = Pistache;

constexpr const char* kUsage =
    "usage: order-pistache-ceiling --port PORT --body-bytes N [--header 'Name: value']...\n"
    "  answers every request with 200, the headers given (Content-Type among them, as the\n"
    "  service sends it) and a body of N bytes, on as many reactor threads as order-service's\n"
    "  HTTP server, until SIGTERM or SIGINT.\n";

bool wants_keep_alive(const P::Http::Request& request) {
  const auto connection = request.headers().tryGet<P::Http::Header::Connection>();
  if (connection) return connection->control() == P::Http::ConnectionControl::KeepAlive;
  return request.version() == P::Http::Version::Http11;
}

class FixedAnswer final : public P::Http::Handler {
 public:
  HTTP_PROTOTYPE(FixedAnswer)

  FixedAnswer(std::shared_ptr<const std::vector<std::pair<std::string, std::string>>> headers,
              std::shared_ptr<const std::string> body)
      : headers_(std::move(headers)), body_(std::move(body)) {}

  // On the reactor thread, at once: the HTTP layer's own cost and nothing else.
  void onRequest(const P::Http::Request& request, P::Http::ResponseWriter writer) override {
    auto& headers = writer.headers();
    // Pistache 0.0.5 answers "Connection: close" to a request without a Connection header, and
    // wrk sends none: the service says keep-alive itself, and so does this.
    headers.remove<P::Http::Header::Connection>();
    headers.add<P::Http::Header::Connection>(wants_keep_alive(request)
                                                 ? P::Http::ConnectionControl::KeepAlive
                                                 : P::Http::ConnectionControl::Close);
    for (const auto& [name, value] : *headers_) {
      headers.add(std::make_shared<order::http::NamedHeader>(name, value));
    }
    writer.send(P::Http::Code::Ok, *body_);
  }

 private:
  std::shared_ptr<const std::vector<std::pair<std::string, std::string>>> headers_;
  std::shared_ptr<const std::string> body_;
};

bool parse_size(std::string_view text, std::size_t& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t port = 0;
  std::size_t body_bytes = 0;
  bool has_body = false;
  auto headers = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view flag = args[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (i + 1 >= args.size()) {
      std::cerr << kUsage;
      return 2;
    }
    const std::string_view value = args[++i];
    if (flag == "--port" && parse_size(value, port) && port > 0 && port < 65536) continue;
    if (flag == "--body-bytes" && parse_size(value, body_bytes)) {
      has_body = true;
      continue;
    }
    if (const auto colon = value.find(':'); flag == "--header" && colon != std::string_view::npos) {
      std::string_view header_value = value.substr(colon + 1);
      while (!header_value.empty() && header_value.front() == ' ') header_value.remove_prefix(1);
      headers->emplace_back(std::string(value.substr(0, colon)), std::string(header_value));
      continue;
    }
    std::cerr << "order-pistache-ceiling: cannot use " << flag << " " << value << "\n" << kUsage;
    return 2;
  }
  if (port == 0 || !has_body) {
    std::cerr << kUsage;
    return 2;
  }

  // Blocked before any thread starts, so every thread inherits the mask and sigwait gets them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // As the service: a client that goes away mid-answer is not a reason to die.
  std::signal(SIGPIPE, SIG_IGN);

  // The service's server options (adapters/http/server.hpp) from the same defaults it starts
  // with: the reactor thread count above all, since each reactor thread is one core's worth of
  // HTTP parsing and writing.
  const order::http::ServerOptions service;
  P::Http::Endpoint endpoint(P::Address("127.0.0.1", P::Port(static_cast<std::uint16_t>(port))));
  endpoint.init(P::Http::Endpoint::options()
                    .threads(service.reactor_threads)
                    .flags(P::Tcp::Options::ReuseAddr)
                    .maxRequestSize(service.max_request_bytes)
                    .headerTimeout(std::chrono::milliseconds(service.header_timeout_ms))
                    .bodyTimeout(std::chrono::milliseconds(service.body_timeout_ms)));
  endpoint.setHandler(
      P::Http::make_handler<FixedAnswer>(headers, std::make_shared<std::string>(body_bytes, 'x')));
  try {
    endpoint.serveThreaded();
  } catch (const std::exception& error) {
    std::cerr << "order-pistache-ceiling: cannot listen on 127.0.0.1:" << port << ": "
              << error.what() << "\n";
    return 1;
  }
  std::cout << "listening on 127.0.0.1:" << port << ", " << service.reactor_threads
            << " reactor thread(s), " << body_bytes << "-byte body, " << headers->size()
            << " header(s)\n"
            << std::flush;
  int received = 0;
  sigwait(&stop_signals, &received);
  endpoint.shutdown();
  return 0;
}
