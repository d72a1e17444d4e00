/*
 * auth.c: API keys and rate limits.
 *
 * Keys are random ("pk_live_" or "sk_live_" and 32 characters of
 * [0-9A-Za-z]); the store keeps only hex HMAC-SHA256(pepper, key), with the
 * pepper (32 random bytes, meta "key_pepper") created on first use, so a
 * copy of the database does not give the keys away. The server hashes the
 * bearer key is looked up in a small in-memory cache (found keys for a
 * minute, unknown ones for a few seconds; compared in constant time) and
 * only on a miss hashed and looked up in the store, so that the decide path
 * neither hashes nor touches SQLite; a revoked key stops working within the
 * cache's lifetime.
 *
 * Rate limits are token buckets, one table per scope (key id, client IP),
 * each a fixed open-addressing table under one mutex (held for a few
 * arithmetic operations); when a probe run is full the least recently used
 * bucket is taken over, so memory stays bounded under address scans.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_store.h"
#include "server/server.h"

#define KEY_CACHE 1024 /* power of two */
#define KEY_TTL_FOUND 60.0
#define KEY_TTL_UNKNOWN 5.0
#define BUCKETS 4096 /* power of two */
#define PROBE 8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- keys and pepper ---- */

static int hex_decode(const char *hex, unsigned char *out, size_t n)
{
    size_t got = 0;
    return sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL) == 0 &&
                   got == n
               ? 0
               : -1;
}

int cw_srv_pepper(struct cw_store *s, unsigned char pepper[32],
                  struct cw_buf *err)
{
    char *v = NULL;
    int rc = s->ops->meta_get(s, "key_pepper", &v, err);
    if (rc == 0) {
        rc = hex_decode(v, pepper, 32) == 0
                 ? 0
                 : cw_err(err, CW_ECORRUPT, "the stored key pepper is damaged");
        cw_free(v);
        return rc;
    }
    if (rc != CW_ENOENT)
        return rc;
    /* first use: create it, unless another process just did */
    if ((rc = s->ops->begin(s, err)) < 0)
        return rc;
    rc = s->ops->meta_get(s, "key_pepper", &v, err);
    if (rc == 0) {
        s->ops->rollback(s, NULL);
        rc = hex_decode(v, pepper, 32) == 0
                 ? 0
                 : cw_err(err, CW_ECORRUPT, "the stored key pepper is damaged");
        cw_free(v);
        return rc;
    }
    char hex[65];
    randombytes_buf(pepper, 32);
    sodium_bin2hex(hex, sizeof(hex), pepper, 32);
    rc = s->ops->meta_set(s, "key_pepper", hex, err);
    if (rc == 0)
        rc = s->ops->commit(s, err);
    else
        s->ops->rollback(s, NULL);
    sodium_memzero(hex, sizeof(hex));
    return rc;
}

void cw_srv_key_hash(const unsigned char pepper[32], const char *key, size_t n,
                     char hex[65])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, pepper, 32);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)key, n);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, 65, mac, sizeof(mac));
}

