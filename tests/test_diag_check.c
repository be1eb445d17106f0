/* The diagnostic monitor's consistency check: one synthetic fault per issue
 * type over an otherwise healthy snapshot of two accounts, each found exactly
 * once with its severity and counted again (not copied) on the next check;
 * the healthy snapshot gives nothing; --exchange-only applies the exchange's
 * rules only; the issue list's de-duplication and capacity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trailguard/diag.h"

#define NOW_MS   1760550983000LL /* the check's time */
#define LATER_MS (NOW_MS + 5000) /* the second check */
#define CAP      8               /* entries per array of a fixture */

static tg_dec D(const char *text) {
    tg_dec d = {0};
    if (tg_dec_parse_cstr(text, &d) != TG_DEC_OK) {
        fail_msg("bad decimal literal '%s'", text);
    }
    return d;
}

typedef struct fixture {
    tg_diag_engine_pos eng[CAP];
    tg_diag_store_row rows[CAP];
    tg_diag_exchange_pos xpos[CAP];
    tg_diag_exchange_stop stops[CAP];
    size_t n_eng, n_rows, n_xpos, n_stops;
    tg_diag_snapshot snap;
    tg_diag_thresholds th;
} fixture;

static void add_position(fixture *f, const char *account, const char *venue, const char *symbol,
                         tg_side side, const char *entry, const char *mark, const char *stop,
                         const char *tick) {
    char key[TG_DIAG_NAME_MAX];
    snprintf(key, sizeof key, "%s:%s", symbol, tg_side_str(side));
    tg_diag_engine_pos *e = &f->eng[f->n_eng++];
    snprintf(e->account, sizeof e->account, "%s", account);
    snprintf(e->venue, sizeof e->venue, "%s", venue);
    snprintf(e->symbol, sizeof e->symbol, "%s", symbol);
    snprintf(e->position_key, sizeof e->position_key, "%s", key);
    e->side = side;
    e->state = TG_STATE_ACTIVE;
    e->quantity = D("0.5");
    e->entry = D(entry);
    e->mark = D(mark);
    e->stop_confirmed = e->stop_intended = e->exchange_stop = D(stop);
    e->activations = 1;
    e->last_mark_ms = NOW_MS - 1000;

    tg_diag_store_row *r = &f->rows[f->n_rows++];
    snprintf(r->account, sizeof r->account, "%s", account);
    snprintf(r->symbol, sizeof r->symbol, "%s", symbol);
    snprintf(r->position_key, sizeof r->position_key, "%s", key);
    r->state = TG_STATE_ACTIVE;
    r->stop_confirmed = r->stop_intended = D(stop);
    snprintf(r->order_id, sizeof r->order_id, "%s-%zu", account, f->n_rows);

    tg_diag_exchange_pos *x = &f->xpos[f->n_xpos++];
    snprintf(x->account, sizeof x->account, "%s", account);
    snprintf(x->venue, sizeof x->venue, "%s", venue);
    snprintf(x->symbol, sizeof x->symbol, "%s", symbol);
    snprintf(x->position_key, sizeof x->position_key, "%s", key);
    x->side = side;
    x->size = D("0.5");
    x->entry = D(entry);
    x->mark = D(mark);
    x->tick = D(tick);

    tg_diag_exchange_stop *s = &f->stops[f->n_stops++];
    snprintf(s->account, sizeof s->account, "%s", account);
    snprintf(s->symbol, sizeof s->symbol, "%s", symbol);
    snprintf(s->position_key, sizeof s->position_key, "%s", key);
    snprintf(s->order_id, sizeof s->order_id, "%s-%zu", account, f->n_rows);
    snprintf(s->client_id, sizeof s->client_id, "tg-%zu", f->n_rows);
    s->side = side;
    s->trigger = D(stop);
    snprintf(s->trigger_type, sizeof s->trigger_type, "MARK_PRICE");
    s->reduce_only = true;
    s->close_position = true;
    s->owned = true;
}

/* Two accounts on two venues, a long and a short, everything agreeing. */
static fixture *healthy(void) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    add_position(f, "main", "binance", "BTCUSDT", TG_SIDE_LONG, "50000", "52000", "51000", "0.1");
    add_position(f, "alt", "bybit", "ETHUSDT", TG_SIDE_SHORT, "3000", "2900", "2950", "0.01");
    tg_diag_source ok = {.enabled = true, .ok = true, .taken_ms = NOW_MS, .latency_ms = 12};
    f->snap.engine = f->snap.store = f->snap.exchange = ok;
    f->snap.engine_stats = (tg_diag_engine_stats){
        .requests = 200, .rate_limited = 1, .deferrals = 2, .unprotected_max_s = 0.05};
    f->th = tg_diag_thresholds_default();
    return f;
}

