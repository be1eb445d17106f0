/*
 * trailguard/diag.h — the diagnostic monitor (`trailguard diagnose`):
 * engine vs store vs exchange.
 *
 * Three probes take snapshots of the same positions from three sources:
 *   - engine:   the daemon's read API (GET /v1/positions);
 *   - store:    every row of the store (read-only) and the journal's newest entries;
 *   - exchange: per account, the open positions and every protective stop
 *               (Binance algo and regular stop orders, Bybit position
 *               stop-loss and conditional orders), trailguard's or foreign.
 * A consistency check compares the latest snapshots and reports issues,
 * de-duplicated by (type, account, symbol): the first time, the last time
 * and how often each was seen. The report keeps the original monitor's JSON
 * tree (docs/diagnose.md, docs/diagnose.schema.json).
 *
 * The check is a pure function of its inputs (no I/O, no clock): the probes
 * (src/diag/probe.c) fill the snapshots, tg_diag_check() compares them,
 * tg_diag_report_*() write the outputs.
 */
#ifndef TRAILGUARD_DIAG_H
#define TRAILGUARD_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trailguard/book.h"
#include "trailguard/decimal.h"
#include "trailguard/error.h"
#include "trailguard/stop.h"
#include "trailguard/venue.h"

#define TG_DIAG_NAME_MAX   40   /* bytes of an account, key or venue name, NUL included */
#define TG_DIAG_TEXT_MAX   320  /* bytes of a description or cause, NUL included */
#define TG_DIAG_ISSUES_MAX 4096 /* distinct (type, account, symbol) issues kept */
#define TG_DIAG_TYPE_COUNT 18   /* issue types below */

/* ---- issue types and severities --------------------------------------- */

typedef enum tg_diag_severity {
    TG_DIAG_LOW,
    TG_DIAG_MEDIUM,
    TG_DIAG_HIGH,
    TG_DIAG_CRITICAL,
} tg_diag_severity;

typedef enum tg_diag_type {
    /* the original monitor's four, with their meaning */
    TG_DIAG_MISSING_TS_INSTANCE, /* HIGH: open position, no engine stop */
    TG_DIAG_ORPHAN_TS_INSTANCE,  /* HIGH: engine stop, no open position */
    TG_DIAG_STATE_MISMATCH,      /* MEDIUM: engine state ≠ stored state */
    TG_DIAG_SL_PRICE_MISMATCH,   /* MEDIUM: engine, store, exchange stop prices differ */
    /* CRITICAL */
    TG_DIAG_UNPROTECTED_POSITION,    /* open position, no protective stop on the exchange */
    TG_DIAG_EXCHANGE_STOP_LOOSER,    /* exchange stop looser than the engine's confirmed one */
    TG_DIAG_STOP_WRONG_SIDE,         /* a stop on the wrong side of the mark */
    TG_DIAG_STOP_INCREASES_POSITION, /* neither reduce-only nor close-position */
    /* HIGH */
    TG_DIAG_DUPLICATE_STOPS,      /* more than one trailguard stop on a position */
    TG_DIAG_ORPHAN_EXCHANGE_STOP, /* a trailguard stop with no open position */
    TG_DIAG_UNCONFIRMED_INTENT,   /* intended stop not confirmed after unconfirmed_seconds */
    TG_DIAG_STALE_FEED,           /* no mark for stale_seconds on a symbol with a position */
    TG_DIAG_SOURCE_UNREACHABLE,   /* daemon, store or exchange did not answer */
    /* MEDIUM */
    TG_DIAG_LATENCY_HIGH,        /* a probe slower than its threshold */
    TG_DIAG_RATE_LIMIT_PRESSURE, /* deferred or rate-limited updates above 5 % */
    /* LOW */
    TG_DIAG_UNPROTECTED_WINDOW, /* a replace measured longer than 300 ms unprotected */
    TG_DIAG_REACTIVATION,       /* a position activated again */
    TG_DIAG_FOREIGN_STOP,       /* a stop trailguard did not place */
} tg_diag_type;

/* "missing_ts_instance", ... (the exact names of the report). */
const char *tg_diag_type_str(tg_diag_type type);
tg_diag_severity tg_diag_type_severity(tg_diag_type type);
/* "LOW" "MEDIUM" "HIGH" "CRITICAL". */
const char *tg_diag_severity_str(tg_diag_severity severity);
/* "critical|high|medium|low" (any case) → severity; false when unknown. */
bool tg_diag_severity_parse(const char *text, tg_diag_severity *out);

/* ---- snapshots -------------------------------------------------------- */

