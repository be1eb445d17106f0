/* Binance USD-M futures REST on the emulator's first port: parameters from
 * the query and the form body, HMAC over the raw bytes, the recvWindow rule,
 * weight and order-count limits, and the endpoints trailguard and ccxt use.
 * Codes and messages follow PROTOCOLS.md section 1. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h, strcasecmp */

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/sim_int.h"

#define BN_RECV_WINDOW_MS  5000    /* default recvWindow */
#define BN_RECV_WINDOW_MAX 60000   /* largest recvWindow accepted */
#define BN_AHEAD_MS        1000    /* a timestamp this far ahead is refused */
#define BN_LISTEN_KEY_MS   3600000 /* listenKey validity (60 min) */
#define BN_CLIENT_ID_MAX   36      /* characters of a client id */
#define BN_RAW_MAX         (SIM_QUERY_MAX + SIM_BODY_MAX) /* bytes of query‖body */

#define BN_WALLET_USDT "100000" /* the placeholder wallet, as ACCOUNT_UPDATE reports it */

typedef enum bn_security { BN_NONE, BN_KEY, BN_SIGNED } bn_security;

/* One request being served. */
typedef struct bn_ctx {
    tg_sim *sim;             /* the emulator */
    const sim_http_req *req; /* as parsed */
    sim_resp *resp;          /* the answer */
    sim_params params;       /* query, then body (query wins) */
    int account;             /* signer, -1 before auth */
} bn_ctx;

typedef void (*bn_handler)(bn_ctx *c);

typedef struct bn_route {
    const char *method;   /* HTTP method */
    const char *path;     /* exact path */
    bn_security security; /* what the request must carry */
    int weight;           /* REQUEST_WEIGHT (with a symbol) */
    int weight_all;       /* weight without a symbol; 0 = same */
    bool order;           /* counts on ORDERS */
    bn_handler handler;   /* the endpoint */
} bn_route;

static void bn_error(bn_ctx *c, int http, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void bn_error(bn_ctx *c, int http, int code, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sim_buf_reset(&c->resp->body);
    sim_buf_printf(&c->resp->body, "{\"code\":%d,\"msg\":", code);
    sim_buf_jstr(&c->resp->body, msg);
    sim_buf_puts(&c->resp->body, "}");
    c->resp->status = http;
    c->resp->code = code;
}

static void bn_missing(bn_ctx *c, const char *name) {
    bn_error(c, 400, -1102, "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
             name);
}

/* A mandatory non-empty parameter, or NULL after answering -1102. */
static const char *need(bn_ctx *c, const char *name) {
    const char *v = sim_param(&c->params, name);
    if (v == NULL || v[0] == '\0') {
        bn_missing(c, name);
        return NULL;
    }
    return v;
}

/* The symbol parameter as an index, or -1 after answering. */
static int need_symbol(bn_ctx *c) {
    const char *s = need(c, "symbol");
    if (s == NULL) {
        return -1;
    }
    int i = sim_instrument_find(c->sim, s);
    if (i < 0) {
        bn_error(c, 400, -1121, "Invalid symbol.");
    }
    return i;
}

/* "true"/"false" in any case; absent = fallback; else -1 after answering. */
static int opt_bool(bn_ctx *c, const char *name, bool fallback) {
    const char *v = sim_param(&c->params, name);
    if (v == NULL || v[0] == '\0') {
        return fallback;
    }
    if (strcasecmp(v, "true") == 0) {
        return 1;
    }
    if (strcasecmp(v, "false") == 0) {
        return 0;
    }
    bn_error(c, 400, -1102, "Parameter '%s' was not valid: '%s'.", name, v);
    return -1;
}

/* A price on the symbol's filter, or false after -1102/-1111/-4014. */
static bool parse_price(bn_ctx *c, int symbol, const char *name, const char *text, tg_dec *out) {
    const sim_instrument *in = &c->sim->inst[symbol];
    int dp = 0;
    if (tg_dec_parse(text, strlen(text), out, &dp) != TG_DEC_OK || !tg_dec_is_pos(*out)) {
        bn_missing(c, name);
        return false;
    }
    if (dp > sim_price_precision(c->sim, symbol)) {
        bn_error(c, 400, -1111, "Precision is over the maximum defined for this asset.");
        return false;
    }
    tg_dec off;
    if (tg_dec_lt(*out, in->min_price_d) || tg_dec_gt(*out, in->max_price_d) ||
        tg_dec_sub(*out, in->min_price_d, &off) != TG_DEC_OK || !tg_dec_on_tick(off, in->tick_d)) {
        bn_error(c, 400, -4014, "Price not increased by tick size.");
        return false;
    }
    return true;
}

/* A quantity on the symbol's LOT_SIZE, or false after answering. */
static bool parse_qty(bn_ctx *c, int symbol, const char *text, tg_dec *out) {
    const sim_instrument *in = &c->sim->inst[symbol];
    int dp = 0;
    if (tg_dec_parse(text, strlen(text), out, &dp) != TG_DEC_OK || !tg_dec_is_pos(*out)) {
        bn_missing(c, "quantity");
        return false;
    }
    if (dp > sim_qty_dp(c->sim, symbol)) {
        bn_error(c, 400, -1111, "Precision is over the maximum defined for this asset.");
        return false;
    }
    if (!tg_dec_on_tick(*out, in->step_d) || tg_dec_lt(*out, in->min_qty_d)) {
        bn_error(c, 400, -4023, "Quantity not increased by step size.");
        return false;
    }
    if (tg_dec_gt(*out, in->max_qty_d)) {
        bn_error(c, 400, -4005, "Quantity greater than max quantity.");
        return false;
    }
    return true;
}

static bool client_id_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > BN_CLIENT_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr(".:/_-", s[i]) == NULL) {
            return false;
        }
    }
    return true;
}

/* The client id given under one of two names, or a generated one; false
 * after -4015/-4116. */
static bool take_client_id(bn_ctx *c, const char *name, const char *alias, char *out) {
    const char *v = sim_param(&c->params, name);
    if (v == NULL || v[0] == '\0') {
        v = sim_param(&c->params, alias);
    }
    if (v == NULL || v[0] == '\0') {
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (int i = 0; i < 22; i++) {
            out[i] = alphabet[sim_rand(c->sim) % (sizeof alphabet - 1)];
        }
        out[22] = '\0';
        return true;
    }
    if (!client_id_ok(v)) {
        bn_error(c, 400, -4015, "Client order id is not valid.");
        return false;
    }
    if (sim_order_find(c->sim, c->account, 0, v) != NULL) {
        bn_error(c, 400, -4116, "ClientOrderId is duplicated.");
        return false;
    }
    sim_strlcpy(out, v, SIM_CLIENT_ID_MAX);
    return true;
}

/* ---- shapes ---- */

