/* The emulator's Binance USD-M REST over real loopback sockets: every
 * endpoint's happy path, every documented error, the rate limits, and stops
 * that fire on the mark price. */
#include "sim_testutil.h"

#define ALGO "/fapi/v1/algoOrder"
#define ACCT "demo-binance"

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

static void expect_error(tu_resp r, long status, int code) {
    if (r.status != status || tu_code(&r) != code) {
        fail_msg("want %ld/%d, got %ld %s", status, code, r.status, r.body);
    }
    assert_non_null(tu_jstr(r.json, "msg"));
    tu_resp_free(&r);
}

static void expect_ok(tu_resp r) {
    if (r.status != 200) {
        fail_msg("want 200, got %ld %s", r.status, r.body);
    }
    tu_resp_free(&r);
}

static void test_public(void **state) {
    (void)state;
    tu_resp r = tu_bn_public(&t, "/fapi/v1/ping");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    tu_resp_free(&r);
    r = tu_bn_public(&t, "/fapi/v1/time");
    assert_true(tu_jnum(r.json, "serverTime") > 1.6e12);
    char used[32];
    assert_true(tu_header(&r, "X-MBX-USED-WEIGHT-1M", used, sizeof used));
    tu_resp_free(&r);
    r = tu_bn_public(&t, "/fapi/v1/exchangeInfo");
    const cJSON *syms = cJSON_GetObjectItemCaseSensitive(r.json, "symbols");
    int found = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, syms) {
        const char *name = tu_jstr(s, "symbol");
        const cJSON *pf = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s, "filters"), 0);
        assert_string_equal(tu_jstr(pf, "filterType"), "PRICE_FILTER");
        if (strcmp(name, "BTCUSDT") == 0) {
            assert_string_equal(tu_jstr(pf, "tickSize"), "0.10");
            found++;
        } else if (strcmp(name, "1000PEPEUSDT") == 0) {
            assert_string_equal(tu_jstr(pf, "tickSize"), "0.0000001");
            found++;
        }
    }
    assert_int_equal(found, 2);
    tu_resp_free(&r);
    r = tu_bn_public(&t, "/fapi/v1/premiumIndex?symbol=ETHUSDT");
    assert_string_equal(tu_jstr(r.json, "markPrice"), "3000.00");
    tu_resp_free(&r);
    expect_error(tu_bn_public(&t, "/fapi/v1/premiumIndex?symbol=NOPEUSDT"), 400, -1121);
    r = tu_bn_public(&t, "/fapi/v9/nothing");
    assert_int_equal(r.status, 404);
    tu_resp_free(&r);
}

