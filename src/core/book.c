#include "trailguard/book.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BOOK_POSITIONS_MAX 10000000u /* slots; a bound on what one book may hold */
#define BOOK_SYMBOLS_MAX   1000000u
#define CACHE_LINE_BYTES   64
#define WORD_BITS          64u

typedef struct book_symbol {
    char name[TG_SYMBOL_MAX]; /* NUL-terminated */
    uint32_t head;            /* first position slot of this symbol, or TG_BOOK_NONE */
} book_symbol;

/* A symbol's wake summary: the intersection of its positions' tg_wake bands.
 * A tick inside it is dismissed without touching any position; it is only
 * remembered (pending_*) and written into the positions, as tg_stop_tick()
 * would have, before anything reads or evaluates them. One cache line, read
 * on every tick. */
typedef struct book_wake {
    int64_t since_ms;     /* no position would find a tick from here on stale */
    int64_t due_ms;       /* a tick at or after this is evaluated */
    int64_t lo_units;     /* lowest price dismissed, tg_dec units */
    int64_t hi_units;     /* highest price dismissed, tg_dec units */
    int64_t pending_ms;   /* last dismissed tick's time (when pending) */
    tg_dec pending_price; /* last dismissed tick's price (when pending) */
    uint32_t open_count;  /* positions in the symbol's list (not yet tg_book_close()d) */
    uint8_t valid;        /* the band matches the positions' state */
    uint8_t pending;      /* a dismissed tick is not yet written into the positions */
    uint8_t any_live;     /* some position takes ticks (open and not closing) */
    uint8_t unused_[9];   /* pads the entry to one cache line */
} book_wake;

struct tg_book {
    tg_stop *stops;         /* positions_max slots */
    uint32_t *next;         /* next slot of the same symbol, or of the free list */
    uint32_t *free_prev;    /* previous slot of the free list, or TG_BOOK_NONE */
    uint32_t *symbol_of;    /* symbol id of each used slot, TG_BOOK_NONE when free */
    book_symbol *symbols;   /* symbols_max entries, symbol_count used */
    book_wake *wake;        /* symbols_max entries, parallel to symbols */
    uint32_t *hash;         /* open-addressed symbol index, hash_mask + 1 entries */
    uint32_t hash_mask;     /* table size − 1 (a power of two ≥ 2 × symbols_max) */
    uint32_t positions_max; /* slots */
    uint32_t symbols_max;   /* symbol entries */
    uint32_t symbol_count;  /* symbols in use */
    uint64_t *used;         /* bit i of word i/64: slot i in use (bits past the end set) */
    uint64_t *full;         /* bit w of word w/64: used[w] is all ones (past the end set) */
    uint32_t used_words;    /* words of used */
    uint32_t full_words;    /* words of full */
    uint32_t full_low;      /* every full[] word below this is all ones */
    uint32_t free_head;     /* most recently freed slot, or TG_BOOK_NONE */
    uint64_t generation;    /* bumped by every call that may change a position */
    uint32_t depth;         /* tick_evaluate() calls in progress (a sink may tick) */
    bool exhaustive;        /* evaluate every position on every tick (no fast path) */
    tg_book_stats stats;    /* counters */
};

_Static_assert(sizeof(book_wake) == 64, "book_wake is one cache line");

static uint32_t hash_name(const char *name) {
    assert(name != NULL);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h;
}

/* Writes a symbol's last dismissed tick into its positions, as tg_stop_tick()
 * would have done, so that they read as if every tick had been evaluated.
 * Positions do not change between the dismissal and this, so a position that
 * takes ticks now took that one. */
static void wake_flush(tg_book *b, uint32_t sym) {
    assert(b != NULL && sym < b->symbol_count);
    book_wake *w = &b->wake[sym];
    if (!w->pending) {
        return;
    }
    w->pending = 0;
    assert(w->pending_price.units >= w->lo_units && w->pending_price.units <= w->hi_units);
    uint32_t visited = 0;
    for (uint32_t i = b->symbols[sym].head; i != TG_BOOK_NONE; i = b->next[i]) {
        assert(visited++ < b->positions_max);
        tg_stop_tick_quiet(&b->stops[i], w->pending_ms, w->pending_price);
    }
}

/* A position of sym may change outside tg_book_tick(): bring the positions up
 * to date and let the next tick rebuild the summary. */
