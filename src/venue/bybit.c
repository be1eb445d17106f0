/* Bybit v5, category=linear: the protective stop is the position's own
 * Full stop-loss, set, moved and removed by one call to
 * /v5/position/trading-stop, so a replace leaves no unprotected window. */
#define _POSIX_C_SOURCE 200809L

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "venue/internal.h"

#define BY_SETTLE_COIN "USDT" /* positions and orders listed by settle coin */

enum {
    BY_START = 0,
    BY_LIST,       /* pages of a listing */
    BY_FIND,       /* order/realtime by id */
    BY_SET_POS,    /* re-reading positions before setting */
    BY_SET_STOP,   /* trading-stop */
    BY_SET_CANCEL, /* cancel a previous stand-alone stop order */
    BY_CANCEL,
};

static bool by_build(const tg_venue *v, const tg_vreq *req, int64_t ts_ms, char *url,
                     tg_payload *body, char headers[][TG_HTTP_HEADER_MAX], size_t *headers_count) {
    assert(v != NULL && req != NULL && req->method != NULL && req->path != NULL);
    assert(url != NULL && body != NULL && headers != NULL && headers_count != NULL);
    bool post = strcmp(req->method, "GET") != 0;
    const tg_payload *q = &req->params;
    int n = snprintf(url, TG_HTTP_URL_MAX, "%s%s%s%s", v->cfg.rest_url, req->path,
                     !post && q->len > 0 ? "?" : "", post ? "" : q->buf);
    if (post) {
        *body = *q;
    }
    size_t h = 0;
    if (post) {
        int hn = snprintf(headers[h++], TG_HTTP_HEADER_MAX, "Content-Type: application/json");
        assert(hn > 0 && hn < TG_HTTP_HEADER_MAX);
    }
    if (req->sign) {
        char sig[TG_SIGN_HEX_LEN + 1];
        tg_sign_bybit(v->sign_key, ts_ms, v->cfg.api_key, v->cfg.recv_window_ms, q->buf, sig);
        snprintf(headers[h++], TG_HTTP_HEADER_MAX, "X-BAPI-API-KEY: %s", v->cfg.api_key);
        snprintf(headers[h++], TG_HTTP_HEADER_MAX, "X-BAPI-TIMESTAMP: %" PRId64, ts_ms);
        snprintf(headers[h++], TG_HTTP_HEADER_MAX, "X-BAPI-RECV-WINDOW: %" PRId64,
                 v->cfg.recv_window_ms);
        snprintf(headers[h++], TG_HTTP_HEADER_MAX, "X-BAPI-SIGN-TYPE: 2");
        int hn = snprintf(headers[h++], TG_HTTP_HEADER_MAX, "X-BAPI-SIGN: %s", sig);
        assert(hn > 0 && hn < TG_HTTP_HEADER_MAX);
    }
    assert(h <= TG_HTTP_HEADERS_MAX);
    *headers_count = h;
    return n > 0 && n < TG_HTTP_URL_MAX;
}

static void by_decode_error(const tg_venue *v, const tg_http_resp *resp, tg_venue_error *e) {
    assert(v != NULL && resp != NULL);
    assert(e != NULL);
    tg_wire_status st;
    bool has = tg_by_parse_error(resp->body, resp->len, &st);
    e->exchange_code = has && st.code > 0 ? st.code : 0;
    tg_venue_code code =
        has ? tg_by_map_error(resp->status, st.code, st.msg) : tg_by_map_error(resp->status, 0, "");
    if (has && code == TG_VENUE_OK) {
        code = TG_VENUE_E_TRANSPORT; /* no envelope at all */
    }
    if (code != TG_VENUE_OK) {
        char detail[TG_WIRE_MSG_MAX + 32];
        int n = snprintf(detail, sizeof detail, "HTTP %d %s", resp->status, has ? st.msg : "");
        assert(n > 0 && (size_t)n < sizeof detail);
        tg_venue_fail(v, e, code, "request", detail);
    }
}

static void by_time_req(tg_vreq *req) {
    assert(req != NULL);
    tg_vreq_init(req, "GET", "/v5/market/time", false, 1);
}

static void clear_error(tg_venue_op *op) {
    assert(op != NULL);
    memset(&op->reply.error, 0, sizeof op->reply.error);
}

