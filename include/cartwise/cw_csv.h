/*
 * cw_csv.h: streaming CSV/TSV reader with bounded memory.
 *
 * Reads RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF, embedded
 * newlines inside quotes) or TSV from a file, a gzip file (detected by its
 * magic bytes, not its name), standard input ("-") or memory. One row is held
 * at a time; a row or field beyond the configured maximum fails with
 * CW_ETOOBIG naming its line. Every row knows the line it started on so that
 * import errors can say "file:line:column".
 */
#ifndef CW_CSV_H
#define CW_CSV_H

#include <stddef.h>
#include <stdint.h>

struct cw_buf;
struct cw_csv;

#define CW_CSV_ROW_MAX (1u << 20) /* default maximum bytes of one row */

/* delim: ',' or '\t'; 0 picks '\t' for names ending in .tsv/.tsv.gz/.txt,
 * else ','. Returns 0 or a CW_E* code (CW_ENOENT, CW_EIO). */
int cw_csv_open(struct cw_csv **out, const char *path, char delim,
                struct cw_buf *err);
/* Reads from a copy-free view of data, which must outlive the reader. */
int cw_csv_open_mem(struct cw_csv **out, const char *data, size_t n, char delim,
                    struct cw_buf *err);
void cw_csv_close(struct cw_csv *c); /* NULL is harmless */
void cw_csv_set_row_max(struct cw_csv *c, size_t max);

/* Reads the next row. Returns 1 for a row, 0 at end of input, or a negative
 * CW_E* code (CW_EPARSE: unterminated quote, stray quote; CW_ETOOBIG) with
 * "line N: ..." in err. Blank lines are skipped. A UTF-8 BOM is dropped. */
int cw_csv_next(struct cw_csv *c, struct cw_buf *err);
size_t cw_csv_nfields(const struct cw_csv *c);
/* Field i of the current row, NUL-terminated, "" when i is out of range.
 * Valid until the next cw_csv_next. len may be NULL. */
const char *cw_csv_field(const struct cw_csv *c, size_t i, size_t *len);
/* 1-based line where the current row starts. */
long cw_csv_line(const struct cw_csv *c);
/* The name given at open ("<memory>" for memory). */
const char *cw_csv_name(const struct cw_csv *c);
/* Bytes consumed from the underlying (compressed) input and its total size
 * when known (0 otherwise): for progress bars. */
uint64_t cw_csv_pos(const struct cw_csv *c);
uint64_t cw_csv_size(const struct cw_csv *c);

/* Header mapping: after reading the header row, find a column by exact
 * (case-sensitive) name. Returns its index or -1. */
long cw_csv_col(const struct cw_csv *c, const char *name);

#endif
