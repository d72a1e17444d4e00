/*
 * kpi.c: the KPI report of DESIGN.md section 7 from plain arrays.
 *
 * Orders are rebuilt from their lines (revenue = qty x unit price, profit =
 * qty x (price - cost), or price x the default margin rate where the cost
 * is unknown, which is then stated with the share of revenue it covers).
 * Loyalty and retention follow known customers only, since a guest cannot
 * be recognized when they come back. "Repeat within N days" counts only
 * orders with N days of data after them, so the last weeks of a period do
 * not read as churn. Funnel, cross-sell and discount figures need events
 * and decisions; without them they are listed as not computed. Returns are
 * counted in the period they happen (UCI cancellations are not linked to
 * orders), against the units sold in the same period.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_kpi.h"
#include "cartwise/cw_money.h"

static const char *const funnel_steps[CW_KPI_FUNNEL_STEPS] = {
    "view", "add_to_cart", "cart_view", "checkout_start", "purchase"};
static const int retention_days[CW_KPI_RETENTION_WINDOWS] = {30, 60, 90};

/* ---- time ---- */

/* Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int cw_kpi_parse_ts(const char *ts, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, s = 0;
    if (!ts || strlen(ts) < 10 || digits(ts, 4, &y) || ts[4] != '-' ||
        digits(ts + 5, 2, &mo) || ts[7] != '-' || digits(ts + 8, 2, &d) ||
        mo < 1 || mo > 12 || d < 1 || d > 31)
        return CW_EPARSE;
    const char *t = ts + 10;
    if (*t == ' ' || *t == 'T') {
        if (digits(t + 1, 2, &h) || t[3] != ':' || digits(t + 4, 2, &mi))
            return CW_EPARSE;
        if (t[6] == ':' && digits(t + 7, 2, &s))
            return CW_EPARSE;
        if (h > 23 || mi > 59 || s > 60)
            return CW_EPARSE;
    }
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
           mi * 60 + s;
    return 0;
}

static int in_window(const struct cw_kpi_input *in, const char *ts)
{
    if (!ts)
        return !in->from && !in->to;
    if (in->from && strcmp(ts, in->from) < 0)
        return 0;
    if (in->to && strncmp(ts, in->to, strlen(in->to)) > 0)
        return 0;
    return 1;
}

/* ---- notes ---- */

static void note(char ***list, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note(char ***list, size_t *n, const char *fmt, ...)
{
    struct cw_buf b = CW_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    cw_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    *list = cw_realloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = cw_buf_detach(&b, NULL);
}

void cw_kpi_report_release(struct cw_kpi_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_assumptions; i++)
        cw_free(r->assumptions[i]);
    for (size_t i = 0; i < r->n_not_computed; i++)
        cw_free(r->not_computed[i]);
    cw_free(r->assumptions);
    cw_free(r->not_computed);
    cw_free(r->cohorts);
    cw_free(r->placements);
    cw_free(r->reasons);
    memset(r, 0, sizeof(*r));
}

/* ---- orders ---- */

struct order {
    int32_t customer; /* id in customers, -1 guest */
    int64_t t;        /* seconds; INT64_MIN when the ts does not parse */
    char month[8];
    double revenue, profit, units, assumed_revenue;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(double *v, size_t n, double q)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof(*v), cmp_double);
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    double f = pos - (double)i;
    return i + 1 < n ? v[i] + f * (v[i + 1] - v[i]) : v[i];
}

struct ord_ref {
    int32_t customer;
    int64_t t;
    uint32_t idx;
};

