/* The emulator's Bybit v5 linear REST over real loopback sockets: public
 * market data, the signature headers and their errors, positions,
 * trading-stop, conditional and market orders, cancels, the rate limit, and
 * a stop loss that fires on the mark price. */
#include "sim_testutil.h"

#define ACCT "demo-bybit"
#define TS   "/v5/position/trading-stop"

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

static void expect_ret(tu_resp r, int code) {
    if (r.status != 200 || tu_retcode(&r) != code) {
        fail_msg("want retCode %d, got %ld %s", code, r.status, r.body);
    }
    assert_non_null(cJSON_GetObjectItemCaseSensitive(r.json, "time"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(r.json, "retExtInfo"));
    tu_resp_free(&r);
}

static const cJSON *result_list(const tu_resp *r) {
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(r->json, "result");
    return cJSON_GetObjectItemCaseSensitive(res, "list");
}

static tu_resp public_get(const char *path) {
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)t.port.bybit, path);
    return tu_http("GET", url, NULL, NULL, 5000);
}

static void test_public(void **state) {
    (void)state;
    tu_resp r = public_get("/v5/market/time");
    assert_int_equal(tu_retcode(&r), 0);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(r.json, "result");
    assert_non_null(tu_jstr(res, "timeSecond"));
    tu_resp_free(&r);
    r = public_get("/v5/market/instruments-info?category=linear&symbol=BTCUSDT");
    const cJSON *item = cJSON_GetArrayItem(result_list(&r), 0);
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(item, "priceFilter");
    const cJSON *lf = cJSON_GetObjectItemCaseSensitive(item, "lotSizeFilter");
    assert_string_equal(tu_jstr(pf, "tickSize"), "0.10");
    assert_string_equal(tu_jstr(lf, "qtyStep"), "0.001");
    tu_resp_free(&r);
    r = public_get("/v5/market/tickers?category=linear&symbol=ETHUSDT");
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(result_list(&r), 0), "markPrice"), "3000.00");
    tu_resp_free(&r);
    r = public_get("/v5/market/instruments-info?category=inverse");
    assert_int_equal(cJSON_GetArraySize(result_list(&r)), 0); /* no such instruments: empty */
    tu_resp_free(&r);
    expect_ret(public_get("/v5/market/instruments-info?category=linear&symbol=NOPE"), 10001);
    expect_ret(public_get("/v5/market/instruments-info"), 10001);
}

static void test_auth_errors(void **state) {
    (void)state;
    const char *p = "/v5/position/list";
    const char *q = "category=linear&settleCoin=USDT";
    expect_ret(tu_by_full(&t, "GET", p, q, "nobody", TU_BY_SECRET, tu_now_ms()), 10003);
    tu_resp r = tu_by_full(&t, "GET", p, q, TU_BY_KEY, "wrong", tu_now_ms());
    assert_non_null(strstr(r.body, "error sign"));
    assert_null(strstr(r.body, TU_BY_SECRET));
    expect_ret(r, 10004);
    expect_ret(tu_by_full(&t, "GET", p, q, TU_BY_KEY, TU_BY_SECRET, tu_now_ms() - 6000), 10002);
    expect_ret(tu_by_full(&t, "GET", p, q, TU_BY_KEY, TU_BY_SECRET, tu_now_ms() + 2000), 10002);
    expect_ret(tu_by(&t, "GET", p, q), 0);
    expect_ret(tu_by(&t, "GET", p, "category=linear"), 10001);
    tu_resp r2 = tu_by(&t, "GET", p, "category=inverse&limit=200");
    assert_int_equal(cJSON_GetArraySize(result_list(&r2)), 0);
    expect_ret(r2, 0);
}

