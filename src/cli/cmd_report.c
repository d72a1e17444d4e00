/*
 * cmd_report.c: `cartwise report kpis` and `cartwise report experiment`.
 *
 * Both read the store through its ops table and hand plain arrays to core:
 * kpis copies order lines, returns, events and the add-ons each logged
 * decision showed (the decision's "shown" JSON is parsed here, with
 * jansson, so core never sees JSON) into cw_kpi_report; experiment streams
 * decisions, purchase events and past spend into the cw_exp_log collector
 * and the per-unit aggregates into cw_stats_report. Scans a store does not
 * offer (a NULL op or an error) are reported on stderr and the figures that
 * needed them come out as not computed, never as a crash or a silent zero.
 * Money in the output is in major units of the store's currency.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/experiment_json.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_experiment.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_kpi.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_stats.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"
#include "cli/cli_stats.h"

/* ---- what both reports read from the store's meta table ---- */

struct settings {
    double margin_rate;
    char currency[4];
    int exp;
};

static void read_settings(struct cw_store *s, double rate_opt,
                          struct settings *st)
{
    char *v = NULL;
    st->margin_rate = CW_CLI_DEFAULT_MARGIN_RATE;
    if (s->ops->meta_get(s, "default_margin_rate", &v, NULL) == 0) {
        double r;
        if (cw_cli_parse_double(v, &r) == 0 && r >= 0 && r < 1)
            st->margin_rate = r;
    }
    cw_free(v);
    v = NULL;
    if (rate_opt >= 0)
        st->margin_rate = rate_opt;
    snprintf(st->currency, sizeof(st->currency), "USD");
    if (s->ops->meta_get(s, "currency", &v, NULL) == 0 &&
        cw_cli_valid_currency(v))
        snprintf(st->currency, sizeof(st->currency), "%s", v);
    cw_free(v);
    st->exp = cw_currency_exponent(st->currency);
}

/* Strings copied out of scans live in one intern table: each distinct
 * string once, at a stable address (keys are allocated one by one). */
static const char *keep(struct cw_intern *pool, const char *s)
{
    if (!s)
        return NULL;
    uint32_t id = cw_intern_add(pool, s, strlen(s), NULL); /* may grow keys */
    return pool->keys[id];
}

static void scan_failed(const char *what, int code, const struct cw_buf *err)
{
    fprintf(stderr, "cartwise: %s not available: %s\n", what,
            err->len ? cw_buf_str(err) : cw_strerror(code));
}

/* ---- report kpis ---- */

struct kpi_data {
    struct cw_intern pool;
    struct cw_kpi_line *lines;
    size_t n_lines, cap_lines;
    struct cw_return_rec *rets;
    size_t n_rets, cap_rets;
    struct cw_event_rec *events;
    size_t n_events, cap_events;
    struct cw_kpi_shown *shown;
    size_t n_shown, cap_shown, n_decisions, bad_shown;
};

static int on_line(void *ctx, const struct cw_store_line *l)
{
    struct kpi_data *k = ctx;
    CW_GROW(k->lines, k->cap_lines, k->n_lines + 1);
    k->lines[k->n_lines++] = (struct cw_kpi_line){keep(&k->pool, l->order_id),
                                                  keep(&k->pool, l->customer),
                                                  keep(&k->pool, l->ts),
                                                  keep(&k->pool, l->sku),
                                                  l->qty,
                                                  l->unit_price,
                                                  l->unit_cost};
    return 0;
}

static int on_return(void *ctx, const struct cw_return_rec *r)
{
    struct kpi_data *k = ctx;
    CW_GROW(k->rets, k->cap_rets, k->n_rets + 1);
    struct cw_return_rec *x = &k->rets[k->n_rets++];
    *x = *r;
    x->id = keep(&k->pool, r->id);
    x->order_id = keep(&k->pool, r->order_id);
    x->customer = keep(&k->pool, r->customer);
    x->sku = keep(&k->pool, r->sku);
    x->ts = keep(&k->pool, r->ts);
    return 0;
}

