/*
 * experiment_json.h: the experiment configuration as JSON, the form
 * `cartwise experiment set` reads and the store keeps in meta "experiment":
 *
 *   {"id": "cart-xsell-1", "salt": "s3cret", "unit": "customer",
 *    "start": "2026-11-01", "stop": "",
 *    "arms": [{"name": "holdout", "kind": "holdout", "share_bp": 1000},
 *             {"name": "profit", "kind": "profit", "share_bp": 9000}]}
 *
 * unit is "customer" (the customer id, else the session id; the default) or
 * "session"; start and stop are optional; an arm's share is share_bp (basis
 * points, integer) or share (a fraction, rounded to basis points). Parsed
 * with jansson, so it lives outside core; the server can use the same two
 * functions.
 */
#ifndef CW_EXPERIMENT_JSON_H
#define CW_EXPERIMENT_JSON_H

#include <stddef.h>

struct cw_buf;
struct cw_experiment;

#define CW_EXPERIMENT_JSON_MAX (64 * 1024)

/* Parses and validates text (len bytes). Returns 0, CW_EPARSE (not JSON,
 * wrong shape, unknown key) or CW_EINVAL (cw_experiment_validate), with one
 * line naming the field in err. */
int cw_experiment_from_json(const char *text, size_t len,
                            struct cw_experiment *out, struct cw_buf *err);

/* Appends e in the canonical form above (share_bp, every key). */
void cw_experiment_to_json(const struct cw_experiment *e, struct cw_buf *out);

#endif
