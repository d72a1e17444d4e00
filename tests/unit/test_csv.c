/*
 * test_csv.c: the streaming CSV/TSV reader: RFC 4180 quoting, line numbers,
 * blank lines, BOM, the row size bound, gzip by magic bytes (file, memory,
 * stdin, concatenated members, damage), the header lookup, progress
 * positions, and that every failure is reported with its line and sticks.
 * Each test also checks that it freed everything it allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "cartwise/cw_alloc.h"
#include "cartwise/cw_buf.h"
#include "cartwise/cw_csv.h"
#include "cartwise/cw_err.h"

struct fx {
    long live;
    char dir[64];
    char path[128];
    struct cw_buf err;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->live = cw_alloc_live();
    snprintf(f->dir, sizeof(f->dir), "/tmp/cw_test_csv_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    cw_buf_init(&f->err, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[160];
    cw_buf_release(&f->err);
    assert_int_equal(cw_alloc_live(), f->live);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Writes n bytes to a file named name in the test's directory; returns its
 * path (in f->path). */
static const char *put_file(struct fx *f, const char *name, const void *data,
                            size_t n)
{
    snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
    return f->path;
}

/* Writes data gzipped to name; with append, as one more gzip member. */
static const char *put_gz(struct fx *f, const char *name, const char *data,
                          int append)
{
    snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
    gzFile gz = gzopen(f->path, append ? "ab" : "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)strlen(data)),
                     (int)strlen(data));
    assert_int_equal(gzclose(gz), Z_OK);
    return f->path;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    assert_int_equal(fread(p, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return p;
}

static struct cw_csv *mem(struct fx *f, const char *s, char delim)
{
    struct cw_csv *c;
    assert_int_equal(cw_csv_open_mem(&c, s, strlen(s), delim, &f->err), 0);
    return c;
}

/* Asserts that the next row is the given fields ('|'-joined) on line. */
static void expect_row(struct cw_csv *c, long line, const char *joined,
                       struct cw_buf *err)
{
    char got[512] = "";
    assert_int_equal(cw_csv_next(c, err), 1);
    for (size_t i = 0; i < cw_csv_nfields(c); i++) {
        size_t len;
        const char *s = cw_csv_field(c, i, &len);
        assert_int_equal(strlen(s), len);
        if (i)
            strcat(got, "|");
        strcat(got, s);
    }
    assert_string_equal(got, joined);
    assert_int_equal(cw_csv_line(c), line);
}

static void test_basic_rfc4180(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c = mem(f,
                           "a,b,c\r\n"
                           "1,\"x,y\",3\r\n"
                           "\"he said \"\"hi\"\"\",,\"\"\n"
                           "\"two\nlines\",z,\"cr\r\nlf\"\n"
                           "last,no,newline",
                           ',');
    expect_row(c, 1, "a|b|c", &f->err);
    expect_row(c, 2, "1|x,y|3", &f->err);
    assert_int_equal(cw_csv_nfields(c), 3);
    expect_row(c, 3, "he said \"hi\"||", &f->err);
    expect_row(c, 4, "two\nlines|z|cr\r\nlf", &f->err);
    expect_row(c, 7, "last|no|newline", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), 0);
    assert_int_equal(cw_csv_next(c, &f->err), 0);
    cw_csv_close(c);
}

static void test_fields_out_of_range_and_trailing_delim(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c = mem(f, "a,b,\n", ',');
    assert_int_equal(cw_csv_next(c, &f->err), 1);
    assert_int_equal(cw_csv_nfields(c), 3);
    size_t len = 99;
    assert_string_equal(cw_csv_field(c, 2, &len), "");
    assert_int_equal(len, 0);
    len = 99;
    assert_string_equal(cw_csv_field(c, 7, &len), "");
    assert_int_equal(len, 0);
    assert_string_equal(cw_csv_field(c, 1, NULL), "b");
    cw_csv_close(c);
}

static void test_blank_lines_and_line_endings(void **state)
{
    struct fx *f = *state;
    /* blank lines of every ending are skipped but still counted; a line of
     * blanks is a row; a lone CR ends a record like LF */
    struct cw_csv *c = mem(f, "\n\r\nh1,h2\n\n\r\n1,2\r3,4\r\r\n \n5,6", ',');
    expect_row(c, 3, "h1|h2", &f->err);
    expect_row(c, 6, "1|2", &f->err);
    expect_row(c, 7, "3|4", &f->err);
    expect_row(c, 9, " ", &f->err);
    expect_row(c, 10, "5|6", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), 0);
    cw_csv_close(c);
}

