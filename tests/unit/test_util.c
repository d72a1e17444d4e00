/*
 * test_util.c: the leaf helpers (alloc, buf, err, hash) and money.
 *
 * These are what every other module trusts blindly, so the tests pin down
 * the contracts stated in the headers: a bounded buffer refuses an append
 * without changing, the error table is complete and consistent, the hashes
 * match published vectors, money text round-trips exactly, and every
 * allocation made through cw_* is released (each test checks the live
 * counter against its value at the start).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_money.h"

static long live_at_start;

static int setup(void **state)
{
    live_at_start = cw_alloc_live();
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(cw_alloc_live(), live_at_start);
    return 0;
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- alloc ------------------------------------------------------------ */

static void test_alloc_counts(void **state)
{
    long start = cw_alloc_live();
    char *a = cw_malloc(10);
    int *z = cw_calloc(16, sizeof(int));
    char *r = cw_realloc(NULL, 5); /* realloc of NULL is a new allocation */
    assert_int_equal(cw_alloc_live(), start + 3);
    for (int i = 0; i < 16; i++)
        assert_int_equal(z[i], 0);
    r = cw_realloc(r, 4096); /* growing is not a new allocation */
    assert_int_equal(cw_alloc_live(), start + 3);
    char *d = cw_strdup("cart");
    char *n = cw_strndup("wise guy", 4);
    assert_string_equal(d, "cart");
    assert_string_equal(n, "wise");
    assert_null(cw_strdup(NULL));
    assert_null(cw_strndup(NULL, 3));
    assert_int_equal(cw_alloc_live(), start + 5);
    cw_free(NULL); /* harmless, not counted */
    cw_free(a);
    cw_free(z);
    cw_free(r);
    cw_free(d);
    cw_free(n);
    assert_int_equal(cw_alloc_live(), start);

    /* zero-size requests still return freeable memory */
    void *p0 = cw_malloc(0), *c0 = cw_calloc(0, 8);
    assert_non_null(p0);
    assert_non_null(c0);
    cw_free(p0);
    cw_free(c0);
    assert_int_equal(cw_alloc_live(), start);
}

static void test_alloc_grow(void **state)
{
    long *arr = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < 10000; i++) {
        CW_GROW(arr, cap, i + 1);
        assert_true(cap >= i + 1);
        arr[i] = (long)i * 3;
    }
    for (size_t i = 0; i < 10000; i++)
        assert_int_equal(arr[i], (long)i * 3);
    size_t before = cap;
    CW_GROW(arr, cap, 5); /* never shrinks */
    assert_int_equal(cap, before);
    cw_free(arr);
}

/* ---- buf -------------------------------------------------------------- */

static void assert_buf(const struct cw_buf *b, const char *want)
{
    assert_string_equal(cw_buf_str(b), want);
    assert_int_equal(b->len, strlen(want));
}

static void test_buf_empty(void **state)
{
    struct cw_buf b = CW_BUF_INIT;
    assert_buf(&b, "");
    cw_buf_reset(&b); /* on a never-allocated buffer */
    assert_buf(&b, "");
    assert_int_equal(cw_buf_add(&b, "", 0), 0);
    assert_buf(&b, "");
    cw_buf_release(&b);
    cw_buf_release(&b); /* twice is harmless */
    assert_buf(&b, "");
}

static void test_buf_grow(void **state)
{
    struct cw_buf b;
    cw_buf_init(&b, 0);
    char want[8192];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(cw_buf_addf(&b, "%d,", i), 0);
        n += (size_t)snprintf(want + n, sizeof(want) - n, "%d,", i);
    }
    assert_buf(&b, want);
    assert_true(b.cap > b.len);
    cw_buf_reset(&b);
    assert_buf(&b, "");
    assert_int_equal(cw_buf_adds(&b, "ab"), 0);
    assert_int_equal(cw_buf_addch(&b, 'c'), 0);
    assert_int_equal(cw_buf_add(&b, "d\0e", 3), 0); /* binary-safe */
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.buf, "abcd\0e", 7);
    cw_buf_release(&b);
}

