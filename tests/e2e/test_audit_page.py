"""The audit page in a real browser: Debian's headless chromium, driven by Selenium (pinned,
installed on first use into build/.venv-browser) through chromedriver, against the real binary
with authentication on. Orders are placed, paid, shipped and cancelled over HTTP; then the page
finds them, reads their timelines, opens past versions, and says in words when there is no
token, no order, no database or no service. Screenshots at 375 and 1440 px go to
build/audit-screenshots/."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import harness

PACKAGES = ["selenium==4.27.1"]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SECRET = "e2e-audit-secret-0123456789-abcdefghij"
WAIT_SECONDS = 10
IMG_PAYLOAD = '<img src=x onerror="window.__xss=1">'
SCRIPT_PAYLOAD = "<script>window.__xss=2</script>"


def build_dir():
    return os.path.dirname(os.path.dirname(harness.ARGS.service))


def selenium():
    """The pinned Selenium in build/.venv-browser, created on first use, put on sys.path."""
    venv = os.path.join(build_dir(), ".venv-browser")
    marker = os.path.join(venv, "-".join(PACKAGES))
    if not os.path.exists(marker):
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", *PACKAGES], check=True)
        open(marker, "w").close()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    sys.path.insert(0, os.path.join(venv, "lib", version, "site-packages"))


selenium_ready = False


def browser():
    """Headless chromium through Debian's chromedriver (no driver download, works offline)."""
    global selenium_ready, By, Keys, ActionChains, WebDriverWait, TimeoutException
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            raise AssertionError(f"{path} is missing: tools/install-deps.sh test installs it")
    if not selenium_ready:
        selenium()
        selenium_ready = True
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--lang=en-US",
                 "--window-size=1440,900", "--hide-scrollbars"):
        options.add_argument(flag)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # chromium refuses to run as root with its sandbox
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(subject, secret=SECRET):
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": subject, "exp": int(time.time()) + 3600}).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(signature)}"


class PageTest(unittest.TestCase):
    """A browser on the page of one service; helpers to read what the page shows."""
    service = None
    driver = None

    @classmethod
    def start_browser(cls):
        cls.driver = browser()
        cls.base = f"http://127.0.0.1:{cls.service.port}"

    @classmethod
    def stop_browser(cls):
        if cls.driver is not None:
            cls.driver.quit()

    def tearDown(self):
        # A script error or a refused resource (the CSP at work) is a failure; a failed fetch is
        # an answer the page shows in words, and the favicon is not served.
        problems = [entry["message"] for entry in self.driver.get_log("browser")
                    if entry["level"] == "SEVERE"
                    and "Failed to load resource" not in entry["message"]]
        self.assertEqual([], problems, "the browser console reported errors")

    def open(self, fragment="", with_token=None):
        self.driver.get("about:blank")
        self.driver.get(f"{self.base}/audit")
        if with_token is not None:
            self.driver.execute_script(
                "sessionStorage.setItem('order-audit.token', arguments[0])", with_token)
        else:
            self.driver.execute_script("sessionStorage.clear()")
        self.driver.get(f"{self.base}/audit#{fragment}" if fragment else f"{self.base}/audit")

    def wait(self, condition, what):
        try:
            return WebDriverWait(self.driver, WAIT_SECONDS).until(lambda d: condition())
        except TimeoutException:
            self.fail(f"waited {WAIT_SECONDS} s for {what}; the message says "
                      f"{self.message()!r}")

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def message(self):
        box = self.find("#message")
        return box.text if box.is_displayed() else ""

    def wait_message(self, words):
        self.wait(lambda: words in self.message(), f"the message {words!r}")
        return self.message()

    def wait_timeline(self, order_id, count):
        self.wait(lambda: self.find("#history-title").text == f"History of order {order_id}"
                  and len(self.finds("#timeline .entry")) == count,
                  f"the {count} events of order {order_id}")
        return self.finds("#timeline .entry")

    def field(self, entry, name):
        return entry.find_element(By.CSS_SELECTOR, f'dd[data-field="{name}"]').text

    def state_row(self, name):
        row = self.find(f'#state-rows tr[data-field="{name}"]')
        cells = row.find_elements(By.CSS_SELECTOR, "td")
        return {"changed": "changed" in row.get_attribute("class").split(),
                "now": cells[0].text, "before": cells[1].text}

    def wait_state(self, order_id, version):
        self.wait(lambda: self.find("#state").is_displayed() and self.find("#state-title").text
                  == f"Order {order_id} as of version {version}",
                  f"order {order_id} as of version {version}")


