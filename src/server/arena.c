/*
 * arena.c: the per-request arena: bump allocation from chunks, freed all at
 * once when the request ends. The first chunk is kept for the next request
 * on the same thread, so a small request allocates nothing here.
 */
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "server/server.h"

#define CHUNK 8192

struct cw_srv_chunk {
    struct cw_srv_chunk *next;
    size_t size;
    _Alignas(16) char data[];
};

void cw_srv_arena_init(struct cw_srv_arena *a)
{
    memset(a, 0, sizeof(*a));
}

void *cw_srv_arena_alloc(struct cw_srv_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if (n > a->left) {
        struct cw_srv_chunk *c;
        if (!a->head && a->spare && a->spare->size >= n) {
            c = a->spare;
            a->spare = NULL;
        } else {
            size_t size = n > CHUNK ? n : CHUNK;
            c = cw_malloc(sizeof(*c) + size);
            c->size = size;
        }
        c->next = a->head;
        a->head = c;
        a->p = c->data;
        a->left = c->size;
    }
    void *p = a->p;
    a->p += n;
    a->left -= n;
    return p;
}

char *cw_srv_arena_strndup(struct cw_srv_arena *a, const char *s, size_t n)
{
    char *p = cw_srv_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cw_srv_arena_strdup(struct cw_srv_arena *a, const char *s)
{
    return s ? cw_srv_arena_strndup(a, s, strlen(s)) : NULL;
}

void cw_srv_arena_reset(struct cw_srv_arena *a)
{
    struct cw_srv_chunk *c = a->head;
    while (c) {
        struct cw_srv_chunk *next = c->next;
        if (!a->spare && c->size == CHUNK) {
            a->spare = c;
        } else {
            cw_free(c);
        }
        c = next;
    }
    a->head = NULL;
    a->p = NULL;
    a->left = 0;
}

void cw_srv_arena_release(struct cw_srv_arena *a)
{
    cw_srv_arena_reset(a);
    cw_free(a->spare);
    memset(a, 0, sizeof(*a));
}