static void test_buf_bounds(void **state)
{
    struct cw_buf b;
    cw_buf_init(&b, 10);
    assert_int_equal(cw_buf_adds(&b, "hello"), 0);
    assert_int_equal(cw_buf_adds(&b, "world!"), CW_ETOOBIG);
    assert_buf(&b, "hello");
    assert_int_equal(cw_buf_addf(&b, "%s-%d", "long", 12345), CW_ETOOBIG);
    assert_buf(&b, "hello");
    assert_int_equal(cw_buf_adds(&b, "world"), 0); /* exactly the maximum */
    assert_buf(&b, "helloworld");
    assert_int_equal(cw_buf_addch(&b, '!'), CW_ETOOBIG);
    assert_int_equal(cw_buf_add(&b, "x", 1), CW_ETOOBIG);
    assert_int_equal(cw_buf_addf(&b, "%c", 'x'), CW_ETOOBIG);
    assert_int_equal(cw_buf_add(&b, "", 0), 0); /* nothing fits nothing */
    assert_buf(&b, "helloworld");

    /* a JSON string that does not fit adds nothing, not half a string */
    cw_buf_reset(&b);
    assert_int_equal(cw_buf_adds(&b, "ab"), 0);
    assert_int_equal(cw_buf_add_json_str(&b, "a\"b\"cdefgh"), CW_ETOOBIG);
    assert_buf(&b, "ab");
    assert_int_equal(cw_buf_add_json_str(&b, "\n"), 0); /* 4 bytes fit */
    assert_buf(&b, "ab\"\\n\"");
    assert_int_equal(cw_buf_add_json_str(&b, "xyz"), CW_ETOOBIG);
    assert_buf(&b, "ab\"\\n\"");
    cw_buf_release(&b);
}

static void test_buf_addf(void **state)
{
    struct cw_buf b;
    cw_buf_init(&b, 0);
    assert_int_equal(
        cw_buf_addf(&b, "%s=%05.1f|%lld|%%|%x", "k", 2.3, (long long)-7, 255u),
        0);
    assert_buf(&b, "k=002.3|-7|%|ff");
    char big[300];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cw_buf_addf(&b, "[%s]", big), 0); /* past 64 bytes */
    assert_int_equal(b.len, 15 + 2 + 299);
    assert_int_equal(b.buf[b.len - 1], ']');
    assert_int_equal(b.buf[b.len], '\0');
    cw_buf_release(&b);
}

static void assert_json(const char *in, const char *want)
{
    struct cw_buf b = CW_BUF_INIT;
    assert_int_equal(cw_buf_add_json_str(&b, in), 0);
    assert_buf(&b, want);
    cw_buf_release(&b);
}

