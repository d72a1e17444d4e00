/*
 * test_rank.c: the re-ranker and the calibration behind P(accept).
 *
 * The fits are checked on synthetic data drawn from a known model (they
 * must recover it), the candidate selection on hand-made lists (order,
 * ties, the cap), the features on their documented layout, and the
 * training-side inputs (orders per customer and item, repeat rates) on a
 * table whose answer is computed by hand. A model file that claims a
 * re-ranker larger than the decision can hold is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cartwise/cw_decide.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_money.h"
#include "core/train_int.h"
#include "testutil.h"

static double unif(uint32_t *st)
{
    return (double)(tu_rand(st) & 0xffffff) / (double)0x1000000;
}

static void test_platt_recovers_known_map(void **state)
{
    enum { N = 20000 };
    double *x = cw_malloc(N * sizeof(*x));
    uint8_t *y = cw_malloc(N);
    uint32_t st = 7;
    for (size_t i = 0; i < N; i++) {
        x[i] = 6 * unif(&st) - 3;
        y[i] = unif(&st) < cw__sigmoid(-2 + 1.5 * x[i]);
    }
    double a, b;
    cw__fit_platt(x, y, N, &a, &b);
    assert_true(fabs(a + 2) < 0.15);
    assert_true(fabs(b - 1.5) < 0.15);
    /* a monotone map: a label-free score still gets a finite fit */
    memset(y, 0, N);
    y[0] = 1;
    cw__fit_platt(x, y, N, &a, &b);
    assert_true(isfinite(a) && isfinite(b));
    cw_free(x);
    cw_free(y);
}

/* Cases of 12 rows, the chosen row drawn from softmax(w . r). */
static void test_clogit_recovers_weights(void **state)
{
    enum { CASES = 3000, ROWS = 12 };
    const double w_true[CW_MODEL_NRANK] = {1.0, -0.5, 0.8, 0, 0.3, 0, 0, 0};
    float(*r)[CW_MODEL_NRANK] = cw_malloc(CASES * ROWS * sizeof(*r));
    uint8_t *y = cw_calloc(CASES * ROWS, 1);
    size_t *start = cw_malloc((CASES + 1) * sizeof(*start));
    uint32_t st = 11;
    for (size_t k = 0; k < CASES; k++) {
        double p[ROWS], sum = 0;
        start[k] = k * ROWS;
        for (size_t i = 0; i < ROWS; i++) {
            float *f = r[k * ROWS + i];
            double z = 0;
            for (int d = 0; d < CW_MODEL_NRANK; d++) {
                f[d] = (float)(2 * unif(&st) - 1);
                z += w_true[d] * f[d];
            }
            sum += p[i] = exp(z);
        }
        double u = unif(&st) * sum;
        size_t pick = ROWS - 1;
        for (size_t i = 0; i < ROWS; i++) {
            if (u < p[i]) {
                pick = i;
                break;
            }
            u -= p[i];
        }
        y[k * ROWS + pick] = 1;
    }
    start[CASES] = CASES * ROWS;
    double w[CW_MODEL_NRANK];
    assert_int_equal(cw__fit_clogit(r, y, start, CASES, 0.1, w), 0);
    for (int d = 0; d < CW_MODEL_NRANK; d++)
        assert_true(fabs(w[d] - w_true[d]) < 0.25);
    /* nothing to fit */
    assert_int_equal(cw__fit_clogit(r, y, start, 0, 0.1, w), -1);
    cw_free(r);
    cw_free(y);
    cw_free(start);
}

