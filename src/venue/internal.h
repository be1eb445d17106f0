/*
 * venue/internal.h — the parts of a tg_venue shared by the core (queue,
 * pacing, retries, time sync, circuit breaker) and the two adapters, which
 * only build requests and read responses.
 */
#ifndef TG_VENUE_INTERNAL_H
#define TG_VENUE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "trailguard/venue.h"
#include "venue/http.h"
#include "venue/sign.h"
#include "venue/wire.h"

#define TG_VENUE_OPS_MAX       256 /* operations queued or in flight */
#define TG_VENUE_PAGES_MAX     50  /* pages read by one listing */
#define TG_VENUE_FIND_READS    4   /* reads of a just-placed order before "missing" */
#define TG_VENUE_FIND_DELAY_MS 150 /* between those reads, ms */
#define TG_VENUE_RETRY_AFTER_S 1   /* wait after a 429 without Retry-After, s */
#define TG_VENUE_BAN_S         120 /* wait after a 418 without Retry-After, s */
#define TG_VENUE_PACE_PCT      90  /* share of a limit used before pacing starts, % */

typedef struct tg_venue_op tg_venue_op;
typedef struct tg_ws tg_ws;
struct lws_context;

/* One HTTP request, before signing. */
typedef struct tg_vreq {
    const char *method; /* GET, POST, PUT, DELETE */
    const char *path;   /* /fapi/v1/algoOrder */
    tg_payload params;  /* query string, or JSON body for a Bybit POST */
    bool sign;          /* a signed (private) request */
    bool key_only;      /* API key header, no signature (listenKey) */
    bool retry_safe;    /* idempotent or deduplicated by a client id */
    uint32_t weight;    /* Binance request weight */
    uint32_t reserve;   /* weight a later step of the same operation needs at once */
    bool order;         /* counts as an order (Binance ORDERS limit) */
} tg_vreq;

/* A reduce-only market close (CLOSE_POSITION). */
typedef struct tg_venue_close_req {
    char symbol[TG_SYMBOL_MAX]; /* e.g. BTCUSDT */
    tg_side side;               /* side of the position being closed */
    tg_dec qty;                 /* quantity to close, > 0 */
    int position_idx;           /* 0 one-way, 1/2 hedge */
} tg_venue_close_req;

typedef enum tg_venue_op_state {
    TG_VENUE_OP_WAITING,  /* queued until not_before_us */
    TG_VENUE_OP_INFLIGHT, /* its HTTP request is out */
} tg_venue_op_state;

struct tg_venue_op {
    tg_venue *v;                     /* owner */
    tg_venue_done_fn done;           /* completion */
    void *ctx;                       /* completion context */
    tg_venue_op_state state;         /* waiting or in flight */
    int64_t not_before_us;           /* earliest send, monotonic µs */
    int step;                        /* adapter-defined step */
    tg_vreq req;                     /* the request of this step */
    tg_vreq saved;                   /* request put aside during a time re-sync */
    bool resyncing;                  /* req is a time request for saved */
    bool resynced;                   /* this step already re-synced once */
    uint32_t attempts;               /* sends of this step's request */
    int64_t sent_wall_ms;            /* wall clock at the last send, ms */
    tg_venue_reply reply;            /* what the caller will see */
    tg_venue_stop_req set;           /* SET */
    tg_venue_close_req close;        /* CLOSE_POSITION */
    tg_venue_stop target;            /* CANCEL, FIND */
    char symbol[TG_SYMBOL_MAX];      /* STOPS filter; "" = all */
    char cursor[TG_WIRE_CURSOR_MAX]; /* next page */
    uint32_t pages;                  /* pages read */
    uint32_t reads;                  /* FIND reads */
    int64_t start_us;                /* first send, µs */
    int64_t window_start_us;         /* SET cancel-then-place: cancel sent, µs */
    bool checked_position;           /* SET: positions re-read once */
    bool finished;                   /* reply final; completes on the next loop turn */
    tg_venue_rules *rules;           /* this operation's listing (reply.rules); owned */
    tg_venue_position *positions;    /* this operation's listing (reply.positions); owned */
    tg_venue_stop *stops;            /* this operation's listing or scratch; owned */
    tg_venue_op *next;               /* queue */
};

/* What an adapter does with a response (resp NULL: start the operation). */
typedef enum tg_vnext {
    TG_VNEXT_SEND,  /* op->req holds the next request */
    TG_VNEXT_DELAY, /* resend op->req after op->not_before_us */
    TG_VNEXT_DONE,  /* op->reply is final */
} tg_vnext;

