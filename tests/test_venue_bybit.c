/* The Bybit v5 adapter against the emulator over loopback: the common cases
 * (venue_cases.h) and Bybit's own — the atomic trading-stop, "not
 * modified" as success, removing the position's stop-loss. */
#include "venue_cases.h"

static tg_venue_kind vt_kind(void) {
    return TG_VENUE_BYBIT;
}

/* The stop-loss set by trading-stop is one order that moves in place. */
static void trading_stop_moves_in_place(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    assert_true(r.stop.position_level);
    tg_venue_stop first = vt_only_stop(e, "59000");
    assert_true(first.position_level);
    vt_protection p0 = vt_protection_get(e, VT_SYM);
    req = vt_req(VT_SYM, TG_SIDE_LONG, "59100", "0.01", 2);
    req.prev = first;
    r = vt_set(e, &req);
    vt_expect_ok(&r);
    assert_int_equal(r.requests, 1);
    assert_int_equal(r.mode, TG_REPLACE_ATOMIC);
    (void)vt_only_stop(e, "59100");
    /* The same price sent again by another process: 34040 is success. */
    req.prev.trigger = vt_dec("1");
    r = vt_set(e, &req);
    vt_expect_ok(&r);
    vt_expect_no_new_window(e, p0);
}

/* Over the per-second limit (10006 / X-Bapi-Limit-Status): every request
 * still completes, paced or retried after the reset. */
static void rate_limit_is_absorbed(void **state) {
    vt_env *e = *state;
    vt_ctl_ok(e, "POST", "/sim/limits", "{\"bybit_per_second\":3}");
    tg_err err;
    tg_venue_waiter w[10];
    memset(w, 0, sizeof w);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(tg_venue_get_positions(e->v, tg_venue_waiter_fn, &w[i], &err), TG_OK);
    }
    for (int i = 0; i < 10; i++) {
        tg_venue_reply r = vt_wait(e, &w[i]);
        vt_expect_ok(&r);
    }
    tg_venue_stats s = tg_venue_get_stats(e->v);
    assert_true(s.rate_waits + s.retries >= 1);
}

int main(void) {
    int probe = vt_probe();
    if (probe != 0) {
        return probe;
    }
    const struct CMUnitTest tests[] = {
        VT_COMMON_TESTS,
        cmocka_unit_test_setup_teardown(trading_stop_moves_in_place, vt_setup, vt_teardown),
        cmocka_unit_test_setup_teardown(rate_limit_is_absorbed, vt_setup, vt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
