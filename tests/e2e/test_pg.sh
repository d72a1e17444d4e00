#!/usr/bin/env bash
# The whole path on a postgres:// store, on a database of its own on the
# server named by $CW_TEST_PG_URL (scripts/test starts one; skipped, exit 77,
# only when the variable is unset): import the small fixture (the same counts
# as into a SQLite file; a re-import adds nothing; a bad row rolls the whole
# file back), train with the model files in a directory, serve, a decide and
# an event over real HTTP on loopback, and both found in PostgreSQL after
# the server stopped.
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
cleanup() {
    [ -z "$srv" ] || kill "$srv" 2>/dev/null || true
    psql1 "$CW_TEST_PG_URL" "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" \
        >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

# pg_counts: the row counts of the tables imports write, as lib.sh's counts
pg_counts() {
    psql1 "$url" "SELECT (SELECT count(*) FROM products) || ' ' ||
                         (SELECT count(*) FROM orders) || ' ' ||
                         (SELECT count(*) FROM order_lines) || ' ' ||
                         (SELECT count(*) FROM returns) || ' ' ||
                         (SELECT count(*) FROM customers)"
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
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$CW_BIN" serve --db "$url" --port "$port" --bind 127.0.0.1 \
    >"$T/serve.out" 2>"$T/serve.err" &
srv=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/livez" >/dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$port/livez" >/dev/null ||
    fail "server not up: $(cat "$T/serve.err")"

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
assert_eq "$(json 'd["orders"]')" "$(sql "$T/ref.db" "SELECT count(*) FROM orders")" "report's orders"
pass
