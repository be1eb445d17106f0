/* Mark-price updates, stops that fire on them, fills, and the account-stream
 * events each of these sends on both venues. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h, strcasecmp */

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "sim/sim_int.h"

#define EVENT_BYTES_MAX 4096 /* bytes of one stream event */

/* ---- Binance user-data events ---- */

static void bn_algo_event(tg_sim *sim, const sim_order *o, const char *status, uint64_t child) {
    assert(sim != NULL);
    assert(o != NULL);
    sim_buf b;
    sim_buf_init(&b);
    int64_t now = sim_now_ms(sim);
    int pdp = sim_price_dp(sim, o->symbol);
    sim_buf_printf(&b,
                   "{\"e\":\"ALGO_UPDATE\",\"T\":%lld,\"E\":%lld,\"o\":{\"caid\":", (long long)now,
                   (long long)now);
    sim_buf_jstr(&b, o->client_id);
    sim_buf_printf(&b,
                   ",\"aid\":%llu,\"at\":\"CONDITIONAL\",\"o\":\"%s\",\"s\":\"%s\","
                   "\"S\":\"%s\",\"ps\":\"BOTH\",\"f\":\"GTC\",\"q\":",
                   (unsigned long long)o->id, sim_otype_name(o->type), sim->inst[o->symbol].symbol,
                   o->buy ? "BUY" : "SELL");
    sim_buf_jdec(&b, o->qty, sim_qty_dp(sim, o->symbol));
    sim_buf_printf(&b, ",\"X\":\"%s\",\"ai\":\"", status);
    if (child != 0) {
        sim_buf_printf(&b, "%llu", (unsigned long long)child);
    }
    sim_buf_puts(&b, "\",\"ap\":\"0\",\"aq\":\"0\",\"act\":\"0\",\"tp\":");
    sim_buf_jdec(&b, o->trigger, pdp);
    sim_buf_printf(&b,
                   ",\"p\":\"0\",\"V\":\"EXPIRE_MAKER\",\"wt\":\"%s\",\"pm\":\"NONE\","
                   "\"cp\":%s,\"pP\":%s,\"R\":%s,\"tt\":%lld,\"gtd\":0,\"rm\":\"\"}}",
                   o->mark_price ? "MARK_PRICE" : "CONTRACT_PRICE",
                   o->close_position ? "true" : "false", o->price_protect ? "true" : "false",
                   o->reduce_only ? "true" : "false", (long long)(child != 0 ? now : 0));
    if (!b.overflow) {
        sim_ws_push_user(sim, o->account, b.p);
    }
    sim_buf_free(&b);
}

/* One ORDER_TRADE_UPDATE of a market order: NEW, then TRADE/FILLED. */
static void bn_order_event(tg_sim *sim, int account, int symbol, bool buy, tg_dec qty, tg_dec price,
                           bool reduce, uint64_t id, const char *client, const char *orig_type,
                           tg_dec stop_price, bool filled) {
    assert(sim != NULL);
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    sim_buf b;
    sim_buf_init(&b);
    int64_t now = sim_now_ms(sim);
    int pdp = sim_price_dp(sim, symbol);
    int qdp = sim_qty_dp(sim, symbol);
    tg_dec zero = tg_dec_from_units(0);
    sim_buf_printf(&b,
                   "{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":%lld,\"T\":%lld,\"o\":{\"s\":\"%s\",\"c\":",
                   (long long)now, (long long)now, sim->inst[symbol].symbol);
    sim_buf_jstr(&b, client);
    sim_buf_printf(&b, ",\"S\":\"%s\",\"o\":\"MARKET\",\"f\":\"GTC\",\"q\":", buy ? "BUY" : "SELL");
    sim_buf_jdec(&b, qty, qdp);
    sim_buf_puts(&b, ",\"p\":\"0\",\"ap\":");
    sim_buf_jdec(&b, filled ? price : zero, pdp);
    sim_buf_puts(&b, ",\"sp\":");
    sim_buf_jdec(&b, stop_price, pdp);
    sim_buf_printf(&b, ",\"x\":\"%s\",\"X\":\"%s\",\"i\":%llu,\"l\":", filled ? "TRADE" : "NEW",
                   filled ? "FILLED" : "NEW", (unsigned long long)id);
    sim_buf_jdec(&b, filled ? qty : zero, qdp);
    sim_buf_puts(&b, ",\"z\":");
    sim_buf_jdec(&b, filled ? qty : zero, qdp);
    sim_buf_puts(&b, ",\"L\":");
    sim_buf_jdec(&b, filled ? price : zero, pdp);
    sim_buf_printf(&b,
                   ",\"N\":\"USDT\",\"n\":\"0\",\"T\":%lld,\"t\":%llu,\"b\":\"0\",\"a\":\"0\","
                   "\"m\":false,\"R\":%s,\"wt\":\"CONTRACT_PRICE\",\"ot\":\"%s\",\"ps\":\"BOTH\","
                   "\"cp\":false,\"AP\":\"0\",\"cr\":\"0\",\"pP\":false,\"si\":0,\"ss\":0,"
                   "\"rp\":\"0\",\"V\":\"EXPIRE_TAKER\",\"pm\":\"NONE\",\"gtd\":0}}",
                   (long long)now, (unsigned long long)(filled ? id : 0), reduce ? "true" : "false",
                   orig_type);
    if (!b.overflow) {
        sim_ws_push_user(sim, account, b.p);
    }
    sim_buf_free(&b);
}