static void test_buf_json(void **state)
{
    assert_json("", "\"\"");
    assert_json("plain text", "\"plain text\"");
    assert_json("say \"hi\"", "\"say \\\"hi\\\"\"");
    assert_json("C:\\dir", "\"C:\\\\dir\"");
    assert_json("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
    assert_json("\x01\x1f\b\f", "\"\\u0001\\u001f\\u0008\\u000c\"");
    assert_json("a/b\x7f", "\"a/b\x7f\""); /* neither needs escaping */
    assert_json("caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\"");
}

static void test_buf_detach(void **state)
{
    long start = cw_alloc_live();
    struct cw_buf b;
    cw_buf_init(&b, 100);
    size_t len = 99;
    char *p = cw_buf_detach(&b, &len); /* never allocated: still freeable */
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    cw_free(p);

    assert_int_equal(cw_buf_adds(&b, "owned"), 0);
    p = cw_buf_detach(&b, &len);
    assert_string_equal(p, "owned");
    assert_int_equal(len, 5);
    assert_null(b.buf);
    assert_buf(&b, "");
    assert_int_equal(b.max, 100); /* still bounded, reusable */
    assert_int_equal(cw_buf_adds(&b, "again"), 0);
    assert_buf(&b, "again");
    char *q = cw_buf_detach(&b, NULL);
    assert_string_equal(p, "owned");
    assert_string_equal(q, "again");
    cw_free(p);
    cw_free(q);
    cw_buf_release(&b);
    assert_int_equal(cw_alloc_live(), start);
}

static void test_buf_err(void **state)
{
    assert_int_equal(cw_err(NULL, CW_EPARSE, "line %d", 3), CW_EPARSE);
    struct cw_buf err;
    cw_buf_init(&err, 8);
    assert_int_equal(cw_err(&err, CW_ENOENT, "unknown sku '%s'", "85123A"),
                     CW_ENOENT);
    /* replaces, and is never refused for being longer than the maximum */
    assert_buf(&err, "unknown sku '85123A'");
    assert_int_equal(cw_err(&err, CW_EIO, "short"), CW_EIO);
    assert_buf(&err, "short");
    assert_int_equal(err.max, 8);
    cw_buf_release(&err);
}

/* ---- err -------------------------------------------------------------- */

struct err_row {
    const char *name;
    int val;
    const char *msg;
};

static const struct err_row err_rows[] = {
#define ROW(name, val, msg) {#name, val, msg},
    CW_ERRNO_MAP(ROW)
#undef ROW
};
#define NERR (sizeof(err_rows) / sizeof(*err_rows))

static void test_err_table(void **state)
{
    int min = 0;
    for (size_t i = 0; i < NERR; i++) {
        const struct err_row *e = &err_rows[i];
        assert_true(e->val < 0);
        assert_true(e->name[0] == 'E');
        assert_true(e->msg[0] != '\0');
        assert_string_equal(cw_errname(e->val), e->name);
        assert_string_equal(cw_strerror(e->val), e->msg);
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(err_rows[j].val, e->val);
            assert_string_not_equal(err_rows[j].name, e->name);
            assert_string_not_equal(err_rows[j].msg, e->msg);
        }
        if (e->val < min)
            min = e->val;
    }
    /* complete: the codes are -1 .. -NERR with no gap */
    assert_int_equal(min, -(int)NERR);
    for (int code = -1; code >= min; code--)
        assert_string_not_equal(cw_errname(code), "EUNKNOWN");

    assert_string_equal(cw_errname(0), "OK");
    assert_string_equal(cw_strerror(0), "success");
    assert_string_equal(cw_errname(min - 1), "EUNKNOWN");
    assert_string_equal(cw_strerror(min - 1), "unknown error");
    assert_string_equal(cw_errname(1), "EUNKNOWN");
    assert_string_equal(cw_strerror(12345), "unknown error");

    /* the enum carries the same values */
    assert_int_equal(CW_EINVAL, -1);
    assert_int_equal(CW_ETOOBIG, -6);
    assert_string_equal(cw_errname(CW_EPARSE), "EPARSE");
}

/* ---- hash ------------------------------------------------------------- */

static void test_fnv1a32(void **state)
{
    assert_int_equal(cw_fnv1a32("", 0), 0x811c9dc5u);
    assert_int_equal(cw_fnv1a32("a", 1), 0xe40c292cu);
    assert_int_equal(cw_fnv1a32("foobar", 6), 0xbf9cf968u);
    /* length, not NUL, ends the input */
    assert_int_equal(cw_fnv1a32("foobar!!", 6), 0xbf9cf968u);
    assert_int_not_equal(cw_fnv1a32("a\0", 2), cw_fnv1a32("a", 1));
}

static void test_xxh3(void **state)
{
    /* published XXH3-64 vector of the empty input */
    assert_true(cw_xxh3("", 0) == 0x2d06800538d394c2ull);
    const char *s = "85123A";
    assert_true(cw_xxh3(s, 6) == XXH3_64bits(s, 6));
    assert_true(cw_xxh3_seed(s, 6, 0) == cw_xxh3(s, 6));
    assert_true(cw_xxh3_seed(s, 6, 42) == XXH3_64bits_withSeed(s, 6, 42));
    assert_true(cw_xxh3_seed(s, 6, 42) != cw_xxh3_seed(s, 6, 43));
}

