/* Price files: format detection, parsing, the bar walk, and a sentence with
 * a line number for every kind of bad input. */
#define _POSIX_C_SOURCE 200809L

#include "replay_testutil.h"

#include "replay/pricefile.h"
#include "replay/utc.h"

#define JAN1 1640995200000LL /* 2022-01-01T00:00:00Z */

static void parse_ok(const char *text, tg_pricefile *pf) {
    tg_err err = {0};
    tg_status st = tg_pricefile_parse(text, strlen(text), pf, NULL, &err);
    if (st != TG_OK) {
        fail_msg("parse failed: %s", err.msg);
    }
}

static void assert_point(const tg_pricefile *pf, size_t i, int64_t ts, const char *price) {
    assert_true(i < pf->count);
    assert_int_equal(pf->points[i].ts_ms, ts);
    tu_assert_dec(pf->points[i].price, price);
}

static void ticks_without_header(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_ok("1640995200000,46216.5\n1640995200250,46217\n", &pf);
    assert_int_equal(pf.format, TG_PRICEFILE_TICKS);
    assert_int_equal(pf.has_header, 0);
    assert_int_equal(pf.walk_len, 1);
    assert_int_equal(pf.rows, 2);
    assert_int_equal(pf.count, 2);
    assert_point(&pf, 0, JAN1, "46216.5");
    assert_point(&pf, 1, JAN1 + 250, "46217");
    assert_int_equal(pf.dp_max, 1);
    tu_assert_dec(tg_pricefile_tick(&pf), "0.1");
    tg_pricefile_free(&pf);
}

/* Spreadsheet exports: a byte order mark, CRLF, blank lines, quotes. A blank
 * line still counts for the line numbers of later errors. */
static void ticks_with_header_crlf_and_blank_lines(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_ok("\xEF\xBB\xBFtimestamp_ms,price\r\n1000,\"100\"\r\n\r\n 2000 , 100.25 \r\n2000,99\r\n",
             &pf);
    assert_int_equal(pf.format, TG_PRICEFILE_TICKS);
    assert_int_equal(pf.has_header, 1);
    assert_int_equal(pf.count, 3);
    assert_point(&pf, 0, 1000, "100");
    assert_point(&pf, 1, 2000, "100.25");
    assert_point(&pf, 2, 2000, "99"); /* ticks may share a timestamp */
    assert_int_equal(pf.dp_max, 2);
    tg_pricefile_free(&pf);
}

/* Whole prices, even written as "100.000", need tick 1. */
static void tick_is_from_the_value_not_the_writing(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_ok("1000,100.000\n2000,101.0\n", &pf);
    assert_int_equal(pf.dp_max, 0);
    tu_assert_dec(tg_pricefile_tick(&pf), "1");
    tg_pricefile_free(&pf);
}

#define KLINE1                                                                                     \
    "1640995200000,46216.93,46271.08,46208.37,46250.00,40.575,1640995259999,1876330.35,1201,27."   \
    "59311,1275863.91,0\n"
#define KLINE2                                                                                     \
    "1640995260000,46250.00,46300.00,46240.00,46290.10,12.5,1640995319999,578000.1,300,6.1,"       \
    "282000.2,0\n"

static void kline_without_header(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_ok(KLINE1 KLINE2, &pf);
    assert_int_equal(pf.format, TG_PRICEFILE_KLINE);
    assert_int_equal(pf.has_header, 0);
    assert_int_equal(pf.walk_len, 4);
    assert_int_equal(pf.rows, 2);
    assert_int_equal(pf.count, 8);
    assert_int_equal(pf.interval_ms, 60000);
    /* open 46216.93: the low (8.56 away) is nearer than the high (54.15) */
    assert_point(&pf, 0, JAN1, "46216.93");
    assert_point(&pf, 1, JAN1 + 15000, "46208.37");
    assert_point(&pf, 2, JAN1 + 30000, "46271.08");
    assert_point(&pf, 3, JAN1 + 45000, "46250");
    assert_point(&pf, 4, JAN1 + 60000, "46250");
    assert_int_equal(pf.dp_max, 2);
    tg_pricefile_free(&pf);
}

