#define _POSIX_C_SOURCE 200809L
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard_int.h"

#define DISPATCH_BATCH_MAX 256 /* positions considered per dispatch turn */

typedef struct op_ctx {
    guard_account *a;           /* the account */
    uint32_t id;                /* position, or TG_BOOK_NONE for a cleanup cancel */
    uint64_t sent_ns;           /* uv_hrtime at send */
    tg_dec price;               /* stop requested */
    char key[TG_STORE_KEY_MAX]; /* position key, for a position closed meanwhile */
    uint64_t instance;          /* the position's guard_pos.instance at send */
    tg_venue_stop prev;         /* SET: the stop it replaces (prev.order_id "" none) */
} op_ctx;

uint32_t guard_find(const guard_account *a, const char *position_key) {
    assert(a != NULL && position_key != NULL);
    for (uint32_t id = tg_book_next(a->book, TG_BOOK_NONE); id != TG_BOOK_NONE;
         id = tg_book_next(a->book, id)) {
        if (strcmp(a->pos[id].row.position_key, position_key) == 0) {
            return id;
        }
    }
    return TG_BOOK_NONE;
}

static tg_dec pos_mark(const guard_account *a, uint32_t id) {
    assert(a != NULL && id < TG_GUARD_POSITIONS_MAX);
    uint32_t sym = tg_book_position_symbol(a->book, id);
    return sym != TG_BOOK_NONE ? a->marks[sym] : (tg_dec){0};
}

static void set_action(guard_pos *p, const char *what, const tg_dec *price) {
    assert(p != NULL && what != NULL);
    char text[TG_DEC_STR_MAX] = "";
    if (price != NULL) {
        tg_dec_format(*price, 0, text);
    }
    snprintf(p->last_action, sizeof p->last_action, "%s%s%s", what, price ? " " : "", text);
}

static void log_event(guard_account *a, const guard_pos *p, const tg_event *ev) {
    assert(a != NULL && p != NULL && ev != NULL);
    assert(ev->type <= TG_EV_CLOSED && ev->state <= TG_STATE_CLOSED);
    tg_logline l;
    tg_log_level level = ev->type == TG_EV_SKIPPED ? TG_LOG_DEBUG : TG_LOG_INFO;
    if (ev->type == TG_EV_REJECTED || ev->type == TG_EV_CROSSED) {
        level = TG_LOG_WARN;
    }
    tg_log_begin(&l, a->g->log, level, tg_event_type_str((tg_event_type)ev->type));
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "key", p->row.position_key);
    if (ev->reason != TG_R_NONE) {
        tg_log_str(&l, "reason", tg_reason_str((tg_reason)ev->reason));
    }
    if (ev->has & TG_EVH_PRICE) {
        tg_log_dec(&l, "price", ev->price);
    }
    if (ev->has & TG_EVH_STOP) {
        tg_log_dec(&l, "stop", ev->stop);
    }
    if (ev->has & TG_EVH_PREV) {
        tg_log_dec(&l, "prev_stop", ev->prev_stop);
    }
    tg_log_str(&l, "state", tg_state_str((tg_state)ev->state));
    tg_log_end(&l);
}

static void notify_event(guard_account *a, const guard_pos *p, const tg_event *ev) {
    assert(a != NULL && p != NULL && ev != NULL);
    if (a->g->notify == NULL) {
        return;
    }
    switch (ev->type) {
    case TG_EV_ACTIVATED:
    case TG_EV_STOP_MOVED:
    case TG_EV_TRIGGERED:
    case TG_EV_CLOSED:
    case TG_EV_REJECTED:
    case TG_EV_CROSSED:
        break;
    default:
        return;
    }
    char body[768];
    char ev_json[512];
    if (tg_event_json(ev, 0, ev_json, sizeof ev_json) == 0) {
        return;
    }
    snprintf(body, sizeof body,
             "{\"kind\":\"event\",\"account\":\"%s\",\"venue\":\"%s\",\"key\":\"%s\","
             "\"event\":%s}",
             a->name, tg_venue_kind_str(a->vcfg.kind), p->row.position_key, ev_json);
    tg_err ignored;
    tg_notify_post(a->g->notify, body, &ignored); /* a full queue drops the oldest */
}

/* The engine's output for one position: journal it, remember what it asks
 * of the exchange. Requests leave only after the next flush. */
