/*
 * train.c: from order lines to a model (see cw_train.h).
 *
 * The pass structure: an inverted index (item -> training baskets) lets one
 * dense counter row per item collect its co-occurrences, which feed both
 * the EASE Gram matrix and the co-occurrence counts that back the reason
 * sentences ("31% of orders with it include this"). Memory is O(lines +
 * items) plus the dense EASE matrix, which ease_max_items bounds.
 *
 * Tuning follows the reference protocol: the last 10% of the training
 * baskets are a validation split; EASE's lambda is chosen there on hit rate,
 * then a model trained on the first 90% scores the validation cases and the
 * acceptance model (a logistic regression over cw__decide_candidates'
 * features) and the profit weight gamma are fitted on them. The final model
 * is trained on all baskets with those settings.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_dataset.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_train.h"
#include "model_int.h"
#include "train_int.h"

#define HIST_MAX 300   /* past items kept per customer */
#define HIST_DECAY 0.9 /* weight of a basket one order older */
#define POPULAR_MAX 200
#define VAL_CASES_MAX 5000
#define VAL_FOLDS 4       /* validation folds the re-ranker learns from */
#define RETURN_PRIOR 10.0 /* units of evidence before a return rate counts */
#define RECENT_DIV 20     /* the latest 1/20 of training baskets: the trend */

void cw_train_params_default(struct cw_train_params *p)
{
    memset(p, 0, sizeof(*p));
    p->top_m = 100;
    p->ease_max_items = 8000;
    p->use_blas = 1;
    p->tune = 1;
    p->default_margin_rate = 0.30;
    p->currency = "USD";
}

/* What a build needs besides the input: settings tuning decided. */
struct settings {
    double lambda;
    double feat_w[CW_MODEL_NFEAT + 1];
    double gamma, floor;
    uint32_t rank_n;
    double rank_w[CW_MODEL_NRANK], rank_a, rank_b;
    uint32_t cart_order;
    double line_order_mix;
};

/* Default acceptance weights: item-model score and history count, a little
 * popularity; used when there is too little data to fit. */
static const double default_w[CW_MODEL_NFEAT + 1] = {-4.0, 8.0, 2.0, 4.0,
                                                     1.0,  0.0, 0.0};

/* ---- string table ---------------------------------------------------- */

struct strtab {
    struct cw_buf b;
    struct cw_intern seen;
    uint32_t *off; /* by intern id */
    size_t cap;
};

static void strtab_init(struct strtab *t)
{
    cw_buf_init(&t->b, 0);
    cw_buf_addch(&t->b, '\0'); /* offset 0 is "" */
    cw_intern_init(&t->seen);
    t->off = NULL;
    t->cap = 0;
}

static uint32_t strtab_add(struct strtab *t, const char *s)
{
    if (!s || !*s)
        return 0;
    int added;
    size_t len = strlen(s);
    uint32_t id = cw_intern_add(&t->seen, s, len, &added);
    if (added) {
        CW_GROW(t->off, t->cap, id + 1);
        t->off[id] = (uint32_t)t->b.len;
        cw_buf_add(&t->b, s, len + 1);
    }
    return t->off[id];
}

static void strtab_release(struct strtab *t)
{
    cw_buf_release(&t->b);
    cw_intern_release(&t->seen);
    cw_free(t->off);
}

/* ---- training baskets ------------------------------------------------- */

/* The distinct model items of each training basket, and the inverse. */
struct baskets {
    size_t n;
    size_t *off; /* items of basket k: item[off[k] .. off[k+1]) */
    uint32_t *item;
    size_t *ioff; /* baskets of item i: bask[ioff[i] .. ioff[i+1]) */
    uint32_t *bask;
};

static void baskets_release(struct baskets *b)
{
    cw_free(b->off);
    cw_free(b->item);
    cw_free(b->ioff);
    cw_free(b->bask);
}

static void baskets_build(struct baskets *out, const struct cw_dataset *ds,
                          const uint32_t *ids, size_t n, const uint32_t *map,
                          uint32_t n_items)
{
    uint32_t *stamp = cw_calloc(n_items + 1, sizeof(*stamp));
    out->n = n;
    out->off = cw_calloc(n + 1, sizeof(*out->off));
    size_t cap = 0, len = 0;
    out->item = NULL;
    for (size_t k = 0; k < n; k++) {
        uint32_t b = ids[k];
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            uint32_t it = map[ds->l_item[ds->b_line[li]]];
            if (stamp[it] == k + 1)
                continue;
            stamp[it] = (uint32_t)(k + 1);
            CW_GROW(out->item, cap, len + 1);
            out->item[len++] = it;
        }
        out->off[k + 1] = len;
    }
    cw_free(stamp);
    out->ioff = cw_calloc(n_items + 1, sizeof(*out->ioff));
    for (size_t i = 0; i < len; i++)
        out->ioff[out->item[i] + 1]++;
    for (uint32_t i = 0; i < n_items; i++)
        out->ioff[i + 1] += out->ioff[i];
    size_t *fill = cw_malloc((n_items + 1) * sizeof(*fill));
    memcpy(fill, out->ioff, (n_items + 1) * sizeof(*fill));
    out->bask = cw_malloc((len + 1) * sizeof(*out->bask));
    for (size_t k = 0; k < n; k++)
        for (size_t j = out->off[k]; j < out->off[k + 1]; j++)
            out->bask[fill[out->item[j]]++] = (uint32_t)k;
    cw_free(fill);
}

/* Co-occurrence row of item i: cnt[j] for every j sharing a basket with it,
 * listed in touched (n returned). cnt must be zero on entry. */
static size_t co_row(const struct baskets *b, uint32_t i, uint32_t *cnt,
                     uint32_t *touched)
{
    size_t nt = 0;
    for (size_t x = b->ioff[i]; x < b->ioff[i + 1]; x++) {
        uint32_t k = b->bask[x];
        for (size_t y = b->off[k]; y < b->off[k + 1]; y++) {
            uint32_t j = b->item[y];
            if (j == i)
                continue;
            if (!cnt[j]++)
                touched[nt++] = j;
        }
    }
    return nt;
}

/* ---- EASE -------------------------------------------------------------- */

static int spd_inverse(double *a, size_t n, int use_blas)
{
    if (use_blas) {
        int rc = cw_spd_inverse_lapack(a, n);
        if (rc != CW_EUNSUPPORTED)
            return rc;
    }
    return cw_spd_inverse_plain(a, n);
}

/* Gram matrix over the dense items (dense[i] = position or -1). */
static double *gram(const struct baskets *b, const int32_t *dense, size_t nd,
                    const uint32_t *ditem, uint32_t n_items)
{
    double *g = cw_calloc(nd * nd, sizeof(*g));
    uint32_t *cnt = cw_calloc(n_items, sizeof(*cnt));
    uint32_t *touched = cw_malloc((n_items + 1) * sizeof(*touched));
    for (size_t a = 0; a < nd; a++) {
        uint32_t i = ditem[a];
        size_t nt = co_row(b, i, cnt, touched);
        for (size_t t = 0; t < nt; t++) {
            uint32_t j = touched[t];
            if (dense[j] >= 0)
                g[a * nd + (size_t)dense[j]] = cnt[j];
            cnt[j] = 0;
        }
        g[a * nd + a] = (double)(b->ioff[i + 1] - b->ioff[i]);
    }
    cw_free(cnt);
    cw_free(touched);
    return g;
}

/* B = I - P diag(1/diag(P)), zero diagonal, from P = (G + lambda I)^-1, in
 * place. Row c of the result is what cart item c adds to each target. */
static int ease_weights(double *g, size_t nd, double lambda, int use_blas)
{
    for (size_t a = 0; a < nd; a++)
        g[a * nd + a] += lambda;
    int rc = spd_inverse(g, nd, use_blas);
    if (rc)
        return rc;
    double *inv_d = cw_malloc((nd ? nd : 1) * sizeof(*inv_d));
    for (size_t a = 0; a < nd; a++)
        inv_d[a] = 1.0 / g[a * nd + a];
    for (size_t a = 0; a < nd; a++) {
        double *r = g + a * nd;
        for (size_t c = 0; c < nd; c++)
            r[c] = -r[c] * inv_d[c];
        r[a] = 0;
    }
    cw_free(inv_d);
    return 0;
}

/* (train_int.h) */
/* FNV-1a over the basket id, a NUL and the sku: a draw per (basket,
 * item) that does not depend on where the item's line is. */
static uint32_t basket_item_hash(const char *basket, const char *sku)
{
    uint32_t h = cw_fnv1a32(basket, strlen(basket));
    h *= 0x01000193u; /* the NUL between them */
    for (const unsigned char *p = (const unsigned char *)sku; *p; p++) {
        h ^= *p;
        h *= 0x01000193u;
    }
    return h;
}

/* Draw (h, sku) of item a comes before b's. */
static int draw_before(uint32_t ha, const char *a, uint32_t hb, const char *b)
{
    return ha < hb || (ha == hb && strcmp(a, b) < 0);
}

size_t cw__val_hidden(const char *basket, const struct cw_cart_line *items,
                      size_t n, int j)
{
    size_t b0 = 0, b1 = 0; /* the smallest and second smallest draw */
    uint32_t h0 = 0, h1 = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = basket_item_hash(basket, items[i].sku);
        if (i == 0 || draw_before(h, items[i].sku, h0, items[b0].sku)) {
            b1 = b0;
            h1 = h0;
            b0 = i;
            h0 = h;
        } else if (i == 1 || draw_before(h, items[i].sku, h1, items[b1].sku)) {
            b1 = i;
            h1 = h;
        }
    }
    return j > 0 && n > 1 ? b1 : b0;
}

