/*
 * incentive.c: reward tiers, personalized thresholds, targeted discounts,
 * quantity-break bundles and good/better/best upgrades (cw_incentive.h).
 *
 * Everything starts from one pricing function, price(): given the cart's
 * lines, the effective tier thresholds and a targeted-discount percentage,
 * it computes what a checkout charges, line by line, and what the merchant
 * earns. Every offer is then judged by pricing the cart as it would be if
 * the shopper took it ("what-if" pricing) and comparing expected profit, so
 * the tiers, breaks and floors interact exactly as they will at checkout.
 * Order of application: quantity breaks (bounded by the margin floor over
 * the whole cart), the storefront's coupon, the targeted discount; the
 * qualifying subtotal that tiers are measured on is what remains; then the
 * percent-off tier, gifts and shipping.
 *
 * Runtime state is a set-associative table of sessions and one of
 * customers, each bucket guarded by one of a fixed set of mutexes, and the
 * day's budget as one atomic word (day << 44 | reserved), reserved with
 * compare-and-swap so concurrent requests can never overspend it. With an
 * allowance (the server's store-wide budget) a second word holds what was
 * leased for the day (day << 44 | leased); reservations count against it,
 * and only a reservation that does not fit takes the lease mutex and asks
 * the allowance for another chunk, so the store is not on the path of the
 * decisions that fit.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "cartwise/cw_train.h"

/* ---- names ------------------------------------------------------------ */

const char *cw_reward_name(enum cw_reward r)
{
    switch (r) {
#define CW__REWARD_STR(e, name)                                                \
    case CW_REWARD_##e:                                                        \
        return name;
        CW_REWARDS(CW__REWARD_STR)
#undef CW__REWARD_STR
    }
    return "unknown";
}

const char *cw_shipping_model_name(enum cw_shipping_model s)
{
    switch (s) {
#define CW__SHIP_STR(e, name)                                                  \
    case CW_SHIP_##e:                                                          \
        return name;
        CW_SHIPPING_MODELS(CW__SHIP_STR)
#undef CW__SHIP_STR
    }
    return "unknown";
}

const char *cw_pacing_name(enum cw_pacing p)
{
    switch (p) {
#define CW__PACING_STR(e, name)                                                \
    case CW_PACING_##e:                                                        \
        return name;
        CW_PACINGS(CW__PACING_STR)
#undef CW__PACING_STR
    }
    return "unknown";
}

const char *cw_prop_feature_name(enum cw_prop_feature f)
{
    switch (f) {
#define CW__PROPF_STR(e, name)                                                 \
    case CW_PROP_##e:                                                          \
        return name;
        CW_PROP_FEATURES(CW__PROPF_STR)
#undef CW__PROPF_STR
    case CW_PROP_NFEAT:
        break;
    }
    return "unknown";
}

int cw_reward_parse(const char *s, enum cw_reward *out)
{
#define CW__REWARD_PARSE(e, name)                                              \
    if (s && !strcmp(s, name)) {                                               \
        *out = CW_REWARD_##e;                                                  \
        return 0;                                                              \
    }
    CW_REWARDS(CW__REWARD_PARSE)
#undef CW__REWARD_PARSE
    return CW_EINVAL;
}

int cw_shipping_model_parse(const char *s, enum cw_shipping_model *out)
{
#define CW__SHIP_PARSE(e, name)                                                \
    if (s && !strcmp(s, name)) {                                               \
        *out = CW_SHIP_##e;                                                    \
        return 0;                                                              \
    }
    CW_SHIPPING_MODELS(CW__SHIP_PARSE)
#undef CW__SHIP_PARSE
    return CW_EINVAL;
}

int cw_pacing_parse(const char *s, enum cw_pacing *out)
{
#define CW__PACING_PARSE(e, name)                                              \
    if (s && !strcmp(s, name)) {                                               \
        *out = CW_PACING_##e;                                                  \
        return 0;                                                              \
    }
    CW_PACINGS(CW__PACING_PARSE)
#undef CW__PACING_PARSE
    return CW_EINVAL;
}

/* ---- configuration ------------------------------------------------------ */

void cw_incentive_config_default(struct cw_incentive_config *c)
{
    memset(c, 0, sizeof(*c));
    memcpy(c->currency, "USD", 4);
    c->shipping.model = CW_SHIP_NONE;
    c->threshold.personalize = 1;
    c->threshold.reach_max = 0.5;
    c->threshold.reach_scale = 0.35;
    c->threshold.min_reach = 0.05;
    c->discount.enabled = 0;
    c->discount.max_percent_bp = 1500;
    c->discount.step_bp = 500;
    c->discount.margin_floor = 0.15;
    c->discount.per_customer_max = 1;
    c->discount.per_customer_days = 30;
    c->discount.daily_budget = 0;
    c->discount.pacing = CW_PACING_EVEN;
    c->discount.propensity_threshold = 0.6;
    c->discount.exploration_share = 0.05;
    c->discount.prior_elasticity = 0.03;
    c->discount.prior_abandon_rate = 0.7;
    c->discount.expiry_minutes = 30;
    c->bundle_accept = 0.15;
    c->upgrade_accept = 0.08;
    for (size_t t = 0; t < CW_INC_TIERS_MAX; t++)
        c->tiers[t].gift_cost = CW_MONEY_UNKNOWN;
}

static int in01(double v, int open_low, int open_high)
{
    if (!isfinite(v))
        return 0;
    if (open_low ? v <= 0 : v < 0)
        return 0;
    return open_high ? v < 1 : v <= 1;
}

/* Lowest / highest threshold tier t may end up with. */
static int64_t tier_lo(const struct cw_tier *t)
{
    return t->n_rungs && t->rungs[0] < t->threshold ? t->rungs[0]
                                                    : t->threshold;
}
static int64_t tier_hi(const struct cw_tier *t)
{
    int64_t r = t->n_rungs ? t->rungs[t->n_rungs - 1] : t->threshold;
    return r > t->threshold ? r : t->threshold;
}

static int validate_tiers(const struct cw_incentive_config *c,
                          struct cw_buf *err)
{
    if (c->n_tiers > CW_INC_TIERS_MAX)
        return cw_err(err, CW_EINVAL, "tiers: %zu tiers, at most %d",
                      c->n_tiers, CW_INC_TIERS_MAX);
    int seen[4] = {0};
    for (size_t i = 0; i < c->n_tiers; i++) {
        const struct cw_tier *t = &c->tiers[i];
        if (t->threshold <= 0 || t->threshold > CW_PRICE_MAX)
            return cw_err(err, CW_EINVAL,
                          "tiers[%zu].threshold: must be between 1 and %lld", i,
                          (long long)CW_PRICE_MAX);
        if (i && t->threshold <= c->tiers[i - 1].threshold)
            return cw_err(err, CW_EINVAL,
                          "tiers[%zu].threshold: must be greater than "
                          "tiers[%zu].threshold (%lld)",
                          i, i - 1, (long long)c->tiers[i - 1].threshold);
        if (t->n_rungs > CW_INC_RUNGS_MAX)
            return cw_err(err, CW_EINVAL, "tiers[%zu].rungs: at most %d", i,
                          CW_INC_RUNGS_MAX);
        for (size_t r = 0; r < t->n_rungs; r++) {
            if (t->rungs[r] <= 0 || t->rungs[r] > CW_PRICE_MAX)
                return cw_err(err, CW_EINVAL,
                              "tiers[%zu].rungs[%zu]: must be between 1 and "
                              "%lld",
                              i, r, (long long)CW_PRICE_MAX);
            if (r && t->rungs[r] <= t->rungs[r - 1])
                return cw_err(err, CW_EINVAL,
                              "tiers[%zu].rungs[%zu]: must be greater than "
                              "tiers[%zu].rungs[%zu] (%lld)",
                              i, r, i, r - 1, (long long)t->rungs[r - 1]);
        }
        if (i && tier_lo(t) <= tier_hi(&c->tiers[i - 1]))
            return cw_err(err, CW_EINVAL,
                          "tiers[%zu].rungs: lowest %lld overlaps tiers[%zu] "
                          "(up to %lld): the ladder must keep its order",
                          i, (long long)tier_lo(t), i - 1,
                          (long long)tier_hi(&c->tiers[i - 1]));
        switch (t->reward) {
        case CW_REWARD_FREE_SHIPPING:
        case CW_REWARD_EXPRESS_SHIPPING:
            if (c->shipping.model == CW_SHIP_NONE)
                return cw_err(err, CW_EINVAL,
                              "tiers[%zu].reward: %s needs shipping.model "
                              "flat or per_item",
                              i, cw_reward_name(t->reward));
            if (seen[t->reward])
                return cw_err(err, CW_EINVAL,
                              "tiers[%zu].reward: a second %s tier", i,
                              cw_reward_name(t->reward));
            break;
        case CW_REWARD_GIFT:
            if (!t->gift_sku[0])
                return cw_err(err, CW_EINVAL,
                              "tiers[%zu].gift_sku: required for a gift", i);
            if (t->gift_cost != CW_MONEY_UNKNOWN &&
                (t->gift_cost < 0 || t->gift_cost > CW_PRICE_MAX))
                return cw_err(err, CW_EINVAL,
                              "tiers[%zu].gift_cost: must be between 0 and "
                              "%lld",
                              i, (long long)CW_PRICE_MAX);
            break;
        case CW_REWARD_PERCENT_OFF:
            if (t->percent_bp < 1 || t->percent_bp > 9000)
                return cw_err(err, CW_EINVAL,
                              "tiers[%zu].percent: must be between 0.01 and "
                              "90",
                              i);
            break;
        }
        seen[t->reward] = 1;
    }
    return 0;
}

/* Index of sku in an earlier bundle / group, or -1. */
static long bundle_of(const struct cw_incentive_config *c, size_t upto,
                      const char *sku)
{
    for (size_t b = 0; b < upto && b < c->n_bundles; b++)
        for (size_t k = 0; k < c->bundles[b].n_skus; k++)
            if (!strcmp(c->bundles[b].skus[k], sku))
                return (long)b;
    return -1;
}

static long group_of(const struct cw_incentive_config *c, size_t upto,
                     const char *sku, size_t *level)
{
    for (size_t g = 0; g < upto && g < c->n_groups; g++)
        for (size_t k = 0; k < c->groups[g].n_skus; k++)
            if (!strcmp(c->groups[g].skus[k], sku)) {
                if (level)
                    *level = k;
                return (long)g;
            }
    return -1;
}

static int sku_ok(const char *s)
{
    size_t n = strnlen(s, CW_INC_SKU_MAX);
    return n > 0 && n < CW_INC_SKU_MAX;
}

