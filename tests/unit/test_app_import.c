/*
 * test_app_import.c: cw_app_import_file against real SQLite stores.
 *
 * Records wait CW_APP_IMPORT_BATCH at a time before the store sees them, so
 * these tests put the interesting rows on either side of a batch boundary:
 * the new-record counts must match what the store holds, records repeated
 * across batches must count once, and a record the store refuses (a
 * trigger, added through a raw connection) must be named with its own file
 * line even though its batch was written many rows later, with nothing at
 * all written. Each test gets a store file and CSV files in a mkdtemp
 * directory, removed in the teardown, which also checks that every cw_*
 * allocation was freed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_import.h"
#include "cartwise/cw_store.h"
#include "testutil.h"

enum { B = CW_APP_IMPORT_BATCH };

struct fx {
    long live;
    char dir[256];
    char db[512];
    struct cw_store *s;
    struct cw_buf err;
};

static int setup(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    f.live = cw_alloc_live();
    const char *tmp = getenv("TMPDIR");
    snprintf(f.dir, sizeof(f.dir), "%s/cw_app_import_XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f.dir))
        return -1;
    snprintf(f.db, sizeof(f.db), "%s/cartwise.db", f.dir);
    if (cw_store_open(&f.s, f.db, &f.err) < 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    cw_store_close(f->s);
    cw_buf_release(&f->err);
    tu_remove_dir(f->dir);
    assert_int_equal(cw_alloc_live(), f->live);
    return 0;
}

/* Runs sql on a connection of its own (the store's stays open). */
static void sql_exec(struct fx *f, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static struct cw_store_counts counts_of(struct fx *f)
{
    struct cw_store_counts c;
    assert_int_equal(f->s->ops->counts(f->s, &c, NULL), 0);
    return c;
}

static void assert_counts_equal(struct cw_store_counts a,
                                struct cw_store_counts b)
{
    assert_int_equal(a.products, b.products);
    assert_int_equal(a.customers, b.customers);
    assert_int_equal(a.orders, b.orders);
    assert_int_equal(a.lines, b.lines);
    assert_int_equal(a.returns, b.returns);
}

static FILE *create(struct fx *f, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    return fp;
}

/* A catalog of n products, P0..P<n-1> at file lines 2..n+1, except that
 * the product of row `refused` (if < n) is called REFUSED and row `bad` (if
 * < n) has a price that does not parse. */
static void catalog(struct fx *f, const char *name, int n, int refused, int bad,
                    char *path, size_t size)
{
    FILE *fp = create(f, name, path, size);
    fputs("sku,title,price\n", fp);
    for (int i = 0; i < n; i++) {
        if (i == refused)
            fprintf(fp, "REFUSED,Refused,1.00\n");
        else
            fprintf(fp, "P%d,Product %d,%s\n", i, i, i == bad ? "abc" : "1.00");
    }
    fclose(fp);
}

static int import(struct fx *f, const char *path, enum cw_import_format fmt,
                  const char *currency, int skip_bad,
                  struct cw_app_import_result *r)
{
    struct cw_import_opts o = {skip_bad, currency, NULL, NULL};
    cw_buf_reset(&f->err);
    return cw_app_import_file(f->s, path, fmt, &o, r, &f->err);
}

/* Orders, lines and returns over three batches: the counts of new records
 * are what the store holds, and a second import adds nothing. */
static void test_counts_across_batches(void **state)
{
    struct fx *f = *state;
    char path[600];
    FILE *fp = create(f, "lines.csv", path, sizeof(path));
    fputs("basket_id,customer_id,ts,sku,qty,unit_price,unit_cost\n", fp);
    /* 1,000 baskets of 3 rows: a line of a sku of its own (with a cost),
     * a line of a shared one and a return of that one */
    enum { BASKETS = 1000 };
    for (int i = 0; i < BASKETS; i++) {
        fprintf(fp, "O%d,C%d,2020-01-01 10:00:%02d,S%d,2,3.00,1.00\n", i, i % 7,
                i % 60, i);
        fprintf(fp, "O%d,C%d,2020-01-01 10:00:%02d,SHARED,1,5.00,\n", i, i % 7,
                i % 60);
        fprintf(fp, "O%d,C%d,2020-01-01 10:00:%02d,SHARED,-1,5.00,\n", i, i % 7,
                i % 60);
    }
    fclose(fp);
    /* products (1,001) + orders + lines + returns: over three batches */
    assert_true(BASKETS + 1 + 4 * BASKETS > 3 * B);

    struct cw_app_import_result r;
    assert_int_equal(import(f, path, CW_IMPORT_LINES, NULL, 0, &r), 0);
    assert_int_equal(r.stats.rows, 3 * BASKETS);
    assert_int_equal(r.stats.products, BASKETS + 1);
    assert_int_equal(r.stats.orders, BASKETS);
    assert_int_equal(r.stats.lines, 2 * BASKETS);
    assert_int_equal(r.stats.returns, BASKETS);
    assert_int_equal(r.new_products, BASKETS + 1);
    assert_int_equal(r.new_orders, BASKETS);
    assert_int_equal(r.new_lines, 2 * BASKETS);
    assert_int_equal(r.new_returns, BASKETS);
    assert_int_equal(r.products_no_cost, 1); /* SHARED */
    struct cw_store_counts c = counts_of(f);
    assert_int_equal(c.products, BASKETS + 1);
    assert_int_equal(c.orders, BASKETS);
    assert_int_equal(c.lines, 2 * BASKETS);
    assert_int_equal(c.returns, BASKETS);
    assert_int_equal(c.customers, 7);

    /* again: the same read, nothing new, nothing more stored */
    assert_int_equal(import(f, path, CW_IMPORT_LINES, NULL, 0, &r), 0);
    assert_int_equal(r.stats.rows, 3 * BASKETS);
    assert_int_equal(r.stats.orders, BASKETS);
    assert_int_equal(
        r.new_products + r.new_orders + r.new_lines + r.new_returns, 0);
    assert_counts_equal(counts_of(f), c);
}

/* A product repeated in the next batch is read twice but added once; a
 * file of exactly one batch is written whole. */
static void test_repeat_across_boundary(void **state)
{
    struct fx *f = *state;
    char path[600];
    FILE *fp = create(f, "catalog.csv", path, sizeof(path));
    fputs("sku,price\n", fp);
    for (int i = 0; i < B + 10; i++)
        fprintf(fp, "P%d,1.00\n", i == B + 5 ? 3 : i); /* row B+5: P3 again */
    fclose(fp);
    struct cw_app_import_result r;
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 0, &r), 0);
    assert_int_equal(r.stats.products, B + 10);
    assert_int_equal(r.new_products, B + 9);
    assert_int_equal(counts_of(f).products, B + 9);

    catalog(f, "one_batch.csv", B, -1, -1, path, sizeof(path));
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 0, &r), 0);
    assert_int_equal(r.stats.products, B);
    assert_int_equal(r.new_products, 0); /* P0..P<B-1> were all there */
    catalog(f, "more.csv", B, -1, -1, path, sizeof(path));
    sql_exec(f, "DELETE FROM products");
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 0, &r), 0);
    assert_int_equal(r.new_products, B);
    assert_int_equal(counts_of(f).products, B);
}

