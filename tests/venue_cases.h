/*
 * venue_cases.h — the adapter behaviours both exchanges must show against
 * the emulator; test_venue_binance.c and test_venue_bybit.c include it after
 * venue_testutil.h and add their exchange's own cases.
 */
#ifndef TG_TEST_VENUE_CASES_H
#define TG_TEST_VENUE_CASES_H

#include "venue_testutil.h"

#define VT_SYM "BTCUSDT"

/* A long position of 0.01 at 60000 with the mark there too. */
static void vt_long(vt_env *e) {
    vt_mark(e, VT_SYM, "60000");
    vt_position(e, VT_SYM, "long", "0.01", "60000");
}

/* The emulator saw no unprotected window since p0 was read. */
static void vt_expect_no_new_window(vt_env *e, vt_protection p0) {
    vt_protection p = vt_protection_get(e, VT_SYM);
    assert_true(p.count >= 0 && p.longest_ms >= 0);
    if (p.count != p0.count || p.longest_ms != p0.longest_ms) {
        fail_msg("unprotected windows: %lld (longest %lld ms), before %lld (longest %lld ms)",
                 (long long)p.count, (long long)p.longest_ms, (long long)p0.count,
                 (long long)p0.longest_ms);
    }
}

static void time_and_rules(void **state) {
    vt_env *e = *state;
    tg_venue_waiter w = {0};
    tg_err err;
    assert_int_equal(tg_venue_sync_time(e->v, tg_venue_waiter_fn, &w, &err), TG_OK);
    tg_venue_reply r = vt_wait(e, &w);
    vt_expect_ok(&r);
    assert_true(r.server_time_ms > 0);
    assert_true(r.offset_ms > -2000 && r.offset_ms < 2000);
    r = vt_rules(e);
    vt_expect_ok(&r);
    assert_true(r.rules_count > 0);
    bool found = false;
    for (size_t i = 0; i < r.rules_count; i++) {
        assert_true(tg_dec_is_pos(r.rules[i].tick) && tg_dec_is_pos(r.rules[i].step));
        found = found || strcmp(r.rules[i].symbol, VT_SYM) == 0;
    }
    assert_true(found);
}

/* A venue whose exchange is gone: every operation ends with a transport
 * error, none aborts the process (the clock sync is the queue's own). */
static void dead_exchange_is_an_error(void **state) {
    vt_env *e = *state;
    tg_venue_config cfg = e->cfg;
    snprintf(cfg.rest_url, sizeof cfg.rest_url, "http://127.0.0.1:1");
    cfg.retry_count_max = 0;
    tg_venue *dead = vt_venue_new(e, &cfg);
    tg_err err;
    tg_venue_waiter w = {0};
    assert_int_equal(tg_venue_sync_time(dead, tg_venue_waiter_fn, &w, &err), TG_OK);
    assert_int_equal(tg_venue_wait(dead, &w, VT_WAIT_MS, &err), TG_OK);
    assert_int_equal(w.reply.error.code, TG_VENUE_E_TRANSPORT);
    tg_venue_waiter w2 = {0};
    assert_int_equal(tg_venue_get_positions(dead, tg_venue_waiter_fn, &w2, &err), TG_OK);
    assert_int_equal(tg_venue_wait(dead, &w2, VT_WAIT_MS, &err), TG_OK);
    assert_int_equal(w2.reply.error.code, TG_VENUE_E_TRANSPORT);
    tg_venue_waiter_release(&w2);
    vt_venue_free(e, dead);
}

static void positions(void **state) {
    vt_env *e = *state;
    vt_long(e);
    vt_mark(e, "ETHUSDT", "3000");
    vt_position(e, "ETHUSDT", "short", "0.5", "3000");
    tg_venue_reply r = vt_positions(e);
    vt_expect_ok(&r);
    assert_int_equal(r.positions_count, 2);
    for (size_t i = 0; i < r.positions_count; i++) {
        const tg_venue_position *p = &r.positions[i];
        if (strcmp(p->symbol, VT_SYM) == 0) {
            assert_string_equal(p->key, "BTCUSDT:long");
            assert_true(tg_dec_eq(p->size, vt_dec("0.01")));
            assert_true(tg_dec_eq(p->entry, vt_dec("60000")));
        } else {
            assert_string_equal(p->key, "ETHUSDT:short");
            assert_true(tg_dec_eq(p->size, vt_dec("0.5")));
        }
    }
}

