/*
 * imp_shopify_orders.c: Shopify's order CSV export.
 *
 * One row per line item, grouped by Name ("#1001"); the order's own fields
 * (Email, Created at, Currency, Shipping, Discount Amount) are filled on the
 * first row of a Name only, so they are read there and the order record is
 * emitted then; the following rows of the same Name only add lines, priced
 * in the order's currency. Rows of one order are expected to be contiguous,
 * as Shopify writes them. If the first row's order fields are bad, the whole
 * order is skipped (with skip_bad) since its lines would have no order.
 *
 * Refunds: the export gives a Refunded Amount per order but not which items
 * came back, and an amount without a sku is no product return, so no return
 * record is made from it. The export has no product costs either.
 */
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_money.h"
#include "import/import_int.h"

enum {
    NAME,
    EMAIL,
    CREATED,
    CURRENCY,
    SHIPPING,
    DISCOUNT,
    QTY,
    PRICE,
    SKU,
    LDISCOUNT,
    NCOLS
};

static const struct cw__col cols[NCOLS] = {
    [NAME] = {"Name", NULL, 1},
    [EMAIL] = {"Email", NULL, 0},
    [CREATED] = {"Created at", NULL, 1},
    [CURRENCY] = {"Currency", NULL, 0},
    [SHIPPING] = {"Shipping", NULL, 0},
    [DISCOUNT] = {"Discount Amount", NULL, 0},
    [QTY] = {"Lineitem quantity", NULL, 1},
    [PRICE] = {"Lineitem price", NULL, 1},
    [SKU] = {"Lineitem sku", NULL, 1},
    [LDISCOUNT] = {"Lineitem discount", NULL, 0},
};

struct state {
    char *name; /* current order */
    char currency[4];
    int exp;
    int bad; /* its order fields were malformed */
};

static int64_t or_zero(int64_t v)
{
    return v == CW_MONEY_UNKNOWN ? 0 : v;
}

static int start_order(struct cw__imp *im, struct state *st)
{
    struct cw_order_rec o = {0};
    char ts[20];
    int rc;
    cw_free(st->name);
    st->name = cw_strdup(im->v[NAME]);
    st->bad = 1;
    if ((rc = cw__imp_ts(im, CREATED, 0, ts)) ||
        (rc = cw__imp_currency(im, CURRENCY, st->currency)))
        return rc;
    st->exp = cw_currency_exponent(st->currency);
    if ((rc = cw__imp_money(im, SHIPPING, "shipping", st->exp, 0,
                            &o.shipping)) ||
        (rc = cw__imp_money(im, DISCOUNT, "discount", st->exp, 0, &o.discount)))
        return rc;
    st->bad = 0;
    cw_buf_reset(&im->tmp);
    for (const char *s = im->v[EMAIL]; *s; s++)
        cw_buf_addch(&im->tmp,
                     *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s);
    o.id = st->name;
    o.customer = im->tmp.len ? im->tmp.buf : NULL;
    o.ts = ts;
    o.currency = st->currency;
    o.shipping = or_zero(o.shipping);
    o.discount = or_zero(o.discount);
    return cw__imp_order(im, &o);
}

static int row(struct cw__imp *im)
{
    struct state *st = im->st;
    struct cw_line_rec l = {0};
    int64_t qty;
    int rc;
    if (!*im->v[NAME])
        return cw__imp_bad(im, NAME, "empty order name");
    if (!st->name || strcmp(st->name, im->v[NAME])) {
        if ((rc = start_order(im, st)))
            return rc;
    } else if (st->bad) {
        im->stats->skipped++; /* a line of an order that was skipped */
        return CW__SKIP;
    }
    if (!*im->v[SKU])
        return cw__imp_bad(im, SKU, "empty sku");
    if ((rc = cw__imp_int(im, QTY, "quantity", &qty)))
        return rc;
    if (qty < 0)
        return cw__imp_bad(im, QTY, "negative quantity");
    if (qty == 0) {
        im->stats->ignored++;
        return 0;
    }
    if ((rc = cw__imp_money(im, PRICE, "price", st->exp, 1, &l.unit_price)) ||
        (rc = cw__imp_money(im, LDISCOUNT, "line discount", st->exp, 0,
                            &l.discount)))
        return rc;
    l.order_id = st->name;
    l.line_no = (int)im->row;
    l.sku = im->v[SKU];
    l.qty = qty;
    l.unit_cost = CW_MONEY_UNKNOWN;
    l.discount = or_zero(l.discount);
    return cw__imp_line(im, &l);
}

static void release(struct cw__imp *im)
{
    struct state *st = im->st;
    cw_free(st->name);
}

const struct cw__fmt cw__fmt_shopify_orders = {
    cols, NCOLS, "USD", 0, sizeof(struct state), row, release};
