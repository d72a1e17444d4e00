/*
 * model.c: the model file format, its validation and its lookups.
 *
 * Layout (little-endian, the machine's struct layout, checked on load):
 *   "CWMODEL\0" | u32 format | u32 byte-order mark | u32 struct sizes[5] |
 *   u32 nsect | nsect x {u32 id, u32 0, u64 offset, u64 length} |
 *   sections, each 8-byte aligned | u64 xxh3 of all bytes before it.
 * Every count is derived from a section length, and decoding checks every
 * index stored in the file against the array it points into, so a file that
 * passes the checksum but was crafted or truncated still cannot make the
 * decision read out of bounds.
 */
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_model.h"
#include "model_int.h"
#include "train_int.h"

#define MAGIC "CWMODEL"
#define BOM 0x01020304u

enum sect {
    S_META = 1,
    S_ITEMS,
    S_ITEM_SKU,
    S_NBR_OFF,
    S_NBRS,
    S_GROUP_NAME,
    S_GROUP_OFF,
    S_GROUP_ITEMS,
    S_CATEGORY_NAME,
    S_POPULAR,
    S_CUSTOMER_ID,
    S_CUSTOMERS,
    S_HIST,
    S_STRINGS,
    S__COUNT
};

struct sect_hdr {
    uint32_t id, pad;
    uint64_t off, len;
};

struct file_hdr {
    char magic[8];
    uint32_t format, bom;
    uint32_t sizes[5];
    uint32_t nsect;
};

static void struct_sizes(uint32_t out[5])
{
    out[0] = sizeof(struct cw_model_meta);
    out[1] = sizeof(struct cw_item);
    out[2] = sizeof(struct cw_nbr);
    out[3] = sizeof(struct cw_customer);
    out[4] = sizeof(struct cw_hist);
}

int cw__model_build(const struct cw__model_parts *p, struct cw_buf *out)
{
    size_t nnz = p->nbr_off[p->n_items];
    const struct {
        const void *data;
        size_t len;
    } s[S__COUNT] = {
        [S_META] = {&p->meta, sizeof(p->meta)},
        [S_ITEMS] = {p->items, p->n_items * sizeof(*p->items)},
        [S_ITEM_SKU] = {p->item_sku, p->n_items * sizeof(uint32_t)},
        [S_NBR_OFF] = {p->nbr_off, (p->n_items + 1) * sizeof(uint32_t)},
        [S_NBRS] = {p->nbrs, nnz * sizeof(*p->nbrs)},
        [S_GROUP_NAME] = {p->group_name, p->n_groups * sizeof(uint32_t)},
        [S_GROUP_OFF] = {p->group_off, (p->n_groups + 1) * sizeof(uint32_t)},
        [S_GROUP_ITEMS] = {p->group_items, p->n_items * sizeof(uint32_t)},
        [S_CATEGORY_NAME] = {p->category_name,
                             p->n_categories * sizeof(uint32_t)},
        [S_POPULAR] = {p->popular, p->n_popular * sizeof(uint32_t)},
        [S_CUSTOMER_ID] = {p->customer_id, p->n_customers * sizeof(uint32_t)},
        [S_CUSTOMERS] = {p->customers, p->n_customers * sizeof(*p->customers)},
        [S_HIST] = {p->hist, p->n_hist * sizeof(*p->hist)},
        [S_STRINGS] = {p->strings, p->strings_len},
    };
    size_t base = out->len;
    struct file_hdr h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, MAGIC, sizeof(MAGIC));
    h.format = CW_MODEL_FORMAT;
    h.bom = BOM;
    struct_sizes(h.sizes);
    h.nsect = S__COUNT - 1;
    struct sect_hdr tab[S__COUNT - 1];
    size_t off = sizeof(h) + sizeof(tab);
    for (int i = 1; i < S__COUNT; i++) {
        off = (off + 7) & ~(size_t)7;
        tab[i - 1] = (struct sect_hdr){(uint32_t)i, 0, off, s[i].len};
        off += s[i].len;
    }
    int rc = cw_buf_add(out, &h, sizeof(h));
    if (!rc)
        rc = cw_buf_add(out, tab, sizeof(tab));
    static const char zeros[8];
    for (int i = 1; !rc && i < S__COUNT; i++) {
        size_t pad = tab[i - 1].off - (out->len - base);
        rc = cw_buf_add(out, zeros, pad);
        if (!rc && s[i].len)
            rc = cw_buf_add(out, s[i].data, s[i].len);
    }
    if (!rc) {
        size_t pad = ((out->len - base + 7) & ~(size_t)7) - (out->len - base);
        rc = cw_buf_add(out, zeros, pad);
    }
    if (!rc) {
        uint64_t sum = cw_xxh3(out->buf + base, out->len - base);
        rc = cw_buf_add(out, &sum, sizeof(sum));
    }
    return rc;
}

