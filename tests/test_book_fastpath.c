/* The book's fast path is exact: two books get the same inputs — over a
 * million seeded random ticks on many symbols, with every feature on in
 * random combinations, long and short, gaps through stops, late and refused
 * confirmations, triggers, closes and reopens — one with the fast path, one
 * evaluating every position on every tick (tg_book_set_exhaustive()). Every
 * event and command, and the state each sink call sees, must be identical,
 * and so must every position's whole state whenever it is read back. The
 * first divergence fails the test with both sides of it.
 *
 * The inputs aim at the edges of the wake band: ticks at a position's levels
 * ±1 unit and at the times its rules fall due, off-tick, stale and invalid
 * prices, answers and ticks from inside the sink, and state edits through
 * tg_book_get() as a restore would make them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine_harness.h"

#include "trailguard/book.h"

#define SYMBOLS          40
#define POSITIONS_MAX    480
#define POSITIONS_TARGET 380
#define TICKS_TOTAL      1000000
#define REGIME_TICKS     50000 /* ticks between two changes of market regime */
#define AUDIT_TICKS      100000
#define STEP_RECORDS_MAX 8192 /* outputs of one driver step, per book */
#define PENDING_MAX      1024 /* stop requests not yet answered by the exchange */
#define CLOSES_MAX       1024 /* closes the exchange has yet to report */
#define PRICE_MAX_UNITS  (1000000000LL * TG_DEC_SCALE)
#define FNV_BASIS        14695981039346656037ull
#define FNV_PRIME        1099511628211ull

typedef struct rng {
    uint64_t state; /* splitmix64 */
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int64_t rng_range(rng *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static bool one_in(rng *r, int64_t n) {
    return rng_range(r, 1, n) == 1;
}

static uint64_t mix(uint64_t h, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        h = (h ^ ((v >> (8 * i)) & 0xff)) * FNV_PRIME;
    }
    return h;
}

/* Every field of a position's state, padding excluded. */
static uint64_t hash_stop(const tg_stop *s) {
    const tg_dec decs[] = {s->entry,           s->quantity,      s->tick,      s->activation_price,
                           s->breakeven_price, s->highest,       s->lowest,    s->last_price,
                           s->stop_confirmed,  s->stop_intended, s->candidate, s->anchor_price};
    uint64_t h = FNV_BASIS;
    for (size_t i = 0; i < sizeof decs / sizeof decs[0]; i++) {
        h = mix(h, (uint64_t)decs[i].units);
    }
    const int64_t times[] = {s->anchor_ms,    s->opened_ms,    s->activated_ms,
                             s->last_move_ms, s->last_tick_ms, s->closed_ms};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        h = mix(h, (uint64_t)times[i]);
    }
    h = mix(h, s->id);
    h = mix(h, s->update_count);
    for (int i = 0; i < TG_SKIP_REASONS; i++) {
        h = mix(h, s->skip_count[i]);
    }
    h = mix(h, s->stale_ticks);
    h = mix(h, s->flags);
    h = mix(h, (uint64_t)s->side << 24 | (uint64_t)s->state << 16 | (uint64_t)s->deferred << 8 |
                   s->skips_reported);
    return h;
}

/* One event or command as a sink or a direct input produced it. */
typedef struct record {
    bool is_cmd;        /* cmd, else ev */
    tg_event ev;        /* when !is_cmd */
    tg_cmd cmd;         /* when is_cmd */
    uint64_t stop_hash; /* hash_stop() of the position as the output was handed over */
} record;

typedef struct recorder {
    const char *name;                   /* "fast" or "exhaustive" */
    tg_book *book;                      /* the book under test */
    bool primary;                       /* the driver plays the exchange from this one's output */
    rng sink_rng;                       /* answers inside the sink: same seed for both books */
    int64_t now;                        /* time of the current input */
    uint64_t hash;                      /* over every record so far */
    uint64_t events;                    /* events so far */
    uint64_t cmds;                      /* commands so far */
    uint64_t by_type[TG_EV_CLOSED + 1]; /* events by type */
    uint64_t by_reason[TG_R_EXTERNAL + 1]; /* events by reason */
    record step[STEP_RECORDS_MAX];         /* the current driver step's records */
    int n_step;                            /* records in step */
    struct driver *driver;                 /* for the exchange's bookkeeping */
    tg_cmd earlier;                        /* a SET_STOP seen earlier in this tick */
    bool earlier_set;                      /* earlier is set */
    bool nested;                           /* the sink is inside a tick it started */
} recorder;

typedef struct pending_stop {
    uint32_t slot;   /* position */
    uint32_t serial; /* the position's open serial when requested */
    tg_dec price;    /* requested stop */
} pending_stop;

typedef struct pending_close {
    uint32_t slot;    /* position */
    uint32_t serial;  /* its open serial */
    uint8_t reason;   /* tg_reason for tg_book_close() */
    int64_t due_step; /* step at which the exchange reports it */
} pending_close;

/* What the exchange knows of one book slot. */
typedef struct slot_view {
    bool open;       /* in the book */
    bool triggered;  /* its stop fired */
    bool has_conf;   /* conf is set */
    uint8_t side;    /* tg_side */
    uint32_t symbol; /* index into the symbols */
    uint32_t serial; /* opens of this slot so far */
    tg_dec conf;     /* tightest stop confirmed */
    int sym_index;   /* position in sym_slots[symbol] */
} slot_view;

