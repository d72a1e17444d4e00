/*
 * test_simulate.c: the shopper simulator.
 *
 * What must hold whatever the engine recommends: a run is reproducible from
 * its seed; every test basket becomes one session per replay, in the arm
 * cw_experiment_assign gives its unit; the holdout sees nothing; the ground
 * truth is the real basket (with shoppers who find everything themselves
 * and never take anything else, every arm's revenue is exactly the test
 * baskets' revenue); and recommending a basket's missing item is what
 * earns a hit. The injected-lift mode reports the true effect and its
 * interval covers it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cartwise/cw_experiment.h"
#include "cartwise/cw_incentive.h"
#include "cartwise/cw_simulate.h"
#include "cartwise/cw_stats.h"
#include "testutil.h"

static void opts(struct cw_sim_opts *o)
{
    cw_sim_opts_default(o);
    o->train = tu_params_fixed(50);
}

static void run(const struct cw_dataset *ds, const struct cw_sim_opts *o,
                struct cw_sim_result *r)
{
    struct cw_buf err = CW_BUF_INIT;
    int rc = cw_sim_run(ds, o, r, &err);
    if (rc)
        fprintf(stderr, "cw_sim_run: %s\n", cw_buf_str(&err));
    assert_int_equal(rc, 0);
    cw_buf_release(&err);
}

/* Revenue of the test baskets (the last 20% in time order). */
static double test_revenue(const struct cw_dataset *ds)
{
    size_t nb = ds->baskets.n, ntrain = nb * 8 / 10;
    double s = 0;
    for (size_t x = ntrain; x < nb; x++) {
        uint32_t b = ds->order[x];
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            size_t l = ds->b_line[li];
            if (!isnan(ds->l_price[l]))
                s += ds->l_qty[l] * ds->l_price[l];
        }
    }
    return s;
}

/* Field by field: the struct has padding after arm. */
static void assert_units_equal(const struct cw_sim_result *a,
                               const struct cw_sim_result *b)
{
    assert_int_equal(a->n_units, b->n_units);
    for (size_t i = 0; i < a->n_units; i++) {
        const struct cw_stats_unit *x = &a->units[i], *y = &b->units[i];
        assert_int_equal(x->arm, y->arm);
        assert_true(x->sessions == y->sessions && x->orders == y->orders &&
                    x->revenue == y->revenue && x->profit == y->profit &&
                    x->pre_spend == y->pre_spend);
    }
}

static void test_reproducible(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 500, 12);
    struct cw_sim_opts o;
    opts(&o);
    o.seed = 42;
    struct cw_sim_result a, b, c;
    run(&ds, &o, &a);
    run(&ds, &o, &b);
    assert_units_equal(&a, &b);
    assert_memory_equal(a.arms, b.arms, sizeof(a.arms));
    o.seed = 43; /* another seed: other assignment and draws */
    run(&ds, &o, &c);
    int differ = c.n_units != a.n_units;
    for (size_t i = 0; !differ && i < a.n_units; i++)
        differ = a.units[i].arm != c.units[i].arm ||
                 a.units[i].revenue != c.units[i].revenue;
    assert_true(differ);
    cw_sim_result_release(&a);
    cw_sim_result_release(&b);
    cw_sim_result_release(&c);
    cw_dataset_release(&ds);
}

static void test_sessions_and_arms(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 500, 12);
    struct cw_sim_opts o;
    opts(&o);
    o.replays = 3;
    struct cw_sim_result r;
    run(&ds, &o, &r);
    assert_int_equal(r.test_baskets, 100);
    assert_int_equal(r.train_baskets, 400);
    assert_int_equal(r.sessions, 300);
    assert_string_equal(r.exp.arms[0].name, "holdout");
    assert_string_equal(r.exp.arms[1].name, "profit");
    double sessions[2] = {0, 0};
    for (size_t i = 0; i < r.n_units; i++) {
        assert_true(r.units[i].arm < 2);
        sessions[r.units[i].arm] += r.units[i].sessions;
        assert_true(r.units[i].orders <= r.units[i].sessions);
    }
    assert_true(sessions[0] == (double)r.arms[0].sessions);
    assert_true(sessions[1] == (double)r.arms[1].sessions);
    assert_int_equal(r.arms[0].sessions + r.arms[1].sessions, 300);
    /* the holdout sees nothing; the engine shows something */
    assert_int_equal(r.arms[0].shown, 0);
    assert_int_equal(r.arms[0].accepted_real + r.arms[0].accepted_other, 0);
    assert_true(r.arms[1].shown > 0);
    /* customers c0..c29 are units: pre-period spend from training */
    size_t with_pre = 0;
    for (size_t i = 0; i < r.n_units; i++)
        with_pre += r.units[i].pre_spend > 0;
    assert_true(with_pre > 0);
    /* every unit is where cw_experiment_assign puts it: customers are few
     * (30) and guests one per session, so units < sessions */
    assert_true(r.n_units < 300);
    cw_sim_result_release(&r);
    cw_dataset_release(&ds);
}

