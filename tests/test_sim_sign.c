/* The emulator's own signature checks against the published worked examples
 * (PROTOCOLS.md 1.2 and 2.2), its WebSocket key, its byte parsers, and one
 * request built exactly as in Binance's signing example, served end to end. */
#include "sim_testutil.h"

#include "sim/http.h"
#include "sim/sim_int.h"

typedef struct vector {
    const char *secret; /* key */
    const char *msg;    /* signed text */
    const char *hex;    /* HMAC-SHA256 */
} vector;

#define BN_DOC_SECRET "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"

static const vector vectors[] = {
    /* Binance USD-M "SIGNED Endpoint Examples for POST /fapi/v1/order", Ex. 1/2 */
    {BN_DOC_SECRET,
     "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&"
     "timestamp=1591702613943",
     "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"},
    /* Ex. 3, query‖body concatenated with no '&' (corrected, PROTOCOLS.md) */
    {BN_DOC_SECRET,
     "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000&recvWindow=5000&"
     "timestamp=1591702613943",
     "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"},
    /* Binance spot docs */
    {"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
     "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&"
     "timestamp=1499827319559",
     "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"},
    {BN_DOC_SECRET, "timestamp=1591702613943",
     "84901bbeed96ffa9adf9995c40fcadcb0a9ddad37c2605ce82491f2c771077a6"},
    {BN_DOC_SECRET,
     "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=STOP_MARKET&triggerPrice=58000.0&"
     "closePosition=true&workingType=MARK_PRICE&priceProtect=true&clientAlgoId=sl-BTCUSDT-1&"
     "recvWindow=5000&timestamp=1591702613943",
     "d90128c732d9e33b31fe614d819ac330fbe1fb3fe46f12c166682a4ee3e3f13b"},
    /* Bybit v5: timestamp + key + recvWindow + payload (derived, PROTOCOLS.md 2.2) */
    {"test-secret", "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C",
     "236d8f7132d3e4c8bad803010e296f3d07211356e54c01455b26c8229a682297"},
    {"test-secret", "1658385579423XXXXXXXXXX5000{\"category\": \"option\"}",
     "17a6bfe3e7a2aa41dffd3f16bfa0febb8b18ff79bb33de625705dc86876feffe"},
    {"test-secret",
     "1672283124270XXXXXXXXXX5000{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"tpslMode\":"
     "\"Full\",\"positionIdx\":0,\"stopLoss\":\"58000.0\",\"slTriggerBy\":\"MarkPrice\"}",
     "568c623806051a5307a9ca1e7840530a6758094210e4919802a5e9d7f3af6066"},
    {"test-secret", "GET/realtime1662350400000",
     "f072aab6fa18cd774da998325df6cfc87c3ccf10d5722e6b43b570c5feaf6172"},
};

static void test_hmac_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const vector *v = &vectors[i];
        char hex[SIM_HEX_SHA256];
        sim_hmac_hex(v->secret, v->msg, strlen(v->msg), hex);
        if (strcmp(hex, v->hex) != 0) {
            fail_msg("vector %zu: got %s want %s", i, hex, v->hex);
        }
        assert_true(sim_hmac_verify(v->secret, v->msg, strlen(v->msg), v->hex));
        char upper[65];
        for (int k = 0; k < 65; k++) {
            upper[k] = (char)(v->hex[k] >= 'a' && v->hex[k] <= 'f' ? v->hex[k] - 32 : v->hex[k]);
        }
        assert_true(sim_hmac_verify(v->secret, v->msg, strlen(v->msg), upper));
        char bad[65];
        memcpy(bad, v->hex, 65);
        bad[10] = bad[10] == '0' ? '1' : '0';
        assert_false(sim_hmac_verify(v->secret, v->msg, strlen(v->msg), bad));
        assert_false(sim_hmac_verify(v->secret, v->msg, strlen(v->msg) - 1, v->hex));
        assert_false(sim_hmac_verify(v->secret, v->msg, strlen(v->msg), "abc"));
    }
    /* the Binance doc's typo with a space reproduces the doc's printed hex */
    const char *typo = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000&"
                       "recvWindow=5000&timestamp= 1591702613943";
    assert_true(
        sim_hmac_verify(BN_DOC_SECRET, typo, strlen(typo),
                        "f9d0ae5e813ef6ccf15c2b5a434047a0181cb5a342b903b367ca6d27a66e36f2"));
}

