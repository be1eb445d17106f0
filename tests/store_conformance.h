/*
 * store_conformance.h — one suite, every backend. A test file defines the
 * URI and calls tg_store_conformance_run(uri). Each test uses its own
 * account, so the suite needs no clean database and leaves other data alone.
 */
#ifndef TG_TEST_STORE_CONFORMANCE_H
#define TG_TEST_STORE_CONFORMANCE_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* getpid */
#endif
#include <inttypes.h>
#include <unistd.h>
#include <stdlib.h>
#include <time.h>

#include "engine_harness.h"
#include "store/backend.h"
#include "store/codec.h"
#include "trailguard/store.h"

static const char *conf_uri; /* the store under test */
static unsigned conf_serial; /* makes account names unique within a run */
static long conf_run_id;     /* and across runs against the same database */

static void conf_account(char *buf, size_t cap, const char *test) {
    snprintf(buf, cap, "%s-%ld-%u", test, conf_run_id, ++conf_serial);
}

static tg_store *conf_open(const char *account) {
    tg_store *s = NULL;
    tg_err err = {0};
    if (tg_store_open(conf_uri, account, &s, &err) != TG_OK) {
        fail_msg("open %s: %s", conf_uri, err.msg);
    }
    return s;
}

static void conf_ok(tg_status st, const tg_err *err) {
    if (st != TG_OK) {
        fail_msg("store call failed: %s", err->msg);
    }
}

/* A row around a harness position. */
static void conf_row(tg_store_row *row, const char *account, const char *key, const tg_stop *s) {
    memset(row, 0, sizeof *row);
    snprintf(row->account, sizeof row->account, "%s", account);
    snprintf(row->exchange, sizeof row->exchange, "%s", "binance");
    snprintf(row->symbol, sizeof row->symbol, "%s", "BTCUSDT");
    snprintf(row->position_key, sizeof row->position_key, "%s", key);
    row->stop = *s;
}

/* Two rows hold the same content when every column encodes the same. */
static void conf_assert_same(const tg_store_row *a, const tg_store_row *b) {
    int n = tg_codec_column_count();
    tg_col_value *va = calloc((size_t)n, sizeof *va), *vb = calloc((size_t)n, sizeof *vb);
    assert_non_null(va);
    assert_non_null(vb);
    tg_codec_encode(a, va);
    tg_codec_encode(b, vb);
    for (int i = 0; i < n; i++) {
        const char *name = tg_codec_column(i)->name;
        if (va[i].null != vb[i].null || va[i].i != vb[i].i || strcmp(va[i].text, vb[i].text) != 0) {
            fail_msg("column %s differs: '%s'/%" PRId64 " vs '%s'/%" PRId64, name, va[i].text,
                     va[i].i, vb[i].text, vb[i].i);
        }
    }
    free(va);
    free(vb);
}

/* Commits the harness's events since `from` and the row, as the daemon will. */
static void conf_persist(tg_store *st, tg_store_row *row, const harness *h, int from) {
    tg_err err = {0};
    conf_ok(tg_store_begin(st, &err), &err);
    row->stop = h->s;
    conf_ok(tg_store_put(st, row, &err), &err);
    for (int i = from; i < h->n_events; i++) {
        tg_journal_entry e = {.kind = TG_JOURNAL_EVENT,
                              .event = h->events[i],
                              .ts_ms = h->events[i].ts_ms,
                              .latency_us = -1};
        snprintf(e.position_key, sizeof e.position_key, "%s", row->position_key);
        conf_ok(tg_store_append(st, &e, &err), &err);
    }
    conf_ok(tg_store_commit(st, &err), &err);
}

static bool conf_count_row(void *ctx, const tg_store_row *row) {
    (void)row;
    (*(int *)ctx)++;
    return true;
}

typedef struct conf_seqs {
    int64_t seq[256];      /* sequence numbers seen */
    tg_journal_entry last; /* the last entry */
    int n;                 /* entries seen */
} conf_seqs;

static bool conf_collect_seq(void *ctx, const tg_journal_entry *e) {
    conf_seqs *c = ctx;
    if (c->n < 256) {
        c->seq[c->n] = e->seq;
    }
    c->n++;
    c->last = *e;
    return true;
}

