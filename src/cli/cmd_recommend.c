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

/* Loads the newest model: m decodes in place over map. Returns CW_EXIT_*. */
static int load_model(const struct cw_cli *cli, struct cw_model_info *info,
                      struct cw_map *map, struct cw_model *m)
{
    struct cw_store *s;
    int rc = cw_cli_open_store(cli, &s);
    if (rc != CW_EXIT_OK)
        return rc;
    struct cw_buf err = CW_BUF_INIT;
    int code = s->ops->model_latest(s, info, &err);
    cw_store_close(s);
    if (code == CW_ENOENT) {
        rc = cw_cli_error("no trained model: run `cartwise train` first");
        goto out;
    }
    if (code < 0) {
        rc = cw_cli_error("cannot read the model registry: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
        goto out;
    }
    code = cw_file_map(map, info->path, &err);
    if (code < 0) {
        rc = cw_cli_error("cannot read model version %lld: %s",
                          (long long)info->version, cw_buf_str(&err));
        goto out;
    }
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx",
             (unsigned long long)cw_xxh3(map->data, map->len));
    if (strcmp(hex, info->checksum) != 0) {
        rc = cw_cli_error("model file '%s' is damaged: checksum %s does not "
                          "match the registry's %s (train again)",
                          info->path, hex, info->checksum);
        goto out;
    }
    code = cw_model_decode(m, map->data, map->len, &err);
    if (code < 0) {
        rc = cw_cli_error("model file '%s' is damaged: %s", info->path,
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
        goto out;
    }
    rc = CW_EXIT_OK;
out:
    cw_buf_release(&err);
    return rc;
}

static const char *item_title(const struct cw_model *m, uint32_t variant,
                              uint32_t item)
{
    uint32_t t = m->items[variant].title;
    if (!t)
        t = m->items[item].title;
    return cw_model_str(m, t);
}

static void assumptions(const struct cw_model *m, const struct cw_decision *d,
                        const char *customer, const char **out, size_t *n,
                        struct cw_buf *rate_note)
{
    *n = 0;
    for (size_t i = 0; i < d->n_addons; i++) {
        if (d->addons[i].margin_assumed) {
            cw_buf_addf(rate_note,
                        "margin assumed at the default rate %.0f%%: costs "
                        "unknown",
                        m->meta.default_margin_rate * 100.0);
            out[(*n)++] = cw_buf_str(rate_note);
            break;
        }
    }
    if (customer && !d->known_customer)
        out[(*n)++] = "customer not in the model: recommendations are not "
                      "personalized";
}

static void print_json(struct cw_buf *b, const struct cw_model *m,
                       const struct cw_model_info *info, const struct cart *c,
                       const struct cw_decision *d, const char *customer)
{
    const char *cur = m->meta.currency;
    cw_buf_addf(
        b, "{\"model_version\":%lld,\"cart_value\":", (long long)info->version);
    cw_cli_json_money(b, d->cart_value, cur);
    cw_buf_adds(b, ",\"addons\":[");
    for (size_t i = 0; i < d->n_addons; i++) {
        const struct cw_addon *a = &d->addons[i];
        cw_buf_adds(b, i ? ",{\"sku\":" : "{\"sku\":");
        cw_buf_add_json_str(b, cw_model_sku(m, a->item));
        cw_buf_adds(b, ",\"variant_sku\":");
        cw_buf_add_json_str(b, cw_model_sku(m, a->variant));
        cw_buf_adds(b, ",\"title\":");
        cw_buf_add_json_str(b, item_title(m, a->variant, a->item));
        cw_buf_addf(b, ",\"p_accept\":%.6f,\"unit_margin\":", a->p_accept);
        cw_cli_json_money(b, a->unit_margin, cur);
        /* expected_profit is a fractional amount of minor units */
        cw_buf_adds(b, ",\"expected_profit\":");
        cw_cli_json_money(b, (int64_t)llround(a->expected_profit), cur);
        cw_buf_addf(b, ",\"margin_assumed\":%s,\"reason\":{\"code\":",
                    a->margin_assumed ? "true" : "false");
        cw_buf_add_json_str(b, cw_reason_code(a->reason));
        cw_buf_adds(b, ",\"text\":");
        cw_buf_add_json_str(b, a->text);
        cw_buf_adds(b, ",\"evidence_sku\":");
        if (a->reason == CW_REASON_PAIRS_WITH) {
            cw_buf_add_json_str(b, cw_model_sku(m, a->evidence_item));
            cw_buf_addf(b, ",\"evidence_share\":%.4f}}", a->evidence_share);
        } else {
            cw_buf_adds(b, "null,\"evidence_share\":null}}");
        }
    }
    cw_buf_adds(b, "],\"unknown_skus\":[");
    for (size_t i = 0; i < d->n_unknown; i++) {
        if (i)
            cw_buf_addch(b, ',');
        cw_buf_add_json_str(b, c->lines[d->unknown[i]].sku);
    }
    cw_buf_adds(b, "],\"assumptions\":[");
    const char *as[2];
    size_t nas;
    struct cw_buf note = CW_BUF_INIT;
    assumptions(m, d, customer, as, &nas, &note);
    for (size_t i = 0; i < nas; i++) {
        if (i)
            cw_buf_addch(b, ',');
        cw_buf_add_json_str(b, as[i]);
    }
    cw_buf_release(&note);
    cw_buf_adds(b, "]}");
}

static void print_text(struct cw_buf *b, const struct cw_model *m,
                       const struct cart *c, const struct cw_decision *d,
                       const char *customer)
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
        const char *title = item_title(m, a->variant, a->item);
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
    size_t nas;
    struct cw_buf note = CW_BUF_INIT;
    assumptions(m, d, customer, as, &nas, &note);
    for (size_t i = 0; i < nas; i++)
        cw_buf_addf(b, "note: %s\n", as[i]);
    cw_buf_release(&note);
    if (d->n_unknown) {
        cw_buf_adds(b, "unknown SKUs: ");
        for (size_t i = 0; i < d->n_unknown; i++)
            cw_buf_addf(b, "%s%s", i ? ", " : "", c->lines[d->unknown[i]].sku);
        cw_buf_addch(b, '\n');
    }
    if (b->len && b->buf[b->len - 1] == '\n')
        b->buf[--b->len] = '\0';
}