static int cmp_ref(const void *a, const void *b)
{
    const struct ord_ref *x = a, *y = b;
    if (x->customer != y->customer)
        return x->customer < y->customer ? -1 : 1;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int month_index(const char *m)
{
    int y, mo;
    if (digits(m, 4, &y) || digits(m + 5, 2, &mo))
        return -1;
    return y * 12 + mo - 1;
}

static void loyalty(struct cw_kpi_report *r, const struct order *o, size_t no)
{
    /* orders of known customers, by (customer, time) */
    struct ord_ref *ref = cw_malloc((no + 1) * sizeof(*ref));
    size_t n = 0;
    for (size_t i = 0; i < no; i++)
        if (o[i].customer >= 0 && o[i].t != INT64_MIN)
            ref[n++] = (struct ord_ref){o[i].customer, o[i].t, (uint32_t)i};
    qsort(ref, n, sizeof(*ref), cmp_ref);

    size_t customers = 0, repeaters = 0;
    double *gaps = cw_malloc((n + 1) * sizeof(*gaps));
    size_t ngaps = 0;
    int64_t tmax = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (ref[i].t > tmax)
            tmax = ref[i].t;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && ref[j].customer == ref[i].customer)
            j++;
        customers++;
        repeaters += j - i >= 2;
        for (size_t k = i + 1; k < j; k++)
            gaps[ngaps++] = (double)(ref[k].t - ref[k - 1].t) / 86400.0;
        i = j;
    }
    r->customers = customers;
    r->repeat_rate = customers ? (double)repeaters / (double)customers : NAN;
    r->orders_per_customer = customers ? (double)n / (double)customers : NAN;
    r->median_days_between_orders = quantile(gaps, ngaps, 0.5);
    cw_free(gaps);

    /* retention after a high-value purchase */
    double *vals = cw_malloc((n + 1) * sizeof(*vals));
    for (size_t i = 0; i < n; i++)
        vals[i] = o[ref[i].idx].revenue;
    r->high_value_threshold = quantile(vals, n, 0.75);
    cw_free(vals);
    for (size_t w = 0; w < CW_KPI_RETENTION_WINDOWS; w++) {
        struct cw_kpi_retention *rt = &r->retention[w];
        rt->days = retention_days[w];
        int64_t span = (int64_t)rt->days * 86400;
        for (size_t i = 0; i < n; i++) {
            if (ref[i].t > tmax - span)
                continue; /* not followed long enough */
            size_t k = i + 1;
            while (k < n && ref[k].customer == ref[i].customer &&
                   ref[k].t == ref[i].t)
                k++;
            int rep = k < n && ref[k].customer == ref[i].customer &&
                      ref[k].t - ref[i].t <= span;
            if (o[ref[i].idx].revenue >= r->high_value_threshold) {
                rt->high_orders++;
                rt->high_repeat += rep;
            } else {
                rt->rest_orders++;
                rt->rest_repeat += rep;
            }
        }
        rt->high_rate = rt->high_orders
                            ? (double)rt->high_repeat / (double)rt->high_orders
                            : NAN;
        rt->rest_rate = rt->rest_orders
                            ? (double)rt->rest_repeat / (double)rt->rest_orders
                            : NAN;
    }

    /* monthly cohorts by first order */
    int last = -1;
    for (size_t i = 0; i < n; i++) {
        int mi = month_index(o[ref[i].idx].month);
        if (mi > last)
            last = mi;
    }
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && ref[j].customer == ref[i].customer)
            j++;
        const char *first = o[ref[i].idx].month;
        int fm = month_index(first);
        size_t c = 0;
        while (c < r->n_cohorts && strcmp(r->cohorts[c].month, first))
            c++;
        if (c == r->n_cohorts) {
            r->cohorts = cw_realloc(r->cohorts, (c + 1) * sizeof(*r->cohorts));
            memset(&r->cohorts[c], 0, sizeof(r->cohorts[c]));
            memcpy(r->cohorts[c].month, first, sizeof(r->cohorts[c].month));
            int follow = last - fm;
            if (follow > CW_KPI_COHORT_MONTHS)
                follow = CW_KPI_COHORT_MONTHS;
            r->cohorts[c].n_months = (size_t)(follow + 1);
            r->n_cohorts++;
        }
        struct cw_kpi_cohort *co = &r->cohorts[c];
        co->customers++;
        int seen[CW_KPI_COHORT_MONTHS + 1] = {0};
        for (size_t k = i; k < j; k++) {
            int off = month_index(o[ref[k].idx].month) - fm;
            if (off >= 0 && off < (int)co->n_months)
                seen[off] = 1;
        }
        for (size_t m = 0; m < co->n_months; m++)
            co->retention[m] += seen[m];
        i = j;
    }
    for (size_t c = 0; c < r->n_cohorts; c++)
        for (size_t m = 0; m < r->cohorts[c].n_months; m++)
            r->cohorts[c].retention[m] /= (double)r->cohorts[c].customers;
    /* cohorts in month order */
    for (size_t a = 1; a < r->n_cohorts; a++)
        for (size_t b = a;
             b > 0 && strcmp(r->cohorts[b - 1].month, r->cohorts[b].month) > 0;
             b--) {
            struct cw_kpi_cohort t = r->cohorts[b];
            r->cohorts[b] = r->cohorts[b - 1];
            r->cohorts[b - 1] = t;
        }
    cw_free(ref);
}

