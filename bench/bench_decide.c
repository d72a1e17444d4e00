/*
 * bench_decide.c: decision latency in process (BENCHMARK.md section 2).
 *
 * Loads a normalized lines file the way `cartwise eval` reads it (a row
 * whose qty does not parse is skipped, an empty price or cost is unknown),
 * trains on the protocol's train split (the first floor(0.8 N) baskets in
 * time order) with the default parameters, builds one cart per test case
 * exactly as src/core/eval.c does (hidden item last), then times cw_decide
 * on one thread over every cart after one untimed warm-up pass, each call
 * on its own with CLOCK_MONOTONIC. Timed passes: with the basket's
 * customer id when it has one (as the evaluator and a shop would send it:
 * the default figures), anonymous, and again with the customer on the
 * thread's CPU-time clock, whose tail leaves out preemption (on a shared
 * 2-core machine the wall-clock p99 is mostly the scheduler's). Each pass
 * also gives p50/p99 by cart size. Nothing here asserts a speed; the
 * numbers are for bench/run.sh and bench/README.md.
 *
 * Margins: the trainer gets the benchmark's margins (cost where a line has
 * one, else the protocol's assumed rate times the median price the trainer
 * computed), as eval does. That only changes which items win, not how long
 * a decision takes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_eval.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_train.h"

static const char usage[] =
    "usage: bench_decide LINES_FILE [--json] [--max-cases N] [--fill]\n"
    "                    [--warmup N] [--dump FILE]\n"
    "\n"
    "  LINES_FILE     normalized lines CSV (plain or gzip), BENCHMARK.md 1\n"
    "  --json         print one JSON object instead of a table\n"
    "  --max-cases N  time only the first N test cases (default: all)\n"
    "  --warmup N     untimed passes before the timed ones (default 1; many\n"
    "                 make a profile that is mostly the decisions)\n"
    "  --dump FILE    write every decision of the first timed pass to FILE,\n"
    "                 one line per case (add-on SKUs, variants and P), to\n"
    "                 check that a faster build still answers the same\n"
    "  --fill         decide with CW_DECIDE_FILL as eval does (default: the\n"
    "                 flags of a live request, none)\n";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* The margin source: a line's cost where one is known (the last seen, as
 * eval keeps it), else the protocol's assumed rate of the sku. */
struct margin_ctx {
    const struct cw_dataset *ds;
    double *cost; /* per dataset sku, NAN when unknown */
};

static double margin_of(void *ctx, const char *sku, double price)
{
    const struct margin_ctx *mc = ctx;
    long s = cw_intern_find(&mc->ds->skus, sku, strlen(sku));
    if (s >= 0 && !isnan(mc->cost[s]))
        return fmax(price - mc->cost[s], 0);
    return price * cw_eval_margin_rate(sku);
}

/* The evaluator's test cases (cw_eval_cases_build), mode last: the cart is
 * all of a case's skus but the last. */
struct cases {
    size_t n;
    size_t *off;                /* cart of case x: lines[off[x] .. off[x+1]) */
    struct cw_cart_line *lines; /* skus point into the dataset */
    const char **customer;      /* NULL for a guest basket */
    size_t with_customer;
};

static void cases_build(struct cases *cs, const struct cw_dataset *ds,
                        size_t max_cases)
{
    struct cw_eval_cases ec;
    cw_eval_cases_build(ds, &ec);
    size_t cap_cases = 0, cap_cust = 0, cap_lines = 0, nl = 0;
    memset(cs, 0, sizeof(*cs));
    CW_GROW(cs->off, cap_cases, 1);
    cs->off[0] = 0;
    for (size_t x = 0; x < ec.n && cs->n < max_cases; x++) {
        size_t n = ec.off[x + 1] - ec.off[x]; /* mode last: all but the last */
        size_t nc = n - 1 < CW_CART_MAX ? n - 1 : CW_CART_MAX;
        CW_GROW(cs->lines, cap_lines, nl + nc);
        for (size_t i = 0; i < nc; i++)
            cs->lines[nl++] = (struct cw_cart_line){
                ds->skus.keys[ec.sku[ec.off[x] + i]], 1, CW_MONEY_UNKNOWN};
        CW_GROW(cs->off, cap_cases, cs->n + 2);
        CW_GROW(cs->customer, cap_cust, cs->n + 1);
        int32_t cu = ds->b_cust[ec.basket[x]];
        cs->customer[cs->n] = cu >= 0 ? ds->customers.keys[cu] : NULL;
        cs->with_customer += cu >= 0;
        cs->off[++cs->n] = nl;
    }
    cw_eval_cases_release(&ec);
}

