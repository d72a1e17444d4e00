/*
 * store_sqlite.c: the embedded SQLite backend of the store (see cw_store.h).
 *
 * One connection per struct cw_store, not shared between threads. The
 * database runs in WAL mode with synchronous=NORMAL (a crash may lose the
 * last commits but never corrupts), foreign keys on and a 5 s busy timeout
 * so that an importer and a server can share the file. The page cache may
 * grow to 64 MiB per connection (SQLite's default is 2 MiB): an import's
 * inserts into order_lines' key and its foreign-key lookups land all over
 * a tree of millions of rows (15M lines imported 18% faster, 5M 9%). Every
 * statement is prepared once at open, from one table, and reset after each use
 * so that no finished scan keeps a read snapshot open.
 *
 * Unknown values are NULL in the database and come back as the records'
 * markers: money CW_MONEY_UNKNOWN, inventory -1. A product upsert only adds
 * or overwrites what the new record knows (COALESCE): an order import that
 * knows a price but no cost must not erase the catalog's cost. For the
 * integer fields that have no unknown marker, the "nothing said" values are
 * treated the same way: flags 0, tier level <= 0 and pack size <= 0 keep
 * what is stored (and read back as 0, 0 and 1 when nothing ever was).
 *
 * Inserts of orders, lines, returns, events, decisions and webhook
 * deliveries use ON CONFLICT DO NOTHING rather than INSERT OR IGNORE: OR
 * IGNORE would also silently skip rows that fail a CHECK or NOT NULL
 * constraint, and a bad quantity must be an error, not a duplicate.
 */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "store/migrations.h"
#include "store/store_int.h"

#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"

