/*
 * cli/cli.h — the subcommands of the `trailguard` command.
 *
 * Each takes the arguments after its name (argv[0] is the subcommand) and
 * returns the process exit status: 0 success, 1 a failure while running
 * (writing output, memory), 2 bad usage or bad input. Messages go to stderr
 * as one line starting with "trailguard: ".
 */
#ifndef TRAILGUARD_CLI_H
#define TRAILGUARD_CLI_H

#include <stdbool.h>

#include "trailguard/store.h"

#define TG_EXIT_OK      0
#define TG_EXIT_FAILURE 1
#define TG_EXIT_USAGE   2

int tg_cli_replay(int argc, char **argv);
int tg_cli_genpath(int argc, char **argv);
int tg_cli_sim(int argc, char **argv);
int tg_cli_state(int argc, char **argv);
int tg_cli_check_config(int argc, char **argv);
int tg_cli_run(int argc, char **argv);
int tg_cli_demo(int argc, char **argv);
int tg_cli_diagnose(int argc, char **argv);
int tg_cli_cluster(int argc, char **argv);

/* Prints "trailguard: " and the message, then a newline, to stderr. */
void tg_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
