/* Property tests of the engine over millions of random ticks per side, with a
 * random exchange that confirms late, refuses, and triggers stops:
 *  - the stop on the exchange never loosens, and no looser stop is requested;
 *  - every requested stop is on the tick and on the safe side of the price;
 *  - tg_stop_check() holds after every input;
 *  - the same inputs give byte-identical events. */
#include <stdio.h>
#include <stdlib.h>

#include "engine_harness.h"

#define TICKS_PER_SIDE     1000000
#define TICKS_PER_POSITION 5000
#define PENDING_MAX        8

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

static tg_dec pct_hundredths(int64_t h) {
    return tg_dec_from_units(h * (TG_DEC_SCALE / 100));
}

static tg_params random_params(rng *r) {
    tg_params p = tg_params_default();
    p.activation_pct = pct_hundredths(rng_range(r, 0, 300));
    switch (rng_range(r, 0, 3)) {
    case 0:
        p.callback_kind = TG_CALLBACK_TICKS;
        p.callback = tg_dec_from_units(rng_range(r, 1, 50) * TG_DEC_SCALE);
        break;
    case 1:
        p.callback_kind = TG_CALLBACK_PERCENT;
        p.step_count = 3;
        p.steps[0] = (tg_step){pct_hundredths(0), pct_hundredths(200)};
        p.steps[1] = (tg_step){pct_hundredths(100), pct_hundredths(100)};
        p.steps[2] = (tg_step){pct_hundredths(300), pct_hundredths(30)};
        p.callback = pct_hundredths(250);
        break;
    default:
        p.callback_kind = TG_CALLBACK_PERCENT;
        p.callback = pct_hundredths(rng_range(r, 5, 300));
        break;
    }
    if (rng_range(r, 0, 2) == 0) {
        p.initial_stop_pct = pct_hundredths(rng_range(r, 50, 500));
    }
    if (rng_range(r, 0, 2) == 0) {
        p.breakeven_pct = pct_hundredths(rng_range(r, 20, 100));
        p.breakeven_offset_pct = pct_hundredths(rng_range(r, 0, 10));
    }
    if (rng_range(r, 0, 2) == 0) {
        p.momentum_pct_per_min = pct_hundredths(rng_range(r, 10, 200));
        p.momentum_factor = pct_hundredths(rng_range(r, 30, 100));
    }
    if (rng_range(r, 0, 3) == 0) {
        p.time_activation_ms = rng_range(r, 10, 600) * 1000;
    }
    p.min_update_interval_ms = rng_range(r, 0, 60) * 1000;
    p.min_improvement_pct = pct_hundredths(rng_range(r, 0, 20));
    p.emergency_improvement_pct = pct_hundredths(rng_range(r, 50, 200));
    p.on_crossed = (uint8_t)rng_range(r, 0, 1);
    return p;
}

typedef struct sim {
    rng r;                                 /* the run's randomness */
    tg_stop s;                             /* the position */
    tg_dec pending[PENDING_MAX];           /* stops sent, not yet answered */
    int n_pending;                         /* entries in pending */
    bool closing;                          /* a close_position was sent */
    uint64_t hash;                         /* FNV-1a over every event's JSON */
    uint64_t events;                       /* events seen */
    uint64_t set_stops;                    /* SET_STOP commands seen */
    uint64_t by_type[TG_EV_CLOSED + 1];    /* events by tg_event_type */
    uint64_t by_reason[TG_R_EXTERNAL + 1]; /* events by tg_reason */
} sim;

static bool tighter(const tg_stop *s, tg_dec a, tg_dec b) {
    return s->side == TG_SIDE_LONG ? tg_dec_gt(a, b) : tg_dec_lt(a, b);
}

static void check_state(const tg_stop *s) {
    tg_err err = {0};
    if (tg_stop_check(s, &err) != TG_OK) {
        fail_msg("invariant broken: %s", err.msg);
    }
}

/* Checks one input's output and plays the exchange's side of it. */
static void absorb(sim *m, const tg_out *out, tg_dec ref_price, tg_dec confirmed_before,
                   bool had_confirmed) {
    const tg_stop *s = &m->s;
    for (int i = 0; i < out->n_events; i++) {
        char buf[512];
        size_t n = tg_event_json(&out->events[i], 8, buf, sizeof buf);
        assert_true(n > 0);
        for (size_t k = 0; k < n; k++) {
            m->hash = (m->hash ^ (unsigned char)buf[k]) * 1099511628211ull;
        }
        m->events++;
        m->by_type[out->events[i].type]++;
        m->by_reason[out->events[i].reason]++;
    }
    for (int i = 0; i < out->n_cmds; i++) {
        const tg_cmd *c = &out->cmds[i];
        if (c->type == TG_CMD_SET_STOP) {
            m->set_stops++;
            assert_true(tg_dec_on_tick(c->price, s->tick));
            bool safe = s->side == TG_SIDE_LONG ? tg_dec_lt(c->price, ref_price)
                                                : tg_dec_gt(c->price, ref_price);
            assert_true(safe);
            if (had_confirmed) {
                assert_true(tighter(s, c->price, confirmed_before));
            }
            if (m->n_pending < PENDING_MAX) {
                m->pending[m->n_pending++] = c->price;
            }
        } else if (c->type == TG_CMD_CLOSE_POSITION) {
            m->closing = true;
        }
    }
}

/* Runs an input through fn-like code: snapshot, apply, check. */
#define STEP(m, ref, call)                                                                         \
    do {                                                                                           \
        tg_out out_ = {0};                                                                         \
        bool had_ = ((m)->s.flags & TG_F_CONFIRMED) != 0;                                          \
        tg_dec before_ = (m)->s.stop_confirmed;                                                    \
        call;                                                                                      \
        absorb((m), &out_, (ref), before_, had_);                                                  \
        if (had_) {                                                                                \
            assert_false(tighter(&(m)->s, before_, (m)->s.stop_confirmed));                        \
        }                                                                                          \
        check_state(&(m)->s);                                                                      \
    } while (0)

