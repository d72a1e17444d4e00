/*
 * cmd_experiment.c: `cartwise experiment set FILE` and `experiment get`.
 *
 * The configuration is JSON (experiment_json.h); set parses and validates
 * it and stores it, re-written in canonical form, in the store's meta table
 * under "experiment", where the server reads it (at start and after each
 * training run) and `report experiment` finds it. get prints what is stored.
 * Changing the salt or the arm order reassigns shoppers: set says so when
 * it replaces a configuration with the same id.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app/experiment_json.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_experiment.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"

#define META_KEY "experiment"

/* Reads all of file ('-': stdin) into b, at most CW_EXPERIMENT_JSON_MAX. */
static int slurp(const char *file, struct cw_buf *b)
{
    FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
    if (!f)
        return cw_cli_error("cannot open '%s': %s", file, strerror(errno));
    char chunk[4096];
    size_t n;
    int rc = CW_EXIT_OK;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len + n > CW_EXPERIMENT_JSON_MAX) {
            rc = cw_cli_error("'%s': more than %d bytes", file,
                              CW_EXPERIMENT_JSON_MAX);
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

static void describe(struct cw_buf *b, const struct cw_experiment *e)
{
    cw_buf_addf(b, "experiment %s (unit: %s, salt: %s)", e->id,
                e->unit == CW_EXP_UNIT_SESSION ? "session"
                                               : "customer, else session",
                e->salt);
    if (e->start[0] || e->stop[0])
        cw_buf_addf(b, "\nwindow: %s .. %s", e->start[0] ? e->start : "open",
                    e->stop[0] ? e->stop : "open");
    for (size_t i = 0; i < e->n_arms; i++)
        cw_buf_addf(b, "\n  %-16s %-9s %6.2f%%", e->arms[i].name,
                    cw_arm_kind_name(e->arms[i].kind),
                    e->arms[i].share_bp / 100.0);
}

static int set(struct cw_cli *cli, const char *file)
{
    struct cw_buf text = CW_BUF_INIT, err = CW_BUF_INIT, out = CW_BUF_INIT;
    struct cw_experiment e, old;
    struct cw_store *s = NULL;
    char *prev = NULL;
    int rc = slurp(file, &text);
    if (rc)
        goto done;
    int code = cw_experiment_from_json(cw_buf_str(&text), text.len, &e, &err);
    if (code < 0) {
        rc = cw_cli_error("%s: %s", file, cw_buf_str(&err));
        goto done;
    }
    if ((rc = cw_cli_open_store(cli, &s)))
        goto done;
    int reshuffle = 0;
    if (s->ops->meta_get(s, META_KEY, &prev, NULL) == 0 &&
        cw_experiment_from_json(prev, strlen(prev), &old, NULL) == 0 &&
        !strcmp(old.id, e.id)) {
        reshuffle = strcmp(old.salt, e.salt) != 0 || old.n_arms != e.n_arms;
        for (size_t i = 0; !reshuffle && i < e.n_arms; i++)
            reshuffle = strcmp(old.arms[i].name, e.arms[i].name) ||
                        old.arms[i].share_bp != e.arms[i].share_bp;
    }
    struct cw_buf canon = CW_BUF_INIT;
    cw_experiment_to_json(&e, &canon);
    cw_buf_reset(&err);
    code = s->ops->meta_set(s, META_KEY, cw_buf_str(&canon), &err);
    if (code < 0) {
        rc = cw_cli_error("cannot store the experiment: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
    } else if (cli->json) {
        cw_buf_adds(&out, "{\"experiment\":");
        cw_buf_add(&out, canon.buf, canon.len);
        cw_buf_addf(&out, ",\"reassigned\":%s}", reshuffle ? "true" : "false");
        rc = cw_cli_emit(&out);
    } else {
        cw_buf_adds(&out, "stored ");
        describe(&out, &e);
        if (reshuffle)
            cw_buf_adds(&out, "\nnote: salt or split changed under the same "
                              "id: shoppers are reassigned");
        rc = cw_cli_emit(&out);
    }
    cw_buf_release(&canon);
done:
    cw_free(prev);
    cw_store_close(s);
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
    char *v = NULL;
    int code = s->ops->meta_get(s, META_KEY, &v, &err);
    struct cw_experiment e;
    if (code == CW_ENOENT) {
        rc = cw_cli_error("no experiment configured (cartwise experiment set "
                          "FILE)");
    } else if (code < 0) {
        rc = cw_cli_error("cannot read the experiment: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
    } else if (cw_experiment_from_json(v, strlen(v), &e, &err) < 0) {
        rc = cw_cli_error("the stored experiment is not valid: %s",
                          cw_buf_str(&err));
    } else {
        if (cli->json)
            cw_experiment_to_json(&e, &out);
        else
            describe(&out, &e);
        rc = cw_cli_emit(&out);
    }
    cw_free(v);
    cw_store_close(s);
    cw_buf_release(&err);
    cw_buf_release(&out);
    return rc;
}

int cw_cmd_experiment(int argc, char **argv, struct cw_cli *cli)
{
    static const struct option opts[] = {CW_CLI_COMMON_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    int c, rc;
    cw_cli_getopt_reset();
    while ((c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1)
        if ((rc = cw_cli_common_opt(cli, c, argv)) != CW_CLI_CONTINUE)
            return rc;
    if (optind >= argc)
        return cw_cli_usage_error(cli, "missing subcommand (set or get)");
    const char *sub = argv[optind];
    if (!strcmp(sub, "set")) {
        if (optind + 1 >= argc)
            return cw_cli_usage_error(cli, "experiment set needs a FILE");
        if (optind + 2 < argc)
            return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                      argv[optind + 2]);
        return set(cli, argv[optind + 1]);
    }
    if (!strcmp(sub, "get")) {
        if (optind + 1 < argc)
            return cw_cli_usage_error(cli, "unexpected argument '%s'",
                                      argv[optind + 1]);
        return get(cli);
    }
    return cw_cli_usage_error(cli, "unknown subcommand '%s' (set or get)", sub);
}
