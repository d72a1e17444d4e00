"""The decision log under pressure: with a queue of two decisions and eight
clients deciding at once, every decision is still logged (a request waits
for room rather than losing its decision), none is counted as dropped, and
each logged row is the one its answer named."""
import time
import unittest

from harness import ServerTest, count, decide_body, run_threads, sql

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
        deadline = time.monotonic() + 30
        while (count(self.db, "decisions", "session_id LIKE 'dl-%'") < want
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.assertEqual(count(self.db, "decisions", "session_id LIKE 'dl-%'"), want)
        self.assertEqual(self.metric("cartwise_decision_log_dropped_total"), 0)
        # the row of each answer, with its own session
        for i in (0, CLIENTS - 1):
            for j in (0, EACH - 1):
                self.assertEqual(sql(self.db, "SELECT session_id FROM decisions WHERE "
                                              f"id = '{ids[i][j]}'"), f"dl-{i}-{j}")


if __name__ == "__main__":
    unittest.main()
