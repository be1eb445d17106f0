/*
 * trailguard/writer.h — group commit in front of a tg_store, and what
 * happens while the store is failing.
 *
 * Each loop turn stages the rows that changed and the journal entries the
 * engine produced, then calls tg_writer_flush() once: everything staged
 * goes in one transaction. If the store is down, full, locked or corrupt, the
 * flush fails with a sentence and the staged work stays queued in memory;
 * the next flush retries it all. The engine is never held back by the store.
 *
 * The queue is bounded. A position has at most one pending row (its latest
 * state: earlier intermediate states collapse into it, as a row is the whole
 * state). Journal entries queue up to entries_max; past that the oldest is
 * dropped and counted in tg_writer_stats.entries_dropped, never silently.
 */
#ifndef TRAILGUARD_WRITER_H
#define TRAILGUARD_WRITER_H

#include <stdint.h>

#include "trailguard/store.h"

typedef struct tg_writer tg_writer;

typedef struct tg_writer_stats {
    uint64_t flushes;         /* successful commits */
    uint64_t flush_failures;  /* commits that failed (store unavailable, conflict, ...) */
    uint64_t rows_collapsed;  /* staged rows replaced by a later state before a commit */
    uint64_t entries_dropped; /* journal entries dropped because the queue was full */
    uint64_t rows_conflicted; /* rows another writer had changed: not written, left the writer */
    uint32_t pending_rows;    /* rows waiting for a commit */
    uint32_t pending_entries; /* journal entries waiting for a commit */
    uint64_t pruned;          /* journal entries removed by retention */
    uint64_t rows_set_aside;  /* rows the store refused as invalid: not written, batch went on */
} tg_writer_stats;

/* A writer for at most rows_max positions and entries_max queued journal
 * entries. retention_ms > 0 prunes closed positions' journal entries older
 * than that, at most once per hour of ts_ms. */
tg_status tg_writer_new(tg_store *store, uint32_t rows_max, uint32_t entries_max,
                        int64_t retention_ms, tg_writer **out, tg_err *err);
void tg_writer_free(tg_writer *w);

/* Stages the latest state of a row. The writer keeps its own copy and its
 * own version bookkeeping: row->version is read only the first time a
 * position key is seen (0 for a new row, the loaded version after restore). */
tg_status tg_writer_stage_row(tg_writer *w, const tg_store_row *row, tg_err *err);

/* Stages one engine output (events and commands) for position_key. */
void tg_writer_stage_out(tg_writer *w, const char *position_key, const tg_out *out,
                         int64_t latency_us);

/* Commits everything staged; ts_ms drives retention. On failure the staged
 * work is kept for the next flush and err says why. One exception: a row
 * another writer changed since we read it (a stale version) is never
 * written over theirs; it leaves the writer (rows_conflicted), the rest is
 * committed without it, and the flush returns TG_E_CONFLICT naming it. */
tg_status tg_writer_flush(tg_writer *w, int64_t ts_ms, tg_err *err);

/* The last row set aside, as "<position key>: <the store's sentence>", or
 * NULL if none was. A row the store refuses as invalid (TG_E_INVALID or
 * TG_E_STATE from tg_store_put(), e.g. a state tg_stop_check() rejects)
 * would fail every flush if retried, so tg_writer_flush() sets it aside
 * (rows_set_aside), commits the rest of the batch and returns TG_OK; the
 * position's next staged state is written as usual. */
const char *tg_writer_last_set_aside(const tg_writer *w);

/* The version the store holds for position_key, or −1 if unknown. */
int64_t tg_writer_version(const tg_writer *w, const char *position_key);

tg_writer_stats tg_writer_get_stats(const tg_writer *w);

#endif