static int on_event(void *ctx, const struct cw_event_rec *e)
{
    struct kpi_data *k = ctx;
    CW_GROW(k->events, k->cap_events, k->n_events + 1);
    struct cw_event_rec *x = &k->events[k->n_events++];
    *x = *e;
    x->id = keep(&k->pool, e->id);
    x->type = keep(&k->pool, e->type);
    x->session = keep(&k->pool, e->session);
    x->customer = keep(&k->pool, e->customer);
    x->ts = keep(&k->pool, e->ts);
    x->sku = keep(&k->pool, e->sku);
    x->decision_id = keep(&k->pool, e->decision_id);
    x->placement = keep(&k->pool, e->placement);
    x->reason = keep(&k->pool, e->reason);
    x->order_id = keep(&k->pool, e->order_id);
    x->payload = NULL; /* not needed, and the largest field */
    return 0;
}

/* A decision's "shown": [{"sku": .., "reason": .., ...}, ...]. */
static int on_decision(void *ctx, const struct cw_decision_rec *d)
{
    struct kpi_data *k = ctx;
    k->n_decisions++;
    if (!d->shown || !*d->shown)
        return 0;
    json_t *arr = json_loads(d->shown, 0, NULL);
    if (!json_is_array(arr)) {
        k->bad_shown++;
        json_decref(arr);
        return 0;
    }
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        const char *sku = json_string_value(json_object_get(it, "sku"));
        const char *reason = json_string_value(json_object_get(it, "reason"));
        if (!reason) /* {"reason": {"code": ..}} as the API writes it */
            reason = json_string_value(
                json_object_get(json_object_get(it, "reason"), "code"));
        if (!sku) {
            k->bad_shown++;
            continue;
        }
        CW_GROW(k->shown, k->cap_shown, k->n_shown + 1);
        k->shown[k->n_shown++] = (struct cw_kpi_shown){
            keep(&k->pool, d->id),        keep(&k->pool, d->session),
            keep(&k->pool, d->placement), keep(&k->pool, reason),
            keep(&k->pool, sku),          keep(&k->pool, d->ts)};
    }
    json_decref(arr);
    return 0;
}

static void kpi_text(struct cw_buf *b, const struct cw_kpi_report *r,
                     const struct settings *st)
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
    struct settings st;
    read_settings(s, rate_opt, &st);
    struct kpi_data *k = cw_calloc(1, sizeof(*k));
    cw_intern_init(&k->pool);
    struct cw_buf err = CW_BUF_INIT, out = CW_BUF_INIT;
    int code = s->ops->scan_lines(s, on_line, k, &err);
    if (code == 0)
        code = s->ops->scan_returns(s, on_return, k, &err);
    if (code < 0) {
        rc = cw_cli_error("cannot read orders from the store: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
        goto done;
    }
    if (!s->ops->scan_events)
        code = CW_EUNSUPPORTED;
    else
        code = s->ops->scan_events(s, on_event, k, &err);
    if (code < 0) {
        scan_failed("events", code, &err);
        k->n_events = 0;
    }
    cw_buf_reset(&err);
    if (!s->ops->scan_decisions)
        code = CW_EUNSUPPORTED;
    else
        code = s->ops->scan_decisions(s, on_decision, k, &err);
    if (code < 0) {
        scan_failed("decisions", code, &err);
        k->n_shown = k->n_decisions = 0;
    }
    if (k->bad_shown)
        fprintf(stderr,
                "cartwise: %zu shown add-ons without a readable sku skipped\n",
                k->bad_shown);
    struct cw_kpi_input in = {k->lines,       k->n_lines, k->rets,
                              k->n_rets,      k->events,  k->n_events,
                              k->shown,       k->n_shown, k->n_decisions,
                              st.margin_rate, from,       to};
    struct cw_kpi_report r;
    cw_buf_reset(&err);
    code = cw_kpi_report(&in, &r, &err);
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
    cw_free(k->lines);
    cw_free(k->rets);
    cw_free(k->events);
    cw_free(k->shown);
    cw_intern_release(&k->pool);
    cw_free(k);
    cw_buf_release(&err);
    cw_buf_release(&out);
    cw_store_close(s);
    return rc;
}

/* ---- report experiment ---- */

static int feed_decision(void *ctx, const struct cw_decision_rec *d)
{
    cw_exp_log_decision(ctx, d);
    return 0;
}

static int feed_event(void *ctx, const struct cw_event_rec *e)
{
    cw_exp_log_event(ctx, e);
    return 0;
}

static int feed_line(void *ctx, const struct cw_store_line *l)
{
    if (l->unit_price != CW_MONEY_UNKNOWN && l->qty > 0 && l->customer)
        cw_exp_log_spend(ctx, l->customer, l->ts, l->qty * l->unit_price);
    return 0;
}

