/*
 * h_health.c: GET /livez, /readyz, /metrics and /v1/openapi.json.
 *
 * /livez checks nothing but that the process answers. /readyz is 200 when
 * the store answers a query and a model is loaded, else 503 saying which
 * is missing (a load balancer keeps traffic away until then). /metrics is
 * the Prometheus text of metrics.c, behind a secret key. The OpenAPI
 * document is read once at start (docs/openapi.json, or --openapi).
 */
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_store.h"
#include "server/server.h"

void cw_h_livez(struct cw_req *r)
{
    cw_buf_adds(&r->out, "{\"status\":\"ok\"}");
    cw_srv_reply(r, 200);
}

void cw_h_readyz(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    char *v = NULL;
    pthread_mutex_lock(&srv->alock);
    int rc = srv->astore->ops->meta_get(srv->astore, "currency", &v, NULL);
    pthread_mutex_unlock(&srv->alock);
    cw_free(v);
    if (rc < 0 && rc != CW_ENOENT) {
        r->retry_after = 5;
        cw_srv_reply_fail(r, 503, "store_unavailable", NULL,
                          "the store does not answer: %s", cw_strerror(rc));
        return;
    }
    struct cw_srv_model *m = cw_srv_model_get(&srv->holder);
    if (!m) {
        r->retry_after = 5;
        cw_srv_reply_fail(r, 503, "model_not_ready", NULL,
                          "no model is loaded yet: train one (POST "
                          "/v1/train)");
        return;
    }
    cw_buf_addf(&r->out, "{\"status\":\"ready\",\"model_version\":%lld}",
                (long long)m->am.info.version);
    cw_srv_model_put(m);
    cw_srv_reply(r, 200);
}

void cw_h_metrics(struct cw_req *r)
{
    cw_srv_metrics_render(r->srv, &r->out);
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    cw_srv_reply(r, 200);
}

void cw_h_openapi(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    if (!srv->openapi) {
        cw_srv_reply_fail(r, 404, "not_found", NULL,
                          "the OpenAPI document is not installed");
        return;
    }
    cw_buf_add(&r->out, srv->openapi, srv->openapi_len);
    cw_srv_reply(r, 200);
}
