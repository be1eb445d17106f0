/* Exact decimals: parsing and formatting of exchange strings, every rejection,
 * the range boundaries, rounding in both directions for both signs, and a
 * randomized check of the arithmetic against a 128-bit oracle. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "trailguard/decimal.h"

__extension__ typedef __int128 i128;

#define RANDOM_CASES 250000 /* per randomized test */
#define RANDOM_SEED  0x7472616c6775ULL

#define MAX_UNITS INT64_MAX /* the range is symmetric: ±INT64_MAX units */

static tg_dec D(const char *text) {
    tg_dec d = {0};
    tg_dec_status st = tg_dec_parse_cstr(text, &d);
    if (st != TG_DEC_OK) {
        fail_msg("bad decimal literal in test: '%s' (%s)", text, tg_dec_status_str(st));
    }
    return d;
}

static tg_dec U(int64_t units) {
    return tg_dec_from_units(units);
}

static void assert_dec_str(tg_dec got, int dp_min, const char *want) {
    char buf[TG_DEC_STR_MAX];
    size_t len = tg_dec_format(got, dp_min, buf);
    assert_int_equal(len, strlen(buf));
    assert_string_equal(buf, want);
}

static void assert_dec_eq(tg_dec got, const char *want) {
    if (!tg_dec_eq(got, D(want))) {
        char buf[TG_DEC_STR_MAX];
        tg_dec_format(got, 0, buf);
        fail_msg("got %s, want %s", buf, want);
    }
}

/* Parses text and expects status; on failure the out-pointers are untouched. */
static void expect_parse(const char *text, tg_dec_status want) {
    tg_dec d = U(777);
    int dp = 99;
    tg_dec_status st = tg_dec_parse(text, strlen(text), &d, &dp);
    if (st != want) {
        fail_msg("'%s': status %d (%s), want %d (%s)", text, st, tg_dec_status_str(st), want,
                 tg_dec_status_str(want));
    }
    if (st != TG_DEC_OK) {
        assert_int_equal(d.units, 777);
        assert_int_equal(dp, 99);
    }
}

/* ---- parsing and formatting ------------------------------------------------ */

typedef struct round_trip_case {
    const char *text; /* as an exchange sends it */
    int64_t units;    /* value × 1e8 */
    int dp;           /* places reported by the parser */
} round_trip_case;

static void exchange_strings_round_trip(void **state) {
    (void)state;
    static const round_trip_case cases[] = {
        {"0.13581715", 13581715, 8},
        {"51242.50", 5124250000000, 2},
        {"0.00000001", 1, 8},
        {"10000000.00000000", 1000000000000000, 8},
        {"-3.5", -350000000, 1},
        {"0", 0, 0},
        {"0.0", 0, 1},
        {"3", 300000000, 0},
        {"0.10", 10000000, 2},
        {"-0.00000001", -1, 8},
        {"92233720368.54775807", INT64_MAX, 8},
        {"-92233720368.54775807", -INT64_MAX, 8},
        {"92233720368", 9223372036800000000, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const round_trip_case *c = &cases[i];
        tg_dec d = {0};
        int dp = -1;
        tg_dec_status st = tg_dec_parse(c->text, strlen(c->text), &d, &dp);
        assert_int_equal(st, TG_DEC_OK);
        assert_int_equal(d.units, c->units);
        assert_int_equal(dp, c->dp);
        assert_dec_str(d, dp, c->text);
    }
}

static void format_honours_dp_min_and_drops_other_zeros(void **state) {
    (void)state;
    assert_dec_str(D("51242.5"), 2, "51242.50");
    assert_dec_str(D("51242.5"), 0, "51242.5");
    assert_dec_str(D("51242.5"), 8, "51242.50000000");
    assert_dec_str(D("3"), 0, "3");
    assert_dec_str(D("3"), 1, "3.0");
    assert_dec_str(D("0.12345678"), 2, "0.12345678");
    assert_dec_str(D("-0.5"), 3, "-0.500");
    assert_dec_str(U(0), 0, "0");
    assert_dec_str(U(0), 2, "0.00");
    assert_dec_str(U(INT64_MAX), 0, "92233720368.54775807");
    /* INT64_MIN is outside the parser's range but must still format. */
    assert_dec_str(U(INT64_MIN), 0, "-92233720368.54775808");
    assert_dec_str(U(INT64_MIN), 8, "-92233720368.54775808");
    char buf[TG_DEC_STR_MAX];
    assert_true(tg_dec_format(U(INT64_MIN), 8, buf) < TG_DEC_STR_MAX);
}

static void parse_reads_only_len_bytes(void **state) {
    (void)state;
    tg_dec d = {0};
    int dp = -1;
    assert_int_equal(tg_dec_parse("1.25xyz", 4, &d, &dp), TG_DEC_OK);
    assert_dec_eq(d, "1.25");
    assert_int_equal(dp, 2);
    assert_int_equal(tg_dec_parse("1.25xyz", 3, &d, &dp), TG_DEC_OK);
    assert_dec_eq(d, "1.2");
    assert_int_equal(dp, 1);
    assert_int_equal(tg_dec_parse("12", 0, &d, NULL), TG_DEC_E_SYNTAX);
    assert_int_equal(tg_dec_parse(NULL, 0, &d, NULL), TG_DEC_E_SYNTAX);
    assert_int_equal(tg_dec_parse("1\0", 2, &d, NULL), TG_DEC_E_SYNTAX);
    assert_int_equal(tg_dec_parse("-7", 2, &d, NULL), TG_DEC_OK);
    assert_dec_eq(d, "-7");
}

static void non_canonical_forms_parse_to_the_same_value(void **state) {
    (void)state;
    assert_dec_eq(D("007.50"), "7.5");
    assert_dec_eq(D("-0"), "0");
    assert_dec_eq(D("-0.000"), "0");
    assert_dec_eq(D("0000000000000000000000000000001"), "1");
    assert_dec_eq(D("1.5000000000000000000000000000"), "1.5");
    tg_dec d = {0};
    int dp = -1;
    assert_int_equal(tg_dec_parse_cstr("-0", &d), TG_DEC_OK);
    assert_false(tg_dec_is_neg(d));
    assert_int_equal(tg_dec_parse("-0.50", 5, &d, &dp), TG_DEC_OK);
    assert_int_equal(dp, 2);
    assert_dec_str(d, dp, "-0.50");
}

static void scientific_notation_is_rejected(void **state) {
    (void)state;
    expect_parse("1e-8", TG_DEC_E_EXPONENT);
    expect_parse("1E5", TG_DEC_E_EXPONENT);
    expect_parse("1.5e3", TG_DEC_E_EXPONENT);
    expect_parse("-2.5E-3", TG_DEC_E_EXPONENT);
    expect_parse("1e", TG_DEC_E_EXPONENT);
    /* Cut short by precision or size before the exponent: still an exponent. */
    expect_parse("3.3000000000000004e-05", TG_DEC_E_EXPONENT);
    expect_parse("123456789012345e3", TG_DEC_E_EXPONENT);
    expect_parse("123456789012345678", TG_DEC_E_OVERFLOW);
    expect_parse("0.000000001", TG_DEC_E_PRECISION);
    expect_parse("0.0001e0", TG_DEC_E_EXPONENT);
}

static void malformed_text_is_a_syntax_error(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",    "-",   ".",   "1.",  ".5",  "1.2.3", "+1",  " 1",   "1 ",   "0x10", "nan",
        "NaN", "inf", "-.5", "--1", "1-",  "1.-5",  "1,5", "1_0",  "\t1",  "1\n",  "Infinity",
        "e5",  "-e5", "1.a", "١",   "1/2", "0.",    "-0.", "1..2", "1. 5", "- 1",  "0x1p3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_parse(bad[i], TG_DEC_E_SYNTAX);
    }
}

