/* Binance USD-M futures: conditional orders through the Algo order API,
 * every signed parameter in the query string. */
#define _POSIX_C_SOURCE 200809L

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "venue/internal.h"

#define BN_CANCEL_WEIGHT 1 /* DELETE /fapi/v1/algoOrder and /fapi/v1/order */

enum {
    BN_START = 0,
    BN_LIST,          /* a listing's single request */
    BN_LIST_REGULAR,  /* stops: then the regular orders of openOrders */
    BN_FIND_ONE,      /* GET algoOrder by id */
    BN_FIND_LIST,     /* GET openAlgoOrders, last resort */
    BN_SET_POS,       /* re-reading positions before placing */
    BN_SET_PLACE,     /* POST algoOrder, new stop first */
    BN_SET_LOOKUP,    /* GET algoOrder by clientAlgoId after a duplicate */
    BN_SET_CANCEL,    /* DELETE the old stop */
    BN_SET_FB_CANCEL, /* fallback: cancel first ... */
    BN_SET_FB_PLACE,  /* ... then place */
    BN_CANCEL,
};

static bool bn_build(const tg_venue *v, const tg_vreq *req, int64_t ts_ms, char *url,
                     tg_payload *body, char headers[][TG_HTTP_HEADER_MAX], size_t *headers_count) {
    assert(v != NULL && req != NULL && req->path != NULL);
    assert(url != NULL && headers != NULL && headers_count != NULL);
    (void)body;
    tg_payload q = req->params;
    if (req->sign) {
        tg_payload_add_i64(&q, "recvWindow", v->cfg.recv_window_ms);
        tg_payload_add_i64(&q, "timestamp", ts_ms);
        char sig[TG_SIGN_HEX_LEN + 1];
        tg_sign_binance(v->sign_key, q.buf, "", sig);
        tg_payload_add(&q, "signature", sig);
    }
    if (q.overflow) {
        return false;
    }
    int n = snprintf(url, TG_HTTP_URL_MAX, "%s%s%s%s", v->cfg.rest_url, req->path,
                     q.len > 0 ? "?" : "", q.buf);
    *headers_count = 0;
    if (req->sign || req->key_only) {
        int h = snprintf(headers[(*headers_count)++], TG_HTTP_HEADER_MAX, "X-MBX-APIKEY: %s",
                         v->cfg.api_key);
        assert(h > 0 && h < TG_HTTP_HEADER_MAX);
    }
    assert(*headers_count <= TG_HTTP_HEADERS_MAX);
    return n > 0 && n < TG_HTTP_URL_MAX;
}

static void bn_decode_error(const tg_venue *v, const tg_http_resp *resp, tg_venue_error *e) {
    assert(v != NULL && resp != NULL);
    assert(e != NULL);
    tg_wire_status st;
    bool has = tg_bn_parse_error(resp->body, resp->len, &st);
    e->exchange_code = has ? st.code : 0;
    tg_venue_code code = tg_bn_map_error(resp->status, e->exchange_code);
    if (code == TG_VENUE_OK && (resp->status < 200 || resp->status >= 300)) {
        code = TG_VENUE_E_REJECTED;
    }
    if (code != TG_VENUE_OK) {
        char detail[TG_WIRE_MSG_MAX + 32];
        int n = snprintf(detail, sizeof detail, "HTTP %d %s", resp->status, has ? st.msg : "");
        assert(n > 0 && (size_t)n < sizeof detail);
        tg_venue_fail(v, e, code, "request", detail);
    }
}

static void bn_time_req(tg_vreq *req) {
    assert(req != NULL);
    tg_vreq_init(req, "GET", "/fapi/v1/time", false, 1);
}

/* A response body decoded; on failure the reply carries the sentence. */
static tg_vnext bad_body(const tg_venue *v, tg_venue_op *op, const tg_err *err) {
    assert(v != NULL && op != NULL);
    assert(err != NULL);
    tg_venue_fail(v, &op->reply.error, TG_VENUE_E_TRANSPORT, "response", err->msg);
    return TG_VNEXT_DONE;
}