static const tg_diag_snapshot *snap(fixture *f) {
    f->snap.engine_pos = f->eng;
    f->snap.engine_count = f->n_eng;
    f->snap.store_rows = f->rows;
    f->snap.store_count = f->n_rows;
    f->snap.exchange_pos = f->xpos;
    f->snap.exchange_pos_count = f->n_xpos;
    f->snap.exchange_stops = f->stops;
    f->snap.exchange_stops_count = f->n_stops;
    return &f->snap;
}

static tg_diag_issues *new_issues(void) {
    tg_diag_issues *is = calloc(1, sizeof *is);
    assert_non_null(is);
    return is;
}

static size_t count_type(const tg_diag_issues *is, tg_diag_type type) {
    size_t n = 0;
    for (size_t i = 0; i < is->count; i++) {
        n += is->items[i].type == type;
    }
    return n;
}

static const tg_diag_issue *find_type(const tg_diag_issues *is, tg_diag_type type) {
    for (size_t i = 0; i < is->count; i++) {
        if (is->items[i].type == type) {
            return &is->items[i];
        }
    }
    return NULL;
}

static void dump(const tg_diag_issues *is) {
    for (size_t i = 0; i < is->count; i++) {
        const tg_diag_issue *it = &is->items[i];
        print_message("  [%s] %s %s/%s: %s (engine '%s' store '%s' exchange '%s')\n",
                      tg_diag_severity_str(it->severity), tg_diag_type_str(it->type), it->account,
                      it->symbol, it->description, it->engine_value, it->store_value,
                      it->exchange_value);
    }
}

/* Checks f twice; type must be found exactly once each time, on account and
 * symbol, the second time as the same entry counted twice. */
static const tg_diag_issue *expect_once(fixture *f, tg_diag_type type, const char *account,
                                        const char *symbol, tg_diag_issues *is) {
    size_t n = tg_diag_check(snap(f), &f->th, NOW_MS, is);
    if (count_type(is, type) != 1) {
        dump(is);
        fail_msg("%s found %zu times, want once", tg_diag_type_str(type), count_type(is, type));
    }
    assert_true(n >= 1);
    assert_int_equal(n, is->count);
    size_t entries = is->count;
    const tg_diag_issue *it = find_type(is, type);
    assert_int_equal(it->severity, tg_diag_type_severity(type));
    assert_string_equal(it->account, account);
    assert_string_equal(it->symbol, symbol);
    assert_int_equal(it->count, 1);
    assert_true(strlen(it->description) > 10);
    assert_true(strlen(it->cause) > 10);
    assert_true(it->engine_value[0] != '\0' || it->store_value[0] != '\0' ||
                it->exchange_value[0] != '\0');

    assert_int_equal(tg_diag_check(snap(f), &f->th, LATER_MS, is), n);
    assert_int_equal(is->count, entries);
    assert_int_equal(is->checks, 2);
    assert_int_equal(count_type(is, type), 1);
    it = find_type(is, type);
    assert_int_equal(it->count, 2);
    assert_int_equal(it->first_seen_ms, NOW_MS);
    assert_int_equal(it->last_seen_ms, LATER_MS);
    return it;
}

static void expect_none(fixture *f, tg_diag_type type) {
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    if (count_type(is, type) != 0) {
        dump(is);
        fail_msg("%s found, want none", tg_diag_type_str(type));
    }
    free(is);
}

/* Runs one case: fault() breaks a healthy fixture, then type is expected. */
#define CASE(name, type, account, symbol, body)                                                    \
    static void test_##name(void **state) {                                                        \
        (void)state;                                                                               \
        fixture *f = healthy();                                                                    \
        tg_diag_issues *is = new_issues();                                                         \
        body;                                                                                      \
        const tg_diag_issue *it = expect_once(f, type, account, symbol, is);                       \
        (void)it;                                                                                  \
        free(is);                                                                                  \
        free(f);                                                                                   \
    }

/* ---- names, defaults, healthy ---------------------------------------- */

