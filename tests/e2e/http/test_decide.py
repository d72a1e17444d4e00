"""POST /v1/decide over HTTP: the decision, its validation and every error
status of the route, and many concurrent clients."""
import os
import random
import shutil
import tempfile
import threading
import time
import unittest

from harness import (CW_BIN, SKUS, Server, ServerTest, Store, cart, count,
                     decide_body, run_threads, sql)


class DecideTest(ServerTest):

    def decide(self, body, key=..., **kw):
        return self.srv.post("/v1/decide", body,
                             key=self.pk if key is ... else key, **kw)

    def check_decision(self, d, k=3, placement="cart", cart_skus=()):
        for f in ("decision_id", "model_version", "placement", "cart_value",
                  "addons", "unknown_skus", "assumptions"):
            self.assertIn(f, d, d)
        self.assertIsInstance(d["decision_id"], str)
        self.assertTrue(d["decision_id"].startswith("dec_"), d["decision_id"])
        self.assertIsInstance(d["model_version"], int)
        self.assertGreaterEqual(d["model_version"], 1)
        self.assertEqual(d["placement"], placement)
        self.assertMoney(d["cart_value"], "cart_value")
        self.assertIsInstance(d["addons"], list)
        self.assertLessEqual(len(d["addons"]), k)
        self.assertIsInstance(d["unknown_skus"], list)
        self.assertIsInstance(d["assumptions"], list)
        for s in d["assumptions"]:
            self.assertIsInstance(s, str)
        seen = set()
        for i, a in enumerate(d["addons"]):
            w = f"addons[{i}]"
            for f in ("sku", "variant_sku", "title", "p_accept", "unit_margin",
                      "expected_profit", "margin_assumed", "reason"):
                self.assertIn(f, a, f"{w}: {a}")
            self.assertIsInstance(a["sku"], str)
            self.assertNotIn(a["sku"], cart_skus, f"{w} is in the cart")
            self.assertNotIn(a["sku"], seen, f"{w} repeats an add-on")
            seen.add(a["sku"])
            self.assertIsInstance(a["variant_sku"], str)
            self.assertTrue(0 <= a["p_accept"] <= 1, a)
            self.assertMoney(a["unit_margin"], f"{w}.unit_margin")
            self.assertMoney(a["expected_profit"], f"{w}.expected_profit")
            self.assertEqual(a["unit_margin"]["currency"], d["cart_value"]["currency"])
            self.assertIsInstance(a["margin_assumed"], bool)
            self.assertIsInstance(a["reason"], dict)
            self.assertIsInstance(a["reason"].get("code"), str)
            self.assertIsInstance(a["reason"].get("text"), str)

    # -- 200 --

    def test_decide_public_key(self):
        skus = ("85123A", "71053")
        r = self.decide(decide_body(skus, customer_id="17850", placement="cart"))
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        self.assertTrue(r.header("Content-Type", "").startswith("application/json"))
        d = r.json()
        self.check_decision(d, cart_skus=skus)
        self.assertEqual(d["unknown_skus"], [])
        self.assertGreater(len(d["addons"]), 0, "no add-ons for a frequent cart")
        # the model's price of the cart (both lines are in the catalog)
        self.assertGreater(d["cart_value"]["amount"], 0)

    def test_decide_secret_key(self):
        r = self.decide(decide_body(), key=self.sk)
        self.assertStatus(r, 200)
        self.check_decision(r.json(), cart_skus=("85123A", "71053"))

    def test_decide_defaults_and_options(self):
        r = self.decide({"session_id": "s-def", "cart": cart("22632")})
        self.assertStatus(r, 200)
        d = r.json()
        self.check_decision(d, placement="cart", cart_skus=("22632",))
        for placement in ("product", "checkout", "cart"):
            r = self.decide(decide_body(("22633",), placement=placement, k=1))
            self.assertStatus(r, 200, placement)
            self.check_decision(r.json(), k=1, placement=placement,
                                cart_skus=("22633",))
        # variant and price given; qty large but in range
        r = self.decide({"session_id": "s-v", "cart": [
            {"sku": "85123A", "variant": "85123A", "qty": 100000, "price": 255},
            {"sku": "71053", "qty": 1, "price": 0}], "k": 2})
        self.assertStatus(r, 200)
        d = r.json()
        self.check_decision(d, k=2, cart_skus=("85123A", "71053"))
        self.assertEqual(d["cart_value"]["amount"], 255 * 100000,
                         "cart_value must use the request prices")

    def test_unknown_skus_listed_not_an_error(self):
        r = self.decide(decide_body(("85123A", "NOPE-1", "NOPE-2")))
        self.assertStatus(r, 200)
        d = r.json()
        self.check_decision(d, cart_skus=("85123A",))
        self.assertEqual(sorted(d["unknown_skus"]), ["NOPE-1", "NOPE-2"])
        r = self.decide(decide_body(("NOPE-3",)))
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["unknown_skus"], ["NOPE-3"])

    def test_decision_ids_unique_and_logged(self):
        before = count(self.db, "decisions")
        ids = set()
        for i in range(5):
            r = self.decide(decide_body(session=f"s-log-{i}"))
            self.assertStatus(r, 200)
            ids.add(r.json()["decision_id"])
        self.assertEqual(len(ids), 5, "decision ids repeat")
        # the log is written off the request path: wait for it (10 s at most)
        quoted = ", ".join(f"'{i}'" for i in ids)
        deadline = time.monotonic() + 10
        while count(self.db, "decisions", f"id IN ({quoted})") < 5:
            if time.monotonic() > deadline:
                self.fail(f"decisions not logged in the decisions table after 10 s "
                          f"({count(self.db, 'decisions') - before} new rows)")
            time.sleep(0.1)
        self.assertEqual(count(self.db, "decisions", f"id IN ({quoted})"), 5)
        for did in ids:
            self.assertEqual(sql(self.db, f"SELECT session_id, placement FROM decisions "
                                          f"WHERE id = '{did}'").split("|")[1], "cart")

    def test_request_id_echoed(self):
        r = self.decide(decide_body(), headers={"X-Request-Id": "req-abc-123"})
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Request-Id"), "req-abc-123")
        r2 = self.decide(decide_body())
        self.assertTrue(r2.header("Request-Id"))
        self.assertNotEqual(r2.header("Request-Id"), r.header("Request-Id"))

    # -- 400 --

    def test_400_malformed_json(self):
        for raw in ('{"session_id": "s", "cart": [', "not json", '{"a":1}}', ""):
            r = self.decide(raw)
            self.assertError(r, 400, "invalid_request_error")

    def test_400_wrong_shape(self):
        for raw in ("[]", '"cart"', "42", "null"):
            r = self.decide(raw)
            self.assertError(r, 400, "invalid_request_error")

    # -- 401 --

    def test_401_no_or_unknown_key(self):
        r = self.decide(decide_body(), key=None)
        self.assertError(r, 401, "authentication_error")
        r = self.decide(decide_body(), key="pk_live_doesnotexist0000000000")
        self.assertError(r, 401, "authentication_error")
        r = self.decide(decide_body(), key=None,
                        headers={"Authorization": "Basic dXNlcjpwYXNz"})
        self.assertError(r, 401, "authentication_error")
        # a key of the same kind with one character changed
        bad = self.pk[:-1] + ("A" if self.pk[-1] != "A" else "B")
        r = self.decide(decide_body(), key=bad)
        self.assertError(r, 401, "authentication_error")

    # -- 404, 405 --

    def test_404_unknown_route(self):
        r = self.srv.post("/v1/decides", decide_body(), key=self.pk)
        self.assertError(r, 404)
        r = self.srv.get("/v2/decide", key=self.pk)
        self.assertError(r, 404)

    def test_405_wrong_method(self):
        for m in ("GET", "PUT", "DELETE", "PATCH"):
            r = self.srv.request(m, "/v1/decide", key=self.pk)
            self.assertError(r, 405)
            allow = {x.strip() for x in (r.header("Allow") or "").split(",")}
            self.assertIn("POST", allow, f"{m}: Allow {r.header('Allow')!r}")
            self.assertNotIn(m, allow)

    # -- 415 --

    def test_415_not_json(self):
        body = '{"session_id": "s", "cart": [{"sku": "85123A", "qty": 1}]}'
        r = self.decide(body, ctype="text/plain")
        self.assertError(r, 415)
        r = self.decide(body, ctype="application/x-www-form-urlencoded")
        self.assertError(r, 415)
        r = self.decide(body, ctype=None)
        self.assertError(r, 415)
        # parameters on the media type are fine
        r = self.decide(body, ctype="application/json; charset=utf-8")
        self.assertStatus(r, 200)

    # -- 422 --

    def test_422_field_named(self):
        long_sid = "s" * 129
        cases = [
            ({"session_id": "s", "cart": cart("85123A", "71053", "22632")[:2]
              + [{"sku": "22632", "qty": 0}]}, "cart[2].qty"),
            ({"session_id": "s", "cart": [{"sku": "85123A", "qty": 100001}]},
             "cart[0].qty"),
            ({"session_id": "s", "cart": [{"sku": "85123A", "qty": -1}]},
             "cart[0].qty"),
            ({"session_id": "s", "cart": [{"sku": "85123A", "qty": 1},
                                          {"sku": "71053", "qty": 1, "price": -5}]},
             "cart[1].price"),
            ({"session_id": "s", "cart": cart("85123A"), "k": 4}, "k"),
            ({"session_id": "s", "cart": cart("85123A"), "k": 0}, "k"),
            ({"session_id": "s", "cart": cart("85123A"), "placement": "footer"},
             "placement"),
            ({"session_id": "s", "cart": cart("85123A"), "cart_order": "random"},
             "cart_order"),
            ({"session_id": "", "cart": cart("85123A")}, "session_id"),
            ({"session_id": long_sid, "cart": cart("85123A")}, "session_id"),
            ({"session_id": "s", "cart": []}, "cart"),
            ({"session_id": "s", "cart": cart(*(f"X{i}" for i in range(251)))},
             "cart"),
        ]
        for body, field in cases:
            with self.subTest(field=field, body=str(body)[:120]):
                r = self.decide(body)
                self.assertError(r, 422, "invalid_request_error", field=field)

    def test_limits_accepted_at_the_edge(self):
        r = self.decide({"session_id": "s" * 128,
                         "cart": cart(*(SKUS * 13)[:250]), "k": 3})
        self.assertStatus(r, 200)

    def test_missing_required_names_field(self):
        for body, field in (({"cart": cart("85123A")}, "session_id"),
                            ({"session_id": "s"}, "cart"),
                            ({"session_id": "s", "cart": [{"qty": 1}]},
                             "cart[0].sku")):
            with self.subTest(field=field):
                r = self.decide(body)
                self.assertIn(r.status, (400, 422), r)
                self.assertError(r, r.status, "invalid_request_error", field=field)

    def test_hostile_bodies_never_crash(self):
        """Nasty input is a 4xx (or a decision), never a crash or a 5xx."""
        bodies = [
            "[" * 5000 + "]" * 5000,
            '{"session_id": "s", "cart": ' + "[" * 3000 + "]" * 3000 + "}",
            '{"session_id": "s", "cart": [{"sku": "85123A", "qty": 1e400}]}',
            '{"session_id": "s", "cart": [{"sku": "85123A", "qty": 99999999999999999999999}]}',
            '{"session_id": "s", "cart": [{"sku": "85123A", "qty": 1.5}]}',
            '{"session_id": "s", "cart": [{"sku": "85123A", "qty": true}]}',
            '{"session_id": "s", "cart": [{"sku": "85123A", "qty": null}]}',
            '{"session_id": "s", "cart": [1, "x", null]}',
            '{"session_id": "s", "cart": {"sku": "85123A"}}',
            '{"session_id": 42, "cart": [{"sku": "85123A"}]}',
            r'{"session_id": "s\u0000x", "cart": [{"sku": "85\u0000123A"}]}',
            r'{"session_id": "s", "cart": [{"sku": "\ud800"}]}',
            '{"session_id": "s", "session_id": "t", "cart": [{"sku": "85123A"}]}',
            '{"session_id": "s", "cart": [{"sku": "' + "x" * 5000 + '"}]}',
            '{"session_id": "s", "cart": [{"sku": "85123A"}], "k": "3"}',
            '{"session_id": "s", "cart": [{"sku": "85123A"}], "k": -9223372036854775808}',
            '{"session_id": "s", "cart": [{"sku": "85123A", "price": 9223372036854775807, "qty": 100000}]}',
            '\ufeff{"session_id": "s", "cart": [{"sku": "85123A"}]}',
        ]
        raw = [b'{"session_id": "s\xff\xfe", "cart": [{"sku": "85123A"}]}',
               b'{"session_id": "s", "cart": [{"sku": "\xc3\x28"}]}',
               b"\x00" * 64]
        for body in bodies + raw:
            with self.subTest(body=body[:60]):
                r = self.decide(body)
                self.assertTrue(r.status in (200, 400, 413, 422), r)
                if r.status != 200:
                    self.assertError(r, r.status)
        self.assertStatus(self.decide(decide_body()), 200)
        self.assertTrue(self.srv.alive())

    # -- concurrency --

    def test_concurrent_clients(self):
        """16 threads x 200 decides on kept-alive connections: all 200.
        Four public keys, four threads each, so that no key comes near the
        default rate limit (1000/s, burst 2000)."""
        keys = [self.store.create_key("public") for _ in range(4)]
        n_threads, per = 16, 200
        statuses = {}
        lock = threading.Lock()

        def client(i):
            conn = self.srv.connect()
            got = {}
            try:
                for j in range(per):
                    skus = (SKUS[(i + j) % len(SKUS)], SKUS[(i * 7 + j + 1) % len(SKUS)])
                    r = self.srv.request("POST", "/v1/decide",
                                         decide_body(skus, session=f"c{i}-{j}"),
                                         key=keys[i % 4], conn=conn)
                    got[r.status] = got.get(r.status, 0) + 1
                    if r.status == 200:
                        d = r.json()
                        assert d["decision_id"].startswith("dec_"), d
                    elif "first_error" not in got:
                        got["first_error"] = (r.status, r.body[:300])
            finally:
                conn.close()
                with lock:
                    for k, v in got.items():
                        if k == "first_error":
                            statuses.setdefault("first_error", v)
                        else:
                            statuses[k] = statuses.get(k, 0) + v

        errors = run_threads(n_threads, client)
        self.assertEqual(errors, [], "client errors")
        self.assertEqual(statuses.get(200), n_threads * per, statuses)
        self.assertTrue(self.srv.alive())



