/* `trailguard run` end to end: the real daemon binary against the in-process
 * emulator over loopback sockets, checked through the emulator's control
 * endpoint (what the exchange holds) and the daemon's own HTTP API. */
#include "sim_testutil.h"

#include "replay_testutil.h"
#include "trailguard/store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#define PREFIX "daemon"

/* Our own accounts, so that the secret check looks for strings nobody else
 * prints (the built-in ones are published test vectors). */
#define BN_ACCOUNT "e2e-bn"
#define BN_KEY     "e2eBinanceKeyQ7w3Zr9Tm2"
#define BN_SECRET  "e2eBinanceSecretK4p8Xv1Ls6"
#define BY_ACCOUNT "e2e-by"
#define BY_KEY     "E2EBYBITKEYH5J2N8"
#define BY_SECRET  "e2eBybitSecretF3g9Wq0Ue7"
#define TOKEN      "e2e-token-Rb5Yc8Nd2Pk"

#define WAIT_MS         10000 /* longest wait for any one thing to happen */
#define POLL_MS         10    /* polling period */
#define RECONCILE_MS    2000  /* reconcile_interval_seconds in the config */
#define PROTECT_MAX_MS  1000  /* a new position's stop, from its stream event */
#define DAEMON_ARGS_MAX 8

typedef struct env {
    tu_sim sim;            /* the emulator */
    char dir[512];         /* this test's files */
    char db[TU_PATH_MAX];  /* SQLite store */
    char ini[TU_PATH_MAX]; /* the config */
    char log[TU_PATH_MAX]; /* --log-file */
    char err[TU_PATH_MAX]; /* the daemon's stderr */
    uint16_t http_port;    /* the daemon's HTTP port */
    pid_t daemon;          /* the running daemon, 0 if none */
    int stale_s;           /* stale_seconds in the config */
} env;

static env E;

/* ---- files and processes --------------------------------------------- */

