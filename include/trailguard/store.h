/*
 * trailguard/store.h — durable state: one row per guarded position and an
 * append-only journal of every engine event and command.
 *
 * One interface, two backends with the same logical schema:
 *   - SQLite (embedded default): a file path, or "sqlite:PATH";
 *   - PostgreSQL: a "postgresql://" or "postgres://" URI, or a libpq
 *     key/value conninfo string ("host=... dbname=... user=...").
 *
 * Writes are batched: tg_store_begin(), any number of tg_store_put() and
 * tg_store_append(), then tg_store_commit() makes them durable together
 * (group commit: one loop turn, one transaction). A put is conditional on
 * the row version read earlier (optimistic concurrency): if another writer
 * changed the row, the commit fails with TG_E_CONFLICT and nothing of the
 * batch is written.
 *
 * Write-ahead rule (the caller's side): a stop's intended price and its event
 * are committed before the request goes to the exchange; the acknowledgement
 * is committed afterwards. Rows whose intended stop differs from the
 * confirmed one after a restart are the ones to reconcile with the exchange
 * (tg_store_row.needs_reconcile).
 *
 * Prices are stored as exact decimal text, never as floating point.
 */
#ifndef TRAILGUARD_STORE_H
#define TRAILGUARD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trailguard/book.h"
#include "trailguard/error.h"
#include "trailguard/stop.h"

#define TG_STORE_SCHEMA_VERSION    2 /* the schema this build writes (SQLite) */
#define TG_STORE_PG_SCHEMA_VERSION 3 /* PostgreSQL's: version 2 plus the leases table */
#define TG_STORE_KEY_MAX           64 /* bytes of account, position key and order ids, NUL included */
#define TG_STORE_EXCHANGE_MAX      16 /* bytes of an exchange name, NUL included */
#define TG_STORE_DEFAULT_URI       "./trailguard.db"
#define TG_STORE_DEFAULT_ACCOUNT   "default" /* account of the command line's tools */

typedef struct tg_store tg_store;

/* One guarded position: its identity, the exchange's order ids, and the
 * whole engine state, so that a restart rebuilds it exactly. */
typedef struct tg_store_row {
    char account[TG_STORE_KEY_MAX];         /* owning account */
    char exchange[TG_STORE_EXCHANGE_MAX];   /* "binance", "bybit", "replay", ... */
    char symbol[TG_SYMBOL_MAX];             /* e.g. BTCUSDT */
    char position_key[TG_STORE_KEY_MAX];    /* unique per account, e.g. BTCUSDT:long */
    char order_id[TG_STORE_KEY_MAX];        /* exchange stop order id, "" if none */
    char client_order_id[TG_STORE_KEY_MAX]; /* trailguard's client id of that order, "" if none */
    tg_stop stop;                           /* engine state, every field */
    int64_t version;                        /* row version; 0 for a row not yet stored */
    bool needs_reconcile;                   /* on load: intended ≠ confirmed stop */
} tg_store_row;

typedef enum tg_journal_kind {
    TG_JOURNAL_EVENT,   /* an engine event */
    TG_JOURNAL_COMMAND, /* an engine command */
} tg_journal_kind;

/* One journal entry; seq is assigned by the store at commit, gap-free per
 * account. */
typedef struct tg_journal_entry {
    int64_t seq;                         /* 1, 2, 3, ... per account (set by the store) */
    char position_key[TG_STORE_KEY_MAX]; /* the row it belongs to */
    uint8_t kind;                        /* tg_journal_kind */
    tg_event event;                      /* when kind is EVENT */
    tg_cmd command;                      /* when kind is COMMAND */
    int64_t ts_ms;                       /* time of the entry, ms */
    int64_t latency_us;                  /* exchange round trip, µs; −1 when unknown */
} tg_journal_entry;

