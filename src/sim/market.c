/* The emulated market: instruments, clocks, accounts, positions, open and
 * closed orders, unprotected windows, the request log, fault rules. Triggers
 * on the mark price and the events they emit live in trigger.c. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

/* Filters follow the shape of the live exchanges; the numbers are close to
 * theirs but are the emulator's own (docs/sim.md lists them). */
static const struct {
    const char *symbol, *base, *tick, *min_price, *max_price, *step, *min_qty, *max_qty, *max_mkt,
        *notional, *mark0;
    int price_precision;
} builtin[] = {
    {"BTCUSDT", "BTC", "0.10", "261.10", "809484", "0.001", "0.001", "1000", "120", "100",
     "50000.00", 2},
    {"ETHUSDT", "ETH", "0.01", "39.86", "306177", "0.001", "0.001", "10000", "2000", "20",
     "3000.00", 2},
    {"1000PEPEUSDT", "1000PEPE", "0.0000001", "0.0000010", "200", "1", "1", "80000000", "50000000",
     "5", "0.0100000", 7},
    {"SOLUSDT", "SOL", "0.01", "0.42", "6857", "1", "1", "1000000", "5000", "5", "150.00", 4},
    {"XRPUSDT", "XRP", "0.0001", "0.0143", "100000", "0.1", "0.1", "10000000", "2000000", "5",
     "0.6000", 4},
};
#define BUILTIN_COUNT (sizeof builtin / sizeof builtin[0])

const char *sim_venue_name(sim_venue v) {
    assert(v == SIM_BINANCE || v == SIM_BYBIT);
    return v == SIM_BINANCE ? "binance" : "bybit";
}

static uint32_t symbol_hash(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

int sim_instrument_find(const tg_sim *sim, const char *symbol) {
    assert(sim != NULL);
    if (symbol == NULL || sim->inst_hash == NULL) {
        return -1;
    }
    uint32_t h = symbol_hash(symbol);
    for (uint32_t k = 0; k < SIM_INST_HASH; k++) {
        int32_t i = sim->inst_hash[(h + k) % SIM_INST_HASH];
        if (i < 0) {
            return -1;
        }
        if (strcmp(sim->inst[i].symbol, symbol) == 0) {
            return (int)i;
        }
    }
    return -1;
}

tg_dec sim_idec(const char *literal) {
    tg_dec d = {0};
    tg_dec_status st = tg_dec_parse_cstr(literal, &d);
    assert(st == TG_DEC_OK);
    (void)st;
    return d;
}

int sim_price_dp(const tg_sim *sim, int symbol) {
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    return sim->inst[symbol].price_dp;
}

int sim_price_precision(const tg_sim *sim, int symbol) {
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    return sim->inst[symbol].price_precision;
}

int sim_qty_dp(const tg_sim *sim, int symbol) {
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    return sim->inst[symbol].qty_dp;
}

/* Parses the text fields of in into its decimals; false when one is not a
 * positive decimal. */
static bool inst_parse(sim_instrument *in) {
    assert(in != NULL);
    const char *text[] = {in->tick,    in->min_price, in->max_price, in->step,
                          in->min_qty, in->max_qty,   in->notional,  in->mark0};
    tg_dec *dec[] = {&in->tick_d,    &in->min_price_d, &in->max_price_d, &in->step_d,
                     &in->min_qty_d, &in->max_qty_d,   &in->notional_d,  NULL};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        tg_dec d;
        if (tg_dec_parse_cstr(text[i], &d) != TG_DEC_OK || !tg_dec_is_pos(d)) {
            return false;
        }
        if (dec[i] != NULL) {
            *dec[i] = d;
        }
    }
    in->price_dp = tg_dec_places(in->tick_d);
    in->qty_dp = tg_dec_places(in->step_d);
    return true;
}

void sim_positions_attach(tg_sim *sim) {
    assert(sim->pos_block != NULL);
    for (size_t a = 0; a < SIM_ACCOUNTS_MAX; a++) {
        sim->acct[a].pos = sim->pos_block + a * sim->inst_count;
    }
}

