#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard_int.h"

/* One pass: the exchange's positions, then its open stops, then the rules
 * of guard.h applied to both snapshots at once. */
typedef struct pass {
    guard_account *a;             /* the account */
    char why[48];                 /* what asked for it */
    uint64_t started_ms;          /* uv_now at the first request */
    tg_venue_position *positions; /* the positions snapshot */
    size_t positions_count;       /* entries */
} pass;

typedef struct tally {
    uint32_t opened, adopted, created, closed, orphans, duplicates, foreign;
} tally;

static bool tighter(tg_side side, tg_dec a, tg_dec b) {
    assert(side == TG_SIDE_LONG || side == TG_SIDE_SHORT);
    return side == TG_SIDE_LONG ? tg_dec_gt(a, b) : tg_dec_lt(a, b);
}

static void pass_end(pass *ps) {
    assert(ps != NULL && ps->a != NULL);
    assert(ps->a->reconciling);
    assert(ps->positions_count == 0 || ps->positions != NULL);
    guard_account *a = ps->a;
    a->reconciling = false;
    a->last_reconcile_ms = (int64_t)uv_now(a->g->loop);
    free(ps->positions);
    free(ps);
    if (a->reconcile_again && !guard_quiet(a)) {
        a->reconcile_again = false;
        guard_reconcile(a, "asked again");
    }
}

/* A position the pass must not judge: a request for it is out, or came back
 * after the snapshot was taken. */
static bool busy(const guard_pos *p, uint64_t started_ms) {
    assert(p != NULL);
    assert(p->used);
    return p->in_flight || p->touched_ms >= started_ms;
}

/* Whether the position may have closed after the pass's snapshot was taken:
 * it did, or so many closed since that the ring no longer tells. */
static bool closed_since(const guard_account *a, const char *key, uint64_t started_ms) {
    assert(a != NULL && key != NULL);
    uint32_t n = a->closed_next < GUARD_CLOSED_RING ? a->closed_next : GUARD_CLOSED_RING;
    for (uint32_t i = 0; i < n; i++) {
        const guard_closed *c = &a->closed[i];
        if (c->ms >= started_ms && strcmp(c->key, key) == 0) {
            return true;
        }
    }
    if (n == GUARD_CLOSED_RING) {
        const guard_closed *oldest = &a->closed[a->closed_next % GUARD_CLOSED_RING];
        return oldest->ms >= started_ms;
    }
    return false;
}

static void apply(pass *ps, const tg_venue_stop *stops, size_t stops_count) {
    assert(ps != NULL && ps->a != NULL && ps->a->book != NULL);
    assert(stops_count <= TG_VENUE_STOPS_MAX);
    assert(stops_count == 0 || stops != NULL);
    assert(ps->positions_count <= TG_VENUE_POSITIONS_MAX);
    guard_account *a = ps->a;
    tally t = {0};
    for (uint32_t id = tg_book_next(a->book, TG_BOOK_NONE); id != TG_BOOK_NONE;
         id = tg_book_next(a->book, id)) {
        a->pos[id].seen = false;
    }
    /* 1. positions: open the unknown ones, follow sizes */
    for (size_t i = 0; i < ps->positions_count; i++) {
        const tg_venue_position *vp = &ps->positions[i];
        uint32_t id = guard_find(a, vp->key);
        if (id == TG_BOOK_NONE && closed_since(a, vp->key, ps->started_ms)) {
            a->reconcile_again = true; /* the next snapshot tells whether it is open */
            continue;
        }
        if (id == TG_BOOK_NONE) {
            id = guard_open_position(a, vp);
            t.opened += id != TG_BOOK_NONE;
        } else if (!busy(&a->pos[id], ps->started_ms)) {
            guard_resize(a, id, vp->size);
        }
        if (id != TG_BOOK_NONE) {
            a->pos[id].seen = true;
            a->pos[id].position_idx = vp->position_idx;
            if (tg_dec_is_pos(vp->mark)) {
                guard_subscribe(a, vp->symbol);
            }
        }
    }
    /* 2. stops: the tightest of ours per position is adopted, the others go */
    const tg_venue_stop **best = calloc(TG_GUARD_POSITIONS_MAX, sizeof *best);
    if (best == NULL) {
        return;
    }
    tg_guard_settings settings = guard_settings(a, NULL);
    for (size_t i = 0; i < stops_count; i++) {
        const tg_venue_stop *st = &stops[i];
        if (st->state != TG_VSTOP_OPEN) {
            continue;
        }
        if (!st->owned) {
            t.foreign++;
            if (settings.foreign_stops == TG_FOREIGN_CANCEL) {
                guard_cancel_stop(a, st, "foreign stop (foreign_stops = cancel)");
                a->c.foreign_cancelled++;
            } else {
                guard_issue(a, TG_LOG_INFO, "foreign_stop",
                            st->position_key[0] ? st->position_key : st->symbol,
                            "a stop trailguard did not place: left alone");
            }
            continue;
        }
        uint32_t id = guard_find(a, st->position_key);
        if (id == TG_BOOK_NONE || !a->pos[id].seen) {
            bool seen_on_exchange = false;
            for (size_t k = 0; k < ps->positions_count; k++) {
                seen_on_exchange |= strcmp(ps->positions[k].key, st->position_key) == 0;
            }
            if (!seen_on_exchange) {
                guard_cancel_stop(a, st, "orphan: its position is gone");
                a->c.orphans_cancelled++;
                t.orphans++;
            }
            continue;
        }
        assert(id < TG_GUARD_POSITIONS_MAX);
        guard_pos *p = &a->pos[id];
        if (busy(p, ps->started_ms)) {
            continue; /* a replace may hold two stops for a moment */
        }
        const tg_venue_stop *keep = best[id];
        if (keep == NULL) {
            best[id] = st;
            continue;
        }
        tg_side side = (tg_side)tg_book_peek(a->book, id)->side;
        const tg_venue_stop *drop = st;
        if (tighter(side, st->trigger, keep->trigger)) {
            best[id] = st;
            drop = keep;
        }
        guard_cancel_stop(a, drop, "duplicate: a second trailguard stop on the position");
        a->c.duplicates_cancelled++;
        t.duplicates++;
    }
    a->c.foreign_seen = t.foreign;
    /* 3. every position seen has exactly one of our stops, or gets one */
    for (uint32_t id = tg_book_next(a->book, TG_BOOK_NONE); id != TG_BOOK_NONE;
         id = tg_book_next(a->book, id)) {
        guard_pos *p = &a->pos[id];
        if (!p->seen || busy(p, ps->started_ms)) {
            continue;
        }
        if (best[id] != NULL) {
            guard_adopt(a, id, best[id]);
            t.adopted++;
        } else if (!p->want || p->have_ex) {
            p->have_ex = false;
            p->row.order_id[0] = '\0';
            guard_want_current(a, id, "no trailguard stop on the exchange");
            a->c.recreated++;
            t.created++;
        }
    }
    free(best);
    /* 4. rows whose position is gone are closed */
    for (uint32_t id = tg_book_next(a->book, TG_BOOK_NONE); id != TG_BOOK_NONE;) {
        uint32_t next = tg_book_next(a->book, id);
        guard_pos *p = &a->pos[id];
        if (!p->seen && !busy(p, ps->started_ms)) {
            const tg_stop *s = tg_book_peek(a->book, id);
            guard_close_position(a, id, s->state == TG_STATE_TRIGGERED,
                                 "position not on the exchange at reconcile");
            t.closed++;
        }
        id = next;
    }
    a->c.reconciles++;
    tg_logline l;
    tg_log_begin(&l, a->g->log, TG_LOG_INFO, "reconciled");
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "why", ps->why);
    tg_log_int(&l, "positions", (int64_t)ps->positions_count);
    tg_log_int(&l, "opened", t.opened);
    tg_log_int(&l, "adopted", t.adopted);
    tg_log_int(&l, "created", t.created);
    tg_log_int(&l, "closed", t.closed);
    tg_log_int(&l, "orphans", t.orphans);
    tg_log_int(&l, "duplicates", t.duplicates);
    tg_log_int(&l, "foreign", t.foreign);
    tg_log_end(&l);
}

