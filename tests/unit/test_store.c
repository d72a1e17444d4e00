/*
 * test_store.c: the store's backends against real databases.
 *
 * The same tests run against each backend: `test_store` (or `test_store
 * sqlite`) against SQLite files, `test_store postgres` against the
 * PostgreSQL server named by $CW_TEST_PG_URL, which scripts/test starts
 * (ctest registers both; the PostgreSQL run is skipped, exit 77, only when
 * the variable is unset, and fails when it is set but the server is not
 * there). Each test gets a fresh store: a file in a mkdtemp directory, or a
 * schema of its own on the server (the URL sets search_path to it), dropped
 * in the teardown, which also checks that every cw_* allocation the test
 * made was freed. Where the store's own API cannot show a property (a column
 * really is NULL, the migration rows, the journal mode), a second, raw
 * connection looks at the database; the few statements that the two
 * databases spell differently are given in both dialects (Q()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "store/migrations.h"
#include "testutil.h"

/* Set by main: the server's URL when testing PostgreSQL, else NULL. */
static const char *pg_base;

struct fx {
    int pg;
    char dir[256];   /* sqlite: the temporary directory */
    char schema[64]; /* postgres: the test's schema */
    char db[1024];   /* what cw_store_open is given */
    long live;
};

/* The statement in SQLite's dialect, or in PostgreSQL's. */
#define Q(f, sqlite_sql, pg_sql) ((f)->pg ? (pg_sql) : (sqlite_sql))

static void quiet(void *arg, const char *msg)
{
}

static PGconn *pg_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", url, PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    return c;
}

/* Runs sql on a raw connection to url; the result when it has one row. */
static PGresult *pg_query(const char *url, const char *sql, int want_row)
{
    PGconn *c = pg_connect(url);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQfinish(c);
    if (want_row && PQntuples(r) != 1)
        fail_msg("%s: %d rows", sql, PQntuples(r));
    return r;
}

static int setup(void **state)
{
    static struct fx f;
    static int n;
    f.pg = pg_base != NULL;
    f.live = cw_alloc_live();
    *state = &f;
    if (f.pg) {
        snprintf(f.schema, sizeof(f.schema), "cw_test_%ld_%d", (long)getpid(),
                 ++n);
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "DROP SCHEMA IF EXISTS %s CASCADE; "
                 "CREATE SCHEMA %s",
                 f.schema, f.schema);
        PQclear(pg_query(pg_base, sql, 0));
        snprintf(f.db, sizeof(f.db),
                 "%s%soptions=-csearch_path%%3D%s&application_name=%s", pg_base,
                 strchr(pg_base, '?') ? "&" : "?", f.schema, f.schema);
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(f.dir, sizeof(f.dir), "%s/cw_store_XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f.dir))
        return -1;
    snprintf(f.db, sizeof(f.db), "%s/cartwise.db", f.dir);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->pg) {
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", f->schema);
        PQclear(pg_query(pg_base, sql, 0));
        assert_int_equal(cw_alloc_live(), f->live);
        return 0;
    }
    tu_remove_dir(f->dir);
    assert_int_equal(cw_alloc_live(), f->live);
    return 0;
}

static struct cw_store *open_ok(const char *path)
{
    struct cw_store *s = NULL;
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_store_open(&s, path, &err);
    if (rc)
        fail_msg("open %s: %s: %s", path, cw_errname(rc), cw_buf_str(&err));
    cw_buf_release(&err);
    assert_non_null(s);
    return s;
}