static void cases_release(struct cases *cs)
{
    cw_free(cs->off);
    cw_free(cs->lines);
    cw_free(cs->customer);
}

/* Cart sizes (lines) the latency is also broken down by: the work of a
 * decision grows with the cart, and the tail is mostly large carts. */
#define NBUCKETS 3
static const size_t bucket_min[NBUCKETS] = {1, 5, 20};
static const char *const bucket_name[NBUCKETS] = {"1-4", "5-19", "20+"};

struct timing {
    size_t cases, known_customers, addons;
    double p50, p90, p99, max, mean; /* microseconds */
    double per_s; /* decisions per second of the pass, on the same clock */
    struct {
        size_t n;
        double p50, p99;
    } by_size[NBUCKETS];
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v. */
static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t r = (size_t)ceil(p * (double)n);
    return v[r ? r - 1 : 0];
}

/* One pass over the cases; with t it is timed, per call, on clock
 * (CLOCK_MONOTONIC: what a caller waits; CLOCK_THREAD_CPUTIME_ID: the
 * thread's own CPU time, which leaves out the time it was descheduled and
 * so separates the code's tail from a busy machine's). anonymous drops the
 * customer. us and us2 have room for every case. Returns 0 or cw_decide's
 * error. */
static int pass(const struct cw_model *m, struct cw_scratch *s,
                const struct cases *cs, int anonymous, clockid_t clock,
                unsigned flags, double *us, double *us2, struct timing *t,
                FILE *dump, struct cw_buf *err)
{
    struct cw_decision d;
    size_t known = 0, addons = 0;
    double sum = 0;
    struct timespec l0, l1;
    clock_gettime(clock, &l0);
    for (size_t x = 0; x < cs->n; x++) {
        struct cw_decide_req req = {cs->lines + cs->off[x],
                                    cs->off[x + 1] - cs->off[x],
                                    anonymous ? NULL : cs->customer[x],
                                    CW_PLACE_CART,
                                    3,
                                    flags};
        struct timespec a, b;
        clock_gettime(clock, &a);
        int rc = cw_decide(m, s, &req, &d, err);
        clock_gettime(clock, &b);
        if (rc < 0)
            return rc;
        if (dump) {
            fprintf(dump, "%zu", x);
            for (size_t k = 0; k < d.n_addons; k++)
                fprintf(dump, " %s/%s/%.17g", cw_model_sku(m, d.addons[k].item),
                        cw_model_sku(m, d.addons[k].variant),
                        d.addons[k].p_accept);
            fputc('\n', dump);
        }
        us[x] = (double)(b.tv_sec - a.tv_sec) * 1e6 +
                (double)(b.tv_nsec - a.tv_nsec) / 1e3;
        sum += us[x];
        known += d.known_customer != 0;
        addons += d.n_addons;
    }
    clock_gettime(clock, &l1);
    double loop = (double)(l1.tv_sec - l0.tv_sec) +
                  (double)(l1.tv_nsec - l0.tv_nsec) / 1e9;
    if (!t)
        return 0;
    /* per cart size: gather each bucket's times at the end of us2 */
    for (int k = 0; k < NBUCKETS; k++) {
        size_t n = 0;
        for (size_t x = 0; x < cs->n; x++) {
            size_t nl = cs->off[x + 1] - cs->off[x];
            if (nl >= bucket_min[k] &&
                (k + 1 == NBUCKETS || nl < bucket_min[k + 1]))
                us2[n++] = us[x];
        }
        qsort(us2, n, sizeof(*us2), cmp_double);
        t->by_size[k].n = n;
        t->by_size[k].p50 = pct(us2, n, 0.50);
        t->by_size[k].p99 = pct(us2, n, 0.99);
    }
    qsort(us, cs->n, sizeof(*us), cmp_double);
    t->cases = cs->n;
    t->known_customers = known;
    t->addons = addons;
    t->p50 = pct(us, cs->n, 0.50);
    t->p90 = pct(us, cs->n, 0.90);
    t->p99 = pct(us, cs->n, 0.99);
    t->max = cs->n ? us[cs->n - 1] : 0;
    t->mean = cs->n ? sum / (double)cs->n : 0;
    t->per_s = loop > 0 ? (double)cs->n / loop : 0;
    return 0;
}

