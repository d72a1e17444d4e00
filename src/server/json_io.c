/*
 * json_io.c: request bodies (jansson) into the core's plain structs.
 *
 * Every check names the bad value by its JSON path ("cart[2].qty",
 * "orders[0].lines[3].unit_price") so that a 422 tells the client exactly
 * what to fix. Rules: a body that is not JSON, or not an object, is 400;
 * everything about a field (missing, wrong type, out of range, too long,
 * too many items) is 422. Unknown fields are ignored, so that clients can
 * send what later versions add. Optional fields may be absent or null.
 * Strings stay inside the json_t (or the request arena) and are borrowed by
 * the records: the caller keeps root alive while it uses them.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cartwise/cw_money.h"
#include "server/server.h"

/* ---- errors ---- */

const char *cw_srv_error_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 429:
        return "rate_limit_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

int cw_srv_fail(struct cw_srv_error *e, int status, const char *code,
                const char *field, const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    e->type = cw_srv_error_type(status);
    e->code = code;
    snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- JSON paths ---- */

/* out = base.name, or name when base is empty. */
static const char *fpath(char *out, size_t size, const char *base,
                         const char *name)
{
    int n;
    if (!base || !*base)
        n = snprintf(out, size, "%s", name);
    else if (!name || !*name)
        n = snprintf(out, size, "%s", base);
    else
        n = snprintf(out, size, "%s.%s", base, name);
    if (n < 0)
        out[0] = '\0'; /* a longer path is cut: still names the field */
    return out;
}

#define PATH(base, name) fpath(pbuf, sizeof(pbuf), (base), (name))

static int bad(struct cw_srv_error *e, const char *code, const char *base,
               const char *name, const char *fmt, const char *what)
{
    char pbuf[160];
    const char *p = PATH(base, name);
    return cw_srv_fail(e, 422, code, p, fmt, p, what);
}

static int missing(struct cw_srv_error *e, const char *base, const char *name)
{
    return bad(e, "missing_field", base, name, "%s is required%s", "");
}

static int wrong_type(struct cw_srv_error *e, const char *base,
                      const char *name, const char *want)
{
    return bad(e, "invalid_type", base, name, "%s must be %s", want);
}

/* ---- field getters: absent and null are the same ---- */

static json_t *field(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return v && !json_is_null(v) ? v : NULL;
}

/* A string of 1..maxlen bytes. Optional: absent, null and "" give NULL. */
static int get_str(json_t *obj, const char *name, const char *base,
                   int required, size_t maxlen, const char **out,
                   struct cw_srv_error *e)
{
    json_t *v = field(obj, name);
    *out = NULL;
    if (!v)
        return required ? missing(e, base, name) : 0;
    if (!json_is_string(v))
        return wrong_type(e, base, name, "a string");
    size_t n = json_string_length(v);
    if (n == 0) {
        if (required)
            return bad(e, "invalid_value", base, name, "%s must not be empty%s",
                       "");
        return 0;
    }
    if (n > maxlen) {
        char lim[32];
        snprintf(lim, sizeof(lim), "%zu", maxlen);
        return bad(e, "invalid_value", base, name, "%s is longer than %s bytes",
                   lim);
    }
    *out = json_string_value(v);
    return 0;
}

/* An id: a string, or an integer turned into one in buf (size >= 24). */
static int get_id(json_t *obj, const char *name, const char *base, int required,
                  const char **out, char *buf, struct cw_srv_error *e)
{
    json_t *v = field(obj, name);
    if (v && json_is_integer(v)) {
        snprintf(buf, 24, "%lld", (long long)json_integer_value(v));
        *out = buf;
        return 0;
    }
    if (v && !json_is_string(v)) {
        *out = NULL;
        return wrong_type(e, base, name, "a string");
    }
    return get_str(obj, name, base, required, CW_SRV_ID_MAX, out, e);
}

static int get_int(json_t *obj, const char *name, const char *base,
                   int required, int64_t min, int64_t max, int64_t dflt,
                   int64_t *out, struct cw_srv_error *e)
{
    json_t *v = field(obj, name);
    *out = dflt;
    if (!v)
        return required ? missing(e, base, name) : 0;
    if (!json_is_integer(v))
        return wrong_type(e, base, name, "an integer");
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) {
        char range[64];
        snprintf(range, sizeof(range), "between %lld and %lld", (long long)min,
                 (long long)max);
        return bad(e, "invalid_value", base, name, "%s must be %s", range);
    }
    *out = (int64_t)x;
    return 0;
}

