/*
 * cw_incentive.h: incentives (DESIGN.md section 6), applied after cw_decide.
 *
 * A merchant configuration (plain data: reward tiers, personalized threshold
 * rungs, discount guardrails, frequency caps, quantity breaks, good/better/
 * best groups) turns a cart and a decision into what a checkout must charge
 * and what the shopper is offered: the priced cart with every reward and
 * discount applied in integer minor units, progress toward the next tier,
 * the personalized threshold and why, at most one targeted discount, at most
 * one quantity-break bundle and at most one upgrade. Every choice is made by
 * expected profit within the configured guardrails. Prices are recomputed
 * from the cart on every call, so a reward never outlives the condition that
 * earned it (a coupon or a quantity drop that takes the cart below a tier
 * takes the tier away).
 *
 * Rounding: a percentage p of an amount A is A * p rounded half away from
 * zero to the minor unit, computed exactly in integers; an order-level
 * discount is split over the lines it applies to by largest remainder, so
 * the lines always sum to the order's totals. Amounts are before tax.
 *
 * Runtime state (daily budget with pacing, per-customer discount caps,
 * per-session frequency caps, the session's chosen threshold and discount)
 * lives in a struct cw_incentive_state the caller owns; one may be shared by
 * any number of threads. The budget is a single C11 atomic word, so the sum
 * of reserved discounts never exceeds the budget however many requests race.
 * A state may draw its budget from an allowance (the server's: the store's
 * daily total, shared by restarts and nodes), leased in chunks.
 *
 * Learned inputs (the store-wide order-value distribution, the abandonment
 * propensity model, the discount uplift) come in struct cw_incentive_stats,
 * computed at training time by the application layer; without them the
 * configured priors are used and the result says so.
 */
#ifndef CW_INCENTIVE_H
#define CW_INCENTIVE_H

#include <stddef.h>
#include <stdint.h>

#include "cw_decide.h"

struct cw_buf;
struct cw_model;
struct cw_incentive_session;

#define CW_INC_TIERS_MAX 8
#define CW_INC_RUNGS_MAX 16
#define CW_INC_SKU_MAX 64 /* bytes of a SKU or name, NUL included */
#define CW_INC_BUNDLES_MAX 64
#define CW_INC_BUNDLE_SKUS_MAX 16
#define CW_INC_BREAKS_MAX 8
#define CW_INC_GROUPS_MAX 128
#define CW_INC_GROUP_SKUS_MAX 5 /* levels of a good/better/best group */
#define CW_INC_QUANTILES 21     /* order-value quantiles 0%, 5%, ..., 100% */
#define CW_INC_TEXT_MAX 240
#define CW_INC_BREAK_QTY_MAX 1000
#define CW_INC_BUDGET_MAX ((1LL << 44) - 1) /* minor units per day */

/* X(enum suffix, "name") */
#define CW_REWARDS(X)                                                          \
    X(FREE_SHIPPING, "free_shipping")                                          \
    X(EXPRESS_SHIPPING, "express_shipping")                                    \
    X(GIFT, "gift")                                                            \
    X(PERCENT_OFF, "percent_off")

enum cw_reward {
#define CW__REWARD_ENUM(e, name) CW_REWARD_##e,
    CW_REWARDS(CW__REWARD_ENUM)
#undef CW__REWARD_ENUM
};

#define CW_SHIPPING_MODELS(X)                                                  \
    X(NONE, "none")                                                            \
    X(FLAT, "flat")                                                            \
    X(PER_ITEM, "per_item")

enum cw_shipping_model {
#define CW__SHIP_ENUM(e, name) CW_SHIP_##e,
    CW_SHIPPING_MODELS(CW__SHIP_ENUM)
#undef CW__SHIP_ENUM
};

#define CW_PACINGS(X)                                                          \
    X(NONE, "none")                                                            \
    X(EVEN, "even")

enum cw_pacing {
#define CW__PACING_ENUM(e, name) CW_PACING_##e,
    CW_PACINGS(CW__PACING_ENUM)
#undef CW__PACING_ENUM
};

/* Names of the enums above (static strings), and their inverses (0, or
 * CW_EINVAL for an unknown name). */
const char *cw_reward_name(enum cw_reward r);
const char *cw_shipping_model_name(enum cw_shipping_model s);
const char *cw_pacing_name(enum cw_pacing p);
int cw_reward_parse(const char *s, enum cw_reward *out);
int cw_shipping_model_parse(const char *s, enum cw_shipping_model *out);
int cw_pacing_parse(const char *s, enum cw_pacing *out);

