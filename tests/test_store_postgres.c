/* The PostgreSQL store: the conformance suite against a throw-away cluster
 * (scripts/pg-test-cluster.sh), plus what only a server has: two writers
 * racing, a server that dies and comes back, passwords in URIs, migrations
 * started at once, reads longer than one page. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, popen, fork, pthread barriers */
#include "store_conformance.h"
#include "writer_run.h"

#include "store/uri.h"

#ifdef TG_HAVE_POSTGRES

#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#ifdef TG_SOURCE_DIR
#define CLUSTER_SCRIPT TG_SOURCE_DIR "/scripts/pg-test-cluster.sh"
#else
#define CLUSTER_SCRIPT TG_TEST_TMPDIR "/../../scripts/pg-test-cluster.sh"
#endif

#define SKIPPED      77 /* ctest's SKIP_RETURN_CODE */
#define URI_MAX      1024
#define RACE_ROUNDS  25  /* begin/put/append/commit races between two stores */
#define OPENERS      8   /* stores opening a fresh database at the same moment */
#define PAGED_ROWS   600 /* more than two pages of the backend's reads */
#define WRONG_SECRET "Wr0ng-s3cret-5e9d"

static char cluster_dir[256];  /* the cluster's directory */
static char base_uri[URI_MAX]; /* database "trailguard", with the superuser's password */
static char password[128];     /* that password, never to be seen in a message */

/* Runs the cluster script; the first line it prints goes to out. Returns
 * its exit status. */
