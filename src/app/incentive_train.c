/*
 * incentive_train.c: what incentives learn at training time, from the
 * store: the store-wide order-value distribution and margin rate (for
 * personalized thresholds), the abandonment-propensity model (from
 * storefront events: a session that put something in its cart and never
 * purchased is an abandoned cart) and the discount uplift (from the
 * randomized exploration slice). The result goes to the store's meta table
 * as "incentive_stats", next to the model it was trained with.
 *
 * Without events (an import of orders alone, such as UCI Online Retail)
 * there is nothing to learn abandonment from: the statistics say so and the
 * decision uses the configured prior, which its output reports.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_records.h"
#include "cartwise/cw_store.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void cw_app_order_stats(const struct cw_dataset *ds, const uint32_t *baskets,
                        size_t n, double unit, const struct cw_model *m,
                        struct cw_incentive_stats *st)
{
    int64_t *v = cw_malloc((n ? n : 1) * sizeof(*v));
    size_t nv = 0;
    double rev = 0, mar = 0;
    /* dataset sku -> model item, looked up once per sku, not per line */
    long *item = cw_malloc((ds->skus.n + 1) * sizeof(*item));
    for (size_t k = 0; k < ds->skus.n; k++)
        item[k] = cw_model_find_sku(m, ds->skus.keys[k]);
    for (size_t k = 0; k < n; k++) {
        uint32_t b = baskets[k];
        double value = 0;
        for (size_t x = ds->b_off[b]; x < ds->b_off[b + 1]; x++) {
            uint32_t l = ds->b_line[x];
            double price = ds->l_price[l], qty = ds->l_qty[l];
            if (isnan(price) || qty <= 0)
                continue;
            value += qty * price * unit;
            long it = item[ds->l_item[l]];
            if (it >= 0 && m->items[it].price > 0) {
                rev += qty * (double)m->items[it].price;
                mar += qty * (double)m->items[it].margin;
            }
        }
        if (value > 0)
            v[nv++] = (int64_t)llround(value);
    }
    memset(st->order_q, 0, sizeof(st->order_q));
    st->n_orders = nv;
    if (nv) {
        qsort(v, nv, sizeof(*v), cmp_i64);
        for (int q = 0; q < CW_INC_QUANTILES; q++)
            st->order_q[q] = v[(size_t)((double)q / (CW_INC_QUANTILES - 1) *
                                        (double)(nv - 1))];
    }
    st->margin_rate = rev > 0 ? mar / rev : 0;
    cw_free(v);
    cw_free(item);
}

/* ---- sessions from events ------------------------------------------------ */

struct acc {
    int64_t value, units;
    int views, bought, mobile;
    int64_t t_first, t_last;
    long customer; /* model index, -1 */
};

struct scan {
    const struct cw_model *m;
    struct cw_intern ids;
    struct acc *a;
    size_t cap;
};

/* Seconds since the epoch of ISO-8601 "YYYY-MM-DDTHH:MM:SS..." (UTC), or
 * -1. */
