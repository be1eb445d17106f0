/*
 * trailguard/notify.h — webhook notifications on the caller's libuv loop.
 *
 * tg_notify_post copies a JSON body into a bounded queue; the queue is sent
 * in order as POST webhook_url with Content-Type: application/json, one
 * request in flight at a time, through the venue layer's libcurl-multi
 * transport (src/venue/http.h) on the same loop. Nothing blocks the loop.
 *
 * Delivery: a 2xx answer is sent. A transport error (connect, TLS, timeout),
 * a 5xx, a 408 or a 429 is retried up to retry_count_max times with
 * exponential backoff backoff_ms_min, 2x, 4x, ... capped at backoff_ms_max;
 * after the last retry the body is failed. Any other 4xx is failed at once
 * (the receiver will not change its mind). When the queue is full the
 * oldest waiting body is dropped for the new one (a recent alert is worth
 * more than an old one) and counted.
 */
#ifndef TRAILGUARD_NOTIFY_H
#define TRAILGUARD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trailguard/error.h"

#define TG_NOTIFY_URL_MAX       512         /* bytes of the webhook URL, NUL included */
#define TG_NOTIFY_QUEUE_DEFAULT 1024        /* bodies waiting, default */
#define TG_NOTIFY_QUEUE_MAX     65536       /* largest queue_max accepted */
#define TG_NOTIFY_BODY_MAX      (64u << 10) /* bytes of one JSON body */

typedef struct tg_notify_config {
    char webhook_url[TG_NOTIFY_URL_MAX]; /* http:// or https:// (TLS verified) */
    size_t queue_max;                    /* bodies waiting, in flight excluded */
    uint32_t retry_count_max;            /* retries of one body after the first try */
    int64_t backoff_ms_min;              /* first retry delay, ms */
    int64_t backoff_ms_max;              /* longest retry delay, ms */
    int64_t connect_timeout_ms;          /* TCP+TLS connect, ms */
    int64_t request_timeout_ms;          /* whole request, ms */
} tg_notify_config;

/* Defaults: no URL, queue 1024, 3 retries 500..8000 ms, connect 3 s,
 * request 10 s. */
tg_notify_config tg_notify_config_default(void);

typedef struct tg_notify_stats {
    uint64_t posted;  /* bodies accepted by tg_notify_post */
    uint64_t sent;    /* delivered (2xx) */
    uint64_t failed;  /* given up: 4xx, or retries exhausted */
    uint64_t dropped; /* pushed out of a full queue, or discarded by close */
    uint64_t retries; /* requests that were retries */
    size_t queued;    /* waiting now, in flight excluded */
    size_t inflight;  /* being sent now (0 or 1), a backoff wait included */
    int last_status;  /* HTTP status of the last answer; 0 = transport error or none */
} tg_notify_stats;

typedef struct tg_notify tg_notify;
struct uv_loop_s;

/* A notifier on loop (which must outlive it). Checks the URL scheme and
 * the bounds. */
tg_status tg_notify_new(struct uv_loop_s *loop, const tg_notify_config *cfg, tg_notify **out,
                        tg_err *err);

/* Queues json_body (copied, at most TG_NOTIFY_BODY_MAX bytes) for delivery.
 * TG_E_INVALID for an empty or too long body, TG_E_STATE after close. The
 * body is not parsed: the caller writes JSON. */
tg_status tg_notify_post(tg_notify *n, const char *json_body, tg_err *err);

tg_notify_stats tg_notify_get_stats(const tg_notify *n);

/* Discards what is waiting (counted as dropped), aborts the request in
 * flight and closes the uv handles; the object frees itself once the loop
 * has closed them (run the loop). */
void tg_notify_close(tg_notify *n);

#endif
