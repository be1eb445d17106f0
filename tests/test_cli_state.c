/* `trailguard replay --store` and `trailguard state`: a back-test journaled
 * in a real SQLite file and read back with the same tools a live store is
 * read with. */
#include "replay_testutil.h"

#include "trailguard/store.h"

#define PREFIX "cli-state"

static char db[TU_PATH_MAX], out[TU_PATH_MAX], errp[TU_PATH_MAX], data[TU_PATH_MAX];

static void fresh_store(const char *name) {
    tu_path(db, PREFIX, name);
    remove(db);
    char side[TU_PATH_MAX + 8];
    snprintf(side, sizeof side, "%s-wal", db);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", db);
    remove(side);
    tu_path(out, PREFIX, "out");
    tu_path(errp, PREFIX, "err");
}

/* The audit's long: entry 50000, activation 1.5 %, callback 0.5 %; the
 * price reaches 52000 and falls back through the stop at 51740. */
static void write_path(void) {
    tu_path(data, PREFIX, "ticks.csv");
    tu_write(data, "0,50000\n60000,51500\n120000,52000\n180000,51800\n240000,51700\n");
}

static int count_lines_with(const char *text, const char *part) {
    int n = 0;
    for (const char *p = strstr(text, part); p != NULL; p = strstr(p + 1, part)) {
        n++;
    }
    return n;
}

static void replay_is_journaled_and_listed(void **state) {
    (void)state;
    fresh_store("journal.db");
    write_path();
    const char *params = "--activation-percent 1.5 --callback-percent 0.5 "
                         "--min-update-interval-seconds 0";
    assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' --store '%s' --symbol BTCUSDT %s",
                                data, db, params),
                     0);
    char *summary = tu_read(out, NULL);
    assert_non_null(strstr(summary, "journaled      position BTCUSDT:long of account default"));
    free(summary);

    assert_int_equal(tu_run_cli(out, errp, "state list --store '%s'", db), 0);
    char *list = tu_read(out, NULL);
    assert_non_null(strstr(list, "no open positions")); /* it was stopped out */
    free(list);
    assert_int_equal(tu_run_cli(out, errp, "state list --all --store '%s'", db), 0);
    list = tu_read(out, NULL);
    assert_non_null(strstr(list, "BTCUSDT:long"));
    assert_non_null(strstr(list, "closed"));
    assert_non_null(strstr(list, "51740"));
    free(list);

    assert_int_equal(tu_run_cli(out, errp, "state show BTCUSDT --store '%s'", db), 0);
    char *show = tu_read(out, NULL);
    assert_non_null(strstr(show, "confirmed_stop               51740"));
    assert_non_null(strstr(show, "\"event\":\"activated\""));
    assert_non_null(strstr(show, "\"event\":\"closed\""));
    free(show);

    assert_int_equal(
        tu_run_cli(out, errp, "state export --format jsonl --journal --store '%s'", db), 0);
    char *jsonl = tu_read(out, NULL);
    assert_int_equal(count_lines_with(jsonl, "{\"type\":\"position\""), 1);
    assert_int_equal(count_lines_with(jsonl, "\"event\":\"activated\""), 1);
    assert_int_equal(count_lines_with(jsonl, "\"event\":\"triggered\""), 1);
    /* the journal is numbered 1, 2, 3, ... with no gap */
    int n = count_lines_with(jsonl, "{\"type\":\"journal\"");
    assert_true(n >= 6);
    char want[32];
    snprintf(want, sizeof want, "\"seq\":%d,", n);
    assert_non_null(strstr(jsonl, want));
    assert_non_null(strstr(jsonl, "\"stop\":\"51740\""));
    free(jsonl);
}

/* The same store through the library: the row is the engine state. */
static void journaled_row_restores(void **state) {
    (void)state;
    fresh_store("restore.db");
    write_path();
    assert_int_equal(tu_run_cli(out, errp,
                                "replay --data '%s' --store '%s' --account a1 --quiet "
                                "--activation-percent 1.5 --callback-percent 0.5",
                                data, db),
                     0);
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open(db, "a1", &s, &err), TG_OK);
    tg_store_row row;
    assert_int_equal(tg_store_get(s, "REPLAY:long", &row, &err), TG_OK);
    assert_int_equal(row.stop.state, TG_STATE_CLOSED);
    tu_assert_dec(row.stop.highest, "52000");
    tu_assert_dec(row.stop.stop_confirmed, "51740");
    assert_int_equal(row.stop.activated_ms, 60000);
    tg_store_close(s);
}

static void bad_use_is_explained(void **state) {
    (void)state;
    fresh_store("missing.db");
    assert_int_equal(tu_run_cli(out, errp, "state list --store '%s'", db), 1);
    char *msg = tu_read(errp, NULL);
    assert_non_null(strstr(msg, "no store at"));
    free(msg);
    assert_int_equal(tu_run_cli(out, errp, "state frobnicate"), 2);
    assert_int_equal(tu_run_cli(out, errp, "state export --store '%s'", db), 2);
    msg = tu_read(errp, NULL);
    assert_non_null(strstr(msg, "--format jsonl"));
    free(msg);

    /* a position still open in the store is never written over */
    tu_path(data, PREFIX, "open.csv");
    tu_write(data, "0,100\n1000,101\n");
    assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' --store '%s' --quiet", data, db), 0);
    assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' --store '%s' --quiet", data, db), 1);
    msg = tu_read(errp, NULL);
    assert_non_null(strstr(msg, "already holds position 'REPLAY:long'"));
    free(msg);
    assert_int_equal(tu_run_cli(out, errp, "state show NOPE --store '%s'", db), 2);
}

/* A password in a PostgreSQL URI never reaches the output. */
static void store_password_is_not_printed(void **state) {
    (void)state;
    fresh_store("pw");
    write_path();
    int rc = tu_run_cli(out, errp,
                        "replay --data '%s' --store "
                        "'postgresql://u:s3cretPW@127.0.0.1:1/db?connect_timeout=1'",
                        data);
    assert_int_equal(rc, 1);
    char *o = tu_read(out, NULL), *e = tu_read(errp, NULL);
    assert_null(strstr(o, "s3cretPW"));
    assert_null(strstr(e, "s3cretPW"));
    assert_non_null(strstr(e, "--store"));
    free(o);
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replay_is_journaled_and_listed),
        cmocka_unit_test(journaled_row_restores),
        cmocka_unit_test(bad_use_is_explained),
        cmocka_unit_test(store_password_is_not_printed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
