// Conditional GET (RFC 9110, 13.1.2): a client that holds a representation sends its ETag in
// If-None-Match, and gets 304 (Not Modified) without the body when it is still current.
#pragma once

#include <optional>
#include <string_view>

#include "adapters/http/http_types.hpp"

namespace order::http {

// Whether If-None-Match's value names `etag` ("*", or a list of entity tags compared weakly:
// W/"3" names "3"). A value that is not a list of entity tags names nothing.
bool none_match_names(std::string_view if_none_match, std::string_view etag);

// The 304 that answers `request` (a GET, or a HEAD served as one) instead of `response` when
// `response` is a 200 with an ETag that the request's If-None-Match names: the same headers
// (ETag, Cache-Control and the request's own), no body. Nothing otherwise.
std::optional<HttpResponse> not_modified(const HttpRequest& request, const HttpResponse& response);

}  // namespace order::http