/* Raw look at the database, through a connection of its own. */
static int64_t sql_int(struct fx *f, const char *sql)
{
    if (f->pg) {
        PGresult *r = pg_query(f->db, sql, 1);
        int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        return v;
    }
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void sql_text(struct fx *f, const char *sql, char *out, size_t size)
{
    if (f->pg) {
        PGresult *r = pg_query(f->db, sql, 1);
        snprintf(out, size, "%s",
                 PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
        PQclear(r);
        return;
    }
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *v = (const char *)sqlite3_column_text(st, 0);
    snprintf(out, size, "%s", v ? v : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void sql_exec(struct fx *f, const char *sql)
{
    if (f->pg) {
        PQclear(pg_query(f->db, sql, 0));
        return;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* Whether hay contains needle, ignoring case: the two databases word their
 * constraint messages differently ("CHECK constraint failed", "violates
 * check constraint"). */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) ==
                   tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

static struct cw_store_counts counts_of(struct cw_store *s)
{
    struct cw_store_counts c;
    memset(&c, 0xff, sizeof(c));
    assert_int_equal(s->ops->counts(s, &c, NULL), 0);
    return c;
}

static struct cw_product_rec product(const char *sku)
{
    struct cw_product_rec p = {
        .sku = sku,
        .price = CW_MONEY_UNKNOWN,
        .cost = CW_MONEY_UNKNOWN,
        .inventory = -1,
        .tier_level = -1,
        .pack_size = 1,
    };
    return p;
}

static struct cw_order_rec order(const char *id, const char *customer,
                                 const char *ts)
{
    struct cw_order_rec o = {.id = id, .customer = customer, .ts = ts};
    return o;
}

static struct cw_line_rec line(const char *order_id, int no, const char *sku,
                               int64_t qty)
{
    struct cw_line_rec l = {
        .order_id = order_id,
        .line_no = no,
        .sku = sku,
        .qty = qty,
        .unit_price = 250,
        .unit_cost = CW_MONEY_UNKNOWN,
    };
    return l;
}

static struct cw_return_rec ret(const char *id, const char *order_id,
                                const char *ts, int64_t qty, int64_t amount)
{
    struct cw_return_rec r = {
        .id = id,
        .order_id = order_id,
        .customer = "C1",
        .sku = "SKU-1",
        .ts = ts,
        .qty = qty,
        .amount = amount,
    };
    return r;
}

/* Products by sku, as read back through scan_products. */
struct found_product {
    const char *sku;
    int seen;
    int64_t price, cost, inventory;
    unsigned flags;
    int tier_level, pack_size;
    char title[64], group[64], currency[8];
};

static int find_product(void *ctx, const struct cw_product_rec *p)
{
    struct found_product *f = ctx;
    if (strcmp(p->sku, f->sku))
        return 0;
    f->seen++;
    f->price = p->price;
    f->cost = p->cost;
    f->inventory = p->inventory;
    f->flags = p->flags;
    f->tier_level = p->tier_level;
    f->pack_size = p->pack_size;
    snprintf(f->title, sizeof(f->title), "%s", p->title ? p->title : "(null)");
    snprintf(f->group, sizeof(f->group), "%s", p->group ? p->group : "(null)");
    snprintf(f->currency, sizeof(f->currency), "%s",
             p->currency ? p->currency : "(null)");
    return 0;
}

static struct found_product read_product(struct cw_store *s, const char *sku)
{
    struct found_product f = {.sku = sku};
    assert_int_equal(s->ops->scan_products(s, find_product, &f, NULL), 0);
    assert_int_equal(f.seen, 1);
    return f;
}

/* Every table of the final schema. */
#define TABLES                                                                 \
    "('products', 'customers', 'orders', 'order_lines', 'returns', "           \
    "'events', 'decisions', 'model_versions', 'meta', 'api_keys', "            \
    "'webhooks', 'idempotency', 'budget_leases')"

static void test_open_creates_schema(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    assert_string_equal(o->name, f->pg ? "postgres" : "sqlite");
    assert_string_equal(s->url, f->db);
    void (*const fns[])(void) = {
        (void (*)(void))o->close,         (void (*)(void))o->begin,
        (void (*)(void))o->commit,        (void (*)(void))o->rollback,
        (void (*)(void))o->put_product,   (void (*)(void))o->put_order,
        (void (*)(void))o->put_line,      (void (*)(void))o->put_return,
        (void (*)(void))o->scan_products, (void (*)(void))o->scan_lines,
        (void (*)(void))o->scan_returns,  (void (*)(void))o->counts,
        (void (*)(void))o->model_add,     (void (*)(void))o->model_latest,
        (void (*)(void))o->meta_get,      (void (*)(void))o->meta_set,
        (void (*)(void))o->put_event,     (void (*)(void))o->put_decisions,
        (void (*)(void))o->scan_events,   (void (*)(void))o->scan_decisions,
        (void (*)(void))o->put_key,       (void (*)(void))o->find_key,
        (void (*)(void))o->scan_keys,     (void (*)(void))o->revoke_key,
        (void (*)(void))o->idem_claim,    (void (*)(void))o->idem_finish,
        (void (*)(void))o->put_webhook,   (void (*)(void))o->budget_lease,
        (void (*)(void))o->put_batch,
    };
    /* every member of the table is listed above */
    assert_int_equal(sizeof(fns) + sizeof(o->name), sizeof(*o));
    for (size_t i = 0; i < sizeof(fns) / sizeof(*fns); i++)
        assert_non_null(fns[i]);
    struct cw_store_counts c = counts_of(s);
    assert_int_equal(c.products + c.customers + c.orders + c.lines + c.returns +
                         c.events + c.decisions + c.models,
                     0);
    cw_store_close(s);

    size_t n, npg;
    const struct cw__migration *m = cw__migration_table(&n);
    const struct cw__migration *mpg = cw__migration_pg_table(&npg);
    assert_true(n >= 1);
    /* the two schemas are versioned the same way */
    assert_int_equal(npg, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(m[i].version, (int)i + 1);
        assert_int_equal(mpg[i].version, m[i].version);
        assert_string_equal(mpg[i].name, m[i].name);
    }
    assert_int_equal(cw__migration_latest(), m[n - 1].version);
    if (!f->pg)
        assert_int_equal(sql_int(f, "PRAGMA user_version"),
                         cw__migration_latest());
    assert_int_equal(sql_int(f, "SELECT count(*) FROM schema_migrations"),
                     (int64_t)n);
    assert_int_equal(sql_int(f, "SELECT max(version) FROM "
                                "schema_migrations"),
                     cw__migration_latest());
    char text[128];
    sql_text(f, "SELECT name FROM schema_migrations WHERE version = 1", text,
             sizeof(text));
    assert_string_equal(text, m[0].name);
    assert_int_equal(
        sql_int(
            f, Q(f,
                 "SELECT count(*) FROM schema_migrations "
                 "WHERE applied_at GLOB "
                 "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9]"
                 "[0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'",
                 "SELECT count(*) FROM schema_migrations WHERE "
                 "applied_at ~ "
                 "'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'")),
        (int64_t)n);
    if (!f->pg) {
        sql_text(f, "PRAGMA journal_mode", text, sizeof(text));
        assert_string_equal(text, "wal");
    }
    assert_int_equal(
        sql_int(f, Q(f,
                     "SELECT count(*) FROM sqlite_master "
                     "WHERE type = 'table' AND name IN " TABLES,
                     "SELECT count(*) FROM information_schema.tables "
                     "WHERE table_schema = current_schema() AND "
                     "table_name IN " TABLES)),
        13);
    /* Training reads lines in (ts, id, line_no) order: a unique index on
     * orders(ts, id) lets the database do that without sorting any line. */
    assert_int_equal(sql_int(f, Q(f,
                                  "SELECT count(*) FROM sqlite_master "
                                  "WHERE type = 'index' AND "
                                  "tbl_name = 'orders' AND "
                                  "sql LIKE 'CREATE UNIQUE INDEX %(ts, id)%'",
                                  "SELECT count(*) FROM pg_indexes WHERE "
                                  "schemaname = current_schema() AND "
                                  "tablename = 'orders' AND indexdef LIKE "
                                  "'CREATE UNIQUE INDEX %(ts, id)%'")),
                     1);
}

static void test_reopen_is_idempotent(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    struct cw_product_rec p = product("SKU-1");
    assert_int_equal(s->ops->put_product(s, &p, NULL), 1);
    cw_store_close(s);
    char applied[64], again[64];
    const char *applied_sql =
        Q(f,
          "SELECT group_concat(version || applied_at) FROM "
          "schema_migrations",
          "SELECT string_agg(version || applied_at, ',' ORDER BY version) "
          "FROM schema_migrations");
    sql_text(f, applied_sql, applied, sizeof(applied));

    s = open_ok(f->db);
    /* a second handle on the same file at the same time */
    struct cw_store *s2 = open_ok(f->db);
    assert_int_equal(counts_of(s).products, 1);
    struct cw_product_rec p2 = product("SKU-2");
    assert_int_equal(s2->ops->put_product(s2, &p2, NULL), 1);
    assert_int_equal(counts_of(s).products, 2);
    cw_store_close(s2);
    cw_store_close(s);

    sql_text(f, applied_sql, again, sizeof(again));
    assert_string_equal(applied, again);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM schema_migrations"),
                     cw__migration_latest());
}

static void test_puts_return_1_then_0(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_product_rec p = product("SKU-1");
    struct cw_order_rec o1 = order("536365", "C1", "2010-12-01 08:26:00");
    struct cw_order_rec o2 = order("536366", "C1", "2010-12-03 09:00:00");
    struct cw_order_rec o0 = order("536300", "C1", "2010-11-20 10:00:00");
    struct cw_order_rec guest = order("536367", NULL, "2010-12-04 09:00:00");
    struct cw_line_rec l1 = line("536365", 1, "SKU-1", 6);
    struct cw_line_rec l2 = line("536365", 2, "SKU-2", 1);
    struct cw_return_rec r = ret("C536379", "536365", "2010-12-05", 1, 250);

    for (int pass = 0; pass < 2; pass++) {
        int want = pass == 0;
        assert_int_equal(o->put_product(s, &p, NULL), want);
        assert_int_equal(o->put_order(s, &o1, NULL), want);
        assert_int_equal(o->put_order(s, &o2, NULL), want);
        assert_int_equal(o->put_order(s, &o0, NULL), want);
        assert_int_equal(o->put_order(s, &guest, NULL), want);
        assert_int_equal(o->put_line(s, &l1, NULL), want);
        assert_int_equal(o->put_line(s, &l2, NULL), want);
        assert_int_equal(o->put_return(s, &r, NULL), want);
    }
    struct cw_store_counts c = counts_of(s);
    assert_int_equal(c.products, 1);
    assert_int_equal(c.orders, 4);
    assert_int_equal(c.lines, 2);
    assert_int_equal(c.returns, 1);
    assert_int_equal(c.customers, 1); /* the guest has no customer row */
    cw_store_close(s);

    /* replays did not count the customer's orders twice; the first and last
     * order times span all three whatever the insertion order */
    assert_int_equal(sql_int(f, "SELECT order_count FROM customers "
                                "WHERE id = 'C1'"),
                     3);
    char ts[64];
    sql_text(f,
             "SELECT first_order_ts || '/' || last_order_ts FROM "
             "customers WHERE id = 'C1'",
             ts, sizeof(ts));
    assert_string_equal(ts, "2010-11-20 10:00:00/2010-12-03 09:00:00");
}

static void test_product_upsert_keeps_known_values(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    struct cw_product_rec cat = product("85123A");
    cat.group = "85123";
    cat.title = "White hanging heart";
    cat.currency = "GBP";
    cat.price = 255;
    cat.cost = 120;
    cat.inventory = 40;
    cat.flags = CW_FLAG_ACCESSORY;
    cat.tier_level = 2;
    cat.pack_size = 6;
    assert_int_equal(s->ops->put_product(s, &cat, NULL), 1);

    /* what an order import knows: a price, nothing else */
    struct cw_product_rec seen = {
        .sku = "85123A",
        .price = 265,
        .cost = CW_MONEY_UNKNOWN,
        .inventory = -1,
    };
    assert_int_equal(s->ops->put_product(s, &seen, NULL), 0);
    struct found_product got = read_product(s, "85123A");
    assert_int_equal(got.price, 265);
    assert_int_equal(got.cost, 120);
    assert_int_equal(got.inventory, 40);
    assert_int_equal(got.flags, CW_FLAG_ACCESSORY);
    assert_int_equal(got.tier_level, 2);
    assert_int_equal(got.pack_size, 6);
    assert_string_equal(got.title, "White hanging heart");
    assert_string_equal(got.group, "85123");
    assert_string_equal(got.currency, "GBP");

    /* known values do replace */
    struct cw_product_rec upd = product("85123A");
    upd.title = "White hanging heart T-light holder";
    upd.cost = 0;
    upd.inventory = 0;
    upd.flags = CW_FLAG_CONSUMABLE;
    assert_int_equal(s->ops->put_product(s, &upd, NULL), 0);
    got = read_product(s, "85123A");
    assert_int_equal(got.cost, 0);
    assert_int_equal(got.inventory, 0);
    assert_int_equal(got.price, 265);
    assert_int_equal(got.flags, CW_FLAG_CONSUMABLE);
    assert_string_equal(got.title, "White hanging heart T-light holder");
    assert_int_equal(counts_of(s).products, 1);

    /* a product never told anything reads back with the defaults */
    struct cw_product_rec bare = {.sku = "BARE",
                                  .price = CW_MONEY_UNKNOWN,
                                  .cost = CW_MONEY_UNKNOWN,
                                  .inventory = -1,
                                  .tier_level = -1};
    assert_int_equal(s->ops->put_product(s, &bare, NULL), 1);
    got = read_product(s, "BARE");
    assert_int_equal(got.flags, 0);
    assert_int_equal(got.tier_level, 0);
    assert_int_equal(got.pack_size, 1);
    assert_string_equal(got.title, "(null)");

    struct cw_buf err = CW_BUF_INIT;
    struct cw_product_rec nosku = product(NULL);
    assert_int_equal(s->ops->put_product(s, &nosku, &err), CW_EINVAL);
    assert_non_null(strstr(cw_buf_str(&err), "sku"));
    cw_buf_release(&err);
    cw_store_close(s);
}

static void test_rollback_leaves_nothing(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_product_rec p0 = product("KEEP");
    assert_int_equal(o->put_product(s, &p0, NULL), 1);
    struct cw_store_counts before = counts_of(s);

    assert_int_equal(o->begin(s, NULL), 0);
    struct cw_product_rec p = product("SKU-1");
    struct cw_order_rec ord = order("O1", "C1", "2020-01-01 10:00:00");
    struct cw_line_rec l = line("O1", 1, "SKU-1", 2);
    struct cw_return_rec r = ret("R1", "O1", "2020-01-02", 1, 100);
    struct cw_model_info mi = {.path = "/tmp/m1.cwm", .checksum = "0123"};
    p0.cost = 99;
    assert_int_equal(o->put_product(s, &p0, NULL), 0);
    assert_int_equal(o->put_product(s, &p, NULL), 1);
    assert_int_equal(o->put_order(s, &ord, NULL), 1);
    assert_int_equal(o->put_line(s, &l, NULL), 1);
    assert_int_equal(o->put_return(s, &r, NULL), 1);
    assert_int_equal(o->model_add(s, &mi, NULL), 0);
    assert_int_equal(o->meta_set(s, "currency", "GBP", NULL), 0);
    assert_int_equal(counts_of(s).lines, 1); /* visible inside */
    assert_int_equal(o->rollback(s, NULL), 0);

    struct cw_store_counts after = counts_of(s);
    assert_memory_equal(&before, &after, sizeof(before));
    assert_int_equal(read_product(s, "KEEP").cost, CW_MONEY_UNKNOWN);
    char *v = NULL;
    assert_int_equal(o->meta_get(s, "currency", &v, NULL), CW_ENOENT);
    struct cw_model_info latest;
    assert_int_equal(o->model_latest(s, &latest, NULL), CW_ENOENT);
    /* nothing open: rolling back again is harmless */
    assert_int_equal(o->rollback(s, NULL), 0);

    /* one transaction at a time */
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->begin(s, &err), CW_ESTORE);
    assert_non_null(strstr(cw_buf_str(&err), "begin transaction"));
    assert_int_equal(o->put_order(s, &ord, NULL), 1);
    assert_int_equal(o->put_line(s, &l, NULL), 1);
    assert_int_equal(o->commit(s, NULL), 0);
    assert_int_equal(o->commit(s, &err), CW_ESTORE);
    cw_buf_release(&err);
    cw_store_close(s);

    s = open_ok(f->db);
    after = counts_of(s);
    assert_int_equal(after.orders, before.orders + 1);
    assert_int_equal(after.lines, before.lines + 1);
    assert_int_equal(after.customers, before.customers + 1);
    cw_store_close(s);
}

static void test_constraint_violations(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_buf err = CW_BUF_INIT;
    struct cw_order_rec ord = order("536365", "C1", "2010-12-01 08:26:00");
    assert_int_equal(o->put_order(s, &ord, NULL), 1);

    struct cw_line_rec zero = line("536365", 3, "SKU-1", 0);
    assert_int_equal(o->put_line(s, &zero, &err), CW_ESTORE);
    assert_non_null(strstr(cw_buf_str(&err), "order line 536365:3: "));
    assert_true(contains_ci(cw_buf_str(&err), "check"));
    struct cw_line_rec neg = line("536365", 4, "SKU-1", -2);
    cw_buf_reset(&err);
    assert_int_equal(o->put_line(s, &neg, &err), CW_ESTORE);
    assert_non_null(strstr(cw_buf_str(&err), "order line 536365:4: "));

    struct cw_return_rec badamt = ret("R9", NULL, "2010-12-02", 1, -5);
    cw_buf_reset(&err);
    assert_int_equal(o->put_return(s, &badamt, &err), CW_ESTORE);
    assert_non_null(strstr(cw_buf_str(&err), "return 'R9': "));
    assert_true(contains_ci(cw_buf_str(&err), "check"));
    struct cw_return_rec badqty = ret("R10", NULL, "2010-12-02", 0, 5);
    assert_int_equal(o->put_return(s, &badqty, NULL), CW_ESTORE);

    /* lines belong to a stored order */
    struct cw_line_rec orphan = line("NOPE", 1, "SKU-1", 1);
    cw_buf_reset(&err);
    assert_int_equal(o->put_line(s, &orphan, &err), CW_ESTORE);
    assert_non_null(strstr(cw_buf_str(&err), "order line NOPE:1: "));
    /* an order needs a time */
    struct cw_order_rec notime = order("536399", NULL, NULL);
    assert_int_equal(o->put_order(s, &notime, NULL), CW_ESTORE);

    struct cw_store_counts c = counts_of(s);
    assert_int_equal(c.lines, 0);
    assert_int_equal(c.returns, 0);
    assert_int_equal(c.orders, 1);

    /* a failed put fails the transaction around it (cw_store.h): its
     * commit is refused and nothing of it is kept, not even the good line
     * written before; the next transaction starts clean */
    struct cw_line_rec good = line("536365", 5, "SKU-1", 1);
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_line(s, &good, NULL), 1);
    assert_int_equal(o->put_line(s, &zero, NULL), CW_ESTORE);
    cw_buf_reset(&err);
    assert_int_equal(o->commit(s, &err), CW_ESTORE);
    assert_int_equal(counts_of(s).lines, 0);
    assert_int_equal(o->rollback(s, NULL), 0);
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_line(s, &good, NULL), 1);
    assert_int_equal(o->commit(s, NULL), 0);
    assert_int_equal(counts_of(s).lines, 1);
    cw_buf_release(&err);
    cw_store_close(s);
}

/* Makes the store (created first) refuse a customer whose id is BAD. */
static void refuse_customer_bad(struct fx *f)
{
    cw_store_close(open_ok(f->db));
    sql_exec(f, Q(f,
                  "CREATE TRIGGER refuse_bad BEFORE INSERT ON customers "
                  "WHEN NEW.id = 'BAD' BEGIN "
                  "SELECT RAISE(ABORT, 'bad customer'); END",
                  "CREATE FUNCTION refuse_bad() RETURNS trigger "
                  "LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = 'BAD' THEN "
                  "RAISE EXCEPTION 'bad customer'; END IF; RETURN NEW; "
                  "END $$; CREATE TRIGGER refuse_bad BEFORE INSERT ON "
                  "customers FOR EACH ROW EXECUTE FUNCTION refuse_bad()"));
}

/* An order and its customer count are written together or not at all. */
static void test_put_order_is_atomic(void **state)
{
    struct fx *f = *state;
    refuse_customer_bad(f);
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_buf err = CW_BUF_INIT;
    struct cw_order_rec bad = order("O1", "BAD", "2020-01-01 10:00:00");
    struct cw_order_rec good = order("O2", "C1", "2020-01-01 11:00:00");
    assert_int_equal(o->put_order(s, &bad, &err), CW_ESTORE);
    assert_string_equal(cw_buf_str(&err),
                        "customer 'BAD' of order 'O1': bad customer");
    assert_int_equal(counts_of(s).orders, 0);

    /* in a transaction, the failed order fails it (cw_store.h) */
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_order(s, &good, NULL), 1);
    assert_int_equal(o->put_order(s, &bad, NULL), CW_ESTORE);
    assert_int_equal(o->commit(s, NULL), CW_ESTORE);
    o->rollback(s, NULL);
    assert_int_equal(counts_of(s).orders, 0);
    assert_int_equal(o->put_order(s, &good, NULL), 1);
    struct cw_store_counts c = counts_of(s);
    assert_int_equal(c.orders, 1);
    assert_int_equal(c.customers, 1);
    /* the failed order was not kept: it can still be added */
    struct cw_order_rec fixed = order("O1", "C1", "2020-01-01 10:00:00");
    assert_int_equal(o->put_order(s, &fixed, NULL), 1);
    cw_buf_release(&err);
    cw_store_close(s);
}

/* ---- batches (put_batch) ------------------------------------------------ */

static struct cw_store_put put_of_product(const struct cw_product_rec *p)
{
    struct cw_store_put b = {.kind = CW_STORE_PRODUCT, .rec.product = p};
    return b;
}

static struct cw_store_put put_of_order(const struct cw_order_rec *o)
{
    struct cw_store_put b = {.kind = CW_STORE_ORDER, .rec.order = o};
    return b;
}

static struct cw_store_put put_of_line(const struct cw_line_rec *l)
{
    struct cw_store_put b = {.kind = CW_STORE_LINE, .rec.line = l};
    return b;
}

static struct cw_store_put put_of_return(const struct cw_return_rec *r)
{
    struct cw_store_put b = {.kind = CW_STORE_RETURN, .rec.ret = r};
    return b;
}

/* A batch writes what its records' put_* one after another would, and
 * says for each whether it was added: a record sees the ones before it in
 * the batch (a product told twice keeps what each knew, a repeated order,
 * line or return is not added again, a customer's orders are all counted
 * and only once), and the store's (a replayed batch adds nothing). */
static void test_batch_writes_as_puts(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_product_rec old = product("OLD");
    assert_int_equal(o->put_product(s, &old, NULL), 1);

    struct cw_product_rec p1 = product("SKU-1"), p1b = product("SKU-1");
    p1.title = "First title";
    p1.cost = 120;
    p1b.price = 300; /* knows a price, not the title or the cost */
    struct cw_product_rec oldb = product("OLD");
    oldb.price = 99;
    struct cw_order_rec o1 = order("O1", "C1", "2020-01-02 10:00:00");
    struct cw_order_rec o2 = order("O2", "C1", "2020-01-01 09:00:00");
    struct cw_order_rec o1again = order("O1", "C1", "2020-01-09 10:00:00");
    struct cw_order_rec guest = order("O3", NULL, "2020-01-03 10:00:00");
    struct cw_line_rec l1 = line("O1", 1, "SKU-1", 2);
    struct cw_line_rec l2 = line("O2", 1, "SKU-1", 1);
    struct cw_line_rec l1again = line("O1", 1, "SKU-1", 5);
    struct cw_return_rec r1 = ret("R1", "O1", "2020-01-05", 1, 300);
    struct cw_store_put b[] = {
        put_of_product(&p1),    put_of_order(&o1),     put_of_line(&l1),
        put_of_order(&o2),      put_of_line(&l2),      put_of_product(&p1b),
        put_of_order(&o1again), put_of_line(&l1again), put_of_return(&r1),
        put_of_return(&r1),     put_of_order(&guest),  put_of_product(&oldb),
    };
    const int want[] = {1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 0};
    size_t n = sizeof(b) / sizeof(*b), failed = 99;
    for (size_t i = 0; i < n; i++)
        b[i].added = 42;
    assert_int_equal(o->put_batch(s, b, n, &failed, NULL), 7);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(b[i].added, want[i]);
    struct cw_store_counts c = counts_of(s);
    assert_int_equal(c.products, 2);
    assert_int_equal(c.orders, 3);
    assert_int_equal(c.lines, 2);
    assert_int_equal(c.returns, 1);
    assert_int_equal(c.customers, 1);
    struct found_product got = read_product(s, "SKU-1");
    assert_string_equal(got.title, "First title");
    assert_int_equal(got.cost, 120);
    assert_int_equal(got.price, 300);
    assert_int_equal(read_product(s, "OLD").price, 99);
    /* the first O1 and its line were kept, not the repeats */
    assert_int_equal(sql_int(f, "SELECT qty FROM order_lines WHERE "
                                "order_id = 'O1' AND line_no = 1"),
                     2);
    char ts[64];
    sql_text(f, "SELECT ts FROM orders WHERE id = 'O1'", ts, sizeof(ts));
    assert_string_equal(ts, "2020-01-02 10:00:00");
    assert_int_equal(sql_int(f, "SELECT order_count FROM customers "
                                "WHERE id = 'C1'"),
                     2);
    sql_text(f,
             "SELECT first_order_ts || '/' || last_order_ts FROM "
             "customers WHERE id = 'C1'",
             ts, sizeof(ts));
    assert_string_equal(ts, "2020-01-01 09:00:00/2020-01-02 10:00:00");

    /* replayed, in a transaction this time: nothing is added */
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_batch(s, b, n, &failed, NULL), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(b[i].added, 0);
    assert_int_equal(o->commit(s, NULL), 0);
    struct cw_store_counts again = counts_of(s);
    assert_memory_equal(&again, &c, sizeof(c));
    assert_int_equal(sql_int(f, "SELECT order_count FROM customers "
                                "WHERE id = 'C1'"),
                     2);
    /* an empty batch is nothing */
    assert_int_equal(o->put_batch(s, b, 0, &failed, NULL), 0);
    cw_store_close(s);
}

/* An import's batches: orders of a few customers with ten lines each, in
 * batches of 1,000 records in one transaction; the second batch repeats
 * the last 300 records of the first (duplicates across batches), the last
 * one repeats records within itself. More than the store takes at once is
 * refused before anything is written. */
static void test_batches_in_a_transaction(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    enum { ORDERS = 300, PER = 11, N = ORDERS * PER, B = 1000 };
    static char ids[ORDERS][16], custs[ORDERS][16];
    static struct cw_order_rec ords[ORDERS];
    static struct cw_line_rec lines[ORDERS][PER - 1];
    static struct cw_store_put b[N + 50];
    for (int i = 0; i < ORDERS; i++) {
        snprintf(ids[i], sizeof(ids[i]), "O%04d", i);
        snprintf(custs[i], sizeof(custs[i]), "C%d", i % 7);
        ords[i] = order(ids[i], i % 10 ? custs[i] : NULL, "2020-02-01 10:00");
        b[i * PER] = put_of_order(&ords[i]);
        for (int j = 0; j < PER - 1; j++) {
            lines[i][j] = line(ids[i], j + 1, "SKU-1", j + 1);
            b[i * PER + 1 + j] = put_of_line(&lines[i][j]);
        }
    }
    size_t failed = 0;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_batch(s, b, B, &failed, &err), B);
    /* [700, 1700): 300 already there */
    assert_int_equal(o->put_batch(s, b + B - 300, B, &failed, &err), B - 300);
    for (int i = 0; i < 300; i++)
        assert_int_equal(b[B - 300 + i].added, 0);
    assert_int_equal(b[B].added, 1);
    /* the rest, and 50 of its own records once more at its end */
    size_t rest = N - (2 * B - 300);
    for (int i = 0; i < 50; i++)
        b[N + i] = b[N - 100 + i];
    assert_int_equal(o->put_batch(s, b + 2 * B - 300, rest + 50, &failed, &err),
                     (int)rest);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(b[N - 100 + i].added, 1);
        assert_int_equal(b[N + i].added, 0);
    }
    assert_int_equal(o->commit(s, &err), 0);
    struct cw_store_counts c = counts_of(s);
    assert_int_equal(c.orders, ORDERS);
    assert_int_equal(c.lines, ORDERS * (PER - 1));
    assert_int_equal(c.customers, 7);
    /* every order of a customer counted once: 270 with a customer */
    assert_int_equal(sql_int(f, "SELECT sum(order_count) FROM customers"),
                     ORDERS - ORDERS / 10);

    /* too many at once */
    static struct cw_store_put many[CW_STORE_BATCH_MAX + 1];
    for (size_t i = 0; i <= CW_STORE_BATCH_MAX; i++)
        many[i] = b[0];
    assert_int_equal(
        o->put_batch(s, many, CW_STORE_BATCH_MAX + 1, &failed, &err),
        CW_EINVAL);
    assert_int_equal(failed, CW_STORE_BATCH_MAX + 1);
    assert_non_null(strstr(cw_buf_str(&err), "at most"));
    cw_buf_release(&err);
    cw_store_close(s);
}