/* Imports a catalog of n rows whose row `refused` the store refuses and
 * checks that the error names that row's file line and that nothing of the
 * file was written. */
static void refused_at(struct fx *f, int n, int refused, int bad)
{
    char path[600], want[800];
    catalog(f, "refused.csv", n, refused, bad, path, sizeof(path));
    struct cw_store_counts before = counts_of(f);
    struct cw_app_import_result r;
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 0, &r),
                     CW_ESTORE);
    snprintf(want, sizeof(want),
             "%s:%d: cannot store product 'REFUSED': storage error (product "
             "'REFUSED': refused by a trigger)",
             path, refused + 2);
    assert_string_equal(cw_buf_str(&f->err), want);
    assert_counts_equal(counts_of(f), before);
}

/* A refused record is named with its own line: early in a batch written
 * a thousand rows later, last of a batch, first of the next (written when
 * the file ends), and in the last, short batch. Nothing is written, the
 * batches before it included. */
static void test_refused_named_by_its_line(void **state)
{
    struct fx *f = *state;
    char path[600];
    /* products that were there before: their count must not move */
    struct cw_app_import_result r;
    catalog(f, "before.csv", 5, -1, -1, path, sizeof(path));
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 0, &r), 0);
    assert_int_equal(counts_of(f).products, 5);
    sql_exec(f, "CREATE TRIGGER refuse BEFORE INSERT ON products "
                "WHEN NEW.sku = 'REFUSED' BEGIN "
                "SELECT RAISE(ABORT, 'refused by a trigger'); END");
    refused_at(f, 2 * B + 100, 10, -1);
    refused_at(f, 2 * B + 100, B - 1, -1);
    refused_at(f, B + 1, B, -1);
    refused_at(f, 2 * B + 100, 2 * B + 50, -1);
    /* the store still takes a file without it */
    catalog(f, "good.csv", 2 * B + 100, -1, -1, path, sizeof(path));
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 0, &r), 0);
    assert_int_equal(r.new_products, 2 * B + 95); /* P0..P4 were there */
    assert_int_equal(counts_of(f).products, 2 * B + 100);
}