static int cluster(const char *cmd, char *out, size_t cap) {
    char line[2048];
    snprintf(line, sizeof line, "'%s' %s '%s'", CLUSTER_SCRIPT, cmd, cluster_dir);
    FILE *p = popen(line, "r");
    if (p == NULL) {
        return -1;
    }
    char buf[URI_MAX] = "";
    if (fgets(buf, sizeof buf, p) != NULL) {
        buf[strcspn(buf, "\n")] = '\0';
    }
    while (fgetc(p) != EOF) {
    }
    int status = pclose(p);
    if (out != NULL) {
        snprintf(out, cap, "%s", buf);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void cluster_ok(const char *cmd) {
    char out[URI_MAX];
    if (cluster(cmd, out, sizeof out) != 0) {
        fail_msg("pg-test-cluster.sh %s %s failed", cmd, cluster_dir);
    }
}

/* A child that removes the cluster when this process ends in any way (a
 * failed assertion aborts without running atexit handlers): it waits for
 * the end of a pipe that only this process holds. */
static void start_watchdog(void) {
    int fds[2];
    if (pipe(fds) != 0) {
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        char c;
        while (read(fds[0], &c, 1) > 0) {
        }
        execl(CLUSTER_SCRIPT, CLUSTER_SCRIPT, "stop", cluster_dir, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC); /* the server must not inherit it */
}

/* base_uri with the database name replaced. */
static void uri_for_db(const char *db, char *out, size_t cap) {
    const char *rest = strstr(base_uri, "///trailguard?");
    assert_non_null(rest);
    snprintf(out, cap, "%.*s///%s?%s", (int)(rest - base_uri), base_uri, db,
             rest + strlen("///trailguard?"));
}

static void quiet(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

static PGconn *sql_connect(const char *uri) {
    PGconn *c = PQconnectdb(uri);
    if (PQstatus(c) != CONNECTION_OK) {
        fail_msg("connect: %s", PQerrorMessage(c));
    }
    PQsetNoticeProcessor(c, quiet, NULL); /* "database ... does not exist, skipping" */
    return c;
}

static void sql_exec(const char *uri, const char *sql) {
    PGconn *c = sql_connect(uri);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    PQfinish(c);
}

/* The first value of a query, as text (NULL prints as "NULL"). */
static void sql_text(const char *uri, const char *sql, char *out, size_t cap) {
    PGconn *c = sql_connect(uri);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    }
    snprintf(out, cap, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
}

static void fresh_database(const char *db, char *uri, size_t cap) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", db);
    sql_exec(base_uri, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    sql_exec(base_uri, sql);
    uri_for_db(db, uri, cap);
}

static void assert_no_secret(const tg_err *err) {
    if (strstr(err->msg, password) != NULL || strstr(err->msg, WRONG_SECRET) != NULL) {
        fail_msg("a password shows in: %s", err->msg);
    }
}

static void assert_msg_has(const tg_err *err, const char *part) {
    if (strstr(err->msg, part) == NULL) {
        fail_msg("'%s' not in: %s", part, err->msg);
    }
}

static void test_account(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s-%ld", name, (long)getpid());
}

static void exact_text_and_types(void **state) {
    (void)state;
    char account[64], sql[256], got[64], uri[URI_MAX];
    test_account(account, sizeof account, "text");
    snprintf(uri, sizeof uri, "postgres://%s", base_uri + strlen("postgresql://"));
    tg_store *s = conf_open(account); /* conf_uri is base_uri */
    assert_string_equal(tg_store_backend_name(s), "postgresql");
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "0.13381", "0.00000001", &p, 0);
    tg_store_row row;
    conf_row(&row, account, "BANKUSDT:long", &h.s);
    conf_persist(s, &row, &h, 0);
    tg_store_close(s);
    const char *checks[][2] = {
        {"pg_typeof(entry_price)::text", "text"},  {"entry_price", "0.13381"},
        {"activation_price", "0.13581715"},        {"highest_price", "NULL"}, /* no sentinel */
        {"pg_typeof(created_ms)::text", "bigint"}, {"version", "1"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT %s FROM trailing_stop WHERE account = '%s'", checks[i][0],
                 account);
        sql_text(base_uri, sql, got, sizeof got);
        assert_string_equal(got, checks[i][1]);
    }
    tg_err err = {0};
    assert_int_equal(tg_store_open(uri, account, &s, &err), TG_OK); /* postgres:// too */
    tg_store_row back;
    conf_ok(tg_store_get(s, "BANKUSDT:long", &back, &err), &err);
    conf_assert_same(&row, &back);
    tg_store_close(s);
}

typedef struct racer {
    tg_store *store;       /* its own connection */
    tg_store_row row;      /* its copy of the row, at the version both read */
    pthread_barrier_t *go; /* both start together */
    tg_status status;      /* of the whole batch */
    tg_err err;            /* why it failed */
    atomic_bool done;      /* the batch has ended */
} racer;

static void *race(void *arg) {
    racer *r = arg;
    if (r->go != NULL) {
        pthread_barrier_wait(r->go);
    }
    tg_status st = tg_store_begin(r->store, &r->err);
    if (st == TG_OK) {
        st = tg_store_put(r->store, &r->row, &r->err);
    }
    if (st == TG_OK) {
        tg_journal_entry e = {.kind = TG_JOURNAL_COMMAND, .ts_ms = 1, .latency_us = -1};
        e.command.type = TG_CMD_SET_STOP;
        e.command.price = D("51242.5");
        snprintf(e.position_key, sizeof e.position_key, "%s", r->row.position_key);
        st = tg_store_append(r->store, &e, &r->err);
    }
    if (st == TG_OK) {
        st = tg_store_commit(r->store, &r->err);
    } else {
        tg_store_rollback(r->store);
    }
    r->status = st;
    return NULL;
}

/* Two processes write the same row at the same moment: one commit wins, the
 * other gets TG_E_CONFLICT and writes nothing, round after round. */
static void race_one_writer_wins(void **state) {
    (void)state;
    char account[64];
    test_account(account, sizeof account, "race");
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, 0);
    tg_store_row current;
    conf_row(&current, account, "BTCUSDT:long", &h.s); /* version 0: both insert */
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
    racer rs[2] = {{.store = conf_open(account), .go = &go},
                   {.store = conf_open(account), .go = &go}};
    for (int round = 0; round < RACE_ROUNDS; round++) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++) {
            rs[i].row = current;
            assert_int_equal(pthread_create(&t[i], NULL, race, &rs[i]), 0);
        }
        for (int i = 0; i < 2; i++) {
            pthread_join(t[i], NULL);
        }
        int winner = rs[0].status == TG_OK ? 0 : 1;
        if (rs[winner].status != TG_OK || rs[1 - winner].status != TG_E_CONFLICT) {
            fail_msg("round %d: %d '%s' / %d '%s'", round, rs[0].status, rs[0].err.msg,
                     rs[1].status, rs[1].err.msg);
        }
        assert_msg_has(&rs[1 - winner].err, "BTCUSDT:long");
        assert_int_equal(rs[winner].row.version, round + 1);
        assert_int_equal(rs[1 - winner].row.version, round);
        current = rs[winner].row;
    }
    tg_store_row back;
    tg_err err = {0};
    conf_ok(tg_store_get(rs[0].store, "BTCUSDT:long", &back, &err), &err);
    assert_int_equal(back.version, RACE_ROUNDS);
    conf_seqs c = {0};
    conf_ok(tg_store_journal(rs[1].store, 0, conf_collect_seq, &c, &err), &err);
    assert_int_equal(c.n, RACE_ROUNDS); /* only the winners' entries, gap-free */
    for (int i = 0; i < c.n; i++) {
        assert_int_equal(c.seq[i], i + 1);
    }
    assert_int_equal(tg_store_get_stats(rs[0].store).conflicts +
                         tg_store_get_stats(rs[1].store).conflicts,
                     RACE_ROUNDS);
    tg_store_close(rs[0].store);
    tg_store_close(rs[1].store);
    pthread_barrier_destroy(&go);
}

static void *race_now(void *arg) {
    racer *r = arg;
    race(r);
    atomic_store(&r->done, true);
    return NULL;
}

/* The second writer waits on the first one's row lock; it must then see the
 * first one's outcome: a commit (conflict) or a rollback (it wins). */
static void waiting_writer_sees_the_outcome(void **state) {
    (void)state;
    char account[64];
    test_account(account, sizeof account, "wait");
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, 0);
    tg_store_row first;
    conf_row(&first, account, "BTCUSDT:long", &h.s);
    tg_store *a = conf_open(account);
    racer b = {.store = conf_open(account)};
    tg_err err = {0};
    for (int round = 0; round < 2; round++) {
        bool commit = round == 0; /* round 0 inserts, round 1 updates */
        b.row = first;
        atomic_store(&b.done, false);
        conf_ok(tg_store_begin(a, &err), &err);
        conf_ok(tg_store_put(a, &first, &err), &err);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, race_now, &b), 0);
        struct timespec wait = {.tv_nsec = 300 * 1000 * 1000};
        nanosleep(&wait, NULL);
        assert_false(atomic_load(&b.done)); /* blocked on a's row */
        if (commit) {
            conf_ok(tg_store_commit(a, &err), &err);
        } else {
            tg_store_rollback(a);
        }
        pthread_join(t, NULL);
        assert_int_equal(b.status, commit ? TG_E_CONFLICT : TG_OK);
    }
    tg_store_row back;
    conf_ok(tg_store_get(a, "BTCUSDT:long", &back, &err), &err);
    assert_int_equal(back.version, 2); /* a's insert, then b's update */
    assert_int_equal(b.row.version, 2);
    tg_store_close(a);
    tg_store_close(b.store);
}