/* The single open stop of the symbol, owned by trailguard. */
static tg_venue_stop vt_only_stop(vt_env *e, const char *trigger) {
    tg_venue_reply r = vt_stops(e, VT_SYM);
    vt_expect_ok(&r);
    if (r.stops_count != 1) {
        fail_msg("%zu open stops, want exactly 1", r.stops_count);
    }
    assert_true(r.stops[0].owned);
    assert_string_equal(r.stops[0].position_key, "BTCUSDT:long");
    assert_true(tg_dec_eq(r.stops[0].trigger, vt_dec(trigger)));
    return r.stops[0];
}

static void place_replace_cancel(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    assert_int_equal(r.mode, TG_REPLACE_FIRST);
    tg_venue_stop first = vt_only_stop(e, "59000");
    vt_protection p0 = vt_protection_get(e, VT_SYM); /* the window before the first stop */
    req = vt_req(VT_SYM, TG_SIDE_LONG, "59500", "0.01", 2);
    req.prev = first;
    r = vt_set(e, &req);
    vt_expect_ok(&r);
    assert_false(r.old_left);
    assert_int_equal(r.unprotected_us, 0);
    assert_int_equal(r.mode, vt_kind() == TG_VENUE_BYBIT ? TG_REPLACE_ATOMIC
                                                         : TG_REPLACE_PLACE_THEN_CANCEL);
    tg_venue_stop second = vt_only_stop(e, "59500");
    vt_expect_no_new_window(e, p0);
    r = vt_cancel(e, &second);
    vt_expect_ok(&r);
    assert_false(r.already_gone);
    r = vt_stops(e, VT_SYM);
    assert_int_equal(r.stops_count, 0);
    r = vt_cancel(e, &second); /* gone already: never fatal */
    vt_expect_ok(&r);
    assert_true(r.already_gone);
}

static void same_price_is_not_resent(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    int64_t before = vt_request_count(e);
    req.prev = r.stop;
    req.gen = 2;
    r = vt_set(e, &req);
    vt_expect_ok(&r);
    assert_int_equal(r.mode, TG_REPLACE_NONE);
    assert_int_equal(r.requests, 0);
    assert_int_equal(vt_request_count(e), before);
}

static void stop_needs_a_position(void **state) {
    vt_env *e = *state;
    vt_mark(e, "ETHUSDT", "3000");
    tg_venue_stop_req req = vt_req("ETHUSDT", TG_SIDE_LONG, "2900", "0.5", 1);
    tg_venue_reply r = vt_set(e, &req);
    assert_int_equal(r.error.code, TG_VENUE_E_NO_POSITION);
    assert_int_equal(r.requests, 1); /* the position read, no order */
    r = vt_stops(e, "ETHUSDT");
    assert_int_equal(r.stops_count, 0);
}

static void would_trigger_and_precision(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "61000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    assert_int_equal(r.error.code, TG_VENUE_E_WOULD_TRIGGER);
    assert_true(r.error.exchange_code != 0);
    assert_non_null(strstr(r.error.err.msg, vt_venue_name()));
    req = vt_req(VT_SYM, TG_SIDE_LONG, "59000.00001", "0.01", 2);
    r = vt_set(e, &req);
    assert_int_equal(r.error.code, TG_VENUE_E_PRECISION);
    r = vt_stops(e, VT_SYM);
    assert_int_equal(r.stops_count, 0);
}

static void unknown_order_cancel_is_gone(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_stop ghost;
    memset(&ghost, 0, sizeof ghost);
    snprintf(ghost.symbol, sizeof ghost.symbol, "%s", VT_SYM);
    snprintf(ghost.order_id, sizeof ghost.order_id, "%s", "987654321");
    tg_venue_reply r = vt_cancel(e, &ghost);
    vt_expect_ok(&r);
    assert_true(r.already_gone);
}

