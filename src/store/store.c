/*
 * store.c: picks the store backend named by a URL (see cw_store.h), and the
 * record checks both backends share (store_int.h).
 *
 * A "postgres://" or "postgresql://" URL selects PostgreSQL; anything else
 * is a SQLite file path. Each backend owns its struct cw_store (embedded
 * first in its private struct) and frees it in its close op, so closing goes
 * through the ops table.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_store.h"
#include "store/store_int.h"

static int is_postgres(const char *url)
{
    return !strncasecmp(url, "postgres://", 11) ||
           !strncasecmp(url, "postgresql://", 13);
}

int cw_store_open(struct cw_store **out, const char *url, struct cw_buf *err)
{
    *out = NULL;
    if (!url || !*url)
        return cw_err(err, CW_EINVAL,
                      "no store given (a file path or a "
                      "postgres:// url)");
    if (is_postgres(url))
        return cw__store_pg_open(out, url, err);
    return cw__store_sqlite_open(out, url, err);
}

void cw_store_close(struct cw_store *s)
{
    if (s)
        s->ops->close(s);
}

const char *cw_store_file(const char *url)
{
    return url && *url && !is_postgres(url) ? url : NULL;
}

char *cw_store_shown(const char *url, char *out, size_t size)
{
    if (!size)
        return out;
    struct cw_buf b = CW_BUF_INIT;
    const char *u = url ? url : "";
    if (!is_postgres(u)) {
        cw_buf_adds(&b, u);
    } else {
        /* scheme://[user[:password]@]host...[?k=v&...] */
        const char *auth = strstr(u, "://");
        auth = auth ? auth + 3 : u;
        const char *end = auth + strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', (size_t)(end - auth));
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            cw_buf_add(&b, u, (size_t)(colon + 1 - u));
            cw_buf_adds(&b, "***");
            u = at;
        }
        /* parameters: password=... up to the next & */
        const char *q = strchr(u, '?');
        if (q) {
            cw_buf_add(&b, u, (size_t)(q - u));
            u = q;
            while (*u) {
                size_t n = strcspn(u + 1, "&") + 1; /* "?k=v" or "&k=v" */
                if (n > 10 && !strncmp(u + 1, "password=", 9)) {
                    cw_buf_add(&b, u, 10);
                    cw_buf_adds(&b, "***");
                } else {
                    cw_buf_add(&b, u, n);
                }
                u += n;
            }
        }
        cw_buf_adds(&b, u);
    }
    snprintf(out, size, "%s", cw_buf_str(&b));
    cw_buf_release(&b);
    return out;
}

int cw__store_check_product(const struct cw_product_rec *p, struct cw_buf *err)
{
    if (!p->sku || !*p->sku)
        return cw_err(err, CW_EINVAL, "product without a sku");
    return 0;
}

int cw__store_check_order(const struct cw_order_rec *o, struct cw_buf *err)
{
    if (!o->id || !*o->id)
        return cw_err(err, CW_EINVAL, "order without an id");
    return 0;
}

int cw__store_check_line(const struct cw_line_rec *l, struct cw_buf *err)
{
    if (!l->order_id || !l->sku)
        return cw_err(err, CW_EINVAL, "order line %s:%d without %s",
                      l->order_id ? l->order_id : "?", l->line_no,
                      l->order_id ? "a sku" : "an order id");
    return 0;
}

int cw__store_check_return(const struct cw_return_rec *r, struct cw_buf *err)
{
    if (!r->id || !r->sku)
        return cw_err(err, CW_EINVAL, "return '%s' without %s",
                      r->id ? r->id : "?", r->id ? "a sku" : "an id");
    return 0;
}

static int check_put(const struct cw_store_put *p, size_t i, struct cw_buf *err)
{
    switch (p->kind) {
    case CW_STORE_PRODUCT:
        return cw__store_check_product(p->rec.product, err);
    case CW_STORE_ORDER:
        return cw__store_check_order(p->rec.order, err);
    case CW_STORE_LINE:
        return cw__store_check_line(p->rec.line, err);
    case CW_STORE_RETURN:
        return cw__store_check_return(p->rec.ret, err);
    }
    return cw_err(err, CW_EINVAL, "record %zu of a batch: unknown kind %d", i,
                  (int)p->kind);
}

