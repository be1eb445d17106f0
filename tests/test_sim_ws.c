/* The emulator's WebSocket streams over real sockets with a minimal client:
 * Binance mark-price streams on every path form, live SUBSCRIBE/UNSUBSCRIBE,
 * the user-data stream through a stop's whole life; Bybit tickers, ping,
 * auth and the private topics. */
#include "sim_testutil.h"

#define MSG_MAX 65536

static tu_sim t;
static char msg[MSG_MAX];

static int setup(void **state) {
    (void)state;
    tu_sim_start(&t);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_sim_stop(&t);
    return 0;
}

static void test_binance_mark_paths(void **state) {
    (void)state;
    const char *paths[] = {"/ws/btcusdt@markPrice@1s", "/market/ws/btcusdt@markPrice",
                           "/stream?streams=btcusdt@markPrice/ethusdt@markPrice@1s",
                           "/market/stream?streams=btcusdt@markPrice@1s"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        tu_ws w;
        assert_int_equal(tu_ws_open(&w, t.port.binance, paths[i]), 101);
        tu_mark(&t, "BTCUSDT", i % 2 ? "51500" : "51400.5");
        assert_true(tu_ws_wait(&w, "markPriceUpdate", msg, sizeof msg, 3000));
        cJSON *j = cJSON_Parse(msg);
        bool combined = strstr(paths[i], "streams=") != NULL;
        const cJSON *data = combined ? cJSON_GetObjectItemCaseSensitive(j, "data") : j;
        if (combined) {
            assert_non_null(strstr(tu_jstr(j, "stream"), "btcusdt@markPrice"));
        }
        assert_string_equal(tu_jstr(data, "s"), "BTCUSDT");
        assert_string_equal(tu_jstr(data, "p"), i % 2 ? "51500.00000000" : "51400.50000000");
        cJSON_Delete(j);
        tu_ws_close(&w);
    }
    tu_ws w;
    assert_int_equal(tu_ws_open(&w, t.port.binance, "/nowhere"), 404);
    tu_ws_close(&w);
    assert_int_equal(tu_ws_open(&w, t.port.binance, "/private/ws?listenKey=nope"), 404);
    tu_ws_close(&w);
}

static void test_binance_live_subscribe(void **state) {
    (void)state;
    tu_ws w;
    assert_int_equal(tu_ws_open(&w, t.port.binance, "/ws"), 101);
    tu_ws_send(&w, "{\"method\":\"SUBSCRIBE\",\"params\":[\"ethusdt@markPrice@1s\"],\"id\":1}");
    assert_true(tu_ws_wait(&w, "\"id\":1", msg, sizeof msg, 3000));
    assert_string_equal(msg, "{\"result\":null,\"id\":1}");
    tu_mark(&t, "ETHUSDT", "3100");
    assert_true(tu_ws_wait(&w, "markPriceUpdate", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"p\":\"3100.00000000\""));
    tu_ws_send(&w, "{\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":2}");
    assert_true(tu_ws_wait(&w, "\"id\":2", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "ethusdt@markPrice@1s"));
    tu_ws_send(&w, "{\"method\":\"UNSUBSCRIBE\",\"params\":[\"ethusdt@markPrice@1s\"],\"id\":3}");
    assert_true(tu_ws_wait(&w, "\"id\":3", msg, sizeof msg, 3000));
    tu_mark(&t, "ETHUSDT", "3101");
    assert_false(tu_ws_wait(&w, "markPriceUpdate", msg, sizeof msg, 1500));
    tu_ws_send(&w, "{\"method\":\"SUBSCRIBE\",\"params\":[\"nosuch@markPrice\"],\"id\":4}");
    assert_true(tu_ws_wait(&w, "\"id\":4", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "error"));
    /* a ping frame gets its payload back in a pong */
    tu_ws_send_op(&w, 9, "hi", 2);
    int op;
    do {
        op = tu_ws_recv(&w, msg, sizeof msg, 3000);
    } while (op == 1);
    assert_int_equal(op, 10);
    assert_string_equal(msg, "hi");
    tu_ws_close(&w);
}

static char *listen_key(void) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/fapi/v1/listenKey", (unsigned)t.port.binance);
    const char *h[] = {"X-MBX-APIKEY: " TU_BN_KEY, NULL};
    tu_resp r = tu_http("POST", url, h, NULL, 5000);
    char *key = strdup(tu_jstr(r.json, "listenKey"));
    tu_resp_free(&r);
    return key;
}

