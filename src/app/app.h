/*
 * app.h: what the CLI and the HTTP server do the same way, on top of the
 * store and core: train a model version from the store and publish it, load
 * the newest published version, write a decision as JSON, and import a
 * store export into the store.
 *
 * This layer may use the store and files (core may not) but never prints:
 * failures come back as CW_E* codes with one line in err that the caller
 * prefixes ("cartwise: ..." in the CLI, an error body in the server).
 */
#ifndef CW_APP_H
#define CW_APP_H

#include <stddef.h>
#include <stdint.h>

#include "cartwise/cw_experiment.h"
#include "cartwise/cw_file.h"
#include "cartwise/cw_import.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_kpi.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_stats.h"
#include "cartwise/cw_store.h"

struct cw_buf;
struct cw_cart_line;
struct cw_decision;

#define CW_APP_DEFAULT_MARGIN_RATE 0.30

struct cw_app_train_opts {
    double margin_rate;   /* < 0: the stored one (default 0.30) */
    uint32_t top_m;       /* 0: default */
    double lambda;        /* <= 0: tuned on validation */
    int no_blas;          /* 1: plain-C solver */
    const char *currency; /* NULL: the stored one, else USD */
    /* Where model files go: remembered in the store when given; NULL: the
     * remembered one, else "<db>.models" beside a store that is a file. */
    const char *models_dir;
};

/* What a training run produced and where it was published. */
struct cw_app_train_result {
    struct cw_model_info info; /* registry row (version assigned) */
    uint32_t items, customers;
    int64_t baskets, lines;
    double ease_lambda;
    uint32_t ease_items;
    int reranker;          /* validation kept the re-ranker */
    double profit_gamma;   /* set selection's profit weight */
    int cart_order;        /* the model reads the cart's latest lines */
    double line_order_mix; /* what that was decided on (cw_model_meta) */
    double default_margin_rate;
    char currency[4];
    char checksum[17];
    double seconds;
    struct cw_incentive_stats incentive; /* learned for incentives */
};

/* Trains a new model from everything in s and publishes it: the file
 * "<models dir>/model-<time>-<checksum prefix>.cwm" written atomically, then
 * the registry row (and the margin rate and models directory, when given)
 * in one transaction. db is the store's path or URL, for the default models
 * directory: "<db>.models" for a file; a database server has none (CW_EINVAL
 * until one is given, since every node must be able to read the files).
 * Returns 0, CW_ENODATA when there is too little to train on, or another
 * CW_E* code; err says what failed ("cannot read the order lines from the
 * store: ...", "training failed: ...", "cannot register the model: ..."). */
int cw_app_train(struct cw_store *s, const char *db,
                 const struct cw_app_train_opts *o,
                 struct cw_app_train_result *out, struct cw_buf *err);

/* A loaded model: decoded in place over a read-only map of its file. */
struct cw_app_model {
    struct cw_model_info info;
    struct cw_map map;
    struct cw_model m;
};

/* Loads the newest registered version into out (zeroed first): maps the
 * file, checks its xxh3 against the registry's checksum, decodes. Returns 0,
 * CW_ENOENT when no model was trained, CW_ECORRUPT for a damaged file, or
 * another CW_E* code; err says why. Release with cw_app_model_release. */
int cw_app_model_load(struct cw_store *s, struct cw_app_model *out,
                      struct cw_buf *err);
/* Loads the registered version described by info (as model_latest gave). */
int cw_app_model_load_info(const struct cw_model_info *info,
                           struct cw_app_model *out, struct cw_buf *err);
void cw_app_model_release(struct cw_app_model *am);

/* Append numbers without printf (the decide path formats a few dozen per
 * answer): an integer, and x with exactly dec (0..9) decimals, rounded
 * half away from zero (non-finite x appends 0). */
void cw_app_add_i64(struct cw_buf *b, int64_t v);
void cw_app_add_fixed(struct cw_buf *b, double x, int dec);

/* Unix time t as ISO-8601 UTC seconds, "2026-11-22T10:00:00Z" (size >= 21). */
void cw_app_iso(int64_t t, char *out, size_t size);

/* Appends {"amount":minor,"currency":"CUR"}. */
void cw_app_json_money(struct cw_buf *b, int64_t minor, const char *currency);

/* Appends the fields of a decision that the CLI and the API share, without
 * braces: "cart_value":{..},"addons":[..],"unknown_skus":[..],
 * "assumptions":[..]. lines are the request's cart lines (for the unknown
 * SKUs), customer the request's customer or NULL. */
void cw_app_decision_json(struct cw_buf *b, const struct cw_model *m,
                          const struct cw_decision *d,
                          const struct cw_cart_line *lines,
                          const char *customer);

/* The assumptions of a decision, as sentences: at most 2, in out (pointing
 * at static text or into note, which the caller releases). */
size_t cw_app_assumptions(const struct cw_model *m, const struct cw_decision *d,
                          const char *customer, const char *out[2],
                          struct cw_buf *note);

