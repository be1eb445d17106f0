/* The Binance USD-M adapter against the emulator over loopback: the common
 * cases (venue_cases.h) and Binance's own — idempotent placements, reading
 * a just-placed algo order, the closePosition fallback, 429 and 418. */
#include "venue_cases.h"
#include <time.h>

static tg_venue_kind vt_kind(void) {
    return TG_VENUE_BINANCE;
}

/* The same gen gives the same clientAlgoId: a placement sent twice (an ack
 * lost, a retry) leaves one stop. */
static void placement_is_idempotent(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 42);
    tg_venue_reply a = vt_set(e, &req);
    vt_expect_ok(&a);
    tg_venue_reply b = vt_set(e, &req);
    vt_expect_ok(&b);
    assert_string_equal(a.stop.client_id, b.stop.client_id);
    assert_string_equal(a.stop.order_id, b.stop.order_id);
    (void)vt_only_stop(e, "59000");
}

/* An order the exchange reads as unknown for a moment is looked up again
 * before it is called missing. */
static void just_placed_order_is_found(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    tg_venue_waiter w = {0};
    tg_err err;
    assert_int_equal(
        tg_venue_find_stop(e->v, VT_SYM, "", r.stop.client_id, tg_venue_waiter_fn, &w, &err),
        TG_OK);
    tg_venue_reply f = vt_wait(e, &w);
    vt_expect_ok(&f);
    assert_true(f.found);
    assert_string_equal(f.stop.order_id, r.stop.order_id);
    memset(&w, 0, sizeof w);
    assert_int_equal(
        tg_venue_find_stop(e->v, VT_SYM, "", "tg-BTCUSDT:l-zz", tg_venue_waiter_fn, &w, &err),
        TG_OK);
    f = vt_wait(e, &w);
    vt_expect_ok(&f);
    assert_false(f.found);
}

/* Just after placement Binance may answer -2013 for an algo order that
 * exists: the lookup reads again before calling it missing, and never
 * places a second stop on its own. */
static void transient_unknown_is_read_again(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    /* the next two reads of the order come from a view without it */
    vt_ctl_ok(e, "POST", "/sim/fault",
              "{\"path\":\"GET /fapi/v1/algoOrder\",\"kind\":\"stale\",\"count\":2}");
    tg_venue_waiter w = {0};
    tg_err err;
    assert_int_equal(
        tg_venue_find_stop(e->v, VT_SYM, r.stop.order_id, "", tg_venue_waiter_fn, &w, &err), TG_OK);
    tg_venue_reply f = vt_wait(e, &w);
    vt_expect_ok(&f);
    assert_true(f.found);
    assert_string_equal(f.stop.order_id, r.stop.order_id);
    vt_ctl_ok(e, "GET", "/sim/requests?venue=binance", NULL);
    int unknown = 0; /* the two stale reads were answered -2013 */
    for (const char *p = strstr(e->out, "\"code\":-2013"); p != NULL;
         p = strstr(p + 1, "\"code\":-2013")) {
        unknown++;
    }
    assert_int_equal(unknown, 2);
    (void)vt_only_stop(e, "59000"); /* still exactly one stop */
}

static bool any_event(const tg_venue_event *ev, const void *arg) {
    (void)ev;
    (void)arg;
    return false;
}

static int count_in(const char *text, const char *part) {
    int n = 0;
    for (const char *p = strstr(text, part); p != NULL; p = strstr(p + 1, part)) {
        n++;
    }
    return n;
}

/* The user-data stream's listenKey is kept alive (PUT) on schedule; when it
 * expires (the emulator's clock jumps 61 minutes: listenKeyExpired, then the
 * stream closes) a new key is made (POST), the stream reconnects, and
 * account events flow again. */
static void listen_key_kept_alive_and_renewed(void **state) {
    vt_env *e = *state;
    vt_venue_free(e, e->v);
    e->cfg.listen_key_keepalive_ms = 300;
    e->v = vt_venue_new(e, &e->cfg);
    tg_venue_on_event(e->v, vt_on_event, e);
    tg_err err;
    assert_int_equal(tg_venue_account_start(e->v, &err), TG_OK);
    int up[2] = {TG_VEV_CONNECTED, TG_VSTREAM_ACCOUNT};
    assert_true(vt_await(e, 0, is_kind, up, 5000) >= 0);
    const char *put = "\"method\":\"PUT\",\"path\":\"/fapi/v1/listenKey\"";
    int puts = 0;
    for (int i = 0; i < 40 && puts < 2; i++) { /* two keep-alives, within 10 s */
        (void)vt_await(e, 0, any_event, NULL, 250);
        vt_ctl_ok(e, "GET", "/sim/requests?venue=binance", NULL);
        puts = count_in(e->out, put);
    }
    assert_true(puts >= 2);

    size_t from = e->events_count;
    vt_ctl_ok(e, "POST", "/sim/clock", "{\"offset_ms\":3660000}");
    assert_true(vt_await(e, from, is_kind, up, 5000) >= 0); /* connected again */
    vt_ctl_ok(e, "GET", "/sim/requests?venue=binance", NULL);
    assert_true(count_in(e->out, "\"method\":\"POST\",\"path\":\"/fapi/v1/listenKey\"") >= 2);
    from = e->events_count;
    vt_long(e);
    const char *opened[2] = {"BTCUSDT:long", "0.01"};
    assert_true(vt_await(e, from, is_position_of, opened, 5000) >= 0);
}

