// The log's background writer: a stalled sink never blocks the thread that logs; lines that do
// not fit are dropped and counted; what was queued is written in order.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "adapters/log.hpp"

namespace {

// A sink that blocks until released, like a pipe whose reader stopped reading.
struct StalledSink {
  std::mutex mutex;
  std::condition_variable released_cv;
  bool released = false;
  std::string written;

  void write(std::string_view text) {
    std::unique_lock lock(mutex);
    released_cv.wait(lock, [&] { return released; });
    written += text;
  }
  void release() {
    {
      std::lock_guard lock(mutex);
      released = true;
    }
    released_cv.notify_all();
  }
};

}  // namespace

TEST_CASE("a stalled log sink never blocks the logging thread; overflow is dropped and counted") {
  StalledSink sink;
  {
    order::log::LineWriter writer(4, [&](std::string_view text) { sink.write(text); });
    const auto start = std::chrono::steady_clock::now();
    int accepted = 0;
    std::string expected;  // exactly the lines the writer took, in the order they were pushed
    for (int i = 0; i < 100; ++i) {
      std::string line = "line " + std::to_string(i) + "\n";
      if (writer.push(line)) {
        ++accepted;
        expected += line;
      }
    }
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took < std::chrono::milliseconds(500));
    // Besides the 4 queued, the writer thread may hold the lines it took before the sink blocked
    // (it takes whatever is queued when it wakes). Those need not be the first lines: a writer
    // that wakes late finds 0-3 queued and 4.. dropped, and frees room for the last few.
    CHECK(accepted >= 4);
    CHECK(accepted <= 8);
    CHECK(writer.dropped() == 100 - accepted);
    CHECK_FALSE(writer.flush(std::chrono::milliseconds(50)));

    sink.release();
    CHECK(writer.flush(std::chrono::seconds(5)));
    std::lock_guard lock(sink.mutex);
    CHECK(sink.written == expected);
  }
}

TEST_CASE("queued log lines are all written, in order, by one writer") {
  std::mutex mutex;
  std::string written;
  order::log::LineWriter writer(1000, [&](std::string_view text) {
    std::lock_guard lock(mutex);
    written += text;
  });
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    const std::string line = "{\"n\":" + std::to_string(i) + "}\n";
    CHECK(writer.push(line));
    expected += line;
  }
  CHECK(writer.flush(std::chrono::seconds(5)));
  std::lock_guard lock(mutex);
  CHECK(written == expected);
  CHECK(writer.dropped() == 0);
}
