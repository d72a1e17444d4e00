"""POST /v1/train while clients keep deciding: zero failed requests, the
model version goes up and every client sees it go up, never down; 409 while
a run is going on."""
import threading
import time
import unittest

from harness import SKUS, ServerTest, decide_body, sql


class ModelSwapTest(ServerTest):
    # the clients go as fast as they can: rate limits are not tested here
    SERVER_OPTS = {"rate": 0, "ip_rate": 0}

    def model(self):
        r = self.srv.get("/v1/model", key=self.sk)
        self.assertStatus(r, 200)
        return r.json()

    def wait_trained(self, above, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.model()
            if not m["training"]["running"] and (m["version"] or 0) > above:
                return m
            if not m["training"]["running"] and m["training"]["last_error"]:
                self.fail(f"training failed: {m}")
            time.sleep(0.1)
        self.fail(f"no new model after {timeout}s: {self.model()}")

    def test_swap_under_load(self):
        v0 = self.model()["version"]
        self.assertEqual(v0, 1)
        keys = [self.store.create_key("public") for _ in range(2)]
        stop = threading.Event()
        lock = threading.Lock()
        results = {"ok": 0, "fail": [], "versions": set(), "backwards": []}

        def client(i):
            conn = self.srv.connect()
            last = 0
            j = 0
            try:
                while not stop.is_set():
                    skus = (SKUS[(i + j) % len(SKUS)], SKUS[(i + 3 * j + 1) % len(SKUS)])
                    j += 1
                    try:
                        r = self.srv.request("POST", "/v1/decide",
                                             decide_body(skus, session=f"sw{i}-{j}"),
                                             key=keys[i % 2], conn=conn)
                    except OSError as e:
                        with lock:
                            results["fail"].append(f"client {i}: {e!r}")
                        conn.close()
                        conn = self.srv.connect()
                        continue
                    with lock:
                        if r.status != 200:
                            results["fail"].append((r.status, r.body[:200]))
                            continue
                        d = r.json()
                        v = d["model_version"]
                        results["ok"] += 1
                        results["versions"].add(v)
                        if v < last:
                            results["backwards"].append((i, last, v))
                    last = v
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            r = self.srv.post("/v1/train", key=self.sk)
            self.assertStatus(r, 202)
            self.assertCommonHeaders(r)
            self.assertEqual(r.json().get("status"), "started", r)
            # one run at a time: 409 while it runs (the run is marked
            # running before the 202; only a run already over allows another)
            before = self.model()
            r2 = self.srv.post("/v1/train", key=self.sk)
            if before["training"]["running"] or before["version"] == v0:
                self.assertError(r2, 409, code="training_in_progress")
            else:
                self.assertIn(r2.status, (202, 409), r2)
            m = self.wait_trained(v0)
            v1 = m["version"]
            time.sleep(0.5)  # requests after the swap
        finally:
            stop.set()
            for t in threads:
                t.join()
        if r2.status == 202:  # a second run was started: it ends too
            self.assertGreater(self.wait_trained(v1)["version"], v1)
        self.assertEqual(results["fail"], [], f"failed requests ({results['ok']} ok)")
        self.assertEqual(results["backwards"], [], "a client saw the model version go down")
        self.assertGreater(results["ok"], 50)
        self.assertIn(v0, results["versions"])
        self.assertIn(v1, results["versions"], "no request saw the new model")
        self.assertGreater(v1, v0)
        self.assertIsNone(m["training"]["last_error"])
        # the new version is in the store and answers
        self.assertEqual(sql(self.db, "SELECT max(version) FROM model_versions"),
                         str(self.model()["version"]))
        r = self.srv.post("/v1/decide", decide_body(), key=self.pk)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["model_version"], self.model()["version"])
        r = self.srv.get("/readyz")
        self.assertStatus(r, 200)

    def test_train_keys(self):
        self.assertError(self.srv.post("/v1/train", key=self.pk), 403, "permission_error")
        self.assertError(self.srv.post("/v1/train"), 401, "authentication_error")
        r = self.srv.get("/v1/train", key=self.sk)
        self.assertError(r, 405)
        self.assertIn("POST", r.header("Allow") or "")


if __name__ == "__main__":
    unittest.main()
