/*
 * test_import.c: every import format against hand-written fixtures in
 * tests/data/import/, good and bad. A recording sink writes each record as
 * one text line, so a test states exactly what a file must produce; the bad
 * fixtures hold one fault per row and are read twice: without skip_bad (the
 * first fault's "FILE:LINE:COL: what (value 'x')" ends the run) and with it
 * (every faulty row counted and skipped, the good ones still imported). When
 * the UCI Online Retail file of the shared data is present, the full year is
 * imported and its counts checked against the published figures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_csv.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_import.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"

struct rec {
    struct cw_buf out; /* one line per record */
    int fail_at;       /* fail the n-th record (1-based); 0 never */
    int seen;
    struct cw_intern return_invoices; /* for the UCI counts */
    int count_only;
};

struct fx {
    long live;
    struct cw_buf err;
    struct rec rec;
    struct cw_import_sink sink;
    struct cw_import_opts opts;
    struct cw_import_stats st;
    char path[512];
};

static const char *s_(const char *s)
{
    return s ? s : "~";
}

static const char *m_(int64_t v, char *buf)
{
    if (v == CW_MONEY_UNKNOWN)
        return "?";
    snprintf(buf, 32, "%lld", (long long)v);
    return buf;
}

static int fail_now(struct rec *r)
{
    return ++r->seen == r->fail_at ? CW_ESTORE : 0;
}

static int on_product(void *ctx, const struct cw_product_rec *p)
{
    struct rec *r = ctx;
    char a[32], b[32];
    if (!r->count_only)
        cw_buf_addf(&r->out, "P %s|%s|%s|%s|%s|%s|%s|%s|%s|%lld|%u|%d|%d\n",
                    p->sku, s_(p->group), s_(p->title), s_(p->category),
                    s_(p->currency), s_(p->attributes), s_(p->tier_group),
                    m_(p->price, a), m_(p->cost, b), (long long)p->inventory,
                    p->flags, p->tier_level, p->pack_size);
    return fail_now(r);
}

static int on_order(void *ctx, const struct cw_order_rec *o)
{
    struct rec *r = ctx;
    if (!r->count_only)
        cw_buf_addf(&r->out, "O %s|%s|%s|%s|%lld|%lld\n", o->id,
                    s_(o->customer), s_(o->ts), s_(o->currency),
                    (long long)o->shipping, (long long)o->discount);
    return fail_now(r);
}

static int on_line(void *ctx, const struct cw_line_rec *l)
{
    struct rec *r = ctx;
    char a[32], b[32];
    if (!r->count_only)
        cw_buf_addf(&r->out, "L %s|%d|%s|%lld|%s|%s|%lld\n", l->order_id,
                    l->line_no, l->sku, (long long)l->qty, m_(l->unit_price, a),
                    m_(l->unit_cost, b), (long long)l->discount);
    return fail_now(r);
}

static int on_return(void *ctx, const struct cw_return_rec *x)
{
    struct rec *r = ctx;
    if (r->count_only) {
        const char *colon = strchr(x->id, ':');
        assert_non_null(colon);
        cw_intern_add(&r->return_invoices, x->id, (size_t)(colon - x->id),
                      NULL);
    } else {
        cw_buf_addf(&r->out, "R %s|%s|%s|%s|%s|%lld|%lld\n", x->id,
                    s_(x->order_id), s_(x->customer), x->sku, s_(x->ts),
                    (long long)x->qty, (long long)x->amount);
    }
    return fail_now(r);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->live = cw_alloc_live();
    cw_buf_init(&f->err, 0);
    cw_buf_init(&f->rec.out, 0);
    cw_intern_init(&f->rec.return_invoices);
    f->sink.ctx = &f->rec;
    f->sink.product = on_product;
    f->sink.order = on_order;
    f->sink.line = on_line;
    f->sink.ret = on_return;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    cw_buf_release(&f->err);
    cw_buf_release(&f->rec.out);
    cw_intern_release(&f->rec.return_invoices);
    assert_int_equal(cw_alloc_live(), f->live);
    free(f);
    return 0;
}

static const char *fixture(struct fx *f, const char *name)
{
    const char *dir = getenv("CW_TEST_DATA");
    snprintf(f->path, sizeof(f->path), "%s/import/%s", dir ? dir : "tests/data",
             name);
    return f->path;
}

/* Imports fixture name as format; returns the run's code. */
static int import_file(struct fx *f, const char *format, const char *name)
{
    struct cw_csv *c;
    int fmt = cw_import_format_from_name(format);
    assert_true(fmt >= 0);
    cw_buf_reset(&f->rec.out);
    cw_buf_reset(&f->err);
    assert_int_equal(cw_csv_open(&c, fixture(f, name), 0, &f->err), 0);
    int rc = cw_import_run((enum cw_import_format)fmt, c, &f->opts, &f->sink,
                           &f->st, &f->err);
    cw_csv_close(c);
    return rc;
}