static void test_ground_truth_is_the_basket(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 500, 12);
    struct cw_sim_opts o;
    opts(&o);
    o.p_self = 1;          /* everyone finds their whole basket */
    o.p_other = 0;         /* and takes nothing else */
    o.abandon_mean = 1e-9; /* and nobody abandons */
    o.distraction = 0;
    struct cw_sim_result r;
    run(&ds, &o, &r);
    double rev = 0, orders = 0;
    for (size_t i = 0; i < r.n_units; i++) {
        rev += r.units[i].revenue;
        orders += r.units[i].orders;
    }
    assert_true(fabs(rev - test_revenue(&ds)) < 1e-6);
    assert_true(orders == 100);
    cw_sim_result_release(&r);
    cw_dataset_release(&ds);
}

static void test_hits_earn(void **state)
{
    /* A<k> and B<k> always come together and nothing else: a shopper
     * arrives with A<k>, is missing B<k>, and only the engine can bring it
     * back (p_self 0) */
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    for (size_t i = 0; i < 500; i++) {
        char b[16], c[16], ts[32], sa[16], sb[16];
        snprintf(b, sizeof(b), "b%04zu", i);
        snprintf(c, sizeof(c), "c%zu", i % 40);
        snprintf(ts, sizeof(ts), "2021-01-01 %02zu:%02zu:%02zu", i / 3600,
                 i / 60 % 60, i % 60);
        snprintf(sa, sizeof(sa), "A%zu", i % 12);
        snprintf(sb, sizeof(sb), "B%zu", i % 12);
        assert_int_equal(cw_dataset_add(&ds, b, c, ts, sa, 1, 5, NAN), 0);
        assert_int_equal(cw_dataset_add(&ds, b, c, ts, sb, 1, 3, NAN), 0);
    }
    cw_dataset_finish(&ds);
    struct cw_sim_opts o;
    opts(&o);
    o.p_self = 0;
    o.p_hit = 1;
    o.p_other = 0;
    o.abandon_mean = 1e-9;
    o.distraction = 0;
    o.seed = 7;
    struct cw_sim_result r;
    run(&ds, &o, &r);
    const struct cw_sim_arm *p = &r.arms[1];
    /* every profit-arm shopper gets B<k> back */
    assert_int_equal(p->accepted_real, p->sessions);
    assert_int_equal(p->recovered, p->sessions); /* none found unprompted */
    /* the truth: B<k> at 3.00 in every session */
    assert_true(fabs(r.truth[1][CW_METRIC_REVENUE_PER_SESSION] - 3) < 1e-9);
    assert_true(fabs(r.truth[1][CW_METRIC_AOV] - 3) < 1e-9);
    assert_int_equal(p->accepted_other, 0);
    /* the holdout buys only what it came with: A<k> at 5.00 */
    for (size_t i = 0; i < r.n_units; i++)
        if (r.units[i].arm == 0)
            assert_true(r.units[i].revenue == 5 * r.units[i].orders);
        else
            assert_true(r.units[i].revenue == 8 * r.units[i].orders);
    struct cw_stats_report *rep = cw_malloc(sizeof(*rep));
    uint32_t shares[2] = {5000, 5000};
    assert_int_equal(
        cw_stats_report(r.units, r.n_units, 2, shares, 0, NULL, rep, NULL), 0);
    const struct cw_stats_effect *e =
        &rep->effects[CW_METRIC_REVENUE_PER_SESSION];
    assert_true(e->estimate > 0 && e->ci_low > 0);
    assert_true(rep->effects[CW_METRIC_PROFIT_PER_SESSION].estimate > 0);
    cw_free(rep);
    cw_sim_result_release(&r);
    cw_dataset_release(&ds);
}

