#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>
#include <uv.h>

#include "cli/cli.h"
#include "trailguard/config.h"
#include "trailguard/guard.h"
#include "trailguard/log.h"

#define RUN_DEFAULT_CONFIG "./trailguard.ini"

typedef struct run_ctx {
    uv_loop_t loop;                         /* the daemon's one loop */
    tg_guard *guard;                        /* the daemon */
    tg_config *cfg;                         /* parameters in force */
    const char *config_path;                /* re-read on SIGHUP */
    tg_log log;                             /* stderr and --log-file */
    uv_signal_t sig_hup, sig_term, sig_int; /* signals */
    uv_timer_t watchdog;                    /* systemd watchdog pings */
    bool watchdog_on;                       /* WATCHDOG_USEC was set */
    int exit_code;                          /* what the process returns */
} run_ctx;

static void usage(FILE *f) {
    assert(f != NULL);
    fprintf(f, "usage: trailguard run [--config FILE] [--log-file FILE] [--log-level LEVEL]\n"
               "                      [--busy-poll]\n"
               "  Keeps a trailing stop on the exchange for every open position of the\n"
               "  accounts in FILE (default " RUN_DEFAULT_CONFIG "). SIGHUP reloads parameters\n"
               "  and reopens the log file; SIGTERM/SIGINT flush the journal and exit,\n"
               "  leaving every stop in place.\n"
               "  --busy-poll: the event loop polls without ever sleeping, so that input\n"
               "  is seen without the wake-up of an idle CPU (tens of microseconds on many\n"
               "  virtual machines), at the price of one CPU kept busy all the time.\n"
               "  See docs/run.md.\n");
}

static void on_close(uv_handle_t *h) {
    assert(h != NULL);
    (void)h;
}

static void diff_line(void *ctx, const char *scope, const char *name, const char *old_value,
                      const char *new_value) {
    run_ctx *r = ctx;
    assert(r != NULL && name != NULL);
    tg_logline l;
    tg_log_begin(&l, &r->log, TG_LOG_INFO, "param_changed");
    tg_log_str(&l, "scope", scope != NULL ? scope : "defaults");
    tg_log_str(&l, "name", name);
    tg_log_str(&l, "old", old_value);
    tg_log_str(&l, "new", new_value);
    tg_log_end(&l);
}