/* Money in minor units, >= 0; absent: dflt. */
static int get_money(json_t *obj, const char *name, const char *base,
                     int required, int64_t dflt, int64_t *out,
                     struct cw_srv_error *e)
{
    json_t *v = field(obj, name);
    if (v && json_is_integer(v) &&
        (json_integer_value(v) < 0 || json_integer_value(v) > CW_SRV_MONEY_MAX))
        return bad(e, "invalid_value", base, name,
                   "%s must be an amount in minor units, 0 to 10^15%s", "");
    return get_int(obj, name, base, required, 0, CW_SRV_MONEY_MAX, dflt, out,
                   e);
}

/* An array of 1..max items (0..max when !nonempty). */
static int get_array(json_t *obj, const char *name, const char *base,
                     int required, int nonempty, size_t max, json_t **out,
                     struct cw_srv_error *e)
{
    json_t *v = field(obj, name);
    *out = NULL;
    if (!v)
        return required ? missing(e, base, name) : 0;
    if (!json_is_array(v))
        return wrong_type(e, base, name, "an array");
    size_t n = json_array_size(v);
    char lim[48];
    if (nonempty && n == 0)
        return bad(e, "invalid_value", base, name, "%s must not be empty%s",
                   "");
    if (n > max) {
        snprintf(lim, sizeof(lim), "%zu items", max);
        return bad(e, "too_many_items", base, name, "%s has more than %s", lim);
    }
    *out = v;
    return 0;
}

static int get_currency(json_t *obj, const char *name, const char *base,
                        const char **out, struct cw_srv_error *e)
{
    if (get_str(obj, name, base, 0, 3, out, e) < 0)
        return -1;
    if (*out && !cw_currency_valid(*out))
        return bad(e, "invalid_value", base, name,
                   "%s must be an ISO-4217 code such as GBP%s", "");
    return 0;
}

/* ---- loading ---- */

int cw_srv_json_load(const char *body, size_t n, json_t **root,
                     struct cw_srv_error *e)
{
    json_error_t je;
    *root = NULL;
    if (n == 0)
        return cw_srv_fail(e, 400, "invalid_json", NULL,
                           "the body is empty: a JSON object is expected");
    json_t *v = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!v)
        return cw_srv_fail(e, 400, "invalid_json", NULL,
                           "malformed JSON at line %d column %d: %s", je.line,
                           je.column, je.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return cw_srv_fail(e, 400, "invalid_body", NULL,
                           "the body must be a JSON object");
    }
    *root = v;
    return 0;
}

/* ---- time ---- */

static int num(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return 0;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 1;
}

/* Parses ISO-8601 date-time: fields, and the zone offset in seconds
 * (*has_zone 0 when none). */
static int parse_iso(const char *s, struct tm *tm, long *offset, int *has_zone)
{
    int y, mo, d, h, mi, sec = 0;
    const char *p = s;
    *offset = 0;
    *has_zone = 0;
    if (!num(&p, 4, &y) || *p++ != '-' || !num(&p, 2, &mo) || *p++ != '-' ||
        !num(&p, 2, &d))
        return 0;
    if (!*p) { /* a date alone: its midnight */
        h = mi = 0;
    } else {
        if (*p != 'T' && *p != ' ' && *p != 't')
            return 0;
        p++;
        if (!num(&p, 2, &h) || *p++ != ':' || !num(&p, 2, &mi))
            return 0;
    }
    if (*p == ':') {
        p++;
        if (!num(&p, 2, &sec))
            return 0;
        if (*p == '.' || *p == ',') {
            p++;
            if (!isdigit((unsigned char)*p))
                return 0;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        *has_zone = 1;
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (!num(&p, 2, &oh))
            return 0;
        if (*p == ':')
            p++;
        if (*p && !num(&p, 2, &om))
            return 0;
        if (oh > 23 || om > 59)
            return 0;
        *offset = sign * (oh * 3600L + om * 60L);
        *has_zone = 1;
    }
    if (*p)
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return 0;
    memset(tm, 0, sizeof(*tm));
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = sec;
    return 1;
}

int cw_srv_order_ts(const char *s, char out[20])
{
    struct tm tm;
    long off;
    int zone;
    if (!s || !parse_iso(s, &tm, &off, &zone))
        return 0;
    char buf[64];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    memcpy(out, buf, 20);
    return 1;
}

int cw_srv_event_ts(const char *s, char out[21])
{
    struct tm tm;
    long off;
    int zone;
    if (!s || !parse_iso(s, &tm, &off, &zone))
        return 0;
    time_t t = timegm(&tm) - off;
    struct tm u;
    if (!gmtime_r(&t, &u) || u.tm_year + 1900 < 1 || u.tm_year + 1900 > 9999)
        return 0;
    char buf[64];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ",
             u.tm_year + 1900, u.tm_mon + 1, u.tm_mday, u.tm_hour, u.tm_min,
             u.tm_sec);
    memcpy(out, buf, 21);
    return 1;
}

