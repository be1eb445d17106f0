/* Webhook delivery through the venue layer's transport (venue/http.h): it
 * already runs libcurl multi on the caller's libuv loop with timeouts and
 * TLS verification, so the notifier adds only a queue and a retry policy.
 * One body is in flight at a time: a webhook receiver (chat, pager) sees
 * alerts in the order they happened. */
#define _POSIX_C_SOURCE 200809L

#include "trailguard/notify.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "venue/http.h"

struct tg_notify {
    uv_loop_t *loop;       /* caller's loop */
    tg_http *http;         /* transport */
    uv_timer_t timer;      /* backoff wait, or "send the next body" */
    tg_notify_config cfg;  /* URL and bounds */
    char **ring;           /* waiting bodies, queue_max slots */
    size_t head;           /* oldest waiting body */
    size_t count;          /* bodies waiting */
    char *current;         /* body being sent or waiting to be retried; NULL when idle */
    uint32_t attempt;      /* retries of current so far */
    bool sending;          /* a request of current is in the transport */
    bool closing;          /* tg_notify_close was called */
    tg_notify_stats stats; /* counters */
};

tg_notify_config tg_notify_config_default(void) {
    tg_notify_config c;
    memset(&c, 0, sizeof c);
    c.queue_max = TG_NOTIFY_QUEUE_DEFAULT;
    c.retry_count_max = 3;
    c.backoff_ms_min = 500;
    c.backoff_ms_max = 8000;
    c.connect_timeout_ms = 3000;
    c.request_timeout_ms = 10000;
    return c;
}

static tg_status check_config(const tg_notify_config *c, tg_err *err) {
    assert(c != NULL);
    size_t url_len = strnlen(c->webhook_url, sizeof c->webhook_url);
    if (url_len == sizeof c->webhook_url || (strncasecmp(c->webhook_url, "http://", 7) != 0 &&
                                             strncasecmp(c->webhook_url, "https://", 8) != 0)) {
        return tg_err_set(err, TG_E_INVALID,
                          "notify: webhook_url must be an http:// or https:// URL");
    }
    if (c->queue_max == 0 || c->queue_max > TG_NOTIFY_QUEUE_MAX) {
        return tg_err_set(err, TG_E_INVALID, "notify: queue_max %zu is outside 1..%d", c->queue_max,
                          TG_NOTIFY_QUEUE_MAX);
    }
    if (c->retry_count_max > 16 || c->backoff_ms_min <= 0 ||
        c->backoff_ms_max < c->backoff_ms_min || c->connect_timeout_ms <= 0 ||
        c->request_timeout_ms <= 0) {
        return tg_err_set(err, TG_E_INVALID,
                          "notify: retries (at most 16), backoff and timeouts must be positive, "
                          "backoff_ms_max >= backoff_ms_min");
    }
    return TG_OK;
}

tg_status tg_notify_new(struct uv_loop_s *loop, const tg_notify_config *cfg, tg_notify **out,
                        tg_err *err) {
    assert(loop != NULL && cfg != NULL && out != NULL);
    tg_status st = check_config(cfg, err);
    if (st != TG_OK) {
        return st;
    }
    tg_notify *n = calloc(1, sizeof *n);
    if (n == NULL || (n->ring = calloc(cfg->queue_max, sizeof *n->ring)) == NULL) {
        free(n);
        return tg_err_set(err, TG_E_NOMEM, "notify: out of memory for a queue of %zu",
                          cfg->queue_max);
    }
    n->loop = loop;
    n->cfg = *cfg;
    assert(n->cfg.queue_max >= 1 && n->cfg.queue_max <= TG_NOTIFY_QUEUE_MAX);
    tg_http_opts ho = {cfg->connect_timeout_ms, cfg->request_timeout_ms, false, ""};
    st = tg_http_new(loop, &ho, &n->http, err);
    if (st != TG_OK) {
        free(n->ring);
        free(n);
        return st;
    }
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    *out = n;
    return TG_OK;
}

static void on_timer(uv_timer_t *t);
static void on_done(void *ctx, const tg_http_resp *resp);

/* Sends current; a transport that refuses at once counts as a failed try. */
static void send_current(tg_notify *n) {
    assert(n->current != NULL && !n->sending && !n->closing);
    static const char *const headers[] = {"Content-Type: application/json"};
    tg_err err;
    if (tg_http_send(n->http, "POST", n->cfg.webhook_url, headers, 1, n->current, on_done, n,
                     &err) == TG_OK) {
        n->sending = true;
        return;
    }
    tg_http_resp fake;
    memset(&fake, 0, sizeof fake);
    fake.transport_failed = true;
    on_done(n, &fake);
}

