/*
 * test_model.c: the model artifact: training produces one, its file form
 * decodes back to the same model, and a damaged file is refused.
 *
 * A model file is read straight into the decision path (mmap'ed, no
 * copy), so decoding is the only line of defence: every flipped byte must
 * fail the checksum, a truncated or foreign file must be refused, and a
 * file whose checksum was forged over an out-of-range index must still be
 * caught by validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cartwise/cw_decide.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "testutil.h"

/* The file header (model.c): magic[8], format, bom, sizes[5], nsect. */
#define HDR_LEN 40
/* Section table entries follow it: {u32 id, u32 pad, u64 off, u64 len}. */
#define SECT_LEN 24
#define SECT_NBRS 5

struct fix {
    struct cw_dataset ds;
    struct cw_model m;
    struct cw_buf enc;
};

static const struct cw_product_rec products[] = {
    {.sku = "A0",
     .title = "Trail Tent",
     .category = "outdoor>tents",
     .price = CW_MONEY_UNKNOWN,
     .cost = CW_MONEY_UNKNOWN,
     .inventory = 5},
    {.sku = "B0",
     .title = "Tent Stakes",
     .group = "stakes",
     .price = CW_MONEY_UNKNOWN,
     .cost = 20,
     .inventory = -1},
    {.sku = "ONLY-CATALOG",
     .title = "Not sold yet",
     .price = 999,
     .cost = CW_MONEY_UNKNOWN,
     .inventory = 3},
};

/* A small trained model (tune off, fixed lambda) and its encoding. */
static void fix_small(struct fix *f)
{
    tu_pairs_dataset(&f->ds, 60, 4);
    struct cw_train_input in = tu_input(&f->ds);
    in.products = products;
    in.n_products = sizeof(products) / sizeof(*products);
    struct cw_train_params p = tu_params_fixed(10);
    tu_train(&f->m, &in, &p);
    cw_buf_init(&f->enc, 0);
    assert_int_equal(cw_model_encode(&f->m, &f->enc), 0);
    assert_true(f->enc.len > HDR_LEN + 8);
}

static void fix_release(struct fix *f)
{
    cw_buf_release(&f->enc);
    cw_model_release(&f->m);
    cw_dataset_release(&f->ds);
}

/* A private, 8-byte aligned copy of the encoding. */
static unsigned char *copy_enc(const struct fix *f)
{
    unsigned char *p = cw_malloc(f->enc.len);
    memcpy(p, f->enc.buf, f->enc.len);
    return p;
}

static void assert_same_model(const struct cw_model *a,
                              const struct cw_model *b)
{
    assert_int_equal(a->n_items, b->n_items);
    assert_int_equal(a->n_groups, b->n_groups);
    assert_int_equal(a->n_categories, b->n_categories);
    assert_int_equal(a->n_customers, b->n_customers);
    assert_int_equal(a->n_popular, b->n_popular);
    assert_memory_equal(&a->meta, &b->meta, sizeof(a->meta));
    for (uint32_t i = 0; i < a->n_items; i++) {
        assert_string_equal(cw_model_sku(a, i), cw_model_sku(b, i));
        assert_int_equal(cw_model_find_sku(b, cw_model_sku(a, i)), i);
        assert_int_equal(cw_model_find_sku(a, cw_model_sku(a, i)), i);
        assert_memory_equal(&a->items[i], &b->items[i], sizeof(a->items[i]));
        assert_int_equal(a->nbr_off[i + 1], b->nbr_off[i + 1]);
    }
    assert_memory_equal(a->nbrs, b->nbrs,
                        a->nbr_off[a->n_items] * sizeof(*a->nbrs));
    for (uint32_t c = 0; c < a->n_customers; c++) {
        const char *id = cw_model_str(a, a->customer_id[c]);
        assert_string_equal(id, cw_model_str(b, b->customer_id[c]));
        assert_int_equal(cw_model_find_customer(b, id), c);
    }
}

