/* The venue core: configuration, the operation queue, pacing below the
 * rate limits, retries with backoff and jitter, clock sync, the circuit
 * breaker. The adapters (binance.c, bybit.c) only build and read. */
#define _POSIX_C_SOURCE 200809L

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "venue/internal.h"

#define US_PER_MS  1000LL
#define MS_PER_MIN 60000LL

#define VENUE_RECV_WINDOW_MS_MAX 60000   /* the longest recvWindow Binance and Bybit accept, ms */
#define VENUE_RETRY_COUNT_MAX    10      /* retries of a safe request */
#define VENUE_KEEPALIVE_MS_MAX   3540000 /* 59 min: a listenKey expires after 60 without one */

tg_venue_config tg_venue_config_default(tg_venue_kind kind) {
    assert(kind == TG_VENUE_BINANCE || kind == TG_VENUE_BYBIT);
    tg_venue_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    int n = snprintf(c.account, sizeof c.account, "default");
    assert(n > 0 && (size_t)n < sizeof c.account);
    n = snprintf(c.rest_url, sizeof c.rest_url, "%s",
                 kind == TG_VENUE_BINANCE ? "https://fapi.binance.com" : "https://api.bybit.com");
    assert(n > 0 && (size_t)n < sizeof c.rest_url);
    n = snprintf(c.ws_url, sizeof c.ws_url, "%s",
                 kind == TG_VENUE_BINANCE ? "wss://fstream.binance.com" : "wss://stream.bybit.com");
    assert(n > 0 && (size_t)n < sizeof c.ws_url);
    c.recv_window_ms = 5000;
    c.connect_timeout_ms = 3000;
    c.request_timeout_ms = 10000;
    c.retry_count_max = 3;
    c.backoff_ms_min = 100;
    c.backoff_ms_max = 2000;
    c.breaker_failures_max = 5;
    c.breaker_open_ms = 30000;
    c.listen_key_keepalive_ms = 30 * 60 * 1000;
    c.weight_limit_per_min = 2400;
    c.order_limit_per_min = 1200;
    return c;
}

const char *tg_venue_kind_str(tg_venue_kind kind) {
    return kind == TG_VENUE_BINANCE ? "binance" : "bybit";
}

const char *tg_venue_code_str(tg_venue_code code) {
    static const char *const names[] = {
        "ok",           "would trigger immediately",
        "precision",    "unknown order",
        "not modified", "duplicate client id",
        "stop exists",  "too many stops",
        "no position",  "bad parameter",
        "timestamp",    "authentication",
        "rate limit",   "banned",
        "server error", "transport",
        "circuit open", "rejected",
    };
    return (size_t)code < sizeof names / sizeof names[0] ? names[code] : "?";
}

int64_t tg_venue_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tg_venue_server_ms(const tg_venue *v) {
    assert(v != NULL);
    return tg_venue_wall_ms() + v->offset_ms;
}

void tg_venue_fail(const tg_venue *v, tg_venue_error *e, tg_venue_code code, const char *what,
                   const char *detail) {
    assert(v != NULL && e != NULL);
    assert(code != TG_VENUE_OK && code <= TG_VENUE_E_REJECTED);
    assert(what != NULL && detail != NULL);
    e->code = code;
    tg_status st = code == TG_VENUE_E_TRANSPORT || code == TG_VENUE_E_SERVER ||
                           code == TG_VENUE_E_RATE_LIMIT || code == TG_VENUE_E_BANNED ||
                           code == TG_VENUE_E_CIRCUIT_OPEN
                       ? TG_E_UNAVAILABLE
                       : TG_E_INVALID;
    if (e->exchange_code != 0) {
        tg_err_set(&e->err, st, "%s %s: exchange error %d (%s): %s", tg_venue_kind_str(v->cfg.kind),
                   what, e->exchange_code, tg_venue_code_str(code), detail);
    } else {
        tg_err_set(&e->err, st, "%s %s: %s: %s", tg_venue_kind_str(v->cfg.kind), what,
                   tg_venue_code_str(code), detail);
    }
    tg_wire_redact(e->err.msg, v->cfg.api_key, v->cfg.api_secret);
}

