"""The topic as the seed's own consumers read it (notification-service and store-service of the Go
system this service replaces): decode the envelope, switch on `type` knowing only order.created
and order.status_updated, decode `data` into their Go structs' field names and types, and fail on
any other type. Run over create, pay, ship, deliver and cancel through the real binary, with the
dev stack's real PostgreSQL and Kafka; then the same topic read by their own client, in Go
(seed_consumer/: segmentio/kafka-go v0.4.49 in a consumer group, encoding/json into their
structs). Also: one W3C trace id followed from the HTTP request to the event's Kafka headers and
the access log."""
import datetime
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import uuid

import harness

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def brokers():
    value = os.environ.get("KAFKA_BROKERS")
    if not value:
        raise SystemExit("KAFKA_BROKERS is not set: start the dev stack (tools/stack/stack.sh up)")
    return value


def consume(topic, keys, expected, timeout=60):
    """The topic's messages with one of `keys` as kcat's JSON (key, payload, headers), in
    partition order, read until `expected` distinct event ids are there or the timeout passes."""
    deadline = time.time() + timeout
    messages = []
    while time.time() < deadline:
        out = subprocess.run(["kcat", "-C", "-b", brokers(), "-t", topic, "-o", "beginning", "-e",
                              "-q", "-J"], capture_output=True, text=True, timeout=120)
        messages = []
        for line in out.stdout.splitlines():
            m = json.loads(line)
            raw = m.get("headers") or []
            m["headers"] = dict(zip(raw[0::2], raw[1::2]))
            if m["key"] in keys:
                messages.append(m)
        if len({m["headers"].get("event-id") for m in messages}) >= expected:
            break
        time.sleep(0.5)
    return messages


class GoDecodeError(Exception):
    pass


def go_field(obj, name):
    """encoding/json's member lookup: an exact match first, else a case-insensitive one."""
    if name in obj:
        return obj[name]
    for key, value in obj.items():
        if key.lower() == name.lower():
            return value
    return None


