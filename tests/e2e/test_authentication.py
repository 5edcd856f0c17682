"""Bearer authentication against the real binary started with JWT_SECRET: no token or a bad one
is a 401 problem with an RFC 6750 challenge, a good one is served, and the events record the
token's subject as their actor whatever X-Actor says. Off by default."""
import base64
import hashlib
import hmac
import json
import os
import time
import unittest

import harness

SECRET = "e2e-secret-0123456789-abcdefghijklmnop"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(claims, secret=SECRET, header=None):
    """An independent HS256 signer (Python's hmac), so the service's verifier is checked against
    something other than itself."""
    head = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(signature)}"


def bearer(value):
    return {"Authorization": f"Bearer {value}"}


class Authentication(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.FreshDatabase()
        cls.service = harness.Service(cls.db.url, env={**os.environ, "JWT_SECRET": SECRET})
        cls.good = token({"sub": "alice@example.com", "exp": int(time.time()) + 600})

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()
        cls.db.drop()

    def setUp(self):
        self.http = self.service.client()

    def tearDown(self):
        self.http.close()

    def assert_unauthorized(self, response, invalid_token):
        self.assertEqual(401, response.status, response)
        self.assertEqual("application/problem+json", response.headers["content-type"])
        self.assertEqual("unauthorized", response.json["code"])
        self.assertEqual(401, response.json["status"])
        challenge = response.headers.get("www-authenticate", "")
        self.assertTrue(challenge.startswith("Bearer "), challenge)
        self.assertEqual(invalid_token, 'error="invalid_token"' in challenge, challenge)

    def test_every_api_call_without_a_token_is_401_with_a_bearer_challenge(self):
        for method, path, body in [("POST", "/orders", harness.SEED_BODY), ("GET", "/orders/1", None),
                                   ("GET", "/orders?user_id=101", None),
                                   ("GET", "/orders/1/events", None),
                                   ("POST", "/orders/1/pay", {"payment_reference": "p", "amount": "1"}),
                                   ("POST", "/api/v1/order", harness.SEED_BODY),
                                   ("GET", "/no/such/route", None), ("DELETE", "/healthz", None)]:
            with self.subTest(method=method, path=path):
                self.assert_unauthorized(self.http.request(method, path, body), invalid_token=False)
        # Another scheme is no bearer token at all.
        self.assert_unauthorized(
            self.http.request("GET", "/orders/1", headers={"Authorization": "Basic YWxpY2U6cHc="}),
            invalid_token=False)

    def test_probes_metrics_and_the_contract_need_no_token(self):
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.yaml"):
            with self.subTest(path=path):
                response = self.http.request("GET", path)
                self.assertIn(response.status, (200, 503), response)
                self.assertNotEqual(401, response.status)
        self.assertEqual(200, self.http.request("GET", "/healthz").status)
        contract = self.http.request("GET", "/openapi.yaml").body.decode()
        self.assertIn("bearerAuth:", contract)
        self.assertIn('"401": { $ref: "#/components/responses/Unauthorized" }', contract)

    def test_bad_tokens_are_401_invalid_token(self):
        now = int(time.time())
        bad = {
            "wrong secret": token({"sub": "alice"}, secret="another-secret-0123456789-abcdefgh"),
            "alg none": token({"sub": "alice"}, header={"alg": "none"}).rsplit(".", 1)[0] + ".",
            "alg none signed": token({"sub": "alice"}, header={"alg": "none"}),
            "alg HS512": token({"sub": "alice"}, header={"alg": "HS512", "typ": "JWT"}),
            "expired": token({"sub": "alice", "exp": now - 120}),
            "not yet valid": token({"sub": "alice", "nbf": now + 600}),
            "no subject": token({"exp": now + 600}),
            "garbage": "not-a-token",
            "two segments": self.good.rsplit(".", 1)[0],
            "oversized": token({"sub": "alice", "pad": "x" * 5000}),
            "tampered payload": ".".join([self.good.split(".")[0],
                                          b64url(json.dumps({"sub": "admin"}).encode()),
                                          self.good.split(".")[2]]),
        }
        events_before = self.db.scalar("SELECT count(*) FROM events")
        for name, value in bad.items():
            with self.subTest(token=name):
                response = self.http.request("POST", "/orders", harness.SEED_BODY, bearer(value))
                self.assert_unauthorized(response, invalid_token=True)
        self.assertEqual(events_before, self.db.scalar("SELECT count(*) FROM events"),
                         "a refused request wrote an event")

    def test_a_good_token_is_served_and_its_subject_is_the_actor_whatever_x_actor_says(self):
        headers = {**bearer(self.good), "X-Actor": "mallory"}
        created = self.http.request("POST", "/orders", harness.SEED_BODY, headers)
        self.assertEqual(201, created.status, created)
        order_id = created.json["order_id"]
        paid = self.http.request("POST", f"/orders/{order_id}/pay",
                                 {"payment_reference": "PAY-1", "amount": "13.48"},
                                 {"authorization": f"bearer {self.good}", "X-Actor": "mallory"})
        self.assertEqual(200, paid.status, paid)
        self.assertEqual(200, self.http.request("GET", f"/orders/{order_id}", headers=bearer(self.good)).status)
        actors = harness.psql(self.db.url, "SELECT metadata->>'actor' FROM events "
                                           f"WHERE stream_id = {order_id} ORDER BY stream_version")
        self.assertEqual([["alice@example.com"], ["alice@example.com"]], actors)
        trail = self.http.request("GET", f"/orders/{order_id}/events", headers=bearer(self.good))
        self.assertEqual(200, trail.status, trail)
        self.assertIn("alice@example.com", trail.body.decode())
        self.assertNotIn("mallory", trail.body.decode())

    def test_the_token_never_reaches_the_log(self):
        self.http.request("GET", "/orders?user_id=101", headers=bearer(self.good))
        time.sleep(0.2)
        output = self.service.output()
        self.assertIn('"status":"200"', output, "no access log line for the request")
        self.assertNotIn(self.good.split(".")[2], output)
        self.assertNotIn("Bearer", output)


class AuthenticationIsOffByDefault(unittest.TestCase):
    def test_without_jwt_secret_no_token_is_needed_and_x_actor_is_recorded(self):
        db = harness.FreshDatabase()
        environment = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
        service = harness.Service(db.url, env=environment)
        try:
            http = service.client()
            created = http.request("POST", "/orders", harness.SEED_BODY, {"X-Actor": "bob"})
            self.assertEqual(201, created.status, created)
            self.assertEqual("bob", db.scalar("SELECT metadata->>'actor' FROM events"))
        finally:
            service.stop()
            db.drop()

    def test_a_short_secret_is_refused_at_start(self):
        out = harness.refused_at_start("--jwt-secret", "short")
        self.assertEqual(2, out.returncode, out.stderr)
        self.assertIn("JWT_SECRET must be at least 32 bytes", out.stderr)


if __name__ == "__main__":
    harness.run(__name__)