void guard_record(guard_account *a, guard_pos *p, const tg_stop *stop, const tg_out *out,
                  bool with_cmds) {
    assert(a != NULL && p != NULL && stop != NULL && out != NULL);
    assert(out->n_events <= TG_OUT_EVENTS_MAX && out->n_cmds <= TG_OUT_CMDS_MAX);
    assert(p->used);
    for (uint8_t i = 0; i < out->n_events; i++) {
        const tg_event *ev = &out->events[i];
        switch (ev->type) {
        case TG_EV_ACTIVATED:
            a->c.activations++;
            set_action(p, "activated", NULL);
            break;
        case TG_EV_STOP_MOVED:
            a->c.stop_moves++;
            set_action(p, "stop_moved", &ev->stop);
            break;
        case TG_EV_SKIPPED: {
            int r = ev->reason - TG_R_RATE_LIMITED;
            if (r >= 0 && r < TG_SKIP_REASONS) {
                a->c.skips[r]++;
            }
            break;
        }
        case TG_EV_TRIGGERED:
            a->c.triggers++;
            set_action(p, "triggered", &ev->price);
            break;
        case TG_EV_CONFIRMED:
            set_action(p, "confirmed", &ev->stop);
            break;
        case TG_EV_INITIAL_STOP:
            set_action(p, "initial_stop", &ev->stop);
            break;
        case TG_EV_BREAKEVEN:
            set_action(p, "breakeven", &ev->stop);
            break;
        case TG_EV_CROSSED:
            set_action(p, "crossed", &ev->price);
            break;
        case TG_EV_REJECTED:
            set_action(p, "rejected", &ev->stop);
            break;
        case TG_EV_CLOSED:
            a->c.closes++;
            set_action(p, "closed", NULL);
            break;
        default:
            break;
        }
        log_event(a, p, ev);
        notify_event(a, p, ev);
    }
    for (uint8_t i = 0; i < out->n_cmds; i++) {
        const tg_cmd *cmd = &out->cmds[i];
        if (!with_cmds && cmd->type != TG_CMD_PERSIST) {
            continue;
        }
        switch (cmd->type) {
        case TG_CMD_SET_STOP:
            a->work = true;
            if (p->want) {
                a->c.coalesced++;
            } else {
                p->want_since_ms = (int64_t)uv_now(a->g->loop);
            }
            p->want = true;
            p->want_cancel = false;
            p->want_price = cmd->price;
            p->want_reason = cmd->reason;
            break;
        case TG_CMD_CANCEL_STOP:
            p->want = false;
            p->want_cancel = true;
            a->work = true;
            break;
        case TG_CMD_CLOSE_POSITION:
            p->want_close = true;
            a->work = true;
            break;
        case TG_CMD_PERSIST: {
            tg_err err;
            if (guard_stage(a, (uint32_t)(p - a->pos), stop, &err) != TG_OK) {
                guard_issue(a, TG_LOG_ERROR, "stage_failed", p->row.position_key, err.msg);
            }
            break;
        }
        default:
            break;
        }
    }
    tg_writer_stage_out(a->writer, p->row.position_key, out, -1);
    guard_mark_dirty(a);
}

void guard_sink(void *ctx, const tg_stop *stop, const tg_out *out) {
    guard_account *a = ctx;
    assert(stop->id < TG_GUARD_POSITIONS_MAX);
    guard_record(a, &a->pos[stop->id], stop, out, true);
}

/* ---- positions -------------------------------------------------------- */

uint32_t guard_open_position(guard_account *a, const tg_venue_position *vp) {
    assert(a != NULL && vp != NULL);
    assert(tg_dec_is_pos(vp->size)); /* the venue lists open positions only */
    const tg_venue_rules *rules = guard_rules(a, vp->symbol);
    if (rules == NULL) {
        guard_issue(a, TG_LOG_ERROR, "unprotected_position", vp->key,
                    "no instrument rules for the symbol: cannot place a stop");
        return TG_BOOK_NONE;
    }
    tg_open o = {.side = vp->side,
                 .entry = vp->entry,
                 .quantity = vp->size,
                 .tick = rules->tick,
                 .ts_ms = guard_now_ms(a),
                 .params = guard_params(a, NULL, vp->symbol)};
    if (!tg_dec_is_pos(o.entry)) {
        o.entry = tg_dec_is_pos(vp->mark) ? vp->mark : rules->tick;
    }
    uint32_t id;
    tg_out out = {0};
    tg_err err;
    if (tg_book_open(a->book, vp->symbol, &o, &id, &out, &err) != TG_OK) {
        guard_issue(a, TG_LOG_ERROR, "unprotected_position", vp->key, err.msg);
        return TG_BOOK_NONE;
    }
    guard_pos *p = &a->pos[id];
    guard_pos_clear(p);
    p->used = true;
    p->instance = ++a->instances;
    p->qty = vp->size;
    p->position_idx = vp->position_idx;
    p->opened_mono_ms = (int64_t)uv_now(a->g->loop);
    p->touched_ms = uv_now(a->g->loop); /* a pass under way has an older snapshot */
    p->protected_ms = -1;
    guard_ident *row = &p->row;
    guard_copy(row->symbol, sizeof row->symbol, vp->symbol);
    guard_copy(row->position_key, sizeof row->position_key, vp->key);
    row->version = tg_writer_version(a->writer, vp->key);
    if (row->version < 0) {
        row->version = 0;
    }
    /* 0 for a key this process has not written: the store's insert takes
     * over a CLOSED row of an earlier position with the same key */
    tg_logline l;
    tg_log_begin(&l, a->g->log, TG_LOG_INFO, "position_opened");
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "key", vp->key);
    tg_log_dec(&l, "size", vp->size);
    tg_log_dec(&l, "entry", o.entry);
    tg_log_end(&l);
    guard_sink(a, tg_book_peek(a->book, id), &out);
    guard_subscribe(a, vp->symbol);
    if (tg_dec_is_pos(vp->mark)) {
        a->marks[tg_book_position_symbol(a->book, id)] = vp->mark;
        tg_book_tick_name(a->book, vp->symbol, guard_now_ms(a), vp->mark, guard_sink, a);
    }
    return id;
}