#define BAD(...) cw_err(err, CW_ECORRUPT, __VA_ARGS__)

static int check_strs(const struct cw_model *m, const uint32_t *offs, size_t n,
                      const char *what, struct cw_buf *err)
{
    for (size_t i = 0; i < n; i++)
        if (offs[i] >= m->strings_len)
            return BAD("model file damaged: %s %zu out of range", what, i);
    return 0;
}

static int check_idx(const uint32_t *v, size_t n, uint32_t lim,
                     const char *what, struct cw_buf *err)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] >= lim)
            return BAD("model file damaged: %s %zu out of range", what, i);
    return 0;
}

static int check_off(const uint32_t *off, size_t n, size_t total,
                     const char *what, struct cw_buf *err)
{
    if (off[0] != 0 || off[n] != total)
        return BAD("model file damaged: %s bounds", what);
    for (size_t i = 0; i < n; i++)
        if (off[i] > off[i + 1])
            return BAD("model file damaged: %s not ordered", what);
    return 0;
}

static int validate(const struct cw_model *m, size_t nnz, size_t nhist,
                    struct cw_buf *err)
{
    int rc;
    if (!m->strings_len || m->strings[m->strings_len - 1] != '\0')
        return BAD("model file damaged: string table");
    if (!m->n_categories || !m->n_groups)
        return BAD("model file damaged: empty tables");
    if (m->meta.rank_n > CW_RANK_MAX)
        return BAD("model file damaged: re-ranker size %u", m->meta.rank_n);
    if ((rc = check_strs(m, m->item_sku, m->n_items, "sku", err)) ||
        (rc = check_strs(m, m->group_name, m->n_groups, "group", err)) ||
        (rc = check_strs(m, m->category_name, m->n_categories, "category",
                         err)) ||
        (rc = check_strs(m, m->customer_id, m->n_customers, "customer", err)) ||
        (rc = check_off(m->nbr_off, m->n_items, nnz, "neighbours", err)) ||
        (rc =
             check_off(m->group_off, m->n_groups, m->n_items, "groups", err)) ||
        (rc = check_idx(m->group_items, m->n_items, m->n_items, "group item",
                        err)) ||
        (rc = check_idx(m->popular, m->n_popular, m->n_items, "popular", err)))
        return rc;
    for (uint32_t i = 0; i < m->n_items; i++) {
        const struct cw_item *it = &m->items[i];
        if (it->group >= m->n_groups || it->category >= m->n_categories ||
            it->title >= m->strings_len || it->attrs >= m->strings_len)
            return BAD("model file damaged: item %u", i);
    }
    for (size_t i = 0; i < nnz; i++)
        if (m->nbrs[i].item >= m->n_items)
            return BAD("model file damaged: neighbour %zu", i);
    for (uint32_t c = 0; c < m->n_customers; c++) {
        const struct cw_customer *cu = &m->customers[c];
        if ((uint64_t)cu->hist_off + cu->n_hist > nhist)
            return BAD("model file damaged: customer %u history", c);
    }
    for (size_t i = 0; i < nhist; i++)
        if (m->hist[i].item >= m->n_items)
            return BAD("model file damaged: history %zu", i);
    return 0;
}

static int build_index(struct cw_intern *t, const struct cw_model *m,
                       const uint32_t *offs, size_t n, const char *what,
                       struct cw_buf *err)
{
    cw_intern_init(t);
    for (size_t i = 0; i < n; i++) {
        const char *s = m->strings + offs[i];
        int added;
        cw_intern_add(t, s, strlen(s), &added);
        if (!added)
            return BAD("model file damaged: duplicate %s '%s'", what, s);
    }
    return 0;
}

