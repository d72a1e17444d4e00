/*
 * h_webhook.c: POST /v1/webhooks/shopify/orders.
 *
 * Shopify signs the raw body: X-Shopify-Hmac-Sha256 is
 * base64(HMAC-SHA256(app secret, body)). It is checked before the body is
 * parsed, against every configured secret (two during a rotation), with a
 * constant-time compare. Deliveries are deduplicated by
 * X-Shopify-Webhook-Id through the store's webhook table: the delivery row
 * and the order it carries are written in one transaction, so a retried
 * delivery answers 200 {"duplicate": true} and stores nothing twice, and a
 * failed one leaves nothing behind for the retry to trip over.
 */
#include <sodium.h>
#include <string.h>

#include "cartwise/cw_store.h"
#include "server/server.h"

static int signature_ok(struct cw_req *r, const char *sig)
{
    const struct cw_srv_config *c = &r->srv->cfg;
    size_t n = strlen(sig);
    int ok = 0;
    for (size_t i = 0; i < c->n_shopify; i++) {
        const char *secret = c->shopify_secrets[i];
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        char b64[sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,
                                           sodium_base64_VARIANT_ORIGINAL)];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
                                    strlen(secret));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)r->body.buf,
                                      r->body.len);
        crypto_auth_hmacsha256_final(&st, mac);
        sodium_bin2base64(b64, sizeof(b64), mac, sizeof(mac),
                          sodium_base64_VARIANT_ORIGINAL);
        if (n == strlen(b64) && sodium_memcmp(b64, sig, n) == 0)
            ok = 1; /* no early exit: every secret is tried */
    }
    return ok;
}

/* A delivery: recorded by its id (dedupe) with its order, in one
 * transaction; a replayed id writes nothing. */
struct put_delivery {
    const char *id, *topic, *shop, *body;
    const struct cw_srv_order *order;
    int fresh;
    size_t inserted;
};

static int put_delivery(struct cw_store *s, void *ctx, struct cw_buf *err)
{
    struct put_delivery *pd = ctx;
    pd->fresh =
        s->ops->put_webhook(s, pd->id, pd->topic, pd->shop, pd->body, err);
    if (pd->fresh <= 0)
        return pd->fresh < 0 ? pd->fresh : 0;
    return cw__srv_put_orders(s, pd->order, 1, &pd->inserted, err);
}

void cw_h_webhook_shopify_orders(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    const char *sig = cw_srv_header(r, "X-Shopify-Hmac-Sha256");
    if (!srv->cfg.n_shopify) {
        cw_srv_reply_fail(r, 401, "webhook_not_configured", NULL,
                          "no Shopify secret is configured (--shopify-secret "
                          "or CARTWISE_SHOPIFY_SECRET)");
        return;
    }
    if (!sig || !*sig) {
        cw_srv_reply_fail(r, 401, "missing_signature", NULL,
                          "X-Shopify-Hmac-Sha256 is missing");
        return;
    }
    if (!signature_ok(r, sig)) {
        atomic_fetch_add_explicit(&srv->ctr.auth_failures, 1,
                                  memory_order_relaxed);
        cw_srv_reply_fail(r, 401, "invalid_signature", NULL,
                          "X-Shopify-Hmac-Sha256 does not match the body");
        return;
    }
    const char *id = cw_srv_header(r, "X-Shopify-Webhook-Id");
    if (!id || !*id || strlen(id) > CW_SRV_ID_MAX) {
        cw_srv_reply_fail(r, 400, "missing_webhook_id", NULL,
                          "X-Shopify-Webhook-Id is missing or too long");
        return;
    }
    struct cw_srv_error e;
    json_t *root;
    if (cw_srv_json_load(r->body.buf, r->body.len, &root, &e) < 0) {
        cw_srv_reply_error(r, &e);
        return;
    }
    struct cw_srv_order o;
    if (cw_srv_parse_shopify_order(root, &r->arena, &o, &e) < 0) {
        json_decref(root);
        cw_srv_reply_error(r, &e);
        return;
    }
    const char *topic = cw_srv_header(r, "X-Shopify-Topic");
    const char *shop = cw_srv_header(r, "X-Shopify-Shop-Domain");
    struct cw_buf err = CW_BUF_INIT;
    struct put_delivery pd = {
        id, topic ? topic : "orders/create", shop, cw_buf_str(&r->body), &o, 0,
        0};
    int rc = cw_srv_write_tx(srv, put_delivery, &pd, &err);
    int fresh = pd.fresh;
    size_t inserted = pd.inserted;
    if (rc < 0) {
        json_decref(root);
        cw_srv_reply_store_error(r, rc, "cannot store the webhook", &err);
        cw_buf_release(&err);
        return;
    }
    cw_buf_release(&err);
    atomic_fetch_add_explicit(fresh ? &srv->ctr.webhooks_received
                                    : &srv->ctr.webhooks_duplicate,
                              1, memory_order_relaxed);
    if (inserted)
        atomic_fetch_add_explicit(&srv->ctr.orders_ingested, 1,
                                  memory_order_relaxed);
    cw_buf_adds(&r->out, fresh ? "{\"duplicate\":false,\"order_id\":"
                               : "{\"duplicate\":true,\"order_id\":");
    cw_buf_add_json_str(&r->out, o.o.id);
    cw_buf_addch(&r->out, '}');
    json_decref(root);
    cw_srv_reply(r, 200);
}
