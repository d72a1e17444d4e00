/*
 * test_experiment.c: experiment validation and arm assignment.
 *
 * Assignment must be exactly xxh3(salt || unit) mod 10000 (checked against
 * libxxhash itself, so servers written in other languages can reproduce
 * it), sticky per customer across sessions, fall back to the session for
 * anonymous shoppers, split traffic in the configured shares (checked with
 * a chi-square test over 100,000 units), and change with the salt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <xxhash.h>

#include "cartwise/cw_decide.h"
#include "cartwise/cw_experiment.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "cartwise/cw_stats.h"
#include "testutil.h"

static void make(struct cw_experiment *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "cart-xsell-1");
    snprintf(e->salt, sizeof(e->salt), "s3cret");
    e->unit = CW_EXP_UNIT_CUSTOMER;
    e->n_arms = 3;
    e->arms[0] = (struct cw_arm){"holdout", CW_ARM_HOLDOUT, 1000};
    e->arms[1] = (struct cw_arm){"profit", CW_ARM_PROFIT, 4500};
    e->arms[2] = (struct cw_arm){"accuracy", CW_ARM_ACCURACY, 4500};
}

static void expect_invalid(const struct cw_experiment *e, const char *msg)
{
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_experiment_validate(e, &err), CW_EINVAL);
    if (strcmp(cw_buf_str(&err), msg))
        fprintf(stderr, "got '%s'\n", cw_buf_str(&err));
    assert_string_equal(cw_buf_str(&err), msg);
    cw_buf_release(&err);
}

static void test_validate(void **state)
{
    struct cw_experiment e;
    make(&e);
    assert_int_equal(cw_experiment_validate(&e, NULL), 0);
    e.arms[2].share_bp = 3500;
    expect_invalid(&e, "arm shares sum to 9000 basis points, not 10000");
    make(&e);
    snprintf(e.arms[2].name, sizeof(e.arms[2].name), "profit");
    expect_invalid(&e, "duplicate arm name 'profit'");
    make(&e);
    snprintf(e.arms[1].name, sizeof(e.arms[1].name), "Profit!");
    expect_invalid(&e, "arm 1 name must be 1 to 31 characters of [a-z0-9_-]");
    make(&e);
    e.arms[0].name[0] = '\0';
    expect_invalid(&e, "arm 0 name must be 1 to 31 characters of [a-z0-9_-]");
    make(&e);
    e.id[0] = '\0';
    expect_invalid(&e, "experiment id is empty or too long");
    make(&e);
    e.salt[0] = '\0';
    expect_invalid(&e, "experiment salt is empty or too long");
    make(&e);
    e.n_arms = 1;
    expect_invalid(&e, "experiment needs 2 to 8 arms, not 1");
    make(&e);
    e.arms[1].share_bp = 20000;
    expect_invalid(&e, "arm 'profit' share 20000 exceeds 10000 basis points");
    make(&e);
    e.arms[1].kind = (enum cw_arm_kind)7;
    expect_invalid(&e, "arm 'profit' has an unknown kind");
    make(&e);
    e.unit = (enum cw_exp_unit)5;
    expect_invalid(&e, "experiment unit is not customer or session");
    expect_invalid(NULL, "no experiment");
    /* a paused arm (share 0) is fine */
    make(&e);
    e.arms[0].share_bp = 0;
    e.arms[1].share_bp = 5500;
    assert_int_equal(cw_experiment_validate(&e, NULL), 0);
}

static void test_kinds(void **state)
{
    enum cw_arm_kind k;
    assert_string_equal(cw_arm_kind_name(CW_ARM_HOLDOUT), "holdout");
    assert_string_equal(cw_arm_kind_name(CW_ARM_PROFIT), "profit");
    assert_string_equal(cw_arm_kind_name(CW_ARM_ACCURACY), "accuracy");
    assert_int_equal(cw_arm_kind_parse("accuracy", &k), 0);
    assert_int_equal(k, CW_ARM_ACCURACY);
    assert_int_equal(cw_arm_kind_parse("holdout", &k), 0);
    assert_int_equal(k, CW_ARM_HOLDOUT);
    assert_int_equal(cw_arm_kind_parse("treatment", &k), CW_EINVAL);
    assert_int_equal(cw_arm_kind_parse(NULL, &k), CW_EINVAL);

    struct cw_experiment e;
    make(&e);
    assert_false(cw_arm_shows_addons(&e.arms[0]));
    assert_true(cw_arm_shows_addons(&e.arms[1]));
    assert_true(cw_arm_shows_addons(&e.arms[2]));
    assert_false(cw_arm_shows_addons(NULL));
    assert_int_equal(cw_arm_decide_flags(&e.arms[1]), 0);
    assert_int_equal(cw_arm_decide_flags(&e.arms[2]), CW_DECIDE_ACCURACY_ONLY);
    assert_int_equal(cw_experiment_control(&e), 0);
    assert_int_equal(cw_experiment_find_arm(&e, "accuracy"), 2);
    assert_int_equal(cw_experiment_find_arm(&e, "nope"), -1);
    /* without a holdout the first arm is the reference */
    e.arms[0].kind = CW_ARM_PROFIT;
    e.arms[2].kind = CW_ARM_HOLDOUT;
    assert_int_equal(cw_experiment_control(&e), 2);
    e.arms[2].kind = CW_ARM_PROFIT;
    assert_int_equal(cw_experiment_control(&e), 0);
}

