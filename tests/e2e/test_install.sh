#!/usr/bin/env bash
# `cmake --install` of the build that made CW_BIN, into a private prefix: the
# installed cartwise, run from elsewhere, serves the web pages and the OpenAPI
# document from <prefix>/share/cartwise (not from the source tree, which the
# test tells apart by changing the installed copies).
. "$(dirname "$0")/lib.sh"

build=$(dirname "$CW_BIN")
[ -f "$build/cmake_install.cmake" ] || fail "$build is not a CMake build tree"
expect_exit 0 cmake --install "$build" --prefix "$T/inst"
bin=$T/inst/bin/cartwise
share=$T/inst/share/cartwise
[ -x "$bin" ] || fail "no installed binary at $bin"
for f in openapi.json web/index.html web/widget/cartwise.js \
    web/dashboard/index.html web/demo/index.html web/style.css; do
    [ -s "$share/$f" ] || fail "not installed: share/cartwise/$f"
done
cmp -s "$share/web/widget/cartwise.js" "$CW_SRC/web/widget/cartwise.js" ||
    fail "installed widget differs from the source"

# mark the installed copies
echo '/* installed copy */' >>"$share/web/widget/cartwise.js"
python3 - "$share/openapi.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["info"]["title"] = "installed copy"
json.dump(d, open(sys.argv[1], "w"))
PY

port=$(free_port)
(cd "$T" && exec "$bin" serve --db "$T/db" --port "$port" --bind 127.0.0.1 \
    >"$T/serve.out" 2>"$T/serve.err") &
srv=$!
trap 'kill $srv 2>/dev/null || true; rm -rf "$T"' EXIT
wait_up "$port" "$T/serve.err"
widget=$(curl -sf "http://127.0.0.1:$port/widget/cartwise.js") ||
    fail "GET /widget/cartwise.js from the installed binary"
assert_contains "$widget" "/* installed copy */" "served widget"
OUT=$(curl -sf "http://127.0.0.1:$port/v1/openapi.json") ||
    fail "GET /v1/openapi.json from the installed binary"
assert_eq "$(json 'd["info"]["title"]')" "installed copy" "served OpenAPI title"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/dashboard/")" \
    200 "GET /dashboard/"
assert_not_contains "$(cat "$T/serve.err")" "web page missing" "server log"
kill -TERM $srv
wait $srv || fail "cartwise serve exited $?"
pass
