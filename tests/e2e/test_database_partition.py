"""The database cut off from the network: a partition, a host that died, a failover that moved its
address. Nothing answers then, not even a reset, so only timeouts end a wait. While the cut lasts,
every request is answered 503 problem+json within the service's network timeout and one connect
timeout (10 s and 5 s, adapters/pg/conninfo.hpp; the kernel alone would wait about 15 minutes),
/readyz says not ready, and no write is acknowledged; once it heals, the same process serves again
by itself and every acknowledged order is in the log. A SIGTERM while cut off stops the process
once its connections die at that timeout, without waiting for new ones but the requests'. An
instance cut off while it leads the publication loses it to an instance that still reaches the
database: the server gives the cut-off session up within the same timeout, which frees its lock,
and every event, those placed through the other instance after the cut included, reaches Kafka.

The cut is iptables dropping every packet to and from 127.0.0.2, a second address of the dev
stack's server (tools/stack/pg.sh) that only the cut-off instance uses. It needs iptables and
root, or sudo without a password; without them the tests are skipped and say why."""
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
import unittest
import uuid
from urllib.parse import urlsplit, urlunsplit

import harness
from test_publication_faults import Load, brokers, consume, log_of

CUT_ADDRESS = "127.0.0.2"
NETWORK_TIMEOUT_S = 10   # kNetworkTimeoutMs
CONNECT_TIMEOUT_S = 5    # kConnectTimeoutS
# A request may find its connection dead at the end of the network timeout (probes go out once a
# second), then wait for one fresh connection in vain.
SLOWEST_S = NETWORK_TIMEOUT_S + CONNECT_TIMEOUT_S + 3


