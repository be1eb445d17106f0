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

/* ---- 2. idle and slow connections ---- */

#define IDLE_SOCKETS 300 /* more than a port admits */

static void test_idle_connections_do_not_lock_out(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    int fds[IDLE_SOCKETS];
    for (int i = 0; i < IDLE_SOCKETS; i++) {
        fds[i] = raw_connect(t.port.binance);
    }
    tu_sleep_ms(300);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v5/market/time", (unsigned)t.port.bybit);
    tu_resp r = tu_http("GET", url, NULL, NULL, 3000);
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    r = tu_bn_public(&t, "/fapi/v1/time");
    assert_int_equal(r.status, 200);
    tu_resp_free(&r);
    assert_true(state_num(&t, "evictions") >= IDLE_SOCKETS - 240);
    for (int i = 0; i < IDLE_SOCKETS; i++) {
        close(fds[i]);
    }
    tu_sim_stop(&t);
}

/* Is fd closed by the peer within timeout_ms (after any bytes it sends)? */
static bool closed_within(int fd, int timeout_ms, char *out, size_t cap) {
    size_t len = 0;
    int64_t end = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(end - tu_now_ms()) + 1) <= 0) {
            continue;
        }
        ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
        if (n <= 0) {
            return true;
        }
        len += (size_t)n;
        out[len] = '\0';
    }
    return false;
}

static void test_header_and_idle_timeouts(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    tu_ctl_ok(&t, "POST", "/sim/limits", "{\"header_timeout_ms\":300,\"idle_timeout_ms\":600}");
    int slow = raw_connect(t.port.binance);
    int silent = raw_connect(t.port.bybit);
    int kept = raw_connect(t.port.binance);
    char out[4096] = "";
    raw_exchange(kept, "GET /fapi/v1/time HTTP/1.1\r\nHost: x\r\n\r\n", out, sizeof out, 2000);
    assert_int_equal(raw_status(out), 200);
    static const char partial[] = "GET /fapi/v1/time HTTP/1.1\r\nHo";
    assert_int_equal(send(slow, partial, sizeof partial - 1, 0), (ssize_t)(sizeof partial - 1));
    out[0] = '\0';
    assert_true(closed_within(slow, 3000, out, sizeof out));
    assert_int_equal(raw_status(out), 408);
    assert_true(closed_within(silent, 3000, out, sizeof out));
    assert_true(closed_within(kept, 3000, out, sizeof out));
    assert_true(state_num(&t, "timeout_closes") >= 3);
    close(slow);
    close(silent);
    close(kept);
    tu_sim_stop(&t);
}

/* ---- 3. stream clients that never read ---- */

#define SLOW_READERS 20 /* stream clients that never read */

static double call_state_num(tg_sim *sim, const char *name) {
    char out[8192];
    assert_int_equal(tg_sim_call(sim, "GET", "/sim/state", NULL, out, sizeof out), 200);
    cJSON *j = cJSON_Parse(out);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (strcmp(name, "connections") == 0) {
        d = cJSON_GetObjectItemCaseSensitive(v, "binance")->valuedouble;
    }
    cJSON_Delete(j);
    return d;
}

