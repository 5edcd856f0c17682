"""/metrics checked by Prometheus' own tools: `promtool check metrics` accepts a scrape taken under
load, and a real Prometheus server scraping the service every second answers, through its HTTP
API, the 99th percentile of the request duration and of the commit-to-Kafka publication latency.
Every label value is a route template or a status class, never a raw path or an id."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

import harness


def find(tool):
    path = shutil.which(tool)
    if not path:
        raise SystemExit(f"{tool} is missing: tools/install-deps.sh test installs Debian's prometheus")
    return path


class Load:
    """Bounded load from a few loopback clients: orders placed, read and paid, at most `count`."""

    def __init__(self, service, clients=3, count=3000):
        self.stopping = threading.Event()
        self.remaining = count
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(service,)) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def client(self, service):
        http = service.client()
        while not self.stopping.is_set():
            with self.lock:
                if self.remaining <= 0:
                    break
                self.remaining -= 1
            placed = http.request("POST", "/orders", harness.SEED_BODY)
            if placed.status == 201:
                order = placed.json["order_id"]
                http.request("GET", f"/orders/{order}")
                http.request("GET", f"/orders/{order}/nothing-here")  # a 404
            time.sleep(0.01)
        http.close()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()


class Prometheus(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()
        env = dict(os.environ)
        env["ORDER_TOPIC"] = "e2e-prometheus-" + os.urandom(5).hex()
        self.service = harness.Service(self.db.url, env=env)
        self.tmp = tempfile.mkdtemp(prefix="order-prometheus-")
        self.prometheus = None

    def tearDown(self):
        if self.prometheus and self.prometheus.poll() is None:
            self.prometheus.terminate()
            try:
                self.prometheus.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.prometheus.kill()
                self.prometheus.wait()
        self.service.stop()
        self.db.drop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.service.port}/metrics", timeout=10) as r:
            return r.read().decode()

    def test_promtool_accepts_the_metrics_and_labels_are_bounded(self):
        load = Load(self.service, count=300)
        time.sleep(3)
        text = self.scrape()
        load.stop()
        result = subprocess.run([find("promtool"), "check", "metrics"], input=text,
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(0, result.returncode, f"promtool: {result.stdout}{result.stderr}")
        for name in ("order_http_request_duration_seconds_bucket", "order_append_duration_seconds_bucket",
                     "order_append_batch_size_bucket", "order_projection_latency_seconds_bucket",
                     "order_publication_wait_seconds_bucket",
                     "order_publication_read_seconds_bucket",
                     "process_resident_memory_bytes", "process_cpu_seconds_total",
                     "process_open_fds", "process_start_time_seconds",
                     "order_log_lines_dropped_total"):
            self.assertIn(name, text)
        routes = set(re.findall(r'route="([^"]*)"', text))
        self.assertIn("/orders/{id}", routes)
        self.assertIn("unmatched", routes)
        for route in routes:
            self.assertNotRegex(route, r"\d", f"a raw path or id as a label: {route}")

    def query(self, expression):
        url = f"http://127.0.0.1:{self.prometheus_port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expression})
        with urllib.request.urlopen(url, timeout=10) as r:
            answer = json.loads(r.read())
        self.assertEqual("success", answer["status"], answer)
        return [sample for sample in answer["data"]["result"] if sample["value"][1] != "NaN"]

    def test_a_real_prometheus_scrapes_and_answers_the_percentiles(self):
        self.prometheus_port = harness.free_port()
        config = os.path.join(self.tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: order-service
    static_configs:
      - targets: ['127.0.0.1:{self.service.port}']
""")
        log = open(os.path.join(self.tmp, "prometheus.log"), "w")
        self.prometheus = subprocess.Popen(
            [find("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(self.tmp, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.prometheus_port}"],
            stdout=log, stderr=subprocess.STDOUT)
        expressions = {
            "request duration": "histogram_quantile(0.99, sum by (le) "
                                "(rate(order_http_request_duration_seconds_bucket[30s])))",
            "publication latency": "histogram_quantile(0.99, sum by (le) "
                                   "(rate(order_publication_latency_seconds_bucket[30s])))",
            "projection latency": "histogram_quantile(0.99, sum by (le) "
                                  "(rate(order_projection_latency_seconds_bucket[30s])))",
        }
        load = Load(self.service, count=3000)
        answers = {}
        try:
            deadline = time.time() + 60
            while time.time() < deadline and len(answers) < len(expressions):
                time.sleep(1)
                for name, expression in expressions.items():
                    try:
                        result = self.query(expression)
                    except OSError:
                        continue  # Prometheus is still starting
                    if result:
                        answers[name] = float(result[0]["value"][1])
        finally:
            load.stop()
        with open(os.path.join(self.tmp, "prometheus.log")) as f:
            prometheus_log = f.read()[-2000:]
        print(f"  p99 over 30 s: {answers}")
        for name in expressions:
            self.assertIn(name, answers, f"no answer for the {name}; prometheus log: {prometheus_log}")
            self.assertGreater(answers[name], 0)


if __name__ == "__main__":
    harness.run(__name__)
