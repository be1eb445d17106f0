/* Request signing against the exchanges' published worked examples (and a
 * few derived vectors, computed independently with openssl), plus the query
 * and JSON builders the signed strings are made of. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "venue/sign.h"

#define BN_SECRET "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"

static void expect_hmac(const char *secret, const char *msg, const char *want) {
    char got[TG_SIGN_HEX_LEN + 1];
    assert_true(tg_sign_hmac_hex(secret, msg, strlen(msg), got));
    assert_string_equal(got, want);
}

/* A key set up once signs message after message: each signature starts
 * afresh, with nothing left over from the one before. */
static tg_sign_key *bn_key(void) {
    static tg_sign_key *key;
    if (key == NULL) {
        key = tg_sign_key_new(BN_SECRET);
        assert_non_null(key);
    }
    return key;
}

static tg_sign_key *by_key(void) {
    static tg_sign_key *key;
    if (key == NULL) {
        key = tg_sign_key_new("test-secret");
        assert_non_null(key);
    }
    return key;
}

/* Binance USD-M docs, "SIGNED Endpoint Examples for POST /fapi/v1/order",
 * examples 1 and 2 (all parameters in the query, or all in the body). */
static void binance_doc_example_query_or_body(void **state) {
    (void)state;
    const char *params = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
                         "&recvWindow=5000&timestamp=1591702613943";
    const char *want = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9";
    char sig[TG_SIGN_HEX_LEN + 1];
    tg_sign_binance(bn_key(), params, "", sig);
    assert_string_equal(sig, want);
    tg_sign_binance(bn_key(), "", params, sig);
    assert_string_equal(sig, want);
}

/* Example 3 (mixed query and body): the concatenation has no '&' between
 * them. The docs' printed hex matches only their typo (a space before the
 * timestamp); both are checked so the rule, not the typo, is what passes. */
static void binance_doc_example_mixed(void **state) {
    (void)state;
    char sig[TG_SIGN_HEX_LEN + 1];
    tg_sign_binance(bn_key(), "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC",
                    "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943", sig);
    assert_string_equal(sig, "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4");
    tg_sign_binance(bn_key(), "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC",
                    "quantity=1&price=9000&recvWindow=5000&timestamp= 1591702613943", sig);
    assert_string_equal(sig, "f9d0ae5e813ef6ccf15c2b5a434047a0181cb5a342b903b367ca6d27a66e36f2");
}

