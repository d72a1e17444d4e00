/*
 * cmd_import.c: `cartwise import`, a store export into the store.
 *
 * The whole file is one store transaction: the parser (cw_import.h) hands
 * records to a sink that writes them with the store's put_* and counts which
 * ones were new, and any error rolls everything back, so a failed import
 * leaves the store exactly as it was and a repeated one adds nothing. The
 * progress bar goes to stderr and only to a terminal, so pipes and logs stay
 * clean.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_csv.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_import.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"

struct sink_state {
    struct cw_store *store;
    struct cw_buf err; /* the store's message when a put fails */
    int failed;        /* a put failed: err says why */
    uint64_t new_products, new_orders, new_lines, new_returns;
    uint64_t products_no_cost;
    char currency[4]; /* first currency the records carried, "" if none */
};

static void note_currency(struct sink_state *st, const char *cur)
{
    if (!st->currency[0] && cur && cw_cli_valid_currency(cur))
        memcpy(st->currency, cur, 4);
}

/* put_* return 1 added, 0 already present, < 0 an error. */
static int count(struct sink_state *st, int rc, uint64_t *added)
{
    if (rc < 0) {
        st->failed = 1;
        if (!st->err.len)
            cw_err(&st->err, rc, "%s", cw_strerror(rc));
        return rc;
    }
    *added += rc > 0;
    return 0;
}

static int sink_product(void *ctx, const struct cw_product_rec *p)
{
    struct sink_state *st = ctx;
    st->products_no_cost += p->cost == CW_MONEY_UNKNOWN;
    note_currency(st, p->currency);
    return count(st, st->store->ops->put_product(st->store, p, &st->err),
                 &st->new_products);
}

static int sink_order(void *ctx, const struct cw_order_rec *o)
{
    struct sink_state *st = ctx;
    note_currency(st, o->currency);
    return count(st, st->store->ops->put_order(st->store, o, &st->err),
                 &st->new_orders);
}

static int sink_line(void *ctx, const struct cw_line_rec *l)
{
    struct sink_state *st = ctx;
    return count(st, st->store->ops->put_line(st->store, l, &st->err),
                 &st->new_lines);
}

static int sink_return(void *ctx, const struct cw_return_rec *r)
{
    struct sink_state *st = ctx;
    return count(st, st->store->ops->put_return(st->store, r, &st->err),
                 &st->new_returns);
}

struct progress {
    const char *name;
    double last; /* when the bar was last drawn */
    int drawn;   /* something is on the line that must be cleared */
};

static void progress_cb(void *ctx, uint64_t pos, uint64_t size)
{
    struct progress *pr = ctx;
    double now = cw_cli_now();
    if (pr->drawn && now - pr->last < 0.1)
        return;
    pr->last = now;
    pr->drawn = 1;
    if (size > 0) {
        double pct = 100.0 * (double)pos / (double)size;
        if (pct > 100.0)
            pct = 100.0;
        int width = 30, fill = (int)(pct / 100.0 * width);
        fprintf(stderr, "\rimporting %s [", pr->name);
        for (int i = 0; i < width; i++)
            fputc(i < fill ? '#' : ' ', stderr);
        fprintf(stderr, "] %3.0f%%", pct);
    } else {
        fprintf(stderr, "\rimporting %s: %.1f MB", pr->name, (double)pos / 1e6);
    }
    fflush(stderr);
}

static void progress_clear(struct progress *pr)
{
    if (pr->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        pr->drawn = 0;
    }
}

static int list_formats(void)
{
    puts("formats:");
    for (int f = 0; f < CW_IMPORT__COUNT; f++)
        printf("  %-17s %s\n", cw_import_format_name(f),
               cw_import_format_desc(f));
    return fflush(stdout) ? CW_EXIT_FAIL : CW_EXIT_OK;
}

static int summary(const struct cw_cli *cli, const char *file,
                   enum cw_import_format format,
                   const struct cw_import_stats *s, const struct sink_state *st,
                   double secs)
{
    double rate = secs > 0 ? (double)s->rows / secs : 0.0;
    unsigned long long v[] = {s->rows,       s->products,    st->new_products,
                              s->orders,     st->new_orders, s->lines,
                              st->new_lines, s->returns,     st->new_returns,
                              s->skipped,    s->ignored};
    struct cw_buf b = CW_BUF_INIT;
    if (cli->json) {
        cw_buf_adds(&b, "{\"file\":");
        cw_buf_add_json_str(&b, file);
        cw_buf_adds(&b, ",\"format\":");
        cw_buf_add_json_str(&b, cw_import_format_name(format));
        cw_buf_addf(&b,
                    ",\"rows\":%llu,\"products\":%llu,\"products_new\":%llu"
                    ",\"orders\":%llu,\"orders_new\":%llu,\"lines\":%llu"
                    ",\"lines_new\":%llu,\"returns\":%llu,\"returns_new\":%llu"
                    ",\"skipped\":%llu,\"ignored\":%llu",
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
                    v[10]);
        cw_buf_addf(&b,
                    ",\"products_without_cost\":%llu,\"seconds\":%.3f"
                    ",\"rows_per_s\":%.0f}",
                    (unsigned long long)st->products_no_cost, secs, rate);
    } else {
        cw_buf_addf(&b,
                    "imported %s: %llu rows, %llu products (%llu new), %llu "
                    "orders (%llu new), %llu lines (%llu new), %llu returns "
                    "(%llu new), %llu skipped, %llu ignored",
                    file, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
                    v[9], v[10]);
        cw_buf_addf(&b, ", in %.2f s (%.0f rows/s)", secs, rate);
        if (st->products_no_cost)
            cw_buf_addf(&b,
                        "\n%llu products without cost: margins will use the "
                        "default rate (set with `cartwise train "
                        "--margin-rate`)",
                        (unsigned long long)st->products_no_cost);
    }
    int rc = cw_cli_emit(&b);
    cw_buf_release(&b);
    return rc;
}

