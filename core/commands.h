/*
 * commands.h - the command tree of `cohort`. Each group of subcommands lives in its own
 * file (cmd_<group>.c) and exports its table here; main.c only hands argv to cli_run.
 */
#ifndef COHORT_CORE_COMMANDS_H
#define COHORT_CORE_COMMANDS_H

#include "cli.h"

/* Handlers, one file each (cmd_<name>.c). */
int cmd_subnodes(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_config_get(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_config_put(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_config_del(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_config_watch(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_config_status(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_cluster_image_set(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_cluster_image_show(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_cluster_upgrade_status(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_cluster_members(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_cluster_member_add(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_cluster_member_remove(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_cluster_join(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_cluster_settings(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_key_new(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_key_import(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_manager_deploy(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_node_register(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_node_info(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_node_ls(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_node_exit(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_chain_create(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_chain_ls(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_chain_show(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_chain_status(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_chain_delete(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_chain_rotate(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
/* cmd_metrics.c: the node's metrics through cohort-core's API. */
int cmd_status(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_health(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_metrics(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);
int cmd_usage(const struct cli_command *self, int argc, char **argv, struct cli_globals *g);

/* The root of the tree: `cohort`. */
extern const struct cli_command cohort_root_command;

#endif