/* closePosition stops cannot coexist on one side (-4130): the replace falls
 * back to cancel-then-place and reports the window it opened. */
static void close_position_fallback_reports_window(void **state) {
    vt_env *e = *state;
    vt_venue_free(e, e->v);
    e->cfg.close_position = true;
    e->v = vt_venue_new(e, &e->cfg);
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    req = vt_req(VT_SYM, TG_SIDE_LONG, "59500", "0.01", 2);
    req.prev = r.stop;
    r = vt_set(e, &req);
    vt_expect_ok(&r);
    assert_int_equal(r.mode, TG_REPLACE_CANCEL_THEN_PLACE);
    assert_true(r.unprotected_us > 0);
    vt_protection p = vt_protection_get(e, VT_SYM);
    assert_true(p.count >= 2); /* before the first stop, and during this replace */
    /* The emulator's window of this replace (the latest one; the longest may
     * be the one before the first stop) lies inside what the client saw
     * between sending the cancel and the new stop's acknowledgement. */
    assert_true(p.last_us > 0);
    assert_true(p.last_us <= r.unprotected_us + 1000); /* 1 ms for the two clocks */
    (void)vt_only_stop(e, "59500");
}

/* Binance counts weight per minute of its clock (the emulator's is the wall
 * clock): waits into the next minute unless at least `seconds` of this one
 * are left, so that a test's weight stays in one minute. */
static void clear_of_minute_end(int seconds) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec % 60 >= 60 - seconds) {
        struct timespec wait = {.tv_sec = 61 - now.tv_sec % 60, .tv_nsec = 0};
        nanosleep(&wait, NULL);
    }
}

/* With the venue's limit set to the exchange's, requests are held back
 * before the exchange would refuse them. */
static void requests_are_paced(void **state) {
    vt_env *e = *state;
    clear_of_minute_end(10); /* a new minute would let the held request go */
    vt_ctl_ok(e, "POST", "/sim/limits", "{\"binance_weight_1m\":30}");
    vt_venue_free(e, e->v);
    e->cfg.weight_limit_per_min = 30; /* 90 % of it: 27, five position reads of weight 5 */
    e->v = vt_venue_new(e, &e->cfg);
    tg_err err;
    tg_venue_waiter w[6];
    memset(w, 0, sizeof w);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(tg_venue_get_positions(e->v, tg_venue_waiter_fn, &w[i], &err), TG_OK);
    }
    for (int i = 0; i < 5; i++) {
        tg_venue_reply r = vt_wait(e, &w[i]);
        vt_expect_ok(&r);
    }
    assert_int_equal(tg_venue_wait(e->v, &w[5], 300, &err), TG_E_UNAVAILABLE); /* held */
    tg_venue_stats s = tg_venue_get_stats(e->v);
    assert_true(s.rate_waits >= 1);
    assert_int_equal(s.requests, 5);
    vt_venue_free(e, e->v); /* the held request completes, closed, while w is in scope */
    assert_true(w[5].done);
    assert_int_equal(w[5].reply.error.code, TG_VENUE_E_TRANSPORT);
    e->v = vt_venue_new(e, &e->cfg);
}

/* A replace places the new stop and cancels the old one right after: with
 * the minute's weight used up to the last unit, the placement (weight 0)
 * would go and the cancel (weight 1) wait for the next minute, leaving two
 * stops. The placement waits with it instead; the old stop stays alone. */
static void replace_waits_for_its_cancel_weight(void **state) {
    vt_env *e = *state;
    clear_of_minute_end(15); /* the weight counted below must stay in one minute */
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    tg_venue_stop first = vt_only_stop(e, "59000");
    for (int i = 0; i < 10; i++) { /* the IP's weight: well past the 5 of one read */
        r = vt_positions(e);
        vt_expect_ok(&r);
    }
    tg_venue_config cfg = e->cfg;
    cfg.weight_limit_per_min = (uint32_t)tg_venue_get_stats(e->v).used_weight_1m + 5;
    tg_venue *tight = vt_venue_new(e, &cfg);
    tg_err err;
    tg_venue_waiter w = {0};
    assert_int_equal(tg_venue_get_positions(tight, tg_venue_waiter_fn, &w, &err), TG_OK);
    assert_int_equal(tg_venue_wait(tight, &w, VT_WAIT_MS, &err), TG_OK);
    vt_expect_ok(&w.reply);
    assert_int_equal(tg_venue_get_stats(tight).used_weight_1m, cfg.weight_limit_per_min);
    free(w.owned); /* the positions read */
    int64_t before = vt_request_count(e);
    req = vt_req(VT_SYM, TG_SIDE_LONG, "59500", "0.01", 2);
    req.prev = first;
    tg_venue_waiter held = {0};
    assert_int_equal(tg_venue_set_stop(tight, &req, tg_venue_waiter_fn, &held, &err), TG_OK);
    assert_int_equal(tg_venue_wait(tight, &held, 300, &err), TG_E_UNAVAILABLE);
    assert_int_equal(vt_request_count(e), before); /* nothing left for the exchange */
    (void)vt_only_stop(e, "59000");
    vt_venue_free(e, tight); /* the held request completes, closed, while held is in scope */
    assert_true(held.done);
    free(held.owned);
}