void cw_srv_now_iso(char *out, size_t size, int ms)
{
    /* the formatted second is cached per thread: this runs per request */
    static _Thread_local time_t last = (time_t)-1;
    static _Thread_local char sec[80]; /* "YYYY-MM-DDTHH:MM:SS" */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != last) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(sec, sizeof(sec), "%04d-%02d-%02dT%02d:%02d:%02d",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        last = ts.tv_sec;
    }
    if (size < 26 || strlen(sec) > 19) {
        if (size)
            out[0] = '\0';
        return;
    }
    size_t n = strlen(sec);
    memcpy(out, sec, n);
    if (ms) {
        long msec = ts.tv_nsec / 1000000L;
        out[n++] = '.';
        out[n++] = (char)('0' + msec / 100);
        out[n++] = (char)('0' + msec / 10 % 10);
        out[n++] = (char)('0' + msec % 10);
    }
    out[n++] = 'Z';
    out[n] = '\0';
}

/* ---- POST /v1/decide ---- */

static int parse_placement(json_t *obj, const char *name, const char *base,
                           int required, int *out, struct cw_srv_error *e)
{
    const char *s;
    if (get_str(obj, name, base, required, 16, &s, e) < 0)
        return -1;
    if (!s)
        return 0;
    if (!strcmp(s, "product"))
        *out = CW_PLACE_PRODUCT;
    else if (!strcmp(s, "cart"))
        *out = CW_PLACE_CART;
    else if (!strcmp(s, "checkout"))
        *out = CW_PLACE_CHECKOUT;
    else
        return bad(e, "invalid_value", base, name,
                   "%s must be product, cart or checkout%s", "");
    return 0;
}

/* "cart_order": in which order the cart's lines come (default oldest
 * first, the order they were added in). */
static int parse_cart_order(json_t *obj, int *newest_first,
                            struct cw_srv_error *e)
{
    const char *s;
    *newest_first = 0;
    if (get_str(obj, "cart_order", "", 0, 16, &s, e) < 0)
        return -1;
    if (!s || !strcmp(s, "oldest_first"))
        return 0;
    if (!strcmp(s, "newest_first")) {
        *newest_first = 1;
        return 0;
    }
    return bad(e, "invalid_value", "", "cart_order",
               "%s must be oldest_first or newest_first%s", "");
}

int cw_srv_parse_decide(json_t *root, struct cw_srv_decide *out,
                        struct cw_srv_error *e)
{
    int64_t k;
    int placement = CW_PLACE_CART;
    json_t *cart;
    out->n_lines = 0;
    if (get_str(root, "session_id", "", 1, CW_SRV_ID_MAX, &out->session_id, e) <
            0 ||
        get_id(root, "customer_id", "", 0, &out->customer_id, out->customer_buf,
               e) < 0 ||
        parse_placement(root, "placement", "", 0, &placement, e) < 0 ||
        get_int(root, "k", "", 0, 1, CW_DECIDE_MAX, CW_DECIDE_MAX, &k, e) < 0 ||
        parse_cart_order(root, &out->newest_first, e) < 0 ||
        get_array(root, "cart", "", 1, 1, CW_CART_MAX, &cart, e) < 0)
        return -1;
    out->placement = (enum cw_placement)placement;
    out->k = (unsigned)k;
    size_t i;
    json_t *line;
    char base[32];
    json_array_foreach(cart, i, line)
    {
        snprintf(base, sizeof(base), "cart[%zu]", i);
        if (!json_is_object(line))
            return wrong_type(e, base, "", "an object");
        struct cw_cart_line *l = &out->lines[i];
        int64_t qty, price;
        if (get_str(line, "sku", base, 1, CW_SRV_ID_MAX, &l->sku, e) < 0 ||
            get_str(line, "variant", base, 0, CW_SRV_ID_MAX, &out->variant[i],
                    e) < 0 ||
            get_int(line, "qty", base, 0, 1, 100000, 1, &qty, e) < 0 ||
            get_money(line, "price", base, 0, CW_MONEY_UNKNOWN, &price, e) < 0)
            return -1;
        l->qty = qty;
        l->price = price;
    }
    out->n_lines = json_array_size(cart);
    return 0;
}

