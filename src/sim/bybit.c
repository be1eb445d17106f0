/* Bybit v5 (category=linear) REST on the emulator's second port: the four
 * X-BAPI headers, HMAC over timestamp+key+recvWindow+(query|body), the
 * per-endpoint limits, the envelope, and the endpoints trailguard and ccxt
 * use. Codes and messages follow PROTOCOLS.md section 2. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h */

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim/sim_int.h"

#define BY_RECV_WINDOW_MS  5000                 /* default X-BAPI-RECV-WINDOW */
#define BY_AHEAD_MS        1000                 /* a timestamp this far ahead is refused */
#define BY_RECV_WINDOW_MAX 60000                /* largest X-BAPI-RECV-WINDOW accepted */
#define BY_SIGN_INPUT_MAX  (SIM_BODY_MAX + 256) /* bytes of the signed string */
#define BY_VALUE_MAX       128                  /* bytes of one parameter value read from JSON */

typedef struct by_ctx {
    tg_sim *sim;              /* the emulator */
    const sim_http_req *req;  /* as parsed */
    sim_resp *resp;           /* the answer */
    sim_params query;         /* GET parameters */
    cJSON *json;              /* POST body, or NULL */
    int account;              /* signer, -1 before auth */
    char value[BY_VALUE_MAX]; /* scratch for a number read as text */
} by_ctx;

typedef void (*by_handler)(by_ctx *c);

typedef struct by_route {
    const char *method; /* HTTP method */
    const char *path;   /* exact path */
    bool private_;      /* needs the signature headers */
    int per_second;     /* documented limit per account and endpoint */
    by_handler handler; /* the endpoint */
} by_route;

