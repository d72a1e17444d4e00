/*
 * h_products.c: PUT /v1/products, a batch upsert of products/variants.
 *
 * Validated whole first (422 naming products[i].field), then one
 * transaction. An existing SKU is updated with what the request knows (the
 * store keeps what it does not say, e.g. a cost); the answer counts
 * inserted and updated SKUs. The model sees the change at the next
 * training.
 */
#include "cartwise/cw_store.h"
#include "server/server.h"

struct put_products {
    const struct cw_product_rec *p;
    size_t n, inserted;
};

static int put_products(struct cw_store *s, void *ctx, struct cw_buf *err)
{
    struct put_products *pp = ctx;
    for (size_t i = 0; i < pp->n; i++) {
        int put = s->ops->put_product(s, &pp->p[i], err);
        if (put < 0)
            return put;
        pp->inserted += (size_t)put;
    }
    return 0;
}

void cw_h_products(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    struct cw_srv_error e;
    json_t *root;
    if (cw_srv_json_load(r->body.buf, r->body.len, &root, &e) < 0) {
        cw_srv_reply_error(r, &e);
        return;
    }
    struct cw_product_rec *p;
    size_t n;
    if (cw_srv_parse_products(root, &r->arena, &p, &n, &e) < 0) {
        json_decref(root);
        cw_srv_reply_error(r, &e);
        return;
    }
    struct cw_buf err = CW_BUF_INIT;
    struct put_products pp = {p, n, 0};
    int rc = cw_srv_write_tx(srv, put_products, &pp, &err);
    size_t inserted = pp.inserted;
    json_decref(root);
    if (rc < 0) {
        cw_srv_reply_store_error(r, rc, "cannot store the products", &err);
        cw_buf_release(&err);
        return;
    }
    cw_buf_release(&err);
    atomic_fetch_add_explicit(&srv->ctr.products_upserted, n,
                              memory_order_relaxed);
    cw_buf_addf(&r->out, "{\"received\":%zu,\"inserted\":%zu,\"updated\":%zu}",
                n, inserted, n - inserted);
    cw_srv_reply(r, 200);
}
