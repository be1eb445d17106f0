/* [cluster]: several daemons on one PostgreSQL store split the accounts
 * between them. An account is served only while this process holds its
 * lease: taken at start and retried every renew interval when another
 * process has it, renewed every lease_renew_ms, and given up at once (no
 * request more, venue closed) when it is lost, fenced, or may run out
 * before the next renewal. A new owner starts the account as after a
 * restart: restore from the store, then reconcile, which adopts or cancels
 * what the previous owner left on the exchange. */
#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard_int.h"

#define OWNERS_MAX      (TG_CONFIG_ACCOUNTS_MAX * 8) /* distinct lease owners counted */
#define PRESENCE_PREFIX "~" /* a lease row named ~NODE_ID says a process is alive */

/* Leases seen in one look at the table. */
typedef struct lease_look {
    const tg_guard *g;                              /* whose node id is "me" */
    char owners[OWNERS_MAX][TG_CONFIG_NODE_ID_MAX]; /* live owners other than this process */
    uint32_t held[OWNERS_MAX];                      /* accounts each of them holds */
    uint32_t n_owners;                              /* entries in owners */
    uint32_t rows;                                  /* account leases in the table */
    tg_store_lease of[TG_CONFIG_ACCOUNTS_MAX];      /* this process's accounts' leases */
    bool found[TG_CONFIG_ACCOUNTS_MAX];             /* of[i] was seen */
} lease_look;

static bool look_one(void *ctx, const tg_store_lease *l) {
    lease_look *lk = ctx;
    bool presence = strncmp(l->account, PRESENCE_PREFIX, strlen(PRESENCE_PREFIX)) == 0;
    lk->rows += presence ? 0 : 1;
    for (uint32_t i = 0; i < lk->g->accounts_count; i++) {
        if (strcmp(lk->g->accounts[i].name, l->account) == 0) {
            lk->of[i] = *l;
            lk->found[i] = true;
        }
    }
    bool live = l->expires_ms > l->now_ms && l->owner[0] != '\0';
    if (!live || strcmp(l->owner, lk->g->cfg->cluster.node_id) == 0) {
        return true;
    }
    uint32_t i = 0;
    while (i < lk->n_owners && strcmp(lk->owners[i], l->owner) != 0) {
        i++;
    }
    if (i == lk->n_owners && lk->n_owners < OWNERS_MAX) {
        guard_copy(lk->owners[lk->n_owners++], TG_CONFIG_NODE_ID_MAX, l->owner);
    }
    if (i < lk->n_owners && !presence) {
        lk->held[i]++;
    }
    return true;
}

static void lease_log(guard_account *a, tg_log_level level, const char *msg, const char *detail) {
    tg_logline l;
    tg_log_begin(&l, a->g->log, level, msg);
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "node_id", a->g->cfg->cluster.node_id);
    tg_log_int(&l, "token", a->lease_token);
    if (detail != NULL) {
        tg_log_str(&l, "detail", detail);
    }
    tg_log_end(&l);
}

/* Stops serving a at once: no request leaves for it from here on (the
 * quiet check and the idle phase), its venue closes; the book and the
 * writer stay until the account is served again, for the replies that the
 * close cancels. */
static void unserve(guard_account *a, bool lost, const char *msg, const char *detail) {
    if (!a->held) {
        return;
    }
    tg_guard *g = a->g;
    a->held = false;
    a->phase = PHASE_IDLE;
    a->lease_losses += lost ? 1 : 0;
    assert(g->held_count > 0);
    g->held_count--;
    snprintf(a->lease_state, sizeof a->lease_state, "%s: %s", msg, detail != NULL ? detail : "");
    lease_log(a, lost ? TG_LOG_ERROR : TG_LOG_INFO, msg, detail);
    if (a->venue != NULL) {
        tg_venue_close(a->venue);
        assert(a->old_venue == NULL);
        a->old_venue = a->venue;
        a->old_venue_mono_ms = (int64_t)guard_mono_ms();
        a->venue = NULL;
    }
    if (lost) {
        tg_err_set(&a->last_error, TG_E_STATE, "%s: %s", msg, detail != NULL ? detail : "");
    }
}

/* Frees the venue closed at a lease loss once its handles had time to close. */
static bool venue_gone(guard_account *a) {
    if (a->old_venue == NULL) {
        return true;
    }
    if ((int64_t)guard_mono_ms() - a->old_venue_mono_ms < GUARD_VENUE_LINGER_MS) {
        return false;
    }
    tg_venue_free(a->old_venue);
    a->old_venue = NULL;
    return true;
}

/* The lease was just taken with token: the account starts as after a
 * restart, from what the store holds now. */