static void algo_json(bn_ctx *c, sim_buf *b, const sim_order *o, const char *status) {
    assert(b != NULL);
    assert(o != NULL);
    int pdp = sim_price_dp(c->sim, o->symbol);
    sim_buf_printf(b, "{\"algoId\":%llu,\"clientAlgoId\":", (unsigned long long)o->id);
    sim_buf_jstr(b, o->client_id);
    sim_buf_printf(b,
                   ",\"algoType\":\"CONDITIONAL\",\"orderType\":\"%s\",\"symbol\":\"%s\","
                   "\"side\":\"%s\",\"positionSide\":\"BOTH\",\"timeInForce\":\"GTC\","
                   "\"quantity\":",
                   sim_otype_name(o->type), c->sim->inst[o->symbol].symbol,
                   o->buy ? "BUY" : "SELL");
    sim_buf_jdec(b, o->qty, sim_qty_dp(c->sim, o->symbol));
    sim_buf_printf(b, ",\"algoStatus\":\"%s\",\"triggerPrice\":", status);
    sim_buf_jdec(b, o->trigger, pdp);
    sim_buf_printf(
        b,
        ",\"price\":\"0\",\"icebergQuantity\":null,"
        "\"selfTradePreventionMode\":\"EXPIRE_MAKER\",\"workingType\":\"%s\","
        "\"priceMatch\":\"NONE\",\"closePosition\":%s,\"priceProtect\":%s,"
        "\"reduceOnly\":%s,\"activatePrice\":\"\",\"callbackRate\":\"\","
        "\"createTime\":%lld,\"updateTime\":%lld,\"triggerTime\":0,\"goodTillDate\":0,"
        "\"actualOrderId\":\"\",\"actualPrice\":\"\",\"tpTriggerPrice\":\"\","
        "\"tpPrice\":\"\",\"slTriggerPrice\":\"\",\"slPrice\":\"\",\"tpOrderType\":\"\"}",
        o->mark_price ? "MARK_PRICE" : "CONTRACT_PRICE", o->close_position ? "true" : "false",
        o->price_protect ? "true" : "false", o->reduce_only ? "true" : "false",
        (long long)o->created_ms, (long long)o->updated_ms);
    (void)c;
}

/* A regular order; filled_price is the average fill price or 0. */
static void order_json(const tg_sim *sim, sim_buf *b, const sim_order *o, const char *status,
                       tg_dec filled_qty, tg_dec avg_price) {
    assert(sim != NULL);
    assert(b != NULL);
    assert(o != NULL);
    int pdp = sim_price_dp(sim, o->symbol), qdp = sim_qty_dp(sim, o->symbol);
    tg_dec quote = tg_dec_from_units(0);
    tg_dec_mul(filled_qty, avg_price, TG_ROUND_FLOOR, &quote);
    sim_buf_puts(b, "{\"clientOrderId\":");
    sim_buf_jstr(b, o->client_id);
    sim_buf_puts(b, ",\"cumQty\":");
    sim_buf_jdec(b, filled_qty, qdp);
    sim_buf_puts(b, ",\"cumQuote\":");
    sim_buf_jdec(b, quote, pdp);
    sim_buf_puts(b, ",\"executedQty\":");
    sim_buf_jdec(b, filled_qty, qdp);
    sim_buf_printf(b, ",\"orderId\":%llu,\"avgPrice\":", (unsigned long long)o->id);
    sim_buf_jdec(b, avg_price, pdp);
    sim_buf_puts(b, ",\"origQty\":");
    sim_buf_jdec(b, o->qty, qdp);
    sim_buf_puts(b, ",\"price\":");
    sim_buf_jdec(b, o->price, pdp);
    const char *type = sim_otype_name(o->type);
    sim_buf_printf(
        b,
        ",\"reduceOnly\":%s,\"side\":\"%s\",\"positionSide\":\"BOTH\",\"status\":\"%s\","
        "\"stopPrice\":\"0\",\"closePosition\":false,\"symbol\":\"%s\","
        "\"timeInForce\":\"GTC\",\"type\":\"%s\",\"origType\":\"%s\",\"updateTime\":%lld,"
        "\"workingType\":\"CONTRACT_PRICE\",\"priceProtect\":false,\"priceMatch\":\"NONE\","
        "\"selfTradePreventionMode\":\"NONE\",\"goodTillDate\":0,\"time\":%lld}",
        o->reduce_only ? "true" : "false", o->buy ? "BUY" : "SELL", status,
        sim->inst[o->symbol].symbol, type, type, (long long)o->updated_ms,
        (long long)o->created_ms);
}

/* ---- market data ---- */

static void ep_ping(bn_ctx *c) {
    sim_buf_puts(&c->resp->body, "{}");
}

static void ep_time(bn_ctx *c) {
    sim_buf_printf(&c->resp->body, "{\"serverTime\":%lld}", (long long)sim_now_ms(c->sim));
}

static void symbol_info(const tg_sim *sim, sim_buf *b, int i) {
    assert(sim != NULL);
    assert(b != NULL);
    const sim_instrument *in = &sim->inst[i];
    sim_buf_printf(
        b,
        "{\"symbol\":\"%s\",\"pair\":\"%s\",\"contractType\":\"PERPETUAL\","
        "\"deliveryDate\":4133404800000,\"onboardDate\":1569398400000,"
        "\"status\":\"TRADING\",\"maintMarginPercent\":\"2.5000\","
        "\"requiredMarginPercent\":\"5.0000\",\"baseAsset\":\"%s\","
        "\"quoteAsset\":\"USDT\",\"marginAsset\":\"USDT\",\"pricePrecision\":%d,"
        "\"quantityPrecision\":%d,\"baseAssetPrecision\":8,\"quotePrecision\":8,"
        "\"underlyingType\":\"COIN\",\"underlyingSubType\":[],\"triggerProtect\":\"0.0500\","
        "\"liquidationFee\":\"0.012500\",\"marketTakeBound\":\"0.05\","
        "\"maxMoveOrderLimit\":10000,\"filters\":[",
        in->symbol, in->symbol, in->base, sim_price_precision(sim, i), sim_qty_dp(sim, i));
    sim_buf_printf(b,
                   "{\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"%s\",\"maxPrice\":\"%s\","
                   "\"tickSize\":\"%s\"},{\"filterType\":\"LOT_SIZE\",\"minQty\":\"%s\","
                   "\"maxQty\":\"%s\",\"stepSize\":\"%s\"},{\"filterType\":\"MARKET_LOT_SIZE\","
                   "\"minQty\":\"%s\",\"maxQty\":\"%s\",\"stepSize\":\"%s\"},"
                   "{\"filterType\":\"MAX_NUM_ORDERS\",\"limit\":200},"
                   "{\"filterType\":\"MIN_NOTIONAL\",\"notional\":\"%s\"},"
                   "{\"filterType\":\"PERCENT_PRICE\",\"multiplierUp\":\"1.0500\","
                   "\"multiplierDown\":\"0.9500\",\"multiplierDecimal\":\"4\"}],",
                   in->min_price, in->max_price, in->tick, in->min_qty, in->max_qty, in->step,
                   in->min_qty, in->max_mkt, in->step, in->notional);
    sim_buf_puts(b, "\"orderTypes\":[\"LIMIT\",\"MARKET\",\"STOP\",\"STOP_MARKET\",\"TAKE_PROFIT\","
                    "\"TAKE_PROFIT_MARKET\",\"TRAILING_STOP_MARKET\"],"
                    "\"timeInForce\":[\"GTC\",\"IOC\",\"FOK\",\"GTX\",\"GTD\"]}");
}

