#!/usr/bin/env bash
# `cartwise eval` follows BENCHMARK.md section 1: its counts of baskets,
# train baskets, items and cases must equal what the protocol gives, computed
# here independently by a small Python implementation of steps 1-4 (the
# reference's load/split/cases logic, without numpy).
. "$(dirname "$0")/lib.sh"
cd "$T"

# protocol FILE: "baskets train_baskets items cases" by BENCHMARK.md 1-4
protocol() {
    python3 - "$1" <<'PY'
import csv, gzip, sys
p = sys.argv[1]
f = gzip.open(p, "rt", newline="") if p.endswith(".gz") else open(p, newline="")
baskets = {}
for row in csv.DictReader(f):
    try:
        q = float(row["qty"])
    except ValueError:
        continue
    if q <= 0:
        continue
    b = baskets.get(row["basket_id"])
    if b is None:
        b = baskets[row["basket_id"]] = [row["ts"], []]
    elif row["ts"] < b[0]:
        b[0] = row["ts"]
    b[1].append(row["sku"])
order = sorted(baskets.items(), key=lambda kv: (kv[1][0], kv[0]))
cut = int(len(order) * 0.8)
train, test = order[:cut], order[cut:]
universe = {s for _, (_, skus) in train for s in skus}
cases = sum(1 for _, (_, skus) in test if len({s for s in skus if s in universe}) >= 2)
print(len(baskets), cut, len(universe), cases)
PY
}

# check_eval FILE K: the JSON in $OUT matches the protocol's counts for FILE
# and has every metric, in range.
check_eval() {
    local want got
    want=$(protocol "$1")
    got=$(json '" ".join(str(d[k]) for k in ("baskets", "train_baskets", "items", "cases"))')
    assert_eq "$got" "$want" "baskets train_baskets items cases of $(basename "$1")"
    [ "$(json 'd["cases"]')" -gt 0 ] || fail "no cases"
    CW_JSON=$OUT python3 - "$2" <<'PY' || fail "bad eval JSON"
import json, os, sys
d = json.loads(os.environ["CW_JSON"])
k = sys.argv[1]
for m in (d, d["accuracy_only"]):
    for key in (f"hr@{k}", f"ndcg@{k}", "margin_capture"):
        assert 0 <= m[key] <= 1, (key, m[key])
    assert m[f"ndcg@{k}"] <= m[f"hr@{k}"] + 1e-9
    assert m["margin_per_case"] >= 0
assert d["margin_source"] == "benchmark assumed rates (BENCHMARK.md 1.8)"
assert d["ease_lambda"] >= 0 and d["profit_gamma"] >= 0
assert d["train_s"] >= 0 and d["eval_s"] >= 0
assert isinstance(d["dataset"], str) and d["dataset"]
PY
}

lines="$CW_TEST_DATA/lines_small.csv"
groceries="$CW_TEST_DATA/groceries_small.csv"

expect_exit 0 cw eval --lines "$lines" --json
check_eval "$lines" 3
assert_eq "$(json 'd["dataset"]')" lines_small.csv
assert_eq "$(json 'd["hidden"]')" last

expect_exit 0 cw eval --lines "$groceries" --json --no-blas
check_eval "$groceries" 3
# the groceries fixture has a real signal: the engine must find some hits
python3 -c 'import sys; assert float(sys.argv[1]) > 0' "$(json 'd["accuracy_only"]["hr@3"]')" ||
    fail "no hits on groceries_small"

# hash mode hides another item but counts the same cases; --k names the keys
expect_exit 0 cw eval --lines "$groceries" --hidden hash --k 2 --lambda 30 --json
check_eval "$groceries" 2
assert_eq "$(json 'd["hidden"]')" hash
assert_eq "$(json 'd["k"]')" 2
assert_eq "$(json '"hr@3" in d')" false
assert_eq "$(json 'd["ease_lambda"]')" 30

# The bundled Online Retail sample (3,031 invoices, lines as customers
# entered them): the model reads the cart's order and keeps its re-ranker,
# and finds the hidden last line at least four times as often as the most
# popular items do (a re-ranker whose calibration turned its ranking upside
# down once scored 0.015 on the full file).
python3 - "$CW_SRC/data/sample/online_retail_sample.csv.gz" "$T/or.csv" <<'PY'
import csv, gzip, sys
w = csv.writer(open(sys.argv[2], "w", newline=""), lineterminator="\n")
w.writerow(["basket_id", "customer_id", "ts", "sku", "qty", "unit_price", "unit_cost"])
for r in csv.DictReader(gzip.open(sys.argv[1], "rt", newline="")):
    if r["InvoiceNo"][:1].isdigit() and r["StockCode"][:1].isdigit():
        w.writerow([r["InvoiceNo"], r["CustomerID"], r["InvoiceDate"],
                    r["StockCode"], r["Quantity"], r["UnitPrice"], ""])
