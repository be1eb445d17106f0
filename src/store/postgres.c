/* The PostgreSQL backend (libpq): one connection per store, statements
 * prepared once per connection, every value sent and read back as text. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "store/sql.h"
#include "store/uri.h"

#define URI_SHOWN_MAX          512 /* bytes of the password-free URI kept for messages */
#define SECRETS_MAX            4 /* passwords one target can carry: user-info, password, sslpassword */
#define COLS_MAX               64  /* columns of trailing_stop this file can bind */
#define INT_TEXT_MAX           24  /* bytes of an int64 in decimal, NUL included */
#define PAGE_ROWS_MAX          256 /* rows one read round trip brings back */
#define CONNECT_ATTEMPTS_MAX   2   /* a begin on a dead connection reconnects once */
#define MIGRATION_LOCK_TIMEOUT "60s"
#define SESSION_LOCK_TIMEOUT   "10s" /* a row another writer holds longer is "unavailable" */

/* pg_advisory_xact_lock key that serialises trailguard's schema migrations
 * within one database ("tgschema" in ASCII). */
#define MIGRATION_LOCK_KEY "8387799701791272289"

enum {
    ST_INSERT,
    ST_UPDATE,
    ST_APPEND,
    ST_LAST_SEQ,
    ST_LOAD_OPEN,
    ST_LOAD_ALL,
    ST_LOAD_ONE,
    ST_JOURNAL,
    ST_PRUNE,
    ST_LEASE_INSERT,
    ST_LEASE_TAKE,
    ST_LEASE_RELEASE,
    ST_FENCE,
    ST_LEASE_HOLDER,
    ST_COUNT
};

static const char *const stmt_names[ST_COUNT] = {
    "tg_insert",     "tg_update",        "tg_append",  "tg_last_seq",     "tg_load_open",
    "tg_load_all",   "tg_load_one",      "tg_journal", "tg_prune",        "tg_lease_insert",
    "tg_lease_take", "tg_lease_release", "tg_fence",   "tg_lease_holder",
};

/* The lease statements, on the server's clock. A take moves the token on
 * whenever the lease changes hands or had run out, so a writer fenced with
 * an earlier token never writes again. */
#define SQL_LEASE_INSERT                                                                           \
    "INSERT INTO leases (account, owner, token, expires_at) VALUES ($1, '', 0, 'epoch') "          \
    "ON CONFLICT (account) DO NOTHING"
#define SQL_LEASE_TAKE                                                                             \
    "UPDATE leases SET token = CASE WHEN owner = $2 AND expires_at >= now() THEN token "           \
    "ELSE token + 1 END, owner = $2, expires_at = now() + $3::bigint * interval '1 millisecond', " \
    "last_renew = now() WHERE account = $1 AND (expires_at < now() OR owner = $2) RETURNING token"
#define SQL_LEASE_RELEASE                                                                          \
    "UPDATE leases SET expires_at = now() WHERE account = $1 AND owner = $2 AND token = $3 AND "   \
    "expires_at > now()"
#define SQL_FENCE        "SELECT 1 FROM leases WHERE account = $1 AND owner = $2 AND token = $3 FOR SHARE"
#define SQL_LEASE_HOLDER "SELECT owner, token FROM leases WHERE account = $1"
#define SQL_LEASES_LIST                                                                            \
    "SELECT account, owner, token, (extract(epoch FROM expires_at) * 1000)::bigint, "              \
    "COALESCE((extract(epoch FROM last_renew) * 1000)::bigint, 0), "                               \
    "(extract(epoch FROM now()) * 1000)::bigint FROM leases ORDER BY account"

typedef struct pg_impl {
    PGconn *conn;               /* the connection; PQreset keeps its parameters */
    bool readonly;              /* opened by tg_store_open_readonly: read statements only */
    bool prepared;              /* statements exist on this connection */
    bool broken;                /* a statement failed as a lost connection does */
    bool in_txn;                /* between a successful BEGIN and COMMIT/ROLLBACK */
    char shown[URI_SHOWN_MAX];  /* the URI masked by tg_store_uri_mask */
    char *secrets[SECRETS_MAX]; /* decoded passwords, scrubbed from every message */
    uint32_t n_secrets;         /* entries in secrets */
} pg_impl;

/* Lowers a libpq message to one line: no newlines, tabs or runs of spaces. */
static void flatten(char *s) {
    assert(s != NULL);
    char *out = s;
    bool space = false;
    for (const char *in = s; *in != '\0'; in++) {
        bool blank = *in == '\n' || *in == '\r' || *in == '\t' || *in == ' ';
        if (blank) {
            space = out != s;
            continue;
        }
        if (space) {
            *out++ = ' ';
            space = false;
        }
        *out++ = *in;
    }
    *out = '\0';
}

/* Replaces every occurrence of secret in s (capacity cap) with ***; the
 * search resumes after each replacement, so a secret of stars ends too. */
static void scrub(char *s, size_t cap, const char *secret) {
    assert(s != NULL && cap > 0 && strlen(s) < cap);
    size_t len = secret != NULL ? strlen(secret) : 0;
    char *from = s;
    char *hit;
    while (len > 0 && (hit = strstr(from, secret)) != NULL) {
        size_t room = cap - (size_t)(hit - s) - 1; /* bytes from hit on, NUL excluded */
        if (room < 3) {
            *hit = '\0';
            return;
        }
        size_t tail = strlen(hit + len);
        size_t keep = tail < room - 3 ? tail : room - 3;
        memmove(hit + 3, hit + len, keep);
        memcpy(hit, "***", 3);
        hit[3 + keep] = '\0';
        from = hit + 3;
    }
}

