/* `trailguard diagnose` end to end: the real command, as a process, against
 * the in-process emulator and the real daemon over loopback (the same
 * harness as test_daemon.c), with faults made through the emulator's
 * control endpoint, signed exchange requests, a fake daemon API, or by
 * stopping the daemon; each must come out with its type and severity. */
#define PREFIX "diagnose"

#include "diagnose_testutil.h"

#include <pthread.h>

/* ---- a fake daemon API (engine and exchange disagree on purpose) ---- */

typedef struct fake_api {
    int fd;                /* listening socket */
    uint16_t port;         /* its port */
    pthread_t thread;      /* serves until stop */
    volatile int stop;     /* set to end */
    const char *positions; /* the /v1/positions body */
} fake_api;

static void *fake_serve(void *arg) {
    fake_api *f = arg;
    while (!f->stop) {
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        int c = accept(f->fd, NULL, NULL);
        if (c < 0) {
            continue;
        }
        char req[4096];
        ssize_t n = recv(c, req, sizeof req - 1, 0);
        req[n > 0 ? n : 0] = '\0';
        bool metrics = strstr(req, "GET /metrics") != NULL;
        const char *body = metrics ? "trailguard_requests_total{account=\"x\"} 10\n" : f->positions;
        char head[256];
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 metrics ? "text/plain" : "application/json", strlen(body));
        (void)!send(c, head, strlen(head), MSG_NOSIGNAL);
        (void)!send(c, body, strlen(body), MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static void fake_start(fake_api *f, const char *positions) {
    memset(f, 0, sizeof *f);
    f->positions = positions;
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(f->fd, 16), 0);
    assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sa, &len), 0);
    f->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static void fake_stop(fake_api *f) {
    f->stop = 1;
    pthread_join(f->thread, NULL);
    close(f->fd);
}

/* ---- the tests --------------------------------------------------------- */

/* The daemon protects two positions on two venues: no issue, exit 0, the
 * log and the report written. */
static void healthy_run_has_no_issues(void **state) {
    (void)state;
    start_daemon();
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.01", "50000");
    open_pos(BY_ACCOUNT, "ETHUSDT", "short", "0.5", "3000");
    wait_stops(BN_ACCOUNT, "BTCUSDT", 1);
    wait_stops(BY_ACCOUNT, "ETHUSDT", 1);
    wait_daemon_confirmed(2);
    diag r = run_diagnose("--once", NULL);
    if (r.rc != 0 || cJSON_GetArraySize(issues_of(&r)) != 0) {
        fail_msg("rc %d, issues %s\n%s", r.rc, cJSON_Print(issues_of(&r)), r.console);
    }
    assert_non_null(r.log);
    assert_non_null(strstr(r.log, "probe=engine ok=true positions=2"));
    assert_non_null(strstr(r.log, "probe=store ok=true rows=2"));
    assert_non_null(strstr(r.log, "probe=exchange ok=true positions=2 stops=2"));
    assert_non_null(strstr(r.log, "probe=consistency"));
    diag_free(&r);
}

/* The daemon is down and a position opened meanwhile: no stop anywhere.
 * The daemon's absence and the naked position are both reported; with
 * --exchange-only only the position. */
static void unprotected_position_with_the_daemon_stopped(void **state) {
    (void)state;
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.01", "50000");
    diag r = run_diagnose("--once", NULL);
    assert_int_equal(r.rc, 1);
    expect_issue(&r, "unprotected_position", "CRITICAL", BN_ACCOUNT, "BTCUSDT");
    expect_issue(&r, "source_unreachable", "HIGH", NULL, NULL);
    diag_free(&r);
    r = run_diagnose("--once", "--exchange-only", NULL);
    assert_int_equal(r.rc, 1);
    expect_issue(&r, "unprotected_position", "CRITICAL", BN_ACCOUNT, "BTCUSDT");
    expect_no_issue(&r, "source_unreachable", NULL, NULL);
    expect_no_issue(&r, "missing_ts_instance", NULL, NULL);
    diag_free(&r);
    r = run_diagnose("--once", "--exchange-only", "--fail-on", "never", NULL);
    assert_int_equal(r.rc, 0);
    diag_free(&r);
}

/* The original monitor's blind spots: a Binance algo stop and a Bybit
 * position stop-loss protect their positions; a stop with a foreign client
 * id is reported as foreign_stop (LOW), never as unprotected. */
static void foreign_and_position_stops_are_protection(void **state) {
    (void)state;
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.01", "50000");
    foreign_algo_stop("BTCUSDT", "48000");
    open_pos(BY_ACCOUNT, "ETHUSDT", "long", "0.5", "3000");
    bybit_position_sl("ETHUSDT", "2900");
    open_pos(BN_ACCOUNT, "SOLUSDT", "long", "20", "150");
    diag r = run_diagnose("--once", "--exchange-only", NULL);
    assert_int_equal(r.rc, 1);
    expect_issue(&r, "unprotected_position", "CRITICAL", BN_ACCOUNT, "SOLUSDT");
    expect_no_issue(&r, "unprotected_position", BN_ACCOUNT, "BTCUSDT");
    expect_no_issue(&r, "unprotected_position", BY_ACCOUNT, "ETHUSDT");
    expect_issue(&r, "foreign_stop", "LOW", BN_ACCOUNT, "BTCUSDT");
    expect_no_issue(&r, "foreign_stop", BY_ACCOUNT, "ETHUSDT");
    diag_free(&r);
    /* the same with the daemon running: it places its own stop beside the
     * foreign one (foreign_stops = leave), which stays foreign */
    start_daemon();
    wait_stops(BN_ACCOUNT, "BTCUSDT", 2);
    wait_stops(BN_ACCOUNT, "SOLUSDT", 1);
    wait_daemon_confirmed(3);
    r = run_diagnose("--once", NULL);
    expect_no_issue(&r, "unprotected_position", NULL, NULL);
    expect_issue(&r, "foreign_stop", "LOW", BN_ACCOUNT, "BTCUSDT");
    assert_int_equal(r.rc, 0);
    diag_free(&r);
}

