/*
 * metrics.c: the metrics registry, rendered in the Prometheus text format.
 *
 * Per route (the route table's path, or "unmatched") and status: a request
 * counter and a latency histogram; the cells are relaxed atomics, so
 * recording costs a few uncontended increments and no lock. Around them,
 * the counters the handlers bump (struct cw_srv_counters) and gauges read
 * when /metrics is scraped (model version, decision-log queue depth,
 * requests in flight, training running).
 */
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "server/server.h"

static const int statuses[] = {
#define CW__STATUS(s) s,
    CW_SRV_STATUSES(CW__STATUS)
#undef CW__STATUS
};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
#define NOTHER NSTATUS /* any other status */

/* upper bounds, seconds */
static const double buckets[CW_SRV_NBUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5,
};

struct cell {
    atomic_ullong count;
    atomic_ullong sum_ns;
    atomic_ullong le[CW_SRV_NBUCKETS]; /* not cumulative: bucket i only */
};

struct cw_srv_metrics {
    size_t nroutes;     /* table routes + 1 (unmatched) */
    struct cell *cells; /* [route][status] */
};

struct cw_srv_metrics *cw_srv_metrics_new(void)
{
    struct cw_srv_metrics *m = cw_calloc(1, sizeof(*m));
    m->nroutes = cw_srv_nroutes + 1;
    m->cells = cw_calloc(m->nroutes * (NSTATUS + 1), sizeof(*m->cells));
    return m;
}

void cw_srv_metrics_free(struct cw_srv_metrics *m)
{
    if (!m)
        return;
    cw_free(m->cells);
    cw_free(m);
}

static size_t status_ix(int status)
{
    for (size_t i = 0; i < NSTATUS; i++)
        if (statuses[i] == status)
            return i;
    return NOTHER;
}

void cw_srv_metrics_request(struct cw_srv_metrics *m, long route, int status,
                            double seconds)
{
    size_t r = route < 0 ? cw_srv_nroutes : (size_t)route;
    struct cell *c = &m->cells[r * (NSTATUS + 1) + status_ix(status)];
    atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->sum_ns, (unsigned long long)(seconds * 1e9),
                              memory_order_relaxed);
    for (size_t i = 0; i < CW_SRV_NBUCKETS; i++)
        if (seconds <= buckets[i]) {
            atomic_fetch_add_explicit(&c->le[i], 1, memory_order_relaxed);
            break;
        }
}

static unsigned long long ld(atomic_ullong *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void labels(struct cw_buf *b, size_t r, size_t s)
{
    const char *route =
        r < cw_srv_nroutes ? cw_srv_routes[r].path : "unmatched";
    const char *method = r < cw_srv_nroutes ? cw_srv_routes[r].method : "";
    if (s < NSTATUS)
        cw_buf_addf(b, "route=\"%s\",method=\"%s\",status=\"%d\"", route,
                    method, statuses[s]);
    else
        cw_buf_addf(b, "route=\"%s\",method=\"%s\",status=\"other\"", route,
                    method);
}

static void counter(struct cw_buf *b, const char *name, const char *help,
                    unsigned long long v)
{
    cw_buf_addf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
                name, name, v);
}

static void gauge(struct cw_buf *b, const char *name, const char *help,
                  double v)
{
    cw_buf_addf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help,
                name, name, v);
}

