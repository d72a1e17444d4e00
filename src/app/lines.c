/*
 * lines.c: the normalized lines reader shared by `eval`, `simulate` and the
 * benchmarks.
 *
 * All must count the same cases as the reference script, so all read the
 * file the same way (app.h: cw_app_read_lines).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_csv.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_err.h"

enum col { C_BASKET, C_CUSTOMER, C_TS, C_SKU, C_QTY, C_PRICE, C_COST, C__N };
static const char *const col_names[C__N] = {
    "basket_id", "customer_id", "ts", "sku", "qty", "unit_price", "unit_cost",
};

/* A number as Python's float() reads one: surrounding whitespace allowed,
 * nothing else. Returns 0 or -1. */
static int parse_number(const char *s, double *out)
{
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static double number_or_nan(const char *s)
{
    double v;
    return parse_number(s, &v) == 0 ? v : NAN;
}

int cw_app_read_lines(const char *file, struct cw_dataset *ds, size_t *rows,
                      size_t *skipped, struct cw_buf *errb)
{
    struct cw_buf err = CW_BUF_INIT;
    struct cw_csv *csv = NULL;
    int rc = cw_csv_open(&csv, file, ',', &err);
    if (rc < 0)
        goto fail;
    rc = cw_csv_next(csv, &err);
    if (rc == 0) {
        rc = cw_err(&err, CW_EPARSE, "%s: empty file, expected a header", file);
        goto fail;
    }
    if (rc < 0)
        goto fail;
    long col[C__N];
    for (int i = 0; i < C__N; i++) {
        col[i] = cw_csv_col(csv, col_names[i]);
        if (col[i] < 0) {
            rc = cw_err(&err, CW_EPARSE,
                        "%s:1: missing column '%s' (the header must have "
                        "basket_id,customer_id,ts,sku,qty,unit_price,"
                        "unit_cost)",
                        file, col_names[i]);
            goto fail;
        }
    }
    *skipped = *rows = 0;
    while ((rc = cw_csv_next(csv, &err)) > 0) {
        ++*rows;
        const char *f[C__N];
        for (int i = 0; i < C__N; i++)
            f[i] = cw_csv_field(csv, (size_t)col[i], NULL);
        double qty;
        if (parse_number(f[C_QTY], &qty) < 0) {
            ++*skipped;
            continue;
        }
        rc = cw_dataset_add(ds, f[C_BASKET], f[C_CUSTOMER], f[C_TS], f[C_SKU],
                            qty, number_or_nan(f[C_PRICE]),
                            number_or_nan(f[C_COST]));
        if (rc < 0) {
            cw_err(&err, rc,
                   "%s:%ld: %s (basket_id, ts and sku must not be empty)", file,
                   cw_csv_line(csv), cw_strerror(rc));
            goto fail;
        }
    }
    if (rc < 0)
        goto fail;
    cw_csv_close(csv);
    cw_buf_release(&err);
    return 0;
fail:
    if (!strncmp(cw_buf_str(&err), "line ", 5)) /* the reader's "line N: " */
        cw_err(errb, rc, "%s:%s", file, cw_buf_str(&err) + 5);
    else
        cw_err(errb, rc, "%s", err.len ? cw_buf_str(&err) : cw_strerror(rc));
    cw_csv_close(csv);
    cw_buf_release(&err);
    return rc;
}