static void expect_unavailable(tg_status st, const tg_err *err, const char *what) {
    if (st != TG_E_UNAVAILABLE) {
        fail_msg("%s: status %d, not unavailable: %s", what, st, err->msg);
    }
    assert_no_secret(err);
    assert_msg_has(err, "postgresql: ");
}

/* The server dies mid-batch (pg_ctl stop -m immediate, like a crash): calls
 * fail as unavailable with a sentence; once it is back, the same store
 * works again and everything committed before is there. */
static void server_crash_and_return(void **state) {
    (void)state;
    char account[64];
    test_account(account, sizeof account, "crash");
    tg_store *s = conf_open(account);
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_SHORT, "3000", "0.01", &p, 0);
    h_tick(&h, 1000, "2940");
    tg_store_row row;
    conf_row(&row, account, "ETHUSDT:short", &h.s);
    conf_persist(s, &row, &h, 0);
    int committed = h.n_events;

    tg_err err = {0};
    conf_ok(tg_store_begin(s, &err), &err);
    conf_ok(tg_store_put(s, &row, &err), &err);
    cluster_ok("halt");
    tg_journal_entry e = {.kind = TG_JOURNAL_EVENT, .event = h.events[0], .latency_us = -1};
    snprintf(e.position_key, sizeof e.position_key, "%s", row.position_key);
    expect_unavailable(tg_store_append(s, &e, &err), &err, "append");
    assert_msg_has(&err, "server unreachable");
    tg_store_rollback(s);
    assert_int_equal(row.version, 1);
    expect_unavailable(tg_store_begin(s, &err), &err, "begin");
    assert_msg_has(&err, "server unreachable");
    int n = 0;
    expect_unavailable(tg_store_load(s, false, conf_count_row, &n, &err), &err, "load");
    tg_store *other = NULL;
    expect_unavailable(tg_store_open(base_uri, account, &other, &err), &err, "open");
    assert_msg_has(&err, "cannot connect");

    cluster_ok("start");
    conf_ok(tg_store_begin(s, &err), &err); /* reconnects */
    conf_ok(tg_store_put(s, &row, &err), &err);
    conf_ok(tg_store_append(s, &e, &err), &err);
    conf_ok(tg_store_commit(s, &err), &err);
    assert_int_equal(row.version, 2);
    tg_store_close(s);

    s = conf_open(account);
    tg_store_row back;
    conf_ok(tg_store_get(s, row.position_key, &back, &err), &err);
    assert_int_equal(back.version, 2);
    conf_assert_same(&row, &back);
    conf_seqs c = {0};
    conf_ok(tg_store_journal(s, 0, conf_collect_seq, &c, &err), &err);
    assert_int_equal(c.n, committed + 1);
    for (int i = 0; i < c.n; i++) {
        assert_int_equal(c.seq[i], i + 1);
    }
    tg_store_close(s);
}

static int server_back(void **state) {
    (void)state;
    return cluster("start", NULL, 0);
}

static void refused(const char *uri, tg_status want, const char *part) {
    tg_store *s = NULL;
    tg_err err = {0};
    tg_status st = tg_store_open(uri, "acct", &s, &err);
    if (st != want) {
        fail_msg("%s: status %d, want %d: %s", part, st, want, err.msg);
    }
    assert_no_secret(&err);
    assert_msg_has(&err, part);
}

/* A password never appears in a message, whichever way the URI carries it. */
static void passwords_stay_out_of_messages(void **state) {
    (void)state;
    char uri[URI_MAX], sock_uri[URI_MAX];
    const char *query = strchr(base_uri, '?');
    snprintf(uri, sizeof uri, "%.*s%s", (int)(strstr(base_uri, password) - base_uri), base_uri,
             WRONG_SECRET);
    refused(uri, TG_E_INVALID, "authentication failed to database 'trailguard' as 'trailguard'");

    /* user:password@ form; the real password then works the same way */
    char host_part[URI_MAX / 2];
    snprintf(host_part, sizeof host_part, "%.*s", (int)(strstr(query, "&user=") - query), query);
    snprintf(uri, sizeof uri, "postgresql://trailguard:%s@/trailguard%s", WRONG_SECRET, host_part);
    refused(uri, TG_E_INVALID, "authentication failed");
    snprintf(uri, sizeof uri, "postgresql://trailguard:%s@/trailguard%s", password, host_part);
    tg_store *s = NULL;
    tg_err err = {0};
    conf_ok(tg_store_open(uri, "acct", &s, &err), &err);
    tg_store_close(s);

    /* no server there */
    snprintf(sock_uri, sizeof sock_uri, "postgresql:///trailguard?host=/nonexistent-tg&password=%s",
             WRONG_SECRET);
    refused(sock_uri, TG_E_UNAVAILABLE, "cannot connect to database 'trailguard'");

    /* a URI libpq cannot parse is echoed, without its passwords (the
     * trailing "&x" lacks its "=", and after a password it may be the
     * password's: hidden with it) */
    snprintf(sock_uri, sizeof sock_uri,
             "postgresql:///trailguard?host=/tmp&user=x&pass%%77ord=%s&sslpassword=%s&x",
             WRONG_SECRET, WRONG_SECRET);
    refused(sock_uri, TG_E_INVALID, "user=x&pass%77ord=***&sslpassword=***: check");
    snprintf(sock_uri, sizeof sock_uri, "postgresql://u:%s@/db?host=/tmp&x", password);
    refused(sock_uri, TG_E_INVALID, "cannot parse the URI postgresql://***@/db?host=/tmp&x");
    snprintf(sock_uri, sizeof sock_uri, "postgres://u:%s?@h/db?x", WRONG_SECRET);
    refused(sock_uri, TG_E_INVALID, "postgres://***@h/db?x");
}

