#!/usr/bin/env bash
# `cartwise report kpis`, `cartwise experiment set|get` and `cartwise report
# experiment` on the repository fixtures. KPI figures are checked against
# SQL over the same store (an independent computation); the experiment
# report against a decision log and purchase events written straight into
# the store, whose per-arm figures are computed here in Python.
. "$(dirname "$0")/lib.sh"
cd "$T"
DB=$T/r.db

expect_exit 0 cw --db "$DB" import --format uci "$CW_TEST_DATA/import/uci.csv"
expect_exit 0 cw --db "$DB" import --format lines "$CW_TEST_DATA/lines_small.csv"

close() { # close A B: |A - B| <= 1e-6 (1 + |B|)
    python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 1e-6 * (1 + abs(b)))' "$1" "$2" ||
        fail "${3:-value}: $1 is not $2"
}

# ---- report kpis ----
expect_exit 0 cw --db "$DB" report kpis --json
for k in aov profit_per_order profit_aov_ratio units_per_order return_rate \
    repeat_rate retention_after_high_value funnel assumptions; do
    assert_eq "$(json "'$k' in d")" true "key $k"
done
assert_eq "$(json 'sorted(d["retention_after_high_value"])')" '["30", "60", "90"]'
assert_eq "$(json 'd["orders"]')" "$(sql "$DB" 'SELECT count(*) FROM orders')" orders
close "$(json 'd["aov"]')" \
    "$(sql "$DB" 'SELECT sum(qty * unit_price) / 100.0 / count(DISTINCT order_id) FROM order_lines')" aov
close "$(json 'd["units_per_order"]')" \
    "$(sql "$DB" 'SELECT sum(qty) * 1.0 / count(DISTINCT order_id) FROM order_lines')" units_per_order
# no costs: profit is the default 30% margin, and the report says so
close "$(json 'd["profit_aov_ratio"]')" 0.3 profit_aov_ratio
close "$(json 'd["profit_per_order"]')" "$(json '0.3 * d["aov"]')" profit_per_order
assert_contains "$(json 'd["assumptions"][0]')" "margin rate 30% assumed where costs are unknown (100.0% of revenue)"
close "$(json 'd["return_rate"]')" \
    "$(sql "$DB" 'SELECT (SELECT sum(qty) FROM returns) * 1.0 / (SELECT sum(qty) FROM order_lines)')" return_rate
close "$(json 'd["repeat_rate"]')" \
    "$(sql "$DB" 'SELECT avg(n >= 2) FROM (SELECT count(*) AS n FROM orders WHERE customer_id IS NOT NULL GROUP BY customer_id)')" repeat_rate
assert_eq "$(json 'd["funnel"]')" null "no events: no funnel"
assert_contains "$(json '" | ".join(d["not_computed"])')" "funnel (cart drop-off): no storefront events"
assert_contains "$(json '" | ".join(d["not_computed"])')" "attach and acceptance rates: no decisions logged"
assert_eq "$(json 'd["currency"]')" GBP
# five days of data: nobody is followed for 30 days yet, and it says so
assert_eq "$(json 'd["retention_after_high_value"]["30"]["high_value"]')" null
assert_eq "$(json 'd["retention_after_high_value"]["30"]["rest_orders"]')" 0
expect_exit 0 cw --db "$DB" report kpis --json --margin-rate 0.4
close "$(json 'd["profit_aov_ratio"]')" 0.4 "--margin-rate"
# the period: --to takes the whole day
expect_exit 0 cw --db "$DB" report kpis --json --from 2010-12-02 --to 2010-12-03
assert_eq "$(json 'd["orders"]')" \
    "$(sql "$DB" "SELECT count(*) FROM orders WHERE ts >= '2010-12-02' AND ts < '2010-12-04'")" "orders in the period"
expect_exit 0 cw --db "$DB" report kpis
assert_contains "$OUT" "AOV "
assert_contains "$OUT" "not computed: funnel"

# events and decisions make the funnel and add-on figures appear
sql "$DB" "INSERT INTO events (id, session_id, ts, type, sku, decision_id, placement, reason, value, profit) VALUES
 ('e1','s1','2010-12-02 10:00:00','view','85123A',NULL,NULL,NULL,NULL,NULL),
 ('e2','s1','2010-12-02 10:01:00','add_to_cart','71053','d1','cart','pairs_with',NULL,NULL),
 ('e3','s1','2010-12-02 10:02:00','checkout_start',NULL,NULL,NULL,NULL,NULL,NULL),
 ('e4','s1','2010-12-02 10:03:00','purchase',NULL,NULL,NULL,NULL,2500,NULL),
 ('e5','s2','2010-12-02 11:00:00','view','85123A',NULL,NULL,NULL,NULL,NULL),
 ('e6','s2','2010-12-02 11:01:00','offer_accept',NULL,NULL,NULL,NULL,300,NULL),
 ('e7','s2','2010-12-02 11:02:00','purchase',NULL,NULL,NULL,NULL,4000,1500);
 INSERT INTO decisions (id, session_id, arm, placement, ts, shown) VALUES
 ('d1','s1','none','cart','2010-12-02 10:00:30','[{\"sku\":\"71053\",\"p\":0.2,\"propensity\":1,\"reason\":\"pairs_with\"},{\"sku\":\"22752\",\"p\":0.1,\"propensity\":1,\"reason\":\"popular\"}]');"