static void test_slow_stream_readers_cut_off(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    tu_ws *ws = calloc(SLOW_READERS, sizeof *ws);
    assert_non_null(ws);
    for (int i = 0; i < SLOW_READERS; i++) {
        assert_int_equal(tu_ws_open(&ws[i], t.port.binance, "/ws/btcusdt@markPrice"), 101);
        int small = 4096;
        setsockopt(ws[i].fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    char out[256];
    int64_t end = tu_now_ms() + 60000;
    int rounds = 0;
    while (call_state_num(t.sim, "slow_disconnects") < SLOW_READERS && tu_now_ms() < end) {
        for (int k = 0; k < 500; k++, rounds++) {
            const char *body = rounds % 2 ? "{\"symbol\":\"BTCUSDT\",\"price\":\"50000\"}"
                                          : "{\"symbol\":\"BTCUSDT\",\"price\":\"50000.1\"}";
            assert_int_equal(tg_sim_call(t.sim, "POST", "/sim/mark", body, out, sizeof out), 200);
        }
    }
    assert_int_equal(call_state_num(t.sim, "slow_disconnects"), SLOW_READERS);
    tu_sleep_ms(100);
    assert_int_equal(call_state_num(t.sim, "connections"), 0);
    for (int i = 0; i < SLOW_READERS; i++) {
        tu_ws_close(&ws[i]);
    }
    free(ws);
    tu_sim_stop(&t);
}

/* ---- 5. numbers out of range ---- */

#define DAY_MS 86400000LL

static void test_binance_recv_window_range(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    int64_t old = tu_now_ms() - 30 * DAY_MS;
    static const char *const windows[] = {"recvWindow=99999999999999999999", "recvWindow=-5",
                                          "recvWindow=60001", "recvWindow=3000000000",
                                          "recvWindow=1e3"};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        tu_resp r = tu_bn_full(&t, "GET", "/fapi/v2/positionRisk", windows[i], false, TU_BN_KEY,
                               TU_BN_SECRET, old);
        assert_int_equal(r.status, 400);
        assert_int_equal(tu_code(&r), -1131);
        tu_resp_free(&r);
    }
    tu_resp r = tu_bn_full(&t, "GET", "/fapi/v2/positionRisk", "recvWindow=60000", false, TU_BN_KEY,
                           TU_BN_SECRET, old);
    assert_int_equal(tu_code(&r), -1021);
    tu_resp_free(&r);
    r = tu_bn_full(&t, "GET", "/fapi/v2/positionRisk", "", false, TU_BN_KEY, TU_BN_SECRET,
                   INT64_MIN);
    assert_int_equal(tu_code(&r), -1102);
    tu_resp_free(&r);
    tu_sim_stop(&t);
}

/* A Bybit GET signed with the given X-BAPI-RECV-WINDOW text. */
static tu_resp by_get_window(const tu_sim *t, const char *window, int64_t ts) {
    char text[512], sig[65], h2[64], h3[128], h4[128], url[256];
    snprintf(text, sizeof text, "%lld%s%scategory=linear&settleCoin=USDT", (long long)ts, TU_BY_KEY,
             window);
    tu_hmac(TU_BY_SECRET, text, sig);
    snprintf(h2, sizeof h2, "X-BAPI-TIMESTAMP: %lld", (long long)ts);
    snprintf(h3, sizeof h3, "X-BAPI-SIGN: %s", sig);
    snprintf(h4, sizeof h4, "X-BAPI-RECV-WINDOW: %s", window);
    const char *headers[] = {"X-BAPI-API-KEY: " TU_BY_KEY, h2, h3, h4, NULL};
    snprintf(url, sizeof url,
             "http://127.0.0.1:%u/v5/position/list?category=linear&settleCoin=USDT",
             (unsigned)t->port.bybit);
    return tu_http("GET", url, headers, NULL, 5000);
}

static void test_bybit_recv_window_range(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    int64_t old = tu_now_ms() - 30 * DAY_MS;
    static const char *const windows[] = {
        "9223372036854775807", "99999999999999999999", "-1", "0", "2592000000", "5000x"};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        tu_resp r = by_get_window(&t, windows[i], old);
        assert_int_equal(tu_retcode(&r), 10001);
        tu_resp_free(&r);
    }
    tu_resp r = by_get_window(&t, "60000", old);
    assert_int_equal(tu_retcode(&r), 10002);
    tu_resp_free(&r);
    r = by_get_window(&t, "5000", tu_now_ms());
    assert_int_equal(tu_retcode(&r), 0);
    tu_resp_free(&r);
    tu_sim_stop(&t);
}

