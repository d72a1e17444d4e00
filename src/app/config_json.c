/*
 * config_json.c: the merchant's incentive configuration as JSON text, both
 * ways, and the learned incentive statistics as JSON (for the store's meta
 * table).
 *
 * The configuration's keys are one table per JSON object, sorted by name;
 * parsing walks the text's keys through them (an unknown key is an error:
 * a typo must not silently switch an incentive off), writing walks the
 * tables, and the key list that docs/incentives.md must cover comes from
 * the same tables. Type errors are reported here with the key path
 * ("discount.max_percent: must be a number"); rules between values are
 * cw_incentive_config_validate's, which names the path the same way.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"

#define CW_APP_CONFIG_MAX (1u << 20) /* bytes of configuration text */

enum ktype {
    T_BOOL,      /* int: true/false */
    T_MONEY,     /* int64: integer minor units >= 0 */
    T_MONEY_OPT, /* int64: as T_MONEY, or null (CW_MONEY_UNKNOWN) */
    T_COUNT,     /* uint32: integer >= 0 */
    T_RATE,      /* double */
    T_PERCENT,   /* uint32 basis points from a percentage, 2 decimals */
    T_NAME,      /* char[CW_INC_SKU_MAX] */
    T_CURRENCY,  /* char[4] */
    T_SHIP,      /* enum cw_shipping_model */
    T_PACING,    /* enum cw_pacing */
    T_REWARD,    /* enum cw_reward */
    T_NESTED,    /* an object or array handled by its parent's code */
};

struct ckey {
    const char *name;
    enum ktype type;
    size_t off; /* into the object's struct */
};

#define CFG(f) offsetof(struct cw_incentive_config, f)
#define TIER(f) offsetof(struct cw_tier, f)

/* Every table sorted by name (test_config_json.c checks). */
static const struct ckey top_keys[] = {
    {"bundles", T_NESTED, 0},  {"currency", T_CURRENCY, CFG(currency)},
    {"discount", T_NESTED, 0}, {"frequency_caps", T_NESTED, 0},
    {"shipping", T_NESTED, 0}, {"threshold", T_NESTED, 0},
    {"tiers", T_NESTED, 0},    {"upgrades", T_NESTED, 0},
};
static const struct ckey shipping_keys[] = {
    {"cost", T_MONEY, CFG(shipping.cost)},
    {"express_cost", T_MONEY, CFG(shipping.express_cost)},
    {"express_fee", T_MONEY, CFG(shipping.express_fee)},
    {"fee", T_MONEY, CFG(shipping.fee)},
    {"model", T_SHIP, CFG(shipping.model)},
};
static const struct ckey threshold_keys[] = {
    {"min_reach", T_RATE, CFG(threshold.min_reach)},
    {"personalize", T_BOOL, CFG(threshold.personalize)},
    {"reach_max", T_RATE, CFG(threshold.reach_max)},
    {"reach_scale", T_RATE, CFG(threshold.reach_scale)},
};
static const struct ckey discount_keys[] = {
    {"daily_budget", T_MONEY, CFG(discount.daily_budget)},
    {"enabled", T_BOOL, CFG(discount.enabled)},
    {"expiry_minutes", T_COUNT, CFG(discount.expiry_minutes)},
    {"exploration_share", T_RATE, CFG(discount.exploration_share)},
    {"margin_floor", T_RATE, CFG(discount.margin_floor)},
    {"max_percent", T_PERCENT, CFG(discount.max_percent_bp)},
    {"pacing", T_PACING, CFG(discount.pacing)},
    {"per_customer_days", T_COUNT, CFG(discount.per_customer_days)},
    {"per_customer_max", T_COUNT, CFG(discount.per_customer_max)},
    {"prior_abandon_rate", T_RATE, CFG(discount.prior_abandon_rate)},
    {"prior_elasticity", T_RATE, CFG(discount.prior_elasticity)},
    {"propensity_threshold", T_RATE, CFG(discount.propensity_threshold)},
    {"step_percent", T_PERCENT, CFG(discount.step_bp)},
};
static const struct ckey caps_keys[] = {
    {"cart", T_COUNT, CFG(caps) + CW_PLACE_CART * sizeof(uint32_t)},
    {"checkout", T_COUNT, CFG(caps) + CW_PLACE_CHECKOUT * sizeof(uint32_t)},
    {"product", T_COUNT, CFG(caps) + CW_PLACE_PRODUCT * sizeof(uint32_t)},
};
static const struct ckey tier_keys[] = {
    {"gift_cost", T_MONEY_OPT, TIER(gift_cost)},
    {"gift_sku", T_NAME, TIER(gift_sku)},
    {"percent", T_PERCENT, TIER(percent_bp)},
    {"reward", T_REWARD, TIER(reward)},
    {"rungs", T_NESTED, 0},
    {"threshold", T_MONEY, TIER(threshold)},
};
static const struct ckey bundles_keys[] = {
    {"accept_prior", T_RATE, CFG(bundle_accept)},
    {"offers", T_NESTED, 0},
};
static const struct ckey offer_keys[] = {
    {"breaks", T_NESTED, 0},
    {"name", T_NAME, offsetof(struct cw_bundle, name)},
    {"skus", T_NESTED, 0},
};
static const struct ckey break_keys[] = {
    {"percent", T_PERCENT, offsetof(struct cw_qty_break, percent_bp)},
    {"qty", T_COUNT, offsetof(struct cw_qty_break, qty)},
};
static const struct ckey upgrades_keys[] = {
    {"accept_prior", T_RATE, CFG(upgrade_accept)},
    {"groups", T_NESTED, 0},
};
static const struct ckey group_keys[] = {
    {"name", T_NAME, offsetof(struct cw_tier_group, name)},
    {"skus", T_NESTED, 0},
};

