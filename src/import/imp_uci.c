/*
 * imp_uci.c: the UCI "Online Retail" export (InvoiceNo, StockCode,
 * Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country), and
 * the column names of its successor "Online Retail II" (Invoice, Price,
 * Customer ID).
 *
 * An invoice is an order and each row a line, with these exceptions, all
 * taken from the data's documented quirks: stock codes that do not start
 * with a digit are fees and manual entries (POST, DOT, M, D, C2, BANK
 * CHARGES, AMAZONFEE, gift_...), not products, and are ignored; invoices
 * starting with 'A' are bad-debt adjustments, ignored; a zero or negative
 * quantity on a sale invoice is a stock write-off, ignored; invoices starting
 * with 'C' are cancellations and become return records (not tied to an
 * order: UCI does not say which invoice was cancelled). Prices are GBP
 * whatever the run's default currency: the data set is defined in pounds.
 */
#include <stdio.h>
#include <string.h>

#include "cartwise/cw_money.h"
#include "import/import_int.h"

enum { INVOICE, CODE, DESC, QTY, DATE, PRICE, CUSTOMER, NCOLS };

static const struct cw__col cols[NCOLS] = {
    [INVOICE] = {"InvoiceNo", "Invoice", 1},
    [CODE] = {"StockCode", NULL, 1},
    [DESC] = {"Description", NULL, 0},
    [QTY] = {"Quantity", NULL, 1},
    [DATE] = {"InvoiceDate", NULL, 1},
    [PRICE] = {"UnitPrice", "Price", 1},
    [CUSTOMER] = {"CustomerID", "Customer ID", 0},
};

static int row(struct cw__imp *im)
{
    const char *inv = im->v[INVOICE], *sku = im->v[CODE];
    int64_t qty, price;
    char ts[20], cust[32];
    int rc;
    if (!*inv)
        return cw__imp_bad(im, INVOICE, "empty invoice number");
    if (!*sku)
        return cw__imp_bad(im, CODE, "empty stock code");
    int cancel = inv[0] == 'C';
    if (inv[0] == 'A' || sku[0] < '0' || sku[0] > '9') {
        im->stats->ignored++;
        return 0;
    }
    if ((rc = cw__imp_int(im, QTY, "quantity", &qty)))
        return rc;
    if (cancel ? qty >= 0 : qty <= 0) {
        im->stats->ignored++;
        return 0;
    }
    if ((rc = cw__imp_money(im, PRICE, "unit price", im->exp, 1, &price)) ||
        (rc = cw__imp_ts(im, DATE, 1, ts)))
        return rc;
    int64_t n = cancel ? -qty : qty, amount = 0;
    if (cancel && __builtin_mul_overflow(n, price, &amount))
        return cw__imp_bad(im, QTY, "return amount out of range");

    /* spreadsheet exports write customer ids as floats: "17850.0" */
    const char *customer = cw__imp_opt(im->v[CUSTOMER]);
    size_t clen = im->vlen[CUSTOMER];
    if (customer && clen > 2 && clen < sizeof(cust) &&
        !strcmp(customer + clen - 2, ".0")) {
        snprintf(cust, sizeof(cust), "%.*s", (int)(clen - 2), customer);
        customer = cust;
    }

    if (cw__imp_first(&im->skus, sku)) {
        struct cw_product_rec p;
        cw__imp_product_init(&p, sku, im->currency);
        p.title = cw__imp_opt(im->v[DESC]);
        p.price = price;
        if ((rc = cw__imp_product(im, &p)))
            return rc;
    }
    if (cancel) {
        struct cw_return_rec r = {0};
        cw_buf_reset(&im->tmp);
        cw_buf_addf(&im->tmp, "%s:%ld", inv, im->row);
        r.id = im->tmp.buf;
        r.customer = customer;
        r.sku = sku;
        r.ts = ts;
        r.qty = n;
        r.amount = amount;
        return cw__imp_return(im, &r);
    }
    if (cw__imp_first(&im->orders, inv)) {
        struct cw_order_rec o = {0};
        o.id = inv;
        o.customer = customer;
        o.ts = ts;
        o.currency = im->currency;
        if ((rc = cw__imp_order(im, &o)))
            return rc;
    }
    struct cw_line_rec l = {0};
    l.order_id = inv;
    l.line_no = (int)im->row;
    l.sku = sku;
    l.qty = qty;
    l.unit_price = price;
    l.unit_cost = CW_MONEY_UNKNOWN;
    return cw__imp_line(im, &l);
}

const struct cw__fmt cw__fmt_uci = {cols, NCOLS, "GBP", 1, 0, row, NULL};
