/*
 * decide_target.h: the one function both fuzz/fuzz_decide.c (libFuzzer)
 * and fuzz/replay.c (ctest) run: a request body through the exact parsing
 * POST /v1/decide does, both ways: the general one (JSON text -> jansson
 * -> struct cw_srv_decide and the incentives' session signals) and the
 * fast one (cw_srv_decide_fast, no tree). Every result of the general way
 * must be an answer (0, or -1 with a well-formed error): never a crash, a
 * leak or a read out of bounds. The fast way may decline any body; a body
 * it accepts, the general way must accept too, with the same result field
 * by field.
 */
#ifndef CW_FUZZ_DECIDE_TARGET_H
#define CW_FUZZ_DECIDE_TARGET_H

#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static int cw_fuzz_same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int cw_fuzz_decide_one(const unsigned char *data, size_t size)
{
    /* large: not on the stack */
    static struct cw_srv_decide q, f;
    struct cw_incentive_session qs, fs;
    struct cw_srv_error e;
    json_t *root;
    memset(&e, 0, sizeof(e));
    struct cw_srv_arena a;
    cw_srv_arena_init(&a);
    int fast = cw_srv_decide_fast((const char *)data, size, &a, &f, &fs);
    int ok = 0;
    if (cw_srv_json_load((const char *)data, size, &root, &e) < 0) {
        if (e.status != 400 || !e.code || !e.message[0])
            abort();
        root = NULL;
    } else if (cw_srv_parse_decide(root, &q, &e) < 0 ||
               cw_srv_parse_decide_incentives(root, &qs, &e) < 0) {
        if ((e.status != 422 && e.status != 400) || !e.code || !e.message[0])
            abort();
    } else {
        ok = 1;
        if (!q.session_id || !q.n_lines || q.n_lines > CW_CART_MAX || q.k < 1 ||
            q.k > CW_DECIDE_MAX)
            abort();
        for (size_t i = 0; i < q.n_lines; i++)
            if (!q.lines[i].sku || q.lines[i].qty < 1 ||
                strlen(q.lines[i].sku) > CW_SRV_ID_MAX)
                abort();
    }
    if (fast) {
        if (!ok || !cw_fuzz_same_str(f.session_id, q.session_id) ||
            !cw_fuzz_same_str(f.customer_id, q.customer_id) ||
            f.placement != q.placement || f.k != q.k ||
            f.newest_first != q.newest_first || f.n_lines != q.n_lines ||
            fs.cart_views != qs.cart_views ||
            fs.seconds_on_cart != qs.seconds_on_cart ||
            fs.mobile != qs.mobile || fs.coupon != qs.coupon ||
            fs.session_id != qs.session_id)
            abort();
        for (size_t i = 0; i < q.n_lines; i++)
            if (strcmp(f.lines[i].sku, q.lines[i].sku) ||
                f.lines[i].qty != q.lines[i].qty ||
                f.lines[i].price != q.lines[i].price ||
                !cw_fuzz_same_str(f.variant[i], q.variant[i]))
                abort();
    }
    json_decref(root);
    cw_srv_arena_release(&a);
    return fast;
}

#endif
