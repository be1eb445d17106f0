/* `trailguard diagnose` end to end: the real command, as a process, against
 * the in-process emulator and the real daemon over loopback (the same
 * harness as test_daemon.c), with faults made through the emulator's
 * control endpoint, signed exchange requests, a fake daemon API, or by
 * stopping the daemon; each must come out with its type and severity. */
#include "sim_testutil.h"

#include "replay_testutil.h"
#include "trailguard/store.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#define PREFIX "diagnose"

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

static void assert_no_secrets_in(const char *path) {
    const char *secrets[] = {BN_KEY, BN_SECRET, BY_KEY, BY_SECRET, TOKEN};
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

static int teardown(void **state) {
    (void)state;
    if (E.daemon > 0) {
        stop_daemon(SIGKILL, 2000);
    }
    assert_no_secrets_in(E.err);
    assert_no_secrets_in(E.log);
    tu_sim_stop(&E.sim);
    return 0;
}

/* ---- the command ------------------------------------------------------- */

#define DIAG_ARGS_MAX 32
#define DIAG_WAIT_MS  60000

/* One `trailguard diagnose` run: its exit status and outputs. */
typedef struct diag {
    int rc;                        /* exit status */
    char out[TU_PATH_MAX];         /* --out */
    char stdout_path[TU_PATH_MAX]; /* its stdout and stderr */
    char json_path[TU_PATH_MAX];   /* the report */
    char log_path[TU_PATH_MAX];    /* the log */
    char *console;                 /* stdout and stderr text */
    char *log;                     /* the log text */
    cJSON *report;                 /* the JSON report; NULL if none */
} diag;

static int diag_runs; /* numbers the --out directories */

/* Finds DIR/<prefix>*<suffix>. */
static bool find_file(const char *dir, const char *prefix, const char *suffix, char *out) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        return false;
    }
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && !found) {
        size_t n = strlen(e->d_name), s = strlen(suffix);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n > s &&
            strcmp(e->d_name + n - s, suffix) == 0) {
            snprintf(out, TU_PATH_MAX, "%s/%s", dir, e->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

/* Runs `trailguard diagnose --config E.ini --out DIR <args...> NULL`. */
static diag run_diagnose(const char *first, ...) {
    diag r;
    memset(&r, 0, sizeof r);
    snprintf(r.out, sizeof r.out, "%s/diag-%d", E.dir, ++diag_runs);
    snprintf(r.stdout_path, sizeof r.stdout_path, "%s/diag-%d.stdout", E.dir, diag_runs);
    const char *argv[DIAG_ARGS_MAX] = {TG_CLI_PATH, "diagnose", "--config", E.ini, "--out", r.out};
    int argc = 6;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < DIAG_ARGS_MAX - 1;
         a = va_arg(ap, const char *)) {
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(r.stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execv(TG_CLI_PATH, (char *const *)argv);
        _exit(127);
    }
    int ws = 0;
    int64_t until = mono_ms() + DIAG_WAIT_MS;
    while (waitpid(pid, &ws, WNOHANG) != pid) {
        if (mono_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            fail_msg("diagnose did not end within %d ms", DIAG_WAIT_MS);
        }
        tu_sleep_ms(20);
    }
    r.rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    r.console = tu_read(r.stdout_path, NULL);
    char logs[TU_PATH_MAX + 8];
    snprintf(logs, sizeof logs, "%s/logs", r.out);
    if (find_file(logs, "trailguard-diagnose-", ".log", r.log_path)) {
        r.log = tu_read(r.log_path, NULL);
    }
    if (find_file(r.out, "trailguard-diagnose-", ".json", r.json_path)) {
        char *text = tu_read(r.json_path, NULL);
        r.report = cJSON_Parse(text);
        free(text);
        if (r.report == NULL) {
            fail_msg("%s is not JSON", r.json_path);
        }
    }
    assert_no_secrets_in(r.stdout_path);
    assert_no_secrets_in(r.log_path);
    assert_no_secrets_in(r.json_path);
    return r;
}

static void diag_free(diag *r) {
    free(r->console);
    free(r->log);
    cJSON_Delete(r->report);
}

static const cJSON *issues_of(const diag *r) {
    if (r->report == NULL) {
        fail_msg("no JSON report; output:\n%s", r->console);
    }
    const cJSON *is = cJSON_GetObjectItemCaseSensitive(r->report, "issues");
    assert_true(cJSON_IsArray(is));
    return is;
}

/* The issue of type (for account and symbol when given), or NULL. */
static const cJSON *issue(const diag *r, const char *type, const char *account,
                          const char *symbol) {
    const cJSON *o;
    cJSON_ArrayForEach(o, issues_of(r)) {
        const char *t = tu_jstr(o, "type"), *a = tu_jstr(o, "account"), *s = tu_jstr(o, "symbol");
        if (t != NULL && strcmp(t, type) == 0 &&
            (account == NULL || (a != NULL && strcmp(a, account) == 0)) &&
            (symbol == NULL || (s != NULL && strcmp(s, symbol) == 0))) {
            return o;
        }
    }
    return NULL;
}

static void expect_issue(const diag *r, const char *type, const char *severity, const char *account,
                         const char *symbol) {
    const cJSON *o = issue(r, type, account, symbol);
    if (o == NULL) {
        char *all = cJSON_Print(issues_of(r));
        fail_msg("no %s issue for %s %s; issues: %s\noutput:\n%s", type, account ? account : "*",
                 symbol ? symbol : "*", all, r->console);
    }
    assert_string_equal(tu_jstr(o, "severity"), severity);
}

static void expect_no_issue(const diag *r, const char *type, const char *account,
                            const char *symbol) {
    if (issue(r, type, account, symbol) != NULL) {
        char *all = cJSON_Print(issues_of(r));
        fail_msg("unexpected %s issue for %s %s; issues: %s", type, account ? account : "*",
                 symbol ? symbol : "*", all);
    }
}

/* A stop on the exchange (the emulator's view) before going on. */
static void wait_stops(const char *account, const char *symbol, int want) {
    int64_t until = mono_ms() + WAIT_MS;
    while (protection(account, symbol).stops != want) {
        if (mono_ms() > until) {
            fail_msg("%s %s: never %d stop(s)", account, symbol, want);
        }
        tu_sleep_ms(POLL_MS);
    }
}

/* The daemon's /v1/positions lists n positions with a confirmed stop. */
static void wait_daemon_confirmed(int n) {
    int64_t until = mono_ms() + WAIT_MS;
    for (;;) {
        tu_resp r = api("GET", "/v1/positions", NULL, NULL);
        int confirmed = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, r.json) {
            confirmed += tu_jstr(o, "stop_confirmed") != NULL &&
                                 !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "in_flight"))
                             ? 1
                             : 0;
        }
        tu_resp_free(&r);
        if (confirmed == n) {
            return;
        }
        if (mono_ms() > until) {
            fail_msg("the daemon never confirmed %d stops (%d)", n, confirmed);
        }
        tu_sleep_ms(50);
    }
}

