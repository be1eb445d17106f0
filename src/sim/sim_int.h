/*
 * sim/sim_int.h — the emulator's internal state, shared by its files.
 *
 * All state below is owned by the loop thread; other threads reach it only
 * through tg_sim_call, which runs the request inside the loop. So there is no
 * lock around the market, only around the hand-over of one call.
 *
 * Files: http.c (byte parsers), buf.c (response text), crypto.c (HMAC,
 * WebSocket accept key), market.c (instruments, clocks, accounts, positions,
 * orders and their history, unprotected windows, request log, fault rules),
 * trigger.c (stop triggers on the mark and the events of both venues),
 * binance.c / bybit.c (REST endpoints and their rate limits), control.c
 * (/sim/ endpoints), scenario.c (accounts and scenario files, price paths),
 * ws.c (streams), server.c (libuv sockets, connection limits, thread, public
 * API).
 */
#ifndef TG_SIM_INT_H
#define TG_SIM_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "sim/http.h"
#include "trailguard/decimal.h"
#include "trailguard/error.h"
#include "trailguard/sim.h"

#define SIM_ACCOUNTS_MAX      16         /* accounts over both venues */
#define SIM_SYMBOLS_MAX       4096       /* instruments: the built-in ones and the generated */
#define SIM_ORDERS_DEF        1024       /* open orders over all accounts, by default */
#define SIM_ORDERS_MAX        65536      /* open orders over all accounts, at most */
#define SIM_STOPS_PER_SYMBOL  10         /* open conditional orders per account and symbol */
#define SIM_BN_BAN_MS         120000     /* a Binance IP ban: the first is 2 minutes */
#define SIM_BN_BAN_MS_MAX     259200000  /* the longest: 3 days for repeat offenders */
#define SIM_LOG_MAX           8192       /* request-log entries kept (a ring) */
#define SIM_MARKS_LOG_MAX     8192       /* mark changes kept with their push time (a ring) */
#define SIM_FAULTS_MAX        32         /* fault rules at once */
#define SIM_CONNS_MAX         512        /* open TCP connections over both ports */
#define SIM_CONNS_PORT_MAX    240        /* open connections per port; the oldest idle goes first */
#define SIM_HEADER_TIMEOUT_MS 10000      /* a started request must be complete within this */
#define SIM_IDLE_TIMEOUT_MS   60000      /* a keep-alive connection without a request closes */
#define SIM_OUT_BYTES_MAX     (1u << 20) /* bytes queued for one client before it is cut off */
#define SIM_OUT_MSGS_MAX      4096       /* writes queued for one client before it is cut off */
#define SIM_SUBS_DEF          1024       /* stream subscriptions per WebSocket, by default */
#define SIM_SUBS_MAX          8192       /* stream subscriptions per WebSocket, at most */
#define SIM_NAME_MAX          32         /* bytes of an account name */
#define SIM_KEY_MAX           96         /* bytes of an API key or secret */
#define SIM_CLIENT_ID_MAX     40         /* bytes of a client order id (36 + NUL) */
#define SIM_LOG_PARAMS_MAX    384        /* bytes of parameters kept per logged request */
#define SIM_LOG_PATH_MAX      64         /* bytes of a logged path */
#define SIM_LOG_UA_MAX        128        /* bytes of a logged User-Agent, NUL included */
#define SIM_FAULT_PATH_MAX    64         /* bytes of a fault's path or stream name */
#define SIM_WINDOWS_KEPT      16         /* most recent unprotected windows listed per position */
#define SIM_BYBIT_BUCKETS     64         /* (account, endpoint) rate-limit counters */
#define SIM_RESP_MAX          (8u << 20) /* bytes of one response body */
#define SIM_LISTEN_KEY_LEN    64         /* characters of a listenKey */
#define SIM_TICK_MS           100        /* period of the loop's timer */
#define SIM_PATH_PRICES_MAX   1000000    /* prices of one price path */
#define SIM_HISTORY_MAX       256        /* closed orders kept for lookups (a ring) */
#define SIM_STATUS_MAX        16         /* bytes of a final order status */
#define SIM_DELAYED_MAX       256        /* stream messages held by latency faults at once */
#define SIM_INST_HASH         8192       /* slots of the symbol hash (2 × SIM_SYMBOLS_MAX) */

