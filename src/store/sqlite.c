/* The SQLite backend: one file, WAL mode, synchronous=FULL. */
#define _POSIX_C_SOURCE 200809L /* stat */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/backend.h"
#include "store/sql.h"

#define BUSY_TIMEOUT_MS 5000 /* wait this long for another writer's lock */

enum {
    ST_INSERT,
    ST_UPDATE,
    ST_APPEND,
    ST_LAST_SEQ,
    ST_LOAD_OPEN,
    ST_LOAD_ALL,
    ST_LOAD_ONE,
    ST_JOURNAL,
    ST_SEQ_MARK,
    ST_PRUNE,
    ST_COUNT
};

typedef struct sqlite_impl {
    sqlite3 *db;                /* the connection */
    sqlite3_stmt *st[ST_COUNT]; /* prepared once at open */
    char path[512];             /* for messages */
} sqlite_impl;

/* A failure as a sentence; locked/busy/full/I/O/corrupt are "unavailable":
 * the caller keeps its changes and retries later. */
static tg_status fail(sqlite_impl *s, const char *what, int rc, tg_err *err) {
    assert(what != NULL);
    assert(rc != SQLITE_OK);
    int primary = rc & 0xff;
    bool transient = primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_FULL ||
                     primary == SQLITE_IOERR || primary == SQLITE_CORRUPT ||
                     primary == SQLITE_CANTOPEN || primary == SQLITE_NOTADB ||
                     primary == SQLITE_READONLY;
    const char *detail = s != NULL && s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    return tg_err_set(err, transient ? TG_E_UNAVAILABLE : TG_E_IO, "sqlite %s: %s: %s (code %d)",
                      s != NULL ? s->path : "", what, detail, rc);
}

static const tg_sql_dialect sqlite_sql = {'?', "INTEGER", "TEXT", " WITHOUT ROWID"};

static const tg_col_def *journal_column(int i) {
    assert(i >= 0 && i < TG_JOURNAL_COLS);
    return &tg_journal_columns[i];
}

/* Schema migrations: index v holds the statements that take version v to
 * v + 1. Appending a version here is the whole of a migration. */
static tg_status migrate_to_1(sqlite_impl *s, tg_err *err) {
    assert(s != NULL && s->db != NULL);
    char stop_sql[TG_SQL_MAX], event_sql[TG_SQL_MAX];
    tg_sql_create(&sqlite_sql, stop_sql, "trailing_stop", tg_codec_column_count(), tg_codec_column,
                  "account, position_key");
    tg_sql_create(&sqlite_sql, event_sql, "stop_event", TG_JOURNAL_COLS, journal_column,
                  "account, seq");
    const char *stmts[] = {
        stop_sql, event_sql,
        "CREATE INDEX stop_event_position ON stop_event (account, position_key)"};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        int rc = sqlite3_exec(s->db, stmts[i], NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            return fail(s, "creating the schema", rc, err);
        }
    }
    return TG_OK;
}

/* Version 2: a pruned journal keeps its last number in journal_seq, so
 * numbers are never handed out twice; the index on position_key goes (it
 * halved the write rate, and only the hourly prune used it). */
static tg_status migrate_to_2(sqlite_impl *s, tg_err *err) {
    assert(s != NULL && s->db != NULL);
    char create[TG_SQL_MAX];
    tg_sql_create_journal_seq(&sqlite_sql, create);
    const char *stmts[] = {create, TG_SQL_FILL_JOURNAL_SEQ, TG_SQL_DROP_POSITION_INDEX};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        int rc = sqlite3_exec(s->db, stmts[i], NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            return fail(s, "migrating the schema to version 2", rc, err);
        }
    }
    return TG_OK;
}

static tg_status (*const migrations[])(sqlite_impl *, tg_err *) = {migrate_to_1, migrate_to_2};

static tg_status exec(sqlite_impl *s, const char *sql, const char *what, tg_err *err) {
    assert(s != NULL && s->db != NULL);
    assert(sql != NULL && what != NULL);
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? TG_OK : fail(s, what, rc, err);
}

