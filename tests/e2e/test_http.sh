#!/usr/bin/env bash
# The HTTP API end to end: tests/e2e/http/test_*.py (Python 3 standard
# library only) start `cartwise serve` on 127.0.0.1 over fresh stores and
# talk to it over real HTTP; see tests/e2e/http/harness.py. Fails if any test
# failed, errored or was skipped, or if none ran.
. "$(dirname "$0")/lib.sh"

export PYTHONDONTWRITEBYTECODE=1
rc=0
(cd "$CW_SRC" && python3 -m unittest discover -s tests/e2e/http -t tests/e2e/http -v) \
    >"$T/out" 2>"$T/err" || rc=$?
cat "$T/err" >&2
summary=$(grep -E '^Ran [0-9]+ tests? in' "$T/err" | tail -n 1 || true)
ran=$(sed -E 's/^Ran ([0-9]+) .*/\1/' <<<"$summary")
[ "$rc" -eq 0 ] || fail "unittest exited $rc"
[ -n "$ran" ] && [ "$ran" -gt 0 ] || fail "no HTTP test ran"
grep -qE '^OK( |$)' "$T/err" || fail "unittest did not report OK"
! grep -qE '^OK .*skipped=' "$T/err" || fail "HTTP tests were skipped"
echo "$summary"
pass