static void test_positions_and_trading_stop(void **state) {
    (void)state;
    tu_mark(&t, "BTCUSDT", "60000");
    tu_position(&t, ACCT, "BTCUSDT", "long", "0.010", "60000");
    tu_resp r = tu_by(&t, "GET", "/v5/position/list", "category=linear&settleCoin=USDT");
    const cJSON *pos = cJSON_GetArrayItem(result_list(&r), 0);
    assert_string_equal(tu_jstr(pos, "side"), "Buy");
    assert_string_equal(tu_jstr(pos, "size"), "0.010");
    assert_int_equal((int)tu_jnum(pos, "positionIdx"), 0);
    tu_resp_free(&r);
    const char *sl = "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"tpslMode\":\"Full\","
                     "\"positionIdx\":0,\"stopLoss\":\"58000.0\",\"slTriggerBy\":\"MarkPrice\"}";
    expect_ret(tu_by(&t, "POST", TS, sl), 0);
    expect_ret(tu_by(&t, "POST", TS, sl), 34040);
    r = tu_by(&t, "GET", "/v5/order/realtime", "category=linear&symbol=BTCUSDT");
    const cJSON *o = cJSON_GetArrayItem(result_list(&r), 0);
    assert_string_equal(tu_jstr(o, "orderStatus"), "Untriggered");
    assert_string_equal(tu_jstr(o, "stopOrderType"), "StopLoss");
    assert_string_equal(tu_jstr(o, "triggerPrice"), "58000.0");
    assert_string_equal(tu_jstr(o, "triggerBy"), "MarkPrice");
    assert_int_equal((int)tu_jnum(o, "triggerDirection"), 2);
    tu_resp_free(&r);
    r = tu_by(&t, "GET", "/v5/position/list", "category=linear&symbol=BTCUSDT");
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(result_list(&r), 0), "stopLoss"), "58000.0");
    tu_resp_free(&r);
    /* moving it keeps one order; the wrong side is 10001 */
    expect_ret(tu_by(&t, "POST", TS,
                     "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"tpslMode\":\"Full\","
                     "\"positionIdx\":0,\"stopLoss\":\"59000.0\",\"slTriggerBy\":\"MarkPrice\"}"),
               0);
    expect_ret(tu_by(&t, "POST", TS,
                     "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"tpslMode\":\"Full\","
                     "\"positionIdx\":0,\"stopLoss\":\"61000.0\",\"slTriggerBy\":\"MarkPrice\"}"),
               10001);
    r = tu_by(&t, "GET", "/v5/order/realtime",
              "category=linear&symbol=BTCUSDT&orderFilter=StopOrder");
    assert_int_equal(cJSON_GetArraySize(result_list(&r)), 1);
    tu_resp_free(&r);
    expect_ret(tu_by(&t, "POST", TS,
                     "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\","
                     "\"tpslMode\":\"Full\",\"stopLoss\":\"2000.00\"}"),
               10001); /* no position */
    /* the stop fires on the mark: the position closes, the order goes */
    tu_mark(&t, "BTCUSDT", "58999.9");
    r = tu_by(&t, "GET", "/v5/position/list", "category=linear&settleCoin=USDT");
    assert_int_equal(cJSON_GetArraySize(result_list(&r)), 0);
    tu_resp_free(&r);
    r = tu_by(&t, "GET", "/v5/order/realtime", "category=linear&symbol=BTCUSDT");
    assert_int_equal(cJSON_GetArraySize(result_list(&r)), 0);
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

/* The lists come in pages: `limit` items (default 20; at most 200
 * positions, 50 orders), nextPageCursor to the next page, "" after the
 * last; every item once over the pages. */
static void page_through(const char *path, const char *query, int limit, int want_items) {
    char q[256], cursor[64] = "";
    int items = 0, pages = 0;
    do {
        snprintf(q, sizeof q, "%s&limit=%d%s%s", query, limit, cursor[0] ? "&cursor=" : "", cursor);
        tu_resp r = tu_by(&t, "GET", path, q);
        int n = cJSON_GetArraySize(result_list(&r));
        assert_true(n <= limit);
        items += n;
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(r.json, "result");
        const char *next = tu_jstr(res, "nextPageCursor");
        assert_non_null(next);
        snprintf(cursor, sizeof cursor, "%s", next);
        assert_true(cursor[0] == '\0' || n == limit); /* only a full page has a next one */
        expect_ret(r, 0);
        assert_true(++pages <= want_items + 1);
    } while (cursor[0] != '\0');
    assert_int_equal(items, want_items);
}

