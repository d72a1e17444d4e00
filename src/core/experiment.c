/*
 * experiment.c: validating an experiment and assigning shoppers to arms.
 *
 * Assignment hashes the unit id with the salt (xxh3 of salt then unit, no
 * separator: the salt is fixed per experiment, so no two units collide
 * through it) and walks the arms' cumulative basis points. The arm order in
 * the configuration is therefore part of the assignment: reordering arms
 * moves shoppers, as changing the salt does. Everything here is pure and
 * allocation-free on the common path, because the server calls it for every
 * decide request.
 */
#include <stdint.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_experiment.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_kpi.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "cartwise/cw_stats.h"

static const char *const kind_names[] = {
#define CW__ARM_NAME(e, name) name,
    CW_ARM_KINDS(CW__ARM_NAME)
#undef CW__ARM_NAME
};

const char *cw_arm_kind_name(enum cw_arm_kind k)
{
    if ((size_t)k >= sizeof(kind_names) / sizeof(kind_names[0]))
        return "unknown";
    return kind_names[k];
}

int cw_arm_kind_parse(const char *name, enum cw_arm_kind *out)
{
    for (size_t i = 0; name && i < sizeof(kind_names) / sizeof(kind_names[0]);
         i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (enum cw_arm_kind)i;
            return 0;
        }
    }
    return CW_EINVAL;
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

static int bounded(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

int cw_experiment_validate(const struct cw_experiment *e, struct cw_buf *err)
{
    if (!e)
        return cw_err(err, CW_EINVAL, "no experiment");
    if (!bounded(e->id, sizeof(e->id)) || !e->id[0])
        return cw_err(err, CW_EINVAL, "experiment id is empty or too long");
    if (!bounded(e->salt, sizeof(e->salt)) || !e->salt[0])
        return cw_err(err, CW_EINVAL, "experiment salt is empty or too long");
    if (!bounded(e->start, sizeof(e->start)) ||
        !bounded(e->stop, sizeof(e->stop)))
        return cw_err(err, CW_EINVAL, "experiment start or stop too long");
    if (e->unit != CW_EXP_UNIT_CUSTOMER && e->unit != CW_EXP_UNIT_SESSION)
        return cw_err(err, CW_EINVAL,
                      "experiment unit is not customer or "
                      "session");
    if (e->n_arms < 2 || e->n_arms > CW_EXP_ARMS_MAX)
        return cw_err(err, CW_EINVAL, "experiment needs 2 to %d arms, not %zu",
                      CW_EXP_ARMS_MAX, e->n_arms);
    uint64_t sum = 0;
    for (size_t i = 0; i < e->n_arms; i++) {
        const struct cw_arm *a = &e->arms[i];
        if (!bounded(a->name, sizeof(a->name)) || !valid_name(a->name))
            return cw_err(err, CW_EINVAL,
                          "arm %zu name must be 1 to %d characters of "
                          "[a-z0-9_-]",
                          i, CW_EXP_NAME_MAX - 1);
        if (a->kind != CW_ARM_HOLDOUT && a->kind != CW_ARM_PROFIT &&
            a->kind != CW_ARM_ACCURACY)
            return cw_err(err, CW_EINVAL, "arm '%s' has an unknown kind",
                          a->name);
        if (a->share_bp > CW_EXP_BUCKETS)
            return cw_err(err, CW_EINVAL,
                          "arm '%s' share %u exceeds 10000 basis points",
                          a->name, (unsigned)a->share_bp);
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->name, e->arms[j].name) == 0)
                return cw_err(err, CW_EINVAL, "duplicate arm name '%s'",
                              a->name);
        sum += a->share_bp;
    }
    if (sum != CW_EXP_BUCKETS)
        return cw_err(err, CW_EINVAL,
                      "arm shares sum to %llu basis points, not 10000",
                      (unsigned long long)sum);
    return 0;
}

uint32_t cw_experiment_bucket(const char *salt, const char *unit)
{
    char stack[512];
    size_t ns = strlen(salt), nu = strlen(unit), n = ns + nu;
    char *p = n <= sizeof(stack) ? stack : cw_malloc(n);
    memcpy(p, salt, ns);
    memcpy(p + ns, unit, nu);
    uint64_t h = cw_xxh3(p, n);
    if (p != stack)
        cw_free(p);
    return (uint32_t)(h % CW_EXP_BUCKETS);
}

