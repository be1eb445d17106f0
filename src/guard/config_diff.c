/*
 * tg_config_diff(): what a reload changes, parameter by parameter, in the
 * words of the configuration file.
 */
#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "trailguard/config.h"

#define VALUE_TEXT_MAX TG_STEPS_TEXT_MAX /* the longest value text: a step table */
#define MS_UNITS       (TG_DEC_SCALE / 1000)

typedef enum value_kind {
    V_DEC,        /* a tg_dec field */
    V_MS,         /* an int64_t ms field, written in seconds */
    V_CALLBACK,   /* callback, when callback_kind matches */
    V_STEPS,      /* the step table */
    V_ON_CROSSED, /* close | alert */
    V_FOREIGN,    /* a setting: leave | cancel */
    V_SETTING_MS, /* a setting in ms, written in seconds */
} value_kind;

typedef struct value_def {
    const char *name; /* the key */
    value_kind kind;  /* how it is written */
    uint32_t bit;     /* tg_param_bit, or tg_setting_bit for settings */
    size_t offset;    /* of the field in tg_params or tg_guard_settings */
    uint8_t cb_kind;  /* V_CALLBACK: its tg_callback_kind */
    bool optional;    /* zero is "off" */
} value_def;

#define P(field) offsetof(tg_params, field)
#define S(field) offsetof(tg_guard_settings, field)

static const value_def defs[] = {
    {"initial_stop_percent", V_DEC, TG_P_INITIAL_STOP, P(initial_stop_pct), 0, true},
    {"activation_percent", V_DEC, TG_P_ACTIVATION, P(activation_pct), 0, false},
    {"callback_percent", V_CALLBACK, TG_P_CALLBACK, P(callback), TG_CALLBACK_PERCENT, false},
    {"callback_ticks", V_CALLBACK, TG_P_CALLBACK, P(callback), TG_CALLBACK_TICKS, false},
    {"callback_price", V_CALLBACK, TG_P_CALLBACK, P(callback), TG_CALLBACK_PRICE, false},
    {"breakeven_percent", V_DEC, TG_P_BREAKEVEN, P(breakeven_pct), 0, true},
    {"breakeven_offset_percent", V_DEC, TG_P_BREAKEVEN_OFFSET, P(breakeven_offset_pct), 0, true},
    {"time_activation_seconds", V_MS, TG_P_TIME_ACTIVATION, P(time_activation_ms), 0, true},
    {"steps", V_STEPS, TG_P_STEPS, 0, 0, true},
    {"momentum_percent_per_minute", V_DEC, TG_P_MOMENTUM, P(momentum_pct_per_min), 0, true},
    {"momentum_factor", V_DEC, TG_P_MOMENTUM_FACTOR, P(momentum_factor), 0, false},
    {"min_update_interval_seconds", V_MS, TG_P_MIN_INTERVAL, P(min_update_interval_ms), 0, false},
    {"min_improvement_percent", V_DEC, TG_P_MIN_IMPROVEMENT, P(min_improvement_pct), 0, false},
    {"emergency_improvement_percent", V_DEC, TG_P_EMERGENCY, P(emergency_improvement_pct), 0,
     false},
    {"on_crossed", V_ON_CROSSED, TG_P_ON_CROSSED, 0, 0, false},
    {"foreign_stops", V_FOREIGN, TG_S_FOREIGN_STOPS, S(foreign_stops), 0, false},
    {"reconcile_interval_seconds", V_SETTING_MS, TG_S_RECONCILE_INTERVAL, S(reconcile_interval_ms),
     0, false},
    {"stale_seconds", V_SETTING_MS, TG_S_STALE, S(stale_ms), 0, false},
    {"max_update_delay_seconds", V_SETTING_MS, TG_S_MAX_UPDATE_DELAY, S(max_update_delay_ms), 0,
     false},
};

#define DEF_COUNT (sizeof defs / sizeof defs[0])

static bool is_setting(const value_def *d) {
    return d->kind == V_FOREIGN || d->kind == V_SETTING_MS;
}

