#include "trailguard/stop.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#define MS_PER_MIN         60000
#define MOMENTUM_WINDOW_MS MS_PER_MIN /* speed is measured over windows of this length */

/* Every price the engine accepts is at most this, so that no computation in
 * here can leave the tg_dec range: 1e9 × 1001 % stays far below 9.2e10. */
#define PRICE_MAX_UNITS (1000000000LL * TG_DEC_SCALE)

typedef enum move_kind {
    MOVE_PLACE, /* initial, breakeven, first trailing stop: no update policy */
    MOVE_TRAIL, /* tightening an existing stop: update policy applies */
} move_kind;

static const tg_dec dec_zero = {0};

static bool is_long(const tg_stop *s) {
    return s->side == TG_SIDE_LONG;
}
static bool has(const tg_stop *s, unsigned flag) {
    return (s->flags & flag) != 0;
}

/* a is closer to the market than b (higher for a long stop). */
static bool tighter(const tg_stop *s, tg_dec a, tg_dec b) {
    return is_long(s) ? tg_dec_gt(a, b) : tg_dec_lt(a, b);
}

/* A stop at this level would not fire at once at this price. */
static bool on_safe_side(const tg_stop *s, tg_dec stop, tg_dec price) {
    return is_long(s) ? tg_dec_lt(stop, price) : tg_dec_gt(stop, price);
}

/* price has reached level in the position's favour (≥ for a long). */
static bool reached(const tg_stop *s, tg_dec price, tg_dec level) {
    return is_long(s) ? tg_dec_ge(price, level) : tg_dec_le(price, level);
}

static bool price_ok(tg_dec price) {
    return price.units > 0 && price.units <= PRICE_MAX_UNITS;
}

/* Rounds a stop to the tick, away from the market (down for a long). */
static bool round_away(const tg_stop *s, tg_dec v, tg_dec *out) {
    assert(s != NULL && out != NULL);
    tg_dec_round mode = is_long(s) ? TG_ROUND_FLOOR : TG_ROUND_CEIL;
    bool ok = tg_dec_round_tick(v, s->tick, mode, out) == TG_DEC_OK && tg_dec_is_pos(*out);
    assert(!ok || tg_dec_on_tick(*out, s->tick));
    return ok;
}

/* entry moved by pct in the position's favour (+) or against it (−). */
static bool entry_offset(const tg_stop *s, tg_dec pct, bool favour, tg_dec *out) {
    assert(s != NULL && out != NULL);
    assert(!tg_dec_is_neg(pct)); /* every percent is validated ≥ 0 by tg_params_validate() */
    bool up = is_long(s) == favour;
    tg_dec signed_pct = up ? pct : tg_dec_from_units(-pct.units);
    /* Activation levels round toward demanding the full percent. */
    tg_dec_round mode = up ? TG_ROUND_CEIL : TG_ROUND_FLOOR;
    return tg_dec_add_pct(s->entry, signed_pct, mode, out) == TG_DEC_OK && tg_dec_is_pos(*out);
}

/* ---- output ---------------------------------------------------------- */

static void emit(tg_out *out, const tg_stop *s, int64_t ts, tg_event_type type, tg_reason reason,
                 const tg_dec *price, const tg_dec *stop, const tg_dec *prev) {
    assert(out != NULL && s != NULL);
    assert(out->n_events < TG_OUT_EVENTS_MAX);
    assert(type <= TG_EV_CLOSED && reason <= TG_R_EXTERNAL);
    tg_event *ev = &out->events[out->n_events++];
    memset(ev, 0, sizeof *ev);
    ev->ts_ms = ts;
    ev->position = s->id;
    ev->type = (uint8_t)type;
    ev->reason = (uint8_t)reason;
    ev->state = s->state;
    if (price != NULL) {
        ev->price = *price;
        ev->has |= TG_EVH_PRICE;
    }
    if (stop != NULL) {
        ev->stop = *stop;
        ev->has |= TG_EVH_STOP;
    }
    if (prev != NULL) {
        ev->prev_stop = *prev;
        ev->has |= TG_EVH_PREV;
    }
}

static void command(tg_out *out, const tg_stop *s, tg_cmd_type type, tg_reason reason,
                    tg_dec price) {
    assert(out != NULL && s != NULL);
    assert(out->n_cmds < TG_OUT_CMDS_MAX);
    assert(type <= TG_CMD_PERSIST);
    assert(type != TG_CMD_SET_STOP || tg_dec_on_tick(price, s->tick));
    tg_cmd *c = &out->cmds[out->n_cmds++];
    c->position = s->id;
    c->type = (uint8_t)type;
    c->reason = (uint8_t)reason;
    c->price = price;
}

/* The state changed: one PERSIST per input, always the last command. */
static void persist(tg_out *out, const tg_stop *s) {
    assert(out != NULL && s != NULL);
    if (out->n_cmds > 0 && out->cmds[out->n_cmds - 1].type == TG_CMD_PERSIST) {
        return;
    }
    command(out, s, TG_CMD_PERSIST, TG_R_NONE, dec_zero);
    assert(out->n_cmds > 0 && out->cmds[out->n_cmds - 1].type == TG_CMD_PERSIST);
}

