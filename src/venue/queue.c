/* The operation queue: every request leaves from here, paced, signed at
 * the last moment, retried when safe, and its operation completed from the
 * loop, never from inside the call that queued it. */
#define _POSIX_C_SOURCE 200809L

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "venue/internal.h"

#define US_PER_MS  1000LL
#define MS_PER_MIN 60000LL

void tg_vreq_init(tg_vreq *req, const char *method, const char *path, bool sign, uint32_t weight) {
    assert(req != NULL);
    assert(method != NULL && path != NULL && path[0] == '/');
    memset(req, 0, sizeof *req);
    tg_payload_init(&req->params);
    req->method = method;
    req->path = path;
    req->sign = sign;
    req->weight = weight;
    req->retry_safe = true;
}

static void on_timer(uv_timer_t *t);

/* Wakes the queue at the earliest time any waiting op may go. */
static void rearm(tg_venue *v) {
    assert(v != NULL);
    assert(v->ops_count <= TG_VENUE_OPS_MAX);
    if (v->closing || !v->timer_open) {
        return;
    }
    int64_t now = tg_http_now_us(), at = INT64_MAX;
    for (tg_venue_op *op = v->ops; op != NULL; op = op->next) {
        if (op->state == TG_VENUE_OP_WAITING && op->not_before_us < at) {
            at = op->not_before_us;
        }
    }
    if (at == INT64_MAX) {
        uv_timer_stop(&v->timer);
        return;
    }
    uint64_t ms = at > now ? (uint64_t)((at - now + US_PER_MS - 1) / US_PER_MS) : 0;
    uv_timer_start(&v->timer, on_timer, ms, 0);
}

static void op_unlink(tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL);
    assert(v->ops_count > 0);
    for (tg_venue_op **p = &v->ops; *p != NULL; p = &(*p)->next) {
        if (*p == op) {
            *p = op->next;
            v->ops_count--;
            return;
        }
    }
    assert(0 && "operation not queued");
}

void tg_venue_op_complete(tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL);
    assert(op->v == v && op->done != NULL);
    op_unlink(v, op);
    op->reply.latency_us = tg_http_now_us() - op->start_us;
    assert(op->reply.latency_us >= 0);
    if (op->reply.error.code == TG_VENUE_OK) {
        tg_err_clear(&op->reply.error.err);
    }
    assert(op->reply.error.code == TG_VENUE_OK || op->reply.error.err.msg[0] != '\0');
    op->done(op->ctx, &op->reply);
    free(op->rules);
    free(op->positions);
    free(op->stops);
    free(op);
}

tg_venue_rules *tg_venue_op_rules(tg_venue_op *op) {
    assert(op != NULL);
    if (op->rules == NULL) {
        op->rules = calloc(TG_VENUE_RULES_MAX, sizeof *op->rules);
    }
    return op->rules;
}

tg_venue_position *tg_venue_op_positions(tg_venue_op *op) {
    assert(op != NULL);
    if (op->positions == NULL) {
        op->positions = calloc(TG_VENUE_POSITIONS_MAX, sizeof *op->positions);
    }
    return op->positions;
}

tg_venue_stop *tg_venue_op_stops(tg_venue_op *op) {
    assert(op != NULL);
    if (op->stops == NULL) {
        op->stops = calloc(TG_VENUE_STOPS_MAX, sizeof *op->stops);
    }
    return op->stops;
}