/* A password that libpq would misread in a URI ('@', '/', '?') and that
 * needs quoting in a conninfo string (' ', '\''). */
#define ODD_SECRET      "Xq7@Zr4/Kp9?Wm2 Vb8'Yn5"
#define ODD_SECRET_SQL  "Xq7@Zr4/Kp9?Wm2 Vb8''Yn5"
#define ODD_SECRET_CONN "Xq7@Zr4/Kp9?Wm2 Vb8\\'Yn5"

static const char *const odd_fragments[] = {"Xq7", "Zr4", "Kp9", "Wm2", "Vb8", "Yn5"};

static void assert_no_odd_secret(const char *text) {
    if (strstr(text, password) != NULL) {
        fail_msg("the cluster's password shows in: %s", text);
    }
    for (size_t i = 0; i < sizeof odd_fragments / sizeof odd_fragments[0]; i++) {
        if (strstr(text, odd_fragments[i]) != NULL) {
            fail_msg("'%s' of a password shows in: %s", odd_fragments[i], text);
        }
    }
}

/* The value of a parameter of base_uri, percent-decoded. */
static void base_param(const char *name, char *out, size_t cap) {
    char key[32];
    snprintf(key, sizeof key, "%s=", name);
    const char *v = strstr(base_uri, key);
    assert_non_null(v);
    v += strlen(key);
    size_t n = strcspn(v, "&");
    assert_true(n < cap);
    assert_true(tg_uri_decode(v, n, out));
}

/* `trailguard state list --store uri`: its exit status, and stdout and
 * stderr together in out. */