/* Every error of this file goes through here: one line, no password. */
static tg_status pg_err(const pg_impl *p, tg_err *err, tg_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static tg_status pg_err(const pg_impl *p, tg_err *err, tg_status st, const char *fmt, ...) {
    assert(fmt != NULL && st != TG_OK);
    char msg[TG_ERR_MSG_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (uint32_t i = 0; p != NULL && i < p->n_secrets; i++) {
        scrub(msg, sizeof msg, p->secrets[i]);
    }
    flatten(msg);
    return tg_err_set(err, st, "%s", msg);
}

/* Keeps a copy of a password so that it can be scrubbed from messages. */
static tg_status keep_secret(pg_impl *p, const char *secret, tg_err *err) {
    assert(p != NULL && p->n_secrets <= SECRETS_MAX);
    if (secret == NULL || secret[0] == '\0' || p->n_secrets == SECRETS_MAX) {
        return TG_OK;
    }
    size_t n = strlen(secret) + 1;
    char *copy = malloc(n);
    if (copy == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "postgresql: out of memory");
    }
    memcpy(copy, secret, n);
    p->secrets[p->n_secrets++] = copy;
    return TG_OK;
}

/* Checks the syntax of what goes to libpq and keeps every password it
 * carries. libpq's reason for a refusal may quote any part of the string,
 * so it is shown only when nothing in it was masked. */
static tg_status read_secrets(pg_impl *p, const char *target, const char *conninfo, tg_err *err) {
    assert(p != NULL && target != NULL && conninfo != NULL);
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
    if (opts == NULL) {
        bool masked = strcmp(p->shown, target) != 0;
        tg_status st = pg_err(p, err, TG_E_INVALID, "postgresql: cannot parse the %s %s: %s",
                              tg_uri_is_conninfo(target) ? "conninfo string" : "URI", p->shown,
                              why != NULL && !masked ? why : "check its syntax");
        PQfreemem(why);
        return st;
    }
    tg_status st = TG_OK;
    for (PQconninfoOption *o = opts; st == TG_OK && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0) {
            st = keep_secret(p, o->val, err);
        }
    }
    PQconninfoFree(opts);
    return st;
}

/* A URI's user-info, split off as libpq cannot read it when the password
 * holds '@', '/' or '?' unencoded (it would take parts of the password for
 * the host, port or database and echo them): user and password decoded,
 * rest the URI without its user-info. All three point into buf, which the
 * caller scrubs and frees. False when there is no user-info. */
typedef struct uri_parts {
    char *buf;      /* one allocation for the three below */
    char *user;     /* decoded user name, NULL when empty */
    char *password; /* decoded password, NULL when absent */
    char *rest;     /* scheme://host.../db?query */
} uri_parts;

static tg_status split_userinfo(const char *uri, uri_parts *parts, tg_err *err) {
    assert(uri != NULL && parts != NULL);
    size_t begin = 0, end = 0;
    memset(parts, 0, sizeof *parts);
    if (!tg_uri_userinfo(uri, &begin, &end)) {
        return TG_OK;
    }
    size_t len = strlen(uri);
    parts->buf = malloc(3 * (len + 1));
    if (parts->buf == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "postgresql: out of memory");
    }
    const char *colon = memchr(uri + begin, ':', end - begin);
    size_t user_len = (size_t)((colon != NULL ? colon : uri + end) - (uri + begin));
    char *user = parts->buf;
    char *password = user + len + 1;
    char *rest = password + len + 1;
    bool ok = tg_uri_decode(uri + begin, user_len, user);
    if (ok && colon != NULL) {
        ok = tg_uri_decode(colon + 1, (size_t)(uri + end - colon - 1), password);
        parts->password = password;
    }
    if (!ok) {
        return tg_err_set(err, TG_E_INVALID,
                          "postgresql: the user or password of the URI decodes to a NUL byte");
    }
    parts->user = user[0] != '\0' ? user : NULL;
    memcpy(rest, uri, begin);
    memcpy(rest + begin, uri + end + 1, len - end);
    parts->rest = rest;
    assert(strlen(rest) == len - (end + 1 - begin));
    return TG_OK;
}

static void free_parts(uri_parts *parts, size_t len) {
    assert(parts != NULL);
    if (parts->buf != NULL) {
        memset(parts->buf, 0, 3 * (len + 1));
        free(parts->buf);
    }
}

/* The status a SQLSTATE maps to: the server's trouble is "unavailable"
 * (retry later), another writer's win is a conflict. */
static tg_status status_of(const char *sqlstate) {
    static const char *const unavailable[] = {
        "08",    /* connection exception */
        "53",    /* insufficient resources: disk full, out of memory, too many connections */
        "58",    /* system error: I/O */
        "57P",   /* admin/crash shutdown, cannot connect now */
        "57014", /* query cancelled (statement_timeout) */
        "55P03", /* lock not available (lock_timeout) */
        "25006", /* read-only transaction: a standby after a failover */
    };
    static const char *const conflict[] = {"23505", "40001", "40P01"};
    if (sqlstate == NULL) {
        return TG_E_IO;
    }
    for (size_t i = 0; i < sizeof conflict / sizeof conflict[0]; i++) {
        if (strcmp(sqlstate, conflict[i]) == 0) {
            return TG_E_CONFLICT;
        }
    }
    for (size_t i = 0; i < sizeof unavailable / sizeof unavailable[0]; i++) {
        if (strncmp(sqlstate, unavailable[i], strlen(unavailable[i])) == 0) {
            return TG_E_UNAVAILABLE;
        }
    }
    return TG_E_IO;
}

/* A failed statement (r may be NULL) as a sentence. An error without a
 * SQLSTATE comes from libpq itself: the connection is gone, even when libpq
 * (15) has not marked it bad yet. The next call outside a batch reconnects. */
static tg_status fail(pg_impl *p, const PGresult *r, const char *what, tg_err *err) {
    assert(p != NULL && p->conn != NULL && what != NULL);
    const char *sqlstate = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(p->conn) == CONNECTION_BAD || sqlstate == NULL ||
        strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P0", 4) == 0) {
        p->broken = true;
        const char *why = r != NULL ? PQresultErrorMessage(r) : "";
        return pg_err(p, err, TG_E_UNAVAILABLE, "postgresql: server unreachable while %s: %s", what,
                      why[0] != '\0' ? why : PQerrorMessage(p->conn));
    }
    const char *msg = r != NULL ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL) {
        msg = r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(p->conn);
    }
    return pg_err(p, err, status_of(sqlstate), "postgresql: %s: %s (SQLSTATE %s)", what, msg,
                  sqlstate != NULL ? sqlstate : "none");
}

