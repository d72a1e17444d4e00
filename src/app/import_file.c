/*
 * import_file.c: a store export into the store (cw_app_import_file), what
 * `cartwise import` does between parsing its flags and printing.
 *
 * The whole file is one store transaction: the parser (cw_import.h) hands
 * records to a sink that writes them in batches with the store's put_batch
 * (one round trip per batch to a PostgreSQL server) and counts which ones
 * were new, and any error rolls everything back, so a failed import leaves
 * the store exactly as it was and a repeated one adds nothing.
 */
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_csv.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_import.h"
#include "cartwise/cw_money.h"
#include "cartwise/cw_store.h"

/* Records wait in batches of CW_APP_IMPORT_BATCH that the store writes
 * with put_batch: one round trip per batch on PostgreSQL instead of one per
 * record. The parser lends a record's strings for its call only, so a
 * waiting record holds copies; and the file line it came from, since by the
 * time its batch is written the parser has read on. */
#define BATCH CW_APP_IMPORT_BATCH

struct waiting {
    long line;
    union {
        struct cw_product_rec product;
        struct cw_order_rec order;
        struct cw_line_rec line;
        struct cw_return_rec ret;
    } rec; /* strings owned */
};

struct sink_state {
    struct cw_store *store;
    struct cw_csv *csv; /* the file the records come from */
    struct cw_buf err;  /* the store's message when a write fails */
    char *failure;      /* owned: "FILE:LINE: cannot store ... (err)", the
                           line the record's, maybe well before the
                           parser's */
    struct cw_app_import_result *out; /* the counts of new records */
    char currency[4]; /* first currency the records carried, "" if none */
    struct cw_store_put *put; /* [BATCH], owned */
    struct waiting *wait;     /* [BATCH], owned */
    size_t n;                 /* records waiting */
};

static void note_currency(struct sink_state *st, const char *cur)
{
    if (!st->currency[0] && cur && cw_currency_valid(cur))
        memcpy(st->currency, cur, 4);
}

/* Frees the strings of waiting record i. */
static void drop(struct sink_state *st, size_t i)
{
    struct waiting *w = &st->wait[i];
    switch (st->put[i].kind) {
    case CW_STORE_PRODUCT:
        cw__app_product_release(&w->rec.product);
        return;
    case CW_STORE_ORDER:
        cw_free((char *)w->rec.order.id);
        cw_free((char *)w->rec.order.customer);
        cw_free((char *)w->rec.order.ts);
        cw_free((char *)w->rec.order.currency);
        return;
    case CW_STORE_LINE:
        cw_free((char *)w->rec.line.order_id);
        cw_free((char *)w->rec.line.sku);
        return;
    case CW_STORE_RETURN:
        cw__app_return_release(&w->rec.ret);
        return;
    }
}

/* Says which record failed as the parser would have said it of the record
 * in hand (import.c: "FILE:LINE: cannot store WHAT 'ID': ..."), with the
 * store's message after it. */
static void note_failure(struct sink_state *st, int rc, size_t i)
{
    const char *name = cw_csv_name(st->csv), *what = "record", *id = "";
    if (i < st->n) {
        const struct waiting *w = &st->wait[i];
        switch (st->put[i].kind) {
        case CW_STORE_PRODUCT:
            what = "product", id = w->rec.product.sku;
            break;
        case CW_STORE_ORDER:
            what = "order", id = w->rec.order.id;
            break;
        case CW_STORE_LINE:
            what = "line of order", id = w->rec.line.order_id;
            break;
        case CW_STORE_RETURN:
            what = "return", id = w->rec.ret.id;
            break;
        }
    }
    struct cw_buf b = CW_BUF_INIT;
    if (i < st->n)
        cw_buf_addf(&b, "%s:%ld: cannot store %s '%s': %s", name,
                    st->wait[i].line, what, id ? id : "", cw_strerror(rc));
    else /* not one record's fault: the connection, say */
        cw_buf_addf(&b,
                    "%s:%ld: cannot store the %zu records read up to here: "
                    "%s",
                    name, st->n ? st->wait[st->n - 1].line : 0L, st->n,
                    cw_strerror(rc));
    cw_buf_addf(&b, " (%s)",
                st->err.len ? cw_buf_str(&st->err) : cw_strerror(rc));
    cw_free(st->failure);
    st->failure = cw_buf_detach(&b, NULL);
}

/* Writes the waiting records; 0 or the store's CW_E* code (the message in
 * st->failure). */
static int flush(struct sink_state *st)
{
    if (!st->n)
        return 0;
    size_t failed = st->n;
    int rc =
        st->store->ops->put_batch(st->store, st->put, st->n, &failed, &st->err);
    if (rc < 0) {
        note_failure(st, rc, failed);
    } else {
        uint64_t *const added[] = {
            [CW_STORE_PRODUCT] = &st->out->new_products,
            [CW_STORE_ORDER] = &st->out->new_orders,
            [CW_STORE_LINE] = &st->out->new_lines,
            [CW_STORE_RETURN] = &st->out->new_returns,
        };
        for (size_t i = 0; i < st->n; i++)
            *added[st->put[i].kind] += st->put[i].added != 0;
    }
    for (size_t i = 0; i < st->n; i++)
        drop(st, i);
    st->n = 0;
    return rc < 0 ? rc : 0;
}

