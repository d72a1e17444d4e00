/*
 * test_server_json.c: request bodies into core structs (src/server/
 * json_io.c): what is accepted, the defaults, and for what is refused the
 * status, the code and the JSON path of the field named in the 422.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <string.h>

#include "cartwise/cw_money.h"
#include "server/server.h"
#include "testutil.h"

static struct cw_srv_decide dq; /* large */

/* Loads text as a request body; fails the test on a load error. */
static json_t *load(const char *text)
{
    struct cw_srv_error e;
    json_t *root;
    if (cw_srv_json_load(text, strlen(text), &root, &e) < 0)
        fail_msg("load failed: %s", e.message);
    return root;
}

/* Runs the decide parser on text: its result, e filled on failure. */
static int decide(const char *text, struct cw_srv_error *e)
{
    json_t *root = load(text);
    memset(e, 0, sizeof(*e));
    int rc = cw_srv_parse_decide(root, &dq, e);
    json_decref(root);
    return rc;
}

#define ASSERT_DECIDE_FAILS(text, st, cd, fld)                                 \
    do {                                                                       \
        struct cw_srv_error e_;                                                \
        assert_int_equal(decide(text, &e_), -1);                               \
        assert_int_equal(e_.status, st);                                       \
        assert_string_equal(e_.code, cd);                                      \
        assert_string_equal(e_.field, fld);                                    \
        assert_true(strstr(e_.message, fld) != NULL);                          \
    } while (0)

