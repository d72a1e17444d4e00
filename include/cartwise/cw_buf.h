/*
 * cw_buf.h: bounded growable byte buffer (git's strbuf with curl's maximum).
 *
 * The contents are always NUL-terminated. A buffer grown from outside input
 * is given a maximum; appends past it fail with CW_ETOOBIG and leave the
 * buffer as it was. A zero maximum means "no limit" (for internal text).
 */
#ifndef CW_BUF_H
#define CW_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct cw_buf {
    char *buf; /* owned; "" when empty and never allocated */
    size_t len;
    size_t cap;
    size_t max; /* 0: unbounded */
};

#define CW_BUF_INIT                                                            \
    {                                                                          \
        NULL, 0, 0, 0                                                          \
    }

void cw_buf_init(struct cw_buf *b, size_t max);
void cw_buf_release(struct cw_buf *b);
void cw_buf_reset(struct cw_buf *b);
/* Returns the contents (never NULL; "" when empty). */
const char *cw_buf_str(const struct cw_buf *b);
int cw_buf_add(struct cw_buf *b, const void *data, size_t n);
int cw_buf_adds(struct cw_buf *b, const char *s);
int cw_buf_addch(struct cw_buf *b, char c);
int cw_buf_addf(struct cw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cw_buf_vaddf(struct cw_buf *b, const char *fmt, va_list ap);
/* Append s as a JSON string literal, quotes included. */
int cw_buf_add_json_str(struct cw_buf *b, const char *s);
/* Returns the buffer's memory, now owned by the caller; b is reset. */
char *cw_buf_detach(struct cw_buf *b, size_t *len);

/*
 * Error detail: replace err's contents with one formatted line and return
 * code. err may be NULL. Used as `return cw_err(err, CW_EPARSE, "...", ...)`.
 */
int cw_err(struct cw_buf *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
