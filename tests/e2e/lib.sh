# lib.sh: what the CLI end-to-end tests share. Source it first thing:
#
#   . "$(dirname "$0")/lib.sh"
#
# It sets `-euo pipefail`, makes a private scratch directory $T (removed on
# exit, whatever happens), and checks the environment ctest provides:
# CW_BIN (the cartwise binary), CW_TEST_DATA (tests/data), CW_SRC (the repo).
set -euo pipefail

: "${CW_BIN:?CW_BIN must name the cartwise binary}"
: "${CW_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CW_TEST_DATA:=$CW_SRC/tests/data}"
export CW_BIN CW_SRC CW_TEST_DATA

T=$(mktemp -d "${TMPDIR:-/tmp}/cw-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
# No test may see a store named by the caller's environment.
unset CARTWISE_DB

# The sanitizers must fail the command, not just print.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

fail() {
    echo "FAIL: $*" >&2
    if [ -s "$T/out" ]; then echo "--- stdout:" >&2; head -c 4000 "$T/out" >&2; fi
    if [ -s "$T/err" ]; then echo "--- stderr:" >&2; head -c 4000 "$T/err" >&2; fi
    exit 1
}

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
    [ "$1" == "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
    case "$1" in
    *"$2"*) ;;
    *) fail "${3:-output} does not contain '$2': '$1'" ;;
    esac
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
    case "$1" in
    *"$2"*) fail "${3:-output} contains '$2': '$1'" ;;
    *) ;;
    esac
}

# assert_match HAYSTACK ERE [WHAT]
assert_match() {
    [[ "$1" =~ $2 ]] || fail "${3:-output} does not match /$2/: '$1'"
}

# expect_exit CODE CMD ARGS...: runs the command, stdout to $T/out and
# stderr to $T/err (also in $OUT and $ERR), and checks its exit status.
# A sanitizer report on stderr always fails the test.
expect_exit() {
    local want=$1 rc=0
    shift
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
    case "$ERR" in
    *"ERROR: AddressSanitizer"* | *"ERROR: LeakSanitizer"* | *"runtime error:"*)
        fail "sanitizer report from: $*" ;;
    esac
    [ "$rc" -eq "$want" ] || fail "exit status $rc, expected $want: $*"
}

# cw ARGS...: the binary under test.
cw() {
    "$CW_BIN" "$@"
}

# sql DB QUERY: one value from the SQLite store.
sql() {
    sqlite3 -batch -noheader "$1" "$2"
}

# counts DB [QUERY_FN]: the row counts of the tables imports write, on one
# line; QUERY_FN DB SQL runs the query (default sql, the SQLite store).
counts() {
    "${2:-sql}" "$1" "SELECT (SELECT count(*) FROM products) || ' ' ||
                     (SELECT count(*) FROM orders) || ' ' ||
                     (SELECT count(*) FROM order_lines) || ' ' ||
                     (SELECT count(*) FROM returns) || ' ' ||
                     (SELECT count(*) FROM customers)"
}

# json EXPR: evaluates a Python expression over the JSON in $OUT, bound to
# `d`, and prints the result.
json() {
    python3 -c 'import json, sys
d = json.loads(sys.stdin.read())
r = eval(sys.argv[1])
print(json.dumps(r) if isinstance(r, (dict, list, bool)) or r is None else r)' "$1" <<<"$OUT"
}

# run_unittest PYTHON DIR WHAT: the Python unittest suite of DIR (relative
# to the repository), with its report on stderr; fails if any test failed,
# errored or was skipped, or if none ran. Prints the "Ran N tests" line.
run_unittest() {
    local py=$1 dir=$2 what=$3 rc=0 summary ran
    (cd "$CW_SRC" && PYTHONDONTWRITEBYTECODE=1 "$py" -m unittest discover \
        -s "$dir" -t "$dir" -v) >"$T/out" 2>"$T/err" || rc=$?
    cat "$T/err" >&2
    summary=$(grep -E '^Ran [0-9]+ tests? in' "$T/err" | tail -n 1 || true)
    ran=$(sed -E 's/^Ran ([0-9]+) .*/\1/' <<<"$summary")
    [ "$rc" -eq 0 ] || fail "unittest exited $rc"
    [ -n "$ran" ] && [ "$ran" -gt 0 ] || fail "no $what test ran"
    grep -qE '^OK( |$)' "$T/err" || fail "unittest did not report OK"
    ! grep -qE '^OK .*skipped=' "$T/err" || fail "$what tests were skipped"
    echo "$summary"
}

# free_port: a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_up PORT LOG: until the server on 127.0.0.1:PORT answers /livez (10 s),
# else fails with the server's stderr (the file LOG).
wait_up() {
    local _
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$1/livez" >/dev/null && return 0
        sleep 0.1
    done
    fail "server on port $1 not up: $(cat "$2" 2>/dev/null)"
}

pass() {
    echo "PASS: $(basename "$0")"
}
