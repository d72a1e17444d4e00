/*
 * server.h: what the files of src/server/ share (internal to the server).
 *
 * The server is thin: server.c runs libmicrohttpd and turns each request
 * into a struct cw_req (route, key, body, ids), routes.c holds the one
 * sorted route table, each h_<resource>.c parses with json_io.c, calls
 * core or the store and writes a JSON body; only this directory maps CW_E*
 * codes to HTTP statuses. Around it: the model holder (atomic swap of model
 * versions with reference counts), the decision log (a bounded queue that
 * one writer thread drains into the store), auth (hashed keys, token
 * buckets) and the metrics registry.
 *
 * Threads: libmicrohttpd's pool (one per core, epoll) runs every handler;
 * a connection stays on one pool thread, so per-thread state (decide
 * scratch, buffers) needs no lock. The store is not thread-safe: handlers
 * that write share one handle under a mutex; auth lookups, the decision
 * writer, training and the model poller each have their own.
 */
#ifndef CW_SERVER_H
#define CW_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "app/app.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_experiment.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_records.h"

struct MHD_Connection;
struct MHD_Daemon;
struct cw_store;
struct cw_srv;
struct cw_req;

#define CW_API_VERSION "2026-11-01"
#define CW_SRV_DEFAULT_MAX_BODY (1u << 20)
#define CW_SRV_ID_MAX 128 /* ids in requests: bytes */
#define CW_SRV_NWEB 7     /* files of the web pages (h_web.c) */
#define CW_SRV_MONEY_MAX 1000000000000000LL /* 10^15 minor units */
#define CW_SRV_EVENTS_MAX 500               /* per POST /v1/events */
#define CW_SRV_PRODUCTS_MAX 1000
#define CW_SRV_ORDERS_MAX 500
#define CW_SRV_ORDER_LINES_MAX 1000 /* lines (and returns) per order */

/* ---- per-request arena (freed all at once when the request ends) ---- */

struct cw_srv_arena {
    struct cw_srv_chunk *head;
    char *p; /* free space in head */
    size_t left;
    struct cw_srv_chunk *spare; /* first chunk, kept across resets */
};
void cw_srv_arena_init(struct cw_srv_arena *a);
void *cw_srv_arena_alloc(struct cw_srv_arena *a, size_t n); /* 16-aligned */
char *cw_srv_arena_strndup(struct cw_srv_arena *a, const char *s, size_t n);
char *cw_srv_arena_strdup(struct cw_srv_arena *a, const char *s);
void cw_srv_arena_reset(struct cw_srv_arena *a); /* keeps one chunk */
void cw_srv_arena_release(struct cw_srv_arena *a);

/* ---- errors: what becomes {"error": {...}} ---- */

struct cw_srv_error {
    int status;       /* HTTP status */
    const char *type; /* invalid_request_error, ... */
    const char *code; /* machine-readable, e.g. "invalid_value" */
    char message[256];
    char field[160]; /* JSON path ("cart[2].qty"), "" for none */
};

