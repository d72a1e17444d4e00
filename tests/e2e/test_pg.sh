#!/usr/bin/env bash
# The whole path on a postgres:// store, on a database of its own on the
# server named by $CW_TEST_PG_URL (scripts/test starts one; skipped, exit 77,
# only when the variable is unset): import the small fixture (the same counts
# as into a SQLite file; a re-import adds nothing; a bad row rolls the whole
# file back), train with the model files in a directory, serve, a decide, an
# event and orders (one repeated, then all replayed) over real HTTP on
# loopback, the decide and the event found in PostgreSQL after the server
# stopped; then two servers on the one database share one daily discount
# budget.
. "$(dirname "$0")/lib.sh"
if [ -z "${CW_TEST_PG_URL:-}" ]; then
    echo "SKIPPED: CW_TEST_PG_URL is not set (scripts/test starts a" \
        "throwaway PostgreSQL server and sets it)"
    exit 77
fi
cd "$T"

# psql URL QUERY: one value, unaligned.
psql1() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}
# the test's own database, on the same server
dbname=cw_e2e_$$
url=$(sed -E "s#^(postgres(ql)?://[^/?]*)/?[^?]*#\1/$dbname#" <<<"$CW_TEST_PG_URL")
case "$url" in */"$dbname"*) ;; *) fail "cannot make a database url from '$CW_TEST_PG_URL'" ;; esac
psql1 "$CW_TEST_PG_URL" "CREATE DATABASE $dbname" >/dev/null
srv=
nodes=()
cleanup() {
    [ -z "$srv" ] || kill "$srv" 2>/dev/null || true
    [ "${#nodes[@]}" -eq 0 ] || kill "${nodes[@]}" 2>/dev/null || true
    psql1 "$CW_TEST_PG_URL" "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" \
        >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

# pg_counts: lib.sh's counts, of the PostgreSQL store
pg_counts() {
    counts "$url" psql1
}

# ---- import: the same records as SQLite's, once ------------------------------
data=$CW_TEST_DATA/lines_small.csv
expect_exit 0 cw import --db "$T/ref.db" --format lines "$data"
expect_exit 0 cw import --db "$url" --format lines --json "$data"
assert_eq "$(json 'd["orders_new"] > 0 and d["lines_new"] > 0')" true
assert_eq "$(pg_counts)" "$(counts "$T/ref.db")" "postgres counts = sqlite counts"
before=$(pg_counts)
expect_exit 0 cw import --db "$url" --format lines --json "$data"
assert_eq "$(json 'd["orders_new"] + d["lines_new"] + d["products_new"]')" 0 "re-import"
assert_eq "$(pg_counts)" "$before" "counts after a re-import"

# a malformed row after good ones: nothing of the file is kept
{
    head -n 101 "$data" | sed -E 's/^([0-9]+),/9\1,/' # new order ids
    echo "999999,,2011-12-31 23:59:00,85123A,two,2.55,"
} >"$T/late_bad.csv"
expect_exit 1 cw import --db "$url" --format lines "$T/late_bad.csv"
assert_contains "$ERR" "bad quantity"
assert_eq "$(pg_counts)" "$before" "counts after a failed import"

# a record the server refuses (not UTF-8) in the second of the import's
# batches, which is written rows later: named with its own line, as when
# every record was written on its own; nothing of the file is kept
{
    head -n 1500 "$data" | sed -E 's/^([0-9]+),/8\1,/'
    printf '777777,caf\351,2011-12-31 23:59:00,85123A,1,2.55,\n'
    sed -n '1501,2990p' "$data" | sed -E 's/^([0-9]+),/8\1,/'
} >"$T/latin1.csv"
expect_exit 1 cw import --db "$url" --format lines "$T/latin1.csv"
assert_contains "$ERR" "cartwise: $T/latin1.csv:1501: cannot store order '777777': storage error (order '777777': invalid byte sequence for encoding \"UTF8\": 0xe9)"
assert_contains "$ERR" "nothing was written"
assert_eq "$(pg_counts)" "$before" "counts after a refused record"

# ---- train: the files where every node reads them ----------------------------
expect_exit 1 cw train --db "$url"
assert_contains "$ERR" "--models-dir"
expect_exit 0 cw train --db "$url" --models-dir "$T/models" --json
assert_eq "$(json 'd["version"]')" 1
model=$(json 'd["file"]')
case "$model" in "$T/models/model-"*.cwm) ;; *) fail "model file $model" ;; esac
[ -s "$model" ] || fail "no model file $model"
assert_eq "$(psql1 "$url" "SELECT path FROM model_versions WHERE version = 1")" "$model"
# the directory is remembered: the next run needs no option
expect_exit 0 cw train --db "$url" --json
assert_eq "$(json 'd["version"]')" 2
case "$(json 'd["file"]')" in "$T/models/"*) ;; *) fail "second model not in $T/models" ;; esac

