/* Parameters: defaults, names, validation with clear sentences, layering. */
#include "engine_harness.h"

static void defaults_are_valid_and_as_documented(void **state) {
    (void)state;
    tg_params p = tg_params_default();
    tg_err err = {0};
    assert_int_equal(tg_params_validate(&p, &err), TG_OK);
    assert_dec(p.activation_pct, "1.5");
    assert_dec(p.callback, "0.5");
    assert_int_equal(p.callback_kind, TG_CALLBACK_PERCENT);
    assert_int_equal(p.min_update_interval_ms, 30000);
    assert_dec(p.min_improvement_pct, "0.05");
    assert_dec(p.emergency_improvement_pct, "1");
    assert_int_equal(p.on_crossed, TG_ON_CROSSED_CLOSE);
    assert_true(tg_dec_is_zero(p.initial_stop_pct));
    assert_true(tg_dec_is_zero(p.breakeven_pct));
    assert_int_equal(p.time_activation_ms, 0);
    assert_int_equal(p.step_count, 0);
}

static tg_status set1(tg_params *p, const char *name, const char *value, tg_err *err) {
    tg_params_patch patch = {0};
    tg_status st = tg_params_set(&patch, name, value, err);
    if (st == TG_OK) {
        tg_params_apply(p, &patch);
        st = tg_params_validate(p, err);
    }
    return st;
}

static void expect_error(const char *name, const char *value, const char *needle) {
    tg_params p = tg_params_default();
    tg_err err = {0};
    if (set1(&p, name, value, &err) == TG_OK) {
        fail_msg("%s=%s was accepted", name, value);
    }
    if (strstr(err.msg, needle) == NULL) {
        fail_msg("%s=%s: message '%s' lacks '%s'", name, value, err.msg, needle);
    }
}

static void invalid_values_are_errors_never_defaults(void **state) {
    (void)state;
    expect_error("callback_percent", "0", "callback_percent is 0");
    expect_error("callback-percent", "-1", "negative");
    expect_error("activation_percent", "-0.5", "negative");
    expect_error("activation_percent", "off", "cannot be 'off'");
    expect_error("callback_ticks", "2.5", "whole number");
    expect_error("steps", "", "empty");
    expect_error("steps", "1:0.5,", "trailing comma");
    expect_error("steps", "1:0.3,2:0.5", "tighten");
    expect_error("steps", "2:0.5,1:0.3", "ascend");
    expect_error("steps", "1-0.5", "PROFIT:CALLBACK");
    expect_error("steps", "1:0", "callback 0");
    expect_error("on_crossed", "sell", "'close' or 'alert'");
    expect_error("min_update_interval_seconds", "1e3", "scientific notation");
    expect_error("min_update_interval_seconds", "0.0001", "millisecond");
    expect_error("momentum_factor", "1.5", "below 1.00000001");
    expect_error("activation_percent", "1000", "below 1000");
    expect_error("momentum_factor", "0", "momentum_factor is 0");
    expect_error("no_such_thing", "1", "unknown parameter 'no_such_thing'");
    tg_params p = tg_params_default();
    tg_err err = {0};
    assert_int_equal(set1(&p, "breakeven_percent", "0.5", &err), TG_OK);
    assert_int_equal(set1(&p, "breakeven_offset_percent", "0.6", &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "breakeven_offset_percent must be below"));
}

static void every_name_is_settable(void **state) {
    (void)state;
    const char *const *names = tg_params_names();
    int n = 0;
    for (; names[n] != NULL; n++) {
        tg_params_patch patch = {0};
        tg_err err = {0};
        const char *value = strcmp(names[n], "steps") == 0             ? "1:0.5,2:0.3"
                            : strcmp(names[n], "on_crossed") == 0      ? "alert"
                            : strcmp(names[n], "momentum_factor") == 0 ? "0.5"
                                                                       : "2";
        if (tg_params_set(&patch, names[n], value, &err) != TG_OK) {
            fail_msg("%s=%s: %s", names[n], value, err.msg);
        }
        assert_int_not_equal(patch.set, 0);
    }
    assert_int_equal(n, 15);
}

static void layers_apply_in_order(void **state) {
    (void)state;
    tg_params p = tg_params_default();
    tg_params_patch symbol = {0}, position = {0};
    tg_err err = {0};
    assert_int_equal(tg_params_set(&symbol, "activation_percent", "3", &err), TG_OK);
    assert_int_equal(tg_params_set(&symbol, "callback_percent", "1", &err), TG_OK);
    assert_int_equal(tg_params_set(&position, "callback-ticks", "40", &err), TG_OK);
    assert_int_equal(tg_params_set(&position, "breakeven_percent", "off", &err), TG_OK);
    tg_params_apply(&p, &symbol);
    tg_params_apply(&p, &position);
    assert_int_equal(tg_params_validate(&p, &err), TG_OK);
    assert_dec(p.activation_pct, "3");                    /* from the symbol layer */
    assert_int_equal(p.callback_kind, TG_CALLBACK_TICKS); /* position overrides symbol */
    assert_dec(p.callback, "40");
    assert_dec(p.min_improvement_pct, "0.05"); /* untouched default */
}

static void steps_pick_the_callback_for_the_peak(void **state) {
    (void)state;
    tg_params p = tg_params_default();
    tg_err err = {0};
    assert_int_equal(set1(&p, "steps", "1.0:0.5,2.0:0.3,3.0:0.2", &err), TG_OK);
    assert_dec(tg_params_step_callback(&p, D("0.5")), "0.5"); /* below the table: base */
    assert_dec(tg_params_step_callback(&p, D("1")), "0.5");
    assert_dec(tg_params_step_callback(&p, D("2.5")), "0.3");
    assert_dec(tg_params_step_callback(&p, D("30")), "0.2");
}

static void steps_need_percent_callback(void **state) {
    (void)state;
    tg_params p = tg_params_default();
    tg_err err = {0};
    assert_int_equal(set1(&p, "steps", "1:0.5", &err), TG_OK);
    assert_int_equal(set1(&p, "callback_ticks", "10", &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "steps"));
}

/* A stored row can carry any step count: it is refused before the table is
 * read (an over-long count used to read past steps[]). */
static void step_count_checked_before_the_table(void **state) {
    (void)state;
    tg_params p = tg_params_default();
    p.step_count = 200;
    tg_err err;
    assert_int_equal(tg_params_validate(&p, &err), TG_E_INVALID);
    assert_non_null(strstr(err.msg, "at most"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_valid_and_as_documented),
        cmocka_unit_test(step_count_checked_before_the_table),
        cmocka_unit_test(invalid_values_are_errors_never_defaults),
        cmocka_unit_test(every_name_is_settable),
        cmocka_unit_test(layers_apply_in_order),
        cmocka_unit_test(steps_pick_the_callback_for_the_peak),
        cmocka_unit_test(steps_need_percent_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
