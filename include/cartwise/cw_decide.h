/*
 * cw_decide.h: the decision pipeline of DESIGN.md section 4.
 *
 * The one function the CLI, the evaluator and the HTTP server call. Pure:
 * it reads the model and the request, writes into the caller's decision and
 * scratch, and allocates nothing on the hot path. A scratch is per thread.
 */
#ifndef CW_DECIDE_H
#define CW_DECIDE_H

#include <stddef.h>
#include <stdint.h>

struct cw_buf;
struct cw_model;
struct cw_scratch;

#define CW_DECIDE_MAX 3   /* add-ons per decision */
#define CW_CART_MAX 250   /* cart lines per request */
#define CW_REASON_MAX 240 /* bytes of a reason sentence */
/* Bounds of a cart line, so that a cart's value (CW_CART_MAX lines) always
 * fits int64 minor units. */
#define CW_QTY_MAX 1000000
#define CW_PRICE_MAX 10000000000LL

enum cw_placement {
    CW_PLACE_PRODUCT,
    CW_PLACE_CART,
    CW_PLACE_CHECKOUT,
};

struct cw_cart_line {
    const char *sku;
    int64_t qty;   /* > 0 */
    int64_t price; /* unit price, minor units; CW_MONEY_UNKNOWN: model's */
};

enum cw_decide_flag {
    CW_DECIDE_FILL = 1u << 0,          /* always return k when possible
                                          (evaluation), floor ignored */
    CW_DECIDE_ACCURACY_ONLY = 1u << 1, /* rank by P(accept) alone */
    CW_DECIDE_NEWEST_FIRST = 1u << 2,  /* the cart's lines come newest
                                          first (Shopify's cart does, since
                                          API 2023-10); else oldest first */
};

struct cw_decide_req {
    const struct cw_cart_line *lines;
    size_t n_lines;
    const char *customer; /* NULL: anonymous */
    enum cw_placement placement;
    unsigned k;     /* 1..CW_DECIDE_MAX; 0 means CW_DECIDE_MAX */
    unsigned flags; /* enum cw_decide_flag */
};

/* X(enum suffix, "code") */
#define CW_REASONS(X)                                                          \
    X(PAIRS_WITH, "pairs_with")                                                \
    X(BOUGHT_BEFORE, "bought_before")                                          \
    X(POPULAR, "popular")

enum cw_reason {
#define CW__REASON_ENUM(e, code) CW_REASON_##e,
    CW_REASONS(CW__REASON_ENUM)
#undef CW__REASON_ENUM
};
const char *cw_reason_code(enum cw_reason r);

struct cw_addon {
    uint32_t item;          /* recommended item (the group's candidate) */
    uint32_t variant;       /* pre-selected variant (an item of its group) */
    double p_accept;        /* calibrated probability the shopper adds it */
    int64_t unit_margin;    /* minor units, of the variant */
    double expected_profit; /* p_accept * margin * (1 - return rate) */
    int margin_assumed;     /* the margin used the default rate */
    enum cw_reason reason;
    uint32_t evidence_item; /* cart item behind PAIRS_WITH */
    double evidence_share;  /* share of evidence-item orders with this */
    char text[CW_REASON_MAX];
};

struct cw_decision {
    struct cw_addon addons[CW_DECIDE_MAX];
    size_t n_addons;
    size_t unknown[CW_CART_MAX]; /* indexes of request lines not known */
    size_t n_unknown;
    int64_t cart_value; /* minor units over known lines */
    int known_customer; /* customer found in the model */
};

/* Per-thread working memory sized for m. */
struct cw_scratch *cw_scratch_new(const struct cw_model *m);
void cw_scratch_free(struct cw_scratch *s); /* NULL is harmless */

/* Decides for req. Returns 0, or CW_EINVAL (qty or price out of bounds,
 * bad k, NULL sku) /
 * CW_ETOOBIG (more than CW_CART_MAX lines) with the field named in err.
 * Unknown SKUs are not an error: they are listed in out->unknown. */
int cw_decide(const struct cw_model *m, struct cw_scratch *s,
              const struct cw_decide_req *req, struct cw_decision *out,
              struct cw_buf *err);

#endif