static void test_auth_errors(void **state) {
    (void)state;
    const char *p = "/fapi/v2/positionRisk";
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s?timestamp=%lld&signature=00",
             (unsigned)t.port.binance, p, (long long)tu_now_ms());
    expect_error(tu_http("GET", url, NULL, NULL, 5000), 401, -2014);
    expect_error(tu_bn_full(&t, "GET", p, "", false, "nobody", TU_BN_SECRET, tu_now_ms()), 401,
                 -2015);
    expect_error(tu_bn_full(&t, "GET", p, "", false, TU_BN_KEY, "wrong", tu_now_ms()), 400, -1022);
    expect_error(tu_bn_full(&t, "GET", p, "", false, TU_BN_KEY, TU_BN_SECRET, tu_now_ms() - 6000),
                 400, -1021);
    tu_resp r = tu_bn_full(&t, "GET", p, "", false, TU_BN_KEY, TU_BN_SECRET, tu_now_ms() + 2000);
    assert_non_null(strstr(r.body, "ahead"));
    expect_error(r, 400, -1021);
    expect_ok(tu_bn_full(&t, "GET", p, "recvWindow=10000", false, TU_BN_KEY, TU_BN_SECRET,
                         tu_now_ms() - 6000));
    /* signed in the form body, and the query + body mix */
    expect_ok(tu_bn_full(&t, "POST", ALGO,
                         "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&"
                         "type=STOP_MARKET&triggerPrice=40000.0&closePosition=true",
                         true, TU_BN_KEY, TU_BN_SECRET, tu_now_ms()));
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s?timestamp=%lld", (unsigned)t.port.binance, p,
             (long long)tu_now_ms());
    const char *h[] = {"X-MBX-APIKEY: " TU_BN_KEY, NULL};
    expect_error(tu_http("GET", url, h, NULL, 5000), 400, -1102);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_positions(void **state) {
    (void)state;
    tu_position(&t, ACCT, "BTCUSDT", "short", "0.020", "51000");
    tu_resp r = tu_bn(&t, "GET", "/fapi/v3/positionRisk", "");
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    const cJSON *p = cJSON_GetArrayItem(r.json, 0);
    assert_string_equal(tu_jstr(p, "positionAmt"), "-0.020");
    assert_string_equal(tu_jstr(p, "entryPrice"), "51000.0");
    assert_string_equal(tu_jstr(p, "positionSide"), "BOTH");
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", "/fapi/v2/positionRisk", "");
    assert_true(cJSON_GetArraySize(r.json) >= 4);
    tu_resp_free(&r);
    expect_error(tu_bn(&t, "GET", "/fapi/v2/positionRisk", "symbol=FOO"), 400, -1121);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static const char *stop_params(char *buf, const char *symbol, const char *side, const char *trigger,
                               const char *extra) {
    snprintf(buf, 512,
             "algoType=CONDITIONAL&symbol=%s&side=%s&type=STOP_MARKET&triggerPrice=%s&"
             "workingType=MARK_PRICE%s",
             symbol, side, trigger, extra);
    return buf;
}

static void test_algo_orders(void **state) {
    (void)state;
    char b[512];
    tu_position(&t, ACCT, "BTCUSDT", "long", "0.010", "50000");
    tu_resp r = tu_bn(&t, "POST", ALGO,
                      stop_params(b, "BTCUSDT", "SELL", "49000.0",
                                  "&closePosition=true&priceProtect=true&clientAlgoId=sl-1"));
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(r.json, "algoStatus"), "NEW");
    assert_string_equal(tu_jstr(r.json, "clientAlgoId"), "sl-1");
    assert_string_equal(tu_jstr(r.json, "triggerPrice"), "49000.0");
    char count[32];
    assert_true(tu_header(&r, "X-MBX-ORDER-COUNT-1M", count, sizeof count));
    double algo_id = tu_jnum(r.json, "algoId");
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", "/fapi/v1/openAlgoOrders", "symbol=BTCUSDT");
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    tu_resp_free(&r);
    char q[128];
    snprintf(q, sizeof q, "algoId=%.0f", algo_id);
    r = tu_bn(&t, "GET", ALGO, q);
    assert_string_equal(tu_jstr(r.json, "clientAlgoId"), "sl-1");
    tu_resp_free(&r);
    /* the ccxt spelling: newClientOrderId and newOrderRespType are accepted */
    expect_ok(tu_bn(&t, "POST", ALGO,
                    stop_params(b, "BTCUSDT", "SELL", "48000.0",
                                "&quantity=0.010&reduceOnly=true&newClientOrderId=x-ccxt-1&"
                                "newOrderRespType=RESULT")));
    r = tu_bn(&t, "DELETE", ALGO, "clientAlgoId=sl-1");
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(r.json, "code"), "200");
    tu_resp_free(&r);
    expect_error(tu_bn(&t, "DELETE", ALGO, "clientAlgoId=sl-1"), 400, -2011);
    r = tu_bn(&t, "GET", ALGO, "clientAlgoId=sl-1"); /* closed orders stay readable */
    assert_string_equal(tu_jstr(r.json, "algoStatus"), "CANCELED");
    tu_resp_free(&r);
    expect_error(tu_bn(&t, "GET", ALGO, "algoId=1"), 400, -2013);
    expect_error(tu_bn(&t, "DELETE", ALGO, ""), 400, -1102);
    r = tu_bn(&t, "DELETE", "/fapi/v1/algoOpenOrders", "symbol=BTCUSDT");
    assert_int_equal((int)tu_jnum(r.json, "code"), 200);
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", "/fapi/v1/openAlgoOrders", "");
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_algo_errors(void **state) {
    (void)state;
    char b[512];
    tu_position(&t, ACCT, "BTCUSDT", "long", "0.010", "50000");
    expect_error(tu_bn(&t, "POST", ALGO,
                       "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&"
                       "type=STOP_MARKET&closePosition=true"),
                 400, -1102);
    expect_error(tu_bn(&t, "POST", ALGO, stop_params(b, "NOPE", "SELL", "49000.0", "")), 400,
                 -1121);
    expect_error(tu_bn(&t, "POST", ALGO,
                       stop_params(b, "BTCUSDT", "SELL", "49000.0",
                                   "&closePosition=true&positionSide=LONG")),
                 400, -4061); /* one-way mode only */
    expect_error(tu_bn(&t, "POST", ALGO,
                       stop_params(b, "BTCUSDT", "SELL", "49000.123", "&closePosition=true")),
                 400, -1111);
    expect_error(tu_bn(&t, "POST", ALGO,
                       stop_params(b, "BTCUSDT", "SELL", "49000.05", "&closePosition=true")),
                 400, -4014);
    expect_error(tu_bn(&t, "POST", ALGO,
                       stop_params(b, "BTCUSDT", "SELL", "51000.0", "&closePosition=true")),
                 400, -2021);
    expect_error(
        tu_bn(&t, "POST", ALGO, stop_params(b, "BTCUSDT", "SELL", "49000.0", "&quantity=0.0105")),
        400, -1111);
    expect_ok(tu_bn(&t, "POST", ALGO,
                    stop_params(b, "BTCUSDT", "SELL", "49000.0", "&closePosition=true")));
    expect_error(tu_bn(&t, "POST", ALGO,
                       stop_params(b, "BTCUSDT", "SELL", "48000.0", "&closePosition=true")),
                 400, -4130);
    for (int i = 0; i < 9; i++) {
        expect_ok(
            tu_bn(&t, "POST", ALGO,
                  stop_params(b, "BTCUSDT", "SELL", "47000.0", "&quantity=0.001&reduceOnly=true")));
    }
    expect_error(
        tu_bn(&t, "POST", ALGO,
              stop_params(b, "BTCUSDT", "SELL", "47000.0", "&quantity=0.001&reduceOnly=true")),
        400, -4045);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_orders(void **state) {
    (void)state;
    tu_position(&t, ACCT, "ETHUSDT", "long", "1.000", "3000");
    expect_error(
        tu_bn(&t, "POST", "/fapi/v1/order",
              "symbol=ETHUSDT&side=SELL&type=STOP_MARKET&stopPrice=2900&closePosition=true"),
        400, -4120);
    tu_resp r = tu_bn(&t, "POST", "/fapi/v1/order",
                      "symbol=ETHUSDT&side=BUY&type=LIMIT&quantity=0.100&price=2500.00&"
                      "timeInForce=GTC&newClientOrderId=lim-1");
    assert_string_equal(tu_jstr(r.json, "status"), "NEW");
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", "/fapi/v1/openOrders", "symbol=ETHUSDT");
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    tu_resp_free(&r);
    r = tu_bn(&t, "DELETE", "/fapi/v1/order", "symbol=ETHUSDT&origClientOrderId=lim-1");
    assert_string_equal(tu_jstr(r.json, "status"), "CANCELED");
    tu_resp_free(&r);
    expect_error(tu_bn(&t, "DELETE", "/fapi/v1/order", "symbol=ETHUSDT&orderId=123"), 400, -2011);
    expect_error(tu_bn(&t, "GET", "/fapi/v1/order", "symbol=ETHUSDT&orderId=123"), 400, -2013);
    expect_error(tu_bn(&t, "POST", "/fapi/v1/order",
                       "symbol=ETHUSDT&side=BUY&type=MARKET&quantity=1.000&reduceOnly=true"),
                 400, -2022);
    r = tu_bn(&t, "POST", "/fapi/v1/order",
              "symbol=ETHUSDT&side=SELL&type=MARKET&quantity=1.000&reduceOnly=true");
    assert_string_equal(tu_jstr(r.json, "status"), "FILLED");
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", "/fapi/v3/positionRisk", "");
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_listen_key(void **state) {
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/fapi/v1/listenKey", (unsigned)t.port.binance);
    const char *h[] = {"X-MBX-APIKEY: " TU_BN_KEY, NULL};
    tu_resp r = tu_http("POST", url, h, NULL, 5000);
    assert_int_equal(r.status, 200);
    char key[80];
    snprintf(key, sizeof key, "%s", tu_jstr(r.json, "listenKey"));
    assert_int_equal(strlen(key), 64);
    tu_resp_free(&r);
    r = tu_http("POST", url, h, NULL, 5000);
    assert_string_equal(tu_jstr(r.json, "listenKey"), key); /* the same key while it lives */
    tu_resp_free(&r);
    expect_ok(tu_http("PUT", url, h, NULL, 5000));
    expect_ok(tu_http("DELETE", url, h, NULL, 5000));
    expect_error(tu_http("PUT", url, h, NULL, 5000), 400, -1125);
    expect_error(tu_http("POST", url, NULL, NULL, 5000), 401, -2014);
}

static void test_rate_limit(void **state) {
    (void)state;
    if (tu_now_ms() / 1000 % 60 > 50) {
        tu_sleep_ms((int)(61000 - tu_now_ms() % 60000)); /* stay inside one minute */
    }
    tu_ctl_ok(&t, "POST", "/sim/limits", "{\"binance_weight_1m\":3,\"binance_ban_ms\":2000}");
    for (int i = 1; i <= 3; i++) {
        tu_resp r = tu_bn_public(&t, "/fapi/v1/time");
        assert_int_equal(r.status, 200);
        char used[32];
        assert_true(tu_header(&r, "X-MBX-USED-WEIGHT-1M", used, sizeof used));
        assert_int_equal(atoi(used), i);
        tu_resp_free(&r);
    }
    tu_resp r = tu_bn_public(&t, "/fapi/v1/time");
    char retry[32];
    assert_true(tu_header(&r, "Retry-After", retry, sizeof retry));
    assert_true(atoi(retry) >= 1 && atoi(retry) <= 60);
    expect_error(r, 429, -1003);
    r = tu_bn_public(&t, "/fapi/v1/time"); /* the 429 ignored: banned for binance_ban_ms */
    assert_true(tu_header(&r, "Retry-After", retry, sizeof retry));
    assert_int_equal(atoi(retry), 2);
    expect_error(r, 418, -1003);
    /* new limits do not lift a ban in force; its end does */
    tu_ctl_ok(&t, "POST", "/sim/limits", "{\"binance_weight_1m\":2400}");
    expect_error(tu_bn_public(&t, "/fapi/v1/time"), 418, -1003);
    tu_sleep_ms(2100);
    expect_ok(tu_bn_public(&t, "/fapi/v1/time"));
    /* the default ban is Binance's first: 2 minutes */
    tu_resp lim = tu_ctl(&t, "POST", "/sim/limits", "{\"binance_weight_1m\":2400}");
    assert_int_equal((int)tu_jnum(lim.json, "binance_ban_ms"), 120000);
    tu_resp_free(&lim);
    char url[TU_URL_MAX];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sim/limits", (unsigned)t.port.binance);
    tu_resp bad = tu_http("POST", url, NULL, "{\"binance_ban_ms\":10}", 5000);
    assert_int_equal(bad.status, 400);
    tu_resp_free(&bad);
}

static void test_trigger_closes_position(void **state) {
    (void)state;
    char b[512];
    tu_mark(&t, "BTCUSDT", "50000");
    tu_position(&t, ACCT, "BTCUSDT", "long", "0.010", "50000");
    expect_ok(tu_bn(
        &t, "POST", ALGO,
        stop_params(b, "BTCUSDT", "SELL", "49000.0", "&closePosition=true&clientAlgoId=fire-1")));
    tu_mark(&t, "BTCUSDT", "49500");
    tu_resp r = tu_bn(&t, "GET", "/fapi/v3/positionRisk", "");
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    tu_resp_free(&r);
    tu_mark(&t, "BTCUSDT", "48999.9");
    r = tu_bn(&t, "GET", "/fapi/v3/positionRisk", "");
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", ALGO, "clientAlgoId=fire-1");
    assert_string_equal(tu_jstr(r.json, "algoStatus"), "FINISHED");
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", "/fapi/v1/openAlgoOrders", "");
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    tu_resp_free(&r);
    /* a short's stop fires on a rise */
    tu_position(&t, ACCT, "BTCUSDT", "short", "0.010", "49000");
    expect_ok(tu_bn(&t, "POST", ALGO,
                    stop_params(b, "BTCUSDT", "BUY", "49500.0", "&closePosition=true")));
    tu_mark(&t, "BTCUSDT", "49500");
    r = tu_bn(&t, "GET", "/fapi/v3/positionRisk", "");
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_request_log(void **state) {
    (void)state;
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
    expect_ok(tu_bn(&t, "GET", "/fapi/v2/positionRisk", "symbol=BTCUSDT"));
    expect_error(
        tu_bn_full(&t, "GET", "/fapi/v2/positionRisk", "", false, TU_BN_KEY, "bad", tu_now_ms()),
        400, -1022);
    tu_resp r = tu_ctl(&t, "GET", "/sim/requests?venue=binance", NULL);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r.json, "requests");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    const cJSON *e = cJSON_GetArrayItem(list, 0);
    assert_string_equal(tu_jstr(e, "account"), ACCT);
    assert_string_equal(tu_jstr(e, "path"), "/fapi/v2/positionRisk");
    assert_non_null(strstr(tu_jstr(e, "params"), "symbol=BTCUSDT"));
    assert_int_equal((int)tu_jnum(e, "status"), 200);
    assert_true(tu_jnum(e, "resp_us") >= tu_jnum(e, "recv_us"));
    assert_int_equal((int)tu_jnum(cJSON_GetArrayItem(list, 1), "code"), -1022);
    assert_null(strstr(r.body, "signature"));
    assert_null(strstr(r.body, TU_BN_SECRET));
    assert_null(strstr(r.body, TU_BY_SECRET));
    tu_resp_free(&r);
    r = tu_ctl(&t, "GET", "/sim/requests?venue=binance&since=1", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "requests")), 1);
    tu_resp_free(&r);
    r = tu_ctl(&t, "GET", "/sim/state", NULL);
    assert_null(strstr(r.body, TU_BN_SECRET));
    tu_resp_free(&r);
}

