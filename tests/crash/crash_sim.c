#include "crash/crash_sim.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRICE_STEP_DIV   400  /* largest tick-to-tick move: price / 400 (0.25 %) */
#define PRICE_TICKS_MIN  100  /* a price never walks below this many ticks */
#define LATENCY_US_BASE  100  /* simulated exchange round trip: base ... */
#define LATENCY_US_RANGE 5000 /* ... plus up to this */
#define GEN_BITS         20   /* tg_stop.id = slot << GEN_BITS | generation */
#define VARIANTS         4    /* parameter sets the positions rotate through */

/* An instrument: its tick size and where its first price lies. */
typedef struct instrument {
    const char *tick;   /* tick size */
    int64_t base_ticks; /* first price, in ticks, ± 10 % */
} instrument;

static const instrument instruments[] = {
    {"0.01", 10000},    /* ~100 */
    {"0.5", 60000},     /* ~30000 */
    {"0.00001", 50000}, /* ~0.5 */
};
#define INSTRUMENTS (sizeof instruments / sizeof instruments[0])

static void fatal(const char *what, const char *detail) {
    fprintf(stderr, "crash_sim: %s: %s\n", what, detail);
    abort();
}

static tg_dec dec(const char *text) {
    tg_dec d;
    if (tg_dec_parse_cstr(text, &d) != TG_DEC_OK) {
        fatal("bad decimal", text);
    }
    return d;
}

/* splitmix64's finalizer: a good 64-bit mix, so that neighbouring keys give
 * unrelated draws. */
static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The random draw for (turn, slot, salt): the same wherever a run stopped. */
static uint64_t draw(uint64_t seed, int64_t turn, uint32_t slot, uint32_t salt) {
    return mix(seed ^ mix((uint64_t)turn ^ mix(((uint64_t)slot << 32) | salt)));
}

static const instrument *slot_instrument(uint32_t slot) {
    return &instruments[slot % INSTRUMENTS];
}

/* The parameters of a position: four sets in rotation, each with an initial
 * stop so that every position is protected and eventually stopped out. */
static tg_params variant_params(const instrument *ins, unsigned variant) {
    tg_params p = tg_params_default();
    p.min_update_interval_ms = 0;
    p.initial_stop_pct = dec("2");
    switch (variant) {
    case 1:
        p.breakeven_pct = dec("0.8");
        p.breakeven_offset_pct = dec("0.1");
        p.callback = dec("0.4");
        break;
    case 2:
        p.steps[0] = (tg_step){dec("1"), dec("0.6")};
        p.steps[1] = (tg_step){dec("2"), dec("0.4")};
        p.steps[2] = (tg_step){dec("3"), dec("0.25")};
        p.step_count = 3;
        p.min_improvement_pct = dec("0.02");
        p.emergency_improvement_pct = dec("0.5");
        break;
    case 3:
        p.callback_kind = TG_CALLBACK_TICKS;
        p.callback = tg_dec_from_units(ins->base_ticks / 250 * TG_DEC_SCALE); /* ~0.4 % */
        p.momentum_pct_per_min = dec("0.3");
        p.momentum_factor = dec("0.5");
        p.time_activation_ms = 20000;
        p.min_improvement_pct = dec("0");
        break;
    default:
        break;
    }
    return p;
}

tg_status crash_sim_init(crash_sim *sim, uint64_t seed, uint32_t positions, tg_err *err) {
    assert(sim != NULL);
    memset(sim, 0, sizeof *sim);
    if (positions == 0 || positions > CRASH_POSITIONS_MAX) {
        return tg_err_set(err, TG_E_INVALID, "crash_sim: %u positions; give 1..%d", positions,
                          CRASH_POSITIONS_MAX);
    }
    sim->rows = calloc(positions, sizeof *sim->rows);
    if (sim->rows == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "crash_sim: out of memory for %u positions", positions);
    }
    sim->seed = seed;
    sim->positions = positions;
    sim->turn = CRASH_NO_TURN;
    return TG_OK;
}

void crash_sim_free(crash_sim *sim) {
    free(sim->rows);
    sim->rows = NULL;
}