static void more_than_eight_places_is_a_precision_error(void **state) {
    (void)state;
    expect_parse("0.000000001", TG_DEC_E_PRECISION);
    expect_parse("0.123456789", TG_DEC_E_PRECISION);
    expect_parse("-1.000000005", TG_DEC_E_PRECISION);
    expect_parse("1.0000000000001", TG_DEC_E_PRECISION);
    expect_parse("0.001521355", TG_DEC_E_PRECISION);
    tg_dec d = {0};
    int dp = -1;
    const char *text = "0.100000000000";
    assert_int_equal(tg_dec_parse(text, strlen(text), &d, &dp), TG_DEC_OK);
    assert_dec_eq(d, "0.1");
    /* Only 8 places can be written back; the zeros past them carry nothing. */
    assert_int_equal(dp, TG_DEC_DP);
    assert_dec_str(d, dp, "0.10000000");
}

static void range_ends_exactly_at_int64_max_units(void **state) {
    (void)state;
    assert_int_equal(D("92233720368.54775807").units, INT64_MAX);
    assert_int_equal(D("-92233720368.54775807").units, -INT64_MAX);
    assert_int_equal(D("92233720368.547758070000").units, INT64_MAX);
    expect_parse("92233720368.54775808", TG_DEC_E_OVERFLOW);
    expect_parse("-92233720368.54775808", TG_DEC_E_OVERFLOW);
    expect_parse("92233720368.9", TG_DEC_E_OVERFLOW);
    expect_parse("92233720369", TG_DEC_E_OVERFLOW);
    expect_parse("100000000000", TG_DEC_E_OVERFLOW);
    expect_parse("123456789012345678901234567890", TG_DEC_E_OVERFLOW);
    expect_parse("-123456789012345678901234567890.5", TG_DEC_E_OVERFLOW);
    expect_parse("18446744073709551616", TG_DEC_E_OVERFLOW); /* 2^64 */

    tg_dec d = {0};
    assert_int_equal(tg_dec_from_int(92233720368, &d), TG_DEC_OK);
    assert_dec_eq(d, "92233720368");
    assert_int_equal(tg_dec_from_int(-92233720368, &d), TG_DEC_OK);
    assert_dec_eq(d, "-92233720368");
    assert_int_equal(tg_dec_from_int(0, &d), TG_DEC_OK);
    assert_true(tg_dec_is_zero(d));
    d = U(5);
    assert_int_equal(tg_dec_from_int(92233720369, &d), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_from_int(-92233720369, &d), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_from_int(INT64_MIN, &d), TG_DEC_E_OVERFLOW);
    assert_int_equal(d.units, 5);
}

/* ---- addition and subtraction ---------------------------------------------- */