static void test_names(void **state) {
    (void)state;
    for (int i = 0; i < TG_DIAG_TYPE_COUNT; i++) {
        const char *a = tg_diag_type_str((tg_diag_type)i);
        assert_string_not_equal(a, "unknown");
        for (int k = 0; k < i; k++) {
            assert_string_not_equal(a, tg_diag_type_str((tg_diag_type)k));
        }
    }
    assert_string_equal(tg_diag_type_str(TG_DIAG_MISSING_TS_INSTANCE), "missing_ts_instance");
    assert_string_equal(tg_diag_type_str(TG_DIAG_FOREIGN_STOP), "foreign_stop");
    assert_string_equal(tg_diag_type_str((tg_diag_type)TG_DIAG_TYPE_COUNT), "unknown");
    assert_int_equal(tg_diag_type_severity(TG_DIAG_UNPROTECTED_POSITION), TG_DIAG_CRITICAL);
    assert_int_equal(tg_diag_type_severity(TG_DIAG_STATE_MISMATCH), TG_DIAG_MEDIUM);
    assert_int_equal(tg_diag_type_severity(TG_DIAG_REACTIVATION), TG_DIAG_LOW);
    tg_diag_severity sev = TG_DIAG_LOW;
    assert_true(tg_diag_severity_parse("critical", &sev));
    assert_int_equal(sev, TG_DIAG_CRITICAL);
    assert_true(tg_diag_severity_parse("Medium", &sev));
    assert_int_equal(sev, TG_DIAG_MEDIUM);
    assert_false(tg_diag_severity_parse("severe", &sev));
    assert_false(tg_diag_severity_parse("", &sev));
    assert_false(tg_diag_severity_parse("HIGHER", &sev));
    assert_string_equal(tg_diag_severity_str(TG_DIAG_HIGH), "HIGH");
    tg_diag_thresholds th = tg_diag_thresholds_default();
    assert_true(th.price_tolerance_pct == 0.1);
    assert_int_equal(th.unconfirmed_ms, 30000);
    assert_int_equal(th.stale_ms, 10000);
}

static void test_healthy(void **state) {
    (void)state;
    fixture *f = healthy();
    tg_diag_issues *is = new_issues();
    size_t n = tg_diag_check(snap(f), &f->th, NOW_MS, is);
    if (n != 0) {
        dump(is);
    }
    assert_int_equal(n, 0);
    assert_int_equal(is->count, 0);
    assert_int_equal(is->checks, 1);
    assert_int_equal(tg_diag_worst(is), -1);
    /* Empty snapshots are healthy too. */
    fixture *e = calloc(1, sizeof *e);
    e->snap = f->snap;
    e->th = f->th;
    assert_int_equal(tg_diag_check(snap(e), &e->th, NOW_MS, is), 0);
    free(e);
    free(is);
    free(f);
}

/* ---- one case per type ------------------------------------------------ */

CASE(missing_ts_instance, TG_DIAG_MISSING_TS_INSTANCE, "main", "BTCUSDT", {
    f->eng[0] = f->eng[1];
    f->n_eng = 1;
})

CASE(orphan_ts_instance, TG_DIAG_ORPHAN_TS_INSTANCE, "alt", "ETHUSDT", {
    f->n_xpos = 1; /* ETHUSDT's position is gone; its stop is now an orphan too */
})

CASE(state_mismatch, TG_DIAG_STATE_MISMATCH, "main", "BTCUSDT",
     { f->rows[0].state = TG_STATE_WAITING; })

CASE(state_mismatch_no_row, TG_DIAG_STATE_MISMATCH, "alt", "ETHUSDT", { f->n_rows = 1; })

CASE(state_mismatch_no_engine, TG_DIAG_STATE_MISMATCH, "main", "BTCUSDT", {
    /* a stored row the engine does not hold, for a position not open either */
    f->rows[0].state = TG_STATE_INACTIVE;
    f->eng[0] = f->eng[1];
    f->n_eng = 1;
    f->xpos[0] = f->xpos[1];
    f->n_xpos = 1;
    f->stops[0] = f->stops[1];
    f->n_stops = 1;
})

CASE(sl_price_mismatch, TG_DIAG_SL_PRICE_MISMATCH, "main", "BTCUSDT", {
    f->rows[0].stop_confirmed = D("50900"); /* 100 apart, 0.1 % of 51000 is 51 */
})

