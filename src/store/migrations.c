/*
 * migrations.c: the SQLite schema, as numbered migrations (see migrations.h).
 *
 * Conventions of the schema: money columns are INTEGER minor units and NULL
 * where unknown (CW_MONEY_UNKNOWN in the records); integers with a "-1
 * unknown" marker in the records (inventory, tier level) are NULL too, so
 * that an upsert can COALESCE a new unknown with an old known value. Keys
 * are declared NOT NULL because SQLite otherwise allows NULL primary keys in
 * rowid tables. Order lines do not reference products: orders may be
 * imported before the catalog. Timestamps written by the store itself are
 * ISO-8601 UTC ("2024-01-31T12:00:00Z").
 *
 * To change the schema, append a migration; never edit one that shipped.
 */
#include <stdio.h>

#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "store/migrations.h"

static const struct cw__migration migrations[] = {
    {1, "initial schema",
     "CREATE TABLE products ("
     "  sku TEXT NOT NULL PRIMARY KEY,"
     "  grp TEXT,"
     "  title TEXT,"
     "  category TEXT,"
     "  currency TEXT,"
     "  attributes TEXT,"
     "  tier_group TEXT,"
     "  price INTEGER,"
     "  cost INTEGER,"
     "  inventory INTEGER,"
     "  flags INTEGER,"
     "  tier_level INTEGER,"
     "  pack_size INTEGER,"
     "  updated_at TEXT NOT NULL"
     ");"
     "CREATE INDEX products_grp ON products(grp);"

     "CREATE TABLE customers ("
     "  id TEXT NOT NULL PRIMARY KEY,"
     "  first_order_ts TEXT,"
     "  last_order_ts TEXT,"
     "  order_count INTEGER NOT NULL DEFAULT 0 CHECK (order_count >= 0)"
     ");"

     "CREATE TABLE orders ("
     "  id TEXT NOT NULL PRIMARY KEY,"
     "  customer_id TEXT,"
     "  ts TEXT NOT NULL,"
     "  currency TEXT,"
     "  shipping INTEGER,"
     "  discount INTEGER,"
     "  created_at TEXT NOT NULL"
     ");"
     /* UNIQUE (true since id is) lets the planner see that scan_lines'
      * ORDER BY ts, id, line_no needs no sort at all */
     "CREATE UNIQUE INDEX orders_ts ON orders(ts, id);"
     "CREATE INDEX orders_customer ON orders(customer_id, ts);"

     "CREATE TABLE order_lines ("
     "  order_id TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,"
     "  line_no INTEGER NOT NULL,"
     "  sku TEXT NOT NULL,"
     "  qty INTEGER NOT NULL CHECK (qty > 0),"
     "  unit_price INTEGER,"
     "  unit_cost INTEGER,"
     "  discount INTEGER,"
     "  PRIMARY KEY (order_id, line_no)"
     ") WITHOUT ROWID;"

     "CREATE TABLE returns ("
     "  id TEXT NOT NULL PRIMARY KEY,"
     "  order_id TEXT,"
     "  customer_id TEXT,"
     "  sku TEXT NOT NULL,"
     "  ts TEXT,"
     "  qty INTEGER NOT NULL CHECK (qty > 0),"
     "  amount INTEGER CHECK (amount >= 0)"
     ");"
     "CREATE INDEX returns_ts ON returns(ts, id);"
     "CREATE INDEX returns_order ON returns(order_id);"
     "CREATE INDEX returns_customer ON returns(customer_id, ts);"

     "CREATE TABLE events ("
     "  id TEXT NOT NULL PRIMARY KEY,"
     "  session_id TEXT NOT NULL,"
     "  customer_id TEXT,"
     "  ts TEXT NOT NULL,"
     "  type TEXT NOT NULL,"
     "  sku TEXT,"
     "  decision_id TEXT,"
     "  placement TEXT,"
     "  reason TEXT,"
     "  order_id TEXT,"
     "  value INTEGER,"
     "  profit INTEGER,"
     "  payload TEXT"
     ");"
     "CREATE UNIQUE INDEX events_ts ON events(ts, id);"
     "CREATE INDEX events_session ON events(session_id, ts);"
     "CREATE INDEX events_customer ON events(customer_id, ts);"
     "CREATE INDEX events_decision ON events(decision_id);"

     "CREATE TABLE decisions ("
     "  id TEXT NOT NULL PRIMARY KEY,"
     "  session_id TEXT,"
     "  customer_id TEXT,"
     "  experiment TEXT,"
     "  arm TEXT,"
     "  placement TEXT,"
     "  ts TEXT NOT NULL,"
     "  model_version INTEGER,"
     "  cart_value INTEGER,"
     "  shown TEXT,"
     "  request TEXT"
     ");"
     "CREATE UNIQUE INDEX decisions_ts ON decisions(ts, id);"
     "CREATE INDEX decisions_session ON decisions(session_id, ts);"
     "CREATE INDEX decisions_customer ON decisions(customer_id, ts);"

     /* API keys are stored hashed; a revoked key stays, to be recognized */
     "CREATE TABLE api_keys ("
     "  id TEXT NOT NULL PRIMARY KEY,"
     "  kind TEXT NOT NULL CHECK (kind IN ('public', 'secret')),"
     "  hash TEXT NOT NULL UNIQUE,"
     "  created_at TEXT NOT NULL,"
     "  origins TEXT,"
     "  revoked INTEGER NOT NULL DEFAULT 0"
     ");"

     "CREATE TABLE webhooks ("
     "  id TEXT NOT NULL PRIMARY KEY,"
     "  topic TEXT,"
     "  shop TEXT,"
     "  body TEXT,"
     "  received_at TEXT NOT NULL"
     ");"

     "CREATE TABLE model_versions ("
     "  version INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  path TEXT NOT NULL,"
     "  checksum TEXT NOT NULL,"
     "  created_at TEXT NOT NULL,"
     "  items INTEGER NOT NULL DEFAULT 0,"
     "  customers INTEGER NOT NULL DEFAULT 0,"
     "  baskets INTEGER NOT NULL DEFAULT 0"
     ");"

     "CREATE TABLE meta ("
     "  key TEXT NOT NULL PRIMARY KEY,"
     "  value TEXT NOT NULL"
     ") WITHOUT ROWID;"},
    /* the decision log is written at the serving rate and read only in
     * time order (reports): an index by session or customer cost a random
     * page write per decision and served no query */
    {2, "decision log: time-ordered index only",
     "DROP INDEX decisions_session;"
     "DROP INDEX decisions_customer;"},
    {3, "decision log: the incentives shown",
     "ALTER TABLE decisions ADD COLUMN incentives TEXT;"},
    /* Idempotency-Key (docs/api.md): the first answer to a (key, method,
     * path, idempotency key), replayed for a day; status NULL while the
     * first request runs */
    {4, "idempotency keys",
     "CREATE TABLE idempotency ("
     "  key_id TEXT NOT NULL,"
     "  idem_key TEXT NOT NULL,"
     "  method TEXT NOT NULL,"
     "  path TEXT NOT NULL,"
     "  request_hash TEXT NOT NULL,"
     "  status INTEGER,"
     "  content_type TEXT,"
     "  body TEXT,"
     "  created_at TEXT NOT NULL,"
     "  PRIMARY KEY (key_id, idem_key, method, path)"
     ") WITHOUT ROWID;"
     "CREATE INDEX idempotency_created ON idempotency(created_at);"},
};