static void by_error(by_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void by_error(by_ctx *c, int code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sim_buf *b = &c->resp->body;
    sim_buf_reset(b);
    sim_buf_printf(b, "{\"retCode\":%d,\"retMsg\":", code);
    sim_buf_jstr(b, msg);
    sim_buf_printf(b, ",\"result\":{},\"retExtInfo\":{},\"time\":%lld}",
                   (long long)sim_now_ms(c->sim));
    c->resp->code = code;
}

/* Starts a success envelope; the handler writes the result object and
 * calls ok_end. */
static void ok_begin(by_ctx *c) {
    sim_buf_reset(&c->resp->body);
    sim_buf_puts(&c->resp->body, "{\"retCode\":0,\"retMsg\":\"OK\",\"result\":");
}

static void ok_end(by_ctx *c) {
    sim_buf_printf(&c->resp->body, ",\"retExtInfo\":{},\"time\":%lld}",
                   (long long)sim_now_ms(c->sim));
}

/* A parameter as text from the query (GET) or the JSON body (POST); numbers
 * and booleans are given as their JSON text. NULL when absent or null. */
static const char *arg(by_ctx *c, const char *name) {
    if (c->json == NULL) {
        return sim_param(&c->query, name);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->json, name);
    if (cJSON_IsString(v)) {
        return v->valuestring;
    }
    if (cJSON_IsBool(v)) {
        return cJSON_IsTrue(v) ? "true" : "false";
    }
    if (cJSON_IsNumber(v)) {
        snprintf(c->value, sizeof c->value, "%.10g", v->valuedouble);
        return c->value;
    }
    return NULL;
}

static bool arg_true(by_ctx *c, const char *name) {
    const char *v = arg(c, name);
    return v != NULL && strcmp(v, "true") == 0;
}

static const char *need(by_ctx *c, const char *name) {
    const char *v = arg(c, name);
    if (v == NULL || v[0] == '\0') {
        by_error(c, 10001, "params error: %s is required", name);
        return NULL;
    }
    return v;
}

static bool need_linear(by_ctx *c) {
    const char *cat = need(c, "category");
    if (cat != NULL && strcmp(cat, "linear") != 0) {
        by_error(c, 10001, "params error: category %s is not served by the emulator", cat);
        return false;
    }
    return cat != NULL;
}

/* Lists of the categories the emulator has no instruments in (inverse,
 * option, spot) are empty, as for an account without such positions; true
 * when the answer was given. */
static bool empty_category(by_ctx *c) {
    const char *cat = arg(c, "category");
    if (cat == NULL ||
        (strcmp(cat, "inverse") != 0 && strcmp(cat, "option") != 0 && strcmp(cat, "spot") != 0)) {
        return false;
    }
    ok_begin(c);
    sim_buf_printf(&c->resp->body, "{\"category\":\"%s\",\"list\":[],\"nextPageCursor\":\"\"}",
                   cat);
    ok_end(c);
    return true;
}

static int need_symbol(by_ctx *c) {
    const char *s = need(c, "symbol");
    if (s == NULL) {
        return -1;
    }
    int i = sim_instrument_find(c->sim, s);
    if (i < 0) {
        by_error(c, 10001, "params error: symbol invalid");
    }
    return i;
}

/* A price on the tick, or false after 10001. */
static bool parse_price(by_ctx *c, int symbol, const char *name, const char *text, tg_dec *out) {
    int dp = 0;
    tg_dec off;
    const sim_instrument *in = &c->sim->inst[symbol];
    if (tg_dec_parse(text, strlen(text), out, &dp) != TG_DEC_OK || tg_dec_is_neg(*out) ||
        tg_dec_sub(*out, in->min_price_d, &off) != TG_DEC_OK ||
        (tg_dec_is_pos(*out) &&
         (tg_dec_lt(*out, in->min_price_d) || !tg_dec_on_tick(off, in->tick_d)))) {
        by_error(c, 10001, "params error: %s %s is not a multiple of the tick size %s", name, text,
                 in->tick);
        return false;
    }
    return true;
}

static bool parse_qty(by_ctx *c, int symbol, const char *text, tg_dec *out) {
    int dp = 0;
    const sim_instrument *in = &c->sim->inst[symbol];
    if (tg_dec_parse(text, strlen(text), out, &dp) != TG_DEC_OK || tg_dec_is_neg(*out) ||
        !tg_dec_on_tick(*out, in->step_d) || tg_dec_gt(*out, in->max_qty_d)) {
        by_error(c, 10001, "params error: qty %s is not a multiple of the step %s", text, in->step);
        return false;
    }
    return true;
}

/* ---- shapes ---- */

void sim_by_order_json(tg_sim *sim, sim_buf *b, const sim_order *o, const char *status) {
    assert(sim != NULL);
    assert(b != NULL);
    assert(o != NULL);
    int pdp = sim_price_dp(sim, o->symbol), qdp = sim_qty_dp(sim, o->symbol);
    tg_dec qty = o->qty;
    if (o->close_position || o->position_sl) {
        tg_dec_abs(sim->acct[o->account].pos[o->symbol].size, &qty);
    }
    sim_buf_printf(b, "{\"orderId\":\"%llu\",\"orderLinkId\":", (unsigned long long)o->id);
    sim_buf_jstr(b, o->client_id);
    sim_buf_printf(
        b, ",\"blockTradeId\":\"\",\"symbol\":\"%s\",\"price\":", sim->inst[o->symbol].symbol);
    sim_buf_jdec(b, o->price, pdp);
    sim_buf_puts(b, ",\"qty\":");
    sim_buf_jdec(b, qty, qdp);
    sim_buf_printf(b,
                   ",\"side\":\"%s\",\"isLeverage\":\"\",\"positionIdx\":0,\"orderStatus\":\"%s\","
                   "\"cancelType\":\"UNKNOWN\",\"rejectReason\":\"EC_NoError\",\"avgPrice\":\"0\","
                   "\"leavesQty\":",
                   o->buy ? "Buy" : "Sell", status);
    sim_buf_jdec(b, qty, qdp);
    bool cond = o->conditional;
    sim_buf_printf(b,
                   ",\"leavesValue\":\"0\",\"cumExecQty\":\"0\",\"cumExecValue\":\"0\","
                   "\"cumExecFee\":\"0\",\"timeInForce\":\"%s\",\"orderType\":\"%s\","
                   "\"stopOrderType\":\"%s\",\"orderIv\":\"\",\"triggerPrice\":",
                   o->type == SIM_OT_LIMIT ? "GTC" : "IOC",
                   o->type == SIM_OT_LIMIT ? "Limit" : "Market",
                   o->position_sl ? "StopLoss" : (cond ? "Stop" : ""));
    if (cond) {
        sim_buf_jdec(b, o->trigger, pdp);
    } else {
        sim_buf_puts(b, "\"0\"");
    }
    sim_buf_printf(b,
                   ",\"takeProfit\":\"0\",\"stopLoss\":\"0\",\"tpTriggerBy\":\"\","
                   "\"slTriggerBy\":\"\",\"triggerDirection\":%d,\"triggerBy\":\"%s\","
                   "\"lastPriceOnCreated\":\"\",\"reduceOnly\":%s,\"closeOnTrigger\":%s,"
                   "\"smpType\":\"None\",\"smpGroup\":0,\"smpOrderId\":\"\",\"tpslMode\":\"%s\","
                   "\"tpLimitPrice\":\"\",\"slLimitPrice\":\"\",\"placeType\":\"\","
                   "\"createdTime\":\"%lld\",\"updatedTime\":\"%lld\",\"category\":\"linear\","
                   "\"createType\":\"%s\"}",
                   cond ? (o->rise ? 1 : 2) : 0,
                   cond ? (o->mark_price ? "MarkPrice" : "LastPrice") : "",
                   o->reduce_only || o->position_sl ? "true" : "false",
                   o->close_position || o->position_sl ? "true" : "false",
                   o->position_sl ? "Full" : "", (long long)o->created_ms, (long long)o->updated_ms,
                   o->position_sl ? "CreateByStopLoss" : "CreateByUser");
}

void sim_by_position_json(tg_sim *sim, sim_buf *b, int account, int symbol) {
    assert(sim != NULL);
    assert(b != NULL);
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    const sim_position *p = &sim->acct[account].pos[symbol];
    int pdp = sim_price_dp(sim, symbol), qdp = sim_qty_dp(sim, symbol);
    tg_dec size, value = tg_dec_from_units(0), diff, upnl = tg_dec_from_units(0);
    tg_dec_abs(p->size, &size);
    tg_dec_mul(size, p->entry, TG_ROUND_FLOOR, &value);
    if (tg_dec_sub(sim->mark[symbol], p->entry, &diff) == TG_DEC_OK) {
        tg_dec_mul(diff, p->size, TG_ROUND_FLOOR, &upnl);
    }
    const char *side = tg_dec_is_zero(p->size) ? "" : (tg_dec_is_pos(p->size) ? "Buy" : "Sell");
    sim_buf_printf(b,
                   "{\"positionIdx\":0,\"riskId\":1,\"riskLimitValue\":\"2000000\","
                   "\"symbol\":\"%s\",\"side\":\"%s\",\"size\":",
                   sim->inst[symbol].symbol, side);
    sim_buf_jdec(b, size, qdp);
    sim_buf_puts(b, ",\"avgPrice\":");
    sim_buf_jdec(b, p->entry, pdp);
    sim_buf_puts(b, ",\"entryPrice\":");
    sim_buf_jdec(b, p->entry, pdp);
    sim_buf_puts(b, ",\"positionValue\":");
    sim_buf_jdec(b, value, 8);
    sim_buf_puts(b, ",\"tradeMode\":0,\"autoAddMargin\":0,\"positionStatus\":\"Normal\","
                    "\"leverage\":\"10\",\"markPrice\":");
    sim_buf_jdec(b, sim->mark[symbol], pdp);
    sim_buf_puts(b, ",\"liqPrice\":\"\",\"bustPrice\":\"\",\"positionIM\":\"0\","
                    "\"positionMM\":\"0\",\"positionBalance\":\"0\",\"takeProfit\":\"\","
                    "\"stopLoss\":");
    if (tg_dec_is_zero(p->stop_loss)) {
        sim_buf_puts(b, "\"\"");
    } else {
        sim_buf_jdec(b, p->stop_loss, pdp);
    }
    sim_buf_puts(b, ",\"trailingStop\":\"0\",\"unrealisedPnl\":");
    sim_buf_jdec(b, upnl, 8);
    sim_buf_printf(b,
                   ",\"curRealisedPnl\":\"0\",\"cumRealisedPnl\":\"0\",\"adlRankIndicator\":0,"
                   "\"isReduceOnly\":false,\"tpslMode\":\"Full\",\"category\":\"linear\","
                   "\"seq\":%lld,\"createdTime\":\"%lld\",\"updatedTime\":\"%lld\"}",
                   (long long)p->updated_ms, (long long)p->updated_ms, (long long)p->updated_ms);
}

/* ---- market data ---- */

static void ep_time(by_ctx *c) {
    int64_t now = sim_now_ms(c->sim);
    ok_begin(c);
    sim_buf_printf(&c->resp->body, "{\"timeSecond\":\"%lld\",\"timeNano\":\"%lld000000\"}",
                   (long long)(now / 1000), (long long)now);
    ok_end(c);
}

static void instrument_json(const tg_sim *sim, sim_buf *b, int i) {
    assert(sim != NULL);
    assert(b != NULL);
    const sim_instrument *in = &sim->inst[i];
    sim_buf_printf(b,
                   "{\"symbol\":\"%s\",\"contractType\":\"LinearPerpetual\",\"status\":\"Trading\","
                   "\"baseCoin\":\"%s\",\"quoteCoin\":\"USDT\",\"launchTime\":\"1585526400000\","
                   "\"deliveryTime\":\"0\",\"deliveryFeeRate\":\"\",\"priceScale\":\"%d\","
                   "\"leverageFilter\":{\"minLeverage\":\"1\",\"maxLeverage\":\"100.00\","
                   "\"leverageStep\":\"0.01\"},\"priceFilter\":{\"minPrice\":\"%s\","
                   "\"maxPrice\":\"%s\",\"tickSize\":\"%s\"},\"lotSizeFilter\":{"
                   "\"maxOrderQty\":\"%s\",\"minOrderQty\":\"%s\",\"qtyStep\":\"%s\","
                   "\"postOnlyMaxOrderQty\":\"%s\",\"maxMktOrderQty\":\"%s\","
                   "\"minNotionalValue\":\"%s\"},\"unifiedMarginTrade\":true,"
                   "\"fundingInterval\":480,\"settleCoin\":\"USDT\",\"copyTrading\":\"both\","
                   "\"upperFundingRate\":\"0.00375\",\"lowerFundingRate\":\"-0.00375\","
                   "\"isPreListing\":false,\"preListingInfo\":null,\"symbolType\":\"\"}",
                   in->symbol, in->base, sim_price_precision(sim, i), in->min_price, in->max_price,
                   in->tick, in->max_qty, in->min_qty, in->step, in->max_qty, in->max_mkt,
                   in->notional);
}

/* A result holding a list: list_open() starts the envelope and the list,
 * list_item() separates items, list_close() ends them with tail. */
#define LIST_LINEAR "{\"category\":\"linear\",\"list\":["
#define LIST_PAGED  "],\"nextPageCursor\":\"\"}"

static sim_buf *list_open(by_ctx *c, const char *head) {
    ok_begin(c);
    sim_buf_puts(&c->resp->body, head);
    return &c->resp->body;
}

static void list_item(sim_buf *b, bool *first) {
    assert(b != NULL);
    sim_buf_puts(b, *first ? "" : ",");
    *first = false;
}

static void list_close(by_ctx *c, const char *tail) {
    sim_buf_puts(&c->resp->body, tail);
    ok_end(c);
}

/* The linear list of instruments (or the one named by `symbol`), each
 * written by item, in the envelope; list_tail closes the result object. */
static void instrument_list(by_ctx *c, void (*item)(by_ctx *, sim_buf *, int),
                            const char *list_tail) {
    if (empty_category(c) || !need_linear(c)) {
        return;
    }
    int only = -1;
    if (arg(c, "symbol") != NULL && (only = need_symbol(c)) < 0) {
        return;
    }
    sim_buf *b = list_open(c, LIST_LINEAR);
    bool first = true;
    for (size_t i = 0; i < c->sim->inst_count; i++) {
        if (only >= 0 && (int)i != only) {
            continue;
        }
        list_item(b, &first);
        item(c, b, (int)i);
    }
    list_close(c, list_tail);
}

static void instrument_item(by_ctx *c, sim_buf *b, int i) {
    assert(b != NULL);
    (void)c;
    instrument_json(c->sim, b, i);
}

static void ep_instruments(by_ctx *c) {
    instrument_list(c, instrument_item, LIST_PAGED);
}

static void ticker_json(by_ctx *c, sim_buf *b, int i) {
    assert(b != NULL);
    int pdp = sim_price_dp(c->sim, i);
    tg_dec m = c->sim->mark[i];
    sim_buf_printf(b, "{\"symbol\":\"%s\",\"lastPrice\":", c->sim->inst[i].symbol);
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"indexPrice\":");
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"markPrice\":");
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"prevPrice24h\":");
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"price24hPcnt\":\"0\",\"highPrice24h\":");
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"lowPrice24h\":");
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"prevPrice1h\":");
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"bid1Price\":");
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"ask1Price\":");
    sim_buf_jdec(b, m, pdp);
    int64_t now = sim_now_ms(c->sim);
    sim_buf_printf(b,
                   ",\"bid1Size\":\"1\",\"ask1Size\":\"1\",\"openInterest\":\"0\","
                   "\"openInterestValue\":\"0\",\"turnover24h\":\"0\",\"volume24h\":\"0\","
                   "\"fundingRate\":\"0.0001\",\"nextFundingTime\":\"%lld\","
                   "\"predictedDeliveryPrice\":\"\",\"basisRate\":\"\",\"deliveryFeeRate\":\"\","
                   "\"deliveryTime\":\"0\",\"basis\":\"\"}",
                   (long long)((now / 28800000 + 1) * 28800000));
}

