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

#include "cartwise/cw_hash.h"
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

static void test_rank_features_layout(void **state)
{
    const float f[CW_MODEL_NFEAT] = {0.5f, 0.25f, 0.1f, 0.7f, -1.0f, 0.02f};
    float r[CW_MODEL_NRANK];
    cw__rank_features(f, -2.5, 3, 0.4f, r);
    assert_float_equal(r[0], -2.5, 1e-6);
    assert_float_equal(r[1], 0.25, 1e-6); /* strongest cart item */
    assert_float_equal(r[2], 0.7, 1e-6);  /* popularity */
    assert_float_equal(r[3], -1.0, 1e-6); /* price vs cart */
    assert_float_equal(r[4], 1, 0);       /* bought before */
    assert_float_equal(r[5], log(4.0), 1e-6);
    assert_float_equal(r[6], 0.4, 1e-6);
    assert_float_equal(r[7], 0.4, 1e-6);
    cw__rank_features(f, 1, 0, 0.4f, r); /* never bought */
    assert_float_equal(r[4], 0, 0);
    assert_float_equal(r[5], 0, 0);
    assert_float_equal(r[7], 0, 0);
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
        TU_TEST(test_rank_features_layout),
        TU_TEST(test_order_counts_and_repeat_rates),
        TU_TEST(test_oversized_reranker_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
