/*
 * server.c: the HTTP server's lifecycle and request plumbing.
 *
 * libmicrohttpd runs an internal thread pool (one thread per core, epoll);
 * every request goes through on_request three ways: the first call (headers
 * only) does every check that needs no body: route (404/405), CORS
 * preflight, per-IP rate limit, key (401/403), per-key rate limit, body
 * size (413 from Content-Length) and type (415), answering early when one
 * fails so that a refused body is never read. The calls that follow carry
 * the body, accumulated into a bounded buffer (413 past the limit for a
 * chunked body); the last one runs the route's handler. When the request
 * ends (on_completed) its metrics and its JSON access-log line are written
 * and its memory goes back to the thread for the next request.
 *
 * Shutdown (SIGINT, SIGTERM): stop accepting, let in-flight requests
 * finish (answering "Connection: close"), stop the daemon, wait for a
 * training run, flush the decision log, free everything.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app/experiment_json.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_file.h"
#include "cartwise/cw_store.h"
#include "server/server.h"

#ifndef CW_SOURCE_DIR
#define CW_SOURCE_DIR "."
#endif

double cw_srv_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cw_srv_config_default(struct cw_srv_config *c)
{
    memset(c, 0, sizeof(*c));
    c->port = 8080;
    c->max_body = CW_SRV_DEFAULT_MAX_BODY;
    c->conn_limit = 1024;
    c->per_ip_limit = 256;
    c->timeout = 30;
    c->key_rate = 1000;
    c->key_burst = 2000;
    c->ip_rate = 5000;
    c->ip_burst = 10000;
    c->access_log = 1;
    c->model_poll = 5;
    c->declog_capacity = 65536;
}

/* ---- per-thread state ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static struct cw_srv_thread *thread_state(struct cw_srv *srv)
{
    struct cw_srv_thread *th = pthread_getspecific(srv->thread_key);
    if (th)
        return th;
    th = cw_calloc(1, sizeof(*th));
    randombytes_buf(th->rng, sizeof(th->rng));
    cw_buf_init(&th->tmp, 0);
    cw_buf_init(&th->inc_log, 0);
    cw_buf_init(&th->req_log, 0);
    cw_buf_init(&th->alog, 0);
    pthread_mutex_init(&th->alog_lock, NULL);
    pthread_setspecific(srv->thread_key, th);
    pthread_mutex_lock(&srv->threads_lock);
    th->next = srv->threads;
    srv->threads = th;
    pthread_mutex_unlock(&srv->threads_lock);
    return th;
}

void cw_srv_random_id(struct cw_srv_thread *th, const char *prefix, char *out,
                      size_t size)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    size_t n = strlen(prefix);
    if (size < n + 23)
        n = 0;
    memcpy(out, prefix, n);
    uint64_t a = splitmix(&th->rng[0]) ^ th->rng[1];
    uint64_t b = splitmix(&th->rng[0]);
    th->rng[1] += 0x632be59bd9b4e019ULL;
    for (int i = 0; i < 11; i++, a /= 36)
        out[n++] = digits[a % 36];
    for (int i = 0; i < 11; i++, b /= 36)
        out[n++] = digits[b % 36];
    out[n] = '\0';
}

void cw_srv_sortable_id(struct cw_srv_thread *th, const char *prefix, char *out,
                        size_t size)
{
    /* like a ULID: 10 characters of milliseconds (Crockford base32, so ids
     * sort by time and land at the end of the store's index), 16 random */
    static const char b32[] = "0123456789abcdefghjkmnpqrstvwxyz";
    size_t n = strlen(prefix);
    if (size < n + 27)
        n = 0;
    memcpy(out, prefix, n);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 9; i >= 0; i--, ms >>= 5)
        out[n + (size_t)i] = b32[ms & 31];
    n += 10;
    uint64_t a = splitmix(&th->rng[0]) ^ th->rng[1];
    th->rng[1] += 0x632be59bd9b4e019ULL;
    uint64_t b = splitmix(&th->rng[0]);
    for (int i = 0; i < 12; i++, a >>= 5)
        out[n++] = b32[a & 31];
    for (int i = 0; i < 4; i++, b >>= 5)
        out[n++] = b32[b & 31];
    out[n] = '\0';
}

struct cw_scratch *cw_srv_scratch(struct cw_srv_thread *th,
                                  const struct cw_srv_model *m)
{
    if (!th->scratch || th->scratch_gen != m->gen) {
        cw_scratch_free(th->scratch);
        th->scratch = cw_scratch_new(&m->am.m);
        th->scratch_gen = m->gen;
    }
    return th->scratch;
}

static void thread_free(struct cw_srv_thread *th)
{
    cw_scratch_free(th->scratch);
    cw_buf_release(&th->tmp);
    cw_buf_release(&th->inc_log);
    cw_buf_release(&th->req_log);
    cw_buf_release(&th->alog);
    pthread_mutex_destroy(&th->alog_lock);
    if (th->spare) {
        cw_buf_release(&th->spare->body);
        cw_buf_release(&th->spare->out);
        cw_srv_arena_release(&th->spare->arena);
        cw_free(th->spare);
    }
    cw_free(th);
}

/* ---- requests ---- */