static bool result_ok(const PGresult *r) {
    ExecStatusType s = PQresultStatus(r);
    return r != NULL && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

static tg_status exec(pg_impl *p, const char *sql, const char *what, tg_err *err) {
    assert(p != NULL && p->conn != NULL);
    assert(sql != NULL && what != NULL);
    PGresult *r = PQexec(p->conn, sql);
    tg_status st = result_ok(r) ? TG_OK : fail(p, r, what, err);
    PQclear(r);
    return st;
}

/* Runs a one-value query and reads that value as an integer. */
static tg_status query_int(pg_impl *p, const char *sql, const char *what, int64_t *out,
                           tg_err *err) {
    assert(p != NULL && p->conn != NULL && sql != NULL && what != NULL && out != NULL);
    PGresult *r = PQexec(p->conn, sql);
    tg_status st = result_ok(r) ? TG_OK : fail(p, r, what, err);
    if (st == TG_OK && (PQntuples(r) != 1 || PQnfields(r) != 1)) {
        st = pg_err(p, err, TG_E_STATE, "postgresql: %s: expected one value", what);
    }
    if (st == TG_OK) {
        *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return st;
}

static const tg_col_def *journal_column(int i) {
    assert(i >= 0 && i < TG_JOURNAL_COLS);
    return &tg_journal_columns[i];
}

/* Byte-order ("C") collation: keys sort as in SQLite, whatever the
 * database's locale. */
static const tg_sql_dialect pg_sql = {'$', "BIGINT", "TEXT COLLATE \"C\"", ""};

/* Reads are paged by key: $2 is the last key seen, NULL at first. */
static void sql_select_rows(char *buf, const char *where) {
    assert(buf != NULL && where != NULL);
    char tail[64];
    int n = snprintf(tail, sizeof tail, " ORDER BY position_key LIMIT %d", PAGE_ROWS_MAX);
    assert(n > 0 && (size_t)n < sizeof tail);
    tg_sql_select_stop(buf, where, tail);
}

static void build_sql(int which, char *buf) {
    assert(which >= 0 && which < ST_COUNT);
    assert(buf != NULL);
    size_t len;
    switch (which) {
    case ST_INSERT:
        tg_sql_insert_stop(&pg_sql, buf);
        break;
    case ST_UPDATE:
        tg_sql_update_stop(&pg_sql, buf);
        break;
    case ST_APPEND: /* a taken seq is a conflict without aborting the batch, as in SQLite */
        tg_sql_insert(&pg_sql, buf, "stop_event", TG_JOURNAL_COLS, journal_column, "account, seq");
        break;
    case ST_LAST_SEQ:
        snprintf(buf, TG_SQL_MAX,
                 "SELECT GREATEST((SELECT COALESCE(MAX(seq), 0) FROM stop_event WHERE account = "
                 "$1), (SELECT COALESCE(MAX(last_seq), 0) FROM journal_seq WHERE account = $1))");
        break;
    case ST_LOAD_OPEN:
        sql_select_rows(
            buf, "account = $1 AND state <> 'closed' AND ($2::text IS NULL OR position_key > $2)");
        break;
    case ST_LOAD_ALL:
        sql_select_rows(buf, "account = $1 AND ($2::text IS NULL OR position_key > $2)");
        break;
    case ST_LOAD_ONE:
        sql_select_rows(buf, "account = $1 AND position_key = $2");
        break;
    case ST_JOURNAL:
        len = tg_sql_put(buf, 0, "%s", "SELECT ");
        len = tg_sql_names(buf, len, TG_JOURNAL_COLS, journal_column);
        snprintf(buf + len, TG_SQL_MAX - len,
                 " FROM stop_event WHERE account = $1 AND seq > $2 ORDER BY seq LIMIT %d",
                 PAGE_ROWS_MAX);
        break;
    case ST_LEASE_INSERT:
        snprintf(buf, TG_SQL_MAX, "%s", SQL_LEASE_INSERT);
        break;
    case ST_LEASE_TAKE:
        snprintf(buf, TG_SQL_MAX, "%s", SQL_LEASE_TAKE);
        break;
    case ST_LEASE_RELEASE:
        snprintf(buf, TG_SQL_MAX, "%s", SQL_LEASE_RELEASE);
        break;
    case ST_FENCE:
        snprintf(buf, TG_SQL_MAX, "%s", SQL_FENCE);
        break;
    case ST_LEASE_HOLDER:
        snprintf(buf, TG_SQL_MAX, "%s", SQL_LEASE_HOLDER);
        break;
    default:
        /* The last number is kept in journal_seq before the entries
         * holding it may go (both see the same snapshot). */
        snprintf(buf, TG_SQL_MAX,
                 "WITH mark AS (INSERT INTO journal_seq (account, last_seq) SELECT account, "
                 "MAX(seq) FROM stop_event WHERE account = $1 GROUP BY account ON CONFLICT "
                 "(account) DO UPDATE SET last_seq = GREATEST(journal_seq.last_seq, "
                 "excluded.last_seq)) "
                 "DELETE FROM stop_event WHERE account = $1 AND position_key IN (SELECT "
                 "position_key FROM trailing_stop WHERE account = $1 AND state = 'closed' AND "
                 "closed_ms < $2)");
        break;
    }
}

/* Schema migrations: index v holds the statements that take version v to
 * v + 1. Appending a version here is the whole of a migration. */
static tg_status migrate_to_1(pg_impl *p, tg_err *err) {
    assert(p != NULL && p->conn != NULL);
    char stop_sql[TG_SQL_MAX], event_sql[TG_SQL_MAX];
    tg_sql_create(&pg_sql, stop_sql, "trailing_stop", tg_codec_column_count(), tg_codec_column,
                  "account, position_key");
    tg_sql_create(&pg_sql, event_sql, "stop_event", TG_JOURNAL_COLS, journal_column,
                  "account, seq");
    const char *stmts[] = {stop_sql, event_sql,
                           "CREATE INDEX stop_event_position ON stop_event (account, "
                           "position_key)"};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        tg_status st = exec(p, stmts[i], "creating the schema", err);
        if (st != TG_OK) {
            return st;
        }
    }
    return TG_OK;
}

/* Version 2: a pruned journal keeps its last number in journal_seq, so
 * numbers are never handed out twice; the index on position_key goes (only
 * the hourly prune used it, and every append paid for it). */
static tg_status migrate_to_2(pg_impl *p, tg_err *err) {
    assert(p != NULL && p->conn != NULL);
    char create[TG_SQL_MAX];
    tg_sql_create_journal_seq(&pg_sql, create);
    const char *stmts[] = {create, TG_SQL_FILL_JOURNAL_SEQ, TG_SQL_DROP_POSITION_INDEX};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        tg_status st = exec(p, stmts[i], "migrating the schema to version 2", err);
        if (st != TG_OK) {
            return st;
        }
    }
    return TG_OK;
}