void guard_close_position(guard_account *a, uint32_t id, bool by_stop, const char *why) {
    assert(a != NULL && why != NULL && id < TG_GUARD_POSITIONS_MAX);
    guard_pos *p = &a->pos[id];
    assert(p->used);
    tg_out out = {0};
    if (by_stop && tg_stop_is_open(tg_book_peek(a->book, id))) {
        tg_book_triggered(a->book, id, guard_now_ms(a), pos_mark(a, id), &out);
        guard_sink(a, tg_book_peek(a->book, id), &out);
        out.n_events = out.n_cmds = 0;
    }
    /* The book frees the slot on close: the closed state is computed on a
     * copy as well (the engine is deterministic) so that it can be stored. */
    tg_stop last = *tg_book_peek(a->book, id);
    bool triggered = last.state == TG_STATE_TRIGGERED;
    tg_dec mark = pos_mark(a, id);
    tg_dec price = tg_dec_is_pos(mark) ? mark : last.entry;
    int64_t now = guard_now_ms(a);
    tg_reason reason = triggered ? TG_R_STOP : TG_R_EXTERNAL;
    tg_book_close(a->book, id, now, price, reason, &out);
    tg_out copy_out = {0};
    tg_stop_closed(&last, now, price, reason, &copy_out);
    assert(last.state == TG_STATE_CLOSED);
    guard_record(a, p, &last, &out, false);
    tg_logline l;
    tg_log_begin(&l, a->g->log, TG_LOG_INFO, "position_closed");
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "key", p->row.position_key);
    tg_log_str(&l, "why", why);
    tg_log_end(&l);
    guard_closed *c = &a->closed[a->closed_next++ % GUARD_CLOSED_RING];
    guard_copy(c->key, sizeof c->key, p->row.position_key);
    c->ms = uv_now(a->g->loop);
    /* anything of ours left on the exchange goes: the position is flat */
    if (p->have_ex && !triggered) {
        guard_cancel_stop(a, &p->ex, "position closed");
    }
    guard_pos_clear(p);
}

void guard_resize(guard_account *a, uint32_t id, tg_dec qty) {
    assert(a != NULL && id < TG_GUARD_POSITIONS_MAX && a->pos[id].used);
    guard_pos *p = &a->pos[id];
    if (tg_dec_eq(p->qty, qty)) {
        return;
    }
    tg_err err;
    if (tg_book_set_quantity(a->book, id, qty, &err) != TG_OK) {
        guard_issue(a, TG_LOG_ERROR, "resize_refused", p->row.position_key, err.msg);
        return;
    }
    tg_logline l;
    tg_log_begin(&l, a->g->log, TG_LOG_INFO, "position_resized");
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "key", p->row.position_key);
    tg_log_dec(&l, "from", p->qty);
    tg_log_dec(&l, "to", qty);
    tg_log_end(&l);
    p->qty = qty;
    if (guard_stage(a, id, NULL, &err) == TG_OK) {
        guard_mark_dirty(a);
    }
    /* a stop with a quantity must follow the position's size */
    if (p->have_ex && tg_dec_is_pos(p->ex.qty) && !tg_dec_eq(p->ex.qty, qty)) {
        guard_want_current(a, id, "position resized");
    }
}

static bool tighter(tg_side side, tg_dec a, tg_dec b) {
    assert(side == TG_SIDE_LONG || side == TG_SIDE_SHORT);
    return side == TG_SIDE_LONG ? tg_dec_gt(a, b) : tg_dec_lt(a, b);
}

void guard_want_current(guard_account *a, uint32_t id, const char *why) {
    assert(a != NULL && why != NULL && id < TG_GUARD_POSITIONS_MAX);
    assert(a->pos[id].used);
    guard_pos *p = &a->pos[id];
    tg_dec stop;
    const tg_stop *s = tg_book_peek(a->book, id);
    if (!tg_stop_is_open(s)) {
        return;
    }
    if (!tg_stop_current(s, &stop)) {
        guard_issue(a, TG_LOG_WARN, "no_stop_to_place", p->row.position_key, why);
        return;
    }
    if (!p->want) {
        p->want_since_ms = (int64_t)uv_now(a->g->loop);
    }
    p->want = true;
    p->want_cancel = false;
    p->want_price = stop;
    a->work = true;
    p->want_reason = TG_R_EMERGENCY; /* a position without its stop goes first */
    tg_logline l;
    tg_log_begin(&l, a->g->log, TG_LOG_INFO, "stop_wanted");
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "key", p->row.position_key);
    tg_log_dec(&l, "stop", stop);
    tg_log_str(&l, "why", why);
    tg_log_end(&l);
}

