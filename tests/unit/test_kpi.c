/*
 * test_kpi.c: the KPI report on a small store worked out by hand.
 *
 * Seven orders over six months (one guest, one line without a cost), two
 * returns, four sessions of events and two logged decisions: every figure
 * of the report is checked against the arithmetic in the comments, and so
 * is what the report says when an input is missing (no costs, no events, no
 * decisions, no customers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "cartwise/cw_kpi.h"
#include "cartwise/cw_money.h"
#include "testutil.h"

#define U CW_MONEY_UNKNOWN
#define NEAR(a, b)                                                             \
    assert_true(fabs((a) - (double)(b)) < 1e-9 * (1 + fabs((double)(b))))

/* order, customer, ts, sku, qty, price, cost (minor units) */
static const struct cw_kpi_line lines[] = {
    {"o1", "c1", "2021-01-05 10:00:00", "A", 2, 1000, 600},  /* 2000 / 800 */
    {"o1", "c1", "2021-01-05 10:00:00", "B", 1, 500, U},     /* 500 / 150 */
    {"o2", "c1", "2021-01-20 10:00:00", "A", 1, 1000, 600},  /* 1000 / 400 */
    {"o3", "c2", "2021-02-10 09:00:00", "C", 3, 2000, 1000}, /* 6000 / 3000 */
    {"o4", NULL, "2021-02-11 12:00:00", "A", 1, 1000, 600},  /* guest */
    {"o5", "c3", "2021-03-01 08:00:00", "B", 4, 500, U},     /* 2000 / 600 */
    {"o6", "c2", "2021-05-15 09:00:00", "A", 1, 1000, 600},  /* 1000 / 400 */
    {"o7", "c4", "2021-06-30 18:00:00", "C", 1, 2000, 1000}, /* 2000/1000 */
    {"o8", "c4", "2021-06-30 18:00:00", "C", 0, 2000, 1000}, /* qty 0 */
};

static const struct cw_return_rec rets[] = {
    {"r1", NULL, "c1", "A", "2021-01-07 10:00:00", 1, 1000},
    {"r2", NULL, "c2", "C", "2021-07-01 10:00:00", 2, 1000},
};

#define EV(id, type, sess, ts, sku, dec, value, profit)                        \
    {                                                                          \
        id, type, sess, NULL, ts, sku, dec, NULL, NULL, NULL, value, profit,   \
            NULL                                                               \
    }

static const struct cw_event_rec events[] = {
    EV("e1", "view", "s1", "2021-01-05 09:50:00", "A", NULL, U, U),
    EV("e2", "add_to_cart", "s1", "2021-01-05 09:55:00", "X", "d1", U, U),
    EV("e3", "cart_view", "s1", "2021-01-05 09:56:00", NULL, NULL, U, U),
    EV("e4", "checkout_start", "s1", "2021-01-05 09:58:00", NULL, NULL, U, U),
    EV("e5", "purchase", "s1", "2021-01-05 10:00:00", NULL, NULL, 3000, U),
    EV("e6", "view", "s2", "2021-02-01 10:00:00", "Z", NULL, U, U),
    EV("e7", "add_to_cart", "s2", "2021-02-01 10:01:00", "A", NULL, U, U),
    EV("e8", "view", "s3", "2021-03-01 07:00:00", "B", NULL, U, U),
    EV("e9", "offer_accept", "s3", "2021-03-01 07:10:00", NULL, NULL, 200, U),
    EV("e10", "purchase", "s3", "2021-03-01 08:00:00", NULL, NULL, 5000, 1500),
    EV("e11", "view", "s4", "2021-04-01 07:00:00", "C", NULL, U, U),
    /* a second add of the same shown item is one acceptance */
    EV("e12", "add_to_cart", "s1", "2021-01-05 09:57:00", "X", "d1", U, U),
};

static const struct cw_kpi_shown shown[] = {
    {"d1", "s1", "cart", "pairs_with", "X", "2021-01-05 09:54:00"},
    {"d1", "s1", "cart", "pairs_with", "Y", "2021-01-05 09:54:00"},
    {"d2", "s2", "product", "popular", "Z", "2021-02-01 10:00:30"},
};