static void bn_account_event(tg_sim *sim, int account, int symbol) {
    assert(sim != NULL);
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    const sim_position *p = &sim->acct[account].pos[symbol];
    sim_buf b;
    sim_buf_init(&b);
    int64_t now = sim_now_ms(sim);
    int pdp = sim_price_dp(sim, symbol);
    sim_buf_printf(&b,
                   "{\"e\":\"ACCOUNT_UPDATE\",\"E\":%lld,\"T\":%lld,\"a\":{\"m\":\"ORDER\","
                   "\"B\":[{\"a\":\"USDT\",\"wb\":\"100000\",\"cw\":\"100000\",\"bc\":\"0\"}],"
                   "\"P\":[{\"s\":\"%s\",\"pa\":",
                   (long long)now, (long long)now, sim->inst[symbol].symbol);
    sim_buf_jdec(&b, p->size, sim_qty_dp(sim, symbol));
    sim_buf_puts(&b, ",\"ep\":");
    sim_buf_jdec(&b, p->entry, pdp);
    sim_buf_puts(&b, ",\"bep\":");
    sim_buf_jdec(&b, p->entry, pdp);
    sim_buf_puts(&b,
                 ",\"cr\":\"0\",\"up\":\"0\",\"mt\":\"cross\",\"iw\":\"0\",\"ps\":\"BOTH\"}]}}");
    if (!b.overflow) {
        sim_ws_push_user(sim, account, b.p);
    }
    sim_buf_free(&b);
}

/* ---- Bybit private-stream messages ---- */

static void by_order_event(tg_sim *sim, const sim_order *o, const char *status) {
    assert(sim != NULL);
    assert(o != NULL);
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_puts(&b, "[");
    sim_by_order_json(sim, &b, o, status);
    sim_buf_puts(&b, "]");
    if (!b.overflow) {
        sim_ws_push_private(sim, o->account, "order", b.p);
    }
    sim_buf_free(&b);
}

void sim_emit_position(tg_sim *sim, int account, int symbol) {
    assert(sim != NULL);
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    if (sim->acct[account].venue == SIM_BINANCE) {
        bn_account_event(sim, account, symbol);
        return;
    }
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_puts(&b, "[");
    sim_by_position_json(sim, &b, account, symbol);
    sim_buf_puts(&b, "]");
    if (!b.overflow) {
        sim_ws_push_private(sim, account, "position", b.p);
    }
    sim_buf_free(&b);
}

