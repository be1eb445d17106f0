/* The decoders of exchange bytes, on the documents' example payloads and
 * on hostile ones; the error map; client ids; redaction of credentials. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "trailguard/decimal.h"
#include "trailguard/venue.h"
#include "venue/wire.h"

#define LEN(s) (sizeof(s) - 1)

static void assert_dec(tg_dec got, const char *want) {
    tg_dec w;
    assert_int_equal(tg_dec_parse_cstr(want, &w), TG_DEC_OK);
    if (!tg_dec_eq(got, w)) {
        char a[TG_DEC_STR_MAX];
        tg_dec_format(got, 0, a);
        fail_msg("got %s, want %s", a, want);
    }
}

static const char BN_INFO[] =
    "{\"timezone\":\"UTC\",\"serverTime\":1565613908500,\"symbols\":[{\"symbol\":\"BLZUSDT\","
    "\"status\":\"TRADING\",\"pricePrecision\":5,\"filters\":[{\"filterType\":\"PRICE_FILTER\","
    "\"maxPrice\":\"300\",\"minPrice\":\"0.0001\",\"tickSize\":\"0.0001\"},{\"filterType\":"
    "\"LOT_SIZE\",\"maxQty\":\"10000000\",\"minQty\":\"1\",\"stepSize\":\"1\"},{\"filterType\":"
    "\"MAX_NUM_ALGO_ORDERS\",\"limit\":10}]},{\"symbol\":\"BTCUSDT\",\"status\":\"SETTLING\","
    "\"filters\":[{\"filterType\":\"PRICE_FILTER\",\"maxPrice\":\"4529764\",\"minPrice\":"
    "\"556.80\",\"tickSize\":\"0.10\"},{\"filterType\":\"LOT_SIZE\",\"minQty\":\"0.001\","
    "\"stepSize\":\"0.001\"}]},{\"symbol\":\"NOFILTERS\",\"filters\":[]}]}";

static void binance_rules(void **state) {
    (void)state;
    tg_venue_rules r[4];
    tg_wire_page page;
    tg_err err;
    assert_int_equal(tg_bn_parse_rules(BN_INFO, LEN(BN_INFO), r, 4, &page, &err), TG_OK);
    assert_int_equal(page.count, 2);
    assert_int_equal(page.skipped, 1);
    assert_string_equal(r[0].symbol, "BLZUSDT");
    assert_dec(r[0].tick, "0.0001");
    assert_dec(r[0].step, "1");
    assert_dec(r[0].min_qty, "1");
    assert_true(r[0].trading);
    assert_dec(r[1].tick, "0.1");
    assert_dec(r[1].min_price, "556.8");
    assert_false(r[1].trading);
    assert_int_equal(tg_bn_parse_rules(BN_INFO, LEN(BN_INFO), r, 1, &page, &err), TG_E_CAPACITY);
}

static const char BN_POS[] =
    "[{\"symbol\":\"ADAUSDT\",\"positionSide\":\"BOTH\",\"positionAmt\":\"30\",\"entryPrice\":"
    "\"0.385\",\"markPrice\":\"0.41047590\",\"updateTime\":1720736417660},{\"symbol\":\"BTCUSDT\","
    "\"positionSide\":\"BOTH\",\"positionAmt\":\"-0.010\",\"entryPrice\":\"60000.1\","
    "\"markPrice\":\"59000\"},{\"symbol\":\"ETHUSDT\",\"positionSide\":\"BOTH\",\"positionAmt\":"
    "\"0.000\",\"entryPrice\":\"0\"},{\"symbol\":\"XRPUSDT\",\"positionSide\":\"SHORT\","
    "\"positionAmt\":\"-5\",\"entryPrice\":\"0.5\"}]";

static void binance_positions(void **state) {
    (void)state;
    tg_venue_position p[4];
    tg_wire_page page;
    tg_err err;
    assert_int_equal(tg_bn_parse_positions(BN_POS, LEN(BN_POS), p, 4, &page, &err), TG_OK);
    assert_int_equal(page.count, 3);
    assert_int_equal(page.skipped, 1);
    assert_string_equal(p[0].key, "ADAUSDT:long");
    assert_dec(p[0].size, "30");
    assert_dec(p[0].mark, "0.4104759");
    assert_int_equal(p[0].update_ms, 1720736417660);
    assert_int_equal(p[1].side, TG_SIDE_SHORT);
    assert_dec(p[1].size, "0.01");
    assert_dec(p[1].entry, "60000.1");
    assert_int_equal(p[2].position_idx, 2);
    assert_string_equal(p[2].key, "XRPUSDT:short");
    static const char bad[] = "[{\"symbol\":\"X\",\"positionAmt\":0.1}]"; /* a double */
    assert_int_equal(tg_bn_parse_positions(bad, LEN(bad), p, 4, &page, &err), TG_E_INVALID);
    assert_int_equal(tg_bn_parse_positions("{}", 2, p, 4, &page, &err), TG_E_INVALID);
}

