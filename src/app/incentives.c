/*
 * incentives.c: incentives around a decision, the way the CLI and the
 * server both use them: the stored configuration and learned statistics
 * loaded together, the "incentives" part of the decision's JSON (written
 * by cw_app_decision_json_inc, the one renderer), the assumptions they add,
 * and the text form `cartwise recommend` prints.
 *
 * Money is {"amount": minor units, "currency": code} as everywhere; the
 * expected profits, fractional minor units, are rounded to the nearest.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"

int cw_app_incentives_load(struct cw_store *s, struct cw_app_incentives *out,
                           struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    out->cfg = cw_malloc(sizeof(*out->cfg));
    int rc = cw_app_config_load(s, out->cfg, err);
    if (rc == CW_ENOENT) {
        cw_free(out->cfg);
        out->cfg = NULL;
        rc = 0;
    }
    if (rc < 0) {
        cw_free(out->cfg);
        out->cfg = NULL;
        return rc;
    }
    out->have_stats = cw_app_stats_load(s, &out->stats, NULL) == 0;
    return 0;
}

void cw_app_incentives_release(struct cw_app_incentives *ai)
{
    if (!ai)
        return;
    cw_free(ai->cfg);
    memset(ai, 0, sizeof(*ai));
}

size_t cw_app_incentive_notes(const struct cw_incentive_result *r,
                              const char *out[8])
{
    static const struct {
        unsigned note;
        const char *text;
    } table[] = {
        {CW_INC_NOTE_PROP_PRIOR,
         "abandonment propensity from the configured prior "
         "(discount.prior_abandon_rate): no storefront events to learn "
         "from"},
        {CW_INC_NOTE_UPLIFT_PRIOR,
         "discount uplift from the configured prior elasticity: the "
         "exploration slice has too little data yet"},
        {CW_INC_NOTE_NO_DIST,
         "no store-wide order-value distribution (train a model): "
         "thresholds sized from the typical order alone"},
        {CW_INC_NOTE_UNPRICED,
         "a cart line with an unknown SKU and no price is not in the "
         "priced cart"},
        {CW_INC_NOTE_NO_STATE,
         "no runtime state (budget, caps): no discount offered"},
        {CW_INC_NOTE_BUDGET,
         "the day's discount budget is spent: no discount offered"},
        {CW_INC_NOTE_CUSTOMER_CAP,
         "this customer reached the per-customer discount cap"},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]) && n < 8; i++)
        if (r->notes & table[i].note)
            out[n++] = table[i].text;
    return n;
}

/* ---- JSON ------------------------------------------------------------------
 */

static void key(struct cw_buf *b, const char *k)
{
    cw_buf_addch(b, ',');
    cw_buf_add_json_str(b, k);
    cw_buf_addch(b, ':');
}

static void money(struct cw_buf *b, const char *k, int64_t v, const char *cur)
{
    key(b, k);
    cw_app_json_money(b, v, cur);
}

static void num(struct cw_buf *b, const char *k, double v, int dec)
{
    key(b, k);
    cw_app_add_fixed(b, v, dec);
}

static void str(struct cw_buf *b, const char *k, const char *v)
{
    key(b, k);
    if (v)
        cw_buf_add_json_str(b, v);
    else
        cw_buf_adds(b, "null");
}

static void boolean(struct cw_buf *b, const char *k, int v)
{
    key(b, k);
    cw_buf_adds(b, v ? "true" : "false");
}

static void percent(struct cw_buf *b, const char *k, uint32_t bp)
{
    key(b, k);
    if (bp % 100)
        cw_app_add_fixed(b, bp / 100.0, 2);
    else
        cw_app_add_i64(b, bp / 100);
}