static void test_ws_accept_key(void **state) {
    (void)state;
    char out[32];
    assert_true(sim_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out)); /* RFC 6455 1.3 */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_false(sim_ws_accept_key("", out));
    assert_false(sim_ws_accept_key(NULL, out));
}

static sim_parse parse(const char *text, sim_http_req *req, size_t *used) {
    return sim_http_parse(text, strlen(text), req, used);
}

static void test_http_parser(void **state) {
    (void)state;
    sim_http_req *req = malloc(sizeof *req);
    size_t used = 0;
    const char *ok = "POST /fapi/v1/order?symbol=BTCUSDT HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 5\r\nX-MBX-APIKEY:  k1 \r\n\r\nab=cdGET";
    assert_int_equal(parse(ok, req, &used), SIM_PARSE_DONE);
    assert_string_equal(req->method, "POST");
    assert_string_equal(req->path, "/fapi/v1/order");
    assert_string_equal(req->query, "symbol=BTCUSDT");
    assert_string_equal(sim_http_header(req, "x-mbx-apikey"), "k1");
    assert_int_equal(req->body_len, 5);
    assert_memory_equal(req->body, "ab=cd", 5);
    assert_int_equal(used, strlen(ok) - 3);
    assert_true(req->keep_alive);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n", req, &used), SIM_PARSE_MORE);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc", req, &used),
                     SIM_PARSE_MORE);
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", req, &used), SIM_PARSE_DONE);
    assert_false(req->keep_alive);
    assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", req, &used),
                     SIM_PARSE_DONE);
    assert_false(req->keep_alive);
    const char *bad[] = {
        "\x01\x02garbage\r\n\r\n",
        "GET noslash HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "get / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], req, &used) != SIM_PARSE_BAD) {
            fail_msg("accepted bad request %zu", i);
        }
    }
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", req, &used),
                     SIM_PARSE_TOO_BIG);
    char *huge = malloc(SIM_HEAD_BYTES_MAX + 10);
    memset(huge, 'a', SIM_HEAD_BYTES_MAX + 9);
    huge[SIM_HEAD_BYTES_MAX + 9] = '\0';
    assert_int_equal(parse(huge, req, &used), SIM_PARSE_TOO_BIG);
    free(huge);
    const char *up = "GET /ws/btcusdt@markPrice HTTP/1.1\r\nUpgrade: WebSocket\r\n"
                     "Connection: keep-alive, Upgrade\r\n\r\n";
    assert_int_equal(parse(up, req, &used), SIM_PARSE_DONE);
    assert_true(req->upgrade);
    free(req);
}

static void test_params(void **state) {
    (void)state;
    sim_params *p = calloc(1, sizeof *p);
    const char *q = "a=1&b=x%2By+z&a=2&&c";
    assert_true(sim_params_parse(q, strlen(q), p));
    assert_string_equal(sim_param(p, "a"), "1"); /* first wins: the query beats the body */
    assert_string_equal(sim_param(p, "b"), "x+y z");
    assert_string_equal(sim_param(p, "c"), "");
    assert_null(sim_param(p, "d"));
    memset(p, 0, sizeof *p);
    assert_false(sim_params_parse("a=%zz", 5, p));
    assert_false(sim_params_parse("a=%2", 4, p));
    assert_false(sim_params_parse("a=%00", 5, p));
    free(p);
}

