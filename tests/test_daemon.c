/* `trailguard run` end to end: the real daemon binary against the in-process
 * emulator over loopback sockets, checked through the emulator's control
 * endpoint (what the exchange holds) and the daemon's own HTTP API. */
#define PREFIX "daemon"
#include "daemon_testutil.h"
/* ---- 1. the life of a position --------------------------------------- */

/* Headless Chromium loads the status page from the daemon: its DOM holds
 * the positions table with one row per open position. */
static void status_page_in_chromium(int positions) {
    static const char chromium[] = "/usr/bin/chromium";
    if (access(chromium, X_OK) != 0) {
        printf("  %s absent (apt-get install chromium): the page is not rendered\n", chromium);
        return;
    }
    char dom[TU_PATH_MAX], profile[TU_PATH_MAX], cmd[4 * TU_PATH_MAX];
    in_dir(dom, "status.dom");
    in_dir(profile, "chromium-profile");
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s --headless --no-sandbox --disable-gpu --disable-background-networking"
             " --disable-component-update --disable-sync --no-first-run --user-data-dir='%s'"
             " --dump-dom 'http://127.0.0.1:%u/' >'%s' 2>/dev/null; rc=$?; rm -rf '%s'; exit $rc",
             chromium, profile, (unsigned)E.http_port, dom, profile);
    assert_int_equal(system(cmd), 0);
    char *out = tu_read(dom, NULL);
    assert_non_null(out);
    const char *table = strstr(out, "<table id=\"positions\">");
    assert_non_null(table);
    const char *body = strstr(table, "<tbody>");
    const char *end = strstr(table, "</tbody>");
    assert_non_null(body);
    assert_non_null(end);
    int rows = 0;
    for (const char *p = strstr(body, "<tr>"); p != NULL && p < end; p = strstr(p + 1, "<tr>")) {
        rows++;
    }
    assert_int_equal(rows, positions);
    assert_non_null(strstr(out, "<td>BTCUSDT</td>"));
    assert_non_null(strstr(out, "id=\"health\""));
    free(out);
    unlink(dom);
}

static void stops_trail_and_trigger(void **state) {
    (void)state;
    open_two_and_start();
    trail_both();
    cJSON *p = daemon_position(BN_BTC);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "state"), "active");
    assert_true(exchange_stop(p) == 51740);
    cJSON_Delete(p);
    /* a dip above the stop leaves it where it is */
    mark("BTCUSDT", "51800");
    tu_sleep_ms(200);
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    assert_int_equal(bn.stops, 1);
    assert_true(trigger_of(&bn) == 51740);
    assert_int_equal(bn.windows, 1); /* only the one before the first stop */
    prot by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_int_equal(by.windows, 1);

    /* through the stops: both fire and close their positions */
    mark("BTCUSDT", "51700");
    mark("ETHUSDT", "2920");
    bn = protection(BN_ACCOUNT, "BTCUSDT");
    by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_false(bn.open);
    assert_false(by.open);
    wait_unlisted(BN_BTC);
    wait_unlisted(BY_ETH);
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 0);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").stops, 0);
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);

    char out[TU_PATH_MAX], errp[TU_PATH_MAX];
    in_dir(out, "state.out");
    in_dir(errp, "state.err");
    assert_int_equal(tu_run_cli(out, errp, "state list --store '%s'", E.db), 0);
    char *list = tu_read(out, NULL);
    assert_null(strstr(list, "BTCUSDT"));
    free(list);
    assert_row_closed(E.db, BN_ACCOUNT, "BTCUSDT:long", "51740");
    assert_row_closed(E.db, BY_ACCOUNT, "ETHUSDT:short", "2914.5");
}

