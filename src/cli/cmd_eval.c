/*
 * cmd_eval.c: `cartwise eval`, the basket-completion benchmark.
 *
 * Reads a normalized lines file (BENCHMARK.md section 1) the way the
 * reference script does (app.h: cw_app_read_lines), so both count the same
 * cases. cw_eval_run does the split, training and scoring with the production
 * decision code; this file only reads and prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_eval.h"
#include "cartwise/cw_train.h"
#include "cli/cli.h"

static void json_metrics(struct cw_buf *b, const struct cw_eval_metrics *m,
                         unsigned k)
{
    cw_buf_addf(b,
                "\"hr@%u\":%.6f,\"ndcg@%u\":%.6f,\"margin_capture\":%.6f,"
                "\"margin_per_case\":%.6f",
                k, m->hr, k, m->ndcg, m->margin_capture, m->margin_per_case);
}

static void json_calib(struct cw_buf *b, const struct cw_eval_calib *c)
{
    cw_buf_addf(b,
                "\"calibration\":{\"addons\":%zu,\"log_loss\":%.6f,"
                "\"mean_p\":%.6f,\"accept_rate\":%.6f,\"reliability\":[",
                c->n, c->log_loss, c->mean_p, c->accept_rate);
    int first = 1;
    for (int i = 0; i < CW_EVAL_CALIB_BINS; i++) {
        if (!c->bin_n[i])
            continue;
        cw_buf_addf(b,
                    "%s{\"p_lo\":%.1f,\"n\":%zu,\"mean_p\":%.6f,"
                    "\"accept_rate\":%.6f}",
                    first ? "" : ",", (double)i / CW_EVAL_CALIB_BINS,
                    c->bin_n[i], c->bin_p[i], c->bin_rate[i]);
        first = 0;
    }
    cw_buf_adds(b, "]}");
}

static void print_result(struct cw_buf *b, const struct cw_cli *cli,
                         const char *file, const struct cw_eval_opts *o,
                         const struct cw_eval_result *r, size_t skipped)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (cli->json) {
        cw_buf_adds(b, "{\"dataset\":");
        cw_buf_add_json_str(b, base);
        cw_buf_addf(b,
                    ",\"hidden\":\"%s\",\"k\":%u,\"baskets\":%zu,"
                    "\"train_baskets\":%zu,\"cases\":%zu,\"items\":%zu,"
                    "\"skipped_rows\":%zu,",
                    o->hidden_hash ? "hash" : "last", o->k, r->baskets,
                    r->train_baskets, r->cases, r->items, skipped);
        json_metrics(b, &r->profit, o->k);
        cw_buf_adds(b, ",\"accuracy_only\":{");
        json_metrics(b, &r->accuracy, o->k);
        cw_buf_addf(b,
                    "},\"ease_lambda\":%g,\"profit_gamma\":%g,"
                    "\"reranker\":%s,\"cart_order\":%s,"
                    "\"line_order_mix\":%.4f,",
                    r->ease_lambda, r->profit_gamma,
                    r->reranker ? "true" : "false",
                    r->cart_order ? "true" : "false", r->line_order_mix);
        json_calib(b, &r->calib);
        cw_buf_addf(b,
                    ",\"train_s\":%.3f,\"eval_s\":%.3f,\"margin_source\":"
                    "\"benchmark assumed rates (BENCHMARK.md 1.8)\"}",
                    r->train_s, r->eval_s);
        return;
    }
    cw_buf_addf(b,
                "dataset %s: %zu baskets, %zu train, %zu cases, %zu items "
                "(hidden %s)\n",
                base, r->baskets, r->train_baskets, r->cases, r->items,
                o->hidden_hash ? "hash" : "last");
    if (skipped)
        cw_buf_addf(b, "skipped %zu rows whose qty is not a number\n", skipped);
    char hr[16], ndcg[16];
    snprintf(hr, sizeof(hr), "HR@%u", o->k);
    snprintf(ndcg, sizeof(ndcg), "NDCG@%u", o->k);
    cw_buf_addf(b, "\n%-15s %8s %8s %15s %16s\n", "ranking", hr, ndcg,
                "margin capture", "margin per case");
    const struct {
        const char *name;
        const struct cw_eval_metrics *m;
    } rows[] = {{"profit", &r->profit}, {"accuracy-only", &r->accuracy}};
    for (size_t i = 0; i < 2; i++)
        cw_buf_addf(b, "%-15s %8.4f %8.4f %15.4f %16.4f\n", rows[i].name,
                    rows[i].m->hr, rows[i].m->ndcg, rows[i].m->margin_capture,
                    rows[i].m->margin_per_case);
    cw_buf_addf(b,
                "\nEASE lambda %g, profit gamma %g, re-ranker %s, cart order "
                "%s (line order mix %.3f); train %.2f s, eval %.2f s\n"
                "margins: benchmark assumed rates (BENCHMARK.md 1.8)",
                r->ease_lambda, r->profit_gamma, r->reranker ? "on" : "off",
                r->cart_order ? "read" : "ignored", r->line_order_mix,
                r->train_s, r->eval_s);
}

int cw_cmd_eval(int argc, char **argv, struct cw_cli *cli)
{
    enum {
        OPT_LINES = CW_OPT__FIRST_OWN,
        OPT_HIDDEN,
        OPT_K,
        OPT_LAMBDA,
        OPT_NO_BLAS,
    };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"lines", required_argument, NULL, OPT_LINES},
        {"hidden", required_argument, NULL, OPT_HIDDEN},
        {"k", required_argument, NULL, OPT_K},
        {"lambda", required_argument, NULL, OPT_LAMBDA},
        {"no-blas", no_argument, NULL, OPT_NO_BLAS},
        {NULL, 0, NULL, 0},
    };
    struct cw_eval_opts o;
    memset(&o, 0, sizeof(o));
    o.k = 3;
    cw_train_params_default(&o.train);
    const char *file = NULL;
    uint64_t k;
    double lambda;
    int c, rc;

    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1) {
        switch (c) {
        case OPT_LINES:
            file = optarg;
            break;
        case OPT_HIDDEN:
            if (!strcmp(optarg, "last"))
                o.hidden_hash = 0;
            else if (!strcmp(optarg, "hash"))
                o.hidden_hash = 1;
            else
                return cw_cli_usage_error(
                    cli, "--hidden is last or hash, not '%s'", optarg);
            break;
        case OPT_K:
            if (cw_cli_parse_u64(optarg, &k) < 0 || k < 1 || k > CW_DECIDE_MAX)
                return cw_cli_usage_error(cli, "--k wants 1..%d, not '%s'",
                                          CW_DECIDE_MAX, optarg);
            o.k = (unsigned)k;
            break;
        case OPT_LAMBDA:
            if (cw_cli_parse_double(optarg, &lambda) < 0 || lambda <= 0)
                return cw_cli_usage_error(
                    cli, "--lambda wants a positive number, not '%s'", optarg);
            o.train.ease_lambda = lambda;
            break;
        case OPT_NO_BLAS:
            o.train.use_blas = 0;
            break;
        default:
            if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
                return rc;
        }
    }
    if (optind < argc)
        return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                  argv[optind]);
    if (!file)
        return cw_cli_usage_error(cli, "missing --lines FILE");

    struct cw_dataset ds;
    cw_dataset_init(&ds);
    size_t skipped = 0;
    size_t rows = 0;
    struct cw_buf lerr = CW_BUF_INIT;
    rc = cw_app_read_lines(file, &ds, &rows, &skipped, &lerr) < 0
             ? cw_cli_error("%s", cw_buf_str(&lerr))
             : 0;
    cw_buf_release(&lerr);
    if (rc == 0) {
        cw_dataset_finish(&ds);
        struct cw_eval_result r;
        memset(&r, 0, sizeof(r));
        struct cw_buf err = CW_BUF_INIT, out = CW_BUF_INIT;
        int code = cw_eval_run(&ds, &o, &r, &err);
        if (code < 0) {
            rc = cw_cli_error("evaluation of '%s' failed: %s", file,
                              err.len ? cw_buf_str(&err) : cw_strerror(code));
        } else {
            print_result(&out, cli, file, &o, &r, skipped);
            rc = cw_cli_emit(&out);
        }
        cw_buf_release(&err);
        cw_buf_release(&out);
    }
    cw_dataset_release(&ds);
    return rc;
}