/* µs this request must still wait to stay under the limits; 0 = go. */
static int64_t pace_delay_us(tg_venue *v, const tg_venue_op *op) {
    assert(v != NULL && op != NULL);
    assert(op->state == TG_VENUE_OP_WAITING);
    int64_t now = tg_http_now_us();
    if (now < v->pause_until_us) {
        return v->pause_until_us - now;
    }
    int64_t server = tg_venue_server_ms(v);
    if (v->cfg.kind == TG_VENUE_BINANCE) {
        int64_t minute = server / MS_PER_MIN;
        if (minute != v->weight_minute) {
            v->weight_minute = minute;
            v->weight_used = 0;
            v->orders_used = 0;
        }
        /* Reads keep a headroom of the weight budget for orders: a protective
         * stop never waits behind listings (only the exchange's own limit
         * holds it back). */
        uint64_t wpct = op->req.order ? 100 : TG_VENUE_PACE_PCT;
        uint64_t wmax = (uint64_t)v->cfg.weight_limit_per_min * wpct / 100;
        uint64_t omax = (uint64_t)v->cfg.order_limit_per_min * TG_VENUE_PACE_PCT / 100;
        if ((uint64_t)v->weight_used + op->req.weight + op->req.reserve > wmax ||
            (op->req.order && (uint64_t)v->orders_used + 1 > omax)) {
            int64_t wait_us = ((minute + 1) * MS_PER_MIN - server + 1) * US_PER_MS;
            assert(wait_us > 0);
            return wait_us;
        }
        return 0;
    }
    if (v->limit_remaining == 0 && v->limit_reset_ms > server) {
        return (v->limit_reset_ms - server + 1) * US_PER_MS;
    }
    return 0;
}

static void on_http_done(void *ctx, const tg_http_resp *resp);

static void op_send(tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL && op->v == v);
    assert(op->state == TG_VENUE_OP_WAITING && !op->finished);
    assert(op->req.method != NULL && op->req.path != NULL);
    char url[TG_HTTP_URL_MAX];
    char headers[TG_HTTP_HEADERS_MAX][TG_HTTP_HEADER_MAX];
    const char *hp[TG_HTTP_HEADERS_MAX];
    size_t nh = 0;
    tg_payload body;
    tg_payload_init(&body);
    op->sent_wall_ms = tg_venue_wall_ms();
    if (op->req.params.overflow ||
        !v->ad->build(v, &op->req, op->sent_wall_ms + v->offset_ms, url, &body, headers, &nh)) {
        tg_venue_fail(v, &op->reply.error, TG_VENUE_E_PARAM, op->req.path,
                      "request does not fit its buffer");
        op->finished = true;
        return;
    }
    assert(nh <= TG_HTTP_HEADERS_MAX);
    for (size_t i = 0; i < nh; i++) {
        hp[i] = headers[i];
    }
    tg_err err;
    if (tg_http_send(v->http, op->req.method, url, hp, nh, body.len > 0 ? body.buf : NULL,
                     on_http_done, op, &err) != TG_OK) {
        op->not_before_us = tg_http_now_us() + 10 * US_PER_MS; /* transport full: soon again */
        return;
    }
    memset(headers, 0, sizeof headers); /* signatures do not linger on the stack */
    op->state = TG_VENUE_OP_INFLIGHT;
    op->attempts++;
    op->reply.requests++;
    v->stats.requests++;
    v->stats.retries += op->attempts > 1 ? 1 : 0;
    v->weight_used += op->req.weight;
    v->orders_used += op->req.order ? 1 : 0;
}

static bool probe_inflight(const tg_venue *v) {
    assert(v != NULL);
    for (const tg_venue_op *op = v->ops; op != NULL; op = op->next) {
        if (op->state == TG_VENUE_OP_INFLIGHT) {
            return true;
        }
    }
    return false;
}

/* Sends what may go now; returns false when op must wait (not_before set). */
static bool op_try_send(tg_venue *v, tg_venue_op *op, int64_t now) {
    assert(v != NULL && op != NULL);
    assert(op->state == TG_VENUE_OP_WAITING && !op->finished);
    if (v->breaker_until_us != 0) {
        if (now < v->breaker_until_us) {
            tg_venue_fail(v, &op->reply.error, TG_VENUE_E_CIRCUIT_OPEN, op->req.path,
                          "the circuit breaker is open after repeated failures");
            op->finished = true;
            return true;
        }
        if (v->half_open && probe_inflight(v)) {
            op->not_before_us = now + 50 * US_PER_MS;
            return false;
        }
        v->half_open = true;
    }
    int64_t wait = pace_delay_us(v, op);
    if (wait > 0) {
        op->not_before_us = now + wait;
        v->stats.rate_waits++;
        return false;
    }
    op_send(v, op);
    return op->state == TG_VENUE_OP_INFLIGHT || op->finished;
}

