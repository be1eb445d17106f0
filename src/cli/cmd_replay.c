/* trailguard replay — back-test the trailing stop on a historical price file. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, isatty */

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/replay_store.h"
#include "replay/chart.h"
#include "replay/pricefile.h"
#include "replay/utc.h"
#include "trailguard/replay.h"

#define PROGRESS_DELAY_NS 1000000000LL /* a run shorter than this shows no bar */
#define PROGRESS_WIDTH    40           /* characters of the bar */
#define EVENT_JSON_MAX    512          /* bytes of one event line */
#define FLAG_NAME_MAX     64           /* bytes of a flag name */

static const char replay_usage[] =
    "usage: trailguard replay --data FILE [options]\n"
    "\n"
    "Back-tests one trailing stop on historical prices: opens a position at the\n"
    "first price, feeds every price to the engine, fills its stop on a perfect\n"
    "simulated exchange and reports the exit. Formats (detected from the first\n"
    "line): ticks timestamp_ms,price; Binance kline CSV; OHLCV CSV with header\n"
    "timestamp,open,high,low,close,volume. See docs/replay.md.\n"
    "\n"
    "  --data FILE            price file (required; - for standard input)\n"
    "  --side long|short      position side (default long)\n"
    "  --entry P              entry price (default: the first price)\n"
    "  --tick-size T          tick size (default: 10^-(most decimal places in the file))\n"
    "  --quantity Q           position size (default 1)\n"
    "  --fill-latency-ms N    the stop fills at the first price N ms after it\n"
    "                         triggers (default 0: at the stop, or the gap price)\n"
    "  --events-jsonl FILE    write every engine event as one JSON line\n"
    "  --chart FILE.svg       draw the run as an SVG picture\n"
    "  --store URI            journal the run in a store (SQLite file, sqlite:PATH or\n"
    "                         postgresql://...), readable with `trailguard state`\n"
    "  --account NAME         the store's account (default " TG_STORE_DEFAULT_ACCOUNT ")\n"
    "  --symbol NAME          the position's symbol in the store (default REPLAY)\n"
    "  --quiet                print nothing but errors\n"
    "\n"
    "engine parameters, each with a value (\"off\" for optional ones; see docs/engine.md):\n";

/* What the command line asked for. */
typedef struct replay_args {
    const char *data;        /* --data */
    const char *events_path; /* --events-jsonl, or NULL */
    const char *chart_path;  /* --chart, or NULL */
    const char *store_uri;   /* --store, or NULL */
    const char *account;     /* --account */
    const char *symbol;      /* --symbol */
    bool quiet;              /* --quiet */
    tg_side side;            /* --side */
    tg_dec entry;            /* --entry; zero = first price */
    tg_dec tick;             /* --tick-size; zero = from the file */
    tg_dec quantity;         /* --quantity */
    int64_t fill_latency_ms; /* --fill-latency-ms */
    tg_params_patch patch;   /* engine parameters given */
    tg_params params;        /* defaults with the patch laid over, validated */
} replay_args;

/* The progress bar on stderr. */
typedef struct progress_bar {
    bool enabled;          /* a terminal or TG_PROGRESS=1, and not --quiet */
    bool shown;            /* something was drawn: end with a newline */
    struct timespec start; /* when the command started */
    const char *stage;     /* "reading" or "replaying" */
} progress_bar;

/* Where the events go. */
typedef struct event_sink {
    FILE *f;        /* the JSONL file */
    int dp;         /* decimal places of prices (the tick's) */
    bool failed;    /* an event did not fit or could not be written */
    uint64_t lines; /* lines written */
} event_sink;

static void print_usage(void) {
    fputs(replay_usage, stdout);
    assert(tg_params_names() != NULL);
    for (const char *const *n = tg_params_names(); *n != NULL; n++) {
        printf("  --");
        for (const char *c = *n; *c != '\0'; c++) {
            putchar(*c == '_' ? '-' : *c);
        }
        fputs(" VALUE\n", stdout);
    }
}

