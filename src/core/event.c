#include "trailguard/stop.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

const char *tg_state_str(tg_state state) {
    static const char *const names[] = {"inactive", "waiting", "active", "triggered", "closed"};
    return (unsigned)state < sizeof names / sizeof names[0] ? names[state] : "unknown";
}

const char *tg_side_str(tg_side side) {
    return side == TG_SIDE_SHORT ? "short" : "long";
}

const char *tg_event_type_str(tg_event_type type) {
    static const char *const names[] = {
        "created",   "initial_stop", "breakeven", "activated", "stop_moved", "skipped",
        "confirmed", "rejected",     "crossed",   "triggered", "closed",
    };
    return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

const char *tg_reason_str(tg_reason reason) {
    static const char *const names[] = {
        "none",
        "profit",
        "time",
        "trail",
        "emergency",
        "rate_limited",
        "below_min_improvement",
        "would_trigger",
        "not_improved",
        "close_position",
        "alert",
        "exchange",
        "stop",
        "external",
    };
    return (unsigned)reason < sizeof names / sizeof names[0] ? names[reason] : "unknown";
}

const char *tg_cmd_type_str(tg_cmd_type type) {
    static const char *const names[] = {"set_stop", "cancel_stop", "close_position", "persist"};
    return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

/* Appends `,"key":"price"` or `,"key":null`. */
static int put_price(char *buf, size_t cap, const char *key, bool set, tg_dec v, int dp) {
    assert(buf != NULL && key != NULL);
    assert(dp >= 0 && dp <= TG_DEC_DP);
    if (!set) {
        return snprintf(buf, cap, ",\"%s\":null", key);
    }
    char num[TG_DEC_STR_MAX];
    tg_dec_format(v, dp, num);
    return snprintf(buf, cap, ",\"%s\":\"%s\"", key, num);
}

size_t tg_event_json(const tg_event *ev, int dp, char *buf, size_t cap) {
    assert(ev != NULL && buf != NULL);
    assert(dp >= 0 && dp <= TG_DEC_DP);
    size_t len = 0;
    int n = snprintf(buf, cap, "{\"ts\":%" PRId64 ",\"position\":%" PRIu32 ",\"type\":\"%s\"",
                     ev->ts_ms, ev->position, tg_event_type_str((tg_event_type)ev->type));
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    len += (size_t)n;
    if (ev->reason == TG_R_NONE) {
        n = snprintf(buf + len, cap - len, ",\"reason\":null");
    } else {
        n = snprintf(buf + len, cap - len, ",\"reason\":\"%s\"",
                     tg_reason_str((tg_reason)ev->reason));
    }
    if (n < 0 || (size_t)n >= cap - len) {
        return 0;
    }
    len += (size_t)n;
    const struct {
        const char *key;
        unsigned bit;
        tg_dec value;
    } prices[] = {
        {"price", TG_EVH_PRICE, ev->price},
        {"stop", TG_EVH_STOP, ev->stop},
        {"prev_stop", TG_EVH_PREV, ev->prev_stop},
    };
    for (size_t i = 0; i < sizeof prices / sizeof prices[0]; i++) {
        n = put_price(buf + len, cap - len, prices[i].key, (ev->has & prices[i].bit) != 0,
                      prices[i].value, dp);
        if (n < 0 || (size_t)n >= cap - len) {
            return 0;
        }
        len += (size_t)n;
    }
    n = snprintf(buf + len, cap - len, ",\"state\":\"%s\"}", tg_state_str((tg_state)ev->state));
    if (n < 0 || (size_t)n >= cap - len) {
        return 0;
    }
    len += (size_t)n;
    assert(len < cap && buf[len] == '\0' && buf[len - 1] == '}');
    return len;
}

static tg_status check_on_tick(const tg_stop *s, const char *what, tg_dec v, tg_err *err) {
    assert(s != NULL && what != NULL);
    assert(tg_dec_is_pos(s->tick)); /* tg_stop_check() tests the tick first */
    if (!tg_dec_on_tick(v, s->tick) || !tg_dec_is_pos(v)) {
        char a[TG_DEC_STR_MAX], t[TG_DEC_STR_MAX];
        tg_dec_format(v, 0, a);
        tg_dec_format(s->tick, 0, t);
        return tg_err_set(err, TG_E_STATE,
                          "position %" PRIu32 ": %s %s is not a positive "
                          "multiple of the tick %s",
                          s->id, what, a, t);
    }
    return TG_OK;
}

tg_status tg_stop_check(const tg_stop *s, tg_err *err) {
    assert(s != NULL);
    if (s->side > TG_SIDE_SHORT || s->state > TG_STATE_CLOSED) {
        return tg_err_set(err, TG_E_STATE, "position %" PRIu32 ": side %u or state %u unknown",
                          s->id, s->side, s->state);
    }
    if (!tg_dec_is_pos(s->entry) || !tg_dec_is_pos(s->tick) || !tg_dec_is_pos(s->quantity)) {
        return tg_err_set(err, TG_E_STATE,
                          "position %" PRIu32 ": entry, tick and quantity must be > 0", s->id);
    }
    tg_status st = tg_params_validate(&s->params, err);
    if (st != TG_OK) {
        return st;
    }
    if ((s->flags & TG_F_INTENDED) && (st = check_on_tick(s, "stop", s->stop_intended, err))) {
        return st;
    }
    if ((s->flags & TG_F_CONFIRMED) &&
        (st = check_on_tick(s, "confirmed stop", s->stop_confirmed, err))) {
        return st;
    }
    bool is_long = s->side == TG_SIDE_LONG;
    if ((s->flags & (TG_F_INTENDED | TG_F_CONFIRMED)) == (TG_F_INTENDED | TG_F_CONFIRMED)) {
        bool looser = is_long ? tg_dec_lt(s->stop_intended, s->stop_confirmed)
                              : tg_dec_gt(s->stop_intended, s->stop_confirmed);
        if (looser) {
            return tg_err_set(err, TG_E_STATE,
                              "position %" PRIu32 ": requested stop is looser than the "
                              "confirmed one",
                              s->id);
        }
    }
    if (s->state == TG_STATE_ACTIVE && !(s->flags & TG_F_ACTIVATED)) {
        return tg_err_set(err, TG_E_STATE,
                          "position %" PRIu32 ": active without an activation time", s->id);
    }
    if ((s->flags & (TG_F_HIGH | TG_F_LOW)) == (TG_F_HIGH | TG_F_LOW) &&
        tg_dec_lt(s->highest, s->lowest)) {
        return tg_err_set(err, TG_E_STATE, "position %" PRIu32 ": highest below lowest", s->id);
    }
    return TG_OK;
}
