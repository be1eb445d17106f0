/*
 * bench/engine.c — ticks per second through the book of trailing stops.
 *
 * POSITIONS positions over SYMBOLS symbols (as many per symbol, alternately
 * long and short, entered along a seeded random walk), default parameters,
 * tick size 0.01. TICKS mark-price ticks, each for a random symbol, move that
 * symbol's price by a seeded random walk in whole ticks; the stream is
 * generated before timing. Each tick goes through tg_book_tick(); the sink
 * counts events and commands and queues every SET_STOP, which is confirmed
 * (tg_stop_confirmed) right after tg_book_tick() returns, as a perfect
 * exchange would. Each run builds a fresh book (not timed) and times only the
 * tick loop. Every run must produce the same outputs (determinism), and every
 * stop must pass tg_stop_check() afterwards. --exhaustive 1 turns the book's
 * fast path off (tg_book_set_exhaustive()): the outputs, and stop_digest,
 * must not change, only the speed.
 *
 * Last line: ticks_per_s=N ns_per_tick=X bytes_per_position=B (medians)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "trailguard/book.h"

#define POSITIONS_DEFAULT 10000
#define SYMBOLS_DEFAULT   500
#define TICKS_DEFAULT     10000000
#define RUNS_DEFAULT      5
#define POSITIONS_MAX     1000000   /* bound of --positions */
#define SYMBOLS_MAX       65535     /* bound of --symbols (ids are stored in 16 bits) */
#define TICKS_MAX         100000000 /* bound of --ticks: 10 bytes each */
#define RUNS_MAX          99        /* bound of --runs */
#define SEED              0x656e67696e65ULL
#define TICK_UNITS        (TG_DEC_SCALE / 100) /* tick size 0.01, in tg_dec units */
#define PRICE_TICKS_MIN   1000                 /* 10.00: the lowest start price */
#define PRICE_TICKS_SPAN  6000000              /* start prices up to 60,010.00 */
#define STEP_PER_MILLE    1                    /* largest move per tick, ‰ of the price */
#define ENTRY_WALK_STEPS  50                   /* walk steps between two entries on one symbol */
#define TICK_INTERVAL_MS  1                    /* clock advance per tick, over all symbols */
#define SYMBOL_NAME_BYTES 16                   /* "S65535USDT" and its NUL */
#define QUANTITY_UNITS    TG_DEC_SCALE         /* 1 contract */
#define OPEN_TS_MS        1700000000000LL      /* when every position opens */

typedef struct bench_opts {
    uint32_t positions; /* positions in the book */
    uint32_t symbols;   /* symbols they are spread over */
    uint64_t ticks;     /* ticks per run */
    int runs;           /* timed runs */
    bool exhaustive;    /* evaluate every position on every tick */
} bench_opts;

/* The pre-generated input: start prices, entries and the tick stream. */
typedef struct bench_input {
    int64_t *entry_ticks; /* positions: entry price in ticks */
    uint16_t *symbol;     /* ticks: symbol id of each tick */
    tg_dec *price;        /* ticks: price of each tick */
} bench_input;

typedef struct pending_confirm {
    uint32_t position; /* book position id */
    tg_dec price;      /* stop price to confirm */
} pending_confirm;

/* What the sink sees during one run. */
typedef struct bench_sink {
    uint64_t events;                    /* events from ticks and confirmations */
    uint64_t commands;                  /* commands from ticks and confirmations */
    uint64_t set_stops;                 /* SET_STOP commands, all confirmed */
    uint64_t stop_sum;                  /* sum of SET_STOP price units: a cheap output digest */
    uint64_t by_type[TG_EV_CLOSED + 1]; /* events by tg_event_type */
    pending_confirm *queue;             /* SET_STOPs of the current tick */
    uint32_t queue_len;                 /* entries used */
    uint32_t queue_max;                 /* capacity: positions of the busiest symbol × cmds */
} bench_sink;

/* The result of one run. */
typedef struct run_result {
    double seconds;            /* tick loop only */
    uint64_t position_updates; /* (tick, position) pairs evaluated */
    uint64_t dismissed;        /* (tick, position) pairs dismissed by the fast path */
    bench_sink sink;           /* counters (queue unused after the run) */
} run_result;