/* Validation cases in dense positions: cart then hidden (mode last). */
struct vcases {
    size_t n;
    size_t *off; /* case k: pos[off[k] .. off[k+1]-1) cart, last = hidden */
    uint32_t *pos;
};

static void vcases_release(struct vcases *v)
{
    cw_free(v->off);
    cw_free(v->pos);
}

static void vcases_build(struct vcases *v, const struct cw_dataset *ds,
                         const uint32_t *ids, size_t n, const uint32_t *map,
                         const int32_t *dense, uint32_t n_items)
{
    uint32_t *stamp = cw_calloc(n_items + 1, sizeof(*stamp));
    size_t cap = 0, len = 0;
    v->n = 0;
    v->pos = NULL;
    v->off = cw_calloc(VAL_CASES_MAX + 1, sizeof(*v->off));
    for (size_t k = 0; k < n && v->n < VAL_CASES_MAX; k++) {
        uint32_t b = ids[k];
        size_t start = len;
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            uint32_t it = map[ds->l_item[ds->b_line[li]]];
            if (dense[it] < 0 || stamp[it] == k + 1)
                continue;
            stamp[it] = (uint32_t)(k + 1);
            CW_GROW(v->pos, cap, len + 1);
            v->pos[len++] = (uint32_t)dense[it];
        }
        if (len - start >= 2)
            v->off[++v->n] = len;
        else
            len = start;
    }
    cw_free(stamp);
}

static double ease_val_hr(const double *bw, size_t nd, const struct vcases *v)
{
    double *s = cw_malloc((nd ? nd : 1) * sizeof(*s));
    size_t hits = 0;
    for (size_t k = 0; k < v->n; k++) {
        size_t a = v->off[k], z = v->off[k + 1] - 1;
        memset(s, 0, nd * sizeof(*s));
        for (size_t c = a; c < z; c++) {
            const double *r = bw + (size_t)v->pos[c] * nd;
            for (size_t j = 0; j < nd; j++)
                s[j] += r[j];
        }
        for (size_t c = a; c < z; c++)
            s[v->pos[c]] = -INFINITY;
        double h = s[v->pos[z]];
        size_t above = 0;
        for (size_t j = 0; j < nd && above < 3; j++)
            above += s[j] > h;
        hits += above < 3;
    }
    cw_free(s);
    return v->n ? (double)hits / (double)v->n : 0;
}

/* ---- the model build ---------------------------------------------------- */

/* Item ids by sort_key descending, then id (qsort has no context
 * argument; training runs in one thread). */
