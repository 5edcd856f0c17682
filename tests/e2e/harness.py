"""Shared by the end-to-end tests: a fresh database, the real order-service binary on a free
port, a keep-alive HTTP client, SQL through psql, and a closing 'N passed, N failed' line."""
import argparse
import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import unittest
import uuid
from urllib.parse import urlsplit, urlunsplit

ARGS = None


def parse_args():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--admin", required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.service = os.path.abspath(ARGS.service)
    ARGS.admin = os.path.abspath(ARGS.admin)
    return rest


def server_url():
    url = os.environ.get("DB_URL")
    if not url:
        raise SystemExit("DB_URL is not set: start the dev stack (tools/stack/stack.sh up)")
    return url


def with_database(url, name):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def psql(url, sql):
    out = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return [line.split("|") for line in out.stdout.splitlines() if line]


class FreshDatabase:
    def __init__(self):
        self.name = "order_e2e_" + uuid.uuid4().hex[:12]
        self.admin = with_database(server_url(), "postgres")
        psql(self.admin, f"CREATE DATABASE {self.name}")
        self.url = with_database(server_url(), self.name)

    def drop(self):
        psql(self.admin, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")

    def scalar(self, sql):
        return psql(self.url, sql)[0][0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused_at_start(*flags):
    """Runs the service with `flags` and an unreachable database: a setting it refuses must stop
    it (exit status 2, the reason on stderr) before it tries to connect."""
    return subprocess.run([ARGS.service, "--db-url", "postgresql://x@127.0.0.1:1/x", *flags],
                          capture_output=True, text=True, timeout=10)


class Service:
    """The real binary, started on a free port and stopped with SIGTERM (SIGKILL after 10 s)."""

    def __init__(self, db_url, extra_args=(), env=None, open_files=None):
        """`open_files`: the (soft, hard) open-files limit to start it under."""
        self.port = free_port()
        self.log = open(f"/tmp/order-e2e-{self.port}.log", "w+")
        environment = dict(os.environ if env is None else env)
        limit = None if open_files is None else (
            lambda: resource.setrlimit(resource.RLIMIT_NOFILE, open_files))
        self.process = subprocess.Popen(
            [ARGS.service, "--db-url", db_url, "--port", str(self.port), "--host", "127.0.0.1",
             *extra_args], stdout=self.log, stderr=subprocess.STDOUT, env=environment,
            preexec_fn=limit)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"service exited at start: {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("service did not listen within 30 s")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def alive(self):
        return self.process.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after `timeout` seconds; the exit status (-9 when killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def client(self):
        return Client(self.port)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Client:
    """One keep-alive HTTP/1.1 connection; counts every 5xx it ever sees."""
    server_errors = []

    def __init__(self, port):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        # Bodies are JSON unless the test says otherwise; a None value sends no Content-Type.
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
        headers = {k: v for k, v in headers.items() if v is not None}
        try:
            self.connection.request(method, path, body=body, headers=headers)
            raw = self.connection.getresponse()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            self.connection.request(method, path, body=body, headers=headers)
            raw = self.connection.getresponse()
        response = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read())
        if response.status >= 500:
            Client.server_errors.append((method, path, response))
        return response

    def close(self):
        self.connection.close()


def metric_value(text, name):
    """The value of the unlabelled sample `name` in a Prometheus text body, None when it has none.
    (A substring test would match the # HELP line, which repeats the name.)"""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


SEED_BODY = {
    "user_id": 101,
    "args": [
        {"product_id": 1001, "quantity": 2, "price": 4.99},
        {"product_id": 1002, "quantity": 1, "price": 3.50},
    ],
}


def run(module_name):
    rest = parse_args()
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module_name])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