static void die(const char *what, const char *detail) {
    fprintf(stderr, "bench/engine: %s%s%s\n", what, detail[0] != '\0' ? ": " : "", detail);
    exit(1);
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (p == NULL) {
        die("out of memory", "");
    }
    return p;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* One step of a symbol's walk: up to STEP_PER_MILLE ‰ (at least one tick)
 * either way, reflected off the lowest start price so it stays positive. */
static int64_t walk_step(int64_t price_ticks, uint64_t *seed) {
    int64_t span = price_ticks * STEP_PER_MILLE / 1000;
    if (span < 1) {
        span = 1;
    }
    int64_t move = (int64_t)(splitmix64(seed) % (uint64_t)(2 * span + 1)) - span;
    int64_t next = price_ticks + move;
    return next < PRICE_TICKS_MIN ? price_ticks + (move < 0 ? -move : move) : next;
}

static uint64_t parse_count(const char *flag, const char *text, uint64_t max) {
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || v == 0 || v > max || text[0] == '-') {
        fprintf(stderr, "bench/engine: %s wants a whole number in 1..%" PRIu64 ", not '%s'\n", flag,
                max, text);
        exit(2);
    }
    return (uint64_t)v;
}

static bench_opts parse_args(int argc, char **argv) {
    bench_opts o = {POSITIONS_DEFAULT, SYMBOLS_DEFAULT, TICKS_DEFAULT, RUNS_DEFAULT, false};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr,
                    "usage: %s [--ticks N] [--positions N] [--symbols N] [--runs N] "
                    "[--exhaustive 0|1]\n",
                    argv[0]);
            exit(2);
        }
        const char *value = argv[++i];
        if (strcmp(flag, "--ticks") == 0) {
            o.ticks = parse_count(flag, value, TICKS_MAX);
        } else if (strcmp(flag, "--positions") == 0) {
            o.positions = (uint32_t)parse_count(flag, value, POSITIONS_MAX);
        } else if (strcmp(flag, "--symbols") == 0) {
            o.symbols = (uint32_t)parse_count(flag, value, SYMBOLS_MAX);
        } else if (strcmp(flag, "--runs") == 0) {
            o.runs = (int)parse_count(flag, value, RUNS_MAX);
        } else if (strcmp(flag, "--exhaustive") == 0) {
            if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
                fprintf(stderr, "bench/engine: --exhaustive wants 0 or 1, not '%s'\n", value);
                exit(2);
            }
            o.exhaustive = value[0] == '1';
        } else {
            fprintf(stderr, "bench/engine: unknown option '%s'\n", flag);
            exit(2);
        }
    }
    if (o.symbols > o.positions) {
        die("--symbols must not exceed --positions", "");
    }
    return o;
}

static void symbol_name(uint32_t id, char *buf) {
    snprintf(buf, SYMBOL_NAME_BYTES, "S%05" PRIu32 "USDT", id);
}

/* Entries walk from each symbol's start price; the tick stream continues
 * each symbol's walk from its last entry. */
static bench_input generate_input(const bench_opts *o) {
    bench_input in;
    in.entry_ticks = xcalloc(o->positions, sizeof *in.entry_ticks);
    in.symbol = xcalloc(o->ticks, sizeof *in.symbol);
    in.price = xcalloc(o->ticks, sizeof *in.price);
    int64_t *walk = xcalloc(o->symbols, sizeof *walk);
    uint64_t seed = SEED;
    for (uint32_t s = 0; s < o->symbols; s++) {
        walk[s] = PRICE_TICKS_MIN + (int64_t)(splitmix64(&seed) % PRICE_TICKS_SPAN);
    }
    for (uint32_t p = 0; p < o->positions; p++) {
        uint32_t s = p % o->symbols;
        for (int k = 0; k < ENTRY_WALK_STEPS; k++) {
            walk[s] = walk_step(walk[s], &seed);
        }
        in.entry_ticks[p] = walk[s];
    }
    for (uint64_t t = 0; t < o->ticks; t++) {
        uint32_t s = (uint32_t)(splitmix64(&seed) % o->symbols);
        walk[s] = walk_step(walk[s], &seed);
        in.symbol[t] = (uint16_t)s;
        in.price[t] = tg_dec_from_units(walk[s] * TICK_UNITS);
    }
    free(walk);
    return in;
}

