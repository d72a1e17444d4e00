/*
 * main.c: the `cartwise` command: one table of subcommands, global options,
 * and the helpers every subcommand shares (cli.h).
 *
 * As in git.c, main only finds the command and hands it its argv; each
 * cmd_<name>.c parses its own options. Options every command takes (--db,
 * --json, --help) may also come before the command name. Exit statuses are
 * decided here and in the commands, never in the library: 0 success,
 * 1 failure, 2 usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"

/* Sorted by name: `cartwise help` lists them in this order and lookup
 * relies on it (the e2e tests check the order). */
const struct cw_cli_cmd cw_cli_commands[] = {
    {"config", cw_cmd_config, "set or show the incentive configuration",
     "cartwise config set FILE|- [--db PATH] [--json]\n"
     "       cartwise config get [--db PATH]\n"
     "       cartwise config check FILE|- [--json]\n"
     "\n"
     "  set FILE   validate and store the incentive configuration (JSON:\n"
     "             currency, shipping, tiers, threshold, discount,\n"
     "             frequency_caps, bundles, upgrades); errors name the key\n"
     "  get        print the stored configuration, every key\n"
     "  check FILE validate without storing\n"
     "\n"
     "Every key is documented in docs/incentives.md; "
     "examples/store-config.json\n"
     "switches every incentive on.\n"},
    {"eval", cw_cmd_eval, "run the basket-completion benchmark on a lines file",
     "cartwise eval --lines FILE [--hidden last|hash] [--k N] [--lambda L]\n"
     "              [--no-blas] [--json]\n"
     "\n"
     "  --lines FILE     normalized lines CSV (plain or gzip) with header\n"
     "                   basket_id,customer_id,ts,sku,qty,unit_price,"
     "unit_cost\n"
     "  --hidden MODE    which item of a test basket is hidden: last "
     "(default)\n"
     "                   or hash (fnv1a32(basket_id) mod n)\n"
     "  --k N            recommendations per case, 1..3 (default 3)\n"
     "  --lambda L       EASE regularization (default: tuned on validation)\n"
     "  --no-blas        use the plain-C solver instead of LAPACKE\n"
     "  --json           print one JSON object\n"},
    {"experiment", cw_cmd_experiment, "set or show the running experiment",
     "cartwise experiment set FILE|- [--db PATH] [--json]\n"
     "       cartwise experiment get [--db PATH] [--json]\n"
     "\n"
     "  set FILE   store the experiment configuration (JSON: id, salt, unit,\n"
     "             start, stop, arms [{name, kind, share_bp}]); kind is\n"
     "             holdout, profit or accuracy; shares sum to 10000\n"
     "  get        print the stored configuration\n"
     "\n"
     "Shoppers are assigned by xxh3(salt + unit) mod 10000; see\n"
     "docs/experiments.md.\n"},
    {"help", cw_cmd_help, "list the commands, or show how to use one",
     "cartwise help [COMMAND]\n"},
    {"import", cw_cmd_import, "import a catalog, order or returns export",
     "cartwise import --format FORMAT [--skip-bad] [--currency CUR] [--db "
     "PATH]\n"
     "                [--json] FILE\n"
     "\n"
     "  --format FORMAT  the export's format; `--format help` lists them\n"
     "  --skip-bad       skip and count malformed rows instead of failing\n"
     "  --currency CUR   ISO-4217 currency of the file's prices (remembered)\n"
     "  FILE             CSV/TSV, plain or gzip; '-' for standard input\n"
     "\n"
     "The whole file is one transaction: on any error nothing is written.\n"
     "Importing the same file again adds nothing.\n"},
    {"keys", cw_cmd_keys, "create, list and revoke API keys",
     "cartwise keys create --kind public|secret [--origin URL ...] [--db "
     "PATH]\n"
     "                     [--json]\n"
     "       cartwise keys list [--db PATH] [--json]\n"
     "       cartwise keys revoke ID [--db PATH] [--json]\n"
     "\n"
     "  --kind KIND      public (pk_...: decide and storefront events, safe "
     "in\n"
     "                   a web page) or secret (sk_...: everything)\n"
     "  --origin URL     a storefront origin allowed to use a public key from\n"
     "                   a browser (CORS), e.g. https://shop.example; "
     "repeatable\n"
     "\n"
     "The key is printed once, alone on the last line; only its hash is "
     "stored.\n"
     "list shows every key's id, kind, creation time, state and origins,\n"
     "never the key. revoke disables the key with that id for good; a\n"
     "running server refuses it within a minute.\n"},
    {"recommend", cw_cmd_recommend, "recommend add-ons for a cart",
     "cartwise recommend --cart SKU[:QTY],... [--customer ID]\n"
     "                   [--placement product|cart|checkout] [--k N]\n"
     "                   [--accuracy-only] [--session ID] [--coupon AMOUNT]\n"
     "                   [--no-incentives] [--db PATH] [--json]\n"
     "\n"
     "  --cart LIST      the cart: comma-separated SKUs, each with an "
     "optional\n"
     "                   quantity (default 1), e.g. 85123A:2,71053\n"
     "  --customer ID    the shopper, for personal history (default: "
     "anonymous)\n"
     "  --placement P    where the add-ons show (default cart)\n"
     "  --k N            at most N add-ons, 1..3 (default 3)\n"
     "  --accuracy-only  rank by acceptance probability alone, not profit\n"
     "  --session ID     the storefront session, for incentives (caps, the\n"
     "                   session's threshold and discount)\n"
     "  --coupon AMOUNT  a code discount the storefront already applies,\n"
     "                   minor units (the priced cart accounts for it)\n"
     "  --no-incentives  add-ons only, even with a configuration stored\n"
     "\n"
     "With a configuration stored (`cartwise config set`), the output also\n"
     "has the priced cart, progress to the next tier, the threshold, and at\n"
     "most one discount, bundle and upgrade (docs/incentives.md).\n"},
    {"report", cw_cmd_report, "KPI report, or the experiment's results",
     "cartwise report kpis [--from DATE] [--to DATE] [--margin-rate R]\n"
     "                     [--db PATH] [--json]\n"
     "       cartwise report experiment [--alpha A] [--tstar N] [--db PATH]\n"
     "                     [--json]\n"
     "\n"
     "  kpis             AOV, profit per order, profit-AOV ratio, units per\n"
     "                   order, returns, loyalty, retention after high-value\n"
     "                   orders, funnel, add-on acceptance, discounts\n"
     "  experiment       each arm against the holdout: conversion, AOV,\n"
     "                   revenue and profit per session with 95% intervals,\n"
     "                   CUPED, anytime-valid intervals, sample-ratio check\n"
     "  --from, --to     the period (YYYY-MM-DD; --to takes the whole day)\n"
     "  --margin-rate R  margin rate where costs are unknown (default: the\n"
     "                   stored one, else 0.30)\n"
     "  --alpha A        1 - confidence level (default 0.05)\n"
     "  --tstar N        units at which the anytime-valid interval is\n"
     "                   tightest (default 10000)\n"},
    {"serve", cw_cmd_serve, "serve the HTTP API (decide, events, ...)",
     "cartwise serve [--port N] [--bind ADDR] [--db PATH] [options]\n"
     "\n"
     "  --port N               TCP port (default 8080; 0: any free port)\n"
     "  --bind ADDR            IPv4/IPv6 address to listen on (default: all)\n"
     "  --cors-origin ORIGIN   storefront origin allowed by CORS; repeatable\n"
     "  --shopify-secret S     Shopify webhook secret (also\n"
     "                         $CARTWISE_SHOPIFY_SECRET); repeat while "
     "rotating\n"
     "  --max-body BYTES       request body limit (default 1048576)\n"
     "  --threads N            HTTP threads (default: one per core)\n"
     "  --max-connections N    connections at once (default 1024)\n"
     "  --per-ip-connections N connections at once per client IP (default "
     "256)\n"
     "  --timeout S            idle connection timeout (default 30)\n"
     "  --key-rate R           requests/s per API key (default 1000; 0: off)\n"
     "  --key-burst B          bucket size per key (default 2000)\n"
     "  --ip-rate R            requests/s per client IP (default 5000; 0: "
     "off)\n"
     "  --ip-burst B           bucket size per client IP (default 10000)\n"
     "  --model-poll S         check for a newer model every S seconds\n"
     "                         (default 5; 0: only after POST /v1/train)\n"
     "  --decision-queue N     decisions waiting to be logged (default "
     "65536);\n"
     "                         when it is full a request waits up to 50 ms\n"
     "                         for room, then its decision is dropped and\n"
     "                         counted in cartwise_decision_log_dropped_total\n"
     "  --openapi PATH         the OpenAPI document to serve\n"
     "  --web DIR              the web pages (widget, demo store, dashboard)\n"
     "                         to serve (default: the source tree's web/)\n"
     "  --no-access-log        no JSON log line per request on stderr\n"
     "                         (written in batches, at most 0.1 s late)\n"
     "\n"
     "Runs until SIGINT or SIGTERM, then finishes the requests in flight and\n"
     "writes out the decision log. See docs/api.md.\n"},
    {"simulate", cw_cmd_simulate,
     "simulate shoppers on held-out baskets: engine vs holdout",
     "cartwise simulate --lines FILE [--seed N] [--aa] [--lift L]\n"
     "                  [--replays N] [--experiment FILE] [--k N]\n"
     "                  [--p-self P] [--p-hit P] [--p-other P] [--abandon P]\n"
     "                  [--distraction P] [--incentives FILE] [--lambda L]\n"
     "                  [--no-blas] [--json]\n"
     "\n"
     "  --lines FILE       normalized lines CSV (BENCHMARK.md); the test\n"
     "                     baskets come back as shoppers\n"
     "  --seed N           random seed (default 1); same seed, same output\n"
     "  --aa               two identical profit arms (an A/A test)\n"
     "  --lift L           A/A with arm b's order values times 1 + L, and\n"
     "                     the true effects reported\n"
     "  --replays N        shoppers per test basket (default 1)\n"
     "  --experiment FILE  arms as for `experiment set` (default: holdout\n"
     "                     50% against profit 50%)\n"
     "  --k N              add-ons shown, 1..3 (default 3)\n"
     "  --p-self P         a remaining basket item found unprompted (0.85)\n"
     "  --p-hit P          a shown remaining basket item added (0.70)\n"
     "  --p-other P        a shown other item added, before its price\n"
     "                     penalty (0.06)\n"
     "  --abandon P        mean hidden abandonment propensity (0.25)\n"
     "  --distraction P    abandonment added per add-on shown and not taken\n"
     "                     (default 0)\n"
     "  --incentives FILE  an incentive configuration (as for `config set`):\n"
     "                     every arm is priced with it, shoppers top up to\n"
     "                     reward tiers and react to discounts\n"},
    {"train", cw_cmd_train, "train a new model version from the store",
     "cartwise train [--margin-rate R] [--top-m N] [--lambda L] [--no-blas]\n"
     "               [--currency CUR] [--models-dir DIR] [--db PATH] [--json]\n"
     "\n"
     "  --margin-rate R  margin rate assumed where costs are unknown, 0..1\n"
     "                   (default 0.30; remembered for later runs)\n"
     "  --top-m N        neighbours kept per item (default 100)\n"
     "  --lambda L       EASE regularization (default: tuned on validation)\n"
     "  --no-blas        use the plain-C solver instead of LAPACKE\n"
     "  --currency CUR   currency of the store's prices (default: the one\n"
     "                   given to import, else USD)\n"
     "  --models-dir DIR where model files go (remembered for later runs and\n"
     "                   POST /v1/train; default DB.models beside a SQLite\n"
     "                   file; a postgres:// store needs one that every\n"
     "                   server node can read)\n"},
    {"version", cw_cmd_version, "print the version",
     "cartwise version [--json]\n"},
};
const size_t cw_cli_ncommands =
    sizeof(cw_cli_commands) / sizeof(cw_cli_commands[0]);