PY
expect_exit 0 cw eval --lines "$T/or.csv" --json
check_eval "$T/or.csv" 3
assert_eq "$(json 'd["reranker"]')" true
assert_eq "$(json 'd["cart_order"]')" true
python3 - "$T/or.csv" "$(json 'd["accuracy_only"]["hr@3"]')" <<'PY' ||
import csv, sys
from collections import Counter
baskets = {}
for r in csv.DictReader(open(sys.argv[1], newline="")):
    if float(r["qty"]) > 0:
        b = baskets.setdefault(r["basket_id"], [r["ts"], []])
        b[0] = min(b[0], r["ts"])
        if r["sku"] not in b[1]:
            b[1].append(r["sku"])
order = sorted(baskets.items(), key=lambda kv: (kv[1][0], kv[0]))
cut = int(len(order) * 0.8)
pop = Counter(s for _, (_, skus) in order[:cut] for s in skus)
hits = cases = 0
for _, (_, skus) in order[cut:]:
    skus = [s for s in skus if s in pop]
    if len(skus) < 2:
        continue
    cart, hidden = set(skus[:-1]), skus[-1]
    top = [s for s, _ in sorted(pop.items(), key=lambda kv: (-kv[1], kv[0])) if s not in cart][:3]
    hits += hidden in top
    cases += 1
engine = float(sys.argv[2])
print(f"engine HR@3 {engine:.4f}, most popular {hits / cases:.4f}")
assert engine >= 4 * hits / cases, "engine no better than popularity"
PY
    fail "Online Retail sample: the engine is not clearly better than popularity"

# The same orders exported with each order's lines sorted by sku (as a
# grocer's aisle order would be): the line order says nothing, so the model
# ignores it (mix exactly 0) and still finds what the whole cart backs.
python3 - "$T/or.csv" "$T/or_sorted.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
order = {}
for r in rows:
    order.setdefault(r["basket_id"], len(order))
rows.sort(key=lambda r: (order[r["basket_id"]], r["sku"]))
w = csv.DictWriter(open(sys.argv[2], "w", newline=""), fieldnames=rows[0].keys(),
                   lineterminator="\n")
w.writeheader()
w.writerows(rows)
PY
expect_exit 0 cw eval --lines "$T/or_sorted.csv" --json
check_eval "$T/or_sorted.csv" 3
assert_eq "$(json 'd["cart_order"]')" false
assert_eq "$(json 'd["line_order_mix"]')" 0.0
python3 -c 'import sys; assert float(sys.argv[1]) > 0.08, sys.argv[1]' \
    "$(json 'd["accuracy_only"]["hr@3"]')" ||
    fail "Online Retail sample, sorted lines: HR@3 $(json 'd["accuracy_only"]["hr@3"]')"

# gzip input reads the same
gzip -c "$groceries" >"$T/g.csv.gz"
expect_exit 0 cw eval --lines "$T/g.csv.gz" --json
check_eval "$T/g.csv.gz" 3

# text mode: a small table
expect_exit 0 cw eval --lines "$groceries"
assert_contains "$OUT" "HR@3"
assert_contains "$OUT" "accuracy-only"
assert_match "$OUT" "cases"

# rows the reference skips (qty not a number) or ignores (qty <= 0), quoted
# fields, unknown prices: counts still agree with the protocol
python3 - "$T/quirks.csv" <<'PY'
import csv, sys, random
random.seed(7)
w = csv.writer(open(sys.argv[1], "w", newline=""), lineterminator="\n")
w.writerow(["basket_id", "customer_id", "ts", "sku", "qty", "unit_price", "unit_cost"])
skus = [f"S{i}" for i in range(12)] + ["with,comma", 'q"uote']
for b in range(60):
    for j in range(random.randint(1, 5)):
        qty = random.choice(["1", "2", " 3 ", "abc", "", "-1", "0", "1.5"])
        price = random.choice(["", "2.50", "x", "10"])
        w.writerow([f"B{b:03d}", random.choice(["", "c1", "c2"]),
                    f"2024-01-{1 + b % 28:02d} 10:00:00", random.choice(skus),
                    qty, price, random.choice(["", "1.00"])])
PY
expect_exit 0 cw eval --lines "$T/quirks.csv" --json
check_eval "$T/quirks.csv" 3
[ "$(json 'd["skipped_rows"]')" -gt 0 ] || fail "no rows were skipped"

# a missing column or an unreadable file is a failure with a message
printf 'basket_id,customer_id,ts,sku,qty,unit_price\n1,,1,a,1,2\n' >"$T/nocost.csv"
expect_exit 1 cw eval --lines "$T/nocost.csv" --json
assert_contains "$ERR" "missing column 'unit_cost'"
assert_eq "$OUT" ""
: >"$T/empty.csv"
expect_exit 1 cw eval --lines "$T/empty.csv"
assert_contains "$ERR" "empty"
printf 'basket_id,customer_id,ts,sku,qty,unit_price,unit_cost\n1,,1,a,1,,\n2,,2,,1,,\n' >"$T/nosku.csv"
expect_exit 1 cw eval --lines "$T/nosku.csv"
assert_contains "$ERR" "nosku.csv:3:"
printf 'basket_id,customer_id,ts,sku,qty,unit_price,unit_cost\n1,,1,"a,1,,\n' >"$T/quote.csv"
expect_exit 1 cw eval --lines "$T/quote.csv"
assert_contains "$ERR" "cartwise: $T/quote.csv:2: "

pass
