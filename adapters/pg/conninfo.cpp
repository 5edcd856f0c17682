#include "adapters/pg/conninfo.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>
#include <string_view>

namespace order::pg {
namespace {

struct FreeOptions {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using Options = std::unique_ptr<PQconninfoOption, FreeOptions>;

Options parse(const std::string& url) {
  char* error = nullptr;
  Options options(PQconninfoParse(url.c_str(), &error));
  if (error != nullptr) PQfreemem(error);
  return options;
}

// key='value', with the quoting libpq reads: a backslash before ' and before itself.
void append_pair(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out += ' ';
  out += key;
  out += "='";
  for (const char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
}

}  // namespace

std::string with_network_timeouts(const std::string& url, int statement_timeout_ms) {
  const Options options = parse(url);
  if (!options) return url;
  std::string out;
  std::set<std::string, std::less<>> given;
  for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    given.emplace(option->keyword);
    append_pair(out, option->keyword, option->val);
  }
  const auto add = [&](std::string_view key, int value) {
    if (!given.contains(key)) append_pair(out, key, std::to_string(value));
  };
  if (std::getenv("PGCONNECT_TIMEOUT") == nullptr) add("connect_timeout", kConnectTimeoutS);
  add("keepalives", 1);
  add("keepalives_idle", kKeepaliveIdleS);
  add("keepalives_interval", kKeepaliveIntervalS);
  add("tcp_user_timeout", std::max(kNetworkTimeoutMs, statement_timeout_ms));
  return out;
}

std::string redact_url(const std::string& url) {
  std::string redacted = url;
  // postgresql://user:secret@host/db → postgresql://user:***@host/db
  const auto scheme = redacted.find("://");
  const auto at = redacted.find('@');
  if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
    const auto colon = redacted.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) {
      redacted = redacted.substr(0, colon + 1) + "***" + redacted.substr(at);
    }
  }
  // ?password=secret in a URI, password=secret or password='a secret' in key=value pairs: the
  // value ends at the next & or blank, or at the closing quote.
  for (auto from = redacted.find("password="); from != std::string::npos;
       from = redacted.find("password=", from + 1)) {
    const bool starts_word = from == 0 || redacted[from - 1] == ' ' || redacted[from - 1] == '?' ||
                             redacted[from - 1] == '&';
    if (!starts_word) continue;
    const auto value = from + std::string_view("password=").size();
    auto end = value;
    if (end < redacted.size() && redacted[end] == '\'') {
      for (++end; end < redacted.size() && redacted[end] != '\''; ++end) {
        if (redacted[end] == '\\') ++end;
      }
      end = std::min(end + 1, redacted.size());
    } else {
      while (end < redacted.size() && redacted[end] != '&' && redacted[end] != ' ') ++end;
    }
    redacted.replace(value, end - value, "***");
  }
  return redacted;
}

}  // namespace order::pg
