/*
 * test_dataset.c: order lines grouped into baskets and sorted as
 * BENCHMARK.md section 1 prescribes.
 *
 * The split of every evaluation depends on this order, so the tests pin the
 * protocol's details: baskets sort by (smallest ts, basket id) compared as
 * byte strings (not numbers), lines keep file order inside a basket, lines
 * with qty <= 0 do not exist (not even for the basket's time), and guests
 * have no customer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cartwise/cw_dataset.h"
#include "testutil.h"

/* Ids of the baskets in sorted order, as strings. */
static const char *sorted_id(const struct cw_dataset *ds, size_t k)
{
    return ds->baskets.keys[ds->order[k]];
}

static void test_sort_by_time_then_id(void **state)
{
    /* ids are compared as strings: "10" < "9"; times too: "2020-1-10" <
     * "2020-1-9", which a numeric or date-aware compare would get wrong */
    static const struct tu_line t[] = {
        {"9", "c1", "2020-1-9", "A", 1, 1, TU_NA},
        {"10", "c1", "2020-1-9", "B", 1, 1, TU_NA},
        {"7", NULL, "2020-1-10", "C", 1, 1, TU_NA},
        {"b", "c2", "2020-1-8", "A", 1, 1, TU_NA},
        {"a", "c2", "2020-1-8", "A", 1, 1, TU_NA},
    };
    struct cw_dataset ds;
    TU_DATASET(&ds, t);
    assert_true(ds.finished);
    assert_int_equal(cw_dataset_nbaskets(&ds), 5);
    static const char *want[] = {"7", "a", "b", "10", "9"};
    for (size_t k = 0; k < 5; k++)
        assert_string_equal(sorted_id(&ds, k), want[k]);
    cw_dataset_release(&ds);
}

static void test_basket_time_is_min_of_lines(void **state)
{
    /* x's first line is late, a later line is early: x sorts by the early
     * one; y's early line has qty 0 and must not move y */
    static const struct tu_line t[] = {
        {"x", NULL, "2020-03-05", "A", 1, 1, TU_NA},
        {"y", NULL, "2020-03-02", "B", 1, 1, TU_NA},
        {"x", NULL, "2020-03-01", "C", 1, 1, TU_NA},
        {"x", NULL, "2020-03-09", "D", 1, 1, TU_NA},
        {"y", NULL, "2020-01-01", "E", 0, 1, TU_NA},
        {"y", NULL, "2019-01-01", "F", -3, 1, TU_NA},
    };
    struct cw_dataset ds;
    TU_DATASET(&ds, t);
    uint32_t x = tu_basket_id(&ds, "x"), y = tu_basket_id(&ds, "y");
    assert_string_equal(ds.b_ts[x], "2020-03-01");
    assert_string_equal(ds.b_ts[y], "2020-03-02");
    assert_string_equal(sorted_id(&ds, 0), "x");
    assert_string_equal(sorted_id(&ds, 1), "y");
    cw_dataset_release(&ds);
}

static void test_lines_in_file_order(void **state)
{
    /* two baskets interleaved line by line */
    static const struct tu_line t[] = {
        {"b1", NULL, "t1", "P", 1, 1, TU_NA},
        {"b2", NULL, "t0", "X", 1, 1, TU_NA},
        {"b1", NULL, "t1", "Q", 2, 1, TU_NA},
        {"b2", NULL, "t0", "Y", 1, 1, TU_NA},
        {"b1", NULL, "t1", "P", 3, 1, TU_NA}, /* repeated sku kept */
        {"b1", NULL, "t1", "R", 1, 1, TU_NA},
        {"b2", NULL, "t0", "Z", 1, 1, TU_NA},
    };
    struct cw_dataset ds;
    TU_DATASET(&ds, t);
    uint32_t b1 = tu_basket_id(&ds, "b1"), b2 = tu_basket_id(&ds, "b2");
    static const char *w1[] = {"P", "Q", "P", "R"};
    static const double q1[] = {1, 2, 3, 1};
    static const char *w2[] = {"X", "Y", "Z"};
    assert_int_equal(ds.b_off[b1 + 1] - ds.b_off[b1], 4);
    assert_int_equal(ds.b_off[b2 + 1] - ds.b_off[b2], 3);
    for (size_t k = 0; k < 4; k++) {
        size_t l = ds.b_line[ds.b_off[b1] + k];
        assert_string_equal(tu_line_sku(&ds, l), w1[k]);
        assert_true(ds.l_qty[l] == q1[k]);
        assert_int_equal(ds.l_basket[l], b1);
    }
    for (size_t k = 0; k < 3; k++) {
        size_t l = ds.b_line[ds.b_off[b2] + k];
        assert_string_equal(tu_line_sku(&ds, l), w2[k]);
        assert_int_equal(ds.l_basket[l], b2);
    }
    /* every line is in exactly one basket's range */
    assert_int_equal(ds.b_off[ds.baskets.n], ds.n_lines);
    cw_dataset_release(&ds);
}