void cw_srv_key_new(enum cw_key_kind kind, char key[64], char id[40])
{
    static const char alnum[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const char *prefix = kind == CW_KEY_SECRET ? "sk_live_" : "pk_live_";
    size_t n = strlen(prefix);
    memcpy(key, prefix, n);
    while (n < strlen(prefix) + 32) {
        unsigned char b[32];
        randombytes_buf(b, sizeof(b));
        for (size_t i = 0; i < sizeof(b) && n < strlen(prefix) + 32; i++)
            if (b[i] < 248) /* 248 = 4 * 62: no modulo bias */
                key[n++] = alnum[b[i] % 62];
    }
    key[n] = '\0';
    /* the public id: prefix and the first 8 characters */
    memcpy(id, key, strlen(prefix) + 8);
    id[strlen(prefix) + 8] = '\0';
}

/* ---- the key cache ---- */

struct key_slot {
    char raw[129]; /* the bearer key as sent: no HMAC on a cache hit */
    size_t raw_len;
    int found;
    double expires;
    struct cw_srv_key key;
};

struct bucket {
    uint64_t h; /* 0: empty */
    double tokens, last;
};

struct rtable {
    pthread_mutex_t lock;
    struct bucket *slots;
};

struct cw_srv_auth_state {
    pthread_mutex_t lock;
    atomic_int have_pepper;
    unsigned char pepper[32];
    uint64_t seed; /* of the cache's hash: no chosen collisions */
    struct key_slot *keys;
    struct rtable by_key, by_ip;
    /* origins of public keys ("cors_key_origins"), for preflights */
    char *key_origins;
    double origins_checked;
};

struct cw_srv_auth_state *cw_srv_auth_new(void)
{
    struct cw_srv_auth_state *a = cw_calloc(1, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    a->keys = cw_calloc(KEY_CACHE, sizeof(*a->keys));
    pthread_mutex_init(&a->by_key.lock, NULL);
    pthread_mutex_init(&a->by_ip.lock, NULL);
    a->by_key.slots = cw_calloc(BUCKETS, sizeof(struct bucket));
    a->by_ip.slots = cw_calloc(BUCKETS, sizeof(struct bucket));
    a->origins_checked = -1e9;
    randombytes_buf(&a->seed, sizeof(a->seed));
    return a;
}

void cw_srv_auth_free(struct cw_srv_auth_state *a)
{
    if (!a)
        return;
    sodium_memzero(a->pepper, sizeof(a->pepper));
    sodium_memzero(a->keys, KEY_CACHE * sizeof(*a->keys));
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->by_key.lock);
    pthread_mutex_destroy(&a->by_ip.lock);
    cw_free(a->keys);
    cw_free(a->by_key.slots);
    cw_free(a->by_ip.slots);
    cw_free(a->key_origins);
    cw_free(a);
}

static int valid_key_text(const char *k, size_t n)
{
    if (n < 8 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] <= ' ' || k[i] > '~')
            return 0;
    return 1;
}

/* Reads (or creates) the pepper once, on the auth store handle. */
static int load_pepper(struct cw_srv *srv)
{
    struct cw_srv_auth_state *a = srv->auth;
    int rc = 0;
    pthread_mutex_lock(&srv->alock);
    if (!atomic_load(&a->have_pepper)) {
        struct cw_buf err = CW_BUF_INIT;
        rc = cw_srv_pepper(srv->astore, a->pepper, &err);
        if (rc == 0)
            atomic_store(&a->have_pepper, 1);
        else
            cw_srv_log("error", "cannot read the key pepper", cw_buf_str(&err),
                       NULL);
        cw_buf_release(&err);
    }
    pthread_mutex_unlock(&srv->alock);
    return rc;
}

/* Asks the store (auth handle) for hash; fills slot. */
static int lookup_store(struct cw_srv *srv, const char *hash,
                        struct key_slot *slot)
{
    struct cw_key_rec rec;
    struct cw_store *s = srv->astore;
    struct cw_buf err = CW_BUF_INIT;
    pthread_mutex_lock(&srv->alock);
    int rc = s->ops->find_key(s, hash, &rec, &err);
    if (rc == 0) {
        slot->found = !rec.revoked;
        slot->key.kind = rec.kind && !strcmp(rec.kind, "secret")
                             ? CW_KEY_SECRET
                             : CW_KEY_PUBLIC;
        snprintf(slot->key.id, sizeof(slot->key.id), "%s",
                 rec.id ? rec.id : "");
        snprintf(slot->key.origins, sizeof(slot->key.origins), "%s",
                 rec.origins ? rec.origins : "");
    } else if (rc == CW_ENOENT) {
        rc = 0;
    }
    pthread_mutex_unlock(&srv->alock);
    if (rc < 0)
        cw_srv_log("error", "key lookup failed", cw_buf_str(&err), NULL);
    slot->expires = now_s() + (slot->found ? KEY_TTL_FOUND : KEY_TTL_UNKNOWN);
    cw_buf_release(&err);
    return rc;
}