static void test_intern_basic(void **state)
{
    struct cw_intern t;
    cw_intern_init(&t);
    assert_int_equal(cw_intern_find(&t, "x", 1), -1); /* empty table */
    int added = -1;
    assert_int_equal(cw_intern_add(&t, "abc", 3, &added), 0);
    assert_int_equal(added, 1);
    assert_int_equal(cw_intern_add(&t, "ab", 2, &added), 1); /* a prefix */
    assert_int_equal(added, 1);
    assert_int_equal(cw_intern_add(&t, "", 0, &added), 2); /* empty key */
    assert_int_equal(added, 1);
    assert_int_equal(cw_intern_add(&t, "a\0c", 3, &added), 3); /* by length */
    assert_int_equal(added, 1);
    assert_int_equal(cw_intern_add(&t, "abcdef", 3, &added), 0);
    assert_int_equal(added, 0);
    assert_int_equal(cw_intern_add(&t, "ab", 2, NULL), 1);
    assert_int_equal(t.n, 4);
    assert_int_equal(cw_intern_find(&t, "abc", 3), 0);
    assert_int_equal(cw_intern_find(&t, "ab", 2), 1);
    assert_int_equal(cw_intern_find(&t, "", 0), 2);
    assert_int_equal(cw_intern_find(&t, "a\0c", 3), 3);
    assert_int_equal(cw_intern_find(&t, "a", 1), -1);
    assert_int_equal(cw_intern_find(&t, "abcd", 4), -1);
    /* keys are owned copies, NUL-terminated */
    char key[] = "tmp";
    uint32_t id = cw_intern_add(&t, key, 3, NULL);
    key[0] = 'X';
    assert_string_equal(t.keys[id], "tmp");
    assert_int_equal(t.lens[id], 3);
    cw_intern_release(&t);
    assert_int_equal(t.n, 0);
    cw_intern_release(&t); /* twice is harmless */
}

static void test_intern_100k(void **state)
{
    enum { N = 100000 };
    struct cw_intern t;
    cw_intern_init(&t);
    char key[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(key, sizeof(key), "sku-%d", i);
        int added = 0;
        assert_int_equal(cw_intern_add(&t, key, (size_t)len, &added),
                         (uint32_t)i);
        assert_int_equal(added, 1);
    }
    assert_int_equal(t.n, N);
    assert_true(t.nslots >= 2 * (size_t)N);        /* load <= 1/2 */
    assert_true((t.nslots & (t.nslots - 1)) == 0); /* power of two */
    for (int i = N - 1; i >= 0; i--) {
        int len = snprintf(key, sizeof(key), "sku-%d", i);
        assert_int_equal(cw_intern_find(&t, key, (size_t)len), i);
        int added = -1;
        assert_int_equal(cw_intern_add(&t, key, (size_t)len, &added),
                         (uint32_t)i);
        assert_int_equal(added, 0);
        assert_string_equal(t.keys[i], key);
    }
    assert_int_equal(t.n, N);
    for (int i = N; i < N + 1000; i++) {
        int len = snprintf(key, sizeof(key), "sku-%d", i);
        assert_int_equal(cw_intern_find(&t, key, (size_t)len), -1);
    }
    cw_intern_release(&t);
}

/* The fixture's SKUs and baskets interned: the counts tests/data/README.md
 * states (1,315 SKUs, 89 baskets). */
static void test_intern_fixture(void **state)
{
    const char *dir = getenv("CW_TEST_DATA"); /* set by ctest */
    char path[1024];
    snprintf(path, sizeof(path), "%s/lines_small.csv",
             dir ? dir : "tests/data");
    FILE *f = fopen(path, "r");
    if (!f && !dir) {
        print_message("skipped: %s not found (set CW_TEST_DATA)\n", path);
        skip();
    }
    if (!f)
        fail_msg("cannot open %s", path);
    struct cw_intern skus, baskets;
    cw_intern_init(&skus);
    cw_intern_init(&baskets);
    char line[512];
    long rows = 0;
    assert_non_null(fgets(line, sizeof(line), f)); /* header */
    while (fgets(line, sizeof(line), f)) {
        char *field[7];
        int nf = 0;
        for (char *p = line, *s = line; nf < 7; p++) {
            if (*p == ',' || *p == '\n' || *p == '\0') {
                field[nf++] = s;
                int end = *p != ',';
                *p = '\0';
                s = p + 1;
                if (end)
                    break;
            }
        }
        assert_int_equal(nf, 7);
        cw_intern_add(&skus, field[3], strlen(field[3]), NULL);
        cw_intern_add(&baskets, field[0], strlen(field[0]), NULL);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 2989);
    assert_int_equal(skus.n, 1315);
    assert_int_equal(baskets.n, 89);
    assert_int_equal(cw_intern_find(&skus, "85123A", 6), 0);
    cw_intern_release(&skus);
    cw_intern_release(&baskets);
}