static void serve(guard_account *a, int64_t token, int64_t sent_ms, const char *previous) {
    tg_guard *g = a->g;
    guard_account_serve_free(a); /* what a previous term of ours left */
    a->held = true;
    a->lease_token = token;
    a->lease_ok_mono_ms = sent_ms;
    a->renew_failing = false;
    g->held_count++;
    if (token > 1) {
        a->takeovers++;
    }
    snprintf(a->lease_state, sizeof a->lease_state, "held (token %" PRId64 ")", token);
    lease_log(a, TG_LOG_INFO, "lease_taken", previous);
    tg_err err;
    if (guard_account_serve_open(a, &err) != TG_OK) {
        unserve(a, true, "account_open_failed", err.msg);
        return;
    }
    guard_account_start(a);
}

/* One take or renewal of a's lease. */
static void take(guard_account *a, const tg_store_lease *before) {
    tg_guard *g = a->g;
    const tg_config_cluster *c = &g->cfg->cluster;
    int64_t token = 0;
    bool taken = false;
    tg_err err;
    int64_t sent = (int64_t)guard_mono_ms();
    tg_status st = tg_store_lease_take(a->store, c->node_id, c->lease_ttl_ms, &token, &taken, &err);
    tg_metrics_observe(a->renew_latency, (double)((int64_t)guard_mono_ms() - sent) / 1e3);
    if (st != TG_OK) {
        if (!a->renew_failing) {
            lease_log(a, TG_LOG_WARN, a->held ? "lease_renew_failed" : "lease_take_failed",
                      err.msg);
        }
        a->renew_failing = true;
        return; /* a held lease is given up by guard_cluster_check in time */
    }
    a->renew_failing = false;
    char holder[TG_STORE_KEY_MAX + 64];
    snprintf(holder, sizeof holder, "held by %s (token %" PRId64 ")",
             before != NULL && before->owner[0] != '\0' ? before->owner : "another process",
             before != NULL ? before->token : 0);
    if (!taken) {
        if (a->held) {
            unserve(a, true, "lease_lost", holder);
        } else {
            snprintf(a->lease_state, sizeof a->lease_state, "idle: %s", holder);
        }
        return;
    }
    if (a->held && token == a->lease_token) {
        a->lease_ok_mono_ms = sent;
        return;
    }
    if (a->held) { /* it ran out before this renewal: a new term */
        unserve(a, true, "lease_expired", "the lease ran out before its renewal");
    }
    if (!venue_gone(a)) {
        return; /* the closed venue still lingers; the next tick starts it */
    }
    char prev[TG_STORE_KEY_MAX + 64];
    snprintf(prev, sizeof prev, "previous owner %s",
             before != NULL && before->owner[0] != '\0' ? before->owner : "none");
    serve(a, token, sent, prev);
}

/* Takes at most ceil(accounts / live processes) while other processes are
 * alive, and at most max_accounts. */
static uint32_t fair_share(const tg_guard *g, const lease_look *lk) {
    uint32_t accounts = lk->rows > g->accounts_count ? lk->rows : g->accounts_count;
    uint32_t live = lk->n_owners + 1;
    uint32_t share = (accounts + live - 1) / live;
    uint32_t cap = g->cfg->cluster.max_accounts;
    return cap > 0 && cap < share ? cap : share;
}

/* Gives one account back per tick while this process holds more than its
 * share and another live process holds less: that one takes it at its next
 * tick. A process at or under its share never gives, so it settles. */
static void rebalance(tg_guard *g, const lease_look *lk, uint32_t share) {
    bool someone_short = false;
    for (uint32_t i = 0; i < lk->n_owners; i++) {
        someone_short |= lk->held[i] < share;
    }
    if (g->held_count <= share || !someone_short) {
        return;
    }
    for (uint32_t i = g->accounts_count; i-- > 0;) {
        guard_account *a = &g->accounts[i];
        if (!a->held) {
            continue;
        }
        a->dirty = true;
        guard_flush(a); /* the new owner restores what this one did last */
        tg_err err;
        tg_status st = tg_store_lease_release(a->store, g->cfg->cluster.node_id, &err);
        char why[128];
        snprintf(why, sizeof why, "handed over: %u held, share %u of %u processes", g->held_count,
                 share, g->live_owners);
        unserve(a, false, "lease_handed_over", st == TG_OK ? why : err.msg);
        return;
    }
}