static void ep_exchange_info(bn_ctx *c) {
    sim_buf *b = &c->resp->body;
    sim_buf_printf(
        b,
        "{\"timezone\":\"UTC\",\"serverTime\":%lld,\"futuresType\":\"U_MARGINED\","
        "\"rateLimits\":[{\"rateLimitType\":\"REQUEST_WEIGHT\",\"interval\":\"MINUTE\","
        "\"intervalNum\":1,\"limit\":%lld},{\"rateLimitType\":\"ORDERS\","
        "\"interval\":\"MINUTE\",\"intervalNum\":1,\"limit\":%lld}],"
        "\"exchangeFilters\":[],\"assets\":[{\"asset\":\"USDT\",\"marginAvailable\":true,"
        "\"autoAssetExchange\":\"-10000\"}],\"symbols\":[",
        (long long)sim_now_ms(c->sim), (long long)c->sim->rate.bn_weight_max,
        (long long)c->sim->rate.bn_orders_max);
    for (size_t i = 0; i < c->sim->inst_count; i++) {
        if (i > 0) {
            sim_buf_puts(b, ",");
        }
        symbol_info(c->sim, b, (int)i);
    }
    sim_buf_puts(b, "]}");
}

static void premium_one(bn_ctx *c, int i) {
    sim_buf *b = &c->resp->body;
    int64_t now = sim_now_ms(c->sim);
    int pdp = sim_price_dp(c->sim, i);
    sim_buf_printf(b, "{\"symbol\":\"%s\",\"markPrice\":", c->sim->inst[i].symbol);
    sim_buf_jdec(b, c->sim->mark[i], pdp);
    sim_buf_puts(b, ",\"indexPrice\":");
    sim_buf_jdec(b, c->sim->mark[i], pdp);
    sim_buf_puts(b, ",\"estimatedSettlePrice\":");
    sim_buf_jdec(b, c->sim->mark[i], pdp);
    sim_buf_printf(b,
                   ",\"lastFundingRate\":\"0.00010000\",\"interestRate\":\"0.00010000\","
                   "\"nextFundingTime\":%lld,\"time\":%lld}",
                   (long long)((now / 28800000 + 1) * 28800000), (long long)now);
}

static void ep_premium_index(bn_ctx *c) {
    if (sim_param(&c->params, "symbol") != NULL) {
        int i = need_symbol(c);
        if (i >= 0) {
            premium_one(c, i);
        }
        return;
    }
    sim_buf_puts(&c->resp->body, "[");
    for (size_t i = 0; i < c->sim->inst_count; i++) {
        if (i > 0) {
            sim_buf_puts(&c->resp->body, ",");
        }
        premium_one(c, (int)i);
    }
    sim_buf_puts(&c->resp->body, "]");
}

/* ---- positions ---- */

static void position_json(bn_ctx *c, int i, bool v2) {
    sim_buf *b = &c->resp->body;
    const sim_position *p = &c->sim->acct[c->account].pos[i];
    int pdp = sim_price_dp(c->sim, i), qdp = sim_qty_dp(c->sim, i);
    tg_dec mark = c->sim->mark[i], diff, upnl = tg_dec_from_units(0), notional = upnl;
    if (tg_dec_sub(mark, p->entry, &diff) == TG_DEC_OK) {
        tg_dec_mul(diff, p->size, TG_ROUND_FLOOR, &upnl);
    }
    tg_dec_mul(mark, p->size, TG_ROUND_FLOOR, &notional);
    sim_buf_printf(
        b, "{\"symbol\":\"%s\",\"positionSide\":\"BOTH\",\"positionAmt\":", c->sim->inst[i].symbol);
    sim_buf_jdec(b, p->size, qdp);
    sim_buf_puts(b, ",\"entryPrice\":");
    sim_buf_jdec(b, p->entry, pdp);
    sim_buf_puts(b, ",\"breakEvenPrice\":");
    sim_buf_jdec(b, p->entry, pdp);
    sim_buf_puts(b, ",\"markPrice\":");
    sim_buf_jdec(b, mark, pdp);
    sim_buf_puts(b, ",\"unRealizedProfit\":");
    sim_buf_jdec(b, upnl, 8);
    sim_buf_puts(b, ",\"liquidationPrice\":\"0\",\"isolatedMargin\":\"0\",\"notional\":");
    sim_buf_jdec(b, notional, 8);
    sim_buf_puts(b, ",\"marginAsset\":\"USDT\",\"isolatedWallet\":\"0\",\"initialMargin\":\"0\","
                    "\"maintMargin\":\"0\",\"positionInitialMargin\":\"0\","
                    "\"openOrderInitialMargin\":\"0\",\"adl\":0,\"bidNotional\":\"0\","
                    "\"askNotional\":\"0\",");
    if (v2) {
        sim_buf_puts(b, "\"leverage\":\"10\",\"maxNotionalValue\":\"10000000\","
                        "\"marginType\":\"cross\",\"isAutoAddMargin\":\"false\",");
    }
    sim_buf_printf(b, "\"updateTime\":%lld}", (long long)p->updated_ms);
}

static void position_risk(bn_ctx *c, bool v2) {
    int only = -1;
    if (sim_param(&c->params, "symbol") != NULL && (only = need_symbol(c)) < 0) {
        return;
    }
    sim_buf *b = &c->resp->body;
    sim_buf_puts(b, "[");
    bool first = true;
    for (size_t i = 0; i < c->sim->inst_count; i++) {
        const sim_position *p = &c->sim->acct[c->account].pos[i];
        if (only >= 0 && (int)i != only) {
            continue;
        }
        if (!v2 && tg_dec_is_zero(p->size) && sim_stops_open(c->sim, c->account, (int)i) == 0) {
            continue;
        }
        if (!first) {
            sim_buf_puts(b, ",");
        }
        first = false;
        position_json(c, (int)i, v2);
    }
    sim_buf_puts(b, "]");
}

static void ep_position_risk_v2(bn_ctx *c) {
    position_risk(c, true);
}

static void ep_position_risk_v3(bn_ctx *c) {
    position_risk(c, false);
}

/* Balances are placeholders (docs/sim.md): one USDT wallet of
 * BN_WALLET_USDT, the unrealized PnL of the open positions added on top. */
static tg_dec account_upnl(bn_ctx *c) {
    tg_dec total = tg_dec_from_units(0);
    for (size_t i = 0; i < c->sim->inst_count; i++) {
        const sim_position *p = &c->sim->acct[c->account].pos[i];
        tg_dec diff, upnl;
        if (!tg_dec_is_zero(p->size) && tg_dec_sub(c->sim->mark[i], p->entry, &diff) == TG_DEC_OK &&
            tg_dec_mul(diff, p->size, TG_ROUND_FLOOR, &upnl) == TG_DEC_OK) {
            tg_dec_add(total, upnl, &total);
        }
    }
    return total;
}