static void conf_create_update_get(void **state) {
    (void)state;
    char account[64];
    conf_account(account, sizeof account, "create");
    tg_store *st = conf_open(account);
    harness h;
    tg_params p = tg_params_default();
    p.steps[0] = (tg_step){D("1"), D("0.5")};
    p.steps[1] = (tg_step){D("2"), D("0.3")};
    p.step_count = 2;
    p.initial_stop_pct = D("2");
    h_open(&h, TG_SIDE_LONG, "50000", "0.1", &p, 1000);
    tg_store_row row, back;
    conf_row(&row, account, "BTCUSDT:long:1", &h.s);
    snprintf(row.order_id, sizeof row.order_id, "%s", "2000000015445020");
    conf_persist(st, &row, &h, 0);
    assert_int_equal(row.version, 1);
    tg_err err = {0};
    conf_ok(tg_store_get(st, row.position_key, &back, &err), &err);
    assert_int_equal(back.version, 1);
    conf_assert_same(&row, &back);
    assert_string_equal(back.order_id, "2000000015445020");

    int from = h.n_events;
    h_tick(&h, 61000, "51500");
    conf_persist(st, &row, &h, from);
    assert_int_equal(row.version, 2);
    conf_ok(tg_store_get(st, row.position_key, &back, &err), &err);
    conf_assert_same(&row, &back);
    assert_int_equal(back.stop.state, TG_STATE_ACTIVE);
    assert_int_equal(tg_store_get(st, "nope", &back, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "no position 'nope'"));
    tg_store_close(st);
}

static void conf_version_conflict(void **state) {
    (void)state;
    char account[64];
    conf_account(account, sizeof account, "conflict");
    tg_store *a = conf_open(account);
    tg_store *b = conf_open(account);
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_SHORT, "3000", "0.01", &p, 0);
    tg_store_row row;
    conf_row(&row, account, "ETHUSDT:short", &h.s);
    conf_persist(a, &row, &h, 0);
    tg_store_row stale = row; /* b read version 1 */
    h_tick(&h, 1000, "2940");
    conf_persist(a, &row, &h, 0 + h.n_events - 1); /* a writes version 2 */

    tg_err err = {0};
    conf_ok(tg_store_begin(b, &err), &err);
    tg_journal_entry e = {.kind = TG_JOURNAL_COMMAND, .ts_ms = 5, .latency_us = 1200};
    snprintf(e.position_key, sizeof e.position_key, "%s", "ETHUSDT:short");
    conf_ok(tg_store_append(b, &e, &err), &err);
    assert_int_equal(tg_store_put(b, &stale, &err), TG_E_CONFLICT);
    assert_non_null(strstr(err.msg, "ETHUSDT:short"));
    tg_store_rollback(b);
    assert_int_equal(stale.version, 1);
    assert_int_equal(tg_store_get_stats(b).conflicts, 1);

    tg_store_row fresh = row;
    fresh.version = 0; /* inserting over an existing row is a conflict too */
    conf_ok(tg_store_begin(b, &err), &err);
    assert_int_equal(tg_store_put(b, &fresh, &err), TG_E_CONFLICT);
    tg_store_rollback(b);

    tg_store_row back;
    conf_ok(tg_store_get(b, "ETHUSDT:short", &back, &err), &err);
    conf_assert_same(&row, &back);
    tg_store_close(a);
    tg_store_close(b);
}

