/*
 * trailguard/venue.h — one interface to the exchanges: Binance USD-M futures
 * and Bybit v5 linear perpetuals.
 *
 * A tg_venue is one account on one exchange. It owns its HTTP transport
 * (libcurl, one multi handle, keep-alive) and its WebSocket streams
 * (libwebsockets), both driven by the caller's libuv loop, so a daemon runs
 * every venue, timer and stream on one thread.
 *
 * Every request is asynchronous: it is queued, paced below the exchange's
 * rate limits, signed when it leaves (so a retry carries a fresh timestamp),
 * retried with backoff when that is safe, and completed by one call to the
 * caller's tg_venue_done_fn with a tg_venue_reply. A program without a loop
 * of its own uses tg_venue_waiter and tg_venue_wait().
 *
 * Ownership of stops: a stop order is trailguard's when its client id starts
 * with TG_VENUE_CLIENT_PREFIX and names a position key
 * ("tg-BTCUSDT:l-1b"). On Bybit the position-level Full stop-loss set by
 * /v5/position/trading-stop carries no client id; it is trailguard's by
 * construction (one per position, see docs/venue.md).
 *
 * Secrets: the API secret and key never appear in a reply, an error sentence
 * or an event; exchange messages that echo them are redacted.
 */
#ifndef TRAILGUARD_VENUE_H
#define TRAILGUARD_VENUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trailguard/book.h"
#include "trailguard/decimal.h"
#include "trailguard/error.h"
#include "trailguard/stop.h"

#define TG_VENUE_URL_MAX       256  /* bytes of a base URL, NUL included */
#define TG_VENUE_SECRET_MAX    128  /* bytes of an API key or secret, NUL included */
#define TG_VENUE_UA_MAX        128  /* bytes of a User-Agent, NUL included */
#define TG_VENUE_ID_MAX        48   /* bytes of an order id or client id, NUL included */
#define TG_VENUE_KEY_MAX       40   /* bytes of a position key, NUL included */
#define TG_VENUE_RULES_MAX     4096 /* instruments kept from one listing */
#define TG_VENUE_POSITIONS_MAX 1024 /* positions kept from one listing */
#define TG_VENUE_STOPS_MAX     2048 /* stop orders kept from one listing */
#define TG_VENUE_SYMBOLS_MAX                                                                       \
    1024 /* mark-price subscriptions at once (one connection; Binance: 1,024 streams each) */
#define TG_VENUE_CLIENT_PREFIX "tg-" /* client ids of trailguard's stops */

typedef enum tg_venue_kind {
    TG_VENUE_BINANCE, /* Binance USD-M futures */
    TG_VENUE_BYBIT,   /* Bybit v5, category=linear */
} tg_venue_kind;

/* What went wrong, independent of the exchange; the exchange's own code and
 * message travel beside it in tg_venue_error. */
typedef enum tg_venue_code {
    TG_VENUE_OK = 0,
    TG_VENUE_E_WOULD_TRIGGER,  /* stop is through the market (-2021, Bybit 10001 side, 110092/3) */
    TG_VENUE_E_PRECISION,      /* price or qty off tick/step (-1111, -4014, -4023) */
    TG_VENUE_E_UNKNOWN_ORDER,  /* no such order (-2011, -2013, 110001, 110008, 110010) */
    TG_VENUE_E_NOT_MODIFIED,   /* the stop is already at that price (34040) */
    TG_VENUE_E_DUPLICATE,      /* client id already used (-4116, 110072) */
    TG_VENUE_E_STOP_EXISTS,    /* exchange refuses a second stop (-4130) */
    TG_VENUE_E_TOO_MANY_STOPS, /* conditional order cap (-4045, 110009) */
    TG_VENUE_E_NO_POSITION,    /* no open position to protect (-2022, 110017) */
    TG_VENUE_E_PARAM,          /* request rejected as malformed (-1102, 10001) */
    TG_VENUE_E_TIMESTAMP,      /* clock outside recvWindow (-1021, 10002) */
    TG_VENUE_E_AUTH,           /* key, signature or permission (-1022, -2015, 10003-10005) */
    TG_VENUE_E_RATE_LIMIT,     /* 429, -1003, -1015, 10006, 403 */
    TG_VENUE_E_BANNED,         /* 418: IP banned; the circuit is open */
    TG_VENUE_E_SERVER,         /* 5xx, 10016, outcome unknown */
    TG_VENUE_E_TRANSPORT,      /* connect, TLS, timeout, malformed response */
    TG_VENUE_E_CIRCUIT_OPEN,   /* refused locally: the venue's breaker is open */
    TG_VENUE_E_REJECTED,       /* any other exchange error */
} tg_venue_code;

