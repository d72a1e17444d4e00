/*
 * test_incentive.c: the incentive rules of issue 4, one by one, on a small
 * kitchen store trained for the purpose (prices and costs from a catalog, so
 * every margin below is known exactly).
 *
 * Every result is checked against the pricing invariants a checkout relies
 * on (lines sum to the totals, tiers granted exactly when the qualifying
 * subtotal meets them, shipping charged exactly when no shipping tier is
 * met). Then: a threshold met exactly and missed by one minor unit, a coupon
 * and a targeted discount that push the cart below a tier, a quantity drop
 * below a tier and below a quantity break, rounding in 0-, 2- and
 * 3-decimal currencies, the budget under a concurrent burst, frequency caps
 * across placements of one session, bundles against the margin floor, no
 * discount on recommended add-ons, anonymous and known shoppers'
 * thresholds, the discount rule itself, caps per customer, stickiness and
 * expiry, upgrades, the gap-closing add-on, the holdout, the propensity and
 * uplift fits, and the configuration's validation messages.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <unistd.h>

#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "testutil.h"

#define NOW 1700000000LL /* 2023-11-14 22:13:20 UTC */

/* ---- fixture: a kitchen store ---------------------------------------- */

static const struct cw_product_rec catalog[] = {
    {.sku = "MUG",
     .title = "Stoneware Mug",
     .price = 800,
     .cost = 300,
     .inventory = -1},
    {.sku = "TEA",
     .title = "Loose Tea",
     .price = 500,
     .cost = 200,
     .inventory = -1},
    {.sku = "SPOON",
     .title = "Tea Spoon",
     .price = 250,
     .cost = 50,
     .inventory = -1},
    {.sku = "CAKE",
     .title = "Fruit Cake",
     .price = 1200,
     .cost = 900,
     .inventory = -1},
    {.sku = "KETTLE-G",
     .title = "Kettle",
     .price = 2000,
     .cost = 1200,
     .inventory = -1},
    {.sku = "KETTLE-B",
     .title = "Kettle Plus",
     .price = 3000,
     .cost = 1500,
     .inventory = -1},
    {.sku = "KETTLE-X",
     .title = "Kettle Pro",
     .price = 4500,
     .cost = 2000,
     .inventory = -1},
    {.sku = "TIN",
     .title = "Tea Tin",
     .price = 4300,
     .cost = 1000,
     .inventory = -1},
};

/* 300 baskets; "small" orders about 13.00, "big" about 50.00. */
static void gen_store(struct cw_dataset *ds, double unit)
{
    static const char *const b[6][4] = {{"MUG", "TEA", NULL},
                                        {"MUG", "TEA", "SPOON", NULL},
                                        {"KETTLE-G", "TEA", NULL},
                                        {"CAKE", "TEA", NULL},
                                        {"KETTLE-B", "MUG", "TIN", NULL},
                                        {"KETTLE-X", "MUG", "CAKE", NULL}};
    cw_dataset_init(ds);
    for (int i = 0; i < 300; i++) {
        char id[16], ts[32], cu[16];
        snprintf(id, sizeof(id), "o%03d", i);
        snprintf(ts, sizeof(ts), "2023-01-%02d %02d:%02d:00", 1 + i / 24,
                 i % 24, i % 60);
        snprintf(cu, sizeof(cu), "c%d", i % 7);
        const char *who = i % 6 < 2 ? "small" : i % 6 >= 4 ? "big" : cu;
        if (i % 5 == 4)
            who = NULL;
        for (int k = 0; b[i % 6][k]; k++) {
            const struct cw_product_rec *p = NULL;
            for (size_t c = 0; c < sizeof(catalog) / sizeof(*catalog); c++)
                if (!strcmp(catalog[c].sku, b[i % 6][k]))
                    p = &catalog[c];
            assert_int_equal(cw_dataset_add(ds, id, who, ts, p->sku, 1,
                                            (double)p->price / unit,
                                            (double)p->cost / unit),
                             0);
        }
    }
    cw_dataset_finish(ds);
}

struct fix {
    struct cw_dataset ds;
    struct cw_model m;
    struct cw_incentive_config *c;
    struct cw_incentive_state *st;
    struct cw_incentive_stats stats;
};

/* A model in currency cur (prices scaled so the minor units are the
 * catalog's numbers whatever the exponent). */
static void fix_init_cur(struct fix *f, const char *cur)
{
    double unit = pow(10, cw_currency_exponent(cur));
    gen_store(&f->ds, unit);
    struct cw_train_input in = tu_input(&f->ds);
    in.products = catalog;
    in.n_products = sizeof(catalog) / sizeof(*catalog);
    struct cw_train_params p = tu_params_fixed(10);
    p.currency = cur;
    tu_train(&f->m, &in, &p);
    f->c = cw_calloc(1, sizeof(*f->c));
    cw_incentive_config_default(f->c);
    memcpy(f->c->currency, cur, 4);
    f->st = cw_incentive_state_new(1024, 1024, 0);
    memset(&f->stats, 0, sizeof(f->stats));
    /* store orders from 5.00 to 105.00, median 55.00 */
    for (int q = 0; q < CW_INC_QUANTILES; q++)
        f->stats.order_q[q] = 500 + 500 * q;
    f->stats.n_orders = 1000;
    f->stats.margin_rate = 0.5;
}

/* The ladder most tests use: free shipping at 50.00 (personalizable
 * 30..60), express at 80.00, a spoon at 120.00, 5% off at 200.00. */
static void ladder(struct cw_incentive_config *c)
{
    c->shipping.model = CW_SHIP_FLAT;
    c->shipping.fee = 499;
    c->shipping.cost = 400;
    c->shipping.express_fee = 999;
    c->shipping.express_cost = 700;
    c->n_tiers = 4;
    c->tiers[0] = (struct cw_tier){.reward = CW_REWARD_FREE_SHIPPING,
                                   .threshold = 5000,
                                   .rungs = {3000, 4000, 5000, 6000},
                                   .n_rungs = 4,
                                   .gift_cost = CW_MONEY_UNKNOWN};
    c->tiers[1] = (struct cw_tier){.reward = CW_REWARD_EXPRESS_SHIPPING,
                                   .threshold = 8000,
                                   .gift_cost = CW_MONEY_UNKNOWN};
    c->tiers[2] = (struct cw_tier){.reward = CW_REWARD_GIFT,
                                   .threshold = 12000,
                                   .gift_sku = "SPOON",
                                   .gift_cost = CW_MONEY_UNKNOWN};
    c->tiers[3] = (struct cw_tier){.reward = CW_REWARD_PERCENT_OFF,
                                   .threshold = 20000,
                                   .percent_bp = 500,
                                   .gift_cost = CW_MONEY_UNKNOWN};
}

static void fix_init(struct fix *f)
{
    fix_init_cur(f, "USD");
    ladder(f->c);
    f->c->threshold.personalize = 0;
    assert_int_equal(cw_incentive_config_validate(f->c, NULL), 0);
}

static void fix_release(struct fix *f)
{
    cw_incentive_state_free(f->st);
    cw_free(f->c);
    cw_model_release(&f->m);
    cw_dataset_release(&f->ds);
}

/* A discount setup where a high-propensity shopper gets an offer. */
static void discounts_on(struct cw_incentive_config *c)
{
    c->discount.enabled = 1;
    c->discount.daily_budget = 100000;
    c->discount.pacing = CW_PACING_NONE;
    c->discount.propensity_threshold = 0.5;
    c->discount.prior_abandon_rate = 0.9;
    c->discount.prior_elasticity = 0.2;
    c->discount.exploration_share = 0;
    c->discount.margin_floor = 0.1;
    c->discount.max_percent_bp = 1500;
    c->discount.step_bp = 500;
}

/* ---- invariants --------------------------------------------------------- */

static void check_priced(const struct fix *f, const struct cw_priced_cart *p)
{
    const struct cw_incentive_config *c = f->c;
    int64_t totals = 0, disc = 0, gross = 0;
    for (size_t i = 0; i < p->n_lines; i++) {
        const struct cw_priced_line *l = &p->lines[i];
        if (l->flags & CW_PRICED_UNPRICED) {
            assert_int_equal(l->total, 0);
            continue;
        }
        if (l->flags & CW_PRICED_GIFT) {
            assert_int_equal(l->unit_price, 0);
            assert_int_equal(l->total, 0);
        }
        assert_int_equal(l->total, l->qty * l->unit_price - l->discount);
        assert_true(l->total >= 0);
        assert_true(l->discount >= 0);
        if (l->flags & CW_PRICED_NO_DISCOUNT)
            assert_true(l->discount <= l->qty * l->unit_price);
        totals += l->total;
        disc += l->discount;
        gross += l->qty * l->unit_price;
    }
    assert_int_equal(gross, p->subtotal);
    assert_int_equal(totals, p->merchandise);
    assert_int_equal(disc, p->bundle_discount + p->coupon_discount +
                               p->offer_discount + p->tier_discount);
    assert_int_equal(p->qualifying, p->subtotal - p->bundle_discount -
                                        p->coupon_discount - p->offer_discount);
    assert_int_equal(p->merchandise, p->qualifying - p->tier_discount);
    assert_int_equal(p->total, p->merchandise + p->shipping);
    int ship_tier = 0;
    for (size_t t = 0; t < c->n_tiers; t++) {
        int met = p->qualifying >= p->thresholds[t];
        assert_int_equal(!!(p->tiers_met & (1u << t)), met);
        if (met && (c->tiers[t].reward == CW_REWARD_FREE_SHIPPING ||
                    c->tiers[t].reward == CW_REWARD_EXPRESS_SHIPPING))
            ship_tier = 1;
    }
    if (c->shipping.model == CW_SHIP_FLAT && p->subtotal > 0)
        assert_int_equal(p->shipping, ship_tier ? 0 : c->shipping.fee);
}