/* The log keeps each request's User-Agent ("" without one, cut to fit when
 * long): processes that share one key are told apart by it. */
static void test_request_log_user_agent(void **state) {
    (void)state;
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
    char url[TU_URL_MAX], long_ua[400];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/fapi/v1/time", (unsigned)t.port.binance);
    const char *const with[] = {"User-Agent: trailguard/0.1.0 (fo-2)", NULL};
    tu_resp r = tu_http("GET", url, with, NULL, 5000);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    expect_ok(tu_bn_public(&t, "/fapi/v1/time")); /* libcurl sends none by default */
    memset(long_ua, 'u', sizeof long_ua);
    memcpy(long_ua, "User-Agent: ", 12);
    long_ua[sizeof long_ua - 1] = '\0';
    const char *const longer[] = {long_ua, NULL};
    r = tu_http("GET", url, longer, NULL, 5000);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    r = tu_ctl(&t, "GET", "/sim/requests?venue=binance", NULL);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r.json, "requests");
    assert_int_equal(cJSON_GetArraySize(list), 3);
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(list, 0), "user_agent"),
                        "trailguard/0.1.0 (fo-2)");
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(list, 1), "user_agent"), "");
    const char *cut = tu_jstr(cJSON_GetArrayItem(list, 2), "user_agent");
    assert_int_equal(strlen(cut), 127); /* SIM_LOG_UA_MAX - 1 */
    assert_int_equal(strspn(cut, "u"), 127);
    tu_resp_free(&r);
}

