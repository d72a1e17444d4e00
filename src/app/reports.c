/*
 * reports.c: the KPI and experiment reports, for `cartwise report` and
 * GET /v1/reports/kpis, GET /v1/reports/experiment.
 *
 * Both read the store through its ops table and hand plain arrays to core:
 * kpis copies order lines, returns, events and the add-ons each logged
 * decision showed (the decision's "shown" JSON is parsed here, with
 * jansson, so core never sees JSON) into cw_kpi_report; experiment streams
 * decisions, purchase events and past spend into the cw_exp_log collector
 * and the per-unit aggregates into cw_stats_report. Scans a store does not
 * offer (a NULL op or an error) are noted in warn and the figures that
 * needed them come out as not computed, never as a crash or a silent zero.
 * Money in the JSON is in major units of the store's currency.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/experiment_json.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_money.h"

/* ---- what both reports read from the store's meta table ---- */

static int parse_rate(const char *s, double *out)
{
    char *end;
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

void cw_app_report_settings(struct cw_store *s, double margin_rate,
                            struct cw_app_report_settings *st)
{
    char *v = NULL;
    st->margin_rate = CW_APP_DEFAULT_MARGIN_RATE;
    if (s->ops->meta_get(s, "default_margin_rate", &v, NULL) == 0) {
        double r;
        if (parse_rate(v, &r) == 0 && r >= 0 && r < 1)
            st->margin_rate = r;
    }
    cw_free(v);
    v = NULL;
    if (margin_rate >= 0)
        st->margin_rate = margin_rate;
    snprintf(st->currency, sizeof(st->currency), "USD");
    if (s->ops->meta_get(s, "currency", &v, NULL) == 0 && cw_currency_valid(v))
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

static void scan_failed(struct cw_buf *warn, const char *what, int code,
                        const struct cw_buf *err)
{
    if (warn)
        cw_buf_addf(warn, "%s not available: %s\n", what,
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

int cw_app_kpi_report(struct cw_store *s, const char *from, const char *to,
                      double margin_rate, struct cw_kpi_report *out,
                      struct cw_app_report_settings *st, struct cw_buf *warn,
                      struct cw_buf *err)
{
    cw_app_report_settings(s, margin_rate, st);
    struct kpi_data *k = cw_calloc(1, sizeof(*k));
    cw_intern_init(&k->pool);
    struct cw_buf e2 = CW_BUF_INIT;
    int rc = s->ops->scan_lines(s, on_line, k, &e2);
    if (rc == 0)
        rc = s->ops->scan_returns(s, on_return, k, &e2);
    if (rc < 0) {
        cw_buf_addf(err, "cannot read orders from the store: %s",
                    e2.len ? cw_buf_str(&e2) : cw_strerror(rc));
        goto done;
    }
    rc = s->ops->scan_events ? s->ops->scan_events(s, on_event, k, &e2)
                             : CW_EUNSUPPORTED;
    if (rc < 0) {
        scan_failed(warn, "events", rc, &e2);
        k->n_events = 0;
    }
    cw_buf_reset(&e2);
    rc = s->ops->scan_decisions ? s->ops->scan_decisions(s, on_decision, k, &e2)
                                : CW_EUNSUPPORTED;
    if (rc < 0) {
        scan_failed(warn, "decisions", rc, &e2);
        k->n_shown = k->n_decisions = 0;
    }
    if (k->bad_shown && warn)
        cw_buf_addf(warn, "%zu shown add-ons without a readable sku skipped\n",
                    k->bad_shown);
    struct cw_kpi_input in = {k->lines,        k->n_lines, k->rets,
                              k->n_rets,       k->events,  k->n_events,
                              k->shown,        k->n_shown, k->n_decisions,
                              st->margin_rate, from,       to};
    rc = cw_kpi_report(&in, out, err);
done:
    cw_free(k->lines);
    cw_free(k->rets);
    cw_free(k->events);
    cw_free(k->shown);
    cw_intern_release(&k->pool);
    cw_free(k);
    cw_buf_release(&e2);
    return rc < 0 ? rc : 0;
}

int cw_app_report_kpis(struct cw_store *s, const char *from, const char *to,
                       double margin_rate, struct cw_buf *json,
                       struct cw_buf *err)
{
    struct cw_kpi_report r;
    struct cw_app_report_settings st;
    int rc = cw_app_kpi_report(s, from, to, margin_rate, &r, &st, NULL, err);
    if (rc < 0)
        return rc;
    cw_kpi_report_json(&r, st.currency, st.exp, json);
    cw_kpi_report_release(&r);
    return 0;
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

int cw_app_exp_report(struct cw_store *s, double alpha, double tstar,
                      struct cw_app_exp_report *out, struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    struct cw_buf e2 = CW_BUF_INIT;
    struct cw_exp_log *log = NULL;
    struct cw_stats_unit *units = NULL;
    struct cw_experiment *e = &out->e;
    char *v = NULL;
    int rc = s->ops->meta_get(s, "experiment", &v, &e2);
    if (rc == CW_ENOENT) {
        cw_buf_adds(err, "no experiment configured (cartwise experiment set "
                         "FILE)");
        goto done;
    }
    if (rc == 0)
        rc = cw_experiment_from_json(v, strlen(v), e, &e2);
    if (rc < 0) {
        cw_buf_addf(err, "cannot read the experiment: %s",
                    e2.len ? cw_buf_str(&e2) : cw_strerror(rc));
        goto done;
    }
    if (!s->ops->scan_decisions || !s->ops->scan_events) {
        rc = CW_EUNSUPPORTED;
        cw_buf_adds(err, "this store keeps no decision log: the experiment "
                         "report is not available");
        goto done;
    }
    cw_app_report_settings(s, -1, &out->st);
    log = cw_exp_log_new(e, out->st.margin_rate, pow(10, -out->st.exp));
    rc = s->ops->scan_decisions(s, feed_decision, log, &e2);
    if (rc == 0)
        rc = s->ops->scan_events(s, feed_event, log, &e2);
    if (rc == 0)
        rc = s->ops->scan_lines(s, feed_line, log, &e2);
    if (rc < 0) {
        cw_buf_addf(err, "cannot read the logs: %s",
                    e2.len ? cw_buf_str(&e2) : cw_strerror(rc));
        goto done;
    }
    units = cw_exp_log_units(log, &out->units, &out->log);
    uint32_t shares[CW_EXP_ARMS_MAX];
    for (size_t k = 0; k < e->n_arms; k++) {
        shares[k] = e->arms[k].share_bp;
        out->names[k] = e->arms[k].name;
    }
    out->rep = cw_malloc(sizeof(*out->rep));
    struct cw_stats_opts so = {alpha, tstar};
    cw_buf_reset(&e2);
    rc = cw_stats_report(units, out->units, e->n_arms, shares,
                         cw_experiment_control(e), &so, out->rep, &e2);
    if (rc < 0)
        cw_buf_addf(err, "statistics failed: %s", cw_buf_str(&e2));
done:
    if (rc < 0) {
        cw_free(out->rep);
        out->rep = NULL;
    }
    cw_free(units);
    cw_exp_log_free(log);
    cw_free(v);
    cw_buf_release(&e2);
    return rc < 0 ? rc : 0;
}

void cw_app_exp_report_release(struct cw_app_exp_report *x)
{
    cw_free(x->rep);
    x->rep = NULL;
}

void cw_app_exp_report_json(const struct cw_app_exp_report *x, struct cw_buf *b)
{
    const struct cw_exp_log_stats *ls = &x->log;
    cw_stats_report_json(x->rep, x->names, 1, b);
    cw_buf_adds(b, ",\"currency\":");
    cw_buf_add_json_str(b, x->st.currency);
    cw_buf_adds(b, ",\"experiment\":");
    cw_experiment_to_json(&x->e, b);
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
    cw_buf_addf(b, ",\"margin_rate_assumed\":%g}", x->st.margin_rate);
}

int cw_app_report_experiment(struct cw_store *s, double alpha, double tstar,
                             struct cw_buf *json, struct cw_buf *err)
{
    struct cw_app_exp_report *x = cw_malloc(sizeof(*x));
    int rc = cw_app_exp_report(s, alpha, tstar, x, err);
    if (rc == 0)
        cw_app_exp_report_json(x, json);
    cw_app_exp_report_release(x);
    cw_free(x);
    return rc;
}