void cw_srv_incentive_session_init(struct cw_incentive_session *is)
{
    memset(is, 0, sizeof(*is));
    is->cart_views = -1;
    is->seconds_on_cart = -1;
    is->mobile = -1;
}

/* The incentives' session signals of a decide request: coupon, context. */
static int opt_count(json_t *o, const char *key, const char *path, int64_t max,
                     int64_t *out, struct cw_srv_error *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > max)
        return cw_srv_fail(e, 422, "invalid_value", path,
                           "%s must be an integer between 0 and %lld", path,
                           (long long)max);
    *out = json_integer_value(v);
    return 0;
}

int cw_srv_parse_decide_incentives(json_t *root,
                                   struct cw_incentive_session *out,
                                   struct cw_srv_error *e)
{
    cw_srv_incentive_session_init(out);
    int64_t coupon = 0, views = -1, secs = -1;
    if (opt_count(root, "coupon", "coupon", CW_PRICE_MAX, &coupon, e) < 0)
        return -1;
    out->coupon = coupon;
    json_t *ctx = json_object_get(root, "context");
    if (!ctx || json_is_null(ctx))
        return 0;
    if (!json_is_object(ctx))
        return cw_srv_fail(e, 422, "invalid_value", "context",
                           "context must be an object");
    if (opt_count(ctx, "cart_views", "context.cart_views", 1000000, &views, e) <
            0 ||
        opt_count(ctx, "seconds_on_cart", "context.seconds_on_cart", 100000000,
                  &secs, e) < 0)
        return -1;
    out->cart_views = (int)views;
    out->seconds_on_cart = secs;
    json_t *dv = json_object_get(ctx, "device");
    if (dv && !json_is_null(dv)) {
        const char *d = json_string_value(dv);
        if (!d || (strcmp(d, "mobile") && strcmp(d, "desktop") &&
                   strcmp(d, "tablet")))
            return cw_srv_fail(e, 422, "invalid_value", "context.device",
                               "context.device must be \"mobile\", "
                               "\"desktop\" or \"tablet\"");
        out->mobile = !strcmp(d, "mobile");
    }
    return 0;
}

/* ---- POST /v1/events ---- */

static const char *const storefront_types[] = {
    "add_to_cart", "cart_view",    "checkout_start",   "checkout_step", "click",
    "impression",  "offer_accept", "remove_from_cart", "search",        "view",
};

static int event_type(const char *s, int *storefront)
{
    *storefront = 0;
    for (size_t i = 0; i < sizeof(storefront_types) / sizeof(*storefront_types);
         i++)
        if (!strcmp(s, storefront_types[i])) {
            *storefront = 1;
            return 1;
        }
    return !strcmp(s, "purchase");
}

int cw_srv_parse_events(json_t *root, int public_key, const char *now,
                        struct cw_srv_arena *a, struct cw_event_rec **out,
                        size_t *n, struct cw_srv_error *e)
{
    json_t *arr, *ev;
    *out = NULL;
    *n = 0;
    if (get_array(root, "events", "", 1, 1, CW_SRV_EVENTS_MAX, &arr, e) < 0)
        return -1;
    size_t count = json_array_size(arr), i;
    struct cw_event_rec *recs = cw_srv_arena_alloc(a, count * sizeof(*recs));
    char base[32], pbuf[160];
    json_array_foreach(arr, i, ev)
    {
        snprintf(base, sizeof(base), "events[%zu]", i);
        if (!json_is_object(ev))
            return wrong_type(e, base, "", "an object");
        struct cw_event_rec *r = &recs[i];
        memset(r, 0, sizeof(*r));
        const char *ts = NULL;
        char *cbuf = cw_srv_arena_alloc(a, 24);
        int place = 0;
        int64_t profit;
        if (get_str(ev, "id", base, 1, CW_SRV_ID_MAX, &r->id, e) < 0 ||
            get_str(ev, "type", base, 1, 32, &r->type, e) < 0 ||
            get_str(ev, "session_id", base, 1, CW_SRV_ID_MAX, &r->session, e) <
                0 ||
            get_id(ev, "customer_id", base, 0, &r->customer, cbuf, e) < 0 ||
            get_str(ev, "ts", base, 0, 64, &ts, e) < 0 ||
            get_str(ev, "sku", base, 0, CW_SRV_ID_MAX, &r->sku, e) < 0 ||
            get_str(ev, "decision_id", base, 0, CW_SRV_ID_MAX, &r->decision_id,
                    e) < 0 ||
            parse_placement(ev, "placement", base, 0, &place, e) < 0 ||
            get_str(ev, "placement", base, 0, 16, &r->placement, e) < 0 ||
            get_str(ev, "reason", base, 0, 64, &r->reason, e) < 0 ||
            get_id(ev, "order_id", base, 0, &r->order_id,
                   cw_srv_arena_alloc(a, 24), e) < 0 ||
            get_int(ev, "value", base, 0, -CW_SRV_MONEY_MAX, CW_SRV_MONEY_MAX,
                    0, &r->value, e) < 0 ||
            get_int(ev, "profit", base, 0, -CW_SRV_MONEY_MAX, CW_SRV_MONEY_MAX,
                    CW_MONEY_UNKNOWN, &profit, e) < 0)
            return -1;
        r->profit = profit;
        int storefront;
        if (!event_type(r->type, &storefront))
            return cw_srv_fail(e, 422, "invalid_value", PATH(base, "type"),
                               "%s: unknown event type '%s'",
                               PATH(base, "type"), r->type);
        if (public_key && !storefront)
            return cw_srv_fail(e, 403, "event_type_not_allowed",
                               PATH(base, "type"),
                               "a public key may not post '%s' events: use a "
                               "secret key",
                               r->type);
        char *norm = cw_srv_arena_alloc(a, 21);
        if (ts) {
            if (!cw_srv_event_ts(ts, norm))
                return bad(e, "invalid_value", base, "ts",
                           "%s must be an ISO-8601 date-time such as "
                           "2026-11-22T10:00:00Z%s",
                           "");
        } else {
            snprintf(norm, 21, "%s", now);
        }
        r->ts = norm;
        char *payload = json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (payload) {
            r->payload = cw_srv_arena_strdup(a, payload);
            free(payload); /* jansson's allocator */
        }
    }
    *out = recs;
    *n = count;
    return 0;
}