static void test_lenient_mid_field_quote(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c = mem(f, "12\" frame,a\"b\"c\n", ',');
    expect_row(c, 1, "12\" frame|a\"b\"c", &f->err);
    cw_csv_close(c);
}

static void test_bom_dropped(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c = mem(f, "\xef\xbb\xbf\"Handle\",Title\nx,y\n", ',');
    expect_row(c, 1, "Handle|Title", &f->err);
    assert_int_equal(cw_csv_col(c, "Handle"), 0);
    cw_csv_close(c);
    /* a BOM before blank lines */
    c = mem(f, "\xef\xbb\xbf\n\na\n", ',');
    expect_row(c, 3, "a", &f->err);
    cw_csv_close(c);
    /* only a whole BOM is dropped: a partial one is data */
    c = mem(f, "\xef\xbbX,\"q\"\n", ',');
    expect_row(c, 1, "\xef\xbbX|q", &f->err);
    cw_csv_close(c);
}

static void test_unterminated_quote(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c = mem(f, "a,b\n1,2\n3,\"open\nstill open\n", ',');
    expect_row(c, 1, "a|b", &f->err);
    expect_row(c, 2, "1|2", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), CW_EPARSE);
    assert_string_equal(cw_buf_str(&f->err), "line 3: unterminated quote");
    assert_int_equal(cw_csv_nfields(c), 0);
    /* the failure sticks */
    cw_buf_reset(&f->err);
    assert_int_equal(cw_csv_next(c, &f->err), CW_EPARSE);
    assert_string_equal(cw_buf_str(&f->err), "line 3: unterminated quote");
    cw_csv_close(c);
}

static void test_stray_quote(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c = mem(f, "a,b\n\"ab\"c,d\n", ',');
    expect_row(c, 1, "a|b", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), CW_EPARSE);
    assert_non_null(strstr(cw_buf_str(&f->err), "line 2: stray quote"));
    cw_csv_close(c);
}

static void test_row_too_big(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c =
        mem(f, "a,b\nshort,row\n\"0123456789\",0123456789\n", ',');
    cw_csv_set_row_max(c, 16);
    expect_row(c, 1, "a|b", &f->err);
    expect_row(c, 2, "short|row", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), CW_ETOOBIG);
    assert_string_equal(cw_buf_str(&f->err),
                        "line 3: row longer than 16 bytes");
    assert_int_equal(cw_csv_next(c, &f->err), CW_ETOOBIG);
    cw_csv_close(c);

    /* one huge field under the default maximum (1 MiB) fails too, and a
     * row just under it does not */
    size_t n = CW_CSV_ROW_MAX + 10;
    char *big = malloc(n + 16);
    memset(big, 'x', n);
    memcpy(big + n, "\n", 2);
    struct cw_csv *c2;
    assert_int_equal(cw_csv_open_mem(&c2, big, n + 1, ',', &f->err), 0);
    assert_int_equal(cw_csv_next(c2, &f->err), CW_ETOOBIG);
    assert_string_equal(cw_buf_str(&f->err),
                        "line 1: row longer than 1048576 bytes");
    cw_csv_close(c2);
    n = CW_CSV_ROW_MAX - 1; /* plus its NUL: exactly the maximum */
    memset(big, 'y', n);
    memcpy(big + n, "\n", 2);
    assert_int_equal(cw_csv_open_mem(&c2, big, n + 1, ',', &f->err), 0);
    assert_int_equal(cw_csv_next(c2, &f->err), 1);
    size_t len;
    cw_csv_field(c2, 0, &len);
    assert_int_equal(len, n);
    cw_csv_close(c2);
    free(big);
}

static void test_header_lookup(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c = mem(f, "sku,Price,qty\nA,1,2\nprice,sku,x\n", ',');
    assert_int_equal(cw_csv_col(c, "sku"), -1); /* nothing read yet */
    expect_row(c, 1, "sku|Price|qty", &f->err);
    assert_int_equal(cw_csv_col(c, "sku"), 0);
    assert_int_equal(cw_csv_col(c, "qty"), 2);
    assert_int_equal(cw_csv_col(c, "price"), -1); /* case-sensitive */
    assert_int_equal(cw_csv_col(c, "Price"), 1);
    expect_row(c, 2, "A|1|2", &f->err);
    expect_row(c, 3, "price|sku|x", &f->err);
    /* the header stays the first row */
    assert_int_equal(cw_csv_col(c, "sku"), 0);
    assert_int_equal(cw_csv_col(c, "x"), -1);
    cw_csv_close(c);
}