typedef struct driver {
    rng r;                                      /* every decision of the run */
    recorder *rec[2];                           /* fast, exhaustive */
    uint32_t sym_id[SYMBOLS];                   /* book symbol ids (the same in both) */
    int64_t price_ticks[SYMBOLS];               /* each symbol's price, in its ticks */
    tg_dec tick[SYMBOLS];                       /* each symbol's tick size */
    slot_view slot[POSITIONS_MAX];              /* per book slot */
    uint32_t sym_slots[SYMBOLS][POSITIONS_MAX]; /* open slots of each symbol */
    int sym_count[SYMBOLS];                     /* entries in sym_slots */
    uint32_t open_count;                        /* positions open */
    pending_stop pending[PENDING_MAX];          /* unanswered stop requests */
    int n_pending;                              /* entries used */
    pending_close closes[CLOSES_MAX];           /* closes to report */
    int n_closes;                               /* entries used */
    int64_t now;                                /* clock, ms */
    int64_t step;                               /* driver steps so far */
    int64_t ticks;                              /* ticks sent */
    int volatility;                             /* regime: price step divisor */
    int64_t dt_max_ms;                          /* regime: largest clock advance */
    int gap_one_in;                             /* regime: 1 in N ticks is a gap */
    const char *what;                           /* the current step's input, for messages */
} driver;

static tg_dec price_of(const driver *d, uint32_t sym) {
    return tg_dec_from_units(d->price_ticks[sym] * d->tick[sym].units);
}

static bool tighter(uint8_t side, tg_dec a, tg_dec b) {
    return side == TG_SIDE_LONG ? tg_dec_gt(a, b) : tg_dec_lt(a, b);
}

static void keep(recorder *rc, const tg_stop *stop, const tg_out *out) {
    uint64_t sh = stop != NULL ? hash_stop(stop) : 0;
    for (int i = 0; i < out->n_events + out->n_cmds; i++) {
        if (rc->n_step >= STEP_RECORDS_MAX) {
            fail_msg("more than %d outputs in one step", STEP_RECORDS_MAX);
        }
        record *k = &rc->step[rc->n_step++];
        memset(k, 0, sizeof *k);
        k->stop_hash = sh;
        k->is_cmd = i >= out->n_events;
        if (k->is_cmd) {
            k->cmd = out->cmds[i - out->n_events];
        } else {
            k->ev = out->events[i];
        }
    }
}

static void exchange_saw(driver *d, const tg_out *out);

static void note_confirm(driver *d, uint32_t slot, tg_dec price) {
    slot_view *v = &d->slot[slot];
    if (!v->has_conf || tighter(v->side, price, v->conf)) {
        v->conf = price;
        v->has_conf = true;
    }
}

static void answer_in_sink(recorder *rc, uint32_t position, tg_dec price, bool refuse) {
    tg_stop *s = tg_book_get(rc->book, position);
    assert_non_null(s);
    tg_out answer = {0};
    if (refuse) {
        tg_stop_rejected(s, rc->now, price, TG_REJECT_OTHER, &answer);
    } else {
        tg_stop_confirmed(s, rc->now, price, &answer);
    }
    keep(rc, s, &answer);
    if (rc->primary && !refuse) {
        note_confirm(rc->driver, position, price);
    }
}

/* The book's sink: keeps the output and, now and then, has the exchange
 * answer a new stop at once, from inside the sink: acknowledge this
 * position's, or answer one of a position the tick has already been through. */
static void sink(void *ctx, const tg_stop *stop, const tg_out *out) {
    recorder *rc = ctx;
    keep(rc, stop, out);
    for (int i = 0; i < out->n_cmds; i++) {
        const tg_cmd *c = &out->cmds[i];
        if (c->type != TG_CMD_SET_STOP || rng_next(&rc->sink_rng) % 8 != 0) {
            if (rc->primary) {
                tg_out one = {0};
                one.n_cmds = 1;
                one.cmds[0] = *c;
                exchange_saw(rc->driver, &one);
            }
            continue;
        }
        answer_in_sink(rc, c->position, c->price, false);
    }
    if (rc->earlier_set && rng_next(&rc->sink_rng) % 4 == 0 && rc->earlier.position != stop->id) {
        rc->earlier_set = false;
        answer_in_sink(rc, rc->earlier.position, rc->earlier.price, rng_next(&rc->sink_rng) % 2);
    }
    for (int i = 0; i < out->n_cmds; i++) {
        if (out->cmds[i].type == TG_CMD_SET_STOP) {
            rc->earlier = out->cmds[i];
            rc->earlier_set = true;
        }
    }
    if (!rc->nested && rng_next(&rc->sink_rng) % 16 == 0 && (stop->flags & TG_F_LAST_PRICE) &&
        stop->last_price.units > 2 * stop->tick.units) {
        /* a tick of the same symbol from inside the sink, half-way through */
        rc->nested = true;
        uint32_t sym = rc->driver->sym_id[rc->driver->slot[stop->id].symbol];
        int64_t nudge = (int64_t)(rng_next(&rc->sink_rng) % 5) - 2;
        tg_dec price = tg_dec_from_units(stop->last_price.units + nudge * stop->tick.units);
        tg_book_tick(rc->book, sym, rc->now, price, sink, rc);
        rc->nested = false;
    }
}