static void conf_journal_gap_free(void **state) {
    (void)state;
    char account[64];
    conf_account(account, sizeof account, "journal");
    tg_store *st = conf_open(account);
    tg_err err = {0};
    for (int batch = 0; batch < 5; batch++) {
        conf_ok(tg_store_begin(st, &err), &err);
        for (int k = 0; k < 3; k++) {
            tg_journal_entry e = {.kind = TG_JOURNAL_COMMAND, .ts_ms = batch, .latency_us = -1};
            e.command.type = TG_CMD_SET_STOP;
            e.command.reason = TG_R_TRAIL;
            e.command.price = D("51242.5");
            snprintf(e.position_key, sizeof e.position_key, "%s", "K");
            conf_ok(tg_store_append(st, &e, &err), &err);
        }
        if (batch == 2) {
            tg_store_rollback(st); /* its numbers are handed out again */
        } else {
            conf_ok(tg_store_commit(st, &err), &err);
        }
    }
    tg_store_close(st);
    st = conf_open(account); /* numbering continues after a reopen */
    conf_ok(tg_store_begin(st, &err), &err);
    tg_journal_entry e = {.kind = TG_JOURNAL_EVENT, .ts_ms = 9, .latency_us = 250};
    snprintf(e.position_key, sizeof e.position_key, "%s", "K");
    e.event.type = TG_EV_STOP_MOVED;
    e.event.reason = TG_R_EMERGENCY;
    e.event.state = TG_STATE_ACTIVE;
    e.event.stop = D("0.00000001");
    e.event.has = TG_EVH_STOP;
    conf_ok(tg_store_append(st, &e, &err), &err);
    conf_ok(tg_store_commit(st, &err), &err);
    conf_seqs c = {0};
    conf_ok(tg_store_journal(st, 0, conf_collect_seq, &c, &err), &err);
    assert_int_equal(c.n, 13);
    for (int i = 0; i < c.n; i++) {
        assert_int_equal(c.seq[i], i + 1);
    }
    assert_int_equal(c.last.kind, TG_JOURNAL_EVENT);
    assert_int_equal(c.last.event.type, TG_EV_STOP_MOVED);
    assert_int_equal(c.last.event.reason, TG_R_EMERGENCY);
    assert_int_equal(c.last.latency_us, 250);
    assert_dec(c.last.event.stop, "0.00000001");
    assert_false(c.last.event.has & TG_EVH_PRICE); /* unset stays unset */
    conf_seqs tail = {0};
    conf_ok(tg_store_journal(st, 10, conf_collect_seq, &tail, &err), &err);
    assert_int_equal(tail.n, 3);
    tg_store_close(st);
}

static void conf_close_load_prune(void **state) {
    (void)state;
    char account[64];
    conf_account(account, sizeof account, "prune");
    tg_store *st = conf_open(account);
    tg_params p = tg_params_default();
    harness a, b;
    h_open(&a, TG_SIDE_LONG, "100", "0.01", &p, 0);
    h_open(&b, TG_SIDE_LONG, "200", "0.01", &p, 0);
    tg_store_row ra, rb;
    conf_row(&ra, account, "A", &a.s);
    conf_row(&rb, account, "B", &b.s);
    conf_persist(st, &ra, &a, 0);
    conf_persist(st, &rb, &b, 0);
    int from = a.n_events;
    tg_out out = {0};
    tg_stop_closed(&a.s, 5000, D("101"), TG_R_EXTERNAL, &out);
    h_keep(&a, &out);
    conf_persist(st, &ra, &a, from);

    int open_rows = 0, all_rows = 0;
    tg_err err = {0};
    conf_ok(tg_store_load(st, false, conf_count_row, &open_rows, &err), &err);
    conf_ok(tg_store_load(st, true, conf_count_row, &all_rows, &err), &err);
    assert_int_equal(open_rows, 1);
    assert_int_equal(all_rows, 2);

    uint64_t deleted = 99;
    conf_ok(tg_store_prune(st, 5000, &deleted, &err), &err); /* closed at 5000: not before */
    assert_int_equal(deleted, 0);
    conf_ok(tg_store_prune(st, 5001, &deleted, &err), &err);
    assert_int_equal(deleted, (uint64_t)a.n_events);
    conf_seqs c = {0};
    conf_ok(tg_store_journal(st, 0, conf_collect_seq, &c, &err), &err);
    assert_int_equal(c.n, b.n_events); /* the open position's journal is kept */
    tg_store_close(st);
}

