/*
 * bench/daemon_scale.c — the real daemon process (`trailguard run`,
 * TG_CLI_PATH, SQLite store) under many accounts and positions with prices
 * moving as fast as the emulator pushes them: its memory (VmHWM, VmRSS
 * from /proc/PID/status), the ticks it takes in (trailguard_ticks_total over
 * a window, and per second of its own CPU time from /proc/PID/stat: the
 * daemon is single-threaded, so ticks per CPU second is what one core
 * sustains) and the longest deferral of a stop under the default exchange
 * budgets (trailguard_tick_to_request_seconds over the window, and the
 * lifetime trailguard_max_deferral_seconds).
 *
 * Shape: --accounts Binance accounts (default 10) × --symbols generated
 * instruments (default 1,000: S0001USDT …, tick 0.01, step 0.001, start
 * 100), one position on every symbol of every account (longs on even
 * accounts, shorts on odd), so positions = accounts × symbols (10,000).
 * Prices walk (±1 bp a step) on the first --hot symbols (default 200); the
 * rest are quiet but still stream their 1 s mark, as @markPrice@1s does.
 *
 * How this differs from "10,000 positions over 200 symbols": in one-way
 * mode an account holds one position per symbol (positionSide BOTH), so
 * 1,000 positions per account need 1,000 symbols; 5 positions per symbol
 * and account would take hedge mode plus several sub-accounts, which the
 * emulator does not model. Here 200 symbols move and 800 are quiet: the
 * stream load is that of 200 busy symbols, the book holds 10,000 positions.
 *
 * Startup: every position begins without a stop, so the first 1,000 stops
 * of an account take 1,000 / (1,200 orders a minute) ≈ 50 s; the bench
 * waits until the emulator sees every position protected (startup_s), then
 * measures --seconds of moving prices.
 *
 * Parameters: activation 0.05 %, callback 0.5 %, and the engine's default
 * min_update_interval_seconds of 30 (--min-update-interval): 200 hot
 * positions then ask for at most 6.7 moves a second per account, within
 * the 10 that Binance's order budget carries (a replace is 2 of 1,200
 * orders a minute), but over what the accounts' one IP carries: each
 * replace's cancel weighs 1 of the IP's 2,400 a minute, 40 moves a second
 * for all 10 accounts, 4 each; --hot 100 fits (3.3 each). With 1 s they
 * would ask for 200 a second. Past the budget no daemon can keep every wait
 * under max_update_delay_seconds; the line before the last says which case
 * a run is. Prices move for --warmup seconds (30) before the window: every
 * hot position's first move comes due at once when they start.
 *
 * A tick is one mark applied to one account's book (trailguard_ticks_total).
 * The accounts share one market stream (docs/run.md), so the daemon reads
 * each mark change once and applies it to the 10 books: marks_per_cpu_s is
 * the frames side of the same figure.
 *
 * Last line: positions=N rss_mib=… ticks_per_s=… max_deferral_s=… (the
 * window's longest wait of a desired stop, as the bound of the histogram
 * bucket that holds it, −1 when past the last bound;
 * max_deferral_life_s also counts the startup placements). --rate paces the
 * mark changes (default 20,000 a second, 200,000 ticks over 10 accounts) so
 * that a daemon slower than the emulator is measured, not disconnected
 * (slow_disconnects counts the streams the emulator cut off anyway).
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
#define SYMBOLS_DEFAULT  1000
#define SYMBOLS_MAX      1024 /* TG_VENUE_SYMBOLS_MAX: one mark connection per account */
#define HOT_DEFAULT      200
#define RATE_DEFAULT     20000 /* mark changes a second: × accounts = ticks offered */
#define SECONDS_DEFAULT  30    /* longer than max_update_delay_seconds (10): a wait past it shows */
#define WARMUP_DEFAULT   30    /* prices move this long before the window opens */
#define INTERVAL_DEFAULT 30    /* min_update_interval_seconds: the engine's default */
#define BUDGET_MOVES_S   10.0  /* Binance: 1,200 orders a minute, a replace costs 2 */
#define IP_MOVES_S       40.0  /* Binance: 2,400 weight a minute per IP; a replace's cancel is 1 */
#define STARTUP_S_MAX    600   /* the first stops of every position are placed within */
#define STEPS_PER_CALL   8     /* mark changes per POST /sim/step */
#define ORDERS_MAX       65536 /* tg_sim_config.orders_max at most */
#define LE_MAX           64    /* histogram bounds read */

