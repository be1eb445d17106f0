/* The emulator's fault injection (REST and streams), the unprotected windows
 * it measures, determinism under a seed, scenarios, and that no secret ever
 * leaves it. */
#include "sim_testutil.h"

#define MSG_MAX 65536
#define ALGO    "/fapi/v1/algoOrder"
#define BN      "demo-binance"

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

static void fault(const char *path, const char *kind, int ms, int count) {
    char body[256];
    snprintf(body, sizeof body, "{\"path\":\"%s\",\"kind\":\"%s\",\"ms\":%d,\"count\":%d}", path,
             kind, ms, count);
    tu_ctl_ok(&t, "POST", "/sim/fault", body);
}

static void test_rest_faults(void **state) {
    (void)state;
    fault("/fapi/v1/time", "latency", 300, 1);
    tu_resp r = tu_bn_public(&t, "/fapi/v1/time");
    assert_int_equal(r.status, 200);
    assert_true(r.seconds >= 0.29);
    tu_resp_free(&r);
    r = tu_bn_public(&t, "/fapi/v1/time");
    assert_true(r.seconds < 0.25); /* count 1: only the next request */
    tu_resp_free(&r);
    fault("/fapi/v1/time", "drop", 0, 1);
    r = tu_bn_public(&t, "/fapi/v1/time");
    assert_int_equal(r.status, 0);
    tu_resp_free(&r);
    fault("/fapi/v1/time", "http5xx", 0, 2);
    for (int i = 0; i < 2; i++) {
        r = tu_bn_public(&t, "/fapi/v1/time");
        assert_int_equal(r.status, 503);
        assert_int_equal(tu_code(&r), -1001);
        tu_resp_free(&r);
    }
    fault("/v5/market/time", "http5xx", 0, 1);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v5/market/time", (unsigned)t.port.bybit);
    r = tu_http("GET", url, NULL, NULL, 5000);
    assert_int_equal(r.status, 503);
    tu_resp_free(&r);
    fault("GET /fapi/v1/time", "timeout", 0, 1);
    r = tu_http("GET", url, NULL, NULL, 5000); /* other venue, other path: unaffected */
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/fapi/v1/time", (unsigned)t.port.binance);
    r = tu_http("GET", url, NULL, NULL, 600);
    assert_int_equal(r.status, 0);
    tu_resp_free(&r);
    r = tu_ctl(&t, "GET", "/sim/requests?venue=binance", NULL);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r.json, "requests");
    const cJSON *last = cJSON_GetArrayItem(list, cJSON_GetArraySize(list) - 1);
    assert_int_equal((int)tu_jnum(last, "status"), 0);
    assert_int_equal((int)tu_jnum(last, "resp_us"), 0);
    tu_resp_free(&r);
    r = tu_bn_public(&t, "/fapi/v1/time");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_bad_control(void **state) {
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sim/fault", (unsigned)t.port.binance);
    tu_resp r = tu_http("POST", url, NULL, "{\"path\":\"/x\",\"kind\":\"nope\"}", 5000);
    assert_int_equal(r.status, 400);
    assert_non_null(tu_jstr(r.json, "error"));
    tu_resp_free(&r);
    r = tu_http("POST", url, NULL, "{\"path\":\"/fapi/v1/time\",\"kind\":\"reorder\"}", 5000);
    assert_int_equal(r.status, 400);
    tu_resp_free(&r);
    r = tu_http("POST", url, NULL, "not json", 5000);
    assert_int_equal(r.status, 400);
    tu_resp_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sim/nothing", (unsigned)t.port.bybit);
    r = tu_http("GET", url, NULL, NULL, 5000);
    assert_int_equal(r.status, 404);
    tu_resp_free(&r);
}

/* Raw garbage on the socket gets 400 and a closed connection. */
static void test_garbage(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(t.port.binance)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    const char junk[] = "\x16\x03\x01 not http at all\r\n\r\n";
    assert_int_equal(send(fd, junk, sizeof junk - 1, 0), (ssize_t)(sizeof junk - 1));
    char buf[512] = {0};
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 12);
    assert_memory_equal(buf, "HTTP/1.1 400", 12);
    close(fd);
    tu_resp r = tu_bn_public(&t, "/fapi/v1/time");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
}