/* ---- configuration ---------------------------------------------------- */

/* Accepts scheme://host[:port][/...]; writes host (brackets stripped). */
static bool url_host(const char *url, const char *scheme, char *host, size_t size) {
    assert(url != NULL && scheme != NULL);
    assert(host != NULL && size > 0);
    size_t n = strlen(scheme);
    if (strncasecmp(url, scheme, n) != 0 || strncmp(url + n, "://", 3) != 0) {
        return false;
    }
    const char *p = url + n + 3, *end;
    if (*p == '[') {
        end = strchr(++p, ']');
    } else {
        end = p + strcspn(p, ":/?");
    }
    if (end == NULL || end == p || (size_t)(end - p) >= size) {
        return false;
    }
    assert((size_t)(end - p) < size);
    memcpy(host, p, (size_t)(end - p));
    host[end - p] = '\0';
    return true;
}

static bool is_loopback(const char *host) {
    assert(host != NULL);
    return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0;
}

/* TLS policy: https/wss always verified; plain http/ws and skipped
 * verification only toward a loopback address (an emulator). */
static tg_status check_url(const tg_venue_config *c, const char *url, const char *tls,
                           const char *plain, tg_err *err) {
    assert(c != NULL && url != NULL);
    assert(tls != NULL && plain != NULL);
    char host[TG_VENUE_URL_MAX];
    bool secure = url_host(url, tls, host, sizeof host);
    if (!secure && !url_host(url, plain, host, sizeof host)) {
        return tg_err_set(err, TG_E_INVALID, "%s: URL \"%.64s\" is not %s:// or %s://", c->account,
                          url, tls, plain);
    }
    if ((!secure || c->insecure_loopback_tls) && !is_loopback(host)) {
        return tg_err_set(err, TG_E_INVALID,
                          "%s: unencrypted or unverified connections are only allowed to "
                          "127.0.0.1 or ::1, not to %.64s",
                          c->account, host);
    }
    return TG_OK;
}

/* One sentence per check, naming the field and its value, so that the
 * operator knows which setting to change. */
static tg_status check_limits(const tg_venue_config *c, tg_err *err) {
    assert(c != NULL);
    const char *a = c->account;
    if (c->recv_window_ms <= 0) {
        return tg_err_set(err, TG_E_INVALID, "%s: recv_window_ms is %" PRId64 "; it must be > 0", a,
                          c->recv_window_ms);
    }
    if (c->recv_window_ms > VENUE_RECV_WINDOW_MS_MAX) {
        return tg_err_set(err, TG_E_INVALID,
                          "%s: recv_window_ms is %" PRId64 "; the exchanges accept at most %d", a,
                          c->recv_window_ms, VENUE_RECV_WINDOW_MS_MAX);
    }
    if (c->connect_timeout_ms <= 0) {
        return tg_err_set(err, TG_E_INVALID,
                          "%s: connect_timeout_ms is %" PRId64 "; it must be > 0", a,
                          c->connect_timeout_ms);
    }
    if (c->request_timeout_ms <= 0) {
        return tg_err_set(err, TG_E_INVALID,
                          "%s: request_timeout_ms is %" PRId64 "; it must be > 0", a,
                          c->request_timeout_ms);
    }
    if (c->backoff_ms_min <= 0) {
        return tg_err_set(err, TG_E_INVALID, "%s: backoff_ms_min is %" PRId64 "; it must be > 0", a,
                          c->backoff_ms_min);
    }
    if (c->backoff_ms_max < c->backoff_ms_min) {
        return tg_err_set(err, TG_E_INVALID,
                          "%s: backoff_ms_max is %" PRId64 ", below backoff_ms_min %" PRId64, a,
                          c->backoff_ms_max, c->backoff_ms_min);
    }
    if (c->retry_count_max > VENUE_RETRY_COUNT_MAX) {
        return tg_err_set(err, TG_E_INVALID, "%s: retry_count_max is %" PRIu32 "; at most %d", a,
                          c->retry_count_max, VENUE_RETRY_COUNT_MAX);
    }
    if (c->breaker_failures_max == 0) {
        return tg_err_set(err, TG_E_INVALID,
                          "%s: breaker_failures_max is 0; the circuit needs at least one failure "
                          "to open",
                          a);
    }
    if (c->breaker_open_ms <= 0) {
        return tg_err_set(err, TG_E_INVALID, "%s: breaker_open_ms is %" PRId64 "; it must be > 0",
                          a, c->breaker_open_ms);
    }
    if (c->listen_key_keepalive_ms <= 0) {
        return tg_err_set(err, TG_E_INVALID,
                          "%s: listen_key_keepalive_ms is %" PRId64 "; it must be > 0", a,
                          c->listen_key_keepalive_ms);
    }
    if (c->listen_key_keepalive_ms > VENUE_KEEPALIVE_MS_MAX) {
        return tg_err_set(err, TG_E_INVALID,
                          "%s: listen_key_keepalive_ms is %" PRId64
                          "; Binance drops a listenKey after 60 minutes, so at most %d",
                          a, c->listen_key_keepalive_ms, VENUE_KEEPALIVE_MS_MAX);
    }
    return TG_OK;
}

