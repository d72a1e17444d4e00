/*
 * cmd_serve.c: `cartwise serve`, the HTTP API (docs/api.md).
 *
 * Parses the options into a server configuration and runs the server
 * (src/server/) until SIGINT or SIGTERM; everything about HTTP lives there.
 */
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_buf.h"
#include "cli/cli.h"
#include "server/server.h"

#define MAX_LIST 32

static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    return cw_cli_parse_u64(s, out) == 0 && *out >= min && *out <= max ? 0 : -1;
}

int cw_cmd_serve(int argc, char **argv, struct cw_cli *cli)
{
    enum {
        OPT_PORT = CW_OPT__FIRST_OWN,
        OPT_BIND,
        OPT_MAX_BODY,
        OPT_THREADS,
        OPT_MAX_CONN,
        OPT_PER_IP_CONN,
        OPT_TIMEOUT,
        OPT_KEY_RATE,
        OPT_KEY_BURST,
        OPT_IP_RATE,
        OPT_IP_BURST,
        OPT_CORS,
        OPT_SHOPIFY,
        OPT_OPENAPI,
        OPT_WEB,
        OPT_NO_LOG,
        OPT_POLL,
        OPT_QUEUE,
    };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"port", required_argument, NULL, OPT_PORT},
        {"bind", required_argument, NULL, OPT_BIND},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"per-ip-connections", required_argument, NULL, OPT_PER_IP_CONN},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"key-rate", required_argument, NULL, OPT_KEY_RATE},
        {"key-burst", required_argument, NULL, OPT_KEY_BURST},
        {"ip-rate", required_argument, NULL, OPT_IP_RATE},
        {"ip-burst", required_argument, NULL, OPT_IP_BURST},
        {"cors-origin", required_argument, NULL, OPT_CORS},
        {"shopify-secret", required_argument, NULL, OPT_SHOPIFY},
        {"openapi", required_argument, NULL, OPT_OPENAPI},
        {"web", required_argument, NULL, OPT_WEB},
        {"no-access-log", no_argument, NULL, OPT_NO_LOG},
        {"model-poll", required_argument, NULL, OPT_POLL},
        {"decision-queue", required_argument, NULL, OPT_QUEUE},
        {NULL, 0, NULL, 0},
    };
    struct cw_srv_config cfg;
    const char *cors[MAX_LIST], *secrets[MAX_LIST];
    size_t ncors = 0, nsecrets = 0;
    uint64_t u;
    double d;
    int c, rc;
    cw_srv_config_default(&cfg);

    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1) {
        switch (c) {
        case OPT_PORT:
            if (parse_uint(optarg, 0, 65535, &u) < 0)
                return cw_cli_usage_error(
                    cli, "--port wants 0..65535, not '%s'", optarg);
            cfg.port = (unsigned)u;
            break;
        case OPT_BIND:
            cfg.bind = optarg;
            break;
        case OPT_MAX_BODY:
            if (parse_uint(optarg, 1024, 1u << 30, &u) < 0)
                return cw_cli_usage_error(
                    cli, "--max-body wants bytes in 1024..2^30, not '%s'",
                    optarg);
            cfg.max_body = (size_t)u;
            break;
        case OPT_THREADS:
            if (parse_uint(optarg, 1, 256, &u) < 0)
                return cw_cli_usage_error(
                    cli, "--threads wants 1..256, not '%s'", optarg);
            cfg.threads = (unsigned)u;
            break;
        case OPT_MAX_CONN:
            if (parse_uint(optarg, 1, 1000000, &u) < 0)
                return cw_cli_usage_error(
                    cli, "--max-connections wants 1..1000000, not '%s'",
                    optarg);
            cfg.conn_limit = (unsigned)u;
            break;
        case OPT_PER_IP_CONN:
            if (parse_uint(optarg, 0, 1000000, &u) < 0)
                return cw_cli_usage_error(
                    cli,
                    "--per-ip-connections wants 0..1000000 (0: no limit), "
                    "not '%s'",
                    optarg);
            cfg.per_ip_limit = (unsigned)u;
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 1, 3600, &u) < 0)
                return cw_cli_usage_error(
                    cli, "--timeout wants seconds in 1..3600, not '%s'",
                    optarg);
            cfg.timeout = (unsigned)u;
            break;
        case OPT_KEY_RATE:
        case OPT_KEY_BURST:
        case OPT_IP_RATE:
        case OPT_IP_BURST:
            if (cw_cli_parse_double(optarg, &d) < 0 || d < 0 || d > 1e9)
                return cw_cli_usage_error(cli,
                                          "%s wants a number >= 0, not '%s'",
                                          argv[optind - 1], optarg);
            if (c == OPT_KEY_RATE)
                cfg.key_rate = d;
            else if (c == OPT_KEY_BURST)
                cfg.key_burst = d;
            else if (c == OPT_IP_RATE)
                cfg.ip_rate = d;
            else
                cfg.ip_burst = d;
            break;
        case OPT_CORS:
            if (ncors == MAX_LIST)
                return cw_cli_usage_error(cli, "at most %d --cors-origin",
                                          MAX_LIST);
            if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
                return cw_cli_usage_error(
                    cli,
                    "--cors-origin wants an origin such as "
                    "https://shop.example, not '%s'",
                    optarg);
            cors[ncors++] = optarg;
            break;
        case OPT_SHOPIFY:
            if (nsecrets == MAX_LIST || !*optarg)
                return cw_cli_usage_error(cli,
                                          "--shopify-secret wants a secret "
                                          "(at most %d)",
                                          MAX_LIST);
            secrets[nsecrets++] = optarg;
            break;
        case OPT_OPENAPI:
            cfg.openapi = optarg;
            break;
        case OPT_WEB:
            cfg.web = optarg;
            break;
        case OPT_NO_LOG:
            cfg.access_log = 0;
            break;
        case OPT_POLL:
            if (cw_cli_parse_double(optarg, &d) < 0 || d < 0 || d > 86400)
                return cw_cli_usage_error(
                    cli, "--model-poll wants seconds in 0..86400, not '%s'",
                    optarg);
            cfg.model_poll = d;
            break;
        case OPT_QUEUE:
            if (parse_uint(optarg, 1, 10000000, &u) < 0)
                return cw_cli_usage_error(
                    cli, "--decision-queue wants 1..10000000, not '%s'",
                    optarg);
            cfg.declog_capacity = (size_t)u;
            break;
        default:
            if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
                return rc;
        }
    }
    if (optind < argc)
        return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                  argv[optind]);
    const char *env = getenv("CARTWISE_SHOPIFY_SECRET");
    if (env && *env && nsecrets < MAX_LIST)
        secrets[nsecrets++] = env;
    cfg.db = cli->db;
    cfg.cors_origins = cors;
    cfg.n_cors = ncors;
    cfg.shopify_secrets = secrets;
    cfg.n_shopify = nsecrets;

    struct cw_buf err = CW_BUF_INIT;
    rc = cw_srv_run(&cfg, &err) < 0
             ? cw_cli_error("%s", err.len ? cw_buf_str(&err) : "server failed")
             : CW_EXIT_OK;
    cw_buf_release(&err);
    return rc;
}
