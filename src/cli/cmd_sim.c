/* trailguard sim — the loopback exchange emulator (Binance USD-M and Bybit v5
 * linear) for tests, the demo and benchmarks. */
#define _POSIX_C_SOURCE 200809L /* sigaction, pthread_sigmask, pipe */

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "trailguard/sim.h"

static const char sim_usage[] =
    "usage: trailguard sim [options]\n"
    "\n"
    "Serves Binance USD-M futures (REST /fapi, WebSocket streams) on PORT and Bybit v5\n"
    "linear (REST /v5, WebSocket) on PORT+1, both on loopback, with signed requests,\n"
    "stop orders that trigger on the mark price, fault injection and a control\n"
    "endpoint under /sim/ on both ports. When ready it prints one line per venue:\n"
    "  binance rest=http://HOST:P1 ws=ws://HOST:P1\n"
    "  bybit rest=http://HOST:P2 ws=ws://HOST:P2\n"
    "and runs until SIGINT or SIGTERM. See docs/sim.md.\n"
    "\n"
    "  --listen HOST:PORT   address (default 127.0.0.1:0; port 0 = two free ports)\n"
    "  --seed N             seed of price walks and identifiers (default 1)\n"
    "  --scenario FILE      JSON scenario: marks, price paths, positions, faults\n"
    "  --accounts FILE      JSON list of {venue, name, api_key, api_secret}\n"
    "                       (default: the built-in test accounts of docs/sim.md)\n";

/* Splits HOST:PORT; false on a malformed address. */
static bool parse_listen(const char *text, tg_sim_config *cfg) {
    assert(text != NULL && cfg != NULL);
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof cfg->host) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65534) {
        return false;
    }
    const char *host = text;
    size_t len = (size_t)(colon - text);
    if (host[0] == '[' && len >= 2 && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    assert(len < sizeof cfg->host);
    memcpy(cfg->host, host, len);
    cfg->host[len] = '\0';
    cfg->port = (uint16_t)port;
    return true;
}

static int parse_args(int argc, char **argv, tg_sim_config *cfg) {
    assert(argc >= 1 && argv != NULL && argv[argc] == NULL);
    assert(cfg != NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(sim_usage, stdout);
            return -1;
        }
        if (i + 1 >= argc) {
            tg_cli_error("sim: %s needs a value (see trailguard sim --help)", a);
            return TG_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--listen") == 0) {
            if (!parse_listen(v, cfg)) {
                tg_cli_error("sim: --listen wants HOST:PORT with PORT 0..65534, got '%s'", v);
                return TG_EXIT_USAGE;
            }
        } else if (strcmp(a, "--seed") == 0) {
            char *end = NULL;
            errno = 0;
            cfg->seed = strtoull(v, &end, 10);
            if (errno != 0 || *end != '\0' || end == v) {
                tg_cli_error("sim: --seed wants a whole number, got '%s'", v);
                return TG_EXIT_USAGE;
            }
        } else if (strcmp(a, "--scenario") == 0) {
            cfg->scenario_path = v;
        } else if (strcmp(a, "--accounts") == 0) {
            cfg->accounts_path = v;
        } else {
            tg_cli_error("sim: unknown option '%s' (see trailguard sim --help)", a);
            return TG_EXIT_USAGE;
        }
    }
    return TG_EXIT_OK;
}

/* The startup contract of docs/sim.md: one line per venue, then flush. */
static void print_ready(const tg_sim_config *cfg, tg_sim_ports ports) {
    assert(cfg != NULL);
    const char *h = cfg->host;
    assert(strlen(h) < sizeof cfg->host);
    bool v6 = strchr(h, ':') != NULL;
    const char *l = v6 ? "[" : "", *r = v6 ? "]" : "";
    printf("binance rest=http://%s%s%s:%u ws=ws://%s%s%s:%u\n", l, h, r, (unsigned)ports.binance, l,
           h, r, (unsigned)ports.binance);
    printf("bybit rest=http://%s%s%s:%u ws=ws://%s%s%s:%u\n", l, h, r, (unsigned)ports.bybit, l, h,
           r, (unsigned)ports.bybit);
    fflush(stdout);
}

/* SIGINT/SIGTERM wake the main thread through a pipe. A handler (not only a
 * blocked mask and sigwait) is needed because a sanitizer runtime may own a
 * thread that does not block the signal. */
static int stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig) {
    (void)sig;
    char b = 1;
    ssize_t n = write(stop_pipe[1], &b, 1);
    (void)n;
}

static bool install_stop_handlers(void) {
    assert(stop_pipe[0] == -1 && stop_pipe[1] == -1); /* installed once per process */
    if (pipe(stop_pipe) != 0) {
        return false;
    }
    assert(stop_pipe[0] >= 0 && stop_pipe[1] >= 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0;
}

static void wait_for_stop(void) {
    assert(stop_pipe[0] >= 0);
    char b;
    while (read(stop_pipe[0], &b, 1) < 0 && errno == EINTR) {
    }
}

int tg_cli_sim(int argc, char **argv) {
    tg_sim_config cfg = tg_sim_config_default();
    int rc = parse_args(argc, argv, &cfg);
    if (rc != TG_EXIT_OK) {
        return rc < 0 ? TG_EXIT_OK : rc;
    }
    if (!install_stop_handlers()) {
        tg_cli_error("sim: cannot install the SIGINT/SIGTERM handlers");
        return TG_EXIT_FAILURE;
    }
    /* The loop thread starts with the stop signals blocked, so they reach the
     * main thread (or any thread with the handler), never interrupt the loop. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    tg_err err = {0};
    tg_sim *sim = NULL;
    if (tg_sim_new(&cfg, &sim, &err) != TG_OK) {
        tg_cli_error("sim: %s", err.msg);
        return err.status == TG_E_INVALID ? TG_EXIT_USAGE : TG_EXIT_FAILURE;
    }
    assert(sim != NULL);
    tg_status st = tg_sim_start(sim, &err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (st != TG_OK) {
        tg_cli_error("sim: %s", err.msg);
        tg_sim_free(sim);
        return TG_EXIT_FAILURE;
    }
    print_ready(&cfg, tg_sim_ports_get(sim));
    wait_for_stop();
    tg_sim_free(sim);
    return TG_EXIT_OK;
}
