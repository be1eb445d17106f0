/*
 * venue/wire.h — decoders of every byte an exchange sends (REST bodies and
 * WebSocket frames) and the map from exchange error codes to tg_venue_code.
 *
 * Pure functions over a buffer: no I/O, no clock, no allocation that
 * outlives the call. Prices and quantities are read from JSON strings with
 * tg_dec_parse, never through a double. Each decoder fills at most cap
 * entries and says so in the error rather than dropping entries silently.
 */
#ifndef TG_VENUE_WIRE_H
#define TG_VENUE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trailguard/venue.h"

#define TG_WIRE_MSG_MAX    160 /* bytes of an exchange message kept, NUL included */
#define TG_WIRE_CURSOR_MAX 256 /* bytes of a Bybit page cursor, NUL included */
#define TG_WIRE_EVENTS_MAX 64  /* events decoded from one WebSocket frame */

/* An exchange-level error found in a body. */
typedef struct tg_wire_status {
    int code;                  /* Binance code / Bybit retCode; 0 = none */
    char msg[TG_WIRE_MSG_MAX]; /* exchange message, truncated */
} tg_wire_status;

/* A list decoded from one page. */
typedef struct tg_wire_page {
    size_t count;                    /* entries written */
    size_t skipped;                  /* entries read but not kept (flat, not a stop) */
    char cursor[TG_WIRE_CURSOR_MAX]; /* Bybit nextPageCursor; "" = last page */
} tg_wire_page;

/* What one WebSocket frame held. */
typedef struct tg_wire_frame {
    tg_venue_event events[TG_WIRE_EVENTS_MAX]; /* decoded events */
    size_t count;                              /* events written */
    bool ack;                                  /* a subscribe/auth/ping reply */
    bool ack_ok;                               /* that reply said success */
    bool pong;                                 /* the reply was a pong */
    bool auth_reply;                           /* the reply was to auth */
    bool listen_key_expired;                   /* Binance listenKeyExpired */
    char msg[TG_WIRE_MSG_MAX];                 /* reply message, if any */
} tg_wire_frame;

/* Empties out for the next frame. The events are cleared one by one as
 * they are written: zeroing all TG_WIRE_EVENTS_MAX of them for every frame
 * cost more than decoding a mark. */
void tg_wire_frame_reset(tg_wire_frame *out);

/* ---- Binance USD-M -------------------------------------------------- */

/* True when body is {"code":<negative>,"msg":...}. */
bool tg_bn_parse_error(const char *body, size_t len, tg_wire_status *st);
tg_status tg_bn_parse_time(const char *body, size_t len, int64_t *ms, tg_err *err);
tg_status tg_bn_parse_rules(const char *body, size_t len, tg_venue_rules *rules, size_t cap,
                            tg_wire_page *page, tg_err *err);
/* positionRisk v2/v3; flat entries are skipped. */
tg_status tg_bn_parse_positions(const char *body, size_t len, tg_venue_position *pos, size_t cap,
                                tg_wire_page *page, tg_err *err);
/* One algo order object (POST / GET /fapi/v1/algoOrder). */
tg_status tg_bn_parse_algo(const char *body, size_t len, tg_venue_stop *stop, tg_err *err);
/* GET /fapi/v1/openAlgoOrders; orders that are not stops are skipped. */
tg_status tg_bn_parse_algos(const char *body, size_t len, tg_venue_stop *stops, size_t cap,
                            tg_wire_page *page, tg_err *err);
/* GET /fapi/v1/openOrders: the regular STOP and STOP_MARKET orders (placed
 * before the algo API, or by another program); other orders are skipped. */
tg_status tg_bn_parse_orders(const char *body, size_t len, tg_venue_stop *stops, size_t cap,
                             tg_wire_page *page, tg_err *err);
/* GET /fapi/v1/premiumIndex?symbol=: markPrice and time of symbol. */
tg_status tg_bn_parse_mark(const char *body, size_t len, const char *symbol, tg_dec *mark,
                           int64_t *ms, tg_err *err);
tg_status tg_bn_parse_listen_key(const char *body, size_t len, char *key, size_t size, tg_err *err);
/* A market or user-data frame, raw or wrapped by a combined stream. */
tg_status tg_bn_parse_ws(const char *frame, size_t len, tg_wire_frame *out, tg_err *err);
/* The same through a cJSON tree only (tg_bn_parse_ws reads mark frames
 * without one and falls back to this): for the tests that compare them. */
tg_status tg_bn_parse_ws_tree(const char *frame, size_t len, tg_wire_frame *out, tg_err *err);

/* ---- Bybit v5 ------------------------------------------------------- */

/* True when the envelope's retCode is not 0 (or the body is no envelope:
 * then code is -1). */
bool tg_by_parse_error(const char *body, size_t len, tg_wire_status *st);
tg_status tg_by_parse_time(const char *body, size_t len, int64_t *ms, tg_err *err);
tg_status tg_by_parse_rules(const char *body, size_t len, tg_venue_rules *rules, size_t cap,
                            tg_wire_page *page, tg_err *err);
tg_status tg_by_parse_positions(const char *body, size_t len, tg_venue_position *pos, size_t cap,
                                tg_wire_page *page, tg_err *err);
/* GET /v5/order/realtime; orders that are not stops are skipped. */
tg_status tg_by_parse_orders(const char *body, size_t len, tg_venue_stop *stops, size_t cap,
                             tg_wire_page *page, tg_err *err);
/* GET /v5/market/tickers?category=linear&symbol=: markPrice of symbol and
 * the response's time. */
tg_status tg_by_parse_mark(const char *body, size_t len, const char *symbol, tg_dec *mark,
                           int64_t *ms, tg_err *err);
tg_status tg_by_parse_ws(const char *frame, size_t len, tg_wire_frame *out, tg_err *err);

/* ---- errors ----------------------------------------------------------- */

tg_venue_code tg_bn_map_error(int http_status, int code);
tg_venue_code tg_by_map_error(int http_status, int ret_code, const char *msg);

/* Overwrites every occurrence of key and secret in msg with '*'. */
void tg_wire_redact(char *msg, const char *key, const char *secret);

#endif
