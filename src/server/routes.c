/*
 * routes.c: the one route table of the HTTP API, sorted by (path, method).
 *
 * Lookup is a binary search on the path, then a scan of that path's
 * methods, so a known path with another method is a 405 (with Allow) and an
 * unknown path a 404. test_routes.c checks that the table is sorted, that
 * every handler is set, and that it equals the paths of docs/openapi.json
 * in both directions. OPTIONS preflights of CORS routes are answered by
 * server.c, not listed here.
 */
#include <stdio.h>
#include <string.h>

#include "server/server.h"

#define BODY CW_ROUTE_BODY
#define CORS CW_ROUTE_CORS

const struct cw_srv_route cw_srv_routes[] = {
    {"/", "GET", CW_AUTH_NONE, 0, cw_h_web},
    {"/dashboard/", "GET", CW_AUTH_NONE, 0, cw_h_web},
    {"/dashboard/dashboard.js", "GET", CW_AUTH_NONE, 0, cw_h_web},
    {"/demo/", "GET", CW_AUTH_NONE, 0, cw_h_web},
    {"/demo/demo.js", "GET", CW_AUTH_NONE, 0, cw_h_web},
    {"/livez", "GET", CW_AUTH_NONE, CW_ROUTE_NOLIMIT, cw_h_livez},
    {"/metrics", "GET", CW_AUTH_SECRET, 0, cw_h_metrics},
    {"/readyz", "GET", CW_AUTH_NONE, CW_ROUTE_NOLIMIT, cw_h_readyz},
    {"/v1/config", "GET", CW_AUTH_SECRET, 0, cw_h_config_get},
    {"/v1/config", "PUT", CW_AUTH_SECRET, BODY, cw_h_config_put},
    {"/v1/decide", "POST", CW_AUTH_PUBLIC, BODY | CORS, cw_h_decide},
    {"/v1/events", "POST", CW_AUTH_PUBLIC, BODY | CORS, cw_h_events},
    {"/v1/model", "GET", CW_AUTH_SECRET, 0, cw_h_model},
    {"/v1/openapi.json", "GET", CW_AUTH_NONE, 0, cw_h_openapi},
    {"/v1/orders", "POST", CW_AUTH_SECRET, BODY, cw_h_orders},
    {"/v1/products", "PUT", CW_AUTH_SECRET, BODY, cw_h_products},
    {"/v1/reports/experiment", "GET", CW_AUTH_SECRET, 0,
     cw_h_reports_experiment},
    {"/v1/reports/kpis", "GET", CW_AUTH_SECRET, 0, cw_h_reports_kpis},
    {"/v1/train", "POST", CW_AUTH_SECRET, CW_ROUTE_BODY_OPT, cw_h_train},
    {"/v1/webhooks/shopify/orders", "POST", CW_AUTH_HMAC, BODY,
     cw_h_webhook_shopify_orders},
    {"/web/style.css", "GET", CW_AUTH_NONE, 0, cw_h_web},
    {"/widget/cartwise.js", "GET", CW_AUTH_NONE, 0, cw_h_web},
};
const size_t cw_srv_nroutes = sizeof(cw_srv_routes) / sizeof(cw_srv_routes[0]);

long cw_srv_route_find(const char *path, const char *method, int *path_known,
                       char *allow, size_t allow_size)
{
    size_t lo = 0, hi = cw_srv_nroutes;
    *path_known = 0;
    if (allow_size)
        allow[0] = '\0';
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(cw_srv_routes[mid].path, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* lo: the first route of path, if any */
    size_t used = 0;
    for (size_t i = lo;
         i < cw_srv_nroutes && !strcmp(cw_srv_routes[i].path, path); i++) {
        *path_known = 1;
        if (!strcmp(cw_srv_routes[i].method, method))
            return (long)i;
        if (allow_size > used) {
            int n = snprintf(allow + used, allow_size - used, "%s%s",
                             used ? ", " : "", cw_srv_routes[i].method);
            if (n > 0)
                used += (size_t)n;
        }
    }
    /* HEAD is not served; CORS preflight is added by the caller */
    return -1;
}
