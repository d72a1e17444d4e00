/*
 * decision_json.c: a decision as JSON, the same in `cartwise recommend
 * --json` and in the body of POST /v1/decide.
 *
 * Money is {"amount": minor units, "currency": code}; the expected profit,
 * a fractional number of minor units, is rounded to the nearest unit.
 */
#include <math.h>
#include <time.h>

#include "app/app.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_decide.h"
#include "cartwise/cw_model.h"

void cw_app_iso(int64_t t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cw_app_add_i64(struct cw_buf *b, int64_t v)
{
    char tmp[24];
    size_t n = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--n] = '-';
    cw_buf_add(b, tmp + n, sizeof(tmp) - n);
}

void cw_app_add_fixed(struct cw_buf *b, double x, int dec)
{
    static const double scale[] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                   1e5, 1e6, 1e7, 1e8, 1e9};
    if (dec < 0)
        dec = 0;
    if (dec > 9)
        dec = 9;
    if (!isfinite(x) || fabs(x) * scale[dec] >= 9e18) {
        if (isfinite(x)) { /* too large for the fast path */
            cw_buf_addf(b, "%.*f", dec, x);
            return;
        }
        x = 0;
    }
    double r = round(fabs(x) * scale[dec]);
    uint64_t v = (uint64_t)r, div = (uint64_t)scale[dec];
    if (x < 0 && v)
        cw_buf_addch(b, '-');
    cw_app_add_i64(b, (int64_t)(v / div));
    if (!dec)
        return;
    char frac[10];
    uint64_t f = v % div;
    for (int i = dec - 1; i >= 0; i--, f /= 10)
        frac[i] = (char)('0' + f % 10);
    cw_buf_addch(b, '.');
    cw_buf_add(b, frac, (size_t)dec);
}

void cw_app_json_money(struct cw_buf *b, int64_t minor, const char *currency)
{
    cw_buf_adds(b, "{\"amount\":");
    cw_app_add_i64(b, minor);
    cw_buf_adds(b, ",\"currency\":");
    cw_buf_add_json_str(b, currency);
    cw_buf_addch(b, '}');
}

const char *cw_app_item_title(const struct cw_model *m, uint32_t variant,
                              uint32_t item)
{
    uint32_t t = m->items[variant].title;
    if (!t)
        t = m->items[item].title;
    return cw_model_str(m, t);
}

size_t cw_app_assumptions(const struct cw_model *m, const struct cw_decision *d,
                          const char *customer, const char *out[2],
                          struct cw_buf *note)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_addons; i++) {
        if (d->addons[i].margin_assumed) {
            cw_buf_addf(note,
                        "margin assumed at the default rate %.0f%%: costs "
                        "unknown",
                        m->meta.default_margin_rate * 100.0);
            out[n++] = cw_buf_str(note);
            break;
        }
    }
    if (customer && !d->known_customer)
        out[n++] = "customer not in the model: recommendations are not "
                   "personalized";
    return n;
}

void cw_app_decision_json(struct cw_buf *b, const struct cw_model *m,
                          const struct cw_decision *d,
                          const struct cw_cart_line *lines,
                          const char *customer)
{
    cw_app_decision_json_inc(b, m, d, lines, customer, NULL, NULL);
}

void cw_app_decision_json_inc(struct cw_buf *b, const struct cw_model *m,
                              const struct cw_decision *d,
                              const struct cw_cart_line *lines,
                              const char *customer,
                              const struct cw_incentive_config *cfg,
                              const struct cw_incentive_result *inc)
{
    const char *cur = m->meta.currency;
    cw_buf_adds(b, "\"cart_value\":");
    cw_app_json_money(b, d->cart_value, cur);
    cw_buf_adds(b, ",\"addons\":[");
    for (size_t i = 0; i < d->n_addons; i++) {
        const struct cw_addon *a = &d->addons[i];
        cw_buf_adds(b, i ? ",{\"sku\":" : "{\"sku\":");
        cw_buf_add_json_str(b, cw_model_sku(m, a->item));
        cw_buf_adds(b, ",\"variant_sku\":");
        cw_buf_add_json_str(b, cw_model_sku(m, a->variant));
        cw_buf_adds(b, ",\"title\":");
        cw_buf_add_json_str(b, cw_app_item_title(m, a->variant, a->item));
        cw_buf_adds(b, ",\"price\":");
        cw_app_json_money(b, m->items[a->variant].price, cur);
        cw_buf_adds(b, ",\"p_accept\":");
        cw_app_add_fixed(b, a->p_accept, 6);
        cw_buf_adds(b, ",\"unit_margin\":");
        cw_app_json_money(b, a->unit_margin, cur);
        cw_buf_adds(b, ",\"expected_profit\":");
        cw_app_json_money(b, (int64_t)llround(a->expected_profit), cur);
        cw_buf_adds(b, a->margin_assumed
                           ? ",\"margin_assumed\":true,\"reason\":{\"code\":"
                           : ",\"margin_assumed\":false,\"reason\":{\"code\":");
        cw_buf_add_json_str(b, cw_reason_code(a->reason));
        cw_buf_adds(b, ",\"text\":");
        cw_buf_add_json_str(b, a->text);
        cw_buf_adds(b, ",\"evidence_sku\":");
        if (a->reason == CW_REASON_PAIRS_WITH) {
            cw_buf_add_json_str(b, cw_model_sku(m, a->evidence_item));
            cw_buf_adds(b, ",\"evidence_share\":");
            cw_app_add_fixed(b, a->evidence_share, 4);
            cw_buf_adds(b, "}}");
        } else {
            cw_buf_adds(b, "null,\"evidence_share\":null}}");
        }
    }
    cw_buf_adds(b, "],\"unknown_skus\":[");
    for (size_t i = 0; i < d->n_unknown; i++) {
        if (i)
            cw_buf_addch(b, ',');
        cw_buf_add_json_str(b, lines[d->unknown[i]].sku);
    }
    /* the sentences of cw_app_assumptions, written straight into b */
    cw_buf_addch(b, ']');
    if (cfg && inc)
        cw__app_incentives_json(b, m, d, cfg, inc);
    cw_buf_adds(b, ",\"assumptions\":[");
    int any = 0;
    for (size_t i = 0; i < d->n_addons; i++) {
        if (d->addons[i].margin_assumed) {
            cw_buf_adds(b, "\"margin assumed at the default rate ");
            cw_app_add_fixed(b, m->meta.default_margin_rate * 100.0, 0);
            cw_buf_adds(b, "%: costs unknown\"");
            any = 1;
            break;
        }
    }
    if (customer && !d->known_customer)
        cw_buf_adds(b, any ? ",\"customer not in the model: recommendations "
                             "are not personalized\""
                           : "\"customer not in the model: recommendations "
                             "are not personalized\"");
    if (inc) {
        const char *notes[8];
        size_t nn = cw_app_incentive_notes(inc, notes);
        for (size_t i = 0; i < nn; i++) {
            if (b->buf[b->len - 1] != '[')
                cw_buf_addch(b, ',');
            cw_buf_add_json_str(b, notes[i]);
        }
    }
    cw_buf_addch(b, ']');
}
