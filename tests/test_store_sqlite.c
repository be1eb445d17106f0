/* The SQLite store: the conformance suite on a real file, plus what only
 * SQLite has (pragmas, file errors, schema versions written by hand). */
#include "store_conformance.h"

#include <sqlite3.h>

static char db_path[512];

static void fresh_path(const char *name) {
    snprintf(db_path, sizeof db_path, "%s/%s-%ld.db", TG_TEST_TMPDIR, name, (long)getpid());
    remove(db_path);
    char side[600];
    snprintf(side, sizeof side, "%s-wal", db_path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", db_path);
    remove(side);
}

static void sql_exec(const char *sql) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
    sqlite3_close(db);
}

static int64_t sql_int(const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

static void newer_schema_is_refused(void **state) {
    (void)state;
    fresh_path("newer");
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open(db_path, "acct", &s, &err), TG_OK);
    tg_store_close(s);
    assert_int_equal(sql_int("SELECT version FROM schema_version"), TG_STORE_SCHEMA_VERSION);
    sql_exec("UPDATE schema_version SET version = 99");
    assert_int_equal(tg_store_open(db_path, "acct", &s, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "schema version 99"));
    assert_non_null(strstr(err.msg, "newer trailguard"));
}

static void file_settings_and_exact_text(void **state) {
    (void)state;
    fresh_path("pragmas");
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open(db_path, "acct", &s, &err), TG_OK);
    assert_string_equal(tg_store_backend_name(s), "sqlite");
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "0.13381", "0.00000001", &p, 0);
    tg_store_row row;
    conf_row(&row, "acct", "BANKUSDT:long", &h.s);
    conf_persist(s, &row, &h, 0);
    tg_store_close(s);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT typeof(entry_price), entry_price, "
                                        "activation_price, highest_price FROM trailing_stop",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "text");
    assert_string_equal((const char *)sqlite3_column_text(q, 1), "0.13381");
    assert_string_equal((const char *)sqlite3_column_text(q, 2), "0.13581715");
    assert_int_equal(sqlite3_column_type(q, 3), SQLITE_NULL); /* no sentinel */
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_string_equal((const char *)"wal", "wal");
    assert_int_equal(sql_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'"),
                     1);
}

static bool count_row(void *ctx, const tg_store_row *row) {
    (void)row;
    (*(size_t *)ctx)++;
    return true;
}

/* SQLite's heap after reading every row of a file several MiB long: with
 * the page cache bounded to 256 KiB it stays near that bound, without it
 * the cache grows to its 2,000 KiB default. */
static int64_t sqlite_heap_after_load(int64_t cache_kib) {
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open(db_path, "acct", &s, &err), TG_OK);
    if (cache_kib > 0) {
        assert_int_equal(tg_store_cache_limit(s, cache_kib, &err), TG_OK);
    }
    size_t n = 0;
    assert_int_equal(tg_store_load(s, true, count_row, &n, &err), TG_OK);
    assert_int_equal(n, 20000);
    sqlite3_int64 used = 0, high = 0;
    assert_int_equal(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &used, &high, 0), SQLITE_OK);
    tg_store_close(s);
    return (int64_t)used;
}

static void page_cache_is_bounded(void **state) {
    (void)state;
    fresh_path("cache");
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open(db_path, "acct", &s, &err), TG_OK);
    assert_int_equal(tg_store_cache_limit(s, 0, &err), TG_E_INVALID);
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "50000", "0.1", &p, 0);
    /* the store advances each row's version at commit: they live until then */
    tg_store_row *rows = calloc(20000, sizeof *rows);
    assert_non_null(rows);
    assert_int_equal(tg_store_begin(s, &err), TG_OK);
    for (int i = 0; i < 20000; i++) {
        char key[32];
        snprintf(key, sizeof key, "S%05dUSDT:long", i);
        conf_row(&rows[i], "acct", key, &h.s);
        assert_int_equal(tg_store_put(s, &rows[i], &err), TG_OK);
    }
    assert_int_equal(tg_store_commit(s, &err), TG_OK);
    assert_int_equal(rows[19999].version, 1);
    free(rows);
    tg_store_close(s);
    int64_t bounded = sqlite_heap_after_load(256);
    int64_t unbounded = sqlite_heap_after_load(0);
    if (!(bounded < 1024 * 1024 && unbounded > bounded + 1024 * 1024)) {
        fail_msg("SQLite heap %lld bytes with a 256 KiB cache, %lld without", (long long)bounded,
                 (long long)unbounded);
    }
}

