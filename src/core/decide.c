/*
 * decide.c: the decision pipeline (DESIGN.md section 4), shared by the
 * CLI, the evaluator, training's validation fits and the HTTP server.
 *
 * Candidates come from the whole cart (the union of every cart item's
 * neighbours, summed), the shopper's own history and a popularity fallback.
 * Each gets the acceptance features below; P(accept) is the model's
 * logistic regression over them. Set selection orders the candidates whose
 * P is within the relevance floor of the best by P x (net margin)^gamma, so
 * profit decides among plausible items and never surfaces an implausible
 * one because it is expensive. Everything works in the caller's scratch:
 * no allocation per request.
 *
 * Features (CW_MODEL_NFEAT):
 *   0 item-model score summed over the cart     3 popularity (log, scaled)
 *   1 strongest single cart item's weight       4 price vs the cart's lines
 *   2 shopper's own history weight              5 return rate
 *
 * The re-ranker (when the model has one) then orders the best rank_n of
 * those again, which is where a hit is won or lost, by a conditional logit
 * over features that say which of the shopper's past items comes back,
 * what sells now and how the whole cart backs a candidate (CW_MODEL_NRANK):
 *   0 the acceptance model's linear score       8 trend: recent share over
 *   1 strongest single cart item's weight         all-time share (log)
 *   2 popularity                                9 recent share (log)
 *   3 price vs the cart's lines                10 confidence: baskets with it
 *   4 bought before (0/1)                         and its strongest cart item
 *   5 orders with it (log)                        / baskets with that item
 *   6 item repeat rate                         11 item-model score per known
 *   7 4 x 6                                       cart item
 *                                              12 the shopper's history weight
 *                                              13 0 x log(1 + known cart items)
 *  14..16 confidence from the latest, second and third latest known cart
 *         lines (baskets with it and that item / baskets with that item)
 * and its calibrated P(accept); the other candidates drop below them.
 * Features 14..16 are 0 unless the model's training orders list their
 * lines in the shoppers' order (meta.cart_order): a cart's lines are then
 * read in the order they were added, and what was just added says most
 * about what comes next (a shopper adds a lunch bag, then another design
 * of it). Nothing else reads the order of the cart's lines.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "train_int.h"

#define POPULAR_CANDIDATES 30
#define NBR_BUDGET 8000 /* neighbours read per decision, about at most */
#define NBR_MIN 40      /* ... but at least this many per cart item */

/* What one request accumulates, per item, in arrays that are all zero
 * between requests (the next request clears what the last one touched):
 * the hot loop reads and writes 4-byte entries of a few small arrays, most
 * of which stay in the L1 cache, and tests no stamp. */
struct cw_scratch {
    uint32_t n_items, n_groups;
    uint32_t epoch;
    uint32_t *gstamp; /* gstamp[g] == epoch: group g is in the cart */
    uint8_t *seen;    /* the item is in touched */
    float *as;        /* item-model score summed over the cart */
    float *amx;       /* strongest single cart item's weight (> 0 if any) */
    uint32_t *aev;    /* that cart item (valid when amx > 0) */
    uint32_t *aevco;  /* baskets with both (likewise) */
    float *ah;        /* the shopper's history weight */
    float *ahn;       /* the shopper's orders with it */
    float (*aseq)[CW_MODEL_NSEQ]; /* confidence from the latest cart lines */
    long cu;                      /* the last request's customer, or -1 */
    uint32_t *touched;
    size_t nt;
    struct cw__cand *cand;
    float *fpop;   /* per item: feature 3, computed once per scratch */
    float *ftrend; /* per item: cw__rank_raw's trend and recent */
    float *frecent;
    float *lprice;   /* per item: log(price + 1) */
    float *lmargin;  /* per item: log(max(margin x (1 - return rate), 1)) */
    uint32_t *group; /* per item: its group, or UINT32_MAX when it can never
                        be offered (not trained on, inactive, sold out) */
    double *zitem;   /* per item: the part of z that depends on it alone */
    float lavg;      /* this request: log(mean cart line price + 1) */
    uint32_t ncart;  /* this request: known cart items */
    float lncart;    /* this request: log(1 + ncart) */
    int seq;         /* this request: aseq was written */
    uint32_t latest; /* this request: the latest known cart line's item */
};