static const char *method_name(const char *m)
{
    static const char *const known[] = {"GET",     "POST",  "PUT",
                                        "DELETE",  "PATCH", "HEAD",
                                        "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++)
        if (!strcmp(m, known[i]))
            return known[i];
    return "OTHER";
}

static struct cw_req *req_new(struct cw_srv *srv, struct MHD_Connection *c,
                              const char *url, const char *method)
{
    struct cw_srv_thread *th = thread_state(srv);
    struct cw_req *r = th->spare;
    if (r) {
        th->spare = NULL;
    } else {
        r = cw_calloc(1, sizeof(*r));
        cw_buf_init(&r->body, 0);
        cw_buf_init(&r->out, 0);
        cw_srv_arena_init(&r->arena);
    }
    struct cw_buf body = r->body, out = r->out;
    struct cw_srv_arena arena = r->arena;
    memset(r, 0, offsetof(struct cw_req, body));
    r->body = body;
    r->out = out;
    r->arena = arena;
    cw_buf_reset(&r->body);
    cw_buf_reset(&r->out);
    r->body.max = 0;
    r->discarded = 0;
    r->too_big = 0;
    r->queued = 0;
    r->hold = 0;
    r->held = 0;
    r->preflight = 0;
    r->status = 0;
    r->error_code = NULL;
    r->allow[0] = '\0';
    r->location[0] = '\0';
    r->retry_after = 0;
    r->content_type = NULL;
    r->idem = r->idem_replayed = 0;
    r->bytes_out = 0;
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    r->srv = srv;
    r->conn = c;
    r->th = th;
    r->route_ix = -1;
    r->method = method_name(method);
    snprintf(r->path, sizeof(r->path), "%s", url);
    atomic_fetch_add_explicit(&srv->inflight, 1, memory_order_relaxed);
    return r;
}

static void req_free(struct cw_req *r)
{
    struct cw_srv_thread *th = pthread_getspecific(r->srv->thread_key);
    cw_srv_arena_reset(&r->arena);
    if (th == r->th && !th->spare && r->body.cap <= (64u << 10) &&
        r->out.cap <= (64u << 10)) {
        th->spare = r;
        return;
    }
    cw_buf_release(&r->body);
    cw_buf_release(&r->out);
    cw_srv_arena_release(&r->arena);
    cw_free(r);
}

const char *cw_srv_header(struct cw_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ---- responses ---- */

static void add_header(struct MHD_Response *resp, const char *k, const char *v)
{
    MHD_add_response_header(resp, k, v);
}

void cw_srv_reply(struct cw_req *r, int status)
{
    if (r->queued)
        return;
    if (r->hold) {
        r->held = status;
        r->queued = 1;
        return;
    }
    /* r->out lives until on_completed, after the response has gone */
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->out.len, r->out.buf ? r->out.buf : (void *)"",
        MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return;
    if (status != 204)
        add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                   r->content_type ? r->content_type : "application/json");
    add_header(resp, "Request-Id", r->request_id);
    add_header(resp, "Cartwise-Version", CW_API_VERSION);
    if (r->cors[0]) {
        add_header(resp, "Access-Control-Allow-Origin", r->cors);
        add_header(resp, "Access-Control-Expose-Headers",
                   "Request-Id, Cartwise-Version, Retry-After");
    }
    if (r->preflight && r->cors[0]) {
        add_header(resp, "Access-Control-Allow-Methods", "GET, POST");
        add_header(resp, "Access-Control-Allow-Headers",
                   "Content-Type, Authorization, Idempotency-Key");
        add_header(resp, "Access-Control-Max-Age", "600");
    }
    if (r->route && (r->route->flags & CW_ROUTE_CORS))
        add_header(resp, "Vary", "Origin");
    if (r->allow[0])
        add_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->location[0])
        add_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->idem_replayed)
        add_header(resp, "Idempotent-Replayed", "true");
    int web = r->route && r->route->fn == cw_h_web;
    if (web && r->content_type && !strncmp(r->content_type, "text/html", 9)) {
        /* the pages run only their own scripts, and call only this API */
        add_header(resp, "Content-Security-Policy",
                   "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                   "img-src 'self' data:; base-uri 'none'; form-action "
                   "'self'; frame-ancestors 'none'");
        add_header(resp, "X-Content-Type-Options", "nosniff");
        add_header(resp, "Referrer-Policy", "no-referrer");
    }
    if (web)
        add_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", r->retry_after);
        add_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r->srv->stopping)
        add_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    r->bytes_out = r->out.len;
    r->queued = 1;
}

void cw_srv_reply_error(struct cw_req *r, const struct cw_srv_error *e)
{
    if (r->queued)
        return; /* r->out is the answer on its way (MHD_RESPMEM_PERSISTENT) */
    cw_buf_reset(&r->out);
    cw_buf_adds(&r->out, "{\"error\":{\"type\":");
    cw_buf_add_json_str(&r->out,
                        e->type ? e->type : cw_srv_error_type(e->status));
    cw_buf_adds(&r->out, ",\"code\":");
    cw_buf_add_json_str(&r->out, e->code);
    cw_buf_adds(&r->out, ",\"message\":");
    cw_buf_add_json_str(&r->out, e->message);
    cw_buf_adds(&r->out, ",\"field\":");
    if (e->field[0])
        cw_buf_add_json_str(&r->out, e->field);
    else
        cw_buf_adds(&r->out, "null");
    cw_buf_adds(&r->out, ",\"request_id\":");
    cw_buf_add_json_str(&r->out, r->request_id);
    cw_buf_adds(&r->out, "}}");
    r->error_code = e->code;
    r->content_type = NULL;
    cw_srv_reply(r, e->status);
}