static tg_vnext no_memory(const tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL);
    tg_venue_fail(v, &op->reply.error, TG_VENUE_E_TRANSPORT, "response",
                  "out of memory for the reply's list");
    return TG_VNEXT_DONE;
}

static void req_open_orders(tg_vreq *req, const char *symbol) {
    assert(req != NULL && symbol != NULL);
    tg_vreq_init(req, "GET", "/fapi/v1/openOrders", true, symbol[0] != '\0' ? 1 : 40);
    if (symbol[0] != '\0') {
        tg_payload_add(&req->params, "symbol", symbol);
    }
}

/* A listing lands in the operation's own array: the reply points there. */
static tg_vnext bn_listing(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp) {
    assert(v != NULL && op != NULL);
    assert(resp != NULL);
    tg_err err;
    tg_wire_page page;
    tg_status st;
    switch (op->reply.op) {
    case TG_VOP_RULES: {
        tg_venue_rules *rules = tg_venue_op_rules(op);
        if (rules == NULL) {
            return no_memory(v, op);
        }
        st = tg_bn_parse_rules(resp->body, resp->len, rules, TG_VENUE_RULES_MAX, &page, &err);
        op->reply.rules = rules;
        op->reply.rules_count = st == TG_OK ? page.count : 0;
        break;
    }
    case TG_VOP_POSITIONS: {
        tg_venue_position *pos = tg_venue_op_positions(op);
        if (pos == NULL) {
            return no_memory(v, op);
        }
        st = tg_bn_parse_positions(resp->body, resp->len, pos, TG_VENUE_POSITIONS_MAX, &page, &err);
        op->reply.positions = pos;
        op->reply.positions_count = st == TG_OK ? page.count : 0;
        tg_venue_positions_replace(v, pos, op->reply.positions_count);
        v->positions_known = st == TG_OK;
        break;
    }
    default: {
        assert(op->reply.op == TG_VOP_STOPS);
        tg_venue_stop *stops = tg_venue_op_stops(op);
        if (stops == NULL) {
            return no_memory(v, op);
        }
        size_t have = op->step == BN_LIST_REGULAR ? op->reply.stops_count : 0;
        assert(have <= TG_VENUE_STOPS_MAX);
        st = op->step == BN_LIST_REGULAR
                 ? tg_bn_parse_orders(resp->body, resp->len, stops + have,
                                      TG_VENUE_STOPS_MAX - have, &page, &err)
                 : tg_bn_parse_algos(resp->body, resp->len, stops, TG_VENUE_STOPS_MAX, &page, &err);
        op->reply.stops = stops;
        op->reply.stops_count = have + (st == TG_OK ? page.count : 0);
        if (st == TG_OK && op->step != BN_LIST_REGULAR) {
            /* A stop placed through the regular order API protects as well:
             * the listing that decides "unprotected" must see it. */
            op->step = BN_LIST_REGULAR;
            req_open_orders(&op->req, op->symbol);
            return TG_VNEXT_SEND;
        }
        break;
    }
    }
    assert(op->reply.rules_count <= TG_VENUE_RULES_MAX);
    assert(op->reply.positions_count <= TG_VENUE_POSITIONS_MAX);
    assert(op->reply.stops_count <= TG_VENUE_STOPS_MAX);
    return st == TG_OK ? TG_VNEXT_DONE : bad_body(v, op, &err);
}

static void req_positions(tg_vreq *req) {
    assert(req != NULL);
    tg_vreq_init(req, "GET", "/fapi/v3/positionRisk", true, 5);
}

