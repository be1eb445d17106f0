/* Decoders of Binance USD-M futures responses and stream frames. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "venue/wire.h"
#include "venue/wire_json.h"

bool tg_bn_parse_error(const char *body, size_t len, tg_wire_status *st) {
    assert(st != NULL);
    st->code = 0;
    st->msg[0] = '\0';
    cJSON *root = tg_wire_json_parse(body, len, "binance", NULL);
    if (root == NULL) {
        return false;
    }
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(root, "code");
    bool is_err = cJSON_IsNumber(code) && code->valuedouble <= -1 && code->valuedouble > -100000;
    if (is_err) {
        st->code = (int)code->valuedouble;
        const char *msg = tg_wire_json_str(root, "msg");
        snprintf(st->msg, sizeof st->msg, "%s", msg != NULL ? msg : "");
    }
    cJSON_Delete(root);
    return is_err;
}

tg_status tg_bn_parse_time(const char *body, size_t len, int64_t *ms, tg_err *err) {
    assert(ms != NULL);
    cJSON *root = tg_wire_json_parse(body, len, "binance time", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    int64_t t = 0;
    bool ok = tg_wire_json_i64(root, "serverTime", &t) && t > 0;
    cJSON_Delete(root);
    if (!ok) {
        return tg_err_set(err, TG_E_INVALID,
                          "binance time: no positive serverTime in the response");
    }
    *ms = t;
    return TG_OK;
}

static bool rules_filters(const cJSON *filters, tg_venue_rules *r) {
    assert(r != NULL);
    bool price = false, lot = false;
    const cJSON *f;
    cJSON_ArrayForEach(f, filters) {
        const char *type = tg_wire_json_str(f, "filterType");
        if (type == NULL) {
            continue;
        }
        if (strcmp(type, "PRICE_FILTER") == 0) {
            price = tg_wire_json_dec(f, "tickSize", &r->tick) &&
                    tg_wire_json_dec(f, "minPrice", &r->min_price);
            if (!tg_wire_json_dec(f, "maxPrice", &r->max_price)) {
                r->max_price = tg_dec_from_units(0);
            }
        } else if (strcmp(type, "LOT_SIZE") == 0) {
            lot = tg_wire_json_dec(f, "stepSize", &r->step) &&
                  tg_wire_json_dec(f, "minQty", &r->min_qty);
        }
    }
    return price && lot && tg_dec_is_pos(r->tick) && tg_dec_is_pos(r->step) &&
           !tg_dec_is_neg(r->min_price) && !tg_dec_is_neg(r->min_qty);
}

tg_status tg_bn_parse_rules(const char *body, size_t len, tg_venue_rules *rules, size_t cap,
                            tg_wire_page *page, tg_err *err) {
    assert(page != NULL && (rules != NULL || cap == 0));
    memset(page, 0, sizeof *page);
    cJSON *root = tg_wire_json_parse(body, len, "binance exchangeInfo", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    const cJSON *symbols = cJSON_GetObjectItemCaseSensitive(root, "symbols");
    if (!cJSON_IsArray(symbols)) {
        cJSON_Delete(root);
        return tg_err_set(err, TG_E_INVALID, "binance exchangeInfo: no symbols array");
    }
    const cJSON *s;
    tg_status st = TG_OK;
    cJSON_ArrayForEach(s, symbols) {
        tg_venue_rules r;
        memset(&r, 0, sizeof r);
        const char *status = tg_wire_json_str(s, "status");
        if (!tg_wire_json_symbol(s, "symbol", r.symbol, sizeof r.symbol) ||
            !rules_filters(cJSON_GetObjectItemCaseSensitive(s, "filters"), &r)) {
            page->skipped++;
            continue;
        }
        r.trading = status != NULL && strcmp(status, "TRADING") == 0;
        if (page->count == cap) {
            st = tg_err_set(err, TG_E_CAPACITY, "binance exchangeInfo: more than %zu symbols", cap);
            break;
        }
        rules[page->count++] = r;
    }
    assert(page->count <= cap);
    cJSON_Delete(root);
    return st;
}

static int position_idx_of(const char *ps) {
    if (ps == NULL || strcmp(ps, "BOTH") == 0) {
        return 0;
    }
    return strcmp(ps, "LONG") == 0 ? 1 : strcmp(ps, "SHORT") == 0 ? 2 : -1;
}

/* One positionRisk element or ACCOUNT_UPDATE "P" element. Returns false when
 * malformed; a flat position decodes with size 0. */