static void test_ws_numbers_out_of_range(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    tu_ws w;
    char out[4096];
    assert_int_equal(tu_ws_open(&w, t.port.binance, "/ws"), 101);
    tu_ws_send(&w, "{\"method\":\"SUBSCRIBE\",\"params\":[\"btcusdt@markPrice\"],\"id\":1e400}");
    assert_true(tu_ws_wait(&w, "\"id\"", out, sizeof out, 3000));
    assert_non_null(strstr(out, "\"error\""));
    tu_ws_send(&w, "{\"method\":\"SUBSCRIBE\",\"params\":[\"btcusdt@markPrice\"],\"id\":-1e300}");
    assert_true(tu_ws_wait(&w, "\"id\"", out, sizeof out, 3000));
    assert_non_null(strstr(out, "\"error\""));
    tu_ws_send(&w, "{\"method\":\"SUBSCRIBE\",\"params\":[\"btcusdt@markPrice\"],\"id\":7}");
    assert_true(tu_ws_wait(&w, "\"id\":7", out, sizeof out, 3000));
    assert_non_null(strstr(out, "\"result\":null"));
    tu_ws_close(&w);
    assert_int_equal(tu_ws_open(&w, t.port.bybit, "/v5/public/linear"), 101);
    tu_ws_send(&w, "{\"op\":\"ping\",\"req_id\":1e400}");
    assert_true(tu_ws_wait(&w, "pong", out, sizeof out, 3000));
    assert_non_null(strstr(out, "\"req_id\":\"\""));
    tu_ws_close(&w);
    assert_int_equal(tu_ws_open(&w, t.port.bybit, "/v5/private"), 101);
    tu_ws_send(&w, "{\"op\":\"auth\",\"args\":[\"" TU_BY_KEY "\",1e300,\"00\"]}");
    assert_true(tu_ws_wait(&w, "auth", out, sizeof out, 3000));
    assert_non_null(strstr(out, "\"success\":false"));
    tu_ws_send(&w,
               "{\"op\":\"auth\",\"args\":[\"" TU_BY_KEY "\",\"-99999999999999999999\",\"00\"]}");
    assert_true(tu_ws_wait(&w, "auth", out, sizeof out, 3000));
    assert_non_null(strstr(out, "\"success\":false"));
    tu_ws_close(&w);
    /* the control endpoint and scenarios read integers with a range too */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sim/step", (unsigned)t.port.binance);
    tu_resp r = tu_http("POST", url, NULL, "{\"symbol\":\"BTCUSDT\",\"count\":1e400}", 3000);
    assert_int_equal(r.status, 400);
    tu_resp_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sim/clock", (unsigned)t.port.binance);
    r = tu_http("POST", url, NULL, "{\"offset_ms\":-1e300}", 3000);
    assert_int_equal(r.status, 400);
    tu_resp_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/sim/scenario", (unsigned)t.port.binance);
    r = tu_http("POST", url, NULL,
                "{\"paths\":[{\"symbol\":\"BTCUSDT\",\"kind\":\"walk\",\"interval_ms\":1e400}]}",
                3000);
    assert_int_equal(r.status, 400);
    tu_resp_free(&r);
    tu_sim_stop(&t);
}

/* ---- 9. HTTP and WebSocket strictness ---- */

static int raw_request(uint16_t port, const char *text, char *out, size_t cap) {
    int fd = raw_connect(port);
    raw_exchange(fd, text, out, cap, 3000);
    close(fd);
    return raw_status(out);
}