static int validate_bundles(const struct cw_incentive_config *c,
                            struct cw_buf *err)
{
    if (c->n_bundles > CW_INC_BUNDLES_MAX)
        return cw_err(err, CW_EINVAL, "bundles.offers: at most %d",
                      CW_INC_BUNDLES_MAX);
    for (size_t b = 0; b < c->n_bundles; b++) {
        const struct cw_bundle *bu = &c->bundles[b];
        if (!sku_ok(bu->name))
            return cw_err(err, CW_EINVAL,
                          "bundles.offers[%zu].name: required, at most %d "
                          "bytes",
                          b, CW_INC_SKU_MAX - 1);
        if (bu->n_skus < 1 || bu->n_skus > CW_INC_BUNDLE_SKUS_MAX)
            return cw_err(err, CW_EINVAL,
                          "bundles.offers[%zu].skus: 1 to %d SKUs", b,
                          CW_INC_BUNDLE_SKUS_MAX);
        for (size_t k = 0; k < bu->n_skus; k++) {
            if (!sku_ok(bu->skus[k]))
                return cw_err(err, CW_EINVAL,
                              "bundles.offers[%zu].skus[%zu]: empty or "
                              "longer than %d bytes",
                              b, k, CW_INC_SKU_MAX - 1);
            for (size_t j = 0; j < k; j++)
                if (!strcmp(bu->skus[j], bu->skus[k]))
                    return cw_err(err, CW_EINVAL,
                                  "bundles.offers[%zu].skus[%zu]: '%s' "
                                  "listed twice",
                                  b, k, bu->skus[k]);
            long o = bundle_of(c, b, bu->skus[k]);
            if (o >= 0)
                return cw_err(err, CW_EINVAL,
                              "bundles.offers[%zu].skus[%zu]: '%s' is "
                              "already in bundles.offers[%ld]",
                              b, k, bu->skus[k], o);
        }
        if (bu->n_breaks < 1 || bu->n_breaks > CW_INC_BREAKS_MAX)
            return cw_err(err, CW_EINVAL,
                          "bundles.offers[%zu].breaks: 1 to %d breaks", b,
                          CW_INC_BREAKS_MAX);
        for (size_t k = 0; k < bu->n_breaks; k++) {
            const struct cw_qty_break *q = &bu->breaks[k];
            if (q->qty < 2 || q->qty > CW_INC_BREAK_QTY_MAX)
                return cw_err(err, CW_EINVAL,
                              "bundles.offers[%zu].breaks[%zu].qty: must be "
                              "between 2 and %d",
                              b, k, CW_INC_BREAK_QTY_MAX);
            if (k && q->qty <= bu->breaks[k - 1].qty)
                return cw_err(err, CW_EINVAL,
                              "bundles.offers[%zu].breaks[%zu].qty: must be "
                              "greater than breaks[%zu].qty (%u)",
                              b, k, k - 1, bu->breaks[k - 1].qty);
            if (q->percent_bp < 1 || q->percent_bp > 9000)
                return cw_err(err, CW_EINVAL,
                              "bundles.offers[%zu].breaks[%zu].percent: "
                              "must be between 0.01 and 90",
                              b, k);
            if (k && q->percent_bp < bu->breaks[k - 1].percent_bp)
                return cw_err(err, CW_EINVAL,
                              "bundles.offers[%zu].breaks[%zu].percent: "
                              "must not be less than breaks[%zu].percent",
                              b, k, k - 1);
        }
    }
    for (size_t g = 0; g < c->n_groups; g++) {
        const struct cw_tier_group *gr = &c->groups[g];
        if (!sku_ok(gr->name))
            return cw_err(err, CW_EINVAL,
                          "upgrades.groups[%zu].name: required, at most %d "
                          "bytes",
                          g, CW_INC_SKU_MAX - 1);
        if (gr->n_skus < 2 || gr->n_skus > CW_INC_GROUP_SKUS_MAX)
            return cw_err(err, CW_EINVAL,
                          "upgrades.groups[%zu].skus: 2 to %d SKUs, good "
                          "first",
                          g, CW_INC_GROUP_SKUS_MAX);
        for (size_t k = 0; k < gr->n_skus; k++) {
            if (!sku_ok(gr->skus[k]))
                return cw_err(err, CW_EINVAL,
                              "upgrades.groups[%zu].skus[%zu]: empty or "
                              "longer than %d bytes",
                              g, k, CW_INC_SKU_MAX - 1);
            for (size_t j = 0; j < k; j++)
                if (!strcmp(gr->skus[j], gr->skus[k]))
                    return cw_err(err, CW_EINVAL,
                                  "upgrades.groups[%zu].skus[%zu]: '%s' "
                                  "listed twice",
                                  g, k, gr->skus[k]);
            long o = group_of(c, g, gr->skus[k], NULL);
            if (o >= 0)
                return cw_err(err, CW_EINVAL,
                              "upgrades.groups[%zu].skus[%zu]: '%s' is "
                              "already in upgrades.groups[%ld]",
                              g, k, gr->skus[k], o);
        }
    }
    if (c->n_groups > CW_INC_GROUPS_MAX)
        return cw_err(err, CW_EINVAL, "upgrades.groups: at most %d",
                      CW_INC_GROUPS_MAX);
    return 0;
}

int cw_incentive_config_validate(const struct cw_incentive_config *c,
                                 struct cw_buf *err)
{
    if (!cw_currency_valid(c->currency))
        return cw_err(err, CW_EINVAL,
                      "currency: must be an ISO-4217 code such as GBP");
    const int64_t *money[] = {&c->shipping.fee, &c->shipping.cost,
                              &c->shipping.express_fee,
                              &c->shipping.express_cost};
    static const char *const money_key[] = {"fee", "cost", "express_fee",
                                            "express_cost"};
    for (size_t i = 0; i < 4; i++)
        if (*money[i] < 0 || *money[i] > CW_PRICE_MAX)
            return cw_err(err, CW_EINVAL,
                          "shipping.%s: must be between 0 and %lld",
                          money_key[i], (long long)CW_PRICE_MAX);
    int rc = validate_tiers(c, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < c->n_tiers; i++)
        if (c->tiers[i].reward == CW_REWARD_EXPRESS_SHIPPING &&
            c->shipping.express_fee <= 0)
            return cw_err(err, CW_EINVAL,
                          "shipping.express_fee: must be > 0 with an "
                          "express_shipping tier (tiers[%zu])",
                          i);
    if (!in01(c->threshold.reach_max, 1, 0))
        return cw_err(err, CW_EINVAL, "threshold.reach_max: must be in (0, 1]");
    if (!isfinite(c->threshold.reach_scale) || c->threshold.reach_scale <= 0 ||
        c->threshold.reach_scale > 10)
        return cw_err(err, CW_EINVAL,
                      "threshold.reach_scale: must be in (0, 10]");
    if (!in01(c->threshold.min_reach, 0, 1))
        return cw_err(err, CW_EINVAL, "threshold.min_reach: must be in [0, 1)");
    const __typeof__(c->discount) *d = &c->discount;
    if (d->max_percent_bp < 1 || d->max_percent_bp > 9000)
        return cw_err(err, CW_EINVAL,
                      "discount.max_percent: must be between 0.01 and 90");
    if (d->step_bp < 1 || d->step_bp > d->max_percent_bp)
        return cw_err(err, CW_EINVAL,
                      "discount.step_percent: must be between 0.01 and "
                      "discount.max_percent");
    if (!in01(d->margin_floor, 0, 1))
        return cw_err(err, CW_EINVAL,
                      "discount.margin_floor: must be in [0, 1)");
    if (d->per_customer_max > 1000)
        return cw_err(err, CW_EINVAL,
                      "discount.per_customer_max: at most 1000");
    if (d->per_customer_days < 1 || d->per_customer_days > 3650)
        return cw_err(err, CW_EINVAL,
                      "discount.per_customer_days: must be between 1 and "
                      "3650");
    if (d->daily_budget < 0 || d->daily_budget > CW_INC_BUDGET_MAX)
        return cw_err(err, CW_EINVAL,
                      "discount.daily_budget: must be between 0 and %lld",
                      (long long)CW_INC_BUDGET_MAX);
    if (d->enabled && d->daily_budget == 0)
        return cw_err(err, CW_EINVAL,
                      "discount.daily_budget: must be > 0 when "
                      "discount.enabled is true");
    if (!in01(d->propensity_threshold, 0, 1))
        return cw_err(err, CW_EINVAL,
                      "discount.propensity_threshold: must be in [0, 1)");
    if (!in01(d->exploration_share, 0, 0) || d->exploration_share > 0.5)
        return cw_err(err, CW_EINVAL,
                      "discount.exploration_share: must be in [0, 0.5]");
    if (!isfinite(d->prior_elasticity) || d->prior_elasticity < 0 ||
        d->prior_elasticity > 1)
        return cw_err(err, CW_EINVAL,
                      "discount.prior_elasticity: must be in [0, 1]");
    if (!in01(d->prior_abandon_rate, 1, 1))
        return cw_err(err, CW_EINVAL,
                      "discount.prior_abandon_rate: must be in (0, 1)");
    if (d->expiry_minutes < 1 || d->expiry_minutes > 10080)
        return cw_err(err, CW_EINVAL,
                      "discount.expiry_minutes: must be between 1 and 10080");
    static const char *const place[] = {"product", "cart", "checkout"};
    for (size_t i = 0; i < 3; i++)
        if (c->caps[i] > 1000)
            return cw_err(err, CW_EINVAL,
                          "frequency_caps.%s: must be between 0 and 1000",
                          place[i]);
    if (!in01(c->bundle_accept, 0, 0))
        return cw_err(err, CW_EINVAL,
                      "bundles.accept_prior: must be in [0, 1]");
    if (!in01(c->upgrade_accept, 0, 0))
        return cw_err(err, CW_EINVAL,
                      "upgrades.accept_prior: must be in [0, 1]");
    for (size_t i = 0; i < c->n_tiers; i++)
        if (c->tiers[i].gift_sku[0] && !sku_ok(c->tiers[i].gift_sku))
            return cw_err(err, CW_EINVAL,
                          "tiers[%zu].gift_sku: at most %d bytes", i,
                          CW_INC_SKU_MAX - 1);
    return validate_bundles(c, err);
}

/* ---- arithmetic --------------------------------------------------------- */

