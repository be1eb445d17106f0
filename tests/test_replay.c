/* The back-tester: hand-computed runs, the fill model, properties of runs on
 * real market data, determinism, and the command line's exit codes. */
#define _POSIX_C_SOURCE 200809L

#define _POSIX_C_SOURCE 200809L /* symlink, link */
#include "replay_testutil.h"

#include <unistd.h>

#include "replay/chart.h"
#include "replay/genpath.h"
#include "replay/pricefile.h"
#include "replay/replay.h"

#define JAN1       1640995200000LL /* 2022-01-01T00:00:00Z */
#define EVENTS_MAX 100000          /* events kept from one run */

/* Every event of a run, in order. */
typedef struct event_log {
    tg_event *ev; /* events */
    size_t n;     /* events kept */
} event_log;

static void keep_event(void *ctx, const tg_event *ev) {
    event_log *log = ctx;
    assert_true(log->n < EVENTS_MAX);
    log->ev[log->n++] = *ev;
}

static event_log log_new(void) {
    event_log log = {calloc(EVENTS_MAX, sizeof(tg_event)), 0};
    assert_non_null(log.ev);
    return log;
}

static tg_replay_opts opts_new(const char *tick, uint8_t walk_len, tg_side side, event_log *log) {
    tg_replay_opts o = tg_replay_opts_default(tu_dec(tick), walk_len);
    o.side = side;
    o.on_event = keep_event;
    o.event_ctx = log;
    return o;
}

static void run_ok(const tg_pricepoint *pts, size_t n, const tg_replay_opts *o,
                   tg_replay_result *r) {
    tg_err err = {0};
    if (tg_replay_run(pts, n, o, r, &err) != TG_OK) {
        fail_msg("replay failed: %s", err.msg);
    }
    assert_int_equal(r->wrong_side_stops, 0);
    assert_int_equal(r->loosened_stops, 0);
    assert_int_equal(r->final.stale_ticks, 0);
}

static void assert_types(const event_log *log, const tg_event_type *want, size_t n) {
    if (log->n != n) {
        fail_msg("%zu events, want %zu", log->n, n);
    }
    for (size_t i = 0; i < n; i++) {
        if (log->ev[i].type != want[i]) {
            fail_msg("event %zu is %s, want %s", i, tg_event_type_str(log->ev[i].type),
                     tg_event_type_str(want[i]));
        }
    }
}

static void parse_points(const char *text, tg_pricefile *pf) {
    tg_err err = {0};
    if (tg_pricefile_parse(text, strlen(text), pf, NULL, &err) != TG_OK) {
        fail_msg("parse: %s", err.msg);
    }
}

/* Entry 50000; 51500 activates (1.5 % → 50750) and the stop goes to
 * 51500 × (1 − 0.5 %) = 51242.50; 51000 jumps through it: a tick is
 * discrete, so the fill is 51000. */
static void ticks_activate_trail_and_gap_through(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_points("1640995200000,50000\n1640995201000,51500\n1640995202000,51000\n", &pf);
    event_log log = log_new();
    tg_replay_opts o = opts_new("0.01", pf.walk_len, TG_SIDE_LONG, &log);
    tg_replay_result r;
    run_ok(pf.points, pf.count, &o, &r);
    tu_assert_dec(r.activation_price, "50750");
    assert_true(r.activated);
    assert_int_equal(r.activated_ms, JAN1 + 1000);
    tu_assert_dec(r.activated_price, "51500");
    assert_int_equal(r.n_activation_placements, 1);
    assert_int_equal(r.n_moves, 0);
    assert_int_equal(r.outcome, TG_REPLAY_STOPPED);
    tu_assert_dec(r.trigger_stop, "51242.50");
    assert_true(r.gap);
    tu_assert_dec(r.exit_price, "51000");
    assert_int_equal(r.exit_ms, JAN1 + 2000);
    tu_assert_dec(r.result_pct, "2"); /* 1000 / 50000 */
    tu_assert_dec(r.pnl, "1000");
    tu_assert_dec(r.mfe_pct, "3"); /* 1500 / 50000 */
    assert_true(r.has_captured);
    tu_assert_dec(r.captured_pct, "66.67"); /* 2 / 3, rounded half up */
    const tg_event_type want[] = {TG_EV_CREATED,   TG_EV_ACTIVATED, TG_EV_STOP_MOVED,
                                  TG_EV_CONFIRMED, TG_EV_TRIGGERED, TG_EV_CLOSED};
    assert_types(&log, want, sizeof want / sizeof want[0]);
    assert_int_equal(log.ev[5].reason, TG_R_STOP);
    assert_int_equal(r.n_stops, 2); /* held from activation, gone at the trigger */
    tu_assert_dec(r.stops[0].price, "51242.50");
    assert_true(tg_dec_is_zero(r.stops[1].price));
    tg_replay_result_free(&r);

    /* With tick 1 the stop rounds away from the market: 51242. */
    log.n = 0;
    o.tick = tu_dec("1");
    run_ok(pf.points, pf.count, &o, &r);
    tu_assert_dec(r.trigger_stop, "51242");
    tu_assert_dec(r.exit_price, "51000");
    tg_replay_result_free(&r);
    tg_pricefile_free(&pf);
    free(log.ev);
}