typedef struct tg_vadapter {
    /* Starts or advances op. e describes resp (code OK on success). */
    tg_vnext (*advance)(tg_venue *v, tg_venue_op *op, const tg_http_resp *resp,
                        const tg_venue_error *e);
    /* Reads an exchange error out of a response into e. */
    void (*decode_error)(const tg_venue *v, const tg_http_resp *resp, tg_venue_error *e);
    /* Fills url, body and headers for req, signed with ts_ms. */
    bool (*build)(const tg_venue *v, const tg_vreq *req, int64_t ts_ms, char *url, tg_payload *body,
                  char headers[][TG_HTTP_HEADER_MAX], size_t *headers_count);
    /* The request that reads the server time, and its decoder. */
    void (*time_req)(tg_vreq *req);
    tg_status (*parse_time)(const char *body, size_t len, int64_t *ms, tg_err *err);
} tg_vadapter;

extern const tg_vadapter tg_venue_binance;
extern const tg_vadapter tg_venue_bybit;

struct tg_venue {
    tg_venue_config cfg;                  /* configuration, secret included */
    tg_sign_key *sign_key;                /* the secret, set up for signing */
    const tg_vadapter *ad;                /* the exchange's adapter */
    uv_loop_t *loop;                      /* caller's loop */
    tg_http *http;                        /* REST transport */
    uv_timer_t timer;                     /* wakes the queue */
    bool timer_open;                      /* timer not yet closed */
    tg_venue_op *ops;                     /* queued and in-flight operations */
    size_t ops_count;                     /* length of ops */
    bool closing;                         /* tg_venue_close was called */
    int64_t offset_ms;                    /* exchange − local wall clock, ms */
    bool time_synced;                     /* offset_ms came from the exchange */
    int64_t pause_until_us;               /* 429: nothing leaves before, µs */
    uint32_t failures;                    /* consecutive transport/server failures */
    int64_t breaker_until_us;             /* circuit open until, µs; 0 = closed */
    bool half_open;                       /* one probe allowed after the open period */
    int64_t weight_minute;                /* exchange minute the weight counts belong to */
    uint32_t weight_used;                 /* request weight used in that minute */
    uint32_t orders_used;                 /* orders placed in that minute */
    int32_t limit_remaining;              /* Bybit X-Bapi-Limit-Status; −1 unknown */
    int64_t limit_reset_ms;               /* Bybit X-Bapi-Limit-Reset-Timestamp */
    uint64_t rng;                         /* jitter state */
    tg_venue_stats stats;                 /* counters */
    tg_venue_position *positions;         /* last POSITIONS listing, kept current by the stream */
    size_t positions_count;               /* entries in positions */
    bool positions_known;                 /* positions was read at least once */
    tg_venue_event_fn on_event;           /* stream events */
    void *on_event_ctx;                   /* their context */
    tg_ws *ws_market;                     /* mark-price stream; NULL until used */
    tg_ws *ws_account;                    /* account stream; NULL until started */
    struct lws_context *lws;              /* WebSocket context on loop; NULL until used */
    char listen_key[TG_VENUE_ID_MAX * 2]; /* Binance user-data listenKey */
};

/* Wall clock, ms, and the exchange's clock as we estimate it. */
int64_t tg_venue_wall_ms(void);
int64_t tg_venue_server_ms(const tg_venue *v);

/* Sets e to code with a sentence "<venue> <what>: <detail>", redacted. */
void tg_venue_fail(const tg_venue *v, tg_venue_error *e, tg_venue_code code, const char *what,
                   const char *detail);

/* Records a position seen on a listing or the stream (size 0 removes it). */
void tg_venue_position_seen(tg_venue *v, const tg_venue_position *p);
/* The known position of key, or NULL. */
const tg_venue_position *tg_venue_position_find(const tg_venue *v, const char *key);

/* Unlinks op, calls its callback and frees it, with the arrays its reply
 * points into. */
void tg_venue_op_complete(tg_venue *v, tg_venue_op *op);

/* op's own arrays, allocated at their bound on first use; NULL when out of
 * memory. They live until op completes, so a reply never points into memory
 * another operation or a stream event rewrites. */
tg_venue_rules *tg_venue_op_rules(tg_venue_op *op);
tg_venue_position *tg_venue_op_positions(tg_venue_op *op);
tg_venue_stop *tg_venue_op_stops(tg_venue_op *op);

/* A listing replaces the positions the venue knows. */
void tg_venue_positions_replace(tg_venue *v, const tg_venue_position *p, size_t count);

/* Adapter helpers: start a fresh request on op. */
void tg_vreq_init(tg_vreq *req, const char *method, const char *path, bool sign, uint32_t weight);

/* Binance: creates (or, with keepalive, extends) the user-data listenKey;
 * the key lands in v->listen_key. */
tg_status tg_venue_listen_key(tg_venue *v, bool keepalive, tg_venue_done_fn done, void *ctx,
                              tg_err *err);

/* Streams (ws.c). */
void tg_ws_close_all(tg_venue *v);
/* After the loop has run past tg_ws_close_all: frees the lws context. */
void tg_ws_free_context(tg_venue *v);
void tg_venue_emit(tg_venue *v, const tg_venue_event *ev);

#endif
