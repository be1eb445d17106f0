/* The trailing-stop state machine: the audit's cases, the original module's
 * test cases and production bugs (../shared/ORIGINAL.md), and every rule of
 * the engine, long and short. */
#include "engine_harness.h"

#define T0   1700000000000LL /* an arbitrary start, ms */
#define S(n) ((int64_t)(n)*1000)

/* ---- the published audit (activation 1.5 %, callback 0.5 %) ------------ */

static void audit_long_activation_and_trailing(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    assert_dec(h.s.activation_price, "50750");
    assert_int_equal(h.s.state, TG_STATE_INACTIVE);

    h_tick(&h, T0 + S(60), "51500");
    assert_int_equal(h.s.state, TG_STATE_ACTIVE);
    assert_non_null(h_find(&h, TG_EV_ACTIVATED));
    h_assert_stop(&h, "51242.50");
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 1);

    h_tick(&h, T0 + S(120), "52000");
    h_assert_stop(&h, "51740");
    h_tick(&h, T0 + S(180), "52500");
    h_assert_stop(&h, "52237.50");
    assert_dec(h.s.highest, "52500");
}

static void audit_long_below_activation_stays_inactive(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h_tick(&h, T0 + S(1), "50700");
    assert_int_equal(h.s.state, TG_STATE_INACTIVE);
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 0);
    h_assert_no_stop(&h);
}

static void audit_short_activation(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_SHORT, "3000", "0.01", &p, T0);
    assert_dec(h.s.activation_price, "2955");
    h_tick(&h, T0 + S(1), "2960");
    assert_int_equal(h.s.state, TG_STATE_INACTIVE);
    h_tick(&h, T0 + S(2), "2940");
    assert_int_equal(h.s.state, TG_STATE_ACTIVE);
    h_assert_stop(&h, "2954.70"); /* 2940 × 1.005 */
}

static void activation_exactly_at_price(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h_tick(&h, T0 + S(1), "50750");
    assert_int_equal(h.s.state, TG_STATE_ACTIVE);
    h_open(&h, TG_SIDE_SHORT, "3000", "0.01", &p, T0);
    h_tick(&h, T0 + S(1), "2955");
    assert_int_equal(h.s.state, TG_STATE_ACTIVE);
}

/* ---- ORIGINAL.md §6 cases and incident regressions ------------------------ */

static void e4_callback_formula(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.activation_pct = D("1");
    h_open(&h, TG_SIDE_LONG, "2.25", "0.00001", &p, T0);
    h_tick(&h, T0 + S(1), "2.304");
    h_assert_stop(&h, "2.29248");
}

static void i1_bankusdt_activation(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "0.13381", "0.00000001", &p, T0);
    assert_dec(h.s.activation_price, "0.13581715");
    h_tick(&h, T0 + S(1), "0.13708953");
    assert_int_equal(h.s.state, TG_STATE_ACTIVE);
    assert_dec(h.s.highest, "0.13708953");
}

static void i2_stop_never_above_peak(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "5.7", "0.00001", &p, T0);
    h_tick(&h, T0 + S(1), "5.888");
    h_assert_stop(&h, "5.85856");
    tg_dec cur;
    assert_true(tg_stop_current(&h.s, &cur));
    assert_true(tg_dec_lt(cur, h.s.highest));
}

static void i3_tick_rounding_away_from_market(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    /* 0.001529 × 0.995 = 0.001521355: down to 0.001521 for a long */
    h_open(&h, TG_SIDE_LONG, "0.0015", "0.000001", &p, T0);
    h_tick(&h, T0 + S(1), "0.001529");
    h_assert_stop(&h, "0.001521");
    /* and up for a short: 0.001471 × 1.005 = 0.001478355 → 0.001479 */
    h_open(&h, TG_SIDE_SHORT, "0.0015", "0.000001", &p, T0);
    h_tick(&h, T0 + S(1), "0.001471");
    h_assert_stop(&h, "0.001479");
}

static void i4_initial_stop_side(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.initial_stop_pct = D("2");
    h_open(&h, TG_SIDE_LONG, "3.255", "0.0001", &p, T0);
    h_assert_stop(&h, "3.1899"); /* below entry for a long, never 3.3201 */
    assert_int_equal(h_count_events(&h, TG_EV_INITIAL_STOP), 1);
    h_open(&h, TG_SIDE_SHORT, "3.255", "0.0001", &p, T0);
    h_assert_stop(&h, "3.3201");
}

