#!/usr/bin/env bash
# `cartwise simulate` on the repository fixtures: the output contract (arms
# with name/units/sessions/orders/aov/revenue_per_session/profit_per_session,
# effects with metric/estimate/ci_low/ci_high/p_value, srm_p_value), one
# session per test basket (counted here independently from the file), the
# holdout seeing nothing, bit-for-bit reproducibility from the seed, the A/A
# and injected-lift modes, a configured experiment, and bad input.
. "$(dirname "$0")/lib.sh"
cd "$T"
LINES=$CW_TEST_DATA/lines_small.csv

# test baskets of a lines file by BENCHMARK.md 1 (qty > 0, 80/20 split)
test_baskets() {
    python3 - "$1" <<'PY'
import csv, sys
b = {}
for r in csv.DictReader(open(sys.argv[1], newline="")):
    try:
        q = float(r["qty"])
    except ValueError:
        continue
    if q > 0:
        b[r["basket_id"]] = min(b.get(r["basket_id"], r["ts"]), r["ts"])
print(len(b) - int(len(b) * 0.8))
PY
}

# the JSON in $OUT without the wall times, for comparing runs
stable() {
    json 'json.dumps({k: v for k, v in d.items() if k != "simulation"}) + json.dumps({k: v for k, v in d["simulation"].items() if not k.endswith("_s")})'
}

# ---- usage errors ----
expect_exit 2 cw simulate
assert_contains "$ERR" "missing --lines FILE"
expect_exit 2 cw simulate --lines "$LINES" --seed abc
assert_contains "$ERR" "--seed wants a non-negative integer"
expect_exit 2 cw simulate --lines "$LINES" --p-hit 2
assert_contains "$ERR" "--p-hit wants a probability in [0, 1], not '2'"
expect_exit 2 cw simulate --lines "$LINES" --lift -1
expect_exit 2 cw simulate --lines "$LINES" --replays 0
echo '{}' >exp.json
expect_exit 2 cw simulate --lines "$LINES" --aa --experiment exp.json
assert_contains "$ERR" "cannot be combined"
expect_exit 1 cw simulate --lines nope.csv
assert_contains "$ERR" "nope.csv"
expect_exit 1 cw simulate --lines "$LINES" --experiment exp.json
assert_contains "$ERR" "exp.json: id: missing"

# ---- the contract ----
expect_exit 0 cw simulate --lines "$LINES" --json --seed 7
want=$(test_baskets "$LINES")
assert_eq "$(json 'len(d["arms"])')" 2 "arms"
assert_eq "$(json '[a["name"] for a in d["arms"]]')" '["holdout", "profit"]'
assert_eq "$(json 'all(set(["name","units","sessions","orders","aov","revenue_per_session","profit_per_session"]) <= set(a) for a in d["arms"])')" true "arm keys"
assert_eq "$(json 'all(set(["metric","estimate","ci_low","ci_high","p_value"]) <= set(e) for e in d["effects"])')" true "effect keys"
assert_eq "$(json '"srm_p_value" in d')" true
assert_eq "$(json 'sorted(e["metric"] for e in d["effects"])')" \
    '["aov", "conversion", "profit_per_order", "profit_per_session", "revenue_per_session"]'
assert_eq "$(json 'int(sum(a["sessions"] for a in d["arms"]))')" "$want" "sessions = test baskets"
assert_eq "$(json 'd["simulation"]["test_baskets"]')" "$want"
assert_eq "$(json 'sum(a["units"] for a in d["arms"]) == d["simulation"]["units"]')" true
assert_eq "$(json 'd["simulation"]["arms"][0]["shown"]')" 0 "holdout shows nothing"
assert_eq "$(json 'd["simulation"]["arms"][1]["shown"] > 0')" true "profit arm shows add-ons"
assert_eq "$(json 'all(e["ci_low"] <= e["estimate"] <= e["ci_high"] and 0 <= e["p_value"] <= 1 for e in d["effects"] if e["estimate"] is not None)')" true
assert_eq "$(json 'd["simulation"]["truth"][0]["arm"]')" profit
# per arm: aov = revenue / orders
assert_eq "$(json 'all(abs(a["aov"] - a["revenue"] / a["orders"]) < 1e-6 * a["aov"] for a in d["arms"] if a["orders"])')" true

# ---- reproducible ----
first=$(stable)
expect_exit 0 cw simulate --lines "$LINES" --json --seed 7
assert_eq "$(stable)" "$first" "same seed, same output"
expect_exit 0 cw simulate --lines "$LINES" --json --seed 8
[ "$(stable)" != "$first" ] || fail "another seed gave the same output"

# ---- A/A and injected lift ----
expect_exit 0 cw simulate --lines "$LINES" --json --aa --replays 5
assert_eq "$(json '[a["name"] for a in d["arms"]]')" '["a", "b"]'
assert_eq "$(json 'd["simulation"]["truth"][0]["revenue_per_session"]')" 0 "A/A: no true effect"
assert_eq "$(json 'int(sum(a["sessions"] for a in d["arms"]))')" "$((want * 5))"
expect_exit 0 cw simulate --lines "$LINES" --json --lift 0.25 --replays 5
assert_eq "$(json 'd["simulation"]["truth"][0]["aov"] > 0')" true "lift: true aov effect"
assert_eq "$(json 'd["simulation"]["lift"]')" 0.25

# ---- a configured experiment ----
cat >exp3.json <<'EOF'
{"id": "x3", "salt": "pepper", "unit": "session",
 "arms": [{"name": "control", "kind": "holdout", "share": 0.2},
          {"name": "margin", "kind": "profit", "share_bp": 4000},
          {"name": "hits", "kind": "accuracy", "share_bp": 4000}]}
EOF
expect_exit 0 cw simulate --lines "$LINES" --json --experiment exp3.json --replays 3
assert_eq "$(json '[a["name"] for a in d["arms"]]')" '["control", "margin", "hits"]'
assert_eq "$(json 'len(d["effects"])')" 10 "two treatments x five metrics"
assert_eq "$(json 'sorted(set(e["control"] for e in d["effects"]))')" '["control"]'
assert_eq "$(json 'd["simulation"]["units"]')" "$((want * 3))" "session units"

# ---- incentives: every arm priced, shoppers react ----
expect_exit 0 cw simulate --lines "$LINES" --json --replays 3 \
    --incentives "$CW_SRC/examples/store-config.json"
assert_eq "$(json 'd["simulation"]["incentives"]')" true
assert_eq "$(json 'all(a["reward_cost"] != 0 for a in d["simulation"]["arms"])')" true "shipping priced in every arm"
assert_eq "$(json 'd["simulation"]["arms"][0]["discounts"]')" 0 "no targeted discount in the holdout"
echo '{"tiers": [{"reward": "nope", "threshold": 1}]}' >inc.json
expect_exit 1 cw simulate --lines "$LINES" --incentives inc.json
assert_contains "$ERR" "inc.json: tiers[0].reward"

# ---- text ----
expect_exit 0 cw simulate --lines "$LINES" --seed 7
assert_contains "$OUT" "profit - holdout, aov:"
assert_contains "$OUT" "sample ratio:"
assert_contains "$OUT" "true effect of profit"

# ---- a dataset without prices still runs ----
expect_exit 0 cw simulate --lines "$CW_TEST_DATA/groceries_small.csv" --json
assert_eq "$(json 'int(sum(a["sessions"] for a in d["arms"]))')" "$(test_baskets "$CW_TEST_DATA/groceries_small.csv")"

pass
