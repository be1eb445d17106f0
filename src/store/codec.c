#include "store/codec.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* How a column maps onto the row. */
typedef enum field_kind {
    F_STR,     /* char array in the row */
    F_DEC,     /* tg_dec; NULL when flag is given and clear */
    F_I64,     /* int64_t; NULL when flag is given and clear */
    F_U32,     /* uint32_t */
    F_U16,     /* uint16_t */
    F_U8,      /* uint8_t */
    F_SIDE,    /* uint8_t tg_side as "long"/"short" */
    F_STATE,   /* uint8_t tg_state as its name */
    F_CB_KIND, /* uint8_t tg_callback_kind as "percent"/"ticks"/"price" */
    F_CROSSED, /* uint8_t tg_on_crossed as "close"/"alert" */
    F_STEPS,   /* the step table as "p:c,p:c" or "off" */
} field_kind;

typedef struct field {
    tg_col_def col; /* name, SQL type, nullable */
    uint8_t kind;   /* field_kind */
    size_t offset;  /* in tg_store_row */
    size_t size;    /* for F_STR */
    uint16_t flag;  /* TG_F_* that says the value is set; 0 = always set */
} field;

#define ROW(m) offsetof(tg_store_row, m)
#define STR(name, m)                                                                               \
    { {name, TG_COL_TEXT, false}, F_STR, ROW(m), sizeof(((tg_store_row *)0)->m), 0 }
#define DEC(name, m)                                                                               \
    { {name, TG_COL_TEXT, false}, F_DEC, ROW(m), 0, 0 }
#define DEC_OPT(name, m, f)                                                                        \
    { {name, TG_COL_TEXT, true}, F_DEC, ROW(m), 0, f }
#define I64(name, m)                                                                               \
    { {name, TG_COL_INT, false}, F_I64, ROW(m), 0, 0 }
#define I64_OPT(name, m, f)                                                                        \
    { {name, TG_COL_INT, true}, F_I64, ROW(m), 0, f }
#define INT(kind, name, m)                                                                         \
    { {name, TG_COL_INT, false}, kind, ROW(m), 0, 0 }
#define ENUM(kind, name, m)                                                                        \
    { {name, TG_COL_TEXT, false}, kind, ROW(m), 0, 0 }

/* A pseudo-flag for closed_ms: set only in state CLOSED (checked in code). */
#define CLOSED_FLAG 0x8000u

static const field fields[] = {
    STR("account", account),
    STR("position_key", position_key),
    STR("exchange", exchange),
    STR("symbol", symbol),
    INT(F_U32, "position_id", stop.id),
    ENUM(F_SIDE, "side", stop.side),
    ENUM(F_STATE, "state", stop.state),
    STR("order_id", order_id),
    STR("client_order_id", client_order_id),
    DEC("entry_price", stop.entry),
    DEC("quantity", stop.quantity),
    DEC("tick_size", stop.tick),
    DEC("activation_price", stop.activation_price),
    DEC("breakeven_price", stop.breakeven_price),
    DEC_OPT("highest_price", stop.highest, TG_F_HIGH),
    DEC_OPT("lowest_price", stop.lowest, TG_F_LOW),
    DEC_OPT("last_price", stop.last_price, TG_F_LAST_PRICE),
    DEC_OPT("confirmed_stop", stop.stop_confirmed, TG_F_CONFIRMED),
    DEC_OPT("intended_stop", stop.stop_intended, TG_F_INTENDED),
    DEC_OPT("candidate_stop", stop.candidate, TG_F_CANDIDATE),
    DEC_OPT("momentum_anchor_price", stop.anchor_price, TG_F_ANCHOR),
    I64_OPT("momentum_anchor_ms", stop.anchor_ms, TG_F_ANCHOR),
    I64("created_ms", stop.opened_ms),
    I64_OPT("activated_ms", stop.activated_ms, TG_F_ACTIVATED),
    I64_OPT("last_moved_ms", stop.last_move_ms, TG_F_MOVED),
    I64("last_tick_ms", stop.last_tick_ms),
    I64_OPT("closed_ms", stop.closed_ms, CLOSED_FLAG),
    INT(F_U32, "update_count", stop.update_count),
    INT(F_U32, "skips_rate_limited", stop.skip_count[0]),
    INT(F_U32, "skips_below_min_improvement", stop.skip_count[1]),
    INT(F_U32, "skips_would_trigger", stop.skip_count[2]),
    INT(F_U32, "skips_not_improved", stop.skip_count[3]),
    INT(F_U32, "stale_ticks", stop.stale_ticks),
    INT(F_U16, "flags", stop.flags),
    INT(F_U8, "deferred", stop.deferred),
    INT(F_U8, "skips_reported", stop.skips_reported),
    DEC("p_initial_stop_percent", stop.params.initial_stop_pct),
    DEC("p_activation_percent", stop.params.activation_pct),
    ENUM(F_CB_KIND, "p_callback_kind", stop.params.callback_kind),
    DEC("p_callback", stop.params.callback),
    DEC("p_breakeven_percent", stop.params.breakeven_pct),
    DEC("p_breakeven_offset_percent", stop.params.breakeven_offset_pct),
    I64("p_time_activation_ms", stop.params.time_activation_ms),
    {{"p_steps", TG_COL_TEXT, false}, F_STEPS, ROW(stop.params), 0, 0},
    DEC("p_momentum_percent_per_minute", stop.params.momentum_pct_per_min),
    DEC("p_momentum_factor", stop.params.momentum_factor),
    I64("p_min_update_interval_ms", stop.params.min_update_interval_ms),
    DEC("p_min_improvement_percent", stop.params.min_improvement_pct),
    DEC("p_emergency_improvement_percent", stop.params.emergency_improvement_pct),
    ENUM(F_CROSSED, "p_on_crossed", stop.params.on_crossed),
    I64("version", version),
};

