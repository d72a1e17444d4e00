/*
 * buf.c: bounded growable buffer (see cw_buf.h).
 */
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"

void cw_buf_init(struct cw_buf *b, size_t max)
{
    b->buf = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void cw_buf_release(struct cw_buf *b)
{
    cw_free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

void cw_buf_reset(struct cw_buf *b)
{
    b->len = 0;
    if (b->buf)
        b->buf[0] = '\0';
}

const char *cw_buf_str(const struct cw_buf *b)
{
    return b->buf ? b->buf : "";
}

static int reserve(struct cw_buf *b, size_t extra)
{
    if (b->max && b->len + extra > b->max)
        return CW_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need > b->cap) {
        size_t n = b->cap ? b->cap : 64;
        while (n < need)
            n *= 2;
        b->buf = cw_realloc(b->buf, n);
        b->cap = n;
    }
    return 0;
}

int cw_buf_add(struct cw_buf *b, const void *data, size_t n)
{
    int rc = reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

int cw_buf_adds(struct cw_buf *b, const char *s)
{
    return cw_buf_add(b, s, strlen(s));
}

int cw_buf_addch(struct cw_buf *b, char c)
{
    return cw_buf_add(b, &c, 1);
}

int cw_buf_vaddf(struct cw_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return CW_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int cw_buf_addf(struct cw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cw_buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int cw_buf_add_json_str(struct cw_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t len0 = b->len; /* a string that does not fit adds nothing */
    int rc = cw_buf_addch(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (!rc && *p) {
        /* the run of bytes that need no escape, in one copy */
        const unsigned char *q = p;
        while (*q >= 0x20 && *q != '"' && *q != '\\')
            q++;
        if (q > p) {
            rc = cw_buf_add(b, p, (size_t)(q - p));
            p = q;
            continue;
        }
        switch (*p) {
        case '"':
            rc = cw_buf_add(b, "\\\"", 2);
            break;
        case '\\':
            rc = cw_buf_add(b, "\\\\", 2);
            break;
        case '\n':
            rc = cw_buf_add(b, "\\n", 2);
            break;
        case '\r':
            rc = cw_buf_add(b, "\\r", 2);
            break;
        case '\t':
            rc = cw_buf_add(b, "\\t", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            rc = cw_buf_add(b, u, 6);
        }
        }
        p++;
    }
    if (!rc)
        rc = cw_buf_addch(b, '"');
    if (rc && b->buf) {
        b->len = len0;
        b->buf[len0] = '\0';
    }
    return rc;
}

char *cw_buf_detach(struct cw_buf *b, size_t *len)
{
    char *p = b->buf ? b->buf : cw_strdup("");
    if (len)
        *len = b->len;
    b->buf = NULL;
    b->len = b->cap = 0;
    return p;
}

int cw_err(struct cw_buf *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        cw_buf_reset(err);
        size_t max = err->max;
        err->max = 0; /* an error message is never refused */
        cw_buf_vaddf(err, fmt, ap);
        err->max = max;
        va_end(ap);
    }
    return code;
}