static const char global_usage[] =
    "usage: cartwise [--db PATH] [--json] COMMAND [ARGS]\n";

static const struct cw_cli_cmd *find_command(const char *name)
{
    size_t lo = 0, hi = cw_cli_ncommands;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, cw_cli_commands[mid].name);
        if (c == 0)
            return &cw_cli_commands[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static void list_commands(FILE *f)
{
    fputs(global_usage, f);
    fputs("\ncommands:\n", f);
    for (size_t i = 0; i < cw_cli_ncommands; i++)
        fprintf(f, "  %-10s %s\n", cw_cli_commands[i].name,
                cw_cli_commands[i].help);
    fputs("\nglobal options:\n"
          "  --db PATH  the store: a SQLite file (default ./" CW_CLI_DEFAULT_DB
          ", or $CARTWISE_DB)\n"
          "             or a postgres:// url (docs/postgres.md)\n"
          "  --json     machine-readable output on stdout\n"
          "\nsee 'cartwise help COMMAND' for the options of one.\n",
          f);
}

void cw_cli_print_usage(const struct cw_cli_cmd *cmd, FILE *f)
{
    fprintf(f, "usage: %s", cmd->usage);
}

int cw_cmd_help(int argc, char **argv, struct cw_cli *cli)
{
    static const struct option opts[] = {CW_CLI_COMMON_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    int c, rc;
    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1)
        if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
            return rc;
    if (optind + 1 < argc)
        return cw_cli_usage_error(cli, "too many arguments");
    if (optind < argc) {
        const struct cw_cli_cmd *cmd = find_command(argv[optind]);
        if (!cmd) {
            fprintf(stderr, "cartwise: unknown command '%s'\n", argv[optind]);
            fputs("see 'cartwise help' for the list\n", stderr);
            return CW_EXIT_USAGE;
        }
        fprintf(stdout, "cartwise %s: %s\n\n", cmd->name, cmd->help);
        cw_cli_print_usage(cmd, stdout);
        return fflush(stdout) ? CW_EXIT_FAIL : CW_EXIT_OK;
    }
    if (cli->json) {
        struct cw_buf b = CW_BUF_INIT;
        cw_buf_adds(&b, "{\"commands\":[");
        for (size_t i = 0; i < cw_cli_ncommands; i++) {
            cw_buf_adds(&b, i ? ",{\"name\":" : "{\"name\":");
            cw_buf_add_json_str(&b, cw_cli_commands[i].name);
            cw_buf_adds(&b, ",\"help\":");
            cw_buf_add_json_str(&b, cw_cli_commands[i].help);
            cw_buf_addch(&b, '}');
        }
        cw_buf_adds(&b, "]}");
        rc = cw_cli_emit(&b);
        cw_buf_release(&b);
        return rc;
    }
    list_commands(stdout);
    return fflush(stdout) ? CW_EXIT_FAIL : CW_EXIT_OK;
}

int cw_cmd_version(int argc, char **argv, struct cw_cli *cli)
{
    static const struct option opts[] = {CW_CLI_COMMON_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    int c, rc;
    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1)
        if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
            return rc;
    if (optind < argc)
        return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                  argv[optind]);
    struct cw_buf b = CW_BUF_INIT;
    if (cli->json)
        cw_buf_adds(&b, "{\"version\":\"" CW_VERSION "\"}");
    else
        cw_buf_adds(&b, "cartwise " CW_VERSION);
    rc = cw_cli_emit(&b);
    cw_buf_release(&b);
    return rc;
}