static void on_signal(uv_signal_t *s, int signum) {
    run_ctx *r = s->data;
    assert(r != NULL && r->guard != NULL && r->cfg != NULL);
    assert(signum == SIGHUP || signum == SIGTERM || signum == SIGINT); /* the three started */
    tg_logline l;
    if (signum == SIGHUP) {
        tg_config *next = NULL;
        tg_err err;
        if (tg_log_reopen(&r->log, &err) != TG_OK) { /* logrotate: a new file at the name */
            tg_log_begin(&l, &r->log, TG_LOG_ERROR, "log_reopen_failed");
            tg_log_str(&l, "detail", err.msg);
            tg_log_end(&l);
        }
        if (tg_config_load(r->config_path, &next, &err) != TG_OK) {
            tg_log_begin(&l, &r->log, TG_LOG_ERROR, "reload_failed");
            tg_log_str(&l, "detail", err.msg);
            tg_log_end(&l);
            return;
        }
        tg_log_begin(&l, &r->log, TG_LOG_INFO, "reloading");
        tg_log_str(&l, "config", r->config_path);
        tg_log_end(&l);
        assert(next != NULL);
        tg_config_diff(r->cfg, next, diff_line, r);
        tg_guard_reload(r->guard, next);
        tg_config_free(r->cfg);
        r->cfg = next;
        return;
    }
    tg_log_begin(&l, &r->log, TG_LOG_INFO, "signal");
    tg_log_str(&l, "name", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    tg_log_end(&l);
    sd_notify(0, "STOPPING=1");
    tg_guard_drain(r->guard);
    uv_close((uv_handle_t *)&r->sig_hup, on_close);
    uv_close((uv_handle_t *)&r->sig_term, on_close);
    uv_close((uv_handle_t *)&r->sig_int, on_close);
    if (r->watchdog_on) {
        uv_close((uv_handle_t *)&r->watchdog, on_close);
    }
}

static void on_watchdog(uv_timer_t *t) {
    assert(t != NULL);
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

int tg_cli_run(int argc, char **argv) {
    assert(argc >= 1 && argv != NULL && argv[argc] == NULL);
    const char *config_path = RUN_DEFAULT_CONFIG;
    const char *log_file = NULL;
    const char *log_level = NULL;
    bool busy_poll = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return TG_EXIT_OK;
        }
        if (strcmp(a, "--busy-poll") == 0) {
            busy_poll = true;
            continue;
        }
        if (i + 1 >= argc) {
            tg_cli_error("run: %s needs a value (trailguard run --help)", a);
            return TG_EXIT_USAGE;
        }
        if (strcmp(a, "--config") == 0) {
            config_path = argv[++i];
        } else if (strcmp(a, "--log-file") == 0) {
            log_file = argv[++i];
        } else if (strcmp(a, "--log-level") == 0) {
            log_level = argv[++i];
        } else {
            tg_cli_error("run: unknown option '%s' (trailguard run --help)", a);
            return TG_EXIT_USAGE;
        }
    }
    signal(SIGPIPE, SIG_IGN); /* a peer that goes away is an error value, never a death */
    run_ctx r;
    memset(&r, 0, sizeof r);
    r.config_path = config_path;
    tg_err err;
    if (tg_config_load(config_path, &r.cfg, &err) != TG_OK) {
        tg_cli_error("run: %s", err.msg);
        return TG_EXIT_USAGE;
    }
    assert(r.cfg != NULL);
    tg_log_level level = r.cfg->log_level;
    if (log_level != NULL && !tg_log_level_parse(log_level, &level)) {
        tg_cli_error("run: --log-level '%s' is not debug, info, warn or error", log_level);
        tg_config_free(r.cfg);
        return TG_EXIT_USAGE;
    }
    if (tg_log_init(&r.log, level, log_file != NULL ? log_file : r.cfg->log_file, &err) != TG_OK) {
        tg_cli_error("run: %s", err.msg);
        tg_config_free(r.cfg);
        return TG_EXIT_USAGE;
    }
    uv_loop_init(&r.loop);
    tg_status st = tg_guard_new(r.cfg, &r.loop, &r.log, &r.guard, &err);
    if (st == TG_OK) {
        st = tg_guard_start(r.guard, &err);
    }
    if (st != TG_OK) {
        tg_cli_error("run: %s", err.msg);
        r.exit_code = st == TG_E_INVALID ? TG_EXIT_USAGE : TG_EXIT_FAILURE;
        if (r.guard != NULL) {
            tg_guard_drain(r.guard);
            uv_run(&r.loop, UV_RUN_DEFAULT);
            tg_guard_free(r.guard);
            uv_run(&r.loop, UV_RUN_DEFAULT);
        }
        uv_loop_close(&r.loop);
        tg_config_free(r.cfg);
        tg_log_close(&r.log);
        return r.exit_code;
    }
    assert(r.guard != NULL);
    uv_signal_init(&r.loop, &r.sig_hup);
    uv_signal_init(&r.loop, &r.sig_term);
    uv_signal_init(&r.loop, &r.sig_int);
    r.sig_hup.data = r.sig_term.data = r.sig_int.data = &r;
    uv_signal_start(&r.sig_hup, on_signal, SIGHUP);
    uv_signal_start(&r.sig_term, on_signal, SIGTERM);
    uv_signal_start(&r.sig_int, on_signal, SIGINT);
    uint64_t watchdog_us = 0;
    if (sd_watchdog_enabled(0, &watchdog_us) > 0 && watchdog_us > 0) {
        uv_timer_init(&r.loop, &r.watchdog);
        uv_timer_start(&r.watchdog, on_watchdog, watchdog_us / 2000, watchdog_us / 2000);
        r.watchdog_on = true;
    }
    sd_notify(0, "READY=1");
    if (busy_poll) {
        tg_logline bl;
        tg_log_begin(&bl, &r.log, TG_LOG_INFO, "busy_poll");
        tg_log_str(&bl, "why", "--busy-poll: the loop never sleeps and keeps one CPU busy");
        tg_log_end(&bl);
        /* each pass polls with a zero timeout and runs what is due; the loop
         * ends, as in the sleeping mode, once the drain closed every handle */
        while (uv_run(&r.loop, UV_RUN_NOWAIT) != 0) {
        }
    } else {
        uv_run(&r.loop, UV_RUN_DEFAULT);
    }
    tg_guard_free(r.guard);
    /* libwebsockets on a foreign loop finishes destroying its context from
     * the loop: let it, so that every handle is closed before the loop is */
    uv_run(&r.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r.loop) != 0) {
        tg_cli_error("run: handles were still open at exit");
    }
    tg_logline l;
    tg_log_begin(&l, &r.log, TG_LOG_INFO, "stopped");
    tg_log_end(&l);
    tg_config_free(r.cfg);
    tg_log_close(&r.log);
    return TG_EXIT_OK;
}