static void conf_reconcile_flag_and_isolation(void **state) {
    (void)state;
    char account[64], other[64];
    conf_account(account, sizeof account, "reconcile");
    conf_account(other, sizeof other, "other");
    tg_store *st = conf_open(account);
    tg_store *so = conf_open(other);
    tg_params p = tg_params_default();
    harness h;
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, 0);
    h.auto_confirm = false;
    h_tick(&h, 1000, "51500"); /* intended 51242.50, not confirmed */
    tg_store_row row, same_key_other;
    conf_row(&row, account, "BTCUSDT:long", &h.s);
    conf_persist(st, &row, &h, 0);
    conf_row(&same_key_other, other, "BTCUSDT:long", &h.s);
    conf_persist(so, &same_key_other, &h, 0); /* same key, other account: no clash */
    tg_store_row back;
    tg_err err = {0};
    conf_ok(tg_store_get(st, "BTCUSDT:long", &back, &err), &err);
    assert_true(back.needs_reconcile);
    tg_out out = {0};
    tg_stop_confirmed(&h.s, 1100, D("51242.50"), &out);
    conf_persist(st, &row, &h, h.n_events);
    conf_ok(tg_store_get(st, "BTCUSDT:long", &back, &err), &err);
    assert_false(back.needs_reconcile);
    conf_seqs c = {0};
    conf_ok(tg_store_journal(so, 0, conf_collect_seq, &c, &err), &err);
    assert_int_equal(c.seq[0], 1); /* each account numbers its own journal */
    tg_store_row foreign = row;
    snprintf(foreign.account, sizeof foreign.account, "%s", other);
    conf_ok(tg_store_begin(st, &err), &err);
    assert_int_equal(tg_store_put(st, &foreign, &err), TG_E_INVALID);
    tg_store_rollback(st);
    tg_store_close(st);
    tg_store_close(so);
}

typedef struct conf_restore {
    tg_store_row row; /* the one row loaded */
    int n;            /* rows loaded */
} conf_restore;

static bool conf_take_row(void *ctx, const tg_store_row *row) {
    conf_restore *r = ctx;
    r->row = *row;
    r->n++;
    return true;
}

/* The audit's restart scenario: long 50000, activation 1.5, callback 0.5. */
static void conf_restart_scenario(void **state) {
    (void)state;
    char account[64];
    conf_account(account, sizeof account, "restart");
    tg_store *st = conf_open(account);
    tg_params p = tg_params_default();
    harness h;
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, 0);
    tg_store_row row;
    conf_row(&row, account, "BTCUSDT:long", &h.s);
    conf_persist(st, &row, &h, 0);
    int from = h.n_events;
    h_tick(&h, 60000, "51500");
    h_assert_stop(&h, "51242.50");
    h_tick(&h, 120000, "52000");
    h_assert_stop(&h, "51740");
    conf_persist(st, &row, &h, from);
    tg_store_close(st); /* the process goes away */

    st = conf_open(account);
    conf_restore r = {0};
    tg_err err = {0};
    conf_ok(tg_store_load(st, false, conf_take_row, &r, &err), &err);
    assert_int_equal(r.n, 1);
    conf_assert_same(&row, &r.row);
    harness h2 = h; /* continue from the restored state, not the old memory */
    h2.s = r.row.stop;
    h2.n_events = 0;
    h2.n_cmds = 0;
    assert_int_equal(h2.s.state, TG_STATE_ACTIVE);
    assert_dec(h2.s.highest, "52000");
    h_assert_stop(&h2, "51740");
    assert_int_equal(h2.s.update_count, h.s.update_count);
    assert_int_equal(h2.s.activated_ms, 60000);
    h_tick(&h2, 180000, "52500");
    assert_int_equal(h_count_events(&h2, TG_EV_ACTIVATED), 0); /* no second activation */
    h_assert_stop(&h2, "52237.50");
    tg_store_close(st);
}

/* The next position on the same symbol and side takes over the key of the
 * closed one; its version goes on from there, so a writer still holding an
 * old version of the key cannot write over it. */
static void conf_reopen_closed_key(void **state) {
    (void)state;
    char account[64];
    conf_account(account, sizeof account, "reopen");
    tg_store *st = conf_open(account);
    tg_params p = tg_params_default();
    harness first, second;
    h_open(&first, TG_SIDE_LONG, "100", "0.01", &p, 0);
    tg_store_row row;
    conf_row(&row, account, "BTCUSDT:long", &first.s);
    conf_persist(st, &row, &first, 0);
    tg_store_row stale = row; /* version 1 */
    tg_out out = {0};
    tg_stop_closed(&first.s, 1000, D("101"), TG_R_EXTERNAL, &out);
    h_keep(&first, &out);
    conf_persist(st, &row, &first, 0);
    assert_int_equal(row.version, 2);

    h_open(&second, TG_SIDE_LONG, "102", "0.01", &p, 2000);
    tg_store_row next;
    conf_row(&next, account, "BTCUSDT:long", &second.s); /* version 0: a new position */
    conf_persist(st, &next, &second, 0);
    assert_int_equal(next.version, 3);
    tg_store_row back;
    tg_err err = {0};
    conf_ok(tg_store_get(st, "BTCUSDT:long", &back, &err), &err);
    conf_assert_same(&next, &back);

    tg_store_row again = next; /* an open position's key is not free */
    again.version = 0;
    conf_ok(tg_store_begin(st, &err), &err);
    assert_int_equal(tg_store_put(st, &again, &err), TG_E_CONFLICT);
    tg_store_rollback(st);
    stale.stop = second.s;
    conf_ok(tg_store_begin(st, &err), &err);
    assert_int_equal(tg_store_put(st, &stale, &err), TG_E_CONFLICT);
    tg_store_rollback(st);
    tg_store_close(st);
}

