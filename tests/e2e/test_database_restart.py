"""PostgreSQL restarted under a write load: while it is down the API answers 503 problem+json
with Retry-After, never a 2xx for a write that is not durable and never a hang; once it is back
the same process serves again, with every acknowledged order in the log. A write stuck behind a
lock is answered 503 at STATEMENT_TIMEOUT_MS, never left hanging. Connections the server ended
while they sat idle (a failover, an idle timeout, pg_terminate_backend) are replaced before their
next use: the requests after cost no client a 503. A database that turns read-only (a failover to
a standby not yet promoted) answers writes 503 and still serves reads; writes land again once it
takes them."""
import json
import os
import subprocess
import threading
import time
import unittest

import harness

PG_SH = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "stack", "pg.sh")


class DatabaseRestart(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()
        self.service = harness.Service(self.db.url, env={**os.environ,
                                                         "STATEMENT_TIMEOUT_MS": "500"})

    def tearDown(self):
        self.service.stop()
        subprocess.run(["bash", PG_SH, "start"], capture_output=True)  # whatever happened
        self.db.drop()

    def test_a_database_restart_mid_load_gives_503s_then_recovers_by_itself(self):
        acknowledged, outcomes, lock = [], [], threading.Lock()
        stopping = threading.Event()

        def client():
            http = self.service.client()
            while not stopping.is_set():
                start = time.monotonic()
                response = http.request("POST", "/orders", harness.SEED_BODY)
                took = time.monotonic() - start
                with lock:
                    outcomes.append((time.monotonic(), response.status, took, response))
                    if response.status == 201:
                        acknowledged.append(response.json["order_id"])
                if response.status != 201:
                    time.sleep(0.05)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        subprocess.run(["bash", PG_SH, "stop"], check=True, capture_output=True)
        stopped_at = time.monotonic()
        time.sleep(3)
        restarting_at = time.monotonic()
        subprocess.run(["bash", PG_SH, "start"], check=True, capture_output=True)
        started_at = time.monotonic()
        time.sleep(4)
        stopping.set()
        for t in threads:
            t.join()

        statuses = {}
        for _, status, _, _ in outcomes:
            statuses[status] = statuses.get(status, 0) + 1
        slowest = max(took for _, _, took, _ in outcomes)
        recovered = [at for at, status, _, _ in outcomes if at > started_at and status == 201]
        print(f"  responses {statuses}; slowest {slowest:.2f} s; first 201 "
              f"{recovered[0] - started_at:.2f} s after the restart" if recovered else "")
        self.assertTrue(set(statuses) <= {201, 503}, f"unexpected statuses {statuses}")
        self.assertGreater(statuses.get(503, 0), 0, "the outage was not seen")
        for at, status, _, response in outcomes:
            if status == 503:
                self.assertEqual("application/problem+json", response.headers["content-type"])
                self.assertIn("retry-after", response.headers)
            # (a response just after the stop returned may carry a commit made just before it)
            if stopped_at + 0.25 < at < restarting_at:
                self.assertNotEqual(201, status, "a write acknowledged while the database was down")
        self.assertLess(slowest, 6.0, "a request hung past the statement timeout")
        self.assertTrue(recovered, "the service did not recover after the database came back")
        self.assertLess(recovered[0] - started_at, 3.0)
        logged = {int(row[0]) for row in harness.psql(self.db.url, "SELECT stream_id FROM streams")}
        self.assertEqual(set(), set(acknowledged) - logged, "an acknowledged order is not in the log")
        self.assertTrue(self.service.alive())


    def test_a_write_stuck_behind_a_lock_is_answered_503_at_the_statement_timeout(self):
        http = self.service.client()
        placed = http.request("POST", "/orders", harness.SEED_BODY)
        self.assertEqual(201, placed.status)
        order = placed.json["order_id"]
        total = placed.json["total_amount"]
        # Another session holds the order's stream row for 4 s, so its next append waits.
        holder = subprocess.Popen(
            ["psql", self.db.url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c",
             f"BEGIN; SELECT 1 FROM streams WHERE stream_id = {order} FOR UPDATE; "
             f"SELECT pg_sleep(4); COMMIT;"], stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            start = time.monotonic()
            pay = {"payment_reference": "P-1", "amount": total}
            stuck = http.request("POST", f"/orders/{order}/pay", json.dumps(pay))
            took = time.monotonic() - start
            print(f"  blocked pay answered {stuck.status} after {took:.2f} s")
            self.assertEqual(503, stuck.status, stuck)
            self.assertEqual("application/problem+json", stuck.headers["content-type"])
            self.assertIn("retry-after", stuck.headers)
            self.assertLess(took, 3.0, "answered long after the 500 ms statement timeout")
        finally:
            holder.wait(timeout=30)
        # Nothing of the refused write was recorded; once the lock is gone the same write lands.
        self.assertEqual("1", self.db.scalar(f"SELECT count(*) FROM events WHERE stream_id = {order}"))
        again = http.request("POST", f"/orders/{order}/pay", json.dumps(pay))
        self.assertEqual(200, again.status, again)

    def test_connections_the_database_ended_while_idle_cost_no_request_an_answer(self):
        # What a failover, an idle-session timeout or pg_terminate_backend does to the service's
        # connections while they sit idle: each is replaced before its next use, so no client
        # gets the 503 of a connection found dead.
        http = self.service.client()
        placed = http.request("POST", "/orders", harness.SEED_BODY)
        self.assertEqual(201, placed.status)
        order = placed.json["order_id"]

        def every_kind(round_):
            # A read on the reactor (group load), lists, trails and readiness on the workers,
            # a new order (group commit) and one with an Idempotency-Key (a worker).
            statuses = {}
            for n in range(40):
                for method, path, body, headers in (
                        ("GET", f"/orders/{order}", None, None),
                        ("GET", "/orders?limit=1", None, None),
                        ("GET", f"/orders/{order}/events", None, None),
                        ("GET", "/readyz", None, None),
                        ("POST", "/orders", harness.SEED_BODY, None),
                        ("POST", "/orders", harness.SEED_BODY,
                         {"Idempotency-Key": f"ended-{round_}-{n}"})):
                    status = http.request(method, path, body, headers).status
                    statuses[status] = statuses.get(status, 0) + 1
            return statuses

        self.assertEqual({200, 201}, set(every_kind(0)))  # every connection opened
        ended = self.end_the_services_sessions()
        statuses = every_kind(1)
        print(f"  {ended} connections ended; the requests after: {statuses}")
        self.assertGreater(ended, 16, "the workers' connections were not all open")
        self.assertEqual({200, 201}, set(statuses), statuses)
        self.assertTrue(self.service.alive())

    def end_the_services_sessions(self):
        """Ends every session of the service on its database and waits until the server has closed
        them all (the service may already be opening new ones); answers how many there were."""
        ended = [row[0] for row in harness.psql(
            self.db.url, "WITH others AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE "
                         "datname = current_database() AND pid <> pg_backend_pid()) "
                         "SELECT pid FROM others WHERE pg_terminate_backend(pid)")]
        pids = ",".join(ended) or "0"
        deadline = time.monotonic() + 10
        while int(self.db.scalar(f"SELECT count(*) FROM pg_stat_activity WHERE pid IN ({pids})")):
            self.assertLess(time.monotonic(), deadline, "the sessions did not end")
            time.sleep(0.01)
        time.sleep(0.2)  # a backend leaves pg_stat_activity a moment before its socket closes
        return len(ended)

    def test_a_read_only_database_answers_writes_503_and_still_serves_reads(self):
        # A failover onto a standby that is not promoted yet: the connections end, and the new
        # ones land on a server that refuses every write (SQLSTATE 25006). That is the database
        # unavailable for writes, not an error of the service's: 503 with Retry-After, as while
        # it is down, and nothing recorded.
        http = self.service.client()
        placed = http.request("POST", "/orders", harness.SEED_BODY)
        self.assertEqual(201, placed.status)
        order = placed.json["order_id"]
        pay = json.dumps({"payment_reference": "P-1", "amount": placed.json["total_amount"]})
        harness.psql(self.db.admin,
                     f"ALTER DATABASE {self.db.name} SET default_transaction_read_only = on")
        self.end_the_services_sessions()
        writes = (("POST", "/orders", harness.SEED_BODY, None),
                  ("POST", "/orders", harness.SEED_BODY, {"Idempotency-Key": "read-only-1"}),
                  ("POST", f"/orders/{order}/pay", pay, None),
                  ("POST", f"/orders/{order}/cancel", json.dumps({"reason": "r"}),
                   {"If-Match": '"1"'}))
        for method, path, body, headers in writes:
            refused = http.request(method, path, body, headers)
            self.assertEqual(503, refused.status, f"{method} {path}: {refused}")
            self.assertEqual("application/problem+json", refused.headers["content-type"])
            self.assertIn("retry-after", refused.headers)
        for path in (f"/orders/{order}", f"/orders/{order}/events", "/orders?limit=5"):
            self.assertEqual(200, http.request("GET", path).status, path)
        self.assertEqual("1", self.db.scalar("SELECT count(*) FROM events"))

        harness.psql(self.db.admin,
                     f"ALTER DATABASE {self.db.name} RESET default_transaction_read_only")
        self.end_the_services_sessions()
        for method, path, body, headers in writes[:3]:
            landed = http.request(method, path, body, headers)
            self.assertIn(landed.status, (200, 201), f"{method} {path}: {landed}")
        # The background work resumed too: the new orders reach the read model.
        deadline = time.monotonic() + 10
        while len(http.request("GET", "/orders?limit=10").json["orders"]) < 3:
            self.assertLess(time.monotonic(), deadline, "the projector did not resume")
            time.sleep(0.1)
        self.assertTrue(self.service.alive())


if __name__ == "__main__":
    harness.run(__name__)