/* One position as the engine (the daemon) reports it. */
typedef struct tg_diag_engine_pos {
    char account[TG_DIAG_NAME_MAX];      /* account */
    char venue[TG_DIAG_NAME_MAX];        /* "binance" / "bybit" */
    char symbol[TG_SYMBOL_MAX];          /* e.g. BTCUSDT */
    char position_key[TG_DIAG_NAME_MAX]; /* "BTCUSDT:long" */
    tg_side side;                        /* long or short */
    tg_state state;                      /* engine state */
    tg_dec quantity;                     /* size */
    tg_dec entry;                        /* entry price */
    tg_dec mark;                         /* last mark; 0 unknown */
    tg_dec stop_confirmed;               /* 0 none */
    tg_dec stop_intended;                /* 0 none */
    tg_dec exchange_stop;                /* the daemon's view of the exchange stop; 0 none */
    bool in_flight;                      /* a request is out */
    uint32_t activations;                /* activations seen (re-activation when > 1) */
    int64_t intended_since_ms;           /* intended ≠ confirmed since, ms; 0 when equal */
    int64_t last_mark_ms;                /* when the daemon last had a mark, ms; 0 unknown */
    int64_t confirmed_seen_ms;           /* when the monitor first saw stop_confirmed at this
                                            price, ms; 0 already in its first snapshot */
    int64_t state_seen_ms;               /* when it first saw the position in this state, ms;
                                            0 already in its first snapshot */
} tg_diag_engine_pos;

/* One stored row. */
typedef struct tg_diag_store_row {
    char account[TG_DIAG_NAME_MAX];      /* account */
    char symbol[TG_SYMBOL_MAX];          /* symbol */
    char position_key[TG_DIAG_NAME_MAX]; /* position key */
    tg_state state;                      /* stored engine state */
    tg_dec stop_confirmed;               /* 0 none */
    tg_dec stop_intended;                /* 0 none */
    char order_id[TG_VENUE_ID_MAX];      /* stored exchange order id */
} tg_diag_store_row;

/* One protective stop on the exchange, whoever placed it. */
typedef struct tg_diag_exchange_stop {
    char account[TG_DIAG_NAME_MAX];      /* account */
    char symbol[TG_SYMBOL_MAX];          /* symbol */
    char position_key[TG_DIAG_NAME_MAX]; /* the position it would close ("" unknown) */
    char order_id[TG_VENUE_ID_MAX];      /* exchange id */
    char client_id[TG_VENUE_ID_MAX];     /* client id ("" none) */
    tg_side side;                        /* side of the position it protects */
    tg_dec trigger;                      /* trigger price */
    tg_dec qty;                          /* quantity; 0 = whole position */
    char trigger_type[16];               /* "MARK_PRICE", "CONTRACT_PRICE", "LastPrice", ... */
    bool reduce_only;                    /* reduce-only */
    bool close_position;                 /* closes the whole position */
    bool owned;                          /* trailguard's (client id, or Bybit position SL) */
    bool position_level;                 /* Bybit trading-stop stop-loss */
} tg_diag_exchange_stop;

/* One open position on the exchange. */
typedef struct tg_diag_exchange_pos {
    char account[TG_DIAG_NAME_MAX];      /* account */
    char venue[TG_DIAG_NAME_MAX];        /* venue */
    char symbol[TG_SYMBOL_MAX];          /* symbol */
    char position_key[TG_DIAG_NAME_MAX]; /* position key */
    tg_side side;                        /* side */
    tg_dec size;                         /* size, > 0 */
    tg_dec entry;                        /* entry */
    tg_dec mark;                         /* mark; 0 unknown */
    tg_dec tick;                         /* tick size of the symbol; 0 unknown */
} tg_diag_exchange_pos;

/* [cluster]: an account whose lease no live process holds, as the store's
 * leases table says by the database server's clock. */
typedef struct tg_diag_unowned {
    char account[TG_DIAG_NAME_MAX]; /* the configured account */
    char owner[TG_DIAG_NAME_MAX];   /* the lease's last owner; "" no lease row */
    int64_t expired_ms;             /* since when the lease is over, ms; −1 no lease row */
} tg_diag_unowned;

/* Counters of the daemon, for rate-limit pressure and unprotected windows. */
typedef struct tg_diag_engine_stats {
    uint64_t requests;        /* exchange requests */
    uint64_t rate_limited;    /* of which refused for a rate limit */
    uint64_t deferrals;       /* updates held back by the order budget */
    double unprotected_max_s; /* the longest replace window the daemon measured is longer
                                 than this, s (a bound of its histogram; 0 none) */
    bool over_run;            /* the counts are this run's (--duration: the latest sample
                                 minus the first), else the daemon's since it started (--once) */
} tg_diag_engine_stats;

