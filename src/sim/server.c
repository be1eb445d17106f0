/* The emulator's sockets: one libuv loop in its own thread, one listener per
 * venue, HTTP/1.1 keep-alive with Content-Length bodies, the WebSocket
 * upgrade and frames, REST fault injection, and the public API of
 * trailguard/sim.h. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h */

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <time.h>

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>

#include "sim/sim_int.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* BSDs: SO_NOSIGPIPE on the socket does the same */
#endif

#define SIM_BACKLOG      128    /* pending connections per listener */
#define SIM_WS_MSG_MAX   65536  /* bytes of one message from a client */
#define SIM_CALL_OUT_MIN 2      /* bytes an out buffer needs */
#define SIM_WS_PING_MS   180000 /* Binance pings stream sockets every 3 min */

/* A stream message held back by a latency fault. */
struct sim_delayed {
    uv_timer_t timer; /* fires once */
    tg_sim *sim;      /* owner */
    uint64_t conn_id; /* receiver, looked up again when it fires */
    size_t len;       /* bytes of text */
    char *text;       /* the message */
};

typedef struct sim_write {
    uv_write_t req; /* libuv request */
    sim_conn *conn; /* writer */
    char *data;     /* bytes being written */
} sim_write;

static void on_close(uv_handle_t *h);
static void process_input(tg_sim *sim, sim_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status) {
    assert(req != NULL);
    sim_write *w = (sim_write *)req;
    sim_conn *c = w->conn;
    free(w->data);
    free(w);
    assert(c->writes_queued > 0);
    c->writes_queued--;
    c->active_ms = (int64_t)uv_now(&c->sim->loop);
    if (status < 0 || (c->close_after && c->writes_queued == 0)) {
        sim_conn_close(c->sim, c);
        return;
    }
    if (c->read_paused && !c->closing &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <= SIM_OUT_BYTES_MAX / 4) {
        c->read_paused = false;
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        process_input(c->sim, c);
    }
}

/* Is the output queued for c over its bounds? */
static bool conn_backlogged(const sim_conn *c, size_t limit) {
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > limit ||
           c->writes_queued > SIM_OUT_MSGS_MAX;
}

/* Writes what the socket takes now with send(MSG_NOSIGNAL), so a peer that
 * has gone raises EPIPE instead of SIGPIPE; returns the bytes written, or -1
 * when the connection is broken. Only when nothing is queued in libuv, or
 * the bytes would go out of order. */
static ssize_t conn_send_now(sim_conn *c, const char *data, size_t len) {
    assert(c != NULL);
    uv_os_fd_t fd;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) != 0 || c->writes_queued != 0 ||
        uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0) {
        return 0;
    }
    ssize_t n;
    do {
        n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    return n;
}

/* Takes ownership of data. What the socket does not take at once is queued
 * in libuv (whose own writes cannot raise SIGPIPE: the loop thread blocks
 * it). */
static void conn_write(sim_conn *c, char *data, size_t len) {
    assert(c != NULL);
    if (c->closing) {
        free(data);
        return;
    }
    ssize_t sent = conn_send_now(c, data, len);
    if (sent < 0) {
        free(data);
        sim_conn_close(c->sim, c);
        return;
    }
    if ((size_t)sent == len) {
        free(data);
        if (c->close_after) {
            sim_conn_close(c->sim, c);
        }
        return;
    }
    sim_write *w = malloc(sizeof *w);
    if (w == NULL) {
        free(data);
        sim_conn_close(c->sim, c);
        return;
    }
    w->conn = c;
    w->data = data;
    uv_buf_t buf = uv_buf_init(data + sent, (unsigned)(len - (size_t)sent));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) {
        free(data);
        free(w);
        sim_conn_close(c->sim, c);
        return;
    }
    c->writes_queued++;
    if (c->ws != SIM_WS_NONE && conn_backlogged(c, SIM_OUT_BYTES_MAX)) {
        /* A stream client that does not read: the exchanges disconnect it,
         * and closing returns the queued bytes (their writes are canceled). */
        c->sim->slow_disconnects++;
        sim_conn_close(c->sim, c);
    }
}

void sim_conn_finish(tg_sim *sim, sim_conn *c) {
    assert(sim != NULL);
    assert(c != NULL);
    c->close_after = true;
    if (c->writes_queued == 0) {
        sim_conn_close(sim, c);
    }
}

static const char *status_text(int status) {
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 418:
        return "I'm a teapot";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

/* Formats the whole HTTP answer; the caller owns the returned bytes. */
static char *format_response(const sim_resp *r, bool keep_alive, size_t *len_out) {
    const char *body = r->body.p != NULL ? r->body.p : "";
    size_t blen = r->body.len;
    size_t cap = blen + r->headers_len + 256;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: %s\r\n%s\r\n",
                     r->status, status_text(r->status),
                     r->ctype != NULL ? r->ctype : "application/json;charset=UTF-8", blen,
                     keep_alive ? "keep-alive" : "close", r->headers);
    assert(n > 0 && (size_t)n + blen < cap);
    memcpy(out + n, body, blen);
    *len_out = (size_t)n + blen;
    return out;
}

static void log_answer(tg_sim *sim, uint64_t seq, int status, int code) {
    assert(sim != NULL);
    sim_log_entry *e = &sim->log[(seq - 1) % SIM_LOG_MAX];
    if (e->seq == seq) {
        e->resp_us = sim_mono_us(sim);
        e->status = status;
        e->code = code;
    }
}

/* ---- connections ---- */

