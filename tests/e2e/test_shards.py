"""Publication and projections in shards shared by several instances: the real order-service
binary, a real PostgreSQL and the real Kafka broker of the dev stack. Three instances with six
shards each lead two shards of every subscription under load; one killed with SIGKILL has its
shards taken over within 5 s; a fourth started takes its share. Afterwards every event of the log
is on the topic, each order's events first arrive in version order, the repeats stay within two
batches per shard of the killed instance, and `order-admin verify` finds both read models equal to
the log. And an instance whose SUBSCRIPTION_SHARDS differs from the checkpoints refuses that
subscription (not ready) until `order-admin reshard` changes them."""
import os
import re
import signal
import subprocess
import time
import unittest
import uuid

import harness
from test_publication_faults import BATCH, Load, brokers, consume, log_of

SHARDS = 6
SUBSCRIPTIONS = ("publisher", "projector", "product_sales")
LEADER = re.compile(
    r'order_subscription_shard_leader\{subscription="(\w+)",shard="(\d+)",shards="(\d+)"\} 1')


def led_shards(service):
    """{subscription: {shard, ...}} this instance leads, from its /metrics; None when down."""
    if not service.alive():
        return None
    try:
        text = service.client().request("GET", "/metrics").body.decode()
    except OSError:
        return None
    led = {name: set() for name in SUBSCRIPTIONS}
    for subscription, shard, _ in LEADER.findall(text):
        led[subscription].add(int(shard))
    return led