/* Version 3 (PostgreSQL only): one lease per account for several processes
 * on one database. */
static tg_status migrate_to_3(pg_impl *p, tg_err *err) {
    return exec(p,
                "CREATE TABLE leases (account TEXT COLLATE \"C\" PRIMARY KEY, owner TEXT COLLATE "
                "\"C\" NOT NULL, token BIGINT NOT NULL CHECK (token >= 0), expires_at TIMESTAMPTZ "
                "NOT NULL, last_renew TIMESTAMPTZ)",
                "migrating the schema to version 3", err);
}

static tg_status (*const migrations[])(pg_impl *, tg_err *) = {migrate_to_1, migrate_to_2,
                                                               migrate_to_3};

/* One transaction under an advisory lock: two processes starting at once
 * migrate one after the other, and the second finds the work done. */
static tg_status migrate(pg_impl *p, int64_t target, tg_err *err) {
    assert(p != NULL && p->conn != NULL);
    assert(target >= 0 && target <= TG_STORE_PG_SCHEMA_VERSION);
    tg_status st = exec(p, "BEGIN", "starting the migration", err);
    if (st != TG_OK) {
        return st;
    }
    const char *setup[] = {
        "SET LOCAL lock_timeout = '" MIGRATION_LOCK_TIMEOUT "'",
        "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")",
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    };
    for (size_t i = 0; st == TG_OK && i < sizeof setup / sizeof setup[0]; i++) {
        st = exec(p, setup[i], "preparing the schema migration", err);
    }
    int64_t version = 0;
    if (st == TG_OK) {
        st = query_int(p, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                       "reading the schema version", &version, err);
    }
    if (st == TG_OK && version > TG_STORE_PG_SCHEMA_VERSION) {
        st = pg_err(p, err, TG_E_INVALID,
                    "postgresql database '%s' has schema version %" PRId64 ", written by a "
                    "newer trailguard; this one understands up to version %d",
                    PQdb(p->conn), version, TG_STORE_PG_SCHEMA_VERSION);
    }
    for (int64_t v = version; st == TG_OK && v < target; v++) {
        assert(v < (int64_t)(sizeof migrations / sizeof migrations[0]));
        st = migrations[v](p, err);
    }
    if (st == TG_OK && version < target) {
        char sql[128];
        int n = snprintf(
            sql, sizeof sql,
            "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%" PRId64 ")", target);
        assert(n > 0 && (size_t)n < sizeof sql);
        st = exec(p, sql, "recording the schema version", err);
    }
    if (st == TG_OK) {
        return exec(p, "COMMIT", "committing the migration", err);
    }
    PQclear(PQexec(p->conn, "ROLLBACK"));
    return st;
}

/* Read-only sessions prepare the reads only: they touch the tables every
 * schema version has, and nothing that writes. */
static bool is_read_statement(int which) {
    return which == ST_LOAD_OPEN || which == ST_LOAD_ALL || which == ST_LOAD_ONE ||
           which == ST_JOURNAL;
}

static tg_status prepare_all(pg_impl *p, tg_err *err) {
    assert(p != NULL && p->conn != NULL && !p->prepared);
    char sql[TG_SQL_MAX];
    for (int i = 0; i < ST_COUNT; i++) {
        if (p->readonly && !is_read_statement(i)) {
            continue;
        }
        build_sql(i, sql);
        PGresult *r = PQprepare(p->conn, stmt_names[i], sql, 0, NULL);
        tg_status st = result_ok(r) ? TG_OK : fail(p, r, "preparing a statement", err);
        PQclear(r);
        if (st != TG_OK) {
            return st;
        }
    }
    p->prepared = true;
    return TG_OK;
}

/* libpq prints notices ("relation already exists, skipping") to stderr by
 * default; library code never prints. */
