/*
 * cw_eval.h: the basket-completion benchmark of BENCHMARK.md section 1.
 *
 * Split, universe, cases, hidden item and metrics follow the protocol to the
 * letter so that `cases` equals the reference script's. Recommendations come
 * from cw_decide, the function that serves POST /v1/decide.
 */
#ifndef CW_EVAL_H
#define CW_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "cw_train.h"

struct cw_buf;
struct cw_dataset;

struct cw_eval_opts {
    unsigned k;      /* 3 */
    int hidden_hash; /* 0: last, 1: fnv1a32(basket_id) mod n */
    struct cw_train_params train;
};

struct cw_eval_metrics {
    double hr, ndcg, margin_capture, margin_per_case;
};

/* Calibration of P(accept) over every recommended add-on of the engine as
 * configured: the shopper "accepts" an add-on when it is the hidden item.
 * Reliability table in CW_EVAL_CALIB_BINS equal bins of predicted P. */
#define CW_EVAL_CALIB_BINS 10
struct cw_eval_calib {
    size_t n;        /* add-ons */
    double log_loss; /* mean */
    double mean_p, accept_rate;
    size_t bin_n[CW_EVAL_CALIB_BINS];
    double bin_p[CW_EVAL_CALIB_BINS];    /* mean predicted P */
    double bin_rate[CW_EVAL_CALIB_BINS]; /* observed acceptance */
};

struct cw_eval_result {
    size_t baskets, train_baskets, cases, items;
    struct cw_eval_metrics profit;   /* the engine as configured */
    struct cw_eval_metrics accuracy; /* same pipeline, profit weight off */
    double train_s, eval_s;
    double ease_lambda, profit_gamma;
    int reranker;   /* the model re-ranks (validation kept its re-ranker) */
    int cart_order; /* the model reads the cart's latest lines */
    double line_order_mix; /* what that was decided on (cw_model_meta) */
    struct cw_eval_calib calib;
};

/* Returns the benchmark's assumed margin rate of sku: 0.10 + 0.50 *
 * (fnv1a32(sku) mod 1001) / 1000. */
double cw_eval_margin_rate(const char *sku);

/* The test cases of the protocol (steps 2-4): for every test basket with
 * at least 2 distinct skus of the universe, those skus (dataset sku ids) in
 * order of first occurrence. Owned arrays; release with
 * cw_eval_cases_release. */
struct cw_eval_cases {
    size_t n;    /* cases */
    size_t *off; /* skus of case i: sku[off[i] .. off[i+1]) */
    uint32_t *sku;
    uint32_t *basket; /* the case's basket id */
    size_t ntrain;    /* training baskets: ds->order[0 .. ntrain) */
    size_t items;     /* skus in the universe */
};

/* Builds the cases of the finished dataset ds. */
void cw_eval_cases_build(const struct cw_dataset *ds,
                         struct cw_eval_cases *out);
void cw_eval_cases_release(struct cw_eval_cases *c);

int cw_eval_run(const struct cw_dataset *ds, const struct cw_eval_opts *opts,
                struct cw_eval_result *out, struct cw_buf *err);

#endif
