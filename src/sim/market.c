/* The emulated market: instruments, clocks, accounts, positions, open and
 * closed orders, unprotected windows, the request log, fault rules. Triggers
 * on the mark price and the events they emit live in trigger.c. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

/* Filters follow the shape of the live exchanges; the numbers are close to
 * theirs but are the emulator's own (docs/sim.md lists them). */
const sim_instrument sim_instruments[] = {
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
const size_t sim_instrument_count = sizeof sim_instruments / sizeof sim_instruments[0];

const char *sim_venue_name(sim_venue v) {
    return v == SIM_BINANCE ? "binance" : "bybit";
}

int sim_instrument_find(const char *symbol) {
    if (symbol == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sim_instrument_count; i++) {
        if (strcmp(sim_instruments[i].symbol, symbol) == 0) {
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

int sim_price_dp(int symbol) {
    assert(symbol >= 0 && (size_t)symbol < sim_instrument_count);
    return tg_dec_places(sim_idec(sim_instruments[symbol].tick));
}

int sim_price_precision(int symbol) {
    assert(symbol >= 0 && (size_t)symbol < sim_instrument_count);
    return sim_instruments[symbol].price_precision;
}

int sim_qty_dp(int symbol) {
    assert(symbol >= 0 && (size_t)symbol < sim_instrument_count);
    return tg_dec_places(sim_idec(sim_instruments[symbol].step));
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
    /* splitmix64: a seed of 0 still gives a good sequence */
    uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_market_init(tg_sim *sim) {
    assert(sim != NULL);
    assert(sim_instrument_count <= SIM_SYMBOLS_MAX);
    for (size_t i = 0; i < sim_instrument_count; i++) {
        sim->mark[i] = sim_idec(sim_instruments[i].mark0);
        sim->mark_prev[i] = sim->mark[i];
    }
    memset(sim->orders, 0, sizeof sim->orders);
    memset(sim->history, 0, sizeof sim->history);
    sim->history_count = 0;
    sim->next_order_id = 1000000 + (sim_rand(sim) % 1000000) * 100;
    sim->rate.bn_weight_max = 2400;
    sim->rate.bn_orders_max = 1200;
}

int sim_account_by_key(const tg_sim *sim, sim_venue v, const char *key) {
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
    for (size_t i = 0; i < SIM_ORDERS_MAX; i++) {
        if (!sim->orders[i].live) {
            sim_order *o = &sim->orders[i];
            memset(o, 0, sizeof *o);
            o->live = true;
            o->id = sim->next_order_id++;
            o->created_ms = o->updated_ms = sim_now_ms(sim);
            return o;
        }
    }
    return NULL;
}

sim_order *sim_order_find(tg_sim *sim, int account, uint64_t id, const char *client_id) {
    for (size_t i = 0; i < SIM_ORDERS_MAX; i++) {
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

int sim_stops_open(const tg_sim *sim, int account, int symbol) {
    int n = 0;
    for (size_t i = 0; i < SIM_ORDERS_MAX; i++) {
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
    assert(o != NULL && o->live);
    assert(status != NULL);
    size_t slot = (size_t)(sim->history_count++ % SIM_HISTORY_MAX);
    sim->history[slot] = *o;
    sim->history[slot].live = false;
    sim->history[slot].updated_ms = sim_now_ms(sim);
    sim_strlcpy(sim->history_status[slot], status, SIM_STATUS_MAX);
    int account = o->account;
    int symbol = o->symbol;
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
    assert(symbol >= 0 && (size_t)symbol < sim_instrument_count);
    sim_position *p = &sim->acct[account].pos[symbol];
    bool covered = tg_dec_is_zero(p->size);
    for (size_t i = 0; i < SIM_ORDERS_MAX && !covered; i++) {
        const sim_order *o = &sim->orders[i];
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
    sim_position *p = &sim->acct[account].pos[symbol];
    p->size = size;
    p->entry = tg_dec_is_zero(size) ? tg_dec_from_units(0) : entry;
    p->updated_ms = sim_now_ms(sim);
    sim_protection_update(sim, account, symbol);
}

void sim_position_fill(tg_sim *sim, int account, int symbol, tg_dec signed_qty, tg_dec price) {
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
    assert(sim->log != NULL);
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
