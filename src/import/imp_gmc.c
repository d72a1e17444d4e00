/*
 * imp_gmc.c: a Google Merchant Center product feed in its TSV form.
 *
 * One row per item; the attribute names are Google's (id, item_group_id,
 * price, sale_price, cost_of_goods_sold, availability, product_type, size,
 * color). Money is written with its currency, "15.00 USD", and that currency
 * is the product's: the run's default currency does not apply. A non-empty
 * sale_price is what the shopper pays, so it replaces price. The feed tells
 * availability, not stock counts: out of stock becomes inventory 0, anything
 * else untracked (-1).
 */
#include <string.h>

#include "cartwise/cw_money.h"
#include "import/import_int.h"

enum {
    ID,
    GROUP,
    TITLE,
    PRICE,
    SALE_PRICE,
    COST,
    AVAILABILITY,
    PRODUCT_TYPE,
    SIZE,
    COLOR,
    NCOLS
};

static const struct cw__col cols[NCOLS] = {
    [ID] = {"id", NULL, 1},
    [GROUP] = {"item_group_id", NULL, 0},
    [TITLE] = {"title", NULL, 0},
    [PRICE] = {"price", NULL, 1},
    [SALE_PRICE] = {"sale_price", NULL, 0},
    [COST] = {"cost_of_goods_sold", NULL, 0},
    [AVAILABILITY] = {"availability", NULL, 0},
    [PRODUCT_TYPE] = {"product_type", NULL, 0},
    [SIZE] = {"size", NULL, 0},
    [COLOR] = {"color", NULL, 0},
};

static int row(struct cw__imp *im)
{
    struct cw_product_rec p;
    char cur[4], sale_cur[4], cost_cur[4];
    int64_t sale;
    int rc;
    if (!*im->v[ID])
        return cw__imp_bad(im, ID, "empty id");
    cw__imp_product_init(&p, im->v[ID], NULL);
    if ((rc = cw__imp_money_cur(im, PRICE, "price", 1, &p.price, cur)) ||
        (rc = cw__imp_money_cur(im, SALE_PRICE, "sale price", 0, &sale,
                                sale_cur)) ||
        (rc = cw__imp_money_cur(im, COST, "cost", 0, &p.cost, cost_cur)))
        return rc;
    if (sale != CW_MONEY_UNKNOWN) {
        if (strcmp(sale_cur, cur))
            return cw__imp_bad(im, SALE_PRICE,
                               "sale price currency differs from price");
        p.price = sale;
    }
    if (p.cost != CW_MONEY_UNKNOWN && strcmp(cost_cur, cur))
        return cw__imp_bad(im, COST, "cost currency differs from price");
    const char *avail = im->v[AVAILABILITY];
    if (!strcmp(avail, "out_of_stock") || !strcmp(avail, "out of stock"))
        p.inventory = 0;

    cw_buf_reset(&im->tmp);
    if (*im->v[SIZE])
        cw_buf_addf(&im->tmp, "size=%s", im->v[SIZE]);
    if (*im->v[COLOR])
        cw_buf_addf(&im->tmp, "%scolor=%s", im->tmp.len ? ";" : "",
                    im->v[COLOR]);
    p.currency = cur;
    p.group = cw__imp_opt(im->v[GROUP]);
    p.title = cw__imp_opt(im->v[TITLE]);
    p.category = cw__imp_opt(im->v[PRODUCT_TYPE]);
    p.attributes = im->tmp.len ? im->tmp.buf : NULL;
    return cw__imp_product(im, &p);
}

const struct cw__fmt cw__fmt_gmc = {cols, NCOLS, "USD", 0, 0, row, NULL};