/* The parser stops at a malformed row while a refused record still waits
 * in its batch: the refused one comes first in the file and is the error
 * reported, not the malformed row. A malformed row alone is the parser's
 * "FILE:LINE:COL: ..." and writes nothing either. */
static void test_refused_before_malformed(void **state)
{
    struct fx *f = *state;
    sql_exec(f, "CREATE TRIGGER refuse BEFORE INSERT ON products "
                "WHEN NEW.sku = 'REFUSED' BEGIN "
                "SELECT RAISE(ABORT, 'refused by a trigger'); END");
    refused_at(f, B + 100, B + 10, B + 20);
    refused_at(f, 100, 10, 20);

    char path[600];
    catalog(f, "bad.csv", B + 100, -1, B + 20, path, sizeof(path));
    struct cw_app_import_result r;
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 0, &r),
                     CW_EPARSE);
    char want[700];
    snprintf(want, sizeof(want), "%s:%d:", path, B + 22);
    assert_non_null(strstr(cw_buf_str(&f->err), want));
    assert_int_equal(counts_of(f).products, 0);

    /* skipped instead: the rest goes in, err names the skipped row */
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 1, &r), 0);
    assert_int_equal(r.stats.skipped, 1);
    assert_int_equal(r.new_products, B + 99);
    assert_non_null(strstr(cw_buf_str(&f->err), want));
    assert_int_equal(counts_of(f).products, B + 99);
}

static void assert_currency(struct fx *f, const char *want)
{
    char *cur = NULL;
    assert_int_equal(f->s->ops->meta_get(f->s, "currency", &cur, NULL), 0);
    assert_string_equal(cur, want);
    cw_free(cur);
}

/* The currency remembered: the records' first when none was stored, the
 * stored one kept when none is given, the one given always. */
static void test_currency_remembered(void **state)
{
    struct fx *f = *state;
    char path[600];
    FILE *fp = create(f, "eur.csv", path, sizeof(path));
    fputs("sku,price,currency\nA,1.00,EUR\nB,100,JPY\n", fp);
    fclose(fp);
    struct cw_app_import_result r;
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 0, &r), 0);
    assert_currency(f, "EUR");

    fp = create(f, "jpy.csv", path, sizeof(path));
    fputs("sku,price,currency\nC,100,JPY\n", fp);
    fclose(fp);
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, NULL, 0, &r), 0);
    assert_currency(f, "EUR");
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, "GBP", 0, &r), 0);
    assert_currency(f, "GBP");

    /* a failed import remembers nothing */
    catalog(f, "bad.csv", 3, -1, 1, path, sizeof(path));
    assert_int_equal(import(f, path, CW_IMPORT_CATALOG, "CHF", 0, &r),
                     CW_EPARSE);
    assert_currency(f, "GBP");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_counts_across_batches),     T(test_repeat_across_boundary),
        T(test_refused_named_by_its_line), T(test_refused_before_malformed),
        T(test_currency_remembered),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
