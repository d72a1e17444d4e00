/*
 * stats_text.c: the experiment report for a terminal (cli_stats.h).
 *
 * Money figures are printed as they come (the caller's unit); every effect
 * line says what it compares, so a merchant reading it in a mail needs no
 * legend.
 */
#include <math.h>
#include <stdio.h>

#include "cartwise/cw_buf.h"
#include "cartwise/cw_stats.h"
#include "cli/cli_stats.h"

static void fnum(struct cw_buf *b, const char *fmt, double v)
{
    if (isfinite(v))
        cw_buf_addf(b, fmt, v);
    else
        cw_buf_addf(b, "%10s", "-");
}

void cw_cli_stats_text(struct cw_buf *b, const struct cw_stats_report *r,
                       const char *const *names)
{
    cw_buf_addf(b, "%-12s %7s %9s %9s %10s %10s %10s %10s\n", "arm", "units",
                "sessions", "orders", "conversion", "aov", "rev/sess",
                "profit/ss");
    for (size_t k = 0; k < r->n_arms; k++) {
        const struct cw_stats_arm *a = &r->arms[k];
        cw_buf_addf(b, "%-12.12s %7zu %9.0f %9.0f ", names[k], a->units,
                    a->sessions, a->orders);
        fnum(b, "%10.4f", a->value[CW_METRIC_CONVERSION]);
        cw_buf_addch(b, ' ');
        fnum(b, "%10.2f", a->value[CW_METRIC_AOV]);
        cw_buf_addch(b, ' ');
        fnum(b, "%10.3f", a->value[CW_METRIC_REVENUE_PER_SESSION]);
        cw_buf_addch(b, ' ');
        fnum(b, "%10.3f", a->value[CW_METRIC_PROFIT_PER_SESSION]);
        cw_buf_adds(b, k == r->control ? "  (control)\n" : "\n");
    }
    for (size_t i = 0; i < r->n_effects; i++) {
        const struct cw_stats_effect *e = &r->effects[i];
        cw_buf_addf(b, "\n%s - %s, %s: ", names[e->arm], names[e->control],
                    cw_metric_name(e->metric));
        if (!e->valid) {
            cw_buf_adds(b, "not enough data");
            continue;
        }
        cw_buf_addf(b,
                    "%+.4g (%+.1f%%), 95%% CI [%.4g, %.4g], p = %.3g\n"
                    "    CUPED %+.4g [%.4g, %.4g] p = %.3g (variance -%.0f%%); "
                    "anytime-valid [%.4g, %.4g] p = %.3g",
                    e->estimate, 100 * e->relative, e->ci_low, e->ci_high,
                    e->p_value, e->cuped_estimate, e->cuped_ci_low,
                    e->cuped_ci_high, e->cuped_p_value,
                    100 * e->variance_reduction, e->seq_ci_low, e->seq_ci_high,
                    e->seq_p_value);
    }
    cw_buf_addf(b, "\n\nsample ratio: chi2 %.3g, p = %.3g%s", r->srm_chi2,
                r->srm_p_value,
                r->srm_p_value < 0.001 ? "  MISMATCH: check the assignment"
                                       : "");
}
