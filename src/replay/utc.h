/*
 * replay/utc.h — UTC calendar times as milliseconds since the Unix epoch.
 *
 * Price files write times as ISO-8601 text and reports show them back the
 * same way. These functions do that with integer arithmetic on the proleptic
 * Gregorian calendar, without the C library's time zone machinery, so that
 * the result never depends on the TZ of the machine that runs a back-test.
 */
#ifndef TRAILGUARD_REPLAY_UTC_H
#define TRAILGUARD_REPLAY_UTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_UTC_STR_MAX 32 /* bytes that hold any formatted time, NUL included */

/* Broken-down UTC time. */
typedef struct tg_utc {
    int32_t year;  /* e.g. 2022 */
    int32_t month; /* 1..12 */
    int32_t day;   /* 1..31 */
    int32_t hour;  /* 0..23 */
    int32_t min;   /* 0..59 */
    int32_t sec;   /* 0..59 */
    int32_t ms;    /* 0..999 */
} tg_utc;

/* Splits ms since the epoch (negative allowed) into calendar fields. */
tg_utc tg_utc_split(int64_t ms);

/* "2022-01-03T12:34:56Z", with ".250" before the Z when the milliseconds are
 * not zero. buf must hold TG_UTC_STR_MAX bytes. Returns the length. */
size_t tg_utc_format(int64_t ms, char *buf);

/* Parses "YYYY-MM-DD HH:MM[:SS[.fraction]]" with 'T' or a space between date
 * and time, then an optional "Z", "+HH:MM" or "-HHMM" offset (none = UTC).
 * Digits of the fraction beyond milliseconds are dropped. Returns false for
 * anything else, including out-of-range fields (month 13, 31 April). */
bool tg_utc_parse(const char *text, size_t len, int64_t *ms_out);

#endif