#define FIELD_COUNT ((int)(sizeof fields / sizeof fields[0]))

int tg_codec_column_count(void) {
    assert(FIELD_COUNT > 2); /* the two key columns, then the rest (tg_sql_insert_stop) */
    return FIELD_COUNT;
}

const tg_col_def *tg_codec_column(int index) {
    assert(index >= 0 && index < FIELD_COUNT);
    return &fields[index].col;
}

int tg_codec_column_index(const char *name) {
    assert(name != NULL);
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (strcmp(fields[i].col.name, name) == 0) {
            assert(i < FIELD_COUNT);
            return i;
        }
    }
    return -1;
}

static const char *const side_names[] = {"long", "short", NULL};
static const char *const state_names[] = {"inactive",  "waiting", "active",
                                          "triggered", "closed",  NULL};
static const char *const cb_names[] = {"percent", "ticks", "price", NULL};
static const char *const crossed_names[] = {"close", "alert", NULL};

static const char *const *enum_names(uint8_t kind) {
    assert(kind >= F_SIDE && kind <= F_CROSSED);
    switch (kind) {
    case F_SIDE:
        return side_names;
    case F_STATE:
        return state_names;
    case F_CB_KIND:
        return cb_names;
    default:
        return crossed_names;
    }
}

/* Values an enum column can hold: its names before the NULL. */
static uint8_t enum_count(uint8_t kind) {
    const char *const *names = enum_names(kind);
    uint8_t n = 0;
    while (names[n] != NULL) {
        n++;
    }
    assert(n >= 2 && n <= TG_STATE_CLOSED + 1);
    return n;
}

static bool flag_set(const tg_store_row *row, uint16_t flag) {
    assert(row != NULL);
    if (flag == 0) {
        return true;
    }
    if (flag == CLOSED_FLAG) {
        return row->stop.state == TG_STATE_CLOSED;
    }
    return (row->stop.flags & flag) != 0;
}

static void encode_one(const field *f, const tg_store_row *row, tg_col_value *v) {
    assert(f != NULL && row != NULL && v != NULL);
    assert(f->offset < sizeof *row && f->kind <= F_STEPS);
    const char *base = (const char *)row + f->offset;
    memset(v, 0, sizeof *v);
    if (!flag_set(row, f->flag)) {
        v->null = true;
        return;
    }
    switch (f->kind) {
    case F_STR:
        assert(f->size <= sizeof v->text && memchr(base, '\0', f->size) != NULL);
        snprintf(v->text, sizeof v->text, "%s", base);
        break;
    case F_DEC:
        tg_dec_format(*(const tg_dec *)base, 0, v->text);
        break;
    case F_I64:
        memcpy(&v->i, base, sizeof v->i);
        break;
    case F_U32:
        v->i = *(const uint32_t *)base;
        break;
    case F_U16:
        v->i = *(const uint16_t *)base;
        break;
    case F_U8:
        v->i = *(const uint8_t *)base;
        break;
    case F_STEPS:
        tg_params_format_steps((const tg_params *)base, v->text);
        break;
    default:
        assert(*(const uint8_t *)base < enum_count(f->kind)); /* a checked state's enums */
        snprintf(v->text, sizeof v->text, "%s", enum_names(f->kind)[*(const uint8_t *)base]);
        break;
    }
}

void tg_codec_encode(const tg_store_row *row, tg_col_value *vals) {
    assert(row != NULL && vals != NULL);
    assert(row->stop.side <= TG_SIDE_SHORT && row->stop.state <= TG_STATE_CLOSED);
    for (int i = 0; i < FIELD_COUNT; i++) {
        encode_one(&fields[i], row, &vals[i]);
    }
}