/* Skips are counted every time, reported once per reason between two moves,
 * so that a throttled rally does not write an event per tick. */
static void skip(tg_stop *s, int64_t ts, tg_dec price, tg_dec cand, tg_reason reason, tg_out *out) {
    unsigned idx = (unsigned)(reason - TG_R_RATE_LIMITED);
    assert(idx < TG_SKIP_REASONS);
    assert(tg_stop_is_open(s));
    s->skip_count[idx]++;
    if ((s->skips_reported & (1u << idx)) == 0) {
        s->skips_reported |= (uint8_t)(1u << idx);
        tg_dec cur;
        bool has_cur = tg_stop_current(s, &cur);
        emit(out, s, ts, TG_EV_SKIPPED, reason, &price, &cand, has_cur ? &cur : NULL);
        persist(out, s);
    }
    assert((s->skips_reported & (1u << idx)) != 0);
}

/* ---- the trailing candidate ----------------------------------------------- */

static bool peak_profit_pct(const tg_stop *s, tg_dec *out) {
    assert(s != NULL && out != NULL);
    /* only reached from compute_candidate(), which has the extreme */
    assert(has(s, is_long(s) ? TG_F_HIGH : TG_F_LOW));
    assert(tg_dec_is_pos(s->entry));
    tg_dec diff;
    bool ok = is_long(s) ? tg_dec_sub(s->highest, s->entry, &diff) == TG_DEC_OK
                         : tg_dec_sub(s->entry, s->lowest, &diff) == TG_DEC_OK;
    tg_dec hundred = tg_dec_from_units(100 * TG_DEC_SCALE);
    return ok && tg_dec_mul_ratio(diff, hundred, s->entry, TG_ROUND_FLOOR, out) == TG_DEC_OK;
}

/* The trail distance in percent, after steps and momentum. */
static tg_dec callback_pct(const tg_stop *s) {
    tg_dec pct = s->params.callback;
    tg_dec profit;
    assert(s->params.callback_kind == TG_CALLBACK_PERCENT);
    assert(s->params.step_count <= TG_STEPS_MAX);
    if (s->params.step_count > 0 && peak_profit_pct(s, &profit)) {
        pct = tg_params_step_callback(&s->params, profit);
    }
    assert(tg_dec_is_pos(pct));
    return pct;
}

/* The stop that the extreme seen so far calls for, on the tick. */
static bool compute_candidate(const tg_stop *s, tg_dec *out) {
    assert(s != NULL && out != NULL);
    assert(s->params.callback_kind <= TG_CALLBACK_PRICE);
    unsigned extreme_flag = is_long(s) ? TG_F_HIGH : TG_F_LOW;
    if (!has(s, extreme_flag)) {
        return false;
    }
    tg_dec extreme = is_long(s) ? s->highest : s->lowest;
    const tg_params *p = &s->params;
    bool fast = has(s, TG_F_FAST) && tg_dec_is_pos(p->momentum_pct_per_min);
    tg_dec raw;
    if (p->callback_kind == TG_CALLBACK_PERCENT) {
        tg_dec pct = callback_pct(s);
        if (fast && tg_dec_mul(pct, p->momentum_factor, TG_ROUND_FLOOR, &pct) != TG_DEC_OK) {
            return false;
        }
        tg_dec signed_pct = is_long(s) ? tg_dec_from_units(-pct.units) : pct;
        tg_dec_round mode = is_long(s) ? TG_ROUND_FLOOR : TG_ROUND_CEIL;
        if (tg_dec_add_pct(extreme, signed_pct, mode, &raw) != TG_DEC_OK) {
            return false;
        }
    } else {
        tg_dec dist = p->callback;
        if (p->callback_kind == TG_CALLBACK_TICKS &&
            tg_dec_mul(dist, s->tick, TG_ROUND_EXACT, &dist) != TG_DEC_OK) {
            return false;
        }
        if (fast && tg_dec_mul(dist, p->momentum_factor, TG_ROUND_FLOOR, &dist) != TG_DEC_OK) {
            return false;
        }
        tg_dec_status st =
            is_long(s) ? tg_dec_sub(extreme, dist, &raw) : tg_dec_add(extreme, dist, &raw);
        if (st != TG_DEC_OK) {
            return false;
        }
    }
    return round_away(s, raw, out);
}

/* ---- deciding and committing a stop -------------------------------------- */

static void commit(tg_stop *s, int64_t ts, tg_dec price, tg_dec stop, tg_event_type ev,
                   tg_reason reason, tg_out *out) {
    assert(tg_dec_on_tick(stop, s->tick));
    tg_dec prev;
    bool has_prev = tg_stop_current(s, &prev);
    assert(!has_prev || tighter(s, stop, prev));
    s->stop_intended = stop;
    s->last_move_ms = ts;
    s->flags |= TG_F_INTENDED | TG_F_MOVED;
    s->update_count++;
    s->deferred = TG_DEFER_NONE;
    s->skips_reported = 0;
    emit(out, s, ts, ev, reason, &price, &stop, has_prev ? &prev : NULL);
    command(out, s, TG_CMD_SET_STOP, reason, stop);
    persist(out, s);
    assert(has(s, TG_F_INTENDED) && tg_dec_eq(s->stop_intended, stop));
}

