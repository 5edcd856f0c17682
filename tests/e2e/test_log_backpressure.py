"""A stalled log never stalls a request: the service's stderr is a pipe whose reader stops
reading, so the pipe fills after a few hundred access-log lines; requests keep being answered at
their usual latency, the lines that did not fit are counted in order_log_lines_dropped_total, and
the service still stops promptly on SIGTERM."""
import os
import re
import signal
import subprocess
import time
import unittest

import harness


def latencies(http, count):
    out = []
    for _ in range(count):
        start = time.monotonic()
        response = http.request("GET", "/healthz")
        out.append(time.monotonic() - start)
        assert response.status == 200, response
    out.sort()
    return out


class LogBackpressure(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()
        self.port = harness.free_port()
        # stderr is a pipe nobody reads: it fills up (64 KiB) and every write to it would block.
        self.process = subprocess.Popen(
            [harness.ARGS.service, "--db-url", self.db.url, "--port", str(self.port),
             "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while True:
            try:
                http = harness.Client(self.port)
                if http.request("GET", "/healthz").status == 200:
                    http.close()
                    break
            except OSError:
                pass
            self.assertIsNone(self.process.poll(), "the service exited at start")
            self.assertLess(time.time(), deadline, "the service did not listen")
            time.sleep(0.1)

    def tearDown(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()
        self.db.drop()

    def test_requests_keep_their_latency_while_stderr_is_stalled(self):
        http = harness.Client(self.port)
        # ~200 bytes a line: a 64 KiB pipe holds a few hundred, the log's queue 16,384 more;
        # 20,000 answers overflow both.
        stalled = latencies(http, 20000)
        p99 = stalled[int(len(stalled) * 0.99)]
        print(f"  20000 requests with stderr stalled: median {stalled[len(stalled) // 2] * 1000:.2f} ms, "
              f"p99 {p99 * 1000:.2f} ms, max {stalled[-1] * 1000:.2f} ms")
        self.assertLess(stalled[-1], 1.0, "a request waited on the stalled log")
        metrics = http.request("GET", "/metrics").body.decode()
        dropped = int(float(re.search(r"^order_log_lines_dropped_total (\S+)$", metrics, re.M).group(1)))
        print(f"  {dropped} log lines dropped")
        self.assertGreater(dropped, 0, "nothing was dropped: was stderr really stalled?")
        http.close()
        # Shutting down does not hang on the log either.
        start = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=15)
        self.assertLess(time.monotonic() - start, 10)
        # The reader resumes: what was queued is there, whole lines of JSON.
        lines = self.process.stderr.read().decode().splitlines()
        self.assertTrue(lines)
        self.assertTrue(all(line.startswith("{") and line.endswith("}") for line in lines))


if __name__ == "__main__":
    harness.run(__name__)