typedef struct tg_venue_error {
    tg_venue_code code; /* typed error */
    int exchange_code;  /* Binance "code" or Bybit "retCode"; 0 when none */
    int http_status;    /* HTTP status of the last response; 0 when none */
    tg_err err;         /* sentence with the exchange's code and message */
} tg_venue_error;

typedef struct tg_venue_config {
    tg_venue_kind kind;                   /* which exchange */
    char account[TG_VENUE_KEY_MAX];       /* account name, for messages */
    char rest_url[TG_VENUE_URL_MAX];      /* https://fapi.binance.com, https://api.bybit.com */
    char ws_url[TG_VENUE_URL_MAX];        /* wss://fstream.binance.com, wss://stream.bybit.com */
    char api_key[TG_VENUE_SECRET_MAX];    /* API key */
    char api_secret[TG_VENUE_SECRET_MAX]; /* API secret; never output */
    int64_t recv_window_ms;               /* signed requests' validity, ms */
    int64_t connect_timeout_ms;           /* TCP+TLS connect, ms */
    int64_t request_timeout_ms;           /* whole request, ms */
    uint32_t retry_count_max;             /* retries of a safe request */
    int64_t backoff_ms_min;               /* first retry delay, ms */
    int64_t backoff_ms_max;               /* longest retry delay, ms */
    uint32_t breaker_failures_max;        /* consecutive failures that open the circuit */
    int64_t breaker_open_ms;              /* how long the circuit stays open, ms */
    int64_t listen_key_keepalive_ms;      /* Binance: user-data listenKey extended this often */
    uint32_t weight_limit_per_min;        /* Binance request weight per minute */
    uint32_t order_limit_per_min;         /* Binance orders per minute */
    bool close_position;                  /* Binance: closePosition stops, no qty */
    bool insecure_loopback_tls;           /* skip TLS checks; loopback hosts only */
    uint32_t seed;                        /* jitter seed; 0 = from the clock */
    char user_agent[TG_VENUE_UA_MAX];     /* User-Agent of every REST request; "" = none */
} tg_venue_config;

/* Defaults for kind: production URLs, recvWindow 5000, timeouts 3 s/10 s,
 * 3 retries 100..2000 ms, breaker 5 failures / 30 s, 2400 weight and 1200
 * orders per minute, listenKey keep-alive every 30 min (it lives 60). */
tg_venue_config tg_venue_config_default(tg_venue_kind kind);

/* "binance" / "bybit". */
const char *tg_venue_kind_str(tg_venue_kind kind);
const char *tg_venue_code_str(tg_venue_code code);

/* Instrument rules of one symbol. */
typedef struct tg_venue_rules {
    char symbol[TG_SYMBOL_MAX]; /* e.g. BTCUSDT */
    tg_dec tick;                /* price tick */
    tg_dec min_price;           /* lowest price */
    tg_dec max_price;           /* highest price; 0 = none */
    tg_dec step;                /* quantity step */
    tg_dec min_qty;             /* smallest quantity */
    bool trading;               /* open for trading */
} tg_venue_rules;

/* One open position (size > 0). */
typedef struct tg_venue_position {
    char symbol[TG_SYMBOL_MAX]; /* e.g. BTCUSDT */
    char key[TG_VENUE_KEY_MAX]; /* position key, "BTCUSDT:long" */
    tg_side side;               /* long or short */
    tg_dec size;                /* absolute size, > 0 */
    tg_dec entry;               /* entry price */
    tg_dec mark;                /* mark price; 0 when not given */
    int position_idx;           /* 0 one-way, 1 hedge long, 2 hedge short */
    int64_t update_ms;          /* exchange time of the last change, ms; 0 unknown */
} tg_venue_position;

typedef enum tg_venue_stop_state {
    TG_VSTOP_OPEN,      /* waiting for its trigger */
    TG_VSTOP_CANCELLED, /* cancelled or expired */
    TG_VSTOP_TRIGGERED, /* triggered, child order working */
    TG_VSTOP_FILLED,    /* triggered and filled */
    TG_VSTOP_REJECTED,  /* rejected at trigger */
} tg_venue_stop_state;