static int64_t iso_seconds(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!s || sscanf(s, "%4d-%2d-%2d%*c%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* "device": "mobile" at the top of the event's payload or in its
 * "context". */
static int is_mobile(const char *payload)
{
    if (!payload || !strstr(payload, "mobile"))
        return 0;
    json_t *j = json_loads(payload, 0, NULL);
    json_t *dv = json_object_get(j, "device");
    if (!dv)
        dv = json_object_get(json_object_get(j, "context"), "device");
    int r = json_is_string(dv) && !strcmp(json_string_value(dv), "mobile");
    json_decref(j);
    return r;
}

static int on_event(void *ctx, const struct cw_event_rec *e)
{
    struct scan *sc = ctx;
    int added;
    uint32_t id =
        cw_intern_add(&sc->ids, e->session, strlen(e->session), &added);
    if (added) {
        CW_GROW(sc->a, sc->cap, (size_t)id + 1);
        memset(&sc->a[id], 0, sizeof(sc->a[id]));
        sc->a[id].customer = -1;
        sc->a[id].t_first = sc->a[id].t_last = -1;
    }
    struct acc *a = &sc->a[id];
    if (a->customer < 0 && e->customer)
        a->customer = cw_model_find_customer(sc->m, e->customer);
    if (is_mobile(e->payload))
        a->mobile = 1;
    int64_t t = iso_seconds(e->ts);
    long it = e->sku ? cw_model_find_sku(sc->m, e->sku) : -1;
    int64_t price = it >= 0 ? sc->m->items[it].price : 0;
    if (!strcmp(e->type, "purchase")) {
        a->bought = 1;
    } else if (a->bought) {
        return 0; /* after the purchase: not the cart's story */
    } else if (!strcmp(e->type, "add_to_cart")) {
        a->value += price;
        a->units++;
        if (a->t_first < 0)
            a->t_first = t;
        a->t_last = t;
    } else if (!strcmp(e->type, "remove_from_cart")) {
        a->value = a->value > price ? a->value - price : 0;
        a->units = a->units > 0 ? a->units - 1 : 0;
        a->t_last = t;
    } else if (!strcmp(e->type, "cart_view")) {
        a->views++;
        a->t_last = t;
    }
    return 0;
}

static void session_features(const struct scan *sc, const struct acc *a,
                             const struct cw_incentive_stats *st, double *f)
{
    const struct cw_model *m = sc->m;
    int64_t typical =
        a->customer >= 0 ? m->customers[a->customer].typical_order : 0;
    double ref = typical > 0    ? (double)typical
                 : st->n_orders ? (double)st->order_q[CW_INC_QUANTILES / 2]
                                : (double)a->value;
    struct cw_incentive_session ss = {NULL, a->views,
                                      a->t_first >= 0 && a->t_last >= a->t_first
                                          ? a->t_last - a->t_first
                                          : -1,
                                      a->mobile, 0};
    cw_incentive_prop_features(a->value, ref,
                               a->customer >= 0 &&
                                   m->customers[a->customer].n_orders > 0,
                               a->units > 0 ? a->units : 1, &ss, f);
}

/* Propensity from the carts, then the uplift in the exploration slice of
 * cfg (NULL: none configured). */
static void learn_sessions(struct scan *sc,
                           const struct cw_incentive_config *cfg,
                           struct cw_incentive_stats *st)
{
    size_t n = 0;
    double *x =
        cw_malloc((sc->ids.n ? sc->ids.n : 1) * CW_PROP_NFEAT * sizeof(*x));
    uint8_t *y = cw_malloc(sc->ids.n ? sc->ids.n : 1);
    uint32_t *sid = cw_malloc((sc->ids.n ? sc->ids.n : 1) * sizeof(*sid));
    size_t abandoned = 0;
    for (uint32_t i = 0; i < sc->ids.n; i++) {
        const struct acc *a = &sc->a[i];
        if (a->t_first < 0)
            continue; /* never carted: not a cart session */
        session_features(sc, a, st, &x[n * CW_PROP_NFEAT]);
        y[n] = !a->bought;
        abandoned += y[n];
        sid[n++] = i;
    }
    st->prop_sessions = n;
    st->prop_abandon_rate = n ? (double)abandoned / (double)n : 0;
    st->prop_trained =
        cw_incentive_fit_propensity(x, y, n, st->prop_w, NULL) == 0;
    if (cfg && cfg->discount.exploration_share > 0) {
        double w[CW_PROP_NFEAT + 1];
        if (st->prop_trained)
            memcpy(w, st->prop_w, sizeof(w));
        else
            cw_incentive_prop_prior(cfg, w);
        uint64_t nt = 0, bt = 0, nc = 0, bc = 0;
        for (size_t r = 0; r < n; r++) {
            if (cw_incentive_propensity(w, &x[r * CW_PROP_NFEAT]) <=
                cfg->discount.propensity_threshold)
                continue;
            int arm = cw_incentive_exploration_arm(cfg, sc->ids.keys[sid[r]]);
            if (arm == 1) {
                nt++;
                bt += !y[r];
            } else if (arm == 2) {
                nc++;
                bc += !y[r];
            }
        }
        /* treated shoppers got a step drawn uniformly from the ladder */
        double steps =
            floor((double)cfg->discount.max_percent_bp / cfg->discount.step_bp);
        double mean = (steps + 1) / 2 * cfg->discount.step_bp / 100.0;
        st->uplift_treated = nt;
        st->uplift_control = nc;
        st->uplift_learned =
            cw_incentive_fit_uplift(nt, bt, mean, nc, bc, &st->uplift_eps) == 0;
    }
    cw_free(x);
    cw_free(y);
    cw_free(sid);
}

int cw_app_incentive_train(struct cw_store *s, const struct cw_dataset *ds,
                           double unit, const struct cw_model *m,
                           struct cw_incentive_stats *out, struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    cw_app_order_stats(ds, ds->order, cw_dataset_nbaskets(ds), unit, m, out);
    struct scan sc;
    memset(&sc, 0, sizeof(sc));
    sc.m = m;
    cw_intern_init(&sc.ids);
    struct cw_buf serr = CW_BUF_INIT;
    int rc = s->ops->scan_events(s, on_event, &sc, &serr);
    if (rc < 0) {
        cw_err(err, rc, "cannot read the events from the store: %s",
               serr.len ? cw_buf_str(&serr) : cw_strerror(rc));
        goto out;
    }
    struct cw_incentive_config *cfg = cw_malloc(sizeof(*cfg));
    int have_cfg = cw_app_config_load(s, cfg, NULL) == 0;
    learn_sessions(&sc, have_cfg ? cfg : NULL, out);
    cw_free(cfg);
    struct cw_buf js = CW_BUF_INIT;
    cw_app_stats_json(out, &js);
    cw_buf_reset(&serr);
    rc = s->ops->meta_set(s, CW_APP_META_INC_STATS, cw_buf_str(&js), &serr);
    if (rc < 0)
        cw_err(err, rc, "cannot store the incentive statistics: %s",
               serr.len ? cw_buf_str(&serr) : cw_strerror(rc));
    cw_buf_release(&js);
out:
    cw_buf_release(&serr);
    cw_intern_release(&sc.ids);
    cw_free(sc.a);
    return rc;
}
