/*
 * cw_simulate.h: the shopper simulator (`cartwise simulate`, DESIGN.md
 * section 7).
 *
 * The engine is trained on the train split of a lines dataset (BENCHMARK.md
 * section 1, the same split and margin source as the evaluator); each test
 * basket then comes back as a shopper. The real basket is the shopper's
 * intent and the only ground truth: the shopper arrives with the first part
 * of it, is assigned an arm by cw_experiment_assign, sees what cw_decide
 * shows for that arm, finds each remaining real item unprompted with
 * probability p_self, adds a shown add-on that is one of its remaining real
 * items with probability p_hit and any other shown add-on with a small
 * probability that falls with its price relative to the cart, and abandons
 * by a hidden propensity (which each add-on shown and not taken may raise:
 * the distraction knob, off by default). The engine's own scores never decide
 * an outcome. Every random draw comes from the seed, the basket and the sku
 * (splitmix64), so a shopper behaves the same in every arm (common random
 * numbers) and a run is reproducible bit for bit, and each shopper can also be
 * played in the arms it was not assigned to, which gives the true effect the
 * experiment estimates. The result is one aggregate per experiment unit, ready
 * for cw_stats_report.
 */
#ifndef CW_SIMULATE_H
#define CW_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "cw_experiment.h"
#include "cw_stats.h"
#include "cw_train.h"

struct cw_buf;
struct cw_dataset;
struct cw_incentive_config;
struct cw_incentive_stats;

struct cw_sim_opts {
    uint64_t seed;
    /* The experiment; NULL: "holdout" 50% against "profit" 50%, salted with
     * the seed. */
    const struct cw_experiment *exp;
    int aa;           /* A/A: two identical profit arms "a" and "b" */
    double lift;      /* injected lift (implies aa): arm "b"'s order values
                         and margins are multiplied by 1 + lift */
    unsigned replays; /* shoppers per test basket (default 1) */
    unsigned k;       /* add-ons shown, 1..3 (default 3) */
    /* the shopper model (defaults in cw_sim_opts_default) */
    double p_self;       /* a remaining real item found unprompted: 0.85 */
    double p_hit;        /* a shown remaining real item added: 0.70 */
    double p_other;      /* a shown other item added, at price 0: 0.06 */
    double abandon_mean; /* mean hidden abandonment propensity: 0.25 */
    double distraction;  /* abandonment added per add-on not taken: 0 */
    /* incentives (cw_incentive.h): NULL config: none. With one, every arm
     * is priced by cw_incentive_apply (the holdout with the store's static
     * tiers only); a shopper short of a reward tier by at most a hidden
     * share (uniform 0..topup_max) of its cart tops up, and a discount
     * lowers its abandonment propensity by exp(-discount_response x beta x
     * percent), beta its hidden price sensitivity (2..8) */
    const struct cw_incentive_config *incentives;
    const struct cw_incentive_stats *inc_stats; /* NULL: the priors */
    double topup_max;                           /* 0.30 */
    double discount_response;                   /* 0.005 */
    struct cw_train_params train;
};

void cw_sim_opts_default(struct cw_sim_opts *o);

/* What shoppers of one arm saw and did. */
struct cw_sim_arm {
    size_t sessions, abandoned;
    size_t decisions_shown; /* sessions that saw at least one add-on */
    size_t shown;           /* add-ons shown */
    size_t accepted_real;   /* shown, in the basket's remaining items, added */
    size_t recovered;       /* of those, ones the shopper would have missed */
    size_t accepted_other;  /* shown, not in the basket, added */
    double addon_revenue, addon_profit; /* of the accepted add-ons */
    size_t topups;        /* shoppers who topped up to a reward tier */
    size_t discounts;     /* orders with a targeted discount */
    double discount_cost; /* discounts of every kind given */
    double reward_cost;   /* gifts and shipping paid beyond the fee */
};

struct cw_sim_result {
    struct cw_experiment exp; /* the experiment that ran */
    size_t baskets, train_baskets, test_baskets, sessions;
    struct cw_stats_unit *units; /* owned: one per unit, amounts in major
                                    units of the data */
    size_t n_units;
    struct cw_sim_arm arms[CW_EXP_ARMS_MAX];
    /* The true effect of arm k against the control arm per metric: every
     * simulated shopper is also played in every other arm (same draws), so
     * the difference of population ratios is known exactly; NAN for the
     * control arm. The experiment's intervals should cover it. */
    double truth[CW_EXP_ARMS_MAX][CW_METRIC__COUNT];
    double train_s, sim_s;
};

/* Runs the simulation over the finished dataset ds. Returns 0, or
 * CW_ENODATA (too few baskets), CW_EINVAL (bad options or experiment) with
 * the reason in err; out then owns nothing. */
int cw_sim_run(const struct cw_dataset *ds, const struct cw_sim_opts *o,
               struct cw_sim_result *out, struct cw_buf *err);
void cw_sim_result_release(struct cw_sim_result *r);

#endif