static void clock_offset_recovery(void **state) {
    vt_env *e = *state;
    vt_long(e);
    vt_ctl_ok(e, "POST", "/sim/clock", "{\"offset_ms\":30000}");
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    tg_venue_stats s = tg_venue_get_stats(e->v);
    assert_true(s.time_resyncs >= 1);
    int64_t off = tg_venue_clock_offset_ms(e->v);
    assert_true(off > 28000 && off < 32000);
}

static void server_error_is_retried(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_reply r = vt_positions(e); /* the position is known: one request per set */
    vt_expect_ok(&r);
    const char *path =
        vt_kind() == TG_VENUE_BINANCE ? "/fapi/v1/algoOrder" : "/v5/position/trading-stop";
    vt_ctl_ok(e, "POST", "/sim/fault", "{\"path\":\"%s\",\"kind\":\"http5xx\",\"count\":1}", path);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    r = vt_set(e, &req);
    vt_expect_ok(&r);
    assert_int_equal(r.requests, 2);
    (void)vt_only_stop(e, "59000");
}

/* Both exchanges cap conditional orders per symbol: replacing must never
 * leave more than one behind. */
static void replaces_never_pile_up(void **state) {
    vt_env *e = *state;
    vt_long(e);
    tg_venue_stop prev;
    memset(&prev, 0, sizeof prev);
    char price[32];
    vt_protection p0 = {0, 0, 0, -1};
    for (int i = 0; i < 15; i++) {
        snprintf(price, sizeof price, "%d", 58000 + i * 50);
        tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, price, "0.01", (uint64_t)i + 1);
        req.prev = prev;
        tg_venue_reply r = vt_set(e, &req);
        vt_expect_ok(&r);
        assert_int_equal(r.unprotected_us, 0);
        prev = vt_only_stop(e, price);
        p0 = i == 0 ? vt_protection_get(e, VT_SYM) : p0;
    }
    vt_expect_no_new_window(e, p0);
}

static void wrong_secret_is_not_echoed(void **state) {
    vt_env *e = *state;
    tg_venue_config cfg = e->cfg;
    snprintf(cfg.api_secret, sizeof cfg.api_secret, "%s", "anotherSecretThatIsWrong42");
    tg_venue *bad = vt_venue_new(e, &cfg);
    tg_venue_waiter w = {0};
    tg_err err;
    assert_int_equal(tg_venue_get_positions(bad, tg_venue_waiter_fn, &w, &err), TG_OK);
    assert_int_equal(tg_venue_wait(bad, &w, VT_WAIT_MS, &err), TG_OK);
    assert_int_equal(w.reply.error.code, TG_VENUE_E_AUTH);
    assert_null(strstr(w.reply.error.err.msg, "anotherSecretThatIsWrong42"));
    assert_null(strstr(w.reply.error.err.msg, VT_KEY));
    vt_keep_msg(e, w.reply.error.err.msg);
    vt_venue_free(e, bad);
}

static void config_refuses_plain_remote(void **state) {
    (void)state;
    tg_venue_config cfg = tg_venue_config_default(vt_kind());
    snprintf(cfg.api_key, sizeof cfg.api_key, "k0123");
    snprintf(cfg.api_secret, sizeof cfg.api_secret, "s0123");
    snprintf(cfg.rest_url, sizeof cfg.rest_url, "http://example.com");
    uv_loop_t loop;
    uv_loop_init(&loop);
    tg_venue *v = NULL;
    tg_err err;
    assert_int_equal(tg_venue_new(&cfg, &loop, &v, &err), TG_E_INVALID);
    snprintf(cfg.rest_url, sizeof cfg.rest_url, "https://example.com");
    cfg.insecure_loopback_tls = true;
    assert_int_equal(tg_venue_new(&cfg, &loop, &v, &err), TG_E_INVALID);
    cfg.insecure_loopback_tls = false;
    snprintf(cfg.rest_url, sizeof cfg.rest_url, "http://[::1]:9");
    snprintf(cfg.ws_url, sizeof cfg.ws_url, "ws://127.0.0.1:9");
    assert_int_equal(tg_venue_new(&cfg, &loop, &v, &err), TG_OK);
    tg_venue_close(v);
    uv_run(&loop, UV_RUN_DEFAULT);
    tg_venue_free(v);
    uv_loop_close(&loop);
}

/* Every REST request carries the configured User-Agent (the emulator logs
 * it); one that could end the header line is refused. */