static void ep_tickers(by_ctx *c) {
    instrument_list(c, ticker_json, "]}");
}

/* ---- positions ---- */

/* symbol or settleCoin; returns the symbol index, -2 for "all", -1 after an
 * error. */
static int symbol_or_settle(by_ctx *c) {
    if (arg(c, "symbol") != NULL) {
        return need_symbol(c);
    }
    const char *coin = arg(c, "settleCoin");
    if (coin == NULL && arg(c, "baseCoin") == NULL) {
        by_error(c, 10001, "params error: symbol or settleCoin is required");
        return -1;
    }
    if (coin != NULL && strcmp(coin, "USDT") != 0) {
        by_error(c, 10001, "params error: settleCoin %s is not served by the emulator", coin);
        return -1;
    }
    return -2;
}

/* Bybit pages its lists (position/list: limit [1, 200], order/realtime:
 * [1, 50], both default 20): `limit` items from `cursor` on, and
 * nextPageCursor names the next page ("" after the last). The emulator's
 * cursor is the index where the next page's scan starts; a limit above the
 * endpoint's maximum is served as the maximum. */
#define PAGE_LIMIT_DEFAULT 20

typedef struct by_page {
    size_t start; /* first index scanned */
    size_t limit; /* items on this page */
    size_t count; /* items written */
    size_t next;  /* index of the first item left over; SIZE_MAX none */
} by_page;

