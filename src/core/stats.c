/*
 * stats.c: the statistics behind the experiment report, in plain C.
 *
 * Every metric is a ratio of sums over randomization units, so each arm's
 * figure gets its variance from the delta method (Deng, Knoblich & Lu 2018,
 * "Applying the delta method in metric analytics"). CUPED (Deng, Xu, Kohavi
 * & Walker 2013) is applied to the ratio's linearization
 * L_i = (y_i - R x_i) / xbar with the unit's pre-period spend as covariate
 * and one theta pooled within arms, which is the usual construction for
 * ratio metrics. Anytime-valid intervals are the asymptotic confidence
 * sequence of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2021, "Time-
 * uniform central limit theory"), the normal-mixture boundary of Howard,
 * Ramdas, McAuliffe & Sekhon (2021) with the plug-in standard error: valid
 * at every number of units at once, so a dashboard can be read daily. The
 * normal distribution, its quantile (Acklam's rational approximation, one
 * Halley step) and the chi-square tail (regularized incomplete gamma,
 * Numerical Recipes' series and continued fraction) are written here so
 * core needs nothing beyond libm.
 */
#include <math.h>
#include <string.h>

#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_stats.h"

static const char *const metric_names[] = {
#define CW__METRIC_NAME(e, name, num, den) name,
    CW_METRICS(CW__METRIC_NAME)
#undef CW__METRIC_NAME
};

const char *cw_metric_name(enum cw_metric m)
{
    return (size_t)m < CW_METRIC__COUNT ? metric_names[m] : "unknown";
}

/* ---- distributions ---- */

double cw_stats_norm_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

double cw_stats_norm_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    if (isnan(p) || p < 0 || p > 1)
        return NAN;
    if (p == 0)
        return -INFINITY;
    if (p == 1)
        return INFINITY;
    double q, x;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q +
             c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - 0.02425) {
        q = p - 0.5;
        double r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r +
             a[5]) *
            q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q +
              c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    /* one Halley step on the exact CDF takes the error to ~1e-15 */
    double e = cw_stats_norm_cdf(x) - p;
    double u = e * 2.5066282746310002 /* sqrt(2 pi) */ * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