/* ---- comparing the two books ----------------------------------------------- */

static void describe(const record *k, char *buf, size_t cap) {
    if (k->is_cmd) {
        char p[TG_DEC_STR_MAX];
        tg_dec_format(k->cmd.price, 0, p);
        snprintf(buf, cap, "cmd %s position %" PRIu32 " reason %s price %s (state %016" PRIx64 ")",
                 tg_cmd_type_str((tg_cmd_type)k->cmd.type), k->cmd.position,
                 tg_reason_str((tg_reason)k->cmd.reason), p, k->stop_hash);
    } else {
        char j[400];
        tg_event_json(&k->ev, 0, j, sizeof j);
        snprintf(buf, cap, "event %s (state %016" PRIx64 ")", j, k->stop_hash);
    }
}

static bool same_record(const record *a, const record *b) {
    if (a->is_cmd != b->is_cmd || a->stop_hash != b->stop_hash) {
        return false;
    }
    if (a->is_cmd) {
        return a->cmd.position == b->cmd.position && a->cmd.type == b->cmd.type &&
               a->cmd.reason == b->cmd.reason && tg_dec_eq(a->cmd.price, b->cmd.price);
    }
    const tg_event *x = &a->ev, *y = &b->ev;
    return x->ts_ms == y->ts_ms && x->position == y->position && x->type == y->type &&
           x->reason == y->reason && x->state == y->state && x->has == y->has &&
           tg_dec_eq(x->price, y->price) && tg_dec_eq(x->stop, y->stop) &&
           tg_dec_eq(x->prev_stop, y->prev_stop);
}

static void fold(recorder *rc) {
    for (int i = 0; i < rc->n_step; i++) {
        const record *k = &rc->step[i];
        uint64_t h = mix(rc->hash, k->stop_hash);
        if (k->is_cmd) {
            rc->cmds++;
            h = mix(h,
                    (uint64_t)k->cmd.position << 16 | (uint64_t)k->cmd.type << 8 | k->cmd.reason);
            h = mix(h, (uint64_t)k->cmd.price.units);
        } else {
            const tg_event *e = &k->ev;
            rc->events++;
            rc->by_type[e->type]++;
            rc->by_reason[e->reason]++;
            h = mix(h, (uint64_t)e->ts_ms);
            h = mix(h, (uint64_t)e->position << 32 | (uint64_t)e->type << 24 |
                           (uint64_t)e->reason << 16 | (uint64_t)e->state << 8 | e->has);
            h = mix(h, (uint64_t)e->price.units);
            h = mix(h, (uint64_t)e->stop.units);
            h = mix(h, (uint64_t)e->prev_stop.units);
        }
        rc->hash = h;
    }
    rc->n_step = 0;
}

/* The end of one driver step: both books must have said the same. */
static void compare_step(driver *d) {
    recorder *a = d->rec[0], *b = d->rec[1];
    int n = a->n_step < b->n_step ? a->n_step : b->n_step;
    int at = -1;
    for (int i = 0; i < n && at < 0; i++) {
        if (!same_record(&a->step[i], &b->step[i])) {
            at = i;
        }
    }
    if (at < 0 && a->n_step != b->n_step) {
        at = n;
    }
    if (at >= 0) {
        char x[600] = "(nothing)", y[600] = "(nothing)";
        if (at < a->n_step) {
            describe(&a->step[at], x, sizeof x);
        }
        if (at < b->n_step) {
            describe(&b->step[at], y, sizeof y);
        }
        fail_msg("first divergence at step %" PRId64 " (%s, tick %" PRId64 ", t=%" PRId64
                 "), output %d of %d/%d:\n  %s: %s\n  %s: %s",
                 d->step, d->what, d->ticks, d->now, at, a->n_step, b->n_step, a->name, x, b->name,
                 y);
    }
    fold(a);
    fold(b);
    assert_true(a->hash == b->hash && a->events == b->events && a->cmds == b->cmds);
}

/* Reads one position back from both books: the whole state must agree. */
static void audit_slot(driver *d, uint32_t slot) {
    tg_stop *a = tg_book_get(d->rec[0]->book, slot);
    tg_stop *b = tg_book_get(d->rec[1]->book, slot);
    assert_true((a == NULL) == (b == NULL));
    if (a == NULL) {
        return;
    }
    if (hash_stop(a) != hash_stop(b)) {
        fail_msg("step %" PRId64 " (%s): position %" PRIu32
                 " differs when read back: last_tick %" PRId64 "/%" PRId64 " last_price %" PRId64
                 "/%" PRId64 " state %u/%u flags %x/%x",
                 d->step, d->what, slot, a->last_tick_ms, b->last_tick_ms, a->last_price.units,
                 b->last_price.units, a->state, b->state, a->flags, b->flags);
    }
    tg_err err = {0};
    if (tg_stop_check(a, &err) != TG_OK) {
        fail_msg("step %" PRId64 ": %s", d->step, err.msg);
    }
}

