/* Fuzzes the Binance WebSocket frame decoder: every event it yields is
 * sound (a positive mark price, a position key, a positive trigger). */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "venue/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static tg_wire_frame f; /* large: not on the stack */
    tg_err err;
    if (tg_bn_parse_ws((const char *)data, size, &f, &err) != TG_OK) {
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
