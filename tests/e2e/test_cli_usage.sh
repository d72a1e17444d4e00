#!/usr/bin/env bash
# The command table, help, versions and the exit statuses of usage errors:
# 0 success, 1 failure, 2 usage (unknown command or option, missing or bad
# argument). Usage errors are caught before any store is opened.
. "$(dirname "$0")/lib.sh"
cd "$T"

# help lists every command, sorted (main.c binary-searches the table)
expect_exit 0 cw help
assert_contains "$OUT" "usage: cartwise"
names=$(sed -n '/^commands:/,/^$/p' "$T/out" | awk 'NF && !/^commands:/ {print $1}')
for c in eval help import recommend train version; do
    assert_contains "$names" "$c" "command list"
done
assert_eq "$names" "$(LC_ALL=C sort <<<"$names")" "command order"
expect_exit 0 cw --help
assert_contains "$OUT" "commands:"
expect_exit 0 cw help --json
assert_eq "$(json '[c["name"] for c in d["commands"]] == sorted(c["name"] for c in d["commands"])')" true
assert_eq "$(json 'all(c["help"] for c in d["commands"])')" true "every command has a help line"

# no command: the list on stderr, exit 2
expect_exit 2 cw
assert_contains "$ERR" "cartwise: no command given"
assert_contains "$ERR" "commands:"

expect_exit 0 cw help import
assert_contains "$OUT" "usage: cartwise import --format FORMAT"
expect_exit 0 cw import --help
assert_contains "$OUT" "usage: cartwise import"
expect_exit 0 cw recommend -h
assert_contains "$OUT" "--cart"
expect_exit 2 cw help nosuch
assert_contains "$ERR" "unknown command 'nosuch'"

expect_exit 0 cw version
assert_match "$OUT" '^cartwise [0-9]+\.[0-9]+\.[0-9]+$'
expect_exit 0 cw --version
assert_match "$OUT" '^cartwise [0-9]+\.[0-9]+\.[0-9]+$'
expect_exit 0 cw version --json
assert_match "$(json 'd["version"]')" '^[0-9]+\.[0-9]+\.[0-9]+$'

# unknown command, unknown options, missing values: 2, message on stderr,
# nothing on stdout
expect_exit 2 cw frobnicate
assert_contains "$ERR" "cartwise: unknown command 'frobnicate'"
assert_eq "$OUT" "" "stdout of a usage error"
expect_exit 2 cw --bogus help
assert_contains "$ERR" "unknown option '--bogus'"
expect_exit 2 cw train --bogus
assert_contains "$ERR" "cartwise: unknown option '--bogus'"
assert_contains "$ERR" "usage: cartwise train"
expect_exit 2 cw train -x
assert_contains "$ERR" "unknown option '-x'"
expect_exit 2 cw version --json=yes
assert_contains "$ERR" "takes no value"
expect_exit 2 cw import --format
assert_contains "$ERR" "option '--format' needs a value"
expect_exit 2 cw --db
assert_contains "$ERR" "needs a value"
expect_exit 2 cw version extra
assert_contains "$ERR" "unexpected argument 'extra'"

# import: formats come from the import table
expect_exit 0 cw import --format help
for f in catalog gmc lines shopify-orders shopify-products uci; do
    assert_contains "$OUT" "$f"
done
expect_exit 2 cw import --format nosuch x.csv
assert_contains "$ERR" "unknown format 'nosuch'"
expect_exit 2 cw import x.csv
assert_contains "$ERR" "missing --format"
expect_exit 2 cw import --format lines
assert_contains "$ERR" "missing FILE"
expect_exit 2 cw import --format lines --currency pounds x.csv
assert_contains "$ERR" "ISO-4217"

# train and eval option values
expect_exit 2 cw train --margin-rate 1.5
assert_contains "$ERR" "--margin-rate"
expect_exit 2 cw train --margin-rate abc
expect_exit 2 cw train --top-m 0
expect_exit 2 cw train --lambda -3
expect_exit 2 cw eval
assert_contains "$ERR" "missing --lines"
expect_exit 2 cw eval --lines x.csv --hidden middle
assert_contains "$ERR" "--hidden"
expect_exit 2 cw eval --lines x.csv --k 4

# recommend: cart syntax is checked before the store is touched
expect_exit 2 cw recommend
assert_contains "$ERR" "missing --cart"
expect_exit 2 cw recommend --cart ""
assert_contains "$ERR" "--cart is empty"
expect_exit 2 cw recommend --cart "A,,B"
assert_contains "$ERR" "empty item"
expect_exit 2 cw recommend --cart "A:0"
assert_contains "$ERR" "positive integer"
expect_exit 2 cw recommend --cart "A:-2"
expect_exit 2 cw recommend --cart "A:1.5"
expect_exit 2 cw recommend --cart "A:two"
expect_exit 2 cw recommend --cart ":3"
big=$(python3 -c 'print(",".join("S%d" % i for i in range(251)))')
expect_exit 2 cw recommend --cart "$big"
assert_contains "$ERR" "more than 250 items"
expect_exit 2 cw recommend --cart A --k 0
expect_exit 2 cw recommend --cart A --placement shelf
assert_contains "$ERR" "--placement"
[ ! -e cartwise.db ] || fail "a usage error created the store"

# eval on a missing file: a failure (1), not a usage error
expect_exit 1 cw eval --lines "$T/none.csv"
assert_contains "$ERR" "cartwise: "
assert_contains "$ERR" "none.csv"

# the default store is ./cartwise.db, or $CARTWISE_DB, or --db
expect_exit 1 cw recommend --cart A
[ -e cartwise.db ] || fail "default store ./cartwise.db was not used"
CARTWISE_DB="$T/env.db" expect_exit 1 cw recommend --cart A
[ -e "$T/env.db" ] || fail "\$CARTWISE_DB was not used"
CARTWISE_DB="$T/env.db" expect_exit 1 cw recommend --db "$T/flag.db" --cart A
[ -e "$T/flag.db" ] || fail "--db does not win over \$CARTWISE_DB"
expect_exit 1 cw --db "$T/global.db" recommend --cart A
[ -e "$T/global.db" ] || fail "--db before the command was not used"

pass