static int orders(const struct cw_kpi_input *in, struct cw_kpi_report *r)
{
    struct cw_intern ids, custs;
    cw_intern_init(&ids);
    cw_intern_init(&custs);
    struct order *o = NULL;
    size_t cap = 0, unparsed = 0;
    for (size_t i = 0; i < in->n_lines; i++) {
        const struct cw_kpi_line *l = &in->lines[i];
        if (!l->order_id || l->qty <= 0 || !in_window(in, l->ts))
            continue;
        int added = 0;
        uint32_t k =
            cw_intern_add(&ids, l->order_id, strlen(l->order_id), &added);
        if (added) {
            CW_GROW(o, cap, (size_t)k + 1);
            memset(&o[k], 0, sizeof(o[k]));
            o[k].customer = -1;
            if (l->customer && *l->customer)
                o[k].customer = (int32_t)cw_intern_add(
                    &custs, l->customer, strlen(l->customer), NULL);
            if (cw_kpi_parse_ts(l->ts, &o[k].t) < 0) {
                o[k].t = INT64_MIN;
                unparsed++;
            }
            snprintf(o[k].month, sizeof(o[k].month), "%.7s",
                     l->ts ? l->ts : "");
        }
        r->lines++;
        double q = (double)l->qty;
        double p =
            l->unit_price == CW_MONEY_UNKNOWN ? 0 : (double)l->unit_price;
        o[k].revenue += q * p;
        o[k].units += q;
        if (l->unit_cost == CW_MONEY_UNKNOWN) {
            o[k].profit += q * p * in->default_margin_rate;
            o[k].assumed_revenue += q * p;
        } else {
            o[k].profit += q * (p - (double)l->unit_cost);
        }
    }
    size_t no = ids.n;
    double assumed = 0;
    for (size_t i = 0; i < no; i++) {
        r->revenue += o[i].revenue;
        r->profit += o[i].profit;
        r->units += o[i].units;
        assumed += o[i].assumed_revenue;
        r->guest_orders += o[i].customer < 0;
    }
    r->orders = no;
    double dn = (double)no;
    r->aov = no ? r->revenue / dn : NAN;
    r->profit_per_order = no ? r->profit / dn : NAN;
    r->profit_aov_ratio = r->revenue > 0 ? r->profit / r->revenue : NAN;
    r->units_per_order = no ? r->units / dn : NAN;
    r->assumed_margin_share = r->revenue > 0 ? assumed / r->revenue : 0;
    if (assumed > 0)
        note(&r->assumptions, &r->n_assumptions,
             "margin rate %.0f%% assumed where costs are unknown (%.1f%% of "
             "revenue): profit and profit_aov_ratio depend on it",
             in->default_margin_rate * 100, r->assumed_margin_share * 100);
    if (!no)
        note(&r->not_computed, &r->n_not_computed,
             "order figures: no orders in the period");
    if (r->guest_orders)
        note(&r->assumptions, &r->n_assumptions,
             "%zu guest orders (no customer id) count in order figures but "
             "not in loyalty or retention",
             r->guest_orders);
    if (unparsed)
        note(&r->assumptions, &r->n_assumptions,
             "%zu orders with an unreadable time are left out of loyalty and "
             "retention",
             unparsed);
    loyalty(r, o, no);
    if (r->customers) {
        note(&r->assumptions, &r->n_assumptions,
             "high-value orders: the top quartile of known customers' orders "
             "(value >= the 75th percentile)");
        note(&r->assumptions, &r->n_assumptions,
             "repeat within N days counts only orders followed by N days of "
             "data");
    } else if (no) {
        note(&r->not_computed, &r->n_not_computed,
             "loyalty and retention: no orders with a customer id");
    }
    cw_free(o);
    cw_intern_release(&ids);
    cw_intern_release(&custs);
    return 0;
}