int64_t cw_incentive_percent(int64_t amount, uint32_t bp)
{
    int neg = amount < 0;
    uint64_t a = neg ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
    uint64_t q = a / 10000, r = a % 10000;
    uint64_t v = q * bp + (r * bp + 5000) / 10000;
    return neg ? -(int64_t)v : (int64_t)v;
}

__extension__ typedef __int128 i128;

/* Splits total over n weights by largest remainder: out[i] sums to total
 * exactly, each within one unit of total * w[i] / sum(w). Zero weights get
 * nothing; all-zero weights put everything on the first index. */
static void allocate(int64_t total, const int64_t *w, size_t n, int64_t *out)
{
    i128 sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += w[i] > 0 ? w[i] : 0;
    if (!n)
        return;
    if (sum == 0) {
        memset(out, 0, n * sizeof(*out));
        out[0] = total;
        return;
    }
    int64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = w[i] > 0 ? (int64_t)((i128)total * w[i] / sum) : 0;
        given += out[i];
    }
    /* the few units left go to the largest remainders, earliest first */
    while (given < total) {
        size_t best = n;
        i128 bestr = -1;
        for (size_t i = 0; i < n; i++) {
            if (w[i] <= 0)
                continue;
            i128 r = (i128)total * w[i] - (i128)out[i] * sum;
            if (r > bestr) {
                bestr = r;
                best = i;
            }
        }
        out[best]++;
        given++;
    }
}

double cw_incentive_p_buy(double p0, double eps, double pct)
{
    if (pct <= 0 || eps <= 0)
        return p0;
    return p0 + (1 - p0) * (1 - exp(-eps * pct));
}

static double sigmoid(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

void cw_incentive_prop_prior(const struct cw_incentive_config *c,
                             double w[CW_PROP_NFEAT + 1])
{
    double r = c->discount.prior_abandon_rate;
    w[0] = log(r / (1 - r));
    w[1 + CW_PROP_CART_REL] = 0.5;   /* a cart above the usual: hesitation */
    w[1 + CW_PROP_VIEWS] = 0.3;      /* coming back to the cart, unsure */
    w[1 + CW_PROP_MINUTES] = 0.15;   /* lingering */
    w[1 + CW_PROP_RETURNING] = -0.8; /* customers who bought before */
    w[1 + CW_PROP_MOBILE] = 0.4;     /* mobile carts are abandoned more */
    w[1 + CW_PROP_UNITS] = -0.1;     /* a fuller cart is a firmer intent */
}

int cw_incentive_fit_propensity(const double *x, const uint8_t *y, size_t n,
                                double w[CW_PROP_NFEAT + 1], struct cw_buf *err)
{
    enum { D = CW_PROP_NFEAT + 1 };
    size_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += y[i] != 0;
    if (n < 50 || pos == 0 || pos == n)
        return cw_err(err, CW_ENODATA,
                      "propensity: %zu sessions (%zu abandoned): need 50 "
                      "with both outcomes",
                      n, pos);
    double beta[D] = {0};
    double rate = (double)pos / (double)n;
    beta[0] = log(rate / (1 - rate));
    const double lambda = 1.0; /* L2 on the weights, not the bias */
    for (int it = 0; it < 30; it++) {
        double h[D * D] = {0}, g[D] = {0};
        for (size_t i = 0; i < n; i++) {
            double row[D];
            row[0] = 1;
            for (int k = 0; k < CW_PROP_NFEAT; k++)
                row[k + 1] = x[i * CW_PROP_NFEAT + (size_t)k];
            double z = 0;
            for (int k = 0; k < D; k++)
                z += beta[k] * row[k];
            double p = sigmoid(z), wt = p * (1 - p);
            double r = (y[i] ? 1.0 : 0.0) - p;
            for (int a = 0; a < D; a++) {
                g[a] += r * row[a];
                for (int b = 0; b <= a; b++)
                    h[a * D + b] += wt * row[a] * row[b];
            }
        }
        for (int a = 0; a < D; a++) {
            for (int b = a + 1; b < D; b++)
                h[a * D + b] = h[b * D + a];
            h[a * D + a] += a ? lambda : 1e-6;
            if (a)
                g[a] -= lambda * beta[a];
        }
        if (cw_spd_inverse_plain(h, D) < 0)
            return cw_err(err, CW_ENODATA, "propensity: singular fit");
        double step = 0;
        for (int a = 0; a < D; a++) {
            double dlt = 0;
            for (int b = 0; b < D; b++)
                dlt += h[a * D + b] * g[b];
            beta[a] += dlt;
            step += fabs(dlt);
        }
        if (step < 1e-9)
            break;
    }
    for (int k = 0; k < D; k++)
        if (!isfinite(beta[k]))
            return cw_err(err, CW_ENODATA, "propensity: fit diverged");
    memcpy(w, beta, sizeof(beta));
    return 0;
}

int cw_incentive_fit_uplift(uint64_t treated, uint64_t treated_buy,
                            double mean_pct, uint64_t control,
                            uint64_t control_buy, double *eps)
{
    if (treated < 100 || control < 100 || mean_pct <= 0)
        return CW_ENODATA;
    double pt = (double)treated_buy / (double)treated;
    double pc = (double)control_buy / (double)control;
    double e = 0;
    if (pt > pc && pc < 1) {
        double won = (pt - pc) / (1 - pc); /* share of abandoners won back */
        e = won >= 1 ? 1 : -log(1 - won) / mean_pct;
    }
    *eps = e > 1 ? 1 : e;
    return 0;
}

/* ---- runtime state ------------------------------------------------------ */

#define WAYS 8
#define STRIPES 64
#define SESS_OFFERS 24
#define SESS_RECS 32
#define DAY_BITS 44
#define SPENT_MASK ((UINT64_C(1) << DAY_BITS) - 1)

enum { DISC_NONE, DISC_ACTIVE, DISC_USED };

struct sess {
    uint64_t key; /* 0: empty */
    int64_t last_seen;
    int64_t thr[CW_INC_TIERS_MAX];
    uint32_t thr_set; /* bit t: thr[t] chosen */
    uint8_t disc_state, disc_explore;
    uint32_t disc_bp;
    int64_t disc_reserved, disc_expires;
    double disc_propensity;
    uint8_t n_offers, n_recs, rec_next;
    uint64_t offer_key[SESS_OFFERS];
    uint16_t offer_n[SESS_OFFERS];
    uint64_t rec[SESS_RECS]; /* xxh3 of SKUs recommended this session */
};

struct cust {
    uint64_t key;
    int64_t window_start;
    uint32_t count;
};

struct cw_incentive_state {
    _Atomic uint64_t budget; /* day << DAY_BITS | reserved */
    /* the store-wide budget: lease NULL when none is set
     * (cw_incentive_state_set_allowance) */
    struct cw_incentive_allowance allowance;
    _Atomic uint64_t leased; /* day << DAY_BITS | leased to this state;
                                written only under lease_lock */
    pthread_mutex_t lease_lock;
    int64_t dry_day, dry_limit; /* under lease_lock: on dry_day the
                                   allowance granted less than asked at
                                   limit dry_limit (it had no more) */
    size_t n_sbuckets, n_cbuckets;
    struct sess *sess;
    struct cust *cust;
    int64_t ttl;
    pthread_mutex_t slock[STRIPES], clock[STRIPES];
};

static size_t pow2_buckets(size_t n)
{
    size_t b = 1;
    while (b * WAYS < n)
        b <<= 1;
    return b;
}

struct cw_incentive_state *
cw_incentive_state_new(size_t max_sessions, size_t max_customers, int64_t ttl_s)
{
    struct cw_incentive_state *s = cw_calloc(1, sizeof(*s));
    atomic_init(&s->budget, 0);
    atomic_init(&s->leased, 0);
    pthread_mutex_init(&s->lease_lock, NULL);
    s->dry_day = -1;
    s->n_sbuckets = pow2_buckets(max_sessions ? max_sessions : 16384);
    s->n_cbuckets = pow2_buckets(max_customers ? max_customers : 65536);
    s->sess = cw_calloc(s->n_sbuckets * WAYS, sizeof(*s->sess));
    s->cust = cw_calloc(s->n_cbuckets * WAYS, sizeof(*s->cust));
    s->ttl = ttl_s > 0 ? ttl_s : 1800;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&s->slock[i], NULL);
        pthread_mutex_init(&s->clock[i], NULL);
    }
    return s;
}

void cw_incentive_state_free(struct cw_incentive_state *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lease_lock);
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_destroy(&s->slock[i]);
        pthread_mutex_destroy(&s->clock[i]);
    }
    cw_free(s->sess);
    cw_free(s->cust);
    cw_free(s);
}

static int64_t day_of(int64_t now)
{
    return now >= 0 ? now / 86400 : 0;
}

/* The amount a day word (day << DAY_BITS | amount) holds for day: 0 when
 * it holds an older day, -1 when it holds a later one (a request from an
 * older clock). */
static int64_t on_day(_Atomic uint64_t *word, uint64_t day)
{
    uint64_t w = atomic_load(word);
    if (w >> DAY_BITS > day)
        return -1;
    return w >> DAY_BITS == day ? (int64_t)(w & SPENT_MASK) : 0;
}

int64_t cw_incentive_state_spent(struct cw_incentive_state *s, int64_t now)
{
    int64_t v = on_day(&s->budget, (uint64_t)day_of(now));
    return v > 0 ? v : 0;
}

/* What may have been reserved by now: the whole budget, or with even
 * pacing the share of the day gone plus one hour's worth, so a burst early
 * in the day cannot spend what the evening's shoppers need. */
static int64_t paced(int64_t budget, enum cw_pacing pacing, int64_t now)
{
    switch (pacing) {
    case CW_PACING_NONE:
        return budget;
    case CW_PACING_EVEN: {
        double f = (double)(now - day_of(now) * 86400) / 86400.0 + 1.0 / 24;
        return f >= 1 ? budget : (int64_t)floor((double)budget * f);
    }
    }
    return budget;
}

void cw_incentive_state_set_allowance(struct cw_incentive_state *s,
                                      const struct cw_incentive_allowance *a)
{
    s->allowance =
        a && a->lease ? *a : (struct cw_incentive_allowance){NULL, NULL};
}

/* What is leased to s for day (see on_day). */
static int64_t leased_for(struct cw_incentive_state *s, uint64_t day)
{
    return on_day(&s->leased, day);
}

int64_t cw_incentive_state_leased(struct cw_incentive_state *s, int64_t now)
{
    int64_t l = leased_for(s, (uint64_t)day_of(now));
    return l > 0 ? l : 0;
}