static const char BN_ALGO[] =
    "{\"algoId\":2146760,\"clientAlgoId\":\"tg-BTCUSDT:l-1z\",\"algoType\":\"CONDITIONAL\","
    "\"orderType\":\"STOP_MARKET\",\"symbol\":\"BTCUSDT\",\"side\":\"SELL\",\"positionSide\":"
    "\"BOTH\",\"quantity\":\"0.010\",\"algoStatus\":\"NEW\",\"triggerPrice\":\"58000.10\","
    "\"workingType\":\"MARK_PRICE\",\"closePosition\":false,\"reduceOnly\":true,"
    "\"updateTime\":1750485492076}";

static void binance_algo_orders(void **state) {
    (void)state;
    tg_venue_stop s;
    tg_err err;
    assert_int_equal(tg_bn_parse_algo(BN_ALGO, LEN(BN_ALGO), &s, &err), TG_OK);
    assert_string_equal(s.order_id, "2146760");
    assert_string_equal(s.client_id, "tg-BTCUSDT:l-1z");
    assert_true(s.owned);
    assert_string_equal(s.position_key, "BTCUSDT:long");
    assert_int_equal(s.side, TG_SIDE_LONG);
    assert_dec(s.trigger, "58000.1");
    assert_dec(s.qty, "0.01");
    assert_int_equal(s.state, TG_VSTOP_OPEN);
    char list[2048];
    snprintf(list, sizeof list,
             "[%s,{\"algoId\":7,\"clientAlgoId\":\"manual\",\"type\":\"STOP_MARKET\",\"symbol\":"
             "\"ETHUSDT\",\"side\":\"BUY\",\"positionSide\":\"BOTH\",\"triggerPrice\":\"3000\","
             "\"closePosition\":true,\"algoStatus\":\"NEW\"},{\"algoId\":8,\"orderType\":"
             "\"TAKE_PROFIT\",\"symbol\":\"ETHUSDT\",\"side\":\"BUY\",\"triggerPrice\":\"1\"}]",
             BN_ALGO);
    tg_venue_stop stops[4];
    tg_wire_page page;
    assert_int_equal(tg_bn_parse_algos(list, strlen(list), stops, 4, &page, &err), TG_OK);
    assert_int_equal(page.count, 2);
    assert_int_equal(page.skipped, 1);
    assert_false(stops[1].owned);
    assert_string_equal(stops[1].position_key, "ETHUSDT:short");
    assert_true(tg_dec_is_zero(stops[1].qty));
    assert_true(stops[1].close_position);
    assert_false(stops[1].regular);
}

/* The regular order API's stops (GET /fapi/v1/openOrders) are protection
 * too: listed with trigger type, reduce-only / close-position and owner;
 * LIMIT orders and filled stops are not. */
