/* The HTTP client (src/venue/http.c) against a loopback server that resets a
 * kept-alive connection just as a request arrives on it: a GET goes out once
 * more on a new connection, and a request that failed on a new connection is
 * not sent again. (Whether libcurl itself resends a POST in that race depends
 * on whether it reads the reset before the poll reports it: libcurl retries
 * any request on a reused connection that died before the first byte of an
 * answer; http.c adds nothing for a POST.) */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "venue/http.h"

#define ACCEPT_WAIT_MS 1000 /* how long the server waits for a second connection */

/* What the server does with the first request on a connection. */
typedef enum first_move {
    ANSWER_THEN_RESET, /* answers it, resets at the second request */
    RESET_AT_ONCE,     /* resets at the first */
    ANSWER_THEN_CLOSE, /* answers it, then closes (FIN) while the client is idle */
    ANSWER_ALL,        /* answers every request on one connection */
} first_move;

typedef struct server {
    int listen_fd;
    uint16_t port;
    first_move move;
    pthread_t thread;
    int connections; /* accepted */
    int answered;    /* requests answered */
} server;

/* Reads one request (headers and a Content-Length body); false at EOF. */
static bool read_request(int fd) {
    char buf[8192];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0) {
            return false;
        }
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL) {
            continue;
        }
        const char *cl = strstr(buf, "Content-Length:");
        size_t body = cl != NULL && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
        if (len >= (size_t)(end + 4 - buf) + body) {
            return true;
        }
    }
}

static void answer(server *s, int fd, const char *text) {
    char out[256];
    int n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(text), text);
    assert_true(n > 0 && write(fd, out, (size_t)n) == n);
    s->answered++;
}

/* Closes with a reset (RST), not a FIN. */
static void reset(int fd) {
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static int accept_within(server *s, int ms) {
    struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1) {
        return -1;
    }
    int fd = accept(s->listen_fd, NULL, NULL);
    s->connections += fd >= 0;
    return fd;
}

static void *server_main(void *arg) {
    server *s = arg;
    int fd = accept_within(s, 10000);
    if (fd < 0) {
        return NULL;
    }
    if (s->move == ANSWER_ALL) {
        while (read_request(fd)) {
            answer(s, fd, "more");
        }
        close(fd);
        return NULL;
    }
    if (s->move == ANSWER_THEN_CLOSE) {
        if (read_request(fd)) {
            answer(s, fd, "one");
        }
        close(fd); /* idle in the client's cache now */
        int again = accept_within(s, 10000);
        if (again >= 0 && read_request(again)) {
            answer(s, again, "two");
        }
        if (again >= 0) {
            close(again);
        }
        return NULL;
    }
    if (s->move == ANSWER_THEN_RESET) {
        if (read_request(fd)) {
            answer(s, fd, "one");
        }
    }
    if (read_request(fd)) {
        reset(fd); /* the request arrived; the connection goes */
    } else {
        close(fd);
    }
    /* a client that tries again comes on a new connection */
    int again = accept_within(s, ACCEPT_WAIT_MS);
    if (again >= 0) {
        if (read_request(again)) {
            answer(s, again, "two");
        }
        close(again);
    }
    return NULL;
}

static void server_start(server *s, first_move move) {
    memset(s, 0, sizeof *s);
    s->move = move;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->listen_fd, 4), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_join(server *s) {
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    close(s->listen_fd);
}

/* ---- the client side ------------------------------------------------- */

typedef struct result {
    bool done;
    int status;
    bool transport_failed;
    char body[64];
} result;

static void on_done(void *ctx, const tg_http_resp *resp) {
    result *r = ctx;
    r->done = true;
    r->status = resp->status;
    r->transport_failed = resp->transport_failed;
    snprintf(r->body, sizeof r->body, "%.*s", (int)resp->len, resp->body);
}

static result request(uv_loop_t *loop, tg_http *h, const char *method, uint16_t port,
                      const char *path) {
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    result r = {0};
    tg_err err = {0};
    assert_int_equal(
        tg_http_send(h, method, url, NULL, 0, method[0] == 'P' ? "x=1" : NULL, on_done, &r, &err),
        TG_OK);
    while (!r.done) {
        uv_run(loop, UV_RUN_ONCE);
    }
    return r;
}