static int state_list(const char *uri, char *out, size_t cap) {
    char quoted[URI_MAX * 2], cmd[URI_MAX * 3];
    size_t n = 0;
    quoted[n++] = '\'';
    for (const char *c = uri; *c != '\0' && n + 5 < sizeof quoted; c++) {
        if (*c == '\'') {
            memcpy(quoted + n, "'\\''", 4);
            n += 4;
        } else {
            quoted[n++] = *c;
        }
    }
    quoted[n++] = '\'';
    quoted[n] = '\0';
    snprintf(cmd, sizeof cmd, "'%s' state list --store %s 2>&1 </dev/null", TG_CLI_PATH, quoted);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = fread(out, 1, cap - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Opens uri (a new store) and reads it back with the command line. */
static void opens_and_lists(const char *uri) {
    tg_store *s = NULL;
    tg_err err = {0};
    conf_ok(tg_store_open(uri, "default", &s, &err), &err);
    assert_string_equal(tg_store_backend_name(s), "postgresql");
    tg_store_close(s);
    conf_ok(tg_store_open_readonly(uri, "default", &s, &err), &err);
    tg_store_close(s);
    char out[4096];
    if (state_list(uri, out, sizeof out) != 0) {
        fail_msg("state list --store %s: %s", uri, out);
    }
    assert_non_null(strstr(out, "no open positions"));
    assert_no_odd_secret(out);
}

/* Refused with a sentence, in the library and on the command line, and
 * neither shows any part of a password. */
static void refused_everywhere(const char *uri, const char *part) {
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_not_equal(tg_store_open(uri, "default", &s, &err), TG_OK);
    assert_no_odd_secret(err.msg);
    assert_msg_has(&err, part);
    char out[4096];
    assert_int_equal(state_list(uri, out, sizeof out), 1);
    assert_non_null(strstr(out, part));
    assert_no_odd_secret(out);
}

/* A role whose password holds '@', '/', '?', ' ' and '\'', reached by a
 * URI with that password unencoded in its user-info and by a conninfo
 * string, quoted; the cluster's own password through a conninfo string. */
static void odd_passwords_and_conninfo_connect(void **state) {
    (void)state;
    char host[256], port[16], uri[URI_MAX];
    base_param("host", host, sizeof host);
    base_param("port", port, sizeof port);
    sql_exec(base_uri, "DROP DATABASE IF EXISTS tg_odd");
    sql_exec(base_uri, "DROP ROLE IF EXISTS tg_odd");
    sql_exec(base_uri, "CREATE ROLE tg_odd LOGIN PASSWORD '" ODD_SECRET_SQL "'");
    sql_exec(base_uri, "CREATE DATABASE tg_odd OWNER tg_odd");

    snprintf(uri, sizeof uri, "host='%s' port=%s dbname=trailguard user=trailguard password=%s",
             host, port, password);
    opens_and_lists(uri);
    const char *host_enc = strstr(base_uri, "host=") + strlen("host="); /* percent-encoded */
    snprintf(uri, sizeof uri, "postgresql://tg_odd:" ODD_SECRET "@/tg_odd?host=%.*s&port=%s",
             (int)strcspn(host_enc, "&"), host_enc, port);
    opens_and_lists(uri);
    snprintf(uri, sizeof uri,
             "  host = '%s' port=%s dbname=tg_odd user=tg_odd password='" ODD_SECRET_CONN "'", host,
             port);
    opens_and_lists(uri);

    /* the wrong password, then no server on that port */
    snprintf(uri, sizeof uri,
             "host='%s' port=%s dbname=tg_odd user=tg_odd password='" ODD_SECRET_CONN "x'", host,
             port);
    refused_everywhere(uri, "authentication failed to database 'tg_odd' as 'tg_odd'");
    snprintf(uri, sizeof uri, "postgresql://tg_odd:" ODD_SECRET "x@127.0.0.1:1/tg_odd");
    refused_everywhere(uri, "cannot connect to database 'tg_odd' as 'tg_odd'");
    snprintf(uri, sizeof uri,
             "host=127.0.0.1 port=1 dbname=tg_odd user=tg_odd password='" ODD_SECRET_CONN "'");
    refused_everywhere(uri, "cannot connect to database 'tg_odd' as 'tg_odd'");
    snprintf(uri, sizeof uri, "host='%s' port=1 dbname=tg_odd password='" ODD_SECRET_CONN "'",
             host);
    refused_everywhere(uri, "cannot connect to database 'tg_odd'");
    sql_exec(base_uri, "DROP DATABASE tg_odd");
    sql_exec(base_uri, "DROP ROLE tg_odd");
}

static void newer_schema_is_refused(void **state) {
    (void)state;
    char uri[URI_MAX];
    fresh_database("tg_newer", uri, sizeof uri);
    tg_store *s = NULL;
    tg_err err = {0};
    conf_ok(tg_store_open(uri, "acct", &s, &err), &err);
    tg_store_close(s);
    char got[32];
    sql_text(uri, "SELECT version FROM schema_version", got, sizeof got);
    assert_int_equal(atoi(got), TG_STORE_PG_SCHEMA_VERSION);
    sql_exec(uri, "UPDATE schema_version SET version = 99");
    refused(uri, TG_E_INVALID, "schema version 99, written by a newer trailguard");
    char part[64];
    snprintf(part, sizeof part, "understands up to version %d", TG_STORE_PG_SCHEMA_VERSION);
    refused(uri, TG_E_INVALID, part);
}

/* A read-only open runs no DDL: an empty database stays empty and is named
 * as not a store; an older schema is read without being migrated; a newer
 * one is refused; nothing can be written through it. */
static void readonly_open_writes_nothing(void **state) {
    (void)state;
    char uri[URI_MAX], got[32];
    fresh_database("tg_ro", uri, sizeof uri);
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open_readonly(uri, "acct", &s, &err), TG_E_INVALID);
    assert_msg_has(&err, "database 'tg_ro' is not a trailguard store (no schema_version table)");
    sql_text(uri, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", got, sizeof got);
    assert_string_equal(got, "0");

    conf_ok(tg_store_create_at(uri, 1, &err), &err);
    conf_ok(tg_store_open_readonly(uri, "acct", &s, &err), &err);
    tg_store_row row;
    assert_int_equal(tg_store_get(s, "nope", &row, &err), TG_E_INVALID);
    assert_int_equal(tg_store_begin(s, &err), TG_E_STATE);
    tg_store_close(s);
    sql_text(uri, "SELECT version FROM schema_version", got, sizeof got);
    assert_string_equal(got, "1");

    sql_exec(uri, "UPDATE schema_version SET version = 99");
    assert_int_equal(tg_store_open_readonly(uri, "acct", &s, &err), TG_E_INVALID);
    assert_msg_has(&err, "schema version 99, written by a newer trailguard");
}

/* A bad row is reported, not loaded; a failed statement names its SQLSTATE. */
static void sql_errors_are_sentences(void **state) {
    (void)state;
    char uri[URI_MAX];
    fresh_database("tg_broken", uri, sizeof uri);
    tg_store *s = NULL;
    tg_err err = {0};
    conf_ok(tg_store_open(uri, "acct", &s, &err), &err);
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    tg_store_row row, back;
    conf_row(&row, "acct", "X", &h.s);
    conf_persist(s, &row, &h, 0);
    sql_exec(uri, "UPDATE trailing_stop SET entry_price = '1e5'");
    assert_int_equal(tg_store_get(s, "X", &back, &err), TG_E_STATE);
    assert_msg_has(&err, "entry_price");
    sql_exec(uri, "DROP TABLE stop_event");
    assert_int_equal(tg_store_begin(s, &err), TG_E_IO);
    assert_msg_has(&err, "stop_event");
    assert_msg_has(&err, "(SQLSTATE 42P01)");
    assert_no_secret(&err);
    tg_store_close(s);
}

/* A row another session keeps locked past lock_timeout is "unavailable",
 * not a wait without end; lock_timeout from the URI wins over ours. */
static void held_lock_times_out(void **state) {
    (void)state;
    char account[64], uri[URI_MAX + 64], sql[256];
    test_account(account, sizeof account, "locked");
    snprintf(uri, sizeof uri, "%s&options=-c%%20lock_timeout%%3D300", base_uri);
    tg_store *s = NULL;
    tg_err err = {0};
    conf_ok(tg_store_open(uri, account, &s, &err), &err);
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    tg_store_row row;
    conf_row(&row, account, "X", &h.s);
    conf_persist(s, &row, &h, 0);

    PGconn *holder = sql_connect(base_uri);
    snprintf(sql, sizeof sql, "SELECT 1 FROM trailing_stop WHERE account = '%s' FOR UPDATE",
             account);
    PQclear(PQexec(holder, "BEGIN"));
    PGresult *r = PQexec(holder, sql);
    assert_int_equal(PQntuples(r), 1);
    PQclear(r);
    conf_ok(tg_store_begin(s, &err), &err);
    assert_int_equal(tg_store_put(s, &row, &err), TG_E_UNAVAILABLE);
    assert_msg_has(&err, "SQLSTATE 55P03");
    tg_store_rollback(s);
    PQfinish(holder); /* its transaction ends; the row is free again */
    conf_persist(s, &row, &h, h.n_events);
    assert_int_equal(row.version, 2);
    tg_store_close(s);
}

typedef struct opener {
    const char *uri;       /* the fresh database */
    pthread_barrier_t *go; /* all start together */
    tg_status status;      /* of tg_store_open */
    tg_err err;            /* why it failed */
} opener;

static void *open_at_once(void *arg) {
    opener *o = arg;
    char account[32];
    snprintf(account, sizeof account, "acct-%p", arg);
    tg_store *s = NULL;
    pthread_barrier_wait(o->go);
    o->status = tg_store_open(o->uri, account, &s, &o->err);
    tg_store_close(s);
    return NULL;
}

/* Processes starting together on an empty database all find one schema. */
static void first_opens_migrate_once(void **state) {
    (void)state;
    char uri[URI_MAX];
    fresh_database("tg_migrate", uri, sizeof uri);
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, OPENERS), 0);
    opener os[OPENERS];
    pthread_t t[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        os[i] = (opener){.uri = uri, .go = &go};
        assert_int_equal(pthread_create(&t[i], NULL, open_at_once, &os[i]), 0);
    }
    for (int i = 0; i < OPENERS; i++) {
        pthread_join(t[i], NULL);
    }
    for (int i = 0; i < OPENERS; i++) {
        conf_ok(os[i].status, &os[i].err);
    }
    pthread_barrier_destroy(&go);
    char got[32];
    sql_text(uri, "SELECT count(*) || ':' || max(version) FROM schema_version", got, sizeof got);
    char want[32];
    snprintf(want, sizeof want, "1:%d", TG_STORE_PG_SCHEMA_VERSION);
    assert_string_equal(got, want);
}