static void write_files(const char *dir, size_t accounts, double interval, uint16_t bn_port,
                        uint16_t http_port) {
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
             "min_update_interval_seconds = %g\nreconcile_interval_seconds = 3600\n"
             "stale_seconds = 3600\n\n[log]\nlevel = warn\n\n[http]\nlisten = 127.0.0.1:%u\n",
             interval, http_port);
    snprintf(acc + m, cap - m, "]\n");
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

/* Moves the first hot symbols' prices at rate mark changes a second for
 * seconds; returns the mark changes made. */
static uint64_t walk(tg_sim *sim, char *out, size_t hot, double rate, double seconds) {
    double t0 = bench_now_s();
    uint64_t steps = 0;
    char body[96];
    while (bench_now_s() - t0 < seconds) {
        for (size_t s = 0; s < hot; s++) {
            char sym[32];
            symbol_name(s, sym, sizeof sym);
            snprintf(body, sizeof body, "{\"symbol\":\"%s\",\"count\":%d}", sym, STEPS_PER_CALL);
            du_sim(sim, "POST", "/sim/step", body, out, DU_ANSWER_MAX);
            steps += STEPS_PER_CALL;
            double ahead = rate > 0 ? t0 + (double)steps / rate - bench_now_s() : 0;
            if (ahead > 0.0005) {
                du_sleep_us((long)(ahead * 1e6));
            }
        }
    }
    return steps;
}