/* ---- PUT /v1/products ---- */

static const struct {
    const char *name;
    unsigned flag;
} product_flags[] = {
    {"accessory", CW_FLAG_ACCESSORY},
    {"consumable", CW_FLAG_CONSUMABLE},
    {"inactive", CW_FLAG_INACTIVE},
    {"protection", CW_FLAG_PROTECTION},
    {"simple_variants", CW_FLAG_SIMPLE_VARIANTS},
};

static int parse_flags(json_t *p, const char *base, unsigned *out,
                       struct cw_srv_error *e)
{
    json_t *arr, *f;
    size_t i;
    char sub[200];
    *out = 0;
    if (get_array(p, "flags", base, 0, 0, 16, &arr, e) < 0)
        return -1;
    if (!arr)
        return 0;
    json_array_foreach(arr, i, f)
    {
        snprintf(sub, sizeof(sub), "%s.flags[%zu]", base, i);
        if (!json_is_string(f))
            return wrong_type(e, sub, "", "a string");
        size_t j, nf = sizeof(product_flags) / sizeof(*product_flags);
        for (j = 0; j < nf; j++)
            if (!strcmp(json_string_value(f), product_flags[j].name))
                break;
        if (j == nf)
            return cw_srv_fail(e, 422, "invalid_value", sub,
                               "%s must be one of accessory, consumable, "
                               "inactive, protection, simple_variants",
                               sub);
        *out |= product_flags[j].flag;
    }
    return 0;
}

/* attributes {"size": "M"} -> "size=M;color=red" */
static int parse_attributes(json_t *p, const char *base, struct cw_srv_arena *a,
                            const char **out, struct cw_srv_error *e)
{
    json_t *obj = field(p, "attributes");
    char sub[200];
    *out = NULL;
    if (!obj)
        return 0;
    if (!json_is_object(obj))
        return wrong_type(e, base, "attributes", "an object");
    if (json_object_size(obj) > 32)
        return bad(e, "too_many_items", base, "attributes",
                   "%s has more than 32 entries%s", "");
    struct cw_buf b = CW_BUF_INIT;
    cw_buf_init(&b, 4096);
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach(obj, k, v)
    {
        snprintf(sub, sizeof(sub), "%s.attributes.%s", base, k);
        char nbuf[32];
        const char *s;
        if (json_is_string(v)) {
            s = json_string_value(v);
        } else if (json_is_integer(v)) {
            snprintf(nbuf, sizeof(nbuf), "%lld",
                     (long long)json_integer_value(v));
            s = nbuf;
        } else {
            rc = cw_srv_fail(e, 422, "invalid_type", sub, "%s must be a string",
                             sub);
            break;
        }
        if (!*k || strpbrk(k, "=;") || strchr(s, ';')) {
            rc = cw_srv_fail(e, 422, "invalid_value", sub,
                             "%s: names may not be empty or hold '=' or ';', "
                             "values may not hold ';'",
                             sub);
            break;
        }
        if ((b.len && cw_buf_addch(&b, ';') < 0) ||
            cw_buf_addf(&b, "%s=%s", k, s) < 0) {
            rc = cw_srv_fail(e, 422, "invalid_value", sub,
                             "%s: attributes longer than 4096 bytes", sub);
            break;
        }
    }
    if (rc == 0 && b.len)
        *out = cw_srv_arena_strndup(a, b.buf, b.len);
    cw_buf_release(&b);
    return rc;
}