/* Regularized lower incomplete gamma P(a, x) by its series (x < a + 1). */
static double gamma_p_series(double a, double x)
{
    double ap = a, sum = 1.0 / a, del = sum;
    for (int n = 0; n < 1000; n++) {
        ap += 1;
        del *= x / ap;
        sum += del;
        if (fabs(del) < fabs(sum) * 1e-16)
            break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

/* Regularized upper incomplete gamma Q(a, x) by Lentz's continued fraction
 * (x >= a + 1). */
static double gamma_q_cf(double a, double x)
{
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i < 1000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-16)
            break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double cw_stats_chi2_sf(double x, double df)
{
    if (isnan(x) || isnan(df) || df <= 0)
        return NAN;
    if (x <= 0)
        return 1;
    double a = df / 2, y = x / 2;
    return y < a + 1 ? 1 - gamma_p_series(a, y) : gamma_q_cf(a, y);
}

static double two_sided_p(double z)
{
    return isnan(z) ? NAN : erfc(fabs(z) / sqrt(2.0));
}

/* ---- ratio metrics ---- */

int cw_stats_ratio(const double *y, const double *x, size_t n, double *ratio,
                   double *var)
{
    double sx = 0, sy = 0;
    for (size_t i = 0; i < n; i++) {
        sx += x[i];
        sy += y[i];
    }
    if (n < 2 || sx == 0)
        return CW_ENODATA;
    double mx = sx / (double)n, my = sy / (double)n, r = sy / sx;
    double vxx = 0, vyy = 0, vxy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        vxx += dx * dx;
        vyy += dy * dy;
        vxy += dx * dy;
    }
    double k = (double)(n - 1);
    *ratio = r;
    *var =
        fmax((vyy - 2 * r * vxy + r * r * vxx) / k, 0) / ((double)n * mx * mx);
    return 0;
}

/* ---- confidence sequences ---- */

double cw_stats_cs_rho(double alpha, double tstar)
{
    double l = -2 * log(alpha);
    return sqrt((l + log(1 + l)) / tstar);
}

double cw_stats_cs_halfwidth(double se, double t, double rho, double alpha)
{
    double tr = t * rho * rho;
    return se * sqrt((tr + 1) / tr * (log(tr + 1) + 2 * log(1 / alpha)));
}

double cw_stats_cs_pvalue(double z, double t, double rho)
{
    if (isnan(z))
        return NAN;
    double tr = t * rho * rho;
    /* solve halfwidth(alpha) = |estimate| for alpha */
    double l = 0.5 * (z * z * tr / (tr + 1) - log(tr + 1));
    return l <= 0 ? 1 : exp(-l);
}

/* ---- the report ---- */

static double metric_num(const struct cw_stats_unit *u, enum cw_metric m)
{
    switch (m) {
#define CW__METRIC_NUM(e, name, num, den)                                      \
    case CW_METRIC_##e:                                                        \
        return u->num;
        CW_METRICS(CW__METRIC_NUM)
#undef CW__METRIC_NUM
    case CW_METRIC__COUNT:
        break;
    }
    return NAN;
}

static double metric_den(const struct cw_stats_unit *u, enum cw_metric m)
{
    switch (m) {
#define CW__METRIC_DEN(e, name, num, den)                                      \
    case CW_METRIC_##e:                                                        \
        return u->den;
        CW_METRICS(CW__METRIC_DEN)
#undef CW__METRIC_DEN
    case CW_METRIC__COUNT:
        break;
    }
    return NAN;
}

/* Centered moments of (y, x, z) over one arm's units. */
struct moments {
    size_t n;
    double mx, my, mz;
    double xx, yy, xy, zz, xz, yz; /* sample (n - 1) co-variances */
};

static void arm_moments(const struct cw_stats_unit *u, size_t n, uint32_t arm,
                        enum cw_metric m, struct moments *o)
{
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < n; i++) {
        if (u[i].arm != arm)
            continue;
        o->n++;
        o->mx += metric_den(&u[i], m);
        o->my += metric_num(&u[i], m);
        o->mz += u[i].pre_spend;
    }
    if (!o->n)
        return;
    double k = (double)o->n;
    o->mx /= k;
    o->my /= k;
    o->mz /= k;
    for (size_t i = 0; i < n; i++) {
        if (u[i].arm != arm)
            continue;
        double dx = metric_den(&u[i], m) - o->mx;
        double dy = metric_num(&u[i], m) - o->my;
        double dz = u[i].pre_spend - o->mz;
        o->xx += dx * dx;
        o->yy += dy * dy;
        o->xy += dx * dy;
        o->zz += dz * dz;
        o->xz += dx * dz;
        o->yz += dy * dz;
    }
    if (o->n > 1) {
        k = (double)(o->n - 1);
        o->xx /= k;
        o->yy /= k;
        o->xy /= k;
        o->zz /= k;
        o->xz /= k;
        o->yz /= k;
    }
}

/* Ratio, the linearization's variance s_LL and covariance with z s_Lz. */
static void linearize(const struct moments *a, double *r, double *sll,
                      double *slz)
{
    *r = a->my / a->mx;
    *sll = fmax(a->yy - 2 * *r * a->xy + *r * *r * a->xx, 0) / (a->mx * a->mx);
    *slz = (a->yz - *r * a->xz) / a->mx;
}

static void interval(double est, double se, double z, double *lo, double *hi,
                     double *p)
{
    *lo = est - z * se;
    *hi = est + z * se;
    if (se > 0)
        *p = two_sided_p(est / se);
    else
        *p = est == 0 ? 1 : 0;
}