/* X(NAME, sql): every statement the backend runs after open. */
#define STMTS(X)                                                               \
    X(BEGIN, "BEGIN IMMEDIATE")                                                \
    X(COMMIT, "COMMIT")                                                        \
    X(ROLLBACK, "ROLLBACK")                                                    \
    X(SP_BEGIN, "SAVEPOINT cw_put")                                            \
    X(SP_RELEASE, "RELEASE cw_put")                                            \
    X(SP_ROLLBACK, "ROLLBACK TO cw_put")                                       \
    X(PRODUCT_EXISTS, "SELECT 1 FROM products WHERE sku = ?1")                 \
    X(PRODUCT_PUT,                                                             \
      "INSERT INTO products(sku, grp, title, category, currency, attributes, " \
      "tier_group, price, cost, inventory, flags, tier_level, pack_size, "     \
      "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "     \
      "?12, ?13, " NOW_SQL ") ON CONFLICT(sku) DO UPDATE SET "                 \
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
      "updated_at = excluded.updated_at")                                      \
    X(ORDER_PUT,                                                               \
      "INSERT INTO orders(id, customer_id, ts, currency, shipping, discount, " \
      "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, " NOW_SQL ") "              \
      "ON CONFLICT(id) DO NOTHING")                                            \
    X(CUSTOMER_TOUCH,                                                          \
      "INSERT INTO customers(id, first_order_ts, last_order_ts, order_count) " \
      "VALUES (?1, ?2, ?2, 1) ON CONFLICT(id) DO UPDATE SET "                  \
      "first_order_ts = min(COALESCE(customers.first_order_ts, "               \
      "excluded.first_order_ts), excluded.first_order_ts), "                   \
      "last_order_ts = max(COALESCE(customers.last_order_ts, "                 \
      "excluded.last_order_ts), excluded.last_order_ts), "                     \
      "order_count = customers.order_count + 1")                               \
    X(LINE_PUT,                                                                \
      "INSERT INTO order_lines(order_id, line_no, sku, qty, unit_price, "      \
      "unit_cost, discount) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "              \
      "ON CONFLICT(order_id, line_no) DO NOTHING")                             \
    X(RETURN_PUT,                                                              \
      "INSERT INTO returns(id, order_id, customer_id, sku, ts, qty, amount) "  \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO NOTHING")        \
    X(SCAN_PRODUCTS,                                                           \
      "SELECT sku, grp, title, category, currency, attributes, tier_group, "   \
      "price, cost, inventory, flags, tier_level, pack_size FROM products "    \
      "ORDER BY sku")                                                          \
    X(SCAN_LINES,                                                              \
      "SELECT o.id, o.customer_id, o.ts, l.sku, l.qty, l.unit_price, "         \
      "l.unit_cost FROM orders o JOIN order_lines l ON l.order_id = o.id "     \
      "ORDER BY o.ts, o.id, l.line_no")                                        \
    X(SCAN_RETURNS,                                                            \
      "SELECT id, order_id, customer_id, sku, ts, qty, amount FROM returns "   \
      "ORDER BY ts, id")                                                       \
    X(COUNTS,                                                                  \
      "SELECT (SELECT count(*) FROM products), "                               \
      "(SELECT count(*) FROM customers), (SELECT count(*) FROM orders), "      \
      "(SELECT count(*) FROM order_lines), (SELECT count(*) FROM returns), "   \
      "(SELECT count(*) FROM events), (SELECT count(*) FROM decisions), "      \
      "(SELECT count(*) FROM model_versions)")                                 \
    X(MODEL_ADD,                                                               \
      "INSERT INTO model_versions(path, checksum, created_at, items, "         \
      "customers, baskets) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                   \
    X(MODEL_LATEST,                                                            \
      "SELECT version, path, checksum, created_at, items, customers, baskets " \
      "FROM model_versions ORDER BY version DESC LIMIT 1")                     \
    X(EVENT_PUT,                                                               \
      "INSERT INTO events(id, session_id, customer_id, ts, type, sku, "        \
      "decision_id, placement, reason, order_id, value, profit, payload) "     \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "       \
      "ON CONFLICT(id) DO NOTHING")                                            \
    X(SCAN_EVENTS,                                                             \
      "SELECT id, type, session_id, customer_id, ts, sku, decision_id, "       \
      "placement, reason, order_id, value, profit, payload FROM events "       \
      "ORDER BY ts, id")                                                       \
    X(DECISION_PUT,                                                            \
      "INSERT INTO decisions(id, session_id, customer_id, experiment, arm, "   \
      "placement, ts, model_version, cart_value, shown, request, "             \
      "incentives) "                                                           \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "            \
      "ON CONFLICT(id) DO NOTHING")                                            \
    X(SCAN_DECISIONS,                                                          \
      "SELECT id, session_id, customer_id, experiment, arm, placement, ts, "   \
      "model_version, cart_value, shown, request, incentives FROM decisions "  \
      "ORDER BY ts, id")                                                       \
    X(KEY_HASH, "SELECT hash FROM api_keys WHERE id = ?1")                     \
    X(KEY_INSERT,                                                              \
      "INSERT INTO api_keys(id, kind, hash, created_at, origins, revoked) "    \
      "VALUES (?1, ?2, ?3, COALESCE(?4, " NOW_SQL "), ?5, ?6)")                \
    X(KEY_UPDATE, "UPDATE api_keys SET origins = COALESCE(?2, origins), "      \
                  "revoked = max(revoked, ?3) WHERE id = ?1")                  \
    X(KEY_FIND,                                                                \
      "SELECT id, kind, hash, created_at, origins, revoked FROM api_keys "     \
      "WHERE hash = ?1")                                                       \
    X(KEY_SCAN, "SELECT id, kind, created_at, origins, revoked FROM "          \
                "api_keys ORDER BY created_at, rowid")                         \
    X(KEY_REVOKED, "SELECT revoked FROM api_keys WHERE id = ?1")               \
    X(KEY_REVOKE, "UPDATE api_keys SET revoked = 1 WHERE id = ?1")             \
    X(IDEM_PURGE, "DELETE FROM idempotency WHERE created_at < ?1")             \
    X(IDEM_GET,                                                                \
      "SELECT request_hash, status, content_type, body, created_at FROM "      \
      "idempotency WHERE key_id = ?1 AND idem_key = ?2 AND method = ?3 AND "   \
      "path = ?4")                                                             \
    X(IDEM_PUT,                                                                \
      "INSERT INTO idempotency(key_id, idem_key, method, path, request_hash, " \
      "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                           \
    X(IDEM_FINISH,                                                             \
      "UPDATE idempotency SET status = ?5, content_type = ?6, body = ?7 "      \
      "WHERE key_id = ?1 AND idem_key = ?2 AND method = ?3 AND path = ?4")     \
    X(IDEM_DELETE,                                                             \
      "DELETE FROM idempotency WHERE key_id = ?1 AND idem_key = ?2 AND "       \
      "method = ?3 AND path = ?4")                                             \
    X(WEBHOOK_PUT,                                                             \
      "INSERT INTO webhooks(id, topic, shop, body, received_at) "              \
      "VALUES (?1, ?2, ?3, ?4, " NOW_SQL ") ON CONFLICT(id) DO NOTHING")       \
    X(META_GET, "SELECT value FROM meta WHERE key = ?1")                       \
    X(META_SET, "INSERT INTO meta(key, value) VALUES (?1, ?2) "                \
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value")       \
    X(META_DEL, "DELETE FROM meta WHERE key = ?1")                             \
    X(BUDGET_LEASE,                                                            \
      "INSERT INTO budget_leases(day, leased, last_grant, leases, "            \
      "updated_at) VALUES (?1, max(min(?3, ?2), 0), max(min(?3, ?2), 0), "     \
      "1, " NOW_SQL ") ON CONFLICT(day) DO UPDATE SET "                        \
      "last_grant = max(min(?3, ?2 - budget_leases.leased), 0), "              \
      "leased = budget_leases.leased + "                                       \
      "max(min(?3, ?2 - budget_leases.leased), 0), "                           \
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

/* What find_key's record points at, kept until the next find_key. */
struct key_copy {
    char *id, *kind, *hash, *created_at, *origins;
};

/* What idem_claim's record points at, kept until the next idem_claim. */
struct idem_copy {
    char *hash, *type, *body, *created;
};

struct sq {
    struct cw_store base; /* first: a struct cw_store * is a struct sq * */
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    struct key_copy key;
    struct idem_copy idem;
    int tx_failed; /* a call failed in the open transaction: commit refuses */
};

static struct sq *sq_of(struct cw_store *s)
{
    return (struct sq *)s;
}

static int code_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CW_EBUSY;
    case SQLITE_NOMEM:
        return CW_ENOMEM;
    }
    return CW_ESTORE;
}

/* Fails with the code for rc and "SUBJECT: sqlite's message". Must run
 * before any other statement replaces the connection's message. */