class AuditPage(PageTest):
    @classmethod
    def setUpClass(cls):
        cls.db = harness.FreshDatabase()
        cls.service = harness.Service(cls.db.url, env={**os.environ, "JWT_SECRET": SECRET})
        cls.alice = token("alice@example.com")
        cls.bob = token("bob@example.com")
        try:
            cls.place_orders()
            cls.start_browser()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stop_browser()
        cls.service.stop()
        cls.db.drop()

    @classmethod
    def command(cls, http, path, body, who, request_id=None, correlation_id=None):
        headers = {"Authorization": f"Bearer {who}", "X-Request-Id": request_id,
                   "X-Correlation-Id": correlation_id}
        response = http.request("POST", path, body, headers)
        assert response.status in (200, 201), (path, response)
        return response.json

    @classmethod
    def place_orders(cls):
        http = cls.service.client()
        a = cls.command(http, "/orders", harness.SEED_BODY, cls.alice, "req-create-a",
                        "corr-checkout-a")
        cls.a = a["order_id"]
        cls.command(http, f"/orders/{cls.a}/pay", {"payment_reference": "PAY-7731",
                                                   "amount": "13.48"}, cls.alice, "req-pay-a")
        cls.command(http, f"/orders/{cls.a}/ship", {"carrier": "DHL",
                                                    "tracking_number": "JD014600003SE"},
                    cls.bob, "req-ship-a")
        cls.b = cls.command(http, "/orders", harness.SEED_BODY, cls.alice)["order_id"]
        cls.command(http, f"/orders/{cls.b}/cancel", {"reason": "customer changed their mind"},
                    cls.bob, "req-cancel-b")
        # Text a client sent, shaped as markup: the page must show it, never run it.
        other = dict(harness.SEED_BODY, user_id=202)
        cls.c = cls.command(http, "/orders", other, cls.alice)["order_id"]
        cls.command(http, f"/orders/{cls.c}/cancel", {"reason": IMG_PAYLOAD}, cls.bob)
        cls.d = cls.command(http, "/orders", other, cls.alice)["order_id"]
        cls.command(http, f"/orders/{cls.d}/pay", {"payment_reference": "<i>PAY</i>",
                                                   "amount": "13.48"}, cls.alice)
        cls.command(http, f"/orders/{cls.d}/ship", {"carrier": SCRIPT_PAYLOAD,
                                                    "tracking_number": "<b>JD</b>"}, cls.bob)
        cls.many = [cls.command(http, "/orders", dict(harness.SEED_BODY, user_id=303),
                                cls.alice)["order_id"] for _ in range(22)]
        # The list is the read model's: wait until the projector has caught up with all of it.
        deadline = time.time() + 15
        while time.time() < deadline:
            listed = http.request("GET", "/orders?user_id=303&limit=500",
                                  headers={"Authorization": f"Bearer {cls.alice}"}).json
            cancelled = http.request("GET", "/orders?user_id=101&status=cancelled",
                                     headers={"Authorization": f"Bearer {cls.alice}"}).json
            if len(listed["orders"]) == 22 and len(cancelled["orders"]) == 1:
                break
            time.sleep(0.1)
        http.close()

    def test_the_page_is_served_to_anyone_from_the_binary_with_a_strict_policy(self):
        http = self.service.client()
        self.assertEqual(401, http.request("GET", f"/orders/{self.a}").status,
                         "authentication is on for the API")
        page = http.request("GET", "/audit")
        self.assertEqual(200, page.status, page)
        self.assertEqual("text/html; charset=utf-8", page.headers["content-type"])
        policy = page.headers["content-security-policy"]
        for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                          "connect-src 'self'", "frame-ancestors 'none'"):
            self.assertIn(directive, policy)
        self.assertEqual("nosniff", page.headers["x-content-type-options"])
        self.assertEqual("no-cache", page.headers["cache-control"])
        self.assertNotIn(b"http://", page.body.replace(b"http://www.w3.org", b""),
                         "the page loads nothing from elsewhere")
        self.assertNotIn(b"https://", page.body)
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "adapters", "http", "audit",
                               "index.html"), "rb") as f:
            self.assertEqual(f.read(), page.body, "the page is the source's, embedded")
        for path, content_type in (("/audit/audit.js", "text/javascript; charset=utf-8"),
                                   ("/audit/audit.css", "text/css; charset=utf-8")):
            asset = http.request("GET", path)
            self.assertEqual(200, asset.status, (path, asset))
            self.assertEqual(content_type, asset.headers["content-type"])
            self.assertGreater(len(asset.body), 1000)
        # Revalidation: the same tag is a 304 without a body; another tag gets the page.
        etag = page.headers["etag"]
        again = http.request("GET", "/audit", headers={"If-None-Match": etag})
        self.assertEqual(304, again.status, again)
        self.assertEqual(b"", again.body)
        for held in (f'"0", {etag}', f"W/{etag}", "*"):
            self.assertEqual(304, http.request("GET", "/audit",
                                               headers={"If-None-Match": held}).status, held)
        self.assertEqual(200, http.request("GET", "/audit",
                                           headers={"If-None-Match": '"0"'}).status)
        script = http.request("GET", "/audit/audit.js")
        self.assertNotEqual(etag, script.headers["etag"], "each file has its own tag")
        http.close()

    def test_without_a_token_the_page_asks_for_one_and_says_when_one_is_refused(self):
        self.open(f"order={self.a}")
        text = self.wait_message("Not authorized")
        self.assertIn("asks for a bearer token", text)
        self.assertIn("attention", self.find("#access-state").get_attribute("class"))
        self.assertFalse(self.find("#audit").is_displayed())

        self.find("#token").send_keys(token("mallory", secret="not-the-service-secret-at-all-1234"))
        self.find("#token-form button[type=submit]").click()
        text = self.wait_message("refused the token")
        self.assertIn("signature", text.lower(), "the service's reason is passed on")

        self.find("#token").send_keys(self.alice)
        self.find("#token-form button[type=submit]").click()
        self.wait_timeline(self.a, 3)
        self.assertEqual(self.alice, self.driver.execute_script(
            "return sessionStorage.getItem('order-audit.token')"))
        self.assertEqual("", self.find("#token").get_attribute("value"), "the field is cleared")

    def test_an_orders_timeline_shows_each_event_with_its_change_actor_ids_and_fields(self):
        http = self.service.client()
        events = http.request("GET", f"/orders/{self.a}/events",
                              headers={"Authorization": f"Bearer {self.alice}"}).json["events"]
        http.close()
        self.open(f"order={self.a}", with_token=self.alice)
        entries = self.wait_timeline(self.a, 3)
        self.assertEqual(["1", "2", "3"], [e.get_attribute("data-version") for e in entries])
        self.assertEqual(["order.created", "order.paid", "order.shipped"],
                         [e.find_element(By.CSS_SELECTOR, ".entry-type").text for e in entries])
        changes = [[s.text for s in e.find_elements(By.CSS_SELECTOR, ".entry-change .status")]
                   for e in entries]
        self.assertEqual([["new", "pending"], ["pending", "paid"], ["paid", "shipped"]], changes)
        self.assertEqual(["alice@example.com", "alice@example.com", "bob@example.com"],
                         [self.field(e, "actor") for e in entries])
        self.assertEqual(["req-create-a", "req-pay-a", "req-ship-a"],
                         [self.field(e, "request_id") for e in entries])
        self.assertEqual("corr-checkout-a", self.field(entries[0], "correlation_id"))
        self.assertEqual("same as the request id", self.field(entries[1], "correlation_id"))
        for entry, event in zip(entries, events):
            shown = entry.find_element(By.CSS_SELECTOR, "time")
            self.assertEqual(event["recorded_at"], shown.get_attribute("datetime"))
            self.assertEqual(event["recorded_at"][:10] + " " + event["recorded_at"][11:19] + " UTC",
                             shown.text)
            self.assertIn(event["event_id"], self.field(entry, "event"))
        # Money as the exact decimal strings: 3.50, not 3.5.
        self.assertEqual("13.48", self.field(entries[0], "totalamount"))
        self.assertEqual("2 × product 1001 at 4.99\n1 × product 1002 at 3.50",
                         self.field(entries[0], "items"))
        self.assertEqual("PAY-7731", self.field(entries[1], "payment_reference"))
        self.assertEqual("13.48", self.field(entries[1], "amount"))
        self.assertEqual("DHL", self.field(entries[2], "carrier"))
        self.assertEqual("JD014600003SE", self.field(entries[2], "tracking_number"))

        self.find("#sort").send_keys("Newest first")
        self.wait(lambda: [e.get_attribute("data-version") for e in self.finds("#timeline .entry")]
                  == ["3", "2", "1"], "the newest event first")

        self.open(f"order={self.b}", with_token=self.alice)
        entries = self.wait_timeline(self.b, 2)
        self.assertEqual("customer changed their mind", self.field(entries[1], "reason"))
        self.assertEqual("bob@example.com", self.field(entries[1], "actor"))

    def test_an_entry_opens_the_order_as_of_its_version_with_what_changed_marked(self):
        self.open(f"order={self.a}", with_token=self.alice)
        entries = self.wait_timeline(self.a, 3)
        entries[1].find_element(By.CSS_SELECTOR, ".entry-open").click()
        self.wait_state(self.a, 2)
        self.assertTrue(self.driver.current_url.endswith(f"#order={self.a}&version=2"))
        self.assertEqual("state-title", self.driver.execute_script(
            "return document.activeElement.id"), "the focus follows the choice")
        self.assertEqual("true", entries[1].find_element(By.CSS_SELECTOR, ".entry-open")
                         .get_attribute("aria-current"))
        status = self.state_row("status")
        self.assertEqual({"changed": True, "now": "paid", "before": "pending"}, status)
        self.assertTrue(self.finds('#state-rows tr[data-field="status"] mark'),
                        "a change is marked, not only coloured")
        self.assertIn("changed", self.find('#state-rows tr[data-field="status"] th').text.lower())
        self.assertEqual({"changed": True, "now": "PAY-7731", "before": "none"},
                         self.state_row("payment_reference"))
        self.assertEqual({"changed": False, "now": "13.48", "before": "13.48"},
                         self.state_row("total_amount"))
        self.assertEqual({"changed": True, "now": "2", "before": "1"}, self.state_row("version"))
        self.assertEqual([], self.finds('#state-rows tr[data-field="carrier"]'),
                         "a field neither version has is left out")
        items = [[c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]
                 for row in self.finds("#state-item-rows tr")]
        self.assertEqual([["Product 1001", "2", "4.99", "9.98"],
                          ["Product 1002", "1", "3.50", "3.50"]], items)

        # A link straight to a version works as well; the first version has nothing before it.
        self.open(f"order={self.a}&version=3", with_token=self.alice)
        self.wait_state(self.a, 3)
        self.assertEqual({"changed": True, "now": "DHL", "before": "none"},
                         self.state_row("carrier"))
        self.find('#timeline .entry[data-version="1"] .entry-open').click()
        self.wait_state(self.a, 1)
        self.assertIn("The first version", self.find("#state-note").text)
        self.assertEqual([], self.finds("#state-rows tr.changed"))

    def test_a_users_orders_are_listed_by_pages_and_lead_to_their_timelines(self):
        self.open("user=303", with_token=self.alice)
        self.wait(lambda: len(self.finds("#orders-rows tr")) == 20, "the first page of 20 orders")
        self.assertTrue(self.find("#orders-more").is_displayed())
        self.find("#orders-more").click()
        self.wait(lambda: len(self.finds("#orders-rows tr")) == 22, "the second page")
        self.assertFalse(self.find("#orders-more").is_displayed())
        shown = [int(link.text.split()[-1]) for link in self.finds("#orders-rows th a")]
        self.assertEqual(sorted(self.many), shown, "every order once, by order id")
        row = self.finds("#orders-rows tr")[0]
        self.assertEqual("13.48", row.find_elements(By.CSS_SELECTOR, "td")[1].text)

        self.open("user=101", with_token=self.alice)
        self.wait(lambda: len(self.finds("#orders-rows tr")) == 2, "user 101's two orders")
        statuses = {int(r.find_element(By.CSS_SELECTOR, "th a").text.split()[-1]):
                    r.find_element(By.CSS_SELECTOR, ".status").text
                    for r in self.finds("#orders-rows tr")}
        self.assertEqual({self.a: "shipped", self.b: "cancelled"}, statuses)
        self.driver.find_element(By.LINK_TEXT, f"Order {self.b}").click()
        self.wait_timeline(self.b, 2)

        self.open("user=999", with_token=self.alice)
        self.wait_message("User 999 has no orders.")
        self.assertFalse(self.find("#orders").is_displayed())

    def test_an_unknown_order_a_missing_version_and_a_bad_id_are_said_in_words(self):
        self.open("order=999999", with_token=self.alice)
        self.wait_message("There is no order 999999.")
        self.assertFalse(self.find("#audit").is_displayed())
        self.assertNotIn("{", self.message(), "no raw JSON")

        self.open(f"order={self.a}&version=9", with_token=self.alice)
        text = self.wait_message(f"Order {self.a} has no version 9.")
        self.assertIn(f"has no version 9", text.split("\n")[-1], "the service's own words")

        self.open("", with_token=self.alice)
        self.wait_message("Find an order by its id")
        self.find("#order-id").send_keys("47x1")
        self.find("#order-form button").click()
        self.wait_message("An order id is a whole number")

    def test_text_from_events_is_shown_literally_and_never_run(self):
        self.open(f"order={self.c}", with_token=self.alice)
        entries = self.wait_timeline(self.c, 2)
        self.assertEqual(IMG_PAYLOAD, self.field(entries[1], "reason"))
        self.open(f"order={self.d}&version=3", with_token=self.alice)
        entries = self.wait_timeline(self.d, 3)
        self.assertEqual(SCRIPT_PAYLOAD, self.field(entries[2], "carrier"))
        self.assertEqual("<b>JD</b>", self.field(entries[2], "tracking_number"))
        self.assertEqual("<i>PAY</i>", self.field(entries[1], "payment_reference"))
        self.wait_state(self.d, 3)
        self.assertEqual(SCRIPT_PAYLOAD, self.state_row("carrier")["now"])
        self.assertEqual([], self.finds("main img, main script, main b, main i"),
                         "no element was made of an event's text")
        self.assertIsNone(self.driver.execute_script("return window.__xss"))

    def test_the_page_is_usable_by_keyboard_alone(self):
        self.open("", with_token=self.alice)
        self.wait_message("Find an order by its id")
        keys = ActionChains(self.driver)
        keys.send_keys(Keys.TAB).perform()
        self.assertEqual("skip", self.driver.execute_script(
            "return document.activeElement.className"))
        keys.send_keys(Keys.TAB).perform()
        self.assertEqual("order-id", self.driver.execute_script(
            "return document.activeElement.id"))
        ActionChains(self.driver).send_keys(str(self.a), Keys.ENTER).perform()
        self.wait_timeline(self.a, 3)
        self.assertEqual("history-title", self.driver.execute_script(
            "return document.activeElement.id"), "the focus goes to the history")
        ActionChains(self.driver).send_keys(Keys.TAB, Keys.TAB).perform()
        self.assertEqual("1", self.driver.execute_script(
            "return document.activeElement.dataset.version"))
        ActionChains(self.driver).send_keys(Keys.ARROW_DOWN).perform()
        self.assertEqual("2", self.driver.execute_script(
            "return document.activeElement.dataset.version"))
        ActionChains(self.driver).send_keys(Keys.ENTER).perform()
        self.wait_state(self.a, 2)
        self.assertEqual("state-title", self.driver.execute_script(
            "return document.activeElement.id"))

    def test_the_page_reads_at_375_and_1440_px_wide_and_is_photographed(self):
        folder = os.path.join(build_dir(), "audit-screenshots")
        os.makedirs(folder, exist_ok=True)
        try:
            for width in (375, 1440):
                self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                    "width": width, "height": 900, "deviceScaleFactor": 1,
                    "mobile": width < 500})
                self.open(f"order={self.a}&version=2", with_token=self.alice)
                self.wait_timeline(self.a, 3)
                self.wait_state(self.a, 2)
                measured = self.driver.execute_script("""
                  const box = (id) => document.getElementById(id).getBoundingClientRect();
                  return {inner: innerWidth, scroll: document.documentElement.scrollWidth,
                          font: parseFloat(getComputedStyle(document.querySelector(
                            '.entry-fields dd')).fontSize),
                          history: box('history').toJSON(), state: box('state').toJSON(),
                          height: document.documentElement.scrollHeight};""")
                self.assertEqual(width, measured["inner"])
                self.assertLessEqual(measured["scroll"], width, f"no sideways scroll at {width} px")
                self.assertGreaterEqual(measured["font"], 14, f"readable text at {width} px")
                if width == 1440:
                    self.assertGreaterEqual(measured["state"]["left"],
                                            measured["history"]["right"],
                                            "timeline and state side by side")
                else:
                    self.assertGreaterEqual(measured["state"]["top"],
                                            measured["history"]["bottom"],
                                            "timeline then state, one column")
                # The whole page, not only the first screen.
                self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                    "width": width, "height": int(measured["height"]), "deviceScaleFactor": 1,
                    "mobile": width < 500})
                self.driver.execute_script("document.activeElement.blur()")
                path = os.path.join(folder, f"audit-page-{width}.png")
                self.assertTrue(self.driver.save_screenshot(path))
                self.assertGreater(os.path.getsize(path), 10_000)
                print(f"  screenshot: {path}")
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