/* ---- helpers shared by the commands (cli.h) ---- */

void cw_cli_getopt_reset(void)
{
    optind = 0; /* glibc: 0 re-initializes getopt completely */
    opterr = 0; /* the messages are ours */
}

int cw_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cartwise: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CW_EXIT_FAIL;
}

int cw_cli_usage_error(const struct cw_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cartwise: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (cli->cmd)
        cw_cli_print_usage(cli->cmd, stderr);
    else
        fputs(global_usage, stderr);
    return CW_EXIT_USAGE;
}

int cw_cli_common_opt(struct cw_cli *cli, int c, char **argv)
{
    switch (c) {
    case CW_OPT_DB:
        if (!*optarg)
            return cw_cli_usage_error(cli, "--db needs a path");
        cli->db = optarg;
        return CW_CLI_CONTINUE;
    case CW_OPT_JSON:
        cli->json = 1;
        return CW_CLI_CONTINUE;
    case 'h':
    case CW_OPT_HELP:
        fprintf(stdout, "cartwise %s: %s\n\n", cli->cmd->name, cli->cmd->help);
        cw_cli_print_usage(cli->cmd, stdout);
        return fflush(stdout) ? CW_EXIT_FAIL : CW_EXIT_OK;
    case ':':
        return cw_cli_usage_error(cli, "option '%s' needs a value",
                                  argv[optind - 1]);
    case '?':
        if (optopt > 0 && optopt < 0x80 && isprint(optopt))
            return cw_cli_usage_error(cli, "unknown option '-%c'", optopt);
        if (optopt)
            return cw_cli_usage_error(cli, "option '%s' takes no value",
                                      argv[optind - 1]);
        return cw_cli_usage_error(cli, "unknown option '%s'", argv[optind - 1]);
    default:
        return cw_cli_usage_error(cli, "unhandled option %d", c);
    }
}