static void user_agent_on_every_request(void **state) {
    vt_env *e = *state;
    tg_venue_config cfg = e->cfg;
    snprintf(cfg.user_agent, sizeof cfg.user_agent, "trailguard/0.1.0 (vt-node)");
    vt_venue_free(e, e->v);
    e->v = vt_venue_new(e, &cfg);
    vt_ctl_ok(e, "DELETE", "/sim/reset", NULL);
    vt_long(e);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    tg_venue_stop stop = vt_only_stop(e, "59000");
    r = vt_cancel(e, &stop);
    vt_expect_ok(&r);
    vt_ctl_ok(e, "GET", "/sim/requests", NULL);
    cJSON *log = cJSON_Parse(e->out);
    int sent = 0, changes = 0;
    const cJSON *q;
    cJSON_ArrayForEach(q, cJSON_GetObjectItemCaseSensitive(log, "requests")) {
        const cJSON *ua = cJSON_GetObjectItemCaseSensitive(q, "user_agent");
        const cJSON *method = cJSON_GetObjectItemCaseSensitive(q, "method");
        assert_true(cJSON_IsString(ua) && cJSON_IsString(method));
        assert_string_equal(ua->valuestring, "trailguard/0.1.0 (vt-node)");
        sent++;
        changes += strcmp(method->valuestring, "GET") != 0;
    }
    cJSON_Delete(log);
    assert_true(sent >= 3 && changes >= 2); /* the stop and its cancel at least */
    snprintf(cfg.user_agent, sizeof cfg.user_agent, "trailguard\r\nX-Injected: 1");
    tg_venue *bad = NULL;
    tg_err err;
    assert_int_equal(tg_venue_new(&cfg, &e->loop, &bad, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "User-Agent"));
}

static bool is_mark_of(const tg_venue_event *ev, const void *arg) {
    const char *const *want = arg; /* {symbol, price} */
    tg_dec price;
    return ev->kind == TG_VEV_MARK && strcmp(ev->symbol, want[0]) == 0 &&
           tg_dec_parse_cstr(want[1], &price) == TG_DEC_OK && tg_dec_eq(ev->mark, price);
}

static bool is_kind(const tg_venue_event *ev, const void *arg) {
    const int *want = arg; /* {kind, stream} */
    return (int)ev->kind == want[0] && (int)ev->stream == want[1];
}

/* Sets the mark and waits for the stream to carry it. */
static bool vt_mark_seen(vt_env *e, const char *symbol, const char *price) {
    size_t from = e->events_count;
    vt_mark(e, symbol, price);
    const char *want[2] = {symbol, price};
    return vt_await(e, from, is_mark_of, want, 5000) >= 0;
}

static void mark_stream_subscribe_unsubscribe(void **state) {
    vt_env *e = *state;
    tg_err err;
    vt_mark(e, VT_SYM, "60000");
    vt_mark(e, "ETHUSDT", "3000");
    assert_int_equal(tg_venue_mark_subscribe(e->v, VT_SYM, &err), TG_OK);
    int connected[2] = {TG_VEV_CONNECTED, TG_VSTREAM_MARKET};
    assert_true(vt_await(e, 0, is_kind, connected, 5000) >= 0);
    assert_true(vt_mark_seen(e, VT_SYM, "60010.5"));
    assert_int_equal(tg_venue_mark_subscribe(e->v, "ETHUSDT", &err), TG_OK); /* while connected */
    assert_true(vt_mark_seen(e, "ETHUSDT", "3001.25"));
    assert_int_equal(tg_venue_mark_unsubscribe(e->v, VT_SYM, &err), TG_OK);
    int never[2] = {-1, -1};
    (void)vt_await(e, e->events_count, is_kind, never, 300); /* the emulator reads it */
    assert_false(vt_mark_seen(e, VT_SYM, "60020"));
    assert_true(vt_mark_seen(e, "ETHUSDT", "3002"));
    assert_int_equal(tg_venue_mark_unsubscribe(e->v, VT_SYM, &err), TG_E_INVALID);
}

/* The emulator drops every stream once: the venue reconnects by itself and
 * subscribes again to everything it had. */
