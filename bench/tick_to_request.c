/*
 * bench/tick_to_request.c — from the emulator writing a mark frame to the
 * emulator reading the set-stop request it provoked, through the real daemon
 * process (`trailguard run`, TG_CLI_PATH) and its SQLite store (WAL,
 * synchronous=FULL: src/store/sqlite.c).
 *
 * One Binance account with a long position on each of --symbols instruments
 * (up to the emulator's 5), every price path a steady rise of 10 ticks a
 * step, parameters that make every step move the stop (activation 0.001 %,
 * min_update_interval_seconds 0, min_improvement_percent 0) and order
 * budgets lifted on both sides (emulator /sim/limits, the account's
 * order_limit_per_min). A round steps every symbol once in one call
 * (POST /sim/step {"symbols":[...]}: the frames leave together, as Binance
 * pushes every symbol's markPrice at the same instant),
 * waits for one POST /fapi/v1/algoOrder per symbol and then for the daemon
 * to finish those replaces (requests_total), so that no tick meets a
 * request still in flight. Latency of a tick = the request's recv_us minus
 * the mark's push_us (GET /sim/marks), both on the emulator's clock.
 *
 * Overhead of a tick = its latency minus the duration of the commit that
 * carried its intent. The daemon runs at log level debug, which gives every
 * group commit a line with its duration (msg=store_commit us=…); a tick's
 * commit is the first one after its msg=stop_moved line (found by symbol
 * and mark price). overhead_us_p99 is the 99th percentile of that per-tick
 * difference. commit_us_p99 comes from the daemon's
 * trailguard_store_commit_seconds histogram (every commit, linear within
 * buckets); the difference of the two tails, p99(latency) − p99(commit),
 * is printed beside it but mixes two distributions, so it is not the
 * headline.
 *
 * The line before the last has the median latency of the first, second, …
 * request of each round: one batch's requests leave one after the other,
 * each a send(2) on its own connection.
 *
 * Last line: tick_to_request_us_p50=… tick_to_request_us_p99=… commit_us_p99=… overhead_us_p99=…
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
#include "trailguard/decimal.h"
#include "trailguard/sim.h"

#define TICKS_DEFAULT 100000
#define TICKS_MAX     10000000 /* bound of --ticks */
#define SYMBOLS_MAX   5        /* the emulator's instruments */
#define ROUND_WAIT_US 2000000  /* a round's requests must come within this */
#define FIRST_POLL_US 1500     /* before the first look at a round's requests */
#define POLL_US       250      /* between later polls of the emulator and the daemon */
#define WARMUP_ROUNDS 200      /* rounds before timing (activation, caches) */
#define ACCOUNT       "bench"
#define KEY           "benchKey0123456789"
#define SECRET        "benchSecret0123456789abcdef"
#define PENDING_MAX   64 /* stop moves seen in the log before their commit line */

typedef struct bench_symbol {
    const char *symbol; /* instrument */
    int64_t start;      /* start price in ticks */
    int dp;             /* decimals of the tick */
    const char *size;   /* position size */
} bench_symbol;

static const bench_symbol symbols[SYMBOLS_MAX] = {
    {"BTCUSDT", 500000, 1, "0.010"},      {"ETHUSDT", 300000, 2, "0.500"},
    {"SOLUSDT", 15000, 2, "10"},          {"XRPUSDT", 6000, 4, "1000"},
    {"1000PEPEUSDT", 100000, 7, "10000"},
};

static void format_ticks(int64_t ticks, int dp, char *buf, size_t cap) {
    int64_t scale = 1;
    for (int i = 0; i < dp; i++) {
        scale *= 10;
    }
    snprintf(buf, cap, "%" PRId64 ".%0*" PRId64, ticks / scale, dp, ticks % scale);
}