CASE(unprotected_position, TG_DIAG_UNPROTECTED_POSITION, "main", "BTCUSDT", {
    f->stops[0] = f->stops[1];
    f->n_stops = 1;
})

CASE(exchange_stop_looser, TG_DIAG_EXCHANGE_STOP_LOOSER, "alt", "ETHUSDT", {
    f->stops[1].trigger = D("2950.02"); /* a short's stop 2 ticks higher */
})

CASE(stop_wrong_side, TG_DIAG_STOP_WRONG_SIDE, "main", "BTCUSDT", {
    f->stops[2] = f->stops[0]; /* beside trailguard's: a foreign stop at the mark */
    f->stops[2].owned = false;
    f->stops[2].trigger = D("52000");
    snprintf(f->stops[2].order_id, sizeof f->stops[2].order_id, "manual-1");
    f->n_stops = 3;
})

CASE(stop_increases_position, TG_DIAG_STOP_INCREASES_POSITION, "alt", "ETHUSDT", {
    f->stops[1].reduce_only = false;
    f->stops[1].close_position = false;
})

CASE(duplicate_stops, TG_DIAG_DUPLICATE_STOPS, "main", "BTCUSDT", {
    f->stops[2] = f->stops[0];
    f->stops[2].trigger = D("50990");
    snprintf(f->stops[2].order_id, sizeof f->stops[2].order_id, "main-dup");
    f->n_stops = 3;
})

CASE(orphan_exchange_stop, TG_DIAG_ORPHAN_EXCHANGE_STOP, "main", "SOLUSDT", {
    f->stops[2] = f->stops[0];
    snprintf(f->stops[2].symbol, sizeof f->stops[2].symbol, "SOLUSDT");
    snprintf(f->stops[2].position_key, sizeof f->stops[2].position_key, "SOLUSDT:long");
    f->stops[2].trigger = D("140");
    f->n_stops = 3;
})

CASE(unconfirmed_intent, TG_DIAG_UNCONFIRMED_INTENT, "main", "BTCUSDT", {
    f->eng[0].stop_intended = D("51200");
    f->eng[0].intended_since_ms = NOW_MS - 31000;
})

CASE(stale_feed, TG_DIAG_STALE_FEED, "alt", "ETHUSDT", { f->eng[1].last_mark_ms = NOW_MS - 10001; })

CASE(source_unreachable, TG_DIAG_SOURCE_UNREACHABLE, "", "store", {
    f->snap.store.ok = false;
    snprintf(f->snap.store.error, sizeof f->snap.store.error, "connection refused");
})

CASE(latency_high, TG_DIAG_LATENCY_HIGH, "", "exchange", { f->snap.exchange.latency_ms = 2500; })

CASE(rate_limit_pressure, TG_DIAG_RATE_LIMIT_PRESSURE, "", "", {
    f->snap.engine_stats.rate_limited = 5;
    f->snap.engine_stats.deferrals = 6; /* 11 of 200: 5.5 % */
})

/* A window between two bounds of the daemon's histogram (0.3 < w ≤ 0.5)
 * arrives as 0.3, the bound it exceeded: that is over the 0.3 s limit. */
static void test_unprotected_window_at_a_bound(void **state) {
    (void)state;
    fixture *f = healthy();
    f->snap.engine_stats.unprotected_max_s = 0.3;
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    assert_int_equal(count_type(is, TG_DIAG_UNPROTECTED_WINDOW), 1);
    assert_non_null(
        strstr(find_type(is, TG_DIAG_UNPROTECTED_WINDOW)->description, "longer than 0.300 s"));
    free(is);
    f->snap.engine_stats.unprotected_max_s = 0.25;
    expect_none(f, TG_DIAG_UNPROTECTED_WINDOW);
    free(f);
}

/* The sentence says whose counts they are: the run's (two samples of the
 * daemon's counters or more) or the daemon's since it started (--once). */
static void test_rate_limit_pressure_says_over_what(void **state) {
    (void)state;
    fixture *f = healthy();
    f->snap.engine_stats.deferrals = 20;
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    assert_non_null(strstr(find_type(is, TG_DIAG_RATE_LIMIT_PRESSURE)->description,
                           "of 200 requests since the daemon started (10.5 %)"));
    f->snap.engine_stats.over_run = true;
    tg_diag_check(snap(f), &f->th, NOW_MS + 1000, is);
    assert_non_null(strstr(find_type(is, TG_DIAG_RATE_LIMIT_PRESSURE)->description,
                           "of 200 requests during this run"));
    free(is);
    free(f);
}