static int sqerr(struct sq *q, int rc, struct cw_buf *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int sqerr(struct sq *q, int rc, struct cw_buf *err, const char *fmt, ...)
{
    char subject[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(subject, sizeof(subject), fmt, ap);
    va_end(ap);
    if (!sqlite3_get_autocommit(q->db))
        q->tx_failed = 1;
    return cw_err(err, code_of(rc), "%s: %s", subject, sqlite3_errmsg(q->db));
}

static void finish(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Positional binding that keeps the first failure, so a put binds all its
 * parameters and checks once. Strings are SQLITE_STATIC: every statement is
 * reset before the put that bound them returns. */
struct bind {
    sqlite3_stmt *st;
    int i;
    int rc;
};

static void bind_rc(struct bind *b, int rc)
{
    if (b->rc == SQLITE_OK)
        b->rc = rc;
}

static void bind_text(struct bind *b, const char *s)
{
    ++b->i;
    bind_rc(b, s ? sqlite3_bind_text(b->st, b->i, s, -1, SQLITE_STATIC)
                 : sqlite3_bind_null(b->st, b->i));
}

/* Binds v, or NULL when unknown is set. */
static void bind_int(struct bind *b, int64_t v, int unknown)
{
    ++b->i;
    bind_rc(b, unknown ? sqlite3_bind_null(b->st, b->i)
                       : sqlite3_bind_int64(b->st, b->i, v));
}

static void bind_money(struct bind *b, int64_t v)
{
    bind_int(b, v, v == CW_MONEY_UNKNOWN);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int64_t col_int(sqlite3_stmt *st, int i, int64_t if_null)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return if_null;
    return sqlite3_column_int64(st, i);
}

/* Runs a bound statement that returns no rows. Returns 0 or a CW_E* code
 * with "SUBJECT: ..." in err; the statement is reset either way. */
static int run(struct sq *q, struct bind *b, struct cw_buf *err,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int run(struct sq *q, struct bind *b, struct cw_buf *err,
               const char *fmt, ...)
{
    int rc = b->rc == SQLITE_OK ? sqlite3_step(b->st) : b->rc;
    int code = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        char subject[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(subject, sizeof(subject), fmt, ap);
        va_end(ap);
        code = sqerr(q, rc, err, "%s", subject);
    }
    finish(b->st);
    return code;
}

static int run_plain(struct sq *q, enum stmt which, struct cw_buf *err,
                     const char *what)
{
    struct bind b = {q->st[which], 0, SQLITE_OK};
    return run(q, &b, err, "%s", what);
}

/* Ends the savepoint what: rolled back when code says the work failed
 * (code is returned), else released. */
static int sp_end(struct sq *q, int code, struct cw_buf *err, const char *what)
{
    if (code) {
        run_plain(q, ST_SP_ROLLBACK, NULL, what);
        run_plain(q, ST_SP_RELEASE, NULL, what);
        return code;
    }
    return run_plain(q, ST_SP_RELEASE, err, what);
}

static void idem_copy_release(struct idem_copy *c)
{
    cw_free(c->hash);
    cw_free(c->type);
    cw_free(c->body);
    cw_free(c->created);
    memset(c, 0, sizeof(*c));
}

static void key_copy_release(struct key_copy *k)
{
    cw_free(k->id);
    cw_free(k->kind);
    cw_free(k->hash);
    cw_free(k->created_at);
    cw_free(k->origins);
    memset(k, 0, sizeof(*k));
}

static void sq_close(struct cw_store *s)
{
    struct sq *q = sq_of(s);
    key_copy_release(&q->key);
    idem_copy_release(&q->idem);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(q->st[i]);
    sqlite3_close_v2(q->db);
    cw_free(q->base.url);
    cw_free(q);
}

static int sq_begin(struct cw_store *s, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int failed = q->tx_failed;
    int rc = run_plain(q, ST_BEGIN, err, "begin transaction");
    /* a new transaction starts clean; a begin refused inside one (nested)
     * does not fail that one */
    q->tx_failed = rc == 0 ? 0 : failed;
    return rc;
}

/* A transaction in which a call failed is not committed (the contract of
 * cw_store.h, which PostgreSQL enforces by itself): it is rolled back. */
static int sq_commit(struct cw_store *s, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    if (q->tx_failed && !sqlite3_get_autocommit(q->db)) {
        run_plain(q, ST_ROLLBACK, NULL, "rollback");
        q->tx_failed = 0;
        return cw_err(err, CW_ESTORE,
                      "commit: a write of this transaction failed: rolled "
                      "back");
    }
    return run_plain(q, ST_COMMIT, err, "commit");
}

/* Rolling back with no transaction open is harmless: error paths call it
 * without knowing how far they got (a failed COMMIT leaves one open). */
static int sq_rollback(struct cw_store *s, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    q->tx_failed = 0;
    if (sqlite3_get_autocommit(q->db))
        return 0;
    return run_plain(q, ST_ROLLBACK, err, "rollback");
}

static int product_exists(struct sq *q, const char *sku, struct cw_buf *err)
{
    struct bind b = {q->st[ST_PRODUCT_EXISTS], 0, SQLITE_OK};
    bind_text(&b, sku);
    int rc = b.rc == SQLITE_OK ? sqlite3_step(b.st) : b.rc;
    int code = rc == SQLITE_ROW ? 1 : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        code = sqerr(q, rc, err, "product '%s'", sku);
    finish(b.st);
    return code;
}

static int sq_put_product(struct cw_store *s, const struct cw_product_rec *p,
                          struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int existed = cw__store_check_product(p, err);
    if (existed < 0)
        return existed;
    existed = product_exists(q, p->sku, err);
    if (existed < 0)
        return existed;
    struct bind b = {q->st[ST_PRODUCT_PUT], 0, SQLITE_OK};
    bind_text(&b, p->sku);
    bind_text(&b, p->group);
    bind_text(&b, p->title);
    bind_text(&b, p->category);
    bind_text(&b, p->currency);
    bind_text(&b, p->attributes);
    bind_text(&b, p->tier_group);
    bind_money(&b, p->price);
    bind_money(&b, p->cost);
    bind_int(&b, p->inventory, p->inventory == -1);
    bind_int(&b, p->flags, p->flags == 0);
    bind_int(&b, p->tier_level, p->tier_level <= 0);
    bind_int(&b, p->pack_size, p->pack_size <= 0);
    int code = run(q, &b, err, "product '%s'", p->sku);
    return code ? code : !existed;
}

/* Inserts the order and, when it is new, counts it for its customer; the
 * two writes are one savepoint so a failure leaves neither. */
static int sq_put_order(struct cw_store *s, const struct cw_order_rec *o,
                        struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_order(o, err);
    if (code)
        return code;
    code = run_plain(q, ST_SP_BEGIN, err, "order savepoint");
    if (code)
        return code;
    struct bind b = {q->st[ST_ORDER_PUT], 0, SQLITE_OK};
    bind_text(&b, o->id);
    bind_text(&b, o->customer);
    bind_text(&b, o->ts);
    bind_text(&b, o->currency);
    bind_money(&b, o->shipping);
    bind_money(&b, o->discount);
    code = run(q, &b, err, "order '%s'", o->id);
    int added = !code && sqlite3_changes(q->db) > 0;
    if (added && o->customer) {
        struct bind c = {q->st[ST_CUSTOMER_TOUCH], 0, SQLITE_OK};
        bind_text(&c, o->customer);
        bind_text(&c, o->ts);
        code =
            run(q, &c, err, "customer '%s' of order '%s'", o->customer, o->id);
    }
    code = sp_end(q, code, err, "order savepoint");
    return code ? code : added;
}

static int sq_put_line(struct cw_store *s, const struct cw_line_rec *l,
                       struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_line(l, err);
    if (code)
        return code;
    struct bind b = {q->st[ST_LINE_PUT], 0, SQLITE_OK};
    bind_text(&b, l->order_id);
    bind_int(&b, l->line_no, 0);
    bind_text(&b, l->sku);
    bind_int(&b, l->qty, 0);
    bind_money(&b, l->unit_price);
    bind_money(&b, l->unit_cost);
    bind_money(&b, l->discount);
    code = run(q, &b, err, "order line %s:%d", l->order_id, l->line_no);
    return code ? code : sqlite3_changes(q->db) > 0;
}

static int sq_put_return(struct cw_store *s, const struct cw_return_rec *r,
                         struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_return(r, err);
    if (code)
        return code;
    struct bind b = {q->st[ST_RETURN_PUT], 0, SQLITE_OK};
    bind_text(&b, r->id);
    bind_text(&b, r->order_id);
    bind_text(&b, r->customer);
    bind_text(&b, r->sku);
    bind_text(&b, r->ts);
    bind_int(&b, r->qty, 0);
    bind_money(&b, r->amount);
    code = run(q, &b, err, "return '%s'", r->id);
    return code ? code : sqlite3_changes(q->db) > 0;
}

/* In process there is no round trip to save: the records go through their
 * put_* one by one. A batch on its own is all or none by a savepoint
 * (put_order's own savepoint nests inside it); inside a transaction a
 * failed write fails the transaction (sq_commit refuses it), and a
 * savepoint there would only cost time: SQLite keeps a statement journal
 * for it of every page the batch touches (an import of the UCI file took
 * 15% longer). */
static int sq_put_batch(struct cw_store *s, struct cw_store_put *p, size_t n,
                        size_t *failed, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_batch(p, n, failed, err);
    if (code || n == 0)
        return code;
    int alone = sqlite3_get_autocommit(q->db);
    if (alone && (code = run_plain(q, ST_SP_BEGIN, err, "batch savepoint")))
        return code;
    int added = 0;
    for (size_t i = 0; i < n && !code; i++) {
        int rc = 0;
        switch (p[i].kind) {
        case CW_STORE_PRODUCT:
            rc = sq_put_product(s, p[i].rec.product, err);
            break;
        case CW_STORE_ORDER:
            rc = sq_put_order(s, p[i].rec.order, err);
            break;
        case CW_STORE_LINE:
            rc = sq_put_line(s, p[i].rec.line, err);
            break;
        case CW_STORE_RETURN:
            rc = sq_put_return(s, p[i].rec.ret, err);
            break;
        }
        if (rc < 0) {
            code = rc;
            *failed = i;
        } else {
            p[i].added = rc;
            added += rc;
        }
    }
    if (alone)
        code = sp_end(q, code, err, "batch savepoint");
    return code ? code : added;
}

/* Starts a scan; a callback that scans the same table again would reset the
 * statement under its caller, so that is refused. */
static int scan_start(struct sq *q, sqlite3_stmt *st, const char *what,
                      struct cw_buf *err)
{
    if (sqlite3_stmt_busy(st))
        return cw_err(err, CW_EBUSY, "scan of %s already in progress", what);
    return 0;
}

/* Ends a scan whose last step returned rc (or whose callback returned
 * stop, non-zero). */
static int scan_end(struct sq *q, sqlite3_stmt *st, int rc, int stop,
                    const char *what, struct cw_buf *err)
{
    int code = stop;
    if (!stop && rc != SQLITE_DONE)
        code = sqerr(q, rc, err, "scanning %s", what);
    sqlite3_reset(st);
    return code;
}

static int sq_scan_products(struct cw_store *s,
                            int (*cb)(void *ctx,
                                      const struct cw_product_rec *p),
                            void *ctx, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    sqlite3_stmt *st = q->st[ST_SCAN_PRODUCTS];
    int rc = scan_start(q, st, "products", err);
    if (rc)
        return rc;
    int stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct cw_product_rec p = {
            .sku = col_text(st, 0),
            .group = col_text(st, 1),
            .title = col_text(st, 2),
            .category = col_text(st, 3),
            .currency = col_text(st, 4),
            .attributes = col_text(st, 5),
            .tier_group = col_text(st, 6),
            .price = col_int(st, 7, CW_MONEY_UNKNOWN),
            .cost = col_int(st, 8, CW_MONEY_UNKNOWN),
            .inventory = col_int(st, 9, -1),
            .flags = (unsigned)col_int(st, 10, 0),
            .tier_level = (int)col_int(st, 11, 0),
            .pack_size = (int)col_int(st, 12, 1),
        };
        stop = cb(ctx, &p);
    }
    return scan_end(q, st, rc, stop, "products", err);
}

static int sq_scan_lines(struct cw_store *s,
                         int (*cb)(void *ctx, const struct cw_store_line *l),
                         void *ctx, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    sqlite3_stmt *st = q->st[ST_SCAN_LINES];
    int rc = scan_start(q, st, "order lines", err);
    if (rc)
        return rc;
    int stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct cw_store_line l = {
            .order_id = col_text(st, 0),
            .customer = col_text(st, 1),
            .ts = col_text(st, 2),
            .sku = col_text(st, 3),
            .qty = col_int(st, 4, 0),
            .unit_price = col_int(st, 5, CW_MONEY_UNKNOWN),
            .unit_cost = col_int(st, 6, CW_MONEY_UNKNOWN),
        };
        stop = cb(ctx, &l);
    }
    return scan_end(q, st, rc, stop, "order lines", err);
}

static int sq_scan_returns(struct cw_store *s,
                           int (*cb)(void *ctx, const struct cw_return_rec *r),
                           void *ctx, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    sqlite3_stmt *st = q->st[ST_SCAN_RETURNS];
    int rc = scan_start(q, st, "returns", err);
    if (rc)
        return rc;
    int stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct cw_return_rec r = {
            .id = col_text(st, 0),
            .order_id = col_text(st, 1),
            .customer = col_text(st, 2),
            .sku = col_text(st, 3),
            .ts = col_text(st, 4),
            .qty = col_int(st, 5, 0),
            .amount = col_int(st, 6, CW_MONEY_UNKNOWN),
        };
        stop = cb(ctx, &r);
    }
    return scan_end(q, st, rc, stop, "returns", err);
}

static int sq_counts(struct cw_store *s, struct cw_store_counts *out,
                     struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    sqlite3_stmt *st = q->st[ST_COUNTS];
    int rc = sqlite3_step(st);
    int code = 0;
    if (rc == SQLITE_ROW) {
        out->products = sqlite3_column_int64(st, 0);
        out->customers = sqlite3_column_int64(st, 1);
        out->orders = sqlite3_column_int64(st, 2);
        out->lines = sqlite3_column_int64(st, 3);
        out->returns = sqlite3_column_int64(st, 4);
        out->events = sqlite3_column_int64(st, 5);
        out->decisions = sqlite3_column_int64(st, 6);
        out->models = sqlite3_column_int64(st, 7);
    } else {
        code = sqerr(q, rc, err, "counting records");
    }
    finish(st);
    return code;
}

static int sq_put_event(struct cw_store *s, const struct cw_event_rec *e,
                        struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_event(e, err);
    if (code)
        return code;
    struct bind b = {q->st[ST_EVENT_PUT], 0, SQLITE_OK};
    bind_text(&b, e->id);
    bind_text(&b, e->session);
    bind_text(&b, e->customer);
    bind_text(&b, e->ts);
    bind_text(&b, e->type);
    bind_text(&b, e->sku);
    bind_text(&b, e->decision_id);
    bind_text(&b, e->placement);
    bind_text(&b, e->reason);
    bind_text(&b, e->order_id);
    bind_money(&b, e->value);
    bind_money(&b, e->profit);
    bind_text(&b, e->payload);
    code = run(q, &b, err, "event '%s'", e->id);
    return code ? code : sqlite3_changes(q->db) > 0;
}

static int sq_scan_events(struct cw_store *s,
                          int (*cb)(void *ctx, const struct cw_event_rec *e),
                          void *ctx, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    sqlite3_stmt *st = q->st[ST_SCAN_EVENTS];
    int rc = scan_start(q, st, "events", err);
    if (rc)
        return rc;
    int stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct cw_event_rec e = {
            .id = col_text(st, 0),
            .type = col_text(st, 1),
            .session = col_text(st, 2),
            .customer = col_text(st, 3),
            .ts = col_text(st, 4),
            .sku = col_text(st, 5),
            .decision_id = col_text(st, 6),
            .placement = col_text(st, 7),
            .reason = col_text(st, 8),
            .order_id = col_text(st, 9),
            .value = col_int(st, 10, CW_MONEY_UNKNOWN),
            .profit = col_int(st, 11, CW_MONEY_UNKNOWN),
            .payload = col_text(st, 12),
        };
        stop = cb(ctx, &e);
    }
    return scan_end(q, st, rc, stop, "events", err);
}