/* ---- the exchange's side ---------------------------------------------------- */

static void queue_close(driver *d, uint32_t slot, tg_reason reason) {
    if (d->n_closes == CLOSES_MAX) {
        return;
    }
    d->closes[d->n_closes++] = (pending_close){slot, d->slot[slot].serial, (uint8_t)reason,
                                               d->step + rng_range(&d->r, 0, 40)};
}

/* Requests in the primary book's output reach the exchange. */
static void exchange_saw(driver *d, const tg_out *out) {
    for (int i = 0; i < out->n_cmds; i++) {
        const tg_cmd *c = &out->cmds[i];
        if (c->type == TG_CMD_SET_STOP && d->n_pending < PENDING_MAX) {
            d->pending[d->n_pending++] =
                (pending_stop){c->position, d->slot[c->position].serial, c->price};
        } else if (c->type == TG_CMD_CLOSE_POSITION) {
            queue_close(d, c->position, TG_R_CLOSE_POSITION);
        }
    }
}

/* Feeds one direct input to the same position of both books. */
typedef enum input_kind { IN_CONFIRM, IN_REJECT_OTHER, IN_REJECT_TRIGGER, IN_TRIGGER } input_kind;

static void both_input(driver *d, uint32_t slot, input_kind kind, tg_dec price) {
    for (int k = 0; k < 2; k++) {
        recorder *rc = d->rec[k];
        tg_stop *s = tg_book_get(rc->book, slot);
        assert_non_null(s);
        tg_out out = {0};
        switch (kind) {
        case IN_CONFIRM:
            tg_stop_confirmed(s, d->now, price, &out);
            break;
        case IN_REJECT_OTHER:
            tg_stop_rejected(s, d->now, price, TG_REJECT_OTHER, &out);
            break;
        case IN_REJECT_TRIGGER:
            tg_stop_rejected(s, d->now, price, TG_REJECT_WOULD_TRIGGER, &out);
            break;
        case IN_TRIGGER:
            tg_stop_triggered(s, d->now, price, &out);
            break;
        }
        keep(rc, s, &out);
        if (rc->primary) {
            exchange_saw(d, &out);
        }
    }
}

static void answer_stops(driver *d) {
    int answers = (int)rng_range(&d->r, 0, 3);
    for (int n = 0; n < answers && d->n_pending > 0; n++) {
        int idx = one_in(&d->r, 4) ? (int)rng_range(&d->r, 0, d->n_pending - 1) : 0;
        pending_stop p = d->pending[idx];
        memmove(&d->pending[idx], &d->pending[idx + 1],
                (size_t)(d->n_pending - idx - 1) * sizeof d->pending[0]);
        d->n_pending--;
        slot_view *v = &d->slot[p.slot];
        if (!v->open || v->serial != p.serial) {
            continue; /* the position is gone: the request died with it */
        }
        int64_t roll = rng_range(&d->r, 0, 99);
        if (roll < 80) {
            d->what = "confirm";
            both_input(d, p.slot, IN_CONFIRM, p.price);
            note_confirm(d, p.slot, p.price);
        } else {
            d->what = "reject";
            both_input(d, p.slot, roll < 90 ? IN_REJECT_OTHER : IN_REJECT_TRIGGER, p.price);
        }
    }
}

/* The exchange fires confirmed stops that the price went through. */
static void fire_stops(driver *d, uint32_t sym, tg_dec price) {
    for (int i = 0; i < d->sym_count[sym]; i++) {
        uint32_t slot = d->sym_slots[sym][i];
        slot_view *v = &d->slot[slot];
        bool hit =
            v->has_conf && !v->triggered &&
            (v->side == TG_SIDE_LONG ? tg_dec_le(price, v->conf) : tg_dec_ge(price, v->conf));
        if (hit && !one_in(&d->r, 4)) {
            d->what = "trigger";
            v->triggered = true;
            both_input(d, slot, IN_TRIGGER, price);
            queue_close(d, slot, TG_R_STOP);
        }
    }
}

static void forget_slot(driver *d, uint32_t slot) {
    slot_view *v = &d->slot[slot];
    uint32_t sym = v->symbol;
    int at = v->sym_index;
    assert_true(d->sym_slots[sym][at] == slot);
    uint32_t last = d->sym_slots[sym][--d->sym_count[sym]];
    d->sym_slots[sym][at] = last;
    d->slot[last].sym_index = at;
    v->open = false;
    d->open_count--;
}

static void close_both(driver *d, uint32_t slot, tg_reason reason) {
    d->what = "close";
    audit_slot(d, slot);
    tg_dec price = price_of(d, d->slot[slot].symbol);
    for (int k = 0; k < 2; k++) {
        tg_out out = {0};
        tg_book_close(d->rec[k]->book, slot, d->now, price, reason, &out);
        keep(d->rec[k], NULL, &out);
    }
    forget_slot(d, slot);
}

static void report_closes(driver *d) {
    for (int i = 0; i < d->n_closes;) {
        pending_close c = d->closes[i];
        if (c.due_step > d->step) {
            i++;
            continue;
        }
        d->closes[i] = d->closes[--d->n_closes];
        if (d->slot[c.slot].open && d->slot[c.slot].serial == c.serial) {
            close_both(d, c.slot, (tg_reason)c.reason);
        }
    }
}

