/*
 * declog.c: the decision log, written off the request path.
 *
 * POST /v1/decide does not write to the store, so each decision is copied
 * (one allocation) into a bounded in-memory queue and one writer thread,
 * with its own store handle, drains it in batches of up to BATCH decisions,
 * one transaction per batch (put_decisions, without the store's write
 * lock). When the queue is full (the server answers faster than the log
 * can write, as at saturation on a small machine) the request waits up to
 * FULL_WAIT_MS for room, which slows serving to the log's pace instead of
 * losing decisions (each wait is counted: cartwise_decision_log_waits_total);
 * only when the log stays stuck that long (a stalled disk) is the decision
 * dropped and counted (cartwise_decision_log_dropped_total): serving still
 * wins then. A batch that fails writes nothing, is counted
 * (cartwise_decision_log_failed_total) and logged. Stopping writes out
 * everything queued before the thread exits.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_store.h"
#include "server/server.h"

#define BATCH 512
#define GATHER_NS 10000000L /* 10 ms */
#define FULL_WAIT_MS 50

struct entry {
    struct cw_decision_rec rec;
    char data[]; /* the record's strings */
};

struct cw_srv_declog {
    pthread_mutex_t lock;
    pthread_cond_t cond;  /* the writer: something to write */
    pthread_cond_t space; /* requests: room in a full queue */
    size_t waiting;       /* requests waiting for room */
    struct entry **ring;
    size_t cap, head, count;
    int stop;
    pthread_t thread;
    struct cw_store *store;
    struct cw_srv *srv;
};

static size_t slen(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *put(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *out = *p;
    *p += n;
    return out;
}

int cw_srv_declog_push(struct cw_srv *srv, const struct cw_decision_rec *d)
{
    struct cw_srv_declog *q = srv->declog;
    size_t n = slen(d->id) + slen(d->session) + slen(d->customer) +
               slen(d->experiment) + slen(d->arm) + slen(d->placement) +
               slen(d->ts) + slen(d->shown) + slen(d->request) +
               slen(d->incentives);
    struct entry *e = cw_malloc(sizeof(*e) + n);
    char *p = e->data;
    e->rec = *d;
    e->rec.id = put(&p, d->id);
    e->rec.session = put(&p, d->session);
    e->rec.customer = put(&p, d->customer);
    e->rec.experiment = put(&p, d->experiment);
    e->rec.arm = put(&p, d->arm);
    e->rec.placement = put(&p, d->placement);
    e->rec.ts = put(&p, d->ts);
    e->rec.shown = put(&p, d->shown);
    e->rec.request = put(&p, d->request);
    e->rec.incentives = put(&p, d->incentives);
    pthread_mutex_lock(&q->lock);
    if (q->count >= q->cap && !q->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += FULL_WAIT_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        q->waiting++;
        atomic_fetch_add_explicit(&srv->ctr.declog_waits, 1,
                                  memory_order_relaxed);
        while (q->count >= q->cap && !q->stop &&
               pthread_cond_timedwait(&q->space, &q->lock, &until) == 0)
            ;
        q->waiting--;
    }
    if (q->count >= q->cap || q->stop) {
        pthread_mutex_unlock(&q->lock);
        cw_free(e);
        goto drop;
    }
    q->ring[(q->head + q->count) % q->cap] = e;
    if (q->count++ == 0)
        pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return 0;
drop:
    atomic_fetch_add_explicit(&srv->ctr.declog_dropped, 1,
                              memory_order_relaxed);
    return -1;
}

size_t cw_srv_declog_depth(struct cw_srv *srv)
{
    struct cw_srv_declog *q = srv->declog;
    return q ? __atomic_load_n(&q->count, __ATOMIC_RELAXED) : 0;
}

/* recs: room for BATCH records, the batch's records are copied there (the
 * strings stay in the entries) and written in one call, which is a
 * transaction of its own (all or none). Not inside begin/commit: begin
 * takes the store's write lock for read-then-write work (on PostgreSQL one
 * lock for the whole database), which appends from several server nodes
 * do not need. */
static void write_batch(struct cw_srv_declog *q, struct entry **batch,
                        struct cw_decision_rec *recs, size_t n)
{
    struct cw_store *s = q->store;
    struct cw_buf err = CW_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        recs[i] = batch[i]->rec;
    int rc = s->ops->put_decisions(s, recs, n, &err);
    if (rc >= 0) {
        atomic_fetch_add_explicit(&q->srv->ctr.declog_written, n,
                                  memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&q->srv->ctr.declog_failed, n,
                                  memory_order_relaxed);
        char f[48];
        snprintf(f, sizeof(f), ",\"decisions\":%zu", n);
        cw_srv_log("error", "decision log write failed",
                   err.len ? cw_buf_str(&err) : cw_strerror(rc), f);
    }
    for (size_t i = 0; i < n; i++)
        cw_free(batch[i]);
    cw_buf_release(&err);
}

static void *writer_main(void *arg)
{
    struct cw_srv_declog *q = arg;
    struct entry **batch = cw_malloc(BATCH * sizeof(*batch));
    struct cw_decision_rec *recs = cw_malloc(BATCH * sizeof(*recs));
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->count == 0 && !q->stop)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->count == 0 && q->stop)
            break;
        size_t n = 0;
        while (q->count && n < BATCH) {
            batch[n++] = q->ring[q->head];
            q->head = (q->head + 1) % q->cap;
            q->count--;
        }
        int pressed = q->waiting > 0; /* requests wait: no gathering */
        if (pressed)
            pthread_cond_broadcast(&q->space);
        pthread_mutex_unlock(&q->lock);
        write_batch(q, batch, recs, n);
        /* a short batch means a light queue: let it fill a while, so that
         * a busy server commits (and is woken) about 100 times a second
         * rather than once every few decisions */
        if (n < BATCH && !pressed)
            nanosleep(&(struct timespec){0, GATHER_NS}, NULL);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    cw_free(batch);
    cw_free(recs);
    return NULL;
}

int cw_srv_declog_start(struct cw_srv *srv, size_t capacity, struct cw_buf *err)
{
    struct cw_srv_declog *q = cw_calloc(1, sizeof(*q));
    q->cap = capacity ? capacity : 1;
    q->ring = cw_calloc(q->cap, sizeof(*q->ring));
    q->srv = srv;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    pthread_cond_init(&q->space, NULL);
    struct cw_buf e = CW_BUF_INIT;
    int rc = cw_store_open(&q->store, srv->db, &e);
    if (rc < 0) {
        cw_err(err, rc, "decision log: cannot open the store: %s",
               cw_buf_str(&e));
    } else if (pthread_create(&q->thread, NULL, writer_main, q) != 0) {
        rc = cw_err(err, CW_EIO, "decision log: cannot start its thread");
        cw_store_close(q->store);
    }
    cw_buf_release(&e);
    if (rc < 0) {
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->cond);
        pthread_cond_destroy(&q->space);
        cw_free(q->ring);
        cw_free(q);
        return rc;
    }
    srv->declog = q;
    return 0;
}

void cw_srv_declog_stop(struct cw_srv *srv)
{
    struct cw_srv_declog *q = srv->declog;
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_signal(&q->cond);
    pthread_cond_broadcast(&q->space);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    cw_store_close(q->store);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    pthread_cond_destroy(&q->space);
    cw_free(q->ring);
    cw_free(q);
    srv->declog = NULL;
}