void cw_srv_metrics_render(struct cw_srv *srv, struct cw_buf *b)
{
    struct cw_srv_metrics *m = srv->metrics;
    struct cw_srv_counters *c = &srv->ctr;
    cw_buf_adds(b, "# HELP cartwise_http_requests_total HTTP requests "
                   "answered, by route and status.\n"
                   "# TYPE cartwise_http_requests_total counter\n");
    for (size_t r = 0; r < m->nroutes; r++)
        for (size_t s = 0; s <= NSTATUS; s++) {
            struct cell *cl = &m->cells[r * (NSTATUS + 1) + s];
            unsigned long long n = ld(&cl->count);
            if (!n)
                continue;
            cw_buf_adds(b, "cartwise_http_requests_total{");
            labels(b, r, s);
            cw_buf_addf(b, "} %llu\n", n);
        }
    cw_buf_adds(b, "# HELP cartwise_http_request_duration_seconds Time from "
                   "the request's headers to its completion, by route and "
                   "status.\n"
                   "# TYPE cartwise_http_request_duration_seconds "
                   "histogram\n");
    for (size_t r = 0; r < m->nroutes; r++)
        for (size_t s = 0; s <= NSTATUS; s++) {
            struct cell *cl = &m->cells[r * (NSTATUS + 1) + s];
            unsigned long long n = ld(&cl->count), cum = 0;
            if (!n)
                continue;
            for (size_t i = 0; i < CW_SRV_NBUCKETS; i++) {
                cum += ld(&cl->le[i]);
                cw_buf_adds(b, "cartwise_http_request_duration_seconds_"
                               "bucket{");
                labels(b, r, s);
                cw_buf_addf(b, ",le=\"%g\"} %llu\n", buckets[i], cum);
            }
            cw_buf_adds(b, "cartwise_http_request_duration_seconds_bucket{");
            labels(b, r, s);
            cw_buf_addf(b, ",le=\"+Inf\"} %llu\n", n);
            cw_buf_adds(b, "cartwise_http_request_duration_seconds_sum{");
            labels(b, r, s);
            cw_buf_addf(b, "} %.9f\n", (double)ld(&cl->sum_ns) / 1e9);
            cw_buf_adds(b, "cartwise_http_request_duration_seconds_count{");
            labels(b, r, s);
            cw_buf_addf(b, "} %llu\n", n);
        }
    counter(b, "cartwise_decisions_total", "Decisions answered.",
            ld(&c->decisions));
    counter(b, "cartwise_decision_addons_total", "Add-ons shown in decisions.",
            ld(&c->addons_shown));
    counter(b, "cartwise_decision_unknown_skus_total",
            "Cart lines with a SKU the model does not know.",
            ld(&c->decide_unknown_skus));
    counter(b, "cartwise_decision_log_written_total",
            "Decisions written to the decision log.", ld(&c->declog_written));
    counter(b, "cartwise_decision_log_dropped_total",
            "Decisions not logged because the log queue was full.",
            ld(&c->declog_dropped));
    counter(b, "cartwise_decision_log_waits_total",
            "Decisions that waited for room in a full log queue.",
            ld(&c->declog_waits));
    counter(b, "cartwise_decision_log_failed_total",
            "Decisions lost to failed decision-log writes.",
            ld(&c->declog_failed));
    gauge(b, "cartwise_decision_log_queue_depth",
          "Decisions waiting to be written.", (double)cw_srv_declog_depth(srv));
    counter(b, "cartwise_events_received_total", "Events received.",
            ld(&c->events_received));
    counter(b, "cartwise_events_ingested_total",
            "Events stored (replays excluded).", ld(&c->events_ingested));
    counter(b, "cartwise_events_duplicate_total",
            "Events already stored (idempotent replays).",
            ld(&c->events_duplicate));
    counter(b, "cartwise_products_upserted_total", "Products upserted.",
            ld(&c->products_upserted));
    counter(b, "cartwise_orders_ingested_total",
            "Orders stored (replays excluded).", ld(&c->orders_ingested));
    counter(b, "cartwise_webhooks_received_total",
            "Shopify webhook deliveries accepted.", ld(&c->webhooks_received));
    counter(b, "cartwise_webhooks_duplicate_total",
            "Shopify webhook deliveries already seen.",
            ld(&c->webhooks_duplicate));
    cw_buf_adds(b, "# HELP cartwise_rate_limited_total Requests refused by a "
                   "rate limit.\n# TYPE cartwise_rate_limited_total "
                   "counter\n");
    cw_buf_addf(b, "cartwise_rate_limited_total{scope=\"key\"} %llu\n",
                ld(&c->rate_limited_key));
    cw_buf_addf(b, "cartwise_rate_limited_total{scope=\"ip\"} %llu\n",
                ld(&c->rate_limited_ip));
    counter(b, "cartwise_auth_failures_total",
            "Requests refused for a missing or unknown key.",
            ld(&c->auth_failures));
    counter(b, "cartwise_model_swaps_total", "Model versions loaded.",
            ld(&c->model_swaps));
    counter(b, "cartwise_trainings_total", "Training runs finished.",
            ld(&c->trainings));
    counter(b, "cartwise_training_failures_total", "Training runs failed.",
            ld(&c->training_failures));

    struct cw_srv_model *mod = cw_srv_model_get(&srv->holder);
    gauge(b, "cartwise_model_version",
          "Version of the model being served "
          "(0: none).",
          mod ? (double)mod->am.info.version : 0.0);
    gauge(b, "cartwise_model_items", "Items in the served model.",
          mod ? (double)mod->am.m.n_items : 0.0);
    cw_srv_model_put(mod);
    pthread_mutex_lock(&srv->training.lock);
    int running = srv->training.running;
    pthread_mutex_unlock(&srv->training.lock);
    gauge(b, "cartwise_training_running", "1 while a training run is going.",
          running);
    gauge(b, "cartwise_http_requests_in_flight", "Requests being served.",
          (double)atomic_load(&srv->inflight));
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    gauge(b, "cartwise_uptime_seconds", "Seconds since the server started.",
          (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - srv->started);
}
