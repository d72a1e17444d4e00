/*
 * test_server_decide_fast.c: the decide body read without a JSON tree
 * (src/server/decide_fast.c): what it reads, field by field, and what it
 * declines, leaving the body to the general way (jansson, json_io.c),
 * which must then give the same answer it would have given alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <string.h>

#include "cartwise/cw_money.h"
#include "server/server.h"

static struct cw_srv_decide fq, gq; /* large */

/* The fast way on text (a copy without a NUL after it, as a request body
 * arrives): 1 read, 0 declined. */
static int fast(const char *text, struct cw_incentive_session *is)
{
    size_t n = strlen(text);
    char *copy = test_malloc(n ? n : 1);
    memcpy(copy, text, n);
    struct cw_srv_arena a;
    cw_srv_arena_init(&a);
    int rc = cw_srv_decide_fast(copy, n, &a, &fq, is);
    /* the strings live in the arena, not in the body */
    memset(copy, 'x', n);
    test_free(copy);
    if (rc) {
        /* keep what the test looks at beyond the arena's life */
        static char keep[8192];
        size_t used = 0;
        const char **strs[2 + 2 * CW_CART_MAX];
        size_t ns = 0;
        strs[ns++] = &fq.session_id;
        strs[ns++] = &fq.customer_id;
        for (size_t i = 0; i < fq.n_lines; i++) {
            strs[ns++] = &fq.lines[i].sku;
            strs[ns++] = &fq.variant[i];
        }
        for (size_t i = 0; i < ns; i++) {
            if (!*strs[i])
                continue;
            size_t len = strlen(*strs[i]) + 1;
            assert_true(used + len <= sizeof(keep));
            memcpy(keep + used, *strs[i], len);
            *strs[i] = keep + used;
            used += len;
        }
    }
    cw_srv_arena_release(&a);
    return rc;
}

/* The general way on text: 0, or -1 with e. */
static int general(const char *text, struct cw_incentive_session *is,
                   struct cw_srv_error *e)
{
    json_t *root;
    if (cw_srv_json_load(text, strlen(text), &root, e) < 0)
        return -1;
    int rc = cw_srv_parse_decide(root, &gq, e) < 0 ||
                     cw_srv_parse_decide_incentives(root, is, e) < 0
                 ? -1
                 : 0;
    json_decref(root);
    return rc;
}

static void test_reads_the_common_shape(void **state)
{
    (void)state;
    struct cw_incentive_session is;
    assert_int_equal(
        fast("{\"session_id\":\"s-1\",\"customer_id\":\"17850\","
             "\"placement\":\"checkout\",\"cart\":[{\"sku\":\"85123A\","
             "\"variant\":\"85123A-XL\",\"qty\":2,\"price\":255},{\"sku\":"
             "\"22423\"}],\"k\":2}",
             &is),
        1);
    assert_string_equal(fq.session_id, "s-1");
    assert_string_equal(fq.customer_id, "17850");
    assert_int_equal(fq.placement, CW_PLACE_CHECKOUT);
    assert_int_equal(fq.k, 2);
    assert_int_equal(fq.n_lines, 2);
    assert_string_equal(fq.lines[0].sku, "85123A");
    assert_string_equal(fq.variant[0], "85123A-XL");
    assert_int_equal(fq.lines[0].qty, 2);
    assert_int_equal(fq.lines[0].price, 255);
    assert_string_equal(fq.lines[1].sku, "22423");
    assert_null(fq.variant[1]);
    assert_int_equal(fq.lines[1].qty, 1);
    assert_int_equal(fq.lines[1].price, CW_MONEY_UNKNOWN);
    /* no incentive signals: the defaults of the general way */
    assert_int_equal(is.cart_views, -1);
    assert_int_equal(is.seconds_on_cart, -1);
    assert_int_equal(is.mobile, -1);
    assert_int_equal(is.coupon, 0);
}

static void test_defaults_nulls_and_numbers(void **state)
{
    (void)state;
    struct cw_incentive_session is;
    assert_int_equal(
        fast(" {\n\"session_id\" : \"s\", \"customer_id\":-42,\"placement\":"
             "null,\"k\":null,\"cart\":[{\"sku\":\"A\",\"variant\":\"\","
             "\"qty\":null,\"price\":0}],\"coupon\":1500,\"context\":{"
             "\"cart_views\":3,\"seconds_on_cart\":100000000,\"device\":"
             "\"mobile\"}}\r\n\t",
             &is),
        1);
    assert_string_equal(fq.customer_id, "-42");
    assert_int_equal(fq.placement, CW_PLACE_CART);
    assert_int_equal(fq.k, CW_DECIDE_MAX);
    assert_null(fq.variant[0]);
    assert_int_equal(fq.lines[0].qty, 1);
    assert_int_equal(fq.lines[0].price, 0);
    assert_int_equal(is.coupon, 1500);
    assert_int_equal(is.cart_views, 3);
    assert_int_equal(is.seconds_on_cart, 100000000);
    assert_int_equal(is.mobile, 1);
    assert_int_equal(fast("{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\"}],"
                          "\"customer_id\":\"\",\"context\":{\"device\":"
                          "\"tablet\"}}",
                          &is),
                     1);
    assert_null(fq.customer_id);
    assert_int_equal(is.mobile, 0);
}

/* cart_order: absent, null or empty (as every optional string) oldest
 * first, both words read alike by both ways; another word is the general
 * way's 422. */
