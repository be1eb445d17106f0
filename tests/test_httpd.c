/* The loop-driven HTTP server over real loopback sockets: the server's loop
 * runs on its own thread (as the daemon's would), the test is the client
 * (libcurl easy and raw sockets). */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <uv.h>

#include "trailguard/httpd.h"

#define BIG_BODY_LEN (8u << 20) /* GET /big answers this many bytes */

typedef struct server {
    uv_loop_t loop;      /* the server's loop */
    uv_async_t stop;     /* wakes the loop to stop */
    tg_httpd *h;         /* the server */
    pthread_t thread;    /* runs the loop */
    uint16_t port;       /* bound port */
    tg_httpd_stats last; /* stats at stop */
} server;

/* GET /stream?N answers N lines of STREAM_LINE bytes ("0000042 xxx...\n"),
 * made one line per pull, as a stream. */
#define STREAM_LINE 1000

static _Atomic long streams_open; /* streams made and not yet done */
static _Atomic long stream_pulls; /* pulls of every stream so far */
static _Atomic long stream_lines; /* lines made by every stream so far */

typedef struct lines {
    tg_httpd_stream base;
    unsigned long next, count; /* next line to make, lines in all */
    size_t sent_of_line;       /* bytes of the next line already given */
    bool cut;                  /* after the last line, fail instead of ending */
} lines;

static ssize_t lines_pull(tg_httpd_stream *base, char *buf, size_t cap) {
    lines *l = (lines *)base;
    stream_pulls++;
    assert_true(cap > 0);
    if (l->next == l->count) {
        return l->cut ? -1 : 0;
    }
    char line[STREAM_LINE + 1];
    int n = snprintf(line, sizeof line, "%07lu ", l->next);
    memset(line + n, 'x', STREAM_LINE - 1 - (size_t)n);
    line[STREAM_LINE - 1] = '\n';
    /* a line that does not fit is cut at cap: the rest starts the next pull */
    size_t take = STREAM_LINE - l->sent_of_line < cap ? STREAM_LINE - l->sent_of_line : cap;
    memcpy(buf, line + l->sent_of_line, take);
    l->sent_of_line += take;
    if (l->sent_of_line == STREAM_LINE) {
        l->sent_of_line = 0;
        l->next++;
        stream_lines++;
    }
    return (ssize_t)take;
}

static void lines_done(tg_httpd_stream *base) {
    streams_open--;
    free(base);
}

/* Echoes what it saw; /big answers BIG_BODY_LEN bytes. */
static void echo(void *ctx, const tg_httpd_request *req, tg_httpd_response *resp) {
    (void)ctx;
    if (strcmp(req->path, "/stream") == 0) {
        lines *l = calloc(1, sizeof *l);
        assert_non_null(l);
        l->base.pull = lines_pull;
        l->base.done = lines_done;
        char *rest = NULL;
        l->count = strtoul(req->query, &rest, 10);
        l->cut = strcmp(rest, "&cut") == 0;
        streams_open++;
        resp->stream = &l->base;
        return;
    }
    if (strcmp(req->path, "/big") == 0) {
        resp->body = malloc(BIG_BODY_LEN);
        assert_non_null(resp->body);
        memset(resp->body, 'x', BIG_BODY_LEN);
        resp->body_len = BIG_BODY_LEN;
        return;
    }
    size_t cap = req->body_len + 512;
    resp->body = malloc(cap);
    assert_non_null(resp->body);
    int n = snprintf(resp->body, cap, "%s %s q=%s bearer=%s len=%zu\n", req->method, req->path,
                     req->query, req->bearer != NULL ? req->bearer : "-", req->body_len);
    memcpy(resp->body + n, req->body, req->body_len);
    resp->body_len = (size_t)n + req->body_len;
    resp->status = strcmp(req->path, "/teapot") == 0 ? 418 : 200;
    resp->content_type = "text/x-echo";
}

static void on_stop(uv_async_t *a) {
    server *s = a->data;
    s->last = tg_httpd_get_stats(s->h);
    tg_httpd_stop(s->h);
    uv_close((uv_handle_t *)a, NULL);
}