static void by_execution_event(tg_sim *sim, int account, int symbol, bool buy, tg_dec qty,
                               tg_dec price, uint64_t id, const char *client,
                               const char *stop_type) {
    assert(sim != NULL);
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    sim_buf b;
    sim_buf_init(&b);
    int64_t now = sim_now_ms(sim);
    sim_buf_printf(&b,
                   "[{\"category\":\"linear\",\"symbol\":\"%s\",\"execId\":\"%llu-%llu\","
                   "\"execPrice\":",
                   sim->inst[symbol].symbol, (unsigned long long)id,
                   (unsigned long long)++sim->event_seq);
    sim_buf_jdec(&b, price, sim_price_dp(sim, symbol));
    sim_buf_puts(&b, ",\"execQty\":");
    sim_buf_jdec(&b, qty, sim_qty_dp(sim, symbol));
    sim_buf_printf(&b, ",\"execType\":\"Trade\",\"orderId\":\"%llu\",\"orderLinkId\":",
                   (unsigned long long)id);
    sim_buf_jstr(&b, client);
    sim_buf_printf(&b,
                   ",\"side\":\"%s\",\"orderType\":\"Market\",\"stopOrderType\":\"%s\","
                   "\"execFee\":\"0\",\"feeRate\":\"0\",\"isMaker\":false,\"execTime\":\"%lld\"}]",
                   buy ? "Buy" : "Sell", stop_type, (long long)now);
    if (!b.overflow) {
        sim_ws_push_private(sim, account, "execution", b.p);
    }
    sim_buf_free(&b);
}

/* ---- life of an order ---- */

void sim_stop_placed(tg_sim *sim, sim_order *o) {
    assert(sim != NULL);
    assert(o->live && o->conditional);
    if (sim->acct[o->account].venue == SIM_BINANCE) {
        bn_algo_event(sim, o, "NEW", 0);
    } else {
        by_order_event(sim, o, "Untriggered");
    }
    sim_protection_update(sim, o->account, o->symbol);
}

void sim_order_cancel(tg_sim *sim, sim_order *o) {
    assert(sim != NULL);
    assert(o->live);
    if (sim->acct[o->account].venue == SIM_BINANCE) {
        if (o->conditional) {
            bn_algo_event(sim, o, "CANCELED", 0);
        }
    } else {
        by_order_event(sim, o, o->position_sl ? "Deactivated" : "Cancelled");
    }
    bool was_sl = o->position_sl;
    int account = o->account, symbol = o->symbol;
    sim_order_close(sim, o, "CANCELED");
    if (was_sl) {
        sim_emit_position(sim, account, symbol);
    }
}

void sim_market_fill(tg_sim *sim, int account, int symbol, tg_dec signed_qty, bool reduce_only,
                     const char *client_id, uint64_t order_id) {
    assert(sim != NULL);
    assert(account >= 0 && (size_t)account < sim->acct_count);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    tg_dec price = sim->mark[symbol];
    tg_dec qty;
    tg_dec_abs(signed_qty, &qty);
    bool buy = tg_dec_is_pos(signed_qty);
    if (sim->acct[account].venue == SIM_BINANCE) {
        bn_order_event(sim, account, symbol, buy, qty, price, reduce_only, order_id, client_id,
                       "MARKET", tg_dec_from_units(0), false);
        bn_order_event(sim, account, symbol, buy, qty, price, reduce_only, order_id, client_id,
                       "MARKET", tg_dec_from_units(0), true);
    } else {
        by_execution_event(sim, account, symbol, buy, qty, price, order_id, client_id, "");
    }
    sim_position_fill(sim, account, symbol, signed_qty, price);
    sim_emit_position(sim, account, symbol);
}

/* The position went flat: reduce-only stops of the symbol expire with it. */
void sim_expire_stops(tg_sim *sim, int account, int symbol) {
    assert(sim != NULL);
    for (size_t i = 0; i < sim->orders_max; i++) {
        sim_order *o = &sim->orders[i];
        if (!o->live || o->account != account || o->symbol != symbol || !o->conditional) {
            continue;
        }
        if (!o->reduce_only && !o->close_position && !o->position_sl) {
            continue;
        }
        if (sim->acct[account].venue == SIM_BINANCE) {
            bn_algo_event(sim, o, "EXPIRED", 0);
        } else {
            by_order_event(sim, o, "Deactivated");
        }
        sim_order_close(sim, o, "EXPIRED");
    }
}

/* A stop's trigger was crossed: it becomes a market order that fills at the
 * mark, and the position closes (or shrinks). */
