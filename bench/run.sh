#!/usr/bin/env bash
# bench/run.sh: the benchmarks of shared/BENCHMARK.md sections 1, 2 and 4,
# with one summary table and build/bench/results.json.
#
#   bench/run.sh [--scale [quick|full]] [--no-build] [--report-only]
#
#   (a) Online Retail as normalized lines: shared/bench/prep.py on the full
#       copy in ../shared/data when it exists, else the bundled sample
#       (data/sample) filtered by the same rule; Groceries likewise, else
#       the test fixture tests/data/groceries_small.csv.
#   (b) import: `cartwise import --format uci` of the UCI CSV (decompressed
#       first, so the parser is timed, not xz) under /usr/bin/time -v:
#       rows/s, wall, peak RSS.
#   (c) train: `cartwise train` on that store: wall, peak RSS.
#   (d) decision latency: build/bench_decide on the Online Retail lines.
#   (e) accuracy and profit: `cartwise eval` on Online Retail and Groceries.
#   (f) --scale: gen_grocer (50,000 SKUs; 500,000 baskets, or 3,000,000
#       with `--scale full`), then import --format lines, train, and
#       bench_decide on its first 50,000 test cases.
#
# --report-only prints the table again from the files of the last run.
# Speed is measured, never asserted: a step that fails is reported as such
# and the others still run; the exit status is 1 if any step failed. Files
# go to build/bench/ (inputs are cached there and remade when older than
# their source).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

