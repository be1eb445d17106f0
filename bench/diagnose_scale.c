/*
 * bench/diagnose_scale.c — `trailguard diagnose` (TG_CLI_PATH) over the real
 * daemon (`trailguard run`, SQLite store) and the emulator with 1,000
 * positions on 5 accounts: 3 Binance and 2 Bybit, each with one position on
 * every one of 200 generated instruments (S0001USDT …, tick 0.01, start
 * 100; longs on even accounts, shorts on odd). In one-way mode an account
 * holds one position per symbol, so 200 positions an account take 200
 * symbols.
 *
 * The bench waits until the emulator sees every position protected (the
 * first stops go out within the exchanges' order budgets: Binance 1,200
 * orders a minute, Bybit 10 trading-stop calls a second per account), then
 * runs diagnose for --seconds (default 60) with short intervals (engine 5 s,
 * store 10 s, exchange 15 s, consistency 20 s; the defaults 5/30/60/120
 * would run the slower probes once or twice) while 20 symbols walk, so
 * stops move during the run. No limit of the emulator is lifted: a
 * Binance listing of every position is one positionRisk (weight 5) and the
 * stops two listings without a symbol (weight 40 each), far below 2,400 a
 * minute; a Bybit account's stops come in pages of 50 (/v5/order/realtime)
 * at 10 requests a second.
 *
 * From the JSON report: per probe its interval, runs, overruns and max_ms
 * (detailed_stats.performance), the positions the exchange probe saw
 * (protection[]) and the issues. Last line:
 * positions=1000 accounts=5 engine_ms_max=… store_ms_max=… exchange_ms_max=…
 * consistency_ms_max=… within_interval=yes|no — yes when every probe ran,
 * none overran and each one's slowest run is below its interval.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench_util.h"
#include "daemon_util.h"
#include "trailguard/sim.h"

#define BINANCE_ACCOUNTS 3
#define BYBIT_ACCOUNTS   2
#define ACCOUNTS         (BINANCE_ACCOUNTS + BYBIT_ACCOUNTS)
#define SYMBOLS          200 /* positions per account */
#define POSITIONS        (ACCOUNTS * SYMBOLS)
#define HOT              20 /* symbols that walk during the run */
#define SECONDS_DEFAULT  60
#define STARTUP_S_MAX    300 /* every position protected within */
#define DIAG_SLACK_S     60  /* diagnose ends within --seconds + this */
#define TEXT_MAX         (64u << 10)

static const char *const probes[] = {"engine", "store", "exchange", "consistency"};
static const char *const intervals[] = {"5", "10", "15", "20"}; /* s, in the order of probes */

static void account_name(size_t i, char *buf, size_t cap) {
    snprintf(buf, cap, "%s%zu", i < BINANCE_ACCOUNTS ? "bn" : "by",
             i < BINANCE_ACCOUNTS ? i : i - BINANCE_ACCOUNTS);
}

