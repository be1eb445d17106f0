/* WebSocket streams: Binance market streams (raw, combined, live
 * SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS) and the user-data stream; Bybit
 * public tickers (snapshot then delta, ping/pong) and the private stream
 * (auth, position/order/execution). Stream faults apply per message. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h, strcasecmp */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "sim/sim_int.h"

#define WS_TEXT_MAX 4096     /* bytes of one reply we build on the stack */
#define FUNDING_MS  28800000 /* 8 h between funding times */

/* ---- delivery with stream faults ---- */

static void deliver(tg_sim *sim, sim_conn *c, const char *stream, const char *text, size_t len) {
    assert(sim != NULL);
    assert(c != NULL);
    const sim_fault *f = sim_fault_take(sim, NULL, stream);
    sim_fault_kind kind = f != NULL ? f->kind : SIM_FAULT_HTTP5XX;
    if (f != NULL && kind == SIM_FAULT_STALE) {
        return;
    }
    if (f != NULL && kind == SIM_FAULT_DROP) {
        sim_conn_close(sim, c);
        return;
    }
    if (f != NULL && kind == SIM_FAULT_LATENCY) {
        sim_conn_ws_send_later(sim, c, text, len, f->ms);
        return;
    }
    if (f != NULL && kind == SIM_FAULT_REORDER && c->held == NULL) {
        c->held = malloc(len);
        if (c->held != NULL) {
            memcpy(c->held, text, len);
            c->held_len = len;
            return;
        }
    }
    sim_conn_ws_send(sim, c, text, len);
    if (c->held != NULL) {
        sim_conn_ws_send(sim, c, c->held, c->held_len);
        free(c->held);
        c->held = NULL;
    }
}

static void reply(tg_sim *sim, sim_conn *c, const char *text) {
    assert(sim != NULL);
    assert(c != NULL);
    sim_conn_ws_send(sim, c, text, strlen(text));
}

/* ---- subscriptions ---- */

