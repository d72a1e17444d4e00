/*
 * decide_target.h: the one function both fuzz/fuzz_decide.c (libFuzzer)
 * and fuzz/replay.c (ctest) run: a request body through the exact parsing
 * POST /v1/decide does (JSON text -> jansson -> struct cw_srv_decide).
 * Every result must be an answer (0, or -1 with a well-formed error):
 * never a crash, a leak or a read out of bounds.
 */
#ifndef CW_FUZZ_DECIDE_TARGET_H
#define CW_FUZZ_DECIDE_TARGET_H

#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static int cw_fuzz_decide_one(const unsigned char *data, size_t size)
{
    static struct cw_srv_decide q; /* large: not on the stack */
    struct cw_srv_error e;
    json_t *root;
    memset(&e, 0, sizeof(e));
    if (cw_srv_json_load((const char *)data, size, &root, &e) < 0) {
        if (e.status != 400 || !e.code || !e.message[0])
            abort();
        return 0;
    }
    int rc = cw_srv_parse_decide(root, &q, &e);
    if (rc < 0) {
        if ((e.status != 422 && e.status != 400) || !e.code || !e.message[0])
            abort();
    } else {
        if (!q.session_id || !q.n_lines || q.n_lines > CW_CART_MAX || q.k < 1 ||
            q.k > CW_DECIDE_MAX)
            abort();
        for (size_t i = 0; i < q.n_lines; i++)
            if (!q.lines[i].sku || q.lines[i].qty < 1 ||
                strlen(q.lines[i].sku) > CW_SRV_ID_MAX)
                abort();
    }
    json_decref(root);
    return 0;
}

#endif