static bool page_open(by_ctx *c, size_t limit_max, by_page *pg) {
    assert(pg != NULL && limit_max > 0);
    pg->start = 0;
    pg->limit = PAGE_LIMIT_DEFAULT;
    pg->count = 0;
    pg->next = SIZE_MAX;
    const char *limit = arg(c, "limit"), *cursor = arg(c, "cursor");
    char *end = NULL;
    if (limit != NULL && limit[0] != '\0') {
        unsigned long long n = strtoull(limit, &end, 10);
        if (*end != '\0' || n < 1) {
            by_error(c, 10001, "params error: limit must be an integer from 1 to %zu", limit_max);
            return false;
        }
        pg->limit = n > limit_max ? limit_max : (size_t)n;
    }
    if (cursor != NULL && cursor[0] != '\0') {
        unsigned long long n = strtoull(cursor, &end, 10);
        if (*end != '\0' || n > SIZE_MAX / 2) {
            by_error(c, 10001, "params error: cursor invalid");
            return false;
        }
        pg->start = (size_t)n;
    }
    return true;
}

/* Whether item index i goes on the page (false once it is full: i is then
 * the next page's start). */
static bool page_take(by_page *pg, size_t i) {
    assert(pg != NULL && i >= pg->start);
    if (pg->count < pg->limit) {
        pg->count++;
        return true;
    }
    if (pg->next == SIZE_MAX) {
        pg->next = i;
    }
    return false;
}

static void page_close(by_ctx *c, const by_page *pg) {
    assert(pg != NULL);
    if (pg->next == SIZE_MAX) {
        list_close(c, LIST_PAGED);
        return;
    }
    char tail[64];
    snprintf(tail, sizeof tail, "],\"nextPageCursor\":\"%zu\"}", pg->next);
    list_close(c, tail);
}

static void ep_position_list(by_ctx *c) {
    if (empty_category(c)) {
        return;
    }
    int only = need_linear(c) ? symbol_or_settle(c) : -1;
    if (only == -1) {
        return;
    }
    by_page pg;
    if (!page_open(c, 200, &pg)) {
        return;
    }
    sim_buf *b = list_open(c, LIST_LINEAR);
    bool first = true;
    for (size_t i = pg.start; i < c->sim->inst_count && pg.next == SIZE_MAX; i++) {
        bool flat = tg_dec_is_zero(c->sim->acct[c->account].pos[i].size);
        if ((only >= 0 && (int)i != only) || (only == -2 && flat) || !page_take(&pg, i)) {
            continue;
        }
        list_item(b, &first);
        sim_by_position_json(c->sim, b, c->account, (int)i);
    }
    page_close(c, &pg);
}

