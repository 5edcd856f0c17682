// The JSON line, written with one call so concurrent threads never interleave within a line.
#include "adapters/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fmt/format.h>

#include "adapters/json/json_writer.hpp"

namespace order::log {
namespace {

std::string now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          now.time_since_epoch() % std::chrono::seconds(1))
                          .count();
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, micros);
}

}  // namespace

void write(std::string_view level, std::string_view component, std::string_view message,
           Fields fields) {
  json::JsonWriter w;
  w.begin_object();
  w.key("time").string(now_rfc3339());
  w.key("level").string(level);
  if (!component.empty()) w.key("component").string(component);
  w.key("msg").string(message);
  for (const auto& [name, value] : fields) w.key(name).string(value);
  w.end_object();
  std::string line = w.take();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace order::log