static void write_mode(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static uint16_t free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void in_dir(char *buf, const char *name) {
    snprintf(buf, TU_PATH_MAX, "%s/%s", E.dir, name);
}

/* A config for the two accounts; with_token adds [http] token_file. */
static void write_config(const char *path, uint16_t http_port, bool with_token) {
    char bk[TU_PATH_MAX], bs[TU_PATH_MAX], yk[TU_PATH_MAX], ys[TU_PATH_MAX], tk[TU_PATH_MAX];
    in_dir(bk, "bn.key");
    in_dir(bs, "bn.secret");
    in_dir(yk, "by.key");
    in_dir(ys, "by.secret");
    in_dir(tk, "token");
    write_mode(bk, BN_KEY "\n", 0600);
    write_mode(bs, BN_SECRET "\n", 0600);
    write_mode(yk, BY_KEY "\n", 0600);
    write_mode(ys, BY_SECRET "\n", 0600);
    write_mode(tk, TOKEN "\n", 0600);
    char token_line[TU_PATH_MAX + 32] = "";
    if (with_token) {
        snprintf(token_line, sizeof token_line, "token_file = %s\n", tk);
    }
    char ini[8192];
    snprintf(ini, sizeof ini,
             "[store]\nuri = %s\n\n"
             "[account " BN_ACCOUNT "]\nvenue = binance\n"
             "rest_url = http://127.0.0.1:%u\nws_url = ws://127.0.0.1:%u\n"
             "api_key_file = %s\napi_secret_file = %s\n\n"
             "[account " BY_ACCOUNT "]\nvenue = bybit\n"
             "rest_url = http://127.0.0.1:%u\nws_url = ws://127.0.0.1:%u\n"
             "api_key_file = %s\napi_secret_file = %s\n\n"
             "[defaults]\nactivation_percent = 1\ncallback_percent = 0.5\n"
             "initial_stop_percent = 2\nmin_update_interval_seconds = 0\n"
             "reconcile_interval_seconds = %d\nstale_seconds = %d\n\n"
             "[http]\nlisten = 127.0.0.1:%u\n%s\n"
             "[log]\nlevel = debug\n",
             E.db, (unsigned)E.sim.port.binance, (unsigned)E.sim.port.binance, bk, bs,
             (unsigned)E.sim.port.bybit, (unsigned)E.sim.port.bybit, yk, ys, RECONCILE_MS / 1000,
             E.stale_s, (unsigned)http_port, token_line);
    write_mode(path, ini, 0644);
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `trailguard run --config ini --log-file log`, stdout and stderr to err. */
static pid_t spawn_daemon(const char *ini, const char *log, const char *err) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execl(TG_CLI_PATH, TG_CLI_PATH, "run", "--config", ini, "--log-file", log, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static tu_resp api(const char *method, const char *path, const char *token, const char *body) {
    char url[TU_URL_MAX], auth[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)E.http_port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token != NULL ? token : "");
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    return tu_http(method, url, token != NULL ? headers : headers + 1, body, 3000);
}

/* Starts the daemon and waits until /health says every account is live. */
static void start_daemon(void) {
    assert_int_equal(E.daemon, 0);
    E.daemon = spawn_daemon(E.ini, E.log, E.err);
    int64_t until = mono_ms() + WAIT_MS;
    for (;;) {
        tu_resp r = api("GET", "/health", NULL, NULL);
        long status = r.status;
        tu_resp_free(&r);
        if (status == 200) {
            return;
        }
        int ws;
        if (waitpid(E.daemon, &ws, WNOHANG) == E.daemon) {
            E.daemon = 0;
            char *text = tu_read(E.err, NULL);
            fail_msg("the daemon exited during startup: %s", text);
        }
        if (mono_ms() > until) {
            fail_msg("the daemon never became healthy (last /health %ld)", status);
        }
        tu_sleep_ms(50);
    }
}

/* Signals the daemon and returns its exit status (-1 if it did not exit in
 * timeout_ms; it is SIGKILLed then). */
static int stop_daemon(int sig, int64_t timeout_ms) {
    assert_true(E.daemon > 0);
    kill(E.daemon, sig);
    int64_t until = mono_ms() + timeout_ms;
    int ws = 0;
    while (waitpid(E.daemon, &ws, WNOHANG) != E.daemon) {
        if (mono_ms() > until) {
            kill(E.daemon, SIGKILL);
            waitpid(E.daemon, &ws, 0);
            E.daemon = 0;
            return -1;
        }
        tu_sleep_ms(POLL_MS);
    }
    E.daemon = 0;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static void rm_rf(const char *dir) {
    char cmd[TU_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int setup_with(bool with_token, int stale_s) {
    memset(&E, 0, sizeof E);
    E.stale_s = stale_s;
    snprintf(E.dir, sizeof E.dir, "%s/%s-run", TG_TEST_TMPDIR,
             PREFIX); /* the last test's files stay */
    rm_rf(E.dir);
    assert_int_equal(mkdir(E.dir, 0700), 0);
    char accounts[TU_PATH_MAX];
    in_dir(accounts, "accounts.json");
    write_mode(accounts,
               "[{\"venue\":\"binance\",\"name\":\"" BN_ACCOUNT "\",\"api_key\":\"" BN_KEY
               "\",\"api_secret\":\"" BN_SECRET "\"},"
               "{\"venue\":\"bybit\",\"name\":\"" BY_ACCOUNT "\",\"api_key\":\"" BY_KEY
               "\",\"api_secret\":\"" BY_SECRET "\"}]",
               0600);
    tg_sim_config cfg = tg_sim_config_default();
    cfg.accounts_path = accounts;
    tg_err err = {0};
    if (tg_sim_new(&cfg, &E.sim.sim, &err) != TG_OK || tg_sim_start(E.sim.sim, &err) != TG_OK) {
        fail_msg("cannot start the emulator: %s", err.msg);
    }
    E.sim.port = tg_sim_ports_get(E.sim.sim);
    in_dir(E.db, "trailguard.db");
    in_dir(E.ini, "trailguard.ini");
    in_dir(E.log, "daemon.log");
    in_dir(E.err, "daemon.stderr");
    E.http_port = free_port();
    write_config(E.ini, E.http_port, with_token);
    return 0;
}

static int setup(void **state) {
    (void)state;
    return setup_with(false, 30);
}

static int setup_stale(void **state) {
    (void)state;
    return setup_with(false, 1);
}

static int setup_token(void **state) {
    (void)state;
    return setup_with(true, 30);
}

/* Secrets never reach the daemon's stderr or log file, whatever happened. */
static void assert_no_secrets(void) {
    const char *paths[] = {E.err, E.log};
    const char *secrets[] = {BN_KEY, BN_SECRET, BY_KEY, BY_SECRET, TOKEN};
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (f == NULL) {
            continue;
        }
        fclose(f);
        char *text = tu_read(paths[i], NULL);
        for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++) {
            if (strstr(text, secrets[k]) != NULL) {
                fail_msg("%s contains the secret %s", paths[i], secrets[k]);
            }
        }
        free(text);
    }
}

static int teardown(void **state) {
    (void)state;
    if (E.daemon > 0) {
        stop_daemon(SIGKILL, 2000);
    }
    assert_no_secrets();
    tu_sim_stop(&E.sim);
    return 0;
}

/* ---- the exchange's view --------------------------------------------- */

typedef struct prot {
    int stops;          /* open stops */
    char trigger[32];   /* the first one's trigger */
    char id[64];        /* its order id */
    char type[32];      /* its type */
    bool open;          /* the position is open */
    int windows;        /* unprotected windows so far */
    int64_t longest_ms; /* the longest of them */
} prot;

static prot protection(const char *account, const char *symbol) {
    char target[256], out[65536];
    snprintf(target, sizeof target, "/sim/protection?account=%s&symbol=%s", account, symbol);
    prot p = {0};
    int status = tg_sim_call(E.sim.sim, "GET", target, NULL, out, sizeof out);
    if (status != 200) {
        fail_msg("protection %s %s: %d %s", account, symbol, status, out);
    }
    cJSON *o = cJSON_Parse(out);
    assert_non_null(o);
    const cJSON *stops = cJSON_GetObjectItemCaseSensitive(o, "open_stops");
    p.stops = cJSON_GetArraySize(stops);
    if (p.stops > 0) {
        const cJSON *s = cJSON_GetArrayItem(stops, 0);
        snprintf(p.trigger, sizeof p.trigger, "%s", tu_jstr(s, "trigger"));
        snprintf(p.id, sizeof p.id, "%s", tu_jstr(s, "id") ? tu_jstr(s, "id") : "");
        snprintf(p.type, sizeof p.type, "%s", tu_jstr(s, "type") ? tu_jstr(s, "type") : "");
    }
    const char *size = tu_jstr(o, "size");
    p.open = size != NULL && strtod(size, NULL) != 0;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "unprotected");
    p.windows = (int)tu_jnum(u, "count");
    p.longest_ms = (int64_t)tu_jnum(u, "longest_ms");
    cJSON_Delete(o);
    return p;
}

static double trigger_of(const prot *p) {
    return p->stops > 0 ? strtod(p->trigger, NULL) : 0;
}

/* Waits until the position has exactly one stop at want (0 = any); returns
 * the ms it took. strict: more than one stop at any moment is a failure. */
static int64_t wait_stop_for(const char *account, const char *symbol, double want,
                             int64_t timeout_ms, bool strict) {
    int64_t t0 = mono_ms();
    prot p;
    for (;;) {
        p = protection(account, symbol);
        if (p.stops == 1 && (want == 0 || trigger_of(&p) == want)) {
            return mono_ms() - t0;
        }
        if (strict && p.stops > 1) {
            fail_msg("%s %s: %d stops on the exchange", account, symbol, p.stops);
        }
        if (mono_ms() - t0 > timeout_ms) {
            fail_msg("%s %s: %d stop(s), trigger %s; wanted one at %.2f", account, symbol, p.stops,
                     p.trigger, want);
        }
        tu_sleep_ms(POLL_MS);
    }
}

static int64_t wait_stop(const char *account, const char *symbol, double want) {
    return wait_stop_for(account, symbol, want, WAIT_MS, true);
}

static void sim_ok(const char *method, const char *target, const char *body) {
    char out[4096];
    int status = tg_sim_call(E.sim.sim, method, target, body, out, sizeof out);
    if (status != 200) {
        fail_msg("emulator %s %s: %d %s", method, target, status, out);
    }
}

static void mark(const char *symbol, const char *price) {
    tg_err err = {0};
    if (tg_sim_set_mark(E.sim.sim, symbol, price, &err) != TG_OK) {
        fail_msg("mark %s %s: %s", symbol, price, err.msg);
    }
}

static void open_pos(const char *account, const char *symbol, const char *side, const char *size,
                     const char *entry) {
    mark(symbol, entry);
    tg_err err = {0};
    if (tg_sim_open_position(E.sim.sim, account, symbol, side, size, entry, &err) != TG_OK) {
        fail_msg("open %s %s: %s", account, symbol, err.msg);
    }
}

/* ---- the daemon's view ----------------------------------------------- */

/* GET /v1/positions/KEY: its JSON (caller frees) or NULL when 404. */
static cJSON *daemon_position(const char *key) {
    char path[256];
    snprintf(path, sizeof path, "/v1/positions/%s", key);
    tu_resp r = api("GET", path, NULL, NULL);
    cJSON *o = NULL;
    if (r.status == 200) {
        o = r.json;
        r.json = NULL;
    } else if (r.status != 404) {
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    }
    tu_resp_free(&r);
    return o;
}

static bool listed(const char *key) {
    tu_resp r = api("GET", "/v1/positions", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsArray(r.json));
    bool found = false;
    const cJSON *o;
    cJSON_ArrayForEach(o, r.json) {
        const char *k = tu_jstr(o, "key");
        found |= k != NULL && strcmp(k, key) == 0;
    }
    tu_resp_free(&r);
    return found;
}

static void wait_unlisted(const char *key) {
    int64_t until = mono_ms() + WAIT_MS;
    while (listed(key)) {
        if (mono_ms() > until) {
            fail_msg("%s is still listed by the daemon", key);
        }
        tu_sleep_ms(50);
    }
}

static double exchange_stop(const cJSON *pos) {
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(pos, "exchange_stop");
    const char *t = cJSON_IsObject(ex) ? tu_jstr(ex, "trigger") : NULL;
    return t != NULL ? strtod(t, NULL) : 0;
}

#define BN_BTC "e2e-bn:BTCUSDT:long"
#define BY_ETH "e2e-by:ETHUSDT:short"

/* The two positions most tests use: a Binance long and a Bybit short, each
 * with its initial stop (2 % from entry). */
static void open_two_and_start(void) {
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.010", "50000");
    open_pos(BY_ACCOUNT, "ETHUSDT", "short", "0.500", "3000");
    start_daemon();
    wait_stop(BN_ACCOUNT, "BTCUSDT", 49000);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 3060);
}

/* Activation (1 %) and trailing (0.5 %) on both. */
static void trail_both(void) {
    mark("BTCUSDT", "51000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    mark("BTCUSDT", "52000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 51740);
    mark("ETHUSDT", "2960");
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2974.8);
    mark("ETHUSDT", "2900");
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2914.5);
}

