#include "trailguard/params.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#define MS_PER_S         1000
#define TIME_SECONDS_MAX 315360000 /* ten years: anything longer is a typo */

static tg_dec dec_units(int64_t units) {
    return tg_dec_from_units(units);
}
static tg_dec dec_pct(int64_t hundredths) {
    assert(hundredths >= 0 && hundredths <= INT64_MAX / (TG_DEC_SCALE / 100));
    return dec_units(hundredths * (TG_DEC_SCALE / 100));
}

tg_params tg_params_default(void) {
    tg_params p;
    memset(&p, 0, sizeof p);
    p.activation_pct = dec_pct(150);
    p.callback = dec_pct(50);
    p.callback_kind = TG_CALLBACK_PERCENT;
    p.momentum_factor = dec_pct(70);
    p.min_improvement_pct = dec_pct(5);
    p.emergency_improvement_pct = dec_pct(100);
    p.min_update_interval_ms = 30 * MS_PER_S;
    p.on_crossed = TG_ON_CROSSED_CLOSE;
    assert(tg_params_validate(&p, NULL) == TG_OK);
    return p;
}

/* The parameter table: one row per name accepted by tg_params_set(). */
typedef enum value_kind {
    KIND_PERCENT,    /* percent ≥ 0, "off" allowed when optional */
    KIND_SECONDS,    /* seconds ≥ 0, to ms, "off" allowed when optional */
    KIND_CALLBACK,   /* callback with its kind */
    KIND_STEPS,      /* "p:c,p:c,..." */
    KIND_FACTOR,     /* (0, 1] */
    KIND_ON_CROSSED, /* close | alert */
} value_kind;

typedef struct param_def {
    const char *name;      /* underscore form */
    value_kind kind;       /* how the value is written */
    uint32_t bit;          /* tg_param_bit */
    size_t offset;         /* of the tg_dec or int64_t field in tg_params */
    bool optional;         /* zero / "off" means feature off */
    uint8_t callback_kind; /* for KIND_CALLBACK */
} param_def;

#define PARAM_OFFSET(field) offsetof(tg_params, field)

/* One row per parameter: name, kind, bit, field offset, optional, callback kind. */
#define PARAM_TABLE(X)                                                                             \
    X("initial_stop_percent", KIND_PERCENT, TG_P_INITIAL_STOP, PARAM_OFFSET(initial_stop_pct),     \
      true, 0)                                                                                     \
    X("activation_percent", KIND_PERCENT, TG_P_ACTIVATION, PARAM_OFFSET(activation_pct), false, 0) \
    X("callback_percent", KIND_CALLBACK, TG_P_CALLBACK, PARAM_OFFSET(callback), false,             \
      TG_CALLBACK_PERCENT)                                                                         \
    X("callback_ticks", KIND_CALLBACK, TG_P_CALLBACK, PARAM_OFFSET(callback), false,               \
      TG_CALLBACK_TICKS)                                                                           \
    X("callback_price", KIND_CALLBACK, TG_P_CALLBACK, PARAM_OFFSET(callback), false,               \
      TG_CALLBACK_PRICE)                                                                           \
    X("breakeven_percent", KIND_PERCENT, TG_P_BREAKEVEN, PARAM_OFFSET(breakeven_pct), true, 0)     \
    X("breakeven_offset_percent", KIND_PERCENT, TG_P_BREAKEVEN_OFFSET,                             \
      PARAM_OFFSET(breakeven_offset_pct), true, 0)                                                 \
    X("time_activation_seconds", KIND_SECONDS, TG_P_TIME_ACTIVATION,                               \
      PARAM_OFFSET(time_activation_ms), true, 0)                                                   \
    X("steps", KIND_STEPS, TG_P_STEPS, 0, true, 0)                                                 \
    X("momentum_percent_per_minute", KIND_PERCENT, TG_P_MOMENTUM,                                  \
      PARAM_OFFSET(momentum_pct_per_min), true, 0)                                                 \
    X("momentum_factor", KIND_FACTOR, TG_P_MOMENTUM_FACTOR, PARAM_OFFSET(momentum_factor), false,  \
      0)                                                                                           \
    X("min_update_interval_seconds", KIND_SECONDS, TG_P_MIN_INTERVAL,                              \
      PARAM_OFFSET(min_update_interval_ms), false, 0)                                              \
    X("min_improvement_percent", KIND_PERCENT, TG_P_MIN_IMPROVEMENT,                               \
      PARAM_OFFSET(min_improvement_pct), false, 0)                                                 \
    X("emergency_improvement_percent", KIND_PERCENT, TG_P_EMERGENCY,                               \
      PARAM_OFFSET(emergency_improvement_pct), false, 0)                                           \
    X("on_crossed", KIND_ON_CROSSED, TG_P_ON_CROSSED, 0, false, 0)

