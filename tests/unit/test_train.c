/*
 * test_train.c: what training puts into the model, checked on data whose
 * answer is known by construction.
 *
 * Items that are always bought together must be each other's top
 * neighbour; customer profiles, prices, margins, catalog attributes and
 * return rates follow from hand-computed tables; baskets outside the
 * training list must leave no trace; and too little data is an error, not
 * an empty model. Scores themselves are the lead's to tune, so the tests
 * look at orderings and contracts, not at weights.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "testutil.h"

static void check_pairs_are_top_neighbours(const struct cw_model *m,
                                           unsigned npairs)
{
    for (unsigned k = 0; k < npairs; k++) {
        char a[16], b[16];
        snprintf(a, sizeof(a), "A%u", k);
        snprintf(b, sizeof(b), "B%u", k);
        uint32_t ia = tu_item(m, a), ib = tu_item(m, b);
        assert_int_equal(tu_top_nbr(m, ia), ib);
        assert_int_equal(tu_top_nbr(m, ib), ia);
    }
}

static void test_cooccurring_pair_is_top_neighbour(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 200, 5);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    struct cw_model m;
    tu_train(&m, &in, &p);
    check_pairs_are_top_neighbours(&m, 5);
    /* A0 and B0 share exactly the 40 baskets of pair 0 */
    uint32_t a0 = tu_item(&m, "A0"), b0 = tu_item(&m, "B0");
    assert_int_equal(m.nbrs[m.nbr_off[a0]].item, b0);
    assert_int_equal(m.nbrs[m.nbr_off[a0]].co, 40);
    assert_int_equal(m.items[a0].pop, 40);
    /* neighbour lists: positive weights, best first, never the item
     * itself, never an item it was not bought with (A1 never with A0) */
    uint32_t a1 = tu_item(&m, "A1");
    for (uint32_t i = 0; i < m.n_items; i++) {
        for (uint32_t x = m.nbr_off[i]; x < m.nbr_off[i + 1]; x++) {
            assert_int_not_equal(m.nbrs[x].item, i);
            assert_true(m.nbrs[x].w > 0);
            assert_true(m.nbrs[x].co > 0);
            if (x > m.nbr_off[i])
                assert_true(m.nbrs[x - 1].w >= m.nbrs[x].w);
        }
    }
    for (uint32_t x = m.nbr_off[a0]; x < m.nbr_off[a0 + 1]; x++)
        assert_int_not_equal(m.nbrs[x].item, a1);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

static void test_cooccurrence_without_ease(void **state)
{
    /* with EASE limited to 2 items, the others fall back to normalized
     * co-occurrence, which must find the same pairs */
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 200, 5);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    p.ease_max_items = 2;
    struct cw_model m;
    tu_train(&m, &in, &p);
    assert_int_equal(m.meta.ease_items, 2);
    check_pairs_are_top_neighbours(&m, 5);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

static void test_top_m_bounds_neighbours(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 200, 5);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    p.top_m = 2;
    struct cw_model m;
    tu_train(&m, &in, &p);
    assert_int_equal(m.meta.top_m, 2);
    size_t most = 0;
    for (uint32_t i = 0; i < m.n_items; i++) {
        size_t k = m.nbr_off[i + 1] - m.nbr_off[i];
        assert_true(k <= 2);
        most = k > most ? k : most;
    }
    assert_int_equal(most, 2);
    check_pairs_are_top_neighbours(&m, 5);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