/* A batch of 1,500 lines with a bad one in the middle, and another bad one
 * after it: the first is the one reported, by its index and as its put_*
 * names it; in a transaction the transaction fails and keeps nothing,
 * outside one nothing of the batch is kept; either way the store goes on
 * working. */
static void test_batch_bad_record(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    enum { N = 1500, BAD = 777, LATER = 1200 };
    struct cw_order_rec ord = order("O1", "C1", "2020-01-01 10:00:00");
    assert_int_equal(o->put_order(s, &ord, NULL), 1);
    static struct cw_line_rec lines[N];
    static struct cw_store_put b[N];
    for (int i = 0; i < N; i++) {
        lines[i] = line("O1", i + 1, "SKU-1", 1);
        b[i] = put_of_line(&lines[i]);
    }
    lines[BAD].qty = 0;   /* CHECK (qty > 0) */
    lines[LATER].qty = 0; /* never reached */
    struct cw_store_counts before = counts_of(s);
    struct cw_buf err = CW_BUF_INIT;
    size_t failed = 0;

    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_batch(s, b, N, &failed, &err), CW_ESTORE);
    assert_int_equal(failed, BAD);
    assert_non_null(strstr(cw_buf_str(&err), "order line O1:778: "));
    assert_true(contains_ci(cw_buf_str(&err), "check"));
    assert_int_equal(o->commit(s, NULL), CW_ESTORE);
    assert_int_equal(o->rollback(s, NULL), 0);
    struct cw_store_counts after = counts_of(s);
    assert_memory_equal(&before, &after, sizeof(before));

    /* outside a transaction: all or none */
    cw_buf_reset(&err);
    failed = 0;
    assert_int_equal(o->put_batch(s, b, N, &failed, &err), CW_ESTORE);
    assert_int_equal(failed, BAD);
    assert_non_null(strstr(cw_buf_str(&err), "order line O1:778: "));
    after = counts_of(s);
    assert_memory_equal(&before, &after, sizeof(before));

    /* a line of no stored order (a foreign key), named the same way */
    struct cw_line_rec orphan = line("NOPE", 3, "SKU-1", 1);
    b[BAD] = put_of_line(&orphan);
    cw_buf_reset(&err);
    assert_int_equal(o->put_batch(s, b, N, &failed, &err), CW_ESTORE);
    assert_int_equal(failed, BAD);
    assert_non_null(strstr(cw_buf_str(&err), "order line NOPE:3: "));

    /* a record the store refuses before any SQL: nothing is sent */
    struct cw_line_rec nosku = line("O1", 5000, NULL, 1);
    b[BAD] = put_of_line(&nosku);
    cw_buf_reset(&err);
    assert_int_equal(o->put_batch(s, b, N, &failed, &err), CW_EINVAL);
    assert_int_equal(failed, BAD);
    assert_string_equal(cw_buf_str(&err), "order line O1:5000 without a sku");
    after = counts_of(s);
    assert_memory_equal(&before, &after, sizeof(before));

    /* the store still works: the batch mended is written whole */
    lines[BAD].qty = 1;
    lines[LATER].qty = 1;
    b[BAD] = put_of_line(&lines[BAD]);
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_batch(s, b, N, &failed, &err), N);
    assert_int_equal(o->commit(s, &err), 0);
    assert_int_equal(counts_of(s).lines, before.lines + N);
    cw_buf_release(&err);
    cw_store_close(s);
}