static void test_nonpositive_qty_ignored(void **state)
{
    static const struct tu_line t[] = {
        {"b1", "c1", "t1", "A", 1, 2.5, TU_NA},
        {"b1", "c1", "t1", "B", 0, 2.5, TU_NA},
        {"b1", "c1", "t1", "C", -1, 2.5, TU_NA},
        {"b2", "c9", "t2", "D", -5, 0, TU_NA}, /* whole basket is returns */
        {"b3", NULL, "t3", "A", 0.5, 1, TU_NA},
    };
    struct cw_dataset ds;
    TU_DATASET(&ds, t);
    assert_int_equal(ds.n_lines, 2);
    assert_int_equal(cw_dataset_nbaskets(&ds), 2);
    assert_true(cw_intern_find(&ds.baskets, "b2", 2) < 0);
    /* skus only seen with qty <= 0 are not interned */
    assert_true(cw_intern_find(&ds.skus, "B", 1) < 0);
    assert_true(cw_intern_find(&ds.skus, "C", 1) < 0);
    assert_true(cw_intern_find(&ds.skus, "D", 1) < 0);
    assert_int_equal(ds.skus.n, 1);
    /* nor is the customer of a basket that does not exist */
    assert_true(cw_intern_find(&ds.customers, "c9", 2) < 0);
    assert_string_equal(sorted_id(&ds, 0), "b1");
    assert_string_equal(sorted_id(&ds, 1), "b3");
    cw_dataset_release(&ds);
}

static void test_guests_and_customers(void **state)
{
    static const struct tu_line t[] = {
        {"g1", NULL, "t1", "A", 1, 1, TU_NA},
        {"g2", "", "t2", "A", 1, 1, TU_NA},
        {"k1", "17850", "t3", "A", 1, 1, TU_NA},
        {"k2", "13047", "t4", "A", 1, 1, TU_NA},
        {"k3", "17850", "t5", "A", 1, 1, TU_NA},
    };
    struct cw_dataset ds;
    TU_DATASET(&ds, t);
    assert_int_equal(ds.b_cust[tu_basket_id(&ds, "g1")], -1);
    assert_int_equal(ds.b_cust[tu_basket_id(&ds, "g2")], -1);
    int32_t c1 = ds.b_cust[tu_basket_id(&ds, "k1")];
    int32_t c2 = ds.b_cust[tu_basket_id(&ds, "k2")];
    int32_t c3 = ds.b_cust[tu_basket_id(&ds, "k3")];
    assert_true(c1 >= 0 && c2 >= 0);
    assert_int_equal(c1, c3);
    assert_int_not_equal(c1, c2);
    assert_string_equal(ds.customers.keys[c1], "17850");
    assert_string_equal(ds.customers.keys[c2], "13047");
    assert_int_equal(ds.customers.n, 2); /* "" is not a customer */
    cw_dataset_release(&ds);
}

static void test_prices_and_costs(void **state)
{
    static const struct tu_line t[] = {
        {"b", NULL, "t", "A", 1, 2.55, 1.0},
        {"b", NULL, "t", "B", 1, 0, -1}, /* price 0, negative cost */
        {"b", NULL, "t", "C", 1, TU_NA, TU_NA},
        {"b", NULL, "t", "D", 1, -4, 0}, /* cost 0 is a cost */
    };
    struct cw_dataset ds;
    TU_DATASET(&ds, t);
    size_t b = tu_basket_id(&ds, "b");
    const size_t *off = ds.b_off;
    double price[4], cost[4];
    for (size_t k = 0; k < 4; k++) {
        size_t l = ds.b_line[off[b] + k];
        price[k] = ds.l_price[l];
        cost[k] = ds.l_cost[l];
    }
    assert_true(price[0] == 2.55 && cost[0] == 1.0);
    assert_true(isnan(price[1]) && isnan(cost[1]));
    assert_true(isnan(price[2]) && isnan(cost[2]));
    assert_true(isnan(price[3]) && cost[3] == 0);
    cw_dataset_release(&ds);
}

