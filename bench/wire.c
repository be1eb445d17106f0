/*
 * bench/wire.c — decoding one Binance mark-price frame, the message a daemon
 * reads most: through the flat scanner tg_bn_parse_ws uses for it, and
 * through the cJSON tree (tg_bn_parse_ws_tree) every other frame takes. The
 * frame is the emulator's, in the combined-stream form the daemon
 * subscribes to. RUNS runs of --frames decodes each; medians.
 *
 * Last line: bn_mark_ns=X bn_mark_tree_ns=Y tree_over_scanner=R
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "venue/wire.h"

#define FRAMES_DEFAULT 1000000
#define RUNS           5

static const char FRAME[] =
    "{\"stream\":\"btcusdt@markPrice\",\"data\":{\"e\":\"markPriceUpdate\",\"E\":1764650000123,"
    "\"s\":\"BTCUSDT\",\"p\":\"91234.56000000\",\"i\":\"91234.56000000\",\"P\":"
    "\"91234.56000000\",\"r\":\"0.00010000\",\"T\":1764662400000}}";

typedef tg_status (*decode_fn)(const char *, size_t, tg_wire_frame *, tg_err *);

static double ns_per_frame(decode_fn fn, size_t frames) {
    static tg_wire_frame f; /* large: not on the stack */
    tg_err err;
    double t0 = bench_now_s();
    for (size_t i = 0; i < frames; i++) {
        if (fn(FRAME, sizeof FRAME - 1, &f, &err) != TG_OK || f.count != 1) {
            fprintf(stderr, "bench/wire: the frame did not decode: %s\n", err.msg);
            exit(1);
        }
    }
    return (bench_now_s() - t0) * 1e9 / (double)frames;
}

int main(int argc, char **argv) {
    size_t frames = FRAMES_DEFAULT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            frames = (size_t)strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: wire [--frames N]\n");
            return 2;
        }
    }
    if (frames == 0) {
        fprintf(stderr, "bench/wire: --frames must be at least 1\n");
        return 2;
    }
    double fast[RUNS], tree[RUNS];
    for (int r = 0; r < RUNS; r++) {
        fast[r] = ns_per_frame(tg_bn_parse_ws, frames);
        tree[r] = ns_per_frame(tg_bn_parse_ws_tree, frames);
    }
    double f = bench_median(fast, RUNS), t = bench_median(tree, RUNS);
    printf("frames=%zu runs=%d bytes=%zu\n", frames, RUNS, sizeof FRAME - 1);
    printf("bn_mark_ns=%.0f bn_mark_tree_ns=%.0f tree_over_scanner=%.1f\n", f, t, t / f);
    return 0;
}