/* ---- 1. the life of a position --------------------------------------- */

static void stops_trail_and_trigger(void **state) {
    (void)state;
    open_two_and_start();
    trail_both();
    cJSON *p = daemon_position(BN_BTC);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "state"), "active");
    assert_true(exchange_stop(p) == 51740);
    cJSON_Delete(p);
    /* a dip above the stop leaves it where it is */
    mark("BTCUSDT", "51800");
    tu_sleep_ms(200);
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    assert_int_equal(bn.stops, 1);
    assert_true(trigger_of(&bn) == 51740);
    assert_int_equal(bn.windows, 1); /* only the one before the first stop */
    prot by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_int_equal(by.windows, 1);

    /* through the stops: both fire and close their positions */
    mark("BTCUSDT", "51700");
    mark("ETHUSDT", "2920");
    bn = protection(BN_ACCOUNT, "BTCUSDT");
    by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_false(bn.open);
    assert_false(by.open);
    wait_unlisted(BN_BTC);
    wait_unlisted(BY_ETH);
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 0);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").stops, 0);
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);

    char out[TU_PATH_MAX], errp[TU_PATH_MAX];
    in_dir(out, "state.out");
    in_dir(errp, "state.err");
    assert_int_equal(tu_run_cli(out, errp, "state list --store '%s'", E.db), 0);
    char *list = tu_read(out, NULL);
    assert_null(strstr(list, "BTCUSDT"));
    free(list);
    tg_store *s = NULL;
    tg_err err = {0};
    tg_store_row row;
    assert_int_equal(tg_store_open(E.db, BN_ACCOUNT, &s, &err), TG_OK);
    assert_int_equal(tg_store_get(s, "BTCUSDT:long", &row, &err), TG_OK);
    assert_int_equal(row.stop.state, TG_STATE_CLOSED);
    tu_assert_dec(row.stop.stop_confirmed, "51740");
    tg_store_close(s);
    assert_int_equal(tg_store_open(E.db, BY_ACCOUNT, &s, &err), TG_OK);
    assert_int_equal(tg_store_get(s, "ETHUSDT:short", &row, &err), TG_OK);
    assert_int_equal(row.stop.state, TG_STATE_CLOSED);
    tu_assert_dec(row.stop.stop_confirmed, "2914.5");
    tg_store_close(s);
}