static void wake_touch(tg_book *b, uint32_t sym) {
    wake_flush(b, sym);
    b->wake[sym].valid = 0;
    b->generation++;
    assert(!b->wake[sym].pending);
}

tg_status tg_book_new(uint32_t positions_max, uint32_t symbols_max, tg_book **out, tg_err *err) {
    assert(out != NULL);
    if (positions_max == 0 || positions_max > BOOK_POSITIONS_MAX || symbols_max == 0 ||
        symbols_max > BOOK_SYMBOLS_MAX) {
        return tg_err_set(err, TG_E_INVALID,
                          "book size %u positions / %u symbols is outside 1..%u / 1..%u",
                          positions_max, symbols_max, BOOK_POSITIONS_MAX, BOOK_SYMBOLS_MAX);
    }
    uint32_t hash_size = 1;
    while (hash_size < 2 * symbols_max) {
        hash_size <<= 1;
    }
    tg_book *b = calloc(1, sizeof *b);
    if (b != NULL) {
        b->stops = calloc(positions_max, sizeof *b->stops);
        b->next = malloc(positions_max * sizeof *b->next);
        b->free_prev = malloc(positions_max * sizeof *b->free_prev);
        b->used_words = (positions_max + WORD_BITS - 1) / WORD_BITS;
        b->full_words = (b->used_words + WORD_BITS - 1) / WORD_BITS;
        b->used = calloc(b->used_words, sizeof *b->used);
        b->full = calloc(b->full_words, sizeof *b->full);
        b->symbol_of = malloc(positions_max * sizeof *b->symbol_of);
        b->symbols = calloc(symbols_max, sizeof *b->symbols);
        b->wake = aligned_alloc(CACHE_LINE_BYTES, symbols_max * sizeof *b->wake);
        b->hash = malloc(hash_size * sizeof *b->hash);
    }
    if (b == NULL || !b->stops || !b->next || !b->symbol_of || !b->symbols || !b->wake ||
        !b->hash || !b->used || !b->full || !b->free_prev) {
        tg_book_free(b);
        return tg_err_set(err, TG_E_NOMEM, "out of memory for a book of %u positions",
                          positions_max);
    }
    b->positions_max = positions_max;
    b->symbols_max = symbols_max;
    b->hash_mask = hash_size - 1;
    memset(b->hash, 0xff, hash_size * sizeof *b->hash);
    memset(b->wake, 0, symbols_max * sizeof *b->wake);
    for (uint32_t i = 0; i < positions_max; i++) {
        b->next[i] = i + 1 < positions_max ? i + 1 : TG_BOOK_NONE;
        b->free_prev[i] = i > 0 ? i - 1 : TG_BOOK_NONE;
        b->symbol_of[i] = TG_BOOK_NONE;
    }
    b->free_head = 0;
    /* Slots past the end read as in use, words past the end as full, so
     * that neither is ever handed out. */
    uint32_t tail = positions_max % WORD_BITS;
    if (tail != 0) {
        b->used[b->used_words - 1] = ~0ull << tail;
    }
    uint32_t full_tail = b->used_words % WORD_BITS;
    if (full_tail != 0) {
        b->full[b->full_words - 1] = ~0ull << full_tail;
    }
    assert(b->hash_mask + 1 >= 2 * symbols_max && (b->hash_mask & (b->hash_mask + 1)) == 0);
    assert(b->used_words * WORD_BITS >= positions_max &&
           b->full_words * WORD_BITS >= b->used_words);
    *out = b;
    return TG_OK;
}

void tg_book_free(tg_book *book) {
    if (book == NULL) {
        return;
    }
    free(book->stops);
    free(book->next);
    free(book->free_prev);
    free(book->symbol_of);
    free(book->symbols);
    free(book->wake);
    free(book->hash);
    free(book->used);
    free(book->full);
    free(book);
}

/* The hash slot holding name, or the empty slot where it would go. */
static uint32_t hash_slot(const tg_book *b, const char *name) {
    assert(b != NULL && name != NULL);
    uint32_t i = hash_name(name) & b->hash_mask;
    for (uint32_t probes = 0; probes <= b->hash_mask; probes++) {
        uint32_t id = b->hash[i];
        if (id == TG_BOOK_NONE || strcmp(b->symbols[id].name, name) == 0) {
            return i;
        }
        i = (i + 1) & b->hash_mask;
    }
    assert(false && "symbol hash table full: it is sized at twice symbols_max");
    return 0;
}