static void test_mark_log(void **state) {
    (void)state;
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
    tu_mark(&t, "BTCUSDT", "50100");
    tu_mark(&t, "ETHUSDT", "3001.5");
    expect_ok(tu_bn(&t, "GET", "/fapi/v2/positionRisk", "symbol=BTCUSDT"));
    tu_resp r = tu_ctl(&t, "GET", "/sim/marks?since=0", NULL);
    assert_int_equal((int)tu_jnum(r.json, "last_seq"), 2);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r.json, "marks");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    const cJSON *btc = cJSON_GetArrayItem(list, 0), *eth = cJSON_GetArrayItem(list, 1);
    assert_string_equal(tu_jstr(btc, "symbol"), "BTCUSDT");
    assert_string_equal(tu_jstr(btc, "price"), "50100");
    assert_string_equal(tu_jstr(eth, "price"), "3001.5");
    assert_true(tu_jnum(btc, "push_us") > 0);
    assert_true(tu_jnum(eth, "push_us") >= tu_jnum(btc, "push_us"));
    double push_eth = tu_jnum(eth, "push_us");
    tu_resp_free(&r);
    /* the request that came after the marks was received after they went out */
    r = tu_ctl(&t, "GET", "/sim/requests?venue=binance", NULL);
    const cJSON *req = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r.json, "requests"), 0);
    assert_true(tu_jnum(req, "recv_us") >= push_eth);
    tu_resp_free(&r);
    r = tu_ctl(&t, "GET", "/sim/marks?since=1", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "marks")), 1);
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
    r = tu_ctl(&t, "GET", "/sim/marks", NULL);
    assert_int_equal((int)tu_jnum(r.json, "last_seq"), 0);
    tu_resp_free(&r);
}