/* The other side on each venue: a Binance short and a Bybit long. */
static void other_sides_trail_and_trigger(void **state) {
    (void)state;
    open_pos(BN_ACCOUNT, "XRPUSDT", "short", "1000", "0.6");
    open_pos(BY_ACCOUNT, "SOLUSDT", "long", "10", "150");
    start_daemon();
    wait_stop(BN_ACCOUNT, "XRPUSDT", 0.612);
    wait_stop(BY_ACCOUNT, "SOLUSDT", 147);
    mark("XRPUSDT", "0.58");
    wait_stop(BN_ACCOUNT, "XRPUSDT", 0.5829);
    mark("XRPUSDT", "0.56");
    wait_stop(BN_ACCOUNT, "XRPUSDT", 0.5628);
    mark("SOLUSDT", "152");
    wait_stop(BY_ACCOUNT, "SOLUSDT", 151.24);
    mark("SOLUSDT", "156");
    wait_stop(BY_ACCOUNT, "SOLUSDT", 155.22);
    assert_int_equal(protection(BN_ACCOUNT, "XRPUSDT").windows, 1);
    assert_int_equal(protection(BY_ACCOUNT, "SOLUSDT").windows, 1);
    mark("XRPUSDT", "0.57");
    mark("SOLUSDT", "155");
    assert_false(protection(BN_ACCOUNT, "XRPUSDT").open);
    assert_false(protection(BY_ACCOUNT, "SOLUSDT").open);
    wait_unlisted("e2e-bn:XRPUSDT:short");
    wait_unlisted("e2e-by:SOLUSDT:long");
    assert_int_equal(protection(BN_ACCOUNT, "XRPUSDT").stops, 0);
    assert_int_equal(protection(BY_ACCOUNT, "SOLUSDT").stops, 0);
}

/* A silent mark stream (stale_seconds = 1): /health says degraded for as
 * long as it lasts, REST marks keep the stop trailing, and it recovers. */