/* The mirror image: 48500 activates (49250) with the stop at 48742.50;
 * 49000 jumps through it. */
static void short_mirrors_long(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_points("1640995200000,50000\n1640995201000,48500\n1640995202000,49000\n", &pf);
    event_log log = log_new();
    tg_replay_opts o = opts_new("0.01", pf.walk_len, TG_SIDE_SHORT, &log);
    tg_replay_result r;
    run_ok(pf.points, pf.count, &o, &r);
    tu_assert_dec(r.activation_price, "49250");
    tu_assert_dec(r.trigger_stop, "48742.50");
    tu_assert_dec(r.exit_price, "49000");
    tu_assert_dec(r.result_pct, "2");
    tu_assert_dec(r.pnl, "1000");
    tu_assert_dec(r.mfe_pct, "3");
    tu_assert_dec(r.best_price, "48500");
    tg_replay_result_free(&r);
    tg_pricefile_free(&pf);
    free(log.ev);
}

#define BARS_HEADER "timestamp,open,high,low,close,volume\n"
#define BAR0        "1640995200000,50000,50000,50000,50000,0\n"
/* walk 50500 → 50400 → 51500 (activates, stop 51242.50) → close */
#define BAR1(close) "1640995260000,50500,51500,50400," close ",0\n"

/* Inside a bar the price walks continuously: from 51500 down to 51000 it
 * passes 51242.50, which fills exactly there, 257.5/500 of the way through
 * the 15 s segment: 7725 ms after the high. */
static void bar_crossing_fills_at_the_stop(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_points(BARS_HEADER BAR0 BAR1("51000"), &pf);
    event_log log = log_new();
    tg_replay_opts o = opts_new("0.01", pf.walk_len, TG_SIDE_LONG, &log);
    tg_replay_result r;
    run_ok(pf.points, pf.count, &o, &r);
    assert_int_equal(r.activated_ms, JAN1 + 90000);
    assert_int_equal(r.outcome, TG_REPLAY_STOPPED);
    assert_false(r.gap);
    tu_assert_dec(r.trigger_stop, "51242.50");
    tu_assert_dec(r.exit_price, "51242.50");
    assert_int_equal(r.trigger_ms, JAN1 + 97725);
    assert_int_equal(r.exit_ms, JAN1 + 97725);
    tu_assert_dec(r.result_pct, "2.485");
    tu_assert_dec(r.captured_pct, "82.83"); /* 2.485 / 3 */
    assert_int_equal(log.ev[log.n - 1].ts_ms, JAN1 + 97725);
    tg_replay_result_free(&r);
    tg_pricefile_free(&pf);
    free(log.ev);
}

/* Between a close (51400, above the stop) and the next open (51000) the
 * price jumps: the fill is the open. */
static void gap_between_bars_fills_at_the_open(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_points(BARS_HEADER BAR0 BAR1("51400") "1640995320000,51000,51100,50950,51050,0\n", &pf);
    event_log log = log_new();
    tg_replay_opts o = opts_new("0.01", pf.walk_len, TG_SIDE_LONG, &log);
    tg_replay_result r;
    run_ok(pf.points, pf.count, &o, &r);
    assert_int_equal(r.outcome, TG_REPLAY_STOPPED);
    assert_true(r.gap);
    tu_assert_dec(r.exit_price, "51000");
    assert_int_equal(r.exit_ms, JAN1 + 120000);
    assert_int_equal(r.points_used, 9);
    tg_replay_result_free(&r);
    tg_pricefile_free(&pf);
    free(log.ev);
}