static tg_status check_config(const tg_venue_config *c, tg_err *err) {
    assert(c != NULL);
    if (c->kind != TG_VENUE_BINANCE && c->kind != TG_VENUE_BYBIT) {
        return tg_err_set(err, TG_E_INVALID, "unknown exchange kind %d", (int)c->kind);
    }
    tg_status st = check_url(c, c->rest_url, "https", "http", err);
    if (st == TG_OK && c->ws_url[0] != '\0') {
        st = check_url(c, c->ws_url, "wss", "ws", err);
    }
    if (st != TG_OK) {
        return st;
    }
    if (c->api_key[0] == '\0') {
        return tg_err_set(err, TG_E_INVALID, "%s: the API key is empty", c->account);
    }
    if (c->api_secret[0] == '\0') {
        return tg_err_set(err, TG_E_INVALID, "%s: the API secret is empty", c->account);
    }
    size_t ua_len = strnlen(c->user_agent, sizeof c->user_agent);
    if (ua_len == sizeof c->user_agent) {
        return tg_err_set(err, TG_E_INVALID, "%s: the User-Agent is not NUL-terminated",
                          c->account);
    }
    for (size_t i = 0; i < ua_len; i++) {
        if ((unsigned char)c->user_agent[i] < 0x20 || c->user_agent[i] == 0x7f) {
            /* a CR or LF would end the header and start another */
            return tg_err_set(err, TG_E_INVALID, "%s: the User-Agent holds a control character",
                              c->account);
        }
    }
    return check_limits(c, err);
}

tg_status tg_venue_new(const tg_venue_config *cfg, uv_loop_t *loop, tg_venue **out, tg_err *err) {
    assert(cfg != NULL && loop != NULL && out != NULL);
    tg_status st = check_config(cfg, err);
    if (st != TG_OK) {
        return st;
    }
    tg_venue *v = calloc(1, sizeof *v);
    if (v != NULL) {
        v->positions = calloc(TG_VENUE_POSITIONS_MAX, sizeof *v->positions);
        v->sign_key = tg_sign_key_new(cfg->api_secret);
    }
    if (v == NULL || v->positions == NULL || v->sign_key == NULL) {
        tg_venue_free(v);
        return tg_err_set(err, TG_E_NOMEM, "out of memory creating a venue");
    }
    v->cfg = *cfg;
    assert(cfg->kind == TG_VENUE_BINANCE || cfg->kind == TG_VENUE_BYBIT);
    v->ad = cfg->kind == TG_VENUE_BINANCE ? &tg_venue_binance : &tg_venue_bybit;
    v->loop = loop;
    v->limit_remaining = -1;
    v->stats.limit_remaining = -1;
    v->rng = cfg->seed != 0 ? cfg->seed : (uint64_t)tg_http_now_us() | 1;
    _Static_assert(TG_VENUE_UA_MAX <= TG_HTTP_UA_MAX, "a venue's User-Agent fits the transport's");
    tg_http_opts ho = {cfg->connect_timeout_ms, cfg->request_timeout_ms, cfg->insecure_loopback_tls,
                       ""};
    memcpy(ho.user_agent, cfg->user_agent, sizeof cfg->user_agent);
    st = tg_http_new(loop, &ho, &v->http, err);
    if (st != TG_OK) {
        tg_venue_free(v);
        return st;
    }
    uv_timer_init(loop, &v->timer);
    v->timer.data = v;
    v->timer_open = true;
    assert(v->ad != NULL && v->http != NULL);
    *out = v;
    return TG_OK;
}

