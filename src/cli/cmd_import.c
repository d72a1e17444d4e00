/*
 * cmd_import.c: `cartwise import`, a store export into the store.
 *
 * Parses the flags, opens the store and prints: the import itself, one
 * transaction written in batches, is cw_app_import_file's (app.h). The
 * progress bar goes to stderr and only to a terminal, so pipes and logs stay
 * clean.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_import.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"

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
                   const struct cw_app_import_result *r, double secs)
{
    const struct cw_import_stats *s = &r->stats;
    double rate = secs > 0 ? (double)s->rows / secs : 0.0;
    unsigned long long v[] = {s->rows,      s->products,   r->new_products,
                              s->orders,    r->new_orders, s->lines,
                              r->new_lines, s->returns,    r->new_returns,
                              s->skipped,   s->ignored};
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
                    (unsigned long long)r->products_no_cost, secs, rate);
    } else {
        cw_buf_addf(&b,
                    "imported %s: %llu rows, %llu products (%llu new), %llu "
                    "orders (%llu new), %llu lines (%llu new), %llu returns "
                    "(%llu new), %llu skipped, %llu ignored",
                    file, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8],
                    v[9], v[10]);
        cw_buf_addf(&b, ", in %.2f s (%.0f rows/s)", secs, rate);
        if (r->products_no_cost)
            cw_buf_addf(&b,
                        "\n%llu products without cost: margins will use the "
                        "default rate (set with `cartwise train "
                        "--margin-rate`)",
                        (unsigned long long)r->products_no_cost);
    }
    int rc = cw_cli_emit(&b);
    cw_buf_release(&b);
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
    if (currency && !cw_currency_valid(currency))
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

    const char *slash = strrchr(file, '/');
    struct progress pr = {slash ? slash + 1 : file, 0.0, 0};
    struct cw_import_opts io = {skip_bad, currency, NULL, NULL};
    if (isatty(STDERR_FILENO)) {
        io.progress = progress_cb;
        io.progress_ctx = &pr;
    }
    struct cw_app_import_result res;
    struct cw_buf err = CW_BUF_INIT;
    double t0 = cw_cli_now();
    int code = cw_app_import_file(store, file, format, &io, &res, &err);
    double secs = cw_cli_now() - t0;
    progress_clear(&pr);

    if (code < 0) {
        cw_cli_error("%s", err.len ? cw_buf_str(&err) : cw_strerror(code));
        rc = cw_cli_error("import of '%s' failed: nothing was written", file);
    } else {
        /* with --skip-bad, err holds the first skipped row's reason */
        if (res.stats.skipped && err.len)
            fprintf(stderr,
                    "cartwise: warning: skipped %llu malformed rows, the "
                    "first: %s\n",
                    (unsigned long long)res.stats.skipped, cw_buf_str(&err));
        rc = summary(cli, file, format, &res, secs);
    }
    cw_buf_release(&err);
    cw_store_close(store);
    return rc;
}