static void test_tsv(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c = mem(f, "a\tb,c\n\"q\tq\"\t2\n", '\t');
    expect_row(c, 1, "a|b,c", &f->err);
    expect_row(c, 2, "q\tq|2", &f->err);
    cw_csv_close(c);

    /* delim 0 picks tab from the name, comma otherwise */
    const char *data = "x\ty,z\n";
    const char *names[] = {"feed.tsv", "feed.TXT", "feed.csv"};
    const char *want[] = {"x|y,z", "x|y,z", "x\ty|z"};
    for (int i = 0; i < 3; i++) {
        const char *p = put_file(f, names[i], data, strlen(data));
        assert_int_equal(cw_csv_open(&c, p, 0, &f->err), 0);
        expect_row(c, 1, want[i], &f->err);
        cw_csv_close(c);
    }
    const char *p = put_gz(f, "feed.tsv.gz", data, 0);
    assert_int_equal(cw_csv_open(&c, p, 0, &f->err), 0);
    expect_row(c, 1, "x|y,z", &f->err);
    cw_csv_close(c);
}

static void test_file_pos_size(void **state)
{
    struct fx *f = *state;
    const char *data = "a,b\n1,2\n3,4\n";
    const char *p = put_file(f, "plain.csv", data, strlen(data));
    struct cw_csv *c;
    assert_int_equal(cw_csv_open(&c, p, 0, &f->err), 0);
    assert_string_equal(cw_csv_name(c), p);
    assert_int_equal(cw_csv_size(c), strlen(data));
    assert_int_equal(cw_csv_pos(c), 0);
    expect_row(c, 1, "a|b", &f->err);
    assert_int_equal(cw_csv_pos(c), 4);
    expect_row(c, 2, "1|2", &f->err);
    assert_int_equal(cw_csv_pos(c), 8);
    expect_row(c, 3, "3|4", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), 0);
    assert_int_equal(cw_csv_pos(c), strlen(data));
    cw_csv_close(c);

    c = mem(f, data, 0);
    assert_string_equal(cw_csv_name(c), "<memory>");
    assert_int_equal(cw_csv_size(c), strlen(data));
    expect_row(c, 1, "a|b", &f->err);
    assert_int_equal(cw_csv_pos(c), 4);
    cw_csv_close(c);
}

static void test_gzip_file_by_magic(void **state)
{
    struct fx *f = *state;
    /* the name says nothing: the magic bytes decide */
    const char *p = put_gz(f, "orders.csv", "h1,h2\n\"a\nb\",c\n", 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    struct cw_csv *c;
    assert_int_equal(cw_csv_open(&c, p, 0, &f->err), 0);
    assert_int_equal(cw_csv_size(c), (uint64_t)st.st_size);
    expect_row(c, 1, "h1|h2", &f->err);
    expect_row(c, 2, "a\nb|c", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), 0);
    assert_int_equal(cw_csv_pos(c), (uint64_t)st.st_size);
    cw_csv_close(c);

    /* concatenated members, as `cat a.gz b.gz` makes */
    put_gz(f, "multi.gz", "x,y\n1,2\n", 0);
    p = put_gz(f, "multi.gz", "3,4\n", 1);
    assert_int_equal(cw_csv_open(&c, p, 0, &f->err), 0);
    expect_row(c, 1, "x|y", &f->err);
    expect_row(c, 2, "1|2", &f->err);
    expect_row(c, 3, "3|4", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), 0);
    cw_csv_close(c);
}

static void test_gzip_memory_and_damage(void **state)
{
    struct fx *f = *state;
    size_t n;
    const char *p = put_gz(f, "m.gz", "a,b\n1,2\n", 0);
    char *gz = slurp(p, &n);
    struct cw_csv *c;
    assert_int_equal(cw_csv_open_mem(&c, gz, n, ',', &f->err), 0);
    expect_row(c, 1, "a|b", &f->err);
    expect_row(c, 2, "1|2", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), 0);
    assert_int_equal(cw_csv_pos(c), n);
    cw_csv_close(c);

    /* cut short: the rows before the cut may come, then an error */
    assert_int_equal(cw_csv_open_mem(&c, gz, n - 6, ',', &f->err), 0);
    int rc;
    while ((rc = cw_csv_next(c, &f->err)) == 1)
        ;
    assert_int_equal(rc, CW_ECORRUPT);
    assert_non_null(strstr(cw_buf_str(&f->err), "truncated gzip"));
    cw_csv_close(c);

    /* garbage after a member */
    char *bad = malloc(n + 4);
    memcpy(bad, gz, n);
    memcpy(bad + n, "junk", 4);
    assert_int_equal(cw_csv_open_mem(&c, bad, n + 4, ',', &f->err), 0);
    while ((rc = cw_csv_next(c, &f->err)) == 1)
        ;
    assert_int_equal(rc, CW_ECORRUPT);
    assert_non_null(strstr(cw_buf_str(&f->err), "damaged gzip"));
    cw_csv_close(c);
    free(bad);
    free(gz);
}