static int64_t elapsed_ns(const struct timespec *start) {
    assert(start != NULL);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ns =
        (int64_t)(now.tv_sec - start->tv_sec) * 1000000000LL + (now.tv_nsec - start->tv_nsec);
    assert(ns >= 0); /* a monotonic clock */
    return ns;
}

static void progress_draw(void *ctx, uint64_t done, uint64_t total) {
    progress_bar *bar = ctx;
    assert(bar != NULL && bar->stage != NULL);
    if (!bar->enabled || total == 0 ||
        (!bar->shown && elapsed_ns(&bar->start) < PROGRESS_DELAY_NS)) {
        return;
    }
    unsigned filled = (unsigned)(done * PROGRESS_WIDTH / total);
    char cells[PROGRESS_WIDTH + 1];
    for (unsigned i = 0; i < PROGRESS_WIDTH; i++) {
        cells[i] = i < filled ? '#' : '.';
    }
    cells[PROGRESS_WIDTH] = '\0';
    fprintf(stderr, "\rtrailguard: %-9s [%s] %3u%%", bar->stage, cells,
            (unsigned)(done * 100 / total));
    fflush(stderr);
    bar->shown = true;
}

static void progress_end(progress_bar *bar) {
    assert(bar != NULL);
    if (bar->shown) {
        fputc('\n', stderr);
        bar->shown = false;
    }
    assert(!bar->shown);
}

static void write_event(void *ctx, const tg_event *ev) {
    event_sink *sink = ctx;
    assert(sink != NULL && sink->f != NULL && ev != NULL);
    char line[EVENT_JSON_MAX];
    size_t n = tg_event_json(ev, sink->dp, line, sizeof line - 1);
    if (n == 0) {
        sink->failed = true;
        return;
    }
    assert(n < sizeof line - 1); /* room for the newline */
    line[n++] = '\n';
    if (fwrite(line, 1, n, sink->f) != n) {
        sink->failed = true;
    }
    sink->lines++;
}

/* The engine parameter a flag names ("callback-percent"), or NULL. */
static const char *param_flag(const char *name) {
    assert(name != NULL);
    for (const char *const *n = tg_params_names(); *n != NULL; n++) {
        size_t i = 0;
        while (name[i] != '\0' && (*n)[i] != '\0' && (name[i] == '-' ? '_' : name[i]) == (*n)[i]) {
            i++;
        }
        if (name[i] == '\0' && (*n)[i] == '\0') {
            return *n;
        }
    }
    return NULL;
}

static bool parse_positive(const char *flag, const char *value, tg_dec *out) {
    assert(flag != NULL && value != NULL && out != NULL);
    tg_dec_status st = tg_dec_parse_cstr(value, out);
    if (st != TG_DEC_OK) {
        tg_cli_error("replay: --%s: '%s' is not a valid number (%s)", flag, value,
                     tg_dec_status_str(st));
        return false;
    }
    if (!tg_dec_is_pos(*out)) {
        tg_cli_error("replay: --%s: %s must be greater than 0", flag, value);
        return false;
    }
    return true;
}

static bool parse_latency(const char *value, int64_t *out) {
    assert(value != NULL && out != NULL);
    tg_dec v;
    tg_dec_status st = tg_dec_parse_cstr(value, &v);
    if (st != TG_DEC_OK || tg_dec_is_neg(v) || v.units % TG_DEC_SCALE != 0 ||
        v.units / TG_DEC_SCALE > TG_REPLAY_LATENCY_MS_MAX) {
        tg_cli_error(
            "replay: --fill-latency-ms: '%s' must be a whole number of milliseconds, 0 to %lld",
            value, (long long)TG_REPLAY_LATENCY_MS_MAX);
        return false;
    }
    *out = v.units / TG_DEC_SCALE;
    assert(*out >= 0 && *out <= TG_REPLAY_LATENCY_MS_MAX);
    return true;
}

