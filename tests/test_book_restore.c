/* The book rebuilt from the store: every state round-trips through the real
 * SQLite store byte for byte, and the restored book then decides exactly what
 * a book that never restarted decides. Also the read path that keeps the
 * fast path, iteration, and changes to a live position. */
#include <stdlib.h>
#include <unistd.h>

#include "engine_harness.h"

#include "trailguard/book.h"
#include "trailguard/store.h"

#define REC_MAX 4096

typedef struct rec {
    tg_event events[REC_MAX]; /* every event, in order */
    tg_cmd cmds[REC_MAX];     /* every command, in order */
    int n_events;             /* events kept */
    int n_cmds;               /* commands kept */
} rec;

static void rec_keep(rec *r, const tg_out *out) {
    for (int i = 0; i < out->n_events; i++) {
        assert_true(r->n_events < REC_MAX);
        r->events[r->n_events++] = out->events[i];
    }
    for (int i = 0; i < out->n_cmds; i++) {
        assert_true(r->n_cmds < REC_MAX);
        r->cmds[r->n_cmds++] = out->cmds[i];
    }
}

static void rec_sink(void *ctx, const tg_stop *stop, const tg_out *out) {
    (void)stop;
    rec_keep(ctx, out);
}

static void db_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s-%ld.db", TG_TEST_TMPDIR, name, (long)getpid());
    unlink(buf);
}

static tg_open open_at(tg_side side, const char *entry, const char *tick, int64_t ts) {
    tg_open o = {.side = side,
                 .entry = D(entry),
                 .quantity = D("2"),
                 .tick = D(tick),
                 .ts_ms = ts,
                 .params = tg_params_default()};
    return o;
}

/* Symbols and positions of the scenario: every state the book can hold. */
enum { P_INACTIVE, P_WAITING, P_ACTIVE, P_SHORT, P_PENDING, P_TRIGGERED, P_COUNT };
static const char *const sym_of[P_COUNT] = {"AUSDT", "BUSDT", "CUSDT", "DUSDT", "CUSDT", "EUSDT"};

/* Opens one position of each kind in b and drives it into its state;
 * confirmations only where the scenario wants a confirmed stop. */
static void build(tg_book *b, uint32_t ids[P_COUNT], rec *r) {
    tg_err err = {0};
    tg_out out = {0};
    tg_open o = open_at(TG_SIDE_LONG, "100", "0.01", 0);
    o.params.initial_stop_pct = D("5");
    assert_int_equal(tg_book_open(b, sym_of[P_INACTIVE], &o, &ids[P_INACTIVE], &out, &err), TG_OK);
    rec_keep(r, &out);

    o = open_at(TG_SIDE_LONG, "200", "0.1", 0);
    o.params.breakeven_pct = D("0.5");
    o.params.activation_pct = D("3");
    memset(&out, 0, sizeof out);
    assert_int_equal(tg_book_open(b, sym_of[P_WAITING], &o, &ids[P_WAITING], &out, &err), TG_OK);
    rec_keep(r, &out);

    o = open_at(TG_SIDE_LONG, "50000", "0.5", 0);
    o.params.momentum_pct_per_min = D("0.5");
    o.params.momentum_factor = D("0.5");
    o.params.min_update_interval_ms = 60000;
    memset(&out, 0, sizeof out);
    assert_int_equal(tg_book_open(b, sym_of[P_ACTIVE], &o, &ids[P_ACTIVE], &out, &err), TG_OK);
    rec_keep(r, &out);

    o = open_at(TG_SIDE_SHORT, "3000", "0.01", 0);
    o.params.callback_kind = TG_CALLBACK_TICKS;
    o.params.callback = D("700");
    memset(&out, 0, sizeof out);
    assert_int_equal(tg_book_open(b, sym_of[P_SHORT], &o, &ids[P_SHORT], &out, &err), TG_OK);
    rec_keep(r, &out);

    o = open_at(TG_SIDE_LONG, "50000", "0.5", 0);
    memset(&out, 0, sizeof out);
    assert_int_equal(tg_book_open(b, sym_of[P_PENDING], &o, &ids[P_PENDING], &out, &err), TG_OK);
    rec_keep(r, &out);

    o = open_at(TG_SIDE_LONG, "10", "0.001", 0);
    memset(&out, 0, sizeof out);
    assert_int_equal(tg_book_open(b, sym_of[P_TRIGGERED], &o, &ids[P_TRIGGERED], &out, &err),
                     TG_OK);
    rec_keep(r, &out);

    uint32_t c = tg_book_symbol_find(b, "CUSDT");
    tg_book_tick_name(b, "BUSDT", 1000, D("201.5"), rec_sink, r); /* breakeven */
    memset(&out, 0, sizeof out);
    tg_book_confirmed(b, ids[P_WAITING], 1100, D("200"), &out);
    rec_keep(r, &out);
    tg_book_tick(b, c, 1000, D("50800"), rec_sink, r); /* both activate */
    memset(&out, 0, sizeof out);
    tg_book_confirmed(b, ids[P_ACTIVE], 1100, tg_book_peek(b, ids[P_ACTIVE])->stop_intended, &out);
    rec_keep(r, &out);
    tg_book_tick(b, c, 20000, D("51000"), rec_sink, r); /* rate limited: deferred */
    tg_book_tick(b, c, 30000, D("50900"), rec_sink, r);
    tg_book_tick_name(b, "DUSDT", 1000, D("2960"), rec_sink, r);
    tg_book_tick_name(b, "DUSDT", 2000, D("2955"), rec_sink, r);
    tg_book_tick_name(b, "EUSDT", 1000, D("10.2"), rec_sink, r);
    memset(&out, 0, sizeof out);
    tg_book_confirmed(b, ids[P_TRIGGERED], 1100, tg_book_peek(b, ids[P_TRIGGERED])->stop_intended,
                      &out);
    tg_book_triggered(b, ids[P_TRIGGERED], 1200, D("10.1"), &out);
    rec_keep(r, &out);
    tg_book_tick_name(b, "AUSDT", 5000, D("101"), rec_sink, r); /* dismissed, pending */
}