/* The other side on each venue: a Binance short and a Bybit long. */
static void other_sides_trail_and_trigger(void **state) {
    (void)state;
    open_pos(BN_ACCOUNT, "XRPUSDT", "short", "1000", "0.6");
    open_pos(BY_ACCOUNT, "SOLUSDT", "long", "10", "150");
    start_daemon();
    wait_stop(BN_ACCOUNT, "XRPUSDT", 0.612);
    wait_stop(BY_ACCOUNT, "SOLUSDT", 147);
    mark("XRPUSDT", "0.58");
    wait_stop(BN_ACCOUNT, "XRPUSDT", 0.5829);
    mark("XRPUSDT", "0.56");
    wait_stop(BN_ACCOUNT, "XRPUSDT", 0.5628);
    mark("SOLUSDT", "152");
    wait_stop(BY_ACCOUNT, "SOLUSDT", 151.24);
    mark("SOLUSDT", "156");
    wait_stop(BY_ACCOUNT, "SOLUSDT", 155.22);
    assert_int_equal(protection(BN_ACCOUNT, "XRPUSDT").windows, 1);
    assert_int_equal(protection(BY_ACCOUNT, "SOLUSDT").windows, 1);
    mark("XRPUSDT", "0.57");
    mark("SOLUSDT", "155");
    assert_false(protection(BN_ACCOUNT, "XRPUSDT").open);
    assert_false(protection(BY_ACCOUNT, "SOLUSDT").open);
    wait_unlisted("e2e-bn:XRPUSDT:short");
    wait_unlisted("e2e-by:SOLUSDT:long");
    assert_int_equal(protection(BN_ACCOUNT, "XRPUSDT").stops, 0);
    assert_int_equal(protection(BY_ACCOUNT, "SOLUSDT").stops, 0);
}

/* A silent mark stream (stale_seconds = 1): /health says degraded for as
 * long as it lasts, REST marks keep the stop trailing, and it recovers. */
static void stale_feed_degrades_health(void **state) {
    (void)state;
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.010", "50000");
    start_daemon();
    wait_stop(BN_ACCOUNT, "BTCUSDT", 49000);
    sim_ok("POST", "/sim/fault", "{\"path\":\"stream:markPrice\",\"kind\":\"stale\",\"count\":0}");
    mark("BTCUSDT", "50001"); /* the first skipped message */
    int64_t until = mono_ms() + WAIT_MS;
    long status = 0;
    while (status != 503) {
        assert_true(mono_ms() < until);
        tu_sleep_ms(50);
        tu_resp r = api("GET", "/health", NULL, NULL);
        status = r.status;
        if (status == 503) {
            assert_non_null(strstr(r.body, "BTCUSDT"));
            assert_non_null(strstr(r.body, "stale"));
        }
        tu_resp_free(&r);
    }
    /* the stream stays silent: degraded all along, trailing on REST marks */
    mark("BTCUSDT", "51000");
    int64_t t0 = mono_ms();
    int ok_seen = 0;
    while (mono_ms() - t0 < 3000) {
        tu_resp r = api("GET", "/health", NULL, NULL);
        ok_seen += r.status == 200;
        tu_resp_free(&r);
        tu_sleep_ms(50);
    }
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    assert_int_equal(ok_seen, 0);
    sim_ok("DELETE", "/sim/fault", NULL);
    mark("BTCUSDT", "51001");
    until = mono_ms() + WAIT_MS;
    while (status != 200) {
        assert_true(mono_ms() < until);
        tu_sleep_ms(50);
        tu_resp r = api("GET", "/health", NULL, NULL);
        status = r.status;
        tu_resp_free(&r);
    }
}

/* Two Binance accounts on one emulator read one market stream (the first
 * account's), and each account's stops trail on it, also on a symbol the
 * first account holds no position in. */
static void accounts_share_one_market_stream(void **state) {
    (void)state;
    char k[TU_PATH_MAX], sec[TU_PATH_MAX];
    in_dir(k, "bn2.key");
    in_dir(sec, "bn2.secret");
    write_mode(k, BN2_KEY "\n", 0600);
    write_mode(sec, BN2_SECRET "\n", 0600);
    snprintf(E.sections, sizeof E.sections,
             "[account " BN2_ACCOUNT "]\nvenue = binance\nrest_url = http://127.0.0.1:%u\n"
             "ws_url = ws://127.0.0.1:%u\napi_key_file = %s\napi_secret_file = %s\n",
             (unsigned)E.sim.port.binance, (unsigned)E.sim.port.binance, k, sec);
    write_config(E.ini, E.http_port, false);
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.010", "50000");
    open_pos(BN2_ACCOUNT, "BTCUSDT", "long", "0.020", "50000");
    open_pos(BN2_ACCOUNT, "ETHUSDT", "short", "0.500", "3000");
    start_daemon();
    wait_stop(BN_ACCOUNT, "BTCUSDT", 49000);
    wait_stop(BN2_ACCOUNT, "BTCUSDT", 49000);
    wait_stop(BN2_ACCOUNT, "ETHUSDT", 3060);
    tu_resp st = tu_ctl(&E.sim, "GET", "/sim/state", NULL);
    const cJSON *streams = cJSON_GetObjectItemCaseSensitive(st.json, "market_streams");
    assert_non_null(streams);
    assert_int_equal((int)tu_jnum(streams, "binance"), 1);
    assert_int_equal((int)tu_jnum(streams, "bybit"), 0);
    tu_resp_free(&st);
    mark("BTCUSDT", "51000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    wait_stop(BN2_ACCOUNT, "BTCUSDT", 50745);
    mark("ETHUSDT", "2960");
    wait_stop(BN2_ACCOUNT, "ETHUSDT", 2974.8);
    /* the first account's book learnt ETHUSDT for the stream only */
    tu_resp list = api("GET", "/v1/positions", NULL, NULL);
    assert_int_equal(list.status, 200);
    assert_int_equal(cJSON_GetArraySize(list.json), 3);
    tu_resp_free(&list);
    tu_resp health = api("GET", "/health", NULL, NULL);
    assert_int_equal(health.status, 200);
    tu_resp_free(&health);
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);
}

