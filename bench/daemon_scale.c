/*
 * bench/daemon_scale.c — the real daemon process (`trailguard run`,
 * TG_CLI_PATH, SQLite store) under many accounts and positions with prices
 * moving as fast as the emulator pushes them: its memory (VmHWM, VmRSS
 * from /proc/PID/status), the ticks it takes in (trailguard_ticks_total over
 * a window, and per second of its own CPU time from /proc/PID/stat: the
 * daemon is single-threaded, so ticks per CPU second is what one core
 * sustains) and the longest deferral of a stop under the default exchange
 * budgets (trailguard_max_deferral_seconds).
 *
 * Scale is bounded by the emulator, not chosen freely: one-way mode holds
 * one position per account and symbol, and the emulator lists 5 symbols
 * and 16 accounts, so positions = accounts × 5 (10 accounts: 50). See the
 * report in the commit that added this file for what 10,000 positions over
 * 200 symbols would need.
 *
 * Last line: positions=N rss_mib=… ticks_per_s=… max_deferral_s=…
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench_util.h"
#include "daemon_util.h"
#include "trailguard/sim.h"

#define ACCOUNTS_DEFAULT 10
#define ACCOUNTS_MAX     16 /* the emulator's and the configuration's limit */
#define SECONDS_DEFAULT  10
#define SYMBOLS          5
#define STEPS_PER_CALL   8 /* mark changes per POST /sim/step */

static const char *const symbols[SYMBOLS] = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT",
                                             "1000PEPEUSDT"};
static const char *const sizes[SYMBOLS] = {"0.010", "0.500", "10", "1000", "10000"};

static void write_files(const char *dir, size_t accounts, uint16_t bn_port, uint16_t http_port) {
    char path[1024], key[1024], secret[1024];
    size_t cap = 4096 + accounts * 1024;
    char *ini = malloc(cap), *acc = malloc(cap);
    if (ini == NULL || acc == NULL) {
        du_die("memory", "out of memory");
    }
    size_t n = (size_t)snprintf(ini, cap, "[store]\nuri = %s/tg.db\n\n", dir);
    size_t m = (size_t)snprintf(acc, cap, "[");
    for (size_t i = 0; i < accounts; i++) {
        char k[64], s[64];
        snprintf(k, sizeof k, "scaleKey%02zu0123456789", i);
        snprintf(s, sizeof s, "scaleSecret%02zu0123456789abcdef", i);
        snprintf(key, sizeof key, "%s/a%zu.key", dir, i);
        snprintf(secret, sizeof secret, "%s/a%zu.secret", dir, i);
        snprintf(path, sizeof path, "%s\n", k);
        du_write_file(key, path, 0600);
        snprintf(path, sizeof path, "%s\n", s);
        du_write_file(secret, path, 0600);
        n += (size_t)snprintf(ini + n, cap - n,
                              "[account a%zu]\nvenue = binance\nrest_url = http://127.0.0.1:%u\n"
                              "ws_url = ws://127.0.0.1:%u\napi_key_file = %s\n"
                              "api_secret_file = %s\n\n",
                              i, bn_port, bn_port, key, secret);
        m += (size_t)snprintf(acc + m, cap - m,
                              "%s{\"venue\":\"binance\",\"name\":\"a%zu\",\"api_key\":\"%s\","
                              "\"api_secret\":\"%s\"}",
                              i > 0 ? "," : "", i, k, s);
    }
    snprintf(ini + n, cap - n,
             "[defaults]\nactivation_percent = 0.05\ncallback_percent = 0.5\n"
             "min_update_interval_seconds = 1\nreconcile_interval_seconds = 3600\n"
             "stale_seconds = 3600\n\n[log]\nlevel = warn\n\n[http]\nlisten = 127.0.0.1:%u\n",
             http_port);
    snprintf(acc + m, cap - m, "]\n");
    snprintf(path, sizeof path, "%s/trailguard.ini", dir);
    du_write_file(path, ini, 0644);
    snprintf(path, sizeof path, "%s/accounts.json", dir);
    du_write_file(path, acc, 0600);
    free(ini);
    free(acc);
}

static char *scenario(size_t accounts) {
    cJSON *sc = cJSON_CreateObject();
    cJSON *paths = cJSON_AddArrayToObject(sc, "paths");
    cJSON *pos = cJSON_AddArrayToObject(sc, "positions");
    for (size_t s = 0; s < SYMBOLS; s++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "symbol", symbols[s]);
        cJSON_AddStringToObject(p, "kind", "walk");
        cJSON_AddNumberToObject(p, "interval_ms", 3600000); /* moved by /sim/step */
        cJSON_AddNumberToObject(p, "step_bps", 2);
        cJSON_AddItemToArray(paths, p);
        for (size_t a = 0; a < accounts; a++) {
            char name[24];
            snprintf(name, sizeof name, "a%zu", a);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "account", name);
            cJSON_AddStringToObject(o, "symbol", symbols[s]);
            cJSON_AddStringToObject(o, "side", a % 2 == 0 ? "long" : "short");
            cJSON_AddStringToObject(o, "size", sizes[s]);
            cJSON_AddItemToArray(pos, o);
        }
    }
    char *text = cJSON_PrintUnformatted(sc);
    cJSON_Delete(sc);
    return text;
}

/* utime + stime of pid, seconds. */
static double cpu_s(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f != NULL) {
        fclose(f);
    }
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        du_die("proc", "cannot read the daemon's CPU time");
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmHWM or VmRSS of pid, MiB. */
static double mem_mib(pid_t pid, const char *field) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    double kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, strlen(field)) == 0) {
            kib = strtod(line + strlen(field) + 1, NULL);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kib / 1024;
}