static void test_ws_frames(void **state) {
    (void)state;
    sim_ws_frame f;
    uint8_t masked[] = {0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1};
    assert_int_equal(sim_ws_frame_parse(masked, sizeof masked, 100, &f), SIM_PARSE_DONE);
    assert_true(f.fin && f.masked);
    assert_int_equal(f.opcode, 1);
    sim_ws_unmask(masked + f.header_len, 5, f.mask);
    assert_memory_equal(masked + f.header_len, "hello", 5);
    assert_int_equal(sim_ws_frame_parse(masked, 4, 100, &f), SIM_PARSE_MORE);
    uint8_t rsv[] = {0xc1, 0x80, 0, 0, 0, 0};
    assert_int_equal(sim_ws_frame_parse(rsv, sizeof rsv, 100, &f), SIM_PARSE_BAD);
    uint8_t big_ping[] = {0x89, 0xfe, 0x01, 0x00};
    assert_int_equal(sim_ws_frame_parse(big_ping, sizeof big_ping, 1000, &f), SIM_PARSE_BAD);
    uint8_t huge[] = {0x81, 0xff, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_int_equal(sim_ws_frame_parse(huge, sizeof huge, 65536, &f), SIM_PARSE_TOO_BIG);
    uint8_t hdr[10];
    assert_int_equal(sim_ws_frame_header(1, 5, hdr), 2);
    assert_int_equal(sim_ws_frame_header(1, 300, hdr), 4);
    assert_int_equal(sim_ws_frame_header(1, 70000, hdr), 10);
}

/* Binance's own example request, byte for byte, is accepted once the
 * emulator's clock is set to the example's timestamp. */
static void test_binance_doc_request(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    char body[128];
    snprintf(body, sizeof body, "{\"offset_ms\":%lld}", (long long)(1591702613943LL - tu_now_ms()));
    tu_ctl_ok(&t, "POST", "/sim/clock", body);
    char url[1024];
    snprintf(url, sizeof url,
             "http://127.0.0.1:%u/fapi/v1/order?symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&"
             "price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943&signature="
             "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9",
             (unsigned)t.port.binance);
    const char *h[] = {"X-MBX-APIKEY: " TU_BN_KEY, NULL};
    tu_resp r = tu_http("POST", url, h, NULL, 5000);
    assert_int_equal(r.status, 200);
    assert_string_equal(tu_jstr(r.json, "status"), "NEW");
    assert_string_equal(tu_jstr(r.json, "type"), "LIMIT");
    tu_resp_free(&r);
    /* Ex. 3: half in the query, half in the form body */
    snprintf(url, sizeof url,
             "http://127.0.0.1:%u/fapi/v1/order?symbol=BTCUSDT&side=BUY&type=LIMIT&"
             "timeInForce=GTC",
             (unsigned)t.port.binance);
    r = tu_http("POST", url, h,
                "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943&signature="
                "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4",
                5000);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    tu_sim_stop(&t);
}

/* Bybit's derived POST vector, sent as is, passes the signature check and
 * fails only on the (old) timestamp; with the clock moved it succeeds. */
static void test_bybit_doc_request(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    tu_position(&t, "demo-bybit", "BTCUSDT", "long", "0.010", "60000");
    const char *json = "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"tpslMode\":\"Full\","
                       "\"positionIdx\":0,\"stopLoss\":\"58000.0\",\"slTriggerBy\":\"MarkPrice\"}";
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v5/position/trading-stop",
             (unsigned)t.port.bybit);
    const char *h[] = {
        "X-BAPI-API-KEY: XXXXXXXXXX",
        "X-BAPI-TIMESTAMP: 1672283124270",
        "X-BAPI-RECV-WINDOW: 5000",
        "X-BAPI-SIGN: 568c623806051a5307a9ca1e7840530a6758094210e4919802a5e9d7f3af6066",
        "Content-Type: application/json",
        NULL};
    tu_resp r = tu_http("POST", url, h, json, 5000);
    assert_int_equal(tu_retcode(&r), 10002);
    tu_resp_free(&r);
    char body[128];
    snprintf(body, sizeof body, "{\"offset_ms\":%lld}", (long long)(1672283124270LL - tu_now_ms()));
    tu_ctl_ok(&t, "POST", "/sim/clock", body);
    tu_mark(&t, "BTCUSDT", "60000");
    r = tu_http("POST", url, h, json, 5000);
    assert_int_equal(tu_retcode(&r), 0);
    tu_resp_free(&r);
    tu_sim_stop(&t);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_vectors),      cmocka_unit_test(test_ws_accept_key),
        cmocka_unit_test(test_http_parser),       cmocka_unit_test(test_params),
        cmocka_unit_test(test_ws_frames),         cmocka_unit_test(test_binance_doc_request),
        cmocka_unit_test(test_bybit_doc_request),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
