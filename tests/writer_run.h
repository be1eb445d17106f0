/*
 * writer_run.h — the engine (the crash test's simulation, crash/crash_sim.c)
 * writing through a tg_writer into a store, and the checks that nothing was
 * lost: every row exactly as the engine holds it, the journal gap-free and
 * complete. Shared by the fault tests of both backends (test_store_faults.c
 * for SQLite, test_store_postgres.c).
 */
#ifndef TG_TEST_WRITER_RUN_H
#define TG_TEST_WRITER_RUN_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash/crash_sim.h"
#include "store/codec.h"
#include "trailguard/writer.h"

#define POSITIONS    20    /* slots of the simulation */
#define ROWS_MAX     64    /* writer rows: the positions and those closed in an outage */
#define EXPECTED_MAX 20000 /* journal entries a run may stage */
#define CLOSED_MAX   512   /* positions a run may close */
#define COLUMNS_MAX  64    /* columns of trailing_stop */

typedef struct run {
    char path[1024];                 /* the store's URI (a file for SQLite) */
    crash_sim sim;                   /* the engine and its simulated exchange */
    tg_store *store;                 /* the store under test */
    tg_writer *writer;               /* its writer */
    tg_journal_entry *expected;      /* every entry staged, in order */
    size_t n_expected;               /* entries in expected */
    tg_store_row closed[CLOSED_MAX]; /* last state of each closed position */
    size_t n_closed;                 /* rows in closed */
} run;

static inline void ok(tg_status st, const tg_err *err) {
    if (st != TG_OK) {
        fail_msg("%s", err->msg);
    }
}

static inline void sink_row(void *ctx, const tg_store_row *row) {
    run *r = ctx;
    tg_err err = {0};
    ok(tg_writer_stage_row(r->writer, row, &err), &err);
    if (row->stop.state == TG_STATE_CLOSED) {
        assert_true(r->n_closed < CLOSED_MAX);
        r->closed[r->n_closed++] = *row;
    }
}

static inline void sink_out(void *ctx, const char *key, const tg_out *out, int64_t latency_us) {
    run *r = ctx;
    tg_writer_stage_out(r->writer, key, out, latency_us);
    assert_true(r->n_expected + CRASH_OUT_ENTRIES_MAX <= EXPECTED_MAX);
    r->n_expected += (size_t)crash_out_entries(key, out, latency_us, r->expected + r->n_expected);
}

/* A run of the simulation (seed 42) writing to the store at uri. */
static inline run *run_start(const char *uri, uint32_t entries_max) {
    run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->expected = calloc(EXPECTED_MAX, sizeof *r->expected);
    assert_non_null(r->expected);
    snprintf(r->path, sizeof r->path, "%s", uri);
    tg_err err = {0};
    ok(crash_sim_init(&r->sim, 42, POSITIONS, &err), &err);
    ok(tg_store_open(r->path, CRASH_ACCOUNT, &r->store, &err), &err);
    ok(tg_writer_new(r->store, ROWS_MAX, entries_max, 0, &r->writer, &err), &err);
    return r;
}

static inline void run_end(run *r) {
    tg_writer_free(r->writer);
    tg_store_close(r->store);
    crash_sim_free(&r->sim);
    free(r->expected);
    free(r);
}

static inline void step(run *r) {
    crash_sink sink = {.row = sink_row, .out = sink_out, .ctx = r};
    crash_sim_step(&r->sim, &sink);
}

static inline tg_status flush(run *r, tg_err *err) {
    return tg_writer_flush(r->writer, r->sim.turn * CRASH_TURN_MS, err);
}

/* Turns that each commit. */
static inline void play(run *r, int turns) {
    for (int i = 0; i < turns; i++) {
        step(r);
        tg_err err = {0};
        ok(flush(r, &err), &err);
    }
}

/* ---- what the store must hold ---------------------------------------------- */

/* Every column but the version, which counts commits and so depends on how
 * many turns collapsed into one. */