/* ---- helpers ------------------------------------------------------------ */

struct call {
    const char *session, *customer;
    enum cw_placement placement;
    int64_t coupon;
    int holdout;
    int64_t now;
    const struct cw_incentive_stats *stats;
};

static struct call call_default(void)
{
    struct call k = {NULL, NULL, CW_PLACE_CART, 0, 0, NOW, NULL};
    return k;
}

static void apply(struct fix *f, const struct cw_cart_line *lines, size_t n,
                  struct cw_decision *d, const struct call *k,
                  struct cw_incentive_result *out)
{
    struct cw_decide_req req = {lines, n, k->customer, k->placement, 3, 0};
    struct cw_incentive_req ir;
    memset(&ir, 0, sizeof(ir));
    ir.cfg = f->c;
    ir.stats = k->stats;
    ir.state = f->st;
    ir.session.session_id = k->session;
    ir.session.cart_views = -1;
    ir.session.seconds_on_cart = -1;
    ir.session.mobile = -1;
    ir.session.coupon = k->coupon;
    ir.now = k->now;
    ir.holdout = k->holdout;
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_incentive_apply(&f->m, &req, d, &ir, out, &err);
    if (rc)
        fprintf(stderr, "cw_incentive_apply: %s\n", cw_buf_str(&err));
    assert_int_equal(rc, 0);
    cw_buf_release(&err);
    check_priced(f, &out->cart);
}

static struct cw_cart_line line(const char *sku, int64_t qty)
{
    struct cw_cart_line l = {sku, qty, CW_MONEY_UNKNOWN};
    return l;
}

/* A decision recommending the given SKUs (as cw_decide would fill it). */
static void fake_decision(const struct fix *f, struct cw_decision *d,
                          const char *const *skus, size_t n, double p)
{
    memset(d, 0, sizeof(*d));
    for (size_t i = 0; i < n; i++) {
        uint32_t it = tu_item(&f->m, skus[i]);
        struct cw_addon *a = &d->addons[d->n_addons++];
        a->item = a->variant = it;
        a->p_accept = p;
        a->unit_margin = f->m.items[it].margin;
        a->expected_profit = p * (double)a->unit_margin;
        a->reason = CW_REASON_POPULAR;
        snprintf(a->text, sizeof(a->text), "popular");
    }
}

static const struct cw_priced_line *find_line(const struct cw_priced_cart *p,
                                              const char *sku)
{
    for (size_t i = 0; i < p->n_lines; i++)
        if (!strcmp(p->lines[i].sku, sku))
            return &p->lines[i];
    return NULL;
}

/* ---- configuration --------------------------------------------------------
 */

static void expect_invalid(const struct cw_incentive_config *c, const char *msg)
{
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_incentive_config_validate(c, &err), CW_EINVAL);
    if (strstr(cw_buf_str(&err), msg) == NULL)
        fprintf(stderr, "got '%s', want '%s'\n", cw_buf_str(&err), msg);
    assert_non_null(strstr(cw_buf_str(&err), msg));
    cw_buf_release(&err);
}

static void test_config_validation(void **state)
{
    (void)state;
    struct cw_incentive_config *c = cw_calloc(1, sizeof(*c));
    cw_incentive_config_default(c);
    assert_int_equal(cw_incentive_config_validate(c, NULL), 0);
    ladder(c);
    assert_int_equal(cw_incentive_config_validate(c, NULL), 0);

    c->tiers[1].threshold = 5000;
    expect_invalid(c, "tiers[1].threshold: must be greater than "
                      "tiers[0].threshold (5000)");
    ladder(c);
    c->tiers[0].rungs[3] = 9000; /* past the express tier */
    expect_invalid(c, "tiers[1].rungs: lowest 8000 overlaps tiers[0]");
    ladder(c);
    c->tiers[0].rungs[2] = 3500;
    expect_invalid(c, "tiers[0].rungs[2]: must be greater than "
                      "tiers[0].rungs[1] (4000)");
    ladder(c);
    c->tiers[2].gift_sku[0] = '\0';
    expect_invalid(c, "tiers[2].gift_sku: required for a gift");
    ladder(c);
    c->shipping.model = CW_SHIP_NONE;
    expect_invalid(c, "tiers[0].reward: free_shipping needs shipping.model");
    ladder(c);
    c->tiers[3].percent_bp = 0;
    expect_invalid(c, "tiers[3].percent: must be between 0.01 and 90");
    ladder(c);
    c->discount.enabled = 1;
    expect_invalid(c, "discount.daily_budget: must be > 0 when "
                      "discount.enabled is true");
    c->discount.daily_budget = 100;
    c->discount.step_bp = 2000;
    expect_invalid(c, "discount.step_percent");
    c->discount.step_bp = 500;
    c->discount.margin_floor = 1.0;
    expect_invalid(c, "discount.margin_floor: must be in [0, 1)");
    c->discount.margin_floor = 0.2;
    c->discount.exploration_share = 0.7;
    expect_invalid(c, "discount.exploration_share");
    c->discount.exploration_share = 0.05;
    assert_int_equal(cw_incentive_config_validate(c, NULL), 0);

    c->n_bundles = 2;
    snprintf(c->bundles[0].name, CW_INC_SKU_MAX, "mugs");
    snprintf(c->bundles[0].skus[0], CW_INC_SKU_MAX, "MUG");
    c->bundles[0].n_skus = 1;
    c->bundles[0].breaks[0] = (struct cw_qty_break){3, 1000};
    c->bundles[0].breaks[1] = (struct cw_qty_break){2, 1500};
    c->bundles[0].n_breaks = 2;
    snprintf(c->bundles[1].name, CW_INC_SKU_MAX, "more");
    snprintf(c->bundles[1].skus[0], CW_INC_SKU_MAX, "MUG");
    c->bundles[1].n_skus = 1;
    c->bundles[1].breaks[0] = (struct cw_qty_break){2, 500};
    c->bundles[1].n_breaks = 1;
    expect_invalid(c, "bundles.offers[0].breaks[1].qty: must be greater "
                      "than breaks[0].qty (3)");
    c->bundles[0].breaks[1].qty = 6;
    expect_invalid(c, "bundles.offers[1].skus[0]: 'MUG' is already in "
                      "bundles.offers[0]");
    c->n_bundles = 1;
    assert_int_equal(cw_incentive_config_validate(c, NULL), 0);
    c->n_groups = 1;
    snprintf(c->groups[0].name, CW_INC_SKU_MAX, "kettles");
    snprintf(c->groups[0].skus[0], CW_INC_SKU_MAX, "KETTLE-G");
    c->groups[0].n_skus = 1;
    expect_invalid(c, "upgrades.groups[0].skus: 2 to 5 SKUs");
    memcpy(c->currency, "usd", 4);
    expect_invalid(c, "currency: must be an ISO-4217 code");
    cw_free(c);
}

/* ---- arithmetic -----------------------------------------------------------
 */

static void test_percent_rounding(void **state)
{
    (void)state;
    assert_int_equal(cw_incentive_percent(1999, 1500), 300);   /* 299.85 */
    assert_int_equal(cw_incentive_percent(12345, 1000), 1235); /* 1234.5 */
    assert_int_equal(cw_incentive_percent(12344, 1000), 1234); /* 1234.4 */
    assert_int_equal(cw_incentive_percent(-12345, 1000), -1235);
    assert_int_equal(cw_incentive_percent(1, 5000), 1); /* 0.5 up */
    assert_int_equal(cw_incentive_percent(1, 4999), 0);
    assert_int_equal(cw_incentive_percent(0, 10000), 0);
    /* no overflow on the largest carts */
    int64_t big = 250LL * CW_QTY_MAX * CW_PRICE_MAX;
    assert_int_equal(cw_incentive_percent(big, 10000), big);
    assert_int_equal(cw_incentive_percent(big, 5000), big / 2);
    assert_int_equal(cw_incentive_percent(INT64_MAX, 10000), INT64_MAX);
}

