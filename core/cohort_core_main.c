/* cohort_core_main.c - cohort-core: read the configuration, run the daemon until a signal. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "daemon.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    struct daemon_config config;
    struct cohort_error err = {0};
    int help = 0;
    daemon_config_defaults(&config);
    if (daemon_config_apply_env(&config, &err) < 0 || daemon_config_apply_args(&config, argc, argv, &help, &err) < 0) {
        fprintf(stderr, "cohort-core: %s\n", err.message);
        return 2;
    }
    if (help) {
        fputs(daemon_config_usage, stdout);
        return 0;
    }
    if (daemon_config_validate(&config, &err) < 0) {
        fprintf(stderr, "cohort-core: %s\n", err.message);
        return 2;
    }
    log_set_level(config.log_level);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (daemon_run(&config, &stop, &err) < 0) {
        log_error("cohort-core failed to start", "error=\"%s\" code=%d kind=\"%s\"", err.message, err.code,
                  daemon_error_kind(err.code));
        return 1;
    }
    return 0;
}
