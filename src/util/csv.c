/*
 * csv.c: streaming RFC 4180 CSV/TSV reader (see cw_csv.h).
 *
 * Three layers. A byte source: a file descriptor (a file, or standard input
 * for "-") or a caller's memory. An optional gzip decoder (zlib inflate,
 * concatenated members allowed), chosen by the 1f 8b magic bytes at the start
 * of the input and never by its name. And the row parser, which copies one
 * record at a time into a bounded buffer of NUL-terminated fields. Nothing
 * but the current row, the header and two 64 KiB buffers is held, whatever
 * the size of the input.
 *
 * Quoting follows RFC 4180, and we are lenient only where real exports break
 * it without ambiguity: a quote in the middle of an unquoted field is kept as
 * a literal character (`12" frame`), and CR, LF or CRLF each end a record.
 * Text after a closing quote (`"ab"c`) and a quote still open at the end of
 * the input are errors. Line numbers count record terminators, including the
 * ones inside quoted fields, so they match what an editor shows. After any
 * error the reader stays failed: once quoting is lost, no later row boundary
 * can be trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_csv.h"
#include "cartwise/cw_err.h"

#define CHUNK (64u << 10)

struct cw_csv {
    char *name;
    char delim;
    int fd;     /* -1: memory */
    int own_fd; /* close at cw_csv_close (not for stdin) */

    const unsigned char *mem; /* memory source (borrowed) */
    size_t mem_n;
    unsigned char *raw; /* CHUNK bytes read from fd; NULL for memory */
    uint64_t raw_read;  /* bytes taken from the source so far */
    uint64_t size;      /* total source size, 0 if unknown */
    int started;        /* magic bytes looked at */
    int src_eof;

    int gz;
    int gz_init;
    int gz_member_end; /* a gzip member just ended */
    z_stream z;
    unsigned char *out; /* CHUNK decoded bytes */

    const unsigned char *p, *end; /* decoded bytes not yet parsed */

    size_t row_max;
    struct cw_buf row; /* fields, each followed by its NUL */
    size_t *off;       /* start offset of each field in row */
    size_t nf, cap_off;
    long line;     /* line of the read position, 1-based */
    long row_line; /* line where the current row starts */

    struct cw_buf head; /* the first row, kept for cw_csv_col */
    size_t *head_off;
    size_t head_nf;
    int have_head;

    int failed; /* sticky CW_E* code */
    struct cw_buf fail_msg;
};

static int fail(struct cw_csv *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct cw_csv *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cw_buf_reset(&c->fail_msg);
    cw_buf_vaddf(&c->fail_msg, fmt, ap);
    va_end(ap);
    c->failed = code;
    return code;
}

static voidpf zalloc(voidpf opaque, uInt items, uInt size)
{
    return cw_malloc((size_t)items * size);
}

static void zfree(voidpf opaque, voidpf p)
{
    cw_free(p);
}

/* Reads the next raw chunk from the descriptor. Returns bytes read, 0 at end
 * of input, or a CW_E* code. */
static long src_read(struct cw_csv *c, unsigned char *dst, size_t n)
{
    if (c->fd < 0 || c->src_eof)
        return 0;
    for (;;) {
        ssize_t r = read(c->fd, dst, n);
        if (r >= 0) {
            if (r == 0)
                c->src_eof = 1;
            c->raw_read += (uint64_t)r;
            return (long)r;
        }
        if (errno != EINTR)
            return fail(c, CW_EIO, "line %ld: cannot read '%s': %s", c->line,
                        c->name, strerror(errno));
    }
}

/* Looks at the first bytes of the input to decide between plain and gzip.
 * The bytes read stay pending in p/end (plain) or next_in (gzip). */