static void free_input(bench_input *in) {
    free(in->entry_ticks);
    free(in->symbol);
    free(in->price);
}

/* Positions p, p + symbols, p + 2 × symbols, ... share symbol p % symbols. */
static tg_book *build_book(const bench_opts *o, const bench_input *in, uint32_t *symbol_ids) {
    tg_book *book = NULL;
    tg_err err = {0};
    if (tg_book_new(o->positions, o->symbols, &book, &err) != TG_OK) {
        die("tg_book_new", err.msg);
    }
    char name[SYMBOL_NAME_BYTES];
    for (uint32_t s = 0; s < o->symbols; s++) {
        symbol_name(s, name);
        symbol_ids[s] = tg_book_symbol(book, name);
        assert(symbol_ids[s] != TG_BOOK_NONE);
    }
    tg_open open = {.quantity = tg_dec_from_units(QUANTITY_UNITS),
                    .tick = tg_dec_from_units(TICK_UNITS),
                    .ts_ms = OPEN_TS_MS,
                    .params = tg_params_default()};
    for (uint32_t p = 0; p < o->positions; p++) {
        symbol_name(p % o->symbols, name);
        open.side = (p / o->symbols) % 2 == 0 ? TG_SIDE_LONG : TG_SIDE_SHORT;
        open.entry = tg_dec_from_units(in->entry_ticks[p] * TICK_UNITS);
        tg_out out = {0};
        uint32_t id = TG_BOOK_NONE;
        if (tg_book_open(book, name, &open, &id, &out, &err) != TG_OK) {
            die("tg_book_open", err.msg);
        }
        assert(id != TG_BOOK_NONE && out.n_cmds <= TG_OUT_CMDS_MAX);
    }
    return book;
}

static void count_events(bench_sink *k, const tg_out *out) {
    k->events += out->n_events;
    k->commands += out->n_cmds;
    for (uint8_t i = 0; i < out->n_events; i++) {
        assert(out->events[i].type <= TG_EV_CLOSED);
        k->by_type[out->events[i].type]++;
    }
}

static void on_output(void *ctx, const tg_stop *stop, const tg_out *out) {
    bench_sink *k = ctx;
    (void)stop;
    count_events(k, out);
    for (uint8_t i = 0; i < out->n_cmds; i++) {
        const tg_cmd *c = &out->cmds[i];
        if (c->type == TG_CMD_SET_STOP) {
            assert(k->queue_len < k->queue_max);
            k->queue[k->queue_len++] = (pending_confirm){c->position, c->price};
            k->set_stops++;
            k->stop_sum += (uint64_t)c->price.units;
        }
    }
}

/* The exchange acknowledges every stop of the last tick, after the book is
 * done with it. */
static void confirm_queued(tg_book *book, bench_sink *k, int64_t ts_ms) {
    for (uint32_t i = 0; i < k->queue_len; i++) {
        tg_stop *s = tg_book_get(book, k->queue[i].position);
        assert(s != NULL);
        tg_out out;
        out.n_events = 0;
        out.n_cmds = 0;
        tg_stop_confirmed(s, ts_ms, k->queue[i].price, &out);
        count_events(k, &out);
    }
    k->queue_len = 0;
}

