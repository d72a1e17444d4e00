#!/usr/bin/env bash
# `cartwise keys create|list|revoke` over a real store, and a server started
# on it: list never shows a key or its hash; revoke disables a key for good
# (idempotent, unknown ids fail), rebuilds the origins allowed for CORS
# preflights from the public keys still valid, and the server refuses the
# revoked key (401) while the others keep working.
. "$(dirname "$0")/lib.sh"
cd "$T"
db=$T/c.db

expect_exit 0 cw keys list --db "$db"
assert_contains "$OUT" "(none: cartwise keys create"
expect_exit 0 cw keys list --db "$db" --json
assert_eq "$(json 'd["keys"]')" "[]"

expect_exit 0 cw keys create --kind public --origin https://a.example --db "$db"
pk_a=$(tail -n 1 "$T/out")
expect_exit 0 cw keys create --kind public --origin https://b.example --db "$db"
pk_b=$(tail -n 1 "$T/out")
expect_exit 0 cw keys create --kind secret --db "$db"
sk=$(tail -n 1 "$T/out")

expect_exit 0 cw keys list --db "$db" --json
assert_eq "$(json 'len(d["keys"])')" 3
assert_eq "$(json '[k["kind"] for k in d["keys"]]')" '["public", "public", "secret"]'
assert_eq "$(json '[k["revoked"] for k in d["keys"]]')" '[false, false, false]'
assert_eq "$(json 'd["keys"][0]["origins"]')" "https://a.example"
id_a=$(json 'd["keys"][0]["id"]')
for secret in "$pk_a" "$pk_b" "$sk" $(sql "$db" "SELECT hash FROM api_keys"); do
    assert_not_contains "$OUT" "$secret" "keys list --json shows no key or hash"
done
case "$pk_a" in "$id_a"*) ;; *) fail "the id $id_a is not the key's prefix" ;; esac
expect_exit 0 cw keys list --db "$db"
assert_contains "$OUT" "$id_a"
assert_not_contains "$OUT" "$pk_a"

# revoke: once, again (nothing changes), an unknown id, no id
expect_exit 0 cw keys revoke "$id_a" --db "$db"
assert_contains "$OUT" "revoked $id_a"
expect_exit 0 cw keys revoke "$id_a" --db "$db" --json
assert_eq "$(json 'd["already"]')" true
expect_exit 1 cw keys revoke pk_live_nosuch --db "$db"
assert_contains "$ERR" "no key with id 'pk_live_nosuch'"
expect_exit 2 cw keys revoke --db "$db"
expect_exit 2 cw keys revoke "$id_a" --kind public --db "$db"
assert_eq "$(sql "$db" "SELECT revoked FROM api_keys WHERE id = '$id_a'")" 1
assert_eq "$(sql "$db" "SELECT sum(revoked) FROM api_keys")" 1
# only the valid public key's origin still answers preflights
assert_eq "$(sql "$db" "SELECT value FROM meta WHERE key = 'cors_key_origins'")" \
    "https://b.example"

# a PostgreSQL url's password never shows in a message (nothing listens
# on port 1: the connection is refused at once)
expect_exit 1 cw keys list --db 'postgresql://cw:s3cret@127.0.0.1:1/shop?password=s3cret'
assert_contains "$ERR" "postgresql://cw:***@127.0.0.1:1/shop?password=***"
assert_not_contains "$ERR" "s3cret" "stderr"

# a server on this store refuses the revoked key and takes the others
port=$(free_port)
"$CW_BIN" serve --db "$db" --port "$port" --bind 127.0.0.1 >"$T/serve.out" 2>"$T/serve.err" &
srv=$!
trap 'kill $srv 2>/dev/null || true; rm -rf "$T"' EXIT
wait_up "$port" "$T/serve.err"
status() { # KEY ORIGIN: the status of a decide call
    curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/decide" \
        -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        ${2:+-H "Origin: $2"} -d '{"session_id":"s","cart":[{"sku":"A"}]}'
}
assert_eq "$(status "$pk_a")" 401 "revoked public key"
assert_eq "$(status "$pk_b")" 503 "valid public key (no model yet)"
assert_eq "$(status "$sk")" 503 "secret key (no model yet)"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS \
    "http://127.0.0.1:$port/v1/decide" -H 'Origin: https://a.example' \
    -H 'Access-Control-Request-Method: POST')" 403 "preflight from the revoked key's origin"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -X OPTIONS \
    "http://127.0.0.1:$port/v1/decide" -H 'Origin: https://b.example' \
    -H 'Access-Control-Request-Method: POST')" 204 "preflight from a valid key's origin"
kill -TERM $srv
wait $srv || fail "cartwise serve exited $?"
pass
