"""The real order-service over HTTP: the seed's request, the Go service's aliases, a corpus of
bad requests (clear problem+json, nothing changed, never a 5xx), the lifecycle, idempotency,
keep-alive, and a slow database call that must not stall other connections."""
import json
import os
import subprocess
import threading
import time
import unittest
import urllib.parse
import uuid

import harness
from harness import Client, SEED_BODY


class HttpApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.FreshDatabase()
        try:
            cls.service = harness.Service(cls.db.url, ["--topic", "e2e-" + cls.db.name])
        except Exception:
            cls.db.drop()
            raise
        cls.http = cls.service.client()

    @classmethod
    def tearDownClass(cls):
        cls.http.close()
        code = cls.service.stop()
        cls.db.drop()
        assert code == 0, f"service exited {code} on SIGTERM"

    def create(self, body=None, headers=None):
        response = self.http.request("POST", "/orders", body or SEED_BODY, headers)
        self.assertEqual(response.status, 201, response)
        return response

    def assert_problem(self, response, status, code, field=None):
        self.assertEqual(response.status, status, response)
        self.assertEqual(response.headers.get("content-type"), "application/problem+json")
        self.assertEqual(response.json["status"], status)
        self.assertEqual(response.json["code"], code, response)
        if field is not None:
            fields = [e["field"] for e in response.json.get("errors", [])]
            self.assertIn(field, fields, response)

    def test_the_seed_request_creates_the_seed_order_and_its_event(self):
        response = self.create(headers={"X-Request-Id": "seed-req-1"})
        order = response.json
        self.assertEqual(response.headers["location"], f"/orders/{order['order_id']}")
        self.assertEqual(response.headers["etag"], '"1"')
        self.assertEqual(response.headers["content-type"], "application/json")
        self.assertEqual(response.headers["x-request-id"], "seed-req-1")
        self.assertEqual(order["user_id"], 101)
        self.assertEqual(order["status"], "pending")
        self.assertEqual(order["total_amount"], "13.48")
        self.assertEqual([i["price"] for i in order["items"]], [4.99, 3.5])
        self.assertIn(b'"price":4.99', response.body)

        again = self.http.request("GET", response.headers["location"])
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json, order)

        row = self.db.scalar(
            f"SELECT json_build_array(event_type, stream_version, event_id, data, metadata) "
            f"FROM events WHERE stream_id = {order['order_id']}")
        event_type, version, event_id, data, metadata = json.loads(row)
        self.assertEqual((event_type, version), ("order.created", 1))
        uuid.UUID(event_id)
        self.assertEqual(data, {"orderid": order["order_id"], "userid": 101, "totalamount": "13.48",
                                "status": "pending",
                                "items": [{"product_id": 1001, "quantity": 2, "price": 4.99},
                                          {"product_id": 1002, "quantity": 1, "price": 3.5}]})
        self.assertEqual(metadata["request_id"], "seed-req-1")

    def test_the_go_service_routes_and_userid_still_work(self):
        body = {"userid": 7, "args": [{"product_id": 5, "quantity": 1, "price": 2}]}
        created = self.http.request("POST", "/api/v1/order", body)
        self.assertEqual(created.status, 201, created)
        self.assertEqual(created.json["user_id"], 7)
        fetched = self.http.request("GET", f"/api/v1/orders/{created.json['order_id']}")
        self.assertEqual(fetched.status, 200)

    def test_bad_requests_get_clear_problems_and_change_nothing(self):
        self.create()
        events_before = self.db.scalar("SELECT count(*) FROM events")
        item = {"product_id": 1, "quantity": 1, "price": 1}
        corpus = [
            ("truncated JSON", "POST", "/orders", '{"user_id": 1, "args": [', 400, "malformed_json", None),
            ("trailing comma", "POST", "/orders", '{"user_id": 1,}', 400, "malformed_json", None),
            ("trailing data", "POST", "/orders", '{}x', 400, "malformed_json", None),
            ("invalid UTF-8", "POST", "/orders", b'{"user_id": "\xff"}', 400, "malformed_json", None),
            ("empty body", "POST", "/orders", "", 400, "malformed_json", None),
            ("user_id given twice", "POST", "/orders", '{"user_id": 1, "user_id": 2, "args": [{"product_id": 1, "quantity": 1, "price": 1}]}', 400, "malformed_json", None),
            ("quantity given twice", "POST", "/orders", '{"user_id": 1, "args": [{"product_id": 1, "quantity": 1, "quantity": 9, "price": 1}]}', 400, "malformed_json", None),
            ("not an object", "POST", "/orders", "[1, 2]", 422, "validation_failed", ""),
            ("string user_id", "POST", "/orders", {"user_id": "1", "args": [item]}, 422, "validation_failed", "user_id"),
            ("float quantity", "POST", "/orders", {"user_id": 1, "args": [dict(item, quantity=1.5)]}, 422, "validation_failed", "args[0].quantity"),
            ("boolean price", "POST", "/orders", {"user_id": 1, "args": [dict(item, price=True)]}, 422, "validation_failed", "args[0].price"),
            ("items not an array", "POST", "/orders", {"user_id": 1, "items": {}}, 422, "validation_failed", "items"),
            ("item not an object", "POST", "/orders", {"user_id": 1, "items": [3]}, 422, "validation_failed", "items[0]"),
            ("no user_id", "POST", "/orders", {"args": [item]}, 422, "validation_failed", "user_id"),
            ("no items", "POST", "/orders", {"user_id": 1}, 422, "validation_failed", "items"),
            ("no price", "POST", "/orders", {"user_id": 1, "args": [{"product_id": 1, "quantity": 1}]}, 422, "validation_failed", "args[0].price"),
            ("unknown field", "POST", "/orders", {"user_id": 1, "args": [item], "coupon": "X"}, 422, "validation_failed", "coupon"),
            ("unknown item field", "POST", "/orders", {"user_id": 1, "args": [dict(item, colour=1)]}, 422, "validation_failed", "args[0].colour"),
            ("user ids differ", "POST", "/orders", {"user_id": 1, "userid": 2, "args": [item]}, 422, "validation_failed", "userid"),
            ("zero quantity", "POST", "/orders", {"user_id": 1, "args": [dict(item, quantity=0)]}, 422, "validation_failed", "args[0].quantity"),
            ("negative quantity", "POST", "/orders", {"user_id": 1, "args": [dict(item, quantity=-3)]}, 422, "validation_failed", "args[0].quantity"),
            ("quantity 10001", "POST", "/orders", {"user_id": 1, "args": [dict(item, quantity=10001)]}, 422, "validation_failed", "args[0].quantity"),
            ("zero price", "POST", "/orders", {"user_id": 1, "args": [dict(item, price=0)]}, 422, "validation_failed", "args[0].price"),
            ("negative price", "POST", "/orders", {"user_id": 1, "args": [dict(item, price=-1)]}, 422, "validation_failed", "args[0].price"),
            ("absurd price", "POST", "/orders", {"user_id": 1, "args": [dict(item, price=1000000.01)]}, 422, "validation_failed", "args[0].price"),
            ("sub-cent price", "POST", "/orders", '{"user_id": 1, "args": [{"product_id": 1, "quantity": 1, "price": 4.999}]}', 422, "validation_failed", "args[0].price"),
            ("101 items", "POST", "/orders", {"user_id": 1, "args": [dict(item, product_id=i) for i in range(1, 102)]}, 422, "validation_failed", "args"),
            ("duplicate product", "POST", "/orders", {"user_id": 1, "args": [item, item]}, 422, "validation_failed", "args[1].product_id"),
            ("beyond 64 bits", "POST", "/orders", '{"user_id": 99999999999999999999, "args": [{"product_id": 1, "quantity": 1, "price": 1}]}', 422, "validation_failed", "user_id"),
            ("100 KB body", "POST", "/orders", '{"user_id": 1, "pad": "' + "x" * 100_000 + '"}', 413, "body_too_large", None),
            ("unknown route", "GET", "/nothing/here", None, 404, "not_found", None),
            ("bad order id", "GET", "/orders/abc", None, 404, "order_not_found", None),
            ("order id 0", "GET", "/orders/0", None, 404, "order_not_found", None),
            ("unknown order", "GET", "/orders/999999", None, 404, "order_not_found", None),
            ("bad version", "GET", "/orders/1?version=abc", None, 400, "bad_request", None),
            ("bad as_of", "GET", "/orders/1?as_of=yesterday", None, 400, "bad_request", None),
            ("as_of in month 13", "GET", "/orders/1?as_of=2025-13-45T99:99:99Z", None, 400, "bad_request", None),
            ("as_of on February 29 of 2025", "GET", "/orders/1?as_of=2025-02-29T00:00:00Z", None, 400, "bad_request", None),
            ("as_of offset of 24 hours", "GET", "/orders/1?as_of=2025-01-01T00:00:00%2B24:00", None, 400, "bad_request", None),
            ("pay unknown order", "POST", "/orders/999999/pay", {"payment_reference": "p", "amount": 1}, 404, "order_not_found", None),
            ("bad list filter", "GET", "/orders?status=lost", None, 400, "bad_request", None),
        ]
        for name, method, path, body, status, code, field in corpus:
            with self.subTest(name):
                response = self.http.request(method, path, body)
                self.assert_problem(response, status, code, field)

        for content_type in ("text/plain", None):
            with self.subTest(f"content type {content_type}"):
                headers = {"Content-Type": content_type}
                response = self.http.request("POST", "/orders", json.dumps(SEED_BODY), headers)
                self.assert_problem(response, 415, "unsupported_media_type")
        bad_headers = [("Idempotency-Key", b"key-\xdd\xdd"), ("Idempotency-Key", b"key\x01"),
                       ("Idempotency-Key", b"k" * 201), ("X-Actor", b"\xc3\x28")]
        for header, value in bad_headers:
            with self.subTest(f"{header} {value[:12]!r}"):
                response = self.http.request("POST", "/orders", SEED_BODY, {header: value})
                self.assert_problem(response, 400, "bad_request")
                self.assertIn(header, response.json["detail"])
        for method, path in (("DELETE", "/orders/1"), ("PUT", "/orders")):
            with self.subTest(f"{method} {path}"):
                response = self.http.request(method, path)
                self.assert_problem(response, 405, "method_not_allowed")
                self.assertIn("allow", response.headers)

        self.assertEqual(self.db.scalar("SELECT count(*) FROM events"), events_before)
        self.assertTrue(self.service.alive())
        self.assertEqual(self.http.request("GET", "/healthz").status, 200)

    def test_the_lifecycle_with_versions_and_history(self):
        order = self.create().json
        oid = order["order_id"]
        steps = [("pay", {"payment_reference": "PAY-9", "amount": "13.48"}),
                 ("ship", {"carrier": "DHL", "tracking_number": "JD01"}),
                 ("deliver", None)]
        for version, (step, body) in enumerate(steps, start=2):
            response = self.http.request("POST", f"/orders/{oid}/{step}", body)
            self.assertEqual(response.status, 200, response)
            self.assertEqual(response.headers["etag"], f'"{version}"')
        self.assert_problem(self.http.request("POST", f"/orders/{oid}/cancel"), 409,
                            "illegal_transition")
        self.assertEqual(self.http.request("GET", f"/orders/{oid}?version=1").json["status"], "pending")
        self.assert_problem(self.http.request("GET", f"/orders/{oid}?as_of=2000-01-01T00:00:00Z"),
                            404, "order_not_found")
        # Times a timestamptz cannot hold are still times: before any event, or after all of them.
        self.assert_problem(self.http.request("GET", f"/orders/{oid}?as_of=0000-01-01T00:00:00Z"),
                            404, "order_not_found")
        latest = self.http.request("GET", f"/orders/{oid}?as_of=9999-12-31T23:59:59.999999-23:59")
        self.assertEqual((latest.status, latest.json["status"]), (200, "delivered"), latest)
        # A client that escapes its query, as urlencode does, means the same time.
        escaped = self.http.request("GET", f"/orders/{oid}?" + urllib.parse.urlencode(
            {"as_of": "9999-12-31T23:59:59+23:00"}))
        self.assertEqual((escaped.status, escaped.json["status"]), (200, "delivered"), escaped)
        history = self.http.request("GET", f"/orders/{oid}/events?limit=2")
        self.assertEqual([e["type"] for e in history.json["events"]], ["order.created", "order.paid"])
        self.assertIsNotNone(history.json["next"])

        other = self.create().json["order_id"]
        self.assert_problem(self.http.request("POST", f"/orders/{other}/pay",
                                              {"payment_reference": "P", "amount": "13.47"}),
                            422, "amount_mismatch")
        self.http.request("POST", f"/orders/{other}/pay", {"payment_reference": "P", "amount": 13.48})
        before = self.db.scalar(f"SELECT count(*) FROM events WHERE stream_id = {other}")
        stale = self.http.request("POST", f"/orders/{other}/cancel", None, {"If-Match": '"1"'})
        self.assert_problem(stale, 412, "version_mismatch")
        self.assertEqual(stale.headers["etag"], '"2"')
        self.assertEqual(self.db.scalar(f"SELECT count(*) FROM events WHERE stream_id = {other}"), before)

    def test_an_idempotent_retry_returns_the_original_answer_and_appends_nothing(self):
        key = {"Idempotency-Key": "e2e-" + uuid.uuid4().hex}
        first = self.create(headers=key)
        events = self.db.scalar("SELECT count(*) FROM events")
        second = self.http.request("POST", "/orders", SEED_BODY, key)
        self.assertEqual(second.status, 201)
        self.assertEqual(second.json, first.json)
        self.assertEqual(second.headers.get("idempotent-replayed"), "true")
        self.assertEqual(self.db.scalar("SELECT count(*) FROM events"), events)
        changed = dict(SEED_BODY, user_id=102)
        self.assert_problem(self.http.request("POST", "/orders", changed, key), 422,
                            "idempotency_key_reused")

    def test_one_connection_serves_many_requests(self):
        client = self.service.client()
        client.request("GET", "/healthz")
        sock = client.connection.sock
        for _ in range(10):
            response = client.request("GET", "/healthz")
            self.assertEqual(response.status, 200)
            self.assertEqual(response.headers.get("connection", "").lower(), "keep-alive")
        self.assertIs(client.connection.sock, sock, "the connection was not kept alive")
        client.close()

    def test_a_slow_database_call_does_not_stall_other_connections(self):
        slow = self.create().json["order_id"]
        other = self.create().json["order_id"]
        locker = subprocess.Popen(
            ["psql", self.db.url, "-Xq", "-c",
             f"BEGIN; SELECT * FROM streams WHERE stream_id = {slow} FOR UPDATE; "
             "SELECT pg_sleep(4); COMMIT;"], stdout=subprocess.DEVNULL)
        time.sleep(0.7)  # the lock is held
        outcome = {}

        def blocked_pay():
            outcome["response"] = self.service.client().request(
                "POST", f"/orders/{slow}/pay", {"payment_reference": "P", "amount": "13.48"})

        payer = threading.Thread(target=blocked_pay)
        payer.start()
        time.sleep(0.3)
        probe = self.service.client()
        for path in ("/healthz", f"/orders/{other}", "/healthz"):
            started = time.monotonic()
            self.assertEqual(probe.request("GET", path).status, 200)
            self.assertLess(time.monotonic() - started, 0.5, f"{path} stalled behind the slow call")
        payer.join(timeout=15)
        locker.wait(timeout=15)
        self.assertFalse(payer.is_alive(), "the blocked request never finished")
        self.assertIn(outcome["response"].status, (200, 503), outcome["response"])

    def test_zz_no_response_was_a_server_error(self):
        self.assertEqual(Client.server_errors, [])


