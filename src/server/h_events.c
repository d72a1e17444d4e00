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

struct put_events {
    const struct cw_event_rec *ev;
    size_t n, inserted;
};

static int put_events(struct cw_store *s, void *ctx, struct cw_buf *err)
{
    struct put_events *pe = ctx;
    for (size_t i = 0; i < pe->n; i++) {
        int put = s->ops->put_event(s, &pe->ev[i], err);
        if (put < 0)
            return put;
        pe->inserted += (size_t)put;
    }
    return 0;
}

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
    struct cw_buf err = CW_BUF_INIT;
    struct put_events pe = {ev, n, 0};
    int rc = cw_srv_write_tx(srv, put_events, &pe, &err);
    size_t inserted = pe.inserted;
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