static void binance_regular_stop_orders(void **state) {
    (void)state;
    static const char list[] =
        "[{\"orderId\":2001,\"clientOrderId\":\"web_abc\",\"symbol\":\"BTCUSDT\",\"side\":"
        "\"SELL\",\"positionSide\":\"BOTH\",\"type\":\"STOP_MARKET\",\"origType\":"
        "\"STOP_MARKET\",\"stopPrice\":\"57000.5\",\"origQty\":\"0.020\",\"status\":\"NEW\","
        "\"reduceOnly\":true,\"closePosition\":false,\"workingType\":\"CONTRACT_PRICE\","
        "\"updateTime\":1700000000000},"
        "{\"orderId\":2002,\"clientOrderId\":\"tg-ETHUSDT:s-3\",\"symbol\":\"ETHUSDT\","
        "\"side\":\"BUY\",\"positionSide\":\"BOTH\",\"type\":\"STOP_MARKET\",\"stopPrice\":"
        "\"3100\",\"origQty\":\"0\",\"status\":\"NEW\",\"reduceOnly\":true,\"closePosition\":"
        "true,\"workingType\":\"MARK_PRICE\"},"
        "{\"orderId\":2003,\"clientOrderId\":\"x\",\"symbol\":\"BTCUSDT\",\"side\":\"BUY\","
        "\"positionSide\":\"BOTH\",\"type\":\"LIMIT\",\"price\":\"50000\",\"stopPrice\":\"0\","
        "\"origQty\":\"1\",\"status\":\"NEW\"},"
        "{\"orderId\":2004,\"clientOrderId\":\"y\",\"symbol\":\"BTCUSDT\",\"side\":\"SELL\","
        "\"positionSide\":\"BOTH\",\"type\":\"STOP_MARKET\",\"stopPrice\":\"1\",\"origQty\":"
        "\"1\",\"status\":\"FILLED\"}]";
    tg_venue_stop s[4];
    tg_wire_page page;
    tg_err err;
    assert_int_equal(tg_bn_parse_orders(list, LEN(list), s, 4, &page, &err), TG_OK);
    assert_int_equal(page.count, 2);
    assert_int_equal(page.skipped, 2);
    assert_string_equal(s[0].order_id, "2001");
    assert_true(s[0].regular && s[0].reduce_only && !s[0].close_position && !s[0].owned);
    assert_string_equal(s[0].trigger_type, "CONTRACT_PRICE");
    assert_string_equal(s[0].position_key, "BTCUSDT:long");
    assert_dec(s[0].trigger, "57000.5");
    assert_dec(s[0].qty, "0.02");
    assert_int_equal(s[0].state, TG_VSTOP_OPEN);
    assert_true(s[1].owned && s[1].close_position && s[1].regular);
    assert_string_equal(s[1].position_key, "ETHUSDT:short");
    assert_string_equal(s[1].trigger_type, "MARK_PRICE");
    assert_int_equal(tg_bn_parse_orders(list, LEN(list), s, 1, &page, &err), TG_E_CAPACITY);
}

static void binance_errors_and_time(void **state) {
    (void)state;
    tg_wire_status st;
    static const char e[] = "{\"code\":-2021,\"msg\":\"Order would immediately trigger.\"}";
    assert_true(tg_bn_parse_error(e, LEN(e), &st));
    assert_int_equal(st.code, -2021);
    assert_string_equal(st.msg, "Order would immediately trigger.");
    static const char ok[] = "{\"algoId\":2146760,\"code\":\"200\",\"msg\":\"success\"}";
    assert_false(tg_bn_parse_error(ok, LEN(ok), &st));
    assert_false(tg_bn_parse_error("<html>", 6, &st));
    int64_t ms = 0;
    tg_err err;
    static const char t[] = "{\"serverTime\": 1499827319559}";
    assert_int_equal(tg_bn_parse_time(t, LEN(t), &ms, &err), TG_OK);
    assert_int_equal(ms, 1499827319559);
    assert_int_equal(tg_bn_parse_time("{}", 2, &ms, &err), TG_E_INVALID);
    char key[80];
    static const char lk[] = "{\"listenKey\":\"pqia91ma19a5s61cv6a81va65sdf19v8a65a1\"}";
    assert_int_equal(tg_bn_parse_listen_key(lk, LEN(lk), key, sizeof key, &err), TG_OK);
    assert_string_equal(key, "pqia91ma19a5s61cv6a81va65sdf19v8a65a1");
}