static void pump(tg_venue *v) {
    assert(v != NULL);
    assert(v->ops_count <= TG_VENUE_OPS_MAX);
    int64_t now = tg_http_now_us();
    bool again = true;
    for (uint32_t round = 0; again && round < TG_VENUE_OPS_MAX; round++) {
        again = false;
        for (tg_venue_op *op = v->ops; op != NULL; op = op->next) {
            if (op->finished) {
                tg_venue_op_complete(v, op);
                again = true; /* the list changed under us */
                break;
            }
            if (op->state == TG_VENUE_OP_WAITING && op->not_before_us <= now) {
                (void)op_try_send(v, op, now);
                again = again || op->finished;
            }
        }
    }
    rearm(v);
}

static void on_timer(uv_timer_t *t) {
    assert(t != NULL && t->data != NULL);
    pump(t->data);
}

/* Called by the queue with the first response; the adapter decides. */
static void op_advance(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                       const tg_venue_error *e) {
    assert(v != NULL && op != NULL && e != NULL);
    assert(resp != NULL);
    tg_vnext next = v->ad->advance(v, op, resp, e);
    op->attempts = next == TG_VNEXT_DELAY ? op->attempts : 0;
    op->resynced = next == TG_VNEXT_DELAY ? op->resynced : false;
    if (next == TG_VNEXT_DONE) {
        op->finished = true;
    } else if (next == TG_VNEXT_SEND) {
        op->not_before_us = tg_http_now_us();
    }
}

static void take_limits(tg_venue *v, const tg_http_limits *l) {
    assert(v != NULL && l != NULL);
    if (l->used_weight_1m >= 0) {
        v->weight_used =
            (uint32_t)(l->used_weight_1m > UINT32_MAX / 2 ? UINT32_MAX / 2 : l->used_weight_1m);
        v->stats.used_weight_1m = v->weight_used;
    }
    if (l->order_count_1m >= 0) {
        v->orders_used =
            (uint32_t)(l->order_count_1m > UINT32_MAX / 2 ? UINT32_MAX / 2 : l->order_count_1m);
        v->stats.order_count_1m = v->orders_used;
    }
    if (l->bapi_remaining >= 0) {
        v->limit_remaining =
            (int32_t)(l->bapi_remaining > INT32_MAX ? INT32_MAX : l->bapi_remaining);
        v->limit_reset_ms = l->bapi_reset_ms;
        v->stats.limit_remaining = v->limit_remaining;
    }
}

static void time_taken(tg_venue *v, tg_venue_op *op, int64_t server_ms) {
    assert(v != NULL && op != NULL);
    assert(op->sent_wall_ms > 0);
    int64_t now = tg_venue_wall_ms();
    v->offset_ms = server_ms - (op->sent_wall_ms + now) / 2;
    v->time_synced = true;
    op->reply.server_time_ms = server_ms;
    op->reply.offset_ms = v->offset_ms;
}

/* A time response; false (with op->reply.error set) when unreadable. */
static bool take_time(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp) {
    assert(v != NULL && op != NULL);
    assert(resp != NULL && !resp->transport_failed);
    tg_err err;
    int64_t ms = 0;
    if (v->ad->parse_time(resp->body, resp->len, &ms, &err) != TG_OK) {
        tg_venue_fail(v, &op->reply.error, TG_VENUE_E_TRANSPORT, "time", err.msg);
        return false;
    }
    time_taken(v, op, ms);
    return true;
}

static void breaker_account(tg_venue *v, tg_venue_code code) {
    assert(v != NULL);
    assert(code <= TG_VENUE_E_REJECTED);
    assert(v->cfg.breaker_failures_max > 0);
    int64_t now = tg_http_now_us();
    if (code == TG_VENUE_E_TRANSPORT || code == TG_VENUE_E_SERVER) {
        if (++v->failures >= v->cfg.breaker_failures_max || v->half_open) {
            v->breaker_until_us = now + v->cfg.breaker_open_ms * US_PER_MS;
            v->half_open = false;
            v->stats.breaker_opens++;
        }
        return;
    }
    v->failures = 0;
    if (v->half_open && code != TG_VENUE_E_BANNED) {
        v->breaker_until_us = 0;
        v->half_open = false;
    }
}

