/*
 * cli_lines.h: reading a normalized lines file (BENCHMARK.md section 1)
 * into a dataset, for the commands that replay one (eval, simulate).
 */
#ifndef CW_CLI_LINES_H
#define CW_CLI_LINES_H

#include <stddef.h>

struct cw_dataset;

/* Reads file into the initialized dataset ds the way the reference script
 * does: a row whose qty does not parse as a number is skipped and counted in
 * *skipped (Python's float() raising ValueError); an empty or unparsable
 * price or cost is unknown. Returns 0, or CW_EXIT_FAIL after printing why. */
int cw_cli_read_lines(const char *file, struct cw_dataset *ds, size_t *skipped);

#endif
