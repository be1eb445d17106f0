#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "guard/guard_int.h"

#define METRICS_BUF_MAX (4u << 20) /* bytes of one /metrics answer */

/* Up to minutes: a stop update deferred by the order budget waits seconds
 * to tens of seconds, and max_update_delay (10 s by default) must be told
 * apart from the bucket above it. */
static const double latency_bounds[] = {
    0.0001, 0.00015, 0.0002, 0.00025, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01,
    0.025,  0.05,    0.1,    0.25,    0.3,    0.5,    2.5,    5,       10,    30,     60,    300};
#define LATENCY_BOUNDS_COUNT (sizeof latency_bounds / sizeof latency_bounds[0])

/* ---- metrics ---------------------------------------------------------- */

tg_status guard_metrics_init(tg_guard *g, tg_err *err) {
    assert(g != NULL);
    assert(err != NULL);
    assert(g->accounts_count == 0 || g->accounts != NULL);
    guard_fams *F = &g->fams;
    tg_status st = tg_metrics_new(8192, &g->metrics, err);
    if (st != TG_OK) {
        return st;
    }
    tg_metrics *m = g->metrics;
    struct {
        tg_metrics_family **f;
        int kind;
        const char *name, *help, *labels;
    } defs[] = {
        {&F->positions, 1, "trailguard_positions", "Positions by engine state.", "account,state"},
        {&F->activations, 0, "trailguard_activations_total", "Trailing activations.", "account"},
        {&F->moves, 0, "trailguard_stop_moves_total", "Tighter stops requested.", "account"},
        {&F->skips, 0, "trailguard_skips_total", "Stop moves not requested, by reason.",
         "account,reason"},
        {&F->triggers, 0, "trailguard_triggers_total", "Stops that fired.", "account"},
        {&F->closes, 0, "trailguard_closes_total", "Positions closed.", "account"},
        {&F->requests, 0, "trailguard_requests_total", "Exchange requests completed.", "account"},
        {&F->request_errors, 0, "trailguard_request_errors_total", "Exchange requests that failed.",
         "account"},
        {&F->rejects, 0, "trailguard_rejects_total", "Failed exchange requests by typed code.",
         "account,code"},
        {&F->deferrals, 0, "trailguard_deferrals_total",
         "Stop updates held back by the order budget.", "account"},
        {&F->coalesced, 0, "trailguard_coalesced_total",
         "Desired stops replaced by a later one before they were sent.", "account"},
        {&F->reconciles, 0, "trailguard_reconciles_total", "Reconcile passes.", "account"},
        {&F->adopted, 0, "trailguard_stops_adopted_total", "Stops adopted from the exchange.",
         "account"},
        {&F->recreated, 0, "trailguard_stops_recreated_total",
         "Missing stops placed again (deleted by hand, lost).", "account"},
        {&F->orphans, 0, "trailguard_orphans_cancelled_total",
         "Stops of positions that are gone, cancelled.", "account"},
        {&F->duplicates, 0, "trailguard_duplicates_cancelled_total",
         "Second trailguard stops of a position, cancelled.", "account"},
        {&F->foreign, 1, "trailguard_foreign_stops", "Stops trailguard did not place.", "account"},
        {&F->ticks, 0, "trailguard_ticks_total", "Mark prices received.", "account"},
        {&F->rest_marks, 0, "trailguard_rest_marks_total",
         "Mark prices read over REST while a feed was stale.", "account"},
        {&F->staleness, 1, "trailguard_feed_staleness_seconds",
         "Seconds since the last streamed mark, the oldest among the symbols with an open "
         "position.",
         "account"},
        {&F->stale, 1, "trailguard_feed_stale",
         "1 while the symbol's feed is stale; a symbol shows from its first stale spell on.",
         "account,symbol"},
        {&F->stale_symbols, 1, "trailguard_feed_stale_symbols",
         "Symbols with an open position whose feed is stale now.", "account"},
        {&F->store_up, 1, "trailguard_store_up", "1 while the last commit succeeded.", "account"},
        {&F->flush_failures, 0, "trailguard_store_commit_failures_total", "Commits that failed.",
         "account"},
        {&F->set_aside, 0, "trailguard_store_rows_conflicted_total",
         "Rows another writer had changed, left out of a commit.", "account"},
        {&F->headroom, 1, "trailguard_order_budget_ratio",
         "Share of the account's order budget left (0..1).", "account"},
        {&F->max_deferral, 1, "trailguard_max_deferral_seconds",
         "Longest wait of a desired stop before its request left.", "account"},
        {&F->live, 1, "trailguard_account_live", "1 once the account's startup finished.",
         "account"},
        {&F->lease_held, 1, "trailguard_lease_held",
         "[cluster] 1 while this process holds the account's lease.", "account"},
        {&F->takeovers, 0, "trailguard_lease_takeovers_total",
         "[cluster] Leases taken that another process held before.", "account"},
        {&F->lease_losses, 0, "trailguard_lease_losses_total",
         "[cluster] Leases lost, fenced or given up before they could run out.", "account"},
        {&F->fenced, 0, "trailguard_fenced_writes_total",
         "[cluster] Commits refused because the account's lease had moved on.", "account"},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        *defs[i].f = defs[i].kind == 0
                         ? tg_metrics_counter(m, defs[i].name, defs[i].help, defs[i].labels, err)
                         : tg_metrics_gauge(m, defs[i].name, defs[i].help, defs[i].labels, err);
        if (*defs[i].f == NULL) {
            return TG_E_INVALID;
        }
    }
    tg_metrics_family *h[5];
    const char *hn[5] = {"trailguard_request_latency_seconds", "trailguard_tick_to_request_seconds",
                         "trailguard_unprotected_window_seconds", "trailguard_store_commit_seconds",
                         "trailguard_lease_renew_seconds"};
    const char *hh[5] = {"Exchange request round trip.",
                         "From the engine wanting a stop to its request leaving.",
                         "Time a position was without a stop during a replace, per the venue.",
                         "Store commit (group commit of one loop turn).",
                         "[cluster] Lease take or renewal round trip."};
    for (int i = 0; i < 5; i++) {
        h[i] = tg_metrics_histogram(m, hn[i], hh[i], "account", latency_bounds,
                                    LATENCY_BOUNDS_COUNT, err);
        if (h[i] == NULL) {
            return TG_E_INVALID;
        }
    }
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        const char *v[] = {a->name};
        a->c.request_latency = tg_metrics_series_get(h[0], v);
        a->c.tick_to_request = tg_metrics_series_get(h[1], v);
        a->c.unprotected = tg_metrics_series_get(h[2], v);
        a->c.commit = tg_metrics_series_get(h[3], v);
        a->renew_latency = tg_metrics_series_get(h[4], v);
    }
    return TG_OK;
}

