/*
 * store.c: picks the store backend named by a URL (see cw_store.h).
 *
 * A "postgres://" or "postgresql://" URL selects PostgreSQL, which is not
 * built yet and says so; anything else is a SQLite file path. Each backend
 * owns its struct cw_store (embedded first in its private struct) and frees
 * it in its close op, so closing goes through the ops table.
 */
#include <stddef.h>
#include <strings.h>

#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_store.h"

static int is_postgres(const char *url)
{
    return !strncasecmp(url, "postgres://", 11) ||
           !strncasecmp(url, "postgresql://", 13);
}

int cw_store_open(struct cw_store **out, const char *url, struct cw_buf *err)
{
    *out = NULL;
    if (!url || !*url)
        return cw_err(err, CW_EINVAL,
                      "no store given (a file path or a "
                      "postgres:// url)");
    if (is_postgres(url))
        return cw_err(err, CW_EUNSUPPORTED,
                      "postgresql backend not built yet (use a sqlite file "
                      "path)");
    return cw__store_sqlite_open(out, url, err);
}

void cw_store_close(struct cw_store *s)
{
    if (s)
        s->ops->close(s);
}
