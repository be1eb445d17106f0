/* WebSocket streams through libwebsockets on the venue's libuv loop: the
 * mark-price stream (subscribe and unsubscribe while connected; everything
 * re-subscribed after a reconnect) and the account stream (Binance
 * listenKey with keep-alive, Bybit auth). A dropped stream reconnects by
 * itself with backoff and jitter. */
#define _POSIX_C_SOURCE 200809L

#include <assert.h>
#include <stdatomic.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "venue/internal.h"

#define WS_RX_MAX         (1u << 20) /* bytes of one incoming message */
#define WS_TXQ_MAX        64         /* outgoing messages queued */
#define WS_MSG_MAX        2048       /* bytes of one outgoing message */
#define WS_PATH_MAX       1024       /* bytes of a connect path */
#define WS_PING_MS        20000      /* Bybit heartbeat */
#define WS_BACKOFF_MS_MIN 100        /* first reconnect delay */
#define WS_BACKOFF_MS_MAX 5000       /* longest reconnect delay */
#define WS_TOPICS_BYBIT   10         /* subscribe arguments per message: Bybit's limit */
#define WS_TOPICS_BINANCE 48         /* streams per SUBSCRIBE: what fits WS_MSG_MAX */
#define WS_TXQ_SPARE      8          /* queue slots a re-subscription leaves to other messages */
#define WS_AUTH_EXPIRY_MS 10000      /* Bybit auth signature validity */

struct tg_ws {
    tg_venue *v;                                       /* owner */
    tg_venue_stream stream;                            /* market or account */
    struct lws *wsi;                                   /* connection; NULL when down */
    bool connected;                                    /* handshake done */
    bool closing;                                      /* being torn down */
    bool renew;                                        /* close at the next writeable */
    uv_timer_t retry;                                  /* reconnect, and the listenKey keep-alive */
    uv_timer_t ping;                                   /* Bybit heartbeat */
    int handles_open;                                  /* uv handles not yet closed */
    uint32_t attempts;                                 /* connects since the last success */
    char *rx;                                          /* message being received */
    size_t rx_len;                                     /* bytes in rx */
    bool rx_overflow;                                  /* message over WS_RX_MAX: dropped */
    char txq[WS_TXQ_MAX][LWS_PRE + WS_MSG_MAX];        /* outgoing ring */
    size_t txq_len[WS_TXQ_MAX];                        /* bytes of each message */
    size_t tx_head;                                    /* next to send */
    size_t tx_count;                                   /* queued */
    uint64_t req_id;                                   /* request ids */
    char symbols[TG_VENUE_SYMBOLS_MAX][TG_SYMBOL_MAX]; /* market: subscribed symbols */
    size_t symbols_count;                              /* entries in symbols */
    size_t sub_next;          /* market: first symbol not yet (re)subscribed on this connection */
    int64_t keepalive_due_us; /* Binance: next listenKey PUT */
    bool key_pending;         /* Binance: listenKey request out */
    tg_wire_frame frame;      /* the frame being decoded */
};

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);