static void returns(const struct cw_kpi_input *in, struct cw_kpi_report *r)
{
    for (size_t i = 0; i < in->n_returns; i++) {
        const struct cw_return_rec *x = &in->returns[i];
        if (x->qty <= 0 || !in_window(in, x->ts))
            continue;
        r->returns++;
        r->returned_units += (double)x->qty;
        r->refunded += (double)x->amount;
    }
    r->return_rate = r->units > 0 ? r->returned_units / r->units : NAN;
    r->return_rate_value = r->revenue > 0 ? r->refunded / r->revenue : NAN;
    if (r->units > 0)
        note(&r->assumptions, &r->n_assumptions,
             "return rate: units returned in the period / units sold in the "
             "period (returns need not be linked to orders)");
}

/* ---- events ---- */

static int step_of(const char *type)
{
    for (int i = 0; i < CW_KPI_FUNNEL_STEPS; i++)
        if (type && !strcmp(type, funnel_steps[i]))
            return i;
    return -1;
}

static struct cw_kpi_group *group_of(struct cw_kpi_group **g, size_t *n,
                                     const char *name)
{
    if (!name || !*name)
        name = "unknown";
    for (size_t i = 0; i < *n; i++)
        if (!strncmp((*g)[i].name, name, sizeof((*g)[i].name) - 1))
            return &(*g)[i];
    *g = cw_realloc(*g, (*n + 1) * sizeof(**g));
    struct cw_kpi_group *x = &(*g)[(*n)++];
    memset(x, 0, sizeof(*x));
    snprintf(x->name, sizeof(x->name), "%s", name);
    return x;
}

/* A small set of (session id, group index) pairs as interned keys. */
static uint32_t key2(struct cw_intern *t, const char *a, const char *b,
                     int *added)
{
    struct cw_buf k = CW_BUF_INIT;
    cw_buf_adds(&k, a ? a : "");
    cw_buf_addch(&k, '\x1f');
    cw_buf_adds(&k, b ? b : "");
    uint32_t id = cw_intern_add(t, k.buf ? k.buf : "", k.len, added);
    cw_buf_release(&k);
    return id;
}

static long find2(const struct cw_intern *t, const char *a, const char *b)
{
    struct cw_buf k = CW_BUF_INIT;
    cw_buf_adds(&k, a ? a : "");
    cw_buf_addch(&k, '\x1f');
    cw_buf_adds(&k, b ? b : "");
    long id = cw_intern_find(t, k.buf ? k.buf : "", k.len);
    cw_buf_release(&k);
    return id;
}