static void stale_feed_degrades_health(void **state) {
    (void)state;
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.010", "50000");
    start_daemon();
    wait_stop(BN_ACCOUNT, "BTCUSDT", 49000);
    sim_ok("POST", "/sim/fault", "{\"path\":\"stream:markPrice\",\"kind\":\"stale\",\"count\":0}");
    mark("BTCUSDT", "50001"); /* the first skipped message */
    int64_t until = mono_ms() + WAIT_MS;
    long status = 0;
    while (status != 503) {
        assert_true(mono_ms() < until);
        tu_sleep_ms(50);
        tu_resp r = api("GET", "/health", NULL, NULL);
        status = r.status;
        if (status == 503) {
            assert_non_null(strstr(r.body, "BTCUSDT"));
            assert_non_null(strstr(r.body, "stale"));
        }
        tu_resp_free(&r);
    }
    /* the stream stays silent: degraded all along, trailing on REST marks */
    mark("BTCUSDT", "51000");
    int64_t t0 = mono_ms();
    int ok_seen = 0;
    while (mono_ms() - t0 < 3000) {
        tu_resp r = api("GET", "/health", NULL, NULL);
        ok_seen += r.status == 200;
        tu_resp_free(&r);
        tu_sleep_ms(50);
    }
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    assert_int_equal(ok_seen, 0);
    sim_ok("DELETE", "/sim/fault", NULL);
    mark("BTCUSDT", "51001");
    until = mono_ms() + WAIT_MS;
    while (status != 200) {
        assert_true(mono_ms() < until);
        tu_sleep_ms(50);
        tu_resp r = api("GET", "/health", NULL, NULL);
        status = r.status;
        tu_resp_free(&r);
    }
}

/* ---- 2. a position opened while the daemon runs ---------------------- */

static void late_position_is_protected_fast(void **state) {
    (void)state;
    start_daemon();
    struct {
        const char *account, *symbol, *side, *size, *entry;
        double stop;
    } late[] = {{BN_ACCOUNT, "SOLUSDT", "long", "20", "150", 147},
                {BY_ACCOUNT, "XRPUSDT", "short", "1000", "0.6", 0.612}};
    for (size_t i = 0; i < 2; i++) {
        mark(late[i].symbol, late[i].entry);
        tg_err err = {0};
        int64_t t0 = mono_ms();
        assert_int_equal(tg_sim_open_position(E.sim.sim, late[i].account, late[i].symbol,
                                              late[i].side, late[i].size, late[i].entry, &err),
                         TG_OK);
        int64_t seen = wait_stop(late[i].account, late[i].symbol, late[i].stop);
        prot p = protection(late[i].account, late[i].symbol);
        printf("  %s %s: protected %lld ms after opening (emulator window %lld ms)\n",
               late[i].account, late[i].symbol, (long long)(mono_ms() - t0),
               (long long)p.longest_ms);
        assert_true(seen <= PROTECT_MAX_MS);
        assert_int_equal(p.windows, 1);
        assert_true(p.longest_ms <= PROTECT_MAX_MS);
    }
}

/* ---- 3. SIGKILL mid-trail and restart -------------------------------- */

static void restart_mid_trail_restores(void **state) {
    (void)state;
    open_two_and_start();
    trail_both();
    assert_int_equal(stop_daemon(SIGKILL, 2000), 128 + SIGKILL);
    /* prices move on while it is down; the stops stay */
    mark("BTCUSDT", "53000");
    mark("ETHUSDT", "2880");
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    assert_int_equal(bn.stops, 1);
    assert_true(trigger_of(&bn) == 51740);
    start_daemon();
    cJSON *p = daemon_position(BN_BTC);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "state"), "active");
    assert_true(exchange_stop(p) >= 51740);
    cJSON_Delete(p);
    p = daemon_position(BY_ETH);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "state"), "active");
    assert_true(exchange_stop(p) > 0 && exchange_stop(p) <= 2914.5);
    cJSON_Delete(p);
    /* the next mark trails from the restored high, one stop each */
    wait_stop(BN_ACCOUNT, "BTCUSDT", 52735);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2894.4);
    tu_sleep_ms(RECONCILE_MS + 500); /* a reconcile pass later: still one */
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 1);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").stops, 1);
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").windows, 1);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").windows, 1);
}

/* While it is down: a stop cancelled by hand, a stop that fired, a new
 * position. The restart puts back the trailed stop (not the initial one),
 * closes the row of the position that is gone and protects the new one. */