/* Per source: whether it answered, and how long it took. */
typedef struct tg_diag_source {
    bool enabled;                 /* the probe runs (--exchange-only turns engine/store off) */
    bool ok;                      /* the last probe answered */
    int64_t taken_ms;             /* when the snapshot was taken, ms since the epoch */
    double latency_ms;            /* how long the probe took, ms */
    char error[TG_DIAG_TEXT_MAX]; /* why not, when !ok */
} tg_diag_source;

/* The latest snapshot of each source. Arrays are owned by whoever fills
 * them (the probes), read-only for the check. */
typedef struct tg_diag_snapshot {
    tg_diag_source engine, store, exchange;      /* per source */
    const tg_diag_engine_pos *engine_pos;        /* engine positions */
    size_t engine_count;                         /* entries */
    tg_diag_engine_stats engine_stats;           /* daemon counters */
    const tg_diag_store_row *store_rows;         /* open stored rows */
    size_t store_count;                          /* entries */
    const tg_diag_exchange_pos *exchange_pos;    /* open positions */
    size_t exchange_pos_count;                   /* entries */
    const tg_diag_exchange_stop *exchange_stops; /* open protective stops */
    size_t exchange_stops_count;                 /* entries */
    const tg_diag_unowned *unowned;              /* [cluster]: accounts without a live owner */
    size_t unowned_count;                        /* entries (from the store probe) */
} tg_diag_snapshot;

/* Thresholds of the check (defaults: the original guide's). */
typedef struct tg_diag_thresholds {
    double price_tolerance_pct;  /* sl_price_mismatch: 0.1 %, or one tick if larger */
    int64_t unconfirmed_ms;      /* unconfirmed_intent: 30 s */
    int64_t stale_ms;            /* stale_feed: 10 s */
    double store_latency_ms;     /* latency_high: store query > 1000 ms */
    double exchange_latency_ms;  /* exchange call > 2000 ms */
    double engine_latency_ms;    /* engine update > 1 ms (the daemon's own figure) */
    double rate_limit_pct;       /* rate_limit_pressure: > 5 % of attempts */
    double unprotected_window_s; /* unprotected_window: > 0.3 s */
} tg_diag_thresholds;

tg_diag_thresholds tg_diag_thresholds_default(void);

/* ---- issues ----------------------------------------------------------- */

typedef struct tg_diag_issue {
    tg_diag_type type;                     /* what */
    tg_diag_severity severity;             /* how bad */
    char account[TG_DIAG_NAME_MAX];        /* where ("" when not an account's) */
    char venue[TG_DIAG_NAME_MAX];          /* venue ("" unknown) */
    char symbol[TG_SYMBOL_MAX];            /* symbol ("" when not a symbol's) */
    char description[TG_DIAG_TEXT_MAX];    /* one sentence with the numbers */
    char cause[TG_DIAG_TEXT_MAX];          /* the likely cause */
    char engine_value[TG_DIAG_NAME_MAX];   /* what the engine holds ("" n/a) */
    char store_value[TG_DIAG_NAME_MAX];    /* what the store holds */
    char exchange_value[TG_DIAG_NAME_MAX]; /* what the exchange holds */
    tg_dec tick;                           /* the symbol's price tick; 0 unknown or n/a */
    int64_t first_seen_ms;                 /* first check that found it */
    int64_t last_seen_ms;                  /* latest */
    uint32_t count;                        /* checks that found it */
} tg_diag_issue;

/* Every distinct issue seen so far, de-duplicated by (type, account,
 * symbol). Fixed capacity; beyond it new issues are counted in dropped. */
typedef struct tg_diag_issues {
    tg_diag_issue items[TG_DIAG_ISSUES_MAX]; /* in order of first sighting */
    size_t count;                            /* entries used */
    uint64_t dropped;                        /* distinct issues beyond the capacity */
    uint64_t checks;                         /* consistency checks run */
} tg_diag_issues;

/* One consistency check over snap at now_ms: every finding is merged into
 * issues (a new entry, or count+1 and last_seen of the existing one).
 * Returns the number of findings of this check. Pure: no I/O, no clock. */
size_t tg_diag_check(const tg_diag_snapshot *snap, const tg_diag_thresholds *th, int64_t now_ms,
                     tg_diag_issues *issues);

/* The highest severity among issues, or −1 when there are none. */
int tg_diag_worst(const tg_diag_issues *issues);

/* ---- the run and its outputs ------------------------------------------ */

#define TG_DIAG_LAT_SAMPLES   4096 /* latencies kept per probe (oldest overwritten) */
#define TG_DIAG_TIMELINES_MAX 1024 /* positions with a timeline */
#define TG_DIAG_POINTS_MAX    720  /* samples per timeline (oldest overwritten) */
#define TG_DIAG_ERRORS_MAX    64   /* probe error sentences kept (the newest) */

