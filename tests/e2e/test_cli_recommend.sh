#!/usr/bin/env bash
# import -> train -> recommend, end to end, on the two real-data fixtures:
# the normalized lines cut of Online Retail (format lines) and the raw UCI
# sample (format uci, gzip). Also what recommend does without a model, with
# unknown SKUs, and with a damaged model file.
. "$(dirname "$0")/lib.sh"
cd "$T"

# check_addons CART_SKUS...: the JSON in $OUT is a good decision for a cart
# holding those SKUs: 1..3 add-ons, none of them (nor their variant) in the
# cart, each with a reason sentence, probabilities in (0, 1].
check_addons() {
    CW_JSON=$OUT python3 - "$@" <<'PY' || fail "bad recommendation JSON"
import json, os, sys
d = json.loads(os.environ["CW_JSON"])
cart = set(sys.argv[1:])
a = d["addons"]
assert 1 <= len(a) <= 3, f"{len(a)} add-ons"
assert len({x["sku"] for x in a}) == len(a), "duplicate add-ons"
for x in a:
    assert x["sku"] not in cart and x["variant_sku"] not in cart, x
    assert isinstance(x["reason"]["text"], str) and x["reason"]["text"].strip(), x
    assert x["reason"]["code"] in ("pairs_with", "bought_before", "popular"), x
    assert 0 < x["p_accept"] <= 1, x
    assert isinstance(x["unit_margin"]["amount"], int), x
    assert isinstance(x["margin_assumed"], bool), x
    if x["reason"]["code"] == "pairs_with":
        assert x["reason"]["evidence_sku"] in cart, x
assert isinstance(d["model_version"], int) and d["model_version"] >= 1
assert isinstance(d["cart_value"]["amount"], int)
assert isinstance(d["unknown_skus"], list) and isinstance(d["assumptions"], list)
PY
}

# ---- normalized lines: before any model -------------------------------------
db="$T/lines.db"
expect_exit 1 cw recommend --db "$db" --cart 85123A
assert_contains "$ERR" "cartwise: no trained model: run \`cartwise train\` first"
assert_eq "$OUT" "" "stdout without a model"

expect_exit 0 cw import --db "$db" --format lines --currency GBP \
    "$CW_TEST_DATA/lines_small.csv"
assert_eq "$(sql "$db" "SELECT value FROM meta WHERE key = 'currency'")" GBP

# training with nothing to train on is a clear failure
expect_exit 1 cw train --db "$T/empty.db"
assert_contains "$ERR" "cartwise: "

expect_exit 0 cw train --db "$db" --json
assert_eq "$(json 'd["version"]')" 1 "first model version"
assert_eq "$(json 'd["currency"]')" GBP
assert_eq "$(json 'd["default_margin_rate"]')" 0.3
assert_eq "$(json 'd["baskets"]')" \
    "$(python3 -c 'import csv,sys; print(len({r["basket_id"] for r in csv.DictReader(open(sys.argv[1])) if int(r["qty"]) > 0}))' "$CW_TEST_DATA/lines_small.csv")" \
    "training baskets = baskets with a positive line"
model=$(json 'd["file"]')
[ -f "$model" ] || fail "model file $model missing"
assert_match "$model" "^$T/lines\.db\.models/model-[0-9]+-[0-9a-f]{8}\.cwm$" "model path"
assert_eq "$(sql "$db" "SELECT path FROM model_versions WHERE version = 1")" "$model"
assert_eq "$(sql "$db" "SELECT checksum FROM model_versions WHERE version = 1")" \
    "$(json 'd["checksum"]')"
assert_contains "$(basename "$model")" "-$(json 'd["checksum"][:8]').cwm"
ls "$T/lines.db.models" | grep -q '\.tmp\.' && fail "temporary file left behind"

# the first basket of the file: 85123A, 71053, 84406B, ...
expect_exit 0 cw recommend --db "$db" --cart 85123A:2,71053 --json
check_addons 85123A 71053
assert_eq "$(json 'd["model_version"]')" 1
assert_eq "$(json 'd["cart_value"]["currency"]')" GBP
[ "$(json 'd["cart_value"]["amount"]')" -gt 0 ] || fail "cart value not positive"
assert_eq "$(json 'd["unknown_skus"]')" "[]"
# UCI has no costs: margins come from the default rate, and say so
assert_eq "$(json 'all(a["margin_assumed"] for a in d["addons"])')" true
assert_contains "$(json 'd["assumptions"]')" "margin assumed at the default rate 30%"

# text output: one numbered line per add-on with p, margin and reason
expect_exit 0 cw recommend --db "$db" --cart 85123A:2,71053
assert_match "$OUT" $'(^|\n)1\. [^ ]+  .*p=0\.[0-9]{3}  margin=[0-9]+\.[0-9]{2} GBP  expected=[0-9]+\.[0-9]{2} — [^ ]'
assert_contains "$OUT" "margin assumed at the default rate 30%: costs unknown"
assert_not_contains "$OUT" "unknown SKUs"

