/*
 * experiment_json.c: reading and writing the experiment configuration
 * (experiment_json.h). Strict: unknown keys and wrong types are errors that
 * name the field, because a typo in a traffic split must not pass silently.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/experiment_json.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_experiment.h"

static int str_field(json_t *obj, const char *key, char *dst, size_t cap,
                     int required, const char *where, struct cw_buf *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return cw_err(err, CW_EPARSE, "%s%s: missing", where, key);
        dst[0] = '\0';
        return 0;
    }
    if (!json_is_string(v))
        return cw_err(err, CW_EPARSE, "%s%s: expected a string", where, key);
    const char *s = json_string_value(v);
    if (json_string_length(v) >= cap || strlen(s) != json_string_length(v))
        return cw_err(err, CW_EPARSE, "%s%s: at most %zu bytes, no NUL", where,
                      key, cap - 1);
    memcpy(dst, s, json_string_length(v) + 1);
    return 0;
}

static int only_keys(json_t *obj, const char *const *keys, const char *where,
                     struct cw_buf *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k))
            i++;
        if (!keys[i])
            return cw_err(err, CW_EPARSE, "%sunknown key '%s'", where, k);
    }
    return 0;
}

static int parse_arm(json_t *a, size_t i, struct cw_arm *out,
                     struct cw_buf *err)
{
    static const char *const keys[] = {"name", "kind", "share_bp", "share",
                                       NULL};
    char where[32], kind[16];
    snprintf(where, sizeof(where), "arms[%zu].", i);
    if (!json_is_object(a))
        return cw_err(err, CW_EPARSE, "arms[%zu]: expected an object", i);
    int rc;
    if ((rc = only_keys(a, keys, where, err)) ||
        (rc = str_field(a, "name", out->name, sizeof(out->name), 1, where,
                        err)) ||
        (rc = str_field(a, "kind", kind, sizeof(kind), 1, where, err)))
        return rc;
    if (cw_arm_kind_parse(kind, &out->kind) < 0)
        return cw_err(err, CW_EPARSE,
                      "%skind: '%s' is not holdout, profit or accuracy", where,
                      kind);
    json_t *bp = json_object_get(a, "share_bp"),
           *f = json_object_get(a, "share");
    if ((bp != NULL) == (f != NULL))
        return cw_err(err, CW_EPARSE, "%sshare_bp or share: give exactly one",
                      where);
    if (bp) {
        if (!json_is_integer(bp) || json_integer_value(bp) < 0 ||
            json_integer_value(bp) > CW_EXP_BUCKETS)
            return cw_err(err, CW_EPARSE,
                          "%sshare_bp: expected an integer 0..10000", where);
        out->share_bp = (uint32_t)json_integer_value(bp);
    } else {
        double x = json_is_number(f) ? json_number_value(f) : -1;
        if (!(x >= 0 && x <= 1))
            return cw_err(err, CW_EPARSE,
                          "%sshare: expected a number in [0, 1]", where);
        out->share_bp = (uint32_t)lround(x * CW_EXP_BUCKETS);
    }
    return 0;
}

int cw_experiment_from_json(const char *text, size_t len,
                            struct cw_experiment *out, struct cw_buf *err)
{
    static const char *const keys[] = {"id",   "salt", "unit", "start",
                                       "stop", "arms", NULL};
    memset(out, 0, sizeof(*out));
    if (len > CW_EXPERIMENT_JSON_MAX)
        return cw_err(err, CW_ETOOBIG, "experiment: more than %d bytes",
                      CW_EXPERIMENT_JSON_MAX);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return cw_err(err, CW_EPARSE, "experiment: not JSON: %s (line %d)",
                      je.text, je.line);
    int rc = 0;
    char unit[16];
    json_t *arms;
    if (!json_is_object(root)) {
        rc = cw_err(err, CW_EPARSE, "experiment: expected an object");
        goto done;
    }
    if ((rc = only_keys(root, keys, "", err)) ||
        (rc = str_field(root, "id", out->id, sizeof(out->id), 1, "", err)) ||
        (rc = str_field(root, "salt", out->salt, sizeof(out->salt), 1, "",
                        err)) ||
        (rc = str_field(root, "unit", unit, sizeof(unit), 0, "", err)) ||
        (rc = str_field(root, "start", out->start, sizeof(out->start), 0, "",
                        err)) ||
        (rc =
             str_field(root, "stop", out->stop, sizeof(out->stop), 0, "", err)))
        goto done;
    if (!unit[0] || !strcmp(unit, "customer")) {
        out->unit = CW_EXP_UNIT_CUSTOMER;
    } else if (!strcmp(unit, "session")) {
        out->unit = CW_EXP_UNIT_SESSION;
    } else {
        rc = cw_err(err, CW_EPARSE, "unit: '%s' is not customer or session",
                    unit);
        goto done;
    }
    arms = json_object_get(root, "arms");
    if (!json_is_array(arms) || json_array_size(arms) < 2 ||
        json_array_size(arms) > CW_EXP_ARMS_MAX) {
        rc = cw_err(err, CW_EPARSE, "arms: expected an array of 2 to %d arms",
                    CW_EXP_ARMS_MAX);
        goto done;
    }
    out->n_arms = json_array_size(arms);
    for (size_t i = 0; i < out->n_arms && !rc; i++)
        rc = parse_arm(json_array_get(arms, i), i, &out->arms[i], err);
    if (!rc)
        rc = cw_experiment_validate(out, err);
done:
    json_decref(root);
    return rc;
}

void cw_experiment_to_json(const struct cw_experiment *e, struct cw_buf *out)
{
    cw_buf_adds(out, "{\"id\":");
    cw_buf_add_json_str(out, e->id);
    cw_buf_adds(out, ",\"salt\":");
    cw_buf_add_json_str(out, e->salt);
    cw_buf_addf(out, ",\"unit\":\"%s\",\"start\":",
                e->unit == CW_EXP_UNIT_SESSION ? "session" : "customer");
    cw_buf_add_json_str(out, e->start);
    cw_buf_adds(out, ",\"stop\":");
    cw_buf_add_json_str(out, e->stop);
    cw_buf_adds(out, ",\"arms\":[");
    for (size_t i = 0; i < e->n_arms; i++) {
        cw_buf_adds(out, i ? ",{\"name\":" : "{\"name\":");
        cw_buf_add_json_str(out, e->arms[i].name);
        cw_buf_addf(out, ",\"kind\":\"%s\",\"share_bp\":%u}",
                    cw_arm_kind_name(e->arms[i].kind),
                    (unsigned)e->arms[i].share_bp);
    }
    cw_buf_adds(out, "]}");
}
