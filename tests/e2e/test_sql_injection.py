"""SQL injection: hostile strings in every text field, header and query parameter that reaches
SQL. Never a 5xx; every refusal is problem+json; the tables are all still there with exactly the
rows the accepted requests wrote; and what was accepted is stored and read back byte for byte."""
import re
import unittest
from urllib.parse import quote

import harness

PAYLOADS = [
    "'; DROP TABLE events; --",
    "Robert'); DROP TABLE streams;--",
    "1 OR 1=1",
    "1' OR '1'='1",
    "' OR ''='",
    "$1",
    "$1 $2 $$",
    "$$; DROP TABLE orders; $$",
    "\\",
    "\\'",
    "\\\\'; SELECT 1; --",
    '"',
    "\"; DROP TABLE events; --",
    "''",
    "%' --",
    "%_%",
    "1; SELECT pg_sleep(10)",
    "E'\\x41'",
    "U&'\\0041'",
    "/* */ UNION SELECT * FROM events --",
    "nul\x00byte",
    "\x00",
    "\\u0000",
    "\\x00",
    "ünïcødé 注文 🚀",
    "\u202eRTL override",
    "\ufeffBOM",
    "tab\tnew\nline\rcr",
    "x" * 200,
]

TABLES_SQL = ("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
              "WHERE schemaname = 'public'")
TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def hex_of(text):
    return text.encode("utf-8").hex()


def is_printable(text):
    """The service's rule for X-Actor and Idempotency-Key: 1..200 bytes of UTF-8, no controls."""
    data = text.encode("utf-8")
    return 0 < len(data) <= 200 and not any(
        ord(c) < 0x20 or ord(c) == 0x7f or 0x80 <= ord(c) < 0xa0 for c in text)


