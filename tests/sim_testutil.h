/*
 * sim_testutil.h — helpers for the emulator's tests: start one in-process on
 * ephemeral ports, talk to it over real loopback sockets with libcurl as a
 * raw HTTP client, sign requests with a tiny signer of the test's own, and a
 * minimal blocking WebSocket client (RFC 6455, masked frames).
 */
#ifndef TG_TEST_SIM_TESTUTIL_H
#define TG_TEST_SIM_TESTUTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "trailguard/sim.h"

#define TU_BODY_MAX   (4u << 20) /* bytes of a response kept */
#define TU_URL_MAX    8192       /* bytes of a URL */
#define TU_WS_MSG_MAX 65536      /* bytes of a WebSocket message */

/* The documented built-in accounts (docs/sim.md). */
#define TU_BN_KEY    "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
#define TU_BN_SECRET "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
#define TU_BY_KEY    "XXXXXXXXXX"
#define TU_BY_SECRET "test-secret"

typedef struct tu_sim {
    tg_sim *sim;       /* the emulator */
    tg_sim_ports port; /* its ports */
} tu_sim;

typedef struct tu_resp {
    long status;    /* HTTP status, 0 when the connection failed */
    char *body;     /* NUL-terminated body */
    size_t len;     /* bytes of body */
    char *headers;  /* raw header block */
    size_t hlen;    /* bytes of headers */
    cJSON *json;    /* parsed body, or NULL */
    double seconds; /* total time */
} tu_resp;

static inline void tu_sim_start_seed(tu_sim *t, uint64_t seed) {
    tg_sim_config cfg = tg_sim_config_default();
    cfg.seed = seed;
    tg_err err = {0};
    if (tg_sim_new(&cfg, &t->sim, &err) != TG_OK || tg_sim_start(t->sim, &err) != TG_OK) {
        fail_msg("cannot start the emulator: %s", err.msg);
    }
    t->port = tg_sim_ports_get(t->sim);
    assert_true(t->port.binance > 0 && t->port.bybit > 0);
}

static inline void tu_sim_start(tu_sim *t) {
    tu_sim_start_seed(t, 1);
}

static inline void tu_sim_stop(tu_sim *t) {
    tg_sim_free(t->sim);
    t->sim = NULL;
}

static inline int64_t tu_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void tu_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline void tu_hmac(const char *secret, const char *msg, char out[65]) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, strlen(msg), mac,
         &n);
    for (unsigned int i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    }
}

static size_t tu_collect(char *data, size_t size, size_t n, void *ctx) {
    tu_resp *r = ctx;
    size_t add = size * n;
    if (r->len + add + 1 > TU_BODY_MAX) {
        return 0;
    }
    memcpy(r->body + r->len, data, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t tu_collect_header(char *data, size_t size, size_t n, void *ctx) {
    tu_resp *r = ctx;
    size_t add = size * n;
    if (r->hlen + add + 1 < 65536) {
        memcpy(r->headers + r->hlen, data, add);
        r->hlen += add;
        r->headers[r->hlen] = '\0';
    }
    return add;
}

static inline void tu_resp_free(tu_resp *r) {
    free(r->body);
    free(r->headers);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

/* One request; headers is a NULL-terminated list of "Name: value" or NULL. */
static inline tu_resp tu_http(const char *method, const char *url, const char *const *headers,
                              const char *body, long timeout_ms) {
    tu_resp r = {0};
    r.body = calloc(1, TU_BODY_MAX);
    r.headers = calloc(1, 65536);
    assert_non_null(r.body);
    assert_non_null(r.headers);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *hl = NULL;
    for (const char *const *h = headers; h != NULL && *h != NULL; h++) {
        hl = curl_slist_append(hl, *h);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tu_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, tu_collect_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    }
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r.seconds);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    r.json = cJSON_Parse(r.body);
    return r;
}

/* Value of a response header (case-insensitive name) copied to out; false if
 * absent. */
static inline bool tu_header(const tu_resp *r, const char *name, char *out, size_t cap) {
    size_t n = strlen(name);
    for (const char *p = r->headers; p != NULL && *p != '\0';) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ') {
                v++;
            }
            size_t k = strcspn(v, "\r\n");
            k = k < cap - 1 ? k : cap - 1;
            memcpy(out, v, k);
            out[k] = '\0';
            return true;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    return false;
}

/* ---- JSON ---- */

static inline const char *tu_jstr(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline double tu_jnum(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v)) {
        fail_msg("field %s is not a number", name);
    }
    return v->valuedouble;
}

