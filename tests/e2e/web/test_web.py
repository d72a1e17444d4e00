"""test_web.py: the web pages in a real browser (headless Chromium driven by
Selenium, both from Debian), against `cartwise serve` on loopback over a
store of the bundled UCI sample (data/sample) with the example incentive
configuration (examples/store-config.json).

- the demo store: the widget shows what the engine decided for the cart
  (the add-ons the decision log says were shown, the progress message of
  the priced cart), adding an add-on puts it in the cart and asks again,
  and the impression, click and add_to_cart events reach the store with
  the decision's id;
- the widget embedded in a page of another origin: allowed with
  --cors-origin, refused (onError, nothing shown) from any other origin;
- the dashboard: a wrong key is refused, the right one shows the model,
  the KPIs and the incentive configuration as the API gives them; a bad
  configuration is refused naming the field, a good one is saved; "Train
  now" trains a new model version.

No page may log a browser console error. Run by tests/e2e/test_web.sh.
"""
import http.server
import json
import os
import socketserver
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))
from harness import CW_BIN, CW_SRC, HOST, Server, Store, cli, sql  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SAMPLE = os.path.join(CW_SRC, "data", "sample", "online_retail_sample.csv.gz")
CONFIG = os.path.join(CW_SRC, "examples", "store-config.json")
CHROMIUM = os.environ.get("CW_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CW_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 60  # generous: the suite also runs under ASan on 2 busy cores


def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    # the flags this machine's Chromium needs without a network or a display
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync",
              "--window-size=1280,1000",
              "--user-data-dir=" + tempfile.mkdtemp(prefix="cw-chromium.")):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)


class OtherOrigin:
    """A storefront on another loopback port (another origin) with a page,
    shop.html, that embeds the widget from the cartwise server."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cw-shop.")
        directory = self.dir

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=directory, **kw)

            def log_message(self, *a):
                pass

        self.httpd = socketserver.TCPServer((HOST, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.origin = f"http://{HOST}:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def write_page(self, cw_url, key):
        with open(os.path.join(self.dir, "shop.html"), "w") as f:
            f.write(f"""<!doctype html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>shop</title></head><body>
