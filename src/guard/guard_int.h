/*
 * guard_int.h — the daemon's insides, shared by its files:
 *   guard.c      life cycle, startup sequence, the per-turn flush and dispatch
 *   engine.c     engine outputs → journal and desired requests; exchange replies → engine
 *   reconcile.c  positions and stops on the exchange vs the book and the store
 *   api.c        HTTP: /metrics, /health, /v1/positions, the status page
 *   cluster.c    [cluster]: leases of the accounts, takeover, fencing
 */
#ifndef TG_GUARD_INT_H
#define TG_GUARD_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <uv.h>

#include "trailguard/book.h"
#include "trailguard/config.h"
#include "trailguard/guard.h"
#include "trailguard/httpd.h"
#include "trailguard/log.h"
#include "trailguard/metrics.h"
#include "trailguard/notify.h"
#include "trailguard/store.h"
#include "trailguard/venue.h"
#include "trailguard/writer.h"

#define GUARD_ENTRIES_MAX          16384 /* journal entries queued per account while the store is down */
#define GUARD_RETRY_MS             1000 /* a request that failed in transit is sent again after */
#define GUARD_DISPATCH_MS          50  /* dispatch re-runs this often while work waits for budget */
#define GUARD_DUE_MARGIN_MS        100 /* an update is aged at least this long before its bound */
#define GUARD_RECONNECT_FORCE_MS   (23LL * 3600 * 1000) /* streams are renewed this often */
#define GUARD_RECONNECT_SETTLE_MS  250    /* a reconcile follows a stream (re)connect after */
#define GUARD_BATCH_LINGER_NS      150000 /* a commit waits for input already read at most, ns */
#define GUARD_LAST_ACTION_MAX      64     /* bytes of a position's last action */
#define GUARD_ISSUES_MAX           16     /* health reasons kept */
#define GUARD_SQLITE_CACHE_KIB     2048 /* SQLite page cache of all accounts' connections together */
#define GUARD_SQLITE_CACHE_MIN_KIB 256  /* and at least this much each */
#define GUARD_CLOSED_RING          128 /* recent closes a reconcile pass checks its snapshot against */

typedef enum guard_phase {
    PHASE_INIT,   /* nothing asked yet */
    PHASE_TIME,   /* waiting for the clock sync */
    PHASE_RULES,  /* waiting for instrument rules */
    PHASE_LIVE,   /* serving */
    PHASE_FAILED, /* a startup step failed; retried by the reconcile timer */
    PHASE_IDLE,   /* [cluster]: the lease is not held; no requests, venue closed */
} guard_phase;

#define GUARD_VENUE_LINGER_MS 1000 /* a venue closed at a lease loss is freed after */
#define GUARD_LEASE_STATE_MAX 256  /* bytes of an account's lease state sentence */

/* A position's identity and order ids as its store row carries them. The
 * row itself (with the engine state from the book) is put together only
 * when it is staged (guard_stage): a daemon with 10,000 positions keeps one
 * copy of each stop, in the book, not three. */
typedef struct guard_ident {
    char symbol[TG_SYMBOL_MAX];             /* e.g. BTCUSDT */
    char position_key[TG_STORE_KEY_MAX];    /* unique per account */
    char order_id[TG_STORE_KEY_MAX];        /* exchange stop order id, "" none */
    char client_order_id[TG_STORE_KEY_MAX]; /* its client id, "" none */
    int64_t version;                        /* row version the writer started from */
} guard_ident;

/* What the daemon knows of one position besides its engine state. Parallel
 * to the account's book: slot i describes book position i. */
typedef struct guard_pos {
    bool used;                               /* the slot holds a position */
    bool paused;                             /* no exchange requests (POST .../pause) */
    bool have_ex;                            /* ex holds the stop on the exchange */
    bool in_flight;                          /* a set/cancel/close request is out */
    bool want;                               /* a desired stop not yet sent */
    bool want_cancel;                        /* the engine asked for the stop to go */
    bool want_close;                         /* the engine asked for a market close */
    bool closing_sent;                       /* a market close went out */
    bool seen;                               /* reconcile: found on the exchange this pass */
    bool has_override;                       /* per-position parameter override */
    uint8_t want_reason;                     /* tg_reason of the desired stop */
    int position_idx;                        /* 0 one-way, 1/2 hedge */
    uint64_t gen;                            /* last placement number used */
    uint64_t instance;                       /* which position of the slot (account's count) */
    tg_dec want_price;                       /* the desired stop */
    tg_dec sending;                          /* the stop of the request in flight */
    tg_dec qty;                              /* position size on the exchange */
    int64_t want_since_ms;                   /* desired since (for max_update_delay), ms */
    uint64_t touched_ms;                     /* uv_now of the last reply for it */
    int64_t retry_at_ms;                     /* not before this (transient failure), ms */
    int64_t opened_mono_ms;                  /* when the daemon learnt of it (uv_now), ms */
    int64_t protected_ms;                    /* first stop confirmed after open, −1 none */
    tg_params *override;                     /* parameters in force when has_override, or NULL */
    tg_venue_stop ex;                        /* the stop on the exchange (have_ex) */
    guard_ident row;                         /* identity and order ids of its store row */
    char last_action[GUARD_LAST_ACTION_MAX]; /* e.g. "stop_moved 50100.0" */
} guard_pos;

