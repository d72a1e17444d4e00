/*
 * train_store.c: a new model version from the store (cw_app_train).
 *
 * Reads every order line, product and return out of the store into the
 * in-memory shapes training wants (a cw_dataset in major units, deep copies
 * of the catalog and returns), trains on all baskets in time order, and
 * publishes the result the way servers expect to find it: an immutable file
 * "<models dir>/model-<unix time>-<checksum prefix>.cwm" written atomically,
 * then a registry row with its path and xxh3 checksum. The file lands before
 * the row, so a reader that sees the row always finds the whole file. The
 * CLI's `cartwise train` and the server's POST /v1/train both call it.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_file.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "cartwise/cw_train.h"

/* What the store scans fill. */
struct load {
    struct cw_dataset ds;
    double unit;                     /* minor units per major unit */
    struct cw_product_rec *products; /* deep copies */
    size_t n_products, cap_products;
    struct cw_return_rec *returns; /* deep copies */
    size_t n_returns, cap_returns;
    struct cw_buf err;
};

static double to_major(const struct load *ld, int64_t minor)
{
    return minor == CW_MONEY_UNKNOWN ? NAN : (double)minor / ld->unit;
}

static int on_line(void *ctx, const struct cw_store_line *l)
{
    struct load *ld = ctx;
    int rc = cw_dataset_add(&ld->ds, l->order_id, l->customer, l->ts, l->sku,
                            (double)l->qty, to_major(ld, l->unit_price),
                            to_major(ld, l->unit_cost));
    if (rc < 0)
        return cw_err(&ld->err, rc, "order '%s', sku '%s': %s", l->order_id,
                      l->sku, cw_strerror(rc));
    return 0;
}

static int on_product(void *ctx, const struct cw_product_rec *p)
{
    struct load *ld = ctx;
    CW_GROW(ld->products, ld->cap_products, ld->n_products + 1);
    cw__app_product_copy(&ld->products[ld->n_products++], p);
    return 0;
}

static int on_return(void *ctx, const struct cw_return_rec *r)
{
    struct load *ld = ctx;
    CW_GROW(ld->returns, ld->cap_returns, ld->n_returns + 1);
    cw__app_return_copy(&ld->returns[ld->n_returns++], r);
    return 0;
}

static void load_release(struct load *ld)
{
    cw_dataset_release(&ld->ds);
    for (size_t i = 0; i < ld->n_products; i++)
        cw__app_product_release(&ld->products[i]);
    cw_free(ld->products);
    for (size_t i = 0; i < ld->n_returns; i++)
        cw__app_return_release(&ld->returns[i]);
    cw_free(ld->returns);
    cw_buf_release(&ld->err);
}

/* The scans, each reporting what failed into err. */
static int load_store(struct cw_store *s, struct load *ld, struct cw_buf *err)
{
    struct cw_buf serr = CW_BUF_INIT;
    int rc = s->ops->scan_lines(s, on_line, ld, &serr);
    const char *what = "order lines";
    if (rc == 0) {
        what = "products";
        rc = s->ops->scan_products(s, on_product, ld, &serr);
    }
    if (rc == 0) {
        what = "returns";
        rc = s->ops->scan_returns(s, on_return, ld, &serr);
    }
    if (rc < 0) {
        /* a callback's message is in ld->err, the store's in serr */
        cw_err(err, rc, "cannot read the %s from the store: %s", what,
               ld->err.len ? cw_buf_str(&ld->err)
               : serr.len  ? cw_buf_str(&serr)
                           : cw_strerror(rc));
    }
    cw_buf_release(&serr);
    return rc;
}

static int parse_rate(const char *s, double *out)
{
    char *end;
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < 0.0 || v > 1.0)
        return -1;
    *out = v;
    return 0;
}