static void mark_stream_reconnects_and_resubscribes(void **state) {
    vt_env *e = *state;
    tg_err err;
    vt_mark(e, VT_SYM, "60000");
    vt_mark(e, "ETHUSDT", "3000");
    assert_int_equal(tg_venue_mark_subscribe(e->v, VT_SYM, &err), TG_OK);
    assert_int_equal(tg_venue_mark_subscribe(e->v, "ETHUSDT", &err), TG_OK);
    assert_true(vt_mark_seen(e, VT_SYM, "60001"));
    size_t from = e->events_count;
    vt_ctl_ok(e, "POST", "/sim/fault", "{\"path\":\"stream:*\",\"kind\":\"drop\",\"count\":1}");
    vt_mark(e, VT_SYM, "60002"); /* a push that meets the dropped connection */
    int down[2] = {TG_VEV_DISCONNECTED, TG_VSTREAM_MARKET};
    long at = vt_await(e, from, is_kind, down, 5000);
    assert_true(at >= 0);
    int up[2] = {TG_VEV_CONNECTED, TG_VSTREAM_MARKET};
    assert_true(vt_await(e, (size_t)at, is_kind, up, 5000) >= 0);
    assert_true(vt_mark_seen(e, VT_SYM, "60003"));
    assert_true(vt_mark_seen(e, "ETHUSDT", "3003"));
    assert_true(tg_venue_get_stats(e->v).ws_connects >= 2);
}

/* tg_venue_streams_renew (the daemon's 23 h renewal): both streams close and
 * come back by themselves, subscribed to everything they had. */
static void streams_renew_reconnects_both(void **state) {
    vt_env *e = *state;
    tg_err err;
    vt_mark(e, VT_SYM, "60000");
    assert_int_equal(tg_venue_mark_subscribe(e->v, VT_SYM, &err), TG_OK);
    assert_int_equal(tg_venue_account_start(e->v, &err), TG_OK);
    int market_up[2] = {TG_VEV_CONNECTED, TG_VSTREAM_MARKET};
    int account_up[2] = {TG_VEV_CONNECTED, TG_VSTREAM_ACCOUNT};
    assert_true(vt_await(e, 0, is_kind, market_up, 5000) >= 0);
    assert_true(vt_await(e, 0, is_kind, account_up, 5000) >= 0);
    assert_true(vt_mark_seen(e, VT_SYM, "60001"));
    uint64_t connects = tg_venue_get_stats(e->v).ws_connects;
    size_t from = e->events_count;
    tg_venue_streams_renew(e->v);
    int market_down[2] = {TG_VEV_DISCONNECTED, TG_VSTREAM_MARKET};
    int account_down[2] = {TG_VEV_DISCONNECTED, TG_VSTREAM_ACCOUNT};
    long at_market = vt_await(e, from, is_kind, market_down, 5000);
    long at_account = vt_await(e, from, is_kind, account_down, 5000);
    if (at_market < 0 || at_account < 0) {
        fail_msg("renewed: market down at %ld, account down at %ld", at_market, at_account);
    }
    assert_true(vt_await(e, (size_t)at_market, is_kind, market_up, 5000) >= 0);
    assert_true(vt_await(e, (size_t)at_account, is_kind, account_up, 5000) >= 0);
    assert_true(vt_mark_seen(e, VT_SYM, "60002"));
    assert_true(tg_venue_get_stats(e->v).ws_connects >= connects + 2);
}

static bool is_stop_at(const tg_venue_event *ev, const void *arg) {
    const char *const *want = arg; /* {price, state} */
    tg_dec price;
    return ev->kind == TG_VEV_STOP && tg_dec_parse_cstr(want[0], &price) == TG_DEC_OK &&
           tg_dec_eq(ev->stop.trigger, price) && (int)ev->stop.state == atoi(want[1]);
}

static bool is_position_of(const tg_venue_event *ev, const void *arg) {
    const char *const *want = arg; /* {key, size} */
    tg_dec size;
    return ev->kind == TG_VEV_POSITION && strcmp(ev->position.key, want[0]) == 0 &&
           tg_dec_parse_cstr(want[1], &size) == TG_DEC_OK && tg_dec_eq(ev->position.size, size);
}

/* Positions opened and closed and stops placed and triggered arrive on the
 * account stream. */
