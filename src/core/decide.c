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

struct cw_scratch {
    uint32_t n_items, n_groups;
    uint32_t epoch;
    uint32_t *stamp;  /* stamp[i] == epoch: the per-item fields are live */
    uint32_t *gstamp; /* gstamp[g] == epoch: group g is in the cart */
    float *s, *mx, *h;
    uint32_t *ev, *evco;
    uint32_t *touched;
    size_t nt;
    struct cw__cand *cand;
    float *fpop;   /* per item: feature 3, computed once per scratch */
    float *lprice; /* per item: log(price + 1) */
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
    s->stamp = cw_calloc(n, sizeof(*s->stamp));
    s->gstamp = cw_calloc((size_t)m->n_groups + 1, sizeof(*s->gstamp));
    s->s = cw_malloc(n * sizeof(*s->s));
    s->mx = cw_malloc(n * sizeof(*s->mx));
    s->h = cw_malloc(n * sizeof(*s->h));
    s->ev = cw_malloc(n * sizeof(*s->ev));
    s->evco = cw_malloc(n * sizeof(*s->evco));
    s->touched = cw_malloc(n * sizeof(*s->touched));
    s->cand = cw_malloc(n * sizeof(*s->cand));
    s->fpop = cw_malloc(n * sizeof(*s->fpop));
    s->lprice = cw_malloc(n * sizeof(*s->lprice));
    /* the item-only parts of the features, so a request computes no log */
    double lpop = log1p((double)m->meta.n_baskets);
    for (uint32_t i = 0; i < m->n_items; i++) {
        s->fpop[i] =
            lpop > 0 ? (float)(log1p((double)m->items[i].pop) / lpop) : 0;
        s->lprice[i] = (float)log((double)m->items[i].price + 1.0);
    }
    return s;
}

void cw_scratch_free(struct cw_scratch *s)
{
    if (!s)
        return;
    cw_free(s->stamp);
    cw_free(s->gstamp);
    cw_free(s->s);
    cw_free(s->mx);
    cw_free(s->h);
    cw_free(s->ev);
    cw_free(s->evco);
    cw_free(s->touched);
    cw_free(s->cand);
    cw_free(s->fpop);
    cw_free(s->lprice);
    cw_free(s);
}

static void next_epoch(struct cw_scratch *s)
{
    if (++s->epoch == 0) { /* wrapped: forget every old stamp */
        memset(s->stamp, 0, ((size_t)s->n_items + 1) * sizeof(*s->stamp));
        memset(s->gstamp, 0, ((size_t)s->n_groups + 1) * sizeof(*s->gstamp));
        s->epoch = 1;
    }
    s->nt = 0;
}

static void touch(struct cw_scratch *s, uint32_t i)
{
    if (s->stamp[i] == s->epoch)
        return;
    s->stamp[i] = s->epoch;
    s->s[i] = s->mx[i] = s->h[i] = 0;
    s->ev[i] = UINT32_MAX;
    s->evco[i] = 0;
    s->touched[s->nt++] = i;
}

static int usable(const struct cw_model *m, const struct cw_scratch *s,
                  uint32_t i)
{
    const struct cw_item *it = &m->items[i];
    return (it->flags & CW_ITEM_IN_TRAINING) &&
           !(it->flags & CW_FLAG_INACTIVE) && it->inventory != 0 &&
           s->gstamp[it->group] != s->epoch;
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
    next_epoch(s);

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
        int64_t unit = l->price != CW_MONEY_UNKNOWN ? l->price
                                                    : m->items[it].price;
        out->cart_value += unit * l->qty;
        price_sum += (double)unit;
        s->gstamp[m->items[it].group] = s->epoch;
        cart[nc++] = (uint32_t)it;
    }
    double avg_price = nc ? price_sum / (double)nc : 0;
    int same_category = 0;

    /* neighbours of every cart item, summed */
    for (size_t c = 0; c < nc; c++) {
        uint32_t ci = cart[c];
        if (m->items[ci].category)
            same_category = 1;
        for (uint32_t x = m->nbr_off[ci]; x < m->nbr_off[ci + 1]; x++) {
            const struct cw_nbr *nb = &m->nbrs[x];
            touch(s, nb->item);
            s->s[nb->item] += nb->w;
            if (nb->w > s->mx[nb->item]) {
                s->mx[nb->item] = nb->w;
                s->ev[nb->item] = ci;
                s->evco[nb->item] = nb->co;
            }
        }
    }
    /* the shopper's history */
    long cu = cw_model_find_customer(m, req->customer);
    if (cu >= 0) {
        const struct cw_customer *c = &m->customers[cu];
        out->known_customer = 1;
        for (uint32_t x = 0; x < c->n_hist; x++) {
            const struct cw_hist *h = &m->hist[c->hist_off + x];
            touch(s, h->item);
            s->h[h->item] = h->w;
        }
    }
    for (uint32_t x = 0; x < m->n_popular && x < POPULAR_CANDIDATES; x++)
        touch(s, m->popular[x]);

    /* substitutes: an item of a cart item's category that no cart item of
     * that category lists as a neighbour competes with it */
    const float lavg = nc ? (float)log(avg_price + 1.0) : 0;
    const double *w = m->meta.feat_w;
    size_t n = 0;
    for (size_t t = 0; t < s->nt; t++) {
        uint32_t j = s->touched[t];
        if (!usable(m, s, j))
            continue;
        const struct cw_item *it = &m->items[j];
        if (same_category && it->category && s->s[j] <= 0) {
            int sub = 0;
            for (size_t c = 0; c < nc && !sub; c++)
                sub = m->items[cart[c]].category == it->category;
            if (sub)
                continue;
        }
        struct cw__cand *cd = &s->cand[n++];
        cd->item = j;
        cd->evidence = s->ev[j];
        cd->evidence_co = s->evco[j];
        cd->f[0] = s->s[j];
        cd->f[1] = s->mx[j];
        cd->f[2] = s->h[j];
        cd->f[3] = s->fpop[j];
        cd->f[4] = nc ? fmaxf(-5, fminf(5, s->lprice[j] - lavg)) : 0;
        cd->f[5] = it->return_rate;
        double z = w[0];
        for (int d = 0; d < CW_MODEL_NFEAT; d++)
            z += w[d + 1] * cd->f[d];
        cd->z = z;
        cd->p = -1;
    }
    *cands = s->cand;
    return (int)n;
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
        if (s->stamp[v] == s->epoch && s->h[v] > 0)
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