static void req_open_algos(tg_vreq *req, const char *symbol) {
    assert(req != NULL && symbol != NULL);
    tg_vreq_init(req, "GET", "/fapi/v1/openAlgoOrders", true, symbol[0] != '\0' ? 1 : 40);
    tg_payload_add(&req->params, "algoType", "CONDITIONAL");
    if (symbol[0] != '\0') {
        tg_payload_add(&req->params, "symbol", symbol);
    }
}

static void req_get_algo(tg_vreq *req, const char *order_id, const char *client_id) {
    assert(req != NULL && order_id != NULL && client_id != NULL);
    assert(order_id[0] != '\0' || client_id[0] != '\0');
    tg_vreq_init(req, "GET", "/fapi/v1/algoOrder", true, 1);
    if (order_id[0] != '\0') {
        tg_payload_add(&req->params, "algoId", order_id);
    } else {
        tg_payload_add(&req->params, "clientAlgoId", client_id);
    }
}

static void req_cancel(tg_vreq *req, const tg_venue_stop *stop) {
    assert(req != NULL && stop != NULL);
    if (stop->regular) {
        tg_vreq_init(req, "DELETE", "/fapi/v1/order", true, BN_CANCEL_WEIGHT);
        tg_payload_add(&req->params, "symbol", stop->symbol);
        if (stop->order_id[0] != '\0') {
            tg_payload_add(&req->params, "orderId", stop->order_id);
        } else {
            tg_payload_add(&req->params, "origClientOrderId", stop->client_id);
        }
        return;
    }
    tg_vreq_init(req, "DELETE", "/fapi/v1/algoOrder", true, BN_CANCEL_WEIGHT);
    if (stop->order_id[0] != '\0') {
        tg_payload_add(&req->params, "algoId", stop->order_id);
    } else {
        tg_payload_add(&req->params, "clientAlgoId", stop->client_id);
    }
}

/* The new stop: reduce-only with the position's size (so the old one can
 * stay until the new is acknowledged), or closePosition when configured. */
static bool req_place(const tg_venue *v, tg_vreq *req, const tg_venue_stop_req *s) {
    assert(v != NULL && req != NULL && s != NULL);
    assert(s->side == TG_SIDE_LONG || s->side == TG_SIDE_SHORT);
    assert(s->position_idx >= 0 && s->position_idx <= 2);
    char client[TG_VENUE_ID_MAX], price[TG_DEC_STR_MAX], qty[TG_DEC_STR_MAX];
    if (!tg_venue_client_id(s->symbol, s->side, s->gen, client, sizeof client)) {
        return false;
    }
    size_t price_len = tg_dec_format(s->trigger, 0, price);
    size_t qty_len = tg_dec_format(s->qty, 0, qty);
    assert(price_len > 0 && price_len < sizeof price);
    assert(qty_len > 0 && qty_len < sizeof qty);
    tg_vreq_init(req, "POST", "/fapi/v1/algoOrder", true, 0);
    req->order = true; /* retry-safe: the clientAlgoId deduplicates (-4116) */
    tg_payload *q = &req->params;
    tg_payload_add(q, "algoType", "CONDITIONAL");
    tg_payload_add(q, "symbol", s->symbol);
    tg_payload_add(q, "side", s->side == TG_SIDE_LONG ? "SELL" : "BUY");
    if (s->position_idx != 0) {
        tg_payload_add(q, "positionSide", s->position_idx == 1 ? "LONG" : "SHORT");
    }
    tg_payload_add(q, "type", "STOP_MARKET");
    tg_payload_add(q, "triggerPrice", price);
    tg_payload_add(q, "workingType", "MARK_PRICE");
    if (v->cfg.close_position) {
        tg_payload_add(q, "closePosition", "true");
    } else {
        tg_payload_add(q, "quantity", qty);
        if (s->position_idx == 0) {
            tg_payload_add(q, "reduceOnly", "true"); /* not accepted in hedge mode */
        }
    }
    tg_payload_add(q, "clientAlgoId", client);
    return !q->overflow;
}

