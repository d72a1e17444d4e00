/*
 * test_config_json.c: the incentive configuration as JSON (config_json.c).
 *
 * The key tables are sorted and complete: every key path is documented in
 * docs/incentives.md and set in examples/store-config.json (which ships
 * with every incentive on), and the example validates. Canonical JSON
 * round-trips. Type errors and rule errors name the key path. The learned
 * statistics round-trip through their JSON.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "app/app.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "cartwise/cw_store.h"
#include "testutil.h"

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct cw_buf b = CW_BUF_INIT;
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cw_buf_add(&b, chunk, k);
    fclose(f);
    return cw_buf_detach(&b, n);
}

/* Adds every key path of v (arrays as "[]") under prefix to seen. */
static void collect(json_t *v, const char *prefix, struct cw_buf *seen)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            char p[256];
            snprintf(p, sizeof(p), "%s%s%s", prefix, *prefix ? "." : "", k);
            cw_buf_addf(seen, "|%s|", p);
            collect(x, p, seen);
        }
    } else if (json_is_array(v)) {
        char p[256];
        snprintf(p, sizeof(p), "%s[]", prefix);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) collect(x, p, seen);
    }
}

static void test_keys_sorted_documented_exemplified(void **state)
{
    (void)state;
    static char keys[128][64];
    int sorted = 0;
    size_t n = cw_app_config_keys(keys, 128, &sorted);
    assert_true(n > 40 && n <= 128);
    assert_true(sorted);
    size_t dn, en;
    char *doc = slurp("docs/incentives.md", &dn);
    char *ex = slurp("examples/store-config.json", &en);
    json_t *root = json_loadb(ex, en, 0, NULL);
    assert_non_null(root);
    struct cw_buf seen = CW_BUF_INIT;
    collect(root, "", &seen);
    for (size_t i = 0; i < n; i++) {
        char want[80];
        snprintf(want, sizeof(want), "`%s`", keys[i]);
        /* top-level keys are documented bare, the rest by path */
        if (!strstr(doc, want))
            fprintf(stderr, "docs/incentives.md lacks %s\n", want);
        assert_non_null(strstr(doc, want));
        snprintf(want, sizeof(want), "|%s|", keys[i]);
        if (!strstr(cw_buf_str(&seen), want))
            fprintf(stderr, "examples/store-config.json lacks %s\n", keys[i]);
        assert_non_null(strstr(cw_buf_str(&seen), want));
    }
    /* and nothing in the example that the tables do not know */
    struct cw_incentive_config *c = cw_malloc(sizeof(*c));
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_app_config_parse(ex, en, c, &err);
    if (rc)
        fprintf(stderr, "%s\n", cw_buf_str(&err));
    assert_int_equal(rc, 0);
    /* every incentive on */
    assert_true(c->n_tiers == 4 && c->discount.enabled && c->n_bundles > 0 &&
                c->n_groups > 0 && c->threshold.personalize &&
                c->tiers[0].n_rungs > 0 && c->discount.exploration_share > 0 &&
                c->caps[CW_PLACE_CART] > 0);
    int rewards = 0;
    for (size_t t = 0; t < c->n_tiers; t++)
        rewards |= 1 << c->tiers[t].reward;
    assert_int_equal(rewards, 15);
    cw_free(c);
    cw_buf_release(&err);
    cw_buf_release(&seen);
    json_decref(root);
    cw_free(doc);
    cw_free(ex);
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t en;
    char *ex = slurp("examples/store-config.json", &en);
    struct cw_incentive_config *a = cw_malloc(sizeof(*a)),
                               *b = cw_malloc(sizeof(*b));
    assert_int_equal(cw_app_config_parse(ex, en, a, NULL), 0);
    struct cw_buf j1 = CW_BUF_INIT, j2 = CW_BUF_INIT;
    cw_app_config_json(a, &j1);
    assert_int_equal(cw_app_config_parse(j1.buf, j1.len, b, NULL), 0);
    cw_app_config_json(b, &j2);
    assert_string_equal(cw_buf_str(&j1), cw_buf_str(&j2));
    assert_int_equal(b->tiers[3].percent_bp, 500);
    assert_int_equal(b->tiers[2].gift_cost, CW_MONEY_UNKNOWN);
    assert_int_equal(b->discount.max_percent_bp, 1500);
    assert_true(fabs(b->threshold.reach_scale - 0.35) < 1e-12);
    /* percentages with two decimals, defaults for what is absent */
    const char *t = "{\"discount\":{\"max_percent\":12.5,\"step_percent\":"
                    "2.25}}";
    assert_int_equal(cw_app_config_parse(t, strlen(t), a, NULL), 0);
    assert_int_equal(a->discount.max_percent_bp, 1250);
    assert_int_equal(a->discount.step_bp, 225);
    assert_int_equal(a->discount.expiry_minutes, 30);
    assert_int_equal(a->n_tiers, 0);
    assert_int_equal(cw_app_config_parse("{}", 2, a, NULL), 0);
    cw_buf_release(&j1);
    cw_buf_release(&j2);
    cw_free(a);
    cw_free(b);
    cw_free(ex);
}