/* The price is already past the level the stop must be at, and nothing on the
 * exchange protects the position there: close it, or alert and wait. */
static void crossed(tg_stop *s, int64_t ts, tg_dec price, tg_dec level, tg_out *out) {
    assert(s != NULL && out != NULL);
    assert(s->params.on_crossed <= TG_ON_CROSSED_ALERT);
    if (s->params.on_crossed == TG_ON_CROSSED_CLOSE) {
        s->flags |= TG_F_CLOSING;
        s->deferred = TG_DEFER_NONE;
        emit(out, s, ts, TG_EV_CROSSED, TG_R_CLOSE_POSITION, &price, &level, NULL);
        command(out, s, TG_CMD_CLOSE_POSITION, TG_R_CLOSE_POSITION, price);
    } else {
        s->deferred = TG_DEFER_PRICE;
        emit(out, s, ts, TG_EV_CROSSED, TG_R_ALERT, &price, &level, NULL);
    }
    persist(out, s);
}

/* Decides about one proposed stop. The update policy is checked before any
 * state changes, so a refused proposal leaves nothing to roll back. */
static void propose(tg_stop *s, int64_t ts, tg_dec price, tg_dec cand, tg_event_type ev,
                    move_kind kind, tg_out *out) {
    assert(kind == MOVE_PLACE || kind == MOVE_TRAIL);
    assert(s != NULL && out != NULL);
    tg_dec cur = dec_zero;
    bool has_cur = tg_stop_current(s, &cur);
    if (has_cur && !tighter(s, cand, cur)) {
        s->deferred = TG_DEFER_NONE;
        skip(s, ts, price, cand, TG_R_NOT_IMPROVED, out);
        return;
    }
    if (!on_safe_side(s, cand, price)) {
        if (has_cur && kind == MOVE_TRAIL) {
            s->deferred = TG_DEFER_PRICE;
            skip(s, ts, price, cand, TG_R_WOULD_TRIGGER, out);
        } else {
            crossed(s, ts, price, cand, out);
        }
        return;
    }
    tg_reason reason = TG_R_TRAIL;
    if (kind == MOVE_TRAIL && has_cur) {
        const tg_params *p = &s->params;
        tg_dec improvement;
        if (tg_dec_pct_change(cur, cand, TG_ROUND_FLOOR, &improvement) != TG_DEC_OK) {
            improvement = dec_zero;
        }
        if (tg_dec_ge(improvement, p->emergency_improvement_pct)) {
            reason = TG_R_EMERGENCY;
        } else if (has(s, TG_F_MOVED) && ts - s->last_move_ms < p->min_update_interval_ms) {
            s->deferred = TG_DEFER_INTERVAL;
            skip(s, ts, price, cand, TG_R_RATE_LIMITED, out);
            return;
        } else if (tg_dec_lt(improvement, p->min_improvement_pct)) {
            s->deferred = TG_DEFER_NONE;
            skip(s, ts, price, cand, TG_R_BELOW_MIN_IMPROVEMENT, out);
            return;
        }
    }
    commit(s, ts, price, cand, ev,
           kind == MOVE_PLACE && ev != TG_EV_STOP_MOVED ? TG_R_NONE : reason, out);
}

/* ---- per-state handling -------------------------------------------------- */

static void trail(tg_stop *s, int64_t ts, tg_dec price, bool recompute, tg_out *out) {
    assert(s != NULL && out != NULL);
    assert(s->state == TG_STATE_ACTIVE);
    if (recompute) {
        tg_dec cand;
        if (!compute_candidate(s, &cand)) {
            return;
        }
        bool same = has(s, TG_F_CANDIDATE) && tg_dec_eq(cand, s->candidate);
        s->candidate = cand;
        s->flags |= TG_F_CANDIDATE;
        if (same && s->deferred == TG_DEFER_NONE) {
            return; /* nothing new to decide */
        }
    }
    if (!has(s, TG_F_CANDIDATE)) {
        return;
    }
    tg_dec cur;
    move_kind kind = tg_stop_current(s, &cur) ? MOVE_TRAIL : MOVE_PLACE;
    propose(s, ts, price, s->candidate, TG_EV_STOP_MOVED, kind, out);
}

static void activate(tg_stop *s, int64_t ts, tg_dec price, tg_reason why, tg_out *out) {
    assert(s->state == TG_STATE_INACTIVE || s->state == TG_STATE_WAITING);
    assert(why == TG_R_PROFIT || why == TG_R_TIME);
    s->state = TG_STATE_ACTIVE;
    s->activated_ms = ts;
    s->flags |= TG_F_ACTIVATED;
    s->deferred = TG_DEFER_NONE;
    tg_dec cand;
    bool has_cand = compute_candidate(s, &cand);
    if (has_cand) {
        s->candidate = cand;
        s->flags |= TG_F_CANDIDATE;
    }
    emit(out, s, ts, TG_EV_ACTIVATED, why, &price, has_cand ? &cand : NULL, NULL);
    persist(out, s);
    if (has_cand) {
        /* The first trailing stop is placed without waiting for the rate
         * limit, and a crossed level closes rather than skips. */
        propose(s, ts, price, cand, TG_EV_STOP_MOVED, MOVE_PLACE, out);
    }
}