static tg_status read_version(sqlite_impl *s, int64_t *version, tg_err *err) {
    assert(s != NULL && s->db != NULL && version != NULL);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT version FROM schema_version", -1, &q, NULL);
    if (rc != SQLITE_OK) {
        return fail(s, "reading the schema version", rc, err);
    }
    *version = 0;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int64(q, 0);
        rc = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? TG_OK : fail(s, "reading the schema version", rc, err);
}

/* Takes the schema to version `target` (TG_STORE_SCHEMA_VERSION, or an
 * earlier one for the migration tests). */
static tg_status migrate(sqlite_impl *s, int64_t target, tg_err *err) {
    assert(s != NULL && s->db != NULL);
    assert(target >= 0 && target <= TG_STORE_SCHEMA_VERSION);
    tg_status st = exec(s, "BEGIN IMMEDIATE", "starting the migration", err);
    if (st != TG_OK) {
        return st;
    }
    st = exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
              "creating schema_version", err);
    int64_t version = 0;
    if (st == TG_OK) {
        st = read_version(s, &version, err);
    }
    if (st == TG_OK && version > TG_STORE_SCHEMA_VERSION) {
        st = tg_err_set(err, TG_E_INVALID,
                        "store %s has schema version %" PRId64 ", written by a newer trailguard; "
                        "this one understands up to version %d",
                        s->path, version, TG_STORE_SCHEMA_VERSION);
    }
    for (int64_t v = version; st == TG_OK && v < target; v++) {
        assert(v < (int64_t)(sizeof migrations / sizeof migrations[0]));
        st = migrations[v](s, err);
    }
    if (st == TG_OK && version < target) {
        char sql[128];
        int n = snprintf(sql, sizeof sql,
                         "DELETE FROM schema_version; INSERT INTO schema_version "
                         "VALUES (%" PRId64 ")",
                         target);
        assert(n > 0 && (size_t)n < sizeof sql);
        st = exec(s, sql, "recording the schema version", err);
    }
    if (st == TG_OK) {
        return exec(s, "COMMIT", "committing the migration", err);
    }
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

/* Writes statement `which` into buf. */
static void build_sql(int which, char *buf) {
    assert(which >= 0 && which < ST_COUNT);
    assert(buf != NULL);
    switch (which) {
    case ST_INSERT:
        tg_sql_insert_stop(&sqlite_sql, buf);
        break;
    case ST_UPDATE:
        tg_sql_update_stop(&sqlite_sql, buf);
        break;
    case ST_APPEND:
        snprintf(buf, TG_SQL_MAX,
                 "INSERT INTO stop_event (account, seq, position_key, ts_ms, kind, type, reason, "
                 "state, price, stop, prev_stop, latency_us) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
        break;
    case ST_LAST_SEQ:
        snprintf(buf, TG_SQL_MAX,
                 "SELECT MAX(COALESCE((SELECT MAX(seq) FROM stop_event WHERE account = ?1), 0), "
                 "COALESCE((SELECT last_seq FROM journal_seq WHERE account = ?1), 0))");
        break;
    case ST_SEQ_MARK:
        snprintf(buf, TG_SQL_MAX,
                 "INSERT INTO journal_seq (account, last_seq) SELECT account, MAX(seq) FROM "
                 "stop_event WHERE account = ?1 GROUP BY account ON CONFLICT (account) DO UPDATE "
                 "SET last_seq = MAX(last_seq, excluded.last_seq)");
        break;
    case ST_LOAD_OPEN:
        tg_sql_select_stop(buf, "account = ?1 AND state <> 'closed'", " ORDER BY position_key");
        break;
    case ST_LOAD_ALL:
        tg_sql_select_stop(buf, "account = ?1", " ORDER BY position_key");
        break;
    case ST_LOAD_ONE:
        tg_sql_select_stop(buf, "account = ?1 AND position_key = ?2", "");
        break;
    case ST_JOURNAL:
        snprintf(buf, TG_SQL_MAX,
                 "SELECT account, seq, position_key, ts_ms, kind, type, reason, state, price, "
                 "stop, prev_stop, latency_us FROM stop_event WHERE account = ?1 AND seq > ?2 "
                 "ORDER BY seq");
        break;
    default:
        snprintf(buf, TG_SQL_MAX,
                 "DELETE FROM stop_event WHERE account = ?1 AND position_key IN (SELECT "
                 "position_key FROM trailing_stop WHERE account = ?1 AND state = 'closed' AND "
                 "closed_ms < ?2)");
        break;
    }
    assert(buf[0] != '\0' && strlen(buf) < TG_SQL_MAX);
}

static tg_status prepare_all(sqlite_impl *s, tg_err *err) {
    assert(s != NULL && s->db != NULL);
    char sql[TG_SQL_MAX];
    for (int i = 0; i < ST_COUNT; i++) {
        build_sql(i, sql);
        int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            return fail(s, "preparing a statement", rc, err);
        }
        assert(s->st[i] != NULL); /* the SQL is never empty */
    }
    return TG_OK;
}

