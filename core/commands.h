/*
 * commands.h - the command tree of `cohort`. Each group of subcommands lives in its own
 * file (cmd_<group>.c) and exports its table here; main.c only hands argv to cli_run.
 */
#ifndef COHORT_CORE_COMMANDS_H
#define COHORT_CORE_COMMANDS_H

#include "cli.h"

/* Handlers, one file each (cmd_<name>.c). */
int cmd_subnodes(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);

/* The root of the tree: `cohort`. */
extern const struct cli_command cohort_root_command;

#endif
