/*
 * cmd_simulate.c: `cartwise simulate`, the engine against a holdout on
 * replayed baskets (cw_simulate.h has the shopper model).
 *
 * Reads a normalized lines file like `eval`, runs the simulation and prints
 * the experiment report in the same shape as `report experiment` (arms,
 * effects, srm_p_value), plus a "simulation" object with what the
 * shoppers saw and did and the assumptions behind it. Money is in the
 * data's major units.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "app/experiment_json.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_experiment.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_simulate.h"
#include "cartwise/cw_stats.h"
#include "cli/cli.h"
#include "cli/cli_stats.h"

static int read_experiment(const char *file, struct cw_experiment *e)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return cw_cli_error("cannot open '%s': %s", file, strerror(errno));
    struct cw_buf text = CW_BUF_INIT, err = CW_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
           text.len <= CW_EXPERIMENT_JSON_MAX)
        cw_buf_add(&text, chunk, n);
    fclose(f);
    int rc = CW_EXIT_OK;
    if (cw_experiment_from_json(cw_buf_str(&text), text.len, e, &err) < 0)
        rc = cw_cli_error("%s: %s", file, cw_buf_str(&err));
    cw_buf_release(&text);
    cw_buf_release(&err);
    return rc;
}

static int read_incentives(const char *file, struct cw_incentive_config *c)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return cw_cli_error("cannot open '%s': %s", file, strerror(errno));
    struct cw_buf text = CW_BUF_INIT, err = CW_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
           text.len <= (1u << 20))
        cw_buf_add(&text, chunk, n);
    fclose(f);
    int rc = CW_EXIT_OK;
    if (cw_app_config_parse(cw_buf_str(&text), text.len, c, &err) < 0)
        rc = cw_cli_error("%s: %s", file, cw_buf_str(&err));
    cw_buf_release(&text);
    cw_buf_release(&err);
    return rc;
}

static void json_sim(struct cw_buf *b, const char *file,
                     const struct cw_sim_opts *o, const struct cw_sim_result *r,
                     size_t skipped)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    cw_buf_adds(b, ",\"simulation\":{\"dataset\":");
    cw_buf_add_json_str(b, base);
    cw_buf_addf(b,
                ",\"seed\":%llu,\"aa\":%s,\"lift\":%g,\"replays\":%u,"
                "\"baskets\":%zu,\"train_baskets\":%zu,\"test_baskets\":%zu,"
                "\"sessions\":%zu,\"units\":%zu,\"skipped_rows\":%zu,"
                "\"experiment\":",
                (unsigned long long)o->seed,
                o->aa || o->lift ? "true" : "false", o->lift,
                o->replays ? o->replays : 1, r->baskets, r->train_baskets,
                r->test_baskets, r->sessions, r->n_units, skipped);
    cw_experiment_to_json(&r->exp, b);
    cw_buf_addf(b,
                ",\"shopper_model\":{\"p_self\":%g,\"p_hit\":%g,"
                "\"p_other\":%g,\"abandon_mean\":%g,\"distraction\":%g},"
                "\"arms\":[",
                o->p_self, o->p_hit, o->p_other, o->abandon_mean,
                o->distraction);
    for (size_t k = 0; k < r->exp.n_arms; k++) {
        const struct cw_sim_arm *a = &r->arms[k];
        cw_buf_adds(b, k ? ",{\"name\":" : "{\"name\":");
        cw_buf_add_json_str(b, r->exp.arms[k].name);
        cw_buf_addf(b,
                    ",\"kind\":\"%s\",\"sessions\":%zu,\"abandoned\":%zu,"
                    "\"sessions_shown\":%zu,\"shown\":%zu,"
                    "\"accepted_real\":%zu,\"recovered\":%zu,"
                    "\"accepted_other\":%zu,"
                    "\"addon_revenue\":%.10g,\"addon_profit\":%.10g,"
                    "\"topups\":%zu,\"discounts\":%zu,"
                    "\"discount_cost\":%.10g,\"reward_cost\":%.10g}",
                    cw_arm_kind_name(r->exp.arms[k].kind), a->sessions,
                    a->abandoned, a->decisions_shown, a->shown,
                    a->accepted_real, a->recovered, a->accepted_other,
                    a->addon_revenue, a->addon_profit, a->topups, a->discounts,
                    a->discount_cost, a->reward_cost);
    }
    cw_buf_adds(b, "],\"truth\":[");
    size_t c = cw_experiment_control(&r->exp), first = 1;
    for (size_t k = 0; k < r->exp.n_arms; k++) {
        if (k == c)
            continue;
        cw_buf_adds(b, first ? "{\"arm\":" : ",{\"arm\":");
        first = 0;
        cw_buf_add_json_str(b, r->exp.arms[k].name);
        for (size_t m = 0; m < CW_METRIC__COUNT; m++) {
            cw_buf_addf(b, ",\"%s\":", cw_metric_name((enum cw_metric)m));
            if (isfinite(r->truth[k][m]))
                cw_buf_addf(b, "%.10g", r->truth[k][m]);
            else
                cw_buf_adds(b, "null");
        }
        cw_buf_addch(b, '}');
    }
    cw_buf_addch(b, ']');
    cw_buf_addf(b,
                ",\"assumptions\":[\"the real test basket is the shopper's "
                "intent: it arrives with its first part and finds each "
                "remaining item unprompted with p_self\",\"profit: unit cost "
                "where given, else the benchmark's assumed margin rate per "
                "sku (BENCHMARK.md 1.8)\",\"%s\"],\"incentives\":%s,"
                "\"train_s\":%.3f,\"sim_s\":%.3f}}",
                o->incentives
                    ? "incentives priced by the engine; shoppers top up to a "
                      "tier within a hidden tolerance and discounts lower "
                      "their abandonment"
                    : "no incentive configuration (--incentives FILE): "
                      "shoppers react to add-ons only",
                o->incentives ? "true" : "false", r->train_s, r->sim_s);
}

int cw_cmd_simulate(int argc, char **argv, struct cw_cli *cli)
{
    enum {
        OPT_LINES = CW_OPT__FIRST_OWN,
        OPT_SEED,
        OPT_AA,
        OPT_LIFT,
        OPT_REPLAYS,
        OPT_K,
        OPT_EXPERIMENT,
        OPT_P_SELF,
        OPT_P_HIT,
        OPT_P_OTHER,
        OPT_ABANDON,
        OPT_DISTRACTION,
        OPT_INCENTIVES,
        OPT_LAMBDA,
        OPT_NO_BLAS,
    };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"lines", required_argument, NULL, OPT_LINES},
        {"seed", required_argument, NULL, OPT_SEED},
        {"aa", no_argument, NULL, OPT_AA},
        {"lift", required_argument, NULL, OPT_LIFT},
        {"replays", required_argument, NULL, OPT_REPLAYS},
        {"k", required_argument, NULL, OPT_K},
        {"experiment", required_argument, NULL, OPT_EXPERIMENT},
        {"p-self", required_argument, NULL, OPT_P_SELF},
        {"p-hit", required_argument, NULL, OPT_P_HIT},
        {"p-other", required_argument, NULL, OPT_P_OTHER},
        {"abandon", required_argument, NULL, OPT_ABANDON},
        {"distraction", required_argument, NULL, OPT_DISTRACTION},
        {"incentives", required_argument, NULL, OPT_INCENTIVES},
        {"lambda", required_argument, NULL, OPT_LAMBDA},
        {"no-blas", no_argument, NULL, OPT_NO_BLAS},
        {NULL, 0, NULL, 0},
    };
    struct cw_sim_opts o;
    cw_sim_opts_default(&o);
    struct cw_experiment exp;
    const char *file = NULL, *exp_file = NULL, *inc_file = NULL;
    struct cw_incentive_config *inc = NULL;
    uint64_t u;
    double d;
    int c, rc;

    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1) {
        double *prob = NULL;
        const char *pname = NULL;
        switch (c) {
        case OPT_LINES:
            file = optarg;
            break;
        case OPT_SEED:
            if (cw_cli_parse_u64(optarg, &u) < 0)
                return cw_cli_usage_error(
                    cli, "--seed wants a non-negative integer, not '%s'",
                    optarg);
            o.seed = u;
            break;
        case OPT_AA:
            o.aa = 1;
            break;
        case OPT_LIFT:
            if (cw_cli_parse_double(optarg, &d) < 0 || d <= -1 || d >= 100)
                return cw_cli_usage_error(
                    cli, "--lift wants a number in (-1, 100), not '%s'",
                    optarg);
            o.lift = d;
            break;
        case OPT_REPLAYS:
            if (cw_cli_parse_u64(optarg, &u) < 0 || u < 1 || u > 1000)
                return cw_cli_usage_error(cli,
                                          "--replays wants 1..1000, not "
                                          "'%s'",
                                          optarg);
            o.replays = (unsigned)u;
            break;
        case OPT_K:
            if (cw_cli_parse_u64(optarg, &u) < 0 || u < 1 || u > CW_DECIDE_MAX)
                return cw_cli_usage_error(cli, "--k wants 1..%d, not '%s'",
                                          CW_DECIDE_MAX, optarg);
            o.k = (unsigned)u;
            break;
        case OPT_EXPERIMENT:
            exp_file = optarg;
            break;
        case OPT_P_SELF:
            prob = &o.p_self;
            pname = "--p-self";
            break;
        case OPT_P_HIT:
            prob = &o.p_hit;
            pname = "--p-hit";
            break;
        case OPT_P_OTHER:
            prob = &o.p_other;
            pname = "--p-other";
            break;
        case OPT_ABANDON:
            if (cw_cli_parse_double(optarg, &d) < 0 || d <= 0 || d >= 1)
                return cw_cli_usage_error(
                    cli, "--abandon wants a number in (0, 1), not '%s'",
                    optarg);
            o.abandon_mean = d;
            break;
        case OPT_DISTRACTION:
            prob = &o.distraction;
            pname = "--distraction";
            break;
        case OPT_INCENTIVES:
            inc_file = optarg;
            break;
        case OPT_LAMBDA:
            if (cw_cli_parse_double(optarg, &d) < 0 || d <= 0)
                return cw_cli_usage_error(
                    cli, "--lambda wants a positive number, not '%s'", optarg);
            o.train.ease_lambda = d;
            break;
        case OPT_NO_BLAS:
            o.train.use_blas = 0;
            break;
        default:
            if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
                return rc;
        }
        if (prob) {
            if (cw_cli_parse_double(optarg, &d) < 0 || d < 0 || d > 1)
                return cw_cli_usage_error(
                    cli, "%s wants a probability in [0, 1], not '%s'", pname,
                    optarg);
            *prob = d;
        }
    }
    if (optind < argc)
        return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                  argv[optind]);
    if (!file)
        return cw_cli_usage_error(cli, "missing --lines FILE");
    if (exp_file && (o.aa || o.lift != 0))
        return cw_cli_usage_error(cli, "--experiment cannot be combined with "
                                       "--aa or --lift");
    if (exp_file) {
        if ((rc = read_experiment(exp_file, &exp)))
            return rc;
        o.exp = &exp;
    }

    if (inc_file) {
        inc = cw_malloc(sizeof(*inc));
        if ((rc = read_incentives(inc_file, inc))) {
            cw_free(inc);
            return rc;
        }
        o.incentives = inc;
        o.train.currency = inc->currency; /* the prices are in it */
    }

    struct cw_dataset ds;
    cw_dataset_init(&ds);
    size_t skipped = 0;
    size_t rows = 0;
    struct cw_buf lerr = CW_BUF_INIT;
    rc = cw_app_read_lines(file, &ds, &rows, &skipped, &lerr) < 0
             ? cw_cli_error("%s", cw_buf_str(&lerr))
             : 0;
    cw_buf_release(&lerr);
    if (rc) {
        cw_dataset_release(&ds);
        cw_free(inc);
        return rc;
    }
    cw_dataset_finish(&ds);
    struct cw_sim_result r;
    struct cw_buf err = CW_BUF_INIT, out = CW_BUF_INIT;
    struct cw_stats_report *rep = cw_malloc(sizeof(*rep));
    int code = cw_sim_run(&ds, &o, &r, &err);
    if (code < 0) {
        rc = cw_cli_error("simulation of '%s' failed: %s", file,
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
        goto done;
    }
    uint32_t shares[CW_EXP_ARMS_MAX];
    const char *names[CW_EXP_ARMS_MAX];
    for (size_t k = 0; k < r.exp.n_arms; k++) {
        shares[k] = r.exp.arms[k].share_bp;
        names[k] = r.exp.arms[k].name;
    }
    code = cw_stats_report(r.units, r.n_units, r.exp.n_arms, shares,
                           cw_experiment_control(&r.exp), NULL, rep, &err);
    if (code < 0) {
        rc = cw_cli_error("statistics failed: %s", cw_buf_str(&err));
    } else if (cli->json) {
        cw_stats_report_json(rep, names, 1, &out);
        json_sim(&out, file, &o, &r, skipped);
        rc = cw_cli_emit(&out);
    } else {
        cw_buf_addf(&out,
                    "simulated %zu sessions (%zu units) from %zu test baskets "
                    "of %s, seed %llu\n\n",
                    r.sessions, r.n_units, r.test_baskets, file,
                    (unsigned long long)o.seed);
        cw_cli_stats_text(&out, rep, names);
        for (size_t k = 0; k < r.exp.n_arms; k++)
            cw_buf_addf(&out,
                        "\n%s: %zu add-ons shown, %zu taken from the basket "
                        "(%zu otherwise missed), %zu others, %zu of %zu "
                        "sessions abandoned",
                        names[k], r.arms[k].shown, r.arms[k].accepted_real,
                        r.arms[k].recovered, r.arms[k].accepted_other,
                        r.arms[k].abandoned, r.arms[k].sessions);
        size_t ctl = cw_experiment_control(&r.exp);
        for (size_t k = 0; k < r.exp.n_arms; k++)
            if (k != ctl)
                cw_buf_addf(&out,
                            "\ntrue effect of %s (every shopper played in "
                            "both arms): aov %+.4g, revenue per session "
                            "%+.4g, profit per session %+.4g",
                            names[k], r.truth[k][CW_METRIC_AOV],
                            r.truth[k][CW_METRIC_REVENUE_PER_SESSION],
                            r.truth[k][CW_METRIC_PROFIT_PER_SESSION]);
        rc = cw_cli_emit(&out);
    }
    cw_sim_result_release(&r);
done:
    cw_free(inc);
    cw_free(rep);
    cw_buf_release(&err);
    cw_buf_release(&out);
    cw_dataset_release(&ds);
    return rc;
}