int cw__store_check_batch(const struct cw_store_put *p, size_t n,
                          size_t *failed, struct cw_buf *err)
{
    *failed = n;
    if (n > CW_STORE_BATCH_MAX)
        return cw_err(err, CW_EINVAL, "%zu records at once, at most %d", n,
                      CW_STORE_BATCH_MAX);
    for (size_t i = 0; i < n; i++) {
        int code = check_put(&p[i], i, err);
        if (code) {
            *failed = i;
            return code;
        }
    }
    return 0;
}

static const char *const event_types[] = {
#define EVENT_NAME(e, name) name,
    CW_EVENT_TYPES(EVENT_NAME)
#undef EVENT_NAME
};

static int known_event_type(const char *type)
{
    for (size_t i = 0; i < CW_EVENT__COUNT; i++)
        if (!strcmp(type, event_types[i]))
            return 1;
    return 0;
}

int cw__store_check_event(const struct cw_event_rec *e, struct cw_buf *err)
{
    if (!e->id || !*e->id)
        return cw_err(err, CW_EINVAL, "event without an id");
    if (!e->session || !e->type || !e->ts)
        return cw_err(err, CW_EINVAL, "event '%s' without %s", e->id,
                      !e->session ? "a session"
                      : !e->type  ? "a type"
                                  : "a ts");
    if (!known_event_type(e->type))
        return cw_err(err, CW_EINVAL, "event '%s': unknown type '%s'", e->id,
                      e->type);
    return 0;
}

int cw__store_check_decisions(const struct cw_decision_rec *d, size_t n,
                              struct cw_buf *err)
{
    if (n > CW_STORE_DECISIONS_MAX)
        return cw_err(err, CW_EINVAL, "%zu decisions at once, at most %d", n,
                      CW_STORE_DECISIONS_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!d[i].id || !*d[i].id)
            return cw_err(err, CW_EINVAL, "decision without an id");
        if (!d[i].ts)
            return cw_err(err, CW_EINVAL, "decision '%s' without a ts",
                          d[i].id);
    }
    return 0;
}

int cw__store_check_key(const struct cw_key_rec *k, struct cw_buf *err)
{
    if (!k->id || !*k->id || !k->hash || !*k->hash)
        return cw_err(err, CW_EINVAL, "key '%s' without %s",
                      k->id ? k->id : "?",
                      !k->id || !*k->id ? "an id" : "a hash");
    if (!k->kind || (strcmp(k->kind, "public") && strcmp(k->kind, "secret")))
        return cw_err(err, CW_EINVAL,
                      "key '%s': kind must be 'public' or 'secret'", k->id);
    return 0;
}

int cw__store_check_idem(const struct cw_idem_rec *in, struct cw_buf *err)
{
    if (!in->key_id || !in->idem_key || !in->method || !in->path ||
        !in->request_hash || !in->created_at)
        return cw_err(err, CW_EINVAL, "idempotency entry incomplete");
    return 0;
}

int cw__store_check_lease(int64_t day, int64_t limit, int64_t want,
                          struct cw_buf *err)
{
    if (day < 0 || limit < 0 || want < 0)
        return cw_err(err, CW_EINVAL,
                      "budget lease: day %lld, limit %lld, want %lld: must "
                      "not be negative",
                      (long long)day, (long long)limit, (long long)want);
    return 0;
}

void cw__store_now(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cw__store_check_key_hash(const char *hash, struct cw_buf *err)
{
    return hash ? 0 : cw_err(err, CW_EINVAL, "key lookup without a hash");
}

int cw__store_check_key_id(const char *id, struct cw_buf *err)
{
    return id && *id ? 0 : cw_err(err, CW_EINVAL, "revoke: no key id");
}

int cw__store_check_webhook_id(const char *id, struct cw_buf *err)
{
    return id && *id ? 0
                     : cw_err(err, CW_EINVAL, "webhook delivery without an id");
}

int cw__store_check_meta_key(const char *key, struct cw_buf *err)
{
    return key ? 0 : cw_err(err, CW_EINVAL, "setting without a key");
}

int cw__store_model_prepare(struct cw_model_info *info, struct cw_buf *err)
{
    if (!info->path[0])
        return cw_err(err, CW_EINVAL, "model version without a path");
    if (!info->created_at[0])
        cw__store_now(info->created_at, sizeof(info->created_at));
    return 0;
}