/* Over the weight limit: 429 pauses the venue for Retry-After; a request
 * sent anyway is answered 418, which opens the circuit. */
static void rate_limit_then_ban(void **state) {
    vt_env *e = *state;
    /* Binance counts weight per minute: a new minute half-way would forgive
     * the 429 the second client ignores. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec % 60 > 45) {
        struct timespec wait = {.tv_sec = 61 - ts.tv_sec % 60, .tv_nsec = 0};
        nanosleep(&wait, NULL);
    }
    vt_ctl_ok(e, "POST", "/sim/limits", "{\"binance_weight_1m\":30}");
    tg_venue_config cfg = e->cfg;
    cfg.weight_limit_per_min = 1000000; /* no pacing: reach the exchange's limit */
    cfg.retry_count_max = 0;
    tg_venue *greedy = vt_venue_new(e, &cfg);
    tg_venue_reply r;
    memset(&r, 0, sizeof r);
    tg_err err;
    for (int i = 0; i < 20 && r.error.code != TG_VENUE_E_RATE_LIMIT; i++) {
        tg_venue_waiter w = {0};
        assert_int_equal(tg_venue_get_positions(greedy, tg_venue_waiter_fn, &w, &err), TG_OK);
        assert_int_equal(tg_venue_wait(greedy, &w, VT_WAIT_MS, &err), TG_OK);
        r = w.reply;
        vt_keep_msg(e, r.error.err.msg);
    }
    assert_int_equal(r.error.code, TG_VENUE_E_RATE_LIMIT);
    assert_int_equal(r.error.http_status, 429);
    assert_true(tg_venue_get_stats(greedy).used_weight_1m > 30);
    /* The greedy venue now holds its requests until Retry-After. */
    tg_venue_waiter held = {0};
    assert_int_equal(tg_venue_get_positions(greedy, tg_venue_waiter_fn, &held, &err), TG_OK);
    assert_int_equal(tg_venue_wait(greedy, &held, 300, &err), TG_E_UNAVAILABLE);
    /* A second client ignores the 429 and is banned. */
    tg_venue *other = vt_venue_new(e, &cfg);
    tg_venue_waiter w = {0};
    assert_int_equal(tg_venue_get_positions(other, tg_venue_waiter_fn, &w, &err), TG_OK);
    assert_int_equal(tg_venue_wait(other, &w, VT_WAIT_MS, &err), TG_OK);
    assert_int_equal(w.reply.error.code, TG_VENUE_E_BANNED);
    assert_true(tg_venue_get_stats(other).breaker_open);
    uint64_t sent = tg_venue_get_stats(other).requests;
    memset(&w, 0, sizeof w);
    assert_int_equal(tg_venue_get_positions(other, tg_venue_waiter_fn, &w, &err), TG_OK);
    assert_int_equal(tg_venue_wait(other, &w, VT_WAIT_MS, &err), TG_OK);
    assert_int_equal(w.reply.error.code, TG_VENUE_E_CIRCUIT_OPEN);
    assert_int_equal(tg_venue_get_stats(other).requests, sent);
    vt_venue_free(e, other);
    vt_venue_free(e, greedy);
}

int main(void) {
    int probe = vt_probe();
    if (probe != 0) {
        return probe;
    }
    const struct CMUnitTest tests[] = {
        VT_COMMON_TESTS,
        cmocka_unit_test_setup_teardown(placement_is_idempotent, vt_setup, vt_teardown),
        cmocka_unit_test_setup_teardown(just_placed_order_is_found, vt_setup, vt_teardown),
        cmocka_unit_test_setup_teardown(transient_unknown_is_read_again, vt_setup, vt_teardown),
        cmocka_unit_test_setup_teardown(listen_key_kept_alive_and_renewed, vt_setup, vt_teardown),
        cmocka_unit_test_setup_teardown(close_position_fallback_reports_window, vt_setup,
                                        vt_teardown),
        cmocka_unit_test_setup_teardown(requests_are_paced, vt_setup, vt_teardown),
        cmocka_unit_test_setup_teardown(rate_limit_then_ban, vt_setup, vt_teardown),
        cmocka_unit_test_setup_teardown(replace_waits_for_its_cancel_weight, vt_setup, vt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