static void funnel(const struct cw_kpi_input *in, struct cw_kpi_report *r)
{
    struct cw_intern sessions, reached;
    cw_intern_init(&sessions);
    cw_intern_init(&reached);
    size_t n = 0;
    for (size_t i = 0; i < in->n_events; i++) {
        const struct cw_event_rec *e = &in->events[i];
        if (!e->session || !in_window(in, e->ts))
            continue;
        n++;
        cw_intern_add(&sessions, e->session, strlen(e->session), NULL);
        int s = step_of(e->type);
        int added = 0;
        if (s >= 0) {
            key2(&reached, e->session, e->type, &added);
            r->funnel[s] += added;
        }
    }
    r->sessions = sessions.n;
    r->funnel_computed = n > 0;
    for (int s = 0; s < CW_KPI_FUNNEL_STEPS; s++)
        r->funnel_drop[s] =
            s && r->funnel[s - 1]
                ? 1 - (double)r->funnel[s] / (double)r->funnel[s - 1]
                : NAN;
    if (!n)
        note(&r->not_computed, &r->n_not_computed,
             "funnel (cart drop-off): no storefront events in the period");
    else
        note(&r->assumptions, &r->n_assumptions,
             "funnel: sessions with at least one event of each step; a step "
             "reached without the one before still counts");
    cw_intern_release(&sessions);
    cw_intern_release(&reached);
}

/* Purchase value and margin of a purchase event. */
static double purchase_profit(const struct cw_kpi_input *in,
                              const struct cw_event_rec *e, int *assumed)
{
    if (e->profit != CW_MONEY_UNKNOWN)
        return (double)e->profit;
    *assumed = 1;
    return e->value == CW_MONEY_UNKNOWN
               ? 0
               : (double)e->value * in->default_margin_rate;
}