void cw_srv_reply_fail(struct cw_req *r, int status, const char *code,
                       const char *field, const char *fmt, ...)
{
    struct cw_srv_error e;
    va_list ap;
    cw_srv_fail(&e, status, code, field, "%s", "");
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    cw_srv_reply_error(r, &e);
}

void cw_srv_reply_store_error(struct cw_req *r, int code, const char *what,
                              const struct cw_buf *detail)
{
    const char *d =
        detail && detail->len ? cw_buf_str(detail) : cw_strerror(code);
    if (code == CW_EINVAL || code == CW_EPARSE)
        cw_srv_reply_fail(r, 422, "invalid_value", NULL, "%s: %s", what, d);
    else if (code == CW_EBUSY) {
        r->retry_after = 1;
        cw_srv_reply_fail(r, 503, "store_busy", NULL, "%s: %s", what, d);
    } else {
        {
            char f[160];
            snprintf(f, sizeof(f), ",\"request_id\":\"%s\",\"code\":\"%s\"",
                     r->request_id, cw_errname(code));
            cw_srv_log("error", what, d, f);
        }
        cw_srv_reply_fail(r, 500, "store_error", NULL, "%s: %s", what, d);
    }
}

/* ---- ids ---- */

static int valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
              c == ':'))
            return 0;
    }
    return n >= 1 && n <= 64;
}

/* traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags> */
static void trace_id(const char *tp, char out[33])
{
    out[0] = '\0';
    if (!tp || strlen(tp) < 55 || tp[2] != '-' || tp[35] != '-' ||
        tp[52] != '-')
        return;
    int zero = 1;
    for (int i = 0; i < 32; i++) {
        char c = tp[3 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return;
        zero &= c == '0';
    }
    if (zero)
        return;
    memcpy(out, tp + 3, 32);
    out[32] = '\0';
}

static void client_ip(struct cw_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    r->ip[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->ip,
                  sizeof(r->ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  r->ip, sizeof(r->ip));
}

/* ---- the checks of the first call ---- */

/* r->path + "/" is a web page's directory (h_web.c's pages). */
static int web_dir(const struct cw_req *r)
{
    char dir[sizeof(r->path) + 1];
    int known;
    size_t n = strlen(r->path);
    if (n + 2 > sizeof(dir))
        return 0;
    memcpy(dir, r->path, n);
    dir[n] = '/';
    dir[n + 1] = '\0';
    long ix = cw_srv_route_find(dir, "GET", &known, NULL, 0);
    return ix >= 0 && cw_srv_routes[ix].fn == cw_h_web;
}

/* origin is scheme://host where host is the request's Host: the caller is
 * a page of this server (the widget demo, the dashboard). A browser sets
 * both headers itself, so a page elsewhere cannot pass for one of ours. */
static int same_origin(const char *origin, const char *host)
{
    if (!origin || !host || !*host)
        return 0;
    size_t n = !strncmp(origin, "http://", 7)    ? 7
               : !strncmp(origin, "https://", 8) ? 8
                                                 : 0;
    return n && !strcmp(origin + n, host);
}

/* CORS preflight: 204 with the CORS headers for an allowed origin, 403
 * for any other (a preflight carries no key: the allowed origins are
 * --cors-origin and those of every public key). */
static void preflight(struct cw_req *r)
{
    const char *origin = cw_srv_header(r, "Origin");
    r->allow[0] = '\0';
    if (!origin || !cw_srv_origin_allowed(r->srv, origin, NULL)) {
        cw_srv_reply_fail(r, 403, "origin_not_allowed", NULL,
                          "origin '%s' is not allowed",
                          origin ? origin : "(none)");
        return;
    }
    r->preflight = 1;
    snprintf(r->cors, sizeof(r->cors), "%s", origin);
    cw_srv_reply(r, 204);
}

static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n))
        return 0;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Bearer key -> r->key, kind check, key's origins, per-key limit. */
static int check_key(struct cw_req *r)
{
    struct cw_srv_error e;
    const char *h = cw_srv_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || !*h) {
        cw_srv_reply_fail(r, 401, "missing_api_key", NULL,
                          "no API key: send Authorization: Bearer KEY");
        return -1;
    }
    if (strncasecmp(h, "Bearer ", 7)) {
        cw_srv_reply_fail(r, 401, "invalid_api_key", NULL,
                          "the Authorization header must be 'Bearer KEY'");
        return -1;
    }
    const char *k = h + 7;
    while (*k == ' ')
        k++;
    if (cw_srv_authenticate(r->srv, k, strlen(k), &r->key, &e) < 0) {
        atomic_fetch_add_explicit(&r->srv->ctr.auth_failures, 1,
                                  memory_order_relaxed);
        cw_srv_reply_error(r, &e);
        return -1;
    }
    if (r->route->auth == CW_AUTH_SECRET && r->key.kind != CW_KEY_SECRET) {
        cw_srv_reply_fail(r, 403, "secret_key_required", NULL,
                          "%s %s needs a secret key (sk_...)", r->method,
                          r->route->path);
        return -1;
    }
    /* a browser call to a storefront route from an origin that is neither
     * the server's (--cors-origin) nor the key's */
    if (r->origin && (r->route->flags & CW_ROUTE_CORS) &&
        !cw_srv_origin_allowed(r->srv, r->origin, &r->key)) {
        cw_srv_reply_fail(r, 403, "origin_not_allowed", NULL,
                          "origin '%s' is not allowed for this key", r->origin);
        return -1;
    }
    int wait = cw_srv_rate_key(r->srv, r->key.id);
    if (wait) {
        atomic_fetch_add_explicit(&r->srv->ctr.rate_limited_key, 1,
                                  memory_order_relaxed);
        r->retry_after = wait;
        cw_srv_reply_fail(r, 429, "rate_limited", NULL,
                          "too many requests for this key: retry after %d s",
                          wait);
        return -1;
    }
    return 0;
}

