/*
 * trailguard/replay.h — back-testing one trailing stop on a historical price path.
 *
 * tg_replay_run() opens one position at the first point of the path and
 * feeds every point to the engine (trailguard/stop.h), carrying out the
 * engine's commands on a perfect simulated exchange:
 *
 *   SET_STOP        the exchange holds that stop from now on and acknowledges
 *                   it at once (tg_stop_confirmed at the same timestamp);
 *   CANCEL_STOP     the exchange holds no stop;
 *   CLOSE_POSITION  the position is closed at the current price;
 *   PERSIST         nothing to do in a back-test.
 *
 * Before each point reaches the engine, the exchange checks the stop it
 * holds: a long stop fires when the price is at or below it, a short one at
 * or above. The fill model:
 *
 *   - the time of the trigger is the point's time, or, when the price walked
 *     continuously into the stop inside one bar, the moment it passed the
 *     stop, interpolated linearly between the two points;
 *   - with no fill latency the fill is at the stop price for a continuous
 *     crossing, and at the point's own price when the price jumped through
 *     the stop (from tick to tick, or from one bar's close to the next open);
 *   - with a fill latency of N ms the fill is at the first path point whose
 *     time is ≥ trigger + N (the last point if the path ends first).
 *
 * The replay stops at the exit. Nothing here reads a clock or prints. A path
 * comes from a price file (src/replay/pricefile.h, `trailguard replay`) or
 * from any array of tg_pricepoint the caller builds.
 */
#ifndef TRAILGUARD_REPLAY_H
#define TRAILGUARD_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trailguard/decimal.h"
#include "trailguard/error.h"
#include "trailguard/stop.h"

/* One point of the price path. */
typedef struct tg_pricepoint {
    int64_t ts_ms; /* ms since the epoch, UTC */
    tg_dec price;  /* exact price, > 0 */
} tg_pricepoint;

/* Reports how far a long operation has got; done ≤ total, both in the
 * operation's own unit (bytes for parsing, points for a replay). */
typedef struct tg_progress {
    void (*fn)(void *ctx, uint64_t done, uint64_t total); /* NULL = no reports */
    void *ctx;                                            /* passed back to fn */
} tg_progress;

#define TG_REPLAY_LATENCY_MS_MAX (86400000LL * 365) /* a year; beyond is a typo */
/* The engine ignores prices above 1e9 (src/core/stop.c); a path holding one
 * is refused rather than replayed with holes. */
#define TG_REPLAY_PRICE_MAX_UNITS (1000000000LL * TG_DEC_SCALE)

/* Receives every engine event, in order, as it happens. */
typedef void (*tg_replay_event_fn)(void *ctx, const tg_event *ev);
/* Every non-empty engine output with the position's state right after it,
 * as a live process would journal it. */
typedef void (*tg_replay_output_fn)(void *ctx, const tg_stop *stop, const tg_out *out);

typedef struct tg_replay_opts {
    tg_side side;                  /* long or short */
    tg_dec entry;                  /* entry price; zero = the first price of the path */
    tg_dec tick;                   /* tick size, > 0 */
    tg_dec quantity;               /* position size in the base asset, > 0 */
    int64_t fill_latency_ms;       /* trigger to fill, ms, 0..TG_REPLAY_LATENCY_MS_MAX */
    uint8_t walk_len;              /* points per continuous walk: 1 for ticks, 4 for bars */
    tg_params params;              /* engine parameters, validated by the engine at open */
    tg_replay_event_fn on_event;   /* NULL = events are only counted */
    void *event_ctx;               /* passed back to on_event */
    tg_replay_output_fn on_output; /* NULL = outputs are not passed on */
    void *output_ctx;              /* passed back to on_output */
    tg_progress progress;          /* reports in points; fn NULL = none */
} tg_replay_opts;

typedef enum tg_replay_outcome {
    TG_REPLAY_OPEN,    /* the path ended with the position open */
    TG_REPLAY_STOPPED, /* the stop on the exchange triggered */
    TG_REPLAY_CLOSED,  /* the engine closed at market: the price crossed the stop's level */
} tg_replay_outcome;

