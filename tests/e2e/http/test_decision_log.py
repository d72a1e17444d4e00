"""The decision log: under pressure (a queue of two decisions, eight clients
deciding at once) every decision is still logged (a request waits for room
rather than losing its decision), none is counted as dropped, and each
logged row is the one its answer named; the logged request is the
decision's input in a compact normal form."""
import json
import unittest

from harness import ServerTest, count, decide_body, eventually, run_threads, sql

CLIENTS = 8
EACH = 40


class DecisionLogPressureTest(ServerTest):
    SERVER_OPTS = {"extra": ("--decision-queue", "2")}

    def metric(self, name):
        text = self.srv.get("/metrics", key=self.sk).body.decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail(f"no {name} in /metrics")

    def test_full_queue_waits_and_loses_nothing(self):
        ids = [[] for _ in range(CLIENTS)]

        def client(i):
            for j in range(EACH):
                r = self.srv.post("/v1/decide", decide_body(session=f"dl-{i}-{j}"),
                                  key=self.pk, fresh=True)
                self.assertStatus(r, 200)
                ids[i].append(r.json()["decision_id"])

        self.assertEqual(run_threads(CLIENTS, client), [])
        want = CLIENTS * EACH
        eventually(lambda: count(self.db, "decisions", "session_id LIKE 'dl-%'") >= want, 30)
        self.assertEqual(count(self.db, "decisions", "session_id LIKE 'dl-%'"), want)
        self.assertEqual(self.metric("cartwise_decision_log_dropped_total"), 0)
        # a 2-decision queue with 8 clients fills: requests did wait for room
        self.assertGreater(self.metric("cartwise_decision_log_waits_total"), 0)
        # the row of each answer, with its own session
        for i in (0, CLIENTS - 1):
            for j in (0, EACH - 1):
                self.assertEqual(sql(self.db, "SELECT session_id FROM decisions WHERE "
                                              f"id = '{ids[i][j]}'"), f"dl-{i}-{j}")


class DecisionLogRecordTest(ServerTest):
    """The logged request is the decision's input in normal form."""

    def logged(self, decision_id):
        v = eventually(lambda: sql(self.db, "SELECT request FROM decisions WHERE "
                                            f"id = '{decision_id}'"))
        if not v:
            self.fail(f"decision {decision_id} not logged")
        return json.loads(v)

    def test_request_normal_form(self):
        body = {"session_id": "dl-req", "customer_id": 17850, "placement": "checkout", "k": 2,
                "cart": [{"sku": "85123A", "qty": 2, "price": 255},
                         {"sku": "71053", "variant": "71053", "qty": 1},
                         {"sku": "22632"}],
                "coupon": 100, "context": {"cart_views": 3, "device": "mobile"}}
        r = self.srv.post("/v1/decide", body, key=self.pk)
        self.assertStatus(r, 200)
        self.assertEqual(self.logged(r.json()["decision_id"]), {
            "k": 2,
            "cart": [["85123A", 2, 255], ["71053", 1, None, "71053"], ["22632", 1]],
            "coupon": 100,
            "context": {"cart_views": 3, "seconds_on_cart": None, "mobile": True}})
        row = sql(self.db, "SELECT session_id || '|' || customer_id || '|' || placement "
                           f"FROM decisions WHERE id = '{r.json()['decision_id']}'")
        self.assertEqual(row, "dl-req|17850|checkout")
        # the plain form: no coupon, no context
        r = self.srv.post("/v1/decide", decide_body(session="dl-req2"), key=self.pk)
        self.assertEqual(self.logged(r.json()["decision_id"]),
                         {"k": 3, "cart": [["85123A", 1], ["71053", 1]]})


if __name__ == "__main__":
    unittest.main()