static void effect(const struct cw_stats_unit *u, size_t n,
                   struct cw_stats_effect *e, double zcrit, double alpha,
                   double rho)
{
    struct moments t, c;
    arm_moments(u, n, (uint32_t)e->arm, e->metric, &t);
    arm_moments(u, n, (uint32_t)e->control, e->metric, &c);
    e->valid = t.n >= 2 && c.n >= 2 && t.mx > 0 && c.mx > 0;
    e->control_value = c.n && c.mx > 0 ? c.my / c.mx : NAN;
    e->treatment_value = t.n && t.mx > 0 ? t.my / t.mx : NAN;
    if (!e->valid) {
        e->estimate = e->relative = e->se = e->ci_low = e->ci_high = NAN;
        e->p_value = e->cuped_estimate = e->cuped_se = NAN;
        e->cuped_ci_low = e->cuped_ci_high = e->cuped_p_value = NAN;
        e->variance_reduction = e->seq_ci_low = e->seq_ci_high = NAN;
        e->seq_p_value = NAN;
        return;
    }
    double rt, rc, llt, llc, lzt, lzc;
    linearize(&t, &rt, &llt, &lzt);
    linearize(&c, &rc, &llc, &lzc);
    double nt = (double)t.n, nc = (double)c.n;
    double var = llt / nt + llc / nc;
    e->estimate = rt - rc;
    e->relative = rc != 0 ? e->estimate / rc : NAN;
    e->se = sqrt(var);
    interval(e->estimate, e->se, zcrit, &e->ci_low, &e->ci_high, &e->p_value);

    /* CUPED: theta pooled within arms */
    double szz = (nt - 1) * t.zz + (nc - 1) * c.zz;
    double theta = szz > 0 ? ((nt - 1) * lzt + (nc - 1) * lzc) / szz : 0;
    double vt = fmax(llt - 2 * theta * lzt + theta * theta * t.zz, 0) / nt;
    double vc = fmax(llc - 2 * theta * lzc + theta * theta * c.zz, 0) / nc;
    e->cuped_estimate = e->estimate - theta * (t.mz - c.mz);
    e->cuped_se = sqrt(vt + vc);
    interval(e->cuped_estimate, e->cuped_se, zcrit, &e->cuped_ci_low,
             &e->cuped_ci_high, &e->cuped_p_value);
    e->variance_reduction = var > 0 ? 1 - (vt + vc) / var : 0;

    /* confidence sequence over the units seen so far */
    double h = cw_stats_cs_halfwidth(e->se, nt + nc, rho, alpha);
    e->seq_ci_low = e->estimate - h;
    e->seq_ci_high = e->estimate + h;
    e->seq_p_value = e->se > 0
                         ? cw_stats_cs_pvalue(e->estimate / e->se, nt + nc, rho)
                         : (e->estimate == 0 ? 1 : 0);
}

int cw_stats_report(const struct cw_stats_unit *units, size_t n, size_t n_arms,
                    const uint32_t *shares_bp, size_t control,
                    const struct cw_stats_opts *o, struct cw_stats_report *out,
                    struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    if (n_arms < 1 || n_arms > CW_EXP_ARMS_MAX)
        return cw_err(err, CW_EINVAL, "%zu arms, expected 1 to %d", n_arms,
                      CW_EXP_ARMS_MAX);
    if (control >= n_arms)
        return cw_err(err, CW_EINVAL, "control arm %zu out of range", control);
    double alpha = o && o->alpha > 0 && o->alpha < 1 ? o->alpha : 0.05;
    double tstar = o && o->seq_tstar > 0 ? o->seq_tstar : 10000;
    out->n_arms = n_arms;
    out->control = control;
    out->alpha = alpha;
    out->seq_rho = cw_stats_cs_rho(alpha, tstar);
    for (size_t i = 0; i < n; i++) {
        const struct cw_stats_unit *u = &units[i];
        if (u->arm >= n_arms)
            return cw_err(err, CW_EINVAL, "unit %zu: arm %u out of range", i,
                          (unsigned)u->arm);
        double v[] = {u->sessions, u->orders, u->revenue, u->profit,
                      u->pre_spend};
        for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
            if (!isfinite(v[k]))
                return cw_err(err, CW_EINVAL,
                              "unit %zu: a figure is not "
                              "finite",
                              i);
        if (u->sessions < 0 || u->orders < 0)
            return cw_err(err, CW_EINVAL, "unit %zu: negative count", i);
        struct cw_stats_arm *a = &out->arms[u->arm];
        a->units++;
        a->sessions += u->sessions;
        a->orders += u->orders;
        a->revenue += u->revenue;
        a->profit += u->profit;
        a->pre_spend += u->pre_spend;
    }
    uint64_t share_sum = 0;
    for (size_t k = 0; k < n_arms; k++)
        share_sum += shares_bp ? shares_bp[k] : 0;
    for (size_t k = 0; k < n_arms; k++) {
        struct cw_stats_arm *a = &out->arms[k];
        a->expected_share = share_sum ? (double)shares_bp[k] / share_sum : NAN;
        struct cw_stats_unit sum = {(uint32_t)k, a->sessions, a->orders,
                                    a->revenue,  a->profit,   a->pre_spend};
        for (size_t m = 0; m < CW_METRIC__COUNT; m++) {
            double den = metric_den(&sum, (enum cw_metric)m);
            a->value[m] =
                den > 0 ? metric_num(&sum, (enum cw_metric)m) / den : NAN;
        }
    }

    /* sample-ratio mismatch over the arms that get traffic */
    double chi2 = 0, total = 0;
    size_t used = 0;
    for (size_t k = 0; k < n_arms; k++)
        if (shares_bp && shares_bp[k])
            total += (double)out->arms[k].units;
    for (size_t k = 0; k < n_arms; k++) {
        if (!shares_bp || !shares_bp[k])
            continue;
        double e = total * out->arms[k].expected_share;
        if (e > 0) {
            double d = (double)out->arms[k].units - e;
            chi2 += d * d / e;
            used++;
        }
    }
    out->srm_chi2 = used >= 2 ? chi2 : NAN;
    out->srm_p_value =
        used >= 2 ? cw_stats_chi2_sf(chi2, (double)(used - 1)) : NAN;

    double zcrit = cw_stats_norm_quantile(1 - alpha / 2);
    for (size_t k = 0; k < n_arms; k++) {
        if (k == control)
            continue;
        for (size_t m = 0; m < CW_METRIC__COUNT; m++) {
            struct cw_stats_effect *e = &out->effects[out->n_effects++];
            e->arm = k;
            e->control = control;
            e->metric = (enum cw_metric)m;
            effect(units, n, e, zcrit, alpha, out->seq_rho);
        }
    }
    return 0;
}