static bool initial_stop(const tg_stop *s, tg_dec *out) {
    assert(s != NULL && out != NULL);
    tg_dec level;
    return tg_dec_is_pos(s->params.initial_stop_pct) &&
           entry_offset(s, s->params.initial_stop_pct, false, &level) && round_away(s, level, out);
}

static bool breakeven_stop(const tg_stop *s, tg_dec *out) {
    assert(s != NULL && out != NULL);
    tg_dec level;
    return entry_offset(s, s->params.breakeven_offset_pct, true, &level) &&
           round_away(s, level, out);
}

static void breakeven(tg_stop *s, int64_t ts, tg_dec price, tg_out *out) {
    assert(s->state == TG_STATE_INACTIVE);
    assert(tg_dec_is_pos(s->params.breakeven_pct));
    tg_dec be;
    s->state = TG_STATE_WAITING;
    if (!breakeven_stop(s, &be)) {
        persist(out, s);
        return;
    }
    propose(s, ts, price, be, TG_EV_BREAKEVEN, MOVE_PLACE, out);
    persist(out, s);
}

static bool in_profit(const tg_stop *s, tg_dec price) {
    return is_long(s) ? tg_dec_gt(price, s->entry) : tg_dec_lt(price, s->entry);
}

/* Re-tries a stop that was deferred (rate limit, price, exchange refusal). */
static void retry_deferred(tg_stop *s, int64_t ts, tg_dec price, tg_out *out) {
    assert(s != NULL && out != NULL);
    assert(tg_stop_is_open(s) && !has(s, TG_F_CLOSING));
    bool due = false;
    switch (s->deferred) {
    case TG_DEFER_INTERVAL:
        due = !has(s, TG_F_MOVED) || ts - s->last_move_ms >= s->params.min_update_interval_ms;
        break;
    case TG_DEFER_PRICE:
        due = has(s, TG_F_CANDIDATE) && on_safe_side(s, s->candidate, price);
        break;
    default:
        break;
    }
    if (!due) {
        return;
    }
    tg_dec level;
    if (s->state == TG_STATE_ACTIVE) {
        trail(s, ts, price, false, out);
    } else if (s->state == TG_STATE_WAITING && breakeven_stop(s, &level)) {
        propose(s, ts, price, level, TG_EV_BREAKEVEN, MOVE_PLACE, out);
    } else if (s->state == TG_STATE_INACTIVE && initial_stop(s, &level)) {
        propose(s, ts, price, level, TG_EV_INITIAL_STOP, MOVE_PLACE, out);
    } else {
        s->deferred = TG_DEFER_NONE;
    }
}

static void before_activation(tg_stop *s, int64_t ts, tg_dec price, tg_out *out) {
    assert(s->state == TG_STATE_INACTIVE || s->state == TG_STATE_WAITING);
    assert(price_ok(price));
    const tg_params *p = &s->params;
    if (reached(s, price, s->activation_price)) {
        activate(s, ts, price, TG_R_PROFIT, out);
    } else if (p->time_activation_ms > 0 && ts - s->opened_ms >= p->time_activation_ms &&
               in_profit(s, price)) {
        activate(s, ts, price, TG_R_TIME, out);
    } else if (s->state == TG_STATE_INACTIVE && tg_dec_is_pos(p->breakeven_pct) &&
               reached(s, price, s->breakeven_price)) {
        breakeven(s, ts, price, out);
    } else if (s->deferred != TG_DEFER_NONE) {
        retry_deferred(s, ts, price, out);
    }
}

/* Updates the extremes; true when the one that drives the stop moved. */
static bool track_extremes(tg_stop *s, tg_dec price) {
    assert(price_ok(price));
    bool new_high = !has(s, TG_F_HIGH) || tg_dec_gt(price, s->highest);
    bool new_low = !has(s, TG_F_LOW) || tg_dec_lt(price, s->lowest);
    if (new_high) {
        s->highest = price;
        s->flags |= TG_F_HIGH;
    }
    if (new_low) {
        s->lowest = price;
        s->flags |= TG_F_LOW;
    }
    assert(has(s, TG_F_HIGH) && has(s, TG_F_LOW) && tg_dec_ge(s->highest, s->lowest));
    return is_long(s) ? new_high : new_low;
}

/* Momentum: the favourable speed over the last whole window. Returns true
 * when the fast/slow verdict changed (the callback changes with it). */