/* ---- tiers ------------------------------------------------------------------
 */

static void test_threshold_met_exactly(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    /* 5 x 8.00 + 2 x 5.00 = 50.00: exactly the free-shipping threshold */
    struct cw_cart_line cart[] = {line("MUG", 5), line("TEA", 2)};
    apply(&f, cart, 2, NULL, &k, r);
    assert_int_equal(r->cart.subtotal, 5000);
    assert_int_equal(r->cart.qualifying, 5000);
    assert_int_equal(r->cart.tiers_met, 1u);
    assert_int_equal(r->cart.shipping, 0);
    assert_int_equal(r->cart.shipping_cost, 400);
    assert_int_equal(r->cart.total, 5000);
    /* profit: (500 x 5 + 300 x 2) margins - 400 shipping paid */
    assert_int_equal(r->cart.profit, 2500 + 600 - 400);
    assert_true(r->progress.active);
    assert_int_equal(r->progress.tier, 1);
    assert_int_equal(r->progress.current, 5000);
    assert_int_equal(r->progress.target, 8000);
    assert_int_equal(r->progress.remaining, 3000);
    assert_int_equal(r->progress.percent, 62);
    assert_non_null(strstr(r->progress.message, "ree express shipping"));

    /* one cent short: no free shipping, the fee is charged */
    struct cw_cart_line short1[] = {line("MUG", 5), {"TEA", 2, 499}};
    apply(&f, short1, 2, NULL, &k, r);
    assert_int_equal(r->cart.qualifying, 4998);
    assert_int_equal(r->cart.tiers_met, 0u);
    assert_int_equal(r->cart.shipping, 499);
    assert_int_equal(r->cart.total, 4998 + 499);
    assert_int_equal(r->progress.tier, 0);
    assert_int_equal(r->progress.remaining, 2);
    assert_int_equal(r->progress.percent, 99);

    /* every tier: express, the spoon gift at price 0, 5% off */
    struct cw_cart_line all[] = {line("KETTLE-X", 4), line("TEA", 4)};
    apply(&f, all, 2, NULL, &k, r);
    assert_int_equal(r->cart.qualifying, 20000);
    assert_int_equal(r->cart.tiers_met, 15u);
    assert_true(r->cart.express);
    assert_int_equal(r->cart.shipping, 0);
    assert_int_equal(r->cart.shipping_cost, 700);
    assert_int_equal(r->cart.tier_discount, 1000);
    assert_int_equal(r->cart.merchandise, 19000);
    const struct cw_priced_line *g = find_line(&r->cart, "SPOON");
    assert_non_null(g);
    assert_true(g->flags & CW_PRICED_GIFT);
    assert_int_equal(r->cart.gift_cost, 50);
    assert_false(r->progress.active);
    assert_non_null(strstr(r->progress.message, "unlocked"));
    cw_free(r);
    fix_release(&f);
}

static void test_coupon_below_tier(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    struct cw_cart_line cart[] = {line("MUG", 5), line("TEA", 2)};
    apply(&f, cart, 2, NULL, &k, r);
    assert_int_equal(r->cart.shipping, 0);
    /* a storefront code of 1.00 takes the cart under 50.00: free
     * shipping goes with it (Magento #36760) */
    k.coupon = 100;
    apply(&f, cart, 2, NULL, &k, r);
    assert_int_equal(r->cart.coupon_discount, 100);
    assert_int_equal(r->cart.qualifying, 4900);
    assert_int_equal(r->cart.tiers_met, 0u);
    assert_int_equal(r->cart.shipping, 499);
    assert_int_equal(r->cart.total, 4900 + 499);
    assert_int_equal(r->progress.remaining, 100);
    /* a coupon larger than the cart leaves nothing negative */
    k.coupon = 999999;
    apply(&f, cart, 2, NULL, &k, r);
    assert_int_equal(r->cart.merchandise, 0);
    assert_int_equal(r->cart.coupon_discount, 5000);
    cw_free(r);
    fix_release(&f);
}

/* A targeted discount that would take the cart under a tier is judged
 * with the reward it loses, and when it is given the priced cart charges
 * shipping again: never a free-shipping bar over a cart that no longer
 * qualifies. */
static void test_discount_below_tier(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    discounts_on(f.c);
    f.c->shipping.fee = 50; /* a cheap fee: the discount is still worth it */
    f.c->shipping.cost = 40;
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    k.session = "below-1";
    struct cw_cart_line cart[] = {line("TIN", 1), line("SPOON", 3)};
    apply(&f, cart, 2, NULL, &k, r); /* 43.00 + 7.50 = 50.50 */
    assert_int_equal(r->cart.subtotal, 5050);
    assert_true(r->propensity > 0.5);
    assert_true(r->discount.active);
    assert_true(r->cart.offer_discount > 50);
    assert_true(r->cart.qualifying < 5000);
    assert_int_equal(r->cart.tiers_met, 0u);
    assert_int_equal(r->cart.shipping, 50);
    assert_int_equal(r->progress.tier, 0);
    assert_int_equal(r->progress.remaining, 5000 - r->cart.qualifying);

    /* with the usual fee, 5% (2.53) would cost the shopper 4.99 of
     * shipping: the engine does not offer a discount that loses more than
     * it gives; 15% (7.58) is worth offering only as a net saving */
    f.c->shipping.fee = 499;
    f.c->shipping.cost = 400;
    k.session = "below-2";
    apply(&f, cart, 2, NULL, &k, r);
    if (r->discount.active) {
        assert_true(r->discount.percent_bp > 500);
        assert_true(r->cart.offer_discount > 499);
        assert_int_equal(r->cart.shipping, 499);
    }
    cw_free(r);
    fix_release(&f);
}

static void test_quantity_drop_below_tier(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    f.c->n_bundles = 1;
    snprintf(f.c->bundles[0].name, CW_INC_SKU_MAX, "mugs");
    snprintf(f.c->bundles[0].skus[0], CW_INC_SKU_MAX, "MUG");
    f.c->bundles[0].n_skus = 1;
    f.c->bundles[0].breaks[0] = (struct cw_qty_break){7, 1000};
    f.c->bundles[0].n_breaks = 1;
    assert_int_equal(cw_incentive_config_validate(f.c, NULL), 0);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    k.session = "qty";
    struct cw_cart_line cart[] = {line("MUG", 7)};
    apply(&f, cart, 1, NULL, &k, r); /* 56.00 - 10% = 50.40 */
    assert_int_equal(r->cart.bundle_discount, 560);
    assert_int_equal(r->cart.qualifying, 5040);
    assert_int_equal(r->cart.tiers_met, 1u);
    assert_int_equal(r->cart.shipping, 0);
    /* the shopper drops one mug in the same session: the break and the
     * free shipping both go (Magento #8614) */
    cart[0].qty = 6;
    apply(&f, cart, 1, NULL, &k, r);
    assert_int_equal(r->cart.bundle_discount, 0);
    assert_int_equal(r->cart.qualifying, 4800);
    assert_int_equal(r->cart.tiers_met, 0u);
    assert_int_equal(r->cart.shipping, 499);
    assert_int_equal(r->cart.total, 4800 + 499);
    /* the seventh mug at 10% off all seven, with free shipping, would
     * earn less than the six at full price: no bundle offer */
    assert_false(r->bundle.active);
    /* a break that pays: 2% off, and the fee is what the shopper saves */
    f.c->bundles[0].breaks[0].percent_bp = 200;
    f.c->tiers[0].threshold = 5600;
    f.c->tiers[0].n_rungs = 0;
    apply(&f, cart, 1, NULL, &k, r);
    assert_true(r->bundle.active);
    assert_int_equal(r->bundle.add_units, 1);
    assert_int_equal(r->bundle.qty_to, 7);
    assert_int_equal(r->bundle.percent_bp, 200);
    assert_int_equal(r->bundle.savings, 112);
    /* 5600 - 112 = 5488 is under 5600: shipping still charged */
    assert_int_equal(r->bundle.extra_pay, 800 - 112);
    cw_free(r);
    fix_release(&f);
}

/* ---- rounding in 0-, 2- and 3-decimal currencies ------------------------- */

