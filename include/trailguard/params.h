/*
 * trailguard/params.h — the parameters of one trailing stop.
 *
 * Parameters come in layers: global defaults, then per-symbol overrides, then
 * per-position overrides. Each layer is a tg_params_patch (the values it sets
 * and a mask saying which); tg_params_apply() lays a patch over a full set.
 * Every parameter has one name, used alike as a command-line flag (with
 * dashes: --activation-percent) and as a config key (activation_percent).
 *
 * Optional features are off when their value is zero; tg_params_set() accepts
 * the word "off" for them. A value that cannot be meant (a callback of 0, a
 * negative percent, an empty or non-tightening step table) is an error with a
 * sentence naming the parameter, never silently replaced by a default.
 */
#ifndef TRAILGUARD_PARAMS_H
#define TRAILGUARD_PARAMS_H

#include <stdint.h>

#include "trailguard/decimal.h"
#include "trailguard/error.h"

#define TG_STEPS_MAX 6 /* entries in a step table */

typedef enum tg_callback_kind {
    TG_CALLBACK_PERCENT, /* distance = extreme × callback / 100 */
    TG_CALLBACK_TICKS,   /* distance = callback × tick size (callback is whole) */
    TG_CALLBACK_PRICE,   /* distance = callback, in quote currency */
} tg_callback_kind;

typedef enum tg_on_crossed {
    TG_ON_CROSSED_CLOSE, /* reduce-only market close of the position */
    TG_ON_CROSSED_ALERT, /* event only; the stop is placed once the price allows */
} tg_on_crossed;

typedef struct tg_step {
    tg_dec profit_pct;   /* peak profit at which this step applies, % */
    tg_dec callback_pct; /* callback in force from that profit on, % */
} tg_step;

typedef struct tg_params {
    tg_dec initial_stop_pct;          /* protective stop below/above entry, %; 0 = off */
    tg_dec activation_pct;            /* profit that activates trailing, % */
    tg_dec callback;                  /* trail distance, unit set by callback_kind */
    tg_dec breakeven_pct;             /* profit that moves the stop to entry, %; 0 = off */
    tg_dec breakeven_offset_pct;      /* breakeven stop beyond entry (fees), % */
    tg_dec momentum_pct_per_min;      /* favourable speed that tightens, %/min; 0 = off */
    tg_dec momentum_factor;           /* callback multiplier while fast, (0, 1] */
    tg_dec min_improvement_pct;       /* smallest stop move sent to the exchange, % */
    tg_dec emergency_improvement_pct; /* a move this large bypasses the limits, % */
    int64_t time_activation_ms;       /* activate when open this long and in profit; 0 = off */
    int64_t min_update_interval_ms;   /* least time between two exchange updates, ms */
    tg_step steps[TG_STEPS_MAX];      /* step table, ascending profit; see step_count */
    uint8_t step_count;               /* entries used in steps; 0 = no step table */
    uint8_t callback_kind;            /* tg_callback_kind */
    uint8_t on_crossed;               /* tg_on_crossed */
} tg_params;

/* One bit per settable parameter, for tg_params_patch.set. */
typedef enum tg_param_bit {
    TG_P_INITIAL_STOP = 1u << 0,
    TG_P_ACTIVATION = 1u << 1,
    TG_P_CALLBACK = 1u << 2, /* callback and callback_kind together */
    TG_P_BREAKEVEN = 1u << 3,
    TG_P_BREAKEVEN_OFFSET = 1u << 4,
    TG_P_TIME_ACTIVATION = 1u << 5,
    TG_P_STEPS = 1u << 6,
    TG_P_MOMENTUM = 1u << 7,
    TG_P_MOMENTUM_FACTOR = 1u << 8,
    TG_P_MIN_INTERVAL = 1u << 9,
    TG_P_MIN_IMPROVEMENT = 1u << 10,
    TG_P_EMERGENCY = 1u << 11,
    TG_P_ON_CROSSED = 1u << 12,
} tg_param_bit;

typedef struct tg_params_patch {
    uint32_t set;     /* tg_param_bit mask of the fields below that this layer sets */
    tg_params values; /* the values; fields whose bit is clear are ignored */
} tg_params_patch;

/* The built-in defaults: activation 1.5 %, callback 0.5 %, interval 30 s,
 * minimum improvement 0.05 %, emergency 1.0 %, on_crossed close, the rest off. */
tg_params tg_params_default(void);

/* Checks every field; on the first problem fills err with a sentence that
 * names the parameter and the value, and returns TG_E_INVALID. */
tg_status tg_params_validate(const tg_params *p, tg_err *err);

/* Sets one parameter from text, by name (underscores or dashes):
 * "activation_percent" "1.5", "callback_ticks" "20", "steps" "1:0.5,2:0.3",
 * "on_crossed" "alert", "breakeven_percent" "off". Records the bit in
 * patch->set. Checks the value's own form and sign; whole-set rules are
 * tg_params_validate()'s. */
tg_status tg_params_set(tg_params_patch *patch, const char *name, const char *value, tg_err *err);

/* Writes the step table as tg_params_set() reads it ("1:0.5,2:0.3"), or
 * "off" when there is none. buf must hold TG_STEPS_TEXT_MAX bytes. */
#define TG_STEPS_TEXT_MAX (TG_STEPS_MAX * 2 * TG_DEC_STR_MAX)
void tg_params_format_steps(const tg_params *p, char *buf);

/* Lays patch over p: every field whose bit is set in patch->set is copied. */
void tg_params_apply(tg_params *p, const tg_params_patch *patch);

/* The parameter names accepted by tg_params_set(), NULL-terminated, in the
 * order they are documented. */
const char *const *tg_params_names(void);

/* Callback in force: the step table's entry for the peak profit, if there
 * is a table, else the configured callback (percent kind only). */
tg_dec tg_params_step_callback(const tg_params *p, tg_dec peak_profit_pct);

#endif