static int64_t backoff_us(tg_venue *v, uint32_t attempts) {
    assert(v != NULL);
    assert(v->cfg.backoff_ms_min > 0 && v->cfg.backoff_ms_max >= v->cfg.backoff_ms_min);
    int64_t base = v->cfg.backoff_ms_min;
    for (uint32_t i = 1; i < attempts && base < v->cfg.backoff_ms_max; i++) {
        base *= 2;
    }
    base = base < v->cfg.backoff_ms_max ? base : v->cfg.backoff_ms_max;
    v->rng ^= v->rng << 13; /* xorshift64: jitter, not secrecy */
    v->rng ^= v->rng >> 7;
    v->rng ^= v->rng << 17;
    int64_t half = base / 2;
    int64_t us = (half + (int64_t)(v->rng % (uint64_t)(half + 1))) * US_PER_MS;
    assert(us >= half * US_PER_MS && us <= base * US_PER_MS);
    return us;
}

/* Handles what the queue handles for every adapter; true when it did. */
static bool op_recover(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                       const tg_venue_error *e) {
    assert(v != NULL && op != NULL);
    assert(resp != NULL && e != NULL);
    assert(e->code != TG_VENUE_OK);
    int64_t now = tg_http_now_us();
    bool may_retry = op->req.retry_safe && op->attempts <= v->cfg.retry_count_max;
    switch (e->code) {
    case TG_VENUE_E_BANNED: {
        int64_t s = resp->limits.retry_after_s > 0 ? resp->limits.retry_after_s : TG_VENUE_BAN_S;
        v->breaker_until_us = now + s * 1000000LL;
        v->half_open = false;
        v->stats.breaker_opens++;
        return false;
    }
    case TG_VENUE_E_RATE_LIMIT: {
        int64_t s =
            resp->limits.retry_after_s > 0 ? resp->limits.retry_after_s : TG_VENUE_RETRY_AFTER_S;
        v->pause_until_us = now + s * 1000000LL;
        op->not_before_us = v->pause_until_us;
        return may_retry;
    }
    case TG_VENUE_E_TIMESTAMP:
        if (op->resynced) {
            return false;
        }
        op->resynced = true;
        op->resyncing = true;
        op->saved = op->req;
        v->ad->time_req(&op->req);
        op->not_before_us = now;
        v->stats.time_resyncs++;
        return true;
    case TG_VENUE_E_TRANSPORT:
    case TG_VENUE_E_SERVER:
        op->not_before_us = now + backoff_us(v, op->attempts);
        return may_retry && v->breaker_until_us == 0;
    default:
        return false;
    }
}

static void on_http_done(void *ctx, const tg_http_resp *resp) {
    assert(ctx != NULL && resp != NULL);
    assert(((tg_venue_op *)ctx)->state == TG_VENUE_OP_INFLIGHT);
    tg_venue_op *op = ctx;
    tg_venue *v = op->v;
    op->state = TG_VENUE_OP_WAITING;
    op->reply.transport_us += resp->done_us - resp->sent_us;
    take_limits(v, &resp->limits);
    tg_venue_error e;
    memset(&e, 0, sizeof e);
    e.http_status = resp->status;
    if (resp->transport_failed) {
        tg_venue_fail(v, &e, TG_VENUE_E_TRANSPORT, op->req.path, resp->error);
    } else {
        v->ad->decode_error(v, resp, &e);
    }
    op->reply.error = e;
    breaker_account(v, e.code);
    if (v->closing) {
        op->finished = true;
    } else if (op->resyncing && e.code == TG_VENUE_OK) {
        op->resyncing = false;
        op->req = op->saved;
        op->attempts = 0;
        op->not_before_us = tg_http_now_us();
        if (!take_time(v, op, resp)) {
            op->finished = true;
        }
        memset(&op->reply.error, 0, sizeof op->reply.error);
    } else if (e.code != TG_VENUE_OK && op_recover(v, op, resp, &e)) {
        /* waits for its retry */
    } else if (op->resyncing) {
        op->finished = true;
    } else if (op->reply.op == TG_VOP_TIME) {
        /* the queue's own operation: its error, if any, is the reply's */
        op->finished = true;
        if (e.code == TG_VENUE_OK) {
            (void)take_time(v, op, resp);
        }
    } else {
        op_advance(v, op, resp, &e);
    }
    if (!v->closing) {
        pump(v);
    }
}

