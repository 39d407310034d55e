/* main.c - the `cohort` operator CLI: hands argv to the command tree. */
#include <stdio.h>

#include "commands.h"

int main(int argc, char **argv)
{
    return cli_run(&cohort_root_command, argc, argv, stdout, stderr);
}