/* Reads a normalized lines file (BENCHMARK.md section 1) into the
 * initialized dataset ds the way the reference script does: a row whose qty
 * does not parse as a number is skipped and counted in *skipped (Python's
 * float() raising ValueError); an empty or unparsable price or cost is
 * unknown. *rows counts the data rows. Returns 0 or a CW_E* code with
 * "FILE:LINE: what" in err. */
int cw_app_read_lines(const char *file, struct cw_dataset *ds, size_t *rows,
                      size_t *skipped, struct cw_buf *err);

/* ---- records.c: owned copies of imported records ---- */

/* dst gets src's values and its own copies of src's strings; release frees
 * those strings. */
void cw__app_product_copy(struct cw_product_rec *dst,
                          const struct cw_product_rec *src);
void cw__app_product_release(struct cw_product_rec *p);
void cw__app_return_copy(struct cw_return_rec *dst,
                         const struct cw_return_rec *src);
void cw__app_return_release(struct cw_return_rec *r);

/* ---- import (import_file.c): `cartwise import` ---- */

/* Records are written CW_APP_IMPORT_BATCH at a time with the store's
 * put_batch (one round trip each to a PostgreSQL server). */
#define CW_APP_IMPORT_BATCH 1024

/* What an import read, and how much of it the store did not hold yet. */
struct cw_app_import_result {
    struct cw_import_stats stats; /* what the parser read and emitted */
    uint64_t new_products, new_orders, new_lines, new_returns;
    uint64_t products_no_cost; /* product records without a cost */
};

/* Imports file, an export in format, into s as one transaction: parsed
 * with cw_import_run (opts: skip_bad, progress) and written in batches. The
 * prices' currency is opts->currency when given, and that is remembered in
 * the store (meta "currency"); else the remembered one; else the format's
 * own, and the first one the records carried is remembered. out is zeroed
 * first. Returns 0, or a CW_E* code when nothing was written; err then says
 * why: the parser's "FILE:LINE:COL: ...", or for a record the store refused
 * "FILE:LINE: cannot store order 'X': storage error (the store's message)"
 * with the record's own line, although its batch was written rows later;
 * a failed rollback is appended as "(and the rollback failed: ...)". On
 * success err holds the first skipped row's reason when opts->skip_bad
 * skipped any (out->stats.skipped). */
int cw_app_import_file(struct cw_store *s, const char *file,
                       enum cw_import_format format,
                       const struct cw_import_opts *opts,
                       struct cw_app_import_result *out, struct cw_buf *err);

/* ---- incentives (config_json.c, incentive_train.c, incentives.c) ---- */

#define CW_APP_META_CONFIG "config"             /* the merchant's config */
#define CW_APP_META_INC_STATS "incentive_stats" /* learned at training */

/* Parses configuration JSON into out (defaults for absent keys) and
 * validates it. Returns 0, CW_EPARSE (not JSON: line and column in err),
 * CW_ETOOBIG or CW_EINVAL (err names the key path: "tiers[1].threshold:
 * must be greater than tiers[0].threshold (5000)"). */
int cw_app_config_parse(const char *text, size_t n,
                        struct cw_incentive_config *out, struct cw_buf *err);
/* Appends c as canonical JSON (every key, pretty-printed). */
void cw_app_config_json(const struct cw_incentive_config *c,
                        struct cw_buf *out);
/* Parses and validates text, then stores its canonical form as meta
 * "config". out receives the parsed configuration. */
int cw_app_config_store(struct cw_store *s, const char *text, size_t n,
                        struct cw_incentive_config *out, struct cw_buf *err);
/* Loads the stored configuration: 0, CW_ENOENT when none was set. */
int cw_app_config_load(struct cw_store *s, struct cw_incentive_config *out,
                       struct cw_buf *err);
/* Every configuration key path ("discount.max_percent", "tiers[].reward")
 * into out (at most max); returns how many there are. *sorted is set to 0
 * when a key table is out of order. */
size_t cw_app_config_keys(char out[][64], size_t max, int *sorted);

/* Learned statistics as JSON (meta "incentive_stats") and back. */
void cw_app_stats_json(const struct cw_incentive_stats *st, struct cw_buf *out);
int cw_app_stats_parse(const char *text, struct cw_incentive_stats *out,
                       struct cw_buf *err);
int cw_app_stats_load(struct cw_store *s, struct cw_incentive_stats *out,
                      struct cw_buf *err);

/* The store-wide order-value quantiles and margin rate of baskets (dataset
 * ids) of ds, whose prices are major units (unit minor units each). */
struct cw_dataset;
void cw_app_order_stats(const struct cw_dataset *ds, const uint32_t *baskets,
                        size_t n, double unit, const struct cw_model *m,
                        struct cw_incentive_stats *st);
/* Learns the incentive statistics (order values from ds, propensity and
 * uplift from the store's events) and stores them as meta
 * "incentive_stats". Called by cw_app_train. */