static void binance_stream_frames(void **state) {
    (void)state;
    tg_wire_frame f;
    tg_err err;
    static const char mark[] =
        "{\"stream\":\"btcusdt@markPrice@1s\",\"data\":{\"e\":\"markPriceUpdate\",\"E\":"
        "1562305380000,\"s\":\"BTCUSDT\",\"p\":\"11794.15000000\",\"i\":\"11784.62659091\"}}";
    assert_int_equal(tg_bn_parse_ws(mark, LEN(mark), &f, &err), TG_OK);
    assert_int_equal(f.count, 1);
    assert_int_equal(f.events[0].kind, TG_VEV_MARK);
    assert_string_equal(f.events[0].symbol, "BTCUSDT");
    assert_dec(f.events[0].mark, "11794.15");
    assert_int_equal(f.events[0].ts_ms, 1562305380000);
    static const char algo[] =
        "{\"e\":\"ALGO_UPDATE\",\"T\":1750515742297,\"E\":1750515742303,\"o\":{\"caid\":"
        "\"tg-BNBUSDT:s-2\",\"aid\":2148719,\"at\":\"CONDITIONAL\",\"o\":\"STOP_MARKET\",\"s\":"
        "\"BNBUSDT\",\"S\":\"BUY\",\"ps\":\"BOTH\",\"q\":\"0.01\",\"X\":\"CANCELED\",\"tp\":"
        "\"750\",\"cp\":false}}";
    assert_int_equal(tg_bn_parse_ws(algo, LEN(algo), &f, &err), TG_OK);
    assert_int_equal(f.count, 1);
    assert_int_equal(f.events[0].kind, TG_VEV_STOP);
    assert_int_equal(f.events[0].stop.state, TG_VSTOP_CANCELLED);
    assert_string_equal(f.events[0].stop.position_key, "BNBUSDT:short");
    static const char acct[] =
        "{\"e\":\"ACCOUNT_UPDATE\",\"E\":1564745798939,\"T\":1564745798939,\"a\":{\"m\":"
        "\"ORDER\",\"P\":[{\"s\":\"BTCUSDT\",\"pa\":\"20\",\"ep\":\"6563.6\",\"ps\":\"LONG\"},"
        "{\"s\":\"ETHUSDT\",\"pa\":\"0\",\"ep\":\"0\",\"ps\":\"BOTH\"}]}}";
    assert_int_equal(tg_bn_parse_ws(acct, LEN(acct), &f, &err), TG_OK);
    assert_int_equal(f.count, 2);
    assert_int_equal(f.events[0].position.position_idx, 1);
    assert_dec(f.events[0].position.size, "20");
    assert_true(tg_dec_is_zero(f.events[1].position.size));
    static const char ack[] = "{\"result\":null,\"id\":1}";
    assert_int_equal(tg_bn_parse_ws(ack, LEN(ack), &f, &err), TG_OK);
    assert_true(f.ack && f.ack_ok);
    static const char exp[] = "{\"e\":\"listenKeyExpired\",\"E\":1,\"listenKey\":\"k\"}";
    assert_int_equal(tg_bn_parse_ws(exp, LEN(exp), &f, &err), TG_OK);
    assert_true(f.listen_key_expired);
    static const char bad[] = "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":11794.15}";
    assert_int_equal(tg_bn_parse_ws(bad, LEN(bad), &f, &err), TG_E_INVALID);
}

/* Mark frames are read without a cJSON tree where they have the one flat
 * shape; every frame here must decode exactly as through the tree, whether
 * the scanner took it or gave it up. */