const char *cw_reason_code(enum cw_reason r)
{
    switch (r) {
#define CW__REASON_STR(e, code)                                                \
    case CW_REASON_##e:                                                        \
        return code;
        CW_REASONS(CW__REASON_STR)
#undef CW__REASON_STR
    }
    return "unknown";
}

struct cw_scratch *cw_scratch_new(const struct cw_model *m)
{
    struct cw_scratch *s = cw_calloc(1, sizeof(*s));
    size_t n = (size_t)m->n_items + 1;
    s->n_items = m->n_items;
    s->n_groups = m->n_groups;
    s->seen = cw_calloc(n, sizeof(*s->seen));
    s->as = cw_calloc(n, sizeof(*s->as));
    s->amx = cw_calloc(n, sizeof(*s->amx));
    s->aev = cw_calloc(n, sizeof(*s->aev));
    s->aevco = cw_calloc(n, sizeof(*s->aevco));
    s->ah = cw_calloc(n, sizeof(*s->ah));
    s->ahn = cw_calloc(n, sizeof(*s->ahn));
    s->aseq = cw_calloc(n, sizeof(*s->aseq));
    s->cu = -1;
    s->gstamp = cw_calloc((size_t)m->n_groups + 1, sizeof(*s->gstamp));
    s->touched = cw_malloc(n * sizeof(*s->touched));
    s->cand = cw_malloc(n * sizeof(*s->cand));
    s->fpop = cw_malloc(n * sizeof(*s->fpop));
    s->ftrend = cw_malloc(n * sizeof(*s->ftrend));
    s->frecent = cw_malloc(n * sizeof(*s->frecent));
    s->lprice = cw_malloc(n * sizeof(*s->lprice));
    s->lmargin = cw_malloc(n * sizeof(*s->lmargin));
    s->group = cw_malloc(n * sizeof(*s->group));
    s->zitem = cw_malloc(n * sizeof(*s->zitem));
    const double *w = m->meta.feat_w;
    /* the item-only parts of the features, so a request computes no log */
    double lpop = log1p((double)m->meta.n_baskets);
    double nb = (double)m->meta.n_baskets, nr = (double)m->meta.n_recent;
    for (uint32_t i = 0; i < m->n_items; i++) {
        s->fpop[i] =
            lpop > 0 ? (float)(log1p((double)m->items[i].pop) / lpop) : 0;
        s->lprice[i] = (float)log((double)m->items[i].price + 1.0);
        /* recent share over all-time share, both smoothed by one basket's
         * worth of the all-time share */
        double all = nb > 0 ? ((double)m->items[i].pop + 1) / (nb + 1) : 0;
        s->ftrend[i] = nr > 0 && all > 0
                           ? (float)log(((double)m->items[i].recent + all * 5) /
                                        (nr * all + all * 5))
                           : 0;
        s->frecent[i] =
            nr > 0 ? (float)log(((double)m->items[i].recent + 1) / (nr + 1))
                   : 0;
        const struct cw_item *it = &m->items[i];
        s->lmargin[i] = (float)log(
            fmax((double)it->margin * (1 - (double)it->return_rate), 1));
        s->group[i] = (it->flags & CW_ITEM_IN_TRAINING) &&
                              !(it->flags & CW_FLAG_INACTIVE) &&
                              it->inventory != 0
                          ? it->group
                          : UINT32_MAX;
        s->zitem[i] = w[0] + w[4] * s->fpop[i] + w[6] * it->return_rate;
    }
    return s;
}

