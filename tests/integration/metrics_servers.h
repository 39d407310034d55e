/*
 * metrics_servers.h - the real servers the metrics tests run against, each started by the
 * test in a temporary folder of its own, on 127.0.0.1 and a port of its own, and stopped by
 * its PID: PostgreSQL 15 (Debian's, as the postgres user: it refuses to run as root) and
 * Prometheus (Debian's). Static functions: included by the metrics integration tests only.
 */
#ifndef COHORT_TEST_METRICS_SERVERS_H
#define COHORT_TEST_METRICS_SERVERS_H

#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define PG_BIN "/usr/lib/postgresql/15/bin"
#define PG_PASSWORD "cohort-test-pw"

struct test_postgres {
    char dir[128];  /* owned by postgres: data/ and the socket */
    int port;
    pid_t pid;
    char url[256];  /* postgresql://postgres:PW@127.0.0.1:PORT/postgres */
};

static inline void run_or_abort(const char *cmd)
{
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "`%s` failed (%d)", cmd, rc);
}

/* Starts postgres on pg->dir/data as the postgres user, a direct child (setpriv exec's it). */
static inline void test_postgres_start(struct test_postgres *pg)
{
    struct passwd *pw = getpwnam("postgres");
    ck_assert_msg(pw != NULL, "no postgres user: scripts/setup.sh installs postgresql");
    char data[160], port[16], log[200];
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(port, sizeof port, "%d", pg->port);
    snprintf(log, sizeof log, "%s/postgres.log", pg->dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        char uid[16], gid[16];
        snprintf(uid, sizeof uid, "%u", (unsigned)pw->pw_uid);
        snprintf(gid, sizeof gid, "%u", (unsigned)pw->pw_gid);
        execl("/usr/bin/setpriv", "setpriv", "--reuid", uid, "--regid", gid, "--init-groups", PG_BIN "/postgres", "-D",
              data, "-k", pg->dir, "-p", port, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", (char *)NULL);
        _exit(127);
    }
    pg->pid = pid;
    char cmd[400];
    snprintf(cmd, sizeof cmd, PG_BIN "/pg_isready -q -h 127.0.0.1 -p %d", pg->port);
    for (int i = 0; i < 300; i++) {
        if (system(cmd) == 0) return;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) ck_abort_msg("postgres exited at start: see %s", log);
        usleep(100000);
    }
    ck_abort_msg("postgres did not answer in 30 s: see %s", log);
}

/* initdb (scram passwords over TCP) in a fresh folder, then start. */
static inline void test_postgres_init(struct test_postgres *pg)
{
    snprintf(pg->dir, sizeof pg->dir, "/tmp/cohort-pg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(pg->dir));
    struct passwd *pw = getpwnam("postgres");
    ck_assert_msg(pw != NULL, "no postgres user: scripts/setup.sh installs postgresql");
    ck_assert_int_eq(chown(pg->dir, pw->pw_uid, pw->pw_gid), 0);
    char pwfile[200], cmd[800];
    snprintf(pwfile, sizeof pwfile, "%s/pwfile", pg->dir);
    FILE *f = fopen(pwfile, "w");
    ck_assert_ptr_nonnull(f);
    fputs(PG_PASSWORD "\n", f);
    fclose(f);
    ck_assert_int_eq(chown(pwfile, pw->pw_uid, pw->pw_gid), 0);
    snprintf(cmd, sizeof cmd,
             "setpriv --reuid %u --regid %u --init-groups " PG_BIN "/initdb -D %s/data -U postgres --pwfile=%s "
             "--auth-host=scram-sha-256 --auth-local=trust >%s/initdb.log 2>&1",
             (unsigned)pw->pw_uid, (unsigned)pw->pw_gid, pg->dir, pwfile, pg->dir);
    run_or_abort(cmd);
    pg->port = testutil_free_port();
    snprintf(pg->url, sizeof pg->url, "postgresql://postgres:%s@127.0.0.1:%d/postgres", PG_PASSWORD, pg->port);
    test_postgres_start(pg);
}

/* Fast shutdown (SIGINT) and reap. */
static inline void test_postgres_stop(struct test_postgres *pg)
{
    if (pg->pid <= 0) return;
    kill(pg->pid, SIGINT);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pg->pid, NULL, WNOHANG) == pg->pid) {
            pg->pid = 0;
            return;
        }
        usleep(100000);
    }
    kill(pg->pid, SIGKILL);
    waitpid(pg->pid, NULL, 0);
    pg->pid = 0;
}

static inline void test_postgres_destroy(struct test_postgres *pg)
{
    test_postgres_stop(pg);
    if (pg->dir[0] == '\0') return;
    if (getenv("COHORT_TEST_KEEP")) {
        fprintf(stderr, "kept %s\n", pg->dir);
        return;
    }
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pg->dir);
    run_or_abort(cmd);
    pg->dir[0] = '\0';
}

/* Runs SQL through psql on the test server; returns its output's first line (static). */
static inline const char *test_psql(const struct test_postgres *pg, const char *sql)
{
    static char line[4096];
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "PGPASSWORD=%s psql -X -q -t -A -h 127.0.0.1 -p %d -U postgres -d postgres -c \"%s\" 2>&1",
             PG_PASSWORD, pg->port, sql);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    line[0] = '\0';
    if (fgets(line, sizeof line, p) == NULL) line[0] = '\0';
    char rest[512];
    while (fgets(rest, sizeof rest, p) != NULL) {
    }
    pclose(p);
    line[strcspn(line, "\n")] = '\0';
    return line;
}

/* ---- Prometheus ---- */

struct test_prometheus {
    char dir[128];
    int port;
    pid_t pid;
};

/* Starts Prometheus scraping 127.0.0.1:target_port/metrics every second, its data in a temp folder. */
static inline void test_prometheus_start(struct test_prometheus *p, int target_port)
{
    snprintf(p->dir, sizeof p->dir, "/tmp/cohort-prom-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(p->dir));
    char config[200], data[200], listen[64], log[200];
    snprintf(config, sizeof config, "%s/prometheus.yml", p->dir);
    snprintf(data, sizeof data, "%s/data", p->dir);
    snprintf(log, sizeof log, "%s/prometheus.log", p->dir);
    FILE *f = fopen(config, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: cohort\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n",
            target_port);
    fclose(f);
    p->port = testutil_free_port();
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", p->port);
    char config_flag[240], data_flag[240];
    snprintf(config_flag, sizeof config_flag, "--config.file=%s", config);
    snprintf(data_flag, sizeof data_flag, "--storage.tsdb.path=%s", data);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        FILE *l = freopen(log, "a", stderr);
        (void)l;
        execlp("prometheus", "prometheus", config_flag, data_flag, listen, (char *)NULL);
        _exit(127);
    }
    p->pid = pid;
    ck_assert_msg(testutil_wait_port(p->port, 30000) == 0, "prometheus did not listen: see %s", log);
}

static inline void test_prometheus_stop(struct test_prometheus *p)
{
    if (p->pid > 0) testutil_stop_process(p->pid);
    p->pid = 0;
    if (p->dir[0] && getenv("COHORT_TEST_KEEP") == NULL) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
        run_or_abort(cmd);
    }
}

#endif
