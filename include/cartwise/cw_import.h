/*
 * cw_import.h: parsers of store exports into records.
 *
 * Each format reads a cw_csv stream row by row and hands records to a sink;
 * nothing is held beyond the current row and a small per-order state, so
 * memory stays bounded whatever the file size. A malformed row fails with
 * CW_EPARSE and "FILE:LINE:COLUMN: what" in err, unless opts.skip_bad is set,
 * in which case it is counted in stats.skipped and the import goes on.
 * Whether the sink's writes become durable is the caller's business
 * (cw_app_import_file, `cartwise import`'s, wraps the whole run in one store
 * transaction and rolls back on error).
 */
#ifndef CW_IMPORT_H
#define CW_IMPORT_H

#include <stdint.h>

#include "cw_records.h"

struct cw_buf;
struct cw_csv;

/* X(enum suffix, "name", "description") */
#define CW_IMPORT_FORMATS(X)                                                   \
    X(CATALOG, "catalog", "generic catalog CSV (docs/import.md)")              \
    X(GMC, "gmc", "Google Merchant Center feed, TSV")                          \
    X(LINES, "lines", "normalized order lines (BENCHMARK.md)")                 \
    X(SHOPIFY_ORDERS, "shopify-orders", "Shopify order CSV export")            \
    X(SHOPIFY_PRODUCTS, "shopify-products", "Shopify product CSV export")      \
    X(UCI, "uci", "UCI Online Retail export")

enum cw_import_format {
#define CW__IMPORT_ENUM(e, name, desc) CW_IMPORT_##e,
    CW_IMPORT_FORMATS(CW__IMPORT_ENUM)
#undef CW__IMPORT_ENUM
        CW_IMPORT__COUNT
};

/* Returns the format named name, or -1. */
int cw_import_format_from_name(const char *name);
const char *cw_import_format_name(enum cw_import_format f);
const char *cw_import_format_desc(enum cw_import_format f);

/* Where parsed records go. Each callback returns 0 or a CW_E* code, which
 * stops the import and is returned. */
struct cw_import_sink {
    void *ctx;
    int (*product)(void *ctx, const struct cw_product_rec *p);
    int (*order)(void *ctx, const struct cw_order_rec *o);
    int (*line)(void *ctx, const struct cw_line_rec *l);
    int (*ret)(void *ctx, const struct cw_return_rec *r);
};

struct cw_import_opts {
    int skip_bad;         /* count and skip malformed rows */
    const char *currency; /* default currency, e.g. "GBP" */
    void (*progress)(void *ctx, uint64_t pos, uint64_t size); /* may be NULL */
    void *progress_ctx;
};

struct cw_import_stats {
    uint64_t rows;     /* data rows read */
    uint64_t products; /* product records emitted */
    uint64_t orders;   /* order records emitted */
    uint64_t lines;    /* order line records emitted */
    uint64_t returns;  /* return records emitted */
    uint64_t skipped;  /* malformed rows skipped (skip_bad) */
    uint64_t ignored;  /* rows deliberately not imported (non-product codes,
                          zero quantities, image-only rows) */
    uint64_t no_cost;  /* products/lines without a cost */
};

/* Runs the parser of format over csv (positioned before its header row).
 * Returns 0 or a CW_E* code with one line in err. */
int cw_import_run(enum cw_import_format format, struct cw_csv *csv,
                  const struct cw_import_opts *opts,
                  const struct cw_import_sink *sink,
                  struct cw_import_stats *stats, struct cw_buf *err);

#endif