void guard_adopt(guard_account *a, uint32_t id, const tg_venue_stop *st) {
    assert(a != NULL && st != NULL && id < TG_GUARD_POSITIONS_MAX);
    assert(a->pos[id].used && st->owned);
    guard_pos *p = &a->pos[id];
    bool same = p->have_ex && strcmp(p->ex.order_id, st->order_id) == 0 &&
                tg_dec_eq(p->ex.trigger, st->trigger);
    p->ex = *st;
    p->have_ex = true;
    guard_copy(p->row.order_id, sizeof p->row.order_id, st->order_id);
    guard_copy(p->row.client_order_id, sizeof p->row.client_order_id, st->client_id);
    uint64_t gen = guard_gen_of(st->client_id);
    if (gen > p->gen) {
        p->gen = gen;
    }
    if (p->protected_ms < 0) {
        p->protected_ms = (int64_t)uv_now(a->g->loop) - p->opened_mono_ms;
    }
    tg_out out = {0};
    /* the engine takes it only if it is tighter: never loosen */
    tg_book_confirmed(a->book, id, guard_now_ms(a), st->trigger, &out);
    guard_sink(a, tg_book_peek(a->book, id), &out);
    if (!same) {
        a->c.adopted++;
        tg_logline l;
        tg_log_begin(&l, a->g->log, TG_LOG_INFO, "stop_adopted");
        tg_log_str(&l, "account", a->name);
        tg_log_str(&l, "key", p->row.position_key);
        tg_log_str(&l, "order_id", st->order_id);
        tg_log_dec(&l, "trigger", st->trigger);
        tg_log_end(&l);
    }
    tg_dec stop;
    const tg_stop *s = tg_book_peek(a->book, id);
    bool resize = tg_dec_is_pos(st->qty) && !tg_dec_eq(st->qty, p->qty);
    if (tg_stop_current(s, &stop) && !p->in_flight &&
        (tighter((tg_side)s->side, stop, st->trigger) || resize)) {
        guard_want_current(a, id, resize ? "stop quantity differs" : "stored stop is tighter");
    }
}

/* ---- requests --------------------------------------------------------- */

static op_ctx *op_new(guard_account *a, uint32_t id, tg_dec price) {
    assert(a != NULL);
    assert(id == TG_BOOK_NONE || (id < TG_GUARD_POSITIONS_MAX && a->pos[id].used));
    op_ctx *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return NULL;
    }
    op->a = a;
    op->id = id;
    op->price = price;
    op->sent_ns = uv_hrtime();
    if (id != TG_BOOK_NONE) {
        guard_copy(op->key, sizeof op->key, a->pos[id].row.position_key);
        op->instance = a->pos[id].instance;
    }
    return op;
}

/* The position the request was for, if it is still the same one. */
static guard_pos *op_pos(op_ctx *op) {
    assert(op != NULL && op->a != NULL);
    if (op->id == TG_BOOK_NONE) {
        return NULL;
    }
    guard_pos *p = &op->a->pos[op->id];
    /* not a position opened since in the same slot, even with the same key:
     * a reply for the one before must not touch it */
    return p->used && p->instance == op->instance ? p : NULL;
}

static bool transient(tg_venue_code code) {
    assert(code <= TG_VENUE_E_REJECTED);
    switch (code) {
    case TG_VENUE_E_RATE_LIMIT:
    case TG_VENUE_E_BANNED:
    case TG_VENUE_E_SERVER:
    case TG_VENUE_E_TRANSPORT:
    case TG_VENUE_E_CIRCUIT_OPEN:
    case TG_VENUE_E_TIMESTAMP:
        return true;
    default:
        return false;
    }
}

static void op_done_common(op_ctx *op, const tg_venue_reply *r) {
    assert(op != NULL && r != NULL);
    guard_account *a = op->a;
    assert(a->inflight > 0);
    a->inflight--;
    a->work = true; /* what waited for this reply may go now */
    a->c.requests++;
    tg_metrics_observe(a->c.request_latency, (double)(uv_hrtime() - op->sent_ns) / 1e9);
    if (r->error.code != TG_VENUE_OK) {
        a->c.request_errors++;
        if ((size_t)r->error.code < sizeof a->c.rejects / sizeof a->c.rejects[0]) {
            a->c.rejects[r->error.code]++;
        }
    }
}

