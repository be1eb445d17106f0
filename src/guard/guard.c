#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "guard/guard_int.h"

int64_t guard_now_ms(const guard_account *a) {
    assert(a != NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return a->venue != NULL ? ms + tg_venue_clock_offset_ms(a->venue) : ms;
}

tg_guard_settings guard_settings(const guard_account *a, const char *symbol) {
    assert(a != NULL && a->g != NULL && a->g->cfg != NULL);
    return tg_config_settings(a->g->cfg, symbol);
}

tg_params guard_params(const guard_account *a, const guard_pos *p, const char *symbol) {
    assert(a != NULL && symbol != NULL);
    if (p != NULL && p->has_override) {
        assert(p->override != NULL);
        return *p->override;
    }
    tg_params params = tg_config_params(a->g->cfg, symbol);
    /* The daemon never leaves a position without a stop: with no initial
     * stop configured, the first stop sits at the trailing distance from
     * the entry (docs/run.md). */
    if (!tg_dec_is_pos(params.initial_stop_pct) && params.callback_kind == TG_CALLBACK_PERCENT) {
        params.initial_stop_pct = params.callback;
    }
    return params;
}

const tg_venue_rules *guard_rules(const guard_account *a, const char *symbol) {
    assert(a != NULL && symbol != NULL);
    assert(a->rules_count == 0 || a->rules != NULL);
    for (size_t i = 0; i < a->rules_count; i++) {
        if (strcmp(a->rules[i].symbol, symbol) == 0) {
            return &a->rules[i];
        }
    }
    return NULL;
}

void guard_mark_dirty(guard_account *a) {
    assert(a != NULL && a->writer != NULL);
    a->dirty = true;
}

tg_status guard_stage(guard_account *a, uint32_t id, const tg_stop *stop, tg_err *err) {
    assert(a != NULL && a->writer != NULL && id < TG_GUARD_POSITIONS_MAX && a->pos[id].used);
    const guard_pos *p = &a->pos[id];
    tg_store_row row;
    memset(&row, 0, sizeof row);
    guard_copy(row.account, sizeof row.account, a->name);
    guard_copy(row.exchange, sizeof row.exchange, tg_venue_kind_str(a->vcfg.kind));
    guard_copy(row.symbol, sizeof row.symbol, p->row.symbol);
    guard_copy(row.position_key, sizeof row.position_key, p->row.position_key);
    guard_copy(row.order_id, sizeof row.order_id, p->row.order_id);
    guard_copy(row.client_order_id, sizeof row.client_order_id, p->row.client_order_id);
    row.stop = stop != NULL ? *stop : *tg_book_peek(a->book, id);
    row.version = p->row.version;
    return tg_writer_stage_row(a->writer, &row, err);
}

void guard_pos_clear(guard_pos *p) {
    assert(p != NULL);
    free(p->override);
    memset(p, 0, sizeof *p);
}

void guard_issue(guard_account *a, tg_log_level level, const char *msg, const char *key,
                 const char *detail) {
    assert(a != NULL && msg != NULL);
    tg_logline l;
    tg_log_begin(&l, a->g->log, level, msg);
    tg_log_str(&l, "account", a->name);
    if (key != NULL) {
        tg_log_str(&l, "key", key);
    }
    if (detail != NULL) {
        tg_log_str(&l, "detail", detail);
    }
    tg_log_end(&l);
    if (level >= TG_LOG_WARN) {
        tg_err_set(&a->last_error, TG_E_STATE, "%s%s%s%s%s", msg, key ? " " : "", key ? key : "",
                   detail ? ": " : "", detail ? detail : "");
    }
    if (a->g->notify != NULL && level >= TG_LOG_WARN) {
        char body[1024];
        char k[160], d[512];
        tg_log_escape(key ? key : "", true, k, sizeof k);
        tg_log_escape(detail ? detail : "", true, d, sizeof d);
        snprintf(body, sizeof body,
                 "{\"kind\":\"problem\",\"event\":\"%s\",\"account\":\"%s\",\"key\":\"%s\","
                 "\"detail\":\"%s\"}",
                 msg, a->name, k, d);
        tg_err ignored;
        tg_notify_post(a->g->notify, body, &ignored); /* a full queue drops the oldest */
    }
}

/* Marks symbol subscribed in a's book, subscribing a's venue's market
 * stream first when a feeds itself. */
static bool subscribe_in(guard_account *a, const char *symbol) {
    assert(a != NULL && symbol != NULL && a->book != NULL);
    uint32_t sym = tg_book_symbol(a->book, symbol);
    if (sym == TG_BOOK_NONE || a->venue == NULL) {
        return false;
    }
    if (a->subscribed[sym]) {
        return true;
    }
    if (a->feed == a) {
        tg_err err;
        if (tg_venue_mark_subscribe(a->venue, symbol, &err) != TG_OK) {
            guard_issue(a, TG_LOG_ERROR, "subscribe_failed", symbol, err.msg);
            return false;
        }
    }
    a->subscribed[sym] = true;
    a->mark_ms[sym] = (int64_t)uv_now(a->g->loop); /* staleness counts from now */
    return true;
}

void guard_subscribe(guard_account *a, const char *symbol) {
    assert(a != NULL && symbol != NULL && a->book != NULL);
    assert(a->feed != NULL && a->feed->feed == a->feed);
    /* a shared stream: the feeding account subscribes (its book learns the
     * symbol's name, with no position), then the marks reach a through it */
    if (a->feed != a && !subscribe_in(a->feed, symbol)) {
        return;
    }
    (void)subscribe_in(a, symbol);
}

/* Accounts of one process on the same venue and ws_url read one market
 * stream, the first such account's: a mark is public, and one frame then
 * serves every book that holds the symbol, instead of one connection and
 * one copy of every frame per account. Not under [cluster], where each
 * account can move to another process on its own. */
static void assign_feeds(tg_guard *g) {
    assert(g != NULL && g->accounts != NULL);
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        a->feed = a;
        a->fed_next = NULL;
        for (uint32_t j = 0; !g->cluster && j < i; j++) {
            guard_account *b = &g->accounts[j];
            if (b->feed == b && b->vcfg.kind == a->vcfg.kind &&
                strcmp(b->vcfg.ws_url, a->vcfg.ws_url) == 0) {
                a->feed = b;
                break;
            }
        }
        /* the feed's chain: the feed first, then its accounts in order */
        guard_account *last = a->feed;
        while (last != a && last->fed_next != NULL) {
            last = last->fed_next;
        }
        if (last != a) {
            last->fed_next = a;
        }
    }
}