static int import_mem(struct fx *f, const char *format, const char *data)
{
    struct cw_csv *c;
    int fmt = cw_import_format_from_name(format);
    assert_true(fmt >= 0);
    cw_buf_reset(&f->rec.out);
    cw_buf_reset(&f->err);
    char delim = fmt == CW_IMPORT_GMC ? '\t' : ',';
    assert_int_equal(cw_csv_open_mem(&c, data, strlen(data), delim, &f->err),
                     0);
    int rc = cw_import_run((enum cw_import_format)fmt, c, &f->opts, &f->sink,
                           &f->st, &f->err);
    cw_csv_close(c);
    return rc;
}

/* Asserts err is "<fixture path>:<where>". */
static void expect_err(struct fx *f, const char *where)
{
    char want[768];
    snprintf(want, sizeof(want), "%s:%s", f->path, where);
    assert_string_equal(cw_buf_str(&f->err), want);
}

static void expect_stats(const struct cw_import_stats *s, uint64_t rows,
                         uint64_t products, uint64_t orders, uint64_t lines,
                         uint64_t returns, uint64_t skipped, uint64_t ignored,
                         uint64_t no_cost)
{
    assert_int_equal(s->rows, rows);
    assert_int_equal(s->products, products);
    assert_int_equal(s->orders, orders);
    assert_int_equal(s->lines, lines);
    assert_int_equal(s->returns, returns);
    assert_int_equal(s->skipped, skipped);
    assert_int_equal(s->ignored, ignored);
    assert_int_equal(s->no_cost, no_cost);
}

/* ---- format table ------------------------------------------------------ */

static void test_format_names(void **state)
{
    struct fx *f = *state;
    const char *want[] = {"catalog",          "gmc", "lines", "shopify-orders",
                          "shopify-products", "uci"};
    assert_int_equal(CW_IMPORT__COUNT, 6);
    for (int i = 0; i < CW_IMPORT__COUNT; i++) {
        assert_string_equal(cw_import_format_name(i), want[i]);
        assert_int_equal(cw_import_format_from_name(want[i]), i);
        assert_true(strlen(cw_import_format_desc(i)) > 5);
        if (i)
            assert_true(strcmp(want[i - 1], want[i]) < 0);
        /* every format is wired: an empty input fails on its header */
        assert_int_equal(import_mem(f, want[i], ""), CW_EPARSE);
        assert_string_equal(cw_buf_str(&f->err),
                            "<memory>:1: empty file, no header row");
    }
    assert_int_equal(cw_import_format_from_name("Shopify"), -1);
    assert_int_equal(cw_import_format_from_name(NULL), -1);
    assert_int_equal(
        cw_import_run(CW_IMPORT__COUNT, NULL, NULL, NULL, NULL, &f->err),
        CW_EINVAL);
}

static void test_missing_columns(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *format, *header, *missing;
    } cases[] = {
        {"lines", "basket_id,ts,sku,unit_price\n", "qty"},
        {"uci", "InvoiceNo,StockCode,Quantity,InvoiceDate,CustomerID\n",
         "UnitPrice"},
        {"catalog", "sku,title,cost\n", "price"},
        {"catalog", "SKU,price\n", "sku"},
        {"shopify-products", "Handle,Title,Variant Price\n", "Variant SKU"},
        {"shopify-orders", "Name,Email,Lineitem quantity,Lineitem price\n",
         "Created at"},
        {"gmc", "id\ttitle\n", "price"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char want[128];
        assert_int_equal(import_mem(f, cases[i].format, cases[i].header),
                         CW_EPARSE);
        snprintf(want, sizeof(want), "<memory>:1: missing column '%s'",
                 cases[i].missing);
        assert_string_equal(cw_buf_str(&f->err), want);
        assert_int_equal(f->rec.out.len, 0);
    }
    /* a TSV feed read as CSV gets a hint */
    struct cw_csv *c;
    const char *tsv = "id\tprice\nA\t1.00 USD\n";
    assert_int_equal(cw_csv_open_mem(&c, tsv, strlen(tsv), ',', &f->err), 0);
    assert_int_equal(cw_import_run(CW_IMPORT_GMC, c, NULL, NULL, NULL, &f->err),
                     CW_EPARSE);
    assert_string_equal(cw_buf_str(&f->err),
                        "<memory>:1: missing column 'id' (the header has "
                        "tabs: read the file as tsv)");
    cw_csv_close(c);
    /* the same from a file, and skip_bad does not change it */
    f->opts.skip_bad = 1;
    assert_int_equal(import_file(f, "lines", "lines_missing_qty.csv"),
                     CW_EPARSE);
    expect_err(f, "1: missing column 'qty'");
}

/* ---- lines --------------------------------------------------------------- */

