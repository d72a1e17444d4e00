/*
 * cmd_config.c: `cartwise config set FILE`, `config get` and `config check
 * FILE`: the merchant's incentive configuration (docs/incentives.md).
 *
 * set parses and validates the JSON (errors name the key path, e.g.
 * "tiers[1].threshold: must be greater than tiers[0].threshold (5000)") and
 * stores it, re-written in canonical form with every key, in the store's
 * meta table under "config", where `recommend` and the server read it; an
 * invalid file stores nothing. get prints what is stored (JSON, every key);
 * check validates a file without storing it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"

#define CONFIG_FILE_MAX (1u << 20)

/* Reads all of file ('-': stdin) into b. Returns CW_EXIT_*. */
static int slurp(const char *file, struct cw_buf *b)
{
    FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
    if (!f)
        return cw_cli_error("cannot open '%s': %s", file, strerror(errno));
    char chunk[4096];
    size_t n;
    int rc = CW_EXIT_OK;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > CONFIG_FILE_MAX) {
            rc =
                cw_cli_error("'%s': more than %u bytes", file, CONFIG_FILE_MAX);
            break;
        }
        cw_buf_add(b, chunk, n);
    }
    if (rc == CW_EXIT_OK && ferror(f))
        rc = cw_cli_error("cannot read '%s': %s", file, strerror(errno));
    if (f != stdin)
        fclose(f);
    return rc;
}

/* One line per switched-on incentive. */
static void describe(struct cw_buf *b, const struct cw_incentive_config *c)
{
    cw_buf_addf(b, "currency %s, shipping %s (fee %lld, cost %lld)",
                c->currency, cw_shipping_model_name(c->shipping.model),
                (long long)c->shipping.fee, (long long)c->shipping.cost);
    for (size_t t = 0; t < c->n_tiers; t++)
        cw_buf_addf(b, "\ntier %zu: %s from %lld%s", t,
                    cw_reward_name(c->tiers[t].reward),
                    (long long)c->tiers[t].threshold,
                    c->tiers[t].n_rungs && c->threshold.personalize
                        ? " (personalized)"
                        : "");
    if (c->discount.enabled)
        cw_buf_addf(b,
                    "\ndiscount: up to %.2f%% above %.0f%% abandonment risk, "
                    "budget %lld a day",
                    c->discount.max_percent_bp / 100.0,
                    100 * c->discount.propensity_threshold,
                    (long long)c->discount.daily_budget);
    else
        cw_buf_adds(b, "\ndiscount: off");
    cw_buf_addf(b, "\nbundles: %zu, upgrade groups: %zu", c->n_bundles,
                c->n_groups);
}

static int set(struct cw_cli *cli, const char *file, int store)
{
    struct cw_buf text = CW_BUF_INIT, err = CW_BUF_INIT, out = CW_BUF_INIT;
    struct cw_incentive_config *c = cw_malloc(sizeof(*c));
    struct cw_store *s = NULL;
    int rc = slurp(file, &text);
    if (rc)
        goto done;
    int code;
    if (!store) {
        code = cw_app_config_parse(cw_buf_str(&text), text.len, c, &err);
    } else {
        if ((rc = cw_cli_open_store(cli, &s)))
            goto done;
        code = cw_app_config_store(s, cw_buf_str(&text), text.len, c, &err);
    }
    if (code < 0) {
        rc = cw_cli_error("%s: %s", file, cw_buf_str(&err));
        goto done;
    }
    if (cli->json) {
        cw_buf_addf(&out,
                    "{\"%s\":true,\"config\":", store ? "stored" : "valid");
        cw_app_config_json(c, &out);
        cw_buf_addch(&out, '}');
    } else {
        cw_buf_adds(&out, store ? "stored: " : "valid: ");
        describe(&out, c);
    }
    rc = cw_cli_emit(&out);
done:
    cw_store_close(s);
    cw_free(c);
    cw_buf_release(&text);
    cw_buf_release(&err);
    cw_buf_release(&out);
    return rc;
}

static int get(struct cw_cli *cli)
{
    struct cw_store *s = NULL;
    int rc = cw_cli_open_store(cli, &s);
    if (rc)
        return rc;
    struct cw_buf err = CW_BUF_INIT, out = CW_BUF_INIT;
    struct cw_incentive_config *c = cw_malloc(sizeof(*c));
    int code = cw_app_config_load(s, c, &err);
    if (code == CW_ENOENT) {
        rc = cw_cli_error("no incentive configuration (cartwise config set "
                          "FILE)");
    } else if (code < 0) {
        rc = cw_cli_error("%s", cw_buf_str(&err));
    } else {
        cw_app_config_json(c, &out);
        rc = cw_cli_emit(&out);
    }
    cw_free(c);
    cw_store_close(s);
    cw_buf_release(&err);
    cw_buf_release(&out);
    return rc;
}

int cw_cmd_config(int argc, char **argv, struct cw_cli *cli)
{
    static const struct option opts[] = {CW_CLI_COMMON_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    int c, rc;
    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1)
        if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
            return rc;
    if (optind >= argc)
        return cw_cli_usage_error(cli, "missing subcommand (set, get or "
                                       "check)");
    const char *sub = argv[optind];
    int is_set = !strcmp(sub, "set"), is_check = !strcmp(sub, "check");
    if (is_set || is_check) {
        if (optind + 1 >= argc)
            return cw_cli_usage_error(cli, "config %s needs a FILE", sub);
        if (optind + 2 < argc)
            return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                      argv[optind + 2]);
        return set(cli, argv[optind + 1], is_set);
    }
    if (!strcmp(sub, "get")) {
        if (optind + 1 < argc)
            return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                      argv[optind + 1]);
        return get(cli);
    }
    return cw_cli_usage_error(
        cli, "unknown subcommand '%s' (set, get or check)", sub);
}