/* ---- start-up --------------------------------------------------------- */

static void startup_rules_done(void *ctx, const tg_venue_reply *r);

static void startup_failed(guard_account *a, const char *step, const tg_venue_reply *r) {
    assert(a != NULL && step != NULL && r != NULL);
    a->phase = PHASE_FAILED;
    guard_issue(a, TG_LOG_ERROR, "startup_failed", step, r->error.err.msg);
}

static void startup_time_done(void *ctx, const tg_venue_reply *r) {
    assert(ctx != NULL && r != NULL && r->op == TG_VOP_TIME);
    guard_account *a = ctx;
    if (guard_quiet(a)) {
        return;
    }
    if (r->error.code != TG_VENUE_OK) {
        startup_failed(a, "time", r);
        return;
    }
    tg_logline l;
    tg_log_begin(&l, a->g->log, TG_LOG_INFO, "clock_synced");
    tg_log_str(&l, "account", a->name);
    tg_log_int(&l, "offset_ms", r->offset_ms);
    tg_log_end(&l);
    a->phase = PHASE_RULES;
    tg_err err;
    if (tg_venue_get_rules(a->venue, startup_rules_done, a, &err) != TG_OK) {
        a->phase = PHASE_FAILED;
        guard_issue(a, TG_LOG_ERROR, "startup_failed", "rules", err.msg);
    }
}

static void startup_rules_done(void *ctx, const tg_venue_reply *r) {
    assert(ctx != NULL && r != NULL && r->op == TG_VOP_RULES);
    guard_account *a = ctx;
    if (guard_quiet(a)) {
        return;
    }
    if (r->error.code != TG_VENUE_OK) {
        startup_failed(a, "rules", r);
        return;
    }
    free(a->rules);
    a->rules = malloc((r->rules_count + 1) * sizeof *a->rules);
    if (a->rules == NULL) {
        a->rules_count = 0;
        a->phase = PHASE_FAILED;
        return;
    }
    memcpy(a->rules, r->rules, r->rules_count * sizeof *a->rules);
    a->rules_count = r->rules_count;
    a->phase = PHASE_LIVE;
    tg_logline l;
    tg_log_begin(&l, a->g->log, TG_LOG_INFO, "rules_loaded");
    tg_log_str(&l, "account", a->name);
    tg_log_int(&l, "instruments", (int64_t)r->rules_count);
    tg_log_end(&l);
    guard_reconcile(a, "startup");
}

