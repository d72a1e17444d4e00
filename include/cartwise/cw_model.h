/*
 * cw_model.h: the trained model, one immutable versioned artifact.
 *
 * Everything the decision needs lives here, in flat arrays so that the file
 * form and the memory form are the same bytes: a model decoded from a file
 * points into the caller's (usually mmap'ed, read-only) buffer and copies
 * nothing but the two lookup tables (SKUs, customers). A model built by
 * training owns its arrays. The file is a header, sections and a trailing
 * xxh3-64 checksum of everything before it; decoding checks magic, format
 * version, section bounds and the checksum and refuses a damaged file.
 */
#ifndef CW_MODEL_H
#define CW_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cw_hash.h"

struct cw_buf;
struct cw_dataset;

#define CW_MODEL_FORMAT 4
#define CW_MODEL_NFEAT 6  /* acceptance features, see decide.c */
#define CW_MODEL_NRANK 17 /* re-ranker features, see decide.c */
#define CW_MODEL_NSEQ 3   /* latest cart lines the re-ranker reads */

/* Per item (a SKU of the training universe or of the catalog). */
struct cw_item {
    int64_t price;     /* median unit price, minor units */
    int64_t margin;    /* unit margin, minor units (price - cost) */
    uint32_t pop;      /* training baskets containing it */
    uint32_t group;    /* index into groups */
    uint32_t category; /* index into categories; 0 = none */
    uint32_t flags;    /* enum cw_product_flag + CW_ITEM_* below */
    int32_t inventory; /* -1 untracked */
    float return_rate; /* returned units / sold units, smoothed */
    uint32_t title;    /* offset into strings; 0 = none */
    uint32_t attrs;    /* offset into strings; 0 = none */
    float repeat_rate; /* of the customers who bought it (with two or more
                          orders), the share who bought it again, smoothed */
    uint32_t recent;   /* of the meta.n_recent latest training baskets, how
                          many contain it (its current trend) */
};

enum cw_item_flag {
    CW_ITEM_MARGIN_ASSUMED = 1u << 16, /* cost unknown: default rate used */
    CW_ITEM_IN_TRAINING = 1u << 17,    /* seen in training baskets */
};

/* A neighbour of an item in the item model. */
struct cw_nbr {
    uint32_t item;
    float w;     /* item-model weight (EASE or normalized co-occurrence) */
    uint32_t co; /* baskets containing both */
};

/* A past item of a customer, weighted by recency and frequency. */
struct cw_hist {
    uint32_t item;
    float w;    /* recency-decayed share of the customer's orders with it */
    uint32_t n; /* the customer's orders with it */
};

struct cw_customer {
    int64_t typical_order; /* median order value, minor units */
    uint32_t n_orders;
    uint32_t hist_off; /* hist[hist_off .. hist_off + n_hist) */
    uint32_t n_hist;
};

struct cw_model_meta {
    int64_t trained_at; /* unix seconds */
    int64_t n_baskets;  /* training baskets */
    int64_t n_lines;
    double ease_lambda;  /* 0: EASE not used */
    uint32_t ease_items; /* items in the dense solve */
    uint32_t top_m;
    double default_margin_rate;
    char currency[4];
    int32_t currency_exp;
    double feat_w[CW_MODEL_NFEAT + 1]; /* acceptance model: bias + weights */
    double profit_gamma;    /* set selection: rank by P * margin^gamma */
    double relevance_floor; /* candidates below floor * best P are dropped */
    /* The re-ranker: the best rank_n candidates of the acceptance model
     * are ordered again by rank_w . (re-ranker features), a conditional
     * logit fitted on validation carts, and get P(accept) = sigmoid(rank_a
     * + rank_b x that score). rank_n == 0: off (validation did not show a
     * gain, or too little data). */
    uint32_t rank_n;
    uint32_t n_recent; /* latest training baskets counted in item.recent */
    /* Whether the training orders list their lines in the order shoppers
     * chose them (cart_order 1), so the latest cart lines say most about
     * the next: line_order_mix is the share of adjacent line pairs that
     * come in an item pair's less usual order (0 when an export sorts its
     * lines, as a grocer's aisle order does; then the cart's order is
     * ignored). */
    uint32_t cart_order;
    double line_order_mix;
    double rank_w[CW_MODEL_NRANK];
    double rank_a, rank_b;
};

struct cw_model {
    struct cw_model_meta meta;
    uint32_t n_items, n_groups, n_categories, n_customers;
    const struct cw_item *items;
    const uint32_t *item_sku; /* string offsets */
    const uint32_t *nbr_off;  /* n_items + 1 */
    const struct cw_nbr *nbrs;
    const uint32_t *group_name;  /* string offsets */
    const uint32_t *group_off;   /* n_groups + 1: variants of a group */
    const uint32_t *group_items; /* sorted by popularity, descending */
    const uint32_t *category_name;
    const uint32_t *popular; /* items by popularity, descending */
    uint32_t n_popular;
    const uint32_t *customer_id; /* string offsets */
    const struct cw_customer *customers;
    const struct cw_hist *hist;
    const char *strings; /* NUL-separated; offset 0 is "" */
    size_t strings_len;

    /* lookups, built at decode */
    struct cw_intern sku_index, customer_index;
    const void *raw; /* the encoded bytes everything above points into */
    size_t raw_len;
    void *owned; /* raw, when the model owns it (trained) */
};

static inline const char *cw_model_str(const struct cw_model *m, uint32_t off)
{
    return m->strings + off;
}
static inline const char *cw_model_sku(const struct cw_model *m, uint32_t i)
{
    return m->strings + m->item_sku[i];
}

/* Returns the item index of sku, or -1. */
long cw_model_find_sku(const struct cw_model *m, const char *sku);
long cw_model_find_customer(const struct cw_model *m, const char *id);

/* Appends m's encoded bytes (its file form) to out. */
int cw_model_encode(const struct cw_model *m, struct cw_buf *out);
/* Decodes a model that points into data (which must outlive it and stay
 * unchanged). Returns 0, or CW_ECORRUPT with the reason in err. */
int cw_model_decode(struct cw_model *m, const void *data, size_t n,
                    struct cw_buf *err);
/* Releases what m owns (lookups; the bytes of a trained model). */
void cw_model_release(struct cw_model *m);

#endif
