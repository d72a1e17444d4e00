/*
 * model_int.h: the model's parts as training assembles them, before they
 * become the one encoded buffer that a model always points into.
 */
#ifndef CW_MODEL_INT_H
#define CW_MODEL_INT_H

#include "cartwise/cw_model.h"

struct cw__model_parts {
    struct cw_model_meta meta;
    uint32_t n_items, n_groups, n_categories, n_customers, n_popular;
    const struct cw_item *items;
    const uint32_t *item_sku;
    const uint32_t *nbr_off;
    const struct cw_nbr *nbrs;
    const uint32_t *group_name, *group_off, *group_items;
    const uint32_t *category_name;
    const uint32_t *popular;
    const uint32_t *customer_id;
    const struct cw_customer *customers;
    const struct cw_hist *hist;
    uint32_t n_hist;
    const char *strings;
    size_t strings_len;
};

/* Encodes parts into out (appended). */
int cw__model_build(const struct cw__model_parts *p, struct cw_buf *out);

#endif
