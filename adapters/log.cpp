// The JSON line, queued whole and written by one thread, so lines never interleave.
#include "adapters/log.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>

#include "adapters/json/json_writer.hpp"

namespace order::log {
namespace {

std::string now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch() %
                                                                            std::chrono::seconds(1))
                          .count();
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, micros);
}

void write_stderr(std::string_view text) {
  while (!text.empty()) {
    const ssize_t written = ::write(STDERR_FILENO, text.data(), text.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // stderr closed or broken: nothing else can be told
    }
    text.remove_prefix(static_cast<std::size_t>(written));
  }
}

// 16384 lines of at most a few hundred bytes each: a few MB at most, and several seconds of a
// busy service's access log.
constexpr std::size_t kQueueLines = 16384;

// Never destroyed: threads may log during static destruction, and the writer's thread may be
// blocked on stderr when the process exits. What is queued is flushed at exit, bounded.
LineWriter& process_writer() {
  static LineWriter* writer = [] {
    auto* created = new LineWriter(kQueueLines, write_stderr);
    std::atexit([] { process_writer().flush(std::chrono::seconds(2)); });
    return created;
  }();
  return *writer;
}

}  // namespace

struct LineWriter::State {
  std::mutex mutex;
  std::condition_variable ready;
  std::condition_variable drained;
  std::deque<std::string> lines;
  std::size_t capacity = 0;
  bool writing = false;  // the thread holds lines taken from the queue and not yet written
  bool idle = false;     // the thread waits for `ready`: the next push wakes it
  bool stopping = false;
  bool stopped = false;
  std::atomic<std::int64_t> dropped{0};
  Sink sink;
};

LineWriter::LineWriter(std::size_t capacity_lines, Sink sink) : state_(std::make_shared<State>()) {
  state_->capacity = capacity_lines;
  state_->sink = std::move(sink);
  std::thread(run, state_).detach();
}

LineWriter::~LineWriter() {
  flush(std::chrono::seconds(1));
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->ready.notify_all();
  std::unique_lock lock(state_->mutex);
  state_->drained.wait_for(lock, std::chrono::seconds(1), [&] { return state_->stopped; });
}

// By value on purpose: the detached thread's own reference keeps the state alive after the writer.
// NOLINTNEXTLINE(performance-unnecessary-value-param)
void LineWriter::run(std::shared_ptr<State> state) {
  // Stop signals belong to the thread that waits for them, never to the log's.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::string batch;
  std::unique_lock lock(state->mutex);
  for (;;) {
    while (!state->stopping && state->lines.empty()) {
      state->idle = true;
      state->ready.wait(lock);
    }
    state->idle = false;
    if (state->lines.empty()) break;
    batch.clear();
    while (!state->lines.empty()) {
      batch += state->lines.front();
      state->lines.pop_front();
    }
    state->writing = true;
    lock.unlock();
    state->sink(batch);
    lock.lock();
    state->writing = false;
    state->drained.notify_all();
  }
  state->stopped = true;
  state->drained.notify_all();
}

bool LineWriter::push(std::string line) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->lines.size() >= state_->capacity || state_->stopping) {
      ++state_->dropped;
      return false;
    }
    state_->lines.push_back(std::move(line));
    // Under load the thread is still writing the last batch and finds this line when it comes
    // back: waking it for every line would cost a system call per request.
    if (!state_->idle) return true;
    state_->idle = false;
  }
  state_->ready.notify_one();
  return true;
}

bool LineWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  return state_->drained.wait_for(lock, timeout,
                                  [&] { return state_->lines.empty() && !state_->writing; });
}

std::int64_t LineWriter::dropped() const { return state_->dropped.load(); }

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
  process_writer().push(std::move(line));
}

std::int64_t dropped_lines() { return process_writer().dropped(); }

bool flush(std::chrono::milliseconds timeout) { return process_writer().flush(timeout); }

}  // namespace order::log
