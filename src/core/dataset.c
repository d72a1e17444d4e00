/*
 * dataset.c: order lines in memory, grouped by basket and sorted by time
 * (see cw_dataset.h for the protocol this follows).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_err.h"

void cw_dataset_init(struct cw_dataset *ds)
{
    memset(ds, 0, sizeof(*ds));
    cw_intern_init(&ds->skus);
    cw_intern_init(&ds->customers);
    cw_intern_init(&ds->baskets);
    cw_intern_init(&ds->times);
}

void cw_dataset_release(struct cw_dataset *ds)
{
    for (size_t i = 0; i < ds->baskets.n; i++)
        cw_free(ds->b_ts[i]);
    cw_free(ds->b_ts);
    cw_free(ds->b_cust);
    cw_free(ds->l_basket);
    cw_free(ds->l_item);
    cw_free(ds->l_ts);
    cw_free(ds->l_qty);
    cw_free(ds->l_price);
    cw_free(ds->l_cost);
    cw_free(ds->order);
    cw_free(ds->b_off);
    cw_free(ds->b_line);
    cw_intern_release(&ds->skus);
    cw_intern_release(&ds->customers);
    cw_intern_release(&ds->baskets);
    cw_intern_release(&ds->times);
    memset(ds, 0, sizeof(*ds));
}

int cw_dataset_add(struct cw_dataset *ds, const char *basket,
                   const char *customer, const char *ts, const char *sku,
                   double qty, double price, double cost)
{
    if (ds->finished || !basket || !*basket || !sku || !*sku || !ts || !*ts)
        return CW_EINVAL;
    if (!(qty > 0))
        return 0;
    int added;
    uint32_t b = cw_intern_add(&ds->baskets, basket, strlen(basket), &added);
    if (added) {
        if (b >= ds->cap_baskets) {
            size_t cap = ds->cap_baskets;
            CW_GROW(ds->b_ts, cap, b + 1);
            ds->b_cust = cw_realloc(ds->b_cust, cap * sizeof(*ds->b_cust));
            ds->cap_baskets = cap;
        }
        ds->b_ts[b] = cw_strdup(ts);
        ds->b_cust[b] = customer && *customer
                            ? (int32_t)cw_intern_add(&ds->customers, customer,
                                                     strlen(customer), NULL)
                            : -1;
    } else if (strcmp(ts, ds->b_ts[b]) < 0) {
        cw_free(ds->b_ts[b]);
        ds->b_ts[b] = cw_strdup(ts);
    }
    if (ds->n_lines == ds->cap_lines) {
        size_t cap = ds->cap_lines;
        CW_GROW(ds->l_basket, cap, ds->n_lines + 1);
        ds->l_item = cw_realloc(ds->l_item, cap * sizeof(*ds->l_item));
        ds->l_ts = cw_realloc(ds->l_ts, cap * sizeof(*ds->l_ts));
        ds->l_qty = cw_realloc(ds->l_qty, cap * sizeof(*ds->l_qty));
        ds->l_price = cw_realloc(ds->l_price, cap * sizeof(*ds->l_price));
        ds->l_cost = cw_realloc(ds->l_cost, cap * sizeof(*ds->l_cost));
        ds->cap_lines = cap;
    }
    size_t i = ds->n_lines++;
    ds->l_basket[i] = b;
    ds->l_item[i] = cw_intern_add(&ds->skus, sku, strlen(sku), NULL);
    ds->l_ts[i] = cw_intern_add(&ds->times, ts, strlen(ts), NULL);
    ds->l_qty[i] = qty;
    ds->l_price[i] = price > 0 ? price : NAN;
    ds->l_cost[i] = cost >= 0 ? cost : NAN;
    return 0;
}

static const struct cw_dataset *sort_ds; /* qsort has no context argument */

static int cmp_basket(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int c = strcmp(sort_ds->b_ts[x], sort_ds->b_ts[y]);
    return c ? c : strcmp(sort_ds->baskets.keys[x], sort_ds->baskets.keys[y]);
}

void cw_dataset_finish(struct cw_dataset *ds)
{
    size_t nb = ds->baskets.n;
    ds->b_off = cw_calloc(nb + 1, sizeof(*ds->b_off));
    ds->b_line = cw_malloc((ds->n_lines + 1) * sizeof(*ds->b_line));
    for (size_t i = 0; i < ds->n_lines; i++)
        ds->b_off[ds->l_basket[i] + 1]++;
    for (size_t b = 0; b < nb; b++)
        ds->b_off[b + 1] += ds->b_off[b];
    size_t *fill = cw_malloc((nb + 1) * sizeof(*fill));
    memcpy(fill, ds->b_off, (nb + 1) * sizeof(*fill));
    for (size_t i = 0; i < ds->n_lines; i++)
        ds->b_line[fill[ds->l_basket[i]]++] = (uint32_t)i;
    cw_free(fill);
    ds->order = cw_malloc((nb + 1) * sizeof(*ds->order));
    for (size_t b = 0; b < nb; b++)
        ds->order[b] = (uint32_t)b;
    sort_ds = ds;
    qsort(ds->order, nb, sizeof(*ds->order), cmp_basket);
    sort_ds = NULL;
    ds->finished = 1;
}

size_t cw_dataset_nbaskets(const struct cw_dataset *ds)
{
    return ds->baskets.n;
}