int cw_cli_open_store(const struct cw_cli *cli, struct cw_store **out)
{
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_store_open(out, cli->db, &err);
    if (rc < 0) {
        *out = NULL;
        char shown[512];
        cw_cli_error("cannot open the store '%s': %s",
                     cw_store_shown(cli->db, shown, sizeof(shown)),
                     err.len ? cw_buf_str(&err) : cw_strerror(rc));
        cw_buf_release(&err);
        return CW_EXIT_FAIL;
    }
    cw_buf_release(&err);
    return CW_EXIT_OK;
}

int cw_cli_parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int cw_cli_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

int cw_cli_emit(const struct cw_buf *b)
{
    fwrite(cw_buf_str(b), 1, b->len, stdout);
    fputc('\n', stdout);
    if (fflush(stdout) || ferror(stdout))
        return cw_cli_error("cannot write the output: %s", strerror(errno));
    return CW_EXIT_OK;
}

double cw_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cw_cli_json_key(struct cw_buf *b, const char *key)
{
    cw_buf_add_json_str(b, key);
    cw_buf_addch(b, ':');
}

void cw_cli_json_money(struct cw_buf *b, int64_t minor, const char *currency)
{
    cw_buf_addf(b, "{\"amount\":%lld,\"currency\":", (long long)minor);
    cw_buf_add_json_str(b, currency);
    cw_buf_addch(b, '}');
}

