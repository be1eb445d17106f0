/* Webhook notifications against a loopback receiver: a tg_httpd server on
 * port 0 on the same loop as the notifier, answering as each test scripts. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "trailguard/httpd.h"
#include "trailguard/notify.h"

#define BODIES_MAX 32 /* bodies a receiver keeps */

typedef struct receiver {
    tg_httpd *h;                 /* the server */
    int fail_first;              /* answer fail_status to this many requests first */
    int fail_status;             /* e.g. 500, 400 */
    int requests;                /* requests seen */
    int delivered;               /* bodies answered 200 */
    char bodies[BODIES_MAX][64]; /* bodies answered 200, in order */
    bool json;                   /* every request had Content-Type: application/json */
} receiver;

static void on_request(void *ctx, const tg_httpd_request *req, tg_httpd_response *resp) {
    receiver *r = ctx;
    r->requests++;
    r->json = r->json && req->content_type != NULL &&
              strcmp(req->content_type, "application/json") == 0 &&
              strcmp(req->method, "POST") == 0 && strcmp(req->path, "/hook") == 0;
    if (r->fail_first > 0) {
        r->fail_first--;
        resp->status = r->fail_status;
        return;
    }
    if (r->delivered < BODIES_MAX) {
        snprintf(r->bodies[r->delivered], sizeof r->bodies[0], "%s", req->body);
    }
    r->delivered++;
}

typedef struct fixture {
    uv_loop_t loop;  /* one loop for receiver and notifier */
    uv_timer_t tick; /* proves the loop keeps turning */
    uint64_t ticks;  /* tick count */
    receiver rx;     /* the receiver */
    tg_notify *n;    /* the notifier */
} fixture;

static void on_tick(uv_timer_t *t) {
    ((fixture *)t->data)->ticks++;
}

static void fixture_init(fixture *f, uint16_t port_override, const tg_notify_config *base) {
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->rx.json = true;
    tg_err err;
    assert_int_equal(tg_httpd_start(&f->loop, "127.0.0.1:0", on_request, &f->rx, &f->rx.h, &err),
                     TG_OK);
    tg_notify_config c = base != NULL ? *base : tg_notify_config_default();
    c.backoff_ms_min = 10;
    c.backoff_ms_max = 40;
    c.connect_timeout_ms = 500;
    c.request_timeout_ms = base != NULL ? base->request_timeout_ms : 2000;
    uint16_t port = port_override != 0 ? port_override : tg_httpd_port(f->rx.h);
    snprintf(c.webhook_url, sizeof c.webhook_url, "http://127.0.0.1:%u/hook", port);
    assert_int_equal(tg_notify_new(&f->loop, &c, &f->n, &err), TG_OK);
    uv_timer_init(&f->loop, &f->tick);
    f->tick.data = f;
    uv_timer_start(&f->tick, on_tick, 5, 5);
}

/* Runs the loop until the notifier has nothing left (or ms pass). */
static void run_until_idle(fixture *f, uint64_t ms) {
    uint64_t end = uv_now(&f->loop) + ms;
    while (uv_now(&f->loop) < end) {
        tg_notify_stats s = tg_notify_get_stats(f->n);
        if (s.queued == 0 && s.inflight == 0) {
            break;
        }
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

static void fixture_close(fixture *f) {
    tg_notify_close(f->n);
    tg_httpd_stop(f->rx.h);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void post(fixture *f, const char *body) {
    tg_err err;
    assert_int_equal(tg_notify_post(f->n, body, &err), TG_OK);
}

static void delivers_in_order(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 0, NULL);
    char body[64];
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body, "{\"event\":\"stop_moved\",\"n\":%d}", i);
        post(&f, body);
    }
    run_until_idle(&f, 5000);
    assert_int_equal(f.rx.delivered, 5);
    for (int i = 0; i < 5; i++) {
        snprintf(body, sizeof body, "{\"event\":\"stop_moved\",\"n\":%d}", i);
        assert_string_equal(f.rx.bodies[i], body);
    }
    assert_true(f.rx.json);
    tg_notify_stats s = tg_notify_get_stats(f.n);
    assert_int_equal(s.posted, 5);
    assert_int_equal(s.sent, 5);
    assert_int_equal(s.failed + s.dropped + s.retries, 0);
    assert_int_equal(s.last_status, 200);
    fixture_close(&f);
}

static void retries_5xx_then_delivers(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 0, NULL);
    f.rx.fail_first = 2;
    f.rx.fail_status = 500;
    post(&f, "{\"event\":\"reject\"}");
    run_until_idle(&f, 5000);
    assert_int_equal(f.rx.requests, 3);
    assert_int_equal(f.rx.delivered, 1);
    assert_string_equal(f.rx.bodies[0], "{\"event\":\"reject\"}");
    tg_notify_stats s = tg_notify_get_stats(f.n);
    assert_int_equal(s.sent, 1);
    assert_int_equal(s.retries, 2);
    assert_int_equal(s.failed, 0);
    fixture_close(&f);
}