int cw_srv_parse_products(json_t *root, struct cw_srv_arena *a,
                          struct cw_product_rec **out, size_t *n,
                          struct cw_srv_error *e)
{
    json_t *arr, *p;
    *out = NULL;
    *n = 0;
    if (get_array(root, "products", "", 1, 1, CW_SRV_PRODUCTS_MAX, &arr, e) < 0)
        return -1;
    size_t count = json_array_size(arr), i;
    struct cw_product_rec *recs = cw_srv_arena_alloc(a, count * sizeof(*recs));
    char base[32];
    json_array_foreach(arr, i, p)
    {
        snprintf(base, sizeof(base), "products[%zu]", i);
        if (!json_is_object(p))
            return wrong_type(e, base, "", "an object");
        struct cw_product_rec *r = &recs[i];
        memset(r, 0, sizeof(*r));
        int64_t inv, tier, pack;
        if (get_str(p, "sku", base, 1, CW_SRV_ID_MAX, &r->sku, e) < 0 ||
            get_str(p, "group", base, 0, CW_SRV_ID_MAX, &r->group, e) < 0 ||
            get_str(p, "title", base, 0, 1000, &r->title, e) < 0 ||
            get_str(p, "category", base, 0, 1000, &r->category, e) < 0 ||
            get_currency(p, "currency", base, &r->currency, e) < 0 ||
            get_money(p, "price", base, 1, 0, &r->price, e) < 0 ||
            get_money(p, "cost", base, 0, CW_MONEY_UNKNOWN, &r->cost, e) < 0 ||
            get_int(p, "inventory", base, 0, -1, 1000000000, -1, &inv, e) < 0 ||
            parse_attributes(p, base, a, &r->attributes, e) < 0 ||
            parse_flags(p, base, &r->flags, e) < 0 ||
            get_str(p, "tier_group", base, 0, CW_SRV_ID_MAX, &r->tier_group,
                    e) < 0 ||
            get_int(p, "tier_level", base, 0, 0, 3, 0, &tier, e) < 0 ||
            get_int(p, "pack_size", base, 0, 1, 100000, 1, &pack, e) < 0)
            return -1;
        r->inventory = inv;
        r->tier_level = (int)tier;
        r->pack_size = (int)pack;
    }
    *out = recs;
    *n = count;
    return 0;
}

/* ---- POST /v1/orders ---- */