static void test_load(void **state)
{
    (void)state;
    struct cw_srv_error e;
    json_t *root;
    assert_int_equal(cw_srv_json_load("", 0, &root, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.code, "invalid_json");
    assert_string_equal(e.field, "");
    assert_int_equal(cw_srv_json_load("{\"a\":", 5, &root, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.code, "invalid_json");
    assert_null(root);
    assert_int_equal(cw_srv_json_load("[1,2]", 5, &root, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.code, "invalid_body");
    assert_int_equal(cw_srv_json_load("{\"a\":1,\"a\":2}", 13, &root, &e), -1);
    assert_int_equal(e.status, 400);
    /* not NUL-terminated: only n bytes are read */
    assert_int_equal(cw_srv_json_load("{}garbage", 2, &root, &e), 0);
    json_decref(root);
    assert_string_equal(cw_srv_error_type(401), "authentication_error");
    assert_string_equal(cw_srv_error_type(403), "permission_error");
    assert_string_equal(cw_srv_error_type(429), "rate_limit_error");
    assert_string_equal(cw_srv_error_type(503), "api_error");
    assert_string_equal(cw_srv_error_type(422), "invalid_request_error");
}

static void test_decide_valid(void **state)
{
    (void)state;
    struct cw_srv_error e;
    json_t *root =
        load("{\"session_id\": \"s-123\", \"customer_id\": \"17850\", "
             "\"placement\": \"checkout\", \"k\": 2, \"extra\": [1],"
             " \"cart\": [{\"sku\": \"85123A\", \"variant\": \"85123A-M\", "
             "\"qty\": 2, \"price\": 255}, {\"sku\": \"71053\"}]}");
    assert_int_equal(cw_srv_parse_decide(root, &dq, &e), 0);
    assert_string_equal(dq.session_id, "s-123");
    assert_string_equal(dq.customer_id, "17850");
    assert_int_equal(dq.placement, CW_PLACE_CHECKOUT);
    assert_int_equal(dq.k, 2);
    assert_int_equal(dq.n_lines, 2);
    assert_string_equal(dq.lines[0].sku, "85123A");
    assert_string_equal(dq.variant[0], "85123A-M");
    assert_int_equal(dq.lines[0].qty, 2);
    assert_int_equal(dq.lines[0].price, 255);
    /* defaults: qty 1, price unknown, no variant */
    assert_int_equal(dq.lines[1].qty, 1);
    assert_true(dq.lines[1].price == CW_MONEY_UNKNOWN);
    assert_null(dq.variant[1]);
    json_decref(root);

    /* defaults: placement cart, k 3, anonymous; integer customer ids */
    root = load("{\"session_id\":\"s\",\"customer_id\":17850,"
                "\"cart\":[{\"sku\":\"A\",\"price\":null,\"variant\":null}]}");
    assert_int_equal(cw_srv_parse_decide(root, &dq, &e), 0);
    assert_int_equal(dq.placement, CW_PLACE_CART);
    assert_int_equal(dq.k, CW_DECIDE_MAX);
    assert_string_equal(dq.customer_id, "17850");
    json_decref(root);
    root = load("{\"session_id\":\"s\",\"customer_id\":null,"
                "\"cart\":[{\"sku\":\"A\"}]}");
    assert_int_equal(cw_srv_parse_decide(root, &dq, &e), 0);
    assert_null(dq.customer_id);
    json_decref(root);
}

static void test_decide_errors(void **state)
{
    (void)state;
    ASSERT_DECIDE_FAILS("{\"cart\":[{\"sku\":\"A\"}]}", 422, "missing_field",
                        "session_id");
    ASSERT_DECIDE_FAILS("{\"session_id\":\"\",\"cart\":[{\"sku\":\"A\"}]}", 422,
                        "invalid_value", "session_id");
    ASSERT_DECIDE_FAILS("{\"session_id\":7,\"cart\":[{\"sku\":\"A\"}]}", 422,
                        "invalid_type", "session_id");
    ASSERT_DECIDE_FAILS("{\"session_id\":\"s\"}", 422, "missing_field", "cart");
    ASSERT_DECIDE_FAILS("{\"session_id\":\"s\",\"cart\":[]}", 422,
                        "invalid_value", "cart");
    ASSERT_DECIDE_FAILS("{\"session_id\":\"s\",\"cart\":{}}", 422,
                        "invalid_type", "cart");
    ASSERT_DECIDE_FAILS("{\"session_id\":\"s\",\"cart\":[1]}", 422,
                        "invalid_type", "cart[0]");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\"},{\"sku\":\"B\"},"
        "{\"sku\":\"C\",\"qty\":0}]}",
        422, "invalid_value", "cart[2].qty");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"qty\":\"2\"}]}", 422,
        "invalid_type", "cart[0].qty");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"qty\":2.5}]}", 422,
        "invalid_type", "cart[0].qty");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"qty\":100001}]}", 422,
        "invalid_value", "cart[0].qty");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"price\":-1}]}", 422,
        "invalid_value", "cart[0].price");
    ASSERT_DECIDE_FAILS("{\"session_id\":\"s\",\"cart\":[{\"qty\":1}]}", 422,
                        "missing_field", "cart[0].sku");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"cart\":[{\"sku\":\"A\",\"variant\":5}]}", 422,
        "invalid_type", "cart[0].variant");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"placement\":\"home\",\"cart\":[{\"sku\":\"A\"}"
        "]}",
        422, "invalid_value", "placement");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"k\":4,\"cart\":[{\"sku\":\"A\"}]}", 422,
        "invalid_value", "k");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"k\":0,\"cart\":[{\"sku\":\"A\"}]}", 422,
        "invalid_value", "k");
    ASSERT_DECIDE_FAILS(
        "{\"session_id\":\"s\",\"customer_id\":[],\"cart\":[{\"sku\":\"A\"}]}",
        422, "invalid_type", "customer_id");

    /* a long session id, a cart over the limit */
    struct cw_buf b = CW_BUF_INIT;
    cw_buf_adds(&b, "{\"session_id\":\"");
    for (int i = 0; i < CW_SRV_ID_MAX + 1; i++)
        cw_buf_addch(&b, 'x');
    cw_buf_adds(&b, "\",\"cart\":[{\"sku\":\"A\"}]}");
    ASSERT_DECIDE_FAILS(cw_buf_str(&b), 422, "invalid_value", "session_id");
    cw_buf_reset(&b);
    cw_buf_adds(&b, "{\"session_id\":\"s\",\"cart\":[");
    for (int i = 0; i <= CW_CART_MAX; i++)
        cw_buf_addf(&b, "%s{\"sku\":\"S%d\"}", i ? "," : "", i);
    cw_buf_adds(&b, "]}");
    ASSERT_DECIDE_FAILS(cw_buf_str(&b), 422, "too_many_items", "cart");
    cw_buf_release(&b);
}

