/*
 * simulate.c: replaying held-out baskets as shoppers who react to what the
 * engine shows (cw_simulate.h states the shopper model).
 *
 * The split, universe and margins are the evaluator's (protocol_int.h), the
 * arm comes from cw_experiment_assign and the add-ons from cw_decide with
 * the arm's flags, so the simulation exercises exactly what serves
 * POST /v1/decide. Outcomes are decided by the real basket and by random
 * draws keyed on (seed, basket, replay, what, sku): a shopper's hidden
 * traits and each item's draws are the same whichever arm the shopper lands
 * in, which is what makes an A/A run an A/A run and keeps arms comparable.
 * Revenue and profit are in the data's major units: a line's profit is
 * qty x (price - cost), or qty x price x the benchmark's assumed rate of the
 * sku where the cost is unknown; an accepted add-on that was not in the
 * basket sells one unit at the model's (median training) price and margin.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_eval.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_kpi.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_simulate.h"
#include "protocol_int.h"

void cw_sim_opts_default(struct cw_sim_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->replays = 1;
    o->k = 3;
    o->p_self = 0.85;
    o->p_hit = 0.70;
    o->p_other = 0.06;
    o->abandon_mean = 0.25;
    o->distraction = 0;
    o->topup_max = 0.30;
    o->discount_response = 0.005;
    cw_train_params_default(&o->train);
}

void cw_sim_result_release(struct cw_sim_result *r)
{
    if (!r)
        return;
    cw_free(r->units);
    r->units = NULL;
    r->n_units = 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- random draws ---- */

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

enum draw_tag {
    D_ARRIVE = 1, /* how much of the basket the shopper arrives with */
    D_ABANDON_TRAIT,
    D_PRICE_TRAIT,
    D_ABANDON,
    D_SELF,  /* finds a remaining item unprompted; per sku */
    D_HIT,   /* adds a shown remaining item; per sku */
    D_OTHER, /* adds a shown item not in the basket; per sku */
    D_TOPUP, /* tolerance for topping up to a reward tier */
};

/* A uniform in (0, 1), a pure function of the shopper, the tag and the sku
 * (NULL for per-shopper draws). */
static double draw(uint64_t shopper, enum draw_tag tag, const char *sku)
{
    uint64_t x = shopper ^ splitmix64((uint64_t)tag);
    if (sku)
        x ^= cw_xxh3(sku, strlen(sku));
    x = splitmix64(splitmix64(x));
    return ((double)(x >> 11) + 0.5) / 9007199254740992.0;
}

/* ---- per-basket items ---- */

struct bitem {
    uint32_t sku;   /* dataset sku id */
    double qty;     /* summed over the basket's lines of the sku */
    double revenue; /* qty x price, unknown prices count 0 */
    double profit;
    double price; /* first known unit price, NAN if none */
    int shown;    /* shown by the engine in this session */
};

static size_t basket_items(const struct cw_dataset *ds, uint32_t b,
                           struct bitem *it, uint32_t *slot, uint32_t stamp,
                           uint32_t *seen)
{
    size_t n = 0;
    for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
        size_t l = ds->b_line[li];
        uint32_t s = ds->l_item[l];
        if (seen[s] != stamp) {
            seen[s] = stamp;
            slot[s] = (uint32_t)n;
            it[n] = (struct bitem){s, 0, 0, 0, NAN, 0};
            n++;
        }
        struct bitem *x = &it[slot[s]];
        double q = ds->l_qty[l], p = ds->l_price[l], c = ds->l_cost[l];
        x->qty += q;
        if (isnan(p))
            continue;
        if (isnan(x->price))
            x->price = p;
        x->revenue += q * p;
        x->profit +=
            q * (!isnan(c) ? p - c : p * cw_eval_margin_rate(ds->skus.keys[s]));
    }
    return n;
}

/* ---- units ---- */

struct units {
    struct cw_intern ids;
    struct cw_stats_unit *u;
    size_t cap;
};

static struct cw_stats_unit *unit_of(struct units *us, const char *id,
                                     uint32_t arm, double pre_spend)
{
    int added = 0;
    uint32_t k = cw_intern_add(&us->ids, id, strlen(id), &added);
    if (added) {
        CW_GROW(us->u, us->cap, (size_t)k + 1);
        memset(&us->u[k], 0, sizeof(us->u[k])); /* padding too */
        us->u[k].arm = arm;
        us->u[k].pre_spend = pre_spend;
    }
    return &us->u[k];
}

