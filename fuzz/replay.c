/*
 * replay.c: runs every file of a corpus directory through the decide
 * request parser (decide_target.h), as sqlite's fuzzcheck replays its
 * fuzzer finds. Registered with ctest as fuzz/replay_decide over
 * fuzz/corpus/decide/. Exits 0 when every input was answered (a crash is
 * an abort, which ctest reports), 1 when the directory cannot be read or
 * is empty.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_file.h"
#include "decide_target.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_replay CORPUS_DIR\n");
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "fuzz_replay: cannot open %s\n", argv[1]);
        return 1;
    }
    size_t n = 0, fast = 0;
    struct dirent *de;
    struct cw_buf path = CW_BUF_INIT, err = CW_BUF_INIT;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        cw_buf_reset(&path);
        cw_buf_addf(&path, "%s/%s", argv[1], de->d_name);
        struct cw_map m = {NULL, 0};
        int rc = cw_file_map(&m, cw_buf_str(&path), &err);
        if (rc < 0 && m.len == 0) {
            /* an empty file cannot be mapped: run it as empty */
            fast += (size_t)cw_fuzz_decide_one((const unsigned char *)"", 0);
        } else if (rc == 0) {
            /* a private copy: the parser must not rely on a NUL after it */
            unsigned char *copy = cw_malloc(m.len ? m.len : 1);
            if (m.len)
                memcpy(copy, m.data, m.len);
            fast += (size_t)cw_fuzz_decide_one(copy, m.len);
            cw_free(copy);
            cw_file_unmap(&m);
        }
        n++;
    }
    closedir(d);
    cw_buf_release(&path);
    cw_buf_release(&err);
    printf("fuzz_replay: %zu inputs (%zu read the fast way too, with the "
           "same result), no crash\n",
           n, fast);
    return n ? 0 : 1;
}