sim_conn *sim_conn_by_id(tg_sim *sim, uint64_t id) {
    assert(sim != NULL);
    for (size_t i = 0; i < SIM_CONNS_MAX; i++) {
        if (sim->conns[i] != NULL && sim->conns[i]->id == id && !sim->conns[i]->closing) {
            return sim->conns[i];
        }
    }
    return NULL;
}

static void on_close(uv_handle_t *h) {
    assert(h != NULL);
    sim_conn *c = h->data;
    if (--c->handles_open > 0) {
        return;
    }
    c->sim->conns[c->slot] = NULL;
    free(c->in);
    free(c->pending);
    free(c->held);
    free(c->sub);
    free(c->sub_snap);
    free(c->sub_at);
    free(c);
}

void sim_conn_close(tg_sim *sim, sim_conn *c) {
    assert(sim != NULL);
    assert(c != NULL);
    (void)sim;
    if (c->closing) {
        return;
    }
    c->closing = true;
    uv_close((uv_handle_t *)&c->delay, on_close);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* A request's receipt is when its bytes reached the emulator's host: the
 * kernel's software receive stamp (SO_TIMESTAMPING, set on every accepted
 * connection), read with a peek just before libuv reads the same bytes. A
 * stamp read when the emulator gets round to the connection would add the
 * time it spent answering the requests before (one thread does what an
 * exchange's front ends do in parallel). 0 when the kernel gave none. */
static int64_t arrival_us(const sim_conn *c, char *into, size_t room) {
    uv_os_fd_t fd;
    if (room == 0 || uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0) {
        return 0;
    }
    char control[CMSG_SPACE(sizeof(struct scm_timestamping))];
    struct iovec iov = {.iov_base = into, .iov_len = room};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    if (recvmsg(fd, &msg, MSG_PEEK | MSG_DONTWAIT) <= 0) {
        return 0;
    }
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_TIMESTAMPING) {
            continue;
        }
        struct scm_timestamping ts;
        memcpy(&ts, CMSG_DATA(cm), sizeof ts);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now); /* the stamp's clock */
        int64_t age_us = ((int64_t)now.tv_sec - (int64_t)ts.ts[0].tv_sec) * 1000000 +
                         ((int64_t)now.tv_nsec - (int64_t)ts.ts[0].tv_nsec) / 1000;
        if (ts.ts[0].tv_sec == 0 || age_us < 0 || age_us > SIM_ARRIVAL_AGE_MAX_US) {
            return 0; /* no stamp, or the wall clock stepped */
        }
        return sim_mono_us(c->sim) - age_us;
    }
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    assert(h != NULL);
    (void)suggested;
    sim_conn *c = h->data;
    size_t room = SIM_CONN_IN_MAX - c->in_len;
    if (c->rx_stamps && c->ws == SIM_WS_NONE && !c->hung) {
        c->arrive_us = arrival_us(c, c->in + c->in_len, room);
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    assert(s != NULL);
    (void)buf;
    sim_conn *c = s->data;
    if (n < 0) {
        sim_conn_close(c->sim, c);
        return;
    }
    c->active_ms = (int64_t)uv_now(&c->sim->loop);
    if (c->hung) {
        c->in_len = 0; /* a hung request never answers: drop what follows */
        return;
    }
    if (c->in_len == 0) {
        c->req_ms = c->active_ms;
    }
    c->in_len += (size_t)n;
    assert(c->in_len <= SIM_CONN_IN_MAX);
    /* Stamped with its arrival (on_alloc), parsed at the end of the turn
     * (on_reader): requests that arrive together on several connections are
     * each received when they arrived, as an exchange's front end receives
     * them in parallel. */
    if (n > 0) { /* a read that found nothing (EAGAIN) leaves the stamp alone */
        c->read_us = c->arrive_us > 0 ? c->arrive_us : sim_mono_us(c->sim);
    }
    c->arrive_us = 0;
    c->input_pending = true;
    if (c->ws != SIM_WS_NONE || c->in_len >= SIM_CONN_IN_MAX / 2) {
        /* streams, and a buffer filling up (libuv reads again at once), are
         * parsed now */
        c->input_pending = false;
        process_input(c->sim, c);
    }
}

static void on_reader(uv_check_t *check) {
    assert(check != NULL && check->data != NULL);
    tg_sim *sim = check->data;
    for (size_t i = 0; i < SIM_CONNS_MAX; i++) {
        sim_conn *c = sim->conns[i];
        if (c != NULL && c->input_pending) {
            c->input_pending = false;
            process_input(sim, c); /* may close c */
        }
    }
}

static void on_reject_closed(uv_handle_t *h) {
    assert(h != NULL);
    free(h);
}

/* Over SIM_CONNS_MAX (or out of memory): accept and close at once, so the
 * client sees a reset instead of a hang. */
static void reject_connection(tg_sim *sim, uv_stream_t *server) {
    assert(sim != NULL);
    assert(server != NULL);
    uv_tcp_t *reject = malloc(sizeof *reject);
    if (reject == NULL) {
        return;
    }
    if (uv_tcp_init(&sim->loop, reject) != 0) {
        free(reject);
        return;
    }
    (void)uv_accept(server, (uv_stream_t *)reject);
    uv_close((uv_handle_t *)reject, on_reject_closed);
}

size_t sim_conn_count(const tg_sim *sim, sim_venue v, bool market_only) {
    assert(sim != NULL);
    assert(v == SIM_BINANCE || v == SIM_BYBIT);
    size_t n = 0;
    for (size_t i = 0; i < SIM_CONNS_MAX; i++) {
        const sim_conn *c = sim->conns[i];
        bool market = c != NULL && c->ws != SIM_WS_NONE && c->account < 0 && c->sub_count > 0;
        n += c != NULL && !c->closing && c->venue == v && (!market_only || market);
    }
    return n;
}

