/*
 * protocol.c: the benchmark protocol's split, universe and unit margins
 * (BENCHMARK.md section 1), shared by the evaluator and the simulator.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_eval.h"
#include "cartwise/cw_hash.h"
#include "protocol_int.h"

size_t cw__protocol_ntrain(size_t nb)
{
    return nb * 8 / 10;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double *cw__protocol_margins(const struct cw_dataset *ds, const char *cutoff)
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

double cw__protocol_margin_of(void *ctx, const char *sku, double price)
{
    const struct cw__margin_ctx *mc = ctx;
    long s = cw_intern_find(&mc->ds->skus, sku, strlen(sku));
    return s >= 0 ? mc->margin[s] : price * cw_eval_margin_rate(sku);
}

size_t cw__protocol_universe(const struct cw_dataset *ds, size_t ntrain,
                             uint8_t *in_univ)
{
    size_t n = 0;
    for (size_t x = 0; x < ntrain; x++) {
        uint32_t b = ds->order[x];
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            uint32_t s = ds->l_item[ds->b_line[li]];
            n += !in_univ[s];
            in_univ[s] = 1;
        }
    }
    return n;
}