static void json_timing(const char *name, const struct timing *t)
{
    printf("\"%s\":{\"cases\":%zu,\"known_customers\":%zu,\"addons\":%zu,"
           "\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f,"
           "\"mean_us\":%.2f,\"decisions_per_s\":%.0f,\"by_cart_lines\":{",
           name, t->cases, t->known_customers, t->addons, t->p50, t->p90,
           t->p99, t->max, t->mean, t->per_s);
    for (int k = 0; k < NBUCKETS; k++)
        printf("%s\"%s\":{\"cases\":%zu,\"p50_us\":%.2f,\"p99_us\":%.2f}",
               k ? "," : "", bucket_name[k], t->by_size[k].n, t->by_size[k].p50,
               t->by_size[k].p99);
    printf("}}");
}

static void row_timing(const char *name, const struct timing *t)
{
    printf("%-14s %8zu %8zu %8.1f %8.1f %8.1f %9.1f %8.1f %12.0f\n", name,
           t->cases, t->known_customers, t->p50, t->p90, t->p99, t->max,
           t->mean, t->per_s);
}

struct run {
    const char *file;
    size_t rows, skipped, baskets, ntrain, lines, skus, with_customer;
    double load_s, train_s;
    const struct cw_model *m;
    struct timing cust, anon, cpu;
    unsigned flags;
};

static void report(const struct run *r, int json)
{
    const struct cw_model *m = r->m;
    if (json) {
        struct cw_buf name = CW_BUF_INIT;
        cw_buf_add_json_str(&name, r->file);
        printf("{\"file\":%s,\"rows\":%zu,\"skipped_rows\":%zu,\"lines\":%zu,"
               "\"baskets\":%zu,\"train_baskets\":%zu,\"skus\":%zu,"
               "\"cases_with_customer_id\":%zu,\"model_items\":%u,"
               "\"model_customers\":%u,\"ease_items\":%u,"
               "\"ease_lambda\":%g,\"load_s\":%.3f,\"train_s\":%.3f,"
               "\"flags\":\"%s\",\"threads\":1,",
               cw_buf_str(&name), r->rows, r->skipped, r->lines, r->baskets,
               r->ntrain, r->skus, r->with_customer, m->n_items, m->n_customers,
               m->meta.ease_items, m->meta.ease_lambda, r->load_s, r->train_s,
               r->flags & CW_DECIDE_FILL ? "fill" : "none");
        json_timing("with_customer", &r->cust);
        putchar(',');
        json_timing("anonymous", &r->anon);
        putchar(',');
        json_timing("with_customer_cpu", &r->cpu);
        printf(",\"peak_rss_kb\":%ld}\n", peak_rss_kb());
        cw_buf_release(&name);
        return;
    }
    printf("%s: %zu lines, %zu baskets (%zu train), %zu skus; skipped %zu "
           "rows\n",
           r->file, r->lines, r->baskets, r->ntrain, r->skus, r->skipped);
    printf("model: %u items (%u in EASE, lambda %g), %u customers\n",
           m->n_items, m->meta.ease_items, m->meta.ease_lambda, m->n_customers);
    printf("load %.2f s, train %.2f s, peak RSS %ld kB\n\n", r->load_s,
           r->train_s, peak_rss_kb());
    printf("%-14s %8s %8s %8s %8s %8s %9s %8s %12s\n", "pass", "cases", "known",
           "p50 us", "p90 us", "p99 us", "max us", "mean us", "decisions/s");
    row_timing("with customer", &r->cust);
    row_timing("anonymous", &r->anon);
    row_timing("customer, CPU", &r->cpu);
    printf("\nwith customer, by cart lines:\n");
    for (int k = 0; k < NBUCKETS; k++)
        printf("  %-5s %8zu cases  p50 %8.1f us  p99 %8.1f us\n",
               bucket_name[k], r->cust.by_size[k].n, r->cust.by_size[k].p50,
               r->cust.by_size[k].p99);
}