CASE(unprotected_window, TG_DIAG_UNPROTECTED_WINDOW, "", "",
     { f->snap.engine_stats.unprotected_max_s = 0.45; })

CASE(reactivation, TG_DIAG_REACTIVATION, "alt", "ETHUSDT", { f->eng[1].activations = 2; })

CASE(foreign_stop, TG_DIAG_FOREIGN_STOP, "main", "BTCUSDT", {
    f->stops[2] = f->stops[0];
    f->stops[2].owned = false;
    f->stops[2].trigger = D("49000");
    f->stops[2].client_id[0] = '\0';
    snprintf(f->stops[2].order_id, sizeof f->stops[2].order_id, "manual-7");
    f->n_stops = 3;
})

/* ---- the edges of the rules ------------------------------------------- */

static void test_within_tolerance(void **state) {
    (void)state;
    fixture *f = healthy();
    f->rows[0].stop_confirmed = D("50950"); /* 50 apart: under 0.1 % of 51000 */
    expect_none(f, TG_DIAG_SL_PRICE_MISMATCH);
    f->th.price_tolerance_pct = 0.01; /* 5.1: now 50 is too much */
    f->xpos[0].tick = D("0.1");
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    assert_int_equal(count_type(is, TG_DIAG_SL_PRICE_MISMATCH), 1);
    free(is);
    f->xpos[0].tick = D("100"); /* a tick wider than the percentage wins */
    expect_none(f, TG_DIAG_SL_PRICE_MISMATCH);
    free(f);
}

static void test_one_tick_is_not_looser(void **state) {
    (void)state;
    fixture *f = healthy();
    f->stops[0].trigger = D("50999.9"); /* a long's stop one tick lower */
    expect_none(f, TG_DIAG_EXCHANGE_STOP_LOOSER);
    f->stops[0].trigger = D("51000.5"); /* tighter is never looser */
    expect_none(f, TG_DIAG_EXCHANGE_STOP_LOOSER);
    f->stops[0].trigger = D("50999.8");
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    assert_int_equal(count_type(is, TG_DIAG_EXCHANGE_STOP_LOOSER), 1);
    /* a request in flight: the exchange may lag the engine */
    f->eng[0].in_flight = true;
    free(is);
    expect_none(f, TG_DIAG_EXCHANGE_STOP_LOOSER);
    free(f);
}

/* The engine's stop trailed on after the exchange was listed (the monitor
 * first saw it confirmed after the listing began): the listing's older stop
 * is neither looser nor a price mismatch; a stop confirmed before it is. */
static void test_stop_confirmed_after_the_listing(void **state) {
    (void)state;
    fixture *f = healthy();
    f->stops[0].trigger = D("50800"); /* the long's previous stop */
    f->snap.exchange.taken_ms = NOW_MS - 3000;
    f->snap.exchange.latency_ms = 40; /* listed from NOW_MS - 3040 on */
    f->eng[0].confirmed_seen_ms = NOW_MS - 3000;
    expect_none(f, TG_DIAG_EXCHANGE_STOP_LOOSER);
    expect_none(f, TG_DIAG_SL_PRICE_MISMATCH);
    f->eng[0].confirmed_seen_ms = NOW_MS - 3040; /* seen as the listing began */
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    assert_int_equal(count_type(is, TG_DIAG_EXCHANGE_STOP_LOOSER), 1);
    assert_int_equal(count_type(is, TG_DIAG_SL_PRICE_MISMATCH), 1);
    free(is);
    free(f);
}

/* A state change the monitor saw after the store was read, or a store
 * snapshot newer than the engine's, is a race between two snapshots, not a
 * disagreement; a change seen before the store was read is one. */
static void test_state_changed_between_snapshots(void **state) {
    (void)state;
    fixture *f = healthy();
    f->rows[0].state = TG_STATE_WAITING;
    f->snap.store.taken_ms = NOW_MS - 2000;
    f->snap.store.latency_ms = 5; /* read from NOW_MS - 2005 on */
    f->eng[0].state_seen_ms = NOW_MS - 1000;
    expect_none(f, TG_DIAG_STATE_MISMATCH);
    f->eng[0].state_seen_ms = 0;
    f->snap.store.taken_ms = NOW_MS + 10; /* the store was read after the engine */
    expect_none(f, TG_DIAG_STATE_MISMATCH);
    f->snap.store.taken_ms = NOW_MS - 2000;
    f->eng[0].state_seen_ms = NOW_MS - 2005;
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    assert_int_equal(count_type(is, TG_DIAG_STATE_MISMATCH), 1);
    free(is);
    free(f);
}