static const uint32_t *sort_key;
static int cmp_by_key(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (sort_key[x] != sort_key[y])
        return sort_key[x] > sort_key[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int cmp_nbr(const void *a, const void *b)
{
    const struct cw_nbr *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* Moves the k best neighbours (cmp_nbr order) to the front of row[0..n),
 * so only they need sorting: quickselect, expected O(n). */
static void select_top(struct cw_nbr *row, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1 && k > lo && k < hi) {
        struct cw_nbr pivot = row[lo + (hi - lo) / 2], t;
        size_t i = lo, j = hi - 1;
        while (i <= j) {
            while (cmp_nbr(&row[i], &pivot) < 0)
                i++;
            while (cmp_nbr(&row[j], &pivot) > 0)
                j--;
            if (i <= j) {
                t = row[i];
                row[i] = row[j];
                row[j] = t;
                i++;
                if (j-- == 0)
                    break;
            }
        }
        if (k <= j)
            hi = j + 1;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

static int cmp_hist(const void *a, const void *b)
{
    const struct cw_hist *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The universe: dataset SKUs then catalog-only SKUs. */
struct universe {
    uint32_t n;
    uint32_t *map;                      /* dataset sku id -> item */
    const char **sku;                   /* item -> sku (borrowed) */
    const struct cw_product_rec **prod; /* item -> catalog record or NULL */
};

static void universe_build(struct universe *u, const struct cw_train_input *in)
{
    const struct cw_dataset *ds = in->ds;
    struct cw_intern extra;
    cw_intern_init(&extra);
    size_t cap = ds->skus.n + in->n_products + 1;
    u->map = cw_malloc((ds->skus.n + 1) * sizeof(*u->map));
    u->sku = cw_malloc(cap * sizeof(*u->sku));
    u->prod = cw_calloc(cap, sizeof(*u->prod));
    u->n = 0;
    for (size_t s = 0; s < ds->skus.n; s++) {
        u->map[s] = u->n;
        u->sku[u->n++] = ds->skus.keys[s];
    }
    for (size_t p = 0; p < in->n_products; p++) {
        const char *sku = in->products[p].sku;
        size_t len = strlen(sku);
        long id = cw_intern_find(&ds->skus, sku, len);
        if (id < 0) {
            int added;
            cw_intern_add(&extra, sku, len, &added);
            if (!added)
                continue;
            id = (long)u->n;
            u->sku[u->n++] = sku;
        } else {
            id = u->map[id];
        }
        u->prod[id] = &in->products[p];
    }
    cw_intern_release(&extra);
}

static void universe_release(struct universe *u)
{
    cw_free(u->map);
    cw_free(u->sku);
    cw_free(u->prod);
}

static int build(struct cw_model *out, const struct cw_train_input *in,
                 const struct cw_train_params *p, const struct settings *st,
                 struct cw_buf *err)
{
    const struct cw_dataset *ds = in->ds;
    struct universe u;
    universe_build(&u, in);
    uint32_t n = u.n;
    struct baskets bk;
    baskets_build(&bk, ds, in->baskets, in->n_baskets, u.map, n);

    struct strtab str;
    strtab_init(&str);
    struct cw__model_parts mp;
    memset(&mp, 0, sizeof(mp));
    struct cw_item *items = cw_calloc(n + 1, sizeof(*items));
    uint32_t *item_sku = cw_calloc(n + 1, sizeof(*item_sku));
    uint32_t *pop = cw_calloc(n + 1, sizeof(*pop));
    int exp = cw_currency_exponent(p->currency);
    double scale = pow(10, exp);

    /* prices: median of the training lines, catalog price when known */
    double *sold = cw_calloc(n + 1, sizeof(*sold));
    size_t *pcount = cw_calloc(n + 2, sizeof(*pcount));
    for (size_t k = 0; k < in->n_baskets; k++) {
        uint32_t b = in->baskets[k];
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            uint32_t l = ds->b_line[li], it = u.map[ds->l_item[l]];
            sold[it] += ds->l_qty[l];
            if (!isnan(ds->l_price[l]))
                pcount[it + 1]++;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        pcount[i + 1] += pcount[i];
    double *prices = cw_malloc((pcount[n] + 1) * sizeof(*prices));
    size_t *pfill = cw_malloc((n + 1) * sizeof(*pfill));
    memcpy(pfill, pcount, (n + 1) * sizeof(*pfill));
    double *cost = cw_malloc((n + 1) * sizeof(*cost));
    for (uint32_t i = 0; i < n; i++)
        cost[i] = NAN;
    for (size_t k = 0; k < in->n_baskets; k++) {
        uint32_t b = in->baskets[k];
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            uint32_t l = ds->b_line[li], it = u.map[ds->l_item[l]];
            if (!isnan(ds->l_price[l]))
                prices[pfill[it]++] = ds->l_price[l];
            if (!isnan(ds->l_cost[l]))
                cost[it] = ds->l_cost[l];
        }
    }
    cw_free(pfill);

    /* returns per sku */
    double *returned = cw_calloc(n + 1, sizeof(*returned));
    {
        struct cw_intern idx;
        cw_intern_init(&idx);
        for (uint32_t i = 0; i < n; i++)
            cw_intern_add(&idx, u.sku[i], strlen(u.sku[i]), NULL);
        for (size_t r = 0; r < in->n_returns; r++) {
            const char *s = in->returns[r].sku;
            long it = s ? cw_intern_find(&idx, s, strlen(s)) : -1;
            if (it >= 0)
                returned[it] += (double)in->returns[r].qty;
        }
        cw_intern_release(&idx);
    }

    /* the trend: how many of the latest training baskets have each item */
    uint32_t n_recent = (uint32_t)(bk.n / RECENT_DIV);
    uint32_t *recent = cw_calloc(n + 1, sizeof(*recent));
    for (size_t k = bk.n - n_recent; k < bk.n; k++)
        for (size_t y = bk.off[k]; y < bk.off[k + 1]; y++)
            recent[bk.item[y]]++;

    /* groups and categories */
    struct cw_intern groups, cats;
    cw_intern_init(&groups);
    cw_intern_init(&cats);
    cw_intern_add(&cats, "", 0, NULL); /* category 0: none */
    for (uint32_t i = 0; i < n; i++) {
        const struct cw_product_rec *pr = u.prod[i];
        struct cw_item *it = &items[i];
        pop[i] = (uint32_t)(bk.ioff[i + 1] - bk.ioff[i]);
        it->pop = pop[i];
        it->recent = recent[i];
        item_sku[i] = strtab_add(&str, u.sku[i]);
        const char *g = pr && pr->group && *pr->group ? pr->group : u.sku[i];
        it->group = cw_intern_add(&groups, g, strlen(g), NULL);
        const char *c = pr && pr->category ? pr->category : "";
        it->category = cw_intern_add(&cats, c, strlen(c), NULL);
        it->title = strtab_add(&str, pr ? pr->title : NULL);
        it->attrs = strtab_add(&str, pr ? pr->attributes : NULL);
        it->flags = pr ? pr->flags : 0;
        it->inventory =
            pr && pr->inventory >= 0
                ? (int32_t)(pr->inventory > INT32_MAX ? INT32_MAX
                                                      : pr->inventory)
                : -1;
        if (pop[i])
            it->flags |= CW_ITEM_IN_TRAINING;
        double price = 0;
        size_t np = pcount[i + 1] - pcount[i];
        if (pr && pr->price != CW_MONEY_UNKNOWN && pr->price > 0) {
            price = (double)pr->price / scale;
        } else if (np) {
            double *v = prices + pcount[i];
            qsort(v, np, sizeof(*v), cmp_double);
            price = np % 2 ? v[np / 2] : (v[np / 2 - 1] + v[np / 2]) / 2;
        }
        if (pr && pr->cost != CW_MONEY_UNKNOWN)
            cost[i] = (double)pr->cost / scale;
        double margin;
        if (in->unit_margin) {
            margin = in->unit_margin(in->unit_margin_ctx, u.sku[i],
                                     price > 0 ? price : 1.0);
        } else if (!isnan(cost[i])) {
            margin = price - cost[i];
        } else {
            margin = price * p->default_margin_rate;
            it->flags |= CW_ITEM_MARGIN_ASSUMED;
        }
        it->price = llround(price * scale);
        it->margin = llround(margin * scale);
        it->return_rate = (float)fmin(
            1.0, returned[i] / (sold[i] + returned[i] + RETURN_PRIOR));
    }
    cw_free(prices);
    cw_free(pcount);
    cw_free(cost);
    cw_free(sold);
    cw_free(returned);
    cw_free(recent);

    uint32_t n_groups = (uint32_t)groups.n, n_cats = (uint32_t)cats.n;
    if (!n_groups) {
        cw_intern_add(&groups, "", 0, NULL);
        n_groups = 1;
    }
    uint32_t *group_name = cw_malloc(n_groups * sizeof(*group_name));
    for (uint32_t g = 0; g < n_groups; g++)
        group_name[g] = strtab_add(&str, groups.keys[g]);
    uint32_t *category_name = cw_malloc(n_cats * sizeof(*category_name));
    for (uint32_t c = 0; c < n_cats; c++)
        category_name[c] = strtab_add(&str, cats.keys[c]);
    uint32_t *group_off = cw_calloc(n_groups + 1, sizeof(*group_off));
    uint32_t *by_pop = cw_malloc((n + 1) * sizeof(*by_pop));
    for (uint32_t i = 0; i < n; i++)
        by_pop[i] = i;
    sort_key = pop;
    qsort(by_pop, n, sizeof(*by_pop), cmp_by_key);
    sort_key = NULL;
    for (uint32_t i = 0; i < n; i++)
        group_off[items[i].group + 1]++;
    for (uint32_t g = 0; g < n_groups; g++)
        group_off[g + 1] += group_off[g];
    uint32_t *group_items = cw_malloc((n + 1) * sizeof(*group_items));
    {
        uint32_t *fill = cw_malloc((n_groups + 1) * sizeof(*fill));
        memcpy(fill, group_off, (n_groups + 1) * sizeof(*fill));
        for (uint32_t k = 0; k < n; k++) /* popularity order within group */
            group_items[fill[items[by_pop[k]].group]++] = by_pop[k];
        cw_free(fill);
    }
    cw_intern_release(&groups);
    cw_intern_release(&cats);

    /* item model: EASE over the most popular items, co-occurrence else */
    int32_t *dense = cw_malloc((n + 1) * sizeof(*dense));
    uint32_t *ditem = cw_malloc((n + 1) * sizeof(*ditem));
    size_t nd = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = by_pop[k];
        dense[i] = -1;
        if (pop[i] && nd < p->ease_max_items && st->lambda > 0) {
            dense[i] = (int32_t)nd;
            ditem[nd++] = i;
        }
    }
    double *bw = NULL;
    int rc = 0;
    if (nd) {
        bw = gram(&bk, dense, nd, ditem, n);
        rc = ease_weights(bw, nd, st->lambda, p->use_blas);
        if (rc)
            cw_err(err, rc, "ease solve failed (lambda %g)", st->lambda);
    }
    uint32_t top_m = p->top_m ? p->top_m : 100;
    uint32_t *nbr_off = cw_calloc(n + 1, sizeof(*nbr_off));
    struct cw_nbr *nbrs = NULL;
    size_t nbr_cap = 0, nnz = 0;
    uint32_t *cnt = cw_calloc(n + 1, sizeof(*cnt));
    uint32_t *touched = cw_malloc((n + 1) * sizeof(*touched));
    struct cw_nbr *row = cw_malloc((n + 1) * sizeof(*row));
    for (uint32_t i = 0; !rc && i < n; i++) {
        size_t nt = co_row(&bk, i, cnt, touched), nr = 0;
        for (size_t t = 0; t < nt; t++) {
            uint32_t j = touched[t];
            float w;
            if (dense[i] >= 0 && dense[j] >= 0)
                w = (float)bw[(size_t)dense[i] * nd + (size_t)dense[j]];
            else /* cosine, damped like EASE's weights for rare items */
                w = (float)(cnt[j] / (sqrt((double)pop[i] * pop[j]) + 10.0));
            if (w > 0)
                row[nr++] = (struct cw_nbr){j, w, cnt[j]};
            cnt[j] = 0;
        }
        if (nr > top_m) {
            select_top(row, nr, top_m);
            nr = top_m;
        }
        qsort(row, nr, sizeof(*row), cmp_nbr);
        CW_GROW(nbrs, nbr_cap, nnz + nr + 1);
        memcpy(nbrs + nnz, row, nr * sizeof(*row));
        nnz += nr;
        nbr_off[i + 1] = (uint32_t)nnz;
    }
    cw_free(cnt);
    cw_free(touched);
    cw_free(row);
    cw_free(bw);
    cw_free(dense);
    cw_free(ditem);

    /* customer profiles: recency-decayed share of their orders with each
     * item (TIFU-KNN's user vector), and the median order value */
    size_t nc = ds->customers.n;
    uint32_t *cust_n = cw_calloc(nc + 1, sizeof(*cust_n));
    for (size_t k = 0; k < in->n_baskets; k++) {
        int32_t c = ds->b_cust[in->baskets[k]];
        if (c >= 0)
            cust_n[c]++;
    }
    size_t *coff = cw_calloc(nc + 2, sizeof(*coff));
    for (size_t c = 0; c < nc; c++)
        coff[c + 1] = coff[c] + cust_n[c];
    uint32_t *cb = cw_malloc((coff[nc] + 1) * sizeof(*cb));
    {
        size_t *fill = cw_malloc((nc + 1) * sizeof(*fill));
        memcpy(fill, coff, (nc + 1) * sizeof(*fill));
        for (size_t k = 0; k < in->n_baskets; k++) {
            int32_t c = ds->b_cust[in->baskets[k]];
            if (c >= 0)
                cb[fill[c]++] = (uint32_t)k;
        }
        cw_free(fill);
    }
    struct cw_customer *custs = NULL;
    uint32_t *cust_id = NULL;
    struct cw_hist *hist = NULL;
    size_t ncust = 0, ccap = 0, icap = 0, hcap = 0, nh = 0;
    float *acc = cw_calloc(n + 1, sizeof(*acc));
    uint32_t *hcnt = cw_calloc(n + 1, sizeof(*hcnt));
    double *rep_n = cw_calloc(n + 1, sizeof(*rep_n));
    double *rep_d = cw_calloc(n + 1, sizeof(*rep_d));
    uint32_t *tl = cw_malloc((n + 1) * sizeof(*tl));
    int64_t *vals = cw_malloc((in->n_baskets + 1) * sizeof(*vals));
    for (size_t c = 0; !rc && c < nc; c++) {
        size_t nb = cust_n[c];
        if (!nb)
            continue;
        size_t nt = 0;
        double norm = 0;
        for (size_t x = 0; x < nb; x++) {
            size_t k = cb[coff[c] + x];
            double w = pow(HIST_DECAY, (double)(nb - 1 - x));
            norm += w;
            for (size_t y = bk.off[k]; y < bk.off[k + 1]; y++) {
                uint32_t j = bk.item[y];
                if (acc[j] == 0)
                    tl[nt++] = j;
                acc[j] += (float)w;
                hcnt[j]++;
            }
            uint32_t b = in->baskets[k];
            double v = 0;
            for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
                uint32_t l = ds->b_line[li];
                if (!isnan(ds->l_price[l]))
                    v += ds->l_qty[l] * ds->l_price[l];
            }
            vals[x] = llround(v * scale);
        }
        qsort(vals, nb, sizeof(*vals), cmp_i64);
        size_t h0 = nh;
        CW_GROW(hist, hcap, nh + nt + 1);
        for (size_t t = 0; t < nt; t++) {
            uint32_t j = tl[t];
            hist[nh++] = (struct cw_hist){j, (float)(acc[j] / norm), hcnt[j]};
            if (nb >= 2) { /* could have bought it again */
                rep_d[j] += 1;
                rep_n[j] += hcnt[j] >= 2;
            }
            acc[j] = 0;
            hcnt[j] = 0;
        }
        qsort(hist + h0, nt, sizeof(*hist), cmp_hist);
        if (nt > HIST_MAX)
            nh = h0 + HIST_MAX;
        CW_GROW(custs, ccap, ncust + 1);
        CW_GROW(cust_id, icap, ncust + 1);
        custs[ncust] = (struct cw_customer){
            nb % 2 ? vals[nb / 2] : (vals[nb / 2 - 1] + vals[nb / 2]) / 2,
            (uint32_t)nb, (uint32_t)h0, (uint32_t)(nh - h0)};
        cust_id[ncust++] = strtab_add(&str, ds->customers.keys[c]);
    }
    /* smoothed toward a small prior share (1 in 5) */
    for (uint32_t i = 0; i < n; i++)
        items[i].repeat_rate = (float)((rep_n[i] + 1) / (rep_d[i] + 5));
    cw_free(acc);
    cw_free(hcnt);
    cw_free(rep_n);
    cw_free(rep_d);
    cw_free(tl);
    cw_free(vals);
    cw_free(cb);
    cw_free(coff);
    cw_free(cust_n);

    if (!rc) {
        mp.meta.trained_at = p->now ? p->now : (int64_t)time(NULL);
        mp.meta.n_baskets = (int64_t)in->n_baskets;
        mp.meta.n_lines = (int64_t)bk.off[bk.n];
        mp.meta.ease_lambda = nd ? st->lambda : 0;
        mp.meta.ease_items = (uint32_t)nd;
        mp.meta.top_m = top_m;
        mp.meta.default_margin_rate = p->default_margin_rate;
        snprintf(mp.meta.currency, sizeof(mp.meta.currency), "%.3s",
                 p->currency ? p->currency : "USD");
        mp.meta.currency_exp = exp;
        memcpy(mp.meta.feat_w, st->feat_w, sizeof(st->feat_w));
        mp.meta.profit_gamma = st->gamma;
        mp.meta.relevance_floor = st->floor;
        mp.meta.rank_n = st->rank_n;
        mp.meta.n_recent = n_recent;
        mp.meta.cart_order = st->cart_order;
        mp.meta.line_order_mix = st->line_order_mix;
        memcpy(mp.meta.rank_w, st->rank_w, sizeof(st->rank_w));
        mp.meta.rank_a = st->rank_a;
        mp.meta.rank_b = st->rank_b;
        mp.n_items = n;
        mp.n_groups = n_groups;
        mp.n_categories = n_cats;
        mp.n_customers = (uint32_t)ncust;
        mp.n_popular = n < POPULAR_MAX ? n : POPULAR_MAX;
        while (mp.n_popular && !pop[by_pop[mp.n_popular - 1]])
            mp.n_popular--;
        mp.items = items;
        mp.item_sku = item_sku;
        mp.nbr_off = nbr_off;
        mp.nbrs = nbrs;
        mp.group_name = group_name;
        mp.group_off = group_off;
        mp.group_items = group_items;
        mp.category_name = category_name;
        mp.popular = by_pop;
        mp.customer_id = cust_id;
        mp.customers = custs;
        mp.hist = hist;
        mp.n_hist = (uint32_t)nh;
        mp.strings = str.b.buf;
        mp.strings_len = str.b.len;
        struct cw_buf enc = CW_BUF_INIT;
        rc = cw__model_build(&mp, &enc);
        if (!rc) {
            size_t len;
            void *raw = cw_buf_detach(&enc, &len);
            rc = cw_model_decode(out, raw, len, err);
            if (rc)
                cw_free(raw);
            else
                out->owned = raw;
        }
        cw_buf_release(&enc);
    }
    cw_free(items);
    cw_free(item_sku);
    cw_free(pop);
    cw_free(group_name);
    cw_free(category_name);
    cw_free(group_off);
    cw_free(group_items);
    cw_free(by_pop);
    cw_free(nbr_off);
    cw_free(nbrs);
    cw_free(custs);
    cw_free(cust_id);
    cw_free(hist);
    strtab_release(&str);
    baskets_release(&bk);
    universe_release(&u);
    return rc;
}

/* ---- the order of an order's lines ------------------------------------ */

#define ORDER_PAIRS_MAX 4000000 /* adjacent line pairs looked at, at most */
#define ORDER_MIX_MIN 0.05

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Of the adjacent line pairs of the latest training orders (distinct
 * items), the share that come in their item pair's less usual order: 0
 * when every order lists its lines by one fixed key (an export sorted by
 * aisle or sku), which then says nothing of the order a shopper chose
 * them in; well above 0 when lines come as shoppers added them. */
static double line_order_mix(const struct cw_train_input *in)
{
    const struct cw_dataset *ds = in->ds;
    uint64_t *pair = cw_malloc(sizeof(*pair) * (ORDER_PAIRS_MAX + 1));
    size_t np = 0;
    for (size_t k = in->n_baskets; k-- > 0 && np < ORDER_PAIRS_MAX;) {
        uint32_t b = in->baskets[k];
        for (size_t li = ds->b_off[b] + 1;
             li < ds->b_off[b + 1] && np < ORDER_PAIRS_MAX; li++) {
            uint64_t x = ds->l_item[ds->b_line[li - 1]];
            uint64_t y = ds->l_item[ds->b_line[li]];
            if (x != y) /* key: the pair, then which comes first */
                pair[np++] = x < y ? x << 33 | y << 1 : y << 33 | x << 1 | 1;
        }
    }
    qsort(pair, np, sizeof(*pair), cmp_u64);
    size_t minority = 0;
    for (size_t i = 0; i < np;) {
        size_t j = i, first = 0;
        for (; j < np && pair[j] >> 1 == pair[i] >> 1; j++)
            first += !(pair[j] & 1);
        size_t second = (j - i) - first;
        minority += first < second ? first : second;
        i = j;
    }
    cw_free(pair);
    return np ? (double)minority / (double)np : 0;
}

/* ---- tuning ------------------------------------------------------------ */

static double tune_lambda(const struct cw_train_input *in,
                          const struct cw_train_params *p, size_t split)
{
    static const double grid[] = {1, 3, 10, 30, 100, 300, 1000};
    struct universe u;
    universe_build(&u, in);
    struct baskets bk;
    baskets_build(&bk, in->ds, in->baskets, split, u.map, u.n);
    uint32_t *pop = cw_malloc((u.n + 1) * sizeof(*pop));
    uint32_t *order = cw_malloc((u.n + 1) * sizeof(*order));
    for (uint32_t i = 0; i < u.n; i++) {
        pop[i] = (uint32_t)(bk.ioff[i + 1] - bk.ioff[i]);
        order[i] = i;
    }
    sort_key = pop;
    qsort(order, u.n, sizeof(*order), cmp_by_key);
    sort_key = NULL;
    int32_t *dense = cw_malloc((u.n + 1) * sizeof(*dense));
    uint32_t *ditem = cw_malloc((u.n + 1) * sizeof(*ditem));
    size_t nd = 0;
    for (uint32_t k = 0; k < u.n; k++) {
        uint32_t i = order[k];
        dense[i] = -1;
        if (pop[i] && nd < p->ease_max_items) {
            dense[i] = (int32_t)nd;
            ditem[nd++] = i;
        }
    }
    struct vcases vc;
    vcases_build(&vc, in->ds, in->baskets + split, in->n_baskets - split, u.map,
                 dense, u.n);
    double best = 100, best_hr = -1;
    if (nd && vc.n) {
        double *g = gram(&bk, dense, nd, ditem, u.n);
        double *w = cw_malloc(nd * nd * sizeof(*w));
        for (size_t k = 0; k < sizeof(grid) / sizeof(*grid); k++) {
            memcpy(w, g, nd * nd * sizeof(*w));
            if (ease_weights(w, nd, grid[k], p->use_blas))
                continue;
            double hr = ease_val_hr(w, nd, &vc);
            if (hr > best_hr) {
                best_hr = hr;
                best = grid[k];
            }
        }
        cw_free(w);
        cw_free(g);
    }
    vcases_release(&vc);
    cw_free(dense);
    cw_free(ditem);
    cw_free(pop);
    cw_free(order);
    baskets_release(&bk);
    universe_release(&u);
    return best;
}

/* Validation cases: every case's candidates with what the acceptance model
 * and the re-ranker read of them, and the label. */
struct vset {
    size_t n, cap;
    float (*f)[CW_MODEL_NFEAT];
    struct cw__rank_raw *raw; /* what the re-ranker reads besides f */
    uint32_t *item;
    uint8_t *y;
    double *margin; /* unit margin of the candidate (major-unit scale) */
    size_t n_cases;
    size_t *start;         /* rows of case k: start[k] .. start[k + 1] */
    double *hidden_margin; /* per case */
    size_t hcap;
};

static void vset_release(struct vset *v)
{
    cw_free(v->f);
    cw_free(v->raw);
    cw_free(v->item);
    cw_free(v->y);
    cw_free(v->margin);
    cw_free(v->start);
    cw_free(v->hidden_margin);
    memset(v, 0, sizeof(*v));
}

/* Adds a case: its candidates c, or (keep) only the best keep of them. */
static void add_case(struct vset *v, const struct cw_model *sub,
                     const struct cw_scratch *s, const struct cw__cand *c,
                     int nc, uint32_t hidden, unsigned keep)
{
    int top[CW_RANK_MAX];
    int nk = keep ? cw__rank_select(c, nc, keep, top) : nc;
    size_t hcap = v->hcap;
    CW_GROW(v->hidden_margin, hcap, v->n_cases + 2);
    v->start = cw_realloc(v->start, hcap * sizeof(*v->start));
    v->hcap = hcap;
    v->hidden_margin[v->n_cases] = (double)sub->items[hidden].margin;
    v->start[v->n_cases] = v->n;
    for (int x = 0; x < nk; x++) {
        if (v->n == v->cap) {
            size_t cap = v->cap;
            CW_GROW(v->f, cap, v->n + 1);
            v->raw = cw_realloc(v->raw, cap * sizeof(*v->raw));
            v->item = cw_realloc(v->item, cap * sizeof(*v->item));
            v->y = cw_realloc(v->y, cap * sizeof(*v->y));
            v->margin = cw_realloc(v->margin, cap * sizeof(*v->margin));
            v->cap = cap;
        }
        uint32_t it = c[keep ? top[x] : x].item;
        cw__cand_features(sub, s, it, v->f[v->n]);
        cw__cand_rank_raw(sub, s, it, &v->raw[v->n]);
        v->item[v->n] = it;
        v->y[v->n] = it == hidden;
        v->margin[v->n] = (double)sub->items[it].margin;
        v->n++;
    }
    v->n_cases++;
    v->start[v->n_cases] = v->n;
}

/* Runs the training baskets [from, to) through sub's candidate scoring,
 * hiding in each the item the benchmark hides (last: its last line) or, for
 * what is fitted (free), CW_VAL_HIDE items chosen by cw__val_hidden; keeps
 * every candidate of a case, or the best keep. */
static void collect(struct vset *v, const struct cw_model *sub,
                    const struct cw_train_input *in, size_t from, size_t to,
                    int free, unsigned keep)
{
    const struct cw_dataset *ds = in->ds;
    struct cw_scratch *s = cw_scratch_new(sub);
    struct cw_cart_line *cart = cw_malloc(CW_CART_MAX * sizeof(*cart));
    struct cw_decision *dec = cw_malloc(sizeof(*dec));
    memset(v, 0, sizeof(*v));
    for (size_t k = from; k < to && v->n_cases < VAL_CASES_MAX; k++) {
        uint32_t b = in->baskets[k];
        size_t nl = 0;
        long hidden = -1;
        for (size_t li = ds->b_off[b]; li < ds->b_off[b + 1]; li++) {
            const char *sku = ds->skus.keys[ds->l_item[ds->b_line[li]]];
            long it = cw_model_find_sku(sub, sku);
            if (it < 0 || !(sub->items[it].flags & CW_ITEM_IN_TRAINING))
                continue;
            int dup = 0;
            for (size_t x = 0; x < nl && !dup; x++)
                dup = !strcmp(cart[x].sku, sku);
            if (dup || nl == CW_CART_MAX)
                continue;
            cart[nl++] = (struct cw_cart_line){sku, 1, INT64_MIN};
        }
        if (nl < 2)
            continue;
        int32_t cu = ds->b_cust[b];
        const char *key = ds->baskets.keys[b];
        int nh = free && nl > 2 ? CW_VAL_HIDE : 1;
        for (int j = 0; j < nh && v->n_cases < VAL_CASES_MAX; j++) {
            size_t h = free ? cw__val_hidden(key, cart, nl, j) : nl - 1;
            struct cw_cart_line t = cart[h];
            cart[h] = cart[nl - 1];
            cart[nl - 1] = t;
            hidden = cw_model_find_sku(sub, t.sku);
            struct cw_decide_req req = {cart,
                                        nl - 1,
                                        cu >= 0 ? ds->customers.keys[cu] : NULL,
                                        CW_PLACE_CART,
                                        CW_DECIDE_MAX,
                                        CW_DECIDE_FILL};
            struct cw__cand *c;
            int nc = cw__decide_candidates(sub, s, &req, dec, &c, NULL);
            if (nc >= 0)
                add_case(v, sub, s, c, nc, (uint32_t)hidden, keep);
            cart[nl - 1] = cart[h]; /* back in place */
            cart[h] = t;
        }
    }
    cw_free(dec);
    cw_free(cart);
    cw_scratch_free(s);
}

static size_t positives(const struct vset *v)
{
    size_t pos = 0;
    for (size_t i = 0; i < v->n; i++)
        pos += v->y[i];
    return pos;
}

/* The acceptance model's linear score of every row under weights w. */
static void stage1_z(const struct vset *v, const double *w, double *z)
{
    for (size_t i = 0; i < v->n; i++) {
        double x = w[0];
        for (int d = 0; d < CW_MODEL_NFEAT; d++)
            x += w[d + 1] * v->f[i][d];
        z[i] = x;
    }
}

/* Keeps the best keep rows of each case of v by the acceptance model
 * under w: once it is fitted, nothing reads the others (the re-ranker's
 * pool and the top 3 come from them), and a case can have thousands. */
static void vset_trim(struct vset *v, const double *w, unsigned keep)
{
    double *z = cw_malloc((v->n + 1) * sizeof(*z));
    stage1_z(v, w, z);
    struct cw__cand *tmp = NULL;
    size_t tcap = 0, o = 0;
    for (size_t k = 0; k < v->n_cases; k++) {
        size_t a = v->start[k], e = v->start[k + 1];
        int n = (int)(e - a), top[CW_RANK_MAX];
        CW_GROW(tmp, tcap, (size_t)n + 1);
        for (int x = 0; x < n; x++)
            tmp[x] = (struct cw__cand){(uint32_t)x, z[a + (size_t)x]};
        int nk = cw__rank_select(tmp, n, keep, top);
        /* rows move only toward the front, and a case's kept rows are
         * read before any is written over: sort them by position */
        for (int x = 1; x < nk; x++)
            for (int y = x; y > 0 && top[y - 1] > top[y]; y--) {
                int t = top[y];
                top[y] = top[y - 1];
                top[y - 1] = t;
            }
        v->start[k] = o;
        for (int x = 0; x < nk; x++, o++) {
            size_t i = a + (size_t)top[x];
            if (i == o)
                continue;
            memcpy(v->f[o], v->f[i], sizeof(*v->f));
            v->raw[o] = v->raw[i];
            v->item[o] = v->item[i];
            v->y[o] = v->y[i];
            v->margin[o] = v->margin[i];
        }
    }
    v->start[v->n_cases] = v->n = o;
    v->cap = o + 1; /* and give the rest back */
    v->f = cw_realloc(v->f, v->cap * sizeof(*v->f));
    v->raw = cw_realloc(v->raw, v->cap * sizeof(*v->raw));
    v->item = cw_realloc(v->item, v->cap * sizeof(*v->item));
    v->y = cw_realloc(v->y, v->cap * sizeof(*v->y));
    v->margin = cw_realloc(v->margin, v->cap * sizeof(*v->margin));
    cw_free(tmp);
    cw_free(z);
}

/* The rows of case k ranked as the decision ranks them: z1 the acceptance
 * model's scores, out the re-ranked ones (decide.c's rerank). With raw set,
 * out is the re-ranker's uncalibrated score (rank_a 0, rank_b 1). */
static void rank_case(const struct vset *v, size_t k, const double *z1,
                      const struct settings *st, struct cw__cand *tmp,
                      double *out)
{
    size_t a = v->start[k], e = v->start[k + 1];
    int n = (int)(e - a), top[CW_RANK_MAX];
    for (int x = 0; x < n; x++) {
        tmp[x] = (struct cw__cand){v->item[a + x], z1[a + x]};
        out[a + x] = z1[a + x] - CW_RANK_DEMOTE;
    }
    int nt = cw__rank_select(tmp, n, st->rank_n, top);
    for (int x = 0; x < nt; x++) {
        size_t i = a + (size_t)top[x];
        float r[CW_MODEL_NRANK];
        cw__rank_features(v->f[i], z1[i], &v->raw[i], r);
        out[i] = st->rank_a + st->rank_b * cw__rank_score(st->rank_w, r);
    }
}

static size_t max_case(const struct vset *v)
{
    size_t mx = 1;
    for (size_t k = 0; k < v->n_cases; k++)
        if (v->start[k + 1] - v->start[k] > mx)
            mx = v->start[k + 1] - v->start[k];
    return mx;
}

/* The final linear score of every row under st (re-ranked when st has a
 * re-ranker), as cw_decide computes it. */
static void final_z(const struct vset *v, const struct settings *st, double *z)
{
    stage1_z(v, st->feat_w, z);
    if (!st->rank_n)
        return;
    double *z1 = cw_malloc((v->n + 1) * sizeof(*z1));
    memcpy(z1, z, v->n * sizeof(*z1));
    struct cw__cand *tmp = cw_malloc(max_case(v) * sizeof(*tmp));
    for (size_t k = 0; k < v->n_cases; k++)
        rank_case(v, k, z1, st, tmp, z);
    cw_free(tmp);
    cw_free(z1);
}

static double platt_loss(const double *x, const uint8_t *y, size_t n, double a,
                         double b)
{
    double l = 0;
    for (size_t i = 0; i < n; i++) {
        double z = a + b * x[i];
        /* -log P(y): log(1 + e^-z) for y, log(1 + e^z) else */
        double t = y[i] ? -z : z;
        l += t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
    }
    return l;
}

/* (train_int.h) */
double cw__platt_intercept(const double *x, const uint8_t *y, size_t n,
                           double b)
{
    double pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += y[i];
    if (!n)
        return 0;
    /* sum sigmoid(a + b x) rises with a: bisect until it matches the
     * labels (kept off 0 and n, where a would run off to infinity) */
    pos = fmin(fmax(pos, 0.5), (double)n - 0.5);
    double lo = -50, hi = 50;
    for (int it = 0; it < 100 && hi - lo > 1e-9; it++) {
        double a = (lo + hi) / 2, sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += cw__sigmoid(a + b * x[i]);
        if (sum < pos)
            lo = a;
        else
            hi = a;
    }
    return (lo + hi) / 2;
}

/* Platt scaling: P = sigmoid(a + b x) by damped Newton on the log loss
 * with a small ridge. A monotone map of x, so it calibrates without
 * reordering what x ranks. */
void cw__fit_platt(const double *x, const uint8_t *y, size_t n, double *pa,
                   double *pb)
{
    double a = -3, b = 1, f = platt_loss(x, y, n, a, b);
    for (int it = 0; it < 100; it++) {
        double haa = 1e-6, hab = 0, hbb = 1e-6, ga = 0, gb = 0;
        for (size_t i = 0; i < n; i++) {
            double pr = cw__sigmoid(a + b * x[i]), r = pr * (1 - pr);
            ga += pr - y[i];
            gb += (pr - y[i]) * x[i];
            haa += r;
            hab += r * x[i];
            hbb += r * x[i] * x[i];
        }
        double det = haa * hbb - hab * hab;
        if (!(det > 0))
            break;
        double da = (hbb * ga - hab * gb) / det,
               db = (haa * gb - hab * ga) / det, f2 = f, t = 1;
        for (; t > 1e-6; t /= 2) {
            f2 = platt_loss(x, y, n, a - t * da, b - t * db);
            if (f2 <= f)
                break;
        }
        if (!(f2 <= f))
            break;
        a -= t * da;
        b -= t * db;
        int done = f - f2 < 1e-10 * fmax(1, f);
        f = f2;
        if (done)
            break;
    }
    *pa = a;
    *pb = b;
}

/* What scoring a ranking needs of a set of validation cases: a vset, or
 * the best rows of each case of one (struct rrows). */
struct cases {
    size_t n_cases;
    const size_t *start; /* rows of case k: start[k] .. start[k + 1] */
    const uint8_t *y;
    const double *margin;        /* per row */
    const double *hidden_margin; /* per case */
};

static struct cases vset_cases(const struct vset *v)
{
    return (struct cases){v->n_cases, v->start, v->y, v->margin,
                          v->hidden_margin};
}

/* Hit rate and margin capture of ranking each case's rows by p *
 * margin^gamma, p = sigmoid(z) (floor: only candidates with p >= floor *
 * best p may be promoted by margin). */
static void score_gamma(const struct cases *v, const double *z, double gamma,
                        double floor, double *hr, double *mc, double *per_case,
                        double *hit_case)
{
    double hits = 0, cap = 0, tot = 0;
    for (size_t k = 0; k < v->n_cases; k++) {
        size_t a = v->start[k], e = v->start[k + 1];
        double pbest = 0;
        for (size_t x = a; x < e; x++)
            pbest = fmax(pbest, cw__sigmoid(z[x]));
        /* top 3 by key; ineligible candidates rank below all eligible */
        double top[3] = {-1, -1, -1};
        int topy[3] = {0, 0, 0};
        for (size_t x = a; x < e; x++) {
            double pr = cw__sigmoid(z[x]);
            double key = pr >= floor * pbest
                             ? 1 + pr * pow(fmax(v->margin[x], 1), gamma)
                             : pr;
            if (pr == 0) /* demoted far below: order by z */
                key = -1 / (1 + exp(z[x] / 1e3));
            for (int t = 0; t < 3; t++) {
                if (key > top[t]) {
                    for (int u = 2; u > t; u--) {
                        top[u] = top[u - 1];
                        topy[u] = topy[u - 1];
                    }
                    top[t] = key;
                    topy[t] = v->y[x];
                    break;
                }
            }
        }
        int hit = topy[0] || topy[1] || topy[2];
        double m = fmax(v->hidden_margin[k], 0);
        hits += hit;
        cap += hit ? m : 0;
        tot += m;
        if (per_case)
            per_case[k] = hit ? m : 0;
        if (hit_case)
            hit_case[k] = hit;
    }
    *hr = v->n_cases ? hits / (double)v->n_cases : 0;
    *mc = tot > 0 ? cap / tot : 0;
}

/* (train_int.h) */
double cw__paired_z(const double *a, const double *b, size_t n)
{
    double sum = 0, sq = 0;
    for (size_t k = 0; k < n; k++) {
        double d = a[k] - b[k];
        sum += d;
        sq += d * d;
    }
    if (!n)
        return 0;
    double mean = sum / (double)n, var = sq / (double)n - mean * mean;
    return var > 0 ? mean / sqrt(var / (double)n) : 0;
}
/* The acceptance model: the weight of the shopper's own history against
 * the item model is chosen by hit rate on the benchmark's validation cases
 * (vlast), then Platt scaling, fitted on the order-free cases (vfree),
 * turns the blended score into a probability. (A full coordinate search
 * over every feature was tried: it fitted the validation split's noise and
 * lost hits on the test split.) */
static void fit_acceptance(const struct vset *vlast, const struct vset *vfree,
                           struct settings *st)
{
    static const double betas[] = {0, 0.03, 0.1, 0.3, 1, 3, 10};
    double best_hr = -1, best_beta = 0;
    struct cases cl = vset_cases(vlast);
    size_t nz = vlast->n > vfree->n ? vlast->n : vfree->n;
    double *z = cw_malloc((nz + 1) * sizeof(*z));
    for (size_t i = 0; i < sizeof(betas) / sizeof(*betas); i++) {
        double w[CW_MODEL_NFEAT + 1] = {0, 1, 0, betas[i]};
        double hr, mc;
        stage1_z(vlast, w, z);
        score_gamma(&cl, z, 0, 0, &hr, &mc, NULL, NULL);
        if (hr > best_hr + 1e-9) {
            best_hr = hr;
            best_beta = betas[i];
        }
    }
    double w[CW_MODEL_NFEAT + 1] = {0, 1, 0, best_beta}, a, b;
    stage1_z(vfree, w, z);
    cw__fit_platt(z, vfree->y, vfree->n, &a, &b);
    cw_free(z);
    memset(st->feat_w, 0, sizeof(st->feat_w));
    st->feat_w[0] = a;
    st->feat_w[1] = b;
    st->feat_w[3] = b * best_beta;
}

/* ---- the re-ranker -------------------------------------------------- */

/* candidates re-ranked per decision: chosen on validation among these */
static const unsigned rank_pools[] = {25, 50, 100};
#define RANK_N_MAX CW_RANK_MAX
#define RANK_L2 10.0 /* ridge on the standardized weights */
#define RANK_MIN_POS 20
#define GATE_Z 1.0

/* The top rows of validation cases: re-ranker features, label, margin,
 * case. */
struct rrows {
    size_t n, cap, n_cases;
    float (*r)[CW_MODEL_NRANK];
    uint8_t *y;
    double *margin;
    size_t *start;         /* rows of case k: start[k] .. start[k + 1] */
    double *hidden_margin; /* per case */
    size_t scap;
};

static void rrows_release(struct rrows *t)
{
    cw_free(t->r);
    cw_free(t->y);
    cw_free(t->margin);
    cw_free(t->start);
    cw_free(t->hidden_margin);
    memset(t, 0, sizeof(*t));
}

/* Appends the RANK_N_MAX best rows (by the acceptance model under st) of
 * every case of v, best first: the cases whose hidden item is among a
 * pool's rows teach the re-ranker its ranking, and all of them its
 * calibration (most carts' next item is not among them). */
static void rrows_add(struct rrows *t, const struct vset *v,
                      const struct settings *st)
{
    double *z = cw_malloc((v->n + 1) * sizeof(*z));
    stage1_z(v, st->feat_w, z);
    struct cw__cand *tmp = cw_malloc(max_case(v) * sizeof(*tmp));
    for (size_t k = 0; k < v->n_cases; k++) {
        size_t a = v->start[k], e = v->start[k + 1];
        int n = (int)(e - a), top[CW_RANK_MAX];
        for (int x = 0; x < n; x++)
            tmp[x] = (struct cw__cand){v->item[a + x], z[a + x]};
        int nt = cw__rank_select(tmp, n, RANK_N_MAX, top);
        if (t->n_cases + 2 > t->scap) {
            size_t cap = t->scap;
            CW_GROW(t->start, cap, t->n_cases + 2);
            t->hidden_margin =
                cw_realloc(t->hidden_margin, cap * sizeof(*t->hidden_margin));
            t->scap = cap;
        }
        t->start[t->n_cases] = t->n;
        t->hidden_margin[t->n_cases] = v->hidden_margin[k];
        for (int x = 0; x < nt; x++) {
            size_t i = a + (size_t)top[x];
            if (t->n == t->cap) {
                size_t cap = t->cap;
                CW_GROW(t->r, cap, t->n + 1);
                t->y = cw_realloc(t->y, cap * sizeof(*t->y));
                t->margin = cw_realloc(t->margin, cap * sizeof(*t->margin));
                t->cap = cap;
            }
            cw__rank_features(v->f[i], z[i], &v->raw[i], t->r[t->n]);
            t->margin[t->n] = v->margin[i];
            t->y[t->n++] = v->y[i];
        }
        t->start[++t->n_cases] = t->n;
    }
    cw_free(tmp);
    cw_free(z);
}

/* Negative log-likelihood of the conditional logit (softmax over each
 * case's rows) with the ridge; x is the standardized feature matrix. */
static double clogit_nll(const struct rrows *t, const double *x,
                         const double *w, double l2)
{
    double nll = 0;
    for (size_t k = 0; k < t->n_cases; k++) {
        double zmax = -INFINITY, zpos = 0, sum = 0;
        for (size_t i = t->start[k]; i < t->start[k + 1]; i++) {
            double z = 0;
            for (int d = 0; d < CW_MODEL_NRANK; d++)
                z += w[d] * x[i * CW_MODEL_NRANK + d];
            zmax = fmax(zmax, z);
        }
        for (size_t i = t->start[k]; i < t->start[k + 1]; i++) {
            double z = 0;
            for (int d = 0; d < CW_MODEL_NRANK; d++)
                z += w[d] * x[i * CW_MODEL_NRANK + d];
            sum += exp(z - zmax);
            if (t->y[i])
                zpos = z;
        }
        nll -= zpos - zmax - log(sum);
    }
    for (int d = 0; d < CW_MODEL_NRANK; d++)
        nll += 0.5 * l2 * w[d] * w[d];
    return nll;
}

/* Solves a x = b (n x n, in place) by Gaussian elimination with partial
 * pivoting; returns -1 when singular. */
static int solve_small(double *a, double *b, int n)
{
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c]))
                p = r;
        if (!(fabs(a[p * n + c]) > 1e-12))
            return -1;
        for (int j = 0; j < n; j++) {
            double t = a[c * n + j];
            a[c * n + j] = a[p * n + j];
            a[p * n + j] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < n; r++) {
            double f = a[r * n + c] / a[c * n + c];
            for (int j = c; j < n; j++)
                a[r * n + j] -= f * a[c * n + j];
            b[r] -= f * b[c];
        }
    }
    for (int c = n - 1; c >= 0; c--) {
        for (int j = c + 1; j < n; j++)
            b[c] -= a[c * n + j] * b[j];
        b[c] /= a[c * n + c];
    }
    return 0;
}

