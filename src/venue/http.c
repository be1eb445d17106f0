/* libcurl's multi interface driven by a libuv loop: curl tells which
 * sockets to watch (socket callback) and when to wake it (timer callback);
 * the loop reports readiness back with curl_multi_socket_action. */
#define _POSIX_C_SOURCE 200809L

#include "venue/http.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#define HTTP_HOST_CONNECTIONS 8 /* connections to one exchange host at most, kept alive */

typedef struct http_req {
    tg_http *http;                /* owner */
    CURL *easy;                   /* the transfer */
    struct curl_slist *hdrs;      /* request headers */
    char *buf;                    /* response body */
    size_t len;                   /* bytes in buf */
    size_t cap;                   /* bytes allocated */
    bool too_big;                 /* body over TG_HTTP_BODY_MAX */
    bool idempotent;              /* a GET: safe to send again */
    bool retried;                 /* sent again on a fresh connection already */
    tg_http_limits limits;        /* parsed headers */
    int64_t sent_us;              /* handed to curl, µs */
    tg_http_done_fn done;         /* completion */
    void *ctx;                    /* completion context */
    char errbuf[CURL_ERROR_SIZE]; /* curl's message */
    struct http_req *next;        /* in-flight list */
} http_req;

/* A connection's socket is watched from its opening (on_open_socket) to its
 * closing (on_close_socket), not per transfer: libcurl reports a kept-alive
 * connection removed after every response and wanted again with the next
 * request, and a uv_poll made and closed each time cost four system calls
 * between one request's send and the next one's. Sockets libcurl opens
 * itself (a resolver's wake-up pair) are watched only while it asks. */
typedef struct http_sock {
    uv_poll_t poll;         /* readiness of one socket */
    tg_http *http;          /* owner */
    curl_socket_t fd;       /* the socket */
    bool owned;             /* opened by on_open_socket: closed by on_close_socket */
    bool idle;              /* owned, and no transfer uses it: a connection in the cache */
    struct http_sock *next; /* open sockets of this transport */
} http_sock;

struct tg_http {
    uv_loop_t *loop;       /* caller's loop */
    CURLM *multi;          /* one multi handle: one connection cache */
    uv_timer_t timer;      /* curl's timeout */
    uv_idle_t kick;        /* completes requests outside tg_http_send */
    tg_http_opts opts;     /* timeouts, TLS policy */
    http_req *inflight;    /* requests in flight */
    http_sock *socks;      /* sockets being watched */
    size_t inflight_count; /* length of that list */
    size_t handles_open;   /* uv handles not yet closed */
    bool closing;          /* tg_http_close was called */
};

int64_t tg_http_now_us(void) {
    return (int64_t)(uv_hrtime() / 1000u);
}

static void handle_closed(uv_handle_t *handle) {
    assert(handle != NULL);
    tg_http *h = handle->data;
    if (handle->type == UV_POLL) {
        h = ((http_sock *)handle)->http;
        free(handle);
    }
    assert(h != NULL);
    assert(h->handles_open > 0);
    if (--h->handles_open == 0 && h->closing) {
        free(h);
    }
}

static void sock_close(tg_http *h, http_sock *s) {
    assert(h != NULL && s != NULL);
    assert(s->http == h);
    assert(h->handles_open > 0);
    for (http_sock **p = &h->socks; *p != NULL; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, handle_closed);
}

static http_sock *sock_find(const tg_http *h, curl_socket_t fd) {
    assert(h != NULL);
    for (http_sock *s = h->socks; s != NULL; s = s->next) {
        if (s->fd == fd) {
            return s;
        }
    }
    return NULL;
}

static http_sock *sock_new(tg_http *h, curl_socket_t fd, bool owned) {
    assert(h != NULL && fd != CURL_SOCKET_BAD);
    http_sock *s = calloc(1, sizeof *s);
    if (s == NULL || uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
        free(s);
        return NULL;
    }
    s->http = h;
    s->fd = fd;
    s->owned = owned;
    s->idle = owned;
    s->next = h->socks;
    h->socks = s;
    h->handles_open++;
    return s;
}

static void req_unlink(tg_http *h, http_req *r) {
    assert(h != NULL && r != NULL);
    assert(h->inflight_count > 0 && h->inflight_count <= TG_HTTP_INFLIGHT_MAX);
    for (http_req **p = &h->inflight; *p != NULL; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            h->inflight_count--;
            return;
        }
    }
    assert(0 && "request not in flight");
}