#define N(t) (sizeof(t) / sizeof((t)[0]))

/* The tables with the path prefix of their keys, for the key list. */
static const struct {
    const char *prefix;
    const struct ckey *keys;
    size_t n;
} tables[] = {
    {"", top_keys, N(top_keys)},
    {"shipping.", shipping_keys, N(shipping_keys)},
    {"tiers[].", tier_keys, N(tier_keys)},
    {"threshold.", threshold_keys, N(threshold_keys)},
    {"discount.", discount_keys, N(discount_keys)},
    {"frequency_caps.", caps_keys, N(caps_keys)},
    {"bundles.", bundles_keys, N(bundles_keys)},
    {"bundles.offers[].", offer_keys, N(offer_keys)},
    {"bundles.offers[].breaks[].", break_keys, N(break_keys)},
    {"upgrades.", upgrades_keys, N(upgrades_keys)},
    {"upgrades.groups[].", group_keys, N(group_keys)},
};

size_t cw_app_config_keys(char out[][64], size_t max, int *sorted)
{
    size_t n = 0;
    if (sorted)
        *sorted = 1;
    for (size_t t = 0; t < N(tables); t++)
        for (size_t k = 0; k < tables[t].n; k++) {
            if (sorted && k &&
                strcmp(tables[t].keys[k - 1].name, tables[t].keys[k].name) >= 0)
                *sorted = 0;
            if (n < max)
                snprintf(out[n], 64, "%s%s", tables[t].prefix,
                         tables[t].keys[k].name);
            n++;
        }
    return n;
}

static const struct ckey *find_key(const struct ckey *keys, size_t n,
                                   const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, keys[mid].name);
        if (c == 0)
            return &keys[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* ---- JSON -> config ---------------------------------------------------- */

static int bad(struct cw_buf *err, const char *path, const char *what)
{
    return cw_err(err, CW_EINVAL, "%s: %s", path, what);
}

static int parse_money(json_t *v, const char *path, int64_t *dst,
                       struct cw_buf *err)
{
    if (!json_is_integer(v))
        return bad(err, path, "must be an integer amount in minor units");
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > CW_PRICE_MAX)
        return cw_err(err, CW_EINVAL, "%s: must be between 0 and %lld", path,
                      (long long)CW_PRICE_MAX);
    *dst = (int64_t)x;
    return 0;
}