typedef struct keys_seen {
    char last[TG_STORE_KEY_MAX]; /* the previous key */
    int n;                       /* rows seen */
    int stop_at;                 /* return false after this many; 0 = never */
    bool ordered;                /* every key above the previous one */
} keys_seen;

static bool see_key(void *ctx, const tg_store_row *row) {
    keys_seen *k = ctx;
    k->ordered = k->ordered && (k->n == 0 || strcmp(k->last, row->position_key) < 0);
    snprintf(k->last, sizeof k->last, "%s", row->position_key);
    k->n++;
    return k->stop_at == 0 || k->n < k->stop_at;
}

static bool stop_at_ten(void *ctx, const tg_journal_entry *e) {
    (void)e;
    return ++*(int *)ctx < 10;
}

/* Reads longer than one page come back whole, in order, and stop early. */
static void paged_reads(void **state) {
    (void)state;
    char account[64];
    test_account(account, sizeof account, "paged");
    tg_store *s = conf_open(account);
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, 0);
    static tg_store_row rows[PAGED_ROWS];
    tg_err err = {0};
    conf_ok(tg_store_begin(s, &err), &err);
    for (int i = 0; i < PAGED_ROWS; i++) {
        char key[32];
        snprintf(key, sizeof key, "%c%03d", i % 2 ? 'a' : 'B', PAGED_ROWS - i); /* B < a */
        conf_row(&rows[i], account, key, &h.s);
        conf_ok(tg_store_put(s, &rows[i], &err), &err);
        tg_journal_entry e = {.kind = TG_JOURNAL_EVENT, .event = h.events[0], .latency_us = -1};
        snprintf(e.position_key, sizeof e.position_key, "%s", key);
        conf_ok(tg_store_append(s, &e, &err), &err);
    }
    conf_ok(tg_store_commit(s, &err), &err);
    keys_seen k = {.ordered = true};
    conf_ok(tg_store_load(s, false, see_key, &k, &err), &err);
    assert_int_equal(k.n, PAGED_ROWS);
    assert_true(k.ordered);
    assert_string_equal(k.last, "a599");
    keys_seen early = {.ordered = true, .stop_at = 300};
    conf_ok(tg_store_load(s, true, see_key, &early, &err), &err);
    assert_int_equal(early.n, 300);
    conf_seqs c = {0};
    conf_ok(tg_store_journal(s, 0, conf_collect_seq, &c, &err), &err);
    assert_int_equal(c.n, PAGED_ROWS);
    assert_int_equal(c.last.seq, PAGED_ROWS);
    for (int i = 0; i < 256; i++) {
        assert_int_equal(c.seq[i], i + 1);
    }
    int ten = 0;
    conf_ok(tg_store_journal(s, 100, stop_at_ten, &ten, &err), &err);
    assert_int_equal(ten, 10);
    tg_store_close(s);
}

/* ---- leases and fencing ---------------------------------------------- */

#define LEASE_TTL_MS 300 /* short, so that the tests can wait it out */