static void binance_mark_scanner_matches_the_tree(void **state) {
    (void)state;
    static const char *const frames[] = {
        "{\"e\":\"markPriceUpdate\",\"E\":1562305380000,\"s\":\"BTCUSDT\",\"p\":\"11794.15\"}",
        "{\"stream\":\"btcusdt@markPrice\",\"data\":{\"e\":\"markPriceUpdate\",\"E\":1,"
        "\"s\":\"BTCUSDT\",\"p\":\"1.5\",\"i\":\"1.4\",\"P\":\"1.6\",\"r\":\"0.0001\","
        "\"T\":1562306400000}}",
        " { \"e\" : \"markPriceUpdate\" ,\n\"s\":\"ETHUSDT\" ,\"p\":\"3000\"\r\n} ",
        "{\"E\":7,\"data\":{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\"},\"x\":1}",
        "{\"data\":{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\"},\"e\":\"other\"}",
        "{\"e\":\"markPriceUpdate\",\"E\":-5,\"s\":\"BTCUSDT\",\"p\":\"2\",\"r\":-1.5e-3}",
        "{\"e\":\"markPriceUpdate\",\"E\":\"12\",\"s\":\"BTCUSDT\",\"p\":\"2\"}",
        "{\"e\":\"markPriceUpdate\",\"E\":1.5,\"s\":\"BTCUSDT\",\"p\":\"2\"}",
        "{\"e\":\"markPriceUpdate\",\"E\":12345678901234567,\"s\":\"BTCUSDT\",\"p\":\"2\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\",\"p\":\"3\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTC\\u0055SDT\",\"p\":\"2\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTC-USDT\",\"p\":\"2\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"\",\"p\":\"2\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ\",\"p\":\"2\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"-2\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"0\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"1e3\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":2}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\"}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\",\"x\":[1,2]}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\",\"x\":null}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\"} trailing",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\"",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\",}",
        "{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\",\"n\":01}",
        "{\"data\":{\"data\":{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\"}}}",
        "{\"data\":{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\"},\"data\":{}}",
        "{\"data\":\"x\",\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\"}",
        /* found by the fuzz target: the tree reads the first "data", a string */
        "{\"data\":\"btcu@0s\",\"data\":{\"e\":\"markPriceUpdate\",\"E\":1562,\"s\":"
        "\"SBCTUDT\",\"p\":\"1794.150318670\",\"T\":1520}}",
        "[{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"2\"}]",
        "{\"e\":\"markPriceUpdatex\",\"s\":\"BTCUSDT\",\"p\":\"2\"}",
        "{\"e\":\"ACCOUNT_UPDATE\",\"E\":1}",
        "{}",
        "",
    };
    static tg_wire_frame a, b; /* large: not on the stack */
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        const char *fr = frames[i];
        tg_err ea = {0}, eb = {0};
        tg_status sa = tg_bn_parse_ws(fr, strlen(fr), &a, &ea);
        tg_status sb = tg_bn_parse_ws_tree(fr, strlen(fr), &b, &eb);
        if (sa != sb || a.count != b.count) {
            fail_msg("frame %zu (%s): %d/%zu events against the tree's %d/%zu", i, fr, sa, a.count,
                     sb, b.count);
        }
        assert_string_equal(ea.msg, eb.msg);
        assert_int_equal(a.ack, b.ack);
        for (size_t k = 0; k < a.count; k++) {
            assert_int_equal(a.events[k].kind, b.events[k].kind);
            assert_int_equal(a.events[k].stream, b.events[k].stream);
            assert_int_equal(a.events[k].ts_ms, b.events[k].ts_ms);
            assert_string_equal(a.events[k].symbol, b.events[k].symbol);
            assert_true(tg_dec_eq(a.events[k].mark, b.events[k].mark));
        }
    }
}

static const char BY_INSTR[] =
    "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"category\":\"linear\",\"list\":[{\"symbol\":"
    "\"BTCUSDT\",\"contractType\":\"LinearPerpetual\",\"status\":\"Trading\",\"priceFilter\":{"
    "\"minPrice\":\"0.10\",\"maxPrice\":\"1999999.80\",\"tickSize\":\"0.10\"},\"lotSizeFilter\":{"
    "\"maxOrderQty\":\"1190.000\",\"minOrderQty\":\"0.001\",\"qtyStep\":\"0.001\"}}],"
    "\"nextPageCursor\":\"abc%3D\"},\"retExtInfo\":{},\"time\":1672283125359}";

static void bybit_rules_and_time(void **state) {
    (void)state;
    tg_venue_rules r[2];
    tg_wire_page page;
    tg_err err;
    assert_int_equal(tg_by_parse_rules(BY_INSTR, LEN(BY_INSTR), r, 2, &page, &err), TG_OK);
    assert_int_equal(page.count, 1);
    assert_string_equal(page.cursor, "abc%3D");
    assert_dec(r[0].tick, "0.1");
    assert_dec(r[0].step, "0.001");
    assert_dec(r[0].max_price, "1999999.8");
    assert_true(r[0].trading);
    int64_t ms = 0;
    static const char t[] = "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"timeSecond\":"
                            "\"1688639403\",\"timeNano\":\"1688639403423213947\"},\"time\":1}";
    assert_int_equal(tg_by_parse_time(t, LEN(t), &ms, &err), TG_OK);
    assert_int_equal(ms, 1688639403423);
}