/* Takes the oldest waiting body when idle. */
static void start_next(tg_notify *n) {
    assert(n != NULL);
    assert(n->count <= n->cfg.queue_max);
    if (n->current != NULL || n->count == 0 || n->closing) {
        return;
    }
    assert(n->head < n->cfg.queue_max);
    n->current = n->ring[n->head];
    assert(n->current != NULL);
    n->ring[n->head] = NULL;
    n->head = (n->head + 1) % n->cfg.queue_max;
    n->count--;
    n->attempt = 0;
    send_current(n);
}

static int64_t backoff_ms(const tg_notify_config *c, uint32_t retry) {
    assert(c != NULL);
    assert(c->backoff_ms_min > 0 && c->backoff_ms_max >= c->backoff_ms_min);
    assert(retry >= 1);
    int64_t ms = c->backoff_ms_min;
    for (uint32_t i = 1; i < retry && ms < c->backoff_ms_max; i++) {
        ms *= 2;
    }
    ms = ms < c->backoff_ms_max ? ms : c->backoff_ms_max;
    assert(ms >= c->backoff_ms_min && ms <= c->backoff_ms_max);
    return ms;
}

static bool retryable(const tg_http_resp *resp) {
    assert(resp != NULL);
    return resp->transport_failed || resp->status >= 500 || resp->status == 408 ||
           resp->status == 429 || resp->status < 200;
}

static void on_done(void *ctx, const tg_http_resp *resp) {
    assert(ctx != NULL && resp != NULL);
    assert(((tg_notify *)ctx)->sending || ((tg_notify *)ctx)->current != NULL);
    tg_notify *n = ctx;
    n->sending = false;
    if (n->closing) {
        return; /* tg_notify_close accounts for current */
    }
    assert(n->current != NULL);
    n->stats.last_status = resp->transport_failed ? 0 : resp->status;
    bool ok = !resp->transport_failed && resp->status >= 200 && resp->status < 300;
    if (!ok && retryable(resp) && n->attempt < n->cfg.retry_count_max) {
        n->attempt++;
        n->stats.retries++;
        uv_timer_start(&n->timer, on_timer, (uint64_t)backoff_ms(&n->cfg, n->attempt), 0);
        return;
    }
    n->stats.sent += ok;
    n->stats.failed += !ok;
    free(n->current);
    n->current = NULL;
    /* The next body leaves from the loop, not from inside the transport's
     * completion. */
    uv_timer_start(&n->timer, on_timer, 0, 0);
}

static void on_timer(uv_timer_t *t) {
    assert(t != NULL && t->data != NULL);
    tg_notify *n = t->data;
    if (n->current != NULL && !n->sending) {
        send_current(n);
    } else {
        start_next(n);
    }
}

tg_status tg_notify_post(tg_notify *n, const char *json_body, tg_err *err) {
    assert(n != NULL);
    if (n->closing) {
        return tg_err_set(err, TG_E_STATE, "notify: the notifier is closed");
    }
    size_t len = json_body != NULL ? strnlen(json_body, TG_NOTIFY_BODY_MAX + 1) : 0;
    if (len == 0 || len > TG_NOTIFY_BODY_MAX) {
        return tg_err_set(err, TG_E_INVALID, "notify: body is empty or over %u bytes",
                          TG_NOTIFY_BODY_MAX);
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "notify: out of memory for a %zu-byte body", len);
    }
    memcpy(copy, json_body, len + 1);
    if (n->count == n->cfg.queue_max) {
        free(n->ring[n->head]);
        n->ring[n->head] = NULL;
        n->head = (n->head + 1) % n->cfg.queue_max;
        n->count--;
        n->stats.dropped++;
    }
    n->ring[(n->head + n->count) % n->cfg.queue_max] = copy;
    n->count++;
    n->stats.posted++;
    start_next(n);
    assert(n->count <= n->cfg.queue_max);
    return TG_OK;
}

tg_notify_stats tg_notify_get_stats(const tg_notify *n) {
    assert(n != NULL);
    assert(n->count <= n->cfg.queue_max);
    tg_notify_stats s = n->stats;
    s.queued = n->count;
    s.inflight = n->current != NULL ? 1 : 0;
    return s;
}

static void timer_closed(uv_handle_t *h) {
    assert(h != NULL && h->data != NULL);
    assert(((tg_notify *)h->data)->closing);
    tg_notify *n = h->data;
    free(n->ring);
    free(n);
}

void tg_notify_close(tg_notify *n) {
    if (n == NULL) {
        return;
    }
    assert(!n->closing);
    n->closing = true;
    tg_http_close(n->http); /* completes the request in flight: on_done ignores it */
    n->http = NULL;
    for (size_t i = 0; i < n->count; i++) {
        size_t at = (n->head + i) % n->cfg.queue_max;
        free(n->ring[at]);
        n->ring[at] = NULL;
    }
    n->stats.dropped += n->count + (n->current != NULL);
    n->count = 0;
    free(n->current);
    n->current = NULL;
    uv_timer_stop(&n->timer);
    uv_close((uv_handle_t *)&n->timer, timer_closed);
}