static void req_free(http_req *r) {
    assert(r != NULL && r->easy != NULL);
    assert(r->len <= TG_HTTP_BODY_MAX);
    curl_slist_free_all(r->hdrs);
    curl_easy_cleanup(r->easy);
    free(r->buf);
    free(r);
}

static void on_kick(uv_idle_t *idle);

/* A kept-alive connection the server dropped just as a request went out on
 * it (a reset shows up as a poll error, which libcurl does not retry): a
 * GET is sent once more on a new connection. Anything else fails, as its
 * outcome on the server is unknown. */
static bool retry_fresh(tg_http *h, http_req *r, CURLcode code) {
    assert(h != NULL && r != NULL && r->easy != NULL);
    if (!r->idempotent || r->retried || h->closing || r->too_big ||
        (code != CURLE_SEND_ERROR && code != CURLE_RECV_ERROR && code != CURLE_GOT_NOTHING)) {
        return false;
    }
    long connects = -1;
    if (curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &connects) != CURLE_OK || connects != 0) {
        return false; /* a new connection failed: not a stale one */
    }
    curl_multi_remove_handle(h->multi, r->easy);
    r->retried = true;
    r->len = 0;
    r->errbuf[0] = '\0';
    r->limits = (tg_http_limits){-1, -1, -1, -1, -1, -1, -1};
    curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
        return false;
    }
    uv_idle_start(&h->kick, on_kick);
    return true;
}

static void req_finish(tg_http *h, http_req *r, CURLcode code) {
    assert(h != NULL && r != NULL && r->http == h);
    assert(r->done != NULL);
    if (retry_fresh(h, r, code)) {
        return;
    }
    req_unlink(h, r);
    curl_multi_remove_handle(h->multi, r->easy);
    tg_http_resp resp;
    memset(&resp, 0, sizeof resp);
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    resp.status = (int)status;
    resp.transport_failed = code != CURLE_OK || r->too_big;
    resp.timed_out = code == CURLE_OPERATION_TIMEDOUT;
    if (resp.transport_failed) {
        const char *why = r->too_big             ? "response body too large"
                          : r->errbuf[0] != '\0' ? r->errbuf
                                                 : curl_easy_strerror(code);
        assert(why != NULL);
        snprintf(resp.error, sizeof resp.error, "%s", why); /* a long curl sentence may be cut */
        resp.status = r->too_big ? resp.status : 0;
    }
    resp.body = r->buf != NULL ? r->buf : "";
    resp.len = r->len;
    resp.limits = r->limits;
    resp.sent_us = r->sent_us;
    resp.done_us = tg_http_now_us();
    r->done(r->ctx, &resp);
    req_free(r);
}

static void check_done(tg_http *h) {
    assert(h != NULL && h->multi != NULL);
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        http_req *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        assert(r != NULL && r->easy == msg->easy_handle);
        req_finish(h, r, msg->data.result);
    }
}

static void on_poll(uv_poll_t *poll, int status, int events) {
    assert(poll != NULL);
    assert(((http_sock *)poll)->http != NULL);
    http_sock *s = (http_sock *)poll;
    if (s->idle) {
        /* a cached connection the server closed (or wrote to unasked):
         * libcurl finds it dead when it next picks it; stop the level-
         * triggered readiness from waking the loop until then */
        uv_poll_stop(&s->poll);
        return;
    }
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        flags |= (events & UV_READABLE) ? CURL_CSELECT_IN : 0;
        flags |= (events & UV_WRITABLE) ? CURL_CSELECT_OUT : 0;
    }
    tg_http *h = s->http;
    int running = 0;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static void on_timer(uv_timer_t *timer) {
    assert(timer != NULL && timer->data != NULL);
    tg_http *h = timer->data;
    int running = 0;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static void on_kick(uv_idle_t *idle) {
    assert(idle != NULL && idle->data != NULL);
    tg_http *h = idle->data;
    uv_idle_stop(idle);
    on_timer(&h->timer);
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    assert(userp != NULL);
    (void)multi;
    tg_http *h = userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&h->timer);
    } else {
        /* 0 means "now": still go through the loop, never recurse into curl. */
        uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
    }
    return 0;
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    assert(userp != NULL);
    assert(socketp == NULL || ((http_sock *)socketp)->fd == fd);
    (void)easy;
    tg_http *h = userp;
    http_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            curl_multi_assign(h->multi, fd, NULL);
            if (s->owned) {
                s->idle = true; /* kept watched for a close: no system call */
                uv_poll_start(&s->poll, UV_READABLE, on_poll);
            } else {
                sock_close(h, s);
            }
        }
        return 0;
    }
    if (s == NULL) {
        s = sock_find(h, fd);
        s = s != NULL ? s : sock_new(h, fd, false);
        if (s == NULL) {
            return -1;
        }
        curl_multi_assign(h->multi, fd, s);
    }
    s->idle = false;
    int events = 0;
    events |= (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ? UV_READABLE : 0;
    events |= (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ? UV_WRITABLE : 0;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static curl_socket_t on_open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *addr) {
    assert(userp != NULL && addr != NULL);
    (void)purpose;
    tg_http *h = userp;
    curl_socket_t fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd == CURL_SOCKET_BAD) {
        return CURL_SOCKET_BAD;
    }
    if (sock_new(h, fd, true) == NULL) {
        close(fd);
        return CURL_SOCKET_BAD;
    }
    return fd;
}