/* Fits the conditional logit P(row i is the case's next item) = softmax
 * over the case of w . r_i, by damped Newton on standardized features with
 * a ridge; the weights are returned on the raw features. Returns 0, or -1
 * when there is too little to fit. */
int cw__fit_clogit(const float (*r)[CW_MODEL_NRANK], const uint8_t *y,
                   const size_t *start, size_t n_cases, double l2,
                   double w_out[CW_MODEL_NRANK])
{
    enum { D = CW_MODEL_NRANK };
    struct rrows t = {0};
    t.n = start[n_cases];
    t.n_cases = n_cases;
    t.y = (uint8_t *)y;
    t.start = (size_t *)start;
    if (!t.n || !n_cases)
        return -1;
    double mu[D] = {0}, sd[D] = {0};
    for (size_t i = 0; i < t.n; i++)
        for (int d = 0; d < D; d++)
            mu[d] += r[i][d];
    for (int d = 0; d < D; d++)
        mu[d] /= (double)t.n;
    for (size_t i = 0; i < t.n; i++)
        for (int d = 0; d < D; d++)
            sd[d] += (r[i][d] - mu[d]) * (r[i][d] - mu[d]);
    for (int d = 0; d < D; d++)
        sd[d] = sqrt(sd[d] / (double)t.n) + 1e-9;
    double *x = cw_malloc(t.n * D * sizeof(*x));
    for (size_t i = 0; i < t.n; i++)
        for (int d = 0; d < D; d++)
            x[i * D + d] = (r[i][d] - mu[d]) / sd[d];
    double w[D] = {0}, f = clogit_nll(&t, x, w, l2);
    double *p = cw_malloc(((size_t)t.n + 1) * sizeof(*p));
    for (int it = 0; it < 30; it++) {
        double g[D] = {0}, h[D * D] = {0};
        for (size_t k = 0; k < n_cases; k++) {
            size_t a = start[k], e = start[k + 1];
            double zmax = -INFINITY, sum = 0, ex[D] = {0};
            for (size_t i = a; i < e; i++) {
                double z = 0;
                for (int d = 0; d < D; d++)
                    z += w[d] * x[i * D + d];
                p[i] = z;
                zmax = fmax(zmax, z);
            }
            for (size_t i = a; i < e; i++)
                sum += (p[i] = exp(p[i] - zmax));
            for (size_t i = a; i < e; i++) {
                p[i] /= sum;
                const double *xi = x + i * D;
                for (int d = 0; d < D; d++) {
                    ex[d] += p[i] * xi[d];
                    g[d] += (y[i] ? xi[d] : 0);
                    for (int q = 0; q < D; q++)
                        h[d * D + q] += p[i] * xi[d] * xi[q];
                }
            }
            for (int d = 0; d < D; d++) {
                g[d] -= ex[d];
                for (int q = 0; q < D; q++)
                    h[d * D + q] -= ex[d] * ex[q];
            }
        }
        for (int d = 0; d < D; d++) {
            g[d] -= l2 * w[d];
            h[d * D + d] += l2;
        }
        if (solve_small(h, g, D))
            break;
        double step = 1, f2 = f, w2[D];
        for (; step > 1e-6; step /= 2) {
            for (int d = 0; d < D; d++)
                w2[d] = w[d] + step * g[d];
            f2 = clogit_nll(&t, x, w2, l2);
            if (f2 <= f + 1e-12)
                break;
        }
        if (!(f2 <= f + 1e-12))
            break;
        memcpy(w, w2, sizeof(w));
        int done = f - f2 < 1e-9 * fmax(1, fabs(f));
        f = f2;
        if (done)
            break;
    }
    for (int d = 0; d < D; d++)
        w_out[d] = w[d] / sd[d];
    cw_free(p);
    cw_free(x);
    return 0;
}