static void sq_close(void *impl) {
    sqlite_impl *s = impl;
    if (s == NULL) {
        return;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
    }
    sqlite3_close(s->db);
    free(s);
}

static tg_status sq_open(const char *target, void **impl, tg_err *err) {
    assert(target != NULL && impl != NULL);
    sqlite_impl *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "sqlite: out of memory");
    }
    snprintf(s->path, sizeof s->path, "%s", target);
    int rc = sqlite3_open_v2(target, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    tg_status st = rc == SQLITE_OK ? TG_OK : fail(s, "opening", rc, err);
    if (st == TG_OK) {
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        sqlite3_extended_result_codes(s->db, 1);
        st = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON",
                  "setting WAL mode", err);
    }
    if (st == TG_OK) {
        st = migrate(s, TG_STORE_SCHEMA_VERSION, err);
    }
    if (st == TG_OK) {
        st = prepare_all(s, err);
    }
    if (st != TG_OK) {
        sq_close(s);
        return st;
    }
    assert(s->db != NULL && s->st[ST_INSERT] != NULL);
    *impl = s;
    return TG_OK;
}

/* The statements a read-only store uses; they read only the tables every
 * schema version has, so an older store is read without migrating it. */
static tg_status prepare_reads(sqlite_impl *s, tg_err *err) {
    static const int reads[] = {ST_LOAD_OPEN, ST_LOAD_ALL, ST_LOAD_ONE, ST_JOURNAL};
    assert(s != NULL && s->db != NULL);
    char sql[TG_SQL_MAX];
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        build_sql(reads[i], sql);
        int rc =
            sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[reads[i]], NULL);
        if (rc != SQLITE_OK) {
            return fail(s, "preparing a statement", rc, err);
        }
    }
    return TG_OK;
}

/* The schema version of a store opened read-only; a file without the
 * schema_version table or its one row is not a trailguard store. */
