/*
 * incentives.c: the server's incentives: the configuration and learned
 * statistics in force (one immutable snapshot, swapped when a new
 * configuration is PUT, after training and on every model-poll tick, so a
 * change made through another node arrives too), the runtime state every
 * thread shares (budget, caps, sessions: struct cw_incentive_state, safe
 * for concurrent use).
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
#include "server/server.h"

void cw_srv_incentives_init(struct cw_srv *srv)
{
    pthread_mutex_init(&srv->inc_lock, NULL);
    srv->inc = NULL;
    srv->inc_state = cw_incentive_state_new(0, 0, 0);
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
