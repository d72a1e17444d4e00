#!/usr/bin/env bash
# config set/get/check end to end, and the incentives `recommend` shows with
# a configuration stored: bad configurations are refused with the key path
# and store nothing; the shipped example is accepted and round-trips; the
# priced cart's amounts are exact (threshold met exactly, missed by one
# penny, lost to a coupon); --no-incentives and a currency mismatch.
. "$(dirname "$0")/lib.sh"
cd "$T"

db="$T/shop.db"
expect_exit 0 cw import --db "$db" --format lines --currency GBP \
    "$CW_TEST_DATA/lines_small.csv"
expect_exit 0 cw train --db "$db"
assert_match "$(sql "$db" "SELECT value FROM meta WHERE key = 'incentive_stats'")" \
    '"order_quantiles":\[[0-9,]+\],"orders":[1-9]' "order-value distribution stored at train time"
assert_contains "$(sql "$db" "SELECT value FROM meta WHERE key = 'incentive_stats'")" \
    '"propensity":{"trained":false,"sessions":0' "no events: propensity not trained"

# ---- nothing stored yet ------------------------------------------------------
expect_exit 1 cw config get --db "$db"
assert_contains "$ERR" "cartwise: no incentive configuration (cartwise config set FILE)"
expect_exit 2 cw config --db "$db"
assert_contains "$ERR" "missing subcommand"
expect_exit 2 cw config nope --db "$db"
assert_contains "$ERR" "unknown subcommand 'nope'"

# ---- bad configurations: the key path, and nothing stored ----------------------
cat >bad1.json <<'EOF'
{"currency": "GBP", "shipping": {"model": "flat", "fee": 499, "cost": 400},
 "tiers": [{"reward": "free_shipping", "threshold": 5000},
           {"reward": "gift", "threshold": 4000, "gift_sku": "22423"}]}
EOF
expect_exit 1 cw config set --db "$db" bad1.json
assert_eq "$ERR" "cartwise: bad1.json: tiers[1].threshold: must be greater than tiers[0].threshold (5000)"
echo '{"discount": {"enabled": true, "max_pct": 10}}' >bad2.json
expect_exit 1 cw config set --db "$db" bad2.json
assert_eq "$ERR" "cartwise: bad2.json: discount.max_pct: unknown key"
echo '{"tiers": [{"reward": "free_shipping", "threshold": "50.00"}]}' >bad3.json
expect_exit 1 cw config set --db "$db" bad3.json
assert_eq "$ERR" "cartwise: bad3.json: tiers[0].threshold: must be an integer amount in minor units"
echo '{"discount": {"enabled": true}}' >bad4.json
expect_exit 1 cw config set --db "$db" bad4.json
assert_eq "$ERR" "cartwise: bad4.json: discount.daily_budget: must be > 0 when discount.enabled is true"
echo '{"bundles": {"offers": [{"name": "x", "skus": ["A"], "breaks": [{"qty": 1, "percent": 5}]}]}}' >bad5.json
expect_exit 1 cw config set --db "$db" bad5.json
assert_eq "$ERR" "cartwise: bad5.json: bundles.offers[0].breaks[0].qty: must be between 2 and 1000"
printf '{"tiers": [' >bad6.json
expect_exit 1 cw config set --db "$db" bad6.json
assert_contains "$ERR" "cartwise: bad6.json: configuration is not valid JSON: line 1"
expect_exit 1 cw config set --db "$db" missing.json
assert_contains "$ERR" "cannot open 'missing.json'"
expect_exit 1 cw config get --db "$db"
assert_contains "$ERR" "no incentive configuration"
# check validates without storing
expect_exit 1 cw config check bad1.json
assert_contains "$ERR" "tiers[1].threshold"
expect_exit 0 cw config check "$CW_SRC/examples/store-config.json"
assert_contains "$OUT" "valid: currency GBP"
expect_exit 1 cw config get --db "$db"

