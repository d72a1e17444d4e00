/*
 * cw_stats.h: experiment statistics (DESIGN.md section 7).
 *
 * Input is one aggregate per randomization unit (customer, else session):
 * its arm, sessions, orders, revenue, profit and pre-period spend. Every
 * metric is a ratio of two sums over units (orders / sessions, revenue /
 * orders, ...), so its variance comes from the delta method over units,
 * which keeps the intervals honest when one customer brings many sessions.
 * Each treatment arm is compared with the control arm: the difference, its
 * 95% interval and two-sided p-value; the same after CUPED with the
 * pre-period spend as covariate; and an anytime-valid confidence sequence
 * that may be looked at every day. The sample-ratio-mismatch test checks the
 * unit counts against the configured shares. docs/experiments.md has the
 * formulas. Amounts are in whatever money unit the caller uses (the CLI
 * passes major units); nothing here allocates except the report itself.
 */
#ifndef CW_STATS_H
#define CW_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "cw_experiment.h"

struct cw_buf;

/* One randomization unit. */
struct cw_stats_unit {
    uint32_t arm;     /* index into the arms */
    double sessions;  /* exposed sessions, >= 1 for a counted unit */
    double orders;    /* orders placed in them */
    double revenue;   /* their value */
    double profit;    /* their margin */
    double pre_spend; /* spend before the experiment (CUPED covariate) */
};

/* X(enum suffix, "name", numerator field, denominator field) */
#define CW_METRICS(X)                                                          \
    X(CONVERSION, "conversion", orders, sessions)                              \
    X(AOV, "aov", revenue, orders)                                             \
    X(REVENUE_PER_SESSION, "revenue_per_session", revenue, sessions)           \
    X(PROFIT_PER_SESSION, "profit_per_session", profit, sessions)              \
    X(PROFIT_PER_ORDER, "profit_per_order", profit, orders)

enum cw_metric {
#define CW__METRIC_ENUM(e, name, num, den) CW_METRIC_##e,
    CW_METRICS(CW__METRIC_ENUM)
#undef CW__METRIC_ENUM
        CW_METRIC__COUNT
};

/* Returns the metric's name, e.g. "aov" (static). */
const char *cw_metric_name(enum cw_metric m);

struct cw_stats_arm {
    size_t units;
    double sessions, orders, revenue, profit, pre_spend;
    double value[CW_METRIC__COUNT]; /* NAN where the denominator is 0 */
    double expected_share;          /* configured share, 0..1 */
};

struct cw_stats_effect {
    size_t arm, control; /* arm indexes */
    enum cw_metric metric;
    int valid; /* 0: too few units or orders, numbers are NAN */
    double control_value, treatment_value;
    double estimate; /* treatment - control */
    double relative; /* estimate / control_value (NAN if 0) */
    double se, ci_low, ci_high, p_value;
    /* CUPED on the unit's pre-period spend (equal to the plain figures when
     * the covariate does not vary) */
    double cuped_estimate, cuped_se, cuped_ci_low, cuped_ci_high, cuped_p_value;
    double variance_reduction; /* 1 - cuped var / plain var */
    /* anytime-valid confidence sequence around estimate */
    double seq_ci_low, seq_ci_high, seq_p_value;
};

struct cw_stats_opts {
    double alpha;     /* two-sided level; 0: 0.05 */
    double seq_tstar; /* units at which the sequence is tightest; 0: 10000 */
};

struct cw_stats_report {
    size_t n_arms, control;
    struct cw_stats_arm arms[CW_EXP_ARMS_MAX];
    struct cw_stats_effect effects[(CW_EXP_ARMS_MAX - 1) * CW_METRIC__COUNT];
    size_t n_effects;
    double srm_chi2, srm_p_value; /* NAN with fewer than 2 arms in use */
    double alpha, seq_rho;        /* what was used */
};

/*
 * Computes the report from n units over n_arms arms with the configured
 * shares (basis points, for the SRM test) and the control arm index.
 * Returns 0, or CW_EINVAL (a unit's arm out of range, no arms, a negative
 * or non-finite figure) with the reason in err.
 */
int cw_stats_report(const struct cw_stats_unit *units, size_t n, size_t n_arms,
                    const uint32_t *shares_bp, size_t control,
                    const struct cw_stats_opts *o, struct cw_stats_report *out,
                    struct cw_buf *err);

/* Appends the report as the JSON object of the output contract:
 * {"arms":[{"name",...}],"effects":[{"metric","estimate","ci_low",
 * "ci_high","p_value",...}],"srm_p_value":...}; NAN becomes null. names[i]
 * is arm i's name. The object is left open (no closing brace) when open is
 * set, so callers can add their own keys. */
void cw_stats_report_json(const struct cw_stats_report *r,
                          const char *const *names, int open,
                          struct cw_buf *out);

/* ---- building blocks, exposed for tests ---- */

/* Standard normal CDF and its inverse (p in (0,1); +-INFINITY at 0, 1). */
double cw_stats_norm_cdf(double x);
double cw_stats_norm_quantile(double p);
/* Upper tail P(X > x) of a chi-square with df degrees of freedom. */
double cw_stats_chi2_sf(double x, double df);

/* Delta-method ratio: R = sum(y) / sum(x) over n units with variance
 * Var(R) ~ (s_y^2 - 2 R s_xy + R^2 s_x^2) / (n xbar^2), sample (n - 1)
 * moments. Returns 0, or CW_ENODATA (n < 2 or sum(x) = 0). */
int cw_stats_ratio(const double *y, const double *x, size_t n, double *ratio,
                   double *var);

/* The mixing parameter of the normal-mixture confidence sequence tightest
 * at tstar observations for level alpha: rho^2 = (-2 ln alpha +
 * ln(1 - 2 ln alpha)) / tstar. Returns rho. */
double cw_stats_cs_rho(double alpha, double tstar);
/* Half-width of the asymptotic confidence sequence after t observations of
 * an estimate with standard error se: se * sqrt((t rho^2 + 1) / (t rho^2) *
 * (ln(t rho^2 + 1) + 2 ln(1 / alpha))). */
double cw_stats_cs_halfwidth(double se, double t, double rho, double alpha);
/* The anytime-valid p-value: the smallest alpha at which the sequence
 * excludes 0, given |estimate| / se = z after t observations. */
double cw_stats_cs_pvalue(double z, double t, double rho);

#endif