expect_exit 0 cw keys create --kind secret --db "$url"
sk=$(tail -n 1 "$T/out")

# ---- serve: a decide and an event over HTTP ----------------------------------
port=$(free_port)
"$CW_BIN" serve --db "$url" --port "$port" --bind 127.0.0.1 \
    >"$T/serve.out" 2>"$T/serve.err" &
srv=$!
wait_up "$port" "$T/serve.err"

sku=$(psql1 "$url" "SELECT sku FROM order_lines GROUP BY sku ORDER BY count(*) DESC, sku LIMIT 1")
OUT=$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$port/v1/decide" \
    -H "Authorization: Bearer $sk" -H 'Content-Type: application/json' \
    -d "{\"session_id\":\"pg-s1\",\"cart\":[{\"sku\":\"$sku\",\"qty\":1}]}")
assert_eq "$(tail -n 1 <<<"$OUT")" 200 "decide status"
OUT=$(head -n -1 <<<"$OUT")
dec=$(json 'd["decision_id"]')
assert_eq "$(json 'd["model_version"]')" 2 "decide's model version"
assert_eq "$(json 'len(d["addons"]) > 0')" true "decide's add-ons"
addon=$(json 'd["addons"][0]["sku"]')

status=$(curl -s -o "$T/ev.json" -w '%{http_code}' "http://127.0.0.1:$port/v1/events" \
    -H "Authorization: Bearer $sk" -H 'Content-Type: application/json' \
    -d "{\"events\":[{\"id\":\"pg-ev-1\",\"type\":\"add_to_cart\",\"session_id\":\"pg-s1\",\"ts\":\"2026-11-22T10:00:00Z\",\"sku\":\"$addon\",\"decision_id\":\"$dec\",\"placement\":\"cart\",\"value\":0}]}")
case "$status" in 2??) ;; *) fail "events status $status: $(cat "$T/ev.json")" ;; esac

# POST /v1/orders: the orders, then their lines and returns, each a batch
# the store pipelines. An order repeated in the request is a duplicate: its
# lines are left out, even one the first had not, its returns are kept; a
# replay inserts nothing.
order_line() { echo "{\"sku\":\"$1\",\"qty\":1,\"unit_price\":255}"; }
o1="{\"id\":\"pg-o1\",\"customer_id\":\"pg-c1\",\"created_at\":\"2026-11-22T10:00:00Z\""
o2="{\"id\":\"pg-o2\",\"created_at\":\"2026-11-22T11:00:00Z\""
order_ret() { echo "[{\"id\":\"$1\",\"sku\":\"85123A\",\"qty\":1}]"; }
orders="{\"orders\":[$o1,\"lines\":[$(order_line 85123A),$(order_line 71053)],\"returns\":$(order_ret pg-r1)},
    $o2,\"lines\":[$(order_line 22632)]},
    $o1,\"lines\":[$(order_line 85123A),$(order_line 71053),$(order_line 22633)],\"returns\":$(order_ret pg-r2)}]}"
order_rows() {
    psql1 "$url" "SELECT (SELECT count(*) FROM orders WHERE id LIKE 'pg-o%') || ' ' ||
        (SELECT count(*) FROM order_lines WHERE order_id LIKE 'pg-o%') || ' ' ||
        (SELECT count(*) FROM returns WHERE id LIKE 'pg-r%') || ' ' ||
        (SELECT order_count FROM customers WHERE id = 'pg-c1')"
}
OUT=$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$port/v1/orders" \
    -H "Authorization: Bearer $sk" -H 'Content-Type: application/json' -d "$orders")
assert_eq "$OUT" $'{"received":3,"inserted":2,"duplicates":1}\n200' "orders"
assert_eq "$(order_rows)" "2 3 2 1" "orders, lines, returns, pg-c1's orders"
assert_eq "$(psql1 "$url" "SELECT string_agg(sku, ',' ORDER BY line_no) FROM order_lines WHERE order_id = 'pg-o1'")" \
    "85123A,71053" "pg-o1's lines"
OUT=$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$port/v1/orders" \
    -H "Authorization: Bearer $sk" -H 'Content-Type: application/json' -d "$orders")
