/* Fuzzes the decimal parser, which reads every price, quantity and percent
 * that comes from an exchange, a file or a command line: it must never read
 * past len, and whatever it accepts must format back, within TG_DEC_STR_MAX,
 * to text that parses to the same value with the same places. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "trailguard/decimal.h"

#define TEXT_MAX 256 /* bytes copied for the NUL-terminated variant */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(tg_dec value, int dp) {
    char buf[TG_DEC_STR_MAX];
    size_t len = tg_dec_format(value, dp, buf);
    assert(len < TG_DEC_STR_MAX && len == strlen(buf));
    tg_dec again = tg_dec_from_units(0);
    int dp_again = -1;
    assert(tg_dec_parse(buf, len, &again, &dp_again) == TG_DEC_OK);
    assert(tg_dec_eq(again, value));
    assert(dp_again == (dp > tg_dec_places(value) ? dp : tg_dec_places(value)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    tg_dec value = tg_dec_from_units(-1);
    int dp = -1;
    tg_dec_status st = tg_dec_parse(text, size, &value, &dp);
    assert(tg_dec_status_str(st)[0] != '\0');
    if (st != TG_DEC_OK) {
        /* Nothing is written on failure. */
        assert(value.units == -1 && dp == -1);
        assert(st == TG_DEC_E_SYNTAX || st == TG_DEC_E_EXPONENT || st == TG_DEC_E_PRECISION ||
               st == TG_DEC_E_OVERFLOW);
    } else {
        assert(dp >= 0 && dp <= TG_DEC_DP);
        assert(value.units != INT64_MIN);
        /* The input had dp places, so the value needs no more than that. */
        assert(tg_dec_places(value) <= dp);
        check_round_trip(value, dp);
        check_round_trip(value, 0);
        check_round_trip(value, TG_DEC_DP);
    }
    /* The NUL-terminated entry point agrees when the input holds no NUL. */
    if (size < TEXT_MAX && memchr(data, '\0', size) == NULL) {
        char copy[TEXT_MAX];
        memcpy(copy, data, size);
        copy[size] = '\0';
        tg_dec value_cstr = tg_dec_from_units(0);
        assert(tg_dec_parse_cstr(copy, &value_cstr) == st);
        assert(st != TG_DEC_OK || tg_dec_eq(value_cstr, value));
    }
    return 0;
}
