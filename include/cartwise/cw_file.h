/*
 * cw_file.h: durable writes and read-only maps of whole files.
 *
 * A model file is written to a temporary name in the same directory,
 * fsynced, renamed over the target and the directory fsynced, so a reader
 * sees the old file or the new one, never half of one.
 */
#ifndef CW_FILE_H
#define CW_FILE_H

#include <stddef.h>

struct cw_buf;

int cw_file_write_atomic(const char *path, const void *data, size_t n,
                         struct cw_buf *err);

struct cw_map {
    void *data;
    size_t len;
};

/* Maps path read-only. Returns 0, CW_ENOENT or CW_EIO. */
int cw_file_map(struct cw_map *m, const char *path, struct cw_buf *err);
void cw_file_unmap(struct cw_map *m);
/* Creates dir (and parents) if missing. */
int cw_file_mkdirs(const char *dir, struct cw_buf *err);

#endif