static char *scenario(size_t nsym, size_t steps) {
    cJSON *sc = cJSON_CreateObject();
    cJSON *marks = cJSON_AddObjectToObject(sc, "marks");
    cJSON *paths = cJSON_AddArrayToObject(sc, "paths");
    cJSON *pos = cJSON_AddArrayToObject(sc, "positions");
    for (size_t i = 0; i < nsym; i++) {
        const bench_symbol *s = &symbols[i];
        char text[32];
        format_ticks(s->start, s->dp, text, sizeof text);
        cJSON_AddStringToObject(marks, s->symbol, text);
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "symbol", s->symbol);
        cJSON_AddStringToObject(p, "kind", "steps");
        cJSON_AddNumberToObject(p, "interval_ms", 3600000); /* moved by /sim/step only */
        cJSON *prices = cJSON_AddArrayToObject(p, "prices");
        for (size_t k = 1; k <= steps; k++) {
            format_ticks(s->start + (int64_t)k * 10, s->dp, text, sizeof text);
            cJSON_AddItemToArray(prices, cJSON_CreateString(text));
        }
        cJSON_AddItemToArray(paths, p);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "account", ACCOUNT);
        cJSON_AddStringToObject(o, "symbol", s->symbol);
        cJSON_AddStringToObject(o, "side", "long");
        cJSON_AddStringToObject(o, "size", s->size);
        format_ticks(s->start, s->dp, text, sizeof text);
        cJSON_AddStringToObject(o, "entry", text);
        cJSON_AddItemToArray(pos, o);
    }
    char *text = cJSON_PrintUnformatted(sc);
    cJSON_Delete(sc);
    return text;
}

static void write_config(const char *dir, uint16_t bn_port, uint16_t http_port) {
    char path[1024], key[1024], secret[1024], ini[8192];
    snprintf(key, sizeof key, "%s/bn.key", dir);
    snprintf(secret, sizeof secret, "%s/bn.secret", dir);
    du_write_file(key, KEY "\n", 0600);
    du_write_file(secret, SECRET "\n", 0600);
    snprintf(ini, sizeof ini,
             "[store]\nuri = %s/tg.db\n\n"
             "[account " ACCOUNT "]\nvenue = binance\n"
             "rest_url = http://127.0.0.1:%u\nws_url = ws://127.0.0.1:%u\n"
             "api_key_file = %s\napi_secret_file = %s\n"
             "order_limit_per_min = 1000000\nweight_limit_per_min = 1000000\n\n"
             "[defaults]\nactivation_percent = 0.001\ncallback_percent = 0.5\n"
             "min_update_interval_seconds = 0\nmin_improvement_percent = 0\n"
             "reconcile_interval_seconds = 3600\nstale_seconds = 3600\n\n"
             "[log]\nlevel = debug\n\n" /* a line per commit, with its duration */
             "[http]\nlisten = 127.0.0.1:%u\n",
             dir, bn_port, bn_port, key, secret, http_port);
    snprintf(path, sizeof path, "%s/trailguard.ini", dir);
    du_write_file(path, ini, 0644);
}

static double requests_done(du_daemon *d) {
    if (du_get(d, "/metrics") != 200) {
        du_die("daemon", "GET /metrics failed");
    }
    return du_metric(d->answer, "trailguard_requests_total{");
}

typedef struct bench {
    tg_sim *sim;       /* the emulator */
    du_daemon d;       /* the daemon */
    char *out;         /* control answers */
    size_t nsym;       /* symbols stepped per round */
    uint64_t req_seq;  /* requests read so far */
    uint64_t mark_seq; /* marks read so far */
    size_t step;       /* steps of the price paths taken so far */
} bench;

/* The push_us of the marks of this round, by symbol index. */
static void round_marks(bench *b, int64_t *push_us) {
    char target[96];
    snprintf(target, sizeof target, "/sim/marks?since=%" PRIu64, b->mark_seq);
    du_sim(b->sim, "GET", target, NULL, b->out, DU_ANSWER_MAX);
    cJSON *j = cJSON_Parse(b->out);
    b->mark_seq = (uint64_t)cJSON_GetObjectItem(j, "last_seq")->valuedouble;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "marks")) {
        const char *sym = cJSON_GetObjectItem(m, "symbol")->valuestring;
        for (size_t i = 0; i < b->nsym; i++) {
            if (strcmp(sym, symbols[i].symbol) == 0) {
                push_us[i] = (int64_t)cJSON_GetObjectItem(m, "push_us")->valuedouble;
            }
        }
    }
    cJSON_Delete(j);
}

