/*
 * cmd_train.c: `cartwise train`, a new model version from the store.
 *
 * Reads every order line, product and return out of the store into the
 * in-memory shapes training wants (a cw_dataset in major units, deep copies
 * of the catalog and returns), trains on all baskets in time order, and
 * publishes the result the way servers expect to find it: an immutable file
 * "<db>.models/model-<unix time>-<checksum prefix>.cwm" written atomically,
 * then a registry row with its path and xxh3 checksum. The file lands before
 * the row, so a reader that sees the row always finds the whole file.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
#include "cli/cli.h"

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
    struct cw_product_rec *q = &ld->products[ld->n_products++];
    *q = *p;
    q->sku = cw_strdup(p->sku);
    q->group = cw_strdup(p->group);
    q->title = cw_strdup(p->title);
    q->category = cw_strdup(p->category);
    q->currency = cw_strdup(p->currency);
    q->attributes = cw_strdup(p->attributes);
    q->tier_group = cw_strdup(p->tier_group);
    return 0;
}

static int on_return(void *ctx, const struct cw_return_rec *r)
{
    struct load *ld = ctx;
    CW_GROW(ld->returns, ld->cap_returns, ld->n_returns + 1);
    struct cw_return_rec *q = &ld->returns[ld->n_returns++];
    *q = *r;
    q->id = cw_strdup(r->id);
    q->order_id = cw_strdup(r->order_id);
    q->customer = cw_strdup(r->customer);
    q->sku = cw_strdup(r->sku);
    q->ts = cw_strdup(r->ts);
    return 0;
}

static void load_release(struct load *ld)
{
    cw_dataset_release(&ld->ds);
    for (size_t i = 0; i < ld->n_products; i++) {
        struct cw_product_rec *p = &ld->products[i];
        cw_free((char *)p->sku);
        cw_free((char *)p->group);
        cw_free((char *)p->title);
        cw_free((char *)p->category);
        cw_free((char *)p->currency);
        cw_free((char *)p->attributes);
        cw_free((char *)p->tier_group);
    }
    cw_free(ld->products);
    for (size_t i = 0; i < ld->n_returns; i++) {
        struct cw_return_rec *r = &ld->returns[i];
        cw_free((char *)r->id);
        cw_free((char *)r->order_id);
        cw_free((char *)r->customer);
        cw_free((char *)r->sku);
        cw_free((char *)r->ts);
    }
    cw_free(ld->returns);
    cw_buf_release(&ld->err);
}

/* The scans, each reporting what failed. */
static int load_store(struct cw_store *s, struct load *ld)
{
    struct cw_buf err = CW_BUF_INIT;
    int rc = s->ops->scan_lines(s, on_line, ld, &err);
    const char *what = "order lines";
    if (rc == 0) {
        what = "products";
        rc = s->ops->scan_products(s, on_product, ld, &err);
    }
    if (rc == 0) {
        what = "returns";
        rc = s->ops->scan_returns(s, on_return, ld, &err);
    }
    if (rc < 0) {
        /* a callback's message is in ld->err, the store's in err */
        cw_cli_error("cannot read the %s from the store: %s", what,
                     ld->err.len ? cw_buf_str(&ld->err)
                     : err.len   ? cw_buf_str(&err)
                                 : cw_strerror(rc));
    }
    cw_buf_release(&err);
    return rc;
}

/* Reads the remembered default margin rate (0.30 when unset or bad). */
static double stored_margin_rate(struct cw_store *s)
{
    char *v = NULL;
    double rate = CW_CLI_DEFAULT_MARGIN_RATE, r;
    if (s->ops->meta_get(s, "default_margin_rate", &v, NULL) == 0 &&
        cw_cli_parse_double(v, &r) == 0 && r >= 0.0 && r <= 1.0)
        rate = r;
    cw_free(v);
    return rate;
}