/* Applies one "--name value"; false after printing why it is wrong. */
static bool set_option(replay_args *a, const char *name, const char *value) {
    assert(a != NULL && name != NULL && value != NULL);
    if (strcmp(name, "data") == 0) {
        a->data = value;
    } else if (strcmp(name, "events-jsonl") == 0) {
        a->events_path = value;
    } else if (strcmp(name, "chart") == 0) {
        a->chart_path = value;
    } else if (strcmp(name, "store") == 0) {
        a->store_uri = value;
    } else if (strcmp(name, "account") == 0) {
        a->account = value;
    } else if (strcmp(name, "symbol") == 0) {
        a->symbol = value;
    } else if (strcmp(name, "side") == 0) {
        if (strcmp(value, "long") != 0 && strcmp(value, "short") != 0) {
            tg_cli_error("replay: --side: '%s' must be 'long' or 'short'", value);
            return false;
        }
        a->side = strcmp(value, "long") == 0 ? TG_SIDE_LONG : TG_SIDE_SHORT;
    } else if (strcmp(name, "entry") == 0) {
        return parse_positive(name, value, &a->entry);
    } else if (strcmp(name, "tick-size") == 0) {
        return parse_positive(name, value, &a->tick);
    } else if (strcmp(name, "quantity") == 0) {
        return parse_positive(name, value, &a->quantity);
    } else if (strcmp(name, "fill-latency-ms") == 0) {
        return parse_latency(value, &a->fill_latency_ms);
    } else {
        tg_err err;
        tg_err_clear(&err);
        assert(param_flag(name) != NULL); /* parse_args() let only known flags through */
        if (tg_params_set(&a->patch, param_flag(name), value, &err) != TG_OK) {
            tg_cli_error("replay: %s", err.msg);
            return false;
        }
    }
    return true;
}

static bool is_known_flag(const char *name) {
    assert(name != NULL);
    static const char *const own[] = {"data",     "events-jsonl",    "chart", "side",
                                      "entry",    "tick-size",       "store", "account",
                                      "quantity", "fill-latency-ms", "symbol"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        if (strcmp(name, own[i]) == 0) {
            return true;
        }
    }
    return param_flag(name) != NULL;
}

/* An output that is the --data file (by name, symlink or hard link) would
 * overwrite the input: refused before anything is opened for writing. */
static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a != NULL && b != NULL && stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int check_outputs(const replay_args *a) {
    assert(a != NULL && a->data != NULL);
    const char *data = strcmp(a->data, "-") == 0 ? NULL : a->data;
    const struct {
        const char *flag; /* the option */
        const char *path; /* its file */
    } outs[] = {{"--events-jsonl", a->events_path}, {"--chart", a->chart_path}};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        if (same_file(outs[i].path, data)) {
            tg_cli_error("replay: %s %s is the --data file; it would be overwritten", outs[i].flag,
                         outs[i].path);
            return TG_EXIT_USAGE;
        }
    }
    if (same_file(a->events_path, a->chart_path) ||
        (a->events_path != NULL && a->chart_path != NULL &&
         strcmp(a->events_path, a->chart_path) == 0)) {
        tg_cli_error("replay: --events-jsonl and --chart name the same file %s", a->chart_path);
        return TG_EXIT_USAGE;
    }
    return -1;
}

/* Parses argv into *a. Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, replay_args *a) {
    assert(argc >= 1 && argv != NULL && argv[argc] == NULL);
    assert(a != NULL);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_usage();
            return TG_EXIT_OK;
        }
        if (strcmp(arg, "--quiet") == 0) {
            a->quiet = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            tg_cli_error("replay: unexpected argument '%s' (see trailguard replay --help)", arg);
            return TG_EXIT_USAGE;
        }
        char name[FLAG_NAME_MAX];
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (len < sizeof name) {
            memcpy(name, arg + 2, len);
            name[len] = '\0';
            assert(strlen(name) == len);
        }
        if (len >= sizeof name || !is_known_flag(name)) {
            tg_cli_error("replay: unknown option '%s' (see trailguard replay --help)", arg);
            return TG_EXIT_USAGE;
        }
        if (eq == NULL && i + 1 >= argc) {
            tg_cli_error("replay: --%s needs a value", name);
            return TG_EXIT_USAGE;
        }
        if (!set_option(a, name, eq != NULL ? eq + 1 : argv[++i])) {
            return TG_EXIT_USAGE;
        }
    }
    if (a->data == NULL) {
        tg_cli_error("replay: --data FILE is required (see trailguard replay --help)");
        return TG_EXIT_USAGE;
    }
    int rc = check_outputs(a);
    if (rc >= 0) {
        return rc;
    }
    tg_err err;
    tg_err_clear(&err);
    a->params = tg_params_default();
    tg_params_apply(&a->params, &a->patch);
    if (tg_params_validate(&a->params, &err) != TG_OK) {
        tg_cli_error("replay: %s", err.msg);
        return TG_EXIT_USAGE;
    }
    assert(a->data != NULL && a->account != NULL && a->symbol != NULL);
    return -1;
}

/* "+1.5000" / "-0.2500" / "0.0000". */
static void format_signed(tg_dec v, int dp, char *buf) {
    assert(buf != NULL && dp >= 0 && dp <= TG_DEC_DP);
    char num[TG_DEC_STR_MAX];
    tg_dec_format(v, dp, num);
    int n = snprintf(buf, TG_DEC_STR_MAX + 1, "%s%s", tg_dec_is_pos(v) ? "+" : "", num);
    assert(n > 0 && n < TG_DEC_STR_MAX + 1);
}

