/*
 * venue/http.h — HTTP requests on a libuv loop through one libcurl multi
 * handle: connections are kept alive and reused, HTTP/2 is used where the
 * server offers it, every request has a connect and a total timeout, and TLS
 * is verified unless the venue was configured for a loopback emulator.
 */
#ifndef TG_VENUE_HTTP_H
#define TG_VENUE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trailguard/error.h"

#define TG_HTTP_HEADERS_MAX  8           /* request headers */
#define TG_HTTP_HEADER_MAX   256         /* bytes of one request header line, NUL included */
#define TG_HTTP_BODY_MAX     (16u << 20) /* bytes of a response body kept */
#define TG_HTTP_URL_MAX      2560        /* bytes of a request URL, NUL included */
#define TG_HTTP_INFLIGHT_MAX 64          /* requests in flight at once */
#define TG_HTTP_UA_MAX       128         /* bytes of a User-Agent, NUL included */

struct uv_loop_s;
typedef struct tg_http tg_http;

typedef struct tg_http_opts {
    int64_t connect_timeout_ms;      /* TCP and TLS connect */
    int64_t request_timeout_ms;      /* whole request */
    bool insecure_tls;               /* no peer/host verification (loopback only) */
    char user_agent[TG_HTTP_UA_MAX]; /* User-Agent header of every request; "" = none */
} tg_http_opts;

/* The rate-limit headers both exchanges send; −1 when absent. */
typedef struct tg_http_limits {
    int64_t used_weight_1m;  /* X-MBX-USED-WEIGHT-1M */
    int64_t order_count_1m;  /* X-MBX-ORDER-COUNT-1M */
    int64_t order_count_10s; /* X-MBX-ORDER-COUNT-10S */
    int64_t bapi_limit;      /* X-Bapi-Limit */
    int64_t bapi_remaining;  /* X-Bapi-Limit-Status */
    int64_t bapi_reset_ms;   /* X-Bapi-Limit-Reset-Timestamp, epoch ms */
    int64_t retry_after_s;   /* Retry-After, seconds */
} tg_http_limits;

typedef struct tg_http_resp {
    int status;            /* HTTP status; 0 when no response arrived */
    bool transport_failed; /* connect, TLS, timeout, reset */
    bool timed_out;        /* of which a timeout */
    char error[256];       /* libcurl's sentence when transport_failed */
    const char *body;      /* response body, NUL-terminated; valid in the callback */
    size_t len;            /* bytes of body */
    tg_http_limits limits; /* rate-limit headers */
    int64_t sent_us;       /* monotonic time the request was handed to libcurl, µs */
    int64_t done_us;       /* monotonic time the response completed, µs */
} tg_http_resp;

typedef void (*tg_http_done_fn)(void *ctx, const tg_http_resp *resp);

tg_status tg_http_new(struct uv_loop_s *loop, const tg_http_opts *opts, tg_http **out, tg_err *err);
/* Fails every request in flight (transport_failed) and closes the loop
 * handles; the object frees itself once the loop has closed them. */
void tg_http_close(tg_http *h);

/* Sends method url with headers ("Name: value") and body (NULL for none).
 * done is called exactly once, from the loop, never from inside this call. */
tg_status tg_http_send(tg_http *h, const char *method, const char *url, const char *const *headers,
                       size_t headers_count, const char *body, tg_http_done_fn done, void *ctx,
                       tg_err *err);

/* Monotonic clock, µs. */
int64_t tg_http_now_us(void);

#endif
