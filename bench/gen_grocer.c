/*
 * gen_grocer.c: a seeded synthetic grocer for the scale benchmark
 * (BENCHMARK.md section 4), written as normalized order lines.
 *
 *   gen_grocer [--skus N] [--baskets N] [--seed S] > lines.csv
 *
 * The shape, not the content, is what matters: SKU popularity is Zipf
 * (exponent 0.9, over a random permutation of the SKU numbers); co-purchase
 * structure comes from latent shopping missions (breakfast, a barbecue...),
 * each a Zipf-weighted subset of 50-150 SKUs drawn by popularity; a basket
 * picks 1-3 missions (with a Zipf over missions, or the customer's usual
 * ones) and about 10 lines from them, plus popular "noise" and the
 * customer's own staples (repeat purchases). About baskets/10 customers
 * shop with a lognormal frequency (median ~6 baskets, a few hundred at
 * most), 10% of baskets are guests. Timestamps
 * increase over two years from 2023-01-01. Prices are a fixed lognormal
 * function of the SKU (median about 3.00, some lines on promotion at 80%);
 * 70% of SKUs have a cost (margin 15-45%), the rest leave unit_cost empty.
 *
 * Everything comes from one splitmix64-seeded xoshiro256** stream plus
 * hashes of (seed, entity), so a seed gives the same bytes on every machine
 * (no rand(), no libm in the per-line path except exp/log on fixed inputs).
 * Output is assembled by hand into a 1 MiB buffer: ~30M lines in seconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_alloc.h"

static const char usage[] =
    "usage: gen_grocer [--skus N] [--baskets N] [--seed S] > lines.csv\n"
    "\n"
    "  --skus N      catalog size (default 50000, at least 10)\n"
    "  --baskets N   baskets to write (default 3000000, about 10 lines each)\n"
    "  --seed S      64-bit seed (default 1); same seed, same bytes\n"
    "\n"
    "Writes basket_id,customer_id,ts,sku,qty,unit_price,unit_cost to stdout.\n";

enum {
    MISSIONS_MAX = 200,
    MISSION_MIN = 50,
    MISSION_MAX = 150,
    BASKET_MAX = 120,     /* lines */
    STAPLES_MAX = 16,     /* a customer's repeat items */
    CUST_MISSIONS = 3,    /* a customer's usual missions */
    SPAN_S = 730 * 86400, /* two years of baskets */
};

#define ZIPF_SKU 0.9     /* SKU popularity */
#define ZIPF_MISSION 0.8 /* mission popularity */
#define ZIPF_MEMBER 0.7  /* item weight inside a mission */
#define MEAN_LINES 9.5   /* lines per basket beyond the first */
#define P_NOISE 0.12     /* a line drawn from global popularity */
#define P_STAPLE 0.18    /* a line from the customer's staples */
#define P_GUEST 0.10     /* baskets without a customer */
#define P_USUAL 0.70     /* a mission from the customer's usual ones */

/* ---- randomness ---------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A hash of (seed, what, id): per-entity values that need no state. */
static uint64_t mix(uint64_t seed, uint64_t what, uint64_t id)
{
    uint64_t x =
        seed ^ (what * 0xd1342543de82ef95ULL) ^ (id * 0x9e3779b97f4a7c15ULL);
    return splitmix64(&x);
}

struct rng {
    uint64_t s[4];
};

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna). */
static uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1). */
static double unit(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

static double rng_unit(struct rng *r)
{
    return unit(rng_next(r));
}

/* Uniform in [0, n), n > 0 (multiply-shift; the bias is far below what a
 * benchmark could notice). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* ---- Zipf tables ---------------------------------------------------- */

/* Cumulative weights of ranks 1..n with exponent a, normalized to 1. */
static double *zipf_cdf(size_t n, double a)
{
    double *c = cw_malloc(n * sizeof(*c)), sum = 0;
    for (size_t i = 0; i < n; i++)
        c[i] = sum += pow((double)(i + 1), -a);
    for (size_t i = 0; i < n; i++)
        c[i] /= sum;
    c[n - 1] = 1.0;
    return c;
}

/* The first index whose cumulative weight exceeds u. */
static uint32_t cdf_pick(const double *c, size_t n, double u)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (uint32_t)lo;
}

/* ---- the world ------------------------------------------------------ */