const char *cw_experiment_unit(const struct cw_experiment *e,
                               const char *customer, const char *session)
{
    if (e && e->unit == CW_EXP_UNIT_CUSTOMER && customer && *customer)
        return customer;
    return session && *session ? session : NULL;
}

const struct cw_arm *cw_experiment_assign(const struct cw_experiment *e,
                                          const char *customer,
                                          const char *session, uint32_t *bucket)
{
    if (!e || e->n_arms == 0)
        return NULL;
    const char *unit = cw_experiment_unit(e, customer, session);
    if (!unit)
        return NULL;
    uint32_t b = cw_experiment_bucket(e->salt, unit);
    if (bucket)
        *bucket = b;
    uint32_t hi = 0;
    for (size_t i = 0; i < e->n_arms; i++) {
        hi += e->arms[i].share_bp;
        if (b < hi)
            return &e->arms[i];
    }
    /* only reachable with shares below 10000 (not validated): last arm */
    return &e->arms[e->n_arms - 1];
}

int cw_experiment_find_arm(const struct cw_experiment *e, const char *name)
{
    for (size_t i = 0; name && i < e->n_arms; i++)
        if (strcmp(e->arms[i].name, name) == 0)
            return (int)i;
    return -1;
}

size_t cw_experiment_control(const struct cw_experiment *e)
{
    for (size_t i = 0; i < e->n_arms; i++)
        if (e->arms[i].kind == CW_ARM_HOLDOUT)
            return i;
    return 0;
}

int cw_arm_shows_addons(const struct cw_arm *a)
{
    return a && a->kind != CW_ARM_HOLDOUT;
}

unsigned cw_arm_decide_flags(const struct cw_arm *a)
{
    if (!a)
        return 0;
    switch (a->kind) {
    case CW_ARM_HOLDOUT:
    case CW_ARM_PROFIT:
        return 0;
    case CW_ARM_ACCURACY:
        return CW_DECIDE_ACCURACY_ONLY;
    }
    return 0;
}

/* ---- the log collector ---- */

#define NO_TIME INT64_MIN

struct log_unit {
    int arm;       /* index, or -1 once seen in two arms */
    int64_t first; /* first exposure, seconds; NO_TIME unknown */
    int is_customer;
    double sessions, orders, revenue, profit, pre;
};

struct log_session {
    uint32_t unit;
    int64_t first;
};

struct cw_exp_log {
    struct cw_experiment e;
    double rate, scale;
    int64_t start, stop; /* NO_TIME: open */
    struct cw_intern unit_ids, session_ids, order_ids;
    struct log_unit *u;
    size_t cap_u;
    struct log_session *s;
    size_t cap_s;
    struct cw_exp_log_stats st;
};

static int64_t when(const char *ts)
{
    int64_t t;
    return ts && cw_kpi_parse_ts(ts, &t) == 0 ? t : NO_TIME;
}

struct cw_exp_log *cw_exp_log_new(const struct cw_experiment *e,
                                  double margin_rate, double money_scale)
{
    struct cw_exp_log *l = cw_calloc(1, sizeof(*l));
    l->e = *e;
    l->rate = margin_rate;
    l->scale = money_scale;
    l->start = e->start[0] ? when(e->start) : NO_TIME;
    l->stop = e->stop[0] ? when(e->stop) : NO_TIME;
    if (l->stop != NO_TIME && strlen(e->stop) == 10)
        l->stop += 86400 - 1; /* a date takes the whole day */
    cw_intern_init(&l->unit_ids);
    cw_intern_init(&l->session_ids);
    cw_intern_init(&l->order_ids);
    return l;
}

void cw_exp_log_free(struct cw_exp_log *l)
{
    if (!l)
        return;
    cw_intern_release(&l->unit_ids);
    cw_intern_release(&l->session_ids);
    cw_intern_release(&l->order_ids);
    cw_free(l->u);
    cw_free(l->s);
    cw_free(l);
}

static int64_t earlier(int64_t a, int64_t b)
{
    if (a == NO_TIME)
        return b;
    if (b == NO_TIME)
        return a;
    return a < b ? a : b;
}

