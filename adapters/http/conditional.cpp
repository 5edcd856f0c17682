#include "adapters/http/conditional.hpp"

namespace order::http {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// An entity tag's opaque part ("3" of W/"3"), or nothing when `tag` is not an entity tag.
std::optional<std::string_view> opaque(std::string_view tag) {
  if (tag.starts_with("W/")) tag.remove_prefix(2);
  if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"') return std::nullopt;
  if (tag.substr(1, tag.size() - 2).find('"') != std::string_view::npos) return std::nullopt;
  return tag;
}

}  // namespace

bool none_match_names(std::string_view if_none_match, std::string_view etag) {
  if_none_match = trim(if_none_match);
  if (if_none_match == "*") return true;
  const auto current = opaque(etag);
  if (!current) return false;
  bool names = false;
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    const auto tag = opaque(trim(if_none_match.substr(0, comma)));
    if (!tag) return false;  // not a list of entity tags: no precondition a client meant
    names = names || *tag == *current;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return names;
}

std::optional<HttpResponse> not_modified(const HttpRequest& request, const HttpResponse& response) {
  if (request.method != "GET" || response.status != 200) return std::nullopt;
  const auto condition = request.header("if-none-match");
  if (!condition) return std::nullopt;
  for (const auto& [name, value] : response.headers) {
    if (name.size() != 4 || (name[0] | 0x20) != 'e' || (name[1] | 0x20) != 't' ||
        (name[2] | 0x20) != 'a' || (name[3] | 0x20) != 'g') {
      continue;
    }
    if (!none_match_names(*condition, value)) return std::nullopt;
    HttpResponse unchanged;
    unchanged.status = 304;
    unchanged.content_type.clear();
    unchanged.headers = response.headers;
    unchanged.route_method = response.route_method;
    unchanged.route = response.route;
    return unchanged;
  }
  return std::nullopt;
}

}  // namespace order::http