static void lease_take_ok(tg_store *s, const char *owner, bool want_taken, int64_t want_token) {
    int64_t token = -1;
    bool taken = !want_taken;
    tg_err err = {0};
    conf_ok(tg_store_lease_take(s, owner, LEASE_TTL_MS, &token, &taken, &err), &err);
    if (taken != want_taken || token != want_token) {
        fail_msg("%s: taken %d token %" PRId64 ", want %d %" PRId64, owner, taken, token,
                 want_taken, want_token);
    }
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct lease_seen {
    char account[64]; /* the account looked for */
    tg_store_lease l; /* its lease */
    int n;            /* leases of that account seen */
} lease_seen;

static bool find_lease(void *ctx, const tg_store_lease *l) {
    lease_seen *ls = ctx;
    if (strcmp(l->account, ls->account) == 0) {
        ls->l = *l;
        ls->n++;
    }
    return true;
}

/* Take, renew, expire, take over, release: the token grows only when the
 * lease changes hands or ran out; the server's clock decides. */
static void lease_take_renew_expire(void **state) {
    (void)state;
    char account[64];
    test_account(account, sizeof account, "lease");
    tg_store *a = conf_open(account), *b = conf_open(account);
    lease_take_ok(a, "node-a", true, 1);
    lease_take_ok(b, "node-b", false, 0);
    lease_take_ok(a, "node-a", true, 1); /* a renewal keeps the token */
    lease_seen ls = {0};
    snprintf(ls.account, sizeof ls.account, "%s", account);
    tg_err err = {0};
    conf_ok(tg_store_leases_list(b, find_lease, &ls, &err), &err);
    assert_int_equal(ls.n, 1);
    assert_string_equal(ls.l.owner, "node-a");
    assert_int_equal(ls.l.token, 1);
    assert_true(ls.l.expires_ms > ls.l.now_ms && ls.l.expires_ms <= ls.l.now_ms + LEASE_TTL_MS);
    assert_true(ls.l.last_renew_ms > 0 && ls.l.last_renew_ms <= ls.l.now_ms);
    sleep_ms(LEASE_TTL_MS + 100);
    lease_take_ok(b, "node-b", true, 2); /* expired: taken over */
    lease_take_ok(a, "node-a", false, 0);
    conf_ok(tg_store_lease_release(b, "node-b", &err), &err);
    lease_take_ok(a, "node-a", true, 3); /* released: free at once */
    sleep_ms(LEASE_TTL_MS + 100);
    lease_take_ok(a, "node-a", true, 4); /* its own, but it had run out: a new token */
    tg_store_close(a);
    tg_store_close(b);
}

static void write_one(tg_store *s, const char *account, const char *key, int64_t version,
                      tg_status want, tg_err *err) {
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, 0);
    tg_store_row row;
    conf_row(&row, account, key, &h.s);
    row.version = version;
    tg_status st = tg_store_begin(s, err);
    st = st != TG_OK ? st : tg_store_put(s, &row, err);
    st = st != TG_OK ? st : tg_store_commit(s, err);
    if (st != TG_OK) {
        tg_store_rollback(s);
    }
    if (st != want) {
        fail_msg("write %s: status %d, want %d: %s", key, st, want, err->msg);
    }
}

static int count_rows(tg_store *s) {
    int n = 0;
    tg_err err = {0};
    conf_ok(tg_store_load(s, true, conf_count_row, &n, &err), &err);
    return n;
}

/* A writer whose lease was taken over is refused in its own transaction
 * with a sentence naming the new owner; nothing of its batch is written. */
static void stale_writer_is_fenced(void **state) {
    (void)state;
    char account[64];
    test_account(account, sizeof account, "fence");
    tg_store *a = conf_open(account), *b = conf_open(account);
    lease_take_ok(a, "node-a", true, 1);
    tg_err err = {0};
    write_one(a, account, "A1", 0, TG_OK, &err);
    sleep_ms(LEASE_TTL_MS + 100);
    lease_take_ok(b, "node-b", true, 2);
    write_one(a, account, "A2", 0, TG_E_CONFLICT, &err);
    assert_msg_has(&err, "fenced: the lease of account ");
    assert_msg_has(&err, "moved to node-b");
    assert_true(tg_store_fenced(a));
    assert_int_equal(tg_store_get_stats(a).fenced, 1);
    write_one(b, account, "B1", 0, TG_OK, &err);
    assert_false(tg_store_fenced(b));
    assert_int_equal(count_rows(b), 2); /* A1 and B1, never A2 */
    /* an explicit old token is refused as well */
    conf_ok(tg_store_set_fence(b, "node-b", 1, &err), &err);
    write_one(b, account, "B2", 0, TG_E_CONFLICT, &err);
    assert_msg_has(&err, "token 2");
    tg_store_close(a);
    tg_store_close(b);
}

typedef struct taker {
    tg_store *store;  /* the new owner's store */
    atomic_bool done; /* its take returned */
    bool taken;       /* and took the lease */
    int64_t token;    /* with this token */
    tg_err err;       /* why it failed */
} taker;

static void *take_thread(void *arg) {
    taker *t = arg;
    tg_store_lease_take(t->store, "node-b", LEASE_TTL_MS, &t->token, &t->taken, &t->err);
    atomic_store(&t->done, true);
    return NULL;
}

/* The check is in the batch's transaction: a takeover that comes while a
 * batch of the old owner is open waits for its commit, and the old owner's
 * next batch is refused. */
