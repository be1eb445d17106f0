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

#include "faultvfs.h"
#include "writer_run.h"

#define ENTRIES_MAX  65536 /* a queue large enough for any outage here */
#define SMALL_QUEUE  90    /* a queue that turn 0 (80 entries) fits and a long outage overflows */
#define WARMUP_TURNS 30    /* turns before the outage */
#define OUTAGE_TURNS 40    /* turns while the store fails */
#define LONG_OUTAGE  120   /* turns of an outage that overflows SMALL_QUEUE */
#define AFTER_TURNS  10    /* turns after recovery */
#define BUSY_WAIT_MS 4000  /* a flush against a held lock waits at least this (sqlite.c: 5 s) */
#define HOLD_MS      300   /* a lock held this briefly is waited out, not reported */

static void remove_db(const char *path) {
    char side[sizeof((run *)0)->path + 8];
    remove(path);
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
}

static run *run_open(const char *name, uint32_t entries_max) {
    assert_int_equal(faultvfs_install(), SQLITE_OK);
    faultvfs_fail(0, 0, 0);
    char path[512];
    snprintf(path, sizeof path, "%s/faults-%s-%ld.db", TG_TEST_TMPDIR, name, (long)getpid());
    remove_db(path);
    return run_start(path, entries_max);
}

static void run_close(run *r) {
    faultvfs_fail(0, 0, 0);
    char path[sizeof r->path];
    snprintf(path, sizeof path, "%s", r->path);
    run_end(r);
    remove_db(path);
}

/* ---- outages ---------------------------------------------------------------- */

typedef struct outage {
    const char *name;   /* for the database file */
    unsigned ops;       /* FAULT_* that fail */
    int rc;             /* with this code (0 = their own I/O error) */
    uint32_t after;     /* calls that succeed first */
    const char *phrase; /* what the error sentence must say */
} outage;

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