static void set_default_experiment(struct cw_experiment *e,
                                   const struct cw_sim_opts *o)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s",
             o->aa ? "simulation-aa" : "simulation");
    snprintf(e->salt, sizeof(e->salt), "sim-%llu", (unsigned long long)o->seed);
    e->unit = CW_EXP_UNIT_CUSTOMER;
    e->n_arms = 2;
    if (o->aa) {
        e->arms[0] = (struct cw_arm){"a", CW_ARM_PROFIT, 5000};
        e->arms[1] = (struct cw_arm){"b", CW_ARM_PROFIT, 5000};
    } else {
        e->arms[0] = (struct cw_arm){"holdout", CW_ARM_HOLDOUT, 5000};
        e->arms[1] = (struct cw_arm){"profit", CW_ARM_PROFIT, 5000};
    }
}

static int check_opts(const struct cw_sim_opts *o, struct cw_buf *err)
{
    const struct {
        const char *name;
        double v;
    } p[] = {{"p_self", o->p_self},
             {"p_hit", o->p_hit},
             {"p_other", o->p_other},
             {"abandon_mean", o->abandon_mean},
             {"distraction", o->distraction}};
    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
        if (!(p[i].v >= 0 && p[i].v <= 1))
            return cw_err(err, CW_EINVAL, "%s must be in [0, 1], not %g",
                          p[i].name, p[i].v);
    if (o->abandon_mean <= 0 || o->abandon_mean >= 1)
        return cw_err(err, CW_EINVAL, "abandon_mean must be in (0, 1)");
    if (!(o->lift > -1 && o->lift < 100))
        return cw_err(err, CW_EINVAL, "lift must be in (-1, 100), not %g",
                      o->lift);
    if (o->k > CW_DECIDE_MAX)
        return cw_err(err, CW_EINVAL, "k: at most %d", CW_DECIDE_MAX);
    if (o->replays > 1000)
        return cw_err(err, CW_EINVAL, "replays: at most 1000");
    return 0;
}

/* Everything one run needs, so the session loop stays readable. */
struct sim {
    const struct cw_dataset *ds;
    const struct cw_sim_opts *o;
    struct cw_sim_result *out;
    struct cw_model m;
    struct cw_scratch *scratch;
    struct cw_decision d;
    struct cw_cart_line cart[CW_CART_MAX];
    double price_scale;  /* 10^currency exponent */
    double *cust_spend;  /* per dataset customer: spend in train baskets */
    struct bitem *items; /* one basket's items */
    uint32_t *slot, *seen;
    uint32_t stamp;
    struct units units;
    double logit_abandon;
    /* incentives: a state per arm's world, [CW_EXP_ARMS_MAX] the
     * experiment's; the result; the final cart's extra lines */
    struct cw_incentive_state *istate[CW_EXP_ARMS_MAX + 1];
    struct cw_incentive_result *inc;
    uint8_t *take;
    const char *xsku[CW_DECIDE_MAX + 1];
    double xqty[CW_DECIDE_MAX + 1], xprice[CW_DECIDE_MAX + 1];
};

/* What one shopper did in one arm. */
struct outcome {
    int order;
    double revenue, profit;
};

/* The shopper being played: its draws, basket split, identity, clock. */
struct shopper {
    uint64_t key; /* seeds every draw */
    size_t n, arrive;
    const char *cust, *sid;
    int64_t now; /* the basket's time, unix seconds */
};

/* Fills S->cart with items [from, to) of the basket plus extra lines (not
 * NULL: sku, qty, unit price in major units); returns the line count. */
static size_t fill_cart(struct sim *S, const uint8_t *take, size_t n,
                        const char *const *xsku, const double *xqty,
                        const double *xprice, size_t nx)
{
    size_t nc = 0;
    for (size_t i = 0; i < n && nc < CW_CART_MAX; i++) {
        const struct bitem *x = &S->items[i];
        if (!take[i])
            continue;
        int64_t q = (int64_t)llround(x->qty);
        S->cart[nc++] = (struct cw_cart_line){
            S->ds->skus.keys[x->sku], q > 0 ? q : 1,
            isnan(x->price) || x->price < 0
                ? CW_MONEY_UNKNOWN
                : (int64_t)llround(x->price * S->price_scale)};
    }
    for (size_t j = 0; j < nx && nc < CW_CART_MAX; j++) {
        int64_t q = (int64_t)llround(xqty[j]);
        S->cart[nc++] =
            (struct cw_cart_line){xsku[j], q > 0 ? q : 1,
                                  (int64_t)llround(xprice[j] * S->price_scale)};
    }
    return nc;
}

