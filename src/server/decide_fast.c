/*
 * decide_fast.c: POST /v1/decide's request, read without a JSON tree.
 *
 * Building a jansson tree for a decide body and walking it cost more than
 * the decision itself (a tree node and a hash entry per field, each its own
 * allocation). A body of the common shape is read here in one pass over a
 * copy of it in the request's arena: plain strings (no escapes, ASCII),
 * integers, null, the documented fields only, each at most once. Anything
 * else, an escape, a byte above 0x7f, a fraction or exponent, an unknown or
 * repeated field, a value out of range, malformed JSON, is declined, and
 * the caller reads the body the general way (cw_srv_json_load,
 * cw_srv_parse_decide, cw_srv_parse_decide_incentives), which gives the
 * answer or the precise error. So this path decides nothing on its own: on
 * every body it accepts it must give exactly what the general path gives,
 * which the fuzz target (fuzz/fuzz_decide.c) and tests/unit/test_decide_fast
 * check.
 */
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_decide.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_money.h"
#include "server/server.h"

#define INT_DIGITS 18 /* longer integers go the general way */

struct cur {
    char *p, *end;
};

enum vtype { V_NULL, V_INT, V_STR };

struct val {
    enum vtype type;
    int64_t i;
    const char *s;
    size_t n;
};

static void ws(struct cur *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* The next token is ch: consumed. */
static int eat(struct cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A plain string, terminated in place (its closing quote becomes NUL). */
static int plain_str(struct cur *c, const char **s, size_t *n)
{
    if (!eat(c, '"'))
        return 0;
    char *b = c->p;
    for (; c->p < c->end; c->p++) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            *n = (size_t)(c->p - b);
            *c->p++ = '\0';
            *s = b;
            return 1;
        }
        if (ch < 0x20 || ch >= 0x80 || ch == '\\')
            return 0;
    }
    return 0;
}

/* -?(0|[1-9][0-9]*) of at most INT_DIGITS digits, not followed by a
 * fraction or an exponent. */
static int integer(struct cur *c, int64_t *out)
{
    int neg = 0;
    if (c->p < c->end && *c->p == '-') {
        neg = 1;
        c->p++;
    }
    char *b = c->p;
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (c->p - b == INT_DIGITS)
            return 0;
        v = v * 10 + (*c->p++ - '0');
    }
    size_t n = (size_t)(c->p - b);
    if (n == 0 || (n > 1 && *b == '0'))
        return 0;
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return 0;
    *out = neg ? -v : v;
    return 1;
}

/* A scalar: null, an integer or a plain string. */
static int scalar(struct cur *c, struct val *v)
{
    ws(c);
    if (c->p >= c->end)
        return 0;
    char ch = *c->p;
    if (ch == '"') {
        v->type = V_STR;
        return plain_str(c, &v->s, &v->n);
    }
    if (ch == 'n') {
        if (c->end - c->p < 4 || memcmp(c->p, "null", 4))
            return 0;
        c->p += 4;
        v->type = V_NULL;
        return 1;
    }
    v->type = V_INT;
    return integer(c, &v->i);
}

/* An integer in [min, max] or null (dflt). */
static int int_in(const struct val *v, int64_t min, int64_t max, int64_t dflt,
                  int64_t *out)
{
    if (v->type == V_NULL) {
        *out = dflt;
        return 1;
    }
    if (v->type != V_INT || v->i < min || v->i > max)
        return 0;
    *out = v->i;
    return 1;
}

/* An optional string of at most max bytes: null and "" give NULL. */
static int opt_str(const struct val *v, size_t max, const char **out)
{
    *out = NULL;
    if (v->type == V_NULL)
        return 1;
    if (v->type != V_STR || v->n > max)
        return 0;
    *out = v->n ? v->s : NULL;
    return 1;
}

/* The key of the next member (after '{' or ','), and its ':'. Returns the
 * index of key in names, or -1. */
static int member(struct cur *c, const char *const *names, int n)
{
    const char *k;
    size_t kn;
    if (!plain_str(c, &k, &kn) || !eat(c, ':'))
        return -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(k, names[i]))
            return i;
    return -1;
}

/* After a member: ',' (1, more follow), '}' (0, the object ends), else -1. */
static int next(struct cur *c)
{
    if (eat(c, ','))
        return 1;
    return eat(c, '}') ? 0 : -1;
}

enum { L_SKU, L_VARIANT, L_QTY, L_PRICE, L_N };

static int cart_line(struct cur *c, struct cw_cart_line *l,
                     const char **variant)
{
    static const char *const names[L_N] = {"sku", "variant", "qty", "price"};
    unsigned seen = 0;
    struct val v;
    int64_t qty = 1, price = CW_MONEY_UNKNOWN;
    const char *sku = NULL;
    *variant = NULL;
    if (!eat(c, '{'))
        return 0;
    for (int more = 1; more;) {
        int f = member(c, names, L_N);
        if (f < 0 || (seen & (1u << f)) || !scalar(c, &v))
            return 0;
        seen |= 1u << f;
        int ok = 0;
        switch (f) {
        case L_SKU:
            ok = v.type == V_STR && v.n > 0 && v.n <= CW_SRV_ID_MAX;
            sku = v.s;
            break;
        case L_VARIANT:
            ok = opt_str(&v, CW_SRV_ID_MAX, variant);
            break;
        case L_QTY:
            ok = int_in(&v, 1, 100000, 1, &qty);
            break;
        case L_PRICE:
            ok = int_in(&v, 0, CW_SRV_MONEY_MAX, CW_MONEY_UNKNOWN, &price);
            break;
        }
        if (!ok || (more = next(c)) < 0)
            return 0;
    }
    if (!sku)
        return 0;
    l->sku = sku;
    l->qty = qty;
    l->price = price;
    return 1;
}

