/*
 * import.c: the format table, the import run, and the value checks every
 * format shares (see cw_import.h and import_int.h).
 *
 * A run maps the header row to the format's columns by name (never by
 * position; unknown columns are ignored), then reads data rows one at a time.
 * For each row the mapped fields are copied, trimmed of surrounding blanks,
 * into im->v so that formats never touch the reader; the format's row
 * function checks them and emits records. Reader errors (unterminated quote,
 * oversized row, damaged gzip) end the run even with skip_bad: after a lost
 * quote no row boundary can be trusted. Rows whose fields are all empty
 * (",,,," lines that spreadsheets leave behind) are passed over like blank
 * lines and not counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_csv.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_import.h"
#include "cartwise/cw_money.h"
#include "import/import_int.h"

static const struct {
    const char *name;
    const char *desc;
} names[CW_IMPORT__COUNT] = {
#define CW__IMPORT_NAME(e, n, d) [CW_IMPORT_##e] = {n, d},
    CW_IMPORT_FORMATS(CW__IMPORT_NAME)
#undef CW__IMPORT_NAME
};

static const struct cw__fmt *const formats[CW_IMPORT__COUNT] = {
    [CW_IMPORT_CATALOG] = &cw__fmt_catalog,
    [CW_IMPORT_GMC] = &cw__fmt_gmc,
    [CW_IMPORT_LINES] = &cw__fmt_lines,
    [CW_IMPORT_SHOPIFY_ORDERS] = &cw__fmt_shopify_orders,
    [CW_IMPORT_SHOPIFY_PRODUCTS] = &cw__fmt_shopify_products,
    [CW_IMPORT_UCI] = &cw__fmt_uci,
};

int cw_import_format_from_name(const char *name)
{
    for (int i = 0; name && i < CW_IMPORT__COUNT; i++)
        if (!strcmp(names[i].name, name))
            return i;
    return -1;
}

const char *cw_import_format_name(enum cw_import_format f)
{
    return (unsigned)f < CW_IMPORT__COUNT ? names[f].name : "?";
}

const char *cw_import_format_desc(enum cw_import_format f)
{
    return (unsigned)f < CW_IMPORT__COUNT ? names[f].desc : "?";
}

/* ---- value checks ---------------------------------------------------- */

/* Appends value to err as it should appear in a one-line message: control
 * characters shown as '?', long values cut. */
static void add_value(struct cw_buf *err, const char *s)
{
    size_t n = strlen(s), shown = n > 60 ? 57 : n;
    cw_buf_adds(err, " (value '");
    for (size_t i = 0; i < shown; i++)
        cw_buf_addch(err, (unsigned char)s[i] < 0x20 ? '?' : s[i]);
    cw_buf_adds(err, shown < n ? "...')" : "')");
}

int cw__imp_badv(struct cw__imp *im, int col, const char *what,
                 const char *value)
{
    if (im->opts->skip_bad) {
        im->stats->skipped++;
        if (im->reported || !im->err)
            return CW__SKIP;
        im->reported = 1;
    }
    if (im->err) {
        long line = cw_csv_line(im->csv);
        if (col >= 0 && im->idx[col] >= 0)
            cw_err(im->err, 0, "%s:%ld:%ld: %s", im->name, line,
                   im->idx[col] + 1, what);
        else
            cw_err(im->err, 0, "%s:%ld: %s", im->name, line, what);
        size_t max = im->err->max;
        im->err->max = 0;
        if (value && *value)
            add_value(im->err, value);
        im->err->max = max;
    }
    return im->opts->skip_bad ? CW__SKIP : CW_EPARSE;
}

int cw__imp_bad(struct cw__imp *im, int col, const char *what)
{
    return cw__imp_badv(im, col, what, im->v[col]);
}

static int badf(struct cw__imp *im, int col, const char *fmt, const char *what)
{
    char msg[96];
    snprintf(msg, sizeof(msg), fmt, what);
    return cw__imp_bad(im, col, msg);
}

int cw__imp_money(struct cw__imp *im, int col, const char *what, int exp,
                  int required, int64_t *out)
{
    const char *s = im->v[col];
    *out = CW_MONEY_UNKNOWN;
    if (!*s)
        return required ? badf(im, col, "missing %s", what) : 0;
    int64_t v;
    int rc = cw_money_parse(s, im->vlen[col], exp, &v);
    if (rc == CW_ETOOBIG)
        return badf(im, col, "%s out of range", what);
    if (rc)
        return badf(im, col, "bad %s", what);
    if (v < 0)
        return badf(im, col, "negative %s", what);
    *out = v;
    return 0;
}