/* An HTTP connection waiting for its next request, with nothing in flight:
 * closing it loses no answer. */
static bool conn_idle(const sim_conn *c) {
    return !c->closing && c->ws == SIM_WS_NONE && !c->busy && c->writes_queued == 0 &&
           (c->in_len == 0 || c->hung);
}

/* The port of v is full: closes its least recently active idle connection.
 * False when every connection there is a stream or mid-request. */
static bool evict_idle(tg_sim *sim, sim_venue v) {
    assert(sim != NULL);
    sim_conn *oldest = NULL;
    for (size_t i = 0; i < SIM_CONNS_MAX; i++) {
        sim_conn *c = sim->conns[i];
        if (c != NULL && c->venue == v && conn_idle(c) &&
            (oldest == NULL || c->active_ms < oldest->active_ms)) {
            oldest = c;
        }
    }
    if (oldest == NULL) {
        return false;
    }
    sim->evictions++;
    sim_conn_close(sim, oldest);
    return true;
}

static void on_connection(uv_stream_t *server, int status) {
    assert(server != NULL);
    tg_sim *sim = server->data;
    if (status < 0) {
        return;
    }
    sim_venue venue =
        server == (uv_stream_t *)&sim->listener[SIM_BINANCE] ? SIM_BINANCE : SIM_BYBIT;
    if (sim_conn_count(sim, venue, false) >= SIM_CONNS_PORT_MAX && !evict_idle(sim, venue)) {
        reject_connection(sim, server);
        return;
    }
    int slot = -1;
    for (int i = 0; i < SIM_CONNS_MAX && slot < 0; i++) {
        slot = sim->conns[i] == NULL ? i : -1;
    }
    sim_conn *c = slot >= 0 ? calloc(1, sizeof *c) : NULL;
    char *in = c != NULL ? malloc(SIM_CONN_IN_MAX) : NULL;
    if (in == NULL) {
        free(c);
        reject_connection(sim, server);
        return;
    }
    c->sim = sim;
    c->in = in;
    c->id = ++sim->next_conn_id;
    c->slot = slot;
    c->account = -1;
    c->venue = venue;
    c->active_ms = c->req_ms = (int64_t)uv_now(&sim->loop);
    uv_tcp_init(&sim->loop, &c->tcp);
    uv_timer_init(&sim->loop, &c->delay);
    c->tcp.data = c->delay.data = c;
    c->handles_open = 2;
    sim->conns[slot] = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        sim_conn_close(sim, c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_os_fd_t fd;
    int stamps = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    c->rx_stamps = uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 &&
                   setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &stamps, sizeof stamps) == 0;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- HTTP ---- */

/* Answers status and closes; extra is one more header line (no CRLF)
 * or NULL. */
static void send_error_with(sim_conn *c, int status, const char *extra) {
    assert(c != NULL);
    sim_resp r = {.status = status};
    if (extra != NULL) {
        sim_resp_header(&r, "%s", extra);
    }
    sim_buf_init(&r.body);
    sim_buf_printf(&r.body, "{\"code\":-1100,\"msg\":\"%s\"}", status_text(status));
    size_t len = 0;
    char *out = format_response(&r, false, &len);
    sim_buf_free(&r.body);
    c->close_after = true;
    if (out != NULL) {
        conn_write(c, out, len);
    } else {
        sim_conn_close(c->sim, c);
    }
}

static void send_plain_error(sim_conn *c, int status) {
    assert(c != NULL);
    send_error_with(c, status, NULL);
}

static void on_delay(uv_timer_t *t) {
    assert(t != NULL);
    sim_conn *c = t->data;
    char *data = c->pending;
    size_t len = c->pending_len;
    c->pending = NULL;
    c->busy = false;
    if (data != NULL) {
        conn_write(c, data, len);
    }
    if (!c->closing && !c->close_after) {
        process_input(c->sim, c);
    }
}

/* The Binance/Bybit body of an injected 5xx. */
static void fault_5xx(sim_venue v, sim_resp *r) {
    assert(r != NULL);
    r->status = 503;
    r->code = v == SIM_BINANCE ? -1001 : 10016;
    sim_buf_puts(&r->body, v == SIM_BINANCE
                               ? "{\"code\":-1001,\"msg\":\"Internal error; unable to process "
                                 "your request. Please try again.\"}"
                               : "{\"retCode\":10016,\"retMsg\":\"Server error.\",\"result\":{},"
                                 "\"retExtInfo\":{},\"time\":0}");
}

/* The control endpoint has no authentication, so it answers only clients on
 * loopback even when the venues listen on another address. */
static bool peer_is_loopback(const sim_conn *c) {
    struct sockaddr_storage peer;
    int len = sizeof peer;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &len) != 0) {
        return false;
    }
    if (peer.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&peer;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (peer.ss_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)&peer)->sin6_addr.s6_addr;
        static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return memcmp(b, v6_loop, 16) == 0 || (memcmp(b, v4_mapped, 12) == 0 && b[12] == 127);
    }
    return false;
}

/* Serves one REST or control request into r; false when the connection is
 * to be dropped or left hanging. */