static tg_vnext bad_body(const tg_venue *v, tg_venue_op *op, const tg_err *err) {
    assert(v != NULL && op != NULL);
    assert(err != NULL);
    tg_venue_fail(v, &op->reply.error, TG_VENUE_E_TRANSPORT, "response", err->msg);
    return TG_VNEXT_DONE;
}

/* The first (or, with op->cursor set, the next) page of a listing. */
static void req_list(tg_venue_op *op) {
    assert(op != NULL);
    assert(op->reply.op == TG_VOP_RULES || op->reply.op == TG_VOP_POSITIONS ||
           op->reply.op == TG_VOP_STOPS);
    tg_vreq *req = &op->req;
    switch (op->reply.op) {
    case TG_VOP_RULES:
        tg_vreq_init(req, "GET", "/v5/market/instruments-info", false, 1);
        tg_payload_add(&req->params, "category", "linear");
        tg_payload_add(&req->params, "limit", "1000");
        break;
    case TG_VOP_POSITIONS:
        tg_vreq_init(req, "GET", "/v5/position/list", true, 1);
        tg_payload_add(&req->params, "category", "linear");
        tg_payload_add(&req->params, "settleCoin", BY_SETTLE_COIN);
        tg_payload_add(&req->params, "limit", "200");
        break;
    default:
        tg_vreq_init(req, "GET", "/v5/order/realtime", true, 1);
        tg_payload_add(&req->params, "category", "linear");
        if (op->symbol[0] != '\0') {
            tg_payload_add(&req->params, "symbol", op->symbol);
        } else {
            tg_payload_add(&req->params, "settleCoin", BY_SETTLE_COIN);
        }
        tg_payload_add(&req->params, "orderFilter", "StopOrder");
        tg_payload_add(&req->params, "limit", "50");
        break;
    }
    if (op->cursor[0] != '\0') {
        tg_payload_add(&req->params, "cursor", op->cursor);
    }
    op->step = BY_LIST;
}

static tg_vnext no_memory(const tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL);
    tg_venue_fail(v, &op->reply.error, TG_VENUE_E_TRANSPORT, "response",
                  "out of memory for the reply's list");
    return TG_VNEXT_DONE;
}

/* One page decoded and appended to the operation's own array (two
 * listings in flight never share one); then the next page or done. */
static tg_vnext by_page(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp) {
    assert(v != NULL && op != NULL && resp != NULL);
    assert(op->step == BY_LIST && op->pages < TG_VENUE_PAGES_MAX);
    tg_err err;
    tg_wire_page page;
    tg_status st;
    op->pages++;
    tg_venue_reply *r = &op->reply;
    if (r->op == TG_VOP_RULES) {
        tg_venue_rules *rules = tg_venue_op_rules(op);
        if (rules == NULL) {
            return no_memory(v, op);
        }
        st = tg_by_parse_rules(resp->body, resp->len, rules + r->rules_count,
                               TG_VENUE_RULES_MAX - r->rules_count, &page, &err);
        r->rules = rules;
        r->rules_count += st == TG_OK ? page.count : 0;
    } else if (r->op == TG_VOP_POSITIONS) {
        tg_venue_position *pos = tg_venue_op_positions(op);
        if (pos == NULL) {
            return no_memory(v, op);
        }
        st = tg_by_parse_positions(resp->body, resp->len, pos + r->positions_count,
                                   TG_VENUE_POSITIONS_MAX - r->positions_count, &page, &err);
        r->positions = pos;
        r->positions_count += st == TG_OK ? page.count : 0;
    } else {
        tg_venue_stop *stops = tg_venue_op_stops(op);
        if (stops == NULL) {
            return no_memory(v, op);
        }
        st = tg_by_parse_orders(resp->body, resp->len, stops + r->stops_count,
                                TG_VENUE_STOPS_MAX - r->stops_count, &page, &err);
        r->stops = stops;
        r->stops_count += st == TG_OK ? page.count : 0;
    }
    assert(r->rules_count <= TG_VENUE_RULES_MAX);
    assert(r->positions_count <= TG_VENUE_POSITIONS_MAX);
    assert(r->stops_count <= TG_VENUE_STOPS_MAX);
    if (st != TG_OK) {
        return bad_body(v, op, &err);
    }
    if (page.cursor[0] != '\0' && page.count > 0 && op->pages < TG_VENUE_PAGES_MAX) {
        int n = snprintf(op->cursor, sizeof op->cursor, "%s", page.cursor);
        assert(n > 0 && (size_t)n < sizeof op->cursor);
        req_list(op);
        return TG_VNEXT_SEND;
    }
    if (r->op == TG_VOP_POSITIONS) {
        tg_venue_positions_replace(v, r->positions, r->positions_count);
    }
    return TG_VNEXT_DONE;
}