static void test_bucket_is_xxh3(void **state)
{
    /* the published definition: xxh3-64 over salt bytes then unit bytes */
    const char *units[] = {"17850", "s-123", "", "customer-with-a-long-id"};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        char cat[128];
        int n = snprintf(cat, sizeof(cat), "s3cret%s", units[i]);
        uint32_t want = (uint32_t)(XXH3_64bits(cat, (size_t)n) % 10000);
        assert_int_equal(cw_experiment_bucket("s3cret", units[i]), want);
    }
    /* past the stack buffer: same definition */
    char big[1500];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char cat[1600];
    int n = snprintf(cat, sizeof(cat), "s3cret%s", big);
    assert_int_equal(cw_experiment_bucket("s3cret", big),
                     (uint32_t)(XXH3_64bits(cat, (size_t)n) % 10000));
}

static void test_assign_sticky(void **state)
{
    struct cw_experiment e;
    make(&e);
    uint32_t b1, b2;
    const struct cw_arm *a1 = cw_experiment_assign(&e, "17850", "s-1", &b1);
    const struct cw_arm *a2 = cw_experiment_assign(&e, "17850", "s-2", &b2);
    assert_non_null(a1);
    assert_ptr_equal(a1, a2); /* same customer, another session */
    assert_int_equal(b1, b2);
    assert_int_equal(b1, cw_experiment_bucket("s3cret", "17850"));
    /* the bucket picks the arm by cumulative shares, in config order */
    size_t want = b1 < 1000 ? 0 : b1 < 5500 ? 1 : 2;
    assert_ptr_equal(a1, &e.arms[want]);
    /* anonymous: the session decides */
    const struct cw_arm *g = cw_experiment_assign(&e, NULL, "s-9", &b1);
    assert_int_equal(b1, cw_experiment_bucket("s3cret", "s-9"));
    assert_ptr_equal(g, cw_experiment_assign(&e, "", "s-9", NULL));
    assert_string_equal(cw_experiment_unit(&e, "", "s-9"), "s-9");
    assert_string_equal(cw_experiment_unit(&e, "c1", "s-9"), "c1");
    /* session unit: the customer is ignored */
    e.unit = CW_EXP_UNIT_SESSION;
    cw_experiment_assign(&e, "17850", "s-9", &b2);
    assert_int_equal(b2, cw_experiment_bucket("s3cret", "s-9"));
    assert_string_equal(cw_experiment_unit(&e, "c1", "s-9"), "s-9");
    /* nothing to hash */
    assert_null(cw_experiment_assign(&e, "c", NULL, NULL));
    assert_null(cw_experiment_assign(&e, NULL, "", NULL));
    assert_null(cw_experiment_assign(NULL, "c", "s", NULL));
    assert_null(cw_experiment_unit(&e, "c", NULL));
}

static void test_assign_shares(void **state)
{
    struct cw_experiment e;
    make(&e);
    size_t n = 100000, count[3] = {0}, moved = 0;
    struct cw_experiment e2 = e;
    snprintf(e2.salt, sizeof(e2.salt), "other-salt");
    for (size_t i = 0; i < n; i++) {
        char unit[32];
        snprintf(unit, sizeof(unit), "cust-%zu", i);
        const struct cw_arm *a = cw_experiment_assign(&e, unit, "s", NULL);
        count[a - e.arms]++;
        moved += (a - e.arms) !=
                 (cw_experiment_assign(&e2, unit, "s", NULL) - e2.arms);
    }
    double chi2 = 0;
    for (size_t k = 0; k < 3; k++) {
        double want = (double)n * e.arms[k].share_bp / 10000.0;
        chi2 += ((double)count[k] - want) * ((double)count[k] - want) / want;
    }
    /* a fair hash passes the SRM test (p > 0.001) */
    assert_true(cw_stats_chi2_sf(chi2, 2) > 0.001);
    /* a new salt reshuffles: 1 - (0.1^2 + 0.45^2 * 2) = 0.585 move */
    assert_true(moved > 0.55 * n && moved < 0.62 * n);
    /* a paused arm gets nobody */
    e.arms[0].share_bp = 0;
    e.arms[1].share_bp = 5500;
    for (size_t i = 0; i < 2000; i++) {
        char unit[32];
        snprintf(unit, sizeof(unit), "u%zu", i);
        assert_ptr_not_equal(cw_experiment_assign(&e, NULL, unit, NULL),
                             &e.arms[0]);
    }
}

