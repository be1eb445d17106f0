/*
 * venue_testutil.h — the venue adapters against the loopback emulator
 * (include/trailguard/sim.h) over real sockets: set-up, the control
 * endpoint, blocking calls, and a check that no message ever carries the
 * API key or secret. A test program includes this once and sets VT_KIND.
 */
#ifndef TG_TEST_VENUE_TESTUTIL_H
#define TG_TEST_VENUE_TESTUTIL_H

#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cJSON.h>
#include <uv.h>

#include "trailguard/sim.h"
#include "trailguard/venue.h"

#define VT_KEY        "tgTestKey0123456789abcdefXYZ"
#define VT_SECRET     "tgTestSecret9876543210zyxwvuSECRET"
#define VT_ACCOUNT    "a"
#define VT_WAIT_MS    15000 /* longest wait for one reply */
#define VT_OUT_MAX    65536 /* bytes of a control answer */
#define VT_MSGS_MAX   256   /* error sentences kept for the secret check */
#define VT_EVENTS_MAX 4096  /* stream events kept */
#define VT_KEPT_MAX   256   /* waiters' reply copies kept until teardown */

typedef struct vt_env {
    tg_sim *sim;                            /* the emulator, in-process */
    uv_loop_t loop;                         /* the venue's loop */
    tg_venue *v;                            /* venue under test */
    tg_venue_config cfg;                    /* its configuration */
    char out[VT_OUT_MAX];                   /* last control answer */
    char msgs[VT_MSGS_MAX][TG_ERR_MSG_MAX]; /* every error sentence seen */
    size_t msgs_count;                      /* entries in msgs */
    tg_venue_event *events;                 /* stream events, in order */
    size_t events_count;                    /* entries in events */
    void *kept[VT_KEPT_MAX];                /* waiters' reply copies, freed at teardown */
    size_t kept_count;                      /* entries in kept */
} vt_env;

static void vt_on_event(void *ctx, const tg_venue_event *ev) {
    vt_env *e = ctx;
    if (e->events_count < VT_EVENTS_MAX) {
        e->events[e->events_count++] = *ev;
    }
}

typedef bool (*vt_pred)(const tg_venue_event *ev, const void *arg);

/* Index of the first event at or after from that matches, or -1. */
static long vt_find_event(const vt_env *e, size_t from, vt_pred pred, const void *arg) {
    for (size_t i = from; i < e->events_count; i++) {
        if (pred(&e->events[i], arg)) {
            return (long)i;
        }
    }
    return -1;
}

static void vt_tick_cb(uv_timer_t *t) {
    *(bool *)t->data = true;
}

/* Runs the loop until an event from index from matches, or timeout_ms. */
static long vt_await(vt_env *e, size_t from, vt_pred pred, const void *arg, int64_t timeout_ms) {
    bool expired = false;
    uv_timer_t t;
    uv_timer_init(&e->loop, &t);
    t.data = &expired;
    uv_timer_start(&t, vt_tick_cb, (uint64_t)timeout_ms, 0);
    long at = vt_find_event(e, from, pred, arg);
    while (at < 0 && !expired) {
        uv_run(&e->loop, UV_RUN_ONCE);
        at = vt_find_event(e, from, pred, arg);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    return at;
}

static tg_venue_kind vt_kind(void);

static const char *vt_venue_name(void) {
    return tg_venue_kind_str(vt_kind());
}

static void vt_keep_msg(vt_env *e, const char *msg) {
    if (msg[0] != '\0' && e->msgs_count < VT_MSGS_MAX) {
        snprintf(e->msgs[e->msgs_count++], TG_ERR_MSG_MAX, "%s", msg);
    }
}

static bool vt_write_accounts(const char *path) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return false;
    }
    fprintf(f, "[{\"venue\":\"%s\",\"name\":\"%s\",\"api_key\":\"%s\",\"api_secret\":\"%s\"}]\n",
            vt_venue_name(), VT_ACCOUNT, VT_KEY, VT_SECRET);
    return fclose(f) == 0;
}

static tg_venue *vt_venue_new(vt_env *e, const tg_venue_config *cfg) {
    tg_venue *v = NULL;
    tg_err err;
    if (tg_venue_new(cfg, &e->loop, &v, &err) != TG_OK) {
        fail_msg("venue: %s", err.msg);
    }
    return v;
}

static void vt_venue_free(vt_env *e, tg_venue *v) {
    tg_venue_close(v);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    for (int i = 0; i < 100 && uv_loop_alive(&e->loop); i++) {
        uv_run(&e->loop, UV_RUN_NOWAIT);
    }
    tg_venue_free(v);
}

/* A fresh emulator and venue per test; skips everything while the
 * emulator does not start. */