static int parse_scalar(json_t *v, const struct ckey *k, const char *path,
                        char *base, struct cw_buf *err)
{
    void *dst = base + k->off;
    switch (k->type) {
    case T_BOOL:
        if (!json_is_boolean(v))
            return bad(err, path, "must be true or false");
        *(int *)dst = json_is_true(v);
        return 0;
    case T_MONEY:
        return parse_money(v, path, dst, err);
    case T_MONEY_OPT:
        if (json_is_null(v)) {
            *(int64_t *)dst = CW_MONEY_UNKNOWN;
            return 0;
        }
        return parse_money(v, path, dst, err);
    case T_COUNT:
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > UINT32_MAX)
            return bad(err, path, "must be a whole number >= 0");
        *(uint32_t *)dst = (uint32_t)json_integer_value(v);
        return 0;
    case T_RATE:
        if (!json_is_number(v))
            return bad(err, path, "must be a number");
        *(double *)dst = json_number_value(v);
        return 0;
    case T_PERCENT: {
        if (!json_is_number(v))
            return bad(err, path, "must be a number (percent)");
        double p = json_number_value(v);
        if (!isfinite(p) || p < 0 || p > 100)
            return bad(err, path, "must be a percentage between 0 and 100");
        double bp = p * 100;
        if (fabs(bp - round(bp)) > 1e-6)
            return bad(err, path, "at most two decimals");
        *(uint32_t *)dst = (uint32_t)llround(bp);
        return 0;
    }
    case T_NAME: {
        if (!json_is_string(v))
            return bad(err, path, "must be a string");
        size_t n = json_string_length(v);
        if (n >= CW_INC_SKU_MAX || strlen(json_string_value(v)) != n)
            return cw_err(err, CW_EINVAL, "%s: at most %d bytes, no NUL", path,
                          CW_INC_SKU_MAX - 1);
        memcpy(dst, json_string_value(v), n + 1);
        return 0;
    }
    case T_CURRENCY: {
        const char *s = json_string_value(v);
        if (!s || strlen(s) != 3)
            return bad(err, path, "must be an ISO-4217 code such as GBP");
        memcpy(dst, s, 4);
        return 0;
    }
    case T_SHIP:
        if (cw_shipping_model_parse(json_string_value(v), dst) < 0)
            return bad(err, path, "must be \"none\", \"flat\" or \"per_item\"");
        return 0;
    case T_PACING:
        if (cw_pacing_parse(json_string_value(v), dst) < 0)
            return bad(err, path, "must be \"none\" or \"even\"");
        return 0;
    case T_REWARD:
        if (cw_reward_parse(json_string_value(v), dst) < 0)
            return bad(err, path,
                       "must be \"free_shipping\", \"express_shipping\", "
                       "\"gift\" or \"percent_off\"");
        return 0;
    case T_NESTED:
        break;
    }
    return bad(err, path, "internal: not a scalar");
}

/* A nested value's parser: obj is the JSON value, base the struct. */
typedef int (*nested_fn)(json_t *v, const char *key, const char *path,
                         char *base, struct cw_buf *err);

/* Walks obj's keys through keys[]: scalars are parsed into base, nested
 * ones handed to fn. */
/* The JSON path of a member: path.name, or path[i] when name is NULL. A
 * path past SUB_MAX bytes is cut (no key of the configuration is that deep,
 * so it is only ever named in an "unknown key" error). */
#define SUB_MAX 256
static void sub_path(char out[SUB_MAX], const char *path, const char *name,
                     size_t i)
{
    int n = name
                ? snprintf(out, SUB_MAX, "%s%s%s", path, *path ? "." : "", name)
                : snprintf(out, SUB_MAX, "%s[%zu]", path, i);
    if (n < 0)
        out[0] = '\0';
}

static int parse_object(json_t *obj, const char *path, const struct ckey *keys,
                        size_t n, char *base, nested_fn fn, struct cw_buf *err)
{
    if (!json_is_object(obj))
        return bad(err, *path ? path : "(top level)", "must be an object");
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v)
    {
        char sub[SUB_MAX];
        sub_path(sub, path, name, 0);
        const struct ckey *k = find_key(keys, n, name);
        if (!k)
            return bad(err, sub, "unknown key");
        int rc = k->type == T_NESTED ? fn(v, name, sub, base, err)
                                     : parse_scalar(v, k, sub, base, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int parse_names(json_t *v, const char *path, char (*out)[CW_INC_SKU_MAX],
                       size_t max, size_t *n, struct cw_buf *err)
{
    if (!json_is_array(v))
        return bad(err, path, "must be an array of SKUs");
    if (json_array_size(v) > max)
        return cw_err(err, CW_EINVAL, "%s: at most %zu", path, max);
    static const struct ckey name = {"", T_NAME, 0};
    *n = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        char sub[SUB_MAX];
        sub_path(sub, path, NULL, i);
        int rc =
            parse_scalar(json_array_get(v, i), &name, sub, (char *)out[i], err);
        if (rc < 0)
            return rc;
        (*n)++;
    }
    return 0;
}

static int nested_none(json_t *v, const char *key, const char *path, char *base,
                       struct cw_buf *err)
{
    (void)v;
    (void)key;
    (void)base;
    return bad(err, path, "internal: unexpected nested key");
}

static int nested_tier(json_t *v, const char *key, const char *path, char *base,
                       struct cw_buf *err)
{
    struct cw_tier *t = (struct cw_tier *)base;
    (void)key; /* "rungs" */
    if (!json_is_array(v))
        return bad(err, path, "must be an array of amounts");
    if (json_array_size(v) > CW_INC_RUNGS_MAX)
        return cw_err(err, CW_EINVAL, "%s: at most %d", path, CW_INC_RUNGS_MAX);
    t->n_rungs = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        char sub[SUB_MAX];
        sub_path(sub, path, NULL, i);
        int rc = parse_money(json_array_get(v, i), sub, &t->rungs[i], err);
        if (rc < 0)
            return rc;
        t->n_rungs++;
    }
    return 0;
}

