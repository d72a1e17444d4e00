/*
 * test_solve.c: the dense SPD inverse that EASE training rests on.
 *
 * The plain-C Cholesky is checked against an inverse known exactly, both
 * implementations against each other on a well-conditioned random matrix,
 * and A * inv(A) against the identity; matrices that are not positive
 * definite must be refused, not inverted into garbage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cartwise/cw_train.h"
#include "testutil.h"

static void test_plain_known_3x3(void **state)
{
    /* A = L L^T with L = [[2,0,0],[6,1,0],[-8,5,3]]; det A = 36 */
    double a[9] = {4, 12, -16, 12, 37, -43, -16, -43, 98};
    static const double inv36[9] = {1777, -488, 76, -488, 136, -20, 76, -20, 4};
    assert_int_equal(cw_spd_inverse_plain(a, 3), 0);
    for (int i = 0; i < 9; i++)
        assert_true(fabs(a[i] - inv36[i] / 36.0) < 1e-9);
}

static void test_lapack_known_3x3(void **state)
{
    double a[9] = {4, 12, -16, 12, 37, -43, -16, -43, 98};
    static const double inv36[9] = {1777, -488, 76, -488, 136, -20, 76, -20, 4};
    int rc = cw_spd_inverse_lapack(a, 3);
    if (rc == CW_EUNSUPPORTED)
        skip();
    assert_int_equal(rc, 0);
    for (int i = 0; i < 9; i++)
        assert_true(fabs(a[i] - inv36[i] / 36.0) < 1e-9);
}

static void test_plain_1x1_and_diagonal(void **state)
{
    double one[1] = {4};
    assert_int_equal(cw_spd_inverse_plain(one, 1), 0);
    assert_true(fabs(one[0] - 0.25) < 1e-15);
    double d[16] = {0};
    for (int i = 0; i < 4; i++)
        d[i * 4 + i] = (double)(1 << i); /* 1, 2, 4, 8 */
    assert_int_equal(cw_spd_inverse_plain(d, 4), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            assert_true(fabs(d[i * 4 + j] - (i == j ? 1.0 / (1 << i) : 0.0)) <
                        1e-15);
}

/* A = M M^T + n I with M uniform in [-1, 1) from a fixed seed. */
static double *random_spd(size_t n, uint32_t seed)
{
    double *m = malloc(n * n * sizeof(*m));
    double *a = malloc(n * n * sizeof(*a));
    for (size_t i = 0; i < n * n; i++)
        m[i] = (double)(tu_rand(&seed) & 0xffff) / 32768.0 - 1.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t k = 0; k < n; k++)
                s += m[i * n + k] * m[j * n + k];
            a[i * n + j] = s + (i == j ? (double)n : 0);
        }
    free(m);
    return a;
}

/* Largest |(A X)_ij - I_ij|. */
static double identity_error(const double *a, const double *x, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t k = 0; k < n; k++)
                s += a[i * n + k] * x[k * n + j];
            double e = fabs(s - (i == j ? 1.0 : 0.0));
            if (e > worst)
                worst = e;
        }
    return worst;
}

static void test_plain_vs_lapack_200(void **state)
{
    const size_t n = 200;
    double *a = random_spd(n, 2024);
    double *p = malloc(n * n * sizeof(*p));
    double *l = malloc(n * n * sizeof(*l));
    memcpy(p, a, n * n * sizeof(*p));
    memcpy(l, a, n * n * sizeof(*l));

    assert_int_equal(cw_spd_inverse_plain(p, n), 0);
    double err = identity_error(a, p, n);
    assert_true(err < 1e-9);
    /* the inverse is symmetric (both triangles filled) */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            assert_true(p[i * n + j] == p[j * n + i]);

    int rc = cw_spd_inverse_lapack(l, n);
    if (rc != CW_EUNSUPPORTED) {
        assert_int_equal(rc, 0);
        double maxabs = 0, diff = 0;
        for (size_t i = 0; i < n * n; i++) {
            if (fabs(l[i]) > maxabs)
                maxabs = fabs(l[i]);
            if (fabs(l[i] - p[i]) > diff)
                diff = fabs(l[i] - p[i]);
        }
        assert_true(maxabs > 0);
        assert_true(diff < 1e-9 * maxabs);
        assert_true(identity_error(a, l, n) < 1e-9);
    } else {
        /* without LAPACKE the input must be left for the plain solver */
        assert_memory_equal(l, a, n * n * sizeof(*l));
    }
    free(a);
    free(p);
    free(l);
}

static void test_not_spd_refused(void **state)
{
    /* indefinite (eigenvalues 3 and -1) */
    double ind[4] = {1, 2, 2, 1};
    assert_int_equal(cw_spd_inverse_plain(ind, 2), CW_EINVAL);
    /* singular (rank 1) */
    double sing[9] = {1, 2, 3, 2, 4, 6, 3, 6, 9};
    assert_true(cw_spd_inverse_plain(sing, 3) < 0);
    /* negative definite */
    double neg[4] = {-2, 0, 0, -3};
    assert_int_equal(cw_spd_inverse_plain(neg, 2), CW_EINVAL);
    /* the zero matrix */
    double zero[4] = {0};
    assert_int_equal(cw_spd_inverse_plain(zero, 2), CW_EINVAL);

    double ind2[4] = {1, 2, 2, 1};
    int rc = cw_spd_inverse_lapack(ind2, 2);
    assert_true(rc == CW_EINVAL || rc == CW_EUNSUPPORTED);
    double neg2[4] = {-2, 0, 0, -3};
    rc = cw_spd_inverse_lapack(neg2, 2);
    assert_true(rc == CW_EINVAL || rc == CW_EUNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_plain_known_3x3),        TU_TEST(test_lapack_known_3x3),
        TU_TEST(test_plain_1x1_and_diagonal), TU_TEST(test_plain_vs_lapack_200),
        TU_TEST(test_not_spd_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
