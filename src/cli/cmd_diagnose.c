/* `trailguard diagnose`: the diagnostic monitor — engine vs store vs
 * exchange — with its log, JSON report, console summary and HTML page. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "diag/probe.h"
#include "trailguard/config.h"
#include "trailguard/diag.h"

#define DIAG_DEFAULT_CONFIG "./trailguard.ini"
#define DIAG_TIMEOUT_MS     10000 /* one daemon or exchange request */
#define DIAG_PATH_MAX       1024

typedef struct diag_args {
    const char *config_path;                   /* --config */
    const char *duration;                      /* --duration */
    const char *daemon;                        /* --daemon */
    const char *out;                           /* --out */
    const char *fail_on;                       /* --fail-on */
    const char *html;                          /* --html */
    const char *timeout;                       /* --timeout */
    const char *interval[TG_DIAG_PROBE_COUNT]; /* --engine-interval, ... */
    const char *progress;                      /* --progress-interval */
    bool once;                                 /* --once */
    bool exchange_only;                        /* --exchange-only */
} diag_args;

static void usage(FILE *f) {
    fprintf(f,
            "usage: trailguard diagnose [--config FILE] [--duration 15] [--once]\n"
            "                           [--daemon URL] [--out DIR] [--html FILE]\n"
            "                           [--fail-on critical|high|medium|never] [--exchange-only]\n"
            "                           [--engine-interval S] [--store-interval S]\n"
            "                           [--exchange-interval S] [--consistency-interval S]\n"
            "                           [--progress-interval S] [--timeout S]\n"
            "  Watches the daemon (its /v1/positions and /metrics), the store and every\n"
            "  account on the exchange for --duration (minutes, or 90s, 2h; default 15)\n"
            "  and reports where they disagree. --once: one pass of every probe and one\n"
            "  check (cron, CI). --exchange-only: no daemon, no store; checks that every\n"
            "  open position has a stop, whoever placed it. Writes DIR/logs/\n"
            "  trailguard-diagnose-STAMP.log and DIR/trailguard-diagnose-STAMP.json.\n"
            "  Intervals default to [diagnose] of FILE (5, 30, 60, 120 and 60 s).\n"
            "  Exit 0 healthy, 1 issues at or above --fail-on (default high), 2 could\n"
            "  not run.\n");
}

/* "5", "0.5", "5s" → ms > 0. */
static bool parse_seconds(const char *text, int64_t *ms) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno != 0 || (*end != '\0' && strcmp(end, "s") != 0) || !(v > 0) ||
        v > 86400) {
        return false;
    }
    *ms = (int64_t)(v * 1000 + 0.5);
    return *ms > 0;
}

static int parse_args(int argc, char **argv, diag_args *a) {
    static const char *const interval_flags[TG_DIAG_PROBE_COUNT] = {
        "--engine-interval", "--store-interval", "--exchange-interval", "--consistency-interval"};
    memset(a, 0, sizeof *a);
    a->config_path = DIAG_DEFAULT_CONFIG;
    a->out = ".";
    a->fail_on = "high";
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return -1;
        }
        if (strcmp(o, "--once") == 0) {
            a->once = true;
            continue;
        }
        if (strcmp(o, "--exchange-only") == 0) {
            a->exchange_only = true;
            continue;
        }
        const char **slot = strcmp(o, "--config") == 0              ? &a->config_path
                            : strcmp(o, "--duration") == 0          ? &a->duration
                            : strcmp(o, "--daemon") == 0            ? &a->daemon
                            : strcmp(o, "--out") == 0               ? &a->out
                            : strcmp(o, "--fail-on") == 0           ? &a->fail_on
                            : strcmp(o, "--html") == 0              ? &a->html
                            : strcmp(o, "--timeout") == 0           ? &a->timeout
                            : strcmp(o, "--progress-interval") == 0 ? &a->progress
                                                                    : NULL;
        for (int p = 0; p < TG_DIAG_PROBE_COUNT && slot == NULL; p++) {
            slot = strcmp(o, interval_flags[p]) == 0 ? &a->interval[p] : NULL;
        }
        if (slot == NULL) {
            tg_cli_error("diagnose: unknown option '%s' (trailguard diagnose --help)", o);
            return TG_EXIT_USAGE;
        }
        if (i + 1 >= argc) {
            tg_cli_error("diagnose: %s needs a value (trailguard diagnose --help)", o);
            return TG_EXIT_USAGE;
        }
        *slot = argv[++i];
    }
    return TG_EXIT_OK;
}