/* One protective stop order. */
typedef struct tg_venue_stop {
    char symbol[TG_SYMBOL_MAX];          /* e.g. BTCUSDT */
    char order_id[TG_VENUE_ID_MAX];      /* Binance algoId, Bybit orderId */
    char client_id[TG_VENUE_ID_MAX];     /* clientAlgoId / orderLinkId; "" if none */
    char position_key[TG_VENUE_KEY_MAX]; /* the position it protects */
    tg_side side;                        /* side of that position */
    tg_dec trigger;                      /* trigger price */
    tg_dec qty;                          /* quantity; 0 = whole position */
    int position_idx;                    /* 0 one-way, 1/2 hedge */
    bool owned;                          /* placed by trailguard */
    bool position_level;                 /* Bybit trading-stop stop-loss */
    bool reduce_only;                    /* reduce-only (never opens or grows a position) */
    bool close_position;                 /* closes the whole position (closePosition,
                                            closeOnTrigger, a position stop-loss) */
    bool regular;                        /* Binance: a regular order (/fapi/v1/order), not an
                                            algo order */
    char trigger_type[16];               /* MARK_PRICE, CONTRACT_PRICE, MarkPrice, LastPrice,
                                            IndexPrice; "" when not given */
    tg_venue_stop_state state;           /* see tg_venue_stop_state */
    int64_t update_ms;                   /* exchange time of the last change, ms */
} tg_venue_stop;

/* Set or replace the protective stop of a position. */
typedef struct tg_venue_stop_req {
    char symbol[TG_SYMBOL_MAX]; /* e.g. BTCUSDT */
    tg_side side;               /* side of the position */
    int position_idx;           /* 0 one-way, 1/2 hedge */
    tg_dec trigger;             /* new stop price, on the tick */
    tg_dec qty;                 /* position size, > 0 (reduce-only stops) */
    uint64_t gen;               /* placement number; the same gen gives the same client id */
    tg_venue_stop prev;         /* the stop in place; prev.order_id "" when none */
} tg_venue_stop_req;

/* How a set was carried out. */
typedef enum tg_venue_replace_mode {
    TG_REPLACE_NONE,              /* nothing sent: the price did not change */
    TG_REPLACE_ATOMIC,            /* one call (Bybit trading-stop) */
    TG_REPLACE_PLACE_THEN_CANCEL, /* new stop first, then cancel the old */
    TG_REPLACE_CANCEL_THEN_PLACE, /* exchange refused two stops: a window */
    TG_REPLACE_FIRST,             /* no previous stop */
} tg_venue_replace_mode;

typedef enum tg_venue_op_kind {
    TG_VOP_TIME,
    TG_VOP_RULES,
    TG_VOP_POSITIONS,
    TG_VOP_STOPS,
    TG_VOP_FIND_STOP,
    TG_VOP_SET_STOP,
    TG_VOP_CANCEL_STOP,
    TG_VOP_LISTEN_KEY,     /* internal: the Binance user-data stream's key */
    TG_VOP_CLOSE_POSITION, /* reduce-only market close */
    TG_VOP_MARK,           /* mark price over REST */
} tg_venue_op_kind;

/* The outcome of one operation. reply->rules, reply->positions and
 * reply->stops belong to the operation and are valid only during the done
 * callback: nothing else (another operation, a stream event) rewrites them
 * meanwhile, and they are freed when the callback returns. Copy what must
 * outlive it (tg_venue_waiter does). */
typedef struct tg_venue_reply {
    tg_venue_op_kind op;                /* which operation */
    tg_venue_error error;               /* code TG_VENUE_OK on success */
    int64_t server_time_ms;             /* TIME: exchange clock, ms */
    int64_t offset_ms;                  /* TIME: exchange − local clock, ms */
    const tg_venue_rules *rules;        /* RULES */
    size_t rules_count;                 /* RULES */
    const tg_venue_position *positions; /* POSITIONS */
    size_t positions_count;             /* POSITIONS */
    const tg_venue_stop *stops;         /* STOPS */
    size_t stops_count;                 /* STOPS */
    tg_venue_stop stop;                 /* SET/FIND: the stop now in place */
    bool found;                         /* FIND: the stop exists */
    bool already_gone;                  /* CANCEL: the exchange did not know it */
    bool old_left;                      /* SET: old stop's cancel failed; reconciler removes it */
    tg_venue_replace_mode mode;         /* SET */
    tg_dec mark;                        /* MARK: mark price */
    int64_t mark_ms;                    /* MARK: exchange time of that price, ms; 0 unknown */
    int64_t unprotected_us;             /* SET: time without a stop, µs (send → ack) */
    uint32_t requests;                  /* HTTP requests sent, retries included */
    int64_t latency_us;                 /* call → completion, µs */
    int64_t transport_us;               /* of which waiting on HTTP responses, µs */
} tg_venue_reply;