/* GET /fapi/v2/balance and /fapi/v3/balance: the same list of assets. */
static void ep_balance(bn_ctx *c) {
    sim_buf *b = &c->resp->body;
    tg_dec wallet = sim_idec(BN_WALLET_USDT), upnl = account_upnl(c);
    sim_buf_puts(b, "[{\"accountAlias\":\"SgsR\",\"asset\":\"USDT\",\"balance\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_puts(b, ",\"crossWalletBalance\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_puts(b, ",\"crossUnPnl\":");
    sim_buf_jdec(b, upnl, 8);
    sim_buf_puts(b, ",\"availableBalance\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_puts(b, ",\"maxWithdrawAmount\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_printf(b, ",\"marginAvailable\":true,\"updateTime\":%lld}]",
                   (long long)sim_now_ms(c->sim));
}

/* GET /fapi/v3/account: totals, the USDT asset, and the positions that are
 * open or have open orders (as /fapi/v3/positionRisk lists them). */
static void ep_account_v3(bn_ctx *c) {
    sim_buf *b = &c->resp->body;
    tg_dec wallet = sim_idec(BN_WALLET_USDT), upnl = account_upnl(c), margin = wallet;
    tg_dec_add(wallet, upnl, &margin);
    static const char *const zero_totals[] = {"totalInitialMargin", "totalMaintMargin"};
    sim_buf_puts(b, "{");
    for (size_t i = 0; i < sizeof zero_totals / sizeof zero_totals[0]; i++) {
        sim_buf_printf(b, "\"%s\":\"0.00000000\",", zero_totals[i]);
    }
    sim_buf_puts(b, "\"totalWalletBalance\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_puts(b, ",\"totalUnrealizedProfit\":");
    sim_buf_jdec(b, upnl, 8);
    sim_buf_puts(b, ",\"totalMarginBalance\":");
    sim_buf_jdec(b, margin, 8);
    sim_buf_puts(b, ",\"totalPositionInitialMargin\":\"0.00000000\","
                    "\"totalOpenOrderInitialMargin\":\"0.00000000\",\"totalCrossWalletBalance\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_puts(b, ",\"totalCrossUnPnl\":");
    sim_buf_jdec(b, upnl, 8);
    sim_buf_puts(b, ",\"availableBalance\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_puts(b, ",\"maxWithdrawAmount\":");
    sim_buf_jdec(b, wallet, 8);
    int64_t now = sim_now_ms(c->sim);
    sim_buf_puts(b, ",\"assets\":[{\"asset\":\"USDT\",\"walletBalance\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_puts(b, ",\"unrealizedProfit\":");
    sim_buf_jdec(b, upnl, 8);
    sim_buf_puts(b, ",\"marginBalance\":");
    sim_buf_jdec(b, margin, 8);
    sim_buf_puts(b, ",\"maintMargin\":\"0.00000000\",\"initialMargin\":\"0.00000000\","
                    "\"positionInitialMargin\":\"0.00000000\",\"openOrderInitialMargin\":"
                    "\"0.00000000\",\"crossWalletBalance\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_puts(b, ",\"crossUnPnl\":");
    sim_buf_jdec(b, upnl, 8);
    sim_buf_puts(b, ",\"availableBalance\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_puts(b, ",\"maxWithdrawAmount\":");
    sim_buf_jdec(b, wallet, 8);
    sim_buf_printf(b, ",\"updateTime\":%lld}],\"positions\":[", (long long)now);
    bool first = true;
    for (size_t i = 0; i < c->sim->inst_count; i++) {
        const sim_position *p = &c->sim->acct[c->account].pos[i];
        if (tg_dec_is_zero(p->size) && sim_stops_open(c->sim, c->account, (int)i) == 0) {
            continue;
        }
        tg_dec diff, pnl = tg_dec_from_units(0), notional = pnl;
        if (tg_dec_sub(c->sim->mark[i], p->entry, &diff) == TG_DEC_OK) {
            tg_dec_mul(diff, p->size, TG_ROUND_FLOOR, &pnl);
        }
        tg_dec_mul(c->sim->mark[i], p->size, TG_ROUND_FLOOR, &notional);
        sim_buf_printf(b, "%s{\"symbol\":\"%s\",\"positionSide\":\"BOTH\",\"positionAmt\":",
                       first ? "" : ",", c->sim->inst[i].symbol);
        first = false;
        sim_buf_jdec(b, p->size, sim_qty_dp(c->sim, (int)i));
        sim_buf_puts(b, ",\"unrealizedProfit\":");
        sim_buf_jdec(b, pnl, 8);
        sim_buf_puts(b, ",\"isolatedMargin\":\"0\",\"notional\":");
        sim_buf_jdec(b, notional, 8);
        sim_buf_printf(b,
                       ",\"isolatedWallet\":\"0\",\"initialMargin\":\"0\",\"maintMargin\":\"0\","
                       "\"updateTime\":%lld}",
                       (long long)p->updated_ms);
    }
    sim_buf_puts(b, "]}");
}

static void bracket_json(const tg_sim *sim, sim_buf *b, int i) {
    assert(sim != NULL);
    assert(b != NULL);
    sim_buf_printf(b,
                   "{\"symbol\":\"%s\",\"notionalCoef\":1.0,\"brackets\":[{\"bracket\":1,"
                   "\"initialLeverage\":125,\"notionalCap\":50000,\"notionalFloor\":0,"
                   "\"maintMarginRatio\":0.004,\"cum\":0.0},{\"bracket\":2,"
                   "\"initialLeverage\":100,\"notionalCap\":10000000,\"notionalFloor\":50000,"
                   "\"maintMarginRatio\":0.005,\"cum\":50.0}]}",
                   sim->inst[i].symbol);
}

/* GET /fapi/v1/leverageBracket: one fixed two-step ladder for every symbol
 * (ccxt reads it to fill in position margins). */
static void ep_leverage_bracket(bn_ctx *c) {
    if (sim_param(&c->params, "symbol") != NULL) {
        int i = need_symbol(c);
        if (i >= 0) {
            bracket_json(c->sim, &c->resp->body, i);
        }
        return;
    }
    sim_buf_puts(&c->resp->body, "[");
    for (size_t i = 0; i < c->sim->inst_count; i++) {
        sim_buf_puts(&c->resp->body, i > 0 ? "," : "");
        bracket_json(c->sim, &c->resp->body, (int)i);
    }
    sim_buf_puts(&c->resp->body, "]");
}

/* ---- algo (conditional) orders ---- */