/* One change of the stop held by the simulated exchange. */
typedef struct tg_replay_stop {
    int64_t ts_ms; /* from when, ms */
    tg_dec price;  /* the stop held; zero = none from then on */
} tg_replay_stop;

typedef struct tg_replay_result {
    uint8_t outcome;                  /* tg_replay_outcome */
    uint8_t side;                     /* tg_side */
    uint8_t activation_reason;        /* tg_reason of the activation (profit or time) */
    bool activated;                   /* trailing became active */
    bool gap;                         /* STOPPED: the price jumped through the stop */
    bool fill_truncated;              /* STOPPED: the path ended before the fill latency passed */
    tg_dec entry;                     /* entry price */
    tg_dec tick;                      /* tick size */
    tg_dec quantity;                  /* position size */
    tg_dec activation_price;          /* price that activates trailing */
    int64_t opened_ms;                /* position opened: time of the first point, ms */
    int64_t activated_ms;             /* activation time, ms (when activated) */
    tg_dec activated_price;           /* price at activation (when activated) */
    uint32_t n_events;                /* engine events */
    uint32_t n_moves;                 /* stop_moved events, activation placements excluded */
    uint32_t n_activation_placements; /* stop_moved events in the activation's output */
    uint32_t n_initial;               /* initial_stop events */
    uint32_t n_breakeven;             /* breakeven events */
    uint32_t n_set_stop;              /* stops sent to the simulated exchange */
    uint32_t n_skipped;        /* skipped events (reported skips, not every throttled tick) */
    uint32_t n_crossed;        /* crossed events */
    int64_t trigger_ms;        /* STOPPED: when the price reached the stop, ms */
    tg_dec trigger_stop;       /* STOPPED: the stop that fired */
    int64_t exit_ms;           /* exit time, or the last point's time when OPEN, ms */
    tg_dec exit_price;         /* fill price, or the last price when OPEN */
    bool has_numbers;          /* result_pct, pnl and mfe_pct fit a tg_dec (false only for
                                  gains beyond ±92 billion %, e.g. an entry of 1e-8) */
    const char *overflowed;    /* !has_numbers: what did not fit, a phrase; NULL otherwise */
    tg_dec result_pct;         /* exit vs entry in the position's favour, %, 4 places */
    tg_dec pnl;                /* (exit − entry) × quantity, mirrored for a short, quote */
    tg_dec best_price;         /* most favourable price while open (entry if none better) */
    int64_t best_ms;           /* when best_price was first seen, ms */
    tg_dec mfe_pct;            /* max favourable excursion, best vs entry, %, 4 places */
    bool has_captured;         /* mfe_pct > 0, so captured_pct is defined */
    tg_dec captured_pct;       /* share of the excursion kept: result / mfe × 100, 2 places */
    size_t points_used;        /* path points read, the fill point included */
    uint32_t wrong_side_stops; /* SET_STOP at or past the current price; 0 from a sound engine */
    uint32_t loosened_stops;   /* SET_STOP looser than the stop held; 0 from a sound engine */
    tg_replay_stop *stops;     /* every change of the held stop, in time order; owned */
    size_t n_stops;            /* entries in stops */
    tg_stop final;             /* the engine's state at the end */
} tg_replay_result;

/* Runs the back-test over count points (timestamps never decreasing). On
 * success *res holds the result; release it with tg_replay_result_free().
 * Fails with TG_E_INVALID for options the engine refuses (the sentence
 * names the option) or a price above TG_REPLAY_PRICE_MAX_UNITS, and with
 * TG_E_NOMEM when the stop history cannot grow. */
tg_status tg_replay_run(const tg_pricepoint *points, size_t count, const tg_replay_opts *opts,
                        tg_replay_result *res, tg_err *err);

void tg_replay_result_free(tg_replay_result *res);

/* Options with the defaults of `trailguard replay`: long, entry at the first
 * price, quantity 1, no latency, engine defaults. tick and walk_len are the
 * price file's (tg_pricefile_tick(), pf->walk_len). */
tg_replay_opts tg_replay_opts_default(tg_dec tick, uint8_t walk_len);

const char *tg_replay_outcome_str(tg_replay_outcome outcome);

#endif