typedef void (*tg_venue_done_fn)(void *ctx, const tg_venue_reply *reply);

typedef struct tg_venue tg_venue;
struct uv_loop_s;

/* A venue on loop (which must outlive it). Checks the configuration: URLs,
 * TLS policy (http:// and insecure_loopback_tls only for 127.0.0.1 / ::1),
 * key and secret present. */
tg_status tg_venue_new(const tg_venue_config *cfg, struct uv_loop_s *loop, tg_venue **out,
                       tg_err *err);
/* Cancels everything in flight (each callback sees TG_VENUE_E_TRANSPORT)
 * and closes the streams; run the loop afterwards until it has no handles of
 * the venue left, then call tg_venue_free. */
void tg_venue_close(tg_venue *v);
void tg_venue_free(tg_venue *v);

tg_venue_kind tg_venue_get_kind(const tg_venue *v);

/* Exchange clock − local clock, ms, from the last sync. */
int64_t tg_venue_clock_offset_ms(const tg_venue *v);

/* The operations. Each returns TG_OK when queued (done is then called
 * exactly once, never from inside this call) or an error for bad input. */
tg_status tg_venue_sync_time(tg_venue *v, tg_venue_done_fn done, void *ctx, tg_err *err);
tg_status tg_venue_get_rules(tg_venue *v, tg_venue_done_fn done, void *ctx, tg_err *err);
tg_status tg_venue_get_positions(tg_venue *v, tg_venue_done_fn done, void *ctx, tg_err *err);
/* Open stop orders of symbol, or of every symbol when symbol is NULL,
 * whoever placed them: on Binance the algo orders (/fapi/v1/openAlgoOrders)
 * and the regular STOP / STOP_MARKET orders (/fapi/v1/openOrders); on Bybit
 * the conditional orders and the position stop-loss (/v5/order/realtime,
 * orderFilter=StopOrder). */
tg_status tg_venue_get_stops(tg_venue *v, const char *symbol, tg_venue_done_fn done, void *ctx,
                             tg_err *err);
/* Looks a stop up by order id or client id, tolerating an exchange that does
 * not know a just-placed order yet (a few bounded re-reads). */
tg_status tg_venue_find_stop(tg_venue *v, const char *symbol, const char *order_id,
                             const char *client_id, tg_venue_done_fn done, void *ctx, tg_err *err);
/* Sets (or replaces req->prev by) a stop at req->trigger. Nothing is sent
 * when prev already has that trigger and quantity. Refused with
 * TG_VENUE_E_NO_POSITION when the venue knows the position is flat. */
tg_status tg_venue_set_stop(tg_venue *v, const tg_venue_stop_req *req, tg_venue_done_fn done,
                            void *ctx, tg_err *err);
/* Cancels stop; an exchange that no longer knows it is success
 * (reply.already_gone). */
tg_status tg_venue_cancel_stop(tg_venue *v, const tg_venue_stop *stop, tg_venue_done_fn done,
                               void *ctx, tg_err *err);

/* Closes a position at market, reduce-only: qty of it, on the side opposite
 * to `side` (Binance POST /fapi/v1/order type=MARKET reduceOnly=true; Bybit
 * POST /v5/order/create orderType=Market reduceOnly=true). Never retried:
 * after a transport or server error the outcome is unknown, so re-read the
 * positions. An exchange that has nothing to reduce answers
 * TG_VENUE_E_NO_POSITION. */
tg_status tg_venue_close_position(tg_venue *v, const char *symbol, tg_side side, tg_dec qty,
                                  int position_idx, tg_venue_done_fn done, void *ctx, tg_err *err);

/* The mark price of symbol over REST, for when the stream is stale (Binance
 * GET /fapi/v1/premiumIndex, Bybit GET /v5/market/tickers): reply.mark and
 * reply.mark_ms. */
tg_status tg_venue_get_mark(tg_venue *v, const char *symbol, tg_venue_done_fn done, void *ctx,
                            tg_err *err);

/* Blocking use without a loop of one's own. The waiter keeps copies of the
 * reply's arrays (reply.rules, .positions, .stops point into them) until
 * tg_venue_waiter_release(). */
