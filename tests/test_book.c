/* The book: routing ticks by symbol, counting unknown symbols, fixed
 * capacity, slot reuse, memory per position. */
#include "engine_harness.h"

#include "trailguard/book.h"

typedef struct seen {
    int outputs;   /* sink calls */
    int set_stops; /* SET_STOP commands */
    uint32_t last; /* position of the last sink call */
} seen;

static void count_sink(void *ctx, const tg_stop *stop, const tg_out *out) {
    seen *s = ctx;
    s->outputs++;
    s->last = stop->id;
    for (int i = 0; i < out->n_cmds; i++) {
        s->set_stops += out->cmds[i].type == TG_CMD_SET_STOP;
    }
}

static tg_open long_at(const char *entry) {
    tg_open o = {.side = TG_SIDE_LONG,
                 .entry = D(entry),
                 .quantity = D("1"),
                 .tick = D("0.01"),
                 .ts_ms = 0,
                 .params = tg_params_default()};
    return o;
}

static void ticks_reach_only_their_symbol(void **state) {
    (void)state;
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(8, 4, &b, &err), TG_OK);
    tg_out out = {0};
    uint32_t btc = 0, eth = 0;
    tg_open o = long_at("50000");
    assert_int_equal(tg_book_open(b, "BTCUSDT", &o, &btc, &out, &err), TG_OK);
    o = long_at("3000");
    assert_int_equal(tg_book_open(b, "ETHUSDT", &o, &eth, &out, &err), TG_OK);
    assert_int_not_equal(btc, eth);
    assert_int_equal(tg_book_get(b, eth)->id, eth);

    seen s = {0};
    tg_book_tick_name(b, "BTCUSDT", 1000, D("51500"), count_sink, &s);
    assert_int_equal(s.outputs, 1);
    assert_int_equal(s.last, btc);
    assert_int_equal(s.set_stops, 1);
    assert_int_equal(tg_book_get(b, btc)->state, TG_STATE_ACTIVE);
    assert_int_equal(tg_book_get(b, eth)->state, TG_STATE_INACTIVE);

    tg_book_tick_name(b, "SOLUSDT", 1000, D("100"), count_sink, &s);
    tg_book_stats st = tg_book_get_stats(b);
    assert_int_equal(st.ticks, 2);
    assert_int_equal(st.unknown_symbol_ticks, 1);
    assert_int_equal(st.open_positions, 2);
    tg_book_free(b);
}

static void capacity_and_slot_reuse(void **state) {
    (void)state;
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(2, 2, &b, &err), TG_OK);
    tg_out out = {0};
    uint32_t a = 0, c = 0, d = 0;
    tg_open o = long_at("100");
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &a, &out, &err), TG_OK);
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &c, &out, &err), TG_OK);
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &d, &out, &err), TG_E_CAPACITY);
    assert_non_null(strstr(err.msg, "full"));
    assert_int_equal(tg_book_open(b, "THIS_SYMBOL_NAME_IS_FAR_TOO_LONG", &o, &d, &out, &err),
                     TG_E_CAPACITY);

    out.n_cmds = out.n_events = 0;
    tg_book_close(b, a, 5, D("100"), TG_R_EXTERNAL, &out);
    assert_null(tg_book_get(b, a));
    assert_int_equal(tg_book_get_stats(b).open_positions, 1);
    assert_int_equal(tg_book_open(b, "BUSDT", &o, &d, &out, &err), TG_OK);
    assert_int_equal(d, a); /* the freed slot is reused */

    seen s = {0};
    tg_book_tick_name(b, "AUSDT", 10, D("102"), count_sink, &s);
    assert_int_equal(s.outputs, 1); /* only the one still open on AUSDT */
    assert_int_equal(s.last, c);
    assert_int_equal(tg_book_open(b, "CUSDT", &o, &d, &out, &err), TG_E_CAPACITY);
    tg_book_free(b);
}

static void invalid_open_leaves_book_unchanged(void **state) {
    (void)state;
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(1, 1, &b, &err), TG_OK);
    tg_out out = {0};
    tg_open o = long_at("100");
    o.params.callback = D("0");
    uint32_t id = 0;
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &id, &out, &err), TG_E_INVALID);
    assert_int_equal(tg_book_get_stats(b).open_positions, 0);
    o.params = tg_params_default();
    assert_int_equal(tg_book_open(b, "AUSDT", &o, &id, &out, &err), TG_OK);
    tg_book_free(b);
}

/* A confirmation through the book moves the symbol's fast path with it: the
 * next tick that must move the stop again is evaluated, not dismissed. */
static void answers_through_the_book(void **state) {
    (void)state;
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(4, 2, &b, &err), TG_OK);
    tg_out out = {0};
    uint32_t id = 0;
    tg_open o = long_at("50000");
    o.params.min_update_interval_ms = 0;
    assert_int_equal(tg_book_open(b, "BTCUSDT", &o, &id, &out, &err), TG_OK);
    uint32_t sym = tg_book_symbol_find(b, "BTCUSDT");
    seen s = {0};
    tg_book_tick(b, sym, 1000, D("51500"), count_sink, &s); /* activates: stop 51242.50 */
    assert_int_equal(s.set_stops, 1);
    memset(&out, 0, sizeof out);
    tg_book_confirmed(b, id, 1100, D("51242.50"), &out);
    assert_true(tg_dec_eq(tg_book_get(b, id)->stop_confirmed, D("51242.50")));
    tg_book_tick(b, sym, 2000, D("51400"), count_sink, &s); /* below the high: nothing */
    assert_int_equal(s.set_stops, 1);
    tg_book_tick(b, sym, 3000, D("52000"), count_sink, &s); /* new high: stop 51740 */
    assert_int_equal(s.set_stops, 2);
    memset(&out, 0, sizeof out);
    tg_book_rejected(b, id, 3100, D("51740"), TG_REJECT_OTHER, &out);
    memset(&out, 0, sizeof out);
    tg_book_triggered(b, id, 4000, D("51242.50"), &out);
    assert_int_equal(tg_book_get(b, id)->state, TG_STATE_TRIGGERED);
    memset(&out, 0, sizeof out);
    tg_book_confirmed(b, 3, 5000, D("1"), &out); /* not in use: ignored */
    assert_int_equal(out.n_events + out.n_cmds, 0);
    tg_book_free(b);
}

static void memory_per_position_within_budget(void **state) {
    (void)state;
    tg_book *b = NULL;
    tg_err err = {0};
    assert_int_equal(tg_book_new(10000, 500, &b, &err), TG_OK);
    size_t bytes = tg_book_bytes_per_position(b);
    printf("bytes per position: %zu (tg_stop %zu)\n", bytes, sizeof(tg_stop));
    assert_true(bytes <= 512);
    tg_book_free(b);
    assert_int_equal(tg_book_new(0, 1, &b, &err), TG_E_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ticks_reach_only_their_symbol),
        cmocka_unit_test(capacity_and_slot_reuse),
        cmocka_unit_test(invalid_open_leaves_book_unchanged),
        cmocka_unit_test(answers_through_the_book),
        cmocka_unit_test(memory_per_position_within_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
