#!/usr/bin/env bash
# bench/http/run.sh: the HTTP benchmark of BENCHMARK.md section 3.
#
# `cartwise serve` on 127.0.0.1 with the Online Retail model (trained on the
# protocol's train split), and `wrk -t2 -c64 -d30s --latency` with
# bench/http/decide.lua posting the test-case carts in turn (keep-alive).
# In the same run, nginx (Debian's nginx-light) answers the same requests on
# another loopback port with a static JSON body of the size of a typical
# decide response (the median over the carts), with the same wrk settings.
# Reports requests/s, p50, p99, errors (non-2xx responses and socket errors:
# must be 0), the decisions the decision log dropped and the decides that
# waited for room in its full queue (/metrics), and the ratio cartwise/nginx,
# to build/bench/http.json and stdout. Exits non-zero when cartwise had an
# error or crashed.
#
# Data: ../shared/data/online_retail through ../shared/bench/prep.py when
# present, else the bundled sample data/sample/online_retail_sample.csv.gz.
# wrk and nginx-light are installed here (bench only, not test deps).
#
# Environment: CW_BENCH_REUSE=1 (reuse the store and model of the last
# run, build/bench/http-store), CW_BENCH_DURATION (default 30s),
# CW_BENCH_BUILD (default build-http, RelWithDebInfo), CW_BIN (use this
# binary, build nothing),
# CW_BENCH_SERVE_FLAGS (more `cartwise serve` options, e.g. --no-access-log),
# CW_BENCH_KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/../.."

duration=${CW_BENCH_DURATION:-30s}
threads=2
conns=64
build=${CW_BENCH_BUILD:-build-http}
out=build/bench/http.json
shared=../shared