static void s1_s3_short_updates_only_on_new_low(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.callback = D("2");
    p.min_update_interval_ms = 0;
    h_open(&h, TG_SIDE_SHORT, "104", "0.01", &p, T0);
    h_tick(&h, T0 + S(1), "100"); /* activates: stop 102 */
    h_assert_stop(&h, "102");
    h_tick(&h, T0 + S(2), "101.5"); /* S1: above the low: no update, no loosening */
    h_assert_stop(&h, "102");
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 0);
    h_tick(&h, T0 + S(3), "99"); /* S3: new low → 100.98 */
    h_assert_stop(&h, "100.98");
}

static void s4_s5_long_never_lowered(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h_tick(&h, T0 + S(60), "52000");
    h_assert_stop(&h, "51740");
    h_tick(&h, T0 + S(120), "50500");
    h_assert_stop(&h, "51740");
    assert_dec(h.s.highest, "52000");
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 0);
}

static void s6_steps_tighten(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    tg_params_patch patch = {0};
    tg_err err = {0};
    assert_int_equal(tg_params_set(&patch, "steps", "0:0.5,4:0.3", &err), TG_OK);
    tg_params_apply(&p, &patch);
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h_tick(&h, T0 + S(60), "51500"); /* 3 % profit: callback 0.5 */
    h_assert_stop(&h, "51242.50");
    h_tick(&h, T0 + S(120), "52000"); /* 4 % profit: callback 0.3 → 51844 */
    h_assert_stop(&h, "51844");
}

static void s7_s8_short_not_updated_when_price_above_low(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.min_update_interval_ms = 0;
    h_open(&h, TG_SIDE_SHORT, "0.19", "0.00001", &p, T0);
    h_tick(&h, T0 + S(1), "0.17");
    h_assert_stop(&h, "0.17085");
    h_tick(&h, T0 + S(2), "0.18334"); /* bug #16: never lower the stop here */
    h_assert_stop(&h, "0.17085");
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 0);
}

static void i7_crossed_at_activation_closes(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.callback = D("0.5");
    p.time_activation_ms = S(600);
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, T0);
    h_tick(&h, T0 + S(10), "101.4");  /* peak below activation (101.5) */
    h_tick(&h, T0 + S(700), "100.5"); /* time activation; 101.4 × 0.995 = 100.89 > 100.5 */
    assert_int_equal(h.s.state, TG_STATE_ACTIVE);
    const tg_event *ev = h_find(&h, TG_EV_CROSSED);
    assert_non_null(ev);
    assert_int_equal(ev->reason, TG_R_CLOSE_POSITION);
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 0);
    assert_int_equal(h_count_cmds(&h, TG_CMD_CLOSE_POSITION), 1);
    h_tick(&h, T0 + S(701), "100.4"); /* closing: nothing more is sent */
    assert_int_equal(h.n_cmds, h.cmd_mark);
}

static void crossed_alert_places_when_price_allows(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.on_crossed = TG_ON_CROSSED_ALERT;
    p.time_activation_ms = S(600);
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, T0);
    h_tick(&h, T0 + S(10), "101.4");
    h_tick(&h, T0 + S(700), "100.5");
    const tg_event *ev = h_find(&h, TG_EV_CROSSED);
    assert_non_null(ev);
    assert_int_equal(ev->reason, TG_R_ALERT);
    assert_int_equal(h_count_cmds(&h, TG_CMD_CLOSE_POSITION), 0);
    h_tick(&h, T0 + S(701), "100.95"); /* back above 100.89: the stop goes on */
    h_assert_stop(&h, "100.89");
}

static void b36_activation_is_latched(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h_tick(&h, T0 + S(60), "51000");
    h_tick(&h, T0 + S(120), "50100");
    assert_int_equal(h.s.state, TG_STATE_ACTIVE);
    assert_int_equal(h_count_events(&h, TG_EV_ACTIVATED), 1);
}

static void no_sentinel_extremes(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_SHORT, "1500000", "0.1", &p, T0); /* > 999999: no sentinel clash */
    assert_false(h.s.flags & TG_F_HIGH);
    assert_false(h.s.flags & TG_F_LOW);
    h_tick(&h, T0 + S(1), "1400000");
    assert_dec(h.s.lowest, "1400000");
    assert_dec(h.s.highest, "1400000");
    h_assert_stop(&h, "1407000");
}