void cw_scratch_free(struct cw_scratch *s)
{
    if (!s)
        return;
    cw_free(s->seen);
    cw_free(s->as);
    cw_free(s->amx);
    cw_free(s->aev);
    cw_free(s->aevco);
    cw_free(s->ah);
    cw_free(s->ahn);
    cw_free(s->aseq);
    cw_free(s->gstamp);
    cw_free(s->touched);
    cw_free(s->cand);
    cw_free(s->fpop);
    cw_free(s->ftrend);
    cw_free(s->frecent);
    cw_free(s->lprice);
    cw_free(s->lmargin);
    cw_free(s->group);
    cw_free(s->zitem);
    cw_free(s);
}

/* Clears what the last request left in s: its touched items (all at once
 * when they are many) and its customer's history. */
static void next_request(const struct cw_model *m, struct cw_scratch *s)
{
    if (++s->epoch == 0) { /* wrapped: forget every old group stamp */
        memset(s->gstamp, 0, ((size_t)s->n_groups + 1) * sizeof(*s->gstamp));
        s->epoch = 1;
    }
    if (s->nt * 8 > s->n_items) {
        size_t n = (size_t)s->n_items + 1;
        memset(s->seen, 0, n * sizeof(*s->seen));
        memset(s->as, 0, n * sizeof(*s->as));
        memset(s->amx, 0, n * sizeof(*s->amx));
        if (s->seq)
            memset(s->aseq, 0, n * sizeof(*s->aseq));
    } else {
        for (size_t t = 0; t < s->nt; t++) {
            uint32_t j = s->touched[t];
            s->seen[j] = 0;
            s->as[j] = s->amx[j] = 0;
        }
        for (size_t t = 0; s->seq && t < s->nt; t++)
            memset(s->aseq[s->touched[t]], 0, sizeof(*s->aseq));
    }
    s->seq = 0;
    if (s->cu >= 0) {
        const struct cw_customer *c = &m->customers[s->cu];
        for (uint32_t x = 0; x < c->n_hist; x++) {
            uint32_t j = m->hist[c->hist_off + x].item;
            s->ah[j] = s->ahn[j] = 0;
        }
        s->cu = -1;
    }
    s->nt = 0;
}

static inline void touch(struct cw_scratch *s, uint32_t i)
{
    s->touched[s->nt] = i;
    s->nt += !s->seen[i];
    s->seen[i] = 1;
}

/* An item may be offered: trained on, active, in stock, and no variant of
 * its product is in the cart. */
static inline int usable(const struct cw_scratch *s, uint32_t i)
{
    uint32_t g = s->group[i];
    return g != UINT32_MAX && s->gstamp[g] != s->epoch;
}

int cw__decide_candidates(const struct cw_model *m, struct cw_scratch *s,
                          const struct cw_decide_req *req,
                          struct cw_decision *out, struct cw__cand **cands,
                          struct cw_buf *err)
{
    if (req->n_lines > CW_CART_MAX)
        return cw_err(err, CW_ETOOBIG, "cart: %zu lines, at most %d",
                      req->n_lines, CW_CART_MAX);
    if (req->k > CW_DECIDE_MAX)
        return cw_err(err, CW_EINVAL, "k: %u, at most %d", req->k,
                      CW_DECIDE_MAX);
    out->n_addons = out->n_unknown = 0;
    out->cart_value = 0;
    out->known_customer = 0;
    next_request(m, s);

    /* the cart: known items, their groups, and its value */
    uint32_t cart[CW_CART_MAX];
    size_t nc = 0;
    double price_sum = 0;
    for (size_t i = 0; i < req->n_lines; i++) {
        const struct cw_cart_line *l = &req->lines[i];
        if (!l->sku || !*l->sku)
            return cw_err(err, CW_EINVAL, "cart[%zu].sku: missing", i);
        if (l->qty <= 0 || l->qty > CW_QTY_MAX)
            return cw_err(err, CW_EINVAL,
                          "cart[%zu].qty: must be between 1 and %d", i,
                          CW_QTY_MAX);
        if (l->price != CW_MONEY_UNKNOWN &&
            (l->price < 0 || l->price > CW_PRICE_MAX))
            return cw_err(err, CW_EINVAL,
                          "cart[%zu].price: must be between 0 and %lld", i,
                          (long long)CW_PRICE_MAX);
        long it = cw_model_find_sku(m, l->sku);
        if (it < 0) {
            out->unknown[out->n_unknown++] = i;
            continue;
        }
        int64_t unit =
            l->price != CW_MONEY_UNKNOWN ? l->price : m->items[it].price;
        out->cart_value += unit * l->qty;
        price_sum += (double)unit;
        s->gstamp[m->items[it].group] = s->epoch;
        cart[nc++] = (uint32_t)it;
    }
    double avg_price = nc ? price_sum / (double)nc : 0;
    int same_category = 0;