#define DEF_ROW(name, kind, bit, offset, optional, cb)  {name, kind, bit, offset, optional, cb},
#define NAME_ROW(name, kind, bit, offset, optional, cb) name,

static const param_def param_defs[] = {PARAM_TABLE(DEF_ROW)};
static const char *const param_names[] = {PARAM_TABLE(NAME_ROW) NULL};

#define PARAM_COUNT (sizeof param_defs / sizeof param_defs[0])

const char *const *tg_params_names(void) {
    assert(param_names[PARAM_COUNT] == NULL);
    return param_names;
}

/* Compares a parameter name written with dashes or underscores. */
static bool name_matches(const char *given, const char *canonical) {
    assert(given != NULL && canonical != NULL);
    size_t i = 0;
    for (; given[i] != '\0' && canonical[i] != '\0'; i++) {
        char g = given[i] == '-' ? '_' : given[i];
        if (g != canonical[i]) {
            return false;
        }
    }
    return given[i] == '\0' && canonical[i] == '\0';
}

static const param_def *param_find(const char *name) {
    assert(name != NULL);
    for (size_t i = 0; i < PARAM_COUNT; i++) {
        if (name_matches(name, param_defs[i].name)) {
            assert(param_defs[i].kind <= KIND_ON_CROSSED);
            return &param_defs[i];
        }
    }
    return NULL;
}

static tg_status parse_number(const char *name, const char *value, tg_dec *out, tg_err *err) {
    assert(name != NULL && value != NULL && out != NULL);
    tg_dec_status st = tg_dec_parse_cstr(value, out);
    if (st != TG_DEC_OK) {
        return tg_err_set(err, TG_E_INVALID, "%s: '%s' is not a valid number (%s)", name, value,
                          tg_dec_status_str(st));
    }
    if (tg_dec_is_neg(*out)) {
        return tg_err_set(err, TG_E_INVALID, "%s: %s is negative; it must be ≥ 0", name, value);
    }
    return TG_OK;
}

static tg_status parse_seconds(const char *name, const char *value, int64_t *ms, tg_err *err) {
    assert(ms != NULL);
    tg_dec sec;
    tg_status st = parse_number(name, value, &sec, err);
    if (st != TG_OK) {
        return st;
    }
    tg_dec limit = tg_dec_from_units((int64_t)TIME_SECONDS_MAX * TG_DEC_SCALE);
    if (tg_dec_gt(sec, limit)) {
        return tg_err_set(err, TG_E_INVALID, "%s: %s s is longer than ten years", name, value);
    }
    if (sec.units % (TG_DEC_SCALE / MS_PER_S) != 0) {
        return tg_err_set(err, TG_E_INVALID, "%s: %s has more precision than a millisecond", name,
                          value);
    }
    *ms = sec.units / (TG_DEC_SCALE / MS_PER_S);
    assert(*ms >= 0 && *ms <= (int64_t)TIME_SECONDS_MAX * MS_PER_S);
    return TG_OK;
}