/* A tick wider than the percentage tolerance: a long's stop within one tick
 * below the engine's is neither looser nor a price mismatch; one more tick
 * is both, and the issues carry the tick they were judged with. */
static void test_tick_wider_than_percentage(void **state) {
    (void)state;
    fixture *f = healthy();
    f->xpos[0].tick = D("100"); /* 0.1 % of 51000 is 51 */
    f->stops[0].trigger = D("50900");
    expect_none(f, TG_DIAG_EXCHANGE_STOP_LOOSER);
    expect_none(f, TG_DIAG_SL_PRICE_MISMATCH);
    f->stops[0].trigger = D("50899");
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    assert_int_equal(count_type(is, TG_DIAG_EXCHANGE_STOP_LOOSER), 1);
    assert_int_equal(count_type(is, TG_DIAG_SL_PRICE_MISMATCH), 1);
    const tg_diag_issue *looser = find_type(is, TG_DIAG_EXCHANGE_STOP_LOOSER);
    assert_true(tg_dec_eq(looser->tick, D("100")));
    assert_non_null(strstr(looser->description, "(tick 100)"));
    assert_true(tg_dec_eq(find_type(is, TG_DIAG_SL_PRICE_MISMATCH)->tick, D("100")));
    free(is);
    /* an unknown tick: the percentage alone for the mismatch, any looser
     * amount beyond zero for the stop */
    f->xpos[0].tick = D("0");
    f->stops[0].trigger = D("50990");
    is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    assert_int_equal(count_type(is, TG_DIAG_EXCHANGE_STOP_LOOSER), 1);
    assert_int_equal(count_type(is, TG_DIAG_SL_PRICE_MISMATCH), 0);
    assert_true(tg_dec_is_zero(find_type(is, TG_DIAG_EXCHANGE_STOP_LOOSER)->tick));
    assert_non_null(strstr(find_type(is, TG_DIAG_EXCHANGE_STOP_LOOSER)->description, "unknown"));
    free(is);
    free(f);
}

/* [cluster]: accounts whose lease is missing or expired are
 * source_unreachable for "owner" (HIGH), once each; not without a store. */
static void test_unowned_accounts(void **state) {
    (void)state;
    fixture *f = healthy();
    tg_diag_unowned u[2] = {{.account = "main", .owner = "node-a", .expired_ms = 4200},
                            {.account = "alt", .owner = "", .expired_ms = -1}};
    f->snap.unowned = u;
    f->snap.unowned_count = 2;
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    tg_diag_check(snap(f), &f->th, NOW_MS + 1000, is);
    assert_int_equal(count_type(is, TG_DIAG_SOURCE_UNREACHABLE), 2);
    for (size_t i = 0; i < is->count; i++) {
        const tg_diag_issue *it = &is->items[i];
        if (it->type != TG_DIAG_SOURCE_UNREACHABLE) {
            continue;
        }
        assert_string_equal(it->symbol, "owner");
        assert_int_equal(it->severity, TG_DIAG_HIGH);
        assert_int_equal(it->count, 2);
        if (strcmp(it->account, "main") == 0) {
            assert_non_null(strstr(it->description, "last held by node-a"));
            assert_non_null(strstr(it->description, "expired 4.2 s ago"));
        } else {
            assert_string_equal(it->account, "alt");
            assert_non_null(strstr(it->description, "no lease"));
        }
    }
    free(is);
    f->snap.store.ok = false; /* the leases were not read */
    is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    for (size_t i = 0; i < is->count; i++) {
        assert_string_not_equal(is->items[i].symbol, "owner");
    }
    free(is);
    free(f);
}

static void test_foreign_stop_protects(void **state) {
    (void)state;
    fixture *f = healthy();
    f->stops[0].owned = false; /* someone else's reduce-only stop */
    expect_none(f, TG_DIAG_UNPROTECTED_POSITION);
    f->stops[0].reduce_only = f->stops[0].close_position = false;
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    assert_int_equal(count_type(is, TG_DIAG_UNPROTECTED_POSITION), 1);
    assert_int_equal(count_type(is, TG_DIAG_STOP_INCREASES_POSITION), 1);
    assert_int_equal(count_type(is, TG_DIAG_FOREIGN_STOP), 1);
    assert_int_equal(count_type(is, TG_DIAG_EXCHANGE_STOP_LOOSER), 1); /* no trailguard stop */
    assert_int_equal(tg_diag_worst(is), TG_DIAG_CRITICAL);
    free(is);
    free(f);
}