static void log_json(struct cw_buf *b, const struct cw_exp_log_stats *ls)
{
    cw_buf_addf(b,
                ",\"log\":{\"decisions\":%zu,\"other_experiment\":%zu,"
                "\"unknown_arm\":%zu,\"outside_window\":%zu,"
                "\"mixed_units\":%zu,\"purchases\":%zu,"
                "\"purchases_unexposed\":%zu,\"purchases_before_exposure\":%zu,"
                "\"purchases_duplicate\":%zu,\"profit_assumed\":%zu}",
                ls->decisions, ls->other_experiment, ls->unknown_arm,
                ls->outside_window, ls->mixed_units, ls->purchases,
                ls->purchases_unexposed, ls->purchases_before,
                ls->purchases_duplicate, ls->profit_assumed);
}

static int experiment(struct cw_cli *cli, double alpha, double tstar)
{
    struct cw_store *s = NULL;
    int rc = cw_cli_open_store(cli, &s);
    if (rc)
        return rc;
    struct cw_buf err = CW_BUF_INIT, out = CW_BUF_INIT;
    struct cw_exp_log *log = NULL;
    struct cw_stats_unit *units = NULL;
    struct cw_stats_report *rep = NULL;
    char *v = NULL;
    struct cw_experiment e;
    int code = s->ops->meta_get(s, "experiment", &v, &err);
    if (code == CW_ENOENT) {
        rc = cw_cli_error("no experiment configured (cartwise experiment set "
                          "FILE)");
        goto done;
    }
    if (code < 0 || cw_experiment_from_json(v, strlen(v), &e, &err) < 0) {
        rc = cw_cli_error("cannot read the experiment: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
        goto done;
    }
    if (!s->ops->scan_decisions || !s->ops->scan_events) {
        rc = cw_cli_error("this store keeps no decision log: the experiment "
                          "report is not available");
        goto done;
    }
    struct settings st;
    read_settings(s, -1, &st);
    log = cw_exp_log_new(&e, st.margin_rate, pow(10, -st.exp));
    code = s->ops->scan_decisions(s, feed_decision, log, &err);
    if (code == 0)
        code = s->ops->scan_events(s, feed_event, log, &err);
    if (code == 0)
        code = s->ops->scan_lines(s, feed_line, log, &err);
    if (code < 0) {
        rc = cw_cli_error("cannot read the logs: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
        goto done;
    }
    size_t n = 0;
    struct cw_exp_log_stats ls;
    units = cw_exp_log_units(log, &n, &ls);
    uint32_t shares[CW_EXP_ARMS_MAX];
    const char *names[CW_EXP_ARMS_MAX];
    for (size_t k = 0; k < e.n_arms; k++) {
        shares[k] = e.arms[k].share_bp;
        names[k] = e.arms[k].name;
    }
    rep = cw_malloc(sizeof(*rep));
    struct cw_stats_opts so = {alpha, tstar};
    code = cw_stats_report(units, n, e.n_arms, shares,
                           cw_experiment_control(&e), &so, rep, &err);
    if (code < 0) {
        rc = cw_cli_error("statistics failed: %s", cw_buf_str(&err));
        goto done;
    }
    if (cli->json) {
        cw_stats_report_json(rep, names, 1, &out);
        cw_buf_adds(&out, ",\"currency\":");
        cw_buf_add_json_str(&out, st.currency);
        cw_buf_adds(&out, ",\"experiment\":");
        cw_experiment_to_json(&e, &out);
        log_json(&out, &ls);
        cw_buf_addf(&out, ",\"margin_rate_assumed\":%g}", st.margin_rate);
    } else {
        cw_buf_addf(&out,
                    "experiment %s: %zu units, %zu decisions, %zu "
                    "purchases (%s)\n\n",
                    e.id, n, ls.decisions, ls.purchases, st.currency);
        cw_cli_stats_text(&out, rep, names);
        if (ls.mixed_units)
            cw_buf_addf(&out, "\n%zu units seen in two arms left out",
                        ls.mixed_units);
        if (ls.profit_assumed)
            cw_buf_addf(&out,
                        "\n%zu purchases without a margin valued at %.0f%%",
                        ls.profit_assumed, 100 * st.margin_rate);
    }
    rc = cw_cli_emit(&out);
done:
    cw_free(rep);
    cw_free(units);
    cw_exp_log_free(log);
    cw_free(v);
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