static void test_train_small_and_lookups(void **state)
{
    struct fix f;
    fix_small(&f);
    /* universe: the dataset's skus, then the catalog-only one */
    assert_int_equal(f.m.n_items, f.ds.skus.n + 1);
    for (size_t s = 0; s < f.ds.skus.n; s++)
        assert_int_equal(cw_model_find_sku(&f.m, f.ds.skus.keys[s]), (long)s);
    uint32_t oc = tu_item(&f.m, "ONLY-CATALOG");
    assert_false(f.m.items[oc].flags & CW_ITEM_IN_TRAINING);
    assert_true(f.m.items[tu_item(&f.m, "A0")].flags & CW_ITEM_IN_TRAINING);
    assert_string_equal(
        cw_model_str(&f.m, f.m.items[tu_item(&f.m, "A0")].title), "Trail Tent");
    assert_int_equal(cw_model_find_sku(&f.m, "nope"), -1);
    assert_int_equal(cw_model_find_sku(&f.m, NULL), -1);
    assert_int_equal(cw_model_find_sku(&f.m, ""), -1);
    assert_true(cw_model_find_customer(&f.m, "c0") >= 0);
    assert_int_equal(cw_model_find_customer(&f.m, "c999"), -1);
    assert_int_equal(cw_model_find_customer(&f.m, NULL), -1);
    assert_int_equal(cw_model_find_customer(&f.m, ""), -1);
    assert_true(f.m.meta.ease_lambda == 10);
    assert_int_equal(f.m.meta.trained_at, 1700000000);
    assert_int_equal(f.m.meta.n_baskets, 60);
    assert_string_equal(f.m.meta.currency, "USD");
    assert_int_equal(f.m.meta.currency_exp, 2);
    /* the model owns its bytes, and they are its encoding */
    assert_non_null(f.m.owned);
    assert_int_equal(f.enc.len, f.m.raw_len);
    fix_release(&f);
}

static void test_round_trip(void **state)
{
    struct fix f;
    fix_small(&f);
    unsigned char *raw = copy_enc(&f);
    struct cw_model d;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_model_decode(&d, raw, f.enc.len, &err), 0);
    assert_null(d.owned);
    assert_ptr_equal(d.raw, raw);
    assert_same_model(&f.m, &d);
    assert_string_equal(cw_model_str(&d, d.items[tu_item(&d, "A0")].title),
                        "Trail Tent");
    /* encoding the decoded model gives the same bytes back */
    struct cw_buf again = CW_BUF_INIT;
    assert_int_equal(cw_model_encode(&d, &again), 0);
    assert_int_equal(again.len, f.enc.len);
    assert_memory_equal(again.buf, f.enc.buf, f.enc.len);
    cw_buf_release(&again);

    /* and the decision path gives the same answer on both */
    struct cw_cart_line line = {"A1", 1, CW_MONEY_UNKNOWN};
    struct cw_decide_req req = {&line,         1, "c1",
                                CW_PLACE_CART, 3, CW_DECIDE_FILL};
    struct cw_scratch *s1 = cw_scratch_new(&f.m), *s2 = cw_scratch_new(&d);
    struct cw_decision x, y;
    assert_int_equal(cw_decide(&f.m, s1, &req, &x, NULL), 0);
    assert_int_equal(cw_decide(&d, s2, &req, &y, NULL), 0);
    assert_true(x.n_addons > 0);
    assert_int_equal(x.n_addons, y.n_addons);
    for (size_t k = 0; k < x.n_addons; k++) {
        assert_int_equal(x.addons[k].item, y.addons[k].item);
        assert_true(x.addons[k].p_accept == y.addons[k].p_accept);
        assert_string_equal(x.addons[k].text, y.addons[k].text);
    }
    cw_scratch_free(s1);
    cw_scratch_free(s2);
    cw_model_release(&d);
    cw_buf_release(&err);
    cw_free(raw);
    fix_release(&f);
}

static void test_tuned_model_round_trip(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 300, 8);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p;
    cw_train_params_default(&p);
    p.now = 1;
    assert_int_equal(p.tune, 1);
    struct cw_model m;
    tu_train(&m, &in, &p);
    /* tuning picked a lambda from its grid */
    assert_true(m.meta.ease_lambda > 0);
    assert_int_equal(m.meta.n_baskets, 300);
    for (unsigned k = 0; k < 8; k++) {
        char a[16], b[16];
        snprintf(a, sizeof(a), "A%u", k);
        snprintf(b, sizeof(b), "B%u", k);
        assert_int_equal(tu_top_nbr(&m, tu_item(&m, a)), tu_item(&m, b));
    }
    struct cw_buf enc = CW_BUF_INIT;
    assert_int_equal(cw_model_encode(&m, &enc), 0);
    struct cw_model d;
    assert_int_equal(cw_model_decode(&d, enc.buf, enc.len, NULL), 0);
    assert_same_model(&m, &d);
    cw_model_release(&d);
    cw_buf_release(&enc);
    cw_model_release(&m);
    cw_dataset_release(&ds);
}