expect_exit 0 cw --db "$DB" report kpis --json
assert_eq "$(json '[s["sessions"] for s in d["funnel"]["steps"]]')" '[2, 1, 0, 1, 2]' funnel
assert_eq "$(json '[(p["name"], p["shown"], p["accepted"]) for p in d["addons"]["placements"]]')" '[["cart", 2, 1]]'
close "$(json 'd["addons"]["placements"][0]["attach_rate"]')" 1 attach
assert_eq "$(json '[(r["name"], r["accepted"]) for r in d["addons"]["reasons"]]')" '[["pairs_with", 1], ["popular", 0]]'
close "$(json 'd["discount"]["cost"]')" 3 "discount cost"
close "$(json 'd["discount"]["roi"]')" "$(python3 -c 'print((1500 - 300) / 300)')" "discount roi"

# usage
expect_exit 2 cw --db "$DB" report
assert_contains "$ERR" "missing report"
expect_exit 2 cw --db "$DB" report nope
expect_exit 2 cw --db "$DB" report kpis --from yesterday
assert_contains "$ERR" "--from wants a date"
expect_exit 2 cw --db "$DB" report kpis --alpha 0.1
expect_exit 2 cw --db "$DB" report kpis --from 2011-01-02 --to 2011-01-01
expect_exit 2 cw --db "$DB" report experiment --from 2011-01-01

# ---- experiment set / get ----
expect_exit 1 cw --db "$DB" experiment get
assert_contains "$ERR" "no experiment configured"
expect_exit 1 cw --db "$DB" report experiment
assert_contains "$ERR" "no experiment configured"
cat >bad.json <<'EOF'
{"id": "x1", "salt": "s", "arms": [{"name": "holdout", "kind": "holdout", "share_bp": 1000},
                                   {"name": "profit", "kind": "profit", "share_bp": 8000}]}
EOF
expect_exit 1 cw --db "$DB" experiment set bad.json
assert_contains "$ERR" "bad.json: arm shares sum to 9000 basis points, not 10000"
echo '{"id": "x1", "salt": "s", "arms": [], "colour": 1}' >bad2.json
expect_exit 1 cw --db "$DB" experiment set bad2.json
assert_contains "$ERR" "unknown key 'colour'"
echo '{"id": "x1", "salt": "s", "arms": [{"name": "a", "kind": "magic", "share": 1}, {"name": "b", "kind": "profit", "share": 0}]}' >bad3.json
expect_exit 1 cw --db "$DB" experiment set bad3.json
assert_contains "$ERR" "arms[0].kind: 'magic' is not holdout, profit or accuracy"
expect_exit 2 cw --db "$DB" experiment
expect_exit 2 cw --db "$DB" experiment set
expect_exit 2 cw --db "$DB" experiment frob
cat >exp.json <<'EOF'
{"id": "xsell-1", "salt": "pepper", "unit": "customer",
 "arms": [{"name": "holdout", "kind": "holdout", "share_bp": 5000},
          {"name": "profit", "kind": "profit", "share": 0.5}]}
EOF
expect_exit 0 cw --db "$DB" experiment set exp.json
assert_contains "$OUT" "stored experiment xsell-1"
expect_exit 0 cw --db "$DB" experiment get --json
assert_eq "$OUT" '{"id":"xsell-1","salt":"pepper","unit":"customer","start":"","stop":"","arms":[{"name":"holdout","kind":"holdout","share_bp":5000},{"name":"profit","kind":"profit","share_bp":5000}]}'
assert_eq "$(sql "$DB" "SELECT value FROM meta WHERE key = 'experiment'")" "$OUT" "stored in meta"
expect_exit 0 cw --db "$DB" experiment set - <exp.json
sed 's/pepper/salt2/' exp.json >exp2.json
expect_exit 0 cw --db "$DB" --json experiment set exp2.json
assert_eq "$(json 'd["reassigned"]')" true "a new salt reassigns"