/* ---- update policy (ORIGINAL §6.4, with trailguard's defaults) ------------ */

static void open_active_long(harness *h, tg_params *p) {
    h_open(h, TG_SIDE_LONG, "1.4", "0.000001", p, T0);
    h_tick(h, T0, "1.457286"); /* 1.457286 × 0.995 = 1.44999957 → 1.449999 */
    assert_int_equal(h->s.state, TG_STATE_ACTIVE);
}

static void r1_interval_enforced(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    open_active_long(&h, &p);
    tg_dec before;
    assert_true(tg_stop_current(&h.s, &before));
    h_tick(&h, T0 + S(1), "1.462"); /* +0.32 %: below emergency, within 30 s */
    const tg_event *ev = h_find(&h, TG_EV_SKIPPED);
    assert_non_null(ev);
    assert_int_equal(ev->reason, TG_R_RATE_LIMITED);
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 0);
    tg_dec after;
    assert_true(tg_stop_current(&h.s, &after));
    assert_true(tg_dec_eq(before, after)); /* R4: nothing changed on a skip */
    assert_int_equal(h.s.skip_count[0], 1);
}

static void deferred_improvement_applied_after_interval(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    open_active_long(&h, &p);
    h_tick(&h, T0 + S(1), "1.462");
    h_tick(&h, T0 + S(29), "1.46"); /* no new high, still inside the interval */
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 0);
    h_tick(&h, T0 + S(30), "1.461"); /* no new high, but the interval has passed */
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 1);
    h_assert_stop(&h, "1.45469"); /* 1.462 × 0.995 */
}

static void r2_min_improvement_enforced(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.min_improvement_pct = D("0.1");
    open_active_long(&h, &p);
    h_tick(&h, T0 + S(70), "1.458015"); /* stop 1.450724: +0.05 % < 0.1 % */
    const tg_event *ev = h_find(&h, TG_EV_SKIPPED);
    assert_non_null(ev);
    assert_int_equal(ev->reason, TG_R_BELOW_MIN_IMPROVEMENT);
    h_assert_stop(&h, "1.449999");
    p.min_improvement_pct = D("0.01"); /* the original's HEAD setting: it updates */
    open_active_long(&h, &p);
    h_tick(&h, T0 + S(70), "1.458015");
    h_assert_stop(&h, "1.450724");
}

static void r3_emergency_bypasses_both(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.min_improvement_pct = D("5");
    open_active_long(&h, &p);
    h_tick(&h, T0 + S(15), "1.48"); /* +1.517 % after 15 s */
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 1);
    h_assert_stop(&h, "1.4726");
    const tg_event *ev = h_find(&h, TG_EV_STOP_MOVED);
    assert_non_null(ev);
    assert_int_equal(ev->reason, TG_R_EMERGENCY);
}

static void skipped_events_not_written_every_tick(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    open_active_long(&h, &p);
    char price[32];
    for (int i = 1; i <= 20; i++) { /* a rally inside one interval */
        snprintf(price, sizeof price, "1.46%02d", i);
        h_tick(&h, T0 + i * 100, price);
    }
    assert_int_equal(h.s.skip_count[0], 20);
    assert_int_equal(h_count_events(&h, TG_EV_SKIPPED), 1);
}

static void would_trigger_skip_then_move(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h_tick(&h, T0, "51500");
    h_tick(&h, T0 + S(10), "52000"); /* 51740 deferred by the interval */
    h_tick(&h, T0 + S(40), "51700"); /* interval passed, but 51740 ≥ price */
    const tg_event *ev = h_find(&h, TG_EV_SKIPPED);
    assert_non_null(ev);
    assert_int_equal(ev->reason, TG_R_WOULD_TRIGGER);
    h_assert_stop(&h, "51242.50");
    h_tick(&h, T0 + S(41), "51800");
    h_assert_stop(&h, "51740");
}

/* ---- breakeven, time activation, momentum, callback kinds ---------------- */