/* The best pool rows of each case of t (rows are kept best first), of
 * every case, or (pos_only) of those whose hidden item is among them: what
 * a re-ranker of pool candidates learns from (features and labels; no
 * margins). */
static void rrows_top(const struct rrows *t, unsigned pool, int pos_only,
                      struct rrows *out)
{
    memset(out, 0, sizeof(*out));
    CW_GROW(out->start, out->scap, t->n_cases + 1);
    out->start[0] = 0;
    for (size_t k = 0; k < t->n_cases; k++) {
        size_t a = t->start[k], e = t->start[k + 1];
        if (e - a > pool)
            e = a + pool;
        int pos = 0;
        for (size_t i = a; i < e; i++)
            pos |= t->y[i];
        if (pos_only && !pos)
            continue;
        if (out->n + (e - a) > out->cap) {
            size_t cap = out->cap;
            CW_GROW(out->r, cap, out->n + (e - a));
            out->y = cw_realloc(out->y, cap * sizeof(*out->y));
            out->cap = cap;
        }
        memcpy(out->r + out->n, t->r + a, (e - a) * sizeof(*t->r));
        memcpy(out->y + out->n, t->y + a, (e - a) * sizeof(*t->y));
        out->n += e - a;
        out->start[++out->n_cases] = out->n;
    }
}