/* A rung of the reward ladder. Tiers are cumulative: every tier whose
 * threshold the qualifying subtotal meets is granted. */
struct cw_tier {
    enum cw_reward reward;
    int64_t threshold;               /* static threshold, minor units (> 0) */
    int64_t rungs[CW_INC_RUNGS_MAX]; /* allowed personalized thresholds,
                                        ascending; none: not personalized */
    size_t n_rungs;
    uint32_t percent_bp;           /* percent_off: basis points */
    char gift_sku[CW_INC_SKU_MAX]; /* gift: the SKU added at price 0 */
    int64_t gift_cost;             /* gift: merchant's cost; CW_MONEY_UNKNOWN:
                                      the model's (price - margin) */
};

struct cw_qty_break {
    uint32_t qty;        /* units of the bundle's SKUs in the cart */
    uint32_t percent_bp; /* off every unit of those SKUs */
};

/* Quantity breaks over a mix-and-match set of SKUs. */
struct cw_bundle {
    char name[CW_INC_SKU_MAX];
    char skus[CW_INC_BUNDLE_SKUS_MAX][CW_INC_SKU_MAX];
    size_t n_skus;
    struct cw_qty_break breaks[CW_INC_BREAKS_MAX]; /* ascending qty */
    size_t n_breaks;
};

/* A good/better/best group: skus[0] is good, skus[1] better, ... */
struct cw_tier_group {
    char name[CW_INC_SKU_MAX];
    char skus[CW_INC_GROUP_SKUS_MAX][CW_INC_SKU_MAX];
    size_t n_skus;
};

struct cw_incentive_config {
    char currency[4]; /* ISO-4217; must be the model's */
    struct {
        enum cw_shipping_model model;
        int64_t fee, cost;                 /* standard: charged, paid */
        int64_t express_fee, express_cost; /* express: charged, paid */
    } shipping;
    struct cw_tier tiers[CW_INC_TIERS_MAX]; /* ascending threshold */
    size_t n_tiers;
    struct {
        int personalize;    /* 1: pick tiers' thresholds from their rungs */
        double reach_max;   /* P(top up) for a gap of zero */
        double reach_scale; /* gap, as a share of the typical order, at
                               which P(top up) falls by a factor e */
        double min_reach;   /* nudge only when P(top up) is at least this */
    } threshold;
    struct {
        int enabled;
        uint32_t max_percent_bp, step_bp; /* offers step, 2 step, ... max */
        double margin_floor;              /* order margin / revenue after every
                                             discount (also bounds bundles) */
        uint32_t per_customer_max;        /* discounts per customer per window;
                                             0: no cap */
        uint32_t per_customer_days;
        int64_t daily_budget; /* minor units; 0: no discounts */
        enum cw_pacing pacing;
        double propensity_threshold; /* offer only above this P(abandon) */
        double exploration_share;    /* randomized slice of sessions */
        double prior_elasticity;     /* uplift prior: see cw_incentive_p_buy */
        double prior_abandon_rate;   /* propensity prior's base rate */
        uint32_t expiry_minutes;
    } discount;
    uint32_t caps[3];     /* per enum cw_placement: times one offer may have
                             been shown in the session (any placement) for it
                             to show here; 0: no cap */
    double bundle_accept; /* prior P(accept) of a bundle offer */
    struct cw_bundle bundles[CW_INC_BUNDLES_MAX];
    size_t n_bundles;
    double upgrade_accept; /* prior P(accept) of an upgrade at equal price */
    struct cw_tier_group groups[CW_INC_GROUPS_MAX];
    size_t n_groups;
};

/* Everything off: no tiers, no discount, no bundles, no groups; priors at
 * their documented defaults (docs/incentives.md). */
void cw_incentive_config_default(struct cw_incentive_config *c);
/* Checks every rule of the configuration. Returns 0, or CW_EINVAL with one
 * line in err naming the key path ("tiers[1].threshold: must be greater than
 * tiers[0].threshold"). */
int cw_incentive_config_validate(const struct cw_incentive_config *c,
                                 struct cw_buf *err);

/* ---- learned inputs ------------------------------------------------- */

/* Abandonment-propensity features of a session (logistic model). */
#define CW_PROP_FEATURES(X)                                                    \
    X(CART_REL, "cart_rel")   /* log(cart / typical order), in [-3, 3] */      \
    X(VIEWS, "cart_views")    /* log1p(cart views this session) */             \
    X(MINUTES, "minutes")     /* log1p(minutes since the first add) */         \
    X(RETURNING, "returning") /* 1: a customer with past orders */             \
    X(MOBILE, "mobile")       /* 1: mobile device */                           \
    X(UNITS, "units")         /* log1p(units in the cart) */