/* The Binance error code of a response, 0 if none. */
static inline int tu_code(const tu_resp *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, "code");
    return cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
}

static inline int tu_retcode(const tu_resp *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, "retCode");
    if (!cJSON_IsNumber(v)) {
        fail_msg("no retCode in %s", r->body);
    }
    return (int)v->valuedouble;
}

/* ---- control endpoint ---- */

static inline tu_resp tu_ctl(const tu_sim *t, const char *method, const char *path,
                             const char *body) {
    char url[TU_URL_MAX];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)t->port.binance, path);
    tu_resp r = tu_http(method, url, NULL, body, 5000);
    if (r.status != 200) {
        fail_msg("control %s %s -> %ld %s", method, path, r.status, r.body);
    }
    return r;
}

static inline void tu_ctl_ok(const tu_sim *t, const char *method, const char *path,
                             const char *body) {
    tu_resp r = tu_ctl(t, method, path, body);
    tu_resp_free(&r);
}

static inline void tu_mark(const tu_sim *t, const char *symbol, const char *price) {
    char body[256];
    snprintf(body, sizeof body, "{\"symbol\":\"%s\",\"price\":\"%s\"}", symbol, price);
    tu_ctl_ok(t, "POST", "/sim/mark", body);
}

static inline void tu_position(const tu_sim *t, const char *account, const char *symbol,
                               const char *side, const char *size, const char *entry) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"account\":\"%s\",\"symbol\":\"%s\",\"side\":\"%s\",\"size\":\"%s\","
             "\"entry\":\"%s\"}",
             account, symbol, side, size, entry);
    tu_ctl_ok(t, "POST", "/sim/position", body);
}

/* ---- Binance signed requests ---- */

/* params without timestamp/signature, e.g. "symbol=BTCUSDT&side=SELL". In
 * the query unless in_body. */
static inline tu_resp tu_bn_full(const tu_sim *t, const char *method, const char *path,
                                 const char *params, bool in_body, const char *key,
                                 const char *secret, int64_t ts) {
    char total[TU_URL_MAX], sig[65], signed_text[TU_URL_MAX + 80], url[2 * TU_URL_MAX + 256];
    snprintf(total, sizeof total, "%s%stimestamp=%lld", params, params[0] ? "&" : "",
             (long long)ts);
    tu_hmac(secret, total, sig);
    snprintf(signed_text, sizeof signed_text, "%s&signature=%s", total, sig);
    char keyh[256];
    snprintf(keyh, sizeof keyh, "X-MBX-APIKEY: %s", key);
    const char *headers[] = {keyh, "Content-Type: application/x-www-form-urlencoded", NULL};
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s%s%s", (unsigned)t->port.binance, path,
             in_body ? "" : "?", in_body ? "" : signed_text);
    return tu_http(method, url, headers, in_body ? signed_text : NULL, 5000);
}

static inline tu_resp tu_bn(const tu_sim *t, const char *method, const char *path,
                            const char *params) {
    return tu_bn_full(t, method, path, params, false, TU_BN_KEY, TU_BN_SECRET, tu_now_ms());
}

static inline tu_resp tu_bn_public(const tu_sim *t, const char *path) {
    char url[TU_URL_MAX];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)t->port.binance, path);
    return tu_http("GET", url, NULL, NULL, 5000);
}

/* ---- Bybit signed requests ---- */

/* GET with query, or POST with a JSON body. */
static inline tu_resp tu_by_full(const tu_sim *t, const char *method, const char *path,
                                 const char *payload, const char *key, const char *secret,
                                 int64_t ts) {
    bool get = strcmp(method, "GET") == 0;
    char text[TU_URL_MAX], sig[65], url[2 * TU_URL_MAX];
    snprintf(text, sizeof text, "%lld%s5000%s", (long long)ts, key, payload);
    tu_hmac(secret, text, sig);
    char h1[256], h2[64], h3[128];
    snprintf(h1, sizeof h1, "X-BAPI-API-KEY: %s", key);
    snprintf(h2, sizeof h2, "X-BAPI-TIMESTAMP: %lld", (long long)ts);
    snprintf(h3, sizeof h3, "X-BAPI-SIGN: %s", sig);
    const char *headers[] = {h1,
                             h2,
                             h3,
                             "X-BAPI-RECV-WINDOW: 5000",
                             "X-BAPI-SIGN-TYPE: 2",
                             "Content-Type: application/json",
                             NULL};
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s%s%s", (unsigned)t->port.bybit, path,
             get && payload[0] ? "?" : "", get ? payload : "");
    return tu_http(method, url, headers, get ? NULL : payload, 5000);
}