void guard_account_start(guard_account *a) {
    assert(a != NULL && a->venue != NULL);
    tg_err err;
    a->phase = PHASE_TIME;
    if (tg_venue_sync_time(a->venue, startup_time_done, a, &err) != TG_OK) {
        a->phase = PHASE_FAILED;
        guard_issue(a, TG_LOG_ERROR, "startup_failed", "time", err.msg);
    }
}

/* ---- restore ---------------------------------------------------------- */

uint64_t guard_gen_of(const char *client_id) {
    assert(client_id != NULL);
    const char *dash = strrchr(client_id, '-');
    if (dash == NULL || strncmp(client_id, TG_VENUE_CLIENT_PREFIX, 3) != 0) {
        return 0;
    }
    uint64_t gen = 0;
    for (const char *p = dash + 1; *p != '\0'; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'z' ? *p - 'a' + 10 : -1;
        if (d < 0 || gen > UINT64_MAX / 36) {
            return 0;
        }
        gen = gen * 36 + (uint64_t)d;
    }
    return gen;
}

typedef struct restore_ctx {
    guard_account *a;
    tg_err err;
    tg_status st;
} restore_ctx;

static bool restore_row(void *ctx, const tg_store_row *row) {
    assert(ctx != NULL && row != NULL);
    assert(row->stop.state != TG_STATE_CLOSED); /* tg_store_load gives open rows */
    restore_ctx *rc = ctx;
    guard_account *a = rc->a;
    uint32_t id;
    tg_err err;
    if (tg_book_restore(a->book, row->symbol, &row->stop, &id, &err) != TG_OK) {
        guard_issue(a, TG_LOG_ERROR, "restore_refused", row->position_key, err.msg);
        return true; /* the rest of the book still comes back */
    }
    guard_pos *p = &a->pos[id];
    guard_pos_clear(p);
    p->used = true;
    p->instance = ++a->instances;
    guard_copy(p->row.symbol, sizeof p->row.symbol, row->symbol);
    guard_copy(p->row.position_key, sizeof p->row.position_key, row->position_key);
    guard_copy(p->row.order_id, sizeof p->row.order_id, row->order_id);
    guard_copy(p->row.client_order_id, sizeof p->row.client_order_id, row->client_order_id);
    p->row.version = row->version;
    p->qty = row->stop.quantity;
    p->protected_ms = 0;
    p->gen = guard_gen_of(row->client_order_id);
    if (row->order_id[0] != '\0') {
        /* believed on the exchange; reconcile confirms or corrects it */
        p->have_ex = true;
        guard_copy(p->ex.symbol, sizeof p->ex.symbol, row->symbol);
        guard_copy(p->ex.order_id, sizeof p->ex.order_id, row->order_id);
        guard_copy(p->ex.client_id, sizeof p->ex.client_id, row->client_order_id);
        guard_copy(p->ex.position_key, sizeof p->ex.position_key, row->position_key);
        p->ex.side = (tg_side)row->stop.side;
        p->ex.trigger = row->stop.stop_confirmed;
        p->ex.owned = true;
        p->ex.position_level = strcmp(row->order_id, "position") == 0;
    }
    snprintf(p->last_action, sizeof p->last_action, "restored %s",
             tg_state_str((tg_state)row->stop.state));
    a->restored++;
    if (guard_stage(a, id, NULL, &err) != TG_OK) {
        /* the writer learns the row's version now; nothing is written yet */
        guard_issue(a, TG_LOG_ERROR, "restore_stage_failed", row->position_key, err.msg);
    }
    tg_logline l;
    tg_log_begin(&l, a->g->log, TG_LOG_INFO, "position_restored");
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "key", row->position_key);
    tg_log_str(&l, "state", tg_state_str((tg_state)row->stop.state));
    tg_dec stop;
    if (tg_stop_current(&row->stop, &stop)) {
        tg_log_dec(&l, "stop", stop);
    }
    tg_log_bool(&l, "needs_reconcile", row->needs_reconcile);
    tg_log_end(&l);
    return true;
}

/* A SQLite store is one process's: the daemon holds an exclusive lock on
 * the file for as long as it runs. */
static tg_status lock_sqlite(tg_guard *g, const char *uri, tg_err *err) {
    assert(g != NULL && uri != NULL && g->lock_fd < 0);
    if (strncmp(uri, "postgres", 8) == 0 || strchr(uri, '=') != NULL) {
        return TG_OK;
    }
    const char *path = strncmp(uri, "sqlite:", 7) == 0 ? uri + 7 : uri;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return tg_err_set(err, TG_E_IO, "cannot open store '%s': %s", path, strerror(errno));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return tg_err_set(err, TG_E_STATE,
                          "store '%s' is in use by another trailguard process; a SQLite store "
                          "serves one daemon (use PostgreSQL for several)",
                          path);
    }
    g->lock_fd = fd;
    return TG_OK;
}

