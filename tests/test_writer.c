/* The writer: group commit, collapse of intermediate states, bounded and
 * counted journal queue, version bookkeeping, closed positions released. */
#include "store_conformance.h"

#include "trailguard/writer.h"

static char path[512];

static tg_store *open_fresh(const char *name) {
    snprintf(path, sizeof path, "%s/writer-%s-%ld.db", TG_TEST_TMPDIR, name, (long)getpid());
    remove(path);
    tg_store *s = NULL;
    tg_err err = {0};
    if (tg_store_open(path, "acct", &s, &err) != TG_OK) {
        fail_msg("%s", err.msg);
    }
    return s;
}

static void stage(tg_writer *w, harness *h, const char *key, int from) {
    tg_store_row row;
    conf_row(&row, "acct", key, &h->s);
    tg_err err = {0};
    conf_ok(tg_writer_stage_row(w, &row, &err), &err);
    tg_out out = {0};
    for (int i = from; i < h->n_events && out.n_events < TG_OUT_EVENTS_MAX; i++) {
        out.events[out.n_events++] = h->events[i];
    }
    tg_writer_stage_out(w, key, &out, 800);
}

static void collapse_and_group_commit(void **state) {
    (void)state;
    tg_store *s = open_fresh("collapse");
    tg_writer *w = NULL;
    tg_err err = {0};
    conf_ok(tg_writer_new(s, 16, 1024, 0, &w, &err), &err);
    harness h;
    tg_params p = tg_params_default();
    p.min_update_interval_ms = 0;
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    stage(w, &h, "A", 0);
    const char *prices[] = {"102", "103", "104"};
    for (int i = 0; i < 3; i++) {
        int from = h.n_events;
        h_tick(&h, (i + 1) * 1000, prices[i]);
        stage(w, &h, "A", from);
    }
    tg_writer_stats ws = tg_writer_get_stats(w);
    assert_int_equal(ws.rows_collapsed, 3);
    assert_int_equal(ws.pending_rows, 1);
    assert_int_equal(ws.pending_entries, h.n_events);
    assert_int_equal(tg_writer_version(w, "A"), 0);
    conf_ok(tg_writer_flush(w, 5000, &err), &err);
    assert_int_equal(tg_writer_version(w, "A"), 1);
    assert_int_equal(tg_store_get_stats(s).commits, 1); /* one transaction for it all */
    tg_store_row back;
    conf_ok(tg_store_get(s, "A", &back, &err), &err);
    tg_store_row expect;
    conf_row(&expect, "acct", "A", &h.s);
    expect.version = 1;
    conf_assert_same(&expect, &back);
    conf_seqs c = {0};
    conf_ok(tg_store_journal(s, 0, conf_collect_seq, &c, &err), &err);
    assert_true(c.n >= h.n_events);                /* every event, plus the commands */
    conf_ok(tg_writer_flush(w, 6000, &err), &err); /* nothing pending: no commit */
    assert_int_equal(tg_store_get_stats(s).commits, 1);
    tg_writer_free(w);
    tg_store_close(s);
}

static void overflow_is_counted_and_closed_rows_released(void **state) {
    (void)state;
    tg_store *s = open_fresh("overflow");
    tg_writer *w = NULL;
    tg_err err = {0};
    conf_ok(tg_writer_new(s, 1, 2, 0, &w, &err), &err);
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    stage(w, &h, "A", 0);
    int from = h.n_events;
    h_tick(&h, 1000, "102"); /* activated + stop_moved + confirmed */
    stage(w, &h, "A", from);
    tg_writer_stats ws = tg_writer_get_stats(w);
    assert_int_equal(ws.pending_entries, 2);
    assert_true(ws.entries_dropped > 0);
    tg_store_row other;
    conf_row(&other, "acct", "B", &h.s);
    assert_int_equal(tg_writer_stage_row(w, &other, &err), TG_E_CAPACITY);
    assert_non_null(strstr(err.msg, "more than 1 positions"));
    conf_ok(tg_writer_flush(w, 2000, &err), &err);
    tg_out out = {0};
    tg_stop_closed(&h.s, 3000, D("101"), TG_R_EXTERNAL, &out);
    tg_store_row row;
    conf_row(&row, "acct", "A", &h.s);
    conf_ok(tg_writer_stage_row(w, &row, &err), &err);
    conf_ok(tg_writer_flush(w, 3000, &err), &err);
    assert_int_equal(tg_writer_version(w, "A"), -1);     /* released once durable */
    conf_ok(tg_writer_stage_row(w, &other, &err), &err); /* its slot is free again */
    conf_ok(tg_writer_flush(w, 4000, &err), &err);
    tg_writer_free(w);
    tg_store_close(s);
}

/* A row the store refuses as invalid is set aside: the rest of the batch
 * commits, later flushes work, and the position's next good state is
 * written. */