static run_result run_once(const bench_opts *o, const bench_input *in, uint32_t *symbol_ids,
                           pending_confirm *queue, uint32_t queue_max) {
    tg_book *book = build_book(o, in, symbol_ids);
    tg_book_set_exhaustive(book, o->exhaustive);
    run_result r;
    memset(&r, 0, sizeof r);
    r.sink.queue = queue;
    r.sink.queue_max = queue_max;
    double t0 = bench_now_s();
    for (uint64_t t = 0; t < o->ticks; t++) {
        int64_t ts_ms = OPEN_TS_MS + (int64_t)(t + 1) * TICK_INTERVAL_MS;
        tg_book_tick(book, symbol_ids[in->symbol[t]], ts_ms, in->price[t], on_output, &r.sink);
        if (r.sink.queue_len != 0) {
            confirm_queued(book, &r.sink, ts_ms);
        }
    }
    r.seconds = bench_now_s() - t0;
    tg_book_stats st = tg_book_get_stats(book);
    assert(st.ticks == o->ticks && st.unknown_symbol_ticks == 0);
    r.position_updates = st.position_updates;
    r.dismissed = st.positions_dismissed;
    for (uint32_t p = 0; p < o->positions; p++) {
        tg_err err = {0};
        const tg_stop *s = tg_book_get(book, p);
        if (s == NULL || tg_stop_check(s, &err) != TG_OK) {
            die("a stop fails its invariants after the run", s == NULL ? "missing" : err.msg);
        }
    }
    tg_book_free(book);
    r.sink.queue = NULL;
    return r;
}

/* What the workload made the engine do, so that a change in speed can be
 * told apart from a change in work. */
static void print_event_mix(const bench_sink *k) {
    printf("events_by_type");
    for (int t = 0; t <= TG_EV_CLOSED; t++) {
        if (k->by_type[t] != 0) {
            printf(" %s=%" PRIu64, tg_event_type_str((tg_event_type)t), k->by_type[t]);
        }
    }
    printf("\n");
}

int main(int argc, char **argv) {
    bench_opts o = parse_args(argc, argv);
    bench_input in = generate_input(&o);
    uint32_t *symbol_ids = xcalloc(o.symbols, sizeof *symbol_ids);
    uint32_t per_symbol_max = (o.positions + o.symbols - 1) / o.symbols;
    uint32_t queue_max = per_symbol_max * TG_OUT_CMDS_MAX;
    pending_confirm *queue = xcalloc(queue_max, sizeof *queue);

    tg_book *probe = NULL;
    tg_err err = {0};
    if (tg_book_new(o.positions, o.symbols, &probe, &err) != TG_OK) {
        die("tg_book_new", err.msg);
    }
    size_t bytes_per_position = tg_book_bytes_per_position(probe);
    tg_book_free(probe);

    printf("positions=%" PRIu32 " symbols=%" PRIu32 " ticks=%" PRIu64 " runs=%d exhaustive=%d\n",
           o.positions, o.symbols, o.ticks, o.runs, o.exhaustive);
    double tps[RUNS_MAX], ns[RUNS_MAX];
    run_result first;
    memset(&first, 0, sizeof first);
    for (int i = 0; i < o.runs; i++) {
        run_result r = run_once(&o, &in, symbol_ids, queue, queue_max);
        if (i == 0) {
            first = r;
        } else if (r.sink.events != first.sink.events || r.sink.commands != first.sink.commands ||
                   r.sink.stop_sum != first.sink.stop_sum) {
            die("two runs over the same input gave different outputs", "");
        }
        if (i == 0) {
            print_event_mix(&r.sink);
        }
        tps[i] = (double)o.ticks / r.seconds;
        ns[i] = r.seconds * 1e9 / (double)o.ticks;
        printf("run=%d seconds=%.3f ticks_per_s=%.0f ns_per_tick=%.1f "
               "position_updates_per_s=%.0f dismissed_pairs=%" PRIu64 " events=%" PRIu64
               " commands=%" PRIu64 " set_stops=%" PRIu64 " stop_digest=%016" PRIx64 "\n",
               i + 1, r.seconds, tps[i], ns[i], (double)r.position_updates / r.seconds, r.dismissed,
               r.sink.events, r.sink.commands, r.sink.set_stops, r.sink.stop_sum);
    }
    printf("ticks_per_s=%.0f ns_per_tick=%.1f bytes_per_position=%zu\n",
           bench_median(tps, (size_t)o.runs), bench_median(ns, (size_t)o.runs), bytes_per_position);
    free(queue);
    free(symbol_ids);
    free_input(&in);
    return 0;
}