uint64_t guard_mono_ms(void) {
    return uv_hrtime() / 1000000;
}

tg_status guard_account_serve_open(guard_account *a, tg_err *err) {
    assert(a != NULL && a->store != NULL && a->book == NULL);
    tg_guard *g = a->g;
    tg_status st =
        tg_writer_new(a->store, TG_GUARD_POSITIONS_MAX, GUARD_ENTRIES_MAX, 0, &a->writer, err);
    if (st == TG_OK) {
        st = tg_book_new(TG_GUARD_POSITIONS_MAX, TG_GUARD_SYMBOLS_MAX, &a->book, err);
    }
    if (st != TG_OK) {
        return st;
    }
    a->pos = calloc(TG_GUARD_POSITIONS_MAX, sizeof *a->pos);
    a->mark_ms = calloc(TG_GUARD_SYMBOLS_MAX, sizeof *a->mark_ms);
    a->marks = calloc(TG_GUARD_SYMBOLS_MAX, sizeof *a->marks);
    a->subscribed = calloc(TG_GUARD_SYMBOLS_MAX, sizeof *a->subscribed);
    a->stale = calloc(TG_GUARD_SYMBOLS_MAX, sizeof *a->stale);
    a->stale_shown = calloc(TG_GUARD_SYMBOLS_MAX, sizeof *a->stale_shown);
    if (!a->pos || !a->mark_ms || !a->marks || !a->subscribed || !a->stale) {
        return tg_err_set(err, TG_E_NOMEM, "out of memory for account '%s'", a->name);
    }
    restore_ctx rc = {.a = a, .st = TG_OK};
    st = tg_store_load(a->store, false, restore_row, &rc, err);
    if (st != TG_OK) {
        return st;
    }
    a->store_ok = true;
    st = tg_venue_new(&a->vcfg, g->loop, &a->venue, err);
    if (st != TG_OK) {
        return st;
    }
    tg_venue_on_event(a->venue, guard_on_event, a);
    /* Order budget: Binance counts place + cancel (1,200 orders a minute),
     * Bybit 10 trading-stop calls a second per UID. */
    if (a->vcfg.kind == TG_VENUE_BINANCE) {
        uint32_t per_min = a->vcfg.order_limit_per_min > 0 ? a->vcfg.order_limit_per_min : 1200;
        a->tokens_per_ms = per_min / 60000.0;
        a->tokens_max = per_min / 60.0;
        a->cost_per_set = 2;
    } else {
        a->tokens_per_ms = 10 / 1000.0;
        a->tokens_max = 10;
        a->cost_per_set = 1;
    }
    a->tokens = a->tokens_max;
    a->budget_ms = uv_now(g->loop);
    tg_logline l;
    tg_log_begin(&l, g->log, TG_LOG_INFO, "account_opened");
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "venue", tg_venue_kind_str(a->vcfg.kind));
    tg_log_str(&l, "store", tg_store_backend_name(a->store));
    tg_log_int(&l, "restored", a->restored);
    tg_log_end(&l);
    return TG_OK;
}

void guard_account_serve_free(guard_account *a) {
    tg_writer_free(a->writer);
    tg_book_free(a->book);
    for (uint32_t i = 0; a->pos != NULL && i < TG_GUARD_POSITIONS_MAX; i++) {
        free(a->pos[i].override);
    }
    free(a->pos);
    free(a->rules);
    free(a->mark_ms);
    free(a->marks);
    free(a->subscribed);
    free(a->stale);
    free(a->stale_shown);
    a->writer = NULL;
    a->book = NULL;
    a->pos = NULL;
    a->rules = NULL;
    a->rules_count = 0;
    a->mark_ms = NULL;
    a->marks = NULL;
    a->subscribed = NULL;
    a->stale = NULL;
    a->reconciling = a->reconcile_again = a->dirty = false;
    a->account_stream_started = a->restored_any = false;
    a->restored = 0;
    a->inflight = 0;
    a->reconcile_due_ms = 0;
    a->last_connect_ms = 0;
}