static void invalid_row_is_set_aside(void **state) {
    (void)state;
    tg_store *s = open_fresh("set-aside");
    tg_writer *w = NULL;
    tg_err err = {0};
    conf_ok(tg_writer_new(s, 16, 1024, 0, &w, &err), &err);
    assert_null(tg_writer_last_set_aside(w));
    harness a, b;
    tg_params p = tg_params_default();
    h_open(&a, TG_SIDE_LONG, "100", "0.01", &p, 0);
    h_open(&b, TG_SIDE_LONG, "200", "0.01", &p, 0);
    stage(w, &a, "A", 0);
    tg_stop good_b = b.s;
    b.s.stop_intended = D("190.005"); /* off the tick: the store refuses it */
    b.s.flags |= TG_F_INTENDED;
    stage(w, &b, "B", 0);
    conf_ok(tg_writer_flush(w, 1000, &err), &err);
    tg_writer_stats ws = tg_writer_get_stats(w);
    assert_int_equal(ws.rows_set_aside, 1);
    assert_int_equal(ws.flushes, 1);
    assert_int_equal(ws.pending_rows, 0);
    const char *why = tg_writer_last_set_aside(w);
    assert_non_null(why);
    assert_true(strncmp(why, "B: ", 3) == 0);
    tg_store_row back;
    conf_ok(tg_store_get(s, "A", &back, &err), &err);
    assert_int_equal(tg_store_get(s, "B", &back, &err), TG_E_INVALID);
    /* later flushes are not held back, and B's next good state goes in */
    int from = a.n_events;
    h_tick(&a, 2000, "101");
    stage(w, &a, "A", from);
    b.s = good_b;
    stage(w, &b, "B", b.n_events);
    conf_ok(tg_writer_flush(w, 3000, &err), &err);
    conf_ok(tg_store_get(s, "B", &back, &err), &err);
    assert_int_equal(tg_writer_get_stats(w).rows_set_aside, 1);
    assert_int_equal(tg_writer_version(w, "A"), 2);
    tg_writer_free(w);
    tg_store_close(s);
    remove(path);
}

/* Many positions opened and closed through a small writer: every live key
 * is still found with its version, every closed one is gone, and the whole
 * capacity is usable afterwards (deleted hash entries are reclaimed). */
static void heavy_churn_keeps_lookups_exact(void **state) {
    (void)state;
    enum { ROWS = 64, LIVE = 40, TOTAL = 3000, BATCH = 12 };
    tg_store *s = open_fresh("churn");
    tg_writer *w = NULL;
    tg_err err = {0};
    conf_ok(tg_writer_new(s, ROWS, 4096, 0, &w, &err), &err);
    static harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    tg_store_row row;
    char key[32];
    int staged = 0;
    for (int i = 0; i < TOTAL; i++) {
        snprintf(key, sizeof key, "K%05d", i);
        conf_row(&row, "acct", key, &h.s);
        conf_ok(tg_writer_stage_row(w, &row, &err), &err);
        if (i >= LIVE) { /* close the one opened LIVE positions ago */
            snprintf(key, sizeof key, "K%05d", i - LIVE);
            conf_row(&row, "acct", key, &h.s);
            row.stop.state = TG_STATE_CLOSED;
            row.stop.closed_ms = 1;
            conf_ok(tg_writer_stage_row(w, &row, &err), &err);
        }
        if (++staged % BATCH == 0) {
            conf_ok(tg_writer_flush(w, i, &err), &err);
        }
    }
    conf_ok(tg_writer_flush(w, TOTAL, &err), &err);
    for (int i = 0; i < TOTAL; i++) {
        snprintf(key, sizeof key, "K%05d", i);
        int64_t v = tg_writer_version(w, key);
        if (i < TOTAL - LIVE) {
            assert_int_equal(v, -1);
        } else {
            assert_int_equal(v, 1);
        }
    }
    for (int i = 0; i < ROWS - LIVE; i++) { /* the whole capacity is free again */
        snprintf(key, sizeof key, "N%05d", i);
        conf_row(&row, "acct", key, &h.s);
        conf_ok(tg_writer_stage_row(w, &row, &err), &err);
    }
    snprintf(key, sizeof key, "N%05d", ROWS);
    conf_row(&row, "acct", key, &h.s);
    assert_int_equal(tg_writer_stage_row(w, &row, &err), TG_E_CAPACITY);
    conf_ok(tg_writer_flush(w, TOTAL + 1, &err), &err);
    assert_int_equal(tg_writer_version(w, "N00000"), 1);
    assert_int_equal(tg_writer_version(w, "K02999"), 1);
    tg_writer_free(w);
    tg_store_close(s);
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invalid_row_is_set_aside),
        cmocka_unit_test(heavy_churn_keeps_lookups_exact),
        cmocka_unit_test(collapse_and_group_commit),
        cmocka_unit_test(overflow_is_counted_and_closed_rows_released),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