static tg_http *client(uv_loop_t *loop) {
    tg_http_opts o = {.connect_timeout_ms = 2000, .request_timeout_ms = 5000};
    tg_http *h = NULL;
    tg_err err = {0};
    assert_int_equal(tg_http_new(loop, &o, &h, &err), TG_OK);
    return h;
}

static void client_close(uv_loop_t *loop, tg_http *h) {
    tg_http_close(h);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void get_on_a_reset_connection_is_sent_again(void **state) {
    (void)state;
    server s;
    server_start(&s, ANSWER_THEN_RESET);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    tg_http *h = client(&loop);
    result first = request(&loop, h, "GET", s.port, "/a");
    assert_int_equal(first.status, 200);
    assert_string_equal(first.body, "one");
    result second = request(&loop, h, "GET", s.port, "/b");
    assert_false(second.transport_failed);
    assert_int_equal(second.status, 200);
    assert_string_equal(second.body, "two");
    server_join(&s);
    assert_int_equal(s.connections, 2);
    assert_int_equal(s.answered, 2);
    client_close(&loop, h);
}

static void reset_on_a_new_connection_is_not_retried(void **state) {
    (void)state;
    server s;
    server_start(&s, RESET_AT_ONCE);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    tg_http *h = client(&loop);
    result r = request(&loop, h, "GET", s.port, "/a");
    assert_true(r.transport_failed);
    server_join(&s);
    assert_int_equal(s.connections, 1);
    assert_int_equal(s.answered, 0);
    client_close(&loop, h);
}

static double cpu_s(void) {
    struct rusage u;
    assert_int_equal(getrusage(RUSAGE_SELF, &u), 0);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void on_quiet_timer(uv_timer_t *t) {
    (void)t;
}

/* The server closes a kept-alive connection while it sits idle in the
 * cache: the socket stays watched between requests, and its end must not
 * keep the loop busy (a readable socket nobody reads wakes it at once,
 * again and again); the next request goes out on a new connection. */
static void idle_connection_closed_by_the_server(void **state) {
    (void)state;
    server s;
    server_start(&s, ANSWER_THEN_CLOSE);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    tg_http *h = client(&loop);
    result first = request(&loop, h, "GET", s.port, "/a");
    assert_int_equal(first.status, 200);
    uv_timer_t quiet;
    uv_timer_init(&loop, &quiet);
    double cpu0 = cpu_s();
    uv_timer_start(&quiet, on_quiet_timer, 300, 0);
    uv_run(&loop, UV_RUN_ONCE); /* returns when the timer fired, or at the first wake-up */
    int wakeups = 0;
    while (uv_is_active((uv_handle_t *)&quiet) && wakeups < 1000000) {
        uv_run(&loop, UV_RUN_ONCE);
        wakeups++;
    }
    double spent = cpu_s() - cpu0;
    print_message("300 ms with the idle connection closed: %d extra wake-ups, %.3f s of CPU\n",
                  wakeups, spent);
    assert_true(wakeups < 10);
    assert_true(spent < 0.1);
    result second = request(&loop, h, "POST", s.port, "/b");
    assert_false(second.transport_failed);
    assert_string_equal(second.body, "two");
    server_join(&s);
    assert_int_equal(s.connections, 2);
    uv_close((uv_handle_t *)&quiet, NULL);
    client_close(&loop, h);
}

static void count_handle(uv_handle_t *handle, void *arg) {
    (void)handle;
    (*(int *)arg)++;
}

/* Many requests on one kept-alive connection: one socket watch for the
 * connection's life, not one per request left behind. */
static void one_connection_one_watch(void **state) {
    (void)state;
    server s;
    server_start(&s, ANSWER_ALL);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    tg_http *h = client(&loop);
    int before = 0;
    uv_walk(&loop, count_handle, &before);
    for (int i = 0; i < 200; i++) {
        result r = request(&loop, h, i % 2 ? "POST" : "GET", s.port, "/n");
        assert_int_equal(r.status, 200);
    }
    int after = 0;
    uv_walk(&loop, count_handle, &after);
    assert_int_equal(after, before + 1); /* the connection's */
    client_close(&loop, h);
    server_join(&s);
    assert_int_equal(s.connections, 1);
    assert_int_equal(s.answered, 200);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_connection_closed_by_the_server),
        cmocka_unit_test(one_connection_one_watch),
        cmocka_unit_test(get_on_a_reset_connection_is_sent_again),
        cmocka_unit_test(reset_on_a_new_connection_is_not_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