/* ---- positions ------------------------------------------------------------- */

static tg_dec pct_hundredths(int64_t h) {
    return tg_dec_from_units(h * (TG_DEC_SCALE / 100));
}

/* Each feature on or off independently, so that all combinations occur. */
static tg_params random_params(rng *r) {
    tg_params p = tg_params_default();
    p.activation_pct = pct_hundredths(rng_range(r, 0, 300));
    switch (rng_range(r, 0, 3)) {
    case 0:
        p.callback_kind = TG_CALLBACK_TICKS;
        p.callback = tg_dec_from_units(rng_range(r, 1, 50) * TG_DEC_SCALE);
        break;
    case 1:
        p.callback_kind = TG_CALLBACK_PRICE;
        p.callback = pct_hundredths(rng_range(r, 1, 500));
        break;
    default:
        p.callback_kind = TG_CALLBACK_PERCENT;
        p.callback = pct_hundredths(rng_range(r, 5, 300));
        if (one_in(r, 2)) {
            p.step_count = 3;
            p.steps[0] = (tg_step){pct_hundredths(0), pct_hundredths(200)};
            p.steps[1] = (tg_step){pct_hundredths(rng_range(r, 50, 150)), pct_hundredths(100)};
            p.steps[2] = (tg_step){pct_hundredths(rng_range(r, 200, 400)), pct_hundredths(30)};
        }
        break;
    }
    if (one_in(r, 2)) {
        p.initial_stop_pct = pct_hundredths(rng_range(r, 20, 500));
    }
    if (one_in(r, 2)) {
        p.breakeven_pct = pct_hundredths(rng_range(r, 20, 100));
        p.breakeven_offset_pct = pct_hundredths(rng_range(r, 0, 10));
    }
    if (one_in(r, 2)) {
        p.momentum_pct_per_min = pct_hundredths(rng_range(r, 5, 200));
        p.momentum_factor = pct_hundredths(rng_range(r, 30, 100));
    }
    if (one_in(r, 2)) {
        p.time_activation_ms = rng_range(r, 1, 600) * 1000;
    }
    p.min_update_interval_ms = one_in(r, 5) ? 0 : rng_range(r, 1, 90) * 1000;
    p.min_improvement_pct = pct_hundredths(rng_range(r, 0, 20));
    p.emergency_improvement_pct = pct_hundredths(rng_range(r, 30, 200));
    p.on_crossed = (uint8_t)rng_range(r, 0, 1);
    return p;
}

static void open_both(driver *d) {
    uint32_t sym = (uint32_t)rng_range(&d->r, 0, SYMBOLS - 1);
    int64_t entry_ticks = d->price_ticks[sym] + rng_range(&d->r, -20, 20);
    tg_open o = {.side = one_in(&d->r, 2) ? TG_SIDE_LONG : TG_SIDE_SHORT,
                 .entry = tg_dec_from_units(entry_ticks * d->tick[sym].units),
                 .quantity = tg_dec_from_units(TG_DEC_SCALE),
                 .tick = d->tick[sym],
                 .ts_ms = d->now,
                 .params = random_params(&d->r)};
    char name[16];
    snprintf(name, sizeof name, "SYM%02" PRIu32 "USDT", sym);
    uint32_t ids[2];
    d->what = "open";
    for (int k = 0; k < 2; k++) {
        tg_out out = {0};
        tg_err err = {0};
        if (tg_book_open(d->rec[k]->book, name, &o, &ids[k], &out, &err) != TG_OK) {
            fail_msg("open: %s", err.msg);
        }
        keep(d->rec[k], tg_book_get(d->rec[k]->book, ids[k]), &out);
        if (d->rec[k]->primary) {
            exchange_saw(d, &out);
        }
    }
    assert_int_equal(ids[0], ids[1]);
    slot_view *v = &d->slot[ids[0]];
    assert_false(v->open);
    uint32_t serial = v->serial + 1;
    memset(v, 0, sizeof *v);
    v->open = true;
    v->side = (uint8_t)o.side;
    v->symbol = sym;
    v->serial = serial;
    v->sym_index = d->sym_count[sym];
    d->sym_slots[sym][d->sym_count[sym]++] = ids[0];
    d->open_count++;
}

static uint32_t random_open_slot(driver *d) {
    uint32_t start = (uint32_t)rng_range(&d->r, 0, POSITIONS_MAX - 1);
    for (uint32_t i = 0; i < POSITIONS_MAX; i++) {
        uint32_t slot = (start + i) % POSITIONS_MAX;
        if (d->slot[slot].open) {
            return slot;
        }
    }
    return TG_BOOK_NONE;
}

/* ---- the market ------------------------------------------------------------ */

static void new_regime(driver *d) {
    static const int volatility[] = {1, 3, 10, 30, 100};
    static const int64_t dt_max[] = {0, 20, 200, 2000, 20000};
    static const int gaps[] = {200, 1000, 5000};
    d->volatility = volatility[rng_range(&d->r, 0, 4)];
    d->dt_max_ms = dt_max[rng_range(&d->r, 0, 4)];
    d->gap_one_in = gaps[rng_range(&d->r, 0, 2)];
}