/* ---- dispatch ---- */

int main(int argc, char **argv)
{
    struct cw_cli cli = {NULL, 0, NULL};
    const char *env = getenv("CARTWISE_DB");
    cli.db = env && *env ? env : CW_CLI_DEFAULT_DB;

    /* global options before the command name */
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (!strcmp(a, "--json")) {
            cli.json = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            list_commands(stdout);
            return fflush(stdout) ? CW_EXIT_FAIL : CW_EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            puts("cartwise " CW_VERSION);
            return fflush(stdout) ? CW_EXIT_FAIL : CW_EXIT_OK;
        } else if (!strncmp(a, "--db=", 5) && a[5]) {
            cli.db = a + 5;
        } else if (!strcmp(a, "--db")) {
            if (i + 1 >= argc || !*argv[i + 1])
                return cw_cli_usage_error(&cli, "option '--db' needs a value");
            cli.db = argv[++i];
        } else {
            return cw_cli_usage_error(&cli, "unknown option '%s'", a);
        }
    }
    if (i >= argc) {
        fputs("cartwise: no command given\n", stderr);
        list_commands(stderr);
        return CW_EXIT_USAGE;
    }
    cli.cmd = find_command(argv[i]);
    if (!cli.cmd) {
        fprintf(stderr, "cartwise: unknown command '%s'\n", argv[i]);
        fputs("see 'cartwise help' for the list\n", stderr);
        return CW_EXIT_USAGE;
    }
    return cli.cmd->fn(argc - i, argv + i, &cli);
}
