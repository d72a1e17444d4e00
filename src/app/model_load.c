/*
 * model_load.c: the newest published model, loaded the way every reader
 * loads it (cw_app_model_load).
 *
 * The registry row names the file and its xxh3 checksum; the file is mapped
 * read-only, checked against the checksum and decoded in place, so a model
 * costs its lookup tables and nothing else. A file that does not match its
 * row is refused: it was damaged or replaced after training.
 */
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_err.h"
#include "cartwise/cw_file.h"
#include "cartwise/cw_hash.h"
#include "cartwise/cw_model.h"
#include "cartwise/cw_store.h"

int cw_app_model_load_info(const struct cw_model_info *info,
                           struct cw_app_model *out, struct cw_buf *err)
{
    memset(out, 0, sizeof(*out));
    out->info = *info;
    struct cw_buf ferr = CW_BUF_INIT;
    int rc = cw_file_map(&out->map, info->path, &ferr);
    if (rc < 0) {
        /* a registered file that is missing is damage, not "no model" */
        rc = cw_err(err, CW_EIO, "cannot read model version %lld: %s",
                    (long long)info->version, cw_buf_str(&ferr));
        goto fail;
    }
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx",
             (unsigned long long)cw_xxh3(out->map.data, out->map.len));
    if (strcmp(hex, info->checksum) != 0) {
        rc = cw_err(err, CW_ECORRUPT,
                    "model file '%s' is damaged: checksum %s does not match "
                    "the registry's %s (train again)",
                    info->path, hex, info->checksum);
        goto fail;
    }
    rc = cw_model_decode(&out->m, out->map.data, out->map.len, &ferr);
    if (rc < 0) {
        cw_err(err, rc, "model file '%s' is damaged: %s", info->path,
               ferr.len ? cw_buf_str(&ferr) : cw_strerror(rc));
        goto fail;
    }
    cw_buf_release(&ferr);
    return 0;
fail:
    cw_buf_release(&ferr);
    cw_file_unmap(&out->map);
    memset(out, 0, sizeof(*out));
    return rc;
}

int cw_app_model_load(struct cw_store *s, struct cw_app_model *out,
                      struct cw_buf *err)
{
    struct cw_model_info info;
    struct cw_buf serr = CW_BUF_INIT;
    memset(out, 0, sizeof(*out));
    int rc = s->ops->model_latest(s, &info, &serr);
    if (rc == CW_ENOENT)
        rc = cw_err(err, rc, "no trained model");
    else if (rc < 0)
        cw_err(err, rc, "cannot read the model registry: %s",
               serr.len ? cw_buf_str(&serr) : cw_strerror(rc));
    else
        rc = cw_app_model_load_info(&info, out, err);
    cw_buf_release(&serr);
    return rc;
}

void cw_app_model_release(struct cw_app_model *am)
{
    if (!am)
        return;
    if (am->map.data)
        cw_model_release(&am->m);
    cw_file_unmap(&am->map);
    memset(am, 0, sizeof(*am));
}