struct world {
    uint64_t seed;
    uint32_t n_skus, n_missions, n_customers;
    uint32_t *by_rank;   /* sku number of popularity rank r */
    double *sku_cdf;     /* over ranks */
    double *mission_cdf; /* over missions */
    double *cust_cdf;    /* over customers: how often each shops */
    uint32_t *m_off;     /* members of mission i: m_sku[m_off[i]..m_off[i+1]) */
    uint32_t *m_sku;
    double *m_cdf;   /* per member, cumulative within its mission */
    uint32_t *price; /* per sku, cents */
    int32_t *cost;   /* per sku, cents; -1: unknown */
};

/* A standard normal value of (seed, what, id), Box-Muller. */
static double normal(uint64_t seed, uint64_t what, uint64_t id)
{
    double u1 = unit(mix(seed, what, id)), u2 = unit(mix(seed, what + 100, id));
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

/* A lognormal price: median 3.00, sigma 0.8, kept within 0.19..99.99 and
 * ending in 9 cents the way shelf prices do. */
static uint32_t sku_price(uint64_t seed, uint32_t sku)
{
    double p = 3.0 * exp(0.8 * normal(seed, 1, sku));
    long c = lround(p * 10.0) * 10 + 9;
    if (c < 19)
        c = 19;
    if (c > 9999)
        c = 9999;
    return (uint32_t)c;
}

static void world_build(struct world *w, uint32_t n_skus, uint64_t n_baskets,
                        uint64_t seed, struct rng *r)
{
    memset(w, 0, sizeof(*w));
    w->seed = seed;
    w->n_skus = n_skus;
    w->n_customers = n_baskets / 10 > 0 ? (uint32_t)(n_baskets / 10) : 1;
    if (n_baskets / 10 > UINT32_MAX)
        w->n_customers = UINT32_MAX;

    /* popularity: a random permutation, Fisher-Yates */
    w->by_rank = cw_malloc(n_skus * sizeof(*w->by_rank));
    for (uint32_t i = 0; i < n_skus; i++)
        w->by_rank[i] = i;
    for (uint32_t i = n_skus - 1; i > 0; i--) {
        uint32_t j = rng_below(r, i + 1), t = w->by_rank[i];
        w->by_rank[i] = w->by_rank[j];
        w->by_rank[j] = t;
    }
    w->sku_cdf = zipf_cdf(n_skus, ZIPF_SKU);

    /* missions: members drawn by popularity, distinct within a mission */
    uint32_t size_max = MISSION_MAX < n_skus / 2 ? MISSION_MAX : n_skus / 2;
    uint32_t size_min = MISSION_MIN < size_max ? MISSION_MIN : size_max;
    w->n_missions = MISSIONS_MAX;
    w->mission_cdf = zipf_cdf(w->n_missions, ZIPF_MISSION);
    w->m_off = cw_malloc((w->n_missions + 1) * sizeof(*w->m_off));
    w->m_sku = cw_malloc((size_t)w->n_missions * size_max * sizeof(*w->m_sku));
    w->m_cdf = cw_malloc((size_t)w->n_missions * size_max * sizeof(*w->m_cdf));
    uint32_t *mark = cw_calloc(n_skus, sizeof(*mark));
    double *member_cdf = zipf_cdf(size_max, ZIPF_MEMBER);
    size_t n = 0;
    for (uint32_t m = 0; m < w->n_missions; m++) {
        w->m_off[m] = (uint32_t)n;
        uint32_t size = size_min + rng_below(r, size_max - size_min + 1);
        for (uint32_t k = 0; k < size;) {
            uint32_t sku =
                w->by_rank[cdf_pick(w->sku_cdf, n_skus, rng_unit(r))];
            if (mark[sku] == m + 1)
                continue;
            mark[sku] = m + 1;
            w->m_sku[n + k] = sku;
            /* the member cdf of this size, renormalized */
            w->m_cdf[n + k] = member_cdf[k] / member_cdf[size - 1];
            k++;
        }
        w->m_cdf[n + size - 1] = 1.0;
        n += size;
    }
    w->m_off[w->n_missions] = (uint32_t)n;
    cw_free(mark);
    cw_free(member_cdf);

    /* shopping frequency: lognormal (sigma 0.8) around the mean, so most
     * customers come a few times and some every few days */
    w->cust_cdf = cw_malloc(w->n_customers * sizeof(*w->cust_cdf));
    double sum = 0;
    for (uint32_t c = 0; c < w->n_customers; c++)
        w->cust_cdf[c] = sum += exp(0.8 * normal(seed, 6, c));
    for (uint32_t c = 0; c < w->n_customers; c++)
        w->cust_cdf[c] /= sum;
    w->cust_cdf[w->n_customers - 1] = 1.0;

    w->price = cw_malloc(n_skus * sizeof(*w->price));
    w->cost = cw_malloc(n_skus * sizeof(*w->cost));
    for (uint32_t s = 0; s < n_skus; s++) {
        w->price[s] = sku_price(seed, s);
        uint64_t h = mix(seed, 3, s);
        if (unit(h) < 0.70) {
            double rate = 0.15 + 0.30 * unit(mix(seed, 4, s));
            w->cost[s] = (int32_t)lround(w->price[s] * (1.0 - rate));
        } else {
            w->cost[s] = -1;
        }
    }
}

static void world_release(struct world *w)
{
    cw_free(w->by_rank);
    cw_free(w->sku_cdf);
    cw_free(w->mission_cdf);
    cw_free(w->cust_cdf);
    cw_free(w->m_off);
    cw_free(w->m_sku);
    cw_free(w->m_cdf);
    cw_free(w->price);
    cw_free(w->cost);
}

static uint32_t popular_sku(const struct world *w, struct rng *r)
{
    return w->by_rank[cdf_pick(w->sku_cdf, w->n_skus, rng_unit(r))];
}

static uint32_t mission_sku(const struct world *w, uint32_t m, struct rng *r)
{
    uint32_t off = w->m_off[m], n = w->m_off[m + 1] - off;
    return w->m_sku[off + cdf_pick(w->m_cdf + off, n, rng_unit(r))];
}

/* A customer's usual missions and staples, the same at every visit: drawn
 * from a stream seeded by the customer's number, so nothing is stored. */
struct customer {
    uint32_t missions[CUST_MISSIONS];
    uint32_t staples[STAPLES_MAX];
    uint32_t n_staples;
};

static void customer_get(const struct world *w, uint32_t c,
                         struct customer *out)
{
    struct rng r;
    rng_seed(&r, mix(w->seed, 5, c));
    for (int i = 0; i < CUST_MISSIONS; i++)
        out->missions[i] =
            cdf_pick(w->mission_cdf, w->n_missions, rng_unit(&r));
    out->n_staples = 4 + rng_below(&r, STAPLES_MAX - 4 + 1);
    for (uint32_t i = 0; i < out->n_staples; i++)
        out->staples[i] =
            mission_sku(w, out->missions[rng_below(&r, CUST_MISSIONS)], &r);
}

/* ---- output --------------------------------------------------------- */

struct out {
    char buf[1 << 20];
    size_t len;
    int failed;
};

static void out_flush(struct out *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, stdout) != o->len)
        o->failed = 1;
    o->len = 0;
}