/* ---- money ------------------------------------------------------------ */

static void assert_parse(const char *s, int exponent, int64_t want)
{
    int64_t got = 12345;
    int rc = cw_money_parse(s, strlen(s), exponent, &got);
    if (rc)
        fail_msg("parse '%s' exp %d: %s", s, exponent, cw_errname(rc));
    if (got != want)
        fail_msg("parse '%s' exp %d: got %lld want %lld", s, exponent,
                 (long long)got, (long long)want);
}

static void assert_parse_fails(const char *s, int exponent, int want_rc)
{
    int64_t got = 777;
    int rc = cw_money_parse(s, strlen(s), exponent, &got);
    if (rc != want_rc)
        fail_msg("parse '%s' exp %d: got %s want %s", s, exponent,
                 cw_errname(rc), cw_errname(want_rc));
    assert_int_equal(got, 777); /* untouched on failure */
}

static void test_money_parse(void **state)
{
    assert_parse("2.55", 2, 255);
    assert_parse("0.001", 2, 0);
    assert_parse("0.005", 2, 1);
    assert_parse("0.0049", 2, 0);
    assert_parse("2.555", 2, 256);
    assert_parse("2.5549", 2, 255); /* only the first dropped digit counts */
    assert_parse("-1.5", 2, -150);
    assert_parse("-0.005", 2, -1); /* half away from zero */
    assert_parse("+2", 2, 200);
    assert_parse(" 3 ", 2, 300);
    assert_parse("\t7\t", 2, 700);
    assert_parse("5.", 2, 500);
    assert_parse(".5", 2, 50);
    assert_parse("0", 2, 0);
    assert_parse("-0", 2, 0);
    assert_parse("007.10", 2, 710);
    assert_parse("11062.06", 2, 1106206);
    assert_parse("15", 0, 15); /* JPY */
    assert_parse("15.6", 0, 16);
    assert_parse("15.4", 0, 15);
    assert_parse("1.2345", 3, 1235); /* KWD */
    assert_parse("1.2344", 3, 1234);
    assert_parse("92233720368547758.07", 2, INT64_MAX);
    assert_parse("-92233720368547758.07", 2, -INT64_MAX);
    assert_parse("9223372036854775807", 0, INT64_MAX);

    /* only the first n bytes are read */
    int64_t v = 0;
    assert_int_equal(cw_money_parse("12.34xyz", 5, 2, &v), 0);
    assert_int_equal(v, 1234);

    assert_parse_fails("", 2, CW_EPARSE);
    assert_parse_fails("   ", 2, CW_EPARSE);
    assert_parse_fails("-", 2, CW_EPARSE);
    assert_parse_fails(".", 2, CW_EPARSE);
    assert_parse_fails("1e3", 2, CW_EPARSE);
    assert_parse_fails("1.2.3", 2, CW_EPARSE);
    assert_parse_fails("1,234.50", 2, CW_EPARSE);
    assert_parse_fails("1 2", 2, CW_EPARSE);
    assert_parse_fails("--1", 2, CW_EPARSE);
    assert_parse_fails("0x10", 2, CW_EPARSE);
    assert_parse_fails("0.00x", 2, CW_EPARSE);
    assert_parse_fails("$5", 2, CW_EPARSE);
    assert_parse_fails("92233720368547758.08", 2, CW_ETOOBIG);
    assert_parse_fails("-92233720368547758.08", 2, CW_ETOOBIG);
    assert_parse_fails("99999999999999999999", 2, CW_ETOOBIG);
    assert_parse_fails("100000000000000000", 2, CW_ETOOBIG);
    assert_parse_fails("9223372036854775807.5", 0, CW_ETOOBIG);
    assert_parse_fails("9223372036854775808", 0, CW_ETOOBIG);
}