static bool track_momentum(tg_stop *s, int64_t ts, tg_dec price) {
    assert(price_ok(price));
    const tg_params *p = &s->params;
    if (!tg_dec_is_pos(p->momentum_pct_per_min)) {
        return false;
    }
    if (!has(s, TG_F_ANCHOR)) {
        s->anchor_price = price;
        s->anchor_ms = ts;
        s->flags |= TG_F_ANCHOR;
        return false;
    }
    int64_t elapsed = ts - s->anchor_ms;
    if (elapsed < MOMENTUM_WINDOW_MS) {
        return false;
    }
    /* fast ⇔ move% × 60000 ≥ threshold × elapsed, with move in our favour */
    tg_dec move = dec_zero;
    tg_dec diff;
    tg_dec_status st = is_long(s) ? tg_dec_sub(price, s->anchor_price, &diff)
                                  : tg_dec_sub(s->anchor_price, price, &diff);
    if (st == TG_DEC_OK) {
        st = tg_dec_mul_ratio(diff, tg_dec_from_units(100 * TG_DEC_SCALE), s->anchor_price,
                              TG_ROUND_FLOOR, &move);
    }
    tg_dec lhs, rhs;
    bool fast = st == TG_DEC_OK && tg_dec_is_pos(move) &&
                tg_dec_mul_ratio(move, tg_dec_from_units(MS_PER_MIN), tg_dec_from_units(1),
                                 TG_ROUND_FLOOR, &lhs) == TG_DEC_OK &&
                tg_dec_mul_ratio(p->momentum_pct_per_min, tg_dec_from_units(elapsed),
                                 tg_dec_from_units(1), TG_ROUND_CEIL, &rhs) == TG_DEC_OK &&
                tg_dec_ge(lhs, rhs);
    s->anchor_price = price;
    s->anchor_ms = ts;
    bool was_fast = has(s, TG_F_FAST);
    if (fast) {
        s->flags |= TG_F_FAST;
    } else {
        s->flags &= (uint16_t)~TG_F_FAST;
    }
    return fast != was_fast;
}

/* ---- inputs ------------------------------------------------------------- */

static tg_status input_open(tg_stop *s, const tg_open *o, tg_out *out, tg_err *err) {
    assert(s != NULL && o != NULL && out != NULL);
    char a[TG_DEC_STR_MAX];
    if (o->side != TG_SIDE_LONG && o->side != TG_SIDE_SHORT) {
        return tg_err_set(err, TG_E_INVALID, "side must be long or short");
    }
    if (!price_ok(o->entry)) {
        tg_dec_format(o->entry, 0, a);
        return tg_err_set(err, TG_E_INVALID, "entry price %s must be > 0 and ≤ 1000000000", a);
    }
    if (!tg_dec_is_pos(o->quantity)) {
        tg_dec_format(o->quantity, 0, a);
        return tg_err_set(err, TG_E_INVALID, "quantity %s must be > 0", a);
    }
    if (!tg_dec_is_pos(o->tick) || tg_dec_gt(o->tick, o->entry)) {
        tg_dec_format(o->tick, 0, a);
        return tg_err_set(err, TG_E_INVALID, "tick size %s must be > 0 and below the entry price",
                          a);
    }
    tg_status st = tg_params_validate(&o->params, err);
    if (st != TG_OK) {
        return st;
    }
    memset(s, 0, sizeof *s);
    s->params = o->params;
    s->id = o->id;
    s->side = (uint8_t)o->side;
    s->state = TG_STATE_INACTIVE;
    s->entry = o->entry;
    s->quantity = o->quantity;
    s->tick = o->tick;
    s->opened_ms = o->ts_ms;
    s->last_tick_ms = o->ts_ms;
    bool be_on = tg_dec_is_pos(s->params.breakeven_pct);
    if (!entry_offset(s, s->params.activation_pct, true, &s->activation_price) ||
        (be_on && !entry_offset(s, s->params.breakeven_pct, true, &s->breakeven_price))) {
        return tg_err_set(err, TG_E_INVALID,
                          "activation or breakeven percent puts the level at or below zero for "
                          "this %s position",
                          tg_side_str(o->side));
    }
    emit(out, s, o->ts_ms, TG_EV_CREATED, TG_R_NONE, &s->entry, NULL, NULL);
    tg_dec level;
    if (initial_stop(s, &level)) {
        propose(s, o->ts_ms, s->entry, level, TG_EV_INITIAL_STOP, MOVE_PLACE, out);
    }
    persist(out, s);
    assert(tg_stop_is_open(s));
    assert(out->n_events > 0 && out->n_cmds > 0);
    return TG_OK;
}

/* Each rule of a tick has its counterpart in tg_stop_wake(), which the book
 * uses to skip ticks that change nothing: change one, change the other. */
static void input_tick(tg_stop *s, int64_t ts_ms, tg_dec price, tg_out *out) {
    assert(s != NULL && out != NULL);
    if (s->state > TG_STATE_ACTIVE || has(s, TG_F_CLOSING)) {
        return;
    }
    if (ts_ms < s->last_tick_ms || !price_ok(price)) {
        s->stale_ticks++;
        return;
    }
    s->last_tick_ms = ts_ms;
    s->last_price = price;
    s->flags |= TG_F_LAST_PRICE;
    assert(tg_stop_is_open(s));
    bool new_extreme = track_extremes(s, price);
    bool speed_changed = track_momentum(s, ts_ms, price);
    if (s->state == TG_STATE_ACTIVE) {
        if (new_extreme || speed_changed) {
            trail(s, ts_ms, price, true, out);
        } else if (s->deferred != TG_DEFER_NONE) {
            retry_deferred(s, ts_ms, price, out);
        }
    } else {
        before_activation(s, ts_ms, price, out);
    }
}