/* Fits the re-ranker of pool candidates on t's rows (see rrows_top). */
static int rrows_fit(const struct rrows *t, unsigned pool,
                     double w[CW_MODEL_NRANK])
{
    struct rrows s;
    rrows_top(t, pool, 1, &s);
    size_t pos = 0;
    for (size_t i = 0; i < s.n; i++)
        pos += s.y[i];
    int rc = pos < RANK_MIN_POS
                 ? -1
                 : cw__fit_clogit((const float(*)[CW_MODEL_NRANK])s.r, s.y,
                                  s.start, s.n_cases, RANK_L2, w);
    rrows_release(&s);
    return rc;
}

/* The re-ranker: a conditional logit fitted on the validation folds' cases
 * (fold f: the carts after the first (9 - f) / 10 of the training orders,
 * scored by a model of those), and kept only if, fitted on the older folds
 * alone (t: their best rows), it ranks the benchmark's cases of the latest
 * fold (vlast) better than the acceptance model does by more than a
 * standard error (paired over the cases: GATE_Z): a re-ranker is a dozen
 * weights learned from a few thousand carts, and it has to earn its place
 * on carts it has not seen. (With a bare "better", Groceries once took a
 * re-ranker that cost it a sixth of its hits on the test split.) How many
 * candidates it re-ranks is chosen there too: the smallest pool within a
 * standard error of the one that ranks vlast best (a larger pool costs
 * every decision time). Then it is fitted on every fold (v0: the latest one's
 * cases of the kind the older ones gave) and calibrated (below). */