int cw_srv_authenticate(struct cw_srv *srv, const char *key, size_t n,
                        struct cw_srv_key *out, struct cw_srv_error *e)
{
    struct cw_srv_auth_state *a = srv->auth;
    memset(out, 0, sizeof(*out));
    if (!valid_key_text(key, n))
        return cw_srv_fail(e, 401, "invalid_api_key", NULL,
                           "the API key is not valid");
    if (!atomic_load_explicit(&a->have_pepper, memory_order_acquire) &&
        load_pepper(srv) < 0)
        return cw_srv_fail(e, 503, "store_unavailable", NULL,
                           "cannot check API keys right now");
    uint64_t h = cw_xxh3_seed(key, n, a->seed);
    struct key_slot *slot = &a->keys[h & (KEY_CACHE - 1)];
    double now = now_s();
    struct key_slot copy;
    int hit = 0;
    pthread_mutex_lock(&a->lock);
    if (slot->expires > now && slot->raw_len == n &&
        sodium_memcmp(slot->raw, key, n) == 0) {
        copy = *slot;
        hit = 1;
    }
    pthread_mutex_unlock(&a->lock);
    if (!hit) {
        char hash[65];
        memset(&copy, 0, sizeof(copy));
        cw_srv_key_hash(a->pepper, key, n, hash);
        int rc = lookup_store(srv, hash, &copy);
        sodium_memzero(hash, sizeof(hash));
        if (rc < 0)
            return cw_srv_fail(e, 503, "store_unavailable", NULL,
                               "cannot check API keys right now");
        memcpy(copy.raw, key, n);
        copy.raw[n] = '\0';
        copy.raw_len = n;
        pthread_mutex_lock(&a->lock);
        *slot = copy;
        pthread_mutex_unlock(&a->lock);
    }
    sodium_memzero(copy.raw, sizeof(copy.raw));
    if (!copy.found)
        return cw_srv_fail(e, 401, "invalid_api_key", NULL,
                           "unknown or revoked API key");
    *out = copy.key;
    return 0;
}

/* origin in a space-separated list */
static int in_list(const char *list, const char *origin)
{
    size_t n = strlen(origin);
    for (const char *p = list; p && *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !memcmp(p, origin, n))
            return 1;
        p += len;
    }
    return 0;
}

int cw_srv_origin_allowed(struct cw_srv *srv, const char *origin,
                          const struct cw_srv_key *key)
{
    if (!origin || !*origin)
        return 0;
    for (size_t i = 0; i < srv->cfg.n_cors; i++)
        if (!strcmp(srv->cfg.cors_origins[i], origin))
            return 1;
    if (key)
        return key->kind == CW_KEY_PUBLIC && in_list(key->origins, origin);
    /* a preflight carries no key: any public key's origin will do */
    struct cw_srv_auth_state *a = srv->auth;
    pthread_mutex_lock(&a->lock);
    int ok = in_list(a->key_origins, origin);
    double last = a->origins_checked;
    pthread_mutex_unlock(&a->lock);
    if (ok || now_s() - last < 5.0)
        return ok;
    char *v = NULL;
    pthread_mutex_lock(&srv->alock);
    if (srv->astore->ops->meta_get(srv->astore, "cors_key_origins", &v, NULL) <
        0)
        v = NULL;
    pthread_mutex_unlock(&srv->alock);
    pthread_mutex_lock(&a->lock);
    cw_free(a->key_origins);
    a->key_origins = v;
    a->origins_checked = now_s();
    ok = in_list(a->key_origins, origin);
    pthread_mutex_unlock(&a->lock);
    return ok;
}

/* ---- token buckets ---- */

static int take(struct rtable *t, const char *name, double rate, double burst)
{
    if (rate <= 0)
        return 0;
    if (burst < 1)
        burst = 1;
    uint64_t h = cw_xxh3(name, strlen(name)) | 1;
    double now = now_s();
    int wait = 0;
    pthread_mutex_lock(&t->lock);
    struct bucket *b = NULL, *oldest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        struct bucket *s = &t->slots[(h + i) & (BUCKETS - 1)];
        if (s->h == h) {
            b = s;
            break;
        }
        if (!s->h) {
            oldest = s;
            break;
        }
        if (!oldest || s->last < oldest->last)
            oldest = s;
    }
    if (!b) {
        b = oldest;
        b->h = h;
        b->tokens = burst;
        b->last = now;
    }
    b->tokens += (now - b->last) * rate;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
    } else {
        wait = (int)ceil((1.0 - b->tokens) / rate);
        if (wait < 1)
            wait = 1;
    }
    pthread_mutex_unlock(&t->lock);
    return wait;
}

int cw_srv_rate_key(struct cw_srv *srv, const char *key_id)
{
    return take(&srv->auth->by_key, key_id, srv->cfg.key_rate,
                srv->cfg.key_burst);
}

int cw_srv_rate_ip(struct cw_srv *srv, const char *ip)
{
    return take(&srv->auth->by_ip, ip, srv->cfg.ip_rate, srv->cfg.ip_burst);
}