/* ---- the wake band: ticks that tg_stop_tick() would ignore ---------------
 *
 * Each rule below mirrors one branch of tg_stop_tick() and keeps a tick out
 * of the band whenever that branch could act. Keep the two in step: a branch
 * added to the tick path needs its rule here (test_book_fastpath.c compares
 * the fast path with evaluating every position on every tick). */

static int64_t add_sat(int64_t a, int64_t b) {
    assert(b >= 0);
    int64_t sum = a > INT64_MAX - b ? INT64_MAX : a + b;
    assert(sum >= a);
    return sum;
}

static void wake_below(tg_wake *w, int64_t hi_units) {
    if (hi_units < w->hi.units) {
        w->hi.units = hi_units;
    }
}

static void wake_above(tg_wake *w, int64_t lo_units) {
    if (lo_units > w->lo.units) {
        w->lo.units = lo_units;
    }
}

static void wake_by(tg_wake *w, int64_t due_ms) {
    if (due_ms < w->due_ms) {
        w->due_ms = due_ms;
    }
}

static void wake_never_quiet(tg_wake *w) {
    assert(w != NULL);
    w->lo.units = 1;
    w->hi.units = 0;
    assert(tg_dec_gt(w->lo, w->hi)); /* an empty band */
}

/* Quiet while the price stays short of level in the position's favour: a
 * long below it, a short above it, and at it too when inclusive. */
static void wake_until_reached(const tg_stop *s, tg_wake *w, int64_t level_units, bool inclusive) {
    if (is_long(s)) {
        wake_below(w, inclusive ? level_units : level_units - 1);
    } else {
        wake_above(w, inclusive ? level_units : level_units + 1);
    }
}

/* retry_deferred(): due on time (interval) or on price (safe side). */
static void wake_deferred(const tg_stop *s, tg_wake *w) {
    assert(s != NULL && w != NULL);
    assert(tg_stop_is_open(s));
    if (s->deferred == TG_DEFER_INTERVAL) {
        if (!has(s, TG_F_MOVED)) {
            wake_never_quiet(w);
        } else {
            wake_by(w, add_sat(s->last_move_ms, s->params.min_update_interval_ms));
        }
    } else if (s->deferred == TG_DEFER_PRICE && has(s, TG_F_CANDIDATE)) {
        /* due once the candidate is strictly on the safe side */
        wake_until_reached(s, w, s->candidate.units, true);
    }
}

/* before_activation(): activation by profit, by time, breakeven, deferred. */
static void wake_before_activation(const tg_stop *s, tg_wake *w) {
    assert(s != NULL && w != NULL);
    assert(s->state == TG_STATE_INACTIVE || s->state == TG_STATE_WAITING);
    const tg_params *p = &s->params;
    wake_until_reached(s, w, s->activation_price.units, false);
    if (p->time_activation_ms > 0) {
        if (s->last_tick_ms - s->opened_ms >= p->time_activation_ms) {
            /* every later tick is past the time: quiet only out of profit */
            wake_until_reached(s, w, s->entry.units, true);
        } else {
            wake_by(w, add_sat(s->opened_ms, p->time_activation_ms));
        }
    }
    if (s->state == TG_STATE_INACTIVE && tg_dec_is_pos(p->breakeven_pct)) {
        wake_until_reached(s, w, s->breakeven_price.units, false);
    }
    wake_deferred(s, w);
}

void tg_stop_wake(const tg_stop *s, tg_wake *w) {
    assert(s != NULL && w != NULL);
    w->since_ms = INT64_MIN;
    w->due_ms = INT64_MAX;
    w->lo.units = 1;
    w->hi.units = PRICE_MAX_UNITS;
    if (s->state > TG_STATE_ACTIVE || has(s, TG_F_CLOSING)) {
        return; /* tg_stop_tick() returns before looking at the tick */
    }
    w->since_ms = s->last_tick_ms;
    /* track_extremes(): a new high or low is a change */
    if (!has(s, TG_F_HIGH) || !has(s, TG_F_LOW)) {
        wake_never_quiet(w);
        return;
    }
    wake_above(w, s->lowest.units);
    wake_below(w, s->highest.units);
    /* track_momentum(): anchoring and closing a window are changes */
    if (tg_dec_is_pos(s->params.momentum_pct_per_min)) {
        if (!has(s, TG_F_ANCHOR)) {
            wake_never_quiet(w);
            return;
        }
        wake_by(w, add_sat(s->anchor_ms, MOMENTUM_WINDOW_MS));
    }
    if (s->state == TG_STATE_ACTIVE) {
        wake_deferred(s, w);
    } else {
        wake_before_activation(s, w);
    }
    assert(w->lo.units >= 1 && w->hi.units <= PRICE_MAX_UNITS);
}

static void input_tick_quiet(tg_stop *s, int64_t ts_ms, tg_dec price) {
    assert(s != NULL && price_ok(price));
    if (s->state > TG_STATE_ACTIVE || has(s, TG_F_CLOSING)) {
        return;
    }
    assert(ts_ms >= s->last_tick_ms);
    s->last_tick_ms = ts_ms;
    s->last_price = price;
    s->flags |= TG_F_LAST_PRICE;
    assert(tg_stop_is_open(s));
}

