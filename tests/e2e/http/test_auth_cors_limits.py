"""Keys, routes, CORS, the body limit and the per-key rate limit over HTTP:
401, 403, 404, 405 (with Allow, equal to the OpenAPI document), 413, 429."""
import http.client
import json
import os
import time
import unittest

from harness import (HOST, OPENAPI, ServerTest, cli, count, decide_body, event, sql)

ALLOWED = "https://shop.example"
ALLOWED_2 = "http://localhost:3000"
LOCKED = "https://locked.example"
DENIED = ("https://evil.example", "https://shop.example.evil.com", "null",
          "http://shop.example", "https://shop.example:8443")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
# routes that need a key, with a body that is valid enough to get past auth
KEY_ROUTES = [("POST", "/v1/decide", decide_body()),
              ("POST", "/v1/events", {"events": [event("auth-1")]}),
              ("PUT", "/v1/products", {"products": [{"sku": "AUTH-1", "price": 1}]}),
              ("POST", "/v1/orders", {"orders": []}),
              ("POST", "/v1/train", None),
              ("GET", "/v1/model", None),
              ("GET", "/metrics", None)]
SECRET_ROUTES = KEY_ROUTES[2:]


def spec_routes():
    with open(OPENAPI) as f:
        doc = json.load(f)
    return {p: {m.upper() for m in ops if m.upper() in METHODS + ("OPTIONS", "HEAD")}
            for p, ops in doc["paths"].items()}


def allow_set(r):
    return {x.strip().upper() for x in (r.header("Allow") or "").split(",") if x.strip()}


