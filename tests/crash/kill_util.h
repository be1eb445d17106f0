/*
 * kill_util.h — what the two kill tests (crash_test, daemon_kill_test)
 * share: the monotonic clock, the seeded random lives and pauses, and the
 * command line they have in common:
 *
 *   --kills N --seed S --dir DIR --min-ms A --max-ms B --keep
 *
 * Each program parses its own options through a callback and prints its
 * own usage line.
 */
#ifndef TG_TEST_KILL_UTIL_H
#define TG_TEST_KILL_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The options both tests take. */
typedef struct kill_options {
    uint32_t kills;  /* rounds */
    uint64_t seed;   /* the run's seed */
    const char *dir; /* where the run's files go */
    int64_t min_ms;  /* shortest life of the killed process */
    int64_t max_ms;  /* longest */
    bool keep;       /* leave the files behind */
} kill_options;

static inline int64_t kill_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: the next number of the sequence state seeds. */
static inline uint64_t kill_random(uint64_t *state) {
    uint64_t x = (*state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A seeded random lo..hi, both included. */
static inline int64_t kill_random_range(uint64_t *state, int64_t lo, int64_t hi) {
    return lo + (int64_t)(kill_random(state) % (uint64_t)(hi - lo + 1));
}

/* A decimal 0..max, nothing else around it. */
static inline bool kill_number(const char *text, uint64_t max, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* The program's own option NAME VALUE: true when it took it. */
typedef bool (*kill_option_fn)(void *ctx, const char *name, const char *value);

/* Parses argv into o (which holds the defaults) and, through own, the
 * program's options; kills_max bounds --kills. Returns 0, or usage's
 * answer to what was wrong. */
static inline int kill_parse_args(int argc, char **argv, kill_options *o, uint64_t kills_max,
                                  kill_option_fn own, void *ctx, int (*usage)(const char *why)) {
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--keep") == 0) {
            o->keep = true;
            continue;
        }
        if (i + 1 >= argc) {
            return usage("every option but --keep takes a value");
        }
        const char *value = argv[++i];
        uint64_t v = 0;
        if (strcmp(name, "--dir") == 0) {
            o->dir = value;
        } else if (strcmp(name, "--kills") == 0 && kill_number(value, kills_max, &v) && v > 0) {
            o->kills = (uint32_t)v;
        } else if (strcmp(name, "--seed") == 0 && kill_number(value, UINT64_MAX, &v)) {
            o->seed = v;
        } else if (strcmp(name, "--min-ms") == 0 && kill_number(value, 60000, &v)) {
            o->min_ms = (int64_t)v;
        } else if (strcmp(name, "--max-ms") == 0 && kill_number(value, 60000, &v)) {
            o->max_ms = (int64_t)v;
        } else if (!own(ctx, name, value)) {
            return usage("unknown option or bad value");
        }
    }
    return o->min_ms <= o->max_ms ? 0 : usage("--min-ms must not exceed --max-ms");
}

#endif