static void write_files(const char *dir, tg_sim_ports ports, uint16_t http_port) {
    char *ini = malloc(TEXT_MAX), *acc = malloc(TEXT_MAX);
    if (ini == NULL || acc == NULL) {
        du_die("memory", "out of memory");
    }
    size_t n = (size_t)snprintf(ini, TEXT_MAX, "[store]\nuri = %s/tg.db\n\n", dir);
    size_t m = (size_t)snprintf(acc, TEXT_MAX, "[");
    for (size_t i = 0; i < ACCOUNTS; i++) {
        char name[16], k[64], s[64], key[512], secret[512], line[80];
        bool bn = i < BINANCE_ACCOUNTS;
        account_name(i, name, sizeof name);
        snprintf(k, sizeof k, "diagScaleKey%02zu0123", i);
        snprintf(s, sizeof s, "diagScaleSecret%02zu0123456789", i);
        snprintf(key, sizeof key, "%s/%s.key", dir, name);
        snprintf(secret, sizeof secret, "%s/%s.secret", dir, name);
        snprintf(line, sizeof line, "%s\n", k);
        du_write_file(key, line, 0600);
        snprintf(line, sizeof line, "%s\n", s);
        du_write_file(secret, line, 0600);
        unsigned port = bn ? ports.binance : ports.bybit;
        n += (size_t)snprintf(ini + n, TEXT_MAX - n,
                              "[account %s]\nvenue = %s\nrest_url = http://127.0.0.1:%u\n"
                              "ws_url = ws://127.0.0.1:%u\napi_key_file = %s\n"
                              "api_secret_file = %s\n\n",
                              name, bn ? "binance" : "bybit", port, port, key, secret);
        m += (size_t)snprintf(acc + m, TEXT_MAX - m,
                              "%s{\"venue\":\"%s\",\"name\":\"%s\",\"api_key\":\"%s\","
                              "\"api_secret\":\"%s\"}",
                              i > 0 ? "," : "", bn ? "binance" : "bybit", name, k, s);
    }
    snprintf(ini + n, TEXT_MAX - n,
             "[defaults]\nactivation_percent = 0.05\ncallback_percent = 0.5\n"
             "min_update_interval_seconds = 1\nreconcile_interval_seconds = 3600\n"
             "stale_seconds = 3600\n\n[log]\nlevel = warn\n\n[http]\nlisten = 127.0.0.1:%u\n",
             http_port);
    snprintf(acc + m, TEXT_MAX - m, "]\n");
    char path[600];
    snprintf(path, sizeof path, "%s/trailguard.ini", dir);
    du_write_file(path, ini, 0644);
    snprintf(path, sizeof path, "%s/accounts.json", dir);
    du_write_file(path, acc, 0600);
    free(ini);
    free(acc);
}

static void symbol_name(size_t i, char *buf, size_t cap) {
    snprintf(buf, cap, "S%04zuUSDT", i + 1);
}

static char *scenario(void) {
    cJSON *sc = cJSON_CreateObject();
    cJSON *gen = cJSON_AddObjectToObject(sc, "instruments");
    cJSON_AddNumberToObject(gen, "count", SYMBOLS);
    cJSON_AddStringToObject(gen, "tick", "0.01");
    cJSON_AddStringToObject(gen, "step", "0.001");
    cJSON_AddStringToObject(gen, "start", "100");
    cJSON *paths = cJSON_AddArrayToObject(sc, "paths");
    cJSON *pos = cJSON_AddArrayToObject(sc, "positions");
    for (size_t s = 0; s < SYMBOLS; s++) {
        char sym[32];
        symbol_name(s, sym, sizeof sym);
        if (s < HOT) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "symbol", sym);
            cJSON_AddStringToObject(p, "kind", "walk");
            cJSON_AddNumberToObject(p, "interval_ms", 3600000); /* moved by /sim/step */
            cJSON_AddNumberToObject(p, "step_bps", 1);          /* far from a 0.5 % callback */
            cJSON_AddItemToArray(paths, p);
        }
        for (size_t a = 0; a < ACCOUNTS; a++) {
            char name[16];
            account_name(a, name, sizeof name);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "account", name);
            cJSON_AddStringToObject(o, "symbol", sym);
            cJSON_AddStringToObject(o, "side", a % 2 == 0 ? "long" : "short");
            cJSON_AddStringToObject(o, "size", "1.000");
            cJSON_AddItemToArray(pos, o);
        }
    }
    char *text = cJSON_PrintUnformatted(sc);
    cJSON_Delete(sc);
    return text;
}

/* `trailguard diagnose --config ini --out dir --duration Ns` and the short
 * intervals, stdout and stderr to dir/diagnose.out. */
