#include "replay/replay.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "replay/pricefile.h"
#include "replay/utc.h"

__extension__ typedef __int128 i128;

#define HANDLE_DEPTH_MAX 4 /* set_stop → confirmed, close → closed: two levels suffice */

static const tg_dec dec_hundred = {100 * TG_DEC_SCALE};

/* The simulated exchange and the position it carries. */
typedef struct sim {
    tg_stop s;                   /* engine state */
    const tg_replay_opts *opts;  /* options of the run */
    tg_replay_result *res;       /* result being filled */
    const tg_pricepoint *points; /* the path */
    size_t count;                /* points in the path */
    size_t stops_cap;            /* entries allocated in res->stops */
    bool holds;                  /* the exchange holds a stop */
    tg_dec held;                 /* that stop (when holds) */
    bool done;                   /* the position is gone; the run ends */
    bool nomem;                  /* the stop history could not grow */
} sim;

const char *tg_replay_outcome_str(tg_replay_outcome outcome) {
    switch (outcome) {
    case TG_REPLAY_OPEN:
        return "open";
    case TG_REPLAY_STOPPED:
        return "stop";
    case TG_REPLAY_CLOSED:
        return "close_position";
    }
    return "unknown";
}

tg_replay_opts tg_replay_opts_default(tg_dec tick, uint8_t walk_len) {
    assert(tg_dec_is_pos(tick));
    assert(walk_len >= 1);
    tg_replay_opts o;
    memset(&o, 0, sizeof o);
    o.side = TG_SIDE_LONG;
    o.tick = tick;
    o.quantity = tg_dec_from_units(TG_DEC_SCALE);
    o.walk_len = walk_len;
    o.params = tg_params_default();
    return o;
}

static bool is_long(const sim *m) {
    assert(m != NULL && m->opts != NULL);
    return m->opts->side == TG_SIDE_LONG;
}

/* The price has reached the stop: at or below it for a long. */
static bool stop_reached(const sim *m, tg_dec price, tg_dec stop) {
    assert(tg_dec_is_pos(stop)); /* only stops the engine placed are held */
    return is_long(m) ? tg_dec_le(price, stop) : tg_dec_ge(price, stop);
}

/* a is more favourable to the position than b. */
static bool better(const sim *m, tg_dec a, tg_dec b) {
    return is_long(m) ? tg_dec_gt(a, b) : tg_dec_lt(a, b);
}

static void record_stop(sim *m, int64_t ts, tg_dec price) {
    assert(m != NULL && m->res != NULL);
    tg_replay_result *r = m->res;
    assert(r->n_stops <= m->stops_cap);
    if (r->n_stops == m->stops_cap) {
        size_t cap = m->stops_cap == 0 ? 64 : m->stops_cap * 2;
        tg_replay_stop *p = realloc(r->stops, cap * sizeof *p);
        if (p == NULL) {
            m->nomem = true;
            m->done = true;
            return;
        }
        r->stops = p;
        m->stops_cap = cap;
    }
    assert(r->n_stops == 0 || r->stops[r->n_stops - 1].ts_ms <= ts);
    r->stops[r->n_stops++] = (tg_replay_stop){ts, price};
    assert(r->n_stops <= m->stops_cap);
}

/* Counts the events of one output and passes them on. A stop_moved in the
 * same output as `activated` is the activation's placement, not a move. */