/* ---- operations ------------------------------------------------------- */

static tg_venue_op *op_new(tg_venue *v, tg_venue_op_kind kind, tg_venue_done_fn done, void *ctx,
                           tg_err *err) {
    assert(v != NULL && done != NULL);
    if (v->closing) {
        tg_err_set(err, TG_E_STATE, "%s: the venue is closed", v->cfg.account);
        return NULL;
    }
    if (v->ops_count >= TG_VENUE_OPS_MAX) {
        tg_err_set(err, TG_E_CAPACITY, "%s: %d operations already queued", v->cfg.account,
                   TG_VENUE_OPS_MAX);
        return NULL;
    }
    tg_venue_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        tg_err_set(err, TG_E_NOMEM, "out of memory queuing an operation");
        return NULL;
    }
    op->v = v;
    op->done = done;
    op->ctx = ctx;
    op->reply.op = kind;
    op->state = TG_VENUE_OP_WAITING;
    op->not_before_us = tg_http_now_us();
    op->start_us = op->not_before_us;
    return op;
}

/* Queues op after its adapter built the first request. */
static tg_status op_start(tg_venue *v, tg_venue_op *op) {
    assert(v != NULL && op != NULL && op->v == v);
    assert(op->state == TG_VENUE_OP_WAITING && op->next == NULL);
    if (op->reply.op == TG_VOP_TIME) {
        v->ad->time_req(&op->req);
    } else {
        tg_venue_error none;
        memset(&none, 0, sizeof none);
        tg_vnext next = v->ad->advance(v, op, NULL, &none);
        op->finished = next == TG_VNEXT_DONE;
    }
    op->next = NULL;
    tg_venue_op **tail = &v->ops;
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = op;
    v->ops_count++;
    assert(v->ops_count <= TG_VENUE_OPS_MAX);
    uv_timer_start(&v->timer, on_timer, 0, 0);
    return TG_OK;
}

tg_status tg_venue_sync_time(tg_venue *v, tg_venue_done_fn done, void *ctx, tg_err *err) {
    assert(err != NULL);
    tg_venue_op *op = op_new(v, TG_VOP_TIME, done, ctx, err);
    return op == NULL ? err->status : op_start(v, op);
}

tg_status tg_venue_get_rules(tg_venue *v, tg_venue_done_fn done, void *ctx, tg_err *err) {
    assert(err != NULL);
    tg_venue_op *op = op_new(v, TG_VOP_RULES, done, ctx, err);
    return op == NULL ? err->status : op_start(v, op);
}

tg_status tg_venue_get_positions(tg_venue *v, tg_venue_done_fn done, void *ctx, tg_err *err) {
    assert(err != NULL);
    tg_venue_op *op = op_new(v, TG_VOP_POSITIONS, done, ctx, err);
    return op == NULL ? err->status : op_start(v, op);
}

static bool symbol_ok(const char *s) {
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n >= TG_SYMBOL_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return true;
}

tg_status tg_venue_get_stops(tg_venue *v, const char *symbol, tg_venue_done_fn done, void *ctx,
                             tg_err *err) {
    assert(err != NULL);
    if (symbol != NULL && !symbol_ok(symbol)) {
        return tg_err_set(err, TG_E_INVALID, "symbol \"%.30s\" is not an upper-case symbol name",
                          symbol);
    }
    tg_venue_op *op = op_new(v, TG_VOP_STOPS, done, ctx, err);
    if (op == NULL) {
        return err->status;
    }
    int n = snprintf(op->symbol, sizeof op->symbol, "%s", symbol != NULL ? symbol : "");
    assert(n >= 0 && (size_t)n < sizeof op->symbol);
    return op_start(v, op);
}

