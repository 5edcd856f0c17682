"""The service against its own contract, by a tool nobody on this team wrote: Schemathesis (pinned,
installed into a virtual environment beside the build) reads GET /openapi.yaml from the real
binary and sends generated requests, valid and invalid, to every operation; then it walks the
document's links as a client would (place an order, then read, pay or cancel it by the id and
ETag the answer gave). No response may be a 5xx, and every response must match the document:
status, content type, headers, body schema."""
import os
import re
import subprocess
import sys
import unittest

import harness

# Schemathesis 3.39 breaks with the Hypothesis releases of 2025 ("'many' object has no attribute
# 'more'"): its Hypothesis is pinned too.
PACKAGES = ["schemathesis==3.39.16", "hypothesis==6.112.5"]
CHECKS = ",".join(["not_a_server_error", "status_code_conformance", "content_type_conformance",
                   "response_headers_conformance", "response_schema_conformance"])
MAX_EXAMPLES = os.environ.get("CONTRACT_MAX_EXAMPLES", "50")


def schemathesis():
    """The pinned Schemathesis in build/.venv-contract, created on first use."""
    venv = os.path.join(os.path.dirname(os.path.dirname(harness.ARGS.service)), ".venv-contract")
    st = os.path.join(venv, "bin", "st")
    marker = os.path.join(venv, "-".join(PACKAGES))
    if not os.path.exists(marker):
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", *PACKAGES], check=True)
        open(marker, "w").close()
    return st


def linked_successes(summary, source, target):
    """The 2xx count Schemathesis's link table gives for `target` reached from `source`'s answer."""
    section = re.search(r"^" + re.escape(source) + r"\n(.*?)(?:\n\n|\Z)", summary, re.M | re.S)
    if not section:
        return 0
    row = re.search(r"[├└]── " + re.escape(target) + r"\s+(\d+)", section.group(1))
    return int(row.group(1)) if row else 0


def server_errors(service):
    metrics = service.client().request("GET", "/metrics").body.decode()
    return int(re.search(r'order_http_responses_total\{class="5xx"\} (\d+)', metrics).group(1))


class Contract(unittest.TestCase):
    def setUp(self):
        self.db = harness.FreshDatabase()
        self.service = harness.Service(self.db.url)

    def tearDown(self):
        self.service.stop()
        self.db.drop()

    def test_the_service_keeps_its_openapi_contract_under_generated_requests(self):
        # Some orders in every state, so that generated ids sometimes name one.
        http = self.service.client()
        for n in range(1, 6):
            placed = http.request("POST", "/orders", harness.SEED_BODY)
            self.assertEqual(201, placed.status)
            if n % 2 == 0:
                http.request("POST", f"/orders/{placed.json['order_id']}/pay",
                             {"payment_reference": "P", "amount": "13.48"})

        document = http.request("GET", "/openapi.yaml")
        self.assertEqual(200, document.status)
        self.assertEqual("application/yaml", document.headers["content-type"])
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "schema",
                               "openapi.yaml"), "rb") as f:
            self.assertEqual(f.read(), document.body)

        base = f"http://127.0.0.1:{self.service.port}"

        def run_schemathesis(*options):
            run = subprocess.run(
                [schemathesis(), "run", f"{base}/openapi.yaml", "--base-url", base,
                 "--checks", CHECKS, "--hypothesis-max-examples", MAX_EXAMPLES,
                 "--hypothesis-derandomize", "--no-color", *options],
                capture_output=True, text=True, timeout=900,
                env=dict(os.environ, SCHEMATHESIS_TELEMETRY="false"))
            summary = [line for line in run.stdout.splitlines()
                       if re.search(r"passed|failed|errored|checks|Performed|=====", line)]
            print("\n".join("  " + line for line in summary[-14:]))
            self.assertEqual(0, run.returncode, run.stdout[-6000:] + run.stderr[-2000:])
            return run.stdout

        # Each operation on its own (following links there would test every linked operation
        # again for every example of its source: many times the requests, no new ground).
        run_schemathesis("--data-generation-method", "all", "--workers", "2",
                         "--stateful", "none")
        # Sequences of calls along the links, on the orders the sequence itself placed.
        walked = run_schemathesis("--stateful", "links",
                                  "--experimental", "stateful-test-runner",
                                  "--experimental", "stateful-only")
        self.assertGreater(linked_successes(walked, "POST /orders", "POST /orders/{id}/pay"), 0,
                           "no walk paid the order it placed:\n" + walked[-4000:])
        self.assertGreater(linked_successes(walked, "POST /orders", "GET /orders/{id}"), 0,
                           walked[-4000:])
        self.assertEqual(0, server_errors(self.service), "the service answered with a 5xx")
        self.assertTrue(self.service.alive())


if __name__ == "__main__":
    harness.run(__name__)