    /* neighbours of every cart item, summed: the hot loop of a decision,
     * with the scratch's fields in locals (stores through them could alias
     * them, which would make the compiler reload them every iteration) */
    {
        uint8_t *restrict seen = s->seen;
        float *restrict as = s->as, *restrict amx = s->amx;
        uint32_t *restrict aev = s->aev, *restrict aevco = s->aevco;
        uint32_t *restrict touched = s->touched;
        const uint32_t *off = m->nbr_off;
        const struct cw_nbr *nbrs = m->nbrs;
        size_t nt = s->nt;
        /* a very large cart reads fewer neighbours of each item (each
         * list is sorted by weight, so what is skipped weighs least): the
         * work per decision stays bounded */
        uint32_t per_item = nc ? NBR_BUDGET / (uint32_t)nc : 0;
        if (per_item < NBR_MIN)
            per_item = NBR_MIN;
        for (size_t c = 0; c < nc; c++) {
            uint32_t ci = cart[c];
            if (m->items[ci].category)
                same_category = 1;
            uint32_t end = off[ci + 1];
            if (end - off[ci] > per_item)
                end = off[ci] + per_item;
            /* the next cart item's list is somewhere else in memory, too
             * short for the hardware prefetcher to catch up: ask now */
            if (c + 1 < nc) {
                uint32_t nx = cart[c + 1], nb0 = off[nx], nb1 = off[nx + 1];
                if (nb1 - nb0 > per_item)
                    nb1 = nb0 + per_item;
                const char *p0 = (const char *)(nbrs + nb0);
                const char *p1 = (const char *)(nbrs + nb1);
                for (; p0 < p1; p0 += 64)
                    __builtin_prefetch(p0);
            }
            for (uint32_t x = off[ci]; x < end; x++) {
                const struct cw_nbr nb = nbrs[x];
                uint32_t j = nb.item;
                touched[nt] = j;
                nt += !seen[j];
                seen[j] = 1;
                as[j] += nb.w;
                /* selects, not a branch: whether this cart item is the
                 * strongest so far is a coin flip the predictor loses */
                float mx0 = amx[j];
                int gt = nb.w > mx0;
                amx[j] = gt ? nb.w : mx0;
                aev[j] = gt ? ci : aev[j];
                aevco[j] = gt ? nb.co : aevco[j];
            }
        }
        s->nt = nt;
    }
    /* what goes with the latest lines, whole neighbour lists */
    if (m->meta.cart_order && nc) {
        int newest_first = !!(req->flags & CW_DECIDE_NEWEST_FIRST);
        s->seq = 1;
        s->latest = cart[newest_first ? 0 : nc - 1];
        for (size_t b = 0; b < CW_MODEL_NSEQ && b < nc; b++) {
            uint32_t ci = cart[newest_first ? b : nc - 1 - b];
            uint32_t pop = m->items[ci].pop;
            if (!pop)
                continue;
            for (uint32_t x = m->nbr_off[ci]; x < m->nbr_off[ci + 1]; x++) {
                const struct cw_nbr *nb = &m->nbrs[x];
                touch(s, nb->item);
                s->aseq[nb->item][b] = (float)nb->co / (float)pop;
            }
        }
    }
    /* the shopper's history */
    long cu = cw_model_find_customer(m, req->customer);
    if (cu >= 0) {
        const struct cw_customer *c = &m->customers[cu];
        out->known_customer = 1;
        s->cu = cu;
        for (uint32_t x = 0; x < c->n_hist; x++) {
            const struct cw_hist *h = &m->hist[c->hist_off + x];
            touch(s, h->item);
            s->ah[h->item] = h->w;
            s->ahn[h->item] = (float)h->n;
        }
    }
    for (uint32_t x = 0; x < m->n_popular && x < POPULAR_CANDIDATES; x++)
        touch(s, m->popular[x]);