static void start(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    const char *rid = cw_srv_header(r, "X-Request-Id");
    if (rid && valid_request_id(rid))
        snprintf(r->request_id, sizeof(r->request_id), "%s", rid);
    else
        cw_srv_random_id(r->th, "req_", r->request_id, sizeof(r->request_id));
    trace_id(cw_srv_header(r, "traceparent"), r->trace_id);
    client_ip(r);
    const char *cl = cw_srv_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = cw_srv_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    int has_body = len > 0 || te;
    r->hold = !has_body;

    int known;
    r->route_ix = cw_srv_route_find(r->path, r->method, &known, r->allow,
                                    sizeof(r->allow));
    if (r->route_ix < 0) {
        if (known && !strcmp(r->method, "OPTIONS")) {
            long ix = cw_srv_route_find(r->path, "POST", &known, NULL, 0);
            if (ix >= 0 && (cw_srv_routes[ix].flags & CW_ROUTE_CORS)) {
                r->route_ix = ix;
                r->route = &cw_srv_routes[ix];
                preflight(r);
                return;
            }
        }
        if (known) {
            cw_srv_reply_fail(r, 405, "method_not_allowed", NULL,
                              "%s is not allowed on %s (allowed: %s)",
                              r->method, r->path, r->allow);
        } else if (!strcmp(r->method, "GET") && web_dir(r)) {
            /* /dashboard -> /dashboard/, as a merchant would type it */
            snprintf(r->location, sizeof(r->location), "%s/", r->path);
            cw_srv_reply(r, 308);
        } else {
            cw_srv_reply_fail(r, 404, "not_found", NULL, "no route %s %s",
                              r->method, r->path);
        }
        return;
    }
    r->allow[0] = '\0';
    r->route = &cw_srv_routes[r->route_ix];
    const struct cw_srv_route *rt = r->route;
    r->origin = cw_srv_header(r, "Origin");
    if (same_origin(r->origin, cw_srv_header(r, "Host")))
        r->origin = NULL; /* a page this server served: not cross-origin */

    if (!(rt->flags & CW_ROUTE_NOLIMIT)) {
        int wait = cw_srv_rate_ip(srv, r->ip);
        if (wait) {
            atomic_fetch_add_explicit(&srv->ctr.rate_limited_ip, 1,
                                      memory_order_relaxed);
            r->retry_after = wait;
            cw_srv_reply_fail(r, 429, "rate_limited", NULL,
                              "too many requests from this address: retry "
                              "after %d s",
                              wait);
            return;
        }
    }
    if (rt->auth == CW_AUTH_PUBLIC || rt->auth == CW_AUTH_SECRET) {
        if (check_key(r) < 0)
            return;
    }
    if (r->origin && (rt->flags & CW_ROUTE_CORS) &&
        cw_srv_origin_allowed(srv, r->origin, r->key.kind ? &r->key : NULL))
        snprintf(r->cors, sizeof(r->cors), "%s", r->origin);

    if (rt->flags & (CW_ROUTE_BODY | CW_ROUTE_BODY_OPT)) {
        if (len > srv->cfg.max_body) {
            cw_srv_reply_fail(r, 413, "body_too_large", NULL,
                              "the body is %llu bytes, more than the limit "
                              "of %zu",
                              len, srv->cfg.max_body);
            return;
        }
        if ((rt->flags & CW_ROUTE_BODY || has_body) &&
            !is_json_type(cw_srv_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
            cw_srv_reply_fail(r, 415, "unsupported_media_type", NULL,
                              "the body must be JSON (Content-Type: "
                              "application/json)");
            return;
        }
        r->body.max = srv->cfg.max_body;
    }
}

/* ---- Idempotency-Key ---- */

/* A POST with an Idempotency-Key (and an API key) is answered once: the
 * first answer is kept for IDEM_HOURS and a retry with the same key, on
 * the same route with the same API key and the same body, gets it again
 * (with Idempotent-Replayed: true) without running anything; the same key
 * with another body is 422, and 409 while the first request still runs.
 * Answers that say nothing happened (429, 503) are not kept. */
#define IDEM_HOURS 24

static void idem_scope(const struct cw_req *r, struct cw_idem_rec *in)
{
    memset(in, 0, sizeof(*in));
    in->key_id = r->key.id;
    in->idem_key = r->idem_key;
    in->method = r->method;
    in->path = r->route->path;
}

/* 0: go on (claimed, or no key given); -1: answered here. */
static int idem_start(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    if (strcmp(r->method, "POST") || !r->key.kind)
        return 0;
    const char *k = cw_srv_header(r, "Idempotency-Key");
    if (!k)
        return 0;
    size_t n = strlen(k);
    int ok = n > 0 && n < sizeof(r->idem_key);
    for (size_t i = 0; ok && i < n; i++)
        ok = k[i] > ' ' && k[i] <= '~';
    if (!ok) {
        cw_srv_reply_fail(r, 400, "invalid_idempotency_key", NULL,
                          "Idempotency-Key must be 1-%zu printable ASCII "
                          "characters without spaces",
                          sizeof(r->idem_key) - 1);
        return -1;
    }
    memcpy(r->idem_key, k, n + 1);
    unsigned char h[16];
    char hash[33], now[32], since[32];
    crypto_generichash(h, sizeof(h), (const unsigned char *)r->body.buf,
                       r->body.len, NULL, 0);
    sodium_bin2hex(hash, sizeof(hash), h, sizeof(h));
    time_t t = time(NULL);
    cw_app_iso(t, now, sizeof(now));
    cw_app_iso(t - IDEM_HOURS * 3600, since, sizeof(since));
    struct cw_idem_rec in, out;
    idem_scope(r, &in);
    in.request_hash = hash;
    in.created_at = now;
    struct cw_buf err = CW_BUF_INIT;
    struct cw_store *s = srv->wstore;
    pthread_mutex_lock(&srv->wlock);
    int rc = s->ops->idem_claim(s, &in, since, &out, &err);
    int status = rc == 1 ? out.status : 0, same = 0;
    if (rc == 1) {
        same = !strcmp(out.request_hash, hash);
        if (same && status) { /* the answer, copied while s holds it */
            cw_buf_reset(&r->out);
            cw_buf_adds(&r->out, out.body ? out.body : "");
            r->content_type =
                out.content_type
                    ? cw_srv_arena_strdup(&r->arena, out.content_type)
                    : NULL;
        }
    }
    pthread_mutex_unlock(&srv->wlock);
    if (rc < 0) {
        cw_srv_reply_store_error(r, rc, "Idempotency-Key", &err);
    } else if (rc == 0) {
        r->idem = 1;
    } else {
        struct cw_srv_error e;
        if (!same)
            cw_srv_fail(&e, 422, "idempotency_key_reused", NULL,
                        "Idempotency-Key '%s' was used on %s %s with another "
                        "body: use a new key for a new request",
                        r->idem_key, r->method, r->route->path);
        else if (!status)
            cw_srv_fail(&e, 409, "idempotency_key_in_use", NULL,
                        "a request with Idempotency-Key '%s' is still "
                        "running: retry later",
                        r->idem_key);
        if (!same || !status) {
            e.type = "idempotency_error";
            cw_srv_reply_error(r, &e);
        } else {
            r->idem_replayed = 1;
            cw_srv_reply(r, status);
        }
    }
    cw_buf_release(&err);
    return rc == 0 ? 0 : -1;
}

/* After the handler: keeps its answer (or releases the claim). */
static void idem_end(struct cw_req *r)
{
    if (!r->idem)
        return;
    struct cw_srv *srv = r->srv;
    struct cw_idem_rec in;
    idem_scope(r, &in);
    int keep = r->status != 429 && r->status != 503;
    in.status = keep ? r->status : 0;
    in.content_type = r->content_type;
    in.body = cw_buf_str(&r->out);
    struct cw_buf err = CW_BUF_INIT;
    pthread_mutex_lock(&srv->wlock);
    int rc = srv->wstore->ops->idem_finish(srv->wstore, &in, &err);
    pthread_mutex_unlock(&srv->wlock);
    if (rc < 0)
        cw_srv_log("error", "cannot keep the answer of an Idempotency-Key",
                   cw_buf_str(&err), NULL);
    cw_buf_release(&err);
}

/* ---- libmicrohttpd callbacks ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct cw_srv *srv = cls;
    struct cw_req *r = *con_cls;
    (void)version;
    if (!r) {
        r = req_new(srv, c, url, method);
        *con_cls = r;
        start(r);
        return MHD_YES;
    }
    r->conn = c;
    if (*upload_size) {
        if (!r->queued && !r->too_big && r->body.max &&
            cw_buf_add(&r->body, upload, *upload_size) < 0)
            r->too_big = 1;
        if (r->too_big || !r->body.max) {
            r->discarded += *upload_size;
            /* a chunked body far past the limit: stop reading it */
            if (r->discarded > 4 * srv->cfg.max_body + (1u << 20))
                return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->held) { /* an early answer, held until now */
        int status = r->held;
        r->held = r->hold = r->queued = 0;
        cw_srv_reply(r, status);
        return MHD_YES;
    }
    r->hold = 0;
    if (r->queued)
        return MHD_YES;
    if (r->too_big) {
        cw_srv_reply_fail(r, 413, "body_too_large", NULL,
                          "the body is more than the limit of %zu bytes",
                          srv->cfg.max_body);
        return MHD_YES;
    }
    if (idem_start(r) < 0)
        return MHD_YES;
    r->route->fn(r);
    if (!r->queued)
        cw_srv_reply_fail(r, 500, "internal_error", NULL,
                          "the handler gave no answer");
    idem_end(r);
    return MHD_YES;
}