class ExpiredIdempotencyKeys(unittest.TestCase):
    """A key whose time is up is deleted in the background, though no request names it again:
    clients that send a fresh key with every request do not grow the table for ever."""

    def test_a_key_whose_time_is_up_is_deleted_without_being_asked_for_again(self):
        db = harness.FreshDatabase()
        service = harness.Service(db.url, env={**os.environ, "IDEMPOTENCY_TTL_SECONDS": "1"})
        try:
            http = service.client()
            for n in range(5):
                placed = http.request("POST", "/orders", SEED_BODY,
                                      {"Idempotency-Key": f"fresh-{n}-{uuid.uuid4().hex}"})
                self.assertEqual(201, placed.status, placed)
            self.assertEqual("5", db.scalar("SELECT count(*) FROM idempotency_keys"))
            deadline = time.monotonic() + 10
            while db.scalar("SELECT count(*) FROM idempotency_keys") != "0":
                self.assertLess(time.monotonic(), deadline, "the expired keys stayed")
                time.sleep(0.1)
            metrics = http.request("GET", "/metrics").body.decode()
            self.assertIn("order_idempotency_keys_purged_total 5", metrics)
        finally:
            self.assertEqual(0, service.stop())
            db.drop()


if __name__ == "__main__":
    harness.run(__name__)