static void explain(const struct cw_model *m, const struct cw__cand *c,
                    struct cw_addon *a)
{
    const double *w = m->meta.feat_w;
    double personal = w[3] * c->f[2];
    double item_model = w[1] * c->f[0] + w[2] * c->f[1];
    a->evidence_item = c->evidence;
    a->evidence_share = 0;
    if (c->f[2] > 0 && (personal >= item_model || c->evidence == UINT32_MAX)) {
        a->reason = CW_REASON_BOUGHT_BEFORE;
        snprintf(a->text, sizeof(a->text),
                 "You have ordered this before: add it again?");
    } else if (c->evidence != UINT32_MAX) {
        a->reason = CW_REASON_PAIRS_WITH;
        uint32_t pop = m->items[c->evidence].pop;
        a->evidence_share = pop ? (double)c->evidence_co / pop : 0;
        int pct = (int)lround(100 * a->evidence_share);
        if (pct >= 1)
            snprintf(a->text, sizeof(a->text),
                     "Pairs well with your %s: %d%% of orders with it "
                     "include this",
                     label(m, c->evidence), pct);
        else
            snprintf(a->text, sizeof(a->text),
                     "Often bought together with your %s",
                     label(m, c->evidence));
    } else {
        a->reason = CW_REASON_POPULAR;
        snprintf(a->text, sizeof(a->text),
                 "One of the store's most ordered items");
    }
}

int cw_decide(const struct cw_model *m, struct cw_scratch *s,
              const struct cw_decide_req *req, struct cw_decision *out,
              struct cw_buf *err)
{
    struct cw__cand *c;
    int n = cw__decide_candidates(m, s, req, out, &c, err);
    if (n < 0)
        return n;
    unsigned k = req->k ? req->k : CW_DECIDE_MAX;
    int accuracy = req->flags & CW_DECIDE_ACCURACY_ONLY;
    double zbest = -INFINITY;
    for (int i = 0; i < n; i++)
        if (c[i].z > zbest)
            zbest = c[i].z;
    /* P only where it can matter: candidates under the floor keep their
     * linear score, which orders them the same way */
    double pf = m->meta.relevance_floor * cw__sigmoid(zbest);
    double zfloor = pf > 0 && pf < 1 ? log(pf / (1 - pf)) : -INFINITY;
    double gamma = accuracy ? 0 : m->meta.profit_gamma;
    int fill = req->flags & CW_DECIDE_FILL;
    for (int i = 0; i < n; i++) {
        if (c[i].z < zfloor) {
            c[i].rank_key = fill ? c[i].z - 1e9 : -INFINITY;
            continue;
        }
        const struct cw_item *it = &m->items[c[i].item];
        c[i].p = cw__sigmoid(c[i].z);
        c[i].rank_key =
            gamma == 0
                ? c[i].p
                : c[i].p * pow(fmax((double)it->margin *
                                        (1 - it->return_rate),
                                    1),
                               gamma);
    }
    /* greedy top k, one per group (no two variants of one product) */
    while (out->n_addons < k) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            if (c[i].rank_key == -INFINITY)
                continue;
            if (best < 0 || c[i].rank_key > c[best].rank_key ||
                (c[i].rank_key == c[best].rank_key && c[i].item < c[best].item))
                best = i;
        }
        if (best < 0)
            break;
        struct cw__cand *b = &c[best];
        b->rank_key = -INFINITY;
        uint32_t g = m->items[b->item].group;
        for (int i = 0; i < n; i++)
            if (m->items[c[i].item].group == g)
                c[i].rank_key = -INFINITY;
        struct cw_addon *a = &out->addons[out->n_addons++];
        a->item = b->item;
        a->variant = pick_variant(m, s, b->item);
        const struct cw_item *vi = &m->items[a->variant];
        a->p_accept = b->p >= 0 ? b->p : cw__sigmoid(b->z);
        a->unit_margin = vi->margin;
        a->margin_assumed = !!(vi->flags & CW_ITEM_MARGIN_ASSUMED);
        a->expected_profit =
            a->p_accept * (double)vi->margin * (1 - (double)vi->return_rate);
        explain(m, b, a);
    }
    return 0;
}
