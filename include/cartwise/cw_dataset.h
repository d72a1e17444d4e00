/*
 * cw_dataset.h: order lines in memory, as training and evaluation see them.
 *
 * Lines are added one at a time (from a lines file or a store scan); strings
 * are interned into dense ids. cw_dataset_finish groups the lines by basket
 * (file order kept inside a basket) and sorts the baskets by (time, id) as
 * BENCHMARK.md section 1 prescribes: a basket's time is its smallest ts, and
 * both are compared as strings. Prices and costs are in major units here
 * (double) because the benchmark's medians are defined on them; the model
 * turns them into integer minor units.
 */
#ifndef CW_DATASET_H
#define CW_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "cw_hash.h"

struct cw_dataset {
    struct cw_intern skus, customers, baskets;
    struct cw_intern times; /* distinct ts strings, by l_ts */
    /* per line, in the order added */
    uint32_t *l_basket, *l_item, *l_ts;
    double *l_qty, *l_price, *l_cost; /* price/cost NAN when unknown */
    size_t n_lines, cap_lines;
    /* per basket id */
    char **b_ts;     /* owned; smallest ts of the basket */
    int32_t *b_cust; /* customer id or -1 */
    size_t cap_baskets;
    /* built by cw_dataset_finish */
    uint32_t *order; /* basket ids sorted by (ts, id) */
    size_t *b_off;   /* lines of basket b: b_line[b_off[b] .. b_off[b+1]) */
    uint32_t *b_line;
    int finished;
};

void cw_dataset_init(struct cw_dataset *ds);
void cw_dataset_release(struct cw_dataset *ds);
/* Adds one line. Lines with qty <= 0 are ignored (returns 0). customer may
 * be NULL or "" (guest); price and cost NAN when unknown. Returns 0 or
 * CW_EINVAL (after finish, or an empty basket id / sku / ts). */
int cw_dataset_add(struct cw_dataset *ds, const char *basket,
                   const char *customer, const char *ts, const char *sku,
                   double qty, double price, double cost);
void cw_dataset_finish(struct cw_dataset *ds);
size_t cw_dataset_nbaskets(const struct cw_dataset *ds);

#endif