/* An order's customer count that fails in a batch is named as put_order
 * names it, and leaves neither the order nor the count. */
static void test_batch_order_customer_fails(void **state)
{
    struct fx *f = *state;
    refuse_customer_bad(f);
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_order_rec good = order("O1", "C1", "2020-01-01 10:00:00");
    struct cw_order_rec bad = order("O2", "BAD", "2020-01-01 11:00:00");
    struct cw_line_rec l = line("O1", 1, "SKU-1", 1);
    struct cw_store_put b[] = {put_of_order(&good), put_of_line(&l),
                               put_of_order(&bad)};
    struct cw_buf err = CW_BUF_INIT;
    size_t failed = 0;
    assert_int_equal(o->put_batch(s, b, 3, &failed, &err), CW_ESTORE);
    assert_int_equal(failed, 2);
    assert_string_equal(cw_buf_str(&err),
                        "customer 'BAD' of order 'O2': bad customer");
    struct cw_store_counts c = counts_of(s);
    assert_int_equal(c.orders + c.lines + c.customers, 0);
    /* without it the rest goes in */
    assert_int_equal(o->put_batch(s, b, 2, &failed, &err), 2);
    assert_int_equal(counts_of(s).customers, 1);
    cw_buf_release(&err);
    cw_store_close(s);
}

struct seen_lines {
    int n, stop_at;
    char key[8][48];
    int64_t qty[8];
};

static int collect_line(void *ctx, const struct cw_store_line *l)
{
    struct seen_lines *v = ctx;
    if (v->n < 8) {
        snprintf(v->key[v->n], sizeof(v->key[0]), "%s|%s|%s|%s", l->order_id,
                 l->customer ? l->customer : "-", l->ts, l->sku);
        v->qty[v->n] = l->qty;
    }
    v->n++;
    return v->stop_at && v->n == v->stop_at ? 42 : 0;
}

static void test_scan_order(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    /* id order is not time order: B is the earliest */
    struct cw_order_rec ob = order("B", "C2", "2019-12-31 23:00:00");
    struct cw_order_rec oa2 = order("A2", NULL, "2020-01-01 09:00:00");
    struct cw_order_rec oa1 = order("A1", "C1", "2020-01-01 09:00:00");
    assert_int_equal(o->put_order(s, &ob, NULL), 1);
    assert_int_equal(o->put_order(s, &oa2, NULL), 1);
    assert_int_equal(o->put_order(s, &oa1, NULL), 1);
    struct cw_line_rec ls[] = {
        line("B", 1, "b1", 1),   line("A2", 2, "a22", 2),
        line("A2", 1, "a21", 3), line("A1", 10, "a110", 4),
        line("A1", 2, "a12", 5),
    };
    for (size_t i = 0; i < sizeof(ls) / sizeof(*ls); i++)
        assert_int_equal(o->put_line(s, &ls[i], NULL), 1);

    struct seen_lines v = {0};
    assert_int_equal(o->scan_lines(s, collect_line, &v, NULL), 0);
    assert_int_equal(v.n, 5);
    assert_string_equal(v.key[0], "B|C2|2019-12-31 23:00:00|b1");
    assert_string_equal(v.key[1], "A1|C1|2020-01-01 09:00:00|a12");
    assert_string_equal(v.key[2], "A1|C1|2020-01-01 09:00:00|a110");
    assert_string_equal(v.key[3], "A2|-|2020-01-01 09:00:00|a21");
    assert_string_equal(v.key[4], "A2|-|2020-01-01 09:00:00|a22");
    assert_int_equal(v.qty[0], 1);
    assert_int_equal(v.qty[1], 5);

    /* a callback's non-zero return stops the scan and is returned; the next
     * scan starts over */
    struct seen_lines stop = {.stop_at = 2};
    assert_int_equal(o->scan_lines(s, collect_line, &stop, NULL), 42);
    assert_int_equal(stop.n, 2);
    struct seen_lines again = {0};
    assert_int_equal(o->scan_lines(s, collect_line, &again, NULL), 0);
    assert_int_equal(again.n, 5);
    assert_string_equal(again.key[0], v.key[0]);
    cw_store_close(s);
}

struct seen_ids {
    int n;
    char ids[8][32];
};

static int collect_product(void *ctx, const struct cw_product_rec *p)
{
    struct seen_ids *v = ctx;
    snprintf(v->ids[v->n++ % 8], sizeof(v->ids[0]), "%s", p->sku);
    return 0;
}

static int collect_return(void *ctx, const struct cw_return_rec *r)
{
    struct seen_ids *v = ctx;
    snprintf(v->ids[v->n++ % 8], sizeof(v->ids[0]), "%s/%s", r->id,
             r->order_id ? r->order_id : "-");
    return 0;
}

static void test_scan_products_and_returns(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    const char *skus[] = {"c", "a", "b"};
    for (int i = 0; i < 3; i++) {
        struct cw_product_rec p = product(skus[i]);
        assert_int_equal(o->put_product(s, &p, NULL), 1);
    }
    struct seen_ids v = {0};
    assert_int_equal(o->scan_products(s, collect_product, &v, NULL), 0);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.ids[0], "a");
    assert_string_equal(v.ids[1], "b");
    assert_string_equal(v.ids[2], "c");

    struct cw_return_rec r2 = ret("R2", NULL, "2020-02-01", 1, 10);
    struct cw_return_rec r1 = ret("R1", "O9", "2020-03-01", 1, 10);
    struct cw_return_rec r0 = ret("R0", "O8", "2020-02-01", 2, 10);
    assert_int_equal(o->put_return(s, &r2, NULL), 1);
    assert_int_equal(o->put_return(s, &r1, NULL), 1);
    assert_int_equal(o->put_return(s, &r0, NULL), 1);
    struct seen_ids w = {0};
    assert_int_equal(o->scan_returns(s, collect_return, &w, NULL), 0);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.ids[0], "R0/O8");
    assert_string_equal(w.ids[1], "R2/-");
    assert_string_equal(w.ids[2], "R1/O9");
    cw_store_close(s);
}

struct nested {
    struct cw_store *s;
    int rc;
    struct cw_buf err;
};

static int count_only(void *ctx, const struct cw_store_line *l)
{
    return 0;
}

static int scan_inside(void *ctx, const struct cw_store_line *l)
{
    struct nested *n = ctx;
    n->rc = n->s->ops->scan_lines(n->s, count_only, NULL, &n->err);
    return 0;
}