static void expect(const char *json, int code, const char *msg)
{
    struct cw_incentive_config *c = cw_malloc(sizeof(*c));
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_app_config_parse(json, strlen(json), c, &err), code);
    if (!strstr(cw_buf_str(&err), msg))
        fprintf(stderr, "got '%s', want '%s'\n", cw_buf_str(&err), msg);
    assert_non_null(strstr(cw_buf_str(&err), msg));
    cw_buf_release(&err);
    cw_free(c);
}

static void test_errors_name_the_key(void **state)
{
    (void)state;
    expect("{\"tiers\":[", CW_EPARSE, "not valid JSON: line 1");
    expect("[]", CW_EINVAL, "(top level): must be an object");
    expect("{\"colour\":1}", CW_EINVAL, "colour: unknown key");
    expect("{\"a\":1,\"a\":2}", CW_EPARSE, "duplicate");
    expect("{\"shipping\":{\"model\":\"drone\"}}", CW_EINVAL,
           "shipping.model: must be \"none\", \"flat\" or \"per_item\"");
    expect("{\"shipping\":{\"fee\":-1}}", CW_EINVAL,
           "shipping.fee: must be between 0 and");
    expect("{\"shipping\":{\"fee\":4.99}}", CW_EINVAL,
           "shipping.fee: must be an integer amount in minor units");
    expect("{\"tiers\":[{\"threshold\":100}]}", CW_EINVAL,
           "tiers[0].reward: required");
    expect("{\"tiers\":[{\"reward\":\"gift\"}]}", CW_EINVAL,
           "tiers[0].threshold: required");
    expect("{\"tiers\":[{\"reward\":\"cash\",\"threshold\":1}]}", CW_EINVAL,
           "tiers[0].reward: must be \"free_shipping\"");
    expect("{\"tiers\":[{\"reward\":\"percent_off\",\"threshold\":1,"
           "\"percent\":5.125}]}",
           CW_EINVAL, "tiers[0].percent: at most two decimals");
    expect("{\"tiers\":[{\"reward\":\"gift\",\"threshold\":1,\"rungs\":[1,"
           "\"2\"]}]}",
           CW_EINVAL, "tiers[0].rungs[1]: must be an integer amount");
    expect("{\"threshold\":{\"personalize\":1}}", CW_EINVAL,
           "threshold.personalize: must be true or false");
    expect("{\"discount\":{\"expiry_minutes\":-5}}", CW_EINVAL,
           "discount.expiry_minutes: must be a whole number >= 0");
    expect("{\"discount\":{\"pacing\":\"fast\"}}", CW_EINVAL,
           "discount.pacing: must be \"none\" or \"even\"");
    expect("{\"frequency_caps\":{\"email\":1}}", CW_EINVAL,
           "frequency_caps.email: unknown key");
    expect("{\"bundles\":{\"offers\":[{\"name\":\"x\",\"skus\":[\"A\"],"
           "\"breaks\":[{\"qty\":3,\"pct\":5}]}]}}",
           CW_EINVAL, "bundles.offers[0].breaks[0].pct: unknown key");
    expect("{\"upgrades\":{\"groups\":[{\"name\":\"k\",\"skus\":[\"A\",7]}]}}",
           CW_EINVAL, "upgrades.groups[0].skus[1]: must be a string");
    expect("{\"upgrades\":{\"groups\":[{\"name\":\"k\",\"skus\":[\"A\","
           "\"A\"]}]}}",
           CW_EINVAL, "upgrades.groups[0].skus[1]: 'A' listed twice");
    /* rules between values come from the core, with the same paths */
    expect("{\"shipping\":{\"model\":\"flat\"},\"tiers\":[{\"reward\":"
           "\"free_shipping\",\"threshold\":5000},{\"reward\":\"gift\","
           "\"threshold\":4000,\"gift_sku\":\"G\"}]}",
           CW_EINVAL,
           "tiers[1].threshold: must be greater than tiers[0].threshold "
           "(5000)");
}

static void test_stats_round_trip(void **state)
{
    (void)state;
    struct cw_incentive_stats a, b;
    memset(&a, 0, sizeof(a));
    for (int q = 0; q < CW_INC_QUANTILES; q++)
        a.order_q[q] = 100 * q + 7;
    a.n_orders = 12345;
    a.margin_rate = 0.3125;
    a.prop_trained = 1;
    for (int k = 0; k <= CW_PROP_NFEAT; k++)
        a.prop_w[k] = 0.1 * k - 0.25;
    a.prop_sessions = 999;
    a.prop_abandon_rate = 0.68;
    a.uplift_learned = 1;
    a.uplift_eps = 0.0421;
    a.uplift_treated = 300;
    a.uplift_control = 310;
    struct cw_buf j = CW_BUF_INIT;
    cw_app_stats_json(&a, &j);
    assert_int_equal(cw_app_stats_parse(cw_buf_str(&j), &b, NULL), 0);
    assert_memory_equal(a.order_q, b.order_q, sizeof(a.order_q));
    assert_int_equal(b.n_orders, 12345);
    assert_true(b.margin_rate == a.margin_rate);
    for (int k = 0; k <= CW_PROP_NFEAT; k++)
        assert_true(b.prop_w[k] == a.prop_w[k]);
    assert_true(b.prop_trained && b.uplift_learned);
    assert_true(b.uplift_eps == a.uplift_eps);
    assert_int_equal(b.uplift_control, 310);
    assert_int_equal(cw_app_stats_parse("{\"orders\":1}", &b, NULL),
                     CW_ECORRUPT);
    assert_int_equal(cw_app_stats_parse("nonsense", &b, NULL), CW_ECORRUPT);
    cw_buf_release(&j);
}

