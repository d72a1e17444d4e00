/*
 * test_server_orders.c: cw__srv_put_orders, the writes of POST /v1/orders
 * and of the Shopify order webhook, against SQLite stores.
 *
 * It writes a request's orders with two put_batch calls where it used to
 * put each record on its own. The old loop is kept here as the reference:
 * the tests run a request through both, each on a store of its own in a
 * mkdtemp directory and in a transaction as the server runs it, and compare
 * what they answered (code, message, orders inserted) and what the tables
 * hold afterwards, row by row: pseudo-random requests with orders repeated
 * within and across requests, a request over CW_STORE_BATCH_MAX records,
 * and records the store refuses. One test also states the expected rows
 * outright, so the two cannot agree on something wrong.
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

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "server/server.h"
#include "testutil.h"

/* The writes as they were before put_batch: one put per record. */
static int put_one_by_one(struct cw_store *s, const struct cw_srv_order *o,
                          size_t n, size_t *inserted, struct cw_buf *err)
{
    *inserted = 0;
    for (size_t i = 0; i < n; i++) {
        int put = s->ops->put_order(s, &o[i].o, err);
        if (put < 0)
            return put;
        if (put) {
            ++*inserted;
            for (size_t j = 0; j < o[i].n_lines; j++) {
                int rc = s->ops->put_line(s, &o[i].lines[j], err);
                if (rc < 0)
                    return rc;
            }
        }
        for (size_t j = 0; j < o[i].n_returns; j++) {
            int rc = s->ops->put_return(s, &o[i].returns[j], err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Store 0 is written by the reference, store 1 by cw__srv_put_orders. */
struct fx {
    long live;
    char dir[256];
    char db[2][512];
    struct cw_store *s[2];
};

static int setup(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    f.live = cw_alloc_live();
    const char *tmp = getenv("TMPDIR");
    snprintf(f.dir, sizeof(f.dir), "%s/cw_srv_orders_XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f.dir))
        return -1;
    for (int i = 0; i < 2; i++) {
        snprintf(f.db[i], sizeof(f.db[i]), "%s/store%d.db", f.dir, i);
        if (cw_store_open(&f.s[i], f.db[i], NULL) < 0)
            return -1;
    }
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 2; i++)
        cw_store_close(f->s[i]);
    tu_remove_dir(f->dir);
    assert_int_equal(cw_alloc_live(), f->live);
    return 0;
}

static void sql_exec(const char *db, const char *sql)
{
    sqlite3 *c;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(db, &c), SQLITE_OK);
    if (sqlite3_exec(c, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(c);
}

static int dump_row(void *ctx, int n, char **v, char **names)
{
    struct cw_buf *b = ctx;
    for (int i = 0; i < n; i++)
        cw_buf_addf(b, "%s%s", i ? "|" : "", v[i] ? v[i] : "NULL");
    cw_buf_addch(b, '\n');
    return 0;
}

/* Every row the orders write (orders.created_at, the wall clock, aside). */
static void dump(const char *db, struct cw_buf *out)
{
    static const char *const q[] = {
        "SELECT id, customer_id, ts, currency, shipping, discount FROM orders "
        "ORDER BY id",
        "SELECT * FROM order_lines ORDER BY order_id, line_no",
        "SELECT * FROM returns ORDER BY id",
        "SELECT * FROM customers ORDER BY id",
    };
    sqlite3 *c;
    assert_int_equal(sqlite3_open(db, &c), SQLITE_OK);
    cw_buf_reset(out);
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        cw_buf_addf(out, "-- %zu\n", i);
        char *msg = NULL;
        if (sqlite3_exec(c, q[i], dump_row, out, &msg) != SQLITE_OK)
            fail_msg("%s: %s", q[i], msg);
    }
    sqlite3_close(c);
}

static void assert_same_tables(struct fx *f)
{
    struct cw_buf a = CW_BUF_INIT, b = CW_BUF_INIT;
    dump(f->db[0], &a);
    dump(f->db[1], &b);
    assert_string_equal(cw_buf_str(&a), cw_buf_str(&b));
    cw_buf_release(&a);
    cw_buf_release(&b);
}

/* Runs a request through both, in a transaction each (committed on 0, as
 * cw_srv_write_tx does), asserts they answered alike and returns the code;
 * *inserted gets cw__srv_put_orders', err its message. */
static int post(struct fx *f, const struct cw_srv_order *o, size_t n,
                size_t *inserted, struct cw_buf *err)
{
    int rc[2];
    size_t ins[2];
    struct cw_buf msg[2] = {CW_BUF_INIT, CW_BUF_INIT};
    for (int i = 0; i < 2; i++) {
        struct cw_store *s = f->s[i];
        assert_int_equal(s->ops->begin(s, NULL), 0);
        rc[i] = (i ? cw__srv_put_orders : put_one_by_one)(s, o, n, &ins[i],
                                                          &msg[i]);
        if (rc[i] == 0)
            assert_int_equal(s->ops->commit(s, NULL), 0);
        else
            assert_int_equal(s->ops->rollback(s, NULL), 0);
    }
    assert_int_equal(rc[1], rc[0]);
    assert_string_equal(cw_buf_str(&msg[1]), cw_buf_str(&msg[0]));
    if (rc[0] == 0)
        assert_int_equal(ins[1], ins[0]);
    *inserted = ins[1];
    cw_buf_reset(err);
    cw_buf_adds(err, cw_buf_str(&msg[1]));
    cw_buf_release(&msg[0]);
    cw_buf_release(&msg[1]);
    return rc[0];
}

/* ---- requests ----------------------------------------------------------- */

enum { LINES_MAX = 25, RETURNS_MAX = 2 };

/* An order and the storage its strings point into. */
struct gen {
    struct cw_srv_order o;
    struct cw_line_rec lines[LINES_MAX];
    struct cw_return_rec rets[RETURNS_MAX];
    char id[16], customer[16], ts[24];
    char sku[LINES_MAX][16], rid[RETURNS_MAX][16], rsku[RETURNS_MAX][16];
};

static void gen_order(struct gen *g, const char *id, const char *customer,
                      int day)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->id, sizeof(g->id), "%s", id);
    snprintf(g->ts, sizeof(g->ts), "2020-01-%02d 10:00:00", day);
    g->o.o.id = g->id;
    if (customer) {
        snprintf(g->customer, sizeof(g->customer), "%s", customer);
        g->o.o.customer = g->customer;
    }
    g->o.o.ts = g->ts;
    g->o.o.currency = "USD";
    g->o.lines = g->lines;
    g->o.returns = g->rets;
}

static void gen_line(struct gen *g, const char *sku, int qty, int64_t price)
{
    size_t j = g->o.n_lines++;
    snprintf(g->sku[j], sizeof(g->sku[j]), "%s", sku);
    g->lines[j] = (struct cw_line_rec){.order_id = g->id,
                                       .line_no = (int)j + 1,
                                       .sku = g->sku[j],
                                       .qty = qty,
                                       .unit_price = price,
                                       .unit_cost = CW_MONEY_UNKNOWN};
}

static void gen_return(struct gen *g, const char *id, const char *sku)
{
    size_t j = g->o.n_returns++;
    snprintf(g->rid[j], sizeof(g->rid[j]), "%s", id);
    snprintf(g->rsku[j], sizeof(g->rsku[j]), "%s", sku);
    g->rets[j] = (struct cw_return_rec){.id = g->rid[j],
                                        .order_id = g->id,
                                        .customer = g->o.o.customer,
                                        .sku = g->rsku[j],
                                        .ts = g->ts,
                                        .qty = 1,
                                        .amount = 100};
}

/* The request's orders, as the handlers pass them. */
static void request(const struct gen *g, size_t n, struct cw_srv_order *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = g[i].o;
}

static uint32_t rnd_state;

static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 1664525u + 1013904223u;
    return (rnd_state >> 8) % n;
}

/* ---- tests -------------------------------------------------------------- */

/* What a request writes, stated: a repeated order is a duplicate, its
 * lines are not written (even lines the first had not), its returns are;
 * a replay inserts nothing but a new return. */
static void test_duplicates_and_returns(void **state)
{
    struct fx *f = *state;
    static struct gen g[3];
    struct cw_srv_order o[3];
    struct cw_buf err = CW_BUF_INIT;
    size_t ins;
    gen_order(&g[0], "A", "C1", 1);
    gen_line(&g[0], "S1", 1, 500);
    gen_line(&g[0], "S2", 2, 300);
    gen_return(&g[0], "R1", "S1");
    gen_order(&g[1], "B", NULL, 2);
    gen_line(&g[1], "S3", 1, 200);
    gen_order(&g[2], "A", "C1", 3); /* A again, with a third line */
    gen_line(&g[2], "S1", 1, 500);
    gen_line(&g[2], "S2", 2, 300);
    gen_line(&g[2], "S4", 1, 100);
    gen_return(&g[2], "R2", "S2");
    request(g, 3, o);
    assert_int_equal(post(f, o, 3, &ins, &err), 0);
    assert_int_equal(ins, 2);
    struct cw_buf t = CW_BUF_INIT;
    dump(f->db[1], &t);
    assert_string_equal(cw_buf_str(&t),
                        "-- 0\n"
                        "A|C1|2020-01-01 10:00:00|USD|0|0\n"
                        "B|NULL|2020-01-02 10:00:00|USD|0|0\n"
                        "-- 1\n"
                        "A|1|S1|1|500|NULL|0\n"
                        "A|2|S2|2|300|NULL|0\n"
                        "B|1|S3|1|200|NULL|0\n"
                        "-- 2\n"
                        "R1|A|C1|S1|2020-01-01 10:00:00|1|100\n"
                        "R2|A|C1|S2|2020-01-03 10:00:00|1|100\n"
                        "-- 3\n"
                        "C1|2020-01-01 10:00:00|2020-01-01 10:00:00|1\n");
    assert_same_tables(f);

    /* the replay with one more return: nothing inserted, the return is */
    gen_return(&g[1], "R3", "S3");
    request(g, 3, o);
    assert_int_equal(post(f, o, 3, &ins, &err), 0);
    assert_int_equal(ins, 0);
    struct cw_store_counts c;
    assert_int_equal(f->s[1]->ops->counts(f->s[1], &c, NULL), 0);
    assert_int_equal(c.orders, 2);
    assert_int_equal(c.lines, 3);
    assert_int_equal(c.returns, 3);
    assert_same_tables(f);
    cw_buf_release(&t);
    cw_buf_release(&err);
}

/* 300 pseudo-random requests over 20 order ids, 5 customers and 30 return
 * ids: repeats within a request and across requests, orders without lines
 * (a webhook's), guests. Both ways answer alike and write the same rows. */
static void test_same_as_one_by_one(void **state)
{
    struct fx *f = *state;
    enum { REQUESTS = 300, ORDERS = 6 };
    static struct gen g[ORDERS];
    struct cw_srv_order o[ORDERS];
    struct cw_buf err = CW_BUF_INIT;
    size_t total = 0;
    rnd_state = 42;
    for (int r = 0; r < REQUESTS; r++) {
        size_t n = 1 + rnd(ORDERS);
        for (size_t i = 0; i < n; i++) {
            char id[16], cust[16];
            snprintf(id, sizeof(id), "O%u", rnd(20));
            snprintf(cust, sizeof(cust), "C%u", rnd(5));
            gen_order(&g[i], id, rnd(4) ? cust : NULL, 1 + (int)rnd(28));
            for (uint32_t j = rnd(5); j > 0; j--) {
                char sku[16];
                snprintf(sku, sizeof(sku), "S%u", rnd(10));
                gen_line(&g[i], sku, 1 + (int)rnd(3), 100 * (1 + rnd(9)));
            }
            for (uint32_t j = rnd(3); j > 0; j--) {
                char rid[16];
                snprintf(rid, sizeof(rid), "R%u", rnd(30));
                gen_return(&g[i], rid, "S1");
            }
        }
        request(g, n, o);
        size_t ins;
        assert_int_equal(post(f, o, n, &ins, &err), 0);
        total += ins;
    }
    assert_int_equal(total, 20); /* every id, once */
    assert_same_tables(f);
    cw_buf_release(&err);
}

/* A request of more records than one put_batch takes: 500 orders (the
 * API's most) of 25 lines and a return each, 13,000 records in all. */
static void test_more_than_one_batch(void **state)
{
    struct fx *f = *state;
    enum { N = 500 };
    static struct gen g[N];
    static struct cw_srv_order o[N];
    struct cw_buf err = CW_BUF_INIT;
    for (int i = 0; i < N; i++) {
        char id[16];
        snprintf(id, sizeof(id), "O%d", i);
        gen_order(&g[i], id, i % 3 ? "C1" : NULL, 1 + i % 28);
        for (int j = 0; j < LINES_MAX; j++)
            gen_line(&g[i], "S1", 1, 100);
        snprintf(id, sizeof(id), "R%d", i);
        gen_return(&g[i], id, "S1");
    }
    assert_true(N * (2 + LINES_MAX) > CW_STORE_BATCH_MAX);
    request(g, N, o);
    size_t ins;
    assert_int_equal(post(f, o, N, &ins, &err), 0);
    assert_int_equal(ins, N);
    struct cw_store_counts c;
    assert_int_equal(f->s[1]->ops->counts(f->s[1], &c, NULL), 0);
    assert_int_equal(c.orders, N);
    assert_int_equal(c.lines, N * LINES_MAX);
    assert_int_equal(c.returns, N);
    assert_same_tables(f);
    /* and again: all duplicates */
    assert_int_equal(post(f, o, N, &ins, &err), 0);
    assert_int_equal(ins, 0);
    assert_same_tables(f);
    cw_buf_release(&err);
}

/* A record the store refuses fails the request with the same code and
 * message as before, and the transaction keeps nothing of it. */
static void test_refused_record(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 2; i++)
        sql_exec(f->db[i],
                 "CREATE TRIGGER refuse_line BEFORE INSERT ON order_lines "
                 "WHEN NEW.sku = 'BAD' BEGIN "
                 "SELECT RAISE(ABORT, 'line refused'); END;"
                 "CREATE TRIGGER refuse_return BEFORE INSERT ON returns "
                 "WHEN NEW.sku = 'BAD' BEGIN "
                 "SELECT RAISE(ABORT, 'return refused'); END;"
                 "CREATE TRIGGER refuse_customer BEFORE INSERT ON customers "
                 "WHEN NEW.id = 'BAD' BEGIN "
                 "SELECT RAISE(ABORT, 'customer refused'); END");
    static struct gen g[3];
    struct cw_srv_order o[3];
    struct cw_buf err = CW_BUF_INIT;
    size_t ins;
    /* a stored order first: the failed requests must leave it alone */
    gen_order(&g[0], "KEPT", "C1", 1);
    gen_line(&g[0], "S1", 1, 100);
    request(g, 1, o);
    assert_int_equal(post(f, o, 1, &ins, &err), 0);

    static const struct {
        int order, kind; /* 0 line, 1 return, 2 customer */
        const char *want;
    } cases[] = {
        {1, 0, "order line O2:2: line refused"},
        {2, 0, "order line O3:2: line refused"},
        {1, 1, "return 'R-bad': return refused"},
        {2, 2, "customer 'BAD' of order 'O3': customer refused"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        gen_order(&g[0], "O1", "C1", 2);
        gen_line(&g[0], "S1", 1, 100);
        gen_return(&g[0], "R1", "S1");
        gen_order(&g[1], "O2", "C2", 3);
        gen_line(&g[1], "S1", 1, 100);
        gen_line(&g[1], "S2", 1, 100);
        gen_order(&g[2], "O3", "C3", 4);
        gen_line(&g[2], "S1", 1, 100);
        gen_line(&g[2], "S2", 1, 100);
        struct gen *bad = &g[cases[k].order];
        if (cases[k].kind == 0) {
            snprintf(bad->sku[1], sizeof(bad->sku[1]), "BAD");
        } else if (cases[k].kind == 1) {
            gen_return(bad, "R-bad", "BAD");
        } else {
            snprintf(bad->customer, sizeof(bad->customer), "BAD");
            bad->o.o.customer = bad->customer;
        }
        request(g, 3, o);
        assert_int_equal(post(f, o, 3, &ins, &err), CW_ESTORE);
        assert_string_equal(cw_buf_str(&err), cases[k].want);
        struct cw_store_counts c;
        assert_int_equal(f->s[1]->ops->counts(f->s[1], &c, NULL), 0);
        assert_int_equal(c.orders, 1);
        assert_int_equal(c.lines, 1);
        assert_int_equal(c.returns, 0);
        assert_int_equal(c.customers, 1);
        assert_same_tables(f);
    }
    cw_buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_duplicates_and_returns),
        T(test_same_as_one_by_one),
        T(test_more_than_one_batch),
        T(test_refused_record),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