static void ignore_notice(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

/* What every new session needs: statements, and a bound on lock waits
 * unless the URI set one (options=-clock_timeout=...). */
static tg_status setup_session(pg_impl *p, tg_err *err) {
    assert(p != NULL && p->conn != NULL);
    tg_status st = p->readonly ? exec(p, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                                      "making the session read-only", err)
                               : TG_OK;
    st = st != TG_OK ? st
                     : exec(p,
                            "SELECT set_config('lock_timeout', '" SESSION_LOCK_TIMEOUT "', false) "
                            "WHERE current_setting('lock_timeout') = '0'",
                            "setting lock_timeout", err);
    return st == TG_OK ? prepare_all(p, err) : st;
}

/* libpq's reason names the socket or the host and port; the database and
 * user complete it. No URI is echoed: a long one would crowd the reason out
 * of the message. */
static tg_status connect_failed(pg_impl *p, tg_err *err) {
    assert(p != NULL && p->conn != NULL);
    const char *why = PQerrorMessage(p->conn);
    bool auth = (PQconnectionNeedsPassword(p->conn) || PQconnectionUsedPassword(p->conn)) &&
                strstr(why, "password") != NULL;
    return pg_err(p, err, auth ? TG_E_INVALID : TG_E_UNAVAILABLE,
                  "postgresql: %s to database '%s' as '%s': %s",
                  auth ? "authentication failed" : "cannot connect", PQdb(p->conn), PQuser(p->conn),
                  why);
}

/* Connects afresh when the connection is gone and no transaction is open
 * on it; inside a transaction a lost connection is the batch's end. */
static tg_status ensure_connected(pg_impl *p, tg_err *err) {
    assert(p != NULL && p->conn != NULL);
    if (PQstatus(p->conn) != CONNECTION_OK || p->broken) {
        if (p->in_txn) {
            return pg_err(p, err, TG_E_UNAVAILABLE,
                          "postgresql: server unreachable; the open batch is lost: %s",
                          PQerrorMessage(p->conn));
        }
        p->prepared = false;
        p->broken = false;
        PQreset(p->conn);
        if (PQstatus(p->conn) != CONNECTION_OK) {
            return pg_err(p, err, TG_E_UNAVAILABLE, "postgresql: server unreachable: %s",
                          PQerrorMessage(p->conn));
        }
    }
    return p->prepared ? TG_OK : setup_session(p, err);
}

static void pg_close(void *impl) {
    pg_impl *p = impl;
    if (p == NULL) {
        return;
    }
    PQfinish(p->conn); /* an open transaction ends with the session: rolled back */
    for (uint32_t i = 0; i < p->n_secrets; i++) {
        memset(p->secrets[i], 0, strlen(p->secrets[i]));
        free(p->secrets[i]);
    }
    free(p);
}

/* Connects p to target with trailguard's defaults. A URI's user and
 * password go to libpq as parameters of their own, never inside the URI. */
static tg_status pg_connect(pg_impl *p, const char *target, tg_err *err) {
    assert(p != NULL && target != NULL && p->conn == NULL);
    tg_store_uri_mask(target, p->shown, sizeof p->shown);
    uri_parts parts;
    tg_status st = split_userinfo(target, &parts, err);
    const char *conninfo = parts.rest != NULL ? parts.rest : target;
    st = st != TG_OK ? st : keep_secret(p, parts.password, err);
    st = st != TG_OK ? st : read_secrets(p, target, conninfo, err);
    if (st == TG_OK) {
        /* Defaults first, then the user-info, then the URI's own parameters:
         * the later wins, as libpq reads a URI. Every wait is bounded, also
         * on a peer that vanished without a word. */
        const char *keys[] = {"connect_timeout",
                              "application_name",
                              "keepalives",
                              "keepalives_idle",
                              "keepalives_interval",
                              "keepalives_count",
                              "tcp_user_timeout",
                              NULL,
                              NULL,
                              NULL,
                              NULL};
        const char *vals[11] = {"10", "trailguard", "1", "30", "10", "3", "60000"};
        size_t n = 7;
        if (parts.user != NULL) {
            keys[n] = "user";
            vals[n++] = parts.user;
        }
        if (parts.password != NULL) {
            keys[n] = "password";
            vals[n++] = parts.password;
        }
        keys[n] = "dbname";
        vals[n++] = conninfo;
        assert(n < sizeof keys / sizeof keys[0] && keys[n] == NULL);
        p->conn = PQconnectdbParams(keys, vals, 1);
        if (p->conn == NULL) {
            st = tg_err_set(err, TG_E_NOMEM, "postgresql: out of memory");
        } else {
            PQsetNoticeProcessor(p->conn, ignore_notice, NULL);
            st = PQstatus(p->conn) == CONNECTION_OK ? TG_OK : connect_failed(p, err);
        }
    }
    free_parts(&parts, strlen(target));
    return st;
}

/* Connects and migrates to schema version `schema`. */
static tg_status pg_open_at(const char *target, int64_t schema, void **impl, tg_err *err) {
    assert(target != NULL && impl != NULL);
    pg_impl *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "postgresql: out of memory");
    }
    tg_status st = pg_connect(p, target, err);
    if (st == TG_OK) {
        st = migrate(p, schema, err);
    }
    if (st == TG_OK &&
        schema == TG_STORE_PG_SCHEMA_VERSION) { /* statements need the whole schema */
        st = setup_session(p, err);
    }
    if (st != TG_OK) {
        pg_close(p);
        return st;
    }
    *impl = p;
    return TG_OK;
}

static tg_status pg_open(const char *target, void **impl, tg_err *err) {
    return pg_open_at(target, TG_STORE_PG_SCHEMA_VERSION, impl, err);
}

/* No DDL: the schema must be there, at this build's version or an earlier
 * one (the reads use only what version 1 already had). */
static tg_status check_readonly_schema(pg_impl *p, tg_err *err) {
    assert(p != NULL && p->conn != NULL && p->readonly);
    int64_t present = 0, version = 0;
    tg_status st = query_int(p, "SELECT (to_regclass('schema_version') IS NOT NULL)::int",
                             "reading the schema", &present, err);
    if (st == TG_OK && present > 0) {
        st = query_int(p, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                       "reading the schema version", &version, err);
    }
    if (st == TG_OK && version <= 0) {
        st = pg_err(p, err, TG_E_INVALID, "postgresql database '%s' is not a trailguard store (%s)",
                    PQdb(p->conn),
                    present > 0 ? "its schema_version table is empty" : "no schema_version table");
    }
    if (st == TG_OK && version > TG_STORE_PG_SCHEMA_VERSION) {
        st = pg_err(p, err, TG_E_INVALID,
                    "postgresql database '%s' has schema version %" PRId64 ", written by a "
                    "newer trailguard; this one understands up to version %d",
                    PQdb(p->conn), version, TG_STORE_PG_SCHEMA_VERSION);
    }
    return st;
}

static tg_status pg_open_readonly(const char *target, void **impl, tg_err *err) {
    assert(target != NULL && impl != NULL);
    pg_impl *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "postgresql: out of memory");
    }
    p->readonly = true;
    tg_status st = pg_connect(p, target, err);
    if (st == TG_OK) {
        st = check_readonly_schema(p, err);
    }
    if (st == TG_OK) {
        st = setup_session(p, err);
    }
    if (st != TG_OK) {
        pg_close(p);
        return st;
    }
    *impl = p;
    return TG_OK;
}

static tg_status pg_create_at(const char *target, int64_t schema, tg_err *err) {
    assert(schema >= 0 && schema <= TG_STORE_PG_SCHEMA_VERSION);
    void *impl = NULL;
    tg_status st = pg_open_at(target, schema, &impl, err);
    pg_close(impl);
    return st;
}

static tg_status pg_begin(void *impl, tg_err *err) {
    pg_impl *p = impl;
    assert(!p->in_txn);
    tg_status st = TG_OK;
    /* A server that restarted while we were idle shows only now: the BEGIN
     * fails on the dead socket, and one reconnect is safe (nothing is open). */
    for (int attempt = 0; attempt < CONNECT_ATTEMPTS_MAX; attempt++) {
        st = ensure_connected(p, err);
        if (st == TG_OK) {
            st = exec(p, "BEGIN", "beginning a transaction", err);
        }
        if (st != TG_E_UNAVAILABLE || (PQstatus(p->conn) == CONNECTION_OK && !p->broken)) {
            break;
        }
    }
    p->in_txn = st == TG_OK;
    assert(p->in_txn == (st == TG_OK));
    return st;
}

