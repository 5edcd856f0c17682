// GET /audit: the audit page, a static page of the binary that reads the API from the browser.
#include "adapters/http/audit_page.hpp"

#include <cstdio>
#include <map>

#include "adapters/http/api.hpp"
#include "adapters/http/problem.hpp"

namespace order::http {
namespace {

// The page runs only its own script and style and talks only to this service: whatever text an
// event carries, no other origin's code runs and nothing leaves for another origin.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Served {
  std::string_view body;
  std::string content_type;
  std::string etag;
};

std::string content_type_of(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  return "text/javascript; charset=utf-8";
}

// FNV-1a, 64 bits, of the file: the ETag changes with the binary's copy of the page and only then.
std::string etag_of(std::string_view body) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : body) hash = (hash ^ c) * 0x100000001b3ULL;
  char text[19];
  std::snprintf(text, sizeof text, "\"%016llx\"", static_cast<unsigned long long>(hash));
  return text;
}

const std::map<std::string_view, Served>& served_files() {
  static const std::map<std::string_view, Served> kServed = [] {
    std::map<std::string_view, Served> out;
    for (const EmbeddedFile& file : audit_files()) {
      out.emplace(file.name, Served{file.body, content_type_of(file.name), etag_of(file.body)});
    }
    return out;
  }();
  return kServed;
}

HttpResponse serve(std::string_view name) {
  const auto& files = served_files();
  const auto it = files.find(name);
  if (it == files.end()) return problem(Problem::not_found, "the audit page was not built in");
  const Served& file = it->second;
  HttpResponse response{200, file.content_type, {}, std::string(file.body)};
  // Revalidated on every use (the server answers 304 when If-None-Match names the ETag), so a
  // new binary's page is never mixed with an old cached script.
  response.with_header("Cache-Control", "no-cache")
      .with_header("ETag", file.etag)
      .with_header("Content-Security-Policy", kContentSecurityPolicy)
      .with_header("X-Content-Type-Options", "nosniff")
      .with_header("Referrer-Policy", "no-referrer");
  return response;
}

}  // namespace

HttpResponse audit_page(Services&, Context&) { return serve("index.html"); }
HttpResponse audit_script(Services&, Context&) { return serve("audit.js"); }
HttpResponse audit_style(Services&, Context&) { return serve("audit.css"); }

}  // namespace order::http
