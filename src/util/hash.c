/*
 * hash.c: FNV-1a (benchmark protocol), xxh3 (libxxhash) and the string
 * interning table that turns SKUs and ids into dense array indexes.
 */
#include <string.h>
#include <xxhash.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_hash.h"

uint32_t cw_fnv1a32(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x01000193u;
    return h;
}

uint64_t cw_xxh3(const void *data, size_t n)
{
    return XXH3_64bits(data, n);
}

uint64_t cw_xxh3_seed(const void *data, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, n, seed);
}

void cw_intern_init(struct cw_intern *t)
{
    memset(t, 0, sizeof(*t));
}

void cw_intern_release(struct cw_intern *t)
{
    for (size_t i = 0; i < t->n; i++)
        cw_free(t->keys[i]);
    cw_free(t->keys);
    cw_free(t->lens);
    cw_free(t->slots);
    memset(t, 0, sizeof(*t));
}

static size_t probe(const struct cw_intern *t, const char *key, size_t len,
                    uint64_t h)
{
    size_t mask = t->nslots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t s = t->slots[i];
        if (!s)
            return i;
        if (t->lens[s - 1] == len && !memcmp(t->keys[s - 1], key, len))
            return i;
    }
}

static void rehash(struct cw_intern *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 64;
    cw_free(t->slots);
    t->slots = cw_calloc(n, sizeof(*t->slots));
    t->nslots = n;
    for (size_t id = 0; id < t->n; id++) {
        uint64_t h = XXH3_64bits(t->keys[id], t->lens[id]);
        t->slots[probe(t, t->keys[id], t->lens[id], h)] = (uint32_t)id + 1;
    }
}

long cw_intern_find(const struct cw_intern *t, const char *key, size_t len)
{
    if (!t->nslots)
        return -1;
    uint32_t s = t->slots[probe(t, key, len, XXH3_64bits(key, len))];
    return s ? (long)s - 1 : -1;
}

uint32_t cw_intern_add(struct cw_intern *t, const char *key, size_t len,
                       int *added)
{
    if ((t->n + 1) * 2 > t->nslots)
        rehash(t);
    size_t i = probe(t, key, len, XXH3_64bits(key, len));
    if (t->slots[i]) {
        if (added)
            *added = 0;
        return t->slots[i] - 1;
    }
    if (t->n == t->cap_keys) {
        size_t cap = t->cap_keys;
        CW_GROW(t->keys, cap, t->n + 1);
        t->lens = cw_realloc(t->lens, cap * sizeof(*t->lens));
        t->cap_keys = cap;
    }
    t->keys[t->n] = cw_strndup(key, len);
    t->lens[t->n] = (uint32_t)len;
    t->slots[i] = (uint32_t)++t->n;
    if (added)
        *added = 1;
    return (uint32_t)(t->n - 1);
}