static int on_close_socket(void *userp, curl_socket_t fd) {
    assert(userp != NULL);
    tg_http *h = userp;
    http_sock *s = sock_find(h, fd);
    if (s != NULL) {
        sock_close(h, s); /* out of the loop's epoll set before the number is free again */
    }
    return close(fd);
}

tg_status tg_http_new(uv_loop_t *loop, const tg_http_opts *opts, tg_http **out, tg_err *err) {
    assert(loop != NULL && opts != NULL && out != NULL);
    assert(opts->connect_timeout_ms > 0 && opts->request_timeout_ms > 0);
    static bool global_done = false; /* curl_global_init is not thread-safe: first use wins */
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            return tg_err_set(err, TG_E_UNAVAILABLE, "libcurl could not be initialised");
        }
        global_done = true;
    }
    tg_http *h = calloc(1, sizeof *h);
    if (h == NULL || (h->multi = curl_multi_init()) == NULL) {
        free(h);
        return tg_err_set(err, TG_E_NOMEM, "out of memory creating the HTTP transport");
    }
    h->loop = loop;
    h->opts = *opts;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HTTP_HOST_CONNECTIONS);
    /* libcurl's cache keeps 4 idle connections per easy handle in use: a
     * burst of stop moves after a quiet spell found one fewer than it
     * needed and paid a TCP (and TLS) connect for the last request. Keep as
     * many as one host may have. */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_HOST_CONNECTIONS);
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    uv_idle_init(loop, &h->kick);
    h->kick.data = h;
    h->handles_open = 2;
    assert(h->inflight_count == 0 && h->socks == NULL);
    *out = h;
    return TG_OK;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp) {
    assert(data != NULL || size * n == 0);
    assert(userp != NULL);
    assert(((http_req *)userp)->len <= TG_HTTP_BODY_MAX);
    http_req *r = userp;
    size_t bytes = size * n;
    if (r->len + bytes > TG_HTTP_BODY_MAX) {
        r->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (r->len + bytes + 1 > r->cap) {
        size_t cap = r->cap == 0 ? 4096 : r->cap;
        while (cap < r->len + bytes + 1) {
            cap *= 2;
        }
        char *buf = realloc(r->buf, cap);
        if (buf == NULL) {
            return 0;
        }
        r->buf = buf;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, bytes);
    r->len += bytes;
    assert(r->len < r->cap && r->len <= TG_HTTP_BODY_MAX);
    r->buf[r->len] = '\0';
    return bytes;
}

/* "Name: value" → value as an integer when name matches, else unchanged. */
static void header_i64(const char *line, size_t len, const char *name, int64_t *out) {
    assert(line != NULL && name != NULL);
    assert(out != NULL);
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':') {
        return;
    }
    int64_t v = 0;
    size_t i = n + 1;
    while (i < len && line[i] == ' ') {
        i++;
    }
    size_t start = i;
    while (i < len && isdigit((unsigned char)line[i]) && i - start < 18) {
        v = v * 10 + (line[i++] - '0');
    }
    if (i > start) {
        *out = v;
    }
}