/* ---- orders ---- */

static bool order_selected(by_ctx *c, const sim_order *o, int only) {
    if (c->resp->stale || !o->live || o->account != c->account ||
        (only >= 0 && o->symbol != only)) {
        return false;
    }
    const char *filter = arg(c, "orderFilter");
    if (filter != NULL && strcmp(filter, "StopOrder") == 0 && !o->conditional) {
        return false;
    }
    if (filter != NULL && strcmp(filter, "Order") == 0 && o->conditional) {
        return false;
    }
    const char *id = arg(c, "orderId");
    const char *link = arg(c, "orderLinkId");
    if (id != NULL && id[0] != '\0' && strtoull(id, NULL, 10) != o->id) {
        return false;
    }
    return link == NULL || link[0] == '\0' || strcmp(link, o->client_id) == 0;
}

static void ep_order_realtime(by_ctx *c) {
    if (empty_category(c)) {
        return;
    }
    int only = need_linear(c) ? symbol_or_settle(c) : -1;
    if (only == -1) {
        return;
    }
    by_page pg;
    if (!page_open(c, 50, &pg)) {
        return;
    }
    sim_buf *b = list_open(c, LIST_LINEAR);
    bool first = true;
    for (size_t i = pg.start; i < c->sim->orders_max && pg.next == SIZE_MAX; i++) {
        const sim_order *o = &c->sim->orders[i];
        if (!order_selected(c, o, only) || !page_take(&pg, i)) {
            continue;
        }
        list_item(b, &first);
        sim_by_order_json(c->sim, b, o, o->conditional ? "Untriggered" : "New");
    }
    page_close(c, &pg);
}

/* Removes the position's stop loss (stopLoss "0"). */
static void trading_stop_clear(by_ctx *c, int symbol) {
    sim_position *p = &c->sim->acct[c->account].pos[symbol];
    sim_order *o = p->sl_order != 0 ? sim_order_find(c->sim, c->account, p->sl_order, NULL) : NULL;
    if (o == NULL) {
        by_error(c, 34040, "not modified");
        return;
    }
    sim_order_cancel(c->sim, o);
    ok_begin(c);
    sim_buf_puts(&c->resp->body, "{}");
    ok_end(c);
}

/* Checks the new stop loss against the side of the position and the mark. */
static bool trading_stop_side_ok(by_ctx *c, int symbol, tg_dec sl) {
    const sim_position *p = &c->sim->acct[c->account].pos[symbol];
    tg_dec mark = c->sim->mark[symbol];
    bool is_long = tg_dec_is_pos(p->size);
    if (is_long ? tg_dec_lt(sl, mark) : tg_dec_gt(sl, mark)) {
        return true;
    }
    char a[TG_DEC_STR_MAX], m[TG_DEC_STR_MAX];
    tg_dec_format(sl, 0, a);
    tg_dec_format(mark, 0, m);
    by_error(c, 10001, "StopLoss:%s set for %s position should %s base_price:%s??MarkPrice", a,
             is_long ? "Buy" : "Sell", is_long ? "lower" : "higher", m);
    return false;
}

static bool trading_stop_args(by_ctx *c, int symbol, bool *mark_trigger) {
    const char *mode = arg(c, "tpslMode");
    const char *idx = arg(c, "positionIdx");
    const char *by = arg(c, "slTriggerBy");
    const char *tp = arg(c, "takeProfit");
    const char *ts = arg(c, "trailingStop");
    if (mode != NULL && strcmp(mode, "Full") != 0) {
        by_error(c, 10001, "params error: the emulator serves tpslMode Full only");
    } else if (idx != NULL && strcmp(idx, "0") != 0) {
        by_error(c, 10001, "position idx not match position mode");
    } else if ((tp != NULL && strcmp(tp, "0") != 0 && tp[0] != '\0') ||
               (ts != NULL && strcmp(ts, "0") != 0 && ts[0] != '\0')) {
        by_error(c, 10001, "params error: the emulator serves stopLoss only");
    } else if (by != NULL && strcmp(by, "MarkPrice") != 0 && strcmp(by, "LastPrice") != 0 &&
               strcmp(by, "IndexPrice") != 0) {
        by_error(c, 10001, "params error: slTriggerBy invalid");
    } else if (tg_dec_is_zero(c->sim->acct[c->account].pos[symbol].size)) {
        by_error(c, 10001, "can not set tp/sl/ts for zero position");
    } else {
        *mark_trigger = by != NULL && strcmp(by, "MarkPrice") == 0;
        return true;
    }
    return false;
}