int cw_app_incentive_train(struct cw_store *s, const struct cw_dataset *ds,
                           double unit, const struct cw_model *m,
                           struct cw_incentive_stats *out, struct cw_buf *err);

/* What a decision needs to apply incentives. */
struct cw_app_incentives {
    struct cw_incentive_config *cfg; /* owned; NULL: none configured */
    struct cw_incentive_stats stats;
    int have_stats;
};
/* Loads the stored configuration and statistics (either may be missing:
 * no configuration means no incentives). Returns 0 or a CW_E* code for a
 * store failure or a damaged configuration. */
int cw_app_incentives_load(struct cw_store *s, struct cw_app_incentives *out,
                           struct cw_buf *err);
void cw_app_incentives_release(struct cw_app_incentives *ai);

/* The assumptions an incentive result carries, as sentences (static text):
 * at most 8 in out. */
size_t cw_app_incentive_notes(const struct cw_incentive_result *r,
                              const char *out[8]);
/* cw_app_decision_json with the incentives: add-ons carry "closes_gap",
 * an "incentives" object is added and its notes join "assumptions". cfg
 * and inc NULL: exactly cw_app_decision_json. */
void cw_app_decision_json_inc(struct cw_buf *b, const struct cw_model *m,
                              const struct cw_decision *d,
                              const struct cw_cart_line *lines,
                              const char *customer,
                              const struct cw_incentive_config *cfg,
                              const struct cw_incentive_result *inc);
/* Appends ,"incentives":{...} (incentives.c; cw_app_decision_json_inc's
 * part, not a renderer of its own). */
void cw__app_incentives_json(struct cw_buf *b, const struct cw_model *m,
                             const struct cw_decision *d,
                             const struct cw_incentive_config *cfg,
                             const struct cw_incentive_result *inc);
/* The incentives shown, compact, for the decision log's "incentives". */
void cw_app_incentives_shown(struct cw_buf *b, const struct cw_model *m,
                             const struct cw_incentive_result *r);
/* The incentives as text lines, for `cartwise recommend`. */
void cw_app_incentive_text(struct cw_buf *b, const struct cw_model *m,
                           const struct cw_incentive_config *cfg,
                           const struct cw_incentive_result *r);

/* The title shown for an add-on: the variant's, else its item's. */
const char *cw_app_item_title(const struct cw_model *m, uint32_t variant,
                              uint32_t item);

/* ---- reports (reports.c): `cartwise report` and GET /v1/reports ---- */

/* What both reports read from the meta table. */
struct cw_app_report_settings {
    double margin_rate; /* the stored default (0.30), or the one given */
    char currency[4];   /* the stored one, else USD */
    int exp;            /* its exponent */
};
/* margin_rate < 0: the stored one. */
void cw_app_report_settings(struct cw_store *s, double margin_rate,
                            struct cw_app_report_settings *st);

/* The KPI report of everything in s (orders between from and to, either
 * NULL for open). Fills out (release with cw_kpi_report_release) and st.
 * Scans the store does not offer are not fatal: one line each is appended
 * to warn (may be NULL) and the figures that needed them are listed as not
 * computed. Returns 0 or a CW_E* code with one line in err. */
int cw_app_kpi_report(struct cw_store *s, const char *from, const char *to,
                      double margin_rate, struct cw_kpi_report *out,
                      struct cw_app_report_settings *st, struct cw_buf *warn,
                      struct cw_buf *err);
/* The same, appended to json as `cartwise report kpis --json` prints it. */
int cw_app_report_kpis(struct cw_store *s, const char *from, const char *to,
                       double margin_rate, struct cw_buf *json,
                       struct cw_buf *err);

/* The experiment report: the configured experiment, its statistics and
 * what the log collector counted. */
struct cw_app_exp_report {
    struct cw_experiment e;
    struct cw_app_report_settings st;
    struct cw_stats_report *rep; /* owned */
    struct cw_exp_log_stats log;
    size_t units;
    const char *names[CW_EXP_ARMS_MAX]; /* arm names, into e */
};
/* Fills out (release with cw_app_exp_report_release; do not copy it).
 * Returns 0, CW_ENOENT when no experiment is configured, CW_EUNSUPPORTED
 * when the store keeps no decision log, or another CW_E* code; err says
 * why. */
int cw_app_exp_report(struct cw_store *s, double alpha, double tstar,
                      struct cw_app_exp_report *out, struct cw_buf *err);
void cw_app_exp_report_release(struct cw_app_exp_report *x);
/* Appends x as `cartwise report experiment --json` prints it. */
void cw_app_exp_report_json(const struct cw_app_exp_report *x,
                            struct cw_buf *json);
/* cw_app_exp_report then cw_app_exp_report_json. */
int cw_app_report_experiment(struct cw_store *s, double alpha, double tstar,
                             struct cw_buf *json, struct cw_buf *err);

#endif
