/*
 * cli_stats.h: the experiment report as text, shared by `simulate` and
 * `report experiment` (the JSON form is cw_stats_report_json, shared with
 * the server).
 */
#ifndef CW_CLI_STATS_H
#define CW_CLI_STATS_H

struct cw_buf;
struct cw_stats_report;

/* Appends a table per arm and one line per effect with its 95% interval,
 * the CUPED and anytime-valid intervals and p-values, and the SRM check. */
void cw_cli_stats_text(struct cw_buf *b, const struct cw_stats_report *r,
                       const char *const *names);

#endif
