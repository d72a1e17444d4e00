/*
 * cmd_recommend.c: `cartwise recommend`, one decision from the command line.
 *
 * Loads the newest model version the way a server does (map the file, check
 * it against the checksum the registry recorded, decode in place) and runs
 * cw_decide, the function behind POST /v1/decide, on the cart given with
 * --cart. Unknown SKUs are reported, never fatal; a damaged model file is.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_file.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"

struct cart {
    char *text; /* owned copy of --cart, cut into the SKUs */
    struct cw_cart_line lines[CW_CART_MAX];
    size_t n;
};

/* Parses "SKU[:QTY],..." into c (SKUs point into c->text). Returns 0, or -1
 * after printing a usage error into why. */
static int parse_cart(struct cart *c, const char *arg, struct cw_buf *why)
{
    c->text = cw_strdup(arg);
    c->n = 0;
    if (!*arg)
        return cw_err(why, -1, "--cart is empty");
    char *p = c->text;
    for (;;) {
        char *end = strchr(p, ',');
        if (end)
            *end = '\0';
        if (!*p)
            return cw_err(why, -1, "--cart has an empty item");
        if (c->n == CW_CART_MAX)
            return cw_err(why, -1, "--cart has more than %d items",
                          CW_CART_MAX);
        struct cw_cart_line *l = &c->lines[c->n++];
        l->sku = p;
        l->qty = 1;
        l->price = CW_MONEY_UNKNOWN;
        char *colon = strrchr(p, ':');
        if (colon) {
            uint64_t q;
            *colon = '\0';
            if (!*p)
                return cw_err(why, -1, "--cart item ':%s' has no SKU",
                              colon + 1);
            if (cw_cli_parse_u64(colon + 1, &q) < 0 || q == 0 || q > 1000000)
                return cw_err(why, -1,
                              "quantity of '%s' must be a positive integer, "
                              "not '%s'",
                              p, colon + 1);
            l->qty = (int64_t)q;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* Loads the newest model, and the incentive configuration and statistics
 * when ai is given. Returns CW_EXIT_*. */
static int load_model(const struct cw_cli *cli, struct cw_app_model *am,
                      struct cw_app_incentives *ai)
{
    struct cw_store *s;
    int rc = cw_cli_open_store(cli, &s);
    if (rc != CW_EXIT_OK)
        return rc;
    struct cw_buf err = CW_BUF_INIT;
    int code = cw_app_model_load(s, am, &err);
    if (code == 0 && ai && (code = cw_app_incentives_load(s, ai, &err)) < 0)
        cw_app_model_release(am);
    cw_store_close(s);
    if (code == CW_ENOENT)
        rc = cw_cli_error("no trained model: run `cartwise train` first");
    else if (code < 0)
        rc = cw_cli_error("%s", err.len ? cw_buf_str(&err) : cw_strerror(code));
    else
        rc = CW_EXIT_OK;
    cw_buf_release(&err);
    return rc;
}

static void print_json(struct cw_buf *b, const struct cw_model *m,
                       const struct cw_model_info *info, const struct cart *c,
                       const struct cw_decision *d, const char *customer,
                       const struct cw_incentive_config *cfg,
                       const struct cw_incentive_result *inc)
{
    cw_buf_addf(b, "{\"model_version\":%lld,", (long long)info->version);
    cw_app_decision_json_inc(b, m, d, c->lines, customer, cfg, inc);
    cw_buf_addch(b, '}');
}

static void print_text(struct cw_buf *b, const struct cw_model *m,
                       const struct cart *c, const struct cw_decision *d,
                       const char *customer,
                       const struct cw_incentive_config *cfg,
                       const struct cw_incentive_result *inc)
{
    const char *cur = m->meta.currency;
    int exp = m->meta.currency_exp;
    char money[32], cart_value[32];
    cw_buf_addf(
        b, "cart value %s %s\n",
        cw_money_format(d->cart_value, exp, cart_value, sizeof(cart_value)),
        cur);
    if (!d->n_addons)
        cw_buf_adds(b, "no add-ons for this cart\n");
    for (size_t i = 0; i < d->n_addons; i++) {
        const struct cw_addon *a = &d->addons[i];
        const char *title = cw_app_item_title(m, a->variant, a->item);
        double scale = 1.0;
        for (int e = 0; e < exp; e++)
            scale *= 10.0;
        cw_buf_addf(b,
                    "%zu. %s  %s%sp=%.3f  margin=%s %s  expected=%.2f — "
                    "%s\n",
                    i + 1, cw_model_sku(m, a->variant), title,
                    *title ? "  " : "", a->p_accept,
                    cw_money_format(a->unit_margin, exp, money, sizeof(money)),
                    cur, a->expected_profit / scale, a->text);
    }
    const char *as[2];
    struct cw_buf note = CW_BUF_INIT;
    size_t nas = cw_app_assumptions(m, d, customer, as, &note);
    for (size_t i = 0; i < nas; i++)
        cw_buf_addf(b, "note: %s\n", as[i]);
    cw_buf_release(&note);
    if (d->n_unknown) {
        cw_buf_adds(b, "unknown SKUs: ");
        for (size_t i = 0; i < d->n_unknown; i++)
            cw_buf_addf(b, "%s%s", i ? ", " : "", c->lines[d->unknown[i]].sku);
        cw_buf_addch(b, '\n');
    }
    if (cfg && inc)
        cw_app_incentive_text(b, m, cfg, inc);
    if (b->len && b->buf[b->len - 1] == '\n')
        b->buf[--b->len] = '\0';
}

struct rec_opts {
    const char *cart;
    const char *customer;
    enum cw_placement placement;
    unsigned k;
    int accuracy_only;
    const char *session; /* incentives: the session (caps, stickiness) */
    int64_t coupon;      /* incentives: the storefront's code, minor */
    int no_incentives;
};

static int recommend(const struct cw_cli *cli, const struct rec_opts *o,
                     struct cart *c)
{
    struct cw_app_model am;
    struct cw_app_incentives ai;
    memset(&ai, 0, sizeof(ai));
    int rc = load_model(cli, &am, o->no_incentives ? NULL : &ai);
    if (rc != CW_EXIT_OK)
        return rc;
    struct cw_incentive_result *inc = NULL;
    struct cw_incentive_state *ist = NULL;
    const struct cw_model *mp = &am.m;
    struct cw_scratch *scratch = cw_scratch_new(mp);
    struct cw_decide_req req = {
        c->lines,     c->n, o->customer,
        o->placement, o->k, o->accuracy_only ? CW_DECIDE_ACCURACY_ONLY : 0u};
    struct cw_decision *d = cw_calloc(1, sizeof(*d));
    struct cw_buf err = CW_BUF_INIT, out = CW_BUF_INIT;
    int code = cw_decide(mp, scratch, &req, d, &err);
    if (code == 0 && ai.cfg) {
        /* as the server would for a new session of this shopper */
        inc = cw_malloc(sizeof(*inc));
        ist = cw_incentive_state_new(8, 8, 0);
        struct cw_incentive_req ir = {ai.cfg,
                                      ai.have_stats ? &ai.stats : NULL,
                                      ist,
                                      {o->session, -1, -1, -1, o->coupon},
                                      (int64_t)time(NULL),
                                      0};
        code = cw_incentive_apply(mp, &req, d, &ir, inc, &err);
        if (code < 0) {
            rc = cw_cli_error("cannot apply the incentives: %s",
                              err.len ? cw_buf_str(&err) : cw_strerror(code));
            goto done;
        }
    }
    if (code < 0) {
        rc = cw_cli_error("cannot decide: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
    } else {
        if (cli->json)
            print_json(&out, mp, &am.info, c, d, o->customer, ai.cfg, inc);
        else
            print_text(&out, mp, c, d, o->customer, ai.cfg, inc);
        rc = cw_cli_emit(&out);
    }
done:
    cw_free(inc);
    cw_incentive_state_free(ist);
    cw_app_incentives_release(&ai);
    cw_buf_release(&err);
    cw_buf_release(&out);
    cw_free(d);
    cw_scratch_free(scratch);
    cw_app_model_release(&am);
    return rc;
}

int cw_cmd_recommend(int argc, char **argv, struct cw_cli *cli)
{
    enum {
        OPT_CART = CW_OPT__FIRST_OWN,
        OPT_CUSTOMER,
        OPT_PLACEMENT,
        OPT_K,
        OPT_ACCURACY_ONLY,
        OPT_SESSION,
        OPT_COUPON,
        OPT_NO_INCENTIVES,
    };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"cart", required_argument, NULL, OPT_CART},
        {"customer", required_argument, NULL, OPT_CUSTOMER},
        {"placement", required_argument, NULL, OPT_PLACEMENT},
        {"k", required_argument, NULL, OPT_K},
        {"accuracy-only", no_argument, NULL, OPT_ACCURACY_ONLY},
        {"session", required_argument, NULL, OPT_SESSION},
        {"coupon", required_argument, NULL, OPT_COUPON},
        {"no-incentives", no_argument, NULL, OPT_NO_INCENTIVES},
        {NULL, 0, NULL, 0},
    };
    struct rec_opts o = {NULL, NULL, CW_PLACE_CART, CW_DECIDE_MAX, 0, NULL,
                         0,    0};
    uint64_t k;
    int c, rc;

    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1) {
        switch (c) {
        case OPT_CART:
            o.cart = optarg;
            break;
        case OPT_CUSTOMER:
            o.customer = *optarg ? optarg : NULL;
            break;
        case OPT_PLACEMENT:
            if (!strcmp(optarg, "product"))
                o.placement = CW_PLACE_PRODUCT;
            else if (!strcmp(optarg, "cart"))
                o.placement = CW_PLACE_CART;
            else if (!strcmp(optarg, "checkout"))
                o.placement = CW_PLACE_CHECKOUT;
            else
                return cw_cli_usage_error(cli,
                                          "--placement is product, cart or "
                                          "checkout, not '%s'",
                                          optarg);
            break;
        case OPT_K:
            if (cw_cli_parse_u64(optarg, &k) < 0 || k < 1 || k > CW_DECIDE_MAX)
                return cw_cli_usage_error(cli, "--k wants 1..%d, not '%s'",
                                          CW_DECIDE_MAX, optarg);
            o.k = (unsigned)k;
            break;
        case OPT_ACCURACY_ONLY:
            o.accuracy_only = 1;
            break;
        case OPT_SESSION:
            o.session = *optarg ? optarg : NULL;
            break;
        case OPT_COUPON:
            if (cw_cli_parse_u64(optarg, &k) < 0 || k > CW_PRICE_MAX)
                return cw_cli_usage_error(cli,
                                          "--coupon wants an amount in minor "
                                          "units, not '%s'",
                                          optarg);
            o.coupon = (int64_t)k;
            break;
        case OPT_NO_INCENTIVES:
            o.no_incentives = 1;
            break;
        default:
            if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
                return rc;
        }
    }
    if (optind < argc)
        return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                  argv[optind]);
    if (!o.cart)
        return cw_cli_usage_error(cli, "missing --cart");

    struct cart *cart = cw_calloc(1, sizeof(*cart));
    struct cw_buf why = CW_BUF_INIT;
    if (parse_cart(cart, o.cart, &why) < 0)
        rc = cw_cli_usage_error(cli, "%s", cw_buf_str(&why));
    else
        rc = recommend(cli, &o, cart);
    cw_buf_release(&why);
    cw_free(cart->text);
    cw_free(cart);
    return rc;
}
