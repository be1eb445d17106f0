#include "venue/sign.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define SIGN_MSG_MAX (TG_PAYLOAD_MAX * 2 + 128) /* bytes of a Bybit string to sign */

static void hex_encode(const unsigned char *in, size_t n, char *out) {
    assert(in != NULL || n == 0);
    assert(out != NULL);
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

struct tg_sign_key {
    EVP_MAC_CTX *ctx; /* HMAC-SHA256 with the secret set */
};

tg_sign_key *tg_sign_key_new(const char *secret) {
    assert(secret != NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context holds its own reference */
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    tg_sign_key *key = ctx != NULL ? malloc(sizeof *key) : NULL;
    if (key == NULL ||
        EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) != 1) {
        EVP_MAC_CTX_free(ctx);
        free(key);
        return NULL;
    }
    key->ctx = ctx;
    return key;
}

void tg_sign_key_free(tg_sign_key *key) {
    if (key == NULL) {
        return;
    }
    EVP_MAC_CTX_free(key->ctx); /* clears the key material */
    free(key);
}

void tg_sign_hex(tg_sign_key *key, const void *msg, size_t len, char *out) {
    assert(key != NULL && key->ctx != NULL && out != NULL);
    assert(msg != NULL || len == 0);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    /* a NULL key starts a new MAC with the key already set: no allocation */
    int ok = EVP_MAC_init(key->ctx, NULL, 0, NULL) == 1 &&
             EVP_MAC_update(key->ctx, msg, len) == 1 &&
             EVP_MAC_final(key->ctx, mac, &mac_len, sizeof mac) == 1;
    assert(ok && mac_len == 32);
    (void)ok;
    hex_encode(mac, mac_len, out);
    assert(strlen(out) == TG_SIGN_HEX_LEN);
}

bool tg_sign_hmac_hex(const char *secret, const void *msg, size_t len, char *out) {
    assert(secret != NULL && out != NULL);
    tg_sign_key *key = tg_sign_key_new(secret);
    if (key == NULL) {
        return false;
    }
    tg_sign_hex(key, msg, len, out);
    tg_sign_key_free(key);
    return true;
}

void tg_sign_binance(tg_sign_key *key, const char *query, const char *body, char *out) {
    assert(key != NULL && out != NULL);
    assert(query != NULL && body != NULL);
    size_t q = strlen(query), b = strlen(body);
    char msg[TG_PAYLOAD_MAX * 2];
    assert(q + b < sizeof msg);
    memcpy(msg, query, q);
    memcpy(msg + q, body, b);
    tg_sign_hex(key, msg, q + b, out);
}

void tg_sign_bybit(tg_sign_key *key, int64_t ts_ms, const char *api_key, int64_t recv_window_ms,
                   const char *payload, char *out) {
    assert(key != NULL && out != NULL);
    assert(api_key != NULL && payload != NULL);
    assert(ts_ms >= 0 && recv_window_ms > 0);
    char msg[SIGN_MSG_MAX];
    int n = snprintf(msg, sizeof msg, "%" PRId64 "%s%" PRId64 "%s", ts_ms, api_key, recv_window_ms,
                     payload);
    assert(n > 0 && (size_t)n < sizeof msg);
    tg_sign_hex(key, msg, (size_t)n, out);
}

void tg_sign_bybit_ws(tg_sign_key *key, int64_t expires_ms, char *out) {
    assert(key != NULL && out != NULL);
    assert(expires_ms > 0);
    char msg[64];
    int n = snprintf(msg, sizeof msg, "GET/realtime%" PRId64, expires_ms);
    assert(n > 0 && (size_t)n < sizeof msg);
    tg_sign_hex(key, msg, (size_t)n, out);
}

void tg_payload_init(tg_payload *qs) {
    assert(qs != NULL);
    qs->buf[0] = '\0';
    qs->len = 0;
    qs->overflow = false;
}

static void qs_put(tg_payload *qs, const char *text, size_t n) {
    assert(qs != NULL && text != NULL);
    assert(qs->len < sizeof qs->buf);
    if (qs->overflow || qs->len + n >= sizeof qs->buf) {
        qs->overflow = true;
        return;
    }
    memcpy(qs->buf + qs->len, text, n);
    qs->len += n;
    qs->buf[qs->len] = '\0';
    assert(qs->len < sizeof qs->buf);
}

static bool unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

void tg_payload_add(tg_payload *qs, const char *name, const char *value) {
    assert(qs != NULL);
    assert(name != NULL && value != NULL);
    if (qs->len > 0) {
        qs_put(qs, "&", 1);
    }
    qs_put(qs, name, strlen(name));
    qs_put(qs, "=", 1);
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if (unreserved(*p)) {
            qs_put(qs, (const char *)p, 1);
        } else {
            char esc[4];
            int n = snprintf(esc, sizeof esc, "%%%02X", *p);
            assert(n == 3);
            qs_put(qs, esc, 3);
        }
    }
}

void tg_payload_add_i64(tg_payload *qs, const char *name, int64_t value) {
    assert(qs != NULL && name != NULL);
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, value);
    assert(n > 0 && (size_t)n < sizeof num);
    tg_payload_add(qs, name, num);
}

void tg_payload_json_begin(tg_payload *qs) {
    assert(qs != NULL);
    tg_payload_init(qs);
    qs_put(qs, "{", 1);
}

static void json_name(tg_payload *qs, const char *name) {
    assert(qs != NULL);
    assert(qs->overflow || (qs->len >= 1 && qs->buf[0] == '{'));
    assert(name != NULL && strchr(name, '"') == NULL);
    if (qs->len > 1) {
        qs_put(qs, ",", 1);
    }
    qs_put(qs, "\"", 1);
    qs_put(qs, name, strlen(name));
    qs_put(qs, "\":", 2);
}

void tg_payload_json_str(tg_payload *qs, const char *name, const char *value) {
    assert(value != NULL);
    json_name(qs, name);
    qs_put(qs, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            qs_put(qs, "\\", 1);
            qs_put(qs, (const char *)p, 1);
        } else if (*p < 0x20) {
            char esc[8];
            int n = snprintf(esc, sizeof esc, "\\u%04x", *p);
            assert(n == 6);
            qs_put(qs, esc, 6);
        } else {
            qs_put(qs, (const char *)p, 1);
        }
    }
    qs_put(qs, "\"", 1);
}

void tg_payload_json_num(tg_payload *qs, const char *name, int64_t value) {
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, value);
    assert(n > 0 && (size_t)n < sizeof num);
    json_name(qs, name);
    qs_put(qs, num, (size_t)n);
}

void tg_payload_json_bool(tg_payload *qs, const char *name, bool value) {
    assert(qs != NULL && name != NULL);
    json_name(qs, name);
    qs_put(qs, value ? "true" : "false", value ? 4 : 5);
}

void tg_payload_json_end(tg_payload *qs) {
    assert(qs != NULL);
    assert(qs->overflow || (qs->len >= 1 && qs->buf[0] == '{'));
    qs_put(qs, "}", 1);
}