static void test_http_strictness(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    char out[8192];
    assert_int_equal(raw_request(t.port.binance,
                                 "POST /fapi/v1/listenKey HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
                                 out, sizeof out),
                     400);
    assert_int_equal(
        raw_request(t.port.binance, "GET /fapi/v1/time HTTP/1.1\nHost: x\n\n", out, sizeof out),
        400);
    assert_int_equal(
        raw_request(t.port.bybit, "GET /v5/market/time HTTP/1.1\r\nHost: x\n\r\n", out, sizeof out),
        400);
    /* the same length twice is one length */
    assert_int_equal(raw_request(t.port.binance,
                                 "GET /fapi/v1/time HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
                                 out, sizeof out),
                     200);
    static const char up[] = "GET /ws/btcusdt@markPrice HTTP/1.1\r\nHost: x\r\n"
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    char req[1024];
    static const char *const bad_keys[] = {
        "x", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25j!Q==", "dGhlIHNhbXBsZSBub25jZQ==dGhl"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        snprintf(req, sizeof req, "%sSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 up, bad_keys[i]);
        assert_int_equal(raw_request(t.port.binance, req, out, sizeof out), 400);
    }
    snprintf(req, sizeof req,
             "%sSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
             up);
    assert_int_equal(raw_request(t.port.binance, req, out, sizeof out), 426);
    assert_non_null(strcasestr(out, "Sec-WebSocket-Version: 13\r\n"));
    snprintf(req, sizeof req, "%sSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", up);
    assert_int_equal(raw_request(t.port.binance, req, out, sizeof out), 400);
    tu_sim_stop(&t);
}

/* The close code of the next close frame, or -1. */
static int ws_close_code(tu_ws *w) {
    char out[256];
    for (int i = 0; i < 20; i++) {
        int op = tu_ws_recv(w, out, sizeof out, 3000);
        if (op == 8) {
            return ((unsigned char)out[0] << 8) | (unsigned char)out[1];
        }
        if (op < 0) {
            return -1;
        }
    }
    return -1;
}

static void test_ws_frame_strictness(void **state) {
    (void)state;
    tu_sim t;
    tu_sim_start(&t);
    tu_ws w;
    assert_int_equal(tu_ws_open(&w, t.port.binance, "/ws/btcusdt@markPrice"), 101);
    tu_ws_send_op(&w, 3, "x", 1);
    assert_int_equal(ws_close_code(&w), 1002);
    tu_ws_close(&w);
    assert_int_equal(tu_ws_open(&w, t.port.bybit, "/v5/public/linear"), 101);
    tu_ws_send_op(&w, 0xB, "", 0);
    assert_int_equal(ws_close_code(&w), 1002);
    tu_ws_close(&w);
    static const char *const bad_utf8[] = {"{\"op\":\"\xff\"}", "\xc0\xaf", "\xed\xa0\x80",
                                           "\xf4\x90\x80\x80", "ok\xe2\x82"};
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        assert_int_equal(tu_ws_open(&w, t.port.bybit, "/v5/public/linear"), 101);
        tu_ws_send(&w, bad_utf8[i]);
        assert_int_equal(ws_close_code(&w), 1007);
        tu_ws_close(&w);
    }
    /* valid multi-byte text is served */
    assert_int_equal(tu_ws_open(&w, t.port.bybit, "/v5/public/linear"), 101);
    tu_ws_send(&w, "{\"op\":\"ping\",\"req_id\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}");
    char out[512];
    assert_true(tu_ws_wait(&w, "pong", out, sizeof out, 3000));
    tu_ws_close(&w);
    tu_sim_stop(&t);
}

static void test_accounts_empty_secret_refused(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/accounts_empty_secret.json", TG_TEST_TMPDIR);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[{\"venue\":\"binance\",\"name\":\"bn1\",\"api_key\":\"k\",\"api_secret\":\"\"}]", f);
    fclose(f);
    tg_sim_config cfg = tg_sim_config_default();
    cfg.accounts_path = path;
    tg_sim *sim = NULL;
    tg_err err = {0};
    assert_int_equal(tg_sim_new(&cfg, &sim, &err), TG_E_INVALID);
    assert_null(sim);
    assert_non_null(strstr(err.msg, "api_secret is empty"));
    remove(path);
}

/* ---- 11. concurrency ---- */

