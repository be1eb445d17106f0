#include "replay/genpath.h"

#include <assert.h>

__extension__ typedef __int128 i128;

#define CENT_UNITS       (TG_DEC_SCALE / 100)
#define START_UNITS      (50000 * TG_DEC_SCALE)
#define NOISE_STEP_CENTS 600 /* each tick moves the noise by at most this */
#define NOISE_DECAY      16  /* the noise loses 1/NOISE_DECAY of itself per tick */

/* A knot of the trend: at this time, this change from the start. */
typedef struct knot {
    int64_t ms; /* since the start of the path */
    int64_t bp; /* change from the start price, basis points (1/100 %) */
} knot;

static const knot knots[] = {
    {0, 0},         {600000, 10},   {1500000, 120}, {2100000, 70},  {3600000, 330},
    {3900000, 300}, {4800000, 450}, {5700000, 180}, {6600000, 120},
};

#define KNOT_COUNT (sizeof knots / sizeof knots[0])

static uint64_t splitmix64(uint64_t *state) {
    assert(state != NULL);
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The trend at time t (ms since the start), in 1e-8 units, exact then cut
 * to the cent. */
static int64_t trend_units(int64_t t) {
    assert(t >= 0 && t <= TG_GENPATH_DURATION_MS);
    size_t k = 1;
    while (k + 1 < KNOT_COUNT && knots[k].ms < t) {
        k++;
    }
    const knot *a = &knots[k - 1], *b = &knots[k];
    i128 span = b->ms - a->ms;
    /* bp(t) × span = a.bp × span + (b.bp − a.bp) × (t − a.ms) */
    i128 bp_scaled = (i128)a->bp * span + (i128)(b->bp - a->bp) * (t - a->ms);
    i128 delta = (i128)START_UNITS * bp_scaled / (10000 * span);
    assert(k >= 1 && k < KNOT_COUNT && a->ms <= t && t <= b->ms);
    int64_t units = START_UNITS + (int64_t)delta;
    assert(units > 0);
    return units - units % CENT_UNITS;
}

size_t tg_genpath_generate(uint64_t seed, tg_pricepoint *out, size_t cap) {
    assert(out != NULL);
    assert(cap >= (size_t)TG_GENPATH_POINTS_MAX);
    uint64_t state = seed;
    int64_t noise_cents = 0;
    size_t n = 0;
    for (int64_t t = 0; t <= TG_GENPATH_DURATION_MS && n < cap; n++) {
        int64_t units = trend_units(t) + noise_cents * CENT_UNITS;
        out[n].ts_ms = TG_GENPATH_START_MS + t;
        out[n].price = tg_dec_from_units(units > CENT_UNITS ? units : CENT_UNITS);
        assert(tg_dec_is_pos(out[n].price) && out[n].price.units % CENT_UNITS == 0);
        int64_t step =
            (int64_t)(splitmix64(&state) % (2 * NOISE_STEP_CENTS + 1)) - NOISE_STEP_CENTS;
        noise_cents += step - noise_cents / NOISE_DECAY;
        t += TG_GENPATH_STEP_MS_MIN +
             (int64_t)(splitmix64(&state) % (TG_GENPATH_STEP_MS_MAX - TG_GENPATH_STEP_MS_MIN + 1));
    }
    assert(n > 0 && n <= (size_t)TG_GENPATH_POINTS_MAX);
    return n;
}