bool crash_key_parse(const char *key, uint32_t *slot, uint32_t *gen) {
    unsigned s = 0, g = 0;
    int used = 0;
    if (sscanf(key, "p%4u.%6u%n", &s, &g, &used) != 2 || used != 12 || key[used] != '\0') {
        return false;
    }
    *slot = s;
    *gen = g;
    return true;
}

static void emit_out(const crash_sink *sink, const tg_store_row *row, const tg_out *out,
                     int64_t latency_us) {
    if (out->n_events > 0 || out->n_cmds > 0) {
        sink->out(sink->ctx, row->position_key, out, latency_us);
    }
}

/* The simulated exchange: every SET_STOP is acknowledged at once and gets a
 * new order id. Returns true when the engine asked to close the position. */
static bool answer(crash_sim *sim, tg_store_row *row, int64_t turn, uint32_t slot,
                   const tg_out *out, const crash_sink *sink) {
    int64_t ts = turn * CRASH_TURN_MS;
    bool close = false;
    for (int i = 0; i < out->n_cmds; i++) {
        const tg_cmd *c = &out->cmds[i];
        if (c->type == TG_CMD_CLOSE_POSITION) {
            close = true;
        }
        if (c->type != TG_CMD_SET_STOP) {
            continue;
        }
        tg_out ack = {0};
        tg_stop_confirmed(&row->stop, ts, c->price, &ack);
        int64_t latency = LATENCY_US_BASE + (int64_t)(draw(sim->seed, turn, slot, 7 + (uint32_t)i) %
                                                      LATENCY_US_RANGE);
        emit_out(sink, row, &ack, latency);
        snprintf(row->order_id, sizeof row->order_id, "X%" PRIu32 "-%" PRIu32, row->stop.id,
                 row->stop.update_count);
        snprintf(row->client_order_id, sizeof row->client_order_id, "tg-%.16s-%" PRIu32,
                 row->position_key, row->stop.update_count);
        sim->set_stops++;
    }
    return close;
}

/* Opens generation gen in slot at entry; the row is staged by the caller. */
static void open_slot(crash_sim *sim, uint32_t slot, uint32_t gen, int64_t turn,
                      int64_t entry_ticks, const crash_sink *sink) {
    const instrument *ins = slot_instrument(slot);
    tg_store_row *row = &sim->rows[slot];
    memset(row, 0, sizeof *row);
    snprintf(row->account, sizeof row->account, "%s", CRASH_ACCOUNT);
    snprintf(row->exchange, sizeof row->exchange, "%s", "sim");
    snprintf(row->symbol, sizeof row->symbol, "S%03" PRIu32 "USDT", slot);
    snprintf(row->position_key, sizeof row->position_key, "p%04" PRIu32 ".%06" PRIu32, slot, gen);
    tg_dec tick = dec(ins->tick);
    bool is_short = (draw(sim->seed, -2, slot, gen) & 1) != 0;
    tg_open o = {
        .id = slot << GEN_BITS | (gen & ((1u << GEN_BITS) - 1)),
        .side = is_short ? TG_SIDE_SHORT : TG_SIDE_LONG,
        .entry = tg_dec_from_units(entry_ticks * tick.units),
        .quantity = tg_dec_from_units((int64_t)(1 + gen % 7) * TG_DEC_SCALE / 4),
        .tick = tick,
        .ts_ms = turn * CRASH_TURN_MS,
        .params = variant_params(ins, (slot + gen) % VARIANTS),
    };
    tg_out out = {0};
    tg_err err = {0};
    if (tg_stop_open(&row->stop, &o, &out, &err) != TG_OK) {
        fatal("opening a position", err.msg);
    }
    emit_out(sink, row, &out, -1);
    if (answer(sim, row, turn, slot, &out, sink)) {
        fatal("opening a position", "the engine closed it at once");
    }
}

/* The next price of a slot, in ticks: a random walk from the last price. */
static int64_t next_price(const crash_sim *sim, uint32_t slot, int64_t turn, int64_t last_ticks) {
    int64_t step_max = last_ticks / PRICE_STEP_DIV;
    step_max = step_max < 1 ? 1 : step_max;
    uint64_t r = draw(sim->seed, turn, slot, 1);
    int64_t step = (int64_t)(r % (uint64_t)(2 * step_max + 1)) - step_max;
    int64_t price = last_ticks + step;
    return price < PRICE_TICKS_MIN ? PRICE_TICKS_MIN : price;
}