int main(int argc, char **argv)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    int json = 0;
    size_t max_cases = (size_t)-1;
    unsigned long warmup = 1;
    const char *dump_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--fill")) {
            r.flags |= CW_DECIDE_FILL;
        } else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) {
            char *end;
            warmup = strtoul(argv[++i], &end, 10);
            if (*end || argv[i][0] == '-' || warmup > 100000) {
                fprintf(stderr, "bench_decide: bad --warmup '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--dump") && i + 1 < argc) {
            dump_path = argv[++i];
        } else if (!strcmp(argv[i], "--max-cases") && i + 1 < argc) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || !v || argv[i][0] == '-') {
                fprintf(stderr, "bench_decide: bad --max-cases '%s'\n",
                        argv[i]);
                return 2;
            }
            max_cases = (size_t)v;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "bench_decide: unknown option '%s'\n%s", argv[i],
                    usage);
            return 2;
        } else if (!r.file) {
            r.file = argv[i];
        } else {
            fprintf(stderr, "bench_decide: one file, not '%s' too\n", argv[i]);
            return 2;
        }
    }
    if (!r.file) {
        fputs(usage, stderr);
        return 2;
    }

    struct cw_buf err = CW_BUF_INIT;
    struct cw_dataset ds;
    cw_dataset_init(&ds);
    struct cases cs;
    memset(&cs, 0, sizeof(cs));
    struct cw_model m;
    int trained = 0, status = 1;
    struct cw_scratch *s = NULL;
    double *us = NULL, *us2 = NULL, *cost = NULL;
    FILE *dump = NULL;

    double t0 = now_s();
    int rc = cw_app_read_lines(r.file, &ds, &r.rows, &r.skipped, &err);
    if (rc < 0)
        goto out;
    cw_dataset_finish(&ds);
    r.load_s = now_s() - t0;
    r.lines = ds.n_lines;
    r.skus = ds.skus.n;
    r.baskets = ds.baskets.n;
    r.ntrain = r.baskets * 8 / 10;
    if (r.ntrain < 2 || r.baskets - r.ntrain < 1) {
        rc = cw_err(&err, CW_ENODATA, "%zu baskets: too few", r.baskets);
        goto out;
    }

    cost = cw_malloc((ds.skus.n + 1) * sizeof(*cost));
    for (size_t k = 0; k < ds.skus.n; k++)
        cost[k] = NAN;
    for (size_t l = 0; l < ds.n_lines; l++)
        if (!isnan(ds.l_cost[l]))
            cost[ds.l_item[l]] = ds.l_cost[l];
    struct margin_ctx mc = {&ds, cost};
    struct cw_train_input in;
    memset(&in, 0, sizeof(in));
    in.ds = &ds;
    in.baskets = ds.order;
    in.n_baskets = r.ntrain;
    in.unit_margin = margin_of;
    in.unit_margin_ctx = &mc;
    struct cw_train_params p;
    cw_train_params_default(&p);
    t0 = now_s();
    rc = cw_train(&m, &in, &p, &err);
    r.train_s = now_s() - t0;
    if (rc < 0)
        goto out;
    trained = 1;
    r.m = &m;

    cases_build(&cs, &ds, max_cases);
    if (!cs.n) {
        rc = cw_err(&err, CW_ENODATA,
                    "no test cases (baskets with 2 or "
                    "more known skus)");
        goto out;
    }
    s = cw_scratch_new(&m);
    us = cw_malloc(cs.n * sizeof(*us));
    us2 = cw_malloc(cs.n * sizeof(*us2));
    const clockid_t wall = CLOCK_MONOTONIC, cpu = CLOCK_THREAD_CPUTIME_ID;
    for (unsigned long w = 0; w < warmup; w++)
        if ((rc = pass(&m, s, &cs, 0, wall, r.flags, us, us2, NULL, NULL,
                       &err)) < 0)
            goto out;
    if (dump_path && !(dump = fopen(dump_path, "w"))) {
        rc = cw_err(&err, CW_EIO, "cannot write %s", dump_path);
        goto out;
    }
    if ((rc = pass(&m, s, &cs, 0, wall, r.flags, us, us2, &r.cust, dump,
                   &err)) < 0 ||
        (rc = pass(&m, s, &cs, 1, wall, r.flags, us, us2, &r.anon, NULL,
                   &err)) < 0 ||
        (rc = pass(&m, s, &cs, 0, cpu, r.flags, us, us2, &r.cpu, NULL, &err)) <
            0)
        goto out;
    if (dump && fclose(dump) != 0) {
        dump = NULL;
        rc = cw_err(&err, CW_EIO, "cannot write %s", dump_path);
        goto out;
    }
    dump = NULL;
    r.with_customer = cs.with_customer;
    report(&r, json);
    status = fflush(stdout) ? 1 : 0;
out:
    if (dump)
        fclose(dump);
    if (rc < 0)
        fprintf(stderr, "bench_decide: %s: %s\n", r.file,
                err.len ? cw_buf_str(&err) : cw_strerror(rc));
    cw_free(us);
    cw_free(us2);
    cw_free(cost);
    cw_scratch_free(s);
    cases_release(&cs);
    if (trained)
        cw_model_release(&m);
    cw_dataset_release(&ds);
    cw_buf_release(&err);
    if (cw_alloc_live() != 0 && status == 0) {
        fprintf(stderr, "bench_decide: %ld allocations not freed\n",
                cw_alloc_live());
        status = 1;
    }
    return status;
}