/* Rebuilds the symbol hash and resizes the positions of every account slot
 * (all flat: callers refuse to change instruments under open positions). */
static tg_status inst_commit(tg_sim *sim, sim_instrument *inst, size_t count, tg_err *err) {
    assert(sim != NULL);
    assert(count > 0 && count <= SIM_SYMBOLS_MAX);
    int32_t *hash = sim->inst_hash != NULL ? sim->inst_hash : malloc(SIM_INST_HASH * sizeof *hash);
    uint32_t *start = calloc(count + 1, sizeof *start);
    sim_position *pos = calloc(SIM_ACCOUNTS_MAX * count, sizeof *pos);
    if (hash == NULL || start == NULL || pos == NULL) {
        if (hash != sim->inst_hash) {
            free(hash);
        }
        free(start);
        free(pos);
        free(inst);
        return tg_err_set(err, TG_E_NOMEM, "out of memory for %zu instruments", count);
    }
    for (size_t i = 0; i < SIM_INST_HASH; i++) {
        hash[i] = -1;
    }
    for (size_t i = 0; i < count; i++) {
        uint32_t h = symbol_hash(inst[i].symbol);
        while (hash[h % SIM_INST_HASH] >= 0) {
            h++;
        }
        hash[h % SIM_INST_HASH] = (int32_t)i;
    }
    size_t kept = sim->inst != NULL ? sim->inst_count : 0; /* their marks stay */
    free(sim->inst);
    free(sim->by_symbol_start);
    free(sim->pos_block);
    sim->inst = inst;
    sim->inst_count = count;
    sim->inst_hash = hash;
    sim->by_symbol_start = start;
    sim->by_symbol_stale = true;
    sim->pos_block = pos;
    sim_positions_attach(sim);
    for (size_t i = kept; i < count; i++) {
        sim->mark[i] = sim_idec(inst[i].mark0);
        sim->mark_prev[i] = sim->mark[i];
    }
    return TG_OK;
}

tg_status sim_instruments_init(tg_sim *sim, tg_err *err) {
    assert(sim != NULL);
    sim_instrument *inst = calloc(BUILTIN_COUNT, sizeof *inst);
    if (inst == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "out of memory for the instruments");
    }
    for (size_t i = 0; i < BUILTIN_COUNT; i++) {
        sim_instrument *in = &inst[i];
        sim_strlcpy(in->symbol, builtin[i].symbol, sizeof in->symbol);
        sim_strlcpy(in->base, builtin[i].base, sizeof in->base);
        sim_strlcpy(in->quote, "USDT", sizeof in->quote);
        sim_strlcpy(in->tick, builtin[i].tick, sizeof in->tick);
        sim_strlcpy(in->min_price, builtin[i].min_price, sizeof in->min_price);
        sim_strlcpy(in->max_price, builtin[i].max_price, sizeof in->max_price);
        sim_strlcpy(in->step, builtin[i].step, sizeof in->step);
        sim_strlcpy(in->min_qty, builtin[i].min_qty, sizeof in->min_qty);
        sim_strlcpy(in->max_qty, builtin[i].max_qty, sizeof in->max_qty);
        sim_strlcpy(in->max_mkt, builtin[i].max_mkt, sizeof in->max_mkt);
        sim_strlcpy(in->notional, builtin[i].notional, sizeof in->notional);
        sim_strlcpy(in->mark0, builtin[i].mark0, sizeof in->mark0);
        in->price_precision = builtin[i].price_precision;
        bool ok = inst_parse(in);
        assert(ok);
        (void)ok;
    }
    sim->inst_builtin = BUILTIN_COUNT;
    return inst_commit(sim, inst, BUILTIN_COUNT, err);
}

/* Upper-case letters and digits, 1..max bytes. */
static bool name_ok(const char *s, size_t max) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9'))) {
            return false;
        }
    }
    return n >= 1 && n <= max;
}