class AuthCorsTest(ServerTest):
    SERVER_OPTS = {"cors_origins": (ALLOWED, ALLOWED_2)}

    # -- keys --

    def test_key_kinds_and_storage(self):
        self.assertTrue(self.pk.startswith("pk_"), self.pk)
        self.assertTrue(self.sk.startswith("sk_"), self.sk)
        self.assertGreaterEqual(len(self.pk), 24)
        self.assertEqual(sql(self.db, "SELECT count(*) FROM api_keys WHERE kind = 'public'") != "0",
                         True)
        # stored hashed: the key itself is nowhere in the store's files
        for suffix in ("", "-wal", "-journal"):
            path = self.db + suffix
            if os.path.exists(path):
                with open(path, "rb") as f:
                    data = f.read()
                for key in (self.pk, self.sk):
                    self.assertNotIn(key.encode(), data, f"key in clear in {path}")
                    self.assertNotIn(key[3:].encode(), data, f"key in clear in {path}")

    def test_401_on_every_key_route(self):
        for method, path, body in KEY_ROUTES:
            for key in (None, "sk_live_unknown0000000000000000", "pk_x", "", "Bearer"):
                with self.subTest(route=f"{method} {path}", key=key):
                    r = self.srv.request(method, path, body, key=key)
                    self.assertError(r, 401, "authentication_error")

    def test_403_public_key_on_secret_routes(self):
        n_products = count(self.db, "products")
        for method, path, body in SECRET_ROUTES:
            with self.subTest(route=f"{method} {path}"):
                r = self.srv.request(method, path, body, key=self.pk)
                self.assertError(r, 403, "permission_error")
        self.assertEqual(count(self.db, "products"), n_products)
        r = self.srv.get("/v1/model", key=self.sk)
        self.assertEqual(r.json()["training"]["running"], False,
                         "a public key started a training run")

    def test_no_key_routes(self):
        for path in ("/livez", "/readyz", "/v1/openapi.json"):
            with self.subTest(path=path):
                r = self.srv.get(path)
                self.assertStatus(r, 200)
                self.assertCommonHeaders(r)

    # -- 404, 405 --

    def test_404(self):
        for method, path in (("GET", "/nope"), ("GET", "/v1"), ("GET", "/v1/"),
                             ("POST", "/demo"), ("GET", "/web/../web/style.css"),
                             ("GET", "/widget/other.js"),
                             ("POST", "/v1/nope"), ("GET", "/v1/decide/extra"),
                             ("GET", "/livez/x"), ("GET", "/v1/openapi.yaml"),
                             ("GET", "/%2e%2e/etc/passwd"), ("DELETE", "/v0/decide")):
            with self.subTest(route=f"{method} {path}"):
                r = self.srv.request(method, path, key=self.sk)
                self.assertError(r, 404)

    def test_405_allow_equals_the_spec(self):
        """The router and docs/openapi.json agree: every documented method of
        a path is routed (not 404/405), every other one is 405 with an Allow
        that lists the documented methods."""
        for path, methods in spec_routes().items():
            for m in METHODS:
                with self.subTest(route=f"{m} {path}"):
                    if m in methods:
                        # the public key: routed, but never starts anything
                        r = self.srv.request(m, path, {} if m in ("POST", "PUT") else None,
                                             key=self.pk)
                        self.assertNotIn(r.status, (404, 405), r)
                    else:
                        r = self.srv.request(m, path, key=self.sk)
                        self.assertError(r, 405)
                        allow = allow_set(r)
                        self.assertTrue(methods <= allow, f"Allow {allow} lacks {methods}")
                        self.assertNotIn(m, allow)
                        self.assertTrue(allow <= methods | {"OPTIONS", "HEAD"},
                                        f"Allow {allow} has undocumented methods")

    # -- CORS --

    def test_cors_allowed_origin(self):
        for origin in (ALLOWED, ALLOWED_2):
            with self.subTest(origin=origin):
                r = self.srv.post("/v1/decide", decide_body(), key=self.pk,
                                  headers={"Origin": origin})
                self.assertStatus(r, 200)
                self.assertEqual(r.header("Access-Control-Allow-Origin"), origin)
                self.assertIn("origin", (r.header("Vary") or "").lower())
                self.assertIsNone(r.header("Access-Control-Allow-Credentials"))
        r = self.srv.post("/v1/events", {"events": [event("cors-1")]}, key=self.pk,
                          headers={"Origin": ALLOWED})
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), ALLOWED)
        self.assertIn("origin", (r.header("Vary") or "").lower())

    def test_cors_denied_origin(self):
        n = count(self.db, "events")
        for origin in DENIED:
            with self.subTest(origin=origin):
                r = self.srv.post("/v1/decide", decide_body(), key=self.pk,
                                  headers={"Origin": origin})
                self.assertError(r, 403, "permission_error")
                self.assertIsNone(r.header("Access-Control-Allow-Origin"))
                r = self.srv.post("/v1/events", {"events": [event("cors-denied")]},
                                  key=self.pk, headers={"Origin": origin})
                self.assertError(r, 403, "permission_error")
                self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        self.assertEqual(count(self.db, "events"), n)
        # no Origin (a server-side caller): no CORS headers, served
        r = self.srv.post("/v1/decide", decide_body(), key=self.pk)
        self.assertStatus(r, 200)
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def preflight(self, path, origin, method="POST"):
        return self.srv.request("OPTIONS", path, headers={
            "Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type, authorization"})

    def test_cors_preflight(self):
        for path in ("/v1/decide", "/v1/events"):
            with self.subTest(path=path):
                r = self.preflight(path, ALLOWED)  # no key: browsers send none
                self.assertStatus(r, 204)
                self.assertEqual(r.body, b"")
                self.assertEqual(r.header("Access-Control-Allow-Origin"), ALLOWED)
                self.assertEqual(r.header("Access-Control-Allow-Methods"), "GET, POST")
                self.assertEqual(r.header("Access-Control-Allow-Headers"),
                                 "Content-Type, Authorization, Idempotency-Key")
                self.assertEqual(r.header("Access-Control-Max-Age"), "600")
                self.assertIn("origin", (r.header("Vary") or "").lower())
                self.assertIsNone(r.header("Access-Control-Allow-Credentials"))
                for origin in DENIED[:2]:
                    r = self.preflight(path, origin)
                    self.assertError(r, 403, "permission_error")
                    self.assertIsNone(r.header("Access-Control-Allow-Origin"))

    def test_cors_public_key_origins(self):
        """A public key made with --origin is locked to its origins, and its
        origins are allowed by CORS (preflight included)."""
        p = cli("keys", "create", "--kind", "public", "--origin", LOCKED,
                "--db", self.db)
        key = p.stdout.splitlines()[-1]
        r = self.srv.post("/v1/decide", decide_body(), key=key, headers={"Origin": LOCKED})
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), LOCKED)
        # neither its origins nor the server's (--cors-origin): refused
        r = self.srv.post("/v1/decide", decide_body(), key=key,
                          headers={"Origin": "https://evil.example"})
        self.assertError(r, 403, "permission_error")
        self.assertIsNone(r.header("Access-Control-Allow-Origin"))
        deadline = time.monotonic() + 10  # the server may cache key origins a while
        while True:
            r = self.preflight("/v1/decide", LOCKED)
            if r.header("Access-Control-Allow-Origin") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertStatus(r, 204)
        self.assertEqual(r.header("Access-Control-Allow-Origin"), LOCKED)

    def test_no_cors_on_other_routes(self):
        for method, path, key in (("GET", "/v1/model", self.sk), ("GET", "/metrics", self.sk),
                                  ("GET", "/livez", None), ("GET", "/v1/openapi.json", None)):
            with self.subTest(route=f"{method} {path}"):
                r = self.srv.request(method, path, key=key, headers={"Origin": ALLOWED})
                self.assertIsNone(r.header("Access-Control-Allow-Origin"), path)
                r = self.preflight(path, ALLOWED, method="GET")
                self.assertIsNone(r.header("Access-Control-Allow-Origin"), path)
                self.assertNotEqual(r.status, 204, f"preflight of {path} answered 204")