static bool position_of(const cJSON *p, const char *amt_name, const char *entry_name,
                        tg_venue_position *out) {
    assert(amt_name != NULL && entry_name != NULL);
    assert(out != NULL);
    memset(out, 0, sizeof *out);
    const char *symbol_name = cJSON_GetObjectItemCaseSensitive(p, "symbol") ? "symbol" : "s";
    const char *ps_name =
        cJSON_GetObjectItemCaseSensitive(p, "positionSide") ? "positionSide" : "ps";
    tg_dec amt;
    if (!tg_wire_json_symbol(p, symbol_name, out->symbol, sizeof out->symbol) ||
        !tg_wire_json_dec(p, amt_name, &amt)) {
        return false;
    }
    out->position_idx = position_idx_of(tg_wire_json_str(p, ps_name));
    if (out->position_idx < 0) {
        return false;
    }
    if (out->position_idx == 0) {
        out->side = tg_dec_is_neg(amt) ? TG_SIDE_SHORT : TG_SIDE_LONG;
    } else {
        out->side = out->position_idx == 1 ? TG_SIDE_LONG : TG_SIDE_SHORT;
    }
    if (tg_dec_abs(amt, &out->size) != TG_DEC_OK) {
        return false;
    }
    if (!tg_wire_json_dec(p, entry_name, &out->entry)) {
        out->entry = tg_dec_from_units(0);
    }
    if (!tg_wire_json_dec(p, "markPrice", &out->mark)) {
        out->mark = tg_dec_from_units(0);
    }
    (void)tg_wire_json_i64(p, "updateTime", &out->update_ms);
    assert(out->position_idx >= 0 && out->position_idx <= 2);
    assert(!tg_dec_is_neg(out->size));
    return tg_venue_position_key(out->symbol, out->side, out->key, sizeof out->key);
}

tg_status tg_bn_parse_positions(const char *body, size_t len, tg_venue_position *pos, size_t cap,
                                tg_wire_page *page, tg_err *err) {
    assert(page != NULL && (pos != NULL || cap == 0));
    memset(page, 0, sizeof *page);
    cJSON *root = tg_wire_json_parse(body, len, "binance positionRisk", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return tg_err_set(err, TG_E_INVALID, "binance positionRisk: response is not an array");
    }
    tg_status st = TG_OK;
    const cJSON *p;
    cJSON_ArrayForEach(p, root) {
        tg_venue_position one;
        if (!position_of(p, "positionAmt", "entryPrice", &one)) {
            st = tg_err_set(err, TG_E_INVALID, "binance positionRisk: malformed position entry");
            break;
        }
        if (tg_dec_is_zero(one.size)) {
            page->skipped++;
            continue;
        }
        if (page->count == cap) {
            st = tg_err_set(err, TG_E_CAPACITY, "binance positionRisk: more than %zu positions",
                            cap);
            break;
        }
        pos[page->count++] = one;
    }
    assert(page->count <= cap);
    cJSON_Delete(root);
    return st;
}

static tg_venue_stop_state algo_state(const char *status) {
    if (status == NULL) {
        return TG_VSTOP_OPEN;
    }
    if (strcmp(status, "CANCELED") == 0 || strcmp(status, "EXPIRED") == 0) {
        return TG_VSTOP_CANCELLED;
    }
    if (strcmp(status, "TRIGGERING") == 0 || strcmp(status, "TRIGGERED") == 0) {
        return TG_VSTOP_TRIGGERED;
    }
    if (strcmp(status, "FINISHED") == 0) {
        return TG_VSTOP_FILLED;
    }
    return strcmp(status, "REJECTED") == 0 ? TG_VSTOP_REJECTED : TG_VSTOP_OPEN;
}

