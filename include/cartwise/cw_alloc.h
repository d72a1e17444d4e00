/*
 * cw_alloc.h: the allocator every part of cartwise goes through.
 *
 * Out of memory aborts with a message (as redis does) instead of returning
 * NULL: no caller has a sensible recovery, and NULL checks everywhere hide
 * real bugs. A live-allocation counter lets tests assert that everything
 * allocated was freed.
 */
#ifndef CW_ALLOC_H
#define CW_ALLOC_H

#include <stddef.h>

void *cw_malloc(size_t n);
void *cw_calloc(size_t count, size_t size);
void *cw_realloc(void *p, size_t n);
/* Returns a new NUL-terminated copy of s (NULL stays NULL); caller frees. */
char *cw_strdup(const char *s);
char *cw_strndup(const char *s, size_t n);
void cw_free(void *p);
/* Live allocations made through cw_* and not yet freed (tests check 0). */
long cw_alloc_live(void);

/* Grow *arr (of *cap elements of size elem) to hold at least need. */
void cw__grow(void **arr, size_t *cap, size_t need, size_t elem);
#define CW_GROW(arr, cap, need)                                                \
    cw__grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

#endif
