/*
 * h_decide.c: POST /v1/decide, the hot path.
 *
 * Read the body into the thread's fixed request struct (the common shape
 * without a JSON tree, decide_fast.c; anything else with jansson), take a
 * reference to the current model, run cw_decide with the thread's scratch,
 * write the answer with cw_buf (no JSON tree), queue the decision for the log
 * and answer. Nothing here touches the store or takes a lock held by anything
 * slow: the model reference is one short mutex hold, the decision log one
 * queue push. A cart line's variant is what the model scores when the model
 * knows it, else its sku; unknown SKUs are listed in the answer. When an
 * experiment runs (meta "experiment"), the shopper's arm decides how the
 * engine ranks and whether a holdout shopper sees any add-on; the arm goes
 * into the answer and the decision log ("none" without an experiment).
 * With an incentive configuration in force the answer also carries the
 * incentives (docs/incentives.md): the holdout arm gets the store's static
 * ones only; the decision log keeps a compact record of them.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "server/server.h"

static const char *placement_name(enum cw_placement p)
{
    switch (p) {
    case CW_PLACE_PRODUCT:
        return "product";
    case CW_PLACE_CART:
        return "cart";
    case CW_PLACE_CHECKOUT:
        return "checkout";
    }
    return "cart";
}

/* The decision log's "shown": [{sku, variant_sku, p, propensity, reason,
 * expected_profit}] (the policy is deterministic: propensity 1). */
static void shown_json(struct cw_buf *b, const struct cw_model *m,
                       const struct cw_decision *d)
{
    cw_buf_reset(b);
    cw_buf_addch(b, '[');
    for (size_t i = 0; i < d->n_addons; i++) {
        const struct cw_addon *a = &d->addons[i];
        cw_buf_adds(b, i ? ",{\"sku\":" : "{\"sku\":");
        cw_buf_add_json_str(b, cw_model_sku(m, a->item));
        cw_buf_adds(b, ",\"variant_sku\":");
        cw_buf_add_json_str(b, cw_model_sku(m, a->variant));
        cw_buf_adds(b, ",\"p\":");
        cw_app_add_fixed(b, a->p_accept, 6);
        cw_buf_adds(b, ",\"propensity\":1,\"reason\":\"");
        cw_buf_adds(b, cw_reason_code(a->reason));
        cw_buf_adds(b, "\",\"expected_profit\":");
        cw_app_add_i64(b, (int64_t)llround(a->expected_profit));
        cw_buf_addch(b, '}');
    }
    cw_buf_addch(b, ']');
}

/* The decision log's "request": what the decision was made from, in a
 * compact normal form (about a third of the body's bytes: the log is what
 * limits a busy server): {"k":K,"cart":[[sku,qty,price|null,variant?],...]}
 * with "coupon" and "context" when given. Session, customer and placement
 * are columns of their own. */
static void request_json(struct cw_buf *b, const struct cw_srv_decide *q,
                         const char *const *sku,
                         const struct cw_incentive_session *is)
{
    cw_buf_reset(b);
    cw_buf_adds(b, "{\"k\":");
    cw_app_add_i64(b, q->k);
    cw_buf_adds(b, ",\"cart\":[");
    for (size_t i = 0; i < q->n_lines; i++) {
        const struct cw_cart_line *l = &q->lines[i];
        cw_buf_adds(b, i ? ",[" : "[");
        cw_buf_add_json_str(b, sku[i]);
        cw_buf_addch(b, ',');
        cw_app_add_i64(b, l->qty);
        if (l->price != CW_MONEY_UNKNOWN || q->variant[i]) {
            cw_buf_addch(b, ',');
            if (l->price != CW_MONEY_UNKNOWN)
                cw_app_add_i64(b, l->price);
            else
                cw_buf_adds(b, "null");
        }
        if (q->variant[i]) {
            cw_buf_addch(b, ',');
            cw_buf_add_json_str(b, q->variant[i]);
        }
        cw_buf_addch(b, ']');
    }
    cw_buf_addch(b, ']');
    if (is->coupon) {
        cw_buf_adds(b, ",\"coupon\":");
        cw_app_add_i64(b, is->coupon);
    }
    if (is->cart_views >= 0 || is->seconds_on_cart >= 0 || is->mobile >= 0) {
        cw_buf_adds(b, ",\"context\":{\"cart_views\":");
        if (is->cart_views >= 0)
            cw_app_add_i64(b, is->cart_views);
        else
            cw_buf_adds(b, "null");
        cw_buf_adds(b, ",\"seconds_on_cart\":");
        if (is->seconds_on_cart >= 0)
            cw_app_add_i64(b, is->seconds_on_cart);
        else
            cw_buf_adds(b, "null");
        cw_buf_adds(b, ",\"mobile\":");
        cw_buf_adds(b, is->mobile < 0 ? "null" : is->mobile ? "true" : "false");
        cw_buf_addch(b, '}');
    }
    cw_buf_addch(b, '}');
}