static void priced_json(struct cw_buf *b, const struct cw_incentive_config *c,
                        const struct cw_priced_cart *p, const char *cur)
{
    cw_buf_adds(b, "{\"lines\":[");
    for (size_t i = 0; i < p->n_lines; i++) {
        const struct cw_priced_line *l = &p->lines[i];
        cw_buf_adds(b, i ? ",{\"sku\":" : "{\"sku\":");
        cw_buf_add_json_str(b, l->sku);
        key(b, "qty");
        cw_app_add_i64(b, l->qty);
        money(b, "unit_price", l->unit_price, cur);
        money(b, "discount", l->discount, cur);
        money(b, "total", l->total, cur);
        boolean(b, "gift", l->flags & CW_PRICED_GIFT);
        boolean(b, "discountable",
                !(l->flags & (CW_PRICED_NO_DISCOUNT | CW_PRICED_GIFT)));
        boolean(b, "priced", !(l->flags & CW_PRICED_UNPRICED));
        cw_buf_addch(b, '}');
    }
    cw_buf_addch(b, ']');
    money(b, "subtotal", p->subtotal, cur);
    money(b, "bundle_discount", p->bundle_discount, cur);
    money(b, "coupon_discount", p->coupon_discount, cur);
    money(b, "offer_discount", p->offer_discount, cur);
    money(b, "qualifying_subtotal", p->qualifying, cur);
    money(b, "tier_discount", p->tier_discount, cur);
    money(b, "merchandise", p->merchandise, cur);
    key(b, "shipping");
    cw_buf_adds(b, "{\"method\":");
    cw_buf_add_json_str(b, c->shipping.model == CW_SHIP_NONE ? "none"
                           : p->express                      ? "express"
                                                             : "standard");
    money(b, "amount", p->shipping, cur);
    cw_buf_addch(b, '}');
    money(b, "total", p->total, cur);
    key(b, "rewards");
    cw_buf_addch(b, '[');
    int first = 1;
    for (size_t t = 0; t < c->n_tiers; t++) {
        if (!(p->tiers_met & (1u << t)))
            continue;
        cw_buf_adds(b, first ? "{\"tier\":" : ",{\"tier\":");
        first = 0;
        cw_app_add_i64(b, (int64_t)t);
        str(b, "reward", cw_reward_name(c->tiers[t].reward));
        money(b, "threshold", p->thresholds[t], cur);
        cw_buf_addch(b, '}');
    }
    cw_buf_addch(b, ']');
    str(b, "rounding",
        "integer minor units; a percentage is rounded half away from zero "
        "to the minor unit; order-level discounts are split over lines by "
        "largest remainder; before tax");
    cw_buf_addch(b, '}');
}

