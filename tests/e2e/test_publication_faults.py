"""Publication survives the process: the real order-service binary, a real PostgreSQL and the real
Kafka broker of the dev stack. A publisher killed with SIGKILL in the middle of a load, and three
instances on one database whose publication leader is killed: afterwards every event of the log is
on the topic, each order's events first arrive in version order, and the repeats are bounded by
the two batches in flight at each kill; after the SIGKILL the projector, killed too, catches up
until `order-admin verify orders` finds the read model equal to the log."""
import os
import signal
import subprocess
import threading
import time
import unittest
import uuid

import harness

# The service's publication batch (adapters/kafka/publisher.hpp); one kill may repeat two: the
# batch being acknowledged and the next, already sent.
BATCH = 5000


def brokers():
    value = os.environ.get("KAFKA_BROKERS")
    if not value:
        raise SystemExit("KAFKA_BROKERS is not set: start the dev stack (tools/stack/stack.sh up)")
    return value


def consume(topic, expected_ids, timeout=60):
    """Every message of the topic, as (key, headers), read with kcat until the expected events
    are all there or the timeout passes."""
    deadline = time.time() + timeout
    messages = []
    while time.time() < deadline:
        out = subprocess.run(
            ["kcat", "-C", "-b", brokers(), "-t", topic, "-o", "beginning", "-e", "-q",
             "-f", "%k\t%h\n"], capture_output=True, text=True, timeout=120)
        messages = []
        for line in out.stdout.splitlines():
            key, _, raw = line.partition("\t")
            headers = dict(item.split("=", 1) for item in raw.split(",") if "=" in item)
            messages.append((key, headers))
        if expected_ids <= {h.get("event-id") for _, h in messages}:
            break
        time.sleep(1)
    return messages


def log_of(db):
    rows = harness.psql(db.url, "SELECT event_id, stream_id, stream_version FROM events")
    return {event_id: (stream_id, int(version)) for event_id, stream_id, version in rows}


def wait_until_published(db, timeout=120):
    deadline = time.time() + timeout
    behind = None
    while time.time() < deadline:
        rows = harness.psql(db.url, """
            SELECT count(*) FROM events e, subscriptions s
            WHERE s.name = 'kafka-publisher'
              AND (e.transaction_id, e.global_position) > (s.transaction_id, s.global_position)""")
        behind = int(rows[0][0]) if rows else None
        if behind == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"publication did not catch up within {timeout} s: {behind} behind")


class Load:
    """Clients placing orders and paying them as fast as the service answers, through whichever
    of the given services is up; records every order and payment acknowledged with a 2xx."""

    def __init__(self, services, clients=4):
        self.services = services
        self.acknowledged = set()  # (order id, version) acknowledged
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]
        for t in self.threads:
            t.start()

    def client(self, index):
        n = 0
        while not self.stopping.is_set():
            service = self.services[(index + n) % len(self.services)]
            n += 1
            try:
                client = service.client()
                placed = client.request("POST", "/orders", harness.SEED_BODY)
                if placed.status != 201:
                    continue
                order_id = placed.json["order_id"]
                with self.lock:
                    self.acknowledged.add((str(order_id), 1))
                paid = client.request("POST", f"/orders/{order_id}/pay",
                                      {"payment_reference": "P-" + str(n), "amount": "13.48"})
                if paid.status == 200:
                    with self.lock:
                        self.acknowledged.add((str(order_id), 2))
                client.close()
            except OSError:
                time.sleep(0.05)  # that service is down: try the next one

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()


def leader_of(services):
    for service in services:
        if not service.alive():
            continue
        try:
            metrics = service.client().request("GET", "/metrics").body.decode()
        except OSError:
            continue
        if harness.metric_value(metrics, "order_publisher_leader") == 1:
            return service
    return None


class PublicationFaults(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()
        self.topic = "e2e-faults-" + uuid.uuid4().hex[:10]
        self.env = dict(os.environ, KAFKA_BROKERS=brokers(), ORDER_TOPIC=self.topic)
        self.services = []

    def tearDown(self):
        for service in self.services:
            service.stop()
        self.db.drop()

    def start_service(self):
        service = harness.Service(self.db.url, env=self.env)
        self.services.append(service)
        return service

    def check_topic(self, kills):
        log = log_of(self.db)
        messages = consume(self.topic, set(log))
        seen, last, out_of_order, repeats = set(), {}, 0, 0
        for key, headers in messages:
            event_id = headers.get("event-id")
            if event_id in seen:
                repeats += 1
                continue
            seen.add(event_id)
            version = int(headers["stream-version"])
            if version != last.get(key, 0) + 1:
                out_of_order += 1
            last[key] = max(last.get(key, 0), version)
        missing = set(log) - seen
        print(f"  {len(log)} events in the log, {len(messages)} messages on the topic, "
              f"{repeats} repeated, {kills} kill(s)")
        self.assertEqual(set(), missing, f"{len(missing)} event(s) never reached the topic")
        self.assertEqual(0, out_of_order, "an order's events arrived out of version order")
        self.assertLessEqual(repeats, kills * 2 * BATCH, "more repeats than two batches per kill")
        return log

    def test_a_publisher_killed_mid_load_loses_nothing_after_restart(self):
        service = self.start_service()
        load = Load([service])
        time.sleep(3)
        service.process.send_signal(signal.SIGKILL)
        service.process.wait()
        time.sleep(1)
        restarted = self.start_service()
        load.services = [restarted]
        time.sleep(3)
        load.stop()
        wait_until_published(self.db)
        log = self.check_topic(kills=1)
        logged = {(stream, version) for stream, version in log.values()}
        lost = {ack for ack in load.acknowledged if ack not in logged}
        print(f"  {len(load.acknowledged)} writes acknowledged, {len(lost)} not in the log")
        self.assertGreater(len(load.acknowledged), 0)
        self.assertEqual(set(), lost, "an acknowledged write is not in the log")
        # The projector, killed with it, resumes from its checkpoint: the read model equals the log.
        deadline, verify = time.time() + 60, None
        while time.time() < deadline:
            verify = subprocess.run([harness.ARGS.admin, "verify", "orders", "--db-url", self.db.url],
                                    capture_output=True, text=True)
            if verify.returncode == 0:
                break
            time.sleep(0.5)
        self.assertEqual(0, verify.returncode, verify.stdout[-2000:] + verify.stderr[-2000:])

    def test_three_instances_hand_publication_over_when_the_leader_dies(self):
        services = [self.start_service() for _ in range(3)]
        load = Load(services, clients=6)
        deadline = time.time() + 10
        leader = None
        while leader is None and time.time() < deadline:
            leader = leader_of(services)
            time.sleep(0.2)
        self.assertIsNotNone(leader, "no instance took the publication lead")
        time.sleep(2)
        leader.process.send_signal(signal.SIGKILL)
        leader.process.wait()
        killed_at = time.time()
        successor = None
        while successor is None and time.time() < killed_at + 30:
            successor = leader_of(services)
            time.sleep(0.1)
        handover = time.time() - killed_at
        self.assertIsNotNone(successor, "no instance took publication over within 30 s")
        print(f"  publication handed over in {handover:.1f} s")
        self.assertLess(handover, 10)
        time.sleep(2)
        load.stop()
        wait_until_published(self.db)
        self.check_topic(kills=1)


if __name__ == "__main__":
    harness.run(__name__)