static void test_tuned_training(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 300, 8);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p0 = tu_params_fixed(0), p1;
    p0.ease_lambda = 0; /* tune=0 and no lambda: the built-in default */
    cw_train_params_default(&p1);
    p1.now = 5;
    struct cw_model m0, m1;
    tu_train(&m0, &in, &p0);
    tu_train(&m1, &in, &p1);
    check_pairs_are_top_neighbours(&m1, 8);
    /* tuning chose a lambda from its grid and fitted the acceptance
     * model on validation: its weights are not the untuned defaults */
    static const double grid[] = {1, 3, 10, 30, 100, 300, 1000};
    int in_grid = 0;
    for (size_t g = 0; g < sizeof(grid) / sizeof(*grid); g++)
        in_grid |= m1.meta.ease_lambda == grid[g];
    assert_true(in_grid);
    assert_memory_not_equal(m0.meta.feat_w, m1.meta.feat_w,
                            sizeof(m0.meta.feat_w));
    cw_model_release(&m0);
    cw_model_release(&m1);
    cw_dataset_release(&ds);
}

/* ---- profiles, prices, catalog, returns -------------------------------- */

/*
 * c1: b1 = A 2 x 5.00 = 10.00, b2 = A 1 x 30.00 = 30.00, b3 = B 4 x 5.00 =
 *     20.00: median 20.00.
 * c2: b4 = A 1 x 10.00 + C 1 x 2.00 = 12.00, b5 = B 3 x 5.00 = 15.00: median
 *     (12 + 15) / 2 = 13.50.
 * guests: g1, g2. c3 and sku Z only in the last basket z9, which the
 * training list leaves out.
 * Prices: A median(5, 30, 10) = 10.00; B 5.00; C median(2, 3) = 2.50;
 * E 4.00 with cost 1.50 on its lines.
 */
static const struct tu_line prof_lines[] = {
    {"b1", "c1", "2021-01-01", "A", 2, 5.00, TU_NA},
    {"b1", "c1", "2021-01-01", "Q", 0, 99.0, TU_NA}, /* ignored */
    {"b2", "c1", "2021-01-02", "A", 1, 30.00, TU_NA},
    {"b3", "c1", "2021-01-03", "B", 4, 5.00, TU_NA},
    {"b4", "c2", "2021-01-04", "A", 1, 10.00, TU_NA},
    {"b4", "c2", "2021-01-04", "C", 1, 2.00, TU_NA},
    {"b5", "c2", "2021-01-05", "B", 3, 5.00, TU_NA},
    {"g1", NULL, "2021-01-06", "C", 1, 3.00, TU_NA},
    {"g1", NULL, "2021-01-06", "E", 1, 4.00, 1.50},
    {"g2", "", "2021-01-07", "E", 2, 4.00, 1.50},
    {"g2", "", "2021-01-07", "A", 1, 10.00, TU_NA},
    {"z9", "c3", "2021-02-01", "Z", 1, 7.00, TU_NA},
    {"z9", "c3", "2021-02-01", "A", 1, 1000.00, TU_NA},
};
#define PROF_TRAIN 7 /* every basket but z9 */

static struct cw_train_input prof_input(const struct cw_dataset *ds)
{
    struct cw_train_input in = tu_input(ds);
    assert_int_equal(in.n_baskets, PROF_TRAIN + 1);
    assert_string_equal(ds->baskets.keys[ds->order[PROF_TRAIN]], "z9");
    in.n_baskets = PROF_TRAIN;
    return in;
}