/* Counters live in the daemon's structs; the registry follows them. */
static void sync_counter(tg_metrics_family *f, const char *const *labels, double value) {
    assert(f != NULL);
    assert(labels != NULL && labels[0] != NULL);
    tg_metrics_series *s = tg_metrics_series_get(f, labels);
    double now = tg_metrics_value(s);
    if (s != NULL && value > now) {
        tg_metrics_add(s, value - now);
    }
}

static void sync_gauge(tg_metrics_family *f, const char *const *labels, double value) {
    assert(f != NULL);
    assert(labels != NULL && labels[0] != NULL);
    tg_metrics_set(tg_metrics_series_get(f, labels), value);
}

static void metrics_sync(tg_guard *g) {
    assert(g != NULL);
    assert(g->metrics != NULL);
    guard_fams *F = &g->fams;
    int64_t now = (int64_t)uv_now(g->loop);
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        const guard_counters *c = &a->c;
        const char *n[] = {a->name};
        sync_counter(F->activations, n, (double)c->activations);
        sync_counter(F->moves, n, (double)c->stop_moves);
        sync_counter(F->triggers, n, (double)c->triggers);
        sync_counter(F->closes, n, (double)c->closes);
        sync_counter(F->requests, n, (double)c->requests);
        sync_counter(F->request_errors, n, (double)c->request_errors);
        sync_counter(F->deferrals, n, (double)c->deferrals);
        sync_counter(F->coalesced, n, (double)c->coalesced);
        sync_counter(F->reconciles, n, (double)c->reconciles);
        sync_counter(F->adopted, n, (double)c->adopted);
        sync_counter(F->recreated, n, (double)c->recreated);
        sync_counter(F->orphans, n, (double)c->orphans_cancelled);
        sync_counter(F->duplicates, n, (double)c->duplicates_cancelled);
        sync_counter(F->ticks, n, (double)c->ticks);
        sync_counter(F->rest_marks, n, (double)c->rest_marks);
        sync_counter(F->flush_failures, n, (double)c->flush_failures);
        sync_gauge(F->foreign, n, (double)c->foreign_seen);
        sync_gauge(F->store_up, n, a->store_ok ? 1 : 0);
        sync_gauge(F->live, n, a->phase == PHASE_LIVE ? 1 : 0);
        if (g->cluster) {
            sync_gauge(F->lease_held, n, a->held ? 1 : 0);
            sync_counter(F->takeovers, n, (double)a->takeovers);
            sync_counter(F->lease_losses, n, (double)a->lease_losses);
            sync_counter(F->fenced, n, (double)a->fenced_writes);
        }
        sync_gauge(F->headroom, n, a->tokens_max > 0 ? a->tokens / a->tokens_max : 0);
        sync_gauge(F->max_deferral, n, (double)c->max_deferral_ms / 1e3);
        if (a->writer != NULL) {
            sync_counter(F->set_aside, n, (double)tg_writer_get_stats(a->writer).rows_conflicted);
        }
        static const char *const skip_names[TG_SKIP_REASONS] = {
            "rate_limited", "below_min_improvement", "would_trigger", "not_improved"};
        for (int r = 0; r < TG_SKIP_REASONS; r++) {
            const char *l[] = {a->name, skip_names[r]};
            sync_counter(F->skips, l, (double)c->skips[r]);
        }
        for (int code = 1; code <= TG_VENUE_E_REJECTED; code++) {
            if (c->rejects[code] > 0) {
                const char *l[] = {a->name, tg_venue_code_str((tg_venue_code)code)};
                sync_counter(F->rejects, l, (double)c->rejects[code]);
            }
        }
        uint32_t by_state[TG_STATE_CLOSED + 1] = {0};
        if (a->book != NULL) {
            for (uint32_t id = tg_book_next(a->book, TG_BOOK_NONE); id != TG_BOOK_NONE;
                 id = tg_book_next(a->book, id)) {
                const tg_stop *s = tg_book_peek(a->book, id);
                assert(s != NULL && s->state <= TG_STATE_CLOSED);
                by_state[s->state]++;
            }
            /* One series per account for the age, and per symbol only for
             * symbols that have been stale: 10,000 positions would
             * otherwise need 20,000 series on every scrape. */
            int64_t oldest_ms = 0;
            uint32_t stale_now = 0;
            for (uint32_t sym = 0; a->subscribed != NULL && tg_book_symbol_name(a->book, sym);
                 sym++) {
                if (!a->subscribed[sym]) {
                    continue;
                }
                int64_t age_ms = now - a->mark_ms[sym];
                oldest_ms = age_ms > oldest_ms ? age_ms : oldest_ms;
                stale_now += a->stale[sym];
                a->stale_shown[sym] = a->stale_shown[sym] || a->stale[sym];
                if (a->stale_shown[sym]) {
                    const char *l[] = {a->name, tg_book_symbol_name(a->book, sym)};
                    sync_gauge(F->stale, l, a->stale[sym] ? 1 : 0);
                }
            }
            sync_gauge(F->staleness, n, (double)oldest_ms / 1e3);
            sync_gauge(F->stale_symbols, n, stale_now);
        }
        for (int s = 0; s <= TG_STATE_CLOSED; s++) {
            const char *l[] = {a->name, tg_state_str((tg_state)s)};
            sync_gauge(F->positions, l, by_state[s]);
        }
    }
}