static int cart(struct cur *c, struct cw_srv_decide *q)
{
    if (!eat(c, '['))
        return 0;
    size_t n = 0;
    for (int more = 1; more; n++) {
        if (n == CW_CART_MAX || !cart_line(c, &q->lines[n], &q->variant[n]))
            return 0;
        if (eat(c, ','))
            continue;
        if (!eat(c, ']'))
            return 0;
        more = 0;
    }
    q->n_lines = n;
    return 1;
}

enum { X_VIEWS, X_SECONDS, X_DEVICE, X_N };

static int context(struct cur *c, struct cw_incentive_session *is)
{
    static const char *const names[X_N] = {"cart_views", "seconds_on_cart",
                                           "device"};
    ws(c);
    if (c->p < c->end && *c->p == 'n') {
        struct val v;
        return scalar(c, &v); /* null: no context */
    }
    if (!eat(c, '{'))
        return 0;
    if (eat(c, '}'))
        return 1;
    unsigned seen = 0;
    struct val v;
    int64_t x = 0;
    for (int more = 1; more;) {
        int f = member(c, names, X_N);
        if (f < 0 || (seen & (1u << f)) || !scalar(c, &v))
            return 0;
        seen |= 1u << f;
        int ok = 0;
        switch (f) {
        case X_VIEWS:
            ok = int_in(&v, 0, 1000000, -1, &x);
            is->cart_views = (int)x;
            break;
        case X_SECONDS:
            ok = int_in(&v, 0, 100000000, -1, &x);
            is->seconds_on_cart = x;
            break;
        case X_DEVICE:
            if (v.type == V_NULL) {
                ok = 1;
            } else if (v.type == V_STR) {
                ok = !strcmp(v.s, "mobile") || !strcmp(v.s, "desktop") ||
                     !strcmp(v.s, "tablet");
                is->mobile = !strcmp(v.s, "mobile");
            }
            break;
        }
        if (!ok || (more = next(c)) < 0)
            return 0;
    }
    return 1;
}

enum {
    F_SESSION,
    F_CUSTOMER,
    F_PLACEMENT,
    F_K,
    F_CART,
    F_COUPON,
    F_CONTEXT,
    F_CART_ORDER,
    F_N
};

static int placement(const struct val *v, enum cw_placement *out)
{
    const char *s;
    if (!opt_str(v, 16, &s))
        return 0;
    if (!s || !strcmp(s, "cart"))
        *out = CW_PLACE_CART;
    else if (!strcmp(s, "product"))
        *out = CW_PLACE_PRODUCT;
    else if (!strcmp(s, "checkout"))
        *out = CW_PLACE_CHECKOUT;
    else
        return 0;
    return 1;
}

static int cart_order(const struct val *v, int *newest_first)
{
    const char *s;
    if (!opt_str(v, 16, &s))
        return 0;
    *newest_first = s && !strcmp(s, "newest_first");
    return !s || *newest_first || !strcmp(s, "oldest_first");
}

/* customer_id: a string, or an integer written as cw_srv_parse_decide
 * writes it. */
static int customer(const struct val *v, struct cw_srv_decide *q)
{
    if (v->type != V_INT)
        return opt_str(v, CW_SRV_ID_MAX, &q->customer_id);
    snprintf(q->customer_buf, sizeof(q->customer_buf), "%lld", (long long)v->i);
    q->customer_id = q->customer_buf;
    return 1;
}

int cw_srv_decide_fast(const char *body, size_t len, struct cw_srv_arena *a,
                       struct cw_srv_decide *q, struct cw_incentive_session *is)
{
    static const char *const names[F_N] = {
        "session_id", "customer_id", "placement", "k",
        "cart",       "coupon",      "context",   "cart_order"};
    char *copy = cw_srv_arena_alloc(a, len + 1);
    memcpy(copy, body, len);
    copy[len] = '\0';
    struct cur c = {copy, copy + len};
    cw_srv_incentive_session_init(is);
    q->session_id = NULL;
    q->customer_id = NULL;
    q->placement = CW_PLACE_CART;
    q->k = CW_DECIDE_MAX;
    q->newest_first = 0;
    q->n_lines = 0;
    unsigned seen = 0;
    if (!eat(&c, '{'))
        return 0;
    for (int more = 1; more;) {
        int f = member(&c, names, F_N);
        if (f < 0 || (seen & (1u << f)))
            return 0;
        seen |= 1u << f;
        int ok;
        struct val v;
        int64_t x = 0;
        if (f == F_CART) {
            ok = cart(&c, q);
        } else if (f == F_CONTEXT) {
            ok = context(&c, is);
        } else if (!scalar(&c, &v)) {
            ok = 0;
        } else if (f == F_SESSION) {
            ok = v.type == V_STR && v.n > 0 && v.n <= CW_SRV_ID_MAX;
            q->session_id = v.s;
        } else if (f == F_CUSTOMER) {
            ok = customer(&v, q);
        } else if (f == F_PLACEMENT) {
            ok = placement(&v, &q->placement);
        } else if (f == F_K) {
            ok = int_in(&v, 1, CW_DECIDE_MAX, CW_DECIDE_MAX, &x);
            q->k = (unsigned)x;
        } else if (f == F_CART_ORDER) {
            ok = cart_order(&v, &q->newest_first);
        } else {
            ok = int_in(&v, 0, CW_PRICE_MAX, 0, &x);
            is->coupon = x;
        }
        if (!ok || (more = next(&c)) < 0)
            return 0;
    }
    ws(&c);
    return c.p == c.end && q->session_id && q->n_lines > 0;
}
