/*
 * cw_store.h: the store, one ops table with a backend per database.
 *
 * Like SQLite's VFS: callers see struct cw_store and its ops; the SQLite
 * backend (embedded default, a file path) and PostgreSQL (a postgres://
 * URL, store_pg.c) fill in the table with the same semantics. The schema comes
 * from numbered migrations applied at open. Writes between begin and commit are
 * one transaction; rollback leaves nothing behind. A write that fails inside
 * a transaction fails the transaction: the caller's next call is rollback
 * (SQLite would let it go on, PostgreSQL would not; a commit after a failed
 * write is refused by both).
 *
 * put_* return 1 when the record was added, 0 when it was already there
 * (same key: re-imports add nothing twice; products are updated in place and
 * return 0 when they existed), or a negative CW_E* code.
 */
#ifndef CW_STORE_H
#define CW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cw_records.h"

struct cw_buf;
struct cw_store;

/* One order line joined with its order, as training reads it. */
struct cw_store_line {
    const char *order_id;
    const char *customer; /* NULL for guests */
    const char *ts;
    const char *sku;
    int64_t qty;
    int64_t unit_price;
    int64_t unit_cost; /* CW_MONEY_UNKNOWN */
};

struct cw_store_counts {
    int64_t products, customers, orders, lines, returns, events, decisions,
        models;
};

struct cw_model_info {
    int64_t version;     /* 1, 2, ... */
    char path[1024];     /* model file */
    char checksum[17];   /* xxh3-64, hex */
    char created_at[32]; /* ISO-8601 UTC */
    int64_t items, customers, baskets;
};

#define CW_STORE_DECISIONS_MAX 100000

/* One record of a batch of writes (put_batch): its kind says which put_* it
 * goes to. */
enum cw_store_kind {
    CW_STORE_PRODUCT,
    CW_STORE_ORDER,
    CW_STORE_LINE,
    CW_STORE_RETURN,
};

struct cw_store_put {
    enum cw_store_kind kind;
    union {
        const struct cw_product_rec *product;
        const struct cw_order_rec *order;
        const struct cw_line_rec *line;
        const struct cw_return_rec *ret;
    } rec;     /* borrowed for the call */
    int added; /* set by put_batch: what the record's put_* returns, 1/0 */
};

#define CW_STORE_BATCH_MAX 10000

struct cw_store_ops {
    const char *name; /* "sqlite", "postgres" */
    void (*close)(struct cw_store *s);
    int (*begin)(struct cw_store *s, struct cw_buf *err);
    int (*commit)(struct cw_store *s, struct cw_buf *err);
    int (*rollback)(struct cw_store *s, struct cw_buf *err);

    int (*put_product)(struct cw_store *s, const struct cw_product_rec *p,
                       struct cw_buf *err);
    int (*put_order)(struct cw_store *s, const struct cw_order_rec *o,
                     struct cw_buf *err);
    int (*put_line)(struct cw_store *s, const struct cw_line_rec *l,
                    struct cw_buf *err);
    int (*put_return)(struct cw_store *s, const struct cw_return_rec *r,
                      struct cw_buf *err);
    /* Writes the n records of p in their order with the semantics of n
     * calls of their put_* (a record sees the ones before it; duplicates,
     * in the store or in the batch, are not added twice), each p[i].added
     * set to what that put returns, in as few round trips as the backend
     * can: PostgreSQL sends the whole batch before reading any answer, so
     * a batch costs one round trip, not n. The batch is checked whole
     * before any of it is written; a write that fails fails the caller's
     * transaction (see the top) or, outside one, leaves nothing of the
     * batch. Returns how many were added, or a negative CW_E* with err
     * naming the record as its put_* does and *failed its index (n when
     * no one record failed: the connection, the commit of its own
     * transaction). n at most CW_STORE_BATCH_MAX. */
    int (*put_batch)(struct cw_store *s, struct cw_store_put *p, size_t n,
                     size_t *failed, struct cw_buf *err);

    /* Visit every record; a non-zero return from cb stops and is returned.
     * Lines come ordered by (order ts, order id, line_no). */
    int (*scan_products)(struct cw_store *s,
                         int (*cb)(void *ctx, const struct cw_product_rec *p),
                         void *ctx, struct cw_buf *err);
    int (*scan_lines)(struct cw_store *s,
                      int (*cb)(void *ctx, const struct cw_store_line *l),
                      void *ctx, struct cw_buf *err);
    int (*scan_returns)(struct cw_store *s,
                        int (*cb)(void *ctx, const struct cw_return_rec *r),
                        void *ctx, struct cw_buf *err);

    int (*counts)(struct cw_store *s, struct cw_store_counts *out,
                  struct cw_buf *err);

