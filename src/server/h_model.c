/*
 * h_model.c: POST /v1/train and GET /v1/model.
 *
 * Training runs in a background thread with its own store handle, one run
 * at a time (409 training_in_progress while one runs). It publishes a new
 * version exactly as `cartwise train` does (cw_app_train), then the holder
 * loads and swaps it in; requests in flight keep the model they started
 * with. The experiment configuration is re-read at the same time. The last
 * run's error, if any, is reported by GET /v1/model.
 */
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_err.h"
#include "cartwise/cw_store.h"
#include "server/server.h"

static void *train_main(void *arg)
{
    struct cw_srv *srv = arg;
    struct cw_srv_training *t = &srv->training;
    struct cw_store *s = NULL;
    struct cw_buf err = CW_BUF_INIT;
    struct cw_app_train_result res;
    int rc = cw_store_open(&s, srv->db, &err);
    if (rc == 0) {
        pthread_mutex_lock(&t->lock);
        struct cw_app_train_opts o = t->opts;
        pthread_mutex_unlock(&t->lock);
        rc = cw_app_train(s, srv->db, &o, &res, &err);
    }
    if (rc == 0) {
        struct cw_buf e2 = CW_BUF_INIT;
        int lr = cw_srv_holder_refresh(srv, s, &e2);
        if (lr < 0) {
            rc = lr;
            cw_buf_reset(&err);
            cw_buf_addf(&err, "trained, but cannot load the model: %s",
                        cw_buf_str(&e2));
        }
        cw_buf_release(&e2);
        cw_srv_experiment_reload(srv, s);
        cw_srv_incentives_reload(srv, s); /* the new statistics */
    }
    cw_store_close(s);
    pthread_mutex_lock(&t->lock);
    t->running = 0;
    cw_srv_now_iso(t->finished_at, sizeof(t->finished_at), 0);
    if (rc < 0)
        snprintf(t->last_error, sizeof(t->last_error), "%s",
                 err.len ? cw_buf_str(&err) : cw_strerror(rc));
    else
        t->last_error[0] = '\0';
    pthread_mutex_unlock(&t->lock);
    atomic_fetch_add_explicit(rc < 0 ? &srv->ctr.training_failures
                                     : &srv->ctr.trainings,
                              1, memory_order_relaxed);
    if (rc < 0) {
        cw_srv_log("error", "training failed",
                   err.len ? cw_buf_str(&err) : cw_strerror(rc), NULL);
    } else {
        char f[96];
        snprintf(f, sizeof(f), ",\"version\":%lld,\"seconds\":%.3f",
                 (long long)res.info.version, res.seconds);
        cw_srv_log("info", "training finished", NULL, f);
    }
    cw_buf_release(&err);
    return NULL;
}

void cw_srv_training_join(struct cw_srv *srv, int wait)
{
    struct cw_srv_training *t = &srv->training;
    pthread_mutex_lock(&t->lock);
    int join = t->joinable && (wait || !t->running);
    if (join)
        t->joinable = 0;
    pthread_t th = t->thread;
    pthread_mutex_unlock(&t->lock);
    if (join)
        pthread_join(th, NULL);
}

void cw_h_train(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    struct cw_srv_training *t = &srv->training;
    struct cw_app_train_opts o = {-1.0, 0, 0.0, 0, NULL, NULL};
    if (r->body.len) {
        struct cw_srv_error e;
        json_t *root;
        if (cw_srv_json_load(r->body.buf, r->body.len, &root, &e) < 0 ||
            cw_srv_parse_train(root, &o, &e) < 0) {
            json_decref(root);
            cw_srv_reply_error(r, &e);
            return;
        }
        json_decref(root);
    }
    cw_srv_training_join(srv, 0); /* a finished run's thread */
    pthread_mutex_lock(&t->lock);
    if (t->running || t->joinable || srv->stopping) {
        pthread_mutex_unlock(&t->lock);
        cw_srv_reply_fail(r, 409, "training_in_progress", NULL,
                          "a training run is already going: see GET "
                          "/v1/model");
        return;
    }
    t->opts = o;
    t->running = 1;
    cw_srv_now_iso(t->started_at, sizeof(t->started_at), 0);
    t->finished_at[0] = '\0';
    if (pthread_create(&t->thread, NULL, train_main, srv) != 0) {
        t->running = 0;
        pthread_mutex_unlock(&t->lock);
        cw_srv_reply_fail(r, 500, "internal_error", NULL,
                          "cannot start the training thread");
        return;
    }
    t->joinable = 1;
    pthread_mutex_unlock(&t->lock);
    cw_buf_adds(&r->out, "{\"status\":\"started\"}");
    cw_srv_reply(r, 202);
}

static void str_or_null(struct cw_buf *b, const char *s)
{
    if (s && *s)
        cw_buf_add_json_str(b, s);
    else
        cw_buf_adds(b, "null");
}

void cw_h_model(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    struct cw_srv_training *t = &srv->training;
    struct cw_buf *b = &r->out;
    struct cw_srv_model *m = cw_srv_model_get(&srv->holder);
    if (m) {
        const struct cw_model_info *i = &m->am.info;
        const struct cw_model_meta *mt = &m->am.m.meta;
        cw_buf_addf(b,
                    "{\"version\":%lld,\"trained_at\":", (long long)i->version);
        cw_buf_add_json_str(b, i->created_at);
        cw_buf_addf(b,
                    ",\"items\":%lld,\"customers\":%lld,\"baskets\":%lld,"
                    "\"currency\":",
                    (long long)i->items, (long long)i->customers,
                    (long long)i->baskets);
        cw_buf_add_json_str(b, mt->currency);
        cw_buf_adds(b, ",\"checksum\":");
        cw_buf_add_json_str(b, i->checksum);
        /* what training chose, so a merchant can see why it answers so */
        cw_buf_addf(b,
                    ",\"choices\":{\"reranker\":%s,\"profit_weight\":%g,"
                    "\"cart_order\":%s,\"line_order_mix\":%.4f}",
                    mt->rank_n ? "true" : "false", mt->profit_gamma,
                    mt->cart_order ? "true" : "false", mt->line_order_mix);
    } else {
        cw_buf_adds(b, "{\"version\":null,\"trained_at\":null,\"items\":0,"
                       "\"customers\":0,\"baskets\":0,\"currency\":null,"
                       "\"checksum\":null,\"choices\":null");
    }
    cw_srv_model_put(m);
    pthread_mutex_lock(&t->lock);
    cw_buf_addf(b, ",\"training\":{\"running\":%s,\"started_at\":",
                t->running ? "true" : "false");
    str_or_null(b, t->started_at);
    cw_buf_adds(b, ",\"finished_at\":");
    str_or_null(b, t->finished_at);
    cw_buf_adds(b, ",\"last_error\":");
    str_or_null(b, t->last_error);
    pthread_mutex_unlock(&t->lock);
    cw_buf_adds(b, "}}");
    cw_srv_reply(r, 200);
}
