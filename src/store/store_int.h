/*
 * store_int.h: what the store's backends share (store.c).
 *
 * Both backends refuse the same bad records with the same codes and
 * messages before any SQL runs, so the checks live here once; what the
 * database itself refuses (CHECK, NOT NULL, foreign keys) is each backend's
 * to report.
 */
#ifndef CW_STORE_INT_H
#define CW_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cartwise/cw_store.h"

struct cw_buf;

/* Each returns 0 when the record may be written, else CW_EINVAL with
 * "<record> '<id>' without ..." (or what is wrong) in err. */
int cw__store_check_product(const struct cw_product_rec *p, struct cw_buf *err);
int cw__store_check_order(const struct cw_order_rec *o, struct cw_buf *err);
int cw__store_check_line(const struct cw_line_rec *l, struct cw_buf *err);
int cw__store_check_return(const struct cw_return_rec *r, struct cw_buf *err);
int cw__store_check_event(const struct cw_event_rec *e, struct cw_buf *err);
/* All n of p, by kind, as the checks above (a batch is checked whole
 * before any is written); *failed is the first bad record's index, or n
 * when n is over CW_STORE_BATCH_MAX. */
int cw__store_check_batch(const struct cw_store_put *p, size_t n,
                          size_t *failed, struct cw_buf *err);
/* All n of d (a batch is checked whole before any is written). */
int cw__store_check_decisions(const struct cw_decision_rec *d, size_t n,
                              struct cw_buf *err);
int cw__store_check_key(const struct cw_key_rec *k, struct cw_buf *err);
int cw__store_check_idem(const struct cw_idem_rec *in, struct cw_buf *err);
/* The other calls' arguments, CW_EINVAL when missing: a key lookup's
 * hash, a revoked key's id, a webhook delivery's id, a setting's key. */
int cw__store_check_key_hash(const char *hash, struct cw_buf *err);
int cw__store_check_key_id(const char *id, struct cw_buf *err);
int cw__store_check_webhook_id(const char *id, struct cw_buf *err);
int cw__store_check_meta_key(const char *key, struct cw_buf *err);
/* A model version to add: it needs a path (CW_EINVAL); created_at, when
 * empty, becomes now. */
int cw__store_model_prepare(struct cw_model_info *info, struct cw_buf *err);
/* A budget lease's arguments: none negative (CW_EINVAL). */
int cw__store_check_lease(int64_t day, int64_t limit, int64_t want,
                          struct cw_buf *err);

/* Writes the current UTC time as "2024-01-31T12:00:00Z" into out (size
 * bytes, at least 21), the form of every time the store writes itself. */
void cw__store_now(char *out, size_t size);

/* Backends (store_sqlite.c, store_pg.c): open url, *out owned by the caller
 * and freed by cw_store_close. */
int cw__store_sqlite_open(struct cw_store **out, const char *path,
                          struct cw_buf *err);
int cw__store_pg_open(struct cw_store **out, const char *url,
                      struct cw_buf *err);

#endif