static void rounding_in(const char *cur, int64_t mug_price, int64_t expect_tier)
{
    struct fix f;
    fix_init_cur(&f, cur);
    ladder(f.c);
    f.c->threshold.personalize = 0;
    /* only the percent tier, low enough to meet */
    f.c->n_tiers = 1;
    f.c->tiers[0] = (struct cw_tier){.reward = CW_REWARD_PERCENT_OFF,
                                     .threshold = 1,
                                     .percent_bp = 1500,
                                     .gift_cost = CW_MONEY_UNKNOWN};
    assert_int_equal(cw_incentive_config_validate(f.c, NULL), 0);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    struct cw_cart_line cart[] = {
        {"MUG", 1, mug_price}, {"TEA", 1, mug_price}, {"SPOON", 1, mug_price}};
    apply(&f, cart, 3, NULL, &k, r);
    assert_int_equal(r->cart.subtotal, 3 * mug_price);
    assert_int_equal(r->cart.tier_discount, expect_tier);
    /* the three lines split it by largest remainder: within one unit of
     * each other, summing exactly */
    int64_t lo = INT64_MAX, hi = 0;
    for (size_t i = 0; i < 3; i++) {
        int64_t dd = r->cart.lines[i].discount;
        lo = dd < lo ? dd : lo;
        hi = dd > hi ? dd : hi;
    }
    assert_true(hi - lo <= 1);
    assert_int_equal(r->cart.merchandise, 3 * mug_price - expect_tier);
    cw_free(r);
    fix_release(&f);
}

static void test_currency_rounding(void **state)
{
    (void)state;
    /* JPY: 3 x 1999 yen = 5997, 15% = 899.55 -> 900 yen */
    rounding_in("JPY", 1999, 900);
    /* USD: 3 x 19.99 = 59.97, 15% = 8.9955 -> 9.00 */
    rounding_in("USD", 1999, 900);
    /* BHD: 3 x 12.345 = 37.035, 15% = 5.55525 -> 5.555 */
    rounding_in("BHD", 12345, 5555);
    /* BHD: 3 x 0.003 = 0.009, 15% = 0.00135 -> 0.001 */
    rounding_in("BHD", 3, 1);
}

static void test_currency_mismatch(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    memcpy(f.c->currency, "EUR", 4);
    struct cw_cart_line cart[] = {line("MUG", 1)};
    struct cw_decide_req req = {cart, 1, NULL, CW_PLACE_CART, 3, 0};
    struct cw_incentive_req ir;
    memset(&ir, 0, sizeof(ir));
    ir.cfg = f.c;
    ir.now = NOW;
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_incentive_apply(&f.m, &req, NULL, &ir, r, &err),
                     CW_EINVAL);
    assert_non_null(strstr(cw_buf_str(&err), "currency: the configuration "
                                             "is in EUR"));
    cw_buf_release(&err);
    cw_free(r);
    fix_release(&f);
}

/* ---- budget under a concurrent burst --------------------------------------
 */

struct burst {
    struct cw_incentive_state *st;
    int64_t budget;
    int64_t got; /* sum of successful reservations */
    int ok, refused;
    uint32_t seed;
};

static void *burst_thread(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < 4000; i++) {
        int64_t amt = 37 + (int64_t)(tu_rand(&b->seed) % 463);
        if (cw_incentive_budget_reserve(b->st, b->budget, CW_PACING_NONE, NOW,
                                        amt)) {
            b->got += amt;
            b->ok++;
        } else {
            b->refused++;
        }
    }
    return NULL;
}

static void test_budget_concurrent_burst(void **state)
{
    (void)state;
    struct cw_incentive_state *st = cw_incentive_state_new(64, 64, 0);
    enum { T = 8 };
    struct burst b[T];
    pthread_t th[T];
    const int64_t budget = 250000;
    for (int i = 0; i < T; i++) {
        b[i] = (struct burst){st, budget, 0, 0, 0, (uint32_t)(i * 7919 + 1)};
        assert_int_equal(pthread_create(&th[i], NULL, burst_thread, &b[i]), 0);
    }
    int64_t got = 0;
    int refused = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        got += b[i].got;
        refused += b[i].refused;
    }
    /* 32000 requests of ~268 average want ~8.6M: the budget runs out
     * mid-burst; what was granted is exactly what the state counts, and
     * never more than the budget */
    assert_true(refused > 0);
    assert_int_equal(got, cw_incentive_state_spent(st, NOW));
    assert_true(got <= budget);
    assert_true(got > budget - 500); /* and it was used up */
    /* the next day starts afresh; the day before is refused */
    assert_int_equal(cw_incentive_state_spent(st, NOW + 86400), 0);
    assert_true(cw_incentive_budget_reserve(st, budget, CW_PACING_NONE,
                                            NOW + 86400, 100));
    assert_false(
        cw_incentive_budget_reserve(st, budget, CW_PACING_NONE, NOW, 1));
    cw_incentive_state_free(st);

    /* even pacing: at 06:00 a quarter of the day plus one hour is open */
    st = cw_incentive_state_new(64, 64, 0);
    int64_t six = (NOW / 86400) * 86400 + 6 * 3600;
    int64_t open = (int64_t)floor(24000.0 * (0.25 + 1.0 / 24));
    assert_true(
        cw_incentive_budget_reserve(st, 24000, CW_PACING_EVEN, six, open));
    assert_false(
        cw_incentive_budget_reserve(st, 24000, CW_PACING_EVEN, six, 1));
    assert_true(cw_incentive_budget_reserve(st, 24000, CW_PACING_EVEN,
                                            six + 3600, 1000));
    cw_incentive_state_free(st);
}

/* The same through the whole decision: many sessions at once, each
 * offered a discount while the budget lasts. */
struct dburst {
    struct fix *f;
    int first;
    int64_t offered;
    int n_offered, n_budget;
};

static void *dburst_thread(void *arg)
{
    struct dburst *b = arg;
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct cw_cart_line cart[] = {line("KETTLE-B", 1), line("MUG", 1)};
    struct cw_decide_req req = {cart, 2, NULL, CW_PLACE_CART, 3, 0};
    for (int i = 0; i < 300; i++) {
        char sid[32];
        snprintf(sid, sizeof(sid), "burst-%d-%d", b->first, i);
        struct cw_incentive_req ir;
        memset(&ir, 0, sizeof(ir));
        ir.cfg = b->f->c;
        ir.state = b->f->st;
        ir.session = (struct cw_incentive_session){sid, -1, -1, -1, 0};
        ir.now = NOW;
        if (cw_incentive_apply(&b->f->m, &req, NULL, &ir, r, NULL) != 0)
            continue;
        if (r->discount.active) {
            b->offered += r->discount.amount;
            b->n_offered++;
        }
        if (r->notes & CW_INC_NOTE_BUDGET)
            b->n_budget++;
    }
    cw_free(r);
    return NULL;
}

static void test_budget_burst_decisions(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    discounts_on(f.c);
    f.c->discount.daily_budget = 20000;
    cw_incentive_state_free(f.st);
    f.st = cw_incentive_state_new(4096, 64, 0);
    enum { T = 4 };
    struct dburst b[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        b[i] = (struct dburst){&f, i, 0, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, dburst_thread, &b[i]), 0);
    }
    int64_t offered = 0;
    int n = 0, refused = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        offered += b[i].offered;
        n += b[i].n_offered;
        refused += b[i].n_budget;
    }
    assert_true(n > 0);
    assert_true(refused > 0); /* ran out mid-burst */
    assert_int_equal(offered, cw_incentive_state_spent(f.st, NOW));
    assert_true(offered <= 20000);
    fix_release(&f);
}

/* ---- budget drawn from an allowance (the store's) ----------------------- */

/* A fake store-wide budget: what was leased per day over every state that
 * draws on it, granted as the store's budget_lease op does. */
struct fake_store {
    pthread_mutex_t lock;
    int64_t day[4], leased[4];
    int n_days;
    int calls; /* lease calls */
    int64_t last_limit, last_want;
    int fail;         /* 1: every lease fails (a store error) */
    useconds_t delay; /* each lease takes this long (a round trip) */
};

static int fake_lease(void *ctx, int64_t day, int64_t limit, int64_t want,
                      int64_t *granted)
{
    struct fake_store *fs = ctx;
    if (fs->delay)
        usleep(fs->delay);
    pthread_mutex_lock(&fs->lock);
    fs->calls++;
    fs->last_limit = limit;
    fs->last_want = want;
    *granted = 0;
    int rc = 0;
    if (fs->fail) {
        rc = CW_EIO;
    } else {
        int i = 0;
        while (i < fs->n_days && fs->day[i] != day)
            i++;
        if (i == fs->n_days) {
            assert_true(fs->n_days < 4);
            fs->day[fs->n_days] = day;
            fs->leased[fs->n_days++] = 0;
        }
        int64_t g = limit - fs->leased[i];
        g = g < 0 ? 0 : g < want ? g : want;
        fs->leased[i] += g;
        *granted = g;
    }
    pthread_mutex_unlock(&fs->lock);
    return rc;
}

static int64_t fake_leased(struct fake_store *fs, int64_t day)
{
    for (int i = 0; i < fs->n_days; i++)
        if (fs->day[i] == day)
            return fs->leased[i];
    return 0;
}

static struct cw_incentive_state *state_on(struct fake_store *fs)
{
    struct cw_incentive_state *st = cw_incentive_state_new(64, 64, 0);
    struct cw_incentive_allowance a = {fake_lease, fs};
    cw_incentive_state_set_allowance(st, &a);
    return st;
}