/* ---- 2. a position opened while the daemon runs ---------------------- */

static void late_position_is_protected_fast(void **state) {
    (void)state;
    start_daemon();
    struct {
        const char *account, *symbol, *side, *size, *entry;
        double stop;
    } late[] = {{BN_ACCOUNT, "SOLUSDT", "long", "20", "150", 147},
                {BY_ACCOUNT, "XRPUSDT", "short", "1000", "0.6", 0.612}};
    for (size_t i = 0; i < 2; i++) {
        mark(late[i].symbol, late[i].entry);
        tg_err err = {0};
        int64_t t0 = mono_ms();
        assert_int_equal(tg_sim_open_position(E.sim.sim, late[i].account, late[i].symbol,
                                              late[i].side, late[i].size, late[i].entry, &err),
                         TG_OK);
        int64_t seen = wait_stop(late[i].account, late[i].symbol, late[i].stop);
        prot p = protection(late[i].account, late[i].symbol);
        printf("  %s %s: protected %lld ms after opening (emulator window %lld ms)\n",
               late[i].account, late[i].symbol, (long long)(mono_ms() - t0),
               (long long)p.longest_ms);
        assert_true(seen <= PROTECT_MAX_MS);
        assert_int_equal(p.windows, 1);
        assert_true(p.longest_ms <= PROTECT_MAX_MS);
    }
}

/* ---- 3. SIGKILL mid-trail and restart -------------------------------- */

static void restart_mid_trail_restores(void **state) {
    (void)state;
    open_two_and_start();
    trail_both();
    assert_int_equal(stop_daemon(SIGKILL, 2000), 128 + SIGKILL);
    /* prices move on while it is down; the stops stay */
    mark("BTCUSDT", "53000");
    mark("ETHUSDT", "2880");
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    assert_int_equal(bn.stops, 1);
    assert_true(trigger_of(&bn) == 51740);
    start_daemon();
    cJSON *p = daemon_position(BN_BTC);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "state"), "active");
    assert_true(exchange_stop(p) >= 51740);
    cJSON_Delete(p);
    p = daemon_position(BY_ETH);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "state"), "active");
    assert_true(exchange_stop(p) > 0 && exchange_stop(p) <= 2914.5);
    cJSON_Delete(p);
    /* the next mark trails from the restored high, one stop each */
    wait_stop(BN_ACCOUNT, "BTCUSDT", 52735);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2894.4);
    tu_sleep_ms(RECONCILE_MS + 500); /* a reconcile pass later: still one */
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 1);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").stops, 1);
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").windows, 1);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").windows, 1);
}

/* While it is down: a stop cancelled by hand, a stop that fired, a new
 * position. The restart puts back the trailed stop (not the initial one),
 * closes the row of the position that is gone and protects the new one. */