/* Reads side, type and the flags of a new algo order into o. */
static bool algo_read_kind(bn_ctx *c, sim_order *o) {
    assert(o != NULL);
    const char *algo_type = need(c, "algoType");
    const char *side = algo_type != NULL ? need(c, "side") : NULL;
    const char *type = side != NULL ? need(c, "type") : NULL;
    if (type == NULL) {
        return false;
    }
    if (strcmp(algo_type, "CONDITIONAL") != 0) {
        bn_error(c, 400, -1116, "Invalid algoType.");
        return false;
    }
    if (strcmp(side, "BUY") != 0 && strcmp(side, "SELL") != 0) {
        bn_error(c, 400, -1117, "Invalid side.");
        return false;
    }
    o->buy = strcmp(side, "BUY") == 0;
    if (strcmp(type, "STOP_MARKET") == 0) {
        o->type = SIM_OT_STOP_MARKET;
    } else if (strcmp(type, "TAKE_PROFIT_MARKET") == 0) {
        o->type = SIM_OT_TAKE_PROFIT_MARKET;
    } else {
        bn_error(c, 400, -1116, "Invalid orderType.");
        return false;
    }
    const char *ps = sim_param(&c->params, "positionSide");
    if (ps != NULL && strcmp(ps, "BOTH") != 0) {
        bn_error(c, 400, -4061, "Order's position side does not match user's setting.");
        return false;
    }
    const char *wt = sim_param(&c->params, "workingType");
    if (wt != NULL && strcmp(wt, "MARK_PRICE") != 0 && strcmp(wt, "CONTRACT_PRICE") != 0) {
        bn_error(c, 400, -1102, "Parameter 'workingType' was not valid: '%s'.", wt);
        return false;
    }
    o->mark_price = wt != NULL && strcmp(wt, "MARK_PRICE") == 0;
    int cp = opt_bool(c, "closePosition", false);
    int ro = cp >= 0 ? opt_bool(c, "reduceOnly", false) : -1;
    int pp = ro >= 0 ? opt_bool(c, "priceProtect", false) : -1;
    if (pp < 0) {
        return false;
    }
    o->close_position = cp == 1;
    o->reduce_only = ro == 1 || cp == 1;
    o->price_protect = pp == 1;
    /* STOP BUY and TAKE_PROFIT SELL fire on a rise; the other two on a fall */
    o->rise = o->buy == (o->type == SIM_OT_STOP_MARKET);
    return true;
}

/* Trigger price, quantity and the checks against the book and the mark. */
static bool algo_read_prices(bn_ctx *c, sim_order *o) {
    const char *tp = need(c, "triggerPrice");
    if (tp == NULL || !parse_price(c, o->symbol, "triggerPrice", tp, &o->trigger)) {
        return false;
    }
    const char *q = sim_param(&c->params, "quantity");
    if (o->close_position && q != NULL) {
        bn_error(c, 400, -4137, "Quantity must be zero with closePosition equals true.");
        return false;
    }
    if (!o->close_position && (q = need(c, "quantity")) == NULL) {
        return false;
    }
    if (!o->close_position && !parse_qty(c, o->symbol, q, &o->qty)) {
        return false;
    }
    tg_dec mark = c->sim->mark[o->symbol];
    if (o->rise ? tg_dec_ge(mark, o->trigger) : tg_dec_le(mark, o->trigger)) {
        bn_error(c, 400, -2021, "Order would immediately trigger.");
        return false;
    }
    return true;
}

/* -4045 and -4130: the per-symbol cap and the one closePosition stop per
 * direction. */
static bool algo_check_book(bn_ctx *c, const sim_order *o) {
    assert(o != NULL);
    if (sim_stops_open(c->sim, c->account, o->symbol) >= SIM_STOPS_PER_SYMBOL) {
        bn_error(c, 400, -4045, "Reach max stop order limit.");
        return false;
    }
    for (size_t i = 0; o->close_position && i < c->sim->orders_max; i++) {
        const sim_order *x = &c->sim->orders[i];
        if (x->live && x->conditional && x->account == c->account && x->symbol == o->symbol &&
            x->close_position && x->buy == o->buy && x->type == o->type) {
            bn_error(c, 400, -4130,
                     "An open stop or take profit order with GTE and closePosition in the "
                     "direction is existing.");
            return false;
        }
    }
    return true;
}

static void ep_algo_new(bn_ctx *c) {
    sim_order o = {0};
    o.account = c->account;
    o.symbol = need_symbol(c);
    if (o.symbol < 0 || !algo_read_kind(c, &o) || !algo_read_prices(c, &o) ||
        !algo_check_book(c, &o) ||
        !take_client_id(c, "clientAlgoId", "newClientOrderId", o.client_id)) {
        return;
    }
    sim_order *slot = sim_order_new(c->sim);
    if (slot == NULL) {
        bn_error(c, 400, -4045, "Reach max stop order limit.");
        return;
    }
    uint64_t id = slot->id;
    int64_t t = slot->created_ms;
    *slot = o;
    slot->live = true;
    slot->conditional = true;
    slot->id = id;
    slot->created_ms = slot->updated_ms = t;
    algo_json(c, &c->resp->body, slot, "NEW");
    sim_stop_placed(c->sim, slot);
}

/* The algo order named by algoId or clientAlgoId; NULL after answering. */
static sim_order *algo_lookup(bn_ctx *c, int code, const char *msg) {
    const char *id = sim_param(&c->params, "algoId");
    const char *cid = sim_param(&c->params, "clientAlgoId");
    if ((id == NULL || id[0] == '\0') && (cid == NULL || cid[0] == '\0')) {
        bn_missing(c, "algoId");
        return NULL;
    }
    uint64_t n = id != NULL ? strtoull(id, NULL, 10) : 0;
    sim_order *o = c->resp->stale ? NULL : sim_order_find(c->sim, c->account, n, cid);
    if (o == NULL || !o->conditional) {
        bn_error(c, 400, code, "%s", msg);
        return NULL;
    }
    return o;
}

static void ep_algo_cancel(bn_ctx *c) {
    sim_order *o = algo_lookup(c, -2011, "Unknown order sent.");
    if (o == NULL) {
        return;
    }
    sim_buf_printf(&c->resp->body, "{\"algoId\":%llu,\"clientAlgoId\":", (unsigned long long)o->id);
    sim_buf_jstr(&c->resp->body, o->client_id);
    sim_buf_puts(&c->resp->body, ",\"code\":\"200\",\"msg\":\"success\"}");
    sim_order_cancel(c->sim, o);
}

/* An order by id or client id: the open one, else the latest closed one
 * from the history with its final status; NULL after -1102/code. */
static const sim_order *lookup_any(bn_ctx *c, bool conditional, const char *id_name,
                                   const char *cid_name, const char **status) {
    const char *id = sim_param(&c->params, id_name);
    const char *cid = sim_param(&c->params, cid_name);
    if ((id == NULL || id[0] == '\0') && (cid == NULL || cid[0] == '\0')) {
        bn_missing(c, id_name);
        return NULL;
    }
    uint64_t n = id != NULL ? strtoull(id, NULL, 10) : 0;
    const sim_order *o = c->resp->stale ? NULL : sim_order_find(c->sim, c->account, n, cid);
    *status = "NEW";
    if (o == NULL && !c->resp->stale) {
        o = sim_history_find(c->sim, c->account, n, cid, status);
    }
    if (o == NULL || o->conditional != conditional) {
        bn_error(c, 400, -2013, "Order does not exist.");
        return NULL;
    }
    return o;
}

/* GET /fapi/v1/algoOrder: open, or closed with its final algoStatus
 * (CANCELED, EXPIRED, FINISHED) while it is in the history. */
