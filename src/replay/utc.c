#include "replay/utc.h"

#include <assert.h>
#include <stdio.h>

#define MS_PER_DAY 86400000LL
#define YEAR_MIN   1970 /* earliest year a price file may name */
#define YEAR_MAX   9999 /* four digits in ISO-8601 */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil: exact for every year, no tables, no floating point). */
static int64_t days_from_civil(int64_t y, int32_t m, int32_t d) {
    assert(m >= 1 && m <= 12);
    assert(d >= 1 && d <= 31);
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    assert(yoe >= 0 && yoe <= 399 && doe >= 0 && doe <= 146096);
    return era * 146097 + doe - 719468;
}

tg_utc tg_utc_split(int64_t ms) {
    /* Floor division, so that times before the epoch land on the right day. */
    int64_t days = ms / MS_PER_DAY;
    int64_t rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days -= 1;
    }
    assert(rem >= 0 && rem < MS_PER_DAY);
    const int64_t z = days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    tg_utc t;
    t.day = (int32_t)(doy - (153 * mp + 2) / 5 + 1);
    t.month = (int32_t)(mp < 10 ? mp + 3 : mp - 9);
    t.year = (int32_t)(yoe + era * 400 + (t.month <= 2));
    t.hour = (int32_t)(rem / 3600000);
    t.min = (int32_t)(rem / 60000 % 60);
    t.sec = (int32_t)(rem / 1000 % 60);
    t.ms = (int32_t)(rem % 1000);
    assert(t.month >= 1 && t.month <= 12 && t.day >= 1 && t.day <= 31);
    assert(t.hour <= 23 && t.min <= 59 && t.sec <= 59 && t.ms <= 999);
    return t;
}

size_t tg_utc_format(int64_t ms, char *buf) {
    assert(buf != NULL);
    tg_utc t = tg_utc_split(ms);
    int n;
    if (t.ms != 0) {
        n = snprintf(buf, TG_UTC_STR_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.year, t.month,
                     t.day, t.hour, t.min, t.sec, t.ms);
    } else {
        n = snprintf(buf, TG_UTC_STR_MAX, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.year, t.month, t.day,
                     t.hour, t.min, t.sec);
    }
    assert(n > 0 && n < TG_UTC_STR_MAX);
    return (size_t)n;
}

/* A cursor over the text being parsed. */
typedef struct cursor {
    const char *s; /* text */
    size_t len;    /* bytes in s */
    size_t at;     /* next byte to read */
} cursor;

/* Exactly `digits` decimal digits, as a number. */
static bool take_digits(cursor *c, int digits, int32_t *out) {
    assert(digits > 0 && digits <= 4);
    assert(c != NULL && out != NULL && c->at <= c->len);
    int32_t v = 0;
    for (int i = 0; i < digits; i++) {
        if (c->at >= c->len || c->s[c->at] < '0' || c->s[c->at] > '9') {
            return false;
        }
        v = v * 10 + (c->s[c->at++] - '0');
    }
    assert(v >= 0 && v <= 9999);
    *out = v;
    return true;
}

static bool take_char(cursor *c, char ch) {
    assert(c != NULL && c->at <= c->len);
    if (c->at < c->len && c->s[c->at] == ch) {
        c->at++;
        return true;
    }
    return false;
}

static int32_t days_in_month(int32_t y, int32_t m) {
    assert(m >= 1 && m <= 12); /* tg_utc_parse() checks the month first */
    static const int32_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Optional ":SS" and ".fraction" after HH:MM; the fraction is cut to ms. */
static bool take_seconds(cursor *c, tg_utc *t) {
    assert(c != NULL && t != NULL);
    t->sec = 0;
    t->ms = 0;
    if (!take_char(c, ':')) {
        return true;
    }
    if (!take_digits(c, 2, &t->sec) || t->sec > 59) {
        return false;
    }
    if (!take_char(c, '.')) {
        return true;
    }
    int fraction_digits = 0;
    for (; c->at < c->len && c->s[c->at] >= '0' && c->s[c->at] <= '9'; c->at++) {
        if (fraction_digits < 3) {
            t->ms = t->ms * 10 + (c->s[c->at] - '0');
        }
        fraction_digits++;
    }
    for (int i = fraction_digits; i < 3; i++) {
        t->ms *= 10;
    }
    assert(t->ms >= 0 && t->ms <= 999);
    return fraction_digits > 0 && fraction_digits <= 9;
}

/* Optional zone: nothing or "Z" is UTC; "+HH:MM", "+HHMM", "+HH" shift it. */
static bool take_zone(cursor *c, int64_t *offset_ms) {
    assert(c != NULL && offset_ms != NULL);
    *offset_ms = 0;
    if (c->at == c->len || take_char(c, 'Z')) {
        return true;
    }
    int sign = take_char(c, '+') ? 1 : (take_char(c, '-') ? -1 : 0);
    int32_t hh = 0, mm = 0;
    if (sign == 0 || !take_digits(c, 2, &hh) || hh > 23) {
        return false;
    }
    if (c->at < c->len) {
        take_char(c, ':');
        if (!take_digits(c, 2, &mm) || mm > 59) {
            return false;
        }
    }
    *offset_ms = sign * ((int64_t)hh * 3600000 + (int64_t)mm * 60000);
    assert(*offset_ms > -MS_PER_DAY && *offset_ms < MS_PER_DAY);
    return true;
}

bool tg_utc_parse(const char *text, size_t len, int64_t *ms_out) {
    assert(text != NULL || len == 0);
    assert(ms_out != NULL);
    cursor c = {text, len, 0};
    tg_utc t;
    bool ok = take_digits(&c, 4, &t.year) && take_char(&c, '-') && take_digits(&c, 2, &t.month) &&
              take_char(&c, '-') && take_digits(&c, 2, &t.day);
    if (!ok || t.year < YEAR_MIN || t.year > YEAR_MAX || t.month < 1 || t.month > 12 || t.day < 1 ||
        t.day > days_in_month(t.year, t.month)) {
        return false;
    }
    if (!take_char(&c, 'T') && !take_char(&c, ' ')) {
        return false;
    }
    ok = take_digits(&c, 2, &t.hour) && t.hour <= 23 && take_char(&c, ':') &&
         take_digits(&c, 2, &t.min) && t.min <= 59 && take_seconds(&c, &t);
    int64_t offset_ms = 0;
    if (!ok || !take_zone(&c, &offset_ms) || c.at != c.len) {
        return false;
    }
    int64_t day_ms = (((int64_t)t.hour * 60 + t.min) * 60 + t.sec) * 1000 + t.ms;
    assert(day_ms >= 0 && day_ms < MS_PER_DAY);
    *ms_out = days_from_civil(t.year, t.month, t.day) * MS_PER_DAY + day_ms - offset_ms;
    return true;
}