static int start(struct cw_csv *c)
{
    const unsigned char *b;
    size_t have = 0;
    c->started = 1;
    if (c->fd < 0) {
        b = c->mem;
        have = c->mem_n;
        c->raw_read = c->mem_n;
    } else {
        while (have < 2 && !c->src_eof) {
            long r = src_read(c, c->raw + have, CHUNK - have);
            if (r < 0)
                return (int)r;
            have += (size_t)r;
        }
        b = c->raw;
    }
    if (have >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
        c->gz = 1;
        c->out = cw_malloc(CHUNK);
        c->z.zalloc = zalloc;
        c->z.zfree = zfree;
        c->z.opaque = NULL;
        c->z.next_in = (unsigned char *)b; /* zlib never writes to it */
        c->z.avail_in = (uInt)have;
        if (inflateInit2(&c->z, 15 + 16) != Z_OK)
            return fail(c, CW_ENOMEM, "line 1: cannot start gzip decoder");
        c->gz_init = 1;
        c->p = c->end = c->out;
    } else {
        c->p = b;
        c->end = b + have;
    }
    return 0;
}

/* Makes p/end hold the next decoded bytes. Returns 1, 0 at end of input, or
 * a CW_E* code. */
static int fill(struct cw_csv *c)
{
    if (c->failed)
        return c->failed;
    if (!c->started) {
        int rc = start(c);
        if (rc < 0)
            return rc;
        if (c->p < c->end)
            return 1;
    }
    if (!c->gz) {
        long r = src_read(c, c->raw, CHUNK);
        if (r <= 0)
            return (int)r;
        c->p = c->raw;
        c->end = c->raw + r;
        return 1;
    }
    for (;;) {
        if (c->z.avail_in == 0) {
            long r = src_read(c, c->raw, CHUNK);
            if (r < 0)
                return (int)r;
            if (r == 0) {
                if (c->gz_member_end)
                    return 0;
                return fail(c, CW_ECORRUPT, "line %ld: truncated gzip data",
                            c->line);
            }
            c->z.next_in = c->raw;
            c->z.avail_in = (uInt)r;
        }
        if (c->gz_member_end) {
            /* more bytes after a member: a concatenated gzip member */
            if (inflateReset(&c->z) != Z_OK)
                return fail(c, CW_ECORRUPT, "line %ld: damaged gzip data",
                            c->line);
            c->gz_member_end = 0;
        }
        c->z.next_out = c->out;
        c->z.avail_out = CHUNK;
        int zr = inflate(&c->z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END)
            c->gz_member_end = 1;
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return fail(c, CW_ECORRUPT, "line %ld: damaged gzip data (%s)",
                        c->line, c->z.msg ? c->z.msg : "inflate failed");
        size_t got = CHUNK - c->z.avail_out;
        if (got) {
            c->p = c->out;
            c->end = c->out + got;
            return 1;
        }
    }
}

/* The next byte without consuming it, or -1 at end of input or on error
 * (c->failed tells which). */
static inline int peek(struct cw_csv *c)
{
    if (c->p == c->end && fill(c) <= 0)
        return -1;
    return *c->p;
}

static int too_big(struct cw_csv *c)
{
    return fail(c, CW_ETOOBIG, "line %ld: row longer than %zu bytes",
                c->row_line, c->row_max);
}

static int add(struct cw_csv *c, const void *s, size_t n)
{
    return cw_buf_add(&c->row, s, n) ? too_big(c) : 0;
}

static int new_field(struct cw_csv *c)
{
    if (c->nf == c->cap_off)
        CW_GROW(c->off, c->cap_off, c->nf + 1);
    c->off[c->nf++] = c->row.len;
    return 0;
}

static int end_field(struct cw_csv *c)
{
    return add(c, "", 1);
}

/* A field that does not start with a quote: up to the next delimiter, line
 * end or end of input, which is left unread. */
static int unquoted(struct cw_csv *c)
{
    for (;;) {
        if (c->p == c->end) {
            int rc = fill(c);
            if (rc <= 0)
                return rc;
        }
        const unsigned char *s = c->p;
        while (s < c->end && *s != (unsigned char)c->delim && *s != '\n' &&
               *s != '\r')
            s++;
        if (s > c->p && add(c, c->p, (size_t)(s - c->p)))
            return c->failed;
        c->p = s;
        if (s < c->end)
            return 0;
    }
}

/* A quoted field, its opening quote consumed: up to the closing quote, which
 * must be followed by a delimiter, a line end or the end of input. */
