/*
 * imp_lines.c: the normalized order lines of BENCHMARK.md section 1,
 * `basket_id,customer_id,ts,sku,qty,unit_price,unit_cost`.
 *
 * Every row is one line of a basket (an order). The first row of a basket
 * seen in this file makes its order record (customer and ts from that row),
 * the first row of a sku its product record. A positive quantity is an order
 * line, a negative one a return, zero is ignored. unit_price may be empty
 * (the Groceries set has no prices): the line is kept with an unknown price.
 * ts is passed through as written, since the format only asks that its
 * lexical order be time order (Groceries uses "00000042").
 */
#include <stdio.h>

#include "cartwise/cw_money.h"
#include "import/import_int.h"

enum { BASKET, CUSTOMER, TS, SKU, QTY, PRICE, COST, NCOLS };

static const struct cw__col cols[NCOLS] = {
    [BASKET] = {"basket_id", NULL, 1},
    [CUSTOMER] = {"customer_id", NULL, 0},
    [TS] = {"ts", NULL, 1},
    [SKU] = {"sku", NULL, 1},
    [QTY] = {"qty", NULL, 1},
    [PRICE] = {"unit_price", NULL, 0},
    [COST] = {"unit_cost", NULL, 0},
};

static int row(struct cw__imp *im)
{
    const char *basket = im->v[BASKET], *sku = im->v[SKU];
    int64_t qty, price, cost;
    int rc;
    if (!*basket)
        return cw__imp_bad(im, BASKET, "empty basket id");
    if (!*sku)
        return cw__imp_bad(im, SKU, "empty sku");
    if (!*im->v[TS])
        return cw__imp_bad(im, TS, "empty ts");
    if ((rc = cw__imp_int(im, QTY, "quantity", &qty)) ||
        (rc = cw__imp_money(im, PRICE, "unit price", im->exp, 0, &price)) ||
        (rc = cw__imp_money(im, COST, "unit cost", im->exp, 0, &cost)))
        return rc;
    if (qty == 0) {
        im->stats->ignored++;
        return 0;
    }
    int64_t n = qty < 0 ? -qty : qty, amount = 0;
    if (qty < 0 && price != CW_MONEY_UNKNOWN &&
        __builtin_mul_overflow(n, price, &amount))
        return cw__imp_bad(im, QTY, "return amount out of range");

    if (cw__imp_first(&im->skus, sku)) {
        struct cw_product_rec p;
        cw__imp_product_init(&p, sku, im->currency);
        p.price = price;
        p.cost = cost;
        if ((rc = cw__imp_product(im, &p)))
            return rc;
    }
    const char *customer = cw__imp_opt(im->v[CUSTOMER]);
    if (qty < 0) {
        struct cw_return_rec r = {0};
        cw_buf_reset(&im->tmp);
        cw_buf_addf(&im->tmp, "%s:%ld", basket, im->row);
        r.id = im->tmp.buf;
        /* only a basket already recorded as an order can be pointed at */
        r.order_id = cw_intern_find(&im->orders, basket, im->vlen[BASKET]) >= 0
                         ? basket
                         : NULL;
        r.customer = customer;
        r.sku = sku;
        r.ts = im->v[TS];
        r.qty = n;
        r.amount = amount;
        return cw__imp_return(im, &r);
    }
    if (cw__imp_first(&im->orders, basket)) {
        struct cw_order_rec o = {0};
        o.id = basket;
        o.customer = customer;
        o.ts = im->v[TS];
        o.currency = im->currency;
        if ((rc = cw__imp_order(im, &o)))
            return rc;
    }
    struct cw_line_rec l = {0};
    l.order_id = basket;
    l.line_no = (int)im->row;
    l.sku = sku;
    l.qty = qty;
    l.unit_price = price;
    l.unit_cost = cost;
    return cw__imp_line(im, &l);
}

const struct cw__fmt cw__fmt_lines = {cols, NCOLS, "USD", 0, 0, row, NULL};