/* A bar interval in its natural unit: "1 min", "4 h", "250 ms". */
static void format_interval(int64_t ms, char *buf, size_t cap) {
    assert(buf != NULL && cap > 0);
    assert(ms > 0); /* tg_pricefile_load() asserts a bar file's interval > 0 */
    static const struct {
        int64_t ms;       /* size of the unit */
        const char *name; /* its symbol */
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "min"}, {1000, "s"}, {1, "ms"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].ms == 0) {
            int n = snprintf(buf, cap, "%lld %s", (long long)(ms / units[i].ms), units[i].name);
            assert(n > 0 && (size_t)n < cap);
            return;
        }
    }
    assert(false && "1 ms divides every interval");
}

/* "2 d 03:04:05" or "03:04:05". */
static void format_duration(int64_t ms, char *buf, size_t cap) {
    assert(buf != NULL && cap > 0);
    int64_t s = ms / 1000;
    long long d = (long long)(s / 86400);
    int h = (int)(s / 3600 % 24), m = (int)(s / 60 % 60), sec = (int)(s % 60);
    if (d > 0) {
        snprintf(buf, cap, "%lld d %02d:%02d:%02d", d, h, m, sec);
    } else {
        snprintf(buf, cap, "%02d:%02d:%02d", h, m, sec);
    }
}

static void print_input(const replay_args *a, const tg_pricefile *pf, const tg_replay_result *r,
                        int dp) {
    assert(a != NULL && pf != NULL && r != NULL);
    assert(dp >= 0 && dp <= TG_DEC_DP);
    char tick[TG_DEC_STR_MAX], entry[TG_DEC_STR_MAX], qty[TG_DEC_STR_MAX], when[TG_UTC_STR_MAX];
    tg_dec_format(r->tick, 0, tick);
    tg_dec_format(r->entry, dp, entry);
    tg_dec_format(r->quantity, 0, qty);
    tg_utc_format(r->opened_ms, when);
    printf("trailguard replay of %s\n", a->data);
    if (pf->format == TG_PRICEFILE_TICKS) {
        printf("  data           %s: %zu ticks, tick size %s\n",
               tg_pricefile_format_str(pf->format), pf->rows, tick);
    } else {
        char iv[48];
        format_interval(pf->interval_ms, iv, sizeof iv);
        printf("  data           %s: %zu bars %s apart, walked as %zu points, tick size %s\n",
               tg_pricefile_format_str(pf->format), pf->rows, iv, pf->count, tick);
    }
    printf("  position       %s %s at %s, opened %s\n", tg_side_str((tg_side)r->side), qty, entry,
           when);
    if (a->fill_latency_ms > 0) {
        printf("  fill latency   %lld ms\n", (long long)a->fill_latency_ms);
    }
}