static double metric(du_daemon *d, const char *prefix) {
    if (du_get(d, "/metrics") != 200) {
        du_die("daemon", "GET /metrics failed");
    }
    return du_metric(d->answer, prefix);
}

int main(int argc, char **argv) {
    size_t accounts = ACCOUNTS_DEFAULT;
    double seconds = SECONDS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc) {
            accounts = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: daemon_scale [--accounts 1..16] [--seconds S]\n");
            return 2;
        }
    }
    if (accounts == 0 || accounts > ACCOUNTS_MAX || !(seconds >= 1 && seconds <= 3600)) {
        fprintf(stderr, "bench/daemon_scale: --accounts 1..%d, --seconds 1..3600\n", ACCOUNTS_MAX);
        return 2;
    }
    char dir[256], path[600];
    snprintf(dir, sizeof dir, "/tmp/tg-bench-scale-%d", (int)getpid());
    mkdir(dir, 0700);
    uint16_t http_port = du_free_port();
    /* the accounts file names the ports only through the configuration:
     * write it with a placeholder port first, then again once bound */
    write_files(dir, accounts, 0, http_port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(path, sizeof path, "%s/accounts.json", dir);
    tg_sim_config sc = tg_sim_config_default();
    sc.accounts_path = path;
    tg_sim *sim = NULL;
    tg_err err;
    char *out = malloc(DU_ANSWER_MAX);
    if (out == NULL || tg_sim_new(&sc, &sim, &err) != TG_OK || tg_sim_start(sim, &err) != TG_OK) {
        du_die("emulator", err.msg);
    }
    char *sc_text = scenario(accounts);
    du_sim(sim, "POST", "/sim/scenario", sc_text, out, DU_ANSWER_MAX);
    free(sc_text);
    write_files(dir, accounts, tg_sim_ports_get(sim).binance, http_port);
    du_daemon d = {.port = http_port};
    char ini[600], log_file[600];
    snprintf(ini, sizeof ini, "%s/trailguard.ini", dir);
    snprintf(log_file, sizeof log_file, "%s/daemon.log", dir);
    du_start(&d, ini, log_file);
    double t_live = bench_now_s();
    while (du_get(&d, "/metrics") != 200 ||
           du_metric(d.answer, "trailguard_account_live{") < (double)accounts) {
        if (bench_now_s() - t_live > 60) {
            du_die("daemon", "accounts not live within 60 s");
        }
        du_sleep_us(100000);
    }
    du_sleep_us(1000000); /* startup placements and reconciles settle */
    double ticks0 = metric(&d, "trailguard_ticks_total{"), cpu0 = cpu_s(d.pid);
    double t0 = bench_now_s();
    uint64_t steps = 0;
    char body[96];
    while (bench_now_s() - t0 < seconds) {
        for (size_t s = 0; s < SYMBOLS; s++) {
            snprintf(body, sizeof body, "{\"symbol\":\"%s\",\"count\":%d}", symbols[s],
                     STEPS_PER_CALL);
            du_sim(sim, "POST", "/sim/step", body, out, DU_ANSWER_MAX);
            steps += STEPS_PER_CALL;
        }
    }
    double wall = bench_now_s() - t0;
    du_sleep_us(200000); /* frames in the socket buffers are read */
    double ticks1 = metric(&d, "trailguard_ticks_total{"), cpu1 = cpu_s(d.pid);
    double max_def = 0;
    for (const char *l = strstr(d.answer, "trailguard_max_deferral_seconds{"); l != NULL;
         l = strstr(l + 1, "trailguard_max_deferral_seconds{")) {
        const char *sp = strchr(l, ' ');
        double v = sp != NULL ? strtod(sp + 1, NULL) : 0;
        max_def = v > max_def ? v : max_def;
    }
    double deferrals = du_metric(d.answer, "trailguard_deferrals_total{");
    double requests = du_metric(d.answer, "trailguard_requests_total{");
    double hwm = mem_mib(d.pid, "VmHWM:"), rss = mem_mib(d.pid, "VmRSS:");
    du_sim(sim, "GET", "/sim/state", NULL, out, DU_ANSWER_MAX);
    cJSON *st = cJSON_Parse(out);
    double slow = cJSON_GetObjectItem(st, "slow_disconnects")->valuedouble;
    cJSON_Delete(st);
    du_stop(&d);
    tg_sim_stop(sim);
    tg_sim_free(sim);
    double ticks = ticks1 - ticks0, cpu = cpu1 - cpu0;
    printf("accounts=%zu symbols=%d marks_pushed=%" PRIu64
           " (%.0f/s) wall_s=%.1f daemon_cpu_s=%.2f "
           "ticks=%.0f requests=%.0f deferrals=%.0f slow_disconnects=%.0f\n",
           accounts, SYMBOLS, steps, (double)steps / wall, wall, cpu, ticks, requests, deferrals,
           slow);
    printf("vm_hwm_mib=%.1f vm_rss_mib=%.1f ticks_per_s_wall=%.0f ticks_per_cpu_s=%.0f\n", hwm, rss,
           ticks / wall, cpu > 0 ? ticks / cpu : 0);
    printf("positions=%zu rss_mib=%.1f ticks_per_s=%.0f max_deferral_s=%.3f\n", accounts * SYMBOLS,
           hwm, cpu > 0 ? ticks / cpu : 0, max_def);
    free(out);
    curl_global_cleanup();
    return 0;
}
