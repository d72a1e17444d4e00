/*
 * store_pg.c: the PostgreSQL backend of the store (see cw_store.h), over
 * libpq, for several server nodes sharing one database (DESIGN.md 8).
 *
 * One connection per struct cw_store, not shared between threads, with the
 * same semantics as store_sqlite.c, which is the reference:
 *
 * - Every statement that carries a value is prepared once at open, from one
 *   table, and run with PQexecPrepared: values never enter SQL text. The few
 *   constant commands (BEGIN, SAVEPOINT, the scans' cursors) are PQexec'd;
 *   a batch of decisions is one multi-row INSERT of placeholders
 *   (PQexecParams: its row count varies).
 * - A batch of products, orders, lines and returns (put_batch, an import's)
 *   runs the same prepared statements as their put_*, in libpq's pipeline
 *   mode: all sent, then read, one round trip per batch instead of one per
 *   statement. Being the same statements in the same order, they keep every
 *   put_*'s semantics and messages, duplicates within a batch included.
 * - A failed statement in PostgreSQL aborts the whole transaction (in
 *   SQLite it undoes itself). The store's contract (cw_store.h) is that a
 *   write that fails inside a transaction fails the transaction, and every
 *   caller then rolls back, so statements run bare: no savepoint per write,
 *   which would cost two more round trips each (an import or a
 *   decision-log batch ran 2.4 times slower with them). An op of several
 *   statements (an order with its customer count) outside a transaction is
 *   one of its own.
 * - begin is BEGIN plus one database-wide advisory lock held to the end of
 *   the transaction: the counterpart of SQLite's BEGIN IMMEDIATE, so that
 *   the read-then-write transactions of the callers (the key pepper, the
 *   registry) stay serialized across processes and nodes. Writes outside
 *   begin/commit are single statements and need no lock. lock_timeout is
 *   5 s, as SQLite's busy timeout: a wait longer than that is CW_EBUSY.
 * - begin inside a transaction and commit outside one fail, as in SQLite
 *   (PostgreSQL only warns); a COMMIT that PostgreSQL turned into a
 *   ROLLBACK is an error.
 * - Scans read through a cursor, a few hundred rows at a time, in the same
 *   order as SQLite's (the ordered columns are COLLATE "C", byte order). A
 *   scan outside a transaction runs in one of its own, so it reads one
 *   snapshot, like SQLite's statement.
 * - A connection found broken outside a transaction is reset (and its
 *   statements prepared again) before the next call; inside one the
 *   transaction is lost and the calls fail until rollback.
 *
 * Unknown values are NULL, read back as the records' markers, and product
 * upserts keep what the new record does not know, exactly as in SQLite.
 * Server messages are reported without PostgreSQL's "ERROR:" prefix:
 * "order line 536365:3: new row for relation ... violates check constraint
 * ...".
 */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "store/migrations.h"
#include "store/store_int.h"

#define NOW_SQL                                                                \
    "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The advisory lock keys (two int4s): migrations, and begin's write lock. */
#define LOCK_MIGRATE "SELECT pg_advisory_xact_lock(2026, 1)"
#define LOCK_WRITE "SELECT pg_advisory_xact_lock(2026, 2)"

/* Whether the last ORDER_PUT of the transaction added its order ("1") or
 * found it there ("0"): CUSTOMER_TOUCH counts the order for its customer
 * only after an order that was added, so the two can be sent together in a
 * batch, without waiting for the first's answer (see put_batch). */
#define ORDER_ADDED "cartwise.order_added"

/* Rows fetched from a scan's cursor at a time. */
#define SCAN_BATCH "500"