static int sq_put_decisions(struct cw_store *s, const struct cw_decision_rec *d,
                            size_t n, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_decisions(d, n, err);
    if (code || n == 0)
        return code;
    code = run_plain(q, ST_SP_BEGIN, err, "decisions savepoint");
    if (code)
        return code;
    int added = 0;
    for (size_t i = 0; i < n && !code; i++) {
        struct bind b = {q->st[ST_DECISION_PUT], 0, SQLITE_OK};
        bind_text(&b, d[i].id);
        bind_text(&b, d[i].session);
        bind_text(&b, d[i].customer);
        bind_text(&b, d[i].experiment);
        bind_text(&b, d[i].arm);
        bind_text(&b, d[i].placement);
        bind_text(&b, d[i].ts);
        bind_int(&b, d[i].model_version, 0);
        bind_money(&b, d[i].cart_value);
        bind_text(&b, d[i].shown);
        bind_text(&b, d[i].request);
        bind_text(&b, d[i].incentives);
        code = run(q, &b, err, "decision '%s'", d[i].id);
        added += !code && sqlite3_changes(q->db) > 0;
    }
    code = sp_end(q, code, err, "decisions savepoint");
    return code ? code : added;
}

static int sq_scan_decisions(struct cw_store *s,
                             int (*cb)(void *ctx,
                                       const struct cw_decision_rec *d),
                             void *ctx, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    sqlite3_stmt *st = q->st[ST_SCAN_DECISIONS];
    int rc = scan_start(q, st, "decisions", err);
    if (rc)
        return rc;
    int stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct cw_decision_rec d = {
            .id = col_text(st, 0),
            .session = col_text(st, 1),
            .customer = col_text(st, 2),
            .experiment = col_text(st, 3),
            .arm = col_text(st, 4),
            .placement = col_text(st, 5),
            .ts = col_text(st, 6),
            .model_version = col_int(st, 7, 0),
            .cart_value = col_int(st, 8, CW_MONEY_UNKNOWN),
            .shown = col_text(st, 9),
            .request = col_text(st, 10),
            .incentives = col_text(st, 11),
        };
        stop = cb(ctx, &d);
    }
    return scan_end(q, st, rc, stop, "decisions", err);
}

