/*
 * imp_catalog.c: cartwise's own catalog CSV (columns in docs/import.md).
 *
 * One row per sellable SKU; only sku and price are required. This is the
 * format for shops whose platform has no importer here, and the only one
 * that carries every product field cartwise uses (flags, good/better/best
 * tiers, pack sizes), so its checks are strict: an unknown flag or a
 * malformed attribute list is an error rather than a silent loss.
 */
#include <string.h>
#include <strings.h>

#include "cartwise/cw_money.h"
#include "cartwise/cw_records.h"
#include "import/import_int.h"

enum {
    SKU,
    GROUP,
    TITLE,
    CATEGORY,
    PRICE,
    COST,
    CURRENCY,
    INVENTORY,
    ATTRIBUTES,
    FLAGS,
    TIER_GROUP,
    TIER_LEVEL,
    PACK_SIZE,
    NCOLS
};

static const struct cw__col cols[NCOLS] = {
    [SKU] = {"sku", NULL, 1},
    [GROUP] = {"group", NULL, 0},
    [TITLE] = {"title", NULL, 0},
    [CATEGORY] = {"category", NULL, 0},
    [PRICE] = {"price", NULL, 1},
    [COST] = {"cost", NULL, 0},
    [CURRENCY] = {"currency", NULL, 0},
    [INVENTORY] = {"inventory", NULL, 0},
    [ATTRIBUTES] = {"attributes", NULL, 0},
    [FLAGS] = {"flags", NULL, 0},
    [TIER_GROUP] = {"tier_group", NULL, 0},
    [TIER_LEVEL] = {"tier_level", NULL, 0},
    [PACK_SIZE] = {"pack_size", NULL, 0},
};

static const struct {
    const char *name;
    unsigned flag;
} flag_names[] = {
    {"accessory", CW_FLAG_ACCESSORY},
    {"consumable", CW_FLAG_CONSUMABLE},
    {"inactive", CW_FLAG_INACTIVE},
    {"protection", CW_FLAG_PROTECTION},
    {"simple_variants", CW_FLAG_SIMPLE_VARIANTS},
};

/* "accessory|consumable": names separated by '|', blanks around them
 * allowed, case ignored. Returns 0 and the flags, or -1. */
static int parse_flags(const char *s, unsigned *out)
{
    *out = 0;
    while (*s) {
        while (*s == ' ')
            s++;
        size_t n = strcspn(s, "|");
        size_t m = n;
        while (m && s[m - 1] == ' ')
            m--;
        if (m) {
            size_t i = 0, nn = sizeof(flag_names) / sizeof(*flag_names);
            while (i < nn && (strlen(flag_names[i].name) != m ||
                              strncasecmp(flag_names[i].name, s, m)))
                i++;
            if (i == nn)
                return -1;
            *out |= flag_names[i].flag;
        }
        s += n;
        if (*s == '|')
            s++;
    }
    return 0;
}

/* "size=M;color=red": every non-empty item needs a non-empty name and '='. */
static int attributes_ok(const char *s)
{
    while (*s) {
        size_t n = strcspn(s, ";");
        const char *eq = memchr(s, '=', n);
        size_t lead = strspn(s, " ");
        if (lead < n && (!eq || eq == s + lead))
            return 0;
        s += n;
        if (*s == ';')
            s++;
    }
    return 1;
}

static int parse_tier(const char *s, int *out)
{
    static const char *const words[] = {"good", "better", "best"};
    if (!*s) {
        *out = 0;
        return 0;
    }
    if (s[0] >= '0' && s[0] <= '3' && !s[1]) {
        *out = s[0] - '0';
        return 0;
    }
    for (int i = 0; i < 3; i++)
        if (!strcasecmp(s, words[i])) {
            *out = i + 1;
            return 0;
        }
    return -1;
}

static int row(struct cw__imp *im)
{
    struct cw_product_rec p;
    char cur[4];
    int64_t v;
    int rc;
    if (!*im->v[SKU])
        return cw__imp_bad(im, SKU, "empty sku");
    cw__imp_product_init(&p, im->v[SKU], NULL);
    if ((rc = cw__imp_currency(im, CURRENCY, cur)))
        return rc;
    p.currency = cur;
    int exp = cw_currency_exponent(cur);
    if ((rc = cw__imp_money(im, PRICE, "price", exp, 1, &p.price)) ||
        (rc = cw__imp_money(im, COST, "cost", exp, 0, &p.cost)))
        return rc;
    if (*im->v[INVENTORY]) {
        if ((rc = cw__imp_int(im, INVENTORY, "inventory", &v)))
            return rc;
        if (v < 0)
            return cw__imp_bad(im, INVENTORY, "negative inventory");
        p.inventory = v;
    }
    if (!attributes_ok(im->v[ATTRIBUTES]))
        return cw__imp_bad(im, ATTRIBUTES,
                           "bad attributes, want 'size=M;color=red'");
    if (parse_flags(im->v[FLAGS], &p.flags))
        return cw__imp_bad(im, FLAGS, "unknown flag");
    if (parse_tier(im->v[TIER_LEVEL], &p.tier_level))
        return cw__imp_bad(im, TIER_LEVEL, "bad tier level, want 1..3");
    if (*im->v[PACK_SIZE]) {
        if ((rc = cw__imp_int(im, PACK_SIZE, "pack size", &v)))
            return rc;
        if (v < 1 || v > 1000000)
            return cw__imp_bad(im, PACK_SIZE, "pack size out of range");
        p.pack_size = (int)v;
    }
    p.group = cw__imp_opt(im->v[GROUP]);
    p.title = cw__imp_opt(im->v[TITLE]);
    p.category = cw__imp_opt(im->v[CATEGORY]);
    p.attributes = cw__imp_opt(im->v[ATTRIBUTES]);
    p.tier_group = cw__imp_opt(im->v[TIER_GROUP]);
    return cw__imp_product(im, &p);
}

const struct cw__fmt cw__fmt_catalog = {cols, NCOLS, "USD", 0, 0, row, NULL};