static int quoted(struct cw_csv *c)
{
    long open_line = c->line;
    for (;;) {
        if (c->p == c->end) {
            int rc = fill(c);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return fail(c, CW_EPARSE, "line %ld: unterminated quote",
                            open_line);
        }
        const unsigned char *s = c->p;
        while (s < c->end && *s != '"' && *s != '\n' && *s != '\r')
            s++;
        if (s > c->p && add(c, c->p, (size_t)(s - c->p)))
            return c->failed;
        c->p = s;
        if (s == c->end)
            continue;
        int ch = *c->p++;
        if (ch == '"') {
            int nx = peek(c);
            if (nx == '"') {
                c->p++;
                if (add(c, "\"", 1))
                    return c->failed;
                continue;
            }
            if (nx < 0)
                return c->failed;
            if (nx == c->delim || nx == '\n' || nx == '\r')
                return 0;
            return fail(c, CW_EPARSE,
                        "line %ld: stray quote (text after a closing quote)",
                        c->line);
        }
        if (add(c, &(char){(char)ch}, 1))
            return c->failed;
        if (ch == '\r' && peek(c) == '\n') {
            c->p++;
            if (add(c, "\n", 1))
                return c->failed;
        }
        c->line++;
    }
}

/* Consumes a CR, LF or CRLF at the read position, if any. Returns 1 if it
 * did. */
static int eat_eol(struct cw_csv *c)
{
    int ch = peek(c);
    if (ch != '\r' && ch != '\n')
        return 0;
    c->p++;
    if (ch == '\r' && peek(c) == '\n')
        c->p++;
    c->line++;
    return 1;
}

/* Drops a UTF-8 byte order mark at the very start of the input. A partial
 * match is no BOM: its bytes start the first field. */
static int skip_bom(struct cw_csv *c, int *partial)
{
    static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};
    int k = 0;
    while (k < 3 && peek(c) == bom[k]) {
        c->p++;
        k++;
    }
    *partial = k < 3 ? k : 0;
    return c->failed;
}

static int parse_row(struct cw_csv *c)
{
    int partial_bom = 0;
    if (c->line == 0) {
        c->line = 1;
        if (skip_bom(c, &partial_bom))
            return c->failed;
    }
    if (!partial_bom)
        while (eat_eol(c))
            ;
    if (peek(c) < 0)
        return c->failed ? c->failed : 0;
    c->row_line = c->line;
    cw_buf_reset(&c->row);
    c->nf = 0;
    new_field(c);
    if (partial_bom && add(c, "\xef\xbb", (size_t)partial_bom))
        return c->failed;
    for (;;) {
        int rc;
        if (!partial_bom && peek(c) == '"') {
            c->p++;
            rc = quoted(c);
        } else {
            rc = unquoted(c);
        }
        partial_bom = 0;
        if (rc < 0)
            return rc;
        int ch = peek(c);
        if (c->failed)
            return c->failed;
        if (end_field(c))
            return c->failed;
        if (ch == c->delim) {
            c->p++;
            new_field(c);
            continue;
        }
        eat_eol(c);
        return c->failed ? c->failed : 1;
    }
}

static void keep_header(struct cw_csv *c)
{
    cw_buf_add(&c->head, c->row.buf, c->row.len);
    c->head_off = cw_malloc((c->nf ? c->nf : 1) * sizeof(*c->head_off));
    memcpy(c->head_off, c->off, c->nf * sizeof(*c->off));
    c->head_nf = c->nf;
    c->have_head = 1;
}

int cw_csv_next(struct cw_csv *c, struct cw_buf *err)
{
    if (!c->failed) {
        int rc = parse_row(c);
        if (rc == 1 && !c->have_head)
            keep_header(c);
        if (rc == 0)
            c->nf = 0;
        if (rc >= 0)
            return rc;
    }
    c->nf = 0;
    return cw_err(err, c->failed, "%s", cw_buf_str(&c->fail_msg));
}