/* Makes the day's allowance at least need (reserved so far plus the
 * amount), asking for a chunk of max(what is missing, budget / 20) within
 * limit (the paced budget). Returns 1 when it now covers need. One lease at
 * a time: a thread that waited here finds what the one before it leased and
 * asks for nothing when that covers it, so two threads that run out at once
 * lease once. Reservations that fit never take this mutex. */
static int lease_more(struct cw_incentive_state *s, uint64_t day, int64_t limit,
                      int64_t budget, int64_t need)
{
    pthread_mutex_lock(&s->lease_lock);
    int ok = 0;
    int64_t have = leased_for(s, day);
    if (have < 0)
        goto out;
    if (have >= need) {
        ok = 1;
        goto out;
    }
    /* the store-wide total already reached dry_limit: only what the limit
     * grew by since (pacing) can be left */
    if (s->dry_day == (int64_t)day && limit - s->dry_limit < need - have)
        goto out;
    int64_t want = need - have, chunk = budget / 20;
    if (want < chunk)
        want = chunk;
    if (want > budget - have)
        want = budget - have;
    int64_t granted = 0;
    if (s->allowance.lease(s->allowance.ctx, (int64_t)day, limit, want,
                           &granted) < 0)
        goto out; /* nothing granted: the caller refuses the discount */
    if (granted < 0 || granted > want)
        granted = granted < 0 ? 0 : want;
    if (granted < want) {
        s->dry_day = (int64_t)day;
        s->dry_limit = limit;
    }
    atomic_store(&s->leased, day << DAY_BITS | (uint64_t)(have + granted));
    ok = have + granted >= need;
out:
    pthread_mutex_unlock(&s->lease_lock);
    return ok;
}

int cw_incentive_budget_reserve(struct cw_incentive_state *s, int64_t budget,
                                enum cw_pacing pacing, int64_t now,
                                int64_t amount)
{
    if (amount <= 0)
        return 1;
    if (budget <= 0 || amount > budget)
        return 0;
    uint64_t day = (uint64_t)day_of(now);
    int64_t allowed = paced(budget, pacing, now);
    uint64_t old = atomic_load(&s->budget);
    for (;;) {
        uint64_t oday = old >> DAY_BITS;
        int64_t spent = (int64_t)(old & SPENT_MASK);
        if (oday > day)
            return 0; /* a request from an older clock: refuse */
        if (oday < day)
            spent = 0;
        if (spent + amount > allowed)
            return 0;
        if (s->allowance.lease) {
            /* the leased word only grows within a day, so a value read
             * before the CAS below is a lower bound of the one after it:
             * what is reserved never passes what was leased */
            int64_t have = leased_for(s, day);
            if (have < 0)
                return 0;
            if (spent + amount > have) {
                if (!lease_more(s, day, allowed, budget, spent + amount))
                    return 0;
                old = atomic_load(&s->budget);
                continue;
            }
        }
        uint64_t nw = day << DAY_BITS | (uint64_t)(spent + amount);
        if (atomic_compare_exchange_weak(&s->budget, &old, nw))
            return 1;
    }
}

static uint64_t key_of(const char *prefix, const char *s)
{
    uint64_t h = cw_xxh3_seed(s, strlen(s), cw_xxh3(prefix, strlen(prefix)));
    return h ? h : 1;
}

/* The session slot of key, found or (re)claimed; caller holds its stripe. */
static struct sess *sess_slot(struct cw_incentive_state *s, uint64_t key,
                              int64_t now)
{
    struct sess *b = &s->sess[(key & (s->n_sbuckets - 1)) * WAYS];
    struct sess *victim = NULL;
    for (int w = 0; w < WAYS && !victim; w++) {
        if (b[w].key != key)
            continue;
        if (now - b[w].last_seen <= s->ttl) {
            b[w].last_seen = now;
            return &b[w];
        }
        victim = &b[w]; /* idle too long: a new session under the same id */
    }
    for (int w = 0; w < WAYS && !victim; w++)
        if (b[w].key == 0)
            victim = &b[w];
    if (!victim) { /* the least recently seen session is forgotten */
        victim = &b[0];
        for (int w = 1; w < WAYS; w++)
            if (b[w].last_seen < victim->last_seen)
                victim = &b[w];
    }
    memset(victim, 0, sizeof(*victim));
    victim->key = key;
    victim->last_seen = now;
    return victim;
}

static pthread_mutex_t *sess_lock(struct cw_incentive_state *s, uint64_t key)
{
    return &s->slock[(key & (s->n_sbuckets - 1)) % STRIPES];
}

static unsigned offer_count(const struct sess *se, uint64_t key)
{
    for (unsigned i = 0; i < se->n_offers; i++)
        if (se->offer_key[i] == key)
            return se->offer_n[i];
    return 0;
}

static void offer_shown(struct sess *se, uint64_t key)
{
    for (unsigned i = 0; i < se->n_offers; i++)
        if (se->offer_key[i] == key) {
            if (se->offer_n[i] < UINT16_MAX)
                se->offer_n[i]++;
            return;
        }
    unsigned i = se->n_offers < SESS_OFFERS ? se->n_offers++ : 0;
    /* full: the first (oldest) entry makes room */
    if (i == 0 && se->n_offers == SESS_OFFERS) {
        memmove(se->offer_key, se->offer_key + 1,
                (SESS_OFFERS - 1) * sizeof(*se->offer_key));
        memmove(se->offer_n, se->offer_n + 1,
                (SESS_OFFERS - 1) * sizeof(*se->offer_n));
        i = SESS_OFFERS - 1;
    }
    se->offer_key[i] = key;
    se->offer_n[i] = 1;
}

static int recommended(const struct sess *se, uint64_t h)
{
    for (unsigned i = 0; i < se->n_recs; i++)
        if (se->rec[i] == h)
            return 1;
    return 0;
}

static void remember_rec(struct sess *se, uint64_t h)
{
    if (recommended(se, h))
        return;
    se->rec[se->rec_next] = h;
    se->rec_next = (uint8_t)((se->rec_next + 1) % SESS_RECS);
    if (se->n_recs < SESS_RECS)
        se->n_recs++;
}

/* The customer's slot, or NULL when the bucket is full of live windows
 * (then no discount: a cap is never forgotten to make room). */
static struct cust *cust_slot(struct cw_incentive_state *s, uint64_t key,
                              int64_t now, int64_t window)
{
    struct cust *b = &s->cust[(key & (s->n_cbuckets - 1)) * WAYS];
    struct cust *free_slot = NULL;
    for (int w = 0; w < WAYS; w++) {
        if (b[w].key == key) {
            if (now - b[w].window_start >= window) {
                b[w].window_start = now;
                b[w].count = 0;
            }
            return &b[w];
        }
        if (!free_slot && (b[w].key == 0 || now - b[w].window_start >= window))
            free_slot = &b[w];
    }
    if (free_slot) {
        free_slot->key = key;
        free_slot->window_start = now;
        free_slot->count = 0;
    }
    return free_slot;
}

/* ---- pricing --------------------------------------------------------------
 */

struct pline {
    const char *sku;
    long item;
    int64_t qty, unit, ucost; /* ucost: merchant's unit cost */
    unsigned flags;           /* enum cw_priced_flag */
    int bundle;               /* cfg bundle of the SKU, or -1 */
};

struct ctx {
    const struct cw_model *m;
    const struct cw_incentive_config *c;
    struct pline lines[CW_CART_MAX + 1]; /* + 1: a what-if add */
    size_t n;
    int64_t thr[CW_INC_TIERS_MAX];
    int64_t coupon;
    int64_t offer_cap; /* < 0: none */
};

static int64_t gift_cost(const struct ctx *x, const struct cw_tier *t)
{
    if (t->gift_cost != CW_MONEY_UNKNOWN)
        return t->gift_cost;
    long it = cw_model_find_sku(x->m, t->gift_sku);
    if (it < 0)
        return 0;
    const struct cw_item *i = &x->m->items[it];
    return i->price - i->margin;
}

/* The largest discount D (minor units) that keeps (M - D) >= f (R - D):
 * margin over revenue at or above the floor. */
static int64_t floor_room(int64_t margin, int64_t revenue, double f)
{
    double num = (double)margin - f * (double)revenue;
    if (num <= 0)
        return 0;
    int64_t d = (int64_t)floor(num / (1 - f));
    while (d > 0 && (double)(margin - d) < f * (double)(revenue - d))
        d--;
    return d;
}

/* Prices lines[0..n) of x with the targeted discount at offer_bp (0: none)
 * into p. */
