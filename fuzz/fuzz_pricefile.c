/* Fuzzes the price-file parser, the one reader of outside bytes in replay:
 * anything it accepts must be a sound path that the engine can replay. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "replay/pricefile.h"
#include "replay/replay.h"
#include "replay/utc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t ms = 0;
    (void)tg_utc_parse((const char *)data, size < 64 ? size : 64, &ms);
    tg_pricefile pf;
    tg_err err;
    if (tg_pricefile_parse((const char *)data, size, &pf, NULL, &err) != TG_OK) {
        assert(err.msg[0] != '\0' && pf.points == NULL);
        return 0;
    }
    assert(pf.count == pf.rows * pf.walk_len && pf.count > 0);
    for (size_t i = 0; i < pf.count; i++) {
        assert(tg_dec_is_pos(pf.points[i].price));
        assert(i == 0 || pf.points[i].ts_ms >= pf.points[i - 1].ts_ms);
    }
    tg_replay_opts o = tg_replay_opts_default(tg_pricefile_tick(&pf), pf.walk_len);
    o.side = size % 2 == 0 ? TG_SIDE_LONG : TG_SIDE_SHORT;
    o.fill_latency_ms = (int64_t)(size % 3) * 1000;
    tg_replay_result r;
    if (tg_replay_run(pf.points, pf.count, &o, &r, &err) == TG_OK) {
        assert(r.wrong_side_stops == 0 && r.loosened_stops == 0);
        tg_replay_result_free(&r);
    }
    tg_pricefile_free(&pf);
    return 0;
}