static void restart_catches_up_with_the_exchange(void **state) {
    (void)state;
    open_two_and_start();
    trail_both();
    assert_int_equal(stop_daemon(SIGKILL, 2000), 128 + SIGKILL);
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    char params[256];
    snprintf(params, sizeof params, "symbol=BTCUSDT&algoId=%s", bn.id);
    tu_resp r = tu_bn_full(&E.sim, "DELETE", "/fapi/v1/algoOrder", params, false, BN_KEY, BN_SECRET,
                           tu_now_ms());
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    mark("ETHUSDT", "2920"); /* through the short's stop at 2914.5 */
    assert_false(protection(BY_ACCOUNT, "ETHUSDT").open);
    open_pos(BY_ACCOUNT, "SOLUSDT", "long", "10", "150");

    start_daemon();
    wait_stop(BN_ACCOUNT, "BTCUSDT", 51740);
    wait_stop(BY_ACCOUNT, "SOLUSDT", 147);
    wait_unlisted(BY_ETH);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").stops, 0);
    assert_true(listed("e2e-by:SOLUSDT:long"));
    tu_sleep_ms(RECONCILE_MS + 500);
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 1);
    assert_int_equal(protection(BY_ACCOUNT, "SOLUSDT").stops, 1);
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);
    assert_row_closed(E.db, BY_ACCOUNT, "ETHUSDT:short", NULL);
}

/* A position closed by hand while the daemon runs leaves no stop behind
 * and no row open. */
static void position_closed_by_hand(void **state) {
    (void)state;
    open_two_and_start();
    sim_ok("DELETE", "/sim/position?account=" BN_ACCOUNT "&symbol=BTCUSDT", NULL);
    sim_ok("DELETE", "/sim/position?account=" BY_ACCOUNT "&symbol=ETHUSDT", NULL);
    wait_unlisted(BN_BTC);
    wait_unlisted(BY_ETH);
    tu_sleep_ms(RECONCILE_MS + 500);
    assert_int_equal(protection(BN_ACCOUNT, "BTCUSDT").stops, 0);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").stops, 0);
    /* and a new position on the same symbol is a new life */
    open_pos(BN_ACCOUNT, "BTCUSDT", "long", "0.020", "50000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 49000);
    cJSON *p = daemon_position(BN_BTC);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "state"), "inactive");
    cJSON_Delete(p);
}

/* SIGHUP: a new callback in the file applies to open positions, and the
 * log file is opened again by its name (log rotation moved the old one). */
static void sighup_reloads_parameters(void **state) {
    (void)state;
    open_two_and_start();
    char *ini = tu_read(E.ini, NULL);
    char *at = strstr(ini, "callback_percent = 0.5");
    assert_non_null(at);
    memcpy(at, "callback_percent = 1.0", 22);
    write_mode(E.ini, ini, 0644);
    free(ini);
    char rotated[TU_PATH_MAX + 8];
    snprintf(rotated, sizeof rotated, "%s.1", E.log);
    assert_int_equal(rename(E.log, rotated), 0);
    kill(E.daemon, SIGHUP);
    int64_t until = mono_ms() + WAIT_MS;
    for (;;) {
        char *log = access(E.log, F_OK) == 0 ? tu_read(E.log, NULL) : NULL;
        bool done = log != NULL && strstr(log, "param_changed") != NULL;
        free(log);
        if (done) {
            break;
        }
        assert_true(mono_ms() < until);
        tu_sleep_ms(POLL_MS);
    }
    char *old = tu_read(rotated, NULL);
    assert_non_null(old);
    assert_non_null(strstr(old, "msg=started")); /* the lines before the rotation */
    assert_null(strstr(old, "msg=reloading"));   /* none after it */
    free(old);
    /* a name that cannot be opened (a directory now): the file in use stays */
    assert_int_equal(rename(E.log, rotated), 0);
    assert_int_equal(mkdir(E.log, 0700), 0);
    kill(E.daemon, SIGHUP);
    for (;;) {
        char *log = tu_read(rotated, NULL);
        bool failed =
            strstr(log, "msg=log_reopen_failed") != NULL && strstr(log, "msg=reloading") != NULL;
        free(log);
        if (failed) {
            break;
        }
        assert_true(mono_ms() < until);
        tu_sleep_ms(POLL_MS);
    }
    assert_int_equal(rmdir(E.log), 0);
    assert_int_equal(rename(rotated, E.log), 0);
    mark("BTCUSDT", "52000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 51480);
    mark("ETHUSDT", "2900");
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2929);
}

/* Failed and lost requests while trailing end, within a reconcile
 * interval, in exactly one stop at the price the engine wants. */