static inline tu_resp tu_by(const tu_sim *t, const char *method, const char *path,
                            const char *payload) {
    return tu_by_full(t, method, path, payload, TU_BY_KEY, TU_BY_SECRET, tu_now_ms());
}

/* ---- a minimal WebSocket client ---- */

typedef struct tu_ws {
    int fd;                                /* socket */
    unsigned char buf[TU_WS_MSG_MAX + 16]; /* bytes read ahead */
    size_t len;                            /* bytes in buf */
} tu_ws;

static inline bool tu_ws_fill(tu_ws *w, int timeout_ms) {
    struct pollfd p = {w->fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) {
        return false;
    }
    ssize_t n = recv(w->fd, w->buf + w->len, sizeof w->buf - w->len, 0);
    if (n <= 0) {
        return false;
    }
    w->len += (size_t)n;
    return true;
}

/* Connects and upgrades; returns the HTTP status of the handshake. */
static inline int tu_ws_open(tu_ws *w, uint16_t port, const char *target) {
    memset(w, 0, sizeof *w);
    w->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(w->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(w->fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     target);
    assert_int_equal(send(w->fd, req, (size_t)n, 0), n);
    for (;;) {
        char *end = memmem(w->buf, w->len, "\r\n\r\n", 4);
        if (end != NULL) {
            int status = atoi((const char *)w->buf + 9);
            if (status == 101) {
                assert_non_null(memmem(w->buf, w->len, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28));
            }
            size_t head = (size_t)(end - (char *)w->buf) + 4;
            memmove(w->buf, w->buf + head, w->len - head);
            w->len -= head;
            return status;
        }
        if (!tu_ws_fill(w, 3000)) {
            return 0;
        }
    }
}

static inline void tu_ws_send_op(tu_ws *w, int opcode, const char *text, size_t len) {
    unsigned char frame[TU_WS_MSG_MAX + 16];
    size_t h = 0;
    frame[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        frame[h++] = (unsigned char)(0x80 | len);
    } else {
        frame[h++] = 0x80 | 126;
        frame[h++] = (unsigned char)(len >> 8);
        frame[h++] = (unsigned char)len;
    }
    unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) {
        frame[h + i] = (unsigned char)text[i] ^ mask[i % 4];
    }
    assert_int_equal(send(w->fd, frame, h + len, 0), (ssize_t)(h + len));
}

static inline void tu_ws_send(tu_ws *w, const char *text) {
    tu_ws_send_op(w, 1, text, strlen(text));
}

/* Next frame: its opcode (-1 on timeout or close of the socket); text in out. */
static inline int tu_ws_recv(tu_ws *w, char *out, size_t cap, int timeout_ms) {
    for (;;) {
        if (w->len >= 2) {
            size_t plen = w->buf[1] & 0x7f, h = 2;
            if (plen == 126 && w->len >= 4) {
                plen = ((size_t)w->buf[2] << 8) | w->buf[3];
                h = 4;
            } else if (plen == 127 && w->len >= 10) {
                plen = 0;
                for (int i = 0; i < 8; i++) {
                    plen = (plen << 8) | w->buf[2 + i];
                }
                h = 10;
            }
            if ((plen < 126 || h > 2) && w->len >= h + plen) {
                int op = w->buf[0] & 0x0f;
                size_t n = plen < cap - 1 ? plen : cap - 1;
                memcpy(out, w->buf + h, n);
                out[n] = '\0';
                memmove(w->buf, w->buf + h + plen, w->len - h - plen);
                w->len -= h + plen;
                return op;
            }
        }
        if (!tu_ws_fill(w, timeout_ms)) {
            return -1;
        }
    }
}

/* Next text message containing needle (skipping others) within timeout. */
static inline bool tu_ws_wait(tu_ws *w, const char *needle, char *out, size_t cap, int timeout_ms) {
    int64_t end = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < end) {
        int op = tu_ws_recv(w, out, cap, (int)(end - tu_now_ms()) + 1);
        if (op < 0) {
            return false;
        }
        if (op == 1 && strstr(out, needle) != NULL) {
            return true;
        }
    }
    return false;
}

static inline void tu_ws_close(tu_ws *w) {
    if (w->fd >= 0) {
        close(w->fd);
    }
    w->fd = -1;
}

#endif
