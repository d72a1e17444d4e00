"""GET /livez, /readyz (503 before a model exists), /metrics (Prometheus
text) and /v1/openapi.json over HTTP."""
import json
import re
import time
import unittest

from harness import OPENAPI, ServerTest, decide_body, event

# name{labels} value [timestamp]
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)( -?\d+)?$')


def parse_prometheus(text):
    """{(name, labels-string): value}; raises on a malformed line."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError(f"not Prometheus text format: {line!r}")
        samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return samples, types


def labels(s):
    return dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', s))


class HealthMetricsTest(ServerTest):

    def test_livez_readyz(self):
        r = self.srv.get("/livez")
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        r = self.srv.get("/readyz")
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        for path in ("/livez", "/readyz"):
            r = self.srv.post(path, {}, key=self.sk)
            self.assertError(r, 405)
            self.assertIn("GET", r.header("Allow") or "")

    def test_metrics(self):
        n = 7
        for i in range(n):
            r = self.srv.post("/v1/decide", decide_body(session=f"m-{i}"), key=self.pk)
            self.assertStatus(r, 200)
        r = self.srv.post("/v1/decide", "{", key=self.pk)
        self.assertStatus(r, 400)
        r = self.srv.post("/v1/events", {"events": [event(f"m-{i}") for i in range(3)]},
                          key=self.pk)
        self.assertStatus(r, 200)
        r = self.srv.get("/metrics", key=self.sk)
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        self.assertTrue(r.header("Content-Type", "").startswith("text/plain"),
                        r.header("Content-Type"))
        text = r.body.decode()
        samples, types = parse_prometheus(text)
        # a request counter with the decide route and status 200, >= n
        counters = [(name, lab, v) for (name, lab), v in samples.items()
                    if name.endswith("_total") and "/v1/decide" in lab]
        self.assertTrue(counters, "no request counter for /v1/decide:\n" + text[:3000])
        ok = [v for name, lab, v in counters if labels(lab).get("status", labels(lab).get("code")) == "200"]
        self.assertTrue(ok, "no /v1/decide counter with status 200:\n" + text[:3000])
        self.assertGreaterEqual(sum(ok), n)
        bad = [v for name, lab, v in counters
               if labels(lab).get("status", labels(lab).get("code")) == "400"]
        self.assertTrue(bad and sum(bad) >= 1, "no /v1/decide counter with status 400")
        for name, _, _ in counters:
            base = name[:-len("_total")]
            self.assertEqual(types.get(name, types.get(base)), "counter", name)
        # a latency histogram for the decide route
        buckets = [lab for (name, lab) in samples if name.endswith("_bucket")
                   and "/v1/decide" in lab]
        self.assertTrue(buckets, "no latency histogram for /v1/decide")
        self.assertTrue(any('le="+Inf"' in b for b in buckets))
        hist = {name[:-len("_bucket")] for (name, lab) in samples
                if name.endswith("_bucket") and "/v1/decide" in lab}
        self.assertTrue(any(types.get(h) == "histogram" for h in hist), hist)
        # decisions, model version, events ingested
        low = text.lower()
        self.assertTrue(any("decision" in name for name, _ in samples), "no decisions metric")
        mv = [v for (name, _), v in samples.items() if "model_version" in name]
        self.assertTrue(mv and max(mv) == 1, f"model version metric: {mv}")
        self.assertTrue(any("event" in name for name, _ in samples), "no events metric")
        self.assertNotIn(self.sk, low)
        # keys
        self.assertError(self.srv.get("/metrics", key=self.pk), 403, "permission_error")
        self.assertError(self.srv.get("/metrics"), 401, "authentication_error")

    def test_access_log(self):
        """One JSON line per request on stderr, with the request id and the
        traceparent's trace id; never the key."""
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        r = self.srv.post("/v1/decide", decide_body(), key=self.pk, headers={
            "X-Request-Id": "req-log-1",
            "traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        self.assertStatus(r, 200)
        deadline = time.monotonic() + 5
        line = None
        while line is None and time.monotonic() < deadline:
            for text in self.srv.stderr().splitlines():
                if "req-log-1" in text:
                    line = text
            time.sleep(0.05)
        self.assertIsNotNone(line, "no access-log line with the request id")
        d = json.loads(line)
        self.assertEqual(d.get("request_id"), "req-log-1", d)
        self.assertEqual(d.get("trace_id"), trace, d)
        self.assertEqual(d.get("status"), 200, d)
        self.assertEqual(d.get("method"), "POST", d)
        self.assertEqual(d.get("path"), "/v1/decide", d)
        err = self.srv.stderr()
        for text in err.splitlines():
            if text.strip():
                self.assertIsInstance(json.loads(text), dict, text)
        self.assertNotIn(self.pk, err)
        self.assertNotIn(self.sk, err)

    def test_openapi_served(self):
        r = self.srv.get("/v1/openapi.json")
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        self.assertTrue(r.header("Content-Type", "").startswith("application/json"))
        with open(OPENAPI) as f:
            self.assertEqual(r.json(), json.load(f),
                             "/v1/openapi.json differs from docs/openapi.json")

    def test_openapi_document(self):
        """docs/openapi.json is OpenAPI 3.1, every $ref resolves, every
        operation has a security requirement and responses, and every error
        response uses the Error schema."""
        with open(OPENAPI) as f:
            doc = json.load(f)
        self.assertTrue(doc["openapi"].startswith("3.1"))
        for k in ("info", "paths", "components"):
            self.assertIn(k, doc)
        schemes = doc["components"]["securitySchemes"]
        self.assertEqual(schemes["publicKey"]["scheme"], "bearer")
        self.assertEqual(schemes["secretKey"]["scheme"], "bearer")

        def resolve(ref):
            self.assertTrue(ref.startswith("#/"), ref)
            node = doc
            for part in ref[2:].split("/"):
                self.assertIn(part, node, f"dangling $ref {ref}")
                node = node[part]
            return node

        def walk(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "$ref":
                        resolve(v)
                    else:
                        walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(doc)
        n_ops = 0
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                n_ops += 1
                self.assertIn("security", op, f"{method} {path}")
                self.assertIn("responses", op, f"{method} {path}")
                for status, resp in op["responses"].items():
                    if status.startswith(("4", "5")):
                        resp = resolve(resp["$ref"]) if "$ref" in resp else resp
                        schema = resp["content"]["application/json"]["schema"]
                        self.assertEqual(schema, {"$ref": "#/components/schemas/Error"},
                                         f"{method} {path} {status}")
                for s in op["security"]:
                    for name in s:
                        self.assertIn(name, schemes)
        self.assertEqual(n_ops, 22)  # 15 API operations + 7 web files
        # the error responses of docs/api.md, each with the Error schema
        resp = doc["components"]["responses"]
        self.assertEqual(len(resp), 11, sorted(resp))
        for name, r in resp.items():
            self.assertEqual(r["content"]["application/json"]["schema"],
                             {"$ref": "#/components/schemas/Error"}, name)
        self.assertIn("Allow", resp["MethodNotAllowed"]["headers"])
        self.assertIn("Retry-After", resp["TooManyRequests"]["headers"])


class NotReadyTest(ServerTest):
    """A store with data but no model yet: 503 until POST /v1/train ends."""
    TRAIN = False

    def test_503_until_trained(self):
        r = self.srv.get("/livez")
        self.assertStatus(r, 200)
        r = self.srv.get("/readyz")
        self.assertError(r, 503, "api_error")
        r = self.srv.post("/v1/decide", decide_body(), key=self.pk)
        self.assertError(r, 503, "api_error")
        # events need no model
        r = self.srv.post("/v1/events", {"events": [event("nr-1")]}, key=self.pk)
        self.assertStatus(r, 200)
        m = self.srv.get("/v1/model", key=self.sk)
        self.assertStatus(m, 200)
        self.assertIsNone(m.json()["version"])
        self.assertIsNone(m.json()["choices"])
        self.assertEqual(m.json()["training"]["running"], False)
        r = self.srv.post("/v1/train", key=self.sk)
        self.assertStatus(r, 202)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            r = self.srv.get("/readyz")
            if r.status == 200:
                break
            self.assertError(r, 503, "api_error")
            time.sleep(0.1)
        self.assertStatus(r, 200)
        r = self.srv.post("/v1/decide", decide_body(), key=self.pk)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["model_version"], 1)
        m = self.srv.get("/v1/model", key=self.sk).json()
        self.assertEqual(m["version"], 1)
        # what training chose: the fixture's orders and what train printed
        ch = m["choices"]
        self.assertIsInstance(ch["reranker"], bool)
        self.assertGreaterEqual(ch["profit_weight"], 0)
        self.assertTrue(0 <= ch["line_order_mix"] <= 1, ch)
        self.assertEqual(ch["cart_order"], ch["line_order_mix"] >= 0.05, ch)


if __name__ == "__main__":
    unittest.main()
