#!/usr/bin/env bash
# The web pages in a real browser: tests/e2e/web/test_web.py drives Debian's
# headless Chromium with Debian's python3-selenium (hence /usr/bin/python3,
# the system Python that has it) against `cartwise serve` on 127.0.0.1.
# Fails if any test failed, errored or was skipped, or if none ran.
. "$(dirname "$0")/lib.sh"

py=/usr/bin/python3
for f in "$py" /usr/bin/chromium /usr/bin/chromedriver; do
    [ -x "$f" ] || fail "$f is missing: run scripts/install-deps.sh --test"
done
run_unittest "$py" tests/e2e/web web
pass
