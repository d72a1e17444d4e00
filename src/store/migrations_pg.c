/*
 * migrations_pg.c: the PostgreSQL schema, as numbered migrations.
 *
 * The same versions, names and history as the SQLite table in
 * migrations.c, in PostgreSQL's SQL, so that a version number means the same
 * tables, columns and constraints in both stores. What differs is only what
 * the two databases spell differently:
 *
 * - INTEGER is BIGINT: SQLite's integers are 64-bit, and money, counts and
 *   versions must not be narrowed.
 * - Columns that scans order by (keys, timestamps) are COLLATE "C", so that
 *   rows come back in the byte order SQLite's BINARY collation gives,
 *   whatever the database's locale.
 * - SQLite's implicit rowid, which the key listing orders by, is an explicit
 *   identity column api_keys.seq; the model registry's AUTOINCREMENT is an
 *   identity column too (a sequence: versions are never reused).
 *
 * The table is applied by store_pg.c, all pending migrations in one
 * transaction under an advisory lock (PostgreSQL's DDL is transactional), and
 * recorded in schema_migrations, whose newest version plays the part of
 * SQLite's PRAGMA user_version. To change the schema, append a migration
 * here and in migrations.c with the same version and name.
 */
#include <stddef.h>

#include "store/migrations.h"

static const struct cw__migration migrations[] = {
    {1, "initial schema",
     "CREATE TABLE products ("
     "  sku TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
     "  grp TEXT,"
     "  title TEXT,"
     "  category TEXT,"
     "  currency TEXT,"
     "  attributes TEXT,"
     "  tier_group TEXT,"
     "  price BIGINT,"
     "  cost BIGINT,"
     "  inventory BIGINT,"
     "  flags BIGINT,"
     "  tier_level BIGINT,"
     "  pack_size BIGINT,"
     "  updated_at TEXT NOT NULL"
     ");"
     "CREATE INDEX products_grp ON products(grp);"

     "CREATE TABLE customers ("
     "  id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
     "  first_order_ts TEXT COLLATE \"C\","
     "  last_order_ts TEXT COLLATE \"C\","
     "  order_count BIGINT NOT NULL DEFAULT 0 CHECK (order_count >= 0)"
     ");"

     "CREATE TABLE orders ("
     "  id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
     "  customer_id TEXT COLLATE \"C\","
     "  ts TEXT COLLATE \"C\" NOT NULL,"
     "  currency TEXT,"
     "  shipping BIGINT,"
     "  discount BIGINT,"
     "  created_at TEXT NOT NULL"
     ");"
     "CREATE UNIQUE INDEX orders_ts ON orders(ts, id);"
     "CREATE INDEX orders_customer ON orders(customer_id, ts);"

     "CREATE TABLE order_lines ("
     "  order_id TEXT COLLATE \"C\" NOT NULL"
     "    REFERENCES orders(id) ON DELETE CASCADE,"
     "  line_no BIGINT NOT NULL,"
     "  sku TEXT NOT NULL,"
     "  qty BIGINT NOT NULL CHECK (qty > 0),"
     "  unit_price BIGINT,"
     "  unit_cost BIGINT,"
     "  discount BIGINT,"
     "  PRIMARY KEY (order_id, line_no)"
     ");"

     "CREATE TABLE returns ("
     "  id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
     "  order_id TEXT,"
     "  customer_id TEXT COLLATE \"C\","
     "  sku TEXT NOT NULL,"
     "  ts TEXT COLLATE \"C\","
     "  qty BIGINT NOT NULL CHECK (qty > 0),"
     "  amount BIGINT CHECK (amount >= 0)"
     ");"
     "CREATE INDEX returns_ts ON returns(ts, id);"
     "CREATE INDEX returns_order ON returns(order_id);"
     "CREATE INDEX returns_customer ON returns(customer_id, ts);"

     "CREATE TABLE events ("
     "  id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
     "  session_id TEXT COLLATE \"C\" NOT NULL,"
     "  customer_id TEXT COLLATE \"C\","
     "  ts TEXT COLLATE \"C\" NOT NULL,"
     "  type TEXT NOT NULL,"
     "  sku TEXT,"
     "  decision_id TEXT,"
     "  placement TEXT,"
     "  reason TEXT,"
     "  order_id TEXT,"
     "  value BIGINT,"
     "  profit BIGINT,"
     "  payload TEXT"
     ");"
     "CREATE UNIQUE INDEX events_ts ON events(ts, id);"
     "CREATE INDEX events_session ON events(session_id, ts);"
     "CREATE INDEX events_customer ON events(customer_id, ts);"
     "CREATE INDEX events_decision ON events(decision_id);"

     "CREATE TABLE decisions ("
     "  id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
     "  session_id TEXT COLLATE \"C\","
     "  customer_id TEXT COLLATE \"C\","
     "  experiment TEXT,"
     "  arm TEXT,"
     "  placement TEXT,"
     "  ts TEXT COLLATE \"C\" NOT NULL,"
     "  model_version BIGINT,"
     "  cart_value BIGINT,"
     "  shown TEXT,"
     "  request TEXT"
     ");"
     "CREATE UNIQUE INDEX decisions_ts ON decisions(ts, id);"
     "CREATE INDEX decisions_session ON decisions(session_id, ts);"
     "CREATE INDEX decisions_customer ON decisions(customer_id, ts);"

     "CREATE TABLE api_keys ("
     "  id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
     "  kind TEXT NOT NULL CHECK (kind IN ('public', 'secret')),"
     "  hash TEXT NOT NULL UNIQUE,"
     "  created_at TEXT COLLATE \"C\" NOT NULL,"
     "  origins TEXT,"
     "  revoked BIGINT NOT NULL DEFAULT 0,"
     "  seq BIGINT GENERATED ALWAYS AS IDENTITY"
     ");"

     "CREATE TABLE webhooks ("
     "  id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
     "  topic TEXT,"
     "  shop TEXT,"
     "  body TEXT,"
     "  received_at TEXT NOT NULL"
     ");"

     "CREATE TABLE model_versions ("
     "  version BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
     "  path TEXT NOT NULL,"
     "  checksum TEXT NOT NULL,"
     "  created_at TEXT NOT NULL,"
     "  items BIGINT NOT NULL DEFAULT 0,"
     "  customers BIGINT NOT NULL DEFAULT 0,"
     "  baskets BIGINT NOT NULL DEFAULT 0"
     ");"

     "CREATE TABLE meta ("
     "  key TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
     "  value TEXT NOT NULL"
     ");"},
    {2, "decision log: time-ordered index only",
     "DROP INDEX decisions_session;"
     "DROP INDEX decisions_customer;"},
    {3, "decision log: the incentives shown",
     "ALTER TABLE decisions ADD COLUMN incentives TEXT;"},
    {4, "idempotency keys",
     "CREATE TABLE idempotency ("
     "  key_id TEXT COLLATE \"C\" NOT NULL,"
     "  idem_key TEXT COLLATE \"C\" NOT NULL,"
     "  method TEXT COLLATE \"C\" NOT NULL,"
     "  path TEXT COLLATE \"C\" NOT NULL,"
     "  request_hash TEXT NOT NULL,"
     "  status BIGINT,"
     "  content_type TEXT,"
     "  body TEXT,"
     "  created_at TEXT COLLATE \"C\" NOT NULL,"
     "  PRIMARY KEY (key_id, idem_key, method, path)"
     ");"
     "CREATE INDEX idempotency_created ON idempotency(created_at);"},
};

const struct cw__migration *cw__migration_pg_table(size_t *n)
{
    *n = sizeof(migrations) / sizeof(*migrations);
    return migrations;
}