static void print_activation(const replay_args *a, const tg_replay_result *r, int dp) {
    assert(a != NULL && r != NULL);
    assert(dp >= 0 && dp <= TG_DEC_DP);
    char level[TG_DEC_STR_MAX], pct[TG_DEC_STR_MAX], at[TG_DEC_STR_MAX], when[TG_UTC_STR_MAX];
    tg_dec_format(r->activation_price, dp, level);
    tg_dec_format(a->params.activation_pct, 0, pct);
    if (!r->activated) {
        printf("  activation     %s (%s %%): never reached\n", level, pct);
        return;
    }
    tg_dec_format(r->activated_price, dp, at);
    tg_utc_format(r->activated_ms, when);
    printf("  activation     %s (%s %%): %s at %s, by %s\n", level, pct, when, at,
           tg_reason_str((tg_reason)r->activation_reason));
}

static void print_updates(const tg_replay_result *r) {
    assert(r != NULL);
    printf("  stop updates   %u moves, plus %u activation placement%s, %u initial, %u breakeven"
           " (%u sent to the exchange; %u skips reported)\n",
           r->n_moves, r->n_activation_placements, r->n_activation_placements == 1 ? "" : "s",
           r->n_initial, r->n_breakeven, r->n_set_stop, r->n_skipped);
}

static void print_exit(const replay_args *a, const tg_replay_result *r, int dp) {
    assert(a != NULL && r != NULL);
    assert(dp >= 0 && dp <= TG_DEC_DP);
    char px[TG_DEC_STR_MAX], stop[TG_DEC_STR_MAX], slip[TG_DEC_STR_MAX], when[TG_UTC_STR_MAX];
    tg_dec_format(r->exit_price, dp, px);
    tg_utc_format(r->exit_ms, when);
    if (r->outcome == TG_REPLAY_OPEN) {
        printf("  exit           none: still open at the end, last price %s at %s\n", px, when);
        return;
    }
    if (r->outcome == TG_REPLAY_CLOSED) {
        printf("  exit           %s at %s, closed at market: the price crossed the stop's "
               "level (%u crossed)\n",
               when, px, r->n_crossed);
        return;
    }
    /* How far the fill is from the stop, in the position's favour. */
    tg_dec diff;
    tg_dec_status st = r->side == TG_SIDE_LONG ? tg_dec_sub(r->exit_price, r->trigger_stop, &diff)
                                               : tg_dec_sub(r->trigger_stop, r->exit_price, &diff);
    char away[TG_DEC_STR_MAX + 32] = "";
    if (st == TG_DEC_OK && !tg_dec_is_zero(diff)) {
        bool worse = tg_dec_is_neg(diff);
        tg_dec_abs(diff, &diff);
        tg_dec_format(diff, dp, slip);
        snprintf(away, sizeof away, ", %s %s than the stop", slip, worse ? "worse" : "better");
    }
    tg_dec_format(r->trigger_stop, dp, stop);
    const char *how = r->fill_truncated        ? "the file ended before the fill latency passed"
                      : a->fill_latency_ms > 0 ? "filled after the latency"
                      : r->gap                 ? "the price gapped through the stop"
                                               : "crossed inside a bar";
    printf("  exit           %s at %s by the stop at %s (%s%s)\n", when, px, stop, how, away);
}

static void print_result(const tg_replay_result *r, int dp) {
    assert(r != NULL);
    assert(dp >= 0 && dp <= TG_DEC_DP);
    char pct[TG_DEC_STR_MAX + 1], pnl[TG_DEC_STR_MAX + 1], mfe[TG_DEC_STR_MAX + 1];
    char best[TG_DEC_STR_MAX], cap[TG_DEC_STR_MAX + 1], when[TG_UTC_STR_MAX], held[48];
    if (!r->has_numbers) {
        printf("  result         n/a: %s does not fit a decimal (at most about 9.2e10)\n",
               r->overflowed);
        return;
    }
    format_signed(r->result_pct, 4, pct);
    format_signed(r->pnl, dp, pnl);
    format_signed(r->mfe_pct, 4, mfe);
    tg_dec_format(r->best_price, dp, best);
    tg_utc_format(r->best_ms, when);
    format_duration(r->exit_ms - r->opened_ms, held, sizeof held);
    printf("  result         %s %% vs entry%s (P&L %s in quote currency)\n", pct,
           r->outcome == TG_REPLAY_OPEN ? ", unrealised" : "", pnl);
    if (r->has_captured) {
        format_signed(r->captured_pct, 2, cap);
        printf("  max favourable %s %% (%s at %s); the exit kept %s %% of it\n", mfe, best, when,
               cap);
    } else {
        printf("  max favourable %s %%: the price never moved in the position's favour\n", mfe);
    }
    printf("  time in trade  %s\n", held);
}