static void set_done(void *ctx, const tg_venue_reply *r) {
    assert(ctx != NULL && r != NULL && r->op == TG_VOP_SET_STOP);
    op_ctx *op = ctx;
    guard_account *a = op->a;
    op_done_common(op, r);
    guard_pos *p = op_pos(op);
    if (p == NULL || guard_quiet(a)) {
        free(op);
        return;
    }
    p->in_flight = false;
    p->touched_ms = uv_now(a->g->loop);
    uint32_t id = op->id;
    tg_out out = {0};
    tg_venue_code code = r->error.code;
    if (code == TG_VENUE_OK || code == TG_VENUE_E_NOT_MODIFIED) {
        if (code == TG_VENUE_OK && r->mode != TG_REPLACE_NONE) {
            p->ex = r->stop;
            p->have_ex = true;
            guard_copy(p->row.order_id, sizeof p->row.order_id, r->stop.order_id);
            snprintf(p->row.client_order_id, sizeof p->row.client_order_id, "%s",
                     r->stop.client_id);
        }
        if (r->mode == TG_REPLACE_PLACE_THEN_CANCEL || r->mode == TG_REPLACE_CANCEL_THEN_PLACE ||
            r->mode == TG_REPLACE_FIRST) {
            tg_metrics_observe(a->c.unprotected, (double)r->unprotected_us / 1e6);
        }
        if (p->protected_ms < 0) {
            p->protected_ms = (int64_t)uv_now(a->g->loop) - p->opened_mono_ms;
            tg_logline l;
            tg_log_begin(&l, a->g->log, TG_LOG_INFO, "position_protected");
            tg_log_str(&l, "account", a->name);
            tg_log_str(&l, "key", p->row.position_key);
            tg_log_int(&l, "after_ms", p->protected_ms);
            tg_log_end(&l);
        }
        tg_book_confirmed(a->book, id, guard_now_ms(a), op->price, &out);
        guard_sink(a, tg_book_peek(a->book, id), &out);
        if (r->old_left && op->prev.order_id[0] != '\0') {
            /* the new stop is in place; the old one goes as soon as the
             * exchange lets it (the queue waits out a rate limit) */
            guard_issue(a, TG_LOG_WARN, "old_stop_left", p->row.position_key,
                        "the previous stop could not be cancelled yet; cancelling it again");
            guard_cancel_stop(a, &op->prev, "left behind by a replace");
        }
    } else if (code == TG_VENUE_E_WOULD_TRIGGER) {
        tg_book_rejected(a->book, id, guard_now_ms(a), op->price, TG_REJECT_WOULD_TRIGGER, &out);
        guard_sink(a, tg_book_peek(a->book, id), &out);
    } else if (code == TG_VENUE_E_NO_POSITION) {
        guard_reconcile(a, "no position for a stop");
    } else if (code == TG_VENUE_E_UNKNOWN_ORDER) {
        /* the stop it was to replace is gone: place a fresh one */
        p->have_ex = false;
        if (!p->want) {
            p->want = true;
            p->want_price = op->price;
            p->want_since_ms = (int64_t)uv_now(a->g->loop);
        }
    } else if (transient(code)) {
        if (!p->want) {
            p->want = true;
            p->want_price = op->price;
            p->want_since_ms = (int64_t)uv_now(a->g->loop);
        }
        p->retry_at_ms = (int64_t)uv_now(a->g->loop) + GUARD_RETRY_MS;
        if (code == TG_VENUE_E_SERVER || code == TG_VENUE_E_TRANSPORT) {
            a->reconcile_again = true; /* the outcome is unknown */
        }
    } else {
        tg_book_rejected(a->book, id, guard_now_ms(a), op->price, TG_REJECT_OTHER, &out);
        guard_sink(a, tg_book_peek(a->book, id), &out);
    }
    if (code != TG_VENUE_OK) {
        guard_issue(a, transient(code) ? TG_LOG_WARN : TG_LOG_ERROR, "stop_request_failed",
                    p->row.position_key, r->error.err.msg);
    }
    free(op);
}

static void cancel_done(void *ctx, const tg_venue_reply *r) {
    assert(ctx != NULL && r != NULL && r->op == TG_VOP_CANCEL_STOP);
    op_ctx *op = ctx;
    op_done_common(op, r);
    guard_pos *p = op_pos(op);
    if (p != NULL) {
        p->in_flight = false;
        p->touched_ms = uv_now(op->a->g->loop);
        if (r->error.code == TG_VENUE_OK) {
            p->have_ex = false;
            p->row.order_id[0] = '\0';
            p->row.client_order_id[0] = '\0';
        } else {
            p->want_cancel = true;
            p->retry_at_ms = (int64_t)uv_now(op->a->g->loop) + GUARD_RETRY_MS;
        }
    }
    if (r->error.code != TG_VENUE_OK && !guard_quiet(op->a)) {
        guard_issue(op->a, TG_LOG_WARN, "cancel_failed", op->key, r->error.err.msg);
    }
    free(op);
}