static bool stop_crossed(const tg_stop *s, tg_dec price) {
    if ((s->flags & TG_F_CONFIRMED) == 0) {
        return false;
    }
    return s->side == TG_SIDE_LONG ? tg_dec_le(price, s->stop_confirmed)
                                   : tg_dec_ge(price, s->stop_confirmed);
}

/* The position in slot is gone: persist its last state, open the next one. */
static void replace(crash_sim *sim, uint32_t slot, int64_t turn, int64_t price_ticks,
                    const crash_sink *sink) {
    uint32_t s = 0, gen = 0;
    bool ok = crash_key_parse(sim->rows[slot].position_key, &s, &gen);
    assert(ok && s == slot);
    assert(sim->rows[slot].stop.state == TG_STATE_CLOSED);
    sink->row(sink->ctx, &sim->rows[slot]);
    open_slot(sim, slot, gen + 1, turn, price_ticks, sink);
}

static void play_slot(crash_sim *sim, uint32_t slot, int64_t turn, const crash_sink *sink) {
    tg_store_row *row = &sim->rows[slot];
    tg_stop *s = &row->stop;
    int64_t ts = turn * CRASH_TURN_MS;
    tg_dec last = (s->flags & TG_F_LAST_PRICE) ? s->last_price : s->entry;
    assert(last.units % s->tick.units == 0);
    int64_t ticks = next_price(sim, slot, turn, last.units / s->tick.units);
    tg_dec price = tg_dec_from_units(ticks * s->tick.units);
    tg_out out = {0};
    if (stop_crossed(s, price)) {
        tg_stop_triggered(s, ts, price, &out);
        emit_out(sink, row, &out, -1);
        memset(&out, 0, sizeof out);
        tg_stop_closed(s, ts, price, TG_R_STOP, &out);
        emit_out(sink, row, &out, -1);
        sim->triggers++;
        replace(sim, slot, turn, ticks, sink);
        return;
    }
    tg_stop_tick(s, ts, price, &out);
    emit_out(sink, row, &out, -1);
    if (answer(sim, row, turn, slot, &out, sink)) {
        memset(&out, 0, sizeof out);
        tg_stop_closed(s, ts, price, TG_R_EXTERNAL, &out);
        emit_out(sink, row, &out, -1);
        replace(sim, slot, turn, ticks, sink);
    }
}

void crash_sim_step(crash_sim *sim, const crash_sink *sink) {
    assert(sim != NULL && sink != NULL);
    int64_t turn = sim->turn + 1;
    for (uint32_t slot = 0; slot < sim->positions; slot++) {
        if (turn == 0) {
            const instrument *ins = slot_instrument(slot);
            int64_t spread = ins->base_ticks / 5;
            int64_t entry =
                ins->base_ticks - spread / 2 + (int64_t)(draw(sim->seed, -1, slot, 0) % spread);
            open_slot(sim, slot, 0, 0, entry, sink);
        } else {
            play_slot(sim, slot, turn, sink);
        }
        sink->row(sink->ctx, &sim->rows[slot]);
    }
    /* Every slot's row was staged once: this turn's commit advances each. */
    for (uint32_t slot = 0; slot < sim->positions; slot++) {
        sim->rows[slot].version++;
    }
    sim->turn = turn;
}

void crash_sim_advance(crash_sim *sim, int64_t turn, const crash_sink *sink) {
    assert(turn >= sim->turn);
    while (sim->turn < turn) {
        crash_sim_step(sim, sink);
    }
}

tg_status crash_sim_restore_row(crash_sim *sim, const tg_store_row *row, tg_err *err) {
    assert(sim != NULL && row != NULL);
    if (row->stop.state == TG_STATE_CLOSED) {
        return TG_OK;
    }
    uint32_t slot = 0, gen = 0;
    if (!crash_key_parse(row->position_key, &slot, &gen) || slot >= sim->positions) {
        return tg_err_set(err, TG_E_STATE, "crash_sim: stored key '%s' is not one of %u slots",
                          row->position_key, sim->positions);
    }
    if (sim->rows[slot].position_key[0] != '\0') {
        return tg_err_set(err, TG_E_STATE, "crash_sim: slot %u holds two open positions: %s, %s",
                          slot, sim->rows[slot].position_key, row->position_key);
    }
    if (row->stop.state > TG_STATE_ACTIVE) {
        return tg_err_set(err, TG_E_STATE, "crash_sim: stored position '%s' is %s, not open",
                          row->position_key, tg_state_str((tg_state)row->stop.state));
    }
    sim->rows[slot] = *row;
    return TG_OK;
}