/* With a latency the fill is the first point at or after trigger + N. */
static void fill_latency_takes_the_first_price_after_it(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_points(BARS_HEADER BAR0 BAR1("51000") "1640995320000,50800,50800,50700,50750,0\n", &pf);
    event_log log = log_new();
    tg_replay_opts o = opts_new("0.01", pf.walk_len, TG_SIDE_LONG, &log);
    tg_replay_result r;
    o.fill_latency_ms = 10000; /* due at 107725: the close (105000) is too early */
    run_ok(pf.points, pf.count, &o, &r);
    assert_int_equal(r.trigger_ms, JAN1 + 97725);
    tu_assert_dec(r.exit_price, "50800");
    assert_int_equal(r.exit_ms, JAN1 + 120000);
    assert_false(r.fill_truncated);
    tu_assert_dec(r.result_pct, "1.6");
    tg_replay_result_free(&r);
    /* Without the third bar the path ends first: the last price, flagged. */
    run_ok(pf.points, 8, &o, &r);
    assert_true(r.fill_truncated);
    tu_assert_dec(r.exit_price, "51000");
    assert_int_equal(r.exit_ms, JAN1 + 105000);
    tg_replay_result_free(&r);
    tg_pricefile_free(&pf);

    /* Ticks: trigger at 2000; 400 ms later is the 2400 tick, 500 the 3000. */
    parse_points("1640995200000,50000\n1640995201000,51500\n1640995202000,51000\n"
                 "1640995202400,50900\n1640995203000,50800\n",
                 &pf);
    o.walk_len = 1;
    const int64_t latency[] = {400, 500, 1000, 1001};
    const char *fill[] = {"50900", "50800", "50800", "50800"};
    for (size_t i = 0; i < 4; i++) {
        o.fill_latency_ms = latency[i];
        run_ok(pf.points, pf.count, &o, &r);
        tu_assert_dec(r.exit_price, fill[i]);
        assert_int_equal(r.fill_truncated, latency[i] > 1000);
        tg_replay_result_free(&r);
    }
    tg_pricefile_free(&pf);
    free(log.ev);
}

/* An initial stop 2 % below entry is 49000; 48900 jumps through it. Nothing
 * favourable happened, so there is no share to capture. */
static void initial_stop_and_no_excursion(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_points("1640995200000,50000\n1640995201000,49500\n1640995202000,48900\n", &pf);
    event_log log = log_new();
    tg_replay_opts o = opts_new("0.01", pf.walk_len, TG_SIDE_LONG, &log);
    tg_params_patch patch = {0};
    tg_err err = {0};
    assert_int_equal(tg_params_set(&patch, "initial-stop-percent", "2", &err), TG_OK);
    tg_params_apply(&o.params, &patch);
    tg_replay_result r;
    run_ok(pf.points, pf.count, &o, &r);
    assert_int_equal(r.n_initial, 1);
    assert_false(r.activated);
    tu_assert_dec(r.trigger_stop, "49000");
    tu_assert_dec(r.exit_price, "48900");
    tu_assert_dec(r.result_pct, "-2.2");
    tu_assert_dec(r.mfe_pct, "0");
    assert_false(r.has_captured);
    tg_replay_result_free(&r);
    tg_pricefile_free(&pf);
    free(log.ev);
}

/* The engine ignores prices above 1e9: such a path is refused, and a gain
 * too large for a decimal is reported missing, never wrapped. */
static void prices_out_of_the_engine_range(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_points("1640995200000,50000\n1640995201000,1000000000.01\n", &pf);
    tg_replay_opts o = tg_replay_opts_default(tu_dec("0.01"), 1);
    tg_replay_result r;
    tg_err err = {0};
    assert_int_equal(tg_replay_run(pf.points, pf.count, &o, &r, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "1000000000.01 at 2022-01-01T00:00:01Z"));
    assert_null(r.stops);
    tg_pricefile_free(&pf);
    parse_points("1640995200000,0.00000001\n1640995201000,1000000000\n", &pf);
    o.tick = tu_dec("0.00000001");
    assert_int_equal(tg_replay_run(pf.points, pf.count, &o, &r, &err), TG_OK);
    assert_false(r.has_numbers);
    assert_false(r.has_captured);
    tg_replay_result_free(&r);
    tg_pricefile_free(&pf);
}

static void open_at_the_end(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_points("1640995200000,50000\n1640995201000,50100\n", &pf);
    event_log log = log_new();
    tg_replay_opts o = opts_new("0.01", pf.walk_len, TG_SIDE_LONG, &log);
    tg_replay_result r;
    run_ok(pf.points, pf.count, &o, &r);
    assert_int_equal(r.outcome, TG_REPLAY_OPEN);
    assert_false(r.activated);
    tu_assert_dec(r.exit_price, "50100");
    assert_int_equal(r.exit_ms, JAN1 + 1000);
    tu_assert_dec(r.result_pct, "0.2");
    assert_int_equal(log.n, 1); /* created only */
    tg_replay_result_free(&r);
    tg_pricefile_free(&pf);
    free(log.ev);
}

/* a is tighter than b for the side: higher for a long stop. */
static bool tighter(tg_side side, tg_dec a, tg_dec b) {
    return side == TG_SIDE_LONG ? tg_dec_gt(a, b) : tg_dec_lt(a, b);
}