static void stops_done(void *ctx, const tg_venue_reply *r) {
    assert(ctx != NULL);
    assert(r != NULL);
    pass *ps = ctx;
    guard_account *a = ps->a;
    if (guard_quiet(a)) {
        pass_end(ps);
        return;
    }
    if (r->error.code != TG_VENUE_OK) {
        guard_issue(a, TG_LOG_WARN, "reconcile_failed", "stops", r->error.err.msg);
        pass_end(ps);
        return;
    }
    apply(ps, r->stops, r->stops_count);
    if (!a->account_stream_started) {
        tg_err err;
        if (tg_venue_account_start(a->venue, &err) != TG_OK) {
            guard_issue(a, TG_LOG_ERROR, "account_stream_failed", NULL, err.msg);
        } else {
            a->account_stream_started = true;
        }
    }
    pass_end(ps);
}

static void positions_done(void *ctx, const tg_venue_reply *r) {
    assert(ctx != NULL);
    assert(r != NULL);
    assert(((pass *)ctx)->positions == NULL);
    pass *ps = ctx;
    guard_account *a = ps->a;
    tg_err err;
    if (guard_quiet(a)) {
        pass_end(ps);
        return;
    }
    if (r->error.code != TG_VENUE_OK) {
        guard_issue(a, TG_LOG_WARN, "reconcile_failed", "positions", r->error.err.msg);
        pass_end(ps);
        return;
    }
    ps->positions = malloc((r->positions_count + 1) * sizeof *ps->positions);
    if (ps->positions == NULL) {
        pass_end(ps);
        return;
    }
    memcpy(ps->positions, r->positions, r->positions_count * sizeof *ps->positions);
    ps->positions_count = r->positions_count;
    assert(ps->positions_count <= TG_VENUE_POSITIONS_MAX);
    if (tg_venue_get_stops(a->venue, NULL, stops_done, ps, &err) != TG_OK) {
        guard_issue(a, TG_LOG_WARN, "reconcile_failed", "stops", err.msg);
        pass_end(ps);
    }
}

void guard_reconcile(guard_account *a, const char *why) {
    assert(a != NULL && why != NULL);
    if (a->phase != PHASE_LIVE || guard_quiet(a)) {
        return;
    }
    if (a->reconciling) {
        a->reconcile_again = true;
        return;
    }
    pass *ps = calloc(1, sizeof *ps);
    if (ps == NULL) {
        return;
    }
    ps->a = a;
    assert(!a->reconciling);
    ps->started_ms = uv_now(a->g->loop);
    guard_copy(ps->why, sizeof ps->why, why);
    tg_err err;
    a->reconciling = true;
    if (tg_venue_get_positions(a->venue, positions_done, ps, &err) != TG_OK) {
        guard_issue(a, TG_LOG_WARN, "reconcile_failed", "positions", err.msg);
        pass_end(ps);
    }
}
