/* libmicrohttpd without threads of its own: MHD_USE_EPOLL and no internal
 * polling flag, so MHD only works inside MHD_run, which this file calls when
 * the loop reports MHD's epoll descriptor readable or MHD's timeout expires. */
#define _POSIX_C_SOURCE 200809L

#include "trailguard/httpd.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <uv.h>

/* One request being received: created by the URI callback (which sees the
 * raw URI, query included), freed by the completion callback. */
typedef struct httpd_req {
    char *query;       /* raw query, "" when none */
    char *body;        /* body received so far, NUL-terminated */
    size_t len;        /* bytes of body */
    size_t cap;        /* bytes allocated for body */
    bool headers_seen; /* the first access call (headers only) happened */
    bool too_big;      /* the body passed body_max: answered 413 */
} httpd_req;

struct tg_httpd {
    uv_loop_t *loop;      /* caller's loop */
    struct MHD_Daemon *d; /* the server */
    uv_poll_t poll;       /* MHD's epoll descriptor */
    uv_timer_t timer;     /* MHD's next timeout */
    tg_httpd_handler fn;  /* answers requests */
    void *ctx;            /* fn's context */
    tg_httpd_opts opts;   /* bounds */
    uint16_t port;        /* bound port */
    tg_httpd_stats stats; /* counters */
    uint64_t closed;      /* connections closed so far */
    int handles_open;     /* uv handles not yet closed */
};

#define PUMP_RUNS_MAX      4           /* MHD_run calls per loop wake-up */
#define HTTPD_STREAM_BLOCK (32u << 10) /* bytes a stream is asked for at most at once */

tg_httpd_opts tg_httpd_opts_default(void) {
    tg_httpd_opts o;
    memset(&o, 0, sizeof o);
    int n = snprintf(o.listen, sizeof o.listen, "127.0.0.1:8427");
    assert(n > 0 && (size_t)n < sizeof o.listen);
    o.body_max = TG_HTTPD_BODY_MAX;
    o.connections_max = TG_HTTPD_CONNECTIONS_MAX;
    o.timeout_s = TG_HTTPD_TIMEOUT_S;
    return o;
}

bool tg_httpd_token_equal(const char *a, const char *b) {
    if (a == NULL || b == NULL) {
        return false;
    }
    size_t la = strlen(a), lb = strlen(b);
    /* The loop runs over the secret's length whatever a holds; volatile
     * keeps the compiler from ending it at the first difference. */
    volatile unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < lb; i++) {
        unsigned char ca = (unsigned char)a[i <= la ? i : la];
        diff |= (unsigned char)(ca ^ (unsigned char)b[i]);
    }
    return diff == 0;
}

/* "127.0.0.1:8427" or "[::1]:8427" → socket address. */
static bool parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6) {
    assert(listen != NULL);
    assert(ss != NULL && v6 != NULL);
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || colon[1] == '\0') {
        return false;
    }
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port > 65535) {
        return false;
    }
    char host[TG_HTTPD_LISTEN_MAX];
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= sizeof host) {
        return false;
    }
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    *v6 = host[0] == '[';
    if (*v6) {
        if (hlen < 3 || host[hlen - 1] != ']') {
            return false;
        }
        host[hlen - 1] = '\0';
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &s4->sin_addr) == 1;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    assert(uri != NULL);
    (void)cls;
    (void)conn;
    httpd_req *r = calloc(1, sizeof *r);
    const char *q = strchr(uri, '?');
    if (r == NULL || (r->query = strdup(q != NULL ? q + 1 : "")) == NULL) {
        free(r);
        return NULL; /* answered 503 by the access handler */
    }
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode code) {
    assert(req_cls != NULL);
    (void)cls;
    (void)conn;
    (void)code;
    httpd_req *r = *req_cls;
    if (r != NULL) {
        free(r->query);
        free(r->body);
        free(r);
        *req_cls = NULL;
    }
}