static void restart_catches_up_with_the_exchange(void **state) {
    (void)state;
    open_two_and_start();
    trail_both();
    assert_int_equal(stop_daemon(SIGKILL, 2000), 128 + SIGKILL);
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    char params[256];
    snprintf(params, sizeof params, "symbol=BTCUSDT&algoId=%s", bn.id);
    tu_resp r = tu_bn_full(&E.sim, "DELETE", "/fapi/v1/algoOrder", params, false, BN_KEY, BN_SECRET,
                           tu_now_ms());
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    mark("ETHUSDT", "2920"); /* through the short's stop at 2914.5 */
    assert_false(protection(BY_ACCOUNT, "ETHUSDT").open);
    open_pos(BY_ACCOUNT, "SOLUSDT", "long", "10", "150");

    start_daemon();
    wait_stop(BN_ACCOUNT, "BTCUSDT", 51740);
    wait_stop(BY_ACCOUNT, "SOLUSDT", 147);
    wait_unlisted(BY_ETH);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").stops, 0);
    assert_true(listed("e2e-by:SOLUSDT:long"));
    tu_sleep_ms(RECONCILE_MS + 500);
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 1);
    assert_int_equal(protection(BY_ACCOUNT, "SOLUSDT").stops, 1);
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);
    tg_store *s = NULL;
    tg_err err = {0};
    tg_store_row row;
    assert_int_equal(tg_store_open(E.db, BY_ACCOUNT, &s, &err), TG_OK);
    assert_int_equal(tg_store_get(s, "ETHUSDT:short", &row, &err), TG_OK);
    assert_int_equal(row.stop.state, TG_STATE_CLOSED);
    tg_store_close(s);
}

/* A position closed by hand while the daemon runs leaves no stop behind
 * and no row open. */
static void position_closed_by_hand(void **state) {
    (void)state;
    open_two_and_start();
    sim_ok("DELETE", "/sim/position?account=" BN_ACCOUNT "&symbol=BTCUSDT", NULL);
    sim_ok("DELETE", "/sim/position?account=" BY_ACCOUNT "&symbol=ETHUSDT", NULL);
    wait_unlisted(BN_BTC);
    wait_unlisted(BY_ETH);
    tu_sleep_ms(RECONCILE_MS + 500);
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 0);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").stops, 0);
    /* and a new position on the same symbol is a new life */
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.020", "50000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 49000);
    cJSON *p = daemon_position(BN_BTC);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "state"), "inactive");
    cJSON_Delete(p);
}

/* SIGHUP: a new callback in the file applies to open positions. */
static void sighup_reloads_parameters(void **state) {
    (void)state;
    open_two_and_start();
    char *ini = tu_read(E.ini, NULL);
    char *at = strstr(ini, "callback_percent = 0.5");
    assert_non_null(at);
    memcpy(at, "callback_percent = 1.0", 22);
    write_mode(E.ini, ini, 0644);
    free(ini);
    kill(E.daemon, SIGHUP);
    int64_t until = mono_ms() + WAIT_MS;
    for (;;) {
        char *log = tu_read(E.log, NULL);
        bool done = strstr(log, "param_changed") != NULL;
        free(log);
        if (done) {
            break;
        }
        assert_true(mono_ms() < until);
        tu_sleep_ms(POLL_MS);
    }
    mark("BTCUSDT", "52000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 51480);
    mark("ETHUSDT", "2900");
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2929);
}

/* Failed and lost requests while trailing end, within a reconcile
 * interval, in exactly one stop at the price the engine wants. */