static void req_trading_stop(tg_vreq *req, const char *symbol, int position_idx,
                             const char *price) {
    assert(req != NULL && symbol != NULL && price != NULL);
    assert(position_idx >= 0 && position_idx <= 2);
    tg_vreq_init(req, "POST", "/v5/position/trading-stop", true, 1);
    tg_payload *q = &req->params;
    tg_payload_json_begin(q);
    tg_payload_json_str(q, "category", "linear");
    tg_payload_json_str(q, "symbol", symbol);
    tg_payload_json_str(q, "tpslMode", "Full");
    tg_payload_json_num(q, "positionIdx", position_idx);
    tg_payload_json_str(q, "stopLoss", price);
    tg_payload_json_str(q, "slTriggerBy", "MarkPrice");
    tg_payload_json_end(q);
}

static void req_cancel_order(tg_vreq *req, const tg_venue_stop *s) {
    assert(req != NULL && s != NULL);
    tg_vreq_init(req, "POST", "/v5/order/cancel", true, 1);
    tg_payload *q = &req->params;
    tg_payload_json_begin(q);
    tg_payload_json_str(q, "category", "linear");
    tg_payload_json_str(q, "symbol", s->symbol);
    if (s->order_id[0] != '\0') {
        tg_payload_json_str(q, "orderId", s->order_id);
    } else {
        tg_payload_json_str(q, "orderLinkId", s->client_id);
    }
    tg_payload_json_end(q);
}

static void req_find(tg_venue_op *op) {
    assert(op != NULL && op->reply.op == TG_VOP_FIND_STOP);
    assert(op->target.order_id[0] != '\0' || op->target.client_id[0] != '\0');
    tg_vreq *req = &op->req;
    tg_vreq_init(req, "GET", "/v5/order/realtime", true, 1);
    tg_payload_add(&req->params, "category", "linear");
    tg_payload_add(&req->params, "symbol", op->target.symbol);
    if (op->target.order_id[0] != '\0') {
        tg_payload_add(&req->params, "orderId", op->target.order_id);
    } else {
        tg_payload_add(&req->params, "orderLinkId", op->target.client_id);
    }
    op->step = BY_FIND;
}

static tg_vnext set_send(tg_venue *v, tg_venue_op *op) {
    assert(op != NULL && op->reply.op == TG_VOP_SET_STOP);
    assert(tg_dec_is_pos(op->set.trigger));
    (void)v;
    char price[TG_DEC_STR_MAX];
    size_t price_len = tg_dec_format(op->set.trigger, 0, price);
    assert(price_len > 0 && price_len < sizeof price);
    req_trading_stop(&op->req, op->set.symbol, op->set.position_idx, price);
    op->step = BY_SET_STOP;
    return TG_VNEXT_SEND;
}

static tg_vnext set_start(tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL);
    assert(op->reply.op == TG_VOP_SET_STOP && op->step == BY_START);
    const tg_venue_stop_req *s = &op->set;
    if (tg_dec_is_pos(s->prev.trigger) && tg_dec_eq(s->prev.trigger, s->trigger) &&
        (s->prev.position_level || s->prev.order_id[0] == '\0')) {
        op->reply.stop = s->prev;
        op->reply.mode = TG_REPLACE_NONE;
        return TG_VNEXT_DONE;
    }
    char key[TG_VENUE_KEY_MAX];
    (void)tg_venue_position_key(s->symbol, s->side, key, sizeof key);
    if (tg_venue_position_find(v, key) == NULL) { /* unknown here: ask the exchange */
        op->cursor[0] = '\0';
        op->pages = 0;
        tg_vreq_init(&op->req, "GET", "/v5/position/list", true, 1);
        tg_payload_add(&op->req.params, "category", "linear");
        tg_payload_add(&op->req.params, "symbol", s->symbol);
        op->step = BY_SET_POS;
        return TG_VNEXT_SEND;
    }
    return set_send(v, op);
}

