/* Two `trailguard run` processes with [cluster] on one PostgreSQL store and
 * the emulator: each account is served by exactly one of them (the other
 * never sends a request for it), and when one is SIGKILLed the other takes
 * its account over within the lease ttl + 2 s, adopting the stop it left:
 * every position keeps exactly one trailguard stop, which goes on trailing. */
#define PREFIX "daemon-cluster"
#include "daemon_testutil.h"

#define TTL_S          3 /* lease_ttl_seconds of both nodes */
#define RENEW_S        1 /* lease_renew_seconds */
#define TAKEOVER_MS    ((TTL_S + 2) * 1000)
#define NODES          2
#define STATUS_OUT_MAX 8192

typedef struct node {
    const char *id;        /* node_id */
    pid_t pid;             /* the daemon, 0 none */
    uint16_t port;         /* its HTTP port */
    char ini[TU_PATH_MAX]; /* its config */
    char log[TU_PATH_MAX]; /* --log-file */
    char err[TU_PATH_MAX]; /* stdout and stderr */
} node;

static node N[NODES];

static void node_config(int i, const char *id, const char *extra) {
    node *n = &N[i];
    n->id = id;
    n->port = free_port();
    char name[64];
    snprintf(name, sizeof name, "%s.ini", id);
    in_dir(n->ini, name);
    snprintf(name, sizeof name, "%s.log", id);
    in_dir(n->log, name);
    snprintf(name, sizeof name, "%s.stderr", id);
    in_dir(n->err, name);
    snprintf(E.sections, sizeof E.sections,
             "[cluster]\nnode_id = %s\nlease_ttl_seconds = %d\nlease_renew_seconds = %d\n%s", id,
             TTL_S, RENEW_S, extra);
    write_config(n->ini, n->port, false);
}

/* /health of node i (caller frees); NULL while it does not answer. */
static cJSON *node_health(int i) {
    E.http_port = N[i].port;
    tu_resp r = api("GET", "/health", NULL, NULL);
    cJSON *o = r.json;
    r.json = NULL;
    tu_resp_free(&r);
    return o;
}

/* The lease object of account in node i's /health, as "held" or not. */
static bool node_holds(int i, const char *account) {
    cJSON *h = node_health(i);
    bool held = false;
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(h, "accounts")) {
        const char *name = tu_jstr(a, "name");
        const cJSON *lease = cJSON_GetObjectItemCaseSensitive(a, "lease");
        if (name != NULL && strcmp(name, account) == 0 && lease != NULL) {
            held = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(lease, "held"));
        }
    }
    cJSON_Delete(h);
    return held;
}

/* Waits until node i serves account and its /health says healthy; returns
 * the ms it took. */
static int64_t wait_holds(int i, const char *account, int64_t timeout_ms) {
    int64_t t0 = mono_ms();
    for (;;) {
        if (node_holds(i, account)) {
            E.http_port = N[i].port;
            tu_resp r = api("GET", "/health", NULL, NULL);
            long status = r.status;
            tu_resp_free(&r);
            if (status == 200) {
                return mono_ms() - t0;
            }
        }
        if (N[i].pid > 0 && waitpid(N[i].pid, NULL, WNOHANG) == N[i].pid) {
            N[i].pid = 0;
            char *text = tu_read(N[i].err, NULL);
            fail_msg("node %s exited: %s", N[i].id, text);
        }
        if (mono_ms() - t0 > timeout_ms) {
            fail_msg("node %s never served %s within %lld ms", N[i].id, account,
                     (long long)timeout_ms);
        }
        tu_sleep_ms(POLL_MS * 5);
    }
}

/* Lines of node i's log naming account, except its lease lines; up to the
 * first line holding until (NULL: the whole log). */
static int foreign_lines(int i, const char *account, const char *until) {
    char *text = tu_read(N[i].log, NULL);
    char want[96];
    snprintf(want, sizeof want, "account=%s ", account);
    int n = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (until != NULL && strstr(line, until) != NULL && strstr(line, want) != NULL) {
            break;
        }
        if (strstr(line, want) != NULL && strstr(line, "msg=lease_") == NULL) {
            printf("  %s: %s\n", N[i].id, line);
            n++;
        }
    }
    free(text);
    return n;
}

/* `trailguard cluster status --config` of node i: its output. */
static void cluster_status(int i, char *out, size_t cap) {
    char cmd[TU_PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "'%s' cluster status --config '%s' 2>&1", TG_CLI_PATH, N[i].ini);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = fread(out, 1, cap - 1, p);
    out[len] = '\0';
    assert_int_equal(pclose(p), 0);
}

static int teardown_cluster(void **state) {
    for (int i = 0; i < NODES; i++) {
        if (N[i].pid > 0) {
            kill(N[i].pid, SIGKILL);
            waitpid(N[i].pid, NULL, 0);
            N[i].pid = 0;
        }
    }
    int rc = teardown(state);
    pg_remove();
    return rc;
}

