/*
 * imp_shopify_products.c: Shopify's product CSV export.
 *
 * Shopify writes one row per variant or extra image, grouped by Handle, and
 * fills the product's own fields (Title, Type, Product Category, Status,
 * option names) on the first row of a handle only. So this parser carries
 * those fields forward while the Handle stays the same; rows of one handle
 * are expected to be contiguous, as Shopify writes them. Each variant row
 * becomes one product record whose group is the handle. A row with neither
 * Variant SKU nor Variant Price is an extra image: ignored.
 */
#include <string.h>
#include <strings.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "import/import_int.h"

enum {
    HANDLE,
    TITLE,
    PCATEGORY,
    TYPE,
    O1NAME,
    O1VALUE,
    O2NAME,
    O2VALUE,
    O3NAME,
    O3VALUE,
    SKU,
    TRACKER,
    INVENTORY,
    PRICE,
    COST,
    STATUS,
    NCOLS
};

static const struct cw__col cols[NCOLS] = {
    [HANDLE] = {"Handle", NULL, 1},
    [TITLE] = {"Title", NULL, 0},
    [PCATEGORY] = {"Product Category", NULL, 0},
    [TYPE] = {"Type", NULL, 0},
    [O1NAME] = {"Option1 Name", NULL, 0},
    [O1VALUE] = {"Option1 Value", NULL, 0},
    [O2NAME] = {"Option2 Name", NULL, 0},
    [O2VALUE] = {"Option2 Value", NULL, 0},
    [O3NAME] = {"Option3 Name", NULL, 0},
    [O3VALUE] = {"Option3 Value", NULL, 0},
    [SKU] = {"Variant SKU", NULL, 1},
    [TRACKER] = {"Variant Inventory Tracker", NULL, 0},
    [INVENTORY] = {"Variant Inventory Qty", NULL, 0},
    [PRICE] = {"Variant Price", NULL, 1},
    [COST] = {"Cost per item", NULL, 0},
    [STATUS] = {"Status", NULL, 0},
};

/* The product fields of the current handle, from its first row. */
struct state {
    char *handle;
    char *title;
    char *category;
    char *option[3];
    unsigned flags;
};

static void clear(struct state *st)
{
    cw_free(st->handle);
    cw_free(st->title);
    cw_free(st->category);
    for (int i = 0; i < 3; i++)
        cw_free(st->option[i]);
    memset(st, 0, sizeof(*st));
}

static void start_handle(struct cw__imp *im, struct state *st)
{
    clear(st);
    st->handle = cw_strdup(im->v[HANDLE]);
    st->title = cw_strdup(im->v[TITLE]);
    st->category =
        cw_strdup(*im->v[PCATEGORY] ? im->v[PCATEGORY] : im->v[TYPE]);
    for (int i = 0; i < 3; i++)
        st->option[i] = cw_strdup(im->v[O1NAME + 2 * i]);
    const char *status = im->v[STATUS];
    if (!strcasecmp(status, "draft") || !strcasecmp(status, "archived"))
        st->flags |= CW_FLAG_INACTIVE;
}

/* Appends s to b, lowercased if lower, with the characters that delimit
 * attribute lists replaced by blanks. */
static void add_attr_text(struct cw_buf *b, const char *s, int lower)
{
    for (; *s; s++) {
        char ch = *s == ';' || *s == '=' ? ' ' : *s;
        if (lower && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        cw_buf_addch(b, ch);
    }
}

/* "size=M;color=red" from the option names and this row's values. The
 * placeholder option of single-variant products ("Title" = "Default Title")
 * is no attribute. */
static const char *attributes(struct cw__imp *im, const struct state *st)
{
    cw_buf_reset(&im->tmp);
    for (int i = 0; i < 3; i++) {
        const char *name = st->option[i], *value = im->v[O1VALUE + 2 * i];
        if (!*name || !*value ||
            (!strcmp(name, "Title") && !strcmp(value, "Default Title")))
            continue;
        if (im->tmp.len)
            cw_buf_addch(&im->tmp, ';');
        add_attr_text(&im->tmp, name, 1);
        cw_buf_addch(&im->tmp, '=');
        add_attr_text(&im->tmp, value, 0);
    }
    return im->tmp.len ? im->tmp.buf : NULL;
}

static int row(struct cw__imp *im)
{
    struct state *st = im->st;
    struct cw_product_rec p;
    int64_t inv;
    int rc;
    if (!*im->v[HANDLE])
        return cw__imp_bad(im, HANDLE, "empty handle");
    if (!st->handle || strcmp(st->handle, im->v[HANDLE]))
        start_handle(im, st);
    if (!*im->v[SKU] && !*im->v[PRICE]) {
        im->stats->ignored++; /* an extra image of the product */
        return 0;
    }
    if (!*im->v[SKU])
        return cw__imp_bad(im, SKU, "empty sku");
    cw__imp_product_init(&p, im->v[SKU], im->currency);
    if ((rc = cw__imp_money(im, PRICE, "price", im->exp, 1, &p.price)) ||
        (rc = cw__imp_money(im, COST, "cost", im->exp, 0, &p.cost)))
        return rc;
    /* an empty tracker means Shopify does not count this variant's stock */
    int tracked = im->idx[TRACKER] < 0 || *im->v[TRACKER];
    if (tracked && *im->v[INVENTORY]) {
        if ((rc = cw__imp_int(im, INVENTORY, "inventory", &inv)))
            return rc;
        p.inventory = inv < 0 ? 0 : inv; /* oversold: none left */
    }
    p.group = st->handle;
    p.title = cw__imp_opt(st->title);
    p.category = cw__imp_opt(st->category);
    p.attributes = attributes(im, st);
    p.flags = st->flags;
    return cw__imp_product(im, &p);
}

static void release(struct cw__imp *im)
{
    clear(im->st);
}

const struct cw__fmt cw__fmt_shopify_products = {
    cols, NCOLS, "USD", 0, sizeof(struct state), row, release};
