"""PostgreSQL, then the Kafka broker, killed with SIGKILL (no clean stop) under a write load and
restarted: while the database is down the API answers 503 problem+json with Retry-After; the
same process recovers by itself; afterwards every acknowledged order is in the log and every event
of the log is on the topic."""
import os
import signal
import subprocess
import threading
import time
import unittest
import uuid

import harness
from test_publication_faults import brokers, consume, log_of, wait_until_published

STACK = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "stack")
STACK_DIR = os.environ.get("STACK_DIR", os.path.join(STACK, "..", "..", ".stack"))


def sigkill_from_pidfile(path):
    with open(path) as f:
        pid = int(f.readline().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} survived SIGKILL")


class WriteLoad:
    def __init__(self, service, clients=4):
        self.service = service
        self.acknowledged, self.outcomes = [], []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def client(self):
        http = self.service.client()
        while not self.stopping.is_set():
            response = http.request("POST", "/orders", harness.SEED_BODY)
            with self.lock:
                self.outcomes.append((time.monotonic(), response.status, response))
                if response.status == 201:
                    self.acknowledged.append(response.json["order_id"])
            if response.status != 201:
                time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()


class DependencySigkill(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()
        self.topic = "e2e-sigkill-" + uuid.uuid4().hex[:10]
        self.service = None

    def start_service(self, **env):
        self.service = harness.Service(self.db.url, env=dict(
            os.environ, KAFKA_BROKERS=brokers(), ORDER_TOPIC=self.topic, **env))

    def tearDown(self):
        if self.service:
            self.service.stop()
        subprocess.run(["bash", os.path.join(STACK, "pg.sh"), "start"], capture_output=True)
        subprocess.run(["bash", os.path.join(STACK, "kafka.sh"), "start"], capture_output=True)
        self.db.drop()

    def check_everything_acknowledged_is_logged_and_published(self, acknowledged):
        logged = {int(row[0]) for row in harness.psql(self.db.url, "SELECT stream_id FROM streams")}
        self.assertEqual(set(), set(acknowledged) - logged, "an acknowledged order is not in the log")
        wait_until_published(self.db)
        log = log_of(self.db)
        on_topic = {headers.get("event-id") for _, headers in consume(self.topic, set(log))}
        missing = set(log) - on_topic
        print(f"  {len(acknowledged)} orders acknowledged, {len(log)} events logged, "
              f"{len(missing)} missing from the topic")
        self.assertEqual(set(), missing, "an event of the log never reached the topic")

    def test_postgresql_killed_with_sigkill_then_restarted(self):
        # A write waiting on the dead database is answered 503 within half a second.
        self.start_service(STATEMENT_TIMEOUT_MS="500")
        load = WriteLoad(self.service)
        time.sleep(1.5)
        sigkill_from_pidfile(os.path.join(STACK_DIR, "pg", "data", "postmaster.pid"))
        killed_at = time.monotonic()
        time.sleep(3)
        restarting_at = time.monotonic()
        started = subprocess.run(["bash", os.path.join(STACK, "pg.sh"), "start"],
                                 capture_output=True, text=True)
        self.assertEqual(0, started.returncode, started.stderr)
        started_at = time.monotonic()
        time.sleep(5)
        load.stop()

        statuses = {}
        for _, status, _ in load.outcomes:
            statuses[status] = statuses.get(status, 0) + 1
        print(f"  responses {statuses}")
        self.assertTrue(set(statuses) <= {201, 503}, f"unexpected statuses {statuses}")
        self.assertGreater(statuses.get(503, 0), 0, "the outage was not seen")
        for at, status, response in load.outcomes:
            if status == 503:
                self.assertEqual("application/problem+json", response.headers["content-type"])
                self.assertIn("retry-after", response.headers)
            if killed_at + 0.25 < at < restarting_at:
                self.assertNotEqual(201, status, "a write acknowledged while the database was down")
        self.assertTrue([at for at, status, _ in load.outcomes if at > started_at and status == 201],
                        "the service did not recover after the database came back")
        self.assertTrue(self.service.alive())
        self.check_everything_acknowledged_is_logged_and_published(load.acknowledged)

    def test_the_kafka_broker_killed_with_sigkill_then_restarted(self):
        self.start_service()
        load = WriteLoad(self.service)
        time.sleep(1.5)
        sigkill_from_pidfile(os.path.join(STACK_DIR, "kafka", "broker.pid"))
        time.sleep(5)
        started = subprocess.run(["bash", os.path.join(STACK, "kafka.sh"), "start"],
                                 capture_output=True, text=True)
        self.assertEqual(0, started.returncode, started.stderr)
        time.sleep(3)
        load.stop()
        statuses = {}
        for _, status, _ in load.outcomes:
            statuses[status] = statuses.get(status, 0) + 1
        print(f"  responses {statuses}")
        # The log is the source of truth: writes go on while Kafka is away.
        self.assertEqual({201}, set(statuses), f"unexpected statuses {statuses}")
        self.assertTrue(self.service.alive())
        self.check_everything_acknowledged_is_logged_and_published(load.acknowledged)


if __name__ == "__main__":
    harness.run(__name__)