static void test_nested_scan_refused(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    struct cw_order_rec ord = order("O1", NULL, "2020-01-01 00:00:00");
    struct cw_line_rec l = line("O1", 1, "x", 1);
    assert_int_equal(s->ops->put_order(s, &ord, NULL), 1);
    assert_int_equal(s->ops->put_line(s, &l, NULL), 1);
    struct nested n = {.s = s, .err = CW_BUF_INIT};
    assert_int_equal(s->ops->scan_lines(s, scan_inside, &n, NULL), 0);
    assert_int_equal(n.rc, CW_EBUSY);
    assert_non_null(strstr(cw_buf_str(&n.err), "order lines"));
    cw_buf_release(&n.err);
    cw_store_close(s);
}

static int line_cost(void *ctx, const struct cw_store_line *l)
{
    int64_t *costs = ctx;
    costs[l->qty - 1] = l->unit_cost;
    costs[2 + l->qty - 1] = l->unit_price;
    return 0;
}

static void test_money_null_mapping(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_product_rec unknown = product("U");
    unknown.price = 250;
    struct cw_product_rec free_item = product("Z");
    free_item.price = 0;
    free_item.cost = 0;
    free_item.inventory = 0;
    assert_int_equal(o->put_product(s, &unknown, NULL), 1);
    assert_int_equal(o->put_product(s, &free_item, NULL), 1);
    struct cw_order_rec ord = order("O1", NULL, "2020-01-01 00:00:00");
    assert_int_equal(o->put_order(s, &ord, NULL), 1);
    struct cw_line_rec l1 = line("O1", 1, "U", 1); /* cost unknown */
    struct cw_line_rec l2 = line("O1", 2, "Z", 2);
    l2.unit_cost = 0;
    l2.unit_price = CW_MONEY_UNKNOWN;
    assert_int_equal(o->put_line(s, &l1, NULL), 1);
    assert_int_equal(o->put_line(s, &l2, NULL), 1);
    struct cw_return_rec r = ret("R1", "O1", "2020-01-02", 1, CW_MONEY_UNKNOWN);
    assert_int_equal(o->put_return(s, &r, NULL), 1);

    struct found_product got = read_product(s, "U");
    assert_true(got.cost == CW_MONEY_UNKNOWN);
    assert_int_equal(got.inventory, -1);
    assert_int_equal(got.price, 250);
    got = read_product(s, "Z");
    assert_int_equal(got.cost, 0);
    assert_int_equal(got.price, 0);
    assert_int_equal(got.inventory, 0);

    int64_t costs[4] = {1, 1, 1, 1};
    assert_int_equal(o->scan_lines(s, line_cost, costs, NULL), 0);
    assert_true(costs[0] == CW_MONEY_UNKNOWN);
    assert_int_equal(costs[1], 0);
    assert_int_equal(costs[2], 250);
    assert_true(costs[3] == CW_MONEY_UNKNOWN);
    cw_store_close(s);

    /* and in the file they are NULL, not INT64_MIN */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM products WHERE "
                                "sku = 'U' AND cost IS NULL AND "
                                "inventory IS NULL AND price = 250"),
                     1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM products WHERE "
                                "sku = 'Z' AND cost = 0 AND "
                                "inventory = 0"),
                     1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM order_lines WHERE "
                                "(line_no = 1 AND unit_cost IS NULL) OR "
                                "(line_no = 2 AND unit_cost = 0 AND "
                                "unit_price IS NULL)"),
                     2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM returns WHERE "
                                "amount IS NULL"),
                     1);
}

static void test_model_registry(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_buf err = CW_BUF_INIT;
    struct cw_model_info got;
    assert_int_equal(o->model_latest(s, &got, &err), CW_ENOENT);
    assert_true(err.len > 0);

    struct cw_model_info a = {
        .path = "/var/lib/cartwise/model-1.cwm",
        .checksum = "0123456789abcdef",
        .items = 10,
        .customers = 20,
        .baskets = 30,
    };
    assert_int_equal(o->model_add(s, &a, NULL), 0);
    assert_int_equal(a.version, 1);
    assert_int_equal(strlen(a.created_at), 20);
    assert_int_equal(a.created_at[19], 'Z');

    struct cw_model_info b = {
        .path = "/var/lib/cartwise/model-2.cwm",
        .checksum = "fedcba9876543210",
        .created_at = "2024-01-31T12:00:00Z",
        .items = 11,
        .customers = 21,
        .baskets = 31,
    };
    assert_int_equal(o->model_add(s, &b, NULL), 0);
    assert_int_equal(b.version, 2);
    assert_int_equal(o->model_latest(s, &got, NULL), 0);
    assert_int_equal(got.version, 2);
    assert_string_equal(got.path, b.path);
    assert_string_equal(got.checksum, b.checksum);
    assert_string_equal(got.created_at, "2024-01-31T12:00:00Z");
    assert_int_equal(got.items, 11);
    assert_int_equal(got.customers, 21);
    assert_int_equal(got.baskets, 31);
    assert_int_equal(counts_of(s).models, 2);
    cw_store_close(s);

    /* versions keep counting up across opens and are never reused */
    sql_exec(f, "DELETE FROM model_versions WHERE version = 2");
    s = open_ok(f->db);
    assert_int_equal(s->ops->model_latest(s, &got, NULL), 0);
    assert_int_equal(got.version, 1);
    struct cw_model_info c = {.path = "m3", .checksum = "1"};
    assert_int_equal(s->ops->model_add(s, &c, NULL), 0);
    assert_int_equal(c.version, 3);
    struct cw_model_info nopath = {.checksum = "1"};
    assert_int_equal(s->ops->model_add(s, &nopath, NULL), CW_EINVAL);
    cw_buf_release(&err);
    cw_store_close(s);
}

static void test_meta(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_buf err = CW_BUF_INIT;
    char *v = (char *)"junk";
    assert_int_equal(o->meta_get(s, "margin_rate", &v, &err), CW_ENOENT);
    assert_null(v);
    assert_non_null(strstr(cw_buf_str(&err), "margin_rate"));
    assert_int_equal(o->meta_set(s, "margin_rate", "0.35", NULL), 0);
    assert_int_equal(o->meta_set(s, "currency", "GBP", NULL), 0);
    assert_int_equal(o->meta_get(s, "margin_rate", &v, NULL), 0);
    assert_string_equal(v, "0.35");
    cw_free(v);
    assert_int_equal(o->meta_set(s, "margin_rate", "0.4", NULL), 0);
    cw_store_close(s);

    s = open_ok(f->db);
    assert_int_equal(s->ops->meta_get(s, "margin_rate", &v, NULL), 0);
    assert_string_equal(v, "0.4");
    cw_free(v);
    assert_int_equal(s->ops->meta_set(s, "margin_rate", NULL, NULL), 0);
    assert_int_equal(s->ops->meta_get(s, "margin_rate", &v, NULL), CW_ENOENT);
    assert_int_equal(s->ops->meta_get(s, "currency", &v, NULL), 0);
    assert_string_equal(v, "GBP");
    cw_free(v);
    cw_buf_release(&err);
    cw_store_close(s);
}

struct seen_events {
    int n;
    char key[8][64];
    int64_t value[8], profit[8];
};

static int collect_event(void *ctx, const struct cw_event_rec *e)
{
    struct seen_events *v = ctx;
    if (v->n < 8) {
        snprintf(v->key[v->n], sizeof(v->key[0]), "%s|%s|%s|%s|%s", e->id,
                 e->type, e->session, e->customer ? e->customer : "-",
                 e->payload ? e->payload : "-");
        v->value[v->n] = e->value;
        v->profit[v->n] = e->profit;
    }
    v->n++;
    return 0;
}

static void test_events(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_event_rec late = {
        .id = "e1",
        .type = "purchase",
        .session = "s1",
        .customer = "C1",
        .ts = "2024-01-02T10:00:00Z",
        .order_id = "1001",
        .decision_id = "d1",
        .value = 4599,
        .profit = CW_MONEY_UNKNOWN,
        .payload = "{\"type\":\"purchase\"}",
    };
    struct cw_event_rec early = {
        .id = "e2",
        .type = "add_to_cart",
        .session = "s1",
        .ts = "2024-01-02T09:00:00Z",
        .sku = "SKU-1",
        .profit = 120,
    };
    struct cw_event_rec tie = early;
    tie.id = "e0";
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(o->put_event(s, &late, NULL), pass == 0);
        assert_int_equal(o->put_event(s, &early, NULL), pass == 0);
        assert_int_equal(o->put_event(s, &tie, NULL), pass == 0);
    }
    assert_int_equal(counts_of(s).events, 3);

    struct seen_events v = {0};
    assert_int_equal(o->scan_events(s, collect_event, &v, NULL), 0);
    assert_int_equal(v.n, 3);
    assert_string_equal(v.key[0], "e0|add_to_cart|s1|-|-");
    assert_string_equal(v.key[1], "e2|add_to_cart|s1|-|-");
    assert_string_equal(v.key[2], "e1|purchase|s1|C1|{\"type\":\"purchase\"}");
    assert_int_equal(v.value[0], 0);
    assert_int_equal(v.profit[0], 120);
    assert_int_equal(v.value[2], 4599);
    assert_true(v.profit[2] == CW_MONEY_UNKNOWN);

    struct cw_buf err = CW_BUF_INIT;
    struct cw_event_rec bad = early;
    bad.id = "e9";
    bad.type = "teleport";
    assert_int_equal(o->put_event(s, &bad, &err), CW_EINVAL);
    assert_non_null(strstr(cw_buf_str(&err), "unknown type 'teleport'"));
    bad.type = "view";
    bad.session = NULL;
    assert_int_equal(o->put_event(s, &bad, &err), CW_EINVAL);
    assert_non_null(strstr(cw_buf_str(&err), "session"));
    assert_int_equal(counts_of(s).events, 3);
    cw_buf_release(&err);
    cw_store_close(s);

    assert_int_equal(sql_int(f, "SELECT count(*) FROM events WHERE "
                                "id = 'e1' AND profit IS NULL AND "
                                "value = 4599 AND decision_id = 'd1' "
                                "AND order_id = '1001'"),
                     1);
}

struct seen_decisions {
    int n;
    char key[4][96];
    int64_t cart[4], model[4];
};

static int collect_decision(void *ctx, const struct cw_decision_rec *d)
{
    struct seen_decisions *v = ctx;
    if (v->n < 4) {
        snprintf(v->key[v->n], sizeof(v->key[0]), "%s|%s|%s|%s|%s|%s", d->id,
                 d->experiment ? d->experiment : "-", d->arm,
                 d->placement ? d->placement : "-", d->shown ? d->shown : "-",
                 d->incentives ? d->incentives : "-");
        v->cart[v->n] = d->cart_value;
        v->model[v->n] = d->model_version;
    }
    v->n++;
    return v->n == 1 ? 0 : 7;
}