static void test_stdin(void **state)
{
    struct fx *f = *state;
    const char *p = put_gz(f, "in.gz", "k,v\nstdin,yes\n", 0);
    int saved = dup(0);
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    assert_int_equal(dup2(fileno(fp), 0), 0);
    fclose(fp);
    struct cw_csv *c;
    assert_int_equal(cw_csv_open(&c, "-", 0, &f->err), 0);
    assert_string_equal(cw_csv_name(c), "-");
    expect_row(c, 1, "k|v", &f->err);
    expect_row(c, 2, "stdin|yes", &f->err);
    assert_int_equal(cw_csv_next(c, &f->err), 0);
    cw_csv_close(c);
    /* closing the reader does not close standard input */
    assert_int_equal(lseek(0, 0, SEEK_SET), 0);
    dup2(saved, 0);
    close(saved);
}

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    struct cw_csv *c = (struct cw_csv *)&c;
    char path[128];
    snprintf(path, sizeof(path), "%s/nope.csv", f->dir);
    assert_int_equal(cw_csv_open(&c, path, 0, &f->err), CW_ENOENT);
    assert_null(c);
    assert_non_null(strstr(cw_buf_str(&f->err), "no such file"));
    assert_non_null(strstr(cw_buf_str(&f->err), "nope.csv"));
    assert_int_equal(cw_csv_open(&c, f->dir, 0, &f->err), CW_EIO);
    assert_non_null(strstr(cw_buf_str(&f->err), "is a directory"));
    assert_int_equal(cw_csv_open_mem(&c, "a", 1, '"', &f->err), CW_EINVAL);
    assert_int_equal(cw_csv_open(&c, "", 0, &f->err), CW_EINVAL);
    cw_csv_close(NULL);
}

/* Many rows across the 64 KiB read chunks, plain and gzipped, with quoted
 * fields and CRLF landing on every offset of a chunk boundary. */
static void test_large_input_across_chunks(void **state)
{
    struct fx *f = *state;
    struct cw_buf data = CW_BUF_INIT;
    const int rows = 20000;
    cw_buf_adds(&data, "id,text,n\r\n");
    for (int i = 0; i < rows; i++)
        cw_buf_addf(&data, "%d,\"t,\"\"%d\"\"\n\",%d\r\n", i, i, i * 7);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = gz ? put_gz(f, "big.gz", data.buf, 0)
                           : put_file(f, "big.csv", data.buf, data.len);
        struct cw_csv *c;
        assert_int_equal(cw_csv_open(&c, p, 0, &f->err), 0);
        expect_row(c, 1, "id|text|n", &f->err);
        int got = 0, rc;
        uint64_t last_pos = 0;
        while ((rc = cw_csv_next(c, &f->err)) == 1) {
            char want[64];
            assert_int_equal(atoi(cw_csv_field(c, 0, NULL)), got);
            snprintf(want, sizeof(want), "t,\"%d\"\n", got);
            assert_string_equal(cw_csv_field(c, 1, NULL), want);
            assert_int_equal(atoi(cw_csv_field(c, 2, NULL)), got * 7);
            assert_int_equal(cw_csv_line(c), 2 + 2 * got);
            assert_true(cw_csv_pos(c) >= last_pos);
            last_pos = cw_csv_pos(c);
            got++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(got, rows);
        assert_int_equal(cw_csv_pos(c), cw_csv_size(c));
        cw_csv_close(c);
    }
    cw_buf_release(&data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_basic_rfc4180),
        T(test_fields_out_of_range_and_trailing_delim),
        T(test_blank_lines_and_line_endings),
        T(test_lenient_mid_field_quote),
        T(test_bom_dropped),
        T(test_unterminated_quote),
        T(test_stray_quote),
        T(test_row_too_big),
        T(test_header_lookup),
        T(test_tsv),
        T(test_file_pos_size),
        T(test_gzip_file_by_magic),
        T(test_gzip_memory_and_damage),
        T(test_stdin),
        T(test_open_errors),
        T(test_large_input_across_chunks),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
