/*
 * daemon.h - cohort-core's main loop: the manager watcher feeds assignments, the
 * provisioner makes Docker match them, Docker's events wake it when a subnode dies, and
 * the local API serves what it knows. One thread runs the loop; the API runs on
 * libmicrohttpd's thread and reads only what the provisioner guards.
 */
#ifndef COHORT_CORE_DAEMON_H
#define COHORT_CORE_DAEMON_H

#include <signal.h>

#include "daemon_config.h"

/*
 * Runs until *stop becomes non-zero (a signal handler sets it). Returns 0 after a clean
 * stop, or an error from start-up: a bad state dir, a missing keystore or a wrong password,
 * an unreadable deployment or cluster file, the API port taken. Losing dockerd or the
 * manager later is not an error: the loop logs, keeps what runs and retries; /healthz says
 * what is wrong (dockerd or the manager away, a node id the manager does not know, a
 * keystore that is not the node's key).
 */
int daemon_run(const struct daemon_config *config, volatile sig_atomic_t *stop, struct cohort_error *err);

/* The owning library's words for an error code ("wrong password"), for the log; static. */
const char *daemon_error_kind(int code);

#endif
