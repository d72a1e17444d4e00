/*
 * h_web.c: the web pages: the embeddable cart widget, a demo store that
 * embeds it, and the merchant dashboard (web/, docs/web.md).
 *
 * The files are read once at start from the web root (--web DIR, else
 * $CARTWISE_WEB, else the source tree's web/) and served from memory to
 * anyone: they hold no data and ask for keys themselves (the widget is
 * given a public key by the page that embeds it, the dashboard asks the
 * merchant for a secret key and keeps it in the tab's sessionStorage).
 * Their calls to the API from this server's own origin are same-origin
 * (server.c), so no CORS setting is needed for them.
 */
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "server/server.h"

#define HTML "text/html; charset=utf-8"
#define JS "text/javascript; charset=utf-8"
#define CSS "text/css; charset=utf-8"

static const struct {
    const char *path, *file, *type;
} files[CW_SRV_NWEB] = {
    {"/", "index.html", HTML},
    {"/dashboard/", "dashboard/index.html", HTML},
    {"/dashboard/dashboard.js", "dashboard/dashboard.js", JS},
    {"/demo/", "demo/index.html", HTML},
    {"/demo/demo.js", "demo/demo.js", JS},
    {"/web/style.css", "style.css", CSS},
    {"/widget/cartwise.js", "widget/cartwise.js", JS},
};

void cw_srv_web_load(struct cw_srv *srv)
{
    const char *root = srv->cfg.web;
    const char *env = getenv("CARTWISE_WEB");
    struct cw_buf dir = CW_BUF_INIT, p = CW_BUF_INIT;
    if (!root && env && *env)
        root = env;
    if (!root) {
        cw_srv_data_path(&dir, "web", "web");
        root = cw_buf_str(&dir);
    }
    for (size_t i = 0; i < CW_SRV_NWEB; i++) {
        cw_buf_reset(&p);
        cw_buf_addf(&p, "%s/%s", root, files[i].file);
        if (cw_srv_load_file(cw_buf_str(&p), &srv->web[i], &srv->web_len[i]) <
            0)
            cw_srv_log("warn", "web page missing: its path answers 404",
                       cw_buf_str(&p), NULL);
    }
    cw_buf_release(&p);
    cw_buf_release(&dir);
}

void cw_srv_web_free(struct cw_srv *srv)
{
    for (size_t i = 0; i < CW_SRV_NWEB; i++) {
        cw_free(srv->web[i]);
        srv->web[i] = NULL;
    }
}

void cw_h_web(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    for (size_t i = 0; i < CW_SRV_NWEB; i++) {
        if (strcmp(files[i].path, r->route->path))
            continue;
        if (!srv->web[i])
            break;
        cw_buf_reset(&r->out);
        cw_buf_add(&r->out, srv->web[i], srv->web_len[i]);
        r->content_type = files[i].type;
        cw_srv_reply(r, 200);
        return;
    }
    cw_srv_reply_fail(r, 404, "not_found", NULL,
                      "%s: the web pages are not installed here (see "
                      "--web)",
                      r->route->path);
}