/* Queues resp (NULL: it could not be made) with status and content_type. */
static enum MHD_Result queue(struct MHD_Connection *conn, int status, const char *content_type,
                             struct MHD_Response *resp) {
    assert(conn != NULL);
    assert(status >= 100 && status <= 599);
    if (resp == NULL) {
        return MHD_NO; /* MHD closes the connection */
    }
    if (content_type != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    }
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Queues status with body (malloc'ed, taken over; NULL = empty). */
static enum MHD_Result answer(struct MHD_Connection *conn, int status, const char *content_type,
                              char *body, size_t len) {
    assert(body != NULL || len == 0);
    struct MHD_Response *resp =
        body != NULL ? MHD_create_response_from_buffer_with_free_callback(len, body, free)
                     : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(body);
    }
    return queue(conn, status, content_type, resp);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    assert(cls != NULL && buf != NULL);
    (void)pos;
    tg_httpd_stream *s = cls;
    if (max == 0) {
        return 0; /* MHD asks again once it has room */
    }
    ssize_t n = s->pull(s, buf, max);
    assert(n >= -1 && n <= (ssize_t)max);
    return n > 0    ? n
           : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                    : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_done(void *cls) {
    assert(cls != NULL);
    tg_httpd_stream *s = cls;
    s->done(s);
}

/* Queues status with a streamed body (taken over: done is called whatever
 * happens). */
static enum MHD_Result answer_stream(struct MHD_Connection *conn, int status,
                                     const char *content_type, tg_httpd_stream *stream) {
    assert(stream != NULL && stream->pull != NULL && stream->done != NULL);
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, HTTPD_STREAM_BLOCK, stream_read, stream, stream_done);
    if (resp == NULL) {
        stream->done(stream);
    }
    return queue(conn, status, content_type, resp);
}

static enum MHD_Result answer_text(tg_httpd *h, struct MHD_Connection *conn, int status,
                                   const char *text) {
    assert(h != NULL && conn != NULL);
    assert(text != NULL);
    h->stats.requests++;
    h->stats.too_large += status == MHD_HTTP_CONTENT_TOO_LARGE;
    char *body = strdup(text);
    return answer(conn, status, "text/plain; charset=utf-8", body, body != NULL ? strlen(text) : 0);
}

static bool body_append(httpd_req *r, const char *data, size_t n) {
    assert(r != NULL);
    assert(data != NULL || n == 0);
    assert(r->cap == 0 || r->len < r->cap);
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap == 0 ? 1024 : r->cap;
        while (cap < r->len + n + 1) {
            cap *= 2;
        }
        char *b = realloc(r->body, cap);
        if (b == NULL) {
            return false;
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    assert(r->len < r->cap);
    r->body[r->len] = '\0';
    return true;
}

static const char *bearer_of(struct MHD_Connection *conn) {
    assert(conn != NULL);
    const char *v =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0) {
        return NULL;
    }
    v += 7;
    while (*v == ' ') {
        v++;
    }
    return *v != '\0' ? v : NULL;
}

static enum MHD_Result call_handler(tg_httpd *h, struct MHD_Connection *conn, const char *url,
                                    const char *method, httpd_req *r) {
    assert(h != NULL && h->fn != NULL);
    assert(url != NULL && method != NULL);
    assert(r != NULL && r->query != NULL && r->headers_seen && !r->too_big);
    tg_httpd_request req = {
        .method = method,
        .path = url,
        .query = r->query,
        .body = r->body != NULL ? r->body : "",
        .body_len = r->len,
        .bearer = bearer_of(conn),
        .content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
    };
    tg_httpd_response resp = {200, "text/plain; charset=utf-8", NULL, 0, NULL};
    h->fn(h->ctx, &req, &resp);
    assert(resp.stream == NULL || resp.body == NULL);
    if (resp.status < 100 || resp.status > 599) {
        free(resp.body);
        if (resp.stream != NULL) {
            resp.stream->done(resp.stream);
        }
        return answer_text(h, conn, 500, "handler returned no valid status\n");
    }
    h->stats.requests++;
    if (resp.stream != NULL) {
        return answer_stream(conn, resp.status, resp.content_type, resp.stream);
    }
    return answer(conn, resp.status, resp.content_type, resp.body,
                  resp.body != NULL ? resp.body_len : 0);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls) {
    assert(cls != NULL && conn != NULL);
    assert(upload_size != NULL && req_cls != NULL);
    (void)version;
    tg_httpd *h = cls;
    httpd_req *r = *req_cls;
    if (r == NULL) {
        return answer_text(h, conn, 503, "out of memory\n");
    }
    if (!r->headers_seen) {
        r->headers_seen = true;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL && strtoull(cl, NULL, 10) > h->opts.body_max) {
            r->too_big = true; /* answered before the body is read (no 100 Continue) */
            return answer_text(h, conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (r->len + *upload_size > h->opts.body_max) {
            r->too_big = true; /* a chunked body: discard the rest, answer at the end */
        } else if (!r->too_big && !body_append(r, upload, *upload_size)) {
            return MHD_NO;
        }
        assert(r->too_big || r->len <= h->opts.body_max);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big) {
        return answer_text(h, conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large\n");
    }
    return call_handler(h, conn, url, method, r);
}

static void on_timer(uv_timer_t *t);

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code) {
    assert(cls != NULL);
    (void)conn;
    (void)socket_ctx;
    tg_httpd *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        h->stats.connections++;
    } else {
        assert(h->stats.connections > 0);
        h->stats.connections--;
        h->closed++;
    }
}

/* Lets MHD do all its pending work, then arms the timer for its next
 * deadline (0 when it still has ready connections to serve). MHD frees a
 * slot at the end of MHD_run but only puts the listen socket back into its
 * epoll set at the start of the next one; until then nothing would wake the
 * loop for the connections waiting in the backlog, so a run that closed
 * connections is followed by another. */
static void pump(tg_httpd *h) {
    assert(h != NULL && h->d != NULL);
    for (int i = 0; i < PUMP_RUNS_MAX; i++) {
        uint64_t closed = h->closed;
        MHD_run(h->d);
        if (h->closed == closed) {
            break;
        }
    }
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(h->d, &ms) == MHD_YES) {
        uv_timer_start(&h->timer, on_timer, (uint64_t)ms, 0);
    } else {
        uv_timer_stop(&h->timer);
    }
}