# ---- report experiment ----
# 240 units: customers c0..c179 (one or two sessions each) and 60 guest
# sessions; arm by parity; a purchase in 3 of 4 units; a few purchases that
# must not count (before exposure, unexposed session, duplicate order).
python3 - >log.sql <<'PY'
import json
rows_d, rows_e, rows_o = [], [], []
units = {}
for i in range(240):
    arm = "holdout" if i % 2 == 0 else "profit"
    cust = f"c{i}" if i < 180 else None
    nsess = 2 if (i < 180 and i % 5 == 0) else 1
    for s in range(nsess):
        sid = f"s{i}_{s}"
        ts = f"2011-03-{1 + s:02d} 10:{i % 60:02d}:00"
        c = f"'{cust}'" if cust else "NULL"
        rows_d.append(f"('d{i}_{s}','{sid}',{c},'xsell-1','{arm}','cart','{ts}','[]')")
    buy = (i // 2) % 4 != 3
    value = (1000 if arm == "holdout" else 1300) + (i % 7) * 100
    u = units.setdefault(i, [arm, nsess, 0, 0.0, 0.0])
    if buy:
        rows_e.append(f"('p{i}','s{i}_0','2011-03-01 11:{i % 60:02d}:00','purchase','o{i}',{value},{value // 4})")
        u[2] += 1; u[3] += value / 100; u[4] += value // 4 / 100
    if cust and i % 3 == 0:  # spend before the experiment
        rows_o.append((f"pre{i}", cust, "2011-01-15 10:00:00", 500 + i))
# must not count
rows_e.append("('q1','s0_0','2011-03-01 09:00:00','purchase','q1',99900,100)")   # before
rows_e.append("('q2','nobody','2011-03-01 12:00:00','purchase','q2',99900,100)") # unexposed
rows_e.append("('q3','s2_0','2011-03-01 12:30:00','purchase','o2',99900,100)")   # duplicate order
print("INSERT INTO decisions (id, session_id, customer_id, experiment, arm, placement, ts, shown) VALUES")
print(",\n".join(rows_d) + ";")
print("INSERT INTO events (id, session_id, ts, type, order_id, value, profit) VALUES")
print(",\n".join(rows_e) + ";")
for oid, cust, ts, v in rows_o:
    print(f"INSERT INTO orders (id, customer_id, ts, created_at) VALUES ('{oid}','{cust}','{ts}','{ts}');")
    print(f"INSERT INTO order_lines (order_id, line_no, sku, qty, unit_price) VALUES ('{oid}',1,'X',1,{v});")
exp = {}
for arm in ("holdout", "profit"):
    us = [u for u in units.values() if u[0] == arm]
    o = sum(u[2] for u in us); r = sum(u[3] for u in us); p = sum(u[4] for u in us)
    s = sum(u[1] for u in us)
    exp[arm] = dict(units=len(us), sessions=s, orders=o, aov=r / o,
                    revenue_per_session=r / s, profit_per_session=p / s)
pre = {"holdout": 0.0, "profit": 0.0}
for oid, cust, ts, v in rows_o:
    pre["holdout" if int(cust[1:]) % 2 == 0 else "profit"] += v / 100
for arm in pre:
    exp[arm]["pre_spend"] = pre[arm]
open("expected.json", "w").write(json.dumps(exp))
PY
# restore the configuration the log was written under
expect_exit 0 cw --db "$DB" experiment set exp.json
sql "$DB" "$(cat log.sql)"
expect_exit 0 cw --db "$DB" report experiment --json
for arm in holdout profit; do
    for k in units sessions orders aov revenue_per_session profit_per_session pre_spend; do
        close "$(json "[a for a in d['arms'] if a['name'] == '$arm'][0]['$k']")" \
            "$(python3 -c "import json; print(json.load(open('expected.json'))['$arm']['$k'])")" "$arm $k"
    done
done
assert_eq "$(json 'all(set(["metric","estimate","ci_low","ci_high","p_value"]) <= set(e) for e in d["effects"])')" true "effect keys"
close "$(json '[e for e in d["effects"] if e["metric"] == "aov"][0]["estimate"]')" \
    "$(python3 -c "import json; e = json.load(open('expected.json')); print(e['profit']['aov'] - e['holdout']['aov'])")" "aov effect"
assert_eq "$(json '[e for e in d["effects"] if e["metric"] == "aov"][0]["ci_low"] > 0')" true "a +3.00 AOV effect is significant"
assert_eq "$(json '0 <= d["srm_p_value"] <= 1')" true
# unexposed: q2, and the two purchases of the KPI checks above (s1, s2)
assert_eq "$(json '[d["log"][k] for k in ("purchases", "purchases_before_exposure", "purchases_unexposed", "purchases_duplicate")]')" '[180, 1, 3, 1]'
assert_eq "$(json 'd["experiment"]["id"]')" xsell-1
expect_exit 0 cw --db "$DB" report experiment
assert_contains "$OUT" "experiment xsell-1: 240 units"
assert_contains "$OUT" "profit - holdout, aov:"

pass