static void ep_algo_get(bn_ctx *c) {
    const char *status = NULL;
    const sim_order *o = lookup_any(c, true, "algoId", "clientAlgoId", &status);
    if (o != NULL) {
        algo_json(c, &c->resp->body, o, status);
    }
}

/* Lists the account's open orders (conditional or not), one symbol or all. */
static void list_orders(bn_ctx *c, bool conditional) {
    int only = -1;
    if (sim_param(&c->params, "symbol") != NULL && (only = need_symbol(c)) < 0) {
        return;
    }
    sim_buf *b = &c->resp->body;
    sim_buf_puts(b, "[");
    bool first = true;
    for (size_t i = 0; i < c->sim->orders_max && !c->resp->stale; i++) {
        const sim_order *o = &c->sim->orders[i];
        if (!o->live || o->account != c->account || o->conditional != conditional ||
            (only >= 0 && o->symbol != only)) {
            continue;
        }
        if (!first) {
            sim_buf_puts(b, ",");
        }
        first = false;
        if (conditional) {
            algo_json(c, b, o, "NEW");
        } else {
            order_json(c->sim, b, o, "NEW", tg_dec_from_units(0), tg_dec_from_units(0));
        }
    }
    sim_buf_puts(b, "]");
}

static void ep_algo_open(bn_ctx *c) {
    list_orders(c, true);
}

static void cancel_all(bn_ctx *c, bool conditional) {
    int symbol = need_symbol(c);
    if (symbol < 0) {
        return;
    }
    for (size_t i = 0; i < c->sim->orders_max; i++) {
        sim_order *o = &c->sim->orders[i];
        if (o->live && o->account == c->account && o->symbol == symbol &&
            o->conditional == conditional) {
            sim_order_cancel(c->sim, o);
        }
    }
    sim_buf_puts(&c->resp->body,
                 "{\"code\":200,\"msg\":\"The operation of cancel all open order is done.\"}");
}

static void ep_algo_cancel_all(bn_ctx *c) {
    cancel_all(c, true);
}

/* ---- regular orders ---- */

/* MARKET: fills now at the mark. reduceOnly never opens or flips. */
static void order_market(bn_ctx *c, sim_order *o) {
    assert(o != NULL);
    const sim_position *p = &c->sim->acct[c->account].pos[o->symbol];
    tg_dec abs_size, qty = o->qty;
    tg_dec_abs(p->size, &abs_size);
    if (o->reduce_only) {
        if (tg_dec_is_zero(p->size) || o->buy == tg_dec_is_pos(p->size)) {
            bn_error(c, 400, -2022, "ReduceOnly Order is rejected.");
            return;
        }
        qty = tg_dec_min(qty, abs_size);
    } else {
        tg_dec notional;
        if (tg_dec_mul(qty, c->sim->mark[o->symbol], TG_ROUND_FLOOR, &notional) != TG_DEC_OK ||
            tg_dec_lt(notional, c->sim->inst[o->symbol].notional_d)) {
            bn_error(c, 400, -4164,
                     "Order's notional must be no smaller than %s (unless you choose reduce only).",
                     c->sim->inst[o->symbol].notional);
            return;
        }
    }
    o->updated_ms = o->created_ms;
    order_json(c->sim, &c->resp->body, o, "FILLED", qty, c->sim->mark[o->symbol]);
    tg_dec signed_qty = o->buy ? qty : tg_dec_from_units(-qty.units);
    sim_market_fill(c->sim, c->account, o->symbol, signed_qty, o->reduce_only, o->client_id, o->id);
}

static bool order_read(bn_ctx *c, sim_order *o, const char **type) {
    assert(o != NULL);
    const char *side = need(c, "side");
    *type = side != NULL ? need(c, "type") : NULL;
    if (*type == NULL) {
        return false;
    }
    static const char *const algo_types[] = {"STOP", "STOP_MARKET", "TAKE_PROFIT",
                                             "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"};
    for (size_t i = 0; i < sizeof algo_types / sizeof algo_types[0]; i++) {
        if (strcmp(*type, algo_types[i]) == 0) {
            bn_error(c, 400, -4120,
                     "Order type not supported for this endpoint. Please use the Algo Order API "
                     "endpoints instead.");
            return false;
        }
    }
    if (strcmp(side, "BUY") != 0 && strcmp(side, "SELL") != 0) {
        bn_error(c, 400, -1117, "Invalid side.");
        return false;
    }
    o->buy = strcmp(side, "BUY") == 0;
    int ro = opt_bool(c, "reduceOnly", false);
    if (ro < 0) {
        return false;
    }
    o->reduce_only = ro == 1;
    const char *q = need(c, "quantity");
    return q != NULL && parse_qty(c, o->symbol, q, &o->qty);
}

static void ep_order_new(bn_ctx *c) {
    sim_order o = {0};
    o.account = c->account;
    const char *type = NULL;
    o.symbol = need_symbol(c);
    if (o.symbol < 0 || !order_read(c, &o, &type)) {
        return;
    }
    if (strcmp(type, "MARKET") != 0 && strcmp(type, "LIMIT") != 0) {
        bn_error(c, 400, -1116, "Invalid orderType.");
        return;
    }
    if (!take_client_id(c, "newClientOrderId", "newClientOrderId", o.client_id)) {
        return;
    }
    o.created_ms = sim_now_ms(c->sim);
    if (strcmp(type, "MARKET") == 0) {
        o.type = SIM_OT_MARKET;
        o.id = c->sim->next_order_id++;
        order_market(c, &o);
        return;
    }
    const char *price = need(c, "price");
    if (price == NULL || !parse_price(c, o.symbol, "price", price, &o.price) ||
        need(c, "timeInForce") == NULL) {
        return;
    }
    sim_order *slot = sim_order_new(c->sim);
    if (slot == NULL) {
        bn_error(c, 400, -1015, "Too many new orders.");
        return;
    }
    uint64_t id = slot->id;
    *slot = o;
    slot->live = true;
    slot->type = SIM_OT_LIMIT;
    slot->id = id;
    slot->updated_ms = slot->created_ms;
    order_json(c->sim, &c->resp->body, slot, "NEW", tg_dec_from_units(0), tg_dec_from_units(0));
}

/* The regular order named by orderId / origClientOrderId; NULL after
 * answering. */
static sim_order *order_lookup(bn_ctx *c, int code, const char *msg) {
    if (need_symbol(c) < 0) {
        return NULL;
    }
    const char *id = sim_param(&c->params, "orderId");
    const char *cid = sim_param(&c->params, "origClientOrderId");
    if ((id == NULL || id[0] == '\0') && (cid == NULL || cid[0] == '\0')) {
        bn_missing(c, "orderId");
        return NULL;
    }
    uint64_t n = id != NULL ? strtoull(id, NULL, 10) : 0;
    sim_order *o = c->resp->stale ? NULL : sim_order_find(c->sim, c->account, n, cid);
    if (o == NULL || o->conditional) {
        bn_error(c, 400, code, "%s", msg);
        return NULL;
    }
    return o;
}