static void clear_error(tg_venue_op *op) {
    assert(op != NULL);
    memset(&op->reply.error, 0, sizeof op->reply.error);
}

/* The stop as placed, from the response or, if that cannot be read, from
 * the request. */
static void placed_stop(tg_venue_op *op, const tg_http_resp *resp) {
    assert(op != NULL);
    assert(op->reply.op == TG_VOP_SET_STOP);
    tg_venue_stop *s = &op->reply.stop;
    if (resp != NULL && tg_bn_parse_algo(resp->body, resp->len, s, NULL) == TG_OK) {
        return;
    }
    const tg_venue_stop_req *r = &op->set;
    memset(s, 0, sizeof *s);
    int n = snprintf(s->symbol, sizeof s->symbol, "%s", r->symbol);
    assert(n > 0 && (size_t)n < sizeof s->symbol);
    (void)tg_venue_client_id(r->symbol, r->side, r->gen, s->client_id, sizeof s->client_id);
    (void)tg_venue_client_id_parse(s->client_id, s->position_key, sizeof s->position_key);
    s->side = r->side;
    s->trigger = r->trigger;
    s->qty = r->qty;
    s->position_idx = r->position_idx;
    s->owned = true;
}

static bool has_prev(const tg_venue_stop_req *s) {
    assert(s != NULL);
    return s->prev.order_id[0] != '\0' || s->prev.client_id[0] != '\0';
}

static tg_vnext set_place(tg_venue *v, tg_venue_op *op, int step) {
    assert(v != NULL && op != NULL);
    assert(step == BN_SET_PLACE || step == BN_SET_FB_PLACE);
    if (!req_place(v, &op->req, &op->set)) {
        tg_venue_fail(v, &op->reply.error, TG_VENUE_E_PARAM, "set stop",
                      "the symbol does not fit a client order id");
        return TG_VNEXT_DONE;
    }
    if (has_prev(&op->set)) {
        /* A replace places first and cancels right after: the new stop waits
         * until the weight for that cancel is there too, or the two would
         * both stand until the next minute. */
        op->req.reserve = BN_CANCEL_WEIGHT;
    }
    op->step = step;
    return TG_VNEXT_SEND;
}

/* After the new stop is known to be in place. */
static tg_vnext set_placed(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp) {
    assert(v != NULL && op != NULL);
    assert(op->step == BN_SET_PLACE || op->step == BN_SET_LOOKUP);
    placed_stop(op, resp);
    clear_error(op);
    if (!has_prev(&op->set)) {
        op->reply.mode = TG_REPLACE_FIRST;
        return TG_VNEXT_DONE;
    }
    (void)v;
    req_cancel(&op->req, &op->set.prev);
    op->step = BN_SET_CANCEL;
    return TG_VNEXT_SEND;
}

static tg_vnext set_start(tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL);
    assert(op->reply.op == TG_VOP_SET_STOP && op->step == BN_START);
    const tg_venue_stop_req *s = &op->set;
    bool same_qty = v->cfg.close_position || tg_dec_eq(s->prev.qty, s->qty);
    if (has_prev(s) && tg_dec_eq(s->prev.trigger, s->trigger) && same_qty) {
        op->reply.stop = s->prev;
        op->reply.mode = TG_REPLACE_NONE;
        return TG_VNEXT_DONE;
    }
    char key[TG_VENUE_KEY_MAX];
    (void)tg_venue_position_key(s->symbol, s->side, key, sizeof key);
    if (!v->positions_known || tg_venue_position_find(v, key) == NULL) {
        req_positions(&op->req);
        op->step = BN_SET_POS;
        return TG_VNEXT_SEND;
    }
    return set_place(v, op, BN_SET_PLACE);
}