/* Fills e and returns -1. field may be NULL; fmt is the message. */
int cw_srv_fail(struct cw_srv_error *e, int status, const char *code,
                const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The error type of a status (invalid_request_error for 4xx, ...). */
const char *cw_srv_error_type(int status);

/* ---- json_io.c: request bodies -> core structs ---- */

/* Parses body as a JSON object into *root (caller json_decref's). 400
 * invalid_json on malformed text, 400 invalid_body when not an object. */
int cw_srv_json_load(const char *body, size_t n, json_t **root,
                     struct cw_srv_error *e);

struct cw_srv_decide {
    const char *session_id;
    const char *customer_id; /* NULL: anonymous */
    enum cw_placement placement;
    unsigned k;
    int newest_first; /* "cart_order": "newest_first" */
    size_t n_lines;
    struct cw_cart_line lines[CW_CART_MAX]; /* sku: the line's sku */
    const char *variant[CW_CART_MAX];       /* NULL when not given */
    char customer_buf[32];                  /* an integer customer id */
};

/* Validates a decide request (strings point into root). 0 or -1 with e
 * (422 naming the field). */
int cw_srv_parse_decide(json_t *root, struct cw_srv_decide *out,
                        struct cw_srv_error *e);

/* A decide request's incentive signals before its coupon and context are
 * read: none given (both decide parsers start from it). */
void cw_srv_incentive_session_init(struct cw_incentive_session *is);

/* The decide body of the common shape read without a JSON tree, into q and
 * is (strings in a copy of the body in a): 1, or 0 when it declines the body
 * (anything unusual, or invalid): then cw_srv_json_load,
 * cw_srv_parse_decide and cw_srv_parse_decide_incentives give the answer
 * or the error. What it accepts, it reads as they do. */
int cw_srv_decide_fast(const char *body, size_t len, struct cw_srv_arena *a,
                       struct cw_srv_decide *q,
                       struct cw_incentive_session *is);

/* POST /v1/events. public_key: only storefront types (403 otherwise).
 * now is the ts used for events without one. Strings in root or a. */
int cw_srv_parse_events(json_t *root, int public_key, const char *now,
                        struct cw_srv_arena *a, struct cw_event_rec **out,
                        size_t *n, struct cw_srv_error *e);

int cw_srv_parse_products(json_t *root, struct cw_srv_arena *a,
                          struct cw_product_rec **out, size_t *n,
                          struct cw_srv_error *e);

struct cw_srv_order {
    struct cw_order_rec o;
    struct cw_line_rec *lines;
    size_t n_lines;
    struct cw_return_rec *returns;
    size_t n_returns;
};
int cw_srv_parse_orders(json_t *root, struct cw_srv_arena *a,
                        struct cw_srv_order **out, size_t *n,
                        struct cw_srv_error *e);
/* Runs write(s, ctx, err) in one transaction of the server's writer store,
 * under its lock: committed when write returns 0, rolled back otherwise, so
 * a batch is written whole or not at all. Returns 0 or the CW_E* code. */
int cw_srv_write_tx(struct cw_srv *srv,
                    int (*write)(struct cw_store *s, void *ctx,
                                 struct cw_buf *err),
                    void *ctx, struct cw_buf *err);
/* Writes n orders in the open transaction of s (h_orders.c). Returns 0 or
 * a CW_E* code; *inserted counts the orders that were new. */
int cw__srv_put_orders(struct cw_store *s, const struct cw_srv_order *o,
                       size_t n, size_t *inserted, struct cw_buf *err);
/* A Shopify order webhook payload as one order. */
int cw_srv_parse_shopify_order(json_t *root, struct cw_srv_arena *a,
                               struct cw_srv_order *out,
                               struct cw_srv_error *e);
/* POST /v1/train's optional body. */
int cw_srv_parse_train(json_t *root, struct cw_app_train_opts *o,
                       struct cw_srv_error *e);

/* "YYYY-MM-DD HH:MM:SS" (zone dropped: shop time, as the importers keep
 * it) from ISO-8601 text; 0 when s is not a date-time. */
int cw_srv_order_ts(const char *s, char out[20]);
/* "YYYY-MM-DDTHH:MM:SSZ" in UTC from ISO-8601 text (no zone: UTC). */
int cw_srv_event_ts(const char *s, char out[21]);
/* Now as "YYYY-MM-DDTHH:MM:SSZ" (or with .mmm when ms). */
void cw_srv_now_iso(char *out, size_t size, int ms);

/* ---- routes.c ---- */

enum cw_srv_auth {
    CW_AUTH_NONE,   /* anyone */
    CW_AUTH_PUBLIC, /* a public or secret key */
    CW_AUTH_SECRET, /* a secret key */
    CW_AUTH_HMAC,   /* signed body (Shopify) */
};
enum cw_srv_route_flag {
    CW_ROUTE_BODY = 1u << 0,     /* JSON body required */
    CW_ROUTE_BODY_OPT = 1u << 1, /* JSON body allowed, may be empty */
    CW_ROUTE_CORS = 1u << 2,     /* storefront route: CORS, preflight */
    CW_ROUTE_NOLIMIT = 1u << 3,  /* health: no per-IP rate limit */
};

struct cw_srv_route {
    const char *path;
    const char *method;
    enum cw_srv_auth auth;
    unsigned flags;
    void (*fn)(struct cw_req *r);
};

extern const struct cw_srv_route cw_srv_routes[];
extern const size_t cw_srv_nroutes;

/* Finds method+path: its index, or -1 (then *path_known tells 405 from 404
 * and allow lists the path's methods, "GET, POST"). */
long cw_srv_route_find(const char *path, const char *method, int *path_known,
                       char *allow, size_t allow_size);

void cw_h_decide(struct cw_req *r);
void cw_h_events(struct cw_req *r);
void cw_h_products(struct cw_req *r);
void cw_h_orders(struct cw_req *r);
void cw_h_webhook_shopify_orders(struct cw_req *r);
void cw_h_train(struct cw_req *r);
void cw_h_model(struct cw_req *r);
void cw_h_openapi(struct cw_req *r);
void cw_h_web(struct cw_req *r);
/* Reads the web pages from cfg.web, $CARTWISE_WEB or the data directory's
 * web/ (a missing file is logged and answers 404); frees them. */
void cw_srv_web_load(struct cw_srv *srv);
void cw_srv_web_free(struct cw_srv *srv);
/* Where a file the server ships with is: <the binary's dir>/../share/
 * cartwise/<installed> for an installed cartwise (cmake --install), else
 * <source tree>/<source> for one run from its build tree. */
void cw_srv_data_path(struct cw_buf *out, const char *installed,
                      const char *source);
/* A whole file into *data (NUL-terminated copy, *len bytes): 0, or -1. */
int cw_srv_load_file(const char *path, char **data, size_t *len);
void cw_h_livez(struct cw_req *r);
void cw_h_readyz(struct cw_req *r);
void cw_h_metrics(struct cw_req *r);
void cw_h_config_get(struct cw_req *r);
void cw_h_config_put(struct cw_req *r);
void cw_h_reports_experiment(struct cw_req *r);
void cw_h_reports_kpis(struct cw_req *r);

/* ---- metrics.c ---- */

/* The statuses the server answers with, for the metric labels. */
// clang-format off
#define CW_SRV_STATUSES(X)                                                     \
    X(200) X(202) X(204) X(400) X(401) X(403) X(404) X(405) X(409) X(413)      \
    X(415) X(422) X(429) X(500) X(503)
// clang-format on
#define CW_SRV_NBUCKETS 14

struct cw_srv_metrics;
struct cw_srv_metrics *cw_srv_metrics_new(void);
void cw_srv_metrics_free(struct cw_srv_metrics *m);
/* route: index into cw_srv_routes, or -1 for unmatched. */
void cw_srv_metrics_request(struct cw_srv_metrics *m, long route, int status,
                            double seconds);

/* Counters the handlers bump (relaxed atomics, read by the renderer). */
struct cw_srv_counters {
    atomic_ullong decisions, addons_shown, decide_unknown_skus;
    atomic_ullong events_received, events_ingested, events_duplicate;
    atomic_ullong products_upserted, orders_ingested, webhooks_received,
        webhooks_duplicate;
    atomic_ullong declog_written, declog_dropped, declog_failed, declog_waits;
    atomic_ullong rate_limited_key, rate_limited_ip, auth_failures;
    atomic_ullong model_swaps, trainings, training_failures;
    atomic_ullong budget_leases, budget_leased, budget_lease_failures;
};
void cw_srv_metrics_render(struct cw_srv *srv, struct cw_buf *out);

/* ---- holder.c: the current model ---- */

struct cw_srv_model {
    struct cw_app_model am;
    uint64_t gen; /* holder generation; scratches follow it */
    atomic_long refs;
};

struct cw_srv_holder {
    pthread_mutex_t lock;         /* guards cur */
    pthread_mutex_t refresh_lock; /* one load at a time */
    struct cw_srv_model *cur;     /* NULL until a model is loaded */
    atomic_ullong gen;
};
void cw_srv_holder_init(struct cw_srv_holder *h);
void cw_srv_holder_release(struct cw_srv_holder *h);
/* A reference to the current model (NULL when none): release it. */
struct cw_srv_model *cw_srv_model_get(struct cw_srv_holder *h);
void cw_srv_model_put(struct cw_srv_model *m);
/* Loads the newest registered version from s when it is newer than the
 * current one and swaps it in. Returns 1 swapped, 0 unchanged, < 0 error. */
int cw_srv_holder_refresh(struct cw_srv *srv, struct cw_store *s,
                          struct cw_buf *err);

/* ---- declog.c: decisions to the store, off the request path ---- */

struct cw_srv_declog;
/* capacity: decisions queued at most; beyond, new ones are dropped and
 * counted. The writer opens its own store handle on db. */
int cw_srv_declog_start(struct cw_srv *srv, size_t capacity,
                        struct cw_buf *err);
/* Queues a copy of d (never blocks on the store). 0 queued, -1 dropped. */
int cw_srv_declog_push(struct cw_srv *srv, const struct cw_decision_rec *d);
/* Stops the writer after it has written everything queued. */
void cw_srv_declog_stop(struct cw_srv *srv);
size_t cw_srv_declog_depth(struct cw_srv *srv);

/* ---- auth.c: keys, pepper, rate limits ---- */

enum cw_key_kind { CW_KEY_NONE, CW_KEY_PUBLIC, CW_KEY_SECRET };

struct cw_srv_key {
    enum cw_key_kind kind;
    char id[40];
    char origins[512]; /* space separated; "" for none */
};

/* The store's key pepper (meta "key_pepper", 32 random bytes in hex),
 * created on first use. */
int cw_srv_pepper(struct cw_store *s, unsigned char pepper[32],
                  struct cw_buf *err);
/* hex HMAC-SHA256(pepper, key) into hex[65]. */
void cw_srv_key_hash(const unsigned char pepper[32], const char *key, size_t n,
                     char hex[65]);
/* A new random key "pk_live_..."/"sk_live_..." and its public id. */
void cw_srv_key_new(enum cw_key_kind kind, char key[64], char id[40]);

struct cw_srv_auth_state;
struct cw_srv_auth_state *cw_srv_auth_new(void);
void cw_srv_auth_free(struct cw_srv_auth_state *a);
/* Looks the bearer key up (cache, else the store). Returns 0 with *out, or
 * -1 with e (401). */
int cw_srv_authenticate(struct cw_srv *srv, const char *key, size_t n,
                        struct cw_srv_key *out, struct cw_srv_error *e);
/* Origin allowed for CORS: --cors-origin, the key's origins (when key is
 * given) or, for preflights, any public key's origins. */
int cw_srv_origin_allowed(struct cw_srv *srv, const char *origin,
                          const struct cw_srv_key *key);
/* Token buckets: 0 allowed, else the seconds to wait (Retry-After). */
int cw_srv_rate_key(struct cw_srv *srv, const char *key_id);
int cw_srv_rate_ip(struct cw_srv *srv, const char *ip);

/* ---- server.c ---- */

struct cw_srv_config {
    const char *db;
    const char *bind; /* NULL: all addresses */
    unsigned port;
    size_t max_body;
    unsigned threads;           /* 0: cores */
    unsigned conn_limit;        /* connections at once */
    unsigned per_ip_limit;      /* connections at once per client IP */
    unsigned timeout;           /* idle connection timeout, seconds */
    double key_rate, key_burst; /* per key: req/s, bucket; rate 0: off */
    double ip_rate, ip_burst;   /* per client IP */
    const char *const *cors_origins;
    size_t n_cors;
    const char *const *shopify_secrets; /* any matches (rotation) */
    size_t n_shopify;
    const char *openapi; /* path of openapi.json; NULL: the default */
    const char *web;     /* the web pages' directory; NULL: the default */
    int access_log;      /* 1: a JSON line per request on stderr */
    double model_poll;   /* seconds between registry checks; 0: never */
    size_t declog_capacity;
};
void cw_srv_config_default(struct cw_srv_config *c);

/* Per pool thread. */
struct cw_srv_thread {
    struct cw_srv_thread *next; /* every thread's state, for shutdown */
    struct cw_scratch *scratch;
    uint64_t scratch_gen;
    uint64_t rng[2];
    struct cw_req *spare; /* a finished request, reused */
    struct cw_srv_decide dreq;
    struct cw_decision decision;
    struct cw_buf tmp;              /* shown JSON, access-log line */
    struct cw_buf inc_log, req_log; /* decision log: incentives, request */
    pthread_mutex_t alog_lock;      /* the thread's access-log lines not yet */
    struct cw_buf alog;             /* written (server.c: access_log) */
    uint64_t exp_gen;               /* srv->exp_gen this copy is of */
    int has_exp;
    struct cw_experiment exp; /* the thread's copy of srv->exp */
};

struct cw_srv_training {
    pthread_mutex_t lock;
    int running;
    int joinable;
    pthread_t thread;
    char last_error[512];
    char started_at[32], finished_at[32];
    struct cw_app_train_opts opts;
};

struct cw_srv {
    struct cw_srv_config cfg;
    struct MHD_Daemon *daemon;
    char *db; /* owned copy */

    struct cw_store *wstore; /* handler writes (events, products, ...) */
    pthread_mutex_t wlock;
    struct cw_store *astore; /* auth lookups, readyz */
    pthread_mutex_t alock;

    struct cw_srv_holder holder;
    struct cw_srv_declog *declog;
    struct cw_srv_metrics *metrics;
    struct cw_srv_counters ctr;
    struct cw_srv_auth_state *auth;
    struct cw_srv_training training;

    pthread_t poller;
    int poller_running;
    pthread_mutex_t poll_lock;
    pthread_cond_t poll_cond;
    atomic_int stopping;

    char *openapi; /* the document, loaded at start; NULL when missing */
    size_t openapi_len;
    char *web[CW_SRV_NWEB]; /* the web pages (h_web.c), loaded at start */
    size_t web_len[CW_SRV_NWEB];

    /* incentives (incentives.c): the configuration in force and the state
     * every thread shares */
    pthread_mutex_t inc_lock;
    struct cw_srv_inc *inc; /* NULL: no configuration */
    struct cw_incentive_state *inc_state;
    /* the daily budget is the store's: inc_state leases chunks of it
     * through lstore, a handle of its own opened on the first lease */
    struct cw_store *lstore; /* used by one lease at a time (the allowance's
                                contract: inc_state is the only caller) */
    int lease_failing;       /* the last lease failed (logged once) */
    double lease_retry_at;   /* monotonic: no store call before this */

    /* the running experiment (meta "experiment"), copied by each thread
     * when exp_gen changes */
    pthread_mutex_t exp_lock;
    int has_exp;
    struct cw_experiment exp;
    atomic_ullong exp_gen;

    atomic_long inflight;
    pthread_key_t thread_key;
    pthread_mutex_t threads_lock;
    struct cw_srv_thread *threads;
    double started; /* monotonic */
};

struct cw_req {
    struct cw_srv *srv;
    struct MHD_Connection *conn;
    struct cw_srv_thread *th;
    long route_ix; /* -1: none */
    const struct cw_srv_route *route;
    const char *method; /* static string */
    char path[200];
    char ip[64];
    char request_id[80];
    char trace_id[33];
    struct cw_srv_key key;
    const char *origin; /* the request's Origin, valid during the call */
    char cors[256];     /* origin to reflect, "" for none */
    struct cw_buf body;
    size_t discarded; /* body bytes past the limit */
    int too_big;
    int queued;    /* a response went out (or is held) */
    int hold;      /* no body: hold early answers for the last call,
                      which keeps the connection alive */
    int held;      /* the held answer's status */
    int preflight; /* answer with the CORS preflight headers */
    int status;
    const char *error_code;   /* for the log */
    char allow[64];           /* 405: Allow */
    char location[208];       /* 308: Location */
    int retry_after;          /* 429, 503: seconds */
    const char *content_type; /* NULL: application/json */
    int idem;                 /* 1: claimed an Idempotency-Key (server.c) */
    int idem_replayed;        /* 1: this answer is a replay */
    char idem_key[256];
    struct cw_buf out; /* response body */
    struct cw_srv_arena arena;
    struct timespec t0;
    size_t bytes_out;
};

/* Answers with status and out as the body. */
void cw_srv_reply(struct cw_req *r, int status);
/* Answers with e as an error body. */
void cw_srv_reply_error(struct cw_req *r, const struct cw_srv_error *e);
/* Shorthand: builds the error and answers. */
void cw_srv_reply_fail(struct cw_req *r, int status, const char *code,
                       const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 500/503/422 from a store or core error code. */
void cw_srv_reply_store_error(struct cw_req *r, int code, const char *what,
                              const struct cw_buf *detail);
/* Header of the current request, or NULL. */
const char *cw_srv_header(struct cw_req *r, const char *name);
/* 22 random characters [a-z0-9] from the thread's generator. */
void cw_srv_random_id(struct cw_srv_thread *th, const char *prefix, char *out,
                      size_t size);
/* prefix + 26 characters that sort by creation time (decision ids). */
void cw_srv_sortable_id(struct cw_srv_thread *th, const char *prefix, char *out,
                        size_t size);
/* The thread's decide scratch for m (re-created when the model changed). */
struct cw_scratch *cw_srv_scratch(struct cw_srv_thread *th,
                                  const struct cw_srv_model *m);

/* Reloads meta "experiment" (called at start and after training). */
void cw_srv_experiment_reload(struct cw_srv *srv, struct cw_store *s);
/* The thread's current copy of the experiment, or NULL when none. */
const struct cw_experiment *cw_srv_experiment(struct cw_srv *srv,
                                              struct cw_srv_thread *th);

/* ---- incentives.c ---- */

/* One configuration with the statistics learned with the model: immutable,
 * reference counted. */
struct cw_srv_inc {
    atomic_long refs;
    struct cw_incentive_config cfg;
    struct cw_incentive_stats stats;
    int have_stats;
};
void cw_srv_incentives_init(struct cw_srv *srv);
void cw_srv_incentives_release(struct cw_srv *srv);
/* Re-reads meta "config" and "incentive_stats" from s and swaps them in
 * (a damaged configuration is logged and the old one kept: < 0). */
int cw_srv_incentives_reload(struct cw_srv *srv, struct cw_store *s);
/* A reference to the configuration in force (NULL: none): put it back. */
struct cw_srv_inc *cw_srv_incentives_get(struct cw_srv *srv);
void cw_srv_incentives_put(struct cw_srv_inc *inc);
/* The decide request's optional incentive fields: "coupon" (minor units)
 * and "context" {"cart_views", "seconds_on_cart", "device"}. 0, or -1 with
 * e (422 naming the field). session_id is left NULL. */
int cw_srv_parse_decide_incentives(json_t *root,
                                   struct cw_incentive_session *out,
                                   struct cw_srv_error *e);

/* Seconds on the monotonic clock (server.c). */
double cw_srv_mono(void);

/* One JSON log line on stderr: {"ts","level","msg"[,"detail"]} plus
 * fields, a string of JSON members (",\"version\":3") or NULL. */
void cw_srv_log(const char *level, const char *msg, const char *detail,
                const char *fields);

/* Runs the server until SIGINT/SIGTERM. Returns 0, or -1 with err. */
int cw_srv_run(const struct cw_srv_config *cfg, struct cw_buf *err);

/* Joins a finished training thread; waits for a running one when wait. */
void cw_srv_training_join(struct cw_srv *srv, int wait);

#endif