static void two_daemons_split_and_take_over(void **state) {
    (void)state;
#ifndef TG_HAVE_POSTGRES
    skip();
#else
    if (!pg_start("cl")) {
        skip();
    }
    node_config(0, "tg-a", "max_accounts = 1\n"); /* the first account only */
    node_config(1, "tg-b", "");
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.010", "50000");
    open_pos(BY_ACCOUNT, "ETHUSDT", "short", "0.500", "3000");

    N[0].pid = spawn_daemon(N[0].ini, N[0].log, N[0].err);
    wait_holds(0, BN_ACCOUNT, WAIT_MS);
    wait_stop(BN_ACCOUNT, "BTCUSDT", 49000);
    N[1].pid = spawn_daemon(N[1].ini, N[1].log, N[1].err);
    wait_holds(1, BY_ACCOUNT, WAIT_MS);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 3060);
    assert_false(node_holds(0, BY_ACCOUNT));
    assert_false(node_holds(1, BN_ACCOUNT));
    mark("BTCUSDT", "51000");
    mark("ETHUSDT", "2960");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2974.8);
    /* each account is served by exactly one: the other never touched it */
    assert_int_equal(foreign_lines(0, BY_ACCOUNT, NULL), 0);
    assert_int_equal(foreign_lines(1, BN_ACCOUNT, NULL), 0);
    char out[STATUS_OUT_MAX];
    cluster_status(1, out, sizeof out);
    assert_non_null(strstr(out, BN_ACCOUNT));
    assert_non_null(strstr(out, "tg-a"));
    assert_non_null(strstr(out, "tg-b"));

    /* SIGKILL the first: the second takes its account over in time */
    prot before = protection(BN_ACCOUNT, "BTCUSDT");
    assert_int_equal(before.stops, 1);
    int64_t t0 = mono_ms();
    kill(N[0].pid, SIGKILL);
    waitpid(N[0].pid, NULL, 0);
    N[0].pid = 0;
    int64_t took = wait_holds(1, BN_ACCOUNT, TAKEOVER_MS + 2000);
    printf("  takeover after %lld ms (ttl %d s)\n", (long long)(mono_ms() - t0), TTL_S);
    assert_true(took <= TAKEOVER_MS);
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745); /* adopted: one stop, never two */
    prot after = protection(BN_ACCOUNT, "BTCUSDT");
    assert_string_equal(after.id, before.id);
    mark("BTCUSDT", "52000"); /* the new owner trails it */
    wait_stop(BN_ACCOUNT, "BTCUSDT", 51740);
    mark("ETHUSDT", "2900");
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2914.5);
    cluster_status(1, out, sizeof out);
    assert_null(strstr(out, "tg-a"));
    /* SIGTERM releases the leases at once */
    kill(N[1].pid, SIGTERM);
    int ws = 0;
    assert_int_equal(waitpid(N[1].pid, &ws, 0), N[1].pid);
    N[1].pid = 0;
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    cluster_status(1, out, sizeof out);
    assert_null(strstr(out, " held "));
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 1);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").stops, 1);
#endif
}

/* The database goes away under a serving process: it cannot renew its
 * leases, so it must stop sending for its accounts before another process
 * could take them (within the ttl), while prices keep moving; when the
 * database is back it takes its leases again and trails on. */
static void database_cut_stops_requests(void **state) {
    (void)state;
#ifndef TG_HAVE_POSTGRES
    skip();
#else
    if (!pg_start("cut")) {
        skip();
    }
    node_config(0, "tg-a", "");
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.010", "50000");
    N[0].pid = spawn_daemon(N[0].ini, N[0].log, N[0].err);
    wait_holds(0, BN_ACCOUNT, WAIT_MS);
    wait_holds(0, BY_ACCOUNT, WAIT_MS);
    mark("BTCUSDT", "51000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);

    uint64_t seq = last_seq("binance");
    int64_t t0 = mono_ms();
    assert_int_equal(pg("halt", NULL, 0), 0);
    /* prices rise for twice the ttl: each step would move the stop */
    int64_t last_request_ms = -1;
    int requests = 0;
    for (int step = 1; mono_ms() - t0 < 2 * TTL_S * 1000; step++) {
        char price[32];
        snprintf(price, sizeof price, "%d", 51000 + 20 * step);
        mark("BTCUSDT", price);
        tu_sleep_ms(100);
        tu_resp r = requests_since(NULL, seq);
        const cJSON *q;
        cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(r.json, "requests")) {
            last_request_ms = mono_ms() - t0; /* at most this long after the cut */
            requests++;
            seq = (uint64_t)tu_jnum(q, "seq");
        }
        tu_resp_free(&r);
    }
    printf("  database halted: %d requests after it, the last seen within %lld ms (ttl %d s)\n",
           requests, (long long)last_request_ms, TTL_S);
    assert_true(last_request_ms <= TTL_S * 1000);
    assert_false(node_holds(0, BN_ACCOUNT));
    assert_false(node_holds(0, BY_ACCOUNT));
    prot held = protection(BN_ACCOUNT, "BTCUSDT");
    assert_int_equal(held.stops, 1); /* left on the exchange, where it was */
    char *log = tu_read(N[0].log, NULL);
    assert_non_null(strstr(log, "msg=lease_expiring"));
    free(log);

    /* the database is back: the leases are taken again, the stop trails on */
    char again[1024];
    assert_int_equal(pg("start", again, sizeof again), 0);
    assert_string_equal(again, E.uri);
    wait_holds(0, BN_ACCOUNT, TAKEOVER_MS + WAIT_MS);
    mark("BTCUSDT", "53000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 52735);
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 1);
#endif
}

int main(int argc, char **argv) {
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(two_daemons_split_and_take_over, setup, teardown_cluster),
        cmocka_unit_test_setup_teardown(database_cut_stops_requests, setup, teardown_cluster),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
