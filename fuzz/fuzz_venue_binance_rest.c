/* Fuzzes every Binance REST response decoder with the same bytes: whatever
 * they accept must hold only sound entries (positive ticks, steps, sizes and
 * triggers; counts within the capacity given). */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "venue/wire.h"

#define CAP 8 /* entries per listing: small, so the capacity path is fuzzed too */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *body = (const char *)data;
    tg_err err;
    tg_wire_page page;
    tg_wire_status st;
    if (tg_bn_parse_error(body, size, &st)) {
        assert(st.code != 0 && strlen(st.msg) < sizeof st.msg);
        assert(tg_bn_map_error(400, st.code) != TG_VENUE_OK);
    }
    int64_t ms = 0;
    if (tg_bn_parse_time(body, size, &ms, &err) == TG_OK) {
        assert(ms > 0);
    }
    tg_venue_rules rules[CAP];
    if (tg_bn_parse_rules(body, size, rules, CAP, &page, &err) == TG_OK) {
        assert(page.count <= CAP);
        for (size_t i = 0; i < page.count; i++) {
            assert(tg_dec_is_pos(rules[i].tick) && tg_dec_is_pos(rules[i].step));
            assert(rules[i].symbol[0] != '\0');
        }
    } else {
        assert(err.msg[0] != '\0');
    }
    tg_venue_position pos[CAP];
    if (tg_bn_parse_positions(body, size, pos, CAP, &page, &err) == TG_OK) {
        for (size_t i = 0; i < page.count; i++) {
            assert(tg_dec_is_pos(pos[i].size) && pos[i].key[0] != '\0');
            assert(pos[i].position_idx >= 0 && pos[i].position_idx <= 2);
        }
    }
    tg_venue_stop stops[CAP];
    if (tg_bn_parse_algos(body, size, stops, CAP, &page, &err) == TG_OK) {
        for (size_t i = 0; i < page.count; i++) {
            assert(tg_dec_is_pos(stops[i].trigger) && !tg_dec_is_neg(stops[i].qty));
            assert(stops[i].state == TG_VSTOP_OPEN && stops[i].order_id[0] != '\0');
        }
    }
    tg_venue_stop one;
    if (tg_bn_parse_algo(body, size, &one, &err) == TG_OK) {
        assert(tg_dec_is_pos(one.trigger));
    }
    char key[128];
    if (tg_bn_parse_listen_key(body, size, key, sizeof key, &err) == TG_OK) {
        assert(key[0] != '\0');
    }
    return 0;
}
