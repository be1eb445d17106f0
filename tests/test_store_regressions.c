/* Store and writer defects found by the durable-state work (crash test,
 * fault injection, benchmark), each kept as a regression test: the comment
 * says what the code used to do. */
#include "store_conformance.h"

#include "trailguard/writer.h"

#define BATCH_ROWS_LIMIT 65536 /* store.c BATCH_PUTS_MAX: rows one transaction may carry */

static char path[512];

static tg_store *open_fresh(const char *name) {
    snprintf(path, sizeof path, "%s/regress-%s-%ld.db", TG_TEST_TMPDIR, name, (long)getpid());
    remove(path);
    char side[600];
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
    tg_store *s = NULL;
    tg_err err = {0};
    if (tg_store_open(path, "acct", &s, &err) != TG_OK) {
        fail_msg("%s", err.msg);
    }
    return s;
}

static void stage(tg_writer *w, const char *key, const tg_stop *s) {
    tg_store_row row;
    conf_row(&row, "acct", key, s);
    tg_err err = {0};
    conf_ok(tg_writer_stage_row(w, &row, &err), &err);
}

/* A position key names a position slot on the exchange ("BTCUSDT:long");
 * once its position closed, the next position on that symbol and side has
 * the same key. The writer forgot the stored version when it released the
 * closed row, so the new row is inserted as version 0 over the closed one:
 * TG_E_CONFLICT, and since the conflicting row stays queued, every later
 * flush fails too — no other position's state or journal entry is ever made
 * durable again. */
static void writer_reuses_a_closed_positions_key(void **state) {
    (void)state;
    tg_store *s = open_fresh("reuse");
    tg_writer *w = NULL;
    tg_err err = {0};
    conf_ok(tg_writer_new(s, 8, 64, 0, &w, &err), &err);
    tg_params p = tg_params_default();
    harness first, second, other;
    h_open(&first, TG_SIDE_LONG, "100", "0.01", &p, 0);
    stage(w, "BTCUSDT:long", &first.s);
    conf_ok(tg_writer_flush(w, 0, &err), &err);
    tg_out out = {0};
    tg_stop_closed(&first.s, 1000, D("101"), TG_R_EXTERNAL, &out);
    stage(w, "BTCUSDT:long", &first.s);
    conf_ok(tg_writer_flush(w, 1000, &err), &err);

    h_open(&second, TG_SIDE_LONG, "102", "0.01", &p, 2000); /* the next position */
    h_open(&other, TG_SIDE_SHORT, "3000", "0.01", &p, 2000);
    stage(w, "BTCUSDT:long", &second.s);
    stage(w, "ETHUSDT:short", &other.s);
    tg_status st = tg_writer_flush(w, 2000, &err);
    if (st != TG_OK) {
        fail_msg("flush after reopening BTCUSDT:long: %s", err.msg);
    }
    tg_store_row back;
    conf_ok(tg_store_get(s, "BTCUSDT:long", &back, &err), &err);
    assert_int_equal(back.stop.state, TG_STATE_INACTIVE);
    assert_dec(back.stop.entry, "102");
    conf_ok(tg_store_get(s, "ETHUSDT:short", &back, &err), &err);
    tg_writer_free(w);
    tg_store_close(s);
}

/* tg_writer_new accepts up to 10,000,000 rows, but one store batch carries
 * at most 65,536: a flush with more pending rows (a restart or an outage
 * with that many positions) fails with TG_E_CAPACITY every time, forever. */
static void writer_flushes_more_rows_than_one_batch(void **state) {
    (void)state;
    tg_store *s = open_fresh("bigflush");
    tg_writer *w = NULL;
    tg_err err = {0};
    uint32_t n = BATCH_ROWS_LIMIT + 1;
    conf_ok(tg_writer_new(s, n, 16, 0, &w, &err), &err);
    tg_params p = tg_params_default();
    harness h;
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    for (uint32_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "P%06u", i);
        stage(w, key, &h.s);
    }
    tg_status st = tg_writer_flush(w, 0, &err);
    if (st != TG_OK) {
        fail_msg("flush of %u rows: %s", n, err.msg);
    }
    assert_int_equal(tg_writer_get_stats(w).pending_rows, 0);
    tg_writer_free(w);
    tg_store_close(s);
}

typedef struct last_entry {
    tg_journal_entry e; /* the last entry read */
    int n;              /* entries read */
} last_entry;

static bool keep_last(void *ctx, const tg_journal_entry *e) {
    last_entry *l = ctx;
    l->e = *e;
    l->n++;
    return true;
}

static void append_one(tg_store *s, tg_journal_entry *e) {
    tg_err err = {0};
    conf_ok(tg_store_begin(s, &err), &err);
    conf_ok(tg_store_append(s, e, &err), &err);
    conf_ok(tg_store_commit(s, &err), &err);
}