void cw_exp_log_decision(struct cw_exp_log *l, const struct cw_decision_rec *d)
{
    if (!d->experiment || strcmp(d->experiment, l->e.id)) {
        l->st.other_experiment++;
        return;
    }
    int arm = cw_experiment_find_arm(&l->e, d->arm);
    const char *unit = cw_experiment_unit(&l->e, d->customer, d->session);
    if (arm < 0 || !unit || !d->session || !*d->session) {
        l->st.unknown_arm++;
        return;
    }
    int64_t t = when(d->ts);
    if (t != NO_TIME && ((l->start != NO_TIME && t < l->start) ||
                         (l->stop != NO_TIME && t > l->stop))) {
        l->st.outside_window++;
        return;
    }
    l->st.decisions++;
    int added = 0;
    uint32_t k = cw_intern_add(&l->unit_ids, unit, strlen(unit), &added);
    if (added) {
        CW_GROW(l->u, l->cap_u, (size_t)k + 1);
        memset(&l->u[k], 0, sizeof(l->u[k]));
        l->u[k].arm = arm;
        l->u[k].first = t;
        l->u[k].is_customer = unit != d->session;
    } else if (l->u[k].arm != arm) {
        l->u[k].arm = -1;
    }
    l->u[k].first = earlier(l->u[k].first, t);
    uint32_t sk =
        cw_intern_add(&l->session_ids, d->session, strlen(d->session), &added);
    if (added) {
        CW_GROW(l->s, l->cap_s, (size_t)sk + 1);
        l->s[sk].unit = k;
        l->s[sk].first = t;
        l->u[k].sessions += 1;
    }
    l->s[sk].first = earlier(l->s[sk].first, t);
}

void cw_exp_log_event(struct cw_exp_log *l, const struct cw_event_rec *ev)
{
    if (!ev->type || strcmp(ev->type, "purchase") || !ev->session)
        return;
    long sk = cw_intern_find(&l->session_ids, ev->session, strlen(ev->session));
    if (sk < 0) {
        l->st.purchases_unexposed++;
        return;
    }
    const struct log_session *s = &l->s[sk];
    int64_t t = when(ev->ts);
    if (t != NO_TIME && s->first != NO_TIME && t < s->first) {
        l->st.purchases_before++;
        return;
    }
    if (ev->order_id && *ev->order_id) {
        int added = 0;
        cw_intern_add(&l->order_ids, ev->order_id, strlen(ev->order_id),
                      &added);
        if (!added) {
            l->st.purchases_duplicate++;
            return;
        }
    }
    struct log_unit *u = &l->u[s->unit];
    double value = ev->value == CW_MONEY_UNKNOWN ? 0 : (double)ev->value;
    double profit;
    if (ev->profit != CW_MONEY_UNKNOWN) {
        profit = (double)ev->profit;
    } else {
        profit = value * l->rate;
        l->st.profit_assumed++;
    }
    l->st.purchases++;
    u->orders += 1;
    u->revenue += value * l->scale;
    u->profit += profit * l->scale;
}

void cw_exp_log_spend(struct cw_exp_log *l, const char *customer,
                      const char *ts, int64_t amount)
{
    if (!customer || !*customer || l->e.unit != CW_EXP_UNIT_CUSTOMER ||
        amount == CW_MONEY_UNKNOWN)
        return;
    long k = cw_intern_find(&l->unit_ids, customer, strlen(customer));
    if (k < 0 || !l->u[k].is_customer)
        return;
    int64_t t = when(ts);
    if (t == NO_TIME || l->u[k].first == NO_TIME || t >= l->u[k].first)
        return;
    l->u[k].pre += (double)amount * l->scale;
}

struct cw_stats_unit *cw_exp_log_units(struct cw_exp_log *l, size_t *n,
                                       struct cw_exp_log_stats *st)
{
    size_t nu = l->unit_ids.n, m = 0;
    struct cw_stats_unit *out = nu ? cw_malloc(nu * sizeof(*out)) : NULL;
    l->st.mixed_units = 0;
    for (size_t i = 0; i < nu; i++) {
        const struct log_unit *u = &l->u[i];
        if (u->arm < 0) {
            l->st.mixed_units++;
            continue;
        }
        out[m++] =
            (struct cw_stats_unit){(uint32_t)u->arm, u->sessions, u->orders,
                                   u->revenue,       u->profit,   u->pre};
    }
    if (!m) {
        cw_free(out);
        out = NULL;
    }
    *n = m;
    if (st)
        *st = l->st;
    return out;
}