/* A position closed lately: a reconcile snapshot taken before the close
 * still lists it, and must not open it again. */
typedef struct guard_closed {
    char key[TG_STORE_KEY_MAX]; /* position key */
    uint64_t ms;                /* uv_now of the close */
} guard_closed;

typedef struct guard_counters {
    uint64_t activations;                      /* TG_EV_ACTIVATED */
    uint64_t stop_moves;                       /* TG_EV_STOP_MOVED */
    uint64_t skips[TG_SKIP_REASONS];           /* TG_EV_SKIPPED by reason */
    uint64_t triggers;                         /* stops that fired */
    uint64_t closes;                           /* positions closed */
    uint64_t requests;                         /* exchange requests completed */
    uint64_t request_errors;                   /* of which failed */
    uint64_t rejects[TG_VENUE_E_REJECTED + 1]; /* failures by typed code */
    uint64_t deferrals;                        /* dispatch held a request back for budget */
    uint64_t coalesced;                        /* desired stops replaced before they were sent */
    uint64_t reconciles;                       /* reconcile passes */
    uint64_t adopted;                          /* stops adopted from the exchange */
    uint64_t recreated;                 /* missing stops placed by reconcile or a cancel event */
    uint64_t orphans_cancelled;         /* stops of gone positions cancelled */
    uint64_t duplicates_cancelled;      /* second stops of a position cancelled */
    uint64_t foreign_seen;              /* foreign stops seen at the last reconcile */
    uint64_t foreign_cancelled;         /* foreign stops cancelled */
    uint64_t rest_marks;                /* marks read over REST for a stale feed */
    uint64_t ticks;                     /* mark prices received */
    uint64_t flush_failures;            /* commits that failed */
    int64_t max_deferral_ms;            /* longest wait of a desired stop, ms */
    tg_metrics_series *request_latency; /* histogram: exchange round trip, s */
    tg_metrics_series *tick_to_request; /* histogram: stop wanted → request sent, s */
    tg_metrics_series *unprotected;     /* histogram: replace windows the venue reported, s */
    tg_metrics_series *commit;          /* histogram: store commit time, s */
} guard_counters;

typedef struct tg_guard tg_guard;

/* The metric families behind /metrics (api.c). */
typedef struct guard_fams {
    tg_metrics_family *positions, *activations, *moves, *skips, *triggers, *closes, *requests,
        *request_errors, *rejects, *deferrals, *coalesced, *reconciles, *adopted, *recreated,
        *orphans, *duplicates, *foreign, *ticks, *rest_marks, *staleness, *stale, *stale_symbols,
        *store_up, *flush_failures, *headroom, *max_deferral, *live, *set_aside, *lease_held,
        *takeovers, *lease_losses, *fenced;
} guard_fams;