static void test_binance_user_stream(void **state) {
    (void)state;
    tu_mark(&t, "BTCUSDT", "50000");
    tu_position(&t, "demo-binance", "BTCUSDT", "long", "0.010", "50000");
    char *key = listen_key();
    char path[256];
    tu_ws a, b;
    snprintf(path, sizeof path, "/private/ws?listenKey=%s&events=ORDER_TRADE_UPDATE/ALGO_UPDATE",
             key);
    assert_int_equal(tu_ws_open(&a, t.port.binance, path), 101);
    snprintf(path, sizeof path, "/ws/%s", key);
    assert_int_equal(tu_ws_open(&b, t.port.binance, path), 101);
    tu_resp r = tu_bn(&t, "POST", "/fapi/v1/algoOrder",
                      "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&"
                      "triggerPrice=49000.0&closePosition=true&workingType=MARK_PRICE&"
                      "clientAlgoId=sl-ws");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    assert_true(tu_ws_wait(&a, "\"X\":\"NEW\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "ALGO_UPDATE"));
    assert_non_null(strstr(msg, "\"caid\":\"sl-ws\""));
    tu_mark(&t, "BTCUSDT", "48900");
    const char *order[] = {"\"X\":\"TRIGGERING\"", "\"X\":\"TRIGGERED\"", "ORDER_TRADE_UPDATE",
                           "\"X\":\"FILLED\"",     "ACCOUNT_UPDATE",      "\"X\":\"FINISHED\""};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!tu_ws_wait(&a, order[i], msg, sizeof msg, 3000)) {
            fail_msg("no event with %s", order[i]);
        }
        if (i == 4) {
            assert_non_null(strstr(msg, "\"pa\":\"0.000\""));
        }
    }
    assert_true(tu_ws_wait(&b, "\"X\":\"FINISHED\"", msg, sizeof msg, 3000));
    /* closing the key ends both streams with listenKeyExpired */
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/fapi/v1/listenKey", (unsigned)t.port.binance);
    const char *h[] = {"X-MBX-APIKEY: " TU_BN_KEY, NULL};
    r = tu_http("DELETE", url, h, NULL, 5000);
    tu_resp_free(&r);
    assert_true(tu_ws_wait(&a, "listenKeyExpired", msg, sizeof msg, 3000));
    assert_true(tu_ws_wait(&b, "listenKeyExpired", msg, sizeof msg, 3000));
    assert_int_equal(tu_ws_recv(&a, msg, sizeof msg, 2000), -1);
    tu_ws_close(&a);
    tu_ws_close(&b);
    free(key);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_bybit_public(void **state) {
    (void)state;
    tu_ws w;
    assert_int_equal(tu_ws_open(&w, t.port.bybit, "/v5/public/linear"), 101);
    tu_ws_send(&w, "{\"req_id\":\"s1\",\"op\":\"subscribe\",\"args\":[\"tickers.BTCUSDT\"]}");
    assert_true(tu_ws_wait(&w, "\"op\":\"subscribe\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"success\":true"));
    assert_true(tu_ws_wait(&w, "\"type\":\"snapshot\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"topic\":\"tickers.BTCUSDT\""));
    assert_non_null(strstr(msg, "\"openInterestValue\"")); /* marks a contract ticker */
    tu_mark(&t, "BTCUSDT", "50100");
    assert_true(tu_ws_wait(&w, "\"type\":\"delta\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"markPrice\":\"50100.0\""));
    tu_ws_send(&w, "{\"req_id\":\"p1\",\"op\":\"ping\"}");
    assert_true(tu_ws_wait(&w, "\"op\":\"ping\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"ret_msg\":\"pong\""));
    tu_ws_send(&w, "{\"op\":\"subscribe\",\"args\":[\"tickers.NOPE\"]}");
    assert_true(tu_ws_wait(&w, "Invalid topic", msg, sizeof msg, 3000));
    tu_ws_send(&w, "{\"op\":\"unsubscribe\",\"args\":[\"tickers.BTCUSDT\"]}");
    assert_true(tu_ws_wait(&w, "\"op\":\"unsubscribe\"", msg, sizeof msg, 3000));
    tu_mark(&t, "BTCUSDT", "50200");
    assert_false(tu_ws_wait(&w, "\"type\":\"delta\"", msg, sizeof msg, 1000));
    tu_ws_close(&w);
}

static void bybit_auth(tu_ws *w, const char *secret, int64_t expires) {
    char text[64], sig[65], m[512];
    snprintf(text, sizeof text, "GET/realtime%lld", (long long)expires);
    tu_hmac(secret, text, sig);
    snprintf(m, sizeof m, "{\"req_id\":\"a1\",\"op\":\"auth\",\"args\":[\"%s\",%lld,\"%s\"]}",
             TU_BY_KEY, (long long)expires, sig);
    tu_ws_send(w, m);
}

static void test_bybit_private(void **state) {
    (void)state;
    tu_ws w;
    assert_int_equal(tu_ws_open(&w, t.port.bybit, "/v5/private"), 101);
    tu_ws_send(&w, "{\"op\":\"subscribe\",\"args\":[\"order\"]}");
    assert_true(tu_ws_wait(&w, "not authorized", msg, sizeof msg, 3000));
    bybit_auth(&w, "wrong", tu_now_ms() + 10000);
    assert_true(tu_ws_wait(&w, "\"op\":\"auth\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"success\":false"));
    bybit_auth(&w, TU_BY_SECRET, tu_now_ms() - 1000);
    assert_true(tu_ws_wait(&w, "\"op\":\"auth\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "expired"));
    bybit_auth(&w, TU_BY_SECRET, tu_now_ms() + 10000);
    assert_true(tu_ws_wait(&w, "\"op\":\"auth\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"success\":true"));
    tu_ws_send(&w, "{\"op\":\"subscribe\",\"args\":[\"order\",\"position\",\"execution\"]}");
    assert_true(tu_ws_wait(&w, "\"op\":\"subscribe\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"success\":true"));
    tu_ws_send(&w, "{\"req_id\":\"p2\",\"op\":\"ping\"}");
    assert_true(tu_ws_wait(&w, "\"op\":\"pong\"", msg, sizeof msg, 3000));
    tu_mark(&t, "BTCUSDT", "60000");
    tu_position(&t, "demo-bybit", "BTCUSDT", "short", "0.010", "60000");
    assert_true(tu_ws_wait(&w, "\"topic\":\"position\"", msg, sizeof msg, 3000));
    tu_resp r = tu_by(&t, "POST", "/v5/position/trading-stop",
                      "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"tpslMode\":\"Full\","
                      "\"positionIdx\":0,\"stopLoss\":\"61000.0\",\"slTriggerBy\":\"MarkPrice\"}");
    assert_int_equal(tu_retcode(&r), 0);
    tu_resp_free(&r);
    assert_true(tu_ws_wait(&w, "\"orderStatus\":\"Untriggered\"", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"stopOrderType\":\"StopLoss\""));
    tu_mark(&t, "BTCUSDT", "61000");
    const char *order[] = {"\"orderStatus\":\"Triggered\"", "\"topic\":\"execution\"",
                           "\"orderStatus\":\"Filled\"", "\"topic\":\"position\""};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!tu_ws_wait(&w, order[i], msg, sizeof msg, 3000)) {
            fail_msg("no message with %s", order[i]);
        }
    }
    assert_non_null(strstr(msg, "\"size\":\"0.000\""));
    tu_ws_close(&w);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

/* 600 streams on one socket (the exchange allows 1,024): every one is
 * served, the last subscribed as fast as the first. Last: the generated
 * instruments stay. */
static void test_binance_many_streams(void **state) {
    (void)state;
    tu_ctl_ok(&t, "POST", "/sim/scenario", "{\"instruments\":{\"count\":600}}");
    tu_ws w;
    assert_int_equal(tu_ws_open(&w, t.port.binance, "/stream"), 101);
    static char sub[65536];
    for (int id = 0; id < 6; id++) {
        size_t n = (size_t)snprintf(sub, sizeof sub, "{\"method\":\"SUBSCRIBE\",\"params\":[");
        for (int k = 1; k <= 100; k++) {
            n += (size_t)snprintf(sub + n, sizeof sub - n, "%s\"s%04dusdt@markPrice\"",
                                  k > 1 ? "," : "", id * 100 + k);
        }
        snprintf(sub + n, sizeof sub - n, "],\"id\":%d}", 10 + id);
        tu_ws_send(&w, sub);
        char want[32];
        snprintf(want, sizeof want, "\"id\":%d", 10 + id);
        assert_true(tu_ws_wait(&w, want, msg, sizeof msg, 3000));
        assert_non_null(strstr(msg, "\"result\":null"));
    }
    tu_mark(&t, "S0600USDT", "101.5");
    assert_true(tu_ws_wait(&w, "S0600USDT", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"stream\":\"s0600usdt@markPrice\""));
    assert_non_null(strstr(msg, "\"p\":\"101.50000000\""));
    tu_ws_send(&w, "{\"method\":\"LIST_SUBSCRIPTIONS\",\"id\":99}");
    assert_true(tu_ws_wait(&w, "\"id\":99", msg, sizeof msg, 3000));
    cJSON *j = cJSON_Parse(msg);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "result")), 600);
    cJSON_Delete(j);
    tu_ws_close(&w);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binance_mark_paths),  cmocka_unit_test(test_binance_live_subscribe),
        cmocka_unit_test(test_binance_user_stream), cmocka_unit_test(test_bybit_public),
        cmocka_unit_test(test_bybit_private),       cmocka_unit_test(test_binance_many_streams),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