static void take_events(sim *m, const tg_out *out) {
    assert(m != NULL && m->res != NULL && out != NULL);
    assert(out->n_events <= TG_OUT_EVENTS_MAX);
    tg_replay_result *r = m->res;
    bool activation = false;
    for (int i = 0; i < out->n_events; i++) {
        const tg_event *ev = &out->events[i];
        r->n_events++;
        switch (ev->type) {
        case TG_EV_ACTIVATED:
            activation = true;
            r->activated = true;
            r->activated_ms = ev->ts_ms;
            r->activated_price = ev->price;
            r->activation_reason = ev->reason;
            break;
        case TG_EV_STOP_MOVED:
            if (activation) {
                r->n_activation_placements++;
            } else {
                r->n_moves++;
            }
            break;
        case TG_EV_INITIAL_STOP:
            r->n_initial++;
            break;
        case TG_EV_BREAKEVEN:
            r->n_breakeven++;
            break;
        case TG_EV_SKIPPED:
            r->n_skipped++;
            break;
        case TG_EV_CROSSED:
            r->n_crossed++;
            break;
        default:
            break;
        }
        if (m->opts->on_event != NULL) {
            m->opts->on_event(m->opts->event_ctx, ev);
        }
    }
}

static void handle(sim *m, int64_t ts, tg_dec price, const tg_out *out, int depth);

/* The exchange takes a new stop and acknowledges it at once. */
static void exchange_set_stop(sim *m, int64_t ts, tg_dec price, tg_dec stop, int depth) {
    assert(depth >= 0 && depth < HANDLE_DEPTH_MAX);
    assert(tg_dec_is_pos(stop) && tg_dec_on_tick(stop, m->opts->tick)); /* the engine's rule */
    tg_replay_result *r = m->res;
    r->n_set_stop++;
    if (stop_reached(m, price, stop)) {
        r->wrong_side_stops++;
    }
    if (m->holds && better(m, m->held, stop)) {
        r->loosened_stops++;
    }
    m->holds = true;
    m->held = stop;
    record_stop(m, ts, stop);
    tg_out ack;
    memset(&ack, 0, sizeof ack);
    tg_stop_confirmed(&m->s, ts, stop, &ack);
    handle(m, ts, price, &ack, depth + 1);
}

static void exchange_close(sim *m, int64_t ts, tg_dec price, int depth) {
    assert(m != NULL && m->res != NULL);
    assert(depth >= 0 && depth < HANDLE_DEPTH_MAX);
    tg_replay_result *r = m->res;
    r->outcome = TG_REPLAY_CLOSED;
    r->exit_ms = ts;
    r->exit_price = price;
    m->done = true;
    tg_out closed;
    memset(&closed, 0, sizeof closed);
    tg_stop_closed(&m->s, ts, price, TG_R_CLOSE_POSITION, &closed);
    handle(m, ts, price, &closed, depth + 1);
}

/* Carries out one output of the engine: events first, then the commands in
 * the order given. */
static void handle(sim *m, int64_t ts, tg_dec price, const tg_out *out, int depth) {
    assert(depth < HANDLE_DEPTH_MAX);
    assert(out->n_events <= TG_OUT_EVENTS_MAX && out->n_cmds <= TG_OUT_CMDS_MAX);
    if (m->opts->on_output != NULL && (out->n_events > 0 || out->n_cmds > 0)) {
        m->opts->on_output(m->opts->output_ctx, &m->s, out);
    }
    take_events(m, out);
    for (int i = 0; i < out->n_cmds; i++) {
        const tg_cmd *c = &out->cmds[i];
        switch (c->type) {
        case TG_CMD_SET_STOP:
            exchange_set_stop(m, ts, price, c->price, depth);
            break;
        case TG_CMD_CANCEL_STOP:
            if (m->holds) {
                m->holds = false;
                record_stop(m, ts, tg_dec_from_units(0));
            }
            break;
        case TG_CMD_CLOSE_POSITION:
            exchange_close(m, ts, price, depth);
            break;
        case TG_CMD_PERSIST:
            break; /* a back-test keeps no store */
        default:
            assert(!"unknown engine command");
            break;
        }
    }
}

/* The moment a monotonic walk from prev to cur passed the stop, rounded up
 * so that it is never before prev; prev is strictly on the safe side. */
