/*
 * h_config.c: GET and PUT /v1/config, the merchant's incentive
 * configuration (docs/incentives.md), secret key only.
 *
 * PUT validates the body exactly as `cartwise config set` does (errors are
 * 422 with the key path in "field"), stores its canonical form in the
 * store's meta table and swaps it in: the next decision uses it. GET
 * answers the configuration in force, every key, as `cartwise config get`
 * prints it (404 when none was set).
 */
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_incentive.h"
#include "server/server.h"

void cw_h_config_get(struct cw_req *r)
{
    struct cw_srv_inc *inc = cw_srv_incentives_get(r->srv);
    if (!inc) {
        cw_srv_reply_fail(r, 404, "not_found", NULL,
                          "no incentive configuration: PUT /v1/config");
        return;
    }
    cw_buf_reset(&r->out);
    cw_app_config_json(&inc->cfg, &r->out);
    cw_srv_incentives_put(inc);
    cw_srv_reply(r, 200);
}

/* The key path of a configuration error ("tiers[1].threshold: must be
 * ..."), for the error body's field. */
static void error_field(const char *msg, char *field, size_t size)
{
    const char *colon = strstr(msg, ": ");
    size_t n = colon ? (size_t)(colon - msg) : 0;
    if (n >= size || strchr(msg, ' ') < colon)
        n = 0; /* not a path: a sentence */
    memcpy(field, msg, n);
    field[n] = '\0';
}

void cw_h_config_put(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    struct cw_incentive_config *c = cw_malloc(sizeof(*c));
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_app_config_parse(r->body.buf, r->body.len, c, &err);
    if (rc < 0) {
        char field[160];
        error_field(cw_buf_str(&err), field, sizeof(field));
        if (rc == CW_EPARSE)
            cw_srv_reply_fail(r, 400, "invalid_json", NULL, "%s",
                              cw_buf_str(&err));
        else if (rc == CW_ETOOBIG)
            cw_srv_reply_fail(r, 413, "body_too_large", NULL, "%s",
                              cw_buf_str(&err));
        else
            cw_srv_reply_fail(r, 422, "invalid_value", *field ? field : NULL,
                              "%s", cw_buf_str(&err));
        goto out;
    }
    pthread_mutex_lock(&srv->wlock);
    cw_buf_reset(&err);
    rc = cw_app_config_store(srv->wstore, r->body.buf, r->body.len, c, &err);
    if (rc == 0)
        rc = cw_srv_incentives_reload(srv, srv->wstore);
    pthread_mutex_unlock(&srv->wlock);
    if (rc < 0) {
        cw_srv_reply_store_error(r, rc, "cannot store the configuration", &err);
        goto out;
    }
    cw_buf_reset(&r->out);
    cw_app_config_json(c, &r->out);
    cw_srv_reply(r, 200);
out:
    cw_buf_release(&err);
    cw_free(c);
}