static void account_stream(void **state) {
    vt_env *e = *state;
    tg_err err;
    assert_int_equal(tg_venue_account_start(e->v, &err), TG_OK);
    int up[2] = {TG_VEV_CONNECTED, TG_VSTREAM_ACCOUNT};
    assert_true(vt_await(e, 0, is_kind, up, 5000) >= 0);
    size_t from = e->events_count;
    vt_long(e);
    const char *opened[2] = {"BTCUSDT:long", "0.01"};
    assert_true(vt_await(e, from, is_position_of, opened, 5000) >= 0);
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    const char *placed[2] = {"59000", "0"}; /* TG_VSTOP_OPEN */
    assert_true(vt_await(e, from, is_stop_at, placed, 5000) >= 0);
    vt_mark(e, VT_SYM, "58900"); /* through the stop: it triggers and closes */
    const char *closed[2] = {"BTCUSDT:long", "0"};
    assert_true(vt_await(e, from, is_position_of, closed, 5000) >= 0);
    r = vt_positions(e);
    vt_expect_ok(&r);
    assert_int_equal(r.positions_count, 0);
}

/* ---- replies own their arrays -------------------------------------------- */

typedef struct vt_listing {
    vt_env *e;          /* for the emulator's view */
    int done;           /* callbacks seen */
    size_t count;       /* entries in the reply, during the callback */
    char keys[4][40];   /* position keys (positions) or position keys of stops */
    tg_venue_code code; /* reply's error code */
} vt_listing;

static void vt_listing_fn(void *ctx, const tg_venue_reply *r) {
    vt_listing *l = ctx;
    l->done++;
    l->code = r->error.code;
    size_t n = r->op == TG_VOP_POSITIONS ? r->positions_count : r->stops_count;
    l->count = n;
    for (size_t i = 0; i < n && i < 4; i++) {
        const char *key =
            r->op == TG_VOP_POSITIONS ? r->positions[i].key : r->stops[i].position_key;
        snprintf(l->keys[i], sizeof l->keys[i], "%s", key);
    }
}

static bool vt_listing_has(const vt_listing *l, const char *key) {
    for (size_t i = 0; i < l->count && i < 4; i++) {
        if (strcmp(l->keys[i], key) == 0) {
            return true;
        }
    }
    return false;
}

/* Several listings of the same kind in flight at once, with a find and a
 * set (which read into scratch lists of their own) and stream events about
 * the same positions arriving meanwhile: each reply, read in its callback,
 * holds exactly its own listing. */