/* Training from events: a store with carts (mobile ones abandoned more,
 * returning customers less) and an exploration slice where the treated
 * half buys more. */
static void test_learn_from_events(void **state)
{
    (void)state;
    char dir[256], db[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/cw_inc_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/shop.db", dir);
    struct cw_store *s;
    assert_int_equal(cw_store_open(&s, db, NULL), 0);
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 300, 10);
    struct cw_train_input in = tu_input(&ds);
    struct cw_train_params p = tu_params_fixed(10);
    struct cw_model m;
    tu_train(&m, &in, &p);
    /* the exploration slice: half the sessions, even split */
    const char *cfg = "{\"currency\":\"USD\",\"discount\":{\"enabled\":true,"
                      "\"daily_budget\":1000,\"exploration_share\":0.5,"
                      "\"propensity_threshold\":0.0}}";
    struct cw_incentive_config *c = cw_malloc(sizeof(*c));
    assert_int_equal(cw_app_config_store(s, cfg, strlen(cfg), c, NULL), 0);
    assert_int_equal(s->ops->begin(s, NULL), 0);
    uint32_t seed = 7;
    int n_ev = 0;
    for (int i = 0; i < 1200; i++) {
        char sid[32], id[48], ts[32], cu[16];
        snprintf(sid, sizeof(sid), "sess-%d", i);
        snprintf(cu, sizeof(cu), "c%d", i % 30);
        int mobile = i % 2, returning = i % 3 == 0;
        int arm = cw_incentive_exploration_arm(c, sid);
        double pa = 0.5 + (mobile ? 0.25 : -0.1) + (returning ? -0.3 : 0);
        if (arm == 1)
            pa -= 0.2; /* the discount wins some back */
        int bought = (tu_rand(&seed) % 1000) / 1000.0 >= pa;
        const char *pay =
            mobile ? "{\"device\":\"mobile\"}" : "{\"device\":\"desktop\"}";
        const char *types[3] = {"add_to_cart", "cart_view",
                                bought ? "purchase" : NULL};
        for (int k = 0; k < 3 && types[k]; k++) {
            snprintf(id, sizeof(id), "e-%d", n_ev++);
            snprintf(ts, sizeof(ts), "2024-01-%02dT10:%02d:%02dZ", 1 + i % 28,
                     k * 5, i % 60);
            struct cw_event_rec e = {.id = id,
                                     .type = types[k],
                                     .session = sid,
                                     .customer = returning ? cu : NULL,
                                     .ts = ts,
                                     .sku = "A1",
                                     .payload = pay,
                                     .value = 0,
                                     .profit = CW_MONEY_UNKNOWN};
            assert_int_equal(s->ops->put_event(s, &e, NULL), 1);
        }
    }
    assert_int_equal(s->ops->commit(s, NULL), 0);
    struct cw_incentive_stats st, back;
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_app_incentive_train(s, &ds, 100, &m, &st, &err);
    if (rc)
        fprintf(stderr, "%s\n", cw_buf_str(&err));
    assert_int_equal(rc, 0);
    assert_true(st.prop_trained);
    assert_int_equal(st.prop_sessions, 1200);
    assert_true(st.prop_w[1 + CW_PROP_MOBILE] > 0.5);
    assert_true(st.prop_w[1 + CW_PROP_RETURNING] < -0.5);
    assert_true(st.n_orders == 300 && st.order_q[20] > st.order_q[0]);
    assert_true(st.uplift_learned);
    assert_true(st.uplift_treated > 200 && st.uplift_control > 200);
    assert_true(st.uplift_eps > 0.01);
    /* stored where the decision finds it */
    assert_int_equal(cw_app_stats_load(s, &back, NULL), 0);
    assert_true(back.prop_w[1 + CW_PROP_MOBILE] ==
                st.prop_w[1 + CW_PROP_MOBILE]);
    cw_buf_release(&err);
    cw_free(c);
    cw_model_release(&m);
    cw_dataset_release(&ds);
    cw_store_close(s);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_keys_sorted_documented_exemplified),
        TU_TEST(test_round_trip),
        TU_TEST(test_errors_name_the_key),
        TU_TEST(test_stats_round_trip),
        TU_TEST(test_learn_from_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