/* The access log: one JSON line per request on stderr. A write(2) per
 * request cost as much as the rest of a decision's HTTP handling, so each
 * thread gathers its lines and writes them whole, in one call, when they
 * reach ALOG_BYTES or are ALOG_MS old (the main thread's tick), as nginx's
 * buffered access_log does; lines of different threads never interleave,
 * and a line is at most ALOG_MS late. */
#define ALOG_BYTES 32768
#define ALOG_MS 100

static void alog_write(struct cw_buf *b)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(2, b->buf + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* stderr is gone: nothing better to do */
        off += (size_t)w;
    }
    cw_buf_reset(b);
}

static void access_log(struct cw_req *r, double secs)
{
    struct cw_buf *b = &r->th->tmp;
    char ts[40];
    cw_srv_now_iso(ts, sizeof(ts), 1);
    cw_buf_reset(b);
    cw_buf_adds(b, "{\"ts\":\"");
    cw_buf_adds(b, ts);
    cw_buf_adds(b, "\",\"level\":\"info\",\"msg\":\"request\",\"request_id\":");
    cw_buf_add_json_str(b, r->request_id);
    cw_buf_adds(b, ",\"trace_id\":");
    if (r->trace_id[0]) {
        cw_buf_addch(b, '"');
        cw_buf_adds(b, r->trace_id);
        cw_buf_addch(b, '"');
    } else {
        cw_buf_adds(b, "null");
    }
    cw_buf_adds(b, ",\"method\":\"");
    cw_buf_adds(b, r->method);
    cw_buf_adds(b, "\",\"path\":");
    cw_buf_add_json_str(b, r->path);
    cw_buf_adds(b, ",\"route\":");
    if (r->route)
        cw_buf_add_json_str(b, r->route->path);
    else
        cw_buf_adds(b, "null");
    cw_buf_adds(b, ",\"status\":");
    cw_app_add_i64(b, r->status);
    cw_buf_adds(b, ",\"duration_ms\":");
    cw_app_add_fixed(b, secs * 1000.0, 3);
    cw_buf_adds(b, ",\"bytes_in\":");
    cw_app_add_i64(b, (int64_t)(r->body.len + r->discarded));
    cw_buf_adds(b, ",\"bytes_out\":");
    cw_app_add_i64(b, (int64_t)r->bytes_out);
    cw_buf_adds(b, ",\"ip\":");
    cw_buf_add_json_str(b, r->ip);
    cw_buf_adds(b, ",\"key_id\":");
    if (r->key.kind)
        cw_buf_add_json_str(b, r->key.id);
    else
        cw_buf_adds(b, "null");
    if (r->error_code) {
        cw_buf_adds(b, ",\"error\":");
        cw_buf_add_json_str(b, r->error_code);
    }
    cw_buf_adds(b, "}\n");
    pthread_mutex_lock(&r->th->alog_lock);
    cw_buf_add(&r->th->alog, b->buf, b->len);
    if (r->th->alog.len >= ALOG_BYTES)
        alog_write(&r->th->alog);
    pthread_mutex_unlock(&r->th->alog_lock);
}