/* Looks up the stored hash of key id: 1 and *same set when found. */
static int key_hash_is(struct sq *q, const struct cw_key_rec *k, int *same,
                       struct cw_buf *err)
{
    struct bind b = {q->st[ST_KEY_HASH], 0, SQLITE_OK};
    bind_text(&b, k->id);
    int rc = b.rc == SQLITE_OK ? sqlite3_step(b.st) : b.rc;
    int code = 0;
    if (rc == SQLITE_ROW) {
        const char *h = col_text(b.st, 0);
        *same = h && !strcmp(h, k->hash);
        code = 1;
    } else if (rc != SQLITE_DONE) {
        code = sqerr(q, rc, err, "key '%s'", k->id);
    }
    finish(b.st);
    return code;
}

/* Adds a key, or updates the mutable parts of a stored one (origins when
 * given; revocation, which is one-way). The same id with another hash is a
 * different key and is refused. */
static int sq_put_key(struct cw_store *s, const struct cw_key_rec *k,
                      struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_key(k, err);
    if (code)
        return code;
    int same = 0;
    int found = key_hash_is(q, k, &same, err);
    if (found < 0)
        return found;
    if (found && !same)
        return cw_err(err, CW_EEXIST, "key '%s' exists with another secret",
                      k->id);
    struct bind b = {q->st[found ? ST_KEY_UPDATE : ST_KEY_INSERT], 0,
                     SQLITE_OK};
    bind_text(&b, k->id);
    if (found) {
        bind_text(&b, k->origins);
        bind_int(&b, k->revoked != 0, 0);
    } else {
        bind_text(&b, k->kind);
        bind_text(&b, k->hash);
        bind_text(&b, k->created_at);
        bind_text(&b, k->origins);
        bind_int(&b, k->revoked != 0, 0);
    }
    code = run(q, &b, err, "key '%s'", k->id);
    return code ? code : !found;
}