/* Binance writes µs in kline files since 2025: read as ms. */
static void kline_with_header_and_microseconds(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_ok("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
             "taker_buy_volume,taker_buy_quote_volume,ignore\n"
             "1640995200000000,100,101,99,100.5,1,1640995259999999,1,1,1,1,0\n"
             "1640995500000000,100.5,101,100,100.7,1,1640995559999999,1,1,1,1,0\n",
             &pf);
    assert_int_equal(pf.format, TG_PRICEFILE_KLINE);
    assert_int_equal(pf.has_header, 1);
    assert_int_equal(pf.interval_ms, 300000); /* five-minute bars */
    assert_point(&pf, 0, JAN1, "100");
    assert_point(&pf, 1, JAN1 + 75000, "99"); /* tie (1 each way), up bar: low first */
    assert_point(&pf, 2, JAN1 + 150000, "101");
    assert_point(&pf, 3, JAN1 + 225000, "100.5");
    assert_point(&pf, 4, JAN1 + 300000, "100.5");
    tg_pricefile_free(&pf);
}

#define OHLCV_HEADER "timestamp,open,high,low,close,volume\n"

/* The three ways of writing the time name the same instants. */
static void ohlcv_timestamps(void **state) {
    (void)state;
    const char *files[] = {
        OHLCV_HEADER
        "2021-12-31 23:01:00.000000,46319.0,46385.0,46319.0,46377.0,2300413.7295\n"
        "2021-12-31 23:02:00.000000,46377.0,46411.0,46377.0,46411.0,1829623.19380001\n",
        OHLCV_HEADER "2021-12-31T23:01:00Z,46319.0,46385.0,46319.0,46377.0,1\n"
                     "2022-01-01T00:02:00+01:00,46377.0,46411.0,46377.0,46411.0,1\n",
        OHLCV_HEADER "1640991660000,46319.0,46385.0,46319.0,46377.0,1\n"
                     "1640991720000,46377.0,46411.0,46377.0,46411.0,1\n",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        tg_pricefile pf;
        parse_ok(files[i], &pf);
        assert_int_equal(pf.format, TG_PRICEFILE_OHLCV);
        assert_int_equal(pf.count, 8);
        assert_int_equal(pf.interval_ms, 60000);
        /* the open is the low: the low is the nearer extreme */
        assert_point(&pf, 0, JAN1 - 59 * 60000, "46319");
        assert_point(&pf, 1, JAN1 - 59 * 60000 + 15000, "46319");
        assert_point(&pf, 2, JAN1 - 59 * 60000 + 30000, "46385");
        assert_point(&pf, 3, JAN1 - 59 * 60000 + 45000, "46377");
        assert_point(&pf, 4, JAN1 - 58 * 60000, "46377");
        tg_pricefile_free(&pf);
    }
}

/* One bar's walk: prices of its four points. */
static void assert_walk(const char *o, const char *h, const char *l, const char *c, const char *p1,
                        const char *p2) {
    char text[256];
    snprintf(text, sizeof text, OHLCV_HEADER "%lld,%s,%s,%s,%s,0\n", JAN1, o, h, l, c);
    tg_pricefile pf;
    parse_ok(text, &pf);
    assert_int_equal(pf.count, 4);
    assert_int_equal(pf.interval_ms, 60000); /* one bar: the default interval */
    assert_point(&pf, 0, JAN1, o);
    assert_point(&pf, 1, JAN1 + 15000, p1);
    assert_point(&pf, 2, JAN1 + 30000, p2);
    assert_point(&pf, 3, JAN1 + 45000, c);
    tg_pricefile_free(&pf);
}

static void bar_walk_goes_to_the_nearer_extreme_first(void **state) {
    (void)state;
    assert_walk("100", "110", "98", "108", "98", "110");   /* up bar, low nearer */
    assert_walk("100", "102", "90", "92", "102", "90");    /* down bar, high nearer */
    assert_walk("100", "101", "95", "100.5", "101", "95"); /* up bar, high nearer */
    assert_walk("100", "110", "98", "99", "98", "110");    /* down bar, low nearer */
}

static void bar_walk_ties_go_against_the_body(void **state) {
    (void)state;
    assert_walk("100", "105", "95", "103", "95", "105"); /* up bar dips first */
    assert_walk("100", "105", "95", "97", "105", "95");  /* down bar rises first */
    assert_walk("100", "100", "100", "100", "100", "100");
}