tg_status crash_sim_restore_end(crash_sim *sim, tg_err *err) {
    assert(sim != NULL);
    uint32_t restored = 0;
    int64_t last_tick_ms = -1;
    for (uint32_t slot = 0; slot < sim->positions; slot++) {
        const tg_store_row *row = &sim->rows[slot];
        if (row->position_key[0] == '\0') {
            continue;
        }
        if (restored > 0 && row->stop.last_tick_ms != last_tick_ms) {
            return tg_err_set(err, TG_E_STATE,
                              "crash_sim: '%s' was last ticked at %" PRId64
                              " ms, others at %" PRId64 " ms: the stored turn is torn",
                              row->position_key, row->stop.last_tick_ms, last_tick_ms);
        }
        last_tick_ms = row->stop.last_tick_ms;
        restored++;
    }
    if (restored == 0) {
        sim->turn = CRASH_NO_TURN;
        return TG_OK;
    }
    if (restored != sim->positions) {
        return tg_err_set(err, TG_E_STATE, "crash_sim: %u of %u slots have an open position",
                          restored, sim->positions);
    }
    if (last_tick_ms % CRASH_TURN_MS != 0) {
        return tg_err_set(err, TG_E_STATE, "crash_sim: last tick at %" PRId64 " ms is not a turn",
                          last_tick_ms);
    }
    sim->turn = last_tick_ms / CRASH_TURN_MS;
    return TG_OK;
}

int crash_out_entries(const char *position_key, const tg_out *out, int64_t latency_us,
                      tg_journal_entry *entries) {
    assert(position_key != NULL && out != NULL && entries != NULL);
    int n = 0;
    int64_t ts = 0;
    for (int i = 0; i < out->n_events; i++) {
        tg_journal_entry *e = &entries[n++];
        memset(e, 0, sizeof *e);
        snprintf(e->position_key, sizeof e->position_key, "%s", position_key);
        e->kind = TG_JOURNAL_EVENT;
        e->event = out->events[i];
        e->ts_ms = ts = out->events[i].ts_ms;
        e->latency_us = latency_us;
    }
    for (int i = 0; i < out->n_cmds; i++) {
        if (out->cmds[i].type == TG_CMD_PERSIST) {
            continue; /* carried out by the write itself */
        }
        tg_journal_entry *e = &entries[n++];
        memset(e, 0, sizeof *e);
        snprintf(e->position_key, sizeof e->position_key, "%s", position_key);
        e->kind = TG_JOURNAL_COMMAND;
        e->command = out->cmds[i];
        e->ts_ms = ts;
        e->latency_us = latency_us;
    }
    assert(n <= CRASH_OUT_ENTRIES_MAX);
    return n;
}

bool crash_entry_same(const tg_journal_entry *a, const tg_journal_entry *b) {
    if (strcmp(a->position_key, b->position_key) != 0 || a->kind != b->kind ||
        a->ts_ms != b->ts_ms || a->latency_us != b->latency_us) {
        return false;
    }
    if (a->kind == TG_JOURNAL_COMMAND) {
        const tg_cmd *x = &a->command, *y = &b->command;
        bool priced = x->type == TG_CMD_SET_STOP || x->type == TG_CMD_CANCEL_STOP;
        return x->type == y->type && x->reason == y->reason &&
               (!priced || tg_dec_eq(x->price, y->price));
    }
    const tg_event *x = &a->event, *y = &b->event;
    return x->type == y->type && x->reason == y->reason && x->state == y->state &&
           x->has == y->has && (!(x->has & TG_EVH_PRICE) || tg_dec_eq(x->price, y->price)) &&
           (!(x->has & TG_EVH_STOP) || tg_dec_eq(x->stop, y->stop)) &&
           (!(x->has & TG_EVH_PREV) || tg_dec_eq(x->prev_stop, y->prev_stop));
}