#define DEC(id, sess, cust, exp, arm, ts)                                      \
    {                                                                          \
        id, sess, cust, exp, arm, "cart", ts, 1, 0, "[]", NULL, NULL           \
    }
#define PUR(id, sess, ts, order, value, profit)                                \
    {                                                                          \
        id, "purchase", sess, NULL, ts, NULL, NULL, NULL, NULL, order, value,  \
            profit, NULL                                                       \
    }

static void test_log_units(void **state)
{
    struct cw_experiment e;
    make(&e);
    snprintf(e.id, sizeof(e.id), "x");
    snprintf(e.start, sizeof(e.start), "2021-01-01");
    snprintf(e.stop, sizeof(e.stop), "2021-03-03"); /* d7 at 12:00 is in */
    const struct cw_decision_rec dec[] = {
        DEC("d1", "s1", "c1", "x", "holdout", "2021-03-01 10:00:00"),
        DEC("d2", "s2", "c1", "x", "holdout", "2021-03-02 10:00:00"),
        DEC("d3", "s3", NULL, "x", "profit", "2021-03-01 11:00:00"),
        DEC("d4", "s3", NULL, "other", "profit", "2021-03-01 11:00:00"),
        DEC("d5", "s3", NULL, "x", "nope", "2021-03-01 11:00:00"),
        DEC("d6", "s4", "c2", "x", "profit", "2021-03-01 12:00:00"),
        DEC("d7", "s5", "c2", "x", "holdout", "2021-03-03 12:00:00"),
        DEC("d8", "s6", "c3", "x", "profit", "2020-06-01 12:00:00"),
        DEC("d9", "s3", NULL, "x", "profit", "2021-03-01 11:10:00"),
    };
    const struct cw_event_rec ev[] = {
        PUR("p1", "s1", "2021-03-01 10:05:00", "o1", 1000, 300),
        PUR("p2", "s1", "2021-03-01 10:06:00", "o1", 1000, 300),
        PUR("p3", "s2", "2021-03-02 09:00:00", "o3", 4000, 1000),
        PUR("p4", "s3", "2021-03-01T11:30:00Z", NULL, 2000, CW_MONEY_UNKNOWN),
        PUR("p5", "s9", "2021-03-01 11:30:00", "o5", 2000, 100),
        {"v1", "view", "s1", NULL, "2021-03-01 10:01:00", "A", NULL, NULL, NULL,
         NULL, CW_MONEY_UNKNOWN, CW_MONEY_UNKNOWN, NULL},
    };
    struct cw_exp_log *l = cw_exp_log_new(&e, 0.3, 0.01);
    for (size_t i = 0; i < sizeof(dec) / sizeof(dec[0]); i++)
        cw_exp_log_decision(l, &dec[i]);
    for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
        cw_exp_log_event(l, &ev[i]);
    cw_exp_log_spend(l, "c1", "2021-02-01 10:00:00", 5000);
    cw_exp_log_spend(l, "c1", "2021-04-01 10:00:00", 7000); /* after */
    cw_exp_log_spend(l, "s3", "2021-02-01 10:00:00", 7000); /* a session */
    size_t n = 0;
    struct cw_exp_log_stats st;
    struct cw_stats_unit *u = cw_exp_log_units(l, &n, &st);
    assert_int_equal(st.decisions, 6);
    assert_int_equal(st.other_experiment, 1);
    assert_int_equal(st.unknown_arm, 1);
    assert_int_equal(st.outside_window, 1);
    assert_int_equal(st.mixed_units, 1); /* c2 */
    assert_int_equal(st.purchases, 2);
    assert_int_equal(st.purchases_duplicate, 1);
    assert_int_equal(st.purchases_before, 1);
    assert_int_equal(st.purchases_unexposed, 1);
    assert_int_equal(st.profit_assumed, 1);
    assert_int_equal(n, 2);
    /* c1: holdout, two sessions, one order of 10.00 / 3.00, 50.00 before */
    assert_int_equal(u[0].arm, 0);
    assert_true(u[0].sessions == 2 && u[0].orders == 1);
    assert_true(fabs(u[0].revenue - 10) < 1e-12);
    assert_true(fabs(u[0].profit - 3) < 1e-12);
    assert_true(fabs(u[0].pre_spend - 50) < 1e-12);
    /* s3: an anonymous unit in profit, margin assumed at 30% */
    assert_int_equal(u[1].arm, 1);
    assert_true(u[1].sessions == 1 && u[1].orders == 1);
    assert_true(fabs(u[1].revenue - 20) < 1e-12);
    assert_true(fabs(u[1].profit - 6) < 1e-12);
    assert_true(u[1].pre_spend == 0);
    cw_free(u);
    cw_exp_log_free(l);
    cw_exp_log_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_validate),       TU_TEST(test_kinds),
        TU_TEST(test_bucket_is_xxh3), TU_TEST(test_assign_sticky),
        TU_TEST(test_assign_shares),  TU_TEST(test_log_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