static void pg_rollback(void *impl) {
    pg_impl *p = impl;
    assert(p != NULL && p->conn != NULL);
    if (PQstatus(p->conn) == CONNECTION_OK && !p->broken &&
        PQtransactionStatus(p->conn) != PQTRANS_IDLE) {
        PQclear(PQexec(p->conn, "ROLLBACK"));
    }
    p->in_txn = false;
}

static tg_status pg_commit(void *impl, tg_err *err) {
    pg_impl *p = impl;
    assert(p->in_txn);
    if (PQstatus(p->conn) == CONNECTION_OK && PQtransactionStatus(p->conn) == PQTRANS_INERROR) {
        pg_rollback(p); /* COMMIT would answer ROLLBACK without an error */
        return pg_err(p, err, TG_E_STATE,
                      "postgresql: a statement of this batch failed; the batch was rolled back");
    }
    PGresult *r = PQexec(p->conn, "COMMIT");
    tg_status st = TG_OK;
    if (!result_ok(r) &&
        (PQstatus(p->conn) == CONNECTION_BAD || PQresultErrorField(r, PG_DIAG_SQLSTATE) == NULL)) {
        p->broken = true;
        st = pg_err(p, err, TG_E_UNAVAILABLE,
                    "postgresql: server unreachable while committing; the batch may or may not "
                    "be durable: %s",
                    PQerrorMessage(p->conn));
    } else if (!result_ok(r)) {
        st = fail(p, r, "committing", err);
    } else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
        st = pg_err(p, err, TG_E_STATE, "postgresql: the server rolled the batch back (%s)",
                    PQcmdStatus(r));
    }
    PQclear(r);
    pg_rollback(p); /* after a failed COMMIT, if the server left one open */
    return st;
}

/* The text libpq sends for v: NULL, the digits of an INT, or the text. */
static const char *param_text(const tg_col_def *c, const tg_col_value *v, char *buf) {
    assert(c != NULL && v != NULL && buf != NULL);
    if (v->null) {
        return NULL;
    }
    if (c->type == TG_COL_INT) {
        int n = snprintf(buf, INT_TEXT_MAX, "%" PRId64, v->i);
        assert(n > 0 && n < INT_TEXT_MAX);
        return buf;
    }
    return v->text;
}

/* Runs a prepared write; *changed gets the rows it touched. */
/* Runs a write statement; *changed gets the rows it changed and, when
 * returned is not NULL, *returned the first column of its first row (0
 * when it returned none). */
static tg_status run_write(pg_impl *p, int which, int n, const char *const *params,
                           const char *what, uint64_t *changed, int64_t *returned, tg_err *err) {
    assert(p != NULL && params != NULL && what != NULL && changed != NULL);
    assert(which >= 0 && which < ST_COUNT && n > 0 && n <= COLS_MAX);
    tg_status st = ensure_connected(p, err);
    if (st != TG_OK) {
        return st;
    }
    PGresult *r = PQexecPrepared(p->conn, stmt_names[which], n, params, NULL, NULL, 0);
    st = result_ok(r) ? TG_OK : fail(p, r, what, err);
    if (st == TG_OK) {
        *changed = strtoull(PQcmdTuples(r), NULL, 10);
    }
    if (st == TG_OK && returned != NULL) {
        *returned = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    }
    PQclear(r);
    return st;
}

static tg_status pg_put(void *impl, const tg_col_value *vals, int64_t expected, int64_t *stored,
                        tg_err *err) {
    pg_impl *p = impl;
    int n = tg_codec_column_count();
    assert(n < COLS_MAX && expected >= 0);
    char ints[COLS_MAX][INT_TEXT_MAX];
    const char *params[COLS_MAX];
    for (int i = 0; i < n; i++) {
        params[i] = param_text(tg_codec_column(i), &vals[i], ints[i]);
    }
    snprintf(ints[n], INT_TEXT_MAX, "%" PRId64, expected);
    params[n] = ints[n];
    uint64_t changed = 0;
    int64_t returned = 0;
    tg_status st = run_write(p, expected == 0 ? ST_INSERT : ST_UPDATE, expected == 0 ? n : n + 1,
                             params, "writing a position", &changed, &returned, err);
    *stored = expected == 0 ? returned : expected + 1;
    if (st == TG_OK && changed != 1 && expected == 0) {
        return pg_err(p, err, TG_E_CONFLICT,
                      "position '%s' was stored by another writer first (expected none)",
                      vals[1].text);
    }
    if (st == TG_OK && changed != 1) {
        return pg_err(p, err, TG_E_CONFLICT,
                      "position '%s' was changed by another writer (expected version %" PRId64 ")",
                      vals[1].text, expected);
    }
    return st;
}

static tg_status pg_append(void *impl, const tg_col_value *vals, tg_err *err) {
    pg_impl *p = impl;
    assert(p != NULL && vals != NULL);
    char ints[TG_JOURNAL_COLS][INT_TEXT_MAX];
    const char *params[TG_JOURNAL_COLS];
    for (int i = 0; i < TG_JOURNAL_COLS; i++) {
        params[i] = param_text(&tg_journal_columns[i], &vals[i], ints[i]);
    }
    uint64_t changed = 0;
    tg_status st = run_write(p, ST_APPEND, TG_JOURNAL_COLS, params, "appending to the journal",
                             &changed, NULL, err);
    if (st == TG_OK && changed != 1) {
        return pg_err(p, err, TG_E_CONFLICT,
                      "journal entry %" PRId64 " of account '%s' was written by another writer",
                      vals[1].i, vals[0].text);
    }
    return st;
}

/* Column `col` of row `row` into v; INT columns are parsed, every value is
 * also kept as text (as the SQLite backend does). */