/* Runs the import inside the open transaction; returns a CW_E* code with
 * the message already in err (or in st->err when the store failed). */
static int run(const char *file, enum cw_import_format format,
               const struct cw_import_opts *opts, struct sink_state *st,
               struct cw_import_stats *stats, struct cw_buf *err)
{
    struct cw_csv *csv = NULL;
    /* a Merchant Center feed is tab-separated whatever its file is called */
    int rc = cw_csv_open(&csv, file, format == CW_IMPORT_GMC ? '\t' : 0, err);
    if (rc < 0)
        return rc;
    struct cw_import_sink sink = {st, sink_product, sink_order, sink_line,
                                  sink_return};
    rc = cw_import_run(format, csv, opts, &sink, stats, err);
    if (rc < 0 && st->failed && st->err.len) {
        /* the parser names the record, the store says what went wrong */
        cw_buf_addf(err, " (%s)", cw_buf_str(&st->err));
    }
    cw_csv_close(csv);
    return rc;
}

int cw_cmd_import(int argc, char **argv, struct cw_cli *cli)
{
    enum { OPT_FORMAT = CW_OPT__FIRST_OWN, OPT_SKIP_BAD, OPT_CURRENCY };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"format", required_argument, NULL, OPT_FORMAT},
        {"skip-bad", no_argument, NULL, OPT_SKIP_BAD},
        {"currency", required_argument, NULL, OPT_CURRENCY},
        {NULL, 0, NULL, 0},
    };
    const char *format_name = NULL, *currency = NULL;
    int skip_bad = 0, c, rc;

    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT:
            format_name = optarg;
            break;
        case OPT_SKIP_BAD:
            skip_bad = 1;
            break;
        case OPT_CURRENCY:
            currency = optarg;
            break;
        default:
            if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
                return rc;
        }
    }
    if (format_name && !strcmp(format_name, "help"))
        return list_formats();
    if (!format_name)
        return cw_cli_usage_error(cli, "missing --format (`--format help` "
                                       "lists them)");
    int format = cw_import_format_from_name(format_name);
    if (format < 0)
        return cw_cli_usage_error(cli,
                                  "unknown format '%s' (`--format help` "
                                  "lists them)",
                                  format_name);
    if (currency && !cw_cli_valid_currency(currency))
        return cw_cli_usage_error(
            cli, "--currency wants an ISO-4217 code such as GBP, not '%s'",
            currency);
    if (optind >= argc)
        return cw_cli_usage_error(cli, "missing FILE");
    if (optind + 1 < argc)
        return cw_cli_usage_error(cli, "one FILE at a time, not '%s' too",
                                  argv[optind + 1]);
    const char *file = argv[optind];

    struct cw_store *store;
    if ((rc = cw_cli_open_store(cli, &store)) != CW_EXIT_OK)
        return rc;

    struct cw_buf err = CW_BUF_INIT;
    char *stored_currency = NULL;
    const char *currency_opt = currency;
    if (!currency &&
        store->ops->meta_get(store, "currency", &stored_currency, NULL) == 0)
        currency = stored_currency;

    const char *slash = strrchr(file, '/');
    struct progress pr = {slash ? slash + 1 : file, 0.0, 0};
    struct cw_import_opts io = {skip_bad, currency, NULL, NULL};
    if (isatty(STDERR_FILENO)) {
        io.progress = progress_cb;
        io.progress_ctx = &pr;
    }
    struct sink_state st;
    memset(&st, 0, sizeof(st));
    st.store = store;
    struct cw_import_stats stats;
    memset(&stats, 0, sizeof(stats));

    double t0 = cw_cli_now();
    int code = store->ops->begin(store, &err);
    if (code == 0) {
        code = run(file, format, &io, &st, &stats, &err);
        /* remember the prices' currency for training: the one given, else
         * the one the file's records carried (formats know their own) */
        const char *remember = currency_opt      ? currency_opt
                               : stored_currency ? NULL
                               : st.currency[0]  ? st.currency
                                                 : NULL;
        if (code == 0 && remember)
            code = store->ops->meta_set(store, "currency", remember, &err);
        if (code == 0) {
            code = store->ops->commit(store, &err);
        } else {
            struct cw_buf rerr = CW_BUF_INIT;
            if (store->ops->rollback(store, &rerr) < 0)
                cw_buf_addf(&err, " (and the rollback failed: %s)",
                            cw_buf_str(&rerr));
            cw_buf_release(&rerr);
        }
    }
    double secs = cw_cli_now() - t0;
    progress_clear(&pr);

    if (code < 0) {
        cw_cli_error("%s", err.len ? cw_buf_str(&err) : cw_strerror(code));
        rc = cw_cli_error("import of '%s' failed: nothing was written", file);
    } else {
        /* with --skip-bad, err holds the first skipped row's reason */
        if (stats.skipped && err.len)
            fprintf(stderr,
                    "cartwise: warning: skipped %llu malformed rows, the "
                    "first: %s\n",
                    (unsigned long long)stats.skipped, cw_buf_str(&err));
        rc = summary(cli, file, format, &stats, &st, secs);
    }
    cw_free(stored_currency);
    cw_buf_release(&st.err);
    cw_buf_release(&err);
    cw_store_close(store);
    return rc;
}