/* Positions re-read: a stop goes only on a position that exists. */
static tg_vnext set_positions_read(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp) {
    assert(v != NULL && op != NULL && resp != NULL);
    assert(op->step == BN_SET_POS);
    tg_err err;
    tg_wire_page page;
    tg_venue_position *pos = tg_venue_op_positions(op);
    if (pos == NULL) {
        return no_memory(v, op);
    }
    if (tg_bn_parse_positions(resp->body, resp->len, pos, TG_VENUE_POSITIONS_MAX, &page, &err) !=
        TG_OK) {
        v->positions_count = 0;
        v->positions_known = false;
        return bad_body(v, op, &err);
    }
    tg_venue_positions_replace(v, pos, page.count);
    char key[TG_VENUE_KEY_MAX];
    (void)tg_venue_position_key(op->set.symbol, op->set.side, key, sizeof key);
    if (tg_venue_position_find(v, key) == NULL) {
        tg_venue_fail(v, &op->reply.error, TG_VENUE_E_NO_POSITION, "set stop",
                      "the exchange has no open position for it");
        return TG_VNEXT_DONE;
    }
    return set_place(v, op, BN_SET_PLACE);
}

static tg_vnext set_step(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                         const tg_venue_error *e) {
    assert(v != NULL && op != NULL);
    assert(resp != NULL && e != NULL);
    assert(op->reply.op == TG_VOP_SET_STOP);
    bool ok = e->code == TG_VENUE_OK;
    bool gone = e->code == TG_VENUE_E_UNKNOWN_ORDER;
    switch (op->step) {
    case BN_SET_POS:
        return ok ? set_positions_read(v, op, resp) : TG_VNEXT_DONE;
    case BN_SET_PLACE:
        if (ok) {
            return set_placed(v, op, resp);
        }
        if (e->code == TG_VENUE_E_DUPLICATE) { /* an earlier try got through */
            req_get_algo(&op->req, "",
                         op->reply.stop.client_id[0] != '\0'
                             ? op->reply.stop.client_id
                             : (placed_stop(op, NULL), op->reply.stop.client_id));
            op->step = BN_SET_LOOKUP;
            return TG_VNEXT_SEND;
        }
        if (e->code == TG_VENUE_E_STOP_EXISTS && has_prev(&op->set)) {
            req_cancel(&op->req, &op->set.prev);
            op->step = BN_SET_FB_CANCEL;
            return TG_VNEXT_SEND;
        }
        return TG_VNEXT_DONE;
    case BN_SET_LOOKUP:
        if (gone && ++op->reads < TG_VENUE_FIND_READS) {
            op->not_before_us = tg_http_now_us() + TG_VENUE_FIND_DELAY_MS * 1000LL;
            return TG_VNEXT_DELAY;
        }
        return ok ? set_placed(v, op, resp) : TG_VNEXT_DONE;
    case BN_SET_CANCEL:
        op->reply.old_left = !ok && !gone;
        op->reply.mode = TG_REPLACE_PLACE_THEN_CANCEL;
        clear_error(op);
        return TG_VNEXT_DONE;
    case BN_SET_FB_CANCEL:
        if (!ok && !gone) {
            return TG_VNEXT_DONE; /* the old stop is still there: nothing lost */
        }
        op->window_start_us = resp->sent_us;
        return set_place(v, op, BN_SET_FB_PLACE);
    default:
        assert(op->step == BN_SET_FB_PLACE);
        op->reply.mode = TG_REPLACE_CANCEL_THEN_PLACE;
        op->reply.unprotected_us = resp->done_us - op->window_start_us;
        if (ok) {
            placed_stop(op, resp);
        }
        return TG_VNEXT_DONE;
    }
}