/* cw_incentive_apply for the cart in S->cart, the decision S->d. */
static int incentives(struct sim *S, const struct shopper *sh, size_t nc,
                      const struct cw_arm *arm,
                      struct cw_incentive_state *state, struct cw_buf *err)
{
    struct cw_decide_req req = {
        S->cart, nc, sh->cust, CW_PLACE_CART, S->o->k ? S->o->k : CW_DECIDE_MAX,
        0};
    struct cw_incentive_req ir = {
        S->o->incentives,         S->o->inc_stats, state,
        {sh->sid, -1, -1, -1, 0}, sh->now,         arm->kind == CW_ARM_HOLDOUT};
    return cw_incentive_apply(&S->m, &req, &S->d, &ir, S->inc, err);
}

/*
 * The shopper sh in arm `arm`. Counts what happened into as when it is not
 * NULL (the arm the shopper really is in; the other arms are evaluated only
 * for the counterfactual truth). state is the incentive state of the world
 * the shopper is played in.
 */
static int play(struct sim *S, const struct shopper *sh,
                const struct cw_arm *arm, struct cw_incentive_state *state,
                struct cw_sim_arm *as, struct outcome *res, struct cw_buf *err)
{
    const struct cw_dataset *ds = S->ds;
    const struct cw_sim_opts *o = S->o;
    size_t n = sh->n, arrive = sh->arrive;
    struct cw_sim_arm dummy;
    memset(&dummy, 0, sizeof(dummy));
    if (!as)
        as = &dummy;
    double arrive_rev = 0, arrive_profit = 0;
    for (size_t i = 0; i < n; i++) {
        S->items[i].shown = 0;
        S->take[i] = i < arrive;
    }
    for (size_t i = 0; i < arrive; i++) {
        arrive_rev += S->items[i].revenue;
        arrive_profit += S->items[i].profit;
    }
    double revenue = arrive_rev, profit = arrive_profit;
    double beta = 2 + 6 * draw(sh->key, D_PRICE_TRAIT, NULL);
    size_t nx = 0; /* accepted add-ons not in the basket */

