/* The store's rows and journal entries as JSON lines and as named fields:
 * the one writer `trailguard state` (and anything else) prints them with. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/codec.h"
#include "trailguard/store.h"

#define ESCAPED_MAX (TG_COL_TEXT_MAX * 6) /* a text of control characters, escaped */

static void put_string(FILE *f, const char *s) {
    assert(f != NULL && s != NULL);
    char esc[ESCAPED_MAX];
    tg_store_escape(s, esc, sizeof esc);
    fprintf(f, "\"%s\"", esc);
}

int tg_store_column_count(void) {
    int n = tg_codec_column_count();
    assert(n > 0);
    return n;
}

tg_status tg_store_row_fields(const tg_store_row *row, tg_store_field_fn fn, void *ctx,
                              tg_err *err) {
    assert(row != NULL && fn != NULL);
    int n = tg_codec_column_count();
    assert(n > 0);
    tg_col_value *vals = calloc((size_t)n, sizeof *vals);
    if (vals == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "store: out of memory");
    }
    tg_codec_encode(row, vals);
    for (int i = 0; i < n; i++) {
        const tg_col_def *c = tg_codec_column(i);
        assert(c != NULL && c->name != NULL);
        char num[24];
        if (!vals[i].null && c->type == TG_COL_INT) {
            int len = snprintf(num, sizeof num, "%" PRId64, vals[i].i);
            assert(len > 0 && (size_t)len < sizeof num);
        }
        fn(ctx, c->name,
           vals[i].null            ? NULL
           : c->type == TG_COL_INT ? num
                                   : vals[i].text,
           c->type == TG_COL_INT);
    }
    free(vals);
    return TG_OK;
}

static void put_field(void *ctx, const char *name, const char *value, bool is_int) {
    assert(ctx != NULL && name != NULL);
    FILE *f = ctx;
    fprintf(f, ",\"%s\":", name);
    if (value == NULL) {
        fputs("null", f);
    } else if (is_int) {
        fputs(value, f);
    } else {
        put_string(f, value);
    }
}

tg_status tg_store_row_json(FILE *f, const tg_store_row *row, tg_err *err) {
    assert(f != NULL && row != NULL);
    fputs("{\"type\":\"position\"", f);
    tg_status st = tg_store_row_fields(row, put_field, f, err);
    fprintf(f, ",\"needs_reconcile\":%s}\n", row->needs_reconcile ? "true" : "false");
    return st == TG_OK && ferror(f) ? tg_err_set(err, TG_E_IO, "writing a position failed") : st;
}

static void put_price(FILE *f, const char *name, bool set, tg_dec price) {
    assert(f != NULL && name != NULL);
    if (set) {
        char buf[TG_DEC_STR_MAX];
        tg_dec_format(price, 0, buf);
        fprintf(f, ",\"%s\":\"%s\"", name, buf);
    }
}

tg_status tg_store_entry_json(FILE *f, const tg_journal_entry *e, tg_err *err) {
    assert(f != NULL && e != NULL);
    fprintf(f, "{\"type\":\"journal\",\"seq\":%" PRId64 ",\"ts\":%" PRId64 ",\"position_key\":",
            e->seq, e->ts_ms);
    put_string(f, e->position_key);
    if (e->kind == TG_JOURNAL_EVENT) {
        const tg_event *ev = &e->event;
        fprintf(f, ",\"kind\":\"event\",\"event\":\"%s\",\"reason\":\"%s\",\"state\":\"%s\"",
                tg_event_type_str((tg_event_type)ev->type), tg_reason_str((tg_reason)ev->reason),
                tg_state_str((tg_state)ev->state));
        put_price(f, "price", ev->has & TG_EVH_PRICE, ev->price);
        put_price(f, "stop", ev->has & TG_EVH_STOP, ev->stop);
        put_price(f, "prev_stop", ev->has & TG_EVH_PREV, ev->prev_stop);
    } else {
        const tg_cmd *c = &e->command;
        fprintf(f, ",\"kind\":\"command\",\"command\":\"%s\",\"reason\":\"%s\"",
                tg_cmd_type_str((tg_cmd_type)c->type), tg_reason_str((tg_reason)c->reason));
        put_price(f, "price", c->type != TG_CMD_PERSIST, c->price);
    }
    if (e->latency_us >= 0) {
        fprintf(f, ",\"latency_us\":%" PRId64, e->latency_us);
    }
    fputs("}\n", f);
    return ferror(f) ? tg_err_set(err, TG_E_IO, "writing a journal entry failed") : TG_OK;
}