struct rec_opts {
    const char *cart;
    const char *customer;
    enum cw_placement placement;
    unsigned k;
    int accuracy_only;
};

static int recommend(const struct cw_cli *cli, const struct rec_opts *o,
                     struct cart *c)
{
    struct cw_model_info info;
    struct cw_map map = {NULL, 0};
    struct cw_model m;
    memset(&m, 0, sizeof(m));
    int rc = load_model(cli, &info, &map, &m);
    if (rc != CW_EXIT_OK) {
        cw_file_unmap(&map);
        return rc;
    }
    struct cw_scratch *scratch = cw_scratch_new(&m);
    struct cw_decide_req req = {
        c->lines,     c->n, o->customer,
        o->placement, o->k, o->accuracy_only ? CW_DECIDE_ACCURACY_ONLY : 0u};
    struct cw_decision *d = cw_calloc(1, sizeof(*d));
    struct cw_buf err = CW_BUF_INIT, out = CW_BUF_INIT;
    int code = cw_decide(&m, scratch, &req, d, &err);
    if (code < 0) {
        rc = cw_cli_error("cannot decide: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
    } else {
        if (cli->json)
            print_json(&out, &m, &info, c, d, o->customer);
        else
            print_text(&out, &m, c, d, o->customer);
        rc = cw_cli_emit(&out);
    }
    cw_buf_release(&err);
    cw_buf_release(&out);
    cw_free(d);
    cw_scratch_free(scratch);
    cw_model_release(&m);
    cw_file_unmap(&map);
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
    };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"cart", required_argument, NULL, OPT_CART},
        {"customer", required_argument, NULL, OPT_CUSTOMER},
        {"placement", required_argument, NULL, OPT_PLACEMENT},
        {"k", required_argument, NULL, OPT_K},
        {"accuracy-only", no_argument, NULL, OPT_ACCURACY_ONLY},
        {NULL, 0, NULL, 0},
    };
    struct rec_opts o = {NULL, NULL, CW_PLACE_CART, CW_DECIDE_MAX, 0};
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
