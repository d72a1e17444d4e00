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

static inline double cw__sigmoid(double z)
{
    return 1.0 / (1.0 + __builtin_exp(-z));
}

#endif
