/*
 * cw_train.h: training the model from order lines, catalog and returns.
 *
 * One pass counts item and pair occurrences over the training baskets; the
 * item model is EASE (Steck 2019) solved densely over the most frequent
 * items (LAPACKE when built with it, else the plain-C Cholesky of solve.c),
 * with normalized co-occurrence for items outside the dense solve. Customer
 * profiles, return rates and price statistics come from the same pass.
 * Hyperparameters (EASE lambda, the acceptance model, the profit weight) are
 * chosen on a validation split taken from the end of the training baskets,
 * never by hand per dataset.
 */
#ifndef CW_TRAIN_H
#define CW_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "cw_records.h"

struct cw_buf;
struct cw_dataset;
struct cw_model;

struct cw_train_input {
    const struct cw_dataset *ds; /* finished dataset */
    const uint32_t *baskets;     /* training basket ids, in time order */
    size_t n_baskets;
    const struct cw_product_rec *products; /* catalog; may be empty */
    size_t n_products;
    const struct cw_return_rec *returns; /* may be empty */
    size_t n_returns;
    /* Unit margin in major units of sku at price, when the caller knows a
     * better source than costs or the default rate (the benchmark's assumed
     * rates). NULL: cost where known, else default_margin_rate. */
    double (*unit_margin)(void *ctx, const char *sku, double price);
    void *unit_margin_ctx;
};

struct cw_train_params {
    uint32_t top_m;             /* neighbours kept per item (default 100) */
    uint32_t ease_max_items;    /* dense solve limit (default 8000) */
    double ease_lambda;         /* <= 0: tune on validation */
    int use_blas;               /* 1: LAPACKE when available */
    int tune;                   /* 1: fit acceptance + gamma on validation */
    double default_margin_rate; /* for unknown costs (default 0.30) */
    const char *currency;       /* default "USD" */
    int64_t now;                /* trained_at (unix seconds); 0: time() */
};

void cw_train_params_default(struct cw_train_params *p);

/* Trains into out (which then owns its arrays; release with
 * cw_model_release). Returns 0, CW_ENODATA with too few baskets, or a
 * CW_E* code with the reason in err. */
int cw_train(struct cw_model *out, const struct cw_train_input *in,
             const struct cw_train_params *p, struct cw_buf *err);

/* Dense symmetric positive-definite inverse in place (n x n, row-major):
 * the plain-C Cholesky, and the LAPACKE one (CW_EUNSUPPORTED when built
 * without). Exposed so tests can compare them. */
int cw_spd_inverse_plain(double *a, size_t n);
int cw_spd_inverse_lapack(double *a, size_t n);

#endif