def iptables_command():
    if shutil.which("iptables") is None:
        return None, "iptables is not installed (tools/install-deps.sh installs it)"
    if os.geteuid() != 0 and shutil.which("sudo") is None:
        return None, "changing iptables rules needs root, and sudo is not installed"
    command = ["iptables"] if os.geteuid() == 0 else ["sudo", "-n", "iptables"]
    probe = subprocess.run([*command, "-L", "INPUT", "-n"], capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"iptables cannot change the rules here: {probe.stderr.strip()}"
    return command, None


class Cut:
    """Drops the packets to and from CUT_ADDRESS on the server's port, both ways."""

    def __init__(self, command, port):
        self.command = command
        self.rules = [["-d", CUT_ADDRESS, "-p", "tcp", "--dport", str(port), "-j", "DROP"],
                      ["-s", CUT_ADDRESS, "-p", "tcp", "--sport", str(port), "-j", "DROP"]]

    def start(self):
        for rule in self.rules:
            subprocess.run([*self.command, "-I", "INPUT", *rule], check=True, capture_output=True)

    def heal(self):
        for rule in self.rules:
            while subprocess.run([*self.command, "-D", "INPUT", *rule],
                                 capture_output=True).returncode == 0:
                pass


def through_cut_address(url):
    parts = urlsplit(url)
    netloc = parts.netloc.replace("127.0.0.1", CUT_ADDRESS)
    if netloc == parts.netloc:
        raise unittest.SkipTest(f"the stack's database is not on 127.0.0.1: {url}")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def timed_request(port, method, path, body=None):
    """(start, end, status, headers, parsed body); status 0 when the connection failed.
    A client of its own per request, patient far beyond the bound the test checks."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.monotonic()
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=None if body is None else json.dumps(body),
                           headers=headers)
        raw = connection.getresponse()
        data = raw.read()
        end = time.monotonic()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        headers = {k.lower(): v for k, v in raw.getheaders()}
        return start, end, raw.status, headers, parsed
    except OSError:
        return start, time.monotonic(), 0, {}, None
    finally:
        connection.close()


def is_publication_leader(service):
    try:
        text = service.client().request("GET", "/metrics").body.decode()
    except OSError:
        return False
    return harness.metric_value(text, "order_publisher_leader") == 1


class DatabasePartition(unittest.TestCase):
    def setUp(self):
        command, reason = iptables_command()
        if command is None:
            self.skipTest(reason)
        server = through_cut_address(harness.with_database(harness.server_url(), "postgres"))
        try:
            harness.psql(server, "SELECT 1")
        except subprocess.CalledProcessError as error:
            self.fail(f"the dev stack's server does not answer on {CUT_ADDRESS}; one started "
                      "before it listened there needs a restart (tools/stack/stack.sh down, then "
                      f"up): {error.stderr.strip()}")
        self.db = harness.FreshDatabase()
        self.cut = Cut(command, urlsplit(self.db.url).port)
        self.cut.heal()  # a rule left by an interrupted run
        self.cut_url = through_cut_address(self.db.url)
        self.services = []

    def tearDown(self):
        self.cut.heal()
        for service in self.services:
            service.stop()
        self.db.drop()

    def start_service(self, url, env=None):
        service = harness.Service(url, env=env)
        self.services.append(service)
        return service

    def test_requests_end_in_503_while_cut_off_and_the_process_recovers_after(self):
        service = self.start_service(self.cut_url)
        placed = service.client().request("POST", "/orders", harness.SEED_BODY)
        self.assertEqual(201, placed.status, placed)
        outcomes, lock, stopping = [], threading.Lock(), threading.Event()

        def client(method, path, body):
            while not stopping.is_set():
                outcome = timed_request(service.port, method, path, body)
                with lock:
                    outcomes.append((method, path, *outcome))
                time.sleep(0.05 if outcome[2] in (200, 201) else 0.2)

        threads = [threading.Thread(target=client, args=("POST", "/orders", harness.SEED_BODY))
                   for _ in range(4)]
        threads.append(threading.Thread(target=client, args=("GET", f"/orders/{placed.json['order_id']}", None)))
        threads.append(threading.Thread(target=client, args=("GET", "/readyz", None)))
        for t in threads:
            t.start()
        time.sleep(2)
        self.cut.start()
        cut_at = time.monotonic()
        time.sleep(SLOWEST_S + 4)
        self.cut.heal()
        healed_at = time.monotonic()
        recovered_at = None
        while time.monotonic() < healed_at + 20 and recovered_at is None:
            with lock:
                recovered_at = next((end for method, _, _, end, status, _, _ in outcomes
                                     if method == "POST" and status == 201 and end > healed_at),
                                    None)
            time.sleep(0.1)
        time.sleep(1)
        stopping.set()
        for t in threads:
            t.join()

        statuses = {}
        for method, path, _, _, status, _, _ in outcomes:
            statuses[f"{method} {path} {status}"] = statuses.get(f"{method} {path} {status}", 0) + 1
        worst = max(outcomes, key=lambda o: o[3] - o[2])
        slowest = worst[3] - worst[2]
        print(f"  {statuses}; slowest answer {slowest:.1f} s ({worst[0]} {worst[1]} {worst[4]}, "
              f"asked {worst[2] - cut_at:+.1f} s from the cut); first order placed "
              + (f"{recovered_at - healed_at:.1f} s after the cut healed" if recovered_at
                 else "never after the cut healed"))
        self.assertLess(slowest, SLOWEST_S, "a request waited on the cut-off database past the "
                                            "network timeout")
        for method, path, start, end, status, headers, body in outcomes:
            self.assertIn(status, (200, 201, 503), f"{method} {path}: {status} {body}")
            if status == 503:
                self.assertEqual("application/problem+json", headers.get("content-type"))
                self.assertEqual("unavailable", body["code"])
                self.assertIn("retry-after", headers)
            if cut_at + 0.5 < start and end < healed_at:
                self.assertEqual(503, status, f"{method} {path} answered {status} while cut off")
        during = [o for o in outcomes if cut_at + 0.5 < o[2] and o[3] < healed_at]
        for method, path in (("POST", "/orders"), ("GET", f"/orders/{placed.json['order_id']}"),
                             ("GET", "/readyz")):
            self.assertTrue(any(o[0] == method and o[1] == path for o in during),
                            f"no {method} {path} was answered while cut off")
        self.assertIsNotNone(recovered_at, "no order was placed within 20 s after the cut healed")

        acknowledged = {body["order_id"] for method, _, _, _, status, _, body in outcomes
                        if method == "POST" and status == 201}
        logged = {int(row[0]) for row in harness.psql(self.db.url,
                                                      "SELECT DISTINCT stream_id FROM events")}
        self.assertEqual(set(), acknowledged - logged, "an acknowledged order is not in the log")
        ready = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = timed_request(service.port, "GET", "/readyz")
            if ready[2] == 200:
                break
            time.sleep(0.5)
        self.assertEqual(200, ready[2], f"not ready 30 s after the cut healed: {ready[4]}")

    def test_a_stop_while_cut_off_waits_for_the_network_timeout_not_more(self):
        service = self.start_service(self.cut_url)
        stopping = threading.Event()

        def client():
            while not stopping.is_set():
                timed_request(service.port, "POST", "/orders", harness.SEED_BODY)

        threads = [threading.Thread(target=client) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(2)
        self.cut.start()
        time.sleep(2)
        asked = time.monotonic()
        status = service.stop(timeout=60)
        took = time.monotonic() - asked
        stopping.set()
        for t in threads:
            t.join()
        print(f"  SIGTERM while cut off: stopped in {took:.1f} s, status {status}")
        self.assertEqual(0, status, service.output()[-2000:])
        # Requests in flight wait for their connection to die at the network timeout, and those
        # queued behind them for one new connection, in vain; the subscriptions and the
        # heartbeat, which stop after the requests, try no new connection for it (they did: 20.6 s).
        self.assertLess(took, NETWORK_TIMEOUT_S + CONNECT_TIMEOUT_S + 2)

    def test_a_leader_cut_off_under_load_loses_the_publication_to_an_instance_that_is_not(self):
        topic = "e2e-partition-" + uuid.uuid4().hex[:10]
        env = dict(os.environ, KAFKA_BROKERS=brokers(), ORDER_TOPIC=topic)
        # The publication is the first subscription, whose one shard goes to the first of the
        # members in name order (projections/shard_assignment.hpp): the instance to be cut off.
        suffix = uuid.uuid4().hex[:8]
        cut_off = self.start_service(self.cut_url, env=dict(env, INSTANCE_ID=f"a-{suffix}"))
        deadline = time.monotonic() + 10
        while not is_publication_leader(cut_off) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(is_publication_leader(cut_off), "the first instance did not lead")
        other = self.start_service(self.db.url, env=dict(env, INSTANCE_ID=f"b-{suffix}"))
        # Orders placed through the other instance keep the leader's session busy publishing
        # them: at the cut the server is likely to have sent it data that is never acknowledged.
        load = Load([other], clients=2)
        time.sleep(2)
        self.assertFalse(is_publication_leader(other), "both instances lead the publication")

        self.cut.start()
        cut_at = time.monotonic()
        while not is_publication_leader(other) and time.monotonic() < cut_at + 40:
            time.sleep(0.2)
        took_over = time.monotonic() - cut_at
        print(f"  publication taken over {took_over:.1f} s after the leader was cut off")
        time.sleep(1)
        load.stop()
        self.assertTrue(is_publication_leader(other), "no takeover within 40 s of the cut")
        self.assertLess(took_over, NETWORK_TIMEOUT_S + 6)

        # Every event of the log reaches Kafka, those placed after the cut included.
        log = set(log_of(self.db))
        self.assertGreater(len(load.acknowledged), 0)
        messages = consume(topic, log, timeout=60)
        missing = log - {headers.get("event-id") for _, headers in messages}
        print(f"  {len(log)} events in the log, {len(messages)} messages on the topic")
        self.assertEqual(set(), missing, f"{len(missing)} event(s) never reached the topic")


if __name__ == "__main__":
    harness.run(__name__)