typedef struct guard_account {
    tg_guard *g;                    /* owner */
    uint32_t index;                 /* in g->accounts */
    char name[TG_VENUE_KEY_MAX];    /* account name */
    tg_venue_config vcfg;           /* venue configuration (holds the secrets) */
    tg_venue *venue;                /* the adapter */
    struct guard_account *feed;     /* whose market stream brings its marks: itself, or the
                                       first account on the same venue and ws_url */
    struct guard_account *fed_next; /* next account the same feed brings marks to, or NULL */
    tg_store *store;                /* this account's store handle */
    tg_writer *writer;              /* group commit in front of it */
    tg_book *book;                  /* the account's positions */
    guard_pos *pos;                 /* TG_GUARD_POSITIONS_MAX, parallel to the book */
    tg_venue_rules *rules;          /* instrument rules, rules_count */
    size_t rules_count;             /* entries in rules */
    int64_t *mark_ms;               /* per book symbol: last mark (uv_now), ms; 0 none */
    tg_dec *marks;                  /* per book symbol: last mark price */
    bool *subscribed;               /* per book symbol: on the mark stream */
    bool *stale;                    /* per book symbol: feed stale now */
    bool *stale_shown;              /* per book symbol: has a trailguard_feed_stale series */
    guard_phase phase;              /* startup progress */
    bool reconciling;               /* a reconcile pass is in flight */
    bool reconcile_again;           /* another pass was asked for meanwhile */
    bool dirty;                     /* staged work waits for a flush */
    bool work;                      /* a position may have a request to send (dispatch scans) */
    bool store_ok;                  /* the last flush succeeded */
    bool account_stream_started;    /* tg_venue_account_start done */
    bool restored_any;              /* rows came back from the store */
    double tokens;                  /* order budget left */
    double tokens_max;              /* bucket size */
    double tokens_per_ms;           /* refill */
    double cost_per_set;            /* orders one set costs (Binance replace = 2) */
    uint64_t budget_ms;             /* last refill (uv_now) */
    uint64_t dispatch_scan_ms;      /* last scan of the book by dispatch (uv_now) */
    uint32_t dispatch_cursor;       /* where the next scan starts, TG_BOOK_NONE: the first */
    int64_t last_reconcile_ms;      /* uv_now of the last finished pass */
    int64_t last_connect_ms;        /* uv_now of the last stream (re)connect */
    int64_t reconcile_due_ms;       /* uv_now when a reconnect's reconcile runs; 0 none */
    uint32_t restored;              /* rows restored at startup */
    uint64_t instances;             /* positions this account has opened or restored */
    guard_closed closed[GUARD_CLOSED_RING]; /* the latest closes, a ring */
    uint32_t closed_next;                   /* next slot of closed to write */
    uint32_t inflight;                      /* requests out */
    tg_err last_error;                      /* last failure worth reporting */
    tg_err store_error;                     /* why the store is failing */
    guard_counters c;                       /* counters */
    /* [cluster] */
    bool held;                               /* the lease is held: the account is served */
    bool renew_failing;                      /* the last take or renewal failed (logged once) */
    int64_t lease_token;                     /* fencing token of the lease held, 0 none */
    int64_t lease_ok_mono_ms;                /* monotonic ms the last successful renewal was sent */
    tg_venue *old_venue;                     /* closed at a lease loss, freed after the linger */
    int64_t old_venue_mono_ms;               /* when it was closed, monotonic ms */
    uint64_t takeovers;                      /* leases taken that another process held before */
    uint64_t lease_losses;                   /* leases lost or given up before their end */
    uint64_t fenced_writes;                  /* commits refused because the lease moved on */
    tg_metrics_series *renew_latency;        /* histogram: lease take/renew round trip, s */
    char lease_state[GUARD_LEASE_STATE_MAX]; /* for /health: "held (token 3)", "lost: ..." */
} guard_account;

struct tg_guard {
    uv_loop_t *loop;              /* the one loop */
    tg_log *log;                  /* where lines go */
    tg_config *cfg;               /* parameters in force (own copy) */
    const tg_config *cfg_initial; /* as given to tg_guard_new */
    guard_account *accounts;      /* accounts_count */
    uint32_t accounts_count;      /* accounts */
    uv_check_t turn;              /* end of each loop turn: flush, then dispatch */
    uv_prepare_t log_flush;       /* before the loop waits: held log lines go out */
    uv_timer_t dispatch_timer;    /* re-runs dispatch while work waits */
    uv_timer_t reconcile_timer;   /* periodic reconcile and staleness check */
    uv_timer_t stale_timer;       /* staleness check, every second */
    tg_httpd *httpd;              /* HTTP server, or NULL */
    tg_notify *notify;            /* webhook, or NULL */
    tg_metrics *metrics;          /* the registry behind /metrics */
    guard_fams fams;              /* its families */
    int lock_fd;                  /* SQLite single-process lock, −1 none */
    bool draining;                /* tg_guard_drain called */
    bool started;                 /* tg_guard_start done */
    int64_t started_ms;           /* wall clock at start, ms */
    bool cluster;                 /* [cluster] is on: accounts are leased */
    uv_timer_t lease_timer;       /* takes and renews leases every lease_renew_ms */
    uint32_t held_count;          /* leases held now */
    uint32_t live_owners;         /* processes with a live lease at the last look, this one too */
    tg_store *presence;           /* [cluster]: this process's own lease row, "~NODE_ID" */
    uint64_t batch_since_ns;      /* uv_hrtime when staged work first waited for input, 0 none */
};