static void breakeven_moves_to_entry_then_activates(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.breakeven_pct = D("0.5");
    p.breakeven_offset_pct = D("0.1");
    p.initial_stop_pct = D("2");
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, T0);
    h_assert_stop(&h, "98");
    h_tick(&h, T0 + S(1), "100.5");
    assert_int_equal(h.s.state, TG_STATE_WAITING);
    assert_non_null(h_find(&h, TG_EV_BREAKEVEN));
    h_assert_stop(&h, "100.1");
    h_tick(&h, T0 + S(2), "101.6");
    assert_int_equal(h.s.state, TG_STATE_ACTIVE);
    h_assert_stop(&h, "101.09"); /* 101.6 × 0.995 = 101.092 → 101.09 */
    /* short mirror */
    h_open(&h, TG_SIDE_SHORT, "100", "0.01", &p, T0);
    h_tick(&h, T0 + S(1), "99.5");
    h_assert_stop(&h, "99.9");
}

static void time_activation_needs_profit(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.time_activation_ms = S(600);
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, T0);
    h_tick(&h, T0 + S(601), "99.9"); /* old enough, not in profit */
    assert_int_equal(h.s.state, TG_STATE_INACTIVE);
    h_tick(&h, T0 + S(602), "100.2");
    assert_int_equal(h.s.state, TG_STATE_ACTIVE);
    const tg_event *ev = h_find(&h, TG_EV_ACTIVATED);
    assert_non_null(ev);
    assert_int_equal(ev->reason, TG_R_TIME);
    h_assert_stop(&h, "99.69"); /* 100.2 × 0.995 = 99.699 → 99.69 */
}

static void momentum_tightens_callback(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.momentum_pct_per_min = D("1");
    p.momentum_factor = D("0.5");
    p.min_update_interval_ms = 0;
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, T0);
    h_tick(&h, T0, "100");
    h_tick(&h, T0 + S(30), "102");
    h_assert_stop(&h, "101.49");   /* 102 × 0.995 */
    h_tick(&h, T0 + S(60), "103"); /* +3 %/min: fast, callback 0.25 */
    assert_true(h.s.flags & TG_F_FAST);
    h_assert_stop(&h, "102.74");    /* 103 × 0.9975 = 102.7425 → 102.74 */
    h_tick(&h, T0 + S(120), "103"); /* flat minute: slow again; never loosens */
    assert_false(h.s.flags & TG_F_FAST);
    h_assert_stop(&h, "102.74");
}

static void callback_in_ticks_and_price(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.callback_kind = TG_CALLBACK_TICKS;
    p.callback = D("25");
    h_open(&h, TG_SIDE_LONG, "100", "0.01", &p, T0);
    h_tick(&h, T0 + S(1), "102");
    h_assert_stop(&h, "101.75");
    p.callback_kind = TG_CALLBACK_PRICE;
    p.callback = D("1.234");
    h_open(&h, TG_SIDE_SHORT, "100", "0.01", &p, T0);
    h_tick(&h, T0 + S(1), "98");
    h_assert_stop(&h, "99.24"); /* 99.234 rounded up, away from the market */
}

/* ---- exchange feedback and closing ---------------------------------------- */

static void late_confirmation_never_loosens(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.min_update_interval_ms = 0;
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h.auto_confirm = false;
    h_tick(&h, T0 + S(1), "51500");
    h_tick(&h, T0 + S(2), "52000");
    tg_out out = {0};
    tg_stop_confirmed(&h.s, T0 + S(3), D("51740"), &out);
    tg_stop_confirmed(&h.s, T0 + S(3), D("51242.50"), &out); /* older ack arrives late */
    assert_dec(h.s.stop_confirmed, "51740");
    tg_err err = {0};
    assert_int_equal(tg_stop_check(&h.s, &err), TG_OK);
}

/* An acknowledgement off the tick is taken as the stop it guarantees at
 * least (rounded away from the market); one that is no price is refused with
 * an event and changes nothing, so the store never sees a bad state. */
static void confirmation_off_tick_or_not_a_price(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.5", &p, T0);
    h.auto_confirm = false;
    tg_out out = {0};
    tg_stop_confirmed(&h.s, T0 + S(1), D("49000.3"), &out);
    assert_dec(h.s.stop_confirmed, "49000");
    assert_int_equal(out.events[0].type, TG_EV_CONFIRMED);
    assert_dec(out.events[0].stop, "49000");
    tg_err err = {0};
    assert_int_equal(tg_stop_check(&h.s, &err), TG_OK);

    h_open(&h, TG_SIDE_SHORT, "50000", "0.5", &p, T0);
    h.auto_confirm = false;
    memset(&out, 0, sizeof out);
    tg_stop_confirmed(&h.s, T0 + S(1), D("51000.1"), &out);
    assert_dec(h.s.stop_confirmed, "51000.5");
    assert_int_equal(tg_stop_check(&h.s, &err), TG_OK);

    static const char *const bad[] = {"0", "-1", "1000000001", "0.3"}; /* 0.3 → 0 for a long */
    h_open(&h, TG_SIDE_LONG, "50000", "0.5", &p, T0);
    h.auto_confirm = false;
    tg_stop before = h.s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&out, 0, sizeof out);
        tg_stop_confirmed(&h.s, T0 + S(1), D(bad[i]), &out);
        assert_int_equal(out.n_events, 1);
        assert_int_equal(out.n_cmds, 0);
        assert_int_equal(out.events[0].type, TG_EV_REJECTED);
        assert_int_equal(out.events[0].reason, TG_R_EXCHANGE);
        assert_memory_equal(&h.s, &before, sizeof before);
    }
}