/* A tick aimed at one position's edges: at a price level it reacts to,
 * ±1 unit, or at the time a rule of it becomes due (−1 ms). The levels are
 * read from the exhaustive book, where reading changes nothing. */
static void probe(driver *d, uint32_t *sym, tg_dec *price) {
    uint32_t slot = random_open_slot(d);
    if (slot == TG_BOOK_NONE) {
        return;
    }
    const tg_stop *s = tg_book_get(d->rec[1]->book, slot);
    assert_non_null(s);
    *sym = d->slot[slot].symbol;
    *price = price_of(d, *sym);
    if (one_in(&d->r, 2)) {
        const tg_dec levels[] = {s->activation_price, s->breakeven_price, s->entry,
                                 s->candidate,        s->highest,         s->lowest,
                                 s->stop_intended,    s->stop_confirmed};
        int64_t at = rng_range(&d->r, 0, (int64_t)(sizeof levels / sizeof levels[0]) - 1);
        int64_t units = levels[at].units + rng_range(&d->r, -1, 1);
        if (units > 0) {
            price->units = units;
        }
    } else {
        const int64_t dues[] = {s->opened_ms + s->params.time_activation_ms,
                                s->last_move_ms + s->params.min_update_interval_ms,
                                s->anchor_ms + 60000};
        int64_t due = dues[rng_range(&d->r, 0, 2)] - rng_range(&d->r, 0, 1);
        if (due >= d->now && due - d->now <= 600000) {
            d->now = due;
        }
    }
}

static void tick_both(driver *d) {
    uint32_t sym =
        (uint32_t)(one_in(&d->r, 2) ? rng_range(&d->r, 0, 3) : rng_range(&d->r, 0, SYMBOLS - 1));
    int64_t p = d->price_ticks[sym];
    int64_t k = p / 300 / d->volatility + 1;
    bool gap = one_in(&d->r, d->gap_one_in);
    p += gap ? rng_range(&d->r, -30 * k * d->volatility, 30 * k * d->volatility)
             : rng_range(&d->r, -k, k);
    d->price_ticks[sym] = p < 500 ? 500 + rng_range(&d->r, 0, 100) : p;
    d->now += rng_range(&d->r, 0, d->dt_max_ms);
    tg_dec price = price_of(d, sym);
    if (one_in(&d->r, 20)) {
        /* mark prices need not be on the tick */
        int64_t t = d->tick[sym].units;
        price.units += rng_range(&d->r, -(t - 1) / 2, (t - 1) / 2);
    }
    if (one_in(&d->r, 10)) {
        probe(d, &sym, &price);
    }
    int64_t ts = one_in(&d->r, 300) ? d->now - rng_range(&d->r, 1, 5000) : d->now;
    if (one_in(&d->r, 3000)) {
        static const int64_t bad[] = {0, -100, PRICE_MAX_UNITS + 1};
        price = tg_dec_from_units(bad[rng_range(&d->r, 0, 2)]);
    }
    bool unknown = one_in(&d->r, 1000);
    bool by_name = one_in(&d->r, 50);
    char name[16];
    snprintf(name, sizeof name, unknown ? "NOPE%02" PRIu32 : "SYM%02" PRIu32 "USDT", sym);
    d->what = "tick";
    for (int k2 = 0; k2 < 2; k2++) {
        recorder *rc = d->rec[k2];
        rc->now = ts;
        rc->earlier_set = false;
        if (unknown || by_name) {
            tg_book_tick_name(rc->book, name, ts, price, sink, rc);
        } else {
            tg_book_tick(rc->book, d->sym_id[sym], ts, price, sink, rc);
        }
    }
    d->ticks++;
    if (!unknown && tg_dec_is_pos(price) && price.units <= PRICE_MAX_UNITS) {
        fire_stops(d, sym, price);
    }
}

static void setup(driver *d, recorder *fast, recorder *full, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->r.state = seed;
    d->now = 1700000000000LL;
    d->rec[0] = fast;
    d->rec[1] = full;
    fast->name = "fast";
    full->name = "exhaustive";
    fast->primary = true;
    tg_err err = {0};
    for (int k = 0; k < 2; k++) {
        recorder *rc = d->rec[k];
        rc->driver = d;
        rc->hash = FNV_BASIS;
        rc->sink_rng.state = seed ^ 0x5eedull;
        assert_int_equal(tg_book_new(POSITIONS_MAX, SYMBOLS + 8, &rc->book, &err), TG_OK);
    }
    tg_book_set_exhaustive(full->book, true);
    static const int64_t ticks[] = {1000000, 10000000, 1000, 50000000, 1, 500000};
    for (uint32_t s = 0; s < SYMBOLS; s++) {
        char name[16];
        snprintf(name, sizeof name, "SYM%02" PRIu32 "USDT", s);
        d->sym_id[s] = tg_book_symbol(fast->book, name);
        assert_int_equal(tg_book_symbol(full->book, name), d->sym_id[s]);
        d->tick[s] = tg_dec_from_units(ticks[rng_range(&d->r, 0, 5)]);
        d->price_ticks[s] = rng_range(&d->r, 1000, 100000);
    }
    new_regime(d);
}