/* "1:0.5,2:0.3,3:0.2" → steps; shape only, ordering is checked in validate. */
static tg_status parse_steps(const char *value, tg_params *p, tg_err *err) {
    assert(value != NULL && p != NULL);
    uint8_t count = 0;
    const char *at = value;
    while (*at != '\0') {
        if (count == TG_STEPS_MAX) {
            return tg_err_set(err, TG_E_INVALID, "steps: more than %d entries in '%s'",
                              TG_STEPS_MAX, value);
        }
        const char *colon = strchr(at, ':');
        const char *comma = strchr(at, ',');
        size_t entry_len = comma != NULL ? (size_t)(comma - at) : strlen(at);
        if (colon == NULL || (size_t)(colon - at) >= entry_len) {
            return tg_err_set(err, TG_E_INVALID,
                              "steps: entry %d of '%s' is not PROFIT:CALLBACK (e.g. 1.0:0.5)",
                              count + 1, value);
        }
        tg_step *step = &p->steps[count];
        size_t profit_len = (size_t)(colon - at);
        size_t cb_len = entry_len - profit_len - 1;
        if (tg_dec_parse(at, profit_len, &step->profit_pct, NULL) != TG_DEC_OK ||
            tg_dec_parse(colon + 1, cb_len, &step->callback_pct, NULL) != TG_DEC_OK) {
            return tg_err_set(err, TG_E_INVALID,
                              "steps: entry %d of '%s' has a value that is not a plain number",
                              count + 1, value);
        }
        count++;
        at += entry_len;
        if (*at == ',') {
            at++;
            if (*at == '\0') {
                return tg_err_set(err, TG_E_INVALID, "steps: trailing comma in '%s'", value);
            }
        }
    }
    if (count == 0) {
        return tg_err_set(err, TG_E_INVALID,
                          "steps: the table is empty; give PROFIT:CALLBACK entries or 'off'");
    }
    assert(count > 0 && count <= TG_STEPS_MAX);
    p->step_count = count;
    return TG_OK;
}

static tg_status set_value(const param_def *def, tg_params *p, const char *value, tg_err *err) {
    assert(def != NULL && p != NULL && value != NULL);
    assert(def->offset + sizeof(tg_dec) <= sizeof *p);
    char *base = (char *)p;
    switch (def->kind) {
    case KIND_PERCENT:
    case KIND_FACTOR:
        return parse_number(def->name, value, (tg_dec *)(base + def->offset), err);
    case KIND_CALLBACK:
        p->callback_kind = def->callback_kind;
        return parse_number(def->name, value, &p->callback, err);
    case KIND_SECONDS:
        return parse_seconds(def->name, value, (int64_t *)(base + def->offset), err);
    case KIND_STEPS:
        return parse_steps(value, p, err);
    case KIND_ON_CROSSED:
        if (strcmp(value, "close") == 0) {
            p->on_crossed = TG_ON_CROSSED_CLOSE;
        } else if (strcmp(value, "alert") == 0) {
            p->on_crossed = TG_ON_CROSSED_ALERT;
        } else {
            return tg_err_set(err, TG_E_INVALID, "on_crossed: '%s' must be 'close' or 'alert'",
                              value);
        }
        return TG_OK;
    }
    return tg_err_set(err, TG_E_INVALID, "%s: unsupported parameter kind", def->name);
}

static void set_off(const param_def *def, tg_params *p) {
    assert(def != NULL && p != NULL);
    assert(def->optional); /* tg_params_set() refuses "off" for the others */
    char *base = (char *)p;
    if (def->kind == KIND_STEPS) {
        p->step_count = 0;
    } else if (def->kind == KIND_SECONDS) {
        *(int64_t *)(base + def->offset) = 0;
    } else {
        *(tg_dec *)(base + def->offset) = tg_dec_from_units(0);
    }
}

tg_status tg_params_set(tg_params_patch *patch, const char *name, const char *value, tg_err *err) {
    assert(patch != NULL);
    assert(name != NULL && value != NULL);
    const param_def *def = param_find(name);
    if (def == NULL) {
        return tg_err_set(err, TG_E_INVALID, "unknown parameter '%s'", name);
    }
    if (strcmp(value, "off") == 0) {
        if (!def->optional) {
            return tg_err_set(err, TG_E_INVALID, "%s cannot be 'off'; give a value", def->name);
        }
        set_off(def, &patch->values);
    } else {
        tg_status st = set_value(def, &patch->values, value, err);
        if (st != TG_OK) {
            return st;
        }
    }
    patch->set |= def->bit;
    assert((patch->set & def->bit) != 0);
    return TG_OK;
}