/* Room for one line (every line is far below 256 bytes). */
static char *out_room(struct out *o)
{
    if (o->len > sizeof(o->buf) - 256)
        out_flush(o);
    return o->buf + o->len;
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_cents(char *p, uint32_t c)
{
    p = put_u64(p, c / 100);
    *p++ = '.';
    *p++ = (char)('0' + c / 10 % 10);
    *p++ = (char)('0' + c % 10);
    return p;
}

static char *put_str(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* "YYYY-MM-DD HH:MM:SS" of unix time t (days to civil date: Howard
 * Hinnant's algorithm), into 19 bytes. */
static void format_ts(char *p, int64_t t)
{
    int64_t days = t / 86400, sec = t % 86400;
    days += 719468;
    int64_t era = days / 146097, doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    int64_t v[6] = {y, m, d, sec / 3600, sec / 60 % 60, sec % 60};
    static const char sep[6] = {'-', '-', ' ', ':', ':', 0};
    for (int i = 0; i < 6; i++) {
        if (i == 0) {
            for (int k = 3; k >= 0; k--, v[0] /= 10)
                p[k] = (char)('0' + v[0] % 10);
            p += 4;
        } else {
            *p++ = (char)('0' + v[i] / 10);
            *p++ = (char)('0' + v[i] % 10);
        }
        if (sep[i])
            *p++ = sep[i];
    }
}

/* ---- baskets -------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end || errno)
        return -1;
    *out = v;
    return 0;
}

static void generate(const struct world *w, uint64_t n_baskets, struct rng *r,
                     struct out *o)
{
    const int64_t t_start = 1672531200; /* 2023-01-01 00:00:00 UTC */
    const double step = n_baskets ? 2.0 * SPAN_S / (double)n_baskets : 0;
    double t = (double)t_start;
    static const char header[] =
        "basket_id,customer_id,ts,sku,qty,unit_price,unit_cost\n";
    o->len = 0;
    memcpy(out_room(o), header, sizeof(header) - 1);
    o->len += sizeof(header) - 1;

    uint32_t lines[BASKET_MAX];
    for (uint64_t b = 0; b < n_baskets && !o->failed; b++) {
        t += step * rng_unit(r);
        char ts[19];
        format_ts(ts, (int64_t)t);

        /* who: a customer by shopping frequency, or a guest */
        int guest = rng_unit(r) < P_GUEST;
        uint32_t cnum = 0;
        struct customer cu = {{0}, {0}, 0};
        if (!guest) {
            cnum = cdf_pick(w->cust_cdf, w->n_customers, rng_unit(r));
            customer_get(w, cnum, &cu);
        }

        /* what for: 1-3 missions */
        double um = rng_unit(r);
        int nm = 1 + (um < 0.35) + (um < 0.10);
        uint32_t ms[3];
        for (int i = 0; i < nm; i++)
            ms[i] = !guest && rng_unit(r) < P_USUAL
                        ? cu.missions[rng_below(r, CUST_MISSIONS)]
                        : cdf_pick(w->mission_cdf, w->n_missions, rng_unit(r));

        /* how many lines: 1 + exponential, mean about 10 */
        double want = 1.0 - MEAN_LINES * log(1.0 - rng_unit(r));
        uint32_t target = want > BASKET_MAX ? BASKET_MAX : (uint32_t)want;
        uint32_t n = 0;
        for (uint32_t tries = 0; n < target && tries < 4 * target; tries++) {
            double u = rng_unit(r);
            uint32_t sku;
            if (u < P_NOISE)
                sku = popular_sku(w, r);
            else if (!guest && u < P_NOISE + P_STAPLE)
                sku = cu.staples[rng_below(r, cu.n_staples)];
            else
                sku = mission_sku(w, ms[rng_below(r, (uint32_t)nm)], r);
            int dup = 0;
            for (uint32_t k = 0; k < n && !dup; k++)
                dup = lines[k] == sku;
            if (!dup)
                lines[n++] = sku;
        }

        for (uint32_t k = 0; k < n; k++) {
            uint32_t s = lines[k];
            char *p = out_room(o), *p0 = p;
            p = put_u64(p, 10000000 + b); /* same width: ids sort as text */
            *p++ = ',';
            if (!guest)
                p = put_u64(p, 100000 + (uint64_t)cnum);
            *p++ = ',';
            p = put_str(p, ts, sizeof(ts));
            *p++ = ',';
            *p++ = 'G';
            p = put_u64(p, 100000 + (uint64_t)s);
            *p++ = ',';
            double uq = rng_unit(r);
            *p++ = (char)('1' + (uq < 0.22) + (uq < 0.07) + (uq < 0.02));
            *p++ = ',';
            uint32_t price = w->price[s];
            if (rng_unit(r) < 0.08) /* on promotion */
                price = (uint32_t)(price * 4 / 5);
            p = put_cents(p, price);
            *p++ = ',';
            if (w->cost[s] >= 0)
                p = put_cents(p, (uint32_t)w->cost[s]);
            *p++ = '\n';
            o->len += (size_t)(p - p0);
        }
    }
    out_flush(o);
}

int main(int argc, char **argv)
{
    uint64_t skus = 50000, baskets = 3000000, seed = 1;
    for (int i = 1; i < argc; i++) {
        uint64_t *dst = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--skus")) {
            dst = &skus;
        } else if (!strcmp(argv[i], "--baskets")) {
            dst = &baskets;
        } else if (!strcmp(argv[i], "--seed")) {
            dst = &seed;
        } else {
            fprintf(stderr, "gen_grocer: unknown argument '%s'\n%s", argv[i],
                    usage);
            return 2;
        }
        if (i + 1 >= argc || parse_u64(argv[i + 1], dst) < 0) {
            fprintf(stderr, "gen_grocer: %s wants a number\n", argv[i]);
            return 2;
        }
        i++;
    }
    if (skus < 10 || skus > 10000000) {
        fprintf(stderr, "gen_grocer: --skus wants 10..10000000\n");
        return 2;
    }
    if (baskets > 80000000) { /* basket ids stay 8 digits wide */
        fprintf(stderr, "gen_grocer: --baskets wants at most 80000000\n");
        return 2;
    }

    struct rng r;
    rng_seed(&r, seed);
    struct world w;
    world_build(&w, (uint32_t)skus, baskets, seed, &r);
    struct out *o = cw_malloc(sizeof(*o));
    o->failed = 0;
    generate(&w, baskets, &r, o);
    int status = 0;
    if (o->failed || fflush(stdout) != 0) {
        fprintf(stderr, "gen_grocer: write error: %s\n", strerror(errno));
        status = 1;
    }
    cw_free(o);
    world_release(&w);
    return status;
}