static int is_upper3(const char *s, size_t n)
{
    if (n != 3)
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
    return 1;
}

int cw__imp_money_cur(struct cw__imp *im, int col, const char *what,
                      int required, int64_t *out, char cur[4])
{
    const char *s = im->v[col];
    *out = CW_MONEY_UNKNOWN;
    cur[0] = '\0';
    if (!*s)
        return required ? badf(im, col, "missing %s", what) : 0;
    const char *sp = strrchr(s, ' ');
    if (!sp || !is_upper3(sp + 1, strlen(sp + 1)))
        return badf(im, col, "bad %s, want '15.00 USD'", what);
    memcpy(cur, sp + 1, 4);
    int64_t v;
    int rc = cw_money_parse(s, (size_t)(sp - s), cw_currency_exponent(cur), &v);
    if (rc == CW_ETOOBIG)
        return badf(im, col, "%s out of range", what);
    if (rc)
        return badf(im, col, "bad %s, want '15.00 USD'", what);
    if (v < 0)
        return badf(im, col, "negative %s", what);
    *out = v;
    return 0;
}

int cw__imp_int(struct cw__imp *im, int col, const char *what, int64_t *out)
{
    const char *s = im->v[col];
    if (!*s)
        return badf(im, col, "missing %s", what);
    int neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return badf(im, col, "bad %s", what);
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return badf(im, col, "bad %s", what);
        if (v > (INT64_MAX - 9) / 10)
            return badf(im, col, "%s out of range", what);
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

int cw__imp_currency(struct cw__imp *im, int col, char cur[4])
{
    const char *s = im->v[col];
    if (!*s) {
        snprintf(cur, 4, "%s", im->currency);
        return 0;
    }
    if (im->vlen[col] != 3)
        return cw__imp_bad(im, col, "bad currency code");
    for (int i = 0; i < 3; i++) {
        char ch = s[i];
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (ch < 'A' || ch > 'Z')
            return cw__imp_bad(im, col, "bad currency code");
        cur[i] = ch;
    }
    cur[3] = '\0';
    return 0;
}

/* Reads 1..max digits at *s into *out, advancing *s. */
static int digits(const char **s, int min, int max, int *out)
{
    int n = 0, v = 0;
    while (n < max && **s >= '0' && **s <= '9') {
        v = v * 10 + (**s - '0');
        (*s)++;
        n++;
    }
    *out = v;
    return n >= min;
}

static int lit(const char **s, char c)
{
    if (**s != c)
        return 0;
    (*s)++;
    return 1;
}

static int parse_ts(const char *s, int us_form, char ts[20])
{
    int y, mo, d, h, mi, sec = 0;
    const char *p = s;
    if (digits(&p, 4, 4, &y) && lit(&p, '-')) {
        if (!digits(&p, 2, 2, &mo) || !lit(&p, '-') || !digits(&p, 2, 2, &d))
            return 0;
        if (!lit(&p, ' ') && !lit(&p, 'T'))
            return 0;
        if (!digits(&p, 2, 2, &h) || !lit(&p, ':') || !digits(&p, 2, 2, &mi))
            return 0;
        if (lit(&p, ':') && !digits(&p, 2, 2, &sec))
            return 0;
        if (*p == '.') /* fractional seconds: dropped */
            for (p++; *p >= '0' && *p <= '9'; p++)
                ;
        /* a zone suffix (" +0100", "+01:00", "Z", " UTC") is dropped: the
         * shop's local time is kept */
        if (*p && *p != ' ' && *p != '+' && *p != '-' && *p != 'Z')
            return 0;
    } else if (us_form) {
        p = s;
        if (!digits(&p, 1, 2, &mo) || !lit(&p, '/') || !digits(&p, 1, 2, &d) ||
            !lit(&p, '/') || !digits(&p, 4, 4, &y) || !lit(&p, ' ') ||
            !digits(&p, 1, 2, &h) || !lit(&p, ':') || !digits(&p, 2, 2, &mi))
            return 0;
        if (lit(&p, ':') && !digits(&p, 2, 2, &sec))
            return 0;
        if (*p)
            return 0;
    } else {
        return 0;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return 0;
    char out[64]; /* every field is within range: 19 bytes used */
    snprintf(out, sizeof(out), "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi,
             sec);
    memcpy(ts, out, 20);
    return 1;
}

int cw__imp_ts(struct cw__imp *im, int col, int us_form, char ts[20])
{
    if (!*im->v[col])
        return cw__imp_bad(im, col, "missing date");
    if (!parse_ts(im->v[col], us_form, ts))
        return cw__imp_bad(im, col, "bad date");
    return 0;
}

const char *cw__imp_opt(const char *s)
{
    return s && *s ? s : NULL;
}

int cw__imp_first(struct cw_intern *set, const char *key)
{
    int added;
    cw_intern_add(set, key, strlen(key), &added);
    return added;
}

/* ---- records ----------------------------------------------------------- */

static int sink_failed(struct cw__imp *im, int rc, const char *what,
                       const char *id)
{
    return cw_err(im->err, rc, "%s:%ld: cannot store %s '%s': %s", im->name,
                  cw_csv_line(im->csv), what, id ? id : "", cw_strerror(rc));
}

void cw__imp_product_init(struct cw_product_rec *p, const char *sku,
                          const char *currency)
{
    memset(p, 0, sizeof(*p));
    p->sku = sku;
    p->currency = currency;
    p->price = CW_MONEY_UNKNOWN;
    p->cost = CW_MONEY_UNKNOWN;
    p->inventory = -1;
    p->pack_size = 1;
}

int cw__imp_product(struct cw__imp *im, const struct cw_product_rec *p)
{
    int rc = im->sink->product ? im->sink->product(im->sink->ctx, p) : 0;
    if (rc)
        return sink_failed(im, rc, "product", p->sku);
    im->stats->products++;
    if (p->cost == CW_MONEY_UNKNOWN)
        im->stats->no_cost++;
    return 0;
}

int cw__imp_order(struct cw__imp *im, const struct cw_order_rec *o)
{
    int rc = im->sink->order ? im->sink->order(im->sink->ctx, o) : 0;
    if (rc)
        return sink_failed(im, rc, "order", o->id);
    im->stats->orders++;
    return 0;
}

int cw__imp_line(struct cw__imp *im, const struct cw_line_rec *l)
{
    int rc = im->sink->line ? im->sink->line(im->sink->ctx, l) : 0;
    if (rc)
        return sink_failed(im, rc, "line of order", l->order_id);
    im->stats->lines++;
    if (l->unit_cost == CW_MONEY_UNKNOWN)
        im->stats->no_cost++;
    return 0;
}

int cw__imp_return(struct cw__imp *im, const struct cw_return_rec *r)
{
    int rc = im->sink->ret ? im->sink->ret(im->sink->ctx, r) : 0;
    if (rc)
        return sink_failed(im, rc, "return", r->id);
    im->stats->returns++;
    return 0;
}

/* ---- the run ------------------------------------------------------------ */

/* A reader error as "FILE:LINE: what": the reader says "line N: what". */
static int reader_failed(struct cw__imp *im, int rc)
{
    if (!im->err)
        return rc;
    const char *msg = cw_buf_str(im->err);
    long line = cw_csv_line(im->csv);
    if (!strncmp(msg, "line ", 5)) {
        char *end;
        line = strtol(msg + 5, &end, 10);
        if (end[0] == ':' && end[1] == ' ')
            msg = end + 2;
    }
    char *copy = cw_strdup(msg);
    cw_err(im->err, rc, "%s:%ld: %s", im->name, line, copy);
    cw_free(copy);
    return rc;
}

/* A one-field header with tabs in it: a TSV file read as CSV. */
static int looks_tsv(const struct cw_csv *c)
{
    return cw_csv_nfields(c) == 1 && strchr(cw_csv_field(c, 0, NULL), '\t');
}

static int map_header(struct cw__imp *im)
{
    const struct cw__fmt *f = im->fmt;
    int rc = cw_csv_next(im->csv, im->err);
    if (rc < 0)
        return reader_failed(im, rc);
    if (rc == 0)
        return cw_err(im->err, CW_EPARSE, "%s:1: empty file, no header row",
                      im->name);
    for (size_t i = 0; i < f->ncols; i++) {
        const struct cw__col *col = &f->cols[i];
        im->idx[i] = cw_csv_col(im->csv, col->name);
        if (im->idx[i] < 0 && col->alias)
            im->idx[i] = cw_csv_col(im->csv, col->alias);
        if (im->idx[i] < 0 && col->required)
            return cw_err(im->err, CW_EPARSE, "%s:%ld: missing column '%s'%s",
                          im->name, cw_csv_line(im->csv), col->name,
                          looks_tsv(im->csv) ? " (the header has tabs: read "
                                               "the file as tsv)"
                                             : "");
    }
    return 0;
}

/* Copies the mapped fields of the current row into im->v. Returns 0 when
 * every field of the row is empty. */
static int load_row(struct cw__imp *im)
{
    size_t nf = cw_csv_nfields(im->csv), off[CW__IMP_MAXCOLS];
    int any = 0;
    for (size_t i = 0; i < nf && !any; i++) {
        size_t n;
        const char *s = cw_csv_field(im->csv, i, &n);
        for (size_t k = 0; k < n && !any; k++)
            any = s[k] != ' ' && s[k] != '\t';
    }
    if (!any)
        return 0;
    cw_buf_reset(&im->vals);
    for (size_t i = 0; i < im->fmt->ncols; i++) {
        size_t n = 0;
        const char *s = "";
        if (im->idx[i] >= 0)
            s = cw_csv_field(im->csv, (size_t)im->idx[i], &n);
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                     s[n - 1] == '\n'))
            n--;
        off[i] = im->vals.len;
        im->vlen[i] = n;
        cw_buf_add(&im->vals, s, n);
        cw_buf_addch(&im->vals, '\0');
    }
    for (size_t i = 0; i < im->fmt->ncols; i++)
        im->v[i] = im->vals.buf + off[i];
    return 1;
}

