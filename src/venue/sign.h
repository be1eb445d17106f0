/*
 * venue/sign.h — request signing for both exchanges, and the bounded
 * payload builder (query string or JSON body) the signed strings are made of.
 *
 * Binance: hex(HMAC-SHA256(secret, query ‖ body)), appended as the last
 * parameter "signature". Bybit: hex(HMAC-SHA256(secret, timestamp ‖ key ‖
 * recvWindow ‖ query-or-body)) in X-BAPI-SIGN; WebSocket auth signs
 * "GET/realtime" ‖ expires.
 */
#ifndef TG_VENUE_SIGN_H
#define TG_VENUE_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_SIGN_HEX_LEN 64   /* hex characters of an HMAC-SHA256 */
#define TG_PAYLOAD_MAX  2048 /* bytes of a query string or JSON body, NUL included */

/* An HMAC-SHA256 key set up once (tg_sign_key_new) and used for every
 * signature after: the one-shot HMAC() looks the algorithms up again on
 * every call, which was most of the time it took to build an order request.
 * A key is used from one thread at a time (each signature re-initialises
 * its context); tg_sign_key_free wipes it. */
typedef struct tg_sign_key tg_sign_key;

/* NULL when out of memory (or the HMAC algorithm is missing). */
tg_sign_key *tg_sign_key_new(const char *secret);
void tg_sign_key_free(tg_sign_key *key);

/* hex(HMAC-SHA256(key, msg)), lower case; out holds TG_SIGN_HEX_LEN + 1. */
void tg_sign_hex(tg_sign_key *key, const void *msg, size_t len, char *out);

/* The same with a key set up for this one signature (tests, tools); false
 * when out of memory. */
bool tg_sign_hmac_hex(const char *secret, const void *msg, size_t len, char *out);

/* Binance: signature over query then body, with nothing in between. */
void tg_sign_binance(tg_sign_key *key, const char *query, const char *body, char *out);

/* Bybit REST: payload is the query string (GET) or the JSON body (POST). */
void tg_sign_bybit(tg_sign_key *key, int64_t ts_ms, const char *api_key, int64_t recv_window_ms,
                   const char *payload, char *out);

/* Bybit WebSocket auth over "GET/realtime" ‖ expires_ms. */
void tg_sign_bybit_ws(tg_sign_key *key, int64_t expires_ms, char *out);

/* A query string or a JSON object built in a fixed buffer. A write that
 * does not fit sets overflow and leaves the text unusable. */
typedef struct tg_payload {
    char buf[TG_PAYLOAD_MAX]; /* text, NUL-terminated */
    size_t len;               /* bytes used */
    bool overflow;            /* a write did not fit */
} tg_payload;

void tg_payload_init(tg_payload *qs);
/* Appends "name=value" (value percent-encoded), with '&' when not first. */
void tg_payload_add(tg_payload *qs, const char *name, const char *value);
void tg_payload_add_i64(tg_payload *qs, const char *name, int64_t value);

/* JSON object: tg_payload_json_str/num append "name":"value" / "name":value
 * (value is trusted: symbols, decimals, digits — escaped anyway); close
 * with tg_payload_json_end. */
void tg_payload_json_begin(tg_payload *qs);
void tg_payload_json_str(tg_payload *qs, const char *name, const char *value);
void tg_payload_json_num(tg_payload *qs, const char *name, int64_t value);
void tg_payload_json_bool(tg_payload *qs, const char *name, bool value);
void tg_payload_json_end(tg_payload *qs);

#endif