static void test_budget_allowance_chunks(void **state)
{
    (void)state;
    struct fake_store fs = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct cw_incentive_state *st = state_on(&fs);
    const int64_t budget = 1000, day = NOW / 86400;
    /* nothing is leased before it is needed */
    assert_int_equal(cw_incentive_state_leased(st, NOW), 0);
    assert_int_equal(fs.calls, 0);
    /* the first reservation leases a chunk of budget / 20 ... */
    assert_true(
        cw_incentive_budget_reserve(st, budget, CW_PACING_NONE, NOW, 10));
    assert_int_equal(fs.calls, 1);
    assert_int_equal(fs.last_want, 50);
    assert_int_equal(fs.last_limit, budget);
    assert_int_equal(cw_incentive_state_leased(st, NOW), 50);
    /* ... that the next ones use without asking */
    for (int i = 0; i < 4; i++)
        assert_true(
            cw_incentive_budget_reserve(st, budget, CW_PACING_NONE, NOW, 10));
    assert_int_equal(fs.calls, 1);
    /* one larger than a chunk asks for what it is missing */
    assert_true(
        cw_incentive_budget_reserve(st, budget, CW_PACING_NONE, NOW, 120));
    assert_int_equal(fs.calls, 2);
    assert_int_equal(fs.last_want, 120);
    assert_int_equal(cw_incentive_state_spent(st, NOW), 170);
    assert_int_equal(cw_incentive_state_leased(st, NOW), 170);
    /* another node takes most of the rest of the day */
    struct cw_incentive_state *other = state_on(&fs);
    assert_true(
        cw_incentive_budget_reserve(other, budget, CW_PACING_NONE, NOW, 800));
    assert_int_equal(fake_leased(&fs, day), 970);
    /* what is left store-wide is granted, no more: 30 does not cover 40 */
    assert_false(
        cw_incentive_budget_reserve(st, budget, CW_PACING_NONE, NOW, 40));
    assert_int_equal(fs.calls, 4);
    assert_int_equal(cw_incentive_state_leased(st, NOW), 200);
    assert_int_equal(cw_incentive_state_spent(st, NOW), 170);
    /* the store is dry: a refusal no longer asks it ... */
    assert_false(
        cw_incentive_budget_reserve(st, budget, CW_PACING_NONE, NOW, 40));
    assert_int_equal(fs.calls, 4);
    /* ... and what was leased is still used */
    assert_true(
        cw_incentive_budget_reserve(st, budget, CW_PACING_NONE, NOW, 30));
    assert_int_equal(fs.calls, 4);
    /* never more than the budget over both nodes */
    assert_int_equal(fake_leased(&fs, day), budget);
    assert_int_equal(cw_incentive_state_spent(st, NOW) +
                         cw_incentive_state_spent(other, NOW),
                     budget);
    /* a raised budget has room again */
    assert_true(
        cw_incentive_budget_reserve(st, budget + 100, CW_PACING_NONE, NOW, 40));
    assert_int_equal(fake_leased(&fs, day), budget + 55); /* a chunk */
    /* the next day starts afresh, for every node */
    assert_int_equal(cw_incentive_state_leased(st, NOW + 86400), 0);
    assert_true(cw_incentive_budget_reserve(st, budget, CW_PACING_NONE,
                                            NOW + 86400, 10));
    assert_int_equal(cw_incentive_state_leased(st, NOW + 86400), 50);
    assert_int_equal(fake_leased(&fs, day + 1), 50);
    /* and the day before is refused */
    assert_false(
        cw_incentive_budget_reserve(st, budget, CW_PACING_NONE, NOW, 1));
    cw_incentive_state_free(other);
    cw_incentive_state_free(st);
}

static void test_budget_allowance_pacing_and_errors(void **state)
{
    (void)state;
    struct fake_store fs = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct cw_incentive_state *st = state_on(&fs);
    /* even pacing: the store is asked within the paced share */
    int64_t six = (NOW / 86400) * 86400 + 6 * 3600;
    int64_t open = (int64_t)floor(24000.0 * (0.25 + 1.0 / 24));
    assert_true(
        cw_incentive_budget_reserve(st, 24000, CW_PACING_EVEN, six, 100));
    assert_int_equal(fs.last_limit, open);
    assert_int_equal(fs.last_want, 1200);
    assert_true(cw_incentive_budget_reserve(st, 24000, CW_PACING_EVEN, six,
                                            open - 100));
    assert_false(
        cw_incentive_budget_reserve(st, 24000, CW_PACING_EVEN, six, 1));
    assert_int_equal(fake_leased(&fs, six / 86400), open);
    /* an hour later the pace has room, and the store is asked again */
    assert_true(cw_incentive_budget_reserve(st, 24000, CW_PACING_EVEN,
                                            six + 3600, 1000));
    assert_int_equal(fake_leased(&fs, six / 86400), open + 1000);
    cw_incentive_state_free(st);

    /* a store error refuses the discount: nothing reserved, and the next
     * reservation asks again */
    struct fake_store bad = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail = 1};
    st = state_on(&bad);
    int calls = bad.calls;
    assert_false(
        cw_incentive_budget_reserve(st, 1000, CW_PACING_NONE, NOW, 10));
    assert_int_equal(bad.calls, calls + 1);
    assert_int_equal(cw_incentive_state_spent(st, NOW), 0);
    assert_int_equal(cw_incentive_state_leased(st, NOW), 0);
    bad.fail = 0;
    assert_true(cw_incentive_budget_reserve(st, 1000, CW_PACING_NONE, NOW, 10));
    assert_int_equal(bad.calls, calls + 2);
    assert_int_equal(cw_incentive_state_spent(st, NOW), 10);
    /* no allowance (a NULL lease): the state's own budget, as before */
    struct cw_incentive_allowance none = {NULL, NULL};
    struct cw_incentive_state *own = cw_incentive_state_new(64, 64, 0);
    cw_incentive_state_set_allowance(own, &none);
    calls = fs.calls;
    assert_true(
        cw_incentive_budget_reserve(own, 1000, CW_PACING_NONE, NOW, 1000));
    assert_int_equal(fs.calls, calls);
    assert_int_equal(cw_incentive_state_leased(own, NOW), 0);
    cw_incentive_state_free(own);
    cw_incentive_state_free(st);
}

/* Threads of two nodes on one store, each lease a round trip: no node
 * reserves more than it leased, the store never leases more than the
 * budget, and the budget is used up. */
struct nburst {
    struct cw_incentive_state *st;
    int64_t budget, got;
    uint32_t seed;
};

static void *nburst_thread(void *arg)
{
    struct nburst *b = arg;
    for (int i = 0; i < 3000; i++) {
        int64_t amt = 1 + (int64_t)(tu_rand(&b->seed) % 60);
        if (cw_incentive_budget_reserve(b->st, b->budget, CW_PACING_NONE, NOW,
                                        amt))
            b->got += amt;
    }
    return NULL;
}

static void *pair_thread(void *arg)
{
    struct nburst *b = arg;
    if (cw_incentive_budget_reserve(b->st, b->budget, CW_PACING_NONE, NOW, 10))
        b->got += 10;
    return NULL;
}

static void test_budget_allowance_concurrent(void **state)
{
    (void)state;
    struct fake_store fs = {.lock = PTHREAD_MUTEX_INITIALIZER, .delay = 200};
    struct cw_incentive_state *node[2] = {state_on(&fs), state_on(&fs)};
    enum { T = 8 };
    const int64_t budget = 100000;
    struct nburst b[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        b[i] = (struct nburst){node[i % 2], budget, 0, (uint32_t)(i * 31 + 7)};
        assert_int_equal(pthread_create(&th[i], NULL, nburst_thread, &b[i]), 0);
    }
    int64_t got[2] = {0, 0};
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        got[i % 2] += b[i].got;
    }
    int64_t leased = 0;
    for (int n = 0; n < 2; n++) {
        assert_int_equal(got[n], cw_incentive_state_spent(node[n], NOW));
        assert_true(got[n] <= cw_incentive_state_leased(node[n], NOW));
        leased += cw_incentive_state_leased(node[n], NOW);
    }
    assert_int_equal(leased, fake_leased(&fs, NOW / 86400));
    assert_true(leased <= budget);
    /* 24000 wants of ~30 want ~730000: it ran out, and what the nodes
     * leased and could not use is less than the last chunk of each */
    assert_true(got[0] + got[1] > budget - 2 * (budget / 20) - 120);
    /* chunks, not a round trip per decision: about 20 leases, and the
     * dry store is not asked again */
    assert_true(fs.calls <= 2 * 20 + 4);
    cw_incentive_state_free(node[0]);
    cw_incentive_state_free(node[1]);

    /* two threads that run out at once lease once */
    struct fake_store one = {.lock = PTHREAD_MUTEX_INITIALIZER,
                             .delay = 100000};
    struct cw_incentive_state *st = state_on(&one);
    struct nburst pair[2] = {{st, 1000, 0, 1}, {st, 1000, 0, 2}};
    pthread_t pt[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&pt[i], NULL, pair_thread, &pair[i]),
                         0);
    for (int i = 0; i < 2; i++)
        pthread_join(pt[i], NULL);
    assert_int_equal(pair[0].got + pair[1].got, 20);
    assert_int_equal(one.calls, 1);
    assert_int_equal(cw_incentive_state_leased(st, NOW), 50);
    cw_incentive_state_free(st);
}