static void test_stream_faults(void **state) {
    (void)state;
    tu_ws w;
    assert_int_equal(tu_ws_open(&w, t.port.binance, "/ws/btcusdt@markPrice"), 101);
    fault("stream:markPrice", "stale", 0, 1);
    tu_mark(&t, "BTCUSDT", "50001");
    tu_mark(&t, "BTCUSDT", "50002");
    assert_true(tu_ws_wait(&w, "markPriceUpdate", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "50002.0")); /* the first push was swallowed */
    fault("stream:markPrice", "reorder", 0, 1);
    tu_mark(&t, "BTCUSDT", "50003");
    tu_mark(&t, "BTCUSDT", "50004");
    assert_true(tu_ws_wait(&w, "markPriceUpdate", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "50004.0"));
    assert_true(tu_ws_wait(&w, "markPriceUpdate", msg, sizeof msg, 3000));
    assert_non_null(strstr(msg, "50003.0"));
    fault("stream:markPrice", "latency", 400, 1);
    int64_t t0 = tu_now_ms();
    tu_mark(&t, "BTCUSDT", "50005");
    assert_true(tu_ws_wait(&w, "50005.0", msg, sizeof msg, 3000));
    assert_true(tu_now_ms() - t0 >= 390);
    fault("stream:markPrice", "drop", 0, 1);
    tu_mark(&t, "BTCUSDT", "50006");
    assert_int_equal(tu_ws_recv(&w, msg, sizeof msg, 3000), -1);
    tu_ws_close(&w);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static const cJSON *unprotected(tu_resp *r) {
    *r = tu_ctl(&t, "GET", "/sim/protection?account=demo-binance&symbol=BTCUSDT", NULL);
    return cJSON_GetObjectItemCaseSensitive(r->json, "unprotected");
}

static void place(const char *cid, const char *trigger) {
    char p[512];
    snprintf(p, sizeof p,
             "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&triggerPrice=%s&"
             "quantity=0.010&reduceOnly=true&workingType=MARK_PRICE&clientAlgoId=%s",
             trigger, cid);
    tu_resp r = tu_bn(&t, "POST", ALGO, p);
    if (r.status != 200) {
        fail_msg("place %s: %s", cid, r.body);
    }
    tu_resp_free(&r);
}

static void cancel(const char *cid) {
    char p[128];
    snprintf(p, sizeof p, "clientAlgoId=%s", cid);
    tu_resp r = tu_bn(&t, "DELETE", ALGO, p);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
}

static void test_unprotected_windows(void **state) {
    (void)state;
    tu_mark(&t, "BTCUSDT", "50000");
    tu_position(&t, BN, "BTCUSDT", "long", "0.010", "50000");
    tu_sleep_ms(20);
    place("a", "49000.0");
    tu_resp r;
    const cJSON *u = unprotected(&r);
    assert_int_equal((int)tu_jnum(u, "count"), 1); /* from the open to the first stop */
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(u, "open")));
    double total = tu_jnum(u, "total_us");
    assert_true(total >= 20000);
    tu_resp_free(&r);
    /* replace: the new stop before the old one is cancelled → no window */
    place("b", "49100.0");
    cancel("a");
    u = unprotected(&r);
    assert_int_equal((int)tu_jnum(u, "count"), 1);
    assert_true(tu_jnum(u, "total_us") == total);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r.json, "open_stops")), 1);
    tu_resp_free(&r);
    /* cancel, then place: a window as long as the gap */
    cancel("b");
    tu_sleep_ms(50);
    u = unprotected(&r);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(u, "open")));
    tu_resp_free(&r);
    place("c", "49200.0");
    u = unprotected(&r);
    assert_int_equal((int)tu_jnum(u, "count"), 2);
    assert_true(tu_jnum(u, "longest_ms") >= 50);
    assert_true(tu_jnum(u, "total_us") >= total + 50000);
    tu_resp_free(&r);
    /* the stop fires: a trigger opens no window */
    tu_mark(&t, "BTCUSDT", "49000");
    u = unprotected(&r);
    assert_int_equal((int)tu_jnum(u, "count"), 2);
    assert_string_equal(tu_jstr(r.json, "size"), "0.000");
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

/* A stale read: the answer comes from a view without the open orders. */
static void test_stale_read(void **state) {
    (void)state;
    tu_position(&t, BN, "BTCUSDT", "long", "0.010", "50000");
    place("st-1", "49000.0");
    fault("GET /fapi/v1/algoOrder", "stale", 0, 1);
    tu_resp r = tu_bn(&t, "GET", ALGO, "clientAlgoId=st-1");
    assert_int_equal(tu_code(&r), -2013);
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", ALGO, "clientAlgoId=st-1");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    fault("/fapi/v1/openAlgoOrders", "stale", 0, 1);
    r = tu_bn(&t, "GET", "/fapi/v1/openAlgoOrders", "symbol=BTCUSDT");
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", "/fapi/v1/openAlgoOrders", "symbol=BTCUSDT");
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

static void test_bybit_amend_keeps_protection(void **state) {
    (void)state;
    tu_mark(&t, "BTCUSDT", "60000");
    tu_position(&t, "demo-bybit", "BTCUSDT", "long", "0.010", "60000");
    const char *f = "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"tpslMode\":\"Full\","
                    "\"positionIdx\":0,\"stopLoss\":\"%s\",\"slTriggerBy\":\"MarkPrice\"}";
    char body[256];
    const char *prices[] = {"58000.0", "58500.0", "59000.0"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(body, sizeof body, f, prices[i]);
        tu_resp r = tu_by(&t, "POST", "/v5/position/trading-stop", body);
        assert_int_equal(tu_retcode(&r), 0);
        tu_resp_free(&r);
    }
    tu_resp r = tu_ctl(&t, "GET", "/sim/protection?account=demo-bybit&symbol=BTCUSDT", NULL);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(r.json, "unprotected");
    assert_int_equal((int)tu_jnum(u, "count"), 1);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(u, "open")));
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

