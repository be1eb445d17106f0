/* The store while its disk fails, fills up or is locked by someone else:
 * the engine keeps trailing, the writer keeps everything queued and says
 * why each flush failed, and the first flush after recovery makes it all
 * durable — every row exactly as the engine holds it, the journal gap-free
 * and complete (or, with a queue too small, short by exactly the counted
 * drops). Failures are injected by a SQLite VFS (faultvfs.c); the engine is
 * the crash test's simulation (crash/crash_sim.c). */
#define _POSIX_C_SOURCE 200809L /* nanosleep, clock_gettime */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crash/crash_sim.h"
#include "faultvfs.h"
#include "store/codec.h"
#include "trailguard/writer.h"

#define POSITIONS    20    /* slots of the simulation */
#define ROWS_MAX     64    /* writer rows: the positions and those closed in an outage */
#define ENTRIES_MAX  65536 /* a queue large enough for any outage here */
#define SMALL_QUEUE  90    /* a queue that turn 0 (80 entries) fits and a long outage overflows */
#define WARMUP_TURNS 30    /* turns before the outage */
#define OUTAGE_TURNS 40    /* turns while the store fails */
#define LONG_OUTAGE  120   /* turns of an outage that overflows SMALL_QUEUE */
#define AFTER_TURNS  10    /* turns after recovery */
#define EXPECTED_MAX 20000 /* journal entries a run may stage */
#define CLOSED_MAX   512   /* positions a run may close */
#define COLUMNS_MAX  64    /* columns of trailing_stop */
#define BUSY_WAIT_MS 4000  /* a flush against a held lock waits at least this (sqlite.c: 5 s) */
#define HOLD_MS      300   /* a lock held this briefly is waited out, not reported */

typedef struct run {
    char path[512];                  /* the database file */
    crash_sim sim;                   /* the engine and its simulated exchange */
    tg_store *store;                 /* the store under test */
    tg_writer *writer;               /* its writer */
    tg_journal_entry *expected;      /* every entry staged, in order */
    size_t n_expected;               /* entries in expected */
    tg_store_row closed[CLOSED_MAX]; /* last state of each closed position */
    size_t n_closed;                 /* rows in closed */
} run;

static void ok(tg_status st, const tg_err *err) {
    if (st != TG_OK) {
        fail_msg("%s", err->msg);
    }
}

static void sink_row(void *ctx, const tg_store_row *row) {
    run *r = ctx;
    tg_err err = {0};
    ok(tg_writer_stage_row(r->writer, row, &err), &err);
    if (row->stop.state == TG_STATE_CLOSED) {
        assert_true(r->n_closed < CLOSED_MAX);
        r->closed[r->n_closed++] = *row;
    }
}

static void sink_out(void *ctx, const char *key, const tg_out *out, int64_t latency_us) {
    run *r = ctx;
    tg_writer_stage_out(r->writer, key, out, latency_us);
    assert_true(r->n_expected + CRASH_OUT_ENTRIES_MAX <= EXPECTED_MAX);
    r->n_expected += (size_t)crash_out_entries(key, out, latency_us, r->expected + r->n_expected);
}

static void remove_db(const char *path) {
    char side[600];
    remove(path);
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
}

static run *run_open(const char *name, uint32_t entries_max) {
    assert_int_equal(faultvfs_install(), SQLITE_OK);
    faultvfs_fail(0, 0, 0);
    run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->expected = calloc(EXPECTED_MAX, sizeof *r->expected);
    assert_non_null(r->expected);
    snprintf(r->path, sizeof r->path, "%s/faults-%s-%ld.db", TG_TEST_TMPDIR, name, (long)getpid());
    remove_db(r->path);
    tg_err err = {0};
    ok(crash_sim_init(&r->sim, 42, POSITIONS, &err), &err);
    ok(tg_store_open(r->path, CRASH_ACCOUNT, &r->store, &err), &err);
    ok(tg_writer_new(r->store, ROWS_MAX, entries_max, 0, &r->writer, &err), &err);
    return r;
}

static void run_close(run *r) {
    faultvfs_fail(0, 0, 0);
    tg_writer_free(r->writer);
    tg_store_close(r->store);
    crash_sim_free(&r->sim);
    remove_db(r->path);
    free(r->expected);
    free(r);
}

static void step(run *r) {
    crash_sink sink = {.row = sink_row, .out = sink_out, .ctx = r};
    crash_sim_step(&r->sim, &sink);
}

static tg_status flush(run *r, tg_err *err) {
    return tg_writer_flush(r->writer, r->sim.turn * CRASH_TURN_MS, err);
}

/* Turns that each commit. */
static void play(run *r, int turns) {
    for (int i = 0; i < turns; i++) {
        step(r);
        tg_err err = {0};
        ok(flush(r, &err), &err);
    }
}

/* ---- what the store must hold ---------------------------------------------- */

/* Every column but the version, which counts commits and so depends on how
 * many turns collapsed into one. */