tg_status guard_store_open(guard_account *a, tg_err *err) {
    assert(a != NULL && a->g != NULL && a->store == NULL);
    tg_guard *g = a->g;
    tg_status st = tg_store_open(g->cfg->store_uri, a->name, &a->store, err);
    if (st != TG_OK) {
        return st;
    }
    /* Every account has its own connection; on SQLite each would cache up
     * to 2 MiB of the same file. They share that one budget instead. */
    int64_t kib = GUARD_SQLITE_CACHE_KIB / (int64_t)g->accounts_count;
    kib = kib < GUARD_SQLITE_CACHE_MIN_KIB ? GUARD_SQLITE_CACHE_MIN_KIB : kib;
    return tg_store_cache_limit(a->store, kib, err);
}

static tg_status account_open(guard_account *a, tg_err *err) {
    tg_status st = guard_store_open(a, err);
    return st == TG_OK ? guard_account_serve_open(a, err) : st;
}

/* ---- the loop turn ---------------------------------------------------- */

static void flush_account(guard_account *a) {
    assert(a != NULL && a->writer != NULL);
    if (!a->dirty) {
        return;
    }
    tg_err err;
    uint64_t t0 = uv_hrtime();
    tg_status st = tg_writer_flush(a->writer, guard_now_ms(a), &err);
    uint64_t took_ns = uv_hrtime() - t0;
    tg_metrics_observe(a->c.commit, (double)took_ns / 1e9);
    tg_logline l; /* per commit, so debug only: bench/tick_to_request pairs ticks with it */
    tg_log_begin(&l, a->g->log, TG_LOG_DEBUG, "store_commit");
    tg_log_str(&l, "account", a->name);
    tg_log_int(&l, "us", (int64_t)(took_ns / 1000u));
    tg_log_bool(&l, "ok", st == TG_OK);
    tg_log_end(&l);
    if (st == TG_E_CONFLICT && tg_store_fenced(a->store)) {
        guard_cluster_fenced(a, err.msg);
        return;
    }
    if (st == TG_OK || st == TG_E_CONFLICT) {
        if (!a->store_ok) {
            guard_issue(a, TG_LOG_INFO, "store_recovered", NULL, NULL);
        }
        a->store_ok = true;
        a->dirty = false;
        if (st == TG_E_CONFLICT) {
            guard_issue(a, TG_LOG_ERROR, "store_conflict", NULL, err.msg);
        }
        return;
    }
    a->c.flush_failures++;
    a->store_error = err;
    if (a->store_ok) {
        /* protection wins: requests still go out; the writer keeps the work */
        guard_issue(a, TG_LOG_ERROR, "store_down", NULL, err.msg);
    }
    a->store_ok = false;
}

void guard_flush(guard_account *a) {
    flush_account(a);
}

/* Group commit across loop turns: marks written by the exchange a few
 * microseconds apart are read in separate turns, and a commit (an fsync)
 * per turn would make each wait behind the last one's. While input is
 * already waiting in the kernel (the loop's epoll descriptor is readable)
 * and the oldest staged work is younger than GUARD_BATCH_LINGER_NS, the
 * turn ends without committing or sending, so the next turn reads that
 * input and one commit carries it all. Nothing waits for input that has not
 * arrived: an idle socket costs one poll(2) of zero timeout. */
static bool input_waiting(tg_guard *g) {
    struct pollfd pfd = {.fd = uv_backend_fd(g->loop), .events = POLLIN};
    return pfd.fd >= 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) != 0;
}

static bool linger(tg_guard *g) {
    if (g->draining) {
        return false;
    }
    bool dirty = false;
    for (uint32_t i = 0; i < g->accounts_count && !dirty; i++) {
        dirty = g->accounts[i].book != NULL && g->accounts[i].dirty;
    }
    if (!dirty) {
        g->batch_since_ns = 0;
        return false;
    }
    uint64_t now = uv_hrtime();
    if (g->batch_since_ns == 0) {
        g->batch_since_ns = now;
    }
    if (now - g->batch_since_ns < GUARD_BATCH_LINGER_NS && input_waiting(g)) {
        return true;
    }
    g->batch_since_ns = 0;
    return false;
}

static void on_turn(uv_check_t *h) {
    assert(h != NULL && h->data != NULL);
    tg_guard *g = h->data;
    if (linger(g)) {
        return;
    }
    if (g->cluster && !g->draining) {
        guard_cluster_check(g); /* before any request of this turn */
    }
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        if (a->book == NULL) {
            continue;
        }
        flush_account(a);
        if (g->draining) {
            continue;
        }
        guard_dispatch(a);
        if (a->reconcile_due_ms != 0 && (int64_t)uv_now(g->loop) >= a->reconcile_due_ms) {
            a->reconcile_due_ms = 0;
            guard_reconcile(a, "stream connected");
        }
    }
}