static char *scenario(size_t accounts, size_t symbols, size_t hot) {
    cJSON *sc = cJSON_CreateObject();
    cJSON *gen = cJSON_AddObjectToObject(sc, "instruments");
    cJSON_AddNumberToObject(gen, "count", (double)symbols);
    cJSON_AddStringToObject(gen, "prefix", "S");
    cJSON_AddStringToObject(gen, "quote", "USDT");
    cJSON_AddStringToObject(gen, "tick", "0.01");
    cJSON_AddStringToObject(gen, "step", "0.001");
    cJSON_AddStringToObject(gen, "start", "100");
    cJSON *paths = cJSON_AddArrayToObject(sc, "paths");
    cJSON *pos = cJSON_AddArrayToObject(sc, "positions");
    for (size_t s = 0; s < symbols; s++) {
        char sym[32];
        symbol_name(s, sym, sizeof sym);
        if (s < hot) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "symbol", sym);
            cJSON_AddStringToObject(p, "kind", "walk");
            cJSON_AddNumberToObject(p, "interval_ms", 3600000); /* moved by /sim/step */
            cJSON_AddNumberToObject(p, "step_bps", 1);
            cJSON_AddItemToArray(paths, p);
        }
        for (size_t a = 0; a < accounts; a++) {
            char name[24];
            snprintf(name, sizeof name, "a%zu", a);
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

/* The cumulative buckets of a histogram summed over its series (accounts):
 * bounds into le, counts into count; how many bounds. */
static size_t hist_sum(const char *text, const char *name, double *le, double *count) {
    char prefix[160];
    snprintf(prefix, sizeof prefix, "%s_bucket{", name);
    size_t n = 0, plen = strlen(prefix);
    for (const char *l = text; l != NULL && *l != '\0';) {
        const char *q = strncmp(l, prefix, plen) == 0 ? strstr(l, "le=\"") : NULL;
        const char *sp = q != NULL ? strchr(q, ' ') : NULL;
        if (sp != NULL) {
            double b = strncmp(q + 4, "+Inf", 4) == 0 ? 1e300 : strtod(q + 4, NULL);
            size_t k = 0;
            while (k < n && le[k] != b) {
                k++;
            }
            if (k == n && n < LE_MAX) {
                le[n] = b;
                count[n++] = 0;
            }
            if (k < n) {
                count[k] += strtod(sp + 1, NULL);
            }
        }
        l = strchr(l, '\n');
        l = l != NULL ? l + 1 : NULL;
    }
    return n;
}

/* The bound of the lowest bucket that holds every observation of the window
 * (after − before): the window's longest wait is at most this. */
static double hist_max(const double *le, const double *after, const double *before, size_t n) {
    double total = 0, bound = 0;
    for (size_t i = 0; i < n; i++) {
        total = after[i] - before[i] > total ? after[i] - before[i] : total;
    }
    for (size_t i = n; i > 0; i--) {
        if (after[i - 1] - before[i - 1] >= total) {
            bound = le[i - 1];
        }
    }
    return total > 0 ? bound : 0;
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

static double sum_metric(du_daemon *d, const char *prefix) {
    double v = du_metric(d->answer, prefix);
    return v < 0 ? 0 : v;
}

/* The read API under the whole book, as diagnose uses it: GET /v1/positions
 * with GET /health sent on a second connection READ_HEALTH_AFTER_US later.
 * The list's time and size, and how long the health check waited: what
 * serving the list keeps the daemon's loop from doing. */
#define READ_ROUNDS          5
#define READ_HEALTH_AFTER_US 2000

typedef struct read_body {
    size_t len;       /* bytes received */
    char first, last; /* their first and last byte */
} read_body;

static size_t read_sink(char *data, size_t size, size_t n, void *ctx) {
    read_body *b = ctx;
    size_t len = size * n;
    if (len > 0) {
        b->first = b->len == 0 ? data[0] : b->first;
        b->last = data[len - 1];
    }
    b->len += len;
    return len;
}

static CURL *read_easy(uint16_t port, const char *path, read_body *b) {
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    if (c == NULL) {
        du_die("read api", "curl_easy_init failed");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, read_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    return c;
}

static void read_api(uint16_t port, double *list_ms, double *health_ms, size_t *list_bytes) {
    for (int round = 0; round < READ_ROUNDS; round++) {
        read_body lb = {0}, hb = {0};
        CURLM *m = curl_multi_init();
        CURL *list = read_easy(port, "/v1/positions", &lb), *health = NULL;
        curl_multi_add_handle(m, list);
        double t0 = bench_now_s();
        int running = 1;
        while (running > 0 || health == NULL) {
            if (health == NULL && bench_now_s() - t0 >= READ_HEALTH_AFTER_US / 1e6) {
                health = read_easy(port, "/health", &hb);
                curl_multi_add_handle(m, health);
            }
            curl_multi_perform(m, &running);
            curl_multi_poll(m, NULL, 0, 1, NULL);
        }
        long ls = 0, hs = 0;
        curl_easy_getinfo(list, CURLINFO_RESPONSE_CODE, &ls);
        curl_easy_getinfo(health, CURLINFO_RESPONSE_CODE, &hs);
        if (ls != 200 || lb.first != '[' || lb.last != ']' || hs == 0) {
            du_die("read api", "GET /v1/positions or /health did not answer whole");
        }
        curl_off_t lt = 0, ht = 0;
        curl_easy_getinfo(list, CURLINFO_TOTAL_TIME_T, &lt);
        curl_easy_getinfo(health, CURLINFO_TOTAL_TIME_T, &ht);
        list_ms[round] = (double)lt / 1e3;
        health_ms[round] = (double)ht / 1e3;
        *list_bytes = lb.len;
        curl_multi_remove_handle(m, list);
        curl_multi_remove_handle(m, health);
        curl_easy_cleanup(list);
        curl_easy_cleanup(health);
        curl_multi_cleanup(m);
    }
}

int main(int argc, char **argv) {
    size_t accounts = ACCOUNTS_DEFAULT, symbols = SYMBOLS_DEFAULT, hot = HOT_DEFAULT;
    double seconds = SECONDS_DEFAULT, rate = RATE_DEFAULT, interval = INTERVAL_DEFAULT;
    double warmup = WARMUP_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc) {
            accounts = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--symbols") == 0 && i + 1 < argc) {
            symbols = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--hot") == 0 && i + 1 < argc) {
            hot = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
            rate = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
            warmup = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--min-update-interval") == 0 && i + 1 < argc) {
            interval = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: daemon_scale [--accounts 1..16] [--symbols 1..1024] "
                            "[--hot 1..SYMBOLS] [--rate MARKS_PER_S, 0 = flat out] [--seconds S] "
                            "[--min-update-interval S] [--warmup S]\n");
            return 2;
        }
    }
    if (accounts == 0 || accounts > ACCOUNTS_MAX || symbols == 0 || symbols > SYMBOLS_MAX ||
        hot == 0 || hot > symbols || !(seconds >= 1 && seconds <= 3600) ||
        !(interval >= 0.001 && interval <= 3600) || !(warmup >= 0 && warmup <= 3600) ||
        !(rate >= 0 && rate <= 1e7)) {
        fprintf(stderr,
                "bench/daemon_scale: --accounts 1..%d, --symbols 1..%d, --hot 1..symbols, "
                "--seconds 1..3600\n",
                ACCOUNTS_MAX, SYMBOLS_MAX);
        return 2;
    }
    size_t positions = accounts * symbols;
    char dir[256], path[600];
    snprintf(dir, sizeof dir, "/tmp/tg-bench-scale-%d", (int)getpid());
    mkdir(dir, 0700);
    uint16_t http_port = du_free_port();
    /* the accounts file names the ports only through the configuration:
     * write it with a placeholder port first, then again once bound */
    write_files(dir, accounts, interval, 0, http_port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(path, sizeof path, "%s/accounts.json", dir);
    tg_sim_config sc = tg_sim_config_default();
    sc.accounts_path = path;
    /* a replace places the new stop before it cancels the old one */
    sc.orders_max = 2 * positions + 1024 < ORDERS_MAX ? 2 * positions + 1024 : ORDERS_MAX;
    tg_sim *sim = NULL;
    tg_err err;
    char *out = malloc(DU_ANSWER_MAX);
    if (out == NULL || tg_sim_new(&sc, &sim, &err) != TG_OK || tg_sim_start(sim, &err) != TG_OK) {
        du_die("emulator", err.msg);
    }
    char *sc_text = scenario(accounts, symbols, hot);
    du_sim(sim, "POST", "/sim/scenario", sc_text, out, DU_ANSWER_MAX);
    free(sc_text);
    write_files(dir, accounts, interval, tg_sim_ports_get(sim).binance, http_port);
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
    double hwm_live = mem_mib(d.pid, "VmHWM:"), rss_live = mem_mib(d.pid, "VmRSS:");
    /* the first stop of every position, within the order budget */
    while (du_sim_state(sim, out, "unprotected_now") != 0) {
        if (bench_now_s() - t_live > STARTUP_S_MAX) {
            du_die("daemon", "positions not all protected in time");
        }
        du_sleep_us(500000);
    }
    double startup = bench_now_s() - t_live;
    double hwm_protected = mem_mib(d.pid, "VmHWM:");
    du_sleep_us(1000000); /* the last replies and commits settle */
    /* Every hot position's first move comes due at once when prices start
     * (their stops were all placed in the same minute): the warm-up lets
     * that herd drain through the order budget before the window opens. */
    (void)walk(sim, out, hot, rate, warmup);
    double le[LE_MAX], before[LE_MAX], after[LE_MAX];
    double ticks0 = metric(&d, "trailguard_ticks_total{"), cpu0 = cpu_s(d.pid);
    size_t nle = hist_sum(d.answer, "trailguard_tick_to_request_seconds", le, before);
    double def0 = sum_metric(&d, "trailguard_deferrals_total{");
    double req0 = sum_metric(&d, "trailguard_requests_total{");
    double t0 = bench_now_s();
    uint64_t steps = walk(sim, out, hot, rate, seconds);
    double wall = bench_now_s() - t0;
    du_sleep_us(200000); /* frames in the socket buffers are read */
    double ticks1 = metric(&d, "trailguard_ticks_total{"), cpu1 = cpu_s(d.pid);
    double le1[LE_MAX];
    size_t nle1 = hist_sum(d.answer, "trailguard_tick_to_request_seconds", le1, after);
    double max_life = 0;
    for (const char *l = strstr(d.answer, "trailguard_max_deferral_seconds{"); l != NULL;
         l = strstr(l + 1, "trailguard_max_deferral_seconds{")) {
        const char *sp = strchr(l, ' ');
        double v = sp != NULL ? strtod(sp + 1, NULL) : 0;
        max_life = v > max_life ? v : max_life;
    }
    /* −1: some wait of the window went past the histogram's last bound */
    double max_window = nle == nle1 ? hist_max(le, after, before, nle) : -1;
    max_window = max_window > 1e299 ? -1 : max_window;
    double deferrals = sum_metric(&d, "trailguard_deferrals_total{") - def0;
    double requests = sum_metric(&d, "trailguard_requests_total{") - req0;
    double triggers = sum_metric(&d, "trailguard_triggers_total{");
    /* before the memory is read: the high-water mark includes serving it */
    double list_ms[READ_ROUNDS], health_ms[READ_ROUNDS];
    size_t list_bytes = 0;
    read_api(d.port, list_ms, health_ms, &list_bytes);
    double hwm = mem_mib(d.pid, "VmHWM:"), rss = mem_mib(d.pid, "VmRSS:");
    double anon = mem_mib(d.pid, "RssAnon:"), file = mem_mib(d.pid, "RssFile:");
    double shmem = mem_mib(d.pid, "RssShmem:");
    double slow = du_sim_state(sim, out, "slow_disconnects");
    double open = du_sim_state(sim, out, "open_positions");
    du_stop(&d);
    tg_sim_stop(sim);
    tg_sim_free(sim);
    double ticks = ticks1 - ticks0, cpu = cpu1 - cpu0;
    printf("accounts=%zu symbols=%zu hot=%zu rate=%.0f startup_s=%.1f marks_pushed=%" PRIu64
           " (%.0f/s) wall_s=%.1f daemon_cpu_s=%.2f ticks=%.0f requests=%.0f deferrals=%.0f "
           "triggers=%.0f open_at_end=%.0f slow_disconnects=%.0f\n",
           accounts, symbols, hot, rate, startup, steps, (double)steps / wall, wall, cpu, ticks,
           requests, deferrals, triggers, open, slow);
    printf("vm_hwm_mib=%.1f vm_rss_mib=%.1f (anon %.1f file %.1f shmem %.1f; live: hwm %.1f "
           "rss %.1f; protected: hwm %.1f) "
           "ticks_per_s_wall=%.0f ticks_per_cpu_s=%.0f marks_per_cpu_s=%.0f "
           "max_deferral_life_s=%.3f\n",
           hwm, rss, anon, file, shmem, hwm_live, rss_live, hwm_protected, ticks / wall,
           cpu > 0 ? ticks / cpu : 0, cpu > 0 ? (double)steps / cpu : 0, max_life);
    printf("read_api: GET /v1/positions bytes=%zu ms_p50=%.1f ms_max=%.1f; GET /health sent "
           "%d us after it: ms_p50=%.1f ms_max=%.1f (%d rounds)\n",
           list_bytes, bench_median(list_ms, READ_ROUNDS),
           bench_percentile(list_ms, READ_ROUNDS, 100), READ_HEALTH_AFTER_US,
           bench_median(health_ms, READ_ROUNDS), bench_percentile(health_ms, READ_ROUNDS, 100),
           READ_ROUNDS);
    /* What the budget can carry: a hot position asks for a move at most once
     * per min_update_interval; past the budget, waits grow without bound and
     * max_update_delay cannot hold (run --min-update-interval 1 to see it). */
    /* every account of one host shares its IP's request weight */
    double demand = (double)hot / interval;
    double ip_share = IP_MOVES_S / (double)accounts;
    double budget = ip_share < BUDGET_MOVES_S ? ip_share : BUDGET_MOVES_S;
    printf("moves_wanted_per_s_per_account<=%.1f budget_moves_per_s_per_account=%.1f (orders "
           "%.0f; the IP's weight shared by %zu accounts %.1f): %s\n",
           demand, budget, BUDGET_MOVES_S, accounts, ip_share,
           demand <= budget ? "within budget" : "over budget");
    printf("positions=%zu rss_mib=%.1f ticks_per_s=%.0f max_deferral_s=%.3f\n", positions, hwm,
           cpu > 0 ? ticks / cpu : 0, max_window);
    free(out);
    curl_global_cleanup();
    return 0;
}