#define SAVE_ROWS_MAX 256

/* Writes every position of b into the store as rows. The store advances each
 * put row's version at commit, so the rows live until then. */
static void save_all(tg_store *st, tg_book *b) {
    tg_err err = {0};
    static tg_store_row rows[SAVE_ROWS_MAX];
    size_t n = 0;
    assert_int_equal(tg_store_begin(st, &err), TG_OK);
    for (uint32_t id = tg_book_next(b, TG_BOOK_NONE); id != TG_BOOK_NONE;
         id = tg_book_next(b, id)) {
        assert_true(n < SAVE_ROWS_MAX);
        tg_store_row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        snprintf(r->account, sizeof r->account, "acct");
        snprintf(r->exchange, sizeof r->exchange, "binance");
        snprintf(r->symbol, sizeof r->symbol, "%s",
                 tg_book_symbol_name(b, tg_book_position_symbol(b, id)));
        snprintf(r->position_key, sizeof r->position_key, "p%02u", (unsigned)id);
        r->stop = *tg_book_peek(b, id);
        assert_int_equal(tg_store_put(st, r, &err), TG_OK);
    }
    assert_int_equal(tg_store_commit(st, &err), TG_OK);
}

typedef struct restore_ctx {
    tg_book *book; /* where the rows go */
    int rows;      /* rows restored */
} restore_ctx;

static bool restore_row(void *ctx, const tg_store_row *row) {
    restore_ctx *rc = ctx;
    tg_err err = {0};
    uint32_t id = TG_BOOK_NONE;
    assert_int_equal(tg_book_restore(rc->book, row->symbol, &row->stop, &id, &err), TG_OK);
    assert_int_equal(id, row->stop.id); /* a fresh book: the ids survive */
    rc->rows++;
    return true;
}

/* The same inputs to both books from here on. */
static void drive(tg_book *b, const uint32_t ids[P_COUNT], rec *r) {
    tg_out out;
    static const char *const c_prices[] = {"50800", "51500", "51400", "52500", "51000", "49000"};
    for (int i = 0; i < 6; i++) {
        int64_t ts = 70000 + i * 40000;
        tg_book_tick_name(b, "CUSDT", ts, D(c_prices[i]), rec_sink, r);
        tg_book_tick_name(b, "AUSDT", ts, D(i % 2 ? "104" : "101"), rec_sink, r);
        tg_book_tick_name(b, "BUSDT", ts, D(i < 3 ? "203" : "207"), rec_sink, r);
        tg_book_tick_name(b, "DUSDT", ts, D(i < 4 ? "2900" : "2990"), rec_sink, r);
        tg_book_tick_name(b, "EUSDT", ts, D("10.1"), rec_sink, r);
        const tg_stop *s = tg_book_peek(b, ids[P_SHORT]);
        if (i == 2 && (s->flags & TG_F_INTENDED)) {
            memset(&out, 0, sizeof out);
            tg_book_confirmed(b, ids[P_SHORT], ts + 50, s->stop_intended, &out);
            rec_keep(r, &out);
        }
    }
    memset(&out, 0, sizeof out);
    tg_book_close(b, ids[P_TRIGGERED], 400000, D("10.1"), TG_R_STOP, &out);
    rec_keep(r, &out);
}