static void bybit_positions_and_orders(void **state) {
    (void)state;
    static const char pos[] =
        "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"list\":[{\"positionIdx\":0,\"symbol\":"
        "\"BTCUSDT\",\"side\":\"Sell\",\"size\":\"0.150\",\"avgPrice\":\"60000.5\",\"markPrice\":"
        "\"59000\",\"stopLoss\":\"61000\",\"updatedTime\":\"1672364262457\"},{\"positionIdx\":0,"
        "\"symbol\":\"ETHUSDT\",\"side\":\"\",\"size\":\"0\",\"avgPrice\":\"0\"}],"
        "\"nextPageCursor\":\"\"},\"time\":1}";
    tg_venue_position p[2];
    tg_wire_page page;
    tg_err err;
    assert_int_equal(tg_by_parse_positions(pos, LEN(pos), p, 2, &page, &err), TG_OK);
    assert_int_equal(page.count, 1);
    assert_string_equal(p[0].key, "BTCUSDT:short");
    assert_dec(p[0].size, "0.15");
    assert_int_equal(p[0].update_ms, 1672364262457);
    static const char orders[] =
        "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{\"list\":[{\"orderId\":\"sl-order-001\","
        "\"orderLinkId\":\"\",\"symbol\":\"BTCUSDT\",\"qty\":\"0.500\",\"side\":\"Sell\","
        "\"positionIdx\":0,\"orderStatus\":\"Untriggered\",\"stopOrderType\":\"StopLoss\","
        "\"triggerPrice\":\"48000.00\",\"reduceOnly\":true,\"closeOnTrigger\":true,\"tpslMode\":"
        "\"Full\"},{\"orderId\":\"x\",\"symbol\":\"BTCUSDT\",\"side\":\"Buy\",\"stopOrderType\":"
        "\"TakeProfit\",\"triggerPrice\":\"1\"}],\"nextPageCursor\":\"\"},\"time\":1}";
    tg_venue_stop s[2];
    assert_int_equal(tg_by_parse_orders(orders, LEN(orders), s, 2, &page, &err), TG_OK);
    assert_int_equal(page.count, 1);
    assert_true(s[0].owned && s[0].position_level);
    assert_dec(s[0].trigger, "48000");
    assert_string_equal(s[0].position_key, "BTCUSDT:long");
    assert_true(s[0].reduce_only && s[0].close_position);
}

static void bybit_errors(void **state) {
    (void)state;
    tg_wire_status st;
    static const char e[] = "{\"retCode\":34040,\"retMsg\":\"Not modified\",\"result\":{},"
                            "\"time\":1}";
    assert_true(tg_by_parse_error(e, LEN(e), &st));
    assert_int_equal(st.code, 34040);
    static const char ok[] = "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":{},\"time\":1}";
    assert_false(tg_by_parse_error(ok, LEN(ok), &st));
    assert_true(tg_by_parse_error("nope", 4, &st));
    assert_int_equal(st.code, -1);
}

static void bybit_stream_frames(void **state) {
    (void)state;
    tg_wire_frame f;
    tg_err err;
    static const char snap[] =
        "{\"topic\":\"tickers.BTCUSDT\",\"type\":\"snapshot\",\"data\":{\"symbol\":\"BTCUSDT\","
        "\"lastPrice\":\"17216.00\",\"markPrice\":\"17217.33\"},\"cs\":24987956059,\"ts\":"
        "1673272861686}";
    assert_int_equal(tg_by_parse_ws(snap, LEN(snap), &f, &err), TG_OK);
    assert_int_equal(f.count, 1);
    assert_dec(f.events[0].mark, "17217.33");
    static const char delta[] = "{\"topic\":\"tickers.BTCUSDT\",\"type\":\"delta\",\"data\":{"
                                "\"symbol\":\"BTCUSDT\",\"bid1Price\":\"84792.60\"},\"ts\":1}";
    assert_int_equal(tg_by_parse_ws(delta, LEN(delta), &f, &err), TG_OK);
    assert_int_equal(f.count, 0);
    static const char auth[] = "{\"success\":true,\"ret_msg\":\"\",\"op\":\"auth\",\"conn_id\":"
                               "\"c\"}";
    assert_int_equal(tg_by_parse_ws(auth, LEN(auth), &f, &err), TG_OK);
    assert_true(f.ack && f.ack_ok && f.auth_reply);
    static const char pong[] = "{\"req_id\":\"t\",\"op\":\"pong\",\"args\":[\"1\"],\"conn_id\":"
                               "\"c\"}";
    assert_int_equal(tg_by_parse_ws(pong, LEN(pong), &f, &err), TG_OK);
    assert_true(f.pong);
    static const char pos[] =
        "{\"id\":\"1\",\"topic\":\"position\",\"creationTime\":1697682317044,\"data\":[{"
        "\"positionIdx\":0,\"symbol\":\"BTCUSDT\",\"side\":\"\",\"size\":\"0\",\"entryPrice\":"
        "\"0\"}]}";
    assert_int_equal(tg_by_parse_ws(pos, LEN(pos), &f, &err), TG_OK);
    assert_int_equal(f.count, 1);
    assert_int_equal(f.events[0].kind, TG_VEV_POSITION);
    assert_true(tg_dec_is_zero(f.events[0].position.size));
    static const char ord[] =
        "{\"id\":\"2\",\"topic\":\"order\",\"creationTime\":1,\"data\":[{\"orderId\":\"o1\","
        "\"symbol\":\"BTCUSDT\",\"side\":\"Sell\",\"orderStatus\":\"Filled\",\"stopOrderType\":"
        "\"StopLoss\",\"triggerPrice\":\"48000\",\"positionIdx\":0}]}";
    assert_int_equal(tg_by_parse_ws(ord, LEN(ord), &f, &err), TG_OK);
    assert_int_equal(f.count, 1);
    assert_int_equal(f.events[0].stop.state, TG_VSTOP_FILLED);
}