static void price(const struct ctx *x, const struct pline *lines, size_t n,
                  uint32_t offer_bp, struct cw_priced_cart *p,
                  int64_t *per_bundle)
{
    const struct cw_incentive_config *c = x->c;
    int64_t gross[CW_CART_MAX + 1], w[CW_CART_MAX + 1], part[CW_CART_MAX + 1];
    p->n_lines = 0;
    p->subtotal = p->bundle_discount = p->coupon_discount = 0;
    p->offer_discount = p->tier_discount = p->gift_cost = 0;
    p->offer_base = 0;
    p->tiers_met = 0;
    p->express = 0;
    int64_t margin = 0, units = 0;
    for (size_t i = 0; i < n; i++) {
        const struct pline *l = &lines[i];
        struct cw_priced_line *o = &p->lines[p->n_lines++];
        o->sku = l->sku;
        o->item = l->item;
        o->qty = l->qty;
        o->unit_price = l->unit;
        o->discount = 0;
        o->bundle = -1;
        o->flags = l->flags;
        gross[i] = l->flags & CW_PRICED_UNPRICED ? 0 : l->qty * l->unit;
        p->subtotal += gross[i];
        if (!(l->flags & CW_PRICED_UNPRICED)) {
            margin += l->qty * (l->unit - l->ucost);
            units += l->qty;
        }
    }
    /* Quantity breaks, each bounded by what the floor leaves: the breaks of
     * every set are priced against the margin of the whole cart. */
    int64_t room = floor_room(margin, p->subtotal, c->discount.margin_floor);
    for (size_t b = 0; b < c->n_bundles; b++) {
        const struct cw_bundle *bu = &c->bundles[b];
        int64_t q = 0, set = 0;
        for (size_t i = 0; i < n; i++)
            if (lines[i].bundle == (int)b &&
                !(lines[i].flags & CW_PRICED_UNPRICED)) {
                q += lines[i].qty;
                set += gross[i];
            }
        uint32_t bp = 0;
        for (size_t k = 0; k < bu->n_breaks; k++)
            if (q >= bu->breaks[k].qty)
                bp = bu->breaks[k].percent_bp;
        if (per_bundle)
            per_bundle[b] = 0;
        if (!bp)
            continue;
        int64_t disc = cw_incentive_percent(set, bp);
        if (disc > room)
            disc = room;
        room -= disc;
        if (per_bundle)
            per_bundle[b] = disc;
        for (size_t i = 0; i < n; i++)
            w[i] = lines[i].bundle == (int)b ? gross[i] : 0;
        allocate(disc, w, n, part);
        for (size_t i = 0; i < n; i++) {
            p->lines[i].discount += part[i];
            if (w[i] > 0)
                p->lines[i].bundle = (int)b;
        }
        p->bundle_discount += disc;
    }
    /* the storefront's coupon over every priced line */
    int64_t left = p->subtotal - p->bundle_discount;
    int64_t coupon = x->coupon < left ? x->coupon : left;
    if (coupon > 0) {
        for (size_t i = 0; i < n; i++)
            w[i] = gross[i] - p->lines[i].discount;
        allocate(coupon, w, n, part);
        for (size_t i = 0; i < n; i++)
            p->lines[i].discount += part[i];
        p->coupon_discount = coupon;
    }
    /* the targeted discount, never on recommended add-ons */
    if (offer_bp) {
        int64_t base = 0;
        for (size_t i = 0; i < n; i++) {
            w[i] = lines[i].flags & CW_PRICED_NO_DISCOUNT
                       ? 0
                       : gross[i] - p->lines[i].discount;
            base += w[i];
        }
        p->offer_base = base;
        int64_t amt = cw_incentive_percent(base, offer_bp);
        if (x->offer_cap >= 0 && amt > x->offer_cap)
            amt = x->offer_cap;
        if (amt > 0 && base > 0) {
            allocate(amt, w, n, part);
            for (size_t i = 0; i < n; i++)
                p->lines[i].discount += part[i];
            p->offer_discount = amt;
        }
    }
    p->qualifying = p->subtotal - p->bundle_discount - p->coupon_discount -
                    p->offer_discount;
    /* tiers on the qualifying subtotal */
    uint32_t pct = 0;
    int free_ship = 0;
    for (size_t t = 0; t < c->n_tiers; t++) {
        p->thresholds[t] = x->thr[t];
        if (p->qualifying < x->thr[t])
            continue;
        p->tiers_met |= 1u << t;
        const struct cw_tier *tr = &c->tiers[t];
        switch (tr->reward) {
        case CW_REWARD_FREE_SHIPPING:
            free_ship = 1;
            break;
        case CW_REWARD_EXPRESS_SHIPPING:
            p->express = 1;
            break;
        case CW_REWARD_GIFT:
            if (p->n_lines < sizeof(p->lines) / sizeof(p->lines[0])) {
                struct cw_priced_line *g = &p->lines[p->n_lines++];
                memset(g, 0, sizeof(*g));
                g->sku = tr->gift_sku;
                g->item = cw_model_find_sku(x->m, tr->gift_sku);
                g->qty = 1;
                g->bundle = -1;
                g->flags = CW_PRICED_GIFT;
                g->margin = -gift_cost(x, tr);
                p->gift_cost += gift_cost(x, tr);
            }
            break;
        case CW_REWARD_PERCENT_OFF:
            if (tr->percent_bp > pct)
                pct = tr->percent_bp;
            break;
        }
    }
    if (pct) {
        for (size_t i = 0; i < n; i++)
            w[i] = gross[i] - p->lines[i].discount;
        p->tier_discount = cw_incentive_percent(p->qualifying, pct);
        allocate(p->tier_discount, w, n, part);
        for (size_t i = 0; i < n; i++)
            p->lines[i].discount += part[i];
    }
    /* lines' totals and margins; the sums are exact by construction */
    p->merchandise = 0;
    p->profit = -p->gift_cost;
    for (size_t i = 0; i < n; i++) {
        struct cw_priced_line *o = &p->lines[i];
        o->total = gross[i] - o->discount;
        o->margin = lines[i].flags & CW_PRICED_UNPRICED
                        ? 0
                        : o->total - lines[i].qty * lines[i].ucost;
        p->merchandise += o->total;
        p->profit += o->margin;
    }
    int64_t per = c->shipping.model == CW_SHIP_PER_ITEM ? units : 1;
    if (c->shipping.model == CW_SHIP_NONE || units == 0) {
        p->shipping = p->shipping_cost = 0;
        p->express = 0;
    } else if (p->express) {
        p->shipping = 0;
        p->shipping_cost = c->shipping.express_cost * per;
    } else {
        p->shipping = free_ship ? 0 : c->shipping.fee * per;
        p->shipping_cost = c->shipping.cost * per;
    }
    p->total = p->merchandise + p->shipping;
    p->profit += p->shipping - p->shipping_cost;
}

/* Merchandise margin (line margins, gifts included) over merchandise. */
static int above_floor(const struct cw_priced_cart *p, double f)
{
    return (double)(p->profit - (p->shipping - p->shipping_cost)) >=
           f * (double)p->merchandise - 1e-9;
}

/* ---- text ------------------------------------------------------------------
 */

/* snprintf for the sentences: a long title may cut one short, which is
 * fine (vsnprintf keeps the compiler's truncation analysis out of it). */