static tg_status bad(const tg_store_row *row, const field *f, const char *why, tg_err *err) {
    assert(row != NULL && f != NULL && why != NULL);
    return tg_err_set(err, TG_E_STATE, "stored position '%s': column %s %s", row->position_key,
                      f->col.name, why);
}

static tg_status decode_enum(const field *f, const tg_col_value *v, uint8_t *out,
                             const tg_store_row *row, tg_err *err) {
    assert(f != NULL && v != NULL && out != NULL);
    const char *const *names = enum_names(f->kind);
    for (uint8_t k = 0; names[k] != NULL; k++) {
        if (strcmp(names[k], v->text) == 0) {
            *out = k;
            assert(*out < enum_count(f->kind));
            return TG_OK;
        }
    }
    return bad(row, f, "holds an unknown value", err);
}

static tg_status decode_int(const field *f, const tg_col_value *v, char *base,
                            const tg_store_row *row, tg_err *err) {
    assert(f != NULL && v != NULL && base != NULL);
    assert(f->kind >= F_I64 && f->kind <= F_U8);
    int64_t max = f->kind == F_U32 ? UINT32_MAX : f->kind == F_U16 ? UINT16_MAX : UINT8_MAX;
    if (f->kind == F_I64) {
        memcpy(base, &v->i, sizeof v->i);
        return TG_OK;
    }
    if (v->i < 0 || v->i > max) {
        return bad(row, f, "is out of range", err);
    }
    if (f->kind == F_U32) {
        *(uint32_t *)base = (uint32_t)v->i;
    } else if (f->kind == F_U16) {
        *(uint16_t *)base = (uint16_t)v->i;
    } else {
        *(uint8_t *)base = (uint8_t)v->i;
    }
    return TG_OK;
}

static tg_status decode_one(const field *f, const tg_col_value *v, tg_store_row *row, tg_err *err) {
    assert(f != NULL && v != NULL && row != NULL);
    assert(f->offset < sizeof *row);
    char *base = (char *)row + f->offset;
    if (v->bad) {
        return bad(row, f, "holds a value of the wrong type or length", err);
    }
    if (v->null) {
        return f->col.nullable ? TG_OK : bad(row, f, "is NULL", err);
    }
    switch (f->kind) {
    case F_STR:
        if (strlen(v->text) >= f->size) {
            return bad(row, f, "is too long", err);
        }
        memcpy(base, v->text, strlen(v->text) + 1);
        assert(strlen(base) < f->size);
        return TG_OK;
    case F_DEC:
        return tg_dec_parse_cstr(v->text, (tg_dec *)base) == TG_DEC_OK
                   ? TG_OK
                   : bad(row, f, "is not an exact decimal", err);
    case F_I64:
    case F_U32:
    case F_U16:
    case F_U8:
        return decode_int(f, v, base, row, err);
    case F_STEPS: {
        if (strcmp(v->text, "off") == 0) {
            ((tg_params *)base)->step_count = 0;
            return TG_OK;
        }
        tg_params_patch patch = {0};
        if (tg_params_set(&patch, "steps", v->text, err) != TG_OK) {
            return bad(row, f, "is not a step table", err);
        }
        tg_params_apply((tg_params *)base, &patch);
        return TG_OK;
    }
    default:
        return decode_enum(f, v, (uint8_t *)base, row, err);
    }
}

tg_status tg_codec_decode(const tg_col_value *vals, tg_store_row *row, tg_err *err) {
    assert(vals != NULL && row != NULL);
    memset(row, 0, sizeof *row);
    for (int i = 0; i < FIELD_COUNT; i++) {
        tg_status st = decode_one(&fields[i], &vals[i], row, err);
        if (st != TG_OK) {
            return st;
        }
    }
    /* NULLs and flags must agree, or the row was written by something else. */
    for (int i = 0; i < FIELD_COUNT; i++) {
        const field *f = &fields[i];
        if (f->col.nullable && vals[i].null == flag_set(row, f->flag)) {
            return bad(row, f, "disagrees with the row's flags", err);
        }
    }
    tg_err why = {0};
    if (tg_stop_check(&row->stop, &why) != TG_OK) {
        return tg_err_set(err, TG_E_STATE, "stored position '%s' is not a valid state: %s",
                          row->position_key, why.msg);
    }
    assert(row->stop.side <= TG_SIDE_SHORT && row->stop.state <= TG_STATE_CLOSED);
    row->needs_reconcile = (row->stop.flags & TG_F_INTENDED) &&
                           (!(row->stop.flags & TG_F_CONFIRMED) ||
                            !tg_dec_eq(row->stop.stop_intended, row->stop.stop_confirmed));
    return TG_OK;
}