/* dst = v × factor as text with places decimals; false when it overflows. */
static bool dec_scaled(tg_dec v, int64_t factor, int places, char *dst, size_t cap) {
    tg_dec f, out;
    char text[TG_DEC_STR_MAX];
    if (tg_dec_from_int(factor, &f) != TG_DEC_OK ||
        tg_dec_mul(v, f, TG_ROUND_FLOOR, &out) != TG_DEC_OK ||
        tg_dec_format(out, places, text) >= cap) {
        return false;
    }
    sim_strlcpy(dst, text, cap);
    return true;
}

/* Fills in the filters of a generated instrument from spec: the tick is the
 * lowest price, 10,000 × start the highest; the step is the smallest
 * quantity, 10^7 steps the largest (10^6 for market orders). */
static bool inst_from_spec(const sim_inst_spec *spec, int64_t n, int width, sim_instrument *in) {
    assert(in != NULL);
    tg_dec tick, step, start;
    if (tg_dec_parse_cstr(spec->tick, &tick) != TG_DEC_OK ||
        tg_dec_parse_cstr(spec->step, &step) != TG_DEC_OK ||
        tg_dec_parse_cstr(spec->start, &start) != TG_DEC_OK) {
        return false;
    }
    int pdp = tg_dec_places(tick), qdp = tg_dec_places(step);
    int w = snprintf(in->base, sizeof in->base, "%s%0*lld", spec->prefix, width, (long long)n);
    int s = snprintf(in->symbol, sizeof in->symbol, "%s%s", in->base, spec->quote);
    if (w < 0 || (size_t)w >= sizeof in->base || s < 0 || (size_t)s >= SIM_INST_TEXT_MAX) {
        return false;
    }
    sim_strlcpy(in->quote, spec->quote, sizeof in->quote);
    sim_strlcpy(in->tick, spec->tick, sizeof in->tick);
    sim_strlcpy(in->min_price, spec->tick, sizeof in->min_price);
    sim_strlcpy(in->step, spec->step, sizeof in->step);
    sim_strlcpy(in->min_qty, spec->step, sizeof in->min_qty);
    sim_strlcpy(in->notional, "5", sizeof in->notional);
    sim_strlcpy(in->mark0, spec->start, sizeof in->mark0);
    in->price_precision = pdp;
    return dec_scaled(start, 10000, pdp, in->max_price, sizeof in->max_price) &&
           dec_scaled(step, 10000000, qdp, in->max_qty, sizeof in->max_qty) &&
           dec_scaled(step, 1000000, qdp, in->max_mkt, sizeof in->max_mkt) && inst_parse(in);
}

static bool spec_same(const sim_inst_spec *a, const sim_inst_spec *b) {
    return a->count == b->count && strcmp(a->prefix, b->prefix) == 0 &&
           strcmp(a->quote, b->quote) == 0 && strcmp(a->tick, b->tick) == 0 &&
           strcmp(a->step, b->step) == 0 && strcmp(a->start, b->start) == 0;
}

static bool market_busy(const tg_sim *sim) {
    assert(sim != NULL);
    for (size_t i = 0; i < sim->orders_max; i++) {
        if (sim->orders[i].live) {
            return true;
        }
    }
    for (size_t i = 0; i < SIM_ACCOUNTS_MAX * sim->inst_count; i++) {
        if (!tg_dec_is_zero(sim->pos_block[i].size)) {
            return true;
        }
    }
    return false;
}