static void answer_exchange(sim *m, int64_t ts, tg_dec price) {
    while (m->n_pending > 0 && rng_range(&m->r, 0, 9) < 8) {
        /* answer a random pending request: mostly the oldest, sometimes late */
        int idx = rng_range(&m->r, 0, 4) == 0 ? (int)rng_range(&m->r, 0, m->n_pending - 1) : 0;
        tg_dec stop = m->pending[idx];
        memmove(&m->pending[idx], &m->pending[idx + 1],
                (size_t)(m->n_pending - idx - 1) * sizeof m->pending[0]);
        m->n_pending--;
        int64_t roll = rng_range(&m->r, 0, 99);
        if (roll < 85) {
            STEP(m, price, tg_stop_confirmed(&m->s, ts, stop, &out_));
        } else {
            tg_reject_kind kind = roll < 95 ? TG_REJECT_OTHER : TG_REJECT_WOULD_TRIGGER;
            STEP(m, price, tg_stop_rejected(&m->s, ts, stop, kind, &out_));
        }
    }
}

static void open_position(sim *m, tg_side side, int64_t ts, tg_dec *price, tg_dec *tick) {
    static const int64_t ticks[] = {1000000, 10000000, 1000, 50000000, 1};
    *tick = tg_dec_from_units(ticks[rng_range(&m->r, 0, 4)]);
    price->units = rng_range(&m->r, 1000, 100000) * tick->units;
    tg_open o = {.id = 7,
                 .side = side,
                 .entry = *price,
                 .quantity = tg_dec_from_units(1),
                 .tick = *tick,
                 .ts_ms = ts,
                 .params = random_params(&m->r)};
    m->n_pending = 0;
    m->closing = false;
    memset(&m->s, 0, sizeof m->s); /* a new position: nothing to compare with */
    tg_err err = {0};
    STEP(m, *price, assert_int_equal(tg_stop_open(&m->s, &o, &out_, &err), TG_OK));
}

static void run_side(sim *m, tg_side side) {
    int64_t ts = 1700000000000LL;
    tg_dec price, tick;
    open_position(m, side, ts, &price, &tick);
    for (int i = 0; i < TICKS_PER_SIDE; i++) {
        bool gap = rng_range(&m->r, 0, 999) == 0;
        /* about ±0.3 % a tick, ±10 % on a gap: positions activate, trail and trigger */
        int64_t k = price.units / tick.units / 300 + 1;
        int64_t step = gap ? rng_range(&m->r, -30 * k, 30 * k) : rng_range(&m->r, -k, k);
        int64_t floor_units = tick.units * 10;
        price.units = price.units + step * tick.units;
        if (price.units < floor_units) {
            price.units = floor_units;
        }
        ts += rng_range(&m->r, 0, 2000);
        int64_t tick_ts = rng_range(&m->r, 0, 499) == 0 ? ts - 5000 : ts; /* a stale tick */
        STEP(m, price, tg_stop_tick(&m->s, tick_ts, price, &out_));
        answer_exchange(m, ts, price);
        bool hit = (m->s.flags & TG_F_CONFIRMED) &&
                   (side == TG_SIDE_LONG ? tg_dec_le(price, m->s.stop_confirmed)
                                         : tg_dec_ge(price, m->s.stop_confirmed));
        if (tg_stop_is_open(&m->s) && hit) {
            STEP(m, price, tg_stop_triggered(&m->s, ts, price, &out_));
        }
        if (!tg_stop_is_open(&m->s) || m->closing) {
            STEP(m, price, tg_stop_closed(&m->s, ts, price, TG_R_STOP, &out_));
        }
        if (m->s.state == TG_STATE_CLOSED || i % TICKS_PER_POSITION == TICKS_PER_POSITION - 1) {
            open_position(m, side, ts, &price, &tick);
        }
    }
}

static sim *run(uint64_t seed, tg_side side) {
    sim *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->r.state = seed;
    m->hash = 14695981039346656037ull;
    run_side(m, side);
    return m;
}

static void property_side(tg_side side) {
    sim *a = run(0x7261696C67756172ull + side, side);
    sim *b = run(0x7261696C67756172ull + side, side);
    /* the run reached every kind of decision */
    for (int t = TG_EV_CREATED; t <= TG_EV_CLOSED; t++) {
        if (a->by_type[t] == 0) {
            fail_msg("no '%s' event in the run", tg_event_type_str((tg_event_type)t));
        }
    }
    for (int r = TG_R_RATE_LIMITED; r <= TG_R_NOT_IMPROVED; r++) {
        if (a->by_reason[r] == 0) {
            fail_msg("no '%s' skip in the run", tg_reason_str((tg_reason)r));
        }
    }
    assert_int_equal(a->events, b->events);
    assert_int_equal(a->hash, b->hash); /* byte-identical events */
    sim *c = run(12345 + side, side);
    assert_int_not_equal(a->hash, c->hash); /* the hash does see the inputs */
    printf("%s: %llu events, %llu stop requests, hash %016llx\n", tg_side_str(side),
           (unsigned long long)a->events, (unsigned long long)a->set_stops,
           (unsigned long long)a->hash);
    free(a);
    free(b);
    free(c);
}

static void property_long(void **state) {
    (void)state;
    property_side(TG_SIDE_LONG);
}

static void property_short(void **state) {
    (void)state;
    property_side(TG_SIDE_SHORT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(property_long),
        cmocka_unit_test(property_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
