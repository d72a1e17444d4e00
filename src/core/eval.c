/*
 * eval.c: BENCHMARK.md section 1, step by step, with recommendations from
 * cw_decide (the function behind POST /v1/decide, incentives and
 * experiments off).
 *
 * The engine is given the protocol's unit margins as its margin source,
 * the way a merchant with known costs would give it theirs: the metric and
 * the objective then speak of the same money. Both the configured engine
 * (profit-weighted) and its accuracy-only setting are measured in one run.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_eval.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "protocol_int.h"

double cw_eval_margin_rate(const char *sku)
{
    return 0.10 + 0.50 * (double)(cw_fnv1a32(sku, strlen(sku)) % 1001) / 1000.0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct acc {
    double hits, ndcg, cap, tot;
};

static void score(struct acc *a, const struct cw_model *m,
                  const struct cw_decision *d, long hidden, double margin)
{
    a->tot += margin;
    for (size_t r = 0; r < d->n_addons; r++) {
        if ((long)d->addons[r].item == hidden) {
            a->hits += 1;
            a->ndcg += 1.0 / log2((double)r + 2);
            a->cap += margin;
            break;
        }
    }
    (void)m;
}

static void calib_add(struct cw_eval_calib *c, const struct cw_decision *d,
                      long hidden)
{
    for (size_t r = 0; r < d->n_addons; r++) {
        double p = fmin(fmax(d->addons[r].p_accept, 1e-6), 1 - 1e-6);
        int y = (long)d->addons[r].item == hidden;
        int b = (int)(p * CW_EVAL_CALIB_BINS);
        if (b >= CW_EVAL_CALIB_BINS)
            b = CW_EVAL_CALIB_BINS - 1;
        c->n++;
        c->log_loss -= y ? log(p) : log(1 - p);
        c->mean_p += p;
        c->accept_rate += y;
        c->bin_n[b]++;
        c->bin_p[b] += p;
        c->bin_rate[b] += y;
    }
}

static void calib_finish(struct cw_eval_calib *c)
{
    if (c->n) {
        c->log_loss /= (double)c->n;
        c->mean_p /= (double)c->n;
        c->accept_rate /= (double)c->n;
    }
    for (int b = 0; b < CW_EVAL_CALIB_BINS; b++) {
        if (c->bin_n[b]) {
            c->bin_p[b] /= (double)c->bin_n[b];
            c->bin_rate[b] /= (double)c->bin_n[b];
        }
    }
}

static void finish(struct cw_eval_metrics *out, const struct acc *a, size_t n)
{
    out->hr = n ? a->hits / (double)n : 0;
    out->ndcg = n ? a->ndcg / (double)n : 0;
    out->margin_capture = a->tot > 0 ? a->cap / a->tot : 0;
    out->margin_per_case = n ? a->cap / (double)n : 0;
}

void cw_eval_cases_build(const struct cw_dataset *ds, struct cw_eval_cases *out)
{
    memset(out, 0, sizeof(*out));
    size_t nb = ds->baskets.n, ns = ds->skus.n, cap = 0, cap_sku = 0;
    out->ntrain = cw__protocol_ntrain(nb);
    uint8_t *in_univ = cw_calloc(ns + 1, 1);
    out->items = cw__protocol_universe(ds, out->ntrain, in_univ);
    uint32_t *seen = cw_calloc(ns + 1, sizeof(*seen));
    CW_GROW(out->off, cap, 1);
    out->off[0] = 0;
    size_t len = 0;
    for (size_t x = out->ntrain; x < nb; x++) {
        uint32_t b = ds->order[x];
        size_t start = len;
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            uint32_t sku = ds->l_item[ds->b_line[li]];
            if (!in_univ[sku] || seen[sku] == x + 1)
                continue;
            seen[sku] = (uint32_t)(x + 1);
            CW_GROW(out->sku, cap_sku, len + 1);
            out->sku[len++] = sku;
        }
        if (len - start < 2) {
            len = start;
            continue;
        }
        CW_GROW(out->off, cap, out->n + 2);
        out->basket = cw_realloc(out->basket, cap * sizeof(*out->basket));
        out->basket[out->n] = b;
        out->off[++out->n] = len;
    }
    cw_free(in_univ);
    cw_free(seen);
}

void cw_eval_cases_release(struct cw_eval_cases *c)
{
    cw_free(c->off);
    cw_free(c->sku);
    cw_free(c->basket);
    memset(c, 0, sizeof(*c));
}

int cw_eval_run(const struct cw_dataset *ds, const struct cw_eval_opts *opts,
                struct cw_eval_result *out, struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    if (!ds->finished)
        return cw_err(err, CW_EINVAL, "dataset not finished");
    size_t nb = ds->baskets.n, ntrain = cw__protocol_ntrain(nb);
    if (ntrain < 2 || nb - ntrain < 1)
        return cw_err(err, CW_ENODATA, "not enough baskets to evaluate: %zu",
                      nb);
    unsigned k = opts->k ? opts->k : 3;
    if (k > CW_DECIDE_MAX)
        return cw_err(err, CW_EINVAL, "k: at most %d", CW_DECIDE_MAX);
    out->baskets = nb;
    out->train_baskets = ntrain;

    struct cw_eval_cases cs;
    cw_eval_cases_build(ds, &cs);
    out->items = cs.items;

    const char *cutoff = ds->b_ts[ds->order[ntrain - 1]];
    double *margin = cw__protocol_margins(ds, cutoff);
    struct cw__margin_ctx mc = {ds, margin};
    struct cw_train_input in = {0};
    in.ds = ds;
    in.baskets = ds->order;
    in.n_baskets = ntrain;
    in.unit_margin = cw__protocol_margin_of;
    in.unit_margin_ctx = &mc;
    struct cw_model m;
    double t0 = now_s();
    int rc = cw_train(&m, &in, &opts->train, err);
    out->train_s = now_s() - t0;
    if (rc) {
        cw_eval_cases_release(&cs);
        cw_free(margin);
        return rc;
    }
    out->ease_lambda = m.meta.ease_lambda;
    out->profit_gamma = m.meta.profit_gamma;
    out->reranker = m.meta.rank_n > 0;
    out->cart_order = (int)m.meta.cart_order;
    out->line_order_mix = m.meta.line_order_mix;

    struct cw_scratch *s = cw_scratch_new(&m);
    struct cw_decision *d = cw_malloc(sizeof(*d));
    struct cw_cart_line *cart = cw_malloc(CW_CART_MAX * sizeof(*cart));
    struct acc profit = {0}, accuracy = {0};
    t0 = now_s();
    for (size_t x = 0; x < cs.n && !rc; x++) {
        uint32_t b = cs.basket[x];
        const uint32_t *skus = cs.sku + cs.off[x];
        size_t n = cs.off[x + 1] - cs.off[x];
        const char *bid = ds->baskets.keys[b];
        size_t h = opts->hidden_hash ? cw_fnv1a32(bid, strlen(bid)) % n : n - 1;
        size_t nc = 0;
        for (size_t i = 0; i < n && nc < CW_CART_MAX; i++)
            if (i != h)
                cart[nc++] = (struct cw_cart_line){ds->skus.keys[skus[i]], 1,
                                                   CW_MONEY_UNKNOWN};
        long hidden = cw_model_find_sku(&m, ds->skus.keys[skus[h]]);
        double hm = fmax(margin[skus[h]], 0);
        int32_t cu = ds->b_cust[b];
        struct cw_decide_req req = {
            cart,          nc, cu >= 0 ? ds->customers.keys[cu] : NULL,
            CW_PLACE_CART, k,  CW_DECIDE_FILL};
        rc = cw_decide(&m, s, &req, d, err);
        if (!rc) {
            score(&profit, &m, d, hidden, hm);
            calib_add(&out->calib, d, hidden);
            req.flags |= CW_DECIDE_ACCURACY_ONLY;
            rc = cw_decide(&m, s, &req, d, err);
        }
        if (!rc)
            score(&accuracy, &m, d, hidden, hm);
        out->cases++;
    }
    out->eval_s = now_s() - t0;
    finish(&out->profit, &profit, out->cases);
    finish(&out->accuracy, &accuracy, out->cases);
    calib_finish(&out->calib);
    cw_eval_cases_release(&cs);
    cw_free(cart);
    cw_free(d);
    cw_scratch_free(s);
    cw_model_release(&m);
    cw_free(margin);
    return rc;
}