static void test_lines(void **state)
{
    struct fx *f = *state;
    f->opts.currency = "EUR";
    assert_int_equal(import_file(f, "lines", "lines.csv"), 0);
    assert_string_equal(
        cw_buf_str(&f->rec.out),
        "P S1|~|~|~|EUR|~|~|250|100|-1|0|0|1\n"
        "O B1|C1|2011-01-02 10:00:00|EUR|0|0\n"
        "L B1|1|S1|2|250|100|0\n"
        "P S2|~|~|~|EUR|~|~|1000|?|-1|0|0|1\n"
        "L B1|2|S2|1|1000|?|0\n"
        "O B2|~|2011-01-03 09:00:00|EUR|0|0\n"
        "L B2|3|S1|3|256|?|0\n" /* 2.555 rounds half away from zero */
        "R B1:5|B1|C1|S2|2011-01-05 12:00:00|1|1000\n"
        "P whole milk|~|~|~|EUR|~|~|?|?|-1|0|0|1\n"
        "O 7|~|00000007|EUR|0|0\n"
        "L 7|6|whole milk|1|?|?|0\n");
    /* rows: 6 (blank line not counted); S3 has qty 0: ignored, no product */
    expect_stats(&f->st, 6, 3, 3, 4, 1, 0, 1, 5);
}

static void test_lines_by_header_name(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_file(f, "lines", "lines_reordered.csv"), 0);
    assert_string_equal(cw_buf_str(&f->rec.out),
                        "P S1|~|~|~|USD|~|~|250|?|-1|0|0|1\n"
                        "O B1|~|2011-01-02 10:00:00|USD|0|0\n"
                        "L B1|1|S1|2|250|?|0\n"
                        "P S2|~|~|~|USD|~|~|?|?|-1|0|0|1\n"
                        "L B1|2|S2|1|?|?|0\n");
}

static void test_lines_bad(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_file(f, "lines", "lines_bad.csv"), CW_EPARSE);
    expect_err(f, "2:5: bad quantity (value 'two')");
    assert_int_equal(f->rec.out.len, 0);
    assert_int_equal(f->st.skipped, 0);

    f->opts.skip_bad = 1;
    assert_int_equal(import_file(f, "lines", "lines_bad.csv"), 0);
    assert_string_equal(cw_buf_str(&f->rec.out),
                        "P S1|~|~|~|USD|~|~|250|100|-1|0|0|1\n"
                        "O B1|C1|2011-01-02 10:00:00|USD|0|0\n"
                        "L B1|8|S1|2|250|100|0\n");
    expect_stats(&f->st, 8, 1, 1, 1, 0, 7, 0, 0);
    /* the first skipped row's message is kept */
    expect_err(f, "2:5: bad quantity (value 'two')");

    /* each fault on its own, in file order */
    static const char *const faults[] = {
        "3:5: bad quantity (value '2.5')",
        "4:6: negative unit price (value '-2.50')",
        "5:7: negative unit cost (value '-1')",
        "6:1: empty basket id",
        "7:4: empty sku",
        "8:3: empty ts",
    };
    f->opts.skip_bad = 0;
    struct cw_buf data = CW_BUF_INIT;
    FILE *fp = fopen(fixture(f, "lines_bad.csv"), "rb");
    assert_non_null(fp);
    char line[256];
    assert_non_null(fgets(line, sizeof(line), fp));
    char *header = cw_strdup(line);
    assert_non_null(fgets(line, sizeof(line), fp)); /* first fault: above */
    for (size_t i = 0; i < sizeof(faults) / sizeof(*faults); i++) {
        assert_non_null(fgets(line, sizeof(line), fp));
        cw_buf_reset(&data);
        cw_buf_adds(&data, header);
        /* pad with good rows so the fault keeps its line number */
        for (size_t k = 0; k <= i; k++)
            cw_buf_adds(&data, "B0,,2011-01-01 00:00:00,S0,1,1.00,\n");
        cw_buf_adds(&data, line);
        assert_int_equal(import_mem(f, "lines", data.buf), CW_EPARSE);
        char want[128];
        snprintf(want, sizeof(want), "<memory>:%s", faults[i]);
        assert_string_equal(cw_buf_str(&f->err), want);
    }
    fclose(fp);
    cw_free(header);
    cw_buf_release(&data);
}

static void test_reader_errors_are_fatal(void **state)
{
    struct fx *f = *state;
    f->opts.skip_bad = 1; /* a lost quote cannot be skipped */
    assert_int_equal(import_file(f, "lines", "lines_unterminated.csv"),
                     CW_EPARSE);
    expect_err(f, "3: unterminated quote");
    /* records before the fault were delivered: the caller rolls back */
    assert_int_equal(f->st.lines, 1);

    /* an oversized row */
    struct cw_csv *c;
    const char *data =
        "sku,price\nA,1.00\nBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB,2.00\n";
    assert_int_equal(cw_csv_open_mem(&c, data, strlen(data), ',', &f->err), 0);
    cw_csv_set_row_max(c, 24);
    assert_int_equal(cw_import_run(CW_IMPORT_CATALOG, c, &f->opts, &f->sink,
                                   &f->st, &f->err),
                     CW_ETOOBIG);
    assert_string_equal(cw_buf_str(&f->err),
                        "<memory>:3: row longer than 24 bytes");
    assert_int_equal(f->st.products, 1);
    cw_csv_close(c);
}