static void takeover_waits_for_open_batch(void **state) {
    (void)state;
    char account[64];
    test_account(account, sizeof account, "fence-txn");
    tg_store *a = conf_open(account);
    taker t = {.store = conf_open(account)};
    lease_take_ok(a, "node-a", true, 1);
    tg_err err = {0};
    conf_ok(tg_store_begin(a, &err), &err);
    sleep_ms(LEASE_TTL_MS + 100); /* the lease runs out with the batch open */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, take_thread, &t), 0);
    sleep_ms(300);
    assert_false(atomic_load(&t.done)); /* waits on the lease row */
    harness h;
    tg_params p = tg_params_default();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, 0);
    tg_store_row row;
    conf_row(&row, account, "A1", &h.s);
    conf_ok(tg_store_put(a, &row, &err), &err);
    conf_ok(tg_store_commit(a, &err), &err);
    pthread_join(th, NULL);
    conf_ok(t.err.msg[0] == '\0' ? TG_OK : TG_E_IO, &t.err);
    assert_true(t.taken);
    assert_int_equal(t.token, 2);
    write_one(a, account, "A2", 0, TG_E_CONFLICT, &err);
    assert_int_equal(count_rows(t.store), 1); /* the new owner reads A1 at its restore */
    tg_store_close(a);
    tg_store_close(t.store);
}

/* Starts the cluster; SKIPPED when there is no PostgreSQL to start. */
static int cluster_start(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(cluster_dir, sizeof cluster_dir, "%s/tgpg-XXXXXX",
             tmp != NULL && strlen(tmp) < 64 ? tmp : "/tmp");
    if (mkdtemp(cluster_dir) == NULL) {
        fprintf(stderr, "mkdtemp %s failed\n", cluster_dir);
        return 1;
    }
    start_watchdog();
    int rc = cluster("start", base_uri, sizeof base_uri);
    if (rc != 0) {
        fprintf(stderr, "pg-test-cluster.sh start %s: exit %d\n", cluster_dir, rc);
        return rc == SKIPPED ? SKIPPED : 1;
    }
    const char *pw = strstr(base_uri, "&password=");
    if (pw == NULL) {
        fprintf(stderr, "no password in %s\n", base_uri);
        return 1;
    }
    snprintf(password, sizeof password, "%s", pw + strlen("&password="));
    return 0;
}

/* The engine writes through the writer while the server is down (killed as
 * a crash would): every flush fails with a sentence, the engine keeps
 * trailing, the queue holds every change; once the server is back one flush
 * makes it all durable, nothing lost, the journal gap-free. */
static void writer_survives_server_outage(void **state) {
    (void)state;
    char uri[URI_MAX];
    fresh_database("tg_outage", uri, sizeof uri);
    run *r = run_start(uri, 65536);
    play(r, 20);
    assert_store_is_engine(r);
    uint64_t set_stops = r->sim.set_stops;
    cluster_ok("halt");
    for (int t = 0; t < 20; t++) {
        step(r);
        tg_err err = {0};
        assert_int_equal(flush(r, &err), TG_E_UNAVAILABLE);
        assert_no_secret(&err);
        assert_msg_has(&err, "postgresql");
    }
    assert_true(r->sim.set_stops > set_stops); /* the engine went on trailing */
    tg_writer_stats ws = tg_writer_get_stats(r->writer);
    assert_int_equal(ws.flush_failures, 20);
    assert_int_equal(ws.entries_dropped, 0);
    cluster_ok("start");
    tg_err err = {0};
    ok(flush(r, &err), &err);
    ws = tg_writer_get_stats(r->writer);
    assert_int_equal(ws.pending_rows, 0);
    assert_int_equal(ws.pending_entries, 0);
    assert_store_is_engine(r);
    assert_journal(r, 0, 0);
    play(r, 5);
    assert_store_is_engine(r);
    assert_journal(r, 0, 0);
    run_end(r);
}

static void migrates_from_version_1(void **state) {
    (void)state;
    char uri[URI_MAX];
    fresh_database("tg_v1", uri, sizeof uri);
    conf_check_migration_from_v1(uri, sql_exec);
}

int main(void) {
    int rc = cluster_start();
    if (rc != 0) {
        cluster("stop", NULL, 0);
        return rc;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_text_and_types),
        cmocka_unit_test(race_one_writer_wins),
        cmocka_unit_test(waiting_writer_sees_the_outcome),
        cmocka_unit_test_teardown(server_crash_and_return, server_back),
        cmocka_unit_test_teardown(writer_survives_server_outage, server_back),
        cmocka_unit_test(passwords_stay_out_of_messages),
        cmocka_unit_test(odd_passwords_and_conninfo_connect),
        cmocka_unit_test(newer_schema_is_refused),
        cmocka_unit_test(readonly_open_writes_nothing),
        cmocka_unit_test(migrates_from_version_1),
        cmocka_unit_test(sql_errors_are_sentences),
        cmocka_unit_test(held_lock_times_out),
        cmocka_unit_test(first_opens_migrate_once),
        cmocka_unit_test(paged_reads),
        cmocka_unit_test(lease_take_renew_expire),
        cmocka_unit_test(stale_writer_is_fenced),
        cmocka_unit_test(takeover_waits_for_open_batch),
    };
    int failed = tg_store_conformance_run("postgresql conformance",
                                          base_uri); /* also sets conf_uri for the tests */
    failed += cmocka_run_group_tests_name("postgresql", tests, NULL, NULL);
    cluster("stop", NULL, 0);
    return failed;
}

#else

int main(void) {
    fprintf(stderr, "built without libpq: PostgreSQL store not tested\n");
    return 77;
}

#endif