    /* z = the item's own part + the request's parts (see the features at
     * the top of the file); substitutes (an item of a cart item's category
     * that no cart item of that category lists as a neighbour) are out */
    s->lavg = nc ? (float)log(avg_price + 1.0) : 0;
    s->ncart = (uint32_t)nc;
    s->lncart = (float)log1p((double)nc);
    const double *w = m->meta.feat_w;
    size_t n = 0;
    for (size_t t = 0; t < s->nt; t++) {
        uint32_t j = s->touched[t];
        if (!usable(s, j))
            continue;
        if (same_category && s->as[j] <= 0) {
            uint32_t cat = m->items[j].category;
            int sub = 0;
            for (size_t c = 0; c < nc && cat && !sub; c++)
                sub = m->items[cart[c]].category == cat;
            if (sub)
                continue;
        }
        double z =
            s->zitem[j] + w[1] * s->as[j] + w[2] * s->amx[j] + w[3] * s->ah[j];
        if (w[5] != 0 && nc)
            z += w[5] * fmaxf(-5, fminf(5, s->lprice[j] - s->lavg));
        s->cand[n++] = (struct cw__cand){j, z};
    }
    *cands = s->cand;
    return (int)n;
}

void cw__cand_features(const struct cw_model *m, const struct cw_scratch *s,
                       uint32_t item, float f[CW_MODEL_NFEAT])
{
    f[0] = s->as[item];
    f[1] = s->amx[item];
    f[2] = s->ah[item];
    f[3] = s->fpop[item];
    f[4] = s->ncart ? fmaxf(-5, fminf(5, s->lprice[item] - s->lavg)) : 0;
    f[5] = m->items[item].return_rate;
}

void cw__cand_rank_raw(const struct cw_model *m, const struct cw_scratch *s,
                       uint32_t item, struct cw__rank_raw *r)
{
    float nc = (float)s->ncart;
    r->hn = s->ahn[item];
    r->rep = m->items[item].repeat_rate;
    r->trend = s->ftrend[item];
    r->recent = s->frecent[item];
    r->conf = s->amx[item] > 0 && m->items[s->aev[item]].pop
                  ? (float)s->aevco[item] / (float)m->items[s->aev[item]].pop
                  : 0;
    r->mean = nc > 0 ? s->as[item] / nc : 0;
    r->lncart = s->lncart;
    memcpy(r->seq, s->aseq[item], sizeof(r->seq));
}

void cw__rank_features(const float f[CW_MODEL_NFEAT], double z1,
                       const struct cw__rank_raw *x, float out[CW_MODEL_NRANK])
{
    float has = x->hn > 0 ? 1.0f : 0.0f;
    out[0] = (float)z1;
    out[1] = f[1];
    out[2] = f[3];
    out[3] = f[4];
    out[4] = has;
    out[5] = (float)log1p((double)x->hn);
    out[6] = x->rep;
    out[7] = has * x->rep;
    out[8] = x->trend;
    out[9] = x->recent;
    out[10] = x->conf;
    out[11] = x->mean;
    out[12] = f[2];
    out[13] = (float)z1 * x->lncart;
    for (int b = 0; b < CW_MODEL_NSEQ; b++)
        out[14 + b] = x->seq[b];
}

/* a ranks before b: the higher z, on a tie the lower item */
static inline int ranks_before(const struct cw__cand *a,
                               const struct cw__cand *b)
{
    return a->z > b->z || (a->z == b->z && a->item < b->item);
}

/* Restores the heap order of h (its root is the candidate that ranks
 * last) below position x. */