static tg_status get_value(const pg_impl *p, const PGresult *r, int row, int col,
                           const tg_col_def *def, tg_col_value *v, tg_err *err) {
    assert(r != NULL && def != NULL && v != NULL);
    assert(row >= 0 && row < PQntuples(r) && col >= 0 && col < PQnfields(r));
    v->null = PQgetisnull(r, row, col) != 0;
    v->bad = false;
    v->i = 0;
    v->text[0] = '\0';
    if (v->null) {
        return TG_OK;
    }
    const char *s = PQgetvalue(r, row, col);
    size_t len = (size_t)PQgetlength(r, row, col);
    if (len >= sizeof v->text) {
        return pg_err(p, err, TG_E_STATE, "postgresql: column %s holds %zu bytes, more than %d",
                      def->name, len, TG_COL_TEXT_MAX - 1);
    }
    memcpy(v->text, s, len + 1);
    if (def->type == TG_COL_INT) {
        char *end = NULL;
        errno = 0;
        v->i = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0') {
            return pg_err(p, err, TG_E_STATE, "postgresql: column %s holds '%s', not an integer",
                          def->name, s);
        }
    }
    return TG_OK;
}

typedef struct reader {
    const char *what;                         /* for messages: "loading positions" */
    int which;                                /* prepared statement */
    int n_params;                             /* its parameters */
    const char *params[2];                    /* their text */
    int cols;                                 /* columns per row */
    const tg_col_def *(*col)(int);            /* their definitions */
    bool (*fn)(void *, const tg_col_value *); /* the caller's callback */
    void *ctx;                                /* its context */
    tg_col_value *vals;                       /* one row, reused */
} reader;

/* One round trip: hands each row to fn. *rows gets the rows read; *more is
 * false once fn asked to stop or the page was the last one. */
static tg_status read_page(pg_impl *p, reader *rd, int *rows, bool *more, tg_err *err) {
    assert(p != NULL && rd != NULL && rd->vals != NULL && rd->fn != NULL);
    assert(rows != NULL && more != NULL && rd->cols > 1);
    PGresult *r =
        PQexecPrepared(p->conn, stmt_names[rd->which], rd->n_params, rd->params, NULL, NULL, 0);
    tg_status st = result_ok(r) ? TG_OK : fail(p, r, rd->what, err);
    if (st == TG_OK && PQnfields(r) != rd->cols) {
        st = pg_err(p, err, TG_E_STATE, "postgresql: a read returned %d columns, not %d",
                    PQnfields(r), rd->cols);
    }
    int n = st == TG_OK ? PQntuples(r) : 0;
    *rows = 0;
    *more = n == PAGE_ROWS_MAX;
    for (int i = 0; st == TG_OK && i < n; i++) {
        for (int c = 0; st == TG_OK && c < rd->cols; c++) {
            st = get_value(p, r, i, c, rd->col(c), &rd->vals[c], err);
        }
        if (st == TG_OK) {
            (*rows)++;
            if (!rd->fn(rd->ctx, rd->vals)) {
                *more = false;
                break;
            }
        }
    }
    PQclear(r);
    return st;
}

/* Reads page after page; between pages, rd->params[1] moves past the last
 * row (its column 1: position_key or seq). The loop ends because that key
 * only grows and every page but the last is full. */
static tg_status read_all(pg_impl *p, reader *rd, bool paged, tg_err *err) {
    assert(p != NULL && rd != NULL && rd->col != NULL && rd->fn != NULL);
    tg_status st = ensure_connected(p, err);
    rd->vals = st == TG_OK ? calloc((size_t)rd->cols, sizeof *rd->vals) : NULL;
    if (st == TG_OK && rd->vals == NULL) {
        st = tg_err_set(err, TG_E_NOMEM, "postgresql: out of memory reading rows");
    }
    char last[TG_COL_TEXT_MAX];
    bool more = st == TG_OK;
    while (more) {
        int rows = 0;
        st = read_page(p, rd, &rows, &more, err);
        more = more && paged && st == TG_OK && rows > 0;
        if (more) {
            memcpy(last, rd->vals[1].text, sizeof last);
            rd->params[1] = last;
        }
    }
    free(rd->vals);
    return st;
}

static tg_status pg_last_seq(void *impl, const char *account, int64_t *seq, tg_err *err) {
    pg_impl *p = impl;
    assert(p != NULL && account != NULL && seq != NULL);
    int64_t found = 0;
    tg_status st = ensure_connected(p, err);
    if (st == TG_OK) {
        const char *params[1] = {account};
        PGresult *r = PQexecPrepared(p->conn, stmt_names[ST_LAST_SEQ], 1, params, NULL, NULL, 0);
        st = result_ok(r) ? TG_OK : fail(p, r, "reading the journal's last number", err);
        if (st == TG_OK && PQntuples(r) == 1) {
            found = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        }
        PQclear(r);
    }
    *seq = found;
    return st;
}

static tg_status pg_load(void *impl, const char *account, const char *key, bool include_closed,
                         bool (*fn)(void *, const tg_col_value *), void *ctx, tg_err *err) {
    assert(impl != NULL && account != NULL && fn != NULL);
    reader rd = {
        .what = "loading positions",
        .which = key != NULL      ? ST_LOAD_ONE
                 : include_closed ? ST_LOAD_ALL
                                  : ST_LOAD_OPEN,
        .n_params = 2,
        .params = {account, key},
        .cols = tg_codec_column_count(),
        .col = tg_codec_column,
        .fn = fn,
        .ctx = ctx,
    };
    return read_all(impl, &rd, key == NULL, err);
}

static tg_status pg_journal(void *impl, const char *account, int64_t after,
                            bool (*fn)(void *, const tg_col_value *), void *ctx, tg_err *err) {
    assert(impl != NULL && account != NULL && fn != NULL);
    char after_text[INT_TEXT_MAX];
    int n = snprintf(after_text, sizeof after_text, "%" PRId64, after);
    assert(n > 0 && (size_t)n < sizeof after_text);
    reader rd = {
        .what = "reading the journal",
        .which = ST_JOURNAL,
        .n_params = 2,
        .params = {account, after_text},
        .cols = TG_JOURNAL_COLS,
        .col = journal_column,
        .fn = fn,
        .ctx = ctx,
    };
    return read_all(impl, &rd, true, err);
}

static tg_status pg_prune(void *impl, const char *account, int64_t cutoff_ms, uint64_t *deleted,
                          tg_err *err) {
    pg_impl *p = impl;
    assert(p != NULL && account != NULL && deleted != NULL);
    char cutoff[INT_TEXT_MAX];
    int n = snprintf(cutoff, sizeof cutoff, "%" PRId64, cutoff_ms);
    assert(n > 0 && (size_t)n < sizeof cutoff);
    const char *params[2] = {account, cutoff};
    *deleted = 0;
    return run_write(p, ST_PRUNE, 2, params, "pruning the journal", deleted, NULL, err);
}