static void fire(tg_sim *sim, sim_order *o) {
    assert(sim != NULL);
    assert(o != NULL);
    sim_position *p = &sim->acct[o->account].pos[o->symbol];
    tg_dec abs_size;
    tg_dec_abs(p->size, &abs_size);
    bool closing_side = !tg_dec_is_zero(p->size) && (o->buy != tg_dec_is_pos(p->size));
    tg_dec qty = o->qty;
    if (o->close_position || o->position_sl || (o->reduce_only && tg_dec_gt(qty, abs_size))) {
        qty = abs_size;
    }
    bool bn = sim->acct[o->account].venue == SIM_BINANCE;
    if ((o->reduce_only || o->close_position || o->position_sl) && !closing_side) {
        qty = tg_dec_from_units(0);
    }
    if (tg_dec_is_zero(qty)) {
        if (bn) {
            bn_algo_event(sim, o, "EXPIRED", 0);
        } else {
            by_order_event(sim, o, "Deactivated");
        }
        sim_order_close(sim, o, "EXPIRED");
        return;
    }
    int account = o->account, symbol = o->symbol;
    uint64_t child = bn ? sim->next_order_id++ : o->id;
    tg_dec price = sim->mark[symbol];
    tg_dec signed_qty = o->buy ? qty : tg_dec_from_units(-qty.units);
    if (bn) {
        bn_algo_event(sim, o, "TRIGGERING", 0);
        bn_algo_event(sim, o, "TRIGGERED", child);
        bn_order_event(sim, account, symbol, o->buy, qty, price, true, child, o->client_id,
                       sim_otype_name(o->type), o->trigger, false);
        bn_order_event(sim, account, symbol, o->buy, qty, price, true, child, o->client_id,
                       sim_otype_name(o->type), o->trigger, true);
    } else {
        by_order_event(sim, o, "Triggered");
        by_execution_event(sim, account, symbol, o->buy, qty, price, o->id, o->client_id,
                           o->position_sl ? "StopLoss" : "Stop");
        by_order_event(sim, o, "Filled");
    }
    sim_order copy = *o;
    /* Fill first, then retire the stop: the position is never seen open
     * without it, so a trigger opens no unprotected window. */
    sim_position_fill(sim, account, symbol, signed_qty, price);
    sim_order_close(sim, o, bn ? "FINISHED" : "FILLED");
    sim_emit_position(sim, account, symbol);
    if (bn) {
        bn_algo_event(sim, &copy, "FINISHED", child);
    }
    if (tg_dec_is_zero(sim->acct[account].pos[symbol].size)) {
        sim_expire_stops(sim, account, symbol);
    }
}

static bool crossed(const sim_order *o, tg_dec mark) {
    assert(o != NULL);
    return o->rise ? tg_dec_ge(mark, o->trigger) : tg_dec_le(mark, o->trigger);
}

void sim_mark_set(tg_sim *sim, int symbol, tg_dec price) {
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    assert(tg_dec_is_pos(price));
    sim->mark_prev[symbol] = sim->mark[symbol];
    sim->mark[symbol] = price;
    /* Stops fire in the order they were placed (ids grow), as one matching
     * engine would see them; a fired stop can expire later ones. */
    for (;;) {
        sim_order *next = NULL;
        const uint32_t *slots = NULL;
        size_t n = sim_orders_of(sim, symbol, &slots);
        for (size_t i = 0; i < n; i++) {
            sim_order *o = &sim->orders[slots[i]];
            if (o->live && o->conditional && o->symbol == symbol && crossed(o, price) &&
                (next == NULL || o->id < next->id)) {
                next = o;
            }
        }
        if (next == NULL) {
            break;
        }
        fire(sim, next);
    }
    /* Stamped as the frames go to the sockets: benchmarks measure from here
     * to the request the mark provoked (GET /sim/marks). Not after the
     * writes return: on loopback the frame is in the subscriber's socket
     * within the write, and the write then pays for waking the subscriber's
     * CPU (18 us a write on the 2-vCPU machines here), which a stamp taken
     * after it would take off the measured latency. */
    int64_t push_us = sim_mono_us(sim);
    sim_ws_push_mark(sim, symbol, false, false);
    uint64_t seq = ++sim->marks_seq;
    sim->marks_log[(seq - 1) % SIM_MARKS_LOG_MAX] =
        (sim_mark_entry){.seq = seq, .symbol = symbol, .price = price, .push_us = push_us};
}