static void test_aa_and_lift(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 1000, 12);
    struct cw_sim_opts o;
    opts(&o);
    o.aa = 1;
    o.replays = 10;
    struct cw_sim_result r;
    run(&ds, &o, &r);
    assert_string_equal(r.exp.arms[0].name, "a");
    assert_string_equal(r.exp.arms[1].name, "b");
    assert_int_equal(r.exp.arms[1].kind, CW_ARM_PROFIT);
    /* identical arms: no true effect, except for sampling of nothing */
    assert_true(isnan(r.truth[0][CW_METRIC_AOV]));
    assert_true(r.truth[1][CW_METRIC_AOV] == 0);
    assert_true(r.truth[1][CW_METRIC_PROFIT_PER_SESSION] == 0);
    /* identical arms behave alike: the same shopper would do the same in
     * either, so per-session acceptance differs by noise only */
    double s0 = (double)r.arms[0].shown / (double)r.arms[0].sessions;
    double s1 = (double)r.arms[1].shown / (double)r.arms[1].sessions;
    assert_true(fabs(s0 - s1) < 0.1 * s0);
    cw_sim_result_release(&r);

    o.lift = 0.2;
    run(&ds, &o, &r);
    assert_true(r.truth[1][CW_METRIC_CONVERSION] == 0);
    assert_true(r.truth[1][CW_METRIC_AOV] > 0);
    struct cw_stats_report *rep = cw_malloc(sizeof(*rep));
    uint32_t shares[2] = {5000, 5000};
    assert_int_equal(
        cw_stats_report(r.units, r.n_units, 2, shares, 0, NULL, rep, NULL), 0);
    for (size_t m = 0; m < CW_METRIC__COUNT; m++) {
        const struct cw_stats_effect *e = &rep->effects[m];
        assert_true(e->seq_ci_low <= r.truth[1][m] &&
                    r.truth[1][m] <= e->seq_ci_high);
    }
    const struct cw_stats_effect *aov = &rep->effects[CW_METRIC_AOV];
    assert_true(aov->ci_low <= r.truth[1][CW_METRIC_AOV] &&
                r.truth[1][CW_METRIC_AOV] <= aov->ci_high);
    /* the lift's truth: lift x the population ratio without it */
    double rev = 0, orders = 0;
    for (size_t i = 0; i < r.n_units; i++) {
        rev += r.units[i].revenue / (r.units[i].arm == 1 ? 1.2 : 1);
        orders += r.units[i].orders;
    }
    assert_true(fabs(r.truth[1][CW_METRIC_AOV] - 0.2 * rev / orders) <
                1e-9 * rev / orders);
    cw_free(rep);
    cw_sim_result_release(&r);
    cw_dataset_release(&ds);
}

static void test_experiment_config(void **state)
{
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 500, 12);
    struct cw_experiment e;
    memset(&e, 0, sizeof(e));
    snprintf(e.id, sizeof(e.id), "x1");
    snprintf(e.salt, sizeof(e.salt), "pepper");
    e.unit = CW_EXP_UNIT_SESSION;
    e.n_arms = 3;
    e.arms[0] = (struct cw_arm){"control", CW_ARM_HOLDOUT, 2000};
    e.arms[1] = (struct cw_arm){"profit", CW_ARM_PROFIT, 4000};
    e.arms[2] = (struct cw_arm){"accuracy", CW_ARM_ACCURACY, 4000};
    struct cw_sim_opts o;
    opts(&o);
    o.exp = &e;
    struct cw_sim_result r;
    run(&ds, &o, &r);
    /* session units: one unit per session; a known customer's session
     * still carries the customer's pre-period spend, a guest's none */
    assert_int_equal(r.n_units, 100);
    size_t with_pre = 0;
    for (size_t i = 0; i < r.n_units; i++)
        with_pre += r.units[i].pre_spend > 0;
    assert_true(with_pre > 50 && with_pre < 80); /* two thirds customers */
    assert_int_equal(
        r.arms[0].sessions + r.arms[1].sessions + r.arms[2].sessions, 100);
    assert_true(r.arms[2].shown > 0);
    /* each test basket's arm follows cw_experiment_assign */
    size_t want[3] = {0, 0, 0};
    for (size_t x = 400; x < 500; x++) {
        const char *bid = ds.baskets.keys[ds.order[x]];
        const struct cw_arm *a = cw_experiment_assign(&e, NULL, bid, NULL);
        want[a - e.arms]++;
    }
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(r.arms[k].sessions, want[k]);
    cw_sim_result_release(&r);

    /* an invalid experiment or options are refused */
    struct cw_buf err = CW_BUF_INIT;
    e.arms[2].share_bp = 1;
    assert_int_equal(cw_sim_run(&ds, &o, &r, &err), CW_EINVAL);
    assert_string_equal(cw_buf_str(&err),
                        "arm shares sum to 6001 basis points, not 10000");
    opts(&o);
    o.p_hit = 1.5;
    assert_int_equal(cw_sim_run(&ds, &o, &r, &err), CW_EINVAL);
    assert_string_equal(cw_buf_str(&err), "p_hit must be in [0, 1], not 1.5");
    cw_buf_release(&err);
    cw_dataset_release(&ds);

    /* too few baskets */
    tu_pairs_dataset(&ds, 2, 2);
    opts(&o);
    assert_int_equal(cw_sim_run(&ds, &o, &r, NULL), CW_ENODATA);
    cw_dataset_release(&ds);
}

