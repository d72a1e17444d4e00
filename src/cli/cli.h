/*
 * cli.h: what the `cartwise` subcommands share.
 *
 * main.c owns the command table and the global options; each cmd_<name>.c
 * implements one subcommand as `int cw_cmd_<name>(argc, argv, cli)`, parses
 * its own options with getopt_long and returns the process exit status. Only
 * this layer prints: results on stdout (text, or JSON with --json),
 * diagnostics on stderr as "cartwise: <message>".
 */
#ifndef CW_CLI_H
#define CW_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "cartwise/cw_buf.h"

#ifndef CW_VERSION
#define CW_VERSION "0.1.0"
#endif

#define CW_CLI_DEFAULT_DB "cartwise.db"
#define CW_CLI_DEFAULT_MARGIN_RATE 0.30

/* Exit statuses: the only place CW_E* codes become numbers for the shell. */
enum cw_exit {
    CW_EXIT_OK = 0,
    CW_EXIT_FAIL = 1,  /* the command ran and failed */
    CW_EXIT_USAGE = 2, /* unknown command or option, missing argument */
};

struct cw_cli;
struct cw_store;

struct cw_cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv, struct cw_cli *cli);
    const char *help;  /* one line for `cartwise help` */
    const char *usage; /* synopsis and options for `cartwise help NAME` */
};

struct cw_cli {
    const char *db; /* --db, else $CARTWISE_DB, else CW_CLI_DEFAULT_DB */
    int json;       /* --json: machine-readable stdout */
    const struct cw_cli_cmd *cmd; /* the command being run */
};

/* The command table (main.c), sorted by name, and its length. */
extern const struct cw_cli_cmd cw_cli_commands[];
extern const size_t cw_cli_ncommands;

int cw_cmd_config(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_eval(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_experiment(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_help(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_import(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_keys(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_recommend(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_report(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_serve(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_simulate(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_train(int argc, char **argv, struct cw_cli *cli);
int cw_cmd_version(int argc, char **argv, struct cw_cli *cli);

/* Long options every command accepts; getopt_long returns these values. */
enum {
    CW_OPT_DB = 0x1000,
    CW_OPT_JSON,
    CW_OPT_HELP,
    CW_OPT__FIRST_OWN, /* commands number their own long options from here */
};
#define CW_CLI_COMMON_OPTIONS                                                  \
    {"db", required_argument, NULL, CW_OPT_DB},                                \
        {"json", no_argument, NULL, CW_OPT_JSON},                              \
    {                                                                          \
        "help", no_argument, NULL, CW_OPT_HELP                                 \
    }

/* getopt_long's short-option string for commands: leading ':' so that a
 * missing argument is told apart from an unknown option, 'h' for help. */
#define CW_CLI_SHORTOPTS ":h"

#define CW_CLI_CONTINUE (-1)

/* Handles the options every command shares and getopt's errors for the
 * current command: --db, --json, --help/-h (prints the usage, returns
 * CW_EXIT_OK), '?' and ':' (prints the error and usage on stderr, returns
 * CW_EXIT_USAGE). Returns CW_CLI_CONTINUE when parsing should go on. */
int cw_cli_common_opt(struct cw_cli *cli, int c, char **argv);

/* Resets getopt for a fresh parse of a command's argv. */
void cw_cli_getopt_reset(void);

/* Prints "cartwise: <message>" on stderr; returns CW_EXIT_FAIL. */
int cw_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "cartwise: <message>" and the command's usage on stderr; returns
 * CW_EXIT_USAGE. */
int cw_cli_usage_error(const struct cw_cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the usage of cmd on f. */
void cw_cli_print_usage(const struct cw_cli_cmd *cmd, FILE *f);

/* Opens the store named by cli->db; on failure prints why and returns
 * CW_EXIT_FAIL (else CW_EXIT_OK with *out set). */
int cw_cli_open_store(const struct cw_cli *cli, struct cw_store **out);

/* Number parsing for option values: the whole string must be a number.
 * Return 0 or -1. */
int cw_cli_parse_double(const char *s, double *out);
int cw_cli_parse_u64(const char *s, uint64_t *out);

/* Writes b to stdout followed by a newline; returns CW_EXIT_OK, or
 * CW_EXIT_FAIL when stdout cannot be written (a closed pipe, a full disk). */
int cw_cli_emit(const struct cw_buf *b);

/* Monotonic seconds, for wall times. */
double cw_cli_now(void);

/* Appends "key":value pairs in the CLI's JSON style. */
void cw_cli_json_key(struct cw_buf *b, const char *key);
void cw_cli_json_money(struct cw_buf *b, int64_t minor, const char *currency);

#endif