static int sq_find_key(struct cw_store *s, const char *hash,
                       struct cw_key_rec *out, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    key_copy_release(&q->key);
    memset(out, 0, sizeof(*out));
    int code = cw__store_check_key_hash(hash, err);
    if (code)
        return code;
    struct bind b = {q->st[ST_KEY_FIND], 0, SQLITE_OK};
    bind_text(&b, hash);
    int rc = b.rc == SQLITE_OK ? sqlite3_step(b.st) : b.rc;
    code = 0;
    if (rc == SQLITE_ROW) {
        struct key_copy *k = &q->key;
        out->id = k->id = cw_strdup(col_text(b.st, 0));
        out->kind = k->kind = cw_strdup(col_text(b.st, 1));
        out->hash = k->hash = cw_strdup(col_text(b.st, 2));
        out->created_at = k->created_at = cw_strdup(col_text(b.st, 3));
        out->origins = k->origins = cw_strdup(col_text(b.st, 4));
        out->revoked = sqlite3_column_int(b.st, 5) != 0;
    } else if (rc == SQLITE_DONE) {
        code = cw_err(err, CW_ENOENT, "no such key");
    } else {
        code = sqerr(q, rc, err, "key lookup");
    }
    finish(b.st);
    return code;
}

static int sq_scan_keys(struct cw_store *s,
                        int (*cb)(void *ctx, const struct cw_key_rec *k),
                        void *ctx, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    sqlite3_stmt *st = q->st[ST_KEY_SCAN];
    int rc = scan_start(q, st, "api_keys", err);
    if (rc)
        return rc;
    int stop = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct cw_key_rec k = {
            .id = col_text(st, 0),
            .kind = col_text(st, 1),
            .created_at = col_text(st, 2),
            .origins = col_text(st, 3),
            .revoked = sqlite3_column_int(st, 4) != 0,
        };
        stop = cb(ctx, &k);
    }
    return scan_end(q, st, rc, stop, "api_keys", err);
}