typedef enum sim_venue { SIM_BINANCE = 0, SIM_BYBIT = 1, SIM_VENUES = 2 } sim_venue;

const char *sim_venue_name(sim_venue v);

/* ---- buf.c: a bounded, growable text buffer for responses ---- */

typedef struct sim_buf {
    char *p;       /* text, NUL-terminated */
    size_t len;    /* bytes used */
    size_t cap;    /* bytes allocated */
    bool overflow; /* SIM_RESP_MAX was reached; the text is cut */
} sim_buf;

void sim_buf_init(sim_buf *b);
void sim_buf_free(sim_buf *b);
void sim_buf_reset(sim_buf *b);
void sim_buf_add(sim_buf *b, const char *s, size_t n);
void sim_buf_puts(sim_buf *b, const char *s);
void sim_buf_printf(sim_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal, quoted and escaped. */
void sim_buf_jstr(sim_buf *b, const char *s);
/* A decimal as a quoted JSON string with at least dp places. */
void sim_buf_jdec(sim_buf *b, tg_dec v, int dp);
/* Copies src into dst[cap], cut to fit and always terminated. */
void sim_strlcpy(char *dst, const char *src, size_t cap);

/* Numbers read from the network are checked for range before any cast: a
 * double outside int64_t (1e400 is inf) makes the cast undefined. */
#define SIM_JSON_INT_MAX 9007199254740992LL /* 2^53: integers a JSON double holds exactly */
struct cJSON;
/* A JSON number that is an integer within [min, max] into *out; false (and
 * *out untouched) for anything else. */
bool sim_json_int(const struct cJSON *v, int64_t min, int64_t max, int64_t *out);
/* Decimal digits only (an optional '-' when min < 0), within [min, max]. */
bool sim_text_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* ---- crypto.c ---- */

#define SIM_HEX_SHA256 65 /* bytes of a hex SHA-256 with the NUL */

/* hex(HMAC-SHA256(key=secret, msg)) in lower case. */
void sim_hmac_hex(const char *secret, const char *msg, size_t msg_len, char out[SIM_HEX_SHA256]);
/* Does the hex signature (any case) equal HMAC(secret, msg)? Constant time. */
bool sim_hmac_verify(const char *secret, const char *msg, size_t msg_len, const char *sig_hex);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key; out holds 32 bytes. */
bool sim_ws_accept_key(const char *client_key, char out[32]);

/* ---- instruments (market.c) ---- */

#define SIM_INST_TEXT_MAX 24 /* bytes of an instrument's symbol or number as on the wire */

/* One instrument: its filters as the wire shows them, and the same parsed
 * once (the hot paths compare decimals, not text). */
typedef struct sim_instrument {
    char symbol[SIM_INST_TEXT_MAX];    /* "BTCUSDT" */
    char base[SIM_INST_TEXT_MAX];      /* "BTC" */
    char quote[SIM_INST_TEXT_MAX];     /* "USDT" */
    char tick[SIM_INST_TEXT_MAX];      /* price tick, as on the wire */
    char min_price[SIM_INST_TEXT_MAX]; /* PRICE_FILTER minPrice */
    char max_price[SIM_INST_TEXT_MAX]; /* PRICE_FILTER maxPrice */
    char step[SIM_INST_TEXT_MAX];      /* quantity step */
    char min_qty[SIM_INST_TEXT_MAX];   /* LOT_SIZE minQty */
    char max_qty[SIM_INST_TEXT_MAX];   /* LOT_SIZE maxQty */
    char max_mkt[SIM_INST_TEXT_MAX];   /* MARKET_LOT_SIZE maxQty */
    char notional[SIM_INST_TEXT_MAX];  /* MIN_NOTIONAL */
    char mark0[SIM_INST_TEXT_MAX];     /* mark price at start */
    int price_precision;               /* pricePrecision: more decimals than this is -1111 */
    int price_dp;                      /* decimal places of tick */
    int qty_dp;                        /* decimal places of step */
    tg_dec tick_d;                     /* tick, parsed */
    tg_dec min_price_d;                /* min_price, parsed */
    tg_dec max_price_d;                /* max_price, parsed */
    tg_dec step_d;                     /* step, parsed */
    tg_dec min_qty_d;                  /* min_qty, parsed */
    tg_dec max_qty_d;                  /* max_qty, parsed */
    tg_dec notional_d;                 /* notional, parsed */
} sim_instrument;

/* The scenario's "instruments" key: count symbols PREFIX0001QUOTE… after
 * the built-in ones, all with the same filters. */
typedef struct sim_inst_spec {
    int64_t count;                  /* symbols generated, 0 = none */
    char prefix[SIM_INST_TEXT_MAX]; /* e.g. "S" */
    char quote[SIM_INST_TEXT_MAX];  /* e.g. "USDT" */
    char tick[SIM_INST_TEXT_MAX];   /* price tick */
    char step[SIM_INST_TEXT_MAX];   /* quantity step */
    char start[SIM_INST_TEXT_MAX];  /* mark price at start */
} sim_inst_spec;

/* The built-in instruments into sim->inst (docs/sim.md lists them). */
tg_status sim_instruments_init(tg_sim *sim, tg_err *err);
/* Generates spec's instruments after the built-in ones; refused while a
 * position or an order is open, and when other instruments were generated
 * already (the same spec again is a no-op). */
tg_status sim_instruments_generate(tg_sim *sim, const sim_inst_spec *spec, tg_err *err);
/* Points every account slot at its row of sim->pos_block (after the
 * accounts were (re)loaded, which clears the slots). */
void sim_positions_attach(tg_sim *sim);
/* Index of symbol in sim->inst, or -1. */
int sim_instrument_find(const tg_sim *sim, const char *symbol);
tg_dec sim_idec(const char *literal);                   /* a table literal as tg_dec */
int sim_price_dp(const tg_sim *sim, int symbol);        /* decimal places of the symbol's tick */
int sim_price_precision(const tg_sim *sim, int symbol); /* decimal places a price may have */
int sim_qty_dp(const tg_sim *sim, int symbol);          /* decimal places of the symbol's step */

/* ---- accounts, positions, orders ---- */

/* When an open position had no stop on the exchange, measured on the
 * emulator's monotonic clock. */
typedef struct sim_windows {
    bool open;                                 /* a window is open now */
    int64_t since_us;                          /* when the open one started */
    uint64_t count;                            /* windows closed so far */
    int64_t total_us;                          /* their summed length */
    int64_t longest_us;                        /* the longest one */
    int64_t recent_start_us[SIM_WINDOWS_KEPT]; /* starts of the latest windows (a ring) */
    int64_t recent_len_us[SIM_WINDOWS_KEPT];   /* their lengths */
} sim_windows;

typedef struct sim_position {
    tg_dec size;        /* signed: > 0 long, < 0 short, 0 flat */
    tg_dec entry;       /* average entry price */
    tg_dec stop_loss;   /* Bybit position stopLoss (trading-stop); 0 = none */
    uint64_t sl_order;  /* id of the Bybit StopLoss order bound to it, 0 = none */
    int64_t updated_ms; /* server time of the last change */
    sim_windows win;    /* unprotected windows */
} sim_position;

typedef struct sim_account {
    sim_venue venue;                         /* which exchange */
    char name[SIM_NAME_MAX];                 /* name used by the control endpoint */
    char key[SIM_KEY_MAX];                   /* API key */
    char secret[SIM_KEY_MAX];                /* API secret; never logged or echoed */
    char listen_key[SIM_LISTEN_KEY_LEN + 1]; /* Binance user-stream key, "" if none */
    int64_t listen_key_expiry_ms;            /* server time it expires */
    sim_position *pos;                       /* one-way positions by symbol index, inst_count */
} sim_account;

typedef enum sim_otype {
    SIM_OT_LIMIT,
    SIM_OT_MARKET,
    SIM_OT_STOP_MARKET,
    SIM_OT_TAKE_PROFIT_MARKET,
} sim_otype;

const char *sim_otype_name(sim_otype t);

typedef struct sim_order {
    bool live;                         /* slot in use: the order is open */
    bool conditional;                  /* a stop (Binance algo order / Bybit conditional) */
    bool position_sl;                  /* Bybit: the StopLoss of trading-stop */
    int account;                       /* index into accounts */
    int symbol;                        /* index into sim_instruments */
    uint64_t id;                       /* algoId / orderId */
    char client_id[SIM_CLIENT_ID_MAX]; /* clientAlgoId / orderLinkId */
    sim_otype type;                    /* order type */
    bool buy;                          /* side */
    bool rise;                         /* fires when mark >= trigger (else mark <= trigger) */
    tg_dec qty;                        /* quantity; 0 with close_position */
    tg_dec price;                      /* limit price; 0 for market */
    tg_dec trigger;                    /* trigger price of a conditional */
    bool close_position;               /* closes the whole position */
    bool reduce_only;                  /* may only reduce */
    bool mark_price;                   /* workingType MARK_PRICE / triggerBy MarkPrice */
    bool price_protect;                /* echoed only */
    int64_t created_ms;                /* server time */
    int64_t updated_ms;                /* server time */
} sim_order;

/* ---- faults ---- */

typedef enum sim_fault_kind {
    SIM_FAULT_LATENCY,
    SIM_FAULT_DROP,
    SIM_FAULT_HTTP5XX,
    SIM_FAULT_TIMEOUT,
    SIM_FAULT_STALE,
    SIM_FAULT_REORDER,
} sim_fault_kind;

typedef struct sim_fault {
    bool live;                     /* rule in force */
    char path[SIM_FAULT_PATH_MAX]; /* REST path, "stream:<name>" or "*" */
    sim_fault_kind kind;           /* what happens */
    int64_t ms;                    /* latency, or stale duration (0 = count only) */
    int64_t remaining;             /* requests/messages still affected; -1 = until reset */
    int64_t until_us;              /* stale by duration: end time once started */
} sim_fault;

/* ---- request log ---- */

typedef struct sim_log_entry {
    uint64_t seq;                    /* 1, 2, … in arrival order */
    sim_venue venue;                 /* which port */
    char account[SIM_NAME_MAX];      /* account name, "" if none matched */
    char method[SIM_METHOD_MAX];     /* HTTP method */
    char path[SIM_LOG_PATH_MAX];     /* path */
    char params[SIM_LOG_PARAMS_MAX]; /* query‖body without the signature */
    char user_agent[SIM_LOG_UA_MAX]; /* the User-Agent header, cut to fit; "" when none */
    int64_t recv_us;                 /* emulator clock at receipt */
    int64_t resp_us;                 /* emulator clock at the answer; 0 = never answered */
    int status;                      /* HTTP status */
    int code;                        /* Binance code / Bybit retCode; 0 = success */
} sim_log_entry;

/* ---- mark log: when each mark change went out on the streams ---- */

typedef struct sim_mark_entry {
    uint64_t seq;    /* 1, 2, … in the order the marks changed */
    int symbol;      /* index into sim_instruments */
    tg_dec price;    /* the new mark */
    int64_t push_us; /* emulator clock once its stream frames were written */
} sim_mark_entry;

/* ---- price paths ---- */

typedef enum sim_path_kind { SIM_PATH_NONE, SIM_PATH_WALK, SIM_PATH_LIST } sim_path_kind;

typedef struct sim_path {
    sim_path_kind kind;  /* none, seeded walk, or a list (CSV or explicit steps) */
    int64_t interval_ms; /* time between steps */
    int64_t step_bps;    /* walk: largest move per step, basis points */
    tg_dec *prices;      /* list: prices in order */
    size_t count;        /* list: number of prices */
    size_t next;         /* list: next index */
    bool loop;           /* list: start over at the end */
    int64_t due_ms;      /* loop-relative time of the next step */
} sim_path;

/* ---- rate limits ---- */

typedef struct sim_bybit_bucket {
    int account;                 /* account index */
    char path[SIM_LOG_PATH_MAX]; /* endpoint */
    int64_t second;              /* server-time second of the counter */
    int used;                    /* requests in that second */
} sim_bybit_bucket;

typedef struct sim_rate {
    int64_t bn_minute;                   /* server-time minute of the Binance counters */
    int64_t bn_weight;                   /* weight used this minute (all loopback is one IP) */
    int64_t bn_orders[SIM_ACCOUNTS_MAX]; /* orders placed this minute, per account (per UID) */
    int64_t bn_weight_max;               /* REQUEST_WEIGHT per minute (2400) */
    int64_t bn_orders_max;               /* ORDERS per minute (1200) */
    bool bn_limited;                     /* a 429 was answered this minute */
    int64_t bn_ban_until_ms;             /* 418 until this server time */
    int64_t bn_ban_ms;                   /* length of a ban (2 minutes, as Binance's first) */
    int bybit_max; /* 0 = documented per-endpoint limits, else this per second */
    sim_bybit_bucket bucket[SIM_BYBIT_BUCKETS]; /* per account and endpoint */
} sim_rate;

/* ---- the server side ---- */

typedef struct sim_conn sim_conn;
typedef struct sim_delayed sim_delayed; /* a stream message held by a latency fault (server.c) */

/* An answer being built for one request. */
typedef struct sim_resp {
    int status;         /* HTTP status */
    int code;           /* error code for the log */
    sim_buf body;       /* body text */
    char headers[1024]; /* extra header lines, each ending in CRLF */
    size_t headers_len; /* bytes used */
    const char *ctype;  /* Content-Type */
    int64_t delay_ms;   /* latency fault */
    bool drop;          /* close without answering */
    bool hang;          /* never answer */
    bool stale;         /* stale-read fault: open orders are not seen */
    int account;        /* account that signed it, -1 if none */
} sim_resp;

void sim_resp_header(sim_resp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A call from another thread waiting for the loop. */
typedef struct sim_call {
    const char *method; /* HTTP method */
    const char *target; /* path and query */
    const char *body;   /* JSON or NULL */
    char *out;          /* answer */
    size_t out_cap;     /* bytes of out */
    int status;         /* HTTP status of the answer */
    bool done;          /* the loop has answered */
} sim_call;

struct tg_sim {
    tg_sim_config cfg;                                    /* as given (paths copied below) */
    char scenario_path[1024];                             /* copy of cfg.scenario_path */
    char accounts_path[1024];                             /* copy of cfg.accounts_path */
    uint64_t rng;                                         /* xorshift state from the seed */
    sim_account acct[SIM_ACCOUNTS_MAX];                   /* accounts */
    size_t acct_count;                                    /* accounts in use */
    sim_instrument *inst;                                 /* instruments, inst_count */
    size_t inst_count;                                    /* built-in + generated */
    size_t inst_builtin;                                  /* the first ones, built in */
    int32_t *inst_hash;                                   /* SIM_INST_HASH slots: index or -1 */
    sim_inst_spec inst_spec;                              /* what generated the rest */
    sim_position *pos_block;                              /* SIM_ACCOUNTS_MAX × inst_count */
    tg_dec mark[SIM_SYMBOLS_MAX];                         /* mark price per symbol */
    tg_dec mark_prev[SIM_SYMBOLS_MAX];                    /* previous mark (tick direction) */
    sim_path path[SIM_SYMBOLS_MAX];                       /* price path per symbol */
    sim_order *orders;                                    /* open orders, orders_max slots */
    size_t orders_max;                                    /* tg_sim_config.orders_max */
    size_t subs_max;                                      /* tg_sim_config.subs_max */
    bool by_symbol_stale;                                 /* an order slot was taken since */
    uint32_t *by_symbol_start;                            /* inst_count + 1: CSR of slots */
    uint32_t *by_symbol;                                  /* orders_max: live slots by symbol */
    sim_order history[SIM_HISTORY_MAX];                   /* closed orders, a ring */
    char history_status[SIM_HISTORY_MAX][SIM_STATUS_MAX]; /* their final status */
    uint64_t history_count;                               /* orders closed so far */
    uint64_t next_order_id;                               /* next orderId / algoId */
    uint64_t event_seq;                                   /* sequence for stream ids */
    sim_fault faults[SIM_FAULTS_MAX];                     /* fault rules */
    sim_log_entry *log;                                   /* SIM_LOG_MAX entries */
    uint64_t log_seq;                                     /* last sequence number given */
    sim_mark_entry *marks_log;                            /* SIM_MARKS_LOG_MAX entries */
    uint64_t marks_seq;                                   /* last mark sequence number given */
    int64_t clock_offset_ms;                              /* server-time skew */
    int64_t mono0_us;                                     /* monotonic time at creation */
    sim_rate rate;                                        /* rate-limit counters */
    /* server */
    uv_loop_t loop;                        /* the emulator's loop */
    uv_tcp_t listener[SIM_VENUES];         /* one per venue */
    uint16_t port[SIM_VENUES];             /* bound ports */
    uv_timer_t timer;                      /* SIM_TICK_MS period: paths, streams */
    uv_async_t wake;                       /* calls and stop requests */
    uv_check_t reader;                     /* parses what this turn read, after all reads */
    pthread_t thread;                      /* runs the loop */
    bool started;                          /* the thread runs */
    bool stopping;                         /* stop was asked */
    int64_t ticks;                         /* timer ticks so far */
    sim_conn *conns[SIM_CONNS_MAX];        /* open connections */
    uint64_t next_conn_id;                 /* ids for connections */
    int64_t header_timeout_ms;             /* SIM_HEADER_TIMEOUT_MS unless POST /sim/limits */
    int64_t idle_timeout_ms;               /* SIM_IDLE_TIMEOUT_MS unless POST /sim/limits */
    uint64_t slow_disconnects;             /* clients cut off for not reading their output */
    uint64_t timeout_closes;               /* connections closed by the header or idle timeout */
    uint64_t evictions;                    /* idle connections closed to admit a new one */
    sim_delayed *delayed[SIM_DELAYED_MAX]; /* held stream messages (loop thread only) */
    pthread_mutex_t call_mu;               /* guards call, stopping and loop_exited */
    pthread_cond_t call_cv;                /* signals call->done, a free call slot, a stop */
    sim_call *call;                        /* pending call, or NULL */
    bool loop_exited;                      /* the loop thread has returned */
};

/* ---- clocks (market.c) ---- */

int64_t sim_mono_us(const tg_sim *sim); /* µs since the emulator was created */
int64_t sim_now_ms(const tg_sim *sim);  /* emulated server time, epoch ms */

/* ---- market.c ---- */

void sim_market_init(tg_sim *sim);
int sim_account_by_key(const tg_sim *sim, sim_venue v, const char *key);
int sim_account_by_name(const tg_sim *sim, const char *name);
sim_order *sim_order_new(tg_sim *sim);
sim_order *sim_order_find(tg_sim *sim, int account, uint64_t id, const char *client_id);
int sim_stops_open(const tg_sim *sim, int account, int symbol);
/* The slots of the orders on symbol into *slots, and how many: a superset
 * of the live ones (check live and symbol), in slot order. */
size_t sim_orders_of(tg_sim *sim, int symbol, const uint32_t **slots);
/* Frees an open order's slot and keeps it in the history with its final
 * status ("CANCELED", "EXPIRED", "FINISHED" or "FILLED"). */
void sim_order_close(tg_sim *sim, sim_order *o, const char *status);
/* The latest closed order of account with that id or client id, or NULL;
 * its final status goes to *status. */
const sim_order *sim_history_find(const tg_sim *sim, int account, uint64_t id,
                                  const char *client_id, const char **status);
/* Opens, replaces or (size 0) closes a position; updates windows. */
void sim_position_set(tg_sim *sim, int account, int symbol, tg_dec size, tg_dec entry);
/* Adds a fill of qty (signed: + buy) at price to the position. */
void sim_position_fill(tg_sim *sim, int account, int symbol, tg_dec signed_qty, tg_dec price);
/* Re-evaluates whether the position is protected and opens/closes a window. */
void sim_protection_update(tg_sim *sim, int account, int symbol);
/* Sets the mark, fires the stops it crosses and pushes the streams. */
void sim_mark_set(tg_sim *sim, int symbol, tg_dec price);
/* Places a conditional order that passed validation: emits its NEW event
 * and updates protection. */
void sim_stop_placed(tg_sim *sim, sim_order *o);
/* Cancels an open order (by the client): emits the event, frees the slot. */
void sim_order_cancel(tg_sim *sim, sim_order *o);
/* A market order of signed qty filled at the mark now (events included). */
void sim_market_fill(tg_sim *sim, int account, int symbol, tg_dec signed_qty, bool reduce_only,
                     const char *client_id, uint64_t order_id);
/* The position went flat: its reduce-only stops expire (events sent). */
void sim_expire_stops(tg_sim *sim, int account, int symbol);
/* Bybit: the position's trading-stop changed; emits the position message. */
void sim_emit_position(tg_sim *sim, int account, int symbol);

/* Shapes shared by REST answers and stream messages (bybit.c). */
void sim_by_order_json(tg_sim *sim, sim_buf *b, const sim_order *o, const char *status);
void sim_by_position_json(tg_sim *sim, sim_buf *b, int account, int symbol);
uint64_t sim_rand(tg_sim *sim);
void sim_log_add(tg_sim *sim, const sim_log_entry *e);

/* Faults: the rule that applies to this request or stream message now, with
 * one use consumed, or NULL. method is NULL for streams; a rule's path is
 * "/exact/path", "METHOD /exact/path", "stream:<name>" or "*" (every REST
 * request). */
const sim_fault *sim_fault_take(tg_sim *sim, const char *method, const char *path);
bool sim_fault_kind_parse(const char *s, sim_fault_kind *out);

/* ---- venue endpoints ---- */

void sim_binance_handle(tg_sim *sim, const sim_http_req *req, sim_resp *resp, sim_log_entry *log);
void sim_bybit_handle(tg_sim *sim, const sim_http_req *req, sim_resp *resp, sim_log_entry *log);
void sim_control_handle(tg_sim *sim, const char *method, const char *path, const char *query,
                        const char *body, size_t body_len, sim_resp *resp);

/* ---- scenario.c ---- */

tg_status sim_accounts_load(tg_sim *sim, const char *path, tg_err *err);
void sim_accounts_builtin(tg_sim *sim);
tg_status sim_scenario_load(tg_sim *sim, const char *path, tg_err *err);
/* Applies a scenario given as JSON text (also used by POST /sim/scenario). */
tg_status sim_scenario_apply(tg_sim *sim, const char *json, size_t len, tg_err *err);
void sim_paths_free(tg_sim *sim);
/* Advances every price path that is due at loop-relative time now_ms. */
void sim_paths_tick(tg_sim *sim, int64_t now_ms);
/* Advances the path of symbol by one step now; false if it has none. */
bool sim_path_step(tg_sim *sim, int symbol);
/* Adds a fault rule; false when the table is full or the rule is bad. */
bool sim_fault_add(tg_sim *sim, const char *path, sim_fault_kind kind, int64_t ms, int64_t count);

/* ---- ws.c ---- */

typedef enum sim_ws_kind {
    SIM_WS_NONE,
    SIM_WS_BN_MARKET,  /* Binance market streams */
    SIM_WS_BN_USER,    /* Binance user data (listenKey) */
    SIM_WS_BY_PUBLIC,  /* Bybit public linear */
    SIM_WS_BY_PRIVATE, /* Bybit private */
} sim_ws_kind;

/* Decides from the upgrade request's path what the socket serves; fills the
 * initial subscriptions. Returns false (→ 404) when the path is not a stream. */
bool sim_ws_route(tg_sim *sim, sim_conn *c, sim_venue v, const sim_http_req *req);
/* Handles one complete text message from the client. */
void sim_ws_on_text(tg_sim *sim, sim_conn *c, const char *msg, size_t len);
/* Pushes a mark-price update of symbol to every subscriber. */
void sim_ws_push_mark(tg_sim *sim, int symbol, bool periodic_1s, bool periodic_3s);
/* Pushes a Binance user-data event (whole JSON) to the account's streams. */
void sim_ws_push_user(tg_sim *sim, int account, const char *json);
/* Pushes a Bybit private message for topic with the data array text. */
void sim_ws_push_private(tg_sim *sim, int account, const char *topic, const char *data_array);
/* Sends listenKeyExpired and closes the user streams of the key. */
void sim_ws_listen_key_expired(tg_sim *sim, int account, const char *key);

/* ---- server.c: one TCP connection ---- */

#define SIM_CONN_IN_MAX        (SIM_HEAD_BYTES_MAX + SIM_BODY_MAX) /* bytes buffered from a client */
#define SIM_ARRIVAL_AGE_MAX_US 10000000 /* an older kernel stamp means the wall clock stepped */
#define SIM_TOPIC_MAX          64       /* bytes of a stream or topic name */
#define SIM_SUB_KINDS          3 /* per symbol: <s>@markPrice, <s>@markPrice@1s, tickers.<S> */

struct sim_conn {
    tg_sim *sim;        /* owner */
    uint64_t id;        /* unique per emulator */
    int slot;           /* index in sim->conns */
    sim_venue venue;    /* port it came in on */
    uv_tcp_t tcp;       /* the socket */
    uv_timer_t delay;   /* latency fault on a REST answer */
    int handles_open;   /* handles not yet closed */
    bool closing;       /* close started */
    bool hung;          /* timeout fault: ignore everything */
    bool busy;          /* an answer is delayed: parse nothing more */
    bool close_after;   /* close once the answer is written */
    int writes_queued;  /* writes handed to libuv and not completed */
    bool read_paused;   /* HTTP output backlog: reading stopped until it drains */
    int64_t active_ms;  /* loop time of the last byte read or written */
    int64_t req_ms;     /* loop time the pending request's first byte came */
    int64_t read_us;    /* emulator clock of the last read's arrival: a request's receipt */
    int64_t arrive_us;  /* kernel receive stamp of the bytes about to be read, 0 if none */
    bool rx_stamps;     /* the kernel stamps this connection's input (SO_TIMESTAMPING) */
    bool input_pending; /* read this turn, parsed at its end (sim->reader) */
    char *in;           /* received bytes, SIM_CONN_IN_MAX */
    size_t in_len;      /* bytes in `in` */
    char *pending;      /* delayed answer bytes */
    size_t pending_len; /* its length */
    /* WebSocket */
    sim_ws_kind ws;                        /* SIM_WS_NONE while HTTP */
    int account;                           /* user/private stream account, -1 if none */
    bool combined;                         /* Binance /stream?streams= wrapping */
    char user_key[SIM_LISTEN_KEY_LEN + 1]; /* combined user data: the stream name */
    bool authed;                           /* Bybit private auth done */
    size_t sub_count;                      /* subscriptions */
    size_t sub_cap;                        /* entries allocated in sub and sub_snap */
    char (*sub)[SIM_TOPIC_MAX];            /* subscribed streams/topics, ≤ sim->subs_max */
    bool *sub_snap;                        /* Bybit: snapshot sent */
    int32_t *sub_at;                       /* SIM_SUB_KINDS per symbol: index in sub or -1 */
    size_t sub_at_count;                   /* symbols sub_at was built for; 0 = rebuild */
    char *held;                            /* reorder fault: message sent after the next */
    size_t held_len;                       /* its length */
};

sim_conn *sim_conn_by_id(tg_sim *sim, uint64_t id);
/* Open connections on the port of venue v (closing ones not counted); with
 * market_only, only its public (market) streams with a subscription. */
size_t sim_conn_count(const tg_sim *sim, sim_venue v, bool market_only);
/* Sends a text frame now. */
void sim_conn_ws_send(tg_sim *sim, sim_conn *c, const char *text, size_t len);
/* Sends a text frame after ms milliseconds (if the connection still lives). */
void sim_conn_ws_send_later(tg_sim *sim, sim_conn *c, const char *text, size_t len, int64_t ms);
void sim_conn_close(tg_sim *sim, sim_conn *c);
/* Closes the connection once everything written so far has gone out. */
void sim_conn_finish(tg_sim *sim, sim_conn *c);

#endif
