/*
 * records.c: owned copies of the records the importer hands out (its
 * strings live only for the call), for what keeps them longer: training's
 * catalog and returns, the import's batches.
 */
#include "app/app.h"
#include "cartwise/cw_alloc.h"

void cw__app_product_copy(struct cw_product_rec *dst,
                          const struct cw_product_rec *src)
{
    *dst = *src;
    dst->sku = cw_strdup(src->sku);
    dst->group = cw_strdup(src->group);
    dst->title = cw_strdup(src->title);
    dst->category = cw_strdup(src->category);
    dst->currency = cw_strdup(src->currency);
    dst->attributes = cw_strdup(src->attributes);
    dst->tier_group = cw_strdup(src->tier_group);
}

void cw__app_product_release(struct cw_product_rec *p)
{
    cw_free((char *)p->sku);
    cw_free((char *)p->group);
    cw_free((char *)p->title);
    cw_free((char *)p->category);
    cw_free((char *)p->currency);
    cw_free((char *)p->attributes);
    cw_free((char *)p->tier_group);
}

void cw__app_return_copy(struct cw_return_rec *dst,
                         const struct cw_return_rec *src)
{
    *dst = *src;
    dst->id = cw_strdup(src->id);
    dst->order_id = cw_strdup(src->order_id);
    dst->customer = cw_strdup(src->customer);
    dst->sku = cw_strdup(src->sku);
    dst->ts = cw_strdup(src->ts);
}

void cw__app_return_release(struct cw_return_rec *r)
{
    cw_free((char *)r->id);
    cw_free((char *)r->order_id);
    cw_free((char *)r->customer);
    cw_free((char *)r->sku);
    cw_free((char *)r->ts);
}