static void test_timers_below_threshold(void **state) {
    (void)state;
    fixture *f = healthy();
    f->eng[0].stop_intended = D("51200");
    f->eng[0].intended_since_ms = NOW_MS - 29000;
    f->eng[1].last_mark_ms = NOW_MS - 9000;
    f->eng[1].activations = 1;
    f->snap.engine_stats.rate_limited = 10; /* 12 of 200: 6 % */
    f->snap.engine_stats.deferrals = 0;
    f->snap.engine_stats.requests = 0; /* no requests: no ratio */
    expect_none(f, TG_DIAG_UNCONFIRMED_INTENT);
    expect_none(f, TG_DIAG_STALE_FEED);
    expect_none(f, TG_DIAG_RATE_LIMIT_PRESSURE);
    free(f);
}

/* Two sources down are two issues; the symbol names the source. */
static void test_sources_apart(void **state) {
    (void)state;
    fixture *f = healthy();
    f->snap.engine.ok = false;
    f->snap.exchange.ok = false;
    tg_diag_issues *is = new_issues();
    assert_int_equal(tg_diag_check(snap(f), &f->th, NOW_MS, is), 2);
    assert_int_equal(count_type(is, TG_DIAG_SOURCE_UNREACHABLE), 2);
    assert_string_equal(is->items[0].symbol, "engine");
    assert_string_equal(is->items[1].symbol, "exchange");
    free(is);
    free(f);
}

/* --exchange-only: engine and store are off; only the exchange's rules run,
 * whatever the (stale) engine and store arrays hold. */
static void test_exchange_only(void **state) {
    (void)state;
    fixture *f = healthy();
    f->snap.engine.enabled = false;
    f->snap.store.enabled = false;
    f->snap.engine.ok = f->snap.store.ok = false;
    f->n_eng = 0;                        /* would be missing_ts_instance */
    f->rows[1].state = TG_STATE_WAITING; /* would be state_mismatch */
    f->snap.engine_stats.unprotected_max_s = 2;
    tg_diag_issues *is = new_issues();
    assert_int_equal(tg_diag_check(snap(f), &f->th, NOW_MS, is), 0);
    /* the exchange's faults are still found */
    f->stops[0].trigger = D("53000"); /* BTCUSDT long: above the mark */
    f->stops[1].owned = false;        /* ETHUSDT: foreign, still protective */
    f->stops[2] = f->stops[0];        /* SOLUSDT: an orphan trailguard stop */
    snprintf(f->stops[2].symbol, sizeof f->stops[2].symbol, "SOLUSDT");
    f->n_stops = 3;
    tg_diag_check(snap(f), &f->th, LATER_MS, is);
    assert_int_equal(count_type(is, TG_DIAG_STOP_WRONG_SIDE), 1);
    assert_int_equal(count_type(is, TG_DIAG_UNPROTECTED_POSITION), 1);
    assert_int_equal(count_type(is, TG_DIAG_FOREIGN_STOP), 1);
    assert_int_equal(count_type(is, TG_DIAG_ORPHAN_EXCHANGE_STOP), 1);
    for (size_t i = 0; i < is->count; i++) {
        tg_diag_type t = is->items[i].type;
        assert_true(t == TG_DIAG_STOP_WRONG_SIDE || t == TG_DIAG_UNPROTECTED_POSITION ||
                    t == TG_DIAG_FOREIGN_STOP || t == TG_DIAG_ORPHAN_EXCHANGE_STOP);
        assert_string_equal(is->items[i].engine_value, "");
        assert_string_equal(is->items[i].store_value, "");
    }
    free(is);
    free(f);
}

/* The long and the short of one symbol missing are one issue, seen once per
 * check; the venue comes from the account's positions. */