void guard_cancel_stop(guard_account *a, const tg_venue_stop *st, const char *why) {
    assert(a != NULL && st != NULL && why != NULL);
    op_ctx *op = op_new(a, TG_BOOK_NONE, st->trigger);
    tg_err err;
    if (op == NULL) {
        return;
    }
    guard_copy(op->key, sizeof op->key, st->position_key);
    tg_logline l;
    tg_log_begin(&l, a->g->log, TG_LOG_INFO, "stop_cancel");
    tg_log_str(&l, "account", a->name);
    tg_log_str(&l, "key", st->position_key);
    tg_log_str(&l, "order_id", st->order_id);
    tg_log_str(&l, "why", why);
    tg_log_end(&l);
    if (tg_venue_cancel_stop(a->venue, st, cancel_done, op, &err) != TG_OK) {
        guard_issue(a, TG_LOG_ERROR, "cancel_failed", st->position_key, err.msg);
        free(op);
        return;
    }
    a->inflight++;
}

static void close_done(void *ctx, const tg_venue_reply *r) {
    assert(ctx != NULL && r != NULL && r->op == TG_VOP_CLOSE_POSITION);
    op_ctx *op = ctx;
    op_done_common(op, r);
    guard_pos *p = op_pos(op);
    if (p != NULL) {
        p->in_flight = false;
        if (r->error.code != TG_VENUE_OK && r->error.code != TG_VENUE_E_NO_POSITION) {
            p->closing_sent = false;
            p->retry_at_ms = (int64_t)uv_now(op->a->g->loop) + GUARD_RETRY_MS;
            guard_issue(op->a, TG_LOG_ERROR, "close_failed", op->key, r->error.err.msg);
        }
    }
    free(op);
}

/* ---- dispatch --------------------------------------------------------- */

typedef struct candidate {
    uint32_t id;  /* position */
    bool aged;    /* waited (almost) max_update_delay already */
    bool urgent;  /* close, emergency or no stop on the exchange */
    double score; /* risk removed, quote currency */
    double cost;  /* orders it costs */
} candidate;

static int candidate_cmp(const void *x, const void *y) {
    assert(x != NULL && y != NULL);
    const candidate *a = x, *b = y;
    if (a->aged != b->aged) {
        return a->aged ? -1 : 1;
    }
    if (a->urgent != b->urgent) {
        return a->urgent ? -1 : 1;
    }
    return a->score > b->score ? -1 : a->score < b->score ? 1 : (a->id < b->id ? -1 : 1);
}

/* An update counts as aged a little before max_update_delay, so that the
 * dispatch period and the venue's pacing still send it within the bound: a
 * tenth of the delay early, at least GUARD_DUE_MARGIN_MS. */
static int64_t due_after_ms(int64_t max_update_delay_ms) {
    assert(max_update_delay_ms >= 0);
    int64_t margin = max_update_delay_ms / 10;
    margin = margin < GUARD_DUE_MARGIN_MS ? GUARD_DUE_MARGIN_MS : margin;
    return max_update_delay_ms > margin ? max_update_delay_ms - margin : 0;
}

static double dec_double(tg_dec d) {
    return (double)d.units / (double)TG_DEC_SCALE;
}

static void send_one(guard_account *a, uint32_t id) {
    assert(a != NULL && id < TG_GUARD_POSITIONS_MAX);
    assert(a->pos[id].used && !a->pos[id].in_flight);
    guard_pos *p = &a->pos[id];
    const tg_stop *s = tg_book_peek(a->book, id);
    tg_err err;
    if (p->want_close && !p->closing_sent) {
        op_ctx *op = op_new(a, id, pos_mark(a, id));
        if (op == NULL) {
            return;
        }
        if (tg_venue_close_position(a->venue, p->row.symbol, (tg_side)s->side, p->qty,
                                    p->position_idx, close_done, op, &err) != TG_OK) {
            guard_issue(a, TG_LOG_ERROR, "close_failed", p->row.position_key, err.msg);
            free(op);
            return;
        }
        p->closing_sent = true;
        p->want_close = false;
        p->in_flight = true;
        a->inflight++;
        set_action(p, "market_close", NULL);
        return;
    }
    if (p->want_cancel) {
        p->want_cancel = false;
        if (p->have_ex) {
            op_ctx *op = op_new(a, id, p->ex.trigger);
            if (op != NULL &&
                tg_venue_cancel_stop(a->venue, &p->ex, cancel_done, op, &err) == TG_OK) {
                p->in_flight = true;
                a->inflight++;
            } else {
                free(op);
            }
        }
        return;
    }
    tg_venue_stop_req req = {0};
    guard_copy(req.symbol, sizeof req.symbol, p->row.symbol);
    req.side = (tg_side)s->side;
    req.position_idx = p->position_idx;
    req.trigger = p->want_price;
    req.qty = p->qty;
    req.gen = ++p->gen;
    if (p->have_ex) {
        req.prev = p->ex;
    }
    op_ctx *op = op_new(a, id, p->want_price);
    if (op == NULL) {
        return;
    }
    op->prev = req.prev;
    if (tg_venue_set_stop(a->venue, &req, set_done, op, &err) != TG_OK) {
        guard_issue(a, TG_LOG_ERROR, "stop_request_refused", p->row.position_key, err.msg);
        free(op);
        p->want = false;
        return;
    }
    int64_t waited = (int64_t)uv_now(a->g->loop) - p->want_since_ms;
    if (waited > a->c.max_deferral_ms) {
        a->c.max_deferral_ms = waited;
    }
    tg_metrics_observe(a->c.tick_to_request, (double)waited / 1e3);
    p->want = false;
    p->in_flight = true;
    p->sending = req.trigger;
    a->inflight++;
}