/* Options from the file's [diagnose], the flags over them. */
static int make_options(const diag_args *a, const tg_config *cfg, tg_diag_options *o) {
    memset(o, 0, sizeof *o);
    o->cfg = cfg;
    o->once = a->once;
    o->exchange_only = a->exchange_only;
    o->duration_ms = 15 * 60000;
    if (a->duration != NULL && !tg_diag_duration_parse(a->duration, &o->duration_ms)) {
        tg_cli_error("diagnose: --duration '%s' is not minutes (15) or a duration (90s, 2h)",
                     a->duration);
        return TG_EXIT_USAGE;
    }
    const tg_config_diagnose *d = &cfg->diagnose;
    int64_t from_file[TG_DIAG_PROBE_COUNT] = {d->engine_interval_ms, d->store_interval_ms,
                                              d->exchange_interval_ms, d->consistency_interval_ms};
    for (int p = 0; p < TG_DIAG_PROBE_COUNT; p++) {
        o->interval_ms[p] = from_file[p];
        if (a->interval[p] != NULL && !parse_seconds(a->interval[p], &o->interval_ms[p])) {
            tg_cli_error("diagnose: the %s interval '%s' is not a number of seconds above 0",
                         tg_diag_probe_str((tg_diag_probe)p), a->interval[p]);
            return TG_EXIT_USAGE;
        }
    }
    o->progress_ms = d->progress_interval_ms;
    o->request_timeout_ms = DIAG_TIMEOUT_MS;
    if ((a->progress != NULL && !parse_seconds(a->progress, &o->progress_ms)) ||
        (a->timeout != NULL && !parse_seconds(a->timeout, &o->request_timeout_ms))) {
        tg_cli_error("diagnose: --progress-interval and --timeout take seconds above 0");
        return TG_EXIT_USAGE;
    }
    o->thresholds = tg_diag_thresholds_default();
    o->thresholds.price_tolerance_pct =
        (double)d->price_tolerance_percent.units / (double)TG_DEC_SCALE;
    o->thresholds.unconfirmed_ms = d->unconfirmed_ms;
    o->thresholds.stale_ms = tg_config_settings(cfg, NULL).stale_ms;
    if (a->daemon != NULL) {
        size_t n = strlen(a->daemon);
        while (n > 0 && a->daemon[n - 1] == '/') {
            n--;
        }
        if ((strncmp(a->daemon, "http://", 7) != 0 && strncmp(a->daemon, "https://", 8) != 0) ||
            n >= sizeof o->daemon_url) {
            tg_cli_error("diagnose: --daemon '%s' is not an http:// or https:// URL", a->daemon);
            return TG_EXIT_USAGE;
        }
        memcpy(o->daemon_url, a->daemon, n);
        o->daemon_url[n] = '\0';
    } else {
        const char *host = cfg->http_host;
        if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
            host = "127.0.0.1";
        } else if (strcmp(host, "::") == 0) {
            host = "::1";
        }
        bool v6 = strchr(host, ':') != NULL;
        snprintf(o->daemon_url, sizeof o->daemon_url, "http://%s%s%s:%u", v6 ? "[" : "", host,
                 v6 ? "]" : "", (unsigned)cfg->http_port);
    }
    return TG_EXIT_OK;
}