/* A regular order's status: only NEW is still waiting for its trigger. */
static tg_venue_stop_state order_state(const char *status) {
    if (status == NULL || strcmp(status, "NEW") == 0) {
        return TG_VSTOP_OPEN;
    }
    if (strcmp(status, "FILLED") == 0) {
        return TG_VSTOP_FILLED;
    }
    if (strcmp(status, "PARTIALLY_FILLED") == 0) {
        return TG_VSTOP_TRIGGERED;
    }
    return strcmp(status, "REJECTED") == 0 ? TG_VSTOP_REJECTED : TG_VSTOP_CANCELLED;
}

/* Field names differ between the REST object and the ALGO_UPDATE "o". */
typedef struct algo_names {
    const char *id, *client, *symbol, *side, *ps, *type, *trigger, *qty, *status, *time, *close;
    const char *reduce, *working; /* reduceOnly, workingType */
} algo_names;

static const algo_names REST_NAMES = {"algoId",       "clientAlgoId", "symbol",        "side",
                                      "positionSide", "orderType",    "triggerPrice",  "quantity",
                                      "algoStatus",   "updateTime",   "closePosition", "reduceOnly",
                                      "workingType"};
static const algo_names WS_NAMES = {"aid", "caid", "s", "S",  "ps", "o", "tp",
                                    "q",   "X",    "T", "cp", "R",  "wt"};
/* A regular order of /fapi/v1/openOrders. */
static const algo_names ORDER_NAMES = {
    "orderId",       "clientOrderId", "symbol",     "side",   "positionSide",
    "type",          "stopPrice",     "origQty",    "status", "updateTime",
    "closePosition", "reduceOnly",    "workingType"};

/* Returns 1 for a stop, 0 for another kind of algo order, -1 if malformed. */
static int algo_of(const cJSON *o, const algo_names *n, tg_venue_stop *out) {
    assert(n == &REST_NAMES || n == &WS_NAMES || n == &ORDER_NAMES);
    assert(out != NULL);
    memset(out, 0, sizeof *out);
    const char *side = tg_wire_json_str(o, n->side);
    const char *type = tg_wire_json_str(o, n->type);
    if (type == NULL && n == &REST_NAMES) {
        type = tg_wire_json_str(o, "type"); /* some listings name it "type" */
    }
    if (!tg_wire_json_id(o, n->id, out->order_id, sizeof out->order_id) ||
        !tg_wire_json_symbol(o, n->symbol, out->symbol, sizeof out->symbol) || side == NULL ||
        type == NULL) {
        return -1;
    }
    if (strcmp(type, "STOP_MARKET") != 0 && strcmp(type, "STOP") != 0) {
        return 0;
    }
    out->position_idx = position_idx_of(tg_wire_json_str(o, n->ps));
    if (out->position_idx < 0 || (strcmp(side, "SELL") != 0 && strcmp(side, "BUY") != 0) ||
        !tg_wire_json_dec(o, n->trigger, &out->trigger) || !tg_dec_is_pos(out->trigger)) {
        return -1;
    }
    out->side = strcmp(side, "SELL") == 0 ? TG_SIDE_LONG : TG_SIDE_SHORT;
    assert(out->position_idx >= 0 && out->position_idx <= 2);
    bool close = false;
    (void)tg_wire_json_bool(o, n->close, &close);
    if (close || !tg_wire_json_dec(o, n->qty, &out->qty)) {
        out->qty = tg_dec_from_units(0);
    }
    out->close_position = close;
    (void)tg_wire_json_bool(o, n->reduce, &out->reduce_only);
    out->regular = n == &ORDER_NAMES;
    const char *working = tg_wire_json_str(o, n->working);
    if (working != NULL) {
        snprintf(out->trigger_type, sizeof out->trigger_type, "%s", working);
    }
    (void)tg_wire_json_ident(o, n->client, out->client_id, sizeof out->client_id);
    out->owned =
        tg_venue_client_id_parse(out->client_id, out->position_key, sizeof out->position_key);
    if (!out->owned) {
        (void)tg_venue_position_key(out->symbol, out->side, out->position_key,
                                    sizeof out->position_key);
    }
    const char *status = tg_wire_json_str(o, n->status);
    out->state = n == &ORDER_NAMES ? order_state(status) : algo_state(status);
    (void)tg_wire_json_i64(o, n->time, &out->update_ms);
    return 1;
}

