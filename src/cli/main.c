/* trailguard — the command-line front end: dispatches to a subcommand. */
#include <assert.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef TG_VERSION
#define TG_VERSION "0.1.0"
#endif

static const char usage_text[] =
    "usage: trailguard <command> [options]\n"
    "\n"
    "commands:\n"
    "  replay    back-test the trailing stop on a historical price file\n"
    "  genpath   write the seeded synthetic price path used by the demo\n"
    "  sim       run the loopback exchange emulator (Binance and Bybit)\n"
    "  state     list, show or export the guarded positions kept in the store\n"
    "  demo      the daemon live against the loopback emulator (make demo)\n"
    "  run       the daemon: keep a trailing stop on every open position\n"
    "  check-config  load a daemon configuration file and report every error\n"
    "  diagnose  watch the daemon, the store and the exchange; report where they disagree\n"
    "  cluster   status: every account's lease among several daemons (PostgreSQL)\n"
    "\n"
    "  trailguard <command> --help   options of a command\n"
    "  trailguard --version          the version\n";

void tg_cli_error(const char *fmt, ...) {
    assert(fmt != NULL);
    va_list ap;
    va_start(ap, fmt);
    fputs("trailguard: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int main(int argc, char **argv) {
    /* Every subcommand talks over sockets (the emulator, the daemon's venue
     * and metrics connections): a peer that closes must be an EPIPE the code
     * handles, never a signal that kills the process with status 141. */
    assert(argc >= 0 && argv != NULL);
    assert(argv[argc] == NULL); /* C11 5.1.2.2.1 */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(usage_text, stderr);
        return TG_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    assert(cmd != NULL);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return TG_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("trailguard %s\n", TG_VERSION);
        return TG_EXIT_OK;
    }
    if (strcmp(cmd, "replay") == 0) {
        return tg_cli_replay(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "genpath") == 0) {
        return tg_cli_genpath(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "sim") == 0) {
        return tg_cli_sim(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "demo") == 0) {
        return tg_cli_demo(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "run") == 0) {
        return tg_cli_run(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "state") == 0) {
        return tg_cli_state(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "diagnose") == 0) {
        return tg_cli_diagnose(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "cluster") == 0) {
        return tg_cli_cluster(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "check-config") == 0) {
        return tg_cli_check_config(argc - 1, argv + 1);
    }
    tg_cli_error("unknown command '%s'", cmd);
    fputs(usage_text, stderr);
    return TG_EXIT_USAGE;
}