static void listings_in_flight_keep_their_arrays(void **state) {
    vt_env *e = *state;
    tg_err err;
    vt_long(e);
    vt_mark(e, "ETHUSDT", "3000");
    vt_position(e, "ETHUSDT", "short", "0.5", "3000");
    tg_venue_stop_req req = vt_req(VT_SYM, TG_SIDE_LONG, "59000", "0.01", 1);
    tg_venue_reply r = vt_set(e, &req);
    vt_expect_ok(&r);
    req = vt_req("ETHUSDT", TG_SIDE_SHORT, "3100", "0.5", 1);
    r = vt_set(e, &req);
    vt_expect_ok(&r);
    assert_int_equal(tg_venue_account_start(e->v, &err), TG_OK);
    int up[2] = {TG_VEV_CONNECTED, TG_VSTREAM_ACCOUNT};
    assert_true(vt_await(e, 0, is_kind, up, 5000) >= 0);

    enum { ROUNDS = 3 };
    for (int round = 0; round < ROUNDS; round++) {
        vt_listing all = {.e = e}, eth = {.e = e}, pos[2] = {{.e = e}, {.e = e}};
        tg_venue_waiter find = {0}, set = {0};
        assert_int_equal(tg_venue_get_stops(e->v, NULL, vt_listing_fn, &all, &err), TG_OK);
        assert_int_equal(tg_venue_get_positions(e->v, vt_listing_fn, &pos[0], &err), TG_OK);
        assert_int_equal(tg_venue_get_stops(e->v, "ETHUSDT", vt_listing_fn, &eth, &err), TG_OK);
        assert_int_equal(tg_venue_find_stop(e->v, VT_SYM, "", "tg-BTCUSDT:l-zz", tg_venue_waiter_fn,
                                            &find, &err),
                         TG_OK);
        assert_int_equal(tg_venue_get_positions(e->v, vt_listing_fn, &pos[1], &err), TG_OK);
        req = vt_req("ETHUSDT", TG_SIDE_SHORT, round % 2 ? "3100" : "3090", "0.5", 2 + round);
        req.prev = r.stop;
        assert_int_equal(tg_venue_set_stop(e->v, &req, tg_venue_waiter_fn, &set, &err), TG_OK);
        /* stream events about a third position while the listings are out */
        vt_mark(e, "SOLUSDT", "150");
        vt_position(e, "SOLUSDT", "long", round % 2 ? "0" : "3", "150");
        for (int spins = 0; spins < 2000 && (all.done + eth.done + pos[0].done + pos[1].done < 4 ||
                                             !find.done || !set.done);
             spins++) {
            uv_run(&e->loop, UV_RUN_ONCE);
        }
        assert_true(find.done && set.done);
        vt_expect_ok(&set.reply);
        r = set.reply;
        tg_venue_waiter_release(&find);
        tg_venue_waiter_release(&set);
        assert_int_equal(all.done, 1);
        assert_int_equal(all.code, TG_VENUE_OK);
        assert_true(all.count >= 2); /* the replaced stop may still be listed once */
        assert_true(vt_listing_has(&all, "BTCUSDT:long") && vt_listing_has(&all, "ETHUSDT:short"));
        assert_int_equal(eth.code, TG_VENUE_OK);
        assert_true(eth.count >= 1 && !vt_listing_has(&eth, "BTCUSDT:long"));
        for (int k = 0; k < 2; k++) {
            assert_int_equal(pos[k].done, 1);
            assert_int_equal(pos[k].code, TG_VENUE_OK);
            assert_true(pos[k].count >= 2 && pos[k].count <= 3);
            assert_true(vt_listing_has(&pos[k], "BTCUSDT:long"));
            assert_true(vt_listing_has(&pos[k], "ETHUSDT:short"));
        }
    }
}

/* ---- closing at market and the mark over REST ------------------------------ */

static void close_position_at_market(void **state) {
    vt_env *e = *state;
    tg_err err;
    vt_long(e);
    vt_mark(e, "ETHUSDT", "3000");
    vt_position(e, "ETHUSDT", "short", "0.5", "3000");
    tg_venue_waiter w = {0};
    assert_int_equal(tg_venue_close_position(e->v, VT_SYM, TG_SIDE_LONG, vt_dec("0.01"), 0,
                                             tg_venue_waiter_fn, &w, &err),
                     TG_OK);
    tg_venue_reply r = vt_wait(e, &w);
    vt_expect_ok(&r);
    assert_int_equal(r.op, TG_VOP_CLOSE_POSITION);
    assert_int_equal(r.requests, 1);
    memset(&w, 0, sizeof w);
    assert_int_equal(tg_venue_close_position(e->v, "ETHUSDT", TG_SIDE_SHORT, vt_dec("0.5"), 0,
                                             tg_venue_waiter_fn, &w, &err),
                     TG_OK);
    r = vt_wait(e, &w);
    vt_expect_ok(&r);
    r = vt_positions(e);
    vt_expect_ok(&r);
    assert_int_equal(r.positions_count, 0);
    /* reduce-only: nothing left to reduce is refused, never a new position */
    memset(&w, 0, sizeof w);
    assert_int_equal(tg_venue_close_position(e->v, VT_SYM, TG_SIDE_LONG, vt_dec("0.01"), 0,
                                             tg_venue_waiter_fn, &w, &err),
                     TG_OK);
    r = vt_wait(e, &w);
    assert_int_not_equal(r.error.code, TG_VENUE_OK);
    assert_int_equal(r.requests, 1); /* never retried */
    r = vt_positions(e);
    assert_int_equal(r.positions_count, 0);
    assert_int_equal(tg_venue_close_position(e->v, VT_SYM, TG_SIDE_LONG, vt_dec("0"), 0,
                                             tg_venue_waiter_fn, &w, &err),
                     TG_E_INVALID);
    assert_int_equal(tg_venue_close_position(e->v, "btc", TG_SIDE_LONG, vt_dec("1"), 0,
                                             tg_venue_waiter_fn, &w, &err),
                     TG_E_INVALID);
}