def go_int(value, bits=64, field=""):
    """A JSON number into a Go int: integers only, in range; null or absent leaves zero."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise GoDecodeError(f"json: cannot unmarshal {type(value).__name__} into {field} of type int")
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise GoDecodeError(f"json: {field} overflows int{bits}")
    return value


def go_string(value, field=""):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise GoDecodeError(f"json: cannot unmarshal {type(value).__name__} into {field} of type string")
    return value


def go_float(value, field=""):
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GoDecodeError(f"json: cannot unmarshal {type(value).__name__} into {field} of type float64")
    return float(value)


class SeedConsumer:
    """What notification-service and store-service do with each message of the topic
    (events/events.go: Event, OrderCreatedEvent, UpdatedOrderEvent, OrderItemData)."""

    def __init__(self):
        self.created = []   # OrderCreatedEvent as dicts
        self.updated = []   # UpdatedOrderEvent as dicts
        self.unknown = []   # types it logs as "Unknown event type" and drops
        self.errors = []    # messages it fails to decode

    def handle(self, value):
        try:
            envelope = json.loads(value)
            if not isinstance(envelope, dict):
                raise GoDecodeError("json: cannot unmarshal into Go value of type events.Event")
            event_type = go_string(go_field(envelope, "type"), "Event.type")
            go_string(go_field(envelope, "id"), "Event.id")
            go_string(go_field(envelope, "version"), "Event.version")
            # time.Time decodes RFC 3339 only.
            timestamp = go_string(go_field(envelope, "timestamp"), "Event.timestamp")
            datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
            data = go_field(envelope, "data")
            if not isinstance(data, dict):
                raise GoDecodeError("data is not an object")
            if event_type == "order.created":
                items = go_field(data, "items") or []
                self.created.append({
                    "orderid": go_int(go_field(data, "orderid"), field="orderid"),
                    "userid": go_int(go_field(data, "userid"), field="userid"),
                    "totalamount": go_string(go_field(data, "totalamount"), "totalamount"),
                    "status": go_string(go_field(data, "status"), "status"),
                    "items": [{
                        "product_id": go_int(go_field(i, "product_id"), 32, "product_id"),
                        "quantity": go_int(go_field(i, "quantity"), 32, "quantity"),
                        "price": go_float(go_field(i, "price"), "price"),
                    } for i in items],
                })
            elif event_type == "order.status_updated":
                self.updated.append({
                    "orderid": go_int(go_field(data, "orderid"), field="orderid"),
                    "oldstatus": go_string(go_field(data, "oldstatus"), "oldstatus"),
                    "newstatus": go_string(go_field(data, "newstatus"), "newstatus"),
                    "userid": go_int(go_field(data, "userid"), field="userid"),
                })
            else:
                self.unknown.append(event_type)
        except (GoDecodeError, ValueError) as error:
            self.errors.append((str(error), value[:200]))


HERE = os.path.dirname(os.path.abspath(__file__))
SEED_CONSUMER = os.path.join(HERE, "seed_consumer")


def go_binary():
    """A Go toolchain recent enough for the seed's client (tools/go-toolchain.sh: the machine's
    own, or one unpacked from the Go module proxy by tools/install-deps.sh test)."""
    found = subprocess.run([os.path.join(HERE, "..", "..", "tools", "go-toolchain.sh")],
                           capture_output=True, text=True, timeout=600)
    if found.returncode != 0:
        raise SystemExit(f"no Go to build the seed's consumer with: {found.stderr.strip()}")
    return found.stdout.strip()


def build_go_consumer(workdir):
    """seed_consumer/main.go built into `workdir`: its path."""
    binary = os.path.join(workdir, "seed-consumer")
    subprocess.run([go_binary(), "build", "-mod=readonly", "-o", binary, "."], cwd=SEED_CONSUMER,
                   env=dict(os.environ, GOTOOLCHAIN="local"), check=True, timeout=600)
    return binary


def run_go_consumer(binary, topic, count):
    """The seed's consumer (segmentio/kafka-go v0.4.49 in a consumer group, as their
    notification-service reads the topic) over `count` messages: what it made of each."""
    done = subprocess.run([binary, "-brokers", brokers(), "-topic", topic, "-count", str(count),
                           "-group", "notification-service-" + uuid.uuid4().hex[:8],
                           "-timeout", "90s"], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"the seed's consumer failed: {done.stderr.strip()}")
    return [json.loads(line) for line in done.stdout.splitlines()]


def topic_size(topic):
    """How many messages `topic` holds, all partitions."""
    offsets = subprocess.run(["kcat", "-C", "-b", brokers(), "-t", topic, "-o", "beginning", "-e",
                              "-q", "-f", "%o\\n"], capture_output=True, text=True, timeout=120)
    return len(offsets.stdout.split())


class SeedConsumersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.FreshDatabase()
        cls.topic = "e2e-seed-" + uuid.uuid4().hex[:10]
        env = dict(os.environ, KAFKA_BROKERS=brokers(), ORDER_TOPIC=cls.topic)
        cls.service = harness.Service(cls.db.url, env=env)
        cls.http = cls.service.client()
        cls.workdir = tempfile.TemporaryDirectory()
        cls.go_consumer = build_go_consumer(cls.workdir.name)

    @classmethod
    def tearDownClass(cls):
        cls.http.close()
        cls.service.stop()
        cls.db.drop()
        cls.workdir.cleanup()

    def post(self, path, body=None, headers=None, status=None, http=None):
        response = (http or self.http).request("POST", path, body, headers)
        if status is not None:
            self.assertEqual(status, response.status, f"POST {path}: {response}")
        return response

    def place(self, user_id, headers=None, http=None):
        """The seed's body (13.48 in all) for `user_id`: the new order's id."""
        body = dict(harness.SEED_BODY, user_id=user_id)
        return self.post("/orders", body, headers, 201, http).json["order_id"]

    def test_the_seeds_consumers_understand_every_event_of_every_lifecycle(self):
        pay = {"payment_reference": "PAY-1", "amount": "13.48"}
        ship = {"carrier": "DHL", "tracking_number": "JD014600003SE"}
        expected = []  # (orderid, userid, oldstatus, newstatus) of every status change
        orders = {}
        paths = [["pay", "ship", "deliver"], ["cancel"], ["pay", "cancel"], ["pay", "ship"], []]
        for n, path in enumerate(paths * 2):
            user_id = 200 + n
            order_id = self.place(user_id)
            orders[order_id] = user_id
            status = "pending"
            for step in path:
                body = {"pay": pay, "ship": ship, "deliver": None,
                        "cancel": {"reason": "changed my mind"}}[step]
                self.post(f"/orders/{order_id}/{step}", body, status=200)
                new = {"pay": "paid", "ship": "shipped", "deliver": "delivered",
                       "cancel": "cancelled"}[step]
                expected.append((order_id, user_id, status, new))
                status = new
        # An illegal transition writes nothing and so publishes nothing.
        delivered = next(o for o, u, old, new in expected if new == "delivered")
        self.post(f"/orders/{delivered}/cancel", {"reason": "too late"}, status=409)

        total = len(orders) + len(expected)
        messages = consume(self.topic, {str(o) for o in orders}, total)
        self.assertEqual(total, len({m["headers"]["event-id"] for m in messages}),
                         "not every event of the log reached the topic")

        consumer = SeedConsumer()
        for m in messages:
            consumer.handle(m["payload"])
        print(f"  {len(messages)} messages: {len(consumer.created)} created, "
              f"{len(consumer.updated)} status updates, {len(consumer.unknown)} unknown, "
              f"{len(consumer.errors)} undecodable")
        self.assertEqual([], consumer.unknown, "types the seed's consumers do not know")
        self.assertEqual([], consumer.errors, "messages the seed's consumers cannot decode")
        self.assertEqual(sorted(orders.items()),
                         sorted({(c["orderid"], c["userid"]) for c in consumer.created}))
        for c in consumer.created:
            self.assertEqual("13.48", c["totalamount"])
            self.assertEqual("pending", c["status"])
            self.assertEqual(harness.SEED_BODY["args"], c["items"])
        seen = sorted({(u["orderid"], u["userid"], u["oldstatus"], u["newstatus"])
                       for u in consumer.updated})
        self.assertEqual(sorted(expected), seen, "status changes as the notification-service reads them")

        # The same topic read by the seed's own client, its Go structs decoding every message:
        # the RFC 3339 timestamps as time.Time takes them, the numbers as int and int32.
        outcomes = run_go_consumer(self.go_consumer, self.topic, topic_size(self.topic))
        self.assert_understood(outcomes, orders, expected, messages)

        domain_type = {"paid": "order.paid", "shipped": "order.shipped",
                       "delivered": "order.delivered", "cancelled": "order.cancelled"}
        last_version = {}
        for m in messages:
            envelope = json.loads(m["payload"])
            headers = m["headers"]
            self.assertEqual(envelope["type"], headers["event-type"])
            self.assertEqual(envelope["id"], headers["event-id"])
            self.assertEqual(str(envelope["data"]["orderid"]), m["key"])
            if envelope["type"] == "order.status_updated":
                # The store-service reserves stock for the items of any event it sees.
                self.assertNotIn("items", envelope["data"], "a status change carries items")
                self.assertEqual(domain_type[envelope["data"]["newstatus"]],
                                 headers["domain-event-type"])
                self.assertEqual(envelope["data"]["newstatus"], envelope["data"]["status"])
                self.assertEqual("13.48", envelope["data"]["totalamount"])
            else:
                self.assertEqual("order.created", headers["domain-event-type"])
            # One order's events arrive in stream order (they share a partition).
            version = int(headers["stream-version"])
            if version > last_version.get(m["key"], 0):
                self.assertEqual(last_version.get(m["key"], 0) + 1, version,
                                 f"order {m['key']}: version {version} out of order")
                last_version[m["key"]] = version

    def assert_understood(self, outcomes, orders, expected, messages):
        """The Go consumer's `outcomes` hold every order of `orders` (id: user) as created and
        every (orderid, userid, old, new) of `expected` as a status change, each envelope's
        instant as kcat's `messages` hold it, and nothing it could not decode."""
        print(f"  segmentio/kafka-go v0.4.49 read {len(outcomes)} messages")
        self.assertEqual([], [o for o in outcomes if o.get("error") or o.get("unknown")],
                         "messages the seed's consumer could not decode")
        ours = [o for o in outcomes if o["key"] in {str(k) for k in orders}]
        self.assertEqual(sorted(orders.items()),
                         sorted({(o["created"]["orderid"], o["created"]["userid"])
                                 for o in ours if "created" in o}))
        for o in ours:
            if "created" in o:
                self.assertEqual({"orderid": int(o["key"]), "userid": orders[int(o["key"])],
                                  "totalamount": "13.48", "status": "pending",
                                  "items": harness.SEED_BODY["args"]}, o["created"])
        self.assertEqual(sorted(expected),
                         sorted({(o["updated"]["orderid"], o["updated"]["userid"],
                                  o["updated"]["oldstatus"], o["updated"]["newstatus"])
                                 for o in ours if "updated" in o}))
        envelopes = {json.loads(m["payload"])["id"]: json.loads(m["payload"]) for m in messages}
        for o in ours:
            stamp = datetime.datetime.fromisoformat(envelopes[o["id"]]["timestamp"])
            self.assertEqual(stamp, datetime.datetime.fromisoformat(o["timestamp"]),
                             "time.Time read another instant")

    def test_the_seeds_consumer_reads_lz4_when_the_operator_chooses_it(self):
        # compression.type=lz4 in KAFKA_CONFIG_FILE, as the README offers an operator whose
        # consumers all read it: another instance, with a database and a topic of its own (one
        # log has one publisher).
        topic = "e2e-seed-lz4-" + uuid.uuid4().hex[:10]
        db = harness.FreshDatabase()
        self.addCleanup(db.drop)
        with tempfile.NamedTemporaryFile("w", suffix=".properties") as config:
            config.write("compression.type=lz4\n")
            config.flush()
            env = dict(os.environ, KAFKA_BROKERS=brokers(), ORDER_TOPIC=topic,
                       KAFKA_CONFIG_FILE=config.name)
            service = harness.Service(db.url, env=env)
            try:
                http = service.client()
                order_id = self.place(300, http=http)
                self.post(f"/orders/{order_id}/pay",
                          {"payment_reference": "PAY-LZ4", "amount": "13.48"}, status=200,
                          http=http)
                http.close()
                self.assertIn("compression.type", service.output(),
                              "the service names the file's properties at start")
                messages = consume(topic, {str(order_id)}, 2)  # published before the stop
            finally:
                service.stop()
        outcomes = run_go_consumer(self.go_consumer, topic, topic_size(topic))
        self.assert_understood(outcomes, {order_id: 300}, [(order_id, 300, "pending", "paid")],
                               messages)

    def test_one_trace_id_runs_from_the_request_to_the_kafka_headers_and_the_access_log(self):
        caller = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
        created = self.http.request("POST", "/orders", harness.SEED_BODY,
                                    {"traceparent": caller, "tracestate": "congo=t61rcWkgMzE"})
        self.assertEqual(201, created.status, created)
        order_id = created.json["order_id"]
        ours = created.headers["traceresponse"]
        match = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", ours)
        self.assertIsNotNone(match, ours)
        self.assertEqual(TRACE_ID, match.group(1), "the request's trace is continued")
        self.assertNotEqual(CALLER_SPAN, match.group(2), "the service's span is its own")

        # Malformed trace context is ignored, never refused: a new trace starts.
        paid = self.post(f"/orders/{order_id}/pay", {"payment_reference": "P", "amount": "13.48"},
                         {"traceparent": "00-not-a-trace-context-01", "tracestate": "x=y"}, 200)
        new_trace = paid.headers["traceresponse"]
        self.assertRegex(new_trace, r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")
        self.assertNotIn(TRACE_ID, new_trace)

        history = self.http.request("GET", f"/orders/{order_id}/events")
        metadata = [e["metadata"] for e in history.json["events"]]
        self.assertEqual(ours, metadata[0]["traceparent"])
        self.assertEqual("congo=t61rcWkgMzE", metadata[0]["tracestate"])
        self.assertEqual(new_trace, metadata[1]["traceparent"])
        self.assertNotIn("tracestate", metadata[1], "a tracestate without a valid parent is dropped")

        messages = consume(self.topic, {str(order_id)}, 2)
        by_version = {m["headers"]["stream-version"]: m["headers"] for m in messages}
        self.assertEqual(ours, by_version["1"].get("traceparent"), by_version["1"])
        self.assertEqual("congo=t61rcWkgMzE", by_version["1"].get("tracestate"))
        self.assertEqual(new_trace, by_version["2"].get("traceparent"), by_version["2"])
        self.assertNotIn("tracestate", by_version["2"])

        lines = [json.loads(line) for line in self.service.output().splitlines()
                 if line.startswith("{") and '"msg":"request"' in line]
        traced = [line for line in lines if line.get("trace_id") == TRACE_ID]
        self.assertEqual(1, len(traced), "the access log names the request's trace id once")
        self.assertEqual("POST", traced[0]["method"])
        self.assertEqual(created.headers["x-request-id"], traced[0]["request_id"])


if __name__ == "__main__":
    harness.run(__name__)
