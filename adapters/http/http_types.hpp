// The HTTP request and response as plain data: the API is written and tested against these, and
// only server.cpp knows Pistache.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace order::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::optional<std::string_view> header(std::string_view lower_case_name) const {
    const auto it = headers.find(std::string(lower_case_name));
    if (it == headers.end()) return std::nullopt;
    return std::string_view(it->second);
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The route that answered, as metric labels: a method and a path template from the route
  // table (static strings), never the request's own path.
  std::string_view route_method = "other";
  std::string_view route = "unmatched";

  HttpResponse& with_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// Takes a request's answer: called exactly once, on the thread that has the answer ready.
using Respond = std::function<void(HttpResponse)>;

}  // namespace order::http