static void sift_down(const struct cw__cand *c, int *h, int nh, int x)
{
    for (;;) {
        int l = 2 * x + 1, r = l + 1, w = x;
        if (l < nh && ranks_before(&c[h[w]], &c[h[l]]))
            w = l;
        if (r < nh && ranks_before(&c[h[w]], &c[h[r]]))
            w = r;
        if (w == x)
            return;
        int t = h[x];
        h[x] = h[w];
        h[w] = t;
        x = w;
    }
}

#define SELECT_BUCKETS 256

/* The lowest bucket of z (SELECT_BUCKETS of them between lo and hi) that
 * the best k of c reach: every candidate in a bucket below it ranks after
 * them. 0 when that cannot be told (all alike, or something not finite). */
static int select_floor(const struct cw__cand *c, int n, int k, double *lo,
                        double *scale)
{
    double mn = c[0].z, mx = c[0].z;
    for (int i = 1; i < n; i++) {
        mn = c[i].z < mn ? c[i].z : mn;
        mx = c[i].z > mx ? c[i].z : mx;
    }
    *lo = mn;
    *scale = (SELECT_BUCKETS - 1) / (mx - mn);
    if (!(mx > mn) || !isfinite(*scale))
        return 0;
    uint32_t count[SELECT_BUCKETS] = {0};
    for (int i = 0; i < n; i++)
        count[(int)((c[i].z - mn) * *scale)]++;
    int b = SELECT_BUCKETS - 1;
    for (uint32_t have = count[b]; have < (uint32_t)k; have += count[--b])
        ;
    return b;
}

int cw__rank_select(const struct cw__cand *c, int n, unsigned top_n, int *top)
{
    if (top_n > CW_RANK_MAX)
        top_n = CW_RANK_MAX;
    int k = (int)top_n < n ? (int)top_n : n;
    if (k <= 0)
        return 0;
    /* With many candidates, a histogram of z first: only those in the
     * buckets the best k reach are looked at again (a few times k of a
     * cart's thousands). */
    double lo = 0, scale = 0;
    int floor = n > 8 * k ? select_floor(c, n, k, &lo, &scale) : 0;
    /* a heap of the best k so far, the one that ranks last at its root
     * (built when the k-th arrives): most candidates are compared with the
     * root alone and go */
    int nh = 0;
    for (int i = 0; i < n; i++) {
        if (floor && (int)((c[i].z - lo) * scale) < floor)
            continue;
        if (nh < k) {
            top[nh++] = i;
            for (int x = nh == k ? k / 2 - 1 : -1; x >= 0; x--)
                sift_down(c, top, k, x);
        } else if (ranks_before(&c[i], &c[top[0]])) {
            top[0] = i;
            sift_down(c, top, k, 0);
        }
    }
    /* heap sort: the root (last) goes to the end, best first remains */
    for (int end = k - 1; end > 0; end--) {
        int t = top[0];
        top[0] = top[end];
        top[end] = t;
        sift_down(c, top, end, 0);
    }
    return k;
}

/* Re-ranks the best rank_n candidates (see the top of the file): they get
 * the re-ranker's calibrated score, written to top (best by the old score
 * first); returns how many. With demote, c is rewritten in place: the
 * re-ranked get their new score and every other candidate drops
 * CW_RANK_DEMOTE below its own, so it can only fill. */
static int rerank(const struct cw_model *m, const struct cw_scratch *s,
                  struct cw__cand *c, int n, int demote,
                  struct cw__cand *top_out)
{
    const struct cw_model_meta *mt = &m->meta;
    if (!mt->rank_n || n <= 0)
        return 0;
    int top[CW_RANK_MAX];
    int nt = cw__rank_select(c, n, mt->rank_n, top);
    double znew[CW_RANK_MAX];
    for (int x = 0; x < nt; x++) {
        uint32_t it = c[top[x]].item;
        float f[CW_MODEL_NFEAT], r[CW_MODEL_NRANK];
        struct cw__rank_raw raw;
        cw__cand_features(m, s, it, f);
        cw__cand_rank_raw(m, s, it, &raw);
        cw__rank_features(f, c[top[x]].z, &raw, r);
        znew[x] = mt->rank_a + mt->rank_b * cw__rank_score(mt->rank_w, r);
    }
    for (int x = 0; x < nt; x++)
        top_out[x] = (struct cw__cand){c[top[x]].item, znew[x]};
    if (demote) {
        for (int i = 0; i < n; i++)
            c[i].z -= CW_RANK_DEMOTE;
        for (int x = 0; x < nt; x++)
            c[top[x]].z = znew[x];
    }
    return nt;
}