static void add_and_sub_are_exact_and_bounded(void **state) {
    (void)state;
    tg_dec r = {0};
    assert_int_equal(tg_dec_add(D("51242.50"), D("0.00000001"), &r), TG_DEC_OK);
    assert_dec_eq(r, "51242.50000001");
    assert_int_equal(tg_dec_sub(D("0.1"), D("0.3"), &r), TG_DEC_OK);
    assert_dec_eq(r, "-0.2");
    assert_int_equal(tg_dec_add(U(INT64_MAX - 1), U(1), &r), TG_DEC_OK);
    assert_int_equal(r.units, INT64_MAX);

    r = U(42);
    assert_int_equal(tg_dec_add(U(INT64_MAX), U(1), &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_add(U(-INT64_MAX), U(-1), &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_add(U(INT64_MAX), U(INT64_MAX), &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_sub(U(-INT64_MAX), U(1), &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_sub(U(INT64_MAX), U(-1), &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_sub(U(0), U(INT64_MIN), &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(r.units, 42);

    assert_int_equal(tg_dec_sub(U(-INT64_MAX + 1), U(1), &r), TG_DEC_OK);
    assert_int_equal(r.units, -INT64_MAX);
    assert_int_equal(tg_dec_sub(U(INT64_MAX), U(INT64_MAX), &r), TG_DEC_OK);
    assert_true(tg_dec_is_zero(r));

    assert_int_equal(tg_dec_abs(D("-3.5"), &r), TG_DEC_OK);
    assert_dec_eq(r, "3.5");
    assert_int_equal(tg_dec_abs(U(-INT64_MAX), &r), TG_DEC_OK);
    assert_int_equal(r.units, INT64_MAX);
    assert_int_equal(tg_dec_abs(U(INT64_MIN), &r), TG_DEC_E_OVERFLOW);
}

static void comparisons_follow_the_value(void **state) {
    (void)state;
    tg_dec a = D("-1.5"), b = D("0.00000001");
    assert_int_equal(tg_dec_cmp(a, b), -1);
    assert_int_equal(tg_dec_cmp(b, a), 1);
    assert_int_equal(tg_dec_cmp(a, a), 0);
    assert_true(tg_dec_lt(a, b) && tg_dec_le(a, b) && tg_dec_le(a, a));
    assert_true(tg_dec_gt(b, a) && tg_dec_ge(b, a) && tg_dec_ge(b, b));
    assert_true(tg_dec_eq(tg_dec_max(a, b), b) && tg_dec_eq(tg_dec_min(a, b), a));
    assert_true(tg_dec_is_neg(a) && tg_dec_is_pos(b) && tg_dec_is_zero(U(0)));
    assert_false(tg_dec_is_pos(U(0)) || tg_dec_is_neg(U(0)));
}

/* ---- multiplication, division, ratio --------------------------------------- */

/* Checks floor, ceil and exact of one operation given by op. */
typedef tg_dec_status (*dec_op)(tg_dec a, tg_dec b, tg_dec_round mode, tg_dec *out);

static void expect_rounded(dec_op op, const char *a, const char *b, const char *floor_want,
                           const char *ceil_want) {
    tg_dec r = {0};
    assert_int_equal(op(D(a), D(b), TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, floor_want);
    assert_int_equal(op(D(a), D(b), TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_eq(r, ceil_want);
    r = U(99);
    tg_dec_status exact = op(D(a), D(b), TG_ROUND_EXACT, &r);
    if (strcmp(floor_want, ceil_want) == 0) {
        assert_int_equal(exact, TG_DEC_OK);
        assert_dec_eq(r, floor_want);
    } else {
        assert_int_equal(exact, TG_DEC_E_PRECISION);
        assert_int_equal(r.units, 99);
    }
}

static void mul_rounds_in_the_asked_direction(void **state) {
    (void)state;
    expect_rounded(tg_dec_mul, "1.00000001", "0.5", "0.5", "0.50000001");
    expect_rounded(tg_dec_mul, "-1.00000001", "0.5", "-0.50000001", "-0.5");
    expect_rounded(tg_dec_mul, "1.00000001", "-0.5", "-0.50000001", "-0.5");
    expect_rounded(tg_dec_mul, "-1.00000001", "-0.5", "0.5", "0.50000001");
    expect_rounded(tg_dec_mul, "1.5", "2", "3", "3");
    expect_rounded(tg_dec_mul, "-1.5", "2", "-3", "-3");
    expect_rounded(tg_dec_mul, "0.13381", "1.015", "0.13581715", "0.13581715");
    expect_rounded(tg_dec_mul, "2.304", "0.995", "2.29248", "2.29248");
    expect_rounded(tg_dec_mul, "0.001529", "0.995", "0.00152135", "0.00152136");
    expect_rounded(tg_dec_mul, "0.00000001", "0.00000001", "0", "0.00000001");
    expect_rounded(tg_dec_mul, "-0.00000001", "0.00000001", "-0.00000001", "0");
    expect_rounded(tg_dec_mul, "0", "-5", "0", "0");
    expect_rounded(tg_dec_mul, "92233720368", "1", "92233720368", "92233720368");
    tg_dec r = {0};
    assert_int_equal(tg_dec_mul(D("92233720368"), D("2"), TG_ROUND_FLOOR, &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_mul(D("-92233720368"), D("2"), TG_ROUND_CEIL, &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_mul(D("1000000"), D("1000000"), TG_ROUND_EXACT, &r), TG_DEC_E_OVERFLOW);
}

static void div_rounds_in_the_asked_direction(void **state) {
    (void)state;
    expect_rounded(tg_dec_div, "1", "3", "0.33333333", "0.33333334");
    expect_rounded(tg_dec_div, "-1", "3", "-0.33333334", "-0.33333333");
    expect_rounded(tg_dec_div, "1", "-3", "-0.33333334", "-0.33333333");
    expect_rounded(tg_dec_div, "-1", "-3", "0.33333333", "0.33333334");
    expect_rounded(tg_dec_div, "2", "3", "0.66666666", "0.66666667");
    expect_rounded(tg_dec_div, "10", "4", "2.5", "2.5");
    expect_rounded(tg_dec_div, "-10", "4", "-2.5", "-2.5");
    expect_rounded(tg_dec_div, "0.00000001", "2", "0", "0.00000001");
    expect_rounded(tg_dec_div, "-0.00000001", "2", "-0.00000001", "0");
    expect_rounded(tg_dec_div, "1", "0.00000001", "100000000", "100000000");
    tg_dec r = U(5);
    assert_int_equal(tg_dec_div(D("1"), D("0"), TG_ROUND_FLOOR, &r), TG_DEC_E_DIVZERO);
    assert_int_equal(tg_dec_div(D("0"), D("0"), TG_ROUND_EXACT, &r), TG_DEC_E_DIVZERO);
    assert_int_equal(tg_dec_div(D("-1"), D("0"), TG_ROUND_CEIL, &r), TG_DEC_E_DIVZERO);
    assert_int_equal(r.units, 5);
    assert_int_equal(tg_dec_div(D("1000"), D("0.00000001"), TG_ROUND_FLOOR, &r), TG_DEC_E_OVERFLOW);
}

static void mul_ratio_keeps_128_bits_and_rounds_once(void **state) {
    (void)state;
    tg_dec r = {0};
    /* max × max ÷ max: the product needs 126 bits and must not be cut. */
    assert_int_equal(tg_dec_mul_ratio(U(INT64_MAX), U(INT64_MAX), U(INT64_MAX), TG_ROUND_EXACT, &r),
                     TG_DEC_OK);
    assert_int_equal(r.units, INT64_MAX);
    assert_int_equal(
        tg_dec_mul_ratio(U(-INT64_MAX), U(INT64_MAX), U(INT64_MAX), TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_int_equal(r.units, -INT64_MAX);
    assert_int_equal(tg_dec_mul_ratio(U(INT64_MIN), U(INT64_MIN), U(INT64_MIN), TG_ROUND_EXACT, &r),
                     TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_mul_ratio(U(INT64_MAX), U(2), U(1), TG_ROUND_FLOOR, &r),
                     TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_mul_ratio(U(INT64_MAX), U(3), U(2), TG_ROUND_FLOOR, &r),
                     TG_DEC_E_OVERFLOW);
    /* (2^64 − 1) ÷ 2 = max + 0.5: floor fits, ceil does not; and mirrored,
     * ceil fits while floor would be INT64_MIN, which is outside the range. */
    const int64_t third = 6148914691236517205; /* (2^64 − 1) / 3 */
    assert_int_equal(tg_dec_mul_ratio(U(third), U(3), U(2), TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_int_equal(r.units, INT64_MAX);
    assert_int_equal(tg_dec_mul_ratio(U(third), U(3), U(2), TG_ROUND_CEIL, &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_mul_ratio(U(-third), U(3), U(2), TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_int_equal(r.units, -INT64_MAX);
    assert_int_equal(tg_dec_mul_ratio(U(-third), U(3), U(2), TG_ROUND_FLOOR, &r),
                     TG_DEC_E_OVERFLOW);
    assert_int_equal(
        tg_dec_mul_ratio(U(INT64_MAX - 1), U(INT64_MAX), U(INT64_MAX - 1), TG_ROUND_FLOOR, &r),
        TG_DEC_OK);
    assert_int_equal(r.units, INT64_MAX);
    /* 7 × 2 ÷ 3 = 4.666… units */
    assert_int_equal(tg_dec_mul_ratio(U(7), U(2), U(3), TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_int_equal(r.units, 4);
    assert_int_equal(tg_dec_mul_ratio(U(7), U(2), U(3), TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_int_equal(r.units, 5);
    assert_int_equal(tg_dec_mul_ratio(U(-7), U(2), U(3), TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_int_equal(r.units, -5);
    assert_int_equal(tg_dec_mul_ratio(U(-7), U(2), U(3), TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_int_equal(r.units, -4);
    assert_int_equal(tg_dec_mul_ratio(U(7), U(-2), U(-3), TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_int_equal(r.units, 5);
    assert_int_equal(tg_dec_mul_ratio(U(7), U(2), U(-3), TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_int_equal(r.units, -4);
    assert_int_equal(tg_dec_mul_ratio(U(7), U(2), U(3), TG_ROUND_EXACT, &r), TG_DEC_E_PRECISION);
    assert_int_equal(tg_dec_mul_ratio(U(7), U(2), U(0), TG_ROUND_FLOOR, &r), TG_DEC_E_DIVZERO);
    assert_int_equal(tg_dec_mul_ratio(U(0), U(0), U(0), TG_ROUND_EXACT, &r), TG_DEC_E_DIVZERO);
}

/* ---- percents -------------------------------------------------------------- */

static void expect_add_pct(const char *a, const char *pct, tg_dec_round mode, const char *want) {
    tg_dec r = {0};
    tg_dec_status st = tg_dec_add_pct(D(a), D(pct), mode, &r);
    if (st != TG_DEC_OK) {
        fail_msg("%s %s%%: %s", a, pct, tg_dec_status_str(st));
    }
    assert_dec_eq(r, want);
}

static void add_pct_is_exact_for_exchange_prices(void **state) {
    (void)state;
    expect_add_pct("51500", "-0.5", TG_ROUND_EXACT, "51242.5");
    expect_add_pct("50000", "1.5", TG_ROUND_EXACT, "50750");
    expect_add_pct("3000", "-1.5", TG_ROUND_EXACT, "2955");
    expect_add_pct("0.13381", "1.5", TG_ROUND_EXACT, "0.13581715");
    expect_add_pct("2.304", "-0.5", TG_ROUND_EXACT, "2.29248");
    expect_add_pct("-3000", "1.5", TG_ROUND_EXACT, "-3045");
    expect_add_pct("100", "0", TG_ROUND_EXACT, "100");
    expect_add_pct("100", "-100", TG_ROUND_EXACT, "0");
    expect_add_pct("100", "-150", TG_ROUND_EXACT, "-50");
    expect_add_pct("0.001529", "-0.5", TG_ROUND_FLOOR, "0.00152135");
    expect_add_pct("0.001529", "-0.5", TG_ROUND_CEIL, "0.00152136");
    expect_add_pct("-0.001529", "-0.5", TG_ROUND_FLOOR, "-0.00152136");
    expect_add_pct("-0.001529", "-0.5", TG_ROUND_CEIL, "-0.00152135");
    tg_dec r = {0};
    assert_int_equal(tg_dec_add_pct(D("0.001529"), D("-0.5"), TG_ROUND_EXACT, &r),
                     TG_DEC_E_PRECISION);
    assert_int_equal(tg_dec_add_pct(D("92233720368"), D("1"), TG_ROUND_FLOOR, &r),
                     TG_DEC_E_OVERFLOW);
    /* 100 + pct itself overflows. */
    assert_int_equal(tg_dec_add_pct(D("1"), U(INT64_MAX), TG_ROUND_FLOOR, &r), TG_DEC_E_OVERFLOW);

    assert_int_equal(tg_dec_mul_pct(D("50000"), D("1.5"), TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_dec_eq(r, "750");
    assert_int_equal(tg_dec_mul_pct(D("51500"), D("-0.5"), TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_dec_eq(r, "-257.5");
    assert_int_equal(tg_dec_mul_pct(D("0.00000001"), D("50"), TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, "0");
    assert_int_equal(tg_dec_mul_pct(D("0.00000001"), D("50"), TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_eq(r, "0.00000001");
}

static void pct_change_is_relative_and_unsigned(void **state) {
    (void)state;
    tg_dec r = {0};
    assert_int_equal(tg_dec_pct_change(D("50000"), D("50750"), TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_dec_eq(r, "1.5");
    assert_int_equal(tg_dec_pct_change(D("51500"), D("51242.5"), TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_dec_eq(r, "0.5");
    assert_int_equal(tg_dec_pct_change(D("3"), D("4"), TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, "33.33333333");
    assert_int_equal(tg_dec_pct_change(D("3"), D("4"), TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_eq(r, "33.33333334");
    assert_int_equal(tg_dec_pct_change(D("3"), D("4"), TG_ROUND_EXACT, &r), TG_DEC_E_PRECISION);
    assert_int_equal(tg_dec_pct_change(D("-100"), D("-90"), TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_dec_eq(r, "10");
    assert_int_equal(tg_dec_pct_change(D("-100"), D("-110"), TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_dec_eq(r, "10");
    assert_int_equal(tg_dec_pct_change(D("7"), D("7"), TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_true(tg_dec_is_zero(r));
    assert_int_equal(tg_dec_pct_change(D("0"), D("1"), TG_ROUND_FLOOR, &r), TG_DEC_E_DIVZERO);
    assert_int_equal(tg_dec_pct_change(U(INT64_MAX), U(-INT64_MAX), TG_ROUND_FLOOR, &r),
                     TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_pct_change(D("0.00000001"), D("1000"), TG_ROUND_FLOOR, &r),
                     TG_DEC_E_OVERFLOW);
}

/* ---- ticks ----------------------------------------------------------------- */

static void round_tick_moves_to_the_asked_side(void **state) {
    (void)state;
    tg_dec tick = D("0.000001");
    tg_dec price = {0}, r = {0};
    /* 0.001529 × 0.995 = 0.001521355 has 9 places: it exists only inside a
     * computation, and each direction of rounding must stay on its side. */
    assert_int_equal(tg_dec_mul(D("0.001529"), D("0.995"), TG_ROUND_FLOOR, &price), TG_DEC_OK);
    assert_int_equal(tg_dec_round_tick(price, tick, TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_str(r, 6, "0.001521");
    assert_int_equal(tg_dec_mul(D("0.001529"), D("0.995"), TG_ROUND_CEIL, &price), TG_DEC_OK);
    assert_int_equal(tg_dec_round_tick(price, tick, TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_str(r, 6, "0.001522");
    assert_int_equal(tg_dec_round_tick(price, tick, TG_ROUND_EXACT, &r), TG_DEC_E_PRECISION);
    /* The whole computation as one ratio: 0.001529 × 0.995 ÷ 1 tick. */
    tg_dec ticks = {0};
    assert_int_equal(tg_dec_mul_ratio(D("0.001529"), D("0.995"), tick, TG_ROUND_FLOOR, &ticks),
                     TG_DEC_OK);
    assert_dec_eq(ticks, "1521.355");

    tick = D("0.01");
    assert_int_equal(tg_dec_round_tick(D("51242.505"), tick, TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, "51242.50");
    assert_int_equal(tg_dec_round_tick(D("51242.505"), tick, TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_eq(r, "51242.51");
    assert_int_equal(tg_dec_round_tick(D("51242.50"), tick, TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_dec_eq(r, "51242.5");
    assert_int_equal(tg_dec_round_tick(D("51242.50"), tick, TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_eq(r, "51242.5");
    assert_int_equal(tg_dec_round_tick(D("0.004"), tick, TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, "0");
    assert_int_equal(tg_dec_round_tick(D("0.004"), tick, TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_eq(r, "0.01");
    assert_int_equal(tg_dec_round_tick(D("7"), D("2.5"), TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, "5");
    assert_int_equal(tg_dec_round_tick(D("7"), D("2.5"), TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_eq(r, "7.5");
}

static void round_tick_on_negative_values(void **state) {
    (void)state;
    tg_dec tick = D("0.01"), r = {0};
    assert_int_equal(tg_dec_round_tick(D("-1.23456789"), tick, TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, "-1.24");
    assert_int_equal(tg_dec_round_tick(D("-1.23456789"), tick, TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_eq(r, "-1.23");
    assert_int_equal(tg_dec_round_tick(D("-1.23456789"), tick, TG_ROUND_EXACT, &r),
                     TG_DEC_E_PRECISION);
    assert_int_equal(tg_dec_round_tick(D("-1.23"), tick, TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, "-1.23");
    assert_int_equal(tg_dec_round_tick(D("-0.001"), tick, TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, "-0.01");
    assert_int_equal(tg_dec_round_tick(D("-0.001"), tick, TG_ROUND_CEIL, &r), TG_DEC_OK);
    assert_dec_eq(r, "0");
    assert_false(tg_dec_is_neg(r));
    assert_int_equal(tg_dec_round_tick(D("-0.00152135"), D("0.000001"), TG_ROUND_FLOOR, &r),
                     TG_DEC_OK);
    assert_dec_eq(r, "-0.001522");
}

static void round_tick_rejects_bad_ticks_and_overflow(void **state) {
    (void)state;
    tg_dec r = U(3);
    assert_int_equal(tg_dec_round_tick(D("1"), D("0"), TG_ROUND_FLOOR, &r), TG_DEC_E_DIVZERO);
    assert_int_equal(tg_dec_round_tick(D("1"), D("0"), TG_ROUND_EXACT, &r), TG_DEC_E_DIVZERO);
    assert_int_equal(tg_dec_round_tick(D("1"), D("-0.01"), TG_ROUND_CEIL, &r), TG_DEC_E_DIVZERO);
    assert_int_equal(r.units, 3);
    assert_int_equal(tg_dec_round_tick(U(INT64_MAX), D("1"), TG_ROUND_FLOOR, &r), TG_DEC_OK);
    assert_dec_eq(r, "92233720368");
    assert_int_equal(tg_dec_round_tick(U(INT64_MAX), D("1"), TG_ROUND_CEIL, &r), TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_round_tick(U(-INT64_MAX), D("1"), TG_ROUND_FLOOR, &r),
                     TG_DEC_E_OVERFLOW);
    assert_int_equal(tg_dec_round_tick(U(INT64_MAX), U(INT64_MAX), TG_ROUND_EXACT, &r), TG_DEC_OK);
    assert_int_equal(r.units, INT64_MAX);
}

static void on_tick_checks_whole_multiples(void **state) {
    (void)state;
    assert_true(tg_dec_on_tick(D("51242.50"), D("0.1")));
    assert_true(tg_dec_on_tick(D("51242.50"), D("0.01")));
    assert_false(tg_dec_on_tick(D("51242.55"), D("0.1")));
    assert_true(tg_dec_on_tick(D("-51242.5"), D("0.5")));
    assert_false(tg_dec_on_tick(D("-0.00152135"), D("0.000001")));
    assert_true(tg_dec_on_tick(D("0"), D("0.00000001")));
    assert_true(tg_dec_on_tick(D("7.5"), D("2.5")));
    assert_false(tg_dec_on_tick(D("7.49999999"), D("2.5")));
    assert_true(tg_dec_on_tick(U(INT64_MIN), D("0.00000001")));
}

/* ---- places and messages --------------------------------------------------- */

static void places_counts_significant_decimals(void **state) {
    (void)state;
    assert_int_equal(tg_dec_places(D("0")), 0);
    assert_int_equal(tg_dec_places(D("1")), 0);
    assert_int_equal(tg_dec_places(D("-92233720368")), 0);
    assert_int_equal(tg_dec_places(D("0.01")), 2);
    assert_int_equal(tg_dec_places(D("0.10")), 1);
    assert_int_equal(tg_dec_places(D("0.00000001")), 8);
    assert_int_equal(tg_dec_places(D("-0.5")), 1);
    assert_int_equal(tg_dec_places(D("12345.6789")), 4);
    assert_int_equal(tg_dec_places(D("51242.50")), 1);
    assert_int_equal(tg_dec_places(U(INT64_MAX)), 8);
    assert_int_equal(tg_dec_places(U(INT64_MIN)), 8);
}

static void every_status_has_a_sentence(void **state) {
    (void)state;
    static const tg_dec_status all[] = {TG_DEC_OK,          TG_DEC_E_SYNTAX,   TG_DEC_E_EXPONENT,
                                        TG_DEC_E_PRECISION, TG_DEC_E_OVERFLOW, TG_DEC_E_DIVZERO};
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = tg_dec_status_str(all[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(s, tg_dec_status_str(all[j]));
        }
    }
    assert_non_null(strstr(tg_dec_status_str(TG_DEC_E_EXPONENT), "scientific"));
    const char *unknown = tg_dec_status_str((tg_dec_status)1000);
    assert_non_null(unknown);
    assert_true(strlen(unknown) > 0);
}

/* ---- randomized ------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A value in range with a random magnitude (1 to 63 bits) and sign, so that
 * small prices, large notionals and the range ends are all common. */
static int64_t random_units(uint64_t *s) {
    uint64_t r = splitmix64(s);
    unsigned bits = 1 + (unsigned)(r % 63);
    uint64_t mag = splitmix64(s) >> (64 - bits);
    if (mag > (uint64_t)MAX_UNITS) {
        mag = (uint64_t)MAX_UNITS;
    }
    switch ((r >> 8) % 16) {
    case 0:
        mag = (uint64_t)MAX_UNITS - (mag % 3);
        break;
    case 1:
        mag %= 4;
        break;
    case 2: /* on a 0.01 tick */
        mag -= mag % 1000000;
        break;
    default:
        break;
    }
    return (r >> 16) & 1 ? -(int64_t)mag : (int64_t)mag;
}

/* The canonical text of units, written independently of tg_dec_format:
 * sign, whole part, then the fraction padded to dp places (dp ≥ the places
 * the value needs). */
static void canonical_text(int64_t units, int dp, char *buf, size_t cap) {
    uint64_t mag = units < 0 ? (uint64_t)0 - (uint64_t)units : (uint64_t)units;
    char frac[16];
    snprintf(frac, sizeof frac, "%08" PRIu64, mag % 100000000u);
    frac[dp] = '\0';
    snprintf(buf, cap, "%s%" PRIu64 "%s%s", units < 0 ? "-" : "", mag / 100000000u,
             dp > 0 ? "." : "", frac);
}

static int needed_places(int64_t units) {
    uint64_t frac = (units < 0 ? (uint64_t)0 - (uint64_t)units : (uint64_t)units) % 100000000u;
    int dp = 0;
    for (uint64_t f = frac; f != 0; f = (f * 10) % 100000000u) {
        dp++;
    }
    return dp;
}

static void random_strings_round_trip(void **state) {
    (void)state;
    uint64_t seed = RANDOM_SEED;
    char text[64], out[TG_DEC_STR_MAX];
    for (int i = 0; i < RANDOM_CASES; i++) {
        int64_t units = random_units(&seed);
        int need = needed_places(units);
        assert_int_equal(tg_dec_places(U(units)), need);
        /* Exchanges pad to the instrument's precision: any dp from need to 8. */
        int dp = need + (int)(splitmix64(&seed) % (uint64_t)(TG_DEC_DP - need + 1));
        canonical_text(units, dp, text, sizeof text);
        tg_dec d = {0};
        int dp_got = -1;
        tg_dec_status st = tg_dec_parse(text, strlen(text), &d, &dp_got);
        if (st != TG_DEC_OK || d.units != units || dp_got != dp) {
            fail_msg("case %d: '%s' parsed to %" PRId64 " dp %d (%s)", i, text, d.units, dp_got,
                     tg_dec_status_str(st));
        }
        size_t len = tg_dec_format(d, dp_got, out);
        assert_true(len < TG_DEC_STR_MAX);
        if (strcmp(out, text) != 0) {
            fail_msg("case %d: '%s' formatted back as '%s'", i, text, out);
        }
        canonical_text(units, need, text, sizeof text);
        tg_dec_format(d, 0, out);
        if (strcmp(out, text) != 0) {
            fail_msg("case %d: canonical '%s' formatted as '%s'", i, text, out);
        }
    }
}

/* Checks r against the exact quotient n ÷ d in 128 bits by its definition:
 * floor: r·d ≤ n < (r+1)·d; ceil: (r−1)·d < n ≤ r·d (for d > 0). */
static void check_rounding(i128 n, i128 d, tg_dec_round mode, tg_dec_status st, int64_t r, int i) {
    if (d < 0) {
        n = -n;
        d = -d;
    }
    /* Floor and ceil of the exact quotient, from truncation. */
    i128 fl = n / d - (n % d < 0 ? 1 : 0);
    i128 ce = n / d + (n % d > 0 ? 1 : 0);
    i128 want = mode == TG_ROUND_CEIL ? ce : fl;
    bool inexact = fl != ce;
    if (mode == TG_ROUND_EXACT && inexact) {
        if (st != TG_DEC_E_PRECISION) {
            fail_msg("case %d: inexact EXACT gave status %d", i, st);
        }
        return;
    }
    if (want > (i128)MAX_UNITS || want < -(i128)MAX_UNITS) {
        if (st != TG_DEC_E_OVERFLOW) {
            fail_msg("case %d: mode %d should overflow, status %d", i, mode, st);
        }
        return;
    }
    if (st != TG_DEC_OK || (i128)r != want) {
        fail_msg("case %d: mode %d gave %" PRId64 " status %d", i, mode, r, st);
    }
    if (mode == TG_ROUND_FLOOR) {
        assert_true((i128)r * d <= n && n < ((i128)r + 1) * d);
    } else {
        assert_true(((i128)r - 1) * d < n && n <= (i128)r * d);
    }
}

/* A ratio operand: usually a price-sized value, sometimes tiny or huge. */
static int64_t random_operand(uint64_t *s) {
    switch (splitmix64(s) % 4) {
    case 0: /* a percent factor such as 1.015 or 0.995 */
        return TG_DEC_SCALE + (int64_t)(splitmix64(s) % 20000000) - 10000000;
    case 1: /* up to ±1000 */
        return (int64_t)(splitmix64(s) % 200000000001ULL) - 100000000000LL;
    default:
        return random_units(s);
    }
}

static void random_mul_ratio_brackets_the_exact_result(void **state) {
    (void)state;
    uint64_t seed = RANDOM_SEED ^ 0x5bd1e995u;
    for (int i = 0; i < RANDOM_CASES; i++) {
        tg_dec a = U(random_operand(&seed));
        tg_dec num = U(random_operand(&seed));
        tg_dec den = U(random_operand(&seed));
        tg_dec lo = U(0), hi = U(0), ex = U(0);
        tg_dec_status st_lo = tg_dec_mul_ratio(a, num, den, TG_ROUND_FLOOR, &lo);
        tg_dec_status st_hi = tg_dec_mul_ratio(a, num, den, TG_ROUND_CEIL, &hi);
        tg_dec_status st_ex = tg_dec_mul_ratio(a, num, den, TG_ROUND_EXACT, &ex);
        if (den.units == 0) {
            assert_true(st_lo == TG_DEC_E_DIVZERO && st_hi == TG_DEC_E_DIVZERO &&
                        st_ex == TG_DEC_E_DIVZERO);
            continue;
        }
        i128 n = (i128)a.units * (i128)num.units;
        check_rounding(n, den.units, TG_ROUND_FLOOR, st_lo, lo.units, i);
        check_rounding(n, den.units, TG_ROUND_CEIL, st_hi, hi.units, i);
        check_rounding(n, den.units, TG_ROUND_EXACT, st_ex, ex.units, i);
        if (st_lo == TG_DEC_OK && st_hi == TG_DEC_OK) {
            assert_true(lo.units <= hi.units && hi.units - lo.units <= 1);
            if (st_ex == TG_DEC_OK) {
                assert_true(lo.units == ex.units && ex.units == hi.units);
            } else {
                assert_int_equal(hi.units - lo.units, 1);
            }
        }
    }
}

static void random_add_sub_and_ticks_match_128_bits(void **state) {
    (void)state;
    uint64_t seed = RANDOM_SEED ^ 0xc2b2ae35u;
    for (int i = 0; i < RANDOM_CASES; i++) {
        tg_dec a = U(random_units(&seed)), b = U(random_units(&seed));
        tg_dec r = U(0);
        i128 sum = (i128)a.units + b.units, diff = (i128)a.units - b.units;
        bool sum_fits = sum <= MAX_UNITS && sum >= -(i128)MAX_UNITS;
        bool diff_fits = diff <= MAX_UNITS && diff >= -(i128)MAX_UNITS;
        assert_int_equal(tg_dec_add(a, b, &r), sum_fits ? TG_DEC_OK : TG_DEC_E_OVERFLOW);
        if (sum_fits) {
            assert_true((i128)r.units == sum);
        }
        assert_int_equal(tg_dec_sub(a, b, &r), diff_fits ? TG_DEC_OK : TG_DEC_E_OVERFLOW);
        if (diff_fits) {
            assert_true((i128)r.units == diff);
        }

        /* round_tick against its definition, for a tick of 1e-8 to 1e4. */
        int64_t tick = 1;
        for (uint64_t k = splitmix64(&seed) % 13; k > 0; k--) {
            tick *= 10;
        }
        tick *= 1 + (int64_t)(splitmix64(&seed) % 5); /* 1, 2, 3, 4, 5 × 10^k */
        tg_dec lo = U(0), hi = U(0);
        tg_dec_status st_lo = tg_dec_round_tick(a, U(tick), TG_ROUND_FLOOR, &lo);
        tg_dec_status st_hi = tg_dec_round_tick(a, U(tick), TG_ROUND_CEIL, &hi);
        if (st_lo == TG_DEC_OK) {
            assert_true(lo.units <= a.units && a.units - lo.units < tick);
            assert_true(tg_dec_on_tick(lo, U(tick)));
        } else {
            assert_int_equal(st_lo, TG_DEC_E_OVERFLOW);
            assert_true((i128)a.units - tick < -(i128)MAX_UNITS);
        }
        if (st_hi == TG_DEC_OK) {
            assert_true(hi.units >= a.units && hi.units - a.units < tick);
            assert_true(tg_dec_on_tick(hi, U(tick)));
        } else {
            assert_int_equal(st_hi, TG_DEC_E_OVERFLOW);
            assert_true((i128)a.units + tick > (i128)MAX_UNITS);
        }
        assert_int_equal(tg_dec_on_tick(a, U(tick)), a.units % tick == 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exchange_strings_round_trip),
        cmocka_unit_test(format_honours_dp_min_and_drops_other_zeros),
        cmocka_unit_test(parse_reads_only_len_bytes),
        cmocka_unit_test(non_canonical_forms_parse_to_the_same_value),
        cmocka_unit_test(scientific_notation_is_rejected),
        cmocka_unit_test(malformed_text_is_a_syntax_error),
        cmocka_unit_test(more_than_eight_places_is_a_precision_error),
        cmocka_unit_test(range_ends_exactly_at_int64_max_units),
        cmocka_unit_test(add_and_sub_are_exact_and_bounded),
        cmocka_unit_test(comparisons_follow_the_value),
        cmocka_unit_test(mul_rounds_in_the_asked_direction),
        cmocka_unit_test(div_rounds_in_the_asked_direction),
        cmocka_unit_test(mul_ratio_keeps_128_bits_and_rounds_once),
        cmocka_unit_test(add_pct_is_exact_for_exchange_prices),
        cmocka_unit_test(pct_change_is_relative_and_unsigned),
        cmocka_unit_test(round_tick_moves_to_the_asked_side),
        cmocka_unit_test(round_tick_on_negative_values),
        cmocka_unit_test(round_tick_rejects_bad_ticks_and_overflow),
        cmocka_unit_test(on_tick_checks_whole_multiples),
        cmocka_unit_test(places_counts_significant_decimals),
        cmocka_unit_test(every_status_has_a_sentence),
        cmocka_unit_test(random_strings_round_trip),
        cmocka_unit_test(random_mul_ratio_brackets_the_exact_result),
        cmocka_unit_test(random_add_sub_and_ticks_match_128_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