static void test_customer_profiles(void **state)
{
    struct cw_dataset ds;
    TU_DATASET(&ds, prof_lines);
    struct cw_train_input in = prof_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    struct cw_model m;
    tu_train(&m, &in, &p);
    assert_int_equal(m.n_customers, 2);
    long c1 = cw_model_find_customer(&m, "c1");
    long c2 = cw_model_find_customer(&m, "c2");
    assert_true(c1 >= 0 && c2 >= 0);
    assert_int_equal(m.customers[c1].typical_order, 2000);
    assert_int_equal(m.customers[c1].n_orders, 3);
    assert_int_equal(m.customers[c2].typical_order, 1350);
    assert_int_equal(m.customers[c2].n_orders, 2);
    /* c3's only order is outside training */
    assert_int_equal(cw_model_find_customer(&m, "c3"), -1);
    /* histories: exactly the items each customer bought */
    uint32_t a = tu_item(&m, "A"), b = tu_item(&m, "B"), c = tu_item(&m, "C");
    const struct cw_customer *cu = &m.customers[c1];
    assert_int_equal(cu->n_hist, 2);
    int seen_a = 0, seen_b = 0;
    for (uint32_t x = 0; x < cu->n_hist; x++) {
        const struct cw_hist *h = &m.hist[cu->hist_off + x];
        assert_true(h->w > 0 && h->w <= 1.0f + 1e-6f);
        seen_a |= h->item == a;
        seen_b |= h->item == b;
    }
    assert_true(seen_a && seen_b);
    cu = &m.customers[c2];
    assert_int_equal(cu->n_hist, 3);
    int seen_c = 0;
    for (uint32_t x = 0; x < cu->n_hist; x++)
        seen_c |= m.hist[cu->hist_off + x].item == c;
    assert_true(seen_c);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

static void test_prices_and_default_margin(void **state)
{
    struct cw_dataset ds;
    TU_DATASET(&ds, prof_lines);
    struct cw_train_input in = prof_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    p.default_margin_rate = 0.25;
    struct cw_model m;
    tu_train(&m, &in, &p);
    const struct cw_item *a = &m.items[tu_item(&m, "A")];
    const struct cw_item *b = &m.items[tu_item(&m, "B")];
    const struct cw_item *c = &m.items[tu_item(&m, "C")];
    const struct cw_item *e = &m.items[tu_item(&m, "E")];
    /* medians over training lines only (z9's 1000.00 for A is excluded) */
    assert_int_equal(a->price, 1000);
    assert_int_equal(b->price, 500);
    assert_int_equal(c->price, 250);
    assert_int_equal(e->price, 400);
    /* unknown cost: the default rate, flagged */
    assert_int_equal(a->margin, 250);
    assert_true(a->flags & CW_ITEM_MARGIN_ASSUMED);
    assert_int_equal(c->margin, 63); /* 2.50 * 0.25 = 0.625 */
    assert_true(c->flags & CW_ITEM_MARGIN_ASSUMED);
    /* cost on the lines: price - cost, not flagged */
    assert_int_equal(e->margin, 250);
    assert_false(e->flags & CW_ITEM_MARGIN_ASSUMED);
    /* popularity counts baskets, not units */
    assert_int_equal(a->pop, 4);
    assert_int_equal(b->pop, 2);
    assert_int_equal(e->pop, 2);
    assert_true(a->flags & CW_ITEM_IN_TRAINING);
    /* no catalog: each sku is its own group, no category, untracked */
    assert_int_not_equal(a->group, b->group);
    assert_int_equal(a->category, 0);
    assert_int_equal(a->inventory, -1);
    assert_int_equal(a->title, 0);
    /* Z is only in a basket outside training: in the model's universe,
     * but not trained on, and nobody's neighbour */
    uint32_t z = tu_item(&m, "Z");
    assert_false(m.items[z].flags & CW_ITEM_IN_TRAINING);
    assert_int_equal(m.items[z].pop, 0);
    assert_int_equal(m.nbr_off[z], m.nbr_off[z + 1]);
    for (uint32_t x = 0; x < m.nbr_off[m.n_items]; x++)
        assert_int_not_equal(m.nbrs[x].item, z);
    for (uint32_t x = 0; x < m.n_popular; x++)
        assert_int_not_equal(m.popular[x], z);
    /* the popularity list is ordered */
    for (uint32_t x = 1; x < m.n_popular; x++)
        assert_true(m.items[m.popular[x - 1]].pop >= m.items[m.popular[x]].pop);
    assert_int_equal(m.popular[0], tu_item(&m, "A"));
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

static const struct cw_product_rec catalog[] = {
    {.sku = "A",
     .title = "Alpha Tent",
     .group = "tent",
     .category = "outdoor>tents",
     .attributes = "size=2p",
     .price = CW_MONEY_UNKNOWN,
     .cost = 100,
     .inventory = 7,
     .flags = CW_FLAG_ACCESSORY},
    {.sku = "B",
     .title = "Beta Stakes",
     .category = "outdoor>stakes",
     .price = 800,
     .cost = 300,
     .inventory = -1,
     .flags = CW_FLAG_CONSUMABLE},
    {.sku = "D",
     .title = "Delta Tent",
     .group = "tent",
     .category = "outdoor>tents",
     .price = 1500,
     .cost = CW_MONEY_UNKNOWN,
     .inventory = 0,
     .flags = CW_FLAG_INACTIVE},
};

static void test_catalog_attributes(void **state)
{
    struct cw_dataset ds;
    TU_DATASET(&ds, prof_lines);
    struct cw_train_input in = prof_input(&ds);
    in.products = catalog;
    in.n_products = sizeof(catalog) / sizeof(*catalog);
    struct cw_train_params p = tu_params_fixed(10);
    p.default_margin_rate = 0.40;
    struct cw_model m;
    tu_train(&m, &in, &p);
    uint32_t ia = tu_item(&m, "A"), ib = tu_item(&m, "B"),
             id = tu_item(&m, "D"), ic = tu_item(&m, "C");
    assert_int_equal(m.n_items, ds.skus.n + 1); /* D is catalog-only */
    const struct cw_item *a = &m.items[ia], *b = &m.items[ib],
                         *d = &m.items[id], *c = &m.items[ic];
    assert_string_equal(cw_model_str(&m, a->title), "Alpha Tent");
    assert_string_equal(cw_model_str(&m, a->attrs), "size=2p");
    assert_string_equal(cw_model_str(&m, b->title), "Beta Stakes");
    assert_string_equal(cw_model_str(&m, m.category_name[a->category]),
                        "outdoor>tents");
    assert_string_equal(cw_model_str(&m, m.category_name[b->category]),
                        "outdoor>stakes");
    assert_int_equal(c->category, 0);
    /* groups: A and D are variants of "tent"; B is its own */
    assert_int_equal(a->group, d->group);
    assert_int_not_equal(a->group, b->group);
    assert_string_equal(cw_model_str(&m, m.group_name[a->group]), "tent");
    uint32_t g = a->group;
    assert_int_equal(m.group_off[g + 1] - m.group_off[g], 2);
    /* most popular variant first */
    assert_int_equal(m.group_items[m.group_off[g]], ia);
    assert_int_equal(m.group_items[m.group_off[g] + 1], id);
    /* inventory and flags */
    assert_int_equal(a->inventory, 7);
    assert_int_equal(b->inventory, -1);
    assert_int_equal(d->inventory, 0);
    assert_true(a->flags & CW_FLAG_ACCESSORY);
    assert_true(b->flags & CW_FLAG_CONSUMABLE);
    assert_true(d->flags & CW_FLAG_INACTIVE);
    assert_false(d->flags & CW_ITEM_IN_TRAINING);
    /* margins: price - cost where the catalog has a cost; catalog price
     * wins over the median of the lines */
    assert_int_equal(a->price, 1000);
    assert_int_equal(a->margin, 900);
    assert_false(a->flags & CW_ITEM_MARGIN_ASSUMED);
    assert_int_equal(b->price, 800);
    assert_int_equal(b->margin, 500);
    assert_false(b->flags & CW_ITEM_MARGIN_ASSUMED);
    assert_int_equal(d->price, 1500);
    assert_int_equal(d->margin, 600);
    assert_true(d->flags & CW_ITEM_MARGIN_ASSUMED);
    assert_int_equal(c->margin, 100); /* 2.50 * 0.40 */
    assert_true(c->flags & CW_ITEM_MARGIN_ASSUMED);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

static double fixed_margin(void *ctx, const char *sku, double price)
{
    int *calls = ctx;
    (*calls)++;
    return strcmp(sku, "A") == 0 ? 1.23 : price * 0.5;
}

static void test_unit_margin_callback(void **state)
{
    struct cw_dataset ds;
    TU_DATASET(&ds, prof_lines);
    struct cw_train_input in = prof_input(&ds);
    int calls = 0;
    in.unit_margin = fixed_margin;
    in.unit_margin_ctx = &calls;
    struct cw_train_params p = tu_params_fixed(10);
    struct cw_model m;
    tu_train(&m, &in, &p);
    assert_true(calls >= 5);
    assert_int_equal(m.items[tu_item(&m, "A")].margin, 123);
    assert_int_equal(m.items[tu_item(&m, "B")].margin, 250);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

static void test_returns_raise_return_rate(void **state)
{
    struct cw_dataset ds;
    TU_DATASET(&ds, prof_lines);
    struct cw_train_input in = prof_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    struct cw_return_rec few[] = {
        {.id = "r1", .sku = "B", .qty = 2, .amount = 1000},
        {.id = "r2", .sku = "NOT-A-SKU", .qty = 50, .amount = 1},
    };
    struct cw_return_rec many[] = {
        {.id = "r1", .sku = "B", .qty = 2, .amount = 1000},
        {.id = "r3", .sku = "B", .qty = 5, .amount = 2500},
    };
    struct cw_model m0, m1, m2;
    tu_train(&m0, &in, &p);
    in.returns = few;
    in.n_returns = 2;
    tu_train(&m1, &in, &p);
    in.returns = many;
    in.n_returns = 2;
    tu_train(&m2, &in, &p);
    uint32_t b = tu_item(&m0, "B"), a = tu_item(&m0, "A");
    float r0 = m0.items[b].return_rate, r1 = m1.items[b].return_rate,
          r2 = m2.items[b].return_rate;
    assert_true(r0 == 0);
    assert_true(r1 > 0);
    assert_true(r2 > r1);
    assert_true(r2 <= 1);
    /* others untouched, unknown skus ignored */
    assert_true(m1.items[a].return_rate == 0);
    assert_true(m2.items[a].return_rate == 0);
    cw_model_release(&m0);
    cw_model_release(&m1);
    cw_model_release(&m2);
    cw_dataset_release(&ds);
}

static void test_too_little_data(void **state)
{
    static const struct tu_line one[] = {
        {"b1", "c1", "t1", "A", 1, 1, TU_NA},
        {"b1", "c1", "t1", "B", 1, 1, TU_NA},
    };
    struct cw_dataset ds;
    TU_DATASET(&ds, one);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    struct cw_model m;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_train(&m, &in, &p, &err), CW_ENODATA);
    assert_true(err.len > 0);
    in.n_baskets = 0;
    assert_int_equal(cw_train(&m, &in, &p, &err), CW_ENODATA);
    cw_model_release(&m); /* harmless on a failed train */
    /* tuning on: the same answer */
    cw_train_params_default(&p);
    in.n_baskets = 1;
    assert_int_equal(cw_train(&m, &in, &p, &err), CW_ENODATA);
    cw_dataset_release(&ds);

    /* an unfinished dataset is a caller error */
    cw_dataset_init(&ds);
    tu_add_lines(&ds, one, 2);
    in = tu_input(&ds);
    assert_int_equal(cw_train(&m, &in, &p, &err), CW_EINVAL);
    cw_dataset_release(&ds);
    cw_buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_cooccurring_pair_is_top_neighbour),
        TU_TEST(test_cooccurrence_without_ease),
        TU_TEST(test_top_m_bounds_neighbours),
        TU_TEST(test_tuned_training),
        TU_TEST(test_customer_profiles),
        TU_TEST(test_prices_and_default_margin),
        TU_TEST(test_catalog_attributes),
        TU_TEST(test_unit_margin_callback),
        TU_TEST(test_returns_raise_return_rate),
        TU_TEST(test_too_little_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
