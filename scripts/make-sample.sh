#!/usr/bin/env bash
# make-sample.sh: regenerate data/sample/online_retail_sample.csv.gz and the
# test fixtures in tests/data from the full datasets in ../shared/data (see
# data/sample/SOURCE.md and tests/data/README.md).
#
# The sample keeps every line (sales, cancellations, non-product codes,
# duplicates, as published and byte for byte) of a deterministic subset of
# invoices, in the original file order:
#   - invoices of customers with CustomerID % 6 == 0 (whole histories), and
#   - guest invoices (empty CustomerID) whose invoice number, with any letter
#     prefix (C, A) removed, is divisible by 12.
# It then prints the counts that SOURCE.md quotes.
#
# The fixtures are cut the way shared/bench/prep.py normalizes data (the
# normalized lines format of BENCHMARK.md):
#   - lines_small.csv: the sample's lines whose invoice and stock code start
#     with a digit, whole baskets in file order while the total stays <= 3000;
#   - groceries_small.csv: the first 1500 baskets of groceries.csv.
#
# usage: scripts/make-sample.sh [DATA_DIR]   (default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."

data=${1:-../shared/data}
retail=$data/online_retail/online_retail_2010_2011.csv.xz
groceries=$data/groceries/groceries.csv.xz
out=data/sample/online_retail_sample.csv.gz
for f in "$retail" "$groceries"; do
    if [ ! -f "$f" ]; then
        echo "make-sample.sh: $f not found (the full datasets live in shared/data)" >&2
        exit 1
    fi
done
mkdir -p data/sample tests/data

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# Lines are copied verbatim; the file has no embedded newlines, so one
# physical line is one record.
xz -dc "$retail" | python3 -c '
import csv, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
out.write(inp.readline())
for raw in inp:
    row = next(csv.reader([raw.decode("utf-8")]))
    inv, cust = row[0], row[6]
    if cust:
        keep = int(cust) % 6 == 0
    else:
        keep = int("".join(c for c in inv if c.isdigit())) % 12 == 0
    if keep:
        out.write(raw)
' >"$tmp"
gzip -9n <"$tmp" >"$out"

python3 - "$tmp" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
inv = {r["InvoiceNo"] for r in rows}
canc = {i for i in inv if i.startswith("C")}
guest = [r for r in rows if not r["CustomerID"]]
prep = [r for r in rows
        if r["InvoiceNo"][:1].isdigit() and r["StockCode"][:1].isdigit()]
print("rows", len(rows))
print("invoices", len(inv), "cancellation invoices", len(canc),
      "cancellation lines", sum(1 for r in rows if r["InvoiceNo"] in canc))
print("negative-quantity lines", sum(1 for r in rows if int(r["Quantity"]) < 0))
print("guest invoices", len({r["InvoiceNo"] for r in guest}),
      "guest lines", len(guest))
print("customers", len({r["CustomerID"] for r in rows} - {""}))
print("stock codes", len({r["StockCode"] for r in rows}))
print("countries", len({r["Country"] for r in rows}))
print("dates", min(r["InvoiceDate"] for r in rows), "..",
      max(r["InvoiceDate"] for r in rows))
print("prep.py rule: lines", len(prep),
      "baskets", len({r["InvoiceNo"] for r in prep}),
      "skus", len({r["StockCode"] for r in prep}))
EOF
echo "wrote $out ($(wc -c <"$out") bytes)"

python3 - "$tmp" >tests/data/lines_small.csv <<'EOF'
import csv, sys
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["basket_id", "customer_id", "ts", "sku", "qty", "unit_price",
            "unit_cost"])
baskets, order = {}, []
for r in csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")):
    inv, sku = r["InvoiceNo"], r["StockCode"]
    if not inv[:1].isdigit() or not sku[:1].isdigit():
        continue
    if inv not in baskets:
        baskets[inv] = []
        order.append(inv)
    baskets[inv].append([inv, r["CustomerID"], r["InvoiceDate"], sku,
                         r["Quantity"], r["UnitPrice"], ""])
total = 0
for inv in order:
    if total + len(baskets[inv]) > 3000:
        break
    total += len(baskets[inv])
    w.writerows(baskets[inv])
EOF

xz -dc "$groceries" | python3 -c '
import csv, sys
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["basket_id", "customer_id", "ts", "sku", "qty", "unit_price",
            "unit_cost"])
for i, row in enumerate(csv.reader(sys.stdin)):
    if i >= 1500:
        continue  # read on: an early exit would SIGPIPE xz
    for it in row:
        if it.strip():
            w.writerow([i, "", f"{i:08d}", it.strip(), 1, "", ""])
' >tests/data/groceries_small.csv

for f in tests/data/lines_small.csv tests/data/groceries_small.csv; do
    echo "wrote $f ($(($(wc -l <"$f") - 1)) lines)"
done