static bool id_ok(const char *id) {
    return id != NULL && strlen(id) < TG_VENUE_ID_MAX;
}

tg_status tg_venue_find_stop(tg_venue *v, const char *symbol, const char *order_id,
                             const char *client_id, tg_venue_done_fn done, void *ctx, tg_err *err) {
    assert(err != NULL);
    if (!symbol_ok(symbol) || !id_ok(order_id) || !id_ok(client_id) ||
        (order_id[0] == '\0' && client_id[0] == '\0')) {
        return tg_err_set(err, TG_E_INVALID, "find stop: needs a symbol and an order or client id");
    }
    tg_venue_op *op = op_new(v, TG_VOP_FIND_STOP, done, ctx, err);
    if (op == NULL) {
        return err->status;
    }
    int n = snprintf(op->target.symbol, sizeof op->target.symbol, "%s", symbol);
    assert(n > 0 && (size_t)n < sizeof op->target.symbol);
    n = snprintf(op->target.order_id, sizeof op->target.order_id, "%s", order_id);
    assert(n >= 0 && (size_t)n < sizeof op->target.order_id);
    n = snprintf(op->target.client_id, sizeof op->target.client_id, "%s", client_id);
    assert(n >= 0 && (size_t)n < sizeof op->target.client_id);
    return op_start(v, op);
}

tg_status tg_venue_set_stop(tg_venue *v, const tg_venue_stop_req *req, tg_venue_done_fn done,
                            void *ctx, tg_err *err) {
    assert(req != NULL);
    if (!symbol_ok(req->symbol) || !tg_dec_is_pos(req->trigger) || !tg_dec_is_pos(req->qty) ||
        req->position_idx < 0 || req->position_idx > 2) {
        return tg_err_set(err, TG_E_INVALID,
                          "set stop: needs a symbol, a positive trigger and a positive size");
    }
    tg_venue_op *op = op_new(v, TG_VOP_SET_STOP, done, ctx, err);
    if (op == NULL) {
        return err->status;
    }
    op->set = *req;
    return op_start(v, op);
}

tg_status tg_venue_cancel_stop(tg_venue *v, const tg_venue_stop *stop, tg_venue_done_fn done,
                               void *ctx, tg_err *err) {
    assert(stop != NULL);
    if (!symbol_ok(stop->symbol) ||
        (stop->order_id[0] == '\0' && stop->client_id[0] == '\0' && !stop->position_level)) {
        return tg_err_set(err, TG_E_INVALID, "cancel stop: needs a symbol and an order id");
    }
    tg_venue_op *op = op_new(v, TG_VOP_CANCEL_STOP, done, ctx, err);
    if (op == NULL) {
        return err->status;
    }
    op->target = *stop;
    return op_start(v, op);
}

tg_status tg_venue_close_position(tg_venue *v, const char *symbol, tg_side side, tg_dec qty,
                                  int position_idx, tg_venue_done_fn done, void *ctx, tg_err *err) {
    assert(err != NULL);
    if (!symbol_ok(symbol) || (side != TG_SIDE_LONG && side != TG_SIDE_SHORT) ||
        !tg_dec_is_pos(qty) || position_idx < 0 || position_idx > 2) {
        return tg_err_set(err, TG_E_INVALID,
                          "close position: needs a symbol, a side, a positive size and a "
                          "position index 0..2");
    }
    tg_venue_op *op = op_new(v, TG_VOP_CLOSE_POSITION, done, ctx, err);
    if (op == NULL) {
        return err->status;
    }
    int n = snprintf(op->close.symbol, sizeof op->close.symbol, "%s", symbol);
    assert(n > 0 && (size_t)n < sizeof op->close.symbol);
    op->close.side = side;
    op->close.qty = qty;
    op->close.position_idx = position_idx;
    return op_start(v, op);
}