static void print_summary(const replay_args *a, const tg_pricefile *pf, const tg_replay_result *r,
                          const event_sink *sink, const replay_store *rs, int dp) {
    assert(a != NULL && pf != NULL && r != NULL && sink != NULL && rs != NULL);
    print_input(a, pf, r, dp);
    print_activation(a, r, dp);
    print_updates(r);
    print_exit(a, r, dp);
    print_result(r, dp);
    if (a->events_path != NULL) {
        printf("  events         %s (%llu lines)\n", a->events_path,
               (unsigned long long)sink->lines);
    }
    if (a->chart_path != NULL) {
        printf("  chart          %s\n", a->chart_path);
    }
    if (a->store_uri != NULL) { /* the URI itself may hold a password: not shown */
        printf("  journaled      position %s of account %s (%llu engine outputs)\n",
               rs->row.position_key, a->account, (unsigned long long)rs->outputs);
    }
}

/* The picture goes to its own file; the data name in its title is the file's
 * base name, so that a chart does not reveal where it was made. */
static int write_chart(const replay_args *a, const tg_pricefile *pf, const tg_replay_result *r,
                       int dp) {
    assert(a != NULL && a->chart_path != NULL && a->data != NULL);
    assert(pf != NULL && r != NULL);
    FILE *f = fopen(a->chart_path, "w");
    if (f == NULL) {
        tg_cli_error("replay: cannot create %s: %s", a->chart_path, strerror(errno));
        return TG_EXIT_USAGE;
    }
    const char *slash = strrchr(a->data, '/');
    tg_chart chart = {pf->points, pf->count, r, slash != NULL ? slash + 1 : a->data, dp, NULL};
    tg_err err;
    tg_err_clear(&err);
    tg_status st = tg_chart_write(f, &chart, &err);
    if (fclose(f) != 0 && st == TG_OK) {
        st = tg_err_set(&err, TG_E_IO, "closing the file failed");
    }
    if (st != TG_OK) {
        tg_cli_error("replay: %s: %s", a->chart_path, err.msg);
        return TG_EXIT_FAILURE;
    }
    return TG_EXIT_OK;
}

/* Runs the engine over the file, streaming events to --events-jsonl and,
 * with --store, journaling every output. */
static int run(const replay_args *a, const tg_pricefile *pf, progress_bar *bar, tg_replay_result *r,
               event_sink *sink, replay_store *rs) {
    assert(a != NULL && pf != NULL && bar != NULL && r != NULL && sink != NULL && rs != NULL);
    tg_dec tick = tg_dec_is_pos(a->tick) ? a->tick : tg_pricefile_tick(pf);
    assert(tg_dec_is_pos(tick)); /* --tick-size is > 0; the file's is 10^-dp */
    tg_replay_opts o = tg_replay_opts_default(tick, pf->walk_len);
    o.side = a->side;
    o.entry = a->entry;
    o.quantity = a->quantity;
    o.fill_latency_ms = a->fill_latency_ms;
    o.params = a->params;
    o.progress = (tg_progress){progress_draw, bar};
    sink->dp = tg_dec_places(tick);
    if (a->events_path != NULL) {
        sink->f = fopen(a->events_path, "w");
        if (sink->f == NULL) {
            tg_cli_error("replay: cannot create %s: %s", a->events_path, strerror(errno));
            return TG_EXIT_USAGE;
        }
        o.on_event = write_event;
        o.event_ctx = sink;
    }
    tg_err err;
    tg_err_clear(&err);
    if (a->store_uri != NULL) {
        if (tg_replay_store_open(rs, a->store_uri, a->account, a->symbol, a->side, &err) != TG_OK) {
            tg_cli_error("replay: --store: %s", err.msg);
            if (sink->f != NULL) {
                fclose(sink->f);
            }
            return TG_EXIT_FAILURE;
        }
        o.on_output = tg_replay_store_output;
        o.output_ctx = rs;
    }
    bar->stage = "replaying";
    tg_status st = tg_replay_run(pf->points, pf->count, &o, r, &err);
    progress_end(bar);
    if (a->store_uri != NULL && st == TG_OK) {
        tg_replay_store_final(rs, &r->final);
    }
    tg_err store_err;
    tg_err_clear(&store_err);
    if (a->store_uri != NULL && tg_replay_store_close(rs, &store_err) != TG_OK && st == TG_OK) {
        st = tg_err_set(&err, TG_E_IO, "--store: %s", store_err.msg);
    }
    if (sink->f != NULL && fclose(sink->f) != 0) {
        sink->failed = true;
    }
    if (st != TG_OK) {
        tg_cli_error("replay: %s", err.msg);
        return st == TG_E_INVALID ? TG_EXIT_USAGE : TG_EXIT_FAILURE;
    }
    if (sink->failed) {
        tg_cli_error("replay: writing %s failed", a->events_path);
        return TG_EXIT_FAILURE;
    }
    return TG_EXIT_OK;
}