PY=/usr/bin/python3
SHARED=../shared
OUT=build/bench
CW=build/cartwise
scale=""
build=1
report_only=0
while [ $# -gt 0 ]; do
    case "$1" in
    --scale)
        scale=quick
        if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then
            scale=$2
            shift
        fi
        case "$scale" in
        quick | full) ;;
        *)
            echo "run.sh: --scale is quick or full, not '$scale'" >&2
            exit 2
            ;;
        esac
        ;;
    --no-build) build=0 ;;
    --report-only)
        report_only=1
        build=0
        ;;
    -h | --help)
        sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run.sh: unknown argument '$1' (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done

note() { echo "==> $*" >&2; }
failed=0
fail() {
    echo "run.sh: $*" >&2
    failed=1
}

# stale DST SRC...: DST is missing, empty or older than one of the SRCs, so
# it must be made again
stale() {
    local dst=$1
    shift
    [ -s "$dst" ] || return 0
    local s
    for s in "$@"; do
        [ "$s" -nt "$dst" ] && return 0
    done
    return 1
}

if [ "$build" = 1 ]; then
    if [ ! -f build/CMakeCache.txt ]; then
        note "configuring build/ (RelWithDebInfo)"
        cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
            exit 1
    fi
    note "building cartwise, bench_decide, gen_grocer"
    cmake --build build -j"$(nproc 2>/dev/null || echo 2)" \
        --target cartwise_cli bench_decide gen_grocer >/dev/null || {
        echo "run.sh: build failed (--no-build uses the binaries in build/)" >&2
        exit 1
    }
fi
mkdir -p "$OUT"
steps="import_or train_or decide_or eval_or eval_gr gen_scale import_scale
    train_scale decide_scale"
if [ "$report_only" = 0 ]; then
    for st in $steps; do
        rm -f "$OUT/$st".{json,time,err,rc}
    done
    rm -f "$OUT"/run.* "$OUT/results.json"
fi

# ---- (a) inputs ---------------------------------------------------------
if [ -f "$SHARED/data/online_retail/online_retail_2010_2011.csv.xz" ]; then
    or_name=online_retail
    or_xz=$SHARED/data/online_retail/online_retail_2010_2011.csv.xz
    or_uci=$OUT/online_retail.csv
    or_lines=$OUT/online_retail_lines.csv
    if stale "$or_uci" "$or_xz"; then
        note "decompressing $or_xz"
        xz -dc "$or_xz" >"$or_uci.tmp" && mv "$or_uci.tmp" "$or_uci"
    fi
    if stale "$or_lines" "$or_xz" "$SHARED/bench/prep.py"; then
        note "prep.py online_retail"
        "$PY" "$SHARED/bench/prep.py" online_retail \
            "$SHARED/data/online_retail" >"$or_lines.tmp" &&
            mv "$or_lines.tmp" "$or_lines"
    fi
else
    or_name=online_retail_sample
    or_gz=data/sample/online_retail_sample.csv.gz
    or_uci=$OUT/online_retail_sample.csv
    or_lines=$OUT/online_retail_sample_lines.csv
    note "no $SHARED/data: using the bundled sample $or_gz"
    if stale "$or_uci" "$or_gz"; then
        gzip -dc "$or_gz" >"$or_uci.tmp" && mv "$or_uci.tmp" "$or_uci"
    fi
    if stale "$or_lines" "$or_uci"; then
        # prep.py's rule: invoices and stock codes that start with a digit
        "$PY" - "$or_uci" >"$or_lines.tmp" <<'EOF' && mv "$or_lines.tmp" "$or_lines"
import csv, sys
w = csv.writer(sys.stdout, lineterminator='\n')
w.writerow(['basket_id', 'customer_id', 'ts', 'sku', 'qty', 'unit_price', 'unit_cost'])
with open(sys.argv[1], newline='') as f:
    for r in csv.DictReader(f):
        inv, sku = r['InvoiceNo'], r['StockCode']
        if not inv[:1].isdigit() or not sku[:1].isdigit():
            continue
        w.writerow([inv, r['CustomerID'], r['InvoiceDate'], sku, r['Quantity'], r['UnitPrice'], ''])
EOF
    fi
fi
if [ -f "$SHARED/data/groceries/groceries.csv.xz" ]; then
    gr_name=groceries
    gr_lines=$OUT/groceries_lines.csv
    if stale "$gr_lines" "$SHARED/data/groceries/groceries.csv.xz" \
        "$SHARED/bench/prep.py"; then
        note "prep.py groceries"
        "$PY" "$SHARED/bench/prep.py" groceries "$SHARED/data/groceries" \
            >"$gr_lines.tmp" && mv "$gr_lines.tmp" "$gr_lines"
    fi
else
    gr_name=groceries_small
    gr_lines=tests/data/groceries_small.csv
fi
[ -s "$or_lines" ] || fail "no Online Retail lines ($or_lines)"

# timed [--stdout FILE] NAME CMD...: runs CMD under /usr/bin/time -v;
# stdout to NAME.json (or FILE), stderr, the timing and the exit status to
# NAME.err, NAME.time, NAME.rc
timed() {
    local stdout="" name rc=0
    if [ "$1" = --stdout ]; then
        stdout=$2
        shift 2
    fi
    name=$1
    shift
    note "$name: $*"
    /usr/bin/time -v -o "$OUT/$name.time" "$@" \
        >"${stdout:-$OUT/$name.json}" 2>"$OUT/$name.err" || rc=$?
    echo "$rc" >"$OUT/$name.rc"
    if [ "$rc" != 0 ]; then
        fail "$name failed: $(tail -n 3 "$OUT/$name.err" | tr '\n' ' ')"
        return 1
    fi
}

fresh_db() {
    rm -rf "$1" "$1-wal" "$1-shm" "$1.models"
}

# The measurements; --report-only skips them.
run_steps() {
    local db g_lines g_db baskets
    cut -d' ' -f1 /proc/loadavg >"$OUT/run.load_start"
    # ---- (b) import, (c) train ----------------------------------------------
    db=$OUT/bench_or.db
    fresh_db "$db"
    if timed import_or "$CW" --json import --db "$db" --format uci "$or_uci"; then
        timed train_or "$CW" --json train --db "$db"
    fi

    # ---- (d) decision latency, (e) eval -------------------------------------
    timed decide_or build/bench_decide "$or_lines" --json
    timed eval_or "$CW" --json eval --lines "$or_lines"
    timed eval_gr "$CW" --json eval --lines "$gr_lines"

    # ---- (f) scale ------------------------------------------------------------
    if [ -n "$scale" ]; then
        if [ "$scale" = full ]; then baskets=3000000; else baskets=500000; fi
        g_lines=$OUT/grocer_50000_${baskets}_1.csv
        # the source defines the bytes (the binary is relinked whenever
        # libcartwise changes)
        if stale "$g_lines" bench/gen_grocer.c; then
            if timed --stdout "$g_lines.tmp" gen_scale build/gen_grocer \
                --skus 50000 --baskets "$baskets" --seed 1; then
                mv "$g_lines.tmp" "$g_lines"
                printf '{"baskets":%s,"bytes":%s}\n' "$baskets" \
                    "$(stat -c %s "$g_lines")" >"$OUT/gen_scale.json"
            fi
        fi
        g_db=$OUT/bench_grocer.db
        fresh_db "$g_db"
        if timed import_scale "$CW" --json import --db "$g_db" --format lines \
            "$g_lines"; then
            timed train_scale "$CW" --json train --db "$g_db"
        fi
        fresh_db "$g_db"
        timed decide_scale build/bench_decide "$g_lines" --json \
            --max-cases 50000
    fi
    cut -d' ' -f1 /proc/loadavg >"$OUT/run.load_end"
    date +%Y-%m-%dT%H:%M:%S%z >"$OUT/run.date"
}
[ "$report_only" = 1 ] || run_steps

# ---- summary ----------------------------------------------------------------
summary_args=("$OUT" "$or_name" "$gr_name" "$scale")
"$PY" - "${summary_args[@]}" <<'EOF' || failed=1
import json, os, subprocess, sys, time
out, or_name, gr_name, scale = sys.argv[1:5]

def load(name):
    try:
        with open(os.path.join(out, name + '.json')) as f:
            return json.loads(f.read() or 'null')
    except (OSError, ValueError):
        return None

def timing(name):
    """wall s, user+sys s and peak RSS kB from a /usr/bin/time -v file"""
    try:
        text = open(os.path.join(out, name + '.time')).read()
    except OSError:
        return None
    def field(label):
        for line in text.splitlines():
            key, _, val = line.strip().rpartition(': ')
            if key.startswith(label):
                return val
        return None
    wall = 0.0
    for part in (field('Elapsed (wall clock) time') or '0').split(':'):
        wall = wall * 60 + float(part)
    return {'wall_s': round(wall, 3),
            'cpu_s': round(float(field('User time') or 0) +
                           float(field('System time') or 0), 3),
            'peak_rss_kb': int(field('Maximum resident set size') or 0)}

def git(*args):
    try:
        return subprocess.run(['git', *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None

def cpu_model():
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return None

def info(name, conv=str):
    try:
        return conv(open(os.path.join(out, 'run.' + name)).read().strip())
    except (OSError, ValueError):
        return None

res = {'date': info('date') or time.strftime('%Y-%m-%dT%H:%M:%S%z'),
       'commit': git('rev-parse', '--short', 'HEAD'),
       'dirty': bool(git('status', '--porcelain')),
       'cores': os.cpu_count(), 'cpu': cpu_model(),
       'loadavg_at_start': info('load_start', float),
       'loadavg_at_end': info('load_end', float),
       'datasets': {'online_retail': or_name, 'groceries': gr_name}}

def info_rc(name):
    try:
        return int(open(os.path.join(out, name + '.rc')).read())
    except (OSError, ValueError):
        return None

def step(name):
    r = {'ok': info_rc(name) == 0 and load(name) is not None}
    t = timing(name)
    if t:
        r.update(t)
    out_json = load(name)
    if out_json is not None:
        r['output'] = out_json
    return r

imp = step('import_or')
if imp['ok'] and imp.get('wall_s'):
    imp['rows_per_s'] = round(imp['output'].get('rows', 0) / imp['wall_s'])
res['import_online_retail'] = imp
res['train_online_retail'] = step('train_or')
res['decide_online_retail'] = step('decide_or')
res['eval_online_retail'] = step('eval_or')
res['eval_groceries'] = step('eval_gr')
if scale:
    res['scale'] = {'size': scale}
    if os.path.exists(os.path.join(out, 'gen_scale.time')):
        res['scale']['generate'] = step('gen_scale')
    imp = step('import_scale')
    if imp['ok'] and imp.get('wall_s'):
        imp['rows_per_s'] = round(imp['output'].get('rows', 0) / imp['wall_s'])
    res['scale']['import'] = imp
    res['scale']['train'] = step('train_scale')
    res['scale']['decide'] = step('decide_scale')

with open(os.path.join(out, 'results.json'), 'w') as f:
    json.dump(res, f, indent=2)
    f.write('\n')

def fmt(v, spec):
    if isinstance(v, (int, float)):
        return format(v, spec)
    return format('-', '>' + spec.split('.')[0])

def mb(kb):
    return kb / 1024 if isinstance(kb, (int, float)) else None

print(f"cartwise benchmarks, {res['date']}, commit {res['commit']}"
      f"{' (dirty)' if res['dirty'] else ''}, {res['cores']} cores"
      f" ({res['cpu']})")
loads = [v for v in (res['loadavg_at_start'], res['loadavg_at_end'])
         if v is not None]
if loads:
    print(f"load average {' -> '.join(f'{v:.1f}' for v in loads)}"
          + (': other work shared the cores, expect noise'
             if max(loads) > (res['cores'] or 1) - 0.5 else ''))
print()
print(f"{'step':<34} {'wall s':>8} {'peak MB':>8}  result")
def row(label, r, result):
    print(f"{label:<34} {fmt(r.get('wall_s'), '8.2f')} "
          f"{fmt(mb(r.get('peak_rss_kb')), '8.0f')}  "
          f"{result if r['ok'] else 'FAILED'}")
def import_result(r):
    o = r.get('output') or {}
    return (f"{o.get('rows', 0):,} rows, {r.get('rows_per_s', 0):,.0f} rows/s"
            f" (in-process {o.get('rows_per_s', 0):,.0f})")
def train_result(r):
    o = r.get('output') or {}
    return (f"{o.get('items', 0):,} items, {o.get('baskets', 0):,} baskets, "
            f"EASE {o.get('ease_items', 0):,} items, lambda "
            f"{o.get('ease_lambda', 0):g}")
def decide_result(r):
    o = r.get('output') or {}
    c = o.get('with_customer', {})
    return (f"{c.get('cases', 0):,} cases: p50 {c.get('p50_us', 0):.1f} us, "
            f"p99 {c.get('p99_us', 0):.1f} us, max {c.get('max_us', 0):.0f} "
            f"us, {c.get('decisions_per_s', 0):,.0f}/s (train "
            f"{o.get('train_s', 0):.1f} s)")
def eval_result(r):
    o = r.get('output') or {}
    a = o.get('accuracy_only', {})
    return (f"{o.get('cases', 0):,} cases: HR@3 {o.get('hr@3', 0):.4f}, "
            f"NDCG@3 {o.get('ndcg@3', 0):.4f}, margin capture "
            f"{o.get('margin_capture', 0):.4f} (accuracy-only HR@3 "
            f"{a.get('hr@3', 0):.4f}, capture "
            f"{a.get('margin_capture', 0):.4f})")

row(f'import {or_name} (uci)', res['import_online_retail'],
    import_result(res['import_online_retail']))
row(f'train {or_name}', res['train_online_retail'],
    train_result(res['train_online_retail']))
row(f'bench_decide {or_name}', res['decide_online_retail'],
    decide_result(res['decide_online_retail']))
row(f'eval {or_name}', res['eval_online_retail'],
    eval_result(res['eval_online_retail']))
row(f'eval {gr_name}', res['eval_groceries'],
    eval_result(res['eval_groceries']))
if scale:
    s = res['scale']
    if 'generate' in s:
        g = s['generate'].get('output') or {}
        row(f'gen_grocer ({scale})', s['generate'],
            f"{g.get('baskets', 0):,} baskets, "
            f"{g.get('bytes', 0) / 1e6:,.0f} MB")
    row(f'import grocer {scale} (lines)', s['import'],
        import_result(s['import']))
    row(f'train grocer {scale}', s['train'], train_result(s['train']))
    row(f'bench_decide grocer {scale}', s['decide'],
        decide_result(s['decide']))
d = (res['decide_online_retail'].get('output') or {})
if d:
    print()
    print('decision latency (us), one thread, after a warm-up pass:')
    print(f"  {'pass':<44} {'cases':>7} {'p50':>8} {'p90':>8} {'p99':>8} "
          f"{'max':>9} {'per s':>9}")
    runs = [(or_name, d)]
    if scale and res['scale']['decide'].get('output'):
        runs.append((f'grocer {scale}', res['scale']['decide']['output']))
    for label, o in runs:
        for key, what in (('with_customer', 'customer'),
                          ('anonymous', 'anonymous'),
                          ('with_customer_cpu', 'customer, CPU time')):
            c = o.get(key)
            if c:
                print(f"  {label + ', ' + what:<44} {c['cases']:>7,} "
                      f"{c['p50_us']:>8.1f} {c['p90_us']:>8.1f} "
                      f"{c['p99_us']:>8.1f} {c['max_us']:>9.0f} "
                      f"{c['decisions_per_s']:>9,.0f}")
    print('  (wall clock per call; the CPU-time rows count only the time the '
          'thread ran,\n   so they leave out preemption by other processes; '
          'their per s is per CPU second)')
print()
print(f"written: {os.path.join(out, 'results.json')}")
EOF
exit "$failed"