static void test_decisions(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_decision_rec d2 = {
        .id = "d2",
        .session = "s1",
        .experiment = "exp-1",
        .arm = "treatment",
        .placement = "cart",
        .ts = "2024-01-02T10:00:00Z",
        .model_version = 3,
        .cart_value = 2599,
        .shown = "[{\"sku\":\"A\",\"p\":0.4}]",
        .incentives = "{\"progress\":null}",
    };
    struct cw_decision_rec d1 = {
        .id = "d1",
        .session = "s0",
        .arm = "none",
        .ts = "2024-01-01T10:00:00Z",
        .cart_value = CW_MONEY_UNKNOWN,
    };
    assert_int_equal(o->put_decisions(s, &d2, 1, NULL), 1);
    assert_int_equal(o->put_decisions(s, &d1, 1, NULL), 1);
    assert_int_equal(o->put_decisions(s, &d2, 1, NULL), 0);
    assert_int_equal(counts_of(s).decisions, 2);
    struct seen_decisions v = {0};
    /* the callback stops at the second decision with 7 */
    assert_int_equal(o->scan_decisions(s, collect_decision, &v, NULL), 7);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.key[0], "d1|-|none|-|-|-");
    assert_true(v.cart[0] == CW_MONEY_UNKNOWN);
    assert_string_equal(v.key[1],
                        "d2|exp-1|treatment|cart|[{\"sku\":\"A\",\"p\":0."
                        "4}]|{\"progress\":null}");
    assert_int_equal(v.cart[1], 2599);
    assert_int_equal(v.model[1], 3);
    struct cw_decision_rec nots = {.id = "d3"};
    assert_int_equal(o->put_decisions(s, &nots, 1, NULL), CW_EINVAL);
    cw_store_close(s);
}

/* A PostgreSQL url is shown without its password, wherever it is. */
static void test_shown_url(void **state)
{
    (void)state;
    char out[128];
    assert_string_equal(cw_store_shown("shop.db", out, sizeof(out)), "shop.db");
    assert_string_equal(
        cw_store_shown("postgresql://cw:s3cret@db:5432/shop", out, sizeof(out)),
        "postgresql://cw:***@db:5432/shop");
    assert_string_equal(cw_store_shown("postgres://cw@db/shop?sslmode=require&"
                                       "password=s3cret&connect_timeout=3",
                                       out, sizeof(out)),
                        "postgres://cw@db/shop?sslmode=require&password=***&"
                        "connect_timeout=3");
    assert_string_equal(
        cw_store_shown("postgresql://u:p@h/d?password=x", out, sizeof(out)),
        "postgresql://u:***@h/d?password=***");
    /* no password: unchanged; an @ in the path is not a user part */
    assert_string_equal(
        cw_store_shown("postgresql:///shop?host=/tmp/pg@1", out, sizeof(out)),
        "postgresql:///shop?host=/tmp/pg@1");
    /* cut to fit, still without the secret */
    char small[20];
    assert_string_equal(
        cw_store_shown("postgresql://cw:s3cret@db/shop", small, sizeof(small)),
        "postgresql://cw:***");
}

/* Counts every decision; keeps the first two as "id|session|customer|
 * request|cart value|model version". */
struct all_decisions {
    int n;
    char row[2][128];
};

static int all_decisions(void *ctx, const struct cw_decision_rec *d)
{
    struct all_decisions *v = ctx;
    if (v->n < 2)
        snprintf(v->row[v->n], sizeof(v->row[0]), "%s|%s|%s|%s|%lld|%lld",
                 d->id, d->session, d->customer ? d->customer : "-", d->request,
                 (long long)d->cart_value, (long long)d->model_version);
    v->n++;
    return 0;
}

/* A batch of decisions (the decision log's): more than one PostgreSQL
 * chunk, with one already stored and one repeated, counts what it added and
 * writes every row whole; a batch with a bad record writes none of it. */
static void test_decision_batches(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    enum { N = 600 };
    static char ids[N][16], req[N][32];
    struct cw_decision_rec *d = calloc(N + 1, sizeof(*d));
    assert_non_null(d);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "b%03d", i);
        snprintf(req[i], sizeof(req[i]), "{\"k\":%d}", i % 3 + 1);
        d[i] = (struct cw_decision_rec){
            .id = ids[i],
            .session = i % 2 ? "s-odd" : "s-even",
            .customer = i % 5 ? NULL : "c5",
            .arm = "none",
            .placement = "cart",
            .ts = "2024-02-01T10:00:00Z",
            .model_version = i % 7,
            .cart_value = i % 4 ? (int64_t)i * 100 : CW_MONEY_UNKNOWN,
            .shown = "[]",
            .request = req[i],
        };
    }
    d[N] = d[5]; /* repeated inside the batch */
    assert_int_equal(o->put_decisions(s, &d[7], 1, NULL), 1);
    assert_int_equal(o->put_decisions(s, d, N + 1, NULL), N - 1);
    assert_int_equal(counts_of(s).decisions, N);
    assert_int_equal(o->put_decisions(s, d, N, NULL), 0);
    assert_int_equal(o->put_decisions(s, d, 0, NULL), 0);

    struct all_decisions v = {0};
    assert_int_equal(o->scan_decisions(s, all_decisions, &v, NULL), 0);
    assert_int_equal(v.n, N);
    /* rows come back whole, in (ts, id) order */
    char want[128];
    snprintf(want, sizeof(want), "b000|s-even|c5|{\"k\":1}|%lld|0",
             (long long)CW_MONEY_UNKNOWN);
    assert_string_equal(v.row[0], want);
    assert_string_equal(v.row[1], "b001|s-odd|-|{\"k\":2}|100|1");

    /* a bad record anywhere: nothing of the batch is written */
    struct cw_decision_rec bad[3] = {d[0], d[1], {.id = "b-no-ts"}};
    bad[0].id = "new-1";
    bad[1].id = "new-2";
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(o->put_decisions(s, bad, 3, &err), CW_EINVAL);
    assert_non_null(
        strstr(cw_buf_str(&err), "decision 'b-no-ts' without a ts"));
    assert_int_equal(counts_of(s).decisions, N);
    cw_buf_release(&err);
    free(d);
    cw_store_close(s);
}

static void test_keys(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_buf err = CW_BUF_INIT;
    struct cw_key_rec out;
    assert_int_equal(o->find_key(s, "abc", &out, &err), CW_ENOENT);

    struct cw_key_rec pk = {
        .id = "pk_live_ab12",
        .kind = "public",
        .hash = "hash-1",
        .origins = "https://shop.example",
    };
    struct cw_key_rec sk = {
        .id = "sk_live_cd34",
        .kind = "secret",
        .hash = "hash-2",
        .created_at = "2024-01-01T00:00:00Z",
    };
    assert_int_equal(o->put_key(s, &pk, NULL), 1);
    assert_int_equal(o->put_key(s, &sk, NULL), 1);
    assert_int_equal(o->put_key(s, &sk, NULL), 0);

    assert_int_equal(o->find_key(s, "hash-1", &out, NULL), 0);
    assert_string_equal(out.id, "pk_live_ab12");
    assert_string_equal(out.kind, "public");
    assert_string_equal(out.hash, "hash-1");
    assert_string_equal(out.origins, "https://shop.example");
    assert_int_equal(strlen(out.created_at), 20);
    assert_int_equal(out.revoked, 0);
    /* the record stays valid across other calls until the next lookup */
    assert_int_equal(counts_of(s).products, 0);
    assert_string_equal(out.id, "pk_live_ab12");
    assert_int_equal(o->find_key(s, "hash-2", &out, NULL), 0);
    assert_string_equal(out.id, "sk_live_cd34");
    assert_string_equal(out.created_at, "2024-01-01T00:00:00Z");
    assert_null(out.origins);

    /* revocation sticks; origins change only when given */
    struct cw_key_rec revoke = pk;
    revoke.origins = NULL;
    revoke.revoked = 1;
    assert_int_equal(o->put_key(s, &revoke, NULL), 0);
    pk.revoked = 0;
    pk.origins = "https://other.example";
    assert_int_equal(o->put_key(s, &pk, NULL), 0);
    assert_int_equal(o->find_key(s, "hash-1", &out, NULL), 0);
    assert_int_equal(out.revoked, 1);
    assert_string_equal(out.origins, "https://other.example");

    struct cw_key_rec clash = sk;
    clash.hash = "hash-3";
    assert_int_equal(o->put_key(s, &clash, &err), CW_EEXIST);
    assert_non_null(strstr(cw_buf_str(&err), "sk_live_cd34"));
    struct cw_key_rec dup_hash = {
        .id = "pk_other", .kind = "public", .hash = "hash-1"};
    assert_int_equal(o->put_key(s, &dup_hash, NULL), CW_ESTORE);
    struct cw_key_rec bad_kind = {.id = "x", .kind = "admin", .hash = "h"};
    assert_int_equal(o->put_key(s, &bad_kind, &err), CW_EINVAL);
    assert_non_null(strstr(cw_buf_str(&err), "kind"));
    assert_int_equal(o->find_key(s, "nope", &out, NULL), CW_ENOENT);
    assert_null(out.id);
    cw_buf_release(&err);
    cw_store_close(s);
}

/* Collects scan_keys' records as "id kind revoked origins|-" lines. */
static int key_line(void *ctx, const struct cw_key_rec *k)
{
    struct cw_buf *b = ctx;
    assert_null(k->hash); /* a listing never carries the secret's hash */
    assert_non_null(k->created_at);
    cw_buf_addf(b, "%s %s %d %s\n", k->id, k->kind, k->revoked,
                k->origins ? k->origins : "-");
    return 0;
}

static void test_key_list_and_revoke(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_buf b = CW_BUF_INIT, err = CW_BUF_INIT;
    assert_int_equal(o->scan_keys(s, key_line, &b, NULL), 0);
    assert_string_equal(cw_buf_str(&b), "");
    /* made in this order within one second: listed in this order */
    struct cw_key_rec k[] = {
        {"sk_live_zz", "secret", "h1", "2024-01-01T00:00:00Z", NULL, 0},
        {"pk_live_aa", "public", "h2", "2024-01-01T00:00:00Z", "https://a.b",
         0},
    };
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(o->put_key(s, &k[i], NULL), 1);
    assert_int_equal(o->scan_keys(s, key_line, &b, NULL), 0);
    assert_string_equal(cw_buf_str(&b), "sk_live_zz secret 0 -\n"
                                        "pk_live_aa public 0 https://a.b\n");
    assert_int_equal(o->revoke_key(s, "pk_live_aa", NULL), 1);
    assert_int_equal(o->revoke_key(s, "pk_live_aa", NULL), 0);
    assert_int_equal(o->revoke_key(s, "pk_live_nope", &err), CW_ENOENT);
    assert_non_null(strstr(cw_buf_str(&err), "pk_live_nope"));
    assert_int_equal(o->revoke_key(s, "", NULL), CW_EINVAL);
    cw_buf_reset(&b);
    assert_int_equal(o->scan_keys(s, key_line, &b, NULL), 0);
    assert_string_equal(cw_buf_str(&b), "sk_live_zz secret 0 -\n"
                                        "pk_live_aa public 1 https://a.b\n");
    /* the lookup by hash sees it revoked too */
    struct cw_key_rec out;
    assert_int_equal(o->find_key(s, "h2", &out, NULL), 0);
    assert_int_equal(out.revoked, 1);
    cw_buf_release(&b);
    cw_buf_release(&err);
    cw_store_close(s);
}