static int sq_revoke_key(struct cw_store *s, const char *id, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_key_id(id, err);
    if (code)
        return code;
    struct bind b = {q->st[ST_KEY_REVOKED], 0, SQLITE_OK};
    bind_text(&b, id);
    int rc = b.rc == SQLITE_OK ? sqlite3_step(b.st) : b.rc;
    int was = rc == SQLITE_ROW ? sqlite3_column_int(b.st, 0) != 0 : 0;
    finish(b.st);
    if (rc == SQLITE_DONE)
        return cw_err(err, CW_ENOENT, "no key with id '%s'", id);
    if (rc != SQLITE_ROW)
        return sqerr(q, rc, err, "key '%s'", id);
    if (was)
        return 0;
    struct bind u = {q->st[ST_KEY_REVOKE], 0, SQLITE_OK};
    bind_text(&u, id);
    code = run(q, &u, err, "key '%s'", id);
    return code ? code : 1;
}

static void idem_bind_scope(struct bind *b, const struct cw_idem_rec *r)
{
    bind_text(b, r->key_id);
    bind_text(b, r->idem_key);
    bind_text(b, r->method);
    bind_text(b, r->path);
}

static int sq_idem_claim(struct cw_store *s, const struct cw_idem_rec *in,
                         const char *since, struct cw_idem_rec *out,
                         struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_idem(in, err);
    if (code)
        return code;
    struct bind p = {q->st[ST_IDEM_PURGE], 0, SQLITE_OK};
    bind_text(&p, since);
    code = run(q, &p, err, "idempotency purge");
    if (code)
        return code;
    struct bind g = {q->st[ST_IDEM_GET], 0, SQLITE_OK};
    idem_bind_scope(&g, in);
    int rc = g.rc == SQLITE_OK ? sqlite3_step(g.st) : g.rc;
    if (rc == SQLITE_ROW) {
        struct idem_copy *c = &q->idem;
        idem_copy_release(c);
        *out = *in;
        out->request_hash = c->hash = cw_strdup(col_text(g.st, 0));
        out->status = sqlite3_column_type(g.st, 1) == SQLITE_NULL
                          ? 0
                          : sqlite3_column_int(g.st, 1);
        out->content_type = c->type = cw_strdup(col_text(g.st, 2));
        out->body = c->body = cw_strdup(col_text(g.st, 3));
        out->created_at = c->created = cw_strdup(col_text(g.st, 4));
        finish(g.st);
        return 1;
    }
    finish(g.st);
    if (rc != SQLITE_DONE)
        return sqerr(q, rc, err, "idempotency lookup");
    struct bind i = {q->st[ST_IDEM_PUT], 0, SQLITE_OK};
    idem_bind_scope(&i, in);
    bind_text(&i, in->request_hash);
    bind_text(&i, in->created_at);
    return run(q, &i, err, "idempotency entry");
}

static int sq_idem_finish(struct cw_store *s, const struct cw_idem_rec *in,
                          struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    if (in->status == 0) { /* released: the next request runs anew */
        struct bind d = {q->st[ST_IDEM_DELETE], 0, SQLITE_OK};
        idem_bind_scope(&d, in);
        return run(q, &d, err, "idempotency entry");
    }
    struct bind b = {q->st[ST_IDEM_FINISH], 0, SQLITE_OK};
    idem_bind_scope(&b, in);
    bind_int(&b, in->status, 0);
    bind_text(&b, in->content_type);
    bind_text(&b, in->body);
    return run(q, &b, err, "idempotency entry");
}

static int sq_put_webhook(struct cw_store *s, const char *id, const char *topic,
                          const char *shop, const char *body,
                          struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_webhook_id(id, err);
    if (code)
        return code;
    struct bind b = {q->st[ST_WEBHOOK_PUT], 0, SQLITE_OK};
    bind_text(&b, id);
    bind_text(&b, topic);
    bind_text(&b, shop);
    bind_text(&b, body);
    code = run(q, &b, err, "webhook delivery '%s'", id);
    return code ? code : sqlite3_changes(q->db) > 0;
}

/* Binds a fixed-size char array that may lack its NUL. */
static void bind_field(struct bind *b, const char *field, size_t size)
{
    ++b->i;
    bind_rc(b, sqlite3_bind_text(b->st, b->i, field, (int)strnlen(field, size),
                                 SQLITE_STATIC));
}

static int sq_model_add(struct cw_store *s, struct cw_model_info *info,
                        struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_model_prepare(info, err);
    if (code)
        return code;
    struct bind b = {q->st[ST_MODEL_ADD], 0, SQLITE_OK};
    bind_field(&b, info->path, sizeof(info->path));
    bind_field(&b, info->checksum, sizeof(info->checksum));
    bind_field(&b, info->created_at, sizeof(info->created_at));
    bind_int(&b, info->items, 0);
    bind_int(&b, info->customers, 0);
    bind_int(&b, info->baskets, 0);
    code = run(q, &b, err, "model '%.*s'", (int)sizeof(info->path), info->path);
    if (!code)
        info->version = sqlite3_last_insert_rowid(q->db);
    return code;
}

/* Copies column i into a char array of size bytes; -1 if it does not fit. */
static int col_copy(sqlite3_stmt *st, int i, char *dst, size_t size)
{
    const char *v = col_text(st, i);
    size_t n = v ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= size)
        return -1;
    memcpy(dst, v ? v : "", n);
    dst[n] = '\0';
    return 0;
}