static int nested_offer(json_t *v, const char *key, const char *path,
                        char *base, struct cw_buf *err)
{
    struct cw_bundle *b = (struct cw_bundle *)base;
    if (!strcmp(key, "skus"))
        return parse_names(v, path, b->skus, CW_INC_BUNDLE_SKUS_MAX, &b->n_skus,
                           err);
    if (!json_is_array(v))
        return bad(err, path, "must be an array of breaks");
    if (json_array_size(v) > CW_INC_BREAKS_MAX)
        return cw_err(err, CW_EINVAL, "%s: at most %d", path,
                      CW_INC_BREAKS_MAX);
    b->n_breaks = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        char sub[SUB_MAX];
        sub_path(sub, path, NULL, i);
        memset(&b->breaks[i], 0, sizeof(b->breaks[i]));
        int rc =
            parse_object(json_array_get(v, i), sub, break_keys, N(break_keys),
                         (char *)&b->breaks[i], nested_none, err);
        if (rc < 0)
            return rc;
        b->n_breaks++;
    }
    return 0;
}

static int nested_group(json_t *v, const char *key, const char *path,
                        char *base, struct cw_buf *err)
{
    struct cw_tier_group *g = (struct cw_tier_group *)base;
    (void)key; /* "skus" */
    return parse_names(v, path, g->skus, CW_INC_GROUP_SKUS_MAX, &g->n_skus,
                       err);
}

static int nested_bundles(json_t *v, const char *key, const char *path,
                          char *base, struct cw_buf *err)
{
    struct cw_incentive_config *c = (struct cw_incentive_config *)base;
    int offers = !strcmp(key, "offers");
    size_t max = offers ? CW_INC_BUNDLES_MAX : CW_INC_GROUPS_MAX;
    if (!json_is_array(v))
        return bad(err, path, "must be an array");
    if (json_array_size(v) > max)
        return cw_err(err, CW_EINVAL, "%s: at most %zu", path, max);
    size_t *n = offers ? &c->n_bundles : &c->n_groups;
    *n = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        char sub[SUB_MAX];
        sub_path(sub, path, NULL, i);
        int rc;
        if (offers) {
            memset(&c->bundles[i], 0, sizeof(c->bundles[i]));
            rc = parse_object(json_array_get(v, i), sub, offer_keys,
                              N(offer_keys), (char *)&c->bundles[i],
                              nested_offer, err);
        } else {
            memset(&c->groups[i], 0, sizeof(c->groups[i]));
            rc = parse_object(json_array_get(v, i), sub, group_keys,
                              N(group_keys), (char *)&c->groups[i],
                              nested_group, err);
        }
        if (rc < 0)
            return rc;
        (*n)++;
    }
    return 0;
}

