/*
 * docker_probe.c - the program inside the test image of test_docker (a FROM scratch
 * image): writes one line to stdout and one to stderr, then waits for SIGTERM (exit 0),
 * or exits at once with the code given as `exit N`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
    printf("hello stdout uid=%d\n", (int)getuid());
    fflush(stdout);
    fprintf(stderr, "hello stderr\n");
    if (argc == 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
    signal(SIGTERM, on_term);
    while (!stop) pause();
    return 0;
}