typedef struct tg_venue_waiter {
    bool done;            /* set by tg_venue_waiter_fn */
    tg_venue_reply reply; /* copy of the reply, arrays included */
    void *owned;          /* the arrays' copies; freed by tg_venue_waiter_release() */
} tg_venue_waiter;
void tg_venue_waiter_fn(void *ctx, const tg_venue_reply *reply);
/* Frees the copies and resets w for another operation. */
void tg_venue_waiter_release(tg_venue_waiter *w);
/* Runs the loop until w->done or timeout_ms; TG_E_UNAVAILABLE on timeout. */
tg_status tg_venue_wait(tg_venue *v, tg_venue_waiter *w, int64_t timeout_ms, tg_err *err);

/* Position key "SYMBOL:long" / "SYMBOL:short"; false when it does not fit. */
bool tg_venue_position_key(const char *symbol, tg_side side, char *buf, size_t size);
/* trailguard's client id for a placement: "tg-SYMBOL:l-<gen base36>". */
bool tg_venue_client_id(const char *symbol, tg_side side, uint64_t gen, char *buf, size_t size);
/* True when client_id is trailguard's; fills the position key. */
bool tg_venue_client_id_parse(const char *client_id, char *key, size_t key_size);

/* ---- streams ---------------------------------------------------------- */

typedef enum tg_venue_event_kind {
    TG_VEV_MARK,         /* mark price of a symbol */
    TG_VEV_POSITION,     /* a position opened, changed or closed (size 0) */
    TG_VEV_STOP,         /* a stop order placed, cancelled, triggered, filled */
    TG_VEV_CONNECTED,    /* a stream (re)connected and (re)subscribed */
    TG_VEV_DISCONNECTED, /* a stream dropped; it reconnects by itself */
} tg_venue_event_kind;

typedef enum tg_venue_stream {
    TG_VSTREAM_MARKET,  /* mark prices */
    TG_VSTREAM_ACCOUNT, /* positions and orders */
} tg_venue_stream;

typedef struct tg_venue_event {
    tg_venue_event_kind kind;   /* which event */
    tg_venue_stream stream;     /* which stream it came from */
    int64_t ts_ms;              /* exchange event time, ms */
    char symbol[TG_SYMBOL_MAX]; /* MARK */
    tg_dec mark;                /* MARK */
    tg_venue_position position; /* POSITION; size 0 = closed */
    tg_venue_stop stop;         /* STOP */
} tg_venue_event;

typedef void (*tg_venue_event_fn)(void *ctx, const tg_venue_event *ev);

/* Where stream events go; set before subscribing. */
void tg_venue_on_event(tg_venue *v, tg_venue_event_fn fn, void *ctx);
/* Adds or removes a symbol on the mark-price stream; connects on first use,
 * re-subscribes everything after a reconnect. */
tg_status tg_venue_mark_subscribe(tg_venue *v, const char *symbol, tg_err *err);
tg_status tg_venue_mark_unsubscribe(tg_venue *v, const char *symbol, tg_err *err);
/* Closes and reopens both streams (each re-subscribes and emits
 * DISCONNECTED then CONNECTED), as the daemon does every 23 h before the
 * exchanges' own 24 h cut-off. */
void tg_venue_streams_renew(tg_venue *v);
/* Starts the account stream (Binance: listenKey + keep-alive; Bybit: auth). */
tg_status tg_venue_account_start(tg_venue *v, tg_err *err);

typedef struct tg_venue_stats {
    uint64_t requests;       /* HTTP requests sent */
    uint64_t retries;        /* of which retries */
    uint64_t rate_waits;     /* requests held back by pacing */
    uint64_t time_resyncs;   /* clock re-syncs after a timestamp error */
    uint64_t breaker_opens;  /* times the circuit opened */
    uint64_t ws_connects;    /* WebSocket connections made */
    uint64_t ws_messages;    /* WebSocket messages parsed */
    uint32_t used_weight_1m; /* Binance X-MBX-USED-WEIGHT-1M, last seen */
    uint32_t order_count_1m; /* Binance X-MBX-ORDER-COUNT-1M, last seen */
    int32_t limit_remaining; /* Bybit X-Bapi-Limit-Status, last seen; −1 unknown */
    bool breaker_open;       /* circuit open now */
} tg_venue_stats;

tg_venue_stats tg_venue_get_stats(const tg_venue *v);

#endif
