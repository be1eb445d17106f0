/*
 * trailguard/book.h — the book of every tracked position, indexed by symbol.
 *
 * All memory is taken once, in tg_book_new(), for a fixed number of positions
 * and symbols; nothing on the tick path allocates. A tick names a symbol and
 * reaches every open position of that symbol; a tick for a symbol with no
 * position is counted (tg_book_stats.unknown_symbol_ticks), never an error.
 * Because a position enters the book only through tg_book_open(), which
 * creates its stop state, an open position without a trailing stop cannot
 * exist here.
 *
 * Fast path: each symbol keeps the intersection of its positions' wake bands
 * (tg_stop_wake()). A tick inside it would change nothing for any position
 * but its last tick time and price, so it is dismissed in O(1) and those two
 * are written into the positions later, before anything reads them
 * (tg_book_get(), the next evaluated tick). Events, commands and the state
 * seen through tg_book_get() are the same as when every position is
 * evaluated on every tick (docs/engine.md, tests/test_book_fastpath.c).
 */
#ifndef TRAILGUARD_BOOK_H
#define TRAILGUARD_BOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trailguard/stop.h"

#define TG_SYMBOL_MAX 24 /* bytes of a symbol name, NUL included ("1000PEPEUSDT") */
#define TG_BOOK_NONE  UINT32_MAX

typedef struct tg_book tg_book;

typedef struct tg_book_stats {
    uint64_t ticks;                /* ticks received */
    uint64_t unknown_symbol_ticks; /* ticks for a symbol with no open position */
    uint64_t position_updates;     /* (tick, position) pairs evaluated by tg_stop_tick() */
    uint64_t positions_dismissed;  /* (tick, position) pairs dismissed by the fast path */
    uint64_t ticks_dismissed;      /* ticks dismissed whole by the fast path */
    uint32_t open_positions;       /* positions currently open */
} tg_book_stats;

/* Receives the output of one position's input; called only when the output
 * holds at least one event or command. */
typedef void (*tg_book_sink)(void *ctx, const tg_stop *stop, const tg_out *out);

/* A book for at most positions_max positions over symbols_max symbols. */
tg_status tg_book_new(uint32_t positions_max, uint32_t symbols_max, tg_book **out, tg_err *err);
void tg_book_free(tg_book *book);

/* The id of a symbol, adding it if new; TG_BOOK_NONE when the symbol table is
 * full or the name does not fit. */
uint32_t tg_book_symbol(tg_book *book, const char *symbol);

/* The id of a known symbol, or TG_BOOK_NONE. */
uint32_t tg_book_symbol_find(const tg_book *book, const char *symbol);

const char *tg_book_symbol_name(const tg_book *book, uint32_t symbol_id);

/* Opens a position on symbol; o->id is ignored and replaced by the book's
 * position id (the most recently freed slot), written to *position_id. */
tg_status tg_book_open(tg_book *book, const char *symbol, const tg_open *o, uint32_t *position_id,
                       tg_out *out, tg_err *err);

/* Puts a stop's whole state, as read back from the store, into the book,
 * byte for byte: it takes slot state->id when that slot is free (so ids
 * survive a restart), otherwise the lowest free slot, and then rewrites only
 * the id (read it back from *position_id). The state is checked first
 * (tg_stop_check(), whose sentence is returned); a CLOSED state is refused
 * with TG_E_STATE. No output: the state is already stored. */
tg_status tg_book_restore(tg_book *book, const char *symbol, const tg_stop *state,
                          uint32_t *position_id, tg_err *err);

/* The next position id in use after `after` (TG_BOOK_NONE to start), in id
 * order; TG_BOOK_NONE at the end. The book may not change during a walk,
 * except for tg_book_close() of the id just returned. */
uint32_t tg_book_next(const tg_book *book, uint32_t after);

/* The symbol id of a position, or TG_BOOK_NONE if the id is not in use. */
uint32_t tg_book_position_symbol(const tg_book *book, uint32_t position_id);

/* A tick for every open position of symbol_id. */
void tg_book_tick(tg_book *book, uint32_t symbol_id, int64_t ts_ms, tg_dec price, tg_book_sink sink,
                  void *ctx);

/* A tick by symbol name; an unknown name is counted. */
void tg_book_tick_name(tg_book *book, const char *symbol, int64_t ts_ms, tg_dec price,
                       tg_book_sink sink, void *ctx);

/* The position, or NULL if the id is not in use. The caller may feed it
 * inputs (tg_stop_confirmed(), ...) through the pointer until its next call
 * on the book: the book re-reads the symbol's positions on the next tick.
 * Keep no pointer across calls. */
tg_stop *tg_book_get(tg_book *book, uint32_t position_id);

/* The position for reading, or NULL if the id is not in use. Unlike
 * tg_book_get() it keeps the symbol's fast path: a dismissed tick is
 * written into the positions first, so the state reads as if every tick had
 * been evaluated, and the wake summary stays valid. Keep no pointer across
 * calls. */
const tg_stop *tg_book_peek(tg_book *book, uint32_t position_id);

/* Changes to a live position, applied at once: the next tick uses them
 * (tg_stop_set_params(), tg_stop_set_quantity()). Both invalidate the
 * symbol's wake band, since they may change what a tick does. An id not in
 * use is TG_E_INVALID. No output: the caller persists the state. */
tg_status tg_book_set_params(tg_book *book, uint32_t id, const tg_params *params, tg_err *err);
tg_status tg_book_set_quantity(tg_book *book, uint32_t id, tg_dec quantity, tg_err *err);

/* The exchange's answers for one position, through the book: the symbol's
 * fast path stays exact whatever the caller keeps. Prefer these to feeding
 * the tg_stop_* inputs through a pointer from tg_book_get(). A position id
 * not in use is ignored (out stays empty). */
void tg_book_confirmed(tg_book *book, uint32_t position_id, int64_t ts_ms, tg_dec price,
                       tg_out *out);
void tg_book_rejected(tg_book *book, uint32_t position_id, int64_t ts_ms, tg_dec price,
                      tg_reject_kind kind, tg_out *out);
void tg_book_triggered(tg_book *book, uint32_t position_id, int64_t ts_ms, tg_dec price,
                       tg_out *out);

/* Ends a position: tg_stop_closed() and its slot returns to the free list. */
void tg_book_close(tg_book *book, uint32_t position_id, int64_t ts_ms, tg_dec price,
                   tg_reason reason, tg_out *out);

tg_book_stats tg_book_get_stats(const tg_book *book);

/* On: every tick evaluates every position of its symbol (no fast path), as a
 * reference for tests and for debugging. Off by default. */
void tg_book_set_exhaustive(tg_book *book, bool on);

/* Bytes the book holds per position slot, all tables included. */
size_t tg_book_bytes_per_position(const tg_book *book);

#endif
