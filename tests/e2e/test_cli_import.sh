#!/usr/bin/env bash
# `cartwise import`: every format's fixture (tests/data/import/) goes in,
# the store's rows match the summary, and importing again adds nothing; a
# malformed file fails with FILE:LINE:COL and writes nothing at all, not even
# the good rows before the bad one; --skip-bad keeps the good rows and
# counts the bad ones.
. "$(dirname "$0")/lib.sh"
cd "$T"
D="$CW_TEST_DATA/import"

# fixture FORMAT: the fixture's base name and extension for a format
fixture() {
    case "$1" in
    gmc) echo "$D/gmc.tsv" ;;
    *) echo "$D/${1//-/_}.csv" ;;
    esac
}
bad_fixture() {
    local f
    f=$(fixture "$1")
    echo "${f%.*}_bad.${f##*.}"
}

formats=$(cw import --format help | awk 'NR > 1 {print $1}')
assert_eq "$(wc -w <<<"$formats")" 6 "formats listed"

for fmt in $formats; do
    f=$(fixture "$fmt")
    [ -f "$f" ] || fail "no fixture for format $fmt ($f)"
    db="$T/$fmt.db"

    expect_exit 0 cw import --db "$db" --format "$fmt" --json "$f"
    assert_eq "$(json 'd["format"]')" "$fmt"
    assert_eq "$(json 'd["file"]')" "$f"
    [ "$(json 'd["rows"]')" -gt 0 ] || fail "$fmt: no rows read"
    [ "$(json 'd["products"] + d["orders"] + d["lines"] + d["returns"]')" -gt 0 ] ||
        fail "$fmt: nothing imported"
    # a fresh store: everything is new, and the tables hold exactly that
    assert_eq "$(json 'd["products_new"] == d["products"] and d["orders_new"] == d["orders"] and d["lines_new"] == d["lines"] and d["returns_new"] == d["returns"]')" \
        true "$fmt: all new in a fresh store"
    got=$(json '" ".join(str(d[k]) for k in ("products_new", "orders_new", "lines_new", "returns_new"))')
    want=$(counts "$db")
    assert_eq "$got" "${want% *}" "$fmt: store rows = summary"
    before=$(counts "$db")

    # again: read the same, add nothing
    expect_exit 0 cw import --db "$db" --format "$fmt" "$f"
    assert_match "$OUT" "^imported $f: [0-9]+ rows, [0-9]+ products \(0 new\), [0-9]+ orders \(0 new\), [0-9]+ lines \(0 new\), [0-9]+ returns \(0 new\), 0 skipped, [0-9]+ ignored, in [0-9.]+ s \([0-9]+ rows/s\)"
    assert_eq "$(counts "$db")" "$before" "$fmt: counts after re-import"

    # the format's malformed fixture: exit 1, FILE:LINE:COL, nothing written
    bad=$(bad_fixture "$fmt")
    [ -f "$bad" ] || fail "no malformed fixture for $fmt"
    expect_exit 1 cw import --db "$db" --format "$fmt" "$bad"
    assert_match "$ERR" "^cartwise: $bad:[0-9]+:[0-9]+: " "$fmt: error position"
    assert_contains "$ERR" "nothing was written"
    assert_eq "$OUT" "" "$fmt: stdout of a failed import"
    assert_eq "$(counts "$db")" "$before" "$fmt: counts after a failed import"

    # --skip-bad: the good rows go in, the bad ones are counted and the
    # first one is named
    expect_exit 0 cw import --db "$db" --format "$fmt" --skip-bad --json "$bad"
    [ "$(json 'd["skipped"]')" -gt 0 ] || fail "$fmt: nothing skipped"
    [ "$(json 'd["products"] + d["orders"] + d["lines"] + d["returns"]')" -gt 0 ] ||
        fail "$fmt: --skip-bad imported nothing"
    assert_match "$ERR" "warning: skipped [0-9]+ malformed rows, the first: $bad:[0-9]+:[0-9]+: "
done

# the UCI fixture: fees, adjustments and write-offs are ignored, the
# cancellation is a return, the prices are GBP and remembered as such
db="$T/uci.db"
assert_eq "$(sql "$db" "SELECT value FROM meta WHERE key = 'currency'")" GBP
assert_eq "$(sql "$db" "SELECT count(*) FROM order_lines WHERE sku = 'POST'")" 0
assert_eq "$(sql "$db" "SELECT count(*) FROM returns WHERE sku = '85123A'")" 1
expect_exit 0 cw import --db "$T/uci2.db" --format uci "$(fixture uci)"
assert_match "$OUT" ", [1-9][0-9]* ignored,"
assert_match "$OUT" $'\n[0-9]+ products without cost: margins will use the default rate \\(set with `cartwise train --margin-rate`\\)'

# ---- a malformed row after good ones rolls the good ones back too ------------
db="$T/rollback.db"
expect_exit 0 cw import --db "$db" --format lines --json "$D/lines.csv"
before=$(counts "$db")
{
    head -n 101 "$CW_TEST_DATA/lines_small.csv"
    echo "999999,,2011-12-31 23:59:00,85123A,two,2.55,"
    sed -n '102,120p' "$CW_TEST_DATA/lines_small.csv"
} >"$T/late_bad.csv"
expect_exit 1 cw import --db "$db" --format lines "$T/late_bad.csv"
assert_contains "$ERR" "cartwise: $T/late_bad.csv:102:5: bad quantity"
assert_eq "$(counts "$db")" "$before" "counts after a late failure"
assert_eq "$(sql "$db" "SELECT count(*) FROM orders WHERE id = '536365'")" 0