/* What must hold for any run, whatever the prices. */
static void check_run(const tg_replay_opts *o, const tg_replay_result *r, const event_log *log,
                      const tg_pricepoint *pts) {
    assert_true(log->n >= 1 && log->ev[0].type == TG_EV_CREATED);
    bool have = false, activated = false;
    tg_dec confirmed = {0};
    int64_t confirmed_ms = 0;
    size_t stop_k = 0;
    for (size_t i = 0; i < log->n; i++) {
        const tg_event *ev = &log->ev[i];
        assert_true(i == 0 || ev->ts_ms >= log->ev[i - 1].ts_ms);
        activated |= ev->type == TG_EV_ACTIVATED;
        if (ev->type == TG_EV_STOP_MOVED) {
            /* requested on the safe side of the price, tighter than before */
            assert_true(tighter(o->side, ev->price, ev->stop));
            assert_true(!(ev->has & TG_EVH_PREV) || tighter(o->side, ev->stop, ev->prev_stop));
        }
        if (ev->type == TG_EV_CONFIRMED) {
            assert_true(!have || !tighter(o->side, confirmed, ev->stop)); /* never loosens */
            have = true;
            confirmed = ev->stop;
            confirmed_ms = ev->ts_ms;
            assert_true(stop_k < r->n_stops); /* the exchange history agrees */
            assert_true(tg_dec_eq(r->stops[stop_k].price, ev->stop));
            stop_k++;
        }
    }
    assert_int_equal(activated, r->activated);
    const tg_event *last = &log->ev[log->n - 1];
    if (r->outcome == TG_REPLAY_OPEN) {
        assert_true(last->type != TG_EV_CLOSED && last->type != TG_EV_TRIGGERED);
        assert_true(tg_dec_eq(r->exit_price, pts[r->points_used - 1].price));
        return;
    }
    assert_int_equal(last->type, TG_EV_CLOSED);
    assert_true(tg_dec_eq(last->price, r->exit_price));
    assert_int_equal(last->ts_ms, r->exit_ms);
    if (r->outcome == TG_REPLAY_CLOSED) {
        assert_int_equal(last->reason, TG_R_CLOSE_POSITION);
        return;
    }
    const tg_event *trig = &log->ev[log->n - 2];
    assert_int_equal(last->reason, TG_R_STOP);
    assert_int_equal(trig->type, TG_EV_TRIGGERED);
    assert_true(tg_dec_eq(trig->price, r->exit_price));
    assert_true(have && tg_dec_eq(confirmed, r->trigger_stop) && tg_dec_eq(trig->stop, confirmed));
    assert_true(r->trigger_ms >= confirmed_ms && r->exit_ms >= r->trigger_ms);
    if (o->fill_latency_ms == 0) {
        /* at the stop, or worse when the price jumped through it */
        assert_true(r->gap ? tighter(o->side, confirmed, r->exit_price)
                           : tg_dec_eq(r->exit_price, confirmed));
    } else if (!r->fill_truncated) {
        assert_true(r->exit_ms >= r->trigger_ms + o->fill_latency_ms);
    }
}

/* The excursion bounds the result, and the numbers agree with each other. */
static void check_numbers(const tg_replay_opts *o, const tg_replay_result *r) {
    assert_true(r->has_numbers);
    assert_true(tg_dec_ge(r->mfe_pct, r->result_pct));
    assert_false(tg_dec_is_neg(r->mfe_pct));
    int dir = tg_dec_cmp(r->exit_price, r->entry) * (o->side == TG_SIDE_LONG ? 1 : -1);
    assert_int_equal(tg_dec_cmp(r->pnl, tg_dec_from_units(0)), dir);
    if (r->has_captured) {
        assert_true(tg_dec_le(r->captured_pct, tu_dec("100")));
    }
    assert_true(!tighter(o->side, r->exit_price, r->best_price) ||
                tg_dec_eq(r->exit_price, r->best_price));
}

/* Long and short, two parameter sets and two fill models, from ten
 * starting points spread over the month of real BTC prices. */