static void lease_tick(tg_guard *g) {
    lease_look *lk = calloc(1, sizeof *lk);
    if (lk == NULL) {
        return;
    }
    lk->g = g;
    tg_err err;
    if (tg_store_leases_list(g->accounts[0].store, look_one, lk, &err) != TG_OK) {
        lk->rows = 0; /* the takes below say what is wrong */
        lk->n_owners = 0;
    }
    g->live_owners = lk->n_owners + 1;
    uint32_t share = fair_share(g, lk);
    if (g->presence != NULL) {
        int64_t token = 0;
        bool taken = false;
        tg_store_lease_take(g->presence, g->cfg->cluster.node_id, g->cfg->cluster.lease_ttl_ms,
                            &token, &taken, &err); /* best effort: only the spread uses it */
    }
    rebalance(g, lk, share);
    for (uint32_t i = 0; i < g->accounts_count && !g->draining; i++) {
        guard_account *a = &g->accounts[i];
        if (!a->held) {
            venue_gone(a);
        }
        if (a->held || g->held_count < share) {
            take(a, lk->found[i] ? &lk->of[i] : NULL);
        } else if (!a->held) {
            snprintf(a->lease_state, sizeof a->lease_state,
                     "idle: this process serves its share (%u of %u accounts, %u processes)",
                     g->held_count, lk->rows, g->live_owners);
        }
    }
    free(lk);
    guard_cluster_check(g);
}

static void on_lease_timer(uv_timer_t *t) {
    tg_guard *g = t->data;
    if (!g->draining) {
        lease_tick(g);
    }
}

tg_status guard_cluster_start(tg_guard *g, tg_err *err) {
    assert(g->cluster && g->accounts_count > 0);
    const tg_config_cluster *c = &g->cfg->cluster;
    assert(c->lease_renew_ms > 0 && c->lease_renew_ms * 2 <= c->lease_ttl_ms);
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        tg_status st = guard_store_open(a, err);
        if (st != TG_OK) {
            return st;
        }
        a->phase = PHASE_IDLE;
        snprintf(a->lease_state, sizeof a->lease_state, "idle: not taken yet");
    }
    char presence[TG_STORE_KEY_MAX];
    snprintf(presence, sizeof presence, PRESENCE_PREFIX "%s", c->node_id);
    tg_status st = tg_store_open(g->cfg->store_uri, presence, &g->presence, err);
    if (st != TG_OK) {
        return st;
    }
    tg_logline l;
    tg_log_begin(&l, g->log, TG_LOG_INFO, "cluster_joined");
    tg_log_str(&l, "node_id", c->node_id);
    tg_log_int(&l, "lease_ttl_ms", c->lease_ttl_ms);
    tg_log_int(&l, "lease_renew_ms", c->lease_renew_ms);
    tg_log_end(&l);
    lease_tick(g);
    uv_timer_init(g->loop, &g->lease_timer);
    g->lease_timer.data = g;
    uv_timer_start(&g->lease_timer, on_lease_timer, (uint64_t)c->lease_renew_ms,
                   (uint64_t)c->lease_renew_ms);
    return TG_OK;
}

void guard_cluster_check(tg_guard *g) {
    const tg_config_cluster *c = &g->cfg->cluster;
    /* The server ends the lease ttl after the renewal was sent at the
     * latest; one renew interval before that, this process stops. */
    int64_t limit = c->lease_ttl_ms - c->lease_renew_ms;
    int64_t now = (int64_t)guard_mono_ms();
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        if (a->held && now - a->lease_ok_mono_ms > limit) {
            char why[160];
            snprintf(why, sizeof why,
                     "no successful renewal for %" PRId64 " ms (ttl %" PRId64 " ms, renew %" PRId64
                     " ms)",
                     now - a->lease_ok_mono_ms, c->lease_ttl_ms, c->lease_renew_ms);
            unserve(a, true, "lease_expiring", why);
        }
    }
}

void guard_cluster_fenced(guard_account *a, const char *why) {
    a->fenced_writes++;
    a->dirty = false; /* the batch is another owner's business now; never retried */
    unserve(a, true, "fenced", why);
}

void guard_cluster_release(tg_guard *g) {
    tg_err ignored;
    if (g->presence != NULL) {
        tg_store_lease_release(g->presence, g->cfg->cluster.node_id, &ignored);
    }
    for (uint32_t i = 0; i < g->accounts_count; i++) {
        guard_account *a = &g->accounts[i];
        if (!a->held || a->store == NULL) {
            continue;
        }
        tg_err err;
        if (tg_store_lease_release(a->store, g->cfg->cluster.node_id, &err) != TG_OK) {
            lease_log(a, TG_LOG_WARN, "lease_release_failed", err.msg);
            continue;
        }
        lease_log(a, TG_LOG_INFO, "lease_released", NULL);
        snprintf(a->lease_state, sizeof a->lease_state, "released");
    }
}