static int vt_setup(void **state) {
    vt_env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    char accounts[512];
    snprintf(accounts, sizeof accounts, "%s/venue_accounts_%s.json", TG_TEST_TMPDIR,
             vt_venue_name());
    assert_true(vt_write_accounts(accounts));
    tg_sim_config sc = tg_sim_config_default();
    sc.accounts_path = accounts;
    tg_err err;
    if (tg_sim_new(&sc, &e->sim, &err) != TG_OK || tg_sim_start(e->sim, &err) != TG_OK) {
        fprintf(stderr, "emulator did not start: %s\n", err.msg);
        tg_sim_free(e->sim);
        free(e);
        return -1;
    }
    tg_sim_ports ports = tg_sim_ports_get(e->sim);
    uint16_t port = vt_kind() == TG_VENUE_BINANCE ? ports.binance : ports.bybit;
    assert_int_equal(uv_loop_init(&e->loop), 0);
    e->cfg = tg_venue_config_default(vt_kind());
    snprintf(e->cfg.account, sizeof e->cfg.account, "%s", VT_ACCOUNT);
    snprintf(e->cfg.rest_url, sizeof e->cfg.rest_url, "http://127.0.0.1:%u", port);
    snprintf(e->cfg.ws_url, sizeof e->cfg.ws_url, "ws://127.0.0.1:%u", port);
    snprintf(e->cfg.api_key, sizeof e->cfg.api_key, "%s", VT_KEY);
    snprintf(e->cfg.api_secret, sizeof e->cfg.api_secret, "%s", VT_SECRET);
    e->cfg.request_timeout_ms = 3000;
    e->cfg.backoff_ms_min = 20;
    e->cfg.backoff_ms_max = 200;
    e->cfg.seed = 7;
    e->v = vt_venue_new(e, &e->cfg);
    e->events = calloc(VT_EVENTS_MAX, sizeof *e->events);
    assert_non_null(e->events);
    tg_venue_on_event(e->v, vt_on_event, e);
    *state = e;
    return 0;
}

static int vt_teardown(void **state) {
    vt_env *e = *state;
    for (size_t i = 0; i < e->msgs_count; i++) {
        if (strstr(e->msgs[i], VT_SECRET) != NULL || strstr(e->msgs[i], VT_KEY) != NULL) {
            fail_msg("a message carries a credential: %s", e->msgs[i]);
        }
    }
    vt_venue_free(e, e->v);
    int rc = uv_loop_close(&e->loop);
    if (rc != 0) {
        uv_print_all_handles(&e->loop, stderr);
        fail_msg("the venue left handles on its loop: %s", uv_strerror(rc));
    }
    tg_sim_stop(e->sim);
    tg_sim_free(e->sim);
    for (size_t i = 0; i < e->kept_count; i++) {
        free(e->kept[i]);
    }
    free(e->events);
    free(e);
    return 0;
}

static void vt_ctl_ok(vt_env *e, const char *method, const char *target, const char *fmt, ...) {
    char body[1024];
    const char *b = NULL;
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof body, fmt, ap);
        va_end(ap);
        b = body;
    }
    int status = tg_sim_call(e->sim, method, target, b, e->out, sizeof e->out);
    if (status != 200) {
        fail_msg("%s %s: HTTP %d %.300s", method, target, status, e->out);
    }
}

static void vt_position(vt_env *e, const char *symbol, const char *side, const char *size,
                        const char *entry) {
    vt_ctl_ok(e, "POST", "/sim/position",
              "{\"account\":\"%s\",\"venue\":\"%s\",\"symbol\":\"%s\",\"side\":\"%s\","
              "\"size\":\"%s\",\"entry\":\"%s\"}",
              VT_ACCOUNT, vt_venue_name(), symbol, side, size, entry);
}

static void vt_mark(vt_env *e, const char *symbol, const char *price) {
    vt_ctl_ok(e, "POST", "/sim/mark", "{\"symbol\":\"%s\",\"price\":\"%s\"}", symbol, price);
}

/* A number named key anywhere in the JSON answer; -1 when absent. */
static int64_t vt_json_find(const cJSON *node, const char *key) {
    if (node == NULL) {
        return -1;
    }
    if (node->string != NULL && strcmp(node->string, key) == 0 && cJSON_IsNumber(node)) {
        return (int64_t)node->valuedouble;
    }
    for (const cJSON *c = node->child; c != NULL; c = c->next) {
        int64_t v = vt_json_find(c, key);
        if (v >= 0) {
            return v;
        }
    }
    return -1;
}

/* The emulator's measure of a position's unprotected windows. */
typedef struct vt_protection {
    int64_t open_stops; /* stops open now */
    int64_t count;      /* windows */
    int64_t longest_ms; /* longest window */
    int64_t last_us;    /* the most recent closed window, µs; -1 if none */
} vt_protection;

