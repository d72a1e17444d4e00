/*
 * alloc.c: the aborting, counting allocator (see cw_alloc.h).
 *
 * The live counter is atomic so the server's threads can share it; tests
 * read it to prove that every allocation was released.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_alloc.h"

static atomic_long live;

static void oom(size_t n)
{
    fprintf(stderr, "cartwise: out of memory allocating %zu bytes\n", n);
    abort();
}

void *cw_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    atomic_fetch_add(&live, 1);
    return p;
}

void *cw_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    atomic_fetch_add(&live, 1);
    return p;
}

void *cw_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    if (!p)
        atomic_fetch_add(&live, 1);
    return q;
}

char *cw_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = cw_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *cw_strdup(const char *s)
{
    return s ? cw_strndup(s, strlen(s)) : NULL;
}

void cw_free(void *p)
{
    if (!p)
        return;
    atomic_fetch_sub(&live, 1);
    free(p);
}

long cw_alloc_live(void)
{
    return atomic_load(&live);
}

void cw__grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n = n + n / 2 + 8;
    *arr = cw_realloc(*arr, n * elem);
    *cap = n;
}