static void input_confirmed(tg_stop *s, int64_t ts_ms, tg_dec price, tg_out *out) {
    assert(s != NULL && out != NULL);
    if (s->state == TG_STATE_CLOSED) {
        return;
    }
    /* The engine's input is checked here, so that a bad answer can never
     * become a state the store refuses: a price off the tick is taken as
     * the stop it protects at least as well as (rounded away from the
     * market); one that is not a price at all is refused. */
    tg_dec rounded;
    if (!price_ok(price) || !round_away(s, price, &rounded)) {
        emit(out, s, ts_ms, TG_EV_REJECTED, TG_R_EXCHANGE, NULL, &price, NULL);
        return;
    }
    price = rounded;
    assert(tg_dec_on_tick(price, s->tick));
    bool had = has(s, TG_F_CONFIRMED);
    tg_dec prev = s->stop_confirmed;
    /* An acknowledgement that arrives after a newer one never loosens. */
    if (!had || tighter(s, price, prev)) {
        s->stop_confirmed = price;
        s->flags |= TG_F_CONFIRMED;
    }
    /* A late acknowledgement of an older request, after a newer one was
     * refused, must not leave the engine believing in a looser stop. */
    if (!has(s, TG_F_INTENDED) || tighter(s, s->stop_confirmed, s->stop_intended)) {
        s->stop_intended = s->stop_confirmed;
        s->flags |= TG_F_INTENDED;
    }
    emit(out, s, ts_ms, TG_EV_CONFIRMED, TG_R_NONE, NULL, &price, had ? &prev : NULL);
    persist(out, s);
}

static void input_rejected(tg_stop *s, int64_t ts_ms, tg_dec price, tg_reject_kind kind,
                           tg_out *out) {
    assert(s != NULL && out != NULL);
    if (!tg_stop_is_open(s)) {
        return;
    }
    tg_reason reason = kind == TG_REJECT_WOULD_TRIGGER ? TG_R_WOULD_TRIGGER : TG_R_EXCHANGE;
    bool was_current = has(s, TG_F_INTENDED) && tg_dec_eq(s->stop_intended, price);
    if (was_current) {
        /* The exchange still holds the last confirmed stop, if any. */
        s->stop_intended = s->stop_confirmed;
        if (!has(s, TG_F_CONFIRMED)) {
            s->flags &= (uint16_t)~TG_F_INTENDED;
        }
    }
    emit(out, s, ts_ms, TG_EV_REJECTED, reason, NULL, &price, NULL);
    if (was_current && !has(s, TG_F_CONFIRMED) && kind == TG_REJECT_WOULD_TRIGGER) {
        tg_dec last = has(s, TG_F_LAST_PRICE) ? s->last_price : s->entry;
        crossed(s, ts_ms, last, price, out);
        return;
    }
    if (was_current) {
        /* Without any stop on the exchange, retry on the next tick; with one,
         * wait for the update interval like any other move. */
        s->deferred = TG_DEFER_INTERVAL;
        if (!has(s, TG_F_CONFIRMED)) {
            s->flags &= (uint16_t)~TG_F_MOVED;
        }
    }
    persist(out, s);
}

static void input_triggered(tg_stop *s, int64_t ts_ms, tg_dec price, tg_out *out) {
    assert(s != NULL && out != NULL);
    if (!tg_stop_is_open(s)) {
        return;
    }
    s->state = TG_STATE_TRIGGERED;
    assert(!tg_stop_is_open(s));
    bool has_stop = has(s, TG_F_CONFIRMED);
    tg_dec stop = s->stop_confirmed;
    emit(out, s, ts_ms, TG_EV_TRIGGERED, TG_R_STOP, &price, has_stop ? &stop : NULL, NULL);
    persist(out, s);
}

static void input_closed(tg_stop *s, int64_t ts_ms, tg_dec price, tg_reason reason, tg_out *out) {
    assert(s != NULL && out != NULL);
    if (s->state == TG_STATE_CLOSED) {
        return;
    }
    bool triggered = s->state == TG_STATE_TRIGGERED;
    bool holds_stop = has(s, TG_F_CONFIRMED) || has(s, TG_F_INTENDED);
    s->state = TG_STATE_CLOSED;
    s->closed_ms = ts_ms;
    s->deferred = TG_DEFER_NONE;
    tg_dec stop;
    bool has_stop = tg_stop_current(s, &stop);
    emit(out, s, ts_ms, TG_EV_CLOSED, reason, &price, has_stop ? &stop : NULL, NULL);
    if (!triggered && holds_stop) {
        command(out, s, TG_CMD_CANCEL_STOP, reason, has_stop ? stop : dec_zero);
    }
    persist(out, s);
    assert(s->state == TG_STATE_CLOSED && s->deferred == TG_DEFER_NONE);
}

