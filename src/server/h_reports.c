/*
 * h_reports.c: GET /v1/reports/kpis and GET /v1/reports/experiment,
 * secret key only.
 *
 * The same reports as `cartwise report kpis --json` and `cartwise report
 * experiment --json` (built by the app layer, src/app/reports.c), on the
 * store as it is now. A report scans whole tables, so each request opens
 * its own store handle (as the training thread does) instead of holding
 * the writers' lock. Query parameters: from and to (kpis, dates as
 * --from/--to take them), alpha (experiment, in (0, 0.5)); bad values are
 * 422 naming the parameter. No experiment configured is 404.
 */
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_kpi.h"
#include "cartwise/cw_store.h"
#include "server/server.h"

static const char *query(struct cw_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static int open_store(struct cw_req *r, struct cw_store **s)
{
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_store_open(s, r->srv->db, &err);
    if (rc < 0)
        cw_srv_reply_store_error(r, rc, "cannot open the store", &err);
    cw_buf_release(&err);
    return rc;
}

void cw_h_reports_kpis(struct cw_req *r)
{
    const char *from = query(r, "from"), *to = query(r, "to");
    const char *bad = NULL;
    int64_t t;
    if (from && cw_kpi_parse_ts(from, &t) < 0)
        bad = "from";
    else if (to && cw_kpi_parse_ts(to, &t) < 0)
        bad = "to";
    if (bad) {
        cw_srv_reply_fail(r, 422, "invalid_value", bad,
                          "%s wants a date YYYY-MM-DD[ HH:MM:SS]", bad);
        return;
    }
    if (from && to && strcmp(from, to) > 0) {
        cw_srv_reply_fail(r, 422, "invalid_value", "from", "from is after to");
        return;
    }
    struct cw_store *s = NULL;
    if (open_store(r, &s) < 0)
        return;
    struct cw_buf err = CW_BUF_INIT;
    cw_buf_reset(&r->out);
    int rc = cw_app_report_kpis(s, from, to, -1, &r->out, &err);
    cw_store_close(s);
    if (rc < 0) {
        cw_buf_reset(&r->out);
        cw_srv_reply_store_error(r, rc, "cannot build the KPI report", &err);
    } else {
        cw_srv_reply(r, 200);
    }
    cw_buf_release(&err);
}

void cw_h_reports_experiment(struct cw_req *r)
{
    const char *a = query(r, "alpha");
    double alpha = 0.05;
    if (a) {
        char *end;
        alpha = strtod(a, &end);
        if (!*a || *end || !(alpha > 0 && alpha < 0.5)) {
            cw_srv_reply_fail(r, 422, "invalid_value", "alpha",
                              "alpha wants a number in (0, 0.5)");
            return;
        }
    }
    struct cw_store *s = NULL;
    if (open_store(r, &s) < 0)
        return;
    struct cw_buf err = CW_BUF_INIT;
    cw_buf_reset(&r->out);
    int rc = cw_app_report_experiment(s, alpha, 0, &r->out, &err);
    cw_store_close(s);
    if (rc < 0) {
        cw_buf_reset(&r->out);
        if (rc == CW_ENOENT)
            cw_srv_reply_fail(r, 404, "not_found", NULL, "%s",
                              cw_buf_str(&err));
        else
            cw_srv_reply_store_error(r, rc,
                                     "cannot build the experiment "
                                     "report",
                                     &err);
    } else {
        cw_srv_reply(r, 200);
    }
    cw_buf_release(&err);
}