static int parse_order(json_t *o, const char *base, struct cw_srv_arena *a,
                       struct cw_srv_order *out, struct cw_srv_error *e)
{
    const char *created;
    json_t *lines, *rets, *v;
    size_t i;
    char *ts = cw_srv_arena_alloc(a, 20);
    memset(out, 0, sizeof(*out));
    if (get_id(o, "id", base, 1, &out->o.id, cw_srv_arena_alloc(a, 24), e) <
            0 ||
        get_id(o, "customer_id", base, 0, &out->o.customer,
               cw_srv_arena_alloc(a, 24), e) < 0 ||
        get_str(o, "created_at", base, 1, 64, &created, e) < 0 ||
        get_currency(o, "currency", base, &out->o.currency, e) < 0 ||
        get_money(o, "shipping", base, 0, 0, &out->o.shipping, e) < 0 ||
        get_money(o, "discount", base, 0, 0, &out->o.discount, e) < 0 ||
        get_array(o, "lines", base, 1, 1, CW_SRV_ORDER_LINES_MAX, &lines, e) <
            0 ||
        get_array(o, "returns", base, 0, 0, CW_SRV_ORDER_LINES_MAX, &rets, e) <
            0)
        return -1;
    if (!cw_srv_order_ts(created, ts))
        return bad(e, "invalid_value", base, "created_at",
                   "%s must be an ISO-8601 date-time such as "
                   "2026-11-22T10:00:00Z%s",
                   "");
    out->o.ts = ts;
    out->n_lines = json_array_size(lines);
    out->lines = cw_srv_arena_alloc(a, out->n_lines * sizeof(*out->lines));
    char sub[200];
    json_array_foreach(lines, i, v)
    {
        snprintf(sub, sizeof(sub), "%s.lines[%zu]", base, i);
        if (!json_is_object(v))
            return wrong_type(e, sub, "", "an object");
        struct cw_line_rec *l = &out->lines[i];
        memset(l, 0, sizeof(*l));
        l->order_id = out->o.id;
        l->line_no = (int)i + 1;
        if (get_str(v, "sku", sub, 1, CW_SRV_ID_MAX, &l->sku, e) < 0 ||
            get_int(v, "qty", sub, 1, 1, 100000, 1, &l->qty, e) < 0 ||
            get_money(v, "unit_price", sub, 1, 0, &l->unit_price, e) < 0 ||
            get_money(v, "unit_cost", sub, 0, CW_MONEY_UNKNOWN, &l->unit_cost,
                      e) < 0 ||
            get_money(v, "discount", sub, 0, 0, &l->discount, e) < 0)
            return -1;
    }
    out->n_returns = rets ? json_array_size(rets) : 0;
    out->returns =
        cw_srv_arena_alloc(a, (out->n_returns + 1) * sizeof(*out->returns));
    if (!rets)
        return 0;
    json_array_foreach(rets, i, v)
    {
        snprintf(sub, sizeof(sub), "%s.returns[%zu]", base, i);
        if (!json_is_object(v))
            return wrong_type(e, sub, "", "an object");
        struct cw_return_rec *r = &out->returns[i];
        const char *rts;
        memset(r, 0, sizeof(*r));
        r->order_id = out->o.id;
        r->customer = out->o.customer;
        if (get_id(v, "id", sub, 1, &r->id, cw_srv_arena_alloc(a, 24), e) < 0 ||
            get_str(v, "sku", sub, 1, CW_SRV_ID_MAX, &r->sku, e) < 0 ||
            get_int(v, "qty", sub, 1, 1, 100000, 1, &r->qty, e) < 0 ||
            get_money(v, "amount", sub, 0, 0, &r->amount, e) < 0 ||
            get_str(v, "ts", sub, 0, 64, &rts, e) < 0)
            return -1;
        char *t = cw_srv_arena_alloc(a, 20);
        if (rts && !cw_srv_order_ts(rts, t))
            return bad(e, "invalid_value", sub, "ts",
                       "%s must be an ISO-8601 date-time such as "
                       "2026-11-22T10:00:00Z%s",
                       "");
        r->ts = rts ? t : out->o.ts;
    }
    return 0;
}

int cw_srv_parse_orders(json_t *root, struct cw_srv_arena *a,
                        struct cw_srv_order **out, size_t *n,
                        struct cw_srv_error *e)
{
    json_t *arr, *o;
    *out = NULL;
    *n = 0;
    if (get_array(root, "orders", "", 1, 1, CW_SRV_ORDERS_MAX, &arr, e) < 0)
        return -1;
    size_t count = json_array_size(arr), i;
    struct cw_srv_order *orders =
        cw_srv_arena_alloc(a, count * sizeof(*orders));
    char base[32];
    json_array_foreach(arr, i, o)
    {
        snprintf(base, sizeof(base), "orders[%zu]", i);
        if (!json_is_object(o))
            return wrong_type(e, base, "", "an object");
        if (parse_order(o, base, a, &orders[i], e) < 0)
            return -1;
    }
    *out = orders;
    *n = count;
    return 0;
}

/* ---- Shopify order webhook ---- */

/* Shopify money: "12.50" (or a number) in the currency's minor units. */
static int shopify_money(json_t *v, int exp, const char *path, int64_t *out,
                         struct cw_srv_error *e)
{
    if (!v || json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (cw_money_parse(s, strlen(s), exp, out) == 0 && *out >= 0)
            return 0;
        return cw_srv_fail(e, 422, "invalid_value", path,
                           "%s must be a non-negative decimal amount", path);
    }
    if (json_is_number(v)) {
        double x = json_number_value(v) * pow(10.0, exp);
        if (x >= 0 && x < 1e15) {
            *out = (int64_t)llround(x);
            return 0;
        }
    }
    return cw_srv_fail(e, 422, "invalid_value", path,
                       "%s must be a non-negative decimal amount", path);
}