static int64_t crossing_time(tg_pricepoint prev, tg_pricepoint cur, tg_dec stop) {
    assert(cur.ts_ms >= prev.ts_ms);
    i128 to_stop = (i128)prev.price.units - stop.units;
    i128 whole = (i128)prev.price.units - cur.price.units;
    if (to_stop < 0) {
        to_stop = -to_stop;
        whole = -whole;
    }
    assert(whole >= to_stop && to_stop > 0);
    i128 dt = (i128)(cur.ts_ms - prev.ts_ms);
    i128 offset = (dt * to_stop + whole - 1) / whole;
    assert(offset >= 0 && offset <= dt);
    return prev.ts_ms + (int64_t)offset;
}

static void track_best(sim *m, tg_pricepoint pt) {
    assert(m != NULL && m->res != NULL);
    assert(tg_dec_is_pos(pt.price)); /* check_prices() ran first */
    if (better(m, pt.price, m->res->best_price)) {
        m->res->best_price = pt.price;
        m->res->best_ms = pt.ts_ms;
    }
}

/* The stop held at point i has been reached: fill, tell the engine, end. */
static void trigger(sim *m, size_t i) {
    assert(m != NULL && m->holds);
    assert(i < m->count && m->opts->walk_len >= 1);
    tg_replay_result *r = m->res;
    const tg_pricepoint *pts = m->points;
    size_t walk = m->opts->walk_len;
    bool continuous = i % walk != 0 && !stop_reached(m, pts[i - 1].price, m->held);
    r->outcome = TG_REPLAY_STOPPED;
    r->gap = !continuous;
    r->trigger_stop = m->held;
    r->trigger_ms = continuous ? crossing_time(pts[i - 1], pts[i], m->held) : pts[i].ts_ms;
    size_t j = i;
    if (m->opts->fill_latency_ms == 0) {
        r->exit_ms = r->trigger_ms;
        r->exit_price = continuous ? m->held : pts[i].price;
    } else {
        int64_t due = r->trigger_ms + m->opts->fill_latency_ms;
        while (j + 1 < m->count && pts[j].ts_ms < due) {
            j++;
        }
        r->fill_truncated = pts[j].ts_ms < due;
        r->exit_ms = pts[j].ts_ms < r->trigger_ms ? r->trigger_ms : pts[j].ts_ms;
        r->exit_price = pts[j].price;
    }
    assert(j >= i && j < m->count);
    for (size_t k = i; k <= j; k++) {
        track_best(m, pts[k]);
    }
    r->points_used = j + 1;
    m->holds = false;
    m->done = true;
    record_stop(m, r->trigger_ms, tg_dec_from_units(0));
    tg_out out;
    memset(&out, 0, sizeof out);
    tg_stop_triggered(&m->s, r->trigger_ms, r->exit_price, &out);
    handle(m, r->trigger_ms, r->exit_price, &out, 0);
    memset(&out, 0, sizeof out);
    tg_stop_closed(&m->s, r->exit_ms, r->exit_price, TG_R_STOP, &out);
    handle(m, r->exit_ms, r->exit_price, &out, 0);
}

/* v rounded to dp places, half away from zero. */
static tg_dec round_half_away(tg_dec v, int dp) {
    assert(dp >= 0 && dp <= TG_DEC_DP);
    int64_t unit = 1;
    for (int k = dp; k < TG_DEC_DP; k++) {
        unit *= 10;
    }
    int64_t mag = v.units < 0 ? -v.units : v.units;
    int64_t rounded = (mag / unit + (mag % unit >= unit / 2 && unit > 1)) * unit;
    tg_dec out = tg_dec_from_units(v.units < 0 ? -rounded : rounded);
    assert(tg_dec_places(out) <= dp);
    return out;
}

/* num / den × 100, exact to 8 places (toward zero); false on overflow. */
static bool percent_of(tg_dec num, tg_dec den, tg_dec *out) {
    assert(out != NULL);
    assert(!tg_dec_is_zero(den)); /* the entry, or a best gain > 0 */
    tg_dec_round mode = (num.units < 0) != (den.units < 0) ? TG_ROUND_CEIL : TG_ROUND_FLOOR;
    return tg_dec_mul_ratio(num, dec_hundred, den, mode, out) == TG_DEC_OK;
}

