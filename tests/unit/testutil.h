/*
 * testutil.h: helpers shared by the core unit tests (cmocka).
 *
 * Everything is static inline so each test program includes what it uses
 * and nothing has to be linked. The helpers build datasets from inline
 * tables of lines (the normalized lines format of BENCHMARK.md, one struct
 * per line), load the fixture CSVs, train small models, and check that
 * every allocation made through cw_* was released: TU_TEST registers a test
 * whose setup records cw_alloc_live() and whose teardown asserts it is back
 * to that value. Include after <cmocka.h>.
 */
#ifndef CW_TESTUTIL_H
#define CW_TESTUTIL_H

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_csv.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_train.h"

/* ---- leak check ----------------------------------------------------- */

static long tu_live_at_start;

static inline int tu_setup(void **state)
{
    (void)state;
    tu_live_at_start = cw_alloc_live();
    return 0;
}

static inline int tu_teardown(void **state)
{
    (void)state;
    long now = cw_alloc_live();
    if (now != tu_live_at_start)
        fprintf(stderr, "leak: %ld live allocations at start, %ld at end\n",
                tu_live_at_start, now);
    assert_int_equal(now, tu_live_at_start);
    return 0;
}

#define TU_TEST(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

/* ---- datasets from inline tables ------------------------------------- */

/* One normalized line. price/cost: use TU_NA for "empty". */
struct tu_line {
    const char *basket, *customer, *ts, *sku;
    double qty, price, cost;
};

#define TU_NA NAN

/* Adds n lines to an initialized dataset, asserting each add succeeds. */
static inline void tu_add_lines(struct cw_dataset *ds, const struct tu_line *l,
                                size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cw_dataset_add(ds, l[i].basket, l[i].customer, l[i].ts,
                                        l[i].sku, l[i].qty, l[i].price,
                                        l[i].cost),
                         0);
}

/* Initializes ds, adds the lines and finishes it. */
static inline void tu_dataset(struct cw_dataset *ds, const struct tu_line *l,
                              size_t n)
{
    cw_dataset_init(ds);
    tu_add_lines(ds, l, n);
    cw_dataset_finish(ds);
}

#define TU_DATASET(ds, table)                                                  \
    tu_dataset((ds), (table), sizeof(table) / sizeof(*(table)))

/* Dataset id of a basket / sku / customer string (asserting it exists). */
static inline uint32_t tu_basket_id(const struct cw_dataset *ds, const char *b)
{
    long id = cw_intern_find(&ds->baskets, b, strlen(b));
    assert_true(id >= 0);
    return (uint32_t)id;
}

static inline uint32_t tu_sku_id(const struct cw_dataset *ds, const char *s)
{
    long id = cw_intern_find(&ds->skus, s, strlen(s));
    assert_true(id >= 0);
    return (uint32_t)id;
}

/* The sku of line l. */
static inline const char *tu_line_sku(const struct cw_dataset *ds, size_t l)
{
    return ds->skus.keys[ds->l_item[l]];
}

/* ---- a generated dataset with clear co-purchase structure ------------ */

/* Deterministic 32-bit LCG (numerical recipes constants). */
static inline uint32_t tu_rand(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return *state >> 8;
}

/*
 * nb baskets "b0000".. with ts "2021-01-01 00:00:00" + basket index seconds
 * (as text whose lexical order is time order), customer "c<i % 30>" for
 * two thirds of the baskets, guests otherwise. Basket i holds pair
 * k = i % npairs: both "A<k>" and "B<k>" (always together), and, every other
 * basket, one noise item "N<r>" (r random in 0..19). Prices: A<k> k+1.00,
 * B<k> k+0.50, N<r> 0.25 + r/10; cost unknown.
 */
static inline void tu_pairs_dataset(struct cw_dataset *ds, size_t nb,
                                    unsigned npairs)
{
    uint32_t seed = 12345;
    cw_dataset_init(ds);
    for (size_t i = 0; i < nb; i++) {
        char b[32], c[32], ts[64], sku[32];
        snprintf(b, sizeof(b), "b%04zu", i);
        snprintf(c, sizeof(c), "c%zu", i % 30);
        snprintf(ts, sizeof(ts), "2021-01-01 %02zu:%02zu:%02zu", i / 3600,
                 i / 60 % 60, i % 60);
        const char *cust = i % 3 == 2 ? NULL : c;
        unsigned k = (unsigned)(i % npairs);
        snprintf(sku, sizeof(sku), "A%u", k);
        assert_int_equal(cw_dataset_add(ds, b, cust, ts, sku, 1, k + 1.0, NAN),
                         0);
        snprintf(sku, sizeof(sku), "B%u", k);
        assert_int_equal(cw_dataset_add(ds, b, cust, ts, sku, 2, k + 0.5, NAN),
                         0);
        if (i % 2) {
            unsigned r = tu_rand(&seed) % 20;
            snprintf(sku, sizeof(sku), "N%u", r);
            assert_int_equal(
                cw_dataset_add(ds, b, cust, ts, sku, 1, 0.25 + r / 10.0, NAN),
                0);
        }
    }
    cw_dataset_finish(ds);
}