void tg_params_apply(tg_params *p, const tg_params_patch *patch) {
    assert(p != NULL && patch != NULL);
    const tg_params *v = &patch->values;
    uint32_t set = patch->set;
#define TAKE(bit, field)                                                                           \
    if (set & (bit)) {                                                                             \
        p->field = v->field;                                                                       \
    }
    TAKE(TG_P_INITIAL_STOP, initial_stop_pct)
    TAKE(TG_P_ACTIVATION, activation_pct)
    TAKE(TG_P_CALLBACK, callback)
    TAKE(TG_P_CALLBACK, callback_kind)
    TAKE(TG_P_BREAKEVEN, breakeven_pct)
    TAKE(TG_P_BREAKEVEN_OFFSET, breakeven_offset_pct)
    TAKE(TG_P_TIME_ACTIVATION, time_activation_ms)
    TAKE(TG_P_MOMENTUM, momentum_pct_per_min)
    TAKE(TG_P_MOMENTUM_FACTOR, momentum_factor)
    TAKE(TG_P_MIN_INTERVAL, min_update_interval_ms)
    TAKE(TG_P_MIN_IMPROVEMENT, min_improvement_pct)
    TAKE(TG_P_EMERGENCY, emergency_improvement_pct)
    TAKE(TG_P_ON_CROSSED, on_crossed)
#undef TAKE
    if (set & TG_P_STEPS) {
        p->step_count = v->step_count;
        memcpy(p->steps, v->steps, sizeof p->steps);
    }
}

static tg_status validate_steps(const tg_params *p, tg_err *err) {
    assert(p != NULL);
    char a[TG_DEC_STR_MAX], b[TG_DEC_STR_MAX];
    if (p->step_count > TG_STEPS_MAX) {
        /* checked before the table is read: a stored row may carry any count */
        return tg_err_set(err, TG_E_INVALID, "steps: %u entries, at most %d", p->step_count,
                          TG_STEPS_MAX);
    }
    for (uint8_t i = 0; i < p->step_count; i++) {
        const tg_step *s = &p->steps[i];
        if (tg_dec_is_neg(s->profit_pct)) {
            tg_dec_format(s->profit_pct, 0, a);
            return tg_err_set(err, TG_E_INVALID, "steps: entry %u has a negative profit (%s)",
                              i + 1u, a);
        }
        if (!tg_dec_is_pos(s->callback_pct) || tg_dec_ge(s->callback_pct, dec_pct(10000))) {
            tg_dec_format(s->callback_pct, 0, a);
            return tg_err_set(err, TG_E_INVALID,
                              "steps: entry %u has callback %s; it must be > 0 and < 100", i + 1u,
                              a);
        }
        if (i == 0) {
            continue;
        }
        const tg_step *prev = &p->steps[i - 1];
        if (!tg_dec_gt(s->profit_pct, prev->profit_pct)) {
            tg_dec_format(s->profit_pct, 0, a);
            tg_dec_format(prev->profit_pct, 0, b);
            return tg_err_set(err, TG_E_INVALID,
                              "steps: profits must ascend, but %s%% follows %s%%", a, b);
        }
        if (tg_dec_gt(s->callback_pct, prev->callback_pct)) {
            tg_dec_format(s->callback_pct, 0, a);
            tg_dec_format(prev->callback_pct, 0, b);
            return tg_err_set(err, TG_E_INVALID,
                              "steps: callbacks must tighten as profit grows, but %s%% follows "
                              "%s%%",
                              a, b);
        }
    }
    return TG_OK;
}

static tg_status check_pct(const char *name, tg_dec v, bool positive, tg_dec max_exclusive,
                           tg_err *err) {
    assert(name != NULL);
    assert(tg_dec_is_pos(max_exclusive));
    char a[TG_DEC_STR_MAX], b[TG_DEC_STR_MAX];
    tg_dec_format(v, 0, a);
    if (tg_dec_is_neg(v) || (positive && tg_dec_is_zero(v))) {
        return tg_err_set(err, TG_E_INVALID, "%s is %s; it must be %s", name, a,
                          positive ? "> 0" : "≥ 0");
    }
    if (tg_dec_ge(v, max_exclusive)) {
        tg_dec_format(max_exclusive, 0, b);
        return tg_err_set(err, TG_E_INVALID, "%s is %s; it must be below %s", name, a, b);
    }
    return TG_OK;
}

static tg_status validate_callback(const tg_params *p, tg_err *err) {
    assert(p != NULL);
    char a[TG_DEC_STR_MAX];
    switch (p->callback_kind) {
    case TG_CALLBACK_PERCENT:
        return check_pct("callback_percent", p->callback, true, dec_pct(10000), err);
    case TG_CALLBACK_TICKS:
        if (!tg_dec_is_pos(p->callback) || p->callback.units % TG_DEC_SCALE != 0) {
            tg_dec_format(p->callback, 0, a);
            return tg_err_set(err, TG_E_INVALID,
                              "callback_ticks is %s; it must be a whole number > 0", a);
        }
        return TG_OK;
    case TG_CALLBACK_PRICE:
        if (!tg_dec_is_pos(p->callback)) {
            tg_dec_format(p->callback, 0, a);
            return tg_err_set(err, TG_E_INVALID, "callback_price is %s; it must be > 0", a);
        }
        return TG_OK;
    }
    return tg_err_set(err, TG_E_INVALID, "callback kind %u is unknown", p->callback_kind);
}