/* Reads the remembered default margin rate (0.30 when unset or bad). */
static double stored_margin_rate(struct cw_store *s)
{
    char *v = NULL;
    double rate = CW_APP_DEFAULT_MARGIN_RATE, r;
    if (s->ops->meta_get(s, "default_margin_rate", &v, NULL) == 0 &&
        parse_rate(v, &r) == 0)
        rate = r;
    cw_free(v);
    return rate;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The directory holding the model files, absolute so that the registry's
 * path works from any working directory: the one given, else the one the
 * store remembers, else "<db>.models" beside a store that is a file. A
 * database server's store has no "beside": the files must go where every
 * server node reads them, which only the operator knows. */
static int models_dir(struct cw_store *s, const char *db, const char *given,
                      struct cw_buf *out, struct cw_buf *err)
{
    struct cw_buf dir = CW_BUF_INIT;
    char *stored = NULL;
    if (given)
        cw_buf_adds(&dir, given);
    else if (s->ops->meta_get(s, "models_dir", &stored, NULL) == 0)
        cw_buf_adds(&dir, stored);
    else if (cw_store_file(db))
        cw_buf_addf(&dir, "%s.models", db);
    cw_free(stored);
    if (!dir.len) {
        cw_buf_release(&dir);
        return cw_err(err, CW_EINVAL,
                      "no models directory for this store: give one with "
                      "`cartwise train --models-dir DIR` (a directory every "
                      "server node can read)");
    }
    int rc = cw_file_mkdirs(cw_buf_str(&dir), err);
    if (rc == 0) {
        char *abs = realpath(cw_buf_str(&dir), NULL);
        cw_buf_adds(out, abs ? abs : cw_buf_str(&dir));
        free(abs); /* from libc */
    }
    cw_buf_release(&dir);
    return rc;
}

static int publish(struct cw_store *s, const char *db, const struct cw_model *m,
                   double margin_rate, const struct cw_app_train_opts *o,
                   struct cw_app_train_result *out, struct cw_buf *err)
{
    struct cw_buf file = CW_BUF_INIT, serr = CW_BUF_INIT, path = CW_BUF_INIT;
    int rc = cw_model_encode(m, &file);
    if (rc < 0) {
        cw_err(err, rc, "cannot encode the model: %s", cw_strerror(rc));
        goto out;
    }
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx",
             (unsigned long long)cw_xxh3(file.buf, file.len));
    if ((rc = models_dir(s, db, o->models_dir, &path, err)) < 0)
        goto out;
    size_t dir_len = path.len; /* the directory, absolute */
    cw_buf_addf(&path, "/model-%lld-%.8s.cwm", (long long)m->meta.trained_at,
                hex);
    if (path.len >= sizeof(out->info.path)) {
        rc = cw_err(err, CW_ETOOBIG, "model path too long: %s",
                    cw_buf_str(&path));
        goto out;
    }
    rc = cw_file_write_atomic(cw_buf_str(&path), file.buf, file.len, err);
    if (rc < 0)
        goto out;

    struct cw_model_info *info = &out->info;
    memset(info, 0, sizeof(*info));
    memcpy(info->path, path.buf, path.len + 1);
    memcpy(info->checksum, hex, sizeof(info->checksum));
    cw_app_iso(m->meta.trained_at, info->created_at, sizeof(info->created_at));
    info->items = m->n_items;
    info->customers = m->n_customers;
    info->baskets = m->meta.n_baskets;

    char rate[32];
    snprintf(rate, sizeof(rate), "%.6g", margin_rate);
    rc = s->ops->begin(s, &serr);
    if (rc == 0)
        rc = s->ops->model_add(s, info, &serr);
    if (rc == 0 && o->margin_rate >= 0)
        rc = s->ops->meta_set(s, "default_margin_rate", rate, &serr);
    if (rc == 0 && o->models_dir) {
        /* the absolute form, as every path in the registry */
        char *dir = cw_strndup(path.buf, dir_len);
        rc = s->ops->meta_set(s, "models_dir", dir, &serr);
        cw_free(dir);
    }
    if (rc == 0)
        rc = s->ops->commit(s, &serr);
    else
        s->ops->rollback(s, NULL);
    if (rc < 0) {
        cw_err(err, rc, "cannot register the model: %s",
               serr.len ? cw_buf_str(&serr) : cw_strerror(rc));
        goto out;
    }
    memcpy(out->checksum, hex, sizeof(out->checksum));
out:
    cw_buf_release(&file);
    cw_buf_release(&serr);
    cw_buf_release(&path);
    return rc;
}