static tg_vnext set_positions_read(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp) {
    assert(v != NULL && op != NULL && resp != NULL);
    assert(op->step == BY_SET_POS);
    tg_err err;
    tg_wire_page page;
    tg_venue_position found[8];
    if (tg_by_parse_positions(resp->body, resp->len, found, 8, &page, &err) != TG_OK) {
        return bad_body(v, op, &err);
    }
    assert(page.count <= sizeof found / sizeof found[0]);
    for (size_t i = 0; i < page.count; i++) {
        tg_venue_position_seen(v, &found[i]);
    }
    char key[TG_VENUE_KEY_MAX];
    (void)tg_venue_position_key(op->set.symbol, op->set.side, key, sizeof key);
    if (tg_venue_position_find(v, key) == NULL) {
        tg_venue_fail(v, &op->reply.error, TG_VENUE_E_NO_POSITION, "set stop",
                      "the exchange has no open position for it");
        return TG_VNEXT_DONE;
    }
    return set_send(v, op);
}

/* The stop now on the position. */
static void set_stop_of(tg_venue_op *op) {
    assert(op != NULL && op->reply.op == TG_VOP_SET_STOP);
    const tg_venue_stop_req *r = &op->set;
    tg_venue_stop *s = &op->reply.stop;
    memset(s, 0, sizeof *s);
    int n = snprintf(s->symbol, sizeof s->symbol, "%s", r->symbol);
    assert(n > 0 && (size_t)n < sizeof s->symbol);
    (void)tg_venue_position_key(r->symbol, r->side, s->position_key, sizeof s->position_key);
    s->side = r->side;
    s->trigger = r->trigger;
    s->position_idx = r->position_idx;
    s->position_level = true;
    s->owned = true;
}

static tg_vnext set_step(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                         const tg_venue_error *e) {
    assert(v != NULL && op != NULL);
    assert(resp != NULL && e != NULL);
    assert(op->reply.op == TG_VOP_SET_STOP);
    const tg_venue_stop *prev = &op->set.prev;
    if (op->step == BY_SET_POS) {
        return e->code == TG_VENUE_OK ? set_positions_read(v, op, resp) : TG_VNEXT_DONE;
    }
    if (op->step == BY_SET_STOP) {
        if (e->code != TG_VENUE_OK && e->code != TG_VENUE_E_NOT_MODIFIED) {
            return TG_VNEXT_DONE;
        }
        clear_error(op);
        set_stop_of(op);
        op->reply.mode = tg_dec_is_pos(prev->trigger) ? TG_REPLACE_ATOMIC : TG_REPLACE_FIRST;
        if (tg_dec_is_pos(prev->trigger) && !prev->position_level &&
            (prev->order_id[0] != '\0' || prev->client_id[0] != '\0')) {
            req_cancel_order(&op->req, prev); /* a stand-alone stop from before */
            op->step = BY_SET_CANCEL;
            return TG_VNEXT_SEND;
        }
        return TG_VNEXT_DONE;
    }
    assert(op->step == BY_SET_CANCEL);
    op->reply.old_left = e->code != TG_VENUE_OK && e->code != TG_VENUE_E_UNKNOWN_ORDER;
    op->reply.mode = TG_REPLACE_PLACE_THEN_CANCEL;
    clear_error(op);
    return TG_VNEXT_DONE;
}

static tg_vnext find_step(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                          const tg_venue_error *e) {
    assert(v != NULL && op != NULL && resp != NULL && e != NULL);
    assert(op->step == BY_FIND);
    if (e->code != TG_VENUE_OK) {
        return TG_VNEXT_DONE;
    }
    tg_err err;
    tg_wire_page page;
    tg_venue_stop *stops = tg_venue_op_stops(op);
    if (stops == NULL) {
        return no_memory(v, op);
    }
    if (tg_by_parse_orders(resp->body, resp->len, stops, TG_VENUE_STOPS_MAX, &page, &err) !=
        TG_OK) {
        return bad_body(v, op, &err);
    }
    if (page.count > 0) {
        op->reply.stop = stops[0];
        op->reply.found = true;
        return TG_VNEXT_DONE;
    }
    if (++op->reads < TG_VENUE_FIND_READS) {
        op->not_before_us = tg_http_now_us() + TG_VENUE_FIND_DELAY_MS * 1000LL;
        return TG_VNEXT_DELAY;
    }
    return TG_VNEXT_DONE;
}

/* A reduce-only market order, opposite to the position. Not retried (see
 * tg_venue_close_position()). */
