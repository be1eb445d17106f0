/*
 * backend.h — what a storage backend implements. store.c owns the public
 * API, batching, sequence numbers and version bookkeeping; a backend only
 * moves codec rows and journal values in and out of its database.
 *
 * Logical schema (both backends, names as in codec.c):
 *   schema_version(version INTEGER NOT NULL)                   -- one row
 *   trailing_stop(<tg_codec_column() columns>,
 *                 PRIMARY KEY (account, position_key))          -- TEXT / BIGINT
 *   stop_event(account, seq, position_key, ts_ms, kind, type, reason, state,
 *              price, stop, prev_stop, latency_us,
 *              PRIMARY KEY (account, seq))                      -- append-only
 *   leases(account PRIMARY KEY, owner, token, expires_at, last_renew)
 *                                                   -- PostgreSQL only (v3)
 * Prices are TEXT holding exact decimals (PostgreSQL may use NUMERIC for
 * the journal's price columns but must give the same text back).
 */
#ifndef TG_STORE_BACKEND_H
#define TG_STORE_BACKEND_H

#include "store/codec.h"
#include "trailguard/store.h"

#define TG_JOURNAL_COLS 12 /* columns of stop_event, in the order below */

/* stop_event columns in order: account, seq, position_key, ts_ms, kind,
 * type, reason, state, price, stop, prev_stop, latency_us. */
extern const tg_col_def tg_journal_columns[TG_JOURNAL_COLS];

typedef struct tg_store_backend {
    const char *name; /* "sqlite" or "postgresql" */
    /* Connects to target (a path, or the whole postgresql:// URI), creates
     * or migrates the schema to TG_STORE_SCHEMA_VERSION, and refuses a newer
     * one. Sets *impl. */
    tg_status (*open)(const char *target, void **impl, tg_err *err);
    /* Connects to target for reading only: nothing is created, migrated or
     * written (no DDL, no journal-mode change). A target that does not exist,
     * is not a trailguard store or has a newer schema is refused with a
     * sentence. Only load and journal may be called on it. */
    tg_status (*open_readonly)(const char *target, void **impl, tg_err *err);
    void (*close)(void *impl);
    /* Bounds the connection's page cache to kib KiB; NULL where the backend
     * keeps no such cache in the process (PostgreSQL's is the server's). */
    tg_status (*cache_limit)(void *impl, int64_t kib, tg_err *err);
    /* Creates or migrates the schema up to `version` only (tests of the
     * migrations from earlier versions), then disconnects. */
    tg_status (*create_at)(const char *target, int64_t version, tg_err *err);
    /* After any failed call inside a transaction the caller rolls back;
     * a backend need not keep a failed transaction usable. */
    tg_status (*begin)(void *impl, tg_err *err);
    tg_status (*commit)(void *impl, tg_err *err);
    void (*rollback)(void *impl);
    /* Inserts (expected_version 0) or updates the row whose account,
     * position_key and version match; vals carry expected_version + 1.
     * An insert may take the key of a CLOSED row (the next position on the
     * same symbol and side): it replaces that row and continues its version
     * count, so versions never repeat for a key. Anything else already
     * there is TG_E_CONFLICT. *stored_version gets the version written. */
    tg_status (*put)(void *impl, const tg_col_value *vals, int64_t expected_version,
                     int64_t *stored_version, tg_err *err);
    /* Appends one journal row (TG_JOURNAL_COLS values). A duplicate
     * (account, seq) is TG_E_CONFLICT. */
    tg_status (*append)(void *impl, const tg_col_value *vals, tg_err *err);
    /* Highest seq of the account's journal, 0 when empty. */
    tg_status (*last_seq)(void *impl, const char *account, int64_t *seq, tg_err *err);
    /* Rows of the account (one when position_key is not NULL), ordered by
     * position_key; closed ones only when include_closed. fn gets the
     * column values in tg_codec_column() order. */
    tg_status (*load)(void *impl, const char *account, const char *position_key,
                      bool include_closed, bool (*fn)(void *ctx, const tg_col_value *vals),
                      void *ctx, tg_err *err);
    /* Journal rows of the account with seq > after_seq, ascending. */
    tg_status (*journal)(void *impl, const char *account, int64_t after_seq,
                         bool (*fn)(void *ctx, const tg_col_value *vals), void *ctx, tg_err *err);
    /* Deletes journal rows of positions in state 'closed' with closed_ms <
     * cutoff_ms; *deleted gets the count. */
    tg_status (*prune)(void *impl, const char *account, int64_t cutoff_ms, uint64_t *deleted,
                       tg_err *err);
    /* Leases and fencing (tg_store_lease_take and friends); NULL in a
     * backend without them. fence runs first in an open transaction. */
    tg_status (*lease_take)(void *impl, const char *account, const char *owner, int64_t ttl_ms,
                            int64_t *token, bool *taken, tg_err *err);
    tg_status (*lease_release)(void *impl, const char *account, const char *owner, int64_t token,
                               tg_err *err);
    tg_status (*leases_list)(void *impl, tg_store_lease_fn fn, void *ctx, tg_err *err);
    tg_status (*fence)(void *impl, const char *account, const char *owner, int64_t token,
                       tg_err *err);
} tg_store_backend;

extern const tg_store_backend tg_store_sqlite;

/* Creates (or migrates) the store at uri up to an earlier schema version
 * and closes it, for the migration tests. */
tg_status tg_store_create_at(const char *uri, int64_t version, tg_err *err);
#ifdef TG_HAVE_POSTGRES
extern const tg_store_backend tg_store_postgres;
#endif

#endif