static void ep_trading_stop(by_ctx *c) {
    int symbol = need_linear(c) ? need_symbol(c) : -1;
    bool mark_trigger = false;
    if (symbol < 0 || !trading_stop_args(c, symbol, &mark_trigger)) {
        return;
    }
    const char *sl_text = arg(c, "stopLoss");
    tg_dec sl;
    if (sl_text == NULL || !parse_price(c, symbol, "stopLoss", sl_text, &sl)) {
        if (sl_text == NULL) {
            by_error(c, 34040, "not modified");
        }
        return;
    }
    if (tg_dec_is_zero(sl)) {
        trading_stop_clear(c, symbol);
        return;
    }
    sim_position *p = &c->sim->acct[c->account].pos[symbol];
    sim_order *o = p->sl_order != 0 ? sim_order_find(c->sim, c->account, p->sl_order, NULL) : NULL;
    if (o != NULL && tg_dec_eq(o->trigger, sl) && o->mark_price == mark_trigger) {
        by_error(c, 34040, "not modified");
        return;
    }
    if (!trading_stop_side_ok(c, symbol, sl)) {
        return;
    }
    if (o == NULL && (o = sim_order_new(c->sim)) == NULL) {
        by_error(c, 110009, "The number of stop orders exceeds maximum limit allowed");
        return;
    }
    bool is_long = tg_dec_is_pos(p->size);
    o->conditional = o->position_sl = o->reduce_only = true;
    o->account = c->account;
    o->symbol = symbol;
    o->type = SIM_OT_STOP_MARKET;
    o->buy = !is_long;
    o->rise = !is_long;
    o->trigger = sl;
    o->mark_price = mark_trigger;
    o->updated_ms = sim_now_ms(c->sim);
    p->stop_loss = sl;
    p->sl_order = o->id;
    sim_stop_placed(c->sim, o);
    sim_emit_position(c->sim, c->account, symbol);
    ok_begin(c);
    sim_buf_puts(&c->resp->body, "{}");
    ok_end(c);
}

/* Fills the conditional fields of a new order; false after answering. */
static bool create_conditional(by_ctx *c, sim_order *o, const char *trigger) {
    if (!parse_price(c, o->symbol, "triggerPrice", trigger, &o->trigger) ||
        !tg_dec_is_pos(o->trigger)) {
        if (c->resp->code == 0) {
            by_error(c, 10001, "params error: triggerPrice invalid");
        }
        return false;
    }
    const char *dir = arg(c, "triggerDirection");
    if (dir == NULL || (strcmp(dir, "1") != 0 && strcmp(dir, "2") != 0)) {
        by_error(c, 10001, "params error: triggerDirection is required with triggerPrice");
        return false;
    }
    o->rise = strcmp(dir, "1") == 0;
    const char *by = arg(c, "triggerBy");
    o->mark_price = by != NULL && strcmp(by, "MarkPrice") == 0;
    char t[TG_DEC_STR_MAX], m[TG_DEC_STR_MAX];
    tg_dec mark = c->sim->mark[o->symbol];
    tg_dec_format(o->trigger, 0, t);
    tg_dec_format(mark, 0, m);
    if (o->rise && tg_dec_le(o->trigger, mark)) {
        by_error(c, 110092, "expect Rising, but trigger_price[%s] <= current[%s]??MarkPrice", t, m);
        return false;
    }
    if (!o->rise && tg_dec_ge(o->trigger, mark)) {
        by_error(c, 110093, "expect Falling, but trigger_price[%s] >= current[%s]??MarkPrice", t,
                 m);
        return false;
    }
    if (sim_stops_open(c->sim, c->account, o->symbol) >= SIM_STOPS_PER_SYMBOL) {
        by_error(c, 110009, "The number of stop orders exceeds maximum limit allowed");
        return false;
    }
    o->conditional = true;
    o->type = SIM_OT_STOP_MARKET;
    return true;
}

static bool create_read(by_ctx *c, sim_order *o, const char **type) {
    const char *side = need(c, "side");
    *type = side != NULL ? need(c, "orderType") : NULL;
    const char *qty = *type != NULL ? need(c, "qty") : NULL;
    if (qty == NULL) {
        return false;
    }
    if (strcmp(side, "Buy") != 0 && strcmp(side, "Sell") != 0) {
        by_error(c, 10001, "params error: side invalid");
        return false;
    }
    if (strcmp(*type, "Market") != 0 && strcmp(*type, "Limit") != 0) {
        by_error(c, 10001, "params error: orderType invalid");
        return false;
    }
    o->buy = strcmp(side, "Buy") == 0;
    o->reduce_only = arg_true(c, "reduceOnly");
    o->close_position = arg_true(c, "closeOnTrigger") && o->reduce_only;
    if (!parse_qty(c, o->symbol, qty, &o->qty)) {
        return false;
    }
    if (tg_dec_is_zero(o->qty) && !o->close_position) {
        by_error(c, 110017, "orderQty will be truncated to zero.");
        return false;
    }
    const char *link = arg(c, "orderLinkId");
    if (link != NULL && link[0] != '\0') {
        if (strlen(link) > 36 || sim_order_find(c->sim, c->account, 0, link) != NULL) {
            by_error(c, 110072, "OrderLinkedID is duplicate");
            return false;
        }
        sim_strlcpy(o->client_id, link, sizeof o->client_id);
    }
    return true;
}

/* A Market order without a trigger fills now; reduceOnly never opens. */
static bool create_market(by_ctx *c, sim_order *o) {
    assert(o != NULL);
    const sim_position *p = &c->sim->acct[c->account].pos[o->symbol];
    tg_dec qty = o->qty, abs_size;
    tg_dec_abs(p->size, &abs_size);
    if (o->reduce_only) {
        if (tg_dec_is_zero(p->size) || o->buy == tg_dec_is_pos(p->size)) {
            by_error(c, 110017, "current position is zero, cannot fix reduce-only order qty");
            return false;
        }
        qty = tg_dec_min(qty, abs_size);
    }
    tg_dec signed_qty = o->buy ? qty : tg_dec_from_units(-qty.units);
    sim_market_fill(c->sim, c->account, o->symbol, signed_qty, o->reduce_only, o->client_id, o->id);
    return true;
}