static void request_faults_heal_to_one_stop(void **state) {
    (void)state;
    open_two_and_start();
    int64_t heal_ms = RECONCILE_MS + 3000;
    /* the cancel of the old stop fails: two stops for a moment */
    sim_ok("POST", "/sim/fault", "{\"path\":\"DELETE /fapi/v1/algoOrder\",\"kind\":\"http5xx\"}");
    mark("BTCUSDT", "51000");
    wait_stop_for(BN_ACCOUNT, "BTCUSDT", 50745, heal_ms, false);
    /* the new stop is placed but its answer is lost */
    sim_ok("POST", "/sim/fault", "{\"path\":\"POST /fapi/v1/algoOrder\",\"kind\":\"drop\"}");
    mark("BTCUSDT", "52000");
    wait_stop_for(BN_ACCOUNT, "BTCUSDT", 51740, heal_ms, false);
    sim_ok("POST", "/sim/fault",
           "{\"path\":\"/v5/position/trading-stop\",\"kind\":\"http5xx\",\"count\":2}");
    mark("ETHUSDT", "2960");
    wait_stop_for(BY_ACCOUNT, "ETHUSDT", 2974.8, heal_ms, false);
    sim_ok("POST", "/sim/fault", "{\"path\":\"/v5/position/trading-stop\",\"kind\":\"drop\"}");
    mark("ETHUSDT", "2900");
    wait_stop_for(BY_ACCOUNT, "ETHUSDT", 2914.5, heal_ms, false);
    tu_sleep_ms(RECONCILE_MS + 500);
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    prot by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_int_equal(bn.stops, 1);
    assert_int_equal(by.stops, 1);
    assert_true(trigger_of(&bn) == 51740);
    assert_true(trigger_of(&by) == 2914.5);
    tu_resp r = api("GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    /* the faults did hit: the emulator answered 503 to both venues */
    const char *venues[] = {"binance", "bybit"};
    for (int i = 0; i < 2; i++) {
        char target[64];
        snprintf(target, sizeof target, "/sim/requests?venue=%s&since=0", venues[i]);
        r = tu_ctl(&E.sim, "GET", target, NULL);
        assert_non_null(strstr(r.body, "\"status\":503"));
        tu_resp_free(&r);
    }
}

/* The account stream drops the very event of a new position: the
 * reconnect's reconcile finds it. */
static void lost_stream_event_is_reconciled(void **state) {
    (void)state;
    start_daemon();
    sim_ok("POST", "/sim/fault", "{\"path\":\"stream:user\",\"kind\":\"drop\"}");
    sim_ok("POST", "/sim/fault", "{\"path\":\"stream:private\",\"kind\":\"drop\"}");
    mark("SOLUSDT", "150");
    mark("XRPUSDT", "0.6");
    int64_t t0 = mono_ms();
    tg_err err = {0};
    assert_int_equal(
        tg_sim_open_position(E.sim.sim, BN_ACCOUNT, "SOLUSDT", "long", "20", "150", &err), TG_OK);
    assert_int_equal(
        tg_sim_open_position(E.sim.sim, BY_ACCOUNT, "XRPUSDT", "short", "1000", "0.6", &err),
        TG_OK);
    wait_stop_for(BN_ACCOUNT, "SOLUSDT", 147, RECONCILE_MS + 3000, true);
    int64_t bn_ms = mono_ms() - t0;
    wait_stop_for(BY_ACCOUNT, "XRPUSDT", 0.612, RECONCILE_MS + 3000, true);
    int64_t by_ms = mono_ms() - t0;
    printf("  protected after a lost stream event: binance %lld ms, bybit %lld ms\n",
           (long long)bn_ms, (long long)by_ms);
}

/* ---- 4. a stop deleted by hand --------------------------------------- */

static void deleted_stop_is_recreated(void **state) {
    (void)state;
    open_two_and_start();
    mark("BTCUSDT", "51000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);

    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    char params[256];
    snprintf(params, sizeof params, "symbol=BTCUSDT&algoId=%s", bn.id);
    int64_t t0 = mono_ms();
    tu_resp r = tu_bn_full(&E.sim, "DELETE", "/fapi/v1/algoOrder", params, false, BN_KEY, BN_SECRET,
                           tu_now_ms());
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    int64_t bn_ms = mono_ms() - t0;
    assert_string_not_equal(protection(BN_ACCOUNT, "BTCUSDT").id, bn.id); /* a new order */

    t0 = mono_ms();
    r = tu_by_full(&E.sim, "POST", "/v5/position/trading-stop",
                   "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\",\"stopLoss\":\"0\","
                   "\"positionIdx\":0}",
                   BY_KEY, BY_SECRET, tu_now_ms());
    assert_int_equal(r.status, 200);
    assert_int_equal(tu_retcode(&r), 0);
    tu_resp_free(&r);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 3060);
    assert_int_equal(protection(BY_ACCOUNT, "ETHUSDT").windows, 2); /* it was gone a moment */
    int64_t by_ms = mono_ms() - t0;
    printf("  re-created after a manual cancel: binance %lld ms, bybit %lld ms\n", (long long)bn_ms,
           (long long)by_ms);
    assert_true(bn_ms <= RECONCILE_MS + 1000);
    assert_true(by_ms <= RECONCILE_MS + 1000);
}

/* ---- 5. the HTTP API -------------------------------------------------- */

static void api_reads(void **state) {
    (void)state;
    open_two_and_start();
    tu_resp r = api("GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsObject(r.json));
    assert_string_equal(tu_jstr(r.json, "status"), "ok");
    tu_resp_free(&r);

    r = api("GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "trailguard_positions"));
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char path[TU_PATH_MAX], cmd[TU_PATH_MAX * 3];
        in_dir(path, "metrics.txt");
        tu_write(path, r.body);
        snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics <'%s' >'%s.out' 2>&1", path,
                 path);
        int rc = system(cmd);
        if (rc != 0) {
            snprintf(cmd, sizeof cmd, "%s.out", path);
            char *why = tu_read(cmd, NULL);
            fail_msg("promtool check metrics failed: %s", why);
        }
    } else {
        printf("  /usr/bin/promtool absent: the exposition format is not checked\n");
    }
    tu_resp_free(&r);

    r = api("GET", "/v1/positions", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(r.json), 2);
    tu_resp_free(&r);
    cJSON *p = daemon_position(BY_ETH);
    assert_non_null(p);
    assert_string_equal(tu_jstr(p, "venue"), "bybit");
    assert_string_equal(tu_jstr(p, "side"), "short");
    assert_true(exchange_stop(p) == 3060);
    cJSON_Delete(p);
    assert_null(daemon_position("e2e-bn:ETHUSDT:long"));

    r = api("GET", "/", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "text/html"));
    assert_non_null(strstr(r.body, "<table"));
    assert_non_null(strstr(r.body, "<td>BTCUSDT</td>"));
    tu_resp_free(&r);
    status_page_in_chromium(2);

    /* no token_file: every write is refused */
    r = api("PUT", "/v1/positions/" BN_BTC "/params", NULL, "{\"callback_percent\":\"1\"}");
    assert_int_equal(r.status, 403);
    tu_resp_free(&r);
    r = api("POST", "/v1/positions/" BN_BTC "/pause", TOKEN, NULL);
    assert_int_equal(r.status, 403);
    tu_resp_free(&r);
}

