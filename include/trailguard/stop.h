/*
 * trailguard/stop.h — one position's trailing stop, as a pure state machine.
 *
 * Inputs are events that carry their own timestamps (position opened, price
 * tick, stop confirmed, stop rejected, stop triggered, position closed).
 * Outputs are commands (set stop, cancel stop, close position, persist) and
 * events, each with a reason code, written into a caller-owned tg_out. The
 * machine reads no clock, draws no random number, allocates nothing and does
 * no I/O: the same inputs give byte-identical outputs.
 *
 *   INACTIVE ──breakeven──▶ WAITING ──activation──▶ ACTIVE ──▶ TRIGGERED ──▶ CLOSED
 *      └───────────────activation───────────────────┘
 *
 * Long and short are mirror images. "Tighter" below means closer to the
 * market: higher for a long stop, lower for a short one. The stop never moves
 * the other way (never loosens), is always a whole multiple of the tick size
 * (rounded away from the market) and is never requested on the wrong side of
 * the last price.
 */
#ifndef TRAILGUARD_STOP_H
#define TRAILGUARD_STOP_H

#include <stdbool.h>
#include <stdint.h>

#include "trailguard/decimal.h"
#include "trailguard/error.h"
#include "trailguard/params.h"

typedef enum tg_side { TG_SIDE_LONG, TG_SIDE_SHORT } tg_side;

typedef enum tg_state {
    TG_STATE_INACTIVE,  /* watching for activation; an initial stop may be set */
    TG_STATE_WAITING,   /* breakeven stop set; trailing not yet active */
    TG_STATE_ACTIVE,    /* trailing */
    TG_STATE_TRIGGERED, /* the exchange reported the stop triggered */
    TG_STATE_CLOSED,    /* the position is gone; no further commands */
} tg_state;

typedef enum tg_event_type {
    TG_EV_CREATED,      /* position known; activation price computed */
    TG_EV_INITIAL_STOP, /* protective stop requested at open */
    TG_EV_BREAKEVEN,    /* stop requested at entry (+ offset) */
    TG_EV_ACTIVATED,    /* trailing active (reason: profit or time) */
    TG_EV_STOP_MOVED,   /* tighter stop requested */
    TG_EV_SKIPPED,      /* a tighter stop was not requested; the reason says why */
    TG_EV_CONFIRMED,    /* the exchange acknowledged a stop */
    TG_EV_REJECTED,     /* the exchange refused a stop */
    TG_EV_CROSSED,      /* the price is already past where the stop must be */
    TG_EV_TRIGGERED,    /* the stop fired */
    TG_EV_CLOSED,       /* the position is closed */
} tg_event_type;

typedef enum tg_reason {
    TG_R_NONE,
    TG_R_PROFIT,                /* activated: profit reached activation_percent */
    TG_R_TIME,                  /* activated: open time_activation_seconds and in profit */
    TG_R_TRAIL,                 /* moved: new extreme, or a deferred move now allowed */
    TG_R_EMERGENCY,             /* moved: improvement ≥ emergency, limits bypassed */
    TG_R_RATE_LIMITED,          /* skipped: min_update_interval not yet passed (deferred) */
    TG_R_BELOW_MIN_IMPROVEMENT, /* skipped: improvement < min_improvement_percent */
    TG_R_WOULD_TRIGGER,         /* skipped: stop would be on the wrong side of the price */
    TG_R_NOT_IMPROVED,          /* skipped: candidate not tighter than the current stop */
    TG_R_CLOSE_POSITION,        /* crossed: reduce-only market close requested */
    TG_R_ALERT,                 /* crossed: alert only (on_crossed = alert) */
    TG_R_EXCHANGE,              /* rejected: an exchange error other than would-trigger */
    TG_R_STOP,                  /* closed: by the stop */
    TG_R_EXTERNAL,              /* closed: by something else (manual, liquidation, ...) */
} tg_reason;

#define TG_SKIP_REASONS 4 /* rate_limited, below_min_improvement, would_trigger, not_improved */

typedef struct tg_event {
    int64_t ts_ms;     /* time of the input that caused it, ms since the epoch */
    uint32_t position; /* tg_stop.id */
    uint8_t type;      /* tg_event_type */
    uint8_t reason;    /* tg_reason */
    uint8_t state;     /* tg_state after the event */
    uint8_t has;       /* TG_EVH_* bits: which prices below are set */
    tg_dec price;      /* market price of the input, if any */
    tg_dec stop;       /* stop requested / proposed / confirmed */
    tg_dec prev_stop;  /* stop in force before */
} tg_event;

enum { TG_EVH_PRICE = 1, TG_EVH_STOP = 2, TG_EVH_PREV = 4 };