static void iso_utc(int64_t t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The directory holding the model files: "<db>.models", absolute so that
 * the registry's path works from any working directory. */
static int models_dir(const char *db, struct cw_buf *out)
{
    struct cw_buf dir = CW_BUF_INIT, err = CW_BUF_INIT;
    cw_buf_addf(&dir, "%s.models", db);
    int rc = cw_file_mkdirs(cw_buf_str(&dir), &err);
    if (rc < 0) {
        cw_cli_error("%s", cw_buf_str(&err));
    } else {
        char *abs = realpath(cw_buf_str(&dir), NULL);
        cw_buf_adds(out, abs ? abs : cw_buf_str(&dir));
        free(abs); /* from libc */
    }
    cw_buf_release(&dir);
    cw_buf_release(&err);
    return rc;
}

struct train_opts {
    double margin_rate; /* < 0: the stored one */
    uint64_t top_m;     /* 0: default */
    double lambda;      /* <= 0: tuned */
    int no_blas;
    const char *currency; /* NULL: the stored one */
};

static int publish(const struct cw_cli *cli, struct cw_store *s,
                   const struct cw_model *m, double margin_rate,
                   int remember_rate, double t0)
{
    struct cw_buf file = CW_BUF_INIT, err = CW_BUF_INIT, path = CW_BUF_INIT;
    int rc = cw_model_encode(m, &file);
    if (rc < 0) {
        cw_cli_error("cannot encode the model: %s",
                     err.len ? cw_buf_str(&err) : cw_strerror(rc));
        goto out;
    }
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx",
             (unsigned long long)cw_xxh3(file.buf, file.len));
    if ((rc = models_dir(cli->db, &path)) < 0)
        goto out;
    cw_buf_addf(&path, "/model-%lld-%.8s.cwm", (long long)m->meta.trained_at,
                hex);
    if (path.len >= sizeof(((struct cw_model_info *)0)->path)) {
        rc = cw_cli_error("model path too long: %s", cw_buf_str(&path));
        goto out;
    }
    rc = cw_file_write_atomic(cw_buf_str(&path), file.buf, file.len, &err);
    if (rc < 0) {
        cw_cli_error("%s", cw_buf_str(&err));
        goto out;
    }

    struct cw_model_info info;
    memset(&info, 0, sizeof(info));
    memcpy(info.path, path.buf, path.len + 1);
    memcpy(info.checksum, hex, sizeof(info.checksum));
    iso_utc(m->meta.trained_at, info.created_at, sizeof(info.created_at));
    info.items = m->n_items;
    info.customers = m->n_customers;
    info.baskets = m->meta.n_baskets;

    char rate[32];
    snprintf(rate, sizeof(rate), "%.6g", margin_rate);
    rc = s->ops->begin(s, &err);
    if (rc == 0)
        rc = s->ops->model_add(s, &info, &err);
    if (rc == 0 && remember_rate)
        rc = s->ops->meta_set(s, "default_margin_rate", rate, &err);
    if (rc == 0)
        rc = s->ops->commit(s, &err);
    else
        s->ops->rollback(s, NULL);
    if (rc < 0) {
        cw_cli_error("cannot register the model: %s",
                     err.len ? cw_buf_str(&err) : cw_strerror(rc));
        goto out;
    }

    double secs = cw_cli_now() - t0;
    struct cw_buf b = CW_BUF_INIT;
    if (cli->json) {
        cw_buf_addf(&b,
                    "{\"version\":%lld,\"items\":%u,\"customers\":%u,"
                    "\"baskets\":%lld,\"lines\":%lld,\"ease_lambda\":%g,"
                    "\"ease_items\":%u,\"default_margin_rate\":%g,"
                    "\"currency\":",
                    (long long)info.version, m->n_items, m->n_customers,
                    (long long)m->meta.n_baskets, (long long)m->meta.n_lines,
                    m->meta.ease_lambda, m->meta.ease_items,
                    m->meta.default_margin_rate);
        cw_buf_add_json_str(&b, m->meta.currency);
        cw_buf_addf(&b, ",\"seconds\":%.3f,\"checksum\":\"%s\",\"file\":", secs,
                    hex);
        cw_buf_add_json_str(&b, info.path);
        cw_buf_addch(&b, '}');
    } else {
        cw_buf_addf(&b,
                    "trained model version %lld: %u items, %u customers, "
                    "%lld baskets, EASE lambda %g, in %.2f s\n"
                    "wrote %s",
                    (long long)info.version, m->n_items, m->n_customers,
                    (long long)m->meta.n_baskets, m->meta.ease_lambda, secs,
                    info.path);
    }
    rc = cw_cli_emit(&b) == CW_EXIT_OK ? 0 : CW_EIO;
    cw_buf_release(&b);
out:
    cw_buf_release(&file);
    cw_buf_release(&err);
    cw_buf_release(&path);
    return rc < 0 ? CW_EXIT_FAIL : CW_EXIT_OK;
}