class AuditPageWhenThingsFail(PageTest):
    """No database, then no service: the page says which, in words."""

    @classmethod
    def setUpClass(cls):
        cls.db = harness.FreshDatabase()
        cls.service = harness.Service(cls.db.url)
        try:
            http = cls.service.client()
            cls.order = http.request("POST", "/orders", harness.SEED_BODY).json["order_id"]
            http.close()
            cls.start_browser()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stop_browser()
        cls.service.stop()
        cls.db.drop()

    def test_an_unreachable_database_and_a_stopped_service_are_said_in_words(self):
        self.open(f"order={self.order}")
        self.wait_timeline(self.order, 1)

        # The service's database stops taking connections and drops the ones it had.
        harness.psql(self.db.admin, f"ALTER DATABASE {self.db.name} WITH ALLOW_CONNECTIONS false")
        harness.psql(self.db.admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    f"WHERE datname = '{self.db.name}'")
        self.find("#order-form button").click()
        text = self.wait_message("The service is unavailable right now (HTTP 503)")
        self.assertIn("database", text)
        self.assertFalse(self.find("#audit").is_displayed(), "no stale history beside the error")
        self.assertTrue(self.service.alive())

        self.service.stop()
        self.find("#order-form button").click()
        self.wait_message("The service cannot be reached")


if __name__ == "__main__":
    harness.run(__name__)
