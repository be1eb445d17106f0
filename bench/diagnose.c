/*
 * bench/diagnose.c — one consistency check of the diagnostic monitor over
 * 10,000 positions: engine, store and exchange snapshots in memory, ten
 * accounts, one trailguard stop per position, one position in a hundred
 * with a fault. The last line is `positions=10000 check_ms=<median>`; the
 * target is ≤ 50 ms.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "trailguard/diag.h"

#define POSITIONS    10000 /* positions in each snapshot */
#define ACCOUNTS     10    /* accounts they are spread over */
#define RUNS         15    /* checks timed */
#define FAULT_EVERY  100   /* one position in this many is broken */
#define NOW_MS       1760550983000LL
#define CHECK_MS_MAX 50.0 /* the target */

static tg_dec units(int64_t whole, int64_t cents) {
    return tg_dec_from_units(whole * TG_DEC_SCALE + cents * (TG_DEC_SCALE / 100));
}

static void fill(size_t i, tg_diag_engine_pos *e, tg_diag_store_row *r, tg_diag_exchange_pos *x,
                 tg_diag_exchange_stop *s) {
    char account[16], symbol[16], key[32];
    snprintf(account, sizeof account, "acct%u", (unsigned)(i % ACCOUNTS));
    snprintf(symbol, sizeof symbol, "S%05uUSDT", (unsigned)(i / ACCOUNTS % 100000));
    tg_side side = i % 3 == 0 ? TG_SIDE_SHORT : TG_SIDE_LONG;
    snprintf(key, sizeof key, "%s:%s", symbol, tg_side_str(side));
    int64_t base = 100 + (int64_t)(i % 977);
    tg_dec mark = units(base, 0);
    tg_dec stop = side == TG_SIDE_LONG ? units(base - 2, 50) : units(base + 2, 50);

    memset(e, 0, sizeof *e);
    snprintf(e->account, sizeof e->account, "%s", account);
    snprintf(e->venue, sizeof e->venue, "%s", i % 2 ? "bybit" : "binance");
    snprintf(e->symbol, sizeof e->symbol, "%s", symbol);
    snprintf(e->position_key, sizeof e->position_key, "%s", key);
    e->side = side;
    e->state = TG_STATE_ACTIVE;
    e->mark = mark;
    e->stop_confirmed = e->stop_intended = e->exchange_stop = stop;
    e->activations = 1;
    e->last_mark_ms = NOW_MS - 500;

    memset(r, 0, sizeof *r);
    snprintf(r->account, sizeof r->account, "%s", account);
    snprintf(r->symbol, sizeof r->symbol, "%s", symbol);
    snprintf(r->position_key, sizeof r->position_key, "%s", key);
    r->state = TG_STATE_ACTIVE;
    r->stop_confirmed = r->stop_intended = stop;

    memset(x, 0, sizeof *x);
    snprintf(x->account, sizeof x->account, "%s", account);
    snprintf(x->venue, sizeof x->venue, "%s", e->venue);
    snprintf(x->symbol, sizeof x->symbol, "%s", symbol);
    snprintf(x->position_key, sizeof x->position_key, "%s", key);
    x->side = side;
    x->size = units(1, 0);
    x->mark = mark;
    x->tick = units(0, 1);

    memset(s, 0, sizeof *s);
    snprintf(s->account, sizeof s->account, "%s", account);
    snprintf(s->symbol, sizeof s->symbol, "%s", symbol);
    snprintf(s->order_id, sizeof s->order_id, "%zu", i);
    s->side = side;
    s->trigger = stop;
    s->reduce_only = s->owned = true;

    if (i % FAULT_EVERY == 7) { /* a looser stop on the exchange */
        s->trigger = side == TG_SIDE_LONG ? units(base - 3, 0) : units(base + 3, 0);
    } else if (i % FAULT_EVERY == 42) { /* a state not committed */
        r->state = TG_STATE_WAITING;
    }
}

int main(void) {
    tg_diag_engine_pos *eng = calloc(POSITIONS, sizeof *eng);
    tg_diag_store_row *rows = calloc(POSITIONS, sizeof *rows);
    tg_diag_exchange_pos *xpos = calloc(POSITIONS, sizeof *xpos);
    tg_diag_exchange_stop *stops = calloc(POSITIONS, sizeof *stops);
    tg_diag_issues *issues = calloc(1, sizeof *issues);
    if (eng == NULL || rows == NULL || xpos == NULL || stops == NULL || issues == NULL) {
        fprintf(stderr, "diagnose bench: out of memory\n");
        return 1;
    }
    /* The three sources list the positions in different orders, as they
     * would: the engine by account, the store by key, the exchange as is. */
    for (size_t i = 0; i < POSITIONS; i++) {
        size_t j = (i * 7919) % POSITIONS, k = (i * 104729) % POSITIONS;
        tg_diag_engine_pos e;
        tg_diag_store_row r;
        tg_diag_exchange_pos x;
        tg_diag_exchange_stop s;
        fill(i, &e, &r, &x, &s);
        eng[i] = e;
        rows[j] = r;
        xpos[k] = x;
        stops[POSITIONS - 1 - i] = s;
    }
    tg_diag_source ok = {.enabled = true, .ok = true, .taken_ms = NOW_MS, .latency_ms = 10};
    tg_diag_snapshot snap = {
        .engine = ok,
        .store = ok,
        .exchange = ok,
        .engine_pos = eng,
        .engine_count = POSITIONS,
        .store_rows = rows,
        .store_count = POSITIONS,
        .exchange_pos = xpos,
        .exchange_pos_count = POSITIONS,
        .exchange_stops = stops,
        .exchange_stops_count = POSITIONS,
    };
    tg_diag_thresholds th = tg_diag_thresholds_default();

    double ms[RUNS];
    size_t findings = 0;
    for (int run = 0; run < RUNS; run++) {
        double t0 = bench_now_s();
        findings = tg_diag_check(&snap, &th, NOW_MS + run, issues);
        ms[run] = (bench_now_s() - t0) * 1000;
    }
    double best = ms[0];
    for (int run = 1; run < RUNS; run++) {
        best = ms[run] < best ? ms[run] : best;
    }
    double p95 = bench_percentile(ms, RUNS, 95);
    double median = bench_median(ms, RUNS);
    printf("runs=%d findings=%zu issues=%zu min_ms=%.2f p95_ms=%.2f target_ms=%.0f %s\n", RUNS,
           findings, issues->count, best, p95, CHECK_MS_MAX,
           median <= CHECK_MS_MAX ? "ok" : "SLOW");
    printf("positions=%d check_ms=%.2f\n", POSITIONS, median);
    free(eng);
    free(rows);
    free(xpos);
    free(stops);
    free(issues);
    return 0;
}