typedef enum tg_cmd_type {
    TG_CMD_SET_STOP,       /* place or replace the position's stop at price */
    TG_CMD_CANCEL_STOP,    /* remove the position's stop */
    TG_CMD_CLOSE_POSITION, /* reduce-only market close */
    TG_CMD_PERSIST,        /* the state changed: write it (once per input at most) */
} tg_cmd_type;

typedef struct tg_cmd {
    uint32_t position; /* tg_stop.id */
    uint8_t type;      /* tg_cmd_type */
    uint8_t reason;    /* tg_reason, or the tg_event_type's reason that caused it */
    tg_dec price;      /* stop price for SET_STOP */
} tg_cmd;

#define TG_OUT_EVENTS_MAX 6 /* per input; the worst case is activation + crossed */
#define TG_OUT_CMDS_MAX   4

typedef struct tg_out {
    uint8_t n_events;                   /* events written */
    uint8_t n_cmds;                     /* commands written */
    tg_event events[TG_OUT_EVENTS_MAX]; /* in the order they happened */
    tg_cmd cmds[TG_OUT_CMDS_MAX];       /* in the order they must be carried out */
} tg_out;

/* Why the exchange refused a stop. */
typedef enum tg_reject_kind {
    TG_REJECT_WOULD_TRIGGER, /* e.g. Binance -2021, Bybit 10001 "should greater base_price" */
    TG_REJECT_OTHER,         /* anything else; retried under the update policy */
} tg_reject_kind;

/* Flags of tg_stop.flags. */
enum {
    TG_F_HIGH = 1u << 0,       /* highest is set */
    TG_F_LOW = 1u << 1,        /* lowest is set */
    TG_F_CONFIRMED = 1u << 2,  /* stop_confirmed is set */
    TG_F_INTENDED = 1u << 3,   /* stop_intended is set */
    TG_F_CANDIDATE = 1u << 4,  /* candidate is set */
    TG_F_LAST_PRICE = 1u << 5, /* last_price is set */
    TG_F_MOVED = 1u << 6,      /* last_move_ms is set */
    TG_F_ACTIVATED = 1u << 7,  /* activated_ms is set */
    TG_F_CLOSING = 1u << 8,    /* a close_position was requested */
    TG_F_FAST = 1u << 9,       /* momentum: the last window was fast */
    TG_F_ANCHOR = 1u << 10,    /* momentum anchor is set */
};

/* Why the candidate is waiting to be re-tried (tg_stop.deferred). */
enum {
    TG_DEFER_NONE = 0,
    TG_DEFER_INTERVAL = 1, /* retry when min_update_interval has passed */
    TG_DEFER_PRICE = 2,    /* retry when the price is on the right side of it */
};

typedef struct tg_stop {
    tg_params params;        /* parameters in force for this position */
    tg_dec entry;            /* entry price */
    tg_dec quantity;         /* position size, base asset */
    tg_dec tick;             /* instrument tick size (price step) */
    tg_dec activation_price; /* entry × (1 ± activation/100) */
    tg_dec breakeven_price;  /* price that triggers the breakeven move (if on) */
    tg_dec highest;          /* highest price seen (TG_F_HIGH) */
    tg_dec lowest;           /* lowest price seen (TG_F_LOW) */
    tg_dec last_price;       /* last tick price (TG_F_LAST_PRICE) */
    tg_dec stop_confirmed;   /* stop the exchange acknowledged (TG_F_CONFIRMED) */
    tg_dec stop_intended;    /* stop last requested (TG_F_INTENDED) */
    tg_dec candidate;        /* last computed trailing stop (TG_F_CANDIDATE) */
    tg_dec anchor_price;     /* momentum window start price (TG_F_ANCHOR) */
    int64_t anchor_ms;       /* momentum window start time, ms */
    int64_t opened_ms;       /* position opened, ms */
    int64_t activated_ms;    /* trailing activated, ms (TG_F_ACTIVATED) */
    int64_t last_move_ms;    /* last stop request, ms (TG_F_MOVED); the rate-limit clock */
    int64_t last_tick_ms;    /* last tick accepted, ms */
    int64_t closed_ms;       /* closed, ms (state CLOSED) */
    uint32_t id;             /* position id, copied into events and commands */
    uint32_t update_count;   /* stop requests sent (initial, breakeven, activation, moves) */
    uint32_t skip_count[TG_SKIP_REASONS]; /* skips by reason, rate_limited first */
    uint32_t stale_ticks;                 /* ticks older than the last one, ignored */
    uint16_t flags;                       /* TG_F_* */
    uint8_t side;                         /* tg_side */
    uint8_t state;                        /* tg_state */
    uint8_t deferred;                     /* TG_DEFER_* */
    uint8_t skips_reported; /* skip reasons already reported since the last move (bits) */
} tg_stop;