static int nested_top(json_t *v, const char *key, const char *path, char *base,
                      struct cw_buf *err)
{
    struct cw_incentive_config *c = (struct cw_incentive_config *)base;
    if (!strcmp(key, "shipping"))
        return parse_object(v, path, shipping_keys, N(shipping_keys), base,
                            nested_none, err);
    if (!strcmp(key, "threshold"))
        return parse_object(v, path, threshold_keys, N(threshold_keys), base,
                            nested_none, err);
    if (!strcmp(key, "discount"))
        return parse_object(v, path, discount_keys, N(discount_keys), base,
                            nested_none, err);
    if (!strcmp(key, "frequency_caps"))
        return parse_object(v, path, caps_keys, N(caps_keys), base, nested_none,
                            err);
    if (!strcmp(key, "bundles"))
        return parse_object(v, path, bundles_keys, N(bundles_keys), base,
                            nested_bundles, err);
    if (!strcmp(key, "upgrades"))
        return parse_object(v, path, upgrades_keys, N(upgrades_keys), base,
                            nested_bundles, err);
    /* tiers */
    if (!json_is_array(v))
        return bad(err, path, "must be an array of tiers");
    if (json_array_size(v) > CW_INC_TIERS_MAX)
        return cw_err(err, CW_EINVAL, "%s: at most %d tiers", path,
                      CW_INC_TIERS_MAX);
    c->n_tiers = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        char sub[SUB_MAX];
        sub_path(sub, path, NULL, i);
        struct cw_tier *t = &c->tiers[i];
        memset(t, 0, sizeof(*t));
        t->gift_cost = CW_MONEY_UNKNOWN;
        json_t *tv = json_array_get(v, i);
        static const char *const required[] = {"reward", "threshold"};
        for (size_t r = 0; r < 2; r++)
            if (json_is_object(tv) && !json_object_get(tv, required[r]))
                return cw_err(err, CW_EINVAL, "%s.%s: required", sub,
                              required[r]);
        int rc = parse_object(tv, sub, tier_keys, N(tier_keys), (char *)t,
                              nested_tier, err);
        if (rc < 0)
            return rc;
        c->n_tiers++;
    }
    return 0;
}

int cw_app_config_parse(const char *text, size_t n,
                        struct cw_incentive_config *out, struct cw_buf *err)
{
    if (n > CW_APP_CONFIG_MAX)
        return cw_err(err, CW_ETOOBIG, "configuration: %zu bytes, at most %u",
                      n, CW_APP_CONFIG_MAX);
    json_error_t je;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return cw_err(err, CW_EPARSE,
                      "configuration is not valid JSON: line %d, column %d: "
                      "%s",
                      je.line, je.column, je.text);
    cw_incentive_config_default(out);
    int rc = parse_object(root, "", top_keys, N(top_keys), (char *)out,
                          nested_top, err);
    json_decref(root);
    if (rc == 0)
        rc = cw_incentive_config_validate(out, err);
    return rc;
}

/* ---- config -> JSON ------------------------------------------------------ */

static json_t *scalar_json(const struct ckey *k, const char *base)
{
    const void *src = base + k->off;
    switch (k->type) {
    case T_BOOL:
        return json_boolean(*(const int *)src);
    case T_MONEY:
        return json_integer(*(const int64_t *)src);
    case T_MONEY_OPT:
        return *(const int64_t *)src == CW_MONEY_UNKNOWN
                   ? json_null()
                   : json_integer(*(const int64_t *)src);
    case T_COUNT:
        return json_integer(*(const uint32_t *)src);
    case T_RATE:
        return json_real(*(const double *)src);
    case T_PERCENT: {
        uint32_t bp = *(const uint32_t *)src;
        return bp % 100 ? json_real(bp / 100.0) : json_integer(bp / 100);
    }
    case T_NAME:
    case T_CURRENCY:
        return json_string((const char *)src);
    case T_SHIP:
        return json_string(
            cw_shipping_model_name(*(const enum cw_shipping_model *)src));
    case T_PACING:
        return json_string(cw_pacing_name(*(const enum cw_pacing *)src));
    case T_REWARD:
        return json_string(cw_reward_name(*(const enum cw_reward *)src));
    case T_NESTED:
        break;
    }
    return json_null();
}

static json_t *object_json(const struct ckey *keys, size_t n, const char *base)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        if (keys[i].type != T_NESTED)
            json_object_set_new(o, keys[i].name, scalar_json(&keys[i], base));
    return o;
}

