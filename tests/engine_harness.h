/*
 * engine_harness.h — drives one tg_stop like a perfect exchange would, for
 * tests: every SET_STOP is confirmed at once (unless auto_confirm is off), and
 * every event is kept so a test can look at what the engine decided.
 */
#ifndef TG_TEST_ENGINE_HARNESS_H
#define TG_TEST_ENGINE_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trailguard/stop.h"

#define H_EVENTS_MAX 4096
#define H_CMDS_MAX   4096

typedef struct harness {
    tg_stop s;                     /* the position under test */
    tg_event events[H_EVENTS_MAX]; /* every event, in order */
    tg_cmd cmds[H_CMDS_MAX];       /* every command, in order */
    int n_events;                  /* events kept */
    int n_cmds;                    /* commands kept */
    int mark;                      /* index of the first event of the last input */
    int cmd_mark;                  /* index of the first command of the last input */
    bool auto_confirm;             /* confirm SET_STOP at once */
} harness;

static inline tg_dec D(const char *text) {
    tg_dec d;
    tg_dec_status st = tg_dec_parse_cstr(text, &d);
    if (st != TG_DEC_OK) {
        fail_msg("bad decimal literal in test: %s", text);
    }
    return d;
}

static inline void assert_dec(tg_dec got, const char *want) {
    char buf[TG_DEC_STR_MAX];
    tg_dec_format(got, 0, buf);
    char wbuf[TG_DEC_STR_MAX];
    tg_dec_format(D(want), 0, wbuf);
    assert_string_equal(buf, wbuf);
}

static inline void h_keep(harness *h, const tg_out *out);

static inline void h_confirm_pending(harness *h, int64_t ts, const tg_out *out) {
    for (int i = 0; i < out->n_cmds; i++) {
        if (h->auto_confirm && out->cmds[i].type == TG_CMD_SET_STOP) {
            tg_out c = {0};
            tg_stop_confirmed(&h->s, ts, out->cmds[i].price, &c);
            h_keep(h, &c);
        }
    }
}

static inline void h_keep(harness *h, const tg_out *out) {
    for (int i = 0; i < out->n_events; i++) {
        assert_true(h->n_events < H_EVENTS_MAX);
        h->events[h->n_events++] = out->events[i];
    }
    for (int i = 0; i < out->n_cmds; i++) {
        assert_true(h->n_cmds < H_CMDS_MAX);
        h->cmds[h->n_cmds++] = out->cmds[i];
    }
}

static inline void h_begin(harness *h) {
    h->mark = h->n_events;
    h->cmd_mark = h->n_cmds;
}

static inline tg_params h_params(void) {
    return tg_params_default();
}

static inline void h_open(harness *h, tg_side side, const char *entry, const char *tick,
                          const tg_params *p, int64_t ts) {
    memset(h, 0, sizeof *h);
    h->auto_confirm = true;
    tg_open o = {.id = 1,
                 .side = side,
                 .entry = D(entry),
                 .quantity = D("1"),
                 .tick = D(tick),
                 .ts_ms = ts,
                 .params = *p};
    tg_out out = {0};
    tg_err err = {0};
    tg_status st = tg_stop_open(&h->s, &o, &out, &err);
    if (st != TG_OK) {
        fail_msg("open failed: %s", err.msg);
    }
    h_keep(h, &out);
    h_confirm_pending(h, ts, &out);
}

static inline void h_tick(harness *h, int64_t ts, const char *price) {
    h_begin(h);
    tg_out out = {0};
    tg_stop_tick(&h->s, ts, D(price), &out);
    h_keep(h, &out);
    h_confirm_pending(h, ts, &out);
}

/* The last event of this type since the last input began, or NULL. */
static inline const tg_event *h_find(const harness *h, tg_event_type type) {
    for (int i = h->n_events - 1; i >= h->mark; i--) {
        if (h->events[i].type == type) {
            return &h->events[i];
        }
    }
    return NULL;
}

/* Number of commands of this type since the last input began. */
static inline int h_count_cmds(const harness *h, tg_cmd_type type) {
    int n = 0;
    for (int i = h->cmd_mark; i < h->n_cmds; i++) {
        n += h->cmds[i].type == type;
    }
    return n;
}

/* Number of events of this type over the whole run. */
static inline int h_count_events(const harness *h, tg_event_type type) {
    int n = 0;
    for (int i = 0; i < h->n_events; i++) {
        n += h->events[i].type == type;
    }
    return n;
}

static inline void h_assert_stop(const harness *h, const char *want) {
    tg_dec cur;
    assert_true(tg_stop_current(&h->s, &cur));
    assert_dec(cur, want);
}

static inline void h_assert_no_stop(const harness *h) {
    tg_dec cur;
    assert_false(tg_stop_current(&h->s, &cur));
}

#endif