/* What is known when a position opens. */
typedef struct tg_open {
    uint32_t id;      /* caller's position id */
    tg_side side;     /* long or short */
    tg_dec entry;     /* entry price, > 0 */
    tg_dec quantity;  /* size, > 0 */
    tg_dec tick;      /* tick size, > 0 */
    int64_t ts_ms;    /* when the position opened */
    tg_params params; /* parameters in force (validated here) */
} tg_open;

/* Starts tracking a position: validates the inputs and the parameters,
 * computes the activation price and emits `created` (and `initial_stop` with
 * a SET_STOP when initial_stop_percent is on). */
tg_status tg_stop_open(tg_stop *s, const tg_open *o, tg_out *out, tg_err *err);

/* A mark-price tick. price must be > 0. A tick older than the last accepted
 * one is counted in stale_ticks and otherwise ignored. */
void tg_stop_tick(tg_stop *s, int64_t ts_ms, tg_dec price, tg_out *out);

/* The exchange acknowledged the stop at price. A price off the tick is
 * rounded away from the market (down for a long stop, up for a short), the
 * stop it guarantees at least; a price ≤ 0, above 1000000000 or with no
 * positive multiple of the tick below it (long) is refused: a REJECTED event
 * (reason exchange) and no change, so a bad answer never becomes a state
 * the store refuses. */
void tg_stop_confirmed(tg_stop *s, int64_t ts_ms, tg_dec price, tg_out *out);

/* The exchange refused the stop at price. */
void tg_stop_rejected(tg_stop *s, int64_t ts_ms, tg_dec price, tg_reject_kind kind, tg_out *out);

/* The exchange reported the stop triggered, filling at price. */
void tg_stop_triggered(tg_stop *s, int64_t ts_ms, tg_dec price, tg_out *out);

/* The position is gone (size 0 on the exchange). A stop still held is
 * cancelled so that no orphan order is left behind. */
void tg_stop_closed(tg_stop *s, int64_t ts_ms, tg_dec price, tg_reason reason, tg_out *out);

/* New parameters for an open position (validated first; on error nothing
 * changes). Before activation the activation and breakeven levels are
 * recomputed from the entry; while trailing, a candidate that the new trail
 * distance changes is decided on the next tick under the update policy
 * (rate limit, minimum improvement, never loosen). No output: the caller
 * persists the state. */
tg_status tg_stop_set_params(tg_stop *s, const tg_params *params, tg_err *err);

/* The position was resized on the exchange; quantity must be > 0. No
 * output: the caller persists the state and re-sizes a reduce-only stop. */
tg_status tg_stop_set_quantity(tg_stop *s, tg_dec quantity, tg_err *err);

/* The ticks that a position can ignore, for the book's fast path. A tick with
 * since_ms ≤ ts_ms < due_ms and lo ≤ price ≤ hi would make tg_stop_tick()
 * emit nothing and change nothing but last_tick_ms, last_price and
 * TG_F_LAST_PRICE (for an open position; a closed, triggered or closing one
 * ignores every tick, and its band is every valid tick). An empty band has
 * lo > hi. The band only shrinks what tg_stop_tick() would do to nothing: it
 * is exact on the quiet side, conservative on the other (a tick outside it
 * may still turn out quiet). */
typedef struct tg_wake {
    int64_t since_ms; /* earlier ticks are stale (counted): not quiet */
    int64_t due_ms;   /* later ticks may act: time activation, rate limit, momentum */
    tg_dec lo;        /* lowest quiet price */
    tg_dec hi;        /* highest quiet price */
} tg_wake;

/* The band of s in its current state. */
void tg_stop_wake(const tg_stop *s, tg_wake *w);

/* What tg_stop_tick() does with a tick inside tg_stop_wake()'s band: records
 * it as the last tick, nothing else, and no output. */
void tg_stop_tick_quiet(tg_stop *s, int64_t ts_ms, tg_dec price);

/* True while the position is open (INACTIVE, WAITING or ACTIVE). */
bool tg_stop_is_open(const tg_stop *s);

/* The stop in force: intended if any, else unset (returns false). */
bool tg_stop_current(const tg_stop *s, tg_dec *stop);

/* Checks the invariants of a state (on tick, side of the stop vs the peak,
 * flags consistent). Used after restore and in tests; returns TG_E_STATE with
 * a sentence on the first violation. */
tg_status tg_stop_check(const tg_stop *s, tg_err *err);

const char *tg_state_str(tg_state state);
const char *tg_side_str(tg_side side);
const char *tg_event_type_str(tg_event_type type);
const char *tg_reason_str(tg_reason reason);
const char *tg_cmd_type_str(tg_cmd_type type);

/* One event as a JSON object on one line, no newline: {"ts":..,"type":..,
 * "reason":..,"price":"..","stop":"..","state":..,...}. Prices are exact
 * decimal strings with at least dp decimal places. Returns the length, or 0
 * when cap is too small. */
size_t tg_event_json(const tg_event *ev, int dp, char *buf, size_t cap);

#endif