note() { echo "==> $*" >&2; }
die() { echo "bench/http/run.sh: $*" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/cw-bench-http.XXXXXX")
cw_pid=
ngx_pid=
cleanup() {
    local pid
    for pid in $cw_pid $ngx_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${CW_BENCH_KEEP:-0}" = 1 ]; then
        echo "work directory kept: $W" >&2
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT

# ---- tools: the project's packages, then wrk and nginx for this bench ----
bash scripts/install-deps.sh </dev/null
missing=()
for pkg in wrk nginx-light; do
    if [ "$pkg" = nginx-light ] && command -v nginx >/dev/null 2>&1; then
        continue # nginx (any flavour) is already there
    fi
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    note "install ${missing[*]}"
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install ${missing[*]}"
        as_root=(sudo -n)
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}" </dev/null >&2
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || die "nginx not found"
command -v wrk >/dev/null 2>&1 || die "wrk not found"

# ---- build (or the binary named by CW_BIN) ----
if [ -n "${CW_BIN:-}" ]; then
    cw=$CW_BIN
else
    note "build $build (RelWithDebInfo)"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCW_SANITIZE=OFF >/dev/null
    cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target cartwise_cli >/dev/null
    cw=$build/cartwise
fi
[ -x "$cw" ] || die "no cartwise binary at $cw"

# ---- data: lines, carts, train split; store and model ----
# Kept in build/bench/http-store/ and reused by the next run with
# CW_BENCH_REUSE=1 (training on the full data takes a minute); the server
# always gets a fresh copy of the store.
cache=build/bench/http-store
if [ "${CW_BENCH_REUSE:-0}" = 1 ] && [ -s "$cache/carts.jsonl" ] &&
    [ -s "$cache/cartwise.db" ] && [ -s "$cache/meta" ]; then
    note "reuse the store in $cache"
else
    rm -rf "$cache"
    mkdir -p "$cache"
    if [ -f "$shared/data/online_retail/online_retail_2010_2011.csv.xz" ] &&
        [ -f "$shared/bench/prep.py" ]; then
        dataset="Online Retail (shared/data, prep.py)"
        note "prepare $shared/data/online_retail"
        python3 "$shared/bench/prep.py" online_retail "$shared/data/online_retail" >"$W/lines.csv"
        input=$W/lines.csv
    else
        dataset="Online Retail sample (data/sample)"
        input=data/sample/online_retail_sample.csv.gz
    fi
    note "carts and train split ($dataset)"
    split=$(python3 bench/http/make_carts.py "$input" "$cache/carts.jsonl" "$W/train.csv")
    echo "$split" >&2
    note "import and train"
    "$cw" import --db "$cache/cartwise.db" --format lines "$W/train.csv" >&2
    "$cw" train --db "$cache/cartwise.db" >&2
    printf '%s\n%s\n' "$dataset" "$split" >"$cache/meta"
fi
dataset=$(sed -n 1p "$cache/meta")
split=$(sed -n 2p "$cache/meta")
cp "$cache/carts.jsonl" "$W/carts.jsonl"
db=$W/cartwise.db
# the model files are found by the absolute paths in the store: they stay
# in the cache; the store itself (decision log, keys) is a private copy
sqlite3 "$cache/cartwise.db" ".backup '$db'"
key=$("$cw" keys create --kind public --db "$db" | tail -n 1)
admin=$("$cw" keys create --kind secret --db "$db" | tail -n 1)
[ -n "$key" ] || die "no key from cartwise keys create"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL: until it answers (60 s at most)
wait_http() {
    python3 - "$1" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

# ---- cartwise serve ----
# The per-key and per-IP rate limits are raised out of the way: wrk is one
# client with one key, and the limits are not what is measured. The access
# log (one JSON line per request on stderr) stays on, as in production; it
# goes to a file.
serve_flags=(--key-rate 0 --ip-rate 0)
# shellcheck disable=SC2206 # CW_BENCH_SERVE_FLAGS is a list of words
serve_flags+=(${CW_BENCH_SERVE_FLAGS:-})
cw_port=$(free_port)
note "cartwise serve on 127.0.0.1:$cw_port ${serve_flags[*]}"
"$cw" serve --db "$db" --port "$cw_port" --bind 127.0.0.1 "${serve_flags[@]}" \
    >"$W/serve.out" 2>"$W/serve.err" &
cw_pid=$!
wait_http "http://127.0.0.1:$cw_port/readyz" || {
    tail -n 20 "$W/serve.err" >&2
    die "cartwise serve did not get ready"
}

# the size of a typical decide response: the median body over the carts
body_bytes=$(python3 - "$cw_port" "$key" "$W/carts.jsonl" <<'PY'
import http.client, statistics, sys
port, key, path = sys.argv[1], sys.argv[2], sys.argv[3]
carts = [l for l in open(path) if l.strip()]
step = max(1, len(carts) // 500)
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
sizes = []
for body in carts[::step]:
    conn.request("POST", "/v1/decide", body=body.encode(), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"decide answered {r.status}: {data[:300]!r}")
    sizes.append(len(data))
print(int(statistics.median(sizes)))
PY
)
note "typical decide response: $body_bytes bytes"

# parse_wrk FILE: JSON of wrk --latency output
parse_wrk() {
    python3 - "$1" <<'PY'
import json, re, sys
t = open(sys.argv[1]).read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]
lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", t, re.M)}
m = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m),", t, re.M)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
rps = re.search(r"^Requests/sec:\s+([\d.]+)", t, re.M)
if not (m and rps and "50" in lat and "99" in lat):
    sys.exit("cannot parse wrk output:\n" + t)
socket_errors = sum(int(x) for x in sock.groups()) if sock else 0
print(json.dumps({
    "requests": int(m.group(1)), "seconds": ms(m.group(2), m.group(3)) / 1000,
    "requests_per_s": float(rps.group(1)),
    "p50_ms": lat["50"], "p75_ms": lat.get("75"), "p90_ms": lat.get("90"), "p99_ms": lat["99"],
    "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    "socket_errors": socket_errors,
    "errors": (int(non2xx.group(1)) if non2xx else 0) + socket_errors}))
PY
}

run_wrk() { # NAME URL
    note "wrk -t$threads -c$conns -d$duration --latency $2"
    CW_CARTS=$W/carts.jsonl CW_KEY=$key wrk -t"$threads" -c"$conns" -d"$duration" \
        --latency -s bench/http/decide.lua "$2" >"$W/$1.txt"
    cat "$W/$1.txt" >&2
    parse_wrk "$W/$1.txt" >"$W/$1.json"
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
run_wrk cartwise "http://127.0.0.1:$cw_port/v1/decide"
# the decision log sheds load when its queue is full (serving wins): how
# many of the run's decisions it dropped, from /metrics
# and how many decides waited for room in its full queue
metrics=$(curl -s "http://127.0.0.1:$cw_port/metrics" -H "Authorization: Bearer $admin")
dropped=$(awk '$1 == "cartwise_decision_log_dropped_total" {print $2}' <<<"$metrics")
waits=$(awk '$1 == "cartwise_decision_log_waits_total" {print $2}' <<<"$metrics")
[ -n "$dropped" ] || die "no cartwise_decision_log_dropped_total in /metrics"
[ -n "$waits" ] || die "no cartwise_decision_log_waits_total in /metrics"
decisions=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$W/cartwise.json")

kill -TERM "$cw_pid"
cw_rc=0
wait "$cw_pid" || cw_rc=$?
cw_pid=
if grep -qE 'ERROR: AddressSanitizer|runtime error:' "$W/serve.err"; then
    die "sanitizer report from cartwise serve"
fi
[ "$cw_rc" -eq 0 ] || { tail -n 20 "$W/serve.err" >&2; die "cartwise serve exited $cw_rc"; }

# ---- nginx: a static JSON body of the same size, any method ----
ngx_port=$(free_port)
mkdir -p "$W/nginx/tmp"
pad=$((body_bytes - 10))
[ "$pad" -gt 0 ] || pad=1
printf '{"pad":"%s"}' "$(head -c "$pad" /dev/zero | tr '\0' x)" >"$W/nginx/body.json"
static_bytes=$(stat -c %s "$W/nginx/body.json")
cat >"$W/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    client_body_temp_path $W/nginx/tmp/body;
    proxy_temp_path $W/nginx/tmp/proxy;
    fastcgi_temp_path $W/nginx/tmp/fastcgi;
    uwsgi_temp_path $W/nginx/tmp/uwsgi;
    scgi_temp_path $W/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$ngx_port;
        location / {
            default_type application/json;
            return 200 '$(cat "$W/nginx/body.json")';
        }
    }
}
EOF
note "nginx on 127.0.0.1:$ngx_port ($static_bytes-byte body)"
"$nginx_bin" -c "$W/nginx/nginx.conf" -p "$W/nginx" 2>"$W/nginx/stderr" &
ngx_pid=$!
wait_http "http://127.0.0.1:$ngx_port/v1/decide" || {
    cat "$W/nginx/stderr" "$W/nginx/error.log" >&2 2>/dev/null || true
    die "nginx did not start"
}
run_wrk nginx "http://127.0.0.1:$ngx_port/v1/decide"
kill -TERM "$ngx_pid" 2>/dev/null || true
wait "$ngx_pid" 2>/dev/null || true
ngx_pid=