static void ep_order_create(by_ctx *c) {
    sim_order o = {0};
    const char *type = NULL;
    o.account = c->account;
    o.symbol = need_linear(c) ? need_symbol(c) : -1;
    if (o.symbol < 0 || !create_read(c, &o, &type)) {
        return;
    }
    const char *trigger = arg(c, "triggerPrice");
    bool cond = trigger != NULL && trigger[0] != '\0';
    const char *price = arg(c, "price");
    if (cond && !create_conditional(c, &o, trigger)) {
        return;
    }
    if (!cond && strcmp(type, "Limit") == 0) {
        if (price == NULL || !parse_price(c, o.symbol, "price", price, &o.price)) {
            if (price == NULL) {
                by_error(c, 10001, "params error: price is required for Limit");
            }
            return;
        }
        o.type = SIM_OT_LIMIT;
    }
    o.id = c->sim->next_order_id++;
    if (!cond && strcmp(type, "Market") == 0) {
        o.type = SIM_OT_MARKET;
        if (!create_market(c, &o)) {
            return;
        }
    } else {
        sim_order *slot = sim_order_new(c->sim);
        if (slot == NULL) {
            by_error(c, 110020, "Not allowed to have more than 500 active orders.");
            return;
        }
        o.live = true;
        o.created_ms = o.updated_ms = slot->created_ms;
        *slot = o;
        if (cond) {
            sim_stop_placed(c->sim, slot);
        }
    }
    ok_begin(c);
    sim_buf_printf(&c->resp->body,
                   "{\"orderId\":\"%llu\",\"orderLinkId\":", (unsigned long long)o.id);
    sim_buf_jstr(&c->resp->body, o.client_id);
    sim_buf_puts(&c->resp->body, "}");
    ok_end(c);
}

static void ep_order_cancel(by_ctx *c) {
    int symbol = need_linear(c) ? need_symbol(c) : -1;
    if (symbol < 0) {
        return;
    }
    const char *id = arg(c, "orderId");
    const char *link = arg(c, "orderLinkId");
    uint64_t n = id != NULL ? strtoull(id, NULL, 10) : 0;
    sim_order *o = c->resp->stale ? NULL : sim_order_find(c->sim, c->account, n, link);
    if ((id == NULL || id[0] == '\0') && (link == NULL || link[0] == '\0')) {
        by_error(c, 10001, "params error: orderId or orderLinkId is required");
        return;
    }
    if (o == NULL || o->symbol != symbol) {
        by_error(c, 110001, "order not exists or too late to cancel");
        return;
    }
    ok_begin(c);
    sim_buf_printf(&c->resp->body,
                   "{\"orderId\":\"%llu\",\"orderLinkId\":", (unsigned long long)o->id);
    sim_buf_jstr(&c->resp->body, o->client_id);
    sim_buf_puts(&c->resp->body, "}");
    ok_end(c);
    sim_order_cancel(c->sim, o);
}

static void ep_order_cancel_all(by_ctx *c) {
    int only = need_linear(c) ? symbol_or_settle(c) : -1;
    if (only == -1) {
        return;
    }
    sim_buf *b = list_open(c, "{\"list\":[");
    bool first = true;
    for (size_t i = 0; i < c->sim->orders_max; i++) {
        sim_order *o = &c->sim->orders[i];
        if (!order_selected(c, o, only)) {
            continue;
        }
        list_item(b, &first);
        sim_buf_printf(b, "{\"orderId\":\"%llu\",\"orderLinkId\":", (unsigned long long)o->id);
        sim_buf_jstr(b, o->client_id);
        sim_buf_puts(b, "}");
        sim_order_cancel(c->sim, o);
    }
    list_close(c, "],\"success\":\"1\"}");
}

/* ---- dispatch ---- */

static const by_route routes[] = {
    {"GET", "/v5/market/time", false, 0, ep_time},
    {"GET", "/v5/market/instruments-info", false, 0, ep_instruments},
    {"GET", "/v5/market/tickers", false, 0, ep_tickers},
    {"GET", "/v5/position/list", true, 50, ep_position_list},
    {"GET", "/v5/order/realtime", true, 50, ep_order_realtime},
    {"POST", "/v5/position/trading-stop", true, 10, ep_trading_stop},
    {"POST", "/v5/order/create", true, 10, ep_order_create},
    {"POST", "/v5/order/cancel", true, 10, ep_order_cancel},
    {"POST", "/v5/order/cancel-all", true, 10, ep_order_cancel_all},
};