/* Before the loop waits for input: the lines of timers and callbacks go out,
 * unless a batch waits for input already there (the poll will not wait). */
static void on_log_flush(uv_prepare_t *h) {
    assert(h != NULL && h->data != NULL);
    tg_guard *g = h->data;
    if (g->batch_since_ns == 0) {
        tg_log_flush(g->log);
    }
}

static void on_dispatch_timer(uv_timer_t *t) {
    (void)t; /* the check handle that runs after it does the work */
}

static void check_stale(guard_account *a);
static void on_reconcile_timer(uv_timer_t *t) {
    assert(t != NULL && t->data != NULL);
    tg_guard *g = t->data;
    int64_t now = (int64_t)uv_now(g->loop);
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        if (a->venue == NULL || g->draining) {
            continue;
        }
        if (a->phase == PHASE_FAILED) {
            guard_account_start(a);
            continue;
        }
        if (a->phase != PHASE_LIVE) {
            continue;
        }
        check_stale(a);
        if (a->last_connect_ms > 0 && now - a->last_connect_ms >= GUARD_RECONNECT_FORCE_MS) {
            a->last_connect_ms = now; /* the CONNECTED events set it again */
            tg_logline l;
            tg_log_begin(&l, g->log, TG_LOG_INFO, "streams_renewed");
            tg_log_str(&l, "account", a->name);
            tg_log_str(&l, "why", "a stream is renewed every 23 h, before the exchange cuts it");
            tg_log_end(&l);
            tg_venue_streams_renew(a->venue);
        }
        tg_guard_settings s = guard_settings(a, NULL);
        if (now - a->last_reconcile_ms >= s.reconcile_interval_ms) {
            guard_reconcile(a, "interval");
        }
    }
}

/* ---- staleness -------------------------------------------------------- */

typedef struct mark_req {
    guard_account *a;
    char symbol[TG_SYMBOL_MAX];
} mark_req;

static void rest_mark_done(void *ctx, const tg_venue_reply *r) {
    assert(ctx != NULL && r != NULL && r->op == TG_VOP_MARK);
    mark_req *m = ctx;
    guard_account *a = m->a;
    if (r->error.code == TG_VENUE_OK && !guard_quiet(a) && tg_dec_is_pos(r->mark)) {
        a->c.rest_marks++;
        tg_venue_event ev = {.kind = TG_VEV_MARK,
                             .stream = TG_VSTREAM_MARKET,
                             .ts_ms = r->mark_ms > 0 ? r->mark_ms : guard_now_ms(a),
                             .mark = r->mark};
        guard_copy(ev.symbol, sizeof ev.symbol, m->symbol);
        /* for this account only, and still stale for the stream: a REST
         * mark does not refresh the stream's time */
        guard_on_mark(a, &ev, false);
    }
    free(m);
}

static void check_stale(guard_account *a) {
    assert(a != NULL && a->book != NULL && a->stale != NULL);
    int64_t now = (int64_t)uv_now(a->g->loop);
    uint32_t symbols = 0;
    while (tg_book_symbol_name(a->book, symbols) != NULL) {
        symbols++;
    }
    /* one pass over the positions, not one per symbol */
    bool *has_open = calloc(symbols + 1, sizeof *has_open);
    if (has_open == NULL) {
        return;
    }
    for (uint32_t id = tg_book_next(a->book, TG_BOOK_NONE); id != TG_BOOK_NONE;
         id = tg_book_next(a->book, id)) {
        uint32_t sym = tg_book_position_symbol(a->book, id);
        assert(sym < symbols);
        has_open[sym] = true;
    }
    for (uint32_t sym = 0; sym < symbols; sym++) {
        const char *name = tg_book_symbol_name(a->book, sym);
        assert(name != NULL);
        if (!has_open[sym] || !a->subscribed[sym]) {
            a->stale[sym] = false;
            continue;
        }
        tg_guard_settings s = guard_settings(a, name);
        bool stale = now - a->mark_ms[sym] >= s.stale_ms;
        if (stale && !a->stale[sym]) {
            guard_issue(a, TG_LOG_WARN, "feed_stale", name, "no mark price within stale_seconds");
        } else if (!stale && a->stale[sym]) {
            guard_issue(a, TG_LOG_INFO, "feed_recovered", name, NULL);
        }
        a->stale[sym] = stale;
        if (stale) {
            mark_req *m = calloc(1, sizeof *m);
            tg_err err;
            if (m != NULL) {
                m->a = a;
                guard_copy(m->symbol, sizeof m->symbol, name);
                if (tg_venue_get_mark(a->venue, name, rest_mark_done, m, &err) != TG_OK) {
                    free(m);
                }
            }
        }
    }
    free(has_open);
}