/* Two emulators with one seed walk the same path and hand out the same ids. */
static void test_determinism(void **state) {
    (void)state;
    const char *scenario = "{\"paths\":[{\"symbol\":\"BTCUSDT\",\"kind\":\"walk\","
                           "\"interval_ms\":3600000,\"step_bps\":25,\"start\":\"50000\"}]}";
    char marks[3][64], keys[3][80];
    uint64_t seeds[3] = {42, 42, 43};
    for (int i = 0; i < 3; i++) {
        tu_sim s;
        tu_sim_start_seed(&s, seeds[i]);
        tu_ctl_ok(&s, "POST", "/sim/scenario", scenario);
        tu_resp r = tu_ctl(&s, "POST", "/sim/step", "{\"symbol\":\"BTCUSDT\",\"count\":500}");
        assert_int_equal((int)tu_jnum(r.json, "steps"), 500);
        snprintf(marks[i], sizeof marks[i], "%s", tu_jstr(r.json, "mark"));
        tu_resp_free(&r);
        char url[256];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/fapi/v1/listenKey",
                 (unsigned)s.port.binance);
        const char *h[] = {"X-MBX-APIKEY: " TU_BN_KEY, NULL};
        r = tu_http("POST", url, h, NULL, 5000);
        snprintf(keys[i], sizeof keys[i], "%s", tu_jstr(r.json, "listenKey"));
        tu_resp_free(&r);
        tu_sim_stop(&s);
    }
    assert_string_equal(marks[0], marks[1]);
    assert_string_equal(keys[0], keys[1]);
    assert_string_not_equal(marks[0], marks[2]);
    assert_string_not_equal(marks[0], "50000");
}

static void test_scenario_csv_and_steps(void **state) {
    (void)state;
    const char *csv = TG_SHARED_DIR "/data/btc-perp-20211231-20220201_1m.csv";
    FILE *probe = fopen(csv, "rb");
    if (probe == NULL) { /* real market data lives beside the repository, never in it */
        fprintf(stderr, "skipped: %s is absent (shared market data)\n", csv);
        skip();
    }
    fclose(probe);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"paths\":[{\"symbol\":\"BTCUSDT\",\"kind\":\"csv\",\"file\":\"%s\","
             "\"interval_ms\":3600000,\"limit\":10},{\"symbol\":\"ETHUSDT\",\"kind\":\"steps\","
             "\"interval_ms\":3600000,\"prices\":[\"3000\",\"2950.5\"]}],"
             "\"positions\":[{\"account\":\"demo-binance\",\"symbol\":\"ETHUSDT\","
             "\"side\":\"long\",\"size\":\"1.000\",\"entry\":\"3000\"}]}",
             TG_SHARED_DIR "/data/btc-perp-20211231-20220201_1m.csv");
    tu_ctl_ok(&t, "POST", "/sim/scenario", body);
    tu_resp r = tu_ctl(&t, "POST", "/sim/step", "{\"symbol\":\"BTCUSDT\",\"count\":2}");
    assert_string_equal(tu_jstr(r.json, "mark"), "46411"); /* the close of the second bar */
    tu_resp_free(&r);
    r = tu_ctl(&t, "POST", "/sim/step", "{\"symbol\":\"ETHUSDT\",\"count\":5}");
    assert_int_equal((int)tu_jnum(r.json, "steps"), 2);
    assert_string_equal(tu_jstr(r.json, "mark"), "2950.5");
    tu_resp_free(&r);
    r = tu_bn(&t, "GET", "/fapi/v3/positionRisk", "");
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    tu_resp_free(&r);
    r = tu_ctl(&t, "GET", "/sim/state", NULL);
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

/* One step call for several symbols: every path steps, in the order given,
 * and an unknown symbol refuses the whole call before anything moves. */