static void bad_files_and_uris_fail_clearly(void **state) {
    (void)state;
    fresh_path("garbage");
    FILE *f = fopen(db_path, "wb");
    assert_non_null(f);
    fputs("this is not a database, just some text that is long enough to be read....", f);
    fclose(f);
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open(db_path, "acct", &s, &err), TG_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, db_path));
    assert_int_equal(tg_store_open("/nonexistent-dir/x/y.db", "acct", &s, &err), TG_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x/y.db"));
    assert_int_equal(tg_store_open("mysql://h/db", "acct", &s, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "unknown URI scheme in 'mysql'"));
    assert_int_equal(tg_store_open("sqlite:", "acct", &s, &err), TG_E_INVALID);
    assert_int_equal(tg_store_open("x.db", "", &s, &err), TG_E_INVALID);
}

static void corrupt_row_is_reported_not_loaded(void **state) {
    (void)state;
    fresh_path("corrupt");
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open(db_path, "acct", &s, &err), TG_OK);
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    tg_store_row row;
    conf_row(&row, "acct", "X", &h.s);
    conf_persist(s, &row, &h, 0);
    sql_exec("UPDATE trailing_stop SET entry_price = '1e5'");
    tg_store_row back;
    assert_int_equal(tg_store_get(s, "X", &back, &err), TG_E_STATE);
    assert_non_null(strstr(err.msg, "entry_price"));
    sql_exec("UPDATE trailing_stop SET entry_price = '100', p_callback = '0'");
    assert_int_equal(tg_store_get(s, "X", &back, &err), TG_E_STATE); /* bug E7/I5: cb 0 */
    assert_non_null(strstr(err.msg, "callback"));
    tg_store_close(s);
}

static bool no_lease(void *ctx, const tg_store_lease *l) {
    (void)ctx;
    (void)l;
    return true;
}

/* Leases need PostgreSQL: a SQLite store is one process's. */
static void leases_are_not_supported(void **state) {
    (void)state;
    fresh_path("leases");
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open(db_path, "acct", &s, &err), TG_OK);
    int64_t token = 7;
    bool taken = true;
    assert_int_equal(tg_store_lease_take(s, "n1", 1000, &token, &taken, &err), TG_E_STATE);
    assert_non_null(strstr(err.msg, "PostgreSQL"));
    assert_false(taken);
    assert_int_equal(token, 0);
    assert_int_equal(tg_store_lease_release(s, "n1", &err), TG_E_STATE);
    assert_int_equal(tg_store_leases_list(s, no_lease, NULL, &err), TG_E_STATE);
    assert_int_equal(tg_store_set_fence(s, "n1", 1, &err), TG_E_STATE);
    tg_store_close(s);
}

static void raw_sql(const char *uri, const char *sql) {
    assert_string_equal(uri, db_path);
    sql_exec(sql);
}

static void migrates_from_version_1(void **state) {
    (void)state;
    fresh_path("v1");
    conf_check_migration_from_v1(db_path, raw_sql);
}

static int run_conformance(void) {
    fresh_path("conformance");
    return tg_store_conformance_run("sqlite conformance", db_path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(newer_schema_is_refused),
        cmocka_unit_test(leases_are_not_supported),
        cmocka_unit_test(migrates_from_version_1),
        cmocka_unit_test(file_settings_and_exact_text),
        cmocka_unit_test(bad_files_and_uris_fail_clearly),
        cmocka_unit_test(page_cache_is_bounded),
        cmocka_unit_test(corrupt_row_is_reported_not_loaded),
    };
    int failed = run_conformance();
    return failed + cmocka_run_group_tests(tests, NULL, NULL);
}