/* Result, P&L, excursion and capture, all relative to the entry. With
 * prices up to 1e9 and entries down to 1e-8 a percentage can leave the
 * tg_dec range: then the numbers are marked missing, never wrapped. */
static void summarise(sim *m) {
    assert(m != NULL && m->res != NULL);
    tg_replay_result *r = m->res;
    assert(tg_dec_is_pos(r->entry));
    tg_dec gain, best_gain, pct, mfe, share;
    tg_dec_status st = is_long(m) ? tg_dec_sub(r->exit_price, r->entry, &gain)
                                  : tg_dec_sub(r->entry, r->exit_price, &gain);
    if (st == TG_DEC_OK) {
        st = is_long(m) ? tg_dec_sub(r->best_price, r->entry, &best_gain)
                        : tg_dec_sub(r->entry, r->best_price, &best_gain);
    }
    tg_dec_round toward_zero = gain.units < 0 ? TG_ROUND_CEIL : TG_ROUND_FLOOR;
    r->overflowed = st != TG_DEC_OK                     ? "the price difference (exit − entry)"
                    : !percent_of(gain, r->entry, &pct) ? "the result percentage (exit vs entry)"
                    : !percent_of(best_gain, r->entry, &mfe)
                        ? "the max favourable excursion percentage"
                    : tg_dec_mul(gain, r->quantity, toward_zero, &r->pnl) != TG_DEC_OK
                        ? "the P&L (price difference × quantity)"
                        : NULL;
    r->has_numbers = r->overflowed == NULL;
    if (!r->has_numbers) {
        return;
    }
    assert(!tg_dec_is_neg(best_gain)); /* the entry itself is the first best price */
    r->result_pct = round_half_away(pct, 4);
    r->mfe_pct = round_half_away(mfe, 4);
    /* A tiny excursion against a large loss can leave the range too: then
     * the share is not reported rather than wrong. */
    r->has_captured = tg_dec_is_pos(best_gain) && percent_of(gain, best_gain, &share);
    if (r->has_captured) {
        r->captured_pct = round_half_away(share, 2);
    }
}

static tg_status check_opts(const tg_replay_opts *o, size_t count, tg_err *err) {
    assert(o != NULL);
    if (count == 0) {
        return tg_err_set(err, TG_E_INVALID, "the price path is empty");
    }
    if (o->walk_len == 0 || o->walk_len > TG_PRICEFILE_WALK_BARS) {
        return tg_err_set(err, TG_E_INVALID, "walk length %u must be 1 (ticks) to %d (bars)",
                          o->walk_len, TG_PRICEFILE_WALK_BARS);
    }
    if (o->fill_latency_ms < 0 || o->fill_latency_ms > TG_REPLAY_LATENCY_MS_MAX) {
        return tg_err_set(err, TG_E_INVALID, "fill latency %lld ms must be 0..%lld ms",
                          (long long)o->fill_latency_ms, (long long)TG_REPLAY_LATENCY_MS_MAX);
    }
    if (tg_dec_is_neg(o->entry)) {
        return tg_err_set(err, TG_E_INVALID, "the entry price must be > 0");
    }
    return TG_OK;
}

static tg_status check_prices(const tg_pricepoint *points, size_t count, tg_err *err) {
    assert(points != NULL || count == 0);
    for (size_t i = 0; i < count; i++) {
        if (points[i].price.units > TG_REPLAY_PRICE_MAX_UNITS || points[i].price.units <= 0) {
            char price[TG_DEC_STR_MAX], when[TG_UTC_STR_MAX];
            tg_dec_format(points[i].price, 0, price);
            tg_utc_format(points[i].ts_ms, when);
            return tg_err_set(err, TG_E_INVALID,
                              "the price %s at %s is above 1000000000, the most the engine "
                              "accepts",
                              price, when);
        }
    }
    return TG_OK;
}