static void restore_round_trips_through_sqlite(void **state) {
    (void)state;
    char path[512];
    db_path(path, sizeof path, "book-restore");
    tg_err err = {0};
    tg_book *a = NULL, *b = NULL;
    assert_int_equal(tg_book_new(16, 8, &a, &err), TG_OK);
    assert_int_equal(tg_book_new(16, 8, &b, &err), TG_OK);
    static rec ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    uint32_t ids[P_COUNT];
    build(a, ids, &ra);
    assert_int_equal(tg_book_peek(a, ids[P_INACTIVE])->state, TG_STATE_INACTIVE);
    assert_int_equal(tg_book_peek(a, ids[P_WAITING])->state, TG_STATE_WAITING);
    const tg_stop *act = tg_book_peek(a, ids[P_ACTIVE]);
    assert_int_equal(act->state, TG_STATE_ACTIVE);
    assert_true(act->flags & TG_F_CANDIDATE);
    assert_true(act->flags & TG_F_ANCHOR);
    assert_int_equal(act->deferred, TG_DEFER_INTERVAL);
    assert_int_equal(tg_book_peek(a, ids[P_SHORT])->state, TG_STATE_ACTIVE);
    const tg_stop *pend = tg_book_peek(a, ids[P_PENDING]);
    assert_true((pend->flags & TG_F_INTENDED) && !(pend->flags & TG_F_CONFIRMED));
    assert_int_equal(tg_book_peek(a, ids[P_TRIGGERED])->state, TG_STATE_TRIGGERED);
    assert_dec(tg_book_peek(a, ids[P_INACTIVE])->last_price, "101"); /* the pending tick */

    tg_store *st = NULL;
    assert_int_equal(tg_store_open(path, "acct", &st, &err), TG_OK);
    save_all(st, a);
    tg_store_close(st);
    assert_int_equal(tg_store_open(path, "acct", &st, &err), TG_OK);
    restore_ctx rc = {.book = b};
    assert_int_equal(tg_store_load(st, false, restore_row, &rc, &err), TG_OK);
    tg_store_close(st);
    assert_int_equal(rc.rows, P_COUNT);

    for (int p = 0; p < P_COUNT; p++) {
        const tg_stop *x = tg_book_peek(a, ids[p]);
        const tg_stop *y = tg_book_peek(b, ids[p]);
        assert_non_null(y);
        assert_memory_equal(x, y, sizeof *x);
        assert_string_equal(tg_book_symbol_name(b, tg_book_position_symbol(b, ids[p])), sym_of[p]);
    }
    assert_int_equal(tg_book_get_stats(b).open_positions, P_COUNT);

    int before = ra.n_events;
    int cmds_before = ra.n_cmds;
    drive(a, ids, &ra);
    drive(b, ids, &rb);
    assert_true(ra.n_events - before > 4); /* the tail decides something */
    assert_int_equal(ra.n_events - before, rb.n_events);
    assert_int_equal(ra.n_cmds - cmds_before, rb.n_cmds);
    assert_memory_equal(&ra.events[before], rb.events, (size_t)rb.n_events * sizeof(tg_event));
    assert_memory_equal(&ra.cmds[cmds_before], rb.cmds, (size_t)rb.n_cmds * sizeof(tg_cmd));
    for (uint32_t id = tg_book_next(a, TG_BOOK_NONE); id != TG_BOOK_NONE;
         id = tg_book_next(a, id)) {
        assert_memory_equal(tg_book_peek(a, id), tg_book_peek(b, id), sizeof(tg_stop));
    }
    tg_book_free(a);
    tg_book_free(b);
    unlink(path);
}

