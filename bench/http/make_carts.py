#!/usr/bin/env python3
"""make_carts.py: the test-case carts of BENCHMARK.md section 1 as decide
request bodies, for the HTTP benchmark (section 3).

usage: make_carts.py INPUT CARTS_OUT TRAIN_OUT

INPUT      normalized lines CSV (basket_id,customer_id,ts,sku,qty,unit_price,
           unit_cost; plain, gzip or xz), or a UCI Online Retail export
           (InvoiceNo,StockCode,...), which is first put through the rule of
           shared/bench/prep.py (invoice and stock code start with a digit).
CARTS_OUT  one POST /v1/decide body per line (JSON), one per test case.
TRAIN_OUT  the train split as normalized lines, for `cartwise import
           --format lines` (the model the server answers with).

The split and the cases are those of src/core/eval.c, mode `last`: a row
whose qty is not a number is skipped, qty <= 0 ignored; a basket's time is
its smallest ts, baskets sorted by (time, basket_id), the first
floor(0.8 N) are train; the universe is the train SKUs; a test case is a
test basket's distinct universe SKUs in order of first occurrence (at least
2), the last one hidden, the others the cart (qty 1, at most 250 lines); the
customer is the one of the basket's first kept line. Prints the counts.
"""
import csv
import gzip
import json
import lzma
import sys

HEADER = ["basket_id", "customer_id", "ts", "sku", "qty", "unit_price", "unit_cost"]
CART_MAX = 250


def open_text(path):
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(path, "rt", newline="", encoding="utf-8")
    return open(path, newline="", encoding="utf-8")


def rows(path):
    """Normalized rows (dicts with HEADER keys), in file order."""
    with open_text(path) as f:
        r = csv.DictReader(f)
        if "InvoiceNo" in (r.fieldnames or []):  # UCI export: prep.py's rule
            for u in r:
                inv, sku = u["InvoiceNo"], u["StockCode"]
                if not inv[:1].isdigit() or not sku[:1].isdigit():
                    continue
                yield {"basket_id": inv, "customer_id": u["CustomerID"],
                       "ts": u["InvoiceDate"], "sku": sku, "qty": u["Quantity"],
                       "unit_price": u["UnitPrice"], "unit_cost": ""}
        else:
            missing = [c for c in HEADER if c not in (r.fieldnames or [])]
            if missing:
                sys.exit(f"make_carts.py: {path}: missing column {missing[0]!r}")
            for row in r:
                yield {c: row[c] for c in HEADER}


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    src, carts_out, train_out = argv[1:]
    all_rows = []
    baskets = {}  # id -> [min ts, customer, [skus in file order]]
    for row in rows(src):
        all_rows.append(row)
        try:
            q = float(row["qty"])
        except ValueError:
            continue
        if not q > 0:
            continue
        b = baskets.get(row["basket_id"])
        if b is None:
            b = baskets[row["basket_id"]] = [row["ts"], row["customer_id"], []]
        elif row["ts"] < b[0]:
            b[0] = row["ts"]
        b[2].append(row["sku"])
    order = sorted(baskets, key=lambda k: (baskets[k][0], k))
    cut = len(order) * 8 // 10
    train = set(order[:cut])
    universe = {s for k in order[:cut] for s in baskets[k][2]}

    n_cases = 0
    with open(carts_out, "w") as out:
        for k in order[cut:]:
            seen, skus = set(), []
            for s in baskets[k][2]:
                if s in universe and s not in seen:
                    seen.add(s)
                    skus.append(s)
            if len(skus) < 2:
                continue
            cart = skus[:-1][:CART_MAX]
            body = {"session_id": f"bench-{k}", "placement": "cart",
                    "cart": [{"sku": s, "qty": 1} for s in cart], "k": 3}
            if baskets[k][1]:
                body["customer_id"] = baskets[k][1]
            out.write(json.dumps(body, separators=(",", ":")) + "\n")
            n_cases += 1

    with open(train_out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for row in all_rows:
            if row["basket_id"] in train:
                w.writerow([row[c] for c in HEADER])
    print(json.dumps({"baskets": len(order), "train_baskets": cut,
                      "items": len(universe), "cases": n_cases}))


if __name__ == "__main__":
    main(sys.argv)