static tg_status open_position(sim *m, tg_err *err) {
    assert(m != NULL && m->opts != NULL && m->res != NULL);
    assert(m->points != NULL && m->count > 0); /* check_opts() refused an empty path */
    const tg_replay_opts *o = m->opts;
    tg_replay_result *r = m->res;
    tg_open op;
    memset(&op, 0, sizeof op);
    op.id = TG_REPLAY_POSITION_ID;
    op.side = o->side;
    op.entry = tg_dec_is_zero(o->entry) ? m->points[0].price : o->entry;
    op.quantity = o->quantity;
    op.tick = o->tick;
    op.ts_ms = m->points[0].ts_ms;
    op.params = o->params;
    tg_out out;
    memset(&out, 0, sizeof out);
    tg_status st = tg_stop_open(&m->s, &op, &out, err);
    if (st != TG_OK) {
        return st;
    }
    r->side = (uint8_t)o->side;
    r->entry = op.entry;
    r->tick = o->tick;
    r->quantity = o->quantity;
    r->opened_ms = op.ts_ms;
    r->activation_price = m->s.activation_price;
    r->best_price = op.entry;
    r->best_ms = op.ts_ms;
    assert(tg_dec_is_pos(r->entry));
    handle(m, op.ts_ms, op.entry, &out, 0);
    return TG_OK;
}

/* Feeds the path to the engine until the position is gone or the path ends. */
static void walk_path(sim *m) {
    assert(m != NULL && m->opts != NULL && m->count > 0);
    const tg_replay_opts *o = m->opts;
    for (size_t i = 0; i < m->count && !m->done; i++) {
        tg_pricepoint pt = m->points[i];
        assert(i == 0 || pt.ts_ms >= m->points[i - 1].ts_ms);
        if (m->holds && stop_reached(m, pt.price, m->held)) {
            trigger(m, i);
            break;
        }
        track_best(m, pt);
        tg_out out;
        memset(&out, 0, sizeof out);
        tg_stop_tick(&m->s, pt.ts_ms, pt.price, &out);
        handle(m, pt.ts_ms, pt.price, &out, 0);
        m->res->points_used = i + 1;
        if (o->progress.fn != NULL && (i + 1) % TG_REPLAY_PROGRESS_POINTS == 0) {
            o->progress.fn(o->progress.ctx, i + 1, m->count);
        }
    }
    assert(m->res->points_used <= m->count);
}

tg_status tg_replay_run(const tg_pricepoint *points, size_t count, const tg_replay_opts *opts,
                        tg_replay_result *res, tg_err *err) {
    assert(points != NULL || count == 0);
    assert(opts != NULL && res != NULL);
    memset(res, 0, sizeof *res);
    tg_status st = check_opts(opts, count, err);
    if (st == TG_OK) {
        st = check_prices(points, count, err);
    }
    if (st != TG_OK) {
        return st;
    }
    sim m;
    memset(&m, 0, sizeof m);
    m.opts = opts;
    m.res = res;
    m.points = points;
    m.count = count;
    st = open_position(&m, err);
    if (st == TG_OK && !m.done) {
        walk_path(&m);
    }
    if (st == TG_OK && m.nomem) {
        st = tg_err_set(err, TG_E_NOMEM, "out of memory recording the stop history");
    }
    if (st != TG_OK) {
        tg_replay_result_free(res);
        return st;
    }
    if (res->outcome == TG_REPLAY_OPEN) {
        assert(res->points_used >= 1 && res->points_used <= count);
        res->exit_ms = points[res->points_used - 1].ts_ms;
        res->exit_price = points[res->points_used - 1].price;
    }
    summarise(&m);
    res->final = m.s;
    if (opts->progress.fn != NULL) {
        opts->progress.fn(opts->progress.ctx, count, count);
    }
    return TG_OK;
}

void tg_replay_result_free(tg_replay_result *res) {
    if (res != NULL) {
        free(res->stops);
        res->stops = NULL;
        res->n_stops = 0;
    }
}
