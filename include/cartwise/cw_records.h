/*
 * cw_records.h: the plain records that flow from importers and the API into
 * the store, and from the store into training.
 *
 * Strings are borrowed (valid for the duration of the call that receives the
 * record); money is minor units, CW_MONEY_UNKNOWN where unknown; -1 marks an
 * unknown integer (inventory untracked, tier level unset).
 */
#ifndef CW_RECORDS_H
#define CW_RECORDS_H

#include <stdint.h>

enum cw_product_flag {
    CW_FLAG_SIMPLE_VARIANTS = 1u << 0, /* one-click add without choosing */
    CW_FLAG_ACCESSORY = 1u << 1,
    CW_FLAG_CONSUMABLE = 1u << 2,
    CW_FLAG_PROTECTION = 1u << 3, /* prevents returns of what it protects */
    CW_FLAG_INACTIVE = 1u << 4,   /* draft/archived: never recommended */
};

struct cw_product_rec {
    const char *sku;        /* required, unique */
    const char *group;      /* product the variant belongs to; NULL: sku */
    const char *title;      /* may be NULL */
    const char *category;   /* path, '>'-separated; may be NULL */
    const char *currency;   /* ISO-4217; NULL: store default */
    const char *attributes; /* "size=M;color=red"; may be NULL */
    const char *tier_group; /* good/better/best group; may be NULL */
    int64_t price;          /* minor units; CW_MONEY_UNKNOWN */
    int64_t cost;           /* minor units; CW_MONEY_UNKNOWN */
    int64_t inventory;      /* units; -1: untracked */
    unsigned flags;         /* enum cw_product_flag */
    int tier_level;         /* 1 good, 2 better, 3 best; 0 none */
    int pack_size;          /* units per pack; 1 default */
};

struct cw_order_rec {
    const char *id;       /* required, unique per store */
    const char *customer; /* NULL: guest */
    const char *ts;       /* "YYYY-MM-DD HH:MM:SS" (UTC or store-local) */
    const char *currency; /* NULL: store default */
    int64_t shipping;     /* shipping paid; 0 if unknown */
    int64_t discount;     /* order-level discount total */
};

struct cw_line_rec {
    const char *order_id;
    int line_no; /* position in the source, stable across re-imports */
    const char *sku;
    int64_t qty;        /* > 0 */
    int64_t unit_price; /* minor units */
    int64_t unit_cost;  /* CW_MONEY_UNKNOWN if not given */
    int64_t discount;   /* line discount total */
};

struct cw_return_rec {
    const char *id;       /* unique: re-imports add nothing twice */
    const char *order_id; /* order returned from; may be NULL (UCI) */
    const char *customer; /* may be NULL */
    const char *sku;
    const char *ts;
    int64_t qty;    /* units returned, > 0 */
    int64_t amount; /* money refunded, minor units, >= 0 */
};

/* A storefront event (DESIGN.md section 3). Idempotent by id. */
#define CW_EVENT_TYPES(X)                                                      \
    X(ADD_TO_CART, "add_to_cart")                                              \
    X(CART_VIEW, "cart_view")                                                  \
    X(CHECKOUT_START, "checkout_start")                                        \
    X(CHECKOUT_STEP, "checkout_step")                                          \
    X(CLICK, "click")                                                          \
    X(IMPRESSION, "impression")                                                \
    X(OFFER_ACCEPT, "offer_accept")                                            \
    X(PURCHASE, "purchase")                                                    \
    X(REMOVE_FROM_CART, "remove_from_cart")                                    \
    X(SEARCH, "search")                                                        \
    X(VIEW, "view")

enum cw_event_type {
#define CW__EVENT_ENUM(e, name) CW_EVENT_##e,
    CW_EVENT_TYPES(CW__EVENT_ENUM)
#undef CW__EVENT_ENUM
        CW_EVENT__COUNT
};

struct cw_event_rec {
    const char *id;          /* required, unique: replays add nothing */
    const char *type;        /* one of CW_EVENT_TYPES' names */
    const char *session;     /* required */
    const char *customer;    /* NULL: anonymous */
    const char *ts;          /* ISO-8601 */
    const char *sku;         /* the product concerned; may be NULL */
    const char *decision_id; /* decision that showed it; may be NULL */
    const char *placement;   /* product|cart|checkout; may be NULL */
    const char *reason;      /* reason code of a shown add-on; may be NULL */
    const char *order_id;    /* purchase: the order; may be NULL */
    int64_t value;           /* purchase: order value; offer: discount; minor */
    int64_t profit;          /* purchase: order margin if known, else
                                CW_MONEY_UNKNOWN */
    const char *payload;     /* the whole event as JSON text; may be NULL */
};

/* One logged decision: what was shown, to whom, in which arm. */
struct cw_decision_rec {
    const char *id; /* unique */
    const char *session;
    const char *customer;   /* may be NULL */
    const char *experiment; /* may be NULL: no experiment running */
    const char *arm;        /* arm name; "none" without experiment */
    const char *placement;
    const char *ts;
    int64_t model_version;
    int64_t cart_value;     /* minor units */
    const char *shown;      /* JSON array: [{sku, p, propensity, reason}] */
    const char *request;    /* JSON text, may be NULL (the server logs the
                               decision's input in normal form) */
    const char *incentives; /* JSON object of the incentives shown
                               (cw_app_incentives_shown); NULL: none */
};

/* A request made with an Idempotency-Key and its first answer. */
struct cw_idem_rec {
    const char *key_id; /* the API key's id: keys never share entries */
    const char *idem_key;
    const char *method, *path;
    const char *request_hash; /* of the body: a reuse with another body is
                                 refused */
    int status;               /* 0 while the first request runs */
    const char *content_type; /* NULL: application/json */
    const char *body;
    const char *created_at; /* ISO-8601 UTC */
};

/* An API key, stored hashed: hash = hex HMAC-SHA256(server pepper, key). */
struct cw_key_rec {
    const char *id;   /* public prefix shown in logs, e.g. pk_live_ab12 */
    const char *kind; /* "public" or "secret" */
    const char *hash;
    const char *created_at;
    const char *origins; /* public keys: allowed CORS origins, space
                            separated; may be NULL */
    int revoked;
};

#endif