/* Found by the property test: a newer request refused, then the older one
 * acknowledged late. The engine must keep the acknowledged stop as the one in
 * force and never request anything looser. */
static void late_ack_after_refusal_keeps_confirmed(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    p.min_update_interval_ms = 0;
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h.auto_confirm = false;
    h_tick(&h, T0 + S(1), "51500"); /* requests 51242.50 */
    h_tick(&h, T0 + S(2), "52000"); /* requests 51740 */
    tg_out out = {0};
    tg_stop_rejected(&h.s, T0 + S(3), D("51740"), TG_REJECT_OTHER, &out);
    tg_stop_confirmed(&h.s, T0 + S(3), D("51242.50"), &out);
    h_assert_stop(&h, "51242.50");
    h_tick(&h, T0 + S(4), "51600"); /* retry: 51740 > 51600 would trigger; nothing looser */
    for (int i = h.cmd_mark; i < h.n_cmds; i++) {
        if (h.cmds[i].type == TG_CMD_SET_STOP) {
            assert_true(tg_dec_gt(h.cmds[i].price, D("51242.50")));
        }
    }
    tg_err err = {0};
    assert_int_equal(tg_stop_check(&h.s, &err), TG_OK);
}

static void rejected_stop_is_retried(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h.auto_confirm = false;
    h_tick(&h, T0 + S(1), "51500");
    tg_out out = {0};
    tg_stop_rejected(&h.s, T0 + S(1), D("51242.50"), TG_REJECT_OTHER, &out);
    h_assert_no_stop(&h); /* nothing on the exchange: the next tick retries */
    h_tick(&h, T0 + S(2), "51400");
    assert_int_equal(h_count_cmds(&h, TG_CMD_SET_STOP), 1);
    h_assert_stop(&h, "51242.50");
}

static void rejected_would_trigger_without_stop_closes(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h.auto_confirm = false;
    h_tick(&h, T0 + S(1), "51500");
    h_begin(&h);
    tg_out out = {0};
    tg_stop_rejected(&h.s, T0 + S(1), D("51242.50"), TG_REJECT_WOULD_TRIGGER, &out);
    h_keep(&h, &out);
    assert_int_equal(h_count_cmds(&h, TG_CMD_CLOSE_POSITION), 1);
}

static void close_cancels_held_stop_trigger_does_not(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h_tick(&h, T0 + S(1), "51500");
    h_begin(&h);
    tg_out out = {0};
    tg_stop_closed(&h.s, T0 + S(2), D("51300"), TG_R_EXTERNAL, &out);
    h_keep(&h, &out);
    assert_int_equal(h.s.state, TG_STATE_CLOSED);
    assert_int_equal(h_count_cmds(&h, TG_CMD_CANCEL_STOP), 1); /* no orphan order */

    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h_tick(&h, T0 + S(1), "51500");
    h_begin(&h);
    memset(&out, 0, sizeof out);
    tg_stop_triggered(&h.s, T0 + S(2), D("51242.50"), &out);
    tg_stop_closed(&h.s, T0 + S(2), D("51242.50"), TG_R_STOP, &out);
    h_keep(&h, &out);
    assert_non_null(h_find(&h, TG_EV_TRIGGERED)); /* bug #35: the trigger is seen */
    assert_int_equal(h_count_cmds(&h, TG_CMD_CANCEL_STOP), 0);
    h_tick(&h, T0 + S(3), "60000"); /* closed: ticks change nothing */
    assert_int_equal(h.n_cmds, h.cmd_mark);
}