/* The variant to pre-select in item's group: one the shopper bought
 * before, else the most bought one that is in stock. */
static uint32_t pick_variant(const struct cw_model *m,
                             const struct cw_scratch *s, uint32_t item)
{
    uint32_t g = m->items[item].group, best = item;
    int have = 0;
    for (uint32_t x = m->group_off[g]; x < m->group_off[g + 1]; x++) {
        uint32_t v = m->group_items[x];
        const struct cw_item *it = &m->items[v];
        if (it->inventory == 0 || (it->flags & CW_FLAG_INACTIVE))
            continue;
        if (s->ah[v] > 0)
            return v;
        if (!have) {
            best = v;
            have = 1;
        }
    }
    return best;
}

static const char *label(const struct cw_model *m, uint32_t i)
{
    uint32_t t = m->items[i].title;
    return t ? cw_model_str(m, t) : cw_model_sku(m, i);
}

static void explain(const struct cw_model *m, const struct cw_scratch *s,
                    uint32_t item, struct cw_addon *a)
{
    const double *w = m->meta.feat_w;
    float h = s->ah[item];
    uint32_t ev = s->amx[item] > 0 ? s->aev[item] : UINT32_MAX;
    double personal = w[3] * h;
    double item_model = w[1] * s->as[item] + w[2] * s->amx[item];
    a->evidence_item = ev;
    a->evidence_share = 0;
    if (h > 0 && (personal >= item_model || ev == UINT32_MAX)) {
        a->reason = CW_REASON_BOUGHT_BEFORE;
        snprintf(a->text, sizeof(a->text),
                 "You have ordered this before: add it again?");
    } else if (ev != UINT32_MAX) {
        a->reason = CW_REASON_PAIRS_WITH;
        uint32_t pop = m->items[ev].pop;
        a->evidence_share = pop ? (double)s->aevco[item] / pop : 0;
        /* what the shopper just added backs it at least as often: that is
         * the evidence a shopper recognises (and the re-ranker weighs) */
        int just = s->seq && s->aseq[item][0] > 0 &&
                   (ev == s->latest || s->aseq[item][0] >= a->evidence_share);
        if (just && ev != s->latest) {
            ev = a->evidence_item = s->latest;
            a->evidence_share = s->aseq[item][0];
        }
        int pct = (int)lround(100 * a->evidence_share);
        if (just && pct >= 1)
            snprintf(a->text, sizeof(a->text),
                     "Goes with the %s you just added: %d%% of orders with "
                     "it include this",
                     label(m, ev), pct);
        else if (just)
            snprintf(a->text, sizeof(a->text),
                     "Often bought with the %s you just added", label(m, ev));
        else if (pct >= 1)
            snprintf(a->text, sizeof(a->text),
                     "Pairs well with your %s: %d%% of orders with it "
                     "include this",
                     label(m, ev), pct);
        else
            snprintf(a->text, sizeof(a->text),
                     "Often bought together with your %s", label(m, ev));
    } else {
        a->reason = CW_REASON_POPULAR;
        snprintf(a->text, sizeof(a->text),
                 "One of the store's most ordered items");
    }
}

/* The best remaining candidates, best first (ties: lower item first). */
#define SHORTLIST 24
struct pick {
    double key;
    uint32_t item;
    int idx;
};

static int better(double ka, uint32_t ia, const struct pick *b)
{
    return ka > b->key || (ka == b->key && ia < b->item);
}

static void shortlist_add(struct pick *l, int *n, double key, uint32_t item,
                          int idx)
{
    if (*n == SHORTLIST && !better(key, item, &l[SHORTLIST - 1]))
        return;
    int i = *n < SHORTLIST ? (*n)++ : SHORTLIST - 1;
    for (; i > 0 && better(key, item, &l[i - 1]); i--)
        l[i] = l[i - 1];
    l[i] = (struct pick){key, item, idx};
}

