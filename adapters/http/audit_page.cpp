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

// If-None-Match (RFC 9110 §13.1.2): "*", or a list of tags compared weakly.
bool matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

HttpResponse serve(std::string_view name, const Context& context) {
  const auto& files = served_files();
  const auto it = files.find(name);
  if (it == files.end()) return problem(Problem::not_found, "the audit page was not built in");
  const Served& file = it->second;
  const auto if_none_match = context.request.header("if-none-match");
  const bool fresh = if_none_match && matches(*if_none_match, file.etag);
  HttpResponse response{
      fresh ? 304 : 200, file.content_type, {}, fresh ? std::string() : std::string(file.body)};
  // Revalidated on every use (a 304 when unchanged), so a new binary's page is never mixed with
  // an old cached script.
  response.with_header("Cache-Control", "no-cache")
      .with_header("ETag", file.etag)
      .with_header("Content-Security-Policy", kContentSecurityPolicy)
      .with_header("X-Content-Type-Options", "nosniff")
      .with_header("Referrer-Policy", "no-referrer");
  return response;
}

}  // namespace

HttpResponse audit_page(Services&, Context& context) { return serve("index.html", context); }
HttpResponse audit_script(Services&, Context& context) { return serve("audit.js", context); }
HttpResponse audit_style(Services&, Context& context) { return serve("audit.css", context); }

}  // namespace order::http
