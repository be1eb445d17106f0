/*
 * daemon_testutil.h — the end-to-end harness of `trailguard run`: one
 * emulator in-process, the real daemon binary as a child process, its
 * config, and the views of both (what the exchange holds, what the daemon
 * says). The includer defines PREFIX (the name of its working directory
 * under TG_TEST_TMPDIR) first: test binaries run in parallel.
 */
#ifndef TG_TEST_DAEMON_TESTUTIL_H
#define TG_TEST_DAEMON_TESTUTIL_H

#ifndef PREFIX
#error "define PREFIX before including daemon_testutil.h"
#endif

#include "sim_testutil.h"

#include "replay_testutil.h"
#include "trailguard/store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

/* Our own accounts, so that the secret check looks for strings nobody else
 * prints (the built-in ones are published test vectors). */
#define BN_ACCOUNT  "e2e-bn"
#define BN_KEY      "e2eBinanceKeyQ7w3Zr9Tm2"
#define BN_SECRET   "e2eBinanceSecretK4p8Xv1Ls6"
#define BY_ACCOUNT  "e2e-by"
#define BY_KEY      "E2EBYBITKEYH5J2N8"
#define BY_SECRET   "e2eBybitSecretF3g9Wq0Ue7"
#define BN2_ACCOUNT "e2e-bn2" /* a second Binance account, configured by the tests that use it */
#define BN2_KEY     "e2eBinanceTwoKeyM3s8Hq5"
#define BN2_SECRET  "e2eBinanceTwoSecretT6c1Jw4Ye9"
#define TOKEN       "e2e-token-Rb5Yc8Nd2Pk"

#define WAIT_MS 10000 /* longest wait for any one thing to happen */
#define POLL_MS 10    /* polling period */
#ifndef RECONCILE_MS
#define RECONCILE_MS 2000 /* reconcile_interval_seconds in the config */
#endif
#define PROTECT_MAX_MS  1000 /* a new position's stop, from its stream event */
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
    char uri[1024];        /* [store] uri when not empty, else db */
    char pg_dir[256];      /* a throw-away PostgreSQL server's directory, "" none */
    char bn_extra[256];    /* more lines of the Binance [account] section */
    char defaults[512];    /* more lines of [defaults] */
    char sections[4096];   /* more sections at the end ([notify] ...) */
    const char *option;    /* one more option of `trailguard run`, or NULL */
} env;

static env E;

/* ---- files and processes --------------------------------------------- */

