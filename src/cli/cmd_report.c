/*
 * cmd_report.c: `cartwise report kpis` and `cartwise report experiment`.
 *
 * Options, text rendering and printing only: the store scans and the JSON
 * are the app layer's (src/app/reports.c), shared with GET /v1/reports.
 * Scans a store does not offer are reported on stderr and the figures that
 * needed them come out as not computed. Money in the output is in major
 * units of the store's currency.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_kpi.h"
#include "cartwise/cw_stats.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"
#include "cli/cli_stats.h"

/* Prints the app layer's warnings, one "cartwise: ..." line each. */
static void print_warnings(const struct cw_buf *warn)
{
    const char *p = warn->len ? cw_buf_str(warn) : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(stderr, "cartwise: %.*s\n", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* ---- report kpis ---- */

static void kpi_text(struct cw_buf *b, const struct cw_kpi_report *r,
                     const struct cw_app_report_settings *st)
{
    double k = pow(10, st->exp);
    cw_buf_addf(b,
                "orders %zu (%zu guest), customers %zu, revenue %.2f %s\n"
                "AOV %.2f, profit per order %.2f, profit-AOV ratio %.3f, "
                "units per order %.2f\n"
                "return rate %.2f%% of units (%.2f%% of revenue)\n"
                "repeat rate %.2f%%, orders per customer %.2f, median days "
                "between orders %.1f\n",
                r->orders, r->guest_orders, r->customers, r->revenue / k,
                st->currency, r->aov / k, r->profit_per_order / k,
                r->profit_aov_ratio, r->units_per_order, 100 * r->return_rate,
                100 * r->return_rate_value, 100 * r->repeat_rate,
                r->orders_per_customer, r->median_days_between_orders);
    cw_buf_addf(b, "repeat after a high-value order (>= %.2f) vs the rest:",
                r->high_value_threshold / k);
    for (size_t w = 0; w < CW_KPI_RETENTION_WINDOWS; w++)
        cw_buf_addf(b, " %dd %.1f%% vs %.1f%%;", r->retention[w].days,
                    100 * r->retention[w].high_rate,
                    100 * r->retention[w].rest_rate);
    if (r->funnel_computed) {
        cw_buf_addf(b, "\nfunnel (%zu sessions):", r->sessions);
        static const char *const steps[] = {"view", "add_to_cart", "cart_view",
                                            "checkout_start", "purchase"};
        for (size_t s = 0; s < CW_KPI_FUNNEL_STEPS; s++)
            cw_buf_addf(b, " %s %zu;", steps[s], r->funnel[s]);
    }
    for (size_t i = 0; r->addons_computed && i < r->n_placements; i++)
        cw_buf_addf(b, "\nadd-ons at %s: %zu shown, %.1f%% accepted",
                    r->placements[i].name, r->placements[i].shown,
                    100 * r->placements[i].acceptance_rate);
    if (r->discount_computed)
        cw_buf_addf(b, "\ndiscounts: %zu accepted, cost %.2f, ROI %.2f",
                    r->offers_accepted, r->discount_cost / k, r->discount_roi);
    for (size_t i = 0; i < r->n_assumptions; i++)
        cw_buf_addf(b, "\nassumed: %s", r->assumptions[i]);
    for (size_t i = 0; i < r->n_not_computed; i++)
        cw_buf_addf(b, "\nnot computed: %s", r->not_computed[i]);
}

static int kpis(struct cw_cli *cli, const char *from, const char *to,
                double rate_opt)
{
    struct cw_store *s = NULL;
    int rc = cw_cli_open_store(cli, &s);
    if (rc)
        return rc;
    struct cw_app_report_settings st;
    struct cw_kpi_report r;
    struct cw_buf err = CW_BUF_INIT, warn = CW_BUF_INIT, out = CW_BUF_INIT;
    int code = cw_app_kpi_report(s, from, to, rate_opt, &r, &st, &warn, &err);
    print_warnings(&warn);
    if (code < 0) {
        rc = cw_cli_error("%s", cw_buf_str(&err));
        goto done;
    }
    if (cli->json)
        cw_kpi_report_json(&r, st.currency, st.exp, &out);
    else
        kpi_text(&out, &r, &st);
    rc = cw_cli_emit(&out);
    cw_kpi_report_release(&r);
done:
    cw_buf_release(&err);
    cw_buf_release(&warn);
    cw_buf_release(&out);
    cw_store_close(s);
    return rc;
}

/* ---- report experiment ---- */

static int experiment(struct cw_cli *cli, double alpha, double tstar)
{
    struct cw_store *s = NULL;
    int rc = cw_cli_open_store(cli, &s);
    if (rc)
        return rc;
    struct cw_buf err = CW_BUF_INIT, out = CW_BUF_INIT;
    struct cw_app_exp_report *x = cw_malloc(sizeof(*x));
    if (cw_app_exp_report(s, alpha, tstar, x, &err) < 0) {
        rc = cw_cli_error("%s", cw_buf_str(&err));
        goto done;
    }
    if (cli->json) {
        cw_app_exp_report_json(x, &out);
    } else {
        cw_buf_addf(&out,
                    "experiment %s: %zu units, %zu decisions, %zu "
                    "purchases (%s)\n\n",
                    x->e.id, x->units, x->log.decisions, x->log.purchases,
                    x->st.currency);
        cw_cli_stats_text(&out, x->rep, x->names);
        if (x->log.mixed_units)
            cw_buf_addf(&out, "\n%zu units seen in two arms left out",
                        x->log.mixed_units);
        if (x->log.profit_assumed)
            cw_buf_addf(&out,
                        "\n%zu purchases without a margin valued at %.0f%%",
                        x->log.profit_assumed, 100 * x->st.margin_rate);
    }
    rc = cw_cli_emit(&out);
done:
    cw_app_exp_report_release(x);
    cw_free(x);
    cw_buf_release(&err);
    cw_buf_release(&out);
    cw_store_close(s);
    return rc;
}

int cw_cmd_report(int argc, char **argv, struct cw_cli *cli)
{
    enum {
        OPT_FROM = CW_OPT__FIRST_OWN,
        OPT_TO,
        OPT_MARGIN_RATE,
        OPT_ALPHA,
        OPT_TSTAR,
    };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"margin-rate", required_argument, NULL, OPT_MARGIN_RATE},
        {"alpha", required_argument, NULL, OPT_ALPHA},
        {"tstar", required_argument, NULL, OPT_TSTAR},
        {NULL, 0, NULL, 0},
    };
    const char *from = NULL, *to = NULL;
    double rate = -1, alpha = 0.05, tstar = 0;
    int c, rc, kpi_opts = 0, exp_opts = 0;
    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1) {
        switch (c) {
        case OPT_FROM:
        case OPT_TO: {
            int64_t t;
            if (cw_kpi_parse_ts(optarg, &t) < 0)
                return cw_cli_usage_error(
                    cli, "--%s wants a date YYYY-MM-DD[ HH:MM:SS], not '%s'",
                    c == OPT_FROM ? "from" : "to", optarg);
            *(c == OPT_FROM ? &from : &to) = optarg;
            kpi_opts++;
            break;
        }
        case OPT_MARGIN_RATE:
            if (cw_cli_parse_double(optarg, &rate) < 0 || rate < 0 || rate >= 1)
                return cw_cli_usage_error(
                    cli, "--margin-rate wants a number in [0, 1), not '%s'",
                    optarg);
            kpi_opts++;
            break;
        case OPT_ALPHA:
            if (cw_cli_parse_double(optarg, &alpha) < 0 || alpha <= 0 ||
                alpha >= 0.5)
                return cw_cli_usage_error(
                    cli, "--alpha wants a number in (0, 0.5), not '%s'",
                    optarg);
            exp_opts++;
            break;
        case OPT_TSTAR:
            if (cw_cli_parse_double(optarg, &tstar) < 0 || tstar < 1)
                return cw_cli_usage_error(
                    cli, "--tstar wants a number of units >= 1, not '%s'",
                    optarg);
            exp_opts++;
            break;
        default:
            if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
                return rc;
        }
    }
    if (optind >= argc)
        return cw_cli_usage_error(cli, "missing report (kpis or experiment)");
    if (optind + 1 < argc)
        return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                  argv[optind + 1]);
    const char *what = argv[optind];
    if (!strcmp(what, "kpis")) {
        if (exp_opts)
            return cw_cli_usage_error(cli, "--alpha and --tstar are for "
                                           "report experiment");
        if (from && to && strcmp(from, to) > 0)
            return cw_cli_usage_error(cli, "--from is after --to");
        return kpis(cli, from, to, rate);
    }
    if (!strcmp(what, "experiment")) {
        if (kpi_opts)
            return cw_cli_usage_error(cli, "--from, --to and --margin-rate are "
                                           "for report kpis");
        return experiment(cli, alpha, tstar);
    }
    return cw_cli_usage_error(cli, "unknown report '%s' (kpis or experiment)",
                              what);
}
