/*
 * cmd_keys.c: `cartwise keys create|list|revoke`, API keys for the HTTP
 * server.
 *
 * A key is printed once, alone on the last line of stdout, and stored only
 * as hex HMAC-SHA256(pepper, key) (the pepper lives in the store's meta
 * table, created on first use). A public key's --origin list is kept with
 * it (its allowed CORS origins) and merged into meta "cors_key_origins",
 * which the server reads to answer CORS preflights, which carry no key.
 * `list` shows every key without its secret; `revoke ID` disables a key for
 * good and rebuilds "cors_key_origins" from the public keys still valid. A
 * running server stops accepting a revoked key within a minute (its key
 * cache, src/server/auth.c).
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_store.h"
#include "cli/cli.h"
#include "server/server.h"

#define MAX_ORIGINS 32

static int valid_origin(const char *s)
{
    const char *host;
    if (!strncmp(s, "https://", 8))
        host = s + 8;
    else if (!strncmp(s, "http://", 7))
        host = s + 7;
    else
        return 0;
    if (!*host || strlen(s) > 200)
        return 0;
    for (const char *p = host; *p; p++)
        if (*p == '/' || *p <= ' ' || *p > '~')
            return 0;
    return 1;
}

/* Adds origins to the space-separated set in meta "cors_key_origins". */
static int merge_origins(struct cw_store *s, const char *origins,
                         struct cw_buf *err)
{
    char *cur = NULL;
    int rc = s->ops->meta_get(s, "cors_key_origins", &cur, err);
    if (rc < 0 && rc != CW_ENOENT)
        return rc;
    struct cw_buf set = CW_BUF_INIT;
    cw_buf_adds(&set, cur ? cur : "");
    char *copy = cw_strdup(origins);
    for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " ")) {
        int have = 0;
        size_t n = strlen(tok);
        for (const char *p = cw_buf_str(&set); *p;) {
            const char *end = strchr(p, ' ');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len == n && !memcmp(p, tok, n))
                have = 1;
            p += len + (end ? 1 : 0);
        }
        if (!have)
            cw_buf_addf(&set, "%s%s", set.len ? " " : "", tok);
    }
    rc = s->ops->meta_set(s, "cors_key_origins", cw_buf_str(&set), err);
    cw_free(copy);
    cw_free(cur);
    cw_buf_release(&set);
    return rc;
}