static void on_timer(uv_timer_t *t) {
    assert(t != NULL && t->data != NULL);
    pump(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events) {
    assert(p != NULL && p->data != NULL);
    (void)status;
    (void)events;
    pump(p->data);
}

tg_status tg_httpd_start(struct uv_loop_s *loop, const char *listen, tg_httpd_handler fn, void *ctx,
                         tg_httpd **out, tg_err *err) {
    assert(loop != NULL && fn != NULL && out != NULL);
    tg_httpd_opts o = tg_httpd_opts_default();
    if (listen == NULL || strlen(listen) >= sizeof o.listen) {
        return tg_err_set(err, TG_E_INVALID, "httpd: listen address missing or too long");
    }
    int n = snprintf(o.listen, sizeof o.listen, "%s", listen);
    assert(n >= 0 && (size_t)n < sizeof o.listen);
    return tg_httpd_start_opts(loop, &o, fn, ctx, out, err);
}

static tg_status check_opts(const tg_httpd_opts *o, struct sockaddr_storage *ss, bool *v6,
                            tg_err *err) {
    assert(o != NULL);
    assert(ss != NULL && v6 != NULL);
    if (!parse_listen(o->listen, ss, v6)) {
        return tg_err_set(err, TG_E_INVALID,
                          "httpd: listen address \"%s\" is not host:port with a numeric host",
                          o->listen);
    }
    if (o->body_max == 0 || o->connections_max == 0 || o->timeout_s == 0) {
        return tg_err_set(err, TG_E_INVALID,
                          "httpd: body_max, connections_max and timeout_s must be positive");
    }
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES ||
        MHD_is_feature_supported(MHD_FEATURE_AUTOSUPPRESS_SIGPIPE) != MHD_YES) {
        return tg_err_set(err, TG_E_UNAVAILABLE,
                          "httpd: this libmicrohttpd lacks epoll or SIGPIPE suppression");
    }
    return TG_OK;
}

tg_status tg_httpd_start_opts(struct uv_loop_s *loop, const tg_httpd_opts *opts,
                              tg_httpd_handler fn, void *ctx, tg_httpd **out, tg_err *err) {
    assert(loop != NULL && opts != NULL && fn != NULL && out != NULL);
    struct sockaddr_storage ss;
    bool v6 = false;
    tg_status st = check_opts(opts, &ss, &v6, err);
    if (st != TG_OK) {
        return st;
    }
    tg_httpd *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "httpd: out of memory");
    }
    h->loop = loop;
    h->fn = fn;
    h->ctx = ctx;
    h->opts = *opts;
    unsigned flags = MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, opts->connections_max, MHD_OPTION_CONNECTION_TIMEOUT,
        opts->timeout_s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    if (h->d == NULL) {
        free(h);
        return tg_err_set(err, TG_E_IO, "httpd: cannot listen on %s (in use or not permitted)",
                          opts->listen);
    }
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    const union MHD_DaemonInfo *efd = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (port == NULL || efd == NULL || uv_poll_init(loop, &h->poll, efd->epoll_fd) != 0) {
        MHD_stop_daemon(h->d);
        free(h);
        return tg_err_set(err, TG_E_IO, "httpd: cannot watch the server on %s", opts->listen);
    }
    h->port = port->port;
    h->poll.data = h;
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    h->handles_open = 2;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    pump(h);
    *out = h;
    return TG_OK;
}

uint16_t tg_httpd_port(const tg_httpd *h) {
    assert(h != NULL);
    assert(h->port != 0);
    return h->port;
}

tg_httpd_stats tg_httpd_get_stats(const tg_httpd *h) {
    assert(h != NULL);
    return h->stats;
}

static void handle_closed(uv_handle_t *handle) {
    assert(handle != NULL && handle->data != NULL);
    tg_httpd *h = handle->data;
    assert(h->handles_open > 0);
    if (--h->handles_open == 0) {
        free(h);
    }
}

void tg_httpd_stop(tg_httpd *h) {
    if (h == NULL) {
        return;
    }
    assert(h->d != NULL && h->handles_open == 2);
    /* uv_close takes the descriptor out of the loop's epoll at once, so MHD
     * may close it right after. */
    uv_close((uv_handle_t *)&h->poll, handle_closed);
    uv_close((uv_handle_t *)&h->timer, handle_closed);
    MHD_stop_daemon(h->d);
    h->d = NULL;
}