class SqlInjection(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.FreshDatabase()
        cls.service = harness.Service(cls.db.url)
        cls.tables = None

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()
        cls.db.drop()

    def setUp(self):
        self.http = self.service.client()
        harness.Client.server_errors.clear()
        if SqlInjection.tables is None:
            SqlInjection.tables = self.db.scalar(TABLES_SQL)
        self.assertIn("events", self.tables)

    def tearDown(self):
        self.http.close()
        self.assertEqual([], harness.Client.server_errors, "a 5xx")
        self.assertEqual(self.tables, self.db.scalar(TABLES_SQL), "a table is gone")
        self.assertTrue(self.service.alive(), self.service.output()[-2000:])

    def assert_refused(self, response, *statuses):
        self.assertIn(response.status, statuses or (400, 404, 409, 422), response)
        self.assertEqual("application/problem+json", response.headers.get("content-type"), response)
        self.assertIn("code", response.json)

    def create(self, headers=None):
        response = self.http.request("POST", "/orders", harness.SEED_BODY, headers)
        self.assertEqual(201, response.status, response)
        return response.json["order_id"]

    def stored(self, order_id, version, sql_value):
        """The stored value's bytes, as hex, so no quoting or psql formatting can hide a byte."""
        rows = harness.psql(self.db.url, f"SELECT encode(convert_to({sql_value}, 'UTF8'), 'hex') "
                                         f"FROM events WHERE stream_id = {int(order_id)} "
                                         f"AND stream_version = {int(version)}")
        self.assertEqual(1, len(rows), f"no event {order_id}/{version}")
        return rows[0][0]

    def trail(self, order_id):
        response = self.http.request("GET", f"/orders/{order_id}/events")
        self.assertEqual(200, response.status, response)
        return response.json["events"]

    def test_text_fields_of_commands_are_stored_verbatim_or_refused(self):
        events_expected = int(self.db.scalar("SELECT count(*) FROM events"))
        streams_expected = int(self.db.scalar("SELECT count(*) FROM streams"))
        accepted = 0
        for payload in PAYLOADS:
            with self.subTest(payload=payload):
                order_id = self.create()
                events_expected += 1
                streams_expected += 1
                paid = self.http.request("POST", f"/orders/{order_id}/pay",
                                         {"payment_reference": payload, "amount": "13.48"})
                if paid.status != 200:
                    self.assert_refused(paid, 422)
                    continue
                events_expected += 1
                shipped = self.http.request("POST", f"/orders/{order_id}/ship",
                                            {"carrier": payload, "tracking_number": payload[::-1]})
                self.assertEqual(200, shipped.status, shipped)
                events_expected += 1
                cancelled_id = self.create()
                events_expected += 1
                streams_expected += 1
                cancelled = self.http.request("POST", f"/orders/{cancelled_id}/cancel",
                                              {"reason": payload})
                self.assertEqual(200, cancelled.status, cancelled)
                events_expected += 1
                accepted += 1

                self.assertEqual(hex_of(payload), self.stored(order_id, 2, "data->>'payment_reference'"))
                self.assertEqual(hex_of(payload), self.stored(order_id, 3, "data->>'carrier'"))
                self.assertEqual(hex_of(payload[::-1]),
                                 self.stored(order_id, 3, "data->>'tracking_number'"))
                self.assertEqual(hex_of(payload), self.stored(cancelled_id, 2, "data->>'reason'"))
                events = self.trail(order_id)
                self.assertEqual(payload, events[1]["data"]["payment_reference"])
                self.assertEqual(payload, events[2]["data"]["carrier"])
                self.assertEqual(payload[::-1], events[2]["data"]["tracking_number"])
                self.assertEqual(payload, self.trail(cancelled_id)[1]["data"]["reason"])
        print(f"  {accepted} of {len(PAYLOADS)} payloads accepted and read back byte for byte")
        self.assertGreater(accepted, len(PAYLOADS) // 2)
        self.assertEqual(str(events_expected), self.db.scalar("SELECT count(*) FROM events"))
        self.assertEqual(str(streams_expected), self.db.scalar("SELECT count(*) FROM streams"))

    def test_headers_recorded_in_metadata_are_stored_verbatim_or_refused(self):
        events_before = int(self.db.scalar("SELECT count(*) FROM events"))
        written = 0
        for payload in PAYLOADS:
            raw = payload.encode("utf-8")  # headers go on the wire as UTF-8 bytes
            with self.subTest(payload=payload):
                if b"\n" in raw or b"\r" in raw:
                    continue  # not sendable as a header value at all
                headers = {"X-Actor": raw, "Idempotency-Key": raw + b"-create",
                           "X-Request-Id": raw, "X-Correlation-Id": raw}
                response = self.http.request("POST", "/orders", harness.SEED_BODY, headers)
                if not is_printable(payload + "-create"):
                    self.assert_refused(response, 400)
                    continue
                self.assertEqual(201, response.status, response)
                written += 1
                order_id = response.json["order_id"]
                # A request id that is not a plain token is replaced, never stored as sent.
                request_id = response.headers["x-request-id"]
                self.assertRegex(request_id, TOKEN)
                if TOKEN.match(payload):
                    self.assertEqual(payload, request_id)
                self.assertEqual(hex_of(payload), self.stored(order_id, 1, "metadata->>'actor'"))
                self.assertEqual(hex_of(payload + "-create"),
                                 self.stored(order_id, 1, "metadata->>'idempotency_key'"))
                self.assertEqual(hex_of(request_id), self.stored(order_id, 1, "metadata->>'request_id'"))
                correlation = self.stored(order_id, 1, "metadata->>'correlation_id'")
                self.assertEqual(hex_of(payload if TOKEN.match(payload) else request_id), correlation)
                # The same key again is a replay of the same order, not a new one.
                replay = self.http.request("POST", "/orders", harness.SEED_BODY, headers)
                self.assertEqual(201, replay.status, replay)
                self.assertEqual(order_id, replay.json["order_id"])
        self.assertGreater(written, len(PAYLOADS) // 2)
        self.assertEqual(str(events_before + written), self.db.scalar("SELECT count(*) FROM events"))

    def test_query_parameters_are_refused_or_treated_as_data(self):
        order_id = self.create()
        paid = self.http.request("POST", f"/orders/{order_id}/pay",
                                 {"payment_reference": "PAY-1", "amount": "13.48"})
        self.assertEqual(200, paid.status, paid)
        events_before = self.db.scalar("SELECT count(*) FROM events")
        probes = [("/orders", "user_id"), ("/orders", "status"), ("/orders", "limit"),
                  ("/orders", "after"), (f"/orders/{order_id}", "version"),
                  (f"/orders/{order_id}", "as_of"), (f"/api/v1/orders/{order_id}", "version"),
                  (f"/orders/{order_id}/events", "after_version"),
                  (f"/orders/{order_id}/events", "limit"), ("/api/v1/orders", "user_id")]
        for path, name in probes:
            for payload in PAYLOADS:
                with self.subTest(path=path, name=name, payload=payload):
                    response = self.http.request("GET", f"{path}?{name}={quote(payload, safe='')}")
                    self.assertLess(response.status, 500, response)
                    if response.status != 200:
                        self.assert_refused(response, 400, 404)
                    elif path == "/orders" or path == "/api/v1/orders":
                        # Accepted as data, it can only narrow the list, never widen it.
                        self.assertLessEqual(len(response.json["orders"]), 1000)
                        for order in response.json["orders"]:
                            self.assertNotEqual("", order.get("status"))
        # Injection in the path where an id belongs.
        for payload in PAYLOADS:
            with self.subTest(path_segment=payload):
                response = self.http.request("GET", f"/orders/{quote(payload, safe='')}")
                self.assert_refused(response, 404)
                response = self.http.request("POST", f"/orders/{quote(payload, safe='')}/cancel",
                                             {"reason": payload})
                self.assert_refused(response, 404)
        self.assertEqual(events_before, self.db.scalar("SELECT count(*) FROM events"))
        # The order is intact and readable after all that.
        read = self.http.request("GET", f"/orders/{order_id}")
        self.assertEqual(200, read.status, read)
        self.assertEqual("paid", read.json["status"])

    def test_text_that_no_database_could_store_is_refused_not_a_5xx(self):
        events_before = self.db.scalar("SELECT count(*) FROM events")
        order_id = self.create()
        bodies = [b'{"payment_reference":"\\ud800","amount":"13.48"}',   # a lone surrogate
                  b'{"payment_reference":"\\udc00x","amount":"13.48"}',
                  b'{"payment_reference":"a\\u0000","amount":"13.48"}',  # NUL, escaped
                  b'{"payment_reference":"\xff\xfe","amount":"13.48"}',   # not UTF-8
                  b'{"payment_reference":"\xc0\xa7","amount":"13.48"}',   # overlong quote
                  b'{"payment_reference":"a\x00b","amount":"13.48"}']      # raw NUL
        for body in bodies:
            with self.subTest(body=body):
                self.assert_refused(self.http.request("POST", f"/orders/{order_id}/pay", body), 400, 422)
        self.assertEqual(int(events_before) + 1, int(self.db.scalar("SELECT count(*) FROM events")))

    def test_injection_in_the_create_body_is_a_validation_error(self):
        events_before = self.db.scalar("SELECT count(*) FROM events")
        for payload in PAYLOADS[:20]:
            for body in ({"user_id": payload, "args": harness.SEED_BODY["args"]},
                         {"user_id": 101, "args": [{"product_id": payload, "quantity": 1, "price": 1}]},
                         {"user_id": 101, "args": [{"product_id": 1, "quantity": payload, "price": 1}]},
                         {"user_id": 101, "args": [{"product_id": 1, "quantity": 1, "price": payload}]}):
                with self.subTest(body=body):
                    self.assert_refused(self.http.request("POST", "/orders", body), 400, 422)
        self.assertEqual(events_before, self.db.scalar("SELECT count(*) FROM events"))


if __name__ == "__main__":
    harness.run(__name__)