static void test_cart_order(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int newest_first;
    } ok[] = {{NULL, 0},
              {"null", 0},
              {"\"\"", 0},
              {"\"oldest_first\"", 0},
              {"\"newest_first\"", 1}};
    char body[256];
    struct cw_incentive_session is;
    struct cw_srv_error e;
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
        snprintf(body, sizeof(body),
                 "{\"session_id\":\"s\",%s%s%s\"cart\":[{\"sku\":\"A\"},"
                 "{\"sku\":\"B\"}]}",
                 ok[i].value ? "\"cart_order\":" : "",
                 ok[i].value ? ok[i].value : "", ok[i].value ? "," : "");
        fq.newest_first = gq.newest_first = -1;
        assert_int_equal(fast(body, &is), 1);
        assert_int_equal(general(body, &is, &e), 0);
        assert_int_equal(fq.newest_first, ok[i].newest_first);
        assert_int_equal(gq.newest_first, ok[i].newest_first);
    }
    static const char *const bad[] = {"\"newest\"", "1", "\"NEWEST_FIRST\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        snprintf(body, sizeof(body),
                 "{\"session_id\":\"s\",\"cart_order\":%s,\"cart\":[{"
                 "\"sku\":\"A\"}]}",
                 bad[i]);
        assert_int_equal(fast(body, &is), 0);
        memset(&e, 0, sizeof(e));
        assert_int_equal(general(body, &is, &e), -1);
        assert_int_equal(e.status, 422);
        assert_string_equal(e.field, "cart_order");
    }
}

/* Bodies the fast way declines: for each, the general way's answer (0 or
 * the status and field of its error). */
static void test_declines_the_unusual(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int status; /* of the general way; 0: accepted */
        const char *field;
    } cases[] = {
        {"", 400, ""},
        {"[]", 400, ""},
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\"}]} x", 400, ""},
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\"}]", 400, ""},
        {"{\"session_id\":\"s\",\"session_id\":\"t\",\"cart\":[{\"sku\":"
         "\"A\"}]}",
         400, ""},
        /* escapes and non-ASCII: valid, read the general way */
        {"{\"session_id\":\"s\\/1\",\"cart\":[{\"sku\":\"A\"}]}", 0, NULL},
        {"{\"session_id\":\"caf\xc3\xa9\",\"cart\":[{\"sku\":\"A\"}]}", 0,
         NULL},
        /* unknown fields are ignored by the general way */
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"note\":[1]}]}", 0,
         NULL},
        /* numbers */
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"qty\":01}]}", 400,
         ""},
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"qty\":2.0}]}", 422,
         "cart[0].qty"},
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"price\":-1}]}", 422,
         "cart[0].price"},
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"qty\":100001}]}",
         422, "cart[0].qty"},
        {"{\"session_id\":\"s\",\"customer_id\":1234567890123456789,"
         "\"cart\":[{\"sku\":\"A\"}]}",
         0, NULL},
        /* required, empty, wrong types, limits */
        {"{\"cart\":[{\"sku\":\"A\"}]}", 422, "session_id"},
        {"{\"session_id\":\"\",\"cart\":[{\"sku\":\"A\"}]}", 422, "session_id"},
        {"{\"session_id\":\"s\",\"cart\":[]}", 422, "cart"},
        {"{\"session_id\":\"s\",\"cart\":null}", 422, "cart"},
        {"{\"session_id\":\"s\",\"cart\":[{}]}", 422, "cart[0].sku"},
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":7}]}", 422, "cart[0].sku"},
        {"{\"session_id\":\"s\",\"k\":4,\"cart\":[{\"sku\":\"A\"}]}", 422, "k"},
        {"{\"session_id\":\"s\",\"placement\":\"home\",\"cart\":[{\"sku\":"
         "\"A\"}]}",
         422, "placement"},
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\"}],\"context\":{"
         "\"device\":\"\"}}",
         422, "context.device"},
        {"{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\"}],\"context\":7}", 422,
         "context"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct cw_incentive_session is;
        struct cw_srv_error e;
        memset(&e, 0, sizeof(e));
        if (fast(cases[i].body, &is))
            fail_msg("case %zu read the fast way: %s", i, cases[i].body);
        int rc = general(cases[i].body, &is, &e);
        if (cases[i].status == 0) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(e.status, cases[i].status);
            assert_string_equal(e.field, cases[i].field);
        }
    }
}

/* 250 lines are read; the 251st sends the body the general way (422). */
static void test_cart_limit(void **state)
{
    (void)state;
    static char body[CW_CART_MAX * 16 + 64];
    struct cw_incentive_session is;
    struct cw_srv_error e;
    for (int lines = CW_CART_MAX; lines <= CW_CART_MAX + 1; lines++) {
        size_t n = (size_t)snprintf(body, sizeof(body),
                                    "{\"session_id\":\"s\",\"cart\":[");
        for (int i = 0; i < lines; i++)
            n += (size_t)snprintf(body + n, sizeof(body) - n,
                                  "%s{\"sku\":\"S%d\"}", i ? "," : "", i);
        snprintf(body + n, sizeof(body) - n, "]}");
        if (lines == CW_CART_MAX) {
            assert_int_equal(fast(body, &is), 1);
            assert_int_equal(fq.n_lines, CW_CART_MAX);
            assert_string_equal(fq.lines[CW_CART_MAX - 1].sku, "S249");
        } else {
            assert_int_equal(fast(body, &is), 0);
            assert_int_equal(general(body, &is, &e), -1);
            assert_int_equal(e.status, 422);
            assert_string_equal(e.field, "cart");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_the_common_shape),
        cmocka_unit_test(test_defaults_nulls_and_numbers),
        cmocka_unit_test(test_cart_order),
        cmocka_unit_test(test_declines_the_unusual),
        cmocka_unit_test(test_cart_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