enum cw_prop_feature {
#define CW__PROPF_ENUM(e, name) CW_PROP_##e,
    CW_PROP_FEATURES(CW__PROPF_ENUM)
#undef CW__PROPF_ENUM
        CW_PROP_NFEAT
};
const char *cw_prop_feature_name(enum cw_prop_feature f);

struct cw_incentive_stats {
    int64_t order_q[CW_INC_QUANTILES]; /* store-wide order values */
    uint64_t n_orders;                 /* 0: distribution unknown */
    double margin_rate;                /* store merchandise margin rate;
                                          0: unknown */
    int prop_trained;                  /* 1: prop_w learned from events */
    double prop_w[CW_PROP_NFEAT + 1];  /* bias, then per feature */
    uint64_t prop_sessions;            /* sessions it was fitted on */
    double prop_abandon_rate;          /* observed share abandoned */
    int uplift_learned;                /* 1: uplift_eps from exploration */
    double uplift_eps;
    uint64_t uplift_treated, uplift_control;
};

/* The prior propensity model of c as weights (bias = logit of the prior
 * abandonment rate; documented coefficients for the rest). */
void cw_incentive_prop_prior(const struct cw_incentive_config *c,
                             double w[CW_PROP_NFEAT + 1]);
/* Fits a logistic regression (L2, Newton) of y (1 abandoned) on x (n rows
 * of CW_PROP_NFEAT). Returns 0 with w, or CW_ENODATA when there are fewer
 * than 50 rows or only one class. */
int cw_incentive_fit_propensity(const double *x, const uint8_t *y, size_t n,
                                double w[CW_PROP_NFEAT + 1],
                                struct cw_buf *err);
/* The features of a session with cart value cart (minor units), ref the
 * shopper's typical order (or the store's median), returning 1 for a
 * customer with past orders, units in the cart. Training computes them with
 * this same function. */
void cw_incentive_prop_features(int64_t cart, double ref, int returning,
                                int64_t units,
                                const struct cw_incentive_session *ss,
                                double f[CW_PROP_NFEAT]);
/* sigmoid(w . (1, f)) */
double cw_incentive_propensity(const double w[CW_PROP_NFEAT + 1],
                               const double f[CW_PROP_NFEAT]);
/* The exploration arm of a unit (session id, else customer id): 0 outside
 * the slice, 1 treated (a random discount step), 2 control (none). */
int cw_incentive_exploration_arm(const struct cw_incentive_config *c,
                                 const char *unit);

/* Uplift elasticity from the exploration slice: treated sessions (offered
 * mean_pct percent on average) against control sessions. Returns 0 with
 * *eps, or CW_ENODATA with fewer than 100 sessions in either arm. */
int cw_incentive_fit_uplift(uint64_t treated, uint64_t treated_buy,
                            double mean_pct, uint64_t control,
                            uint64_t control_buy, double *eps);
/* P(buy | d percent off) given P(buy | 0) = p0 and elasticity eps:
 * p0 + (1 - p0) (1 - exp(-eps d)): the share of would-be abandoners a
 * discount wins back grows with d and saturates. */
double cw_incentive_p_buy(double p0, double eps, double pct);

/* Amount * bp / 10000 rounded half away from zero, exact (no overflow for
 * any amount). */
int64_t cw_incentive_percent(int64_t amount, uint32_t bp);

/* ---- runtime state -------------------------------------------------- */

struct cw_incentive_state;
/* A state remembering at most max_sessions sessions and max_customers
 * customers' discount counts (0: defaults 16384 and 65536). Sessions idle
 * for more than ttl_s seconds (0: 1800) are forgotten first. */
struct cw_incentive_state *cw_incentive_state_new(size_t max_sessions,
                                                  size_t max_customers,
                                                  int64_t ttl_s);
void cw_incentive_state_free(struct cw_incentive_state *s); /* NULL ok */
/* Discount money reserved today (day of now, UTC). */
int64_t cw_incentive_state_spent(struct cw_incentive_state *s, int64_t now);
/* Reserves amount against the day's budget (pacing as given). Returns 1
 * reserved, 0 refused. With an allowance, what the state reserves in a day
 * never passes what it leased that day: a reservation that does not fit
 * leases more first (see struct cw_incentive_allowance) and is refused when
 * the allowance grants too little or fails. Exposed for tests and the
 * replay bench. */