int cw_srv_parse_shopify_order(json_t *root, struct cw_srv_arena *a,
                               struct cw_srv_order *out, struct cw_srv_error *e)
{
    const char *created, *email = NULL;
    json_t *items, *v;
    size_t i;
    memset(out, 0, sizeof(*out));
    /* the Name ("#1001") is what the orders CSV export keys orders by */
    if (get_str(root, "name", "", 0, CW_SRV_ID_MAX, &out->o.id, e) < 0)
        return -1;
    if (!out->o.id &&
        get_id(root, "id", "", 1, &out->o.id, cw_srv_arena_alloc(a, 24), e) < 0)
        return -1;
    json_t *cust = field(root, "customer");
    if (cust && json_is_object(cust) &&
        get_id(cust, "id", "customer", 0, &out->o.customer,
               cw_srv_arena_alloc(a, 24), e) < 0)
        return -1;
    if (!out->o.customer) {
        if (get_str(root, "email", "", 0, 320, &email, e) < 0)
            return -1;
        if (email) { /* lowercased, as the CSV importer keeps it */
            char *c = cw_srv_arena_strdup(a, email);
            for (char *p = c; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            out->o.customer = c;
        }
    }
    if (get_str(root, "created_at", "", 1, 64, &created, e) < 0 ||
        get_currency(root, "currency", "", &out->o.currency, e) < 0 ||
        get_array(root, "line_items", "", 1, 0, CW_SRV_ORDER_LINES_MAX, &items,
                  e) < 0)
        return -1;
    char *ts = cw_srv_arena_alloc(a, 20);
    if (!cw_srv_order_ts(created, ts))
        return bad(e, "invalid_value", "", "created_at",
                   "%s must be an ISO-8601 date-time%s", "");
    out->o.ts = ts;
    int exp = cw_currency_exponent(out->o.currency);
    json_t *ship = json_object_get(root, "total_shipping_price_set");
    ship = ship ? json_object_get(ship, "shop_money") : NULL;
    if (shopify_money(ship ? json_object_get(ship, "amount") : NULL, exp,
                      "total_shipping_price_set.shop_money.amount",
                      &out->o.shipping, e) < 0 ||
        shopify_money(json_object_get(root, "total_discounts"), exp,
                      "total_discounts", &out->o.discount, e) < 0)
        return -1;
    size_t n = json_array_size(items);
    out->lines = cw_srv_arena_alloc(a, (n + 1) * sizeof(*out->lines));
    out->returns = cw_srv_arena_alloc(a, sizeof(*out->returns));
    char sub[64], pbuf[160];
    json_array_foreach(items, i, v)
    {
        snprintf(sub, sizeof(sub), "line_items[%zu]", i);
        if (!json_is_object(v))
            return wrong_type(e, sub, "", "an object");
        struct cw_line_rec *l = &out->lines[out->n_lines];
        memset(l, 0, sizeof(*l));
        int64_t qty;
        if (get_str(v, "sku", sub, 0, CW_SRV_ID_MAX, &l->sku, e) < 0 ||
            get_int(v, "quantity", sub, 1, 0, 100000, 0, &qty, e) < 0)
            return -1;
        if (!l->sku && get_id(v, "variant_id", sub, 0, &l->sku,
                              cw_srv_arena_alloc(a, 24), e) < 0)
            return -1;
        if (!l->sku || qty == 0) /* nothing to learn from: skipped */
            continue;
        if (shopify_money(json_object_get(v, "price"), exp, PATH(sub, "price"),
                          &l->unit_price, e) < 0)
            return -1;
        l->order_id = out->o.id;
        l->line_no = (int)i + 1;
        l->qty = qty;
        l->unit_cost = CW_MONEY_UNKNOWN;
        out->n_lines++;
    }
    return 0;
}

/* ---- POST /v1/train ---- */

int cw_srv_parse_train(json_t *root, struct cw_app_train_opts *o,
                       struct cw_srv_error *e)
{
    int64_t top_m;
    json_t *v;
    if ((v = field(root, "margin_rate"))) {
        if (!json_is_number(v))
            return wrong_type(e, "", "margin_rate", "a number");
        double r = json_number_value(v);
        if (!(r >= 0.0 && r < 1.0))
            return bad(e, "invalid_value", "", "margin_rate",
                       "%s must be in [0, 1)%s", "");
        o->margin_rate = r;
    }
    if ((v = field(root, "lambda"))) {
        if (!json_is_number(v))
            return wrong_type(e, "", "lambda", "a number");
        double l = json_number_value(v);
        if (!(l > 0.0 && l < 1e12))
            return bad(e, "invalid_value", "", "lambda",
                       "%s must be a positive number%s", "");
        o->lambda = l;
    }
    if (get_int(root, "top_m", "", 0, 1, 100000, 0, &top_m, e) < 0)
        return -1;
    o->top_m = (uint32_t)top_m;
    return 0;
}