static bool conf_keep_seq(void *ctx, const tg_journal_entry *e) {
    int64_t *last = ctx;
    assert_true(e->seq == *last + 1); /* in order, no gaps */
    *last = e->seq;
    return true;
}

/* A store written by schema version 1 (journal entries only, as raw SQL)
 * opens migrated: entries kept, numbering continues, and a prune that
 * empties the journal never hands a number out again. raw_sql runs one
 * statement against fresh_uri. */
__attribute__((unused)) static void conf_check_migration_from_v1(const char *fresh_uri,
                                                                 void (*raw_sql)(const char *uri,
                                                                                 const char *sql)) {
    tg_err err = {0};
    conf_ok(tg_store_create_at(fresh_uri, 1, &err), &err);
    /* as version 1 wrote them: every event carries the state after it */
    raw_sql(fresh_uri,
            "INSERT INTO stop_event (account, seq, position_key, ts_ms, kind, type, state) "
            "VALUES ('old', 1, 'K', 1000, 'event', 'created', 'inactive'), "
            "('old', 2, 'K', 2000, 'event', 'activated', 'active'), "
            "('old', 3, 'K', 3000, 'event', 'stop_moved', 'active')");
    tg_store *st = NULL;
    conf_ok(tg_store_open(fresh_uri, "old", &st, &err), &err);
    int64_t last = 0;
    conf_ok(tg_store_journal(st, 0, conf_keep_seq, &last, &err), &err);
    assert_int_equal(last, 3);

    tg_params p = tg_params_default();
    harness h;
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    tg_out out = {0};
    tg_stop_closed(&h.s, 4000, D("101"), TG_R_EXTERNAL, &out);
    h_keep(&h, &out);
    tg_store_row row;
    conf_row(&row, "old", "K", &h.s);
    conf_persist(st, &row, &h, 0); /* seq 4 .. 3 + n_events */
    uint64_t deleted = 0;
    conf_ok(tg_store_prune(st, 5000, &deleted, &err), &err);
    assert_int_equal(deleted, 3 + (uint64_t)h.n_events);
    tg_store_close(st);

    conf_ok(tg_store_open(fresh_uri, "old", &st, &err), &err); /* after a restart, too */
    tg_journal_entry e = {.kind = TG_JOURNAL_COMMAND, .ts_ms = 6000, .latency_us = -1};
    snprintf(e.position_key, sizeof e.position_key, "%s", "L");
    e.command.type = TG_CMD_SET_STOP;
    e.command.price = D("99");
    conf_ok(tg_store_begin(st, &err), &err);
    conf_ok(tg_store_append(st, &e, &err), &err);
    conf_ok(tg_store_commit(st, &err), &err);
    assert_int_equal(e.seq, 4 + h.n_events);
    tg_store_close(st);
}

/* label names the group in the output (never the URI: it may carry a
 * password). */
__attribute__((unused)) static int tg_store_conformance_run(const char *label, const char *uri) {
    conf_uri = uri;
    conf_run_id = (long)time(NULL) ^ (long)getpid();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conf_create_update_get),
        cmocka_unit_test(conf_version_conflict),
        cmocka_unit_test(conf_journal_gap_free),
        cmocka_unit_test(conf_close_load_prune),
        cmocka_unit_test(conf_reconcile_flag_and_isolation),
        cmocka_unit_test(conf_restart_scenario),
        cmocka_unit_test(conf_reopen_closed_key),
    };
    return cmocka_run_group_tests_name(label, tests, NULL, NULL);
}

#endif