static void test_rank_select_order_ties_cap(void **state)
{
    struct cw__cand c[100];
    for (int i = 0; i < 100; i++)
        c[i] = (struct cw__cand){(uint32_t)(99 - i), (double)(i % 10)};
    int top[CW_RANK_MAX];
    /* five best: z 9 (items 90, 80, ..., 0 by descending i, so ties go
     * to the lower item) */
    int n = cw__rank_select(c, 100, 5, top);
    assert_int_equal(n, 5);
    uint32_t expect[] = {0, 10, 20, 30, 40};
    for (int x = 0; x < 5; x++) {
        assert_true(c[top[x]].z == 9);
        assert_int_equal(c[top[x]].item, expect[x]);
    }
    /* the cap: never more than CW_RANK_MAX */
    assert_int_equal(cw__rank_select(c, 100, 1000, top), CW_RANK_MAX);
    for (int x = 1; x < CW_RANK_MAX; x++)
        assert_true(c[top[x - 1]].z >= c[top[x]].z);
    /* fewer candidates than asked */
    assert_int_equal(cw__rank_select(c, 3, 20, top), 3);
    assert_int_equal(cw__rank_select(c, 0, 20, top), 0);
}

static int cmp_cand(const void *a, const void *b)
{
    const struct cw__cand *x = a, *y = b;
    if (x->z != y->z)
        return x->z > y->z ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* The selection agrees with a full sort (higher z first, ties to the lower
 * item) on many random lists: few and many candidates, spread and tied z,
 * one far outlier (the histogram's range), every k up to the cap. */
static void test_rank_select_matches_sort(void **state)
{
    enum { N = 3000 };
    static struct cw__cand c[N], sorted[N];
    uint32_t seed = 99;
    for (int round = 0; round < 60; round++) {
        int n = 1 + (int)(tu_rand(&seed) % N);
        for (int i = 0; i < n; i++) {
            double z = round % 3 == 0 ? (double)(tu_rand(&seed) % 7)
                                      : (double)tu_rand(&seed) / 1e6 - 2000;
            c[i] = (struct cw__cand){(uint32_t)i * 7919 % N, z};
        }
        if (round % 4 == 1)
            c[tu_rand(&seed) % (uint32_t)n].z = 1e12;
        memcpy(sorted, c, (size_t)n * sizeof(*c));
        qsort(sorted, (size_t)n, sizeof(*sorted), cmp_cand);
        unsigned k = 1 + tu_rand(&seed) % CW_RANK_MAX;
        int top[CW_RANK_MAX];
        int got = cw__rank_select(c, n, k, top);
        assert_int_equal(got, (int)k < n ? (int)k : n);
        for (int x = 0; x < got; x++) {
            assert_int_equal(c[top[x]].item, sorted[x].item);
            assert_true(c[top[x]].z == sorted[x].z);
        }
    }
}

static void test_rank_features_layout(void **state)
{
    const float f[CW_MODEL_NFEAT] = {0.5f, 0.25f, 0.1f, 0.7f, -1.0f, 0.02f};
    struct cw__rank_raw x = {3,    0.4f,   0.8f, -2.0f,
                             0.3f, 0.125f, 1.5f, {0.5f, 0.25f, 0.0625f}};
    float r[CW_MODEL_NRANK];
    cw__rank_features(f, -2.5, &x, r);
    assert_float_equal(r[0], -2.5, 1e-6);
    assert_float_equal(r[1], 0.25, 1e-6); /* strongest cart item */
    assert_float_equal(r[2], 0.7, 1e-6);  /* popularity */
    assert_float_equal(r[3], -1.0, 1e-6); /* price vs cart */
    assert_float_equal(r[4], 1, 0);       /* bought before */
    assert_float_equal(r[5], log(4.0), 1e-6);
    assert_float_equal(r[6], 0.4, 1e-6);
    assert_float_equal(r[7], 0.4, 1e-6);
    assert_float_equal(r[8], 0.8, 1e-6);    /* trend */
    assert_float_equal(r[9], -2.0, 1e-6);   /* recent share */
    assert_float_equal(r[10], 0.3, 1e-6);   /* confidence */
    assert_float_equal(r[11], 0.125, 1e-6); /* score per cart item */
    assert_float_equal(r[12], 0.1, 1e-6);   /* history weight */
    assert_float_equal(r[13], -2.5 * 1.5, 1e-5);
    assert_float_equal(r[14], 0.5, 0); /* the latest cart lines */
    assert_float_equal(r[15], 0.25, 0);
    assert_float_equal(r[16], 0.0625, 0);
    x.hn = 0; /* never bought */
    cw__rank_features(f, 1, &x, r);
    assert_float_equal(r[4], 0, 0);
    assert_float_equal(r[5], 0, 0);
    assert_float_equal(r[7], 0, 0);
}

/*
 * 40 orders, one a second: A and B in every one, C in the first 30 (gone
 * since), T in the last 2 only (the latest 5%: what sells now). Item model:
 * co-occurrence (no EASE), so every pair that shares an order is listed.
 */
static void trend_dataset(struct cw_dataset *ds)
{
    cw_dataset_init(ds);
    for (int i = 0; i < 40; i++) {
        char b[16], ts[32];
        snprintf(b, sizeof(b), "b%02d", i);
        snprintf(ts, sizeof(ts), "2021-01-01 00:00:%02d", i);
        const char *skus[] = {"A", "B", i < 30 ? "C" : NULL,
                              i >= 38 ? "T" : NULL};
        for (int s = 0; s < 4; s++)
            if (skus[s])
                assert_int_equal(
                    cw_dataset_add(ds, b, "c1", ts, skus[s], 1, 1.0, NAN), 0);
    }
    cw_dataset_finish(ds);
}

static void test_trend_and_cart_evidence(void **state)
{
    struct cw_dataset ds;
    trend_dataset(&ds);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    p.ease_max_items = 0;
    struct cw_model m;
    tu_train(&m, &in, &p);
    uint32_t A = tu_item(&m, "A"), C = tu_item(&m, "C"), T = tu_item(&m, "T"),
             B = tu_item(&m, "B");
    assert_int_equal(m.meta.n_recent, 2);
    assert_int_equal(m.items[A].recent, 2);
    assert_int_equal(m.items[C].recent, 0);
    assert_int_equal(m.items[T].recent, 2);

    struct cw_scratch *s = cw_scratch_new(&m);
    struct cw_decision *d = cw_malloc(sizeof(*d));
    struct cw_cart_line cart[2] = {{"A", 1, CW_MONEY_UNKNOWN},
                                   {"C", 1, CW_MONEY_UNKNOWN}};
    struct cw_decide_req req = {cart,          2, NULL,
                                CW_PLACE_CART, 3, CW_DECIDE_FILL};
    struct cw__cand *c;
    assert_true(cw__decide_candidates(&m, s, &req, d, &c, NULL) > 0);
    struct cw__rank_raw t, b;
    cw__cand_rank_raw(&m, s, T, &t);
    cw__cand_rank_raw(&m, s, B, &b);
    /* T: all of its orders are among the latest; B: as many as ever */
    double all_t = 3.0 / 41, all_b = 41.0 / 41;
    assert_float_equal(t.trend, log((2 + 5 * all_t) / (2 * all_t + 5 * all_t)),
                       1e-5);
    assert_true(t.trend > 1);
    assert_float_equal(b.trend, log((2 + 5 * all_b) / (7 * all_b)), 1e-5);
    assert_float_equal(t.recent, log(3.0 / 3), 1e-6);
    assert_float_equal(t.lncart, log(3.0), 1e-6);
    /* T shares orders with A only: confidence from A, 2 of its 40 orders;
     * B's from either cart item, 30 of C's orders have B, 40 of A's */
    assert_float_equal(t.conf, 2.0 / 40, 1e-6);
    assert_float_equal(b.conf, 1.0, 1e-6);
    /* score per cart item: A's weight for T over 2 */
    double w_at = 2 / (sqrt(40.0 * 2) + 10);
    assert_float_equal(t.mean, w_at / 2, 1e-5);
    cw_free(d);
    cw_scratch_free(s);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

/* A model trained on orders that all list their lines in one order (A<k>
 * before B<k> before N<r>, as an export sorted by sku would) reads no order
 * of the cart's lines: every permutation of a cart gets the same add-ons,
 * probabilities and evidence. */
static void test_decision_ignores_line_order(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 300, 6);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p;
    cw_train_params_default(&p);
    p.now = 1700000000;
    struct cw_model m;
    tu_train(&m, &in, &p);
    assert_int_equal(m.meta.cart_order, 0);
    assert_true(m.meta.line_order_mix == 0);
    struct cw_scratch *s = cw_scratch_new(&m);
    struct cw_decision *d0 = cw_malloc(sizeof(*d0)),
                       *d1 = cw_malloc(sizeof(*d1));
    const char *skus[4] = {"A1", "N3", "B2", "N7"};
    struct cw_cart_line cart[4];
    for (int x = 0; x < 4; x++)
        cart[x] = (struct cw_cart_line){skus[x], 1, CW_MONEY_UNKNOWN};
    struct cw_decide_req req = {cart,          4, "c4",
                                CW_PLACE_CART, 3, CW_DECIDE_FILL};
    assert_int_equal(cw_decide(&m, s, &req, d0, NULL), 0);
    assert_int_equal(d0->n_addons, 3);
    static const int perm[3][4] = {{3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}};
    for (int q = 0; q < 3; q++) {
        for (int x = 0; x < 4; x++)
            cart[x] =
                (struct cw_cart_line){skus[perm[q][x]], 1, CW_MONEY_UNKNOWN};
        assert_int_equal(cw_decide(&m, s, &req, d1, NULL), 0);
        assert_int_equal(d1->n_addons, d0->n_addons);
        for (size_t a = 0; a < d0->n_addons; a++) {
            assert_int_equal(d1->addons[a].item, d0->addons[a].item);
            /* float sums in another order: equal but for rounding */
            assert_float_equal(d1->addons[a].p_accept, d0->addons[a].p_accept,
                               1e-6);
            assert_int_equal(d1->addons[a].evidence_item,
                             d0->addons[a].evidence_item);
        }
    }
    cw_free(d0);
    cw_free(d1);
    cw_scratch_free(s);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

/* The share of adjacent line pairs in their pair's less usual order:
 * X-Y comes twice, Y-X once, X-Z once, and a repeated line is no pair. */
static void test_line_order_mix(void **state)
{
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    static const char *lines[][3] = {
        {"X", "Y", NULL}, {"X", "Y", "Y"}, {"Y", "X", NULL}, {"X", "Z", NULL}};
    for (int b = 0; b < 4; b++) {
        char id[8], ts[32];
        snprintf(id, sizeof(id), "b%d", b);
        snprintf(ts, sizeof(ts), "2021-01-01 00:00:0%d", b);
        for (int l = 0; l < 3 && lines[b][l]; l++)
            assert_int_equal(
                cw_dataset_add(&ds, id, NULL, ts, lines[b][l], 1, 1.0, NAN), 0);
    }
    cw_dataset_finish(&ds);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    struct cw_model m;
    tu_train(&m, &in, &p);
    assert_float_equal(m.meta.line_order_mix, 1.0 / 4, 1e-12);
    assert_int_equal(m.meta.cart_order, 1);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

/*
 * Orders that list their lines as shoppers added them: five of eight
 * items A<k> in a random order, then B<k>, the partner of the latest A.
 * The whole cart backs the partners of all five alike; only the order of
 * its lines tells them apart, and the model learns to read it.
 */
static void test_decision_reads_latest_lines(void **state)
{
    enum { NB = 1200, NP = 8, NA = 5 };
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    uint32_t seed = 7;
    for (int i = 0; i < NB; i++) {
        char id[16], ts[32], sku[8];
        unsigned a[NP];
        for (unsigned x = 0; x < NP; x++) /* a random order of the A's */
            a[x] = x;
        for (unsigned x = NP - 1; x > 0; x--) {
            unsigned y = tu_rand(&seed) % (x + 1), t = a[x];
            a[x] = a[y];
            a[y] = t;
        }
        snprintf(id, sizeof(id), "b%04d", i);
        snprintf(ts, sizeof(ts), "2021-01-01 %02d:%02d:%02d", i / 3600,
                 i / 60 % 60, i % 60);
        const char *cu = i % 2 ? "c1" : NULL;
        for (int x = 0; x < NA; x++) {
            snprintf(sku, sizeof(sku), "A%u", a[x]);
            assert_int_equal(cw_dataset_add(&ds, id, cu, ts, sku, 1, 2.0, NAN),
                             0);
        }
        snprintf(sku, sizeof(sku), "B%u", a[NA - 1]);
        assert_int_equal(cw_dataset_add(&ds, id, cu, ts, sku, 1, 1.0, NAN), 0);
    }
    cw_dataset_finish(&ds);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p;
    cw_train_params_default(&p);
    p.now = 1700000000;
    struct cw_model m;
    tu_train(&m, &in, &p);
    assert_int_equal(m.meta.cart_order, 1);
    /* A-A pairs come both ways (about half the time the less usual way),
     * A-B pairs one way: about 2 in 5 */
    assert_true(m.meta.line_order_mix > 0.3 && m.meta.line_order_mix < 0.5);
    assert_true(m.meta.rank_n > 0);
    struct cw_scratch *s = cw_scratch_new(&m);
    struct cw_decision *d = cw_malloc(sizeof(*d));
    for (unsigned j = 0; j < NP; j++) {
        char sku[NA][8], first[8], last[8];
        struct cw_cart_line cart[NA];
        for (unsigned x = 0; x < NA; x++) {
            snprintf(sku[x], sizeof(sku[x]), "A%u", (j + 3 * x) % NP);
            cart[x] = (struct cw_cart_line){sku[x], 1, CW_MONEY_UNKNOWN};
        }
        snprintf(first, sizeof(first), "B%u", j);
        snprintf(last, sizeof(last), "B%u", (j + 3 * (NA - 1)) % NP);
        struct cw_decide_req req = {cart, NA, NULL, CW_PLACE_CART, 3, 0};
        assert_int_equal(cw_decide(&m, s, &req, d, NULL), 0);
        assert_true(d->n_addons >= 1);
        assert_int_equal(d->addons[0].item, tu_item(&m, last));
        /* and says why: the line the shopper just added */
        assert_int_equal(d->addons[0].reason, CW_REASON_PAIRS_WITH);
        assert_int_equal(d->addons[0].evidence_item, tu_item(&m, sku[NA - 1]));
        char want[64];
        snprintf(want, sizeof(want),
                 "Goes with the %s you just added: ", sku[NA - 1]);
        assert_non_null(strstr(d->addons[0].text, want));
        /* the same cart, added the other way round */
        for (unsigned x = 0; x < NA; x++)
            cart[x].sku = sku[NA - 1 - x];
        assert_int_equal(cw_decide(&m, s, &req, d, NULL), 0);
        assert_true(d->n_addons >= 1);
        assert_int_equal(d->addons[0].item, tu_item(&m, first));
        /* the same lines sent newest first: the first added is the latest
         * again, and so is its partner */
        req.flags = CW_DECIDE_NEWEST_FIRST;
        assert_int_equal(cw_decide(&m, s, &req, d, NULL), 0);
        assert_true(d->n_addons >= 1);
        assert_int_equal(d->addons[0].item, tu_item(&m, last));
        req.flags = 0;
    }
    cw_free(d);
    cw_scratch_free(s);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

/* The intercept for a given slope: as many positives predicted as there
 * are, whatever the slope; a larger share of positives, a larger one. */
static void test_platt_intercept(void **state)
{
    enum { N = 400 };
    double x[N];
    uint8_t y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (i % 40) / 10.0 - 2;
        y[i] = i % 10 == 0 || x[i] > 1.5;
    }
    double pos = 0;
    for (int i = 0; i < N; i++)
        pos += y[i];
    for (double b = 0.5; b <= 2; b += 0.5) {
        double a = cw__platt_intercept(x, y, N, b), sum = 0;
        for (int i = 0; i < N; i++)
            sum += 1 / (1 + exp(-(a + b * x[i])));
        assert_float_equal(sum, pos, 1e-6);
    }
    /* more positives: the level rises */
    double a0 = cw__platt_intercept(x, y, N, 1);
    y[1] = y[2] = y[3] = 1;
    assert_true(cw__platt_intercept(x, y, N, 1) > a0);
    /* none at all: a finite, very low level */
    memset(y, 0, sizeof(y));
    double a1 = cw__platt_intercept(x, y, N, 1);
    assert_true(isfinite(a1) && a1 < -5);
}

/* Two wins in four cases, no loss: mean 0.5, SD 0.5, SE 0.25, z 2; the
 * same gain over twice the cases is surer; a loss is negative. */
static void test_paired_z(void **state)
{
    const double b[8] = {0, 1, 0, 0, 0, 1, 0, 0};
    const double a[8] = {1, 1, 0, 1, 1, 1, 0, 1};
    assert_float_equal(cw__paired_z(a, b, 4), 2.0, 1e-12);
    assert_float_equal(cw__paired_z(a, b, 8), 2.0 * sqrt(2.0), 1e-12);
    assert_float_equal(cw__paired_z(b, a, 4), -2.0, 1e-12);
    assert_float_equal(cw__paired_z(a, a, 8), 0, 0);
    assert_float_equal(cw__paired_z(a, b, 0), 0, 0);
}

/* The hidden items of a validation basket: distinct, the same items
 * whatever the order of its lines, spread over the items (not the last
 * line's), fixed by the basket id. */
static void test_val_hidden_order_free(void **state)
{
    enum { N = 5, B = 5000 };
    const char *skus[N] = {"apple", "bread", "milk", "soda", "bags"};
    static const int perm[3][N] = {
        {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}, {1, 4, 0, 3, 2}};
    size_t count[N] = {0};
    for (int k = 0; k < B; k++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", 500000 + k);
        struct cw_cart_line l[N];
        for (int x = 0; x < N; x++)
            l[x] = (struct cw_cart_line){skus[x], 1, CW_MONEY_UNKNOWN};
        size_t h0 = cw__val_hidden(id, l, N, 0),
               h1 = cw__val_hidden(id, l, N, 1);
        assert_true(h0 < N && h1 < N);
        assert_true(h0 != h1);
        count[h0]++;
        for (int q = 0; q < 3 && k < 200; q++) {
            struct cw_cart_line p[N];
            for (int x = 0; x < N; x++)
                p[x] = l[perm[q][x]];
            assert_string_equal(p[cw__val_hidden(id, p, N, 0)].sku, skus[h0]);
            assert_string_equal(p[cw__val_hidden(id, p, N, 1)].sku, skus[h1]);
        }
    }
    for (int x = 0; x < N; x++)
        assert_true(count[x] > B / N * 8 / 10 && count[x] < B / N * 12 / 10);
    struct cw_cart_line two[2] = {{"a", 1, CW_MONEY_UNKNOWN},
                                  {"b", 1, CW_MONEY_UNKNOWN}};
    assert_true(cw__val_hidden("b", two, 2, 0) !=
                cw__val_hidden("b", two, 2, 1));
    assert_int_equal(cw__val_hidden("b", two, 1, 1), 0);
}

/*
 * c1 buys A in b1 and b2 and B in b3; c2 buys A and C in b4, B in b5; c3
 * (one order) buys A. Orders with A: c1 2, c2 1. Repeat rate of A: of the
 * buyers with two or more orders (c1, c2), one bought it again: (1 + 1) /
 * (2 + 5); B: c1 once, c2 once: (0 + 1) / (2 + 5); C: (0 + 1) / (1 + 5).
 */
static const struct tu_line rep_lines[] = {
    {"b1", "c1", "2021-01-01", "A", 1, 5.00, TU_NA},
    {"b2", "c1", "2021-01-02", "A", 1, 5.00, TU_NA},
    {"b3", "c1", "2021-01-03", "B", 1, 5.00, TU_NA},
    {"b4", "c2", "2021-01-04", "A", 1, 5.00, TU_NA},
    {"b4", "c2", "2021-01-04", "C", 1, 2.00, TU_NA},
    {"b5", "c2", "2021-01-05", "B", 1, 5.00, TU_NA},
    {"b6", "c3", "2021-01-06", "A", 1, 5.00, TU_NA},
};

static uint32_t hist_n(const struct cw_model *m, const char *cust,
                       const char *sku)
{
    long c = cw_model_find_customer(m, cust);
    assert_true(c >= 0);
    uint32_t it = tu_item(m, sku);
    const struct cw_customer *cu = &m->customers[c];
    for (uint32_t x = 0; x < cu->n_hist; x++)
        if (m->hist[cu->hist_off + x].item == it)
            return m->hist[cu->hist_off + x].n;
    return 0;
}

static void test_order_counts_and_repeat_rates(void **state)
{
    struct cw_dataset ds;
    TU_DATASET(&ds, rep_lines);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    struct cw_model m;
    tu_train(&m, &in, &p);
    assert_int_equal(hist_n(&m, "c1", "A"), 2);
    assert_int_equal(hist_n(&m, "c1", "B"), 1);
    assert_int_equal(hist_n(&m, "c2", "A"), 1);
    assert_int_equal(hist_n(&m, "c2", "C"), 1);
    assert_int_equal(hist_n(&m, "c3", "B"), 0);
    assert_float_equal(m.items[tu_item(&m, "A")].repeat_rate, 2.0 / 7, 1e-6);
    assert_float_equal(m.items[tu_item(&m, "B")].repeat_rate, 1.0 / 7, 1e-6);
    assert_float_equal(m.items[tu_item(&m, "C")].repeat_rate, 1.0 / 6, 1e-6);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

/* The file header (model.c): magic[8], format, bom, sizes[5], nsect; then
 * the section table, whose first entry is the meta section. */
#define HDR_LEN 40

static void test_oversized_reranker_refused(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 60, 4);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    struct cw_model m;
    tu_train(&m, &in, &p);
    struct cw_buf enc = CW_BUF_INIT;
    assert_int_equal(cw_model_encode(&m, &enc), 0);
    size_t n = enc.len;
    unsigned char *raw = cw_malloc(n);
    memcpy(raw, enc.buf, n);
    uint64_t off;
    memcpy(&off, raw + HDR_LEN + 8, 8);
    uint32_t big = CW_RANK_MAX + 1;
    memcpy(raw + off + offsetof(struct cw_model_meta, rank_n), &big, 4);
    uint64_t sum = cw_xxh3(raw, n - 8);
    memcpy(raw + n - 8, &sum, 8);
    struct cw_model d;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_model_decode(&d, raw, n, &err), CW_ECORRUPT);
    assert_non_null(strstr(cw_buf_str(&err), "re-ranker"));
    /* at the cap it decodes */
    big = CW_RANK_MAX;
    memcpy(raw + off + offsetof(struct cw_model_meta, rank_n), &big, 4);
    sum = cw_xxh3(raw, n - 8);
    memcpy(raw + n - 8, &sum, 8);
    assert_int_equal(cw_model_decode(&d, raw, n, &err), 0);
    cw_model_release(&d);
    cw_buf_release(&err);
    cw_buf_release(&enc);
    cw_free(raw);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_platt_recovers_known_map),
        TU_TEST(test_clogit_recovers_weights),
        TU_TEST(test_rank_select_order_ties_cap),
        TU_TEST(test_rank_select_matches_sort),
        TU_TEST(test_rank_features_layout),
        TU_TEST(test_trend_and_cart_evidence),
        TU_TEST(test_val_hidden_order_free),
        TU_TEST(test_paired_z),
        TU_TEST(test_platt_intercept),
        TU_TEST(test_decision_ignores_line_order),
        TU_TEST(test_line_order_mix),
        TU_TEST(test_decision_reads_latest_lines),
        TU_TEST(test_order_counts_and_repeat_rates),
        TU_TEST(test_oversized_reranker_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