static int create(struct cw_cli *cli, enum cw_key_kind kind,
                  const char *origins)
{
    struct cw_store *s;
    int rc = cw_cli_open_store(cli, &s);
    if (rc != CW_EXIT_OK)
        return rc;
    unsigned char pepper[32];
    char key[64], id[40], hash[65], now[40];
    struct cw_buf err = CW_BUF_INIT;
    int code = cw_srv_pepper(s, pepper, &err);
    if (code == 0) {
        cw_srv_key_new(kind, key, id);
        cw_srv_key_hash(pepper, key, strlen(key), hash);
        cw_srv_now_iso(now, sizeof(now), 0);
        struct cw_key_rec rec = {
            id, kind == CW_KEY_SECRET ? "secret" : "public", hash, now, origins,
            0};
        code = s->ops->begin(s, &err);
        if (code == 0) {
            int put = s->ops->put_key(s, &rec, &err);
            code = put < 0 ? put : 0;
        }
        if (code == 0 && origins && kind == CW_KEY_PUBLIC)
            code = merge_origins(s, origins, &err);
        if (code == 0)
            code = s->ops->commit(s, &err);
        else
            s->ops->rollback(s, NULL);
    }
    sodium_memzero(pepper, sizeof(pepper));
    if (code < 0) {
        rc = cw_cli_error("cannot create the key: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
    } else {
        struct cw_buf b = CW_BUF_INIT;
        const char *k = kind == CW_KEY_SECRET ? "secret" : "public";
        if (cli->json) {
            cw_buf_addf(&b, "{\"id\":\"%s\",\"kind\":\"%s\",\"origins\":", id,
                        k);
            if (origins)
                cw_buf_add_json_str(&b, origins);
            else
                cw_buf_adds(&b, "null");
            cw_buf_addf(&b, ",\"key\":\"%s\"}", key);
        } else {
            cw_buf_addf(&b, "created %s key %s%s%s\n", k, id,
                        origins ? " for origins " : "", origins ? origins : "");
            cw_buf_adds(&b, "it is shown only this once: keep it now\n");
            cw_buf_adds(&b, key);
        }
        rc = cw_cli_emit(&b);
        sodium_memzero(b.buf, b.len);
        cw_buf_release(&b);
    }
    sodium_memzero(key, sizeof(key));
    cw_buf_release(&err);
    cw_store_close(s);
    return rc;
}

struct key_list {
    struct cw_buf *out;
    int json;
    size_t n;
    struct cw_buf origins; /* revoke: the public keys' still valid */
};

static int list_one(void *ctx, const struct cw_key_rec *k)
{
    struct key_list *l = ctx;
    struct cw_buf *b = l->out;
    if (l->json) {
        cw_buf_adds(b, l->n ? ",{\"id\":" : "{\"id\":");
        cw_buf_add_json_str(b, k->id);
        cw_buf_adds(b, ",\"kind\":");
        cw_buf_add_json_str(b, k->kind);
        cw_buf_adds(b, ",\"created_at\":");
        cw_buf_add_json_str(b, k->created_at ? k->created_at : "");
        cw_buf_adds(b, ",\"origins\":");
        if (k->origins)
            cw_buf_add_json_str(b, k->origins);
        else
            cw_buf_adds(b, "null");
        cw_buf_addf(b, ",\"revoked\":%s}", k->revoked ? "true" : "false");
    } else {
        cw_buf_addf(b, "%-22s %-6s %-20s %-7s %s\n", k->id, k->kind,
                    k->created_at ? k->created_at : "",
                    k->revoked ? "revoked" : "valid",
                    k->origins ? k->origins : "");
    }
    l->n++;
    return 0;
}

static int list(struct cw_cli *cli)
{
    struct cw_store *s;
    int rc = cw_cli_open_store(cli, &s);
    if (rc != CW_EXIT_OK)
        return rc;
    struct cw_buf b = CW_BUF_INIT, err = CW_BUF_INIT;
    struct key_list l = {&b, cli->json, 0, CW_BUF_INIT};
    if (cli->json)
        cw_buf_adds(&b, "{\"keys\":[");
    else
        cw_buf_addf(&b, "%-22s %-6s %-20s %-7s %s\n", "id", "kind", "created",
                    "state", "origins");
    int code = s->ops->scan_keys(s, list_one, &l, &err);
    if (cli->json)
        cw_buf_adds(&b, "]}\n");
    if (code < 0) {
        rc = cw_cli_error("cannot list the keys: %s",
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
    } else {
        if (!cli->json && l.n == 0)
            cw_buf_adds(&b, "(none: cartwise keys create --kind "
                            "public|secret)\n");
        rc = cw_cli_emit(&b);
    }
    cw_buf_release(&b);
    cw_buf_release(&err);
    cw_store_close(s);
    return rc;
}

static int valid_origins(void *ctx, const struct cw_key_rec *k)
{
    struct key_list *l = ctx;
    if (!k->revoked && k->origins && !strcmp(k->kind, "public"))
        cw_buf_addf(&l->origins, "%s%s", l->origins.len ? " " : "", k->origins);
    return 0;
}

static int revoke(struct cw_cli *cli, const char *id)
{
    struct cw_store *s;
    int rc = cw_cli_open_store(cli, &s);
    if (rc != CW_EXIT_OK)
        return rc;
    struct cw_buf err = CW_BUF_INIT;
    struct key_list l = {NULL, 0, 0, CW_BUF_INIT};
    int code = s->ops->begin(s, &err), revoked = 0;
    if (code == 0)
        code = revoked = s->ops->revoke_key(s, id, &err);
    if (code >= 0)
        code = s->ops->scan_keys(s, valid_origins, &l, &err);
    if (code >= 0)
        code = s->ops->meta_set(s, "cors_key_origins", cw_buf_str(&l.origins),
                                &err);
    if (code >= 0)
        code = s->ops->commit(s, &err);
    else
        s->ops->rollback(s, NULL);
    if (code < 0) {
        rc = cw_cli_error("cannot revoke %s: %s", id,
                          err.len ? cw_buf_str(&err) : cw_strerror(code));
    } else {
        struct cw_buf b = CW_BUF_INIT;
        if (cli->json)
            cw_buf_addf(&b, "{\"id\":\"%s\",\"revoked\":true,\"already\":%s}\n",
                        id, revoked ? "false" : "true");
        else
            cw_buf_addf(&b,
                        "%s %s: a running server refuses it within a "
                        "minute\n",
                        revoked ? "revoked" : "already revoked", id);
        rc = cw_cli_emit(&b);
        cw_buf_release(&b);
    }
    cw_buf_release(&l.origins);
    cw_buf_release(&err);
    cw_store_close(s);
    return rc;
}

int cw_cmd_keys(int argc, char **argv, struct cw_cli *cli)
{
    enum {
        OPT_KIND = CW_OPT__FIRST_OWN,
        OPT_ORIGIN,
    };
    static const struct option opts[] = {
        CW_CLI_COMMON_OPTIONS,
        {"kind", required_argument, NULL, OPT_KIND},
        {"origin", required_argument, NULL, OPT_ORIGIN},
        {NULL, 0, NULL, 0},
    };
    enum cw_key_kind kind = CW_KEY_NONE;
    struct cw_buf origins = CW_BUF_INIT;
    size_t norigins = 0;
    int c, rc = CW_CLI_CONTINUE;

    cw_cli_getopt_reset();
    while (rc == CW_CLI_CONTINUE &&
           (c = getopt_long(argc, argv, CW_CLI_SHORTOPTS, opts, NULL)) != -1) {
        switch (c) {
        case OPT_KIND:
            if (!strcmp(optarg, "public"))
                kind = CW_KEY_PUBLIC;
            else if (!strcmp(optarg, "secret"))
                kind = CW_KEY_SECRET;
            else
                rc = cw_cli_usage_error(
                    cli, "--kind is public or secret, not '%s'", optarg);
            break;
        case OPT_ORIGIN: {
            size_t n = strlen(optarg);
            while (n && optarg[n - 1] == '/')
                optarg[--n] = '\0';
            if (!valid_origin(optarg))
                rc = cw_cli_usage_error(
                    cli,
                    "--origin wants an origin such as https://shop.example, "
                    "not '%s'",
                    optarg);
            else if (++norigins > MAX_ORIGINS)
                rc =
                    cw_cli_usage_error(cli, "at most %d --origin", MAX_ORIGINS);
            else
                cw_buf_addf(&origins, "%s%s", origins.len ? " " : "", optarg);
            break;
        }
        default:
            rc = cw_cli_common_opt(cli, c, argv);
        }
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    int listing = sub && !strcmp(sub, "list");
    int revoking = sub && !strcmp(sub, "revoke");
    if (rc == CW_CLI_CONTINUE && (listing || revoking)) {
        size_t want = revoking ? 2 : 1;
        if ((size_t)(argc - optind) < want)
            rc = cw_cli_usage_error(cli, "keys revoke wants the key's id (see "
                                         "keys list)");
        else if ((size_t)(argc - optind) > want)
            rc = cw_cli_usage_error(cli, "unexpected argument '%s'",
                                    argv[optind + want]);
        else if (kind != CW_KEY_NONE || norigins)
            rc = cw_cli_usage_error(cli, "--kind and --origin are for keys "
                                         "create");
        else
            rc = listing ? list(cli) : revoke(cli, argv[optind + 1]);
    }
    if (rc == CW_CLI_CONTINUE) {
        if (!sub)
            rc = cw_cli_usage_error(
                cli, "missing subcommand (create, list, revoke)");
        else if (strcmp(sub, "create"))
            rc = cw_cli_usage_error(cli, "unknown subcommand '%s'", sub);
        else if (optind + 1 < argc)
            rc = cw_cli_usage_error(cli, "unexpected argument '%s'",
                                    argv[optind + 1]);
        else if (kind == CW_KEY_NONE)
            rc = cw_cli_usage_error(cli, "missing --kind public|secret");
        else if (norigins && kind != CW_KEY_PUBLIC)
            rc = cw_cli_usage_error(cli, "--origin is for public keys");
        else if (sodium_init() < 0)
            rc = cw_cli_error("libsodium failed to initialize");
        else
            rc = create(cli, kind, origins.len ? cw_buf_str(&origins) : NULL);
    }
    cw_buf_release(&origins);
    return rc;
}
