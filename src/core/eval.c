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

double cw_eval_margin_rate(const char *sku)
{
    return 0.10 + 0.50 * (double)(cw_fnv1a32(sku, strlen(sku)) % 1001) /
                      1000.0;
}

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

/* Unit margin per dataset sku, protocol step 8. */
static double *protocol_margins(const struct cw_dataset *ds,
                                const char *cutoff)
{
    size_t ns = ds->skus.n;
    size_t *cnt = cw_calloc(ns + 1, sizeof(*cnt));
    size_t *cnt_all = cw_calloc(ns + 1, sizeof(*cnt_all));
    double *cost = cw_malloc((ns + 1) * sizeof(*cost));
    for (size_t s = 0; s < ns; s++)
        cost[s] = NAN;
    for (size_t l = 0; l < ds->n_lines; l++) {
        uint32_t s = ds->l_item[l];
        if (!isnan(ds->l_cost[l]))
            cost[s] = ds->l_cost[l];
        if (isnan(ds->l_price[l]))
            continue;
        cnt_all[s]++;
        if (strcmp(ds->times.keys[ds->l_ts[l]], cutoff) <= 0)
            cnt[s]++;
    }
    /* median over the lines up to the cutoff, else over all of them */
    size_t *off = cw_calloc(ns + 1, sizeof(*off));
    for (size_t s = 0; s < ns; s++)
        off[s + 1] = off[s] + (cnt[s] ? cnt[s] : cnt_all[s]);
    double *v = cw_malloc((off[ns] + 1) * sizeof(*v));
    size_t *fill = cw_calloc(ns + 1, sizeof(*fill));
    for (size_t l = 0; l < ds->n_lines; l++) {
        uint32_t s = ds->l_item[l];
        if (isnan(ds->l_price[l]))
            continue;
        if (cnt[s] && strcmp(ds->times.keys[ds->l_ts[l]], cutoff) > 0)
            continue;
        v[off[s] + fill[s]++] = ds->l_price[l];
    }
    double *margin = cw_malloc((ns + 1) * sizeof(*margin));
    for (size_t s = 0; s < ns; s++) {
        size_t k = off[s + 1] - off[s];
        double price = 1.0;
        if (k) {
            double *p = v + off[s];
            qsort(p, k, sizeof(*p), cmp_double);
            price = k % 2 ? p[k / 2] : (p[k / 2 - 1] + p[k / 2]) / 2;
        }
        margin[s] = !isnan(cost[s])
                        ? fmax(price - cost[s], 0)
                        : price * cw_eval_margin_rate(ds->skus.keys[s]);
    }
    cw_free(cnt);
    cw_free(cnt_all);
    cw_free(cost);
    cw_free(off);
    cw_free(v);
    cw_free(fill);
    return margin;
}

struct margin_ctx {
    const struct cw_dataset *ds;
    const double *margin;
};

static double margin_of(void *ctx, const char *sku, double price)
{
    const struct margin_ctx *mc = ctx;
    long s = cw_intern_find(&mc->ds->skus, sku, strlen(sku));
    return s >= 0 ? mc->margin[s] : price * cw_eval_margin_rate(sku);
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

static void finish(struct cw_eval_metrics *out, const struct acc *a,
                   size_t n)
{
    out->hr = n ? a->hits / (double)n : 0;
    out->ndcg = n ? a->ndcg / (double)n : 0;
    out->margin_capture = a->tot > 0 ? a->cap / a->tot : 0;
    out->margin_per_case = n ? a->cap / (double)n : 0;
}

int cw_eval_run(const struct cw_dataset *ds, const struct cw_eval_opts *opts,
                struct cw_eval_result *out, struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    if (!ds->finished)
        return cw_err(err, CW_EINVAL, "dataset not finished");
    size_t nb = ds->baskets.n, ntrain = nb * 8 / 10;
    if (ntrain < 2 || nb - ntrain < 1)
        return cw_err(err, CW_ENODATA, "not enough baskets to evaluate: %zu",
                      nb);
    unsigned k = opts->k ? opts->k : 3;
    if (k > CW_DECIDE_MAX)
        return cw_err(err, CW_EINVAL, "k: at most %d", CW_DECIDE_MAX);
    out->baskets = nb;
    out->train_baskets = ntrain;

    /* the universe: skus of the training baskets */
    uint8_t *in_univ = cw_calloc(ds->skus.n + 1, 1);
    for (size_t x = 0; x < ntrain; x++) {
        uint32_t b = ds->order[x];
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++)
            in_univ[ds->l_item[ds->b_line[li]]] = 1;
    }
    for (size_t s = 0; s < ds->skus.n; s++)
        out->items += in_univ[s];

    const char *cutoff = ds->b_ts[ds->order[ntrain - 1]];
    double *margin = protocol_margins(ds, cutoff);
    struct margin_ctx mc = {ds, margin};
    struct cw_train_input in = {0};
    in.ds = ds;
    in.baskets = ds->order;
    in.n_baskets = ntrain;
    in.unit_margin = margin_of;
    in.unit_margin_ctx = &mc;
    struct cw_model m;
    double t0 = now_s();
    int rc = cw_train(&m, &in, &opts->train, err);
    out->train_s = now_s() - t0;
    if (rc) {
        cw_free(in_univ);
        cw_free(margin);
        return rc;
    }
    out->ease_lambda = m.meta.ease_lambda;
    out->profit_gamma = m.meta.profit_gamma;

    struct cw_scratch *s = cw_scratch_new(&m);
    struct cw_decision *d = cw_malloc(sizeof(*d));
    struct cw_cart_line *cart = cw_malloc(CW_CART_MAX * sizeof(*cart));
    uint32_t *skus = cw_malloc((ds->skus.n + 1) * sizeof(*skus));
    uint32_t *seen = cw_calloc(ds->skus.n + 1, sizeof(*seen));
    struct acc profit = {0}, accuracy = {0};
    t0 = now_s();
    for (size_t x = ntrain; x < nb && !rc; x++) {
        uint32_t b = ds->order[x];
        size_t n = 0;
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            uint32_t sku = ds->l_item[ds->b_line[li]];
            if (!in_univ[sku] || seen[sku] == x + 1)
                continue;
            seen[sku] = (uint32_t)(x + 1);
            skus[n++] = sku;
        }
        if (n < 2)
            continue;
        const char *bid = ds->baskets.keys[b];
        size_t h = opts->hidden_hash
                       ? cw_fnv1a32(bid, strlen(bid)) % n
                       : n - 1;
        size_t nc = 0;
        for (size_t i = 0; i < n && nc < CW_CART_MAX; i++)
            if (i != h)
                cart[nc++] = (struct cw_cart_line){ds->skus.keys[skus[i]], 1,
                                                   CW_MONEY_UNKNOWN};
        long hidden = cw_model_find_sku(&m, ds->skus.keys[skus[h]]);
        double hm = fmax(margin[skus[h]], 0);
        int32_t cu = ds->b_cust[b];
        struct cw_decide_req req = {
            cart, nc, cu >= 0 ? ds->customers.keys[cu] : NULL,
            CW_PLACE_CART, k, CW_DECIDE_FILL};
        rc = cw_decide(&m, s, &req, d, err);
        if (!rc) {
            score(&profit, &m, d, hidden, hm);
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
    cw_free(skus);
    cw_free(seen);
    cw_free(cart);
    cw_free(d);
    cw_scratch_free(s);
    cw_model_release(&m);
    cw_free(in_univ);
    cw_free(margin);
    return rc;
}