static void real_data_runs_keep_the_invariants(void **state) {
    (void)state;
    TU_NEED_FILE(TU_BTC_CSV);
    tg_pricefile pf;
    tg_err err = {0};
    assert_int_equal(tg_pricefile_load(TU_BTC_CSV, &pf, NULL, &err), TG_OK);
    event_log log = log_new();
    size_t stopped = 0, moves = 0;
    for (size_t start = 0; start < pf.rows; start += 4500) {
        for (int variant = 0; variant < 8; variant++) {
            tg_replay_opts o =
                opts_new("0.001", pf.walk_len, variant & 1 ? TG_SIDE_SHORT : TG_SIDE_LONG, &log);
            if (variant & 2) {
                tg_params_patch patch = {0};
                assert_int_equal(tg_params_set(&patch, "activation-percent", "0.8", &err), TG_OK);
                assert_int_equal(tg_params_set(&patch, "callback-percent", "1.2", &err), TG_OK);
                assert_int_equal(tg_params_set(&patch, "min-update-interval-seconds", "0", &err),
                                 TG_OK);
                tg_params_apply(&o.params, &patch);
            }
            o.fill_latency_ms = variant & 4 ? 20000 : 0;
            log.n = 0;
            tg_replay_result r;
            const tg_pricepoint *pts = pf.points + start * 4;
            run_ok(pts, pf.count - start * 4, &o, &r);
            check_run(&o, &r, &log, pts);
            check_numbers(&o, &r);
            stopped += r.outcome == TG_REPLAY_STOPPED;
            moves += r.n_moves;
            tg_replay_result_free(&r);
        }
    }
    /* Not a claim about the data: only that the checks above were not
     * vacuous (some runs reached their stop after moving it). */
    assert_true(stopped > 0);
    assert_true(moves > 0);
    tg_pricefile_free(&pf);
    free(log.ev);
}

/* The value of "key":"..." in a JSON line, as a decimal; false if absent
 * or null. */
static bool json_dec(const char *line, const char *key, tg_dec *out) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *at = strstr(line, pat);
    if (at == NULL) {
        return false;
    }
    at += strlen(pat);
    const char *end = strchr(at, '"');
    assert_non_null(end);
    return tg_dec_parse(at, (size_t)(end - at), out, NULL) == TG_DEC_OK;
}

/* The JSONL that the library writes for these options, in memory. */
static char *jsonl_of(const tg_pricefile *pf, tg_replay_opts *o, tg_replay_result *r) {
    event_log log = log_new();
    o->on_event = keep_event;
    o->event_ctx = &log;
    run_ok(pf->points, pf->count, o, r);
    size_t cap = log.n * 256 + 1, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t i = 0; i < log.n; i++) {
        size_t n = tg_event_json(&log.ev[i], tg_dec_places(o->tick), text + len, cap - len - 1);
        assert_true(n > 0);
        len += n;
        text[len++] = '\n';
    }
    text[len] = '\0';
    free(log.ev);
    return text;
}

/* Reads the file the command wrote: the stop never loosens from line to
 * line, and the last two lines are the trigger and the close at the exit. */
static void check_jsonl_file(const char *text, tg_side side, const tg_replay_result *r) {
    tg_dec stop = {0}, v;
    bool have = false;
    char line[512], prev[512] = "", last[512] = "";
    for (const char *at = text; *at != '\0';) {
        size_t n = strcspn(at, "\n");
        assert_true(n < sizeof line && at[n] == '\n');
        memcpy(line, at, n);
        line[n] = '\0';
        at += n + 1;
        if (strstr(line, "\"type\":\"confirmed\"") != NULL) {
            assert_true(json_dec(line, "stop", &v));
            assert_true(!have || !tighter(side, stop, v));
            stop = v;
            have = true;
        }
        memcpy(prev, last, sizeof prev);
        memcpy(last, line, sizeof last);
    }
    if (r->outcome == TG_REPLAY_STOPPED) {
        assert_non_null(strstr(prev, "\"type\":\"triggered\""));
        assert_non_null(strstr(last, "\"type\":\"closed\",\"reason\":\"stop\""));
        assert_true(json_dec(last, "price", &v) && tg_dec_eq(v, r->exit_price));
        assert_true(json_dec(prev, "price", &v) && tg_dec_eq(v, r->exit_price));
        assert_true(have && tg_dec_eq(stop, r->trigger_stop));
    }
}

/* `trailguard replay` on the real month, long and short: the file it writes
 * is byte for byte the library's events, and reads as a sound run. */