/* ---- life cycle ------------------------------------------------------- */

#ifndef TG_VERSION
#error "TG_VERSION is the project version (CMakeLists.txt)"
#endif

/* "trailguard/VERSION", and " (NODE_ID)" in a cluster: the exchange (or the
 * emulator's request log) can tell which process sent a request, which is
 * how the failover test proves two never send for one account at once. */
static void guard_user_agent(const tg_config *cfg, char *out, size_t cap) {
    assert(out != NULL && cap >= TG_VENUE_UA_MAX);
    int n = cfg->cluster.enabled
                ? snprintf(out, cap, "trailguard/%s (%s)", TG_VERSION, cfg->cluster.node_id)
                : snprintf(out, cap, "trailguard/%s", TG_VERSION);
    assert(n > 0 && (size_t)n < cap); /* node_id is under TG_CONFIG_NODE_ID_MAX bytes */
}

tg_status tg_guard_new(const tg_config *cfg, uv_loop_t *loop, tg_log *log, tg_guard **out,
                       tg_err *err) {
    assert(cfg != NULL && loop != NULL && log != NULL && out != NULL);
    if (cfg->accounts_count == 0) {
        return tg_err_set(err, TG_E_INVALID, "the configuration has no [account NAME] section");
    }
    tg_guard *g = calloc(1, sizeof *g);
    if (g == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "out of memory");
    }
    g->loop = loop;
    g->log = log;
    g->lock_fd = -1;
    g->cfg_initial = cfg;
    g->cfg = (tg_config *)cfg;
    g->cluster = cfg->cluster.enabled;
    g->accounts = calloc(cfg->accounts_count, sizeof *g->accounts);
    if (g->accounts == NULL) {
        free(g);
        return tg_err_set(err, TG_E_NOMEM, "out of memory");
    }
    g->accounts_count = (uint32_t)cfg->accounts_count;
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        a->g = g;
        a->index = i;
        guard_copy(a->name, sizeof a->name, cfg->accounts[i].name);
        a->vcfg = cfg->accounts[i].venue;
        guard_user_agent(cfg, a->vcfg.user_agent, sizeof a->vcfg.user_agent);
    }
    assign_feeds(g);
    tg_status st = guard_metrics_init(g, err);
    if (st != TG_OK) {
        tg_metrics_free(g->metrics);
        free(g->accounts);
        free(g);
        return st;
    }
    *out = g;
    return TG_OK;
}

tg_status tg_guard_start(tg_guard *g, tg_err *err) {
    assert(g != NULL && !g->started);
    tg_status st = lock_sqlite(g, g->cfg->store_uri, err);
    for (uint32_t i = 0; !g->cluster && st == TG_OK && i < g->accounts_count; i++) {
        st = account_open(&g->accounts[i], err);
    }
    if (st == TG_OK && g->cluster) {
        st = guard_cluster_start(g, err); /* accounts open as their leases are taken */
    }
    if (st == TG_OK && g->cfg->webhook_url[0] != '\0') {
        tg_notify_config nc = tg_notify_config_default();
        guard_copy(nc.webhook_url, sizeof nc.webhook_url, g->cfg->webhook_url);
        nc.queue_max = g->cfg->notify_queue_max;
        st = tg_notify_new(g->loop, &nc, &g->notify, err);
    }
    if (st == TG_OK && g->cfg->http_listen[0] != '\0') {
        st = tg_httpd_start(g->loop, g->cfg->http_listen, guard_http, g, &g->httpd, err);
    }
    if (st != TG_OK) {
        return st;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g->started_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    uv_check_init(g->loop, &g->turn);
    g->turn.data = g;
    uv_check_start(&g->turn, on_turn);
    uv_prepare_init(g->loop, &g->log_flush);
    g->log_flush.data = g;
    uv_prepare_start(&g->log_flush, on_log_flush);
    tg_log_hold(g->log, true);
    uv_timer_init(g->loop, &g->dispatch_timer);
    g->dispatch_timer.data = g;
    uv_timer_start(&g->dispatch_timer, on_dispatch_timer, GUARD_DISPATCH_MS, GUARD_DISPATCH_MS);
    uv_timer_init(g->loop, &g->reconcile_timer);
    g->reconcile_timer.data = g;
    uv_timer_start(&g->reconcile_timer, on_reconcile_timer, 1000, 1000);
    for (uint32_t i = 0; !g->cluster && i < g->accounts_count; i++) {
        guard_account_start(&g->accounts[i]);
    }
    g->started = true;
    tg_logline l;
    tg_log_begin(&l, g->log, TG_LOG_INFO, "started");
    tg_log_int(&l, "accounts", g->accounts_count);
    tg_log_str(&l, "store",
               g->accounts[0].store != NULL ? tg_store_backend_name(g->accounts[0].store) : "none");
    if (g->httpd != NULL) {
        tg_log_int(&l, "http_port", tg_httpd_port(g->httpd));
    }
    tg_log_end(&l);
    return TG_OK;
}

void tg_guard_reload(tg_guard *g, const tg_config *cfg) {
    assert(g != NULL && cfg != NULL);
    g->cfg = (tg_config *)cfg;
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        if (a->book == NULL) {
            continue;
        }
        for (uint32_t id = tg_book_next(a->book, TG_BOOK_NONE); id != TG_BOOK_NONE;
             id = tg_book_next(a->book, id)) {
            guard_pos *p = &a->pos[id];
            if (p->has_override) {
                continue;
            }
            tg_params params = guard_params(a, p, p->row.symbol);
            tg_err err;
            if (tg_book_set_params(a->book, id, &params, &err) != TG_OK) {
                guard_issue(a, TG_LOG_ERROR, "reload_refused", p->row.position_key, err.msg);
            }
        }
    }
}