class CartOrderTest(ServerTest):
    """A store whose orders list lines as shoppers added them: five of eight
    A<k> in a random order, then B<k>, the partner of the latest A. The
    model reads the cart's order; a request says in which order its lines
    come (cart_order)."""

    @classmethod
    def setUpClass(cls):
        if not CW_BIN:
            raise unittest.SkipTest("CW_BIN is not set")
        cls.tmp = tempfile.mkdtemp(prefix="cw-order-")
        lines = os.path.join(cls.tmp, "lines.csv")
        rnd = random.Random(7)
        with open(lines, "w") as f:
            f.write("basket_id,customer_id,ts,sku,qty,unit_price,unit_cost\n")
            for i in range(1200):
                a = rnd.sample(range(8), 5)
                ts = f"2021-01-01 {i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
                for k in a:
                    f.write(f"b{i},c{i % 40},{ts},A{k},1,2.00,\n")
                f.write(f"b{i},c{i % 40},{ts},B{a[-1]},1,1.00,\n")
        try:
            cls.store = Store(lines=lines)
            cls.db, cls.pk, cls.sk = cls.store.db, cls.store.public, cls.store.secret
            cls.srv = Server(cls.store)
            cls.srv.start()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def first_addon(self, skus, **kw):
        r = self.srv.post("/v1/decide", decide_body(skus, **kw), key=self.pk)
        self.assertStatus(r, 200)
        self.assertGreater(len(r.json()["addons"]), 0, r.json())
        return r.json()["addons"][0]

    def test_latest_line_and_newest_first(self):
        skus = ("A0", "A3", "A6", "A1", "A4")
        a = self.first_addon(skus)
        self.assertEqual(a["sku"], "B4")
        self.assertEqual(a["reason"]["code"], "pairs_with")
        self.assertEqual(a["reason"]["evidence_sku"], "A4")
        self.assertIn("you just added", a["reason"]["text"])
        rev = tuple(reversed(skus))
        self.assertEqual(self.first_addon(rev)["sku"], "B0")
        self.assertEqual(self.first_addon(rev, cart_order="oldest_first")["sku"], "B0")
        self.assertEqual(self.first_addon(rev, cart_order="newest_first")["sku"], "B4")


if __name__ == "__main__":
    unittest.main()
