#include "trailguard/book.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define BOOK_POSITIONS_MAX 10000000u /* slots; a bound on what one book may hold */
#define BOOK_SYMBOLS_MAX   1000000u

typedef struct book_symbol {
    char name[TG_SYMBOL_MAX]; /* NUL-terminated */
    uint32_t head;            /* first position slot of this symbol, or TG_BOOK_NONE */
    uint32_t open_count;      /* open positions on this symbol */
} book_symbol;

struct tg_book {
    tg_stop *stops;         /* positions_max slots */
    uint32_t *next;         /* next slot of the same symbol, or of the free list */
    uint32_t *symbol_of;    /* symbol id of each used slot, TG_BOOK_NONE when free */
    book_symbol *symbols;   /* symbols_max entries, symbol_count used */
    uint32_t *hash;         /* open-addressed symbol index, hash_mask + 1 entries */
    uint32_t hash_mask;     /* table size − 1 (a power of two ≥ 2 × symbols_max) */
    uint32_t positions_max; /* slots */
    uint32_t symbols_max;   /* symbol entries */
    uint32_t symbol_count;  /* symbols in use */
    uint32_t free_head;     /* first free slot, or TG_BOOK_NONE */
    tg_book_stats stats;    /* counters */
};

static uint32_t hash_name(const char *name) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h;
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
        b->symbol_of = malloc(positions_max * sizeof *b->symbol_of);
        b->symbols = calloc(symbols_max, sizeof *b->symbols);
        b->hash = malloc(hash_size * sizeof *b->hash);
    }
    if (b == NULL || !b->stops || !b->next || !b->symbol_of || !b->symbols || !b->hash) {
        tg_book_free(b);
        return tg_err_set(err, TG_E_NOMEM, "out of memory for a book of %u positions",
                          positions_max);
    }
    b->positions_max = positions_max;
    b->symbols_max = symbols_max;
    b->hash_mask = hash_size - 1;
    memset(b->hash, 0xff, hash_size * sizeof *b->hash);
    for (uint32_t i = 0; i < positions_max; i++) {
        b->next[i] = i + 1 < positions_max ? i + 1 : TG_BOOK_NONE;
        b->symbol_of[i] = TG_BOOK_NONE;
    }
    b->free_head = 0;
    *out = b;
    return TG_OK;
}

void tg_book_free(tg_book *book) {
    if (book == NULL) {
        return;
    }
    free(book->stops);
    free(book->next);
    free(book->symbol_of);
    free(book->symbols);
    free(book->hash);
    free(book);
}

/* The hash slot holding name, or the empty slot where it would go. */
static uint32_t hash_slot(const tg_book *b, const char *name) {
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
    memcpy(book->symbols[id].name, symbol, len + 1);
    book->symbols[id].head = TG_BOOK_NONE;
    book->hash[slot] = id;
    return id;
}

const char *tg_book_symbol_name(const tg_book *book, uint32_t symbol_id) {
    assert(book != NULL);
    return symbol_id < book->symbol_count ? book->symbols[symbol_id].name : NULL;
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
    book->free_head = book->next[slot];
    book->next[slot] = book->symbols[sym].head;
    book->symbols[sym].head = slot;
    book->symbols[sym].open_count++;
    book->symbol_of[slot] = sym;
    book->stats.open_positions++;
    if (position_id != NULL) {
        *position_id = slot;
    }
    return TG_OK;
}

void tg_book_tick(tg_book *book, uint32_t symbol_id, int64_t ts_ms, tg_dec price, tg_book_sink sink,
                  void *ctx) {
    assert(book != NULL);
    book->stats.ticks++;
    if (symbol_id >= book->symbol_count || book->symbols[symbol_id].open_count == 0) {
        book->stats.unknown_symbol_ticks++;
        return;
    }
    tg_out out;
    uint32_t visited = 0;
    for (uint32_t i = book->symbols[symbol_id].head; i != TG_BOOK_NONE; i = book->next[i]) {
        assert(visited++ < book->positions_max);
        out.n_events = 0;
        out.n_cmds = 0;
        tg_stop_tick(&book->stops[i], ts_ms, price, &out);
        book->stats.position_updates++;
        if ((out.n_events | out.n_cmds) != 0 && sink != NULL) {
            sink(ctx, &book->stops[i], &out);
        }
    }
}

void tg_book_tick_name(tg_book *book, const char *symbol, int64_t ts_ms, tg_dec price,
                       tg_book_sink sink, void *ctx) {
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
    return &book->stops[position_id];
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
    book->symbols[sym].open_count--;
    book->symbol_of[position_id] = TG_BOOK_NONE;
    book->next[position_id] = book->free_head;
    book->free_head = position_id;
    book->stats.open_positions--;
}

tg_book_stats tg_book_get_stats(const tg_book *book) {
    assert(book != NULL);
    return book->stats;
}

size_t tg_book_bytes_per_position(const tg_book *book) {
    assert(book != NULL);
    size_t per_slot = sizeof(tg_stop) + sizeof(uint32_t) * 2;
    size_t shared = (size_t)book->symbols_max * sizeof(book_symbol) +
                    ((size_t)book->hash_mask + 1) * sizeof(uint32_t) + sizeof(tg_book);
    return per_slot + (shared + book->positions_max - 1) / book->positions_max;
}
