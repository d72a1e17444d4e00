"""GET /v1/reports/kpis and GET /v1/reports/experiment: secret key only,
the same JSON as `cartwise report kpis --json` / `cartwise report experiment
--json` on the same store, 422 for bad query parameters, 404 without an
experiment configured (the CLI fails with "no experiment configured")."""
import json
import os
import tempfile
import unittest

from harness import ServerTest, cli

KPI_KEYS = ("aov", "profit_per_order", "profit_aov_ratio", "units_per_order",
            "return_rate", "repeat_rate", "retention_after_high_value", "funnel",
            "assumptions")

EXPERIMENT = {"id": "xsell-1", "salt": "pepper", "unit": "customer",
              "arms": [{"name": "holdout", "kind": "holdout", "share_bp": 5000},
                       {"name": "profit", "kind": "profit", "share": 0.5}]}


class ReportsTest(ServerTest):
    SERVER_OPTS = {"rate": 0, "ip_rate": 0}

    def kpis(self, query=""):
        return self.srv.get("/v1/reports/kpis" + query, key=self.sk)

    def test_1_auth(self):
        for path in ("/v1/reports/kpis", "/v1/reports/experiment"):
            self.assertError(self.srv.get(path), 401)
            self.assertError(self.srv.get(path, key=self.pk), 403)
            self.assertError(self.srv.post(path, {}, key=self.sk), 405)

    def test_2_kpis_keys_and_cli_equal(self):
        r = self.kpis()
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        d = r.json()
        for k in KPI_KEYS:
            self.assertIn(k, d)
        self.assertEqual(sorted(d["retention_after_high_value"]), ["30", "60", "90"])
        self.assertGreater(d["orders"], 0)
        self.assertEqual(d, json.loads(cli("report", "kpis", "--json", "--db", self.db).stdout))

    def test_3_kpis_from_to(self):
        q = "?from=2010-12-02&to=2010-12-03"
        r = self.kpis(q)
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), json.loads(cli(
            "report", "kpis", "--json", "--from", "2010-12-02", "--to", "2010-12-03",
            "--db", self.db).stdout))
        self.assertLessEqual(r.json()["orders"], self.kpis().json()["orders"])
        self.assertError(self.kpis("?from=yesterday"), 422, field="from", code="invalid_value")
        self.assertError(self.kpis("?to=2011-13-45x"), 422, field="to")
        self.assertError(self.kpis("?from=2011-01-02&to=2011-01-01"), 422, field="from")

    def test_4_experiment(self):
        path = "/v1/reports/experiment"
        # none configured: the CLI fails, the API answers 404
        self.assertEqual(cli("report", "experiment", "--db", self.db, check=False).returncode, 1)
        self.assertError(self.srv.get(path, key=self.sk), 404, code="not_found")
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "exp.json")
            with open(f, "w") as fh:
                json.dump(EXPERIMENT, fh)
            cli("experiment", "set", f, "--db", self.db)
        r = self.srv.get(path, key=self.sk)
        self.assertStatus(r, 200)
        d = r.json()
        for k in ("arms", "effects", "srm_p_value"):
            self.assertIn(k, d)
        self.assertEqual([a["name"] for a in d["arms"]], ["holdout", "profit"])
        self.assertEqual(d["experiment"]["id"], "xsell-1")
        self.assertEqual(d, json.loads(cli("report", "experiment", "--json",
                                           "--db", self.db).stdout))
        r = self.srv.get(path + "?alpha=0.1", key=self.sk)
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["alpha"], 0.1)
        self.assertEqual(r.json(), json.loads(cli("report", "experiment", "--json", "--alpha",
                                                  "0.1", "--db", self.db).stdout))
        for bad in ("0", "0.5", "x", ""):
            self.assertError(self.srv.get(path + "?alpha=" + bad, key=self.sk), 422,
                             field="alpha")


if __name__ == "__main__":
    unittest.main()