uint32_t tg_book_symbol_find(const tg_book *book, const char *symbol) {
    assert(book != NULL && symbol != NULL);
    return book->hash[hash_slot(book, symbol)];
}

uint32_t tg_book_symbol(tg_book *book, const char *symbol) {
    assert(book != NULL && symbol != NULL);
    size_t len = strlen(symbol);
    if (len == 0 || len >= TG_SYMBOL_MAX) {
        return TG_BOOK_NONE;
    }
    uint32_t slot = hash_slot(book, symbol);
    if (book->hash[slot] != TG_BOOK_NONE) {
        return book->hash[slot];
    }
    if (book->symbol_count == book->symbols_max) {
        return TG_BOOK_NONE;
    }
    uint32_t id = book->symbol_count++;
    assert(id < book->symbols_max);
    memcpy(book->symbols[id].name, symbol, len + 1);
    book->symbols[id].head = TG_BOOK_NONE;
    book->hash[slot] = id;
    return id;
}

const char *tg_book_symbol_name(const tg_book *book, uint32_t symbol_id) {
    assert(book != NULL);
    return symbol_id < book->symbol_count ? book->symbols[symbol_id].name : NULL;
}

/* ---- slots: a two-level bitmap, so the lowest free slot, a given slot and
 * the next slot in use are found without walking a list ---------------- */

static bool slot_used(const tg_book *b, uint32_t slot) {
    assert(slot / WORD_BITS < b->used_words);
    return (b->used[slot / WORD_BITS] >> (slot % WORD_BITS) & 1u) != 0;
}

/* The lowest free slot, or TG_BOOK_NONE when the book is full. */
static uint32_t slot_lowest_free(tg_book *b) {
    for (uint32_t fw = b->full_low; fw < b->full_words; fw++) {
        if (b->full[fw] != ~0ull) {
            b->full_low = fw;
            uint32_t w = fw * WORD_BITS + (uint32_t)__builtin_ctzll(~b->full[fw]);
            assert(w < b->used_words && b->used[w] != ~0ull);
            uint32_t slot = w * WORD_BITS + (uint32_t)__builtin_ctzll(~b->used[w]);
            assert(slot < b->positions_max);
            return slot;
        }
    }
    b->full_low = b->full_words;
    return TG_BOOK_NONE;
}

static void slot_take(tg_book *b, uint32_t slot) {
    assert(slot < b->positions_max && !slot_used(b, slot));
    uint32_t w = slot / WORD_BITS;
    b->used[w] |= 1ull << (slot % WORD_BITS);
    if (b->used[w] == ~0ull) {
        b->full[w / WORD_BITS] |= 1ull << (w % WORD_BITS);
    }
    assert(slot_used(b, slot));
}

static void slot_release(tg_book *b, uint32_t slot) {
    assert(slot < b->positions_max && slot_used(b, slot));
    uint32_t w = slot / WORD_BITS;
    b->used[w] &= ~(1ull << (slot % WORD_BITS));
    b->full[w / WORD_BITS] &= ~(1ull << (w % WORD_BITS));
    if (w / WORD_BITS < b->full_low) {
        b->full_low = w / WORD_BITS;
    }
    assert(!slot_used(b, slot));
}

/* The free list (doubly linked, so that a restore can take any free slot out
 * of it) hands out the most recently freed slot first. */
static void free_remove(tg_book *b, uint32_t slot) {
    assert(slot < b->positions_max && !slot_used(b, slot));
    uint32_t prev = b->free_prev[slot], next = b->next[slot];
    if (prev == TG_BOOK_NONE) {
        assert(b->free_head == slot);
        b->free_head = next;
    } else {
        b->next[prev] = next;
    }
    if (next != TG_BOOK_NONE) {
        b->free_prev[next] = prev;
    }
}

static void free_push(tg_book *b, uint32_t slot) {
    assert(slot < b->positions_max && !slot_used(b, slot));
    assert(b->symbol_of[slot] == TG_BOOK_NONE);
    b->next[slot] = b->free_head;
    b->free_prev[slot] = TG_BOOK_NONE;
    if (b->free_head != TG_BOOK_NONE) {
        b->free_prev[b->free_head] = slot;
    }
    b->free_head = slot;
}

/* Takes a free slot out of the free list and links it into its symbol's
 * list. */