/* ---- frequency caps across placements -------------------------------------
 */

static void test_frequency_caps_across_placements(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    f.c->caps[CW_PLACE_PRODUCT] = 1;
    f.c->caps[CW_PLACE_CART] = 2;
    f.c->caps[CW_PLACE_CHECKOUT] = 2;
    f.c->n_bundles = 1;
    snprintf(f.c->bundles[0].name, CW_INC_SKU_MAX, "tea");
    snprintf(f.c->bundles[0].skus[0], CW_INC_SKU_MAX, "TEA");
    f.c->bundles[0].n_skus = 1;
    f.c->bundles[0].breaks[0] = (struct cw_qty_break){3, 500};
    f.c->bundles[0].n_breaks = 1;
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct cw_decision d;
    static const char *const two[] = {"SPOON", "CAKE"};
    struct cw_cart_line cart[] = {line("TEA", 1)};
    struct call k = call_default();
    k.session = "caps";

    /* product page: both add-ons and the bundle shown (count 1) */
    k.placement = CW_PLACE_PRODUCT;
    fake_decision(&f, &d, two, 2, 0.1);
    apply(&f, cart, 1, &d, &k, r);
    assert_int_equal(d.n_addons, 2);
    assert_true(r->bundle.active);
    /* product page again: its cap of 1 is used up */
    fake_decision(&f, &d, two, 2, 0.1);
    apply(&f, cart, 1, &d, &k, r);
    assert_int_equal(d.n_addons, 0);
    assert_int_equal(r->addons_capped, 2);
    assert_false(r->bundle.active);
    /* cart drawer: cap 2, shown once so far: shown (count 2) */
    k.placement = CW_PLACE_CART;
    fake_decision(&f, &d, two, 2, 0.1);
    apply(&f, cart, 1, &d, &k, r);
    assert_int_equal(d.n_addons, 2);
    assert_true(r->bundle.active);
    /* checkout: cap 2, already shown twice across placements */
    k.placement = CW_PLACE_CHECKOUT;
    fake_decision(&f, &d, two, 2, 0.1);
    apply(&f, cart, 1, &d, &k, r);
    assert_int_equal(d.n_addons, 0);
    assert_false(r->bundle.active);
    /* a new add-on is still shown there; another session is untouched */
    static const char *const mug[] = {"MUG"};
    fake_decision(&f, &d, mug, 1, 0.1);
    apply(&f, cart, 1, &d, &k, r);
    assert_int_equal(d.n_addons, 1);
    k.session = "caps-other";
    fake_decision(&f, &d, two, 2, 0.1);
    apply(&f, cart, 1, &d, &k, r);
    assert_int_equal(d.n_addons, 2);
    cw_free(r);
    fix_release(&f);
}

/* ---- bundles and the margin floor ------------------------------------------
 */

static void test_bundle_margin_floor(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    /* 50% off the second spoon, in a cart of cakes (25% margin) under a
     * 30% margin floor: the break can only have what the floor leaves */
    f.c->discount.margin_floor = 0.3;
    f.c->n_bundles = 1;
    snprintf(f.c->bundles[0].name, CW_INC_SKU_MAX, "spoons");
    snprintf(f.c->bundles[0].skus[0], CW_INC_SKU_MAX, "SPOON");
    f.c->bundles[0].n_skus = 1;
    f.c->bundles[0].breaks[0] = (struct cw_qty_break){2, 5000};
    f.c->bundles[0].n_breaks = 1;
    f.c->bundle_accept = 0.5;
    assert_int_equal(cw_incentive_config_validate(f.c, NULL), 0);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    struct cw_cart_line cart[] = {line("CAKE", 4), line("SPOON", 1)};
    apply(&f, cart, 2, NULL, &k, r);
    assert_true(r->bundle.active);
    assert_int_equal(r->bundle.qty_to, 2);
    assert_int_equal(r->bundle.configured_bp, 5000);
    /* margin 1600 on 5300 of goods: (1600 - D) >= 0.3 (5300 - D) gives
     * D <= 14.28: 14 of the 250 the break would give */
    assert_int_equal(r->bundle.savings, 14);
    assert_int_equal(r->bundle.percent_bp, 280);
    assert_int_equal(r->bundle.extra_pay, 250 - 14);
    assert_true(r->bundle.expected_profit > 0);
    /* take the offer: the whole cart sits at the floor, not below */
    struct cw_cart_line took[] = {line("CAKE", 4), line("SPOON", 2)};
    apply(&f, took, 2, NULL, &k, r);
    int64_t mm = r->cart.profit - (r->cart.shipping - r->cart.shipping_cost);
    assert_int_equal(r->cart.bundle_discount, 14);
    assert_true((double)mm >= 0.3 * (double)r->cart.merchandise);
    assert_true((double)(mm - 1) < 0.3 * (double)(r->cart.merchandise - 1));
    assert_false(r->bundle.active); /* the best break applies already */
    /* spoons alone (80% margin): the full 50% fits under the floor, but
     * the second spoon's 2.00 of margin does not pay for 2.50 off the
     * pair: applied as a price rule, never pushed as an offer */
    struct cw_cart_line one[] = {line("SPOON", 1)};
    apply(&f, one, 1, NULL, &k, r);
    assert_false(r->bundle.active);
    struct cw_cart_line two[] = {line("SPOON", 2)};
    apply(&f, two, 1, NULL, &k, r);
    assert_int_equal(r->cart.bundle_discount, 250);
    /* a floor above the cart's own margin: no break at all */
    f.c->discount.margin_floor = 0.35;
    apply(&f, took, 2, NULL, &k, r);
    assert_int_equal(r->cart.bundle_discount, 0);
    apply(&f, cart, 2, NULL, &k, r);
    assert_false(r->bundle.active);
    cw_free(r);
    fix_release(&f);
}

/* ---- no discount on recommended add-ons -----------------------------------
 */

static void test_no_discount_on_addons(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    discounts_on(f.c);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct cw_decision d;
    static const char *const tea[] = {"TEA"};
    struct call k = call_default();
    k.session = "addons";
    struct cw_cart_line cart[] = {line("KETTLE-B", 1)};
    fake_decision(&f, &d, tea, 1, 0.2);
    apply(&f, cart, 1, &d, &k, r);
    assert_true(r->discount.active);
    /* the add-on is listed as excluded */
    int listed = 0;
    for (size_t i = 0; i < r->n_excluded; i++)
        listed |= !strcmp(r->excluded[i], "TEA");
    assert_true(listed);
    /* the shopper adds the recommended tea: the discount stays on the
     * kettle and never touches the tea */
    struct cw_cart_line both[] = {line("KETTLE-B", 1), line("TEA", 2)};
    fake_decision(&f, &d, NULL, 0, 0);
    apply(&f, both, 2, &d, &k, r);
    assert_true(r->discount.active);
    assert_true(r->discount.sticky);
    const struct cw_priced_line *t = find_line(&r->cart, "TEA");
    assert_true(t->flags & CW_PRICED_NO_DISCOUNT);
    assert_int_equal(t->discount, 0);
    assert_int_equal(t->total, 1000);
    const struct cw_priced_line *kb = find_line(&r->cart, "KETTLE-B");
    assert_int_equal(kb->discount, r->cart.offer_discount);
    assert_int_equal(r->discount.base, 3000);
    assert_int_equal(r->cart.offer_discount,
                     cw_incentive_percent(3000, r->discount.percent_bp));
    cw_free(r);
    fix_release(&f);
}

/* ---- personalized thresholds ----------------------------------------------
 */