static size_t on_header(char *line, size_t size, size_t n, void *userp) {
    assert(line != NULL && userp != NULL);
    http_req *r = userp;
    size_t len = size * n;
    header_i64(line, len, "X-MBX-USED-WEIGHT-1M", &r->limits.used_weight_1m);
    header_i64(line, len, "X-MBX-ORDER-COUNT-1M", &r->limits.order_count_1m);
    header_i64(line, len, "X-MBX-ORDER-COUNT-10S", &r->limits.order_count_10s);
    header_i64(line, len, "X-Bapi-Limit", &r->limits.bapi_limit);
    header_i64(line, len, "X-Bapi-Limit-Status", &r->limits.bapi_remaining);
    header_i64(line, len, "X-Bapi-Limit-Reset-Timestamp", &r->limits.bapi_reset_ms);
    header_i64(line, len, "Retry-After", &r->limits.retry_after_s);
    return len;
}

static void easy_setup(tg_http *h, http_req *r, const char *method, const char *url,
                       const char *body) {
    assert(h != NULL && r != NULL && r->easy != NULL);
    assert(method != NULL && url != NULL);
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->opts.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->opts.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, h->opts.insecure_tls ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, h->opts.insecure_tls ? 0L : 2L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    if (h->opts.user_agent[0] != '\0') {
        curl_easy_setopt(e, CURLOPT_USERAGENT, h->opts.user_agent); /* curl copies it */
    }
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
                         body != NULL ? body : ""); /* body is the caller's stack */
    }
}

tg_status tg_http_send(tg_http *h, const char *method, const char *url, const char *const *headers,
                       size_t headers_count, const char *body, tg_http_done_fn done, void *ctx,
                       tg_err *err) {
    assert(h != NULL && method != NULL && url != NULL && done != NULL);
    assert(headers_count <= TG_HTTP_HEADERS_MAX && !h->closing);
    if (h->inflight_count >= TG_HTTP_INFLIGHT_MAX) {
        return tg_err_set(err, TG_E_CAPACITY, "%d HTTP requests already in flight",
                          TG_HTTP_INFLIGHT_MAX);
    }
    http_req *r = calloc(1, sizeof *r);
    if (r == NULL || (r->easy = curl_easy_init()) == NULL) {
        free(r);
        return tg_err_set(err, TG_E_NOMEM, "out of memory for an HTTP request");
    }
    r->http = h;
    r->idempotent = strcmp(method, "GET") == 0;
    r->done = done;
    r->ctx = ctx;
    r->limits = (tg_http_limits){-1, -1, -1, -1, -1, -1, -1};
    for (size_t i = 0; i < headers_count; i++) {
        struct curl_slist *l = curl_slist_append(r->hdrs, headers[i]);
        if (l == NULL) {
            req_free(r);
            return tg_err_set(err, TG_E_NOMEM, "out of memory for HTTP headers");
        }
        r->hdrs = l;
    }
    /* No "Expect: 100-continue" round trip on POST bodies. */
    struct curl_slist *l = curl_slist_append(r->hdrs, "Expect:");
    r->hdrs = l != NULL ? l : r->hdrs;
    easy_setup(h, r, method, url, body);
    r->sent_us = tg_http_now_us();
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
        req_free(r);
        return tg_err_set(err, TG_E_UNAVAILABLE, "libcurl refused the request");
    }
    r->next = h->inflight;
    h->inflight = r;
    h->inflight_count++;
    assert(h->inflight_count <= TG_HTTP_INFLIGHT_MAX);
    uv_idle_start(&h->kick, on_kick);
    return TG_OK;
}

void tg_http_close(tg_http *h) {
    if (h == NULL) {
        return;
    }
    assert(!h->closing);
    h->closing = true;
    while (h->inflight != NULL) {
        http_req *r = h->inflight;
        snprintf(r->errbuf, sizeof r->errbuf, "transport closed");
        req_finish(h, r, CURLE_ABORTED_BY_CALLBACK);
    }
    /* Cleanup closes the cached connections; sockets it does not report
     * removed are closed here. */
    assert(h->inflight_count == 0);
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while (h->socks != NULL) {
        sock_close(h, h->socks);
    }
    uv_timer_stop(&h->timer);
    uv_idle_stop(&h->kick);
    uv_close((uv_handle_t *)&h->timer, handle_closed);
    uv_close((uv_handle_t *)&h->kick, handle_closed);
}