static void restore_takes_lowest_free_slot_and_refuses_bad_states(void **state) {
    (void)state;
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(4, 2, &b, &err), TG_OK);
    tg_out out = {0};
    tg_stop s;
    tg_open o = open_at(TG_SIDE_LONG, "100", "0.01", 0);
    o.id = 2;
    assert_int_equal(tg_stop_open(&s, &o, &out, &err), TG_OK);
    uint32_t id = 0;
    assert_int_equal(tg_book_restore(b, "AUSDT", &s, &id, &err), TG_OK);
    assert_int_equal(id, 2);
    assert_int_equal(tg_book_restore(b, "AUSDT", &s, &id, &err), TG_OK); /* 2 is taken */
    assert_int_equal(id, 0);
    tg_stop want = s;
    want.id = 0;
    assert_memory_equal(tg_book_peek(b, 0), &want, sizeof want);
    s.id = 99; /* outside the book */
    assert_int_equal(tg_book_restore(b, "BUSDT", &s, &id, &err), TG_OK);
    assert_int_equal(id, 1);
    assert_int_equal(tg_book_next(b, TG_BOOK_NONE), 0);
    assert_int_equal(tg_book_next(b, 0), 1);
    assert_int_equal(tg_book_next(b, 1), 2);
    assert_int_equal(tg_book_next(b, 2), TG_BOOK_NONE);
    assert_int_equal(tg_book_next(b, 3), TG_BOOK_NONE);

    tg_stop bad = s;
    bad.stop_intended = D("95.005"); /* off the tick */
    bad.flags |= TG_F_INTENDED;
    assert_int_equal(tg_book_restore(b, "AUSDT", &bad, &id, &err), TG_E_STATE);
    assert_true(strlen(err.msg) > 0);
    bad = s;
    bad.state = TG_STATE_CLOSED;
    assert_int_equal(tg_book_restore(b, "AUSDT", &bad, &id, &err), TG_E_STATE);
    assert_non_null(strstr(err.msg, "closed"));
    assert_int_equal(tg_book_get_stats(b).open_positions, 3);

    assert_int_equal(tg_book_restore(b, "AUSDT", &s, &id, &err), TG_OK);
    assert_int_equal(id, 3);
    assert_int_equal(tg_book_restore(b, "AUSDT", &s, &id, &err), TG_E_CAPACITY);
    memset(&out, 0, sizeof out);
    tg_book_close(b, 1, 10, D("100"), TG_R_EXTERNAL, &out);
    assert_int_equal(tg_book_position_symbol(b, 1), TG_BOOK_NONE);
    assert_int_equal(tg_book_next(b, 0), 2);
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &id, &out, &err), TG_OK);
    assert_int_equal(id, 1); /* the slot just freed */
    tg_book_free(b);
}

/* Slots in a large book: a restore whose id is taken gets the lowest free
 * slot across bitmap word boundaries; an open the most recently freed. */
static void many_slots_lowest_first(void **state) {
    (void)state;
    enum { N = 5000 };
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(N, 2, &b, &err), TG_OK);
    tg_out out;
    tg_open o = open_at(TG_SIDE_LONG, "100", "0.01", 0);
    uint32_t id = 0;
    for (uint32_t i = 0; i < N; i++) {
        memset(&out, 0, sizeof out);
        assert_int_equal(tg_book_open(b, "AUSDT", &o, &id, &out, &err), TG_OK);
        assert_int_equal(id, i);
    }
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &id, &out, &err), TG_E_CAPACITY);
    static const uint32_t gone[] = {4999, 4096, 63, 64, 1000};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        memset(&out, 0, sizeof out);
        tg_book_close(b, gone[i], 1, D("100"), TG_R_EXTERNAL, &out);
    }
    uint32_t count = 0;
    for (uint32_t p = tg_book_next(b, TG_BOOK_NONE); p != TG_BOOK_NONE; p = tg_book_next(b, p)) {
        count++;
    }
    assert_int_equal(count, N - 5);
    tg_stop s = *tg_book_peek(b, 0); /* id 0 is taken */
    static const uint32_t back[] = {63, 64, 1000, 4096};
    for (size_t i = 0; i < sizeof back / sizeof back[0]; i++) {
        assert_int_equal(tg_book_restore(b, "AUSDT", &s, &id, &err), TG_OK);
        assert_int_equal(id, back[i]);
    }
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &id, &out, &err), TG_OK);
    assert_int_equal(id, 4999);
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &id, &out, &err), TG_E_CAPACITY);
    tg_book_free(b);
}

/* Peeking after every tick neither stops the fast path nor changes what the
 * book decides. */