static void api_writes_need_the_token(void **state) {
    (void)state;
    open_two_and_start();
    tu_resp r = api("PUT", "/v1/positions/" BN_BTC "/params", NULL, "{\"callback_percent\":\"1\"}");
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);
    r = api("PUT", "/v1/positions/" BN_BTC "/params", "wrong", "{\"callback_percent\":\"1\"}");
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);
    r = api("POST", "/v1/positions/" BY_ETH "/pause", "wrong", NULL);
    assert_int_equal(r.status, 401);
    tu_resp_free(&r);

    /* a wider callback, applied to the next move */
    r = api("PUT", "/v1/positions/" BN_BTC "/params", TOKEN, "{\"callback_percent\":\"1\"}");
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "params_override")));
    tu_resp_free(&r);
    mark("BTCUSDT", "52000");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 51480);

    /* paused: the stop stays where it is */
    r = api("POST", "/v1/positions/" BY_ETH "/pause", TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "paused")));
    tu_resp_free(&r);
    mark("ETHUSDT", "2900");
    tu_sleep_ms(500);
    prot by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_int_equal(by.stops, 1);
    assert_true(trigger_of(&by) == 3060);
    r = api("POST", "/v1/positions/" BY_ETH "/resume", TOKEN, NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    mark("ETHUSDT", "2890");
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2904.45);
}

/* ---- 6. one SQLite store, one daemon --------------------------------- */