static int sq_model_latest(struct cw_store *s, struct cw_model_info *out,
                           struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    sqlite3_stmt *st = q->st[ST_MODEL_LATEST];
    int rc = sqlite3_step(st);
    int code = 0;
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        out->version = sqlite3_column_int64(st, 0);
        if (col_copy(st, 1, out->path, sizeof(out->path)) ||
            col_copy(st, 2, out->checksum, sizeof(out->checksum)) ||
            col_copy(st, 3, out->created_at, sizeof(out->created_at)))
            code = cw_err(err, CW_ECORRUPT,
                          "model version %lld has an oversized field",
                          (long long)out->version);
        out->items = sqlite3_column_int64(st, 4);
        out->customers = sqlite3_column_int64(st, 5);
        out->baskets = sqlite3_column_int64(st, 6);
    } else if (rc == SQLITE_DONE) {
        code = cw_err(err, CW_ENOENT, "no model trained yet");
    } else {
        code = sqerr(q, rc, err, "reading the newest model version");
    }
    finish(st);
    return code;
}

static int sq_meta_get(struct cw_store *s, const char *key, char **out,
                       struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    *out = NULL;
    int code = cw__store_check_meta_key(key, err);
    if (code)
        return code;
    struct bind b = {q->st[ST_META_GET], 0, SQLITE_OK};
    bind_text(&b, key);
    int rc = b.rc == SQLITE_OK ? sqlite3_step(b.st) : b.rc;
    code = 0;
    if (rc == SQLITE_ROW)
        *out = cw_strdup(col_text(b.st, 0));
    else if (rc == SQLITE_DONE)
        code = cw_err(err, CW_ENOENT, "setting '%s' is not set", key);
    else
        code = sqerr(q, rc, err, "setting '%s'", key);
    finish(b.st);
    return code;
}

/* A NULL value removes the setting. */
static int sq_meta_set(struct cw_store *s, const char *key, const char *value,
                       struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    int code = cw__store_check_meta_key(key, err);
    if (code)
        return code;
    struct bind b = {q->st[value ? ST_META_SET : ST_META_DEL], 0, SQLITE_OK};
    bind_text(&b, key);
    if (value)
        bind_text(&b, value);
    return run(q, &b, err, "setting '%s'", key);
}

/* The grant is computed and added by one upsert (SET sees the row as it
 * was), which SQLite runs under the database's write lock. */
static int sq_budget_lease(struct cw_store *s, int64_t day, int64_t limit,
                           int64_t want, int64_t *granted, struct cw_buf *err)
{
    struct sq *q = sq_of(s);
    *granted = 0;
    int code = cw__store_check_lease(day, limit, want, err);
    if (code)
        return code;
    struct bind b = {q->st[ST_BUDGET_LEASE], 0, SQLITE_OK};
    bind_int(&b, day, 0);
    bind_int(&b, limit, 0);
    bind_int(&b, want, 0);
    int rc = b.rc == SQLITE_OK ? sqlite3_step(b.st) : b.rc;
    if (rc == SQLITE_ROW)
        *granted = sqlite3_column_int64(b.st, 0);
    else
        code = sqerr(q, rc, err, "budget lease of day %lld", (long long)day);
    finish(b.st);
    return code;
}

static const struct cw_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .put_product = sq_put_product,
    .put_order = sq_put_order,
    .put_line = sq_put_line,
    .put_return = sq_put_return,
    .put_batch = sq_put_batch,
    .scan_products = sq_scan_products,
    .scan_lines = sq_scan_lines,
    .scan_returns = sq_scan_returns,
    .counts = sq_counts,
    .model_add = sq_model_add,
    .model_latest = sq_model_latest,
    .put_event = sq_put_event,
    .put_decisions = sq_put_decisions,
    .scan_events = sq_scan_events,
    .scan_decisions = sq_scan_decisions,
    .put_key = sq_put_key,
    .find_key = sq_find_key,
    .scan_keys = sq_scan_keys,
    .revoke_key = sq_revoke_key,
    .idem_claim = sq_idem_claim,
    .idem_finish = sq_idem_finish,
    .put_webhook = sq_put_webhook,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .budget_lease = sq_budget_lease,
};

static int open_db(struct sq *q, const char *path, struct cw_buf *err)
{
    int rc = sqlite3_open_v2(path, &q->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        int sys = q->db ? sqlite3_system_errno(q->db) : 0;
        return cw_err(
            err, (rc & 0xff) == SQLITE_CANTOPEN ? CW_EIO : code_of(rc),
            "cannot open database '%s': %s%s%s%s", path,
            q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc), sys ? " (" : "",
            sys ? strerror(sys) : "", sys ? ")" : "");
    }
    sqlite3_busy_timeout(q->db, 5000);
    /* Refuse newer or unreadable files before changing anything in them. */
    int version = 0;
    int code = cw__migration_check(q->db, path, &version, err);
    if (code)
        return code;
    rc = sqlite3_exec(q->db,
                      "PRAGMA foreign_keys = ON;"
                      "PRAGMA journal_mode = WAL;"
                      "PRAGMA synchronous = NORMAL;"
                      "PRAGMA cache_size = -65536",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqerr(q, rc, err, "configuring database '%s'", path);
    code = cw__migration_apply(q->db, path, err);
    if (code)
        return code;
    for (int i = 0; i < ST__COUNT; i++) {
        rc = sqlite3_prepare_v3(q->db, stmt_sql[i], -1,
                                SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL);
        if (rc != SQLITE_OK)
            return sqerr(q, rc, err, "preparing statement %d of '%s'", i, path);
    }
    return 0;
}

int cw__store_sqlite_open(struct cw_store **out, const char *path,
                          struct cw_buf *err)
{
    *out = NULL;
    if (!path || !*path)
        return cw_err(err, CW_EINVAL, "no database path given");
    struct sq *q = cw_calloc(1, sizeof(*q));
    q->base.ops = &sqlite_ops;
    q->base.url = cw_strdup(path);
    int code = open_db(q, path, err);
    if (code) {
        sq_close(&q->base);
        return code;
    }
    *out = &q->base;
    return 0;
}