/* store.h: "Sequence numbers are never reused." The next number is MAX(seq)
 * + 1 of what is left, so pruning the newest entries (an account whose last
 * position closed longer ago than the retention) hands their numbers out
 * again, and a reader that follows the journal by seq misses the new ones. */
static void prune_never_reuses_sequence_numbers(void **state) {
    (void)state;
    tg_store *s = open_fresh("prune");
    tg_params p = tg_params_default();
    harness h;
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    tg_out out = {0};
    tg_stop_closed(&h.s, 1000, D("101"), TG_R_EXTERNAL, &out);
    h_keep(&h, &out);
    tg_store_row row;
    conf_row(&row, "acct", "A", &h.s);
    conf_persist(s, &row, &h, 0); /* created + closed: seq 1, 2 */
    uint64_t deleted = 0;
    tg_err err = {0};
    conf_ok(tg_store_prune(s, 5000, &deleted, &err), &err);
    assert_int_equal(deleted, 2);
    tg_journal_entry e = {.kind = TG_JOURNAL_COMMAND, .ts_ms = 6000, .latency_us = -1};
    snprintf(e.position_key, sizeof e.position_key, "%s", "B");
    e.command.type = TG_CMD_SET_STOP;
    e.command.price = D("99");
    append_one(s, &e);
    assert_int_equal(e.seq, 3);
    tg_store_close(s);
}

/* The journal keeps a close_position command's price in the `price` column
 * but reads the command's price back from `stop` only: it comes back 0. */
static void journal_keeps_close_position_price(void **state) {
    (void)state;
    tg_store *s = open_fresh("closeprice");
    tg_journal_entry e = {.kind = TG_JOURNAL_COMMAND, .ts_ms = 1000, .latency_us = -1};
    snprintf(e.position_key, sizeof e.position_key, "%s", "A");
    e.command.type = TG_CMD_CLOSE_POSITION;
    e.command.reason = TG_R_CLOSE_POSITION;
    e.command.price = D("51242.5");
    append_one(s, &e);
    last_entry l = {0};
    tg_err err = {0};
    conf_ok(tg_store_journal(s, 0, keep_last, &l, &err), &err);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.e.command.type, TG_CMD_CLOSE_POSITION);
    assert_dec(l.e.command.price, "51242.5");
    tg_store_close(s);
}

/* Another writer changed one row behind our back: that row is not written
 * over theirs, and it does not hold back the other positions' state. */
static void writer_conflict_does_not_block_other_rows(void **state) {
    (void)state;
    tg_store *s = open_fresh("conflict");
    tg_writer *w = NULL;
    tg_err err = {0};
    conf_ok(tg_writer_new(s, 8, 64, 0, &w, &err), &err);
    tg_params p = tg_params_default();
    harness a, b;
    h_open(&a, TG_SIDE_LONG, "100", "0.01", &p, 0);
    h_open(&b, TG_SIDE_SHORT, "200", "0.01", &p, 0);
    stage(w, "A", &a.s);
    stage(w, "B", &b.s);
    conf_ok(tg_writer_flush(w, 0, &err), &err);

    tg_store *other = NULL; /* a second process of the same account */
    conf_ok(tg_store_open(path, "acct", &other, &err), &err);
    tg_store_row theirs;
    conf_ok(tg_store_get(other, "A", &theirs, &err), &err);
    conf_ok(tg_store_begin(other, &err), &err);
    conf_ok(tg_store_put(other, &theirs, &err), &err);
    conf_ok(tg_store_commit(other, &err), &err);

    h_tick(&a, 1000, "101");
    h_tick(&b, 1000, "199");
    stage(w, "A", &a.s);
    stage(w, "B", &b.s);
    tg_out out = {0};
    tg_stop_closed(&b.s, 1000, D("199"), TG_R_EXTERNAL, &out);
    tg_writer_stage_out(w, "B", &out, -1);
    assert_int_equal(tg_writer_flush(w, 1000, &err), TG_E_CONFLICT);
    assert_non_null(strstr(err.msg, "'A'"));
    assert_int_equal(tg_writer_get_stats(w).rows_conflicted, 1);
    assert_int_equal(tg_writer_get_stats(w).pending_rows, 0);
    tg_store_row back;
    conf_ok(tg_store_get(s, "B", &back, &err), &err);
    assert_int_equal(back.version, 2); /* B went through */
    conf_ok(tg_store_get(s, "A", &back, &err), &err);
    assert_int_equal(back.version, theirs.version); /* A is still theirs */
    conf_ok(tg_writer_flush(w, 2000, &err), &err);  /* and nothing is stuck */
    tg_store_close(other);
    tg_writer_free(w);
    tg_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writer_reuses_a_closed_positions_key),
        cmocka_unit_test(writer_flushes_more_rows_than_one_batch),
        cmocka_unit_test(prune_never_reuses_sequence_numbers),
        cmocka_unit_test(journal_keeps_close_position_price),
        cmocka_unit_test(writer_conflict_does_not_block_other_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
