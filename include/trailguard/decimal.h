/*
 * trailguard/decimal.h — exact decimal numbers for prices, quantities and
 * percents.
 *
 * A tg_dec is a signed fixed-point number with 8 decimal places, stored as a
 * count of 1e-8 units in an int64_t: the same precision the exchanges use on
 * the wire, and a range of about ±92 billion. No operation here touches binary
 * floating point, so "51242.50" stays 51242.50 from the wire to the store.
 *
 * Every operation that can fail returns a tg_dec_status and writes its result
 * through an out-pointer only on success. Operations whose exact result has
 * more than 8 decimal places take an explicit rounding direction: a stop is
 * always rounded away from the market by its caller, never "to nearest".
 */
#ifndef TRAILGUARD_DECIMAL_H
#define TRAILGUARD_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_DEC_DP      8           /* decimal places held exactly */
#define TG_DEC_SCALE   100000000LL /* units per 1 */
#define TG_DEC_STR_MAX 32          /* buffer size that fits any formatted tg_dec */

typedef struct tg_dec {
    int64_t units; /* value × 1e8 */
} tg_dec;

typedef enum tg_dec_status {
    TG_DEC_OK = 0,
    TG_DEC_E_SYNTAX,    /* not a plain decimal: empty, stray character, lone sign or dot */
    TG_DEC_E_EXPONENT,  /* scientific notation ("1e-8"): exchanges send plain decimals */
    TG_DEC_E_PRECISION, /* more than 8 significant decimal places */
    TG_DEC_E_OVERFLOW,  /* result outside the representable range */
    TG_DEC_E_DIVZERO,   /* division by zero, or a tick size that is not positive */
} tg_dec_status;

typedef enum tg_dec_round {
    TG_ROUND_FLOOR, /* toward −infinity */
    TG_ROUND_CEIL,  /* toward +infinity */
    TG_ROUND_EXACT, /* fail with TG_DEC_E_PRECISION if rounding would be needed */
} tg_dec_round;

/* A human sentence for a status, e.g. "scientific notation is not accepted". */
const char *tg_dec_status_str(tg_dec_status status);

/* Parses a plain decimal: optional '-', digits, optional '.' followed by
 * digits. Trailing zeros past the 8th place are accepted; other digits there
 * are TG_DEC_E_PRECISION. When dp_out is not NULL it receives the number of
 * decimal places written in the input ("51242.50" → 2), so that the value can
 * be formatted back exactly as it was sent. */
tg_dec_status tg_dec_parse(const char *text, size_t len, tg_dec *out, int *dp_out);

/* Same, for a NUL-terminated string. */
tg_dec_status tg_dec_parse_cstr(const char *text, tg_dec *out);

/* Formats with at least dp_min decimal places (0..8) and no trailing zeros
 * beyond them: (51242.5, 2) → "51242.50", (3, 0) → "3". buf must hold
 * TG_DEC_STR_MAX bytes. Returns the string length. */
size_t tg_dec_format(tg_dec value, int dp_min, char *buf);

/* Number of decimal places needed to write value exactly (0.01 → 2). */
int tg_dec_places(tg_dec value);

static inline tg_dec tg_dec_from_units(int64_t units) {
    return (tg_dec){units};
}
static inline int tg_dec_cmp(tg_dec a, tg_dec b) {
    return (a.units > b.units) - (a.units < b.units);
}
static inline bool tg_dec_eq(tg_dec a, tg_dec b) {
    return a.units == b.units;
}
static inline bool tg_dec_lt(tg_dec a, tg_dec b) {
    return a.units < b.units;
}
static inline bool tg_dec_le(tg_dec a, tg_dec b) {
    return a.units <= b.units;
}
static inline bool tg_dec_gt(tg_dec a, tg_dec b) {
    return a.units > b.units;
}
static inline bool tg_dec_ge(tg_dec a, tg_dec b) {
    return a.units >= b.units;
}
static inline bool tg_dec_is_zero(tg_dec a) {
    return a.units == 0;
}
static inline bool tg_dec_is_pos(tg_dec a) {
    return a.units > 0;
}
static inline bool tg_dec_is_neg(tg_dec a) {
    return a.units < 0;
}
static inline tg_dec tg_dec_max(tg_dec a, tg_dec b) {
    return a.units >= b.units ? a : b;
}
static inline tg_dec tg_dec_min(tg_dec a, tg_dec b) {
    return a.units <= b.units ? a : b;
}

/* Whole number n (|n| ≤ 92,233,720,368). */
tg_dec_status tg_dec_from_int(int64_t n, tg_dec *out);

tg_dec_status tg_dec_add(tg_dec a, tg_dec b, tg_dec *out);
tg_dec_status tg_dec_sub(tg_dec a, tg_dec b, tg_dec *out);
tg_dec_status tg_dec_abs(tg_dec a, tg_dec *out);

/* a × num ÷ den, computed exactly in 128 bits and rounded once. Every
 * multiplication and division below is this one function. */
tg_dec_status tg_dec_mul_ratio(tg_dec a, tg_dec num, tg_dec den, tg_dec_round mode, tg_dec *out);

/* a × b */
tg_dec_status tg_dec_mul(tg_dec a, tg_dec b, tg_dec_round mode, tg_dec *out);
/* a ÷ b */
tg_dec_status tg_dec_div(tg_dec a, tg_dec b, tg_dec_round mode, tg_dec *out);
/* a × pct / 100 */
tg_dec_status tg_dec_mul_pct(tg_dec a, tg_dec pct, tg_dec_round mode, tg_dec *out);
/* a × (1 + pct/100); pct may be negative: (51500, −0.5) → 51242.5 */
tg_dec_status tg_dec_add_pct(tg_dec a, tg_dec pct, tg_dec_round mode, tg_dec *out);
/* |to − from| / |from| × 100, the relative change in percent */
tg_dec_status tg_dec_pct_change(tg_dec from, tg_dec to, tg_dec_round mode, tg_dec *out);
/* The multiple of tick nearest to a in the given direction (tick > 0). */
tg_dec_status tg_dec_round_tick(tg_dec a, tg_dec tick, tg_dec_round mode, tg_dec *out);
/* True when a is a whole multiple of tick (tick > 0). */
bool tg_dec_on_tick(tg_dec a, tg_dec tick);

#endif