static bool serve(tg_sim *sim, sim_conn *c, const sim_http_req *req, sim_resp *r,
                  sim_log_entry *log) {
    assert(sim != NULL);
    assert(c != NULL);
    assert(req != NULL);
    assert(r != NULL);
    assert(log != NULL);
    if (strncmp(req->path, "/sim/", 5) == 0 || strcmp(req->path, "/sim") == 0) {
        if (!peer_is_loopback(c)) {
            r->status = 403;
            sim_buf_puts(&r->body, "{\"error\":\"the control endpoint answers loopback clients "
                                   "only\"}");
            return true;
        }
        sim_control_handle(sim, req->method, req->path, req->query, req->body, req->body_len, r);
        return true;
    }
    const sim_fault *f = sim_fault_take(sim, req->method, req->path);
    if (f != NULL && f->kind == SIM_FAULT_DROP) {
        r->drop = true;
        return false;
    }
    if (f != NULL && f->kind == SIM_FAULT_TIMEOUT) {
        r->hang = true;
        return false;
    }
    if (f != NULL && f->kind == SIM_FAULT_HTTP5XX) {
        fault_5xx(c->venue, r);
        return true;
    }
    if (f != NULL && f->kind == SIM_FAULT_LATENCY) {
        r->delay_ms = f->ms;
    }
    r->stale = f != NULL && f->kind == SIM_FAULT_STALE;
    if (c->venue == SIM_BINANCE) {
        sim_binance_handle(sim, req, r, log);
    } else {
        sim_bybit_handle(sim, req, r, log);
    }
    return true;
}

static void handle_http(tg_sim *sim, sim_conn *c, const sim_http_req *req) {
    assert(sim != NULL);
    assert(c != NULL);
    bool control = strncmp(req->path, "/sim", 4) == 0;
    sim_log_entry log = {
        .seq = 0, .venue = c->venue, .recv_us = c->read_us > 0 ? c->read_us : sim_mono_us(sim)};
    sim_strlcpy(log.method, req->method, sizeof log.method);
    sim_strlcpy(log.path, req->path, sizeof log.path);
    const char *ua = sim_http_header(req, "user-agent");
    sim_strlcpy(log.user_agent, ua != NULL ? ua : "", sizeof log.user_agent);
    sim_resp r = {.status = 200, .account = -1};
    sim_buf_init(&r.body);
    bool answer = serve(sim, c, req, &r, &log);
    if (!control) {
        log.seq = ++sim->log_seq;
        log.status = answer ? r.status : 0;
        log.code = r.code;
        sim_log_add(sim, &log);
    }
    if (!answer) {
        if (r.drop) {
            sim_conn_close(sim, c);
        } else {
            c->hung = true;
            c->in_len = 0;
        }
        sim_buf_free(&r.body);
        return;
    }
    size_t len = 0;
    char *out = format_response(&r, req->keep_alive, &len);
    c->close_after = !req->keep_alive;
    sim_buf_free(&r.body);
    if (out == NULL) {
        sim_conn_close(sim, c);
    } else if (r.delay_ms > 0) {
        c->pending = out;
        c->pending_len = len;
        c->busy = true;
        uv_timer_start(&c->delay, on_delay, (uint64_t)r.delay_ms, 0);
    } else {
        conn_write(c, out, len);
    }
    if (!control && r.delay_ms == 0) {
        log_answer(sim, log.seq, r.status, r.code);
    } else if (!control) {
        sim->log[(log.seq - 1) % SIM_LOG_MAX].resp_us = log.recv_us + r.delay_ms * 1000;
    }
}

