/*
 * diag/probe.h — the diagnostic monitor's probes on one libuv loop.
 *
 * Five timers share the loop: engine (the daemon's GET /v1/positions and
 * /metrics, asynchronous), store (every row and the newest journal entries
 * of each account, read-only, timed), exchange (per account a tg_venue:
 * positions and every protective stop), consistency (tg_diag_check over the
 * latest snapshots) and progress (the console block). A probe whose timer
 * fires while its previous run is still out is counted as an overrun and
 * skipped, so a slow source never piles requests up.
 *
 * tg_diag_monitor_run() owns the loop from start to end; the caller gives
 * the configuration and the outputs and gets the run and its issues.
 */
#ifndef TG_DIAG_PROBE_H
#define TG_DIAG_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "trailguard/config.h"
#include "trailguard/diag.h"

typedef struct tg_diag_options {
    const tg_config *cfg;                     /* accounts, store URI, [diagnose] */
    char daemon_url[128];                     /* base URL of the daemon's API, no trailing '/' */
    bool exchange_only;                       /* no daemon, no store */
    bool once;                                /* one pass of every probe and one check */
    int64_t duration_ms;                      /* how long to run (ignored with once) */
    int64_t interval_ms[TG_DIAG_PROBE_COUNT]; /* per probe, ms */
    int64_t progress_ms;                      /* console block period, ms */
    int64_t request_timeout_ms;               /* one daemon or exchange request, ms */
    tg_diag_thresholds thresholds;            /* of the check */
    FILE *log;                                /* logfmt lines of every probe and issue; NULL none */
    FILE *console;                            /* the progress block; NULL none */
    bool tty;                                 /* console is a terminal: redraw in place */
} tg_diag_options;

/* What the run found out about reaching its sources. */
typedef struct tg_diag_outcome {
    bool reached[3];  /* engine, store, exchange answered at least once */
    bool interrupted; /* SIGINT/SIGTERM ended the run early */
} tg_diag_outcome;

/* Runs the probes until the duration is over (or one pass with once),
 * filling run (whose timelines array the caller provides) and issues.
 * Fails only when the monitor cannot start (no loop, no memory, a venue
 * refusing its configuration); an unreachable source is an issue, not a
 * failure. */
tg_status tg_diag_monitor_run(const tg_diag_options *opt, tg_diag_run *run, tg_diag_issues *issues,
                              tg_diag_outcome *outcome, tg_err *err);

/* "15" (minutes, as the original), "90s", "20m", "2h" → ms; false when not
 * a positive duration of at most 7 days. */
bool tg_diag_duration_parse(const char *text, int64_t *ms);

#endif