static struct cw_kpi_input input(void)
{
    struct cw_kpi_input in;
    memset(&in, 0, sizeof(in));
    in.lines = lines;
    in.n_lines = sizeof(lines) / sizeof(lines[0]);
    in.returns = rets;
    in.n_returns = 2;
    in.events = events;
    in.n_events = sizeof(events) / sizeof(events[0]);
    in.shown = shown;
    in.n_shown = 3;
    in.n_decisions = 2;
    in.default_margin_rate = 0.30;
    return in;
}

static int has(char *const *list, size_t n, const char *needle)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(list[i], needle))
            return 1;
    return 0;
}

static void test_parse_ts(void **state)
{
    int64_t t;
    assert_int_equal(cw_kpi_parse_ts("1970-01-01 00:00:00", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(cw_kpi_parse_ts("2011-12-09 12:50:00", &t), 0);
    assert_int_equal(t, 1323435000); /* date -u -d ... +%s */
    assert_int_equal(cw_kpi_parse_ts("2026-11-22T10:00:00Z", &t), 0);
    assert_int_equal(t, 1795341600);
    assert_int_equal(cw_kpi_parse_ts("2000-02-29", &t), 0);
    assert_int_equal(t, 951782400);
    assert_int_equal(cw_kpi_parse_ts("2011-13-01", &t), CW_EPARSE);
    assert_int_equal(cw_kpi_parse_ts("20111201", &t), CW_EPARSE);
    assert_int_equal(cw_kpi_parse_ts("2011-12-01 1x:00", &t), CW_EPARSE);
    assert_int_equal(cw_kpi_parse_ts(NULL, &t), CW_EPARSE);
}

static void test_orders(void **state)
{
    struct cw_kpi_input in = input();
    struct cw_kpi_report r;
    assert_int_equal(cw_kpi_report(&in, &r, NULL), 0);
    assert_int_equal(r.orders, 7); /* o8 has no line with qty > 0 */
    assert_int_equal(r.lines, 8);
    assert_int_equal(r.guest_orders, 1);
    NEAR(r.revenue, 15500);
    NEAR(r.profit, 6750);
    NEAR(r.units, 14);
    NEAR(r.aov, 15500.0 / 7);
    NEAR(r.profit_per_order, 6750.0 / 7);
    NEAR(r.profit_aov_ratio, 6750.0 / 15500);
    NEAR(r.units_per_order, 2);
    NEAR(r.assumed_margin_share, 2500.0 / 15500);
    assert_true(has(r.assumptions, r.n_assumptions,
                    "margin rate 30% assumed where costs are unknown (16.1% "
                    "of revenue)"));
    assert_true(has(r.assumptions, r.n_assumptions, "1 guest orders"));
    /* returns: 3 units of 14, 2000 of 15500 refunded */
    assert_int_equal(r.returns, 2);
    NEAR(r.return_rate, 3.0 / 14);
    NEAR(r.return_rate_value, 2000.0 / 15500);
    cw_kpi_report_release(&r);
}

static void test_loyalty_and_retention(void **state)
{
    struct cw_kpi_input in = input();
    struct cw_kpi_report r;
    assert_int_equal(cw_kpi_report(&in, &r, NULL), 0);
    /* c1 (o1, o2), c2 (o3, o6), c3 (o5), c4 (o7): 6 orders, 2 repeaters */
    assert_int_equal(r.customers, 4);
    NEAR(r.repeat_rate, 0.5);
    NEAR(r.orders_per_customer, 1.5);
    /* gaps 15 days (c1) and 94 days (c2): median 54.5 */
    NEAR(r.median_days_between_orders, 54.5);
    /* known orders 1000 1000 2000 2000 2500 6000: P75 = 2000 + .75 * 500 */
    NEAR(r.high_value_threshold, 2375);
    /* followed 30 days (data ends 2021-06-30 18:00): o1 o2 o3 o5 o6; high
     * = o1 (repeats in 15 days) and o3 (next order after 94 days) */
    const struct cw_kpi_retention *w = r.retention;
    assert_int_equal(w[0].days, 30);
    assert_int_equal(w[0].high_orders, 2);
    assert_int_equal(w[0].high_repeat, 1);
    assert_int_equal(w[0].rest_orders, 3);
    assert_int_equal(w[0].rest_repeat, 0);
    NEAR(w[0].high_rate, 0.5);
    NEAR(w[0].rest_rate, 0);
    /* 60 days: o6 (May 15) is no longer followed long enough */
    assert_int_equal(w[1].days, 60);
    assert_int_equal(w[1].high_orders, 2);
    assert_int_equal(w[1].rest_orders, 2);
    /* 90 days: o3's repeat after 94 days still does not count */
    assert_int_equal(w[2].high_repeat, 1);
    assert_int_equal(w[2].rest_orders, 2);
    /* cohorts: Jan (c1) followed to June, Feb (c2) back in May (month 3),
     * Mar (c3), Jun (c4) */
    assert_int_equal(r.n_cohorts, 4);
    assert_string_equal(r.cohorts[0].month, "2021-01");
    assert_int_equal(r.cohorts[0].n_months, 6);
    NEAR(r.cohorts[0].retention[0], 1);
    NEAR(r.cohorts[0].retention[1], 0);
    assert_string_equal(r.cohorts[1].month, "2021-02");
    assert_int_equal(r.cohorts[1].n_months, 5);
    NEAR(r.cohorts[1].retention[3], 1);
    NEAR(r.cohorts[1].retention[2], 0);
    assert_string_equal(r.cohorts[3].month, "2021-06");
    assert_int_equal(r.cohorts[3].n_months, 1);
    cw_kpi_report_release(&r);
}

static void test_funnel_addons_discounts(void **state)
{
    struct cw_kpi_input in = input();
    struct cw_kpi_report r;
    assert_int_equal(cw_kpi_report(&in, &r, NULL), 0);
    assert_true(r.funnel_computed);
    assert_int_equal(r.sessions, 4);
    size_t want[] = {4, 2, 1, 1, 2};
    for (size_t s = 0; s < CW_KPI_FUNNEL_STEPS; s++)
        assert_int_equal(r.funnel[s], want[s]);
    assert_true(isnan(r.funnel_drop[0]));
    NEAR(r.funnel_drop[1], 0.5);
    NEAR(r.funnel_drop[2], 0.5);
    NEAR(r.funnel_drop[3], 0);
    /* add-ons: cart showed X, Y (X accepted, once); product showed Z */
    assert_true(r.addons_computed);
    assert_int_equal(r.n_placements, 2);
    assert_string_equal(r.placements[0].name, "cart");
    assert_int_equal(r.placements[0].shown, 2);
    assert_int_equal(r.placements[0].accepted, 1);
    NEAR(r.placements[0].acceptance_rate, 0.5);
    /* s1 was shown cart add-ons, bought, and took one */
    assert_int_equal(r.placements[0].purchasing_sessions, 1);
    NEAR(r.placements[0].attach_rate, 1);
    assert_string_equal(r.placements[1].name, "product");
    NEAR(r.placements[1].acceptance_rate, 0);
    assert_true(isnan(r.placements[1].attach_rate)); /* s2 did not buy */
    assert_string_equal(r.reasons[0].name, "pairs_with");
    assert_int_equal(r.reasons[0].accepted, 1);
    assert_string_equal(r.reasons[1].name, "popular");
    /* discount: 200 given in s3, whose purchase made 1500 margin */
    assert_true(r.discount_computed);
    assert_int_equal(r.offers_accepted, 1);
    NEAR(r.discount_cost, 200);
    NEAR(r.discount_roi, (1500.0 - 200) / 200);
    assert_int_equal(r.n_not_computed, 0);
    cw_kpi_report_release(&r);
}

static void test_window(void **state)
{
    struct cw_kpi_input in = input();
    in.from = "2021-02-01";
    in.to = "2021-02"; /* inclusive by prefix: all of February */
    struct cw_kpi_report r;
    assert_int_equal(cw_kpi_report(&in, &r, NULL), 0);
    assert_int_equal(r.orders, 2); /* o3, o4 */
    NEAR(r.revenue, 7000);
    assert_int_equal(r.returns, 0);
    NEAR(r.return_rate, 0);
    assert_int_equal(r.sessions, 1); /* s2 */
    cw_kpi_report_release(&r);
}

static void test_missing_inputs(void **state)
{
    /* orders only, every cost known, no customers: what is not computed
     * is said */
    static const struct cw_kpi_line only[] = {
        {"g1", NULL, "2021-01-01 10:00:00", "A", 1, 1000, 400},
        {"g2", "", "2021-01-02 10:00:00", "A", 3, 1000, 400},
    };
    struct cw_kpi_input in;
    memset(&in, 0, sizeof(in));
    in.lines = only;
    in.n_lines = 2;
    in.default_margin_rate = 0.3;
    struct cw_kpi_report r;
    assert_int_equal(cw_kpi_report(&in, &r, NULL), 0);
    NEAR(r.profit_aov_ratio, 0.6);
    NEAR(r.assumed_margin_share, 0);
    assert_false(has(r.assumptions, r.n_assumptions, "margin rate"));
    assert_false(r.funnel_computed);
    assert_false(r.addons_computed);
    assert_false(r.discount_computed);
    assert_true(isnan(r.repeat_rate));
    assert_true(has(r.not_computed, r.n_not_computed,
                    "funnel (cart drop-off): no storefront events"));
    assert_true(has(r.not_computed, r.n_not_computed,
                    "attach and acceptance rates: no decisions logged"));
    assert_true(has(r.not_computed, r.n_not_computed,
                    "discount cost and ROI: no accepted offers"));
    assert_true(has(r.not_computed, r.n_not_computed,
                    "loyalty and retention: no orders with a customer id"));
    struct cw_buf b = CW_BUF_INIT;
    cw_kpi_report_json(&r, "GBP", 2, &b);
    const char *s = cw_buf_str(&b);
    assert_non_null(strstr(s, "\"aov\":20,"));
    assert_non_null(strstr(s, "\"funnel\":null"));
    assert_non_null(strstr(s, "\"repeat_rate\":null"));
    assert_non_null(strstr(s, "\"retention_after_high_value\":{\"30\":{"));
    cw_buf_release(&b);
    cw_kpi_report_release(&r);

    /* nothing at all */
    memset(&in, 0, sizeof(in));
    assert_int_equal(cw_kpi_report(&in, &r, NULL), 0);
    assert_int_equal(r.orders, 0);
    assert_true(isnan(r.aov));
    assert_true(has(r.not_computed, r.n_not_computed, "no orders"));
    cw_kpi_report_release(&r);

    struct cw_buf err = CW_BUF_INIT;
    in.default_margin_rate = 1.5;
    assert_int_equal(cw_kpi_report(&in, &r, &err), CW_EINVAL);
    assert_string_equal(cw_buf_str(&err), "margin rate 1.5 outside [0, 1]");
    cw_buf_release(&err);
}

static void test_json(void **state)
{
    struct cw_kpi_input in = input();
    struct cw_kpi_report r;
    assert_int_equal(cw_kpi_report(&in, &r, NULL), 0);
    struct cw_buf b = CW_BUF_INIT;
    cw_kpi_report_json(&r, "GBP", 2, &b);
    const char *s = cw_buf_str(&b);
    assert_non_null(strstr(s, "{\"currency\":\"GBP\",\"orders\":7,"));
    assert_non_null(strstr(s, "\"aov\":22.14285714,"));
    assert_non_null(strstr(s, "\"profit_aov_ratio\":0.4354838710,") ||
                    strstr(s, "\"profit_aov_ratio\":0.435483871,"));
    assert_non_null(strstr(s, "\"units_per_order\":2,"));
    assert_non_null(strstr(s, "\"return_rate\":0.2142857143,"));
    assert_non_null(strstr(s, "\"repeat_rate\":0.5,"));
    assert_non_null(
        strstr(s, "\"30\":{\"high_value\":0.5,\"rest\":0,\"high_value_orders\""
                  ":2,\"rest_orders\":3}"));
    assert_non_null(strstr(s, "\"steps\":[{\"step\":\"view\",\"sessions\":4,"
                              "\"drop_rate\":null}"));
    assert_non_null(
        strstr(s, "\"discount\":{\"offers_accepted\":1,\"cost\":2,"));
    assert_non_null(strstr(s, "\"assumptions\":[\"margin rate 30%"));
    assert_non_null(strstr(s, "\"not_computed\":[]}"));
    cw_buf_release(&b);
    cw_kpi_report_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TU_TEST(test_parse_ts),
        TU_TEST(test_orders),
        TU_TEST(test_loyalty_and_retention),
        TU_TEST(test_funnel_addons_discounts),
        TU_TEST(test_window),
        TU_TEST(test_missing_inputs),
        TU_TEST(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