static void test_events(void **state)
{
    (void)state;
    struct cw_srv_arena a;
    struct cw_srv_error e;
    struct cw_event_rec *ev;
    size_t n;
    cw_srv_arena_init(&a);
    json_t *root = load(
        "{\"events\":[{\"id\":\"e-1\",\"type\":\"add_to_cart\",\"session_id\":"
        "\"s\",\"customer_id\":null,\"ts\":\"2026-11-22T11:00:00+01:00\","
        "\"sku\":\"A\",\"decision_id\":\"dec_1\",\"placement\":\"cart\","
        "\"reason\":\"pairs_with\",\"order_id\":null,\"value\":0},"
        "{\"id\":\"e-2\",\"type\":\"view\",\"session_id\":\"s\"}]}");
    assert_int_equal(
        cw_srv_parse_events(root, 1, "2026-01-01T00:00:00Z", &a, &ev, &n, &e),
        0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].id, "e-1");
    assert_string_equal(ev[0].ts, "2026-11-22T10:00:00Z"); /* to UTC */
    assert_string_equal(ev[0].placement, "cart");
    assert_null(ev[0].customer);
    assert_true(ev[0].profit == CW_MONEY_UNKNOWN);
    assert_non_null(strstr(ev[0].payload, "\"decision_id\":\"dec_1\""));
    assert_string_equal(ev[1].ts, "2026-01-01T00:00:00Z"); /* now */
    json_decref(root);

    /* purchase: secret keys only */
    root = load("{\"events\":[{\"id\":\"e\",\"type\":\"view\",\"session_id\":"
                "\"s\"},{\"id\":\"p\",\"type\":\"purchase\",\"session_id\":"
                "\"s\",\"value\":1299,\"order_id\":1001}]}");
    assert_int_equal(
        cw_srv_parse_events(root, 1, "2026-01-01T00:00:00Z", &a, &ev, &n, &e),
        -1);
    assert_int_equal(e.status, 403);
    assert_string_equal(e.type, "permission_error");
    assert_string_equal(e.field, "events[1].type");
    assert_int_equal(
        cw_srv_parse_events(root, 0, "2026-01-01T00:00:00Z", &a, &ev, &n, &e),
        0);
    assert_string_equal(ev[1].order_id, "1001");
    assert_int_equal(ev[1].value, 1299);
    json_decref(root);

    static const struct {
        const char *body, *field, *code;
    } bad[] = {
        {"{\"events\":[]}", "events", "invalid_value"},
        {"{}", "events", "missing_field"},
        {"{\"events\":[{\"type\":\"view\",\"session_id\":\"s\"}]}",
         "events[0].id", "missing_field"},
        {"{\"events\":[{\"id\":\"a\",\"type\":\"view\",\"session_id\":\"s\"},"
         "{\"id\":\"b\",\"type\":\"nope\",\"session_id\":\"s\"}]}",
         "events[1].type", "invalid_value"},
        {"{\"events\":[{\"id\":\"a\",\"type\":\"view\"}]}",
         "events[0].session_id", "missing_field"},
        {"{\"events\":[{\"id\":\"a\",\"type\":\"view\",\"session_id\":\"s\","
         "\"ts\":\"yesterday\"}]}",
         "events[0].ts", "invalid_value"},
        {"{\"events\":[{\"id\":\"a\",\"type\":\"view\",\"session_id\":\"s\","
         "\"placement\":\"home\"}]}",
         "events[0].placement", "invalid_value"},
        {"{\"events\":[{\"id\":\"a\",\"type\":\"view\",\"session_id\":\"s\","
         "\"value\":\"12\"}]}",
         "events[0].value", "invalid_type"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        root = load(bad[i].body);
        assert_int_equal(cw_srv_parse_events(root, 0, "2026-01-01T00:00:00Z",
                                             &a, &ev, &n, &e),
                         -1);
        assert_int_equal(e.status, 422);
        assert_string_equal(e.field, bad[i].field);
        assert_string_equal(e.code, bad[i].code);
        json_decref(root);
    }
    cw_srv_arena_release(&a);
}