static void test_pages(void **state) {
    (void)state;
    const char *symbols[] = {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "1000PEPEUSDT"};
    const char *marks[] = {"50000", "3000", "150", "0.6", "0.01"};
    const char *sizes[] = {"0.010", "0.100", "1", "10", "1000"};
    for (int i = 0; i < 5; i++) {
        tu_mark(&t, symbols[i], marks[i]);
        tu_position(&t, ACCT, symbols[i], "long", sizes[i], marks[i]);
    }
    page_through("/v5/position/list", "category=linear&settleCoin=USDT", 2, 5);
    page_through("/v5/position/list", "category=linear&settleCoin=USDT", 5, 5);
    for (int i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"side\":\"Sell\","
                 "\"orderType\":\"Market\",\"qty\":\"0.001\",\"triggerPrice\":\"%d\","
                 "\"triggerDirection\":2,\"reduceOnly\":true}",
                 40000 + i * 100);
        expect_ret(tu_by(&t, "POST", "/v5/order/create", body), 0);
    }
    page_through("/v5/order/realtime", "category=linear&settleCoin=USDT&orderFilter=StopOrder", 2,
                 3);
    page_through("/v5/order/realtime", "category=linear&settleCoin=USDT", 1, 3);
    /* 51 is served as 50; 0 and a cursor that is not ours are 10001 */
    tu_resp r = tu_by(&t, "GET", "/v5/order/realtime", "category=linear&settleCoin=USDT&limit=51");
    assert_int_equal(cJSON_GetArraySize(result_list(&r)), 3);
    expect_ret(r, 0);
    expect_ret(tu_by(&t, "GET", "/v5/order/realtime", "category=linear&settleCoin=USDT&limit=0"),
               10001);
    expect_ret(
        tu_by(&t, "GET", "/v5/position/list", "category=linear&settleCoin=USDT&cursor=page%3D2"),
        10001);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_orders(void **state) {
    (void)state;
    tu_position(&t, ACCT, "ETHUSDT", "short", "2.000", "3000");
    const char *cond = "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\",\"side\":\"Buy\","
                       "\"orderType\":\"Market\",\"qty\":\"0\",\"triggerPrice\":\"3100.00\","
                       "\"triggerDirection\":1,\"triggerBy\":\"MarkPrice\",\"reduceOnly\":true,"
                       "\"closeOnTrigger\":true,\"orderLinkId\":\"sl-eth-1\"}";
    tu_resp r = tu_by(&t, "POST", "/v5/order/create", cond);
    assert_int_equal(tu_retcode(&r), 0);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(r.json, "result");
    assert_string_equal(tu_jstr(res, "orderLinkId"), "sl-eth-1");
    tu_resp_free(&r);
    expect_ret(tu_by(&t, "POST", "/v5/order/create", cond), 110072);
    expect_ret(tu_by(&t, "POST", "/v5/order/create",
                     "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\",\"side\":\"Buy\","
                     "\"orderType\":\"Market\",\"qty\":\"0\",\"triggerPrice\":\"2900.00\","
                     "\"triggerDirection\":1,\"reduceOnly\":true,\"closeOnTrigger\":true}"),
               110092);
    expect_ret(
        tu_by(&t, "POST", "/v5/order/cancel",
              "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\",\"orderLinkId\":\"sl-eth-1\"}"),
        0);
    expect_ret(
        tu_by(&t, "POST", "/v5/order/cancel",
              "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\",\"orderLinkId\":\"sl-eth-1\"}"),
        110001);
    expect_ret(tu_by(&t, "POST", "/v5/order/create", cond), 0);
    r = tu_by(&t, "POST", "/v5/order/cancel-all",
              "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\",\"orderFilter\":\"StopOrder\"}");
    assert_int_equal(cJSON_GetArraySize(result_list(&r)), 1);
    tu_resp_free(&r);
    /* a reduce-only market order closes the short */
    expect_ret(tu_by(&t, "POST", "/v5/order/create",
                     "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\",\"side\":\"Buy\","
                     "\"orderType\":\"Market\",\"qty\":\"2.000\",\"reduceOnly\":true}"),
               0);
    r = tu_by(&t, "GET", "/v5/position/list", "category=linear&symbol=ETHUSDT");
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(result_list(&r), 0), "size"), "0.000");
    tu_resp_free(&r);
    expect_ret(tu_by(&t, "POST", "/v5/order/create",
                     "{\"category\":\"linear\",\"symbol\":\"ETHUSDT\",\"side\":\"Buy\","
                     "\"orderType\":\"Market\",\"qty\":\"1.000\",\"reduceOnly\":true}"),
               110017);
    expect_ret(tu_by(&t, "POST", "/v5/order/create", "not json"), 10001);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_rate_limit(void **state) {
    (void)state;
    /* stay inside one second of the server clock */
    if (tu_now_ms() % 1000 > 700) {
        tu_sleep_ms(350);
    }
    tu_ctl_ok(&t, "POST", "/sim/limits", "{\"bybit_per_second\":2}");
    const char *q = "category=linear&settleCoin=USDT";
    for (int i = 0; i < 2; i++) {
        tu_resp r = tu_by(&t, "GET", "/v5/position/list", q);
        char status[32];
        assert_true(tu_header(&r, "X-Bapi-Limit-Status", status, sizeof status));
        assert_int_equal(atoi(status), 1 - i);
        expect_ret(r, 0);
    }
    tu_resp r = tu_by(&t, "GET", "/v5/position/list", q);
    char h[32];
    assert_true(tu_header(&r, "X-Bapi-Limit", h, sizeof h));
    assert_int_equal(atoi(h), 2);
    assert_true(tu_header(&r, "X-Bapi-Limit-Reset-Timestamp", h, sizeof h));
    expect_ret(r, 10006);
    tu_ctl_ok(&t, "POST", "/sim/limits", "{\"bybit_per_second\":0}");
}