typedef struct tg_store_stats {
    uint64_t commits;         /* transactions committed */
    uint64_t rows_written;    /* puts committed */
    uint64_t entries_written; /* journal entries committed */
    uint64_t conflicts;       /* commits refused for a stale row version */
    uint64_t fenced;          /* batches refused because the account's lease moved on */
} tg_store_stats;

/* One account's lease (PostgreSQL only): which process serves it. Times
 * come from the database server's clock, never from a process's. */
typedef struct tg_store_lease {
    char account[TG_STORE_KEY_MAX]; /* the account leased */
    char owner[TG_STORE_KEY_MAX];   /* node id of the holder, "" never taken */
    int64_t token;                  /* fencing token: grows by one at every takeover */
    int64_t expires_ms;             /* server time the lease ends, ms since the epoch */
    int64_t last_renew_ms;          /* server time of the last take or renew, ms; 0 never */
    int64_t now_ms;                 /* server time of the read, ms */
} tg_store_lease;

/* Opens (creating if needed) and migrates the store at uri for account.
 * A database written by a newer trailguard is refused with a sentence naming
 * both schema versions. */
tg_status tg_store_open(const char *uri, const char *account, tg_store **out, tg_err *err);

/* Opens the store at uri for reading only: nothing is created, migrated or
 * changed (SQLite: SQLITE_OPEN_READONLY, the journal mode untouched;
 * PostgreSQL: no DDL, a read-only session). A store that does not exist, a
 * file or database that is not a trailguard store and a schema newer than
 * this build's are refused with a sentence. An older schema is read as it
 * is. Only tg_store_load, tg_store_get and tg_store_journal work on it;
 * tg_store_begin and tg_store_prune fail with TG_E_STATE. */
tg_status tg_store_open_readonly(const char *uri, const char *account, tg_store **out, tg_err *err);
void tg_store_close(tg_store *store);

/* "sqlite" or "postgresql". */
const char *tg_store_backend_name(const tg_store *store);

/* Bounds the page cache this handle keeps in the process to kib KiB
 * (SQLite's default is 2,000 KiB per connection; a daemon with many
 * accounts on one file has one connection each). Does nothing on
 * PostgreSQL, whose cache is the server's. */
tg_status tg_store_cache_limit(tg_store *store, int64_t kib, tg_err *err);

tg_status tg_store_begin(tg_store *store, tg_err *err);
/* Upserts row if row->version still matches the stored one (0 = must not
 * exist yet). On commit, row->version is advanced. */
tg_status tg_store_put(tg_store *store, tg_store_row *row, tg_err *err);
tg_status tg_store_append(tg_store *store, tg_journal_entry *entry, tg_err *err);
tg_status tg_store_commit(tg_store *store, tg_err *err);
/* Drops the open batch. */
void tg_store_rollback(tg_store *store);

/* Calls fn for every row of the account that is not CLOSED (or every row
 * when include_closed), in position-key order. fn returning false stops. */
typedef bool (*tg_store_row_fn)(void *ctx, const tg_store_row *row);
tg_status tg_store_load(tg_store *store, bool include_closed, tg_store_row_fn fn, void *ctx,
                        tg_err *err);

/* One row by position key; TG_E_INVALID with "no position" if absent. */
tg_status tg_store_get(tg_store *store, const char *position_key, tg_store_row *row, tg_err *err);

/* Journal entries of the account with seq > after_seq, in order. */
typedef bool (*tg_store_entry_fn)(void *ctx, const tg_journal_entry *entry);
tg_status tg_store_journal(tg_store *store, int64_t after_seq, tg_store_entry_fn fn, void *ctx,
                           tg_err *err);

/* Deletes journal entries of positions closed before cutoff_ms; returns the
 * number deleted in *deleted. Sequence numbers are never reused. */
tg_status tg_store_prune(tg_store *store, int64_t cutoff_ms, uint64_t *deleted, tg_err *err);

tg_store_stats tg_store_get_stats(const tg_store *store);