static vt_protection vt_protection_get(vt_env *e, const char *symbol) {
    char target[256];
    snprintf(target, sizeof target, "/sim/protection?venue=%s&account=%s&symbol=%s",
             vt_venue_name(), VT_ACCOUNT, symbol);
    vt_ctl_ok(e, "GET", target, NULL);
    cJSON *root = cJSON_Parse(e->out);
    assert_non_null(root);
    vt_protection p = {vt_json_find(root, "open_stops"), vt_json_find(root, "count"),
                       vt_json_find(root, "longest_ms"), -1};
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(root, "unprotected");
    const cJSON *windows = cJSON_GetObjectItemCaseSensitive(un, "windows");
    int n = cJSON_GetArraySize(windows);
    if (n > 0) {
        p.last_us = vt_json_find(cJSON_GetArrayItem(windows, n - 1), "len_us");
    }
    cJSON_Delete(root);
    return p;
}

/* Runs one operation to completion and returns its reply. */
static tg_venue_reply vt_wait(vt_env *e, tg_venue_waiter *w) {
    tg_err err;
    if (tg_venue_wait(e->v, w, VT_WAIT_MS, &err) != TG_OK) {
        fail_msg("%s", err.msg);
    }
    vt_keep_msg(e, w->reply.error.err.msg);
    if (w->owned != NULL) { /* the reply's arrays live until teardown */
        assert_true(e->kept_count < VT_KEPT_MAX);
        e->kept[e->kept_count++] = w->owned;
        w->owned = NULL;
    }
    return w->reply;
}

static void vt_expect_ok(const tg_venue_reply *r) {
    if (r->error.code != TG_VENUE_OK) {
        fail_msg("operation failed: %s", r->error.err.msg);
    }
}

static tg_venue_reply vt_rules(vt_env *e) {
    tg_venue_waiter w = {0};
    tg_err err;
    assert_int_equal(tg_venue_get_rules(e->v, tg_venue_waiter_fn, &w, &err), TG_OK);
    return vt_wait(e, &w);
}

static tg_venue_reply vt_positions(vt_env *e) {
    tg_venue_waiter w = {0};
    tg_err err;
    assert_int_equal(tg_venue_get_positions(e->v, tg_venue_waiter_fn, &w, &err), TG_OK);
    return vt_wait(e, &w);
}

static tg_venue_reply vt_stops(vt_env *e, const char *symbol) {
    tg_venue_waiter w = {0};
    tg_err err;
    assert_int_equal(tg_venue_get_stops(e->v, symbol, tg_venue_waiter_fn, &w, &err), TG_OK);
    return vt_wait(e, &w);
}

static tg_venue_reply vt_set(vt_env *e, const tg_venue_stop_req *req) {
    tg_venue_waiter w = {0};
    tg_err err;
    assert_int_equal(tg_venue_set_stop(e->v, req, tg_venue_waiter_fn, &w, &err), TG_OK);
    return vt_wait(e, &w);
}

static tg_venue_reply vt_cancel(vt_env *e, const tg_venue_stop *stop) {
    tg_venue_waiter w = {0};
    tg_err err;
    assert_int_equal(tg_venue_cancel_stop(e->v, stop, tg_venue_waiter_fn, &w, &err), TG_OK);
    return vt_wait(e, &w);
}

static tg_dec vt_dec(const char *text) {
    tg_dec d;
    if (tg_dec_parse_cstr(text, &d) != TG_DEC_OK) {
        fail_msg("bad decimal literal: %s", text);
    }
    return d;
}

static tg_venue_stop_req vt_req(const char *symbol, tg_side side, const char *trigger,
                                const char *qty, uint64_t gen) {
    tg_venue_stop_req r;
    memset(&r, 0, sizeof r);
    snprintf(r.symbol, sizeof r.symbol, "%s", symbol);
    r.side = side;
    r.trigger = vt_dec(trigger);
    r.qty = vt_dec(qty);
    r.gen = gen;
    return r;
}

/* Number of requests the emulator logged for this venue. */
static int64_t vt_request_count(vt_env *e) {
    char target[128];
    snprintf(target, sizeof target, "/sim/requests?venue=%s", vt_venue_name());
    vt_ctl_ok(e, "GET", target, NULL);
    cJSON *root = cJSON_Parse(e->out);
    assert_non_null(root);
    int64_t n = vt_json_find(root, "total");
    if (n < 0) {
        const cJSON *list = cJSON_IsArray(root) ? root : cJSON_GetObjectItem(root, "requests");
        n = cJSON_GetArraySize(list);
    }
    cJSON_Delete(root);
    return n;
}

#endif