static tg_status check_readonly_schema(sqlite_impl *s, tg_err *err) {
    assert(s != NULL && s->db != NULL);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(
        s->db,
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", -1,
        &q, NULL);
    int tables = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        tables = sqlite3_column_int(q, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    if ((rc & 0xff) == SQLITE_NOTADB) {
        return tg_err_set(err, TG_E_INVALID, "%s is not a trailguard store (not a SQLite database)",
                          s->path);
    }
    if (rc != SQLITE_OK) {
        return fail(s, "reading the schema", rc, err);
    }
    int64_t version = 0;
    tg_status st = tables == 1 ? read_version(s, &version, err) : TG_OK;
    if (st == TG_OK && version <= 0) {
        st = tg_err_set(
            err, TG_E_INVALID, "%s is not a trailguard store (%s); give one with --store URI",
            s->path, tables == 1 ? "its schema_version table is empty" : "no schema_version table");
    }
    if (st == TG_OK && version > TG_STORE_SCHEMA_VERSION) {
        st = tg_err_set(err, TG_E_INVALID,
                        "store %s has schema version %" PRId64 ", written by a newer trailguard; "
                        "this one understands up to version %d",
                        s->path, version, TG_STORE_SCHEMA_VERSION);
    }
    return st;
}

static tg_status sq_open_readonly(const char *target, void **impl, tg_err *err) {
    assert(target != NULL && impl != NULL);
    struct stat sb;
    if (stat(target, &sb) != 0) {
        return tg_err_set(err, TG_E_INVALID, "no store at %s (%s); give one with --store URI",
                          target, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode)) {
        return tg_err_set(err, TG_E_INVALID, "%s is not a trailguard store (not a regular file)",
                          target);
    }
    sqlite_impl *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "sqlite: out of memory");
    }
    snprintf(s->path, sizeof s->path, "%s", target);
    int rc = sqlite3_open_v2(target, &s->db, SQLITE_OPEN_READONLY, NULL);
    tg_status st = rc == SQLITE_OK ? TG_OK : fail(s, "opening read-only", rc, err);
    if (st == TG_OK) {
        sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
        sqlite3_extended_result_codes(s->db, 1);
        st = check_readonly_schema(s, err);
    }
    if (st == TG_OK) {
        st = prepare_reads(s, err);
    }
    if (st != TG_OK) {
        sq_close(s);
        return st;
    }
    assert(s->db != NULL && s->st[ST_LOAD_ONE] != NULL);
    *impl = s;
    return TG_OK;
}

static tg_status sq_begin(void *impl, tg_err *err) {
    assert(impl != NULL);
    return exec(impl, "BEGIN IMMEDIATE", "beginning a transaction", err);
}

static tg_status sq_commit(void *impl, tg_err *err) {
    sqlite_impl *s = impl;
    assert(s != NULL && s->db != NULL);
    tg_status st = exec(s, "COMMIT", "committing", err);
    if (st != TG_OK && !sqlite3_get_autocommit(s->db)) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return st;
}

static void sq_rollback(void *impl) {
    sqlite_impl *s = impl;
    assert(s != NULL && s->db != NULL);
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

static void bind_value(sqlite3_stmt *q, int index, const tg_col_def *c, const tg_col_value *v) {
    assert(q != NULL && c != NULL && v != NULL);
    assert(index >= 1 && index <= sqlite3_bind_parameter_count(q));
    assert(!v->null || c->nullable);
    if (v->null) {
        sqlite3_bind_null(q, index);
    } else if (c->type == TG_COL_INT) {
        sqlite3_bind_int64(q, index, v->i);
    } else {
        sqlite3_bind_text(q, index, v->text, -1, SQLITE_TRANSIENT);
    }
}

/* Steps a write statement to the end; *changes gets the rows changed. */
static tg_status run_write(sqlite_impl *s, sqlite3_stmt *q, const char *what, int *changes,
                           tg_err *err) {
    assert(s != NULL && q != NULL && what != NULL);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return tg_err_set(err, TG_E_CONFLICT, "sqlite %s: %s: the key is already taken", s->path,
                          what);
    }
    if (rc != SQLITE_DONE) {
        return fail(s, what, rc, err);
    }
    if (changes != NULL) {
        *changes = sqlite3_changes(s->db);
    }
    return TG_OK;
}

/* The insert: its RETURNING row carries the version written, and no row
 * means the key is held by a position that is not closed. */
static tg_status sq_insert(sqlite_impl *s, const tg_col_value *vals, int64_t *stored, tg_err *err) {
    assert(s != NULL && vals != NULL && stored != NULL);
    sqlite3_stmt *q = s->st[ST_INSERT];
    assert(q != NULL);
    for (int i = 0; i < tg_codec_column_count(); i++) {
        bind_value(q, i + 1, tg_codec_column(i), &vals[i]);
    }
    int rc = sqlite3_step(q);
    *stored = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    if (rc == SQLITE_ROW) {
        rc = sqlite3_step(q);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_DONE) {
        return fail(s, "writing a position", rc, err);
    }
    if (*stored == 0) {
        return tg_err_set(err, TG_E_CONFLICT,
                          "position '%s' was stored by another writer first (expected none)",
                          vals[1].text);
    }
    return TG_OK;
}