tg_status tg_params_validate(const tg_params *p, tg_err *err) {
    assert(p != NULL);
    const tg_dec hundred = dec_pct(10000);
    /* 1000 %: beyond any real setting, and small enough that no level computed
     * from a price ≤ 1e9 can leave the tg_dec range. */
    const tg_dec huge = dec_pct(100000);
    const tg_dec just_over_one = dec_units(TG_DEC_SCALE + 1);
    tg_status st = TG_OK;
    if (st == TG_OK)
        st = check_pct("initial_stop_percent", p->initial_stop_pct, false, hundred, err);
    if (st == TG_OK)
        st = check_pct("activation_percent", p->activation_pct, false, huge, err);
    if (st == TG_OK)
        st = validate_callback(p, err);
    if (st == TG_OK)
        st = check_pct("breakeven_percent", p->breakeven_pct, false, huge, err);
    if (st == TG_OK)
        st = check_pct("breakeven_offset_percent", p->breakeven_offset_pct, false, hundred, err);
    if (st == TG_OK)
        st = check_pct("momentum_percent_per_minute", p->momentum_pct_per_min, false, huge, err);
    if (st == TG_OK)
        st = check_pct("momentum_factor", p->momentum_factor, true, just_over_one, err);
    if (st == TG_OK)
        st = check_pct("min_improvement_percent", p->min_improvement_pct, false, hundred, err);
    if (st == TG_OK)
        st = check_pct("emergency_improvement_percent", p->emergency_improvement_pct, true, huge,
                       err);
    if (st == TG_OK)
        st = validate_steps(p, err);
    if (st != TG_OK) {
        return st;
    }
    if (p->time_activation_ms < 0 || p->min_update_interval_ms < 0) {
        return tg_err_set(err, TG_E_INVALID, "time parameters must be ≥ 0 seconds");
    }
    if (p->step_count > 0 && p->callback_kind != TG_CALLBACK_PERCENT) {
        return tg_err_set(err, TG_E_INVALID,
                          "steps are callbacks in percent; use callback_percent with them, not "
                          "callback_ticks or callback_price");
    }
    if (p->step_count > TG_STEPS_MAX || p->on_crossed > TG_ON_CROSSED_ALERT) {
        return tg_err_set(err, TG_E_INVALID, "step count or on_crossed out of range");
    }
    if (tg_dec_is_pos(p->breakeven_pct) && !tg_dec_gt(p->breakeven_pct, p->breakeven_offset_pct)) {
        return tg_err_set(err, TG_E_INVALID,
                          "breakeven_offset_percent must be below breakeven_percent, or the "
                          "breakeven stop would sit above the price that triggers it");
    }
    return TG_OK;
}

tg_dec tg_params_step_callback(const tg_params *p, tg_dec peak_profit_pct) {
    assert(p != NULL);
    assert(p->step_count <= TG_STEPS_MAX); /* p is validated */
    tg_dec callback = p->callback;
    for (uint8_t i = 0; i < p->step_count; i++) {
        if (tg_dec_ge(peak_profit_pct, p->steps[i].profit_pct)) {
            callback = p->steps[i].callback_pct;
        }
    }
    return callback;
}

void tg_params_format_steps(const tg_params *p, char *buf) {
    assert(p != NULL && buf != NULL);
    if (p->step_count == 0) {
        memcpy(buf, "off", 4);
        return;
    }
    size_t len = 0;
    for (uint8_t i = 0; i < p->step_count && i < TG_STEPS_MAX; i++) {
        if (i > 0) {
            buf[len++] = ',';
        }
        len += tg_dec_format(p->steps[i].profit_pct, 0, buf + len);
        buf[len++] = ':';
        len += tg_dec_format(p->steps[i].callback_pct, 0, buf + len);
    }
    assert(len < TG_STEPS_TEXT_MAX);
}