/* Every code the adapters name in docs/venue.md, both exchanges. */
static void error_map(void **state) {
    (void)state;
    static const struct {
        int http, code;
        tg_venue_code want;
    } bn[] = {
        {400, -2021, TG_VENUE_E_WOULD_TRIGGER},
        {400, -1111, TG_VENUE_E_PRECISION},
        {400, -4014, TG_VENUE_E_PRECISION},
        {400, -2011, TG_VENUE_E_UNKNOWN_ORDER},
        {400, -2013, TG_VENUE_E_UNKNOWN_ORDER},
        {400, -1021, TG_VENUE_E_TIMESTAMP},
        {400, -1022, TG_VENUE_E_AUTH},
        {400, -4116, TG_VENUE_E_DUPLICATE},
        {400, -4130, TG_VENUE_E_STOP_EXISTS},
        {400, -4045, TG_VENUE_E_TOO_MANY_STOPS},
        {400, -2022, TG_VENUE_E_NO_POSITION},
        {400, -1102, TG_VENUE_E_PARAM},
        {429, -1003, TG_VENUE_E_RATE_LIMIT},
        {418, -1003, TG_VENUE_E_BANNED},
        {503, 0, TG_VENUE_E_SERVER},
        {400, -4120, TG_VENUE_E_REJECTED},
        {200, 0, TG_VENUE_OK},
    };
    for (size_t i = 0; i < sizeof bn / sizeof bn[0]; i++) {
        assert_int_equal(tg_bn_map_error(bn[i].http, bn[i].code), bn[i].want);
    }
    static const struct {
        int http, code;
        const char *msg;
        tg_venue_code want;
    } by[] = {
        {200, 10001, "params error", TG_VENUE_E_PARAM},
        {200, 10001, "sl:257970000 set for Sell position should greater base_price",
         TG_VENUE_E_WOULD_TRIGGER},
        {200, 10001, "price not on tick size", TG_VENUE_E_PRECISION},
        {200, 10002, "", TG_VENUE_E_TIMESTAMP},
        {200, 10004, "", TG_VENUE_E_AUTH},
        {200, 10006, "Too many visits!", TG_VENUE_E_RATE_LIMIT},
        {200, 34040, "", TG_VENUE_E_NOT_MODIFIED},
        {200, 110001, "", TG_VENUE_E_UNKNOWN_ORDER},
        {200, 110009, "", TG_VENUE_E_TOO_MANY_STOPS},
        {200, 110017, "", TG_VENUE_E_NO_POSITION},
        {200, 110092, "", TG_VENUE_E_WOULD_TRIGGER},
        {200, 110072, "", TG_VENUE_E_DUPLICATE},
        {200, 110094, "", TG_VENUE_E_REJECTED},
        {429, -1, "", TG_VENUE_E_RATE_LIMIT},
        {403, -1, "", TG_VENUE_E_RATE_LIMIT},
        {502, -1, "", TG_VENUE_E_SERVER},
        {200, 0, "", TG_VENUE_OK},
    };
    for (size_t i = 0; i < sizeof by / sizeof by[0]; i++) {
        assert_int_equal(tg_by_map_error(by[i].http, by[i].code, by[i].msg), by[i].want);
    }
}