static void request_faults_heal_to_one_stop(void **state) {
    (void)state;
    open_two_and_start();
    int64_t heal_ms = RECONCILE_MS + 3000;
    /* the cancel of the old stop fails: two stops for a moment */
    sim_ok("POST", "/sim/fault", "{\"path\":\"DELETE /fapi/v1/algoOrder\",\"kind\":\"http5xx\"}");
    mark("BTCUSDT", "51000");
    wait_stop_for(BN_ACCOUNT, "BTCUSDT", 50745, heal_ms, false);
    /* the new stop is placed but its answer is lost */
    sim_ok("POST", "/sim/fault", "{\"path\":\"POST /fapi/v1/algoOrder\",\"kind\":\"drop\"}");
    mark("BTCUSDT", "52000");
    wait_stop_for(BN_ACCOUNT, "BTCUSDT", 51740, heal_ms, false);
    sim_ok("POST", "/sim/fault",
           "{\"path\":\"/v5/position/trading-stop\",\"kind\":\"http5xx\",\"count\":2}");
    mark("ETHUSDT", "2960");
    wait_stop_for(BY_ACCOUNT, "ETHUSDT", 2974.8, heal_ms, false);
    sim_ok("POST", "/sim/fault", "{\"path\":\"/v5/position/trading-stop\",\"kind\":\"drop\"}");
    mark("ETHUSDT", "2900");
    wait_stop_for(BY_ACCOUNT, "ETHUSDT", 2914.5, heal_ms, false);
    tu_sleep_ms(RECONCILE_MS + 500);
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    prot by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_int_equal(bn.stops, 1);
    assert_int_equal(by.stops, 1);
    assert_true(trigger_of(&bn) == 51740);
    assert_true(trigger_of(&by) == 2914.5);
    tu_resp r = api("GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    /* the faults did hit: the emulator answered 503 to both venues */
    const char *venues[] = {"binance", "bybit"};
    for (int i = 0; i < 2; i++) {
        char target[64];
        snprintf(target, sizeof target, "/sim/requests?venue=%s&since=0", venues[i]);
        r = tu_ctl(&E.sim, "GET", target, NULL);
        assert_non_null(strstr(r.body, "\"status\":503"));
        tu_resp_free(&r);
    }
}

/* The account stream drops the very event of a new position: the
 * reconnect's reconcile finds it. */
static void lost_stream_event_is_reconciled(void **state) {
    (void)state;
    start_daemon();
    sim_ok("POST", "/sim/fault", "{\"path\":\"stream:user\",\"kind\":\"drop\"}");
    sim_ok("POST", "/sim/fault", "{\"path\":\"stream:private\",\"kind\":\"drop\"}");
    mark("SOLUSDT", "150");
    mark("XRPUSDT", "0.6");
    int64_t t0 = mono_ms();
    tg_err err = {0};
    assert_int_equal(
        tg_sim_open_position(E.sim.sim, BN_ACCOUNT, "SOLUSDT", "long", "20", "150", &err), TG_OK);
    assert_int_equal(
        tg_sim_open_position(E.sim.sim, BY_ACCOUNT, "XRPUSDT", "short", "1000", "0.6", &err),
        TG_OK);
    wait_stop_for(BN_ACCOUNT, "SOLUSDT", 147, RECONCILE_MS + 3000, true);
    int64_t bn_ms = mono_ms() - t0;
    wait_stop_for(BY_ACCOUNT, "XRPUSDT", 0.612, RECONCILE_MS + 3000, true);
    int64_t by_ms = mono_ms() - t0;
    printf("  protected after a lost stream event: binance %lld ms, bybit %lld ms\n",
           (long long)bn_ms, (long long)by_ms);
}

/* ---- 4. a stop deleted by hand --------------------------------------- */

static void deleted_stop_is_recreated(void **state) {
    (void)state;
    open_two_and_start();
    mark("BTCUSDT", "51000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);

    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    char params[256];
    snprintf(params, sizeof params, "symbol=BTCUSDT&algoId=%s", bn.id);
    int64_t t0 = mono_ms();
    tu_resp r = tu_bn_full(&E.sim, "DELETE", "/fapi/v1/algoOrder", params, false, BN_KEY, BN_SECRET,
                           tu_now_ms());
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    int64_t bn_ms = mono_ms() - t0;
    assert_string_not_equal(protection(BN_ACCOUNT, "BTCUSDT").id, bn.id); /* a new order */

    t0 = mono_ms();
    r = tu_by_full(&E.sim, "POST", "/v5/position/trading-stop",
                   "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\",\"stopLoss\":\"0\","
                   "\"positionIdx\":0}",
                   BY_KEY, BY_SECRET, tu_now_ms());
    assert_int_equal(r.status, 200);
    assert_int_equal(tu_retcode(&r), 0);
    tu_resp_free(&r);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 3060);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").windows, 2); /* it was gone a moment */
    int64_t by_ms = mono_ms() - t0;
    printf("  re-created after a manual cancel: binance %lld ms, bybit %lld ms\n", (long long)bn_ms,
           (long long)by_ms);
    assert_true(bn_ms <= RECONCILE_MS + 1000);
    assert_true(by_ms <= RECONCILE_MS + 1000);
}

/* ---- 5. the HTTP API -------------------------------------------------- */

static void api_reads(void **state) {
    (void)state;
    open_two_and_start();
    tu_resp r = api("GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsObject(r.json));
    assert_string_equal(tu_jstr(r.json, "status"), "ok");
    tu_resp_free(&r);

    r = api("GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "trailguard_positions"));
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char path[TU_PATH_MAX], cmd[TU_PATH_MAX * 3];
        in_dir(path, "metrics.txt");
        tu_write(path, r.body);
        snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics <'%s' >'%s.out' 2>&1", path,
                 path);
        int rc = system(cmd);
        if (rc != 0) {
            snprintf(cmd, sizeof cmd, "%s.out", path);
            char *why = tu_read(cmd, NULL);
            fail_msg("promtool check metrics failed: %s", why);
        }
    } else {
        printf("  /usr/bin/promtool absent: the exposition format is not checked\n");
    }
    tu_resp_free(&r);

    r = api("GET", "/v1/positions", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(r.json), 2);
    tu_resp_free(&r);
    cJSON *p = daemon_position(BY_ETH);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "venue"), "bybit");
    assert_string_equal(tu_jstr(p, "side"), "short");
    assert_true(exchange_stop(p) == 3060);
    cJSON_Delete(p);
    assert_null(daemon_position("e2e-bn:ETHUSDT:long"));

    r = api("GET", "/", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "text/html"));
    assert_non_null(strstr(r.body, "<table"));
    assert_non_null(strstr(r.body, "<td>BTCUSDT</td>"));
    tu_resp_free(&r);

    /* no token_file: every write is refused */
    r = api("PUT", "/v1/positions/" BN_BTC "/params", NULL, "{\"callback_percent\":\"1\"}");
    assert_int_equal(r.status, 403);
    tu_resp_free(&r);
    r = api("POST", "/v1/positions/" BN_BTC "/pause", TOKEN, NULL);
    assert_int_equal(r.status, 403);
    tu_resp_free(&r);
}