static void progress(struct cw__imp *im)
{
    if (im->opts->progress)
        im->opts->progress(im->opts->progress_ctx, cw_csv_pos(im->csv),
                           cw_csv_size(im->csv));
}

static int run(struct cw__imp *im)
{
    int rc = map_header(im);
    if (rc)
        return rc;
    while ((rc = cw_csv_next(im->csv, im->err)) == 1) {
        if (!load_row(im))
            continue;
        im->row++;
        im->stats->rows++;
        if (im->row % CW__IMP_PROGRESS == 0)
            progress(im);
        rc = im->fmt->row(im);
        if (rc < 0)
            return rc;
    }
    if (rc < 0)
        return reader_failed(im, rc);
    progress(im);
    return 0;
}

int cw_import_run(enum cw_import_format format, struct cw_csv *csv,
                  const struct cw_import_opts *opts,
                  const struct cw_import_sink *sink,
                  struct cw_import_stats *stats, struct cw_buf *err)
{
    static const struct cw_import_opts no_opts;
    static const struct cw_import_sink no_sink;
    struct cw_import_stats local;
    if ((unsigned)format >= CW_IMPORT__COUNT || !csv)
        return cw_err(err, CW_EINVAL, "bad import format or input");
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof(*stats));

    struct cw__imp im = {0};
    im.csv = csv;
    im.fmt = formats[format];
    im.opts = opts ? opts : &no_opts;
    im.sink = sink ? sink : &no_sink;
    im.stats = stats;
    im.err = err;
    im.name = cw_csv_name(csv);
    /* the default currency, upper-cased: "gbp" is GBP */
    char cur[4];
    const char *want = im.opts->currency;
    if (want && strlen(want) == 3) {
        for (int i = 0; i < 4; i++)
            cur[i] = want[i] >= 'a' && want[i] <= 'z'
                         ? (char)(want[i] - 'a' + 'A')
                         : want[i];
        want = cur;
    }
    im.currency =
        want && *want && !im.fmt->fixed_currency ? want : im.fmt->currency;
    im.exp = cw_currency_exponent(im.currency);
    cw_buf_init(&im.vals, 0);
    cw_buf_init(&im.tmp, 0);
    cw_intern_init(&im.orders);
    cw_intern_init(&im.skus);
    if (im.fmt->state_size)
        im.st = cw_calloc(1, im.fmt->state_size);

    int rc = run(&im);

    if (im.fmt->release)
        im.fmt->release(&im);
    cw_free(im.st);
    cw_intern_release(&im.skus);
    cw_intern_release(&im.orders);
    cw_buf_release(&im.vals);
    cw_buf_release(&im.tmp);
    return rc < 0 ? rc : 0;
}