/* Runs a prepared statement with text parameters; *out gets the result
 * (the caller clears it) when it succeeded. */
static tg_status run_query(pg_impl *p, int which, int n, const char *const *params,
                           const char *what, PGresult **out, tg_err *err) {
    *out = NULL;
    tg_status st = ensure_connected(p, err);
    if (st != TG_OK) {
        return st;
    }
    PGresult *r = PQexecPrepared(p->conn, stmt_names[which], n, params, NULL, NULL, 0);
    st = result_ok(r) ? TG_OK : fail(p, r, what, err);
    if (st == TG_OK) {
        *out = r;
    } else {
        PQclear(r);
    }
    return st;
}

static tg_status pg_lease_take(void *impl, const char *account, const char *owner, int64_t ttl_ms,
                               int64_t *token, bool *taken, tg_err *err) {
    pg_impl *p = impl;
    assert(!p->in_txn && !p->readonly);
    char ttl[INT_TEXT_MAX];
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    const char *params[3] = {account, owner, ttl};
    uint64_t changed = 0;
    tg_status st =
        run_write(p, ST_LEASE_INSERT, 1, params, "creating a lease", &changed, NULL, err);
    PGresult *r = NULL;
    st = st != TG_OK ? st : run_query(p, ST_LEASE_TAKE, 3, params, "taking a lease", &r, err);
    if (st == TG_OK) {
        *taken = PQntuples(r) == 1;
        *token = *taken ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
        assert(!*taken || *token > 0);
    }
    PQclear(r);
    return st;
}

static tg_status pg_lease_release(void *impl, const char *account, const char *owner, int64_t token,
                                  tg_err *err) {
    pg_impl *p = impl;
    char tok[INT_TEXT_MAX];
    snprintf(tok, sizeof tok, "%" PRId64, token);
    const char *params[3] = {account, owner, tok};
    uint64_t changed = 0;
    return run_write(p, ST_LEASE_RELEASE, 3, params, "releasing a lease", &changed, NULL, err);
}

/* The first statement of a fenced batch. */
static tg_status pg_fence(void *impl, const char *account, const char *owner, int64_t token,
                          tg_err *err) {
    pg_impl *p = impl;
    assert(p->in_txn && token > 0);
    char tok[INT_TEXT_MAX];
    snprintf(tok, sizeof tok, "%" PRId64, token);
    const char *params[3] = {account, owner, tok};
    PGresult *r = NULL;
    tg_status st = run_query(p, ST_FENCE, 3, params, "checking the lease", &r, err);
    bool held = st == TG_OK && PQntuples(r) == 1;
    PQclear(r);
    if (st != TG_OK || held) {
        return st;
    }
    st = run_query(p, ST_LEASE_HOLDER, 1, params, "reading the lease", &r, err);
    if (st != TG_OK) {
        return st;
    }
    bool any = PQntuples(r) == 1;
    st = pg_err(p, err, TG_E_CONFLICT,
                "fenced: the lease of account %s moved to %s (token %s; this writer holds %s as "
                "%s); nothing of the batch was written",
                account, any && PQgetvalue(r, 0, 0)[0] != '\0' ? PQgetvalue(r, 0, 0) : "nobody",
                any ? PQgetvalue(r, 0, 1) : "none", tok, owner);
    PQclear(r);
    return st;
}

static tg_status lease_of(pg_impl *p, const PGresult *r, int row, tg_store_lease *l, tg_err *err) {
    memset(l, 0, sizeof *l);
    const char *account = PQgetvalue(r, row, 0), *owner = PQgetvalue(r, row, 1);
    if (strlen(account) >= sizeof l->account || strlen(owner) >= sizeof l->owner) {
        return pg_err(p, err, TG_E_STATE,
                      "postgresql: a lease names an account or owner longer "
                      "than %d bytes",
                      TG_STORE_KEY_MAX - 1);
    }
    memcpy(l->account, account, strlen(account) + 1);
    memcpy(l->owner, owner, strlen(owner) + 1);
    l->token = strtoll(PQgetvalue(r, row, 2), NULL, 10);
    l->expires_ms = strtoll(PQgetvalue(r, row, 3), NULL, 10);
    l->last_renew_ms = strtoll(PQgetvalue(r, row, 4), NULL, 10);
    l->now_ms = strtoll(PQgetvalue(r, row, 5), NULL, 10);
    return TG_OK;
}

/* Unprepared: a read-only session on an older schema has no leases table to
 * prepare against. Bounded by the accounts of one database. */
static tg_status pg_leases_list(void *impl, tg_store_lease_fn fn, void *ctx, tg_err *err) {
    pg_impl *p = impl;
    tg_status st = ensure_connected(p, err);
    if (st != TG_OK) {
        return st;
    }
    int64_t present = 0;
    st = query_int(p, "SELECT (to_regclass('leases') IS NOT NULL)::int", "reading the schema",
                   &present, err);
    if (st == TG_OK && present == 0) {
        return pg_err(p, err, TG_E_STATE,
                      "postgresql database '%s' has no leases table (schema before version 3); "
                      "a `trailguard run` of this version creates it",
                      PQdb(p->conn));
    }
    PGresult *r = st == TG_OK ? PQexec(p->conn, SQL_LEASES_LIST) : NULL;
    st = st != TG_OK ? st : result_ok(r) ? TG_OK : fail(p, r, "listing the leases", err);
    for (int i = 0; st == TG_OK && i < PQntuples(r); i++) {
        tg_store_lease l;
        st = lease_of(p, r, i, &l, err);
        if (st == TG_OK && !fn(ctx, &l)) {
            break;
        }
    }
    PQclear(r);
    return st;
}

const tg_store_backend tg_store_postgres = {
    .name = "postgresql",
    .open = pg_open,
    .open_readonly = pg_open_readonly,
    .create_at = pg_create_at,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .put = pg_put,
    .append = pg_append,
    .last_seq = pg_last_seq,
    .load = pg_load,
    .journal = pg_journal,
    .prune = pg_prune,
    .lease_take = pg_lease_take,
    .lease_release = pg_lease_release,
    .leases_list = pg_leases_list,
    .fence = pg_fence,
};
