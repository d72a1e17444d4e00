/*
 * holder.c: the model being served, swapped atomically while serving.
 *
 * A request takes a reference to the current model (a short mutex hold and
 * an atomic increment) and keeps that model for its whole life, however
 * many swaps happen meanwhile; the holder itself owns one reference. A new
 * version is loaded (mapped, checksum-checked, decoded) completely before
 * the swap, so no request ever sees a half-loaded model, and the old one is
 * unmapped by whoever drops its last reference. Each model carries a
 * generation number; a pool thread re-creates its decide scratch when the
 * generation of the model it is handed changes.
 */
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_store.h"
#include "server/server.h"

void cw_srv_holder_init(struct cw_srv_holder *h)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->refresh_lock, NULL);
}

void cw_srv_model_put(struct cw_srv_model *m)
{
    if (m &&
        atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        cw_app_model_release(&m->am);
        cw_free(m);
    }
}

void cw_srv_holder_release(struct cw_srv_holder *h)
{
    cw_srv_model_put(h->cur);
    h->cur = NULL;
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->refresh_lock);
}

struct cw_srv_model *cw_srv_model_get(struct cw_srv_holder *h)
{
    pthread_mutex_lock(&h->lock);
    struct cw_srv_model *m = h->cur;
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&h->lock);
    return m;
}

int cw_srv_holder_refresh(struct cw_srv *srv, struct cw_store *s,
                          struct cw_buf *err)
{
    struct cw_srv_holder *h = &srv->holder;
    struct cw_model_info info;
    pthread_mutex_lock(&h->refresh_lock);
    int rc = s->ops->model_latest(s, &info, err);
    if (rc < 0)
        goto out;
    struct cw_srv_model *cur = cw_srv_model_get(h);
    int64_t have = cur ? cur->am.info.version : 0;
    cw_srv_model_put(cur);
    if (info.version <= have) {
        rc = 0;
        goto out;
    }
    struct cw_srv_model *m = cw_calloc(1, sizeof(*m));
    rc = cw_app_model_load_info(&info, &m->am, err);
    if (rc < 0) {
        cw_free(m);
        goto out;
    }
    atomic_init(&m->refs, 1);
    m->gen = atomic_fetch_add(&h->gen, 1) + 1;
    pthread_mutex_lock(&h->lock);
    struct cw_srv_model *old = h->cur;
    h->cur = m;
    pthread_mutex_unlock(&h->lock);
    cw_srv_model_put(old); /* freed now, or by its last reader */
    atomic_fetch_add_explicit(&srv->ctr.model_swaps, 1, memory_order_relaxed);
    char f[128];
    snprintf(f, sizeof(f), ",\"version\":%lld,\"items\":%u,\"customers\":%u",
             (long long)info.version, m->am.m.n_items, m->am.m.n_customers);
    cw_srv_log("info", "model loaded", NULL, f);
    rc = 1;
out:
    pthread_mutex_unlock(&h->refresh_lock);
    return rc;
}
