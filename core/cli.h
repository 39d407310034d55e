/*
 * cli.h - the `cohort` command line: a tree of commands, dispatch, help and exit codes,
 * and one way to print results as a table for people or as JSON for scripts.
 *
 * A command is a node with a name, a one-line summary, a usage text and either a
 * handler or children. `cohort node register --name x` walks the tree by words until
 * it reaches a handler, which gets the remaining arguments. `--help` (or `-h`) at any
 * level prints that level's usage and children; a group without a subcommand prints its
 * help to stderr and exits with COHORT_EXIT_USAGE.
 */
#ifndef COHORT_CORE_CLI_H
#define COHORT_CORE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes, the same for every subcommand, listed in `cohort --help`. */
enum cohort_exit {
    COHORT_EXIT_OK = 0,          /* done */
    COHORT_EXIT_FAILURE = 1,     /* the operation failed; the message says why */
    COHORT_EXIT_USAGE = 2,       /* bad command line: unknown command or flag, missing value */
    COHORT_EXIT_UNAVAILABLE = 3, /* a service it needs did not answer: RPC node, dockerd, cohort-core */
    COHORT_EXIT_INPUT = 4,       /* a file or value given is unusable: corrupt, wrong password */
};

/* Options every command accepts, parsed before the handler runs. */
struct cli_globals {
    bool json;   /* --json: machine-readable output on stdout */
    bool quiet;  /* --quiet: no progress lines on stderr */
    FILE *out;   /* where results go (stdout; tests redirect it) */
    FILE *err;   /* where messages go (stderr) */
};

struct cli_command;

/* A handler gets its arguments after the command words; returns an enum cohort_exit. */
typedef int (*cli_handler)(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);

struct cli_command {
    const char *name;
    const char *summary;                 /* one line, for the parent's list */
    const char *usage;                   /* full help: synopsis, flags, examples; may be NULL */
    cli_handler handler;                 /* NULL for a group */
    const struct cli_command *children;  /* array ended by an entry with name NULL; NULL for a leaf */
};

/*
 * Runs the command line against the tree under root (root's own name is the program's).
 * Handles --help/-h, --version, --json and --quiet anywhere before a handler takes over
 * (a handler sees --json and --quiet removed and the rest untouched, in order).
 * Returns the exit code.
 */
int cli_run(const struct cli_command *root, int argc, char **argv, FILE *out, FILE *err);

/* Prints the help of cmd, whose path from the root is `path` (e.g. "cohort node"). */
void cli_print_help(const struct cli_command *cmd, const char *path, FILE *to);

/*
 * A small flag parser for handlers: --name value and --name=value. Returns the index of
 * the value in argv or -1. For boolean flags, cli_flag_present.
 */
struct cli_flag {
    const char *name;       /* without dashes: "rpc" */
    bool takes_value;
    const char **value;     /* set to the value (points into argv) */
    bool *present;          /* set when the flag is present (may be NULL) */
};

/*
 * Parses argv against flags. Positional arguments are collected in positional[] (up to
 * max_positional; *npositional set). An unknown flag, a missing value or too many
 * positionals is a usage error: the message goes to g->err and the function returns
 * COHORT_EXIT_USAGE; 0 otherwise.
 */
int cli_parse_flags(int argc, char **argv, const struct cli_flag *flags, const char **positional,
                    size_t max_positional, size_t *npositional, struct cli_globals *g);

/* Prints "cohort: " and the message to g->err, and returns code: `return cli_fail(g, 1, ...)`. */
int cli_fail(struct cli_globals *g, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * A result table: the same rows print as aligned columns for people or, with --json, as
 * a JSON array of objects keyed by the column names. Cells are copied; the table owns them.
 */
struct cli_table;

/* Creates a table with ncolumns named columns (names are copied). NULL on allocation failure. */
struct cli_table *cli_table_new(size_t ncolumns, const char *const *column_names);
/* Appends a row of ncolumns cells (NULL prints as "-" and as JSON null). Returns 0 or -1 on ENOMEM. */
int cli_table_add_row(struct cli_table *t, const char *const *cells);
/* Marks a column as numeric: right-aligned in text, a JSON number when the cell parses as one. */
void cli_table_set_numeric(struct cli_table *t, size_t column);
/* Prints as text (g->json false) or JSON (true) to g->out. */
void cli_table_print(const struct cli_table *t, const struct cli_globals *g);
void cli_table_free(struct cli_table *t);

#endif
