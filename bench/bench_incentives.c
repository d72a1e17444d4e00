/*
 * bench_incentives.c: incentives on versus off, by replaying the test
 * baskets of a normalized lines file (BENCHMARK.md section 1 split) as
 * shoppers (issue 4's acceptance measurement).
 *
 *   bench_incentives LINES_CSV CONFIG_JSON [--json]
 *
 * The engine trains on the first floor(0.8 N) baskets (margins: the
 * protocol's assumed rates), learns the store's order-value distribution
 * from them, and then decides for every test basket, in time order (so the
 * daily budget and per-customer caps run over the real calendar), with the
 * merchant configuration CONFIG_JSON. There are no storefront events in
 * these data, so the abandonment propensity is the configured prior, as in
 * production with an order-only import.
 *
 * The shopper: the real basket is what the shopper came to buy (value V).
 * Hidden from the engine, and never fitted to it:
 *   abandonment h = sigmoid(-0.6 + 0.9 clip(log(V / typical), -3, 3)
 *                           - 1.0 returning + 0.8 z), z ~ N(0,1) per basket
 *     (typical: the customer's median training order, else the store's);
 *   P(buy) = (1 - h w) exp(-1.5 shipping / merchandise), where a discount
 *     wins back w = exp(-0.04 percent felt) of the would-be abandoners and
 *     the shipping charged puts some shoppers off (free shipping is worth
 *     something to the shopper, which the engine does not assume);
 *   a progress bar with a gap g is closed with P = 0.45 exp(-g / (0.3
 *     typical)): by the gap-closing add-on when the engine names one, else
 *     by more units of the basket's first line;
 *   a bundle offer is taken with P = 0.12, an upgrade with P = 0.06.
 * Every branch (top-up x bundle x upgrade) is priced exactly by the engine's
 * own pricing with the session's threshold and discount, and the session's
 * expected profit (merchandise margin - discounts - gift costs + shipping
 * charged - shipping cost) is the probability-weighted sum: no sampling
 * noise, the same shoppers in every arm.
 *
 * Arms: off (no incentives: standard shipping always charged), static (the
 * store's static ladder and breaks: the holdout), cartwise (everything),
 * cartwise without discounts, and a blanket 10% to everyone on the static
 * ladder. Reported per arm: conversion, revenue and profit per session,
 * discount spend, and the share of discounts that went to shoppers whose
 * hidden propensity is high (h > 0.5); and the paired difference in profit
 * per session against off and static with a 95% interval.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_csv.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_eval.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_train.h"

#define H_HIGH 0.5

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double num_or_nan(const char *s)
{
    char *end;
    if (!s || !*s)
        return NAN;
    double v = strtod(s, &end);
    return *end ? NAN : v;
}

static int load(const char *file, struct cw_dataset *ds, struct cw_buf *err)
{
    static const char *cols[] = {"basket_id", "customer_id", "ts",       "sku",
                                 "qty",       "unit_price",  "unit_cost"};
    struct cw_csv *csv;
    long col[7];
    int rc = cw_csv_open(&csv, file, ',', err);
    if (rc < 0)
        return rc;
    rc = cw_csv_next(csv, err);
    for (int i = 0; rc > 0 && i < 7; i++)
        if ((col[i] = cw_csv_col(csv, cols[i])) < 0)
            rc = cw_err(err, CW_EPARSE, "missing column '%s'", cols[i]);
    while (rc > 0 && (rc = cw_csv_next(csv, err)) > 0) {
        const char *f[7];
        for (int i = 0; i < 7; i++)
            f[i] = cw_csv_field(csv, (size_t)col[i], NULL);
        double q = num_or_nan(f[4]);
        if (isnan(q))
            continue;
        if (cw_dataset_add(ds, f[0], f[1], f[2], f[3], q, num_or_nan(f[5]),
                           num_or_nan(f[6])) < 0)
            rc = cw_err(err, CW_EPARSE, "line %ld: bad line", cw_csv_line(csv));
    }
    cw_csv_close(csv);
    return rc < 0 ? rc : 0;
}

static double margin_of(void *ctx, const char *sku, double price)
{
    (void)ctx;
    return price * cw_eval_margin_rate(sku);
}

static int64_t ts_seconds(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) < 3)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* A standard normal from the basket id (Box-Muller on two hashes). */
static double normal_of(const char *id)
{
    uint64_t a = cw_xxh3_seed(id, strlen(id), 11),
             b = cw_xxh3_seed(id, strlen(id), 12);
    double u = ((double)(a >> 11) + 0.5) / 9007199254740992.0;
    double v = (double)(b >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

struct session {
    const char *id, *customer;
    int64_t now;
    struct cw_cart_line lines[CW_CART_MAX + 1];
    size_t n;
    int64_t value;
    double typical;
    double h; /* hidden abandonment propensity */
};

enum arm_kind {
    ARM_OFF,
    ARM_STATIC,
    ARM_CARTWISE,
    ARM_NO_DISCOUNT,
    ARM_BLANKET,
    ARM__N
};
static const char *const arm_name[ARM__N] = {
    "off", "static", "cartwise", "cartwise_no_discount", "blanket_10pct"};

struct arm {
    struct cw_incentive_config *cfg, *branch_cfg;
    struct cw_incentive_state *st;
    int holdout;
    uint32_t blanket_bp;
    const struct cw_incentive_stats *stats;
    /* sums over sessions (expectations) */
    double buy, revenue, profit, spend, reserved;
    double n_disc, n_disc_high, n_bundle, n_upgrade, n_nudge, n_topup;
    double thr_sum;
    size_t thr_n;
    double *per_session; /* expected profit of each session */
    double *apply_us;    /* time of each cw_incentive_apply */
};

/* Prices cart with the session's chosen thresholds and a fixed discount
 * amount (as the checkout would: no state, no new decisions). */
static void price_branch(const struct cw_model *m, struct arm *a,
                         const struct cw_incentive_result *r,
                         const struct cw_cart_line *lines, size_t n,
                         int64_t discount, struct cw_incentive_result *out)
{
    struct cw_incentive_config *c = a->branch_cfg;
    for (size_t t = 0; t < c->n_tiers; t++) {
        c->tiers[t].threshold = r->cart.thresholds[t];
        c->tiers[t].n_rungs = 0;
    }
    struct cw_decide_req req = {lines, n, NULL, CW_PLACE_CART, 3, 0};
    struct cw_incentive_req ir;
    memset(&ir, 0, sizeof(ir));
    ir.cfg = c;
    ir.session = (struct cw_incentive_session){NULL, -1, -1, -1, discount};
    ir.holdout = 1;
    if (cw_incentive_apply(m, &req, NULL, &ir, out, NULL) < 0)
        memset(out, 0, sizeof(*out));
}

static double p_buy(const struct session *s, const struct cw_priced_cart *p,
                    double felt_pct)
{
    double w = felt_pct > 0 ? exp(-0.04 * felt_pct) : 1.0;
    double ship =
        p->merchandise > 0 ? (double)p->shipping / (double)p->merchandise : 0;
    return (1 - s->h * w) * exp(-1.5 * ship);
}

static void run_session(const struct cw_model *m, struct cw_scratch *scr,
                        struct arm *a, struct session *s, size_t idx,
                        struct cw_incentive_result *r,
                        struct cw_incentive_result *br)
{
    struct cw_decide_req req = {s->lines,      s->n, s->customer,
                                CW_PLACE_CART, 3,    0};
    struct cw_decision d;
    if (cw_decide(m, scr, &req, &d, NULL) < 0)
        d.n_addons = 0;
    struct cw_incentive_req ir;
    memset(&ir, 0, sizeof(ir));
    ir.cfg = a->cfg;
    ir.stats = a->stats;
    ir.state = a->st;
    ir.session = (struct cw_incentive_session){s->id, -1, -1, -1, 0};
    ir.now = s->now;
    ir.holdout = a->holdout;
    if (a->blanket_bp)
        ir.session.coupon = cw_incentive_percent(s->value, a->blanket_bp);
    double t0 = now_s();
    int rc = cw_incentive_apply(m, &req, &d, &ir, r, NULL);
    a->apply_us[idx] = (now_s() - t0) * 1e6;
    if (rc < 0) {
        a->per_session[idx] = 0;
        return;
    }
    int64_t disc = r->discount.active ? r->discount.amount : ir.session.coupon;
    if (r->threshold.active) {
        a->thr_sum += (double)r->threshold.threshold;
        a->thr_n++;
    }
    if (r->discount.active)
        a->reserved += (double)r->discount.amount;
    /* the branches */
    double pt = 0, pb = 0, pu = 0;
    int64_t gap = r->progress.active ? r->progress.remaining : 0;
    if (a->cfg->n_tiers && gap > 0)
        pt = 0.45 * exp(-(double)gap / (0.3 * s->typical));
    if (r->bundle.active)
        pb = 0.12;
    if (r->upgrade.active)
        pu = 0.06;
    a->n_nudge += r->progress.nudge;
    double e_profit = 0, e_buy = 0, e_rev = 0, e_spend = 0;
    for (int bt = 0; bt < 2; bt++)
        for (int bb = 0; bb < 2; bb++)
            for (int bu = 0; bu < 2; bu++) {
                double pr = (bt ? pt : 1 - pt) * (bb ? pb : 1 - pb) *
                            (bu ? pu : 1 - pu);
                if (pr <= 0)
                    continue;
                struct cw_cart_line lines[CW_CART_MAX + 1];
                size_t n = s->n;
                memcpy(lines, s->lines, n * sizeof(*lines));
                if (bt) {
                    if (r->progress.addon >= 0 && d.n_addons) {
                        uint32_t v = d.addons[r->progress.addon].variant;
                        lines[n++] = (struct cw_cart_line){
                            cw_model_sku(m, v), 1, m->items[v].price};
                    } else {
                        int64_t u = lines[0].price > 0 ? lines[0].price : 1;
                        lines[0].qty += (gap + u - 1) / u;
                    }
                }
                if (bb)
                    for (size_t i = 0; i < s->n; i++)
                        if (!strcmp(lines[i].sku, r->bundle.sku)) {
                            lines[i].qty += r->bundle.add_units;
                            break;
                        }
                if (bu) {
                    uint32_t to = (uint32_t)r->upgrade.to_item;
                    lines[r->upgrade.line].sku = cw_model_sku(m, to);
                    lines[r->upgrade.line].price = m->items[to].price;
                }
                price_branch(m, a, r, lines, n, disc, br);
                const struct cw_priced_cart *p = &br->cart;
                double felt =
                    disc > 0 ? 100.0 * (double)disc / (double)s->value : 0;
                double pbuy = p_buy(s, p, felt);
                e_buy += pr * pbuy;
                e_profit += pr * pbuy * (double)p->profit;
                e_rev += pr * pbuy * (double)p->total;
                e_spend += pr * pbuy * (double)p->coupon_discount;
            }
    a->n_topup += pt;
    a->buy += e_buy;
    a->profit += e_profit;
    a->revenue += e_rev;
    a->spend += e_spend;
    a->n_bundle += r->bundle.active;
    a->n_upgrade += r->upgrade.active;
    if (disc > 0) {
        a->n_disc++;
        a->n_disc_high += s->h > H_HIGH;
    }
    a->per_session[idx] = e_profit;
}

static void diff_ci(const double *x, const double *y, size_t n, double *mean,
                    double *half)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] - y[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - y[i] - *mean) * (x[i] - y[i] - *mean);
    *half = 1.96 * sqrt(ss / (double)(n - 1) / (double)n);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_incentives LINES_CSV CONFIG_JSON "
                        "[--json]\n");
        return 2;
    }
    int as_json = argc > 3 && !strcmp(argv[3], "--json");
    struct cw_buf err = CW_BUF_INIT;
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    double t0 = now_s();
    if (load(argv[1], &ds, &err) < 0) {
        fprintf(stderr, "bench_incentives: %s\n", cw_buf_str(&err));
        return 1;
    }
    cw_dataset_finish(&ds);
    size_t nb = cw_dataset_nbaskets(&ds), ntrain = nb * 8 / 10;

    /* the engine: trained on the train split */
    struct cw_train_input in;
    memset(&in, 0, sizeof(in));
    in.ds = &ds;
    in.baskets = ds.order;
    in.n_baskets = ntrain;
    in.unit_margin = margin_of;
    struct cw_train_params tp;
    cw_train_params_default(&tp);
    tp.currency = "GBP";
    struct cw_model m;
    if (cw_train(&m, &in, &tp, &err) < 0) {
        fprintf(stderr, "bench_incentives: %s\n", cw_buf_str(&err));
        return 1;
    }
    struct cw_incentive_stats stats;
    memset(&stats, 0, sizeof(stats));
    cw_app_order_stats(&ds, ds.order, ntrain, 100, &m, &stats);
    double t_train = now_s() - t0;

    /* the configuration */
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    struct cw_buf text = CW_BUF_INIT;
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cw_buf_add(&text, chunk, k);
    fclose(f);
    struct arm arms[ARM__N];
    memset(arms, 0, sizeof(arms));
    for (int a = 0; a < ARM__N; a++) {
        arms[a].cfg = cw_malloc(sizeof(*arms[a].cfg));
        arms[a].branch_cfg = cw_malloc(sizeof(*arms[a].branch_cfg));
        if (cw_app_config_parse(text.buf, text.len, arms[a].cfg, &err) < 0) {
            fprintf(stderr, "bench_incentives: %s: %s\n", argv[2],
                    cw_buf_str(&err));
            return 1;
        }
        struct cw_incentive_config *c = arms[a].cfg;
        if (a == ARM_OFF) {
            c->n_tiers = c->n_bundles = c->n_groups = 0;
            c->discount.enabled = 0;
        }
        if (a == ARM_NO_DISCOUNT)
            c->discount.enabled = 0;
        arms[a].holdout = a == ARM_OFF || a == ARM_STATIC || a == ARM_BLANKET;
        arms[a].blanket_bp = a == ARM_BLANKET ? 1000 : 0;
        *arms[a].branch_cfg = *c;
        arms[a].branch_cfg->discount.enabled = 0;
        arms[a].st = cw_incentive_state_new(0, 0, 0);
        arms[a].stats = &stats;
        arms[a].per_session = cw_calloc(nb - ntrain + 1, sizeof(double));
        arms[a].apply_us = cw_calloc(nb - ntrain + 1, sizeof(double));
    }

    /* typical orders from the train split */
    double store_median = (double)stats.order_q[CW_INC_QUANTILES / 2];
    struct cw_scratch *scr = cw_scratch_new(&m);
    struct cw_incentive_result *r = cw_malloc(sizeof(*r)),
                               *br = cw_malloc(sizeof(*br));
    struct session *s = cw_malloc(sizeof(*s));
    size_t ns = 0, n_high = 0;
    double h_sum = 0;
    double t1 = now_s();
    for (size_t x = ntrain; x < nb; x++) {
        uint32_t b = ds.order[x];
        s->id = ds.baskets.keys[b];
        s->customer =
            ds.b_cust[b] >= 0 ? ds.customers.keys[ds.b_cust[b]] : NULL;
        s->now = ts_seconds(ds.b_ts[b]);
        s->n = 0;
        s->value = 0;
        for (size_t li = ds.b_off[b];
             li < ds.b_off[b + 1] && s->n < CW_CART_MAX; li++) {
            uint32_t l = ds.b_line[li];
            if (isnan(ds.l_price[l]) || ds.l_qty[l] <= 0)
                continue;
            int64_t price = llround(ds.l_price[l] * 100);
            int64_t qty = llround(ds.l_qty[l]);
            if (qty < 1 || qty > CW_QTY_MAX)
                continue;
            s->lines[s->n++] =
                (struct cw_cart_line){ds.skus.keys[ds.l_item[l]], qty, price};
            s->value += qty * price;
        }
        if (!s->n || s->value <= 0)
            continue;
        long cu = s->customer ? cw_model_find_customer(&m, s->customer) : -1;
        int returning = cu >= 0 && m.customers[cu].n_orders > 0;
        s->typical = cu >= 0 && m.customers[cu].typical_order > 0
                         ? (double)m.customers[cu].typical_order
                         : store_median;
        double z = -0.6 +
                   0.9 * fmax(-3, fmin(3, log((double)s->value / s->typical))) -
                   1.0 * returning + 0.8 * normal_of(s->id);
        s->h = 1 / (1 + exp(-z));
        h_sum += s->h;
        n_high += s->h > H_HIGH;
        for (int a = 0; a < ARM__N; a++)
            run_session(&m, scr, &arms[a], s, ns, r, br);
        ns++;
    }
    double t_replay = now_s() - t1;

    qsort(arms[ARM_CARTWISE].apply_us, ns, sizeof(double), cmp_double);
    double p50 = arms[ARM_CARTWISE].apply_us[ns / 2],
           p99 = arms[ARM_CARTWISE].apply_us[ns * 99 / 100];
    double d_off, h_off, d_st, h_st, d_nd, h_nd;
    diff_ci(arms[ARM_CARTWISE].per_session, arms[ARM_OFF].per_session, ns,
            &d_off, &h_off);
    diff_ci(arms[ARM_CARTWISE].per_session, arms[ARM_STATIC].per_session, ns,
            &d_st, &h_st);
    diff_ci(arms[ARM_CARTWISE].per_session, arms[ARM_NO_DISCOUNT].per_session,
            ns, &d_nd, &h_nd);
    struct cw_buf out = CW_BUF_INIT;
    if (as_json) {
        cw_buf_addf(&out,
                    "{\"sessions\":%zu,\"train_baskets\":%zu,"
                    "\"high_propensity_share\":%.4f,\"mean_h\":%.4f,"
                    "\"arms\":[",
                    ns, ntrain, (double)n_high / (double)ns,
                    h_sum / (double)ns);
        for (int a = 0; a < ARM__N; a++) {
            struct arm *q = &arms[a];
            cw_buf_addf(&out,
                        "%s{\"name\":\"%s\",\"conversion\":%.4f,"
                        "\"revenue_per_session\":%.2f,"
                        "\"profit_per_session\":%.2f,\"discount_spend\":%.2f,"
                        "\"discount_reserved\":%.2f,\"discounts\":%.0f,"
                        "\"discount_high_share\":%.4f,\"bundle_offers\":%.0f,"
                        "\"upgrade_offers\":%.0f,\"nudges\":%.0f,"
                        "\"mean_threshold\":%.2f}",
                        a ? "," : "", arm_name[a], q->buy / (double)ns,
                        q->revenue / 100.0 / (double)ns,
                        q->profit / 100.0 / (double)ns, q->spend / 100.0,
                        q->reserved / 100.0, q->n_disc,
                        q->n_disc ? q->n_disc_high / q->n_disc : 0, q->n_bundle,
                        q->n_upgrade, q->n_nudge,
                        q->thr_n ? q->thr_sum / 100.0 / (double)q->thr_n : 0);
        }
        cw_buf_addf(&out,
                    "],\"profit_diff_vs_off\":[%.3f,%.3f],"
                    "\"profit_diff_vs_static\":[%.3f,%.3f],"
                    "\"profit_diff_vs_no_discount\":[%.3f,%.3f],"
                    "\"apply_p50_us\":%.1f,\"apply_p99_us\":%.1f,"
                    "\"train_s\":%.1f,\"replay_s\":%.1f}",
                    d_off / 100, h_off / 100, d_st / 100, h_st / 100,
                    d_nd / 100, h_nd / 100, p50, p99, t_train, t_replay);
    } else {
        cw_buf_addf(&out,
                    "%zu test sessions (%zu train baskets); hidden "
                    "propensity: mean %.3f, %.1f%% above %.1f\n",
                    ns, ntrain, h_sum / (double)ns,
                    100.0 * (double)n_high / (double)ns, H_HIGH);
        cw_buf_addf(&out, "%-22s %7s %9s %9s %10s %9s %6s %7s %7s %7s %8s\n",
                    "arm", "conv", "rev/sess", "prof/sess", "disc.spend",
                    "reserved", "discs", "high%", "bundle", "upgr", "thresh");
        for (int a = 0; a < ARM__N; a++) {
            struct arm *q = &arms[a];
            cw_buf_addf(&out,
                        "%-22s %7.4f %9.2f %9.3f %10.2f %9.2f %6.0f %7.1f "
                        "%7.0f %7.0f %8.2f\n",
                        arm_name[a], q->buy / (double)ns,
                        q->revenue / 100.0 / (double)ns,
                        q->profit / 100.0 / (double)ns, q->spend / 100.0,
                        q->reserved / 100.0, q->n_disc,
                        q->n_disc ? 100 * q->n_disc_high / q->n_disc : 0,
                        q->n_bundle, q->n_upgrade,
                        q->thr_n ? q->thr_sum / 100.0 / (double)q->thr_n : 0);
        }
        cw_buf_addf(&out,
                    "profit/session, cartwise - off:                  %+.3f "
                    "GBP (95%% CI +-%.3f)\n"
                    "profit/session, cartwise - static:               %+.3f "
                    "GBP (95%% CI +-%.3f)\n"
                    "profit/session, cartwise - cartwise w/o discount: %+.3f "
                    "GBP (95%% CI +-%.3f)\n"
                    "cw_incentive_apply (cartwise arm): p50 %.1f us, p99 %.1f "
                    "us\n"
                    "train %.1f s, replay %.1f s\n",
                    d_off / 100, h_off / 100, d_st / 100, h_st / 100,
                    d_nd / 100, h_nd / 100, p50, p99, t_train, t_replay);
    }
    fputs(cw_buf_str(&out), stdout);
    fputc('\n', stdout);
    cw_buf_release(&out);
    for (int a = 0; a < ARM__N; a++) {
        cw_free(arms[a].cfg);
        cw_free(arms[a].branch_cfg);
        cw_incentive_state_free(arms[a].st);
        cw_free(arms[a].per_session);
        cw_free(arms[a].apply_us);
    }
    cw_free(r);
    cw_free(br);
    cw_free(s);
    cw_scratch_free(scr);
    cw_buf_release(&text);
    cw_buf_release(&err);
    cw_model_release(&m);
    cw_dataset_release(&ds);
    return 0;
}