static void *run(void *arg) {
    server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static server *server_start(unsigned timeout_s) {
    server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    tg_httpd_opts o = tg_httpd_opts_default();
    snprintf(o.listen, sizeof o.listen, "127.0.0.1:0");
    o.timeout_s = timeout_s;
    tg_err err;
    assert_int_equal(tg_httpd_start_opts(&s->loop, &o, echo, s, &s->h, &err), TG_OK);
    s->port = tg_httpd_port(s->h);
    assert_true(s->port != 0);
    uv_async_init(&s->loop, &s->stop, on_stop);
    s->stop.data = s;
    assert_int_equal(pthread_create(&s->thread, NULL, run, s), 0);
    return s;
}

static tg_httpd_stats server_stop(server *s) {
    uv_async_send(&s->stop);
    pthread_join(s->thread, NULL);
    assert_int_equal(uv_loop_close(&s->loop), 0); /* every handle closed */
    tg_httpd_stats st = s->last;
    free(s);
    return st;
}

typedef struct reply {
    long status;    /* HTTP status */
    char body[256]; /* first bytes of the body */
    size_t len;     /* bytes of body */
    char type[64];  /* Content-Type */
} reply;

static size_t on_data(char *p, size_t size, size_t n, void *userp) {
    reply *r = userp;
    size_t bytes = size * n;
    size_t room = sizeof r->body - 1 - (r->len < sizeof r->body ? r->len : sizeof r->body - 1);
    memcpy(r->body + (r->len < sizeof r->body - 1 ? r->len : sizeof r->body - 1), p,
           bytes < room ? bytes : room);
    r->len += bytes;
    r->body[r->len < sizeof r->body - 1 ? r->len : sizeof r->body - 1] = '\0';
    return bytes;
}

/* A whole body (or head) kept as it arrives. */
typedef struct kept {
    char *data;
    size_t len;
} kept;

static size_t keep(char *p, size_t size, size_t n, void *userp) {
    kept *k = userp;
    size_t bytes = size * n;
    char *d = realloc(k->data, k->len + bytes + 1);
    assert_non_null(d);
    memcpy(d + k->len, p, bytes);
    k->data = d;
    k->len += bytes;
    d[k->len] = '\0';
    return bytes;
}

/* One request; body NULL for none, chunked sends it without Content-Length. */
static reply request(uint16_t port, const char *method, const char *target, const char *auth,
                     const char *body, size_t body_len, bool chunked) {
    reply r;
    memset(&r, 0, sizeof r);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, target);
    struct curl_slist *hdrs = NULL;
    if (auth != NULL) {
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (chunked) {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         chunked ? (curl_off_t)-1 : (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        print_message("%s %s: %s\n", method, target, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        char *type = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
        snprintf(r.type, sizeof r.type, "%s", type != NULL ? type : "");
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return r;
}

static void get_with_query(void **state) {
    (void)state;
    server *s = server_start(10);
    reply r = request(s->port, "GET", "/hello%20there?a=1&b=%20x", NULL, NULL, 0, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "GET /hello there q=a=1&b=%20x bearer=- len=0\n");
    assert_string_equal(r.type, "text/x-echo");
    r = request(s->port, "GET", "/teapot", NULL, NULL, 0, false);
    assert_int_equal(r.status, 418);
    assert_int_equal(server_stop(s).requests, 2);
}

static void put_body_and_bearer(void **state) {
    (void)state;
    server *s = server_start(10);
    reply r = request(s->port, "PUT", "/stops/BTCUSDT", "Authorization: Bearer s3cr3t", "{\"a\":1}",
                      7, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "PUT /stops/BTCUSDT q= bearer=s3cr3t len=7\n{\"a\":1}");
    r = request(s->port, "GET", "/", "Authorization: Basic Zm9vOmJhcg==", NULL, 0, false);
    assert_string_equal(r.body, "GET / q= bearer=- len=0\n");
    /* Exactly the bound, sent with "Expect: 100-continue" by curl. */
    size_t n = TG_HTTPD_BODY_MAX;
    char *big = malloc(n + 1);
    memset(big, 'b', n);
    big[n] = '\0';
    r = request(s->port, "POST", "/x", NULL, big, n, false);
    assert_int_equal(r.status, 200);
    char want[64];
    snprintf(want, sizeof want, "POST /x q= bearer=- len=%zu\n", n);
    assert_memory_equal(r.body, want, strlen(want));
    assert_int_equal(r.len, strlen(want) + n);
    r = request(s->port, "POST", "/x", NULL, big, n, true); /* chunked, same size */
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, strlen(want) + n);
    free(big);
    server_stop(s);
}

static void body_too_large(void **state) {
    (void)state;
    server *s = server_start(10);
    size_t n = TG_HTTPD_BODY_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, 'b', n);
    big[n] = '\0';
    reply r = request(s->port, "PUT", "/x", NULL, big, n, false);
    assert_int_equal(r.status, 413);
    r = request(s->port, "PUT", "/x", NULL, big, n, true);
    assert_int_equal(r.status, 413);
    r = request(s->port, "GET", "/after", NULL, NULL, 0, false);
    assert_int_equal(r.status, 200);
    free(big);
    tg_httpd_stats st = server_stop(s);
    assert_int_equal(st.too_large, 2);
    assert_int_equal(st.requests, 3);
}

static int connect_raw(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* 100 idle connections (more than the 64 allowed) cannot keep a real
 * request out for longer than the idle timeout. */
static void idle_connections_do_not_lock_out(void **state) {
    (void)state;
    server *s = server_start(1);
    int fds[100];
    for (size_t i = 0; i < 100; i++) {
        fds[i] = connect_raw(s->port);
    }
    uint64_t t0 = uv_hrtime();
    reply r = request(s->port, "GET", "/ok", NULL, NULL, 0, false);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    assert_int_equal(r.status, 200);
    print_message("request served after %.2f s with 100 idle connections open\n", secs);
    assert_true(secs < 4.0);
    for (size_t i = 0; i < 100; i++) {
        close(fds[i]);
    }
    server_stop(s);
}

/* A peer that resets the connection in the middle of an 8 MiB answer: the
 * process (SIGPIPE left at its default, fatal) survives and keeps serving. */
static void peer_disconnects_mid_answer(void **state) {
    (void)state;
    server *s = server_start(10);
    for (int round = 0; round < 3; round++) {
        int fd = connect_raw(s->port);
        const char *req = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        char buf[4096];
        assert_true(read(fd, buf, sizeof buf) > 0);
        struct linger lg = {1, 0}; /* close with RST */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    reply r = request(s->port, "GET", "/still", NULL, NULL, 0, false);
    assert_int_equal(r.status, 200);
    server_stop(s);
}

/* GET target with its whole head and body kept; the transfer's result. */
static CURLcode get_kept(uint16_t port, const char *target, kept *head, kept *body, long *status) {
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, target);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, head);
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    return rc;
}

/* A streamed answer arrives whole, in order, with chunked encoding. */
static void stream_is_whole(void **state) {
    (void)state;
    server *s = server_start(10);
    kept head = {0}, body = {0};
    long status;
    assert_int_equal(get_kept(s->port, "/stream?3000", &head, &body, &status), CURLE_OK);
    assert_int_equal(status, 200);
    assert_non_null(strcasestr(head.data, "Transfer-Encoding: chunked"));
    assert_int_equal(body.len, 3000 * STREAM_LINE);
    for (unsigned long i = 0; i < 3000; i++) {
        char want[16];
        snprintf(want, sizeof want, "%07lu x", i);
        assert_memory_equal(body.data + i * STREAM_LINE, want, strlen(want));
        assert_int_equal(body.data[(i + 1) * STREAM_LINE - 1], '\n');
    }
    free(body.data);
    free(head.data);
    server_stop(s);
    assert_int_equal(streams_open, 0);
}

/* A stream that cannot go on cuts the connection: the client sees an
 * error, not an answer that looks whole; the server goes on. */
static void stream_cut_is_an_error(void **state) {
    (void)state;
    server *s = server_start(10);
    kept head = {0}, body = {0};
    long status;
    CURLcode rc = get_kept(s->port, "/stream?100&cut", &head, &body, &status);
    print_message("a cut stream: %s after %zu bytes\n", curl_easy_strerror(rc), body.len);
    assert_int_not_equal(rc, CURLE_OK);
    assert_true(body.len <= 100 * STREAM_LINE);
    free(body.data);
    free(head.data);
    reply r = request(s->port, "GET", "/after", NULL, NULL, 0, false);
    assert_int_equal(r.status, 200);
    server_stop(s);
    assert_int_equal(streams_open, 0);
}

/* A peer that asks for 256 MB and does not read: the stream is pulled only
 * as far as the socket takes it (its memory stays bounded), the loop goes on
 * serving other requests meanwhile, and the stream is freed when the peer
 * goes away; one still open when the server stops is freed too. */
static void stream_follows_its_reader(void **state) {
    (void)state;
    server *s = server_start(10);
    long lines0 = stream_lines;
    int fd = connect_raw(s->port);
    const char *req = "GET /stream?256000 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
    long made = stream_lines - lines0;
    print_message("a reader that does not read: %ld of 256000 lines made\n", made);
    assert_true(made > 0);
    assert_true(made < 32000); /* kernel buffers and MHD's, not the answer */
    uint64_t t0 = uv_hrtime();
    reply r = request(s->port, "GET", "/meanwhile", NULL, NULL, 0, false);
    assert_int_equal(r.status, 200);
    assert_true((double)(uv_hrtime() - t0) / 1e9 < 2.0);
    assert_int_equal(streams_open, 1);
    close(fd);
    for (int i = 0; i < 200 && streams_open != 0; i++) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    assert_int_equal(streams_open, 0);
    /* one in flight when the server stops */
    fd = connect_raw(s->port);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    for (int i = 0; i < 200 && streams_open == 0; i++) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    assert_int_equal(streams_open, 1);
    server_stop(s);
    assert_int_equal(streams_open, 0);
    close(fd);
}

static void ephemeral_port_and_errors(void **state) {
    (void)state;
    server *s = server_start(10);
    uv_loop_t loop;
    uv_loop_init(&loop);
    tg_httpd *h = NULL;
    tg_err err;
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", s->port);
    assert_int_equal(tg_httpd_start(&loop, listen, echo, NULL, &h, &err), TG_E_IO);
    assert_int_equal(tg_httpd_start(&loop, "localhost:80", echo, NULL, &h, &err), TG_E_INVALID);
    assert_int_equal(tg_httpd_start(&loop, "127.0.0.1:99999", echo, NULL, &h, &err), TG_E_INVALID);
    assert_int_equal(tg_httpd_start(&loop, "[::1]:0", echo, NULL, &h, &err), TG_OK);
    assert_true(tg_httpd_port(h) != 0);
    tg_httpd_stop(h);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    server_stop(s);
}

static void token_equal(void **state) {
    (void)state;
    assert_true(tg_httpd_token_equal("abc", "abc"));
    assert_true(tg_httpd_token_equal("", ""));
    assert_false(tg_httpd_token_equal("abd", "abc"));
    assert_false(tg_httpd_token_equal("ab", "abc"));
    assert_false(tg_httpd_token_equal("abcd", "abc"));
    assert_false(tg_httpd_token_equal("", "abc"));
    assert_false(tg_httpd_token_equal(NULL, "abc"));
    assert_false(tg_httpd_token_equal("abc", NULL));
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_with_query),
        cmocka_unit_test(put_body_and_bearer),
        cmocka_unit_test(body_too_large),
        cmocka_unit_test(idle_connections_do_not_lock_out),
        cmocka_unit_test(peer_disconnects_mid_answer),
        cmocka_unit_test(stream_is_whole),
        cmocka_unit_test(stream_cut_is_an_error),
        cmocka_unit_test(stream_follows_its_reader),
        cmocka_unit_test(ephemeral_port_and_errors),
        cmocka_unit_test(token_equal),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