/* ---- JSON ---- */

static void num(struct cw_buf *b, const char *key, double v)
{
    cw_buf_addf(b, ",\"%s\":", key);
    if (isfinite(v))
        cw_buf_addf(b, "%.10g", v);
    else
        cw_buf_adds(b, "null");
}

void cw_stats_report_json(const struct cw_stats_report *r,
                          const char *const *names, int open,
                          struct cw_buf *out)
{
    cw_buf_adds(out, "{\"arms\":[");
    for (size_t k = 0; k < r->n_arms; k++) {
        const struct cw_stats_arm *a = &r->arms[k];
        cw_buf_adds(out, k ? ",{\"name\":" : "{\"name\":");
        cw_buf_add_json_str(out, names[k]);
        cw_buf_addf(out, ",\"control\":%s,\"units\":%zu",
                    k == r->control ? "true" : "false", a->units);
        num(out, "sessions", a->sessions);
        num(out, "orders", a->orders);
        num(out, "revenue", a->revenue);
        num(out, "profit", a->profit);
        num(out, "pre_spend", a->pre_spend);
        for (size_t m = 0; m < CW_METRIC__COUNT; m++)
            num(out, metric_names[m], a->value[m]);
        num(out, "expected_share", a->expected_share);
        cw_buf_addch(out, '}');
    }
    cw_buf_adds(out, "],\"effects\":[");
    for (size_t i = 0; i < r->n_effects; i++) {
        const struct cw_stats_effect *e = &r->effects[i];
        cw_buf_adds(out, i ? ",{\"metric\":" : "{\"metric\":");
        cw_buf_add_json_str(out, metric_names[e->metric]);
        cw_buf_adds(out, ",\"arm\":");
        cw_buf_add_json_str(out, names[e->arm]);
        cw_buf_adds(out, ",\"control\":");
        cw_buf_add_json_str(out, names[e->control]);
        num(out, "estimate", e->estimate);
        num(out, "ci_low", e->ci_low);
        num(out, "ci_high", e->ci_high);
        num(out, "p_value", e->p_value);
        num(out, "relative", e->relative);
        num(out, "control_value", e->control_value);
        num(out, "treatment_value", e->treatment_value);
        num(out, "se", e->se);
        num(out, "cuped_estimate", e->cuped_estimate);
        num(out, "cuped_ci_low", e->cuped_ci_low);
        num(out, "cuped_ci_high", e->cuped_ci_high);
        num(out, "cuped_p_value", e->cuped_p_value);
        num(out, "variance_reduction", e->variance_reduction);
        num(out, "seq_ci_low", e->seq_ci_low);
        num(out, "seq_ci_high", e->seq_ci_high);
        num(out, "seq_p_value", e->seq_p_value);
        cw_buf_addch(out, '}');
    }
    cw_buf_addch(out, ']');
    num(out, "srm_p_value", r->srm_p_value);
    num(out, "srm_chi2", r->srm_chi2);
    num(out, "alpha", r->alpha);
    num(out, "seq_rho", r->seq_rho);
    if (!open)
        cw_buf_addch(out, '}');
}
