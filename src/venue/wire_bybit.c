/* Decoders of Bybit v5 (category=linear) responses and stream frames. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "venue/wire.h"
#include "venue/wire_json.h"

#define NANOS_PER_MS 1000000LL

bool tg_by_parse_error(const char *body, size_t len, tg_wire_status *st) {
    assert(st != NULL);
    st->code = 0;
    st->msg[0] = '\0';
    cJSON *root = tg_wire_json_parse(body, len, "bybit", NULL);
    int64_t code = 0;
    if (root == NULL || !tg_wire_json_i64(root, "retCode", &code)) {
        st->code = -1;
        int n = snprintf(st->msg, sizeof st->msg, "response is not a v5 envelope");
        assert(n > 0 && (size_t)n < sizeof st->msg);
        cJSON_Delete(root);
        return true;
    }
    if (code != 0) {
        st->code = code > 0 && code < 1000000000 ? (int)code : -1;
        const char *msg = tg_wire_json_str(root, "retMsg");
        snprintf(st->msg, sizeof st->msg, "%s", msg != NULL ? msg : "");
    }
    cJSON_Delete(root);
    return code != 0;
}

/* The envelope's "result" object; NULL with err set when absent. */
static const cJSON *result_of(const cJSON *root, const char *what, tg_err *err) {
    assert(what != NULL);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "result");
    if (!cJSON_IsObject(r)) {
        tg_err_set(err, TG_E_INVALID, "%s: no result object in the response", what);
        return NULL;
    }
    return r;
}

