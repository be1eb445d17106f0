/*
 * replay/genpath.h — a seeded, synthetic price path for demos and tests.
 *
 * The path is ticks of a made-up perpetual, starting at 50000.00 on
 * 2022-01-01T00:00:00Z, one tick every 0.5 to 1.5 s (about 6,600 ticks over
 * 1 h 50 min). Its price is a fixed trend plus bounded noise:
 *
 *   trend   piecewise linear through these knots (time, change from the start):
 *             0:00 +0.00 %   chop around the entry
 *            10:00 +0.10 %
 *            25:00 +1.20 %   first push, short of the 1.5 % activation
 *            35:00 +0.70 %   dip
 *            60:00 +3.30 %   rally: crosses +1.5 % and trailing starts
 *            65:00 +3.00 %   shallow dip of ~0.3 %, inside the 0.5 % callback
 *            80:00 +4.50 %   second leg: the stop keeps climbing
 *            95:00 +1.80 %   pullback: the trailing stop triggers on the way
 *           110:00 +1.20 %   the rest, after the exit
 *   noise   an AR(1) walk in cents, n ← n − n/16 + U[−6.00, +6.00], which
 *           stays within a few tens of dollars: far smaller than the 0.5 %
 *           (≈ 260) callback, so with the default parameters every seed
 *           activates, trails and triggers, while the detail of the path
 *           (and so the exact exit) depends on the seed.
 *
 * Randomness is splitmix64 seeded with the given seed: the same seed gives
 * the same path on every machine. No floating point is involved.
 */
#ifndef TRAILGUARD_REPLAY_GENPATH_H
#define TRAILGUARD_REPLAY_GENPATH_H

#include <stddef.h>
#include <stdint.h>

#include "replay/pricefile.h"

#define TG_GENPATH_START_MS    1640995200000LL /* 2022-01-01T00:00:00Z */
#define TG_GENPATH_DURATION_MS 6600000LL       /* 1 h 50 min */
#define TG_GENPATH_STEP_MS_MIN 500             /* least time between two ticks, ms */
#define TG_GENPATH_STEP_MS_MAX 1500            /* most time between two ticks, ms */
#define TG_GENPATH_POINTS_MAX  (TG_GENPATH_DURATION_MS / TG_GENPATH_STEP_MS_MIN + 1)
#define TG_GENPATH_DP          2 /* decimal places of every price (tick 0.01) */

/* Fills out (room for cap ≥ TG_GENPATH_POINTS_MAX points) with the path for
 * seed and returns the number of points. */
size_t tg_genpath_generate(uint64_t seed, tg_pricepoint *out, size_t cap);

#endif