class BodyLimitTest(ServerTest):
    LIMIT = 4096
    SERVER_OPTS = {"max_body": LIMIT}

    def big_decide(self, n_lines):
        return decide_body([f"SKU-{i:06d}" for i in range(n_lines)])

    def test_413_over_the_limit(self):
        small = json.dumps(self.big_decide(60)).encode()
        big = json.dumps(self.big_decide(200)).encode()
        self.assertLess(len(small), self.LIMIT)
        self.assertGreater(len(big), self.LIMIT)
        r = self.srv.post("/v1/decide", small, key=self.pk)
        self.assertStatus(r, 200)
        r = self.srv.post("/v1/decide", big, key=self.pk, fresh=True)
        self.assertError(r, 413)
        n = count(self.db, "events")
        evs = json.dumps({"events": [event(f"big-{i}") for i in range(40)]}).encode()
        self.assertGreater(len(evs), self.LIMIT)
        r = self.srv.post("/v1/events", evs, key=self.pk, fresh=True)
        self.assertError(r, 413)
        self.assertEqual(count(self.db, "events"), n)
        # the server goes on serving
        r = self.srv.post("/v1/decide", small, key=self.pk, fresh=True)
        self.assertStatus(r, 200)

    def test_413_chunked_body(self):
        """No Content-Length: the limit holds on the bytes actually read."""
        big = json.dumps(self.big_decide(400)).encode()
        conn = http.client.HTTPConnection(HOST, self.srv.port, timeout=30)
        try:
            chunks = (big[i:i + 1000] for i in range(0, len(big), 1000))
            conn.request("POST", "/v1/decide", body=chunks, encode_chunked=True,
                         headers={"Content-Type": "application/json",
                                  "Authorization": f"Bearer {self.pk}",
                                  "Transfer-Encoding": "chunked"})
            r = conn.getresponse()
            body = r.read()
            self.assertEqual(r.status, 413, body[:300])
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us mid-body: refused, which is what counts
        finally:
            conn.close()
        r = self.srv.get("/livez", fresh=True)
        self.assertStatus(r, 200)


class RateLimitTest(ServerTest):
    SERVER_OPTS = {"rate": 1, "burst": 4}

    def test_429_per_key_with_retry_after(self):
        statuses = []
        limited = None
        for i in range(60):  # 1/s after a burst of 4: a slow machine still runs dry
            r = self.srv.post("/v1/decide", decide_body(session=f"rl-{i}"), key=self.pk)
            statuses.append(r.status)
            if r.status == 429:
                limited = r
                break
        self.assertEqual(statuses[:3], [200] * 3, statuses)
        self.assertIsNotNone(limited, f"never rate limited: {statuses}")
        self.assertEqual(set(statuses), {200, 429}, statuses)
        self.assertError(limited, 429, "rate_limit_error")
        ra = limited.header("Retry-After")
        self.assertIsNotNone(ra, "429 without Retry-After")
        self.assertRegex(ra, r"^\d+$")
        self.assertLessEqual(int(ra), 60)
        # per key: the secret key has its own bucket
        r = self.srv.post("/v1/decide", decide_body(), key=self.sk)
        self.assertStatus(r, 200)
        # and the public key gets tokens back after Retry-After
        time.sleep(max(int(ra), 1) + 0.2)
        r = self.srv.post("/v1/decide", decide_body(), key=self.pk)
        self.assertStatus(r, 200)


class IpRateLimitTest(ServerTest):
    SERVER_OPTS = {"ip_rate": 1, "ip_burst": 3}

    def test_429_per_ip(self):
        keys = [self.pk, self.sk, self.store.create_key("public")]
        statuses = []
        limited = None
        for i in range(60):  # three keys: the key buckets never run dry
            r = self.srv.post("/v1/decide", decide_body(session=f"ip-{i}"), key=keys[i % 3])
            statuses.append(r.status)
            if r.status == 429:
                limited = r
                break
        self.assertIsNotNone(limited, f"never rate limited: {statuses}")
        self.assertEqual(set(statuses), {200, 429}, statuses)
        self.assertError(limited, 429, "rate_limit_error")
        self.assertRegex(limited.header("Retry-After") or "", r"^\d+$")
        # health checks are not limited
        self.assertStatus(self.srv.get("/livez"), 200)


if __name__ == "__main__":
    unittest.main()
