/* Fuzzes parameter setting, which reads config files and command-line flags.
 *
 * Input: records separated by '\n'. In each record the first byte selects a
 * name from tg_params_names() (low 7 bits, modulo the count; the high bit asks
 * for the dashed spelling) and the rest is the value. A one-record input is
 * exactly "name byte, then value". Every record is set on one patch, the patch
 * is laid over the defaults and validated. A set that validates must then
 * drive a long and a short stop through a short price path without tripping
 * an assertion or breaking an invariant.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "trailguard/params.h"
#include "trailguard/stop.h"

#define RECORDS_MAX     8   /* records read from one input */
#define VALUE_BYTES_MAX 512 /* bytes of one value, NUL included */
#define NAME_BYTES_MAX  64  /* bytes of one name, NUL included */
#define PATH_TICKS      12  /* ticks per stop */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t name_count(void) {
    const char *const *names = tg_params_names();
    size_t n = 0;
    while (names[n] != NULL) {
        n++;
    }
    assert(n > 0);
    return n;
}

static void spelled_name(uint8_t selector, char *buf) {
    const char *name = tg_params_names()[(selector & 0x7f) % name_count()];
    size_t len = strlen(name);
    assert(len < NAME_BYTES_MAX);
    memcpy(buf, name, len + 1);
    for (size_t i = 0; (selector & 0x80) != 0 && i < len; i++) {
        buf[i] = buf[i] == '_' ? '-' : buf[i];
    }
}

static void confirm_stops(tg_stop *s, int64_t ts_ms, const tg_out *out) {
    for (int i = 0; i < out->n_cmds; i++) {
        if (out->cmds[i].type == TG_CMD_SET_STOP && tg_stop_is_open(s)) {
            tg_out c = {0};
            tg_stop_confirmed(s, ts_ms, out->cmds[i].price, &c);
        }
    }
}

/* Opens a stop at 100 (tick 0.01) and walks it up 10 %, back, down 10 %. */
static void drive_stop(const tg_params *p, tg_side side) {
    static const int64_t path_cents[PATH_TICKS] = {10000, 10150, 10400, 10700, 11000, 10800,
                                                   10500, 10000, 9600,  9000,  9500,  12000};
    tg_open o = {.id = 1,
                 .side = side,
                 .entry = tg_dec_from_units(100 * TG_DEC_SCALE),
                 .quantity = tg_dec_from_units(TG_DEC_SCALE),
                 .tick = tg_dec_from_units(TG_DEC_SCALE / 100),
                 .ts_ms = 0,
                 .params = *p};
    tg_stop s;
    tg_out out = {0};
    tg_err err = {0};
    if (tg_stop_open(&s, &o, &out, &err) != TG_OK) {
        assert(err.msg[0] != '\0');
        return;
    }
    confirm_stops(&s, 0, &out);
    for (int i = 0; i < PATH_TICKS && tg_stop_is_open(&s); i++) {
        int64_t ts_ms = (int64_t)(i + 1) * 20000;
        out = (tg_out){0};
        tg_stop_tick(&s, ts_ms, tg_dec_from_units(path_cents[i] * (TG_DEC_SCALE / 100)), &out);
        confirm_stops(&s, ts_ms, &out);
        assert(tg_stop_check(&s, &err) == TG_OK);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tg_params_patch patch;
    memset(&patch, 0, sizeof patch);
    size_t at = 0;
    for (int r = 0; r < RECORDS_MAX && at < size; r++) {
        const uint8_t *end = memchr(data + at, '\n', size - at);
        size_t rec_len = end != NULL ? (size_t)(end - (data + at)) : size - at;
        if (rec_len > 0) {
            char name[NAME_BYTES_MAX], value[VALUE_BYTES_MAX];
            spelled_name(data[at], name);
            size_t value_len =
                rec_len - 1 < VALUE_BYTES_MAX - 1 ? rec_len - 1 : VALUE_BYTES_MAX - 1;
            memcpy(value, data + at + 1, value_len);
            value[value_len] = '\0';
            tg_err err = {0};
            uint32_t set_before = patch.set;
            if (tg_params_set(&patch, name, value, &err) != TG_OK) {
                assert(err.status == TG_E_INVALID && err.msg[0] != '\0');
                assert(patch.set == set_before);
            }
        }
        at += rec_len + 1;
    }
    tg_params p = tg_params_default();
    tg_params_apply(&p, &patch);
    tg_err err = {0};
    if (tg_params_validate(&p, &err) != TG_OK) {
        assert(err.msg[0] != '\0' && strlen(err.msg) < TG_ERR_MSG_MAX);
        return 0;
    }
    /* The step table formats back to text that sets the same table. */
    char steps[TG_STEPS_TEXT_MAX];
    tg_params_format_steps(&p, steps);
    assert(strlen(steps) < TG_STEPS_TEXT_MAX);
    tg_params_patch again;
    memset(&again, 0, sizeof again);
    assert(tg_params_set(&again, "steps", steps, &err) == TG_OK);
    assert(again.values.step_count == p.step_count);
    assert(memcmp(again.values.steps, p.steps, p.step_count * sizeof p.steps[0]) == 0);
    drive_stop(&p, TG_SIDE_LONG);
    drive_stop(&p, TG_SIDE_SHORT);
    return 0;
}