static void test_products(void **state)
{
    (void)state;
    struct cw_srv_arena a;
    struct cw_srv_error e;
    struct cw_product_rec *p;
    size_t n;
    cw_srv_arena_init(&a);
    json_t *root = load(
        "{\"products\":[{\"sku\":\"TS-M\",\"group\":\"TS\",\"title\":\"Tee\","
        "\"category\":\"Apparel>Tops\",\"price\":1999,\"cost\":800,"
        "\"currency\":\"EUR\",\"inventory\":12,\"attributes\":{\"size\":\"M\","
        "\"color\":\"red\"},\"flags\":[\"accessory\",\"simple_variants\"],"
        "\"tier_group\":\"tees\",\"tier_level\":2,\"pack_size\":3},"
        "{\"sku\":\"B\",\"price\":0}]}");
    assert_int_equal(cw_srv_parse_products(root, &a, &p, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(p[0].attributes, "size=M;color=red");
    assert_int_equal(p[0].flags, CW_FLAG_ACCESSORY | CW_FLAG_SIMPLE_VARIANTS);
    assert_int_equal(p[0].cost, 800);
    assert_int_equal(p[0].inventory, 12);
    assert_int_equal(p[0].tier_level, 2);
    assert_int_equal(p[0].pack_size, 3);
    assert_true(p[1].cost == CW_MONEY_UNKNOWN);
    assert_int_equal(p[1].inventory, -1);
    assert_int_equal(p[1].pack_size, 1);
    assert_null(p[1].attributes);
    json_decref(root);

    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"products\":[{\"sku\":\"A\"}]}", "products[0].price"},
        {"{\"products\":[{\"sku\":\"A\",\"price\":-1}]}", "products[0].price"},
        {"{\"products\":[{\"sku\":\"A\",\"price\":1},{\"sku\":\"B\","
         "\"price\":1,\"cost\":-5}]}",
         "products[1].cost"},
        {"{\"products\":[{\"sku\":\"A\",\"price\":1,\"currency\":\"eur\"}]}",
         "products[0].currency"},
        {"{\"products\":[{\"sku\":\"A\",\"price\":1,\"flags\":[\"shiny\"]}]}",
         "products[0].flags[0]"},
        {"{\"products\":[{\"sku\":\"A\",\"price\":1,\"attributes\":{\"a\":[]}"
         "}]}",
         "products[0].attributes.a"},
        {"{\"products\":[{\"sku\":\"A\",\"price\":1,\"tier_level\":4}]}",
         "products[0].tier_level"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        root = load(bad[i].body);
        assert_int_equal(cw_srv_parse_products(root, &a, &p, &n, &e), -1);
        assert_int_equal(e.status, 422);
        assert_string_equal(e.field, bad[i].field);
        json_decref(root);
    }
    cw_srv_arena_release(&a);
}

static void test_orders(void **state)
{
    (void)state;
    struct cw_srv_arena a;
    struct cw_srv_error e;
    struct cw_srv_order *o;
    size_t n;
    cw_srv_arena_init(&a);
    json_t *root = load(
        "{\"orders\":[{\"id\":\"o-1\",\"customer_id\":\"c1\",\"created_at\":"
        "\"2026-11-22T10:00:00-05:00\",\"currency\":\"GBP\",\"shipping\":300,"
        "\"discount\":100,\"lines\":[{\"sku\":\"A\",\"qty\":2,\"unit_price\":"
        "255},{\"sku\":\"B\",\"qty\":1,\"unit_price\":100,\"unit_cost\":40,"
        "\"discount\":10}],\"returns\":[{\"id\":\"r-1\",\"sku\":\"B\",\"qty\":"
        "1,\"amount\":90}]},{\"id\":1002,\"created_at\":\"2026-11-23\","
        "\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_price\":255}]}]}");
    assert_int_equal(cw_srv_parse_orders(root, &a, &o, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(o[0].o.ts, "2026-11-22 10:00:00"); /* shop time */
    assert_int_equal(o[0].n_lines, 2);
    assert_int_equal(o[0].lines[1].line_no, 2);
    assert_string_equal(o[0].lines[1].order_id, "o-1");
    assert_int_equal(o[0].lines[1].unit_cost, 40);
    assert_true(o[0].lines[0].unit_cost == CW_MONEY_UNKNOWN);
    assert_int_equal(o[0].n_returns, 1);
    assert_string_equal(o[0].returns[0].order_id, "o-1");
    assert_string_equal(o[0].returns[0].ts, "2026-11-22 10:00:00");
    assert_string_equal(o[1].o.id, "1002");
    assert_string_equal(o[1].o.ts, "2026-11-23 00:00:00");
    assert_int_equal(o[1].n_returns, 0);
    json_decref(root);

    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"orders\":[{\"created_at\":\"2026-11-22\",\"lines\":[]}]}",
         "orders[0].id"},
        {"{\"orders\":[{\"id\":\"o\",\"created_at\":\"22/11/2026\","
         "\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_price\":1}]}]}",
         "orders[0].created_at"},
        {"{\"orders\":[{\"id\":\"o\",\"created_at\":\"2026-11-22\","
         "\"lines\":[]}]}",
         "orders[0].lines"},
        {"{\"orders\":[{\"id\":\"o\",\"created_at\":\"2026-11-22\","
         "\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_price\":1},{\"sku\":\"B\","
         "\"qty\":-1,\"unit_price\":1}]}]}",
         "orders[0].lines[1].qty"},
        {"{\"orders\":[{\"id\":\"o\",\"created_at\":\"2026-11-22\","
         "\"lines\":[{\"sku\":\"A\",\"qty\":1}]}]}",
         "orders[0].lines[0].unit_price"},
        {"{\"orders\":[{\"id\":\"o\",\"created_at\":\"2026-11-22\","
         "\"lines\":[{\"sku\":\"A\",\"qty\":1,\"unit_price\":1}],\"returns\":"
         "[{\"id\":\"r\",\"qty\":1}]}]}",
         "orders[0].returns[0].sku"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        root = load(bad[i].body);
        assert_int_equal(cw_srv_parse_orders(root, &a, &o, &n, &e), -1);
        assert_int_equal(e.status, 422);
        assert_string_equal(e.field, bad[i].field);
        json_decref(root);
    }
    cw_srv_arena_release(&a);
}

static void test_shopify(void **state)
{
    (void)state;
    struct cw_srv_arena a;
    struct cw_srv_error e;
    struct cw_srv_order o;
    cw_srv_arena_init(&a);
    json_t *root = load(
        "{\"id\":820982911946154508,\"name\":\"#1001\",\"email\":"
        "\"Jon@Example.COM\",\"created_at\":\"2026-11-20T10:00:00-05:00\","
        "\"currency\":\"USD\",\"total_discounts\":\"1.50\","
        "\"total_shipping_price_set\":{\"shop_money\":{\"amount\":\"4.99\"}},"
        "\"line_items\":[{\"sku\":\"A\",\"quantity\":2,\"price\":\"2.55\"},"
        "{\"sku\":null,\"variant_id\":77,\"quantity\":1,\"price\":\"10.00\"},"
        "{\"sku\":\"GONE\",\"quantity\":0,\"price\":\"1.00\"}]}");
    assert_int_equal(cw_srv_parse_shopify_order(root, &a, &o, &e), 0);
    assert_string_equal(o.o.id, "#1001");
    assert_string_equal(o.o.customer, "jon@example.com");
    assert_string_equal(o.o.ts, "2026-11-20 10:00:00");
    assert_int_equal(o.o.shipping, 499);
    assert_int_equal(o.o.discount, 150);
    assert_int_equal(o.n_lines, 2);
    assert_int_equal(o.lines[0].unit_price, 255);
    assert_string_equal(o.lines[1].sku, "77");
    json_decref(root);

    root = load("{\"id\":5,\"customer\":{\"id\":42},\"created_at\":"
                "\"2026-11-20T10:00:00Z\",\"line_items\":[{\"sku\":\"A\","
                "\"quantity\":1,\"price\":\"abc\"}]}");
    assert_int_equal(cw_srv_parse_shopify_order(root, &a, &o, &e), -1);
    assert_int_equal(e.status, 422);
    assert_string_equal(e.field, "line_items[0].price");
    json_decref(root);
    cw_srv_arena_release(&a);
}

static void test_train_and_times(void **state)
{
    (void)state;
    struct cw_srv_error e;
    struct cw_app_train_opts o = {-1.0, 0, 0.0, 0, NULL, NULL};
    json_t *root = load("{\"margin_rate\":0.25,\"top_m\":50,\"lambda\":100}");
    assert_int_equal(cw_srv_parse_train(root, &o, &e), 0);
    assert_true(o.margin_rate == 0.25);
    assert_int_equal(o.top_m, 50);
    json_decref(root);
    root = load("{\"margin_rate\":1.5}");
    assert_int_equal(cw_srv_parse_train(root, &o, &e), -1);
    assert_string_equal(e.field, "margin_rate");
    json_decref(root);

    char ts[21], ots[20];
    assert_int_equal(cw_srv_event_ts("2026-11-22T23:30:00-01:00", ts), 1);
    assert_string_equal(ts, "2026-11-23T00:30:00Z");
    assert_int_equal(cw_srv_event_ts("2026-11-22 10:00:00.123Z", ts), 1);
    assert_string_equal(ts, "2026-11-22T10:00:00Z");
    assert_int_equal(cw_srv_event_ts("2026-11-22T10:00", ts), 1);
    assert_int_equal(cw_srv_event_ts("2026-13-22T10:00:00Z", ts), 0);
    assert_int_equal(cw_srv_event_ts("2026-11-22T10:00:00Zjunk", ts), 0);
    assert_int_equal(cw_srv_event_ts("", ts), 0);
    assert_int_equal(cw_srv_order_ts("2026-11-22T10:00:00+05:30", ots), 1);
    assert_string_equal(ots, "2026-11-22 10:00:00");
    char now[40];
    cw_srv_now_iso(now, sizeof(now), 1);
    assert_int_equal(strlen(now), 24);
    assert_int_equal(now[23], 'Z');
    cw_srv_now_iso(now, sizeof(now), 0);
    assert_int_equal(strlen(now), 20);
}

static void test_arena(void **state)
{
    (void)state;
    struct cw_srv_arena a;
    cw_srv_arena_init(&a);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++) {
            char *p = cw_srv_arena_alloc(&a, (size_t)(i % 97) + 1);
            assert_true(((uintptr_t)p & 15) == 0);
            memset(p, 'x', (size_t)(i % 97) + 1);
        }
        char *big = cw_srv_arena_alloc(&a, 100000);
        memset(big, 0, 100000);
        assert_string_equal(cw_srv_arena_strdup(&a, "abc"), "abc");
        assert_null(cw_srv_arena_strdup(&a, NULL));
        cw_srv_arena_reset(&a);
    }
    cw_srv_arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_load),          TU_TEST(test_decide_valid),
        TU_TEST(test_decide_errors), TU_TEST(test_events),
        TU_TEST(test_products),      TU_TEST(test_orders),
        TU_TEST(test_shopify),       TU_TEST(test_train_and_times),
        TU_TEST(test_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