static void warn_anomalies(const tg_replay_result *r) {
    assert(r != NULL);
    if (r->wrong_side_stops > 0 || r->loosened_stops > 0) {
        tg_cli_error("warning: the engine asked for %u stop(s) at or past the price and %u "
                     "looser stop(s); this is an engine bug, please report it",
                     r->wrong_side_stops, r->loosened_stops);
    }
    if (r->final.stale_ticks > 0) {
        tg_cli_error("warning: the engine ignored %u price(s) it does not accept (above "
                     "1000000000); the run is not a faithful back-test",
                     r->final.stale_ticks);
    }
}

int tg_cli_replay(int argc, char **argv) {
    assert(argc >= 1 && argv != NULL);
    replay_args a;
    memset(&a, 0, sizeof a);
    a.side = TG_SIDE_LONG;
    a.account = TG_STORE_DEFAULT_ACCOUNT;
    a.symbol = "REPLAY";
    a.quantity = tg_dec_from_units(TG_DEC_SCALE);
    progress_bar bar = {false, false, {0, 0}, "reading"};
    clock_gettime(CLOCK_MONOTONIC, &bar.start);
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        return rc;
    }
    const char *force = getenv("TG_PROGRESS");
    bar.enabled = !a.quiet && (isatty(STDERR_FILENO) || (force != NULL && strcmp(force, "1") == 0));
    tg_pricefile pf;
    tg_err err;
    tg_err_clear(&err);
    tg_progress progress = {progress_draw, &bar};
    tg_status st = tg_pricefile_load(a.data, &pf, &progress, &err);
    progress_end(&bar);
    if (st != TG_OK) {
        tg_cli_error("%s", err.msg);
        return st == TG_E_NOMEM ? TG_EXIT_FAILURE : TG_EXIT_USAGE;
    }
    tg_replay_result r;
    memset(&r, 0, sizeof r); /* freed below whether or not the run got to fill it */
    event_sink sink = {NULL, 0, false, 0};
    replay_store rs;
    memset(&rs, 0, sizeof rs);
    rc = run(&a, &pf, &bar, &r, &sink, &rs);
    if (rc == TG_EXIT_OK && a.chart_path != NULL) {
        rc = write_chart(&a, &pf, &r, sink.dp);
    }
    if (rc == TG_EXIT_OK) {
        warn_anomalies(&r);
        if (!a.quiet) {
            print_summary(&a, &pf, &r, &sink, &rs, sink.dp);
        }
        if (fflush(stdout) != 0 || ferror(stdout)) {
            tg_cli_error("replay: writing the summary to standard output failed: %s",
                         strerror(errno));
            rc = TG_EXIT_FAILURE;
        }
    }
    tg_replay_result_free(&r);
    tg_pricefile_free(&pf);
    return rc;
}