/* ---- training -------------------------------------------------------- */

/* Training input over every basket of ds, in time order. */
static inline struct cw_train_input tu_input(const struct cw_dataset *ds)
{
    struct cw_train_input in;
    memset(&in, 0, sizeof(in));
    in.ds = ds;
    in.baskets = ds->order;
    in.n_baskets = cw_dataset_nbaskets(ds);
    return in;
}

/* Default parameters without tuning, fixed lambda, fixed clock. */
static inline struct cw_train_params tu_params_fixed(double lambda)
{
    struct cw_train_params p;
    cw_train_params_default(&p);
    p.tune = 0;
    p.ease_lambda = lambda;
    p.now = 1700000000;
    return p;
}

/* Trains m from in with p, asserting success (err shown on failure). */
static inline void tu_train(struct cw_model *m, const struct cw_train_input *in,
                            const struct cw_train_params *p)
{
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_train(m, in, p, &err);
    if (rc)
        fprintf(stderr, "cw_train: %d %s\n", rc, cw_buf_str(&err));
    assert_int_equal(rc, 0);
    cw_buf_release(&err);
}

/* Item index of sku in m (asserting it exists). */
static inline uint32_t tu_item(const struct cw_model *m, const char *sku)
{
    long i = cw_model_find_sku(m, sku);
    if (i < 0)
        fprintf(stderr, "sku '%s' not in the model\n", sku);
    assert_true(i >= 0);
    return (uint32_t)i;
}

/* Top neighbour of item i, or -1 when it has none. */
static inline long tu_top_nbr(const struct cw_model *m, uint32_t i)
{
    if (m->nbr_off[i] == m->nbr_off[i + 1])
        return -1;
    return (long)m->nbrs[m->nbr_off[i]].item;
}

/* ---- fixture files ---------------------------------------------------- */

/* Removes a test's temporary directory and the files in it (no
 * subdirectories). */
static inline void tu_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[600];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}
/* Path of a file in CW_TEST_DATA (default tests/data) into buf. */
static inline const char *tu_data_path(char *buf, size_t size, const char *name)
{
    const char *dir = getenv("CW_TEST_DATA");
    snprintf(buf, size, "%s/%s", dir && *dir ? dir : "tests/data", name);
    return buf;
}

static inline double tu_num_or_nan(const char *s)
{
    if (!s || !*s)
        return NAN;
    char *end;
    double v = strtod(s, &end);
    return end != s ? v : NAN;
}

/*
 * Loads a normalized lines file into an initialized (unfinished) dataset.
 * Returns 0, or a negative CW_E* (CW_ENOENT when the file is missing).
 * Rows whose qty does not parse are skipped, as the reference script does.
 */
static inline int tu_load_lines(struct cw_dataset *ds, const char *path)
{
    struct cw_csv *c;
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_csv_open(&c, path, ',', &err);
    cw_buf_release(&err);
    if (rc)
        return rc;
    rc = cw_csv_next(c, NULL);
    assert_int_equal(rc, 1);
    long cb = cw_csv_col(c, "basket_id"), cc = cw_csv_col(c, "customer_id"),
         ct = cw_csv_col(c, "ts"), cs = cw_csv_col(c, "sku"),
         cq = cw_csv_col(c, "qty"), cp = cw_csv_col(c, "unit_price"),
         co = cw_csv_col(c, "unit_cost");
    assert_true(cb >= 0 && cc >= 0 && ct >= 0 && cs >= 0 && cq >= 0 &&
                cp >= 0 && co >= 0);
    while ((rc = cw_csv_next(c, NULL)) == 1) {
        double q = tu_num_or_nan(cw_csv_field(c, (size_t)cq, NULL));
        if (isnan(q))
            continue;
        int a =
            cw_dataset_add(ds, cw_csv_field(c, (size_t)cb, NULL),
                           cw_csv_field(c, (size_t)cc, NULL),
                           cw_csv_field(c, (size_t)ct, NULL),
                           cw_csv_field(c, (size_t)cs, NULL), q,
                           tu_num_or_nan(cw_csv_field(c, (size_t)cp, NULL)),
                           tu_num_or_nan(cw_csv_field(c, (size_t)co, NULL)));
        assert_int_equal(a, 0);
    }
    cw_csv_close(c);
    return rc;
}

#endif
