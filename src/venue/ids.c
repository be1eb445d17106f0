/* Position keys and trailguard's client order ids. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "trailguard/venue.h"

#define GEN_DIGITS_MAX 14 /* base-36 digits of a generation (36^14 > 2^64) */

bool tg_venue_position_key(const char *symbol, tg_side side, char *buf, size_t size) {
    assert(side == TG_SIDE_LONG || side == TG_SIDE_SHORT);
    assert(size > 0);
    assert(symbol != NULL && buf != NULL);
    int n = snprintf(buf, size, "%s:%s", symbol, side == TG_SIDE_LONG ? "long" : "short");
    return symbol[0] != '\0' && n > 0 && (size_t)n < size;
}

bool tg_venue_client_id(const char *symbol, tg_side side, uint64_t gen, char *buf, size_t size) {
    assert(side == TG_SIDE_LONG || side == TG_SIDE_SHORT);
    assert(size > 0);
    assert(symbol != NULL && buf != NULL);
    char digits[GEN_DIGITS_MAX + 1];
    size_t d = GEN_DIGITS_MAX;
    digits[d] = '\0';
    do {
        digits[--d] = "0123456789abcdefghijklmnopqrstuvwxyz"[gen % 36];
        gen /= 36;
    } while (gen > 0 && d > 0);
    assert(gen == 0); /* 36^14 > 2^64: every generation fits */
    assert(d < GEN_DIGITS_MAX);
    int n = snprintf(buf, size, TG_VENUE_CLIENT_PREFIX "%s:%c-%s", symbol,
                     side == TG_SIDE_LONG ? 'l' : 's', digits + d);
    /* 36 is both exchanges' client id limit. */
    return symbol[0] != '\0' && n > 0 && (size_t)n < size && n <= 36;
}

bool tg_venue_client_id_parse(const char *client_id, char *key, size_t key_size) {
    assert(key == NULL || key_size > 0);
    assert(client_id != NULL);
    size_t plen = strlen(TG_VENUE_CLIENT_PREFIX);
    if (strncmp(client_id, TG_VENUE_CLIENT_PREFIX, plen) != 0) {
        return false;
    }
    const char *sym = client_id + plen;
    const char *colon = strchr(sym, ':');
    if (colon == NULL || colon == sym || (size_t)(colon - sym) >= TG_SYMBOL_MAX) {
        return false;
    }
    char side = colon[1];
    if ((side != 'l' && side != 's') || colon[2] != '-' || colon[3] == '\0') {
        return false;
    }
    for (const char *p = colon + 3; *p != '\0'; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z'))) {
            return false;
        }
    }
    if (key != NULL) {
        char symbol[TG_SYMBOL_MAX];
        memcpy(symbol, sym, (size_t)(colon - sym));
        symbol[colon - sym] = '\0';
        if (!tg_venue_position_key(symbol, side == 'l' ? TG_SIDE_LONG : TG_SIDE_SHORT, key,
                                   key_size)) {
            return false;
        }
    }
    return true;
}