    /* Model registry: add a version row (info->version is assigned and
     * written back), read the newest (CW_ENOENT when none). */
    int (*model_add)(struct cw_store *s, struct cw_model_info *info,
                     struct cw_buf *err);
    int (*model_latest)(struct cw_store *s, struct cw_model_info *out,
                        struct cw_buf *err);

    /* Events, decisions, keys, webhook deliveries (put: 1 added, 0 already
     * there by id). Scans visit in (ts, id) order. */
    int (*put_event)(struct cw_store *s, const struct cw_event_rec *e,
                     struct cw_buf *err);
    /* Decisions come in batches (the server's decision log): the n of d,
     * all or none (in the caller's transaction a failure fails it, see
     * the top). Returns how many were added (the others were there by id),
     * or a negative CW_E*. n at most CW_STORE_DECISIONS_MAX. */
    int (*put_decisions)(struct cw_store *s, const struct cw_decision_rec *d,
                         size_t n, struct cw_buf *err);
    int (*scan_events)(struct cw_store *s,
                       int (*cb)(void *ctx, const struct cw_event_rec *e),
                       void *ctx, struct cw_buf *err);
    int (*scan_decisions)(struct cw_store *s,
                          int (*cb)(void *ctx, const struct cw_decision_rec *d),
                          void *ctx, struct cw_buf *err);
    int (*put_key)(struct cw_store *s, const struct cw_key_rec *k,
                   struct cw_buf *err);
    /* Finds the key whose hash is hash; CW_ENOENT when none. The record's
     * strings stay valid until the next call on s. */
    int (*find_key)(struct cw_store *s, const char *hash,
                    struct cw_key_rec *out, struct cw_buf *err);
    /* Every key in the order made, without its hash (NULL in the record). */
    int (*scan_keys)(struct cw_store *s,
                     int (*cb)(void *ctx, const struct cw_key_rec *k),
                     void *ctx, struct cw_buf *err);
    /* Revokes key id: 1 revoked now, 0 it was already, CW_ENOENT when no
     * key has that id. A revoked key never works again. */
    int (*revoke_key)(struct cw_store *s, const char *id, struct cw_buf *err);
    /* Idempotency-Key: claims in's (key_id, idem_key, method, path) for a
     * new request (0: claimed, recorded as running) unless an entry made
     * at or after `since` holds it (1: *out is that entry, its strings
     * valid until the next call on s; older entries are dropped first). */
    int (*idem_claim)(struct cw_store *s, const struct cw_idem_rec *in,
                      const char *since, struct cw_idem_rec *out,
                      struct cw_buf *err);
    /* Records the answer of a claimed request (status, content type,
     * body of in); status 0 releases the claim instead (nothing kept). */
    int (*idem_finish)(struct cw_store *s, const struct cw_idem_rec *in,
                       struct cw_buf *err);
    /* Records a webhook delivery id (dedupe); body kept for reprocessing. */
    int (*put_webhook)(struct cw_store *s, const char *id, const char *topic,
                       const char *shop, const char *body, struct cw_buf *err);

    /* Small key/value settings (default margin rate, currency, ...).
     * get returns CW_ENOENT when unset; *out is owned by the caller. */
    int (*meta_get)(struct cw_store *s, const char *key, char **out,
                    struct cw_buf *err);
    int (*meta_set)(struct cw_store *s, const char *key, const char *value,
                    struct cw_buf *err);

    /* The store-wide daily discount budget (docs/incentives.md): leases up
     * to want more minor units of UTC day `day` (unix seconds / 86400) so
     * that the day's total leased, over every server, stays within limit.
     * One statement, so atomic against every other caller: *granted =
     * min(want, limit - leased so far), at least 0, is added to the day's
     * total. Returns 0, or a CW_E* code (then nothing was granted). */
    int (*budget_lease)(struct cw_store *s, int64_t day, int64_t limit,
                        int64_t want, int64_t *granted, struct cw_buf *err);
};

struct cw_store {
    const struct cw_store_ops *ops;
    char *url; /* owned: what was opened */
};

/* Opens the store named by url: "postgres://..." or "postgresql://..." (any
 * libpq connection URI) for PostgreSQL, anything else is a SQLite file path
 * (created if missing). Applies pending migrations. */
int cw_store_open(struct cw_store **out, const char *url, struct cw_buf *err);
void cw_store_close(struct cw_store *s); /* NULL is harmless */

/* Returns url when it names a store that is a local file (SQLite), for
 * files kept beside it; NULL for a database server's URL. */
const char *cw_store_file(const char *url);

/* url as it may be shown (messages, logs): a PostgreSQL url's password, in
 * its user part or a password= parameter, becomes "***". Written to out
 * (size bytes, cut to fit); returns out. */
char *cw_store_shown(const char *url, char *out, size_t size);

#endif