static void client_ids(void **state) {
    (void)state;
    char id[TG_VENUE_ID_MAX], key[TG_VENUE_KEY_MAX];
    assert_true(tg_venue_client_id("BTCUSDT", TG_SIDE_LONG, 71, id, sizeof id));
    assert_string_equal(id, "tg-BTCUSDT:l-1z");
    assert_true(tg_venue_client_id_parse(id, key, sizeof key));
    assert_string_equal(key, "BTCUSDT:long");
    assert_true(tg_venue_client_id("1000PEPEUSDT", TG_SIDE_SHORT, UINT64_MAX, id, sizeof id));
    assert_true(strlen(id) <= 36);
    assert_true(tg_venue_client_id_parse(id, key, sizeof key));
    assert_string_equal(key, "1000PEPEUSDT:short");
    assert_false(tg_venue_client_id_parse("x-tg-BTCUSDT:l-1", key, sizeof key));
    assert_false(tg_venue_client_id_parse("tg-BTCUSDT:q-1", key, sizeof key));
    assert_false(tg_venue_client_id_parse("tg-BTCUSDT:l-", key, sizeof key));
    assert_false(tg_venue_client_id_parse("tg-:l-1", key, sizeof key));
}

static void redaction(void **state) {
    (void)state;
    char msg[TG_WIRE_MSG_MAX];
    snprintf(msg, sizeof msg,
             "error sign! origin_string[1658384314791MYAPIKEY5000x] secret=S3CR3T!");
    tg_wire_redact(msg, "MYAPIKEY", "S3CR3T!");
    assert_null(strstr(msg, "MYAPIKEY"));
    assert_null(strstr(msg, "S3CR3T"));
    snprintf(msg, sizeof msg, "cut short: LONGSECRETVAL");
    tg_wire_redact(msg, "KEYKEYKEY", "LONGSECRETVALUE123");
    assert_null(strstr(msg, "LONGSEC"));
}

/* Each refused setting gets its own sentence with the field and its value,
 * and the secret never appears in one. */
static void config_sentences(void **state) {
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    tg_venue_config c = tg_venue_config_default(TG_VENUE_BINANCE);
    snprintf(c.account, sizeof c.account, "main");
    snprintf(c.api_key, sizeof c.api_key, "key-1");
    snprintf(c.api_secret, sizeof c.api_secret, "s3cr3t-do-not-print");
    tg_venue *v = NULL;
    tg_err err = {0};

    tg_venue_config bad = c;
    bad.recv_window_ms = 70000;
    assert_int_equal(tg_venue_new(&bad, &loop, &v, &err), TG_E_INVALID);
    assert_string_equal(err.msg,
                        "main: recv_window_ms is 70000; the exchanges accept at most 60000");
    assert_null(strstr(err.msg, "s3cr3t"));

    bad = c;
    bad.backoff_ms_min = 500;
    bad.backoff_ms_max = 200;
    assert_int_equal(tg_venue_new(&bad, &loop, &v, &err), TG_E_INVALID);
    assert_string_equal(err.msg, "main: backoff_ms_max is 200, below backoff_ms_min 500");

    bad = c;
    bad.api_secret[0] = '\0';
    assert_int_equal(tg_venue_new(&bad, &loop, &v, &err), TG_E_INVALID);
    assert_string_equal(err.msg, "main: the API secret is empty");
    assert_null(v);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binance_rules),
        cmocka_unit_test(binance_positions),
        cmocka_unit_test(binance_algo_orders),
        cmocka_unit_test(binance_regular_stop_orders),
        cmocka_unit_test(binance_errors_and_time),
        cmocka_unit_test(binance_stream_frames),
        cmocka_unit_test(binance_mark_scanner_matches_the_tree),
        cmocka_unit_test(bybit_rules_and_time),
        cmocka_unit_test(bybit_positions_and_orders),
        cmocka_unit_test(bybit_errors),
        cmocka_unit_test(bybit_stream_frames),
        cmocka_unit_test(error_map),
        cmocka_unit_test(client_ids),
        cmocka_unit_test(redaction),
        cmocka_unit_test(config_sentences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