static void test_sink_error_stops(void **state)
{
    struct fx *f = *state;
    f->rec.fail_at = 3; /* the first line record of lines.csv */
    assert_int_equal(import_file(f, "lines", "lines.csv"), CW_ESTORE);
    expect_err(f, "2: cannot store line of order 'B1': storage error");
    assert_int_equal(f->st.products, 1);
    assert_int_equal(f->st.orders, 1);
    assert_int_equal(f->st.lines, 0);
}

struct prog {
    int calls;
    uint64_t last_pos, size;
};

static void on_progress(void *ctx, uint64_t pos, uint64_t size)
{
    struct prog *p = ctx;
    assert_true(pos >= p->last_pos);
    assert_true(pos <= size);
    p->calls++;
    p->last_pos = pos;
    p->size = size;
}

static void test_progress(void **state)
{
    struct fx *f = *state;
    struct cw_buf data = CW_BUF_INIT;
    struct prog pr = {0};
    cw_buf_adds(&data, "basket_id,customer_id,ts,sku,qty,unit_price\n");
    for (int i = 0; i < 10000; i++)
        cw_buf_addf(&data, "b%d,c%d,2011-01-01 10:00:00,s%d,1,1.00\n", i / 4,
                    i % 50, i % 300);
    f->opts.progress = on_progress;
    f->opts.progress_ctx = &pr;
    f->rec.count_only = 1;
    assert_int_equal(import_mem(f, "lines", data.buf), 0);
    assert_int_equal(pr.calls, 3); /* rows 4096 and 8192, and at the end */
    assert_int_equal(pr.size, data.len);
    assert_int_equal(pr.last_pos, data.len);
    expect_stats(&f->st, 10000, 300, 2500, 10000, 0, 0, 0, 10300);
    cw_buf_release(&data);
}

/* ---- UCI ---------------------------------------------------------------- */

static void test_uci(void **state)
{
    struct fx *f = *state;
    f->opts.currency = "USD"; /* a store default never relabels pounds */
    assert_int_equal(import_file(f, "uci", "uci.csv"), 0);
    assert_string_equal(
        cw_buf_str(&f->rec.out),
        "P 85123A|~|WHITE HANGING HEART T-LIGHT HOLDER|~|GBP|~|~|255|?|-1|0|0|"
        "1\n"
        "O 536365|17850|2010-12-01 08:26:00|GBP|0|0\n"
        "L 536365|1|85123A|6|255|?|0\n"
        "P 22752|~|SET 7 BABUSHKA NESTING BOXES, RED|~|GBP|~|~|765|?|-1|0|0|"
        "1\n"
        "L 536365|3|22752|2|765|?|0\n"
        "R C536379:4|~|14527|85123A|2010-12-01 09:41:00|2|510\n"
        "P 22139|~|~|~|GBP|~|~|0|?|-1|0|0|1\n"
        "O 536414|~|2010-12-01 11:52:00|GBP|0|0\n"
        "L 536414|7|22139|56|0|?|0\n"
        "P 22041|~|RECORD FRAME 7\" SINGLE SIZE|~|GBP|~|~|211|?|-1|0|0|1\n"
        "O 536415|~|2010-12-01 11:57:00|GBP|0|0\n"
        "L 536415|8|22041|1|211|?|0\n");
    /* ignored: POST, the A adjustment, the write-off, the D discount */
    expect_stats(&f->st, 9, 4, 3, 4, 1, 0, 4, 8);
}