static void slot_link(tg_book *b, uint32_t slot, uint32_t sym) {
    assert(sym < b->symbol_count);
    assert(b->symbol_of[slot] == TG_BOOK_NONE);
    free_remove(b, slot);
    slot_take(b, slot);
    b->next[slot] = b->symbols[sym].head;
    b->symbols[sym].head = slot;
    b->wake[sym].open_count++;
    b->symbol_of[slot] = sym;
    b->stats.open_positions++;
    assert(b->wake[sym].open_count <= b->positions_max);
}

uint32_t tg_book_next(const tg_book *book, uint32_t after) {
    assert(book != NULL);
    uint32_t start = after == TG_BOOK_NONE ? 0 : after + 1;
    if (after != TG_BOOK_NONE && after >= book->positions_max - 1) {
        return TG_BOOK_NONE;
    }
    uint32_t w = start / WORD_BITS;
    uint64_t bits = book->used[w] & (~0ull << (start % WORD_BITS));
    for (;;) {
        if (bits != 0) {
            uint32_t slot = w * WORD_BITS + (uint32_t)__builtin_ctzll(bits);
            assert(slot >= start);
            return slot < book->positions_max ? slot : TG_BOOK_NONE;
        }
        if (++w == book->used_words) {
            return TG_BOOK_NONE;
        }
        bits = book->used[w];
    }
}

tg_status tg_book_open(tg_book *book, const char *symbol, const tg_open *o, uint32_t *position_id,
                       tg_out *out, tg_err *err) {
    assert(book != NULL && symbol != NULL && o != NULL && out != NULL);
    uint32_t sym = tg_book_symbol(book, symbol);
    if (sym == TG_BOOK_NONE) {
        return tg_err_set(err, TG_E_CAPACITY,
                          "symbol '%s' is empty, longer than %d bytes, or the book's %u symbols "
                          "are taken",
                          symbol, TG_SYMBOL_MAX - 1, book->symbols_max);
    }
    uint32_t slot = book->free_head;
    if (slot == TG_BOOK_NONE) {
        return tg_err_set(err, TG_E_CAPACITY, "the book is full (%u positions)",
                          book->positions_max);
    }
    tg_open with_id = *o;
    with_id.id = slot;
    tg_status st = tg_stop_open(&book->stops[slot], &with_id, out, err);
    if (st != TG_OK) {
        return st;
    }
    wake_touch(book, sym); /* the dismissed ticks predate the new position */
    slot_link(book, slot, sym);
    assert(book->symbol_of[slot] == sym && book->stops[slot].id == slot);
    if (position_id != NULL) {
        *position_id = slot;
    }
    return TG_OK;
}

tg_status tg_book_restore(tg_book *book, const char *symbol, const tg_stop *state,
                          uint32_t *position_id, tg_err *err) {
    assert(book != NULL && symbol != NULL && state != NULL);
    tg_status st = tg_stop_check(state, err);
    if (st != TG_OK) {
        return st;
    }
    if (state->state == TG_STATE_CLOSED) {
        return tg_err_set(err, TG_E_STATE,
                          "position %u is closed: a closed position is not restored into the book",
                          (unsigned)state->id);
    }
    uint32_t sym = tg_book_symbol(book, symbol);
    if (sym == TG_BOOK_NONE) {
        return tg_err_set(err, TG_E_CAPACITY,
                          "symbol '%s' is empty, longer than %d bytes, or the book's %u symbols "
                          "are taken",
                          symbol, TG_SYMBOL_MAX - 1, book->symbols_max);
    }
    uint32_t slot = state->id;
    if (slot >= book->positions_max || slot_used(book, slot)) {
        slot = slot_lowest_free(book);
    }
    if (slot == TG_BOOK_NONE) {
        return tg_err_set(err, TG_E_CAPACITY, "the book is full (%u positions)",
                          book->positions_max);
    }
    wake_touch(book, sym);
    memcpy(&book->stops[slot], state, sizeof *state); /* padding included: byte-identical */
    book->stops[slot].id = slot;
    slot_link(book, slot, sym);
    assert(tg_stop_check(&book->stops[slot], NULL) == TG_OK);
    if (position_id != NULL) {
        *position_id = slot;
    }
    return TG_OK;
}

/* Evaluates every position of sym and rebuilds the symbol's wake summary
 * from their bands, unless a sink changed the book meanwhile. */