/* The scenario's "instruments" key: generated symbols listed with their
 * filters, tradable, and triggering like the built-in ones. Last: the
 * instruments stay for the emulator's life. */
static const char *const GEN =
    "{\"instruments\":{\"count\":300,\"prefix\":\"S\",\"quote\":\"USDT\",\"tick\":\"0.01\","
    "\"step\":\"0.001\",\"start\":\"100\"}}";

static const cJSON *symbol_filter(const cJSON *sym, const char *type) {
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(sym, "filters")) {
        if (strcmp(tu_jstr(f, "filterType"), type) == 0) {
            return f;
        }
    }
    fail_msg("no %s filter", type);
    return NULL;
}

static void test_generated_instruments(void **state) {
    (void)state;
    tu_ctl_ok(&t, "POST", "/sim/scenario", GEN);
    tu_ctl_ok(&t, "POST", "/sim/scenario", GEN); /* the same again: nothing changes */
    tu_resp r = tu_bn_public(&t, "/fapi/v1/exchangeInfo");
    const cJSON *syms = cJSON_GetObjectItemCaseSensitive(r.json, "symbols");
    assert_int_equal(cJSON_GetArraySize(syms), 305);
    const cJSON *s = cJSON_GetArrayItem(syms, 5), *last = cJSON_GetArrayItem(syms, 304);
    assert_string_equal(tu_jstr(s, "symbol"), "S0001USDT");
    assert_string_equal(tu_jstr(last, "symbol"), "S0300USDT");
    assert_string_equal(tu_jstr(s, "baseAsset"), "S0001");
    assert_string_equal(tu_jstr(s, "quoteAsset"), "USDT");
    assert_int_equal((int)tu_jnum(s, "pricePrecision"), 2);
    assert_int_equal((int)tu_jnum(s, "quantityPrecision"), 3);
    const cJSON *pf = symbol_filter(s, "PRICE_FILTER"), *lf = symbol_filter(s, "LOT_SIZE");
    assert_string_equal(tu_jstr(pf, "tickSize"), "0.01");
    assert_string_equal(tu_jstr(pf, "minPrice"), "0.01");
    assert_string_equal(tu_jstr(pf, "maxPrice"), "1000000.00");
    assert_string_equal(tu_jstr(lf, "stepSize"), "0.001");
    assert_string_equal(tu_jstr(lf, "minQty"), "0.001");
    assert_string_equal(tu_jstr(lf, "maxQty"), "10000.000");
    tu_resp_free(&r);
    r = tu_bn_public(&t, "/fapi/v1/premiumIndex?symbol=S0300USDT");
    assert_string_equal(tu_jstr(r.json, "markPrice"), "100.00");
    tu_resp_free(&r);
    /* a stop on a generated symbol: tick checks, then it fires on the mark */
    char b[512];
    tu_position(&t, ACCT, "S0150USDT", "long", "1.000", "100");
    expect_error(tu_bn(&t, "POST", ALGO,
                       stop_params(b, "S0150USDT", "SELL", "99.005", "&closePosition=true")),
                 400, -1111);
    expect_ok(tu_bn(&t, "POST", ALGO,
                    stop_params(b, "S0150USDT", "SELL", "99.00", "&closePosition=true")));
    tu_resp bad = tu_ctl(&t, "POST", "/sim/mark", "{\"symbol\":\"S0150USDT\",\"price\":\"98.99\"}");
    tu_resp_free(&bad);
    r = tu_ctl(&t, "GET", "/sim/protection?account=" ACCT "&symbol=S0150USDT", NULL);
    assert_string_equal(tu_jstr(r.json, "size"), "0.000");
    tu_resp_free(&r);
    /* other settings once generated: refused */
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sim/scenario", (unsigned)t.port.binance);
    r = tu_http("POST", url, NULL, "{\"instruments\":{\"count\":10}}", 5000);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "generated already"));
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

