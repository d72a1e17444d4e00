/*
 * cw_kpi.h: the merchant's KPI report (DESIGN.md section 7).
 *
 * Computed from plain arrays (order lines, returns, events, the add-ons
 * decisions showed) so the CLI and the HTTP server give the same figures
 * from whatever store they read. Every figure that needs an input the store
 * does not have (costs, events, decisions) is either computed under a
 * stated assumption or listed as not computed, never silently zero. Money
 * is minor units in and out (doubles for sums and averages);
 * cw_kpi_report_json writes major units.
 */
#ifndef CW_KPI_H
#define CW_KPI_H

#include <stddef.h>
#include <stdint.h>

#include "cw_records.h"

struct cw_buf;

/* One order line with its order's customer and time (as the store's
 * scan_lines gives it). Strings borrowed for the call. */
struct cw_kpi_line {
    const char *order_id;
    const char *customer; /* NULL or "": guest */
    const char *ts;
    const char *sku;
    int64_t qty;
    int64_t unit_price; /* CW_MONEY_UNKNOWN: counts 0 */
    int64_t unit_cost;  /* CW_MONEY_UNKNOWN: default margin rate */
};

/* One add-on a logged decision showed. */
struct cw_kpi_shown {
    const char *decision_id;
    const char *session;
    const char *placement; /* may be NULL */
    const char *reason;    /* may be NULL */
    const char *sku;
    const char *ts;
};

struct cw_kpi_input {
    const struct cw_kpi_line *lines;
    size_t n_lines;
    const struct cw_return_rec *returns;
    size_t n_returns;
    const struct cw_event_rec *events;
    size_t n_events;
    const struct cw_kpi_shown *shown;
    size_t n_shown;
    size_t n_decisions;         /* decisions logged (to tell "none" apart) */
    double default_margin_rate; /* for lines without a cost, 0..1 */
    const char *from, *to;      /* ts window, NULL: open. from is
                                   inclusive; to is inclusive by prefix
                                   ("2011-01-31" takes the whole day) */
};

#define CW_KPI_FUNNEL_STEPS                                                    \
    5                              /* view, add_to_cart, cart_view,            \
                                      checkout_start, purchase */
#define CW_KPI_RETENTION_WINDOWS 3 /* 30, 60, 90 days */
#define CW_KPI_COHORT_MONTHS 12    /* months followed per cohort */

struct cw_kpi_group {
    char name[32];   /* placement or reason code */
    size_t shown;    /* add-ons shown */
    size_t accepted; /* of them added to the cart (attributed events) */
    double acceptance_rate;
    size_t purchasing_sessions; /* shown sessions that purchased */
    size_t attached_sessions;   /* of them with an accepted add-on */
    double attach_rate;         /* NAN without purchase events */
};

struct cw_kpi_retention {
    int days;
    size_t high_orders, high_repeat, rest_orders, rest_repeat;
    double high_rate, rest_rate; /* NAN with no eligible orders */
};

struct cw_kpi_cohort {
    char month[8]; /* "YYYY-MM" of the first order */
    size_t customers;
    size_t n_months; /* months followed (<= 12 + 1) */
    double retention[CW_KPI_COHORT_MONTHS + 1]; /* [0] = 1 */
};

struct cw_kpi_report {
    /* orders */
    size_t orders, lines, customers, guest_orders;
    double revenue, profit, units; /* minor units; units as a count */
    double aov, profit_per_order, profit_aov_ratio, units_per_order;
    double assumed_margin_share; /* revenue share priced by the default
                                    rate (0 when all costs are known) */
    double margin_rate;          /* the default rate used */
    /* returns */
    size_t returns;
    double returned_units, refunded;
    double return_rate;       /* returned units / units sold */
    double return_rate_value; /* refunded / revenue */
    /* loyalty (known customers) */
    double repeat_rate, orders_per_customer, median_days_between_orders;
    struct cw_kpi_cohort *cohorts; /* owned */
    size_t n_cohorts;
    /* retention after a high-value purchase */
    double high_value_threshold; /* 75th percentile of order value */
    struct cw_kpi_retention retention[CW_KPI_RETENTION_WINDOWS];
    /* funnel from events */
    int funnel_computed;
    size_t sessions; /* sessions with any event */
    size_t funnel[CW_KPI_FUNNEL_STEPS];
    double funnel_drop[CW_KPI_FUNNEL_STEPS]; /* [0] NAN */
    /* cross-sells from the decision log and events */
    int addons_computed;
    struct cw_kpi_group *placements, *reasons; /* owned */
    size_t n_placements, n_reasons;
    /* discounts (offer_accept events) */
    int discount_computed;
    size_t offers_accepted;
    double discount_cost, discount_profit, discount_roi;
    /* what was assumed, what could not be computed: owned strings */
    char **assumptions, **not_computed;
    size_t n_assumptions, n_not_computed;
};

/* Fills out (release with cw_kpi_report_release). Returns 0 or CW_EINVAL
 * (margin rate outside [0, 1]) with the reason in err. */
int cw_kpi_report(const struct cw_kpi_input *in, struct cw_kpi_report *out,
                  struct cw_buf *err);
void cw_kpi_report_release(struct cw_kpi_report *r);

/* Appends r as one JSON object; money in major units of currency (exponent
 * exp). NAN becomes null. */
void cw_kpi_report_json(const struct cw_kpi_report *r, const char *currency,
                        int exp, struct cw_buf *out);

/* Seconds since 1970 of "YYYY-MM-DD[ T]HH:MM[:SS]..." read as UTC (any
 * zone suffix ignored); returns 0 or CW_EPARSE. */
int cw_kpi_parse_ts(const char *ts, int64_t *out);

#endif