static void cli_jsonl_is_the_engine_events(void **state) {
    (void)state;
    TU_NEED_FILE(TU_BTC_CSV);
    tg_pricefile pf;
    tg_err err = {0};
    assert_int_equal(tg_pricefile_load(TU_BTC_CSV, &pf, NULL, &err), TG_OK);
    char out[TU_PATH_MAX], errp[TU_PATH_MAX], ev[TU_PATH_MAX], svg[TU_PATH_MAX];
    tu_path(out, "replay", "out.txt");
    tu_path(errp, "replay", "err.txt");
    tu_path(ev, "replay", "events.jsonl");
    tu_path(svg, "replay", "chart.svg");
    for (int side = 0; side < 2; side++) {
        const char *name = side ? "short" : "long";
        int rc = tu_run_cli(out, errp,
                            "replay --data '%s' --side %s --callback-percent 0.8 "
                            "--events-jsonl '%s' --chart '%s'",
                            TU_BTC_CSV, name, ev, svg);
        assert_int_equal(rc, 0);
        tg_replay_opts o = tg_replay_opts_default(tg_pricefile_tick(&pf), pf.walk_len);
        o.side = side ? TG_SIDE_SHORT : TG_SIDE_LONG;
        o.params.callback = tu_dec("0.8");
        tg_replay_result r;
        char *want = jsonl_of(&pf, &o, &r);
        char *got = tu_read(ev, NULL);
        assert_string_equal(got, want);
        check_jsonl_file(got, o.side, &r);
        char *chart = tu_read(svg, NULL);
        assert_ptr_equal(strstr(chart, "<svg"), chart);
        assert_non_null(strstr(chart, "</svg>\n"));
        assert_null(strstr(chart, "nan"));
        assert_null(strstr(chart, "inf"));
        free(chart);
        free(got);
        free(want);
        tg_replay_result_free(&r);
    }
    tg_pricefile_free(&pf);
}

/* Two runs, byte-identical events and summary. */
static void cli_is_deterministic(void **state) {
    (void)state;
    TU_NEED_FILE(TU_BTC_CSV);
    char out[TU_PATH_MAX], ev[TU_PATH_MAX], errp[TU_PATH_MAX];
    char *events[2], *summary[2];
    size_t len[2];
    tu_path(errp, "replay", "det-err.txt");
    tu_path(out, "replay", "det-out.txt");
    tu_path(ev, "replay", "det-ev.jsonl");
    for (int i = 0; i < 2; i++) {
        int rc = tu_run_cli(out, errp,
                            "replay --data '%s' --side short --fill-latency-ms 30000 "
                            "--activation-percent 1 --events-jsonl '%s'",
                            TU_BTC_CSV, ev);
        assert_int_equal(rc, 0);
        events[i] = tu_read(ev, &len[i]);
        summary[i] = tu_read(out, NULL);
        remove(ev);
    }
    assert_true(len[0] > 0);
    assert_int_equal(len[0], len[1]);
    assert_memory_equal(events[0], events[1], len[0]);
    assert_string_equal(summary[0], summary[1]);
    for (int i = 0; i < 2; i++) {
        free(events[i]);
        free(summary[i]);
    }
}

/* A command line that must fail with status 2 and a one-line message. */
typedef struct bad_cli {
    const char *args;   /* after `trailguard` (DATA and BAD replaced below) */
    const char *needle; /* expected in the message */
} bad_cli;