static void test_uci_bad(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_file(f, "uci", "uci_bad.csv"), CW_EPARSE);
    expect_err(f, "2:4: bad quantity (value 'six')");

    f->opts.skip_bad = 1;
    assert_int_equal(import_file(f, "uci", "uci_bad.csv"), 0);
    expect_stats(&f->st, 7, 1, 1, 1, 0, 6, 0, 2);
    assert_string_equal(cw_buf_str(&f->rec.out),
                        "P 85123A|~|X|~|GBP|~|~|255|?|-1|0|0|1\n"
                        "O 536369|17850|2010-12-01 08:26:00|GBP|0|0\n"
                        "L 536369|7|85123A|6|255|?|0\n");

    /* every fault, one at a time, by removing the rows before it */
    static const char *const faults[] = {
        "3:5: bad date (value '2010-13-01 08:26:00')",
        "4:6: negative unit price (value '-2.55')",
        "5:1: empty invoice number",
        "6:2: empty stock code",
        "7:6: missing unit price",
    };
    const char *hdr = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,"
                      "UnitPrice,CustomerID,Country\n";
    const char *rows[] = {
        "536366,85123A,X,6,2010-13-01 08:26:00,2.55,17850,UK\n",
        "536367,85123A,X,6,2010-12-01 08:26:00,-2.55,17850,UK\n",
        ",85123A,X,6,2010-12-01 08:26:00,2.55,17850,UK\n",
        "536368,,X,6,2010-12-01 08:26:00,2.55,17850,UK\n",
        "536368,85123A,X,6,2010-12-01 08:26:00,,17850,UK\n",
    };
    f->opts.skip_bad = 0;
    for (size_t i = 0; i < 5; i++) {
        struct cw_buf d = CW_BUF_INIT;
        char want[128];
        cw_buf_adds(&d, hdr);
        for (size_t k = 0; k <= i; k++)
            cw_buf_adds(&d, "1,2,x,1,2010-12-01 08:26:00,1,,UK\n");
        cw_buf_adds(&d, rows[i]);
        assert_int_equal(import_mem(f, "uci", d.buf), CW_EPARSE);
        snprintf(want, sizeof(want), "<memory>:%s", faults[i]);
        assert_string_equal(cw_buf_str(&f->err), want);
        cw_buf_release(&d);
    }
}

static void test_uci_retail_ii_columns(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_mem(f, "uci",
                                "Invoice,StockCode,Description,Quantity,"
                                "InvoiceDate,Price,Customer ID,Country\n"
                                "489434,85048,LED BOX,12,12/1/2009 7:45,6.95,"
                                "13085.0,United Kingdom\n"),
                     0);
    assert_string_equal(cw_buf_str(&f->rec.out),
                        "P 85048|~|LED BOX|~|GBP|~|~|695|?|-1|0|0|1\n"
                        "O 489434|13085|2009-12-01 07:45:00|GBP|0|0\n"
                        "L 489434|1|85048|12|695|?|0\n");
}

/* The full UCI Online Retail year, when the shared data is at hand. */
static void test_uci_full_year(void **state)
{
    struct fx *f = *state;
    const char *xz = "/work/shared/data/online_retail/"
                     "online_retail_2010_2011.csv.xz";
    char tmp[] = "/tmp/cw_test_uci_XXXXXX", cmd[512];
    if (access(xz, R_OK) || system("command -v xz >/dev/null 2>&1")) {
        skip();
        return;
    }
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "xz -dc '%s' > '%s'", xz, tmp);
    assert_int_equal(system(cmd), 0);
    struct cw_csv *c;
    assert_int_equal(cw_csv_open(&c, tmp, 0, &f->err), 0);
    f->rec.count_only = 1;
    int rc =
        cw_import_run(CW_IMPORT_UCI, c, &f->opts, &f->sink, &f->st, &f->err);
    cw_csv_close(c);
    unlink(tmp);
    assert_int_equal(rc, 0);
    /* SOURCE.md: 541,909 rows; 20,725 sale invoices with positive lines, of
     * which 187 hold only fees or postage; 3,836 cancellation invoices, of
     * which 3,422 cancel products */
    assert_int_equal(f->st.rows, 541909);
    assert_int_equal(f->st.orders, 20538);
    assert_int_equal(f->st.lines, 528886);
    assert_int_equal(f->st.returns, 8704);
    assert_int_equal(f->rec.return_invoices.n, 3422);
    assert_int_equal(f->st.products, 3933);
    assert_int_equal(f->st.ignored, 4319);
    assert_int_equal(f->st.skipped, 0);
}

/* ---- catalog ------------------------------------------------------------ */

static void test_catalog(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_file(f, "catalog", "catalog.csv"), 0);
    assert_string_equal(
        cw_buf_str(&f->rec.out),
        "P TEE-M-RED|TEE|Tee, red|Apparel > Tops|USD|size=M;color=red|~|1250|"
        "410|25|1|0|1\n"
        "P CASE-1|~|Phone case|Accessories|USD|~|cases|999|?|-1|10|2|1\n"
        "P INK-5|~|Ink 5-pack|Office > Ink|JPY|~|~|1500|900|0|20|3|5\n");
    expect_stats(&f->st, 3, 3, 0, 0, 0, 0, 0, 1);

    f->opts.currency = "GBP"; /* the default for rows without currency */
    assert_int_equal(import_file(f, "catalog", "catalog_min.csv"), 0);
    assert_string_equal(cw_buf_str(&f->rec.out),
                        "P A|~|~|~|GBP|~|~|150|?|-1|0|0|1\n");
}