    /* what this arm shows */
    size_t shown = 0, taken = 0;
    size_t nc = fill_cart(S, S->take, n, NULL, NULL, NULL, 0);
    int inc = o->incentives != NULL;
    memset(&S->d, 0, sizeof(S->d));
    if (cw_arm_shows_addons(arm) || inc) {
        struct cw_decide_req req = {S->cart,  nc,
                                    sh->cust, CW_PLACE_CART,
                                    o->k,     cw_arm_decide_flags(arm)};
        int rc = cw_decide(&S->m, S->scratch, &req, &S->d, err);
        if (rc)
            return rc;
        if (!cw_arm_shows_addons(arm))
            S->d.n_addons = 0;
    }
    /* the incentives on the cart as the shopper arrives: a discount
     * offer and the progress toward the next tier */
    double discount_pct = 0, target = 0;
    int closer = -1;
    if (inc) {
        int rc = incentives(S, sh, nc, arm, state, err);
        if (rc)
            return rc;
        if (S->inc->discount.active)
            discount_pct = S->inc->discount.percent_bp / 100.0;
        if (S->inc->progress.active && S->inc->progress.remaining > 0) {
            target = (double)S->inc->progress.target / S->price_scale;
            closer = S->inc->progress.addon;
        }
    }
    int closer_taken = 0;
    for (size_t j = 0; j < S->d.n_addons; j++) {
        const struct cw_addon *ad = &S->d.addons[j];
        const char *vs = cw_model_sku(&S->m, ad->variant);
        const char *is = cw_model_sku(&S->m, ad->item);
        shown++;
        int real = 0;
        for (size_t i = arrive; i < n && !real; i++) {
            const char *k = ds->skus.keys[S->items[i].sku];
            if (!strcmp(k, vs) || !strcmp(k, is)) {
                S->items[i].shown = 1;
                real = 1;
            }
        }
        if (real)
            continue;
        const struct cw_item *it = &S->m.items[ad->variant];
        double price = (double)it->price / S->price_scale;
        double ratio = arrive_rev > 0 ? price / arrive_rev : 1;
        double p = o->p_other * exp(-beta * ratio);
        if (draw(sh->key, D_OTHER, vs) < p) {
            double mg = (double)it->margin / S->price_scale;
            revenue += price;
            profit += mg;
            taken++;
            closer_taken |= (int)j == closer;
            as->accepted_other++;
            as->addon_revenue += price;
            as->addon_profit += mg;
            S->xsku[nx] = vs;
            S->xqty[nx] = 1;
            S->xprice[nx++] = price;
        }
    }
    as->shown += shown;
    as->decisions_shown += shown > 0;
    /* the rest of the real basket */
    for (size_t i = arrive; i < n; i++) {
        const struct bitem *x = &S->items[i];
        const char *k = ds->skus.keys[x->sku];
        int hit = x->shown && draw(sh->key, D_HIT, k) < o->p_hit;
        int self = draw(sh->key, D_SELF, k) < o->p_self;
        if (hit) {
            taken++;
            as->accepted_real++;
            as->recovered += !self;
            as->addon_revenue += x->revenue;
            as->addon_profit += x->profit;
        }
        if (hit || self) {
            revenue += x->revenue;
            profit += x->profit;
            S->take[i] = 1;
        }
    }
    /* a shopper near a reward tier tops up when the gap is within its
     * hidden tolerance: with the add-on that closes it when one is shown,
     * else with more units of its cheapest line */
    if (target > revenue && target - revenue <= draw(sh->key, D_TOPUP, NULL) *
                                                    o->topup_max * revenue) {
        double need = target - revenue;
        if (closer >= 0 && !closer_taken && (size_t)closer < S->d.n_addons) {
            const struct cw_addon *ad = &S->d.addons[closer];
            const struct cw_item *it = &S->m.items[ad->variant];
            double price = (double)it->price / S->price_scale;
            double units = ceil(need / fmax(price, 0.01));
            revenue += units * price;
            profit += units * (double)it->margin / S->price_scale;
            S->xsku[nx] = cw_model_sku(&S->m, ad->variant);
            S->xqty[nx] = units;
            S->xprice[nx++] = price;
            as->topups++;
        } else {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < arrive; i++)
                if (S->items[i].price > 0 &&
                    (best == SIZE_MAX ||
                     S->items[i].price < S->items[best].price))
                    best = i;
            if (best != SIZE_MAX) {
                const struct bitem *x = &S->items[best];
                double units = ceil(need / x->price);
                revenue += units * x->price;
                profit += units * x->profit / x->qty;
                S->xsku[nx] = ds->skus.keys[x->sku];
                S->xqty[nx] = units;
                S->xprice[nx++] = x->price;
                as->topups++;
            }
        }
    }
    /* abandonment: the hidden propensity (plus the distraction knob); a
     * discount wins back a share that grows with the shopper's hidden
     * price sensitivity */
    double z = cw_stats_norm_quantile(draw(sh->key, D_ABANDON_TRAIT, NULL));
    double prop = 1 / (1 + exp(-(S->logit_abandon + z)));
    prop += o->distraction * (double)(shown - taken);
    if (discount_pct > 0)
        prop *= exp(-o->discount_response * beta * discount_pct);
    int abandoned = draw(sh->key, D_ABANDON, NULL) < prop;
    /* what the checkout charges for the final cart: discounts, tier
     * rewards and shipping, priced by the incentive engine itself */
    if (inc && !abandoned) {
        nc = fill_cart(S, S->take, n, S->xsku, S->xqty, S->xprice, nx);
        memset(&S->d, 0, sizeof(S->d));
        int rc = incentives(S, sh, nc, arm, state, err);
        if (rc)
            return rc;
        const struct cw_priced_cart *pc = &S->inc->cart;
        double off = (double)(pc->offer_discount + pc->tier_discount +
                              pc->bundle_discount) /
                     S->price_scale;
        double ship =
            (double)(pc->shipping - pc->shipping_cost) / S->price_scale;
        revenue -= off;
        profit += -off + ship - (double)pc->gift_cost / S->price_scale;
        as->discounts += pc->offer_discount > 0;
        as->discount_cost += off;
        as->reward_cost +=
            (double)(pc->gift_cost + pc->shipping_cost - pc->shipping) /
            S->price_scale;
    }
    as->abandoned += abandoned;
    as->sessions++;
    res->order = !abandoned;
    res->revenue = abandoned ? 0 : revenue;
    res->profit = abandoned ? 0 : profit;
    return 0;
}