static void cli_bad_usage_exits_2(void **state) {
    (void)state;
    char good[TU_PATH_MAX], bad[TU_PATH_MAX], empty[TU_PATH_MAX], huge[TU_PATH_MAX],
        out[TU_PATH_MAX], errp[TU_PATH_MAX];
    tu_write(tu_path(good, "replay", "good.csv"), "timestamp_ms,price\n1000,50000\n2000,50001\n");
    tu_write(tu_path(bad, "replay", "bad.csv"), "timestamp_ms,price\n1000,50000\n2000,5x\n");
    tu_write(tu_path(empty, "replay", "empty.csv"), "");
    tu_write(tu_path(huge, "replay", "huge.csv"), "1000,50000\n2000,1000000001\n");
    tu_path(out, "replay", "bad-out.txt");
    tu_path(errp, "replay", "bad-err.txt");
    const bad_cli cases[] = {
        {"replay", "--data FILE is required"},
        {"replay --data GOOD --bogus 1", "unknown option '--bogus'"},
        {"replay --data GOOD stray", "unexpected argument 'stray'"},
        {"replay --data GOOD --side sideways", "'long' or 'short'"},
        {"replay --data GOOD --entry", "--entry needs a value"},
        {"replay --data GOOD --entry -3", "must be greater than 0"},
        {"replay --data GOOD --tick-size 1e-2", "scientific notation"},
        {"replay --data GOOD --quantity 0", "must be greater than 0"},
        {"replay --data GOOD --fill-latency-ms 1.5", "whole number of milliseconds"},
        {"replay --data GOOD --callback-percent abc", "callback_percent"},
        {"replay --data GOOD --callback-percent=0", "callback_percent is 0"},
        {"replay --data GOOD --steps 1:0.5,2:0.7", "steps"},
        {"replay --data GOOD --tick-size 100000", "tick size"},
        {"replay --data /nonexistent/x.csv", "cannot open /nonexistent/x.csv"},
        {"replay --data EMPTY", "empty"},
        {"replay --data BAD", "line 3: price '5x'"},
        {"replay --data GOOD --events-jsonl /nonexistent/dir/e.jsonl", "cannot create"},
        {"replay --data HUGE", "above 1000000000"},
        {"frobnicate", "unknown command 'frobnicate'"},
        {"", "usage: trailguard"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[TU_CMD_MAX / 4], *w = args;
        for (const char *a = cases[i].args; *a != '\0';) {
            static const char *const names[] = {"GOOD", "BAD", "EMPTY", "HUGE"};
            const char *paths[] = {good, bad, empty, huge};
            size_t k = 0;
            while (k < 4 && strncmp(a, names[k], strlen(names[k])) != 0) {
                k++;
            }
            if (k < 4) {
                w += sprintf(w, "'%s'", paths[k]);
                a += strlen(names[k]);
            } else {
                *w++ = *a++;
            }
        }
        *w = '\0';
        int rc = tu_run_cli(out, errp, "%s", args);
        char *msg = tu_read(errp, NULL);
        if (rc != 2 || strstr(msg, cases[i].needle) == NULL) {
            fail_msg("'%s': status %d, stderr '%s'; want 2 with '%s'", args, rc, msg,
                     cases[i].needle);
        }
        bool usage = strncmp(msg, "usage:", 6) == 0;
        assert_true(usage || strncmp(msg, "trailguard: ", 12) == 0);
        if (strncmp(cases[i].args, "replay", 6) == 0) { /* exactly one line */
            assert_ptr_equal(strchr(msg, '\n'), msg + strlen(msg) - 1);
        }
        free(msg);
    }
}

/* The hand-computed run through the command: exact numbers in the summary,
 * the stop at 51242.50 in the events, nothing at all with --quiet. */
static void cli_summary_of_the_tiny_run(void **state) {
    (void)state;
    char data[TU_PATH_MAX], out[TU_PATH_MAX], errp[TU_PATH_MAX], ev[TU_PATH_MAX];
    tu_write(tu_path(data, "replay", "tiny.csv"),
             "timestamp_ms,price\n1640995200000,50000.00\n1640995201000,51500.00\n"
             "1640995202000,51000.00\n");
    tu_path(out, "replay", "tiny-out.txt");
    tu_path(errp, "replay", "tiny-err.txt");
    tu_path(ev, "replay", "tiny.jsonl");
    assert_int_equal(
        tu_run_cli(out, errp, "replay --data '%s' --tick-size 0.01 --events-jsonl '%s'", data, ev),
        0);
    char *text = tu_read(out, NULL);
    assert_non_null(
        strstr(text, "activation     50750.00 (1.5 %): 2022-01-01T00:00:01Z at 51500.00"));
    assert_non_null(
        strstr(text, "exit           2022-01-01T00:00:02Z at 51000.00 by the stop at "
                     "51242.50 (the price gapped through the stop, 242.50 worse than the stop)"));
    assert_non_null(strstr(text, "result         +2.0000 %"));
    assert_non_null(strstr(text, "max favourable +3.0000 %"));
    assert_non_null(strstr(text, "+66.67 %"));
    free(text);
    text = tu_read(ev, NULL);
    assert_non_null(strstr(text, "\"type\":\"confirmed\",\"reason\":null,\"price\":null,"
                                 "\"stop\":\"51242.50\""));
    free(text);
    /* The file's prices are whole, so its own tick is 1: the stop rounds down. */
    assert_int_equal(
        tu_run_cli(out, errp, "replay --quiet --data '%s' --events-jsonl '%s'", data, ev), 0);
    text = tu_read(out, NULL);
    assert_string_equal(text, "");
    free(text);
    text = tu_read(ev, NULL);
    assert_non_null(strstr(text, "\"stop\":\"51242\""));
    free(text);
}

/* The demo path: the same seed gives the same path, and every seed tried
 * activates, trails and triggers under the default parameters. */
static void genpath_is_seeded_and_always_triggers(void **state) {
    (void)state;
    tg_pricepoint *a = malloc(TG_GENPATH_POINTS_MAX * sizeof *a);
    tg_pricepoint *b = malloc(TG_GENPATH_POINTS_MAX * sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    size_t na = tg_genpath_generate(7, a, TG_GENPATH_POINTS_MAX);
    size_t nb = tg_genpath_generate(7, b, TG_GENPATH_POINTS_MAX);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    nb = tg_genpath_generate(8, b, TG_GENPATH_POINTS_MAX);
    assert_true(na != nb || memcmp(a, b, na * sizeof *a) != 0);
    event_log log = log_new();
    for (uint64_t seed = 0; seed < 64; seed++) {
        size_t n = tg_genpath_generate(seed, a, TG_GENPATH_POINTS_MAX);
        assert_int_equal(a[0].ts_ms, TG_GENPATH_START_MS);
        tg_replay_opts o = opts_new("0.01", 1, TG_SIDE_LONG, &log);
        log.n = 0;
        tg_replay_result r;
        run_ok(a, n, &o, &r);
        check_run(&o, &r, &log, a);
        assert_true(r.activated);
        assert_int_equal(r.outcome, TG_REPLAY_STOPPED);
        assert_true(r.n_moves >= 1); /* it trailed */
        /* The first trailing stop is about entry × 1.015 × 0.995 ≈ +1 %; the
         * stop never loosens and a tick jumps by cents, so the exit is a gain. */
        assert_true(tg_dec_is_pos(r.result_pct));
        tg_replay_result_free(&r);
    }
    free(log.ev);
    free(a);
    free(b);
}

/* The edges of the command: its output, its files, its numbers. */
static void cli_edges(void **state) {
    (void)state;
    char data[TU_PATH_MAX], out[TU_PATH_MAX], errp[TU_PATH_MAX], other[TU_PATH_MAX];
    tu_path(data, "replay", "edges.csv");
    tu_path(out, "replay", "edges-out.txt");
    tu_path(errp, "replay", "edges-err.txt");
    const char *ticks = "0,100\n1000,101\n2000,90\n";
    tu_write(data, ticks);

    /* a summary that cannot be written is a failure */
    assert_int_equal(tu_run_cli("/dev/full", errp, "replay --data '%s'", data), 1);
    char *msg = tu_read(errp, NULL);
    assert_non_null(strstr(msg, "writing the summary to standard output failed"));
    free(msg);

    /* an output naming the input, directly, by symlink or by hard link */
    const char *flags[] = {"--events-jsonl", "--chart"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' %s '%s'", data, flags[i], data),
                         2);
        tu_path(other, "replay", "edges-sym.csv");
        remove(other);
        assert_int_equal(symlink(data, other), 0);
        assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' %s '%s'", data, flags[i], other),
                         2);
        remove(other);
        assert_int_equal(link(data, other), 0);
        assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' %s '%s'", other, flags[i], data),
                         2);
        remove(other);
        msg = tu_read(errp, NULL);
        assert_non_null(strstr(msg, "is the --data file; it would be overwritten"));
        free(msg);
        char *kept = tu_read(data, NULL);
        assert_string_equal(kept, ticks);
        free(kept);
    }

    /* an output that cannot be created is bad usage (2), the chart as the events (docs) */
    assert_int_equal(
        tu_run_cli(out, errp, "replay --data '%s' --chart /nonexistent-tg/c.svg", data), 2);
    assert_int_equal(
        tu_run_cli(out, errp, "replay --data '%s' --events-jsonl /nonexistent-tg/e.jsonl", data),
        2);

    /* not a price file at all (binary, not starting with a name, so not a
     * header): the first line fails, nothing more is read. Fixed bytes, not
     * /dev/urandom: a random line that starts with a letter and holds one
     * comma is a valid two-column header, and the error then is on line 2. */
    char binary[TU_PATH_MAX];
    tu_write(tu_path(binary, "replay", "binary.bin"),
             "\xff\xfe\x01\x89PNG\r\x1a,\x80\x81\x82,\x7f\x10\n\xc3\x28\xa0\xa1,1,2\n");
    assert_int_equal(tu_run_cli(out, errp, "replay --data '%s'", binary), 2);
    msg = tu_read(errp, NULL);
    assert_non_null(strstr(msg, "binary.bin: line 1"));
    free(msg);

    /* what overflowed is said */
    assert_int_equal(tu_run_cli(out, errp, "replay --data '%s' --quantity 90000000000", data), 0);
    msg = tu_read(out, NULL);
    assert_non_null(strstr(msg, "n/a: the P&L (price difference × quantity) does not fit"));
    free(msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cli_edges),
        cmocka_unit_test(ticks_activate_trail_and_gap_through),
        cmocka_unit_test(short_mirrors_long),
        cmocka_unit_test(bar_crossing_fills_at_the_stop),
        cmocka_unit_test(gap_between_bars_fills_at_the_open),
        cmocka_unit_test(fill_latency_takes_the_first_price_after_it),
        cmocka_unit_test(initial_stop_and_no_excursion),
        cmocka_unit_test(open_at_the_end),
        cmocka_unit_test(prices_out_of_the_engine_range),
        cmocka_unit_test(real_data_runs_keep_the_invariants),
        cmocka_unit_test(cli_jsonl_is_the_engine_events),
        cmocka_unit_test(cli_is_deterministic),
        cmocka_unit_test(cli_bad_usage_exits_2),
        cmocka_unit_test(cli_summary_of_the_tiny_run),
        cmocka_unit_test(genpath_is_seeded_and_always_triggers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