/* X(NAME, sql): every statement with parameters the backend runs. */
#define STMTS(X)                                                               \
    X(PRODUCT_PUT,                                                             \
      "INSERT INTO products(sku, grp, title, category, currency, attributes, " \
      "tier_group, price, cost, inventory, flags, tier_level, pack_size, "     \
      "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "     \
      "$12, $13, " NOW_SQL ") ON CONFLICT(sku) DO UPDATE SET "                 \
      "grp = COALESCE(excluded.grp, products.grp), "                           \
      "title = COALESCE(excluded.title, products.title), "                     \
      "category = COALESCE(excluded.category, products.category), "            \
      "currency = COALESCE(excluded.currency, products.currency), "            \
      "attributes = COALESCE(excluded.attributes, products.attributes), "      \
      "tier_group = COALESCE(excluded.tier_group, products.tier_group), "      \
      "price = COALESCE(excluded.price, products.price), "                     \
      "cost = COALESCE(excluded.cost, products.cost), "                        \
      "inventory = COALESCE(excluded.inventory, products.inventory), "         \
      "flags = COALESCE(excluded.flags, products.flags), "                     \
      "tier_level = COALESCE(excluded.tier_level, products.tier_level), "      \
      "pack_size = COALESCE(excluded.pack_size, products.pack_size), "         \
      "updated_at = excluded.updated_at "                                      \
      "RETURNING (xmax = 0)")                                                  \
    X(ORDER_PUT,                                                               \
      "WITH o AS (INSERT INTO orders(id, customer_id, ts, currency, "          \
      "shipping, discount, created_at) VALUES ($1, $2, $3, $4, $5, "           \
      "$6, " NOW_SQL ") ON CONFLICT(id) DO NOTHING RETURNING 1) "              \
      "SELECT set_config('" ORDER_ADDED "', count(*)::text, true) FROM o")     \
    X(CUSTOMER_TOUCH,                                                          \
      "INSERT INTO customers(id, first_order_ts, last_order_ts, order_count) " \
      "SELECT $1::text, $2::text, $2::text, 1 WHERE "                          \
      "current_setting('" ORDER_ADDED "', true) = '1' "                        \
      "ON CONFLICT(id) DO UPDATE SET "                                         \
      "first_order_ts = LEAST(COALESCE(customers.first_order_ts, "             \
      "excluded.first_order_ts), excluded.first_order_ts), "                   \
      "last_order_ts = GREATEST(COALESCE(customers.last_order_ts, "            \
      "excluded.last_order_ts), excluded.last_order_ts), "                     \
      "order_count = customers.order_count + 1")                               \
    X(LINE_PUT,                                                                \
      "INSERT INTO order_lines(order_id, line_no, sku, qty, unit_price, "      \
      "unit_cost, discount) VALUES ($1, $2, $3, $4, $5, $6, $7) "              \
      "ON CONFLICT(order_id, line_no) DO NOTHING")                             \
    X(RETURN_PUT,                                                              \
      "INSERT INTO returns(id, order_id, customer_id, sku, ts, qty, amount) "  \
      "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(id) DO NOTHING")        \
    X(COUNTS,                                                                  \
      "SELECT (SELECT count(*) FROM products), "                               \
      "(SELECT count(*) FROM customers), (SELECT count(*) FROM orders), "      \
      "(SELECT count(*) FROM order_lines), (SELECT count(*) FROM returns), "   \
      "(SELECT count(*) FROM events), (SELECT count(*) FROM decisions), "      \
      "(SELECT count(*) FROM model_versions)")                                 \
    X(MODEL_ADD,                                                               \
      "INSERT INTO model_versions(path, checksum, created_at, items, "         \
      "customers, baskets) VALUES ($1, $2, $3, $4, $5, $6) RETURNING version") \
    X(MODEL_LATEST,                                                            \
      "SELECT version, path, checksum, created_at, items, customers, baskets " \
      "FROM model_versions ORDER BY version DESC LIMIT 1")                     \
    X(EVENT_PUT,                                                               \
      "INSERT INTO events(id, session_id, customer_id, ts, type, sku, "        \
      "decision_id, placement, reason, order_id, value, profit, payload) "     \
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "       \
      "ON CONFLICT(id) DO NOTHING")                                            \
    X(KEY_HASH, "SELECT hash FROM api_keys WHERE id = $1")                     \
    X(KEY_INSERT,                                                              \
      "INSERT INTO api_keys(id, kind, hash, created_at, origins, revoked) "    \
      "VALUES ($1, $2, $3, COALESCE($4, " NOW_SQL "), $5, $6)")                \
    X(KEY_UPDATE, "UPDATE api_keys SET origins = COALESCE($2, origins), "      \
                  "revoked = GREATEST(revoked, $3) WHERE id = $1")             \
    X(KEY_FIND,                                                                \
      "SELECT id, kind, hash, created_at, origins, revoked FROM api_keys "     \
      "WHERE hash = $1")                                                       \
    X(KEY_REVOKED, "SELECT revoked FROM api_keys WHERE id = $1")               \
    X(KEY_REVOKE, "UPDATE api_keys SET revoked = 1 WHERE id = $1")             \
    X(IDEM_PURGE, "DELETE FROM idempotency WHERE created_at < $1")             \
    X(IDEM_GET,                                                                \
      "SELECT request_hash, status, content_type, body, created_at FROM "      \
      "idempotency WHERE key_id = $1 AND idem_key = $2 AND method = $3 AND "   \
      "path = $4")                                                             \
    X(IDEM_PUT,                                                                \
      "INSERT INTO idempotency(key_id, idem_key, method, path, request_hash, " \
      "created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")    \
    X(IDEM_FINISH,                                                             \
      "UPDATE idempotency SET status = $5, content_type = $6, body = $7 "      \
      "WHERE key_id = $1 AND idem_key = $2 AND method = $3 AND path = $4")     \
    X(IDEM_DELETE,                                                             \
      "DELETE FROM idempotency WHERE key_id = $1 AND idem_key = $2 AND "       \
      "method = $3 AND path = $4")                                             \
    X(WEBHOOK_PUT,                                                             \
      "INSERT INTO webhooks(id, topic, shop, body, received_at) "              \
      "VALUES ($1, $2, $3, $4, " NOW_SQL ") ON CONFLICT(id) DO NOTHING")       \
    X(META_GET, "SELECT value FROM meta WHERE key = $1")                       \
    X(META_SET, "INSERT INTO meta(key, value) VALUES ($1, $2) "                \
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value")       \
    X(META_DEL, "DELETE FROM meta WHERE key = $1")                             \
    X(BUDGET_LEASE,                                                            \
      "INSERT INTO budget_leases(day, leased, last_grant, leases, "            \
      "updated_at) VALUES ($1::bigint, "                                       \
      "GREATEST(LEAST($3::bigint, $2::bigint), 0), "                           \
      "GREATEST(LEAST($3::bigint, $2::bigint), 0), 1, " NOW_SQL ") "           \
      "ON CONFLICT(day) DO UPDATE SET "                                        \
      "last_grant = GREATEST(LEAST($3::bigint, "                               \
      "$2::bigint - budget_leases.leased), 0), "                               \
      "leased = budget_leases.leased + GREATEST(LEAST($3::bigint, "            \
      "$2::bigint - budget_leases.leased), 0), "                               \
      "leases = budget_leases.leases + 1, updated_at = excluded.updated_at "   \
      "RETURNING last_grant")

enum stmt {
#define STMT_ENUM(name, sql) ST_##name,
    STMTS(STMT_ENUM)
#undef STMT_ENUM
        ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
#define STMT_SQL(name, sql) [ST_##name] = sql,
    STMTS(STMT_SQL)
#undef STMT_SQL
};

static const char *const stmt_name[ST__COUNT] = {
#define STMT_NAME(name, sql) [ST_##name] = "cw_" #name,
    STMTS(STMT_NAME)
#undef STMT_NAME
};

/* X(NAME, what, cursor, query): the scans, each through its own cursor. */
#define SCANS(X)                                                               \
    X(PRODUCTS, "products", "cw_scan_products",                                \
      "SELECT sku, grp, title, category, currency, attributes, tier_group, "   \
      "price, cost, inventory, flags, tier_level, pack_size FROM products "    \
      "ORDER BY sku")                                                          \
    X(LINES, "order lines", "cw_scan_lines",                                   \
      "SELECT o.id, o.customer_id, o.ts, l.sku, l.qty, l.unit_price, "         \
      "l.unit_cost FROM orders o JOIN order_lines l ON l.order_id = o.id "     \
      "ORDER BY o.ts, o.id, l.line_no")                                        \
    X(RETURNS, "returns", "cw_scan_returns",                                   \
      "SELECT id, order_id, customer_id, sku, ts, qty, amount FROM returns "   \
      "ORDER BY ts, id")                                                       \
    X(EVENTS, "events", "cw_scan_events",                                      \
      "SELECT id, type, session_id, customer_id, ts, sku, decision_id, "       \
      "placement, reason, order_id, value, profit, payload FROM events "       \
      "ORDER BY ts, id")                                                       \
    X(DECISIONS, "decisions", "cw_scan_decisions",                             \
      "SELECT id, session_id, customer_id, experiment, arm, placement, ts, "   \
      "model_version, cart_value, shown, request, incentives FROM decisions "  \
      "ORDER BY ts, id")                                                       \
    X(KEYS, "api_keys", "cw_scan_keys",                                        \
      "SELECT id, kind, created_at, origins, revoked FROM api_keys "           \
      "ORDER BY created_at, seq")

enum scan {
#define SCAN_ENUM(name, what, cursor, sql) SC_##name,
    SCANS(SCAN_ENUM)
#undef SCAN_ENUM
        SC__COUNT
};

static const struct {
    const char *what, *declare, *fetch, *close;
} scan_sql[SC__COUNT] = {
#define SCAN_SQL(name, w, cursor, sql)                                         \
    [SC_##name] = {w, "DECLARE " cursor " NO SCROLL CURSOR FOR " sql,          \
                   "FETCH FORWARD " SCAN_BATCH " FROM " cursor,                \
                   "CLOSE " cursor},
    SCANS(SCAN_SQL)
#undef SCAN_SQL
};

struct pg {
    struct cw_store base; /* first: a struct cw_store * is a struct pg * */
    PGconn *conn;
    int in_tx;         /* begin succeeded and neither commit nor rollback
                          since */
    unsigned scanning; /* bit per enum scan in progress */
    /* what find_key's and idem_claim's records point at: the result they
     * were read from, kept until the next call of the same op */
    PGresult *key_res, *idem_res;
};

static struct pg *pg_of(struct cw_store *s)
{
    return (struct pg *)s;
}

/* Up to 16 text parameters; numbers are formatted into the record. */
struct params {
    int n;
    const char *v[16];
    char num[16][24];
};

static void p_text(struct params *p, const char *s)
{
    p->v[p->n++] = s;
}

/* Adds v, or NULL when unknown is set. */
static void p_int(struct params *p, int64_t v, int unknown)
{
    if (unknown) {
        p->v[p->n++] = NULL;
        return;
    }
    snprintf(p->num[p->n], sizeof(p->num[0]), "%lld", (long long)v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

static void p_money(struct params *p, int64_t v)
{
    p_int(p, v, v == CW_MONEY_UNKNOWN);
}

static const char *col_text(const PGresult *r, int row, int i)
{
    return PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
}

static int64_t col_int(const PGresult *r, int row, int i, int64_t if_null)
{
    if (PQgetisnull(r, row, i))
        return if_null;
    return strtoll(PQgetvalue(r, row, i), NULL, 10);
}

/* Maps a failed result (or none: the connection failed) to a CW_E* code. */
static int code_of(struct pg *g, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return PQstatus(g->conn) == CONNECTION_BAD ? CW_EIO : CW_ESTORE;
    if (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
        !strcmp(state, "55P03") || !strcmp(state, "57014"))
        return CW_EBUSY; /* serialization, deadlock, lock or statement
                            timeout: try again, as SQLITE_BUSY */
    if (!strcmp(state, "53200"))
        return CW_ENOMEM;
    if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
        return CW_EIO; /* connection lost, server shutting down */
    return CW_ESTORE;
}

/* Fails with the code for r and "SUBJECT: the server's message". */
static int vpgerr(struct pg *g, const PGresult *r, struct cw_buf *err,
                  const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static int vpgerr(struct pg *g, const PGresult *r, struct cw_buf *err,
                  const char *fmt, va_list ap)
{
    char subject[512];
    vsnprintf(subject, sizeof(subject), fmt, ap);
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg)
        msg = PQerrorMessage(g->conn);
    size_t n = strcspn(msg, "\n"); /* libpq's messages end in a newline */
    return cw_err(err, code_of(g, r), "%s: %.*s", subject, (int)n,
                  *msg ? msg : "no answer from the server");
}

static int pgerr(struct pg *g, const PGresult *r, struct cw_buf *err,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int pgerr(struct pg *g, const PGresult *r, struct cw_buf *err,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int code = vpgerr(g, r, err, fmt, ap);
    va_end(ap);
    return code;
}

static int result_ok(const PGresult *r)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Runs a constant command; 0 or a CW_E* code with "WHAT: ..." in err. */
static int command(struct pg *g, const char *sql, struct cw_buf *err,
                   const char *what)
{
    PGresult *r = PQexec(g->conn, sql);
    int code = result_ok(r) ? 0 : pgerr(g, r, err, "%s", what);
    PQclear(r);
    return code;
}

static int prepare_all(struct pg *g, struct cw_buf *err)
{
    for (int i = 0; i < ST__COUNT; i++) {
        PGresult *r = PQprepare(g->conn, stmt_name[i], stmt_sql[i], 0, NULL);
        int code = result_ok(r) ? 0
                                : pgerr(g, r, err, "preparing statement %s",
                                        stmt_name[i]);
        PQclear(r);
        if (code)
            return code;
    }
    return 0;
}

/* Session settings: SQLite's busy timeout, quiet notices. */
static int configure(struct pg *g, struct cw_buf *err)
{
    return command(g,
                   "SET lock_timeout = '5s'; "
                   "SET client_min_messages = warning",
                   err, "configuring the connection");
}

/* Makes sure the connection is usable: one found broken outside a
 * transaction is reset and set up again (as is one that a batch could not
 * take out of pipeline mode, which no other call could use). */
static int ensure(struct pg *g, struct cw_buf *err)
{
    if (PQstatus(g->conn) == CONNECTION_OK &&
        PQpipelineStatus(g->conn) == PQ_PIPELINE_OFF)
        return 0;
    if (g->in_tx)
        return cw_err(err, CW_EIO,
                      "connection to the postgresql server lost in a "
                      "transaction");
    PQreset(g->conn);
    if (PQstatus(g->conn) != CONNECTION_OK)
        return pgerr(g, NULL, err, "reconnecting to the postgresql server");
    g->scanning = 0;
    int code = configure(g, err);
    return code ? code : prepare_all(g, err);
}

static int in_transaction(struct pg *g)
{
    return PQtransactionStatus(g->conn) != PQTRANS_IDLE;
}

/* Runs statement which with p. On success *out is the result (the caller
 * clears it) when out is given; else a CW_E* code with "SUBJECT: ..." in err
 * (inside a transaction, the transaction has failed: see the top). SUBJECT
 * is fmt, formatted only on a failure. */
static int vrun(struct pg *g, enum stmt which, const struct params *p,
                PGresult **out, struct cw_buf *err, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));
static int vrun(struct pg *g, enum stmt which, const struct params *p,
                PGresult **out, struct cw_buf *err, const char *fmt, va_list ap)
{
    if (out)
        *out = NULL;
    int code = ensure(g, err);
    if (code)
        return code;
    PGresult *r = PQexecPrepared(g->conn, stmt_name[which], p ? p->n : 0,
                                 p ? p->v : NULL, NULL, NULL, 0);
    if (!result_ok(r)) {
        code = vpgerr(g, r, err, fmt, ap);
        PQclear(r);
        return code;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static int run(struct pg *g, enum stmt which, const struct params *p,
               PGresult **out, struct cw_buf *err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int run(struct pg *g, enum stmt which, const struct params *p,
               PGresult **out, struct cw_buf *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int code = vrun(g, which, p, out, err, fmt, ap);
    va_end(ap);
    return code;
}

/* Rows a command changed (INSERT ... DO NOTHING: 1 added, 0 already). */
static int changed(const PGresult *r)
{
    return atoi(PQcmdTuples((PGresult *)r)) > 0;
}

/* Runs a writing statement; returns 1 if it changed a row, 0 if not, or a
 * CW_E* code. */
static int put(struct pg *g, enum stmt which, const struct params *p,
               struct cw_buf *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int put(struct pg *g, enum stmt which, const struct params *p,
               struct cw_buf *err, const char *fmt, ...)
{
    PGresult *r;
    va_list ap;
    va_start(ap, fmt);
    int code = vrun(g, which, p, &r, err, fmt, ap);
    va_end(ap);
    if (code)
        return code;
    code = changed(r);
    PQclear(r);
    return code;
}

static void pg_close(struct cw_store *s)
{
    struct pg *g = pg_of(s);
    PQclear(g->key_res);
    PQclear(g->idem_res);
    PQfinish(g->conn);
    cw_free(g->base.url);
    cw_free(g);
}

static int pg_begin(struct cw_store *s, struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    int code = ensure(g, err);
    if (code)
        return code;
    if (g->in_tx || in_transaction(g))
        return cw_err(err, CW_ESTORE,
                      "begin transaction: a transaction is already open");
    if ((code = command(g, "BEGIN", err, "begin transaction")))
        return code;
    if ((code = command(g, LOCK_WRITE, err, "begin transaction"))) {
        command(g, "ROLLBACK", NULL, "rollback");
        return code;
    }
    g->in_tx = 1;
    return 0;
}

static int pg_commit(struct cw_store *s, struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    if (!g->in_tx)
        return cw_err(err, CW_ESTORE, "commit: no transaction is open");
    g->in_tx = 0;
    PGresult *r = PQexec(g->conn, "COMMIT");
    int code = 0;
    if (!result_ok(r))
        code = pgerr(g, r, err, "commit");
    else if (strcmp(PQcmdStatus(r), "COMMIT"))
        code = cw_err(err, CW_ESTORE,
                      "commit: the transaction had failed and was rolled "
                      "back");
    PQclear(r);
    return code;
}

/* Rolling back with no transaction open is harmless, as in SQLite. */
static int pg_rollback(struct cw_store *s, struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    g->in_tx = 0;
    if (PQstatus(g->conn) != CONNECTION_OK || !in_transaction(g))
        return 0;
    return command(g, "ROLLBACK", err, "rollback");
}

/* A unit of work that fails or succeeds whole: its own transaction when
 * none is open; inside the caller's, a failure fails that one (see the
 * top), which is as whole. */
static int unit_begin(struct pg *g, int *own, struct cw_buf *err)
{
    int code = ensure(g, err);
    if (code)
        return code;
    *own = !in_transaction(g);
    return *own ? command(g, "BEGIN", err, "begin transaction") : 0;
}

/* Ends the unit whose work returned code: rolled back when code is a
 * failure (code is returned), committed when not (the commit's failure,
 * if any, is returned). */
static int unit_end(struct pg *g, int own, int code, struct cw_buf *err)
{
    if (!own)
        return code;
    if (code) {
        command(g, "ROLLBACK", NULL, "rollback");
        return code;
    }
    return command(g, "COMMIT", err, "commit");
}

/* ---- products, orders, lines, returns ------------------------------------
 *
 * A record of these four kinds runs one statement, or two for an order of a
 * known customer (the order, then its customer's count). The single put_*
 * and put_batch share what a record runs, its parameters, what its answer
 * says and how its messages name it; put_* runs the statements one at a
 * time, put_batch sends a whole batch before reading any answer. */

/* The statements record p runs, into st; returns how many. */
static int record_stmts(const struct cw_store_put *p, enum stmt st[2])
{
    switch (p->kind) {
    case CW_STORE_PRODUCT:
        st[0] = ST_PRODUCT_PUT;
        return 1;
    case CW_STORE_ORDER:
        st[0] = ST_ORDER_PUT;
        st[1] = ST_CUSTOMER_TOUCH;
        return p->rec.order->customer ? 2 : 1;
    case CW_STORE_LINE:
        st[0] = ST_LINE_PUT;
        return 1;
    case CW_STORE_RETURN:
        st[0] = ST_RETURN_PUT;
        return 1;
    }
    return 0;
}

/* The parameters of statement `part` (0, 1) of record p. */
static void record_params(struct params *b, const struct cw_store_put *p,
                          int part)
{
    switch (p->kind) {
    case CW_STORE_PRODUCT: {
        const struct cw_product_rec *r = p->rec.product;
        p_text(b, r->sku);
        p_text(b, r->group);
        p_text(b, r->title);
        p_text(b, r->category);
        p_text(b, r->currency);
        p_text(b, r->attributes);
        p_text(b, r->tier_group);
        p_money(b, r->price);
        p_money(b, r->cost);
        p_int(b, r->inventory, r->inventory == -1);
        p_int(b, r->flags, r->flags == 0);
        p_int(b, r->tier_level, r->tier_level <= 0);
        p_int(b, r->pack_size, r->pack_size <= 0);
        return;
    }
    case CW_STORE_ORDER: {
        const struct cw_order_rec *o = p->rec.order;
        if (part == 1) { /* CUSTOMER_TOUCH */
            p_text(b, o->customer);
            p_text(b, o->ts);
            return;
        }
        p_text(b, o->id);
        p_text(b, o->customer);
        p_text(b, o->ts);
        p_text(b, o->currency);
        p_money(b, o->shipping);
        p_money(b, o->discount);
        return;
    }
    case CW_STORE_LINE: {
        const struct cw_line_rec *l = p->rec.line;
        p_text(b, l->order_id);
        p_int(b, l->line_no, 0);
        p_text(b, l->sku);
        p_int(b, l->qty, 0);
        p_money(b, l->unit_price);
        p_money(b, l->unit_cost);
        p_money(b, l->discount);
        return;
    }
    case CW_STORE_RETURN: {
        const struct cw_return_rec *r = p->rec.ret;
        p_text(b, r->id);
        p_text(b, r->order_id);
        p_text(b, r->customer);
        p_text(b, r->sku);
        p_text(b, r->ts);
        p_int(b, r->qty, 0);
        p_money(b, r->amount);
        return;
    }
    }
}

/* How messages name statement `part` of record p: "order line 536365:3". */
static void record_subject(const struct cw_store_put *p, int part, char *out,
                           size_t size)
{
    switch (p->kind) {
    case CW_STORE_PRODUCT:
        snprintf(out, size, "product '%s'", p->rec.product->sku);
        return;
    case CW_STORE_ORDER:
        if (part == 1)
            snprintf(out, size, "customer '%s' of order '%s'",
                     p->rec.order->customer, p->rec.order->id);
        else
            snprintf(out, size, "order '%s'", p->rec.order->id);
        return;
    case CW_STORE_LINE:
        snprintf(out, size, "order line %s:%d", p->rec.line->order_id,
                 p->rec.line->line_no);
        return;
    case CW_STORE_RETURN:
        snprintf(out, size, "return '%s'", p->rec.ret->id);
        return;
    }
    snprintf(out, size, "record");
}

/* Whether record p was added, from the answer r of its first statement. */
static int record_added(const struct cw_store_put *p, const PGresult *r)
{
    switch (p->kind) {
    case CW_STORE_PRODUCT: /* xmax is 0 on a row this statement inserted,
                              not on one it updated */
        return PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "t");
    case CW_STORE_ORDER: /* ORDER_ADDED as the statement set it */
        return PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "1");
    case CW_STORE_LINE:
    case CW_STORE_RETURN:
        return changed(r);
    }
    return 0;
}

/* Writes one checked record: 1 added, 0 already there, or a CW_E* code.
 * An order and its customer's count are one unit, so a failure leaves
 * neither; the count is not even asked for an order that was there. */
static int put_record(struct pg *g, struct cw_store_put *p, struct cw_buf *err)
{
    enum stmt st[2];
    int parts = record_stmts(p, st), own = 0, code = 0;
    if (parts > 1 && (code = unit_begin(g, &own, err)))
        return code;
    for (int part = 0; part < parts && !code; part++) {
        if (part > 0 && !p->added)
            break;
        struct params b = {0};
        record_params(&b, p, part);
        char subject[512];
        record_subject(p, part, subject, sizeof(subject));
        PGresult *r;
        code = run(g, st[part], &b, &r, err, "%s", subject);
        if (!code && part == 0)
            p->added = record_added(p, r);
        PQclear(r);
    }
    if (parts > 1)
        code = unit_end(g, own, code, err);
    return code ? code : p->added;
}

static int pg_put_product(struct cw_store *s, const struct cw_product_rec *p,
                          struct cw_buf *err)
{
    int code = cw__store_check_product(p, err);
    struct cw_store_put put = {.kind = CW_STORE_PRODUCT, .rec.product = p};
    return code ? code : put_record(pg_of(s), &put, err);
}

static int pg_put_order(struct cw_store *s, const struct cw_order_rec *o,
                        struct cw_buf *err)
{
    int code = cw__store_check_order(o, err);
    struct cw_store_put put = {.kind = CW_STORE_ORDER, .rec.order = o};
    return code ? code : put_record(pg_of(s), &put, err);
}

static int pg_put_line(struct cw_store *s, const struct cw_line_rec *l,
                       struct cw_buf *err)
{
    int code = cw__store_check_line(l, err);
    struct cw_store_put put = {.kind = CW_STORE_LINE, .rec.line = l};
    return code ? code : put_record(pg_of(s), &put, err);
}

static int pg_put_return(struct cw_store *s, const struct cw_return_rec *r,
                         struct cw_buf *err)
{
    int code = cw__store_check_return(r, err);
    struct cw_store_put put = {.kind = CW_STORE_RETURN, .rec.ret = r};
    return code ? code : put_record(pg_of(s), &put, err);
}

/* A batch that failed as a whole (the connection, not one record). */
static int batch_err(struct pg *g, const PGresult *r, size_t n,
                     struct cw_buf *err)
{
    return pgerr(g, r, err, "writing a batch of %zu records", n);
}

/* Reads the answers to the first `sent` statements of the records of p and
 * then the sync's, filling in each record's added. After a statement that
 * failed the server skipped the rest (PGRES_PIPELINE_ABORTED), so the first
 * failure is the one reported, as the put_* one after another would have
 * it. code is a failure to send already reported (0 if none). */
static int read_answers(struct pg *g, struct cw_store_put *p, size_t n,
                        size_t sent, int code, size_t *failed,
                        struct cw_buf *err)
{
    size_t got = 0;
    for (size_t i = 0; i < n && got < sent; i++) {
        enum stmt st[2];
        int parts = record_stmts(&p[i], st);
        for (int part = 0; part < parts && got < sent; part++, got++) {
            PGresult *r = PQgetResult(g->conn);
            if (!r) { /* no answer at all: the connection failed */
                if (!code)
                    code = batch_err(g, NULL, n, err);
                return code;
            }
            if (result_ok(r)) {
                if (part == 0)
                    p[i].added = record_added(&p[i], r);
            } else if (!code && code_of(g, r) == CW_EIO) {
                /* the connection, lost: no fault of this record's */
                code = batch_err(g, r, n, err);
            } else if (!code && PQresultStatus(r) != PGRES_PIPELINE_ABORTED) {
                char subject[512];
                record_subject(&p[i], part, subject, sizeof(subject));
                code = pgerr(g, r, err, "%s", subject);
                *failed = i;
            }
            PQclear(r);
            while ((r = PQgetResult(g->conn))) /* to this statement's end */
                PQclear(r);
        }
    }
    PGresult *r;
    while ((r = PQgetResult(g->conn))) {
        int sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync)
            break;
    }
    return code;
}

/* libpq's pipeline mode: every statement of the batch is sent, then one
 * sync, then the answers are read, so the batch waits for the server once.
 * The statements and what each answer means are those of put_record, and
 * the server runs them in order, so a record sees the ones before it, in
 * the batch too: a duplicate within the batch is not added twice, and a
 * customer touched by two of its orders counts both. libpq reads answers
 * while a long batch is still being sent, so the two ends never wait for
 * each other's full buffers. */
static int pg_put_batch(struct cw_store *s, struct cw_store_put *p, size_t n,
                        size_t *failed, struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    int own = 0, code = cw__store_check_batch(p, n, failed, err);
    if (code || n == 0)
        return code;
    for (size_t i = 0; i < n; i++)
        p[i].added = 0;
    if ((code = unit_begin(g, &own, err)))
        return code;
    if (!PQenterPipelineMode(g->conn))
        return unit_end(g, own, batch_err(g, NULL, n, err), err);
    size_t sent = 0;
    for (size_t i = 0; i < n && !code; i++) {
        enum stmt st[2];
        int parts = record_stmts(&p[i], st);
        for (int part = 0; part < parts && !code; part++) {
            struct params b = {0};
            record_params(&b, &p[i], part);
            if (PQsendQueryPrepared(g->conn, stmt_name[st[part]], b.n, b.v,
                                    NULL, NULL, 0))
                sent++;
            else
                code = batch_err(g, NULL, n, err);
        }
    }
    /* without the sync the server would not answer: nothing to read */
    if (PQpipelineSync(g->conn))
        code = read_answers(g, p, n, sent, code, failed, err);
    else if (!code)
        code = batch_err(g, NULL, n, err);
    if (!PQexitPipelineMode(g->conn) && !code)
        code = batch_err(g, NULL, n, err);
    if ((code = unit_end(g, own, code, err)))
        return code;
    int added = 0;
    for (size_t i = 0; i < n; i++)
        added += p[i].added;
    return added;
}

/* A scan's callback, by record type, and its context. */
struct scan_cb {
    union {
        int (*product)(void *ctx, const struct cw_product_rec *p);
        int (*line)(void *ctx, const struct cw_store_line *l);
        int (*ret)(void *ctx, const struct cw_return_rec *r);
        int (*event)(void *ctx, const struct cw_event_rec *e);
        int (*decision)(void *ctx, const struct cw_decision_rec *d);
        int (*key)(void *ctx, const struct cw_key_rec *k);
    } fn;
    void *ctx;
};

/* Reads scan which through its cursor, calling row(res, i, cb) for each
 * row until one returns non-zero (returned as is). A scan of the same kind
 * from inside a callback would share the cursor, so it is refused. */
static int scan(struct pg *g, enum scan which,
                int (*row)(const PGresult *r, int i, const struct scan_cb *cb),
                const struct scan_cb *cb, struct cw_buf *err)
{
    const char *what = scan_sql[which].what;
    if (g->scanning & (1u << which))
        return cw_err(err, CW_EBUSY, "scan of %s already in progress", what);
    int code = ensure(g, err);
    if (code)
        return code;
    int own = !in_transaction(g), stop = 0;
    if (own && (code = command(g, "BEGIN", err, "begin transaction")))
        return code;
    code = command(g, scan_sql[which].declare, err, "scanning");
    if (!code) {
        g->scanning |= 1u << which;
        for (;;) {
            PGresult *r = PQexec(g->conn, scan_sql[which].fetch);
            if (!result_ok(r)) {
                code = pgerr(g, r, err, "scanning %s", what);
                PQclear(r);
                break;
            }
            int n = PQntuples(r);
            for (int i = 0; !stop && i < n; i++)
                stop = row(r, i, cb);
            PQclear(r);
            if (stop || n == 0)
                break;
        }
        g->scanning &= ~(1u << which);
    }
    if (!code)
        code = command(g, scan_sql[which].close, err, "scanning");
    if (own && code)
        command(g, "ROLLBACK", NULL, "rollback");
    else if (own && in_transaction(g))
        code = command(g, "COMMIT", err, "scanning");
    return code ? code : stop;
}

static int product_row(const PGresult *r, int i, const struct scan_cb *cb)
{
    struct cw_product_rec p = {
        .sku = col_text(r, i, 0),
        .group = col_text(r, i, 1),
        .title = col_text(r, i, 2),
        .category = col_text(r, i, 3),
        .currency = col_text(r, i, 4),
        .attributes = col_text(r, i, 5),
        .tier_group = col_text(r, i, 6),
        .price = col_int(r, i, 7, CW_MONEY_UNKNOWN),
        .cost = col_int(r, i, 8, CW_MONEY_UNKNOWN),
        .inventory = col_int(r, i, 9, -1),
        .flags = (unsigned)col_int(r, i, 10, 0),
        .tier_level = (int)col_int(r, i, 11, 0),
        .pack_size = (int)col_int(r, i, 12, 1),
    };
    return cb->fn.product(cb->ctx, &p);
}

static int pg_scan_products(struct cw_store *s,
                            int (*cb)(void *ctx,
                                      const struct cw_product_rec *p),
                            void *ctx, struct cw_buf *err)
{
    struct scan_cb c = {.fn.product = cb, .ctx = ctx};
    return scan(pg_of(s), SC_PRODUCTS, product_row, &c, err);
}

static int line_row(const PGresult *r, int i, const struct scan_cb *cb)
{
    struct cw_store_line l = {
        .order_id = col_text(r, i, 0),
        .customer = col_text(r, i, 1),
        .ts = col_text(r, i, 2),
        .sku = col_text(r, i, 3),
        .qty = col_int(r, i, 4, 0),
        .unit_price = col_int(r, i, 5, CW_MONEY_UNKNOWN),
        .unit_cost = col_int(r, i, 6, CW_MONEY_UNKNOWN),
    };
    return cb->fn.line(cb->ctx, &l);
}

static int pg_scan_lines(struct cw_store *s,
                         int (*cb)(void *ctx, const struct cw_store_line *l),
                         void *ctx, struct cw_buf *err)
{
    struct scan_cb c = {.fn.line = cb, .ctx = ctx};
    return scan(pg_of(s), SC_LINES, line_row, &c, err);
}

static int return_row(const PGresult *r, int i, const struct scan_cb *cb)
{
    struct cw_return_rec v = {
        .id = col_text(r, i, 0),
        .order_id = col_text(r, i, 1),
        .customer = col_text(r, i, 2),
        .sku = col_text(r, i, 3),
        .ts = col_text(r, i, 4),
        .qty = col_int(r, i, 5, 0),
        .amount = col_int(r, i, 6, CW_MONEY_UNKNOWN),
    };
    return cb->fn.ret(cb->ctx, &v);
}

static int pg_scan_returns(struct cw_store *s,
                           int (*cb)(void *ctx, const struct cw_return_rec *r),
                           void *ctx, struct cw_buf *err)
{
    struct scan_cb c = {.fn.ret = cb, .ctx = ctx};
    return scan(pg_of(s), SC_RETURNS, return_row, &c, err);
}

static int pg_counts(struct cw_store *s, struct cw_store_counts *out,
                     struct cw_buf *err)
{
    PGresult *r;
    int code = run(pg_of(s), ST_COUNTS, NULL, &r, err, "counting records");
    if (code)
        return code;
    out->products = col_int(r, 0, 0, 0);
    out->customers = col_int(r, 0, 1, 0);
    out->orders = col_int(r, 0, 2, 0);
    out->lines = col_int(r, 0, 3, 0);
    out->returns = col_int(r, 0, 4, 0);
    out->events = col_int(r, 0, 5, 0);
    out->decisions = col_int(r, 0, 6, 0);
    out->models = col_int(r, 0, 7, 0);
    PQclear(r);
    return 0;
}

static int pg_put_event(struct cw_store *s, const struct cw_event_rec *e,
                        struct cw_buf *err)
{
    int code = cw__store_check_event(e, err);
    if (code)
        return code;
    struct params b = {0};
    p_text(&b, e->id);
    p_text(&b, e->session);
    p_text(&b, e->customer);
    p_text(&b, e->ts);
    p_text(&b, e->type);
    p_text(&b, e->sku);
    p_text(&b, e->decision_id);
    p_text(&b, e->placement);
    p_text(&b, e->reason);
    p_text(&b, e->order_id);
    p_money(&b, e->value);
    p_money(&b, e->profit);
    p_text(&b, e->payload);
    return put(pg_of(s), ST_EVENT_PUT, &b, err, "event '%s'", e->id);
}

static int event_row(const PGresult *r, int i, const struct scan_cb *cb)
{
    struct cw_event_rec e = {
        .id = col_text(r, i, 0),
        .type = col_text(r, i, 1),
        .session = col_text(r, i, 2),
        .customer = col_text(r, i, 3),
        .ts = col_text(r, i, 4),
        .sku = col_text(r, i, 5),
        .decision_id = col_text(r, i, 6),
        .placement = col_text(r, i, 7),
        .reason = col_text(r, i, 8),
        .order_id = col_text(r, i, 9),
        .value = col_int(r, i, 10, CW_MONEY_UNKNOWN),
        .profit = col_int(r, i, 11, CW_MONEY_UNKNOWN),
        .payload = col_text(r, i, 12),
    };
    return cb->fn.event(cb->ctx, &e);
}

static int pg_scan_events(struct cw_store *s,
                          int (*cb)(void *ctx, const struct cw_event_rec *e),
                          void *ctx, struct cw_buf *err)
{
    struct scan_cb c = {.fn.event = cb, .ctx = ctx};
    return scan(pg_of(s), SC_EVENTS, event_row, &c, err);
}

/* A batch of decisions is written by multi-row INSERTs of up to
 * DECISION_ROWS rows (12 parameters each; PostgreSQL takes 65,535): one
 * round trip per chunk instead of one per decision, which is what lets a
 * server's decision log keep up on a PostgreSQL store. The statement text
 * holds only placeholders; it is not prepared, as its row count varies. */
#define DECISION_ROWS 256

static int pg_put_decisions(struct cw_store *s, const struct cw_decision_rec *d,
                            size_t n, struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    int own, code = cw__store_check_decisions(d, n, err);
    if (code || n == 0)
        return code;
    if ((code = unit_begin(g, &own, err)))
        return code;
    size_t chunk = n < DECISION_ROWS ? n : DECISION_ROWS;
    const char **v = cw_malloc(chunk * 12 * sizeof(*v));
    char(*num)[24] = cw_malloc(chunk * 2 * sizeof(*num));
    struct cw_buf sql = CW_BUF_INIT;
    int added = 0;
    for (size_t at = 0; at < n && !code; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        cw_buf_reset(&sql);
        cw_buf_adds(&sql, "INSERT INTO decisions(id, session_id, customer_id, "
                          "experiment, arm, placement, ts, model_version, "
                          "cart_value, shown, request, incentives) VALUES ");
        for (size_t r = 0; r < m; r++) {
            const struct cw_decision_rec *x = &d[at + r];
            const char **row = v + r * 12;
            cw_buf_adds(&sql, r ? ",(" : "(");
            for (size_t c = 0; c < 12; c++)
                cw_buf_addf(&sql, "%s$%zu", c ? "," : "", r * 12 + c + 1);
            cw_buf_addch(&sql, ')');
            snprintf(num[2 * r], sizeof(num[0]), "%lld",
                     (long long)x->model_version);
            snprintf(num[2 * r + 1], sizeof(num[0]), "%lld",
                     (long long)x->cart_value);
            row[0] = x->id;
            row[1] = x->session;
            row[2] = x->customer;
            row[3] = x->experiment;
            row[4] = x->arm;
            row[5] = x->placement;
            row[6] = x->ts;
            row[7] = num[2 * r];
            row[8] = x->cart_value == CW_MONEY_UNKNOWN ? NULL : num[2 * r + 1];
            row[9] = x->shown;
            row[10] = x->request;
            row[11] = x->incentives;
        }
        cw_buf_adds(&sql, " ON CONFLICT(id) DO NOTHING");
        PGresult *r = PQexecParams(g->conn, cw_buf_str(&sql), (int)(m * 12),
                                   NULL, v, NULL, NULL, 0);
        if (result_ok(r))
            added += atoi(PQcmdTuples(r));
        else
            code = pgerr(g, r, err, "decisions '%s'..'%s'", d[at].id,
                         d[at + m - 1].id);
        PQclear(r);
    }
    cw_buf_release(&sql);
    cw_free(num);
    cw_free(v);
    code = unit_end(g, own, code, err);
    return code ? code : added;
}

static int decision_row(const PGresult *r, int i, const struct scan_cb *cb)
{
    struct cw_decision_rec d = {
        .id = col_text(r, i, 0),
        .session = col_text(r, i, 1),
        .customer = col_text(r, i, 2),
        .experiment = col_text(r, i, 3),
        .arm = col_text(r, i, 4),
        .placement = col_text(r, i, 5),
        .ts = col_text(r, i, 6),
        .model_version = col_int(r, i, 7, 0),
        .cart_value = col_int(r, i, 8, CW_MONEY_UNKNOWN),
        .shown = col_text(r, i, 9),
        .request = col_text(r, i, 10),
        .incentives = col_text(r, i, 11),
    };
    return cb->fn.decision(cb->ctx, &d);
}

static int pg_scan_decisions(struct cw_store *s,
                             int (*cb)(void *ctx,
                                       const struct cw_decision_rec *d),
                             void *ctx, struct cw_buf *err)
{
    struct scan_cb c = {.fn.decision = cb, .ctx = ctx};
    return scan(pg_of(s), SC_DECISIONS, decision_row, &c, err);
}

/* Adds a key, or updates the mutable parts of a stored one (origins when
 * given; revocation, which is one-way). The same id with another hash is a
 * different key and is refused. */
static int pg_put_key(struct cw_store *s, const struct cw_key_rec *k,
                      struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    int code = cw__store_check_key(k, err);
    if (code)
        return code;
    struct params h = {0};
    p_text(&h, k->id);
    PGresult *r;
    if ((code = run(g, ST_KEY_HASH, &h, &r, err, "key '%s'", k->id)))
        return code;
    int found = PQntuples(r) > 0;
    int same = found && !strcmp(PQgetvalue(r, 0, 0), k->hash);
    PQclear(r);
    if (found && !same)
        return cw_err(err, CW_EEXIST, "key '%s' exists with another secret",
                      k->id);
    struct params b = {0};
    p_text(&b, k->id);
    if (found) {
        p_text(&b, k->origins);
        p_int(&b, k->revoked != 0, 0);
    } else {
        p_text(&b, k->kind);
        p_text(&b, k->hash);
        p_text(&b, k->created_at);
        p_text(&b, k->origins);
        p_int(&b, k->revoked != 0, 0);
    }
    code = run(g, found ? ST_KEY_UPDATE : ST_KEY_INSERT, &b, NULL, err,
               "key '%s'", k->id);
    return code ? code : !found;
}

static int pg_find_key(struct cw_store *s, const char *hash,
                       struct cw_key_rec *out, struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    PQclear(g->key_res);
    g->key_res = NULL;
    memset(out, 0, sizeof(*out));
    int code = cw__store_check_key_hash(hash, err);
    if (code)
        return code;
    struct params b = {0};
    p_text(&b, hash);
    PGresult *r;
    code = run(g, ST_KEY_FIND, &b, &r, err, "key lookup");
    if (code)
        return code;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return cw_err(err, CW_ENOENT, "no such key");
    }
    g->key_res = r; /* the record points into it */
    out->id = col_text(r, 0, 0);
    out->kind = col_text(r, 0, 1);
    out->hash = col_text(r, 0, 2);
    out->created_at = col_text(r, 0, 3);
    out->origins = col_text(r, 0, 4);
    out->revoked = col_int(r, 0, 5, 0) != 0;
    return 0;
}

static int key_row(const PGresult *r, int i, const struct scan_cb *cb)
{
    struct cw_key_rec k = {
        .id = col_text(r, i, 0),
        .kind = col_text(r, i, 1),
        .created_at = col_text(r, i, 2),
        .origins = col_text(r, i, 3),
        .revoked = col_int(r, i, 4, 0) != 0,
    };
    return cb->fn.key(cb->ctx, &k);
}

static int pg_scan_keys(struct cw_store *s,
                        int (*cb)(void *ctx, const struct cw_key_rec *k),
                        void *ctx, struct cw_buf *err)
{
    struct scan_cb c = {.fn.key = cb, .ctx = ctx};
    return scan(pg_of(s), SC_KEYS, key_row, &c, err);
}

static int pg_revoke_key(struct cw_store *s, const char *id, struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    int code = cw__store_check_key_id(id, err);
    if (code)
        return code;
    struct params b = {0};
    p_text(&b, id);
    PGresult *r;
    code = run(g, ST_KEY_REVOKED, &b, &r, err, "key '%s'", id);
    if (code)
        return code;
    int found = PQntuples(r) > 0;
    int was = found && col_int(r, 0, 0, 0) != 0;
    PQclear(r);
    if (!found)
        return cw_err(err, CW_ENOENT, "no key with id '%s'", id);
    if (was)
        return 0;
    code = run(g, ST_KEY_REVOKE, &b, NULL, err, "key '%s'", id);
    return code ? code : 1;
}

static void idem_scope(struct params *p, const struct cw_idem_rec *r)
{
    p_text(p, r->key_id);
    p_text(p, r->idem_key);
    p_text(p, r->method);
    p_text(p, r->path);
}

/* Reads the entry of in's scope into *out: 1 found, 0 none, or a code. */
static int idem_get(struct pg *g, const struct cw_idem_rec *in,
                    struct cw_idem_rec *out, struct cw_buf *err)
{
    struct params b = {0};
    idem_scope(&b, in);
    PGresult *r;
    int code = run(g, ST_IDEM_GET, &b, &r, err, "idempotency lookup");
    if (code)
        return code;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    PQclear(g->idem_res);
    g->idem_res = r; /* the record points into it */
    *out = *in;
    out->request_hash = col_text(r, 0, 0);
    out->status = (int)col_int(r, 0, 1, 0);
    out->content_type = col_text(r, 0, 2);
    out->body = col_text(r, 0, 3);
    out->created_at = col_text(r, 0, 4);
    return 1;
}

/* Two nodes may claim the same key at once: the insert that loses the race
 * adds nothing, and the loser answers with the winner's entry, as SQLite's
 * write lock would have had it. */
static int pg_idem_claim(struct cw_store *s, const struct cw_idem_rec *in,
                         const char *since, struct cw_idem_rec *out,
                         struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    int code = cw__store_check_idem(in, err);
    if (code)
        return code;
    struct params p = {0};
    p_text(&p, since);
    if ((code = run(g, ST_IDEM_PURGE, &p, NULL, err, "idempotency purge")))
        return code;
    for (int tries = 0; tries < 2; tries++) {
        if ((code = idem_get(g, in, out, err)))
            return code;
        struct params b = {0};
        idem_scope(&b, in);
        p_text(&b, in->request_hash);
        p_text(&b, in->created_at);
        code = put(g, ST_IDEM_PUT, &b, err, "idempotency entry");
        if (code)
            return code < 0 ? code : 0;
    }
    return cw_err(err, CW_EBUSY,
                  "idempotency entry: claimed and released "
                  "meanwhile");
}

static int pg_idem_finish(struct cw_store *s, const struct cw_idem_rec *in,
                          struct cw_buf *err)
{
    struct pg *g = pg_of(s);
    struct params b = {0};
    idem_scope(&b, in);
    if (in->status == 0) /* released: the next request runs anew */
        return run(g, ST_IDEM_DELETE, &b, NULL, err, "idempotency entry");
    p_int(&b, in->status, 0);
    p_text(&b, in->content_type);
    p_text(&b, in->body);
    return run(g, ST_IDEM_FINISH, &b, NULL, err, "idempotency entry");
}

static int pg_put_webhook(struct cw_store *s, const char *id, const char *topic,
                          const char *shop, const char *body,
                          struct cw_buf *err)
{
    int code = cw__store_check_webhook_id(id, err);
    if (code)
        return code;
    struct params b = {0};
    p_text(&b, id);
    p_text(&b, topic);
    p_text(&b, shop);
    p_text(&b, body);
    return put(pg_of(s), ST_WEBHOOK_PUT, &b, err, "webhook delivery '%s'", id);
}

/* Copies a fixed-size char array that may lack its NUL. */
static void field(char *dst, const char *src, size_t size)
{
    size_t n = strnlen(src, size);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int pg_model_add(struct cw_store *s, struct cw_model_info *info,
                        struct cw_buf *err)
{
    int code = cw__store_model_prepare(info, err);
    if (code)
        return code;
    char path[sizeof(info->path) + 1], sum[sizeof(info->checksum) + 1],
        created[sizeof(info->created_at) + 1];
    field(path, info->path, sizeof(info->path));
    field(sum, info->checksum, sizeof(info->checksum));
    field(created, info->created_at, sizeof(info->created_at));
    struct params b = {0};
    p_text(&b, path);
    p_text(&b, sum);
    p_text(&b, created);
    p_int(&b, info->items, 0);
    p_int(&b, info->customers, 0);
    p_int(&b, info->baskets, 0);
    PGresult *r;
    code = run(pg_of(s), ST_MODEL_ADD, &b, &r, err, "model '%s'", path);
    if (code)
        return code;
    info->version = col_int(r, 0, 0, 0);
    PQclear(r);
    return 0;
}

/* Copies column i into a char array of size bytes; -1 if it does not fit. */
static int col_copy(const PGresult *r, int i, char *dst, size_t size)
{
    const char *v = col_text(r, 0, i);
    size_t n = v ? (size_t)PQgetlength(r, 0, i) : 0;
    if (n >= size)
        return -1;
    memcpy(dst, v ? v : "", n);
    dst[n] = '\0';
    return 0;
}

static int pg_model_latest(struct cw_store *s, struct cw_model_info *out,
                           struct cw_buf *err)
{
    PGresult *r;
    int code = run(pg_of(s), ST_MODEL_LATEST, NULL, &r, err,
                   "reading the newest model version");
    if (code)
        return code;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return cw_err(err, CW_ENOENT, "no model trained yet");
    }
    memset(out, 0, sizeof(*out));
    out->version = col_int(r, 0, 0, 0);
    if (col_copy(r, 1, out->path, sizeof(out->path)) ||
        col_copy(r, 2, out->checksum, sizeof(out->checksum)) ||
        col_copy(r, 3, out->created_at, sizeof(out->created_at)))
        code = cw_err(err, CW_ECORRUPT,
                      "model version %lld has an oversized field",
                      (long long)out->version);
    out->items = col_int(r, 0, 4, 0);
    out->customers = col_int(r, 0, 5, 0);
    out->baskets = col_int(r, 0, 6, 0);
    PQclear(r);
    return code;
}

static int pg_meta_get(struct cw_store *s, const char *key, char **out,
                       struct cw_buf *err)
{
    *out = NULL;
    int code = cw__store_check_meta_key(key, err);
    if (code)
        return code;
    struct params b = {0};
    p_text(&b, key);
    PGresult *r;
    code = run(pg_of(s), ST_META_GET, &b, &r, err, "setting '%s'", key);
    if (code)
        return code;
    if (PQntuples(r) == 1)
        *out = cw_strdup(col_text(r, 0, 0));
    else
        code = cw_err(err, CW_ENOENT, "setting '%s' is not set", key);
    PQclear(r);
    return code;
}

/* A NULL value removes the setting. */
static int pg_meta_set(struct cw_store *s, const char *key, const char *value,
                       struct cw_buf *err)
{
    int code = cw__store_check_meta_key(key, err);
    if (code)
        return code;
    struct params b = {0};
    p_text(&b, key);
    if (value)
        p_text(&b, value);
    return run(pg_of(s), value ? ST_META_SET : ST_META_DEL, &b, NULL, err,
               "setting '%s'", key);
}

/* One upsert: PostgreSQL locks the day's row (ON CONFLICT DO UPDATE sees
 * the newest version, whoever committed it), so concurrent leases from any
 * number of servers queue on it and never grant the same money twice. */
static int pg_budget_lease(struct cw_store *s, int64_t day, int64_t limit,
                           int64_t want, int64_t *granted, struct cw_buf *err)
{
    *granted = 0;
    int code = cw__store_check_lease(day, limit, want, err);
    if (code)
        return code;
    struct params b = {0};
    p_int(&b, day, 0);
    p_int(&b, limit, 0);
    p_int(&b, want, 0);
    PGresult *r;
    code = run(pg_of(s), ST_BUDGET_LEASE, &b, &r, err,
               "budget lease of day %lld", (long long)day);
    if (code)
        return code;
    if (PQntuples(r) == 1)
        *granted = col_int(r, 0, 0, 0);
    else
        code = cw_err(err, CW_ESTORE, "budget lease of day %lld: no row",
                      (long long)day);
    PQclear(r);
    return code;
}

static const struct cw_store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .put_product = pg_put_product,
    .put_order = pg_put_order,
    .put_line = pg_put_line,
    .put_return = pg_put_return,
    .put_batch = pg_put_batch,
    .scan_products = pg_scan_products,
    .scan_lines = pg_scan_lines,
    .scan_returns = pg_scan_returns,
    .counts = pg_counts,
    .model_add = pg_model_add,
    .model_latest = pg_model_latest,
    .put_event = pg_put_event,
    .put_decisions = pg_put_decisions,
    .scan_events = pg_scan_events,
    .scan_decisions = pg_scan_decisions,
    .put_key = pg_put_key,
    .find_key = pg_find_key,
    .scan_keys = pg_scan_keys,
    .revoke_key = pg_revoke_key,
    .idem_claim = pg_idem_claim,
    .idem_finish = pg_idem_finish,
    .put_webhook = pg_put_webhook,
    .meta_get = pg_meta_get,
    .meta_set = pg_meta_set,
    .budget_lease = pg_budget_lease,
};

/* Reads the newest applied version into *version: 0 on a new database
 * (no schema_migrations table in the search path yet). Writes nothing, so a
 * store that is up to date opens with a read-only role or on a standby. */
static int schema_version(struct pg *g, int *version, struct cw_buf *err)
{
    *version = 0;
    PGresult *r =
        PQexec(g->conn, "SELECT to_regclass('schema_migrations') IS NOT NULL");
    int code = 0;
    if (!result_ok(r))
        code = pgerr(g, r, err, "reading the schema version");
    else if (!strcmp(PQgetvalue(r, 0, 0), "t")) {
        PQclear(r);
        r = PQexec(g->conn, "SELECT COALESCE(max(version), 0) FROM "
                            "schema_migrations");
        if (!result_ok(r))
            code = pgerr(g, r, err, "reading the schema version");
        else
            *version = (int)col_int(r, 0, 0, 0);
    }
    PQclear(r);
    if (!code && *version > cw__migration_latest())
        code = cw__migration_too_new(err, *version);
    return code;
}

/* Applies every migration newer than the database, all in one transaction
 * under an advisory lock (the version read again inside it), so that two
 * processes opening a new database at once apply each migration once; a
 * database newer than this build is refused before anything changes. */
static int migrate(struct pg *g, struct cw_buf *err)
{
    int version = 0;
    int code = schema_version(g, &version, err);
    if (code || version == cw__migration_latest())
        return code;
    code = command(g, "BEGIN", err, "migrating");
    if (!code)
        code = command(g, LOCK_MIGRATE, err, "migrating");
    if (!code)
        code = command(g,
                       "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       "  version BIGINT NOT NULL PRIMARY KEY,"
                       "  name TEXT NOT NULL,"
                       "  applied_at TEXT NOT NULL"
                       ")",
                       err, "migrating");
    if (!code)
        code = schema_version(g, &version, err);
    size_t n;
    const struct cw__migration *m = cw__migration_pg_table(&n);
    for (size_t i = 0; !code && i < n; i++) {
        if (m[i].version <= version)
            continue;
        PGresult *r = PQexec(g->conn, m[i].sql);
        if (result_ok(r)) {
            char v[16];
            snprintf(v, sizeof(v), "%d", m[i].version);
            const char *vals[] = {v, m[i].name};
            PQclear(r);
            r = PQexecParams(g->conn,
                             "INSERT INTO schema_migrations(version, name, "
                             "applied_at) VALUES ($1, $2, " NOW_SQL ")",
                             2, NULL, vals, NULL, NULL, 0);
        }
        if (!result_ok(r))
            code =
                pgerr(g, r, err, "migration %d (%s)", m[i].version, m[i].name);
        PQclear(r);
    }
    if (code) {
        command(g, "ROLLBACK", NULL, "rollback");
        return code;
    }
    return command(g, "COMMIT", err, "migrating");
}

static int open_db(struct pg *g, const char *url, struct cw_buf *err)
{
    char *why = NULL, shown[512];
    cw_store_shown(url, shown, sizeof(shown)); /* never the password */
    PQconninfoOption *opts = PQconninfoParse(url, &why);
    if (!opts) {
        size_t n = why ? strcspn(why, "\n") : 0;
        int code = cw_err(err, CW_EINVAL, "invalid postgresql url '%s': %.*s",
                          shown, (int)n, why ? why : "out of memory");
        PQfreemem(why);
        return code;
    }
    PQconninfoFree(opts);
    /* the url's own settings come last, so they win */
    const char *keys[] = {"connect_timeout", "fallback_application_name",
                          "dbname", NULL};
    const char *vals[] = {"10", "cartwise", url, NULL};
    g->conn = PQconnectdbParams(keys, vals, 1);
    if (!g->conn)
        return cw_err(err, CW_ENOMEM, "cannot connect to '%s'", shown);
    if (PQstatus(g->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(g->conn);
        size_t n = strcspn(msg, "\n");
        return cw_err(err, CW_EIO, "cannot connect to '%s': %.*s", shown,
                      (int)n, msg);
    }
    int code = configure(g, err);
    if (!code)
        code = migrate(g, err);
    return code ? code : prepare_all(g, err);
}

int cw__store_pg_open(struct cw_store **out, const char *url,
                      struct cw_buf *err)
{
    *out = NULL;
    struct pg *g = cw_calloc(1, sizeof(*g));
    g->base.ops = &pg_ops;
    g->base.url = cw_strdup(url);
    int code = open_db(g, url, err);
    if (code) {
        pg_close(&g->base);
        return code;
    }
    *out = &g->base;
    return 0;
}