static bool mkdir_p(const char *dir) {
    char buf[DIAG_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return false;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

/* The JSON report and the HTML page; false (with a message) on an error. */
static bool write_reports(const char *json_path, const char *html_path, const tg_diag_run *run,
                          const tg_diag_issues *issues) {
    tg_err err = {0};
    FILE *f = fopen(json_path, "w");
    if (f == NULL || tg_diag_report_json(f, run, issues, &err) != TG_OK || fclose(f) != 0) {
        tg_cli_error("diagnose: cannot write %s: %s", json_path,
                     err.msg[0] != '\0' ? err.msg : strerror(errno));
        return false;
    }
    if (html_path == NULL) {
        return true;
    }
    f = fopen(html_path, "w");
    if (f == NULL || tg_diag_report_html(f, run, issues, &err) != TG_OK || fclose(f) != 0) {
        tg_cli_error("diagnose: cannot write %s: %s", html_path,
                     err.msg[0] != '\0' ? err.msg : strerror(errno));
        return false;
    }
    return true;
}

/* Runs the monitor with o, writes every output; returns the exit status. */
static int diagnose(const diag_args *a, const tg_diag_options *base, tg_diag_severity fail_on,
                    bool never) {
    char stamp[32], log_path[DIAG_PATH_MAX], json_path[DIAG_PATH_MAX], logs_dir[DIAG_PATH_MAX];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    if (strlen(a->out) > DIAG_PATH_MAX / 2) {
        tg_cli_error("diagnose: --out is longer than %d bytes", DIAG_PATH_MAX / 2);
        return TG_EXIT_USAGE;
    }
    snprintf(logs_dir, sizeof logs_dir, "%.512s/logs", a->out);
    snprintf(log_path, sizeof log_path, "%.512s/logs/trailguard-diagnose-%.20s.log", a->out, stamp);
    snprintf(json_path, sizeof json_path, "%.512s/trailguard-diagnose-%.20s.json", a->out, stamp);
    if (!mkdir_p(logs_dir)) {
        tg_cli_error("diagnose: cannot create %s: %s", logs_dir, strerror(errno));
        return TG_EXIT_USAGE;
    }
    FILE *log = fopen(log_path, "w");
    if (log == NULL) {
        tg_cli_error("diagnose: cannot write %s: %s", log_path, strerror(errno));
        return TG_EXIT_USAGE;
    }
    tg_diag_options o = *base;
    o.log = log;
    o.console = stdout;
    o.tty = isatty(STDOUT_FILENO) != 0;
    tg_diag_run *run = calloc(1, sizeof *run);
    tg_diag_issues *issues = calloc(1, sizeof *issues);
    tg_diag_timeline *timelines = calloc(TG_DIAG_TIMELINES_MAX, sizeof *timelines);
    int rc = TG_EXIT_FAILURE;
    tg_err err = {0};
    tg_diag_outcome out;
    if (run == NULL || issues == NULL || timelines == NULL) {
        tg_cli_error("diagnose: out of memory");
        goto done;
    }
    run->timelines = timelines;
    snprintf(run->config_path, sizeof run->config_path, "%s", a->config_path);
    if (tg_diag_monitor_run(&o, run, issues, &out, &err) != TG_OK) {
        tg_cli_error("diagnose: %s", err.msg);
        rc = TG_EXIT_USAGE;
        goto done;
    }
    fflush(log);
    tg_diag_report_console(stdout, run, issues);
    if (!write_reports(json_path, a->html, run, issues)) {
        goto done;
    }
    printf("log: %s\nreport: %s\n", log_path, json_path);
    bool reached = out.reached[TG_DIAG_PROBE_EXCHANGE] ||
                   (!o.exchange_only &&
                    (out.reached[TG_DIAG_PROBE_ENGINE] || out.reached[TG_DIAG_PROBE_STORE]));
    int worst = tg_diag_worst(issues);
    if (!reached) {
        tg_cli_error("diagnose: nothing answered (%s): see %s",
                     o.exchange_only ? "no account on the exchange"
                                     : "neither the daemon, the store nor the exchange",
                     log_path);
        rc = TG_EXIT_USAGE;
    } else if (!never && worst >= (int)fail_on) {
        rc = TG_EXIT_FAILURE;
    } else {
        rc = TG_EXIT_OK;
    }
done:
    fclose(log);
    free(timelines);
    free(issues);
    free(run);
    return rc;
}

int tg_cli_diagnose(int argc, char **argv) {
    diag_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != TG_EXIT_OK) {
        return rc < 0 ? TG_EXIT_OK : rc;
    }
    tg_diag_severity fail_on = TG_DIAG_HIGH;
    bool never = strcmp(a.fail_on, "never") == 0;
    if (!never && (!tg_diag_severity_parse(a.fail_on, &fail_on) || fail_on == TG_DIAG_LOW)) {
        tg_cli_error("diagnose: --fail-on '%s' is not critical, high, medium or never", a.fail_on);
        return TG_EXIT_USAGE;
    }
    tg_config *cfg = NULL;
    tg_err err = {0};
    if (tg_config_load(a.config_path, &cfg, &err) != TG_OK) {
        tg_cli_error("diagnose: %s", err.msg);
        return TG_EXIT_USAGE;
    }
    tg_diag_options o;
    rc = make_options(&a, cfg, &o);
    if (rc == TG_EXIT_OK) {
        rc = diagnose(&a, &o, fail_on, never);
    }
    tg_config_free(cfg);
    return rc;
}