static int sub_find(const sim_conn *c, const char *topic) {
    for (size_t i = 0; i < c->sub_count; i++) {
        if (strcasecmp(c->sub[i], topic) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Room for one more subscription, within sim->subs_max. */
static bool sub_room(tg_sim *sim, sim_conn *c) {
    assert(sim != NULL);
    assert(c != NULL);
    if (c->sub_count >= sim->subs_max) {
        return false;
    }
    if (c->sub_count < c->sub_cap) {
        return true;
    }
    size_t cap = c->sub_cap == 0 ? 32 : c->sub_cap * 2;
    cap = cap < sim->subs_max ? cap : sim->subs_max;
    char(*sub)[SIM_TOPIC_MAX] = realloc(c->sub, cap * sizeof *sub);
    if (sub != NULL) {
        c->sub = sub;
    }
    bool *snap = sub != NULL ? realloc(c->sub_snap, cap * sizeof *snap) : NULL;
    if (snap == NULL) {
        return false;
    }
    c->sub_snap = snap;
    c->sub_cap = cap;
    return true;
}

static bool sub_add(tg_sim *sim, sim_conn *c, const char *topic) {
    assert(sim != NULL);
    assert(c != NULL);
    if (sub_find(c, topic) >= 0) {
        return true;
    }
    if (strlen(topic) >= SIM_TOPIC_MAX || topic[0] == '\0' || !sub_room(sim, c)) {
        return false;
    }
    sim_strlcpy(c->sub[c->sub_count], topic, SIM_TOPIC_MAX);
    c->sub_snap[c->sub_count] = false;
    c->sub_count++;
    c->sub_at_count = 0;
    return true;
}

static void sub_del(sim_conn *c, const char *topic) {
    assert(c != NULL);
    int i = sub_find(c, topic);
    if (i < 0) {
        return;
    }
    for (size_t k = (size_t)i; k + 1 < c->sub_count; k++) {
        memcpy(c->sub[k], c->sub[k + 1], SIM_TOPIC_MAX);
        c->sub_snap[k] = c->sub_snap[k + 1];
    }
    c->sub_count--;
    c->sub_at_count = 0;
}

enum { SUB_MARK_3S = 0, SUB_MARK_1S = 1, SUB_TICKERS = 2 };

/* The symbol and kind a topic stands for; false for any other topic. */
static bool sub_parse(const tg_sim *sim, const char *t, int *symbol, int *kind) {
    assert(sim != NULL);
    if (strncmp(t, "tickers.", 8) == 0) {
        *kind = SUB_TICKERS;
        *symbol = sim_instrument_find(sim, t + 8);
        return *symbol >= 0;
    }
    const char *at = strchr(t, '@');
    if (at == NULL || at == t || (size_t)(at - t) >= SIM_INST_TEXT_MAX) {
        return false;
    }
    if (strcasecmp(at, "@markPrice") == 0) {
        *kind = SUB_MARK_3S;
    } else if (strcasecmp(at, "@markPrice@1s") == 0) {
        *kind = SUB_MARK_1S;
    } else {
        return false;
    }
    char sym[SIM_INST_TEXT_MAX];
    size_t n = (size_t)(at - t);
    for (size_t i = 0; i < n; i++) {
        sym[i] = (char)(t[i] >= 'a' && t[i] <= 'z' ? t[i] - 'a' + 'A' : t[i]);
    }
    sym[n] = '\0';
    *symbol = sim_instrument_find(sim, sym);
    return *symbol >= 0;
}

/* Index in c->sub of the subscription of kind to symbol, or -1. A push
 * reaches every socket, so this is a table look-up, rebuilt after a
 * subscription or the instruments changed. */
static int sub_index(tg_sim *sim, sim_conn *c, int symbol, int kind) {
    assert(sim != NULL);
    assert(c != NULL);
    if (c->sub_count == 0) {
        return -1;
    }
    if (c->sub_at_count != sim->inst_count) {
        int32_t *at = realloc(c->sub_at, sim->inst_count * SIM_SUB_KINDS * sizeof *at);
        if (at == NULL) {
            return -1;
        }
        c->sub_at = at;
        for (size_t i = 0; i < sim->inst_count * SIM_SUB_KINDS; i++) {
            at[i] = -1;
        }
        for (size_t i = 0; i < c->sub_count; i++) {
            int s = -1, k = 0;
            if (sub_parse(sim, c->sub[i], &s, &k) && at[s * SIM_SUB_KINDS + k] < 0) {
                at[s * SIM_SUB_KINDS + k] = (int32_t)i;
            }
        }
        c->sub_at_count = sim->inst_count;
    }
    assert(symbol >= 0 && (size_t)symbol < c->sub_at_count);
    return c->sub_at[symbol * SIM_SUB_KINDS + kind];
}

/* Adds the '/'-separated streams of list[0..len). */
static bool add_stream_list(tg_sim *sim, sim_conn *c, const char *list, size_t len) {
    assert(sim != NULL);
    assert(c != NULL);
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && list[i] != '/') {
            i++;
        }
        char topic[SIM_TOPIC_MAX];
        size_t n = i - start;
        if (n == 0 || n >= sizeof topic) {
            return false;
        }
        memcpy(topic, list + start, n);
        topic[n] = '\0';
        if (!sub_add(sim, c, topic)) {
            return false;
        }
        i++;
    }
    return true;
}

static int listen_key_account(tg_sim *sim, const char *key) {
    assert(sim != NULL);
    for (size_t i = 0; key != NULL && key[0] != '\0' && i < sim->acct_count; i++) {
        if (sim->acct[i].venue == SIM_BINANCE && strcmp(sim->acct[i].listen_key, key) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static bool route_binance(tg_sim *sim, sim_conn *c, const sim_http_req *req) {
    assert(sim != NULL);
    assert(c != NULL);
    assert(req != NULL);
    const char *p = req->path;
    static const char *const raw_prefixes[] = {"/ws", "/market/ws", "/public/ws", "/private/ws"};
    for (size_t i = 0; i < sizeof raw_prefixes / sizeof raw_prefixes[0]; i++) {
        size_t n = strlen(raw_prefixes[i]);
        if (strncmp(p, raw_prefixes[i], n) != 0 || (p[n] != '\0' && p[n] != '/')) {
            continue;
        }
        const char *rest = p[n] == '/' ? p + n + 1 : "";
        sim_params q = {0};
        sim_params_parse(req->query, strlen(req->query), &q);
        const char *key = rest[0] != '\0' ? rest : sim_param(&q, "listenKey");
        int account = listen_key_account(sim, key);
        if (account >= 0) {
            c->ws = SIM_WS_BN_USER;
            c->account = account;
            return true;
        }
        if (strcmp(raw_prefixes[i], "/private/ws") == 0) {
            return false; /* the private path serves only a live listenKey */
        }
        c->ws = SIM_WS_BN_MARKET;
        return add_stream_list(sim, c, rest, strlen(rest));
    }
    bool private_combined = strcmp(p, "/private/stream") == 0;
    if (private_combined || strcmp(p, "/stream") == 0 || strcmp(p, "/market/stream") == 0 ||
        strcmp(p, "/public/stream") == 0) {
        sim_params q = {0};
        sim_params_parse(req->query, strlen(req->query), &q);
        const char *streams = sim_param(&q, "streams");
        const char *key = private_combined ? sim_param(&q, "listenKey") : streams;
        int account = listen_key_account(sim, key);
        c->combined = true;
        if (account >= 0) {
            /* user data on a combined path: {"stream":"<listenKey>","data":…} */
            c->ws = SIM_WS_BN_USER;
            c->account = account;
            sim_strlcpy(c->user_key, key, sizeof c->user_key);
            return true;
        }
        if (private_combined) {
            return false; /* the private path serves only a live listenKey */
        }
        c->ws = SIM_WS_BN_MARKET;
        return streams == NULL || add_stream_list(sim, c, streams, strlen(streams));
    }
    return false;
}

/* A user-data event as the socket expects it: raw, or wrapped with its
 * listenKey as the stream name on a combined path. */
static void deliver_user(tg_sim *sim, sim_conn *c, const char *json, size_t len) {
    assert(sim != NULL);
    if (!c->combined) {
        deliver(sim, c, "stream:user", json, len);
        return;
    }
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_puts(&b, "{\"stream\":");
    sim_buf_jstr(&b, c->user_key);
    sim_buf_puts(&b, ",\"data\":");
    sim_buf_add(&b, json, len);
    sim_buf_puts(&b, "}");
    deliver(sim, c, "stream:user", b.p, b.len);
    sim_buf_free(&b);
}

bool sim_ws_route(tg_sim *sim, sim_conn *c, sim_venue v, const sim_http_req *req) {
    assert(sim != NULL && c != NULL && req != NULL);
    if (v == SIM_BINANCE) {
        return route_binance(sim, c, req);
    }
    if (strcmp(req->path, "/v5/public/linear") == 0) {
        c->ws = SIM_WS_BY_PUBLIC;
        return true;
    }
    if (strcmp(req->path, "/v5/private") == 0) {
        c->ws = SIM_WS_BY_PRIVATE;
        return true;
    }
    return false;
}

/* ---- messages from clients ---- */

static bool binance_stream_ok(const tg_sim *sim, const char *s) {
    assert(sim != NULL);
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || (size_t)(at - s) >= SIM_INST_TEXT_MAX) {
        return false;
    }
    char sym[SIM_INST_TEXT_MAX];
    size_t n = (size_t)(at - s);
    for (size_t i = 0; i < n; i++) {
        sym[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
    }
    sym[n] = '\0';
    return sim_instrument_find(sim, sym) >= 0;
}

static void binance_method(tg_sim *sim, sim_conn *c, const cJSON *msg) {
    assert(sim != NULL);
    assert(c != NULL);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    char idtext[64] = "null";
    int64_t idnum = 0;
    if (cJSON_IsNumber(id) && sim_json_int(id, 0, SIM_JSON_INT_MAX, &idnum)) {
        snprintf(idtext, sizeof idtext, "%lld", (long long)idnum);
    } else if (cJSON_IsNumber(id)) {
        /* Binance: an id that is not an unsigned integer is an invalid request */
        reply(sim, c, "{\"error\":{\"code\":2,\"msg\":\"Invalid request: id\"},\"id\":null}");
        return;
    } else if (cJSON_IsString(id) && strlen(id->valuestring) < 40) {
        snprintf(idtext, sizeof idtext, "\"%s\"", id->valuestring);
    }
    char out[WS_TEXT_MAX];
    const char *m = cJSON_IsString(method) ? method->valuestring : "";
    bool sub = strcmp(m, "SUBSCRIBE") == 0, unsub = strcmp(m, "UNSUBSCRIBE") == 0;
    if (strcmp(m, "LIST_SUBSCRIPTIONS") == 0) {
        sim_buf b;
        sim_buf_init(&b);
        sim_buf_puts(&b, "{\"result\":[");
        for (size_t i = 0; i < c->sub_count; i++) {
            sim_buf_puts(&b, i > 0 ? "," : "");
            sim_buf_jstr(&b, c->sub[i]);
        }
        sim_buf_printf(&b, "],\"id\":%s}", idtext);
        reply(sim, c, b.p);
        sim_buf_free(&b);
        return;
    }
    bool ok = (sub || unsub) && cJSON_IsArray(params);
    const cJSON *p;
    cJSON_ArrayForEach(p, params) {
        ok = ok && cJSON_IsString(p) && binance_stream_ok(sim, p->valuestring);
    }
    cJSON_ArrayForEach(p, (ok ? params : NULL)) {
        if (sub) {
            ok = sub_add(sim, c, p->valuestring) && ok;
        } else {
            sub_del(c, p->valuestring);
        }
    }
    if (ok) {
        snprintf(out, sizeof out, "{\"result\":null,\"id\":%s}", idtext);
    } else {
        snprintf(out, sizeof out, "{\"error\":{\"code\":2,\"msg\":\"Invalid request\"},\"id\":%s}",
                 idtext);
    }
    reply(sim, c, out);
}

/* op, req_id and conn_id fields shared by Bybit replies. */
static void bybit_ack(tg_sim *sim, sim_conn *c, const char *op, bool success, const char *ret,
                      const cJSON *req_id) {
    assert(sim != NULL);
    assert(c != NULL);
    sim_buf b;
    sim_buf_init(&b);
    sim_buf_printf(&b, "{\"success\":%s,\"ret_msg\":", success ? "true" : "false");
    sim_buf_jstr(&b, ret);
    sim_buf_printf(&b, ",\"conn_id\":\"sim-%llu\",\"req_id\":", (unsigned long long)c->id);
    char number[32] = "";
    int64_t n = 0;
    if (sim_json_int(req_id, -SIM_JSON_INT_MAX, SIM_JSON_INT_MAX, &n)) {
        snprintf(number, sizeof number, "%lld", (long long)n);
    }
    sim_buf_jstr(&b, cJSON_IsString(req_id) ? req_id->valuestring : number);
    sim_buf_puts(&b, ",\"op\":");
    sim_buf_jstr(&b, op);
    sim_buf_puts(&b, "}");
    reply(sim, c, b.p);
    sim_buf_free(&b);
}

static bool bybit_topic_ok(const sim_conn *c, const char *t) {
    if (c->ws == SIM_WS_BY_PUBLIC) {
        return strncmp(t, "tickers.", 8) == 0 && sim_instrument_find(c->sim, t + 8) >= 0;
    }
    static const char *const topics[] = {"position",     "position.linear", "order",
                                         "order.linear", "execution",       "execution.linear"};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        if (strcmp(t, topics[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void bybit_auth(tg_sim *sim, sim_conn *c, const cJSON *args, const cJSON *req_id) {
    assert(sim != NULL);
    assert(c != NULL);
    const cJSON *key = cJSON_GetArrayItem(args, 0);
    const cJSON *expires = cJSON_GetArrayItem(args, 1);
    const cJSON *sign = cJSON_GetArrayItem(args, 2);
    char payload[64];
    int64_t exp = 0;
    bool exp_ok = cJSON_IsString(expires)
                      ? sim_text_int(expires->valuestring, 0, SIM_JSON_INT_MAX, &exp)
                      : sim_json_int(expires, 0, SIM_JSON_INT_MAX, &exp);
    if (!exp_ok) {
        bybit_ack(sim, c, "auth", false, "Params Error", req_id);
        return;
    }
    snprintf(payload, sizeof payload, "GET/realtime%lld", (long long)exp);
    int a = cJSON_IsString(key) ? sim_account_by_key(sim, SIM_BYBIT, key->valuestring) : -1;
    if (a < 0 || !cJSON_IsString(sign) ||
        !sim_hmac_verify(sim->acct[a].secret, payload, strlen(payload), sign->valuestring)) {
        bybit_ack(sim, c, "auth", false, "Params Error", req_id);
        return;
    }
    if (exp <= sim_now_ms(sim)) {
        bybit_ack(sim, c, "auth", false, "error:request expired", req_id);
        return;
    }
    c->authed = true;
    c->account = a;
    bybit_ack(sim, c, "auth", true, "", req_id);
}

static void bybit_snapshot(tg_sim *sim, sim_conn *c, int symbol);

static void bybit_subscribe(tg_sim *sim, sim_conn *c, const char *op, const cJSON *args,
                            const cJSON *req_id) {
    assert(sim != NULL);
    bool sub = strcmp(op, "subscribe") == 0;
    if (c->ws == SIM_WS_BY_PRIVATE && !c->authed) {
        bybit_ack(sim, c, op, false, "Request not authorized", req_id);
        return;
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, args) {
        if (!cJSON_IsString(t) || !bybit_topic_ok(c, t->valuestring)) {
            char msg[128];
            snprintf(msg, sizeof msg, "Invalid topic: %.64s",
                     cJSON_IsString(t) ? t->valuestring : "?");
            bybit_ack(sim, c, op, false, msg, req_id);
            return;
        }
    }
    cJSON_ArrayForEach(t, args) {
        if (sub) {
            sub_add(sim, c, t->valuestring);
        } else {
            sub_del(c, t->valuestring);
        }
    }
    bybit_ack(sim, c, op, true, "", req_id);
    cJSON_ArrayForEach(t, (sub && c->ws == SIM_WS_BY_PUBLIC ? args : NULL)) {
        bybit_snapshot(sim, c, sim_instrument_find(sim, t->valuestring + 8));
    }
}

static void bybit_op(tg_sim *sim, sim_conn *c, const cJSON *msg) {
    assert(sim != NULL);
    assert(c != NULL);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(msg, "op");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(msg, "args");
    const cJSON *req_id = cJSON_GetObjectItemCaseSensitive(msg, "req_id");
    const char *o = cJSON_IsString(op) ? op->valuestring : "";
    if (strcmp(o, "ping") == 0 && c->ws == SIM_WS_BY_PUBLIC) {
        bybit_ack(sim, c, "ping", true, "pong", req_id);
    } else if (strcmp(o, "ping") == 0) {
        char out[WS_TEXT_MAX];
        snprintf(
            out, sizeof out,
            "{\"req_id\":\"%.40s\",\"op\":\"pong\",\"args\":[\"%lld\"],\"conn_id\":\"sim-%llu\"}",
            cJSON_IsString(req_id) ? req_id->valuestring : "", (long long)sim_now_ms(sim),
            (unsigned long long)c->id);
        reply(sim, c, out);
    } else if (strcmp(o, "auth") == 0 && c->ws == SIM_WS_BY_PRIVATE) {
        bybit_auth(sim, c, args, req_id);
    } else if ((strcmp(o, "subscribe") == 0 || strcmp(o, "unsubscribe") == 0) &&
               cJSON_IsArray(args)) {
        bybit_subscribe(sim, c, o, args, req_id);
    } else {
        bybit_ack(sim, c, o, false, "Invalid op", req_id);
    }
}

void sim_ws_on_text(tg_sim *sim, sim_conn *c, const char *msg, size_t len) {
    assert(sim != NULL && c != NULL);
    cJSON *j = cJSON_ParseWithLength(msg, len);
    if (!cJSON_IsObject(j)) {
        if (c->ws == SIM_WS_BN_MARKET) {
            reply(sim, c, "{\"error\":{\"code\":3,\"msg\":\"Invalid JSON\"},\"id\":null}");
        } else if (c->ws == SIM_WS_BY_PUBLIC || c->ws == SIM_WS_BY_PRIVATE) {
            bybit_ack(sim, c, "", false, "Invalid JSON", NULL);
        }
        cJSON_Delete(j);
        return;
    }
    if (c->ws == SIM_WS_BN_MARKET) {
        binance_method(sim, c, j);
    } else if (c->ws == SIM_WS_BY_PUBLIC || c->ws == SIM_WS_BY_PRIVATE) {
        bybit_op(sim, c, j);
    }
    cJSON_Delete(j);
}

/* ---- pushes ---- */

static void mark_event(tg_sim *sim, sim_buf *b, int symbol) {
    assert(sim != NULL);
    assert(b != NULL);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    int64_t now = sim_now_ms(sim);
    sim_buf_printf(b, "{\"e\":\"markPriceUpdate\",\"E\":%lld,\"s\":\"%s\",\"p\":", (long long)now,
                   sim->inst[symbol].symbol);
    sim_buf_jdec(b, sim->mark[symbol], 8);
    sim_buf_puts(b, ",\"i\":");
    sim_buf_jdec(b, sim->mark[symbol], 8);
    sim_buf_puts(b, ",\"P\":");
    sim_buf_jdec(b, sim->mark[symbol], 8);
    sim_buf_printf(b, ",\"r\":\"0.00010000\",\"T\":%lld}",
                   (long long)((now / FUNDING_MS + 1) * FUNDING_MS));
}

/* One mark event of symbol, built once per push for every socket: raw, and
 * wrapped for a combined stream (whose name differs per socket). */
typedef struct mark_text {
    sim_buf raw;  /* the event; empty until first needed */
    sim_buf wrap; /* {"stream":…,"data":raw} for the socket at hand */
} mark_text;

static void send_mark(tg_sim *sim, sim_conn *c, int symbol, int sub, mark_text *m) {
    assert(sim != NULL);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    if (m->raw.len == 0) {
        mark_event(sim, &m->raw, symbol);
    }
    if (!c->combined) {
        deliver(sim, c, "stream:markPrice", m->raw.p, m->raw.len);
        return;
    }
    sim_buf_reset(&m->wrap);
    sim_buf_puts(&m->wrap, "{\"stream\":");
    sim_buf_jstr(&m->wrap, c->sub[sub]);
    sim_buf_puts(&m->wrap, ",\"data\":");
    sim_buf_add(&m->wrap, m->raw.p, m->raw.len);
    sim_buf_puts(&m->wrap, "}");
    deliver(sim, c, "stream:markPrice", m->wrap.p, m->wrap.len);
}

/* Sends the mark of symbol on a Binance market socket for each matching
 * stream it has, in the order they were subscribed. */
static void push_binance_mark(tg_sim *sim, sim_conn *c, int symbol, bool p1, bool p3,
                              mark_text *m) {
    assert(sim != NULL);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    bool event = !p1 && !p3;
    int i1 = event || p1 ? sub_index(sim, c, symbol, SUB_MARK_1S) : -1;
    int i3 = event || p3 ? sub_index(sim, c, symbol, SUB_MARK_3S) : -1;
    int first = i3 >= 0 && (i1 < 0 || i3 < i1) ? i3 : i1;
    int second = first == i3 ? i1 : i3;
    if (first >= 0) {
        send_mark(sim, c, symbol, first, m);
    }
    if (second >= 0 && !c->closing) {
        send_mark(sim, c, symbol, second, m);
    }
}

static void ticker_data(tg_sim *sim, sim_buf *b, int symbol, bool snapshot) {
    assert(sim != NULL);
    assert(b != NULL);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    int pdp = sim_price_dp(sim, symbol);
    tg_dec m = sim->mark[symbol];
    const char *dir = tg_dec_gt(m, sim->mark_prev[symbol])
                          ? "PlusTick"
                          : (tg_dec_lt(m, sim->mark_prev[symbol]) ? "MinusTick" : "ZeroPlusTick");
    sim_buf_printf(b,
                   "{\"topic\":\"tickers.%s\",\"type\":\"%s\",\"data\":{\"symbol\":\"%s\","
                   "\"tickDirection\":\"%s\",\"markPrice\":",
                   sim->inst[symbol].symbol, snapshot ? "snapshot" : "delta",
                   sim->inst[symbol].symbol, dir);
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"indexPrice\":");
    sim_buf_jdec(b, m, pdp);
    sim_buf_puts(b, ",\"lastPrice\":");
    sim_buf_jdec(b, m, pdp);
    if (snapshot) {
        /* every field of the documented linear snapshot: clients tell a
         * contract ticker from a spot one by fields such as openInterestValue */
        static const char *const same[] = {"prevPrice24h", "highPrice24h", "lowPrice24h",
                                           "prevPrice1h",  "bid1Price",    "ask1Price"};
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
            sim_buf_printf(b, ",\"%s\":", same[i]);
            sim_buf_jdec(b, m, pdp);
        }
        int64_t now = sim_now_ms(sim);
        sim_buf_printf(
            b,
            ",\"price24hPcnt\":\"0\",\"bid1Size\":\"1\",\"ask1Size\":\"1\","
            "\"openInterest\":\"0\",\"openInterestValue\":\"0\",\"turnover24h\":\"0\","
            "\"volume24h\":\"0\",\"nextFundingTime\":\"%lld\",\"fundingRate\":\"0.0001\"",
            (long long)((now / FUNDING_MS + 1) * FUNDING_MS));
    }
    sim_buf_printf(b, "},\"cs\":%llu,\"ts\":%lld}", (unsigned long long)++sim->event_seq,
                   (long long)sim_now_ms(sim));
}

static void bybit_snapshot(tg_sim *sim, sim_conn *c, int symbol) {
    assert(sim != NULL);
    assert(c != NULL);
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    char topic[SIM_TOPIC_MAX];
    snprintf(topic, sizeof topic, "tickers.%s", sim->inst[symbol].symbol);
    int i = sub_find(c, topic);
    if (i < 0 || c->sub_snap[i]) {
        return;
    }
    c->sub_snap[i] = true;
    sim_buf b;
    sim_buf_init(&b);
    ticker_data(sim, &b, symbol, true);
    sim_conn_ws_send(sim, c, b.p, b.len); /* the snapshot is the subscription's answer */
    sim_buf_free(&b);
}

void sim_ws_push_mark(tg_sim *sim, int symbol, bool periodic_1s, bool periodic_3s) {
    assert(symbol >= 0 && (size_t)symbol < sim->inst_count);
    mark_text m;
    sim_buf_init(&m.raw);
    sim_buf_init(&m.wrap);
    for (size_t k = 0; k < SIM_CONNS_MAX; k++) {
        sim_conn *c = sim->conns[k];
        if (c == NULL || c->closing) {
            continue;
        }
        if (c->ws == SIM_WS_BN_MARKET) {
            push_binance_mark(sim, c, symbol, periodic_1s, periodic_3s, &m);
        } else if (c->ws == SIM_WS_BY_PUBLIC && !periodic_1s && !periodic_3s &&
                   sub_index(sim, c, symbol, SUB_TICKERS) >= 0) {
            sim_buf b;
            sim_buf_init(&b);
            ticker_data(sim, &b, symbol, false);
            deliver(sim, c, "stream:tickers", b.p, b.len);
            sim_buf_free(&b);
        }
    }
    sim_buf_free(&m.raw);
    sim_buf_free(&m.wrap);
}

void sim_ws_push_user(tg_sim *sim, int account, const char *json) {
    assert(sim != NULL);
    for (size_t k = 0; k < SIM_CONNS_MAX; k++) {
        sim_conn *c = sim->conns[k];
        if (c != NULL && !c->closing && c->ws == SIM_WS_BN_USER && c->account == account) {
            deliver_user(sim, c, json, strlen(json));
        }
    }
}

void sim_ws_push_private(tg_sim *sim, int account, const char *topic, const char *data_array) {
    assert(sim != NULL);
    char linear[SIM_TOPIC_MAX];
    snprintf(linear, sizeof linear, "%s.linear", topic);
    for (size_t k = 0; k < SIM_CONNS_MAX; k++) {
        sim_conn *c = sim->conns[k];
        if (c == NULL || c->closing || c->ws != SIM_WS_BY_PRIVATE || c->account != account ||
            !c->authed) {
            continue;
        }
        bool plain = sub_find(c, topic) >= 0;
        if (!plain && sub_find(c, linear) < 0) {
            continue;
        }
        sim_buf b;
        sim_buf_init(&b);
        sim_buf_printf(&b, "{\"id\":\"%llu\",\"topic\":\"%s\",\"creationTime\":%lld,\"data\":",
                       (unsigned long long)++sim->event_seq, plain ? topic : linear,
                       (long long)sim_now_ms(sim));
        sim_buf_puts(&b, data_array);
        sim_buf_puts(&b, "}");
        deliver(sim, c, "stream:private", b.p, b.len);
        sim_buf_free(&b);
    }
}

void sim_ws_listen_key_expired(tg_sim *sim, int account, const char *key) {
    assert(sim != NULL);
    char out[WS_TEXT_MAX];
    snprintf(out, sizeof out, "{\"e\":\"listenKeyExpired\",\"E\":%lld,\"listenKey\":\"%s\"}",
             (long long)sim_now_ms(sim), key);
    for (size_t k = 0; k < SIM_CONNS_MAX; k++) {
        sim_conn *c = sim->conns[k];
        if (c != NULL && !c->closing && c->ws == SIM_WS_BN_USER && c->account == account) {
            if (c->combined) {
                char wrapped[WS_TEXT_MAX + 2 * SIM_LISTEN_KEY_LEN];
                snprintf(wrapped, sizeof wrapped, "{\"stream\":\"%s\",\"data\":%s}", c->user_key,
                         out);
                reply(sim, c, wrapped);
            } else {
                reply(sim, c, out);
            }
            sim_conn_finish(sim, c); /* closes once the event is written */
        }
    }
}