static void addons(const struct cw_kpi_input *in, struct cw_kpi_report *r)
{
    size_t nshown = 0;
    for (size_t i = 0; i < in->n_shown; i++)
        nshown += in_window(in, in->shown[i].ts);
    if (!nshown) {
        note(&r->not_computed, &r->n_not_computed,
             in->n_decisions ? "attach and acceptance rates: no add-ons shown "
                               "in the period"
                             : "attach and acceptance rates: no decisions "
                               "logged");
        return;
    }
    r->addons_computed = 1;
    /* shown items by (decision, sku): their placement and reason */
    struct cw_intern shown_key, accepted, sess_p, sess_r, att_p, att_r, buyers;
    cw_intern_init(&shown_key);
    cw_intern_init(&accepted);
    cw_intern_init(&sess_p);
    cw_intern_init(&sess_r);
    cw_intern_init(&att_p);
    cw_intern_init(&att_r);
    cw_intern_init(&buyers);
    size_t *sh = cw_malloc((in->n_shown + 1) * sizeof(*sh));
    for (size_t i = 0; i < in->n_shown; i++) {
        const struct cw_kpi_shown *s = &in->shown[i];
        if (!in_window(in, s->ts))
            continue;
        int added = 0;
        uint32_t k = key2(&shown_key, s->decision_id, s->sku, &added);
        if (!added)
            continue;
        sh[k] = i;
        group_of(&r->placements, &r->n_placements, s->placement)->shown++;
        group_of(&r->reasons, &r->n_reasons, s->reason)->shown++;
        key2(&sess_p, s->session, s->placement ? s->placement : "unknown",
             NULL);
        key2(&sess_r, s->session, s->reason ? s->reason : "unknown", NULL);
    }
    size_t purchases = 0;
    for (size_t i = 0; i < in->n_events; i++) {
        const struct cw_event_rec *e = &in->events[i];
        if (!e->type || !in_window(in, e->ts))
            continue;
        if (!strcmp(e->type, "purchase") && e->session) {
            cw_intern_add(&buyers, e->session, strlen(e->session), NULL);
            purchases++;
            continue;
        }
        if (strcmp(e->type, "add_to_cart") || !e->decision_id || !e->sku)
            continue;
        int added = 0;
        key2(&accepted, e->decision_id, e->sku, &added);
        if (!added)
            continue; /* one acceptance per shown item */
        long k = find2(&shown_key, e->decision_id, e->sku);
        const char *pl = e->placement, *rs = e->reason, *se = e->session;
        if (k >= 0) {
            const struct cw_kpi_shown *s = &in->shown[sh[k]];
            pl = s->placement;
            rs = s->reason;
            se = s->session;
        }
        group_of(&r->placements, &r->n_placements, pl)->accepted++;
        group_of(&r->reasons, &r->n_reasons, rs)->accepted++;
        key2(&att_p, se, pl ? pl : "unknown", NULL);
        key2(&att_r, se, rs ? rs : "unknown", NULL);
    }
    /* attach: purchasing sessions shown a group, with an accepted add-on */
    struct {
        struct cw_intern *shown, *att;
        struct cw_kpi_group *g;
        size_t n;
    } sets[2] = {{&sess_p, &att_p, r->placements, r->n_placements},
                 {&sess_r, &att_r, r->reasons, r->n_reasons}};
    for (size_t s = 0; s < 2; s++) {
        for (size_t i = 0; i < sets[s].shown->n; i++) {
            const char *key = sets[s].shown->keys[i];
            const char *sep = strchr(key, '\x1f');
            if (cw_intern_find(&buyers, key, (size_t)(sep - key)) < 0)
                continue;
            struct cw_kpi_group *g = NULL;
            for (size_t j = 0; j < sets[s].n; j++)
                if (!strncmp(sets[s].g[j].name, sep + 1,
                             sizeof(sets[s].g[j].name) - 1))
                    g = &sets[s].g[j];
            if (!g)
                continue;
            g->purchasing_sessions++;
            g->attached_sessions +=
                cw_intern_find(sets[s].att, key, sets[s].shown->lens[i]) >= 0;
        }
        for (size_t j = 0; j < sets[s].n; j++) {
            struct cw_kpi_group *g = &sets[s].g[j];
            g->acceptance_rate =
                g->shown ? (double)g->accepted / (double)g->shown : NAN;
            g->attach_rate = purchases && g->purchasing_sessions
                                 ? (double)g->attached_sessions /
                                       (double)g->purchasing_sessions
                                 : NAN;
        }
    }
    note(&r->assumptions, &r->n_assumptions,
         "acceptance: add_to_cart events naming the decision that showed the "
         "item, over the add-ons logged as shown");
    if (!purchases)
        note(&r->not_computed, &r->n_not_computed,
             "attach rate: no purchase events to tell which shown sessions "
             "bought");
    cw_free(sh);
    cw_intern_release(&shown_key);
    cw_intern_release(&accepted);
    cw_intern_release(&sess_p);
    cw_intern_release(&sess_r);
    cw_intern_release(&att_p);
    cw_intern_release(&att_r);
    cw_intern_release(&buyers);
}

static void discounts(const struct cw_kpi_input *in, struct cw_kpi_report *r)
{
    struct cw_intern offered;
    cw_intern_init(&offered);
    for (size_t i = 0; i < in->n_events; i++) {
        const struct cw_event_rec *e = &in->events[i];
        if (!e->type || strcmp(e->type, "offer_accept") || !e->session ||
            !in_window(in, e->ts))
            continue;
        r->offers_accepted++;
        if (e->value != CW_MONEY_UNKNOWN && e->value > 0)
            r->discount_cost += (double)e->value;
        cw_intern_add(&offered, e->session, strlen(e->session), NULL);
    }
    if (!r->offers_accepted) {
        note(&r->not_computed, &r->n_not_computed,
             "discount cost and ROI: no accepted offers (offer_accept "
             "events) in the period");
        cw_intern_release(&offered);
        return;
    }
    int assumed = 0;
    for (size_t i = 0; i < in->n_events; i++) {
        const struct cw_event_rec *e = &in->events[i];
        if (!e->type || strcmp(e->type, "purchase") || !e->session ||
            !in_window(in, e->ts) ||
            cw_intern_find(&offered, e->session, strlen(e->session)) < 0)
            continue;
        r->discount_profit += purchase_profit(in, e, &assumed);
    }
    r->discount_computed = 1;
    r->discount_roi =
        r->discount_cost > 0
            ? (r->discount_profit - r->discount_cost) / r->discount_cost
            : NAN;
    note(&r->assumptions, &r->n_assumptions,
         "discount ROI is attributed, not incremental: (margin of purchases "
         "in sessions that accepted an offer - discount cost) / discount "
         "cost; the experiment report measures incrementality");
    if (assumed)
        note(&r->assumptions, &r->n_assumptions,
             "purchase events without a margin are valued at the default "
             "margin rate");
    cw_intern_release(&offered);
}