static void req_market_close(tg_vreq *req, const tg_venue_close_req *c) {
    assert(req != NULL && c != NULL);
    assert(c->side == TG_SIDE_LONG || c->side == TG_SIDE_SHORT);
    assert(c->position_idx >= 0 && c->position_idx <= 2);
    char qty[TG_DEC_STR_MAX];
    size_t qty_len = tg_dec_format(c->qty, 0, qty);
    assert(qty_len > 0 && qty_len < sizeof qty);
    tg_vreq_init(req, "POST", "/v5/order/create", true, 1);
    req->retry_safe = false;
    tg_payload *q = &req->params;
    tg_payload_json_begin(q);
    tg_payload_json_str(q, "category", "linear");
    tg_payload_json_str(q, "symbol", c->symbol);
    tg_payload_json_str(q, "side", c->side == TG_SIDE_LONG ? "Sell" : "Buy");
    tg_payload_json_str(q, "orderType", "Market");
    tg_payload_json_str(q, "qty", qty);
    tg_payload_json_num(q, "positionIdx", c->position_idx);
    tg_payload_json_bool(q, "reduceOnly", true);
    tg_payload_json_end(q);
}

static tg_vnext mark_read(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                          const tg_venue_error *e) {
    assert(v != NULL && op != NULL);
    assert(resp != NULL && e != NULL);
    if (e->code != TG_VENUE_OK) {
        return TG_VNEXT_DONE;
    }
    tg_err err;
    if (tg_by_parse_mark(resp->body, resp->len, op->symbol, &op->reply.mark, &op->reply.mark_ms,
                         &err) != TG_OK) {
        return bad_body(v, op, &err);
    }
    return TG_VNEXT_DONE;
}

static tg_vnext by_start(tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL);
    assert(op->step == BY_START);
    switch (op->reply.op) {
    case TG_VOP_RULES:
    case TG_VOP_POSITIONS:
    case TG_VOP_STOPS:
        req_list(op);
        return TG_VNEXT_SEND;
    case TG_VOP_FIND_STOP:
        req_find(op);
        return TG_VNEXT_SEND;
    case TG_VOP_SET_STOP:
        return set_start(v, op);
    case TG_VOP_CLOSE_POSITION:
        req_market_close(&op->req, &op->close);
        return TG_VNEXT_SEND;
    case TG_VOP_MARK:
        tg_vreq_init(&op->req, "GET", "/v5/market/tickers", false, 1);
        tg_payload_add(&op->req.params, "category", "linear");
        tg_payload_add(&op->req.params, "symbol", op->symbol);
        return TG_VNEXT_SEND;
    case TG_VOP_CANCEL_STOP:
        if (op->target.position_level) {
            req_trading_stop(&op->req, op->target.symbol, op->target.position_idx, "0");
        } else {
            req_cancel_order(&op->req, &op->target);
        }
        op->step = BY_CANCEL;
        return TG_VNEXT_SEND;
    default:
        assert(0 && "time is the queue's");
        return TG_VNEXT_DONE;
    }
}

static tg_vnext by_advance(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                           const tg_venue_error *e) {
    assert(v != NULL && op != NULL && e != NULL);
    if (resp == NULL) {
        return by_start(v, op);
    }
    switch (op->reply.op) {
    case TG_VOP_RULES:
    case TG_VOP_POSITIONS:
    case TG_VOP_STOPS:
        return e->code == TG_VENUE_OK ? by_page(v, op, resp) : TG_VNEXT_DONE;
    case TG_VOP_FIND_STOP:
        return find_step(v, op, resp, e);
    case TG_VOP_SET_STOP:
        return set_step(v, op, resp, e);
    case TG_VOP_CLOSE_POSITION:
        return TG_VNEXT_DONE; /* the error, if any, is the reply's */
    case TG_VOP_MARK:
        return mark_read(v, op, resp, e);
    default:
        assert(op->reply.op == TG_VOP_CANCEL_STOP);
        /* Unknown order, or no stop-loss left to remove: already gone. */
        if (e->code == TG_VENUE_E_UNKNOWN_ORDER || e->code == TG_VENUE_E_NOT_MODIFIED) {
            op->reply.already_gone = true;
            clear_error(op);
        }
        return TG_VNEXT_DONE;
    }
}

const tg_vadapter tg_venue_bybit = {
    .advance = by_advance,
    .decode_error = by_decode_error,
    .build = by_build,
    .time_req = by_time_req,
    .parse_time = tg_by_parse_time,
};