tg_status tg_by_parse_time(const char *body, size_t len, int64_t *ms, tg_err *err) {
    assert(ms != NULL);
    cJSON *root = tg_wire_json_parse(body, len, "bybit time", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    const cJSON *r = result_of(root, "bybit time", err);
    int64_t nanos = 0, secs = 0;
    tg_status st = TG_OK;
    if (r == NULL) {
        st = TG_E_INVALID;
    } else if (tg_wire_json_i64(r, "timeNano", &nanos) && nanos >= NANOS_PER_MS) {
        *ms = nanos / NANOS_PER_MS;
    } else if (tg_wire_json_i64(r, "timeSecond", &secs) && secs > 0 && secs < 100000000000LL) {
        *ms = secs * 1000;
    } else {
        st = tg_err_set(err, TG_E_INVALID, "bybit time: no timeNano or timeSecond");
    }
    cJSON_Delete(root);
    return st;
}

/* The result's list and cursor; NULL with err set when absent. */
static const cJSON *list_of(const cJSON *root, const char *what, tg_wire_page *page, tg_err *err) {
    assert(what != NULL && page != NULL);
    const cJSON *r = result_of(root, what, err);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(r, "list");
    if (r != NULL && !cJSON_IsArray(list)) {
        tg_err_set(err, TG_E_INVALID, "%s: no result.list array", what);
        return NULL;
    }
    if (r != NULL && !tg_wire_json_copy(r, "nextPageCursor", page->cursor, sizeof page->cursor)) {
        page->cursor[0] = '\0';
    }
    return r != NULL ? list : NULL;
}

static bool rule_of(const cJSON *s, tg_venue_rules *r) {
    assert(s != NULL && r != NULL);
    memset(r, 0, sizeof *r);
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(s, "priceFilter");
    const cJSON *lf = cJSON_GetObjectItemCaseSensitive(s, "lotSizeFilter");
    const char *status = tg_wire_json_str(s, "status");
    if (!tg_wire_json_symbol(s, "symbol", r->symbol, sizeof r->symbol) ||
        !tg_wire_json_dec(pf, "tickSize", &r->tick) || !tg_wire_json_dec(lf, "qtyStep", &r->step) ||
        !tg_wire_json_dec(lf, "minOrderQty", &r->min_qty) || !tg_dec_is_pos(r->tick) ||
        !tg_dec_is_pos(r->step) || tg_dec_is_neg(r->min_qty)) {
        return false;
    }
    if (!tg_wire_json_dec(pf, "minPrice", &r->min_price) || tg_dec_is_neg(r->min_price)) {
        r->min_price = tg_dec_from_units(0);
    }
    if (!tg_wire_json_dec(pf, "maxPrice", &r->max_price)) {
        r->max_price = tg_dec_from_units(0);
    }
    r->trading = status != NULL && strcmp(status, "Trading") == 0;
    return true;
}

tg_status tg_by_parse_rules(const char *body, size_t len, tg_venue_rules *rules, size_t cap,
                            tg_wire_page *page, tg_err *err) {
    assert(page != NULL && (rules != NULL || cap == 0));
    memset(page, 0, sizeof *page);
    cJSON *root = tg_wire_json_parse(body, len, "bybit instruments-info", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    const cJSON *list = list_of(root, "bybit instruments-info", page, err);
    tg_status st = list == NULL ? TG_E_INVALID : TG_OK;
    const cJSON *s;
    cJSON_ArrayForEach(s, list) {
        tg_venue_rules r;
        if (!rule_of(s, &r)) {
            page->skipped++;
            continue;
        }
        if (page->count == cap) {
            st = tg_err_set(err, TG_E_CAPACITY, "bybit instruments-info: more than %zu symbols",
                            cap);
            break;
        }
        rules[page->count++] = r;
    }
    assert(page->count <= cap);
    cJSON_Delete(root);
    return st;
}

/* A position/list element or a position-topic element; size 0 when flat. */
static bool position_of(const cJSON *p, tg_venue_position *out) {
    assert(p != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    const char *side = tg_wire_json_str(p, "side");
    int64_t idx = 0;
    if (!tg_wire_json_symbol(p, "symbol", out->symbol, sizeof out->symbol) || side == NULL ||
        !tg_wire_json_dec(p, "size", &out->size) || tg_dec_is_neg(out->size) ||
        !tg_wire_json_i64(p, "positionIdx", &idx) || idx < 0 || idx > 2) {
        return false;
    }
    out->position_idx = (int)idx;
    if (strcmp(side, "Buy") == 0) {
        out->side = TG_SIDE_LONG;
    } else if (strcmp(side, "Sell") == 0) {
        out->side = TG_SIDE_SHORT;
    } else if (side[0] == '\0' || strcmp(side, "None") == 0) {
        out->side = idx == 2 ? TG_SIDE_SHORT : TG_SIDE_LONG; /* flat */
        out->size = tg_dec_from_units(0);
    } else {
        return false;
    }
    if (!tg_wire_json_dec(p, "avgPrice", &out->entry) &&
        !tg_wire_json_dec(p, "entryPrice", &out->entry)) {
        out->entry = tg_dec_from_units(0);
    }
    if (!tg_wire_json_dec(p, "markPrice", &out->mark)) {
        out->mark = tg_dec_from_units(0);
    }
    (void)tg_wire_json_i64(p, "updatedTime", &out->update_ms);
    assert(out->position_idx >= 0 && out->position_idx <= 2);
    assert(!tg_dec_is_neg(out->size));
    return tg_venue_position_key(out->symbol, out->side, out->key, sizeof out->key);
}

tg_status tg_by_parse_positions(const char *body, size_t len, tg_venue_position *pos, size_t cap,
                                tg_wire_page *page, tg_err *err) {
    assert(page != NULL && (pos != NULL || cap == 0));
    memset(page, 0, sizeof *page);
    cJSON *root = tg_wire_json_parse(body, len, "bybit position/list", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    const cJSON *list = list_of(root, "bybit position/list", page, err);
    tg_status st = list == NULL ? TG_E_INVALID : TG_OK;
    const cJSON *p;
    cJSON_ArrayForEach(p, list) {
        tg_venue_position one;
        if (!position_of(p, &one)) {
            st = tg_err_set(err, TG_E_INVALID, "bybit position/list: malformed position entry");
            break;
        }
        if (tg_dec_is_zero(one.size)) {
            page->skipped++;
            continue;
        }
        if (page->count == cap) {
            st =
                tg_err_set(err, TG_E_CAPACITY, "bybit position/list: more than %zu positions", cap);
            break;
        }
        pos[page->count++] = one;
    }
    assert(page->count <= cap);
    cJSON_Delete(root);
    return st;
}

static tg_venue_stop_state order_state(const char *status) {
    if (status == NULL || strcmp(status, "Untriggered") == 0 || strcmp(status, "New") == 0) {
        return TG_VSTOP_OPEN;
    }
    if (strcmp(status, "Triggered") == 0 || strcmp(status, "PartiallyFilled") == 0) {
        return TG_VSTOP_TRIGGERED;
    }
    if (strcmp(status, "Filled") == 0) {
        return TG_VSTOP_FILLED;
    }
    return strcmp(status, "Rejected") == 0 ? TG_VSTOP_REJECTED : TG_VSTOP_CANCELLED;
}

static bool is_stop_type(const char *t) {
    return t != NULL && (strcmp(t, "StopLoss") == 0 || strcmp(t, "PartialStopLoss") == 0 ||
                         strcmp(t, "Stop") == 0 || strcmp(t, "TrailingStop") == 0);
}

/* Returns 1 for a protective stop, 0 for another order, -1 if malformed. */
static int order_of(const cJSON *o, tg_venue_stop *out) {
    assert(o != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    const char *type = tg_wire_json_str(o, "stopOrderType");
    const char *side = tg_wire_json_str(o, "side");
    if (!tg_wire_json_ident(o, "orderId", out->order_id, sizeof out->order_id) ||
        out->order_id[0] == '\0' ||
        !tg_wire_json_symbol(o, "symbol", out->symbol, sizeof out->symbol) || side == NULL) {
        return -1;
    }
    bool reduce = false, close = false;
    (void)tg_wire_json_bool(o, "reduceOnly", &reduce);
    (void)tg_wire_json_bool(o, "closeOnTrigger", &close);
    if (!is_stop_type(type) || (strcmp(type, "Stop") == 0 && !reduce && !close)) {
        return 0;
    }
    int64_t idx = 0;
    if ((strcmp(side, "Sell") != 0 && strcmp(side, "Buy") != 0) ||
        !tg_wire_json_dec(o, "triggerPrice", &out->trigger) || !tg_dec_is_pos(out->trigger) ||
        (tg_wire_json_i64(o, "positionIdx", &idx) && (idx < 0 || idx > 2))) {
        return -1;
    }
    out->position_idx = (int)idx;
    assert(out->position_idx >= 0 && out->position_idx <= 2);
    out->side = strcmp(side, "Sell") == 0 ? TG_SIDE_LONG : TG_SIDE_SHORT;
    if (!tg_wire_json_dec(o, "qty", &out->qty) || tg_dec_is_neg(out->qty)) {
        out->qty = tg_dec_from_units(0);
    }
    const char *mode = tg_wire_json_str(o, "tpslMode");
    out->position_level =
        strcmp(type, "StopLoss") == 0 && (mode == NULL || strcmp(mode, "Full") == 0);
    out->reduce_only = reduce || out->position_level;
    out->close_position = close || out->position_level;
    const char *by = tg_wire_json_str(o, "triggerBy");
    if (by != NULL) {
        snprintf(out->trigger_type, sizeof out->trigger_type, "%s", by);
    }
    (void)tg_wire_json_ident(o, "orderLinkId", out->client_id, sizeof out->client_id);
    out->owned =
        tg_venue_client_id_parse(out->client_id, out->position_key, sizeof out->position_key);
    if (!out->owned) {
        (void)tg_venue_position_key(out->symbol, out->side, out->position_key,
                                    sizeof out->position_key);
        out->owned = out->position_level;
    }
    out->state = order_state(tg_wire_json_str(o, "orderStatus"));
    (void)tg_wire_json_i64(o, "updatedTime", &out->update_ms);
    return 1;
}

tg_status tg_by_parse_orders(const char *body, size_t len, tg_venue_stop *stops, size_t cap,
                             tg_wire_page *page, tg_err *err) {
    assert(page != NULL && (stops != NULL || cap == 0));
    memset(page, 0, sizeof *page);
    cJSON *root = tg_wire_json_parse(body, len, "bybit order/realtime", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    const cJSON *list = list_of(root, "bybit order/realtime", page, err);
    tg_status st = list == NULL ? TG_E_INVALID : TG_OK;
    const cJSON *o;
    cJSON_ArrayForEach(o, list) {
        tg_venue_stop one;
        int r = order_of(o, &one);
        if (r < 0) {
            st = tg_err_set(err, TG_E_INVALID, "bybit order/realtime: malformed order entry");
            break;
        }
        if (r == 0 || one.state != TG_VSTOP_OPEN) {
            page->skipped++;
            continue;
        }
        if (page->count == cap) {
            st = tg_err_set(err, TG_E_CAPACITY, "bybit order/realtime: more than %zu stops", cap);
            break;
        }
        stops[page->count++] = one;
    }
    assert(page->count <= cap);
    cJSON_Delete(root);
    return st;
}

static tg_venue_event *frame_next(tg_wire_frame *out, tg_venue_event_kind kind,
                                  tg_venue_stream stream, int64_t ts) {
    assert(out != NULL && out->count <= TG_WIRE_EVENTS_MAX);
    assert(kind <= TG_VEV_DISCONNECTED);
    assert(stream == TG_VSTREAM_MARKET || stream == TG_VSTREAM_ACCOUNT);
    if (out->count == TG_WIRE_EVENTS_MAX) {
        return NULL;
    }
    tg_venue_event *ev = &out->events[out->count++];
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->stream = stream;
    ev->ts_ms = ts;
    return ev;
}

static bool ws_op_reply(const cJSON *root, const char *op, tg_wire_frame *out) {
    assert(root != NULL && op != NULL);
    assert(out != NULL);
    bool success = false;
    out->ack = true;
    out->pong = strcmp(op, "pong") == 0 || strcmp(op, "ping") == 0;
    out->auth_reply = strcmp(op, "auth") == 0;
    out->ack_ok = out->pong || (tg_wire_json_bool(root, "success", &success) && success);
    const char *msg = tg_wire_json_str(root, "ret_msg");
    snprintf(out->msg, sizeof out->msg, "%s", msg != NULL ? msg : "");
    return true;
}

static bool ws_ticker(const cJSON *data, int64_t ts, tg_wire_frame *out) {
    assert(data != NULL && out != NULL);
    tg_dec mark;
    if (!tg_wire_json_dec(data, "markPrice", &mark)) {
        return true; /* a delta without the mark price */
    }
    tg_venue_event *ev = frame_next(out, TG_VEV_MARK, TG_VSTREAM_MARKET, ts);
    if (ev == NULL || !tg_dec_is_pos(mark) ||
        !tg_wire_json_symbol(data, "symbol", ev->symbol, sizeof ev->symbol)) {
        return false;
    }
    ev->mark = mark;
    return true;
}

static bool ws_private(const cJSON *data, bool position, int64_t ts, tg_wire_frame *out) {
    assert(data != NULL && out != NULL);
    const cJSON *it;
    cJSON_ArrayForEach(it, data) {
        tg_venue_event *ev =
            frame_next(out, position ? TG_VEV_POSITION : TG_VEV_STOP, TG_VSTREAM_ACCOUNT, ts);
        if (ev == NULL) {
            return false;
        }
        if (position) {
            if (!position_of(it, &ev->position)) {
                return false;
            }
            continue;
        }
        int r = order_of(it, &ev->stop);
        if (r < 0) {
            return false;
        }
        if (r == 0) {
            out->count--;
        }
    }
    return true;
}

static bool ws_topic(const cJSON *root, const char *topic, tg_wire_frame *out) {
    assert(root != NULL && topic != NULL);
    assert(out != NULL);
    int64_t ts = 0;
    if (!tg_wire_json_i64(root, "ts", &ts)) {
        (void)tg_wire_json_i64(root, "creationTime", &ts);
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (strncmp(topic, "tickers.", 8) == 0) {
        return cJSON_IsObject(data) && ws_ticker(data, ts, out);
    }
    bool position = strcmp(topic, "position") == 0 || strcmp(topic, "position.linear") == 0;
    bool order = strcmp(topic, "order") == 0 || strcmp(topic, "order.linear") == 0;
    if (position || order) {
        return cJSON_IsArray(data) && ws_private(data, position, ts, out);
    }
    return true; /* not a topic of ours */
}

tg_status tg_by_parse_ws(const char *frame, size_t len, tg_wire_frame *out, tg_err *err) {
    assert(out != NULL);
    tg_wire_frame_reset(out);
    cJSON *root = tg_wire_json_parse(frame, len, "bybit stream", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    const char *topic = tg_wire_json_str(root, "topic");
    const char *op = tg_wire_json_str(root, "op");
    bool ok = true;
    if (topic != NULL) {
        ok = ws_topic(root, topic, out);
    } else if (op != NULL) {
        ok = ws_op_reply(root, op, out);
    }
    cJSON_Delete(root);
    assert(out->count <= TG_WIRE_EVENTS_MAX);
    if (!ok) {
        return tg_err_set(err, TG_E_INVALID, "bybit stream: malformed or oversized message");
    }
    return TG_OK;
}

tg_status tg_by_parse_mark(const char *body, size_t len, const char *symbol, tg_dec *mark,
                           int64_t *ms, tg_err *err) {
    assert(symbol != NULL);
    assert(mark != NULL && ms != NULL);
    cJSON *root = tg_wire_json_parse(body, len, "bybit tickers", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    tg_wire_page page;
    memset(&page, 0, sizeof page);
    const cJSON *list = list_of(root, "bybit tickers", &page, err);
    bool ok = false;
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        const char *sym = tg_wire_json_str(item, "symbol");
        if (sym != NULL && strcmp(sym, symbol) == 0) {
            ok = tg_wire_json_dec(item, "markPrice", mark) && tg_dec_is_pos(*mark);
            break;
        }
    }
    int64_t t = 0;
    if (ok && !tg_wire_json_i64(root, "time", &t)) {
        t = 0;
    }
    cJSON_Delete(root);
    if (list == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    if (!ok) {
        return tg_err_set(err, TG_E_INVALID,
                          "bybit tickers: no positive markPrice for %s in the response", symbol);
    }
    *ms = t;
    return TG_OK;
}