int cw_kpi_report(const struct cw_kpi_input *in, struct cw_kpi_report *out,
                  struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    if (!(in->default_margin_rate >= 0 && in->default_margin_rate <= 1))
        return cw_err(err, CW_EINVAL, "margin rate %g outside [0, 1]",
                      in->default_margin_rate);
    out->margin_rate = in->default_margin_rate;
    orders(in, out);
    returns(in, out);
    funnel(in, out);
    addons(in, out);
    discounts(in, out);
    return 0;
}

/* ---- JSON ---- */

static void jnum(struct cw_buf *b, const char *key, double v)
{
    if (key)
        cw_buf_addf(b, "\"%s\":", key);
    if (isfinite(v))
        cw_buf_addf(b, "%.10g", v);
    else
        cw_buf_adds(b, "null");
}

static void jgroups(struct cw_buf *b, const struct cw_kpi_group *g, size_t n)
{
    cw_buf_addch(b, '[');
    for (size_t i = 0; i < n; i++) {
        cw_buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
        cw_buf_add_json_str(b, g[i].name);
        cw_buf_addf(b, ",\"shown\":%zu,\"accepted\":%zu,", g[i].shown,
                    g[i].accepted);
        jnum(b, "acceptance_rate", g[i].acceptance_rate);
        cw_buf_addf(b,
                    ",\"purchasing_sessions\":%zu,\"attached_sessions\":%zu,",
                    g[i].purchasing_sessions, g[i].attached_sessions);
        jnum(b, "attach_rate", g[i].attach_rate);
        cw_buf_addch(b, '}');
    }
    cw_buf_addch(b, ']');
}

static void jstrings(struct cw_buf *b, char *const *s, size_t n)
{
    cw_buf_addch(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            cw_buf_addch(b, ',');
        cw_buf_add_json_str(b, s[i]);
    }
    cw_buf_addch(b, ']');
}

