/* trailguard genpath — the seeded synthetic price path, as a ticks CSV. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "replay/genpath.h"

static const char genpath_usage[] =
    "usage: trailguard genpath [--seed N] [--output FILE]\n"
    "\n"
    "Writes the synthetic price path described in docs/replay.md as a ticks CSV\n"
    "(timestamp_ms,price): a chop, a rally that activates the trailing stop and\n"
    "a pullback that triggers it. The same seed gives the same file everywhere.\n"
    "\n"
    "  --seed N        seed of the path, 0..18446744073709551615 (default 1)\n"
    "  --output FILE   where to write (default: standard output)\n";

static bool parse_seed(const char *text, uint64_t *out) {
    assert(text != NULL && out != NULL);
    uint64_t v = 0;
    size_t n = strlen(text);
    if (n == 0 || n > 20) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(text[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static int write_path(FILE *f, const tg_pricepoint *pts, size_t n) {
    assert(f != NULL && pts != NULL);
    assert(n <= (size_t)TG_GENPATH_POINTS_MAX);
    fputs("timestamp_ms,price\n", f);
    for (size_t i = 0; i < n; i++) {
        char price[TG_DEC_STR_MAX];
        tg_dec_format(pts[i].price, TG_GENPATH_DP, price);
        fprintf(f, "%lld,%s\n", (long long)pts[i].ts_ms, price);
    }
    return ferror(f) ? -1 : 0;
}

int tg_cli_genpath(int argc, char **argv) {
    assert(argc >= 1 && argv != NULL && argv[argc] == NULL);
    uint64_t seed = 1;
    const char *output = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(genpath_usage, stdout);
            return TG_EXIT_OK;
        }
        bool is_seed = strcmp(a, "--seed") == 0, is_output = strcmp(a, "--output") == 0;
        if (!is_seed && !is_output) {
            tg_cli_error("genpath: unknown option '%s' (see trailguard genpath --help)", a);
            return TG_EXIT_USAGE;
        }
        if (i + 1 >= argc) {
            tg_cli_error("genpath: %s needs a value", a);
            return TG_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (is_seed && !parse_seed(v, &seed)) {
            tg_cli_error("genpath: --seed: '%s' is not a whole number 0..18446744073709551615", v);
            return TG_EXIT_USAGE;
        }
        if (is_output) {
            output = v;
        }
    }
    tg_pricepoint *pts = malloc((size_t)TG_GENPATH_POINTS_MAX * sizeof *pts);
    if (pts == NULL) {
        tg_cli_error("genpath: out of memory");
        return TG_EXIT_FAILURE;
    }
    size_t n = tg_genpath_generate(seed, pts, (size_t)TG_GENPATH_POINTS_MAX);
    assert(n > 0 && n <= (size_t)TG_GENPATH_POINTS_MAX);
    FILE *f = output != NULL ? fopen(output, "w") : stdout;
    if (f == NULL) {
        tg_cli_error("genpath: cannot create %s: %s", output, strerror(errno));
        free(pts);
        return TG_EXIT_USAGE;
    }
    int rc = write_path(f, pts, n);
    if ((output != NULL ? fclose(f) : fflush(f)) != 0) {
        rc = -1;
    }
    free(pts);
    if (rc != 0) {
        tg_cli_error("genpath: writing %s failed", output != NULL ? output : "standard output");
        return TG_EXIT_FAILURE;
    }
    return TG_EXIT_OK;
}