int cw_app_train(struct cw_store *s, const char *db,
                 const struct cw_app_train_opts *o,
                 struct cw_app_train_result *out, struct cw_buf *err)
{
    double t0 = now_mono();
    memset(out, 0, sizeof(*out));
    char *stored_currency = NULL;
    const char *currency = o->currency;
    if (!currency &&
        s->ops->meta_get(s, "currency", &stored_currency, NULL) == 0)
        currency = stored_currency;

    struct load ld;
    memset(&ld, 0, sizeof(ld));
    cw_dataset_init(&ld.ds);
    ld.unit = pow(10.0, cw_currency_exponent(currency));
    struct cw_model m;
    memset(&m, 0, sizeof(m));
    int trained = 0;

    int rc = load_store(s, &ld, err);
    if (rc < 0)
        goto out;
    cw_dataset_finish(&ld.ds);

    struct cw_train_params p;
    cw_train_params_default(&p);
    p.default_margin_rate =
        o->margin_rate >= 0 ? o->margin_rate : stored_margin_rate(s);
    if (o->top_m)
        p.top_m = o->top_m;
    if (o->lambda > 0)
        p.ease_lambda = o->lambda;
    if (o->no_blas)
        p.use_blas = 0;
    if (currency)
        p.currency = currency;

    struct cw_train_input in;
    memset(&in, 0, sizeof(in));
    in.ds = &ld.ds;
    in.baskets = ld.ds.order;
    in.n_baskets = cw_dataset_nbaskets(&ld.ds);
    in.products = ld.products;
    in.n_products = ld.n_products;
    in.returns = ld.returns;
    in.n_returns = ld.n_returns;

    struct cw_buf terr = CW_BUF_INIT;
    rc = cw_train(&m, &in, &p, &terr);
    if (rc == CW_ENODATA) {
        cw_err(err, rc, "%s",
               terr.len ? cw_buf_str(&terr) : "not enough data to train");
    } else if (rc < 0) {
        cw_err(err, rc, "training failed: %s",
               terr.len ? cw_buf_str(&terr) : cw_strerror(rc));
    } else {
        trained = 1;
        rc = publish(s, db, &m, p.default_margin_rate, o, out, err);
    }
    cw_buf_release(&terr);
    /* what incentives learn alongside: order values, propensity, uplift */
    if (rc == 0)
        rc = cw_app_incentive_train(s, &ld.ds, ld.unit, &m, &out->incentive,
                                    err);
    if (rc == 0) {
        out->items = m.n_items;
        out->customers = m.n_customers;
        out->baskets = m.meta.n_baskets;
        out->lines = m.meta.n_lines;
        out->ease_lambda = m.meta.ease_lambda;
        out->ease_items = m.meta.ease_items;
        out->reranker = m.meta.rank_n > 0;
        out->profit_gamma = m.meta.profit_gamma;
        out->cart_order = (int)m.meta.cart_order;
        out->line_order_mix = m.meta.line_order_mix;
        out->default_margin_rate = m.meta.default_margin_rate;
        memcpy(out->currency, m.meta.currency, sizeof(out->currency));
        out->currency[sizeof(out->currency) - 1] = '\0';
        out->seconds = now_mono() - t0;
    }
out:
    if (trained)
        cw_model_release(&m);
    load_release(&ld);
    cw_free(stored_currency);
    return rc;
}