/* The position after id in book order, wrapping at the end; TG_BOOK_NONE
 * once the scan is back at first. */
static uint32_t scan_next(const tg_book *b, uint32_t id, uint32_t first) {
    uint32_t next = tg_book_next(b, id);
    next = next != TG_BOOK_NONE ? next : tg_book_next(b, TG_BOOK_NONE);
    return next == first ? TG_BOOK_NONE : next;
}

void guard_dispatch(guard_account *a) {
    assert(a != NULL && a->book != NULL);
    if (a->phase != PHASE_LIVE || a->venue == NULL) {
        return;
    }
    uint64_t now = uv_now(a->g->loop);
    a->tokens += (double)(now - a->budget_ms) * a->tokens_per_ms;
    a->tokens = a->tokens > a->tokens_max ? a->tokens_max : a->tokens;
    a->budget_ms = now;
    /* Below the price of a stop move only an aged update may leave, and it
     * has waited max_update_delay already: scanning every position on every
     * loop turn (thousands a second under a busy feed) buys nothing until
     * the budget is back or the dispatch timer's period has passed. */
    if ((!a->work || a->tokens < a->cost_per_set) &&
        now - a->dispatch_scan_ms < GUARD_DISPATCH_MS) {
        return;
    }
    a->dispatch_scan_ms = now;
    a->work = false; /* set again below if this scan leaves work behind */
    candidate c[DISPATCH_BATCH_MAX];
    size_t n = 0;
    /* The scan starts where the last full batch stopped and wraps around, so
     * that with more waiting positions than one batch holds every one of
     * them is weighed in turn, not only the first ones in book order. */
    uint32_t first = a->dispatch_cursor;
    if (first >= TG_GUARD_POSITIONS_MAX || !a->pos[first].used) {
        first = tg_book_next(a->book, TG_BOOK_NONE);
    }
    a->dispatch_cursor = TG_BOOK_NONE;
    uint32_t visited = 0;
    for (uint32_t id = first; id != TG_BOOK_NONE && visited < TG_GUARD_POSITIONS_MAX;
         id = scan_next(a->book, id, first), visited++) {
        if (n == DISPATCH_BATCH_MAX) {
            a->dispatch_cursor = id; /* the next scan begins here */
            a->work = true;
            break;
        }
        guard_pos *p = &a->pos[id];
        if (p->in_flight || p->paused || (int64_t)now < p->retry_at_ms) {
            continue;
        }
        bool close = p->want_close && !p->closing_sent;
        if (!close && !p->want_cancel && !p->want) {
            continue;
        }
        const tg_stop *s = tg_book_peek(a->book, id);
        if (p->want && !close && p->have_ex && !p->want_cancel &&
            !tighter((tg_side)s->side, p->want_price, p->ex.trigger) &&
            (tg_dec_is_zero(p->ex.qty) || tg_dec_eq(p->ex.qty, p->qty))) {
            /* the exchange already holds this stop or a tighter one */
            p->want = false;
            tg_out out = {0};
            tg_book_confirmed(a->book, id, guard_now_ms(a), p->ex.trigger, &out);
            guard_sink(a, tg_book_peek(a->book, id), &out);
            continue;
        }
        tg_guard_settings st = guard_settings(a, p->row.symbol);
        candidate *k = &c[n++];
        k->id = id;
        k->aged =
            p->want && (int64_t)now - p->want_since_ms >= due_after_ms(st.max_update_delay_ms);
        k->urgent = close || !p->have_ex || p->want_reason == TG_R_EMERGENCY;
        k->cost = close || p->want_cancel || !p->have_ex ? 1 : a->cost_per_set;
        double gap = p->have_ex ? dec_double(p->want_price) - dec_double(p->ex.trigger) : 0;
        k->score = (gap < 0 ? -gap : gap) * dec_double(p->qty);
    }
    if (n == 0) {
        return;
    }
    qsort(c, n, sizeof c[0], candidate_cmp);
    for (size_t i = 0; i < n; i++) {
        guard_pos *p = &a->pos[c[i].id];
        if (a->tokens < c[i].cost && !(c[i].aged && a->tokens >= 0)) {
            a->c.deferrals++;
            a->work = true;
            if (p->last_action[0] != 'd') {
                tg_logline l;
                tg_log_begin(&l, a->g->log, TG_LOG_DEBUG, "update_deferred");
                tg_log_str(&l, "account", a->name);
                tg_log_str(&l, "key", p->row.position_key);
                tg_log_str(&l, "why", "order budget");
                tg_log_end(&l);
            }
            continue;
        }
        a->tokens -= c[i].cost;
        send_one(a, c[i].id);
    }
}