static tg_vnext find_step(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                          const tg_venue_error *e) {
    assert(v != NULL && op != NULL && resp != NULL && e != NULL);
    assert(op->step == BN_FIND_ONE || op->step == BN_FIND_LIST);
    tg_venue_stop *t = &op->target;
    if (op->step == BN_FIND_ONE) {
        if (e->code == TG_VENUE_E_UNKNOWN_ORDER && ++op->reads < TG_VENUE_FIND_READS) {
            op->not_before_us = tg_http_now_us() + TG_VENUE_FIND_DELAY_MS * 1000LL;
            return TG_VNEXT_DELAY;
        }
        if (e->code == TG_VENUE_OK &&
            tg_bn_parse_algo(resp->body, resp->len, &op->reply.stop, NULL) == TG_OK) {
            op->reply.found = op->reply.stop.state == TG_VSTOP_OPEN;
            return TG_VNEXT_DONE;
        }
        if (e->code != TG_VENUE_OK && e->code != TG_VENUE_E_UNKNOWN_ORDER) {
            return TG_VNEXT_DONE;
        }
        clear_error(op); /* last resort: the list of open algo orders */
        req_open_algos(&op->req, t->symbol);
        op->step = BN_FIND_LIST;
        return TG_VNEXT_SEND;
    }
    if (e->code != TG_VENUE_OK) {
        return TG_VNEXT_DONE;
    }
    tg_err err;
    tg_wire_page page;
    tg_venue_stop *stops = tg_venue_op_stops(op);
    if (stops == NULL) {
        return no_memory(v, op);
    }
    if (tg_bn_parse_algos(resp->body, resp->len, stops, TG_VENUE_STOPS_MAX, &page, &err) != TG_OK) {
        return bad_body(v, op, &err);
    }
    for (size_t i = 0; i < page.count; i++) {
        const tg_venue_stop *s = &stops[i];
        if ((t->order_id[0] != '\0' && strcmp(s->order_id, t->order_id) == 0) ||
            (t->client_id[0] != '\0' && strcmp(s->client_id, t->client_id) == 0)) {
            op->reply.stop = *s;
            op->reply.found = true;
        }
    }
    return TG_VNEXT_DONE;
}

/* A reduce-only market order for the whole of qty, opposite to the
 * position. Not retried: a second one after a lost answer is refused at
 * best (nothing left to reduce), so the caller re-reads the positions. */
static bool req_market_close(tg_vreq *req, const tg_venue_close_req *c) {
    assert(req != NULL && c != NULL);
    assert(c->side == TG_SIDE_LONG || c->side == TG_SIDE_SHORT);
    assert(c->position_idx >= 0 && c->position_idx <= 2);
    char qty[TG_DEC_STR_MAX];
    size_t qty_len = tg_dec_format(c->qty, 0, qty);
    assert(qty_len > 0 && qty_len < sizeof qty);
    tg_vreq_init(req, "POST", "/fapi/v1/order", true, 0);
    req->order = true;
    req->retry_safe = false;
    tg_payload *q = &req->params;
    tg_payload_add(q, "symbol", c->symbol);
    tg_payload_add(q, "side", c->side == TG_SIDE_LONG ? "SELL" : "BUY");
    if (c->position_idx != 0) {
        tg_payload_add(q, "positionSide", c->position_idx == 1 ? "LONG" : "SHORT");
    }
    tg_payload_add(q, "type", "MARKET");
    tg_payload_add(q, "quantity", qty);
    if (c->position_idx == 0) {
        tg_payload_add(q, "reduceOnly", "true"); /* hedge mode: the positionSide reduces */
    }
    return !q->overflow;
}

static tg_vnext mark_read(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                          const tg_venue_error *e) {
    assert(v != NULL && op != NULL);
    assert(resp != NULL && e != NULL);
    if (e->code != TG_VENUE_OK) {
        return TG_VNEXT_DONE;
    }
    tg_err err;
    if (tg_bn_parse_mark(resp->body, resp->len, op->symbol, &op->reply.mark, &op->reply.mark_ms,
                         &err) != TG_OK) {
        return bad_body(v, op, &err);
    }
    return TG_VNEXT_DONE;
}

