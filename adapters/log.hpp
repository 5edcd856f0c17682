// Structured logs: one JSON object per line on stderr with the time (RFC 3339, UTC, microseconds),
// the level, the component, the message and any fields, every value escaped. Callers pass no
// secrets: database URLs go through pg::redact_url first.
//
// Lines are handed to a background writer through a bounded queue, so a stalled stderr (a full
// pipe whose reader stopped) never stalls the thread that logs, a request worker least of all:
// when the queue is full the line is dropped and counted (order_log_lines_dropped_total).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
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

// Lines the process's log dropped because its queue was full.
std::int64_t dropped_lines();
// Waits until every queued line was written, at most `timeout`; false if it could not.
bool flush(std::chrono::milliseconds timeout);

// The mechanism: a bounded queue of lines drained by one thread into `sink`, which receives
// several lines at once (each ends with '\n'). push never blocks.
class LineWriter {
 public:
  using Sink = std::function<void(std::string_view)>;
  LineWriter(std::size_t capacity_lines, Sink sink);
  // Stops after writing what is queued, waiting at most one second for a stalled sink (then
  // the thread is left to finish on its own: a process exiting must not hang on its log).
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // False when the queue is full: the line is dropped and counted.
  bool push(std::string line);
  bool flush(std::chrono::milliseconds timeout);
  std::int64_t dropped() const;

 private:
  struct State;
  static void run(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace order::log