/* Every thread's access-log lines out (every ALOG_MS, and at the end). */
static void alog_flush(struct cw_srv *srv)
{
    pthread_mutex_lock(&srv->threads_lock);
    for (struct cw_srv_thread *th = srv->threads; th; th = th->next) {
        pthread_mutex_lock(&th->alog_lock);
        alog_write(&th->alog);
        pthread_mutex_unlock(&th->alog_lock);
    }
    pthread_mutex_unlock(&srv->threads_lock);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct cw_srv *srv = cls;
    struct cw_req *r = *con_cls;
    (void)c;
    (void)toe;
    if (!r)
        return;
    *con_cls = NULL;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - r->t0.tv_sec) +
                  (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e9;
    if (!r->status)
        r->status = 500; /* the client went away before an answer */
    cw_srv_metrics_request(srv->metrics, r->route ? r->route_ix : -1, r->status,
                           secs);
    if (srv->cfg.access_log) {
        struct cw_srv_thread *th = pthread_getspecific(srv->thread_key);
        if (th == r->th)
            access_log(r, secs);
    }
    req_free(r);
    atomic_fetch_sub_explicit(&srv->inflight, 1, memory_order_relaxed);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    struct cw_buf b = CW_BUF_INIT;
    cw_buf_adds(&b, "{\"level\":\"warn\",\"msg\":\"http\",\"detail\":");
    cw_buf_add_json_str(&b, msg);
    cw_buf_adds(&b, "}\n");
    ssize_t w = write(2, b.buf, b.len);
    (void)w;
    cw_buf_release(&b);
}

/* ---- lifecycle ---- */

void cw_srv_log(const char *level, const char *msg, const char *detail,
                const char *fields)
{
    struct cw_buf b = CW_BUF_INIT;
    char ts[40];
    cw_srv_now_iso(ts, sizeof(ts), 1);
    cw_buf_addf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level);
    cw_buf_add_json_str(&b, msg);
    if (detail) {
        cw_buf_adds(&b, ",\"detail\":");
        cw_buf_add_json_str(&b, detail);
    }
    if (fields)
        cw_buf_adds(&b, fields);
    cw_buf_adds(&b, "}\n");
    ssize_t w = write(2, b.buf, b.len);
    (void)w;
    cw_buf_release(&b);
}

static void log_line(const char *level, const char *msg, const char *detail)
{
    cw_srv_log(level, msg, detail, NULL);
}

int cw_srv_write_tx(struct cw_srv *srv,
                    int (*write)(struct cw_store *s, void *ctx,
                                 struct cw_buf *err),
                    void *ctx, struct cw_buf *err)
{
    struct cw_store *s = srv->wstore;
    pthread_mutex_lock(&srv->wlock);
    int rc = s->ops->begin(s, err);
    if (rc == 0)
        rc = write(s, ctx, err);
    if (rc == 0)
        rc = s->ops->commit(s, err);
    else
        s->ops->rollback(s, NULL);
    pthread_mutex_unlock(&srv->wlock);
    return rc;
}