#define CALLERS 4 /* threads calling into the emulator while it stops */

typedef struct caller {
    tg_sim *sim;  /* shared emulator */
    int answered; /* calls that got 200 */
    int refused;  /* calls that got 0 (stopped) */
} caller;

static void *caller_main(void *arg) {
    caller *c = arg;
    char out[4096];
    for (;;) {
        int st = tg_sim_call(c->sim, "GET", "/sim/state", NULL, out, sizeof out);
        if (st == 0) {
            c->refused++;
            return NULL;
        }
        c->answered++;
    }
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "tg_sim_call hung after the emulator stopped\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(1);
}

/* Callers queued behind each other while the emulator stops must all return
 * (status 0), never wait forever. */
static void test_call_returns_when_stopped(void **state) {
    (void)state;
    signal(SIGALRM, on_alarm);
    alarm(60);
    for (int round = 0; round < 30; round++) {
        tu_sim t;
        tu_sim_start(&t);
        caller callers[CALLERS];
        pthread_t th[CALLERS];
        for (int i = 0; i < CALLERS; i++) {
            callers[i] = (caller){.sim = t.sim};
            assert_int_equal(pthread_create(&th[i], NULL, caller_main, &callers[i]), 0);
        }
        tu_sleep_ms(5 + round % 7);
        tg_sim_stop(t.sim);
        for (int i = 0; i < CALLERS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(callers[i].refused, 1);
        }
        tu_sim_stop(&t);
    }
    alarm(0);
}

/* Two emulators with latency faults on their streams at once: each holds
 * and frees its own delayed messages (run under make tsan). */
static void test_delayed_messages_per_emulator(void **state) {
    (void)state;
    tu_sim a, b;
    tu_sim_start(&a);
    tu_sim_start(&b);
    tg_err err = {0};
    assert_int_equal(tg_sim_fault(a.sim, "stream:markPrice", "latency", 50, 0, &err), TG_OK);
    assert_int_equal(tg_sim_fault(b.sim, "stream:markPrice", "latency", 50, 0, &err), TG_OK);
    tu_ws wa, wb;
    assert_int_equal(tu_ws_open(&wa, a.port.binance, "/ws/btcusdt@markPrice"), 101);
    assert_int_equal(tu_ws_open(&wb, b.port.binance, "/ws/btcusdt@markPrice"), 101);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(tg_sim_set_mark(a.sim, "BTCUSDT", i % 2 ? "50000" : "50000.1", &err),
                         TG_OK);
        assert_int_equal(tg_sim_set_mark(b.sim, "BTCUSDT", i % 2 ? "50000" : "50000.1", &err),
                         TG_OK);
    }
    char out[1024];
    assert_true(tu_ws_wait(&wa, "markPriceUpdate", out, sizeof out, 3000));
    assert_true(tu_ws_wait(&wb, "markPriceUpdate", out, sizeof out, 3000));
    tu_sim_stop(&a); /* frees a's held messages while b's are pending */
    assert_true(tu_ws_wait(&wb, "markPriceUpdate", out, sizeof out, 3000));
    tu_ws_close(&wa);
    tu_ws_close(&wb);
    tu_sim_stop(&b);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_client_no_sigpipe),
        cmocka_unit_test(test_idle_connections_do_not_lock_out),
        cmocka_unit_test(test_header_and_idle_timeouts),
        cmocka_unit_test(test_slow_stream_readers_cut_off),
        cmocka_unit_test(test_binance_recv_window_range),
        cmocka_unit_test(test_bybit_recv_window_range),
        cmocka_unit_test(test_ws_numbers_out_of_range),
        cmocka_unit_test(test_http_strictness),
        cmocka_unit_test(test_ws_frame_strictness),
        cmocka_unit_test(test_accounts_empty_secret_refused),
        cmocka_unit_test(test_call_returns_when_stopped),
        cmocka_unit_test(test_delayed_messages_per_emulator),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