static tg_status sq_put(void *impl, const tg_col_value *vals, int64_t expected, int64_t *stored,
                        tg_err *err) {
    sqlite_impl *s = impl;
    assert(s != NULL && vals != NULL && stored != NULL);
    if (expected == 0) {
        return sq_insert(s, vals, stored, err);
    }
    int n = tg_codec_column_count();
    sqlite3_stmt *q = s->st[ST_UPDATE];
    assert(q != NULL && sqlite3_bind_parameter_count(q) == n + 1);
    for (int i = 0; i < n; i++) {
        bind_value(q, i + 1, tg_codec_column(i), &vals[i]);
    }
    sqlite3_bind_int64(q, n + 1, expected);
    *stored = expected + 1;
    int changes = 0;
    tg_status st = run_write(s, q, "writing a position", &changes, err);
    if (st == TG_OK && changes != 1) {
        return tg_err_set(err, TG_E_CONFLICT,
                          "position '%s' was changed by another writer (expected version %" PRId64
                          ")",
                          vals[1].text, expected);
    }
    return st;
}

static tg_status sq_append(void *impl, const tg_col_value *vals, tg_err *err) {
    sqlite_impl *s = impl;
    assert(s != NULL && vals != NULL);
    sqlite3_stmt *q = s->st[ST_APPEND];
    assert(q != NULL && sqlite3_bind_parameter_count(q) == TG_JOURNAL_COLS);
    for (int i = 0; i < TG_JOURNAL_COLS; i++) {
        bind_value(q, i + 1, &tg_journal_columns[i], &vals[i]);
    }
    return run_write(s, q, "appending to the journal", NULL, err);
}