static void test_catalog_bad(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_file(f, "catalog", "catalog_bad.csv"), CW_EPARSE);
    expect_err(f, "2:1: empty sku");

    f->opts.skip_bad = 1;
    assert_int_equal(import_file(f, "catalog", "catalog_bad.csv"), 0);
    assert_string_equal(cw_buf_str(&f->rec.out),
                        "P K|~|~|~|USD|~|~|200|?|-1|0|0|1\n");
    /* the all-empty last row is not a row */
    expect_stats(&f->st, 12, 1, 0, 0, 0, 11, 0, 1);

    static const char *const faults[] = {
        "2:1: empty sku",
        "2:2: negative price (value '-1.00')",
        "2:2: bad price (value 'abc')",
        "2:3: bad cost (value 'x1')",
        "2:4: negative inventory (value '-3')",
        "2:5: unknown flag (value 'shiny')",
        "2:6: bad attributes, want 'size=M;color=red' (value 'size')",
        "2:7: bad tier level, want 1..3 (value '7')",
        "2:8: pack size out of range (value '0')",
        "2:9: bad currency code (value 'EURO')",
        "2:2: missing price",
    };
    const char *rows[] = {
        ",1.00,,,,,,,",      "A,-1.00,,,,,,,",  "B,abc,,,,,,,",
        "C,1.00,x1,,,,,,",   "D,1.00,,-3,,,,,", "E,1.00,,,shiny,,,,",
        "F,1.00,,,,size,,,", "G,1.00,,,,,7,,",  "H,1.00,,,,,,0,",
        "I,1.00,,,,,,,EURO", "J,,,,,,,,",
    };
    f->opts.skip_bad = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
        char data[256], want[160];
        snprintf(data, sizeof(data),
                 "sku,price,cost,inventory,flags,attributes,tier_level,"
                 "pack_size,currency\n%s\n",
                 rows[i]);
        assert_int_equal(import_mem(f, "catalog", data), CW_EPARSE);
        snprintf(want, sizeof(want), "<memory>:%s", faults[i]);
        assert_string_equal(cw_buf_str(&f->err), want);
    }
}

/* ---- Shopify ------------------------------------------------------------ */

static void test_shopify_products(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_file(f, "shopify-products", "shopify_products.csv"),
                     0);
    assert_string_equal(
        cw_buf_str(&f->rec.out),
        "P TEE-S-RED|classic-tee|Classic Tee|Apparel & Accessories > "
        "Clothing > Shirts & Tops|USD|size=S;color=Red|~|1900|650|10|0|0|1\n"
        "P TEE-M-RED|classic-tee|Classic Tee|Apparel & Accessories > "
        "Clothing > Shirts & Tops|USD|size=M;color=Red|~|1900|650|0|0|0|1\n"
        "P GIFT-25|gift-card|Gift Card|Gift|USD|~|~|2500|?|-1|16|0|1\n"
        "P MUG-1|old-mug|Old Mug|Mugs|USD|~|~|850|?|3|16|0|1\n");
    expect_stats(&f->st, 5, 4, 0, 0, 0, 0, 1, 2);
}

static void test_shopify_products_bad(void **state)
{
    struct fx *f = *state;
    assert_int_equal(
        import_file(f, "shopify-products", "shopify_products_bad.csv"),
        CW_EPARSE);
    expect_err(f, "2:4: negative price (value '-19.00')");

    f->opts.skip_bad = 1;
    assert_int_equal(
        import_file(f, "shopify-products", "shopify_products_bad.csv"), 0);
    /* the title from the handle's first row still reaches TEE-6 */
    assert_string_equal(cw_buf_str(&f->rec.out),
                        "P TEE-6|tee|Tee|~|USD|~|~|1900|?|-1|0|0|1\n");
    expect_stats(&f->st, 7, 1, 0, 0, 0, 6, 0, 1);

    static const char *const faults[] = {
        "3:5: bad cost (value 'abc')", "4:3: empty sku", "5:1: empty handle",
        "6:6: bad inventory (value '2.5')", "7:4: missing price"};
    const char *rows[] = {"tee,,TEE-2,19.00,abc,", "tee,,,19.00,,",
                          ",,TEE-3,19.00,,", "tee,,TEE-4,19.00,,2.5",
                          "tee,,TEE-5,,,1"};
    f->opts.skip_bad = 0;
    for (size_t i = 0; i < 5; i++) {
        struct cw_buf d = CW_BUF_INIT;
        char want[128];
        cw_buf_adds(&d, "Handle,Title,Variant SKU,Variant Price,Cost per "
                        "item,Variant Inventory Qty\n");
        for (size_t k = 0; k <= i; k++)
            cw_buf_addf(&d, "tee,Tee,OK-%zu,1.00,,\n", k);
        cw_buf_addf(&d, "%s\n", rows[i]);
        assert_int_equal(import_mem(f, "shopify-products", d.buf), CW_EPARSE);
        snprintf(want, sizeof(want), "<memory>:%s", faults[i]);
        assert_string_equal(cw_buf_str(&f->err), want);
        cw_buf_release(&d);
    }
}

