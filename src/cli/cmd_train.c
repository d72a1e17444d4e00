/*
 * cmd_train.c: `cartwise train`, a new model version from the store.
 *
 * The work (read the store, train, publish the file and its registry row)
 * is cw_app_train, shared with the server's POST /v1/train; this file parses
 * the options and prints what was published.
 */
#include <stdint.h>
#include <stdio.h>

#include "app/app.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"

struct train_opts {
    double margin_rate; /* < 0: the stored one */
    uint64_t top_m;     /* 0: default */
    double lambda;      /* <= 0: tuned */
    int no_blas;
    const char *currency;   /* NULL: the stored one */
    const char *models_dir; /* NULL: the stored one, else beside the db */
};

static void print_result(const struct cw_cli *cli,
                         const struct cw_app_train_result *r, struct cw_buf *b)
{
    if (cli->json) {
        cw_buf_addf(b,
                    "{\"version\":%lld,\"items\":%u,\"customers\":%u,"
                    "\"baskets\":%lld,\"lines\":%lld,\"ease_lambda\":%g,"
                    "\"ease_items\":%u,\"default_margin_rate\":%g,"
                    "\"reranker\":%s,\"profit_gamma\":%g,"
                    "\"cart_order\":%s,\"line_order_mix\":%.4f,"
                    "\"currency\":",
                    (long long)r->info.version, r->items, r->customers,
                    (long long)r->baskets, (long long)r->lines, r->ease_lambda,
                    r->ease_items, r->default_margin_rate,
                    r->reranker ? "true" : "false", r->profit_gamma,
                    r->cart_order ? "true" : "false", r->line_order_mix);
        cw_buf_add_json_str(b, r->currency);
        cw_buf_addf(b, ",\"seconds\":%.3f,\"checksum\":\"%s\",\"file\":",
                    r->seconds, r->checksum);
        cw_buf_add_json_str(b, r->info.path);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_addf(b,
                    "trained model version %lld: %u items, %u customers, "
                    "%lld baskets, EASE lambda %g, in %.2f s\n"
                    "re-ranker %s, profit weight %g; the cart's line order "
                    "is %s (%.0f%% of adjacent order lines come in their "
                    "pair's less usual order)\n"
                    "wrote %s",
                    (long long)r->info.version, r->items, r->customers,
                    (long long)r->baskets, r->ease_lambda, r->seconds,
                    r->reranker ? "on" : "off", r->profit_gamma,
                    r->cart_order ? "read: the latest lines weigh most"
                                  : "ignored: the orders' lines look sorted",
                    100 * r->line_order_mix, r->info.path);
    }
}

static int train(const struct cw_cli *cli, const struct train_opts *o)
{
    struct cw_store *s;
    int rc = cw_cli_open_store(cli, &s);
    if (rc != CW_EXIT_OK)
        return rc;
    struct cw_app_train_opts to = {o->margin_rate, (uint32_t)o->top_m,
                                   o->lambda,      o->no_blas,
                                   o->currency,    o->models_dir};
    struct cw_app_train_result r;
    struct cw_buf err = CW_BUF_INIT;
    int code = cw_app_train(s, cli->db, &to, &r, &err);
    if (code == CW_ENODATA) {
        rc = cw_cli_error("%s: import orders first with `cartwise import`",
                          cw_buf_str(&err));
    } else if (code < 0) {
        rc = cw_cli_error("%s", err.len ? cw_buf_str(&err) : cw_strerror(code));
    } else {
        struct cw_buf b = CW_BUF_INIT;
        print_result(cli, &r, &b);
        rc = cw_cli_emit(&b);
        cw_buf_release(&b);
    }
    cw_buf_release(&err);
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
        OPT_MODELS_DIR,
    };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"margin-rate", required_argument, NULL, OPT_MARGIN_RATE},
        {"top-m", required_argument, NULL, OPT_TOP_M},
        {"lambda", required_argument, NULL, OPT_LAMBDA},
        {"no-blas", no_argument, NULL, OPT_NO_BLAS},
        {"currency", required_argument, NULL, OPT_CURRENCY},
        {"models-dir", required_argument, NULL, OPT_MODELS_DIR},
        {NULL, 0, NULL, 0},
    };
    struct train_opts o = {-1.0, 0, 0.0, 0, NULL, NULL};
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
            if (!cw_currency_valid(optarg))
                return cw_cli_usage_error(
                    cli,
                    "--currency wants an ISO-4217 code such as GBP, not '%s'",
                    optarg);
            o.currency = optarg;
            break;
        case OPT_MODELS_DIR:
            if (!*optarg)
                return cw_cli_usage_error(cli, "--models-dir needs a path");
            o.models_dir = optarg;
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