# ---- the shipped example: every incentive on, stored canonically ---------------
expect_exit 0 cw config set --db "$db" "$CW_SRC/examples/store-config.json"
assert_contains "$OUT" "stored: currency GBP, shipping flat (fee 995, cost 800)"
assert_contains "$OUT" "tier 0: free_shipping from 30000 (personalized)"
assert_contains "$OUT" "discount: up to 15.00% above 60% abandonment risk"
expect_exit 0 cw config get --db "$db"
get1=$OUT
assert_eq "$(json 'd["currency"]')" GBP
assert_eq "$(json '[t["reward"] for t in d["tiers"]]')" \
    '["free_shipping", "express_shipping", "gift", "percent_off"]'
assert_eq "$(json 'd["tiers"][0]["rungs"]')" '[15000, 20000, 25000, 30000, 40000]'
assert_eq "$(json 'd["tiers"][2]["gift_cost"]')" null
assert_eq "$(json 'd["discount"]["enabled"]')" true
assert_eq "$(json 'd["discount"]["max_percent"]')" 15
assert_eq "$(json 'd["threshold"]["reach_scale"]')" 0.35
assert_eq "$(json 'len(d["bundles"]["offers"])')" 2
assert_eq "$(json 'd["upgrades"]["groups"][0]["skus"]')" '["84755", "84978", "85123A"]'
assert_eq "$(sql "$db" "SELECT count(*) FROM meta WHERE key = 'config'")" 1
# what get prints is a configuration set accepts, unchanged
printf '%s\n' "$get1" >again.json
expect_exit 0 cw config set --db "$db" again.json --json
assert_eq "$(json 'd["stored"]')" true
expect_exit 0 cw config get --db "$db"
assert_eq "$OUT" "$get1" "canonical form round-trips"

# ---- recommend shows the incentives ------------------------------------------------
expect_exit 0 cw recommend --db "$db" --cart 85123A:6,71053:2 --customer 17850 \
    --session s-1 --json
CW_JSON=$OUT python3 - <<'PY' || fail "bad incentives JSON"
import json, os
d = json.loads(os.environ["CW_JSON"])
inc = d["incentives"]
p = inc["priced_cart"]
assert inc["currency"] == "GBP"
lines = [l for l in p["lines"] if not l["gift"]]
assert [l["sku"] for l in lines] == ["85123A", "71053"], lines
for l in p["lines"]:
    assert l["total"]["amount"] == l["qty"] * l["unit_price"]["amount"] - l["discount"]["amount"], l
amt = lambda k: p[k]["amount"]
assert amt("subtotal") == sum(l["qty"] * l["unit_price"]["amount"] for l in lines)
assert amt("subtotal") == d["cart_value"]["amount"]
assert amt("qualifying_subtotal") == amt("subtotal") - amt("bundle_discount") - amt("coupon_discount") - amt("offer_discount")
assert amt("merchandise") == amt("qualifying_subtotal") - amt("tier_discount")
assert amt("merchandise") == sum(l["total"]["amount"] for l in p["lines"])
assert amt("total") == amt("merchandise") + p["shipping"]["amount"]["amount"]
# under every tier: standard shipping is charged, progress to the first
assert p["rewards"] == [] and p["shipping"]["method"] == "standard"
assert p["shipping"]["amount"]["amount"] == 995
g = inc["progress"]
assert g["tier"] == 0 and g["reward"] == "free_shipping", g
assert g["current"]["amount"] == amt("qualifying_subtotal")
assert g["remaining"]["amount"] == g["target"]["amount"] - g["current"]["amount"]
assert g["percent"] == 100 * g["current"]["amount"] // g["target"]["amount"]
assert isinstance(g["message"], str) and g["message"]
t = inc["threshold"]
assert t["personalized"] is True and t["basis"] == "customer", t
assert t["amount"]["amount"] in (15000, 20000, 25000, 30000, 40000)
assert g["target"]["amount"] == t["amount"]["amount"]
assert t["why"].startswith("usual order GBP "), t["why"]
assert inc["propensity"]["source"] == "prior"
assert 0 < inc["propensity"]["value"] < 1
assert inc["discount"] is None or inc["discount"]["percent"] <= 15
assert any("configured prior" in a for a in d["assumptions"]), d["assumptions"]
PY
expect_exit 0 cw recommend --db "$db" --cart 85123A:6,71053:2 --customer 17850
assert_match "$OUT" $'\n''priced cart: subtotal [0-9]+\.[0-9]{2}, discounts -[0-9.]+, shipping 9\.95 \(standard\), total [0-9.]+ GBP'
assert_contains "$OUT" "progress: "
assert_contains "$OUT" "threshold: "
assert_contains "$OUT" "abandonment propensity: "
expect_exit 0 cw recommend --db "$db" --cart 85123A:6 --no-incentives --json
assert_eq "$(json '"incentives" in d')" false

