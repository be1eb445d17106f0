/* Binance endpoints a second client library needs: the balances
 * (/fapi/v2/balance, /fapi/v3/balance), the account (/fapi/v3/account) and
 * the combined user-data path (/private/stream?listenKey=K). */
#include "sim_testutil.h"

static tu_sim t;

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

static void check_balance(const char *path) {
    tu_resp r = tu_bn(&t, "GET", path, "");
    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsArray(r.json));
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    const cJSON *a = cJSON_GetArrayItem(r.json, 0);
    static const char *const fields[] = {"accountAlias",       "asset",      "balance",
                                         "crossWalletBalance", "crossUnPnl", "availableBalance",
                                         "maxWithdrawAmount"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (tu_jstr(a, fields[i]) == NULL) {
            fail_msg("%s: no string %s in %s", path, fields[i], r.body);
        }
    }
    assert_string_equal(tu_jstr(a, "asset"), "USDT");
    assert_string_equal(tu_jstr(a, "balance"), "100000.00000000");
    assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(a, "marginAvailable")));
    assert_true(tu_jnum(a, "updateTime") > 0);
    tu_resp_free(&r);
    /* signed like every USER_DATA endpoint */
    r = tu_bn_public(&t, path);
    assert_true(r.status == 400 || r.status == 401);
    tu_resp_free(&r);
}

static void test_balance_v2_v3(void **state) {
    (void)state;
    check_balance("/fapi/v2/balance");
    check_balance("/fapi/v3/balance");
}

static void test_account_v3(void **state) {
    (void)state;
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
    tu_mark(&t, "BTCUSDT", "50000");
    tu_position(&t, "demo-binance", "BTCUSDT", "long", "0.010", "49000");
    tu_resp r = tu_bn(&t, "GET", "/fapi/v3/account", "");
    assert_int_equal(r.status, 200);
    static const char *const totals[] = {"totalInitialMargin",
                                         "totalMaintMargin",
                                         "totalWalletBalance",
                                         "totalUnrealizedProfit",
                                         "totalMarginBalance",
                                         "totalPositionInitialMargin",
                                         "totalOpenOrderInitialMargin",
                                         "totalCrossWalletBalance",
                                         "totalCrossUnPnl",
                                         "availableBalance",
                                         "maxWithdrawAmount"};
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
        if (tu_jstr(r.json, totals[i]) == NULL) {
            fail_msg("no string %s in %s", totals[i], r.body);
        }
    }
    assert_string_equal(tu_jstr(r.json, "totalUnrealizedProfit"), "10.00000000");
    assert_string_equal(tu_jstr(r.json, "totalMarginBalance"), "100010.00000000");
    const cJSON *assets = cJSON_GetObjectItemCaseSensitive(r.json, "assets");
    assert_int_equal(cJSON_GetArraySize(assets), 1);
    const cJSON *usdt = cJSON_GetArrayItem(assets, 0);
    assert_string_equal(tu_jstr(usdt, "asset"), "USDT");
    assert_non_null(tu_jstr(usdt, "walletBalance"));
    assert_non_null(tu_jstr(usdt, "marginBalance"));
    const cJSON *positions = cJSON_GetObjectItemCaseSensitive(r.json, "positions");
    assert_int_equal(cJSON_GetArraySize(positions), 1); /* only the open one */
    const cJSON *p = cJSON_GetArrayItem(positions, 0);
    assert_string_equal(tu_jstr(p, "symbol"), "BTCUSDT");
    assert_string_equal(tu_jstr(p, "positionSide"), "BOTH");
    assert_string_equal(tu_jstr(p, "positionAmt"), "0.010");
    assert_string_equal(tu_jstr(p, "unrealizedProfit"), "10.00000000");
    assert_non_null(tu_jstr(p, "notional"));
    tu_resp_free(&r);
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

static void test_private_stream_combined(void **state) {
    (void)state;
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
    tu_mark(&t, "BTCUSDT", "50000");
    tu_position(&t, "demo-binance", "BTCUSDT", "long", "0.010", "50000");
    char *key = listen_key();
    char path[256], msg[TU_WS_MSG_MAX];
    tu_ws a, b;
    snprintf(path, sizeof path, "/private/stream?listenKey=%s", key);
    assert_int_equal(tu_ws_open(&a, t.port.binance, path), 101);
    snprintf(path, sizeof path, "/stream?streams=%s", key);
    assert_int_equal(tu_ws_open(&b, t.port.binance, path), 101);
    tu_ws nope;
    assert_int_equal(tu_ws_open(&nope, t.port.binance, "/private/stream?listenKey=nope"), 404);
    tu_ws_close(&nope);
    tu_resp r = tu_bn(&t, "POST", "/fapi/v1/algoOrder",
                      "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&"
                      "triggerPrice=49000.0&closePosition=true&workingType=MARK_PRICE&"
                      "clientAlgoId=sl-comb");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    tu_ws *both[] = {&a, &b};
    for (size_t i = 0; i < 2; i++) {
        assert_true(tu_ws_wait(both[i], "ALGO_UPDATE", msg, sizeof msg, 3000));
        cJSON *j = cJSON_Parse(msg);
        assert_non_null(j);
        assert_string_equal(tu_jstr(j, "stream"), key);
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
        assert_string_equal(tu_jstr(data, "e"), "ALGO_UPDATE");
        cJSON_Delete(j);
    }
    snprintf(path, sizeof path, "http://127.0.0.1:%u/fapi/v1/listenKey", (unsigned)t.port.binance);
    const char *h[] = {"X-MBX-APIKEY: " TU_BN_KEY, NULL};
    r = tu_http("DELETE", path, h, NULL, 5000);
    tu_resp_free(&r);
    assert_true(tu_ws_wait(&a, "listenKeyExpired", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "\"stream\":"));
    tu_ws_close(&a);
    tu_ws_close(&b);
    free(key);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balance_v2_v3),
        cmocka_unit_test(test_account_v3),
        cmocka_unit_test(test_private_stream_combined),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