/* Binance counts orders per account (weight per IP): the count header is
 * the signer's own. */
static void test_order_count_per_account(void **state) {
    (void)state;
    char b[512];
    tu_position(&t, ACCT, "BTCUSDT", "long", "0.010", "50000");
    tu_ctl_ok(&t, "POST", "/sim/limits", "{\"binance_orders_1m\":1}");
    if (tu_now_ms() / 1000 % 60 > 55) {
        tu_sleep_ms((int)(61000 - tu_now_ms() % 60000)); /* stay inside one minute */
    }
    expect_ok(tu_bn(&t, "POST", ALGO,
                    stop_params(b, "BTCUSDT", "SELL", "49000.0", "&closePosition=true")));
    expect_error(
        tu_bn(&t, "POST", ALGO, stop_params(b, "BTCUSDT", "SELL", "48000.0", "&quantity=0.010")),
        429, -1015);
    expect_ok(tu_bn(&t, "GET", "/fapi/v1/openAlgoOrders", "")); /* no ban for orders */
    tu_ctl_ok(&t, "POST", "/sim/limits", "{\"binance_orders_1m\":1200}");
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public),
        cmocka_unit_test(test_auth_errors),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_algo_orders),
        cmocka_unit_test(test_algo_errors),
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_listen_key),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_trigger_closes_position),
        cmocka_unit_test(test_request_log),
        cmocka_unit_test(test_request_log_user_agent),
        cmocka_unit_test(test_mark_log),
        cmocka_unit_test(test_order_count_per_account),
        cmocka_unit_test(test_generated_instruments),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