# --skip-bad on the same file: exactly the good rows
expect_exit 0 cw import --db "$db" --format lines --skip-bad --json "$T/late_bad.csv"
assert_eq "$(json 'd["skipped"]')" 1
assert_eq "$(json 'd["rows"]')" 120
assert_eq "$(json 'd["lines"] + d["returns"] + d["ignored"]')" 119
assert_eq "$(sql "$db" "SELECT count(*) FROM order_lines WHERE order_id NOT LIKE 'B%' AND order_id <> '7'")" \
    "$(json 'd["lines_new"]')"
assert_eq "$(sql "$db" "SELECT count(*) FROM orders WHERE id = '999999'")" 0

# a reader error (unterminated quote) also fails and writes nothing
before=$(counts "$db")
expect_exit 1 cw import --db "$db" --format lines --skip-bad "$D/lines_unterminated.csv"
assert_match "$ERR" "lines_unterminated.csv:[0-9]+: "
assert_eq "$(counts "$db")" "$before"
# a missing required column
expect_exit 1 cw import --db "$db" --format lines "$D/lines_missing_qty.csv"
assert_contains "$ERR" "missing column 'qty'"
# a missing file
expect_exit 1 cw import --db "$db" --format lines "$T/nope.csv"
assert_contains "$ERR" "nope.csv"
assert_eq "$(counts "$db")" "$before"

# ---- a record the store refuses ----------------------------------------------
# Records are written in batches of about a thousand, each some rows after
# its records were read: the refused one is still named with its own line,
# and it is the error reported even when the parser stops at a malformed
# row before its batch is written.
db="$T/refused.db"
expect_exit 0 cw import --db "$db" --format lines "$D/lines.csv"
sql "$db" "CREATE TRIGGER refuse BEFORE INSERT ON order_lines WHEN NEW.sku = 'REFUSED'
           BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
before=$(counts "$db")
refused="777777,,2011-12-31 23:59:00,REFUSED,1,2.55,"
{
    head -n 1500 "$CW_TEST_DATA/lines_small.csv"
    echo "$refused"
    sed -n '1501,2990p' "$CW_TEST_DATA/lines_small.csv"
} >"$T/refused.csv"
expect_exit 1 cw import --db "$db" --format lines "$T/refused.csv"
assert_contains "$ERR" "cartwise: $T/refused.csv:1501: cannot store line of order '777777': storage error (order line 777777:1500: refused by a trigger)"
assert_contains "$ERR" "nothing was written"
assert_eq "$(counts "$db")" "$before" "counts after a refused record"
{
    head -n 1500 "$CW_TEST_DATA/lines_small.csv"
    echo "$refused"
    sed -n '1501,1510p' "$CW_TEST_DATA/lines_small.csv"
    echo "999999,,2011-12-31 23:59:00,85123A,two,2.55,"
} >"$T/refused_then_bad.csv"
expect_exit 1 cw import --db "$db" --format lines "$T/refused_then_bad.csv"
assert_contains "$ERR" "cartwise: $T/refused_then_bad.csv:1501: cannot store line of order '777777'"
assert_not_contains "$ERR" "bad quantity"
assert_eq "$(counts "$db")" "$before" "counts after a refused record"

# ---- the real-data fixtures, twice ------------------------------------------
db="$T/small.db"
expect_exit 0 cw import --db "$db" --format lines --currency GBP --json \
    "$CW_TEST_DATA/lines_small.csv"
assert_eq "$(json 'd["rows"]')" "$(($(wc -l <"$CW_TEST_DATA/lines_small.csv") - 1))"
assert_eq "$(sql "$db" "SELECT count(*) FROM order_lines")" "$(json 'd["lines"]')"
# products with a price: 2.55 GBP is 255 minor units
assert_eq "$(sql "$db" "SELECT price FROM products WHERE sku = '85123A'")" 255
before=$(counts "$db")
expect_exit 0 cw import --db "$db" --format lines --json "$CW_TEST_DATA/lines_small.csv"
assert_eq "$(json 'd["products_new"] + d["orders_new"] + d["lines_new"] + d["returns_new"]')" 0
assert_eq "$(counts "$db")" "$before"
# standard input
expect_exit 0 cw import --db "$db" --format lines --json - <"$CW_TEST_DATA/lines_small.csv"
assert_eq "$(json 'd["lines_new"]')" 0
assert_eq "$(json 'd["lines"]')" "$(sql "$db" "SELECT count(*) FROM order_lines")"

db="$T/sample.db"
sample="$CW_SRC/data/sample/online_retail_sample.csv.gz"
expect_exit 0 cw import --db "$db" --format uci --json "$sample"
assert_eq "$(json 'd["rows"]')" "$(($(gzip -dc "$sample" | wc -l) - 1))"
[ "$(json 'd["returns"]')" -gt 0 ] || fail "no cancellations in the sample"
before=$(counts "$db")
expect_exit 0 cw import --db "$db" --format uci "$sample"
assert_contains "$OUT" "products (0 new)"
assert_contains "$OUT" "orders (0 new)"
assert_contains "$OUT" "lines (0 new)"
assert_contains "$OUT" "returns (0 new)"
assert_eq "$(counts "$db")" "$before"

# ---- the progress bar: on a terminal only ------------------------------------
expect_exit 0 cw import --db "$T/p.db" --format uci "$(fixture uci)"
assert_not_contains "$ERR" "importing" "stderr when not a terminal"
if command -v script >/dev/null; then
    script -qec "$(printf '%q ' "$CW_BIN" import --db "$T/p.db" --format uci "$(fixture uci)") 2>&1 >/dev/null" \
        /dev/null >"$T/tty" || fail "import under a pseudo-terminal failed"
    assert_contains "$(cat "$T/tty")" "importing"
    assert_contains "$(cat "$T/tty")" "100%"
fi

pass
