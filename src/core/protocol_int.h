/*
 * protocol_int.h: the parts of BENCHMARK.md section 1 that the evaluator
 * and the shopper simulator share (internal to core).
 *
 * Both replay the same train/test split and give the engine the protocol's
 * unit margins as its margin source, so an offline metric and a simulated
 * profit speak of the same money.
 */
#ifndef CW_PROTOCOL_INT_H
#define CW_PROTOCOL_INT_H

#include <stddef.h>
#include <stdint.h>

struct cw_dataset;

/* Number of training baskets of nb: floor(0.8 nb) (protocol step 2). */
size_t cw__protocol_ntrain(size_t nb);

/* Unit margin per dataset sku (protocol step 8), in major units: price -
 * cost where a cost is given, else price x the assumed rate of the sku,
 * price being the median over the sku's lines up to cutoff (else over all
 * of them, else 1.0). Returns an array of ds->skus.n + 1 the caller frees
 * with cw_free. */
double *cw__protocol_margins(const struct cw_dataset *ds, const char *cutoff);

/* A cw_train_input.unit_margin source over those margins: ctx is a
 * struct cw__margin_ctx. Skus outside ds get price x their assumed rate. */
struct cw__margin_ctx {
    const struct cw_dataset *ds;
    const double *margin;
};
double cw__protocol_margin_of(void *ctx, const char *sku, double price);

/* Marks in in_univ (ds->skus.n + 1 bytes, zeroed by the caller) the skus of
 * the first ntrain baskets in time order (protocol step 3); returns how many
 * there are. */
size_t cw__protocol_universe(const struct cw_dataset *ds, size_t ntrain,
                             uint8_t *in_univ);

#endif