void cw_srv_experiment_reload(struct cw_srv *srv, struct cw_store *s)
{
    char *v = NULL;
    struct cw_experiment e;
    int ok = 0;
    if (s->ops->meta_get(s, "experiment", &v, NULL) == 0) {
        struct cw_buf err = CW_BUF_INIT;
        if (cw_experiment_from_json(v, strlen(v), &e, &err) == 0)
            ok = 1;
        else
            log_line("warn", "experiment configuration ignored",
                     cw_buf_str(&err));
        cw_buf_release(&err);
    }
    cw_free(v);
    pthread_mutex_lock(&srv->exp_lock);
    srv->has_exp = ok;
    if (ok)
        srv->exp = e;
    atomic_fetch_add(&srv->exp_gen, 1);
    pthread_mutex_unlock(&srv->exp_lock);
}

const struct cw_experiment *cw_srv_experiment(struct cw_srv *srv,
                                              struct cw_srv_thread *th)
{
    uint64_t gen = atomic_load_explicit(&srv->exp_gen, memory_order_acquire);
    if (th->exp_gen != gen) {
        pthread_mutex_lock(&srv->exp_lock);
        th->has_exp = srv->has_exp;
        if (srv->has_exp)
            th->exp = srv->exp;
        th->exp_gen = atomic_load(&srv->exp_gen);
        pthread_mutex_unlock(&srv->exp_lock);
    }
    return th->has_exp ? &th->exp : NULL;
}

int cw_srv_load_file(const char *path, char **data, size_t *len)
{
    struct cw_map map = {NULL, 0};
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_file_map(&map, path, &err);
    cw_buf_release(&err);
    if (rc < 0)
        return -1;
    *data = cw_strndup(map.data, map.len);
    *len = map.len;
    cw_file_unmap(&map);
    return 0;
}

void cw_srv_data_path(struct cw_buf *out, const char *installed,
                      const char *source)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            cw_buf_reset(out);
            cw_buf_addf(out, "%s/../share/cartwise/%s", exe, installed);
            if (access(cw_buf_str(out), R_OK) == 0)
                return;
        }
    }
    cw_buf_reset(out);
    cw_buf_addf(out, "%s/%s", CW_SOURCE_DIR, source);
}

static void load_openapi(struct cw_srv *srv)
{
    const char *path = srv->cfg.openapi;
    const char *env = getenv("CARTWISE_OPENAPI");
    struct cw_buf p = CW_BUF_INIT;
    if (!path && env && *env)
        path = env;
    if (!path) {
        cw_srv_data_path(&p, "openapi.json", "docs/openapi.json");
        path = cw_buf_str(&p);
    }
    if (cw_srv_load_file(path, &srv->openapi, &srv->openapi_len) < 0)
        log_line("warn", "no OpenAPI document: GET /v1/openapi.json is 404",
                 path);
    cw_buf_release(&p);
}

static void *poll_main(void *arg)
{
    struct cw_srv *srv = arg;
    struct cw_store *s = NULL;
    struct cw_buf err = CW_BUF_INIT;
    if (cw_store_open(&s, srv->db, &err) < 0) {
        log_line("error", "model poller: cannot open the store",
                 cw_buf_str(&err));
        cw_buf_release(&err);
        return NULL;
    }
    pthread_mutex_lock(&srv->poll_lock);
    while (!srv->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double secs = srv->cfg.model_poll;
        until.tv_sec += (time_t)secs;
        until.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->poll_cond, &srv->poll_lock, &until);
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->poll_lock);
        cw_buf_reset(&err);
        if (cw_srv_holder_refresh(srv, s, &err) < 0 && err.len)
            log_line("warn", "model poller", cw_buf_str(&err));
        cw_srv_incentives_reload(srv, s); /* another node may have set it */
        pthread_mutex_lock(&srv->poll_lock);
    }
    pthread_mutex_unlock(&srv->poll_lock);
    cw_store_close(s);
    cw_buf_release(&err);
    return NULL;
}

static int open_stores(struct cw_srv *srv, struct cw_buf *err)
{
    struct cw_buf e = CW_BUF_INIT;
    int rc = cw_store_open(&srv->wstore, srv->db, &e);
    if (rc == 0)
        rc = cw_store_open(&srv->astore, srv->db, &e);
    if (rc < 0) {
        char shown[512];
        cw_err(err, rc, "cannot open the store '%s': %s",
               cw_store_shown(srv->db, shown, sizeof(shown)),
               e.len ? cw_buf_str(&e) : cw_strerror(rc));
    }
    cw_buf_release(&e);
    return rc;
}

static struct MHD_Daemon *start_daemon(struct cw_srv *srv, struct cw_buf *err)
{
    const struct cw_srv_config *c = &srv->cfg;
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *sa = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_USE_ITC | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    if (c->bind && *c->bind) {
        memset(&a4, 0, sizeof(a4));
        memset(&a6, 0, sizeof(a6));
        if (inet_pton(AF_INET, c->bind, &a4.sin_addr) == 1) {
            a4.sin_family = AF_INET;
            a4.sin_port = htons((uint16_t)c->port);
            sa = (struct sockaddr *)&a4;
        } else if (inet_pton(AF_INET6, c->bind, &a6.sin6_addr) == 1) {
            a6.sin6_family = AF_INET6;
            a6.sin6_port = htons((uint16_t)c->port);
            sa = (struct sockaddr *)&a6;
            flags |= MHD_USE_IPv6;
        } else {
            cw_err(err, CW_EINVAL,
                   "--bind wants an IPv4 or IPv6 address, "
                   "not '%s'",
                   c->bind);
            return NULL;
        }
    }
    unsigned threads = c->threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, c->conn_limit, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, c->per_ip_limit, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, c->timeout, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 8 * 1024, NULL},
        {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
        {sa ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_END, 0, sa},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL, on_request, srv,
                         MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
                         MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!d)
        cw_err(err, CW_EIO, "cannot listen on %s port %u: %s",
               c->bind ? c->bind : "all addresses", c->port,
               errno ? strerror(errno) : "libmicrohttpd refused to start");
    return d;
}