void cw_kpi_report_json(const struct cw_kpi_report *r, const char *currency,
                        int exp, struct cw_buf *b)
{
    double k = pow(10, exp);
    cw_buf_adds(b, "{\"currency\":");
    cw_buf_add_json_str(b, currency ? currency : "");
    cw_buf_addf(b,
                ",\"orders\":%zu,\"lines\":%zu,\"customers\":%zu,"
                "\"guest_orders\":%zu,",
                r->orders, r->lines, r->customers, r->guest_orders);
    jnum(b, "revenue", r->revenue / k);
    cw_buf_addch(b, ',');
    jnum(b, "profit", r->profit / k);
    cw_buf_addch(b, ',');
    jnum(b, "units", r->units);
    cw_buf_addch(b, ',');
    jnum(b, "aov", r->aov / k);
    cw_buf_addch(b, ',');
    jnum(b, "profit_per_order", r->profit_per_order / k);
    cw_buf_addch(b, ',');
    jnum(b, "profit_aov_ratio", r->profit_aov_ratio);
    cw_buf_addch(b, ',');
    jnum(b, "units_per_order", r->units_per_order);
    cw_buf_addch(b, ',');
    jnum(b, "margin_rate_assumed", r->margin_rate);
    cw_buf_addch(b, ',');
    jnum(b, "assumed_margin_share", r->assumed_margin_share);
    cw_buf_addf(b, ",\"returns\":%zu,", r->returns);
    jnum(b, "returned_units", r->returned_units);
    cw_buf_addch(b, ',');
    jnum(b, "refunded", r->refunded / k);
    cw_buf_addch(b, ',');
    jnum(b, "return_rate", r->return_rate);
    cw_buf_addch(b, ',');
    jnum(b, "return_rate_value", r->return_rate_value);
    cw_buf_addch(b, ',');
    jnum(b, "repeat_rate", r->repeat_rate);
    cw_buf_addch(b, ',');
    jnum(b, "orders_per_customer", r->orders_per_customer);
    cw_buf_addch(b, ',');
    jnum(b, "median_days_between_orders", r->median_days_between_orders);
    cw_buf_addch(b, ',');
    jnum(b, "high_value_threshold", r->high_value_threshold / k);
    cw_buf_adds(b, ",\"retention_after_high_value\":{");
    for (size_t w = 0; w < CW_KPI_RETENTION_WINDOWS; w++) {
        const struct cw_kpi_retention *rt = &r->retention[w];
        cw_buf_addf(b, "%s\"%d\":{", w ? "," : "", retention_days[w]);
        jnum(b, "high_value", rt->high_rate);
        cw_buf_addch(b, ',');
        jnum(b, "rest", rt->rest_rate);
        cw_buf_addf(b, ",\"high_value_orders\":%zu,\"rest_orders\":%zu}",
                    rt->high_orders, rt->rest_orders);
    }
    cw_buf_adds(b, "},\"cohorts\":[");
    for (size_t c = 0; c < r->n_cohorts; c++) {
        const struct cw_kpi_cohort *co = &r->cohorts[c];
        cw_buf_adds(b, c ? ",{\"cohort\":" : "{\"cohort\":");
        cw_buf_add_json_str(b, co->month);
        cw_buf_addf(b, ",\"customers\":%zu,\"retention\":[", co->customers);
        for (size_t m = 0; m < co->n_months; m++) {
            if (m)
                cw_buf_addch(b, ',');
            jnum(b, NULL, co->retention[m]);
        }
        cw_buf_adds(b, "]}");
    }
    cw_buf_adds(b, "],\"funnel\":");
    if (r->funnel_computed) {
        cw_buf_addf(b, "{\"sessions\":%zu,\"steps\":[", r->sessions);
        for (size_t s = 0; s < CW_KPI_FUNNEL_STEPS; s++) {
            cw_buf_addf(b, "%s{\"step\":\"%s\",\"sessions\":%zu,", s ? "," : "",
                        funnel_steps[s], r->funnel[s]);
            jnum(b, "drop_rate", r->funnel_drop[s]);
            cw_buf_addch(b, '}');
        }
        cw_buf_adds(b, "]}");
    } else {
        cw_buf_adds(b, "null");
    }
    cw_buf_adds(b, ",\"addons\":");
    if (r->addons_computed) {
        cw_buf_adds(b, "{\"placements\":");
        jgroups(b, r->placements, r->n_placements);
        cw_buf_adds(b, ",\"reasons\":");
        jgroups(b, r->reasons, r->n_reasons);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    cw_buf_adds(b, ",\"discount\":");
    if (r->discount_computed) {
        cw_buf_addf(b, "{\"offers_accepted\":%zu,", r->offers_accepted);
        jnum(b, "cost", r->discount_cost / k);
        cw_buf_addch(b, ',');
        jnum(b, "attributed_profit", r->discount_profit / k);
        cw_buf_addch(b, ',');
        jnum(b, "roi", r->discount_roi);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    cw_buf_adds(b, ",\"assumptions\":");
    jstrings(b, r->assumptions, r->n_assumptions);
    cw_buf_adds(b, ",\"not_computed\":");
    jstrings(b, r->not_computed, r->n_not_computed);
    cw_buf_addch(b, '}');
}