static void test_shopify_orders(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_file(f, "shopify-orders", "shopify_orders.csv"), 0);
    assert_string_equal(
        cw_buf_str(&f->rec.out),
        "O #1001|ann@example.com|2024-03-05 14:22:10|EUR|490|"
        "500\n"
        "L #1001|1|TEE-S-RED|2|1900|?|200\n"
        "L #1001|2|MUG-1|1|600|?|0\n"
        "O #1002|~|2024-03-06 09:00:00|JPY|0|0\n"
        "L #1002|3|TEA-1|3|500|?|0\n"
        "O #1003|bob@example.com|2024-03-07 10:00:00|USD|0|0\n");
    /* Refunded Amount makes no return record; the free sticker (quantity
     * 0) is ignored */
    expect_stats(&f->st, 4, 0, 3, 3, 0, 0, 1, 3);
}

static void test_shopify_orders_bad(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_file(f, "shopify-orders", "shopify_orders_bad.csv"),
                     CW_EPARSE);
    expect_err(f, "2:4: bad date (value 'yesterday')");

    f->opts.skip_bad = 1;
    assert_int_equal(import_file(f, "shopify-orders", "shopify_orders_bad.csv"),
                     0);
    assert_string_equal(cw_buf_str(&f->rec.out),
                        "O #2|b@x.com|2024-01-01 10:00:00|USD|0|0\n"
                        "O #4|d@x.com|2024-01-01 10:00:00|USD|0|0\n"
                        "L #4|9|A|1|100|?|0\n");
    /* #1's second line is skipped with its order */
    expect_stats(&f->st, 9, 0, 2, 1, 0, 8, 0, 1);

    static const char *const faults[] = {
        "4:5: bad quantity (value 'x')",
        "5:6: negative price (value '-1.00')",
        "6:7: empty sku",
        "7:1: empty order name",
        "8:5: negative quantity (value '-1')",
        "9:3: bad currency code (value 'US')",
    };
    const char *rows[] = {"#2,b@x.com,USD,2024-01-01 10:00:00,x,1.00,A",
                          "#2,,,,1,-1.00,B",
                          "#2,,,,1,1.00,",
                          ",,,,1,1.00,A",
                          "#2,,,,-1,1.00,C",
                          "#3,c@x.com,US,2024-01-01 10:00:00,1,1.00,A"};
    f->opts.skip_bad = 0;
    for (size_t i = 0; i < 6; i++) {
        struct cw_buf d = CW_BUF_INIT;
        char want[128];
        cw_buf_adds(&d, "Name,Email,Currency,Created at,Lineitem quantity,"
                        "Lineitem price,Lineitem sku\n");
        cw_buf_adds(&d, "#2,b@x.com,USD,2024-01-01 10:00:00,1,1.00,A\n");
        for (size_t k = 0; k < i + 1; k++)
            cw_buf_adds(&d, "#2,,,,1,1.00,A\n");
        cw_buf_addf(&d, "%s\n", rows[i]);
        assert_int_equal(import_mem(f, "shopify-orders", d.buf), CW_EPARSE);
        snprintf(want, sizeof(want), "<memory>:%s", faults[i]);
        assert_string_equal(cw_buf_str(&f->err), want);
        cw_buf_release(&d);
    }
}

/* ---- Google Merchant Center ---------------------------------------------- */

static void test_gmc(void **state)
{
    struct fx *f = *state;
    f->opts.currency = "EUR"; /* prices carry their own currency */
    assert_int_equal(import_file(f, "gmc", "gmc.tsv"), 0);
    assert_string_equal(
        cw_buf_str(&f->rec.out),
        "P TEE-S|TEE|Classic Tee|Apparel > Tops|USD|size=S;color=Red|~|1900|"
        "650|-1|0|0|1\n"
        "P TEE-M|TEE|Classic Tee|Apparel > Tops|USD|size=M|~|1500|?|0|0|0|1\n"
        "P MUG|~|Mug 12\" \"big\"|~|JPY|~|~|1200|?|0|0|0|1\n");
    expect_stats(&f->st, 3, 3, 0, 0, 0, 0, 0, 2);
}

