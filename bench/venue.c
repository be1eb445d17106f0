/*
 * bench/venue.c — set-stop round trips per second against the loopback
 * emulator, and the client's own cost per request.
 *
 * For each venue: an in-process emulator (include/trailguard/sim.h) with its
 * rate limits lifted, one long BTCUSDT position, and --rounds stop
 * replacements one after another over one kept-alive connection (Binance:
 * place the new algo order, then cancel the old — two requests; Bybit: one
 * trading-stop). Round trips per second = replacements / wall time. The
 * client's cost of a request is its operation's latency minus the time spent
 * waiting on HTTP responses (queueing, signing, building, decoding, the
 * loop's hand-offs), divided by the requests it sent. Each venue runs RUNS
 * times (a fresh emulator each): the rate is the median run, the client
 * cost's percentiles are over every request of every run.
 *
 * Last line: binance_set_stop_per_s=N bybit_set_stop_per_s=N client_us_p50=X client_us_p99=Y
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "bench_util.h"
#include "trailguard/sim.h"
#include "trailguard/venue.h"

#define ROUNDS_DEFAULT 2000
#define ROUNDS_MAX     1000000 /* bound of --rounds */
#define WARMUP         50      /* replacements before timing */
#define RUNS           5       /* runs per venue; the median rate is reported */
#define KEY            "benchKey0123456789"
#define SECRET         "benchSecret0123456789abcdef"
#define ACCOUNT        "bench"

typedef struct bench_run {
    double per_s;      /* replacements per second */
    double *client_us; /* client cost per request, µs, one per replacement */
    size_t count;      /* entries in client_ns */
} bench_run;

static int die(const char *what, const char *msg) {
    fprintf(stderr, "bench/venue: %s: %s\n", what, msg);
    exit(1);
}

static tg_sim *sim_up(tg_venue_kind kind, const char *accounts) {
    FILE *f = fopen(accounts, "w");
    if (f == NULL) {
        die("accounts file", accounts);
    }
    fprintf(f, "[{\"venue\":\"%s\",\"name\":\"%s\",\"api_key\":\"%s\",\"api_secret\":\"%s\"}]\n",
            tg_venue_kind_str(kind), ACCOUNT, KEY, SECRET);
    fclose(f);
    tg_sim_config sc = tg_sim_config_default();
    sc.accounts_path = accounts;
    tg_sim *sim = NULL;
    tg_err err;
    if (tg_sim_new(&sc, &sim, &err) != TG_OK || tg_sim_start(sim, &err) != TG_OK) {
        die("emulator", err.msg);
    }
    char out[4096];
    static const char *const calls[][3] = {
        {"POST", "/sim/limits",
         "{\"binance_weight_1m\":1000000,\"binance_orders_1m\":1000000,\"bybit_per_second\":"
         "1000000}"},
        {"POST", "/sim/mark", "{\"symbol\":\"BTCUSDT\",\"price\":\"60000\"}"},
        {"POST", "/sim/position",
         "{\"account\":\"" ACCOUNT "\",\"symbol\":\"BTCUSDT\",\"side\":\"long\",\"size\":\"0.01\","
         "\"entry\":\"60000\"}"},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        if (tg_sim_call(sim, calls[i][0], calls[i][1], calls[i][2], out, sizeof out) != 200) {
            die(calls[i][1], out);
        }
    }
    return sim;
}

static tg_venue_reply set_once(tg_venue *v, tg_venue_stop_req *req) {
    tg_venue_waiter w = {0};
    tg_err err;
    if (tg_venue_set_stop(v, req, tg_venue_waiter_fn, &w, &err) != TG_OK ||
        tg_venue_wait(v, &w, 10000, &err) != TG_OK) {
        die("set stop", err.msg);
    }
    if (w.reply.error.code != TG_VENUE_OK) {
        die("set stop", w.reply.error.err.msg);
    }
    return w.reply;
}

static int64_t now_ns(void) {
    return (int64_t)uv_hrtime();
}