/* A bar that comes sooner than the interval keeps its walk inside its span. */
static void bar_walk_never_goes_back_in_time(void **state) {
    (void)state;
    tg_pricefile pf;
    parse_ok(OHLCV_HEADER "0,10,11,9,10,0\n60000,10,11,9,10,0\n80000,10,11,9,10,0\n"
                          "200000,10,11,9,10,0\n",
             &pf);
    assert_int_equal(pf.count, 16);
    assert_int_equal(pf.points[5].ts_ms, 65000); /* 20 s span: quarter of it */
    assert_int_equal(pf.points[7].ts_ms, 75000);
    assert_int_equal(pf.points[9].ts_ms, 95000); /* back to a 60 s interval */
    for (size_t i = 1; i < pf.count; i++) {
        assert_true(pf.points[i].ts_ms > pf.points[i - 1].ts_ms);
    }
    tg_pricefile_free(&pf);
}

/* A bad file: its status and words its message must hold. */
typedef struct bad_case {
    const char *text;    /* the file */
    tg_status status;    /* expected status */
    const char *needle;  /* expected in the message */
    const char *needle2; /* also expected, or NULL */
} bad_case;

static void bad_input_is_a_sentence_with_a_line_number(void **state) {
    (void)state;
    char long_line[TG_PRICEFILE_LINE_MAX + 64];
    memset(long_line, '1', sizeof long_line - 1);
    long_line[sizeof long_line - 1] = '\0';
    const bad_case cases[] = {
        {"", TG_E_INVALID, "empty", NULL},
        {"\n \r\n\t\n", TG_E_INVALID, "empty", NULL},
        {"timestamp_ms,price\n", TG_E_INVALID, "no price rows", NULL},
        {"a,b,c\n1,2,3\n", TG_E_INVALID, "line 1: unknown format", "header"},
        {"1,2,3\n", TG_E_INVALID, "line 1: unknown format", "3 fields"},
        {"time,open,high,low,close,volume\n", TG_E_INVALID, "line 1: unknown format", NULL},
        {"1000,100\n2000,abc\n", TG_E_INVALID, "line 2: price 'abc'", "not a plain decimal"},
        {"1000,100\n2000,100\n3000,1e5\n", TG_E_INVALID, "line 3: price '1e5'", "scientific"},
        {"1000,100\n2000,0.000000001\n", TG_E_INVALID, "line 2", "8 decimal places"},
        {"1000,100\n2000,100,5\n", TG_E_INVALID, "line 2: expected 2 fields", "found 3"},
        {"1000,100\n3000,100\n2000,100\n", TG_E_INVALID, "line 3: timestamps out of order",
         "line 2"},
        {"1000,0\n", TG_E_INVALID, "line 1: price 0 is not a positive price", NULL},
        {"timestamp_ms,price\n1000,100\n2000,-5\n", TG_E_INVALID,
         "line 3: price -5 is not a positive price", NULL},
        {"-1000,100\n", TG_E_INVALID, "line 1: timestamp '-1000'", "milliseconds"},
        {"1000,100\n\n\n2000,x\n", TG_E_INVALID, "line 4: price 'x'", NULL},
        {OHLCV_HEADER "1000,10,11,9,10,0\n1000,10,11,9,10,0\n", TG_E_INVALID,
         "line 3: timestamps out of order", "repeats"},
        {OHLCV_HEADER "1000,10,9.5,9,10,0\n", TG_E_INVALID, "line 2: high 9.5 is below", NULL},
        {OHLCV_HEADER "1000,10,11,10.5,10.7,0\n", TG_E_INVALID, "line 2: low 10.5 is above", NULL},
        {OHLCV_HEADER "2021-13-01 00:00:00,1,1,1,1,1\n", TG_E_INVALID,
         "line 2: timestamp '2021-13-01 00:00:00'", "ISO-8601"},
        {OHLCV_HEADER "2023-02-29 00:00:00,1,1,1,1,1\n", TG_E_INVALID, "line 2: timestamp", NULL},
        {KLINE1 "1640995260000,1,1,1,1,1,1,1,1,1,1\n", TG_E_INVALID, "line 2: expected 12 fields",
         "found 11"},
        {long_line, TG_E_INVALID, "line 1: longer than", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *bc = &cases[i];
        tg_pricefile pf;
        tg_err err = {0};
        tg_status st = tg_pricefile_parse(bc->text, strlen(bc->text), &pf, NULL, &err);
        if (st != bc->status || strstr(err.msg, bc->needle) == NULL ||
            (bc->needle2 != NULL && strstr(err.msg, bc->needle2) == NULL)) {
            fail_msg("case %zu: status %d, message '%s'; want %d with '%s'", i, st, err.msg,
                     bc->status, bc->needle);
        }
        assert_null(pf.points); /* nothing is left to free after a failure */
    }
}

static void load_names_the_file(void **state) {
    (void)state;
    tg_pricefile pf;
    tg_err err = {0};
    char path[TU_PATH_MAX];
    assert_int_equal(tg_pricefile_load("/nonexistent/prices.csv", &pf, NULL, &err), TG_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/prices.csv"));
    tu_write(tu_path(path, "pricefile", "bad.csv"), "1000,100\n2000,1,2\n");
    assert_int_equal(tg_pricefile_load(path, &pf, NULL, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "line 2"));
}

/* The real data: every row read, times as the README documents. */
static void load_real_ohlcv(void **state) {
    (void)state;
    TU_NEED_FILE(TU_BTC_CSV);
    tg_pricefile pf;
    tg_err err = {0};
    assert_int_equal(tg_pricefile_load(TU_BTC_CSV, &pf, NULL, &err), TG_OK);
    assert_int_equal(pf.format, TG_PRICEFILE_OHLCV);
    assert_int_equal(pf.rows, 45031);
    assert_int_equal(pf.count, 45031 * 4);
    assert_int_equal(pf.interval_ms, 60000);
    int64_t first = 0, last = 0;
    assert_true(tg_utc_parse("2021-12-31 23:01:00", 19, &first));
    assert_true(tg_utc_parse("2022-02-01 05:31:00", 19, &last));
    assert_int_equal(pf.points[0].ts_ms, first);
    assert_int_equal(pf.points[pf.count - 4].ts_ms, last);
    for (size_t i = 1; i < pf.count; i++) {
        assert_true(pf.points[i].ts_ms > pf.points[i - 1].ts_ms);
        assert_true(tg_dec_is_pos(pf.points[i].price));
        assert_true(tg_dec_on_tick(pf.points[i].price, tg_pricefile_tick(&pf)));
    }
    tg_pricefile_free(&pf);
}

static void utc_round_trips(void **state) {
    (void)state;
    char buf[TG_UTC_STR_MAX];
    int64_t ms = 0;
    tg_utc_format(JAN1, buf);
    assert_string_equal(buf, "2022-01-01T00:00:00Z");
    tg_utc_format(JAN1 - 1, buf);
    assert_string_equal(buf, "2021-12-31T23:59:59.999Z");
    tg_utc_format(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    assert_true(tg_utc_parse("2024-02-29T12:00:00.5Z", 22, &ms));
    tg_utc_format(ms, buf);
    assert_string_equal(buf, "2024-02-29T12:00:00.500Z");
    assert_true(tg_utc_parse("2022-01-01 02:00-0200", 21, &ms));
    assert_int_equal(ms, JAN1 + 4 * 3600000LL);
    assert_true(tg_utc_parse("2022-01-01T00:00:00.123456789", 29, &ms));
    assert_int_equal(ms, JAN1 + 123);
    const char *bad[] = {"2022-01-01",         "2022-1-01 00:00",  "2022-01-32 00:00",
                         "2022-01-01 24:00",   "2022-01-01 00:60", "2022-01-01 00:00:00.",
                         "2022-01-01 00:00Zx", "1969-12-31 23:59"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (tg_utc_parse(bad[i], strlen(bad[i]), &ms)) {
            fail_msg("'%s' was accepted", bad[i]);
        }
    }
    /* Every day for 400 years (a whole Gregorian cycle) formats and parses back. */
    for (int64_t day = 0; day < 146097; day++) {
        int64_t t = day * 86400000LL + 45296789; /* 12:34:56.789 */
        tg_utc_format(t, buf);
        assert_true(tg_utc_parse(buf, strlen(buf), &ms));
        assert_int_equal(ms, t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ticks_without_header),
        cmocka_unit_test(ticks_with_header_crlf_and_blank_lines),
        cmocka_unit_test(tick_is_from_the_value_not_the_writing),
        cmocka_unit_test(kline_without_header),
        cmocka_unit_test(kline_with_header_and_microseconds),
        cmocka_unit_test(ohlcv_timestamps),
        cmocka_unit_test(bar_walk_goes_to_the_nearer_extreme_first),
        cmocka_unit_test(bar_walk_ties_go_against_the_body),
        cmocka_unit_test(bar_walk_never_goes_back_in_time),
        cmocka_unit_test(bad_input_is_a_sentence_with_a_line_number),
        cmocka_unit_test(load_names_the_file),
        cmocka_unit_test(load_real_ohlcv),
        cmocka_unit_test(utc_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