/* Binance spot docs' example: the same algorithm with another secret. */
static void binance_spot_doc_example(void **state) {
    (void)state;
    expect_hmac("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
                "&recvWindow=5000&timestamp=1499827319559",
                "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
}

/* The algo stop order the adapter sends, built with the query builder. */
static void binance_algo_order_derived(void **state) {
    (void)state;
    tg_payload qs;
    tg_payload_init(&qs);
    tg_payload_add(&qs, "algoType", "CONDITIONAL");
    tg_payload_add(&qs, "symbol", "BTCUSDT");
    tg_payload_add(&qs, "side", "SELL");
    tg_payload_add(&qs, "type", "STOP_MARKET");
    tg_payload_add(&qs, "triggerPrice", "58000.0");
    tg_payload_add(&qs, "closePosition", "true");
    tg_payload_add(&qs, "workingType", "MARK_PRICE");
    tg_payload_add(&qs, "priceProtect", "true");
    tg_payload_add(&qs, "clientAlgoId", "sl-BTCUSDT-1");
    tg_payload_add_i64(&qs, "recvWindow", 5000);
    tg_payload_add_i64(&qs, "timestamp", 1591702613943);
    assert_false(qs.overflow);
    char sig[TG_SIGN_HEX_LEN + 1];
    tg_sign_binance(bn_key(), qs.buf, "", sig);
    assert_string_equal(sig, "d90128c732d9e33b31fe614d819ac330fbe1fb3fe46f12c166682a4ee3e3f13b");
    expect_hmac(BN_SECRET, "timestamp=1591702613943",
                "84901bbeed96ffa9adf9995c40fcadcb0a9ddad37c2605ce82491f2c771077a6");
}

/* Bybit v5: timestamp ‖ key ‖ recvWindow ‖ payload. The docs do not publish
 * their secret, so these vectors use the docs' strings with a known one. */
static void bybit_get_and_post(void **state) {
    (void)state;
    char sig[TG_SIGN_HEX_LEN + 1];
    tg_sign_bybit(by_key(), 1658384314791, "XXXXXXXXXX", 5000,
                  "category=option&symbol=BTC-29JUL22-25000-C", sig);
    assert_string_equal(sig, "236d8f7132d3e4c8bad803010e296f3d07211356e54c01455b26c8229a682297");
    tg_sign_bybit(by_key(), 1658385579423, "XXXXXXXXXX", 5000, "{\"category\": \"option\"}", sig);
    assert_string_equal(sig, "17a6bfe3e7a2aa41dffd3f16bfa0febb8b18ff79bb33de625705dc86876feffe");
}

/* The trading-stop body the adapter sends, built with the JSON builder. */
static void bybit_trading_stop_body(void **state) {
    (void)state;
    tg_payload qs;
    tg_payload_json_begin(&qs);
    tg_payload_json_str(&qs, "category", "linear");
    tg_payload_json_str(&qs, "symbol", "BTCUSDT");
    tg_payload_json_str(&qs, "tpslMode", "Full");
    tg_payload_json_num(&qs, "positionIdx", 0);
    tg_payload_json_str(&qs, "stopLoss", "58000.0");
    tg_payload_json_str(&qs, "slTriggerBy", "MarkPrice");
    tg_payload_json_end(&qs);
    assert_false(qs.overflow);
    assert_string_equal(qs.buf,
                        "{\"category\":\"linear\",\"symbol\":\"BTCUSDT\",\"tpslMode\":\"Full\","
                        "\"positionIdx\":0,\"stopLoss\":\"58000.0\",\"slTriggerBy\":"
                        "\"MarkPrice\"}");
    char sig[TG_SIGN_HEX_LEN + 1];
    tg_sign_bybit(by_key(), 1672283124270, "XXXXXXXXXX", 5000, qs.buf, sig);
    assert_string_equal(sig, "568c623806051a5307a9ca1e7840530a6758094210e4919802a5e9d7f3af6066");
}

static void bybit_ws_auth(void **state) {
    (void)state;
    char sig[TG_SIGN_HEX_LEN + 1];
    tg_sign_bybit_ws(by_key(), 1662350400000, sig);
    assert_string_equal(sig, "f072aab6fa18cd774da998325df6cfc87c3ccf10d5722e6b43b570c5feaf6172");
}

static void query_builder_encodes_and_bounds(void **state) {
    (void)state;
    tg_payload qs;
    tg_payload_init(&qs);
    tg_payload_add(&qs, "clientAlgoId", "tg-BTCUSDT:l-1");
    tg_payload_add(&qs, "x", "a b&c=d");
    assert_string_equal(qs.buf, "clientAlgoId=tg-BTCUSDT%3Al-1&x=a%20b%26c%3Dd");
    tg_payload_json_begin(&qs);
    tg_payload_json_str(&qs, "a", "q\"\\\n");
    tg_payload_json_end(&qs);
    assert_string_equal(qs.buf, "{\"a\":\"q\\\"\\\\\\u000a\"}");
    tg_payload_init(&qs);
    char big[TG_PAYLOAD_MAX];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tg_payload_add(&qs, "k", big);
    assert_true(qs.overflow);
    assert_true(qs.len < TG_PAYLOAD_MAX);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binance_doc_example_query_or_body),
        cmocka_unit_test(binance_doc_example_mixed),
        cmocka_unit_test(binance_spot_doc_example),
        cmocka_unit_test(binance_algo_order_derived),
        cmocka_unit_test(bybit_get_and_post),
        cmocka_unit_test(bybit_trading_stop_body),
        cmocka_unit_test(bybit_ws_auth),
        cmocka_unit_test(query_builder_encodes_and_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