static void tick_evaluate(tg_book *b, uint32_t sym, int64_t ts_ms, tg_dec price, tg_book_sink sink,
                          void *ctx) {
    assert(b != NULL && sym < b->symbol_count);
    book_wake *w = &b->wake[sym];
    wake_flush(b, sym);
    w->valid = 0;
    uint64_t generation = ++b->generation;
    b->depth++;
    tg_wake sum = {INT64_MIN, INT64_MAX, {INT64_MIN}, {INT64_MAX}};
    bool any_live = false;
    tg_out out;
    uint32_t visited = 0;
    for (uint32_t i = b->symbols[sym].head; i != TG_BOOK_NONE; i = b->next[i]) {
        assert(visited++ < b->positions_max);
        tg_stop *s = &b->stops[i];
        out.n_events = 0;
        out.n_cmds = 0;
        tg_stop_tick(s, ts_ms, price, &out);
        b->stats.position_updates++;
        if ((out.n_events | out.n_cmds) != 0 && sink != NULL) {
            sink(ctx, s, &out);
        }
        if (b->exhaustive) {
            continue;
        }
        tg_wake band;
        tg_stop_wake(s, &band);
        any_live |= tg_stop_is_open(s) && (s->flags & TG_F_CLOSING) == 0;
        sum.since_ms = band.since_ms > sum.since_ms ? band.since_ms : sum.since_ms;
        sum.due_ms = band.due_ms < sum.due_ms ? band.due_ms : sum.due_ms;
        sum.lo = tg_dec_max(sum.lo, band.lo);
        sum.hi = tg_dec_min(sum.hi, band.hi);
    }
    b->depth--;
    /* A tick from inside a sink is evaluated while an outer tick is still
     * walking the positions: its band would not include what the outer one
     * does next, so only the outermost evaluation may build the summary. */
    if (b->generation != generation || b->exhaustive || b->depth != 0) {
        w->valid = 0; /* a sink changed the book, maybe with a tick of this symbol */
        return;
    }
    w->since_ms = sum.since_ms;
    w->due_ms = sum.due_ms;
    w->lo_units = sum.lo.units;
    w->hi_units = sum.hi.units;
    w->any_live = any_live;
    w->valid = 1;
}

void tg_book_tick(tg_book *book, uint32_t symbol_id, int64_t ts_ms, tg_dec price, tg_book_sink sink,
                  void *ctx) {
    assert(book != NULL);
    book->stats.ticks++;
    if (symbol_id >= book->symbol_count || book->wake[symbol_id].open_count == 0) {
        book->stats.unknown_symbol_ticks++;
        return;
    }
    book_wake *w = &book->wake[symbol_id];
    if (w->valid && ts_ms >= w->since_ms && ts_ms < w->due_ms && price.units >= w->lo_units &&
        price.units <= w->hi_units) {
        /* Every position would only record the tick as its last one. */
        assert(!w->pending || w->pending_ms <= ts_ms);
        if (w->any_live) {
            w->pending = 1;
            w->pending_ms = ts_ms;
            w->pending_price = price;
            w->since_ms = ts_ms;
        }
        book->stats.ticks_dismissed++;
        book->stats.positions_dismissed += w->open_count;
        return;
    }
    tick_evaluate(book, symbol_id, ts_ms, price, sink, ctx);
}

void tg_book_tick_name(tg_book *book, const char *symbol, int64_t ts_ms, tg_dec price,
                       tg_book_sink sink, void *ctx) {
    assert(book != NULL && symbol != NULL);
    uint32_t id = tg_book_symbol_find(book, symbol);
    if (id == TG_BOOK_NONE) {
        book->stats.ticks++;
        book->stats.unknown_symbol_ticks++;
        return;
    }
    tg_book_tick(book, id, ts_ms, price, sink, ctx);
}

tg_stop *tg_book_get(tg_book *book, uint32_t position_id) {
    assert(book != NULL);
    if (position_id >= book->positions_max || book->symbol_of[position_id] == TG_BOOK_NONE) {
        return NULL;
    }
    wake_touch(book, book->symbol_of[position_id]); /* the caller may change it */
    assert(book->stops[position_id].id == position_id);
    return &book->stops[position_id];
}