void cw__app_incentives_json(struct cw_buf *b, const struct cw_model *m,
                             const struct cw_decision *d,
                             const struct cw_incentive_config *c,
                             const struct cw_incentive_result *r)
{
    const char *cur = m->meta.currency;
    cw_buf_adds(b, ",\"incentives\":{\"currency\":");
    cw_buf_add_json_str(b, cur);
    key(b, "priced_cart");
    priced_json(b, c, &r->cart, cur);

    const struct cw_progress *pg = &r->progress;
    key(b, "progress");
    if (pg->active) {
        cw_buf_adds(b, "{\"tier\":");
        cw_app_add_i64(b, pg->tier);
        str(b, "reward", cw_reward_name(c->tiers[pg->tier].reward));
        money(b, "current", pg->current, cur);
        money(b, "target", pg->target, cur);
        money(b, "remaining", pg->remaining, cur);
        key(b, "percent");
        cw_app_add_i64(b, pg->percent);
        boolean(b, "nudge", pg->nudge);
        num(b, "p_reach", pg->p_reach, 4);
        str(b, "addon_sku",
            pg->addon >= 0 && d && (size_t)pg->addon < d->n_addons
                ? cw_model_sku(m, d->addons[pg->addon].variant)
                : NULL);
        str(b, "message", pg->message);
        cw_buf_addch(b, '}');
    } else if (c->n_tiers) {
        cw_buf_adds(b, "{\"tier\":null,\"reward\":null");
        money(b, "current", r->cart.qualifying, cur);
        cw_buf_adds(b, ",\"target\":null,\"remaining\":null,\"percent\":100,"
                       "\"nudge\":false,\"p_reach\":null,\"addon_sku\":null");
        str(b, "message", pg->message);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    key(b, "closes_gap");
    cw_buf_addch(b, '[');
    for (size_t j = 0, n = 0; d && j < d->n_addons; j++)
        if (r->closes_gap[j]) {
            if (n++)
                cw_buf_addch(b, ',');
            cw_buf_add_json_str(b, cw_model_sku(m, d->addons[j].variant));
        }
    cw_buf_addch(b, ']');

    const struct cw_threshold_choice *tc = &r->threshold;
    key(b, "threshold");
    if (tc->active) {
        cw_buf_adds(b, "{\"tier\":");
        cw_app_add_i64(b, tc->tier);
        str(b, "reward", cw_reward_name(c->tiers[tc->tier].reward));
        money(b, "amount", tc->threshold, cur);
        money(b, "static", tc->static_threshold, cur);
        boolean(b, "personalized", tc->personalized);
        boolean(b, "sticky", tc->sticky);
        if (tc->personalized) {
            str(b, "basis", tc->basis_customer ? "customer" : "store");
            money(b, "typical_order", tc->typical, cur);
            num(b, "p_reach", tc->p_reach, 4);
            money(b, "expected_profit", (int64_t)llround(tc->expected_profit),
                  cur);
            money(b, "static_expected_profit",
                  (int64_t)llround(tc->static_expected_profit), cur);
        }
        str(b, "why", tc->why);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }

    const struct cw_discount_offer *dc = &r->discount;
    key(b, "discount");
    if (dc->active) {
        char when[32];
        cw_app_iso(dc->expires_at, when, sizeof(when));
        cw_buf_adds(b, "{\"percent\":");
        if (dc->percent_bp % 100)
            cw_app_add_fixed(b, dc->percent_bp / 100.0, 2);
        else
            cw_app_add_i64(b, dc->percent_bp / 100);
        money(b, "amount", dc->amount, cur);
        money(b, "base", dc->base, cur);
        str(b, "expires_at", when);
        num(b, "propensity", dc->propensity, 4);
        num(b, "p_buy", dc->p_buy, 4);
        num(b, "p_buy_with", dc->p_buy_with, 4);
        money(b, "expected_gain", (int64_t)llround(dc->gain), cur);
        str(b, "exploration", dc->exploration == 1 ? "treated" : NULL);
        boolean(b, "sticky", dc->sticky);
        boolean(b, "capped", dc->capped);
        key(b, "excluded_skus");
        cw_buf_addch(b, '[');
        for (size_t i = 0; i < r->n_excluded; i++) {
            if (i)
                cw_buf_addch(b, ',');
            cw_buf_add_json_str(b, r->excluded[i]);
        }
        cw_buf_adds(b, "],\"reason\":{\"code\":");
        cw_buf_add_json_str(b, dc->exploration == 1 ? "exploration"
                                                    : "abandon_risk");
        str(b, "text", dc->reason);
        cw_buf_adds(b, "}}");
    } else {
        cw_buf_adds(b, "null");
    }
    str(b, "discount_exploration",
        dc->exploration == 1   ? "treated"
        : dc->exploration == 2 ? "control"
                               : NULL);

    const struct cw_bundle_offer *bo = &r->bundle;
    key(b, "bundle");
    if (bo->active) {
        cw_buf_adds(b, "{\"name\":");
        cw_buf_add_json_str(b, c->bundles[bo->bundle].name);
        str(b, "sku", bo->sku);
        key(b, "add_qty");
        cw_app_add_i64(b, bo->add_units);
        key(b, "qty_now");
        cw_app_add_i64(b, bo->qty_now);
        key(b, "qty_to");
        cw_app_add_i64(b, bo->qty_to);
        percent(b, "percent", bo->percent_bp);
        percent(b, "configured_percent", bo->configured_bp);
        boolean(b, "floor_capped", bo->percent_bp < bo->configured_bp);
        money(b, "extra_pay", bo->extra_pay, cur);
        money(b, "savings", bo->savings, cur);
        money(b, "expected_profit", (int64_t)llround(bo->expected_profit), cur);
        str(b, "text", bo->text);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }

    const struct cw_upgrade_offer *uo = &r->upgrade;
    key(b, "upgrade");
    if (uo->active) {
        cw_buf_adds(b, "{\"group\":");
        cw_buf_add_json_str(b, c->groups[uo->group].name);
        str(b, "from_sku", cw_model_sku(m, (uint32_t)uo->from_item));
        str(b, "to_sku", cw_model_sku(m, (uint32_t)uo->to_item));
        money(b, "price_diff", uo->price_diff, cur);
        money(b, "margin_gain", uo->margin_gain, cur);
        num(b, "p_accept", uo->p_accept, 4);
        money(b, "expected_profit", (int64_t)llround(uo->expected_profit), cur);
        str(b, "text", uo->text);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    key(b, "propensity");
    cw_buf_adds(b, "{\"value\":");
    cw_app_add_fixed(b, r->propensity, 4);
    str(b, "source", r->prop_trained ? "trained" : "prior");
    cw_buf_adds(b, "}}");
}

/* ---- text -------------------------------------------------------------------
 */

/* The decision log's record of the incentives shown: what a later report
 * needs to attribute (the tier aimed at and how far, the threshold and
 * whether it was personalized, the discount offered or held back for
 * exploration, the bundle and upgrade offers, the propensity), in minor
 * units of the model's currency; not the priced cart, which the logged
 * request and the catalog give again. */
void cw_app_incentives_shown(struct cw_buf *b, const struct cw_model *m,
                             const struct cw_incentive_result *r)
{
    cw_buf_adds(b, "{\"progress\":");
    if (r->progress.active) {
        cw_buf_adds(b, "{\"tier\":");
        cw_app_add_i64(b, r->progress.tier);
        num(b, "target", (double)r->progress.target, 0);
        num(b, "remaining", (double)r->progress.remaining, 0);
        num(b, "percent", r->progress.percent, 0);
        boolean(b, "nudge", r->progress.nudge);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    cw_buf_adds(b, ",\"threshold\":");
    if (r->threshold.active) {
        cw_buf_adds(b, "{\"tier\":");
        cw_app_add_i64(b, r->threshold.tier);
        num(b, "amount", (double)r->threshold.threshold, 0);
        num(b, "static", (double)r->threshold.static_threshold, 0);
        boolean(b, "personalized", r->threshold.personalized);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    const struct cw_discount_offer *dc = &r->discount;
    cw_buf_adds(b, ",\"discount\":");
    if (dc->active || dc->exploration) {
        cw_buf_adds(b, "{\"offered\":");
        cw_buf_adds(b, dc->active ? "true" : "false");
        percent(b, "percent", dc->percent_bp);
        num(b, "amount", (double)dc->amount, 0);
        num(b, "p_buy", dc->p_buy, 4);
        num(b, "p_buy_with", dc->p_buy_with, 4);
        str(b, "exploration",
            dc->exploration == 1   ? "treated"
            : dc->exploration == 2 ? "control"
                                   : NULL);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    cw_buf_adds(b, ",\"bundle\":");
    if (r->bundle.active) {
        cw_buf_adds(b, "{\"sku\":");
        cw_buf_add_json_str(b, r->bundle.sku);
        num(b, "qty_to", (double)r->bundle.qty_to, 0);
        percent(b, "percent", r->bundle.percent_bp);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    cw_buf_adds(b, ",\"upgrade\":");
    if (r->upgrade.active) {
        cw_buf_adds(b, "{\"from_sku\":");
        cw_buf_add_json_str(b, cw_model_sku(m, (uint32_t)r->upgrade.from_item));
        str(b, "to_sku", cw_model_sku(m, (uint32_t)r->upgrade.to_item));
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    num(b, "propensity", r->propensity, 4);
    cw_buf_addch(b, '}');
}

void cw_app_incentive_text(struct cw_buf *b, const struct cw_model *m,
                           const struct cw_incentive_config *c,
                           const struct cw_incentive_result *r)
{
    const char *cur = m->meta.currency;
    int e = m->meta.currency_exp;
    char a[32], x[32], y[32], z[32];
    const struct cw_priced_cart *p = &r->cart;
    int64_t disc = p->bundle_discount + p->coupon_discount + p->offer_discount +
                   p->tier_discount;
    cw_buf_addf(b,
                "priced cart: subtotal %s, discounts -%s, shipping %s "
                "(%s), total %s %s\n",
                cw_money_format(p->subtotal, e, a, sizeof(a)),
                cw_money_format(disc, e, x, sizeof(x)),
                cw_money_format(p->shipping, e, y, sizeof(y)),
                c->shipping.model == CW_SHIP_NONE ? "none"
                : p->express                      ? "express"
                                                  : "standard",
                cw_money_format(p->total, e, z, sizeof(z)), cur);
    for (size_t t = 0; t < c->n_tiers; t++)
        if (p->tiers_met & (1u << t))
            cw_buf_addf(b, "reward: %s (from %s %s)\n",
                        cw_reward_name(c->tiers[t].reward),
                        cw_money_format(p->thresholds[t], e, a, sizeof(a)),
                        cur);
    if (r->progress.message[0])
        cw_buf_addf(b, "progress: %s", r->progress.message);
    if (r->progress.active)
        cw_buf_addf(b, " (%d%%)", r->progress.percent);
    if (r->progress.message[0])
        cw_buf_addch(b, '\n');
    if (r->threshold.active)
        cw_buf_addf(b, "threshold: %s %s for %s (%s): %s\n",
                    cw_money_format(r->threshold.threshold, e, a, sizeof(a)),
                    cur, cw_reward_name(c->tiers[r->threshold.tier].reward),
                    r->threshold.personalized ? "personalized" : "static",
                    r->threshold.why);
    if (r->discount.active) {
        char when[32];
        cw_app_iso(r->discount.expires_at, when, sizeof(when));
        cw_buf_addf(b, "discount: %.2f%% off (%s %s) until %s: %s\n",
                    r->discount.percent_bp / 100.0,
                    cw_money_format(r->discount.amount, e, a, sizeof(a)), cur,
                    when, r->discount.reason);
    }
    if (r->bundle.active)
        cw_buf_addf(b, "bundle: %s\n", r->bundle.text);
    if (r->upgrade.active)
        cw_buf_addf(b, "upgrade: %s\n", r->upgrade.text);
    cw_buf_addf(b, "abandonment propensity: %.2f (%s)\n", r->propensity,
                r->prop_trained ? "trained" : "prior");
    const char *notes[8];
    size_t n = cw_app_incentive_notes(r, notes);
    for (size_t i = 0; i < n; i++)
        cw_buf_addf(b, "note: %s\n", notes[i]);
}