/* A stop that trailguard did not place: a signed Binance algo order with
 * the client id of a person or another bot. */
static void foreign_algo_stop(const char *symbol, const char *trigger) {
    char params[512];
    snprintf(params, sizeof params,
             "algoType=CONDITIONAL&symbol=%s&side=SELL&type=STOP_MARKET&triggerPrice=%s&"
             "closePosition=true&workingType=MARK_PRICE&clientAlgoId=manual-sl-1",
             symbol, trigger);
    tu_resp r = tu_bn_full(&E.sim, "POST", "/fapi/v1/algoOrder", params, false, BN_KEY, BN_SECRET,
                           tu_now_ms());
    if (r.status != 200) {
        fail_msg("foreign algo stop: HTTP %ld %s", r.status, r.body);
    }
    tu_resp_free(&r);
}

/* Bybit's position-level stop-loss (trading-stop), set by hand. */
static void bybit_position_sl(const char *symbol, const char *price) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"category\":\"linear\",\"symbol\":\"%s\",\"tpslMode\":\"Full\",\"positionIdx\":0,"
             "\"stopLoss\":\"%s\",\"slTriggerBy\":\"MarkPrice\"}",
             symbol, price);
    tu_resp r = tu_by_full(&E.sim, "POST", "/v5/position/trading-stop", body, BY_KEY, BY_SECRET,
                           tu_now_ms());
    if (r.status != 200 || tu_retcode(&r) != 0) {
        fail_msg("bybit trading-stop: HTTP %ld %s", r.status, r.body);
    }
    tu_resp_free(&r);
}

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