static bool handshake(tg_sim *sim, sim_conn *c, const sim_http_req *req) {
    assert(sim != NULL);
    assert(c != NULL);
    assert(req != NULL);
    char accept[32];
    const char *key = sim_http_header(req, "sec-websocket-key");
    const char *version = sim_http_header(req, "sec-websocket-version");
    if (strcmp(req->method, "GET") != 0 || !sim_ws_accept_key(key, accept) || version == NULL) {
        send_plain_error(c, 400);
        return false;
    }
    if (strcmp(version, "13") != 0) {
        /* RFC 6455 4.4: name the version this server speaks */
        send_error_with(c, 426, "Sec-WebSocket-Version: 13");
        return false;
    }
    if (!sim_ws_route(sim, c, c->venue, req)) {
        send_plain_error(c, 404);
        return false;
    }
    char *out = malloc(256);
    if (out == NULL) {
        sim_conn_close(sim, c);
        return false;
    }
    int n = snprintf(out, 256,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    conn_write(c, out, (size_t)n);
    return true;
}

/* ---- WebSocket frames ---- */

static void ws_send_frame(sim_conn *c, uint8_t opcode, const char *payload, size_t len) {
    assert(c != NULL);
    uint8_t hdr[10];
    size_t h = sim_ws_frame_header(opcode, len, hdr);
    char *out = malloc(h + len);
    if (out == NULL) {
        sim_conn_close(c->sim, c);
        return;
    }
    memcpy(out, hdr, h);
    memcpy(out + h, payload, len);
    conn_write(c, out, h + len);
}

void sim_conn_ws_send(tg_sim *sim, sim_conn *c, const char *text, size_t len) {
    assert(sim != NULL);
    assert(c != NULL && c->sim == sim);
    assert(text != NULL || len == 0);
    (void)sim;
    if (!c->closing && c->ws != SIM_WS_NONE) {
        ws_send_frame(c, 1, text, len);
    }
}

static void ws_close_with(sim_conn *c, uint16_t code) {
    assert(c != NULL);
    char payload[2] = {(char)(code >> 8), (char)(code & 0xff)};
    ws_send_frame(c, 8, payload, 2);
    sim_conn_finish(c->sim, c);
}

/* Consumes complete frames; returns false when the connection ends. */
static bool process_ws(tg_sim *sim, sim_conn *c) {
    assert(sim != NULL);
    size_t off = 0;
    bool alive = true;
    while (alive && !c->closing) {
        sim_ws_frame f;
        sim_parse p =
            sim_ws_frame_parse((const uint8_t *)c->in + off, c->in_len - off, SIM_WS_MSG_MAX, &f);
        if (p == SIM_PARSE_MORE) {
            break;
        }
        if (p != SIM_PARSE_DONE || !f.masked || !f.fin || f.opcode == 0) {
            ws_close_with(c, p == SIM_PARSE_TOO_BIG ? 1009 : 1002);
            alive = false;
            break;
        }
        uint8_t *payload = (uint8_t *)c->in + off + f.header_len;
        sim_ws_unmask(payload, (size_t)f.payload_len, f.mask);
        off += f.header_len + (size_t)f.payload_len;
        if ((f.opcode >= 3 && f.opcode <= 7) || f.opcode >= 11) {
            ws_close_with(c, 1002); /* reserved opcode: a protocol error (RFC 6455 5.2) */
            alive = false;
            break;
        }
        if (f.opcode == 1 && !sim_utf8_valid(payload, (size_t)f.payload_len)) {
            ws_close_with(c, 1007); /* a text frame must be UTF-8 (RFC 6455 8.1) */
            alive = false;
            break;
        }
        if (f.opcode == 1) {
            sim_ws_on_text(sim, c, (const char *)payload, (size_t)f.payload_len);
        } else if (f.opcode == 9) {
            ws_send_frame(c, 10, (const char *)payload, (size_t)f.payload_len);
        } else if (f.opcode == 8) {
            ws_send_frame(c, 8, (const char *)payload, f.payload_len >= 2 ? 2 : 0);
            sim_conn_finish(sim, c);
            alive = false;
        }
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return alive;
}

static void process_input(tg_sim *sim, sim_conn *c) {
    assert(sim != NULL);
    while (!c->closing && !c->busy && !c->hung && !c->close_after) {
        if (c->ws != SIM_WS_NONE) {
            process_ws(sim, c);
            return;
        }
        if (conn_backlogged(c, SIM_OUT_BYTES_MAX / 2)) {
            /* a client pipelining faster than it reads: stop reading until
             * its answers drain (on_written) instead of queueing more */
            c->read_paused = true;
            uv_read_stop((uv_stream_t *)&c->tcp);
            return;
        }
        sim_http_req *req = malloc(sizeof *req);
        if (req == NULL) {
            sim_conn_close(sim, c);
            return;
        }
        size_t used = 0;
        sim_parse p = sim_http_parse(c->in, c->in_len, req, &used);
        if (p == SIM_PARSE_MORE && c->in_len >= SIM_CONN_IN_MAX) {
            p = SIM_PARSE_TOO_BIG;
        }
        if (p == SIM_PARSE_DONE) {
            if (req->upgrade) {
                handshake(sim, c, req);
            } else {
                handle_http(sim, c, req);
            }
            if (!c->hung) {
                memmove(c->in, c->in + used, c->in_len - used);
                c->in_len -= used;
                c->req_ms = (int64_t)uv_now(&sim->loop);
            }
        } else if (p != SIM_PARSE_MORE) {
            send_plain_error(c, p == SIM_PARSE_TOO_BIG ? 413 : 400);
        }
        free(req);
        if (p != SIM_PARSE_DONE) {
            return;
        }
    }
}

/* ---- delayed stream messages ---- */

static void on_delayed_closed(uv_handle_t *h) {
    assert(h != NULL);
    sim_delayed *d = h->data;
    free(d->text);
    free(d);
}

static void on_delayed(uv_timer_t *t) {
    assert(t != NULL);
    sim_delayed *d = t->data;
    tg_sim *sim = d->sim;
    sim_conn *c = sim_conn_by_id(sim, d->conn_id);
    if (c != NULL) {
        sim_conn_ws_send(sim, c, d->text, d->len);
    }
    for (size_t i = 0; i < SIM_DELAYED_MAX; i++) {
        sim->delayed[i] = sim->delayed[i] == d ? NULL : sim->delayed[i];
    }
    uv_close((uv_handle_t *)&d->timer, on_delayed_closed);
}

/* The held messages are the emulator's own (sim->delayed, loop thread only):
 * two emulators in one process never see each other's. A slot is taken only
 * once its message is complete. */
void sim_conn_ws_send_later(tg_sim *sim, sim_conn *c, const char *text, size_t len, int64_t ms) {
    assert(sim != NULL);
    assert(c != NULL);
    int slot = -1;
    for (int i = 0; i < SIM_DELAYED_MAX && slot < 0; i++) {
        slot = sim->delayed[i] == NULL ? i : -1;
    }
    sim_delayed *d = slot >= 0 ? calloc(1, sizeof *d) : NULL;
    char *copy = d != NULL ? malloc(len > 0 ? len : 1) : NULL;
    if (copy == NULL) {
        free(d);
        sim_conn_ws_send(sim, c, text, len); /* no room to hold it: send now */
        return;
    }
    memcpy(copy, text, len);
    *d = (sim_delayed){.sim = sim, .conn_id = c->id, .len = len, .text = copy};
    uv_timer_init(&sim->loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_delayed, (uint64_t)ms, 0);
    sim->delayed[slot] = d;
}

static void close_delayed(tg_sim *sim) {
    assert(sim != NULL);
    for (size_t i = 0; i < SIM_DELAYED_MAX; i++) {
        if (sim->delayed[i] != NULL) {
            uv_close((uv_handle_t *)&sim->delayed[i]->timer, on_delayed_closed);
            sim->delayed[i] = NULL;
        }
    }
}

/* ---- the loop thread ---- */

/* Binance pings every stream socket every 3 minutes (clients answer with a
 * pong carrying the same payload). */
static void ping_binance_streams(tg_sim *sim) {
    assert(sim != NULL);
    for (size_t i = 0; i < SIM_CONNS_MAX; i++) {
        sim_conn *c = sim->conns[i];
        if (c != NULL && !c->closing && (c->ws == SIM_WS_BN_MARKET || c->ws == SIM_WS_BN_USER)) {
            ws_send_frame(c, 9, "tg", 2);
        }
    }
}

/* Slowloris and idle keep-alive: a request that has started must be
 * complete within header_timeout_ms (else 408), a connection without one
 * closes after idle_timeout_ms. Streams, answers in flight and the timeout
 * fault's silent connections are left alone. */
static void expire_connections(tg_sim *sim) {
    assert(sim != NULL);
    int64_t now = (int64_t)uv_now(&sim->loop);
    for (size_t i = 0; i < SIM_CONNS_MAX; i++) {
        sim_conn *c = sim->conns[i];
        if (c == NULL || c->closing || c->ws != SIM_WS_NONE || c->busy || c->hung ||
            c->close_after || c->writes_queued != 0 || c->read_paused) {
            continue;
        }
        if (c->in_len > 0 && now - c->req_ms >= sim->header_timeout_ms) {
            sim->timeout_closes++;
            send_plain_error(c, 408);
        } else if (c->in_len == 0 && now - c->active_ms >= sim->idle_timeout_ms) {
            sim->timeout_closes++;
            sim_conn_close(sim, c);
        }
    }
}

static void on_tick(uv_timer_t *t) {
    assert(t != NULL);
    tg_sim *sim = t->data;
    sim->ticks++;
    expire_connections(sim);
    sim_paths_tick(sim, (int64_t)uv_now(&sim->loop));
    bool one_s = sim->ticks % (1000 / SIM_TICK_MS) == 0;
    bool three_s = sim->ticks % (3000 / SIM_TICK_MS) == 0;
    for (size_t i = 0; (one_s || three_s) && i < sim->inst_count; i++) {
        sim_ws_push_mark(sim, (int)i, one_s, three_s);
    }
    if (sim->ticks % (SIM_WS_PING_MS / SIM_TICK_MS) == 0) {
        ping_binance_streams(sim);
    }
    int64_t now = sim_now_ms(sim);
    for (size_t i = 0; i < sim->acct_count; i++) {
        sim_account *a = &sim->acct[i];
        if (a->listen_key[0] != '\0' && a->listen_key_expiry_ms <= now) {
            char key[SIM_LISTEN_KEY_LEN + 1];
            memcpy(key, a->listen_key, sizeof key);
            a->listen_key[0] = '\0';
            sim_ws_listen_key_expired(sim, (int)i, key);
        }
    }
}

static void run_call(tg_sim *sim, sim_call *call) {
    assert(sim != NULL);
    assert(call != NULL);
    const char *q = strchr(call->target, '?');
    char path[SIM_PATH_MAX];
    size_t plen = q != NULL ? (size_t)(q - call->target) : strlen(call->target);
    plen = plen < sizeof path ? plen : sizeof path - 1;
    memcpy(path, call->target, plen);
    path[plen] = '\0';
    sim_resp r = {.status = 200, .account = -1};
    sim_buf_init(&r.body);
    const char *body = call->body != NULL ? call->body : "";
    sim_control_handle(sim, call->method, path, q != NULL ? q + 1 : "", body, strlen(body), &r);
    const char *text = r.body.p != NULL ? r.body.p : "";
    snprintf(call->out, call->out_cap, "%s", text);
    call->status = r.status;
    sim_buf_free(&r.body);
}

static void close_all(tg_sim *sim) {
    assert(sim != NULL);
    uv_close((uv_handle_t *)&sim->listener[SIM_BINANCE], NULL);
    uv_close((uv_handle_t *)&sim->listener[SIM_BYBIT], NULL);
    uv_close((uv_handle_t *)&sim->timer, NULL);
    uv_close((uv_handle_t *)&sim->wake, NULL);
    uv_close((uv_handle_t *)&sim->reader, NULL);
    for (size_t i = 0; i < SIM_CONNS_MAX; i++) {
        if (sim->conns[i] != NULL) {
            sim_conn_close(sim, sim->conns[i]);
        }
    }
    close_delayed(sim);
}

static void on_wake(uv_async_t *a) {
    assert(a != NULL);
    tg_sim *sim = a->data;
    pthread_mutex_lock(&sim->call_mu);
    sim_call *call = sim->call;
    bool stopping = sim->stopping;
    pthread_mutex_unlock(&sim->call_mu);
    if (call != NULL && !call->done) {
        run_call(sim, call);
        pthread_mutex_lock(&sim->call_mu);
        call->done = true;
        sim->call = NULL;
        pthread_cond_broadcast(&sim->call_cv);
        pthread_mutex_unlock(&sim->call_mu);
    }
    if (stopping) {
        close_all(sim);
        pthread_mutex_lock(&sim->call_mu);
        pthread_cond_broadcast(&sim->call_cv); /* queued callers give up */
        pthread_mutex_unlock(&sim->call_mu);
    }
}

static void *loop_main(void *arg) {
    tg_sim *sim = arg;
    /* libuv writes with write(2): a peer that has closed would raise SIGPIPE,
     * whose default kills the whole process. Blocked here it stays pending on
     * this thread only and the write fails with EPIPE, whatever the program
     * that embeds the emulator does with the signal. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    uv_run(&sim->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ---- public API ---- */

tg_sim_config tg_sim_config_default(void) {
    tg_sim_config c = {0};
    snprintf(c.host, sizeof c.host, "127.0.0.1");
    c.seed = 1;
    return c;
}

tg_status tg_sim_new(const tg_sim_config *config, tg_sim **out, tg_err *err) {
    assert(config != NULL && out != NULL);
    *out = NULL;
    tg_sim *sim = calloc(1, sizeof *sim);
    sim_log_entry *log = sim != NULL ? calloc(SIM_LOG_MAX, sizeof *log) : NULL;
    sim_mark_entry *marks = log != NULL ? calloc(SIM_MARKS_LOG_MAX, sizeof *marks) : NULL;
    if (marks == NULL) {
        free(log);
        free(sim);
        return tg_err_set(err, TG_E_NOMEM, "out of memory creating the emulator");
    }
    sim->cfg = *config;
    sim->log = log;
    sim->marks_log = marks;
    sim->rng = config->seed;
    sim->mono0_us = 0;
    sim->mono0_us = sim_mono_us(sim);
    sim->header_timeout_ms = SIM_HEADER_TIMEOUT_MS;
    sim->idle_timeout_ms = SIM_IDLE_TIMEOUT_MS;
    pthread_mutex_init(&sim->call_mu, NULL);
    pthread_cond_init(&sim->call_cv, NULL);
    sim->orders_max = config->orders_max != 0 ? config->orders_max : SIM_ORDERS_DEF;
    sim->subs_max = config->subs_max != 0 ? config->subs_max : SIM_SUBS_DEF;
    if (sim->orders_max > SIM_ORDERS_MAX || sim->subs_max > SIM_SUBS_MAX) {
        tg_sim_free(sim);
        return tg_err_set(err, TG_E_INVALID, "orders_max must be 1..%d and subs_max 1..%d",
                          SIM_ORDERS_MAX, SIM_SUBS_MAX);
    }
    sim->orders = calloc(sim->orders_max, sizeof *sim->orders);
    sim->by_symbol = calloc(sim->orders_max, sizeof *sim->by_symbol);
    tg_status ist = sim->orders != NULL && sim->by_symbol != NULL
                        ? sim_instruments_init(sim, err)
                        : tg_err_set(err, TG_E_NOMEM, "out of memory creating the emulator");
    if (ist != TG_OK) {
        tg_sim_free(sim);
        return ist;
    }
    sim_market_init(sim);
    tg_status st = TG_OK;
    if (config->accounts_path != NULL) {
        sim_strlcpy(sim->accounts_path, config->accounts_path, sizeof sim->accounts_path);
        st = sim_accounts_load(sim, config->accounts_path, err);
    } else {
        sim_accounts_builtin(sim);
    }
    sim_positions_attach(sim);
    if (st == TG_OK && config->scenario_path != NULL) {
        sim_strlcpy(sim->scenario_path, config->scenario_path, sizeof sim->scenario_path);
        st = sim_scenario_load(sim, config->scenario_path, err);
    }
    if (st != TG_OK) {
        tg_sim_free(sim);
        return st;
    }
    *out = sim;
    return TG_OK;
}

static tg_status listen_on(tg_sim *sim, sim_venue v, uint16_t port, tg_err *err) {
    assert(sim != NULL);
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(sim->cfg.host, port, (struct sockaddr_in *)&addr);
    if (rc != 0) {
        rc = uv_ip6_addr(sim->cfg.host, port, (struct sockaddr_in6 *)&addr);
    }
    if (rc != 0) {
        return tg_err_set(err, TG_E_INVALID, "listen host '%s' is not an IP address",
                          sim->cfg.host);
    }
    uv_tcp_init(&sim->loop, &sim->listener[v]);
    sim->listener[v].data = sim;
    rc = uv_tcp_bind(&sim->listener[v], (const struct sockaddr *)&addr, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&sim->listener[v], SIM_BACKLOG, on_connection);
    }
    if (rc != 0) {
        return tg_err_set(err, TG_E_IO, "cannot listen on %s port %u for %s: %s", sim->cfg.host,
                          (unsigned)port, sim_venue_name(v), uv_strerror(rc));
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&sim->listener[v], (struct sockaddr *)&bound, &len);
    sim->port[v] = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    return TG_OK;
}

/* Closes what listen_on opened when start fails half-way. */
static void abandon_loop(tg_sim *sim, int listeners) {
    assert(sim != NULL);
    for (int i = 0; i < listeners; i++) {
        uv_close((uv_handle_t *)&sim->listener[i], NULL);
    }
    uv_close((uv_handle_t *)&sim->timer, NULL);
    uv_close((uv_handle_t *)&sim->wake, NULL);
    uv_close((uv_handle_t *)&sim->reader, NULL);
    uv_run(&sim->loop, UV_RUN_DEFAULT);
    uv_loop_close(&sim->loop);
}

tg_status tg_sim_start(tg_sim *sim, tg_err *err) {
    assert(sim != NULL && !sim->started);
    if (uv_loop_init(&sim->loop) != 0) {
        return tg_err_set(err, TG_E_IO, "cannot create the emulator's event loop");
    }
    uv_timer_init(&sim->loop, &sim->timer);
    sim->timer.data = sim;
    uv_async_init(&sim->loop, &sim->wake, on_wake);
    sim->wake.data = sim;
    uv_check_init(&sim->loop, &sim->reader);
    sim->reader.data = sim;
    uv_check_start(&sim->reader, on_reader);
    uint16_t base = sim->cfg.port;
    tg_status st = listen_on(sim, SIM_BINANCE, base, err);
    if (st != TG_OK) {
        abandon_loop(sim, 1);
        return st;
    }
    st = listen_on(sim, SIM_BYBIT, base == 0 ? 0 : (uint16_t)(base + 1), err);
    if (st != TG_OK) {
        abandon_loop(sim, 2);
        return st;
    }
    uv_timer_start(&sim->timer, on_tick, SIM_TICK_MS, SIM_TICK_MS);
    if (pthread_create(&sim->thread, NULL, loop_main, sim) != 0) {
        abandon_loop(sim, 2);
        return tg_err_set(err, TG_E_IO, "cannot start the emulator's thread");
    }
    pthread_mutex_lock(&sim->call_mu);
    sim->started = true; /* callers on other threads read it under call_mu */
    pthread_mutex_unlock(&sim->call_mu);
    return TG_OK;
}

tg_sim_ports tg_sim_ports_get(const tg_sim *sim) {
    assert(sim != NULL);
    return (tg_sim_ports){sim->port[SIM_BINANCE], sim->port[SIM_BYBIT]};
}

int tg_sim_call(tg_sim *sim, const char *method, const char *target, const char *body, char *out,
                size_t out_cap) {
    assert(sim != NULL && method != NULL && target != NULL);
    assert(out != NULL && out_cap >= SIM_CALL_OUT_MIN);
    out[0] = '\0';
    sim_call call = {method, target, body, out, out_cap, 0, false};
    pthread_mutex_lock(&sim->call_mu);
    while (sim->started && !sim->stopping && sim->call != NULL) {
        pthread_cond_wait(&sim->call_cv, &sim->call_mu);
    }
    /* Checked after the wait too: a stop that came while this caller queued
     * behind another has closed (or is closing) the wake handle, and nobody
     * would answer. */
    if (!sim->started || sim->stopping) {
        pthread_mutex_unlock(&sim->call_mu);
        return 0;
    }
    sim->call = &call;
    uv_async_send(&sim->wake); /* under call_mu: before any stop closes the handle */
    while (!call.done && !sim->loop_exited) {
        pthread_cond_wait(&sim->call_cv, &sim->call_mu);
    }
    if (sim->call == &call) {
        sim->call = NULL; /* the loop ended before it ran: unanswered */
        pthread_cond_broadcast(&sim->call_cv);
    }
    pthread_mutex_unlock(&sim->call_mu);
    return call.done ? call.status : 0;
}

/* Runs a control call and turns a non-200 answer into an error. */
static tg_status call_ok(tg_sim *sim, const char *method, const char *target, const char *body,
                         tg_err *err) {
    assert(sim != NULL);
    char out[512];
    int status = tg_sim_call(sim, method, target, body, out, sizeof out);
    if (status == 200) {
        return TG_OK;
    }
    if (status == 0) {
        return tg_err_set(err, TG_E_STATE, "the emulator is not running");
    }
    return tg_err_set(err, TG_E_INVALID, "%s %s: %s", method, target, out);
}

tg_status tg_sim_set_mark(tg_sim *sim, const char *symbol, const char *price, tg_err *err) {
    assert(sim != NULL);
    char body[256];
    snprintf(body, sizeof body, "{\"symbol\":\"%s\",\"price\":\"%s\"}", symbol, price);
    return call_ok(sim, "POST", "/sim/mark", body, err);
}

tg_status tg_sim_open_position(tg_sim *sim, const char *account, const char *symbol,
                               const char *side, const char *size, const char *entry, tg_err *err) {
    assert(sim != NULL);
    char body[512];
    snprintf(body, sizeof body,
             "{\"account\":\"%s\",\"symbol\":\"%s\",\"side\":\"%s\",\"size\":\"%s\","
             "\"entry\":\"%s\"}",
             account, symbol, side, size, entry);
    return call_ok(sim, "POST", "/sim/position", body, err);
}

tg_status tg_sim_fault(tg_sim *sim, const char *path, const char *kind, int64_t ms, int64_t count,
                       tg_err *err) {
    assert(sim != NULL);
    char body[512];
    snprintf(body, sizeof body, "{\"path\":\"%s\",\"kind\":\"%s\",\"ms\":%lld,\"count\":%lld}",
             path, kind, (long long)ms, (long long)count);
    return call_ok(sim, "POST", "/sim/fault", body, err);
}

void tg_sim_stop(tg_sim *sim) {
    assert(sim != NULL);
    pthread_mutex_lock(&sim->call_mu);
    bool started = sim->started && !sim->stopping;
    sim->stopping = true;
    pthread_mutex_unlock(&sim->call_mu);
    if (!started) {
        return;
    }
    uv_async_send(&sim->wake);
    pthread_join(sim->thread, NULL);
    pthread_mutex_lock(&sim->call_mu);
    sim->loop_exited = true; /* wakes a caller whose call the loop never ran */
    pthread_cond_broadcast(&sim->call_cv);
    pthread_mutex_unlock(&sim->call_mu);
    int rc = uv_loop_close(&sim->loop);
    assert(rc == 0);
    (void)rc;
}

void tg_sim_free(tg_sim *sim) {
    if (sim == NULL) {
        return;
    }
    tg_sim_stop(sim);
    sim_paths_free(sim);
    pthread_mutex_destroy(&sim->call_mu);
    pthread_cond_destroy(&sim->call_cv);
    free(sim->log);
    free(sim->marks_log);
    free(sim->orders);
    free(sim->by_symbol);
    free(sim->by_symbol_start);
    free(sim->inst);
    free(sim->inst_hash);
    free(sim->pos_block);
    free(sim);
}