<div id="cw"></div><p id="err"></p>
<script src="{cw_url}/widget/cartwise.js"></script>
<script>
Cartwise.mount(document.getElementById("cw"), {{
  key: "{key}", sessionId: "shop-1", customerId: "17850",
  onError: function (e) {{ document.getElementById("err").textContent = "E:" + e.status; }}
}}).update([{{sku: "85123A", qty: 2}}, {{sku: "71053", qty: 1}}]);
</script></body></html>""")
        return f"{self.origin}/shop.html"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class WebTest(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        if not CW_BIN:
            raise unittest.SkipTest("CW_BIN is not set")
        cls.store = Store(lines=SAMPLE, fmt="uci")
        cls.db = cls.store.db
        cli("config", "set", CONFIG, "--db", cls.db)
        cls.shop = OtherOrigin()      # allowed (--cors-origin)
        cls.stranger = OtherOrigin()  # not allowed
        cls.srv = Server(cls.store, cors_origins=[cls.shop.origin])
        cls.srv.start()
        cls.url = f"http://{HOST}:{cls.srv.port}"
        cls.driver = browser()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.driver.quit()
        finally:
            try:
                cls.shop.close()
                cls.stranger.close()
                cls.srv.stop()
            finally:
                cls.store.remove()

    def setUp(self):
        self.assertTrue(self.srv.alive(), self.srv.stderr()[-4000:])
        self.driver.get_log("browser")  # drop what earlier tests left

    def tearDown(self):
        # a page's own errors (a script exception, console.error) fail the
        # test; the browser's note of an API answer of 4xx (a refused key,
        # no experiment) is what the test provokes, a 5xx is not
        expected = getattr(self, "expected_console", ())
        errors = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"
                  and (e.get("source") != "network" or "status of 5" in e["message"])
                  and not any(x in e["message"] for x in expected)]
        self.assertEqual(errors, [], "browser console errors")

    # -- helpers --

    def wait(self, cond, what):
        try:
            # the pages re-render (the dashboard polls while training): an
            # element read as it is replaced is read again
            return WebDriverWait(self.driver, WAIT, poll_frequency=0.1,
                                 ignored_exceptions=(StaleElementReferenceException,)
                                 ).until(lambda d: cond(d))
        except Exception:
            self.driver.save_screenshot(os.path.join(self.store.dir, "failure.png"))
            raise AssertionError(f"timed out waiting for {what}; page:\n"
                                 + self.driver.find_element(By.TAG_NAME, "body").text[:3000])

    def css(self, sel):
        return self.driver.find_elements(By.CSS_SELECTOR, sel)

    def wait_sql(self, query, want, what):
        deadline = time.monotonic() + WAIT
        got = None
        while time.monotonic() < deadline:
            got = sql(self.db, query)
            if got == want:
                return
            time.sleep(0.1)
        self.fail(f"{what}: {query} gave {got!r}, want {want!r}")

    def decision(self, old=None):
        """The widget's current decision id (a new one when old is given)."""
        return self.wait(
            lambda d: (lambda v: v if v and v != old else False)(
                self.css("#cartwise")[0].get_attribute("data-decision-id")),
            "a decision in the widget")

    # -- the demo store --

    def test_directories_redirect(self):
        for page in ("demo", "dashboard"):
            r = self.srv.get(f"/{page}")
            self.assertEqual(r.status, 308, r)
            self.assertEqual(r.header("Location"), f"/{page}/")
        self.driver.get(f"{self.url}/dashboard")
        self.assertEqual(self.driver.current_url, f"{self.url}/dashboard/")
        self.assertEqual(self.driver.title, "cartwise dashboard")

    def test_demo_store(self):
        pk = self.store.public
        d = self.driver
        d.get(f"{self.url}/demo/#key={pk}&customer=17850")
        # the key leaves the address bar at once
        self.assertEqual(d.current_url, f"{self.url}/demo/")
        self.assertEqual(len(self.css("#catalog tbody tr")), 12)
        self.css('#catalog tr[data-sku="85123A"] button')[0].click()
        self.css('#catalog tr[data-sku="71053"] button')[0].click()
        self.wait(lambda _: len(self.css("#cart tbody tr")) == 2, "two cart lines")
        dec = self.decision()
        # the add-ons are those the decision log says were shown, in order
        self.wait(lambda _: self.css(".cw-addon"), "add-ons")
        shown = [li.get_attribute("data-sku") for li in self.css(".cw-addon")]
        self.wait_sql(f"SELECT count(*) FROM decisions WHERE id = '{dec}'", "1",
                      "the decision logged")
        logged = json.loads(sql(self.db, f"SELECT shown FROM decisions WHERE id = '{dec}'"))
        # the widget may be a decision ahead of the one logged first: compare
        # with the decision it shows
        self.assertEqual(shown, [a["variant_sku"] for a in logged])
        self.assertTrue(1 <= len(shown) <= 3, shown)
        for li in self.css(".cw-addon"):
            self.assertTrue(li.find_element(By.CSS_SELECTOR, ".cw-addon-name").text)
            self.assertTrue(li.find_element(By.CSS_SELECTOR, ".cw-addon-why").text)
            self.assertRegex(li.find_element(By.CSS_SELECTOR, ".cw-addon-price").text, r"£\d+\.\d\d")
        # the progress bar says what the server priced for this cart
        body = {"session_id": "web-check", "customer_id": "17850", "cart": [
            {"sku": "85123A", "qty": 1, "price": 255}, {"sku": "71053", "qty": 1, "price": 339}]}
        api = self.srv.post("/v1/decide", body, key=pk).json()
        progress = api["incentives"]["progress"]
        self.assertEqual(self.css(".cw-progress-msg")[0].text, progress["message"])
        bar = self.css(".cw-bar")[0]
        self.assertEqual(bar.get_attribute("aria-valuenow"), str(progress["percent"]))
        # impressions for every add-on shown, with the decision's id
        self.wait_sql(f"SELECT group_concat(sku) FROM (SELECT sku FROM events WHERE "
                      f"type = 'impression' AND decision_id = '{dec}' ORDER BY sku)",
                      ",".join(sorted(shown)), "impression events")
        # adding the first add-on: in the cart, click + add_to_cart, a new decision
        first = shown[0]
        self.css(".cw-addon .cw-add")[0].click()
        self.wait(lambda _: self.css(f'#cart tr[data-sku="{first}"]'), "the add-on in the cart")
        self.decision(old=dec)
        self.wait_sql(f"SELECT group_concat(type) FROM (SELECT type FROM events WHERE "
                      f"decision_id = '{dec}' AND sku = '{first}' AND type != 'impression' "
                      f"ORDER BY type)", "add_to_cart,click", "click and add_to_cart events")
        self.assertEqual(sql(self.db, "SELECT DISTINCT customer_id FROM events WHERE "
                                      f"decision_id = '{dec}'"), "17850")
        # the store's own adds are reported too, without a decision
        self.wait_sql("SELECT group_concat(sku) FROM (SELECT sku FROM events WHERE "
                      "type = 'add_to_cart' AND decision_id IS NULL ORDER BY sku)",
                      "71053,85123A", "the catalog's add_to_cart events")

    # -- the widget on a storefront of another origin --

    def test_widget_allowed_origin(self):
        d = self.driver
        d.get(self.shop.write_page(self.url, self.store.public))
        self.wait(lambda _: self.css("#cw")[0].get_attribute("data-decision-id"),
                  "a decision from another origin")
        self.assertTrue(self.css("#cw")[0].is_displayed())
        self.assertTrue(self.css("#cw .cw-progress-msg")[0].text)
        self.assertEqual(self.css("#err")[0].text, "")

    def test_widget_refused_origin(self):
        self.expected_console = ("blocked by CORS policy",)
        self.driver.get(self.stranger.write_page(self.url, self.store.public))
        self.wait(lambda _: self.css("#err")[0].text, "the widget's error")
        # the preflight is refused: a page learns no status, only that it
        # may not call (the widget's error says why it may be)
        self.assertEqual(self.css("#err")[0].text, "E:0")
        self.assertFalse(self.css("#cw")[0].is_displayed())
        self.assertIsNone(self.css("#cw")[0].get_attribute("data-decision-id"))

    # -- the dashboard --

    def signin(self, key):
        f = self.css("#key")[0]
        f.clear()
        f.send_keys(key)
        self.css("#signin-form button[type=submit]")[0].click()

    def test_dashboard(self):
        sk = self.store.secret
        d = self.driver
        d.get(f"{self.url}/dashboard/")
        self.assertFalse(self.css("#panels")[0].is_displayed())
        # a public key is not enough
        self.signin(self.store.public)
        self.wait(lambda _: "secret key" in self.css("#signin-status")[0].text,
                  "the refusal")
        self.assertFalse(self.css("#panels")[0].is_displayed())
        self.signin(sk)
        self.wait(lambda _: self.css("#panels")[0].is_displayed(), "the panels")
        # the model, as GET /v1/model says
        model = self.srv.get("/v1/model", key=sk).json()
        self.wait(lambda _: len(self.css("#model-kpis .kpi")) >= 7, "the model cards")
        cards = {c.find_element(By.CSS_SELECTOR, ".label").text:
                 c.find_element(By.CSS_SELECTOR, ".value").text
                 for c in self.css("#model-kpis .kpi")}
        self.assertEqual(cards["Version"], str(model["version"]))
        self.assertEqual(cards["Orders learned from"], f"{model['baskets']:,}")
        # what training chose
        ch = model["choices"]
        self.assertEqual(cards["Cart order"], "read" if ch["cart_order"] else "ignored")
        self.assertEqual(cards["Profit weight"],
                         f"{ch['profit_weight']:g}" if ch["profit_weight"] > 0 else "off")
        # the KPIs, as GET /v1/reports/kpis says
        kpis = self.srv.get("/v1/reports/kpis", key=sk).json()
        self.wait(lambda _: len(self.css("#kpi-cards .kpi")) >= 9, "the KPI cards")
        cards = {c.find_element(By.CSS_SELECTOR, ".label").text:
                 c.find_element(By.CSS_SELECTOR, ".value").text
                 for c in self.css("#kpi-cards .kpi")}
        self.assertEqual(cards["Orders"], f"{kpis['orders']:,}")
        self.assertEqual(cards["Average order value"], f"£{kpis['aov']:,.2f}")
        self.assertEqual(cards["Repeat customers"], f"{100 * kpis['repeat_rate']:.1f}%")
        notes = self.css("#kpi-notes")[0].text
        for a in kpis["assumptions"]:
            self.assertIn(a, notes)
        # no experiment here
        self.wait(lambda _: "No experiment" in self.css("#exp-status")[0].text,
                  "the experiment panel")
        # the configuration: a bad one is refused naming the field
        cfg = self.srv.get("/v1/config", key=sk).json()
        self.wait(lambda _: self.css("#config-text")[0].get_attribute("value"), "the config")
        self.assertEqual(json.loads(self.css("#config-text")[0].get_attribute("value")), cfg)
        bad = json.loads(json.dumps(cfg))
        bad["tiers"][0]["threshold"] = -5
        area = self.css("#config-text")[0]
        d.execute_script("arguments[0].value = arguments[1];", area, json.dumps(bad))
        self.css("#config-save")[0].click()
        self.wait(lambda _: "tiers[0].threshold" in self.css("#config-status")[0].text,
                  "the refusal naming the field")
        self.assertEqual(self.srv.get("/v1/config", key=sk).json(), cfg)
        # a good change is saved and in force
        good = json.loads(json.dumps(cfg))
        good["tiers"][0]["threshold"] = cfg["tiers"][0]["threshold"] + 100
        d.execute_script("arguments[0].value = arguments[1];", area, json.dumps(good))
        self.css("#config-save")[0].click()
        self.wait(lambda _: "Saved" in self.css("#config-status")[0].text, "the save")
        self.assertEqual(self.srv.get("/v1/config", key=sk).json()["tiers"][0]["threshold"],
                         good["tiers"][0]["threshold"])
        # train now: a new model version
        self.css("#train")[0].click()
        self.wait(lambda _: self.srv.get("/v1/model", key=sk).json()["version"]
                  == model["version"] + 1, "the new model version")
        self.wait(lambda _: any(c.text == str(model["version"] + 1)
                                for c in self.css("#model-kpis .kpi .value")),
                  "the new version on the page")


if __name__ == "__main__":
    unittest.main()