static void ep_order_cancel(bn_ctx *c) {
    sim_order *o = order_lookup(c, -2011, "Unknown order sent.");
    if (o != NULL) {
        order_json(c->sim, &c->resp->body, o, "CANCELED", tg_dec_from_units(0),
                   tg_dec_from_units(0));
        sim_order_cancel(c->sim, o);
    }
}

static void ep_order_get(bn_ctx *c) {
    const char *status = NULL;
    const sim_order *o =
        need_symbol(c) < 0 ? NULL : lookup_any(c, false, "orderId", "origClientOrderId", &status);
    if (o != NULL) {
        order_json(c->sim, &c->resp->body, o, status, tg_dec_from_units(0), tg_dec_from_units(0));
    }
}

static void ep_order_open(bn_ctx *c) {
    list_orders(c, false);
}

static void ep_order_cancel_all(bn_ctx *c) {
    cancel_all(c, false);
}

/* ---- user data stream ---- */

static void ep_listen_key_new(bn_ctx *c) {
    sim_account *a = &c->sim->acct[c->account];
    int64_t now = sim_now_ms(c->sim);
    if (a->listen_key[0] == '\0' || a->listen_key_expiry_ms <= now) {
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (int i = 0; i < SIM_LISTEN_KEY_LEN; i++) {
            a->listen_key[i] = alphabet[sim_rand(c->sim) % (sizeof alphabet - 1)];
        }
        a->listen_key[SIM_LISTEN_KEY_LEN] = '\0';
    }
    a->listen_key_expiry_ms = now + BN_LISTEN_KEY_MS;
    sim_buf_printf(&c->resp->body, "{\"listenKey\":\"%s\"}", a->listen_key);
}

static void ep_listen_key_keep(bn_ctx *c) {
    sim_account *a = &c->sim->acct[c->account];
    int64_t now = sim_now_ms(c->sim);
    if (a->listen_key[0] == '\0' || a->listen_key_expiry_ms <= now) {
        bn_error(c, 400, -1125, "This listenKey does not exist.");
        return;
    }
    a->listen_key_expiry_ms = now + BN_LISTEN_KEY_MS;
    sim_buf_printf(&c->resp->body, "{\"listenKey\":\"%s\"}", a->listen_key);
}

static void ep_listen_key_close(bn_ctx *c) {
    sim_account *a = &c->sim->acct[c->account];
    if (a->listen_key[0] != '\0') {
        char key[SIM_LISTEN_KEY_LEN + 1];
        memcpy(key, a->listen_key, sizeof key);
        a->listen_key[0] = '\0';
        sim_ws_listen_key_expired(c->sim, c->account, key);
    }
    sim_buf_puts(&c->resp->body, "{}");
}

/* ---- dispatch ---- */

static const bn_route routes[] = {
    {"GET", "/fapi/v1/ping", BN_NONE, 1, 0, false, ep_ping},
    {"GET", "/fapi/v1/time", BN_NONE, 1, 0, false, ep_time},
    {"GET", "/fapi/v1/exchangeInfo", BN_NONE, 1, 0, false, ep_exchange_info},
    {"GET", "/fapi/v1/premiumIndex", BN_NONE, 1, 10, false, ep_premium_index},
    {"GET", "/fapi/v2/positionRisk", BN_SIGNED, 5, 0, false, ep_position_risk_v2},
    {"GET", "/fapi/v3/positionRisk", BN_SIGNED, 5, 0, false, ep_position_risk_v3},
    {"GET", "/fapi/v1/leverageBracket", BN_SIGNED, 1, 0, false, ep_leverage_bracket},
    {"GET", "/fapi/v2/balance", BN_SIGNED, 5, 0, false, ep_balance},
    {"GET", "/fapi/v3/balance", BN_SIGNED, 5, 0, false, ep_balance},
    {"GET", "/fapi/v3/account", BN_SIGNED, 5, 0, false, ep_account_v3},
    {"POST", "/fapi/v1/algoOrder", BN_SIGNED, 0, 0, true, ep_algo_new},
    {"DELETE", "/fapi/v1/algoOrder", BN_SIGNED, 1, 0, false, ep_algo_cancel},
    {"GET", "/fapi/v1/algoOrder", BN_SIGNED, 1, 0, false, ep_algo_get},
    {"GET", "/fapi/v1/openAlgoOrders", BN_SIGNED, 1, 40, false, ep_algo_open},
    {"DELETE", "/fapi/v1/algoOpenOrders", BN_SIGNED, 1, 0, false, ep_algo_cancel_all},
    {"POST", "/fapi/v1/order", BN_SIGNED, 0, 0, true, ep_order_new},
    {"DELETE", "/fapi/v1/order", BN_SIGNED, 1, 0, false, ep_order_cancel},
    {"GET", "/fapi/v1/order", BN_SIGNED, 1, 0, false, ep_order_get},
    {"GET", "/fapi/v1/openOrders", BN_SIGNED, 1, 40, false, ep_order_open},
    {"DELETE", "/fapi/v1/allOpenOrders", BN_SIGNED, 1, 0, false, ep_order_cancel_all},
    {"POST", "/fapi/v1/listenKey", BN_KEY, 1, 0, false, ep_listen_key_new},
    {"PUT", "/fapi/v1/listenKey", BN_KEY, 1, 0, false, ep_listen_key_keep},
    {"DELETE", "/fapi/v1/listenKey", BN_KEY, 1, 0, false, ep_listen_key_close},
};

/* Removes the signature pair from raw[0..len) into out; returns the
 * signature's raw value through sig (NUL-terminated, bounded). */
static size_t strip_signature(const char *raw, size_t len, char *out, char *sig, size_t sig_cap) {
    size_t o = 0, i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && raw[i] != '&') {
            i++;
        }
        size_t plen = i - start;
        if (plen >= 10 && memcmp(raw + start, "signature=", 10) == 0) {
            size_t n = plen - 10 < sig_cap - 1 ? plen - 10 : sig_cap - 1;
            memcpy(sig, raw + start + 10, n);
            sig[n] = '\0';
        } else {
            if (o > 0) {
                out[o++] = '&';
            }
            memcpy(out + o, raw + start, plen);
            o += plen;
        }
        i++;
    }
    out[o] = '\0';
    return o;
}