static void test_anonymous_and_known_thresholds(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    f.c->threshold.personalize = 1;
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    k.stats = &f.stats;
    struct cw_cart_line cart[] = {line("TEA", 2)};

    /* anonymous: the store's distribution from the cart up */
    k.session = "anon";
    apply(&f, cart, 1, NULL, &k, r);
    assert_true(r->threshold.active && r->threshold.personalized);
    assert_false(r->threshold.basis_customer);
    assert_int_equal(r->threshold.typical, 5500);
    assert_non_null(strstr(r->threshold.why, "anonymous"));
    int64_t anon = r->threshold.threshold;
    int in_rungs = 0;
    for (size_t i = 0; i < f.c->tiers[0].n_rungs; i++)
        in_rungs |= f.c->tiers[0].rungs[i] == anon;
    assert_true(in_rungs);
    assert_true(r->threshold.expected_profit >=
                r->threshold.static_expected_profit - 1e-9);
    assert_int_equal(r->cart.thresholds[0], anon);
    /* the session keeps its threshold as the cart grows */
    struct cw_cart_line more[] = {line("TEA", 2), line("MUG", 3)};
    apply(&f, more, 2, NULL, &k, r);
    assert_true(r->threshold.sticky);
    assert_int_equal(r->threshold.threshold, anon);

    /* known customers: the small spender gets a lower rung than the big
     * one, each from their own typical order */
    long small = cw_model_find_customer(&f.m, "small");
    long big = cw_model_find_customer(&f.m, "big");
    assert_true(small >= 0 && big >= 0);
    assert_true(f.m.customers[small].typical_order <
                f.m.customers[big].typical_order);
    k.session = "s-small";
    k.customer = "small";
    apply(&f, cart, 1, NULL, &k, r);
    assert_true(r->threshold.basis_customer);
    assert_int_equal(r->threshold.typical, f.m.customers[small].typical_order);
    assert_non_null(strstr(r->threshold.why, "usual order"));
    int64_t t_small = r->threshold.threshold;
    k.session = "s-big";
    k.customer = "big";
    apply(&f, cart, 1, NULL, &k, r);
    int64_t t_big = r->threshold.threshold;
    assert_true(t_small < t_big);
    /* holdout: the static threshold */
    k.session = "s-hold";
    k.holdout = 1;
    apply(&f, cart, 1, NULL, &k, r);
    assert_false(r->threshold.personalized);
    assert_int_equal(r->threshold.threshold, 5000);
    /* no distribution: the typical order alone, and the note says so */
    k.holdout = 0;
    k.stats = NULL;
    k.session = "s-nodist";
    k.customer = NULL;
    apply(&f, cart, 1, NULL, &k, r);
    assert_true(r->notes & CW_INC_NOTE_NO_DIST);
    assert_true(r->notes & CW_INC_NOTE_PROP_PRIOR);
    cw_free(r);
    fix_release(&f);
}

/* ---- the discount rule ------------------------------------------------------
 */

static void test_discount_rule(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    discounts_on(f.c);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    struct cw_cart_line cart[] = {line("KETTLE-B", 1), line("MUG", 1)};

    /* above the threshold and worth it: one offer, inside the guardrails,
     * satisfying P(buy|d)(margin - d) > P(buy|0) margin */
    k.session = "d1";
    apply(&f, cart, 2, NULL, &k, r);
    assert_true(r->discount.active);
    assert_true(r->discount.percent_bp <= f.c->discount.max_percent_bp);
    assert_int_equal(r->discount.percent_bp % f.c->discount.step_bp, 0);
    assert_true(r->discount.p_buy_with * (double)r->cart.profit >
                r->discount.p_buy *
                    (double)(r->cart.profit + r->cart.offer_discount));
    assert_true(r->discount.gain > 0);
    assert_int_equal(r->discount.expires_at, NOW + 30 * 60);
    assert_int_equal(r->discount.exploration, 0);
    assert_non_null(strstr(r->discount.reason, "abandonment risk"));
    int64_t merch_margin =
        r->cart.profit - (r->cart.shipping - r->cart.shipping_cost);
    assert_true((double)merch_margin >= 0.1 * (double)r->cart.merchandise);
    assert_int_equal(cw_incentive_state_spent(f.st, NOW), r->discount.amount);
    assert_true(r->notes & CW_INC_NOTE_PROP_PRIOR);
    assert_true(r->notes & CW_INC_NOTE_UPLIFT_PRIOR);

    /* the same session later: the same offer, not a second one */
    uint32_t bp = r->discount.percent_bp;
    k.now = NOW + 60;
    apply(&f, cart, 2, NULL, &k, r);
    assert_true(r->discount.sticky);
    assert_int_equal(r->discount.percent_bp, bp);
    /* after it expires the session gets none */
    k.now = NOW + 31 * 60;
    apply(&f, cart, 2, NULL, &k, r);
    assert_false(r->discount.active);
    assert_int_equal(r->cart.offer_discount, 0);

    /* below the propensity threshold: nothing, whatever it would earn */
    k.now = NOW;
    f.c->discount.propensity_threshold = 0.99;
    k.session = "d2";
    apply(&f, cart, 2, NULL, &k, r);
    assert_false(r->discount.active);
    f.c->discount.propensity_threshold = 0.5;

    /* no uplift (elasticity 0): a discount only costs; never offered */
    f.c->discount.prior_elasticity = 0;
    k.session = "d3";
    apply(&f, cart, 2, NULL, &k, r);
    assert_false(r->discount.active);
    f.c->discount.prior_elasticity = 0.2;

    /* a floor above the cart's margin leaves no room */
    f.c->discount.margin_floor = 0.6;
    k.session = "d4";
    apply(&f, cart, 2, NULL, &k, r);
    assert_false(r->discount.active);
    f.c->discount.margin_floor = 0.1;

    /* per customer: one per 30 days, whatever the session */
    k.customer = "c1";
    k.session = "d5";
    apply(&f, cart, 2, NULL, &k, r);
    assert_true(r->discount.active);
    k.session = "d6";
    apply(&f, cart, 2, NULL, &k, r);
    assert_false(r->discount.active);
    assert_true(r->notes & CW_INC_NOTE_CUSTOMER_CAP);
    k.session = "d7";
    k.now = NOW + 31LL * 86400;
    apply(&f, cart, 2, NULL, &k, r);
    assert_true(r->discount.active);

    /* the holdout never gets one; no state, no discount */
    k.customer = NULL;
    k.now = NOW;
    k.session = "d8";
    k.holdout = 1;
    apply(&f, cart, 2, NULL, &k, r);
    assert_false(r->discount.active);
    k.holdout = 0;
    struct cw_incentive_state *keep = f.st;
    f.st = NULL;
    apply(&f, cart, 2, NULL, &k, r);
    assert_false(r->discount.active);
    assert_true(r->notes & CW_INC_NOTE_NO_STATE);
    f.st = keep;

    /* learned uplift replaces the prior */
    struct cw_incentive_stats st;
    memset(&st, 0, sizeof(st));
    st.uplift_learned = 1;
    st.uplift_eps = 0.0001; /* discounts barely work here */
    k.stats = &st;
    k.session = "d9";
    apply(&f, cart, 2, NULL, &k, r);
    assert_false(r->discount.active);
    assert_false(r->notes & CW_INC_NOTE_UPLIFT_PRIOR);
    cw_free(r);
    fix_release(&f);
}

static void test_exploration_slice(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    discounts_on(f.c);
    f.c->discount.exploration_share = 0.5;
    f.c->discount.prior_elasticity = 0; /* the rule alone offers nothing */
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    struct cw_cart_line cart[] = {line("KETTLE-B", 1), line("MUG", 1)};
    int treated = 0, control = 0, none = 0;
    for (int i = 0; i < 400; i++) {
        char sid[32];
        snprintf(sid, sizeof(sid), "x-%d", i);
        k.session = sid;
        apply(&f, cart, 2, NULL, &k, r);
        if (r->discount.exploration == 1) {
            treated++;
            assert_true(r->discount.active);
            assert_non_null(strstr(r->discount.reason, "exploration"));
        } else if (r->discount.exploration == 2) {
            control++;
            assert_false(r->discount.active);
        } else {
            none++;
            assert_false(r->discount.active);
        }
    }
    /* half the sessions explore, split evenly: binomial bounds */
    assert_true(treated > 60 && treated < 140);
    assert_true(control > 60 && control < 140);
    assert_true(none > 150 && none < 250);
    cw_free(r);
    fix_release(&f);
}

/* ---- upgrades and the gap-closing add-on ----------------------------------
 */

static void test_upgrade(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    f.c->n_groups = 1;
    snprintf(f.c->groups[0].name, CW_INC_SKU_MAX, "kettles");
    snprintf(f.c->groups[0].skus[0], CW_INC_SKU_MAX, "KETTLE-G");
    snprintf(f.c->groups[0].skus[1], CW_INC_SKU_MAX, "KETTLE-B");
    snprintf(f.c->groups[0].skus[2], CW_INC_SKU_MAX, "KETTLE-X");
    f.c->groups[0].n_skus = 3;
    assert_int_equal(cw_incentive_config_validate(f.c, NULL), 0);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    struct cw_cart_line cart[] = {line("KETTLE-G", 1), line("TEA", 2)};
    apply(&f, cart, 2, NULL, &k, r); /* 30.00 */
    assert_true(r->upgrade.active);
    assert_int_equal(r->upgrade.to_item, tu_item(&f.m, "KETTLE-B"));
    assert_int_equal(r->upgrade.price_diff, 1000);
    /* margin 15.00 instead of 8.00 */
    assert_int_equal(r->upgrade.margin_gain, 700);
    assert_true(r->upgrade.expected_profit > 0);
    assert_non_null(strstr(r->upgrade.text, "Kettle Plus"));
    /* the best one has nowhere to go */
    struct cw_cart_line best[] = {line("KETTLE-X", 1)};
    apply(&f, best, 1, NULL, &k, r);
    assert_false(r->upgrade.active);
    /* an upgrade that earns less than keeping is not offered */
    struct cw_cart_line cheap[] = {{"KETTLE-G", 1, 2900}};
    apply(&f, cheap, 1, NULL, &k, r); /* sold at 29.00: margin 17.00 */
    assert_false(r->upgrade.active);
    cw_free(r);
    fix_release(&f);
}