static double log_sigmoid(double z)
{
    return z < 0 ? z - log1p(exp(z)) : -log1p(exp(-z));
}

static int group_taken(const uint32_t *g, size_t n, uint32_t group)
{
    for (size_t i = 0; i < n; i++)
        if (g[i] == group)
            return 1;
    return 0;
}

int cw_decide(const struct cw_model *m, struct cw_scratch *s,
              const struct cw_decide_req *req, struct cw_decision *out,
              struct cw_buf *err)
{
    struct cw__cand *c;
    int n = cw__decide_candidates(m, s, req, out, &c, err);
    if (n < 0)
        return n;
    int fill = req->flags & CW_DECIDE_FILL;
    /* Without fill, a demoted candidate is far below the relevance floor
     * (below): only the re-ranked ones can be chosen, so the choice runs
     * over them alone. */
    struct cw__cand ranked[CW_RANK_MAX];
    int only_ranked = !fill && m->meta.relevance_floor > 0;
    int nr = rerank(m, s, c, n, !only_ranked, ranked);
    if (only_ranked && nr > 0) {
        c = ranked;
        n = nr;
    }
    unsigned k = req->k ? req->k : CW_DECIDE_MAX;
    double zbest = -INFINITY;
    for (int i = 0; i < n; i++)
        if (c[i].z > zbest)
            zbest = c[i].z;
    /* The floor: only candidates whose P is within relevance_floor of the
     * best may be ordered by profit; below it a candidate only fills (in
     * evaluation) and keeps its linear score, which orders it like P.
     * Profit order is P x margin'^gamma, compared as logs; a candidate
     * whose upper bound (log P <= min(0, z)) cannot enter the shortlist
     * costs no exp. */
    double pf = m->meta.relevance_floor * cw__sigmoid(zbest);
    double zfloor = pf > 0 && pf < 1 ? log(pf / (1 - pf)) : -INFINITY;
    double gamma =
        req->flags & CW_DECIDE_ACCURACY_ONLY ? 0 : m->meta.profit_gamma;
    uint32_t taken[CW_DECIDE_MAX];
    struct pick list[SHORTLIST];
    int done = 0;
    while (out->n_addons < k && !done) {
        int nl = 0;
        for (int i = 0; i < n; i++) {
            uint32_t it = c[i].item;
            double key;
            if (c[i].z < zfloor) {
                if (!fill)
                    continue;
                key = c[i].z - 1e9;
            } else if (gamma == 0) {
                key = c[i].z;
            } else {
                double lm = gamma * s->lmargin[it];
                if (nl == SHORTLIST &&
                    fmin(0, c[i].z) + lm < list[SHORTLIST - 1].key)
                    continue;
                key = log_sigmoid(c[i].z) + lm;
            }
            if (group_taken(taken, out->n_addons, m->items[it].group))
                continue;
            shortlist_add(list, &nl, key, it, i);
        }
        /* all that remains is in a list that is not full */
        done = nl < SHORTLIST;
        for (int x = 0; x < nl && out->n_addons < k; x++) {
            const struct cw__cand *b = &c[list[x].idx];
            uint32_t g = m->items[b->item].group;
            if (group_taken(taken, out->n_addons, g))
                continue; /* one variant per product */
            taken[out->n_addons] = g;
            struct cw_addon *a = &out->addons[out->n_addons++];
            a->item = b->item;
            a->variant = pick_variant(m, s, b->item);
            const struct cw_item *vi = &m->items[a->variant];
            a->p_accept = cw__sigmoid(b->z);
            a->unit_margin = vi->margin;
            a->margin_assumed = !!(vi->flags & CW_ITEM_MARGIN_ASSUMED);
            a->expected_profit = a->p_accept * (double)vi->margin *
                                 (1 - (double)vi->return_rate);
            explain(m, s, b->item, a);
        }
        if (nl == 0)
            break;
    }
    return 0;
}