/* Generated instruments are listed by instruments-info with their filters.
 * Last: they stay for the emulator's life. */
static void test_generated_instruments(void **state) {
    (void)state;
    tu_ctl_ok(&t, "POST", "/sim/scenario",
              "{\"instruments\":{\"count\":1000,\"prefix\":\"S\",\"tick\":\"0.001\","
              "\"step\":\"0.1\",\"start\":\"2.5\"}}");
    tu_resp r = public_get("/v5/market/instruments-info?category=linear");
    assert_int_equal(cJSON_GetArraySize(result_list(&r)), 1005);
    tu_resp_free(&r);
    r = public_get("/v5/market/instruments-info?category=linear&symbol=S1000USDT");
    const cJSON *item = cJSON_GetArrayItem(result_list(&r), 0);
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(item, "priceFilter");
    const cJSON *lf = cJSON_GetObjectItemCaseSensitive(item, "lotSizeFilter");
    assert_string_equal(tu_jstr(item, "baseCoin"), "S1000");
    assert_string_equal(tu_jstr(item, "quoteCoin"), "USDT");
    assert_string_equal(tu_jstr(item, "priceScale"), "3");
    assert_string_equal(tu_jstr(pf, "tickSize"), "0.001");
    assert_string_equal(tu_jstr(pf, "minPrice"), "0.001");
    assert_string_equal(tu_jstr(lf, "qtyStep"), "0.1");
    assert_string_equal(tu_jstr(lf, "minOrderQty"), "0.1");
    tu_resp_free(&r);
    r = public_get("/v5/market/tickers?category=linear&symbol=S0042USDT");
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(result_list(&r), 0), "markPrice"), "2.500");
    tu_resp_free(&r);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public),
        cmocka_unit_test(test_auth_errors),
        cmocka_unit_test(test_positions_and_trading_stop),
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_pages),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_generated_instruments),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
