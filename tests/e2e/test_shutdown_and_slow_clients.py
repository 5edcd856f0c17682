"""The real binary under two kinds of trouble: a SIGTERM or a SIGINT in the middle of a write load (it stops
accepting, finishes what is in flight, and exits 0 in bounded time, with every acknowledged
order in the log), slowloris clients (they neither starve the others nor stay forever), and more
connections than MAX_CONNECTIONS (the extra ones are refused at once, the open ones keep working,
and a closed connection gives its slot back), and more requests in flight than the service holds
while the database stalls (the extra ones are refused at once)."""
import json
import os
import resource
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness


class ShutdownAndSlowClients(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()

    def tearDown(self):
        self.db.drop()

    def test_sigterm_mid_load_finishes_in_flight_requests_and_exits_zero(self):
        self.stop_mid_load(signal.SIGTERM)

    def test_sigint_mid_load_finishes_in_flight_requests_and_exits_zero(self):
        self.stop_mid_load(signal.SIGINT)

    def stop_mid_load(self, stop_signal):
        service = harness.Service(self.db.url)
        acknowledged, statuses, lock = [], {}, threading.Lock()
        stopping = threading.Event()

        def client():
            http = service.client()
            while not stopping.is_set():
                try:
                    response = http.request("POST", "/orders", harness.SEED_BODY)
                except OSError:
                    return  # the listener is gone: the service is stopping
                with lock:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status == 201:
                        acknowledged.append(response.json["order_id"])

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(2)
        signalled = time.monotonic()
        service.process.send_signal(stop_signal)
        try:
            code = service.process.wait(timeout=20)
        finally:
            stopping.set()
            for t in threads:
                t.join()
        took = time.monotonic() - signalled
        print(f"  {stop_signal.name}: exit {code} after {took:.2f} s; responses {statuses}")
        self.assertEqual(0, code, service.output()[-2000:])
        self.assertLess(took, 15)
        self.assertGreater(len(acknowledged), 0)
        self.assertTrue(set(statuses) <= {201, 503}, f"unexpected statuses {statuses}")
        logged = {int(row[0]) for row in harness.psql(self.db.url, "SELECT stream_id FROM streams")}
        self.assertEqual(set(), set(acknowledged) - logged, "an acknowledged order is not in the log")
        self.assertIn('"stopped"', service.output())
        # Its log is JSON lines: every line parses, with a time, a level and a message.
        lines = [line for line in service.output().splitlines() if line.startswith("{")]
        self.assertGreater(len(lines), 3)
        for line in lines:
            entry = json.loads(line)
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
            self.assertIn(entry["level"], ("info", "warn", "error"))
            self.assertTrue(entry["msg"])

    def test_slowloris_clients_neither_starve_others_nor_stay_forever(self):
        service = harness.Service(self.db.url, ["--header-timeout-ms", "2000"])
        try:
            slow = []
            for _ in range(50):
                s = socket.create_connection(("127.0.0.1", service.port))
                s.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\n")  # and never the rest
                slow.append(s)
            http = service.client()
            worst = 0.0
            for _ in range(20):
                start = time.monotonic()
                response = http.request("POST", "/orders", harness.SEED_BODY)
                worst = max(worst, time.monotonic() - start)
                self.assertEqual(201, response.status)
            print(f"  slowest of 20 requests beside 50 stalled connections: {worst * 1000:.0f} ms")
            self.assertLess(worst, 1.0)

            # Past the header timeout, every stalled connection has been answered with a 408
            # problem and closed.
            time.sleep(3)
            answered = 0
            for s in slow:
                s.settimeout(1)
                data = b""
                try:
                    while chunk := s.recv(4096):
                        data += chunk
                except socket.timeout:
                    data += b"(still open)"
                finally:
                    s.close()
                self.assertTrue(data.startswith(b"HTTP/1.1 408"), data[:200])
                self.assertIn(b"application/problem+json", data)
                self.assertIn(b'"code":"request_timeout"', data)
                self.assertFalse(data.endswith(b"(still open)"), "answered but not closed")
                answered += 1
            print(f"  {answered} of {len(slow)} stalled connections answered 408 and closed")
            self.assertTrue(service.alive())
        finally:
            service.stop()


    def cpu_seconds(self, service):
        with open(f"/proc/{service.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def hold(self, service, count):
        """Up to `count` connections, each asked for /healthz; answers (served, refused, socks)."""
        socks, served, refused = [], 0, 0
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", service.port), timeout=3)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            try:
                answer = s.recv(4096)
            except (socket.timeout, ConnectionResetError):
                answer = b""
            served += answer.startswith(b"HTTP/1.1 200")
            refused += answer.startswith(b"HTTP/1.1 503")
        return served, refused, socks

    def test_a_low_open_files_limit_is_raised_or_the_cap_kept_under_it(self):
        # The common default soft limit (1,024) would not hold MAX_CONNECTIONS' default: the
        # service raises it to the hard limit.
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.assertGreaterEqual(hard, 1024, "this test needs a hard limit of 1,024 or more")
        service = harness.Service(self.db.url, open_files=(200, hard))
        socks = []
        try:
            served, refused, socks = self.hold(service, 400)
            self.assertEqual((400, 0), (served, refused))
        finally:
            for s in socks:
                s.close()
            self.assertEqual(0, service.stop())
        # A hard limit too low for the cap: the cap comes down under it, and says so. The
        # connections past it get a 503 at once; before, accept() failed, the listener spun a
        # core, and every new connection (a health check's too) waited unanswered.
        service = harness.Service(self.db.url, open_files=(256, 256))
        try:
            warning = [json.loads(line) for line in service.output().splitlines()
                       if "open-files limit holds fewer" in line]
            self.assertEqual(1, len(warning), service.output()[-2000:])
            cap = int(warning[0]["max_connections"])
            self.assertLess(cap, 256)
            before = self.cpu_seconds(service)
            served, refused, socks = self.hold(service, cap + 60)
            time.sleep(1)
            spent = self.cpu_seconds(service) - before
            print(f"  a cap of {cap} under 256 descriptors: {served} served, {refused} refused, "
                  f"{spent:.2f} s of CPU")
            self.assertEqual(cap, served)
            self.assertEqual(60, refused)
            self.assertLess(spent, 1.0, "the service spun while its descriptors ran out")
            for s in socks:
                s.close()
            deadline = time.monotonic() + 5
            while True:
                try:
                    http = service.client()
                    if http.request("GET", "/healthz").status == 200:
                        break
                except OSError:
                    pass
                self.assertLess(time.monotonic(), deadline, "not serving once they closed")
                time.sleep(0.1)
        finally:
            self.assertEqual(0, service.stop())

    def test_connections_beyond_the_cap_are_refused_and_open_ones_keep_working(self):
        cap = 20
        service = harness.Service(self.db.url, ["--max-connections", str(cap)])
        time.sleep(0.2)  # the harness's own probe connection gives its slot back
        extra = []
        try:
            # The cap's worth of keep-alive connections, each proven accepted by an answer.
            held = [service.client() for _ in range(cap)]
            for http in held:
                self.assertEqual(200, http.request("GET", "/healthz").status)

            answers = []
            for _ in range(10):
                s = socket.create_connection(("127.0.0.1", service.port))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                extra.append(s)
            started = time.monotonic()
            for s in extra:
                s.settimeout(2)
                data = b""
                try:
                    while chunk := s.recv(4096):
                        data += chunk
                    answers.append(("closed", data))
                except ConnectionResetError:
                    answers.append(("reset", data))
                except socket.timeout:
                    answers.append(("open", data))
            took = time.monotonic() - started
            print(f"  {len(extra)} connections past a cap of {cap}: "
                  f"{sorted({kind for kind, _ in answers})} in {took * 1000:.0f} ms")
            self.assertEqual([], [a for a in answers if a[0] == "open"], "a connection past the cap stayed open")
            self.assertLess(took, 2.0)
            for kind, data in answers:
                self.assertFalse(data.startswith(b"HTTP/1.1 200"), f"served past the cap: {data[:200]!r}")
                if data:
                    self.assertTrue(data.startswith(b"HTTP/1.1 503"), data[:200])
                    self.assertIn(b'"code":"overloaded"', data)
            self.assertTrue(any(data for _, data in answers), "no refused connection got a 503")

            # Those already open are untouched: each still gets its answer on its own connection.
            for http in held:
                response = http.request("POST", "/orders", harness.SEED_BODY)
                self.assertEqual(201, response.status, response)

            # A closed connection gives its slot back, whoever closes it.
            for http in held[cap // 2:]:
                http.close()
            held = held[:cap // 2]
            deadline = time.time() + 3
            while True:
                probe = socket.create_connection(("127.0.0.1", service.port))
                probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                probe.settimeout(2)
                try:
                    status = probe.recv(12)
                except OSError:
                    status = b""
                probe.close()
                if status == b"HTTP/1.1 200" or time.time() > deadline:
                    break
                time.sleep(0.05)
            self.assertEqual(b"HTTP/1.1 200", status, "closed connections did not free their slots")
            # Connections closed after an answer, after a half-sent request, or before a word,
            # many times over the free slots: none of these paths leaks one. (Pistache 0.0.5 does
            # not itself close a connection it answered with "Connection: close"; the client does.)
            for i in range(3 * cap):
                s = socket.create_connection(("127.0.0.1", service.port))
                if i % 3 == 0:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    s.settimeout(2)
                    data = b""
                    while b'{"status":"ok"}' not in data and (chunk := s.recv(4096)):
                        data += chunk
                    self.assertTrue(data.startswith(b"HTTP/1.1 200"), f"request {i}: {data[:120]!r}")
                elif i % 3 == 1:
                    s.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
                s.close()
                time.sleep(0.01)
            for http in held:
                self.assertEqual(200, http.request("GET", "/healthz").status)
            self.assertTrue(service.alive())
            self.assertIn("connections refused: at the cap", service.output())
        finally:
            for s in extra:
                s.close()
            service.stop()

    def test_requests_past_the_in_flight_bound_are_refused_while_the_database_stalls(self):
        """Pipelined new orders, answered later by the committer, count against the same bound
        as requests waiting for a worker (4,096): while the database holds every commit, the ones
        past it get a 503 at once instead of piling up, and the rest land once it lets go."""
        service = harness.Service(self.db.url)
        try:
            received = self.pipeline_orders_while_commits_are_held(service, 4300)
            # A body ends without a line break, right before the next status line.
            statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", bytes(received))]
            created, refused = statuses.count(201), statuses.count(503)
            print(f"  4300 pipelined orders with commits held: {created} created, {refused} refused")
            self.assertEqual(4300, len(statuses))
            self.assertEqual(4300, created + refused, sorted(set(statuses)))
            self.assertGreaterEqual(refused, 4300 - 4096)
            self.assertIn(b'"code":"overloaded"', received)
            self.assertEqual(str(created), self.db.scalar("SELECT count(*) FROM events"))
            self.assertTrue(service.alive())
        finally:
            service.stop()

    def pipeline_orders_while_commits_are_held(self, service, sent):
        """Sends `sent` orders on one connection while a transaction holds the streams table (so
        no commit lands), lets go after 3 s, and returns every byte of the answers."""
        body = json.dumps(harness.SEED_BODY).encode()
        request = (b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        holder = subprocess.Popen(
            ["psql", self.db.url, "-XAtq", "-c",
             "BEGIN; LOCK TABLE streams IN EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;"],
            stdout=subprocess.DEVNULL)
        s = socket.create_connection(("127.0.0.1", service.port))
        received = bytearray()
        try:
            deadline = time.monotonic() + 10
            while harness.psql(self.db.url, "SELECT count(*) FROM pg_locks WHERE relation = "
                               "'streams'::regclass AND mode = 'ExclusiveLock' AND granted")[0][0] != "1":
                self.assertLess(time.monotonic(), deadline, "the lock was not taken")
                time.sleep(0.05)

            def read_all():
                s.settimeout(60)
                while received.count(b"HTTP/1.1 ") < sent and (chunk := s.recv(65536)):
                    received.extend(chunk)

            reader = threading.Thread(target=read_all)
            reader.start()
            s.sendall(request * sent)
            reader.join(timeout=90)
            self.assertFalse(reader.is_alive(), "not every request was answered")
        finally:
            s.close()
            holder.wait(timeout=30)
        return received

if __name__ == "__main__":
    harness.run(__name__)