static void test_same_key_once_per_check(void **state) {
    (void)state;
    fixture *f = healthy();
    add_position(f, "main", "binance", "BTCUSDT", TG_SIDE_SHORT, "52000", "52000", "53000", "0.1");
    f->n_eng = 0;
    f->n_rows = 0;
    tg_diag_issues *is = new_issues();
    tg_diag_check(snap(f), &f->th, NOW_MS, is);
    tg_diag_check(snap(f), &f->th, LATER_MS, is);
    size_t missing = 0;
    for (size_t i = 0; i < is->count; i++) {
        const tg_diag_issue *it = &is->items[i];
        if (it->type == TG_DIAG_MISSING_TS_INSTANCE && strcmp(it->symbol, "BTCUSDT") == 0) {
            missing++;
            assert_int_equal(it->count, 2);
            assert_string_equal(it->venue, "binance");
        }
    }
    assert_int_equal(missing, 1);
    assert_int_equal(count_type(is, TG_DIAG_MISSING_TS_INSTANCE), 2); /* and ETHUSDT */
    free(is);
    free(f);
}

/* Beyond TG_DIAG_ISSUES_MAX distinct issues new ones are only counted. */
static void test_capacity(void **state) {
    (void)state;
    size_t n = TG_DIAG_ISSUES_MAX + 100;
    tg_diag_exchange_stop *stops = calloc(n, sizeof *stops);
    assert_non_null(stops);
    for (size_t i = 0; i < n; i++) {
        snprintf(stops[i].account, sizeof stops[i].account, "main");
        snprintf(stops[i].symbol, sizeof stops[i].symbol, "S%zuUSDT", i);
        snprintf(stops[i].order_id, sizeof stops[i].order_id, "o%zu", i);
        stops[i].trigger = D("1");
        stops[i].reduce_only = true;
    }
    tg_diag_snapshot s = {0};
    s.exchange = (tg_diag_source){.enabled = true, .ok = true};
    s.exchange_stops = stops;
    s.exchange_stops_count = n;
    tg_diag_thresholds th = tg_diag_thresholds_default();
    tg_diag_issues *is = new_issues();
    assert_int_equal(tg_diag_check(&s, &th, NOW_MS, is), n);
    assert_int_equal(is->count, TG_DIAG_ISSUES_MAX);
    assert_int_equal(is->dropped, 100);
    assert_int_equal(tg_diag_check(&s, &th, LATER_MS, is), n);
    assert_int_equal(is->count, TG_DIAG_ISSUES_MAX);
    assert_int_equal(is->items[TG_DIAG_ISSUES_MAX - 1].count, 2);
    assert_int_equal(tg_diag_worst(is), TG_DIAG_LOW);
    free(is);
    free(stops);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_healthy),
        cmocka_unit_test(test_missing_ts_instance),
        cmocka_unit_test(test_orphan_ts_instance),
        cmocka_unit_test(test_state_mismatch),
        cmocka_unit_test(test_state_mismatch_no_row),
        cmocka_unit_test(test_state_mismatch_no_engine),
        cmocka_unit_test(test_sl_price_mismatch),
        cmocka_unit_test(test_unprotected_position),
        cmocka_unit_test(test_exchange_stop_looser),
        cmocka_unit_test(test_stop_wrong_side),
        cmocka_unit_test(test_stop_increases_position),
        cmocka_unit_test(test_duplicate_stops),
        cmocka_unit_test(test_orphan_exchange_stop),
        cmocka_unit_test(test_unconfirmed_intent),
        cmocka_unit_test(test_stale_feed),
        cmocka_unit_test(test_source_unreachable),
        cmocka_unit_test(test_latency_high),
        cmocka_unit_test(test_rate_limit_pressure),
        cmocka_unit_test(test_unprotected_window),
        cmocka_unit_test(test_reactivation),
        cmocka_unit_test(test_foreign_stop),
        cmocka_unit_test(test_within_tolerance),
        cmocka_unit_test(test_one_tick_is_not_looser),
        cmocka_unit_test(test_tick_wider_than_percentage),
        cmocka_unit_test(test_stop_confirmed_after_the_listing),
        cmocka_unit_test(test_state_changed_between_snapshots),
        cmocka_unit_test(test_unowned_accounts),
        cmocka_unit_test(test_rate_limit_pressure_says_over_what),
        cmocka_unit_test(test_unprotected_window_at_a_bound),
        cmocka_unit_test(test_foreign_stop_protects),
        cmocka_unit_test(test_timers_below_threshold),
        cmocka_unit_test(test_sources_apart),
        cmocka_unit_test(test_exchange_only),
        cmocka_unit_test(test_same_key_once_per_check),
        cmocka_unit_test(test_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
