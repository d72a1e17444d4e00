#!/usr/bin/env bash
# The HTTP API end to end: tests/e2e/http/test_*.py (Python 3 standard
# library only) start `cartwise serve` on 127.0.0.1 over fresh stores and
# talk to it over real HTTP; see tests/e2e/http/harness.py. Fails if any test
# failed, errored or was skipped, or if none ran.
. "$(dirname "$0")/lib.sh"

run_unittest python3 tests/e2e/http HTTP
pass