static void mark_over_rest(void **state) {
    vt_env *e = *state;
    tg_err err;
    vt_mark(e, VT_SYM, "60123.5");
    tg_venue_waiter w = {0};
    assert_int_equal(tg_venue_get_mark(e->v, VT_SYM, tg_venue_waiter_fn, &w, &err), TG_OK);
    tg_venue_reply r = vt_wait(e, &w);
    vt_expect_ok(&r);
    assert_int_equal(r.op, TG_VOP_MARK);
    assert_true(tg_dec_eq(r.mark, vt_dec("60123.5")));
    assert_true(r.mark_ms > 0);
    memset(&w, 0, sizeof w);
    assert_int_equal(tg_venue_get_mark(e->v, "NOSUCHUSDT", tg_venue_waiter_fn, &w, &err), TG_OK);
    r = vt_wait(e, &w);
    assert_int_not_equal(r.error.code, TG_VENUE_OK);
    assert_int_equal(tg_venue_get_mark(e->v, "", tg_venue_waiter_fn, &w, &err), TG_E_INVALID);
}

/* 0 when the emulator starts, 77 (skip) otherwise. */
static int vt_probe(void) {
    tg_sim_config sc = tg_sim_config_default();
    tg_sim *sim = NULL;
    tg_err err;
    if (tg_sim_new(&sc, &sim, &err) != TG_OK || tg_sim_start(sim, &err) != TG_OK) {
        fprintf(stderr, "skipped: the emulator does not start: %s\n", err.msg);
        tg_sim_free(sim);
        return 77;
    }
    tg_sim_stop(sim);
    tg_sim_free(sim);
    return 0;
}

#define VT_COMMON_TESTS                                                                            \
    cmocka_unit_test(config_refuses_plain_remote),                                                 \
        cmocka_unit_test_setup_teardown(time_and_rules, vt_setup, vt_teardown),                    \
        cmocka_unit_test_setup_teardown(positions, vt_setup, vt_teardown),                         \
        cmocka_unit_test_setup_teardown(dead_exchange_is_an_error, vt_setup, vt_teardown),         \
        cmocka_unit_test_setup_teardown(place_replace_cancel, vt_setup, vt_teardown),              \
        cmocka_unit_test_setup_teardown(same_price_is_not_resent, vt_setup, vt_teardown),          \
        cmocka_unit_test_setup_teardown(stop_needs_a_position, vt_setup, vt_teardown),             \
        cmocka_unit_test_setup_teardown(would_trigger_and_precision, vt_setup, vt_teardown),       \
        cmocka_unit_test_setup_teardown(unknown_order_cancel_is_gone, vt_setup, vt_teardown),      \
        cmocka_unit_test_setup_teardown(clock_offset_recovery, vt_setup, vt_teardown),             \
        cmocka_unit_test_setup_teardown(server_error_is_retried, vt_setup, vt_teardown),           \
        cmocka_unit_test_setup_teardown(replaces_never_pile_up, vt_setup, vt_teardown),            \
        cmocka_unit_test_setup_teardown(wrong_secret_is_not_echoed, vt_setup, vt_teardown),        \
        cmocka_unit_test_setup_teardown(mark_stream_subscribe_unsubscribe, vt_setup, vt_teardown), \
        cmocka_unit_test_setup_teardown(mark_stream_reconnects_and_resubscribes, vt_setup,         \
                                        vt_teardown),                                              \
        cmocka_unit_test_setup_teardown(account_stream, vt_setup, vt_teardown),                    \
        cmocka_unit_test_setup_teardown(streams_renew_reconnects_both, vt_setup, vt_teardown),     \
        cmocka_unit_test_setup_teardown(listings_in_flight_keep_their_arrays, vt_setup,            \
                                        vt_teardown),                                              \
        cmocka_unit_test_setup_teardown(close_position_at_market, vt_setup, vt_teardown),          \
        cmocka_unit_test_setup_teardown(mark_over_rest, vt_setup, vt_teardown),                    \
        cmocka_unit_test_setup_teardown(user_agent_on_every_request, vt_setup, vt_teardown)

#endif