/* A daemon whose view differs from the exchange's: a position the engine
 * does not know (missing_ts_instance) and one it holds that is not open
 * (orphan_ts_instance). */
static void daemon_and_exchange_disagree(void **state) {
    (void)state;
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.01", "50000");
    fake_api f;
    fake_start(&f, "[{\"key\":\"" BN_ACCOUNT ":ETHUSDT:long\",\"account\":\"" BN_ACCOUNT
                   "\",\"venue\":\"binance\",\"symbol\":\"ETHUSDT\",\"position_key\":"
                   "\"ETHUSDT:long\",\"side\":\"long\",\"state\":\"active\",\"entry\":\"3000\","
                   "\"quantity\":\"1\",\"mark\":\"3100\",\"stop_confirmed\":\"3050\","
                   "\"exchange_stop\":null,\"in_flight\":false,\"last_tick_ms\":0}]");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)f.port);
    diag r = run_diagnose("--once", "--daemon", url, NULL);
    fake_stop(&f);
    assert_int_equal(r.rc, 1);
    expect_issue(&r, "missing_ts_instance", "HIGH", BN_ACCOUNT, "BTCUSDT");
    expect_issue(&r, "orphan_ts_instance", "HIGH", BN_ACCOUNT, "ETHUSDT");
    assert_non_null(strstr(r.log, "probe=engine ok=true positions=1"));
    diag_free(&r);
}

/* --daemon at a port where nothing listens: source_unreachable (HIGH), the
 * exchange probed all the same; nothing reachable at all: exit 2. */
static void unreachable_sources(void **state) {
    (void)state;
    start_daemon();
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.01", "50000");
    wait_stops(BN_ACCOUNT, "BTCUSDT", 1);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)free_port());
    diag r = run_diagnose("--once", "--daemon", url, NULL);
    assert_int_equal(r.rc, 1);
    expect_issue(&r, "source_unreachable", "HIGH", NULL, NULL);
    expect_no_issue(&r, "unprotected_position", NULL, NULL);
    assert_non_null(strstr(r.log, "probe=exchange ok=true"));
    diag_free(&r);
    /* nothing answers: the emulator gone too */
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);
    tu_sim_stop(&E.sim);
    r = run_diagnose("--once", "--exchange-only", "--timeout", "2", NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.console, "nothing answered"));
    diag_free(&r);
}

/* Bad usage and a bad configuration: exit 2 with a sentence. */
static void bad_usage_exits_2(void **state) {
    (void)state;
    diag r = run_diagnose("--fail-on", "sometimes", NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.console, "--fail-on"));
    diag_free(&r);
    r = run_diagnose("--duration", "forever", NULL);
    assert_int_equal(r.rc, 2);
    diag_free(&r);
    char bad[TU_PATH_MAX];
    in_dir(bad, "bad.ini");
    write_mode(bad, "[diagnose]\nengine_interval_seconds = soon\n", 0644);
    r = run_diagnose("--config", bad, "--once", NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.console, "engine_interval_seconds"));
    diag_free(&r);
}

/* A 20 s run with short intervals: the probes repeat, and the one issue
 * they keep finding is counted, not copied. */
static void probes_repeat_and_counts_rise(void **state) {
    (void)state;
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.01", "50000");
    diag r = run_diagnose("--duration", "20s", "--exchange-only", "--exchange-interval", "1",
                          "--consistency-interval", "2", "--progress-interval", "5", NULL);
    assert_int_equal(r.rc, 1);
    int n = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, issues_of(&r)) {
        const char *t = tu_jstr(o, "type");
        n += t != NULL && strcmp(t, "unprotected_position") == 0 ? 1 : 0;
    }
    assert_int_equal(n, 1);
    const cJSON *u = issue(&r, "unprotected_position", BN_ACCOUNT, "BTCUSDT");
    assert_non_null(u);
    int count = (int)tu_jnum(u, "count");
    if (count < 8) {
        fail_msg("unprotected_position seen %d times in 20 s with a check every 2 s", count);
    }
    int probes = 0;
    for (const char *p = r.log; (p = strstr(p, "probe=exchange ok=true positions=")) != NULL; p++) {
        probes++;
    }
    if (probes < 15) {
        fail_msg("%d exchange probes in 20 s at 1 s", probes);
    }
    assert_non_null(strstr(r.console, "Minute "));
    diag_free(&r);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(healthy_run_has_no_issues, setup, teardown),
        cmocka_unit_test_setup_teardown(unprotected_position_with_the_daemon_stopped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(foreign_and_position_stops_are_protection, setup, teardown),
        cmocka_unit_test_setup_teardown(daemon_and_exchange_disagree, setup, teardown),
        cmocka_unit_test_setup_teardown(unreachable_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_usage_exits_2, setup, teardown),
        cmocka_unit_test_setup_teardown(probes_repeat_and_counts_rise, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