/* ---- JSON views ------------------------------------------------------- */

static void add_dec(cJSON *o, const char *name, tg_dec v) {
    assert(name != NULL);
    char text[TG_DEC_STR_MAX];
    size_t n = tg_dec_format(v, 0, text);
    assert(n > 0 && n < sizeof text);
    cJSON_AddStringToObject(o, name, text);
}

static cJSON *position_json(const guard_account *a, uint32_t id) {
    assert(a != NULL);
    assert(a->book != NULL);
    assert(id < TG_GUARD_POSITIONS_MAX);
    const guard_pos *p = &a->pos[id];
    const tg_stop *s = tg_book_peek(a->book, id);
    assert(s != NULL);
    assert(p->used);
    cJSON *o = cJSON_CreateObject();
    char key[TG_STORE_KEY_MAX * 2];
    int key_len = snprintf(key, sizeof key, "%s:%s", a->name, p->row.position_key);
    assert(key_len > 0 && (size_t)key_len < sizeof key);
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "account", a->name);
    cJSON_AddStringToObject(o, "venue", tg_venue_kind_str(a->vcfg.kind));
    cJSON_AddStringToObject(o, "symbol", p->row.symbol);
    cJSON_AddStringToObject(o, "position_key", p->row.position_key);
    cJSON_AddStringToObject(o, "side", tg_side_str((tg_side)s->side));
    cJSON_AddStringToObject(o, "state", tg_state_str((tg_state)s->state));
    add_dec(o, "entry", s->entry);
    add_dec(o, "quantity", p->qty);
    uint32_t sym = tg_book_position_symbol(a->book, id);
    if (sym != TG_BOOK_NONE && tg_dec_is_pos(a->marks[sym])) {
        add_dec(o, "mark", a->marks[sym]);
    }
    add_dec(o, "activation_price", s->activation_price);
    if (s->flags & TG_F_CONFIRMED) {
        add_dec(o, "stop_confirmed", s->stop_confirmed);
    }
    if (s->flags & TG_F_INTENDED) {
        add_dec(o, "stop_intended", s->stop_intended);
    }
    if (s->flags & TG_F_HIGH) {
        add_dec(o, "highest", s->highest);
    }
    if (s->flags & TG_F_LOW) {
        add_dec(o, "lowest", s->lowest);
    }
    if (p->have_ex) {
        cJSON *ex = cJSON_AddObjectToObject(o, "exchange_stop");
        cJSON_AddStringToObject(ex, "order_id", p->ex.order_id);
        cJSON_AddStringToObject(ex, "client_id", p->ex.client_id);
        add_dec(ex, "trigger", p->ex.trigger);
        cJSON_AddBoolToObject(ex, "position_level", p->ex.position_level);
    } else {
        cJSON_AddNullToObject(o, "exchange_stop");
    }
    if (p->want) {
        add_dec(o, "pending_stop", p->want_price);
    }
    cJSON_AddBoolToObject(o, "in_flight", p->in_flight);
    cJSON_AddBoolToObject(o, "paused", p->paused);
    cJSON_AddBoolToObject(o, "params_override", p->has_override);
    cJSON_AddNumberToObject(o, "updates", s->update_count);
    cJSON_AddNumberToObject(o, "opened_ms", (double)s->opened_ms);
    cJSON_AddNumberToObject(o, "last_tick_ms", (double)s->last_tick_ms);
    if (p->protected_ms >= 0) {
        cJSON_AddNumberToObject(o, "protected_after_ms", (double)p->protected_ms);
    }
    cJSON_AddStringToObject(o, "last_action", p->last_action);
    return o;
}