int cw_model_decode(struct cw_model *m, const void *data, size_t n,
                    struct cw_buf *err)
{
    memset(m, 0, sizeof(*m));
    const unsigned char *p = data;
    struct file_hdr h;
    if (n < sizeof(h) + 8)
        return BAD("model file damaged: too short (%zu bytes)", n);
    memcpy(&h, p, sizeof(h));
    if (memcmp(h.magic, MAGIC, sizeof(MAGIC)))
        return BAD("not a cartwise model file");
    if (h.format != CW_MODEL_FORMAT)
        return BAD("model format %u, this cartwise reads %u: retrain", h.format,
                   CW_MODEL_FORMAT);
    uint32_t sizes[5];
    struct_sizes(sizes);
    if (h.bom != BOM || memcmp(h.sizes, sizes, sizeof(sizes)))
        return BAD("model file was written on an incompatible machine");
    uint64_t sum;
    memcpy(&sum, p + n - 8, 8);
    if (sum != cw_xxh3(p, n - 8))
        return BAD("model file damaged: checksum mismatch");
    if (h.nsect != S__COUNT - 1 ||
        sizeof(h) + h.nsect * sizeof(struct sect_hdr) > n - 8)
        return BAD("model file damaged: section table");
    const void *sec[S__COUNT] = {0};
    size_t len[S__COUNT] = {0};
    for (uint32_t i = 0; i < h.nsect; i++) {
        struct sect_hdr s;
        memcpy(&s, p + sizeof(h) + i * sizeof(s), sizeof(s));
        if (s.id != i + 1 || s.off % 8 || s.off > n - 8 ||
            s.len > n - 8 - s.off)
            return BAD("model file damaged: section %u", i + 1);
        sec[s.id] = p + s.off;
        len[s.id] = s.len;
    }
    if (len[S_META] != sizeof(m->meta) ||
        len[S_ITEMS] % sizeof(struct cw_item) ||
        len[S_NBRS] % sizeof(struct cw_nbr) ||
        len[S_CUSTOMERS] % sizeof(struct cw_customer) ||
        len[S_HIST] % sizeof(struct cw_hist))
        return BAD("model file damaged: section sizes");
    memcpy(&m->meta, sec[S_META], sizeof(m->meta));
    m->n_items = (uint32_t)(len[S_ITEMS] / sizeof(struct cw_item));
    m->n_groups = (uint32_t)(len[S_GROUP_NAME] / 4);
    m->n_categories = (uint32_t)(len[S_CATEGORY_NAME] / 4);
    m->n_customers = (uint32_t)(len[S_CUSTOMERS] / sizeof(struct cw_customer));
    m->n_popular = (uint32_t)(len[S_POPULAR] / 4);
    size_t nnz = len[S_NBRS] / sizeof(struct cw_nbr);
    size_t nhist = len[S_HIST] / sizeof(struct cw_hist);
    if (len[S_ITEM_SKU] != m->n_items * 4ull ||
        len[S_NBR_OFF] != (m->n_items + 1) * 4ull ||
        len[S_GROUP_OFF] != (m->n_groups + 1) * 4ull ||
        len[S_GROUP_ITEMS] != m->n_items * 4ull ||
        len[S_CUSTOMER_ID] != m->n_customers * 4ull)
        return BAD("model file damaged: section sizes");
    m->items = sec[S_ITEMS];
    m->item_sku = sec[S_ITEM_SKU];
    m->nbr_off = sec[S_NBR_OFF];
    m->nbrs = sec[S_NBRS];
    m->group_name = sec[S_GROUP_NAME];
    m->group_off = sec[S_GROUP_OFF];
    m->group_items = sec[S_GROUP_ITEMS];
    m->category_name = sec[S_CATEGORY_NAME];
    m->popular = sec[S_POPULAR];
    m->customer_id = sec[S_CUSTOMER_ID];
    m->customers = sec[S_CUSTOMERS];
    m->hist = sec[S_HIST];
    m->strings = sec[S_STRINGS];
    m->strings_len = len[S_STRINGS];
    m->raw = data;
    m->raw_len = n;
    int rc = validate(m, nnz, nhist, err);
    if (!rc)
        rc = build_index(&m->sku_index, m, m->item_sku, m->n_items, "sku", err);
    if (!rc)
        rc = build_index(&m->customer_index, m, m->customer_id, m->n_customers,
                         "customer", err);
    if (rc) {
        cw_intern_release(&m->sku_index);
        cw_intern_release(&m->customer_index);
        memset(m, 0, sizeof(*m));
    }
    return rc;
}

int cw_model_encode(const struct cw_model *m, struct cw_buf *out)
{
    return cw_buf_add(out, m->raw, m->raw_len);
}

void cw_model_release(struct cw_model *m)
{
    if (!m)
        return;
    cw_intern_release(&m->sku_index);
    cw_intern_release(&m->customer_index);
    cw_free(m->owned);
    memset(m, 0, sizeof(*m));
}

long cw_model_find_sku(const struct cw_model *m, const char *sku)
{
    return sku ? cw_intern_find(&m->sku_index, sku, strlen(sku)) : -1;
}

long cw_model_find_customer(const struct cw_model *m, const char *id)
{
    return id && *id ? cw_intern_find(&m->customer_index, id, strlen(id)) : -1;
}