static void say(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

static const char *money(const struct cw_model *m, int64_t v, char *buf,
                         size_t size)
{
    char num[32];
    cw_money_format(v, m->meta.currency_exp, num, sizeof(num));
    say(buf, size, "%s %s", m->meta.currency, num);
    return buf;
}

static const char *title_of(const struct cw_model *m, long item,
                            const char *sku)
{
    if (item >= 0 && m->items[item].title)
        return cw_model_str(m, m->items[item].title);
    return sku;
}

static void reward_phrase(const struct cw_model *m, const struct cw_tier *t,
                          char *buf, size_t size)
{
    switch (t->reward) {
    case CW_REWARD_FREE_SHIPPING:
        say(buf, size, "free shipping");
        break;
    case CW_REWARD_EXPRESS_SHIPPING:
        say(buf, size, "free express shipping");
        break;
    case CW_REWARD_GIFT:
        say(buf, size, "a free %s",
            title_of(m, cw_model_find_sku(m, t->gift_sku), t->gift_sku));
        break;
    case CW_REWARD_PERCENT_OFF:
        if (t->percent_bp % 100)
            say(buf, size, "%.2f%% off your order", t->percent_bp / 100.0);
        else
            say(buf, size, "%u%% off your order", t->percent_bp / 100);
        break;
    }
}

static void pct_text(uint32_t bp, char *buf, size_t size)
{
    if (bp % 100)
        say(buf, size, "%.2f%%", bp / 100.0);
    else
        say(buf, size, "%u%%", bp / 100);
}

/* ---- personalized thresholds ----------------------------------------------
 */

/* The shopper's natural order values: the store's distribution (its 5%
 * .. 95% quantiles, equally likely; the extremes are left out so one
 * wholesale order cannot dominate) scaled to the customer's typical order,
 * or as it is for an anonymous shopper; only values at least the cart
 * already in hand count (the shopper will not spend less than that). */
static size_t order_samples(const struct cw_incentive_stats *st,
                            int64_t typical, int64_t cart, double *v,
                            unsigned *notes)
{
    size_t n = 0;
    if (st && st->n_orders && st->order_q[CW_INC_QUANTILES / 2] > 0) {
        double scale =
            typical > 0
                ? (double)typical / (double)st->order_q[CW_INC_QUANTILES / 2]
                : 1.0;
        for (size_t j = 1; j + 1 < CW_INC_QUANTILES; j++) {
            double s = scale * (double)st->order_q[j];
            if (s >= (double)cart)
                v[n++] = s;
        }
    } else {
        *notes |= CW_INC_NOTE_NO_DIST;
        double s = typical > 0 ? (double)typical : (double)cart;
        if (s >= (double)cart)
            v[n++] = s;
    }
    if (!n)
        v[n++] = (double)cart;
    return n;
}

static double p_reach(const struct cw_incentive_config *c, double gap,
                      double ref)
{
    if (gap <= 0)
        return 1;
    if (ref <= 0)
        ref = 1;
    return c->threshold.reach_max *
           exp(-gap / (c->threshold.reach_scale * ref));
}

/* What granting tier t costs the merchant at a cart of value v. */
static double reward_cost(const struct ctx *x, const struct cw_tier *t,
                          double v, int64_t units)
{
    const struct cw_incentive_config *c = x->c;
    double per = c->shipping.model == CW_SHIP_PER_ITEM
                     ? (double)(units > 0 ? units : 1)
                     : 1.0;
    switch (t->reward) {
    case CW_REWARD_FREE_SHIPPING:
        return (double)c->shipping.fee * per;
    case CW_REWARD_EXPRESS_SHIPPING:
        return ((double)c->shipping.fee + (double)c->shipping.express_cost -
                (double)c->shipping.cost) *
               per;
    case CW_REWARD_GIFT:
        return (double)gift_cost(x, t);
    case CW_REWARD_PERCENT_OFF:
        return v * t->percent_bp / 10000.0;
    }
    return 0;
}

/* Expected profit per session with tier t at threshold r, and P(reach). */
static double rung_value(const struct ctx *x, const struct cw_tier *t, double r,
                         const double *v, size_t nv, double ref, double mu,
                         int64_t units, double *reach)
{
    double e = 0, pr = 0;
    for (size_t j = 0; j < nv; j++) {
        if (v[j] >= r) {
            e += mu * v[j] - reward_cost(x, t, v[j], units);
            pr += 1;
        } else {
            double p = p_reach(x->c, r - v[j], ref);
            e += p * (mu * r - reward_cost(x, t, r, units)) +
                 (1 - p) * mu * v[j];
            pr += p;
        }
    }
    *reach = pr / (double)nv;
    return e / (double)nv;
}

static void choose_threshold(const struct ctx *x, size_t t,
                             const struct cw_incentive_stats *st,
                             int64_t typical, int64_t n_orders, int64_t cart,
                             double mu, int64_t units,
                             struct cw_threshold_choice *tc, unsigned *notes)
{
    const struct cw_model *m = x->m;
    const struct cw_tier *tr = &x->c->tiers[t];
    double v[CW_INC_QUANTILES];
    size_t nv = order_samples(st, typical, cart, v, notes);
    double ref = typical > 0 ? (double)typical
                 : st && st->n_orders
                     ? (double)st->order_q[CW_INC_QUANTILES / 2]
                     : (double)cart;
    double best = -INFINITY, best_reach = 0, reach;
    int64_t best_r = tr->threshold;
    for (size_t k = 0; k < tr->n_rungs; k++) {
        double e = rung_value(x, tr, (double)tr->rungs[k], v, nv, ref, mu,
                              units, &reach);
        if (e > best + 1e-9) {
            best = e;
            best_r = tr->rungs[k];
            best_reach = reach;
        }
    }
    tc->static_expected_profit =
        rung_value(x, tr, (double)tr->threshold, v, nv, ref, mu, units, &reach);
    tc->threshold = best_r;
    tc->expected_profit = best;
    tc->p_reach = best_reach;
    tc->typical = (int64_t)llround(ref);
    tc->basis_customer = typical > 0;
    char a[48], b[48], c2[48], c3[48], rw[96];
    reward_phrase(m, tr, rw, sizeof(rw));
    if (typical > 0)
        say(tc->why, sizeof(tc->why),
            "usual order %s (median of %lld orders): %s at %s is "
            "reached %.0f%% of the time and earns %s per session, the "
            "most of the allowed rungs",
            money(m, typical, a, sizeof(a)), (long long)n_orders, rw,
            money(m, best_r, b, sizeof(b)), 100 * best_reach,
            money(m, (int64_t)llround(best), c2, sizeof(c2)));
    else
        say(tc->why, sizeof(tc->why),
            "anonymous: store's median order %s and a cart of %s: %s "
            "at %s is reached %.0f%% of the time and earns %s per "
            "session, the most of the allowed rungs",
            money(m, (int64_t)llround(ref), a, sizeof(a)),
            money(m, cart, c3, sizeof(c3)), rw, money(m, best_r, b, sizeof(b)),
            100 * best_reach, money(m, (int64_t)llround(best), c2, sizeof(c2)));
}

/* ---- the decision ---------------------------------------------------------
 */

void cw_incentive_prop_features(int64_t cart, double ref, int returning,
                                int64_t units,
                                const struct cw_incentive_session *ss,
                                double f[CW_PROP_NFEAT])
{
    f[CW_PROP_CART_REL] =
        cart > 0 && ref > 0 ? fmax(-3, fmin(3, log((double)cart / ref))) : 0;
    f[CW_PROP_VIEWS] = ss->cart_views > 0 ? log1p(ss->cart_views) : 0;
    f[CW_PROP_MINUTES] =
        ss->seconds_on_cart > 0 ? log1p((double)ss->seconds_on_cart / 60) : 0;
    f[CW_PROP_RETURNING] = returning ? 1 : 0;
    f[CW_PROP_MOBILE] = ss->mobile == 1 ? 1 : 0;
    f[CW_PROP_UNITS] = log1p((double)units);
}

double cw_incentive_propensity(const double w[CW_PROP_NFEAT + 1],
                               const double f[CW_PROP_NFEAT])
{
    double z = w[0];
    for (int k = 0; k < CW_PROP_NFEAT; k++)
        z += w[k + 1] * f[k];
    return sigmoid(z);
}

/* A uniform number in [0, 1) from the session, for the exploration slice. */
static double unit_hash(const char *unit, uint64_t seed)
{
    uint64_t h = cw_xxh3_seed(unit, strlen(unit), seed);
    return (double)(h >> 11) / 9007199254740992.0;
}

int cw_incentive_exploration_arm(const struct cw_incentive_config *c,
                                 const char *unit)
{
    if (!unit || !*unit || c->discount.exploration_share <= 0 ||
        unit_hash(unit, 0x6578706c6f7265ULL) >= c->discount.exploration_share)
        return 0;
    return unit_hash(unit, 0x61726d) < 0.5 ? 1 : 2;
}

/* Shopper-perceived percentage of an offer: what it saves net of rewards
 * the discount takes away (shipping charged again, a smaller tier). */
static double felt_pct(const struct cw_priced_cart *base,
                       const struct cw_priced_cart *with)
{
    double saved = (double)with->offer_discount -
                   (double)(with->shipping - base->shipping) -
                   (double)(base->tier_discount - with->tier_discount) -
                   (double)(base->gift_cost - with->gift_cost);
    if (saved <= 0 || base->total <= 0)
        return 0;
    return 100.0 * saved / (double)base->total;
}

struct dctx {
    const struct cw_incentive_req *ir;
    const struct cw_decide_req *req;
    struct sess *se;
    struct cw_incentive_result *out;
    double prop;
    double eps;
};

static void discount_text(const struct cw_model *m, struct cw_discount_offer *d,
                          const struct cw_incentive_config *c)
{
    char p[16], a[48], t[16], g[48];
    pct_text(d->percent_bp, p, sizeof(p));
    pct_text((uint32_t)llround(c->discount.propensity_threshold * 10000), t,
             sizeof(t));
    if (d->exploration == 1)
        say(d->reason, sizeof(d->reason),
            "exploration: a randomized %s off (%s) for a shopper at "
            "%.0f%% abandonment risk, so the discount's real effect "
            "can be measured",
            p, money(m, d->amount, a, sizeof(a)), 100 * d->propensity);
    else
        say(d->reason, sizeof(d->reason),
            "%.0f%% abandonment risk (over %s): %s off (%s) raises "
            "P(buy) from %.0f%% to %.0f%% and adds %s of expected "
            "profit over no offer",
            100 * d->propensity, t, p, money(m, d->amount, a, sizeof(a)),
            100 * d->p_buy, 100 * d->p_buy_with,
            money(m, (int64_t)llround(d->gain), g, sizeof(g)));
}

/* Decides the targeted discount; x->offer_cap set when one is active. */
static uint32_t decide_discount(struct ctx *x, struct dctx *dc,
                                const struct cw_priced_cart *base)
{
    const struct cw_incentive_req *ir = dc->ir;
    const struct cw_incentive_config *c = x->c;
    struct cw_discount_offer *d = &dc->out->discount;
    struct sess *se = dc->se;
    struct cw_incentive_state *st = ir->state;
    struct cw_priced_cart *pc = cw_malloc(sizeof(*pc));
    uint32_t chosen = 0;
    d->propensity = dc->prop;
    d->p_buy = 1 - dc->prop;

    if (se->disc_state == DISC_ACTIVE && ir->now >= se->disc_expires)
        se->disc_state = DISC_USED;
    if (se->disc_state == DISC_ACTIVE) {
        /* the offer stands until it expires: same percentage, and more
         * money only if the budget still has it */
        x->offer_cap = -1;
        price(x, x->lines, x->n, se->disc_bp, pc, NULL);
        int64_t want = pc->offer_discount;
        if (want > se->disc_reserved) {
            if (cw_incentive_budget_reserve(st, c->discount.daily_budget,
                                            c->discount.pacing, ir->now,
                                            want - se->disc_reserved))
                se->disc_reserved = want;
            else
                d->capped = 1;
        }
        x->offer_cap = se->disc_reserved;
        chosen = se->disc_bp;
        d->sticky = 1;
        d->exploration = se->disc_explore;
        d->propensity = se->disc_propensity;
        d->p_buy = 1 - se->disc_propensity;
        d->expires_at = se->disc_expires;
        goto done;
    }
    if (se->disc_state == DISC_USED ||
        dc->prop <= c->discount.propensity_threshold)
        goto done;

    /* candidates within the guardrails */
    uint32_t steps[64];
    double gains[64], pbw[64];
    size_t ns = 0;
    double p0 = 1 - dc->prop;
    x->offer_cap = -1;
    for (uint32_t bp = c->discount.step_bp;
         bp <= c->discount.max_percent_bp && ns < 64;
         bp += c->discount.step_bp) {
        price(x, x->lines, x->n, bp, pc, NULL);
        if (pc->offer_discount <= 0)
            continue; /* rounds to nothing on this cart */
        if (!above_floor(pc, c->discount.margin_floor))
            break;
        double pb = cw_incentive_p_buy(p0, dc->eps, felt_pct(base, pc));
        steps[ns] = bp;
        pbw[ns] = pb;
        gains[ns] = pb * (double)pc->profit - p0 * (double)base->profit;
        ns++;
    }
    if (!ns)
        goto done;
    size_t pick = 0;
    for (size_t i = 1; i < ns; i++)
        if (gains[i] > gains[pick])
            pick = i;
    int want = gains[pick] > 0;

    const char *unit =
        ir->session.session_id ? ir->session.session_id : dc->req->customer;
    d->exploration = cw_incentive_exploration_arm(c, unit);
    if (d->exploration == 1) {
        pick = (size_t)(cw_xxh3_seed(unit, strlen(unit), 0x73746570) % ns);
        want = 1;
    } else if (d->exploration == 2) {
        want = 0;
    }
    if (!want)
        goto done;

    price(x, x->lines, x->n, steps[pick], pc, NULL);
    int64_t amount = pc->offer_discount;
    /* per-customer cap and budget, atomically with respect to each other */
    struct cust *cu = NULL;
    pthread_mutex_t *cl = NULL;
    if (dc->req->customer && c->discount.per_customer_max) {
        uint64_t ck = key_of("customer", dc->req->customer);
        cl = &st->clock[(ck & (st->n_cbuckets - 1)) % STRIPES];
        pthread_mutex_lock(cl);
        cu = cust_slot(st, ck, ir->now,
                       (int64_t)c->discount.per_customer_days * 86400);
        if (!cu || cu->count >= c->discount.per_customer_max) {
            pthread_mutex_unlock(cl);
            dc->out->notes |= CW_INC_NOTE_CUSTOMER_CAP;
            goto done;
        }
    }
    if (!cw_incentive_budget_reserve(st, c->discount.daily_budget,
                                     c->discount.pacing, ir->now, amount)) {
        if (cl)
            pthread_mutex_unlock(cl);
        dc->out->notes |= CW_INC_NOTE_BUDGET;
        goto done;
    }
    if (cu)
        cu->count++;
    if (cl)
        pthread_mutex_unlock(cl);
    se->disc_state = DISC_ACTIVE;
    se->disc_bp = steps[pick];
    se->disc_reserved = amount;
    se->disc_expires = ir->now + (int64_t)c->discount.expiry_minutes * 60;
    se->disc_explore = (uint8_t)d->exploration;
    se->disc_propensity = dc->prop;
    x->offer_cap = amount;
    chosen = steps[pick];
    d->expires_at = se->disc_expires;
    d->gain = gains[pick];
    d->p_buy_with = pbw[pick];
done:
    if (chosen) {
        price(x, x->lines, x->n, chosen, pc, NULL);
        d->active = 1;
        d->percent_bp = chosen;
        d->amount = pc->offer_discount;
        d->base = pc->offer_base;
        if (d->sticky) {
            d->p_buy_with =
                cw_incentive_p_buy(d->p_buy, dc->eps, felt_pct(base, pc));
            d->gain = d->p_buy_with * (double)pc->profit -
                      d->p_buy * (double)base->profit;
        }
        discount_text(x->m, d, c);
    }
    cw_free(pc);
    return chosen;
}

static uint64_t offer_key(const char *kind, const char *a, const char *b)
{
    char buf[2 * CW_INC_SKU_MAX + 256];
    say(buf, sizeof(buf), "%s\x1f%s\x1f%s", kind, a, b ? b : "");
    return key_of("offer", buf);
}

static int capped(const struct cw_incentive_config *c,
                  const struct cw_decide_req *req, const struct sess *se,
                  uint64_t key)
{
    unsigned cap = c->caps[req->placement];
    return cap && offer_count(se, key) >= cap;
}

/* The quantity break one step up from the cart, for the set whose step
 * earns the most expected profit; priced by price() itself, so the floor
 * over the whole cart bounds it exactly as it will at checkout. */
static void bundle_offer(struct ctx *x, const struct cw_decide_req *req,
                         const struct sess *se, uint32_t offer_bp,
                         const struct cw_priced_cart *now,
                         struct cw_bundle_offer *bo)
{
    const struct cw_incentive_config *c = x->c;
    struct cw_priced_cart *pc = cw_malloc(sizeof(*pc));
    int64_t perb[CW_INC_BUNDLES_MAX];
    double best = 0;
    for (size_t b = 0; b < c->n_bundles; b++) {
        const struct cw_bundle *bu = &c->bundles[b];
        int64_t q = 0, anchor_qty = -1;
        size_t anchor = 0;
        for (size_t i = 0; i < x->n; i++) {
            const struct pline *l = &x->lines[i];
            if (l->bundle != (int)b || (l->flags & CW_PRICED_UNPRICED))
                continue;
            q += l->qty;
            if (l->qty > anchor_qty) {
                anchor_qty = l->qty;
                anchor = i;
            }
        }
        if (anchor_qty < 0)
            continue;
        size_t k = 0;
        while (k < bu->n_breaks && bu->breaks[k].qty <= q)
            k++;
        if (k == bu->n_breaks)
            continue; /* the best break already applies */
        if (capped(c, req, se, offer_key("bundle", bu->name, NULL)))
            continue;
        int64_t add = (int64_t)bu->breaks[k].qty - q;
        if (x->lines[anchor].qty + add > CW_QTY_MAX)
            continue;
        x->lines[anchor].qty += add;
        price(x, x->lines, x->n, offer_bp, pc, perb);
        x->lines[anchor].qty -= add;
        if (perb[b] <= 0)
            continue; /* the floor leaves no room for this break */
        double gain = c->bundle_accept * (double)(pc->profit - now->profit);
        if (gain <= best)
            continue;
        best = gain;
        int64_t set = 0;
        for (size_t i = 0; i < x->n; i++)
            if (x->lines[i].bundle == (int)b &&
                !(x->lines[i].flags & CW_PRICED_UNPRICED))
                set += pc->lines[i].qty * pc->lines[i].unit_price;
        memset(bo, 0, sizeof(*bo));
        bo->active = 1;
        bo->bundle = (int)b;
        bo->sku = x->lines[anchor].sku;
        bo->item = x->lines[anchor].item;
        bo->qty_now = q;
        bo->qty_to = bu->breaks[k].qty;
        bo->add_units = add;
        bo->configured_bp = bu->breaks[k].percent_bp;
        bo->percent_bp =
            set > 0 ? (uint32_t)(((i128)perb[b] * 10000 + set / 2) / set) : 0;
        if (bo->percent_bp > bo->configured_bp)
            bo->percent_bp = bo->configured_bp;
        bo->savings = perb[b];
        bo->extra_pay = pc->total - now->total;
        bo->expected_profit = gain;
        char p[16], a[48], s[48];
        pct_text(bo->percent_bp, p, sizeof(p));
        say(bo->text, sizeof(bo->text),
            "Buy %lld for %s off: add %lld more %s for %s (you save %s)",
            (long long)bo->qty_to, p, (long long)add,
            title_of(x->m, bo->item, bo->sku),
            money(x->m, bo->extra_pay, a, sizeof(a)),
            money(x->m, bo->savings, s, sizeof(s)));
    }
    cw_free(pc);
}

static int usable_item(const struct cw_model *m, long i)
{
    return i >= 0 && !(m->items[i].flags & CW_FLAG_INACTIVE) &&
           m->items[i].inventory != 0;
}

/* One level up in a good/better/best group, for the cart line where that
 * earns the most expected profit (and more than keeping the item). */
static void upgrade_offer(struct ctx *x, const struct cw_decide_req *req,
                          const struct sess *se, uint32_t offer_bp,
                          const struct cw_priced_cart *now,
                          struct cw_upgrade_offer *uo)
{
    const struct cw_incentive_config *c = x->c;
    const struct cw_model *m = x->m;
    struct cw_priced_cart *pc = cw_malloc(sizeof(*pc));
    double best = 0;
    for (size_t i = 0; i < x->n; i++) {
        struct pline *l = &x->lines[i];
        size_t lvl;
        if (l->item < 0 || (l->flags & CW_PRICED_UNPRICED))
            continue;
        long g = group_of(c, c->n_groups, l->sku, &lvl);
        if (g < 0 || lvl + 1 >= c->groups[g].n_skus)
            continue;
        const char *up = c->groups[g].skus[lvl + 1];
        long ui = cw_model_find_sku(m, up);
        if (!usable_item(m, ui))
            continue;
        int in_cart = 0;
        for (size_t j = 0; j < x->n && !in_cart; j++)
            in_cart = !strcmp(x->lines[j].sku, up);
        if (in_cart || capped(c, req, se, offer_key("upgrade", l->sku, up)))
            continue;
        const struct cw_item *it = &m->items[ui];
        struct pline keep = *l;
        l->sku = up;
        l->item = ui;
        l->unit = it->price;
        l->ucost = it->price - it->margin;
        l->bundle = (int)bundle_of(c, c->n_bundles, up);
        l->flags =
            (keep.flags & CW_PRICED_NO_DISCOUNT) |
            (it->flags & CW_ITEM_MARGIN_ASSUMED ? CW_PRICED_ASSUMED : 0u);
        price(x, x->lines, x->n, offer_bp, pc, NULL);
        *l = keep;
        double ratio =
            it->price > 0 ? (double)keep.unit / (double)it->price : 1.0;
        double p = c->upgrade_accept * fmin(1.0, ratio);
        double gain = p * (double)(pc->profit - now->profit);
        if (gain <= best)
            continue;
        best = gain;
        memset(uo, 0, sizeof(*uo));
        uo->active = 1;
        uo->group = (int)g;
        uo->line = i;
        uo->from_item = keep.item;
        uo->to_item = ui;
        uo->price_diff = it->price - keep.unit;
        uo->margin_gain = pc->profit - now->profit;
        uo->p_accept = p;
        uo->expected_profit = gain;
        char a[48], rw[96] = "";
        unsigned gained = pc->tiers_met & ~now->tiers_met;
        for (size_t t = 0; t < c->n_tiers; t++)
            if (gained & (1u << t)) {
                char ph[80];
                reward_phrase(m, &c->tiers[t], ph, sizeof(ph));
                say(rw, sizeof(rw), " and get %s", ph);
                break;
            }
        say(uo->text, sizeof(uo->text), "Upgrade to %s for %s more%s",
            title_of(m, ui, up),
            money(m, uo->price_diff * keep.qty, a, sizeof(a)), rw);
    }
    cw_free(pc);
}

/* Progress toward the next tier, and which add-on (if any) closes the gap
 * profitably: that one moves to the front of the decision. */
static void progress(struct ctx *x, const struct cw_priced_cart *f,
                     struct cw_decision *d, uint32_t offer_bp, double ref,
                     struct cw_incentive_result *out)
{
    const struct cw_incentive_config *c = x->c;
    const struct cw_model *m = x->m;
    struct cw_progress *pg = &out->progress;
    char ph[96], a[48], b[48];
    pg->addon = -1;
    size_t t = 0;
    while (t < c->n_tiers && (f->tiers_met & (1u << t)))
        t++;
    if (t == c->n_tiers) {
        if (c->n_tiers) {
            reward_phrase(m, &c->tiers[c->n_tiers - 1], ph, sizeof(ph));
            say(pg->message, sizeof(pg->message), "You have unlocked %s", ph);
        }
        return;
    }
    pg->active = 1;
    pg->tier = (int)t;
    pg->current = f->qualifying > 0 ? f->qualifying : 0;
    pg->target = x->thr[t];
    pg->remaining = pg->target - pg->current;
    pg->percent = (int)((i128)pg->current * 100 / pg->target);
    pg->p_reach = p_reach(c, (double)pg->remaining, ref);
    reward_phrase(m, &c->tiers[t], ph, sizeof(ph));

    int best = -1;
    double bestv = 0;
    if (d) {
        struct cw_priced_cart *pc = cw_malloc(sizeof(*pc));
        for (size_t j = 0; j < d->n_addons; j++) {
            const struct cw_item *it = &m->items[d->addons[j].variant];
            struct pline *l = &x->lines[x->n];
            memset(l, 0, sizeof(*l));
            l->sku = cw_model_sku(m, d->addons[j].variant);
            l->item = d->addons[j].variant;
            l->qty = 1;
            l->unit = it->price;
            l->ucost = it->price - it->margin;
            l->flags = CW_PRICED_NO_DISCOUNT;
            l->bundle = (int)bundle_of(c, c->n_bundles, l->sku);
            price(x, x->lines, x->n + 1, offer_bp, pc, NULL);
            if (!(pc->tiers_met & (1u << t)))
                continue;
            double delta = (double)(pc->profit - f->profit) *
                           (1 - (double)it->return_rate);
            double v = d->addons[j].p_accept * delta;
            out->closes_gap[j] = delta > 0;
            if (delta > 0 && (best < 0 || v > bestv)) {
                best = (int)j;
                bestv = v;
            }
        }
        cw_free(pc);
    }
    pg->nudge = best >= 0 && pg->p_reach >= c->threshold.min_reach;
    if (best > 0) {
        struct cw_addon keep = d->addons[best];
        int kc = out->closes_gap[best];
        memmove(&d->addons[1], &d->addons[0], (size_t)best * sizeof(keep));
        memmove(&out->closes_gap[1], &out->closes_gap[0],
                (size_t)best * sizeof(int));
        d->addons[0] = keep;
        out->closes_gap[0] = kc;
    }
    if (best >= 0)
        pg->addon = 0;
    if (pg->nudge)
        say(pg->message, sizeof(pg->message),
            "Add %s more to get %s: the %s does it",
            money(m, pg->remaining, a, sizeof(a)), ph,
            title_of(m, d->addons[0].variant,
                     cw_model_sku(m, d->addons[0].variant)));
    else
        say(pg->message, sizeof(pg->message), "%s from %s (%s to go)", ph,
            money(m, pg->target, a, sizeof(a)),
            money(m, pg->remaining, b, sizeof(b)));
    if (pg->message[0] >= 'a' && pg->message[0] <= 'z')
        pg->message[0] = (char)(pg->message[0] - 'a' + 'A');
}

/* Removes the add-ons whose offer was shown as often as this placement's
 * cap allows; returns how many. */
static size_t cap_addons(const struct cw_incentive_config *c,
                         const struct cw_model *m,
                         const struct cw_decide_req *req, const struct sess *se,
                         struct cw_decision *d)
{
    size_t kept = 0, removed = 0;
    for (size_t j = 0; j < d->n_addons; j++) {
        uint64_t key =
            offer_key("addon", cw_model_sku(m, d->addons[j].item), NULL);
        if (capped(c, req, se, key)) {
            removed++;
            continue;
        }
        if (kept != j)
            d->addons[kept] = d->addons[j];
        kept++;
    }
    d->n_addons = kept;
    return removed;
}

static int build_lines(struct ctx *x, const struct cw_decide_req *req,
                       unsigned *notes, struct cw_buf *err)
{
    const struct cw_model *m = x->m;
    if (req->n_lines > CW_CART_MAX)
        return cw_err(err, CW_ETOOBIG, "cart: %zu lines, at most %d",
                      req->n_lines, CW_CART_MAX);
    x->n = 0;
    for (size_t i = 0; i < req->n_lines; i++) {
        const struct cw_cart_line *cl = &req->lines[i];
        if (!cl->sku || !*cl->sku)
            return cw_err(err, CW_EINVAL, "cart[%zu].sku: missing", i);
        if (cl->qty <= 0 || cl->qty > CW_QTY_MAX)
            return cw_err(err, CW_EINVAL,
                          "cart[%zu].qty: must be between 1 and %d", i,
                          CW_QTY_MAX);
        if (cl->price != CW_MONEY_UNKNOWN &&
            (cl->price < 0 || cl->price > CW_PRICE_MAX))
            return cw_err(err, CW_EINVAL,
                          "cart[%zu].price: must be between 0 and %lld", i,
                          (long long)CW_PRICE_MAX);
        struct pline *l = &x->lines[x->n++];
        memset(l, 0, sizeof(*l));
        l->sku = cl->sku;
        l->qty = cl->qty;
        l->item = cw_model_find_sku(m, cl->sku);
        l->bundle = (int)bundle_of(x->c, x->c->n_bundles, cl->sku);
        if (l->item >= 0) {
            const struct cw_item *it = &m->items[l->item];
            l->unit = cl->price != CW_MONEY_UNKNOWN ? cl->price : it->price;
            l->ucost = it->price - it->margin;
            if (it->flags & CW_ITEM_MARGIN_ASSUMED)
                l->flags |= CW_PRICED_ASSUMED;
        } else if (cl->price != CW_MONEY_UNKNOWN) {
            l->unit = cl->price;
            l->ucost =
                cl->price - (int64_t)llround((double)cl->price *
                                             m->meta.default_margin_rate);
            l->flags |= CW_PRICED_ASSUMED;
        } else {
            l->flags |= CW_PRICED_UNPRICED;
            *notes |= CW_INC_NOTE_UNPRICED;
        }
    }
    return 0;
}

int cw_incentive_apply(const struct cw_model *m,
                       const struct cw_decide_req *req, struct cw_decision *d,
                       const struct cw_incentive_req *ir,
                       struct cw_incentive_result *out, struct cw_buf *err)
{
    const struct cw_incentive_config *c = ir->cfg;
    const struct cw_incentive_stats *st = ir->stats;
    memset(out, 0, sizeof(*out));
    out->progress.addon = -1;
    if (strcmp(c->currency, m->meta.currency) != 0)
        return cw_err(err, CW_EINVAL,
                      "currency: the configuration is in %s but the model's "
                      "prices are %s (no conversion is made)",
                      c->currency, m->meta.currency);
    struct ctx *x = cw_malloc(sizeof(*x));
    x->m = m;
    x->c = c;
    x->coupon = ir->session.coupon > 0 ? ir->session.coupon : 0;
    x->offer_cap = -1;
    for (size_t t = 0; t < c->n_tiers; t++)
        x->thr[t] = c->tiers[t].threshold;
    int rc = build_lines(x, req, &out->notes, err);
    if (rc < 0) {
        cw_free(x);
        return rc;
    }

    /* the session's memory, locked for the whole decision */
    struct sess local;
    memset(&local, 0, sizeof(local));
    struct sess *se = &local;
    pthread_mutex_t *lk = NULL;
    if (ir->state && ir->session.session_id) {
        uint64_t key = key_of("session", ir->session.session_id);
        lk = sess_lock(ir->state, key);
        pthread_mutex_lock(lk);
        se = sess_slot(ir->state, key, ir->now);
    }
    for (size_t i = 0; i < x->n; i++)
        if (recommended(se, key_of("sku", x->lines[i].sku))) {
            x->lines[i].flags |= CW_PRICED_NO_DISCOUNT;
            if (out->n_excluded < sizeof(out->excluded) / sizeof(char *))
                out->excluded[out->n_excluded++] = x->lines[i].sku;
        }

    struct cw_priced_cart *base = cw_malloc(sizeof(*base));
    price(x, x->lines, x->n, 0, base, NULL);
    long cu = req->customer ? cw_model_find_customer(m, req->customer) : -1;
    int64_t typical = cu >= 0 ? m->customers[cu].typical_order : 0;
    int64_t n_orders = cu >= 0 ? m->customers[cu].n_orders : 0;
    int64_t units = 0, list_margin = 0;
    for (size_t i = 0; i < x->n; i++)
        if (!(x->lines[i].flags & CW_PRICED_UNPRICED)) {
            units += x->lines[i].qty;
            list_margin +=
                x->lines[i].qty * (x->lines[i].unit - x->lines[i].ucost);
        }
    double ref = typical > 0 ? (double)typical
                 : st && st->n_orders
                     ? (double)st->order_q[CW_INC_QUANTILES / 2]
                     : (double)base->qualifying;
    double mu = base->subtotal > 0
                    ? (double)list_margin / (double)base->subtotal
                : st && st->margin_rate > 0 ? st->margin_rate
                                            : m->meta.default_margin_rate;

    /* personalized thresholds: chosen once per session, then kept */
    struct cw_threshold_choice *tc = &out->threshold;
    for (size_t t = 0; t < c->n_tiers; t++) {
        if (!c->tiers[t].n_rungs)
            continue;
        struct cw_threshold_choice tmp;
        memset(&tmp, 0, sizeof(tmp));
        struct cw_threshold_choice *w = tc->active ? &tmp : tc;
        w->active = 1;
        w->tier = (int)t;
        w->static_threshold = c->tiers[t].threshold;
        w->threshold = c->tiers[t].threshold;
        if (ir->holdout || !c->threshold.personalize) {
            say(w->why, sizeof(w->why), "%s",
                ir->holdout ? "holdout: the store's static threshold"
                            : "personalization is off: the static "
                              "threshold");
            continue;
        }
        choose_threshold(x, t, st, typical, n_orders, base->qualifying, mu,
                         units, w, &out->notes);
        if (se->thr_set & (1u << t)) {
            w->threshold = se->thr[t];
            w->sticky = 1;
        } else {
            se->thr[t] = w->threshold;
            se->thr_set |= 1u << t;
        }
        w->personalized = 1;
        x->thr[t] = w->threshold;
    }
    price(x, x->lines, x->n, 0, base, NULL);

    /* abandonment propensity and the targeted discount */
    double f[CW_PROP_NFEAT], w[CW_PROP_NFEAT + 1];
    cw_incentive_prop_features(base->qualifying, ref, n_orders > 0, units,
                               &ir->session, f);
    out->prop_trained = st && st->prop_trained;
    if (out->prop_trained)
        memcpy(w, st->prop_w, sizeof(w));
    else
        cw_incentive_prop_prior(c, w);
    out->propensity = cw_incentive_propensity(w, f);
    if (!out->prop_trained)
        out->notes |= CW_INC_NOTE_PROP_PRIOR;
    struct dctx dc = {ir,
                      req,
                      se,
                      out,
                      out->propensity,
                      st && st->uplift_learned ? st->uplift_eps
                                               : c->discount.prior_elasticity};
    uint32_t offer_bp = 0;
    out->discount.propensity = out->propensity;
    out->discount.p_buy = 1 - out->propensity;
    if (c->discount.enabled && !ir->holdout) {
        if (!(st && st->uplift_learned))
            out->notes |= CW_INC_NOTE_UPLIFT_PRIOR;
        if (!ir->state)
            out->notes |= CW_INC_NOTE_NO_STATE;
        else
            offer_bp = decide_discount(x, &dc, base);
    }
    price(x, x->lines, x->n, offer_bp, &out->cart, NULL);

    /* offers: frequency caps first, then what to show */
    if (d)
        out->addons_capped = cap_addons(c, m, req, se, d);
    progress(x, &out->cart, d, offer_bp, ref, out);
    if (!ir->holdout) {
        bundle_offer(x, req, se, offer_bp, &out->cart, &out->bundle);
        upgrade_offer(x, req, se, offer_bp, &out->cart, &out->upgrade);
    }
    if (d)
        for (size_t j = 0; j < d->n_addons; j++) {
            const char *s = cw_model_sku(m, d->addons[j].item);
            const char *v = cw_model_sku(m, d->addons[j].variant);
            offer_shown(se, offer_key("addon", s, NULL));
            remember_rec(se, key_of("sku", s));
            remember_rec(se, key_of("sku", v));
            if (out->n_excluded < sizeof(out->excluded) / sizeof(char *))
                out->excluded[out->n_excluded++] = v;
        }
    if (out->bundle.active)
        offer_shown(
            se, offer_key("bundle", c->bundles[out->bundle.bundle].name, NULL));
    if (out->upgrade.active)
        offer_shown(se,
                    offer_key("upgrade", x->lines[out->upgrade.line].sku,
                              cw_model_sku(m, (uint32_t)out->upgrade.to_item)));
    if (lk)
        pthread_mutex_unlock(lk);
    cw_free(base);
    cw_free(x);
    return 0;
}