static void test_flipped_byte_refused(void **state)
{
    struct fix f;
    fix_small(&f);
    unsigned char *raw = copy_enc(&f);
    struct cw_buf err = CW_BUF_INIT;
    size_t n = f.enc.len;
    for (size_t i = 0; i < n; i++) {
        struct cw_model d;
        raw[i] ^= 0x20;
        int rc = cw_model_decode(&d, raw, n, &err);
        if (rc != CW_ECORRUPT)
            fprintf(stderr, "byte %zu of %zu: rc %d\n", i, n, rc);
        assert_int_equal(rc, CW_ECORRUPT);
        if (i >= HDR_LEN && !strstr(cw_buf_str(&err), "checksum"))
            fprintf(stderr, "byte %zu: '%s'\n", i, cw_buf_str(&err));
        if (i >= HDR_LEN)
            assert_non_null(strstr(cw_buf_str(&err), "checksum"));
        cw_model_release(&d); /* harmless after a failed decode */
        raw[i] ^= 0x20;
    }
    /* the original still decodes */
    struct cw_model d;
    assert_int_equal(cw_model_decode(&d, raw, n, &err), 0);
    cw_model_release(&d);
    cw_buf_release(&err);
    cw_free(raw);
    fix_release(&f);
}

static void test_truncated_refused(void **state)
{
    struct fix f;
    fix_small(&f);
    unsigned char *raw = copy_enc(&f);
    size_t n = f.enc.len;
    const size_t cuts[] = {0,     1,     8,     HDR_LEN, HDR_LEN + 8,
                           n / 2, n - 9, n - 8, n - 1};
    struct cw_buf err = CW_BUF_INIT;
    for (size_t k = 0; k < sizeof(cuts) / sizeof(*cuts); k++) {
        struct cw_model d;
        cw_buf_reset(&err);
        assert_int_equal(cw_model_decode(&d, raw, cuts[k], &err), CW_ECORRUPT);
        assert_true(err.len > 0);
        cw_model_release(&d);
    }
    cw_buf_release(&err);
    cw_free(raw);
    fix_release(&f);
}

static void test_wrong_magic_refused(void **state)
{
    struct fix f;
    fix_small(&f);
    unsigned char *raw = copy_enc(&f);
    struct cw_buf err = CW_BUF_INIT;
    struct cw_model d;
    memcpy(raw, "CWMODEX", 7);
    assert_int_equal(cw_model_decode(&d, raw, f.enc.len, &err), CW_ECORRUPT);
    assert_non_null(strstr(cw_buf_str(&err), "not a cartwise model"));
    /* something else entirely, long enough to have a "header" */
    char text[200];
    memset(text, 'x', sizeof(text));
    assert_int_equal(cw_model_decode(&d, text, sizeof(text), &err),
                     CW_ECORRUPT);
    cw_buf_release(&err);
    cw_free(raw);
    fix_release(&f);
}

static void test_forged_checksum_bad_index_refused(void **state)
{
    /* a file whose checksum is right but whose neighbour index points
     * past the items: validation must catch what the checksum cannot */
    struct fix f;
    fix_small(&f);
    unsigned char *raw = copy_enc(&f);
    size_t n = f.enc.len;
    uint32_t id;
    uint64_t off, len;
    const unsigned char *e = raw + HDR_LEN + (SECT_NBRS - 1) * SECT_LEN;
    memcpy(&id, e, 4);
    memcpy(&off, e + 8, 8);
    memcpy(&len, e + 16, 8);
    assert_int_equal(id, SECT_NBRS);
    assert_true(len >= sizeof(struct cw_nbr));
    assert_true(off + len <= n - 8);
    uint32_t bad = f.m.n_items + 7;
    memcpy(raw + off + offsetof(struct cw_nbr, item), &bad, 4);
    uint64_t sum = cw_xxh3(raw, n - 8);
    memcpy(raw + n - 8, &sum, 8);
    struct cw_buf err = CW_BUF_INIT;
    struct cw_model d;
    assert_int_equal(cw_model_decode(&d, raw, n, &err), CW_ECORRUPT);
    assert_null(strstr(cw_buf_str(&err), "checksum"));
    assert_non_null(strstr(cw_buf_str(&err), "neighbour"));
    cw_model_release(&d);

    /* a format version this build does not read */
    memcpy(raw, f.enc.buf, n);
    uint32_t fmt = CW_MODEL_FORMAT + 1;
    memcpy(raw + 8, &fmt, 4);
    sum = cw_xxh3(raw, n - 8);
    memcpy(raw + n - 8, &sum, 8);
    assert_int_equal(cw_model_decode(&d, raw, n, &err), CW_ECORRUPT);
    assert_non_null(strstr(cw_buf_str(&err), "format"));
    cw_buf_release(&err);
    cw_free(raw);
    fix_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_train_small_and_lookups),
        TU_TEST(test_round_trip),
        TU_TEST(test_tuned_model_round_trip),
        TU_TEST(test_flipped_byte_refused),
        TU_TEST(test_truncated_refused),
        TU_TEST(test_wrong_magic_refused),
        TU_TEST(test_forged_checksum_bad_index_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
