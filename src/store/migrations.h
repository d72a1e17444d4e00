/*
 * migrations.h: the numbered schema migrations of the stores.
 *
 * The schema is never edited in place: each change is a new row in one
 * static table of {version, name, sql}, applied in order, each in its own
 * transaction, and recorded in schema_migrations. PRAGMA user_version is kept
 * equal to the newest applied version so that a cartwise opening a database
 * written by a newer cartwise can refuse it before touching anything.
 */
#ifndef CW_STORE_MIGRATIONS_H
#define CW_STORE_MIGRATIONS_H

#include <sqlite3.h>
#include <stddef.h>

struct cw_buf;

struct cw__migration {
    int version;      /* 1, 2, ... with no gaps */
    const char *name; /* short, lowercase: "initial schema" */
    const char *sql;  /* one or more statements */
};

/* Returns the static migration table (ascending versions); *n its length. */
const struct cw__migration *cw__migration_table(size_t *n);
/* Returns PostgreSQL's table (migrations_pg.c): the same versions and
 * names as cw__migration_table, in PostgreSQL's SQL; store_pg.c applies it. */
const struct cw__migration *cw__migration_pg_table(size_t *n);
/* Returns the newest version this build knows (both tables). */
int cw__migration_latest(void);

/* Fails with CW_ECORRUPT: "database schema version VERSION is newer than
 * this cartwise (LATEST)", the refusal both stores give. */
int cw__migration_too_new(struct cw_buf *err, int version);
/* Reads the schema version of db into *version. Fails with CW_ESTORE when
 * db cannot be read (for example it is not a database: path names it in the
 * message) and CW_ECORRUPT when the version is newer than this build. */
int cw__migration_check(sqlite3 *db, const char *path, int *version,
                        struct cw_buf *err);
/* Applies every migration newer than the database, each in one IMMEDIATE
 * transaction (re-checked inside it, so two processes opening a new database
 * at once apply each migration once). Returns 0 or a CW_E* code. */
int cw__migration_apply(sqlite3 *db, const char *path, struct cw_buf *err);

#endif