static void format_ms(int64_t ms, bool optional, char *buf) {
    if (optional && ms == 0) {
        memcpy(buf, "off", 4);
        return;
    }
    tg_dec_format(tg_dec_from_units(ms * MS_UNITS), 0, buf);
}

static void format_value(const value_def *d, const tg_params *p, const tg_guard_settings *s,
                         char *buf) {
    const char *pb = (const char *)p;
    const char *sb = (const char *)s;
    switch (d->kind) {
    case V_DEC: {
        tg_dec v = *(const tg_dec *)(pb + d->offset);
        if (d->optional && tg_dec_is_zero(v)) {
            memcpy(buf, "off", 4);
        } else {
            tg_dec_format(v, 0, buf);
        }
        return;
    }
    case V_MS:
        format_ms(*(const int64_t *)(pb + d->offset), d->optional, buf);
        return;
    case V_CALLBACK:
        if (p->callback_kind != d->cb_kind) {
            memcpy(buf, "unset", 6);
        } else {
            tg_dec_format(p->callback, 0, buf);
        }
        return;
    case V_STEPS:
        tg_params_format_steps(p, buf);
        return;
    case V_ON_CROSSED:
        snprintf(buf, VALUE_TEXT_MAX, "%s",
                 p->on_crossed == TG_ON_CROSSED_ALERT ? "alert" : "close");
        return;
    case V_FOREIGN:
        snprintf(buf, VALUE_TEXT_MAX, "%s", tg_foreign_stops_str(s->foreign_stops));
        return;
    case V_SETTING_MS:
        format_ms(*(const int64_t *)(sb + d->offset), false, buf);
        return;
    }
    assert(false);
}

static bool layer_sets(const tg_config_layer *l, const value_def *d) {
    if (l == NULL) {
        return false;
    }
    return is_setting(d) ? (l->settings_set & d->bit) != 0 : (l->params.set & d->bit) != 0;
}

/* Reports the differences of one scope; symbol NULL is [defaults]. */
static void diff_scope(const tg_config *a, const tg_config *b, const char *symbol,
                       tg_config_diff_fn fn, void *ctx) {
    tg_params pa = tg_config_params(a, symbol), pb = tg_config_params(b, symbol);
    tg_guard_settings sa = tg_config_settings(a, symbol), sb = tg_config_settings(b, symbol);
    const tg_config_layer *la = tg_config_symbol(a, symbol), *lb = tg_config_symbol(b, symbol);
    for (size_t i = 0; i < DEF_COUNT; i++) {
        const value_def *d = &defs[i];
        if (symbol != NULL && !layer_sets(la, d) && !layer_sets(lb, d)) {
            continue; /* inherited: reported under defaults */
        }
        char old_text[VALUE_TEXT_MAX], new_text[VALUE_TEXT_MAX];
        format_value(d, &pa, &sa, old_text);
        format_value(d, &pb, &sb, new_text);
        if (strcmp(old_text, new_text) != 0) {
            fn(ctx, symbol, d->name, old_text, new_text);
        }
    }
}

/* A parameter added to params.c but not to defs would never be reported. */
static bool defs_cover_params(void) {
    for (const char *const *n = tg_params_names(); *n != NULL; n++) {
        size_t i = 0;
        while (i < DEF_COUNT && strcmp(defs[i].name, *n) != 0) {
            i++;
        }
        if (i == DEF_COUNT) {
            return false;
        }
    }
    return true;
}

void tg_config_diff(const tg_config *a, const tg_config *b, tg_config_diff_fn fn, void *ctx) {
    assert(a != NULL && b != NULL && fn != NULL);
    assert(defs_cover_params());
    diff_scope(a, b, NULL, fn, ctx);
    for (size_t i = 0; i < a->symbols_count; i++) {
        diff_scope(a, b, a->symbols[i].symbol, fn, ctx);
    }
    for (size_t i = 0; i < b->symbols_count; i++) {
        if (tg_config_symbol(a, b->symbols[i].symbol) == NULL) {
            diff_scope(a, b, b->symbols[i].symbol, fn, ctx);
        }
    }
}