/* "ACCOUNT:SYMBOL:SIDE" → account and position id. */
static bool find_key(tg_guard *g, const char *key, guard_account **out_a, uint32_t *out_id) {
    assert(g != NULL);
    assert(key != NULL);
    assert(out_a != NULL && out_id != NULL);
    const char *colon = strchr(key, ':');
    if (colon == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        size_t n = strlen(a->name);
        if ((size_t)(colon - key) == n && strncmp(key, a->name, n) == 0 && a->book != NULL) {
            uint32_t id = guard_find(a, colon + 1);
            if (id != TG_BOOK_NONE) {
                assert(id < TG_GUARD_POSITIONS_MAX);
                *out_a = a;
                *out_id = id;
                return true;
            }
        }
    }
    return false;
}

static void respond_json(tg_httpd_response *resp, int status, cJSON *body) {
    assert(resp != NULL);
    assert(status >= 100 && status <= 599);
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = cJSON_PrintUnformatted(body);
    resp->body_len = resp->body != NULL ? strlen(resp->body) : 0;
    cJSON_Delete(body);
}

static void respond_error(tg_httpd_response *resp, int status, const char *msg) {
    assert(resp != NULL);
    assert(msg != NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    respond_json(resp, status, o);
}

static cJSON *health_json(tg_guard *g, bool *healthy) {
    assert(g != NULL);
    assert(healthy != NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON *reasons = cJSON_CreateArray();
    cJSON *accounts = cJSON_CreateArray();
    int64_t now = (int64_t)uv_now(g->loop);
    *healthy = true;
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        cJSON *ao = cJSON_CreateObject();
        static const char *const phases[] = {"init", "time", "rules", "live", "failed", "idle"};
        assert((size_t)a->phase < sizeof phases / sizeof phases[0]);
        cJSON_AddStringToObject(ao, "name", a->name);
        cJSON_AddStringToObject(ao, "venue", tg_venue_kind_str(a->vcfg.kind));
        cJSON_AddStringToObject(ao, "phase", phases[a->phase]);
        cJSON_AddBoolToObject(ao, "store_ok", a->store_ok);
        cJSON_AddNumberToObject(ao, "positions",
                                a->book != NULL ? tg_book_get_stats(a->book).open_positions : 0);
        char reason[600];
        if (g->cluster) {
            cJSON *lo = cJSON_AddObjectToObject(ao, "lease");
            cJSON_AddBoolToObject(lo, "held", a->held);
            cJSON_AddNumberToObject(lo, "token", (double)a->lease_token);
            cJSON_AddStringToObject(lo, "state", a->lease_state);
            cJSON_AddNumberToObject(lo, "takeovers", (double)a->takeovers);
            cJSON_AddNumberToObject(lo, "losses", (double)a->lease_losses);
            cJSON_AddNumberToObject(lo, "fenced_writes", (double)a->fenced_writes);
        }
        if (g->cluster && !a->held) {
            cJSON_AddItemToArray(accounts, ao); /* another process's, or waiting for its lease */
            continue;
        }
        if (a->phase != PHASE_LIVE) {
            snprintf(reason, sizeof reason, "account %s is not live (%s)", a->name,
                     phases[a->phase]);
            cJSON_AddItemToArray(reasons, cJSON_CreateString(reason));
            *healthy = false;
        }
        if (!a->store_ok) {
            snprintf(reason, sizeof reason, "account %s: store degraded: %s", a->name,
                     a->store_error.msg);
            cJSON_AddItemToArray(reasons, cJSON_CreateString(reason));
            *healthy = false;
        }
        cJSON *stale = cJSON_AddArrayToObject(ao, "stale_symbols");
        for (uint32_t sym = 0; a->book != NULL && tg_book_symbol_name(a->book, sym); sym++) {
            if (a->stale[sym]) {
                cJSON_AddItemToArray(stale, cJSON_CreateString(tg_book_symbol_name(a->book, sym)));
                snprintf(reason, sizeof reason, "account %s: feed of %s stale for %lld s", a->name,
                         tg_book_symbol_name(a->book, sym),
                         (long long)((now - a->mark_ms[sym]) / 1000));
                cJSON_AddItemToArray(reasons, cJSON_CreateString(reason));
                *healthy = false;
            }
        }
        uint32_t unprotected = 0;
        for (uint32_t id = a->book != NULL ? tg_book_next(a->book, TG_BOOK_NONE) : TG_BOOK_NONE;
             id != TG_BOOK_NONE; id = tg_book_next(a->book, id)) {
            const guard_pos *p = &a->pos[id];
            if (!p->have_ex && !p->in_flight && now - p->opened_mono_ms > 5000 &&
                tg_stop_is_open(tg_book_peek(a->book, id))) {
                unprotected++;
            }
        }
        cJSON_AddNumberToObject(ao, "unprotected", unprotected);
        if (unprotected > 0) {
            snprintf(reason, sizeof reason, "account %s: %u position(s) without a stop", a->name,
                     unprotected);
            cJSON_AddItemToArray(reasons, cJSON_CreateString(reason));
            *healthy = false;
        }
        if (a->writer != NULL) {
            tg_writer_stats ws = tg_writer_get_stats(a->writer);
            cJSON_AddNumberToObject(ao, "pending_rows", ws.pending_rows);
            cJSON_AddNumberToObject(ao, "rows_conflicted", (double)ws.rows_conflicted);
            cJSON_AddNumberToObject(ao, "rows_set_aside", (double)ws.rows_set_aside);
            const char *aside = tg_writer_last_set_aside(a->writer);
            if (aside != NULL) {
                snprintf(reason, sizeof reason,
                         "account %s: %llu row(s) the store refused, set aside; last: %s", a->name,
                         (unsigned long long)ws.rows_set_aside, aside);
                cJSON_AddItemToArray(reasons, cJSON_CreateString(reason));
                *healthy = false;
            }
        }
        if (a->last_error.msg[0] != '\0') {
            cJSON_AddStringToObject(ao, "last_error", a->last_error.msg);
        }
        cJSON_AddItemToArray(accounts, ao);
    }
    cJSON_AddStringToObject(o, "status", *healthy ? "ok" : "degraded");
    if (g->cluster) {
        cJSON *co = cJSON_AddObjectToObject(o, "cluster");
        cJSON_AddStringToObject(co, "node_id", g->cfg->cluster.node_id);
        cJSON_AddNumberToObject(co, "leases_held", g->held_count);
        cJSON_AddNumberToObject(co, "live_processes", g->live_owners);
    }
    cJSON_AddItemToObject(o, "reasons", reasons);
    cJSON_AddItemToObject(o, "accounts", accounts);
    return o;
}

/* ---- long answers, made piece by piece --------------------------------- */

/* The position list and the status page grow with the book (5.4 MB of JSON
 * for 10,000 positions). Made at once, the list held the loop for ~70 ms and
 * raised the daemon's peak memory by ~33 MiB (bench/daemon_scale, read_api).
 * They are streams instead (tg_httpd_stream): a piece holds up to
 * PIECE_POSITIONS positions, so a loop turn spends a bounded time on them and
 * a connection holds one piece. Positions are read as the pieces are made: one
 * that opens or closes while a long answer is sent may be in it or not; each
 * position's entry is whole. */
#define PIECE_POSITIONS 64
#define PIECE_CAP0      (64u << 10) /* bytes a piece starts with; it grows if needed */

typedef struct pos_stream pos_stream;
struct pos_stream {
    tg_httpd_stream base; /* first: what the server holds */
    tg_guard *g;
    uint32_t account; /* index of the account being walked */
    uint32_t id;      /* its last position written, TG_BOOK_NONE before its first */
    uint32_t rows;    /* positions written so far */
    bool head_done;   /* the piece before the first position was made */
    bool tail_done;   /* the piece after the last one was made */
    bool failed;      /* out of memory: the answer is cut */
    void (*head)(pos_stream *s);
    void (*row)(pos_stream *s, const guard_account *a, uint32_t id);
    void (*tail)(pos_stream *s);
    char *buf;  /* the piece being sent */
    size_t len; /* its bytes */
    size_t cap; /* bytes allocated */
    size_t off; /* bytes of it already sent */
};

static void piece_printf(pos_stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void piece_printf(pos_stream *s, const char *fmt, ...) {
    assert(s != NULL && s->buf != NULL && s->len < s->cap);
    assert(fmt != NULL);
    while (!s->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->failed = true;
            return;
        }
        if ((size_t)n < s->cap - s->len) {
            s->len += (size_t)n;
            return;
        }
        size_t ncap = s->cap * 2 + (size_t)n;
        char *nb = realloc(s->buf, ncap);
        if (nb == NULL) {
            s->failed = true;
            return;
        }
        s->buf = nb;
        s->cap = ncap;
    }
}

/* The next piece: the head first, then up to PIECE_POSITIONS positions,
 * then the tail. The walk resumes after the last position written, looked
 * up again in the book of today. */
static void piece_fill(pos_stream *s) {
    assert(s != NULL && s->g != NULL);
    assert(!s->tail_done);
    s->len = 0;
    s->off = 0;
    s->buf[0] = '\0';
    if (!s->head_done) {
        s->head(s);
        s->head_done = true;
    }
    tg_guard *g = s->g;
    for (uint32_t n = 0; n < PIECE_POSITIONS && s->account < g->accounts_count && !s->failed;) {
        const guard_account *a = &g->accounts[s->account];
        uint32_t id = a->book != NULL ? tg_book_next(a->book, s->id) : TG_BOOK_NONE;
        if (id == TG_BOOK_NONE) {
            s->account++;
            s->id = TG_BOOK_NONE;
            continue;
        }
        assert(id < TG_GUARD_POSITIONS_MAX);
        s->row(s, a, id);
        s->id = id;
        s->rows++;
        n++;
    }
    if (s->account == g->accounts_count && !s->failed) {
        s->tail(s);
        s->tail_done = true;
    }
}

static ssize_t pos_stream_pull(tg_httpd_stream *base, char *out, size_t cap) {
    assert(base != NULL && out != NULL && cap > 0);
    pos_stream *s = (pos_stream *)base;
    size_t n = 0;
    while (n < cap) {
        if (s->off == s->len) {
            if (s->failed) {
                return -1; /* the client sees a cut answer, not a short one */
            }
            if (s->tail_done) {
                break;
            }
            piece_fill(s);
            continue;
        }
        size_t take = s->len - s->off < cap - n ? s->len - s->off : cap - n;
        memcpy(out + n, s->buf + s->off, take);
        s->off += take;
        n += take;
    }
    return (ssize_t)n;
}

static void pos_stream_done(tg_httpd_stream *base) {
    assert(base != NULL);
    pos_stream *s = (pos_stream *)base;
    free(s->buf);
    free(s);
}

/* Answers resp with a stream of head, one row per open position, tail. */
static void respond_positions(tg_guard *g, tg_httpd_response *resp, const char *content_type,
                              void (*head)(pos_stream *),
                              void (*row)(pos_stream *, const guard_account *, uint32_t),
                              void (*tail)(pos_stream *)) {
    assert(g != NULL && resp != NULL && content_type != NULL);
    assert(head != NULL && row != NULL && tail != NULL);
    pos_stream *s = calloc(1, sizeof *s);
    char *buf = malloc(PIECE_CAP0);
    if (s == NULL || buf == NULL) {
        free(s);
        free(buf);
        resp->status = 500;
        return;
    }
    s->base.pull = pos_stream_pull;
    s->base.done = pos_stream_done;
    s->g = g;
    s->id = TG_BOOK_NONE;
    s->head = head;
    s->row = row;
    s->tail = tail;
    s->buf = buf;
    s->cap = PIECE_CAP0;
    resp->status = 200;
    resp->content_type = content_type;
    resp->stream = &s->base;
}

/* ---- the position list -------------------------------------------------- */

static void list_head(pos_stream *s) {
    piece_printf(s, "[");
}

static void list_row(pos_stream *s, const guard_account *a, uint32_t id) {
    cJSON *o = position_json(a, id);
    char *text = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (text == NULL) {
        s->failed = true;
        return;
    }
    piece_printf(s, "%s%s", s->rows > 0 ? "," : "", text);
    free(text);
}

static void list_tail(pos_stream *s) {
    piece_printf(s, "]");
}

/* ---- the status page -------------------------------------------------- */

static void html_escape(const char *in, char *out, size_t cap) {
    assert(in != NULL && out != NULL);
    assert(cap > 0);
    size_t n = 0;
    for (const char *p = in; *p != '\0' && n + 7 < cap; p++) {
        const char *rep = *p == '<'   ? "&lt;"
                          : *p == '>' ? "&gt;"
                          : *p == '&' ? "&amp;"
                          : *p == '"' ? "&quot;"
                                      : NULL;
        if (rep != NULL) {
            n += (size_t)snprintf(out + n, cap - n, "%s", rep);
        } else if ((unsigned char)*p >= 0x20) {
            out[n++] = *p;
        }
    }
    assert(n < cap);
    out[n] = '\0';
}

static void page_head(pos_stream *s) {
    bool healthy;
    cJSON_Delete(health_json(s->g, &healthy));
    piece_printf(s,
                 "<!doctype html><html><head><meta charset=\"utf-8\">"
                 "<meta http-equiv=\"refresh\" content=\"2\"><title>trailguard</title>"
                 "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
                 "td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}"
                 ".ok{color:#080}.bad{color:#b00}</style></head><body>"
                 "<h1>trailguard</h1><p id=\"health\" class=\"%s\">%s</p>"
                 "<table id=\"positions\"><thead><tr><th>account</th><th>venue</th>"
                 "<th>symbol</th><th>side</th><th>state</th><th>mark</th><th>stop on exchange</th>"
                 "<th>profit %%</th><th>last action</th></tr></thead><tbody>",
                 healthy ? "ok" : "bad", healthy ? "healthy" : "degraded (see /health)");
}

static void page_row(pos_stream *ps, const guard_account *a, uint32_t id) {
    assert(ps != NULL && a != NULL && a->book != NULL);
    const guard_pos *p = &a->pos[id];
    const tg_stop *s = tg_book_peek(a->book, id);
    assert(s != NULL);
    uint32_t sym = tg_book_position_symbol(a->book, id);
    assert(sym == TG_BOOK_NONE || sym < TG_GUARD_SYMBOLS_MAX);
    tg_dec mark = sym != TG_BOOK_NONE ? a->marks[sym] : (tg_dec){0};
    char m[TG_DEC_STR_MAX] = "-", st[TG_DEC_STR_MAX] = "none", pct[TG_DEC_STR_MAX] = "-";
    if (tg_dec_is_pos(mark)) {
        tg_dec_format(mark, 0, m);
        tg_dec change;
        if (tg_dec_pct_change(s->entry, mark, TG_ROUND_FLOOR, &change) == TG_DEC_OK) {
            /* the change is unsigned: its sign is the position's gain or loss */
            bool gain =
                s->side == TG_SIDE_LONG ? tg_dec_gt(mark, s->entry) : tg_dec_lt(mark, s->entry);
            if (!gain) {
                change.units = -change.units;
            }
            tg_dec r;
            tg_dec_round_tick(change, tg_dec_from_units(TG_DEC_SCALE / 100), TG_ROUND_FLOOR, &r);
            tg_dec_format(r, 2, pct);
        }
    }
    if (p->have_ex) {
        tg_dec_format(p->ex.trigger, 0, st);
    }
    char action[GUARD_LAST_ACTION_MAX * 6], sym_name[TG_SYMBOL_MAX * 6], acct[TG_VENUE_KEY_MAX * 6];
    html_escape(p->last_action, action, sizeof action);
    html_escape(p->row.symbol, sym_name, sizeof sym_name);
    html_escape(a->name, acct, sizeof acct);
    piece_printf(ps,
                 "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                 "<td>%s</td><td>%s</td><td>%s</td></tr>",
                 acct, tg_venue_kind_str(a->vcfg.kind), sym_name, tg_side_str((tg_side)s->side),
                 tg_state_str((tg_state)s->state), m, st, pct, action);
}

static void page_tail(pos_stream *s) {
    piece_printf(s, "</tbody></table><p><a href=\"/metrics\">metrics</a> · "
                    "<a href=\"/health\">health</a> · "
                    "<a href=\"/v1/positions\">positions (JSON)</a></p></body></html>");
}

/* ---- write endpoints -------------------------------------------------- */

static void put_params(tg_guard *g, guard_account *a, uint32_t id, const tg_httpd_request *req,
                       tg_httpd_response *resp) {
    assert(g != NULL && a != NULL && a->book != NULL);
    assert(id < TG_GUARD_POSITIONS_MAX);
    assert(req != NULL && resp != NULL);
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        respond_error(resp, 400, "the body must be a JSON object of parameter names and values");
        return;
    }
    guard_pos *p = &a->pos[id];
    tg_params params = tg_book_peek(a->book, id)->params;
    tg_params_patch patch = {0};
    tg_err err;
    const cJSON *item;
    cJSON_ArrayForEach(item, body) {
        char number[64];
        const char *value = cJSON_IsString(item) ? item->valuestring : NULL;
        if (cJSON_IsNumber(item)) {
            snprintf(number, sizeof number, "%.10g", item->valuedouble);
            value = number;
        }
        if (value == NULL || tg_params_set(&patch, item->string, value, &err) != TG_OK) {
            cJSON_Delete(body);
            respond_error(resp, 400,
                          value == NULL ? "every value must be a string or number" : err.msg);
            return;
        }
    }
    cJSON_Delete(body);
    tg_params_apply(&params, &patch);
    if (tg_book_set_params(a->book, id, &params, &err) != TG_OK) {
        respond_error(resp, 400, err.msg);
        return;
    }
    if (p->override == NULL && (p->override = malloc(sizeof *p->override)) == NULL) {
        respond_error(resp, 500, "out of memory for the position's parameters");
        return;
    }
    p->has_override = true;
    *p->override = params;
    if (guard_stage(a, id, NULL, &err) == TG_OK) {
        guard_mark_dirty(a); /* persisted with the row */
    }
    tg_logline l;
    tg_log_begin(&l, g->log, TG_LOG_INFO, "params_overridden");
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "key", p->row.position_key);
    tg_log_end(&l);
    respond_json(resp, 200, position_json(a, id));
}