/* Copies src into dst of cap bytes, cut to fit, always terminated. */
static inline void guard_copy(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    n = n < cap ? n : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* True when the account must not act on replies or events: the daemon
 * drains, or [cluster] and its lease is not held. */
static inline bool guard_quiet(const guard_account *a) {
    return a->g->draining || (a->g->cluster && !a->held);
}

/* ---- guard.c ---------------------------------------------------------- */
int64_t guard_now_ms(const guard_account *a); /* exchange-corrected wall clock, ms */
/* The placement number in one of trailguard's client ids ("tg-…-<base36>"), 0 if none. */
uint64_t guard_gen_of(const char *client_id);
tg_guard_settings guard_settings(const guard_account *a, const char *symbol);
tg_params guard_params(const guard_account *a, const guard_pos *p, const char *symbol);
const tg_venue_rules *guard_rules(const guard_account *a, const char *symbol);
void guard_mark_dirty(guard_account *a);
/* Stages position id's store row (identity from its guard_pos, engine
 * state from stop, or from the book when stop is NULL) with the writer.
 * TG_OK, or the writer's refusal in err. */
tg_status guard_stage(guard_account *a, uint32_t id, const tg_stop *stop, tg_err *err);
/* Empties a position slot, releasing what it owns. */
void guard_pos_clear(guard_pos *p);
void guard_issue(guard_account *a, tg_log_level level, const char *msg, const char *key,
                 const char *detail);
void guard_subscribe(guard_account *a, const char *symbol);

/* Opens the account's writer, book, venue and restores it from the store
 * (the store is open already). */
tg_status guard_account_serve_open(guard_account *a, tg_err *err);
/* Frees what guard_account_serve_open made, the store excepted. */
void guard_account_serve_free(guard_account *a);
/* Starts the account's startup sequence (time sync, rules, reconcile). */
void guard_account_start(guard_account *a);
uint64_t guard_mono_ms(void);       /* monotonic clock, ms, not cached */
void guard_flush(guard_account *a); /* commits what the account's writer holds */

/* ---- cluster.c -------------------------------------------------------- */
/* Opens every store, takes the first leases and starts the lease timer. */
tg_status guard_cluster_start(tg_guard *g, tg_err *err);
/* Each loop turn, before any request: stops serving an account whose lease
 * may run out before its next renewal. */
void guard_cluster_check(tg_guard *g);
/* A commit was refused by the fence: the account stops at once. */
void guard_cluster_fenced(guard_account *a, const char *why);
/* SIGTERM: releases every lease held. */
void guard_cluster_release(tg_guard *g);

/* ---- engine.c --------------------------------------------------------- */
void guard_sink(void *ctx, const tg_stop *stop, const tg_out *out);
/* Journals one output of position p whose state is now stop; with_cmds
 * records its exchange commands too. */
void guard_record(guard_account *a, guard_pos *p, const tg_stop *stop, const tg_out *out,
                  bool with_cmds);
/* Finds a position by key; TG_BOOK_NONE when unknown. */
uint32_t guard_find(const guard_account *a, const char *position_key);
/* A position found on the exchange and not in the book: opens it. */
uint32_t guard_open_position(guard_account *a, const tg_venue_position *vp);
/* The position is gone from the exchange. */
void guard_close_position(guard_account *a, uint32_t id, bool by_stop, const char *why);
/* The size changed on the exchange. */
void guard_resize(guard_account *a, uint32_t id, tg_dec qty);
/* Adopts a trailguard stop found on the exchange for position id. */
void guard_adopt(guard_account *a, uint32_t id, const tg_venue_stop *st);
/* The position has no stop on the exchange: send the engine's. */
void guard_want_current(guard_account *a, uint32_t id, const char *why);
/* Opens a's store handle (a->store), its page cache a share of one budget. */
tg_status guard_store_open(guard_account *a, tg_err *err);
void guard_on_event(void *ctx, const tg_venue_event *ev);
/* A mark for a's book; from_stream refreshes the symbol's feed time (a REST
 * mark read for a stale feed does not). */
void guard_on_mark(guard_account *a, const tg_venue_event *ev, bool from_stream);
void guard_dispatch(guard_account *a);
void guard_cancel_stop(guard_account *a, const tg_venue_stop *st, const char *why);

/* ---- reconcile.c ------------------------------------------------------ */
void guard_reconcile(guard_account *a, const char *why);

/* ---- api.c ------------------------------------------------------------ */
void guard_http(void *ctx, const tg_httpd_request *req, tg_httpd_response *resp);
/* Registers every metric family and each account's histograms. */
tg_status guard_metrics_init(tg_guard *g, tg_err *err);

#endif
