/*
 * h_events.c: POST /v1/events, a batch of storefront events.
 *
 * The whole batch is validated first (422 naming events[i].field; 403 for
 * a purchase event sent with a public key), then written in one
 * transaction: any store error rolls everything back, so a batch is stored
 * whole or not at all. Events are idempotent by id: a replay counts as a
 * duplicate and changes nothing.
 */
#include "cartwise/cw_store.h"
#include "server/server.h"

void cw_h_events(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    struct cw_srv_error e;
    json_t *root;
    if (cw_srv_json_load(r->body.buf, r->body.len, &root, &e) < 0) {
        cw_srv_reply_error(r, &e);
        return;
    }
    struct cw_event_rec *ev;
    size_t n;
    char now[40];
    cw_srv_now_iso(now, sizeof(now), 0);
    if (cw_srv_parse_events(root, r->key.kind == CW_KEY_PUBLIC, now, &r->arena,
                            &ev, &n, &e) < 0) {
        json_decref(root);
        cw_srv_reply_error(r, &e);
        return;
    }
    struct cw_store *s = srv->wstore;
    struct cw_buf err = CW_BUF_INIT;
    size_t inserted = 0, i = 0;
    pthread_mutex_lock(&srv->wlock);
    int rc = s->ops->begin(s, &err);
    for (; rc == 0 && i < n; i++) {
        int put = s->ops->put_event(s, &ev[i], &err);
        if (put < 0)
            rc = put;
        else
            inserted += (size_t)put;
    }
    if (rc == 0)
        rc = s->ops->commit(s, &err);
    else
        s->ops->rollback(s, NULL);
    pthread_mutex_unlock(&srv->wlock);
    json_decref(root);
    if (rc < 0) {
        cw_srv_reply_store_error(r, rc, "cannot store the events", &err);
        cw_buf_release(&err);
        return;
    }
    cw_buf_release(&err);
    atomic_fetch_add_explicit(&srv->ctr.events_received, n,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&srv->ctr.events_ingested, inserted,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&srv->ctr.events_duplicate, n - inserted,
                              memory_order_relaxed);
    cw_buf_addf(&r->out,
                "{\"received\":%zu,\"inserted\":%zu,\"duplicates\":%zu}", n,
                inserted, n - inserted);
    cw_srv_reply(r, 200);
}