# unknown SKUs are reported, never fatal
expect_exit 0 cw recommend --db "$db" --cart 85123A,NO-SUCH-SKU,ALSO-MISSING:3 --json
check_addons 85123A NO-SUCH-SKU ALSO-MISSING
assert_eq "$(json 'd["unknown_skus"]')" '["NO-SUCH-SKU", "ALSO-MISSING"]'
expect_exit 0 cw recommend --db "$db" --cart 85123A,NO-SUCH-SKU
assert_contains "$OUT" "unknown SKUs: NO-SUCH-SKU"
# a cart of nothing known still answers (popular items) and lists them
expect_exit 0 cw recommend --db "$db" --cart NOPE1,NOPE2 --json
assert_eq "$(json 'd["unknown_skus"]')" '["NOPE1", "NOPE2"]'
assert_eq "$(json 'd["cart_value"]["amount"]')" 0

# --k, --placement, --accuracy-only, an unknown customer
expect_exit 0 cw recommend --db "$db" --cart 85123A --k 1 --placement checkout \
    --accuracy-only --customer nobody-like-this --json
assert_eq "$(json 'len(d["addons"])')" 1
assert_contains "$(json 'd["assumptions"]')" "customer not in the model"
expect_exit 0 cw recommend --db "$db" --cart 85123A --customer 17850 --json
check_addons 85123A
assert_not_contains "$(json 'd["assumptions"]')" "customer not in the model"

# --margin-rate is remembered for later runs; versions count up
expect_exit 0 cw train --db "$db" --margin-rate 0.45 --no-blas --top-m 20 --json
assert_eq "$(json 'd["version"]')" 2
assert_eq "$(json 'd["default_margin_rate"]')" 0.45
assert_eq "$(sql "$db" "SELECT value FROM meta WHERE key = 'default_margin_rate'")" 0.45
expect_exit 0 cw train --db "$db" --lambda 50
assert_match "$OUT" '^trained model version 3: [0-9]+ items, [0-9]+ customers, [0-9]+ baskets'
assert_contains "$OUT" "wrote $T/lines.db.models/model-"
expect_exit 0 cw recommend --db "$db" --cart 85123A --json
assert_eq "$(json 'd["model_version"]')" 3
assert_contains "$(json 'd["assumptions"]')" "default rate 45%"

# ---- a damaged model file is refused ----------------------------------------
latest=$(sql "$db" "SELECT path FROM model_versions ORDER BY version DESC LIMIT 1")
cp "$latest" "$T/good.cwm"
python3 - "$latest" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x40
open(p, "wb").write(bytes(b))
PY
expect_exit 1 cw recommend --db "$db" --cart 85123A
assert_contains "$ERR" "is damaged"
assert_contains "$ERR" "checksum"
assert_eq "$OUT" ""
# truncated: also damaged
head -c 100 "$T/good.cwm" >"$latest"
expect_exit 1 cw recommend --db "$db" --cart 85123A --json
assert_contains "$ERR" "damaged"
# empty (maps to no bytes at all)
: >"$latest"
expect_exit 1 cw recommend --db "$db" --cart 85123A
assert_contains "$ERR" "damaged"
# missing
rm "$latest"
expect_exit 1 cw recommend --db "$db" --cart 85123A
assert_contains "$ERR" "cannot read model version 3"
# restored: served again
cp "$T/good.cwm" "$latest"
expect_exit 0 cw recommend --db "$db" --cart 85123A --json
check_addons 85123A

# ---- raw UCI sample, gzip -----------------------------------------------------
udb="$T/uci.db"
sample="$CW_SRC/data/sample/online_retail_sample.csv.gz"
expect_exit 0 cw import --db "$udb" --format uci "$sample" --json
assert_eq "$(sql "$udb" "SELECT value FROM meta WHERE key = 'currency'")" GBP \
    "the UCI format's currency is remembered"
expect_exit 0 cw train --db "$udb" --json
assert_eq "$(json 'd["currency"]')" GBP
[ "$(json 'd["items"]')" -gt 100 ] || fail "too few items"

# a cart of the two most ordered products of the sample
read -r a b < <(gzip -dc "$sample" | python3 -c '
import csv, sys, collections
c = collections.Counter(r["StockCode"] for r in csv.DictReader(sys.stdin)
                        if r["InvoiceNo"][:1].isdigit() and r["StockCode"][:1].isdigit())
print(*[s for s, _ in c.most_common(2)])')
expect_exit 0 cw recommend --db "$udb" --cart "$a,$b" --json
check_addons "$a" "$b"
assert_eq "$(json 'd["cart_value"]["currency"]')" GBP
expect_exit 0 cw recommend --db "$udb" --cart "$a" --placement product --json
check_addons "$a"
expect_exit 0 cw recommend --db "$udb" --cart "$a,$b"
assert_match "$OUT" $'(^|\n)1\. '

pass