static inline void assert_same_state(const tg_store_row *want, const tg_store_row *got) {
    static tg_col_value va[COLUMNS_MAX], vb[COLUMNS_MAX];
    tg_codec_encode(want, va);
    tg_codec_encode(got, vb);
    int version = tg_codec_column_index("version");
    for (int i = 0; i < tg_codec_column_count(); i++) {
        if (i != version && (va[i].null != vb[i].null || va[i].i != vb[i].i ||
                             strcmp(va[i].text, vb[i].text) != 0)) {
            fail_msg("%s: column %s is '%s'/%" PRId64 " in the store, '%s'/%" PRId64
                     " in the engine",
                     got->position_key, tg_codec_column(i)->name, vb[i].text, vb[i].i, va[i].text,
                     va[i].i);
        }
    }
}

typedef struct loaded {
    run *r;      /* the run */
    size_t rows; /* rows seen */
} loaded;

static inline bool check_row(void *ctx, const tg_store_row *got) {
    loaded *l = ctx;
    run *r = l->r;
    l->rows++;
    const tg_store_row *want = NULL;
    for (size_t i = 0; i < r->n_closed && want == NULL; i++) {
        if (strcmp(r->closed[i].position_key, got->position_key) == 0) {
            want = &r->closed[i];
        }
    }
    uint32_t slot = 0, gen = 0;
    if (want == NULL && crash_key_parse(got->position_key, &slot, &gen) && slot < POSITIONS &&
        strcmp(r->sim.rows[slot].position_key, got->position_key) == 0) {
        want = &r->sim.rows[slot];
        assert_int_equal(got->version, tg_writer_version(r->writer, got->position_key));
    }
    if (want == NULL) {
        fail_msg("the store holds %s, which the engine does not know", got->position_key);
    }
    assert_same_state(want, got);
    assert_true(got->version > 0);
    return true;
}

/* Nothing lost: every position, open or closed, is in the store exactly as
 * the engine holds it. */
static inline void assert_store_is_engine(run *r) {
    loaded l = {.r = r};
    tg_err err = {0};
    ok(tg_store_load(r->store, true, check_row, &l, &err), &err);
    assert_int_equal(l.rows, POSITIONS + r->n_closed);
}

typedef struct journal_read {
    const run *r;     /* the run */
    int64_t next_seq; /* the seq the next entry must have */
    size_t index;     /* into r->expected */
    size_t skip_from; /* expected entries [skip_from, skip_to) were dropped */
    size_t skip_to;   /* (by the writer's bounded queue) */
} journal_read;

static inline bool check_entry(void *ctx, const tg_journal_entry *e) {
    journal_read *j = ctx;
    assert_int_equal(e->seq, j->next_seq); /* gap-free */
    j->next_seq++;
    if (j->index == j->skip_from) {
        j->index = j->skip_to;
    }
    assert_true(j->index < j->r->n_expected);
    if (!crash_entry_same(&j->r->expected[j->index], e)) {
        fail_msg("journal entry %" PRId64 " (%s) is not the engine's entry %zu", e->seq,
                 e->position_key, j->index);
    }
    j->index++;
    return true;
}

/* The journal is 1..N and holds every staged entry in order, except the
 * range [skip_from, skip_to) that the writer dropped. */
static inline void assert_journal(run *r, size_t skip_from, size_t skip_to) {
    journal_read j = {.r = r, .next_seq = 1, .skip_from = skip_from, .skip_to = skip_to};
    if (skip_from == skip_to) {
        j.skip_from = j.skip_to = SIZE_MAX;
    }
    tg_err err = {0};
    ok(tg_store_journal(r->store, 0, check_entry, &j, &err), &err);
    assert_int_equal(j.index, r->n_expected);
    assert_int_equal(j.next_seq - 1, r->n_expected - (skip_to - skip_from));
}

/* Sum of stop requests over the open positions. */
static inline uint64_t updates(const run *r) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < POSITIONS; i++) {
        n += r->sim.rows[i].stop.update_count;
    }
    return n;
}

#endif
