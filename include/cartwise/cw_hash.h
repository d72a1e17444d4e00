/*
 * cw_hash.h: hashes used across cartwise, and a string-interning table.
 *
 * fnv1a32 is fixed by the benchmark protocol (assumed margin rates, hash
 * mode). xxh3 (libxxhash) serves experiment assignment, checksums and the
 * hash tables. cw_intern maps strings to dense ids 0..n-1, which is how
 * SKUs, customers and basket ids become array indexes.
 */
#ifndef CW_HASH_H
#define CW_HASH_H

#include <stddef.h>
#include <stdint.h>

uint32_t cw_fnv1a32(const void *data, size_t n);
uint64_t cw_xxh3(const void *data, size_t n);
uint64_t cw_xxh3_seed(const void *data, size_t n, uint64_t seed);

/* Open-addressing map from strings to dense ids. Owns copies of the keys. */
struct cw_intern {
    char **keys;    /* keys[id], owned */
    uint32_t *lens; /* key lengths */
    size_t n;       /* number of keys */
    size_t cap_keys;
    uint32_t *slots; /* id + 1, 0 = empty */
    size_t nslots;   /* power of two */
};

void cw_intern_init(struct cw_intern *t);
void cw_intern_release(struct cw_intern *t);
/* Returns the id of key, adding it if new (*added set when not NULL). */
uint32_t cw_intern_add(struct cw_intern *t, const char *key, size_t len,
                       int *added);
/* Returns the id of key, or -1 if absent. */
long cw_intern_find(const struct cw_intern *t, const char *key, size_t len);

#endif