static void api_writes_need_the_token(void **state) {
    (void)state;
    open_two_and_start();
    tu_resp r = api("PUT", "/v1/positions/" BN_BTC "/params", NULL, "{\"callback_percent\":\"1\"}");
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);
    r = api("PUT", "/v1/positions/" BN_BTC "/params", "wrong", "{\"callback_percent\":\"1\"}");
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);
    r = api("POST", "/v1/positions/" BY_ETH "/pause", "wrong", NULL);
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);

    /* a wider callback, applied to the next move */
    r = api("PUT", "/v1/positions/" BN_BTC "/params", TOKEN, "{\"callback_percent\":\"1\"}");
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "params_override")));
    tu_resp_free(&r);
    mark("BTCUSDT", "52000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 51480);

    /* paused: the stop stays where it is */
    r = api("POST", "/v1/positions/" BY_ETH "/pause", TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "paused")));
    tu_resp_free(&r);
    mark("ETHUSDT", "2900");
    tu_sleep_ms(500);
    prot by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_int_equal(by.stops, 1);
    assert_true(trigger_of(&by) == 3060);
    r = api("POST", "/v1/positions/" BY_ETH "/resume", TOKEN, NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    mark("ETHUSDT", "2890");
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2904.45);
}

/* ---- 6. one SQLite store, one daemon --------------------------------- */

static void second_daemon_on_the_store_refuses(void **state) {
    (void)state;
    start_daemon();
    char ini2[TU_PATH_MAX], log2[TU_PATH_MAX], err2[TU_PATH_MAX];
    in_dir(ini2, "second.ini");
    in_dir(log2, "second.log");
    in_dir(err2, "second.stderr");
    write_config(ini2, free_port(), false);
    pid_t pid = spawn_daemon(ini2, log2, err2);
    int64_t until = mono_ms() + 5000;
    int ws = 0;
    while (waitpid(pid, &ws, WNOHANG) != pid) {
        if (mono_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("a second daemon on the same store kept running");
        }
        tu_sleep_ms(POLL_MS);
    }
    assert_true(WIFEXITED(ws));
    assert_int_not_equal(WEXITSTATUS(ws), 0);
    char *msg = tu_read(err2, NULL);
    printf("  second daemon: exit %d: %s", WEXITSTATUS(ws), msg);
    assert_non_null(strstr(msg, E.db));
    free(msg);
    /* the first one is untouched */
    tu_resp r = api("GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
}

/* ---- 7. secrets under errors ------------------------------------------ */

static void secrets_stay_out_of_the_logs(void **state) {
    (void)state;
    open_two_and_start();
    /* errors and reconnects make the daemon log requests and streams */
    sim_ok("POST", "/sim/fault", "{\"path\":\"*\",\"kind\":\"http5xx\",\"count\":4}");
    sim_ok("POST", "/sim/fault", "{\"path\":\"stream:*\",\"kind\":\"drop\",\"count\":2}");
    mark("BTCUSDT", "51000");
    mark("ETHUSDT", "2960");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2974.8);
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);
    char *log = tu_read(E.log, NULL);
    assert_true(strlen(log) > 0);
    free(log);
    assert_no_secrets();
}

/* ---- 8. SIGTERM ------------------------------------------------------- */

static void sigterm_leaves_the_stops(void **state) {
    (void)state;
    open_two_and_start();
    trail_both();
    int64_t t0 = mono_ms();
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);
    printf("  SIGTERM to exit: %lld ms\n", (long long)(mono_ms() - t0));
    tu_sleep_ms(200);
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    prot by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_int_equal(bn.stops, 1);
    assert_int_equal(by.stops, 1);
    assert_true(trigger_of(&bn) == 51740);
    assert_true(trigger_of(&by) == 2914.5);
    char *text = tu_read(E.log, NULL);
    assert_non_null(strstr(text, "stopped"));
    free(text);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stops_trail_and_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(other_sides_trail_and_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_feed_degrades_health, setup_stale, teardown),
        cmocka_unit_test_setup_teardown(late_position_is_protected_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_mid_trail_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_catches_up_with_the_exchange, setup, teardown),
        cmocka_unit_test_setup_teardown(position_closed_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(sighup_reloads_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(request_faults_heal_to_one_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(lost_stream_event_is_reconciled, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_stop_is_recreated, setup, teardown),
        cmocka_unit_test_setup_teardown(api_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(api_writes_need_the_token, setup_token, teardown),
        cmocka_unit_test_setup_teardown(second_daemon_on_the_store_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(secrets_stay_out_of_the_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(sigterm_leaves_the_stops, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