assert_eq "$OUT" $'{"received":3,"inserted":0,"duplicates":3}\n200' "orders replayed"
assert_eq "$(order_rows)" "2 3 2 1" "rows after the replay"

kill -TERM "$srv"
wait "$srv" || fail "cartwise serve exited $?: $(cat "$T/serve.err")"
srv=

# ---- found in PostgreSQL -----------------------------------------------------
assert_eq "$(psql1 "$url" "SELECT session_id || ' ' || model_version FROM decisions WHERE id = '$dec'")" \
    "pg-s1 2" "the decision in postgres"
assert_eq "$(psql1 "$url" "SELECT type || ' ' || sku || ' ' || decision_id FROM events WHERE id = 'pg-ev-1'")" \
    "add_to_cart $addon $dec" "the event in postgres"
# and read back through the store's scans: the KPI report
expect_exit 0 cw report kpis --db "$url" --json
# (the imported ones and the two posted)
assert_eq "$(json 'd["orders"]')" "$(($(sql "$T/ref.db" "SELECT count(*) FROM orders") + 2))" \
    "report's orders"

# ---- two nodes, one daily budget ---------------------------------------------
# The discount budget is the store's (budget_leases): two servers on this
# database, offering discounts to sessions in turn, together reserve no more
# than daily_budget, and both offer while it lasts.
start_node() {
    local p
    p=$(free_port)
    "$CW_BIN" serve --db "$url" --port "$p" --bind 127.0.0.1 --key-rate 0 --ip-rate 0 \
        >>"$T/serve.out" 2>>"$T/serve-$1.err" &
    nodes+=("$!")
    wait_up "$p" "$T/serve-$1.err"
    ports+=("$p")
}
# stop_nodes: SIGTERM, and each must exit 0
stop_nodes() {
    kill -TERM "${nodes[@]}"
    for p in "${nodes[@]}"; do wait "$p" || fail "cartwise serve exited $?"; done
    nodes=()
}
ports=()
start_node a
# post PORT PATH BODY [METHOD]: OUT is the body, the status must be 200
post() {
    OUT=$(curl -s -w '\n%{http_code}' -X "${4:-POST}" "http://127.0.0.1:$1$2" \
        -H "Authorization: Bearer $sk" -H 'Content-Type: application/json' -d "$3")
    assert_eq "$(tail -n 1 <<<"$OUT")" 200 "$2 status: $OUT"
    OUT=$(head -n -1 <<<"$OUT")
}
cart='[{"sku":"85123A","qty":1},{"sku":"71053","qty":1},{"sku":"22632","qty":1}]'
port_a=${ports[0]}
post "$port_a" /v1/decide "{\"session_id\":\"pg-cur\",\"cart\":$cart}"
currency=$(json 'd["cart_value"]["currency"]')
post "$port_a" /v1/config "{\"currency\":\"$currency\",\"discount\":{\"enabled\":true,
    \"daily_budget\":400,\"pacing\":\"none\",\"propensity_threshold\":0.1,
    \"prior_abandon_rate\":0.95,\"prior_elasticity\":0.3,\"exploration_share\":0,
    \"margin_floor\":0.05,\"per_customer_max\":0}}" PUT
# node b reads the configuration from the store at start
start_node b
port_b=${ports[1]}
given_a=0 given_b=0 n_a=0 n_b=0
for i in $(seq 30); do
    for node in a b; do
        port=$port_a
        [ "$node" = b ] && port=$port_b
        post "$port" /v1/decide "{\"session_id\":\"pg-b-$node-$i\",\"cart\":$cart}"
        amount=$(json 'd["incentives"]["discount"]["amount"]["amount"] if d["incentives"]["discount"] else 0')
        if [ "$amount" -gt 0 ] && [ "$node" = a ]; then
            given_a=$((given_a + amount)) n_a=$((n_a + 1))
        elif [ "$amount" -gt 0 ]; then
            given_b=$((given_b + amount)) n_b=$((n_b + 1))
        fi
    done
done
if [ "$n_a" -eq 0 ] || [ "$n_b" -eq 0 ]; then
    fail "offers per node: a $n_a, b $n_b"
fi
[ $((given_a + given_b)) -le 400 ] ||
    fail "two nodes reserved $given_a + $given_b, over the daily budget of 400"
[ "$((n_a + n_b))" -lt 60 ] || fail "the budget never ran out"
leased=$(psql1 "$url" "SELECT sum(leased) FROM budget_leases")
if [ "$leased" -gt 400 ] || [ "$leased" -lt $((given_a + given_b)) ]; then
    fail "leased $leased for $given_a + $given_b reserved"
fi
stop_nodes
pass
