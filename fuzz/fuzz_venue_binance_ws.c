/* Fuzzes the Binance WebSocket frame decoder: every event it yields is
 * sound (a positive mark price, a position key, a positive trigger), and the
 * mark scanner's answer is the cJSON tree's (tg_bn_parse_ws_tree). */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "venue/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static tg_wire_frame f, tree; /* large: not on the stack */
    tg_err err, tree_err;
    tg_status st = tg_bn_parse_ws((const char *)data, size, &f, &err);
    tg_status tree_st = tg_bn_parse_ws_tree((const char *)data, size, &tree, &tree_err);
    assert(st == tree_st && f.count == tree.count);
    for (size_t i = 0; i < f.count; i++) {
        assert(f.events[i].kind == tree.events[i].kind);
        assert(f.events[i].ts_ms == tree.events[i].ts_ms);
        assert(strcmp(f.events[i].symbol, tree.events[i].symbol) == 0);
        assert(tg_dec_eq(f.events[i].mark, tree.events[i].mark));
    }
    if (st != TG_OK) {
        assert(err.msg[0] != '\0');
        return 0;
    }
    assert(f.count <= TG_WIRE_EVENTS_MAX);
    for (size_t i = 0; i < f.count; i++) {
        const tg_venue_event *ev = &f.events[i];
        switch (ev->kind) {
        case TG_VEV_MARK:
            assert(tg_dec_is_pos(ev->mark) && ev->symbol[0] != '\0');
            break;
        case TG_VEV_POSITION:
            assert(!tg_dec_is_neg(ev->position.size) && ev->position.key[0] != '\0');
            break;
        case TG_VEV_STOP:
            assert(tg_dec_is_pos(ev->stop.trigger) && ev->stop.symbol[0] != '\0');
            break;
        default:
            assert(0 && "decoder yields only mark, position and stop events");
        }
    }
    return 0;
}
