/*
 * trailguard/httpd.h — a small HTTP/1.1 server (libmicrohttpd) driven by the
 * caller's libuv loop.
 *
 * The server has no thread of its own: libmicrohttpd runs without internal
 * threads, its epoll descriptor is watched by a uv_poll_t and its timeouts by
 * a uv_timer_t, so the handler always runs on the loop thread and may touch
 * the daemon's state without locks. The handler is synchronous: it fills the
 * response before it returns, and must be quick (it blocks the loop). An
 * answer too long to make at once is a stream instead: the server pulls it
 * piece by piece as the peer takes it, one piece per loop turn, so neither
 * the loop's time nor the memory grows with the answer.
 *
 * Bounds: a request body of at most body_max bytes (413 beyond), at most
 * connections_max connections at once (further ones wait in the listen
 * backlog), and a connection idle for timeout_s seconds is closed, so idle
 * or slow peers cannot lock the server out for longer than that. A peer that
 * disconnects mid-answer costs one closed connection, never a SIGPIPE
 * (libmicrohttpd sends with MSG_NOSIGNAL; tg_httpd_start refuses to run on a
 * build that does not).
 */
#ifndef TRAILGUARD_HTTPD_H
#define TRAILGUARD_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#include "trailguard/error.h"

#define TG_HTTPD_BODY_MAX        (64u << 10) /* default request body bound, bytes */
#define TG_HTTPD_CONNECTIONS_MAX 64          /* default connections at once */
#define TG_HTTPD_TIMEOUT_S       10          /* default idle connection timeout, s */
#define TG_HTTPD_LISTEN_MAX      64          /* bytes of a listen address, NUL included */

/* One request, valid during the handler call only. */
typedef struct tg_httpd_request {
    const char *method;       /* "GET", "PUT", ... */
    const char *path;         /* URL path, percent-decoded, without the query: "/metrics" */
    const char *query;        /* raw query after '?', still percent-encoded; "" when none */
    const char *body;         /* request body, NUL-terminated; "" when none */
    size_t body_len;          /* bytes of body */
    const char *bearer;       /* token from "Authorization: Bearer <token>", or NULL */
    const char *content_type; /* Content-Type header, or NULL */
} tg_httpd_request;

/* A body made as it is sent (chunked transfer encoding). The handler
 * allocates it, usually as the first member of its own state. pull writes up
 * to cap (> 0) bytes of the body at buf and returns how many, 0 at its end,
 * or -1 when it cannot go on: the connection is then closed without the
 * body's end, so the client sees the answer fail rather than a short one.
 * pull is called on the loop thread, only while the server runs. done frees
 * the stream: called once, when the answer was sent, its peer went away,
 * the server stopped, or the answer could not be queued. */
typedef struct tg_httpd_stream tg_httpd_stream;
struct tg_httpd_stream {
    ssize_t (*pull)(tg_httpd_stream *s, char *buf, size_t cap);
    void (*done)(tg_httpd_stream *s);
};

/* The handler's answer. The server pre-fills status 200, content_type
 * "text/plain; charset=utf-8", an empty body and no stream. */
typedef struct tg_httpd_response {
    int status;               /* HTTP status */
    const char *content_type; /* static string, or NULL for none */
    char *body;               /* malloc'ed by the handler; the server frees it; NULL = empty */
    size_t body_len;          /* bytes of body */
    tg_httpd_stream *stream;  /* or the body as a stream (body must then be NULL) */
} tg_httpd_response;

typedef void (*tg_httpd_handler)(void *ctx, const tg_httpd_request *req, tg_httpd_response *resp);

typedef struct tg_httpd_opts {
    char listen[TG_HTTPD_LISTEN_MAX]; /* "127.0.0.1:8427", "[::1]:8427"; port 0 = ephemeral */
    size_t body_max;                  /* request body bound, bytes */
    unsigned connections_max;         /* connections at once */
    unsigned timeout_s;               /* idle connection timeout, s (>= 1) */
} tg_httpd_opts;

typedef struct tg_httpd tg_httpd;
struct uv_loop_s;

/* Defaults: listen "127.0.0.1:8427", TG_HTTPD_BODY_MAX, TG_HTTPD_CONNECTIONS_MAX,
 * TG_HTTPD_TIMEOUT_S. */
tg_httpd_opts tg_httpd_opts_default(void);

/* Listens on listen ("host:port", numeric IPv4 or [IPv6]) with the default
 * bounds; fn(ctx, ...) answers every request. */
tg_status tg_httpd_start(struct uv_loop_s *loop, const char *listen, tg_httpd_handler fn, void *ctx,
                         tg_httpd **out, tg_err *err);
/* Same with explicit bounds. */
tg_status tg_httpd_start_opts(struct uv_loop_s *loop, const tg_httpd_opts *opts,
                              tg_httpd_handler fn, void *ctx, tg_httpd **out, tg_err *err);

/* The port actually bound (useful with port 0). */
uint16_t tg_httpd_port(const tg_httpd *h);

/* Stops listening, closes every connection and the uv handles; the object
 * frees itself once the loop has closed them (run the loop). */
void tg_httpd_stop(tg_httpd *h);

typedef struct tg_httpd_stats {
    uint64_t requests;    /* requests answered */
    uint64_t too_large;   /* of which 413 (body too large) */
    uint64_t connections; /* connections open now */
} tg_httpd_stats;
tg_httpd_stats tg_httpd_get_stats(const tg_httpd *h);

/* Constant-time comparison of a presented token a with the configured
 * secret b: the time depends on the length of b only, never on where the
 * two differ. NULL equals nothing. */
bool tg_httpd_token_equal(const char *a, const char *b);

#endif