tg_status tg_bn_parse_algo(const char *body, size_t len, tg_venue_stop *stop, tg_err *err) {
    assert(stop != NULL);
    cJSON *root = tg_wire_json_parse(body, len, "binance algoOrder", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    int r = algo_of(root, &REST_NAMES, stop);
    cJSON_Delete(root);
    if (r != 1) {
        return tg_err_set(err, TG_E_INVALID, "binance algoOrder: %s",
                          r == 0 ? "the order is not a stop" : "malformed algo order");
    }
    return TG_OK;
}

static tg_status parse_stop_list(const char *body, size_t len, const algo_names *names,
                                 const char *what, tg_venue_stop *stops, size_t cap,
                                 tg_wire_page *page, tg_err *err) {
    assert(names != NULL && what != NULL);
    assert(page != NULL && (stops != NULL || cap == 0));
    memset(page, 0, sizeof *page);
    cJSON *root = tg_wire_json_parse(body, len, what, err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    const cJSON *list =
        cJSON_IsArray(root) ? root : cJSON_GetObjectItemCaseSensitive(root, "orders");
    if (!cJSON_IsArray(list)) {
        cJSON_Delete(root);
        return tg_err_set(err, TG_E_INVALID, "%s: response is not an array", what);
    }
    tg_status st = TG_OK;
    const cJSON *o;
    cJSON_ArrayForEach(o, list) {
        tg_venue_stop one;
        int r = algo_of(o, names, &one);
        if (r < 0) {
            st = tg_err_set(err, TG_E_INVALID, "%s: malformed order", what);
            break;
        }
        if (r == 0 || one.state != TG_VSTOP_OPEN) {
            page->skipped++;
            continue;
        }
        if (page->count == cap) {
            st = tg_err_set(err, TG_E_CAPACITY, "%s: more than %zu stops", what, cap);
            break;
        }
        stops[page->count++] = one;
    }
    assert(page->count <= cap);
    cJSON_Delete(root);
    return st;
}

tg_status tg_bn_parse_algos(const char *body, size_t len, tg_venue_stop *stops, size_t cap,
                            tg_wire_page *page, tg_err *err) {
    return parse_stop_list(body, len, &REST_NAMES, "binance openAlgoOrders", stops, cap, page, err);
}

tg_status tg_bn_parse_orders(const char *body, size_t len, tg_venue_stop *stops, size_t cap,
                             tg_wire_page *page, tg_err *err) {
    return parse_stop_list(body, len, &ORDER_NAMES, "binance openOrders", stops, cap, page, err);
}

tg_status tg_bn_parse_listen_key(const char *body, size_t len, char *key, size_t size,
                                 tg_err *err) {
    assert(key != NULL && size > 0);
    cJSON *root = tg_wire_json_parse(body, len, "binance listenKey", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    bool ok = tg_wire_json_copy(root, "listenKey", key, size) && key[0] != '\0';
    cJSON_Delete(root);
    if (!ok) {
        return tg_err_set(err, TG_E_INVALID, "binance listenKey: no listenKey in the response");
    }
    return TG_OK;
}

static tg_venue_event *frame_next(tg_wire_frame *out) {
    assert(out != NULL);
    assert(out->count <= TG_WIRE_EVENTS_MAX);
    if (out->count == TG_WIRE_EVENTS_MAX) {
        return NULL;
    }
    tg_venue_event *ev = &out->events[out->count++];
    assert(out->count <= TG_WIRE_EVENTS_MAX);
    memset(ev, 0, sizeof *ev);
    return ev;
}

static bool ws_mark(const cJSON *d, int64_t ts, tg_wire_frame *out) {
    assert(out != NULL);
    tg_venue_event *ev = frame_next(out);
    if (ev == NULL) {
        return false;
    }
    ev->kind = TG_VEV_MARK;
    ev->stream = TG_VSTREAM_MARKET;
    ev->ts_ms = ts;
    if (!tg_wire_json_symbol(d, "s", ev->symbol, sizeof ev->symbol) ||
        !tg_wire_json_dec(d, "p", &ev->mark) || !tg_dec_is_pos(ev->mark)) {
        out->count--;
        return false;
    }
    return true;
}

static bool ws_account(const cJSON *d, int64_t ts, tg_wire_frame *out) {
    assert(out != NULL);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(d, "a");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(a, "P");
    const cJSON *p;
    cJSON_ArrayForEach(p, list) {
        tg_venue_event *ev = frame_next(out);
        if (ev == NULL) {
            return false;
        }
        ev->kind = TG_VEV_POSITION;
        ev->stream = TG_VSTREAM_ACCOUNT;
        ev->ts_ms = ts;
        if (!position_of(p, "pa", "ep", &ev->position)) {
            out->count--;
            return false;
        }
        ev->position.update_ms = ts;
    }
    return true;
}

static bool ws_algo(const cJSON *d, int64_t ts, tg_wire_frame *out) {
    assert(out != NULL);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(d, "o");
    tg_venue_stop stop;
    int r = algo_of(o, &WS_NAMES, &stop);
    if (r <= 0) {
        return r == 0;
    }
    tg_venue_event *ev = frame_next(out);
    if (ev == NULL) {
        return false;
    }
    ev->kind = TG_VEV_STOP;
    ev->stream = TG_VSTREAM_ACCOUNT;
    ev->ts_ms = ts;
    ev->stop = stop;
    if (ev->stop.update_ms == 0) {
        ev->stop.update_ms = ts;
    }
    return true;
}

static bool ws_event(const cJSON *d, tg_wire_frame *out) {
    assert(d != NULL && out != NULL);
    const char *e = tg_wire_json_str(d, "e");
    int64_t ts = 0;
    (void)tg_wire_json_i64(d, "E", &ts);
    if (e == NULL) {
        /* {"result":null,"id":1}: a (un)subscribe reply. */
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");
        out->ack = id != NULL;
        out->ack_ok = out->ack && cJSON_GetObjectItemCaseSensitive(d, "error") == NULL;
        return out->ack;
    }
    if (strcmp(e, "markPriceUpdate") == 0) {
        return ws_mark(d, ts, out);
    }
    if (strcmp(e, "ACCOUNT_UPDATE") == 0) {
        return ws_account(d, ts, out);
    }
    if (strcmp(e, "ALGO_UPDATE") == 0) {
        return ws_algo(d, ts, out);
    }
    if (strcmp(e, "listenKeyExpired") == 0) {
        out->listen_key_expired = true;
    }
    return true; /* other events are not ours to read */
}

/* ---- the mark frame without a JSON tree ------------------------------
 * A mark-price frame is most of what a daemon reads (thousands a second):
 * building a cJSON tree for each cost more than the rest of the tick. This
 * scanner reads the one shape, a flat markPriceUpdate object, alone or as
 * the "data" of a combined-stream frame, and gives up on anything else (an
 * escape, a nested value, another event, a value it would read differently),
 * which then goes through the tree as before. Where it answers, it answers as
 * the tree would: test_venue_wire and the fuzz target compare the two. */

/* The keys the scanner reads: "e", "s" and "p" as strings, "E" as a number. */
typedef enum flat_field { F_EVENT, F_SYMBOL, F_MARK, F_TIME, F_NONE } flat_field;

typedef struct flat_scan {
    const char *p, *end;     /* cursor, end of input */
    const char *str[F_TIME]; /* the string fields' values (first seen), or NULL */
    size_t str_len[F_TIME];  /* their lengths */
    bool data_key;           /* the outer object has had a "data" key (of any type) */
    bool has_ts;             /* "E" seen */
    int64_t ts;              /* its value */
} flat_scan;

static void flat_ws(flat_scan *f) {
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\t' || *f->p == '\n' || *f->p == '\r')) {
        f->p++;
    }
}

/* A string without escapes or control bytes; false otherwise. */
static bool flat_string(flat_scan *f, const char **text, size_t *len) {
    if (f->p >= f->end || *f->p != '"') {
        return false;
    }
    const char *start = ++f->p;
    while (f->p < f->end && *f->p != '"') {
        if (*f->p == '\\' || (unsigned char)*f->p < 0x20) {
            return false;
        }
        f->p++;
    }
    if (f->p >= f->end) {
        return false;
    }
    *text = start;
    *len = (size_t)(f->p - start);
    f->p++;
    return true;
}

static bool flat_digits(flat_scan *f) {
    const char *start = f->p;
    while (f->p < f->end && *f->p >= '0' && *f->p <= '9') {
        f->p++;
    }
    return f->p > start;
}

/* A number by JSON's grammar; *whole says it had no fraction or exponent. */
static bool flat_number(flat_scan *f, bool *whole) {
    if (f->p < f->end && *f->p == '-') {
        f->p++;
    }
    if (f->p < f->end && *f->p == '0') {
        f->p++;
    } else if (!flat_digits(f)) {
        return false;
    }
    *whole = true;
    if (f->p < f->end && *f->p == '.') {
        f->p++;
        *whole = false;
        if (!flat_digits(f)) {
            return false;
        }
    }
    if (f->p < f->end && (*f->p == 'e' || *f->p == 'E')) {
        f->p++;
        *whole = false;
        if (f->p < f->end && (*f->p == '+' || *f->p == '-')) {
            f->p++;
        }
        if (!flat_digits(f)) {
            return false;
        }
    }
    return true;
}

static bool flat_key_is(const char *k, size_t n, const char *want) {
    return n == strlen(want) && memcmp(k, want, n) == 0;
}

static flat_field flat_field_of(const char *k, size_t n) {
    if (n != 1) {
        return F_NONE;
    }
    switch (k[0]) {
    case 'e':
        return F_EVENT;
    case 's':
        return F_SYMBOL;
    case 'p':
        return F_MARK;
    case 'E':
        return F_TIME;
    default:
        return F_NONE;
    }
}

/* One object; depth 0 may hold "data" as a flat object of its own. */
static bool flat_object(flat_scan *f, int depth, bool *has_data) {
    flat_ws(f);
    if (f->p >= f->end || *f->p != '{') {
        return false;
    }
    f->p++;
    flat_ws(f);
    if (f->p < f->end && *f->p == '}') {
        f->p++;
        return true;
    }
    for (;;) {
        const char *k;
        size_t kn;
        flat_ws(f);
        if (!flat_string(f, &k, &kn)) {
            return false;
        }
        flat_ws(f);
        if (f->p >= f->end || *f->p++ != ':') {
            return false;
        }
        flat_ws(f);
        if (f->p >= f->end) {
            return false;
        }
        if (depth == 0 && flat_key_is(k, kn, "data")) {
            if (f->data_key) {
                return false; /* the tree reads the first "data" only, whatever its type */
            }
            f->data_key = true;
        }
        flat_field field = flat_field_of(k, kn);
        bool read = !(depth == 0 && *has_data); /* beside data: not read */
        char c = *f->p;
        if (c == '{') {
            if (depth != 0 || !flat_key_is(k, kn, "data") || *has_data) {
                return false;
            }
            *has_data = true;
            memset(f->str, 0, sizeof f->str); /* the tree reads the event from data only */
            f->has_ts = false;
            if (!flat_object(f, 1, has_data)) {
                return false;
            }
        } else if (c == '"') {
            const char *v;
            size_t vn;
            if (!flat_string(f, &v, &vn)) {
                return false;
            }
            if (read && field != F_NONE) {
                if (field == F_TIME || f->str[field] != NULL) {
                    return false; /* a repeated or differently typed field */
                }
                f->str[field] = v;
                f->str_len[field] = vn;
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            const char *start = f->p;
            bool whole = false;
            if (!flat_number(f, &whole)) {
                return false;
            }
            if (field == F_EVENT || field == F_SYMBOL || field == F_MARK) {
                return false; /* a field the tree would read differently */
            }
            if (field == F_TIME && read) {
                size_t n = (size_t)(f->p - start);
                if (!whole || f->has_ts || n > 15) {
                    return false;
                }
                int64_t v = 0;
                for (const char *d = start[0] == '-' ? start + 1 : start; d < f->p; d++) {
                    v = v * 10 + (*d - '0');
                }
                f->ts = start[0] == '-' ? -v : v;
                f->has_ts = true;
            }
        } else {
            return false; /* arrays and literals: the tree reads them */
        }
        flat_ws(f);
        if (f->p >= f->end) {
            return false;
        }
        if (*f->p == ',') {
            f->p++;
            continue;
        }
        if (*f->p == '}') {
            f->p++;
            return true;
        }
        return false;
    }
}

/* True when the frame was a mark and out holds it; false: not read here
 * (the tree reads it). */
static bool bn_mark_fast(const char *frame, size_t len, tg_wire_frame *out) {
    assert(out != NULL && out->count == 0);
    if (frame == NULL || len == 0 || len > TG_WIRE_BODY_MAX) {
        return false;
    }
    flat_scan f = {.p = frame, .end = frame + len};
    bool has_data = false;
    if (!flat_object(&f, 0, &has_data)) {
        return false;
    }
    flat_ws(&f);
    const char *sym = f.str[F_SYMBOL], *mark_text = f.str[F_MARK];
    size_t sym_len = f.str_len[F_SYMBOL], mark_len = f.str_len[F_MARK];
    if (f.p != f.end || f.str[F_EVENT] == NULL ||
        !flat_key_is(f.str[F_EVENT], f.str_len[F_EVENT], "markPriceUpdate") || sym == NULL ||
        mark_text == NULL || sym_len >= sizeof out->events[0].symbol || mark_len == 0 ||
        !tg_wire_symbol_ok(sym, sym_len)) {
        return false;
    }
    tg_dec mark;
    if (tg_dec_parse(mark_text, mark_len, &mark, NULL) != TG_DEC_OK || !tg_dec_is_pos(mark)) {
        return false;
    }
    tg_venue_event *ev = frame_next(out);
    assert(ev != NULL);
    ev->kind = TG_VEV_MARK;
    ev->stream = TG_VSTREAM_MARKET;
    ev->ts_ms = f.has_ts ? f.ts : 0;
    memcpy(ev->symbol, sym, sym_len);
    ev->symbol[sym_len] = '\0';
    ev->mark = mark;
    return true;
}

tg_status tg_bn_parse_ws(const char *frame, size_t len, tg_wire_frame *out, tg_err *err) {
    assert(out != NULL);
    tg_wire_frame_reset(out);
    if (bn_mark_fast(frame, len, out)) {
        return TG_OK;
    }
    return tg_bn_parse_ws_tree(frame, len, out, err);
}

tg_status tg_bn_parse_ws_tree(const char *frame, size_t len, tg_wire_frame *out, tg_err *err) {
    assert(out != NULL);
    tg_wire_frame_reset(out);
    cJSON *root = tg_wire_json_parse(frame, len, "binance stream", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    bool ok = true;
    if (cJSON_IsArray(root)) {
        const cJSON *it; /* !markPrice@arr */
        cJSON_ArrayForEach(it, root) {
            ok = ok && ws_event(it, out);
        }
    } else if (cJSON_IsArray(data)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, data) {
            ok = ok && ws_event(it, out);
        }
    } else {
        ok = ws_event(cJSON_IsObject(data) ? data : root, out);
    }
    cJSON_Delete(root);
    assert(out->count <= TG_WIRE_EVENTS_MAX);
    if (!ok) {
        return tg_err_set(err, TG_E_INVALID, "binance stream: malformed or oversized event");
    }
    return TG_OK;
}

tg_status tg_bn_parse_mark(const char *body, size_t len, const char *symbol, tg_dec *mark,
                           int64_t *ms, tg_err *err) {
    assert(symbol != NULL);
    assert(mark != NULL && ms != NULL);
    cJSON *root = tg_wire_json_parse(body, len, "binance premiumIndex", err);
    if (root == NULL) {
        return err != NULL ? err->status : TG_E_INVALID;
    }
    const char *sym = tg_wire_json_str(root, "symbol");
    int64_t t = 0;
    bool ok = cJSON_IsObject(root) && sym != NULL && strcmp(sym, symbol) == 0 &&
              tg_wire_json_dec(root, "markPrice", mark) && tg_dec_is_pos(*mark);
    if (ok && !tg_wire_json_i64(root, "time", &t)) {
        t = 0;
    }
    cJSON_Delete(root);
    if (!ok) {
        return tg_err_set(err, TG_E_INVALID,
                          "binance premiumIndex: no positive markPrice for %s in the response",
                          symbol);
    }
    *ms = t;
    return TG_OK;
}
