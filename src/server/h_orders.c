/*
 * h_orders.c: POST /v1/orders, a batch of orders with lines and returns.
 *
 * Validated whole first (422 naming orders[i].lines[j].field), then one
 * transaction. Idempotent by order id: an order already stored is a
 * duplicate and its lines are not written again; its returns are (they are
 * idempotent by return id), so a replay that adds a return records it.
 * Shared with the Shopify webhook (cw__srv_put_orders).
 */
#include "cartwise/cw_store.h"
#include "server/server.h"

int cw__srv_put_orders(struct cw_store *s, const struct cw_srv_order *o,
                       size_t n, size_t *inserted, struct cw_buf *err)
{
    *inserted = 0;
    for (size_t i = 0; i < n; i++) {
        int put = s->ops->put_order(s, &o[i].o, err);
        if (put < 0)
            return put;
        if (put) {
            ++*inserted;
            for (size_t j = 0; j < o[i].n_lines; j++) {
                int rc = s->ops->put_line(s, &o[i].lines[j], err);
                if (rc < 0)
                    return rc;
            }
        }
        for (size_t j = 0; j < o[i].n_returns; j++) {
            int rc = s->ops->put_return(s, &o[i].returns[j], err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

struct put_orders {
    const struct cw_srv_order *o;
    size_t n, inserted;
};

static int put_orders(struct cw_store *s, void *ctx, struct cw_buf *err)
{
    struct put_orders *po = ctx;
    return cw__srv_put_orders(s, po->o, po->n, &po->inserted, err);
}

void cw_h_orders(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    struct cw_srv_error e;
    json_t *root;
    if (cw_srv_json_load(r->body.buf, r->body.len, &root, &e) < 0) {
        cw_srv_reply_error(r, &e);
        return;
    }
    struct cw_srv_order *o;
    size_t n, inserted = 0;
    if (cw_srv_parse_orders(root, &r->arena, &o, &n, &e) < 0) {
        json_decref(root);
        cw_srv_reply_error(r, &e);
        return;
    }
    struct cw_buf err = CW_BUF_INIT;
    struct put_orders po = {o, n, 0};
    int rc = cw_srv_write_tx(srv, put_orders, &po, &err);
    inserted = po.inserted;
    json_decref(root);
    if (rc < 0) {
        cw_srv_reply_store_error(r, rc, "cannot store the orders", &err);
        cw_buf_release(&err);
        return;
    }
    cw_buf_release(&err);
    atomic_fetch_add_explicit(&srv->ctr.orders_ingested, inserted,
                              memory_order_relaxed);
    cw_buf_addf(&r->out,
                "{\"received\":%zu,\"inserted\":%zu,\"duplicates\":%zu}", n,
                inserted, n - inserted);
    cw_srv_reply(r, 200);
}