static void test_step_several_symbols(void **state) {
    (void)state;
    tu_ctl_ok(&t, "POST", "/sim/scenario",
              "{\"paths\":[{\"symbol\":\"BTCUSDT\",\"kind\":\"steps\",\"interval_ms\":3600000,"
              "\"prices\":[\"50100\",\"50200\"]},{\"symbol\":\"ETHUSDT\",\"kind\":\"steps\","
              "\"interval_ms\":3600000,\"prices\":[\"3001\",\"3002\"]}]}");
    char url[TU_URL_MAX];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sim/step", (unsigned)t.port.binance);
    tu_resp r =
        tu_http("POST", url, NULL, "{\"symbols\":[\"BTCUSDT\",\"NOPEUSDT\"],\"count\":1}", 5000);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "known instruments"));
    tu_resp_free(&r);
    r = tu_ctl(&t, "POST", "/sim/step", "{\"symbols\":[\"ETHUSDT\",\"BTCUSDT\"],\"count\":1}");
    assert_int_equal(r.status, 200);
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(r.json, "steps");
    assert_int_equal(cJSON_GetArraySize(steps), 2);
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(steps, 0), "symbol"), "ETHUSDT");
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(steps, 0), "mark"), "3001");
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(steps, 1), "symbol"), "BTCUSDT");
    assert_string_equal(tu_jstr(cJSON_GetArrayItem(steps, 1), "mark"), "50100");
    tu_resp_free(&r);
    /* the refused call moved nothing: BTCUSDT is at its first price */
    r = tu_ctl(&t, "POST", "/sim/step", "{\"symbol\":\"BTCUSDT\",\"count\":1}");
    assert_string_equal(tu_jstr(r.json, "mark"), "50200");
    tu_resp_free(&r);
    tu_ctl_ok(&t, "DELETE", "/sim/reset", NULL);
}

/* An accounts file with a secret of our own: it shows up in no answer, no
 * error and no log line, whatever goes wrong. */
static void test_no_secret_leaks(void **state) {
    (void)state;
    const char *secret = "S3CR3T-never-shown-9f8e7d";
    char path[512], text[1024];
    snprintf(path, sizeof path, "%s/sim-accounts.json", TG_TEST_TMPDIR);
    snprintf(
        text, sizeof text,
        "[{\"venue\":\"binance\",\"name\":\"bn1\",\"api_key\":\"k-bn1\",\"api_secret\":\"%s\"},"
        "{\"venue\":\"bybit\",\"name\":\"by1\",\"api_key\":\"k-by1\",\"api_secret\":\"%s\"}]",
        secret, secret);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    tg_sim_config cfg = tg_sim_config_default();
    cfg.accounts_path = path;
    tu_sim s;
    tg_err err = {0};
    assert_int_equal(tg_sim_new(&cfg, &s.sim, &err), TG_OK);
    assert_int_equal(tg_sim_start(s.sim, &err), TG_OK);
    s.port = tg_sim_ports_get(s.sim);
    tu_resp rs[6];
    rs[0] = tu_bn_full(&s, "GET", "/fapi/v2/positionRisk", "", false, "k-bn1", "bad", tu_now_ms());
    rs[1] = tu_bn_full(&s, "GET", "/fapi/v2/positionRisk", "", false, "k-bn1", secret, 1000);
    rs[2] = tu_by_full(&s, "GET", "/v5/position/list", "category=linear&settleCoin=USDT", "k-by1",
                       "bad", tu_now_ms());
    rs[3] =
        tu_by_full(&s, "GET", "/v5/position/list", "category=linear", "k-by1", secret, tu_now_ms());
    rs[4] = tu_ctl(&s, "GET", "/sim/requests", NULL);
    rs[5] = tu_ctl(&s, "GET", "/sim/state", NULL);
    assert_int_equal(tu_code(&rs[0]), -1022);
    assert_int_equal(tu_retcode(&rs[2]), 10004);
    for (int i = 0; i < 6; i++) {
        if (strstr(rs[i].body, secret) != NULL || strstr(rs[i].headers, secret) != NULL) {
            fail_msg("answer %d shows the secret: %s", i, rs[i].body);
        }
        tu_resp_free(&rs[i]);
    }
    tu_sim_stop(&s);
    cfg.accounts_path = "/nonexistent/accounts.json";
    assert_int_equal(tg_sim_new(&cfg, &s.sim, &err), TG_E_IO);
    assert_non_null(strstr(err.msg, "cannot open"));
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rest_faults),
        cmocka_unit_test(test_bad_control),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_stream_faults),
        cmocka_unit_test(test_unprotected_windows),
        cmocka_unit_test(test_stale_read),
        cmocka_unit_test(test_bybit_amend_keeps_protection),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_scenario_csv_and_steps),
        cmocka_unit_test(test_step_several_symbols),
        cmocka_unit_test(test_no_secret_leaks),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