static void assert_same_state(const tg_store_row *want, const tg_store_row *got) {
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

static bool check_row(void *ctx, const tg_store_row *got) {
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
static void assert_store_is_engine(run *r) {
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

static bool check_entry(void *ctx, const tg_journal_entry *e) {
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
static void assert_journal(run *r, size_t skip_from, size_t skip_to) {
    journal_read j = {.r = r, .next_seq = 1, .skip_from = skip_from, .skip_to = skip_to};
    if (skip_from == skip_to) {
        j.skip_from = j.skip_to = SIZE_MAX;
    }
    tg_err err = {0};
    ok(tg_store_journal(r->store, 0, check_entry, &j, &err), &err);
    assert_int_equal(j.index, r->n_expected);
    assert_int_equal(j.next_seq - 1, r->n_expected - (skip_to - skip_from));
}

/* ---- outages ---------------------------------------------------------------- */

typedef struct outage {
    const char *name;   /* for the database file */
    unsigned ops;       /* FAULT_* that fail */
    int rc;             /* with this code (0 = their own I/O error) */
    uint32_t after;     /* calls that succeed first */
    const char *phrase; /* what the error sentence must say */
} outage;

/* Sum of stop requests over the open positions. */
static uint64_t updates(const run *r) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < POSITIONS; i++) {
        n += r->sim.rows[i].stop.update_count;
    }
    return n;
}

/* One outage of `turns` turns with a writer queue of `queue` entries;
 * returns the index of the first entry staged during it. */
static size_t outage_turns(run *r, const outage *o, int turns, size_t queue) {
    size_t first = r->n_expected;
    tg_writer_stats before = tg_writer_get_stats(r->writer);
    uint64_t injected = faultvfs_injected(), set_stops = r->sim.set_stops, moves = updates(r);
    size_t closed = r->n_closed;
    faultvfs_fail(o->ops, o->rc, o->after);
    for (int t = 1; t <= turns; t++) {
        step(r);
        tg_err err = {0};
        assert_int_equal(flush(r, &err), TG_E_UNAVAILABLE);
        if (strstr(err.msg, r->path) == NULL || strstr(err.msg, o->phrase) == NULL) {
            fail_msg("the flush failed with '%s'; it should name %s and say '%s'", err.msg, r->path,
                     o->phrase);
        }
        tg_writer_stats ws = tg_writer_get_stats(r->writer);
        assert_int_equal(ws.flush_failures, before.flush_failures + (uint64_t)t);
        assert_int_equal(ws.flushes, before.flushes);
        size_t staged = r->n_expected - first;
        assert_int_equal(ws.pending_entries, staged < queue ? staged : queue);
        assert_int_equal(ws.entries_dropped - before.entries_dropped,
                         staged < queue ? 0 : staged - queue);
        assert_int_equal(ws.pending_rows, POSITIONS + (r->n_closed - closed));
    }
    tg_writer_stats ws = tg_writer_get_stats(r->writer);
    /* One pending row per position however many turns changed it. */
    assert_true(ws.rows_collapsed >= before.rows_collapsed + POSITIONS * (uint64_t)(turns - 1));
    assert_true(faultvfs_injected() >= injected + (uint64_t)turns);
    /* The engine went on trailing without the store. */
    assert_true(r->sim.set_stops > set_stops);
    assert_true(updates(r) > moves || r->sim.triggers > 0);
    faultvfs_fail(0, 0, 0);
    return first;
}

static void outage_then_recovery(const outage *o) {
    run *r = run_open(o->name, ENTRIES_MAX);
    play(r, WARMUP_TURNS);
    assert_store_is_engine(r);
    outage_turns(r, o, OUTAGE_TURNS, ENTRIES_MAX);
    tg_err err = {0};
    ok(flush(r, &err), &err); /* the store is back: one flush writes it all */
    tg_writer_stats ws = tg_writer_get_stats(r->writer);
    assert_int_equal(ws.pending_rows, 0);
    assert_int_equal(ws.pending_entries, 0);
    assert_int_equal(ws.entries_dropped, 0);
    assert_store_is_engine(r);
    assert_journal(r, 0, 0);
    play(r, AFTER_TURNS);
    assert_store_is_engine(r);
    assert_journal(r, 0, 0);
    run_close(r);
}

static void failed_writes(void **state) {
    (void)state;
    outage o = {"write", FAULT_WRITE, 0, 0, "disk I/O error"};
    outage_then_recovery(&o);
}

static void failed_syncs(void **state) {
    (void)state;
    outage o = {"sync", FAULT_SYNC, 0, 0, "disk I/O error"};
    outage_then_recovery(&o);
}

static void disk_full(void **state) {
    (void)state;
    outage o = {"full", FAULT_WRITE | FAULT_TRUNCATE, SQLITE_FULL, 0, "database or disk is full"};
    outage_then_recovery(&o);
}

/* The first failure comes after part of the commit reached the file. */
static void write_fails_mid_commit(void **state) {
    (void)state;
    outage o = {"midcommit", FAULT_WRITE | FAULT_SYNC, 0, 3, "disk I/O error"};
    outage_then_recovery(&o);
}

/* A queue too small for the outage drops its oldest entries, counts them,
 * and the rows — the state — are still exact. */
static void small_queue_drops_oldest_counts_them(void **state) {
    (void)state;
    run *r = run_open("smallqueue", SMALL_QUEUE);
    play(r, WARMUP_TURNS);
    outage o = {"smallqueue", FAULT_WRITE, 0, 0, "disk I/O error"};
    assert_int_equal(tg_writer_get_stats(r->writer).entries_dropped, 0);
    size_t first = outage_turns(r, &o, LONG_OUTAGE, SMALL_QUEUE);
    tg_writer_stats ws = tg_writer_get_stats(r->writer);
    assert_int_equal(ws.pending_entries, SMALL_QUEUE);
    assert_true(r->n_expected - first > SMALL_QUEUE);
    size_t dropped = r->n_expected - first - SMALL_QUEUE;
    assert_int_equal(ws.entries_dropped, dropped);
    tg_err err = {0};
    ok(flush(r, &err), &err);
    assert_store_is_engine(r);
    assert_journal(r, first, first + dropped); /* the newest SMALL_QUEUE survived */
    play(r, AFTER_TURNS);
    assert_store_is_engine(r);
    assert_journal(r, first, first + dropped);
    run_close(r);
}

/* The store cannot even be opened while the disk fails; it says why. */
static void store_down_at_start(void **state) {
    (void)state;
    assert_int_equal(faultvfs_install(), SQLITE_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/faults-start-%ld.db", TG_TEST_TMPDIR, (long)getpid());
    remove_db(path);
    faultvfs_fail(FAULT_WRITE, 0, 0);
    tg_store *s = NULL;
    tg_err err = {0};
    assert_int_equal(tg_store_open(path, CRASH_ACCOUNT, &s, &err), TG_E_UNAVAILABLE);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "disk I/O error"));
    faultvfs_fail(0, 0, 0);
    ok(tg_store_open(path, CRASH_ACCOUNT, &s, &err), &err);
    tg_store_close(s);
    remove_db(path);
}

/* ---- a database locked by another process -------------------------------- */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static sqlite3 *lock_db(const char *path) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static void unlock_db(sqlite3 *db) {
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

typedef struct holder {
    const char *path;  /* database to lock */
    atomic_int locked; /* 1 once the lock is held */
} holder;

static void *hold_briefly(void *arg) {
    holder *h = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open(h->path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK) {
        atomic_store(&h->locked, -1);
        sqlite3_close(db);
        return NULL;
    }
    atomic_store(&h->locked, 1);
    struct timespec hold = {0, HOLD_MS * 1000000L};
    nanosleep(&hold, NULL);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return NULL;
}

static void locked_database(void **state) {
    (void)state;
    run *r = run_open("locked", ENTRIES_MAX);
    play(r, 5);
    /* Held past the busy timeout: the flush gives up with a sentence. */
    sqlite3 *other = lock_db(r->path);
    step(r);
    tg_err err = {0};
    int64_t t0 = now_ms();
    assert_int_equal(flush(r, &err), TG_E_UNAVAILABLE);
    assert_true(now_ms() - t0 >= BUSY_WAIT_MS);
    assert_non_null(strstr(err.msg, "locked"));
    assert_non_null(strstr(err.msg, r->path));
    step(r); /* the engine goes on meanwhile */
    assert_int_equal(tg_writer_get_stats(r->writer).flush_failures, 1);
    unlock_db(other);
    ok(flush(r, &err), &err);
    assert_int_equal(tg_writer_get_stats(r->writer).pending_rows, 0);
    assert_store_is_engine(r);
    assert_journal(r, 0, 0);

    /* Held briefly: the flush waits for it and succeeds. */
    holder h = {.path = r->path};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, hold_briefly, &h), 0);
    while (atomic_load(&h.locked) == 0) {
        struct timespec tick = {0, 1000000L};
        nanosleep(&tick, NULL);
    }
    assert_int_equal(atomic_load(&h.locked), 1);
    step(r);
    t0 = now_ms();
    ok(flush(r, &err), &err);
    assert_true(now_ms() - t0 >= HOLD_MS / 2);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(tg_writer_get_stats(r->writer).flush_failures, 1);
    assert_store_is_engine(r);
    assert_journal(r, 0, 0);
    run_close(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failed_writes),
        cmocka_unit_test(failed_syncs),
        cmocka_unit_test(disk_full),
        cmocka_unit_test(write_fails_mid_commit),
        cmocka_unit_test(small_queue_drops_oldest_counts_them),
        cmocka_unit_test(store_down_at_start),
        cmocka_unit_test(locked_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
