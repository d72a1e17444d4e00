"""The daily discount budget is the store's: a server leases it from the
store in chunks (table budget_leases), so a server restarted on the same
store cannot reserve the day's budget again, and /metrics counts what was
leased and reserved."""
import unittest

from harness import ServerTest, decide_body, sql
from test_health_metrics import parse_prometheus

SKUS = ("85123A", "71053", "22632")


class BudgetTest(ServerTest):
    SERVER_OPTS = {"rate": 0, "ip_rate": 0}
    BUDGET = 400

    def decide(self, session):
        r = self.srv.post("/v1/decide", decide_body(skus=SKUS, session=session),
                          key=self.pk)
        self.assertStatus(r, 200)
        return r.json()["incentives"]["discount"]

    def metrics(self):
        r = self.srv.get("/metrics", key=self.sk)
        self.assertStatus(r, 200)
        samples, _ = parse_prometheus(r.body.decode())
        return {name: v for (name, _), v in samples.items()
                if name.startswith("cartwise_discount_budget_")}

    def offers(self, prefix, n):
        """Amounts of the discounts offered to n new sessions."""
        given = []
        for i in range(n):
            d = self.decide(f"{prefix}-{i}")
            if d is not None:
                self.assertFalse(d["sticky"])
                given.append(d["amount"]["amount"])
        return given

    def leased_in_store(self):
        v = sql(self.db, "SELECT coalesce(sum(leased), 0) FROM budget_leases")
        return int(v)

    def test_budget_holds_across_a_restart(self):
        currency = self.srv.post("/v1/decide", decide_body(session="cur"),
                                 key=self.pk).json()["cart_value"]["currency"]
        cfg = {"currency": currency,
               "discount": {"enabled": True, "daily_budget": self.BUDGET,
                            "pacing": "none", "propensity_threshold": 0.1,
                            "prior_abandon_rate": 0.95, "prior_elasticity": 0.3,
                            "exploration_share": 0, "margin_floor": 0.05,
                            "per_customer_max": 0}}
        r = self.srv.put("/v1/config", cfg, key=self.sk)
        self.assertStatus(r, 200)
        self.assertEqual(self.leased_in_store(), 0)

        # 60 sessions want far more than the budget: it runs out
        first = self.offers("run1", 60)
        self.assertGreater(len(first), 1)
        self.assertLess(len(first), 60)
        self.assertLessEqual(sum(first), self.BUDGET)
        m = self.metrics()
        leased = self.leased_in_store()
        # what the store leased is what this server was granted, and it
        # reserved no more than that
        self.assertEqual(m["cartwise_discount_budget_leased_minor_total"], leased)
        self.assertEqual(m["cartwise_discount_budget_held_minor"], leased)
        self.assertEqual(m["cartwise_discount_budget_reserved_minor"], sum(first))
        self.assertLessEqual(sum(first), leased)
        self.assertLessEqual(leased, self.BUDGET)
        self.assertEqual(m["cartwise_discount_budget_lease_failures_total"], 0)
        # in chunks of budget/20 at least, not a store call per offer
        self.assertGreaterEqual(m["cartwise_discount_budget_leases_total"], 1)
        self.assertLessEqual(m["cartwise_discount_budget_leases_total"], 21)
        # a restart forgets the server's memory, not the store's
        self.srv.stop()
        self.srv.start()
        m = self.metrics()
        self.assertEqual(m["cartwise_discount_budget_reserved_minor"], 0)
        second = self.offers("run2", 60)
        self.assertLessEqual(sum(first) + sum(second), self.BUDGET,
                             (first, second))
        self.assertLessEqual(self.leased_in_store(), self.BUDGET)
        m = self.metrics()
        self.assertEqual(m["cartwise_discount_budget_leased_minor_total"],
                         self.leased_in_store() - leased)
        self.assertEqual(m["cartwise_discount_budget_reserved_minor"], sum(second))


if __name__ == "__main__":
    unittest.main()