int cw_incentive_budget_reserve(struct cw_incentive_state *s, int64_t budget,
                                enum cw_pacing pacing, int64_t now,
                                int64_t amount);

/* Where a state's budget comes from when it is not the state's alone: the
 * server sets one so that daily_budget is the store's, across restarts and
 * nodes (docs/incentives.md). Without one (the CLI, simulate) the state's
 * own word is the whole budget.
 *
 * lease(ctx, day, limit, want, &granted) asks for up to want more minor
 * units of UTC day `day` (unix seconds / 86400) such that what was leased
 * that day over every holder stays within limit (the budget, paced); it
 * returns 0 with *granted = min(want, limit - leased so far), at least 0,
 * or a negative CW_E* code, which counts as nothing granted. The state
 * calls it one call at a time, from a request's thread, possibly while the
 * session's and the customer's locks of that request are held: it must not
 * call back into the state. Leased money not reserved by the end of the day
 * (or by a restart) is not given back: chunks of budget / 20 bound that. */
struct cw_incentive_allowance {
    int (*lease)(void *ctx, int64_t day, int64_t limit, int64_t want,
                 int64_t *granted);
    void *ctx; /* borrowed: must outlive the state's use */
};
/* Sets a's lease on s (a copied; NULL or a NULL lease: none). Call before
 * s is shared between threads. */
void cw_incentive_state_set_allowance(struct cw_incentive_state *s,
                                      const struct cw_incentive_allowance *a);
/* Money leased to s for the day of now (0 without an allowance). */
int64_t cw_incentive_state_leased(struct cw_incentive_state *s, int64_t now);

/* ---- the decision --------------------------------------------------- */

/* Session signals from the storefront; unknown ones are -1. */
struct cw_incentive_session {
    const char *session_id; /* NULL: no session (no caps remembered) */
    int cart_views;
    int64_t seconds_on_cart;
    int mobile;
    int64_t coupon; /* order discount the storefront already
                       applies (a code), minor units; 0 none */
};

struct cw_incentive_req {
    const struct cw_incentive_config *cfg;
    const struct cw_incentive_stats *stats; /* NULL: priors only */
    struct cw_incentive_state *state;       /* NULL: nothing remembered,
                                               no discount (no budget) */
    struct cw_incentive_session session;
    int64_t now; /* unix seconds */
    int holdout; /* 1: the store's static tiers and breaks only */
};

enum cw_priced_flag {
    CW_PRICED_GIFT = 1u << 0,        /* a tier's gift at price 0 */
    CW_PRICED_UNPRICED = 1u << 1,    /* unknown SKU without a price: not
                                        in the totals */
    CW_PRICED_NO_DISCOUNT = 1u << 2, /* recommended add-on: never discounted */
    CW_PRICED_ASSUMED = 1u << 3,     /* margin from the default rate */
};

struct cw_priced_line {
    const char *sku; /* borrowed: the request's, or the config's gift */
    long item;       /* model item, -1 when unknown */
    int64_t qty;
    int64_t unit_price;
    int64_t discount; /* every discount allocated to this line */
    int64_t total;    /* qty * unit_price - discount */
    int64_t margin;   /* total - qty * unit cost (merchant's view) */
    int bundle;       /* index of the bundle whose break applies, or -1 */
    unsigned flags;   /* enum cw_priced_flag */
};

struct cw_priced_cart {
    struct cw_priced_line lines[CW_CART_MAX + 1 + CW_INC_TIERS_MAX];
    size_t n_lines;
    int64_t subtotal;        /* sum of qty * unit price (priced lines) */
    int64_t bundle_discount; /* quantity breaks */
    int64_t coupon_discount; /* the storefront's code */
    int64_t offer_discount;  /* the targeted discount */
    int64_t offer_base;      /* what its percentage was taken of: lines
                                after breaks and coupon, add-ons excluded */
    int64_t qualifying;      /* subtotal - the three above: tiers use it */
    int64_t tier_discount;   /* percent_off tier */
    int64_t merchandise;     /* qualifying - tier_discount = sum of totals */
    int64_t shipping;        /* charged */
    int64_t shipping_cost;   /* paid by the merchant */
    int express;             /* 1: express shipping */
    int64_t total;           /* merchandise + shipping: what to charge */
    int64_t profit;          /* line margins - gift costs + shipping -
                                shipping cost */
    int64_t gift_cost;
    unsigned tiers_met;                   /* bit t: tier t granted */
    int64_t thresholds[CW_INC_TIERS_MAX]; /* effective thresholds used */
};