/* Reads new requests; the first set-stop POST of each symbol received after
 * its mark of this round went out goes to recv_us[i] (left at 0 until
 * seen). Returns how many are seen. */
static size_t round_requests(bench *b, const int64_t *push_us, int64_t *recv_us) {
    char target[96];
    snprintf(target, sizeof target, "/sim/requests?venue=binance&since=%" PRIu64, b->req_seq);
    du_sim(b->sim, "GET", target, NULL, b->out, DU_ANSWER_MAX);
    cJSON *j = cJSON_Parse(b->out);
    b->req_seq = (uint64_t)cJSON_GetObjectItem(j, "last_seq")->valuedouble;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "requests")) {
        if (strcmp(cJSON_GetObjectItem(r, "method")->valuestring, "POST") != 0 ||
            strcmp(cJSON_GetObjectItem(r, "path")->valuestring, "/fapi/v1/algoOrder") != 0) {
            continue;
        }
        const char *params = cJSON_GetObjectItem(r, "params")->valuestring;
        for (size_t i = 0; i < b->nsym; i++) {
            char want[48];
            snprintf(want, sizeof want, "symbol=%s&", symbols[i].symbol);
            int64_t at = (int64_t)cJSON_GetObjectItem(r, "recv_us")->valuedouble;
            if (recv_us[i] == 0 && at >= push_us[i] && strstr(params, want) != NULL) {
                recv_us[i] = at;
            }
        }
    }
    cJSON_Delete(j);
    size_t seen = 0;
    for (size_t i = 0; i < b->nsym; i++) {
        seen += recv_us[i] != 0;
    }
    return seen;
}

/* One round: every symbol one step; the latencies of the ticks that moved
 * a stop go to lat_us, their symbols' indexes to sym (when not NULL).
 * Returns how many. */
static size_t run_round(bench *b, double *lat_us, uint8_t *sym, double wait_s) {
    double before = requests_done(&b->d);
    /* every symbol in one step call: their frames leave together, as the
     * exchange pushes all marks at once (markPrice@1s) */
    char body[256];
    size_t len = (size_t)snprintf(body, sizeof body, "{\"count\":1,\"symbols\":[");
    for (size_t i = 0; i < b->nsym; i++) {
        len += (size_t)snprintf(body + len, sizeof body - len, "%s\"%s\"", i > 0 ? "," : "",
                                symbols[i].symbol);
    }
    snprintf(body + len, sizeof body - len, "]}");
    du_sim(b->sim, "POST", "/sim/step", body, b->out, DU_ANSWER_MAX);
    b->step++;
    int64_t push_us[SYMBOLS_MAX] = {0}, recv_us[SYMBOLS_MAX] = {0};
    round_marks(b, push_us); /* logged by the step calls themselves */
    size_t seen = 0;
    double t0 = bench_now_s();
    /* A poll is a control call that runs on the emulator's loop, which also
     * stamps each request as it reads it: polling while the requests arrive
     * would delay their stamps (and, on two cores, take CPU from the daemon).
     * Most rounds are done before the first look; the stamps, not the polls,
     * give the latency. */
    du_sleep_us(FIRST_POLL_US);
    while (seen < b->nsym && bench_now_s() - t0 < wait_s) {
        seen = round_requests(b, push_us, recv_us);
        if (seen < b->nsym) {
            du_sleep_us(POLL_US);
        }
    }
    /* the replaces must be done before the next tick meets them in flight */
    while (requests_done(&b->d) < before + (double)seen && bench_now_s() - t0 < 10) {
        du_sleep_us(POLL_US);
    }
    size_t n = 0;
    for (size_t i = 0; i < b->nsym; i++) {
        if (recv_us[i] != 0) {
            if (sym != NULL) {
                sym[n] = (uint8_t)i;
            }
            lat_us[n++] = (double)(recv_us[i] - push_us[i]);
        }
    }
    return n;
}