static bool authorized(tg_guard *g, const tg_httpd_request *req, tg_httpd_response *resp) {
    assert(g != NULL && g->cfg != NULL);
    assert(req != NULL && resp != NULL);
    if (!g->cfg->has_token) {
        respond_error(resp, 403, "write endpoints are disabled: set [http] token_file");
        return false;
    }
    if (req->bearer == NULL || !tg_httpd_token_equal(req->bearer, g->cfg->http_token)) {
        respond_error(resp, 401, "a valid bearer token is required");
        return false;
    }
    return true;
}

void guard_http(void *ctx, const tg_httpd_request *req, tg_httpd_response *resp) {
    assert(ctx != NULL);
    assert(req != NULL && req->method != NULL && req->path != NULL);
    assert(resp != NULL);
    tg_guard *g = ctx;
    bool get = strcmp(req->method, "GET") == 0;
    if (get && strcmp(req->path, "/metrics") == 0) {
        metrics_sync(g);
        char *buf = malloc(METRICS_BUF_MAX);
        if (buf == NULL) {
            resp->status = 500;
            return;
        }
        resp->body_len = tg_metrics_render(g->metrics, buf, METRICS_BUF_MAX);
        resp->body = buf;
        resp->status = 200;
        resp->content_type = TG_METRICS_CONTENT_TYPE;
        return;
    }
    if (get && strcmp(req->path, "/health") == 0) {
        bool healthy;
        cJSON *h = health_json(g, &healthy);
        respond_json(resp, healthy ? 200 : 503, h);
        return;
    }
    if (get && strcmp(req->path, "/") == 0) {
        respond_positions(g, resp, "text/html; charset=utf-8", page_head, page_row, page_tail);
        return;
    }
    if (get && strcmp(req->path, "/v1/positions") == 0) {
        respond_positions(g, resp, "application/json", list_head, list_row, list_tail);
        return;
    }
    static const char prefix[] = "/v1/positions/";
    if (strncmp(req->path, prefix, sizeof prefix - 1) != 0) {
        respond_error(resp, 404, "no such endpoint");
        return;
    }
    char key[160];
    snprintf(key, sizeof key, "%s", req->path + sizeof prefix - 1);
    char *action = NULL;
    char *slash = strchr(key, '/');
    if (slash != NULL) {
        *slash = '\0';
        action = slash + 1;
    }
    guard_account *a;
    uint32_t id;
    if (!find_key(g, key, &a, &id)) {
        respond_error(resp, 404, "no open position with that key (ACCOUNT:SYMBOL:SIDE)");
        return;
    }
    if (action == NULL && get) {
        respond_json(resp, 200, position_json(a, id));
        return;
    }
    if (action != NULL && strcmp(action, "params") == 0 && strcmp(req->method, "PUT") == 0) {
        if (authorized(g, req, resp)) {
            put_params(g, a, id, req, resp);
        }
        return;
    }
    bool pause = action != NULL && strcmp(action, "pause") == 0;
    bool resume = action != NULL && strcmp(action, "resume") == 0;
    if ((pause || resume) && strcmp(req->method, "POST") == 0) {
        if (authorized(g, req, resp)) {
            a->pos[id].paused = pause;
            a->work = a->work || resume; /* what waited for it may go */
            tg_logline l;
            tg_log_begin(&l, g->log, TG_LOG_WARN, pause ? "position_paused" : "position_resumed");
            tg_log_str(&l, "account", a->name);
            tg_log_str(&l, "key", a->pos[id].row.position_key);
            tg_log_end(&l);
            respond_json(resp, 200, position_json(a, id));
        }
        return;
    }
    respond_error(resp, 405, "method not allowed here");
}
