/* From the exchanges' error codes to tg_venue_code (table in docs/venue.md). */
#include <assert.h>
#include <string.h>

#include "venue/wire.h"

typedef struct code_map {
    int code;           /* exchange code */
    tg_venue_code kind; /* what it means to trailguard */
} code_map;

static const code_map BINANCE[] = {
    {-1000, TG_VENUE_E_SERVER},         {-1001, TG_VENUE_E_SERVER},
    {-1003, TG_VENUE_E_RATE_LIMIT},     {-1007, TG_VENUE_E_SERVER},
    {-1008, TG_VENUE_E_SERVER},         {-1015, TG_VENUE_E_RATE_LIMIT},
    {-1021, TG_VENUE_E_TIMESTAMP},      {-1022, TG_VENUE_E_AUTH},
    {-1100, TG_VENUE_E_PARAM},          {-1101, TG_VENUE_E_PARAM},
    {-1102, TG_VENUE_E_PARAM},          {-1103, TG_VENUE_E_PARAM},
    {-1104, TG_VENUE_E_PARAM},          {-1105, TG_VENUE_E_PARAM},
    {-1106, TG_VENUE_E_PARAM},          {-1111, TG_VENUE_E_PRECISION},
    {-1121, TG_VENUE_E_PARAM},          {-1125, TG_VENUE_E_AUTH},
    {-2011, TG_VENUE_E_UNKNOWN_ORDER},  {-2013, TG_VENUE_E_UNKNOWN_ORDER},
    {-2014, TG_VENUE_E_AUTH},           {-2015, TG_VENUE_E_AUTH},
    {-2021, TG_VENUE_E_WOULD_TRIGGER},  {-2022, TG_VENUE_E_NO_POSITION},
    {-4014, TG_VENUE_E_PRECISION},      {-4023, TG_VENUE_E_PRECISION},
    {-4045, TG_VENUE_E_TOO_MANY_STOPS}, {-4116, TG_VENUE_E_DUPLICATE},
    {-4130, TG_VENUE_E_STOP_EXISTS},    {-4137, TG_VENUE_E_PARAM},
    {-4138, TG_VENUE_E_PARAM},          {-5028, TG_VENUE_E_TIMESTAMP},
};

static const code_map BYBIT[] = {
    {10001, TG_VENUE_E_PARAM},          {10002, TG_VENUE_E_TIMESTAMP},
    {10003, TG_VENUE_E_AUTH},           {10004, TG_VENUE_E_AUTH},
    {10005, TG_VENUE_E_AUTH},           {10006, TG_VENUE_E_RATE_LIMIT},
    {10010, TG_VENUE_E_AUTH},           {10016, TG_VENUE_E_SERVER},
    {10029, TG_VENUE_E_PARAM},          {33004, TG_VENUE_E_AUTH},
    {34040, TG_VENUE_E_NOT_MODIFIED},   {110001, TG_VENUE_E_UNKNOWN_ORDER},
    {110008, TG_VENUE_E_UNKNOWN_ORDER}, {110009, TG_VENUE_E_TOO_MANY_STOPS},
    {110010, TG_VENUE_E_UNKNOWN_ORDER}, {110017, TG_VENUE_E_NO_POSITION},
    {110072, TG_VENUE_E_DUPLICATE},     {110092, TG_VENUE_E_WOULD_TRIGGER},
    {110093, TG_VENUE_E_WOULD_TRIGGER},
};

static tg_venue_code lookup(const code_map *map, size_t n, int code) {
    assert(map != NULL && n > 0);
    for (size_t i = 0; i < n; i++) {
        if (map[i].code == code) {
            assert(map[i].kind != TG_VENUE_OK && map[i].kind <= TG_VENUE_E_REJECTED);
            return map[i].kind;
        }
    }
    return TG_VENUE_E_REJECTED;
}

static tg_venue_code from_http(int http_status) {
    if (http_status == 418) {
        return TG_VENUE_E_BANNED;
    }
    if (http_status == 429 || http_status == 403) {
        return TG_VENUE_E_RATE_LIMIT;
    }
    if (http_status == 401) {
        return TG_VENUE_E_AUTH;
    }
    tg_venue_code kind = http_status >= 500 ? TG_VENUE_E_SERVER : TG_VENUE_E_REJECTED;
    assert(kind != TG_VENUE_OK);
    return kind;
}

tg_venue_code tg_bn_map_error(int http_status, int code) {
    assert(http_status >= 0);
    if (http_status == 418 || http_status == 429) {
        return from_http(http_status);
    }
    if (code != 0) {
        return lookup(BINANCE, sizeof BINANCE / sizeof BINANCE[0], code);
    }
    return http_status >= 200 && http_status < 300 ? TG_VENUE_OK : from_http(http_status);
}

/* 10001 covers every parameter problem; the message tells a stop on the
 * wrong side of the market and an off-tick price apart. */
static tg_venue_code bybit_param(const char *msg) {
    assert(msg != NULL);
    if (strstr(msg, "should greater") != NULL || strstr(msg, "should less") != NULL ||
        strstr(msg, "base_price") != NULL || strstr(msg, "immediately") != NULL) {
        return TG_VENUE_E_WOULD_TRIGGER;
    }
    if (strstr(msg, "tick") != NULL || strstr(msg, "precision") != NULL ||
        strstr(msg, "decimal") != NULL) {
        return TG_VENUE_E_PRECISION;
    }
    return TG_VENUE_E_PARAM;
}

tg_venue_code tg_by_map_error(int http_status, int ret_code, const char *msg) {
    assert(http_status >= 0);
    if (http_status != 200 && http_status != 0 && ret_code <= 0) {
        return from_http(http_status);
    }
    if (ret_code == 0) {
        return TG_VENUE_OK;
    }
    if (ret_code == 10001) {
        return bybit_param(msg != NULL ? msg : "");
    }
    return lookup(BYBIT, sizeof BYBIT / sizeof BYBIT[0], ret_code);
}

static void redact_one(char *msg, const char *what) {
    assert(msg != NULL);
    size_t n = what != NULL ? strlen(what) : 0;
    if (n < 4) {
        return; /* too short to be a credential, and '*'-ing it would eat words */
    }
    for (char *p = strstr(msg, what); p != NULL; p = strstr(p + n, what)) {
        memset(p, '*', n);
    }
    /* A message cut short may end in the first part of a credential. */
    size_t len = strlen(msg);
    for (size_t i = len > n ? len - n + 1 : 0; i + 4 <= len; i++) {
        if (strncmp(msg + i, what, len - i) == 0) {
            memset(msg + i, '*', len - i);
            break;
        }
    }
}

void tg_wire_redact(char *msg, const char *key, const char *secret) {
    assert(msg != NULL);
    redact_one(msg, key);
    redact_one(msg, secret);
}