static void test_fixture(void **state)
{
    /* the real Online Retail fixture: runs, and the ground truth holds */
    char path[512];
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    assert_int_equal(
        tu_load_lines(&ds, tu_data_path(path, sizeof(path), "lines_small.csv")),
        0);
    cw_dataset_finish(&ds);
    struct cw_sim_opts o;
    opts(&o);
    o.p_self = 1;
    o.p_other = 0;
    o.abandon_mean = 1e-9;
    o.distraction = 0;
    struct cw_sim_result r;
    run(&ds, &o, &r);
    assert_int_equal(r.test_baskets, 18);
    double rev = 0;
    for (size_t i = 0; i < r.n_units; i++)
        rev += r.units[i].revenue;
    assert_true(fabs(rev - test_revenue(&ds)) < 1e-6 * test_revenue(&ds));
    assert_true(r.arms[1].shown > 0);
    cw_sim_result_release(&r);
    cw_dataset_release(&ds);
}

static void test_incentives(void **state)
{
    /* flat shipping 3.00 (costs 2.50), free from 20.00; a discount for
     * likely abandoners with a budget */
    struct cw_incentive_config c;
    cw_incentive_config_default(&c);
    c.shipping.model = CW_SHIP_FLAT;
    c.shipping.fee = 300;
    c.shipping.cost = 250;
    c.n_tiers = 1;
    c.tiers[0].reward = CW_REWARD_FREE_SHIPPING;
    c.tiers[0].threshold = 2000;
    c.discount.enabled = 1;
    c.discount.daily_budget = 100000;
    c.discount.propensity_threshold = 0.3;
    c.discount.margin_floor = 0;
    assert_int_equal(cw_incentive_config_validate(&c, NULL), 0);
    struct cw_dataset ds;
    tu_pairs_dataset(&ds, 600, 12);
    struct cw_sim_opts o;
    opts(&o);
    o.incentives = &c;
    o.replays = 4;
    struct cw_sim_result r, r2;
    run(&ds, &o, &r);
    /* both arms are priced: shipping is paid or given away */
    assert_true(r.arms[0].reward_cost != 0 && r.arms[1].reward_cost != 0);
    /* shoppers just short of 20.00 top up, in both arms (static tier) */
    assert_true(r.arms[0].topups > 0 && r.arms[1].topups > 0);
    run(&ds, &o, &r2); /* reproducible with incentives too */
    assert_units_equal(&r, &r2);
    cw_sim_result_release(&r2);
    /* nobody tops up when no shopper tolerates a gap */
    o.topup_max = 0;
    run(&ds, &o, &r2);
    assert_int_equal(r2.arms[0].topups + r2.arms[1].topups, 0);
    /* topping up raises order value: the truth says so for the same
     * shoppers */
    double rev = 0, rev2 = 0;
    for (size_t i = 0; i < r.n_units; i++)
        rev += r.units[i].revenue;
    for (size_t i = 0; i < r2.n_units; i++)
        rev2 += r2.units[i].revenue;
    assert_true(rev > rev2);
    cw_sim_result_release(&r2);
    /* a config in another currency than the model's is refused */
    memcpy(c.currency, "EUR", 4);
    o.topup_max = 0.3;
    struct cw_buf err = CW_BUF_INIT;
    assert_int_equal(cw_sim_run(&ds, &o, &r2, &err), CW_EINVAL);
    assert_non_null(strstr(cw_buf_str(&err), "currency"));
    cw_buf_release(&err);
    cw_sim_result_release(&r);
    cw_dataset_release(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_reproducible),
        TU_TEST(test_sessions_and_arms),
        TU_TEST(test_ground_truth_is_the_basket),
        TU_TEST(test_hits_earn),
        TU_TEST(test_aa_and_lift),
        TU_TEST(test_experiment_config),
        TU_TEST(test_fixture),
        TU_TEST(test_incentives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