static void wait_live(bench *b) {
    double t0 = bench_now_s();
    for (;;) {
        if (du_get(&b->d, "/metrics") == 200 &&
            du_metric(b->d.answer, "trailguard_account_live{") >= 1 &&
            du_metric(b->d.answer, "trailguard_requests_total{") >= (double)b->nsym) {
            return;
        }
        if (bench_now_s() - t0 > 30) {
            du_die("daemon", "not live with its first stops within 30 s");
        }
        du_sleep_us(50000);
    }
}

static void commit_hist(bench *b, double *le, double *count, size_t *n) {
    if (du_get(&b->d, "/metrics") != 200) {
        du_die("daemon", "GET /metrics failed");
    }
    *n = du_hist_read(b->d.answer, "trailguard_store_commit_seconds", le, count);
}

/* A log line's value of key (" key=value"), copied into out; false if absent. */
static bool log_field(const char *line, const char *key, char *out, size_t cap) {
    char want[32];
    snprintf(want, sizeof want, " %s=", key);
    const char *at = strstr(line, want);
    if (at == NULL) {
        return false;
    }
    at += strlen(want);
    size_t n = strcspn(at, " \n");
    if (n == 0 || n >= cap) {
        return false;
    }
    memcpy(out, at, n);
    out[n] = '\0';
    return true;
}

/* "60196.5" in ticks of dp decimals (the project's exact decimals); -1 if
 * it is not such a number or not on the tick. */
static int64_t price_ticks(const char *text, int dp) {
    tg_dec d;
    int64_t unit = 1;
    for (int k = dp; k < TG_DEC_DP; k++) {
        unit *= 10;
    }
    if (tg_dec_parse_cstr(text, &d) != TG_DEC_OK || d.units % unit != 0) {
        return -1;
    }
    return d.units / unit;
}

/* From the daemon's log: commit_us[sym * steps + k] = the duration of the
 * commit that carried symbol sym's stop move at path step k (-1 if none). */
static void commits_of_ticks(const char *log_path, size_t nsym, size_t steps, int32_t *commit_us) {
    for (size_t i = 0; i < nsym * steps; i++) {
        commit_us[i] = -1;
    }
    FILE *f = fopen(log_path, "r");
    if (f == NULL) {
        du_die("bench", "cannot read the daemon's log");
    }
    size_t pending[PENDING_MAX], npending = 0;
    char *line = NULL, key[64], price[64], us[32];
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (strstr(line, " msg=stop_moved ") != NULL && log_field(line, "key", key, sizeof key) &&
            log_field(line, "price", price, sizeof price)) {
            for (size_t i = 0; i < nsym && npending < PENDING_MAX; i++) {
                size_t len = strlen(symbols[i].symbol);
                int64_t t = price_ticks(price, symbols[i].dp) - symbols[i].start;
                if (strncmp(key, symbols[i].symbol, len) == 0 && key[len] == ':' && t > 0 &&
                    t % 10 == 0 && (size_t)(t / 10) < steps) {
                    pending[npending++] = i * steps + (size_t)(t / 10);
                }
            }
        } else if (strstr(line, " msg=store_commit ") != NULL &&
                   log_field(line, "us", us, sizeof us)) {
            for (size_t i = 0; i < npending; i++) {
                commit_us[pending[i]] = (int32_t)strtol(us, NULL, 10);
            }
            npending = 0;
        }
    }
    free(line);
    fclose(f);
}