/* Takes the record just filled in at st->n into the batch; writes the
 * batch when it is full. */
static int wait_for_batch(struct sink_state *st, enum cw_store_kind kind)
{
    size_t i = st->n++;
    struct waiting *w = &st->wait[i];
    w->line = cw_csv_line(st->csv);
    st->put[i].kind = kind;
    st->put[i].added = 0;
    switch (kind) {
    case CW_STORE_PRODUCT:
        st->put[i].rec.product = &w->rec.product;
        break;
    case CW_STORE_ORDER:
        st->put[i].rec.order = &w->rec.order;
        break;
    case CW_STORE_LINE:
        st->put[i].rec.line = &w->rec.line;
        break;
    case CW_STORE_RETURN:
        st->put[i].rec.ret = &w->rec.ret;
        break;
    }
    return st->n == BATCH ? flush(st) : 0;
}

static int sink_product(void *ctx, const struct cw_product_rec *p)
{
    struct sink_state *st = ctx;
    st->out->products_no_cost += p->cost == CW_MONEY_UNKNOWN;
    note_currency(st, p->currency);
    cw__app_product_copy(&st->wait[st->n].rec.product, p);
    return wait_for_batch(st, CW_STORE_PRODUCT);
}

static int sink_order(void *ctx, const struct cw_order_rec *o)
{
    struct sink_state *st = ctx;
    note_currency(st, o->currency);
    struct cw_order_rec *c = &st->wait[st->n].rec.order;
    *c = *o;
    c->id = cw_strdup(o->id);
    c->customer = cw_strdup(o->customer);
    c->ts = cw_strdup(o->ts);
    c->currency = cw_strdup(o->currency);
    return wait_for_batch(st, CW_STORE_ORDER);
}

static int sink_line(void *ctx, const struct cw_line_rec *l)
{
    struct sink_state *st = ctx;
    struct cw_line_rec *c = &st->wait[st->n].rec.line;
    *c = *l;
    c->order_id = cw_strdup(l->order_id);
    c->sku = cw_strdup(l->sku);
    return wait_for_batch(st, CW_STORE_LINE);
}

static int sink_return(void *ctx, const struct cw_return_rec *r)
{
    struct sink_state *st = ctx;
    cw__app_return_copy(&st->wait[st->n].rec.ret, r);
    return wait_for_batch(st, CW_STORE_RETURN);
}

/* Runs the import inside the open transaction; returns a CW_E* code with
 * the message in err. */
static int run(const char *file, enum cw_import_format format,
               const struct cw_import_opts *opts, struct sink_state *st,
               struct cw_buf *err)
{
    struct cw_csv *csv = NULL;
    /* a Merchant Center feed is tab-separated whatever its file is called */
    int rc = cw_csv_open(&csv, file, format == CW_IMPORT_GMC ? '\t' : 0, err);
    if (rc < 0)
        return rc;
    st->csv = csv;
    struct cw_import_sink sink = {st, sink_product, sink_order, sink_line,
                                  sink_return};
    rc = cw_import_run(format, csv, opts, &sink, &st->out->stats, err);
    /* The records still waiting come from lines before any the parser
     * stopped at: a record among them that the store refuses is the first
     * error in the file, and the one to report, as it was when every
     * record was written at once. The parser's message for a failed batch
     * names the record in hand, not the one that failed. */
    if (!st->failure) {
        int wrc = flush(st);
        if (wrc < 0)
            rc = wrc;
    }
    if (st->failure)
        cw_err(err, rc, "%s", st->failure);
    st->csv = NULL;
    cw_csv_close(csv);
    return rc;
}

int cw_app_import_file(struct cw_store *s, const char *file,
                       enum cw_import_format format,
                       const struct cw_import_opts *opts,
                       struct cw_app_import_result *out, struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    char *stored_currency = NULL;
    struct cw_import_opts io = *opts;
    if (!io.currency &&
        s->ops->meta_get(s, "currency", &stored_currency, NULL) == 0)
        io.currency = stored_currency;

    struct sink_state st;
    memset(&st, 0, sizeof(st));
    st.store = s;
    st.out = out;
    st.put = cw_calloc(BATCH, sizeof(*st.put));
    st.wait = cw_calloc(BATCH, sizeof(*st.wait));

    int code = s->ops->begin(s, err);
    if (code == 0) {
        code = run(file, format, &io, &st, err);
        /* remember the prices' currency for training: the one given, else
         * the one the file's records carried (formats know their own) */
        const char *remember = opts->currency    ? opts->currency
                               : stored_currency ? NULL
                               : st.currency[0]  ? st.currency
                                                 : NULL;
        if (code == 0 && remember)
            code = s->ops->meta_set(s, "currency", remember, err);
        if (code == 0) {
            code = s->ops->commit(s, err);
        } else {
            struct cw_buf rerr = CW_BUF_INIT;
            if (s->ops->rollback(s, &rerr) < 0)
                cw_buf_addf(err, " (and the rollback failed: %s)",
                            cw_buf_str(&rerr));
            cw_buf_release(&rerr);
        }
    }
    cw_free(stored_currency);
    cw_free(st.put); /* run() wrote or dropped every record */
    cw_free(st.wait);
    cw_free(st.failure);
    cw_buf_release(&st.err);
    return code;
}
