/*
 * solve.c: inverse of a dense symmetric positive-definite matrix, the one
 * linear-algebra step of training (EASE needs (G + lambda I)^-1).
 *
 * Two implementations with one contract: LAPACKE's dpotrf/dpotri when the
 * build has OpenBLAS, and a plain-C Cholesky that needs nothing. The plain
 * one orders its loops so the innermost always walks a row (row-major), and
 * tests check the two agree.
 */
#include <math.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_train.h"

#ifdef CW_HAVE_BLAS
#include <lapacke.h>
#endif

static void mirror_lower(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            a[i * n + j] = a[j * n + i];
}

int cw_spd_inverse_plain(double *a, size_t n)
{
    /* Cholesky a = L L^T, L in the lower triangle of a. */
    for (size_t j = 0; j < n; j++) {
        double *rj = a + j * n;
        double d = rj[j];
        for (size_t k = 0; k < j; k++)
            d -= rj[k] * rj[k];
        if (!(d > 0))
            return CW_EINVAL; /* not positive definite */
        d = sqrt(d);
        rj[j] = d;
        for (size_t i = j + 1; i < n; i++) {
            double *ri = a + i * n, s = ri[j];
            for (size_t k = 0; k < j; k++)
                s -= ri[k] * rj[k];
            ri[j] = s / d;
        }
    }
    /* X = L^-1, row by row: row i is a combination of rows k < i. */
    double *x = cw_calloc(n * n, sizeof(*x));
    double *r = cw_malloc((n ? n : 1) * sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        const double *li = a + i * n;
        memset(r, 0, i * sizeof(*r));
        for (size_t k = 0; k < i; k++) {
            double l = li[k];
            const double *xk = x + k * n;
            for (size_t j = 0; j <= k; j++)
                r[j] += l * xk[j];
        }
        double inv = 1.0 / li[i];
        for (size_t j = 0; j < i; j++)
            x[i * n + j] = -r[j] * inv;
        x[i * n + i] = inv;
    }
    cw_free(r);
    /* a^-1 = X^T X, accumulated into the lower triangle. */
    memset(a, 0, n * n * sizeof(*a));
    for (size_t k = 0; k < n; k++) {
        const double *xk = x + k * n;
        for (size_t i = 0; i <= k; i++) {
            double v = xk[i];
            if (v == 0)
                continue;
            double *ai = a + i * n;
            for (size_t j = 0; j <= i; j++)
                ai[j] += v * xk[j];
        }
    }
    cw_free(x);
    mirror_lower(a, n);
    return 0;
}

int cw_spd_inverse_lapack(double *a, size_t n)
{
#ifdef CW_HAVE_BLAS
    if (!n)
        return 0;
    lapack_int rc =
        LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, a, (lapack_int)n);
    if (rc)
        return CW_EINVAL;
    rc = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, a, (lapack_int)n);
    if (rc)
        return CW_EINVAL;
    mirror_lower(a, n);
    return 0;
#else
    (void)a;
    (void)n;
    return CW_EUNSUPPORTED;
#endif
}