static void srv_free(struct cw_srv *srv)
{
    struct cw_srv_thread *th = srv->threads;
    while (th) {
        struct cw_srv_thread *next = th->next;
        thread_free(th);
        th = next;
    }
    cw_srv_holder_release(&srv->holder);
    cw_srv_metrics_free(srv->metrics);
    cw_srv_auth_free(srv->auth);
    cw_store_close(srv->wstore);
    cw_store_close(srv->astore);
    cw_free(srv->openapi);
    cw_srv_web_free(srv);
    cw_free(srv->db);
    pthread_key_delete(srv->thread_key);
    pthread_mutex_destroy(&srv->wlock);
    pthread_mutex_destroy(&srv->alock);
    pthread_mutex_destroy(&srv->threads_lock);
    pthread_mutex_destroy(&srv->poll_lock);
    pthread_cond_destroy(&srv->poll_cond);
    pthread_mutex_destroy(&srv->exp_lock);
    pthread_mutex_destroy(&srv->training.lock);
    cw_srv_incentives_release(srv);
    cw_free(srv);
}

/* Waits for SIGINT or SIGTERM (blocked in every thread, so only here),
 * writing out the access log every ALOG_MS meanwhile. */
static int wait_signal(struct cw_srv *srv, const sigset_t *set)
{
    const struct timespec tick = {0, ALOG_MS * 1000000L};
    for (;;) {
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig > 0)
            return sig;
        alog_flush(srv);
    }
}

int cw_srv_run(const struct cw_srv_config *cfg, struct cw_buf *err)
{
    if (sodium_init() < 0)
        return cw_err(err, CW_EIO, "libsodium failed to initialize");
    struct cw_srv *srv = cw_calloc(1, sizeof(*srv));
    srv->cfg = *cfg;
    srv->db = cw_strdup(cfg->db);
    srv->started = cw_srv_mono();
    pthread_mutex_init(&srv->wlock, NULL);
    pthread_mutex_init(&srv->alock, NULL);
    pthread_mutex_init(&srv->threads_lock, NULL);
    pthread_mutex_init(&srv->poll_lock, NULL);
    pthread_cond_init(&srv->poll_cond, NULL);
    pthread_mutex_init(&srv->exp_lock, NULL);
    pthread_mutex_init(&srv->training.lock, NULL);
    cw_srv_incentives_init(srv);
    pthread_key_create(&srv->thread_key, NULL);
    cw_srv_holder_init(&srv->holder);
    srv->metrics = cw_srv_metrics_new();
    srv->auth = cw_srv_auth_new();

    /* every thread started from here on inherits the blocked signals */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);

    int rc = open_stores(srv, err);
    if (rc < 0)
        goto out;
    struct cw_buf e = CW_BUF_INIT;
    rc = cw_srv_holder_refresh(srv, srv->astore, &e);
    if (rc < 0)
        log_line("warn",
                 rc == CW_ENOENT ? "no trained model yet: /readyz is 503 "
                                   "until POST /v1/train"
                                 : "cannot load the model",
                 cw_buf_str(&e));
    cw_buf_release(&e);
    cw_srv_experiment_reload(srv, srv->astore);
    cw_srv_incentives_reload(srv, srv->astore);
    load_openapi(srv);
    cw_srv_web_load(srv);
    if ((rc = cw_srv_declog_start(srv, cfg->declog_capacity, err)) < 0)
        goto out;
    if (cfg->model_poll > 0) {
        if (pthread_create(&srv->poller, NULL, poll_main, srv) == 0)
            srv->poller_running = 1;
    }
    srv->daemon = start_daemon(srv, err);
    if (!srv->daemon) {
        rc = CW_EIO;
    } else {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
        char detail[128];
        snprintf(detail, sizeof(detail), "%s:%u",
                 cfg->bind && *cfg->bind ? cfg->bind : "*",
                 di ? (unsigned)di->port : cfg->port);
        log_line("info", "listening", detail);
        int sig = wait_signal(srv, &set);
        log_line("info", "shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        rc = 0;
    }

out:
    /* stop accepting, let what is in flight finish, stop */
    pthread_mutex_lock(&srv->poll_lock);
    srv->stopping = 1;
    pthread_cond_broadcast(&srv->poll_cond);
    pthread_mutex_unlock(&srv->poll_lock);
    if (srv->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
        double until = cw_srv_mono() + 10.0;
        while (atomic_load(&srv->inflight) > 0 && cw_srv_mono() < until)
            usleep(10000);
        MHD_stop_daemon(srv->daemon);
        alog_flush(srv);
    }
    if (srv->poller_running)
        pthread_join(srv->poller, NULL);
    pthread_mutex_lock(&srv->training.lock);
    int training = srv->training.running;
    pthread_mutex_unlock(&srv->training.lock);
    if (training)
        log_line("info", "waiting for the training run to finish", NULL);
    cw_srv_training_join(srv, 1);
    cw_srv_declog_stop(srv);
    if (srv->daemon)
        log_line("info", "stopped", NULL);
    srv_free(srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc < 0 ? -1 : 0;
}