/* ---- stream events ---------------------------------------------------- */

void guard_on_mark(guard_account *a, const tg_venue_event *ev, bool from_stream) {
    assert(a != NULL && ev != NULL && ev->kind == TG_VEV_MARK);
    uint32_t sym = tg_book_symbol_find(a->book, ev->symbol);
    if (sym == TG_BOOK_NONE || !tg_dec_is_pos(ev->mark)) {
        return;
    }
    a->c.ticks++;
    if (from_stream) {
        a->mark_ms[sym] = (int64_t)uv_now(a->g->loop);
    }
    tg_book_tick(a->book, sym, ev->ts_ms, ev->mark, guard_sink, a);
    a->marks[sym] = ev->mark;
}

static void on_position(guard_account *a, const tg_venue_event *ev) {
    assert(a != NULL && ev != NULL && ev->kind == TG_VEV_POSITION);
    const tg_venue_position *vp = &ev->position;
    uint32_t id = guard_find(a, vp->key);
    if (a->phase != PHASE_LIVE) {
        return; /* the startup reconcile reads positions itself */
    }
    if (!tg_dec_is_pos(vp->size)) {
        if (id != TG_BOOK_NONE) {
            const tg_stop *s = tg_book_peek(a->book, id);
            guard_close_position(a, id, s->state == TG_STATE_TRIGGERED,
                                 "position flat on the exchange");
        }
        return;
    }
    if (id == TG_BOOK_NONE) {
        guard_open_position(a, vp);
        return;
    }
    guard_resize(a, id, vp->size);
}

static void on_stop(guard_account *a, const tg_venue_event *ev) {
    assert(a != NULL && ev != NULL && ev->kind == TG_VEV_STOP);
    const tg_venue_stop *st = &ev->stop;
    if (!st->owned || a->phase != PHASE_LIVE) {
        return;
    }
    uint32_t id = guard_find(a, st->position_key);
    if (id == TG_BOOK_NONE) {
        return;
    }
    guard_pos *p = &a->pos[id];
    bool ours = p->have_ex && (strcmp(p->ex.order_id, st->order_id) == 0 || st->position_level);
    switch (st->state) {
    case TG_VSTOP_TRIGGERED:
    case TG_VSTOP_FILLED:
        if (ours) {
            tg_out out = {0};
            tg_book_triggered(a->book, id, guard_now_ms(a), pos_mark(a, id), &out);
            guard_sink(a, tg_book_peek(a->book, id), &out);
            p->have_ex = false;
        }
        break;
    case TG_VSTOP_CANCELLED:
    case TG_VSTOP_REJECTED:
        /* during a replace the old stop's cancel is ours: the reply says so */
        if (ours && !p->in_flight) {
            p->have_ex = false;
            p->row.order_id[0] = '\0';
            guard_want_current(a, id, "stop cancelled on the exchange");
            a->c.recreated++;
        }
        break;
    default:
        break;
    }
}

void guard_on_event(void *ctx, const tg_venue_event *ev) {
    assert(ctx != NULL && ev != NULL);
    guard_account *a = ctx;
    if (guard_quiet(a)) {
        return;
    }
    switch (ev->kind) {
    case TG_VEV_MARK:
        if (ev->stream != TG_VSTREAM_MARKET || a->feed != a) {
            guard_on_mark(a, ev, ev->stream == TG_VSTREAM_MARKET);
            break;
        }
        /* a's market stream feeds the accounts of its chain (assign_feeds) */
        for (guard_account *b = a; b != NULL; b = b->fed_next) {
            if (b->book != NULL && !guard_quiet(b)) {
                guard_on_mark(b, ev, true);
            }
        }
        break;
    case TG_VEV_POSITION:
        on_position(a, ev);
        break;
    case TG_VEV_STOP:
        on_stop(a, ev);
        break;
    case TG_VEV_CONNECTED:
        a->last_connect_ms = (int64_t)uv_now(a->g->loop);
        if (a->phase == PHASE_LIVE && a->reconcile_due_ms == 0) {
            /* events may have been missed while it was down; both streams
             * coming up together are settled by one pass */
            a->reconcile_due_ms = a->last_connect_ms + GUARD_RECONNECT_SETTLE_MS;
        }
        break;
    case TG_VEV_DISCONNECTED:
        guard_issue(a, TG_LOG_WARN, "stream_disconnected",
                    ev->stream == TG_VSTREAM_ACCOUNT ? "account" : "market", NULL);
        break;
    default:
        break;
    }
}