static void stale_tick_counted_and_ignored(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.01", &p, T0);
    h_tick(&h, T0 + S(10), "50100");
    h_tick(&h, T0 + S(5), "60000");
    assert_int_equal(h.s.stale_ticks, 1);
    assert_dec(h.s.highest, "50100");
    h_tick(&h, T0 + S(11), "0");
    assert_int_equal(h.s.stale_ticks, 2);
}

static void open_rejects_bad_input(void **state) {
    (void)state;
    tg_stop s;
    tg_out out = {0};
    tg_err err = {0};
    tg_open o = {.side = TG_SIDE_LONG,
                 .entry = D("0"),
                 .quantity = D("1"),
                 .tick = D("0.01"),
                 .params = tg_params_default()};
    assert_int_equal(tg_stop_open(&s, &o, &out, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "entry price"));
    o.entry = D("100");
    o.tick = D("0");
    assert_int_equal(tg_stop_open(&s, &o, &out, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "tick size"));
    o.tick = D("0.01");
    o.params.callback = D("0");
    assert_int_equal(tg_stop_open(&s, &o, &out, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "callback_percent"));
    o.params = tg_params_default();
    o.side = TG_SIDE_SHORT;
    o.params.activation_pct = D("150");
    assert_int_equal(tg_stop_open(&s, &o, &out, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "short"));
}

static void event_json_shape(void **state) {
    (void)state;
    harness h;
    tg_params p = h_params();
    h_open(&h, TG_SIDE_LONG, "50000", "0.1", &p, T0);
    h_tick(&h, T0 + S(60), "51500");
    const tg_event *ev = h_find(&h, TG_EV_STOP_MOVED);
    assert_non_null(ev);
    char buf[512];
    size_t n = tg_event_json(ev, 2, buf, sizeof buf);
    assert_true(n > 0);
    assert_string_equal(buf, "{\"ts\":1700000060000,\"position\":1,\"type\":\"stop_moved\","
                             "\"reason\":\"trail\",\"price\":\"51500.00\",\"stop\":\"51242.50\","
                             "\"prev_stop\":null,\"state\":\"active\"}");
    assert_int_equal(tg_event_json(ev, 2, buf, 20), 0); /* too small: refused, not cut */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(audit_long_activation_and_trailing),
        cmocka_unit_test(audit_long_below_activation_stays_inactive),
        cmocka_unit_test(audit_short_activation),
        cmocka_unit_test(activation_exactly_at_price),
        cmocka_unit_test(e4_callback_formula),
        cmocka_unit_test(i1_bankusdt_activation),
        cmocka_unit_test(i2_stop_never_above_peak),
        cmocka_unit_test(i3_tick_rounding_away_from_market),
        cmocka_unit_test(i4_initial_stop_side),
        cmocka_unit_test(s1_s3_short_updates_only_on_new_low),
        cmocka_unit_test(s4_s5_long_never_lowered),
        cmocka_unit_test(s6_steps_tighten),
        cmocka_unit_test(s7_s8_short_not_updated_when_price_above_low),
        cmocka_unit_test(i7_crossed_at_activation_closes),
        cmocka_unit_test(crossed_alert_places_when_price_allows),
        cmocka_unit_test(b36_activation_is_latched),
        cmocka_unit_test(no_sentinel_extremes),
        cmocka_unit_test(r1_interval_enforced),
        cmocka_unit_test(deferred_improvement_applied_after_interval),
        cmocka_unit_test(r2_min_improvement_enforced),
        cmocka_unit_test(r3_emergency_bypasses_both),
        cmocka_unit_test(skipped_events_not_written_every_tick),
        cmocka_unit_test(would_trigger_skip_then_move),
        cmocka_unit_test(breakeven_moves_to_entry_then_activates),
        cmocka_unit_test(time_activation_needs_profit),
        cmocka_unit_test(momentum_tightens_callback),
        cmocka_unit_test(callback_in_ticks_and_price),
        cmocka_unit_test(late_confirmation_never_loosens),
        cmocka_unit_test(confirmation_off_tick_or_not_a_price),
        cmocka_unit_test(late_ack_after_refusal_keeps_confirmed),
        cmocka_unit_test(rejected_stop_is_retried),
        cmocka_unit_test(rejected_would_trigger_without_stop_closes),
        cmocka_unit_test(close_cancels_held_stop_trigger_does_not),
        cmocka_unit_test(stale_tick_counted_and_ignored),
        cmocka_unit_test(open_rejects_bad_input),
        cmocka_unit_test(event_json_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
