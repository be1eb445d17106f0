/* The emulator under hostile clients: peers that close mid-answer, idle and
 * slow connections, stream clients that never read, numbers out of range,
 * malformed HTTP and WebSocket, and concurrent use of the in-process API. */
#include "sim_testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

/* A raw TCP connection to port on loopback. */
static inline int raw_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends text and reads until the peer closes, a whole answer arrived
 * (headers and Content-Length body) or timeout_ms passed; returns the bytes
 * in out (NUL-terminated). */
static inline size_t raw_exchange(int fd, const char *text, char *out, size_t cap, int timeout_ms) {
    if (text != NULL) {
        assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
    }
    size_t len = 0;
    out[0] = '\0';
    int64_t end = tu_now_ms() + timeout_ms;
    while (len + 1 < cap && tu_now_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(end - tu_now_ms()) + 1) <= 0) {
            break;
        }
        ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        out[len] = '\0';
        const char *head_end = strstr(out, "\r\n\r\n");
        const char *cl = strcasestr(out, "content-length:");
        if (head_end != NULL && cl != NULL && cl < head_end &&
            len >= (size_t)(head_end + 4 - out) + (size_t)atol(cl + 15)) {
            break;
        }
        if (head_end != NULL && strstr(out, " 101 ") != NULL) {
            break;
        }
    }
    return len;
}

static inline int raw_status(const char *answer) {
    return strncmp(answer, "HTTP/1.1 ", 9) == 0 ? atoi(answer + 9) : 0;
}

/* A JSON number of /sim/state. */
static inline double state_num(const tu_sim *t, const char *name) {
    tu_resp r = tu_ctl(t, "GET", "/sim/state", NULL);
    assert_int_equal(r.status, 200);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r.json, name);
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    tu_resp_free(&r);
    return d;
}

/* ---- 1. SIGPIPE ---- */

/* This process keeps SIGPIPE's default (terminate): the emulator must not
 * raise it when a client resets while pipelined answers are queued. */
static void test_closed_client_no_sigpipe(void **state) {
    (void)state;
    assert_true(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    tu_sim t;
    tu_sim_start(&t);
    static const char one[] = "GET /fapi/v1/exchangeInfo HTTP/1.1\r\nHost: x\r\n\r\n";
    char req[50 * sizeof one];
    size_t len = 0;
    for (int i = 0; i < 50; i++) {
        memcpy(req + len, one, sizeof one - 1);
        len += sizeof one - 1;
    }
    for (int round = 0; round < 40; round++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(t.port.binance)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(send(fd, req, len, 0), (ssize_t)len);
        char buf[100];
        assert_true(recv(fd, buf, sizeof buf, 0) > 0);
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
    }
    tu_sleep_ms(200);
    tu_resp r = tu_bn_public(&t, "/fapi/v1/time");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    tu_sim_stop(&t);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_client_no_sigpipe),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