tg_status tg_venue_get_mark(tg_venue *v, const char *symbol, tg_venue_done_fn done, void *ctx,
                            tg_err *err) {
    assert(err != NULL);
    if (!symbol_ok(symbol)) {
        return tg_err_set(err, TG_E_INVALID, "mark: symbol \"%.30s\" is not an upper-case symbol",
                          symbol != NULL ? symbol : "");
    }
    tg_venue_op *op = op_new(v, TG_VOP_MARK, done, ctx, err);
    if (op == NULL) {
        return err->status;
    }
    int n = snprintf(op->symbol, sizeof op->symbol, "%s", symbol);
    assert(n > 0 && (size_t)n < sizeof op->symbol);
    return op_start(v, op);
}

tg_status tg_venue_listen_key(tg_venue *v, bool keepalive, tg_venue_done_fn done, void *ctx,
                              tg_err *err) {
    assert(v != NULL && err != NULL);
    if (v->cfg.kind != TG_VENUE_BINANCE) {
        return tg_err_set(err, TG_E_STATE, "listen keys are Binance's");
    }
    tg_venue_op *op = op_new(v, TG_VOP_LISTEN_KEY, done, ctx, err);
    if (op == NULL) {
        return err->status;
    }
    op->step = keepalive ? 1 : 0;
    return op_start(v, op);
}

/* Copies n elements of size bytes from src to the end of *at. */
static const void *copy_into(char **at, const void *src, size_t n, size_t size) {
    assert(at != NULL);
    assert(size > 0);
    if (n == 0 || src == NULL) {
        return NULL;
    }
    void *dst = *at;
    memcpy(dst, src, n * size);
    *at += n * size;
    return dst;
}

void tg_venue_waiter_fn(void *ctx, const tg_venue_reply *reply) {
    tg_venue_waiter *w = ctx;
    assert(w != NULL && reply != NULL);
    assert(!w->done && w->owned == NULL);
    w->reply = *reply;
    w->done = true;
    /* The reply's arrays die with the operation: keep copies. */
    size_t bytes = reply->rules_count * sizeof *reply->rules +
                   reply->positions_count * sizeof *reply->positions +
                   reply->stops_count * sizeof *reply->stops;
    char *at = bytes > 0 ? malloc(bytes) : NULL;
    if (bytes > 0 && at == NULL) {
        w->reply.rules_count = w->reply.positions_count = w->reply.stops_count = 0;
        w->reply.error.code = TG_VENUE_E_TRANSPORT;
        tg_err_set(&w->reply.error.err, TG_E_NOMEM, "out of memory copying a reply");
        return;
    }
    w->owned = at;
    w->reply.rules = copy_into(&at, reply->rules, reply->rules_count, sizeof *reply->rules);
    w->reply.positions =
        copy_into(&at, reply->positions, reply->positions_count, sizeof *reply->positions);
    w->reply.stops = copy_into(&at, reply->stops, reply->stops_count, sizeof *reply->stops);
    assert(bytes == 0 || at == (char *)w->owned + bytes);
}

void tg_venue_waiter_release(tg_venue_waiter *w) {
    assert(w != NULL);
    free(w->owned);
    memset(w, 0, sizeof *w);
}

static void wait_timer_cb(uv_timer_t *t) {
    assert(t != NULL && t->data != NULL);
    *(bool *)t->data = true;
}

tg_status tg_venue_wait(tg_venue *v, tg_venue_waiter *w, int64_t timeout_ms, tg_err *err) {
    assert(v != NULL && w != NULL && timeout_ms > 0);
    bool expired = false;
    uv_timer_t t;
    /* The timeout counts from now, not from the loop's last look at the
     * clock, which is stale by however long the caller spent outside it. */
    uv_update_time(v->loop);
    uv_timer_init(v->loop, &t);
    t.data = &expired;
    uv_timer_start(&t, wait_timer_cb, (uint64_t)timeout_ms, 0);
    while (!w->done && !expired) {
        uv_run(v->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(v->loop, UV_RUN_NOWAIT); /* lets the close finish before t leaves scope */
    if (!w->done) {
        return tg_err_set(err, TG_E_UNAVAILABLE, "%s: no reply within %lld ms", v->cfg.account,
                          (long long)timeout_ms);
    }
    return TG_OK;
}