const tg_stop *tg_book_peek(tg_book *book, uint32_t position_id) {
    assert(book != NULL);
    if (position_id >= book->positions_max || book->symbol_of[position_id] == TG_BOOK_NONE) {
        return NULL;
    }
    /* Writing the dismissed tick in leaves every band as it was: the summary
     * stays valid and the next quiet tick is still dismissed. */
    wake_flush(book, book->symbol_of[position_id]);
    assert(book->stops[position_id].id == position_id);
    return &book->stops[position_id];
}

uint32_t tg_book_position_symbol(const tg_book *book, uint32_t position_id) {
    assert(book != NULL);
    return position_id < book->positions_max ? book->symbol_of[position_id] : TG_BOOK_NONE;
}

tg_status tg_book_set_params(tg_book *book, uint32_t id, const tg_params *params, tg_err *err) {
    assert(book != NULL && params != NULL);
    tg_stop *s = tg_book_get(book, id); /* invalidates the symbol's band */
    if (s == NULL) {
        return tg_err_set(err, TG_E_INVALID, "no position %u in the book", (unsigned)id);
    }
    return tg_stop_set_params(s, params, err);
}

tg_status tg_book_set_quantity(tg_book *book, uint32_t id, tg_dec quantity, tg_err *err) {
    assert(book != NULL);
    tg_stop *s = tg_book_get(book, id); /* invalidates the symbol's band */
    if (s == NULL) {
        return tg_err_set(err, TG_E_INVALID, "no position %u in the book", (unsigned)id);
    }
    return tg_stop_set_quantity(s, quantity, err);
}

/* tg_book_get() writes a dismissed tick into the symbol's positions and
 * marks its summary stale before the input changes the position. */
void tg_book_confirmed(tg_book *book, uint32_t position_id, int64_t ts_ms, tg_dec price,
                       tg_out *out) {
    assert(out != NULL);
    tg_stop *s = tg_book_get(book, position_id);
    if (s != NULL) {
        tg_stop_confirmed(s, ts_ms, price, out);
    }
}

void tg_book_rejected(tg_book *book, uint32_t position_id, int64_t ts_ms, tg_dec price,
                      tg_reject_kind kind, tg_out *out) {
    assert(out != NULL);
    tg_stop *s = tg_book_get(book, position_id);
    if (s != NULL) {
        tg_stop_rejected(s, ts_ms, price, kind, out);
    }
}

void tg_book_triggered(tg_book *book, uint32_t position_id, int64_t ts_ms, tg_dec price,
                       tg_out *out) {
    assert(out != NULL);
    tg_stop *s = tg_book_get(book, position_id);
    if (s != NULL) {
        tg_stop_triggered(s, ts_ms, price, out);
    }
}

void tg_book_close(tg_book *book, uint32_t position_id, int64_t ts_ms, tg_dec price,
                   tg_reason reason, tg_out *out) {
    assert(book != NULL && out != NULL);
    tg_stop *s = tg_book_get(book, position_id);
    if (s == NULL) {
        return;
    }
    tg_stop_closed(s, ts_ms, price, reason, out);
    uint32_t sym = book->symbol_of[position_id];
    uint32_t *link = &book->symbols[sym].head;
    while (*link != position_id) {
        assert(*link != TG_BOOK_NONE);
        link = &book->next[*link];
    }
    *link = book->next[position_id];
    assert(book->wake[sym].open_count > 0 && book->stats.open_positions > 0);
    book->wake[sym].open_count--;
    book->symbol_of[position_id] = TG_BOOK_NONE;
    slot_release(book, position_id);
    free_push(book, position_id);
    book->stats.open_positions--;
}

void tg_book_set_exhaustive(tg_book *book, bool on) {
    assert(book != NULL);
    book->exhaustive = on;
    for (uint32_t sym = 0; sym < book->symbol_count; sym++) {
        book->wake[sym].valid = 0;
    }
}

tg_book_stats tg_book_get_stats(const tg_book *book) {
    assert(book != NULL);
    return book->stats;
}

size_t tg_book_bytes_per_position(const tg_book *book) {
    assert(book != NULL);
    size_t per_slot = sizeof(tg_stop) + sizeof(uint32_t) * 3 + 1; /* 1 byte ≥ 1 + 1/64 bit */
    size_t shared = (size_t)book->symbols_max * (sizeof(book_symbol) + sizeof(book_wake)) +
                    ((size_t)book->hash_mask + 1) * sizeof(uint32_t) + sizeof(tg_book);
    return per_slot + (shared + book->positions_max - 1) / book->positions_max;
}