void cw_h_decide(struct cw_req *r)
{
    struct cw_srv *srv = r->srv;
    struct cw_srv_thread *th = r->th;
    struct cw_srv_error e;
    struct cw_srv_decide *q = &th->dreq;
    struct cw_incentive_session isess;
    json_t *root = NULL; /* the general way only */
    if (!cw_srv_decide_fast(r->body.buf, r->body.len, &r->arena, q, &isess)) {
        if (cw_srv_json_load(r->body.buf, r->body.len, &root, &e) < 0) {
            cw_srv_reply_error(r, &e);
            return;
        }
        if (cw_srv_parse_decide(root, q, &e) < 0 ||
            cw_srv_parse_decide_incentives(root, &isess, &e) < 0) {
            json_decref(root);
            cw_srv_reply_error(r, &e);
            return;
        }
    }
    struct cw_srv_model *sm = cw_srv_model_get(&srv->holder);
    if (!sm) {
        json_decref(root);
        r->retry_after = 5;
        cw_srv_reply_fail(r, 503, "model_not_ready", NULL,
                          "no model is loaded yet: train one (POST "
                          "/v1/train)");
        return;
    }
    const struct cw_model *m = &sm->am.m;
    const char *sku[CW_CART_MAX]; /* the lines' own, for the log */
    for (size_t i = 0; i < q->n_lines; i++) {
        sku[i] = q->lines[i].sku;
        if (q->variant[i] && cw_model_find_sku(m, q->variant[i]) >= 0)
            q->lines[i].sku = q->variant[i];
    }

    /* the experiment arm: deterministic per unit, nothing stored */
    const struct cw_experiment *exp = cw_srv_experiment(srv, th);
    const struct cw_arm *a =
        exp ? cw_experiment_assign(exp, q->customer_id, q->session_id, NULL)
            : NULL;
    const char *experiment = a ? exp->id : NULL;
    const char *arm = a ? a->name : "none";

    unsigned flags = (a ? cw_arm_decide_flags(a) : 0u) |
                     (q->newest_first ? CW_DECIDE_NEWEST_FIRST : 0u);
    struct cw_decide_req req = {q->lines,     q->n_lines, q->customer_id,
                                q->placement, q->k,       flags};
    struct cw_decision *d = &th->decision;
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_decide(m, cw_srv_scratch(th, sm), &req, d, &err);
    if (rc < 0) {
        cw_srv_reply_fail(
            r, rc == CW_EINVAL || rc == CW_ETOOBIG ? 422 : 500,
            rc == CW_EINVAL || rc == CW_ETOOBIG ? "invalid_value"
                                                : "internal_error",
            NULL, "%s", err.len ? cw_buf_str(&err) : cw_strerror(rc));
        cw_buf_release(&err);
        cw_srv_model_put(sm);
        json_decref(root);
        return;
    }
    cw_buf_release(&err);
    if (a && !cw_arm_shows_addons(a))
        d->n_addons = 0; /* holdout: the cart as it is, no cross-sells */

    /* incentives: priced cart, progress, threshold, offers */
    struct cw_srv_inc *inc = cw_srv_incentives_get(srv);
    struct cw_incentive_result *res = NULL;
    if (inc) {
        res = cw_srv_arena_alloc(&r->arena, sizeof(*res));
        isess.session_id = q->session_id;
        struct cw_incentive_req ir = {
            .cfg = &inc->cfg,
            .stats = inc->have_stats ? &inc->stats : NULL,
            .state = srv->inc_state,
            .session = isess,
            .now = (int64_t)time(NULL),
            .holdout = a && a->kind == CW_ARM_HOLDOUT};
        if (cw_incentive_apply(m, &req, d, &ir, res, &err) < 0) {
            /* a configuration the model cannot honour (its currency):
             * the decision goes out without incentives, and the log says
             * why */
            cw_srv_log("warn", "incentives not applied", cw_buf_str(&err),
                       NULL);
            res = NULL;
        }
        cw_buf_release(&err);
    }

    char id[48], ts[40];
    cw_srv_sortable_id(th, "dec_", id, sizeof(id));
    cw_srv_now_iso(ts, sizeof(ts), 1);
    struct cw_buf *b = &r->out;
    cw_buf_reset(b);
    cw_buf_adds(b, "{\"decision_id\":\"");
    cw_buf_adds(b, id);
    cw_buf_adds(b, "\",\"model_version\":");
    cw_app_add_i64(b, sm->am.info.version);
    cw_buf_adds(b, ",\"placement\":\"");
    cw_buf_adds(b, placement_name(q->placement));
    cw_buf_adds(b, "\",");
    cw_app_decision_json_inc(b, m, d, q->lines, q->customer_id,
                             res ? &inc->cfg : NULL, res);
    cw_buf_adds(b, ",\"experiment\":");
    if (experiment) {
        cw_buf_adds(b, "{\"id\":");
        cw_buf_add_json_str(b, experiment);
        cw_buf_adds(b, ",\"arm\":");
        cw_buf_add_json_str(b, arm);
        cw_buf_addch(b, '}');
    } else {
        cw_buf_adds(b, "null");
    }
    cw_buf_addch(b, '}');

    shown_json(&th->tmp, m, d);
    request_json(&th->req_log, q, sku, &isess);
    struct cw_buf *incl = &th->inc_log;
    cw_buf_reset(incl);
    if (res)
        cw_app_incentives_shown(incl, m, res);
    struct cw_decision_rec rec = {
        .id = id,
        .session = q->session_id,
        .customer = q->customer_id,
        .experiment = experiment,
        .arm = arm,
        .placement = placement_name(q->placement),
        .ts = ts,
        .model_version = sm->am.info.version,
        .cart_value = d->cart_value,
        .shown = cw_buf_str(&th->tmp),
        .request = cw_buf_str(&th->req_log),
        .incentives = res ? cw_buf_str(incl) : NULL,
    };
    cw_srv_declog_push(srv, &rec);
    atomic_fetch_add_explicit(&srv->ctr.decisions, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&srv->ctr.addons_shown, d->n_addons,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&srv->ctr.decide_unknown_skus, d->n_unknown,
                              memory_order_relaxed);
    cw_srv_incentives_put(inc);
    cw_srv_model_put(sm);
    json_decref(root);
    cw_srv_reply(r, 200);
}