/* Checks the HMAC over query‖body (signature removed) and the recvWindow. */
static bool check_signed(bn_ctx *c, char *total, size_t *total_len) {
    char sig[80] = "";
    size_t q = strip_signature(c->req->query, strlen(c->req->query), total, sig, sizeof sig);
    size_t b = strip_signature(c->req->body != NULL ? c->req->body : "", c->req->body_len,
                               total + q, sig, sizeof sig);
    *total_len = q + b;
    const char *ts_text = sim_param(&c->params, "timestamp");
    if (ts_text == NULL || ts_text[0] == '\0') {
        bn_missing(c, "timestamp");
        return false;
    }
    if (sig[0] == '\0') {
        bn_missing(c, "signature");
        return false;
    }
    if (!sim_hmac_verify(c->sim->acct[c->account].secret, total, *total_len, sig)) {
        bn_error(c, 400, -1022, "Signature for this request is not valid.");
        return false;
    }
    /* Both are read with a range before any arithmetic: strtoll saturates
     * and now - LLONG_MIN overflows. */
    int64_t ts = 0, rw = BN_RECV_WINDOW_MS;
    if (!sim_text_int(ts_text, 0, SIM_JSON_INT_MAX, &ts)) {
        bn_missing(c, "timestamp");
        return false;
    }
    const char *rw_text = sim_param(&c->params, "recvWindow");
    if (rw_text != NULL && !sim_text_int(rw_text, 1, BN_RECV_WINDOW_MAX, &rw)) {
        bn_error(c, 400, -1131, "recvWindow must be less than %d.", BN_RECV_WINDOW_MAX);
        return false;
    }
    int64_t now = sim_now_ms(c->sim);
    if (ts >= now + BN_AHEAD_MS) {
        bn_error(c, 400, -1021,
                 "Timestamp for this request was 1000ms ahead of the server's time.");
        return false;
    }
    if (now - ts > rw) {
        bn_error(c, 400, -1021, "Timestamp for this request is outside of the recvWindow.");
        return false;
    }
    return true;
}

static bool authenticate(bn_ctx *c, bn_security sec, sim_log_entry *log) {
    assert(log != NULL);
    if (sec == BN_NONE) {
        return true;
    }
    const char *key = sim_http_header(c->req, "x-mbx-apikey");
    if (key == NULL || key[0] == '\0') {
        bn_error(c, 401, -2014, "API-key format invalid.");
        return false;
    }
    c->account = sim_account_by_key(c->sim, SIM_BINANCE, key);
    if (c->account < 0) {
        bn_error(c, 401, -2015, "Invalid API-key, IP, or permissions for action.");
        return false;
    }
    c->resp->account = c->account;
    sim_strlcpy(log->account, c->sim->acct[c->account].name, sizeof log->account);
    if (sec == BN_KEY) {
        return true;
    }
    char *total = malloc(BN_RAW_MAX + 2);
    if (total == NULL) {
        bn_error(c, 500, -1001, "Internal error; unable to process your request.");
        return false;
    }
    size_t n = 0;
    bool ok = check_signed(c, total, &n);
    free(total);
    return ok;
}

/* The weight limit, per IP (all of loopback); false after answering
 * 429/418. */
static bool rate_limit(bn_ctx *c, const bn_route *r) {
    sim_rate *rt = &c->sim->rate;
    int64_t now = sim_now_ms(c->sim);
    if (now / 60000 != rt->bn_minute) {
        rt->bn_minute = now / 60000;
        rt->bn_weight = 0;
        memset(rt->bn_orders, 0, sizeof rt->bn_orders);
        rt->bn_limited = false;
    }
    int w = r->weight;
    if (r->weight_all != 0 && sim_param(&c->params, "symbol") == NULL) {
        w = r->weight_all;
    }
    rt->bn_weight += w;
    sim_resp_header(c->resp, "X-MBX-USED-WEIGHT-1M: %lld", (long long)rt->bn_weight);
    bool over = rt->bn_weight > rt->bn_weight_max;
    if (now < rt->bn_ban_until_ms || (over && rt->bn_limited)) {
        if (now >= rt->bn_ban_until_ms) {
            rt->bn_ban_until_ms = now + rt->bn_ban_ms;
        }
        sim_resp_header(c->resp, "Retry-After: %lld",
                        (long long)((rt->bn_ban_until_ms - now + 999) / 1000));
        bn_error(c, 418, -1003,
                 "Way too many requests; IP(127.0.0.1) banned until %lld. Please use the "
                 "websocket for live updates to avoid bans.",
                 (long long)rt->bn_ban_until_ms);
        return false;
    }
    if (!over) {
        return true;
    }
    rt->bn_limited = true;
    sim_resp_header(c->resp, "Retry-After: %lld", (long long)(60 - (now / 1000) % 60));
    bn_error(c, 429, -1003,
             "Too many requests; current limit is %lld requests per minute. Please use the "
             "websocket for live updates to avoid polling the API.",
             (long long)rt->bn_weight_max);
    return false;
}

/* The order-count limit, per account as on the exchange (so it is checked
 * once the signer is known); false after answering 429. */
static bool order_limit(bn_ctx *c, const bn_route *r) {
    if (!r->order) {
        return true;
    }
    assert(c->account >= 0 && c->account < SIM_ACCOUNTS_MAX);
    sim_rate *rt = &c->sim->rate;
    int64_t n = ++rt->bn_orders[c->account];
    sim_resp_header(c->resp, "X-MBX-ORDER-COUNT-10S: %lld", (long long)n);
    sim_resp_header(c->resp, "X-MBX-ORDER-COUNT-1M: %lld", (long long)n);
    if (n <= rt->bn_orders_max) {
        return true;
    }
    int64_t now = sim_now_ms(c->sim);
    sim_resp_header(c->resp, "Retry-After: %lld", (long long)(60 - (now / 1000) % 60));
    bn_error(c, 429, -1015, "Too many new orders; current limit is %lld orders per MINUTE.",
             (long long)rt->bn_orders_max);
    return false;
}

static const bn_route *find_route(const sim_http_req *req, bool *path_known) {
    assert(req != NULL);
    *path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(routes[i].path, req->path) == 0) {
            *path_known = true;
            if (strcmp(routes[i].method, req->method) == 0) {
                return &routes[i];
            }
        }
    }
    return NULL;
}

/* The logged parameters: query and body without the signature. */
static void log_params(const sim_http_req *req, sim_log_entry *log) {
    assert(req != NULL);
    assert(log != NULL);
    char sig[8];
    char *tmp = malloc(BN_RAW_MAX + 2);
    if (tmp == NULL) {
        return;
    }
    size_t q = strip_signature(req->query, strlen(req->query), tmp, sig, sizeof sig);
    if (req->body_len > 0 && q > 0) {
        tmp[q++] = '&';
    }
    strip_signature(req->body != NULL ? req->body : "", req->body_len, tmp + q, sig, sizeof sig);
    sim_strlcpy(log->params, tmp, sizeof log->params);
    free(tmp);
}

void sim_binance_handle(tg_sim *sim, const sim_http_req *req, sim_resp *resp, sim_log_entry *log) {
    assert(log != NULL);
    assert(sim != NULL && req != NULL && resp != NULL);
    bn_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        resp->status = 500;
        return;
    }
    c->sim = sim;
    c->req = req;
    c->resp = resp;
    c->account = -1;
    resp->status = 200;
    log_params(req, log);
    bool known = false;
    const bn_route *r = find_route(req, &known);
    if (!sim_params_parse(req->query, strlen(req->query), &c->params) ||
        !sim_params_parse(req->body, req->body_len, &c->params)) {
        bn_error(c, 400, -1100, "Illegal characters found in a parameter.");
    } else if (r == NULL) {
        bn_error(c, known ? 405 : 404, -5, "Path %s with method %s is not served.", req->path,
                 req->method);
    } else if (rate_limit(c, r) && authenticate(c, r->security, log) && order_limit(c, r)) {
        r->handler(c);
    }
    free(c);
}
