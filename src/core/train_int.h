/*
 * train_int.h: what training and the decision share: the acceptance
 * features of one candidate, computed by the same code in both places so
 * the model is fitted on exactly what it will be asked.
 */
#ifndef CW_TRAIN_INT_H
#define CW_TRAIN_INT_H

#include "cartwise/cw_decide.h"
#include "cartwise/cw_model.h"

/* A candidate of one request: an item and its linear acceptance score
 * (P(accept) = sigmoid(z)). Kept small: a large cart has thousands. */
struct cw__cand {
    uint32_t item;
    double z;
};

/* Scores every candidate of req into the scratch and returns how many; *c
 * points at the scratch's candidate array. Used by cw_decide and by the
 * trainer's validation fits. Returns a negative CW_E* on a bad request. */
int cw__decide_candidates(const struct cw_model *m, struct cw_scratch *s,
                          const struct cw_decide_req *req,
                          struct cw_decision *out, struct cw__cand **c,
                          struct cw_buf *err);

/* The acceptance features of a candidate of the last request decided with
 * s (what its z was computed from). */
void cw__cand_features(const struct cw_model *m, const struct cw_scratch *s,
                       uint32_t item, float f[CW_MODEL_NFEAT]);

/* What the re-ranker reads of a candidate besides its acceptance
 * features, for the last request decided with s. */
struct cw__rank_raw {
    float hn;     /* the shopper's orders with it */
    float rep;    /* its repeat rate */
    float trend;  /* log of its share of the latest training baskets over
                     its all-time share (smoothed) */
    float recent; /* its share of the latest training baskets (log) */
    float conf;   /* baskets with it and its strongest cart item / baskets
                     with that item */
    float mean;   /* item-model score / known cart items */
    float lncart; /* log(1 + known cart items) */
    float seq[CW_MODEL_NSEQ]; /* confidence from the latest cart lines
                                 (baskets with both / with that line's) */
};
void cw__cand_rank_raw(const struct cw_model *m, const struct cw_scratch *s,
                       uint32_t item, struct cw__rank_raw *r);

/* The re-ranker (decide.c): at most CW_RANK_MAX candidates are re-ranked;
 * the others drop CW_RANK_DEMOTE in linear score. */
#define CW_RANK_MAX 100
#define CW_RANK_DEMOTE 1000.0

/* The re-ranker's features of a candidate from its acceptance features f,
 * its acceptance model's linear score z1 and what else it reads of it. */
void cw__rank_features(const float f[CW_MODEL_NFEAT], double z1,
                       const struct cw__rank_raw *x, float out[CW_MODEL_NRANK]);

/* The re-ranker's score of features r under weights w (uncalibrated:
 * P(accept) = sigmoid(rank_a + rank_b x this)). */
static inline double cw__rank_score(const double w[CW_MODEL_NRANK],
                                    const float r[CW_MODEL_NRANK])
{
    double sc = 0;
    for (int d = 0; d < CW_MODEL_NRANK; d++)
        sc += w[d] * r[d];
    return sc;
}

/* Indexes into c of its best min(top_n, CW_RANK_MAX) candidates by z
 * (ties: lower item first), best first, written to top; returns how many. */
int cw__rank_select(const struct cw__cand *c, int n, unsigned top_n, int *top);

/* Which of a validation basket's n distinct items (their lines, skus
 * distinct) is hidden in its j-th case (j < CW_VAL_HIDE; distinct items
 * when n >= 2): the one with the j-th smallest hash of (basket id, sku),
 * so the choice is the same whatever the order of the basket's lines. A
 * model fitted to guess the last line learns how the file lists a basket
 * (a grocer's export sorted by aisle ends most baskets with shopping bags),
 * which says nothing about what a shopper adds next. */
#define CW_VAL_HIDE 2
size_t cw__val_hidden(const char *basket, const struct cw_cart_line *items,
                      size_t n, int j);

/* The paired z-score of a over b (per-case values of two rankings of the
 * same n cases): their mean difference over its standard error; 0 when
 * they never differ. What the re-ranker's gate and the profit weight's
 * choice ask of a gain on validation. */
double cw__paired_z(const double *a, const double *b, size_t n);

/* Fitting (train.c), exposed for tests. Platt scaling: P = sigmoid(a + b
 * x) fitted to labels y by Newton on the log loss. */
void cw__fit_platt(const double *x, const uint8_t *y, size_t n, double *a,
                   double *b);
/* The intercept a that makes sigmoid(a + b x) predict as many positives
 * as y has (the log loss's best a for that slope): a level set on one
 * set of rows with a slope fitted on another. */
double cw__platt_intercept(const double *x, const uint8_t *y, size_t n,
                           double b);
/* Conditional logit: P(row i is the one chosen in its case) = softmax over
 * the case's rows (start[k] .. start[k + 1]) of w . r_i, with a ridge l2 on
 * the standardized weights. Returns 0 with w on the raw features, or -1. */
int cw__fit_clogit(const float (*r)[CW_MODEL_NRANK], const uint8_t *y,
                   const size_t *start, size_t n_cases, double l2,
                   double w[CW_MODEL_NRANK]);

static inline double cw__sigmoid(double z)
{
    return 1.0 / (1.0 + __builtin_exp(-z));
}

#endif