static tg_vnext bn_start(tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL);
    assert(op->step == BN_START || (op->reply.op == TG_VOP_LISTEN_KEY && op->step == 1));
    switch (op->reply.op) {
    case TG_VOP_RULES:
        tg_vreq_init(&op->req, "GET", "/fapi/v1/exchangeInfo", false, 1);
        return TG_VNEXT_SEND;
    case TG_VOP_POSITIONS:
        req_positions(&op->req);
        return TG_VNEXT_SEND;
    case TG_VOP_STOPS:
        req_open_algos(&op->req, op->symbol);
        return TG_VNEXT_SEND;
    case TG_VOP_FIND_STOP:
        req_get_algo(&op->req, op->target.order_id, op->target.client_id);
        op->step = BN_FIND_ONE;
        return TG_VNEXT_SEND;
    case TG_VOP_SET_STOP:
        return set_start(v, op);
    case TG_VOP_CANCEL_STOP:
        req_cancel(&op->req, &op->target);
        op->step = BN_CANCEL;
        return TG_VNEXT_SEND;
    case TG_VOP_CLOSE_POSITION:
        if (!req_market_close(&op->req, &op->close)) {
            tg_venue_fail(v, &op->reply.error, TG_VENUE_E_PARAM, "close position",
                          "the request does not fit");
            return TG_VNEXT_DONE;
        }
        return TG_VNEXT_SEND;
    case TG_VOP_MARK:
        tg_vreq_init(&op->req, "GET", "/fapi/v1/premiumIndex", false, 1);
        tg_payload_add(&op->req.params, "symbol", op->symbol);
        return TG_VNEXT_SEND;
    case TG_VOP_LISTEN_KEY:
        tg_vreq_init(&op->req, op->step == 1 ? "PUT" : "POST", "/fapi/v1/listenKey", false, 1);
        op->req.key_only = true;
        return TG_VNEXT_SEND;
    default:
        assert(0 && "time is the queue's");
        return TG_VNEXT_DONE;
    }
}

static tg_vnext bn_advance(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                           const tg_venue_error *e) {
    assert(v != NULL && op != NULL && e != NULL);
    if (resp == NULL) {
        return bn_start(v, op);
    }
    switch (op->reply.op) {
    case TG_VOP_RULES:
    case TG_VOP_POSITIONS:
    case TG_VOP_STOPS:
        return e->code == TG_VENUE_OK ? bn_listing(v, op, resp) : TG_VNEXT_DONE;
    case TG_VOP_FIND_STOP:
        return find_step(v, op, resp, e);
    case TG_VOP_SET_STOP:
        return set_step(v, op, resp, e);
    case TG_VOP_CLOSE_POSITION:
        return TG_VNEXT_DONE; /* the error, if any, is the reply's */
    case TG_VOP_MARK:
        return mark_read(v, op, resp, e);
    case TG_VOP_LISTEN_KEY: {
        tg_err err;
        char key[sizeof v->listen_key];
        if (e->code == TG_VENUE_OK &&
            tg_bn_parse_listen_key(resp->body, resp->len, key, sizeof key, &err) == TG_OK) {
            memcpy(v->listen_key, key, sizeof key);
        } else if (e->code == TG_VENUE_OK && op->step == 0) {
            return bad_body(v, op, &err); /* a keep-alive may answer {} */
        }
        return TG_VNEXT_DONE;
    }
    default:
        assert(op->reply.op == TG_VOP_CANCEL_STOP);
        if (e->code == TG_VENUE_E_UNKNOWN_ORDER) { /* already gone: never fatal */
            op->reply.already_gone = true;
            clear_error(op);
        }
        return TG_VNEXT_DONE;
    }
}

const tg_vadapter tg_venue_binance = {
    .advance = bn_advance,
    .decode_error = bn_decode_error,
    .build = bn_build,
    .time_req = bn_time_req,
    .parse_time = tg_bn_parse_time,
};