static bench_run run_venue(tg_venue_kind kind, size_t rounds) {
    char accounts[256];
    snprintf(accounts, sizeof accounts, "/tmp/tg-bench-venue-%d-%s.json", (int)getpid(),
             tg_venue_kind_str(kind));
    tg_sim *sim = sim_up(kind, accounts);
    tg_sim_ports ports = tg_sim_ports_get(sim);
    uv_loop_t loop;
    uv_loop_init(&loop);
    tg_venue_config cfg = tg_venue_config_default(kind);
    snprintf(cfg.rest_url, sizeof cfg.rest_url, "http://127.0.0.1:%u",
             kind == TG_VENUE_BINANCE ? ports.binance : ports.bybit);
    cfg.ws_url[0] = '\0';
    snprintf(cfg.api_key, sizeof cfg.api_key, KEY);
    snprintf(cfg.api_secret, sizeof cfg.api_secret, SECRET);
    cfg.weight_limit_per_min = 100000000;
    cfg.order_limit_per_min = 100000000;
    tg_venue *v = NULL;
    tg_err err;
    if (tg_venue_new(&cfg, &loop, &v, &err) != TG_OK) {
        die("venue", err.msg);
    }
    bench_run run = {0, calloc(rounds, sizeof(double)), 0};
    if (run.client_us == NULL) {
        die("memory", "out of memory");
    }
    tg_venue_stop_req req;
    memset(&req, 0, sizeof req);
    snprintf(req.symbol, sizeof req.symbol, "BTCUSDT");
    req.side = TG_SIDE_LONG;
    tg_dec_parse_cstr("0.01", &req.qty);
    int64_t t0 = 0;
    for (size_t i = 0; i < rounds + WARMUP; i++) {
        t0 = i == WARMUP ? now_ns() : t0;
        /* 50000.0 .. 54999.9, never the same twice in a row */
        req.trigger = tg_dec_from_units((int64_t)(500000 + i % 50000) * (TG_DEC_SCALE / 10));
        req.gen = i + 1;
        tg_venue_reply r = set_once(v, &req);
        req.prev = r.stop;
        if (i >= WARMUP && r.requests > 0) {
            int64_t client_us = r.latency_us - r.transport_us;
            run.client_us[run.count++] = (double)client_us / (double)r.requests;
        }
    }
    run.per_s = (double)rounds * 1e9 / (double)(now_ns() - t0);
    tg_venue_close(v);
    uv_run(&loop, UV_RUN_DEFAULT);
    tg_venue_free(v);
    uv_loop_close(&loop);
    tg_sim_stop(sim);
    tg_sim_free(sim);
    remove(accounts);
    return run;
}

/* RUNS runs of one venue: the median rate; every client cost appended to
 * costs (from *n on). */
static double median_rate(tg_venue_kind kind, size_t rounds, double *costs, size_t *n) {
    double rates[RUNS];
    for (int i = 0; i < RUNS; i++) {
        bench_run run = run_venue(kind, rounds);
        rates[i] = run.per_s;
        memcpy(costs + *n, run.client_us, run.count * sizeof *costs);
        *n += run.count;
        free(run.client_us);
        printf("%s run %d: %.0f set-stops/s\n", tg_venue_kind_str(kind), i + 1, run.per_s);
    }
    return bench_median(rates, RUNS);
}

int main(int argc, char **argv) {
    size_t rounds = ROUNDS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = (size_t)strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: venue [--rounds N]\n");
            return 2;
        }
    }
    if (rounds == 0 || rounds > ROUNDS_MAX) {
        fprintf(stderr, "bench/venue: --rounds must be 1..%d\n", ROUNDS_MAX);
        return 2;
    }
    double *costs = malloc(2 * RUNS * rounds * sizeof *costs);
    if (costs == NULL) {
        die("memory", "out of memory");
    }
    size_t n = 0;
    double bn = median_rate(TG_VENUE_BINANCE, rounds, costs, &n);
    double by = median_rate(TG_VENUE_BYBIT, rounds, costs, &n);
    double p50 = bench_percentile(costs, n, 50), p99 = bench_percentile(costs, n, 99);
    printf("rounds=%zu runs=%d binance_requests_per_set=2 bybit_requests_per_set=1\n", rounds,
           RUNS);
    printf("binance_set_stop_per_s=%.0f bybit_set_stop_per_s=%.0f client_us_p50=%.1f "
           "client_us_p99=%.1f\n",
           bn, by, p50, p99);
    free(costs);
    return 0;
}
