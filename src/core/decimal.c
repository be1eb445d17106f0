#include "trailguard/decimal.h"

#include <assert.h>
#include <string.h>

__extension__ typedef __int128 i128;

static const tg_dec dec_hundred = {100 * TG_DEC_SCALE};
static const tg_dec dec_one = {TG_DEC_SCALE};

const char *tg_dec_status_str(tg_dec_status status) {
    switch (status) {
    case TG_DEC_OK:
        return "ok";
    case TG_DEC_E_SYNTAX:
        return "not a plain decimal number";
    case TG_DEC_E_EXPONENT:
        return "scientific notation is not accepted, write the number out in full";
    case TG_DEC_E_PRECISION:
        return "more than 8 decimal places";
    case TG_DEC_E_OVERFLOW:
        return "number out of range";
    case TG_DEC_E_DIVZERO:
        return "division by zero";
    }
    return "unknown decimal error";
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* A number cut short at i (too long, too precise) is still reported as
 * scientific notation when that is what it is: "3.3000000000000004e-05". */
static tg_dec_status cut_short(const char *text, size_t i, size_t len, tg_dec_status why) {
    assert(text != NULL && i <= len);
    assert(why == TG_DEC_E_OVERFLOW || why == TG_DEC_E_PRECISION);
    while (i < len && (is_digit(text[i]) || text[i] == '.')) {
        i++;
    }
    return i < len && (text[i] == 'e' || text[i] == 'E') ? TG_DEC_E_EXPONENT : why;
}

tg_dec_status tg_dec_parse(const char *text, size_t len, tg_dec *out, int *dp_out) {
    assert(text != NULL || len == 0);
    assert(out != NULL);
    size_t i = 0;
    bool negative = false;
    if (i < len && text[i] == '-') {
        negative = true;
        i++;
    }
    /* The range is symmetric, ±INT64_MAX units, so the magnitude is built as
     * unsigned and the whole part is bounded before it is scaled. */
    const uint64_t limit = (uint64_t)INT64_MAX;
    uint64_t whole = 0;
    size_t int_digits = 0;
    for (; i < len && is_digit(text[i]); i++, int_digits++) {
        whole = whole * 10 + (uint64_t)(text[i] - '0');
        if (whole > limit / (uint64_t)TG_DEC_SCALE) {
            return cut_short(text, i, len, TG_DEC_E_OVERFLOW);
        }
    }
    uint64_t units = whole * (uint64_t)TG_DEC_SCALE;
    int dp = 0;
    size_t frac_digits = 0;
    if (i < len && text[i] == '.') {
        i++;
        uint64_t place = (uint64_t)TG_DEC_SCALE / 10;
        for (; i < len && is_digit(text[i]); i++, frac_digits++) {
            uint64_t d = (uint64_t)(text[i] - '0');
            if (frac_digits < TG_DEC_DP) {
                units += d * place; /* cannot exceed limit: see the check below */
                place /= 10;
            } else if (d != 0) {
                return cut_short(text, i, len, TG_DEC_E_PRECISION);
            }
        }
        if (frac_digits == 0) {
            return TG_DEC_E_SYNTAX;
        }
        dp = frac_digits > TG_DEC_DP ? TG_DEC_DP : (int)frac_digits;
    }
    if (int_digits == 0) {
        return TG_DEC_E_SYNTAX;
    }
    if (i < len) {
        return (text[i] == 'e' || text[i] == 'E') ? TG_DEC_E_EXPONENT : TG_DEC_E_SYNTAX;
    }
    if (units > limit) {
        return TG_DEC_E_OVERFLOW; /* all of text was read: no exponent */
    }
    out->units = negative ? -(int64_t)units : (int64_t)units;
    assert(dp >= 0 && dp <= TG_DEC_DP);
    assert(tg_dec_places(*out) <= dp); /* the text wrote at least the places the value needs */
    if (dp_out != NULL) {
        *dp_out = dp;
    }
    return TG_DEC_OK;
}

tg_dec_status tg_dec_parse_cstr(const char *text, tg_dec *out) {
    assert(text != NULL);
    return tg_dec_parse(text, strlen(text), out, NULL);
}

size_t tg_dec_format(tg_dec value, int dp_min, char *buf) {
    assert(buf != NULL);
    assert(dp_min >= 0 && dp_min <= TG_DEC_DP);
    char digits[24];
    size_t n = 0;
    /* Magnitude as unsigned so INT64_MIN formats too. */
    uint64_t mag = value.units < 0 ? (uint64_t)0 - (uint64_t)value.units : (uint64_t)value.units;
    uint64_t whole = mag / (uint64_t)TG_DEC_SCALE;
    uint64_t frac = mag % (uint64_t)TG_DEC_SCALE;
    do {
        digits[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole != 0);
    size_t len = 0;
    if (value.units < 0) {
        buf[len++] = '-';
    }
    while (n > 0) {
        buf[len++] = digits[--n];
    }
    int dp = tg_dec_places(value);
    if (dp < dp_min) {
        dp = dp_min;
    }
    if (dp > 0) {
        buf[len++] = '.';
        uint64_t place = (uint64_t)TG_DEC_SCALE / 10;
        for (int k = 0; k < dp; k++) {
            buf[len++] = (char)('0' + (frac / place) % 10);
            place /= 10;
        }
    }
    buf[len] = '\0';
    assert(len < TG_DEC_STR_MAX);
    return len;
}

int tg_dec_places(tg_dec value) {
    int64_t frac = value.units % TG_DEC_SCALE;
    if (frac == 0) {
        return 0;
    }
    int dp = TG_DEC_DP;
    while (frac % 10 == 0) {
        frac /= 10;
        dp--;
    }
    assert(dp >= 1 && dp <= TG_DEC_DP);
    return dp;
}

tg_dec_status tg_dec_from_int(int64_t n, tg_dec *out) {
    assert(out != NULL);
    if (n > INT64_MAX / TG_DEC_SCALE || n < -(INT64_MAX / TG_DEC_SCALE)) {
        return TG_DEC_E_OVERFLOW;
    }
    out->units = n * TG_DEC_SCALE;
    assert(out->units / TG_DEC_SCALE == n && out->units % TG_DEC_SCALE == 0);
    return TG_DEC_OK;
}

static tg_dec_status from_i128(i128 v, tg_dec *out) {
    assert(out != NULL);
    if (v > (i128)INT64_MAX || v < -(i128)INT64_MAX) {
        return TG_DEC_E_OVERFLOW;
    }
    out->units = (int64_t)v;
    return TG_DEC_OK;
}

tg_dec_status tg_dec_add(tg_dec a, tg_dec b, tg_dec *out) {
    assert(out != NULL);
    return from_i128((i128)a.units + (i128)b.units, out);
}

tg_dec_status tg_dec_sub(tg_dec a, tg_dec b, tg_dec *out) {
    assert(out != NULL);
    return from_i128((i128)a.units - (i128)b.units, out);
}

tg_dec_status tg_dec_abs(tg_dec a, tg_dec *out) {
    assert(out != NULL);
    return from_i128(a.units < 0 ? -(i128)a.units : (i128)a.units, out);
}

/* Quotient of n / d rounded in the given direction; d != 0. */
static tg_dec_status div_round(i128 n, i128 d, tg_dec_round mode, i128 *q_out) {
    assert(d != 0 && q_out != NULL);
    assert(mode == TG_ROUND_FLOOR || mode == TG_ROUND_CEIL || mode == TG_ROUND_EXACT);
    i128 q = n / d; /* truncates toward zero */
    i128 r = n % d;
    if (r != 0) {
        bool negative_quotient = (r < 0) != (d < 0);
        if (mode == TG_ROUND_EXACT) {
            return TG_DEC_E_PRECISION;
        }
        if (mode == TG_ROUND_FLOOR && negative_quotient) {
            q -= 1;
        } else if (mode == TG_ROUND_CEIL && !negative_quotient) {
            q += 1;
        }
    }
    *q_out = q;
    return TG_DEC_OK;
}

tg_dec_status tg_dec_mul_ratio(tg_dec a, tg_dec num, tg_dec den, tg_dec_round mode, tg_dec *out) {
    assert(out != NULL);
    if (den.units == 0) {
        return TG_DEC_E_DIVZERO;
    }
    /* |a × num| < 2^126, so the product always fits in 128 bits. */
    i128 q = 0;
    tg_dec_status st = div_round((i128)a.units * (i128)num.units, (i128)den.units, mode, &q);
    if (st != TG_DEC_OK) {
        return st;
    }
    return from_i128(q, out);
}

tg_dec_status tg_dec_mul(tg_dec a, tg_dec b, tg_dec_round mode, tg_dec *out) {
    assert(out != NULL);
    return tg_dec_mul_ratio(a, b, dec_one, mode, out);
}

tg_dec_status tg_dec_div(tg_dec a, tg_dec b, tg_dec_round mode, tg_dec *out) {
    assert(out != NULL);
    return tg_dec_mul_ratio(a, dec_one, b, mode, out);
}

tg_dec_status tg_dec_mul_pct(tg_dec a, tg_dec pct, tg_dec_round mode, tg_dec *out) {
    assert(out != NULL);
    return tg_dec_mul_ratio(a, pct, dec_hundred, mode, out);
}

tg_dec_status tg_dec_add_pct(tg_dec a, tg_dec pct, tg_dec_round mode, tg_dec *out) {
    assert(out != NULL);
    tg_dec factor;
    tg_dec_status st = tg_dec_add(dec_hundred, pct, &factor);
    if (st != TG_DEC_OK) {
        return st;
    }
    return tg_dec_mul_ratio(a, factor, dec_hundred, mode, out);
}

tg_dec_status tg_dec_pct_change(tg_dec from, tg_dec to, tg_dec_round mode, tg_dec *out) {
    assert(out != NULL);
    tg_dec diff, base;
    tg_dec_status st = tg_dec_sub(to, from, &diff);
    if (st == TG_DEC_OK) {
        st = tg_dec_abs(diff, &diff);
    }
    if (st == TG_DEC_OK) {
        st = tg_dec_abs(from, &base);
    }
    if (st != TG_DEC_OK) {
        return st;
    }
    assert(!tg_dec_is_neg(diff) && !tg_dec_is_neg(base));
    return tg_dec_mul_ratio(diff, dec_hundred, base, mode, out);
}

tg_dec_status tg_dec_round_tick(tg_dec a, tg_dec tick, tg_dec_round mode, tg_dec *out) {
    assert(out != NULL);
    if (tick.units <= 0) {
        return TG_DEC_E_DIVZERO;
    }
    i128 q = 0;
    tg_dec_status st = div_round((i128)a.units, (i128)tick.units, mode, &q);
    if (st != TG_DEC_OK) {
        return st;
    }
    st = from_i128(q * (i128)tick.units, out);
    assert(st != TG_DEC_OK || out->units % tick.units == 0);
    return st;
}

bool tg_dec_on_tick(tg_dec a, tg_dec tick) {
    assert(tick.units > 0);
    return a.units % tick.units == 0;
}