static json_t *names_json(const char (*names)[CW_INC_SKU_MAX], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

void cw_app_config_json(const struct cw_incentive_config *c, struct cw_buf *out)
{
    const char *base = (const char *)c;
    json_t *root = json_object();
    json_object_set_new(root, "currency", json_string(c->currency));
    json_object_set_new(root, "shipping",
                        object_json(shipping_keys, N(shipping_keys), base));
    json_t *tiers = json_array();
    for (size_t i = 0; i < c->n_tiers; i++) {
        const struct cw_tier *t = &c->tiers[i];
        json_t *o = json_object();
        json_object_set_new(o, "reward",
                            json_string(cw_reward_name(t->reward)));
        json_object_set_new(o, "threshold", json_integer(t->threshold));
        json_t *r = json_array();
        for (size_t k = 0; k < t->n_rungs; k++)
            json_array_append_new(r, json_integer(t->rungs[k]));
        json_object_set_new(o, "rungs", r);
        if (t->reward == CW_REWARD_PERCENT_OFF)
            json_object_set_new(
                o, "percent",
                scalar_json(find_key(tier_keys, N(tier_keys), "percent"),
                            (const char *)t));
        if (t->reward == CW_REWARD_GIFT) {
            json_object_set_new(o, "gift_sku", json_string(t->gift_sku));
            json_object_set_new(
                o, "gift_cost",
                scalar_json(find_key(tier_keys, N(tier_keys), "gift_cost"),
                            (const char *)t));
        }
        json_array_append_new(tiers, o);
    }
    json_object_set_new(root, "tiers", tiers);
    json_object_set_new(root, "threshold",
                        object_json(threshold_keys, N(threshold_keys), base));
    json_object_set_new(root, "discount",
                        object_json(discount_keys, N(discount_keys), base));
    json_object_set_new(root, "frequency_caps",
                        object_json(caps_keys, N(caps_keys), base));
    json_t *bundles = object_json(bundles_keys, N(bundles_keys), base);
    json_t *offers = json_array();
    for (size_t i = 0; i < c->n_bundles; i++) {
        const struct cw_bundle *b = &c->bundles[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(b->name));
        json_object_set_new(o, "skus", names_json(b->skus, b->n_skus));
        json_t *br = json_array();
        for (size_t k = 0; k < b->n_breaks; k++)
            json_array_append_new(br, object_json(break_keys, N(break_keys),
                                                  (const char *)&b->breaks[k]));
        json_object_set_new(o, "breaks", br);
        json_array_append_new(offers, o);
    }
    json_object_set_new(bundles, "offers", offers);
    json_object_set_new(root, "bundles", bundles);
    json_t *upgrades = object_json(upgrades_keys, N(upgrades_keys), base);
    json_t *groups = json_array();
    for (size_t i = 0; i < c->n_groups; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(c->groups[i].name));
        json_object_set_new(o, "skus",
                            names_json(c->groups[i].skus, c->groups[i].n_skus));
        json_array_append_new(groups, o);
    }
    json_object_set_new(upgrades, "groups", groups);
    json_object_set_new(root, "upgrades", upgrades);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                   JSON_REAL_PRECISION(12));
    cw_buf_adds(out, s ? s : "null");
    free(s); /* jansson's */
    json_decref(root);
}

/* ---- the store -------------------------------------------------------------
 */

int cw_app_config_load(struct cw_store *s, struct cw_incentive_config *out,
                       struct cw_buf *err)
{
    char *text = NULL;
    struct cw_buf serr = CW_BUF_INIT, perr = CW_BUF_INIT;
    int rc = s->ops->meta_get(s, CW_APP_META_CONFIG, &text, &serr);
    if (rc == CW_ENOENT)
        cw_err(err, rc, "no incentive configuration: `cartwise config set`");
    else if (rc < 0)
        cw_err(err, rc, "cannot read the configuration: %s",
               serr.len ? cw_buf_str(&serr) : cw_strerror(rc));
    else if ((rc = cw_app_config_parse(text, strlen(text), out, &perr)) < 0)
        cw_err(err, rc, "the stored configuration is invalid: %s",
               cw_buf_str(&perr));
    cw_free(text);
    cw_buf_release(&serr);
    cw_buf_release(&perr);
    return rc;
}

int cw_app_config_store(struct cw_store *s, const char *text, size_t n,
                        struct cw_incentive_config *out, struct cw_buf *err)
{
    int rc = cw_app_config_parse(text, n, out, err);
    if (rc < 0)
        return rc;
    struct cw_buf canon = CW_BUF_INIT, serr = CW_BUF_INIT;
    cw_app_config_json(out, &canon);
    rc = s->ops->meta_set(s, CW_APP_META_CONFIG, cw_buf_str(&canon), &serr);
    if (rc < 0)
        cw_err(err, rc, "cannot store the configuration: %s",
               serr.len ? cw_buf_str(&serr) : cw_strerror(rc));
    cw_buf_release(&canon);
    cw_buf_release(&serr);
    return rc;
}