static tg_status sq_last_seq(void *impl, const char *account, int64_t *seq, tg_err *err) {
    sqlite_impl *s = impl;
    assert(s != NULL && account != NULL && seq != NULL);
    sqlite3_stmt *q = s->st[ST_LAST_SEQ];
    assert(q != NULL);
    sqlite3_bind_text(q, 1, account, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    *seq = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_ROW ? TG_OK : fail(s, "reading the journal's last number", rc, err);
}

/* Column i of the current row as the column def says it is: an INT column
 * must hold an integer, a TEXT column text that fits; anything else (a
 * blob, a REAL, a cut text) is marked bad and the decoder names it. */
static void read_value(sqlite3_stmt *q, int i, const tg_col_def *def, tg_col_value *v) {
    assert(q != NULL && def != NULL && v != NULL);
    assert(i >= 0 && i < sqlite3_column_count(q));
    int type = sqlite3_column_type(q, i);
    v->null = type == SQLITE_NULL;
    v->bad = false;
    v->i = type == SQLITE_INTEGER ? sqlite3_column_int64(q, i) : 0;
    v->text[0] = '\0';
    if (type == SQLITE_NULL) {
        return;
    }
    if (type != (def->type == TG_COL_INT ? SQLITE_INTEGER : SQLITE_TEXT)) {
        v->bad = true;
        return;
    }
    if (type == SQLITE_INTEGER) {
        return;
    }
    const unsigned char *text = sqlite3_column_text(q, i);
    size_t len = (size_t)sqlite3_column_bytes(q, i);
    if (text == NULL || len >= sizeof v->text || memchr(text, '\0', len) != NULL) {
        v->bad = true;
        return;
    }
    memcpy(v->text, text, len);
    v->text[len] = '\0';
    assert(strlen(v->text) == len && len < sizeof v->text);
}

/* Reads rows of q into column values and hands each to fn. */
static tg_status read_rows(sqlite_impl *s, sqlite3_stmt *q, int cols, const tg_col_def *(*col)(int),
                           bool (*fn)(void *, const tg_col_value *), void *ctx, tg_err *err) {
    assert(s != NULL && q != NULL && col != NULL && fn != NULL);
    assert(cols > 0 && cols == sqlite3_column_count(q));
    tg_col_value *vals = calloc((size_t)cols, sizeof *vals);
    if (vals == NULL) {
        sqlite3_reset(q);
        return tg_err_set(err, TG_E_NOMEM, "sqlite: out of memory reading rows");
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        for (int i = 0; i < cols; i++) {
            read_value(q, i, col(i), &vals[i]);
        }
        if (!fn(ctx, vals)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    free(vals);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_DONE ? TG_OK : fail(s, "reading", rc, err);
}

static tg_status sq_load(void *impl, const char *account, const char *key, bool include_closed,
                         bool (*fn)(void *, const tg_col_value *), void *ctx, tg_err *err) {
    sqlite_impl *s = impl;
    assert(s != NULL && account != NULL && fn != NULL);
    sqlite3_stmt *q = s->st[key != NULL      ? ST_LOAD_ONE
                            : include_closed ? ST_LOAD_ALL
                                             : ST_LOAD_OPEN];
    assert(q != NULL); /* prepared by both sq_open() and sq_open_readonly() */
    sqlite3_bind_text(q, 1, account, -1, SQLITE_TRANSIENT);
    if (key != NULL) {
        sqlite3_bind_text(q, 2, key, -1, SQLITE_TRANSIENT);
    }
    return read_rows(s, q, tg_codec_column_count(), tg_codec_column, fn, ctx, err);
}

static tg_status sq_journal(void *impl, const char *account, int64_t after,
                            bool (*fn)(void *, const tg_col_value *), void *ctx, tg_err *err) {
    sqlite_impl *s = impl;
    assert(s != NULL && account != NULL && fn != NULL);
    sqlite3_stmt *q = s->st[ST_JOURNAL];
    assert(q != NULL);
    sqlite3_bind_text(q, 1, account, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, after);
    return read_rows(s, q, TG_JOURNAL_COLS, journal_column, fn, ctx, err);
}

static tg_status sq_prune(void *impl, const char *account, int64_t cutoff_ms, uint64_t *deleted,
                          tg_err *err) {
    sqlite_impl *s = impl;
    assert(s != NULL && account != NULL && deleted != NULL);
    /* The last number is kept before the entries holding it may go. */
    sqlite3_stmt *mark = s->st[ST_SEQ_MARK];
    sqlite3_bind_text(mark, 1, account, -1, SQLITE_TRANSIENT);
    tg_status st = run_write(s, mark, "keeping the journal's last number", NULL, err);
    if (st != TG_OK) {
        *deleted = 0;
        return st;
    }
    sqlite3_stmt *q = s->st[ST_PRUNE];
    sqlite3_bind_text(q, 1, account, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, cutoff_ms);
    int changes = 0;
    st = run_write(s, q, "pruning the journal", &changes, err);
    *deleted = st == TG_OK ? (uint64_t)changes : 0;
    return st;
}

static tg_status sq_create_at(const char *path, int64_t version, tg_err *err) {
    assert(version >= 0 && version <= TG_STORE_SCHEMA_VERSION);
    assert(path != NULL);
    sqlite_impl s = {0};
    snprintf(s.path, sizeof s.path, "%s", path);
    int rc = sqlite3_open_v2(path, &s.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    tg_status st = rc == SQLITE_OK ? migrate(&s, version, err) : fail(&s, "opening", rc, err);
    sqlite3_close(s.db);
    return st;
}

static tg_status sq_cache_limit(void *impl, int64_t kib, tg_err *err) {
    sqlite_impl *s = impl;
    assert(s != NULL && s->db != NULL && kib > 0);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%lld", (long long)kib);
    return exec(s, sql, "setting the page cache size", err);
}

const tg_store_backend tg_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .open_readonly = sq_open_readonly,
    .create_at = sq_create_at,
    .close = sq_close,
    .cache_limit = sq_cache_limit,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .put = sq_put,
    .append = sq_append,
    .last_seq = sq_last_seq,
    .load = sq_load,
    .journal = sq_journal,
    .prune = sq_prune,
};