static void test_idempotency(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_idem_rec in = {"pk_live_a",  "idem-1", "POST",
                             "/v1/events", "hash-1", 0,
                             NULL,         NULL,     "2024-01-02T00:00:00Z"};
    struct cw_idem_rec out;
    const char *since = "2024-01-01T00:00:00Z";
    /* first: claimed, running */
    assert_int_equal(o->idem_claim(s, &in, since, &out, NULL), 0);
    assert_int_equal(o->idem_claim(s, &in, since, &out, NULL), 1);
    assert_int_equal(out.status, 0);
    assert_string_equal(out.request_hash, "hash-1");
    /* answered: replayed as it was */
    in.status = 201;
    in.body = "{\"ok\":true}";
    assert_int_equal(o->idem_finish(s, &in, NULL), 0);
    struct cw_idem_rec ask = in;
    ask.status = 0;
    ask.body = NULL;
    ask.request_hash = "hash-2";
    assert_int_equal(o->idem_claim(s, &ask, since, &out, NULL), 1);
    assert_int_equal(out.status, 201);
    assert_string_equal(out.body, "{\"ok\":true}");
    assert_string_equal(out.request_hash, "hash-1"); /* the caller compares */
    assert_null(out.content_type);
    /* another API key, method or path: its own entry */
    struct cw_idem_rec other = ask;
    other.key_id = "pk_live_b";
    assert_int_equal(o->idem_claim(s, &other, since, &out, NULL), 0);
    other = ask;
    other.path = "/v1/orders";
    assert_int_equal(o->idem_claim(s, &other, since, &out, NULL), 0);
    /* a day later the entry is gone: claimed anew */
    assert_int_equal(o->idem_claim(s, &ask, "2024-01-03T00:00:00Z", &out, NULL),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM idempotency"), 1);
    /* released (an answer not to keep): claimed anew */
    ask.status = 0;
    assert_int_equal(o->idem_finish(s, &ask, NULL), 0);
    assert_int_equal(o->idem_claim(s, &ask, since, &out, NULL), 0);
    struct cw_idem_rec bad = in;
    bad.request_hash = NULL;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(o->idem_claim(s, &bad, since, &out, &err), CW_EINVAL);
    cw_buf_release(&err);
    cw_store_close(s);
}

/* Leases once, returning what was granted (the op must succeed). */
static int64_t lease(struct cw_store *s, int64_t day, int64_t limit,
                     int64_t want)
{
    int64_t got = -1;
    struct cw_buf err = CW_BUF_INIT;
    int rc = s->ops->budget_lease(s, day, limit, want, &got, &err);
    if (rc)
        fail_msg("budget_lease: %s: %s", cw_errname(rc), cw_buf_str(&err));
    cw_buf_release(&err);
    return got;
}

static void test_budget_lease(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const int64_t day = 19675;
    /* grants what is asked while the day has it, then what is left, then
     * nothing */
    assert_int_equal(lease(s, day, 1000, 300), 300);
    assert_int_equal(lease(s, day, 1000, 600), 600);
    assert_int_equal(lease(s, day, 1000, 250), 100);
    assert_int_equal(lease(s, day, 1000, 1), 0);
    assert_int_equal(lease(s, day, 1000, 0), 0);
    /* a larger limit (a raised budget, later in a paced day) has room */
    assert_int_equal(lease(s, day, 1200, 500), 200);
    /* a smaller one has none: never negative */
    assert_int_equal(lease(s, day, 500, 50), 0);
    /* days are independent */
    assert_int_equal(lease(s, day + 1, 1000, 999), 999);
    assert_int_equal(lease(s, day - 1, 10, 20), 10);
    cw_store_close(s);

    /* kept in the store: another handle (a restarted server) sees it */
    s = open_ok(f->db);
    assert_int_equal(lease(s, day, 1200, 10), 0);
    assert_int_equal(lease(s, day + 1, 1000, 10), 1);
    int64_t got = 77;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(s->ops->budget_lease(s, day, 1000, -1, &got, &err),
                     CW_EINVAL);
    assert_int_equal(got, 0);
    assert_non_null(strstr(cw_buf_str(&err), "budget lease"));
    assert_int_equal(s->ops->budget_lease(s, -1, 1000, 1, &got, NULL),
                     CW_EINVAL);
    cw_buf_release(&err);
    cw_store_close(s);
    assert_int_equal(sql_int(f, "SELECT leased FROM budget_leases WHERE "
                                "day = 19675"),
                     1200);
    assert_int_equal(sql_int(f, "SELECT leases FROM budget_leases WHERE "
                                "day = 19675"),
                     8);
    assert_int_equal(sql_int(f, "SELECT leased FROM budget_leases WHERE "
                                "day = 19676"),
                     1000);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM budget_leases"), 3);
}

/* Servers leasing at once, each through its own handle: together they are
 * granted exactly the limit, never more. */
struct leaser {
    const char *db;
    int64_t got;
    int calls;
};

static void *leaser_main(void *arg)
{
    struct leaser *l = arg;
    struct cw_store *s = NULL;
    if (cw_store_open(&s, l->db, NULL))
        return NULL;
    for (;;) {
        int64_t g = 0;
        int rc = s->ops->budget_lease(s, 20000, 5000, 7, &g, NULL);
        if (rc == CW_EBUSY)
            continue;
        l->calls++;
        if (rc || g == 0)
            break;
        l->got += g;
    }
    cw_store_close(s);
    return NULL;
}

static void test_budget_lease_concurrent(void **state)
{
    struct fx *f = *state;
    cw_store_close(open_ok(f->db)); /* migrated before the threads start */
    enum { T = 4 };
    struct leaser l[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        l[i] = (struct leaser){f->db, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, leaser_main, &l[i]), 0);
    }
    int64_t got = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_true(l[i].calls > 0); /* it ran (and could open the store) */
        got += l[i].got;
    }
    assert_int_equal(got, 5000);
    assert_int_equal(sql_int(f, "SELECT leased FROM budget_leases WHERE "
                                "day = 20000"),
                     5000);
}

static void test_webhooks(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    assert_int_equal(o->put_webhook(s, "wh-1", "orders/create",
                                    "demo.myshopify.com", "{}", NULL),
                     1);
    assert_int_equal(o->put_webhook(s, "wh-1", "orders/create",
                                    "demo.myshopify.com", "{}", NULL),
                     0);
    assert_int_equal(o->put_webhook(s, "wh-2", NULL, NULL, NULL, NULL), 1);
    assert_int_equal(o->put_webhook(s, NULL, "t", "s", "b", NULL), CW_EINVAL);
    cw_store_close(s);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM webhooks WHERE "
                                "id = 'wh-1' AND body = '{}' AND "
                                "topic = 'orders/create'"),
                     1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM webhooks"), 2);
}

static void test_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    cw_store_close(open_ok(f->db));
    char sql[128], want[128];
    int newer = cw__migration_latest() + 1;
    if (f->pg)
        snprintf(sql, sizeof(sql),
                 "INSERT INTO schema_migrations VALUES (%d, 'from a newer "
                 "cartwise', '2099-01-01T00:00:00Z')",
                 newer);
    else
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newer);
    sql_exec(f, sql);

    struct cw_store *s = (struct cw_store *)&s;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_store_open(&s, f->db, &err), CW_ECORRUPT);
    assert_null(s);
    snprintf(want, sizeof(want),
             "database schema version %d is newer than this cartwise (%d)",
             newer, cw__migration_latest());
    assert_string_equal(cw_buf_str(&err), want);
    cw_buf_release(&err);
    /* refused, not downgraded */
    assert_int_equal(sql_int(f, Q(f, "PRAGMA user_version",
                                  "SELECT max(version) FROM "
                                  "schema_migrations")),
                     newer);
}

/* A store made by the first release (schema 1) is brought up to date on
 * open, keeping its rows: the decision log's unused indexes go, its
 * incentives column comes. */
static void test_upgrade_from_schema_1(void **state)
{
    struct fx *f = *state;
    cw_store_close(open_ok(f->db));
    /* back to what schema 1 left: its indexes, version 1 */
    sql_exec(f, "CREATE INDEX decisions_session ON decisions(session_id, ts);"
                "CREATE INDEX decisions_customer ON decisions(customer_id, ts);"
                "ALTER TABLE decisions DROP COLUMN incentives;"
                "DROP TABLE idempotency;"
                "DROP TABLE budget_leases;"
                "DELETE FROM schema_migrations WHERE version > 1;"
                "INSERT INTO decisions(id, ts, session_id) "
                "VALUES ('dec_1', '2024-01-01T00:00:00Z', 's1');");
    if (!f->pg)
        sql_exec(f, "PRAGMA user_version = 1");
    cw_store_close(open_ok(f->db));
    if (!f->pg)
        assert_int_equal(sql_int(f, "PRAGMA user_version"),
                         cw__migration_latest());
    assert_int_equal(sql_int(f, "SELECT count(*) FROM schema_migrations"),
                     cw__migration_latest());
    assert_int_equal(sql_int(f, Q(f,
                                  "SELECT count(*) FROM sqlite_master WHERE "
                                  "type = 'index' AND tbl_name = "
                                  "'decisions' AND name LIKE 'decisions_%'",
                                  "SELECT count(*) FROM pg_indexes WHERE "
                                  "schemaname = current_schema() AND "
                                  "tablename = 'decisions' AND indexname "
                                  "LIKE 'decisions_%' AND indexname <> "
                                  "'decisions_pkey'")),
                     1); /* decisions_ts */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM decisions WHERE "
                                "id = 'dec_1' AND session_id = 's1' AND "
                                "incentives IS NULL"),
                     1);
}

static void test_garbage_file_fails_cleanly(void **state)
{
    struct fx *f = *state;
    char junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = "this is not a database\n"[i % 23];
    FILE *fp = fopen(f->db, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
    fclose(fp);

    struct cw_store *s = (struct cw_store *)&s;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_store_open(&s, f->db, &err), CW_ESTORE);
    assert_null(s);
    assert_non_null(strstr(cw_buf_str(&err), f->db));
    assert_non_null(strstr(cw_buf_str(&err), "not a database"));
    cw_buf_release(&err);

    /* the file is left exactly as it was */
    char back[sizeof(junk) + 1];
    fp = fopen(f->db, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(back, 1, sizeof(back), fp), sizeof(junk));
    fclose(fp);
    assert_memory_equal(back, junk, sizeof(junk));
}