static void test_gap_closing_addon_first(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct cw_decision d;
    struct call k = call_default();
    /* 44.00 in the cart: 6.00 to free shipping; of the add-ons, only the
     * mug (8.00) closes it and it pays for the shipping it gives away */
    struct cw_cart_line cart[] = {line("MUG", 3), line("TEA", 4)};
    static const char *const three[] = {"SPOON", "CAKE", "MUG"};
    fake_decision(&f, &d, three, 3, 0.2);
    /* the cake (12.00) also closes the gap, but its 3.00 margin does not
     * pay for 4.99 of free shipping */
    apply(&f, cart, 2, &d, &k, r);
    assert_int_equal(r->progress.remaining, 600);
    assert_true(r->progress.nudge);
    assert_int_equal(r->progress.addon, 0);
    assert_int_equal(d.addons[0].item, tu_item(&f.m, "MUG"));
    assert_int_equal(r->closes_gap[0], 1);
    assert_int_equal(d.addons[1].item, tu_item(&f.m, "SPOON"));
    assert_int_equal(r->closes_gap[1], 0);
    assert_int_equal(d.addons[2].item, tu_item(&f.m, "CAKE"));
    assert_int_equal(r->closes_gap[2], 0);
    assert_non_null(strstr(r->progress.message, "Add USD 6.00 more"));
    /* nothing closes it profitably: the bar stays, the nudge does not */
    static const char *const small[] = {"SPOON", "CAKE"};
    fake_decision(&f, &d, small, 2, 0.2);
    apply(&f, cart, 2, &d, &k, r);
    assert_true(r->progress.active);
    assert_false(r->progress.nudge);
    assert_int_equal(r->progress.addon, -1);
    assert_non_null(strstr(r->progress.message, "Free shipping from"));
    cw_free(r);
    fix_release(&f);
}

static void test_unknown_and_unpriced_lines(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    struct cw_cart_line cart[] = {
        line("MUG", 1), {"NEW-ITEM", 2, 1000}, line("NOPE", 1)};
    apply(&f, cart, 3, NULL, &k, r);
    assert_int_equal(r->cart.subtotal, 800 + 2000);
    assert_true(r->cart.lines[1].flags & CW_PRICED_ASSUMED);
    assert_true(r->cart.lines[2].flags & CW_PRICED_UNPRICED);
    assert_true(r->notes & CW_INC_NOTE_UNPRICED);
    cw_free(r);
    fix_release(&f);
}

/* ---- learned propensity and uplift -----------------------------------------
 */

static void test_fit_propensity(void **state)
{
    (void)state;
    enum { N = 4000 };
    double *x = cw_malloc(N * CW_PROP_NFEAT * sizeof(double));
    uint8_t *y = cw_malloc(N);
    const double truth[CW_PROP_NFEAT + 1] = {0.5, 1.0, 0.4, 0, -1.2, 0.8, 0};
    uint32_t seed = 99;
    for (size_t i = 0; i < N; i++) {
        double *r = &x[i * CW_PROP_NFEAT];
        r[CW_PROP_CART_REL] = (tu_rand(&seed) % 2001) / 1000.0 - 1;
        r[CW_PROP_VIEWS] = log1p(tu_rand(&seed) % 5);
        r[CW_PROP_MINUTES] = log1p(tu_rand(&seed) % 30);
        r[CW_PROP_RETURNING] = tu_rand(&seed) % 2;
        r[CW_PROP_MOBILE] = tu_rand(&seed) % 2;
        r[CW_PROP_UNITS] = log1p(1 + tu_rand(&seed) % 6);
        double z = truth[0];
        for (int k = 0; k < CW_PROP_NFEAT; k++)
            z += truth[k + 1] * r[k];
        double p = 1 / (1 + exp(-z));
        y[i] = (tu_rand(&seed) % 100000) / 100000.0 < p;
    }
    double w[CW_PROP_NFEAT + 1];
    assert_int_equal(cw_incentive_fit_propensity(x, y, N, w, NULL), 0);
    assert_true(fabs(w[1 + CW_PROP_CART_REL] - 1.0) < 0.3);
    assert_true(fabs(w[1 + CW_PROP_RETURNING] + 1.2) < 0.3);
    assert_true(fabs(w[1 + CW_PROP_MOBILE] - 0.8) < 0.3);
    assert_true(fabs(w[1 + CW_PROP_UNITS]) < 0.4);
    /* too little or one-sided data */
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_incentive_fit_propensity(x, y, 20, w, &err),
                     CW_ENODATA);
    memset(y, 1, N);
    assert_int_equal(cw_incentive_fit_propensity(x, y, N, w, &err), CW_ENODATA);
    cw_buf_release(&err);
    cw_free(x);
    cw_free(y);
}

static void test_fit_uplift(void **state)
{
    (void)state;
    /* control buys 30%; 10% off wins back 1 - exp(-0.05 x 10) = 39.3% of
     * the rest: treated buys 57.5% */
    double eps = 0;
    assert_int_equal(
        cw_incentive_fit_uplift(10000, 5754, 10, 10000, 3000, &eps), 0);
    assert_true(fabs(eps - 0.05) < 0.001);
    assert_true(fabs(cw_incentive_p_buy(0.3, 0.05, 10) - 0.5755) < 0.001);
    assert_int_equal(cw_incentive_fit_uplift(50, 30, 10, 10000, 3000, &eps),
                     CW_ENODATA);
    /* discounts that do nothing: zero, never negative */
    assert_int_equal(cw_incentive_fit_uplift(1000, 280, 10, 1000, 300, &eps),
                     0);
    assert_true(eps == 0);
    double w[CW_PROP_NFEAT + 1];
    struct cw_incentive_config c;
    cw_incentive_config_default(&c);
    cw_incentive_prop_prior(&c, w);
    assert_true(fabs(1 / (1 + exp(-w[0])) - 0.7) < 1e-9);
    assert_string_equal(cw_prop_feature_name(CW_PROP_MOBILE), "mobile");
}

static void test_state_sessions_evicted(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    discounts_on(f.c);
    cw_incentive_state_free(f.st);
    f.st = cw_incentive_state_new(8, 8, 60); /* one bucket, ttl 60 s */
    struct cw_incentive_result *r = cw_calloc(1, sizeof(*r));
    struct call k = call_default();
    struct cw_cart_line cart[] = {line("KETTLE-B", 1)};
    k.session = "e0";
    apply(&f, cart, 1, NULL, &k, r);
    assert_true(r->discount.active);
    /* idle past the ttl: the id starts a new session */
    k.now = NOW + 61;
    apply(&f, cart, 1, NULL, &k, r);
    assert_false(r->discount.sticky);
    /* many more sessions than slots: still bounded, still correct */
    for (int i = 0; i < 100; i++) {
        char sid[16];
        snprintf(sid, sizeof(sid), "e%d", i + 1);
        k.session = sid;
        apply(&f, cart, 1, NULL, &k, r);
    }
    cw_free(r);
    fix_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_config_validation),
        TU_TEST(test_percent_rounding),
        TU_TEST(test_threshold_met_exactly),
        TU_TEST(test_coupon_below_tier),
        TU_TEST(test_discount_below_tier),
        TU_TEST(test_quantity_drop_below_tier),
        TU_TEST(test_currency_rounding),
        TU_TEST(test_currency_mismatch),
        TU_TEST(test_budget_concurrent_burst),
        TU_TEST(test_budget_burst_decisions),
        TU_TEST(test_budget_allowance_chunks),
        TU_TEST(test_budget_allowance_pacing_and_errors),
        TU_TEST(test_budget_allowance_concurrent),
        TU_TEST(test_frequency_caps_across_placements),
        TU_TEST(test_bundle_margin_floor),
        TU_TEST(test_no_discount_on_addons),
        TU_TEST(test_anonymous_and_known_thresholds),
        TU_TEST(test_discount_rule),
        TU_TEST(test_exploration_slice),
        TU_TEST(test_upgrade),
        TU_TEST(test_gap_closing_addon_first),
        TU_TEST(test_unknown_and_unpriced_lines),
        TU_TEST(test_fit_propensity),
        TU_TEST(test_fit_uplift),
        TU_TEST(test_state_sessions_evicted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