# ---- report ----
mkdir -p "$(dirname "$out")"
LOAD_BEFORE=$load_before SERVE_FLAGS="${serve_flags[*]}" python3 - "$W" "$out" "$dataset" "$split" "$body_bytes" "$static_bytes" "$duration" \
    "$threads" "$conns" "$decisions" "$dropped" "$waits" <<'PY'
import json, os, platform, subprocess, sys, time
w, out, dataset, split, body, static, duration, threads, conns, decisions, dropped, waits = sys.argv[1:]
cw = json.load(open(os.path.join(w, "cartwise.json")))
ngx = json.load(open(os.path.join(w, "nginx.json")))
cpu = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
ngx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
rep = {
    "benchmark": "BENCHMARK.md section 3: POST /v1/decide over HTTP",
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "machine": {"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
                "load_avg_1m_before": float(os.environ["LOAD_BEFORE"]),
                "load_avg_1m_after": round(os.getloadavg()[0], 2)},
    "wrk": {"threads": int(threads), "connections": int(conns), "duration": duration,
            "version": (wrk_v.stdout or wrk_v.stderr).splitlines()[0] if (wrk_v.stdout or wrk_v.stderr) else ""},
    "dataset": dataset, "split": json.loads(split),
    "serve_flags": os.environ.get("SERVE_FLAGS", ""),
    "decide_response_bytes_median": int(body),
    "cartwise": dict(cw, decisions=int(decisions),
                     decision_log_dropped=int(float(dropped)),
                     decision_log_waits=int(float(waits))),
    "nginx": dict(ngx, body_bytes=int(static), version=(ngx_v.stderr or ngx_v.stdout).strip()),
    "ratio_cartwise_nginx": round(cw["requests_per_s"] / ngx["requests_per_s"], 3) if ngx["requests_per_s"] else None,
}
with open(out, "w") as f:
    json.dump(rep, f, indent=2)
    f.write("\n")
print(f"cartwise: {cw['requests_per_s']:.0f} decisions/s, p50 {cw['p50_ms']:.3f} ms, "
      f"p99 {cw['p99_ms']:.3f} ms, errors {cw['errors']}, decision log dropped "
      f"{int(float(dropped))} of {cw['requests']} ({100 * float(dropped) / max(cw['requests'], 1):.1f}%), "
      f"waited for room {int(float(waits))}")
print(f"nginx:    {ngx['requests_per_s']:.0f} requests/s, p50 {ngx['p50_ms']:.3f} ms, "
      f"p99 {ngx['p99_ms']:.3f} ms, errors {ngx['errors']} ({static}-byte body)")
print(f"ratio cartwise/nginx: {rep['ratio_cartwise_nginx']}")
print(f"written: {out}")
PY
errors=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["errors"])' "$W/cartwise.json")
[ "$errors" -eq 0 ] || die "cartwise had $errors errors (non-2xx or socket errors)"