/* Sums over every simulated session had it been in arm k. */
struct twin {
    double sessions, orders, revenue, profit;
};

/* One shopper: test basket b, replay r. */
static int session(struct sim *S, uint32_t b, unsigned r, struct twin *tw,
                   struct cw_buf *err)
{
    const struct cw_dataset *ds = S->ds;
    const struct cw_sim_opts *o = S->o;
    struct cw_sim_result *out = S->out;
    const char *bid = ds->baskets.keys[b];
    char sid[512];
    if (o->replays > 1)
        snprintf(sid, sizeof(sid), "%s#%u", bid, r);
    else
        snprintf(sid, sizeof(sid), "%s", bid);
    struct shopper sh;
    sh.key = splitmix64(o->seed ^ splitmix64(cw_xxh3(bid, strlen(bid)) + r));
    sh.n = basket_items(ds, b, S->items, S->slot, ++S->stamp, S->seen);
    sh.arrive = sh.n;
    if (sh.n >= 2)
        sh.arrive =
            1 + (size_t)(draw(sh.key, D_ARRIVE, NULL) * (double)(sh.n - 1));
    if (sh.arrive >= sh.n && sh.n >= 2)
        sh.arrive = sh.n - 1;
    int32_t cu = ds->b_cust[b];
    const char *cust = cu >= 0 ? ds->customers.keys[cu] : NULL;
    sh.cust = cust;
    sh.sid = sid;
    if (cw_kpi_parse_ts(ds->b_ts[b], &sh.now) < 0)
        sh.now = 0;

    const struct cw_arm *arm = cw_experiment_assign(&out->exp, cust, sid, NULL);
    size_t a = (size_t)(arm - out->exp.arms);
    out->sessions++;

    /* the shopper in its arm, in the experiment's world (one incentive
     * state for every arm, as in production) */
    struct outcome res;
    int rc =
        play(S, &sh, arm, S->istate[CW_EXP_ARMS_MAX], &out->arms[a], &res, err);
    if (rc)
        return rc;
    /* and in every arm's own world, for the truth (same draws) */
    for (size_t k = 0; k < out->exp.n_arms; k++) {
        struct outcome ok = res;
        if (o->incentives || k != a) {
            rc = play(S, &sh, &out->exp.arms[k], S->istate[k], NULL, &ok, err);
            if (rc)
                return rc;
        }
        double f = o->lift != 0 && k == 1 ? 1 + o->lift : 1;
        tw[k].sessions += 1;
        tw[k].orders += ok.order;
        tw[k].revenue += ok.revenue * f;
        tw[k].profit += ok.profit * f;
    }
    if (o->lift != 0 && a == 1) {
        res.revenue *= 1 + o->lift;
        res.profit *= 1 + o->lift;
    }

    const char *uid = cw_experiment_unit(&out->exp, cust, sid);
    double pre = cu >= 0 ? S->cust_spend[cu] : 0;
    struct cw_stats_unit *u = unit_of(&S->units, uid, (uint32_t)a, pre);
    u->sessions += 1;
    u->orders += res.order;
    u->revenue += res.revenue;
    u->profit += res.profit;
    return 0;
}