int main(int argc, char **argv) {
    size_t ticks = TICKS_DEFAULT, nsym = SYMBOLS_MAX;
    const char *dir_arg = NULL;
    bool busy_poll = false; /* the daemon runs with --busy-poll */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ticks") == 0 && i + 1 < argc) {
            ticks = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--symbols") == 0 && i + 1 < argc) {
            nsym = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir_arg = argv[++i];
        } else if (strcmp(argv[i], "--busy-poll") == 0) {
            busy_poll = true;
        } else {
            fprintf(stderr, "usage: tick_to_request [--ticks N] [--symbols 1..5] [--dir DIR] "
                            "[--busy-poll]\n");
            return 2;
        }
    }
    if (ticks == 0 || ticks > TICKS_MAX || nsym == 0 || nsym > SYMBOLS_MAX) {
        fprintf(stderr, "bench/tick_to_request: --ticks 1..%d, --symbols 1..%d\n", TICKS_MAX,
                SYMBOLS_MAX);
        return 2;
    }
    char dir[256];
    if (dir_arg != NULL) {
        snprintf(dir, sizeof dir, "%s", dir_arg);
    } else {
        snprintf(dir, sizeof dir, "/tmp/tg-bench-t2r-%d", (int)getpid());
    }
    mkdir(dir, 0700);
    char accounts[600], db[600];
    snprintf(accounts, sizeof accounts, "%s/accounts.json", dir);
    snprintf(db, sizeof db, "%s/tg.db", dir);
    remove(db);
    du_write_file(accounts,
                  "[{\"venue\":\"binance\",\"name\":\"" ACCOUNT "\",\"api_key\":\"" KEY
                  "\",\"api_secret\":\"" SECRET "\"}]\n",
                  0600);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    bench b = {.nsym = nsym, .out = malloc(DU_ANSWER_MAX)};
    tg_sim_config sc = tg_sim_config_default();
    sc.accounts_path = accounts;
    tg_err err;
    if (b.out == NULL || tg_sim_new(&sc, &b.sim, &err) != TG_OK ||
        tg_sim_start(b.sim, &err) != TG_OK) {
        du_die("emulator", err.msg);
    }
    size_t rounds = (ticks + nsym - 1) / nsym;
    du_sim(b.sim, "POST", "/sim/limits",
           "{\"binance_weight_1m\":1000000,\"binance_orders_1m\":1000000,\"bybit_per_second\":"
           "1000000}",
           b.out, DU_ANSWER_MAX);
    size_t steps = rounds + WARMUP_ROUNDS + 16; /* of each price path */
    char *sc_text = scenario(nsym, steps);
    du_sim(b.sim, "POST", "/sim/scenario", sc_text, b.out, DU_ANSWER_MAX);
    free(sc_text);
    b.d.port = du_free_port();
    b.d.option = busy_poll ? "--busy-poll" : NULL;
    write_config(dir, tg_sim_ports_get(b.sim).binance, b.d.port);
    char ini[600], log_file[600];
    snprintf(ini, sizeof ini, "%s/trailguard.ini", dir);
    snprintf(log_file, sizeof log_file, "%s/daemon.log", dir);
    du_start(&b.d, ini, log_file);
    wait_live(&b);
    double *lat = malloc((rounds + 8) * nsym * sizeof *lat);
    uint8_t *tick_sym = malloc((rounds + 8) * nsym);
    size_t *tick_step = malloc((rounds + 8) * nsym * sizeof *tick_step);
    int32_t *commit_us = malloc(nsym * steps * sizeof *commit_us);
    double lat_round[SYMBOLS_MAX];
    if (lat == NULL || tick_sym == NULL || tick_step == NULL || commit_us == NULL) {
        du_die("memory", "out of memory");
    }
    int64_t none[SYMBOLS_MAX] = {0}, skip[SYMBOLS_MAX] = {0};
    round_requests(&b, none, skip); /* the startup's requests are no tick's */
    round_marks(&b, none);
    for (size_t r = 0; r < WARMUP_ROUNDS; r++) {
        run_round(&b, lat_round, NULL, 0.05);
    }
    double le[DU_BUCKETS_MAX], c0[DU_BUCKETS_MAX], c1[DU_BUCKETS_MAX];
    size_t nb0 = 0, nb1 = 0;
    commit_hist(&b, le, c0, &nb0);
    size_t n = 0, short_rounds = 0, full_rounds = 0;
    /* the k-th fastest tick of each full round: how the requests of one
     * batch leave one after the other */
    double *by_rank = malloc((rounds + 8) * nsym * sizeof *by_rank);
    if (by_rank == NULL) {
        du_die("memory", "out of memory");
    }
    double t0 = bench_now_s();
    for (size_t r = 0; n < ticks && r < rounds + 8; r++) {
        size_t got = run_round(&b, lat + n, tick_sym + n, ROUND_WAIT_US / 1e6);
        for (size_t k = n; k < n + got; k++) {
            tick_step[k] = b.step;
        }
        short_rounds += got < nsym;
        if (got == nsym) {
            double sorted[SYMBOLS_MAX];
            memcpy(sorted, lat + n, nsym * sizeof *sorted);
            qsort(sorted, nsym, sizeof *sorted, bench_cmp_double);
            for (size_t k = 0; k < nsym; k++) {
                by_rank[k * (rounds + 8) + full_rounds] = sorted[k];
            }
            full_rounds++;
        }
        n += got;
    }
    double wall = bench_now_s() - t0;
    commit_hist(&b, le, c1, &nb1);
    if (n == 0 || nb0 != nb1 || nb1 == 0) {
        du_die("bench", "no stop-moving ticks measured (or no commit histogram)");
    }
    double commit_p50 = du_hist_percentile(le, c1, c0, nb1, 50) * 1e6;
    double commit_p99 = du_hist_percentile(le, c1, c0, nb1, 99) * 1e6;
    double commits = c1[nb1 - 1] - c0[nb1 - 1];
    du_stop(&b.d); /* the log is complete after the drain */
    commits_of_ticks(log_file, nsym, steps, commit_us);
    double *over = malloc(n * sizeof *over), *carried = malloc(n * sizeof *carried);
    if (over == NULL || carried == NULL) {
        du_die("memory", "out of memory");
    }
    size_t matched = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = commit_us[(size_t)tick_sym[i] * steps + tick_step[i]];
        if (c >= 0) {
            carried[matched] = c;
            over[matched++] = lat[i] - c;
        }
    }
    if (matched == 0) {
        du_die("bench", "no tick paired with its commit in the daemon's log");
    }
    double o50 = bench_percentile(over, matched, 50), o90 = bench_percentile(over, matched, 90);
    double o99 = bench_percentile(over, matched, 99), omax = over[matched - 1];
    double c50 = bench_percentile(carried, matched, 50);
    double c99 = bench_percentile(carried, matched, 99);
    double p50 = bench_percentile(lat, n, 50), p90 = bench_percentile(lat, n, 90);
    double p99 = bench_percentile(lat, n, 99), p999 = bench_percentile(lat, n, 99.9);
    double max = lat[n - 1];
    tg_sim_stop(b.sim);
    tg_sim_free(b.sim);
    printf("ticks=%zu symbols=%zu rounds_short=%zu wall_s=%.1f ticks_per_s=%.0f commits=%.0f "
           "store=%s (sqlite WAL synchronous=FULL) daemon_loop=%s\n",
           n, nsym, short_rounds, wall, (double)n / wall, commits, db,
           busy_poll ? "busy-poll" : "sleeping");
    printf("tick_to_request_us p50=%.0f p90=%.0f p99=%.0f p99.9=%.0f max=%.0f; commit_us p50=%.0f "
           "p99=%.0f (histogram, linear in buckets)\n",
           p50, p90, p99, p999, max, commit_p50, commit_p99);
    printf("by_order_in_round_us_p50=");
    for (size_t k = 0; k < nsym && full_rounds > 0; k++) {
        double *rk = by_rank + k * (rounds + 8);
        printf("%s%.0f", k > 0 ? "," : "", bench_percentile(rk, full_rounds, 50));
    }
    printf(" (the 1st, 2nd, ... request of a round's batch)\n");
    free(by_rank);
    printf("overhead_us (per tick: latency minus the commit that carried it) p50=%.0f p90=%.0f "
           "p99=%.0f max=%.0f; those commits p50=%.0f p99=%.0f; ticks paired=%zu of %zu; "
           "p99(latency)-p99(commit)=%.0f\n",
           o50, o90, o99, omax, c50, c99, matched, n, p99 - commit_p99);
    printf("tick_to_request_us_p50=%.0f tick_to_request_us_p99=%.0f commit_us_p99=%.0f "
           "overhead_us_p99=%.0f\n",
           p50, p99, commit_p99, o99);
    free(over);
    free(carried);
    free(tick_sym);
    free(tick_step);
    free(commit_us);
    free(lat);
    free(b.out);
    curl_global_cleanup();
    return 0;
}