def wait_for(condition, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


def unpublished(db, subscription="kafka-publisher"):
    """Events of the log no shard of the subscription has passed yet."""
    rows = harness.psql(db.url, f"""
        SELECT count(*) FROM events e WHERE NOT EXISTS (
          SELECT 1 FROM subscriptions s
          WHERE split_part(s.name, '#', 1) = '{subscription}'
            AND (s.name = '{subscription}'
                 OR mod(e.stream_id, split_part(s.name, '/', 2)::int)
                    = split_part(split_part(s.name, '#', 2), '/', 1)::int)
            AND (e.transaction_id, e.global_position) <= (s.transaction_id, s.global_position))""")
    return int(rows[0][0])


class Shards(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()
        self.topic = "e2e-shards-" + uuid.uuid4().hex[:10]
        self.services = []

    def tearDown(self):
        for service in self.services:
            service.stop()
        self.db.drop()

    def start_service(self, instance, shards=SHARDS):
        env = dict(os.environ, KAFKA_BROKERS=brokers(), ORDER_TOPIC=self.topic,
                   SUBSCRIPTION_SHARDS=str(shards), INSTANCE_ID=instance)
        service = harness.Service(self.db.url, env=env)
        service.instance = instance
        self.services.append(service)
        return service

    def admin(self, *args):
        return subprocess.run([harness.ARGS.admin, *args, "--db-url", self.db.url],
                              capture_output=True, text=True, timeout=120)

    def dealt_evenly(self, services):
        """Each live service leads SHARDS / len(services) shards of every subscription, and
        together they lead every shard once."""
        views = [led_shards(s) for s in services]
        if any(v is None for v in views):
            return False
        share = SHARDS // len(services)
        for name in SUBSCRIPTIONS:
            if any(len(v[name]) != share for v in views):
                return False
            if set().union(*(v[name] for v in views)) != set(range(SHARDS)):
                return False
        return views

    def check_topic(self, repeat_bound):
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
              f"{repeats} repeated (bound {repeat_bound})")
        self.assertGreater(len(log), 0)
        self.assertEqual(set(), missing, f"{len(missing)} event(s) never reached the topic")
        self.assertEqual(0, out_of_order, "an order's events arrived out of version order")
        self.assertLessEqual(repeats, repeat_bound)
        return log

    def test_three_instances_share_six_shards_survive_a_kill_and_rebalance_for_a_fourth(self):
        a, b, c = (self.start_service(name) for name in ("a", "b", "c"))
        load = Load([a, b, c], clients=6)
        try:
            views = wait_for(lambda: self.dealt_evenly([a, b, c]), 20)
            self.assertTrue(views, f"three instances did not each lead two shards: "
                                   f"{[led_shards(s) for s in (a, b, c)]}")
            print(f"  dealt: {dict(zip('abc', views))}")
            status = self.admin("status")
            self.assertEqual(0, status.returncode, status.stderr)
            for instance in ("a", "b", "c"):
                self.assertIn(f" {instance} ", status.stdout)
            time.sleep(2)

            killed = led_shards(b)
            b.process.send_signal(signal.SIGKILL)
            b.process.wait()
            killed_at = time.time()

            def taken_over():
                views = [led_shards(s) for s in (a, c)]
                if any(v is None for v in views):
                    return False
                return all(set().union(*(v[name] for v in views)) == set(range(SHARDS))
                           for name in SUBSCRIPTIONS)
            self.assertTrue(wait_for(taken_over, 30, step=0.05),
                            "the killed instance's shards were not all taken over")
            handover = time.time() - killed_at
            print(f"  the killed instance's shards {killed} taken over in {handover:.1f} s")
            self.assertLess(handover, 5)

            time.sleep(2)
            d = self.start_service("d")
            load.services = [a, c, d]
            started_at = time.time()
            views = wait_for(lambda: self.dealt_evenly([a, c, d]), 30)
            self.assertTrue(views, f"the shards were not dealt again over a, c, d: "
                                   f"{[led_shards(s) for s in (a, c, d)]}")
            print(f"  rebalanced over a, c, d in {time.time() - started_at:.1f} s: "
                  f"{dict(zip('acd', views))}")
            time.sleep(3)
        finally:
            load.stop()
        self.assertTrue(wait_for(lambda: unpublished(self.db) == 0, 120, step=0.5),
                        "publication did not catch up")
        # One kill repeats at most the two batches in flight of each shard the killed instance
        # led; a shard given back on rebalancing finishes and checkpoints its batches first.
        log = self.check_topic(repeat_bound=len(killed["publisher"]) * 2 * BATCH)
        logged = {(stream, version) for stream, version in log.values()}
        lost = {ack for ack in load.acknowledged if ack not in logged}
        self.assertGreater(len(load.acknowledged), 0)
        self.assertEqual(set(), lost, "an acknowledged write is not in the log")
        for model, subscription in (("orders", "orders-projector"),
                                    ("product-sales", "product-sales-projector")):
            self.assertTrue(wait_for(lambda: unpublished(self.db, subscription) == 0, 60, 0.5),
                            f"{model} did not catch up")
            verify = self.admin("verify", model)
            self.assertEqual(0, verify.returncode, verify.stdout[-2000:] + verify.stderr[-2000:])

    def test_a_layout_other_than_the_checkpoints_is_refused_until_resharded(self):
        first = self.start_service("a", shards=SHARDS)
        client = first.client()
        for _ in range(20):
            self.assertEqual(201, client.request("POST", "/orders", harness.SEED_BODY).status)
        self.assertTrue(wait_for(lambda: unpublished(self.db) == 0, 30, 0.2))
        self.assertTrue(wait_for(lambda: unpublished(self.db, "orders-projector") == 0, 30, 0.2))
        first.stop()

        other = self.start_service("b", shards=2)
        ready = other.client().request("GET", "/readyz")
        self.assertEqual(503, ready.status)
        self.assertIn("order-admin reshard", ready.body.decode())
        self.assertIn("not started", other.output())
        # Nothing of the other layout was written: the six checkpoints stay as they were.
        self.assertEqual("18", self.db.scalar("SELECT count(*) FROM subscriptions "
                                              "WHERE name LIKE '%#%/6'"))
        other.stop()

        for subscription in ("kafka-publisher", "orders-projector", "product-sales-projector"):
            resharded = self.admin("reshard", subscription, "2", "--wait", "10")
            self.assertEqual(0, resharded.returncode, resharded.stdout + resharded.stderr)
            self.assertIn("from 6 to 2", resharded.stdout)
        again = self.start_service("b", shards=2)
        self.assertEqual(200, wait_for(
            lambda: again.client().request("GET", "/readyz").status == 200 and 200, 20))
        client = again.client()
        for _ in range(10):
            self.assertEqual(201, client.request("POST", "/orders", harness.SEED_BODY).status)
        self.assertTrue(wait_for(lambda: unpublished(self.db) == 0, 30, 0.2))
        self.assertTrue(wait_for(lambda: unpublished(self.db, "orders-projector") == 0, 30, 0.2))
        verify = self.admin("verify", "orders")
        self.assertEqual(0, verify.returncode, verify.stdout + verify.stderr)
        # Resharding moved no checkpoint back: every event is on the topic exactly once.
        self.check_topic(repeat_bound=0)


if __name__ == "__main__":
    harness.run(__name__)