int cw_sim_run(const struct cw_dataset *ds, const struct cw_sim_opts *o,
               struct cw_sim_result *out, struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    for (size_t k = 0; k < CW_EXP_ARMS_MAX; k++)
        for (size_t m = 0; m < CW_METRIC__COUNT; m++)
            out->truth[k][m] = NAN;
    if (!ds->finished)
        return cw_err(err, CW_EINVAL, "dataset not finished");
    int rc = check_opts(o, err);
    if (rc)
        return rc;
    struct cw_sim_opts oo = *o;
    if (oo.lift != 0)
        oo.aa = 1;
    if (!oo.k)
        oo.k = CW_DECIDE_MAX;
    if (!oo.replays)
        oo.replays = 1;
    if (oo.exp && !oo.aa) {
        if ((rc = cw_experiment_validate(oo.exp, err)))
            return rc;
        out->exp = *oo.exp;
    } else {
        set_default_experiment(&out->exp, &oo);
    }
    size_t nb = ds->baskets.n, ntrain = cw__protocol_ntrain(nb);
    if (ntrain < 2 || nb - ntrain < 1)
        return cw_err(err, CW_ENODATA, "not enough baskets to simulate: %zu",
                      nb);
    out->baskets = nb;
    out->train_baskets = ntrain;
    out->test_baskets = nb - ntrain;

    struct sim *S = cw_calloc(1, sizeof(*S));
    S->ds = ds;
    S->o = &oo;
    S->out = out;
    const char *cutoff = ds->b_ts[ds->order[ntrain - 1]];
    double *margin = cw__protocol_margins(ds, cutoff);
    struct cw__margin_ctx mc = {ds, margin};
    struct cw_train_input in = {0};
    in.ds = ds;
    in.baskets = ds->order;
    in.n_baskets = ntrain;
    in.unit_margin = cw__protocol_margin_of;
    in.unit_margin_ctx = &mc;
    double t0 = now_s();
    rc = cw_train(&S->m, &in, &oo.train, err);
    out->train_s = now_s() - t0;
    cw_free(margin);
    if (rc) {
        cw_free(S);
        return rc;
    }
    S->scratch = cw_scratch_new(&S->m);
    S->price_scale = pow(10, S->m.meta.currency_exp);
    S->logit_abandon = log(oo.abandon_mean / (1 - oo.abandon_mean));
    S->cust_spend = cw_calloc(ds->customers.n + 1, sizeof(*S->cust_spend));
    for (size_t x = 0; x < ntrain; x++) {
        uint32_t b = ds->order[x];
        if (ds->b_cust[b] < 0)
            continue;
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            size_t l = ds->b_line[li];
            if (!isnan(ds->l_price[l]))
                S->cust_spend[ds->b_cust[b]] += ds->l_qty[l] * ds->l_price[l];
        }
    }
    S->items = cw_malloc((ds->skus.n + 1) * sizeof(*S->items));
    S->slot = cw_malloc((ds->skus.n + 1) * sizeof(*S->slot));
    S->seen = cw_calloc(ds->skus.n + 1, sizeof(*S->seen));
    S->take = cw_calloc(ds->skus.n + 1, 1);
    if (oo.incentives) {
        S->inc = cw_malloc(sizeof(*S->inc));
        for (size_t k = 0; k <= CW_EXP_ARMS_MAX; k++)
            if (k < out->exp.n_arms || k == CW_EXP_ARMS_MAX)
                S->istate[k] = cw_incentive_state_new(0, 0, 0);
    }
    cw_intern_init(&S->units.ids);

    struct twin tw[CW_EXP_ARMS_MAX];
    memset(tw, 0, sizeof(tw));
    t0 = now_s();
    for (size_t x = ntrain; x < nb && !rc; x++)
        for (unsigned r = 0; r < oo.replays && !rc; r++)
            rc = session(S, ds->order[x], r, tw, err);
    out->sim_s = now_s() - t0;

    if (!rc) {
        out->units = S->units.u;
        out->n_units = S->units.ids.n;
        S->units.u = NULL;
        /* the truth: every session in arm k against every session in the
         * control arm, as population ratios */
        size_t c = cw_experiment_control(&out->exp);
        for (size_t k = 0; k < out->exp.n_arms; k++) {
            if (k == c)
                continue;
            const struct twin *t = &tw[k], *h = &tw[c];
            double *v = out->truth[k];
            v[CW_METRIC_CONVERSION] =
                t->orders / t->sessions - h->orders / h->sessions;
            v[CW_METRIC_AOV] =
                t->orders > 0 && h->orders > 0
                    ? t->revenue / t->orders - h->revenue / h->orders
                    : NAN;
            v[CW_METRIC_REVENUE_PER_SESSION] =
                t->revenue / t->sessions - h->revenue / h->sessions;
            v[CW_METRIC_PROFIT_PER_SESSION] =
                t->profit / t->sessions - h->profit / h->sessions;
            v[CW_METRIC_PROFIT_PER_ORDER] =
                t->orders > 0 && h->orders > 0
                    ? t->profit / t->orders - h->profit / h->orders
                    : NAN;
        }
    }
    cw_free(S->units.u);
    cw_intern_release(&S->units.ids);
    cw_free(S->items);
    cw_free(S->slot);
    cw_free(S->seen);
    cw_free(S->take);
    cw_free(S->inc);
    for (size_t k = 0; k <= CW_EXP_ARMS_MAX; k++)
        cw_incentive_state_free(S->istate[k]);
    cw_free(S->cust_spend);
    cw_scratch_free(S->scratch);
    cw_model_release(&S->m);
    cw_free(S);
    if (rc)
        cw_sim_result_release(out);
    return rc;
}