static void fit_reranker(struct rrows *t, const struct vset *v0,
                         const struct vset *vlast, struct settings *st)
{
    enum { NP = sizeof(rank_pools) / sizeof(*rank_pools) };
    size_t nc = vlast->n_cases;
    double *z = cw_malloc((vlast->n + 1) * sizeof(*z));
    double *h1 = cw_malloc((nc + 1) * sizeof(*h1));
    double *h = cw_malloc((nc + 1) * NP * sizeof(*h)); /* hits by pool */
    double hr1, hr[NP], mc;
    int ok[NP], top = -1;
    struct cases cl = vset_cases(vlast);
    stage1_z(vlast, st->feat_w, z);
    score_gamma(&cl, z, 0, 0, &hr1, &mc, NULL, h1);
    for (int q = 0; q < NP; q++) {
        struct settings trial = *st;
        ok[q] = !rrows_fit(t, rank_pools[q], trial.rank_w);
        if (!ok[q])
            continue;
        trial.rank_n = rank_pools[q];
        trial.rank_a = 0;
        trial.rank_b = 1;
        final_z(vlast, &trial, z);
        score_gamma(&cl, z, 0, 0, &hr[q], &mc, NULL, h + q * nc);
        ok[q] = cw__paired_z(h + q * nc, h1, nc) > GATE_Z;
        if (ok[q] && (top < 0 || hr[q] > hr[top]))
            top = q;
    }
    unsigned best = 0;
    for (int q = 0; top >= 0 && q <= top && !best; q++)
        if (ok[q] && cw__paired_z(h + q * nc, h + top * nc, nc) > -GATE_Z)
            best = rank_pools[q];
    cw_free(z);
    cw_free(h1);
    cw_free(h);
    double w[CW_MODEL_NRANK];
    rrows_add(t, v0, st); /* every fold */
    if (!best || rrows_fit(t, best, w))
        return;
    struct rrows all;
    rrows_top(t, best, 0, &all);
    double *x = cw_malloc((all.n + 1) * sizeof(*x));
    for (size_t i = 0; i < all.n; i++)
        x[i] = cw__rank_score(w, all.r[i]);
    /* calibrated on every row of the pool (the slope: how much the score
     * says), then the level set on what a decision shows, each case's best
     * CW_DECIDE_MAX rows (on the pool alone, P came out half the accept
     * rate of the add-ons shown; a slope fitted on those alone can come out
     * negative, and would turn the ranking upside down) */
    double pa, pb;
    cw__fit_platt(x, all.y, all.n, &pa, &pb);
    double *cx = cw_malloc((all.n + 1) * sizeof(*cx));
    uint8_t *cy = cw_malloc(all.n + 1);
    struct cw__cand tmp[CW_RANK_MAX];
    size_t cn = 0;
    for (size_t k = 0; k < all.n_cases; k++) {
        size_t a = all.start[k];
        int n = (int)(all.start[k + 1] - a), shown[CW_DECIDE_MAX];
        for (int i = 0; i < n; i++)
            tmp[i] = (struct cw__cand){(uint32_t)i, x[a + (size_t)i]};
        int ns = cw__rank_select(tmp, n, CW_DECIDE_MAX, shown);
        for (int i = 0; i < ns; i++) {
            cx[cn] = x[a + (size_t)shown[i]];
            cy[cn++] = all.y[a + (size_t)shown[i]];
        }
    }
    /* a score that does not rise with the hits says nothing: no re-ranker */
    if (pb > 0) {
        st->rank_n = best;
        memcpy(st->rank_w, w, sizeof(w));
        st->rank_a = cw__platt_intercept(cx, cy, cn, pb);
        st->rank_b = pb;
    }
    cw_free(cx);
    cw_free(cy);
    cw_free(x);
    rrows_release(&all);
}