tg_status sim_instruments_generate(tg_sim *sim, const sim_inst_spec *spec, tg_err *err) {
    assert(sim != NULL && spec != NULL);
    if (sim->inst_spec.count > 0) {
        return spec_same(&sim->inst_spec, spec)
                   ? TG_OK
                   : tg_err_set(err, TG_E_STATE,
                                "instruments: %lld were generated already with other settings",
                                (long long)sim->inst_spec.count);
    }
    int64_t room = (int64_t)(SIM_SYMBOLS_MAX - sim->inst_builtin);
    if (spec->count < 1 || spec->count > room) {
        return tg_err_set(err, TG_E_INVALID, "instruments: count must be 1..%lld", (long long)room);
    }
    if (!name_ok(spec->prefix, 8) || !name_ok(spec->quote, 8)) {
        return tg_err_set(err, TG_E_INVALID,
                          "instruments: prefix and quote must be 1..8 of A-Z and 0-9");
    }
    tg_dec tick, start;
    if (tg_dec_parse_cstr(spec->tick, &tick) != TG_DEC_OK || !tg_dec_is_pos(tick) ||
        tg_dec_parse_cstr(spec->start, &start) != TG_DEC_OK || !tg_dec_is_pos(start) ||
        !tg_dec_on_tick(start, tick)) {
        return tg_err_set(err, TG_E_INVALID,
                          "instruments: tick and start must be positive decimals, start on the "
                          "tick");
    }
    if (market_busy(sim)) {
        return tg_err_set(err, TG_E_STATE,
                          "instruments: positions or orders are open; generate them first");
    }
    size_t count = sim->inst_builtin + (size_t)spec->count;
    sim_instrument *inst = calloc(count, sizeof *inst);
    if (inst == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "out of memory for %zu instruments", count);
    }
    memcpy(inst, sim->inst, sim->inst_builtin * sizeof *inst);
    int width = spec->count >= 10000 ? 5 : 4;
    for (int64_t n = 1; n <= spec->count; n++) {
        if (!inst_from_spec(spec, n, width, &inst[sim->inst_builtin + (size_t)n - 1])) {
            free(inst);
            return tg_err_set(err, TG_E_INVALID,
                              "instruments: symbol %lld does not fit %d bytes, or step is not a "
                              "positive decimal",
                              (long long)n, SIM_INST_TEXT_MAX - 1);
        }
    }
    for (size_t i = sim->inst_builtin; i < count; i++) {
        if (sim_instrument_find(sim, inst[i].symbol) >= 0) {
            /* the sentence names the symbol: written before its memory goes */
            tg_err_set(err, TG_E_INVALID, "instruments: %s is a built-in symbol", inst[i].symbol);
            free(inst);
            return TG_E_INVALID;
        }
    }
    tg_status st = inst_commit(sim, inst, count, err);
    if (st == TG_OK) {
        sim->inst_spec = *spec;
    }
    return st;
}

const char *sim_otype_name(sim_otype t) {
    switch (t) {
    case SIM_OT_LIMIT:
        return "LIMIT";
    case SIM_OT_MARKET:
        return "MARKET";
    case SIM_OT_STOP_MARKET:
        return "STOP_MARKET";
    case SIM_OT_TAKE_PROFIT_MARKET:
        return "TAKE_PROFIT_MARKET";
    }
    return "UNKNOWN";
}

