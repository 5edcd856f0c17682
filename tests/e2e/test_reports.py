"""GET /reports/product-sales through the real binary: the second read model, fed by the same
subscription engine as orders, answers what was ordered and cancelled per day and product, with
exact money; a bad query is a 400 problem+json; /readyz and /metrics name its lag."""
import datetime
import time
import unittest
import uuid

import harness


class ProductSalesReport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.FreshDatabase()
        try:
            cls.service = harness.Service(cls.db.url, ["--topic", "e2e-" + uuid.uuid4().hex[:8]])
        except Exception:
            cls.db.drop()
            raise
        cls.http = cls.service.client()

    @classmethod
    def tearDownClass(cls):
        cls.http.close()
        cls.service.stop()
        cls.db.drop()

    def report(self, query):
        return self.http.request("GET", "/reports/product-sales?" + query)

    def wait_for(self, query, predicate, timeout=15):
        deadline = time.time() + timeout
        while True:
            response = self.report(query)
            self.assertEqual(200, response.status, response)
            if predicate(response.json) or time.time() > deadline:
                return response.json
            time.sleep(0.2)

    def test_sales_per_day_and_product_count_orders_and_cancellations(self):
        body = {"user_id": 7, "items": [{"product_id": 880001, "quantity": 3, "price": 19.99},
                                        {"product_id": 880002, "quantity": 1, "price": "0.10"}]}
        ids = []
        for _ in range(3):
            response = self.http.request("POST", "/orders", body)
            self.assertEqual(201, response.status, response)
            ids.append(response.json["order_id"])
        self.assertEqual(200, self.http.request("POST", f"/orders/{ids[0]}/cancel", {}).status)
        paid = self.http.request("POST", f"/orders/{ids[1]}/pay",
                                 {"payment_reference": "P", "amount": "60.07"})
        self.assertEqual(200, paid.status, paid)
        self.assertEqual(200, self.http.request("POST", f"/orders/{ids[1]}/cancel", {}).status)

        today = datetime.datetime.now(datetime.timezone.utc).date()
        query = (f"from={(today - datetime.timedelta(days=1)).isoformat()}"
                 f"&to={(today + datetime.timedelta(days=1)).isoformat()}")

        def totals(page, product):
            rows = [d for d in page["days"] if d["product_id"] == product]
            return (sum(d["units_ordered"] for d in rows), sum(d["units_cancelled"] for d in rows),
                    [(d["revenue_ordered"], d["revenue_cancelled"]) for d in rows])

        page = self.wait_for(query + "&product_id=880001",
                             lambda p: totals(p, 880001)[:2] == (9, 6))
        units, cancelled, money = totals(page, 880001)
        self.assertEqual((9, 6), (units, cancelled), page)
        if len(money) == 1:  # all on one day (the test did not straddle midnight UTC)
            self.assertEqual([("179.91", "119.94")], money)
        self.assertTrue(all(d["product_id"] == 880001 for d in page["days"]))
        self.assertFalse(page["has_more"])
        self.assertEqual({"events", "seconds"}, set(page["projection_lag"]))

        page = self.wait_for(query, lambda p: totals(p, 880002)[:2] == (3, 2))
        self.assertEqual((3, 2), totals(page, 880002)[:2])

        limited = self.report(query + "&limit=1")
        self.assertEqual(1, len(limited.json["days"]))
        self.assertTrue(limited.json["has_more"])

    def test_a_bad_query_is_a_problem_and_never_a_5xx(self):
        for query in ["", "from=2026-11-01", "to=2026-11-01", "from=2026-02-30&to=2026-03-01",
                      "from=2026-11-02&to=2026-11-01", "from=2025-01-01&to=2026-01-02",
                      "from=26-11-01&to=2026-11-01", "from=2026-11-01&to=2026-11-01&product_id=0",
                      "from=2026-11-01&to=2026-11-01&product_id=x",
                      "from=2026-11-01&to=2026-11-01&limit=10001",
                      "from=2026-11-01T00:00:00Z&to=2026-11-02",
                      "from=%00&to=2026-11-02"]:
            response = self.report(query)
            self.assertEqual(400, response.status, f"{query}: {response}")
            self.assertEqual("application/problem+json", response.headers["content-type"])
            self.assertEqual("bad_request", response.json["code"])
        self.assertEqual(200, self.report("from=2024-02-29&to=2024-02-29").status)
        self.assertEqual(200, self.report("from=2025-01-01&to=2026-01-01").status)

    def test_readiness_and_metrics_name_the_second_read_model(self):
        ready = self.http.request("GET", "/readyz")
        self.assertEqual(200, ready.status, ready)
        self.assertEqual({"orders", "product_sales"}, set(ready.json["read_models"]))
        metrics = self.http.request("GET", "/metrics").body.decode()
        self.assertIn("order_product_sales_lag_events", metrics)
        self.assertEqual(1, harness.metric_value(metrics, "order_product_sales_leader"))


if __name__ == "__main__":
    harness.run(__name__)
