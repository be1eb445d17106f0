/* `trailguard replay --store` and `trailguard state`: a back-test journaled
 * in a real SQLite file and read back with the same tools a live store is
 * read with. */
#include "replay_testutil.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/backend.h"
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

static void sql_on(const char *path, const char *sql) {
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void assert_err_has(const char *part) {
    char *msg = tu_read(errp, NULL);
    if (strstr(msg, part) == NULL) {
        fail_msg("'%s' not in: %s", part, msg);
    }
    free(msg);
}

/* list, show and export only read: a store in rollback-journal mode stays
 * byte for byte the same, and no -wal file appears. */
static void reading_commands_never_write(void **state) {
    (void)state;
    fresh_store("ro.db");
    tg_err err = {0};
    assert_int_equal(tg_store_create_at(db, 1, &err), TG_OK); /* an older schema, unmigrated */
    size_t len_before = 0, len_after = 0;
    char *before = tu_read(db, &len_before);
    assert_int_equal(tu_run_cli(out, errp, "state list --store '%s'", db), 0);
    assert_int_equal(
        tu_run_cli(out, errp, "state export --format jsonl --journal --store '%s'", db), 0);
    assert_int_equal(tu_run_cli(out, errp, "state show X --store '%s'", db), 2);
    char *after = tu_read(db, &len_after);
    assert_int_equal(len_before, len_after);
    assert_memory_equal(before, after, len_before);
    char wal[TU_PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", db);
    assert_false(exists(wal));
    free(before);
    free(after);

    /* the library: nothing can be written through a read-only store */
    tg_store *s = NULL;
    assert_int_equal(tg_store_open_readonly(db, "default", &s, &err), TG_OK);
    assert_int_equal(tg_store_begin(s, &err), TG_E_STATE);
    uint64_t deleted = 1;
    assert_int_equal(tg_store_prune(s, 0, &deleted, &err), TG_E_STATE);
    tg_store_close(s);

    /* a file the user may only read (root reads it anyway) */
    if (geteuid() != 0) {
        assert_int_equal(chmod(db, 0444), 0);
        assert_int_equal(tu_run_cli(out, errp, "state list --store '%s'", db), 0);
        chmod(db, 0644);
    }
}

/* Files that are not a trailguard store say so, and stay as they were. */
static void foreign_files_are_named(void **state) {
    (void)state;
    fresh_store("empty.db");
    tu_write(db, "");
    assert_int_equal(tu_run_cli(out, errp, "state list --store '%s'", db), 1);
    assert_err_has("is not a trailguard store");
    size_t len = 1;
    free(tu_read(db, &len));
    assert_int_equal(len, 0); /* still 0 bytes: not turned into a store */

    fresh_store("text.db");
    tu_write(db, "hello, I am not a database, just a text file of some length........\n");
    assert_int_equal(tu_run_cli(out, errp, "state export --format jsonl --store '%s'", db), 1);
    assert_err_has("is not a trailguard store");

    fresh_store("other.db");
    sql_on(db, "CREATE TABLE t (x)");
    assert_int_equal(tu_run_cli(out, errp, "state list --store '%s'", db), 1);
    assert_err_has("not a trailguard store (no schema_version table)");

    fresh_store("newer.db");
    tg_err err = {0};
    assert_int_equal(tg_store_create_at(db, TG_STORE_SCHEMA_VERSION, &err), TG_OK);
    sql_on(db, "UPDATE schema_version SET version = 99");
    assert_int_equal(tu_run_cli(out, errp, "state list --store '%s'", db), 1);
    assert_err_has("schema version 99, written by a newer trailguard; this one understands up to "
                   "version 2");
}

/* One corruption of a journaled store, then export must fail naming it. */
static void export_refuses(const char *sql, const char *part) {
    fresh_store("bad.db");
    write_path();
    assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' --store '%s' --quiet", data, db), 0);
    sql_on(db, sql);
    assert_int_equal(
        tu_run_cli(out, errp, "state export --format jsonl --journal --store '%s'", db), 1);
    assert_err_has(part);
}

/* Every field read back is checked: a bad one is an error naming the row
 * and the column, never a key silently left out. */
static void malformed_fields_are_errors(void **state) {
    (void)state;
    export_refuses("UPDATE stop_event SET price = '1e5' WHERE seq = 2",
                   "journal entry 2 of position 'REPLAY:long': column price is not an exact "
                   "decimal ('1e5')");
    export_refuses("UPDATE stop_event SET price = x'00ff' WHERE seq = 2",
                   "journal entry 2 of position 'REPLAY:long': column price holds a value of the "
                   "wrong type");
    export_refuses("UPDATE stop_event SET price = '' WHERE seq = 2",
                   "column price is not an exact");
    export_refuses(
        "UPDATE stop_event SET state = 'bogus' WHERE kind = 'event' AND seq = 1",
        "journal entry 1 of position 'REPLAY:long': column state holds an unknown value");
    export_refuses("UPDATE stop_event SET state = NULL WHERE kind = 'event' AND seq = 1",
                   "column state is NULL");
    export_refuses("UPDATE stop_event SET kind = 'gossip' WHERE seq = 1", "column kind is neither");
    export_refuses("UPDATE stop_event SET ts_ms = 'soon' WHERE seq = 1", "column ts_ms holds");
    export_refuses("UPDATE trailing_stop SET entry_price = x'3130'",
                   "stored position 'REPLAY:long': column entry_price holds a value of the wrong "
                   "type");
}

/* Control characters stored in a key or symbol reach the terminal escaped,
 * from every command. */
static void stored_text_is_escaped(void **state) {
    (void)state;
    fresh_store("esc.db");
    write_path();
    assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' --store '%s' --quiet", data, db), 0);
    sql_on(db, "UPDATE trailing_stop SET position_key = char(27) || ']0;pwned' || char(7) || "
               "'K' || char(155), symbol = 'A' || char(10) || 'B'; UPDATE stop_event SET "
               "position_key = char(27) || ']0;pwned' || char(7) || 'K' || char(155)");
    const char *cmds[] = {"state list --all", "state show 'A\nB'",
                          "state export --format jsonl --journal"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        assert_int_equal(tu_run_cli(out, errp, "%s --store '%s'", cmds[i], db), 0);
        size_t len = 0;
        char *text = tu_read(out, &len);
        assert_null(memchr(text, 0x1b, len));
        assert_null(memchr(text, 0x07, len));
        assert_null(strstr(text, "\xc2\x9b"));
        assert_null(strstr(text, "A\nB"));
        assert_non_null(strstr(text, "\\u001b]0;pwned\\u0007K\\u009b"));
        assert_non_null(strstr(text, "A\\u000aB"));
        free(text);
    }
}

/* A position still open at the end: the row holds the state the summary
 * reports, ticks after the last engine output included. */
static void open_position_row_is_final(void **state) {
    (void)state;
    fresh_store("open-final.db");
    tu_path(data, PREFIX, "open-final.csv");
    tu_write(data, "0,100\n1000,100.5\n2000,100.7\n");
    assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' --store '%s'", data, db), 0);
    char *summary = tu_read(out, NULL);
    assert_non_null(strstr(summary, "still open at the end, last price 100.7"));
    free(summary);
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open_readonly(db, "default", &s, &err), TG_OK);
    tg_store_row row;
    assert_int_equal(tg_store_get(s, "REPLAY:long", &row, &err), TG_OK);
    assert_int_equal(row.stop.last_tick_ms, 2000);
    tu_assert_dec(row.stop.highest, "100.7");
    tg_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replay_is_journaled_and_listed),
        cmocka_unit_test(journaled_row_restores),
        cmocka_unit_test(bad_use_is_explained),
        cmocka_unit_test(store_password_is_not_printed),
        cmocka_unit_test(reading_commands_never_write),
        cmocka_unit_test(foreign_files_are_named),
        cmocka_unit_test(malformed_fields_are_errors),
        cmocka_unit_test(stored_text_is_escaped),
        cmocka_unit_test(open_position_row_is_final),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