static void test_add_errors(void **state)
{
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    assert_int_equal(cw_dataset_add(&ds, "", NULL, "t", "A", 1, 1, NAN),
                     CW_EINVAL);
    assert_int_equal(cw_dataset_add(&ds, NULL, NULL, "t", "A", 1, 1, NAN),
                     CW_EINVAL);
    assert_int_equal(cw_dataset_add(&ds, "b", NULL, "t", "", 1, 1, NAN),
                     CW_EINVAL);
    assert_int_equal(cw_dataset_add(&ds, "b", NULL, "t", NULL, 1, 1, NAN),
                     CW_EINVAL);
    assert_int_equal(cw_dataset_add(&ds, "b", NULL, NULL, "A", 1, 1, NAN),
                     CW_EINVAL);
    assert_int_equal(ds.n_lines, 0);
    assert_int_equal(cw_dataset_add(&ds, "b", NULL, "t", "A", 1, 1, NAN), 0);
    cw_dataset_finish(&ds);
    assert_int_equal(cw_dataset_add(&ds, "c", NULL, "t", "A", 1, 1, NAN),
                     CW_EINVAL);
    assert_int_equal(ds.n_lines, 1);
    assert_int_equal(cw_dataset_nbaskets(&ds), 1);
    cw_dataset_release(&ds);
}

/*
 * Regression: an empty ts was once accepted, and its basket sorted before
 * every dated one; cw_dataset.h promises CW_EINVAL.
 */
static void test_empty_ts_refused(void **state)
{
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    int rc = cw_dataset_add(&ds, "b", NULL, "", "A", 1, 1, NAN);
    size_t lines = ds.n_lines;
    cw_dataset_release(&ds);
    assert_int_equal(rc, CW_EINVAL);
    assert_int_equal(lines, 0);
}

static void test_empty_dataset(void **state)
{
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    cw_dataset_finish(&ds);
    assert_int_equal(cw_dataset_nbaskets(&ds), 0);
    assert_int_equal(ds.n_lines, 0);
    cw_dataset_release(&ds);
}

static void test_many_baskets_sorted(void **state)
{
    /* enough baskets to grow every array several times, added in a
     * scrambled order with colliding times: the order must be sorted and a
     * permutation of all baskets */
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    uint32_t seed = 7;
    for (int i = 0; i < 3000; i++) {
        char b[16], ts[16], sku[16];
        snprintf(b, sizeof(b), "%u", tu_rand(&seed) % 5000);
        snprintf(ts, sizeof(ts), "%02u", tu_rand(&seed) % 40);
        snprintf(sku, sizeof(sku), "s%u", tu_rand(&seed) % 50);
        assert_int_equal(cw_dataset_add(&ds, b, NULL, ts, sku, 1, 1, NAN), 0);
    }
    cw_dataset_finish(&ds);
    size_t nb = cw_dataset_nbaskets(&ds);
    assert_true(nb > 1000);
    uint8_t *seen = calloc(nb, 1);
    for (size_t k = 0; k < nb; k++) {
        uint32_t b = ds.order[k];
        assert_true(b < nb);
        assert_false(seen[b]);
        seen[b] = 1;
        /* the basket time is the smallest ts among its lines */
        const char *mn = NULL;
        for (size_t x = ds.b_off[b]; x < ds.b_off[b + 1]; x++) {
            const char *t = ds.times.keys[ds.l_ts[ds.b_line[x]]];
            if (!mn || strcmp(t, mn) < 0)
                mn = t;
        }
        assert_non_null(mn);
        assert_string_equal(ds.b_ts[b], mn);
        if (k) {
            uint32_t a = ds.order[k - 1];
            int c = strcmp(ds.b_ts[a], ds.b_ts[b]);
            assert_true(c < 0 || (c == 0 && strcmp(ds.baskets.keys[a],
                                                   ds.baskets.keys[b]) < 0));
        }
    }
    free(seen);
    cw_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_sort_by_time_then_id),
        TU_TEST(test_basket_time_is_min_of_lines),
        TU_TEST(test_lines_in_file_order),
        TU_TEST(test_nonpositive_qty_ignored),
        TU_TEST(test_guests_and_customers),
        TU_TEST(test_prices_and_costs),
        TU_TEST(test_add_errors),
        TU_TEST(test_empty_ts_refused),
        TU_TEST(test_empty_dataset),
        TU_TEST(test_many_baskets_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