/* The caller may change a position through tg_book_get(), as a restore from
 * the store would: both books get the same valid but unusual state — extremes
 * beyond the activation and breakeven levels while still inactive, a moved
 * candidate, a deferral of any kind. */
static void scramble(driver *d) {
    uint32_t slot = random_open_slot(d);
    if (slot == TG_BOOK_NONE) {
        return;
    }
    int64_t widen = rng_range(&d->r, 0, 800);
    int64_t deferred = rng_range(&d->r, 0, 2);
    int64_t shift = rng_range(&d->r, -20, 20);
    bool moved = one_in(&d->r, 2);
    d->what = "scramble";
    for (int k = 0; k < 2; k++) {
        tg_stop *s = tg_book_get(d->rec[k]->book, slot);
        assert_non_null(s);
        if (!tg_stop_is_open(s) || !(s->flags & TG_F_HIGH) || !(s->flags & TG_F_LOW)) {
            continue;
        }
        s->highest.units += s->highest.units / 10000 * widen;
        int64_t low = s->lowest.units - s->lowest.units / 10000 * widen / 2;
        s->lowest.units = low > 0 ? low : s->lowest.units;
        s->deferred = (uint8_t)deferred;
        if ((s->flags & TG_F_CANDIDATE) && s->candidate.units + shift * s->tick.units > 0) {
            s->candidate.units += shift * s->tick.units;
        }
        if (moved && !(s->flags & TG_F_MOVED)) {
            s->flags |= TG_F_MOVED;
            s->last_move_ms = d->now;
        }
        tg_err err = {0};
        if (tg_stop_check(s, &err) != TG_OK) {
            fail_msg("scramble made an invalid state: %s", err.msg);
        }
    }
}

static void run_step(driver *d) {
    if (one_in(&d->r, 500)) {
        scramble(d);
    }
    if (d->ticks % REGIME_TICKS == 0) {
        new_regime(d);
    }
    tick_both(d);
    if (one_in(&d->r, 2)) {
        answer_stops(d);
    }
    report_closes(d);
    if (one_in(&d->r, 3000) && d->open_count > 0) {
        close_both(d, random_open_slot(d), TG_R_EXTERNAL);
    }
    if (d->open_count < POSITIONS_TARGET && one_in(&d->r, 8)) {
        open_both(d);
    }
    if (one_in(&d->r, 1000) && d->open_count > 0) {
        d->what = "audit";
        audit_slot(d, random_open_slot(d));
    }
    if (d->ticks % AUDIT_TICKS == 0) {
        d->what = "full audit";
        for (uint32_t slot = 0; slot < POSITIONS_MAX; slot++) {
            audit_slot(d, slot);
        }
    }
    compare_step(d);
    d->step++;
}

static void fast_path_matches_exhaustive(void **state) {
    (void)state;
    driver *d = calloc(1, sizeof *d);
    recorder *fast = calloc(1, sizeof *fast);
    recorder *full = calloc(1, sizeof *full);
    assert_true(d != NULL && fast != NULL && full != NULL);
    setup(d, fast, full, 0x66617374706174ull);
    while (d->open_count < POSITIONS_TARGET) {
        open_both(d);
        compare_step(d);
    }
    while (d->ticks < TICKS_TOTAL) {
        run_step(d);
    }
    d->what = "final audit";
    for (uint32_t slot = 0; slot < POSITIONS_MAX; slot++) {
        audit_slot(d, slot);
    }
    compare_step(d);

    tg_book_stats a = tg_book_get_stats(fast->book);
    tg_book_stats b = tg_book_get_stats(full->book);
    assert_int_equal(a.ticks, b.ticks);
    assert_int_equal(a.unknown_symbol_ticks, b.unknown_symbol_ticks);
    assert_int_equal(a.open_positions, b.open_positions);
    assert_int_equal(a.position_updates + a.positions_dismissed, b.position_updates);
    assert_int_equal(b.positions_dismissed, 0);
    assert_int_equal(b.ticks_dismissed, 0);
    /* the fast path did most of the work, so the comparison means something */
    assert_true(a.ticks_dismissed * 2 > a.ticks);
    /* and the run reached every kind of decision */
    for (int t = TG_EV_CREATED; t <= TG_EV_CLOSED; t++) {
        if (fast->by_type[t] == 0) {
            fail_msg("no '%s' event in the run", tg_event_type_str((tg_event_type)t));
        }
    }
    for (int r = TG_R_PROFIT; r <= TG_R_EXTERNAL; r++) {
        if (fast->by_reason[r] == 0) {
            fail_msg("no event with reason '%s' in the run", tg_reason_str((tg_reason)r));
        }
    }
    printf("ticks %" PRIu64 " (%" PRIu64 " dismissed whole), pairs evaluated %" PRIu64
           " / dismissed %" PRIu64 ", events %" PRIu64 ", commands %" PRIu64 ", hash %016" PRIx64
           "\n",
           a.ticks, a.ticks_dismissed, a.position_updates, a.positions_dismissed, fast->events,
           fast->cmds, fast->hash);
    tg_book_free(fast->book);
    tg_book_free(full->book);
    free(fast);
    free(full);
    free(d);
}