static tg_status input_set_params(tg_stop *s, const tg_params *params, tg_err *err) {
    assert(s != NULL && params != NULL);
    if (s->state == TG_STATE_CLOSED) {
        return tg_err_set(err, TG_E_STATE, "position %u is closed: its parameters are final",
                          (unsigned)s->id);
    }
    tg_status st = tg_params_validate(params, err);
    if (st != TG_OK) {
        return st;
    }
    tg_stop next = *s;
    next.params = *params;
    if (next.state == TG_STATE_INACTIVE || next.state == TG_STATE_WAITING) {
        bool be_on = tg_dec_is_pos(next.params.breakeven_pct);
        if (!entry_offset(&next, next.params.activation_pct, true, &next.activation_price) ||
            (be_on &&
             !entry_offset(&next, next.params.breakeven_pct, true, &next.breakeven_price))) {
            return tg_err_set(err, TG_E_INVALID,
                              "activation or breakeven percent puts the level at or below zero "
                              "for this %s position",
                              tg_side_str((tg_side)next.side));
        }
        if (!be_on) {
            next.breakeven_price = dec_zero;
        }
    } else if (next.state == TG_STATE_ACTIVE) {
        /* The trail distance may have changed: the next tick decides about
         * the new candidate under the update policy, as after a skip. */
        tg_dec cand;
        if (compute_candidate(&next, &cand) &&
            !(has(&next, TG_F_CANDIDATE) && tg_dec_eq(cand, next.candidate))) {
            next.candidate = cand;
            next.flags |= TG_F_CANDIDATE;
            next.deferred = TG_DEFER_INTERVAL;
        }
    }
    *s = next;
    assert(s->state != TG_STATE_CLOSED);
    return TG_OK;
}

static tg_status input_set_quantity(tg_stop *s, tg_dec quantity, tg_err *err) {
    assert(s != NULL);
    if (!tg_dec_is_pos(quantity)) {
        char a[TG_DEC_STR_MAX];
        tg_dec_format(quantity, 0, a);
        return tg_err_set(err, TG_E_INVALID, "quantity %s must be > 0", a);
    }
    if (s->state == TG_STATE_CLOSED) {
        return tg_err_set(err, TG_E_STATE, "position %u is closed: it has no size to change",
                          (unsigned)s->id);
    }
    s->quantity = quantity;
    assert(tg_dec_is_pos(s->quantity));
    return TG_OK;
}

/* ---- public entry points: each input, then the invariants ---------------
 *
 * Debug and sanitizer builds (TG_CHECK_EVERY_INPUT, set by CMakeLists.txt)
 * run tg_stop_check() after every input, so that a rule that breaks an
 * invariant fails in the test that fed the input rather than at the next
 * store write, where the cause is long gone. A refused tg_stop_open() leaves
 * no state to check. */

#if !defined(NDEBUG) && defined(TG_CHECK_EVERY_INPUT)
static void check_after_input(const tg_stop *s) {
    tg_err err = {0};
    tg_status st = tg_stop_check(s, &err);
    if (st != TG_OK) {
        fprintf(stderr, "tg_stop_check after an input: %s\n", err.msg);
    }
    assert(st == TG_OK);
}
#else
static void check_after_input(const tg_stop *s) {
    (void)s;
}
#endif

tg_status tg_stop_open(tg_stop *s, const tg_open *o, tg_out *out, tg_err *err) {
    tg_status st = input_open(s, o, out, err);
    if (st == TG_OK) {
        check_after_input(s);
    }
    return st;
}

void tg_stop_tick(tg_stop *s, int64_t ts_ms, tg_dec price, tg_out *out) {
    input_tick(s, ts_ms, price, out);
    check_after_input(s);
}

void tg_stop_tick_quiet(tg_stop *s, int64_t ts_ms, tg_dec price) {
    input_tick_quiet(s, ts_ms, price);
    check_after_input(s);
}

void tg_stop_confirmed(tg_stop *s, int64_t ts_ms, tg_dec price, tg_out *out) {
    input_confirmed(s, ts_ms, price, out);
    check_after_input(s);
}

void tg_stop_rejected(tg_stop *s, int64_t ts_ms, tg_dec price, tg_reject_kind kind, tg_out *out) {
    input_rejected(s, ts_ms, price, kind, out);
    check_after_input(s);
}

void tg_stop_triggered(tg_stop *s, int64_t ts_ms, tg_dec price, tg_out *out) {
    input_triggered(s, ts_ms, price, out);
    check_after_input(s);
}

void tg_stop_closed(tg_stop *s, int64_t ts_ms, tg_dec price, tg_reason reason, tg_out *out) {
    input_closed(s, ts_ms, price, reason, out);
    check_after_input(s);
}

tg_status tg_stop_set_params(tg_stop *s, const tg_params *params, tg_err *err) {
    tg_status st = input_set_params(s, params, err);
    check_after_input(s);
    return st;
}

tg_status tg_stop_set_quantity(tg_stop *s, tg_dec quantity, tg_err *err) {
    tg_status st = input_set_quantity(s, quantity, err);
    check_after_input(s);
    return st;
}

bool tg_stop_is_open(const tg_stop *s) {
    assert(s != NULL);
    return s->state <= TG_STATE_ACTIVE;
}

bool tg_stop_current(const tg_stop *s, tg_dec *stop) {
    assert(s != NULL && stop != NULL);
    if (!has(s, TG_F_INTENDED)) {
        return false;
    }
    *stop = s->stop_intended;
    return true;
}