static struct cw_csv *csv_new(const char *name, char delim)
{
    struct cw_csv *c = cw_calloc(1, sizeof(*c));
    c->name = cw_strdup(name);
    c->delim = delim;
    c->fd = -1;
    c->row_max = CW_CSV_ROW_MAX;
    cw_buf_init(&c->row, c->row_max);
    cw_buf_init(&c->head, 0);
    cw_buf_init(&c->fail_msg, 0);
    return c;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

static int check_delim(char delim, struct cw_buf *err)
{
    if (delim == '"' || delim == '\r' || delim == '\n' || delim == '\0')
        return cw_err(err, CW_EINVAL, "unusable csv delimiter 0x%02x",
                      (unsigned char)delim);
    return 0;
}

int cw_csv_open(struct cw_csv **out, const char *path, char delim,
                struct cw_buf *err)
{
    *out = NULL;
    if (!path || !*path)
        return cw_err(err, CW_EINVAL, "no input file named");
    if (!delim)
        delim = has_suffix(path, ".tsv") || has_suffix(path, ".tsv.gz") ||
                        has_suffix(path, ".txt") || has_suffix(path, ".txt.gz")
                    ? '\t'
                    : ',';
    if (check_delim(delim, err))
        return CW_EINVAL;
    int fd = 0, own = 0;
    if (strcmp(path, "-")) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                return cw_err(err, CW_ENOENT, "no such file '%s'", path);
            return cw_err(err, CW_EIO, "cannot open '%s': %s", path,
                          strerror(errno));
        }
        own = 1;
    }
    struct stat st;
    uint64_t size = 0;
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            if (own)
                close(fd);
            return cw_err(err, CW_EIO, "'%s' is a directory", path);
        }
        if (S_ISREG(st.st_mode))
            size = (uint64_t)st.st_size;
    }
    struct cw_csv *c = csv_new(path, delim);
    c->fd = fd;
    c->own_fd = own;
    c->size = size;
    c->raw = cw_malloc(CHUNK);
    *out = c;
    return 0;
}

int cw_csv_open_mem(struct cw_csv **out, const char *data, size_t n, char delim,
                    struct cw_buf *err)
{
    *out = NULL;
    if (!data && n)
        return cw_err(err, CW_EINVAL, "no input data");
    if (!delim)
        delim = ',';
    if (check_delim(delim, err))
        return CW_EINVAL;
    struct cw_csv *c = csv_new("<memory>", delim);
    c->mem = (const unsigned char *)data;
    c->mem_n = n;
    c->size = n;
    *out = c;
    return 0;
}

void cw_csv_close(struct cw_csv *c)
{
    if (!c)
        return;
    if (c->gz_init)
        inflateEnd(&c->z);
    if (c->own_fd)
        close(c->fd);
    cw_free(c->raw);
    cw_free(c->out);
    cw_buf_release(&c->row);
    cw_free(c->off);
    cw_buf_release(&c->head);
    cw_free(c->head_off);
    cw_buf_release(&c->fail_msg);
    cw_free(c->name);
    cw_free(c);
}

void cw_csv_set_row_max(struct cw_csv *c, size_t max)
{
    c->row_max = max ? max : CW_CSV_ROW_MAX;
    c->row.max = c->row_max;
}

size_t cw_csv_nfields(const struct cw_csv *c)
{
    return c->nf;
}

static const char *field_of(const struct cw_buf *b, const size_t *off,
                            size_t nf, size_t i, size_t *len)
{
    if (i >= nf) {
        if (len)
            *len = 0;
        return "";
    }
    size_t next = i + 1 < nf ? off[i + 1] : b->len;
    if (len)
        *len = next - 1 - off[i];
    return b->buf + off[i];
}

const char *cw_csv_field(const struct cw_csv *c, size_t i, size_t *len)
{
    return field_of(&c->row, c->off, c->nf, i, len);
}

long cw_csv_line(const struct cw_csv *c)
{
    return c->row_line;
}

const char *cw_csv_name(const struct cw_csv *c)
{
    return c->name;
}

uint64_t cw_csv_pos(const struct cw_csv *c)
{
    if (!c->started)
        return 0;
    if (c->gz)
        return c->raw_read - c->z.avail_in;
    return c->raw_read - (uint64_t)(c->end - c->p);
}

uint64_t cw_csv_size(const struct cw_csv *c)
{
    return c->size;
}

long cw_csv_col(const struct cw_csv *c, const char *name)
{
    for (size_t i = 0; c->have_head && i < c->head_nf; i++)
        if (!strcmp(field_of(&c->head, c->head_off, c->head_nf, i, NULL), name))
            return (long)i;
    return -1;
}