static void close_cb(uv_handle_t *h) {
    (void)h;
}

void tg_guard_drain(tg_guard *g) {
    assert(g != NULL);
    if (g->draining) {
        return;
    }
    g->draining = true;
    tg_logline l;
    tg_log_begin(&l, g->log, TG_LOG_INFO, "draining");
    tg_log_end(&l);
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        if (a->writer != NULL) {
            a->dirty = true;
            flush_account(a);
        }
        if (a->venue != NULL) {
            tg_venue_close(a->venue);
        }
    }
    if (g->cluster) {
        guard_cluster_release(g); /* after the last flush: another process may start at once */
    }
    if (g->started) {
        if (g->cluster) {
            uv_close((uv_handle_t *)&g->lease_timer, close_cb);
        }
        uv_check_stop(&g->turn);
        uv_close((uv_handle_t *)&g->turn, close_cb);
        uv_close((uv_handle_t *)&g->log_flush, close_cb);
        tg_log_hold(g->log, false);
        uv_close((uv_handle_t *)&g->dispatch_timer, close_cb);
        uv_close((uv_handle_t *)&g->reconcile_timer, close_cb);
    }
    if (g->httpd != NULL) {
        tg_httpd_stop(g->httpd); /* frees itself once its handles closed */
        g->httpd = NULL;
    }
    if (g->notify != NULL) {
        tg_notify_close(g->notify);
        g->notify = NULL;
    }
}

void tg_guard_free(tg_guard *g) {
    if (g == NULL) {
        return;
    }
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        if (a->writer != NULL) {
            tg_err err;
            tg_writer_flush(a->writer, guard_now_ms(a), &err);
        }
        tg_venue_free(a->venue);
        tg_venue_free(a->old_venue);
        /* libwebsockets finishes destroying a context on a foreign loop from
         * the loop itself: one context at a time (two at once leak TLS state) */
        for (int turn = 0; turn < 1000 && uv_loop_alive(g->loop); turn++) {
            uv_run(g->loop, UV_RUN_NOWAIT);
        }
        guard_account_serve_free(a);
        tg_store_close(a->store);
    }
    assert(g->httpd == NULL && g->notify == NULL); /* tg_guard_drain closed them */
    tg_store_close(g->presence);
    if (g->lock_fd >= 0) {
        close(g->lock_fd);
    }
    tg_metrics_free(g->metrics);
    free(g->accounts);
    free(g);
}

bool tg_guard_healthy(const tg_guard *g) {
    assert(g != NULL);
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        const guard_account *a = &g->accounts[i];
        if (g->cluster && !a->held) {
            continue; /* served by another process, or waiting for its lease */
        }
        if (a->phase != PHASE_LIVE || !a->store_ok) {
            return false;
        }
        for (uint32_t s = 0; s < TG_GUARD_SYMBOLS_MAX && a->stale != NULL; s++) {
            if (a->stale[s]) {
                return false;
            }
        }
    }
    return true;
}

uint16_t tg_guard_http_port(const tg_guard *g) {
    assert(g != NULL);
    return g->httpd != NULL ? tg_httpd_port(g->httpd) : 0;
}