static void no_retry_on_4xx(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 0, NULL);
    f.rx.fail_first = 1;
    f.rx.fail_status = 400;
    post(&f, "{\"bad\":1}");
    post(&f, "{\"good\":1}");
    run_until_idle(&f, 5000);
    assert_int_equal(f.rx.requests, 2);
    assert_int_equal(f.rx.delivered, 1);
    assert_string_equal(f.rx.bodies[0], "{\"good\":1}");
    tg_notify_stats s = tg_notify_get_stats(f.n);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.sent, 1);
    assert_int_equal(s.retries, 0);
    fixture_close(&f);
}

/* A port that refuses connections: every try fails, the body is given up
 * after the retries, and the loop keeps turning all along. */
static void dead_receiver(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd); /* nobody listens there now */
    fixture f;
    fixture_init(&f, ntohs(sa.sin_port), NULL);
    post(&f, "{\"a\":1}");
    post(&f, "{\"a\":2}");
    uint64_t t0 = uv_now(&f.loop);
    run_until_idle(&f, 5000);
    uint64_t elapsed = uv_now(&f.loop) - t0;
    tg_notify_stats s = tg_notify_get_stats(f.n);
    assert_int_equal(s.failed, 2);
    assert_int_equal(s.retries, 6);
    assert_int_equal(s.sent, 0);
    assert_int_equal(s.last_status, 0);
    /* Backoff 10+20+40 ms per body: at least that long, and the 5 ms tick
     * kept firing in between. */
    assert_true(elapsed >= 140);
    assert_true(f.ticks >= elapsed / 5 / 2);
    fixture_close(&f);
}

/* A receiver that accepts the connection but never answers: the request
 * times out and is retried, the loop is not held. */
static void silent_receiver_times_out(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    tg_notify_config c = tg_notify_config_default();
    c.retry_count_max = 1;
    c.request_timeout_ms = 200;
    fixture f;
    fixture_init(&f, ntohs(sa.sin_port), &c);
    post(&f, "{\"a\":1}");
    uint64_t t0 = uv_now(&f.loop);
    run_until_idle(&f, 5000);
    uint64_t elapsed = uv_now(&f.loop) - t0;
    tg_notify_stats s = tg_notify_get_stats(f.n);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.retries, 1);
    assert_true(elapsed >= 400 && elapsed < 3000);
    assert_true(f.ticks >= elapsed / 5 / 2);
    fixture_close(&f);
    close(fd);
}

/* queue_max 4: ten posts while the first is in flight keep the newest four. */
static void overflow_drops_oldest(void **state) {
    (void)state;
    tg_notify_config c = tg_notify_config_default();
    c.queue_max = 4;
    fixture f;
    fixture_init(&f, 0, &c);
    char body[32];
    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof body, "{\"n\":%d}", i);
        post(&f, body);
    }
    tg_notify_stats s = tg_notify_get_stats(f.n);
    assert_int_equal(s.queued, 4);
    assert_int_equal(s.inflight, 1);
    assert_int_equal(s.dropped, 5);
    run_until_idle(&f, 5000);
    assert_int_equal(f.rx.delivered, 5);
    assert_string_equal(f.rx.bodies[0], "{\"n\":0}");
    for (int i = 1; i < 5; i++) {
        snprintf(body, sizeof body, "{\"n\":%d}", i + 5);
        assert_string_equal(f.rx.bodies[i], body);
    }
    assert_int_equal(tg_notify_get_stats(f.n).sent, 5);
    fixture_close(&f);
}

static void bad_input_and_close(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f, 0, NULL);
    tg_err err;
    assert_int_equal(tg_notify_post(f.n, "", &err), TG_E_INVALID);
    assert_int_equal(tg_notify_post(f.n, NULL, &err), TG_E_INVALID);
    char *big = malloc(TG_NOTIFY_BODY_MAX + 2);
    memset(big, ' ', TG_NOTIFY_BODY_MAX + 1);
    big[TG_NOTIFY_BODY_MAX + 1] = '\0';
    assert_int_equal(tg_notify_post(f.n, big, &err), TG_E_INVALID);
    free(big);
    tg_notify_config c = tg_notify_config_default();
    tg_notify *n = NULL;
    assert_int_equal(tg_notify_new(&f.loop, &c, &n, &err), TG_E_INVALID); /* no URL */
    snprintf(c.webhook_url, sizeof c.webhook_url, "ftp://x/");
    assert_int_equal(tg_notify_new(&f.loop, &c, &n, &err), TG_E_INVALID);
    /* Closing with bodies waiting and one in flight drops them, counted. */
    post(&f, "{\"a\":1}");
    post(&f, "{\"a\":2}");
    post(&f, "{\"a\":3}");
    tg_notify_stats s = tg_notify_get_stats(f.n);
    assert_int_equal(s.queued + s.inflight, 3);
    fixture_close(&f); /* uv_loop_close succeeds: every handle closed */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delivers_in_order),         cmocka_unit_test(retries_5xx_then_delivers),
        cmocka_unit_test(no_retry_on_4xx),           cmocka_unit_test(dead_receiver),
        cmocka_unit_test(silent_receiver_times_out), cmocka_unit_test(overflow_drops_oldest),
        cmocka_unit_test(bad_input_and_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
