/*
 * cw_experiment.h: experiment configuration and arm assignment (DESIGN.md
 * sections 4 step 2 and 7).
 *
 * An experiment splits shoppers into arms by a hash: the unit (the customer
 * id where known, else the session id) is hashed with the experiment's salt,
 * `xxh3(salt || unit) mod 10000`, and the bucket falls into one arm's range of
 * basis points. Nothing is stored per shopper, so assignment is deterministic
 * and sticky on every server node, and changing the salt reshuffles everyone.
 * The holdout arm sees no cross-sells and no personalized incentives; the
 * others run the engine as configured (profit) or ranked by acceptance alone
 * (accuracy). The struct is plain fixed-size data: copy it freely, share it
 * read-only between threads.
 */
#ifndef CW_EXPERIMENT_H
#define CW_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

struct cw_buf;
struct cw_decision_rec;
struct cw_event_rec;
struct cw_stats_unit;

#define CW_EXP_ARMS_MAX 8
#define CW_EXP_ID_MAX 64     /* bytes of id and salt, NUL included */
#define CW_EXP_NAME_MAX 32   /* bytes of an arm name, NUL included */
#define CW_EXP_BUCKETS 10000 /* basis points */

/* X(enum suffix, "name") */
#define CW_ARM_KINDS(X)                                                        \
    X(HOLDOUT, "holdout")                                                      \
    X(PROFIT, "profit")                                                        \
    X(ACCURACY, "accuracy")

enum cw_arm_kind {
#define CW__ARM_ENUM(e, name) CW_ARM_##e,
    CW_ARM_KINDS(CW__ARM_ENUM)
#undef CW__ARM_ENUM
};

enum cw_exp_unit {
    CW_EXP_UNIT_CUSTOMER, /* the customer id, else the session id */
    CW_EXP_UNIT_SESSION,  /* always the session id */
};

struct cw_arm {
    char name[CW_EXP_NAME_MAX]; /* [a-z0-9_-], unique in the experiment */
    enum cw_arm_kind kind;
    uint32_t share_bp; /* traffic share in basis points; shares sum to 10000 */
};

struct cw_experiment {
    char id[CW_EXP_ID_MAX];   /* non-empty */
    char salt[CW_EXP_ID_MAX]; /* non-empty */
    enum cw_exp_unit unit;
    struct cw_arm arms[CW_EXP_ARMS_MAX]; /* buckets are given out in order */
    size_t n_arms;                       /* 2..CW_EXP_ARMS_MAX */
    char start[32], stop[32]; /* ISO-8601 window the report reads; "" open;
                                 a stop date takes the whole day */
};

/* Returns "holdout", "profit" or "accuracy" (static). */
const char *cw_arm_kind_name(enum cw_arm_kind k);
/* Sets *out from a kind name; returns 0 or CW_EINVAL. */
int cw_arm_kind_parse(const char *name, enum cw_arm_kind *out);

/* Returns 0 when e is usable, else CW_EINVAL with the first problem in err
 * ("arm shares sum to 9000 basis points, not 10000", "duplicate arm name
 * 'a'", ...). Shares of 0 are allowed (a paused arm). */
int cw_experiment_validate(const struct cw_experiment *e, struct cw_buf *err);

/* Returns the bucket of unit under salt: xxh3 of the bytes of salt followed
 * directly by the bytes of unit, mod 10000. */
uint32_t cw_experiment_bucket(const char *salt, const char *unit);

/* Returns the unit id e assigns by: customer when the unit is customer and
 * customer is non-empty, else session; NULL when that is NULL or empty. */
const char *cw_experiment_unit(const struct cw_experiment *e,
                               const char *customer, const char *session);

/* Returns the arm of this shopper (pointing into e), or NULL when there is
 * no unit id to hash or e is NULL. *bucket (when not NULL) receives the
 * bucket. e must have passed cw_experiment_validate. Allocates nothing
 * unless salt and unit together exceed 512 bytes. */
const struct cw_arm *cw_experiment_assign(const struct cw_experiment *e,
                                          const char *customer,
                                          const char *session,
                                          uint32_t *bucket);

/* Returns the index of the arm named name in e, or -1. */
int cw_experiment_find_arm(const struct cw_experiment *e, const char *name);

/* Returns the index of the reference arm effects are measured against: the
 * first holdout arm, else arm 0. */
size_t cw_experiment_control(const struct cw_experiment *e);

/* Whether arm a sees cross-sells and personalized incentives (0 for the
 * holdout), and the cw_decide flags (enum cw_decide_flag) it runs with. */
int cw_arm_shows_addons(const struct cw_arm *a);
unsigned cw_arm_decide_flags(const struct cw_arm *a);

/* ---- from the logs to per-unit aggregates (the experiment report) ---- */

/*
 * A collector turns the decision log, purchase events and order history
 * into one cw_stats_unit per unit. Feed it every decision first (those of
 * other experiments, of unknown arms or outside start..stop are skipped and
 * counted), then events and past spend in any order. A unit's sessions are
 * the sessions its decisions name; its orders are purchase events of those
 * sessions at or after the session's first exposure (each order_id once);
 * a purchase without a margin is valued at margin_rate; its pre-period
 * spend is the customer's order value before their first exposure (customer
 * units only). A unit seen in two arms (the configuration changed under it)
 * is left out and counted. Amounts are multiplied by money_scale (e.g. 0.01
 * for major units).
 */
struct cw_exp_log;

struct cw_exp_log_stats {
    size_t decisions;           /* used */
    size_t other_experiment;    /* skipped: another or no experiment */
    size_t unknown_arm;         /* skipped: arm not in the configuration */
    size_t outside_window;      /* skipped: before start or after stop */
    size_t mixed_units;         /* units left out: seen in two arms */
    size_t purchases;           /* counted as orders */
    size_t purchases_unexposed; /* purchase events of other sessions */
    size_t purchases_before;    /* in an exposed session, before exposure */
    size_t purchases_duplicate; /* an order_id already counted */
    size_t profit_assumed;      /* purchases valued at margin_rate */
};

/* Returns a new collector for e (copied). Free with cw_exp_log_free. */
struct cw_exp_log *cw_exp_log_new(const struct cw_experiment *e,
                                  double margin_rate, double money_scale);
void cw_exp_log_free(struct cw_exp_log *l); /* NULL is harmless */
void cw_exp_log_decision(struct cw_exp_log *l, const struct cw_decision_rec *d);
/* Takes purchase events; other types are ignored. */
void cw_exp_log_event(struct cw_exp_log *l, const struct cw_event_rec *ev);
/* Order value (minor units) of customer at ts, for the pre-period. */
void cw_exp_log_spend(struct cw_exp_log *l, const char *customer,
                      const char *ts, int64_t amount);
/* Returns the units (an array the caller frees with cw_free; NULL when
 * there are none) and their count in *n; st (when not NULL) receives the
 * counters. The collector may be fed more afterwards. */
struct cw_stats_unit *cw_exp_log_units(struct cw_exp_log *l, size_t *n,
                                       struct cw_exp_log_stats *st);

#endif