static pid_t diagnose_start(const char *ini, const char *dir, double seconds) {
    char duration[32], out_path[600];
    snprintf(duration, sizeof duration, "%.0fs", seconds);
    snprintf(out_path, sizeof out_path, "%s/diagnose.out", dir);
    pid_t pid = fork();
    if (pid < 0) {
        du_die("fork", strerror(errno));
    }
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execl(TG_CLI_PATH, TG_CLI_PATH, "diagnose", "--config", ini, "--out", dir, "--duration",
              duration, "--engine-interval", intervals[0], "--store-interval", intervals[1],
              "--exchange-interval", intervals[2], "--consistency-interval", intervals[3],
              "--progress-interval", "30", "--fail-on", "never", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The report diagnose wrote into dir, parsed. */
static cJSON *report_in(const char *dir) {
    char cmd[700], path[1024] = "";
    snprintf(cmd, sizeof cmd, "ls -1 '%s'/trailguard-diagnose-*.json 2>/dev/null | tail -1", dir);
    FILE *p = popen(cmd, "r");
    if (p == NULL || fgets(path, sizeof path, p) == NULL) {
        du_die("diagnose", "no JSON report written");
    }
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
    FILE *f = fopen(path, "rb");
    char *text = malloc(DU_ANSWER_MAX);
    size_t len = f != NULL && text != NULL ? fread(text, 1, DU_ANSWER_MAX - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    if (text == NULL || len == 0) {
        du_die("diagnose", "cannot read the JSON report");
    }
    text[len] = '\0';
    cJSON *r = cJSON_Parse(text);
    free(text);
    if (r == NULL) {
        du_die("diagnose", "the JSON report does not parse");
    }
    return r;
}

static double num(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Moves each hot symbol one step. */
static void walk_once(tg_sim *sim, char *out) {
    for (size_t s = 0; s < HOT; s++) {
        char sym[32], body[96];
        symbol_name(s, sym, sizeof sym);
        snprintf(body, sizeof body, "{\"symbol\":\"%s\",\"count\":1}", sym);
        du_sim(sim, "POST", "/sim/step", body, out, DU_ANSWER_MAX);
    }
}

int main(int argc, char **argv) {
    double seconds = SECONDS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: diagnose_scale [--seconds 20..3600]\n");
            return 2;
        }
    }
    if (!(seconds >= 20 && seconds <= 3600)) {
        fprintf(stderr, "bench/diagnose_scale: --seconds 20..3600\n");
        return 2;
    }
    char dir[256], path[600];
    snprintf(dir, sizeof dir, "/tmp/tg-bench-diag-%d", (int)getpid());
    mkdir(dir, 0700);
    uint16_t http_port = du_free_port();
    write_files(dir, (tg_sim_ports){0}, http_port); /* accounts.json for the emulator */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(path, sizeof path, "%s/accounts.json", dir);
    tg_sim_config sc = tg_sim_config_default();
    sc.accounts_path = path;
    sc.orders_max = 2 * POSITIONS + 1024; /* a replace holds both stops for a moment */
    tg_sim *sim = NULL;
    tg_err err;
    char *out = malloc(DU_ANSWER_MAX);
    if (out == NULL || tg_sim_new(&sc, &sim, &err) != TG_OK || tg_sim_start(sim, &err) != TG_OK) {
        du_die("emulator", err.msg);
    }
    char *sc_text = scenario();
    du_sim(sim, "POST", "/sim/scenario", sc_text, out, DU_ANSWER_MAX);
    free(sc_text);
    write_files(dir, tg_sim_ports_get(sim), http_port);
    du_daemon d = {.port = http_port};
    char ini[600], log_file[600];
    snprintf(ini, sizeof ini, "%s/trailguard.ini", dir);
    snprintf(log_file, sizeof log_file, "%s/daemon.log", dir);
    du_start(&d, ini, log_file);
    double t0 = bench_now_s();
    while (du_sim_state(sim, out, "unprotected_now") != 0) {
        if (bench_now_s() - t0 > STARTUP_S_MAX) {
            du_die("daemon", "positions not all protected in time");
        }
        du_sleep_us(500000);
    }
    double startup = bench_now_s() - t0;
    du_sleep_us(1000000); /* the last replies and commits settle */

    pid_t diag = diagnose_start(ini, dir, seconds);
    double t_diag = bench_now_s();
    int ws = 0;
    uint64_t walks = 0;
    while (waitpid(diag, &ws, WNOHANG) != diag) {
        if (bench_now_s() - t_diag > seconds + DIAG_SLACK_S) {
            kill(diag, SIGKILL);
            waitpid(diag, &ws, 0);
            du_die("diagnose", "did not end in time");
        }
        walk_once(sim, out);
        walks++;
        du_sleep_us(1000000);
    }
    double diag_wall = bench_now_s() - t_diag;
    du_stop(&d);
    tg_sim_stop(sim);
    tg_sim_free(sim);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "bench/diagnose_scale: diagnose exited %d (see %s/diagnose.out)\n",
                WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws), dir);
        return 1;
    }

    cJSON *rep = report_in(dir);
    const cJSON *perf = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(rep, "detailed_stats"), "performance");
    double max_ms[4];
    bool within = true;
    printf("startup_s=%.1f diagnose_wall_s=%.1f walks=%" PRIu64 "\n", startup, diag_wall, walks);
    for (int p = 0; p < 4; p++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(perf, probes[p]);
        double interval = num(o, "interval_ms"), runs = num(o, "runs");
        double overruns = num(o, "overruns"), failures = num(o, "failures");
        max_ms[p] = num(o, "max_ms");
        within = within && runs > 0 && overruns == 0 && failures == 0 && max_ms[p] >= 0 &&
                 max_ms[p] < interval;
        printf("%s: interval_ms=%.0f runs=%.0f failures=%.0f overruns=%.0f median_ms=%.1f "
               "p95_ms=%.1f max_ms=%.1f\n",
               probes[p], interval, runs, failures, overruns, num(o, "median_ms"), num(o, "p95_ms"),
               max_ms[p]);
    }
    double seen = 0, protected_count = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(rep, "protection")) {
        seen += num(row, "positions");
        protected_count += num(row, "protected");
    }
    /* Issues by type: distinct ones and the most checks that saw one. The
     * probes run at different intervals, so a stop that moved between the
     * engine's and the store's snapshot shows as a single sighting. */
    const cJSON *by_type = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rep, "analysis"),
                                         "consistency"),
        "by_type");
    size_t issues = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rep, "issues"));
    const cJSON *bt;
    cJSON_ArrayForEach(bt, by_type) {
        if (!cJSON_IsNumber(bt) || bt->valuedouble <= 0) {
            continue;
        }
        double most = 0;
        const cJSON *is;
        cJSON_ArrayForEach(is, cJSON_GetObjectItemCaseSensitive(rep, "issues")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(is, "type");
            if (cJSON_IsString(t) && strcmp(t->valuestring, bt->string) == 0) {
                most = num(is, "count") > most ? num(is, "count") : most;
            }
        }
        printf("issues: %s distinct=%.0f most_sightings=%.0f\n", bt->string, bt->valuedouble, most);
    }
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(rep, "detailed_stats");
    printf("exchange_positions=%.0f protected=%.0f issues=%zu stop_updates=%.0f checks=%.0f\n",
           seen, protected_count, issues, num(ds, "stop_updates"),
           num(cJSON_GetObjectItemCaseSensitive(rep, "metadata"), "checks"));
    within = within && seen == POSITIONS;
    printf("positions=%d accounts=%d engine_ms_max=%.1f store_ms_max=%.1f exchange_ms_max=%.1f "
           "consistency_ms_max=%.3f within_interval=%s\n",
           POSITIONS, ACCOUNTS, max_ms[0], max_ms[1], max_ms[2], max_ms[3], within ? "yes" : "no");
    cJSON_Delete(rep);
    free(out);
    curl_global_cleanup();
    return within ? 0 : 1;
}
