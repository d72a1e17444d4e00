#!/usr/bin/env bash
# The web pages in a real browser: tests/e2e/web/test_web.py drives Debian's
# headless Chromium with Debian's python3-selenium (hence /usr/bin/python3,
# the system Python that has it) against `cartwise serve` on 127.0.0.1.
# Fails if any test failed, errored or was skipped, or if none ran.
. "$(dirname "$0")/lib.sh"

export PYTHONDONTWRITEBYTECODE=1
py=/usr/bin/python3
for f in "$py" /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$f" ] || fail "$f is missing: run scripts/install-deps.sh"
done
rc=0
(cd "$CW_SRC" && "$py" -m unittest discover -s tests/e2e/web -t tests/e2e/web -v) \
    >"$T/out" 2>"$T/err" || rc=$?
cat "$T/err" >&2
summary=$(grep -E '^Ran [0-9]+ tests? in' "$T/err" | tail -n 1 || true)
ran=$(sed -E 's/^Ran ([0-9]+) .*/\1/' <<<"$summary")
[ "$rc" -eq 0 ] || fail "unittest exited $rc"
[ -n "$ran" ] && [ "$ran" -gt 0 ] || fail "no web test ran"
grep -qE '^OK( |$)' "$T/err" || fail "unittest did not report OK"
! grep -qE '^OK .*skipped=' "$T/err" || fail "web tests were skipped"
echo "$summary"
pass