static bool authenticate(by_ctx *c, sim_log_entry *log) {
    assert(log != NULL);
    const char *key = sim_http_header(c->req, "x-bapi-api-key");
    const char *ts = sim_http_header(c->req, "x-bapi-timestamp");
    const char *sign = sim_http_header(c->req, "x-bapi-sign");
    const char *rw = sim_http_header(c->req, "x-bapi-recv-window");
    if (key == NULL || (c->account = sim_account_by_key(c->sim, SIM_BYBIT, key)) < 0) {
        by_error(c, 10003, "API key is invalid.");
        return false;
    }
    c->resp->account = c->account;
    sim_strlcpy(log->account, c->sim->acct[c->account].name, sizeof log->account);
    if (ts == NULL || sign == NULL) {
        by_error(c, 10004, "error sign! X-BAPI-TIMESTAMP and X-BAPI-SIGN are required");
        return false;
    }
    char *input = malloc(BY_SIGN_INPUT_MAX);
    if (input == NULL) {
        by_error(c, 10016, "Internal server error.");
        return false;
    }
    bool get = strcmp(c->req->method, "GET") == 0;
    const char *payload = get ? c->req->query : c->req->body;
    size_t plen = get ? strlen(c->req->query) : c->req->body_len;
    int head = snprintf(input, BY_SIGN_INPUT_MAX, "%s%s%s", ts, key, rw != NULL ? rw : "");
    bool ok = head > 0 && (size_t)head + plen < BY_SIGN_INPUT_MAX;
    if (ok) {
        memcpy(input + head, payload != NULL ? payload : "", plen);
        input[(size_t)head + plen] = '\0';
        ok = sim_hmac_verify(c->sim->acct[c->account].secret, input, (size_t)head + plen, sign);
    }
    if (!ok) {
        by_error(c, 10004, "error sign! origin_string[%.300s]", input);
    }
    free(input);
    if (!ok) {
        return false;
    }
    /* Range first: a huge or negative window (or strtoll's saturation)
     * would overflow now - window or let any old timestamp through. */
    int64_t t = 0, window = BY_RECV_WINDOW_MS;
    if (rw != NULL && !sim_text_int(rw, 1, BY_RECV_WINDOW_MAX, &window)) {
        by_error(c, 10001, "params error: recv_window must be an integer 1..%d ms",
                 BY_RECV_WINDOW_MAX);
        return false;
    }
    int64_t now = sim_now_ms(c->sim);
    if (!sim_text_int(ts, 0, SIM_JSON_INT_MAX, &t) || t >= now + BY_AHEAD_MS || now - window > t) {
        by_error(c, 10002,
                 "invalid request, please check your server timestamp or recv_window param. "
                 "req_timestamp[%.20s],server_timestamp[%lld],recv_window[%lld]",
                 ts, (long long)now, (long long)window);
        return false;
    }
    return true;
}

/* The per-account, per-endpoint one-second counter; false after 10006. */
static bool rate_limit(by_ctx *c, const by_route *r) {
    sim_rate *rt = &c->sim->rate;
    int limit = rt->bybit_max > 0 ? rt->bybit_max : r->per_second;
    int64_t now = sim_now_ms(c->sim);
    int64_t second = now / 1000;
    sim_bybit_bucket *slot = NULL;
    for (size_t i = 0; i < SIM_BYBIT_BUCKETS && slot == NULL; i++) {
        sim_bybit_bucket *k = &rt->bucket[i];
        if (k->account == c->account && strcmp(k->path, r->path) == 0) {
            slot = k;
        }
    }
    for (size_t i = 0; i < SIM_BYBIT_BUCKETS && slot == NULL; i++) {
        if (rt->bucket[i].path[0] == '\0' || rt->bucket[i].second < second - 1) {
            slot = &rt->bucket[i];
            slot->account = c->account;
            sim_strlcpy(slot->path, r->path, sizeof slot->path);
            slot->second = second;
            slot->used = 0;
        }
    }
    if (slot == NULL) {
        return true; /* every bucket is busy this second: do not limit */
    }
    if (slot->second != second) {
        slot->second = second;
        slot->used = 0;
    }
    slot->used++;
    int left = limit - slot->used;
    sim_resp_header(c->resp, "X-Bapi-Limit: %d", limit);
    sim_resp_header(c->resp, "X-Bapi-Limit-Status: %d", left > 0 ? left : 0);
    sim_resp_header(c->resp, "X-Bapi-Limit-Reset-Timestamp: %lld", (long long)(second + 1) * 1000);
    if (left < 0) {
        by_error(c, 10006, "Too many visits!");
        return false;
    }
    return true;
}

static void log_params(const sim_http_req *req, sim_log_entry *log) {
    assert(req != NULL);
    assert(log != NULL);
    if (req->body_len > 0) {
        snprintf(log->params, sizeof log->params, "%.*s", (int)req->body_len, req->body);
    } else {
        sim_strlcpy(log->params, req->query, sizeof log->params);
    }
}

void sim_bybit_handle(tg_sim *sim, const sim_http_req *req, sim_resp *resp, sim_log_entry *log) {
    assert(log != NULL);
    assert(sim != NULL && req != NULL && resp != NULL);
    by_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        resp->status = 500;
        return;
    }
    *c = (by_ctx){.sim = sim, .req = req, .resp = resp, .account = -1};
    resp->status = 200;
    log_params(req, log);
    const by_route *r = NULL;
    bool known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0] && r == NULL; i++) {
        if (strcmp(routes[i].path, req->path) == 0) {
            known = true;
            r = strcmp(routes[i].method, req->method) == 0 ? &routes[i] : NULL;
        }
    }
    bool post = strcmp(req->method, "POST") == 0;
    if (r == NULL) {
        resp->status = 404;
        by_error(c, known ? 10001 : 10017, "route not found: %s %s", req->method, req->path);
    } else if (!sim_params_parse(req->query, strlen(req->query), &c->query)) {
        by_error(c, 10001, "params error: the query string is malformed");
    } else if (post && (c->json = cJSON_ParseWithLength(req->body, req->body_len)) == NULL) {
        by_error(c, 10001, "params error: the body is not JSON");
    } else if (post && !cJSON_IsObject(c->json)) {
        by_error(c, 10001, "params error: the body is not a JSON object");
    } else if (!r->private_ || (authenticate(c, log) && rate_limit(c, r))) {
        r->handler(c);
    }
    cJSON_Delete(c->json);
    free(c);
}