/* ---- leases and fencing (PostgreSQL only; SQLite answers TG_E_STATE) ----
 *
 * Several processes share one PostgreSQL database; each account is served
 * by the one process holding its lease. A take is one statement on the
 * server's clock: it succeeds when the lease is free, expired or already
 * the caller's, and extends it to now + ttl_ms. The token grows by one
 * whenever the lease changes hands or had expired, never otherwise; a take
 * sets the store's fence to it. Outside a batch only. */
tg_status tg_store_lease_take(tg_store *store, const char *owner, int64_t ttl_ms, int64_t *token,
                              bool *taken, tg_err *err);

/* Ends owner's lease of the account now (SIGTERM), if owner still holds it
 * with the fence's token; another process may take it at once. */
tg_status tg_store_lease_release(tg_store *store, const char *owner, tg_err *err);

/* Every lease of every account, in account order. Works on a read-only
 * store too (a schema without the table: TG_E_STATE with a sentence). */
typedef bool (*tg_store_lease_fn)(void *ctx, const tg_store_lease *lease);
tg_status tg_store_leases_list(tg_store *store, tg_store_lease_fn fn, void *ctx, tg_err *err);

/* From the next tg_store_begin on, every batch carries owner and token:
 * its transaction's first statement locks the account's lease row if, and
 * only if, it still has that owner and token, so a takeover waits for the
 * commit or the batch is refused in its own transaction with TG_E_CONFLICT
 * ("fenced: the lease of account X moved to Y") and nothing is written.
 * token 0 turns fencing off. */
tg_status tg_store_set_fence(tg_store *store, const char *owner, int64_t token, tg_err *err);

/* True when the last begin or commit failed because of the fence. */
bool tg_store_fenced(const tg_store *store);

/* Text read from a store, made safe for a terminal and for a JSON string:
 * '"' and '\\' are escaped, control characters (C0, DEL, C1: ESC, OSC,
 * newlines, ...) become \\u00XX. Writes at most cap − 1 bytes and a NUL
 * into out, cutting between two escapes; returns the length written. Every
 * text from a store that reaches a terminal or a JSON line goes through
 * here. */
size_t tg_store_escape(const char *text, char *out, size_t cap);

/* uri with every password masked, for a message: the whole user-info of a
 * URI ("user:secret@host" becomes "***@host"; the last '@' before the query ends it, as
 * a password may hold '@', '/' and '?'), every password or sslpassword
 * query parameter in any case or percent-encoding ("?PASSWORD=***",
 * "?pass%77ord=***"), and in a conninfo string every password value, quoted
 * or not ("password=***"). Text after a password up to the next libpq
 * keyword is masked too: it may be the password's. A path comes through
 * unchanged. Writes at most cap − 1 bytes and a NUL into buf; returns the
 * length written. Every store URI that reaches a message goes through here. */
size_t tg_store_uri_mask(const char *uri, char *buf, size_t cap);

/* Columns of the trailing_stop table (what tg_store_row_fields reports). */
int tg_store_column_count(void);

/* Every column of row in table order, as the store holds it: fn gets the
 * column name, the value as text (NULL for SQL NULL; not escaped) and
 * whether the column is an integer. */
typedef void (*tg_store_field_fn)(void *ctx, const char *name, const char *value, bool is_int);
tg_status tg_store_row_fields(const tg_store_row *row, tg_store_field_fn fn, void *ctx,
                              tg_err *err);

/* One JSON line (`trailguard state export`): a row with every column
 * ("type":"position"), or a journal entry ("type":"journal"); prices as
 * exact decimal strings, text escaped by tg_store_escape. TG_E_IO when f
 * reports a write error. */
tg_status tg_store_row_json(FILE *f, const tg_store_row *row, tg_err *err);
tg_status tg_store_entry_json(FILE *f, const tg_journal_entry *e, tg_err *err);

#endif
