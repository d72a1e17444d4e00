#!/usr/bin/env bash
# install-deps.sh: install the Debian packages cartwise needs to build, test
# and run its demo, and only those that are missing.
#
# The test and demo scripts call it first, so a fresh Debian 12 machine (or
# CI) gets everything from here; `--test` (scripts/test) adds what only the
# test suite needs. Quiet when nothing is missing; needs no standard input.
# Runs apt-get as root, through sudo otherwise.
set -euo pipefail

# The one list of packages. Later issues append to it (one package per line,
# a comment saying what needs it).
PACKAGES=(
    build-essential # C compiler, make
    cmake
    pkg-config
    libsqlite3-dev  # store: SQLite backend
    libpq-dev       # store: PostgreSQL backend (libpq)
    libjansson-dev  # JSON (cli, server)
    libxxhash-dev   # xxh3: experiment assignment, checksums, hash tables
    libsodium-dev   # HMAC, keys
    zlib1g-dev      # gzip input
    libopenblas-dev # EASE solve (training)
    liblapacke-dev
    libcmocka-dev   # unit tests
    xz-utils        # packed datasets
    sqlite3         # inspecting stores, e2e tests
    python3         # sample and fixture scripts
    time            # /usr/bin/time in benchmarks
    libmicrohttpd-dev # HTTP server (cartwise serve)
    curl            # the HTTP API example (docs/curl-example.md)
    clang-format    # style check (tests/style/check_format.sh)
)
# Only for the test suite (--test).
TEST_PACKAGES=(
    chromium         # browser tests of the web pages (tests/e2e/test_web.sh)
    chromium-driver
    python3-selenium
    postgresql       # a throwaway server for the PostgreSQL store tests
)
if [ "${1:-}" = --test ]; then
    PACKAGES+=("${TEST_PACKAGES[@]}")
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n) # -n: never prompt (no stdin in CI)
else
    echo "install-deps.sh: missing packages: ${missing[*]}" >&2
    echo "install-deps.sh: not root and no sudo; install them as root with:" >&2
    echo "  apt-get install ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps.sh: missing packages: ${missing[*]}, and no apt-get" \
         "(cartwise expects Debian 12)" >&2
    exit 1
fi

echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${missing[@]}" </dev/null
