/*
 * incentives.c: the server's incentives: the configuration and learned
 * statistics in force (one immutable snapshot, swapped when a new
 * configuration is PUT, after training and on every model-poll tick, so a
 * change made through another node arrives too), the runtime state every
 * thread shares (budget, caps, sessions: struct cw_incentive_state, safe
 * for concurrent use).
 *
 * The daily discount budget is the store's, not this process's: the state
 * leases chunks of the day's budget from the store (budget_lease, through a
 * store handle of its own, opened on the first lease) and reserves offers
 * against what it leased, so a restart or another node on the same store
 * cannot reserve the same money again. A lease the store cannot answer
 * refuses the discount (money that was not leased is never offered); the
 * first failure is logged, and the store is asked again at most once a
 * second until it answers.
 *
 * Like the model holder: a handler takes a reference (one short mutex
 * hold), decides with it and puts it back; the last reference frees a
 * replaced snapshot, so requests in flight keep the configuration they
 * started with.
 */
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "server/server.h"

#define LEASE_RETRY_S 1.0

/* The state's allowance (struct cw_incentive_allowance): one lease from
 * the store. inc_state, its only caller, calls it one lease at a time (the
 * allowance's contract), so lstore and the retry state need no lock. */
static int lease(void *ctx, int64_t day, int64_t limit, int64_t want,
                 int64_t *granted)
{
    struct cw_srv *srv = ctx;
    struct cw_buf err = CW_BUF_INIT;
    *granted = 0;
    int rc = 0;
    if (srv->lease_failing && cw_srv_mono() < srv->lease_retry_at) {
        rc = CW_EIO; /* failed a moment ago: not a store call per offer */
        goto out;
    }
    if (!srv->lstore)
        rc = cw_store_open(&srv->lstore, srv->db, &err);
    if (rc == 0)
        rc = srv->lstore->ops->budget_lease(srv->lstore, day, limit, want,
                                            granted, &err);
    if (rc < 0) {
        *granted = 0; /* the store may have written it before failing */
        atomic_fetch_add(&srv->ctr.budget_lease_failures, 1);
        if (!srv->lease_failing)
            cw_srv_log("error",
                       "discount budget: cannot lease from the store; "
                       "discounts are refused until it answers",
                       err.len ? cw_buf_str(&err) : cw_strerror(rc), NULL);
        srv->lease_failing = 1;
        srv->lease_retry_at = cw_srv_mono() + LEASE_RETRY_S;
        goto out;
    }
    if (srv->lease_failing)
        cw_srv_log("info", "discount budget: the store answers again", NULL,
                   NULL);
    srv->lease_failing = 0;
    atomic_fetch_add(&srv->ctr.budget_leases, 1);
    atomic_fetch_add(&srv->ctr.budget_leased, (unsigned long long)*granted);
out:
    cw_buf_release(&err);
    return rc;
}

void cw_srv_incentives_init(struct cw_srv *srv)
{
    pthread_mutex_init(&srv->inc_lock, NULL);
    srv->inc = NULL;
    srv->inc_state = cw_incentive_state_new(0, 0, 0);
    struct cw_incentive_allowance a = {lease, srv};
    cw_incentive_state_set_allowance(srv->inc_state, &a);
}

void cw_srv_incentives_put(struct cw_srv_inc *inc)
{
    if (inc && atomic_fetch_sub(&inc->refs, 1) == 1)
        cw_free(inc);
}

void cw_srv_incentives_release(struct cw_srv *srv)
{
    cw_srv_incentives_put(srv->inc);
    srv->inc = NULL;
    cw_incentive_state_free(srv->inc_state);
    srv->inc_state = NULL;
    cw_store_close(srv->lstore);
    srv->lstore = NULL;
    pthread_mutex_destroy(&srv->inc_lock);
}

struct cw_srv_inc *cw_srv_incentives_get(struct cw_srv *srv)
{
    pthread_mutex_lock(&srv->inc_lock);
    struct cw_srv_inc *inc = srv->inc;
    if (inc)
        atomic_fetch_add(&inc->refs, 1);
    pthread_mutex_unlock(&srv->inc_lock);
    return inc;
}

int cw_srv_incentives_reload(struct cw_srv *srv, struct cw_store *s)
{
    struct cw_app_incentives ai;
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_app_incentives_load(s, &ai, &err);
    if (rc < 0) { /* a damaged configuration: keep the one in force */
        cw_srv_log("warn", "incentive configuration not reloaded",
                   cw_buf_str(&err), NULL);
        cw_buf_release(&err);
        return rc;
    }
    cw_buf_release(&err);
    struct cw_srv_inc *inc = NULL;
    if (ai.cfg) {
        inc = cw_calloc(1, sizeof(*inc));
        atomic_init(&inc->refs, 1);
        inc->cfg = *ai.cfg;
        inc->stats = ai.stats;
        inc->have_stats = ai.have_stats;
    }
    cw_app_incentives_release(&ai);
    pthread_mutex_lock(&srv->inc_lock);
    struct cw_srv_inc *old = srv->inc;
    srv->inc = inc;
    pthread_mutex_unlock(&srv->inc_lock);
    cw_srv_incentives_put(old);
    return 0;
}