/* A dismissed tick is still the position's last tick when it is read back. */
static void dismissed_tick_is_visible(void **state) {
    (void)state;
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(4, 2, &b, &err), TG_OK);
    tg_open o = {.side = TG_SIDE_LONG,
                 .entry = D("100"),
                 .quantity = D("1"),
                 .tick = D("0.01"),
                 .ts_ms = 0,
                 .params = tg_params_default()};
    tg_out out = {0};
    uint32_t id = 0;
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &id, &out, &err), TG_OK);
    tg_book_tick_name(b, "AUSDT", 10, D("100.50"), NULL, NULL);
    tg_book_tick_name(b, "AUSDT", 20, D("99.50"), NULL, NULL);
    tg_book_tick_name(b, "AUSDT", 30, D("100"), NULL, NULL); /* inside [99.50, 100.50] */
    tg_book_tick_name(b, "AUSDT", 40, D("100.25"), NULL, NULL);
    tg_book_stats st = tg_book_get_stats(b);
    assert_int_equal(st.ticks_dismissed, 2);
    assert_int_equal(st.positions_dismissed, 2);
    assert_int_equal(st.position_updates, 2);
    const tg_stop *s = tg_book_get(b, id);
    assert_int_equal(s->last_tick_ms, 40);
    assert_dec(s->last_price, "100.25");
    /* a stale tick is never dismissed: the position counts it */
    tg_book_tick_name(b, "AUSDT", 35, D("100"), NULL, NULL);
    assert_int_equal(tg_book_get(b, id)->stale_ticks, 1);
    tg_book_free(b);
}

typedef struct nest {
    tg_book *book;   /* the book ticking */
    uint32_t symbol; /* its only symbol */
    bool armed;      /* the next sink call ticks again, at price */
    tg_dec price;    /* the nested tick's price */
    int64_t ts;      /* the nested tick's time */
    int moved[2];    /* stop_moved events by position */
} nest;

static void nest_sink(void *ctx, const tg_stop *stop, const tg_out *out) {
    nest *n = ctx;
    for (int i = 0; i < out->n_events; i++) {
        n->moved[stop->id] += out->events[i].type == TG_EV_STOP_MOVED;
    }
    if (n->armed) {
        n->armed = false;
        tg_book_tick(n->book, n->symbol, n->ts, n->price, nest_sink, n);
    }
}

/* A sink that ticks the same symbol half-way through a tick: the summary the
 * inner tick builds does not see what the rest of the outer tick changes
 * (here: P1's move deferred by its rate limit), so it must not be used. */
static void nested_tick_leaves_no_stale_summary(void **state) {
    (void)state;
    int moved[2][2];
    for (int exhaustive = 0; exhaustive < 2; exhaustive++) {
        tg_book *b = NULL;
        tg_err err = {0};
        assert_int_equal(tg_book_new(2, 1, &b, &err), TG_OK);
        tg_book_set_exhaustive(b, exhaustive);
        tg_open o = {.side = TG_SIDE_LONG,
                     .entry = D("100"),
                     .quantity = D("1"),
                     .tick = D("0.01"),
                     .ts_ms = 0,
                     .params = tg_params_default()};
        o.params.activation_pct = D("1");
        o.params.callback_kind = TG_CALLBACK_PRICE;
        o.params.callback = D("1");
        o.params.min_improvement_pct = D("0");
        o.params.emergency_improvement_pct = D("50");
        o.params.min_update_interval_ms = 60000; /* P1 */
        tg_out out = {0};
        uint32_t p1 = 0, p2 = 0;
        assert_int_equal(tg_book_open(b, "AUSDT", &o, &p1, &out, &err), TG_OK);
        o.params.min_update_interval_ms = 120000; /* P2, ticked first (newest first) */
        assert_int_equal(tg_book_open(b, "AUSDT", &o, &p2, &out, &err), TG_OK);
        assert_true(p1 == 0 && p2 == 1);
        nest n = {.book = b, .symbol = tg_book_symbol_find(b, "AUSDT")};
        tg_book_tick(b, n.symbol, 1000, D("101"), nest_sink, &n); /* both activate */
        assert_int_equal(n.moved[0] + n.moved[1], 2);
        /* P2 skips (rate limit) and its sink ticks 101.00; then P1 gets 101.01 */
        n.armed = true;
        n.ts = 3000;
        n.price = D("101");
        tg_book_tick(b, n.symbol, 3000, D("101.01"), nest_sink, &n);
        tg_book_tick(b, n.symbol, 70000, D("101"), nest_sink, &n); /* P1's interval is over */
        moved[exhaustive][0] = n.moved[0];
        moved[exhaustive][1] = n.moved[1];
        tg_book_free(b);
    }
    assert_int_equal(moved[1][0], 2); /* the deferred move of P1 */
    assert_int_equal(moved[0][0], moved[1][0]);
    assert_int_equal(moved[0][1], moved[1][1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dismissed_tick_is_visible),
        cmocka_unit_test(nested_tick_leaves_no_stale_summary),
        cmocka_unit_test(fast_path_matches_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