typedef enum tg_diag_probe {
    TG_DIAG_PROBE_ENGINE,
    TG_DIAG_PROBE_STORE,
    TG_DIAG_PROBE_EXCHANGE,
    TG_DIAG_PROBE_CONSISTENCY,
    TG_DIAG_PROBE_COUNT,
} tg_diag_probe;

/* "engine" "store" "exchange" "consistency". */
const char *tg_diag_probe_str(tg_diag_probe probe);

typedef struct tg_diag_probe_stats {
    int64_t interval_ms;                    /* configured interval, ms */
    uint64_t runs;                          /* probes run */
    uint64_t failures;                      /* of which failed */
    uint64_t overruns;                      /* probes that took longer than the interval */
    double latency_ms[TG_DIAG_LAT_SAMPLES]; /* ring of latencies, ms */
    size_t latency_count;                   /* samples taken (the ring holds the newest) */
} tg_diag_probe_stats;

/* One sample of a position's timeline (the HTML chart). */
typedef struct tg_diag_point {
    int64_t ts_ms;        /* when */
    tg_dec mark;          /* mark; 0 unknown */
    tg_dec engine_stop;   /* engine's confirmed (else intended) stop; 0 none */
    tg_dec exchange_stop; /* stop on the exchange; 0 none */
} tg_diag_point;

typedef struct tg_diag_timeline {
    char account[TG_DIAG_NAME_MAX];           /* account */
    char position_key[TG_DIAG_NAME_MAX];      /* position key */
    tg_side side;                             /* side */
    tg_diag_point points[TG_DIAG_POINTS_MAX]; /* ring */
    size_t count;                             /* samples taken (the ring holds the newest) */
} tg_diag_timeline;

/* Per account: what the last exchange snapshot showed. */
typedef struct tg_diag_account_row {
    char account[TG_DIAG_NAME_MAX]; /* account */
    char venue[TG_DIAG_NAME_MAX];   /* venue */
    uint32_t positions;             /* open positions */
    uint32_t protected_count;       /* with at least one protective stop */
    uint32_t trailguard_stops;      /* trailguard's stops */
    uint32_t foreign_stops;         /* others' stops */
} tg_diag_account_row;

/* Everything a run gathered besides the issues. The probes fill it; the
 * report functions read it. */
typedef struct tg_diag_run {
    int64_t started_ms;    /* wall clock, ms */
    int64_t ended_ms;      /* wall clock, ms */
    int64_t planned_ms;    /* --duration, ms (0 with --once) */
    bool once;             /* --once */
    bool exchange_only;    /* --exchange-only */
    char config_path[256]; /* the configuration file */
    char daemon_url[128];  /* the daemon's base URL ("" with --exchange-only) */
    tg_diag_probe_stats probes[TG_DIAG_PROBE_COUNT]; /* per probe */
    uint64_t snapshots;                              /* snapshots taken, all sources */
    uint64_t new_positions;     /* engine positions first seen during the run */
    uint64_t state_transitions; /* engine state changes seen */
    uint64_t activations;       /* INACTIVE/WAITING → ACTIVE seen */
    uint64_t stop_updates;      /* engine stop changes seen */
    uint64_t reactivations;     /* activations of a position seen active before */
    uint64_t errors;            /* probe failures, all sources */
    char error_log[TG_DIAG_ERRORS_MAX][TG_DIAG_TEXT_MAX]; /* newest probe errors (ring) */
    size_t error_count;               /* errors logged (the ring holds the newest) */
    tg_diag_account_row accounts[16]; /* per account, from the last exchange snapshot */
    size_t accounts_count;            /* entries */
    tg_diag_timeline *timelines;      /* TG_DIAG_TIMELINES_MAX, owned by the caller */
    size_t timelines_count;           /* entries used */
} tg_diag_run;

/* The JSON report: the original monitor's tree (metadata, summary,
 * detailed_stats, issues, analysis, recommendations) and trailguard's
 * additions beside it; docs/diagnose.schema.json describes it. */
tg_status tg_diag_report_json(FILE *f, const tg_diag_run *run, const tg_diag_issues *issues,
                              tg_err *err);
/* The console summary: summary, analysis, numbered recommendations and
 * the per-account protection table. */
void tg_diag_report_console(FILE *f, const tg_diag_run *run, const tg_diag_issues *issues);
/* One self-contained HTML page (no network): summary, issues table, and one
 * timeline chart (inline SVG) per position. */
tg_status tg_diag_report_html(FILE *f, const tg_diag_run *run, const tg_diag_issues *issues,
                              tg_err *err);
/* One logfmt line per issue (for the log file). */
void tg_diag_log_issue(FILE *f, const tg_diag_issue *issue);

#endif