/* The profit weight: the gamma and relevance floor that capture the most
 * margin on validation (t: the best rows of every fold's cases, ranked as
 * the decision ranks them under st) while keeping at least HR_KEEP of the
 * hit rate of ranking by P alone, and only when the margin gained is
 * clearly more than noise (a paired z-score over the cases above GAIN_Z):
 * hits are what earn margin at all, and a small validation split must not
 * talk the engine into trading them away. (Every fold, not the latest
 * alone: a small store's latest tenth of orders is a few hundred carts, on
 * which no gain is clear.) */
#define HR_KEEP 0.97
#define GAIN_Z 2.0

static void tune_selection(const struct rrows *t, struct settings *st)
{
    static const double gammas[] = {0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0};
    static const double floors[] = {0.25, 0.5, 0.75, 0.9};
    size_t n = t->n_cases;
    double *base = cw_malloc((n + 1) * sizeof(*base));
    double *cur = cw_malloc((n + 1) * sizeof(*cur));
    double *z = cw_malloc((t->n + 1) * sizeof(*z));
    /* rows are best first by the acceptance model, whose score is
     * feature 0: the first rank_n are re-ranked, the others demoted */
    for (size_t k = 0; k < n; k++) {
        for (size_t i = t->start[k]; i < t->start[k + 1]; i++) {
            double x = t->r[i][0];
            if (st->rank_n && i - t->start[k] < st->rank_n)
                x = st->rank_a +
                    st->rank_b * cw__rank_score(st->rank_w, t->r[i]);
            else if (st->rank_n)
                x -= CW_RANK_DEMOTE;
            z[i] = x;
        }
    }
    struct cases c = {n, t->start, t->y, t->margin, t->hidden_margin};
    double hr0, mc0;
    score_gamma(&c, z, 0, 0, &hr0, &mc0, base, NULL);
    double best = mc0;
    st->gamma = 0;
    for (size_t g = 0; g < sizeof(gammas) / sizeof(*gammas); g++) {
        for (size_t f = 0; f < sizeof(floors) / sizeof(*floors); f++) {
            double hr, mc;
            score_gamma(&c, z, gammas[g], floors[f], &hr, &mc, cur, NULL);
            double zs = cw__paired_z(cur, base, n);
            if (hr >= HR_KEEP * hr0 && zs > GAIN_Z && mc > best) {
                best = mc;
                st->gamma = gammas[g];
                st->floor = floors[f];
            }
        }
    }
    cw_free(z);
    cw_free(base);
    cw_free(cur);
}

/* The validation fold f's cases (see fit_reranker): order-free ones into
 * vfree, the benchmark's (hidden: the last line) into vlast, each when it
 * is given. */
static int fold_cases(struct vset *vfree, struct vset *vlast,
                      const struct cw_train_input *in,
                      const struct cw_train_params *p,
                      const struct settings *st, int f, struct cw_buf *err)
{
    size_t nb = in->n_baskets, from = nb * (size_t)(9 - f) / 10,
           to = nb * (size_t)(10 - f) / 10;
    if (vfree)
        memset(vfree, 0, sizeof(*vfree));
    if (vlast)
        memset(vlast, 0, sizeof(*vlast));
    if (from < 10 || to - from < 10)
        return 1;
    struct cw_train_input sub_in = *in;
    sub_in.n_baskets = from;
    struct cw_model sub;
    int rc = build(&sub, &sub_in, p, st, err);
    if (rc)
        return rc;
    /* the older folds come after the acceptance model is fitted: only
     * their best rows by it are ever read */
    unsigned keep = f ? CW_RANK_MAX : 0;
    if (vfree)
        collect(vfree, &sub, in, from, to, 1, keep);
    if (vlast)
        collect(vlast, &sub, in, from, to, 0, keep);
    cw_model_release(&sub);
    return 0;
}

int cw_train(struct cw_model *out, const struct cw_train_input *in,
             const struct cw_train_params *p, struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    if (!in->ds || !in->ds->finished)
        return cw_err(err, CW_EINVAL, "dataset not finished");
    if (in->n_baskets < 2 && !in->n_products)
        return cw_err(err, CW_ENODATA, "not enough data to train: %zu orders",
                      in->n_baskets);
    struct settings st;
    memset(&st, 0, sizeof(st));
    memcpy(st.feat_w, default_w, sizeof(default_w));
    st.floor = 0.25;
    st.lambda = p->ease_lambda > 0 ? p->ease_lambda : 100;
    size_t nb = in->n_baskets, split = nb * 9 / 10;
    /* whether the cart's order can say anything (see decide.c) */
    st.line_order_mix = line_order_mix(in);
    st.cart_order = st.line_order_mix >= ORDER_MIX_MIN;
    if (p->tune && split >= 10 && nb - split >= 10) {
        if (p->ease_lambda <= 0)
            st.lambda = tune_lambda(in, p, split);
        /* the latest validation fold, order-free and as the benchmark
         * hides; the older folds only teach the re-ranker, and only their
         * top rows are kept. The re-ranker learns from order-free carts,
         * unless the cart's order counts: then from carts whose next item
         * is the order's last line, which is what a live cart asks. */
        struct vset v0, vlast;
        int rc = fold_cases(&v0, &vlast, in, p, &st, 0, err);
        if (rc < 0)
            return rc;
        if (!rc && positives(&vlast) >= 20 && positives(&v0) >= 20) {
            fit_acceptance(&vlast, &v0, &st);
            vset_trim(&v0, st.feat_w, CW_RANK_MAX);
            vset_trim(&vlast, st.feat_w, CW_RANK_MAX);
            /* t: what the re-ranker learns from; tl: the benchmark's cases
             * (the same when the cart's order counts), where the profit
             * weight is chosen */
            struct rrows t = {0}, tl = {0};
            for (int f = 1; f < VAL_FOLDS && !rc; f++) {
                struct vset v, vl;
                rc = fold_cases(st.cart_order ? NULL : &v, &vl, in, p, &st, f,
                                err);
                if (!rc) {
                    rrows_add(&t, st.cart_order ? &vl : &v, &st);
                    if (!st.cart_order)
                        rrows_add(&tl, &vl, &st);
                }
                if (!st.cart_order)
                    vset_release(&v);
                vset_release(&vl);
            }
            if (rc >= 0) {
                fit_reranker(&t, st.cart_order ? &vlast : &v0, &vlast, &st);
                if (!st.cart_order)
                    rrows_add(&tl, &vlast, &st);
                tune_selection(st.cart_order ? &t : &tl, &st);
            }
            rrows_release(&t);
            rrows_release(&tl);
        }
        vset_release(&v0);
        vset_release(&vlast);
        if (rc < 0)
            return rc;
    }
    return build(out, in, p, &st, err);
}
