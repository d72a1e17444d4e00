/*
 * h_orders.c: POST /v1/orders, a batch of orders with lines and returns.
 *
 * Validated whole first (422 naming orders[i].lines[j].field), then one
 * transaction. Idempotent by order id: an order already stored is a
 * duplicate and its lines are not written again; its returns are (they are
 * idempotent by return id), so a replay that adds a return records it.
 * Shared with the Shopify webhook (cw__srv_put_orders).
 */
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_store.h"
#include "server/server.h"

/* Writes the n records of p with put_batch, CW_STORE_BATCH_MAX at a time. */
static int put_all(struct cw_store *s, struct cw_store_put *p, size_t n,
                   struct cw_buf *err)
{
    for (size_t i = 0; i < n; i += CW_STORE_BATCH_MAX) {
        size_t m = n - i < CW_STORE_BATCH_MAX ? n - i : CW_STORE_BATCH_MAX;
        size_t failed;
        int rc = s->ops->put_batch(s, p + i, m, &failed, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Two batches (one round trip each to a PostgreSQL server) instead of a
 * put per record: every order first, whose results say which are new, then
 * the lines of the new ones and every order's returns, in request order.
 * The store ends up with what the puts one by one wrote: put_batch keeps
 * their semantics, so an order repeated in the request is new only the
 * first time and its repeat's lines are left out; a line still comes after
 * its order (its foreign key); and writing later orders before earlier
 * returns changes nothing, since neither put reads the other's table. A
 * record the store refuses is named as its put_* names it; only when two
 * would be refused can the one named differ (orders are written first). */
int cw__srv_put_orders(struct cw_store *s, const struct cw_srv_order *o,
                       size_t n, size_t *inserted, struct cw_buf *err)
{
    *inserted = 0;
    size_t most = n;
    for (size_t i = 0; i < n; i++)
        most += o[i].n_lines + o[i].n_returns;
    struct cw_store_put *p = cw_calloc(most, sizeof(*p));
    for (size_t i = 0; i < n; i++)
        p[i] =
            (struct cw_store_put){.kind = CW_STORE_ORDER, .rec.order = &o[i].o};
    int rc = put_all(s, p, n, err);
    size_t k = n;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (p[i].added) {
            ++*inserted;
            for (size_t j = 0; j < o[i].n_lines; j++)
                p[k++] = (struct cw_store_put){.kind = CW_STORE_LINE,
                                               .rec.line = &o[i].lines[j]};
        }
        for (size_t j = 0; j < o[i].n_returns; j++)
            p[k++] = (struct cw_store_put){.kind = CW_STORE_RETURN,
                                           .rec.ret = &o[i].returns[j]};
    }
    if (rc == 0)
        rc = put_all(s, p + n, k - n, err);
    cw_free(p);
    return rc;
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