static void peek_keeps_the_fast_path(void **state) {
    (void)state;
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(4, 2, &b, &err), TG_OK);
    tg_out out = {0};
    uint32_t id = 0;
    tg_open o = open_at(TG_SIDE_LONG, "100", "0.01", 0);
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &id, &out, &err), TG_OK);
    uint32_t sym = tg_book_symbol_find(b, "AUSDT");
    rec r = {0};
    tg_book_tick(b, sym, 1000, D("100.1"), rec_sink, &r); /* the extremes */
    tg_book_tick(b, sym, 1500, D("99.9"), rec_sink, &r);  /* builds the band */
    uint64_t dismissed = tg_book_get_stats(b).ticks_dismissed;
    for (int i = 0; i < 100; i++) {
        const char *p = i % 2 ? "100" : "100.05";
        tg_book_tick(b, sym, 2000 + i, D(p), rec_sink, &r);
        const tg_stop *s = tg_book_peek(b, id);
        assert_dec(s->last_price, p);
        assert_int_equal(s->last_tick_ms, 2000 + i);
        assert_int_equal(tg_book_get_stats(b).ticks_dismissed, dismissed + (uint64_t)i + 1);
    }
    assert_null(tg_book_peek(b, 3));
    (void)tg_book_get(b, id); /* the writer's path still invalidates */
    tg_book_tick(b, sym, 3000, D("100"), rec_sink, &r);
    assert_int_equal(tg_book_get_stats(b).ticks_dismissed, dismissed + 100);
    tg_book_free(b);
}

static void set_params_and_quantity_apply_at_once(void **state) {
    (void)state;
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(4, 2, &b, &err), TG_OK);
    tg_out out = {0};
    uint32_t id = 0;
    tg_open o = open_at(TG_SIDE_LONG, "50000", "0.5", 0);
    o.params.min_update_interval_ms = 0;
    assert_int_equal(tg_book_open(b, "BTCUSDT", &o, &id, &out, &err), TG_OK);
    uint32_t sym = tg_book_symbol_find(b, "BTCUSDT");
    rec r = {0};

    /* Before activation: the activation level follows the new percent. */
    tg_params p = o.params;
    p.activation_pct = D("2");
    assert_int_equal(tg_book_set_params(b, id, &p, &err), TG_OK);
    assert_dec(tg_book_peek(b, id)->activation_price, "51000");
    tg_book_tick(b, sym, 1000, D("50600"), rec_sink, &r); /* was enough at 1 % */
    assert_int_equal(tg_book_peek(b, id)->state, TG_STATE_INACTIVE);
    tg_book_tick(b, sym, 2000, D("51000"), rec_sink, &r);
    assert_int_equal(tg_book_peek(b, id)->state, TG_STATE_ACTIVE);
    tg_dec first = tg_book_peek(b, id)->stop_intended;
    memset(&out, 0, sizeof out);
    tg_book_confirmed(b, id, 2100, first, &out);
    tg_book_tick(b, sym, 3000, D("50900"), rec_sink, &r); /* quiet: dismissed from now on */
    tg_book_tick(b, sym, 3100, D("50950"), rec_sink, &r);
    assert_true(tg_book_get_stats(b).ticks_dismissed > 0);

    /* A tighter callback: the very next tick, in the old quiet band, moves. */
    int cmds = r.n_cmds;
    p.callback = D("0.2");
    assert_int_equal(tg_book_set_params(b, id, &p, &err), TG_OK);
    tg_book_tick(b, sym, 4000, D("50950"), rec_sink, &r);
    assert_int_equal(r.n_cmds, cmds + 2); /* SET_STOP + PERSIST */
    assert_int_equal(r.cmds[cmds].type, TG_CMD_SET_STOP);
    assert_dec(r.cmds[cmds].price, "50898"); /* 51000 − 0.2 % */

    p.callback = D("0");
    assert_int_equal(tg_book_set_params(b, id, &p, &err), TG_E_INVALID);
    assert_dec(tg_book_peek(b, id)->params.callback, "0.2");
    assert_int_equal(tg_book_set_params(b, 3, &p, &err), TG_E_INVALID);

    assert_int_equal(tg_book_set_quantity(b, id, D("0.75"), &err), TG_OK);
    assert_dec(tg_book_peek(b, id)->quantity, "0.75");
    assert_int_equal(tg_book_set_quantity(b, id, D("0"), &err), TG_E_INVALID);
    assert_int_equal(tg_book_set_quantity(b, 3, D("1"), &err), TG_E_INVALID);
    assert_int_equal(tg_stop_check(tg_book_peek(b, id), &err), TG_OK);
    tg_book_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(restore_round_trips_through_sqlite),
        cmocka_unit_test(restore_takes_lowest_free_slot_and_refuses_bad_states),
        cmocka_unit_test(many_slots_lowest_first),
        cmocka_unit_test(peek_keeps_the_fast_path),
        cmocka_unit_test(set_params_and_quantity_apply_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