#define NMIGRATIONS (sizeof(migrations) / sizeof(*migrations))

const struct cw__migration *cw__migration_table(size_t *n)
{
    *n = NMIGRATIONS;
    return migrations;
}

int cw__migration_latest(void)
{
    return migrations[NMIGRATIONS - 1].version;
}

static int read_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int cw__migration_too_new(struct cw_buf *err, int version)
{
    return cw_err(err, CW_ECORRUPT,
                  "database schema version %d is newer than this cartwise "
                  "(%d)",
                  version, cw__migration_latest());
}

int cw__migration_check(sqlite3 *db, const char *path, int *version,
                        struct cw_buf *err)
{
    int rc = read_version(db, version);
    if (rc != SQLITE_OK)
        return cw_err(err, rc == SQLITE_BUSY ? CW_EBUSY : CW_ESTORE,
                      "cannot read database '%s': %s", path,
                      sqlite3_errmsg(db));
    if (*version > cw__migration_latest())
        return cw__migration_too_new(err, *version);
    return 0;
}

static int record(sqlite3 *db, const struct cw__migration *m)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db,
        "INSERT INTO schema_migrations(version, name, applied_at) "
        "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int(st, 1, m->version);
    sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return rc;
    char pragma[64];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
    return sqlite3_exec(db, pragma, NULL, NULL, NULL);
}

/* Applies m unless another connection got there first. */
static int apply_one(sqlite3 *db, const struct cw__migration *m,
                     struct cw_buf *err)
{
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return cw_err(err, rc == SQLITE_BUSY ? CW_EBUSY : CW_ESTORE,
                      "migration %d (%s): %s", m->version, m->name,
                      sqlite3_errmsg(db));
    int version = 0;
    rc = read_version(db, &version);
    if (rc == SQLITE_OK && version > cw__migration_latest()) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return cw__migration_too_new(err, version);
    }
    if (rc == SQLITE_OK && version < m->version) {
        rc = sqlite3_exec(db,
                          "CREATE TABLE IF NOT EXISTS schema_migrations ("
                          "  version INTEGER NOT NULL PRIMARY KEY,"
                          "  name TEXT NOT NULL,"
                          "  applied_at TEXT NOT NULL"
                          ")",
                          NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(db, m->sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = record(db, m);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int code = cw_err(err, rc == SQLITE_BUSY ? CW_EBUSY : CW_ESTORE,
                          "migration %d (%s): %s", m->version, m->name,
                          sqlite3_errmsg(db));
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return code;
    }
    return 0;
}

int cw__migration_apply(sqlite3 *db, const char *path, struct cw_buf *err)
{
    int version = 0;
    int rc = cw__migration_check(db, path, &version, err);
    for (size_t i = 0; !rc && i < NMIGRATIONS; i++)
        if (migrations[i].version > version)
            rc = apply_one(db, &migrations[i], err);
    return rc;
}
