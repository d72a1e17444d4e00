/*
 * file.c: durable whole-file writes and read-only maps (see cw_file.h).
 *
 * A model file must never be seen half-written, by a server that maps it or
 * after a crash. So the bytes go to "PATH.tmp.PID" in the target's own
 * directory (rename is only atomic within one file system), are fsynced,
 * renamed over PATH, and the directory is fsynced so the rename itself is
 * durable. Readers map files PROT_READ/MAP_PRIVATE: the decoder points into
 * the mapping and copies nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_file.h"

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync the directory that holds path, so a rename into it is durable. */
static int sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = cw_strdup(".");
    else if (slash == path)
        dir = cw_strdup("/");
    else
        dir = cw_strndup(path, (size_t)(slash - path));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cw_free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    /* some file systems refuse fsync on directories; the data is safe */
    if (rc < 0 && (errno == EINVAL || errno == EBADF))
        rc = 0;
    close(fd);
    return rc;
}

int cw_file_write_atomic(const char *path, const void *data, size_t n,
                         struct cw_buf *err)
{
    struct cw_buf tmp = CW_BUF_INIT;
    cw_buf_addf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    const char *tpath = cw_buf_str(&tmp);
    const char *what = "create";
    int saved, fd = open(tpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    what = "write";
    if (write_all(fd, data, n) < 0)
        goto fail_fd;
    what = "sync";
    if (fsync(fd) < 0)
        goto fail_fd;
    what = "close";
    if (close(fd) < 0) {
        fd = -1;
        goto fail_unlink;
    }
    fd = -1;
    what = "rename";
    if (rename(tpath, path) < 0)
        goto fail_unlink;
    cw_buf_release(&tmp);
    if (sync_parent(path) < 0)
        return cw_err(err, CW_EIO, "cannot sync the directory of '%s': %s",
                      path, strerror(errno));
    return 0;

fail_fd:
    saved = errno;
    close(fd);
    errno = saved;
fail_unlink:
    saved = errno;
    unlink(tpath);
    errno = saved;
fail:
    saved = errno;
    cw_buf_release(&tmp);
    return cw_err(err, CW_EIO, "cannot %s '%s': %s", what, path,
                  strerror(saved));
}

int cw_file_map(struct cw_map *m, const char *path, struct cw_buf *err)
{
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return cw_err(err, e == ENOENT ? CW_ENOENT : CW_EIO,
                      "cannot open '%s': %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return cw_err(err, CW_EIO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cw_err(err, CW_EIO, "'%s' is not a regular file", path);
    }
    if ((uintmax_t)st.st_size > SIZE_MAX) {
        close(fd);
        return cw_err(err, CW_EIO, "'%s' is too large to map", path);
    }
    size_t len = (size_t)st.st_size;
    if (len == 0) { /* mmap refuses length 0; an empty file is no bytes */
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file referenced */
    if (p == MAP_FAILED)
        return cw_err(err, CW_EIO, "cannot map '%s': %s", path, strerror(e));
    m->data = p;
    m->len = len;
    return 0;
}

void cw_file_unmap(struct cw_map *m)
{
    if (!m)
        return;
    if (m->data)
        munmap(m->data, m->len);
    m->data = NULL;
    m->len = 0;
}

static int mkdir_one(const char *dir, struct cw_buf *err)
{
    if (mkdir(dir, 0755) == 0)
        return 0;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        return cw_err(err, CW_EIO, "cannot create directory '%s': %s", dir,
                      "a file is in the way");
    }
    return cw_err(err, e == ENOENT ? CW_ENOENT : CW_EIO,
                  "cannot create directory '%s': %s", dir, strerror(e));
}

int cw_file_mkdirs(const char *dir, struct cw_buf *err)
{
    if (!dir || !*dir)
        return cw_err(err, CW_EINVAL, "empty directory name");
    char *p = cw_strdup(dir);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    int rc = 0;
    /* each prefix ending before a '/', then the whole path */
    for (char *s = p + 1; !rc && *s; s++) {
        if (*s != '/' || s[-1] == '/')
            continue;
        *s = '\0';
        rc = mkdir_one(p, err);
        *s = '/';
    }
    if (!rc)
        rc = mkdir_one(p, err);
    cw_free(p);
    return rc;
}
