"""The access log: one JSON line per request with its method, path, status, duration and request
id, never a credential; ACCESS_LOG=off turns it off."""
import json
import os
import time
import unittest

import harness

SECRET_LOOKING = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZS1kby1ub3QtbG9n"


def access_lines(service):
    lines = []
    for line in service.output().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("component") == "http" and entry.get("msg") == "request":
                lines.append(entry)
    return lines


def wait_for_lines(service, count, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = access_lines(service)
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    return access_lines(service)


class AccessLog(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()

    def tearDown(self):
        self.db.drop()

    def test_one_line_per_request_with_method_path_status_duration_and_request_id(self):
        service = harness.Service(self.db.url)
        try:
            http = service.client()
            credentials = {"Authorization": f"Bearer {SECRET_LOOKING}", "Cookie": "session=hunter2"}
            sent = [
                ("POST", "/orders", harness.SEED_BODY, "req-created-1", 201),
                ("GET", "/orders/1", None, "req-read-1", 200),
                ("GET", "/orders/999999", None, "req-missing-1", 404),
                ("POST", "/orders", "{not json", "req-malformed-1", 400),
                ("DELETE", "/orders", None, "req-method-1", 405),
            ]
            for method, path, body, request_id, status in sent:
                response = http.request(method, path + "?version=1" if method == "GET" else path,
                                        body, {**credentials, "X-Request-Id": request_id})
                self.assertEqual(status, response.status, response)
            lines = wait_for_lines(service, len(sent))
            by_id = {line["request_id"]: line for line in lines}
            for method, path, _, request_id, status in sent:
                with self.subTest(request_id=request_id):
                    self.assertIn(request_id, by_id, f"no access line; lines: {lines}")
                    line = by_id[request_id]
                    self.assertEqual(method, line["method"])
                    self.assertEqual(path, line["path"])
                    self.assertEqual(str(status), line["status"])
                    self.assertRegex(line["duration_ms"], r"^\d+\.\d{3}$")
                    self.assertEqual("info", line["level"])
            self.assertEqual(len(sent), len(lines), "not exactly one line per request")
            output = service.output()
            for secret in (SECRET_LOOKING, "c2VjcmV0LXNpZ25hdHVyZS1kby1ub3QtbG9n", "hunter2",
                           "Bearer", "uthorization"):
                self.assertNotIn(secret, output)
            # A request id the service made up is the one in the response and in the line.
            response = http.request("GET", "/healthz")
            generated = response.headers["x-request-id"]
            self.assertIn(generated, {l["request_id"] for l in wait_for_lines(service, len(sent) + 1)})
        finally:
            service.stop()

    def test_access_log_off_writes_no_request_lines(self):
        service = harness.Service(self.db.url, env={**os.environ, "ACCESS_LOG": "off"})
        try:
            http = service.client()
            for _ in range(5):
                self.assertEqual(200, http.request("GET", "/healthz").status)
            self.assertEqual(201, http.request("POST", "/orders", harness.SEED_BODY).status)
            time.sleep(0.3)
            self.assertEqual([], access_lines(service))
        finally:
            service.stop()

    def test_a_bad_access_log_value_is_refused_at_start(self):
        out = harness.refused_at_start("--access-log", "maybe")
        self.assertEqual(2, out.returncode, out.stderr)
        self.assertIn("ACCESS_LOG must be on or off", out.stderr)


if __name__ == "__main__":
    harness.run(__name__)
