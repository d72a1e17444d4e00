/*
 * cw_err.h: the error codes of libcartwise, from one table.
 *
 * Every library function returns 0 or a negative CW_E* code; detail goes to
 * an optional struct cw_buf as one lowercase line naming the subject
 * ("unknown sku '85123A'"). Only the CLI maps codes to exit statuses and only
 * the server to HTTP statuses. The table is kept in one X-macro so the names,
 * messages and the test that checks them can never drift apart.
 */
#ifndef CW_ERR_H
#define CW_ERR_H

/* X(NAME, value, "message") -- values are negative and unique. */
#define CW_ERRNO_MAP(X)                                                        \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ENOMEM, -2, "out of memory")                                             \
    X(EIO, -3, "input/output error")                                           \
    X(ENOENT, -4, "not found")                                                 \
    X(EPARSE, -5, "malformed input")                                           \
    X(ETOOBIG, -6, "input too large")                                          \
    X(ECORRUPT, -7, "damaged or incompatible file")                            \
    X(ESTORE, -8, "storage error")                                             \
    X(EEXIST, -9, "already exists")                                            \
    X(EUNSUPPORTED, -10, "not supported")                                      \
    X(ENODATA, -11, "not enough data")                                         \
    X(EBUSY, -12, "busy")

enum cw_errno {
#define CW__ERR_ENUM(name, val, msg) CW_##name = (val),
    CW_ERRNO_MAP(CW__ERR_ENUM)
#undef CW__ERR_ENUM
};

/* Returns the message of code (a static string; "unknown error" if none). */
const char *cw_strerror(int code);
/* Returns the symbolic name of code, e.g. "EPARSE" (static string). */
const char *cw_errname(int code);

#endif
