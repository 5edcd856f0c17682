// Structured logs: one JSON object per line on stderr with the time (RFC 3339, UTC, microseconds),
// the level, the component, the message and any fields, every value escaped. Callers pass no
// secrets: database URLs go through pg::redact_url first.
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

namespace order::log {

using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

void write(std::string_view level, std::string_view component, std::string_view message,
           Fields fields = {});

inline void info(std::string_view component, std::string_view message, Fields fields = {}) {
  write("info", component, message, fields);
}
inline void warn(std::string_view component, std::string_view message, Fields fields = {}) {
  write("warn", component, message, fields);
}
inline void error(std::string_view component, std::string_view message, Fields fields = {}) {
  write("error", component, message, fields);
}

}  // namespace order::log