static inline void write_mode(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static inline uint16_t free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static inline void in_dir(char *buf, const char *name) {
    snprintf(buf, TU_PATH_MAX, "%s/%s", E.dir, name);
}

/* A config for the two accounts; with_token adds [http] token_file. */
static inline void write_config(const char *path, uint16_t http_port, bool with_token) {
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
    char ini[16384];
    snprintf(ini, sizeof ini,
             "[store]\nuri = %s\n\n"
             "[account " BN_ACCOUNT "]\nvenue = binance\n"
             "rest_url = http://127.0.0.1:%u\nws_url = ws://127.0.0.1:%u\n"
             "api_key_file = %s\napi_secret_file = %s\n%s\n"
             "[account " BY_ACCOUNT "]\nvenue = bybit\n"
             "rest_url = http://127.0.0.1:%u\nws_url = ws://127.0.0.1:%u\n"
             "api_key_file = %s\napi_secret_file = %s\n\n"
             "[defaults]\nactivation_percent = 1\ncallback_percent = 0.5\n"
             "initial_stop_percent = 2\nmin_update_interval_seconds = 0\n"
             "reconcile_interval_seconds = %d\nstale_seconds = %d\n%s\n"
             "[http]\nlisten = 127.0.0.1:%u\n%s\n"
             "[log]\nlevel = debug\n\n%s",
             E.uri[0] != '\0' ? E.uri : E.db, (unsigned)E.sim.port.binance,
             (unsigned)E.sim.port.binance, bk, bs, E.bn_extra, (unsigned)E.sim.port.bybit,
             (unsigned)E.sim.port.bybit, yk, ys, RECONCILE_MS / 1000, E.stale_s, E.defaults,
             (unsigned)http_port, token_line, E.sections);
    write_mode(path, ini, 0644);
}

static inline int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* `trailguard run --config ini --log-file log`, stdout and stderr to err. */
static inline pid_t spawn_daemon(const char *ini, const char *log, const char *err) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execl(TG_CLI_PATH, TG_CLI_PATH, "run", "--config", ini, "--log-file", log, E.option,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static inline tu_resp api(const char *method, const char *path, const char *token,
                          const char *body) {
    char url[TU_URL_MAX], auth[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)E.http_port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token != NULL ? token : "");
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    return tu_http(method, url, token != NULL ? headers : headers + 1, body, 3000);
}

/* Starts the daemon and waits until /health says every account is live. */
static inline void start_daemon(void) {
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
static inline int stop_daemon(int sig, int64_t timeout_ms) {
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

static inline void rm_rf(const char *dir) {
    char cmd[TU_PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static inline int setup_with(bool with_token, int stale_s) {
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
               "\",\"api_secret\":\"" BY_SECRET "\"},"
               "{\"venue\":\"binance\",\"name\":\"" BN2_ACCOUNT "\",\"api_key\":\"" BN2_KEY
               "\",\"api_secret\":\"" BN2_SECRET "\"}]",
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

static inline int setup(void **state) {
    (void)state;
    return setup_with(false, 30);
}

static inline int setup_stale(void **state) {
    (void)state;
    return setup_with(false, 1);
}

static inline int setup_token(void **state) {
    (void)state;
    return setup_with(true, 30);
}

/* Fails when the file at path (if there is one) holds a secret. */
static inline void assert_no_secrets_in(const char *path) {
    const char *secrets[] = {BN_KEY, BN_SECRET, BY_KEY, BY_SECRET, BN2_KEY, BN2_SECRET, TOKEN};
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return;
    }
    fclose(f);
    char *text = tu_read(path, NULL);
    for (size_t k = 0; k < sizeof secrets / sizeof secrets[0]; k++) {
        if (strstr(text, secrets[k]) != NULL) {
            fail_msg("%s contains the secret %s", path, secrets[k]);
        }
    }
    free(text);
}

/* Secrets never reach the daemon's stderr or log file, whatever happened. */
static inline void assert_no_secrets(void) {
    assert_no_secrets_in(E.err);
    assert_no_secrets_in(E.log);
}

static inline int teardown(void **state) {
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
    char client_id[64]; /* its client order id */
    char qty[32];       /* its quantity ("0.000" for a closePosition stop) */
    char type[32];      /* its type */
    bool open;          /* the position is open */
    int windows;        /* unprotected windows so far */
    int64_t longest_ms; /* the longest of them */
} prot;

static inline prot protection(const char *account, const char *symbol) {
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
        snprintf(p.client_id, sizeof p.client_id, "%s",
                 tu_jstr(s, "client_id") ? tu_jstr(s, "client_id") : "");
        snprintf(p.qty, sizeof p.qty, "%s", tu_jstr(s, "qty") ? tu_jstr(s, "qty") : "");
    }
    const char *size = tu_jstr(o, "size");
    p.open = size != NULL && strtod(size, NULL) != 0;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "unprotected");
    p.windows = (int)tu_jnum(u, "count");
    p.longest_ms = (int64_t)tu_jnum(u, "longest_ms");
    cJSON_Delete(o);
    return p;
}

static inline double trigger_of(const prot *p) {
    return p->stops > 0 ? strtod(p->trigger, NULL) : 0;
}

/* A Binance replace places the new stop before it cancels the old one: for
 * the few ms between the two answers the position holds two stops (never
 * none). Two that stay longer than this are a duplicate. */
#define DUPLICATE_MS 1000

/* Waits until the position has exactly one stop at want (0 = any); returns
 * the ms it took. strict: two stops standing longer than DUPLICATE_MS are a
 * failure. */
static inline int64_t wait_stop_for(const char *account, const char *symbol, double want,
                                    int64_t timeout_ms, bool strict) {
    int64_t t0 = mono_ms();
    int64_t two_since = -1;
    prot p;
    for (;;) {
        p = protection(account, symbol);
        if (p.stops == 1 && (want == 0 || trigger_of(&p) == want)) {
            return mono_ms() - t0;
        }
        two_since = p.stops > 1 ? (two_since < 0 ? mono_ms() : two_since) : -1;
        if (strict && two_since >= 0 && mono_ms() - two_since > DUPLICATE_MS) {
            fail_msg("%s %s: %d stops on the exchange for over %d ms", account, symbol, p.stops,
                     DUPLICATE_MS);
        }
        if (mono_ms() - t0 > timeout_ms) {
            fail_msg("%s %s: %d stop(s), trigger %s; wanted one at %.2f", account, symbol, p.stops,
                     p.trigger, want);
        }
        tu_sleep_ms(POLL_MS);
    }
}

static inline int64_t wait_stop(const char *account, const char *symbol, double want) {
    return wait_stop_for(account, symbol, want, WAIT_MS, true);
}

static inline void sim_ok(const char *method, const char *target, const char *body) {
    char out[4096];
    int status = tg_sim_call(E.sim.sim, method, target, body, out, sizeof out);
    if (status != 200) {
        fail_msg("emulator %s %s: %d %s", method, target, status, out);
    }
}

#ifdef TG_SOURCE_DIR
/* scripts/pg-test-cluster.sh CMD on E.pg_dir: its exit status (77: no
 * server installed), its first output line in out. */
static inline int pg(const char *cmd, char *out, size_t cap) {
    char line[1024];
    snprintf(line, sizeof line, "'%s/scripts/pg-test-cluster.sh' %s '%s' 2>/dev/null",
             TG_SOURCE_DIR, cmd, E.pg_dir);
    FILE *p = popen(line, "r");
    if (p == NULL) {
        return -1;
    }
    char buf[1024] = "";
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

/* Starts a throw-away PostgreSQL server in a new /tmp/tgpg-NAME-XXXXXX, its
 * URI in E.uri; false when none is installed (the caller skips). */
static inline bool pg_start(const char *name) {
    snprintf(E.pg_dir, sizeof E.pg_dir, "/tmp/tgpg-%s-XXXXXX", name);
    assert_non_null(mkdtemp(E.pg_dir));
    int rc = pg("start", E.uri, sizeof E.uri);
    if (rc == 77) {
        printf("  no PostgreSQL server installed: skipped\n");
        return false;
    }
    assert_int_equal(rc, 0);
    return true;
}

/* Stops and removes the server of pg_start, if any. */
static inline void pg_remove(void) {
    if (E.pg_dir[0] != '\0') {
        pg("stop", NULL, 0);
        E.pg_dir[0] = '\0';
    }
}
#endif

/* The emulator's request log of venue (NULL: both) since seq (caller frees). */
static inline tu_resp requests_since(const char *venue, uint64_t since) {
    char target[96];
    if (venue == NULL) { /* both venues */
        snprintf(target, sizeof target, "/sim/requests?since=%llu", (unsigned long long)since);
    } else {
        snprintf(target, sizeof target, "/sim/requests?venue=%s&since=%llu", venue,
                 (unsigned long long)since);
    }
    return tu_ctl(&E.sim, "GET", target, NULL);
}

/* The log's last sequence number (shared by both venues). */
static inline uint64_t last_seq(const char *venue) {
    tu_resp r = requests_since(venue, 0);
    uint64_t seq = (uint64_t)tu_jnum(r.json, "last_seq");
    tu_resp_free(&r);
    return seq;
}

/* Requests of venue since seq with this method and path whose params hold
 * every needle (NULL-terminated); with code != 1 only those answered with it. */
static inline int count_requests(const char *venue, uint64_t since, const char *method,
                                 const char *path, int code, const char *const *needles) {
    tu_resp r = requests_since(venue, since);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r.json, "requests");
    int n = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, list) {
        const char *m = tu_jstr(q, "method"), *p = tu_jstr(q, "path"),
                   *params = tu_jstr(q, "params");
        if ((method != NULL && (m == NULL || strcmp(m, method) != 0)) ||
            (path != NULL && (p == NULL || strcmp(p, path) != 0)) ||
            (code != 1 && (int)tu_jnum(q, "code") != code)) {
            continue;
        }
        bool all = true;
        for (const char *const *s = needles; s != NULL && *s != NULL; s++) {
            all &= params != NULL && strstr(params, *s) != NULL;
        }
        n += all;
    }
    tu_resp_free(&r);
    return n;
}

static inline void mark(const char *symbol, const char *price) {
    tg_err err = {0};
    if (tg_sim_set_mark(E.sim.sim, symbol, price, &err) != TG_OK) {
        fail_msg("mark %s %s: %s", symbol, price, err.msg);
    }
}

static inline void open_pos(const char *account, const char *symbol, const char *side,
                            const char *size, const char *entry) {
    mark(symbol, entry);
    tg_err err = {0};
    if (tg_sim_open_position(E.sim.sim, account, symbol, side, size, entry, &err) != TG_OK) {
        fail_msg("open %s %s: %s", account, symbol, err.msg);
    }
}

/* The store at uri holds key of account closed, with confirmed as its last
 * confirmed stop unless NULL. */
static inline void assert_row_closed(const char *uri, const char *account, const char *key,
                                     const char *confirmed) {
    tg_store *s = NULL;
    tg_err err = {0};
    tg_store_row row;
    assert_int_equal(tg_store_open(uri, account, &s, &err), TG_OK);
    if (tg_store_get(s, key, &row, &err) != TG_OK) {
        fail_msg("%s %s: %s", account, key, err.msg);
    }
    assert_int_equal(row.stop.state, TG_STATE_CLOSED);
    if (confirmed != NULL) {
        tu_assert_dec(row.stop.stop_confirmed, confirmed);
    }
    tg_store_close(s);
}

/* ---- the daemon's view ----------------------------------------------- */

/* GET /v1/positions/KEY: its JSON (caller frees) or NULL when 404. */
static inline cJSON *daemon_position(const char *key) {
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

static inline bool listed(const char *key) {
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

static inline void wait_unlisted(const char *key) {
    int64_t until = mono_ms() + WAIT_MS;
    while (listed(key)) {
        if (mono_ms() > until) {
            fail_msg("%s is still listed by the daemon", key);
        }
        tu_sleep_ms(50);
    }
}

static inline double exchange_stop(const cJSON *pos) {
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(pos, "exchange_stop");
    const char *t = cJSON_IsObject(ex) ? tu_jstr(ex, "trigger") : NULL;
    return t != NULL ? strtod(t, NULL) : 0;
}

#define BN_BTC "e2e-bn:BTCUSDT:long"
#define BY_ETH "e2e-by:ETHUSDT:short"

/* The two positions most tests use: a Binance long and a Bybit short, each
 * with its initial stop (2 % from entry). */
static inline void open_two_and_start(void) {
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.010", "50000");
    open_pos(BY_ACCOUNT, "ETHUSDT", "short", "0.500", "3000");
    start_daemon();
    wait_stop(BN_ACCOUNT, "BTCUSDT", 49000);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 3060);
}

/* Activation (1 %) and trailing (0.5 %) on both. */
static inline void trail_both(void) {
    mark("BTCUSDT", "51000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    mark("BTCUSDT", "52000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 51740);
    mark("ETHUSDT", "2960");
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2974.8);
    mark("ETHUSDT", "2900");
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2914.5);
}

#endif