static void test_missing_directory_fails_cleanly(void **state)
{
    struct fx *f = *state;
    char path[400];
    snprintf(path, sizeof(path), "%s/no/such/dir/cartwise.db", f->dir);
    struct cw_store *s = (struct cw_store *)&s;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_store_open(&s, path, &err), CW_EIO);
    assert_null(s);
    assert_non_null(strstr(cw_buf_str(&err), path));
    assert_non_null(strstr(cw_buf_str(&err), "cannot open database"));
    cw_buf_release(&err);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_bad_urls(void **state)
{
    /* a postgres url libpq cannot read fails before connecting */
    const char *bad[] = {"postgresql://h/db?no_such_option=1",
                         "POSTGRES://h/db?sslmode=sometimes"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        struct cw_store *s = (struct cw_store *)&s;
        struct cw_buf err = CW_BUF_INIT;
        assert_int_equal(cw_store_open(&s, bad[i], &err), CW_EINVAL);
        assert_null(s);
        assert_non_null(strstr(cw_buf_str(&err), "invalid postgresql url"));
        assert_non_null(strstr(cw_buf_str(&err), bad[i]));
        cw_buf_release(&err);
    }
    struct cw_store *s = (struct cw_store *)&s;
    assert_int_equal(cw_store_open(&s, "", NULL), CW_EINVAL);
    assert_null(s);
    assert_int_equal(cw_store_open(&s, NULL, NULL), CW_EINVAL);
    cw_store_close(NULL);
    assert_null(cw_store_file("postgresql://h/db"));
    assert_null(cw_store_file("postgres://h/db"));
    assert_string_equal(cw_store_file("cartwise.db"), "cartwise.db");
}

/* A server that does not have the database: CW_EIO naming the url, as a
 * SQLite file that cannot be opened. */
static void test_pg_missing_database_fails_cleanly(void **state)
{
    char url[1200];
    snprintf(url, sizeof(url), "%s%sdbname=cw_no_such_database", pg_base,
             strchr(pg_base, '?') ? "&" : "?");
    struct cw_store *s = (struct cw_store *)&s;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_store_open(&s, url, &err), CW_EIO);
    assert_null(s);
    assert_non_null(strstr(cw_buf_str(&err), "cannot connect to"));
    assert_non_null(strstr(cw_buf_str(&err), "cw_no_such_database"));
    cw_buf_release(&err);
}

/* A statement that fails inside a transaction aborts the whole transaction
 * in PostgreSQL: the calls after it fail, and the COMMIT the server turns
 * into a ROLLBACK is an error, never a silent loss; the next transaction
 * works. */
static void test_pg_failed_statement_fails_transaction(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    struct cw_order_rec ord = order("O1", "C1", "2020-01-01 10:00:00");
    struct cw_line_rec bad = line("O1", 1, "SKU-1", 0);
    struct cw_line_rec good = line("O1", 2, "SKU-1", 1);
    struct cw_key_rec k = {.id = "pk_1", .kind = "public", .hash = "h1"};
    struct cw_key_rec dup = {.id = "pk_2", .kind = "public", .hash = "h1"};
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_order(s, &ord, NULL), 1);
    assert_int_equal(o->put_line(s, &bad, NULL), CW_ESTORE);
    assert_int_equal(o->put_line(s, &good, NULL), CW_ESTORE);
    assert_int_equal(o->commit(s, NULL), CW_ESTORE);
    o->rollback(s, NULL);
    assert_int_equal(counts_of(s).orders, 0);
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_order(s, &ord, NULL), 1);
    assert_int_equal(o->put_key(s, &k, NULL), 1);
    assert_int_equal(o->put_line(s, &good, NULL), 1);
    assert_int_equal(o->commit(s, NULL), 0);
    assert_int_equal(o->put_key(s, &dup, NULL), CW_ESTORE); /* unique hash */
    struct cw_store_counts c = counts_of(s);
    assert_int_equal(c.orders, 1);
    assert_int_equal(c.lines, 1);
    assert_int_equal(c.customers, 1);

    /* a second handle waits for the first one's transaction: begin holds
     * the store's write lock, as SQLite's BEGIN IMMEDIATE */
    struct cw_store *s2 = open_ok(f->db);
    assert_int_equal(o->begin(s, NULL), 0);
    struct cw_order_rec o2 = order("O2", NULL, "2020-01-02 10:00:00");
    assert_int_equal(o->put_order(s, &o2, NULL), 1);
    /* not yet visible to the other handle */
    assert_int_equal(counts_of(s2).orders, 1);
    assert_int_equal(o->commit(s, NULL), 0);
    assert_int_equal(counts_of(s2).orders, 2);
    cw_store_close(s2);
    cw_store_close(s);
}

/* A server node's connection dies (the server restarted, a failover): the
 * call that finds out fails with CW_EIO, the next one connects again; in a
 * transaction the calls fail until the rollback, which is harmless. */
static void test_pg_reconnects(void **state)
{
    struct fx *f = *state;
    struct cw_store *s = open_ok(f->db);
    const struct cw_store_ops *o = s->ops;
    char kill[256];
    snprintf(kill, sizeof(kill),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
             "WHERE application_name = '%s' AND pid <> pg_backend_pid()",
             f->schema);
    struct cw_product_rec p = product("SKU-1");
    assert_int_equal(o->put_product(s, &p, NULL), 1);
    assert_int_equal(sql_int(f, kill), 1);
    struct cw_buf err = CW_BUF_INIT;
    struct cw_product_rec p2 = product("SKU-2");
    assert_int_equal(o->put_product(s, &p2, &err), CW_EIO);
    assert_non_null(strstr(cw_buf_str(&err), "product 'SKU-2': "));
    assert_int_equal(o->put_product(s, &p2, NULL), 1);
    assert_int_equal(counts_of(s).products, 2);

    assert_int_equal(o->begin(s, NULL), 0);
    struct cw_product_rec p3 = product("SKU-3");
    assert_int_equal(o->put_product(s, &p3, NULL), 1);
    assert_int_equal(sql_int(f, kill), 1);
    cw_buf_reset(&err);
    assert_int_equal(o->put_product(s, &p3, &err), CW_EIO);
    assert_int_equal(o->put_product(s, &p3, &err), CW_EIO);
    assert_non_null(strstr(cw_buf_str(&err), "in a transaction"));
    assert_int_equal(o->commit(s, NULL), CW_EIO);
    assert_int_equal(o->rollback(s, NULL), 0);
    assert_int_equal(counts_of(s).products, 2); /* SKU-3 was never kept */

    /* the same for a batch, whose answers are read after all of it was
     * sent: lost inside a transaction, it fails as a whole (no one record
     * is to blame) and so do the calls up to the rollback */
    enum { N = 600 };
    static char skus[N][16];
    static struct cw_product_rec ps[N];
    static struct cw_store_put b[N];
    for (int i = 0; i < N; i++) {
        snprintf(skus[i], sizeof(skus[i]), "B-%d", i);
        ps[i] = product(skus[i]);
        b[i] = put_of_product(&ps[i]);
    }
    size_t failed = 0;
    assert_int_equal(o->begin(s, NULL), 0);
    assert_int_equal(o->put_batch(s, b, N / 2, &failed, NULL), N / 2);
    assert_int_equal(sql_int(f, kill), 1);
    cw_buf_reset(&err);
    assert_int_equal(o->put_batch(s, b + N / 2, N / 2, &failed, &err), CW_EIO);
    assert_int_equal(failed, N / 2);
    assert_int_equal(o->put_batch(s, b, N, &failed, &err), CW_EIO);
    assert_non_null(strstr(cw_buf_str(&err), "in a transaction"));
    assert_int_equal(o->commit(s, NULL), CW_EIO);
    assert_int_equal(o->rollback(s, NULL), 0);
    assert_int_equal(o->put_batch(s, b, N, &failed, &err), N);
    assert_int_equal(counts_of(s).products, 2 + N);
    cw_buf_release(&err);
    cw_store_close(s);
}

/* argv[1]: "sqlite" (the default) or "postgres". */
int main(int argc, char **argv)
{
    const char *backend = argc > 1 ? argv[1] : "sqlite";
    if (!strcmp(backend, "postgres")) {
        pg_base = getenv("CW_TEST_PG_URL");
        if (!pg_base || !*pg_base) {
            printf("test_store postgres: SKIPPED: CW_TEST_PG_URL is not set "
                   "(scripts/test starts a throwaway PostgreSQL server and "
                   "sets it)\n");
            return 77; /* ctest's SKIP_RETURN_CODE */
        }
    } else if (strcmp(backend, "sqlite")) {
        fprintf(stderr, "usage: test_store [sqlite|postgres]\n");
        return 2;
    }
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest common[] = {
        T(test_open_creates_schema),
        T(test_reopen_is_idempotent),
        T(test_puts_return_1_then_0),
        T(test_product_upsert_keeps_known_values),
        T(test_rollback_leaves_nothing),
        T(test_constraint_violations),
        T(test_put_order_is_atomic),
        T(test_batch_writes_as_puts),
        T(test_batches_in_a_transaction),
        T(test_batch_bad_record),
        T(test_batch_order_customer_fails),
        T(test_scan_order),
        T(test_scan_products_and_returns),
        T(test_nested_scan_refused),
        T(test_money_null_mapping),
        T(test_model_registry),
        T(test_meta),
        T(test_events),
        T(test_decisions),
        T(test_decision_batches),
        T(test_shown_url),
        T(test_keys),
        T(test_key_list_and_revoke),
        T(test_idempotency),
        T(test_webhooks),
        T(test_budget_lease),
        T(test_budget_lease_concurrent),
        T(test_newer_schema_refused),
        T(test_upgrade_from_schema_1),
        T(test_bad_urls),
    };
    const struct CMUnitTest sqlite_only[] = {
        T(test_garbage_file_fails_cleanly),
        T(test_missing_directory_fails_cleanly),
    };
    const struct CMUnitTest pg_only[] = {
        T(test_pg_missing_database_fails_cleanly),
        T(test_pg_failed_statement_fails_transaction),
        T(test_pg_reconnects),
    };
#undef T
    int failed =
        pg_base ? cmocka_run_group_tests_name("postgres", common, NULL, NULL)
                : cmocka_run_group_tests_name("sqlite", common, NULL, NULL);
    failed += pg_base ? cmocka_run_group_tests_name("postgres only", pg_only,
                                                    NULL, NULL)
                      : cmocka_run_group_tests_name("sqlite only", sqlite_only,
                                                    NULL, NULL);
    return failed ? 1 : 0;
}