tg_venue_kind tg_venue_get_kind(const tg_venue *v) {
    assert(v != NULL);
    assert(v->cfg.kind == TG_VENUE_BINANCE || v->cfg.kind == TG_VENUE_BYBIT);
    return v->cfg.kind;
}

int64_t tg_venue_clock_offset_ms(const tg_venue *v) {
    assert(v != NULL);
    return v->offset_ms;
}

tg_venue_stats tg_venue_get_stats(const tg_venue *v) {
    assert(v != NULL);
    assert(v->ops_count <= TG_VENUE_OPS_MAX);
    tg_venue_stats s = v->stats;
    s.breaker_open = v->breaker_until_us != 0;
    return s;
}

static void timer_closed(uv_handle_t *h) {
    assert(h != NULL && h->data != NULL);
    assert(((tg_venue *)h->data)->timer_open);
    tg_venue *v = h->data;
    v->timer_open = false;
}

void tg_venue_close(tg_venue *v) {
    if (v == NULL || v->closing) {
        return;
    }
    v->closing = true;
    tg_ws_close_all(v);
    tg_http_close(v->http); /* fails in-flight requests: their ops complete */
    v->http = NULL;
    while (v->ops != NULL) {
        tg_venue_op *op = v->ops;
        tg_venue_fail(v, &op->reply.error, TG_VENUE_E_TRANSPORT, "request", "venue closed");
        tg_venue_op_complete(v, op);
    }
    assert(v->ops_count == 0);
    if (v->timer_open) {
        uv_timer_stop(&v->timer);
        uv_close((uv_handle_t *)&v->timer, timer_closed);
    }
}

void tg_venue_free(tg_venue *v) {
    if (v == NULL) {
        return;
    }
    assert(v->ops == NULL && !v->timer_open);
    tg_ws_free_context(v);
    /* The secret is wiped from memory we give back. */
    memset(v->cfg.api_secret, 0, sizeof v->cfg.api_secret);
    tg_sign_key_free(v->sign_key);
    free(v->positions);
    free(v);
}

/* ---- positions known to the venue ------------------------------------- */

const tg_venue_position *tg_venue_position_find(const tg_venue *v, const char *key) {
    assert(v != NULL && key != NULL);
    assert(v->positions_count <= TG_VENUE_POSITIONS_MAX);
    for (size_t i = 0; i < v->positions_count; i++) {
        if (strcmp(v->positions[i].key, key) == 0) {
            return &v->positions[i];
        }
    }
    return NULL;
}

void tg_venue_position_seen(tg_venue *v, const tg_venue_position *p) {
    assert(v != NULL && p != NULL);
    assert(v->positions_count <= TG_VENUE_POSITIONS_MAX);
    tg_venue_position *known = (tg_venue_position *)tg_venue_position_find(v, p->key);
    if (tg_dec_is_zero(p->size)) {
        if (known != NULL) {
            assert(v->positions_count > 0);
            *known = v->positions[--v->positions_count];
        }
        return;
    }
    if (known != NULL) {
        *known = *p;
    } else if (v->positions_count < TG_VENUE_POSITIONS_MAX) {
        v->positions[v->positions_count++] = *p;
    }
}

void tg_venue_positions_replace(tg_venue *v, const tg_venue_position *p, size_t count) {
    assert(v != NULL);
    assert(count <= TG_VENUE_POSITIONS_MAX);
    assert(p != NULL || count == 0);
    if (count > 0) {
        memcpy(v->positions, p, count * sizeof *p);
    }
    v->positions_count = count;
    v->positions_known = true;
}