static void test_money_format(void **state)
{
    char buf[32];
    assert_string_equal(cw_money_format(255, 2, buf, sizeof(buf)), "2.55");
    assert_string_equal(cw_money_format(-150, 2, buf, sizeof(buf)), "-1.50");
    assert_string_equal(cw_money_format(5, 2, buf, sizeof(buf)), "0.05");
    assert_string_equal(cw_money_format(-5, 2, buf, sizeof(buf)), "-0.05");
    assert_string_equal(cw_money_format(0, 2, buf, sizeof(buf)), "0.00");
    assert_string_equal(cw_money_format(15, 0, buf, sizeof(buf)), "15");
    assert_string_equal(cw_money_format(-15, 0, buf, sizeof(buf)), "-15");
    assert_string_equal(cw_money_format(1234, 3, buf, sizeof(buf)), "1.234");
    assert_string_equal(cw_money_format(INT64_MAX, 2, buf, sizeof(buf)),
                        "92233720368547758.07");
    assert_string_equal(cw_money_format(INT64_MIN, 2, buf, sizeof(buf)),
                        "-92233720368547758.08");
}

static void test_money_round_trip(void **state)
{
    /* with INT64_MAX / 10 and INT64_MAX - 9; each also negated */
    static const int64_t vals[] = {0,
                                   1,
                                   9,
                                   10,
                                   99,
                                   100,
                                   255,
                                   150,
                                   1106206,
                                   123456789,
                                   922337203685477580,
                                   9223372036854775798,
                                   INT64_MAX};
    static const int exps[] = {0, 2, 3};
    char buf[32];
    for (size_t e = 0; e < sizeof(exps) / sizeof(*exps); e++)
        for (size_t i = 0; i < sizeof(vals) / sizeof(*vals); i++)
            for (int sign = 1; sign >= -1; sign -= 2) {
                int64_t v = sign * vals[i];
                cw_money_format(v, exps[e], buf, sizeof(buf));
                assert_parse(buf, exps[e], v);
            }
    /* and a sweep of small amounts, both signs */
    for (int64_t v = -20000; v <= 20000; v += 7) {
        cw_money_format(v, 2, buf, sizeof(buf));
        assert_parse(buf, 2, v);
    }
}

static void test_currency_exponent(void **state)
{
    assert_int_equal(cw_currency_exponent("GBP"), 2);
    assert_int_equal(cw_currency_exponent("EUR"), 2);
    assert_int_equal(cw_currency_exponent("JPY"), 0);
    assert_int_equal(cw_currency_exponent("KRW"), 0);
    assert_int_equal(cw_currency_exponent("KWD"), 3);
    assert_int_equal(cw_currency_exponent("XXX"), 2);
    assert_int_equal(cw_currency_exponent(NULL), 2);
    /* the form of a code: three capital letters, nothing after */
    assert_int_equal(cw_currency_valid("GBP"), 1);
    assert_int_equal(cw_currency_valid("gbp"), 0);
    assert_int_equal(cw_currency_valid("GB"), 0);
    assert_int_equal(cw_currency_valid("GBPX"), 0);
    assert_int_equal(cw_currency_valid("G1P"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_alloc_counts),      TEST(test_alloc_grow),
        TEST(test_buf_empty),         TEST(test_buf_grow),
        TEST(test_buf_bounds),        TEST(test_buf_addf),
        TEST(test_buf_json),          TEST(test_buf_detach),
        TEST(test_buf_err),           TEST(test_err_table),
        TEST(test_fnv1a32),           TEST(test_xxh3),
        TEST(test_intern_basic),      TEST(test_intern_100k),
        TEST(test_intern_fixture),    TEST(test_money_parse),
        TEST(test_money_format),      TEST(test_money_round_trip),
        TEST(test_currency_exponent),
    };
    long start = cw_alloc_live();
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (cw_alloc_live() != start) {
        fprintf(stderr, "test_util: %ld allocations never freed\n",
                cw_alloc_live() - start);
        failed++;
    }
    return failed ? 1 : 0;
}