# ---- exact amounts: a static threshold met exactly, then missed by a penny ----------
expect_exit 0 cw recommend --db "$db" --cart 85123A:6,71053:2 --json
sub=$(json 'd["incentives"]["priced_cart"]["subtotal"]["amount"]')
tier_cfg() { # THRESHOLD
    cat <<EOF
{"currency": "GBP", "shipping": {"model": "flat", "fee": 495, "cost": 400},
 "tiers": [{"reward": "free_shipping", "threshold": $1},
           {"reward": "percent_off", "threshold": $(($1 * 10)), "percent": 5}],
 "threshold": {"personalize": false}}
EOF
}
tier_cfg "$sub" >exact.json
expect_exit 0 cw config set --db "$db" exact.json
expect_exit 0 cw recommend --db "$db" --cart 85123A:6,71053:2 --json
assert_eq "$(json 'd["incentives"]["priced_cart"]["rewards"][0]["reward"]')" free_shipping
assert_eq "$(json 'd["incentives"]["priced_cart"]["shipping"]["amount"]["amount"]')" 0
assert_eq "$(json 'd["incentives"]["priced_cart"]["total"]["amount"]')" "$sub"
assert_eq "$(json 'd["incentives"]["progress"]["reward"]')" percent_off
assert_eq "$(json 'd["incentives"]["threshold"]')" null
tier_cfg $((sub + 1)) >short.json
expect_exit 0 cw config set --db "$db" short.json
expect_exit 0 cw recommend --db "$db" --cart 85123A:6,71053:2 --json
assert_eq "$(json 'd["incentives"]["priced_cart"]["rewards"]')" '[]'
assert_eq "$(json 'd["incentives"]["priced_cart"]["shipping"]["amount"]["amount"]')" 495
assert_eq "$(json 'd["incentives"]["priced_cart"]["total"]["amount"]')" $((sub + 495))
assert_eq "$(json 'd["incentives"]["progress"]["remaining"]["amount"]')" 1
assert_eq "$(json 'd["incentives"]["progress"]["percent"]')" 99
# a coupon takes the cart under the tier it met: shipping is charged again
expect_exit 0 cw config set --db "$db" exact.json
expect_exit 0 cw recommend --db "$db" --cart 85123A:6,71053:2 --coupon 100 --json
assert_eq "$(json 'd["incentives"]["priced_cart"]["coupon_discount"]["amount"]')" 100
assert_eq "$(json 'd["incentives"]["priced_cart"]["rewards"]')" '[]'
assert_eq "$(json 'd["incentives"]["priced_cart"]["total"]["amount"]')" $((sub - 100 + 495))
assert_eq "$(json 'd["incentives"]["progress"]["remaining"]["amount"]')" 100
expect_exit 2 cw recommend --db "$db" --cart 85123A --coupon -5
assert_contains "$ERR" "--coupon wants an amount in minor units"

# ---- a configuration in another currency is refused at decision time ------------
sed 's/"GBP"/"EUR"/' exact.json >eur.json
expect_exit 0 cw config set --db "$db" eur.json
expect_exit 1 cw recommend --db "$db" --cart 85123A:6
assert_contains "$ERR" "currency: the configuration is in EUR but the model's prices are GBP"

pass
