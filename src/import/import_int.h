/*
 * import_int.h: what the format parsers of src/import/ share.
 *
 * import.c owns the run: it maps the header to each format's column table,
 * reads the rows, copies the mapped fields of each row (trimmed) into
 * cw__imp.v, and calls the format's row function. The helpers below check
 * values and report bad ones in the one format "FILE:LINE:COL: what (value
 * 'x')"; they return 0 when the value is good, CW__SKIP when the row is to be
 * skipped (opts.skip_bad; already counted) or a negative CW_E* code. A row
 * function returns the same three kinds of result, so `if (rc) return rc;`
 * is all a caller ever writes.
 */
#ifndef CW_IMPORT_INT_H
#define CW_IMPORT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cartwise/cw_buf.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_import.h"

#define CW__SKIP 1            /* row skipped, import goes on */
#define CW__IMP_MAXCOLS 24    /* most columns a format maps */
#define CW__IMP_PROGRESS 4096 /* rows between progress calls */

/* One column a format reads: header name, an accepted alias (or NULL), and
 * whether a file without it is refused. */
struct cw__col {
    const char *name;
    const char *alias;
    int required;
};

struct cw__imp;

struct cw__fmt {
    const struct cw__col *cols;
    size_t ncols;
    const char *currency; /* currency when opts.currency is NULL */
    int fixed_currency;   /* the data is always in currency: opts ignored */
    size_t state_size;    /* bytes of format state, zeroed, in im->st */
    int (*row)(struct cw__imp *im);
    void (*release)(struct cw__imp *im); /* may be NULL */
};

extern const struct cw__fmt cw__fmt_catalog;
extern const struct cw__fmt cw__fmt_gmc;
extern const struct cw__fmt cw__fmt_lines;
extern const struct cw__fmt cw__fmt_shopify_orders;
extern const struct cw__fmt cw__fmt_shopify_products;
extern const struct cw__fmt cw__fmt_uci;

struct cw__imp {
    struct cw_csv *csv;
    const struct cw__fmt *fmt;
    const struct cw_import_opts *opts;
    const struct cw_import_sink *sink;
    struct cw_import_stats *stats;
    struct cw_buf *err;
    const char *name;          /* file name for messages */
    const char *currency;      /* default currency of this run */
    int exp;                   /* its minor-unit exponent */
    long row;                  /* 1-based data row number (header excluded) */
    long idx[CW__IMP_MAXCOLS]; /* file column of cols[i], -1: absent */
    const char *v[CW__IMP_MAXCOLS]; /* value of cols[i] in this row, trimmed,
                                       "" when absent */
    size_t vlen[CW__IMP_MAXCOLS];
    struct cw_buf vals;      /* storage behind v */
    struct cw_buf tmp;       /* formats' scratch (return ids, attributes) */
    struct cw_intern orders; /* order ids emitted by this run */
    struct cw_intern skus;   /* skus emitted by this run */
    int reported;            /* a skipped row's message is in err */
    void *st;                /* format state */
};

/* "FILE:LINE:COL: what (value 'x')" for cols[col] of this row (col -1: no
 * column). Returns CW__SKIP with skip_bad, else CW_EPARSE. */
int cw__imp_bad(struct cw__imp *im, int col, const char *what);
/* Same with a value other than the field's own text. */
int cw__imp_badv(struct cw__imp *im, int col, const char *what,
                 const char *value);

/* Decimal money of cols[col] in minor units of exponent exp. Empty: error
 * "missing <what>" if required, else CW_MONEY_UNKNOWN. Negative: error. */
int cw__imp_money(struct cw__imp *im, int col, const char *what, int exp,
                  int required, int64_t *out);
/* Parses "15.00 USD" (GMC): amount and currency. Empty: CW_MONEY_UNKNOWN
 * and cur "" if not required. */
int cw__imp_money_cur(struct cw__imp *im, int col, const char *what,
                      int required, int64_t *out, char cur[4]);
/* Integer of cols[col] (sign allowed). Empty is "missing <what>". */
int cw__imp_int(struct cw__imp *im, int col, const char *what, int64_t *out);
/* ISO-4217 code of cols[col] upper-cased into cur; empty: the run's
 * default. */
int cw__imp_currency(struct cw__imp *im, int col, char cur[4]);
/* Timestamp of cols[col] as "YYYY-MM-DD HH:MM:SS" in ts. Accepts that form,
 * "YYYY-MM-DD HH:MM", a 'T' separator, any zone suffix (dropped: local time
 * kept) and, with us_form, "M/D/YYYY H:MM[:SS]". */
int cw__imp_ts(struct cw__imp *im, int col, int us_form, char ts[20]);

/* NULL for "", else s. */
const char *cw__imp_opt(const char *s);
/* 1 the first time key is seen by set, else 0. */
int cw__imp_first(struct cw_intern *set, const char *key);

/* Hand a record to the sink and count it. */
int cw__imp_product(struct cw__imp *im, const struct cw_product_rec *p);
int cw__imp_order(struct cw__imp *im, const struct cw_order_rec *o);
int cw__imp_line(struct cw__imp *im, const struct cw_line_rec *l);
int cw__imp_return(struct cw__imp *im, const struct cw_return_rec *r);
/* A product record with only sku, price, cost and currency known. */
void cw__imp_product_init(struct cw_product_rec *p, const char *sku,
                          const char *currency);

#endif
