"""A Kafka that asks who is connecting, as a managed cluster does: KAFKA_CONFIG_FILE carries the
producer's client properties (security.protocol, sasl.*), and its bootstrap.servers serves when
KAFKA_BROKERS is not set. Against the dev stack's real broker, on its listener that takes SASL
PLAIN: the events reach the topic; with a wrong password nothing is lost, and the same log is
published once the password is right; a property that would weaken publication's guarantees,
or one librdkafka does not know, stops the service at start with one line naming it."""
import json
import os
import subprocess
import tempfile
import time
import unittest
import uuid

import harness
from test_seed_consumers import consume


def sasl_listener():
    address = os.environ.get("STACK_KAFKA_SASL_BROKERS")
    if not address:
        raise SystemExit("STACK_KAFKA_SASL_BROKERS is not set: "
                         "eval \"$(tools/stack/stack.sh env)\"")
    return address, os.environ["STACK_KAFKA_SASL_USER"], os.environ["STACK_KAFKA_SASL_PASSWORD"]


def without_brokers():
    """The environment without KAFKA_BROKERS: the file's bootstrap.servers must serve."""
    return {k: v for k, v in os.environ.items() if k != "KAFKA_BROKERS"}


class KafkaSecurity(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()
        self.topic = "test-sasl-" + uuid.uuid4().hex[:12]
        self.files = []
        self.services = []

    def tearDown(self):
        for service in self.services:
            service.stop()
        for path in self.files:
            os.unlink(path)
        self.db.drop()

    def properties(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".properties", delete=False) as f:
            f.write(text)
        self.files.append(f.name)
        return f.name

    def client_properties(self, password, more=""):
        address, user, _ = sasl_listener()
        return self.properties(
            "# the librdkafka client configuration a managed cluster hands out\n"
            f"bootstrap.servers={address}\n"
            "security.protocol=SASL_PLAINTEXT\n"
            "sasl.mechanisms=PLAIN\n"
            f"sasl.username={user}\n"
            f"sasl.password={password}\n" + more)

    def start(self, properties):
        service = harness.Service(self.db.url, ["--topic", self.topic,
                                                "--kafka-config", properties],
                                  env=without_brokers())
        self.services.append(service)
        return service

    def place_orders(self, service, count):
        http = service.client()
        ids = []
        for _ in range(count):
            placed = http.request("POST", "/orders", harness.SEED_BODY)
            self.assertEqual(201, placed.status, placed)
            ids.append(str(placed.json["order_id"]))
        return ids

    def test_the_events_reach_a_broker_that_asks_for_a_password(self):
        service = self.start(self.client_properties(sasl_listener()[2]))
        ids = self.place_orders(service, 3)
        messages = consume(self.topic, ids, 3, timeout=30)
        self.assertEqual(sorted(ids), sorted({m["key"] for m in messages}))
        self.assertIn("kafka client properties from KAFKA_CONFIG_FILE", service.output())
        self.assertNotIn(sasl_listener()[2], service.output())  # the password is never logged

    def test_a_wrong_password_loses_nothing_and_the_right_one_publishes_it_all(self):
        # A batch gives up after message.timeout.ms (30 s unless set): 3 s here.
        refused = self.start(self.client_properties("not-the-password",
                                                    "message.timeout.ms=3000\n"))
        ids = self.place_orders(refused, 3)  # the log takes them: Kafka is not in the write path
        # Monitoring sees it: the publisher's lag grows while Kafka refuses it, and the refusal is
        # a line of the service's own JSON log.
        http = refused.client()
        deadline = time.monotonic() + 30
        while True:
            publisher = [s for s in http.request("GET", "/readyz").json["shards"]
                         if s["subscription"] == "publisher"]
            if publisher[0]["lag_events"] == 3:
                break
            self.assertLess(time.monotonic(), deadline, f"the lag stayed at {publisher}")
            time.sleep(0.2)
        failures = [json.loads(line) for line in refused.output().splitlines()
                    if line.startswith("{") and "Authentication failed" in line]
        self.assertTrue(failures, refused.output()[-3000:])
        self.assertEqual("kafka", failures[0]["component"])
        self.assertEqual("error", failures[0]["level"])
        self.assertNotIn("%3|", refused.output())  # no line in librdkafka's own format
        self.assertEqual(0, refused.stop())
        self.assertEqual([], consume(self.topic, ids, 1, timeout=3))

        published = self.start(self.client_properties(sasl_listener()[2]))
        messages = consume(self.topic, ids, 3, timeout=30)
        self.assertEqual(sorted(ids), sorted({m["key"] for m in messages}))
        self.assertTrue(published.alive())

    def test_a_stop_while_kafka_refuses_takes_seconds_not_the_acknowledgement_wait(self):
        # A batch waits up to 30 s for Kafka; a SIGTERM gives it 2 s, well inside an
        # orchestrator's grace period (Kubernetes: 30 s), and the next leader sends it again.
        refused = self.start(self.client_properties("not-the-password"))
        self.place_orders(refused, 1)
        time.sleep(1.5)  # the publisher has handed its batch over, and waits
        asked = time.monotonic()
        self.assertEqual(0, refused.stop())
        took = time.monotonic() - asked
        print(f"  stopped in {took:.1f} s")
        self.assertLess(took, 6)

    def refusal(self, text, env=None):
        run = subprocess.run([harness.ARGS.service, "--db-url", "postgresql://x@127.0.0.1:1/x",
                              "--kafka-config", self.properties(text)],
                             capture_output=True, text=True, timeout=10,
                             env=env if env is not None else without_brokers())
        self.assertEqual(2, run.returncode, run)
        self.assertEqual(1, len(run.stderr.splitlines()), run.stderr)
        return run.stderr

    def test_what_would_weaken_the_guarantees_or_is_unknown_stops_the_start(self):
        address = sasl_listener()[0]
        for key, value in (("enable.idempotence", "false"), ("acks", "1"),
                           ("request.required.acks", "0"), ("transactional.id", "t")):
            self.assertIn(f"kafka setting {key} is the service's own",
                          self.refusal(f"bootstrap.servers={address}\n{key}={value}\n"))
        self.assertIn("sasl.kerberos.principle: No such configuration property",
                      self.refusal(f"bootstrap.servers={address}\nsasl.kerberos.principle=x\n"))
        self.assertIn("names no bootstrap.servers", self.refusal("security.protocol=SSL\n"))
        self.assertIn("line 2 is not key=value",
                      self.refusal(f"bootstrap.servers={address}\nsasl.username\n"))


if __name__ == "__main__":
    harness.run(__name__)
