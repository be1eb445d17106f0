/*
 * crash_worker — the process the crash test kills.
 *
 *   crash_worker --db PATH --seed S --positions P [--turns N] [--report-fd FD]
 *
 * Opens the SQLite store, rebuilds the simulation exactly from the stored
 * rows, and plays turn after turn, one tg_writer_flush (one transaction) per
 * turn, until it is killed or has played turn N. After every successful
 * flush it writes the turn number (an int64_t) to FD, so the checker knows
 * which turns were committed before the kill. Exits 0 at turn N, 1 on a
 * usage error, 2 on a store or restore failure.
 */
#define _POSIX_C_SOURCE 200809L /* write */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash/crash_sim.h"
#include "trailguard/writer.h"

#define ENTRIES_MAX (1u << 16) /* journal entries one turn may queue */

typedef struct options {
    const char *db;     /* store path */
    uint64_t seed;      /* simulation seed */
    uint32_t positions; /* slots */
    int64_t turns;      /* last turn to play; −1 = until killed */
    int report_fd;      /* committed turns go here; −1 = nowhere */
} options;

static int usage(const char *why) {
    fprintf(stderr,
            "crash_worker: %s\nusage: crash_worker --db PATH --seed S --positions P "
            "[--turns N] [--report-fd FD]\n",
            why);
    return 1;
}

static bool parse_u64(const char *text, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
        return false;
    }
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, options *o) {
    *o = (options){.turns = -1, .report_fd = -1};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            return usage("every option takes a value");
        }
        const char *name = argv[i], *value = argv[i + 1];
        uint64_t v = 0;
        bool num = parse_u64(value, &v);
        if (strcmp(name, "--db") == 0) {
            o->db = value;
        } else if (strcmp(name, "--seed") == 0 && num) {
            o->seed = v;
        } else if (strcmp(name, "--positions") == 0 && num && v <= CRASH_POSITIONS_MAX) {
            o->positions = (uint32_t)v;
        } else if (strcmp(name, "--turns") == 0 && num && v < INT64_MAX) {
            o->turns = (int64_t)v;
        } else if (strcmp(name, "--report-fd") == 0 && num && v < 1024) {
            o->report_fd = (int)v;
        } else {
            return usage("unknown option or bad value");
        }
    }
    return o->db != NULL && o->positions > 0 ? 0 : usage("--db and --positions are required");
}

typedef struct worker {
    tg_writer *writer; /* where each turn goes */
    tg_err err;        /* first staging failure */
    bool failed;       /* a row could not be staged */
} worker;

static void stage_row(void *ctx, const tg_store_row *row) {
    worker *w = ctx;
    if (!w->failed && tg_writer_stage_row(w->writer, row, &w->err) != TG_OK) {
        w->failed = true;
    }
}

static void stage_out(void *ctx, const char *key, const tg_out *out, int64_t latency_us) {
    worker *w = ctx;
    tg_writer_stage_out(w->writer, key, out, latency_us);
}

static bool restore_row(void *ctx, const tg_store_row *row) {
    crash_sim *sim = ctx;
    tg_err err = {0};
    if (crash_sim_restore_row(sim, row, &err) != TG_OK) {
        fprintf(stderr, "crash_worker: %s\n", err.msg);
        exit(2);
    }
    return true;
}

static void report(int fd, int64_t turn) {
    if (fd < 0) {
        return;
    }
    const char *p = (const char *)&turn;
    size_t left = sizeof turn;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* the checker went away: keep going until killed */
        }
        p += n;
        left -= (size_t)n;
    }
}

static int fail(const char *what, const tg_err *err) {
    fprintf(stderr, "crash_worker: %s: %s\n", what, err->msg);
    return 2;
}

int main(int argc, char **argv) {
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc;
    }
    tg_err err = {0};
    crash_sim sim;
    if (crash_sim_init(&sim, o.seed, o.positions, &err) != TG_OK) {
        return fail("init", &err);
    }
    tg_store *store = NULL;
    if (tg_store_open(o.db, CRASH_ACCOUNT, &store, &err) != TG_OK) {
        return fail("opening the store", &err);
    }
    if (tg_store_load(store, false, restore_row, &sim, &err) != TG_OK ||
        crash_sim_restore_end(&sim, &err) != TG_OK) {
        return fail("restoring", &err);
    }
    worker w = {0};
    if (tg_writer_new(store, 2 * o.positions + 8, ENTRIES_MAX, 0, &w.writer, &err) != TG_OK) {
        return fail("creating the writer", &err);
    }
    crash_sink sink = {.row = stage_row, .out = stage_out, .ctx = &w};
    while (o.turns < 0 || sim.turn < o.turns) {
        crash_sim_step(&sim, &sink);
        if (w.failed) {
            return fail("staging", &w.err);
        }
        if (tg_writer_flush(w.writer, sim.turn * CRASH_TURN_MS, &err) != TG_OK) {
            return fail("flushing", &err);
        }
        report(o.report_fd, sim.turn);
    }
    tg_writer_free(w.writer);
    tg_store_close(store);
    crash_sim_free(&sim);
    return 0;
}