static int64_t clock_us(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sim_mono_us(const tg_sim *sim) {
    assert(sim != NULL);
    return clock_us(CLOCK_MONOTONIC) - sim->mono0_us;
}

int64_t sim_now_ms(const tg_sim *sim) {
    assert(sim != NULL);
    return clock_us(CLOCK_REALTIME) / 1000 + sim->clock_offset_ms;
}

uint64_t sim_rand(tg_sim *sim) {
    assert(sim != NULL);
    /* splitmix64: a seed of 0 still gives a good sequence */
    uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_market_init(tg_sim *sim) {
    assert(sim != NULL && sim->orders != NULL);
    assert(sim->inst_count > 0 && sim->inst_count <= SIM_SYMBOLS_MAX);
    for (size_t i = 0; i < sim->inst_count; i++) {
        sim->mark[i] = sim_idec(sim->inst[i].mark0);
        sim->mark_prev[i] = sim->mark[i];
    }
    memset(sim->orders, 0, sim->orders_max * sizeof *sim->orders);
    sim->by_symbol_stale = true;
    memset(sim->history, 0, sizeof sim->history);
    sim->history_count = 0;
    sim->next_order_id = 1000000 + (sim_rand(sim) % 1000000) * 100;
    sim->rate.bn_weight_max = 2400;
    sim->rate.bn_orders_max = 1200;
    sim->rate.bn_ban_ms = SIM_BN_BAN_MS;
}

int sim_account_by_key(const tg_sim *sim, sim_venue v, const char *key) {
    assert(sim != NULL);
    if (key == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sim->acct_count; i++) {
        if (sim->acct[i].venue == v && strcmp(sim->acct[i].key, key) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int sim_account_by_name(const tg_sim *sim, const char *name) {
    assert(sim != NULL);
    if (name == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sim->acct_count; i++) {
        if (strcmp(sim->acct[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

sim_order *sim_order_new(tg_sim *sim) {
    assert(sim != NULL && sim->orders != NULL);
    assert(sim->orders_max >= 1 && sim->orders_max <= SIM_ORDERS_MAX);
    for (size_t i = 0; i < sim->orders_max; i++) {
        if (!sim->orders[i].live) {
            sim_order *o = &sim->orders[i];
            memset(o, 0, sizeof *o);
            o->live = true;
            o->id = sim->next_order_id++;
            sim->by_symbol_stale = true; /* its symbol is set by the caller */
            o->created_ms = o->updated_ms = sim_now_ms(sim);
            return o;
        }
    }
    return NULL;
}

sim_order *sim_order_find(tg_sim *sim, int account, uint64_t id, const char *client_id) {
    assert(sim != NULL);
    for (size_t i = 0; i < sim->orders_max; i++) {
        sim_order *o = &sim->orders[i];
        if (!o->live || o->account != account) {
            continue;
        }
        if ((id != 0 && o->id == id) ||
            (client_id != NULL && client_id[0] != '\0' && strcmp(o->client_id, client_id) == 0)) {
            return o;
        }
    }
    return NULL;
}

/* Counting sort of the live slots by symbol. Closing an order leaves its
 * slot in the index (readers check live and symbol); only a slot taken by
 * sim_order_new makes it stale. */
static void by_symbol_build(tg_sim *sim) {
    assert(sim != NULL);
    uint32_t *start = sim->by_symbol_start;
    memset(start, 0, (sim->inst_count + 1) * sizeof *start);
    for (size_t i = 0; i < sim->orders_max; i++) {
        const sim_order *o = &sim->orders[i];
        if (o->live && o->symbol >= 0 && (size_t)o->symbol < sim->inst_count) {
            start[o->symbol + 1]++;
        }
    }
    for (size_t s = 0; s < sim->inst_count; s++) {
        start[s + 1] += start[s];
    }
    assert(start[sim->inst_count] <= sim->orders_max);
    for (size_t i = 0; i < sim->orders_max; i++) {
        const sim_order *o = &sim->orders[i];
        if (o->live && o->symbol >= 0 && (size_t)o->symbol < sim->inst_count) {
            sim->by_symbol[start[o->symbol]++] = (uint32_t)i;
        }
    }
    for (size_t s = sim->inst_count; s > 0; s--) {
        start[s] = start[s - 1];
    }
    start[0] = 0;
    sim->by_symbol_stale = false;
}

size_t sim_orders_of(tg_sim *sim, int symbol, const uint32_t **slots) {
    assert(sim != NULL && slots != NULL);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    if (sim->by_symbol_stale) {
        by_symbol_build(sim);
    }
    assert(sim->by_symbol_start[symbol] <= sim->by_symbol_start[symbol + 1]);
    assert(sim->by_symbol_start[symbol + 1] <= sim->orders_max);
    *slots = sim->by_symbol + sim->by_symbol_start[symbol];
    return sim->by_symbol_start[symbol + 1] - sim->by_symbol_start[symbol];
}

int sim_stops_open(const tg_sim *sim, int account, int symbol) {
    assert(sim != NULL);
    int n = 0;
    for (size_t i = 0; i < sim->orders_max; i++) {
        const sim_order *o = &sim->orders[i];
        n += o->live && o->conditional && o->account == account && o->symbol == symbol;
    }
    return n;
}

const sim_order *sim_history_find(const tg_sim *sim, int account, uint64_t id,
                                  const char *client_id, const char **status) {
    assert(sim != NULL && status != NULL);
    uint64_t kept = sim->history_count < SIM_HISTORY_MAX ? sim->history_count : SIM_HISTORY_MAX;
    for (uint64_t k = 0; k < kept; k++) {
        size_t slot = (size_t)((sim->history_count - 1 - k) % SIM_HISTORY_MAX);
        const sim_order *o = &sim->history[slot];
        if (o->account == account &&
            ((id != 0 && o->id == id) ||
             (client_id != NULL && client_id[0] != '\0' && strcmp(o->client_id, client_id) == 0))) {
            *status = sim->history_status[slot];
            return o;
        }
    }
    return NULL;
}

void sim_order_close(tg_sim *sim, sim_order *o, const char *status) {
    assert(sim != NULL);
    assert(o != NULL && o->live);
    assert(status != NULL);
    size_t slot = (size_t)(sim->history_count++ % SIM_HISTORY_MAX);
    sim->history[slot] = *o;
    sim->history[slot].live = false;
    sim->history[slot].updated_ms = sim_now_ms(sim);
    sim_strlcpy(sim->history_status[slot], status, SIM_STATUS_MAX);
    int account = o->account;
    int symbol = o->symbol;
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    if (o->position_sl) {
        sim_position *p = &sim->acct[account].pos[symbol];
        p->sl_order = 0;
        p->stop_loss = tg_dec_from_units(0);
    }
    o->live = false;
    sim_protection_update(sim, account, symbol);
}

/* Would this open order close the whole position when the price runs
 * against it? That is what "protected" means for the unprotected windows. */
static bool order_protects(const sim_order *o, const sim_position *p) {
    assert(p != NULL);
    if (!o->live || !o->conditional || tg_dec_is_zero(p->size)) {
        return false;
    }
    bool is_long = tg_dec_is_pos(p->size);
    if (o->buy == is_long || o->rise == is_long) {
        return false; /* same side as the position, or a take-profit */
    }
    tg_dec abs_size;
    tg_dec_abs(p->size, &abs_size);
    return o->close_position || o->position_sl || tg_dec_ge(o->qty, abs_size);
}

void sim_protection_update(tg_sim *sim, int account, int symbol) {
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    sim_position *p = &sim->acct[account].pos[symbol];
    bool covered = tg_dec_is_zero(p->size);
    const uint32_t *slots = NULL;
    size_t n = covered ? 0 : sim_orders_of(sim, symbol, &slots);
    for (size_t i = 0; i < n && !covered; i++) {
        const sim_order *o = &sim->orders[slots[i]];
        covered = o->account == account && o->symbol == symbol && order_protects(o, p);
    }
    int64_t now = sim_mono_us(sim);
    sim_windows *w = &p->win;
    if (!covered && !w->open) {
        w->open = true;
        w->since_us = now;
    } else if (covered && w->open) {
        int64_t len = now - w->since_us;
        size_t slot = (size_t)(w->count % SIM_WINDOWS_KEPT);
        w->recent_start_us[slot] = w->since_us;
        w->recent_len_us[slot] = len;
        w->count++;
        w->total_us += len;
        w->longest_us = len > w->longest_us ? len : w->longest_us;
        w->open = false;
    }
}

void sim_position_set(tg_sim *sim, int account, int symbol, tg_dec size, tg_dec entry) {
    assert(sim != NULL);
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    sim_position *p = &sim->acct[account].pos[symbol];
    p->size = size;
    p->entry = tg_dec_is_zero(size) ? tg_dec_from_units(0) : entry;
    p->updated_ms = sim_now_ms(sim);
    sim_protection_update(sim, account, symbol);
}

void sim_position_fill(tg_sim *sim, int account, int symbol, tg_dec signed_qty, tg_dec price) {
    assert(sim != NULL);
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    sim_position *p = &sim->acct[account].pos[symbol];
    tg_dec size = p->size;
    tg_dec next;
    if (tg_dec_add(size, signed_qty, &next) != TG_DEC_OK) {
        return;
    }
    tg_dec entry = p->entry;
    bool same_dir = tg_dec_is_zero(size) || (tg_dec_is_pos(size) == tg_dec_is_pos(signed_qty));
    if (same_dir) {
        /* weighted average: (|size|·entry + |qty|·price) / |next| */
        tg_dec a, b, sum, abs_next, s_abs, q_abs;
        tg_dec_abs(size, &s_abs);
        tg_dec_abs(signed_qty, &q_abs);
        tg_dec_abs(next, &abs_next);
        if (tg_dec_mul(s_abs, entry, TG_ROUND_FLOOR, &a) == TG_DEC_OK &&
            tg_dec_mul(q_abs, price, TG_ROUND_FLOOR, &b) == TG_DEC_OK &&
            tg_dec_add(a, b, &sum) == TG_DEC_OK && !tg_dec_is_zero(abs_next)) {
            tg_dec_div(sum, abs_next, TG_ROUND_FLOOR, &entry);
        }
    } else if (!tg_dec_is_zero(next) && tg_dec_is_pos(next) != tg_dec_is_pos(size)) {
        entry = price; /* flipped through zero */
    }
    sim_position_set(sim, account, symbol, next, entry);
}

void sim_log_add(tg_sim *sim, const sim_log_entry *e) {
    assert(sim != NULL && e != NULL);
    assert(sim->log != NULL);
    assert(e->seq >= 1); /* (seq - 1) picks the slot */
    sim->log[(e->seq - 1) % SIM_LOG_MAX] = *e;
}

/* ---- faults ---- */

static const char *const fault_kind_names[] = {"latency", "drop",  "http5xx",
                                               "timeout", "stale", "reorder"};

bool sim_fault_kind_parse(const char *s, sim_fault_kind *out) {
    for (size_t i = 0; s != NULL && i < sizeof fault_kind_names / sizeof fault_kind_names[0]; i++) {
        if (strcmp(s, fault_kind_names[i]) == 0) {
            *out = (sim_fault_kind)i;
            return true;
        }
    }
    return false;
}

static bool fault_matches(const sim_fault *f, const char *method, const char *path) {
    if (method == NULL) {
        return strcmp(f->path, path) == 0 || strcmp(f->path, "stream:*") == 0;
    }
    if (strcmp(f->path, "*") == 0 || strcmp(f->path, path) == 0) {
        return true;
    }
    size_t m = strlen(method);
    return strncmp(f->path, method, m) == 0 && f->path[m] == ' ' &&
           strcmp(f->path + m + 1, path) == 0;
}

const sim_fault *sim_fault_take(tg_sim *sim, const char *method, const char *path) {
    assert(sim != NULL);
    assert(path != NULL);
    int64_t now = sim_mono_us(sim);
    for (size_t i = 0; i < SIM_FAULTS_MAX; i++) {
        sim_fault *f = &sim->faults[i];
        if (!f->live || !fault_matches(f, method, path)) {
            continue;
        }
        if (f->kind == SIM_FAULT_STALE && f->ms > 0) {
            if (f->until_us == 0) {
                f->until_us = now + f->ms * 1000;
            }
            if (now >= f->until_us) {
                f->live = false;
                continue;
            }
            return f;
        }
        if (f->remaining > 0 && --f->remaining == 0) {
            f->live = false;
        }
        return f;
    }
    return NULL;
}