static void test_gmc_bad(void **state)
{
    struct fx *f = *state;
    assert_int_equal(import_file(f, "gmc", "gmc_bad.tsv"), CW_EPARSE);
    expect_err(f, "2:2: bad price, want '15.00 USD' (value '15.00')");

    f->opts.skip_bad = 1;
    assert_int_equal(import_file(f, "gmc", "gmc_bad.tsv"), 0);
    assert_string_equal(cw_buf_str(&f->rec.out),
                        "P H|~|~|~|USD|~|~|1000|400|-1|0|0|1\n");
    expect_stats(&f->st, 9, 1, 0, 0, 0, 8, 0, 0);

    static const char *const faults[] = {
        "2:2: bad price, want '15.00 USD' (value '15.00 usd')",
        "2:2: negative price (value '-1.00 USD')",
        "2:2: bad price, want '15.00 USD' (value 'abc USD')",
        "2:3: sale price currency differs from price (value '12.00 EUR')",
        "2:4: cost currency differs from price (value '5 EUR')",
        "2:1: empty id",
        "2:2: missing price",
    };
    const char *rows[] = {
        "B\t15.00 usd\t\t",
        "C\t-1.00 USD\t\t",
        "D\tabc USD\t\t",
        "E\t15.00 USD\t12.00 EUR\t",
        "F\t15.00 USD\t\t5 EUR",
        "\t15.00 USD\t\t",
        "G\t\t\t",
    };
    f->opts.skip_bad = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
        char data[160], want[160];
        struct cw_csv *c;
        snprintf(data, sizeof(data),
                 "id\tprice\tsale_price\tcost_of_goods_sold\n%s\n", rows[i]);
        assert_int_equal(cw_csv_open_mem(&c, data, strlen(data), '\t', &f->err),
                         0);
        assert_int_equal(cw_import_run(CW_IMPORT_GMC, c, &f->opts, &f->sink,
                                       &f->st, &f->err),
                         CW_EPARSE);
        cw_csv_close(c);
        snprintf(want, sizeof(want), "<memory>:%s", faults[i]);
        assert_string_equal(cw_buf_str(&f->err), want);
    }
}

/* ---- shared checks --------------------------------------------------------
 */

static void test_dates_and_values(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"2024-03-05 14:22:10 +0100", "2024-03-05 14:22:10"},
        {"2024-03-05T14:22:10+01:00", "2024-03-05 14:22:10"},
        {"2024-03-05 14:22", "2024-03-05 14:22:00"},
        {"2024-03-05 14:22:10.123Z", "2024-03-05 14:22:10"},
        {"2024-03-05 14:22:10 UTC", "2024-03-05 14:22:10"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
        char data[256], want[128];
        snprintf(data, sizeof(data),
                 "Name,Created at,Lineitem quantity,Lineitem price,Lineitem "
                 "sku\n#1,%s,1,1.00,A\n",
                 ok[i].in);
        assert_int_equal(import_mem(f, "shopify-orders", data), 0);
        snprintf(want, sizeof(want), "O #1|~|%s|USD|0|0\n", ok[i].out);
        assert_non_null(strstr(cw_buf_str(&f->rec.out), want));
    }
    /* US dates are the UCI export's; elsewhere they are refused */
    const char *bad[] = {"12/1/2010 8:26",      "2024-3-5 14:22:10",
                         "2024-03-05",          "2024-03-32 10:00:00",
                         "2024-03-05 24:00:00", "2024-03-05 14:22:10x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char data[256];
        snprintf(data, sizeof(data),
                 "Name,Created at,Lineitem quantity,Lineitem price,Lineitem "
                 "sku\n#1,%s,1,1.00,A\n",
                 bad[i]);
        assert_int_equal(import_mem(f, "shopify-orders", data), CW_EPARSE);
        assert_non_null(strstr(cw_buf_str(&f->err), ":2:2: bad date"));
    }
    /* control characters are hidden and long values cut in messages */
    assert_int_equal(
        import_mem(f, "lines", "basket_id,ts,sku,qty\nB,t,S,\"1\n2\"\n"),
        CW_EPARSE);
    assert_string_equal(cw_buf_str(&f->err),
                        "<memory>:2:4: bad quantity (value '1?2')");
    char data[256], want[256], digits60[61];
    for (int i = 0; i < 60; i++)
        digits60[i] = (char)('a' + i % 26);
    digits60[60] = '\0';
    snprintf(data, sizeof(data), "basket_id,ts,sku,qty\nB,t,S,%sx\n", digits60);
    assert_int_equal(import_mem(f, "lines", data), CW_EPARSE);
    snprintf(want, sizeof(want),
             "<memory>:2:4: bad quantity (value '%.57s...')", digits60);
    assert_string_equal(cw_buf_str(&f->err), want);
    /* quantities: a sign is fine, a huge number is out of range */
    assert_int_equal(import_mem(f, "lines",
                                "basket_id,ts,sku,qty\nB,t,S,+3\n"
                                "B,t,S,99999999999999999999\n"),
                     CW_EPARSE);
    assert_string_equal(
        cw_buf_str(&f->err),
        "<memory>:3:4: quantity out of range (value '99999999999999999999')");
    assert_int_equal(f->st.lines, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_format_names),
        T(test_missing_columns),
        T(test_lines),
        T(test_lines_by_header_name),
        T(test_lines_bad),
        T(test_reader_errors_are_fatal),
        T(test_sink_error_stops),
        T(test_progress),
        T(test_uci),
        T(test_uci_bad),
        T(test_uci_retail_ii_columns),
        T(test_uci_full_year),
        T(test_catalog),
        T(test_catalog_bad),
        T(test_shopify_products),
        T(test_shopify_products_bad),
        T(test_shopify_orders),
        T(test_shopify_orders_bad),
        T(test_gmc),
        T(test_gmc_bad),
        T(test_dates_and_values),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