static int train(const struct cw_cli *cli, const struct train_opts *o)
{
    struct cw_store *s;
    int rc = cw_cli_open_store(cli, &s);
    if (rc != CW_EXIT_OK)
        return rc;
    double t0 = cw_cli_now();

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

    rc = CW_EXIT_FAIL;
    if (load_store(s, &ld) < 0)
        goto out;
    cw_dataset_finish(&ld.ds);

    struct cw_train_params p;
    cw_train_params_default(&p);
    p.default_margin_rate =
        o->margin_rate >= 0 ? o->margin_rate : stored_margin_rate(s);
    if (o->top_m)
        p.top_m = (uint32_t)o->top_m;
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

    struct cw_buf err = CW_BUF_INIT;
    int code = cw_train(&m, &in, &p, &err);
    if (code == CW_ENODATA) {
        cw_cli_error("%s: import orders first with `cartwise import`",
                     err.len ? cw_buf_str(&err) : "not enough data to train");
    } else if (code < 0) {
        cw_cli_error("training failed: %s",
                     err.len ? cw_buf_str(&err) : cw_strerror(code));
    } else {
        trained = 1;
        rc =
            publish(cli, s, &m, p.default_margin_rate, o->margin_rate >= 0, t0);
    }
    cw_buf_release(&err);
out:
    if (trained)
        cw_model_release(&m);
    load_release(&ld);
    cw_free(stored_currency);
    cw_store_close(s);
    return rc;
}

int cw_cmd_train(int argc, char **argv, struct cw_cli *cli)
{
    enum {
        OPT_MARGIN_RATE = CW_OPT__FIRST_OWN,
        OPT_TOP_M,
        OPT_LAMBDA,
        OPT_NO_BLAS,
        OPT_CURRENCY,
    };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"margin-rate", required_argument, NULL, OPT_MARGIN_RATE},
        {"top-m", required_argument, NULL, OPT_TOP_M},
        {"lambda", required_argument, NULL, OPT_LAMBDA},
        {"no-blas", no_argument, NULL, OPT_NO_BLAS},
        {"currency", required_argument, NULL, OPT_CURRENCY},
        {NULL, 0, NULL, 0},
    };
    struct train_opts o = {-1.0, 0, 0.0, 0, NULL};
    int c, rc;

    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1) {
        switch (c) {
        case OPT_MARGIN_RATE:
            if (cw_cli_parse_double(optarg, &o.margin_rate) < 0 ||
                o.margin_rate < 0.0 || o.margin_rate >= 1.0)
                return cw_cli_usage_error(
                    cli, "--margin-rate wants a number in [0, 1), not '%s'",
                    optarg);
            break;
        case OPT_TOP_M:
            if (cw_cli_parse_u64(optarg, &o.top_m) < 0 || o.top_m == 0 ||
                o.top_m > 100000)
                return cw_cli_usage_error(
                    cli, "--top-m wants an integer in 1..100000, not '%s'",
                    optarg);
            break;
        case OPT_LAMBDA:
            if (cw_cli_parse_double(optarg, &o.lambda) < 0 || o.lambda <= 0)
                return cw_cli_usage_error(
                    cli, "--lambda wants a positive number, not '%s'", optarg);
            break;
        case OPT_NO_BLAS:
            o.no_blas = 1;
            break;
        case OPT_CURRENCY:
            if (!cw_cli_valid_currency(optarg))
                return cw_cli_usage_error(
                    cli,
                    "--currency wants an ISO-4217 code such as GBP, not '%s'",
                    optarg);
            o.currency = optarg;
            break;
        default:
            if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
                return rc;
        }
    }
    if (optind < argc)
        return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                  argv[optind]);
    return train(cli, &o);
}