static const struct lws_protocols PROTOCOLS[] = {
    {"tg-venue", ws_callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void emit_simple(tg_ws *ws, tg_venue_event_kind kind) {
    assert(ws != NULL && ws->v != NULL);
    assert(kind == TG_VEV_CONNECTED || kind == TG_VEV_DISCONNECTED);
    tg_venue_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.stream = ws->stream;
    ev.ts_ms = tg_venue_server_ms(ws->v);
    tg_venue_emit(ws->v, &ev);
}

void tg_venue_emit(tg_venue *v, const tg_venue_event *ev) {
    assert(v != NULL && ev != NULL);
    assert(ev->kind <= TG_VEV_DISCONNECTED);
    assert(ev->stream == TG_VSTREAM_MARKET || ev->stream == TG_VSTREAM_ACCOUNT);
    if (ev->kind == TG_VEV_POSITION) {
        tg_venue_position_seen(v, &ev->position);
    }
    if (ev->kind != TG_VEV_CONNECTED && ev->kind != TG_VEV_DISCONNECTED) {
        v->stats.ws_messages++;
    }
    if (v->on_event != NULL) {
        v->on_event(v->on_event_ctx, ev);
    }
}

void tg_venue_on_event(tg_venue *v, tg_venue_event_fn fn, void *ctx) {
    assert(v != NULL);
    v->on_event = fn;
    v->on_event_ctx = ctx;
}

/* Queues text; false when the queue is full (the stream then resyncs on
 * its next reconnect). */
static bool ws_send(tg_ws *ws, const char *text) {
    assert(ws != NULL && text != NULL);
    assert(ws->tx_count <= WS_TXQ_MAX && ws->tx_head < WS_TXQ_MAX);
    size_t n = strlen(text);
    if (n >= WS_MSG_MAX || ws->tx_count == WS_TXQ_MAX) {
        return false;
    }
    size_t slot = (ws->tx_head + ws->tx_count) % WS_TXQ_MAX;
    memcpy(ws->txq[slot] + LWS_PRE, text, n);
    ws->txq_len[slot] = n;
    ws->tx_count++;
    assert(ws->tx_count <= WS_TXQ_MAX);
    if (ws->wsi != NULL && ws->connected) {
        lws_callback_on_writable(ws->wsi);
    }
    return true;
}

static bool lws_ready(tg_venue *v, tg_err *err) {
    assert(v != NULL && v->loop != NULL);
    if (v->lws != NULL) {
        return true;
    }
    lws_set_log_level(0, NULL); /* library code prints nothing */
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[1] = {v->loop};
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = PROTOCOLS;
    static atomic_bool ssl_global_done; /* OpenSSL's global set-up: once per process */
    info.options = LWS_SERVER_OPTION_LIBUV;
    if (!atomic_exchange(&ssl_global_done, true)) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    }
    info.foreign_loops = loops;
    info.gid = -1;
    info.uid = -1;
    info.user = v;
    v->lws = lws_create_context(&info);
    if (v->lws == NULL) {
        tg_err_set(err, TG_E_UNAVAILABLE, "%s: the WebSocket context could not be created",
                   v->cfg.account);
        return false;
    }
    return true;
}

/* ws_url split into host, port, TLS and a base path. */
typedef struct ws_target {
    char host[TG_VENUE_URL_MAX]; /* host name or address */
    int port;                    /* TCP port */
    bool tls;                    /* wss */
    char base[TG_VENUE_URL_MAX]; /* path prefix, "" or "/x" */
} ws_target;

static bool ws_target_of(const char *url, ws_target *t) {
    assert(url != NULL && t != NULL);
    memset(t, 0, sizeof *t);
    t->tls = strncmp(url, "wss://", 6) == 0;
    if (!t->tls && strncmp(url, "ws://", 5) != 0) {
        return false;
    }
    const char *p = url + (t->tls ? 6 : 5);
    const char *end = *p == '[' ? strchr(p, ']') : p + strcspn(p, ":/");
    if (end == NULL) {
        return false;
    }
    end += *p == '[' ? 1 : 0;
    size_t hn = (size_t)(end - p);
    if (hn == 0 || hn >= sizeof t->host) {
        return false;
    }
    memcpy(t->host, *p == '[' ? p + 1 : p, *p == '[' ? hn - 2 : hn);
    t->port = t->tls ? 443 : 80;
    if (*end == ':') {
        t->port = atoi(end + 1);
        end += 1 + strspn(end + 1, "0123456789");
    }
    int n = snprintf(t->base, sizeof t->base, "%s", end);
    assert(n >= 0 && (size_t)n < sizeof t->base); /* end lies inside a TG_VENUE_URL_MAX url */
    size_t bl = strlen(t->base);
    if (bl > 0 && t->base[bl - 1] == '/') {
        t->base[bl - 1] = '\0';
    }
    return t->port > 0 && t->port < 65536;
}

static void ws_path(const tg_ws *ws, const ws_target *t, char *path) {
    assert(ws != NULL && t != NULL && path != NULL);
    assert(ws->stream == TG_VSTREAM_MARKET || ws->stream == TG_VSTREAM_ACCOUNT);
    const tg_venue *v = ws->v;
    if (v->cfg.kind == TG_VENUE_BINANCE) {
        int n =
            ws->stream == TG_VSTREAM_MARKET
                ? snprintf(path, WS_PATH_MAX, "%s/market/stream", t->base)
                : snprintf(path, WS_PATH_MAX, "%s/private/ws?listenKey=%s", t->base, v->listen_key);
        assert(n > 0 && n < WS_PATH_MAX);
        return;
    }
    int n = snprintf(path, WS_PATH_MAX, "%s%s", t->base,
                     ws->stream == TG_VSTREAM_MARKET ? "/v5/public/linear" : "/v5/private");
    assert(n > 0 && n < WS_PATH_MAX);
}

static void schedule_reconnect(tg_ws *ws);
static void on_listen_key(void *ctx, const tg_venue_reply *reply);

static void ws_connect(tg_ws *ws) {
    tg_venue *v = ws->v;
    assert(ws->wsi == NULL && !ws->closing);
    if (v->cfg.kind == TG_VENUE_BINANCE && ws->stream == TG_VSTREAM_ACCOUNT &&
        v->listen_key[0] == '\0') {
        tg_err err;
        if (!ws->key_pending && tg_venue_listen_key(v, false, on_listen_key, ws, &err) == TG_OK) {
            ws->key_pending = true;
        } else if (!ws->key_pending) {
            schedule_reconnect(ws);
        }
        return;
    }
    ws_target t;
    char path[WS_PATH_MAX];
    if (!ws_target_of(v->cfg.ws_url, &t)) {
        return; /* checked in tg_venue_new: cannot happen */
    }
    ws_path(ws, &t, path);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = v->lws;
    ci.address = t.host;
    ci.port = t.port;
    ci.path = path;
    ci.host = t.host;
    ci.origin = t.host;
    ci.ietf_version_or_minus_one = -1;
    ci.local_protocol_name = PROTOCOLS[0].name;
    ci.opaque_user_data = ws;
    ci.pwsi = &ws->wsi;
    if (t.tls) {
        ci.ssl_connection = LCCSCF_USE_SSL;
        if (v->cfg.insecure_loopback_tls) { /* only ever a loopback host, see tg_venue_new */
            ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
        }
    }
    ws->rx_len = 0;
    ws->rx_overflow = false;
    ws->tx_count = 0;
    ws->renew = false;
    ws->attempts++;
    v->stats.ws_connects++;
    if (lws_client_connect_via_info(&ci) == NULL) {
        ws->wsi = NULL;
        schedule_reconnect(ws);
    }
}

static void on_retry(uv_timer_t *t) {
    assert(t != NULL && t->data != NULL);
    tg_ws *ws = t->data;
    if (ws->closing) {
        return;
    }
    int64_t now = tg_http_now_us();
    if (ws->wsi == NULL) {
        ws_connect(ws);
    }
    if (ws->keepalive_due_us != 0 && now >= ws->keepalive_due_us && ws->wsi != NULL) {
        tg_err err; /* the key is good for 60 min; a failed PUT is retried next time */
        ws->keepalive_due_us = now + ws->v->cfg.listen_key_keepalive_ms * 1000LL;
        (void)tg_venue_listen_key(ws->v, true, on_listen_key, ws, &err);
        ws->key_pending = true;
    }
    if (ws->keepalive_due_us != 0 && ws->wsi != NULL) {
        uv_timer_start(&ws->retry, on_retry, (uint64_t)ws->v->cfg.listen_key_keepalive_ms, 0);
    }
}

static void schedule_reconnect(tg_ws *ws) {
    assert(ws != NULL);
    if (ws->closing) {
        return;
    }
    int64_t base = WS_BACKOFF_MS_MIN;
    for (uint32_t i = 1; i < ws->attempts && base < WS_BACKOFF_MS_MAX; i++) {
        base *= 2;
    }
    base = base < WS_BACKOFF_MS_MAX ? base : WS_BACKOFF_MS_MAX;
    assert(base >= WS_BACKOFF_MS_MIN && base <= WS_BACKOFF_MS_MAX);
    uint64_t jitter = (uint64_t)tg_http_now_us() % (uint64_t)(base / 2 + 1);
    uv_timer_start(&ws->retry, on_retry, (uint64_t)(base / 2) + jitter, 0);
}

static void on_listen_key(void *ctx, const tg_venue_reply *reply) {
    assert(ctx != NULL && reply != NULL);
    assert(((tg_ws *)ctx)->stream == TG_VSTREAM_ACCOUNT);
    tg_ws *ws = ctx;
    ws->key_pending = false;
    if (ws->closing) {
        return;
    }
    bool keepalive = ws->wsi != NULL;
    if (reply->error.code != TG_VENUE_OK) {
        if (reply->error.exchange_code == -1125 || !keepalive) {
            ws->v->listen_key[0] = '\0'; /* expired: a new key and a new connection */
            if (ws->wsi != NULL) {
                lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            } else {
                schedule_reconnect(ws);
            }
        }
        return;
    }
    if (!keepalive) {
        ws_connect(ws);
    }
}

static void ws_subscribe_all(tg_ws *ws);

static void on_ping(uv_timer_t *t) {
    assert(t != NULL && t->data != NULL);
    tg_ws *ws = t->data;
    char msg[64];
    int n = snprintf(msg, sizeof msg, "{\"req_id\":\"%" PRIu64 "\",\"op\":\"ping\"}", ++ws->req_id);
    assert(n > 0 && (size_t)n < sizeof msg);
    (void)ws_send(ws, msg);
}

/* The stream is up: (re)subscribe, authenticate, start heartbeats. */
static void on_established(tg_ws *ws) {
    assert(ws != NULL && ws->v != NULL);
    assert(ws->wsi != NULL && !ws->closing);
    tg_venue *v = ws->v;
    ws->connected = true;
    ws->attempts = 0;
    if (v->cfg.kind == TG_VENUE_BYBIT) {
        uv_timer_start(&ws->ping, on_ping, WS_PING_MS, WS_PING_MS);
    }
    if (ws->stream == TG_VSTREAM_MARKET) {
        ws_subscribe_all(ws);
        emit_simple(ws, TG_VEV_CONNECTED);
    } else if (v->cfg.kind == TG_VENUE_BYBIT) {
        char sig[TG_SIGN_HEX_LEN + 1], msg[WS_MSG_MAX];
        int64_t expires = tg_venue_server_ms(v) + WS_AUTH_EXPIRY_MS;
        tg_sign_bybit_ws(v->sign_key, expires, sig);
        int n =
            snprintf(msg, sizeof msg,
                     "{\"req_id\":\"auth\",\"op\":\"auth\",\"args\":[\"%s\",%" PRId64 ",\"%s\"]}",
                     v->cfg.api_key, expires, sig);
        assert(n > 0 && (size_t)n < sizeof msg);
        (void)ws_send(ws, msg);
        memset(msg, 0, sizeof msg);
    } else {
        ws->keepalive_due_us = tg_http_now_us() + ws->v->cfg.listen_key_keepalive_ms * 1000LL;
        uv_timer_start(&ws->retry, on_retry, (uint64_t)ws->v->cfg.listen_key_keepalive_ms, 0);
        emit_simple(ws, TG_VEV_CONNECTED);
    }
}

/* One (un)subscribe message for symbols[from, to). */
static void ws_topics(tg_ws *ws, bool subscribe, size_t from, size_t to) {
    assert(ws != NULL);
    assert(from < to && to <= ws->symbols_count);
    assert(to - from <=
           (ws->v->cfg.kind == TG_VENUE_BINANCE ? WS_TOPICS_BINANCE : WS_TOPICS_BYBIT));
    char msg[WS_MSG_MAX];
    size_t n;
    bool binance = ws->v->cfg.kind == TG_VENUE_BINANCE;
    if (binance) {
        n = (size_t)snprintf(msg, sizeof msg, "{\"method\":\"%s\",\"params\":[",
                             subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE");
    } else {
        n = (size_t)snprintf(msg, sizeof msg,
                             "{\"req_id\":\"%" PRIu64 "\",\"op\":\"%s\",\"args\":[", ws->req_id + 1,
                             subscribe ? "subscribe" : "unsubscribe");
    }
    for (size_t i = from; i < to && n < sizeof msg; i++) {
        char lower[TG_SYMBOL_MAX];
        for (size_t k = 0; k < sizeof lower; k++) {
            lower[k] = (char)tolower((unsigned char)ws->symbols[i][k]);
        }
        n += (size_t)snprintf(msg + n, sizeof msg - n,
                              binance ? "%s\"%s@markPrice@1s\"" : "%s\"tickers.%s\"",
                              i > from ? "," : "", binance ? lower : ws->symbols[i]);
    }
    assert(n < sizeof msg); /* WS_TOPICS_* are chosen to fit WS_MSG_MAX */
    if (n < sizeof msg) {
        if (binance) {
            snprintf(msg + n, sizeof msg - n, "],\"id\":%" PRIu64 "}", ws->req_id + 1);
        } else {
            snprintf(msg + n, sizeof msg - n, "]}");
        }
    }
    ws->req_id++;
    (void)ws_send(ws, msg);
}

/* Subscribes symbols[sub_next…) in batches while the queue has room; the
 * rest follows as the queue drains (on_writeable), so a thousand symbols do
 * not overflow it. */
static void ws_subscribe_more(tg_ws *ws) {
    assert(ws != NULL && ws->stream == TG_VSTREAM_MARKET);
    size_t per = ws->v->cfg.kind == TG_VENUE_BINANCE ? WS_TOPICS_BINANCE : WS_TOPICS_BYBIT;
    while (ws->sub_next < ws->symbols_count && ws->tx_count + WS_TXQ_SPARE < WS_TXQ_MAX) {
        size_t to = ws->sub_next + per;
        to = to < ws->symbols_count ? to : ws->symbols_count;
        ws_topics(ws, true, ws->sub_next, to);
        ws->sub_next = to;
    }
    assert(ws->sub_next <= ws->symbols_count);
}

static void ws_subscribe_all(tg_ws *ws) {
    assert(ws != NULL);
    assert(ws->symbols_count <= TG_VENUE_SYMBOLS_MAX);
    ws->sub_next = 0;
    ws_subscribe_more(ws);
}

static void on_message(tg_ws *ws, const char *text, size_t len) {
    assert(ws != NULL && ws->wsi != NULL);
    assert(text != NULL && len <= WS_RX_MAX);
    tg_venue *v = ws->v;
    tg_wire_frame *fp = &ws->frame;
    tg_err err;
    tg_status st = v->cfg.kind == TG_VENUE_BINANCE ? tg_bn_parse_ws(text, len, fp, &err)
                                                   : tg_by_parse_ws(text, len, fp, &err);
    if (st != TG_OK) {
        return; /* one unreadable frame is dropped; the fuzzers keep this path sound */
    }
    if (fp->auth_reply) {
        if (!fp->ack_ok) { /* reconnect later with a fresh signature */
            lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            return;
        }
        (void)ws_send(ws, "{\"req_id\":\"sub\",\"op\":\"subscribe\",\"args\":[\"position\","
                          "\"order\"]}");
        emit_simple(ws, TG_VEV_CONNECTED);
    }
    if (fp->listen_key_expired) {
        v->listen_key[0] = '\0';
        lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    for (size_t i = 0; i < fp->count; i++) {
        if (fp->events[i].stream == ws->stream) {
            tg_venue_emit(v, &fp->events[i]);
        }
    }
}

static void on_receive(tg_ws *ws, struct lws *wsi, const void *in, size_t len) {
    assert(ws != NULL && wsi != NULL);
    assert(in != NULL || len == 0);
    assert(ws->rx_len <= WS_RX_MAX);
    if (ws->rx == NULL) {
        ws->rx = malloc(WS_RX_MAX + 1);
        ws->rx_overflow = ws->rx == NULL;
    }
    if (!ws->rx_overflow && ws->rx_len + len <= WS_RX_MAX) {
        memcpy(ws->rx + ws->rx_len, in, len);
        ws->rx_len += len;
    } else {
        ws->rx_overflow = true;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0) {
        return;
    }
    if (!ws->rx_overflow) {
        ws->rx[ws->rx_len] = '\0';
        on_message(ws, ws->rx, ws->rx_len);
    }
    ws->rx_len = 0;
    ws->rx_overflow = false;
}

static void on_down(tg_ws *ws) {
    assert(ws != NULL);
    bool was = ws->connected;
    ws->wsi = NULL;
    ws->connected = false;
    uv_timer_stop(&ws->ping);
    if (ws->closing) {
        return;
    }
    if (was) {
        emit_simple(ws, TG_VEV_DISCONNECTED);
    }
    schedule_reconnect(ws);
}

static int on_writeable(tg_ws *ws, struct lws *wsi) {
    assert(ws != NULL && wsi != NULL);
    assert(ws->tx_count <= WS_TXQ_MAX && ws->tx_head < WS_TXQ_MAX);
    if (ws->renew) {
        ws->renew = false;
        return -1; /* closed here; on_down reconnects */
    }
    if (ws->tx_count == 0) {
        return 0;
    }
    size_t slot = ws->tx_head;
    assert(ws->txq_len[slot] > 0 && ws->txq_len[slot] < WS_MSG_MAX);
    int n =
        lws_write(wsi, (unsigned char *)ws->txq[slot] + LWS_PRE, ws->txq_len[slot], LWS_WRITE_TEXT);
    memset(ws->txq[slot], 0, sizeof ws->txq[slot]); /* may have held an auth signature */
    ws->tx_head = (ws->tx_head + 1) % WS_TXQ_MAX;
    ws->tx_count--;
    if (n < 0) {
        return -1;
    }
    if (ws->stream == TG_VSTREAM_MARKET && ws->sub_next < ws->symbols_count) {
        ws_subscribe_more(ws);
    }
    if (ws->tx_count > 0) {
        lws_callback_on_writable(wsi);
    }
    return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len) {
    (void)user;
    tg_ws *ws = lws_get_opaque_user_data(wsi);
    if (ws == NULL) {
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        ws->wsi = wsi;
        on_established(ws);
        if (ws->tx_count > 0) {
            lws_callback_on_writable(wsi);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        on_receive(ws, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return on_writeable(ws, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        lws_set_opaque_user_data(wsi, NULL);
        on_down(ws);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static tg_ws *ws_new(tg_venue *v, tg_venue_stream stream, tg_err *err) {
    assert(v != NULL);
    assert(stream == TG_VSTREAM_MARKET || stream == TG_VSTREAM_ACCOUNT);
    if (v->closing) {
        tg_err_set(err, TG_E_STATE, "%s: the venue is closed", v->cfg.account);
        return NULL;
    }
    if (v->cfg.ws_url[0] == '\0' || !lws_ready(v, err)) {
        if (v->cfg.ws_url[0] == '\0') {
            tg_err_set(err, TG_E_INVALID, "%s: no WebSocket URL configured", v->cfg.account);
        }
        return NULL;
    }
    tg_ws *ws = calloc(1, sizeof *ws);
    if (ws == NULL) {
        tg_err_set(err, TG_E_NOMEM, "out of memory for a stream");
        return NULL;
    }
    ws->v = v;
    ws->stream = stream;
    uv_timer_init(v->loop, &ws->retry);
    uv_timer_init(v->loop, &ws->ping);
    ws->retry.data = ws;
    ws->ping.data = ws;
    ws->handles_open = 2;
    ws_connect(ws);
    return ws;
}

static bool symbol_ok(const char *s) {
    size_t n = s != NULL ? strlen(s) : 0;
    for (size_t i = 0; i < n; i++) {
        if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return n > 0 && n < TG_SYMBOL_MAX;
}

static size_t symbol_index(const tg_ws *ws, const char *symbol) {
    assert(ws != NULL && symbol != NULL);
    assert(ws->symbols_count <= TG_VENUE_SYMBOLS_MAX);
    for (size_t i = 0; i < ws->symbols_count; i++) {
        if (strcmp(ws->symbols[i], symbol) == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

tg_status tg_venue_mark_subscribe(tg_venue *v, const char *symbol, tg_err *err) {
    assert(v != NULL && err != NULL);
    if (!symbol_ok(symbol)) {
        return tg_err_set(err, TG_E_INVALID, "mark stream: \"%.30s\" is not a symbol", symbol);
    }
    bool fresh = v->ws_market == NULL;
    if (fresh && (v->ws_market = ws_new(v, TG_VSTREAM_MARKET, err)) == NULL) {
        return err->status;
    }
    tg_ws *ws = v->ws_market;
    if (symbol_index(ws, symbol) != SIZE_MAX) {
        return TG_OK;
    }
    if (ws->symbols_count == TG_VENUE_SYMBOLS_MAX) {
        return tg_err_set(err, TG_E_CAPACITY, "mark stream: %d symbols already subscribed",
                          TG_VENUE_SYMBOLS_MAX);
    }
    bool caught_up = ws->sub_next == ws->symbols_count;
    int n = snprintf(ws->symbols[ws->symbols_count++], TG_SYMBOL_MAX, "%s", symbol);
    assert(n > 0 && n < TG_SYMBOL_MAX);
    assert(ws->symbols_count <= TG_VENUE_SYMBOLS_MAX);
    if (ws->connected && caught_up) {
        ws_subscribe_more(ws); /* else the re-subscription under way takes it */
    }
    return TG_OK;
}

tg_status tg_venue_mark_unsubscribe(tg_venue *v, const char *symbol, tg_err *err) {
    assert(v != NULL && err != NULL);
    tg_ws *ws = v->ws_market;
    size_t i = ws != NULL && symbol_ok(symbol) ? symbol_index(ws, symbol) : SIZE_MAX;
    if (i == SIZE_MAX) {
        return tg_err_set(err, TG_E_INVALID, "mark stream: \"%.30s\" is not subscribed",
                          symbol != NULL ? symbol : "");
    }
    if (ws->connected) {
        ws_topics(ws, false, i, i + 1);
    }
    /* the last symbol moves to i: one not yet subscribed must not land
     * behind sub_next (subscribing one twice is harmless) */
    ws->sub_next = ws->sub_next < ws->symbols_count && i < ws->sub_next ? i : ws->sub_next;
    assert(i < ws->symbols_count);
    memcpy(ws->symbols[i], ws->symbols[--ws->symbols_count], TG_SYMBOL_MAX);
    ws->sub_next = ws->sub_next > ws->symbols_count ? ws->symbols_count : ws->sub_next;
    return TG_OK;
}

void tg_venue_streams_renew(tg_venue *v) {
    assert(v != NULL);
    tg_ws *streams[2] = {v->ws_market, v->ws_account};
    for (size_t i = 0; i < 2; i++) {
        if (streams[i] != NULL && streams[i]->wsi != NULL && !streams[i]->closing) {
            /* closed from its next writeable callback; on_down reconnects */
            streams[i]->renew = true;
            lws_callback_on_writable(streams[i]->wsi);
        }
    }
}

tg_status tg_venue_account_start(tg_venue *v, tg_err *err) {
    assert(v != NULL && err != NULL);
    if (v->ws_account != NULL) {
        return TG_OK;
    }
    v->ws_account = ws_new(v, TG_VSTREAM_ACCOUNT, err);
    return v->ws_account != NULL ? TG_OK : err->status;
}

static void ws_handle_closed(uv_handle_t *h) {
    assert(h != NULL && h->data != NULL);
    assert(((tg_ws *)h->data)->handles_open > 0 && ((tg_ws *)h->data)->closing);
    tg_ws *ws = h->data;
    if (--ws->handles_open == 0) {
        free(ws->rx);
        free(ws);
    }
}

static void ws_close(tg_ws *ws) {
    if (ws == NULL) {
        return;
    }
    ws->closing = true;
    if (ws->wsi != NULL) {
        lws_set_opaque_user_data(ws->wsi, NULL);
        ws->wsi = NULL;
    }
    uv_timer_stop(&ws->retry);
    uv_timer_stop(&ws->ping);
    uv_close((uv_handle_t *)&ws->retry, ws_handle_closed);
    uv_close((uv_handle_t *)&ws->ping, ws_handle_closed);
}

void tg_ws_close_all(tg_venue *v) {
    assert(v != NULL);
    assert(v->closing);
    ws_close(v->ws_market);
    ws_close(v->ws_account);
    v->ws_market = NULL;
    v->ws_account = NULL;
    if (v->lws != NULL) {
        /* On a foreign loop this only starts: lws closes its handles as the
         * loop runs, and tg_ws_free_context finishes. */
        lws_context_destroy(v->lws);
    }
}

void tg_ws_free_context(tg_venue *v) {
    assert(v != NULL);
    assert(v->ws_market == NULL && v->ws_account == NULL);
    if (v->lws != NULL) {
        lws_context_destroy(v->lws);
        v->lws = NULL;
    }
}