struct cw_progress {
    int active; /* 0: no tier left to reach (or no tiers) */
    int tier;   /* the next tier */
    int64_t current, target, remaining;
    int percent;    /* floor(100 current / target) */
    int nudge;      /* 1: reachable and worth a "add X more" */
    double p_reach; /* P(top up) for the remaining gap */
    int addon;      /* index into the decision's add-ons that closes
                       the gap profitably (moved first), or -1 */
    char message[CW_INC_TEXT_MAX];
};

struct cw_threshold_choice {
    int active; /* 0: no personalized tier */
    int tier;
    int64_t threshold; /* chosen */
    int64_t static_threshold;
    int personalized;       /* 0: the static one (holdout, off, no rungs) */
    int sticky;             /* 1: chosen earlier in this session */
    int basis_customer;     /* 1: the customer's typical order, 0: the store */
    int64_t typical;        /* order value the choice centred on */
    double p_reach;         /* P(order reaches the threshold) */
    double expected_profit; /* per session, minor units */
    double static_expected_profit; /* same at the static threshold */
    char why[CW_INC_TEXT_MAX];
};

struct cw_discount_offer {
    int active;
    uint32_t percent_bp;
    int64_t amount; /* applied in the priced cart */
    int64_t base;   /* what the percentage was taken of */
    int64_t expires_at;
    double propensity;
    double p_buy, p_buy_with; /* P(buy | 0), P(buy | this discount) */
    double gain;     /* expected profit with minus without, minor units */
    int exploration; /* 0 none, 1 treated, 2 control (then !active) */
    int sticky;      /* offered earlier in this session */
    int capped;      /* amount capped at what the budget reserved */
    char reason[CW_INC_TEXT_MAX];
};

struct cw_bundle_offer {
    int active;
    int bundle;      /* index into cfg->bundles */
    const char *sku; /* borrowed: the cart line's sku to add */
    long item;
    int64_t qty_now, qty_to, add_units;
    uint32_t percent_bp;    /* effective percent of the offer */
    uint32_t configured_bp; /* the break's configured percent */
    int64_t extra_pay;      /* what the shopper pays on top */
    int64_t savings;        /* discount on the set at qty_to */
    double expected_profit; /* P(accept) x profit change */
    char text[CW_INC_TEXT_MAX];
};

struct cw_upgrade_offer {
    int active;
    int group;
    size_t line; /* request line upgraded */
    long from_item, to_item;
    int64_t price_diff;  /* per unit */
    int64_t margin_gain; /* profit change if accepted, whole cart */
    double p_accept;
    double expected_profit;
    char text[CW_INC_TEXT_MAX];
};

enum cw_incentive_note {
    CW_INC_NOTE_PROP_PRIOR = 1u << 0,   /* propensity from the prior */
    CW_INC_NOTE_UPLIFT_PRIOR = 1u << 1, /* uplift from the prior */
    CW_INC_NOTE_NO_DIST = 1u << 2,      /* no order-value distribution */
    CW_INC_NOTE_UNPRICED = 1u << 3,     /* a line has no price */
    CW_INC_NOTE_NO_STATE = 1u << 4,     /* no runtime state: no discount */
    CW_INC_NOTE_BUDGET = 1u << 5,       /* budget refused the discount */
    CW_INC_NOTE_CUSTOMER_CAP = 1u << 6, /* customer cap reached */
};

struct cw_incentive_result {
    struct cw_priced_cart cart;
    struct cw_progress progress;
    struct cw_threshold_choice threshold;
    struct cw_discount_offer discount;
    struct cw_bundle_offer bundle;
    struct cw_upgrade_offer upgrade;
    double propensity; /* P(abandon) of this session */
    int prop_trained;
    int closes_gap[CW_DECIDE_MAX]; /* per add-on, after reordering */
    size_t addons_capped;          /* add-ons removed by frequency caps */
    unsigned notes;                /* enum cw_incentive_note */
    const char *excluded[CW_DECIDE_MAX + 32]; /* never-discounted SKUs */
    size_t n_excluded;
};

/* Applies cfg to the cart of req and the decision d that cw_decide made for
 * it (d may be reordered: the add-on that closes the gap goes first; add-ons
 * over a frequency cap are removed). Returns 0, or CW_EINVAL (config
 * currency differs from the model's, or a bad request) with err. out points
 * into req's lines and ir->cfg; it lives as long as they do. */
int cw_incentive_apply(const struct cw_model *m,
                       const struct cw_decide_req *req, struct cw_decision *d,
                       const struct cw_incentive_req *ir,
                       struct cw_incentive_result *out, struct cw_buf *err);

#endif
