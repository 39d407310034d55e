/* commands.c - the root of the `cohort` command tree. Later groups add an entry each. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static int cmd_version(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    if (cli_parse_flags(argc, argv, NULL, NULL, 0, NULL, g) != 0) return COHORT_EXIT_USAGE;
    if (g->json) fprintf(g->out, "{\"version\":\"%s\"}\n", COHORT_VERSION);
    else fprintf(g->out, "cohort %s\n", COHORT_VERSION);
    return COHORT_EXIT_OK;
}

static const struct cli_command root_children[] = {
    {.name = "subnodes",
     .summary = "list this node's subnodes: chain, state, slots, limits, restarts",
     .usage = "Usage: cohort subnodes [--api URL] [--json]\n"
              "\n"
              "Asks the local cohort-core (its API, http://127.0.0.1:9100 by default) for the\n"
              "subnodes it runs: container state, slot and port, limits, restarts, disk use and\n"
              "the last error of each.\n",
     .handler = cmd_subnodes},
    {.name = "version", .summary = "print the version of cohort", .usage = "Usage: cohort version [--json]\n",
     .handler = cmd_version},
    {.name = NULL},
};

const struct cli_command cohort_root_command = {
    .name = "cohort",
    .summary = "operate a cohort validator node",
    .usage = "Usage: cohort [--json] [--quiet] COMMAND [ARGS...]\n"
             "       cohort --version\n"
             "\n"
             "cohort is the operator CLI of a cohort validator node: it talks to the local\n"
             "cohort-core daemon and to the manager contracts on the manager chain.\n"
             "\n"
             "Exit codes:\n"
             "  0  done\n"
             "  1  the operation failed (the message says why)\n"
             "  2  bad command line (unknown command or option, missing value)\n"
             "  3  a service did not answer (manager RPC, dockerd, cohort-core)\n"
             "  4  a file or value given is unusable (corrupt file, wrong password)\n",
    .children = root_children,
};