static void second_daemon_on_the_store_refuses(void **state) {
    (void)state;
    start_daemon();
    char ini2[TU_PATH_MAX], log2[TU_PATH_MAX], err2[TU_PATH_MAX];
    in_dir(ini2, "second.ini");
    in_dir(log2, "second.log");
    in_dir(err2, "second.stderr");
    write_config(ini2, free_port(), false);
    pid_t pid = spawn_daemon(ini2, log2, err2);
    int64_t until = mono_ms() + 5000;
    int ws = 0;
    while (waitpid(pid, &ws, WNOHANG) != pid) {
        if (mono_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("a second daemon on the same store kept running");
        }
        tu_sleep_ms(POLL_MS);
    }
    assert_true(WIFEXITED(ws));
    assert_int_not_equal(WEXITSTATUS(ws), 0);
    char *msg = tu_read(err2, NULL);
    printf("  second daemon: exit %d: %s", WEXITSTATUS(ws), msg);
    assert_non_null(strstr(msg, E.db));
    free(msg);
    /* the first one is untouched */
    tu_resp r = api("GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
}

/* ---- 7. secrets under errors ------------------------------------------ */

static void secrets_stay_out_of_the_logs(void **state) {
    (void)state;
    open_two_and_start();
    /* errors and reconnects make the daemon log requests and streams */
    sim_ok("POST", "/sim/fault", "{\"path\":\"*\",\"kind\":\"http5xx\",\"count\":4}");
    sim_ok("POST", "/sim/fault", "{\"path\":\"stream:*\",\"kind\":\"drop\",\"count\":2}");
    mark("BTCUSDT", "51000");
    mark("ETHUSDT", "2960");
    wait_stop(BN_ACCOUNT, "BTCUSDT", 50745);
    wait_stop(BY_ACCOUNT, "ETHUSDT", 2974.8);
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);
    char *log = tu_read(E.log, NULL);
    assert_true(strlen(log) > 0);
    free(log);
    assert_no_secrets();
}

/* ---- 8. SIGTERM ------------------------------------------------------- */

/* After trail_both and a SIGTERM: the daemon exited 0, said so in its log
 * (and said `also` there, when not NULL), and both trailed stops are still
 * on the exchange. */
static void assert_drained_with_stops(const char *also) {
    int64_t t0 = mono_ms();
    assert_int_equal(stop_daemon(SIGTERM, 5000), 0);
    printf("  SIGTERM to exit: %lld ms\n", (long long)(mono_ms() - t0));
    tu_sleep_ms(200);
    prot bn = protection(BN_ACCOUNT, "BTCUSDT");
    prot by = protection(BY_ACCOUNT, "ETHUSDT");
    assert_int_equal(bn.stops, 1);
    assert_int_equal(by.stops, 1);
    assert_true(trigger_of(&bn) == 51740);
    assert_true(trigger_of(&by) == 2914.5);
    char *text = tu_read(E.log, NULL);
    assert_non_null(strstr(text, "msg=stopped"));
    assert_true(also == NULL || strstr(text, also) != NULL);
    free(text);
}

static void sigterm_leaves_the_stops(void **state) {
    (void)state;
    open_two_and_start();
    trail_both();
    assert_drained_with_stops(NULL);
}

/* ---- 9. --busy-poll ---------------------------------------------------- */

/* With a loop that never sleeps the daemon does the same work: both
 * positions trail, the stops move on the exchange, and SIGTERM still drains
 * and exits 0 with every stop left in place. */
static void busy_poll_trails_and_drains(void **state) {
    (void)state;
    E.option = "--busy-poll";
    open_two_and_start();
    trail_both();
    cJSON *p = daemon_position(BN_BTC);
    assert_non_null(p);
    assert_true(exchange_stop(p) == 51740);
    cJSON_Delete(p);
    assert_drained_with_stops("msg=busy_poll");
}

int main(int argc, char **argv) {
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]); /* one test by name, for debugging */
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stops_trail_and_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(other_sides_trail_and_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_feed_degrades_health, setup_stale, teardown),
        cmocka_unit_test_setup_teardown(accounts_share_one_market_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(late_position_is_protected_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_mid_trail_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_catches_up_with_the_exchange, setup, teardown),
        cmocka_unit_test_setup_teardown(position_closed_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(sighup_reloads_parameters, setup, teardown),
        cmocka_unit_test_setup_teardown(request_faults_heal_to_one_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(lost_stream_event_is_reconciled, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_stop_is_recreated, setup, teardown),
        cmocka_unit_test_setup_teardown(api_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(api_writes_need_the_token, setup_token, teardown),
        cmocka_unit_test_setup_teardown(second_daemon_on_the_store_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(secrets_stay_out_of_the_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(sigterm_leaves_the_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(busy_poll_trails_and_drains, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