/* ---- learned statistics
 * ------------------------------------------------------ */

void cw_app_stats_json(const struct cw_incentive_stats *st, struct cw_buf *out)
{
    json_t *root = json_object();
    json_t *q = json_array();
    for (int i = 0; i < CW_INC_QUANTILES; i++)
        json_array_append_new(q, json_integer(st->order_q[i]));
    json_object_set_new(root, "order_quantiles", q);
    json_object_set_new(root, "orders", json_integer((json_int_t)st->n_orders));
    json_object_set_new(root, "margin_rate", json_real(st->margin_rate));
    json_t *p = json_object();
    json_object_set_new(p, "trained", json_boolean(st->prop_trained));
    json_object_set_new(p, "sessions",
                        json_integer((json_int_t)st->prop_sessions));
    json_object_set_new(p, "abandon_rate", json_real(st->prop_abandon_rate));
    json_t *w = json_object();
    json_object_set_new(w, "bias", json_real(st->prop_w[0]));
    for (int k = 0; k < CW_PROP_NFEAT; k++)
        json_object_set_new(w, cw_prop_feature_name((enum cw_prop_feature)k),
                            json_real(st->prop_w[k + 1]));
    json_object_set_new(p, "weights", w);
    json_object_set_new(root, "propensity", p);
    json_t *u = json_object();
    json_object_set_new(u, "learned", json_boolean(st->uplift_learned));
    json_object_set_new(u, "elasticity", json_real(st->uplift_eps));
    json_object_set_new(u, "treated",
                        json_integer((json_int_t)st->uplift_treated));
    json_object_set_new(u, "control",
                        json_integer((json_int_t)st->uplift_control));
    json_object_set_new(root, "uplift", u);
    char *s = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
    cw_buf_adds(out, s ? s : "null");
    free(s); /* jansson's */
    json_decref(root);
}

static double num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

int cw_app_stats_parse(const char *text, struct cw_incentive_stats *out,
                       struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    json_t *root = json_loads(text, 0, NULL);
    json_t *q = json_object_get(root, "order_quantiles");
    json_t *p = json_object_get(root, "propensity");
    json_t *u = json_object_get(root, "uplift");
    json_t *w = json_object_get(p, "weights");
    if (!json_is_object(root) || json_array_size(q) != CW_INC_QUANTILES ||
        !json_is_object(p) || !json_is_object(u) || !json_is_object(w)) {
        json_decref(root);
        return cw_err(err, CW_ECORRUPT, "incentive statistics are damaged");
    }
    for (int i = 0; i < CW_INC_QUANTILES; i++)
        out->order_q[i] = json_integer_value(json_array_get(q, (size_t)i));
    out->n_orders =
        (uint64_t)json_integer_value(json_object_get(root, "orders"));
    out->margin_rate = num(root, "margin_rate");
    out->prop_trained = json_is_true(json_object_get(p, "trained"));
    out->prop_sessions =
        (uint64_t)json_integer_value(json_object_get(p, "sessions"));
    out->prop_abandon_rate = num(p, "abandon_rate");
    out->prop_w[0] = num(w, "bias");
    for (int k = 0; k < CW_PROP_NFEAT; k++)
        out->prop_w[k + 1] =
            num(w, cw_prop_feature_name((enum cw_prop_feature)k));
    out->uplift_learned = json_is_true(json_object_get(u, "learned"));
    out->uplift_eps = num(u, "elasticity");
    out->uplift_treated =
        (uint64_t)json_integer_value(json_object_get(u, "treated"));
    out->uplift_control =
        (uint64_t)json_integer_value(json_object_get(u, "control"));
    json_decref(root);
    return 0;
}

int cw_app_stats_load(struct cw_store *s, struct cw_incentive_stats *out,
                      struct cw_buf *err)
{
    char *text = NULL;
    struct cw_buf serr = CW_BUF_INIT;
    int rc = s->ops->meta_get(s, CW_APP_META_INC_STATS, &text, &serr);
    if (rc == 0)
        rc = cw_app_stats_parse(text, out, err);
    else if (rc == CW_ENOENT)
        cw_err(err, rc, "no incentive statistics: train a model");
    else
        cw_err(err, rc, "cannot read the incentive statistics: %s",
               serr.len ? cw_buf_str(&serr) : cw_strerror(rc));
    cw_free(text);
    cw_buf_release(&serr);
    return rc;
}
