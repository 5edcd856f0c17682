"""The HTTP edge, byte by byte over raw sockets: every 4xx and 5xx is application/problem+json with
a stable code, including what Pistache itself parses (a bad request line, a bad header, a bad
chunked body, a 10 MiB body, a header block over the limit, a method HTTP does not define), the
service serves normally after each, "Expect: 100-continue" gets its 100 before the body is sent,
HEAD is answered as GET without the body, and an answer with "Connection: close" closes the socket
on the service's side even when the client ignores it and stays connected."""
import json
import socket
import threading
import time
import unittest

import harness


def exchange(port, raw, read_timeout=10):
    """Sends `raw` (from a thread, so a large body and the answer can cross) and reads until the
    service closes or the first answer is complete. Returns (status, headers, body, closed)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)

    def send():
        try:
            sock.sendall(raw)
        except OSError:
            pass  # the service closed after answering: expected for a refused request

    sender = threading.Thread(target=send)
    sender.start()
    data, closed = b"", False
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    break
    except ConnectionResetError:
        closed = True
    sender.join(timeout=30)
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and lines[0].startswith("HTTP/") else None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body, closed


class HttpEdge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.FreshDatabase()
        cls.service = harness.Service(cls.db.url, ["--max-connections", "4"])

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()
        cls.db.drop()

    def assert_problem(self, raw, status, code):
        got, headers, body, _ = exchange(self.service.port, raw)
        self.assertEqual(status, got, f"{raw[:80]!r}: {headers} {body[:300]!r}")
        self.assertEqual("application/problem+json", headers.get("content-type"), body[:300])
        problem = json.loads(body)
        self.assertEqual(code, problem["code"], problem)
        self.assertEqual(status, problem["status"])
        # The service serves normally afterwards.
        http = self.service.client()
        self.assertEqual(200, http.request("GET", "/healthz").status)
        http.close()
        return problem

    def test_a_bad_request_line_is_a_problem(self):
        self.assert_problem(b"GET /orders HTTX/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request")

    def test_a_bad_header_is_a_problem(self):
        self.assert_problem(b"GET /orders HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n",
                            400, "malformed_request")

    def test_an_http_1_1_request_without_one_host_is_a_problem(self):
        # RFC 9112 (3.2): none, or two (which two servers in a chain could read differently).
        before = self.db.scalar("SELECT count(*) FROM events")
        body = json.dumps(harness.SEED_BODY).encode()
        problem = self.assert_problem(
            b"POST /orders HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\n\r\n" + body, 400, "malformed_request")
        self.assertIn("needs a Host header", problem["detail"])
        problem = self.assert_problem(b"GET /orders/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                                      400, "malformed_request")
        self.assertIn("more than once", problem["detail"])
        self.assertEqual(before, self.db.scalar("SELECT count(*) FROM events"))  # nothing placed
        # HTTP/1.0 has no Host requirement; an empty Host is a valid one.
        for raw in (b"GET /healthz HTTP/1.0\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost:\r\n\r\n"):
            self.assertEqual(200, exchange(self.service.port, raw)[0], raw)

    def test_a_target_in_absolute_form_is_served_as_its_path(self):
        # RFC 9112 (3.2.2): a server must accept it, though clients send it only to proxies.
        http = self.service.client()
        placed = http.request("POST", "/orders", harness.SEED_BODY)
        self.assertEqual(201, placed.status)
        oid = placed.json["order_id"]
        for target in (f"http://127.0.0.1:{self.service.port}/orders/{oid}?version=1",
                       f"HTTPS://orders.example/orders/{oid}"):
            status, headers, body, _ = exchange(
                self.service.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            self.assertEqual(200, status, (target, body[:200]))
            self.assertEqual(placed.json, json.loads(body))

    def test_a_content_length_beside_chunked_is_a_problem(self):
        self.assert_problem(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                            400, "malformed_request")

    def test_a_bad_chunked_body_is_a_problem(self):
        self.assert_problem(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n",
                            400, "malformed_request")

    def test_an_unknown_transfer_coding_is_a_problem(self):
        self.assert_problem(b"POST /orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                            400, "unsupported_transfer_coding")

    def test_a_10_mib_body_is_a_problem(self):
        body = b"x" * (10 * 1024 * 1024)
        self.assert_problem(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\n\r\n" % len(body) + body, 413, "body_too_large")

    def test_a_body_over_max_body_bytes_is_a_problem(self):
        body = b"[" + b"1," * 40000 + b"1]"
        self.assert_problem(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\n\r\n" % len(body) + body, 413, "body_too_large")

    def test_a_header_block_over_the_limit_is_a_problem(self):
        self.assert_problem(b"GET /orders HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * 1024 * 1024)
                            + b"\r\n\r\n", 431, "headers_too_large")

    def test_a_method_http_does_not_define_is_a_problem_never_a_5xx(self):
        # As any method a resource does not take: 405 with Allow, or 404 where there is none.
        problem = self.assert_problem(b"BREW /orders HTTP/1.1\r\nHost: x\r\n\r\n", 405,
                                      "method_not_allowed")
        self.assertIn("BREW is not allowed here", problem["detail"])
        _, headers, _, _ = exchange(self.service.port,
                                    b"BREW /orders/7?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual("GET, HEAD", headers.get("allow"))
        self.assert_problem(b"PURGE /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found")
        # HTTP/2's connection preface, from a client that assumed h2 without asking.
        self.assert_problem(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "malformed_request")

    def test_a_method_the_route_does_not_allow_is_a_problem(self):
        problem = self.assert_problem(b"DELETE /orders HTTP/1.1\r\nHost: x\r\n\r\n", 405,
                                      "method_not_allowed")
        self.assertIn("GET", problem["detail"])

    def test_an_absurd_content_length_is_a_problem(self):
        status, headers, body, _ = exchange(
            self.service.port,
            b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}")
        self.assertIn(status, (400, 413), body[:300])
        self.assertEqual("application/problem+json", headers.get("content-type"))
        self.assertTrue(self.service.alive())

    def test_connection_close_closes_our_side_and_frees_the_slot(self):
        # Four slots: a client that ignores "Connection: close" and stays connected must not keep
        # one, so after four such clients a fifth is still served.
        lingering = []
        for _ in range(4):
            sock = socket.create_connection(("127.0.0.1", self.service.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            start = time.monotonic()
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break  # the service closed its side: what this test is about
                data += chunk
                self.assertLess(time.monotonic() - start, 5, "the service did not close")
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
            self.assertIn(b"connection: close", data.lower())
            lingering.append(sock)  # not closed by the client
        try:
            deadline = time.monotonic() + 5
            while True:
                status, _, body, _ = exchange(self.service.port,
                                              b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 5)
                if status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(200, status, f"a slot is still held: {body[:200]!r}")
        finally:
            for sock in lingering:
                sock.close()

    def read_answers(self, sock, count):
        """Reads `count` whole answers (status, body) off one connection."""
        return [(status, body) for status, _, body in self.answers_to(sock, ["GET"] * count)[0]]

    def answers_to(self, sock, methods):
        """Reads one whole answer (status, headers, body) per method off one connection, a HEAD's
        and a 304's without a body; answers them with what was read past the last one."""
        data, answers = b"", []
        for method in methods:
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                self.assertTrue(chunk, f"closed after {len(answers)} answers")
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {name.strip().lower(): value.strip()
                       for name, _, value in (line.partition(":") for line in lines[1:])}
            status = int(lines[0].split(" ")[1])
            length = 0 if method == "HEAD" or status == 304 else int(headers["content-length"])
            while len(data) < length:
                chunk = sock.recv(65536)
                self.assertTrue(chunk, f"closed in answer {len(answers) + 1}")
                data += chunk
            answers.append((status, headers, data[:length]))
            data = data[length:]
        return answers, data

    def assert_nothing_follows(self, sock, data):
        """Nothing was read, nor comes, after the last answer."""
        self.assertEqual(b"", data)
        sock.settimeout(0.3)
        with self.assertRaises(socket.timeout):
            sock.recv(65536)

    def test_expect_100_continue_gets_the_100_before_the_body_is_sent(self):
        # RFC 9110 (10.1.1) wants the 100 at once. .NET Framework's clients (Windows
        # PowerShell's Invoke-RestMethod) ask for it with every POST and wait 350 ms for it
        # before sending the body anyway: without it, each of their orders took that longer.
        items = [{"product_id": 2000 + n, "quantity": 1, "price": 1.25} for n in range(40)]
        body = json.dumps({"user_id": 101, "args": items}).encode()
        head = (b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        with socket.create_connection(("127.0.0.1", self.service.port), timeout=10) as sock:
            for _ in range(2):  # and again on the same connection
                sock.sendall(head)
                sock.settimeout(0.5)
                interim = b""
                while not interim.endswith(b"\r\n\r\n"):
                    chunk = sock.recv(1)  # a byte at a time: nothing after the 100 is taken
                    self.assertTrue(chunk, interim)
                    interim += chunk
                self.assertEqual(b"HTTP/1.1 100 Continue\r\n\r\n", interim)
                sock.settimeout(10)
                sock.sendall(body)
                [(status, answer)] = self.read_answers(sock, 1)
                self.assertEqual(201, status, answer)
                self.assertEqual(40, len(json.loads(answer)["items"]))
        # A request its header block already refuses gets its final answer instead of a 100.
        self.assert_problem(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Expect: 100-continue\r\nContent-Length: 900000000\r\n\r\n",
                            413, "body_too_large")
        # An HTTP/1.0 client's expectation is ignored: no 100, the answer once the body is in.
        with socket.create_connection(("127.0.0.1", self.service.port), timeout=10) as sock:
            sock.sendall(head.replace(b"HTTP/1.1", b"HTTP/1.0"))
            sock.settimeout(0.5)
            with self.assertRaises(socket.timeout):
                sock.recv(1)
            sock.settimeout(10)
            sock.sendall(body)
            [(status, answer)] = self.read_answers(sock, 1)
            self.assertEqual(201, status, answer)

    def test_head_is_answered_as_get_without_the_body(self):
        # RFC 9110 (9.1): every general-purpose server supports GET and HEAD; uptime monitors and
        # `curl -I` ask with HEAD. Pipelined, so a body sent after a HEAD answer would show as
        # garbage before the next answer.
        http = self.service.client()
        placed = http.request("POST", "/orders", harness.SEED_BODY)
        self.assertEqual(201, placed.status)
        oid = placed.json["order_id"]
        asked = [("GET", f"/orders/{oid}"), ("HEAD", f"/orders/{oid}"), ("HEAD", "/orders/999999999"),
                 ("HEAD", "/orders?limit=1"), ("HEAD", "/healthz"), ("GET", "/healthz")]
        with socket.create_connection(("127.0.0.1", self.service.port), timeout=10) as sock:
            sock.sendall(b"".join(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                                  for method, path in asked))
            answers, rest = self.answers_to(sock, [method for method, _ in asked])
            self.assert_nothing_follows(sock, rest)
        self.assertEqual([200, 200, 404, 200, 200, 200], [status for status, _, _ in answers])
        (_, get, body), (_, head, _) = answers[0], answers[1]
        self.assertEqual(str(len(body)), head["content-length"])
        self.assertEqual(get["etag"], head["etag"])
        self.assertEqual(get["content-type"], head["content-type"])
        self.assertEqual("application/problem+json", answers[2][1]["content-type"])
        self.assertEqual(b'{"status":"ok"}', answers[5][2])
        # A route that answers GET says it answers HEAD too.
        status, headers, _, _ = exchange(self.service.port,
                                         b"DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(405, status)
        self.assertEqual("GET, HEAD", headers["allow"])

    def test_a_current_copy_is_answered_304_without_the_body(self):
        # RFC 9110 (13.1.2): a client or cache that holds an order (or the audit page) sends its
        # ETag in If-None-Match and gets 304 while it is current. Pipelined on one connection, so
        # a body after a 304 would show as garbage before the next answer.
        http = self.service.client()
        placed = http.request("POST", "/orders", harness.SEED_BODY)
        self.assertEqual(201, placed.status)
        oid = placed.json["order_id"]
        page = http.request("GET", "/audit/")
        self.assertEqual(200, page.status)
        asked = [("GET", f"/orders/{oid}", '"1"'), ("GET", f"/orders/{oid}", 'W/"1"'),
                 ("HEAD", f"/orders/{oid}", '"0", "1"'), ("GET", f"/orders/{oid}", '"2"'),
                 ("GET", f"/orders/{oid}?version=1", "*"), ("GET", "/orders/999999999", "*"),
                 ("GET", "/audit/", page.headers["etag"]), ("GET", "/healthz", None)]
        with socket.create_connection(("127.0.0.1", self.service.port), timeout=10) as sock:
            sock.sendall(b"".join(
                (f"{method} {path} HTTP/1.1\r\nHost: x\r\n" +
                 (f"If-None-Match: {tag}\r\n" if tag else "") + "\r\n").encode()
                for method, path, tag in asked))
            answers, rest = self.answers_to(sock, [method for method, _, _ in asked])
            self.assert_nothing_follows(sock, rest)
        self.assertEqual([304, 304, 304, 200, 304, 404, 304, 200],
                         [status for status, _, _ in answers])
        for status, headers, body in answers:
            if status == 304:
                self.assertIn("etag", headers)
                self.assertNotIn("content-length", headers)
                self.assertEqual(b"", body)
        self.assertEqual('"1"', answers[0][1]["etag"])
        self.assertEqual(placed.json, json.loads(answers[3][2]))
        self.assertEqual("no-cache", answers[6][1]["cache-control"])
        # Once the order moves on, the copy at version 1 is no longer current.
        pay = {"payment_reference": "P-304", "amount": placed.json["total_amount"]}
        self.assertEqual(200, http.request("POST", f"/orders/{oid}/pay", json.dumps(pay)).status)
        again = http.request("GET", f"/orders/{oid}", None, {"If-None-Match": '"1"'})
        self.assertEqual(200, again.status)
        self.assertEqual('"2"', again.headers["etag"])

    def test_pipelined_requests_are_all_answered_in_order(self):
        seed = json.dumps(harness.SEED_BODY).encode()
        post = (b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(seed) + seed)
        chunked = (b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(seed) + seed
                   + b"\r\n0\r\n\r\n")
        get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        missing = b"GET /orders/999999999 HTTP/1.1\r\nHost: x\r\n\r\n"
        pipeline = get + post + b"\r\n" + missing + chunked + get
        for how in ("at once", "a byte at a time"):
            with socket.create_connection(("127.0.0.1", self.service.port), timeout=10) as sock:
                if how == "at once":
                    sock.sendall(pipeline)
                else:
                    for byte in pipeline:
                        sock.send(bytes([byte]))
                answers = self.read_answers(sock, 5)
            self.assertEqual([200, 201, 404, 201, 200], [status for status, _ in answers], how)
            self.assertEqual(b'{"status":"ok"}', answers[0][1])
            self.assertIn(b'"order_id"', answers[1][1])
            self.assertIn(b'"order_not_found"', answers[2][1])
            self.assertNotEqual(json.loads(answers[1][1])["order_id"],
                                json.loads(answers[3][1])["order_id"])

    def test_a_slow_reader_gets_every_answer_whole_and_in_order_then_the_close(self):
        # A receive buffer of 2 KiB and 200 answers of 28 KiB (more than a socket's send buffer
        # holds): most of them wait in the service for the client to read, and the last answer's
        # close waits behind them.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", self.service.port))
        with sock:
            sock.sendall(b"GET /openapi.yaml HTTP/1.1\r\nHost: x\r\n\r\n" * 200
                         + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(0.5)
            answers = self.read_answers(sock, 201)
            rest = b""
            while chunk := sock.recv(65536):
                rest += chunk
        self.assertEqual([200] * 201, [status for status, _ in answers])
        self.assertTrue(answers[0][1].startswith(b"openapi:"), answers[0][1][:40])
        self.assertGreater(len(answers[0][1]), 20000)
        self.assertEqual([answers[0][1]] * 200, [body for _, body in answers[:200]])
        self.assertEqual(b'{"status":"ok"}', answers[200][1])
        self.assertEqual(b"", rest)  # and then the service closed its side

    def test_concurrent_clients_asking_to_close_are_all_answered_and_closed(self):
        # Several clients at once, each sending one request with "Connection: close" and reading
        # until the service closes: every one gets its answer, then the close, and the service
        # lives on (an answer's close once raced Pistache's promise machinery and crashed it).
        service = harness.Service(self.db.url)
        failures, served = [], [0]

        def client():
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                sock = socket.create_connection(("127.0.0.1", service.port), timeout=3)
                data = b""
                try:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    while chunk := sock.recv(65536):
                        data += chunk
                except OSError as error:
                    failures.append(f"{error!r} after {data[:60]!r}")
                finally:
                    sock.close()
                if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b'{"status":"ok"}'):
                    failures.append(f"answer {data[:200]!r}")
                served[0] += 1

        try:
            threads = [threading.Thread(target=client) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            print(f"  {served[0]} requests with Connection: close from 4 clients at once")
            self.assertEqual([], failures[:5])
            self.assertGreater(served[0], 100)
            self.assertTrue(service.alive(), service.output()[-3000:])
        finally:
            service.stop()


if __name__ == "__main__":
    harness.run(__name__)
